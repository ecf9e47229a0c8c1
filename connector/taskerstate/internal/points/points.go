// Package points builds the tasker_state connector's output, a pmetric.Metrics, from its
// series: one ResourceMetrics per output resource, each metric created on first use.
package points

import (
	"strconv"

	"github.com/lightstep/go-expohisto/structure"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/series"
)

// Builder writes the points of one flush.
type Builder struct {
	// Scope is the instrumentation scope name of the output.
	Scope string
	// Resource writes the attributes of an output resource.
	Resource func(id uint32, attrs pcommon.Map)
	// ExtraDims are the names of the opted-in extra dimensions, after each metric's own.
	ExtraDims []string
	// CorrelationIsDim: correlation_id is an extra dimension, so exemplars do not repeat it.
	CorrelationIsDim bool
}

type group struct {
	sm      pmetric.ScopeMetrics
	metrics [series.NumMetrics]pmetric.Metric
	made    [series.NumMetrics]bool
}

// Build writes the table's points at ts. final is the shutdown flush: a fresh cumulative
// series then shows its values at once, since no later flush will (otherwise it is first
// emitted as a zero point, so that its first increment shows in increase()).
func (b *Builder) Build(t *series.Table, ts pcommon.Timestamp, final bool) pmetric.Metrics {
	md := pmetric.NewMetrics()
	cfg := t.Config()
	groups := map[uint32]*group{}
	t.Each(func(s *series.Series) {
		kind := series.Defs[s.Metric].Kind
		if cfg.Delta && kind != series.Gauge && !s.Dirty {
			return // nothing new to say
		}
		g := groups[s.Resource]
		if g == nil {
			rm := md.ResourceMetrics().AppendEmpty()
			b.Resource(s.Resource, rm.Resource().Attributes())
			g = &group{sm: rm.ScopeMetrics().AppendEmpty()}
			g.sm.Scope().SetName(b.Scope)
			groups[s.Resource] = g
		}
		b.point(b.metric(g, s.Metric, cfg), s, ts, s.Fresh && !cfg.Delta && !final, cfg)
	})
	return md
}

func (b *Builder) metric(g *group, id series.Metric, cfg series.Config) pmetric.Metric {
	if g.made[id] {
		return g.metrics[id]
	}
	d := &series.Defs[id]
	m := g.sm.Metrics().AppendEmpty()
	m.SetName(d.Name)
	m.SetDescription(d.Description)
	m.SetUnit(d.Unit)
	temp := pmetric.AggregationTemporalityCumulative
	if cfg.Delta {
		temp = pmetric.AggregationTemporalityDelta
	}
	switch {
	case d.Kind == series.Sum:
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(temp)
	case d.Kind == series.Gauge:
		m.SetEmptyGauge()
	case d.Kind == series.Duration && cfg.ExpoMaxSize > 0:
		m.SetEmptyExponentialHistogram().SetAggregationTemporality(temp)
	default:
		m.SetEmptyHistogram().SetAggregationTemporality(temp)
	}
	g.metrics[id], g.made[id] = m, true
	return m
}

// point appends the series' data point; zero writes a cumulative series' first, zero point.
func (b *Builder) point(m pmetric.Metric, s *series.Series, ts pcommon.Timestamp, zero bool, cfg series.Config) {
	var attrs pcommon.Map
	var exs pmetric.ExemplarSlice
	withExemplars := true // gauges have none
	switch m.Type() {
	case pmetric.MetricTypeSum:
		dp := m.Sum().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(s.Start)
		dp.SetTimestamp(ts)
		if !zero {
			dp.SetIntValue(int64(s.Count))
		} else {
			dp.SetIntValue(0)
		}
		attrs, exs = dp.Attributes(), dp.Exemplars()
	case pmetric.MetricTypeGauge:
		dp := m.Gauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		if s.Stale {
			dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		}
		if series.Defs[s.Metric].DoubleGauge {
			dp.SetDoubleValue(s.Gauge)
		} else {
			dp.SetIntValue(int64(s.Gauge))
		}
		attrs, withExemplars = dp.Attributes(), false
	case pmetric.MetricTypeHistogram:
		dp := m.Histogram().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(s.Start)
		dp.SetTimestamp(ts)
		bounds := cfg.Bounds
		if series.Defs[s.Metric].Kind == series.Count {
			bounds = series.Defs[s.Metric].Bounds
		}
		dp.ExplicitBounds().FromRaw(bounds)
		if zero {
			dp.BucketCounts().FromRaw(make([]uint64, len(s.Buckets)))
		} else {
			dp.BucketCounts().FromRaw(s.Buckets)
			dp.SetCount(s.Count)
			dp.SetSum(s.Sum)
		}
		attrs, exs = dp.Attributes(), dp.Exemplars()
	case pmetric.MetricTypeExponentialHistogram:
		dp := m.ExponentialHistogram().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(s.Start)
		dp.SetTimestamp(ts)
		if !zero {
			expoToPoint(s.Expo, dp)
		}
		attrs, exs = dp.Attributes(), dp.Exemplars()
	}
	b.attributes(s, attrs)
	if !zero && withExemplars {
		b.exemplars(s, exs)
	}
}

func (b *Builder) attributes(s *series.Series, attrs pcommon.Map) {
	if s.Overflow {
		attrs.PutStr(series.OverflowKey, "true")
		return
	}
	d := &series.Defs[s.Metric]
	attrs.EnsureCapacity(len(s.Vals))
	for i, v := range s.Vals {
		if v == "" {
			continue // e.g. no event name: the attribute is absent
		}
		var name string
		if i < len(d.Attrs) {
			name = d.Attrs[i]
		} else {
			name = b.ExtraDims[i-len(d.Attrs)]
		}
		if i == d.IntAttr {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				attrs.PutInt(name, n)
				continue
			}
		}
		attrs.PutStr(name, v)
	}
}

// exemplars writes the point's exemplars, oldest first.
func (b *Builder) exemplars(s *series.Series, exs pmetric.ExemplarSlice) {
	exs.EnsureCapacity(len(s.Exemplars))
	s.OrderedExemplars(func(e *series.Exemplar) {
		x := exs.AppendEmpty()
		x.SetTraceID(e.TraceID)
		x.SetSpanID(e.SpanID)
		x.SetTimestamp(e.Time)
		x.SetDoubleValue(e.Value)
		if !e.Correlation.IsZero() && !b.CorrelationIsDim {
			x.FilteredAttributes().PutStr("correlation_id", e.Correlation.String())
		}
	})
}

// expoToPoint copies an exponential histogram into a data point.
func expoToPoint(h *structure.Histogram[float64], dp pmetric.ExponentialHistogramDataPoint) {
	dp.SetCount(h.Count())
	dp.SetSum(h.Sum())
	if h.Count() > 0 {
		dp.SetMin(h.Min())
		dp.SetMax(h.Max())
	}
	dp.SetZeroCount(h.ZeroCount())
	dp.SetScale(h.Scale())
	in, out := h.Positive(), dp.Positive()
	out.SetOffset(in.Offset())
	out.BucketCounts().EnsureCapacity(int(in.Len()))
	for i := uint32(0); i < in.Len(); i++ {
		out.BucketCounts().Append(in.At(i))
	}
}
