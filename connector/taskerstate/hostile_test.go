package taskerstate

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/metadatatest"
	"github.com/tasker-systems/otelcol-tasker/internal/testmeasure"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

// Hostile input (the bad values, times and volumes a probe of the shipped pipeline sent),
// each test one kind of input: what the connector keeps stays bounded whatever the values'
// size, what it emits stays small and valid UTF-8, implausible times reach no metric, and
// what was set aside is counted. Each runs on the connector's own entity log and on the log
// shared with the processor through the tasker_state extension, as otelcol-config.yaml runs
// them; on the shared log the processor finds the transitions, so it counts what the
// extractor set aside, and the connector counts what the log did.

// hostileRig is a connector (alone, or behind a processor on a shared log) that hostile
// input is sent to.
type hostileRig struct {
	*harness
	send func(batches ...ptrace.Traces)
	// extracted is the telemetry that counts the extractor's problems and anomalies, under
	// the metric names problems and anomalies.
	extracted           *componenttest.Telemetry
	problems, anomalies string
}

func ownRig(t *testing.T, cfg *Config) *hostileRig {
	h := newHarness(t, cfg)
	return &hostileRig{harness: h, send: h.consume, extracted: h.tel,
		problems: "otelcol_connector_tasker_state_problems", anomalies: "otelcol_connector_tasker_state_transition_anomalies"}
}

func sharedRig(t *testing.T) *hostileRig {
	s := newSharedStack(t)
	return &hostileRig{harness: s.harness, extracted: s.procTel,
		problems: "otelcol_processor_tasker_state_transitions_unrecognised", anomalies: "otelcol_processor_tasker_state_transition_anomalies",
		send: func(batches ...ptrace.Traces) {
			for _, b := range batches {
				s.send(b)
				s.spans.Reset() // the processor's output is not kept: the heap holds only the log
			}
		}}
}

// onEachLog runs test on the connector's own log (default configuration) and on a shared one.
func onEachLog(t *testing.T, test func(t *testing.T, r *hostileRig)) {
	t.Run("own log", func(t *testing.T) { test(t, ownRig(t, testConfig())) })
	t.Run("shared log", func(t *testing.T) { test(t, sharedRig(t)) })
}

// settled advances the clock past the settle window and returns the last emission.
func (r *hostileRig) settled() pmetric.Metrics { return r.ticks(3) }

// counts returns the data points of an int metric of tel keyed by their attributes
// ("kind=task,reason=oversized_id"); none when the metric was never recorded.
func counts(t *testing.T, tel *componenttest.Telemetry, name string) map[string]int64 {
	t.Helper()
	pts, err := testmeasure.IntPoints(tel, name)
	require.NoError(t, err)
	return pts
}

func (r *hostileRig) problemCounts() map[string]int64 { return counts(r.t, r.extracted, r.problems) }
func (r *hostileRig) anomalyCounts() map[string]int64 { return counts(r.t, r.extracted, r.anomalies) }

// logBytes is the connector's entity_log_bytes gauge as of the last flush.
func (r *hostileRig) logBytes() int64 {
	return counts(r.t, r.tel, "otelcol_connector_tasker_state_entity_log_bytes")[""]
}

var ignoreTime = metricdatatest.IgnoreTimestamp()

func kindSet(kind string) attribute.Set { return attribute.NewSet(attribute.String("kind", kind)) }

// protoBytes is the size of the metrics as OTLP protobuf.
func protoBytes(md pmetric.Metrics) int {
	return (&pmetric.ProtoMarshaler{}).MetricsSize(md)
}

// promTextBytes estimates the size of the Prometheus text exposition the prometheus exporter
// makes of md: a line per sample (a sum or gauge point is one, an explicit histogram one per
// bucket and two more), each with the metric name and every label of its point and resource
// (service.name and the others, as job and target labels), its value and timestamp. It is
// what the size of a scrape follows: the labels are repeated on every line.
func promTextBytes(md pmetric.Metrics) int {
	const valueAndTimestamp = 40
	labels := func(res, attrs pcommon.Map) int {
		n := 2 // braces
		for _, m := range []pcommon.Map{res, attrs} {
			for k, v := range m.All() {
				n += len(k) + len(v.AsString()) + 4 // k="v",
			}
		}
		return n
	}
	total := 0
	for _, rm := range md.ResourceMetrics().All() {
		res := rm.Resource().Attributes()
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				line := func(attrs pcommon.Map, lines int) {
					total += lines * (len(m.Name()) + 16 + labels(res, attrs) + valueAndTimestamp)
				}
				switch m.Type() {
				case pmetric.MetricTypeSum:
					for _, dp := range m.Sum().DataPoints().All() {
						line(dp.Attributes(), 1)
					}
				case pmetric.MetricTypeGauge:
					for _, dp := range m.Gauge().DataPoints().All() {
						line(dp.Attributes(), 1)
					}
				case pmetric.MetricTypeHistogram:
					for _, dp := range m.Histogram().DataPoints().All() {
						line(dp.Attributes(), dp.BucketCounts().Len()+2)
					}
				case pmetric.MetricTypeExponentialHistogram:
					for _, dp := range m.ExponentialHistogram().DataPoints().All() {
						line(dp.Attributes(), dp.Positive().BucketCounts().Len()+3)
					}
				}
			}
		}
	}
	return total
}

// smallOutput is what "small" means for the metrics of a handful of series: far below one
// oversized value.
const smallOutput = 64 << 10

// labelValues returns every value of attribute key on the points of md (resource attributes
// not included).
func labelValues(t *testing.T, md pmetric.Metrics, key string) map[string]bool {
	out := map[string]bool{}
	for k := range flatten(t, md) {
		for _, kv := range strings.Split(k[strings.LastIndex(k, "|")+1:], ",") {
			if v, ok := strings.CutPrefix(kv, key+"="); ok {
				out[v] = true
			}
		}
	}
	return out
}

// sumOf adds up the values of md's points of one sum metric.
func sumOf(t *testing.T, md pmetric.Metrics, metric string) int64 {
	var n int64
	for k, p := range flatten(t, md) {
		if strings.Contains(k, "|"+metric+"|") {
			n += p.value
		}
	}
	return n
}

// hasMetric reports whether md has a point of a metric whose name starts with prefix.
func hasMetric(t *testing.T, md pmetric.Metrics, prefix string) bool {
	for k := range flatten(t, md) {
		if strings.HasPrefix(strings.SplitN(k, "|", 3)[1], prefix) {
			return true
		}
	}
	return false
}

// stepAttempt is a step's attempt, the way today's Tasker sends it: a worker.step_execution
// span with the task's namespace and the step's handler, holding the step's transition
// events from its claim (enqueued → in_progress) to complete.
func stepAttempt(b *traceBuilder, task, step, ns, handler string, ms int64) {
	sp := b.span(b.resource(worker, "w"), "worker.step_execution", 3, ms-5, ms+300, map[string]any{
		"task_uuid": task, "step_uuid": step, "namespace": ns, "step_name": handler})
	stepEvent(sp, step, task, "enqueued", "in_progress", ms, nil)
	stepEvent(sp, step, task, "in_progress", "enqueued_for_orchestration", ms+100, nil)
	stepEvent(sp, step, task, "enqueued_for_orchestration", "complete", ms+200, nil)
}

// 100 task transitions, each with its own 1 MiB task_uuid: each is malformed (oversized_id),
// kept nowhere (the heap does not grow with the ids' size) and reaches no metric.
func TestHostileOversizedTaskID(t *testing.T) {
	onEachLog(t, func(t *testing.T, r *hostileRig) {
		const n, size = 100, 1 << 20
		fill := strings.Repeat("t", size)
		before := testmeasure.LiveMemory()
		for i := range n {
			b := newTraces()
			id := fmt.Sprintf("%04d", i) + fill[4:] // a new 1 MiB id each time
			b.taskSpan(b.resource(orch, "o"), 1, id, "payments", "C", "none", "pending", int64(i))
			r.send(b.td)
		}
		md := r.settled()
		grown := testmeasure.LiveMemory() - before
		t.Logf("%d transitions with %d-byte task ids: the heap grew by %d bytes", n, size, grown)
		assert.Less(t, grown, int64(4<<20), "the heap grew with the ids (%d MiB were sent)", n*size>>20)
		assert.Equal(t, map[string]int64{"kind=task,reason=oversized_id": n}, r.problemCounts())
		assert.False(t, hasMetric(t, md, "tasker.task."), "a task metric from a malformed transition")
		metadatatest.AssertEqualConnectorTaskerStateTrackedEntities(t, r.tel, []metricdata.DataPoint[int64]{{Value: 0}}, ignoreTime)
	})
}

// 10 steps, 30 step transitions, each step's namespace its own 1 MiB value: the namespace is
// treated as absent, so the series say unknown; the metrics stay small, the heap does not
// grow with the values, and each use of one is counted.
func TestHostileOversizedNamespace(t *testing.T) {
	onEachLog(t, func(t *testing.T, r *hostileRig) {
		const steps, size = 10, 1 << 20
		fill := strings.Repeat("n", size)
		before := testmeasure.LiveMemory()
		for i := range steps {
			b := newTraces()
			stepAttempt(b, fmt.Sprint("T", i), fmt.Sprint("S", i), fmt.Sprintf("%04d", i)+fill[4:], "charge_card", int64(i)*1000)
			r.send(b.td)
		}
		md := r.settled()
		grown := testmeasure.LiveMemory() - before
		proto, text := protoBytes(md), promTextBytes(md)
		t.Logf("%d steps with %d-byte namespaces: heap +%d bytes; metrics %d bytes of OTLP, about %d of Prometheus text",
			steps, size, grown, proto, text)
		assert.Less(t, grown, int64(4<<20), "the heap grew with the namespaces (%d MiB were sent)", steps*size>>20)
		assert.Less(t, proto, smallOutput)
		assert.Less(t, text, smallOutput)
		assert.Equal(t, map[string]bool{"unknown": true}, labelValues(t, md, "namespace"))
		assert.Equal(t, map[string]bool{"charge_card": true}, labelValues(t, md, "handler_name"), "the rest of the transitions is used")
		assert.Equal(t, int64(3*steps), sumOf(t, md, "tasker.step.state_transitions"))
		// Each worker span is a hint about its task's namespace; each of its three events
		// would have borrowed the namespace from it.
		assert.Equal(t, map[string]int64{"kind=task,reason=oversized_namespace": steps, "kind=step,reason=oversized_namespace": 3 * steps},
			r.anomalyCounts())
	})
}

// manyNames sends 3,000 steps, each of its own task, with a namespace and a handler of
// nameBytes bytes, distinct per step.
func manyNames(r *hostileRig, nameBytes int) {
	pad := func(prefix string, i int) string {
		v := fmt.Sprintf("%s-%05d-", prefix, i)
		return v + strings.Repeat("x", nameBytes-len(v))
	}
	for i := range 3000 {
		b := newTraces()
		stepAttempt(b, fmt.Sprint("T", i), fmt.Sprint("S", i), pad("ns", i), pad("handler", i), int64(i))
		r.send(b.td)
	}
}

// 3,000 distinct 4 KiB namespaces and handlers: past max_name_bytes (256) every one is
// absent, so the metrics have the few series of unknown and stay small.
func TestHostileManyLongNames(t *testing.T) {
	onEachLog(t, func(t *testing.T, r *hostileRig) {
		manyNames(r, 4096)
		md := r.settled()
		proto, text := protoBytes(md), promTextBytes(md)
		t.Logf("3,000 steps with 4 KiB names: metrics %d bytes of OTLP, about %d of Prometheus text", proto, text)
		assert.Less(t, proto, smallOutput)
		assert.Less(t, text, smallOutput)
		assert.Equal(t, map[string]bool{"unknown": true}, labelValues(t, md, "namespace"))
		assert.Equal(t, map[string]bool{"unknown": true}, labelValues(t, md, "handler_name"))
		assert.Equal(t, int64(3*3000), sumOf(t, md, "tasker.step.state_transitions"))
		a := r.anomalyCounts()
		assert.Equal(t, int64(3000+3*3000), a["kind=step,reason=oversized_handler"], "the hint and the three events of each span")
		assert.Equal(t, int64(3*3000), a["kind=step,reason=oversized_namespace"])
	})
}

// With a max_name_bytes that admits the 4 KiB names, the cardinality limit bounds the
// output: at most cardinality_limit series per metric and one overflow series, whatever
// the number of distinct names.
func TestHostileManyLongNamesAdmitted(t *testing.T) {
	const limit = 100
	cfg := testConfig()
	cfg.Limits.Values.MaxNameBytes = 4096 // the largest accepted: the names are 4,096 bytes
	cfg.CardinalityLimit = limit
	r := ownRig(t, cfg)
	manyNames(r, 4096)
	md := r.settled()
	perMetric := map[string]int{}
	for k := range flatten(t, md) {
		perMetric[strings.SplitN(k, "|", 3)[1]]++
	}
	for m, n := range perMetric {
		assert.LessOrEqualf(t, n, limit+1, "%s has %d series", m, n)
	}
	// Each point's labels are at most the two names, 8 KiB, and a few short ones.
	const perSeries = 2*4096 + 1024
	proto := protoBytes(md)
	t.Logf("3,000 steps with 4 KiB names admitted, cardinality_limit %d: %d metrics, %d bytes of OTLP, about %d of Prometheus text",
		limit, len(perMetric), proto, promTextBytes(md))
	assert.Less(t, proto, len(perMetric)*(limit+1)*perSeries)
	assert.Len(t, labelValues(t, md, "handler_name"), limit, "the names were admitted")
	assert.Equal(t, int64(3*3000), sumOf(t, md, "tasker.step.state_transitions"), "the overflow series keep the counts")
}

// Invalid UTF-8 in a namespace, a handler and a correlation id: repaired (each run of invalid
// bytes becomes U+FFFD) and counted, so the series keep a valid label and stay visible.
func TestHostileInvalidUTF8(t *testing.T) {
	onEachLog(t, func(t *testing.T, r *hostileRig) {
		b := newTraces()
		s := b.resource(orch, "o")
		b.taskSpan(s, 1, "TU", "ns-\xff\xfe", "C-\xff", "none", "pending", 0)
		b.taskSpan(s, 1, "TU", "ns-\xff\xfe", "C-\xff", "pending", "initializing", 10)
		stepAttempt(b, "TU", "SU", "ns-\xff\xfe", "h-\xc3\x28", 100)
		r.send(b.td)
		md := r.settled()

		assert.Equal(t, map[string]bool{"ns-\uFFFD": true}, labelValues(t, md, "namespace"))
		assert.Equal(t, map[string]bool{"h-\uFFFD(": true}, labelValues(t, md, "handler_name"))
		assert.Equal(t, int64(2), sumOf(t, md, "tasker.task.state_transitions"))
		assert.Equal(t, int64(3), sumOf(t, md, "tasker.step.state_transitions"))
		assertValidUTF8(t, md)
		// The task spans' namespace and correlation id, once per transition; the worker span
		// is a hint (namespace, handler), and each of its three events borrows both.
		assert.Equal(t, map[string]int64{
			"kind=task,reason=invalid_utf8_namespace": 2 + 1, "kind=task,reason=invalid_utf8_correlation_id": 2,
			"kind=step,reason=invalid_utf8_namespace": 3, "kind=step,reason=invalid_utf8_handler": 1 + 3,
		}, r.anomalyCounts())
	})
}

// assertValidUTF8 checks every string the metrics carry: resource and point attributes and
// the exemplars' filtered attributes.
func assertValidUTF8(t *testing.T, md pmetric.Metrics) {
	t.Helper()
	checked := 0
	check := func(where string, m pcommon.Map) {
		for k, v := range m.All() {
			checked++
			assert.Truef(t, utf8.ValidString(k) && utf8.ValidString(v.AsString()), "%s: %q=%q is not valid UTF-8", where, k, v.AsString())
		}
	}
	for _, rm := range md.ResourceMetrics().All() {
		check("resource", rm.Resource().Attributes())
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				point := func(attrs pcommon.Map, exs pmetric.ExemplarSlice) {
					check(m.Name(), attrs)
					for _, ex := range exs.All() {
						check(m.Name()+" exemplar", ex.FilteredAttributes())
					}
				}
				switch m.Type() {
				case pmetric.MetricTypeSum:
					for _, dp := range m.Sum().DataPoints().All() {
						point(dp.Attributes(), dp.Exemplars())
					}
				case pmetric.MetricTypeGauge:
					for _, dp := range m.Gauge().DataPoints().All() {
						point(dp.Attributes(), dp.Exemplars())
					}
				case pmetric.MetricTypeHistogram:
					for _, dp := range m.Histogram().DataPoints().All() {
						point(dp.Attributes(), dp.Exemplars())
					}
				}
			}
		}
	}
	require.Positive(t, checked)
}

// A transition at 1 ns (1970), then the entity's next one now: the first is implausible, so
// no time in its state is derived from it (57 years, skewing the histogram's sum for good).
func TestHostileEpochThenNow(t *testing.T) {
	onEachLog(t, func(t *testing.T, r *hostileRig) {
		b := newTraces()
		s := b.resource(orch, "o")
		b.taskSpan(s, 1, "TE", "payments", "C", "none", "pending", 0).SetEndTimestamp(1)
		b.taskSpan(s, 1, "TE", "payments", "C", "pending", "initializing", 10)
		sp := b.span(s, "enqueue_ready_steps", 1, 0, 20, map[string]any{"task_uuid": "TE"})
		stepEvent(sp, "SE", "TE", "none", "pending", 0, nil)
		sp.Events().At(0).SetTimestamp(1)
		stepEvent(sp, "SE", "TE", "pending", "enqueued", 20, nil)
		r.send(b.td)
		md := r.settled()
		assert.Equal(t, map[string]int64{"kind=task,reason=implausible_timestamp": 1, "kind=step,reason=implausible_timestamp": 1},
			r.problemCounts())
		assert.Equal(t, int64(1), sumOf(t, md, "tasker.task.state_transitions"))
		assert.Equal(t, int64(1), sumOf(t, md, "tasker.step.state_transitions"))
		assert.False(t, hasMetric(t, md, "tasker.task.state_duration"), "a time in state from 1970")
		assert.False(t, hasMetric(t, md, "tasker.step.state_duration"), "a time in state from 1970")
	})
}

// Plausible times eight days apart, past limits::max_duration (7 days): the durations they
// make are not recorded, and are counted; the durations within it still are.
func TestHostileDurationPastMaxDuration(t *testing.T) {
	onEachLog(t, func(t *testing.T, r *hostileRig) {
		eightDays := -(8 * 24 * time.Hour).Milliseconds()
		b := newTraces()
		s := b.resource(orch, "o")
		b.taskSpan(s, 1, "TD", "payments", "C", "none", "pending", eightDays)
		b.taskSpan(s, 1, "TD", "payments", "C", "pending", "initializing", 0)
		b.taskSpan(s, 1, "TD", "payments", "C", "initializing", "cancelled", 500)
		r.send(b.td)
		pts := flatten(t, r.settled())
		assert.NotContains(t, pts, orch+"|tasker.task.state_duration|namespace=payments,state=pending", "8 days in pending")
		assert.InDelta(t, 0.5, pts[orch+"|tasker.task.state_duration|namespace=payments,state=initializing"].sum, 1e-9)
		assert.NotContains(t, pts, orch+"|tasker.task.completion_duration|namespace=payments,outcome=cancelled", "8 days from start to end")
		metadatatest.AssertEqualConnectorTaskerStateDurationsRefused(t, r.tel, []metricdata.DataPoint[int64]{
			{Attributes: kindSet("task"), Value: 2},
		}, ignoreTime)
	})
}

// A task none→pending at 1 ns and pending→complete at MaxUint64 (a negative time wrapped):
// both implausible, so no task metric at all, no completion of 584 years.
func TestHostileEpochToMaxUint64(t *testing.T) {
	onEachLog(t, func(t *testing.T, r *hostileRig) {
		b := newTraces()
		s := b.resource(orch, "o")
		b.taskSpan(s, 1, "TM", "payments", "C", "none", "pending", 0).SetEndTimestamp(1)
		b.taskSpan(s, 1, "TM", "payments", "C", "pending", "complete", 0).SetEndTimestamp(math.MaxUint64)
		r.send(b.td)
		md := r.settled()
		assert.Equal(t, map[string]int64{"kind=task,reason=implausible_timestamp": 2}, r.problemCounts())
		assert.False(t, hasMetric(t, md, "tasker.task."))
	})
}

// Times ahead of the collector's clock: within limits::max_future_skew (10 minutes) they
// are clock skew and accepted; past it (11 minutes, 100 years) implausible.
func TestHostileFutureTimes(t *testing.T) {
	onEachLog(t, func(t *testing.T, r *hostileRig) {
		b := newTraces()
		s := b.resource(orch, "o")
		ahead := func(d time.Duration) pcommon.Timestamp { return pcommon.NewTimestampFromTime(clockStart.Add(d)) }
		b.taskSpan(s, 1, "TF1", "century", "C", "none", "pending", 0).SetEndTimestamp(ahead(100 * 365 * 24 * time.Hour))
		b.taskSpan(s, 1, "TF2", "eleven", "C", "none", "pending", 0).SetEndTimestamp(ahead(11 * time.Minute))
		b.taskSpan(s, 1, "TF3", "nine", "C", "none", "pending", 0).SetEndTimestamp(ahead(9 * time.Minute))
		r.send(b.td)
		md := r.settled()
		assert.Equal(t, map[string]int64{"kind=task,reason=implausible_timestamp": 2}, r.problemCounts())
		assert.Equal(t, map[string]bool{"nine": true}, labelValues(t, md, "namespace"))
	})
}

// A transition span that starts after it ends is a transition at its transition_time
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
			cfg := testConfig()
			cfg.TransitionTime = transition.TimeSource(tc.transitionTime)
			r := ownRig(t, cfg)
			b := newTraces()
			s := b.resource(orch, "o")
			b.taskSpan(s, 1, "TS", "payments", "C", "none", "pending", 0).SetStartTimestamp(at(0))
			b.taskSpan(s, 1, "TS", "payments", "C", "pending", "initializing", 10).SetStartTimestamp(at(30)) // after its end
			b.taskSpan(s, 1, "TS", "payments", "C", "initializing", "enqueuing_steps", 50).SetStartTimestamp(at(50))
			r.send(b.td)
			pts := flatten(t, r.settled())
			assert.InDelta(t, tc.inPending, pts[orch+"|tasker.task.state_duration|namespace=payments,state=pending"].sum, 1e-9)
			assert.InDelta(t, tc.inInitializing, pts[orch+"|tasker.task.state_duration|namespace=payments,state=initializing"].sum, 1e-9)
			assert.Equal(t, map[string]int64{"kind=task,reason=start_after_end": 1}, r.anomalyCounts())
		})
	}
}

// attempt_number 2^62 (and 0, and -1) is no attempt number: treated as absent and counted,
// so the attempt's label is the count of claims; a number in range is still used.
func TestHostileAttemptNumber(t *testing.T) {
	onEachLog(t, func(t *testing.T, r *hostileRig) {
		b := newTraces()
		sp := b.span(b.resource(worker, "w"), "worker.step_execution", 3, 0, 1000, map[string]any{
			"task_uuid": "TA", "step_uuid": "SA", "namespace": "payments", "step_name": "charge_card"})
		stepEvent(sp, "SA", "TA", "none", "pending", 0, nil)
		ms := int64(10)
		for _, n := range []int64{1 << 62, 0, -1, 7} {
			stepEvent(sp, "SA", "TA", "pending", "enqueued", ms, nil)
			stepEvent(sp, "SA", "TA", "enqueued", "in_progress", ms+10, map[string]any{"attempt_number": n})
			stepEvent(sp, "SA", "TA", "in_progress", "waiting_for_retry", ms+20, nil)
			stepEvent(sp, "SA", "TA", "waiting_for_retry", "pending", ms+30, nil)
			ms += 40
		}
		r.send(b.td)
		md := r.settled()
		assert.Equal(t, map[string]bool{"1": true, "2": true, "3": true, "7": true}, labelValues(t, md, "attempt_number"),
			"out of range: the count of claims; in range: the telemetry's number")
		assert.Equal(t, map[string]int64{"kind=step,reason=attempt_out_of_range": 3}, r.anomalyCounts())
	})
}

// 10,000 transitions of one step: its log keeps max_transitions_per_entity (512), settling
// and dropping the oldest of the rest to make room, and counts each drop; it stops growing
// once full, and every transition is still counted in the metrics.
func TestHostileOneStepTenThousandTransitions(t *testing.T) {
	onEachLog(t, func(t *testing.T, r *hostileRig) {
		const n, perEntity = 10_000, 512
		loop := [][2]string{{"pending", "enqueued"}, {"enqueued", "in_progress"}, {"in_progress", "waiting_for_retry"}, {"waiting_for_retry", "pending"}}
		batch := func(first, end int) ptrace.Traces {
			b := newTraces()
			sp := b.span(b.resource(orch, "o"), "enqueue_ready_steps", 4, 0, 1, map[string]any{"task_uuid": "TL"})
			for i := first; i < end; i++ {
				from, to := "none", "pending"
				if i > 0 {
					from, to = loop[(i-1)%4][0], loop[(i-1)%4][1]
				}
				stepEvent(sp, "SL", "TL", from, to, int64(i)*10, nil)
			}
			return b.td
		}
		// The log is full after 512 transitions; by 2,000 its buffers have their size.
		for i := 0; i < 2000; i += 100 {
			r.send(batch(i, i+100))
		}
		r.tick()
		early := r.logBytes()
		for i := 2000; i < n; i += 100 {
			r.send(batch(i, i+100))
		}
		md := r.settled()
		full := r.logBytes()
		t.Logf("entity log: %d bytes after 2,000 transitions of one step, %d after %d", early, full, n)
		assert.LessOrEqual(t, full, early, "the log grew past max_transitions_per_entity")
		assert.Equal(t, int64(n), sumOf(t, md, "tasker.step.state_transitions"), "a dropped transition was counted first")
		metadatatest.AssertEqualConnectorTaskerStateTransitionsDropped(t, r.tel, []metricdata.DataPoint[int64]{
			{Attributes: kindSet("step"), Value: n - perEntity},
		}, ignoreTime)
	})
}

// A resource whose service.name is 1 MiB, and one whose service.name has invalid UTF-8:
// service.name is kept as an output resource attribute (the job label), so it is bounded
// and repaired like any other value the connector emits.
func TestHostileResourceValues(t *testing.T) {
	onEachLog(t, func(t *testing.T, r *hostileRig) {
		for i, svc := range []string{strings.Repeat("s", 1<<20), "svc-\xff"} {
			b := newTraces()
			b.taskSpan(b.resource(svc, "i"), 1, fmt.Sprint("TR", i), "payments", "C", "none", "pending", int64(i))
			r.send(b.td)
		}
		md := r.settled()
		proto := protoBytes(md)
		t.Logf("metrics of two task transitions from hostile services: %d bytes of OTLP", proto)
		assert.Less(t, proto, smallOutput)
		assertValidUTF8(t, md)
		assert.Equal(t, int64(2), sumOf(t, md, "tasker.task.state_transitions"))
		var services []string
		for _, rm := range md.ResourceMetrics().All() {
			v, ok := rm.Resource().Attributes().Get("service.name")
			if !ok {
				v = pcommon.NewValueStr("")
			}
			services = append(services, fmt.Sprintf("%v %q", ok, v.Str()))
		}
		sort.Strings(services)
		assert.Equal(t, []string{`false ""`, `true "svc-�"`}, services, "the oversized name is left out, the other repaired")
		// The oversized service.name is set aside twice: as the transition's source (clock
		// skew is judged per service) and as the output's resource.
		assert.Equal(t, map[string]int64{"kind=task,reason=oversized_service": 1, "kind=task,reason=oversized_dimension": 1,
			"kind=task,reason=invalid_utf8_dimension": 1}, r.anomalyCounts())
	})
}
