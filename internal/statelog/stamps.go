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
}

// stamp* bits record which stamps a transition got the first time it was read.
const (
	stampRead uint8 = 1 << iota
	stampNamespace
	stampHandler
	stampState
	stampTask
	stampAttempt
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
}

// Stamps reads what the log knows now about the referenced transition. The first read is
// the original's; a later one (its duplicate's, §6: "a duplicate otherwise gets the same
// stamps as the original") gets no stamp the original did not, even if the log has learned
// it since. The zero Stamps is returned for an evicted entity.
func (l *Log[P]) Stamps(r Ref[P]) Stamps {
	e := r.Entity()
	if e == nil {
		return Stamps{}
	}
	ord := l.order(e)
	pos := -1
	for k, i := range ord {
		if e.entries[i].seq == r.seq {
			pos = k
			break
		}
	}
	if pos < 0 {
		return Stamps{Namespace: l.NamespaceOf(e, nil)}
	}
	x := &e.entries[ord[pos]]
	m := tasker.MachineOf(e.Kind)
	s := Stamps{Namespace: l.NamespaceOf(e, x)}
	if pos > 0 {
		if p := &e.entries[ord[pos-1]]; chains(m, p.To, x.From) {
			s.StateSeconds, _ = seconds(uint64(x.Time), uint64(p.Time))
			s.HasStateSeconds = true
		}
	}
	switch e.Kind {
	case tasker.KindStep:
		s.Handler = l.HandlerOf(e, x)
		s.Attempt = attemptAt(e, ord[:pos+1])
	case tasker.KindTask:
		if m.Terminal(x.To) {
			if start := taskStart(e, ord[:pos+1]); start != nil {
				s.TaskSeconds, _ = seconds(uint64(x.Time), uint64(start.Time))
				s.HasTaskSeconds = true
			}
		}
	}
	if x.stamped == 0 {
		x.stamped = s.present()
	} else {
		s.only(x.stamped)
	}
	return s
}

// attemptAt returns the ordinal of the attempt open at the last transition of ord (or
// closed by it), 0 when none is.
func attemptAt[P any](e *Entity[P], ord []int) int {
	open, claims := 0, 0
	for _, i := range ord {
		x := &e.entries[i]
		switch {
		case x.To == tasker.InProgress:
			claims++
			open = claims
			if x.Attempt > 0 {
				open = int(x.Attempt)
			}
		case open > 0 && closingOutcome(x.To) != "":
			if i == ord[len(ord)-1] {
				return open
			}
			open = 0
		}
	}
	return open
}
