package series

import (
	"fmt"
	"hash/fnv"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tasker-systems/otelcol-tasker/internal/snapshot"
	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
)

// A table is written series by series, so that cumulative series continue after a restart
// with their values, start times and exemplars. Exponential histograms cannot be rebuilt
// from their buckets (the library exposes no setter), so those series are not written: they
// start afresh after a restart, with a new start time.

const secSeries uint16 = 0x50

func pcommonTimestamp(v int64) pcommon.Timestamp { return pcommon.Timestamp(uint64(v)) }

// Fingerprint says what a table's snapshot depends on: how its series aggregate.
func (t *Table) Fingerprint() uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "series/1 metrics=%d bounds=%v expo=%d delta=%v", NumMetrics, t.cfg.Bounds, t.cfg.ExpoMaxSize, t.cfg.Delta)
	return h.Sum64()
}

// WriteSnapshot writes the table's series.
func (t *Table) WriteSnapshot(w *snapshot.Writer) {
	w.Section(secSeries, func(e *snapshot.Encoder) {
		e.I64(int64(t.prevFlush))
		n := 0
		for _, s := range t.series {
			if s.Expo == nil {
				n++
			}
		}
		e.U64(uint64(n))
		for _, s := range t.series {
			if s.Expo != nil {
				continue
			}
			e.U8(uint8(s.Metric))
			e.U32(s.Resource)
			e.Bool(s.Overflow)
			e.U64(uint64(len(s.Vals)))
			for _, v := range s.Vals {
				e.String(v)
			}
			e.I64(int64(s.Start))
			e.Bool(s.Fresh)
			e.Bool(s.Dirty)
			e.I64(s.LastUpdate)
			e.U64(s.Count)
			e.F64(s.Sum)
			e.U64(uint64(len(s.Buckets)))
			for _, b := range s.Buckets {
				e.U64(b)
			}
			e.F64(s.Gauge)
			e.Bool(s.gaugeSet)
			e.Bool(s.Stale)
			e.U64(uint64(len(s.Exemplars)))
			s.OrderedExemplars(func(x *Exemplar) {
				e.Raw(x.TraceID[:])
				e.Raw(x.SpanID[:])
				uuid, str, set := x.Correlation.Parts()
				e.Bool(set)
				e.Raw(uuid[:])
				e.String(str)
				e.F64(x.Value)
				e.I64(int64(x.Time))
			})
		}
	})
}

// ReadSnapshot reads a table written by WriteSnapshot into a new table of the same
// configuration, collector-clock times moved shift ns later; it checks every series against
// the metric it claims to be of, and resources against the count the engine holds.
func (t *Table) ReadSnapshot(r *snapshot.Reader, shift int64, resources int) (*Table, error) {
	d, err := r.Section(secSeries)
	if err != nil {
		return nil, err
	}
	out := New(t.cfg, 0)
	out.prevFlush = pcommonTimestamp(d.I64())
	n := d.Len(60)
	for range n {
		s := &Series{Metric: Metric(d.U8()), Resource: d.U32(), Overflow: d.Bool()}
		if s.Metric >= NumMetrics || int(s.Resource) >= resources {
			d.Fail("a series of metric %d, resource %d", s.Metric, s.Resource)
			break
		}
		def := &Defs[s.Metric]
		nv := d.Len(8)
		if !s.Overflow && nv < len(def.Attrs) || s.Overflow && nv != 0 {
			d.Fail("a series of %s with %d values", def.Name, nv)
			break
		}
		if !s.Overflow {
			s.Vals = make([]string, nv)
			for i := range s.Vals {
				s.Vals[i] = d.String()
			}
		}
		s.Start = pcommonTimestamp(d.I64())
		s.Fresh, s.Dirty = d.Bool(), d.Bool()
		s.LastUpdate = d.I64() + shift
		s.Count, s.Sum = d.U64(), d.F64()
		nb := d.Len(8)
		want := 0
		switch def.Kind {
		case Duration:
			want = len(t.cfg.Bounds) + 1
		case Count:
			want = len(def.Bounds) + 1
		}
		if nb != want {
			d.Fail("a series of %s with %d buckets, %d wanted", def.Name, nb, want)
			break
		}
		if nb > 0 {
			s.Buckets = make([]uint64, nb)
			for i := range s.Buckets {
				s.Buckets[i] = d.U64()
			}
		}
		s.Gauge, s.gaugeSet, s.Stale = d.F64(), d.Bool(), d.Bool()
		ne := d.Len(49)
		if ne > max(t.cfg.Exemplars, 0) {
			d.Fail("a series with %d exemplars, at most %d kept", ne, t.cfg.Exemplars)
			break
		}
		for range ne {
			var x Exemplar
			copy(x.TraceID[:], d.Raw(16))
			copy(x.SpanID[:], d.Raw(8))
			set := d.Bool()
			var uuid [16]byte
			copy(uuid[:], d.Raw(16))
			x.Correlation = statelog.MakeCorrelationID(uuid, d.String(), set)
			x.Value, x.Time = d.F64(), pcommonTimestamp(d.I64())
			s.Exemplars = append(s.Exemplars, x)
		}
		key := string(out.key(s.Metric, s.Resource, s.Vals, s.Overflow))
		if d.Failed() {
			break
		}
		if _, dup := out.series[key]; dup {
			d.Fail("a series of %s twice", def.Name)
			break
		}
		out.series[key] = s
		if !s.Overflow {
			out.regular[s.Metric]++
		}
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
