package persist

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/tasker-systems/otelcol-tasker/internal/engine"
	"github.com/tasker-systems/otelcol-tasker/internal/persist/persisttest"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type nopTelemetry struct{ restored []string }

func (*nopTelemetry) Snapshotted(context.Context, string, int64) {}
func (n *nopTelemetry) Restored(_ context.Context, outcome string) {
	n.restored = append(n.restored, outcome)
}
func (*nopTelemetry) Lost(context.Context, int64) {}

// rig is a keeper on an engine, over a store; steps adds n step transitions to the engine.
type rig struct {
	t      *testing.T
	store  *persisttest.Storage
	engine *engine.Engine
	keeper *Keeper
	tel    *nopTelemetry
	next   int
}

func newRig(t *testing.T, store *persisttest.Storage) *rig {
	t.Helper()
	lc := engine.DefaultLogConfig()
	clock := clockwork.NewFakeClockAt(t0.Add(time.Minute))
	e := engine.New(engine.NewConfig(&lc, &engine.DeriveConfig{SettleWindow: 30 * time.Second, ResourceKeyAttributes: []string{"service.name"}}),
		engine.Shared, clock)
	client, err := store.GetClient(context.Background(), component.KindExtension, component.MustNewID("tasker_state"), "tasker_state")
	require.NoError(t, err)
	e.SetPersistent()
	r := &rig{t: t, store: store, engine: e, tel: &nopTelemetry{}}
	r.keeper = &Keeper{logger: zap.NewNop(), clock: clock, engine: e, client: client, telemetry: r.tel,
		stop: make(chan struct{}), stopped: make(chan struct{})}
	return r
}

func (r *rig) steps(n int) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "tasker-orchestration")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for range n {
		i := r.next
		r.next++
		s := spans.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{byte(i >> 8), byte(i), 1})
		s.SetSpanID(pcommon.SpanID{byte(i), 2})
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Millisecond)))
		a := s.Attributes()
		a.PutStr("step_uuid", fmt.Sprintf("01930000-%04x-7005-8000-%012x", i&0xffff, i))
		a.PutStr("task_uuid", "01930000-0000-700a-8000-000000000001")
		a.PutStr("from_state", "none")
		a.PutStr("to_state", "pending")
	}
	r.engine.Process(td, nil)
}

// checkpoint writes a snapshot, which must succeed.
func (r *rig) checkpoint() {
	r.t.Helper()
	_, err := r.keeper.write(context.Background(), "checkpoint", 0)
	require.NoError(r.t, err)
}

func (r *rig) restore() int {
	r.keeper.restore(context.Background())
	return r.engine.Len()
}

func (r *rig) chunkKeys(infix string) int {
	n := 0
	for _, k := range r.store.Keys() {
		if strings.Contains(k, "/snapshot."+infix) {
			n++
		}
	}
	return n
}

// small chunks, so that a snapshot of a few entities takes several.
func smallChunks(t *testing.T) {
	old := chunkSize
	chunkSize = 256
	t.Cleanup(func() { chunkSize = old })
}

// TestSnapshotsAlternateSlots: each snapshot goes, a chunk per write, into the slot the
// manifest does not name, and the manifest then names it: a restore reads the latest.
func TestSnapshotsAlternateSlots(t *testing.T) {
	smallChunks(t)
	store := persisttest.New()
	r := newRig(t, store)
	r.keeper.restore(context.Background())       // nothing stored
	for round, want := range []int{10, 25, 40} { // steps in all after each round
		r.steps(want - r.next)
		size, err := r.keeper.write(context.Background(), "checkpoint", 0)
		require.NoError(t, err)
		require.Greater(t, size, 3*chunkSize, "the snapshot must take several chunks")
		assert.Equal(t, round%2, r.keeper.slot, "round %d writes slot %d", round, round%2)
		got := newRig(t, store.Copy())
		assert.Equal(t, want+1, got.restore(), "round %d: a restore reads the latest snapshot", round)
	}
	assert.Positive(t, r.chunkKeys("b."), "slot 1 was written")
}

// TestFailedWriteKeepsTheLastSnapshot: a write that fails part-way through its chunks (a
// full disk) leaves the manifest naming the previous snapshot, whole.
func TestFailedWriteKeepsTheLastSnapshot(t *testing.T) {
	smallChunks(t)
	store := persisttest.New()
	r := newRig(t, store)
	r.keeper.restore(context.Background())
	r.steps(10)
	r.checkpoint()
	r.steps(30)
	store.FailAfter = store.Writes() + 2 // two chunks of the next snapshot, then full
	_, err := r.keeper.write(context.Background(), "checkpoint", 0)
	require.True(t, errors.Is(err, persisttest.ErrFull), "the write must fail: %v", err)
	store.FailAfter = 0
	got := newRig(t, store.Copy())
	assert.Equal(t, 11, got.restore(), "the first snapshot, whole")
	assert.Equal(t, []string{OutcomeRestored}, got.tel.restored)
	// The next write succeeds and is the one read back.
	r.checkpoint()
	assert.Equal(t, 41, newRig(t, store.Copy()).restore())
}

// TestOneSlotManifestIsRead: a manifest of 16 bytes (chunks and size, one slot, as earlier
// builds wrote) names slot 0's chunks, and the next snapshot goes to slot 1.
func TestOneSlotManifestIsRead(t *testing.T) {
	store := persisttest.New()
	r := newRig(t, store)
	r.keeper.restore(context.Background())
	r.steps(5)
	r.checkpoint()
	require.Equal(t, 0, r.keeper.slot)
	for _, k := range store.Keys() {
		if strings.HasSuffix(k, "/snapshot") {
			store.Put(k, store.Get(k)[:16])
		}
	}
	got := newRig(t, store)
	assert.Equal(t, 6, got.restore())
	assert.Equal(t, 0, got.keeper.slot)
	got.next = 5 // new steps
	got.steps(3)
	got.checkpoint()
	assert.Equal(t, 1, got.keeper.slot)
	assert.Equal(t, 9, newRig(t, store.Copy()).restore())
}
