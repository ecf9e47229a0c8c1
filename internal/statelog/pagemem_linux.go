//go:build linux

package statelog

import (
	"runtime"
	"sync/atomic"
	"syscall"
)

// The log's slab pages are mapped outside the Go heap. They hold no pointers, so the garbage
// collector has nothing to scan in them either way; but on the heap their bytes count in the
// heap the collector paces itself by (GOGC lets it grow to twice what is live), so a log of
// max_memory cost about twice max_memory in RSS. Mapped, it costs what it holds.
//
// A page is unmapped when the pageMem that owns it can no longer be reached: a slab keeps
// its pageMems beside its pages, so a page goes only with its slab (a log dropped, or a
// slab replaced by a restore), when no code can use the page any more.

// mapped counts the bytes of the pages mapped now, in every log of the process.
var mapped atomic.Int64

// MappedBytes returns the bytes of slab pages mapped outside the heap now, in every log of
// the process (tests add it to the heap to see all the memory the logs hold).
func MappedBytes() int64 { return mapped.Load() }

// pageMem owns one mapped page.
type pageMem struct{ b []byte }

// newPageMem maps n zeroed bytes (the heap, should the mapping fail) and returns them with
// their owner.
func newPageMem(n int) ([]byte, *pageMem) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		b := make([]byte, n)
		return b, &pageMem{b: b}
	}
	m := &pageMem{b: b}
	mapped.Add(int64(n))
	runtime.AddCleanup(m, func(b []byte) {
		if syscall.Munmap(b) == nil {
			mapped.Add(-int64(len(b)))
		}
	}, b)
	return b, m
}
