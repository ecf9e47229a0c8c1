package statelog

import (
	"sort"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

// Key identifies an entity.
type Key struct {
	Kind tasker.Kind
	ID   string
}

// entry flags: which facts an entry has taken part in, so each is derived once.
const (
	flagCounted       uint8 = 1 << iota // counted as a transition
	flagEntryMeasured                   // the time in its from-state was derived
	flagExitMeasured                    // the time in its to-state was derived
	flagAttemptDone                     // a claim whose attempt was counted or abandoned
	flagClosedAttempt                   // a transition that closed a counted attempt
)

// initialEntries is the capacity of a new entity's log.
const initialEntries = 6

// Entry is one transition in an entity's log.
type Entry[P any] struct {
	Time pcommon.Timestamp
	// From and To are as received (From is StateNone for "none"/empty).
	From, To tasker.State
	// Attempt is the carrier's own attempt attribute, 0 when absent.
	Attempt int32
	// ns and handler are the values the telemetry gave this transition directly, as ids of
	// the log's string table (0: none), so that an entry holds no pointer of its own.
	ns, handler uint32
	// Data is what the component keeps per transition (exemplar ids, resource).
	Data P

	arrival int64 // collector clock, ns
	seq     uint64
	source  uint32
	flags   uint8
	stamped uint8 // which stamps the transition got when first read (stamp* bits)
}

// Entity is one task or step and its log.
type Entity[P any] struct {
	Key
	// TaskID is a step's task, when known.
	TaskID string
	// Namespace and Handler are learned: the first value seen, never overwritten.
	Namespace, Handler string
	CorrelationID      string

	entries        []Entry[P]
	task           *Entity[P]   // a step's task, once looked up
	steps          []*Entity[P] // a task's steps, so they finish with it
	lastSeen       int64
	queuedAt       int64 // arrival time of its last visit in the settle queue
	uncounted      int   // transitions not yet settled and derived (the connector's)
	finishedAt     int64 // 0 while unfinished
	completionDone bool
	gone           bool

	prev, next   *Entity[P] // LRU list, most recent first
	fprev, fnext *Entity[P] // finished list, in finishing order
	inFinished   bool
}

// Correlation returns the entity's correlation id (a request id, one per task): its own, else,
// for a step, its task's; "" when neither is known.
func (e *Entity[P]) Correlation() string {
	if e.CorrelationID == "" && e.task != nil && !e.task.gone {
		return e.task.CorrelationID
	}
	return e.CorrelationID
}

// Len returns the number of transitions the entity's log holds.
func (e *Entity[P]) Len() int { return len(e.entries) }

// Stats are counters of what happened in the log since the last TakeStats.
type Stats struct {
	Duplicates [3]int64 // by kind
	OutOfOrder [3]int64 // inserted before a transition already held
	Late       [3]int64 // arrived after a later transition of its entity had settled
	Skewed     [3]int64 // a negative gap between services counted as 0
	Abandoned  int64    // claims superseded by another claim before closing
	Conflicts  [3]int64 // a learned namespace or handler contradicted
	Evicted    [3][NumEvictReasons]int64
	Dropped    [3]int64 // transitions dropped from an overflowing entity log
	// SourcesEvicted: service instances dropped from the table used for clock-skew
	// decisions (idle for the idle time-to-live, or the table full).
	SourcesEvicted int64
	// NamesNotInterned: namespaces or handlers an entry could not keep as its own because
	// the name table was full (the entity's learned value stands in).
	NamesNotInterned int64
}

// Log holds the entity logs. It is not safe for concurrent use; components lock around it.
type Log[P any] struct {
	limits Limits
	timing Timing
	clock  clockwork.Clock
	sink   Sink[P]

	// entities holds the tasks and the steps, a map of each by id (a string key hashes
	// faster than a struct).
	entities [3]map[string]*Entity[P]
	lruHead  *Entity[P]
	lruTail  *Entity[P]
	finHead  *Entity[P]
	finTail  *Entity[P]

	sources    map[transition.Source]*sourceEntry
	nextSource uint32
	lastKey    transition.Source // most batches come from one service: skip the map
	lastSrc    *sourceEntry
	lastSweep  int64
	strs       interner
	seq        uint64
	settleQ    []queued[P]
	scratch    []int
	stats      Stats
}

type queued[P any] struct {
	e       *Entity[P]
	arrival int64
}

// New returns an empty log. sink receives derived facts; it may be nil when only stamps are
// read (the processor).
func New[P any](limits Limits, timing Timing, clock clockwork.Clock, sink Sink[P]) *Log[P] {
	return &Log[P]{
		limits:   limits,
		timing:   timing,
		clock:    clock,
		sink:     sink,
		entities: [3]map[string]*Entity[P]{tasker.KindTask: {}, tasker.KindStep: {}},
		sources:  make(map[transition.Source]*sourceEntry),
		strs:     newInterner(maxInterned),
	}
}

// Len returns the number of tracked entities.
func (l *Log[P]) Len() int {
	return len(l.entities[tasker.KindTask]) + len(l.entities[tasker.KindStep])
}

// TakeStats returns the counters since the last call and resets them.
func (l *Log[P]) TakeStats() Stats {
	s := l.stats
	s.NamesNotInterned, l.strs.full = l.strs.full, 0
	l.stats = Stats{}
	return s
}

// Get returns the entity, or nil.
func (l *Log[P]) Get(k tasker.Kind, id string) *Entity[P] { return l.entities[k][id] }

// Status is the outcome of Add.
type Status uint8

const (
	Added Status = iota
	Duplicate
	Dropped // the entity's log was full of transitions it must keep
)

// Ref points at a transition in a log; it stays valid while the entity is tracked.
type Ref[P any] struct {
	e   *Entity[P]
	seq uint64
}

// Entity returns the referenced entity, or nil if it has been evicted.
func (r Ref[P]) Entity() *Entity[P] {
	if r.e == nil || r.e.gone {
		return nil
	}
	return r.e
}

// Add enters a transition into its entity's log, ordered by telemetry time. An identical
// transition (same from, to and time) is a duplicate: nothing changes and the Ref points at
// the original.
func (l *Log[P]) Add(t *transition.Transition, data P) (Ref[P], Status) {
	now := l.clock.Now().UnixNano()
	e := l.entity(Key{t.Kind, t.ID}, now, true)
	if t.TaskID != "" && t.Kind == tasker.KindStep {
		l.setTask(e, t.TaskID, now)
	}
	if t.CorrelationID != "" && e.CorrelationID == "" {
		e.CorrelationID = strings.Clone(t.CorrelationID)
	}

	pos := sort.Search(len(e.entries), func(i int) bool { return e.entries[i].Time > t.Time })
	for i := pos - 1; i >= 0 && e.entries[i].Time == t.Time; i-- {
		if x := &e.entries[i]; x.From == t.From && x.To == t.To {
			l.stats.Duplicates[t.Kind]++
			return Ref[P]{e, x.seq}, Duplicate
		}
	}
	if pos < len(e.entries) {
		l.stats.OutOfOrder[t.Kind]++
		if l.timing.SettleWindow > 0 && l.anySettledAfter(e, pos, now) {
			l.stats.Late[t.Kind]++
		}
	}
	if len(e.entries) >= l.limits.MaxTransitionsPerEntity && !l.dropOldest(e, now) {
		l.stats.Dropped[t.Kind]++
		return Ref[P]{}, Dropped
	}
	pos = sort.Search(len(e.entries), func(i int) bool { return e.entries[i].Time > t.Time })
	l.seq++
	x := Entry[P]{
		Time: t.Time, From: t.From, To: t.To, Attempt: int32(min(t.Attempt, 1<<30)),
		Data: data, arrival: now, seq: l.seq, source: l.source(t.Source, now),
	}
	if t.Namespace != "" {
		// A value on the carrier wins for its transition (§5), whatever is learned later.
		x.ns = l.strs.id(t.Namespace)
		l.learnNamespace(e, t.Namespace)
	}
	if t.Handler != "" && t.Kind == tasker.KindStep {
		l.learnHandler(e, t.Handler)
		// A step's learned handler never changes once set, so an entry needs its own only
		// where it differs.
		if t.Handler != e.Handler {
			x.handler = l.strs.id(t.Handler)
		}
	}
	if e.entries == nil {
		// Most steps make 5 to 15 transitions: start with room for a few, not one.
		e.entries = make([]Entry[P], 0, initialEntries)
	}
	e.entries = append(e.entries, Entry[P]{})
	copy(e.entries[pos+1:], e.entries[pos:])
	e.entries[pos] = x

	if l.sink != nil {
		e.uncounted++
		if e.queuedAt != now { // one visit per entity and arrival time is enough
			e.queuedAt = now
			l.settleQ = append(l.settleQ, queued[P]{e, now})
		}
	}
	l.maybeFinish(e, now)
	return Ref[P]{e, l.seq}, Added
}

// Learn records what a span says about an entity: a task's namespace, a step's handler and
// task. The first value learned stays; a different one is counted as a conflict.
func (l *Log[P]) Learn(h transition.Hint) {
	now := l.clock.Now().UnixNano()
	if h.StepID != "" {
		if h.Handler == "" && h.TaskID == "" && h.Namespace == "" {
			return
		}
		s := l.entity(Key{tasker.KindStep, h.StepID}, now, false)
		if h.Handler != "" {
			l.learnHandler(s, h.Handler)
		}
		if h.TaskID != "" {
			l.setTask(s, h.TaskID, now)
		}
		if h.Namespace != "" {
			l.learnNamespace(s, h.Namespace)
		}
		return
	}
	if h.TaskID != "" && h.Namespace != "" {
		l.learnNamespace(l.entity(Key{tasker.KindTask, h.TaskID}, now, false), h.Namespace)
	}
}

func (l *Log[P]) learnNamespace(e *Entity[P], ns string) {
	if t := l.taskOf(e); t != nil {
		l.learnInto(t, &t.Namespace, ns)
	}
	l.learnInto(e, &e.Namespace, ns)
}

// taskOf returns a step's tracked task, or nil.
func (l *Log[P]) taskOf(s *Entity[P]) *Entity[P] {
	if s.Kind != tasker.KindStep || s.TaskID == "" {
		return nil
	}
	if s.task == nil || s.task.gone {
		s.task = l.entities[tasker.KindTask][s.TaskID]
	}
	return s.task
}

func (l *Log[P]) learnHandler(e *Entity[P], h string) { l.learnInto(e, &e.Handler, h) }

func (l *Log[P]) learnInto(e *Entity[P], field *string, v string) {
	switch *field {
	case "":
		*field = l.strs.str(l.strs.id(v))
		if *field == "" { // the table is full: keep a copy of our own
			*field = strings.Clone(v)
		}
	case v:
	default:
		l.stats.Conflicts[e.Kind]++
	}
}

// setTask links a step to its task (first seen wins), creating the task's record so that
// its namespace can be learned and its end can finish the step.
func (l *Log[P]) setTask(s *Entity[P], taskID string, now int64) {
	if s.TaskID != "" {
		if s.TaskID != taskID {
			l.stats.Conflicts[tasker.KindStep]++
		}
		return
	}
	s.TaskID = strings.Clone(taskID)
	t := l.entity(Key{tasker.KindTask, s.TaskID}, now, false)
	if s.gone { // making room for the task evicted the step itself
		return
	}
	s.task = t
	t.steps = append(t.steps, s)
	if s.Namespace != "" {
		l.learnInto(t, &t.Namespace, s.Namespace)
	}
	if t.finishedAt != 0 {
		l.finish(s, now)
	}
}

// NamespaceOf returns the namespace of a transition: its own value, else what was learned
// for the entity, else for a step's task; "" when unknown.
func (l *Log[P]) NamespaceOf(e *Entity[P], x *Entry[P]) string {
	if x != nil && x.ns != 0 {
		return l.strs.str(x.ns)
	}
	if t := l.taskOf(e); t != nil && t.Namespace != "" {
		return t.Namespace
	}
	return e.Namespace
}

// HandlerOf returns a step transition's handler: its own value, else the learned one.
func (l *Log[P]) HandlerOf(e *Entity[P], x *Entry[P]) string {
	if x != nil && x.handler != 0 {
		return l.strs.str(x.handler)
	}
	return e.Handler
}

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

// source returns the id of a service instance, for clock-skew decisions (§5).
func (l *Log[P]) source(s transition.Source, now int64) uint32 {
	if l.lastSrc != nil && s == l.lastKey {
		l.lastSrc.seen = now
		return l.lastSrc.id
	}
	se, ok := l.sources[s]
	if !ok {
		if len(l.sources) >= maxSources {
			l.evictSource(func(transition.Source, *sourceEntry) bool { return false })
		}
		l.nextSource++
		se = &sourceEntry{id: l.nextSource}
		s = transition.Source{Service: strings.Clone(s.Service), Instance: strings.Clone(s.Instance)}
		l.sources[s] = se
	}
	se.seen = now
	l.lastKey, l.lastSrc = s, se
	return se.id
}

// evictSource removes the least recently seen service instance (when full) and every one
// that idle says to remove.
func (l *Log[P]) evictSource(idle func(transition.Source, *sourceEntry) bool) {
	var oldestKey transition.Source
	var oldest *sourceEntry
	for k, se := range l.sources {
		if idle(k, se) {
			l.dropSource(k)
			continue
		}
		if oldest == nil || se.seen < oldest.seen {
			oldestKey, oldest = k, se
		}
	}
	if oldest != nil && len(l.sources) >= maxSources {
		l.dropSource(oldestKey)
	}
}

func (l *Log[P]) dropSource(k transition.Source) {
	if l.lastSrc != nil && k == l.lastKey {
		l.lastSrc = nil
	}
	delete(l.sources, k)
	l.stats.SourcesEvicted++
}

// expireSources drops the service instances unseen for the idle time-to-live, at most once
// a minute.
func (l *Log[P]) expireSources(now int64) {
	if now-l.lastSweep < sourceSweepEvery {
		return
	}
	l.lastSweep = now
	ttl := int64(l.limits.IdleTTL)
	l.evictSource(func(_ transition.Source, se *sourceEntry) bool { return se.seen+ttl <= now })
}

func (l *Log[P]) anySettledAfter(e *Entity[P], pos int, now int64) bool {
	for i := pos; i < len(e.entries); i++ {
		if l.settled(&e.entries[i], now) {
			return true
		}
	}
	return false
}

func (l *Log[P]) settled(x *Entry[P], now int64) bool {
	return x.arrival+int64(l.timing.SettleWindow) <= now
}

// dropOldest removes the oldest transition that is neither the entity's start (a task's as
// §5 defines it, a step's first record) nor an open claim, and whose facts are derived. When
// every transition is still within its settle window, the entity is settled at once rather
// than lose a transition's count. It reports whether one was removed.
func (l *Log[P]) dropOldest(e *Entity[P], now int64) bool {
	for _, force := range []bool{false, true} {
		if l.sink != nil {
			l.derive(e, now, force)
		}
		if i := l.droppable(e); i >= 0 {
			e.entries = append(e.entries[:i], e.entries[i+1:]...)
			l.stats.Dropped[e.Kind]++
			return true
		}
		if l.sink == nil {
			break
		}
	}
	return false
}

// droppable returns the index of the oldest transition dropOldest may remove, or -1.
func (l *Log[P]) droppable(e *Entity[P]) int {
	var start *Entry[P]
	if e.Kind == tasker.KindTask {
		start = taskStart(e, l.order(e))
	} else if len(e.entries) > 0 && e.entries[0].From == tasker.StateNone {
		start = &e.entries[0]
	}
	open := -1
	if e.Kind == tasker.KindStep {
		for i := range e.entries {
			if x := &e.entries[i]; x.To == tasker.InProgress && x.flags&flagAttemptDone == 0 {
				open = i
			}
		}
	}
	for i := range e.entries {
		x := &e.entries[i]
		if x == start || i == open || l.sink != nil && x.flags&flagCounted == 0 {
			continue
		}
		return i
	}
	return -1
}

// maxInterned bounds the string table: namespaces and handlers are few (tens to hundreds);
// past it, entries lose their own value and fall back to what was learned for the entity.
const maxInterned = 1 << 16

// interner is the log's table of namespaces and handlers: entries refer to them by id, and
// the strings are detached from the batch they arrived in. Id 0 is the empty string.
type interner struct {
	ids    map[string]uint32
	strs   []string
	last   string // runs of one value are common: skip the map
	lastID uint32
	max    int
	full   int64 // values refused since the last TakeStats
}

func newInterner(max int) interner {
	return interner{ids: make(map[string]uint32), strs: []string{""}, max: max}
}

// id returns s's id, adding it if there is room; 0 for "" or a full table.
func (in *interner) id(s string) uint32 {
	if s == "" {
		return 0
	}
	if in.lastID != 0 && s == in.last {
		return in.lastID
	}
	id, ok := in.ids[s]
	if !ok {
		if len(in.strs) > in.max {
			in.full++
			return 0
		}
		c := strings.Clone(s)
		id = uint32(len(in.strs))
		in.strs = append(in.strs, c)
		in.ids[c] = id
	}
	in.last, in.lastID = in.strs[id], id
	return id
}

func (in *interner) str(id uint32) string { return in.strs[id] }
