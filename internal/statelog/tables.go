package statelog

import (
	"strings"
	"time"

	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

// The log's two small tables: namespaces and handlers (few: tens to hundreds), and the
// service instances that clock skew is judged between. Both are bounded; neither grows
// with the number of entities.

// maxNames bounds the name table; past it, a value is not kept (counted) and the entity's
// learned value stands in, else unknown.
const maxNames = 1 << 16

// nameBytesOverhead is what a name costs besides its bytes: its string header in the table,
// its map entry (key header, id, the map's own share) — an estimate; the name table is the
// one structure of the log whose bytes are not counted exactly, and it is small.
const nameBytesOverhead = 64

// names interns namespaces and handlers: entries and entities refer to them by id, and the
// strings are detached from the batch they arrived in. Id 0 is the empty string.
type names struct {
	ids    map[string]uint32
	strs   []string
	last   string // runs of one value are common: skip the map
	lastID uint32
	bytes  int64
	full   int64 // values refused since the last TakeStats
}

func newNames() names {
	return names{ids: make(map[string]uint32), strs: []string{""}}
}

// id returns s's id, adding it if there is room; 0 for "" or a full table.
func (in *names) id(s string) uint32 {
	if s == "" {
		return 0
	}
	if in.lastID != 0 && s == in.last {
		return in.lastID
	}
	id, ok := in.ids[s]
	if !ok {
		if len(in.strs) > maxNames {
			in.full++
			return 0
		}
		c := strings.Clone(s)
		id = uint32(len(in.strs))
		in.strs = append(in.strs, c)
		in.ids[c] = id
		in.bytes += int64(len(c)) + nameBytesOverhead
	}
	in.last, in.lastID = in.strs[id], id
	return id
}

func (in *names) str(id uint32) string { return in.strs[id] }

// maxSources bounds the table of service instances (Tasker's orchestration and worker
// processes); instances unseen for the idle time-to-live leave it, and when it is full the
// one seen least recently goes. Ids are never reused, so an entry keeps telling its
// instance apart from a newer one.
const maxSources = 1 << 14

// sourceSweepEvery is how often Expire looks for idle service instances.
const sourceSweepEvery = int64(time.Minute)

type sourceEntry struct {
	id   uint32
	seen int64
}

// sources is a map of a few small records (it is not worth a slab): the garbage collector
// marks at most maxSources of them.
type sources struct {
	m         map[transition.Source]*sourceEntry
	next      uint32
	lastKey   transition.Source // most batches come from one service: skip the map
	last      *sourceEntry
	lastSweep int64
	evicted   int64
}

func newSources() sources { return sources{m: make(map[transition.Source]*sourceEntry)} }

// id returns the id of a service instance.
func (t *sources) id(s transition.Source, now int64) uint32 {
	if t.last != nil && s == t.lastKey {
		t.last.seen = now
		return t.last.id
	}
	se, ok := t.m[s]
	if !ok {
		if len(t.m) >= maxSources {
			t.sweep(func(*sourceEntry) bool { return false })
		}
		t.next++
		se = &sourceEntry{id: t.next}
		s = transition.Source{Service: strings.Clone(s.Service), Instance: strings.Clone(s.Instance)}
		t.m[s] = se
	}
	se.seen = now
	t.lastKey, t.last = s, se
	return se.id
}

// sweep removes every instance that idle says to remove and, when the table is still full,
// the one seen least recently.
func (t *sources) sweep(idle func(*sourceEntry) bool) {
	var oldestKey transition.Source
	var oldest *sourceEntry
	for k, se := range t.m {
		if idle(se) {
			t.drop(k)
			continue
		}
		if oldest == nil || se.seen < oldest.seen {
			oldestKey, oldest = k, se
		}
	}
	if oldest != nil && len(t.m) >= maxSources {
		t.drop(oldestKey)
	}
}

func (t *sources) drop(k transition.Source) {
	if t.last != nil && k == t.lastKey {
		t.last = nil
	}
	delete(t.m, k)
	t.evicted++
}

// expire drops the instances unseen for ttl, at most once a minute.
func (t *sources) expire(now int64, ttl time.Duration) {
	if now-t.lastSweep < sourceSweepEvery {
		return
	}
	t.lastSweep = now
	t.sweep(func(se *sourceEntry) bool { return se.seen+int64(ttl) <= now })
}

// sourceBytesEach estimates an instance's cost: its key's two strings (service names and
// instance ids are short) and its map entry.
const sourceBytesEach = 160

func (t *sources) bytes() int64 { return int64(len(t.m)) * sourceBytesEach }
