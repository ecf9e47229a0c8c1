package statelog

import (
	"errors"
	"fmt"
	"unsafe"
)

// The building blocks of the log's storage. None of them holds a pointer into the heap
// besides its own backing arrays, so the garbage collector marks each in constant time,
// whatever it holds.

// maxSlab bounds a slab's length: positions are uint32, and 0 means "none".
const maxSlab = 1<<31 - 1

// link is an element's place in an intrusive doubly linked list, by slab position (0: none).
type link struct{ prev, next uint32 }

// list is an intrusive doubly linked list over slab positions. links returns the link of a
// position; each list an element can be on has its own link field.
type list struct{ head, tail uint32 }

func (q *list) empty() bool { return q.head == 0 }

func (q *list) pushBack(i uint32, links func(uint32) *link) {
	*links(i) = link{prev: q.tail}
	if q.tail != 0 {
		links(q.tail).next = i
	} else {
		q.head = i
	}
	q.tail = i
}

func (q *list) pushFront(i uint32, links func(uint32) *link) {
	*links(i) = link{next: q.head}
	if q.head != 0 {
		links(q.head).prev = i
	} else {
		q.tail = i
	}
	q.head = i
}

// insertAfter puts i after at (at 0: at the front).
func (q *list) insertAfter(at, i uint32, links func(uint32) *link) {
	if at == 0 {
		q.pushFront(i, links)
		return
	}
	if at == q.tail {
		q.pushBack(i, links)
		return
	}
	next := links(at).next
	*links(i) = link{prev: at, next: next}
	links(at).next = i
	links(next).prev = i
}

func (q *list) remove(i uint32, links func(uint32) *link) {
	l := *links(i)
	if l.prev != 0 {
		links(l.prev).next = l.next
	} else {
		q.head = l.next
	}
	if l.next != 0 {
		links(l.next).prev = l.prev
	} else {
		q.tail = l.prev
	}
	*links(i) = link{}
}

// insertSorted puts i in a list kept in ascending key order, after every element whose key
// is not greater (so equal keys keep insertion order). It walks from the tail: keys are
// times, and new ones are mostly the latest.
func (q *list) insertSorted(i uint32, key int64, keyOf func(uint32) int64, links func(uint32) *link) {
	at := q.tail
	for at != 0 && keyOf(at) > key {
		at = links(at).prev
	}
	q.insertAfter(at, i, links)
}

// index maps 32-bit hashes to slab positions by open addressing: linear probing, and
// backward-shift deletion, so no tombstones accumulate. Callers probe it themselves (start,
// next) and compare keys in their slab.
type index struct {
	slots []uint32 // position; 0 is an empty slot
	used  int
}

func (x *index) start(h uint32) uint32 { return h & uint32(len(x.slots)-1) }
func (x *index) next(s uint32) uint32  { return (s + 1) & uint32(len(x.slots)-1) }

// ready makes room for one more element, keeping the load under a half. hashOf returns the
// hash of the element at a position, for rehashing.
func (x *index) ready(hashOf func(uint32) uint32) {
	if len(x.slots) == 0 {
		x.slots = make([]uint32, 1024)
		return
	}
	if 2*(x.used+1) <= len(x.slots) {
		return
	}
	old := x.slots
	x.slots = make([]uint32, 2*len(old))
	for _, pos := range old {
		if pos != 0 {
			s := x.start(hashOf(pos))
			for x.slots[s] != 0 {
				s = x.next(s)
			}
			x.slots[s] = pos
		}
	}
}

// put stores pos in the empty slot s that a probe ended on.
func (x *index) put(s, pos uint32) {
	x.slots[s] = pos
	x.used++
}

// delete empties slot s and moves later elements of its probe run back into the gap.
func (x *index) delete(s uint32, hashOf func(uint32) uint32) {
	x.slots[s] = 0
	x.used--
	gap := s
	for j := x.next(s); x.slots[j] != 0; j = x.next(j) {
		home := x.start(hashOf(x.slots[j]))
		// Move j back into the gap unless its home lies cyclically in (gap, j].
		if (j > gap && (home <= gap || home > j)) || (j < gap && home <= gap && home > j) {
			x.slots[gap] = x.slots[j]
			x.slots[j] = 0
			gap = j
		}
	}
}

func (x *index) bytes() int64 { return int64(cap(x.slots)) * 4 }

// arena holds variable-length byte strings (ids that are not canonical UUIDs). Freed bytes
// are counted as garbage; when garbage passes half the arena, the live strings are copied
// into a second buffer, which is kept for the next compaction. The log grows it only through
// roomForID, within max_memory, so that put never reallocates.
type arena struct {
	buf, spare []byte
	garbage    int
}

func (a *arena) put(s string) (off, n uint32) {
	off = uint32(len(a.buf))
	a.buf = append(a.buf, s...)
	return off, uint32(len(s))
}

// room reports whether n more bytes fit in the buffer as it is.
func (a *arena) room(n int) bool { return len(a.buf)+n <= cap(a.buf) }

// minArena is the arena's first capacity.
const minArena = 4 << 10

// growth returns the capacity that makes room for n more bytes, and what growing to it adds
// to bytes(), counting the spare buffer at the size a compaction may fill it to: its live
// bytes, at most the buffer's.
func (a *arena) growth(n int) (newCap int, added int64) {
	newCap = max(2*cap(a.buf), len(a.buf)+n, minArena)
	return newCap, int64(newCap-cap(a.buf)) + int64(max(newCap-cap(a.spare), 0))
}

// grow gives the buffer a capacity of newCap (exactly: append's growth would round it up).
func (a *arena) grow(newCap int) {
	b := make([]byte, len(a.buf), newCap)
	copy(b, a.buf)
	a.buf = b
}

func (a *arena) get(off, n uint32) []byte { return a.buf[off : off+n : off+n] }

func (a *arena) free(n uint32) { a.garbage += int(n) }

// wantsCompaction reports whether compacting would free enough to be worth a pass.
func (a *arena) wantsCompaction() bool { return a.garbage > 64<<10 && 2*a.garbage > len(a.buf) }

// compact copies the live strings, which every visits once each (moving a reference to
// its new place), into the spare buffer, and swaps the two.
func (a *arena) compact(every func(move func(off, n uint32) uint32)) {
	out := a.spare[:0]
	if live := len(a.buf) - a.garbage; cap(out) < live {
		out = make([]byte, 0, live) // no larger than the buffer, as growth counted it
	}
	every(func(off, n uint32) uint32 {
		at := uint32(len(out))
		out = append(out, a.buf[off:off+n]...)
		return at
	})
	a.spare, a.buf = a.buf[:0], out
	a.garbage = 0
}

func (a *arena) bytes() int64 { return int64(cap(a.buf) + cap(a.spare)) }

// pageShift sets the slab page: 4,096 elements. A slab grows a page at a time, so growing
// copies nothing and holds no second copy, and the bytes it holds are known to the page.
const (
	pageShift = 12
	pageSize  = 1 << pageShift
	pageMask  = pageSize - 1
)

// slab is an array of T in pages, addressed by position; position 0 is never handed out
// (it means "none"). Slabs of one log that are parallel (one element per entity, or per
// transition) grow together and share positions.
type slab[T any] struct {
	pages [][]T
	// mem holds what owns each page's memory (pagemem_linux.go): while the slab can be
	// reached, so can its pages.
	mem []*pageMem
	n   uint32 // positions in use or freed: 0 ..< n
}

func (s *slab[T]) at(p uint32) *T { return &s.pages[p>>pageShift][p&pageMask] }

// full reports whether every position of the allocated pages has been handed out.
func (s *slab[T]) full() bool { return int(s.n) >= len(s.pages)*pageSize }

// addPage allocates one more page, zeroed.
func (s *slab[T]) addPage() {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if size == 0 {
		s.pages = append(s.pages, make([]T, pageSize))
		return
	}
	b, m := newPageMem(size * pageSize)
	s.pages = append(s.pages, unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), pageSize))
	s.mem = append(s.mem, m)
}

// take hands out the next never-used position (the caller made room with addPage when full).
func (s *slab[T]) take() uint32 {
	if s.n == 0 {
		s.n = 1 // position 0 is none
	}
	p := s.n
	s.n++
	return p
}

// pageBytes is the size of one page of T.
func pageBytes[T any]() int64 {
	var zero T
	return int64(unsafe.Sizeof(zero)) * pageSize
}

func (s *slab[T]) bytes() int64 { return int64(len(s.pages)) * pageBytes[T]() }

// minHeap is a binary min-heap of slab positions with lazy removal: a member leaves by being
// made stale where it is kept (the heap is told only that one fewer is valid), and stale
// items are discarded when they reach the top or when they outnumber the valid ones (then
// the heap is rebuilt without them, so it never holds more than about twice its members).
// Entering and taking the least cost at most a logarithm and leaving costs nothing,
// amortized, whatever order keys come in; ordering reads only the heap's own array, never
// the slabs, and nothing is written to a member as the heap moves it.
type minHeap struct {
	items []heapItem
	valid int // members, the items not stale
}

// heapItem is a member: its key, a stamp (unique to the member's joining, so that a stale
// item can be told apart, and a tie-break among equal keys compared so that its wrapping
// around does not matter) and its slab position.
type heapItem struct {
	key        int64
	stamp, pos uint32
}

// heapValid says whether an item is still a member.
type heapValid func(heapItem) bool

func (a heapItem) before(b heapItem) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return int32(a.stamp-b.stamp) < 0
}

// members is how many valid items the heap holds.
func (h *minHeap) members() int { return h.valid }
func (h *minHeap) bytes() int64 { return int64(cap(h.items)) * int64(unsafe.Sizeof(heapItem{})) }

func (h *minHeap) shift(by int64) {
	for k := range h.items {
		h.items[k].key += by
	}
}

func (h *minHeap) push(it heapItem) {
	h.items = append(h.items, it)
	h.valid++
	h.up(len(h.items) - 1)
}

// top returns the least valid item, discarding the stale ones above it.
func (h *minHeap) top(valid heapValid) (heapItem, bool) {
	for len(h.items) > 0 {
		if it := h.items[0]; valid(it) {
			return it, true
		}
		h.popRoot()
	}
	return heapItem{}, false
}

// pop takes the least valid item out (after top has returned it).
func (h *minHeap) pop() {
	h.popRoot()
	h.valid--
}

// left records that a member was made stale; valid tells the rest apart if it is time to
// rebuild.
func (h *minHeap) left(valid heapValid) {
	h.valid--
	if len(h.items) > 2*h.valid+64 {
		n := 0
		for _, it := range h.items {
			if valid(it) {
				h.items[n] = it
				n++
			}
		}
		h.items = h.items[:n]
		for k := n/2 - 1; k >= 0; k-- {
			h.down(k)
		}
	}
}

func (h *minHeap) popRoot() {
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	if last > 0 {
		h.down(0)
	}
}

func (h *minHeap) up(k int) {
	it := h.items[k]
	for k > 0 {
		p := (k - 1) / 2
		if !it.before(h.items[p]) {
			break
		}
		h.items[k] = h.items[p]
		k = p
	}
	h.items[k] = it
}

func (h *minHeap) down(k int) {
	it, n := h.items[k], len(h.items)
	for {
		c := 2*k + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h.items[r].before(h.items[c]) {
			c = r
		}
		if !h.items[c].before(it) {
			break
		}
		h.items[k] = h.items[c]
		k = c
	}
	h.items[k] = it
}

// check verifies the heap's order, that no member is in it twice and its count (the caller
// checks, from the members' side, that each has an item); inRange refuses a position that
// is not a slab's (before valid reads it), valid tells members from stale items.
func (h *minHeap) check(inRange func(uint32) error, valid heapValid) error {
	n := 0
	seen := map[uint32]bool{}
	for k, it := range h.items {
		if err := inRange(it.pos); err != nil {
			return err
		}
		if valid(it) {
			if seen[it.pos] {
				return fmt.Errorf("a heap holds member %d twice", it.pos)
			}
			seen[it.pos] = true
			n++
		}
		if k > 0 && it.before(h.items[(k-1)/2]) {
			return errors.New("a heap out of order")
		}
	}
	if n != h.valid {
		return fmt.Errorf("a heap of %d members holds %d valid items", h.valid, n)
	}
	return nil
}
