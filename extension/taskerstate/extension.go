package taskerstate // import "github.com/tasker-systems/otelcol-tasker/extension/taskerstate"

import (
	"context"
	"errors"
	"sync"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.uber.org/zap"

	"github.com/tasker-systems/otelcol-tasker/extension/taskerstate/internal/metadata"
	"github.com/tasker-systems/otelcol-tasker/internal/engine"
	"github.com/tasker-systems/otelcol-tasker/internal/persist"
)

// entityLog holds the engine the processor and the connector share. It is made at Start,
// which the collector calls before it starts any pipeline; with storage, its state is read
// back then, and written at Shutdown, which comes after every pipeline's.
type entityLog struct {
	id        component.ID
	logger    *zap.Logger
	cfg       *Config
	clock     clockwork.Clock
	telemetry *metadata.TelemetryBuilder

	mu     sync.Mutex
	engine *engine.Engine
	keeper *persist.Keeper
}

var _ engine.Provider = (*entityLog)(nil)

func newEntityLog(set extension.Settings, cfg *Config, clock clockwork.Clock) (*entityLog, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &entityLog{id: set.ID, logger: set.Logger, cfg: cfg, clock: clock, telemetry: tb}, nil
}

func (x *entityLog) Start(ctx context.Context, host component.Host) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := engine.New(engine.NewConfig(&x.cfg.LogConfig, &x.cfg.DeriveConfig), engine.Shared, x.clock)
	l := x.cfg.Limits
	x.logger.Info("Starting tasker_state entity log, shared by the processor and the connector that name it",
		zap.Stringer("settle_window", x.cfg.SettleWindow), zap.Int("max_entities", l.MaxEntities),
		zap.Stringer("max_memory", l.MaxMemory), zap.Stringer("idle_ttl", l.IdleTTL))
	if id := x.cfg.Storage; id != nil {
		tb := x.telemetry
		k, err := persist.Open(ctx, host, *id, component.KindExtension, x.id, e, x.cfg.CheckpointInterval, x.clock, x.logger,
			persist.Instruments{Snapshots: tb.ExtensionTaskerStateSnapshots, SnapshotBytes: tb.ExtensionTaskerStateSnapshotBytes,
				Restores: tb.ExtensionTaskerStateRestores, TransitionsLost: tb.ExtensionTaskerStateTransitionsLost})
		if err != nil {
			return err
		}
		x.keeper = k
		// The state includes the connector's series, so it is read back once every pipeline
		// has started (the connector attached), before the first batch or flush.
		bctx := context.WithoutCancel(ctx)
		e.OnFirstUse(func() { k.Begin(bctx) })
	}
	x.engine = e
	return nil
}

func (x *entityLog) Shutdown(ctx context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var err error
	if x.keeper != nil {
		err = x.keeper.Shutdown(ctx)
	}
	x.telemetry.Shutdown()
	return err
}

// errNotStarted: a component asked for the log before the collector started the extension.
var errNotStarted = errors.New("entity_log: the tasker_state extension has not started; list it in service::extensions")

// SharedEngine implements engine.Provider.
func (x *entityLog) SharedEngine() (*engine.Engine, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.engine == nil {
		return nil, errNotStarted
	}
	return x.engine, nil
}
