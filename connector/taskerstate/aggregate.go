package taskerstate // import "github.com/tasker-systems/otelcol-tasker/connector/taskerstate"

import (
	"sort"
	"strconv"

	"github.com/lightstep/go-expohisto/structure"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// overflowKey marks the series that collects points past a metric's cardinality limit (the
// name the OpenTelemetry SDKs use).
const overflowKey = "otel.metric.overflow"

// unknown is the value of namespace and handler_name when they cannot be learned.
const unknown = "unknown"

// metricID is one of the seven metrics of tasker-telemetry.md §7.
type metricID uint8

const (
	mTaskTransitions metricID = iota
	mTaskStateDuration
	mTaskCompletion
	mStepTransitions
	mStepAttempts
	mStepStateDuration
	mInvalid
	numMetrics
)

type metricDef struct {
	name, description, unit string
	histogram               bool
	// attrs are the attribute names, in the order series keep their values.
	attrs []string
	// intAttr is the index in attrs of an attribute emitted as an int, or -1.
	intAttr int
}

var metricDefs = [numMetrics]metricDef{
	mTaskTransitions: {
		name: "tasker.task.state_transitions", unit: "{transition}", intAttr: -1,
		description: "Task state transitions, by namespace, from-state, to-state and event name.",
		attrs:       []string{"namespace", "from_state", "to_state", "event_name"},
	},
	mTaskStateDuration: {
		name: "tasker.task.state_duration", unit: "s", histogram: true, intAttr: -1,
		description: "Time a task spent in a state, between the transition into it and the one out of it.",
		attrs:       []string{"state", "namespace"},
	},
	mTaskCompletion: {
		name: "tasker.task.completion_duration", unit: "s", histogram: true, intAttr: -1,
		description: "Time from a task's start to its first terminal state, by outcome.",
		attrs:       []string{"namespace", "outcome"},
	},
	mStepTransitions: {
		name: "tasker.step.state_transitions", unit: "{transition}", intAttr: -1,
		description: "Workflow step state transitions, by namespace, from-state, to-state and event name.",
		attrs:       []string{"namespace", "from_state", "to_state", "event_name"},
	},
	mStepAttempts: {
		name: "tasker.step.attempts", unit: "{attempt}", intAttr: 3,
		description: "Closed step attempts (a claim into in_progress and the step's next closing transition), by outcome.",
		attrs:       []string{"handler_name", "namespace", "outcome", "attempt_number"},
	},
	mStepStateDuration: {
		name: "tasker.step.state_duration", unit: "s", histogram: true, intAttr: -1,
		description: "Time a workflow step spent in a state, between the transition into it and the one out of it.",
		attrs:       []string{"state", "namespace"},
	},
	mInvalid: {
		name: "tasker.transitions.invalid", unit: "{transition}", intAttr: -1,
		description: "Transitions that break Tasker's state machines, by entity kind, from-state and to-state.",
		attrs:       []string{"entity", "from_state", "to_state"},
	},
}

// resIdentity is the identity of an output resource: the configured key attributes of the
// input resource.
type resIdentity struct {
	key   string
	attrs pcommon.Map
}

// payload is what the connector keeps with each transition in the entity log.
type payload struct {
	res     *resIdentity
	traceID pcommon.TraceID
	spanID  pcommon.SpanID
	// extra are the values of the configured extra_dimensions ("" when absent).
	extra []string
}

type exemplar struct {
	traceID     pcommon.TraceID
	spanID      pcommon.SpanID
	correlation string
	value       float64
	time        pcommon.Timestamp
}

// series is the state of one output series (one data point stream).
type series struct {
	metric   metricID
	res      *resIdentity
	vals     []string // attribute values, metricDefs order then extra_dimensions
	overflow bool

	// start is the point's start time: fixed for a cumulative series; for delta, the
	// time of the previous point emitted.
	start pcommon.Timestamp
	// fresh: not emitted yet. A cumulative series is first emitted as a zero point, so that
	// its first increment shows in Prometheus' increase().
	fresh bool
	// dirty: changed since the last emission (delta emits only dirty series).
	dirty      bool
	lastUpdate int64 // collector clock, ns

	count   uint64 // a sum's value; a histogram's count
	sum     float64
	buckets []uint64
	expo    *structure.Histogram[float64]

	ex     []exemplar
	exNext int
}

// aggregator holds the output series. It is the entity log's sink; the connector's mutex
// guards both.
type aggregator struct {
	cfg        *Config
	bounds     []float64
	expoSize   int32
	exemplars  int // max per point, 0 when disabled
	delta      bool
	corrIsDim  int // index in extra of a correlation-id dimension, or -1
	series     map[string]*series
	regular    [numMetrics]int // series per metric, overflow series not included
	keyBuf     []byte
	vals       [8]string
	now        int64 // collector clock during the current Settle/Expire, ns
	prevFlush  pcommon.Timestamp
	overflowed [numMetrics]int64
	exDropped  [numMetrics]int64
	expired    [numMetrics]int64
}

func newAggregator(cfg *Config, start pcommon.Timestamp) *aggregator {
	a := &aggregator{
		cfg:       cfg,
		bounds:    cfg.buckets(),
		delta:     cfg.delta(),
		series:    make(map[string]*series),
		prevFlush: start,
	}
	if cfg.Histogram.Exponential != nil {
		a.expoSize = cfg.Histogram.Exponential.MaxSize
		if a.expoSize == 0 {
			a.expoSize = structure.DefaultMaxSize
		}
	}
	if cfg.Exemplars.Enabled {
		a.exemplars = cfg.Exemplars.MaxPerDataPoint
	}
	return a
}

// stateName is a state as a metric attribute: "none" for no previous state, and a task's
// legacy in_progress as steps_in_process.
func stateName(m *tasker.Machine, s tasker.State) string {
	return m.Canonical(s).String()
}

func orUnknown(s string) string {
	if s == "" {
		return unknown
	}
	return s
}

// Fact implements statelog.Sink: it adds one derived fact to its series.
func (a *aggregator) Fact(f *statelog.Fact[payload]) {
	x := f.Entry
	kind := f.Entity.Kind
	m := tasker.MachineOf(kind)
	ns := orUnknown(f.Namespace)
	v := a.vals[:0]
	switch f.Type {
	case statelog.FactTransition:
		from, to := stateName(m, x.From), stateName(m, x.To)
		id := mTaskTransitions
		if kind == tasker.KindStep {
			id = mStepTransitions
		}
		a.add(id, f, append(v, ns, from, to, f.Event), 1, false)
		if f.Invalid {
			a.add(mInvalid, f, append(a.vals[:0], kind.String(), from, to), 1, false)
		}
	case statelog.FactStateDuration:
		id := mTaskStateDuration
		if kind == tasker.KindStep {
			id = mStepStateDuration
		}
		a.add(id, f, append(v, f.State.String(), ns), f.Seconds, true)
	case statelog.FactCompletion:
		a.add(mTaskCompletion, f, append(v, ns, f.State.String()), f.Seconds, true)
	case statelog.FactAttempt:
		a.add(mStepAttempts, f, append(v, orUnknown(f.Handler), ns, f.Outcome, strconv.Itoa(f.Ordinal)), 1, false)
	}
}

// add records value (an increment of 1 for sums, an observation for histograms) in the
// series of metric id with the given attribute values.
func (a *aggregator) add(id metricID, f *statelog.Fact[payload], vals []string, value float64, observe bool) {
	p := &f.Entry.Data
	vals = append(vals, p.extra...)
	s := a.get(id, p.res, vals)
	s.lastUpdate = a.now
	s.dirty = true
	if observe {
		s.count++
		s.sum += value
		if s.expo != nil {
			s.expo.Update(value)
		} else {
			s.buckets[sort.SearchFloat64s(a.bounds, value)]++
		}
	} else {
		s.count++
	}
	if a.exemplars > 0 {
		e := exemplar{traceID: p.traceID, spanID: p.spanID, correlation: f.Entity.Correlation(), value: value, time: f.Entry.Time}
		if len(s.ex) < a.exemplars {
			s.ex = append(s.ex, e)
		} else {
			s.ex[s.exNext] = e
			s.exNext = (s.exNext + 1) % len(s.ex)
			a.exDropped[id]++
		}
	}
}

func (a *aggregator) key(id metricID, res *resIdentity, vals []string, overflow bool) []byte {
	b := append(a.keyBuf[:0], byte(id))
	if res != nil {
		b = append(b, res.key...)
	}
	b = append(b, 0)
	if overflow {
		b = append(b, 1)
	} else {
		for _, v := range vals {
			b = append(b, v...)
			b = append(b, 0)
		}
	}
	a.keyBuf = b
	return b
}

func (a *aggregator) get(id metricID, res *resIdentity, vals []string) *series {
	if s, ok := a.series[string(a.key(id, res, vals, false))]; ok {
		return s
	}
	overflow := a.cfg.CardinalityLimit > 0 && a.regular[id] >= a.cfg.CardinalityLimit
	if overflow {
		a.overflowed[id]++
		if s, ok := a.series[string(a.key(id, res, nil, true))]; ok {
			return s
		}
	}
	s := &series{metric: id, res: res, overflow: overflow, start: a.prevFlush, fresh: true}
	if !overflow {
		s.vals = append([]string(nil), vals...)
		a.regular[id]++
	}
	if metricDefs[id].histogram {
		if a.expoSize > 0 {
			s.expo = new(structure.Histogram[float64])
			s.expo.Init(structure.NewConfig(structure.WithMaxSize(a.expoSize)))
		} else {
			s.buckets = make([]uint64, len(a.bounds)+1)
		}
	}
	a.series[string(a.keyBuf)] = s
	return s
}

// outGroup is one output resource of a flush, with its metrics created on first use.
type outGroup struct {
	sm      pmetric.ScopeMetrics
	metrics [numMetrics]pmetric.Metric
	made    [numMetrics]bool
}

func (a *aggregator) metric(g *outGroup, id metricID) pmetric.Metric {
	if g.made[id] {
		return g.metrics[id]
	}
	d := &metricDefs[id]
	m := g.sm.Metrics().AppendEmpty()
	m.SetName(d.name)
	m.SetDescription(d.description)
	m.SetUnit(d.unit)
	temp := pmetric.AggregationTemporalityCumulative
	if a.delta {
		temp = pmetric.AggregationTemporalityDelta
	}
	switch {
	case !d.histogram:
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(temp)
	case a.expoSize > 0:
		m.SetEmptyExponentialHistogram().SetAggregationTemporality(temp)
	default:
		m.SetEmptyHistogram().SetAggregationTemporality(temp)
	}
	g.metrics[id], g.made[id] = m, true
	return m
}

// build expires idle series and writes the points of this flush to a new pmetric.Metrics.
// final is the shutdown flush: fresh cumulative series then show their values at once,
// since no later flush will.
func (a *aggregator) build(now int64, ts pcommon.Timestamp, final bool) (pmetric.Metrics, [numMetrics]int64) {
	md := pmetric.NewMetrics()
	var active [numMetrics]int64
	groups := map[*resIdentity]*outGroup{}
	expiry := int64(a.cfg.SeriesExpiry)
	for k, s := range a.series {
		if expiry > 0 && s.lastUpdate+expiry <= now {
			delete(a.series, k)
			a.expired[s.metric]++
			if !s.overflow {
				a.regular[s.metric]--
			}
			continue
		}
		active[s.metric]++
		if a.delta && !s.dirty {
			continue
		}
		g := groups[s.res]
		if g == nil {
			rm := md.ResourceMetrics().AppendEmpty()
			if s.res != nil {
				s.res.attrs.CopyTo(rm.Resource().Attributes())
			}
			g = &outGroup{sm: rm.ScopeMetrics().AppendEmpty()}
			g.sm.Scope().SetName(scopeName)
			groups[s.res] = g
		}
		a.point(a.metric(g, s.metric), s, ts, final)
	}
	a.prevFlush = ts
	return md, active
}

// point appends the series' data point. A fresh cumulative series (not at shutdown) is
// emitted as a zero point: its values follow at the next flush.
func (a *aggregator) point(m pmetric.Metric, s *series, ts pcommon.Timestamp, final bool) {
	zero := s.fresh && !a.delta && !final
	s.fresh = false
	var attrs pcommon.Map
	var exs pmetric.ExemplarSlice
	switch m.Type() {
	case pmetric.MetricTypeSum:
		dp := m.Sum().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(s.start)
		dp.SetTimestamp(ts)
		if !zero {
			dp.SetIntValue(int64(s.count))
		} else {
			dp.SetIntValue(0)
		}
		attrs, exs = dp.Attributes(), dp.Exemplars()
	case pmetric.MetricTypeHistogram:
		dp := m.Histogram().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(s.start)
		dp.SetTimestamp(ts)
		dp.ExplicitBounds().FromRaw(a.bounds)
		if zero {
			dp.BucketCounts().FromRaw(make([]uint64, len(s.buckets)))
		} else {
			dp.BucketCounts().FromRaw(s.buckets)
			dp.SetCount(s.count)
			dp.SetSum(s.sum)
		}
		attrs, exs = dp.Attributes(), dp.Exemplars()
	case pmetric.MetricTypeExponentialHistogram:
		dp := m.ExponentialHistogram().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(s.start)
		dp.SetTimestamp(ts)
		if !zero {
			expoToPoint(s.expo, dp)
		}
		attrs, exs = dp.Attributes(), dp.Exemplars()
	}
	a.attributes(s, attrs)
	if !zero {
		a.writeExemplars(s, exs)
	}
	if a.delta {
		// The next point of this series starts where this one ends (the prometheus
		// exporter accumulates delta points only when they are contiguous).
		s.start = ts
		s.count, s.sum, s.dirty = 0, 0, false
		clear(s.buckets)
		if s.expo != nil {
			s.expo.Clear()
		}
		s.ex, s.exNext = s.ex[:0], 0
	}
}

func (a *aggregator) attributes(s *series, attrs pcommon.Map) {
	if s.overflow {
		attrs.PutStr(overflowKey, "true")
		return
	}
	d := &metricDefs[s.metric]
	attrs.EnsureCapacity(len(s.vals))
	for i, v := range s.vals {
		if v == "" {
			continue // e.g. no event name: the attribute is absent
		}
		var name string
		if i < len(d.attrs) {
			name = d.attrs[i]
		} else {
			name = a.cfg.ExtraDimensions[i-len(d.attrs)]
		}
		if i == d.intAttr {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				attrs.PutInt(name, n)
				continue
			}
		}
		attrs.PutStr(name, v)
	}
}

// writeExemplars writes the point's exemplars, oldest first.
func (a *aggregator) writeExemplars(s *series, exs pmetric.ExemplarSlice) {
	n := len(s.ex)
	exs.EnsureCapacity(n)
	for i := 0; i < n; i++ {
		e := &s.ex[(s.exNext+i)%n]
		x := exs.AppendEmpty()
		x.SetTraceID(e.traceID)
		x.SetSpanID(e.spanID)
		x.SetTimestamp(e.time)
		x.SetDoubleValue(e.value)
		if e.correlation != "" && a.corrIsDim < 0 {
			x.FilteredAttributes().PutStr("correlation_id", e.correlation)
		}
	}
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
