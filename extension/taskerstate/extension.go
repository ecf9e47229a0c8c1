package taskerstate // import "github.com/tasker-systems/otelcol-tasker/extension/taskerstate"

import (
	"context"
	"errors"
	"sync"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.uber.org/zap"

	"github.com/tasker-systems/otelcol-tasker/internal/engine"
)

// entityLog holds the engine the processor and the connector share. It is made at Start,
// which the collector calls before it starts any pipeline.
type entityLog struct {
	logger *zap.Logger
	cfg    *Config
	clock  clockwork.Clock

	mu     sync.Mutex
	engine *engine.Engine
}

var _ engine.Provider = (*entityLog)(nil)

func newEntityLog(set extension.Settings, cfg *Config, clock clockwork.Clock) *entityLog {
	return &entityLog{logger: set.Logger, cfg: cfg, clock: clock}
}

func (x *entityLog) Start(context.Context, component.Host) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.engine = engine.New(engine.NewConfig(&x.cfg.LogConfig, &x.cfg.DeriveConfig), engine.Shared, x.clock)
	l := x.cfg.Limits
	x.logger.Info("Starting tasker_state entity log, shared by the processor and the connector that name it",
		zap.Stringer("settle_window", x.cfg.SettleWindow), zap.Int("max_entities", l.MaxEntities),
		zap.Stringer("max_memory", l.MaxMemory), zap.Stringer("idle_ttl", l.IdleTTL))
	return nil
}

func (x *entityLog) Shutdown(context.Context) error { return nil }

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
