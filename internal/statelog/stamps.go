package statelog

import (
	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// Stamps is what the log knows about one transition at the moment it is read (§6): the
// processor writes these onto the span or event as it passes.
type Stamps struct {
	Namespace, Handler string
	// StateSeconds is the time spent in the from-state, when the transition that entered it
	// is known and chains directly.
	StateSeconds    float64
	HasStateSeconds bool
	// TaskSeconds is a terminal task transition's time since the task's start.
	TaskSeconds    float64
	HasTaskSeconds bool
	// Attempt is the ordinal of the step attempt this transition opens, belongs to or
	// closes; 0 when none.
	Attempt int
	// HasOutcome: this step transition decides the step's outcome (§7 Step outcomes across
	// retries), after StepAttempts attempts and (HasStepSeconds) StepSeconds since the
	// step's first transition.
	HasOutcome     bool
	StepAttempts   int
	StepSeconds    float64
	HasStepSeconds bool
}

// stamp* bits record which stamps a transition got the first time it was read.
const (
	stampRead uint8 = 1 << iota
	stampNamespace
	stampHandler
	stampState
	stampTask
	stampAttempt
	stampOutcome
)

func (s *Stamps) present() uint8 {
	b := stampRead
	if s.Namespace != "" {
		b |= stampNamespace
	}
	if s.Handler != "" {
		b |= stampHandler
	}
	if s.HasStateSeconds {
		b |= stampState
	}
	if s.HasTaskSeconds {
		b |= stampTask
	}
	if s.Attempt != 0 {
		b |= stampAttempt
	}
	if s.HasOutcome {
		b |= stampOutcome
	}
	return b
}

// only drops the stamps that bits does not have.
func (s *Stamps) only(bits uint8) {
	if bits&stampNamespace == 0 {
		s.Namespace = ""
	}
	if bits&stampHandler == 0 {
		s.Handler = ""
	}
	if bits&stampState == 0 {
		s.StateSeconds, s.HasStateSeconds = 0, false
	}
	if bits&stampTask == 0 {
		s.TaskSeconds, s.HasTaskSeconds = 0, false
	}
	if bits&stampAttempt == 0 {
		s.Attempt = 0
	}
	if bits&stampOutcome == 0 {
		s.HasOutcome, s.StepAttempts, s.StepSeconds, s.HasStepSeconds = false, 0, 0, false
	}
}

// Stamps reads what the log knows now about the referenced transition. The first read is
// the original's; a later one (its duplicate's, §6: "a duplicate otherwise gets the same
// stamps as the original") gets no stamp the original did not, even if the log has learned
// it since. The zero Stamps is returned for an evicted entity. Only a stamping log has them.
func (l *Log[P]) Stamps(r Ref) Stamps {
	if !l.Tracked(r) {
		return Stamps{}
	}
	ei := r.ent
	ord := l.order(ei, 0)
	pos := -1
	for k, p := range ord {
		if x := l.trs.at(p); x.time == r.time && x.from == r.from && x.to == r.to {
			pos = k
			break
		}
	}
	if pos < 0 { // dropped from a full log since
		return Stamps{Namespace: l.names.str(l.namespaceOf(ei, 0))}
	}
	p := ord[pos]
	e := l.ents.at(ei)
	m := tasker.MachineOf(e.kind)
	trs := &l.trs
	s := Stamps{Namespace: l.names.str(l.namespaceOf(ei, p))}
	refused := 0 // derived durations past max_duration: not stamped
	keep := func(secs float64, ok bool) bool {
		if ok && !l.plausible(secs) {
			refused++
			return false
		}
		return ok
	}
	if pos > 0 {
		secs, _, ok := timeInState(m, trs.at(ord[pos-1]), trs.at(p))
		if s.HasStateSeconds = keep(secs, ok); s.HasStateSeconds {
			s.StateSeconds = secs
		}
	}
	switch e.kind {
	case tasker.KindStep:
		s.Handler = l.names.str(l.handlerOf(ei, p))
		var w attemptWalk
		for _, q := range ord[:pos+1] {
			s.Attempt = w.next(trs, q).ordinal
		}
		var taskEnd int64
		if end := l.taskEnd(e.task); end != 0 {
			taskEnd = trs.at(end).time
		}
		if d := decideStep(trs, ord, taskEnd); d.at == pos {
			s.HasOutcome, s.StepAttempts = true, d.attempts
			if secs := d.seconds(trs, ord); keep(secs, true) {
				s.StepSeconds, s.HasStepSeconds = secs, true
			}
		}
	case tasker.KindTask:
		if m.Terminal(trs.at(p).to) {
			secs, _, ok := taskDuration(trs, ord, pos)
			if s.HasTaskSeconds = keep(secs, ok); s.HasTaskSeconds {
				s.TaskSeconds = secs
			}
		}
	}
	read := l.stamp.read.at(p)
	if *read == 0 {
		*read = s.present()
		if l.derive == nil { // a shared log counts them once, as it derives the facts
			l.stats.DurationsRefused[e.kind] += int64(refused)
		}
	} else {
		s.only(*read)
	}
	return s
}
