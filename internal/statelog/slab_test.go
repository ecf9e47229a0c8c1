package statelog

import (
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestMinHeapAgainstSorting: members entering, leaving from anywhere and taken from the top,
// in random order and with many equal keys, always leave the least (key, stamp) at the top;
// ties go in the order they entered, also when the stamps wrap around; stale items never
// outnumber the members by much.
func TestMinHeapAgainstSorting(t *testing.T) {
	type member struct {
		key   int64
		stamp uint32
		in    bool
	}
	for _, start := range []uint32{0, ^uint32(0) - 500} { // the second wraps during the test
		rng := rand.New(rand.NewPCG(1, uint64(start)))
		ms := make([]member, 2000)
		stamp := start
		var h minHeap
		valid := func(it heapItem) bool { m := ms[it.pos]; return m.in && m.stamp == it.stamp && m.key == it.key }
		inRange := func(uint32) error { return nil }
		for step := range 20000 {
			i := uint32(rng.IntN(len(ms)))
			switch m := &ms[i]; {
			case rng.IntN(10) == 0:
				if it, ok := h.top(valid); ok {
					h.pop()
					ms[it.pos].in = false
				}
			case m.in:
				m.in = false
				h.left(valid)
			default:
				m.key, m.stamp, m.in = int64(rng.IntN(20)), stamp, true
				stamp++
				h.push(heapItem{key: m.key, stamp: m.stamp, pos: i})
			}
			require.NoError(t, h.check(inRange, valid), "step %d", step)
			var in []uint32
			for j := range ms {
				if ms[j].in {
					in = append(in, uint32(j))
				}
			}
			require.Equal(t, len(in), h.members())
			require.LessOrEqual(t, len(h.items), 2*len(in)+65)
			top, ok := h.top(valid)
			require.Equal(t, len(in) > 0, ok)
			if ok {
				least := slices.MinFunc(in, func(a, b uint32) int {
					if ka, kb := ms[a].key, ms[b].key; ka != kb {
						return int(ka - kb)
					}
					return int(int32(ms[a].stamp - ms[b].stamp))
				})
				require.Equal(t, least, top.pos, "step %d", step)
			}
		}
	}
}

// TestRecordSizes: the sizes of the slab records that the comments, the README's Memory
// section and the bytes per entity rest on: an entity 96 bytes (160 with a deriving log's
// dentity), a transition 32 (plus 16 of settling state in a deriving log).
func TestRecordSizes(t *testing.T) {
	require.Equal(t, uintptr(96), unsafe.Sizeof(entity{}), "entity")
	require.Equal(t, uintptr(64), unsafe.Sizeof(dentity{}), "dentity")
	require.Equal(t, uintptr(32), unsafe.Sizeof(entry{}), "entry")
	require.Equal(t, uintptr(16), unsafe.Sizeof(settling{}), "settling")
}
