package taskerstate

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The golden fixture: two tasks and one step each, Tasker-style.
//
//	T1 (namespace payments, correlation C1, trace 1): task transitions as transition spans
//	   (shape 1) from tasker-orchestration, at (ms after t0):
//	   0 none→pending, 1000 pending→initializing, 1500 initializing→enqueuing_steps,
//	   2000 enqueuing_steps→steps_in_process, 12000 steps_in_process→evaluating_results,
//	   12500 evaluating_results→complete. Plus one span with to_state "exploded" (unknown state).
//	T2 (namespace reports, correlation C2, trace 2): 0 none→pending, 3000 pending→in_progress
//	   (legacy: steps_in_process), 63000 in_progress→error, 100000 error→pending (invalid:
//	   nothing leaves a terminal task state).
//	S1 (step of T1, handler charge_card): "Step state transition" events (shape 2).
//	   orchestration, inside spans with no namespace: 2100 none→pending, 2200 pending→enqueued,
//	   6500 waiting_for_retry→pending, 7000 pending→enqueued, 11000 enqueued_for_orchestration→complete.
//	   worker, inside worker.step_execution spans (namespace payments, step_name charge_card):
//	   2500 enqueued→in_progress, 4500 in_progress→waiting_for_retry (attempt 1),
//	   7500 enqueued→in_progress, 10500 in_progress→enqueued_for_orchestration (attempt 2).
//	S2 (step of T2, handler build_report): orchestration 3100 none→pending, 61000 error→enqueued
//	   (invalid); worker (namespace reports, step_name build_report) 4000 pending→in_progress with
//	   attempt_number 3, 60000 in_progress→error.
const (
	orch   = "tasker-orchestration"
	worker = "tasker-worker"
)

// goldenBatches returns the fixture as separate batches, as Tasker's services would export
// them; order and duplicates must not change the metrics.
func goldenBatches() []ptrace.Traces {
	var out []ptrace.Traces

	// A: T1's task transitions.
	b := newTraces()
	s := b.resource(orch, "orch-1")
	for _, tr := range []struct {
		from, to string
		ms       int64
	}{{"none", "pending", 0}, {"pending", "initializing", 1000}, {"initializing", "enqueuing_steps", 1500},
		{"enqueuing_steps", "steps_in_process", 2000}, {"steps_in_process", "evaluating_results", 12000},
		{"evaluating_results", "complete", 12500}} {
		b.taskSpan(s, 1, "T1", "payments", "C1", tr.from, tr.to, tr.ms)
	}
	b.taskSpan(s, 1, "T1", "payments", "C1", "complete", "exploded", 13000) // unknown state: no metric
	out = append(out, b.td)

	// B: T2's task transitions (empty from_state means none).
	b = newTraces()
	s = b.resource(orch, "orch-2")
	b.taskSpan(s, 2, "T2", "reports", "C2", "", "pending", 0)
	b.taskSpan(s, 2, "T2", "reports", "C2", "pending", "in_progress", 3000)
	b.taskSpan(s, 2, "T2", "reports", "C2", "in_progress", "error", 63000)
	b.taskSpan(s, 2, "T2", "reports", "C2", "error", "pending", 100000)
	out = append(out, b.td)

	// C: orchestration-side step events, early ones (spans carry only the task id).
	b = newTraces()
	s = b.resource(orch, "orch-1")
	sp := b.span(s, "enqueue_ready_steps", 1, 2050, 2300, map[string]any{"task_uuid": "T1"})
	stepEvent(sp, "S1", "T1", "none", "pending", 2100, nil)
	stepEvent(sp, "S1", "T1", "pending", "enqueued", 2200, nil)
	sp = b.span(s, "enqueue_ready_steps", 2, 3050, 3200, map[string]any{"task_uuid": "T2"})
	stepEvent(sp, "S2", "T2", "none", "pending", 3100, nil)
	out = append(out, b.td)

	// D: orchestration-side step events, later ones.
	b = newTraces()
	s = b.resource(orch, "orch-2")
	sp = b.span(s, "handle_step_result_with_metadata", 1, 6400, 7100, map[string]any{"step_uuid": "S1", "correlation_id": "C1"})
	stepEvent(sp, "S1", "T1", "waiting_for_retry", "pending", 6500, nil)
	stepEvent(sp, "S1", "T1", "pending", "enqueued", 7000, nil)
	sp = b.span(s, "handle_step_result_with_metadata", 1, 10900, 11100, map[string]any{"step_uuid": "S1", "correlation_id": "C1"})
	stepEvent(sp, "S1", "T1", "enqueued_for_orchestration", "complete", 11000, nil)
	sp = b.span(s, "handle_step_result_with_metadata", 2, 60900, 61100, map[string]any{"step_uuid": "S2", "correlation_id": "C2"})
	stepEvent(sp, "S2", "T2", "error", "enqueued", 61000, nil)
	out = append(out, b.td)

	// E: worker spans of S1 (two attempts) and S2.
	b = newTraces()
	s = b.resource(worker, "worker-1")
	sp = b.span(s, "worker.step_execution", 1, 2400, 4600, map[string]any{"step_uuid": "S1", "task_uuid": "T1",
		"namespace": "payments", "step_name": "charge_card", "correlation_id": "C1"})
	stepEvent(sp, "S1", "T1", "enqueued", "in_progress", 2500, nil)
	stepEvent(sp, "S1", "T1", "in_progress", "waiting_for_retry", 4500, nil)
	out = append(out, b.td)

	b = newTraces()
	s = b.resource(worker, "worker-2")
	sp = b.span(s, "worker.step_execution", 1, 7400, 10600, map[string]any{"step_uuid": "S1", "task_uuid": "T1",
		"namespace": "payments", "step_name": "charge_card", "correlation_id": "C1"})
	stepEvent(sp, "S1", "T1", "enqueued", "in_progress", 7500, nil)
	stepEvent(sp, "S1", "T1", "in_progress", "enqueued_for_orchestration", 10500, nil)
	sp = b.span(s, "worker.step_execution", 2, 3900, 60100, map[string]any{"step_uuid": "S2", "task_uuid": "T2",
		"namespace": "reports", "step_name": "build_report", "correlation_id": "C2"})
	stepEvent(sp, "S2", "T2", "pending", "in_progress", 4000, map[string]any{"attempt_number": int64(3)})
	stepEvent(sp, "S2", "T2", "in_progress", "error", 60000, nil)
	out = append(out, b.td)
	return out
}

// Bucket indexes of the default bounds (0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60
// 120 300 600 1800 3600 7200 14400, +Inf): a value v counts in the first bound >= v.
func buckets(idx ...int) []uint64 {
	b := make([]uint64, len(defaultBuckets)+1)
	for _, i := range idx {
		b[i]++
	}
	return b
}

type hist struct {
	count   uint64
	sum     float64
	buckets []uint64
	// unit and bounds, when not a duration's ("s", the default bounds)
	unit   string
	bounds []float64
}

// attemptBuckets are the buckets of tasker.step.attempt_count (0, 1, 2, 3, 4, 5, 10, +Inf)
// with one count at index i.
func attemptBuckets(i int) []uint64 {
	b := make([]uint64, 8)
	b[i]++
	return b
}

var attemptBounds = []float64{0, 1, 2, 3, 4, 5, 10}

// goldenSums are the expected sums, derived by hand from docs/telemetry.md (§1–§3, §7).
var goldenSums = map[string]int64{
	// tasker.task.state_transitions: every recognised task transition once; from_state
	// "none" for none/empty; legacy in_progress shows as steps_in_process; event_name from
	// §3 (absent where no row matches: none→pending). All from tasker-orchestration.
	orch + "|tasker.task.state_transitions|from_state=none,namespace=payments,to_state=pending":                                                              1,
	orch + "|tasker.task.state_transitions|event_name=task.initialize_requested,from_state=pending,namespace=payments,to_state=initializing":                 1,
	orch + "|tasker.task.state_transitions|event_name=task.steps_discovery_completed,from_state=initializing,namespace=payments,to_state=enqueuing_steps":    1,
	orch + "|tasker.task.state_transitions|event_name=task.steps_enqueued,from_state=enqueuing_steps,namespace=payments,to_state=steps_in_process":           1,
	orch + "|tasker.task.state_transitions|event_name=task.step_results_received,from_state=steps_in_process,namespace=payments,to_state=evaluating_results": 1,
	orch + "|tasker.task.state_transitions|event_name=task.completed,from_state=evaluating_results,namespace=payments,to_state=complete":                     1,
	orch + "|tasker.task.state_transitions|from_state=none,namespace=reports,to_state=pending":                                                               1,
	// row 15 (_ → in_progress) names the legacy move task.started; the attribute is canonical.
	orch + "|tasker.task.state_transitions|event_name=task.started,from_state=pending,namespace=reports,to_state=steps_in_process": 1,
	orch + "|tasker.task.state_transitions|event_name=task.failed,from_state=steps_in_process,namespace=reports,to_state=error":    1,
	// row 13: error → pending is task.retry_requested, and also invalid (counted in both).
	orch + "|tasker.task.state_transitions|event_name=task.retry_requested,from_state=error,namespace=reports,to_state=pending": 1,

	// tasker.transitions.invalid: T2 error→pending (task), S2 error→enqueued (step, §2 allows
	// error → pending|cancelled|complete|resolved_manually only).
	orch + "|tasker.transitions.invalid|entity=task,from_state=error,to_state=pending":  1,
	orch + "|tasker.transitions.invalid|entity=step,from_state=error,to_state=enqueued": 1,

	// tasker.step.state_transitions, on the resource of each transition's own service.
	// Orchestration events carry no namespace: it is learned from the step's task.
	orch + "|tasker.step.state_transitions|from_state=none,namespace=payments,to_state=pending":                                                                        1,
	orch + "|tasker.step.state_transitions|event_name=step.enqueue_requested,from_state=pending,namespace=payments,to_state=enqueued":                                  2, // 2200 and 7000
	orch + "|tasker.step.state_transitions|event_name=step.retry_requested,from_state=waiting_for_retry,namespace=payments,to_state=pending":                           1,
	orch + "|tasker.step.state_transitions|event_name=step.completed,from_state=enqueued_for_orchestration,namespace=payments,to_state=complete":                       1,
	orch + "|tasker.step.state_transitions|from_state=none,namespace=reports,to_state=pending":                                                                         1,
	orch + "|tasker.step.state_transitions|from_state=error,namespace=reports,to_state=enqueued":                                                                       1, // no §3 row
	worker + "|tasker.step.state_transitions|event_name=step.execution_requested,from_state=enqueued,namespace=payments,to_state=in_progress":                          2, // 2500 and 7500
	worker + "|tasker.step.state_transitions|event_name=step.retry_requested,from_state=in_progress,namespace=payments,to_state=waiting_for_retry":                     1,
	worker + "|tasker.step.state_transitions|event_name=step.enqueued_for_orchestration,from_state=in_progress,namespace=payments,to_state=enqueued_for_orchestration": 1,
	worker + "|tasker.step.state_transitions|event_name=step.handle,from_state=pending,namespace=reports,to_state=in_progress":                                         1, // row 3: not from enqueued
	worker + "|tasker.step.state_transitions|event_name=step.failed,from_state=in_progress,namespace=reports,to_state=error":                                           1,

	// tasker.step.attempts: S1 attempt 1 = claim 2500, closed by waiting_for_retry at 4500
	// (outcome error, worker); attempt 2 = claim 7500, next closing transition is complete at
	// 11000 (enqueued_for_orchestration does not close; outcome success, orchestration: the
	// resource of the later transition); S2 = claim 4000 with attempt_number 3, closed by
	// error at 60000 (worker).
	worker + "|tasker.step.attempts|attempt_number=1,handler_name=charge_card,namespace=payments,outcome=error": 1,
	orch + "|tasker.step.attempts|attempt_number=2,handler_name=charge_card,namespace=payments,outcome=success": 1,
	worker + "|tasker.step.attempts|attempt_number=3,handler_name=build_report,namespace=reports,outcome=error": 1,
}

// goldenHists are the expected histograms. Times in a state are the gaps between chained
// transitions, on the later transition's resource; bucket index as in buckets().
var goldenHists = map[string]hist{
	// T1: pending 1000-0=1s (idx 7), initializing 0.5s (6), enqueuing_steps 0.5s (6),
	// steps_in_process 12000-2000=10s (10), evaluating_results 0.5s (6).
	orch + "|tasker.task.state_duration|namespace=payments,state=pending":            {count: 1, sum: 1, buckets: buckets(7)},
	orch + "|tasker.task.state_duration|namespace=payments,state=initializing":       {count: 1, sum: 0.5, buckets: buckets(6)},
	orch + "|tasker.task.state_duration|namespace=payments,state=enqueuing_steps":    {count: 1, sum: 0.5, buckets: buckets(6)},
	orch + "|tasker.task.state_duration|namespace=payments,state=steps_in_process":   {count: 1, sum: 10, buckets: buckets(10)},
	orch + "|tasker.task.state_duration|namespace=payments,state=evaluating_results": {count: 1, sum: 0.5, buckets: buckets(6)},
	// T2: pending 3s (9), steps_in_process (legacy in_progress) 63-3=60s (12), error 100-63=37s (12).
	orch + "|tasker.task.state_duration|namespace=reports,state=pending":          {count: 1, sum: 3, buckets: buckets(9)},
	orch + "|tasker.task.state_duration|namespace=reports,state=steps_in_process": {count: 1, sum: 60, buckets: buckets(12)},
	orch + "|tasker.task.state_duration|namespace=reports,state=error":            {count: 1, sum: 37, buckets: buckets(12)},

	// Completion from the none-transition to the first terminal one: T1 12.5s (11),
	// T2 63s to error (13).
	orch + "|tasker.task.completion_duration|namespace=payments,outcome=complete": {count: 1, sum: 12.5, buckets: buckets(11)},
	orch + "|tasker.task.completion_duration|namespace=reports,outcome=error":     {count: 1, sum: 63, buckets: buckets(13)},

	// S1: pending 2200-2100=0.1s (orch, idx 4: bounds are inclusive) and 7000-6500=0.5s
	// (orch, 6); enqueued 0.3s (worker, 6) and 0.5s (worker, 6); in_progress 2s (worker, 8)
	// and 3s (worker, 9); waiting_for_retry 6500-4500=2s (orch, 8);
	// enqueued_for_orchestration 0.5s (orch, 6).
	orch + "|tasker.step.state_duration|namespace=payments,state=pending":                    {count: 2, sum: 0.6, buckets: buckets(4, 6)},
	orch + "|tasker.step.state_duration|namespace=payments,state=waiting_for_retry":          {count: 1, sum: 2, buckets: buckets(8)},
	orch + "|tasker.step.state_duration|namespace=payments,state=enqueued_for_orchestration": {count: 1, sum: 0.5, buckets: buckets(6)},
	worker + "|tasker.step.state_duration|namespace=payments,state=enqueued":                 {count: 2, sum: 0.8, buckets: buckets(6, 6)},
	worker + "|tasker.step.state_duration|namespace=payments,state=in_progress":              {count: 2, sum: 5, buckets: buckets(8, 9)},
	// S2: pending 0.9s (worker, 7), in_progress 56s (worker, 12), error 1s (orch, 7).
	worker + "|tasker.step.state_duration|namespace=reports,state=pending":     {count: 1, sum: 0.9, buckets: buckets(7)},
	worker + "|tasker.step.state_duration|namespace=reports,state=in_progress": {count: 1, sum: 56, buckets: buckets(12)},
	orch + "|tasker.step.state_duration|namespace=reports,state=error":         {count: 1, sum: 1, buckets: buckets(7)},

	// Step outcomes (§7 Step outcomes across retries). S1 is decided by its first transition
	// into complete (11000, orchestration), before T1's end at 12500: 11000-2100 = 8.9s
	// (idx 10), after 2 attempts (attempt_count bucket idx 2: the bound 2). S2 has no outcome:
	// when T2 ended at 63000 (error) S2 was in enqueued (its invalid error → enqueued at
	// 61000), not in error, and it never completed.
	orch + "|tasker.step.completion_duration|handler_name=charge_card,namespace=payments,outcome=complete": {count: 1, sum: 8.9, buckets: buckets(10)},
	orch + "|tasker.step.attempt_count|handler_name=charge_card,namespace=payments,outcome=complete":       {count: 1, sum: 2, buckets: attemptBuckets(2), unit: "{attempt}", bounds: attemptBounds},
}

func assertGolden(t *testing.T, pts map[string]point) {
	t.Helper()
	got := map[string]bool{}
	for k, want := range goldenSums {
		p, ok := pts[k]
		if assert.True(t, ok, "missing series %s", k) {
			assert.Equal(t, pmetric.MetricTypeSum, p.kind, k)
			assert.Equal(t, want, p.value, k)
		}
		got[k] = true
	}
	for k, want := range goldenHists {
		p, ok := pts[k]
		if assert.True(t, ok, "missing series %s", k) {
			unit, bounds := "s", defaultBuckets
			if want.unit != "" {
				unit, bounds = want.unit, want.bounds
			}
			assert.Equal(t, unit, p.unit, k)
			assert.Equal(t, want.count, p.count, k)
			assert.InDelta(t, want.sum, p.sum, 1e-9, k)
			assert.Equal(t, want.buckets, p.buckets, k)
			assert.Equal(t, bounds, p.bounds, k)
		}
		got[k] = true
	}
	for k := range pts {
		assert.True(t, got[k], "unexpected series %s", k)
	}
}

func TestGolden(t *testing.T) {
	h := newHarness(t, testConfig())
	h.consume(goldenBatches()...)

	// 15s: nothing has settled (settle_window 30s).
	assert.Equal(t, 0, h.tick().DataPointCount())
	// 30s: everything settles; every series is new, so it first shows as a zero point.
	first := flatten(t, h.tick())
	require.Len(t, first, len(goldenSums)+len(goldenHists))
	for k, p := range first {
		assert.Zero(t, p.value, k)
		assert.Zero(t, p.count, k)
		assert.Zero(t, p.sum, k)
		for _, c := range p.buckets {
			assert.Zero(t, c, k)
		}
		assert.Empty(t, p.exs, "a zero point carries no exemplars: %s", k)
	}
	// 45s: the values.
	second := flatten(t, h.tick())
	assertGolden(t, second)

	// Cumulative: the start time is fixed for the life of the series, and is the flush
	// before the series appeared (15s); the point time is the flush time.
	flush15 := pcommon.NewTimestampFromTime(clockStart.Add(15e9))
	for k, p := range second {
		assert.Equal(t, pmetric.AggregationTemporalityCumulative, p.temp, k)
		assert.Equal(t, flush15, p.start, k)
		assert.Equal(t, first[k].start, p.start, k)
		assert.Equal(t, pcommon.NewTimestampFromTime(clockStart.Add(45e9)), p.ts, k)
	}

	// The output resource keeps only service.name.
	md := h.sink.AllMetrics()[1]
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		assert.Equal(t, []string{"service.name"}, keysOf(md.ResourceMetrics().At(i).Resource().Attributes()))
	}

	// Exemplars: the completion of T1 carries the trace and span of its complete span and
	// its correlation id; the value is the observation.
	c := second[orch+"|tasker.task.completion_duration|namespace=payments,outcome=complete"]
	require.Len(t, c.exs, 1)
	assert.Equal(t, traceID(1), c.exs[0].TraceID())
	assert.Equal(t, spanIDOf(1, 6), c.exs[0].SpanID()) // the 6th span of batch A
	assert.Equal(t, 12.5, c.exs[0].DoubleValue())
	assert.Equal(t, at(12500), c.exs[0].Timestamp())
	corr, _ := c.exs[0].FilteredAttributes().Get("correlation_id")
	assert.Equal(t, "C1", corr.Str())
	// A counter with two increments keeps both exemplars, oldest first.
	e := second[worker+"|tasker.step.state_transitions|event_name=step.execution_requested,from_state=enqueued,namespace=payments,to_state=in_progress"]
	require.Len(t, e.exs, 2)
	assert.Equal(t, at(2500), e.exs[0].Timestamp())
	assert.Equal(t, at(7500), e.exs[1].Timestamp())

	// 60s: nothing new; cumulative values and exemplars stay (not cleared at a flush).
	third := flatten(t, h.tick())
	assert.Equal(t, values(second), values(third))
	assert.Len(t, third[orch+"|tasker.task.completion_duration|namespace=payments,outcome=complete"].exs, 1)
}

func keysOf(m pcommon.Map) []string {
	var out []string
	m.Range(func(k string, _ pcommon.Value) bool { out = append(out, k); return true })
	return out
}

// TestGoldenShuffledAndRepeated delivers the same batches in shuffled orders with one batch
// sent twice: the values must be identical to the golden ones.
func TestGoldenShuffledAndRepeated(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		batches := goldenBatches()
		r := rand.New(rand.NewPCG(seed, 7))
		r.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
		dup := r.IntN(len(batches))
		repeat := ptrace.NewTraces()
		batches[dup].CopyTo(repeat)

		h := newHarness(t, testConfig())
		h.consume(batches[:3]...)
		h.tick() // 15s: some batches arrive a flush interval later, still within the window
		h.consume(batches[3:]...)
		h.consume(repeat)
		// All settled by 45s; the series made then show values at 60s.
		pts := flatten(t, h.ticks(3))
		assertGolden(t, pts)
	}
}

// TestShutdownFlush: transitions that have not settled when the collector stops are settled
// and emitted by the final flush, with their values (not zero points).
func TestShutdownFlush(t *testing.T) {
	h := newHarness(t, testConfig())
	h.consume(goldenBatches()...)
	assert.Equal(t, 0, h.tick().DataPointCount())
	pts := flatten(t, h.shutdown())
	assertGolden(t, pts)
}
