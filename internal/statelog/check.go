package statelog

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// check verifies a log's structure whole: every entity position is free or tracked, once;
// every transition belongs to one entity's log or to the free list; every list is linked
// both ways, without a cycle, and holds what its members say; every id, name and state is
// in range. A restored log must pass it before it is used.
func (l *Log[P]) check() error {
	ne, nt := l.ents.n, l.trs.n
	if ne > uint32(len(l.ents.pages))*pageSize || nt > uint32(len(l.trs.pages))*pageSize {
		return errors.New("a slab holds more positions than pages")
	}
	if nt > uint32(len(l.data.pages))*pageSize || l.stamp != nil && nt > uint32(len(l.stamp.read.pages))*pageSize ||
		l.derive != nil && (nt > uint32(len(l.derive.trs.pages))*pageSize || ne > uint32(len(l.derive.ents.pages))*pageSize) {
		return errors.New("parallel slabs disagree")
	}
	in := func(i, n uint32) bool { return i != 0 && i < n }

	const (
		unseen uint8 = iota
		free
		tracked
		listed // tracked and on its age list
	)
	state := make([]uint8, ne)
	steps := 0
	for i := l.freeEnts; i != 0; i = l.ents.at(i).age.next {
		if !in(i, ne) || state[i] != unseen {
			return fmt.Errorf("entity free list: bad position %d", i)
		}
		state[i] = free
		if steps++; steps > int(ne) {
			return errors.New("entity free list: a cycle")
		}
	}
	var count [tasker.NumKinds]int
	for i := uint32(1); i < ne; i++ {
		e := l.ents.at(i)
		if !validBool(&e.finished) {
			return fmt.Errorf("entity %d: a flag out of range", i)
		}
		switch {
		case state[i] == free:
			if e.kind != tasker.KindUnknown {
				return fmt.Errorf("entity %d: free but of a kind", i)
			}
			continue
		case e.kind != tasker.KindTask && e.kind != tasker.KindStep:
			return fmt.Errorf("entity %d: neither free nor a task or a step", i)
		}
		state[i] = tracked
		count[e.kind]++
		if err := l.checkID(&e.id, false); err != nil {
			return fmt.Errorf("entity %d: %v", i, err)
		}
		if int(e.ns) >= len(l.names.strs) || int(e.handler) >= len(l.names.strs) {
			return fmt.Errorf("entity %d: a name out of range", i)
		}
	}
	if count != l.count {
		return fmt.Errorf("entity counts %v, the log says %v", count, l.count)
	}
	for _, age := range []struct {
		q        list
		finished bool
	}{{l.unfinished, false}, {l.finished, true}} {
		if err := walk(age.q, ne, l.ageLink, func(i uint32) error {
			if state[i] != tracked || l.ents.at(i).finished != age.finished {
				return fmt.Errorf("age lists: entity %d listed wrongly", i)
			}
			state[i] = listed
			return nil
		}); err != nil {
			return err
		}
	}
	owner := make([]uint32, nt)
	for i := uint32(1); i < ne; i++ {
		if state[i] == free {
			continue
		}
		if state[i] != listed {
			return fmt.Errorf("entity %d: on no age list", i)
		}
		if err := l.checkEntity(i, owner, state[:]); err != nil {
			return fmt.Errorf("entity %d: %v", i, err)
		}
	}
	steps = 0
	for p := l.freeTrs; p != 0; p = l.trs.at(p).next {
		if !in(p, nt) || owner[p] != 0 {
			return fmt.Errorf("transition free list: bad position %d", p)
		}
		owner[p] = ^uint32(0)
		if steps++; steps > int(nt) {
			return errors.New("transition free list: a cycle")
		}
	}
	for p := uint32(1); p < nt; p++ {
		if owner[p] == 0 {
			return fmt.Errorf("transition %d: neither free nor in a log", p)
		}
	}
	if d := l.derive; d != nil {
		return d.check(l, ne)
	}
	return nil
}

func (l *Log[P]) checkID(r *idRef, noneOK bool) error {
	switch r.form {
	case idUUID:
		return nil
	case idArena:
		off, n := r.arenaRef()
		if uint64(off)+uint64(n) > uint64(len(l.ids.buf)) {
			return errors.New("an id past the arena")
		}
		return nil
	case idNone:
		if noneOK {
			return nil
		}
	}
	return errors.New("an id of no form")
}

// checkEntity checks one tracked entity's log and links; owner marks the transitions seen.
func (l *Log[P]) checkEntity(i uint32, owner []uint32, state []uint8) error {
	e := l.ents.at(i)
	nt := uint32(len(owner))
	m := tasker.MachineOf(e.kind)
	n := 0
	var last int64
	if err := walk(e.log, nt, l.trLink, func(p uint32) error {
		if owner[p] != 0 {
			return fmt.Errorf("transition %d in two logs", p)
		}
		owner[p] = i
		x := l.trs.at(p)
		if n > 0 && x.time < last {
			return errors.New("its log is not in time order")
		}
		last = x.time
		if !m.Knows(x.from) || !m.Knows(x.to) || x.to == tasker.StateNone {
			return fmt.Errorf("transition %d: states %d → %d", p, x.from, x.to)
		}
		if int(x.ns) >= len(l.names.strs) || int(x.handler) >= len(l.names.strs) {
			return fmt.Errorf("transition %d: a name out of range", p)
		}
		n++
		return nil
	}); err != nil {
		return err
	}
	if n != int(e.n) {
		return fmt.Errorf("%d transitions, it says %d", n, e.n)
	}
	var end uint32
	for p := e.log.head; p != 0 && end == 0; p = l.trs.at(p).next {
		if m.Terminal(l.trs.at(p).to) {
			end = p
		}
	}
	if end != e.end {
		return errors.New("its first terminal transition is not the one it says")
	}
	ne := uint32(len(state))
	if e.task != 0 {
		if e.kind != tasker.KindStep || e.task >= ne || state[e.task] == 0 || l.ents.at(e.task).kind != tasker.KindTask {
			return errors.New("a task link to no task")
		}
	}
	if e.kind == tasker.KindTask {
		return walk(e.steps, ne, l.sibLink, func(s uint32) error {
			if l.ents.at(s).kind != tasker.KindStep || l.ents.at(s).task != i {
				return fmt.Errorf("step %d listed under a task it does not name", s)
			}
			return nil
		})
	}
	if e.steps != (list{}) {
		return errors.New("a step with steps")
	}
	return nil
}

func (d *deriving[P]) check(l *Log[P], ne uint32) error {
	queued := 0
	for i := uint32(1); i < ne; i++ {
		de := d.ents.at(i)
		if l.ents.at(i).kind == tasker.KindUnknown {
			if *de != (dentity{}) {
				return fmt.Errorf("entity %d: free, with derived state", i)
			}
			continue
		}
		if !validBool(&de.queued) || !validBool(&de.completionDone) || !validBool(&de.outcomeDone) || !validBool(&de.endDone) {
			return fmt.Errorf("entity %d: a flag out of range", i)
		}
		if de.queued {
			queued++
		}
		if err := l.checkID(&de.corr, true); err != nil {
			return fmt.Errorf("entity %d: its correlation id: %v", i, err)
		}
		if int(de.uncounted) > int(l.ents.at(i).n) {
			return fmt.Errorf("entity %d: more uncounted transitions than it holds", i)
		}
		if s := de.live.series; s != 0 && (int(s) >= len(d.live.series) || d.live.series[s].heap.members() == 0) {
			return fmt.Errorf("entity %d: live in no series", i)
		}
	}
	entity := func(i uint32) error {
		if i == 0 || i >= ne {
			return fmt.Errorf("entity %d out of range", i)
		}
		return nil
	}
	if err := d.queue.check(entity, d.inQueue); err != nil {
		return fmt.Errorf("settle queue: %v", err)
	}
	if n := d.queue.members(); n != queued {
		return fmt.Errorf("settle queue: %d queued entities, %d in the queue", queued, n)
	}
	members := 0
	for id := 1; id < len(d.live.series); id++ {
		s := &d.live.series[id]
		if int(s.key.ns) >= len(l.names.strs) {
			return fmt.Errorf("live series %d: a name out of range", id)
		}
		if err := s.heap.check(entity, d.inSeries(uint32(id))); err != nil {
			return fmt.Errorf("live series %d: %v", id, err)
		}
		for _, it := range s.heap.items {
			if d.inSeries(uint32(id))(it) && l.ents.at(it.pos).kind != s.key.kind {
				return fmt.Errorf("live series %d: member %d is not of its kind", id, it.pos)
			}
		}
		members += s.heap.members()
	}
	live := 0
	for i := uint32(1); i < ne; i++ {
		if d.ents.at(i).live.series != 0 {
			live++
		}
	}
	if live != members {
		return fmt.Errorf("%d live entities, %d in live series", live, members)
	}
	return nil
}

// validBool reports whether a bool read from a snapshot's bytes is 0 or 1, the only values
// a bool may hold.
func validBool(b *bool) bool { return *(*uint8)(unsafe.Pointer(b)) <= 1 }

// walk visits a list's members in order, checking that each is in range, that the links
// agree both ways, and that there is no cycle.
func walk(q list, n uint32, links func(uint32) *link, visit func(uint32) error) error {
	prev, steps := uint32(0), uint32(0)
	for i := q.head; i != 0; i = links(i).next {
		if i >= n || links(i).prev != prev {
			return fmt.Errorf("a list breaks at %d", i)
		}
		if steps++; steps > n {
			return errors.New("a list has a cycle")
		}
		if err := visit(i); err != nil {
			return err
		}
		prev = i
	}
	if prev != q.tail {
		return errors.New("a list ends before its tail")
	}
	return nil
}
