package taskerstate

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/tasker-systems/otelcol-tasker/internal/testmeasure"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
	"github.com/tasker-systems/otelcol-tasker/processor/taskerstate/internal/metadatatest"
)

// Hostile input (the bad values, times and volumes a probe of the shipped pipeline sent): each
// test is one kind of input, and checks that the processor passes it untouched, keeps nothing
// of a value past its limit, stamps nothing from an implausible time and counts what it set
// aside. The fixtures' times are offsets from t0; the collector's clock is at t0, so they are
// plausible unless a test makes them not.

// hostileRig is a processor with its own telemetry. Every batch that comes out is handed to
// check and then dropped, so that the heap holds only what the processor keeps.
type hostileRig struct {
	t     *testing.T
	p     processor.Traces
	tel   *componenttest.Telemetry
	clock *clockwork.FakeClock
}

func newHostileRig(t *testing.T, cfg *Config, check func(ptrace.Traces)) *hostileRig {
	t.Helper()
	r := &hostileRig{t: t, tel: componenttest.NewTelemetry(), clock: clockwork.NewFakeClockAt(t0)}
	next, err := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		check(td)
		return nil
	})
	require.NoError(t, err)
	ctx := clockwork.AddToContext(context.Background(), r.clock)
	r.p, err = NewFactory().CreateTraces(ctx, metadatatest.NewSettings(r.tel), cfg, next)
	require.NoError(t, err)
	require.NoError(t, r.p.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() {
		require.NoError(t, r.p.Shutdown(context.Background()))
		require.NoError(t, r.tel.Shutdown(context.Background()))
	})
	return r
}

func (r *hostileRig) send(td ptrace.Traces) {
	r.t.Helper()
	require.NoError(r.t, r.p.ConsumeTraces(context.Background(), td))
}

// points returns the data points of one of the processor's own int metrics, keyed by their
// attributes ("kind=task,reason=oversized_id"); none when the metric was never recorded.
func (r *hostileRig) points(name string) map[string]int64 {
	r.t.Helper()
	pts, err := testmeasure.IntPoints(r.tel, name)
	require.NoError(r.t, err)
	return pts
}

// gauge is the value of one of the processor's own gauges without attributes.
func (r *hostileRig) gauge(name string) int64 {
	r.t.Helper()
	pts := r.points(name)
	v, ok := pts[""]
	require.Truef(r.t, ok, "%s has no point: %v", name, pts)
	return v
}

const (
	unrecognisedMetric = "otelcol_processor_tasker_state_transitions_unrecognised"
	anomaliesMetric    = "otelcol_processor_tasker_state_transition_anomalies"
	transitionsMetric  = "otelcol_processor_tasker_state_transitions"
	logBytesMetric     = "otelcol_processor_tasker_state_entity_log_bytes"
	trackedMetric      = "otelcol_processor_tasker_state_tracked_entities"
)

var ignoreTime = metricdatatest.IgnoreTimestamp()

// transitionSpan adds a transition span (Tasker's planned task.state_transition or
// step.state_transition) ending at end, with the given attributes.
func transitionSpan(td ptrace.Traces, kind string, end pcommon.Timestamp, attrs map[string]any) ptrace.Span {
	s := newSpan(resourceSpans(td, false), kind+".state_transition", "hostile", 0)
	s.SetStartTimestamp(end - pcommon.Timestamp(ms))
	s.SetEndTimestamp(end)
	if end < pcommon.Timestamp(ms) { // 1 ns: a start before the epoch would wrap
		s.SetStartTimestamp(end)
	}
	_ = s.Attributes().FromRaw(attrs)
	return s
}

func taskMove(task, from, to string) map[string]any {
	return map[string]any{"task_uuid": task, "from_state": from, "to_state": to, "namespace": "payments"}
}

func stepMove(step, from, to string) map[string]any {
	return map[string]any{"step_uuid": step, "task_uuid": "task-of-" + step, "from_state": from, "to_state": to, "step_name": "charge_card"}
}

// stamps returns the tasker.* attributes of every carrier of td (span or event with a
// to_state), in order.
func stamps(td ptrace.Traces) []map[string]any {
	var out []map[string]any
	add := func(a pcommon.Map) {
		if _, ok := a.Get("to_state"); !ok {
			return
		}
		s := map[string]any{}
		for k, v := range a.All() {
			if strings.HasPrefix(k, "tasker.") {
				s[k] = v.AsRaw()
			}
		}
		out = append(out, s)
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				add(s.Attributes())
				for _, e := range s.Events().All() {
					add(e.Attributes())
				}
			}
		}
	}
	return out
}

// has is 1 when the stamps hold key.
func has(stamps map[string]any, key string) int {
	if _, ok := stamps[key]; ok {
		return 1
	}
	return 0
}

// 100 task transitions, each with its own 1 MiB task_uuid: each is malformed (oversized_id),
// passes untouched and is kept nowhere, so the heap does not grow with the ids' size.
func TestHostileOversizedTaskID(t *testing.T) {
	const n, size = 100, 1 << 20
	fill := strings.Repeat("t", size)
	var passed, stamped int
	r := newHostileRig(t, createDefaultConfig(), func(td ptrace.Traces) {
		for _, s := range stamps(td) {
			if len(s) > 0 {
				stamped++
			}
		}
		passed += td.SpanCount()
	})
	emptyLog := r.gauge(logBytesMetric)
	before := testmeasure.LiveMemory()
	for i := range n {
		td := ptrace.NewTraces()
		id := fmt.Sprintf("%04d", i) + fill[4:] // a new 1 MiB id each time
		transitionSpan(td, "task", ts(time.Duration(i)*ms), taskMove(id, "none", "pending"))
		r.send(td)
	}
	grown := testmeasure.LiveMemory() - before
	t.Logf("%d transitions with %d-byte task ids: the heap grew by %d bytes", n, size, grown)
	assert.Less(t, grown, int64(4<<20), "the heap grew with the ids (%d MiB were sent)", n*size>>20)
	assert.Equal(t, n, passed, "every span passes")
	assert.Zero(t, stamped, "transitions with an oversized id were stamped")

	metadatatest.AssertEqualProcessorTaskerStateTransitionsUnrecognised(t, r.tel, []metricdata.DataPoint[int64]{
		{Attributes: kindReason("task", "oversized_id"), Value: n},
	}, ignoreTime)
	assert.Empty(t, r.points(transitionsMetric), "no transition is recognised")
	assert.Equal(t, int64(0), r.gauge(trackedMetric), "no entity is kept")
	assert.Equal(t, emptyLog, r.gauge(logBytesMetric), "the log holds nothing more than when empty")
}

// 30 step transitions, each with its own 1 MiB namespace: the namespace is treated as absent
// (never stamped, never kept), the transition is otherwise stamped, and it is counted.
func TestHostileOversizedNamespace(t *testing.T) {
	const n, size = 30, 1 << 20
	fill := strings.Repeat("n", size)
	var seen, withNamespace, withHandler int
	r := newHostileRig(t, createDefaultConfig(), func(td ptrace.Traces) {
		for _, s := range stamps(td) {
			seen++
			withNamespace += has(s, "tasker.namespace")
			if s["tasker.step.handler"] == "charge_card" {
				withHandler++
			}
		}
	})
	before := testmeasure.LiveMemory()
	for i := range n {
		td := ptrace.NewTraces()
		attrs := stepMove(fmt.Sprint("s", i), "none", "pending")
		attrs["namespace"] = fmt.Sprintf("%04d", i) + fill[4:]
		transitionSpan(td, "step", ts(time.Duration(i)*ms), attrs)
		r.send(td)
	}
	grown := testmeasure.LiveMemory() - before
	t.Logf("%d step transitions with %d-byte namespaces: the heap grew by %d bytes", n, size, grown)
	assert.Less(t, grown, int64(4<<20), "the heap grew with the namespaces (%d MiB were sent)", n*size>>20)
	assert.Equal(t, n, seen)
	assert.Zero(t, withNamespace, "transitions stamped with an oversized namespace")
	assert.Equal(t, n, withHandler, "the rest of the transition is still used")

	metadatatest.AssertEqualProcessorTaskerStateTransitions(t, r.tel, []metricdata.DataPoint[int64]{
		{Attributes: kindOnly("step"), Value: n},
	}, ignoreTime)
	metadatatest.AssertEqualProcessorTaskerStateTransitionAnomalies(t, r.tel, []metricdata.DataPoint[int64]{
		{Attributes: kindReason("step", "oversized_namespace"), Value: n},
	}, ignoreTime)
}

// manyNames sends 3,000 steps, each of its own task, with a namespace and a handler of
// nameBytes bytes, distinct per step, the way today's Tasker sends them: a step transition
// event in a worker.step_execution span that carries the names.
func manyNames(r *hostileRig, nameBytes int) {
	const steps = 3000
	for i := range steps {
		td := ptrace.NewTraces()
		task, step := fmt.Sprint("task-", i), fmt.Sprint("step-", i)
		s := newSpan(resourceSpans(td, true), "worker.step_execution", task, time.Duration(i)*ms+ms)
		pad := func(prefix string) string { // distinct, nameBytes long
			v := fmt.Sprintf("%s-%05d-", prefix, i)
			return v + strings.Repeat("x", nameBytes-len(v))
		}
		_ = s.Attributes().FromRaw(map[string]any{"step_uuid": step, "task_uuid": task,
			"namespace": pad("ns"), "step_name": pad("handler")})
		ev := s.Events().AppendEmpty()
		ev.SetName("Step state transition")
		ev.SetTimestamp(ts(time.Duration(i) * ms))
		_ = ev.Attributes().FromRaw(map[string]any{"step_uuid": step, "task_uuid": task, "from_state": "enqueued", "to_state": "in_progress"})
		r.send(td)
	}
}

// 3,000 distinct 4 KiB namespaces and handlers: past max_name_bytes (256), none is stamped
// or kept, and each use of one is counted; the log holds no more than with short names.
func TestHostileManyLongNames(t *testing.T) {
	short := newHostileRig(t, createDefaultConfig(), func(ptrace.Traces) {})
	manyNames(short, 32)
	shortBytes := short.gauge(logBytesMetric)

	var claims, withNames int
	r := newHostileRig(t, createDefaultConfig(), func(td ptrace.Traces) {
		for _, s := range stamps(td) {
			withNames += has(s, "tasker.namespace") + has(s, "tasker.step.handler")
			if s["tasker.step.attempt"] == int64(1) {
				claims++
			}
		}
	})
	manyNames(r, 4096)
	assert.Equal(t, 3000, claims, "the rest of each transition is still used")
	assert.Zero(t, withNames, "stamps of oversized names")
	longBytes := r.gauge(logBytesMetric)
	t.Logf("entity log with 3,000 steps: %d bytes with 32-byte names, %d with 4 KiB names", shortBytes, longBytes)
	assert.LessOrEqual(t, longBytes, shortBytes, "the log keeps something of the oversized names")

	// Each worker span is a hint about its task's namespace and its step's handler, and each
	// transition event would have borrowed both from its span: each use is counted.
	metadatatest.AssertEqualProcessorTaskerStateTransitionAnomalies(t, r.tel, []metricdata.DataPoint[int64]{
		{Attributes: kindReason("task", "oversized_namespace"), Value: 3000},
		{Attributes: kindReason("step", "oversized_handler"), Value: 2 * 3000},
		{Attributes: kindReason("step", "oversized_namespace"), Value: 3000},
	}, ignoreTime)
}

// A namespace and a handler with invalid UTF-8 are repaired (each run of invalid bytes
// becomes U+FFFD) and counted; the stamps carry the repaired value, the span keeps its own.
// A state with invalid UTF-8 is no state of the machine: unknown_state.
func TestHostileInvalidUTF8(t *testing.T) {
	var out []ptrace.Traces
	r := newHostileRig(t, createDefaultConfig(), func(td ptrace.Traces) { out = append(out, td) })
	td := ptrace.NewTraces()
	task := taskMove("task-u", "none", "pending")
	task["namespace"] = "ns-\xff\xfe"
	transitionSpan(td, "task", ts(0), task)
	step := stepMove("step-u", "none", "pending")
	step["task_uuid"] = "task-u"
	step["step_name"] = "h-\xc3\x28"
	transitionSpan(td, "step", ts(10*ms), step)
	transitionSpan(td, "step", ts(20*ms), stepMove("step-v", "pending", "enq\xffueued"))
	orig := ptrace.NewTraces()
	td.CopyTo(orig)
	r.send(td)

	require.Len(t, out, 1)
	compareTraces(t, orig, out[0]) // the original values stay, invalid bytes and all
	got := stamps(out[0])
	require.Len(t, got, 3)
	assert.Equal(t, "ns-\uFFFD", got[0]["tasker.namespace"])
	assert.Equal(t, "ns-\uFFFD", got[1]["tasker.namespace"], "the step learns its task's repaired namespace")
	assert.Equal(t, "h-\uFFFD(", got[1]["tasker.step.handler"])
	assert.Empty(t, got[2], "a state with invalid UTF-8 is not a transition")
	for _, s := range got {
		for k, v := range s {
			if str, ok := v.(string); ok {
				assert.Truef(t, utf8.ValidString(str), "stamp %s=%q is not valid UTF-8", k, str)
			}
		}
	}
	metadatatest.AssertEqualProcessorTaskerStateTransitionAnomalies(t, r.tel, []metricdata.DataPoint[int64]{
		{Attributes: kindReason("task", "invalid_utf8_namespace"), Value: 1},
		{Attributes: kindReason("step", "invalid_utf8_handler"), Value: 1},
	}, ignoreTime)
	metadatatest.AssertEqualProcessorTaskerStateTransitionsUnrecognised(t, r.tel, []metricdata.DataPoint[int64]{
		{Attributes: kindReason("step", "unknown_state"), Value: 1},
	}, ignoreTime)
}

// collect returns a check that keeps every batch, for tests whose batches are small.
func collect(out *[]ptrace.Traces) func(ptrace.Traces) {
	return func(td ptrace.Traces) { *out = append(*out, td) }
}

// sendEach sends one batch for each of the functions, which fill it.
func sendEach(r *hostileRig, batches ...func(td ptrace.Traces)) {
	r.t.Helper()
	for _, fill := range batches {
		td := ptrace.NewTraces()
		fill(td)
		r.send(td)
	}
}

// A transition at 1 ns (1970), then the entity's next one now: the first is implausible
// (counted, passed untouched, not entered), so the second finds no entry into its from_state
// and gets no tasker.state.duration, instead of 57 years.
func TestHostileEpochThenNow(t *testing.T) {
	var out []ptrace.Traces
	r := newHostileRig(t, createDefaultConfig(), collect(&out))
	sendEach(r,
		func(td ptrace.Traces) { transitionSpan(td, "task", 1, taskMove("task-e", "none", "pending")) },
		func(td ptrace.Traces) {
			transitionSpan(td, "task", ts(0), taskMove("task-e", "pending", "initializing"))
		},
		func(td ptrace.Traces) { transitionSpan(td, "step", 1, stepMove("step-e", "none", "pending")) },
		func(td ptrace.Traces) { transitionSpan(td, "step", ts(0), stepMove("step-e", "pending", "enqueued")) })
	require.Len(t, out, 4)
	assert.Empty(t, stamps(out[0])[0], "the 1 ns transition is not stamped")
	assert.Empty(t, stamps(out[2])[0], "the 1 ns transition is not stamped")
	for _, i := range []int{1, 3} {
		s := stamps(out[i])[0]
		assert.NotEmpty(t, s["tasker.event.name"], "the transition now is recognised")
		assert.NotContains(t, s, "tasker.state.duration", "a duration from 1970")
	}
	metadatatest.AssertEqualProcessorTaskerStateTransitionsUnrecognised(t, r.tel, []metricdata.DataPoint[int64]{
		{Attributes: kindReason("task", "implausible_timestamp"), Value: 1},
		{Attributes: kindReason("step", "implausible_timestamp"), Value: 1},
	}, ignoreTime)
	metadatatest.AssertEqualProcessorTaskerStateTransitions(t, r.tel, []metricdata.DataPoint[int64]{
		{Attributes: kindOnly("task"), Value: 1}, {Attributes: kindOnly("step"), Value: 1},
	}, ignoreTime)
}

// Plausible times eight days apart, past limits::max_duration (7 days): the durations they
// make are neither stamped nor kept, and counted; the durations within it still are.
func TestHostileDurationPastMaxDuration(t *testing.T) {
	var out []ptrace.Traces
	r := newHostileRig(t, createDefaultConfig(), collect(&out))
	eightDays := -8 * 24 * time.Hour
	sendEach(r,
		func(td ptrace.Traces) {
			transitionSpan(td, "task", ts(eightDays), taskMove("task-d", "none", "pending"))
		},
		func(td ptrace.Traces) {
			transitionSpan(td, "task", ts(0), taskMove("task-d", "pending", "initializing"))
		},
		func(td ptrace.Traces) {
			transitionSpan(td, "task", ts(500*ms), taskMove("task-d", "initializing", "cancelled"))
		})
	require.Len(t, out, 3)
	assert.NotContains(t, stamps(out[1])[0], "tasker.state.duration", "8 days in pending")
	last := stamps(out[2])[0]
	assert.InDelta(t, 0.5, last["tasker.state.duration"], 1e-9, "half a second in initializing")
	assert.NotContains(t, last, "tasker.task.duration", "8 days from start to end")
	metadatatest.AssertEqualProcessorTaskerStateDurationsRefused(t, r.tel, []metricdata.DataPoint[int64]{
		{Attributes: kindOnly("task"), Value: 2},
	}, ignoreTime)
}

// A task none→pending at 1 ns and pending→complete at MaxUint64 (a negative time wrapped):
// both implausible, so there is no task, no completion and no tasker.task.duration.
func TestHostileEpochToMaxUint64(t *testing.T) {
	var out []ptrace.Traces
	r := newHostileRig(t, createDefaultConfig(), collect(&out))
	sendEach(r,
		func(td ptrace.Traces) { transitionSpan(td, "task", 1, taskMove("task-m", "none", "pending")) },
		func(td ptrace.Traces) {
			transitionSpan(td, "task", math.MaxUint64, taskMove("task-m", "pending", "complete"))
		})
	require.Len(t, out, 2)
	for _, td := range out {
		assert.Empty(t, stamps(td)[0])
	}
	metadatatest.AssertEqualProcessorTaskerStateTransitionsUnrecognised(t, r.tel, []metricdata.DataPoint[int64]{
		{Attributes: kindReason("task", "implausible_timestamp"), Value: 2},
	}, ignoreTime)
	assert.Empty(t, r.points(transitionsMetric), "no transition is entered")
}

// Times ahead of the collector's clock: within limits::max_future_skew (10 minutes) they
// are clock skew and accepted; past it (11 minutes, 100 years) implausible.
func TestHostileFutureTimes(t *testing.T) {
	var out []ptrace.Traces
	r := newHostileRig(t, createDefaultConfig(), collect(&out))
	sendEach(r,
		func(td ptrace.Traces) {
			transitionSpan(td, "task", pcommon.NewTimestampFromTime(t0.AddDate(100, 0, 0)), taskMove("task-f1", "none", "pending"))
		},
		func(td ptrace.Traces) {
			transitionSpan(td, "task", ts(11*time.Minute), taskMove("task-f2", "none", "pending"))
		},
		func(td ptrace.Traces) {
			transitionSpan(td, "task", ts(9*time.Minute), taskMove("task-f3", "none", "pending"))
		})
	require.Len(t, out, 3)
	assert.Empty(t, stamps(out[0])[0])
	assert.Empty(t, stamps(out[1])[0])
	assert.Equal(t, "task", stamps(out[2])[0]["tasker.entity.kind"], "9 minutes ahead is within max_future_skew")
	metadatatest.AssertEqualProcessorTaskerStateTransitionsUnrecognised(t, r.tel, []metricdata.DataPoint[int64]{
		{Attributes: kindReason("task", "implausible_timestamp"), Value: 2},
	}, ignoreTime)
	metadatatest.AssertEqualProcessorTaskerStateTransitions(t, r.tel, []metricdata.DataPoint[int64]{
		{Attributes: kindOnly("task"), Value: 1},
	}, ignoreTime)
}

// A transition span that starts 20 ms after it ends is a transition at its transition_time
// timestamp (its end by default, its start with transition_time: start), and is counted.
func TestHostileStartAfterEnd(t *testing.T) {
	for _, tc := range []struct {
		transitionTime string
		// the times in pending (from none→pending at 0) and in initializing (until 50 ms)
		inPending, inInitializing float64
	}{
		{"end", 0.010, 0.040},
		{"start", 0.030, 0.020},
	} {
		t.Run(tc.transitionTime, func(t *testing.T) {
			cfg := createDefaultConfig()
			cfg.TransitionTime = transition.TimeSource(tc.transitionTime)
			var out []ptrace.Traces
			r := newHostileRig(t, cfg, collect(&out))
			at := func(d time.Duration) pcommon.Timestamp { return ts(d) }
			sendEach(r,
				func(td ptrace.Traces) {
					s := transitionSpan(td, "task", at(0), taskMove("task-s", "none", "pending"))
					s.SetStartTimestamp(at(0))
				},
				func(td ptrace.Traces) {
					s := transitionSpan(td, "task", at(10*ms), taskMove("task-s", "pending", "initializing"))
					s.SetStartTimestamp(at(30 * ms)) // after its end
				},
				func(td ptrace.Traces) {
					s := transitionSpan(td, "task", at(50*ms), taskMove("task-s", "initializing", "enqueuing_steps"))
					s.SetStartTimestamp(at(50 * ms))
				})
			require.Len(t, out, 3)
			assert.InDelta(t, tc.inPending, stamps(out[1])[0]["tasker.state.duration"], 1e-9)
			assert.InDelta(t, tc.inInitializing, stamps(out[2])[0]["tasker.state.duration"], 1e-9)
			metadatatest.AssertEqualProcessorTaskerStateTransitionAnomalies(t, r.tel, []metricdata.DataPoint[int64]{
				{Attributes: kindReason("task", "start_after_end"), Value: 1},
			}, ignoreTime)
		})
	}
}

// attempt_number 2^62 (and 0, and -1) is no attempt number: treated as absent and counted,
// so the stamp is the count of claims; a number in range is still used.
func TestHostileAttemptNumber(t *testing.T) {
	var out []ptrace.Traces
	r := newHostileRig(t, createDefaultConfig(), collect(&out))
	claims := []any{int64(1) << 62, int64(0), int64(-1), int64(7)}
	var moves []func(ptrace.Traces)
	at := time.Duration(0)
	move := func(from, to string, attempt any) {
		a := stepMove("step-a", from, to)
		if attempt != nil {
			a["attempt_number"] = attempt
		}
		when := at
		moves = append(moves, func(td ptrace.Traces) { transitionSpan(td, "step", ts(when), a) })
		at += 10 * ms
	}
	move("none", "pending", nil)
	for _, n := range claims {
		move("pending", "enqueued", nil)
		move("enqueued", "in_progress", n)
		move("in_progress", "waiting_for_retry", nil)
		move("waiting_for_retry", "pending", nil)
	}
	sendEach(r, moves...)
	var got []any
	for i := 2; i < len(out); i += 4 { // the claims
		got = append(got, stamps(out[i])[0]["tasker.step.attempt"])
	}
	assert.Equal(t, []any{int64(1), int64(2), int64(3), int64(7)}, got,
		"out of range: the count of claims; in range: the telemetry's number")
	metadatatest.AssertEqualProcessorTaskerStateTransitionAnomalies(t, r.tel, []metricdata.DataPoint[int64]{
		{Attributes: kindReason("step", "attempt_out_of_range"), Value: 3},
	}, ignoreTime)
}

// stepLoop returns n transitions of one step: its creation, then round after round of retry
// (pending → enqueued → in_progress → waiting_for_retry → pending), 10 ms apart, in batches
// of 100 spans.
func stepLoop(n int) []ptrace.Traces {
	loop := [][2]string{{"pending", "enqueued"}, {"enqueued", "in_progress"}, {"in_progress", "waiting_for_retry"}, {"waiting_for_retry", "pending"}}
	var out []ptrace.Traces
	var td ptrace.Traces
	for i := range n {
		if i%100 == 0 {
			td = ptrace.NewTraces()
			out = append(out, td)
		}
		from, to := "none", "pending"
		if i > 0 {
			from, to = loop[(i-1)%4][0], loop[(i-1)%4][1]
		}
		transitionSpan(td, "step", ts(time.Duration(i)*10*ms), stepMove("step-loop", from, to))
	}
	return out
}

// 10,000 transitions of one step: its log keeps max_transitions_per_entity (512), drops
// the oldest of the rest to make room, counts each drop, and stops growing once full. Every
// span still passes, each transition stamped.
func TestHostileOneStepTenThousandTransitions(t *testing.T) {
	const n, perEntity = 10_000, 512
	cfg := createDefaultConfig()
	require.Equal(t, perEntity, cfg.Limits.MaxTransitionsPerEntity)
	var stamped int
	r := newHostileRig(t, cfg, func(td ptrace.Traces) {
		for _, s := range stamps(td) {
			if s["tasker.entity.kind"] == "step" {
				stamped++
			}
		}
	})
	batches := stepLoop(n)
	var early int64
	for i, td := range batches {
		r.send(td)
		if i == 2000/100-1 { // the log is full after 512 transitions; by 2,000 its buffers have their size
			early = r.gauge(logBytesMetric)
		}
	}
	full := r.gauge(logBytesMetric)
	t.Logf("entity log: %d bytes after 2,000 transitions of one step, %d after %d", early, full, n)
	assert.LessOrEqual(t, full, early, "the log grew past max_transitions_per_entity")
	assert.Equal(t, n, stamped)
	metadatatest.AssertEqualProcessorTaskerStateTransitionsDropped(t, r.tel, []metricdata.DataPoint[int64]{
		{Attributes: kindOnly("step"), Value: n - perEntity},
	}, ignoreTime)
}
