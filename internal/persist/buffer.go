package persist

import "github.com/tasker-systems/otelcol-tasker/internal/offheap"

// snapshotBuffer is where a snapshot is encoded: mapped outside the Go heap where the platform
// allows (internal/offheap), so that a buffer the size of the entity log does not cost twice
// its size in RSS through GC pacing. Between checkpoints its pages are given back (the mapping
// stays), so it holds memory only while a snapshot is taken and written; on the heap it is
// simply kept.
type snapshotBuffer struct {
	mem    []byte
	mapped bool
}

// get returns the buffer, empty, with room for at least n bytes.
func (b *snapshotBuffer) get(n int) []byte {
	if cap(b.mem) < n {
		b.free()
		b.mem, b.mapped = offheap.Alloc(n)
	}
	return b.mem[:0]
}

// owns reports whether data lives in the buffer (the encoder did not outgrow it).
func (b *snapshotBuffer) owns(data []byte) bool {
	return cap(b.mem) > 0 && cap(data) > 0 && &data[:1][0] == &b.mem[:1][0]
}

// release gives a mapped buffer's pages back to the system; the next use finds them zeroed.
func (b *snapshotBuffer) release() {
	if b.mapped {
		offheap.Release(b.mem)
	}
}

// free unmaps a mapped buffer and forgets it.
func (b *snapshotBuffer) free() {
	if b.mapped {
		_ = offheap.Free(b.mem)
	}
	b.mem, b.mapped = nil, false
}
