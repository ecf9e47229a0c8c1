package engine

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/tasker-systems/otelcol-tasker/internal/snapshot"
)

// An engine's snapshot is its log's, then its own tables (output resources, extra-dimension
// values) and what the attached sink keeps (the connector's series).

// Snapshotter is what a sink implements to be written with the engine's state.
type Snapshotter interface {
	// Fingerprint says what the sink's state depends on (its configuration).
	Fingerprint() uint64
	WriteSnapshot(w *snapshot.Writer)
	// ReadSnapshot reads the sink's sections, collector-clock times moved shift ns later
	// (resources: how many output resources the engine holds), and returns what puts them in
	// place and how many series they hold; the engine calls commit once the whole snapshot
	// has been read. Until then the sink is left as it is.
	ReadSnapshot(r *snapshot.Reader, shift int64, resources int) (commit func(), series int, err error)
}

const (
	secEngine uint16 = 0x30 + iota
	secResources
	secTuples
)

// Fingerprint says what a snapshot of this engine depends on: its log's layout and mode,
// the configuration that gives payloads their meaning, and its sink's.
func (e *Engine) Fingerprint() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fingerprint()
}

func (e *Engine) fingerprint() uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "engine/1 log=%x mode=%d resources=%s extra=%s", e.log.Fingerprint(), e.mode,
		strings.Join(e.cfg.ResourceKeys, "\x00"), strings.Join(e.cfg.ExtraDims, "\x00"))
	if s, ok := e.sink.to.(Snapshotter); ok {
		fmt.Fprintf(h, " sink=%x", s.Fingerprint())
	}
	return h.Sum64()
}

// Snapshot writes the engine's whole state into buf (reused; the result may be buf grown)
// as of the collector's clock now. flags are the snapshot's (snapshot.Clean at shutdown).
func (e *Engine) Snapshot(buf []byte, flags uint16) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	// One growth to about the state's size, rather than many while the lock is held.
	buf = slices.Grow(buf[:0], int(e.log.Bytes())+1<<20)
	w := snapshot.NewWriter(buf, e.fingerprint(), e.clock.Now().UnixNano(), flags)
	w.Section(secEngine, func(enc *snapshot.Encoder) { enc.U64(e.entered) })
	e.log.WriteSnapshot(w)
	w.Section(secResources, func(enc *snapshot.Encoder) {
		md := pmetric.NewMetrics()
		for _, attrs := range e.resources.attrs {
			attrs.CopyTo(md.ResourceMetrics().AppendEmpty().Resource().Attributes())
		}
		b, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		if err != nil { // cannot happen for attributes the collector accepted
			b = nil
		}
		enc.Bytes(b)
	})
	w.Section(secTuples, func(enc *snapshot.Encoder) {
		enc.U64(uint64(len(e.extras.vals)))
		for _, vals := range e.extras.vals {
			enc.Bool(vals != nil)
			enc.U64(uint64(len(vals)))
			for _, v := range vals {
				enc.String(v)
			}
		}
	})
	if s, ok := e.sink.to.(Snapshotter); ok {
		s.WriteSnapshot(w)
	}
	return w.Bytes()
}

// Restored describes what a restore brought back.
type Restored struct {
	Header                        snapshot.Header
	Entities, Transitions, Series int
	// Entered is the count of transitions entered up to the snapshot (for what a crash lost).
	Entered uint64
}

// Restore replaces the state of a new, empty engine with a snapshot's, moving collector-clock
// times by the time since it was written. On error the engine is left empty and the error
// says why (see snapshot.Reason).
func (e *Engine) Restore(data []byte) (Restored, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := snapshot.NewReader(data, e.fingerprint())
	if err != nil {
		return Restored{}, err
	}
	now := e.clock.Now().UnixNano()
	if r.Taken <= 0 || r.Taken > now+int64(time.Hour) {
		return Restored{}, fmt.Errorf("%w: taken at %d, the clock says %d", snapshot.ErrCorrupt, r.Taken, now)
	}
	shift := max(0, now-r.Taken)
	out, err := e.restore(r, shift)
	if err != nil {
		return Restored{}, err
	}
	out.Header = r.Header
	return out, nil
}

func (e *Engine) restore(r *snapshot.Reader, shift int64) (Restored, error) {
	var out Restored
	d, err := r.Section(secEngine)
	if err != nil {
		return out, err
	}
	out.Entered = d.U64()
	if err := d.Err(); err != nil {
		return out, err
	}
	info, err := e.log.ReadSnapshot(r, shift)
	if err != nil {
		return out, err
	}
	out.Entities, out.Transitions = info.Entities, info.Transitions
	fail := func(err error) (Restored, error) {
		e.log.Reset()
		return Restored{}, err
	}
	if d, err = r.Section(secResources); err != nil {
		return fail(err)
	}
	md, perr := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(d.Bytes())
	if err := d.Err(); err != nil {
		return fail(err)
	}
	if perr != nil || md.ResourceMetrics().Len() < 1 || md.ResourceMetrics().Len() > maxResources+1 {
		return fail(fmt.Errorf("%w: the output resources do not decode", snapshot.ErrCorrupt))
	}
	if md.ResourceMetrics().At(0).Resource().Attributes().Len() != 0 {
		return fail(fmt.Errorf("%w: output resource 0 has attributes", snapshot.ErrCorrupt))
	}
	res := newResources(e.cfg.ResourceKeys, e.cfg.Limits.Values.MaxNameBytes)
	res.attrs = res.attrs[:0]
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		attrs := md.ResourceMetrics().At(i).Resource().Attributes()
		if i > 0 {
			k, _ := res.key(attrs)
			res.ids[string(k)] = uint32(i)
		}
		res.attrs = append(res.attrs, attrs)
	}
	if d, err = r.Section(secTuples); err != nil {
		return fail(err)
	}
	tup := newTuples()
	n := d.Len(9)
	if n < 2 || n > maxTuples+2 {
		return fail(fmt.Errorf("%w: %d extra-dimension tuples", snapshot.ErrCorrupt, n))
	}
	tup.vals, tup.refs = make([][]string, n), make([]int32, n)
	for i := range n {
		kept, k := d.Bool(), d.Len(8)
		if kept {
			tup.vals[i] = make([]string, 0, k)
		}
		for range k {
			v := d.String()
			if kept {
				tup.vals[i] = append(tup.vals[i], v)
			}
		}
		if i > overflowTuple && kept {
			tup.ids[string(tup.key(tup.vals[i]))] = uint32(i)
		} else if i > overflowTuple {
			tup.free = append(tup.free, uint32(i))
		}
	}
	if err := d.Err(); err != nil {
		return fail(err)
	}
	// Every payload must name a resource and a tuple that exist; a tuple's references are
	// the payloads that name it.
	bad := false
	e.log.EachPayload(func(p *Payload) {
		switch {
		case int(p.Resource) >= len(res.attrs) || int(p.Extra) >= len(tup.vals):
			bad = true
		case p.Extra > overflowTuple:
			if tup.vals[p.Extra] == nil {
				bad = true
			}
			tup.refs[p.Extra]++
		}
	})
	if bad {
		return fail(fmt.Errorf("%w: a transition names a resource or extra values that do not exist", snapshot.ErrCorrupt))
	}
	commit := func() {}
	if s, ok := e.sink.to.(Snapshotter); ok {
		if commit, out.Series, err = s.ReadSnapshot(r, shift, len(res.attrs)); err != nil {
			return fail(err)
		}
	}
	if err := r.Done(); err != nil {
		return fail(err)
	}
	commit()
	e.resources, e.extras, e.entered = res, tup, out.Entered
	e.sink.extras = &e.extras
	return out, nil
}
