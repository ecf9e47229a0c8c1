package statelog

import (
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
	"hash/maphash"

	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// What tracking costs: finding and making entities, giving their room back, and the bounds
// (entities, bytes, time) that decide which ones go.

// hashID hashes an entity's kind and id for the id index.
func (l *Log[P]) hashID(k tasker.Kind, id string) uint32 {
	h := maphash.String(l.seed, id) ^ uint64(k)*0x9e3779b97f4a7c15
	return uint32(h ^ h>>32)
}

func (l *Log[P]) entHash(i uint32) uint32 { return l.ents.at(i).hash }

// entityKey is what finding an entity needs of its kind and id, worked out once: the id
// parsed as a UUID where it is one, and the hash.
type entityKey struct {
	kind   tasker.Kind
	id     string
	uuid   [16]byte
	isUUID bool
	hash   uint32
}

func (l *Log[P]) keyOf(k tasker.Kind, id string) entityKey {
	u, ok := parseUUID(id)
	return entityKey{kind: k, id: id, uuid: u, isUUID: ok, hash: l.hashID(k, id)}
}

// probe looks for an entity; it returns its position (0 when absent) and the slot where the
// probe ended (an empty one when absent).
func (l *Log[P]) probe(key *entityKey) (uint32, uint32) {
	if len(l.byID.slots) == 0 {
		return 0, 0
	}
	s := l.byID.start(key.hash)
	for ; l.byID.slots[s] != 0; s = l.byID.next(s) {
		i := l.byID.slots[s]
		if e := l.ents.at(i); e.hash == key.hash && e.kind == key.kind && l.ids.idEquals(&e.id, key.id, key.uuid, key.isUUID) {
			return i, s
		}
	}
	return 0, s
}

// Prefetch reads, for each transition of a batch, the id index's slot of its entity (and of
// a step's task) and the entity it holds, before the batch is added. The reads do not
// depend on each other, so the processor overlaps their cache misses, which Add, reading
// one entity after another, would wait for one at a time.
func (l *Log[P]) Prefetch(trs []transition.Transition) {
	if len(l.byID.slots) == 0 {
		return
	}
	var sum uint32
	touch := func(k tasker.Kind, id string) {
		s := l.byID.slots[l.byID.start(l.hashID(k, id))]
		if s != 0 && s < l.ents.n {
			sum += l.ents.at(s).hash
		}
	}
	for i := range trs {
		t := &trs[i]
		touch(t.Kind, t.ID)
		if t.Kind == tasker.KindStep && t.TaskID != "" {
			touch(tasker.KindTask, t.TaskID)
		}
	}
	l.prefetched = sum // kept, so that the reads are not optimised away
}

// lookup returns an entity's position, or 0 when it is not tracked.
func (l *Log[P]) lookup(k tasker.Kind, id string) uint32 {
	key := l.keyOf(k, id)
	i, _ := l.probe(&key)
	return i
}

// isID reports whether the entity at i is kind k with id id.
func (l *Log[P]) isID(i uint32, k tasker.Kind, id string) bool {
	u, ok := parseUUID(id)
	e := l.ents.at(i)
	return e.kind == k && l.ids.idEquals(&e.id, id, u, ok)
}

// entity returns the tracked entity (its position), making it if needed (and room for it,
// never evicting keep: the step whose task is being made), and marks it most recently seen.
func (l *Log[P]) entity(k tasker.Kind, id string, now int64, keep uint32) uint32 {
	key := l.keyOf(k, id)
	if i, _ := l.probe(&key); i != 0 {
		l.touch(i, now)
		return i
	}
	if l.Len() >= l.limits.MaxEntities {
		l.expire(keep)
		for l.Len() >= l.limits.MaxEntities && l.evictOne(EvictCapacity, keep) {
		}
	}
	if !key.isUUID {
		l.roomForID(len(key.id), keep)
	}
	i := l.allocEntity(keep)
	l.byID.ready(l.entHash)
	_, s := l.probe(&key)
	l.byID.put(s, i)
	e := l.ents.at(i)
	*e = entity{id: l.ids.makeKeyID(&key), kind: k, hash: key.hash, gen: e.gen, lastSeen: now}
	l.count[k]++
	l.unfinished.pushFront(i, l.ageLink)
	if l.derive != nil {
		l.derive.made(i)
	}
	return i
}

func (l *Log[P]) touch(i uint32, now int64) {
	e := l.ents.at(i)
	e.lastSeen = now
	if !e.finished && l.unfinished.head != i {
		l.unfinished.remove(i, l.ageLink)
		l.unfinished.pushFront(i, l.ageLink)
	}
}

// allocEntity returns a free entity position, adding a page to the entity slabs when the
// memory budget allows, else evicting an entity to make room.
func (l *Log[P]) allocEntity(keep uint32) uint32 {
	for l.freeEnts == 0 && l.ents.full() {
		if l.fits(l.entPageBytes()) || !l.evictOne(EvictMemory, keep) {
			l.addEntPage()
		}
	}
	if i := l.freeEnts; i != 0 {
		l.freeEnts = l.ents.at(i).age.next
		return i
	}
	i := l.ents.take()
	if l.derive != nil {
		l.derive.ents.take()
	}
	return i
}

// allocEntry returns a free transition position for entity ei, adding a page to the
// transition slabs when the memory budget allows, else evicting another entity.
func (l *Log[P]) allocEntry(ei uint32) uint32 {
	for l.freeTrs == 0 && l.trs.full() {
		if l.fits(l.trPageBytes()) || !l.evictOne(EvictMemory, ei) {
			l.addTrPage()
		}
	}
	if p := l.freeTrs; p != 0 {
		l.freeTrs = l.trs.at(p).next
		return p
	}
	p := l.trs.take()
	l.data.take()
	if l.stamp != nil {
		l.stamp.read.take()
	}
	if l.derive != nil {
		l.derive.trs.take()
	}
	return p
}

// freeEntry gives a transition's position back.
func (l *Log[P]) freeEntry(p uint32) {
	if l.derive != nil && l.derive.release != nil {
		l.derive.release(l.data.at(p))
	}
	var zero P
	*l.data.at(p) = zero
	*l.trs.at(p) = entry{link: link{next: l.freeTrs}}
	l.freeTrs = p
}

// addEntPage and addTrPage grow every slab of one kind together: the shared ones and those
// of the mode, which are parallel to them.
func (l *Log[P]) addEntPage() {
	l.ents.addPage()
	if l.derive != nil {
		l.derive.ents.addPage()
	}
}

func (l *Log[P]) addTrPage() {
	l.trs.addPage()
	l.data.addPage()
	if l.stamp != nil {
		l.stamp.read.addPage()
	}
	if l.derive != nil {
		l.derive.trs.addPage()
	}
}

// roomForID makes room in the id arena for an id of n bytes that is not a canonical UUID,
// within max_memory, sparing keep. The arena is counted in Bytes like the slabs, but it grows
// by the byte and frees by compaction, so: when at least half of it is garbage (the ids of
// entities that left), it is compacted; else it grows when the budget allows; else entities
// go as for a slab page (the least recently seen first), their ids becoming garbage, until an
// eighth of the arena is garbage and compacting makes the room. It stops evicting after
// maxBarrenEvictions in a row that free no id bytes (entities with UUID ids): the arena then
// grows past the budget rather than empty the log for one id.
func (l *Log[P]) roomForID(n int, keep uint32) {
	a := &l.ids
	barren := 0
	for !a.room(n) {
		if a.garbage >= n && 2*a.garbage >= len(a.buf) {
			l.compactIDs()
			continue
		}
		newCap, added := a.growth(n)
		if l.fits(added) {
			a.grow(newCap)
			return
		}
		if a.garbage >= n && 8*a.garbage >= len(a.buf) {
			l.compactIDs()
			continue
		}
		before := a.garbage
		if barren >= maxBarrenEvictions || !l.evictOne(EvictMemory, keep) {
			a.grow(newCap)
			return
		}
		if a.garbage == before {
			barren++
		} else {
			barren = 0
		}
	}
}

// maxBarrenEvictions bounds the evictions in a row, each of an entity without id bytes in
// the arena, that roomForID makes for one id.
const maxBarrenEvictions = 64

// entPageBytes and trPageBytes are the bytes one more page of the slabs would add.
func (l *Log[P]) entPageBytes() int64 {
	n := pageBytes[entity]()
	if l.derive != nil {
		n += pageBytes[dentity]()
	}
	return n
}

func (l *Log[P]) trPageBytes() int64 {
	n := pageBytes[entry]() + pageBytes[P]()
	if l.stamp != nil {
		n += pageBytes[uint8]()
	}
	if l.derive != nil {
		n += pageBytes[settling]()
	}
	return n
}

// Bytes returns the memory the log holds: every slab and table, and the name and service
// tables as estimated. This is what max_memory bounds.
func (l *Log[P]) Bytes() int64 {
	n := l.ents.bytes() + l.trs.bytes() + l.data.bytes() + l.byID.bytes() + l.ids.bytes() +
		l.names.bytes + l.sources.bytes() + int64(cap(l.ordBufs[0])+cap(l.ordBufs[1]))*4
	if l.stamp != nil {
		n += l.stamp.read.bytes()
	}
	if l.derive != nil {
		n += l.derive.bytes()
	}
	return n
}

// fits reports whether growing by n bytes keeps the log within max_memory.
func (l *Log[P]) fits(n int64) bool { return l.Bytes()+n <= int64(l.limits.MaxMemory) }

// maxUnsettledSkips bounds how many entities with unsettled transitions eviction passes over
// in the unfinished list before it takes one of them.
const maxUnsettledSkips = 64

// evictOne makes room at a cap: the finished entity that finished first, if its transitions
// have all settled, else the least recently seen unfinished one whose transitions have all
// settled, else (a last resort, counted as unsettled) the entity that finished first, which
// has the least left to come, or the least recently seen. It never evicts keep. It reports
// whether one went.
func (l *Log[P]) evictOne(why EvictReason, keep uint32) bool {
	now := l.clock.Now().UnixNano()
	// A finished entity settles in the order it finished, give or take the settle window of
	// its last transitions: when the first one has not settled, the others have not either.
	firstDone := l.finished.head
	if firstDone != 0 && firstDone == keep {
		firstDone = l.ents.at(firstDone).age.next
	}
	if firstDone != 0 && (l.derive == nil || l.derive.allSettled(firstDone)) {
		l.evict(firstDone, why, now)
		return true
	}
	last := uint32(0)
	skips := 0
	for i := l.unfinished.tail; i != 0; i = l.ents.at(i).age.prev {
		if i == keep {
			continue
		}
		if l.derive == nil || l.derive.allSettled(i) {
			l.evict(i, why, now)
			return true
		}
		if last == 0 {
			last = i
		}
		if skips++; skips >= maxUnsettledSkips {
			break
		}
	}
	if firstDone != 0 {
		l.evict(firstDone, EvictUnsettled, now)
		return true
	}
	if last != 0 {
		l.evict(last, EvictUnsettled, now)
		return true
	}
	return false
}

// maybeFinish marks a task finished when its log's latest state is terminal, and its steps
// with it. A step is finished only once its task is terminal (§5): a step's error is not
// terminal, and a completed step may still be resolved manually.
func (l *Log[P]) maybeFinish(ei uint32, now int64) {
	e := l.ents.at(ei)
	if e.kind != tasker.KindTask || e.finished || e.log.tail == 0 {
		return
	}
	if !tasker.TaskMachine.Terminal(l.trs.at(e.log.tail).to) {
		return
	}
	l.finish(ei, now)
	for s := l.ents.at(ei).steps.head; s != 0; s = l.ents.at(s).sib.next {
		l.finish(s, now)
	}
}

func (l *Log[P]) finish(i uint32, now int64) {
	e := l.ents.at(i)
	if e.finished {
		return
	}
	e.finished, e.finishedAt = true, now
	l.unfinished.remove(i, l.ageLink)
	l.finished.pushBack(i, l.ageLink)
}

// Expire evicts entities whose grace period after finishing, or whose idle time-to-live,
// has passed on the collector's clock. A deriving log settles an entity before it goes.
func (l *Log[P]) Expire() { l.expire(0) }

// expire is Expire, sparing keep (an entity in the middle of an Add).
func (l *Log[P]) expire(keep uint32) {
	now := l.clock.Now().UnixNano()
	grace, ttl := int64(l.limits.FinishedGrace), int64(l.limits.IdleTTL)
	for i := l.finished.head; i != 0 && l.ents.at(i).finishedAt+grace <= now; {
		next := l.ents.at(i).age.next
		if i != keep {
			l.evict(i, EvictFinished, now)
		}
		i = next
	}
	for i := l.unfinished.tail; i != 0 && l.ents.at(i).lastSeen+ttl <= now; {
		prev := l.ents.at(i).age.prev
		if i != keep {
			l.evict(i, EvictIdle, now)
		}
		i = prev
	}
	l.sources.expire(now, l.limits.IdleTTL)
	if l.ids.wantsCompaction() {
		l.compactIDs()
	}
}

// Close evicts everything (the connector's shutdown settles it first).
func (l *Log[P]) Close() {
	now := l.clock.Now().UnixNano()
	for i := l.finished.head; i != 0; i = l.finished.head {
		l.evict(i, EvictShutdown, now)
	}
	for i := l.unfinished.tail; i != 0; i = l.unfinished.tail {
		l.evict(i, EvictShutdown, now)
	}
}

// evict removes an entity, settling it first in a deriving log, and counts why.
func (l *Log[P]) evict(i uint32, why EvictReason, now int64) {
	if l.derive != nil {
		l.derive.leaving(l, i, now)
	}
	e := l.ents.at(i)
	l.stats.Evicted[e.kind][why]++
	// Its steps may outlive it (evicted later, or still settling): they keep the namespace
	// learned for their task, which they can no longer look up.
	for s := e.steps.head; s != 0; {
		next := l.ents.at(s).sib.next
		st := l.ents.at(s)
		if st.ns == 0 {
			st.ns = e.ns
		}
		st.task, st.sib = 0, link{}
		s = next
	}
	if e.task != 0 {
		l.ents.at(e.task).steps.remove(i, l.sibLink)
	}
	for p := e.log.head; p != 0; {
		next := l.trs.at(p).next
		l.freeEntry(p)
		p = next
	}
	if e.finished {
		l.finished.remove(i, l.ageLink)
	} else {
		l.unfinished.remove(i, l.ageLink)
	}
	l.unindex(i)
	l.count[e.kind]--
	l.ids.freeID(&e.id)
	gen := e.gen + 1
	*e = entity{gen: gen, age: link{next: l.freeEnts}}
	l.freeEnts = i
}

// unindex removes entity i from the id index.
func (l *Log[P]) unindex(i uint32) {
	h := l.ents.at(i).hash
	for s := l.byID.start(h); l.byID.slots[s] != 0; s = l.byID.next(s) {
		if l.byID.slots[s] == i {
			l.byID.delete(s, l.entHash)
			return
		}
	}
}

// compactIDs moves the live ids of the arena into its spare buffer.
func (l *Log[P]) compactIDs() {
	l.ids.compact(func(move func(off, n uint32) uint32) {
		for i := uint32(1); i < l.ents.n; i++ {
			if r := &l.ents.at(i).id; r.form == idArena {
				off, n := r.arenaRef()
				r.setArena(move(off, n), n)
			}
		}
		if l.derive != nil {
			l.derive.moveIDs(move)
		}
	})
}

// dropOldest removes the oldest transition of an entity that is neither its start (a task's
// as §5 defines it, a step's first record), nor an open claim, nor its first transition into
// a terminal state (which ends its live state and decides a step's outcome, §7), and whose
// facts are derived.
// When every transition is still within its settle window, the entity is settled at once
// rather than lose a transition's count. It reports whether one was removed.
func (l *Log[P]) dropOldest(ei uint32, now int64) bool {
	for _, force := range []bool{false, true} {
		if l.derive != nil {
			l.derive.derive(l, ei, now, force)
		}
		if p := l.droppable(ei); p != 0 {
			e := l.ents.at(ei)
			e.log.remove(p, l.trLink)
			e.n--
			l.freeEntry(p)
			l.stats.Dropped[e.kind]++
			return true
		}
		if l.derive == nil {
			break
		}
	}
	return false
}

// droppable returns the oldest transition dropOldest may remove, or 0.
func (l *Log[P]) droppable(ei uint32) uint32 {
	e := l.ents.at(ei)
	var start uint32
	if e.kind == tasker.KindTask {
		start = taskStart(&l.trs, l.order(ei, 0))
	} else if e.log.head != 0 && l.trs.at(e.log.head).from == tasker.StateNone {
		start = e.log.head
	}
	end := e.end    // its first transition into a terminal state
	var open uint32 // the step's latest claim whose attempt is not yet counted
	if e.kind == tasker.KindStep {
		for p := e.log.tail; p != 0 && open == 0; p = l.trs.at(p).prev {
			if l.trs.at(p).to == tasker.InProgress && (l.derive == nil || !l.derive.attemptDone(p)) {
				open = p
			}
		}
	}
	for p := e.log.head; p != 0; p = l.trs.at(p).next {
		if p == start || p == open || p == end || l.derive != nil && !l.derive.counted(p) {
			continue
		}
		return p
	}
	return 0
}
