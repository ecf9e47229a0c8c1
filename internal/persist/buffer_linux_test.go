//go:build linux

package persist

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/otelcol-tasker/internal/persist/persisttest"
)

// TestSnapshotBufferOutsideTheHeap: the buffer a snapshot is encoded in is not on the Go
// heap, so the heap does not keep a copy of the log's size between checkpoints; and a
// snapshot written from the reused buffer reads back.
func TestSnapshotBufferOutsideTheHeap(t *testing.T) {
	store := persisttest.New()
	r := newRig(t, store)
	r.keeper.Begin(context.Background()) // nothing stored; checkpoints at shutdown only
	for range 40 {
		r.steps(1000)
	}
	heap := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	before := heap()
	size, err := r.keeper.write(context.Background(), "checkpoint", 0)
	require.NoError(t, err)
	require.Greater(t, size, 4<<20, "a snapshot of several MiB")
	stored := 0 // the in-memory store's copy of the chunks is on the heap, of course
	for _, k := range store.Keys() {
		stored += len(store.Get(k))
	}
	grew := heap() - before - int64(stored)
	assert.Less(t, grew, int64(size/4), "the heap grew by %d bytes beyond the stored %d for a snapshot of %d", grew, stored, size)
	assert.True(t, cap(r.keeper.buf.mem) >= size, "the buffer is kept, mapped")

	r.steps(500)
	_, err = r.keeper.write(context.Background(), "checkpoint", 0)
	require.NoError(t, err)
	assert.Equal(t, 40_501, newRig(t, store.Copy()).restore())
	require.NoError(t, r.keeper.Shutdown(context.Background()))
	assert.Zero(t, cap(r.keeper.buf.mem), "shutdown unmaps it")
}
