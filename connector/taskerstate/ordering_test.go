package taskerstate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The order §5 gives a log that breaks its chain, as the connector's metrics show it
// (a regression found in an independent review).

// TestSkewRepairOnlyMovesALaterTransitionUp: the log of step S does not start at its
// creation (its none → pending was never seen), and the worker's clock is 0.4 s behind the
// orchestration's. The first two transitions in telemetry time are the worker's
// enqueued → in_progress (1.0 s) and the orchestration's pending → enqueued (1.4 s).
//
// §5: "When a transition does not chain onto the one before it and a transition from another
// service, less than a maximum clock skew later (configurable, default 1 s), does, that one
// moves up; a negative gap then counts as 0 (and is counted as skew). [...] A chain that still
// breaks is a gap (a lost or sampled-out transition): no time is derived across it."
//
// Walking the log by that rule: pending → enqueued (1.4 s) does not chain onto
// enqueued → in_progress (1.0 s), and no transition less than 1 s after it chains onto
// enqueued → in_progress, so nothing moves: a gap. in_progress → enqueued_for_orchestration
// (5.0 s, worker) does not chain onto pending → enqueued, and the only later transition,
// enqueued_for_orchestration → complete (6.0 s), is not *less than* 1 s later: a gap again.
// Only the time in enqueued_for_orchestration (6.0 − 5.0 = 1 s) can be derived.
//
// (The log once swapped the first pair, moving a transition *down*, which the rule does not
// provide for, and derived 0 s in enqueued, counted as skew, and 4 s in in_progress.)
func TestSkewRepairOnlyMovesALaterTransitionUp(t *testing.T) {
	h := newHarness(t, testConfig())
	b := newTraces()
	w := b.resource(worker, "w1")
	ws := b.span(w, "worker.step_execution", 1, 0, 9000, map[string]any{
		"step_uuid": "S", "task_uuid": "T", "namespace": "n", "step_name": "h"})
	stepEvent(ws, "S", "T", "enqueued", "in_progress", 1000, nil)
	stepEvent(ws, "S", "T", "in_progress", "enqueued_for_orchestration", 5000, nil)
	o := b.resource(orch, "o1")
	os := b.span(o, "enqueue_ready_steps", 1, 0, 9000, map[string]any{"task_uuid": "T"})
	stepEvent(os, "S", "T", "pending", "enqueued", 1400, nil)
	stepEvent(os, "S", "T", "enqueued_for_orchestration", "complete", 6000, nil)
	h.consume(b.td)
	pts := flatten(t, h.shutdown())

	var durations []string
	for k := range pts {
		if p := pts[k]; p.count > 0 && strings.Contains(k, "|tasker.step.state_duration|") {
			durations = append(durations, k)
		}
	}
	assert.ElementsMatch(t, []string{
		orch + "|tasker.step.state_duration|namespace=n,state=enqueued_for_orchestration",
	}, durations, "only the time in enqueued_for_orchestration is derivable; the rest are gaps (§5)")
	// The attempt is unaffected: claim 1.0 s, next closing transition complete 6.0 s.
	assert.Equal(t, int64(1), pts[orch+"|tasker.step.attempts|attempt_number=1,handler_name=h,namespace=n,outcome=success"].value)
}
