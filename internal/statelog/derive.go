package statelog

import (
	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// FactType says what a Fact is.
type FactType uint8

const (
	// FactTransition: a recognised, non-duplicate transition, once settled.
	FactTransition FactType = iota
	// FactStateDuration: the time spent in State, between two chained transitions.
	FactStateDuration
	// FactAttempt: a step attempt closed, with its ordinal and outcome.
	FactAttempt
	// FactCompletion: a task reached its first terminal state; Seconds since its start.
	FactCompletion
)

// Fact is one derived fact. Entry is the transition it belongs to: of a pair, the later one
// in telemetry time (§7: a fact derived from two transitions belongs to the resource of the
// later one in telemetry time).
type Fact[P any] struct {
	Type   FactType
	Entity *Entity[P]
	Entry  *Entry[P]
	// Namespace and Handler as resolved for Entry ("" when unknown).
	Namespace, Handler string
	// FactTransition: the event name ("" when no row matches) and whether the move is invalid.
	Event   string
	Invalid bool
	// FactStateDuration: the state (canonical); FactCompletion: the terminal state.
	State   tasker.State
	Seconds float64
	// FactAttempt.
	Ordinal int
	Outcome string
}

// Sink receives derived facts. The Fact and its pointers are valid only during the call.
type Sink[P any] interface {
	Fact(f *Fact[P])
}

// Settle derives the facts of every transition whose settle window has passed.
func (l *Log[P]) Settle() {
	now := l.clock.Now().UnixNano()
	window := int64(l.timing.SettleWindow)
	n := 0
	for ; n < len(l.settleQ) && l.settleQ[n].arrival+window <= now; n++ {
		if e := l.settleQ[n].e; !e.gone {
			l.derive(e, now, false)
		}
	}
	// Move what remains to the front, so that the queue's array is reused, not regrown.
	rest := copy(l.settleQ, l.settleQ[n:])
	clear(l.settleQ[rest:])
	l.settleQ = l.settleQ[:rest]
}

// SettleAll derives every fact it can now, whatever the settle window (shutdown).
func (l *Log[P]) SettleAll() {
	now := l.clock.Now().UnixNano()
	for _, q := range l.settleQ {
		if !q.e.gone {
			l.derive(q.e, now, true)
		}
	}
	clear(l.settleQ)
	l.settleQ = l.settleQ[:0]
}

// order returns the entity's transitions in effective order (§5), as indexes into entries:
// telemetry time; equal times, the chain decides, then arrival. Clock skew exists only between
// services: where a transition does not chain onto the one before it, a later one from
// another service that does, less than the maximum clock skew later (or at an equal time),
// moves up. Transitions of one service keep their time order; a chain that still breaks is a
// gap.
func (l *Log[P]) order(e *Entity[P]) []int {
	ord := l.scratch[:0]
	for i := range e.entries {
		ord = append(ord, i)
	}
	ents := e.entries
	skew := int64(l.timing.MaxClockSkew)
	m := tasker.MachineOf(e.Kind)
	// Equal times: the chain decides, then arrival. Entries of equal time are held in
	// arrival order; each run of them is put in chain order first.
	for i := 0; i < len(ord); {
		j := i + 1
		for j < len(ord) && ents[ord[j]].Time == ents[ord[i]].Time {
			j++
		}
		if j-i > 1 && j-i <= maxTieRun {
			var before *Entry[P]
			if i > 0 {
				before = &ents[ord[i-1]]
			}
			chainTies(m, ents, ord[i:j], before)
		}
		i = j
	}
	for i := 1; i < len(ord); i++ {
		prev, cur := &ents[ord[i-1]], &ents[ord[i]]
		if chains(m, prev.To, cur.From) {
			continue
		}
		prevTo := m.Canonical(prev.To)
		for j := i + 1; j < len(ord); j++ {
			cand := &ents[ord[j]]
			gap := int64(cand.Time) - int64(cur.Time)
			tie := gap == 0
			if !tie && gap >= skew {
				break
			}
			if !tie && cand.source == cur.source {
				continue
			}
			if m.Canonical(cand.From) == prevTo && (tie || !sourceBetween(ents, ord[i:j], cand.source)) {
				moved := ord[j]
				copy(ord[i+1:j+1], ord[i:j])
				ord[i] = moved
				break
			}
		}
	}
	l.scratch = ord
	return ord
}

// maxTieRun bounds the transitions of one entity at one telemetry time that chainTies puts
// in chain order (its cost grows with the cube of the run); Tasker's own runs are two or
// three long, and longer ones are left to the pairwise corrections of order.
const maxTieRun = 16

// chainTies orders run, transitions of equal time in arrival order, by their chain: at each
// position the first that chains onto the transition before it (before, for the first
// position, may be nil), else the first that no other remaining one leads into (the head of
// a chain), else the first; the others keep their arrival order.
func chainTies[P any](m *tasker.Machine, ents []Entry[P], run []int, before *Entry[P]) {
	for k := range run {
		if k > 0 {
			before = &ents[run[k-1]]
		}
		pick := -1
		if before != nil {
			for c := k; c < len(run); c++ {
				if chains(m, before.To, ents[run[c]].From) {
					pick = c
					break
				}
			}
		}
		for c := k; c < len(run) && pick < 0; c++ {
			head := true
			for o := k; o < len(run) && head; o++ {
				head = o == c || !chains(m, ents[run[o]].To, ents[run[c]].From)
			}
			if head {
				pick = c
			}
		}
		if pick > k {
			moved := run[pick]
			copy(run[k+1:pick+1], run[k:pick])
			run[k] = moved
		}
	}
}

// laterOf returns the later of a fact's two transitions in telemetry time, the one the fact
// belongs to (§7); the second in effective order when their times are equal. They differ
// only where clock skew was corrected.
func laterOf[P any](first, second *Entry[P]) *Entry[P] {
	if first.Time > second.Time {
		return first
	}
	return second
}

// sourceBetween reports whether any of the transitions in span came from source src.
func sourceBetween[P any](ents []Entry[P], span []int, src uint32) bool {
	for _, i := range span {
		if ents[i].source == src {
			return true
		}
	}
	return false
}

func chains(m *tasker.Machine, prev, cur tasker.State) bool {
	return m.Canonical(prev) == m.Canonical(cur)
}

func seconds(later, earlier uint64) (float64, bool) {
	if later < earlier {
		return 0, true
	}
	return float64(later-earlier) / 1e9, false
}

// closingOutcome is the outcome of an attempt closed by a transition into s (§7), or "".
func closingOutcome(s tasker.State) string {
	switch s {
	case tasker.Complete:
		return "success"
	case tasker.Error, tasker.WaitingForRetry:
		return "error"
	case tasker.Cancelled:
		return "cancelled"
	case tasker.ResolvedManually:
		return "resolved_manually"
	}
	return ""
}

// derive emits, exactly once each, the facts of the entity's settled prefix (its whole log
// when force is set).
func (l *Log[P]) derive(e *Entity[P], now int64, force bool) {
	if e.uncounted == 0 {
		// Every transition was settled and derived in a pass like this one: another pass
		// would find nothing new.
		return
	}
	ord := l.order(e)
	n := 0
	for n < len(ord) && (force || l.settled(&e.entries[ord[n]], now)) {
		n++
	}
	if n == 0 {
		return
	}
	m := tasker.MachineOf(e.Kind)
	f := Fact[P]{Entity: e}
	emit := func(t FactType, x *Entry[P]) {
		f.Type, f.Entry = t, x
		f.Namespace = l.NamespaceOf(e, x)
		if e.Kind == tasker.KindStep {
			f.Handler = l.HandlerOf(e, x)
		}
		l.sink.Fact(&f)
	}

	for _, i := range ord[:n] {
		x := &e.entries[i]
		if x.flags&flagCounted != 0 {
			continue
		}
		x.flags |= flagCounted
		e.uncounted--
		f.Event, f.Invalid = m.EventName(x.From, x.To), !m.Valid(x.From, x.To)
		emit(FactTransition, x)
	}
	f.Event, f.Invalid = "", false

	for k := 1; k < n; k++ {
		p, c := &e.entries[ord[k-1]], &e.entries[ord[k]]
		if !chains(m, p.To, c.From) || p.flags&flagExitMeasured != 0 || c.flags&flagEntryMeasured != 0 {
			continue
		}
		p.flags |= flagExitMeasured
		c.flags |= flagEntryMeasured
		secs, skewed := seconds(uint64(c.Time), uint64(p.Time))
		if skewed {
			l.stats.Skewed[e.Kind]++
		}
		f.State, f.Seconds = m.Canonical(c.From), secs
		emit(FactStateDuration, laterOf(p, c))
	}

	if e.Kind == tasker.KindStep {
		l.deriveAttempts(e, ord[:n], &f, emit)
	} else if !e.completionDone {
		l.deriveCompletion(e, ord[:n], &f, emit)
	}
}

func (l *Log[P]) deriveAttempts(e *Entity[P], ord []int, f *Fact[P], emit func(FactType, *Entry[P])) {
	open, claims, ordinal := -1, 0, 0
	for _, i := range ord {
		x := &e.entries[i]
		if x.To == tasker.InProgress {
			claims++
			if open >= 0 && e.entries[open].flags&flagAttemptDone == 0 {
				e.entries[open].flags |= flagAttemptDone
				l.stats.Abandoned++
			}
			open, ordinal = i, claims
			if x.Attempt > 0 {
				ordinal = int(x.Attempt)
			}
			continue
		}
		outcome := closingOutcome(x.To)
		if outcome == "" || open < 0 {
			continue
		}
		claim := &e.entries[open]
		open = -1
		if claim.flags&flagAttemptDone != 0 {
			continue
		}
		claim.flags |= flagAttemptDone
		if x.flags&flagClosedAttempt != 0 {
			// This transition already closed an attempt: the claim arrived late, between an
			// attempt already counted and its close. It counts nothing (it was counted late).
			continue
		}
		x.flags |= flagClosedAttempt
		f.Ordinal, f.Outcome = ordinal, outcome
		emit(FactAttempt, laterOf(claim, x))
	}
}

func (l *Log[P]) deriveCompletion(e *Entity[P], ord []int, f *Fact[P], emit func(FactType, *Entry[P])) {
	m := tasker.TaskMachine
	for k, i := range ord {
		x := &e.entries[i]
		if !m.Terminal(x.To) {
			continue
		}
		start := taskStart(e, ord[:k+1]) // a task first seen as none → terminal took 0 s
		if start == nil {
			return // wait: a start that arrives late still gives the completion
		}
		e.completionDone = true
		secs, _ := seconds(uint64(x.Time), uint64(start.Time))
		f.State, f.Seconds = m.Canonical(x.To), secs
		emit(FactCompletion, laterOf(start, x))
		return
	}
}

// taskStart returns a task's start among the transitions up to its terminal one: the
// earliest with no from-state (its creation, which may be the terminal one itself), else
// its pending → initializing.
func taskStart[P any](e *Entity[P], before []int) *Entry[P] {
	var fallback *Entry[P]
	for _, i := range before {
		x := &e.entries[i]
		if x.From == tasker.StateNone {
			return x
		}
		if fallback == nil && x.From == tasker.Pending && x.To == tasker.Initializing {
			fallback = x
		}
	}
	return fallback
}
