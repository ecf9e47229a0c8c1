package statelog

import (
	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// order returns the entity's transitions in effective order (§5), as transition positions:
// telemetry time; equal times, the chain decides, then arrival. Clock skew exists only between
// services: where a transition does not chain onto the one before it, a later one from
// another service that does, less than the maximum clock skew later (or at an equal time),
// moves up. Transitions of one service keep their time order; a chain that still breaks is a
// gap. buf (0 or 1) names the scratch buffer the result lives in, valid until the next order
// on that buffer: an entity's derivation that consults another entity uses the other one.
func (l *Log[P]) order(ei uint32, buf int) []uint32 {
	ord := l.ordBufs[buf][:0]
	for p := l.ents.at(ei).log.head; p != 0; p = l.trs.at(p).next {
		ord = append(ord, p)
	}
	l.ordBufs[buf] = ord
	trs := &l.trs
	skew := int64(l.timing.MaxClockSkew)
	m := tasker.MachineOf(l.ents.at(ei).kind)
	// Equal times: the chain decides, then arrival. Transitions of equal time are held in
	// arrival order; each run of them is put in chain order first.
	for i := 0; i < len(ord); {
		j := i + 1
		for j < len(ord) && trs.at(ord[j]).time == trs.at(ord[i]).time {
			j++
		}
		if j-i > 1 && j-i <= maxTieRun {
			var before *entry
			if i > 0 {
				before = trs.at(ord[i-1])
			}
			chainTies(m, trs, ord[i:j], before)
		}
		i = j
	}
	for i := 1; i < len(ord); i++ {
		prev, cur := trs.at(ord[i-1]), trs.at(ord[i])
		if chains(m, prev.to, cur.from) {
			continue
		}
		prevTo := m.Canonical(prev.to)
		for j := i + 1; j < len(ord); j++ {
			cand := trs.at(ord[j])
			gap := cand.time - cur.time
			tie := gap == 0
			if !tie && gap >= skew {
				break
			}
			if !tie && cand.source == cur.source {
				continue
			}
			if m.Canonical(cand.from) == prevTo && (tie || !sourceBetween(trs, ord[i:j], cand.source)) {
				moved := ord[j]
				copy(ord[i+1:j+1], ord[i:j])
				ord[i] = moved
				break
			}
		}
	}
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
func chainTies(m *tasker.Machine, trs *slab[entry], run []uint32, before *entry) {
	for k := range run {
		if k > 0 {
			before = trs.at(run[k-1])
		}
		pick := -1
		if before != nil {
			for c := k; c < len(run); c++ {
				if chains(m, before.to, trs.at(run[c]).from) {
					pick = c
					break
				}
			}
		}
		for c := k; c < len(run) && pick < 0; c++ {
			head := true
			for o := k; o < len(run) && head; o++ {
				head = o == c || !chains(m, trs.at(run[o]).to, trs.at(run[c]).from)
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

// sourceBetween reports whether any of the transitions in span came from source src.
func sourceBetween(trs *slab[entry], span []uint32, src uint32) bool {
	for _, p := range span {
		if trs.at(p).source == src {
			return true
		}
	}
	return false
}
