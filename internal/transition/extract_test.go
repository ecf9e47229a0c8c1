package transition

import (
	"maps"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// Expectations below come from docs/telemetry.md §4.

// base is the tests' origin of time: the timestamps of spanSpec and evSpec are offsets in
// nanoseconds from it, and 0 stays 0 (unset). testNow is the collector's clock.
var (
	base    = pcommon.NewTimestampFromTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	testNow = base.AsTime().Add(time.Hour)
)

func at(offset uint64) pcommon.Timestamp {
	if offset == 0 {
		return 0
	}
	return base + pcommon.Timestamp(offset)
}

type kv = map[string]any

type evSpec struct {
	name  string
	ts    uint64
	attrs kv
}

type spanSpec struct {
	name       string
	start, end uint64
	attrs      kv
	events     []evSpec
}

type resSpec struct {
	attrs kv
	spans []spanSpec
}

var (
	traceA = pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	spanA  = pcommon.SpanID{0xa, 0xb, 0xc, 0xd, 1, 2, 3, 4}
)

func build(t testing.TB, rs ...resSpec) ptrace.Traces {
	t.Helper()
	td := ptrace.NewTraces()
	for _, r := range rs {
		prs := td.ResourceSpans().AppendEmpty()
		if err := prs.Resource().Attributes().FromRaw(r.attrs); err != nil {
			t.Fatal(err)
		}
		ss := prs.ScopeSpans().AppendEmpty()
		for _, s := range r.spans {
			sp := ss.Spans().AppendEmpty()
			sp.SetName(s.name)
			sp.SetTraceID(traceA)
			sp.SetSpanID(spanA)
			sp.SetStartTimestamp(at(s.start))
			sp.SetEndTimestamp(at(s.end))
			if err := sp.Attributes().FromRaw(s.attrs); err != nil {
				t.Fatal(err)
			}
			for _, e := range s.events {
				ev := sp.Events().AppendEmpty()
				ev.SetName(e.name)
				ev.SetTimestamp(at(e.ts))
				if err := ev.Attributes().FromRaw(e.attrs); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return td
}

func run(td ptrace.Traces) *Batch {
	return runWith(DefaultKeys(), TimeEnd, td)
}

func runWith(k Keys, ts TimeSource, td ptrace.Traces) *Batch {
	return runLimits(k, ts, DefaultValueLimits(), td)
}

func runLimits(k Keys, ts TimeSource, l ValueLimits, td ptrace.Traces) *Batch {
	var b Batch
	NewExtractor(k, ts, l).Extract(td, testNow, &b)
	return &b
}

func worker() kv {
	return kv{"service.name": "tasker-worker", "service.instance.id": "w-1"}
}

func stepEvent(ts uint64, step, task, from, to string) evSpec {
	return evSpec{name: "Step state transition", ts: ts, attrs: kv{
		"event_name": "x", "step_uuid": step, "task_uuid": task, "named_step_uuid": "n-1",
		"from_state": from, "to_state": to,
	}}
}

func taskEvent(ts uint64, task, from, to string) evSpec {
	return evSpec{name: "Task state transition", ts: ts, attrs: kv{
		"event_name": "x", "task_uuid": task, "correlation_id": "corr-1", "from_state": from, "to_state": to,
	}}
}

// countsByName returns the non-zero counts of a table by kind and reason as
// "kind/reason" → n.
func countsByName(reasons int, count func(k tasker.Kind, r int) int64, name func(r int) string) map[string]int64 {
	out := map[string]int64{}
	for k := tasker.KindUnknown; k <= tasker.KindStep; k++ {
		for r := range reasons {
			if n := count(k, r); n != 0 {
				out[k.String()+"/"+name(r)] = n
			}
		}
	}
	return out
}

func problems(b *Batch) map[string]int64 {
	return countsByName(int(NumProblems), func(k tasker.Kind, r int) int64 { return b.Problems[k][r] },
		func(r int) string { return Problem(r).String() })
}

func anomalies(b *Batch) map[string]int64 {
	return countsByName(int(NumAnomalies), func(k tasker.Kind, r int) int64 { return b.Anomalies[k][r] },
		func(r int) string { return Anomaly(r).String() })
}

func wantProblems(t *testing.T, b *Batch, want map[string]int64) {
	t.Helper()
	if got := problems(b); !maps.Equal(got, want) {
		t.Errorf("problems = %v, want %v", got, want)
	}
}

func wantAnomalies(t *testing.T, b *Batch, want map[string]int64) {
	t.Helper()
	if got := anomalies(b); !maps.Equal(got, want) {
		t.Errorf("anomalies = %v, want %v", got, want)
	}
}

func oneTransition(t *testing.T, b *Batch) Transition {
	t.Helper()
	if len(b.Transitions) != 1 {
		t.Fatalf("got %d transitions, want 1 (problems %v)", len(b.Transitions), problems(b))
	}
	return b.Transitions[0]
}

func TestTransitionSpanShape(t *testing.T) {
	td := build(t, resSpec{attrs: kv{"service.name": "tasker-orchestration", "service.instance.id": "o-7"}, spans: []spanSpec{{
		name: "step.state_transition", start: 1_000, end: 2_500,
		attrs: kv{"from_state": "enqueued", "to_state": "in_progress", "step_uuid": "s-1", "task_uuid": "t-1",
			"namespace": "payments", "handler_name": "charge", "attempt_number": int64(2), "correlation_id": "c-9"},
	}}})
	tr := oneTransition(t, run(td))
	// The span's end is the transition's time by default.
	if tr.Kind != tasker.KindStep || tr.ID != "s-1" || tr.TaskID != "t-1" || tr.From != tasker.Enqueued ||
		tr.To != tasker.InProgress || tr.Time != at(2_500) {
		t.Errorf("got %+v", tr)
	}
	if tr.Namespace != "payments" || tr.Handler != "charge" || tr.Attempt != 2 || tr.CorrelationID != "c-9" {
		t.Errorf("values: %+v", tr)
	}
	if tr.Source != (Source{"tasker-orchestration", "o-7"}) || tr.TraceID != traceA || tr.SpanID != spanA || tr.ResourceIndex != 0 {
		t.Errorf("identity: %+v", tr)
	}
	// Stamps go on the span itself.
	if v, _ := tr.Attrs.Get("step_uuid"); v.Str() != "s-1" {
		t.Error("Attrs must be the span's attributes")
	}

	// transition_time: start
	tr = oneTransition(t, runWith(DefaultKeys(), TimeStart, td))
	if tr.Time != at(1_000) {
		t.Errorf("transition_time start: Time = %d, want %d", tr.Time, at(1_000))
	}
	// A transition span named task.* with a task id.
	td = build(t, resSpec{spans: []spanSpec{{name: "task.state_transition", end: 9,
		attrs: kv{"from_state": "none", "to_state": "pending", "task_uuid": "t-2"}}}})
	tr = oneTransition(t, run(td))
	if tr.Kind != tasker.KindTask || tr.ID != "t-2" || tr.TaskID != "t-2" || tr.From != tasker.StateNone || tr.To != tasker.Pending {
		t.Errorf("task span: %+v", tr)
	}
}

func TestSpanEventShape(t *testing.T) {
	// Tasker today: worker.step_execution carries namespace and step_name; its events carry
	// the step transitions, without namespace.
	td := build(t, resSpec{attrs: worker(), spans: []spanSpec{{
		name: "worker.step_execution", start: 100, end: 900,
		attrs: kv{"step_uuid": "s-1", "task_uuid": "t-1", "namespace": "payments", "step_name": "charge_card", "correlation_id": "c-1"},
		events: []evSpec{
			stepEvent(200, "s-1", "t-1", "enqueued", "in_progress"),
			{name: "log", ts: 300, attrs: kv{"message": "hello"}}, // not a transition
			stepEvent(400, "s-1", "t-1", "in_progress", "enqueued_for_orchestration"),
			stepEvent(500, "s-1", "t-1", "none", "pending"),
		},
	}}})
	b := run(td)
	if len(b.Transitions) != 3 {
		t.Fatalf("got %d transitions, want 3", len(b.Transitions))
	}
	want := []struct {
		ts       uint64
		from, to tasker.State
	}{{200, tasker.Enqueued, tasker.InProgress}, {400, tasker.InProgress, tasker.EnqueuedForOrchestration}, {500, tasker.StateNone, tasker.Pending}}
	for i, w := range want {
		tr := b.Transitions[i]
		if tr.Time != at(w.ts) || tr.From != w.from || tr.To != w.to || tr.Kind != tasker.KindStep || tr.ID != "s-1" || tr.TaskID != "t-1" {
			t.Errorf("transition %d: %+v", i, tr)
		}
		// Borrowed from the enclosing span (same task, same step).
		if tr.Namespace != "payments" || tr.Handler != "charge_card" || tr.CorrelationID != "c-1" {
			t.Errorf("transition %d values: ns=%q h=%q corr=%q", i, tr.Namespace, tr.Handler, tr.CorrelationID)
		}
		if tr.Source != (Source{"tasker-worker", "w-1"}) {
			t.Errorf("source %+v", tr.Source)
		}
		// Stamps go on the event.
		if v, ok := tr.Attrs.Get("event_name"); !ok || v.Str() != "x" {
			t.Errorf("transition %d: Attrs must be the event's", i)
		}
	}
	wantProblems(t, b, nil)
}

func TestSpanPairIgnoredWhenEventsAreTransitions(t *testing.T) {
	td := build(t, resSpec{spans: []spanSpec{{
		name: "step.state_transition", end: 1_000,
		attrs:  kv{"from_state": "pending", "to_state": "enqueued", "step_uuid": "s-1"},
		events: []evSpec{stepEvent(700, "s-1", "t-1", "enqueued", "in_progress")},
	}}})
	tr := oneTransition(t, run(td))
	if tr.Time != at(700) || tr.To != tasker.InProgress {
		t.Errorf("the event is the transition, not the span: %+v", tr)
	}
	// Events that are not transitions leave the span a carrier in its own right.
	td = build(t, resSpec{spans: []spanSpec{{
		name: "step.state_transition", end: 1_000,
		attrs:  kv{"from_state": "pending", "to_state": "enqueued", "step_uuid": "s-1"},
		events: []evSpec{{name: "exception", ts: 5, attrs: kv{"from_state": "pending"}}},
	}}})
	tr = oneTransition(t, run(td))
	if tr.Time != at(1_000) || tr.To != tasker.Enqueued {
		t.Errorf("span carrier: %+v", tr)
	}
}

// An event whose to_state is an int is not a transition (wrong-typed attributes are absent,
// and a carrier is a transition only when both states are strings): the span's own pair is
// then the transition.
func TestWrongTypedEventStatesLeaveSpanCarrier(t *testing.T) {
	td := build(t, resSpec{spans: []spanSpec{{
		name: "step.state_transition", end: 1_000,
		attrs:  kv{"from_state": "pending", "to_state": "enqueued", "step_uuid": "s-1"},
		events: []evSpec{{name: "Step state transition", ts: 5, attrs: kv{"step_uuid": "s-1", "from_state": "pending", "to_state": int64(3)}}},
	}}})
	b := run(td)
	tr := oneTransition(t, b)
	if tr.Time != at(1_000) || tr.From != tasker.Pending || tr.To != tasker.Enqueued {
		t.Errorf("span carrier: %+v", tr)
	}
}

func TestWrongTypesAreAbsent(t *testing.T) {
	cases := []struct {
		name  string
		attrs kv
		check func(t *testing.T, b *Batch)
	}{
		{"int to_state", kv{"step_uuid": "s-1", "from_state": "pending", "to_state": int64(4)}, func(t *testing.T, b *Batch) {
			if len(b.Transitions) != 0 {
				t.Errorf("an int to_state is not a transition: %+v", b.Transitions)
			}
		}},
		{"bool from_state", kv{"step_uuid": "s-1", "from_state": true, "to_state": "pending"}, func(t *testing.T, b *Batch) {
			if len(b.Transitions) != 0 {
				t.Errorf("a bool from_state is not a transition: %+v", b.Transitions)
			}
		}},
		{"slice task_uuid", kv{"task_uuid": []any{"t-1", "t-2"}, "from_state": "pending", "to_state": "initializing"}, func(t *testing.T, b *Batch) {
			// The task id is absent: the name decides task, and the id is missing.
			if len(b.Transitions) != 0 {
				t.Errorf("got %+v", b.Transitions)
			}
			wantProblems(t, b, map[string]int64{"task/missing_id": 1})
		}},
		{"map step_uuid, string task_uuid", kv{"step_uuid": map[string]any{"a": 1}, "task_uuid": "t-1", "from_state": "none", "to_state": "pending"}, func(t *testing.T, b *Batch) {
			// step_uuid absent → the carrier's task id decides: a task transition of t-1.
			tr := oneTransition(t, b)
			if tr.Kind != tasker.KindTask || tr.ID != "t-1" {
				t.Errorf("got %+v", tr)
			}
		}},
		{"bytes step_uuid falls to next key", kv{"step_uuid": []byte("s-x"), "workflow_step_uuid": "s-2", "from_state": "enqueued", "to_state": "in_progress"}, func(t *testing.T, b *Batch) {
			tr := oneTransition(t, b)
			if tr.Kind != tasker.KindStep || tr.ID != "s-2" {
				t.Errorf("got %+v", tr)
			}
		}},
		{"double namespace, string attempt", kv{"step_uuid": "s-1", "namespace": 1.5, "attempt_number": "2", "handler_name": int64(7), "from_state": "enqueued", "to_state": "in_progress"}, func(t *testing.T, b *Batch) {
			tr := oneTransition(t, b)
			if tr.Namespace != "" || tr.Attempt != 0 || tr.Handler != "" {
				t.Errorf("wrong-typed values must be absent: %+v", tr)
			}
		}},
		{"empty values", kv{"step_uuid": nil, "from_state": nil, "to_state": nil}, func(t *testing.T, b *Batch) {
			if len(b.Transitions) != 0 {
				t.Errorf("got %+v", b.Transitions)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := "Step state transition"
			if _, ok := c.attrs["task_uuid"]; ok {
				name = "Task state transition"
			}
			td := build(t, resSpec{spans: []spanSpec{{name: "some.span", end: 10,
				events: []evSpec{{name: name, ts: 5, attrs: c.attrs}}}}})
			c.check(t, run(td))
		})
	}
}

func TestFirstKeyWins(t *testing.T) {
	// step_uuid before workflow_step_uuid; handler_name before step_name; attempt_number
	// before attempts.
	td := build(t, resSpec{spans: []spanSpec{{name: "step.state_transition", end: 10, attrs: kv{
		"workflow_step_uuid": "s-2", "step_uuid": "s-1", "step_name": "by_name", "handler_name": "by_handler",
		"attempts": int64(5), "attempt_number": int64(3), "from_state": "pending", "to_state": "in_progress",
	}}}})
	tr := oneTransition(t, run(td))
	if tr.ID != "s-1" || tr.Handler != "by_handler" || tr.Attempt != 3 {
		t.Errorf("first key must win: %+v", tr)
	}
	// Only the later key present.
	td = build(t, resSpec{spans: []spanSpec{{name: "step.state_transition", end: 10, attrs: kv{
		"workflow_step_uuid": "s-2", "step_name": "by_name", "attempts": int64(5), "from_state": "pending", "to_state": "in_progress",
	}}}})
	tr = oneTransition(t, run(td))
	if tr.ID != "s-2" || tr.Handler != "by_name" || tr.Attempt != 5 {
		t.Errorf("second key: %+v", tr)
	}
	// Configured keys replace the defaults, tried in order.
	k := DefaultKeys()
	k.FromState = []string{"old", "from_state"}
	k.ToState = []string{"new", "to_state"}
	k.TaskID = []string{"tid"}
	td = build(t, resSpec{spans: []spanSpec{{name: "x", end: 10, attrs: kv{
		"tid": "t-9", "task_uuid": "t-0", "old": "pending", "from_state": "none", "to_state": "initializing",
	}}}})
	tr = oneTransition(t, runWith(k, TimeEnd, td))
	if tr.Kind != tasker.KindTask || tr.ID != "t-9" || tr.From != tasker.Pending || tr.To != tasker.Initializing {
		t.Errorf("configured keys: %+v", tr)
	}
	// With the default keys, "tid" means nothing: no id on the carrier, task_uuid t-0 is.
	tr = oneTransition(t, run(td))
	if tr.ID != "t-0" || tr.From != tasker.StateNone {
		t.Errorf("default keys: %+v", tr)
	}
}

// An int to_state on the first key is absent: the next key is tried.
func TestWrongTypedFirstKeyFallsThrough(t *testing.T) {
	k := DefaultKeys()
	k.ToState = []string{"to_state", "new_state"}
	td := build(t, resSpec{spans: []spanSpec{{name: "step.x", end: 10, attrs: kv{
		"step_uuid": "s-1", "from_state": "in_progress", "to_state": int64(3), "new_state": "complete",
	}}}})
	tr := oneTransition(t, runWith(k, TimeEnd, td))
	if tr.To != tasker.Complete {
		t.Errorf("got %+v", tr)
	}
}

func TestLookupOrderEventSpanResource(t *testing.T) {
	mk := func(evNS, spanNS, resNS string) *Batch {
		ev := stepEvent(5, "s-1", "t-1", "enqueued", "in_progress")
		span := kv{"task_uuid": "t-1"}
		res := kv{}
		if evNS != "" {
			ev.attrs["namespace"] = evNS
		}
		if spanNS != "" {
			span["namespace"] = spanNS
		}
		if resNS != "" {
			res["namespace"] = resNS
		}
		return run(build(t, resSpec{attrs: res, spans: []spanSpec{{name: "s", end: 9, attrs: span, events: []evSpec{ev}}}}))
	}
	for _, c := range []struct{ ev, span, res, want string }{
		{"e", "s", "r", "e"},
		{"", "s", "r", "s"},
		{"", "", "r", "r"},
		{"", "", "", ""},
		{"e", "", "r", "e"},
	} {
		if got := oneTransition(t, mk(c.ev, c.span, c.res)).Namespace; got != c.want {
			t.Errorf("event=%q span=%q resource=%q: namespace %q, want %q", c.ev, c.span, c.res, got, c.want)
		}
	}
	// Location-major: the span's first-choice key loses to the event's second-choice key.
	ev := stepEvent(5, "s-1", "t-1", "enqueued", "in_progress")
	ev.attrs["step_name"] = "from_event"
	td := build(t, resSpec{attrs: kv{"handler_name": "from_resource"}, spans: []spanSpec{{name: "s", end: 9,
		attrs: kv{"handler_name": "from_span"}, events: []evSpec{ev}}}})
	if got := oneTransition(t, run(td)).Handler; got != "from_event" {
		t.Errorf("handler %q, want from_event (carrier first, every key)", got)
	}
}

func TestKindDecision(t *testing.T) {
	cases := []struct {
		name     string
		span     spanSpec
		kind     tasker.Kind
		id, task string
		problems map[string]int64
	}{
		{
			// §4: a task's event inside a span that carries a step id is a task transition of
			// the event's task.
			name: "task event in a step span",
			span: spanSpec{name: "worker.step_execution", end: 10, attrs: kv{"step_uuid": "s-1", "task_uuid": "t-span", "namespace": "ns"},
				events: []evSpec{taskEvent(5, "t-ev", "steps_in_process", "evaluating_results")}},
			kind: tasker.KindTask, id: "t-ev", task: "t-ev",
		},
		{
			// A step id on the carrier beats the carrier's name.
			name: "step id on a Task-named carrier",
			span: spanSpec{name: "x", end: 10, events: []evSpec{{name: "Task state transition", ts: 5,
				attrs: kv{"step_uuid": "s-1", "task_uuid": "t-1", "from_state": "pending", "to_state": "complete"}}}},
			kind: tasker.KindStep, id: "s-1", task: "t-1",
		},
		{
			// No ids on the carrier: its name decides, even if the span carries a task id only.
			name: "step name in a task span",
			span: spanSpec{name: "x", end: 10, attrs: kv{"task_uuid": "t-1", "step_uuid": "s-9"},
				events: []evSpec{{name: "Step state transition", ts: 5, attrs: kv{"from_state": "pending", "to_state": "complete"}}}},
			kind: tasker.KindStep, id: "s-9", task: "t-1",
		},
		{
			name: "task. span name",
			span: spanSpec{name: "TASK.state_transition", end: 10, attrs: kv{"from_state": "pending", "to_state": "complete"}},
			kind: tasker.KindUnknown, problems: map[string]int64{"task/missing_id": 1},
		},
		{
			// Neither ids nor name on the carrier: the enclosing span's ids (step first).
			name: "enclosing span's step id",
			span: spanSpec{name: "x", end: 10, attrs: kv{"step_uuid": "s-1", "task_uuid": "t-1"},
				events: []evSpec{{name: "transition", ts: 5, attrs: kv{"from_state": "pending", "to_state": "complete"}}}},
			kind: tasker.KindStep, id: "s-1", task: "t-1",
		},
		{
			name: "enclosing span's task id",
			span: spanSpec{name: "x", end: 10, attrs: kv{"task_uuid": "t-1"},
				events: []evSpec{{name: "transition", ts: 5, attrs: kv{"from_state": "pending", "to_state": "complete"}}}},
			kind: tasker.KindTask, id: "t-1", task: "t-1",
		},
		{
			// Last, the vocabulary: enqueued is step-only. The step id then is missing.
			name: "vocabulary step",
			span: spanSpec{name: "x", end: 10, events: []evSpec{{name: "transition", ts: 5, attrs: kv{"from_state": "enqueued", "to_state": "in_progress"}}}},
			kind: tasker.KindUnknown, problems: map[string]int64{"step/missing_id": 1},
		},
		{
			name: "vocabulary task",
			span: spanSpec{name: "x", end: 10, events: []evSpec{{name: "transition", ts: 5, attrs: kv{"from_state": "initializing", "to_state": "enqueuing_steps"}}}},
			kind: tasker.KindUnknown, problems: map[string]int64{"task/missing_id": 1},
		},
		{
			name: "unclassified",
			span: spanSpec{name: "x", end: 10, events: []evSpec{{name: "transition", ts: 5, attrs: kv{"from_state": "pending", "to_state": "complete"}}}},
			kind: tasker.KindUnknown, problems: map[string]int64{"unknown/unclassified": 1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := run(build(t, resSpec{spans: []spanSpec{c.span}}))
			wantProblems(t, b, c.problems)
			if c.kind == tasker.KindUnknown {
				if len(b.Transitions) != 0 {
					t.Errorf("want no transition, got %+v", b.Transitions)
				}
				return
			}
			tr := oneTransition(t, b)
			if tr.Kind != c.kind || tr.ID != c.id || tr.TaskID != c.task {
				t.Errorf("got kind=%v id=%q task=%q, want %v %q %q", tr.Kind, tr.ID, tr.TaskID, c.kind, c.id, c.task)
			}
		})
	}
}

func TestBorrowingOnlyFromTheSameEntity(t *testing.T) {
	// Namespace: borrowed from the span only if it has no task id or the same one.
	for _, c := range []struct {
		spanTask string
		want     string
	}{{"", "span-ns"}, {"t-1", "span-ns"}, {"t-other", "res-ns"}} {
		span := kv{"namespace": "span-ns"}
		if c.spanTask != "" {
			span["task_uuid"] = c.spanTask
		}
		td := build(t, resSpec{attrs: kv{"namespace": "res-ns"}, spans: []spanSpec{{name: "s", end: 10, attrs: span,
			events: []evSpec{taskEvent(5, "t-1", "none", "pending")}}}})
		if got := oneTransition(t, run(td)).Namespace; got != c.want {
			t.Errorf("task event, span task %q: namespace %q, want %q", c.spanTask, got, c.want)
		}
		// A step event of task t-1 too.
		td = build(t, resSpec{attrs: kv{"namespace": "res-ns"}, spans: []spanSpec{{name: "s", end: 10, attrs: span,
			events: []evSpec{stepEvent(5, "s-1", "t-1", "none", "pending")}}}})
		if got := oneTransition(t, run(td)).Namespace; got != c.want {
			t.Errorf("step event, span task %q: namespace %q, want %q", c.spanTask, got, c.want)
		}
	}
	// A task event inside a step span of the same task borrows the namespace (the span's
	// step id does not matter for the namespace).
	td := build(t, resSpec{spans: []spanSpec{{name: "worker.step_execution", end: 10,
		attrs:  kv{"step_uuid": "s-1", "task_uuid": "t-1", "namespace": "ns"},
		events: []evSpec{taskEvent(5, "t-1", "steps_in_process", "evaluating_results")}}}})
	tr := oneTransition(t, run(td))
	if tr.Kind != tasker.KindTask || tr.Namespace != "ns" || tr.Handler != "" {
		t.Errorf("task event in its own task's step span: %+v", tr)
	}

	// Handler and attempt: borrowed only if the span has no step id or the same one.
	for _, c := range []struct {
		spanStep string
		handler  string
		attempt  int64
	}{{"", "span-h", 4}, {"s-1", "span-h", 4}, {"s-other", "", 0}} {
		span := kv{"step_name": "span-h", "attempt_number": int64(4)}
		if c.spanStep != "" {
			span["step_uuid"] = c.spanStep
		}
		td := build(t, resSpec{spans: []spanSpec{{name: "s", end: 10, attrs: span,
			events: []evSpec{stepEvent(5, "s-1", "t-1", "enqueued", "in_progress")}}}})
		tr := oneTransition(t, run(td))
		if tr.Handler != c.handler || tr.Attempt != c.attempt {
			t.Errorf("span step %q: handler %q attempt %d, want %q %d", c.spanStep, tr.Handler, tr.Attempt, c.handler, c.attempt)
		}
	}
}

func TestMalformedCarriers(t *testing.T) {
	cases := []struct {
		name     string
		span     spanSpec
		problems map[string]int64
	}{
		{"zero event timestamp", spanSpec{name: "s", end: 10, events: []evSpec{stepEvent(0, "s-1", "t-1", "pending", "enqueued")}},
			map[string]int64{"step/zero_timestamp": 1}},
		{"zero span end", spanSpec{name: "task.state_transition", start: 5, end: 0, attrs: kv{"task_uuid": "t-1", "from_state": "none", "to_state": "pending"}},
			map[string]int64{"task/zero_timestamp": 1}},
		{"unknown step state", spanSpec{name: "s", end: 10, events: []evSpec{stepEvent(5, "s-1", "t-1", "pending", "exploded")}},
			map[string]int64{"step/unknown_state": 1}},
		{"task-only state on a step", spanSpec{name: "s", end: 10, events: []evSpec{stepEvent(5, "s-1", "t-1", "pending", "initializing")}},
			map[string]int64{"step/unknown_state": 1}},
		{"step-only state on a task", spanSpec{name: "s", end: 10, events: []evSpec{taskEvent(5, "t-1", "pending", "enqueued")}},
			map[string]int64{"task/unknown_state": 1}},
		{"to_state none", spanSpec{name: "s", end: 10, events: []evSpec{taskEvent(5, "t-1", "pending", "none")}},
			map[string]int64{"task/unknown_state": 1}},
		{"empty to_state", spanSpec{name: "s", end: 10, events: []evSpec{taskEvent(5, "t-1", "pending", "")}},
			map[string]int64{"task/unknown_state": 1}},
		{"missing step id", spanSpec{name: "s", end: 10, events: []evSpec{{name: "Step state transition", ts: 5, attrs: kv{"task_uuid": "", "from_state": "pending", "to_state": "enqueued"}}}},
			map[string]int64{"step/missing_id": 1}},
		{"missing task id", spanSpec{name: "s", end: 10, events: []evSpec{{name: "Task state transition", ts: 5, attrs: kv{"from_state": "pending", "to_state": "initializing"}}}},
			map[string]int64{"task/missing_id": 1}},
		{"unclassified", spanSpec{name: "s", end: 10, events: []evSpec{{name: "e", ts: 5, attrs: kv{"from_state": "error", "to_state": "pending"}}}},
			map[string]int64{"unknown/unclassified": 1}},
		{"only one state key", spanSpec{name: "s", end: 10, attrs: kv{"task_uuid": "t-1", "to_state": "pending"}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := run(build(t, resSpec{spans: []spanSpec{c.span}}))
			if len(b.Transitions) != 0 {
				t.Errorf("want no transition, got %+v", b.Transitions)
			}
			wantProblems(t, b, c.problems)
		})
	}
}

func TestStateStringsCaseAndSpace(t *testing.T) {
	td := build(t, resSpec{spans: []spanSpec{{name: "s", end: 10, events: []evSpec{
		stepEvent(5, "s-1", "t-1", " Enqueued ", "IN_PROGRESS"),
		stepEvent(6, "s-2", "t-1", "", "pending"),
		stepEvent(7, "s-3", "t-1", "NONE", "pending"),
		taskEvent(8, "t-1", "pending", "In_Progress"), // legacy task in_progress accepted
	}}}})
	b := run(td)
	wantProblems(t, b, nil)
	if len(b.Transitions) != 4 {
		t.Fatalf("got %d", len(b.Transitions))
	}
	if tr := b.Transitions[0]; tr.From != tasker.Enqueued || tr.To != tasker.InProgress {
		t.Errorf("%+v", tr)
	}
	if b.Transitions[1].From != tasker.StateNone || b.Transitions[2].From != tasker.StateNone {
		t.Error("empty and NONE from-states are none")
	}
	if tr := b.Transitions[3]; tr.Kind != tasker.KindTask || tr.To != tasker.InProgress {
		t.Errorf("legacy: %+v", tr)
	}
}

func TestHints(t *testing.T) {
	td := build(t, resSpec{spans: []spanSpec{
		{name: "worker.step_execution", end: 10, attrs: kv{"step_uuid": "s-1", "task_uuid": "t-1", "namespace": "payments", "step_name": "charge"}},
		{name: "process_single_task_from_ready_info", end: 10, attrs: kv{"task_uuid": "t-2", "namespace": "reports"}},
		{name: "unrelated", end: 10, attrs: kv{"namespace": "nobody", "step_name": "nothing"}},
		{name: "task-without-info", end: 10, attrs: kv{"task_uuid": "t-3"}},
	}})
	b := run(td)
	if len(b.Transitions) != 0 {
		t.Fatal("no transitions here")
	}
	want := map[Hint]bool{
		{TaskID: "t-1", StepID: "s-1", Namespace: "payments", Handler: "charge"}: true,
		{TaskID: "t-2", Namespace: "reports"}:                                    true,
	}
	for _, h := range b.Hints {
		if h.TaskID == "t-3" && h.StepID == "" && h.Namespace == "" && h.Handler == "" {
			continue // tells nothing; harmless either way
		}
		if !want[h] {
			t.Errorf("unexpected hint %+v", h)
		}
		delete(want, h)
	}
	for h := range want {
		t.Errorf("missing hint %+v", h)
	}
}

func TestMultipleResourcesAndReset(t *testing.T) {
	td := build(t,
		resSpec{attrs: kv{"service.name": "tasker-orchestration"}, spans: []spanSpec{{name: "s", end: 10, events: []evSpec{taskEvent(5, "t-1", "none", "pending")}}}},
		resSpec{attrs: worker(), spans: []spanSpec{{name: "s", end: 10, events: []evSpec{stepEvent(6, "s-1", "t-1", "enqueued", "in_progress")}}}},
	)
	var b Batch
	x := NewExtractor(DefaultKeys(), TimeEnd, DefaultValueLimits())
	x.Extract(td, testNow, &b)
	if len(b.Transitions) != 2 {
		t.Fatalf("got %d", len(b.Transitions))
	}
	if b.Transitions[0].ResourceIndex != 0 || b.Transitions[1].ResourceIndex != 1 {
		t.Error("resource index")
	}
	if b.Transitions[0].Source != (Source{Service: "tasker-orchestration"}) || b.Transitions[1].Source != (Source{"tasker-worker", "w-1"}) {
		t.Error("sources")
	}
	if b.Transitions[0].CorrelationID != "corr-1" {
		t.Error("correlation id from the task event")
	}
	b.Problems[0][0] = 3
	b.Anomalies[1][2] = 4
	b.Reset()
	if len(b.Transitions) != 0 || len(b.Hints) != 0 || b.Problems != (Counts{}) || b.Anomalies != (AnomalyCounts{}) {
		t.Error("Reset")
	}
	x.Extract(td, testNow, &b)
	if len(b.Transitions) != 2 {
		t.Error("reuse after Reset")
	}
}

func TestExtractDoesNotChangeInput(t *testing.T) {
	td := build(t, resSpec{attrs: worker(), spans: []spanSpec{{name: "worker.step_execution", end: 10,
		attrs:  kv{"step_uuid": "s-1", "task_uuid": "t-1", "namespace": "ns", "from_state": "a", "to_state": 3},
		events: []evSpec{stepEvent(5, "s-1", "t-1", "enqueued", "in_progress"), stepEvent(0, "s-1", "t-1", "x", "y")}}}})
	assertUnchanged(t, td, func() { run(td) })
}

func assertUnchanged(t testing.TB, td ptrace.Traces, f func()) {
	t.Helper()
	before := ptrace.NewTraces()
	td.CopyTo(before)
	var m ptrace.ProtoMarshaler
	want, err := m.MarshalTraces(before)
	if err != nil {
		t.Fatal(err)
	}
	f()
	got, err := m.MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("Extract changed its input")
	}
	if before.SpanCount() != td.SpanCount() {
		t.Fatal("span count changed")
	}
}

func TestKeysValidate(t *testing.T) {
	k := DefaultKeys()
	if err := k.Validate("attributes"); err != nil {
		t.Errorf("defaults: %v", err)
	}
	k.TaskID = nil
	k.Handler = []string{"handler_name", " "}
	err := k.Validate("attributes")
	if err == nil {
		t.Fatal("want an error")
	}
	for _, s := range []string{"attributes::task_id", "task_uuid", "attributes::handler[1]"} {
		if !contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
	if TimeSource("middle").Validate("transition_time") == nil || TimeEnd.Validate("x") != nil || TimeStart.Validate("x") != nil {
		t.Error("TimeSource.Validate")
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
