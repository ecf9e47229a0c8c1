package transition

import (
	"math"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The contract of ValueLimits, tested below with the hostile inputs of a probe of the
// shipped pipeline (1 MiB ids and namespaces, invalid UTF-8, times at 1 ns and MaxUint64,
// attempt 2^62): an id over its limit makes the transition malformed; a name over its limit is absent; invalid UTF-8 in a name is repaired;
// a time before 2000 or past the collector's clock plus max_future_skew is malformed; an
// attempt outside 1..max_attempt is absent; each is counted.

var mib = strings.Repeat("x", 1<<20)

func firstSpan(td ptrace.Traces) ptrace.Span {
	return td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
}

func TestValueLimitsValidate(t *testing.T) {
	d := DefaultValueLimits()
	if err := d.Validate("limits"); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	// A UUID fits every default with room to spare.
	if d.MaxIDBytes < 2*uuidBytes || d.MaxCorrelationIDBytes < 2*uuidBytes || d.MaxNameBytes < 64 || d.MaxAttempt < 100 ||
		d.MaxFutureSkew < time.Minute || d.MaxFutureSkew > time.Hour {
		t.Errorf("defaults too tight or too loose: %+v", d)
	}
	cases := []struct {
		name   string
		change func(*ValueLimits)
		want   []string // in the error: the full key and the fix
	}{
		{"id shorter than a UUID", func(l *ValueLimits) { l.MaxIDBytes = 35 }, []string{"limits::max_id_bytes", "at least 36"}},
		{"no name bytes", func(l *ValueLimits) { l.MaxNameBytes = 0 }, []string{"limits::max_name_bytes", "at least 1"}},
		{"negative correlation bytes", func(l *ValueLimits) { l.MaxCorrelationIDBytes = -1 }, []string{"limits::max_correlation_id_bytes", "at least 36"}},
		{"id of a megabyte", func(l *ValueLimits) { l.MaxIDBytes = 1 << 20 }, []string{"limits::max_id_bytes: must be at most 1024, got 1048576", "limits::max_memory", "UUIDs"}},
		{"name of 8 KiB", func(l *ValueLimits) { l.MaxNameBytes = 8192 }, []string{"limits::max_name_bytes: must be at most 4096, got 8192", "labels"}},
		{"correlation id of 2 KiB", func(l *ValueLimits) { l.MaxCorrelationIDBytes = 2048 }, []string{"limits::max_correlation_id_bytes: must be at most 1024, got 2048", "limits::max_memory"}},
		{"skew without its unit", func(l *ValueLimits) { l.MaxFutureSkew = 600 }, []string{"limits::max_future_skew", "unit", "10m0s"}},
		{"zero skew", func(l *ValueLimits) { l.MaxFutureSkew = 0 }, []string{"limits::max_future_skew"}},
		{"skew of a year", func(l *ValueLimits) { l.MaxFutureSkew = 365 * 24 * time.Hour }, []string{"limits::max_future_skew", "24h0m0s"}},
		{"attempt 0", func(l *ValueLimits) { l.MaxAttempt = 0 }, []string{"limits::max_attempt", "between 1 and 65535"}},
		{"attempt past 16 bits", func(l *ValueLimits) { l.MaxAttempt = 1 << 16 }, []string{"limits::max_attempt", "between 1 and 65535", "got 65536"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := DefaultValueLimits()
			c.change(&l)
			err := l.Validate("limits")
			if err == nil {
				t.Fatalf("%+v: want an error", l)
			}
			for _, s := range c.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
	// The smallest accepted values.
	l := ValueLimits{MaxIDBytes: 36, MaxNameBytes: 1, MaxCorrelationIDBytes: 36, MaxFutureSkew: time.Second, MaxAttempt: 1}
	if err := l.Validate("limits"); err != nil {
		t.Errorf("smallest limits: %v", err)
	}
	// And the largest.
	l = ValueLimits{MaxIDBytes: MaxIDBytesLimit, MaxNameBytes: MaxNameBytesLimit, MaxCorrelationIDBytes: MaxCorrelationIDBytesLimit,
		MaxFutureSkew: maxFutureSkew, MaxAttempt: MaxAttemptLimit}
	if err := l.Validate("limits"); err != nil {
		t.Errorf("largest limits: %v", err)
	}
}

// A 1 MiB id (the probe's 100 transitions with 1 MiB task_uuid values) makes the transition
// malformed, whichever shape carries it and wherever the id comes from; no hint keeps it.
func TestOversizedIDsAreMalformed(t *testing.T) {
	cases := []struct {
		name     string
		span     spanSpec
		problems map[string]int64
		anoms    map[string]int64
	}{
		{"task span", spanSpec{name: "task.state_transition", end: 10,
			attrs: kv{"task_uuid": mib, "from_state": "none", "to_state": "pending", "namespace": "ns"}},
			map[string]int64{"task/oversized_id": 1}, nil}, // a rejected transition span's id is not counted again as a hint's
		{"task event", spanSpec{name: "s", end: 10, events: []evSpec{taskEvent(5, mib, "none", "pending")}},
			map[string]int64{"task/oversized_id": 1}, nil},
		{"step event", spanSpec{name: "s", end: 10, events: []evSpec{stepEvent(5, mib, "t-1", "enqueued", "in_progress")}},
			map[string]int64{"step/oversized_id": 1}, nil},
		{"step span with an oversized task id", spanSpec{name: "step.state_transition", end: 10,
			attrs: kv{"step_uuid": "s-1", "task_uuid": mib, "from_state": "enqueued", "to_state": "in_progress"}},
			map[string]int64{"step/oversized_id": 1}, nil},
		{"step id borrowed from the enclosing span", spanSpec{name: "worker.step_execution", end: 10,
			attrs:  kv{"step_uuid": mib, "task_uuid": "t-1", "namespace": "ns"},
			events: []evSpec{{name: "Step state transition", ts: 5, attrs: kv{"from_state": "enqueued", "to_state": "in_progress"}}}},
			// The enclosing span is an ordinary span too: its hint leaves the id out, counted.
			map[string]int64{"step/oversized_id": 1}, map[string]int64{"step/oversized_id": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			td := build(t, resSpec{attrs: worker(), spans: []spanSpec{c.span}})
			var b *Batch
			assertUnchanged(t, td, func() { b = run(td) })
			if len(b.Transitions) != 0 {
				t.Fatalf("a transition with a 1 MiB id was recognised: %d transitions", len(b.Transitions))
			}
			wantProblems(t, b, c.problems)
			wantAnomalies(t, b, c.anoms)
			for _, h := range b.Hints {
				if len(h.TaskID) > 128 || len(h.StepID) > 128 {
					t.Errorf("a hint keeps an oversized id (%d, %d bytes)", len(h.TaskID), len(h.StepID))
				}
			}
		})
	}
	// The limit itself: max_id_bytes is accepted, one byte more is not.
	l := DefaultValueLimits()
	exact := strings.Repeat("i", l.MaxIDBytes)
	tr := oneTransition(t, run(build(t, resSpec{spans: []spanSpec{{name: "s", end: 10, events: []evSpec{taskEvent(5, exact, "none", "pending")}}}})))
	if tr.ID != exact {
		t.Errorf("an id of exactly max_id_bytes: %q", tr.ID)
	}
	b := run(build(t, resSpec{spans: []spanSpec{{name: "s", end: 10, events: []evSpec{taskEvent(5, exact+"i", "none", "pending")}}}}))
	wantProblems(t, b, map[string]int64{"task/oversized_id": 1})
}

// An ordinary span with an oversized id teaches nothing about that id, but still teaches
// what its other id allows.
func TestOversizedIDsLeaveHints(t *testing.T) {
	td := build(t, resSpec{spans: []spanSpec{
		{name: "worker.step_execution", end: 10, attrs: kv{"step_uuid": mib, "task_uuid": "t-1", "namespace": "payments", "step_name": "charge"}},
		{name: "process_single_task_from_ready_info", end: 10, attrs: kv{"task_uuid": mib, "namespace": "reports"}},
	}})
	b := run(td)
	if len(b.Hints) != 1 || b.Hints[0] != (Hint{TaskID: "t-1", Namespace: "payments"}) {
		t.Errorf("hints = %+v, want only t-1's namespace (the handler belongs to the dropped step)", b.Hints)
	}
	wantAnomalies(t, b, map[string]int64{"step/oversized_id": 1, "task/oversized_id": 1})
}

// A 1 MiB namespace (the probe's 30 step transitions with 1 MiB namespaces) is absent: the
// transition is recognised with namespace "" (unknown), counted, in both shapes.
func TestOversizedNamesAreAbsent(t *testing.T) {
	t.Run("span shape", func(t *testing.T) {
		td := build(t, resSpec{spans: []spanSpec{{name: "step.state_transition", end: 10, attrs: kv{
			"step_uuid": "s-1", "task_uuid": "t-1", "from_state": "enqueued", "to_state": "in_progress",
			"namespace": mib, "handler_name": mib, "correlation_id": strings.Repeat("c", 129),
		}}}})
		b := run(td)
		tr := oneTransition(t, b)
		if tr.Namespace != "" || tr.Handler != "" || tr.CorrelationID != "" || tr.ID != "s-1" {
			t.Errorf("oversized values must be absent: ns %d bytes, handler %d, correlation %d", len(tr.Namespace), len(tr.Handler), len(tr.CorrelationID))
		}
		wantProblems(t, b, nil)
		wantAnomalies(t, b, map[string]int64{"step/oversized_namespace": 1, "step/oversized_handler": 1, "step/oversized_correlation_id": 1})
	})
	t.Run("event shape", func(t *testing.T) {
		// Today's Tasker: the namespace is on the enclosing worker.step_execution span.
		td := build(t, resSpec{spans: []spanSpec{{name: "worker.step_execution", end: 10,
			attrs:  kv{"step_uuid": "s-1", "task_uuid": "t-1", "namespace": mib, "step_name": "charge"},
			events: []evSpec{stepEvent(5, "s-1", "t-1", "enqueued", "in_progress"), stepEvent(6, "s-1", "t-1", "in_progress", "enqueued_for_orchestration")},
		}}})
		b := run(td)
		if len(b.Transitions) != 2 {
			t.Fatalf("got %d transitions", len(b.Transitions))
		}
		for _, tr := range b.Transitions {
			if tr.Namespace != "" || tr.Handler != "charge" {
				t.Errorf("ns %d bytes, handler %q", len(tr.Namespace), tr.Handler)
			}
		}
		// Once per transition that would have borrowed it, and once for the span's hint
		// (which would have taught it to the task).
		wantAnomalies(t, b, map[string]int64{"step/oversized_namespace": 2, "task/oversized_namespace": 1})
		if len(b.Hints) != 1 || b.Hints[0] != (Hint{TaskID: "t-1", StepID: "s-1", Handler: "charge"}) {
			t.Errorf("hints = %+v", b.Hints)
		}
	})
	t.Run("absent means the look-up goes on", func(t *testing.T) {
		ev := stepEvent(5, "s-1", "t-1", "enqueued", "in_progress")
		ev.attrs["namespace"] = mib
		ev.attrs["handler_name"] = mib
		ev.attrs["step_name"] = "by_name" // the next handler key on the same carrier
		td := build(t, resSpec{attrs: kv{"namespace": "from_resource"}, spans: []spanSpec{{name: "s", end: 10, events: []evSpec{ev}}}})
		b := run(td)
		tr := oneTransition(t, b)
		if tr.Namespace != "from_resource" || tr.Handler != "by_name" {
			t.Errorf("namespace %q (%d bytes), handler %q", tr.Namespace, len(tr.Namespace), tr.Handler)
		}
		wantAnomalies(t, b, map[string]int64{"step/oversized_namespace": 1, "step/oversized_handler": 1})
	})
	t.Run("an oversized value a better one hides is not counted", func(t *testing.T) {
		ev := stepEvent(5, "s-1", "t-1", "enqueued", "in_progress")
		ev.attrs["namespace"] = "payments"
		td := build(t, resSpec{attrs: kv{"namespace": mib}, spans: []spanSpec{{name: "s", end: 10, events: []evSpec{ev}}}})
		// The second handler key first, so that it is read (and set aside) before the first
		// key's value wins.
		attrs := firstSpan(td).Events().At(0).Attributes()
		attrs.PutStr("step_name", mib)
		attrs.PutStr("handler_name", "charge")
		b := run(td)
		if tr := oneTransition(t, b); tr.Namespace != "payments" || tr.Handler != "charge" {
			t.Errorf("%+v", tr)
		}
		wantAnomalies(t, b, nil)
	})
	t.Run("the limit itself", func(t *testing.T) {
		l := DefaultValueLimits()
		for _, c := range []struct {
			ns   string
			want string
		}{{strings.Repeat("n", l.MaxNameBytes), strings.Repeat("n", l.MaxNameBytes)}, {strings.Repeat("n", l.MaxNameBytes+1), ""}} {
			ev := taskEvent(5, "t-1", "none", "pending")
			ev.attrs["namespace"] = c.ns
			if got := oneTransition(t, run(build(t, resSpec{spans: []spanSpec{{name: "s", end: 10, events: []evSpec{ev}}}}))).Namespace; got != c.want {
				t.Errorf("namespace of %d bytes → %d bytes, want %d", len(c.ns), len(got), len(c.want))
			}
		}
	})
	t.Run("oversized service", func(t *testing.T) {
		td := build(t, resSpec{attrs: kv{"service.name": mib, "service.instance.id": "w-1"},
			spans: []spanSpec{{name: "s", end: 10, events: []evSpec{taskEvent(5, "t-1", "none", "pending")}}}})
		b := run(td)
		if tr := oneTransition(t, b); tr.Source != (Source{Instance: "w-1"}) {
			t.Errorf("source %d bytes / %q", len(tr.Source.Service), tr.Source.Instance)
		}
		wantAnomalies(t, b, map[string]int64{"task/oversized_service": 1})
	})
}

// Invalid UTF-8 in a name (the probe's namespace ns-\xff\xfe, whose series Prometheus
// dropped) is repaired so that it is a valid label and stamp, and counted.
func TestInvalidUTF8NamesAreRepaired(t *testing.T) {
	td := build(t, resSpec{spans: []spanSpec{
		{name: "worker.step_execution", end: 10,
			attrs:  kv{"step_uuid": "s-1", "task_uuid": "t-1", "namespace": "ns-\xff\xfe", "step_name": "charge\xc3"},
			events: []evSpec{stepEvent(5, "s-1", "t-1", "enqueued", "in_progress")}},
		{name: "task.state_transition", end: 20,
			attrs: kv{"task_uuid": "t-2", "from_state": "none", "to_state": "pending", "namespace": "\xffreports", "correlation_id": "c-\x80-1"}},
	}})
	b := run(td)
	if len(b.Transitions) != 2 {
		t.Fatalf("got %d transitions", len(b.Transitions))
	}
	if tr := b.Transitions[0]; tr.Namespace != "ns-\uFFFD" || tr.Handler != "charge\uFFFD" {
		t.Errorf("step: namespace %q, handler %q", tr.Namespace, tr.Handler)
	}
	if tr := b.Transitions[1]; tr.Namespace != "\uFFFDreports" || tr.CorrelationID != "c-\uFFFD-1" {
		t.Errorf("task: namespace %q, correlation %q", tr.Namespace, tr.CorrelationID)
	}
	if len(b.Hints) != 1 || b.Hints[0] != (Hint{TaskID: "t-1", StepID: "s-1", Namespace: "ns-\uFFFD", Handler: "charge\uFFFD"}) {
		t.Errorf("hints %+v", b.Hints)
	}
	wantProblems(t, b, nil)
	wantAnomalies(t, b, map[string]int64{
		"step/invalid_utf8_namespace":      1, // the step event, borrowing from its span
		"step/invalid_utf8_handler":        2, // the step event, and the span's hint
		"task/invalid_utf8_namespace":      2, // the span's hint, and the task span
		"task/invalid_utf8_correlation_id": 1,
	})

	// A repair that lengthens the value past its limit (each invalid byte becomes three)
	// leaves it absent.
	long := strings.Repeat("a\xff", DefaultValueLimits().MaxNameBytes/2) // 256 bytes, 512 repaired
	ev := taskEvent(5, "t-1", "none", "pending")
	ev.attrs["namespace"] = long
	b = run(build(t, resSpec{spans: []spanSpec{{name: "s", end: 10, events: []evSpec{ev}}}}))
	if tr := oneTransition(t, b); tr.Namespace != "" {
		t.Errorf("repaired namespace of %d bytes kept", len(tr.Namespace))
	}
	wantAnomalies(t, b, map[string]int64{"task/oversized_namespace": 1})
}

// State strings with invalid UTF-8 are unknown states; ids with it are kept as they are.
func TestInvalidUTF8StatesAndIDs(t *testing.T) {
	b := run(build(t, resSpec{spans: []spanSpec{{name: "s", end: 10, events: []evSpec{
		stepEvent(5, "s-1", "t-1", "enqueued", "in_progress\xff"),
		taskEvent(6, "t-1", "\xfepending", "initializing"),
	}}}}))
	if len(b.Transitions) != 0 {
		t.Errorf("%+v", b.Transitions)
	}
	wantProblems(t, b, map[string]int64{"step/unknown_state": 1, "task/unknown_state": 1})

	tr := oneTransition(t, run(build(t, resSpec{spans: []spanSpec{{name: "s", end: 10, events: []evSpec{
		stepEvent(5, "s-\xff", "t-\xfe", "enqueued", "in_progress")}}}})))
	if tr.ID != "s-\xff" || tr.TaskID != "t-\xfe" {
		t.Errorf("ids are keys, kept byte for byte: %q, %q", tr.ID, tr.TaskID)
	}
}

// Times before 2000 (0 is unset, counted apart; 1 ns; a negative value wrapped to uint64)
// and later than now plus max_future_skew (MaxUint64; 100 years ahead) are malformed, in
// both shapes and for either transition_time.
func TestImplausibleTimestamps(t *testing.T) {
	skew := DefaultValueLimits().MaxFutureSkew
	now := pcommon.NewTimestampFromTime(testNow)
	cases := []struct {
		name string
		ts   pcommon.Timestamp
		want string // the problem, "" for a recognised transition
	}{
		{"zero", 0, "zero_timestamp"},
		{"1 ns", 1, "implausible_timestamp"},
		{"1999-12-31T23:59:59.999999999", earliestPlausible - 1, "implausible_timestamp"},
		{"2000-01-01", earliestPlausible, ""},
		{"now", now, ""},
		{"now + max_future_skew", now + pcommon.Timestamp(skew), ""},
		{"1 ns past now + max_future_skew", now + pcommon.Timestamp(skew) + 1, "implausible_timestamp"},
		{"100 years ahead", pcommon.NewTimestampFromTime(testNow.AddDate(100, 0, 0)), "implausible_timestamp"},
		{"MaxUint64", math.MaxUint64, "implausible_timestamp"},
		{"-1 s wrapped", pcommon.Timestamp(uint64(math.MaxUint64) - uint64(time.Second) + 1), "implausible_timestamp"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			shapes := map[string]func() (ptrace.Traces, TimeSource){
				"event": func() (ptrace.Traces, TimeSource) {
					td := build(t, resSpec{spans: []spanSpec{{name: "s", end: 10, events: []evSpec{taskEvent(5, "t-1", "none", "pending")}}}})
					firstSpan(td).Events().At(0).SetTimestamp(c.ts)
					return td, TimeEnd
				},
				"span end": func() (ptrace.Traces, TimeSource) {
					td := build(t, resSpec{spans: []spanSpec{{name: "step.state_transition", start: 1, end: 10,
						attrs: kv{"step_uuid": "s-1", "from_state": "enqueued", "to_state": "in_progress"}}}})
					firstSpan(td).SetStartTimestamp(min(c.ts, earliestPlausible)) // never after the end
					firstSpan(td).SetEndTimestamp(c.ts)
					return td, TimeEnd
				},
				"span start": func() (ptrace.Traces, TimeSource) {
					td := build(t, resSpec{spans: []spanSpec{{name: "step.state_transition", start: 1, end: 10,
						attrs: kv{"step_uuid": "s-1", "from_state": "enqueued", "to_state": "in_progress"}}}})
					firstSpan(td).SetStartTimestamp(c.ts)
					firstSpan(td).SetEndTimestamp(max(c.ts, now))
					return td, TimeStart
				},
			}
			for shape, mk := range shapes {
				td, ts := mk()
				var b *Batch
				assertUnchanged(t, td, func() { b = runWith(DefaultKeys(), ts, td) })
				if c.want == "" {
					if tr := oneTransition(t, b); tr.Time != c.ts {
						t.Errorf("%s: time %d, want %d", shape, tr.Time, c.ts)
					}
					wantProblems(t, b, nil)
					continue
				}
				if len(b.Transitions) != 0 {
					t.Errorf("%s: a transition at %d was recognised", shape, c.ts)
				}
				kind := "task"
				if shape != "event" {
					kind = "step"
				}
				wantProblems(t, b, map[string]int64{kind + "/" + c.want: 1})
			}
		})
	}
	// The bound moves with the clock passed to Extract.
	td := build(t, resSpec{spans: []spanSpec{{name: "s", end: 10, events: []evSpec{taskEvent(5, "t-1", "none", "pending")}}}})
	var b Batch
	NewExtractor(DefaultKeys(), TimeEnd, DefaultValueLimits()).Extract(td, base.AsTime().Add(-time.Hour), &b)
	wantProblems(t, &b, map[string]int64{"task/implausible_timestamp": 1})
}

// A span that starts after it ends is a transition at its transition_time timestamp, and
// counted.
func TestStartAfterEnd(t *testing.T) {
	span := func(start, end uint64) ptrace.Traces {
		return build(t, resSpec{spans: []spanSpec{{name: "task.state_transition", start: start, end: end,
			attrs: kv{"task_uuid": "t-1", "from_state": "none", "to_state": "pending"}}}})
	}
	for _, c := range []struct {
		ts   TimeSource
		want pcommon.Timestamp
	}{{TimeEnd, at(1_000)}, {TimeStart, at(2_000)}} {
		b := runWith(DefaultKeys(), c.ts, span(2_000, 1_000))
		if tr := oneTransition(t, b); tr.Time != c.want {
			t.Errorf("transition_time %s: time %d, want %d", c.ts, tr.Time, c.want)
		}
		wantAnomalies(t, b, map[string]int64{"task/start_after_end": 1})
	}
	// Equal times, and an unset end with transition_time start, are not counted.
	wantAnomalies(t, run(span(1_000, 1_000)), nil)
	b := runWith(DefaultKeys(), TimeStart, span(1_000, 0))
	oneTransition(t, b)
	wantAnomalies(t, b, nil)
	// Only a transition span's own times count: an event has one timestamp.
	b = run(build(t, resSpec{spans: []spanSpec{{name: "s", start: 2_000, end: 1_000, events: []evSpec{taskEvent(1_500, "t-1", "none", "pending")}}}}))
	oneTransition(t, b)
	wantAnomalies(t, b, nil)
}

// An attempt number outside 1..max_attempt (the probe's 2^62 became a label) is absent, and
// counted; the look-up goes on to the next key and location.
func TestAttemptOutOfRange(t *testing.T) {
	for _, c := range []struct {
		attempt int64
		want    int64
	}{{1 << 62, 0}, {0, 0}, {-1, 0}, {math.MinInt64, 0}, {10_001, 0}, {10_000, 10_000}, {1, 1}} {
		counted := map[string]int64{"step/attempt_out_of_range": 1}
		if c.want != 0 {
			counted = nil
		}
		// Span shape.
		b := run(build(t, resSpec{spans: []spanSpec{{name: "step.state_transition", end: 10,
			attrs: kv{"step_uuid": "s-1", "from_state": "enqueued", "to_state": "in_progress", "attempt_number": c.attempt}}}}))
		if tr := oneTransition(t, b); tr.Attempt != c.want {
			t.Errorf("span, attempt_number %d: Attempt %d, want %d", c.attempt, tr.Attempt, c.want)
		}
		wantAnomalies(t, b, counted)
		// Event shape, borrowing from the enclosing span of the same step.
		b = run(build(t, resSpec{spans: []spanSpec{{name: "worker.step_execution", end: 10, attrs: kv{"step_uuid": "s-1", "attempt_number": c.attempt},
			events: []evSpec{stepEvent(5, "s-1", "t-1", "enqueued", "in_progress")}}}}))
		if tr := oneTransition(t, b); tr.Attempt != c.want {
			t.Errorf("event, span's attempt_number %d: Attempt %d, want %d", c.attempt, tr.Attempt, c.want)
		}
		wantAnomalies(t, b, counted)
	}
	// Absent, so the next key answers; counted all the same.
	b := run(build(t, resSpec{spans: []spanSpec{{name: "step.state_transition", end: 10,
		attrs: kv{"step_uuid": "s-1", "from_state": "enqueued", "to_state": "in_progress", "attempt_number": int64(1 << 62), "attempts": int64(2)}}}}))
	if tr := oneTransition(t, b); tr.Attempt != 2 {
		t.Errorf("attempts after an out-of-range attempt_number: %d", tr.Attempt)
	}
	wantAnomalies(t, b, map[string]int64{"step/attempt_out_of_range": 1})
	// A task transition has no attempt: nothing to count.
	b = run(build(t, resSpec{spans: []spanSpec{{name: "task.state_transition", end: 10,
		attrs: kv{"task_uuid": "t-1", "from_state": "none", "to_state": "pending", "attempt_number": int64(-5)}}}}))
	oneTransition(t, b)
	wantAnomalies(t, b, nil)
}

// Extraction allocates nothing on ordinary input (BenchmarkExtract measures its cost): the
// bounds and checks add none; only a repair of invalid UTF-8 allocates.
func TestExtractDoesNotAllocate(t *testing.T) {
	td := build(t, resSpec{attrs: worker(), spans: []spanSpec{
		{name: "worker.step_execution", end: 900, attrs: kv{"step_uuid": "s-1", "task_uuid": "t-1", "namespace": "payments", "step_name": "charge_card", "correlation_id": "c-1"},
			events: []evSpec{stepEvent(200, "s-1", "t-1", "enqueued", "in_progress")}},
		{name: "step.state_transition", start: 1_000, end: 2_000, attrs: kv{"step_uuid": "s-2", "task_uuid": "t-1", "namespace": "payments",
			"handler_name": "charge", "attempt_number": int64(2), "from_state": "enqueued", "to_state": "in_progress"}},
	}})
	x := NewExtractor(DefaultKeys(), TimeEnd, DefaultValueLimits())
	var b Batch
	x.Extract(td, testNow, &b) // grow the batch's buffers
	if allocs := testing.AllocsPerRun(100, func() { b.Reset(); x.Extract(td, testNow, &b) }); allocs != 0 {
		t.Errorf("Extract allocates %v times per batch", allocs)
	}
	if len(b.Transitions) != 2 || len(b.Hints) != 1 {
		t.Fatalf("%d transitions, %d hints", len(b.Transitions), len(b.Hints))
	}
}

func TestReasonNames(t *testing.T) {
	// The names are the reason attribute values of the components' telemetry: distinct,
	// and each a Prometheus-friendly snake_case word.
	seen := map[string]bool{}
	var names []string
	for p := Problem(0); p < NumProblems; p++ {
		names = append(names, p.String())
	}
	for a := Anomaly(0); a < NumAnomalies; a++ {
		names = append(names, a.String())
	}
	for _, n := range names {
		if n == "" || strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			t.Errorf("reason %q is not snake_case", n)
		}
		if seen[n] && n != "oversized_id" { // a Problem of transitions, an Anomaly of hints
			t.Errorf("reason %q twice", n)
		}
		seen[n] = true
	}
}

func TestBoundName(t *testing.T) {
	for _, c := range []struct {
		in, want            string
		oversized, repaired bool
	}{
		{"payments", "payments", false, false},
		{strings.Repeat("x", 9), "", true, false},
		{"ns-\xff\xfe", "ns-\uFFFD", false, true},
		{"\xff\xff\xff\xff\xff\xff", "\uFFFD", false, true}, // a run of invalid bytes is one U+FFFD
		{"abcdef\xff", "", true, false},                     // the repair makes it 9 bytes: over 8
	} {
		v, over, rep := BoundName(c.in, 8)
		if v != c.want || over != c.oversized || rep != c.repaired {
			t.Errorf("BoundName(%q, 8) = %q, %v, %v; want %q, %v, %v", c.in, v, over, rep, c.want, c.oversized, c.repaired)
		}
	}
}
