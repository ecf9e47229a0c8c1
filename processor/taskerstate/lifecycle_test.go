package taskerstate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tasker-systems/otelcol-tasker/processor/taskerstate/internal/metadata"
)

// t0 is the fixed origin of the golden lifecycles; every row's time is an offset from it.
var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// row is one transition of the golden lifecycles with the stamps §6 requires for it when
// everything before it (in telemetry time) has been seen. Durations are worked out by hand
// from the offsets: dur = this row's offset − the offset of the row that entered from_state.
type row struct {
	entity   string // task-a, step a2, ...
	from, to string
	at       time.Duration
	worker   bool // emitted by a worker (claims and results), else by orchestration

	event   string
	dur     float64 // tasker.state.duration; <0: absent (no known entry into from_state)
	taskDur float64 // tasker.task.duration; 0: absent
	attempt int64   // tasker.step.attempt; 0: absent
	invalid bool
	ns      string
	handler string

	// The step's decided outcome (§7 "Step outcomes across retries"), stamped on the
	// transition that decides it: tasker.step.completion_duration (stepDur, seconds) and
	// tasker.step.attempt_count (attempts). byTaskEnd: a step in error when its task ended,
	// known at pass time only if the task's terminal transition was already seen.
	decided   bool
	stepDur   float64
	attempts  int64
	byTaskEnd bool
	// attemptAttr, when set, is the claim's attempt_number attribute on its carrier.
	attemptAttr int64
}

const ms = time.Millisecond

// Task a (payments): three steps; a2 fails once (in_progress → enqueued_as_error_for_orchestration
// → waiting_for_retry), is retried and completes; the task ends complete.
// Task b (inventory): its only step fails for good; the task goes blocked_by_failures → error.
// Task c (inventory): cancelled while initializing.
var golden = []row{
	{entity: "task-a", from: "none", to: "pending", at: 0, dur: -1, ns: "payments"},
	{entity: "task-a", from: "pending", to: "initializing", at: 10 * ms, event: "task.initialize_requested", dur: 0.010, ns: "payments"},
	{entity: "task-a", from: "initializing", to: "enqueuing_steps", at: 25 * ms, event: "task.steps_discovery_completed", dur: 0.015, ns: "payments"},
	{entity: "a1", from: "none", to: "pending", at: 30 * ms, dur: -1, ns: "payments", handler: "validate_order"},
	{entity: "a2", from: "none", to: "pending", at: 30 * ms, dur: -1, ns: "payments", handler: "charge_card"},
	{entity: "a3", from: "none", to: "pending", at: 30 * ms, dur: -1, ns: "payments", handler: "send_receipt"},
	{entity: "task-a", from: "enqueuing_steps", to: "steps_in_process", at: 40 * ms, event: "task.steps_enqueued", dur: 0.015, ns: "payments"},
	{entity: "a1", from: "pending", to: "enqueued", at: 50 * ms, event: "step.enqueue_requested", dur: 0.020, ns: "payments", handler: "validate_order"},
	{entity: "a2", from: "pending", to: "enqueued", at: 50 * ms, event: "step.enqueue_requested", dur: 0.020, ns: "payments", handler: "charge_card"},
	{entity: "a1", from: "enqueued", to: "in_progress", at: 100 * ms, worker: true, event: "step.execution_requested", dur: 0.050, attempt: 1, ns: "payments", handler: "validate_order"},
	{entity: "a2", from: "enqueued", to: "in_progress", at: 200 * ms, worker: true, event: "step.execution_requested", dur: 0.150, attempt: 1, ns: "payments", handler: "charge_card"},
	{entity: "a1", from: "in_progress", to: "enqueued_for_orchestration", at: 600 * ms, worker: true, event: "step.enqueued_for_orchestration", dur: 0.500, attempt: 1, ns: "payments", handler: "validate_order"},
	// a1's outcome: created at 30 ms, first complete at 700 ms: 0.670 s; 1 claim.
	{entity: "a1", from: "enqueued_for_orchestration", to: "complete", at: 700 * ms, event: "step.completed", dur: 0.100, attempt: 1, ns: "payments", handler: "validate_order",
		decided: true, stepDur: 0.670, attempts: 1},
	{entity: "a2", from: "in_progress", to: "enqueued_as_error_for_orchestration", at: 1200 * ms, worker: true, event: "step.enqueued_as_error_for_orchestration", dur: 1.000, attempt: 1, ns: "payments", handler: "charge_card"},
	{entity: "a2", from: "enqueued_as_error_for_orchestration", to: "waiting_for_retry", at: 1300 * ms, event: "step.retry_requested", dur: 0.100, attempt: 1, ns: "payments", handler: "charge_card"},
	{entity: "task-a", from: "steps_in_process", to: "evaluating_results", at: 3000 * ms, event: "task.step_results_received", dur: 2.960, ns: "payments"},
	{entity: "task-a", from: "evaluating_results", to: "enqueuing_steps", at: 3010 * ms, dur: 0.010, ns: "payments"},
	{entity: "task-a", from: "enqueuing_steps", to: "steps_in_process", at: 3020 * ms, event: "task.steps_enqueued", dur: 0.010, ns: "payments"},
	{entity: "a2", from: "waiting_for_retry", to: "pending", at: 3300 * ms, event: "step.retry_requested", dur: 2.000, ns: "payments", handler: "charge_card"},
	{entity: "a2", from: "pending", to: "enqueued", at: 3310 * ms, event: "step.enqueue_requested", dur: 0.010, ns: "payments", handler: "charge_card"},
	{entity: "a3", from: "pending", to: "enqueued", at: 3315 * ms, event: "step.enqueue_requested", dur: 3.285, ns: "payments", handler: "send_receipt"},
	{entity: "a2", from: "enqueued", to: "in_progress", at: 3400 * ms, worker: true, event: "step.execution_requested", dur: 0.090, attempt: 2, ns: "payments", handler: "charge_card"},
	{entity: "a3", from: "enqueued", to: "in_progress", at: 3500 * ms, worker: true, event: "step.execution_requested", dur: 0.185, attempt: 1, ns: "payments", handler: "send_receipt"},
	{entity: "a2", from: "in_progress", to: "enqueued_for_orchestration", at: 4400 * ms, worker: true, event: "step.enqueued_for_orchestration", dur: 1.000, attempt: 2, ns: "payments", handler: "charge_card"},
	// a2's outcome across its retry: 30 ms to 4500 ms: 4.470 s; 2 claims (200 ms, 3400 ms).
	{entity: "a2", from: "enqueued_for_orchestration", to: "complete", at: 4500 * ms, event: "step.completed", dur: 0.100, attempt: 2, ns: "payments", handler: "charge_card",
		decided: true, stepDur: 4.470, attempts: 2},
	{entity: "a3", from: "in_progress", to: "enqueued_for_orchestration", at: 7500 * ms, worker: true, event: "step.enqueued_for_orchestration", dur: 4.000, attempt: 1, ns: "payments", handler: "send_receipt"},
	// a3: 30 ms to 7600 ms: 7.570 s; 1 claim.
	{entity: "a3", from: "enqueued_for_orchestration", to: "complete", at: 7600 * ms, event: "step.completed", dur: 0.100, attempt: 1, ns: "payments", handler: "send_receipt",
		decided: true, stepDur: 7.570, attempts: 1},
	{entity: "task-a", from: "steps_in_process", to: "evaluating_results", at: 8000 * ms, event: "task.step_results_received", dur: 4.980, ns: "payments"},
	// The task's start is its first record (none → pending at 0): 8.005 s end to end.
	{entity: "task-a", from: "evaluating_results", to: "complete", at: 8005 * ms, event: "task.completed", dur: 0.005, taskDur: 8.005, ns: "payments"},

	{entity: "task-b", from: "none", to: "pending", at: 0, dur: -1, ns: "inventory"},
	{entity: "task-b", from: "pending", to: "initializing", at: 10 * ms, event: "task.initialize_requested", dur: 0.010, ns: "inventory"},
	{entity: "task-b", from: "initializing", to: "enqueuing_steps", at: 20 * ms, event: "task.steps_discovery_completed", dur: 0.010, ns: "inventory"},
	{entity: "b1", from: "none", to: "pending", at: 25 * ms, dur: -1, ns: "inventory", handler: "reserve_stock"},
	{entity: "task-b", from: "enqueuing_steps", to: "steps_in_process", at: 30 * ms, event: "task.steps_enqueued", dur: 0.010, ns: "inventory"},
	{entity: "b1", from: "pending", to: "enqueued", at: 35 * ms, event: "step.enqueue_requested", dur: 0.010, ns: "inventory", handler: "reserve_stock"},
	{entity: "b1", from: "enqueued", to: "in_progress", at: 100 * ms, worker: true, event: "step.execution_requested", dur: 0.065, attempt: 1, ns: "inventory", handler: "reserve_stock"},
	{entity: "b1", from: "in_progress", to: "enqueued_as_error_for_orchestration", at: 1100 * ms, worker: true, event: "step.enqueued_as_error_for_orchestration", dur: 1.000, attempt: 1, ns: "inventory", handler: "reserve_stock"},
	// b1 gives up: still in error when task-b first reaches a terminal state (error at
	// 5530 ms), so its outcome is error, decided by this transition: 25 ms to 1200 ms:
	// 1.175 s; 1 claim. Known when this passes only if task-b's end was seen (one batch).
	{entity: "b1", from: "enqueued_as_error_for_orchestration", to: "error", at: 1200 * ms, event: "step.failed", dur: 0.100, attempt: 1, ns: "inventory", handler: "reserve_stock",
		decided: true, stepDur: 1.175, attempts: 1, byTaskEnd: true},
	{entity: "task-b", from: "steps_in_process", to: "blocked_by_failures", at: 5030 * ms, event: "task.blocked_by_failures", dur: 5.000, ns: "inventory"},
	{entity: "task-b", from: "blocked_by_failures", to: "error", at: 5530 * ms, event: "task.failed", dur: 0.500, taskDur: 5.530, ns: "inventory"},

	{entity: "task-c", from: "none", to: "pending", at: 0, dur: -1, ns: "inventory"},
	{entity: "task-c", from: "pending", to: "initializing", at: 50 * ms, event: "task.initialize_requested", dur: 0.050, ns: "inventory"},
	{entity: "task-c", from: "initializing", to: "cancelled", at: 1050 * ms, event: "task.cancelled", dur: 1.000, taskDur: 1.050, ns: "inventory"},
}

// terminalTaskStates are §1's end states.
var terminalTaskStates = map[string]bool{"complete": true, "error": true, "cancelled": true, "resolved_manually": true}

// steps maps each step to its task and handler.
var steps = map[string]struct{ task, handler string }{
	"a1": {"task-a", "validate_order"}, "a2": {"task-a", "charge_card"}, "a3": {"task-a", "send_receipt"},
	"b1": {"task-b", "reserve_stock"},
	// outcome_test.go
	"r1": {"task-o", "retry_me"}, "r2": {"task-o", "give_up"}, "r3": {"task-o", "skipped"},
	"r4": {"task-o", "fixed_by_hand"}, "r5": {"task-o", "last_second"}, "r6": {"task-o", "late_failure"},
	"r7": {"task-o", "completed_at_the_end"},
}

var namespaces = map[string]string{"task-a": "payments", "task-b": "inventory", "task-c": "inventory", "task-o": "ops"}

func isTask(entity string) bool { _, step := steps[entity]; return !step }

func taskOf(entity string) string {
	if isTask(entity) {
		return entity
	}
	return steps[entity].task
}

func (r row) key() string { return fmt.Sprintf("%s %s→%s @%s", r.entity, r.from, r.to, r.at) }

func ts(d time.Duration) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t0.Add(d)) }

func traceID(task string) pcommon.TraceID {
	var id pcommon.TraceID
	copy(id[:], task)
	return id
}

// shape builds one row (or a group of rows) into traces.
type shape func(td ptrace.Traces, rows []row)

// resourceSpans returns the ResourceSpans of Tasker's orchestration or worker service.
func resourceSpans(td ptrace.Traces, worker bool) ptrace.SpanSlice {
	name := "tasker-orchestration"
	if worker {
		name = "tasker-worker"
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		if v, _ := rss.At(i).Resource().Attributes().Get("service.name"); v.Str() == name {
			return rss.At(i).ScopeSpans().At(0).Spans()
		}
	}
	rs := rss.AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", name)
	rs.Resource().Attributes().PutStr("service.instance.id", name+"-1")
	return rs.ScopeSpans().AppendEmpty().Spans()
}

var spanSeq uint64

func newSpan(spans ptrace.SpanSlice, name, task string, end time.Duration) ptrace.Span {
	spanSeq++
	s := spans.AppendEmpty()
	s.SetName(name)
	s.SetTraceID(traceID(task))
	var sid pcommon.SpanID
	copy(sid[:], fmt.Sprintf("%08d", spanSeq))
	s.SetSpanID(sid)
	s.SetStartTimestamp(ts(end - ms))
	s.SetEndTimestamp(ts(end))
	return s
}

// spansShape: every transition is a span of its own (Tasker's planned task.state_transition
// and step.state_transition), carrying from/to; task spans carry their namespace, step spans
// do not. Workers' step_execution spans, which carry no transition, teach namespace and
// handler.
func spansShape(td ptrace.Traces, rows []row) {
	for _, r := range rows {
		task := taskOf(r.entity)
		kind := "step"
		if isTask(r.entity) {
			kind = "task"
		}
		s := newSpan(resourceSpans(td, r.worker), kind+".state_transition", task, r.at)
		a := s.Attributes()
		a.PutStr("from_state", r.from)
		a.PutStr("to_state", r.to)
		a.PutStr("task_uuid", task)
		a.PutStr("correlation_id", "corr-"+task)
		if kind == "task" {
			a.PutStr("namespace", namespaces[task])
		} else {
			a.PutStr("step_uuid", r.entity)
		}
		if r.attemptAttr > 0 {
			a.PutInt("attempt_number", r.attemptAttr)
		}
		if r.worker {
			w := newSpan(resourceSpans(td, true), "worker.step_execution", task, r.at)
			w.Attributes().PutStr("step_uuid", r.entity)
			w.Attributes().PutStr("task_uuid", task)
			w.Attributes().PutStr("namespace", namespaces[task])
			w.Attributes().PutStr("step_name", steps[r.entity].handler)
		}
	}
}

// eventsShape is what Tasker emits today: `Step state transition` events, the worker's
// inside worker.step_execution spans (which carry namespace and step_name), orchestration's
// inside spans that carry no namespace; `Task state transition` events inside orchestration
// spans, the results-processing ones inside a span that carries a step's id.
func eventsShape(td ptrace.Traces, rows []row) {
	for _, r := range rows {
		task := taskOf(r.entity)
		var s ptrace.Span
		var evName string
		switch {
		case isTask(r.entity):
			evName = "Task state transition"
			if r.from == "steps_in_process" {
				s = newSpan(resourceSpans(td, false), "handle_step_result_with_metadata", task, r.at)
				s.Attributes().PutStr("step_uuid", "some-step-of-"+task)
				s.Attributes().PutStr("correlation_id", "corr-"+task)
			} else {
				s = newSpan(resourceSpans(td, false), "process_single_task_from_ready_info", task, r.at)
				s.Attributes().PutStr("task_uuid", task)
				s.Attributes().PutStr("namespace", namespaces[task])
			}
		case r.worker:
			evName = "Step state transition"
			s = newSpan(resourceSpans(td, true), "worker.step_execution", task, r.at+ms)
			s.Attributes().PutStr("step_uuid", r.entity)
			s.Attributes().PutStr("task_uuid", task)
			s.Attributes().PutStr("namespace", namespaces[task])
			s.Attributes().PutStr("step_name", steps[r.entity].handler)
			s.Attributes().PutStr("correlation_id", "corr-"+task)
		default:
			evName = "Step state transition"
			s = newSpan(resourceSpans(td, false), "enqueue_ready_steps", task, r.at+ms)
			s.Attributes().PutStr("task_uuid", task)
		}
		ev := s.Events().AppendEmpty()
		ev.SetName(evName)
		ev.SetTimestamp(ts(r.at))
		a := ev.Attributes()
		a.PutStr("event_name", "ignored_by_us")
		a.PutStr("task_uuid", task)
		if !isTask(r.entity) {
			a.PutStr("step_uuid", r.entity)
			a.PutStr("named_step_uuid", "named-"+steps[r.entity].handler)
		} else {
			a.PutStr("correlation_id", "corr-"+task)
		}
		a.PutStr("from_state", r.from)
		a.PutStr("to_state", r.to)
		if r.attemptAttr > 0 {
			a.PutInt("attempt_number", r.attemptAttr)
		}
	}
}

func newTestProcessor(t *testing.T, cfg *Config, clock clockwork.Clock, next *consumertest.TracesSink) processor.Traces {
	t.Helper()
	ctx := clockwork.AddToContext(context.Background(), clock)
	p, err := NewFactory().CreateTraces(ctx, processortest.NewNopSettings(metadata.Type), cfg, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx, nil))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p
}

// carriers lists every transition carrier (span or event) of the output, keyed by entity,
// from, to and time, with its attributes.
func carriers(t *testing.T, all []ptrace.Traces) map[string][]pcommon.Map {
	out := map[string][]pcommon.Map{}
	for _, td := range all {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					s := spans.At(k)
					add := func(a pcommon.Map, at pcommon.Timestamp) {
						from, okF := a.Get("from_state")
						to, okT := a.Get("to_state")
						if !okF || !okT {
							return
						}
						// A carrier names its own entity: a step id, else a task id.
						id, ok := a.Get("step_uuid")
						if !ok {
							id, _ = a.Get("task_uuid")
						}
						key := fmt.Sprintf("%s %s→%s @%s", id.Str(), from.Str(), to.Str(), at.AsTime().Sub(t0))
						out[key] = append(out[key], a)
					}
					add(s.Attributes(), s.EndTimestamp())
					for e := 0; e < s.Events().Len(); e++ {
						add(s.Events().At(e).Attributes(), s.Events().At(e).Timestamp())
					}
				}
			}
		}
	}
	return out
}

// checkStamps asserts that the carrier holds exactly the stamps the row expects.
func checkStamps(t *testing.T, r row, a pcommon.Map, duplicate bool) {
	t.Helper()
	name := fmt.Sprintf("%s %s→%s", r.entity, r.from, r.to)
	want := map[string]any{"tasker.entity.kind": "step"}
	if isTask(r.entity) {
		want["tasker.entity.kind"] = "task"
	}
	if r.event != "" {
		want["tasker.event.name"] = r.event
	}
	if r.ns != "" {
		want["tasker.namespace"] = r.ns
	}
	if r.handler != "" {
		want["tasker.step.handler"] = r.handler
	}
	if r.dur >= 0 {
		want["tasker.state.duration"] = r.dur
	}
	if r.taskDur > 0 {
		want["tasker.task.duration"] = r.taskDur
	}
	if r.attempt > 0 {
		want["tasker.step.attempt"] = r.attempt
	}
	if r.invalid {
		want["tasker.transition.invalid"] = true
	}
	if r.decided {
		want["tasker.step.completion_duration"] = r.stepDur
		want["tasker.step.attempt_count"] = r.attempts
	}
	if duplicate {
		want["tasker.transition.duplicate"] = true
	}
	got := map[string]any{}
	for k, v := range a.All() {
		if len(k) > 7 && k[:7] == "tasker." {
			got[k] = v.AsRaw()
		}
	}
	for k, w := range want {
		g, ok := got[k]
		if !assert.Truef(t, ok, "%s: stamp %s missing", name, k) {
			continue
		}
		if wf, isF := w.(float64); isF {
			// Durations to the microsecond, from the fixed timestamps.
			assert.InDeltaf(t, wf, g, 1e-6, "%s: %s", name, k)
			continue
		}
		assert.Equalf(t, w, g, "%s: %s", name, k)
	}
	for k := range got {
		_, ok := want[k]
		assert.Truef(t, ok, "%s: unexpected stamp %s=%v", name, k, got[k])
	}
}

func TestGoldenLifecycles(t *testing.T) {
	for _, sh := range []struct {
		name  string
		build shape
	}{{"transition spans", spansShape}, {"span events", eventsShape}} {
		for _, delivery := range []string{"one batch", "a batch per transition"} {
			t.Run(sh.name+"/"+delivery, func(t *testing.T) {
				sink := new(consumertest.TracesSink)
				p := newTestProcessor(t, createDefaultConfig(), clockwork.NewFakeClockAt(t0.Add(time.Hour)), sink)
				if delivery == "one batch" {
					td := ptrace.NewTraces()
					sh.build(td, golden)
					require.NoError(t, p.ConsumeTraces(context.Background(), td))
				} else {
					for _, r := range golden {
						td := ptrace.NewTraces()
						sh.build(td, []row{r})
						require.NoError(t, p.ConsumeTraces(context.Background(), td))
					}
				}
				got := carriers(t, sink.AllTraces())
				require.Len(t, got, len(golden))
				workerSeen := map[string]bool{}
				ended := map[string]bool{} // tasks whose terminal transition has passed
				for _, r := range golden {
					// A step's handler is only told by its worker's spans: delivered one
					// transition at a time, the orchestration's first transitions of a step
					// pass before any of them, and must not carry one.
					workerSeen[r.entity] = workerSeen[r.entity] || r.worker
					if delivery != "one batch" && !workerSeen[r.entity] {
						r.handler = ""
					}
					// Delivered one at a time, b1's error passes before task-b's end: its
					// outcome is not known then, and no later transition of b1 decides it.
					if delivery != "one batch" && r.byTaskEnd && !ended[taskOf(r.entity)] {
						r.decided = false
					}
					if isTask(r.entity) && terminalTaskStates[r.to] {
						ended[r.entity] = true
					}
					list := got[r.key()]
					require.Lenf(t, list, 1, r.key())
					checkStamps(t, r, list[0], false)
				}
			})
		}
	}
}

// A repeated batch (an exporter's retry) is marked duplicate and otherwise stamped like the
// original; an invalid move is stamped invalid and still counted.
func TestDuplicateAndInvalid(t *testing.T) {
	sink := new(consumertest.TracesSink)
	p := newTestProcessor(t, createDefaultConfig(), clockwork.NewFakeClock(), sink)
	rows := golden[:3] // task-a: none→pending, pending→initializing, initializing→enqueuing_steps
	for range 2 {
		td := ptrace.NewTraces()
		spansShape(td, rows)
		require.NoError(t, p.ConsumeTraces(context.Background(), td))
	}
	// complete → pending leaves a terminal task state: invalid (§1). The log knows
	// enqueuing_steps was entered at 25 ms, not complete, so no duration.
	bad := row{entity: "task-a", from: "complete", to: "pending", at: 30 * ms, dur: -1, invalid: true, ns: "payments"}
	td := ptrace.NewTraces()
	spansShape(td, []row{bad})
	require.NoError(t, p.ConsumeTraces(context.Background(), td))

	all := sink.AllTraces()
	require.Len(t, all, 3)
	first, second := carriers(t, all[:1]), carriers(t, all[1:2])
	for _, r := range rows {
		checkStamps(t, r, first[r.key()][0], false)
		checkStamps(t, r, second[r.key()][0], true)
	}
	checkStamps(t, bad, carriers(t, all[2:])[bad.key()][0], false)
}

// Out of order: a later transition arriving first gets what is known then; the earlier one,
// arriving later, still finds its predecessor. Stamps never hold a span back.
func TestOutOfOrderStampsWhatIsKnown(t *testing.T) {
	sink := new(consumertest.TracesSink)
	p := newTestProcessor(t, createDefaultConfig(), clockwork.NewFakeClock(), sink)
	a1 := golden[3:4]                     // a1 none→pending @30ms
	late := []row{golden[11], golden[12]} // in_progress→EFO @600, EFO→complete @700
	early := []row{golden[7], golden[9]}  // pending→enqueued @50, enqueued→in_progress @100
	for _, batch := range [][]row{a1, {late[1]}, early, {late[0]}} {
		td := ptrace.NewTraces()
		spansShape(td, batch)
		require.NoError(t, p.ConsumeTraces(context.Background(), td))
	}
	got := carriers(t, sink.AllTraces())
	// EFO→complete arrived before in_progress→EFO: no known entry into
	// enqueued_for_orchestration, and no open attempt yet (the claim had not arrived).
	c := got[late[1].key()][0]
	_, hasDur := c.Get("tasker.state.duration")
	_, hasAttempt := c.Get("tasker.step.attempt")
	assert.False(t, hasDur)
	assert.False(t, hasAttempt)
	// The late in_progress→EFO finds the claim at 100 ms: 0.5 s, attempt 1.
	checkStamps(t, late[0], got[late[0].key()][0], false)
}

// hostileTimes are timestamps a transition must not be stamped at (§4 of docs/telemetry.md:
// implausible): unset, 1 ns, a negative time wrapped to uint64, a century ahead.
var hostileTimes = []pcommon.Timestamp{0, 1, math.MaxUint64, pcommon.NewTimestampFromTime(t0.AddDate(100, 0, 0))}

// hostileValues are values past the default limits or not valid UTF-8.
var hostileValues = []string{strings.Repeat("i", 200), strings.Repeat("n", 300), "ns-\xff\xfe", "\xc3\x28"}

// randomTraces builds traces of random spans, events, attributes and types, some of them
// transition-shaped, some hostile (oversized values, invalid UTF-8, implausible times,
// absurd attempts), to check that the processor never loses or changes input data.
func randomTraces(rng *rand.Rand) ptrace.Traces {
	states := []string{"none", "", "pending", "PENDING ", "enqueued", "in_progress", "complete", "error", "bogus",
		"waiting_for_retry", "steps_in_process", "initializing", "enqueued_for_orchestration", "cancelled"}
	keys := []string{"from_state", "to_state", "task_uuid", "step_uuid", "namespace", "step_name", "correlation_id",
		"attempt_number", "http.method", "tasker.event.name", "tasker.namespace"}
	putRandom := func(m pcommon.Map) {
		if rng.IntN(2) == 0 { // transition-shaped, so that stamping is exercised
			m.PutStr("from_state", states[rng.IntN(len(states))])
			m.PutStr("to_state", states[rng.IntN(len(states))])
			m.PutStr([]string{"task_uuid", "step_uuid"}[rng.IntN(2)], fmt.Sprintf("id%d", rng.IntN(6)))
		}
		for range rng.IntN(8) {
			k := keys[rng.IntN(len(keys))]
			switch rng.IntN(7) {
			case 0:
				m.PutInt(k, []int64{0, 1, 2, 3, 1 << 62, -1}[rng.IntN(6)])
			case 6:
				m.PutStr(k, hostileValues[rng.IntN(len(hostileValues))])
			case 1:
				m.PutDouble(k, rng.Float64())
			case 2:
				m.PutEmptySlice(k).AppendEmpty().SetStr("x")
			case 3:
				m.PutBool(k, rng.IntN(2) == 0)
			default:
				if k == "from_state" || k == "to_state" {
					m.PutStr(k, states[rng.IntN(len(states))])
				} else {
					m.PutStr(k, fmt.Sprintf("v%d", rng.IntN(4)))
				}
			}
		}
	}
	td := ptrace.NewTraces()
	for range 1 + rng.IntN(3) {
		rs := td.ResourceSpans().AppendEmpty()
		putRandom(rs.Resource().Attributes())
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc%d", rng.IntN(2)))
		for range 1 + rng.IntN(2) {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("scope")
			for range rng.IntN(12) {
				s := ss.Spans().AppendEmpty()
				s.SetName([]string{"task.state_transition", "step.state_transition", "worker.step_execution", "GET /"}[rng.IntN(4)])
				s.SetTraceID(pcommon.TraceID{byte(rng.IntN(256)), 1})
				s.SetSpanID(pcommon.SpanID{byte(rng.IntN(256)), 2})
				start := int64(ts(0)) + rng.Int64N(1e12)
				s.SetStartTimestamp(pcommon.Timestamp(start))
				switch rng.IntN(10) {
				case 0: // no end time
				case 1:
					s.SetEndTimestamp(hostileTimes[rng.IntN(len(hostileTimes))])
				default:
					s.SetEndTimestamp(pcommon.Timestamp(start + rng.Int64N(1e9)))
				}
				s.Status().SetCode(ptrace.StatusCode(rng.IntN(3)))
				putRandom(s.Attributes())
				for range rng.IntN(4) {
					ev := s.Events().AppendEmpty()
					ev.SetName([]string{"Step state transition", "Task state transition", "log"}[rng.IntN(3)])
					switch rng.IntN(10) {
					case 0: // no time
					case 1:
						ev.SetTimestamp(hostileTimes[rng.IntN(len(hostileTimes))])
					default:
						ev.SetTimestamp(pcommon.Timestamp(start + rng.Int64N(1e9)))
					}
					putRandom(ev.Attributes())
				}
			}
		}
	}
	return td
}

// The processor never drops, reorders or changes a span: every span and event comes out
// with all its original data, in order; only tasker.* attributes that were absent are added.
func TestNothingLostProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sink := new(consumertest.TracesSink)
	p := newTestProcessor(t, createDefaultConfig(), clockwork.NewFakeClock(), sink)
	added := 0
	for i := range 300 {
		in := randomTraces(rng)
		orig := ptrace.NewTraces()
		in.CopyTo(orig)
		require.NoError(t, p.ConsumeTraces(context.Background(), in))
		out := sink.AllTraces()[i]
		added += compareTraces(t, orig, out)
	}
	// The property is only worth something if transitions were in fact stamped.
	assert.Greater(t, added, 100)
}

// compareTraces checks out against orig and returns how many attributes were added.
func compareTraces(t *testing.T, orig, out ptrace.Traces) int {
	t.Helper()
	added := 0
	require.Equal(t, orig.ResourceSpans().Len(), out.ResourceSpans().Len())
	for i := 0; i < orig.ResourceSpans().Len(); i++ {
		ors, nrs := orig.ResourceSpans().At(i), out.ResourceSpans().At(i)
		require.Equal(t, ors.Resource().Attributes().AsRaw(), nrs.Resource().Attributes().AsRaw())
		require.Equal(t, ors.ScopeSpans().Len(), nrs.ScopeSpans().Len())
		for j := 0; j < ors.ScopeSpans().Len(); j++ {
			os, ns := ors.ScopeSpans().At(j).Spans(), nrs.ScopeSpans().At(j).Spans()
			require.Equal(t, os.Len(), ns.Len())
			for k := 0; k < os.Len(); k++ {
				o, n := os.At(k), ns.At(k)
				added += superset(t, o.Attributes(), n.Attributes())
				require.Equal(t, o.Events().Len(), n.Events().Len())
				for e := 0; e < o.Events().Len(); e++ {
					added += superset(t, o.Events().At(e).Attributes(), n.Events().At(e).Attributes())
					// With the attributes compared, the rest of the event must be identical.
					oe, ne := ptrace.NewSpanEvent(), ptrace.NewSpanEvent()
					o.Events().At(e).CopyTo(oe)
					n.Events().At(e).CopyTo(ne)
					oe.Attributes().Clear()
					ne.Attributes().Clear()
					require.Equal(t, oe, ne)
				}
				os2, ns2 := ptrace.NewSpan(), ptrace.NewSpan()
				o.CopyTo(os2)
				n.CopyTo(ns2)
				os2.Attributes().Clear()
				ns2.Attributes().Clear()
				os2.Events().RemoveIf(func(ptrace.SpanEvent) bool { return true })
				ns2.Events().RemoveIf(func(ptrace.SpanEvent) bool { return true })
				require.Equal(t, os2, ns2)
			}
		}
	}
	return added
}

func superset(t *testing.T, orig, out pcommon.Map) int {
	t.Helper()
	for k, v := range orig.All() {
		got, ok := out.Get(k)
		require.Truef(t, ok, "attribute %s lost", k)
		require.Equalf(t, v.AsRaw(), got.AsRaw(), "attribute %s changed", k)
	}
	added := 0
	for k := range out.All() {
		if _, ok := orig.Get(k); !ok {
			require.Truef(t, len(k) > 7 && k[:7] == "tasker.", "non-stamp attribute %s added", k)
			added++
		}
	}
	return added
}

// Pipelines call ConsumeTraces from several goroutines: every batch still comes out whole and
// stamped (run with -race).
func TestConcurrentBatches(t *testing.T) {
	sink := new(consumertest.TracesSink)
	p := newTestProcessor(t, createDefaultConfig(), clockwork.NewFakeClock(), sink)
	const workers = 4
	done := make(chan error, workers)
	for w := range workers {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var err error
			for range 50 {
				if err = p.ConsumeTraces(context.Background(), randomTraces(rng)); err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range workers {
		require.NoError(t, <-done)
	}
	assert.Len(t, sink.AllTraces(), workers*50)
}
