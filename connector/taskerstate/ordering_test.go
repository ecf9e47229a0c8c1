package taskerstate

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The order §5 gives a log that breaks its chain, as the connector's metrics show it
// (a regression found in an independent review).

// TestSkewRepairOnlyMovesALaterTransitionUp: the log of step S does not start at its
// creation (its none → pending was never seen), and the worker's clock is 0.4 s behind the
// orchestration's. The first two transitions in telemetry time are the worker's
// enqueued → in_progress (1.0 s) and the orchestration's pending → enqueued (1.4 s).
//
// docs/telemetry.md §5: when a transition does not chain onto the one before it, and a
// transition from another service that is less than max_clock_skew (default 1 s) later does,
// that one is moved up; a gap that comes out negative counts as 0 and is counted as clock skew.
// Where the chain still breaks (a transition was lost or sampled out), no time is derived
// across the gap.
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

// docs/telemetry.md §7, Resources: a fact derived from two transitions (a time in a state, an
// attempt, a completion) belongs to the resource of the later one in telemetry time. The
// worker's clock is 3 ms
// behind: its claim (97 ms) is stamped before the orchestration's enqueue (100 ms) that it
// follows. The time in enqueued (0 s after the skew correction) is derived from the pair, and
// the later of the two in telemetry time is the enqueue: it belongs to the orchestration,
// although the claim comes second in the corrected order.
func TestSkewCorrectedFactBelongsToTheLaterInTelemetryTime(t *testing.T) {
	h := newHarness(t, testConfig())
	b := newTraces()
	w := b.resource(worker, "w1")
	ws := b.span(w, "worker.step_execution", 1, 90, 700, map[string]any{
		"step_uuid": "S", "task_uuid": "T", "namespace": "n", "step_name": "h"})
	stepEvent(ws, "S", "T", "enqueued", "in_progress", 97, nil)
	stepEvent(ws, "S", "T", "in_progress", "enqueued_for_orchestration", 500, nil)
	o := b.resource(orch, "o1")
	os := b.span(o, "enqueue_ready_steps", 1, 0, 700, map[string]any{"task_uuid": "T"})
	stepEvent(os, "S", "T", "none", "pending", 0, nil)
	stepEvent(os, "S", "T", "pending", "enqueued", 100, nil)
	stepEvent(os, "S", "T", "enqueued_for_orchestration", "complete", 600, nil)
	h.consume(b.td)
	pts := flatten(t, h.shutdown())

	got := map[string]float64{}
	for k, p := range pts {
		if p.count > 0 && strings.Contains(k, "|tasker.step.state_duration|") {
			got[k] = p.sum
		}
	}
	d := "|tasker.step.state_duration|namespace=n,state="
	assert.Equal(t, map[string]float64{
		orch + d + "pending":                    0.100, // none→pending 0 ms, pending→enqueued 100 ms
		orch + d + "enqueued":                   0,     // pending→enqueued 100 ms (later), the claim 97 ms
		worker + d + "in_progress":              0.403, // the claim 97 ms, in_progress→EFO 500 ms
		orch + d + "enqueued_for_orchestration": 0.100, // 500 ms, EFO→complete 600 ms
	}, roundAll(got))
	assert.Equal(t, int64(1), pts[orch+"|tasker.step.attempts|attempt_number=1,handler_name=h,namespace=n,outcome=success"].value,
		"the attempt closes at 600 ms on the orchestration, after the claim")
}

func roundAll(m map[string]float64) map[string]float64 {
	for k, v := range m {
		m[k] = math.Round(v*1e6) / 1e6
	}
	return m
}

// docs/telemetry.md §7: a correlation id is one per task, and travels as an exemplar
// on the points it contributed to. A step's transitions that do not carry it themselves take
// their task's.
func TestStepExemplarsCarryTheTasksCorrelationID(t *testing.T) {
	h := newHarness(t, testConfig())
	b := newTraces()
	o := b.resource(orch, "o1")
	b.taskSpan(o, 1, "T", "payments", "C-T", "none", "pending", 0)
	os := b.span(o, "enqueue_ready_steps", 1, 0, 700, map[string]any{"task_uuid": "T"})
	stepEvent(os, "S", "T", "none", "pending", 10, nil)
	stepEvent(os, "S", "T", "pending", "enqueued", 20, nil)
	h.consume(b.td)
	pts := flatten(t, h.shutdown())

	p, ok := pts[orch+"|tasker.step.state_transitions|event_name=step.enqueue_requested,from_state=pending,namespace=payments,to_state=enqueued"]
	require.True(t, ok, "series missing: %v", values(pts))
	require.NotEmpty(t, p.exs)
	for _, e := range p.exs {
		c, ok := e.FilteredAttributes().Get("correlation_id")
		assert.True(t, ok)
		assert.Equal(t, "C-T", c.Str())
	}
}
