package statelog

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMinHeapAgainstSorting: members entering and leaving from anywhere, in random order and
// with many equal keys, always leave the heap's top at the least (key, sequence); ties go in
// the order they entered, also when the sequence wraps around.
func TestMinHeapAgainstSorting(t *testing.T) {
	type member struct {
		key      int64
		seq, pos uint32
		in       bool
	}
	for _, start := range []uint32{0, ^uint32(0) - 500} { // the second wraps during the test
		rng := rand.New(rand.NewPCG(1, uint64(start)))
		ms := make([]member, 2000)
		seq := start
		var h minHeap
		of := heapOf{
			less: func(a, b uint32) bool {
				if ms[a].key != ms[b].key {
					return ms[a].key < ms[b].key
				}
				return int32(ms[a].seq-ms[b].seq) < 0
			},
			place: func(i uint32) *uint32 { return &ms[i].pos },
		}
		for step := range 20000 {
			i := uint32(rng.IntN(len(ms)))
			if m := &ms[i]; m.in {
				h.remove(i, of)
				m.in = false
			} else {
				m.key, m.seq, m.in = int64(rng.IntN(20)), seq, true
				seq++
				h.push(i, of)
			}
			require.NoError(t, h.check(of, func(uint32) error { return nil }), "step %d", step)
			var in []uint32
			for j := range ms {
				if ms[j].in {
					in = append(in, uint32(j))
				}
			}
			require.Equal(t, len(in), h.len())
			if len(in) > 0 {
				least := slices.MinFunc(in, func(a, b uint32) int {
					if of.less(a, b) {
						return -1
					}
					return 1
				})
				require.Equal(t, least, h.top(), "step %d", step)
			}
		}
	}
}
