//go:build linux

package persist

import "syscall"

// snapshotBuffer is where a snapshot is encoded: memory mapped outside the Go heap, so that
// a buffer the size of the entity log does not count in the heap the garbage collector paces
// itself by (GOGC lets the heap grow to twice what is live: a heap buffer of the log's size
// would cost twice its size in RSS). Between checkpoints its pages are given back (the
// mapping stays), so it holds memory only while a snapshot is taken and written.
type snapshotBuffer struct{ mem []byte }

// get returns the buffer, empty, with room for at least n bytes.
func (b *snapshotBuffer) get(n int) []byte {
	if cap(b.mem) < n {
		b.free()
		mem, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			return make([]byte, 0, n) // no mapping to be had: the heap
		}
		b.mem = mem
	}
	return b.mem[:0]
}

// owns reports whether data lives in the buffer (the encoder did not outgrow it).
func (b *snapshotBuffer) owns(data []byte) bool {
	return cap(b.mem) > 0 && cap(data) > 0 && &data[:1][0] == &b.mem[:1][0]
}

// release gives the buffer's pages back to the system; the next use finds them zeroed.
func (b *snapshotBuffer) release() {
	if cap(b.mem) > 0 {
		_ = syscall.Madvise(b.mem[:cap(b.mem)], syscall.MADV_DONTNEED)
	}
}

// free unmaps the buffer.
func (b *snapshotBuffer) free() {
	if cap(b.mem) > 0 {
		_ = syscall.Munmap(b.mem[:cap(b.mem)])
	}
	b.mem = nil
}
