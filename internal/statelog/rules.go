package statelog

import (
	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// The rules of docs/telemetry.md §5–§7 that turn an entity's transitions into facts. Each is
// written once, here, and used both where the connector derives its metrics (derive.go) and
// where the processor reads its stamps at pass time (stamps.go), so the two cannot disagree.
// They read an entity's transitions in effective order (order.go): ord holds their
// positions in trs.

// chains reports whether a transition into prev is followed, without a gap, by one out of cur.
func chains(m *tasker.Machine, prev, cur tasker.State) bool {
	return m.Canonical(prev) == m.Canonical(cur)
}

// timeInState is the time spent in p's to-state before c left it (§5): defined when the two
// chain. A negative gap (clock skew between services) counts as 0, and is reported.
func timeInState(m *tasker.Machine, p, c *entry) (secs float64, skewed, ok bool) {
	if !chains(m, p.to, c.from) {
		return 0, false, false
	}
	secs, skewed = seconds(c.time, p.time)
	return secs, skewed, true
}

func seconds(later, earlier int64) (float64, bool) {
	if later < earlier {
		return 0, true
	}
	return float64(later-earlier) / 1e9, false
}

// plausible reports whether a derived duration is within max_duration: a longer one comes
// from a wrong clock, and is neither stamped nor recorded.
func (l *Log[P]) plausible(secs float64) bool { return secs <= l.maxDuration }

// laterOf returns the later of a fact's two transitions in telemetry time, the one the fact
// belongs to (§7); the second in effective order when their times are equal. They differ
// only where clock skew was corrected.
func laterOf(trs *slab[entry], first, second uint32) uint32 {
	if trs.at(first).time > trs.at(second).time {
		return first
	}
	return second
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

// attemptWalk follows a step's attempts along its effective order (§7): a claim (a
// transition into in_progress) opens one, numbered by the claim's own attempt attribute or
// else by the count of claims so far; a claim while one is open abandons it; the step's
// next transition into complete, error, waiting_for_retry, cancelled or resolved_manually
// closes it, with that outcome. A closing transition with no open attempt closes nothing.
type attemptWalk struct {
	claims  int
	open    uint32 // position of the open attempt's claim, 0 when none
	ordinal int    // the open attempt's ordinal
	last    int    // the ordinal of the latest attempt opened (the attempts made so far)
}

// attemptEvent is what one transition did to the walk.
type attemptEvent struct {
	claim     bool   // it opened an attempt
	abandoned uint32 // the claim of the attempt it abandoned, 0 when none
	closed    uint32 // the claim of the attempt it closed, 0 when none
	ordinal   int    // the attempt it opened, belongs to or closed; 0 when none
	outcome   string // of the attempt it closed
}

func (w *attemptWalk) next(trs *slab[entry], p uint32) attemptEvent {
	x := trs.at(p)
	if x.to == tasker.InProgress {
		ev := attemptEvent{claim: true, abandoned: w.open}
		w.claims++
		w.open, w.ordinal = p, w.claims
		if x.attempt > 0 {
			w.ordinal = int(x.attempt)
		}
		w.last = w.ordinal
		ev.ordinal = w.ordinal
		return ev
	}
	if out := closingOutcome(x.to); out != "" && w.open != 0 {
		ev := attemptEvent{closed: w.open, ordinal: w.ordinal, outcome: out}
		w.open, w.ordinal = 0, 0
		return ev
	}
	return attemptEvent{ordinal: w.ordinal}
}

// taskStart returns a task's start among the transitions of ord (§5): the earliest with no
// from-state (its creation, which may be its terminal one), else its pending → initializing;
// 0 when neither is there.
func taskStart(trs *slab[entry], ord []uint32) uint32 {
	var fallback uint32
	for _, p := range ord {
		x := trs.at(p)
		if x.from == tasker.StateNone {
			return p
		}
		if fallback == 0 && x.from == tasker.Pending && x.to == tasker.Initializing {
			fallback = p
		}
	}
	return fallback
}

// taskDuration is a task's time from its start to the terminal transition at ord[k] (§5:
// measured from its start), when the start is among ord[:k+1].
func taskDuration(trs *slab[entry], ord []uint32, k int) (secs float64, start uint32, ok bool) {
	if start = taskStart(trs, ord[:k+1]); start == 0 {
		return 0, 0, false
	}
	secs, _ = seconds(trs.at(ord[k]).time, trs.at(start).time)
	return secs, start, true
}

// taskEnd returns a task's earliest terminal transition in telemetry time, 0 when it has
// none: the moment its steps' outcomes are settled (§7 Step outcomes across retries).
func (l *Log[P]) taskEnd(ti uint32) uint32 {
	if ti == 0 {
		return 0
	}
	return l.ents.at(ti).end
}

// stepDecision is a step's decided outcome (§7 Step outcomes across retries).
type stepDecision struct {
	at       int          // index in ord of the transition that decided it; -1: undecided
	outcome  tasker.State // complete, cancelled, resolved_manually, or error (it gave up)
	start    uint32       // the step's first transition: its creation when present
	attempts int          // attempts made up to the decision
}

// decideStep finds a step's outcome along its effective order ord, given the telemetry time
// of its task's end (taskEnd, 0 when the task has not ended): the first of its first
// transition into complete, cancelled or resolved_manually (that outcome), and its task's
// end while the step is in error (outcome error, decided by its latest transition into
// error). A step transition at the very time of the task's end happened before it.
func decideStep(trs *slab[entry], ord []uint32, taskEnd int64) stepDecision {
	d := stepDecision{at: -1}
	if len(ord) == 0 {
		return d
	}
	d.start = ord[0]
	for _, p := range ord {
		if trs.at(p).from == tasker.StateNone {
			d.start = p
			break
		}
	}
	var w attemptWalk
	lastErr := -1
	ended := false // the walk has passed the task's end
	for k, p := range ord {
		x := trs.at(p)
		if taskEnd != 0 && !ended && x.time > taskEnd {
			ended = true
			if lastErr >= 0 && lastErr == k-1 {
				d.at, d.outcome, d.attempts = lastErr, tasker.Error, w.last
				return d
			}
		}
		w.next(trs, p)
		switch x.to {
		case tasker.Complete, tasker.Cancelled, tasker.ResolvedManually:
			d.at, d.outcome, d.attempts = k, x.to, w.last
			return d
		case tasker.Error:
			lastErr = k
		}
	}
	if taskEnd != 0 && !ended && lastErr >= 0 && lastErr == len(ord)-1 {
		d.at, d.outcome, d.attempts = lastErr, tasker.Error, w.last
	}
	return d
}

// seconds is a decided step's time from its first transition to the deciding one.
func (d *stepDecision) seconds(trs *slab[entry], ord []uint32) float64 {
	s, _ := seconds(trs.at(ord[d.at]).time, trs.at(d.start).time)
	return s
}
