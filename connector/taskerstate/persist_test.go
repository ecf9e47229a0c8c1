package taskerstate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/metadatatest"
	"github.com/tasker-systems/otelcol-tasker/internal/persist/persisttest"
)

var storageID = component.MustNewID("file_storage")

func persistentConfig(checkpoint time.Duration) *Config {
	cfg := testConfig()
	cfg.Storage, cfg.CheckpointInterval = &storageID, checkpoint
	return cfg
}

// TestRestartLosesNothing: the connector stops half-way through the golden fixture with
// storage, and a new one starts on it after ten minutes' downtime. The metrics are the
// golden ones: what had settled is kept, with the same start times (Prometheus sees no
// reset); what had not settles with what comes after the restart; the times in a state
// that span the restart (S1 in enqueued, T2 in error, ...) are derived.
func TestRestartLosesNothing(t *testing.T) {
	for _, settledFirst := range []bool{true, false} {
		store := persisttest.New()
		host := hostWith{storageID: store}
		clock := clockwork.NewFakeClockAt(clockStart)
		batches := goldenBatches()

		h1 := newHarnessOn(t, persistentConfig(0), clock, host)
		h1.consume(batches[:3]...)
		var before map[string]point
		if settledFirst {
			before = flatten(t, h1.ticks(3)) // 45 s: the first half settled and shown
			require.NotEmpty(t, before)
		} else {
			h1.tick() // 15 s: nothing settled
		}
		h1.shutdown()
		// Without storage the shutdown would have settled the rest; with it, nothing is
		// settled early: the state is in storage.
		require.NotEmpty(t, store.Keys())

		clock.Advance(10 * time.Minute)
		h2 := newHarnessOn(t, persistentConfig(0), clock, host)
		h2.consume(batches[3:]...)
		after := flatten(t, h2.ticks(4))
		assertGolden(t, after)
		for k, p := range before {
			assert.Equal(t, p.start, after[k].start, "%s keeps its start time across the restart", k)
		}
		metadatatest.AssertEqualConnectorTaskerStateRestores(t, h2.tel, []metricdata.DataPoint[int64]{
			{Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "restored"))},
		}, metricdatatest.IgnoreTimestamp())
	}
}

// TestCrashLosesWhatCameAfterTheCheckpoint: state checkpointed, more transitions entered,
// then the process dies (what storage holds is copied, as the crash leaves it). The new
// connector has the checkpoint's state: its metrics are those of the transitions up to it,
// and the transitions after it are counted as lost.
func TestCrashLosesWhatCameAfterTheCheckpoint(t *testing.T) {
	store := persisttest.New()
	clock := clockwork.NewFakeClockAt(clockStart)
	batches := goldenBatches()
	h1 := newHarnessOn(t, persistentConfig(time.Minute), clock, hostWith{storageID: store})
	h1.consume(batches[:3]...)
	h1.ticks(4) // 60 s: the first checkpoint
	require.Eventually(t, func() bool { return keyWith(store, "/snapshot") != nil }, 10*time.Second, 10*time.Millisecond)
	h1.consume(batches[3:]...) // 10 step transitions (D 4, E 2, F 4) after the checkpoint
	// The progress record is written every second of the collector's clock: each look moves
	// it a second on, so that a tick the keeper missed while it checkpointed comes again.
	require.Eventually(t, func() bool {
		clock.Advance(time.Second)
		p := keyWith(store, "/progress")
		return len(p) == 8 && p[0] == 23
	}, 10*time.Second, 50*time.Millisecond, "the progress record counts the 23 transitions entered")
	crashed := store.Copy()

	// What the checkpoint held: the first half alone, settled.
	want := newHarness(t, testConfig())
	want.consume(goldenBatches()[:3]...)
	wantPts := values(flatten(t, want.ticks(4)))

	h2 := newHarnessOn(t, persistentConfig(time.Minute), clock, hostWith{storageID: crashed})
	got := values(flatten(t, h2.ticks(4)))
	assert.Equal(t, wantPts, got)
	metadatatest.AssertEqualConnectorTaskerStateTransitionsLost(t, h2.tel, []metricdata.DataPoint[int64]{{Value: 10}},
		metricdatatest.IgnoreTimestamp())
}

// TestRefusedSnapshotStartsEmpty: a snapshot that does not read back (here its bytes
// damaged) is counted with its reason, and the connector starts empty and works.
func TestRefusedSnapshotStartsEmpty(t *testing.T) {
	store := persisttest.New()
	clock := clockwork.NewFakeClockAt(clockStart)
	h1 := newHarnessOn(t, persistentConfig(0), clock, hostWith{storageID: store})
	h1.consume(goldenBatches()[:3]...)
	h1.shutdown()
	for _, k := range store.Keys() {
		if strings.HasSuffix(k, "/snapshot.0") {
			v := store.Get(k)
			v[len(v)/2] ^= 0x11
			store.Put(k, v)
		}
	}
	h2 := newHarnessOn(t, persistentConfig(0), clock, hostWith{storageID: store})
	h2.consume(goldenBatches()...)
	assertGolden(t, flatten(t, h2.ticks(4)))
	metadatatest.AssertEqualConnectorTaskerStateRestores(t, h2.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "corrupt"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestSharedLogRestart: the shipped wiring, a processor and the connector on the extension's
// log with storage, restarted half-way: the golden metrics.
func TestSharedLogRestart(t *testing.T) {
	store := persisttest.New()
	clock := clockwork.NewFakeClockAt(clockStart)
	batches := goldenBatches()
	s1 := newSharedStackOn(t, clock, store)
	s1.send(batches[:3]...)
	s1.ticks(3)
	s1.stop()
	clock.Advance(5 * time.Minute)
	s2 := newSharedStackOn(t, clock, store)
	s2.send(batches[3:]...)
	assertGolden(t, flatten(t, s2.ticks(4)))
}

func keyWith(s *persisttest.Storage, suffix string) []byte {
	for _, k := range s.Keys() {
		if strings.HasSuffix(k, suffix) {
			return s.Get(k)
		}
	}
	return nil
}

var _ = context.Background
