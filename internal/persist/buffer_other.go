//go:build !linux

package persist

// snapshotBuffer is where a snapshot is encoded: on the heap, kept between checkpoints (on
// Linux it is mapped outside the heap, buffer_linux.go).
type snapshotBuffer struct{ mem []byte }

func (b *snapshotBuffer) get(n int) []byte {
	if cap(b.mem) < n {
		b.mem = make([]byte, 0, n)
	}
	return b.mem[:0]
}

func (b *snapshotBuffer) owns(data []byte) bool {
	return cap(b.mem) > 0 && cap(data) > 0 && &data[:1][0] == &b.mem[:1][0]
}

func (b *snapshotBuffer) release() {}

func (b *snapshotBuffer) free() { b.mem = nil }
