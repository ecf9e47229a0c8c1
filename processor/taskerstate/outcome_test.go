package taskerstate

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The stamps of a step's decided outcome (§6: from what the log knows when the span passes;
// §7 "Step outcomes across retries"): tasker.step.completion_duration and
// tasker.step.attempt_count, on the transition that decides the outcome. A step's outcome is
// decided at the earlier of its first transition into complete, cancelled or
// resolved_manually, and its task's earliest terminal transition if the step is then in
// error (a step transition at the same time as the task's end counts as before it; the
// deciding transition is then the step's latest transition into error). Duration: from the
// step's none→ transition (else its earliest) to the deciding one; attempts: the claims up to
// it, or the latest claim's attempt_number.
//
// task-o (ops) fails at 3000 ms (steps_in_process → error). Its steps, created none→pending
// at 10 ms:
//
//	r1 retried: claims at 30 and 1160 ms (the second says attempt_number 5), first complete at
//	   1310 ms: 1.300 s, 5 attempts; its later complete → resolved_manually decides nothing.
//	r2 gives up: in error from 200 ms when the task ends: 0.190 s, 1 attempt, on its error.
//	r3 cancelled while pending at 2500 ms: 2.490 s, never claimed: 0 attempts.
//	r4 in error from 300 ms when the task ends, so it gave up (0.290 s, 1 attempt, on its
//	   error); the manual completion at 4000 ms comes after and decides nothing.
//	r5 moves to error at 3000 ms, the same time as the task's end: in error then (2.990 s,
//	   1 attempt).
//	r6 enqueued when the task ends; its error at 3500 ms decides nothing.
//	r7 in error from 400 ms, completed by hand at 3000 ms, the same time as the task's end:
//	   complete then, not in error, so decided by that complete (2.990 s, 1 attempt).
//
// A gave-up outcome (byTaskEnd) is known when its error transition passes only if the task's
// end has already been seen (an earlier batch, or the same one).
const eaefo = "enqueued_as_error_for_orchestration"

var outcomeRows = []row{
	{entity: "task-o", from: "none", to: "pending", at: 0},
	{entity: "task-o", from: "pending", to: "initializing", at: 5 * ms},
	{entity: "task-o", from: "initializing", to: "enqueuing_steps", at: 8 * ms},
	{entity: "task-o", from: "enqueuing_steps", to: "steps_in_process", at: 9 * ms},
	{entity: "r1", from: "none", to: "pending", at: 10 * ms},
	{entity: "r2", from: "none", to: "pending", at: 10 * ms},
	{entity: "r3", from: "none", to: "pending", at: 10 * ms},
	{entity: "r4", from: "none", to: "pending", at: 10 * ms},
	{entity: "r5", from: "none", to: "pending", at: 10 * ms},
	{entity: "r6", from: "none", to: "pending", at: 10 * ms},
	{entity: "r7", from: "none", to: "pending", at: 10 * ms},
	{entity: "r1", from: "pending", to: "enqueued", at: 20 * ms},
	{entity: "r2", from: "pending", to: "enqueued", at: 20 * ms},
	{entity: "r5", from: "pending", to: "enqueued", at: 20 * ms},
	{entity: "r6", from: "pending", to: "enqueued", at: 20 * ms},
	{entity: "r1", from: "enqueued", to: "in_progress", at: 30 * ms, worker: true},
	{entity: "r2", from: "enqueued", to: "in_progress", at: 40 * ms, worker: true},
	{entity: "r4", from: "pending", to: "in_progress", at: 50 * ms, worker: true},
	{entity: "r7", from: "pending", to: "in_progress", at: 70 * ms, worker: true},
	{entity: "r5", from: "enqueued", to: "in_progress", at: 60 * ms, worker: true},
	{entity: "r2", from: "in_progress", to: eaefo, at: 100 * ms, worker: true},
	{entity: "r1", from: "in_progress", to: eaefo, at: 130 * ms, worker: true},
	{entity: "r1", from: eaefo, to: "waiting_for_retry", at: 140 * ms},
	{entity: "r2", from: eaefo, to: "error", at: 200 * ms, decided: true, stepDur: 0.190, attempts: 1, byTaskEnd: true},
	{entity: "r4", from: "in_progress", to: "error", at: 300 * ms, worker: true, decided: true, stepDur: 0.290, attempts: 1, byTaskEnd: true},
	{entity: "r7", from: "in_progress", to: "error", at: 400 * ms, worker: true},
	{entity: "r1", from: "waiting_for_retry", to: "pending", at: 1140 * ms},
	{entity: "r1", from: "pending", to: "enqueued", at: 1150 * ms},
	{entity: "r1", from: "enqueued", to: "in_progress", at: 1160 * ms, worker: true, attemptAttr: 5},
	{entity: "r1", from: "in_progress", to: "enqueued_for_orchestration", at: 1260 * ms, worker: true},
	{entity: "r1", from: "enqueued_for_orchestration", to: "complete", at: 1310 * ms, decided: true, stepDur: 1.300, attempts: 5},
	{entity: "r1", from: "complete", to: "resolved_manually", at: 1400 * ms},
	{entity: "r3", from: "pending", to: "cancelled", at: 2500 * ms, decided: true, stepDur: 2.490, attempts: 0},
	{entity: "r5", from: "in_progress", to: eaefo, at: 2900 * ms, worker: true},
	{entity: "task-o", from: "steps_in_process", to: "error", at: 3000 * ms},
	{entity: "r5", from: eaefo, to: "error", at: 3000 * ms, decided: true, stepDur: 2.990, attempts: 1, byTaskEnd: true},
	{entity: "r7", from: "error", to: "complete", at: 3000 * ms, decided: true, stepDur: 2.990, attempts: 1},
	{entity: "r6", from: "enqueued", to: "error", at: 3500 * ms},
	{entity: "r4", from: "error", to: "complete", at: 4000 * ms},
}

// outcomeStamps shows a carrier's outcome stamps: "none", or the duration and attempts.
func outcomeStamps(a pcommon.Map) string {
	d, okD := a.Get("tasker.step.completion_duration")
	n, okN := a.Get("tasker.step.attempt_count")
	switch {
	case !okD && !okN:
		return "none"
	case okD && okN && d.Type() == pcommon.ValueTypeDouble && n.Type() == pcommon.ValueTypeInt:
		return fmt.Sprintf("%.6f s, %d attempts", d.Double(), n.Int())
	default:
		return fmt.Sprintf("malformed: %v (%s), %v (%s)", d.AsRaw(), d.Type(), n.AsRaw(), n.Type())
	}
}

func (r row) wantOutcome(taskEndSeen bool) string {
	if !r.decided || r.byTaskEnd && !taskEndSeen {
		return "none"
	}
	return fmt.Sprintf("%.6f s, %d attempts", r.stepDur, r.attempts)
}

func TestStepOutcomeStamps(t *testing.T) {
	taskEnd := slices.IndexFunc(outcomeRows, func(r row) bool { return r.entity == "task-o" && r.to == "error" })
	require.Positive(t, taskEnd)
	for _, sh := range []struct {
		name  string
		build shape
	}{{"transition spans", spansShape}, {"span events", eventsShape}} {
		for _, delivery := range []string{"in order, a batch per transition", "the task's end first", "one batch, reversed"} {
			t.Run(sh.name+"/"+delivery, func(t *testing.T) {
				sink := new(consumertest.TracesSink)
				p := newTestProcessor(t, createDefaultConfig(), clockwork.NewFakeClock(), sink)
				send := func(rows ...row) {
					td := ptrace.NewTraces()
					sh.build(td, rows)
					require.NoError(t, p.ConsumeTraces(context.Background(), td))
				}
				// seen: whether the task's end had been seen when each row passed.
				seen := make([]bool, len(outcomeRows))
				switch delivery {
				case "in order, a batch per transition":
					for i, r := range outcomeRows {
						send(r)
						seen[i] = i >= taskEnd
					}
				case "the task's end first":
					send(outcomeRows[taskEnd])
					for i, r := range outcomeRows {
						if i != taskEnd {
							send(r)
						}
						seen[i] = true
					}
				default:
					rev := slices.Clone(outcomeRows)
					slices.Reverse(rev)
					send(rev...)
					for i := range seen {
						seen[i] = true
					}
				}
				// Retries of two deciding transitions: a duplicate gets the original's stamps
				// (§6), also when the outcome became known in between.
				r1 := outcomeRows[slices.IndexFunc(outcomeRows, func(r row) bool { return r.entity == "r1" && r.to == "complete" })]
				r2 := outcomeRows[slices.IndexFunc(outcomeRows, func(r row) bool { return r.entity == "r2" && r.to == "error" })]
				send(r1, r2)

				got := carriers(t, sink.AllTraces())
				// Out of order, a stamp is what the log knew when its span passed (§6): with the
				// task's end seen first, r7's error at 400 ms passes while the log shows r7 still
				// in error at 3000 ms (its complete at 3000 ms has not arrived), so it is stamped
				// as having given up; its complete, arriving later, is stamped too. (The
				// connector's metrics, derived after settling, count only the complete.)
				passTime := map[string]string{}
				if delivery == "the task's end first" {
					passTime[row{entity: "r7", from: "in_progress", to: "error", at: 400 * ms}.key()] = "0.390000 s, 1 attempts"
				}
				for i, r := range outcomeRows {
					list := got[r.key()]
					n := 1 // carriers of the row: its retried ones twice
					if r.key() == r1.key() || r.key() == r2.key() {
						n = 2
					}
					require.Lenf(t, list, n, r.key())
					for j, a := range list {
						want := r.wantOutcome(seen[i])
						if w, ok := passTime[r.key()]; ok {
							want = w
						}
						assert.Equalf(t, want, outcomeStamps(a), "%s (carrier %d)", r.key(), j)
						_, dup := a.Get("tasker.transition.duplicate")
						assert.Equalf(t, j > 0, dup, "%s (carrier %d): duplicate", r.key(), j)
					}
				}
			})
		}
	}
}

// TestStepOutcomeStampedOnceDespiteLogOverflow: a step's outcome is decided once (§7), also
// when the transition that decided it has left an overflowing log (§5: it drops its oldest
// transitions, keeping its start and any open claim). With logs of 4 transitions, r1
// completes at 30 ms (0.020 s after its creation, 1 claim); an invalid complete→pending
// follows, then a claim, an error, a retry and a second complete at 80 ms, by which time the
// first complete has left the log. Only the first complete carries the outcome.
func TestStepOutcomeStampedOnceDespiteLogOverflow(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Limits.MaxTransitionsPerEntity = 4
	sink := new(consumertest.TracesSink)
	p := newTestProcessor(t, cfg, clockwork.NewFakeClock(), sink)
	rows := []row{
		{entity: "r1", from: "none", to: "pending", at: 10 * ms},
		{entity: "r1", from: "pending", to: "in_progress", at: 20 * ms, worker: true},
		{entity: "r1", from: "in_progress", to: "complete", at: 30 * ms, decided: true, stepDur: 0.020, attempts: 1},
		{entity: "r1", from: "complete", to: "pending", at: 40 * ms},
		{entity: "r1", from: "pending", to: "in_progress", at: 50 * ms, worker: true},
		{entity: "r1", from: "in_progress", to: "error", at: 60 * ms, worker: true},
		{entity: "r1", from: "error", to: "pending", at: 70 * ms},
		{entity: "r1", from: "pending", to: "complete", at: 80 * ms},
	}
	for _, r := range rows {
		td := ptrace.NewTraces()
		eventsShape(td, []row{r})
		require.NoError(t, p.ConsumeTraces(context.Background(), td))
	}
	got := carriers(t, sink.AllTraces())
	for _, r := range rows {
		require.Lenf(t, got[r.key()], 1, r.key())
		assert.Equalf(t, r.wantOutcome(false), outcomeStamps(got[r.key()][0]), r.key())
	}
}
