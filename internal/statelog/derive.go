package statelog

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// A deriving log (the connector's) settles each transition the settle window after its
// arrival and derives, from the settled prefix of each entity's effective order, every fact
// exactly once (§5, §7).

// settling is a transition's state in a deriving log.
type settling struct {
	arrival int64 // collector clock, ns
	flags   uint8 // which facts it has taken part in (flag*), so each is derived once
}

const (
	flagCounted       uint8 = 1 << iota // counted as a transition
	flagEntryMeasured                   // the time in its from-state was derived
	flagExitMeasured                    // the time in its to-state was derived
	flagAttemptDone                     // a claim whose attempt was counted or abandoned
	flagClosedAttempt                   // a transition that closed a counted attempt
)

// dentity is an entity's state in a deriving log.
type dentity struct {
	// due: while it has unsettled transitions (queued), it is in the settle queue, due at
	// the arrival of the earliest of them; qseq: when it joined the queue, so that entities
	// due at the same moment settle in the order they arrived.
	due       int64
	qseq      uint32
	corr      idRef // its correlation id
	uncounted uint16
	queued    bool
	// completionDone: a task's completion was derived; outcomeDone: a step's outcome;
	// endDone: a task's end has settled and been carried to its steps.
	completionDone, outcomeDone, endDone bool
	live                                 liveState
}

type deriving[P any] struct {
	sink Sink[P]
	// resourceOf says which output resource a transition's payload belongs to (0 when the
	// sink does not say): live entities are grouped by it.
	resourceOf func(*P) uint32
	// release, when the sink wants it, is told of each transition's payload as the log lets
	// the transition go.
	release func(*P)
	ents    slab[dentity]  // parallel to Log.ents
	trs     slab[settling] // parallel to Log.trs
	queue   minHeap        // over ents, by dentity.due then dentity.qseq
	qseq    uint32         // the next dentity.qseq
	liveGen uint32         // the next liveState.gen
	inQueue heapValid
	live    liveTable
	fact    Fact[P]
}

func newDeriving[P any](sink Sink[P]) *deriving[P] {
	d := &deriving[P]{sink: sink, live: newLiveTable()}
	d.inQueue = func(it heapItem) bool {
		de := d.ents.at(it.pos)
		return de.queued && de.qseq == it.stamp && de.due == it.key
	}
	d.resourceOf = func(*P) uint32 { return 0 }
	if r, ok := sink.(Resourcer[P]); ok {
		d.resourceOf = r.Resource
	}
	if r, ok := sink.(Releaser[P]); ok {
		d.release = r.Release
	}
	return d
}

// Releaser, when a Sink implements it, is told of each transition's payload as the log lets
// the transition go (evicted, dropped from a full log, or at Close), so that what the
// payload refers to can be freed.
type Releaser[P any] interface {
	Release(*P)
}

// Resourcer, when a Sink implements it, says which output resource a transition's payload
// belongs to (a small integer of the sink's), so that live entities are grouped by it (§7:
// a live entity belongs to the resource of its latest transition).
type Resourcer[P any] interface {
	Resource(*P) uint32
}

// enqueue puts an entity in the settle queue, due at due.
func (d *deriving[P]) enqueue(i uint32, due int64) {
	de := d.ents.at(i)
	de.queued, de.due, de.qseq = true, due, d.qseq
	d.qseq++
	d.queue.push(heapItem{key: due, stamp: de.qseq, pos: i})
}

func (d *deriving[P]) bytes() int64 {
	return d.ents.bytes() + d.trs.bytes() + d.queue.bytes() + d.live.bytes()
}

// made resets the state of a new entity.
func (d *deriving[P]) made(i uint32) { *d.ents.at(i) = dentity{} }

// added records a transition's arrival and queues its entity to settle.
func (d *deriving[P]) added(l *Log[P], ei, p uint32, now int64) {
	*d.trs.at(p) = settling{arrival: now}
	de := d.ents.at(ei)
	de.uncounted++
	if !de.queued {
		d.enqueue(ei, now)
	}
}

func (d *deriving[P]) setCorrelation(l *Log[P], ei uint32, id string) {
	if d.ents.at(ei).corr.form != idNone {
		return
	}
	u, ok := parseUUID(id)
	if !ok {
		l.roomForID(len(id), ei)
	}
	d.ents.at(ei).corr = l.ids.makeParsedID(id, u, ok)
}

// correlation returns an entity's correlation id, else its task's.
func (d *deriving[P]) correlation(l *Log[P], ei uint32) CorrelationID {
	r := &d.ents.at(ei).corr
	if t := l.ents.at(ei).task; r.form == idNone && t != 0 {
		r = &d.ents.at(t).corr
	}
	switch r.form {
	case idUUID:
		return CorrelationID{uuid: r.b, set: true}
	case idArena:
		return CorrelationID{s: l.ids.idString(r), set: true}
	}
	return CorrelationID{}
}

func (d *deriving[P]) moveIDs(move func(off, n uint32) uint32) {
	for i := uint32(1); i < d.ents.n; i++ {
		if r := &d.ents.at(i).corr; r.form == idArena {
			off, n := r.arenaRef()
			r.setArena(move(off, n), n)
		}
	}
}

func (d *deriving[P]) counted(p uint32) bool     { return d.trs.at(p).flags&flagCounted != 0 }
func (d *deriving[P]) attemptDone(p uint32) bool { return d.trs.at(p).flags&flagAttemptDone != 0 }
func (d *deriving[P]) allSettled(i uint32) bool  { return d.ents.at(i).uncounted == 0 }

// anySettledAfter reports whether a transition of entity ei later than the one at position
// at (0: before the first) has settled: one placed after at then arrives late.
func (d *deriving[P]) anySettledAfter(l *Log[P], ei, at uint32, now int64) bool {
	p := l.ents.at(ei).log.head
	if at != 0 {
		p = l.trs.at(at).next
	}
	for ; p != 0; p = l.trs.at(p).next {
		if d.settled(l, p, now) {
			return true
		}
	}
	return false
}

// leaving settles an entity that is about to be evicted and forgets its state.
func (d *deriving[P]) leaving(l *Log[P], i uint32, now int64) {
	d.derive(l, i, now, true)
	de := d.ents.at(i)
	if de.live.series != 0 {
		l.stats.LiveEvicted[l.ents.at(i).kind]++
		d.leaveLive(i)
	}
	queued := de.queued
	l.ids.freeID(&de.corr)
	*de = dentity{}
	if queued {
		d.queue.left(d.inQueue)
	}
}

// namespaceLearned files a task's live entities under the namespace it has just learned.
func (d *deriving[P]) namespaceLearned(l *Log[P], ti uint32) {
	d.refile(l, ti)
	for s := l.ents.at(ti).steps.head; s != 0; s = l.ents.at(s).sib.next {
		d.refile(l, s)
	}
}

// Settle derives the facts of every transition whose settle window has passed.
func (l *Log[P]) Settle() {
	d := l.derive
	now := l.clock.Now().UnixNano()
	window := int64(l.timing.SettleWindow)
	for {
		it, ok := d.queue.top(d.inQueue)
		if !ok || it.key+window > now {
			return
		}
		i := it.pos
		d.queue.pop()
		d.ents.at(i).queued = false
		d.derive(l, i, now, false)
		d.requeue(l, i, now)
	}
}

// SettleAll derives every fact it can now, whatever the settle window (shutdown).
func (l *Log[P]) SettleAll() {
	d := l.derive
	now := l.clock.Now().UnixNano()
	for {
		it, ok := d.queue.top(d.inQueue)
		if !ok {
			return
		}
		i := it.pos
		d.queue.pop()
		d.ents.at(i).queued = false
		d.derive(l, i, now, true)
	}
}

// requeue puts an entity that still has unsettled transitions back in the settle queue, due
// when the earliest of them settles.
func (d *deriving[P]) requeue(l *Log[P], i uint32, now int64) {
	de := d.ents.at(i)
	if de.uncounted == 0 {
		return
	}
	window := int64(l.timing.SettleWindow)
	due := int64(0)
	for p := l.ents.at(i).log.head; p != 0; p = l.trs.at(p).next {
		if s := d.trs.at(p); s.flags&flagCounted == 0 && s.arrival+window > now && (due == 0 || s.arrival < due) {
			due = s.arrival
		}
	}
	if due == 0 {
		due = now // cannot happen: a settled transition that is not counted follows an unsettled one
	}
	d.enqueue(i, due)
}

func (d *deriving[P]) settled(l *Log[P], p uint32, now int64) bool {
	return d.trs.at(p).arrival+int64(l.timing.SettleWindow) <= now
}

// prefix returns how many transitions of ord have settled, in order (all when force).
func (d *deriving[P]) prefix(l *Log[P], ord []uint32, now int64, force bool) int {
	if force {
		return len(ord)
	}
	n := 0
	for n < len(ord) && d.settled(l, ord[n], now) {
		n++
	}
	return n
}

// emit hands one fact, of the transition at position p, to the sink.
func (d *deriving[P]) emit(l *Log[P], ei uint32, t FactType, p uint32) {
	f := &d.fact
	x := l.trs.at(p)
	f.Type, f.Kind, f.From, f.To = t, l.ents.at(ei).kind, x.from, x.to
	f.Time = pcommon.Timestamp(x.time)
	f.Data = l.data.at(p)
	f.Namespace = l.names.str(l.namespaceOf(ei, p))
	f.Handler = ""
	if f.Kind == tasker.KindStep {
		f.Handler = l.names.str(l.handlerOf(ei, p))
	}
	f.Correlation = d.correlation(l, ei)
	f.log, f.ent = l, ei
	d.sink.Fact(f)
	f.Data = nil
}

// derive emits, exactly once each, the facts of the entity's settled prefix (its whole log
// when force is set).
func (d *deriving[P]) derive(l *Log[P], ei uint32, now int64, force bool) {
	de := d.ents.at(ei)
	if de.uncounted == 0 {
		// Every transition was settled and derived in a pass like this one: another pass
		// would find nothing new.
		return
	}
	ord := l.order(ei, 0)
	n := d.prefix(l, ord, now, force)
	if n == 0 {
		return
	}
	kind := l.ents.at(ei).kind
	m := tasker.MachineOf(kind)
	trs, f := &l.trs, &d.fact

	for _, p := range ord[:n] {
		s := d.trs.at(p)
		if s.flags&flagCounted != 0 {
			continue
		}
		s.flags |= flagCounted
		de.uncounted--
		f.Event, f.Invalid = m.EventName(trs.at(p).from, trs.at(p).to), !m.Valid(trs.at(p).from, trs.at(p).to)
		d.emit(l, ei, FactTransition, p)
	}
	f.Event, f.Invalid = "", false

	for k := 1; k < n; k++ {
		pp, cp := ord[k-1], ord[k]
		secs, skewed, ok := timeInState(m, trs.at(pp), trs.at(cp))
		if !ok || d.trs.at(pp).flags&flagExitMeasured != 0 || d.trs.at(cp).flags&flagEntryMeasured != 0 {
			continue
		}
		d.trs.at(pp).flags |= flagExitMeasured
		d.trs.at(cp).flags |= flagEntryMeasured
		if skewed {
			l.stats.Skewed[kind]++
		}
		if !l.plausible(secs) {
			l.stats.DurationsRefused[kind]++
			continue
		}
		f.State, f.Seconds = m.Canonical(trs.at(cp).from), secs
		d.emit(l, ei, FactStateDuration, laterOf(trs, pp, cp))
	}

	if kind == tasker.KindStep {
		d.deriveAttempts(l, ei, ord[:n])
	} else if !de.completionDone {
		d.deriveCompletion(l, ei, ord[:n])
	}
	d.settledState(l, ei, ord, n, now, force)
}

func (d *deriving[P]) deriveAttempts(l *Log[P], ei uint32, ord []uint32) {
	var w attemptWalk
	trs, f := &l.trs, &d.fact
	for _, p := range ord {
		ev := w.next(trs, p)
		if c := ev.abandoned; c != 0 && d.trs.at(c).flags&flagAttemptDone == 0 {
			d.trs.at(c).flags |= flagAttemptDone
			l.stats.Abandoned++
		}
		c := ev.closed
		if c == 0 || d.trs.at(c).flags&flagAttemptDone != 0 {
			continue
		}
		d.trs.at(c).flags |= flagAttemptDone
		if d.trs.at(p).flags&flagClosedAttempt != 0 {
			// This transition already closed an attempt: the claim arrived late, between an
			// attempt already counted and its close. It counts nothing (it was counted late).
			continue
		}
		d.trs.at(p).flags |= flagClosedAttempt
		f.Ordinal, f.Outcome = ev.ordinal, ev.outcome
		d.emit(l, ei, FactAttempt, laterOf(trs, c, p))
	}
}

func (d *deriving[P]) deriveCompletion(l *Log[P], ei uint32, ord []uint32) {
	m := tasker.TaskMachine
	trs, f := &l.trs, &d.fact
	for k, p := range ord {
		if !m.Terminal(trs.at(p).to) {
			continue
		}
		// A task first seen as none → terminal took 0 s.
		secs, start, ok := taskDuration(trs, ord, k)
		if !ok {
			return // wait: a start that arrives late still gives the completion
		}
		d.ents.at(ei).completionDone = true
		if !l.plausible(secs) {
			l.stats.DurationsRefused[tasker.KindTask]++
			return
		}
		f.State, f.Seconds = m.Canonical(trs.at(p).to), secs
		d.emit(l, ei, FactCompletion, laterOf(trs, start, p))
		return
	}
}

// settledState brings what follows from an entity's settled transitions up to date: a
// step's outcome, once decided, and for a task whose end has settled, the outcomes of its
// steps that gave up; then the entity's live state (§7).
func (d *deriving[P]) settledState(l *Log[P], ei uint32, ord []uint32, n int, now int64, force bool) {
	if l.ents.at(ei).kind == tasker.KindStep {
		d.decideOutcome(l, ei, ord, n)
	} else if end := l.taskEnd(ei); end != 0 && d.counted(end) && !d.ents.at(ei).endDone {
		// Once: a step whose transitions settle later sees the task's end in its own derive.
		d.ents.at(ei).endDone = true
		// The task's end decides its steps: those in error gave up, and none is live any more.
		for s := l.ents.at(ei).steps.head; s != 0; s = l.ents.at(s).sib.next {
			sord := l.order(s, 1)
			sn := d.prefix(l, sord, now, force)
			d.decideOutcome(l, s, sord, sn)
			d.updateLive(l, s, sord[:sn])
		}
	}
	d.updateLive(l, ei, ord[:n])
}

// decideOutcome derives a step's outcome (§7 Step outcomes across retries) once it is decided
// by settled transitions: the deciding one settled, and for a step that gave up, its task's
// end settled and every step transition up to it too.
func (d *deriving[P]) decideOutcome(l *Log[P], si uint32, ord []uint32, n int) {
	if d.ents.at(si).outcomeDone || n == 0 {
		return
	}
	var taskEnd int64
	end := l.taskEnd(l.ents.at(si).task)
	if end != 0 {
		taskEnd = l.trs.at(end).time
	}
	dec := decideStep(&l.trs, ord[:n], taskEnd)
	if dec.at < 0 {
		return
	}
	if dec.outcome == tasker.Error {
		if !d.counted(end) || n < len(ord) && l.trs.at(ord[n]).time <= taskEnd {
			return // the task's end, or a step transition before it, is still to settle
		}
	}
	d.ents.at(si).outcomeDone = true
	f := &d.fact
	f.Outcome, f.Seconds, f.Ordinal = dec.outcome.String(), dec.seconds(&l.trs, ord), dec.attempts
	if f.Refused = !l.plausible(f.Seconds); f.Refused {
		l.stats.DurationsRefused[tasker.KindStep]++
	}
	d.emit(l, si, FactStepOutcome, ord[dec.at])
	f.Outcome, f.Refused = "", false
}
