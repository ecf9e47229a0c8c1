package statelog

import (
	"unsafe"

	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// Live state (docs/telemetry.md §7): what is running now, kept up to date as transitions
// settle, so that a flush reads the gauges without scanning the log.
//
// An entity is live while it has reached no terminal state of its machine (a step's error is
// not terminal); a step also stops being live once its task's end has settled. Its current
// state is the to-state of its latest settled transition in effective order; it entered that
// state at the telemetry time of the transition into it (moves from the state to itself do
// not restart it). Live entities are grouped into series by kind, state, namespace and
// resource; each series keeps its members in a heap by the time they entered their state,
// so its oldest is at the top, whatever order the transitions settle in.

// liveState is an entity's place among the live ones.
type liveState struct {
	series uint32 // its series (0: not live)
	gen    uint32 // the stamp of its joining the series (its item in the series' heap)
	since  int64  // telemetry time it entered its current state, ns
	last   uint32 // its latest settled transition, for its namespace and resource
}

type liveKey struct {
	kind  tasker.Kind
	state tasker.State
	ns    uint32 // name id
	res   uint32 // the sink's resource
}

type liveSeries struct {
	key liveKey
	// heap holds the members (entity positions), a min-heap by since (the longest waiting
	// first) with lazy removal.
	heap minHeap
}

type liveTable struct {
	ids    map[liveKey]uint32 // a key holds no pointer: the garbage collector does not scan it
	series []liveSeries       // position 0 unused
	free   []uint32
}

func newLiveTable() liveTable {
	return liveTable{ids: make(map[liveKey]uint32), series: make([]liveSeries, 1)}
}

// liveBytesEach estimates a series' cost beside its slab entry: its map entry.
const liveBytesEach = 48

func (t *liveTable) bytes() int64 {
	n := int64(cap(t.series))*int64(unsafe.Sizeof(liveSeries{})) + int64(cap(t.free))*4 + int64(len(t.ids))*liveBytesEach
	for i := range t.series {
		n += t.series[i].heap.bytes()
	}
	return n
}

// updateLive brings an entity's live state up to date with its settled transitions ord.
func (d *deriving[P]) updateLive(l *Log[P], ei uint32, ord []uint32) {
	key, since, last, live := d.liveNow(l, ei, ord)
	ls := &d.ents.at(ei).live
	if ls.series != 0 && (!live || d.live.series[ls.series].key != key || ls.since != since) {
		d.leaveLive(ei)
	}
	ls.last = last
	if live && ls.series == 0 {
		d.joinLive(ei, key, since)
	}
}

// liveNow works out whether an entity is live, and if so its series and since.
func (d *deriving[P]) liveNow(l *Log[P], ei uint32, ord []uint32) (key liveKey, since int64, last uint32, live bool) {
	if len(ord) == 0 {
		return key, 0, 0, false
	}
	e := l.ents.at(ei)
	m := tasker.MachineOf(e.kind)
	for _, p := range ord {
		if m.Terminal(l.trs.at(p).to) {
			return key, 0, 0, false // later moves out of a terminal state do not revive it
		}
	}
	if e.kind == tasker.KindStep {
		if end := l.taskEnd(e.task); end != 0 && d.counted(end) {
			return key, 0, 0, false
		}
	}
	k := len(ord) - 1
	last = ord[k]
	state := m.Canonical(l.trs.at(last).to)
	for k > 0 && m.Canonical(l.trs.at(ord[k]).from) == state && m.Canonical(l.trs.at(ord[k-1]).to) == state {
		k-- // a move from the state to itself: it entered the state earlier
	}
	key = liveKey{kind: e.kind, state: state, ns: l.namespaceOf(ei, last), res: d.resourceOf(l.data.at(last))}
	return key, l.trs.at(ord[k]).time, last, true
}

// refile moves a live entity to the series of the namespace it has learned since it joined.
func (d *deriving[P]) refile(l *Log[P], ei uint32) {
	ls := &d.ents.at(ei).live
	if ls.series == 0 {
		return
	}
	key := d.live.series[ls.series].key
	if key.ns = l.namespaceOf(ei, ls.last); key != d.live.series[ls.series].key {
		since := ls.since
		d.leaveLive(ei)
		d.joinLive(ei, key, since)
	}
}

func (d *deriving[P]) joinLive(ei uint32, key liveKey, since int64) {
	t := &d.live
	id, ok := t.ids[key]
	if !ok {
		if n := len(t.free); n > 0 {
			id, t.free = t.free[n-1], t.free[:n-1]
		} else {
			id = uint32(len(t.series))
			t.series = append(t.series, liveSeries{})
		}
		t.series[id] = liveSeries{key: key}
		t.ids[key] = id
	}
	ls := &d.ents.at(ei).live
	ls.series, ls.since, ls.gen = id, since, d.liveGen
	d.liveGen++
	t.series[id].heap.push(heapItem{key: since, stamp: ls.gen, pos: ei})
}

// inSeries tells the members of a live series from its heap's stale items.
func (d *deriving[P]) inSeries(id uint32) heapValid {
	return func(it heapItem) bool {
		ls := &d.ents.at(it.pos).live
		return ls.series == id && ls.gen == it.stamp && ls.since == it.key
	}
}

// leaveLive takes an entity out of its series; an emptied series goes.
func (d *deriving[P]) leaveLive(ei uint32) {
	t := &d.live
	ls := &d.ents.at(ei).live
	id := ls.series
	ls.series, ls.since, ls.gen = 0, 0, 0
	s := &t.series[id]
	s.heap.left(d.inSeries(id))
	if s.heap.members() == 0 {
		delete(t.ids, s.key)
		t.free = append(t.free, id)
		*s = liveSeries{}
	}
}

// LiveSeries is one series of the live-state gauges (§7 Live state).
type LiveSeries struct {
	Kind      tasker.Kind
	State     tasker.State
	Namespace string // "" when unknown
	Resource  uint32 // the sink's resource
	Count     int
	// OldestSince is the telemetry time at which its longest-waiting entity entered the state.
	OldestSince int64
}

// Live calls fn for every series of live entities, in no particular order. Only a deriving
// log has live state.
func (l *Log[P]) Live(fn func(s *LiveSeries)) {
	d := l.derive
	var out LiveSeries
	for id := 1; id < len(d.live.series); id++ {
		s := &d.live.series[id]
		oldest, ok := s.heap.top(d.inSeries(uint32(id)))
		if !ok {
			continue
		}
		out = LiveSeries{Kind: s.key.kind, State: s.key.state, Namespace: l.names.str(s.key.ns), Resource: s.key.res,
			Count: s.heap.members(), OldestSince: oldest.key}
		fn(&out)
	}
}
