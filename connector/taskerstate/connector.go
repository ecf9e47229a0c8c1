package taskerstate // import "github.com/tasker-systems/otelcol-tasker/connector/taskerstate"

import (
	"context"
	"slices"
	"sync"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/points"
	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/series"
	"github.com/tasker-systems/otelcol-tasker/internal/engine"
	"github.com/tasker-systems/otelcol-tasker/internal/persist"
	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
)

const scopeName = "github.com/tasker-systems/otelcol-tasker/connector/taskerstate"

// taskerState is the tasker_state connector.
type taskerState struct {
	id        component.ID
	logger    *zap.Logger
	cfg       *Config
	next      consumer.Metrics
	clock     clockwork.Clock
	telemetry *telemetry

	// engine is the connector's own, or (entity_log) the tasker_state extension's, which a
	// processor upstream feeds: the connector then reads no spans itself.
	engine *engine.Engine
	shared bool
	// keeper keeps the connector's own log and series in storage (storage set).
	keeper *persist.Keeper
	// sink holds the series; the engine's lock guards it, since the engine's log hands it
	// the facts.
	sink  *sink
	build points.Builder

	mu     sync.Mutex
	counts engine.BatchCounts // since the last flush, for the component's own telemetry

	ticker   clockwork.Ticker
	done     chan struct{}
	stopped  chan struct{}
	shutOnce sync.Once

	// onFlush, when set (tests), is called at the end of every flush.
	onFlush func()
}

func newTaskerState(set connector.Settings, cfg *Config, clock clockwork.Clock, next consumer.Metrics) (*taskerState, error) {
	tel, err := newTelemetry(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	c := &taskerState{id: set.ID, logger: set.Logger, cfg: cfg, next: next, clock: clock, telemetry: tel}
	c.sink = &sink{table: series.New(cfg.seriesConfig(), pcommon.NewTimestampFromTime(clock.Now())), exemplars: cfg.Exemplars.Enabled}
	if cfg.EntityLog == nil {
		c.attach(engine.New(engine.NewConfig(&cfg.LogConfig, &cfg.DeriveConfig), engine.Deriving, clock))
	}
	return c, nil
}

// attach makes the connector's sink the receiver of an engine's facts.
func (c *taskerState) attach(e *engine.Engine) {
	c.engine = e
	ec := e.Config()
	c.sink.extras = e
	correlationIsDim := slices.ContainsFunc(ec.ExtraDims, func(d string) bool { return slices.Contains(ec.Attributes.CorrelationID, d) })
	c.build = points.Builder{Scope: scopeName, Resource: e.WriteResource, ExtraDims: ec.ExtraDims, CorrelationIsDim: correlationIsDim}
	e.Attach(c.sink)
}

// Capabilities implements consumer.Traces: the traces are only read.
func (*taskerState) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start starts the flush ticker.
func (c *taskerState) Start(ctx context.Context, host component.Host) error {
	if id := c.cfg.EntityLog; id != nil {
		e, err := engine.FromHost(host, *id, "entity_log")
		if err != nil {
			return err
		}
		c.attach(e)
		c.shared = true
		c.logger.Info("Starting tasker_state connector on a shared entity log",
			zap.Stringer("entity_log", id), zap.Stringer("flush_interval", c.cfg.FlushInterval),
			zap.String("aggregation_temporality", c.cfg.AggregationTemporality))
	} else {
		c.logger.Info("Starting tasker_state connector",
			zap.Stringer("flush_interval", c.cfg.FlushInterval), zap.Stringer("settle_window", c.cfg.SettleWindow),
			zap.String("aggregation_temporality", c.cfg.AggregationTemporality),
			zap.Int("max_entities", c.cfg.Limits.MaxEntities), zap.Stringer("max_memory", c.cfg.Limits.MaxMemory))
		if id := c.cfg.Storage; id != nil {
			tb := c.telemetry.tb
			k, err := persist.Start(ctx, host, *id, component.KindConnector, c.id, c.engine, c.cfg.CheckpointInterval, c.clock, c.logger,
				persist.Instruments{Snapshots: tb.ConnectorTaskerStateSnapshots, SnapshotBytes: tb.ConnectorTaskerStateSnapshotBytes,
					Restores: tb.ConnectorTaskerStateRestores, TransitionsLost: tb.ConnectorTaskerStateTransitionsLost})
			if err != nil {
				return err
			}
			c.keeper = k
		}
	}
	c.ticker = c.clock.NewTicker(c.cfg.FlushInterval)
	c.done, c.stopped = make(chan struct{}), make(chan struct{})
	// The context of Start must not be kept for the flushes; they use their own.
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer close(c.stopped)
		for {
			select {
			case <-c.done:
				return
			case <-c.ticker.Chan():
				c.flush(ctx, false)
			}
		}
	}()
	return nil
}

// Shutdown stops the ticker and flushes, so that the last interval is not lost: without
// storage it first settles everything the entity log holds; with storage the state is
// written whole instead, to settle after the restart. The ticker's goroutine has stopped
// before the last flush, so flushes never overlap.
func (c *taskerState) Shutdown(ctx context.Context) error {
	var err error
	c.shutOnce.Do(func() {
		if c.ticker != nil {
			c.ticker.Stop()
			close(c.done)
			<-c.stopped
		}
		if c.engine != nil {
			c.flush(ctx, true)
		}
		if c.keeper != nil {
			err = c.keeper.Shutdown(ctx)
		}
		c.telemetry.shutdown()
	})
	return err
}

// ConsumeTraces enters every transition of td into the entity log; the metrics are derived
// as the transitions settle. On a shared log the processor upstream has entered them.
func (c *taskerState) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	if c.shared {
		return nil
	}
	counts := c.engine.Process(td, nil)
	c.mu.Lock()
	c.counts.Add(&counts)
	c.mu.Unlock()
	return nil
}

// flush derives the facts of the transitions that have settled (all of them at shutdown),
// evicts what the entity log no longer needs, sets the live-state gauges and emits the
// metrics.
func (c *taskerState) flush(ctx context.Context, final bool) {
	var md pmetric.Metrics
	var st flushStats
	// With storage the state outlives the process: nothing is settled early.
	settleAll := final && !c.engine.Persistent()
	c.engine.Locked(func(log *statelog.Log[engine.Payload]) {
		now := c.clock.Now()
		if settleAll {
			log.SettleAll()
		} else {
			log.Settle()
			log.Expire()
		}
		c.sink.setLiveGauges(log)
		if settleAll && !c.shared {
			log.Close()
		}
		table := c.sink.table
		table.Expire(now.UnixNano())
		ts := pcommon.NewTimestampFromTime(now)
		md = c.build.Build(table, ts, final)
		table.Flushed(ts)
		st = flushStats{
			engine:  c.engine.TakeStatsLocked(),
			series:  table.TakeStats(),
			active:  table.Active(),
			tracked: int64(log.Len()),
			bytes:   log.Bytes(),
		}
	})
	c.mu.Lock()
	st.counts, c.counts = c.counts, engine.BatchCounts{}
	c.mu.Unlock()

	c.telemetry.record(ctx, &st)
	if md.DataPointCount() > 0 {
		if err := c.next.ConsumeMetrics(ctx, md); err != nil {
			c.logger.Error("Failed to hand on Tasker state metrics", zap.Error(err), zap.Int("data_points", md.DataPointCount()))
		}
	}
	if c.onFlush != nil {
		c.onFlush()
	}
}
