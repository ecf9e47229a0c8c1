package taskerstate

// Ordering (docs/telemetry.md §5) as the §6 stamps show it: traces built straight from the §4 shapes
// (regressions and a gap in coverage found in an independent review).

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// orderSpan appends a span of the given service (instance service+"-1") ending at end.
func orderSpan(td ptrace.Traces, service, name string, end time.Duration, attrs map[string]any) ptrace.Span {
	rss := td.ResourceSpans()
	var spans ptrace.SpanSlice
	found := false
	for i := 0; i < rss.Len() && !found; i++ {
		if v, _ := rss.At(i).Resource().Attributes().Get("service.name"); v.Str() == service {
			spans, found = rss.At(i).ScopeSpans().At(0).Spans(), true
		}
	}
	if !found {
		rs := rss.AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		rs.Resource().Attributes().PutStr("service.instance.id", service+"-1")
		spans = rs.ScopeSpans().AppendEmpty().Spans()
	}
	s := newSpan(spans, name, "review", end)
	for k, v := range attrs {
		_ = s.Attributes().PutEmpty(k).FromRaw(v)
	}
	return s
}

// orderStepSpan is a step.state_transition span (§4 shape 1) of step id of task task.
func orderStepSpan(td ptrace.Traces, service, id, task, from, to string, at time.Duration) ptrace.Span {
	return orderSpan(td, service, "step.state_transition", at, map[string]any{
		"step_uuid": id, "task_uuid": task, "from_state": from, "to_state": to})
}

// orderRun sends the batches, in order, through one processor with the default configuration.
func orderRun(t *testing.T, batches ...ptrace.Traces) {
	t.Helper()
	sink := new(consumertest.TracesSink)
	p := newTestProcessor(t, createDefaultConfig(), clockwork.NewFakeClock(), sink)
	for _, td := range batches {
		require.NoError(t, p.ConsumeTraces(context.Background(), td))
	}
	require.Len(t, sink.AllTraces(), len(batches))
}

// orderStamps returns the tasker.* attributes of m.
func orderStamps(m pcommon.Map) map[string]any {
	out := map[string]any{}
	for k, v := range m.All() {
		if strings.HasPrefix(k, "tasker.") {
			out[k] = v.AsRaw()
		}
	}
	return out
}

// docs/telemetry.md §5: at equal times the chain decides, then the order of arrival; all
// transitions of a batch are entered into the log before any of them is stamped or derived
// from. §6 tasker.state.duration: the time spent in from_state, when the transition that
// entered it is already known.
//
// A step's first three transitions share one telemetry time and arrive in one batch in an
// order other than the chain's. All three are in the log when each is stamped, so the chain
// none→pending→enqueued→in_progress decides their order, and pending→enqueued and
// enqueued→in_progress must each carry tasker.state.duration = 0 (their entries are known).
// (The log once repaired a tie only locally, a pair at a time, and half of the arrival orders
// left a transition without its duration.)
func TestEqualTimesChainDecidesBeyondAPair(t *testing.T) {
	chain := [][2]string{{"none", "pending"}, {"pending", "enqueued"}, {"enqueued", "in_progress"}}
	for _, arrival := range [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		t.Run(fmt.Sprint(arrival), func(t *testing.T) {
			td := ptrace.NewTraces()
			spans := make([]ptrace.Span, 3)
			for _, i := range arrival {
				spans[i] = orderStepSpan(td, "tasker-orchestration", "s1", "T1", chain[i][0], chain[i][1], 10*ms)
			}
			orderRun(t, td)
			for _, i := range []int{1, 2} {
				st := orderStamps(spans[i].Attributes())
				if assert.Containsf(t, st, "tasker.state.duration",
					"arrival %v: %s→%s has no duration though the transition into %s (same time) is in the batch: %v",
					arrival, chain[i][0], chain[i][1], chain[i][0], st) {
					assert.InDelta(t, 0.0, st["tasker.state.duration"], 1e-9)
				}
			}
		})
	}
}

// Clock skew at the processor (internal/statelog tests the rule itself). docs/telemetry.md
// §5: when a transition does not chain onto the one before it, and a transition from another
// service that is less than max_clock_skew later does, that one is moved up; a gap that comes
// out negative counts as 0. The worker's clock is 500 ms ahead; each transition arrives in its
// own batch, in real-time order, so every transition whose predecessor was seen carries its
// duration (§6); the orchestration's closes, timed before the worker's transitions they
// follow, get 0.
func TestSkewStampsInArrivalOrder(t *testing.T) {
	o, w := "tasker-orchestration", "tasker-worker"
	xs := []struct {
		svc, from, to string
		at            time.Duration
		dur           float64 // <0: absent
		attempt       int64
		event         string
	}{
		{o, "none", "pending", 0, -1, 0, ""},
		{o, "pending", "enqueued", 10 * ms, 0.010, 0, "step.enqueue_requested"},
		{w, "enqueued", "in_progress", 600 * ms, 0.590, 1, "step.execution_requested"},
		{w, "in_progress", "enqueued_as_error_for_orchestration", 1500 * ms, 0.900, 1, "step.enqueued_as_error_for_orchestration"},
		{o, "enqueued_as_error_for_orchestration", "waiting_for_retry", 1100 * ms, 0, 1, "step.retry_requested"},
		{o, "waiting_for_retry", "pending", 3100 * ms, 2.000, 0, "step.retry_requested"},
		{o, "pending", "enqueued", 3110 * ms, 0.010, 0, "step.enqueue_requested"},
		{w, "enqueued", "in_progress", 3700 * ms, 0.590, 2, "step.execution_requested"},
		{w, "in_progress", "enqueued_for_orchestration", 4500 * ms, 0.800, 2, "step.enqueued_for_orchestration"},
		{o, "enqueued_for_orchestration", "complete", 4100 * ms, 0, 2, "step.completed"},
	}
	var batches []ptrace.Traces
	var spans []ptrace.Span
	for _, x := range xs {
		td := ptrace.NewTraces()
		spans = append(spans, orderStepSpan(td, x.svc, "S", "T", x.from, x.to, x.at))
		batches = append(batches, td)
	}
	orderRun(t, batches...)
	for i, x := range xs {
		st := orderStamps(spans[i].Attributes())
		name := x.from + "→" + x.to
		assert.Equal(t, "step", st["tasker.entity.kind"], name)
		if x.event != "" {
			assert.Equal(t, x.event, st["tasker.event.name"], name)
		}
		if x.dur < 0 {
			assert.NotContains(t, st, "tasker.state.duration", name)
		} else if assert.Contains(t, st, "tasker.state.duration", name) {
			assert.InDelta(t, x.dur, st["tasker.state.duration"], 1e-6, name)
		}
		if x.attempt > 0 {
			assert.Equal(t, x.attempt, st["tasker.step.attempt"], name)
		} else {
			assert.NotContains(t, st, "tasker.step.attempt", name)
		}
	}
}

// docs/telemetry.md §6 tasker.transition.duplicate: this exact transition was seen before; a
// duplicate otherwise gets the original's stamps. A step's pending → enqueued
// passes before its none → pending and before anything names its namespace and handler;
// both arrive, then the pending → enqueued again (an exporter's retry). The repeat is marked
// duplicate and carries what the original carried, not what the log has learned since.
func TestDuplicateGetsTheOriginalsStamps(t *testing.T) {
	first, learn, retry := ptrace.NewTraces(), ptrace.NewTraces(), ptrace.NewTraces()
	orig := orderStepSpan(first, "tasker-orchestration", "S", "T", "pending", "enqueued", 20*ms)
	orderStepSpan(learn, "tasker-orchestration", "S", "T", "none", "pending", 10*ms)
	orderSpan(learn, "tasker-worker", "worker.step_execution", 30*ms, map[string]any{
		"step_uuid": "S", "task_uuid": "T", "namespace": "payments", "step_name": "charge"})
	dup := orderStepSpan(retry, "tasker-orchestration", "S", "T", "pending", "enqueued", 20*ms)
	orderRun(t, first, learn, retry)

	want := orderStamps(orig.Attributes())
	assert.Equal(t, map[string]any{"tasker.entity.kind": "step", "tasker.event.name": "step.enqueue_requested"}, want,
		"the original passed before anything about the step but its own transition was known")
	want["tasker.transition.duplicate"] = true
	assert.Equal(t, want, orderStamps(dup.Attributes()))
}
