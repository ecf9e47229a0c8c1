package statelog

import (
	"fmt"
	"hash/fnv"
	"unsafe"

	"github.com/tasker-systems/otelcol-tasker/internal/snapshot"
	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

// A log's state is written as its slabs' bytes (they hold no pointer, so their memory is
// their meaning), its small tables, and the heads of its lists; the id index is rebuilt on
// restore. A restored log is checked whole (every list walked, every position owned once)
// before it is used, so that a snapshot that passes its checksums but is wrong all the same
// is refused rather than trusted.

// Section tags of a log.
const (
	secLogMeta uint16 = 0x10 + iota
	secEntities
	secTransitions
	secPayloads
	secStamps
	secDerivedEntities
	secDerivedTransitions
	secLive
	secNames
	secSources
	secIDs
)

// Fingerprint says what a log's snapshot depends on: its mode and the layout of its records
// (a snapshot of another layout is refused, whatever else it says).
func (l *Log[P]) Fingerprint() uint64 {
	h := fnv.New64a()
	var p P
	fmt.Fprintf(h, "statelog/5 page=%d entity=%d entry=%d dentity=%d settling=%d payload=%d:%T stamping=%v deriving=%v",
		pageSize, unsafe.Sizeof(entity{}), unsafe.Sizeof(entry{}), unsafe.Sizeof(dentity{}), unsafe.Sizeof(settling{}),
		unsafe.Sizeof(p), p, l.stamp != nil, l.derive != nil)
	return h.Sum64()
}

func rawBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(zero)))
}

func writeSlab[T any](e *snapshot.Encoder, s *slab[T]) {
	e.U64(uint64(s.n))
	for i := 0; i*pageSize < int(s.n); i++ {
		e.Raw(rawBytes(s.pages[i][:min(pageSize, int(s.n)-i*pageSize)]))
	}
}

func readSlab[T any](d *snapshot.Decoder, s *slab[T]) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	n := d.Len(size)
	if n > maxSlab {
		d.Fail("a slab of %d positions", n)
		return
	}
	*s = slab[T]{n: uint32(n)}
	for i := 0; i*pageSize < n; i++ {
		s.addPage()
		k := min(pageSize, n-i*pageSize)
		if size > 0 {
			copy(rawBytes(s.pages[i][:k]), d.Raw(k*size))
		}
	}
}

// WriteSnapshot appends the log's sections to w. The caller holds the lock the log is used
// under.
func (l *Log[P]) WriteSnapshot(w *snapshot.Writer) {
	w.Section(secLogMeta, func(e *snapshot.Encoder) {
		e.U32(l.freeEnts)
		e.U32(l.freeTrs)
		for _, q := range []list{l.unfinished, l.finished} {
			e.U32(q.head)
			e.U32(q.tail)
		}
		for _, n := range l.count {
			e.U64(uint64(n))
		}
		e.U64(uint64(l.ids.garbage))
		e.U32(l.sources.next)
		e.I64(l.sources.lastSweep)
		if d := l.derive; d != nil {
			e.U32(d.qseq)
			e.U32(d.liveGen)
			writeHeap(e, &d.queue)
		}
	})
	w.Section(secEntities, func(e *snapshot.Encoder) { writeSlab(e, &l.ents) })
	w.Section(secTransitions, func(e *snapshot.Encoder) { writeSlab(e, &l.trs) })
	w.Section(secPayloads, func(e *snapshot.Encoder) { writeSlab(e, &l.data) })
	if l.stamp != nil {
		w.Section(secStamps, func(e *snapshot.Encoder) { writeSlab(e, &l.stamp.read) })
	}
	if d := l.derive; d != nil {
		w.Section(secDerivedEntities, func(e *snapshot.Encoder) { writeSlab(e, &d.ents) })
		w.Section(secDerivedTransitions, func(e *snapshot.Encoder) { writeSlab(e, &d.trs) })
		w.Section(secLive, func(e *snapshot.Encoder) {
			e.U64(uint64(len(d.live.series)))
			for i := range d.live.series {
				s := &d.live.series[i]
				e.U8(uint8(s.key.kind))
				e.U8(uint8(s.key.state))
				e.U32(s.key.ns)
				e.U32(s.key.res)
				writeHeap(e, &s.heap)
			}
			e.U64(uint64(len(d.live.free)))
			for _, f := range d.live.free {
				e.U32(f)
			}
		})
	}
	w.Section(secNames, func(e *snapshot.Encoder) {
		e.U64(uint64(len(l.names.strs)))
		for _, s := range l.names.strs {
			e.String(s)
		}
	})
	w.Section(secSources, func(e *snapshot.Encoder) {
		e.U64(uint64(len(l.sources.m)))
		for k, se := range l.sources.m {
			e.String(k.Service)
			e.String(k.Instance)
			e.U32(se.id)
			e.I64(se.seen)
		}
	})
	w.Section(secIDs, func(e *snapshot.Encoder) { e.Bytes(l.ids.buf) })
}

// RestoreInfo describes a restored log.
type RestoreInfo struct {
	Entities, Transitions int
}

// ReadSnapshot restores an empty log from r's next sections (the caller checks that nothing
// follows what it expects), moving every time on the collector's clock
// (arrivals, last seen, finished) shift ns later, so that the downtime counts for nothing.
// On error the log is left empty.
func (l *Log[P]) ReadSnapshot(r *snapshot.Reader, shift int64) (RestoreInfo, error) {
	if err := l.readSnapshot(r, shift); err != nil {
		l.Reset()
		return RestoreInfo{}, err
	}
	return RestoreInfo{Entities: l.Len(), Transitions: l.transitions()}, nil
}

// Reset empties the log (after a failed restore).
func (l *Log[P]) Reset() {
	fresh := makeLog[P](l.limits, l.timing, l.clock)
	fresh.stamp, fresh.derive = l.stamp, l.derive
	if fresh.stamp != nil {
		fresh.stamp = &stamping{}
	}
	if d := fresh.derive; d != nil {
		fresh.derive = newDeriving(d.sink)
	}
	*l = *fresh
}

func (l *Log[P]) transitions() int {
	n := 0
	for i := uint32(1); i < l.ents.n; i++ {
		if e := l.ents.at(i); e.kind != tasker.KindUnknown {
			n += int(e.n)
		}
	}
	return n
}

func (l *Log[P]) readSnapshot(r *snapshot.Reader, shift int64) error {
	d, err := r.Section(secLogMeta)
	if err != nil {
		return err
	}
	l.freeEnts, l.freeTrs = d.U32(), d.U32()
	for _, q := range []*list{&l.unfinished, &l.finished} {
		q.head, q.tail = d.U32(), d.U32()
	}
	for k := range l.count {
		l.count[k] = int(d.U64())
	}
	garbage := d.U64()
	l.sources.next = d.U32()
	l.sources.lastSweep = d.I64() + shift
	if l.derive != nil {
		l.derive.qseq = d.U32()
		l.derive.liveGen = d.U32()
		l.derive.queue = readHeap(d)
	}
	if err := d.Err(); err != nil {
		return err
	}
	for _, s := range []struct {
		tag  uint16
		read func(*snapshot.Decoder)
		want bool
	}{
		{secEntities, func(d *snapshot.Decoder) { readSlab(d, &l.ents) }, true},
		{secTransitions, func(d *snapshot.Decoder) { readSlab(d, &l.trs) }, true},
		{secPayloads, func(d *snapshot.Decoder) { readSlab(d, &l.data) }, true},
		{secStamps, func(d *snapshot.Decoder) { readSlab(d, &l.stamp.read) }, l.stamp != nil},
		{secDerivedEntities, func(d *snapshot.Decoder) { readSlab(d, &l.derive.ents) }, l.derive != nil},
		{secDerivedTransitions, func(d *snapshot.Decoder) { readSlab(d, &l.derive.trs) }, l.derive != nil},
		{secLive, func(d *snapshot.Decoder) { l.derive.readLive(d) }, l.derive != nil},
		{secNames, l.names.read, true},
		{secSources, l.sources.read, true},
		{secIDs, func(d *snapshot.Decoder) { l.ids.buf = append(l.ids.buf[:0], d.Bytes()...) }, true},
	} {
		if !s.want {
			continue
		}
		d, err := r.Section(s.tag)
		if err != nil {
			return err
		}
		s.read(d)
		if err := d.Err(); err != nil {
			return err
		}
	}
	l.ids.garbage = int(min(garbage, uint64(len(l.ids.buf))))
	if err := l.check(); err != nil {
		return fmt.Errorf("%w: %v", snapshot.ErrCorrupt, err)
	}
	l.shift(shift)
	l.reindex()
	return nil
}

func (t *names) read(d *snapshot.Decoder) {
	n := d.Len(8)
	if n < 1 || n > maxNames+1 {
		d.Fail("%d names", n)
		return
	}
	*t = newNames()
	if d.String() != "" {
		d.Fail("the name table does not start with the empty name")
		return
	}
	for i := 1; i < n; i++ {
		s := d.String()
		if _, dup := t.ids[s]; dup || s == "" {
			d.Fail("name %d repeated or empty", i)
			return
		}
		t.ids[s] = uint32(len(t.strs))
		t.strs = append(t.strs, s)
		t.bytes += int64(len(s)) + nameBytesOverhead
	}
}

func (t *sources) read(d *snapshot.Decoder) {
	n := d.Len(32)
	if n > maxSources {
		d.Fail("%d service instances", n)
		return
	}
	next, sweep := t.next, t.lastSweep
	*t = newSources()
	t.next, t.lastSweep = next, sweep
	for range n {
		k := transition.Source{Service: d.String(), Instance: d.String()}
		se := &sourceEntry{id: d.U32(), seen: d.I64()}
		if se.id == 0 || se.id > t.next {
			d.Fail("service instance id %d", se.id)
			return
		}
		t.m[k] = se
	}
}

func (dv *deriving[P]) readLive(d *snapshot.Decoder) {
	n := d.Len(26)
	if n < 1 {
		d.Fail("no live series slab")
		return
	}
	t := newLiveTable()
	t.series = make([]liveSeries, n)
	for i := range t.series {
		s := &t.series[i]
		s.key = liveKey{kind: tasker.Kind(d.U8()), state: tasker.State(d.U8()), ns: d.U32(), res: d.U32()}
		s.heap = readHeap(d)
		if s.heap.members() > 0 {
			if _, dup := t.ids[s.key]; dup {
				d.Fail("live series %d twice", i)
				return
			}
			t.ids[s.key] = uint32(i)
		}
	}
	nf := d.Len(4)
	for range nf {
		t.free = append(t.free, d.U32())
	}
	dv.live = t
}

// EachPayload calls fn with the payload of every transition the log holds.
func (l *Log[P]) EachPayload(fn func(*P)) {
	for i := uint32(1); i < l.ents.n; i++ {
		if e := l.ents.at(i); e.kind != tasker.KindUnknown {
			for p := e.log.head; p != 0; p = l.trs.at(p).next {
				fn(l.data.at(p))
			}
		}
	}
}

// shift moves the collector-clock times of a restored log by the downtime.
func (l *Log[P]) shift(by int64) {
	for i := uint32(1); i < l.ents.n; i++ {
		e := l.ents.at(i)
		if e.kind == tasker.KindUnknown {
			continue
		}
		e.lastSeen += by
		if e.finished {
			e.finishedAt += by
		}
		if d := l.derive; d != nil {
			if de := d.ents.at(i); de.queued {
				de.due += by
			}
			for p := e.log.head; p != 0; p = l.trs.at(p).next {
				d.trs.at(p).arrival += by
			}
		}
	}
	if d := l.derive; d != nil {
		d.queue.shift(by)
	}
	for _, se := range l.sources.m {
		se.seen += by
	}
}

func writeHeap(e *snapshot.Encoder, h *minHeap) {
	e.U64(uint64(h.valid))
	e.U64(uint64(len(h.items)))
	for _, it := range h.items {
		e.I64(it.key)
		e.U32(it.stamp)
		e.U32(it.pos)
	}
}

// readHeap reads a heap back (its order and count are checked with the log).
func readHeap(d *snapshot.Decoder) minHeap {
	h := minHeap{valid: int(d.U64())}
	n := d.Len(16)
	for range n {
		h.items = append(h.items, heapItem{key: d.I64(), stamp: d.U32(), pos: d.U32()})
	}
	return h
}

// reindex rebuilds the id index of a restored log (hashes depend on a seed of the process).
func (l *Log[P]) reindex() {
	l.byID = index{}
	for i := uint32(1); i < l.ents.n; i++ {
		e := l.ents.at(i)
		if e.kind == tasker.KindUnknown {
			continue
		}
		e.hash = l.hashID(e.kind, l.ids.idString(&e.id))
		l.byID.ready(l.entHash)
		s := l.byID.start(e.hash)
		for l.byID.slots[s] != 0 {
			s = l.byID.next(s)
		}
		l.byID.put(s, i)
	}
}
