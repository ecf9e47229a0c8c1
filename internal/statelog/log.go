package statelog

import (
	"hash/maphash"

	"github.com/jonboulle/clockwork"

	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

// Log holds the entity logs. It is not safe for concurrent use; components lock around it.
//
// A log has one of two modes, fixed when it is made: a stamping log (the processor's) is
// read at pass time with Stamps; a deriving log (the connector's) settles its transitions
// and hands the facts they give to a Sink. What only one mode needs lives in that mode's
// state (stamp or derive), in slabs parallel to the shared ones.
type Log[P any] struct {
	limits Limits
	timing Timing
	clock  clockwork.Clock
	seed   maphash.Seed

	// ents is the entity slab (position 0 is unused: 0 means none); free positions are
	// linked through their age link. byID finds an entity by kind and id; ids holds the ids
	// that are not canonical UUIDs.
	ents       slab[entity]
	freeEnts   uint32
	count      [tasker.NumKinds]int
	byID       index
	ids        arena
	unfinished list // by age link, most recently seen first
	finished   list // by age link, in finishing order

	// trs is the transition slab, data the component's payload of each (parallel to trs);
	// free positions are linked through their next link.
	trs     slab[entry]
	data    slab[P]
	freeTrs uint32

	names   names
	sources sources
	ordBufs [2][]uint32 // scratch for order: one for an entity, one for another it consults
	stats   Stats

	stamp  *stamping
	derive *deriving[P]
	// maxDuration is limits.max_duration in seconds.
	maxDuration float64
	prefetched  uint32 // see Prefetch
}

// stamping is the state of a stamping log.
type stamping struct {
	read slab[uint8] // parallel to trs: which stamps a transition got when first read (stamp* bits)
}

// NewStamping returns an empty stamping log (the processor's): its transitions are read at
// pass time with Stamps, and no facts are derived.
func NewStamping[P any](limits Limits, timing Timing, clock clockwork.Clock) *Log[P] {
	l := makeLog[P](limits, timing, clock)
	l.stamp = &stamping{}
	return l
}

// NewDeriving returns an empty deriving log (the connector's): each transition settles the
// settle window after its arrival, and the facts of settled transitions go to sink, each
// exactly once.
func NewDeriving[P any](limits Limits, timing Timing, clock clockwork.Clock, sink Sink[P]) *Log[P] {
	l := makeLog[P](limits, timing, clock)
	l.derive = newDeriving(sink)
	return l
}

// NewShared returns an empty log that does both: a processor reads its stamps at pass time
// and a connector's sink receives its facts, from one log (the tasker_state extension).
func NewShared[P any](limits Limits, timing Timing, clock clockwork.Clock, sink Sink[P]) *Log[P] {
	l := makeLog[P](limits, timing, clock)
	l.stamp = &stamping{}
	l.derive = newDeriving(sink)
	return l
}

func makeLog[P any](limits Limits, timing Timing, clock clockwork.Clock) *Log[P] {
	return &Log[P]{
		maxDuration: limits.MaxDuration.Seconds(),
		limits:      limits,
		timing:      timing,
		clock:       clock,
		seed:        maphash.MakeSeed(),
		names:       newNames(),
		sources:     newSources(),
	}
}

// Len returns the number of tracked entities.
func (l *Log[P]) Len() int { return l.count[tasker.KindTask] + l.count[tasker.KindStep] }

// TakeStats returns the counters since the last call and resets them.
func (l *Log[P]) TakeStats() Stats {
	s := l.stats
	s.NamesNotInterned, l.names.full = l.names.full, 0
	s.SourcesEvicted, l.sources.evicted = l.sources.evicted, 0
	l.stats = Stats{}
	return s
}

// Add enters a transition into its entity's log, ordered by telemetry time. An identical
// transition (same from, to and time) is a duplicate: nothing changes and the Ref points at
// the original.
func (l *Log[P]) Add(t *transition.Transition, data P) (Ref, Status) {
	now := l.clock.Now().UnixNano()
	ei := l.entity(t.Kind, t.ID, now, 0)
	if t.TaskID != "" && t.Kind == tasker.KindStep {
		l.setTask(ei, t.TaskID, now)
	}
	if l.derive != nil && t.CorrelationID != "" {
		l.derive.setCorrelation(l, ei, t.CorrelationID)
	}
	tm := int64(t.Time)
	ref := Ref{ent: ei, gen: l.ents.at(ei).gen, time: tm, from: t.From, to: t.To}

	// The transitions are in time order: look for the place from the end, where most land.
	at := l.placeFor(ei, tm)
	for p := at; p != 0 && l.trs.at(p).time == tm; p = l.trs.at(p).prev {
		if x := l.trs.at(p); x.from == t.From && x.to == t.To {
			l.stats.Duplicates[t.Kind]++
			return ref, Duplicate
		}
	}
	if at != l.ents.at(ei).log.tail {
		l.stats.OutOfOrder[t.Kind]++
		if l.derive != nil && l.derive.anySettledAfter(l, ei, at, now) {
			l.stats.Late[t.Kind]++
		}
	}
	if int(l.ents.at(ei).n) >= l.limits.MaxTransitionsPerEntity && !l.dropOldest(ei, now) {
		l.stats.Dropped[t.Kind]++
		return Ref{}, Dropped
	}
	p := l.allocEntry(ei)
	e := l.ents.at(ei)
	x := entry{time: tm, from: t.From, to: t.To, attempt: uint16(min(t.Attempt, 1<<16-1)), source: l.sources.id(t.Source, now)}
	if t.Namespace != "" {
		// A value on the carrier wins for its transition (§5), whatever is learned later.
		x.ns = l.names.id(t.Namespace)
		l.learnNamespace(ei, x.ns)
	}
	if t.Handler != "" && t.Kind == tasker.KindStep {
		h := l.names.id(t.Handler)
		l.learnInto(e.kind, &e.handler, h)
		// A step's learned handler never changes once set, so an entry needs its own only
		// where it differs.
		if h != e.handler {
			x.handler = h
		}
	}
	*l.trs.at(p) = x
	*l.data.at(p) = data
	// Where the transition goes is looked for again: making room may have dropped one.
	e.log.insertAfter(l.placeFor(ei, tm), p, l.trLink)
	e.n++
	if tasker.MachineOf(e.kind).Terminal(x.to) && (e.end == 0 || tm < l.trs.at(e.end).time) {
		e.end = p
	}
	if l.stamp != nil {
		*l.stamp.read.at(p) = 0
	}
	if l.derive != nil {
		l.derive.added(l, ei, p, now)
	}
	l.maybeFinish(ei, now)
	return ref, Added
}

// placeFor returns the transition after which one at time tm goes (0: at the front): the
// last one not later than tm.
func (l *Log[P]) placeFor(ei uint32, tm int64) uint32 {
	p := l.ents.at(ei).log.tail
	for p != 0 && l.trs.at(p).time > tm {
		p = l.trs.at(p).prev
	}
	return p
}

func (l *Log[P]) trLink(p uint32) *link  { return &l.trs.at(p).link }
func (l *Log[P]) ageLink(i uint32) *link { return &l.ents.at(i).age }
func (l *Log[P]) sibLink(i uint32) *link { return &l.ents.at(i).sib }

// Learn records what a span says about an entity: a task's namespace, a step's handler and
// task. The first value learned stays; a different one is counted as a conflict.
func (l *Log[P]) Learn(h transition.Hint) {
	now := l.clock.Now().UnixNano()
	if h.StepID != "" {
		if h.Handler == "" && h.TaskID == "" && h.Namespace == "" {
			return
		}
		si := l.entity(tasker.KindStep, h.StepID, now, 0)
		if h.Handler != "" {
			s := l.ents.at(si)
			l.learnInto(s.kind, &s.handler, l.names.id(h.Handler))
		}
		if h.TaskID != "" {
			l.setTask(si, h.TaskID, now)
		}
		if h.Namespace != "" {
			l.learnNamespace(si, l.names.id(h.Namespace))
		}
		return
	}
	if h.TaskID != "" && h.Namespace != "" {
		l.learnNamespace(l.entity(tasker.KindTask, h.TaskID, now, 0), l.names.id(h.Namespace))
	}
}

// learnNamespace teaches an entity (and a step's task) its namespace.
func (l *Log[P]) learnNamespace(ei uint32, ns uint32) {
	if ns == 0 {
		return
	}
	e := l.ents.at(ei)
	if e.task != 0 {
		l.learnTaskNamespace(e.task, ns)
	}
	if e.kind == tasker.KindTask {
		l.learnTaskNamespace(ei, ns)
		return
	}
	l.learnInto(e.kind, &e.ns, ns)
}

// learnTaskNamespace teaches a task its namespace; a deriving log then files its live
// steps under it (§7 Live state).
func (l *Log[P]) learnTaskNamespace(ti uint32, ns uint32) {
	t := l.ents.at(ti)
	first := t.ns == 0
	l.learnInto(t.kind, &t.ns, ns)
	if first && l.derive != nil {
		l.derive.namespaceLearned(l, ti)
	}
}

func (l *Log[P]) learnInto(kind tasker.Kind, field *uint32, v uint32) {
	switch *field {
	case 0:
		*field = v
	case v:
	default:
		if v != 0 {
			l.stats.Conflicts[kind]++
		}
	}
}

// setTask links a step to its task (first seen wins), creating the task's record so that
// its namespace can be learned and its end can finish the step.
func (l *Log[P]) setTask(si uint32, taskID string, now int64) {
	if ti := l.ents.at(si).task; ti != 0 {
		if !l.isID(ti, tasker.KindTask, taskID) {
			l.stats.Conflicts[tasker.KindStep]++
		}
		return
	}
	ti := l.entity(tasker.KindTask, taskID, now, si) // making room for the task spares the step
	s := l.ents.at(si)
	s.task = ti
	t := l.ents.at(ti)
	t.steps.pushBack(si, l.sibLink)
	if s.ns != 0 {
		l.learnTaskNamespace(ti, s.ns)
	}
	if l.ents.at(ti).finished {
		l.finish(si, now)
	}
}

// namespaceOf returns the namespace id of a transition (p 0: of the entity): its own value,
// else what was learned for the step's task, else for the entity.
func (l *Log[P]) namespaceOf(ei, p uint32) uint32 {
	if p != 0 && l.trs.at(p).ns != 0 {
		return l.trs.at(p).ns
	}
	e := l.ents.at(ei)
	if e.task != 0 && l.ents.at(e.task).ns != 0 {
		return l.ents.at(e.task).ns
	}
	return e.ns
}

// handlerOf returns a step transition's handler id: its own value, else the learned one.
func (l *Log[P]) handlerOf(ei, p uint32) uint32 {
	if p != 0 && l.trs.at(p).handler != 0 {
		return l.trs.at(p).handler
	}
	return l.ents.at(ei).handler
}

// Tracked reports whether the referenced transition's entity is still tracked.
func (l *Log[P]) Tracked(r Ref) bool {
	return r.ent != 0 && r.ent < l.ents.n && l.ents.at(r.ent).gen == r.gen && l.ents.at(r.ent).log.head != 0
}

// Entity is what the log knows of one tracked entity, as values (tests and diagnostics).
type Entity struct {
	Kind               tasker.Kind
	ID, TaskID         string
	Namespace, Handler string
	// Transitions are its log in telemetry-time order, as "from>to".
	Transitions []string
	Finished    bool
}

// Len returns the number of transitions the entity's log holds.
func (e *Entity) Len() int { return len(e.Transitions) }

// Get returns what the log holds of an entity, or nil when it is not tracked. It allocates.
func (l *Log[P]) Get(k tasker.Kind, id string) *Entity {
	ei := l.lookup(k, id)
	if ei == 0 {
		return nil
	}
	e := l.ents.at(ei)
	out := &Entity{Kind: e.kind, ID: l.ids.idString(&e.id), Namespace: l.names.str(l.namespaceOf(ei, 0)),
		Handler: l.names.str(e.handler), Finished: e.finished}
	if e.task != 0 {
		out.TaskID = l.ids.idString(&l.ents.at(e.task).id)
	}
	for p := e.log.head; p != 0; p = l.trs.at(p).next {
		out.Transitions = append(out.Transitions, l.trs.at(p).from.String()+">"+l.trs.at(p).to.String())
	}
	return out
}
