package series

import (
	"encoding/binary"
	"sort"

	"github.com/lightstep/go-expohisto/structure"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
)

// OverflowKey marks the series that collects points past a metric's cardinality limit (the
// name the OpenTelemetry SDKs use).
const OverflowKey = "otel.metric.overflow"

// Config says how series aggregate.
type Config struct {
	// Bounds are the explicit buckets of the duration histograms, in seconds.
	Bounds []float64
	// ExpoMaxSize, when positive, makes the duration histograms exponential.
	ExpoMaxSize int32
	// Exemplars is how many exemplars a point keeps (newer ones replace the oldest); 0: none.
	Exemplars int
	// Delta: points cover the time since the previous flush (else since the series' start).
	Delta bool
	// CardinalityLimit caps the series of each metric (0: no cap).
	CardinalityLimit int
	// Expiry removes a series that saw nothing for this long, ns (0: never).
	Expiry int64
}

// Exemplar links a point to the span that contributed to it.
type Exemplar struct {
	TraceID     pcommon.TraceID
	SpanID      pcommon.SpanID
	Correlation statelog.CorrelationID
	Value       float64
	Time        pcommon.Timestamp
}

// Series is the state of one output series (one data point stream).
type Series struct {
	Metric   Metric
	Resource uint32   // the connector's output resource
	Vals     []string // attribute values, Defs order then extra dimensions
	Overflow bool

	// Start is the point's start time: fixed for a cumulative series; for delta, the time of
	// the previous point emitted.
	Start pcommon.Timestamp
	// Fresh: not emitted yet. A cumulative series is first emitted as a zero point, so that
	// its first increment shows in Prometheus' increase().
	Fresh bool
	// Dirty: changed since the last emission (delta emits only dirty series).
	Dirty      bool
	LastUpdate int64 // collector clock, ns

	Count   uint64 // a sum's value; a histogram's count
	Sum     float64
	Buckets []uint64
	Expo    *structure.Histogram[float64]
	Gauge   float64
	// gaugeSet: the gauge was set in the current round of SetGauge. Stale: a gauge that was
	// not (nothing is live there now); it is emitted once more, flagged as having no
	// recorded value, so that the prometheus exporter drops it at once rather than after its
	// metric_expiration, and then removed.
	gaugeSet, Stale bool

	Exemplars []Exemplar
	exNext    int
}

// OrderedExemplars calls fn with the series' exemplars, oldest first.
func (s *Series) OrderedExemplars(fn func(*Exemplar)) {
	n := len(s.Exemplars)
	for i := 0; i < n; i++ {
		fn(&s.Exemplars[(s.exNext+i)%n])
	}
}

// Stats are counters per metric since the last TakeStats.
type Stats struct {
	Overflowed, ExemplarsDropped, Expired [NumMetrics]int64
}

// Table holds the series. It is not safe for concurrent use.
type Table struct {
	cfg     Config
	series  map[string]*Series
	regular [NumMetrics]int // series per metric, overflow series not included
	keyBuf  []byte
	// prevFlush is when the last flush happened: new series start there.
	prevFlush pcommon.Timestamp
	stats     Stats
}

// New returns an empty table; series made before the first flush start at start.
func New(cfg Config, start pcommon.Timestamp) *Table {
	return &Table{cfg: cfg, series: make(map[string]*Series), prevFlush: start}
}

// Config returns the table's configuration.
func (t *Table) Config() Config { return t.cfg }

// TakeStats returns the counters since the last call and resets them.
func (t *Table) TakeStats() Stats {
	s := t.stats
	t.stats = Stats{}
	return s
}

// Add records value in the series of metric id, resource res and attribute values vals:
// an increment of 1 for a sum, an observation for a histogram. now is the collector's clock.
// Nil vals go to the metric's overflow series (values that could not be kept).
func (t *Table) Add(id Metric, res uint32, vals []string, value float64, now int64, ex *Exemplar) {
	s := t.get(id, res, vals)
	s.LastUpdate, s.Dirty = now, true
	s.Count++
	switch Defs[id].Kind {
	case Duration:
		s.Sum += value
		if s.Expo != nil {
			s.Expo.Update(value)
		} else {
			s.Buckets[sort.SearchFloat64s(t.cfg.Bounds, value)]++
		}
	case Count:
		s.Sum += value
		s.Buckets[sort.SearchFloat64s(Defs[id].Bounds, value)]++
	}
	if t.cfg.Exemplars > 0 && ex != nil {
		if len(s.Exemplars) < t.cfg.Exemplars {
			s.Exemplars = append(s.Exemplars, *ex)
		} else {
			s.Exemplars[s.exNext] = *ex
			s.exNext = (s.exNext + 1) % len(s.Exemplars)
			t.stats.ExemplarsDropped[id]++
		}
	}
}

// SetGauge sets a gauge series for this round of gauges (ended by EndGauges). An overflow
// series combines the values set on it.
func (t *Table) SetGauge(id Metric, res uint32, vals []string, value float64, now int64) {
	s := t.get(id, res, vals)
	s.Stale = false
	switch {
	case !s.gaugeSet:
		s.Gauge = value
	case Defs[id].MinOverflow:
		s.Gauge = min(s.Gauge, value)
	default:
		s.Gauge += value
	}
	s.gaugeSet, s.LastUpdate, s.Dirty = true, now, true
}

// EndGauges ends a round of SetGauge: a gauge series not set in it (nothing is live there
// now) becomes stale, to be emitted once as such; one stale since the last round goes, and
// frees its place under the cardinality limit.
func (t *Table) EndGauges() {
	for k, s := range t.series {
		switch {
		case Defs[s.Metric].Kind != Gauge:
		case s.gaugeSet:
			s.gaugeSet = false
		case s.Stale:
			t.remove(k, s)
		default:
			s.Stale = true
		}
	}
}

func (t *Table) key(id Metric, res uint32, vals []string, overflow bool) []byte {
	b := append(t.keyBuf[:0], byte(id))
	b = binary.LittleEndian.AppendUint32(b, res)
	if overflow {
		b = append(b, 1)
	} else {
		b = append(b, 0)
		for _, v := range vals {
			b = append(b, v...)
			b = append(b, 0)
		}
	}
	t.keyBuf = b
	return b
}

func (t *Table) get(id Metric, res uint32, vals []string) *Series {
	if s, ok := t.series[string(t.key(id, res, vals, false))]; ok {
		return s
	}
	overflow := vals == nil || t.cfg.CardinalityLimit > 0 && t.regular[id] >= t.cfg.CardinalityLimit
	if overflow {
		t.stats.Overflowed[id]++
		if s, ok := t.series[string(t.key(id, res, nil, true))]; ok {
			return s
		}
	}
	s := &Series{Metric: id, Resource: res, Overflow: overflow, Start: t.prevFlush, Fresh: true}
	if !overflow {
		s.Vals = append([]string(nil), vals...)
		t.regular[id]++
	}
	switch Defs[id].Kind {
	case Duration:
		if t.cfg.ExpoMaxSize > 0 {
			s.Expo = new(structure.Histogram[float64])
			s.Expo.Init(structure.NewConfig(structure.WithMaxSize(t.cfg.ExpoMaxSize)))
		} else {
			s.Buckets = make([]uint64, len(t.cfg.Bounds)+1)
		}
	case Count:
		s.Buckets = make([]uint64, len(Defs[id].Bounds)+1)
	}
	t.series[string(t.keyBuf)] = s
	return s
}

func (t *Table) remove(k string, s *Series) {
	delete(t.series, k)
	if !s.Overflow {
		t.regular[s.Metric]--
	}
}

// Expire removes the sums and histograms that saw nothing for the expiry; gauges go when
// nothing is live in them.
func (t *Table) Expire(now int64) {
	if t.cfg.Expiry <= 0 {
		return
	}
	for k, s := range t.series {
		if Defs[s.Metric].Kind != Gauge && s.LastUpdate+t.cfg.Expiry <= now {
			t.remove(k, s)
			t.stats.Expired[s.Metric]++
		}
	}
}

// Len returns the number of series held.
func (t *Table) Len() int { return len(t.series) }

// Each calls fn for every series, in no particular order.
func (t *Table) Each(fn func(*Series)) {
	for _, s := range t.series {
		fn(s)
	}
}

// Active returns the series held per metric, overflow series included.
func (t *Table) Active() [NumMetrics]int64 {
	var n [NumMetrics]int64
	for _, s := range t.series {
		n[s.Metric]++
	}
	return n
}

// Flushed records that the series were emitted at ts (for delta, the dirty ones): a delta
// series emitted then starts afresh there, and series made from now on start there too.
func (t *Table) Flushed(ts pcommon.Timestamp) {
	t.prevFlush = ts
	for _, s := range t.series {
		s.Fresh = false
		if t.cfg.Delta && s.Dirty && Defs[s.Metric].Kind != Gauge {
			// The next point of this series starts where this one ends (the prometheus
			// exporter accumulates delta points only when they are contiguous).
			s.Start = ts
			s.Count, s.Sum, s.Dirty = 0, 0, false
			clear(s.Buckets)
			if s.Expo != nil {
				s.Expo.Clear()
			}
			s.Exemplars, s.exNext = s.Exemplars[:0], 0
		}
	}
}
