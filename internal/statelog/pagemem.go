package statelog

import (
	"runtime"
	"sync/atomic"

	"github.com/tasker-systems/otelcol-tasker/internal/offheap"
)

// The log's slab pages are mapped outside the Go heap where the platform allows
// (internal/offheap). They hold no pointers, so the garbage collector has nothing to scan in
// them either way; but on the heap their bytes count in the heap the collector paces itself
// by, so a log of max_memory cost about twice max_memory in RSS. Mapped, it costs what it
// holds.
//
// A page is unmapped when the pageMem that owns it can no longer be reached: a slab keeps
// its pageMems beside its pages, so a page goes only with its slab (a log dropped, or a
// slab replaced by a restore), when no code can use the page any more.

// mapped counts the bytes of the pages mapped now, in every log of the process.
var mapped atomic.Int64

// MappedBytes returns the bytes of slab pages mapped outside the heap now, in every log of
// the process (tests add it to the heap to see all the memory the logs hold).
func MappedBytes() int64 { return mapped.Load() }

// pageMem owns one page.
type pageMem struct{ b []byte }

// newPageMem returns n zeroed bytes, mapped where possible, with their owner.
func newPageMem(n int) ([]byte, *pageMem) {
	b, isMapped := offheap.Alloc(n)
	m := &pageMem{b: b}
	if isMapped {
		mapped.Add(int64(n))
		runtime.AddCleanup(m, func(b []byte) {
			if offheap.Free(b) == nil {
				mapped.Add(-int64(len(b)))
			}
		}, b)
	}
	return b, m
}
