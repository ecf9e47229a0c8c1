// Package persist keeps an engine's state in a collector storage extension (docs/telemetry.md
// §5, Restarts): it reads the state back at start, checkpoints it at an interval, and writes
// it whole at shutdown. A snapshot is written in chunks, each in its own transaction, into
// the one of two slots that the manifest does not name; the manifest, written last, then names
// it, so that a reader finds the old snapshot or the new one, never half of each. One chunk
// per transaction keeps what the storage holds in memory while it commits to a chunk: bbolt
// (file_storage) keeps a transaction's dirty pages in memory until it commits, which for one
// batch of the whole state was another copy of the log. A small progress
// record, written every second, counts the transitions entered, so that after a crash what
// arrived past the last checkpoint is known.
package persist

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tasker-systems/otelcol-tasker/internal/engine"
	"github.com/tasker-systems/otelcol-tasker/internal/snapshot"
)

// Keys in the component's storage.
const (
	keyManifest = "snapshot"
	// keyChunk[slot] names a slot's chunks; slot 0's are those a manifest of 16 bytes (an
	// earlier build's, which had one slot) names.
	keyProgress = "progress"
	// progressEvery is how often the count of transitions entered is recorded.
	progressEvery = time.Second
)

var keyChunk = [2]string{"snapshot.%d", "snapshot.b.%d"}

// chunkSize bounds one stored value and so one transaction (a variable for the tests).
var chunkSize = 4 << 20

// Outcomes of a restore, as the outcome attribute of the restores counter.
const (
	OutcomeRestored = "restored"
	OutcomeNone     = "none" // no snapshot (a first start)
)

// Telemetry is what a keeper tells the component's own telemetry.
type Telemetry interface {
	// Snapshotted: a snapshot of bytes was written, at a checkpoint or at shutdown.
	Snapshotted(ctx context.Context, reason string, bytes int64)
	// Restored: the outcome of the start's restore (restored, none, or why it was refused).
	Restored(ctx context.Context, outcome string)
	// Lost: transitions that arrived after the last checkpoint before a crash.
	Lost(ctx context.Context, transitions int64)
}

// Keeper keeps one engine's state.
type Keeper struct {
	logger    *zap.Logger
	clock     clockwork.Clock
	engine    *engine.Engine
	client    storage.Client
	telemetry Telemetry
	interval  time.Duration

	began     bool
	mu        sync.Mutex // one write at a time
	buf       snapshotBuffer
	last      int    // the last snapshot's size
	slot      int    // the slot of the snapshot stored now (1 when there is none: the first goes to 0)
	chunks    [2]int // chunks known to be stored in each slot
	progress  uint64
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

// Start opens the component's storage and begins at once (a component that owns its engine).
func Start(ctx context.Context, host component.Host, id component.ID, kind component.Kind, owner component.ID,
	e *engine.Engine, interval time.Duration, clock clockwork.Clock, logger *zap.Logger, tel Telemetry,
) (*Keeper, error) {
	k, err := Open(ctx, host, id, kind, owner, e, interval, clock, logger, tel)
	if err != nil {
		return nil, err
	}
	k.Begin(ctx)
	return k, nil
}

// Open gets the component's storage client from the extension id; only a storage that
// cannot be reached fails. The state is read back at Begin.
func Open(ctx context.Context, host component.Host, id component.ID, kind component.Kind, owner component.ID,
	e *engine.Engine, interval time.Duration, clock clockwork.Clock, logger *zap.Logger, tel Telemetry,
) (*Keeper, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("storage: no extension %q in this collector; declare a storage extension such as file_storage under extensions and list it in service::extensions", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not a storage extension; name one such as file_storage", id)
	}
	client, err := se.GetClient(ctx, kind, owner, "tasker_state")
	if err != nil {
		return nil, fmt.Errorf("storage: extension %q gave no client: %w", id, err)
	}
	e.SetPersistent()
	return &Keeper{logger: logger, clock: clock, engine: e, client: client, telemetry: tel, interval: interval,
		stop: make(chan struct{}), stopped: make(chan struct{})}, nil
}

// Begin reads back the state the storage holds into the engine (new, with its sink attached)
// and starts checkpointing every interval (0: at shutdown only). A snapshot that cannot be
// restored is logged and counted, and the engine starts empty.
func (k *Keeper) Begin(ctx context.Context) {
	k.restore(ctx)
	k.began = true
	// The tickers are made here, not in the goroutine, so that they count from now.
	progress := k.clock.NewTicker(progressEvery)
	var checkpoint clockwork.Ticker
	if k.interval > 0 {
		checkpoint = k.clock.NewTicker(k.interval)
	}
	go k.run(context.WithoutCancel(ctx), progress, checkpoint)
}

func (k *Keeper) restore(ctx context.Context) {
	began := time.Now()
	data, err := k.read(ctx)
	if err == nil && data == nil {
		k.telemetry.Restored(ctx, OutcomeNone)
		return
	}
	var got engine.Restored
	if err == nil {
		got, err = k.engine.Restore(data)
	}
	if err != nil {
		reason := snapshot.Reason(err)
		k.logger.Warn("Not restoring the tasker_state snapshot; starting empty", zap.String("reason", reason), zap.Error(err))
		k.telemetry.Restored(ctx, reason)
		return
	}
	k.progress = got.Entered
	downtime := time.Duration(max(0, k.clock.Now().UnixNano()-got.Header.Taken))
	clean := got.Header.Flags&snapshot.Clean != 0
	k.logger.Info("Restored the tasker_state entity log",
		zap.Int("entities", got.Entities), zap.Int("transitions", got.Transitions), zap.Int("series", got.Series), zap.Int("bytes", len(data)),
		zap.Stringer("took", time.Since(began).Round(time.Millisecond)), zap.Stringer("downtime", downtime.Round(time.Millisecond)),
		zap.Bool("clean", clean))
	k.telemetry.Restored(ctx, OutcomeRestored)
	if !clean {
		lost := int64(0)
		if p, perr := k.client.Get(ctx, keyProgress); perr == nil && len(p) == 8 {
			lost = int64(binary.LittleEndian.Uint64(p) - min(got.Entered, binary.LittleEndian.Uint64(p)))
		}
		k.logger.Warn("The collector stopped without writing its state; what arrived after the last checkpoint is lost",
			zap.Int64("transitions_lost", lost), zap.Time("checkpoint", time.Unix(0, got.Header.Taken)))
		k.telemetry.Lost(ctx, lost)
	}
}

// read returns the stored snapshot (nil when there is none), and notes its slot and chunks.
func (k *Keeper) read(ctx context.Context) ([]byte, error) {
	k.slot = 1
	m, err := k.client.Get(ctx, keyManifest)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the manifest: %v", snapshot.ErrTruncated, err)
	}
	if m == nil {
		return nil, nil
	}
	if len(m) != 16 && len(m) != 24 {
		return nil, fmt.Errorf("%w: a manifest of %d bytes", snapshot.ErrCorrupt, len(m))
	}
	chunks, size, slot := binary.LittleEndian.Uint64(m), binary.LittleEndian.Uint64(m[8:]), uint64(0)
	if len(m) == 24 {
		slot = binary.LittleEndian.Uint64(m[16:])
	}
	if chunks > 1<<20 || size > chunks*uint64(chunkSize) || slot > 1 {
		return nil, fmt.Errorf("%w: a manifest of %d chunks, %d bytes, slot %d", snapshot.ErrCorrupt, chunks, size, slot)
	}
	// Whatever the chunks hold, the next snapshot goes to the other slot.
	k.slot, k.chunks[slot] = int(slot), int(chunks)
	data := make([]byte, 0, size)
	for i := range int(chunks) {
		c, err := k.client.Get(ctx, fmt.Sprintf(keyChunk[slot], i))
		if err != nil || c == nil {
			return nil, fmt.Errorf("%w: chunk %d of %d missing", snapshot.ErrTruncated, i, chunks)
		}
		data = append(data, c...)
	}
	if uint64(len(data)) != size {
		return nil, fmt.Errorf("%w: %d bytes, the manifest says %d", snapshot.ErrTruncated, len(data), size)
	}
	return data, nil
}

// write takes a snapshot and stores it, a chunk at a time, in the slot the manifest does not
// name, then the manifest that names it, deleting in the same batch the chunks that slot had
// beyond the new snapshot's. It returns the snapshot's size.
func (k *Keeper) write(ctx context.Context, reason string, flags uint16) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	// Room for the state (Engine.Snapshot grows a buffer to the log's bytes and a MiB) and
	// for a snapshot a quarter larger than the last.
	data := k.engine.Snapshot(k.buf.get(max(int(k.engine.Bytes())+2<<20, k.last+k.last/4)), flags)
	if !k.buf.owns(data) {
		k.buf.free() // outgrown: data is on the heap, and the next buffer is sized by it
	}
	defer k.buf.release()
	k.last = len(data)
	slot := 1 - k.slot
	n := 0
	for off := 0; off < len(data) || n == 0; off += chunkSize {
		if err := k.client.Set(ctx, fmt.Sprintf(keyChunk[slot], n), data[off:min(len(data), off+chunkSize)]); err != nil {
			k.chunks[slot] = max(k.chunks[slot], n+1) // it may have been stored
			return 0, err
		}
		n++
	}
	var ops []*storage.Operation
	for i := n; i < k.chunks[slot]; i++ {
		ops = append(ops, storage.DeleteOperation(fmt.Sprintf(keyChunk[slot], i)))
	}
	m := binary.LittleEndian.AppendUint64(nil, uint64(n))
	m = binary.LittleEndian.AppendUint64(m, uint64(len(data)))
	m = binary.LittleEndian.AppendUint64(m, uint64(slot))
	ops = append(ops, storage.SetOperation(keyManifest, m))
	if err := k.client.Batch(ctx, ops...); err != nil {
		k.chunks[slot] = max(k.chunks[slot], n)
		return 0, err
	}
	k.slot, k.chunks[slot] = slot, n
	k.telemetry.Snapshotted(ctx, reason, int64(len(data)))
	// The buffer is kept for the next checkpoint, but not one far larger than the state.
	if cap(k.buf.mem) > 2*len(data)+chunkSize+2<<20 {
		k.buf.free()
	}
	return len(data), nil
}

// run checkpoints at the interval and records progress every second.
func (k *Keeper) run(ctx context.Context, progress, checkpointTicker clockwork.Ticker) {
	defer close(k.stopped)
	defer progress.Stop()
	var checkpoint <-chan time.Time
	if checkpointTicker != nil {
		defer checkpointTicker.Stop()
		checkpoint = checkpointTicker.Chan()
	}
	for {
		select {
		case <-k.stop:
			return
		case <-progress.Chan():
			if n := k.engine.Entered(); n != k.progress {
				if err := k.client.Set(ctx, keyProgress, binary.LittleEndian.AppendUint64(nil, n)); err == nil {
					k.progress = n
				}
			}
		case <-checkpoint:
			began := time.Now()
			size, err := k.write(ctx, "checkpoint", 0)
			if err != nil {
				k.logger.Warn("Could not checkpoint the tasker_state entity log", zap.Error(err))
				continue
			}
			k.logger.Debug("Checkpointed the tasker_state entity log", zap.Int("bytes", size), zap.Stringer("took", time.Since(began)))
		}
	}
}

// Shutdown stops checkpointing, writes the whole state and closes the storage client.
func (k *Keeper) Shutdown(ctx context.Context) error {
	var err error
	k.closeOnce.Do(func() {
		if !k.began { // never used: nothing to write over the stored state
			err = k.client.Close(ctx)
			return
		}
		close(k.stop)
		<-k.stopped
		began := time.Now()
		size, werr := k.write(ctx, "shutdown", snapshot.Clean)
		if err = werr; err != nil {
			k.logger.Error("Could not write the tasker_state entity log at shutdown: a restart starts from the last checkpoint", zap.Error(err))
		} else {
			k.logger.Info("Wrote the tasker_state entity log", zap.Int("bytes", size), zap.Stringer("took", time.Since(began).Round(time.Millisecond)))
		}
		k.mu.Lock()
		k.buf.free()
		k.mu.Unlock()
		err = errors.Join(err, k.client.Close(ctx))
	})
	return err
}

// Instruments are a component's own metrics of its keeper.
type Instruments struct {
	Snapshots       metric.Int64Counter // by reason
	SnapshotBytes   metric.Int64Gauge
	Restores        metric.Int64Counter // by outcome
	TransitionsLost metric.Int64Counter
}

// Snapshotted implements Telemetry.
func (in Instruments) Snapshotted(ctx context.Context, reason string, bytes int64) {
	in.Snapshots.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
	in.SnapshotBytes.Record(ctx, bytes)
}

// Restored implements Telemetry.
func (in Instruments) Restored(ctx context.Context, outcome string) {
	in.Restores.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}

// Lost implements Telemetry.
func (in Instruments) Lost(ctx context.Context, transitions int64) {
	in.TransitionsLost.Add(ctx, transitions)
}
