package taskerstate

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/metadata"
)

// t0 is the telemetry time the fixtures' transition times are offsets from.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clockStart is the collector's (fake) clock at the start of every test.
var clockStart = time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)

func at(ms int64) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(t0.Add(time.Duration(ms) * time.Millisecond))
}

// harness runs one connector on a fake clock.
type harness struct {
	t       *testing.T
	c       *taskerState
	clock   *clockwork.FakeClock
	sink    *consumertest.MetricsSink
	flushed chan struct{}
	tel     *componenttest.Telemetry
	started bool
}

func testConfig() *Config { return NewFactory().CreateDefaultConfig().(*Config) }

func newHarness(t *testing.T, cfg *Config) *harness {
	t.Helper()
	return newHarnessAt(t, cfg, clockStart)
}

// newHarnessAt starts the collector's clock at start: after the telemetry times of a
// workload, which the connector refuses when they are later than its clock plus
// limits::max_future_skew.
func newHarnessAt(t *testing.T, cfg *Config, start time.Time) *harness {
	t.Helper()
	return newHarnessOn(t, cfg, clockwork.NewFakeClockAt(start), componenttest.NewNopHost())
}

// newHarnessOn runs the connector on a given clock and host (a restart goes on one clock,
// with the host's storage).
func newHarnessOn(t *testing.T, cfg *Config, clock *clockwork.FakeClock, host component.Host) *harness {
	t.Helper()
	require.NoError(t, cfg.Validate())
	h := &harness{t: t, clock: clock, sink: new(consumertest.MetricsSink),
		flushed: make(chan struct{}, 64), tel: componenttest.NewTelemetry()}
	set := connectortest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type) // one name across restarts: its storage is found again
	set.TelemetrySettings = h.tel.NewTelemetrySettings()
	ctx := clockwork.AddToContext(context.Background(), h.clock)
	c, err := NewFactory().CreateTracesToMetrics(ctx, set, cfg, h.sink)
	require.NoError(t, err)
	h.c = c.(*taskerState)
	h.c.onFlush = func() { h.flushed <- struct{}{} }
	require.NoError(t, h.c.Start(ctx, host))
	h.started = true
	t.Cleanup(func() {
		if h.started {
			require.NoError(t, h.c.Shutdown(context.Background()))
		}
		require.NoError(t, h.tel.Shutdown(context.Background()))
	})
	return h
}

func (h *harness) consume(batches ...ptrace.Traces) {
	h.t.Helper()
	for _, b := range batches {
		require.NoError(h.t, h.c.ConsumeTraces(context.Background(), b))
	}
}

// tick advances the fake clock by one flush interval and waits for the flush it triggers.
// It returns the metrics that flush emitted (empty when it emitted none).
func (h *harness) tick() pmetric.Metrics {
	h.t.Helper()
	before := len(h.sink.AllMetrics())
	require.NoError(h.t, h.clock.BlockUntilContext(context.Background(), 1)) // the ticker exists
	h.clock.Advance(h.c.cfg.FlushInterval)
	select {
	case <-h.flushed:
	case <-time.After(10 * time.Second):
		h.t.Fatal("no flush after advancing the clock by flush_interval")
	}
	all := h.sink.AllMetrics()
	if len(all) == before {
		return pmetric.NewMetrics()
	}
	require.Len(h.t, all, before+1, "one flush emits one pmetric.Metrics")
	return all[before]
}

// ticks advances n flush intervals and returns the last emission.
func (h *harness) ticks(n int) pmetric.Metrics {
	var md pmetric.Metrics
	for range n {
		md = h.tick()
	}
	return md
}

// shutdown shuts the connector down and returns what its final flush emitted.
func (h *harness) shutdown() pmetric.Metrics {
	h.t.Helper()
	before := len(h.sink.AllMetrics())
	require.NoError(h.t, h.c.Shutdown(context.Background()))
	h.started = false
	all := h.sink.AllMetrics()
	if len(all) == before {
		return pmetric.NewMetrics()
	}
	return all[before]
}

// point is a flattened data point.
type point struct {
	value   int64     // sums, int gauges
	gauge   float64   // double gauges
	stale   bool      // a gauge point flagged as having no recorded value (its series ends)
	count   uint64    // histograms
	sum     float64   // histograms
	buckets []uint64  // explicit histograms
	bounds  []float64 // explicit histograms
	start   pcommon.Timestamp
	ts      pcommon.Timestamp
	temp    pmetric.AggregationTemporality
	unit    string
	kind    pmetric.MetricType
	exs     []pmetric.Exemplar
}

// flatten indexes every data point by "service|metric|k=v,k=v" (attributes sorted).
func flatten(t *testing.T, md pmetric.Metrics) map[string]point {
	t.Helper()
	out := map[string]point{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		svc, _ := rm.Resource().Attributes().Get("service.name")
		for j := 0; j < rm.ScopeMetrics().Len(); j++ {
			ms := rm.ScopeMetrics().At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				add := func(attrs pcommon.Map, p point) {
					p.unit, p.kind = m.Unit(), m.Type()
					key := svc.Str() + "|" + m.Name() + "|" + attrString(attrs)
					_, dup := out[key]
					require.False(t, dup, "two points for %s", key)
					out[key] = p
				}
				switch m.Type() {
				case pmetric.MetricTypeSum:
					require.True(t, m.Sum().IsMonotonic())
					for d := 0; d < m.Sum().DataPoints().Len(); d++ {
						dp := m.Sum().DataPoints().At(d)
						add(dp.Attributes(), point{value: dp.IntValue(), start: dp.StartTimestamp(), ts: dp.Timestamp(),
							temp: m.Sum().AggregationTemporality(), exs: exemplars(dp.Exemplars())})
					}
				case pmetric.MetricTypeGauge:
					for d := 0; d < m.Gauge().DataPoints().Len(); d++ {
						dp := m.Gauge().DataPoints().At(d)
						p := point{value: dp.IntValue(), ts: dp.Timestamp(), stale: dp.Flags().NoRecordedValue()}
						if dp.ValueType() == pmetric.NumberDataPointValueTypeDouble {
							p.value, p.gauge = 0, dp.DoubleValue()
						}
						require.Zero(t, dp.Exemplars().Len(), "a gauge carries no exemplars")
						add(dp.Attributes(), p)
					}
				case pmetric.MetricTypeHistogram:
					for d := 0; d < m.Histogram().DataPoints().Len(); d++ {
						dp := m.Histogram().DataPoints().At(d)
						add(dp.Attributes(), point{count: dp.Count(), sum: dp.Sum(), buckets: dp.BucketCounts().AsRaw(),
							bounds: dp.ExplicitBounds().AsRaw(), start: dp.StartTimestamp(), ts: dp.Timestamp(),
							temp: m.Histogram().AggregationTemporality(), exs: exemplars(dp.Exemplars())})
					}
				case pmetric.MetricTypeExponentialHistogram:
					for d := 0; d < m.ExponentialHistogram().DataPoints().Len(); d++ {
						dp := m.ExponentialHistogram().DataPoints().At(d)
						add(dp.Attributes(), point{count: dp.Count(), sum: dp.Sum(), start: dp.StartTimestamp(), ts: dp.Timestamp(),
							temp: m.ExponentialHistogram().AggregationTemporality(), exs: exemplars(dp.Exemplars())})
					}
				default:
					t.Fatalf("unexpected metric type %s for %s", m.Type(), m.Name())
				}
			}
		}
	}
	return out
}

func exemplars(s pmetric.ExemplarSlice) []pmetric.Exemplar {
	var out []pmetric.Exemplar
	for i := 0; i < s.Len(); i++ {
		out = append(out, s.At(i))
	}
	return out
}

func attrString(m pcommon.Map) string {
	var parts []string
	m.Range(func(k string, v pcommon.Value) bool {
		parts = append(parts, k+"="+v.AsString())
		return true
	})
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// values reduces flattened points to comparable values: the sum value, or a histogram's
// count, sum (rounded to µs) and buckets.
func values(pts map[string]point) map[string]string {
	out := map[string]string{}
	for k, p := range pts {
		switch {
		case p.kind == pmetric.MetricTypeSum:
			out[k] = fmt.Sprint(p.value)
		case p.kind == pmetric.MetricTypeGauge:
			out[k] = fmt.Sprintf("gauge=%d/%.3f stale=%v", p.value, p.gauge, p.stale)
		default:
			out[k] = fmt.Sprintf("count=%d sum=%.6f buckets=%v", p.count, p.sum, p.buckets)
		}
	}
	return out
}

// trace builder ---------------------------------------------------------------------------

type traceBuilder struct {
	td     ptrace.Traces
	spanID uint64
}

func newTraces() *traceBuilder { return &traceBuilder{td: ptrace.NewTraces()} }

// resource starts a ResourceSpans of the given service (with attributes that must not
// reach the output resource).
func (b *traceBuilder) resource(service, instance string) ptrace.SpanSlice {
	rs := b.td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	rs.Resource().Attributes().PutStr("service.instance.id", instance)
	rs.Resource().Attributes().PutStr("host.name", "host-"+instance)
	return rs.ScopeSpans().AppendEmpty().Spans()
}

func traceID(n byte) pcommon.TraceID {
	return pcommon.TraceID{n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n}
}

func (b *traceBuilder) span(spans ptrace.SpanSlice, name string, trace byte, startMs, endMs int64, attrs map[string]any) ptrace.Span {
	s := spans.AppendEmpty()
	s.SetName(name)
	s.SetTraceID(traceID(trace))
	b.spanID++
	s.SetSpanID(spanIDOf(trace, b.spanID))
	s.SetStartTimestamp(at(startMs))
	s.SetEndTimestamp(at(endMs))
	_ = s.Attributes().FromRaw(attrs)
	return s
}

func spanIDOf(trace byte, n uint64) pcommon.SpanID {
	return pcommon.SpanID{trace, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// event adds a transition event to span.
func event(span ptrace.Span, name string, ms int64, attrs map[string]any) {
	e := span.Events().AppendEmpty()
	e.SetName(name)
	e.SetTimestamp(at(ms))
	_ = e.Attributes().FromRaw(attrs)
}

// taskSpan adds a transition span (shape 1) for a task; the transition is at its end.
func (b *traceBuilder) taskSpan(spans ptrace.SpanSlice, trace byte, task, ns, corr, from, to string, ms int64) ptrace.Span {
	return b.span(spans, "task.state_transition", trace, ms-5, ms, map[string]any{
		"task_uuid": task, "namespace": ns, "correlation_id": corr, "from_state": from, "to_state": to,
	})
}

func stepEvent(span ptrace.Span, step, task, from, to string, ms int64, extra map[string]any) {
	attrs := map[string]any{"event_name": "x", "step_uuid": step, "task_uuid": task, "named_step_uuid": "n-" + step,
		"from_state": from, "to_state": to}
	for k, v := range extra {
		attrs[k] = v
	}
	event(span, "Step state transition", ms, attrs)
}

var _ component.Config = (*Config)(nil)
