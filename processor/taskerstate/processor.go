package taskerstate // import "github.com/tasker-systems/otelcol-tasker/processor/taskerstate"

import (
	"context"
	"errors"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tasker-systems/otelcol-tasker/internal/engine"
	"github.com/tasker-systems/otelcol-tasker/internal/persist"
	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
	"github.com/tasker-systems/otelcol-tasker/processor/taskerstate/internal/metadata"
)

// The entity log's small tables, as the table attribute of lookup_table_evictions.
const (
	tableSources = iota
	tableNames
)

type stateProcessor struct {
	id        component.ID
	logger    *zap.Logger
	cfg       *Config
	clock     clockwork.Clock
	telemetry *metadata.TelemetryBuilder
	kindAttrs [tasker.NumKinds]metric.MeasurementOption
	problems  [tasker.NumKinds][transition.NumProblems]metric.MeasurementOption
	anomalies [tasker.NumKinds][transition.NumAnomalies]metric.MeasurementOption
	evictions [tasker.NumKinds][statelog.NumEvictReasons]metric.MeasurementOption
	tables    [2]metric.MeasurementOption

	// engine is the processor's own, or (entity_log) the tasker_state extension's, which a
	// connector shares: its log's counters are then the connector's to report.
	engine *engine.Engine
	shared bool
	// keeper keeps the processor's own log in storage (storage set).
	keeper *persist.Keeper
}

func newStateProcessor(set processor.Settings, cfg *Config, clock clockwork.Clock) (*stateProcessor, error) {
	p := &stateProcessor{id: set.ID, logger: set.Logger, cfg: cfg, clock: clock}
	if cfg.EntityLog == nil {
		p.engine = engine.New(engine.NewConfig(&cfg.LogConfig, nil), engine.Stamping, clock)
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	// The gauges read the engine, which a processor on a shared log has only once started.
	observe := func(read func(*engine.Engine) int64) metric.Int64Callback {
		return func(_ context.Context, o metric.Int64Observer) error {
			if e := p.engine; e != nil {
				o.Observe(read(e))
			}
			return nil
		}
	}
	if err := errors.Join(
		tb.RegisterProcessorTaskerStateTrackedEntitiesCallback(observe(func(e *engine.Engine) int64 { return int64(e.Len()) })),
		tb.RegisterProcessorTaskerStateEntityLogBytesCallback(observe((*engine.Engine).Bytes)),
	); err != nil {
		return nil, err
	}
	p.telemetry = tb
	// Attribute sets are built once, so that counting allocates nothing.
	p.tables[tableSources] = metric.WithAttributeSet(attribute.NewSet(attribute.String("table", "service_instances")))
	p.tables[tableNames] = metric.WithAttributeSet(attribute.NewSet(attribute.String("table", "names")))
	for k := range p.kindAttrs {
		kind := attribute.String("kind", tasker.Kind(k).String())
		p.kindAttrs[k] = metric.WithAttributeSet(attribute.NewSet(kind))
		for r := range p.problems[k] {
			p.problems[k][r] = metric.WithAttributeSet(attribute.NewSet(kind, attribute.String("reason", transition.Problem(r).String())))
		}
		for a := range p.anomalies[k] {
			p.anomalies[k][a] = metric.WithAttributeSet(attribute.NewSet(kind, attribute.String("reason", transition.Anomaly(a).String())))
		}
		for r := range p.evictions[k] {
			p.evictions[k][r] = metric.WithAttributeSet(attribute.NewSet(kind, attribute.String("reason", statelog.EvictReason(r).String())))
		}
	}
	return p, nil
}

func (p *stateProcessor) start(ctx context.Context, host component.Host) error {
	if id := p.cfg.EntityLog; id != nil {
		e, err := engine.FromHost(host, *id, "entity_log")
		if err != nil {
			return err
		}
		p.engine, p.shared = e, true
		p.logger.Info("Starting tasker_state processor on a shared entity log", zap.Stringer("entity_log", id))
		return nil
	}
	l := p.cfg.Limits
	p.logger.Info("Starting tasker_state processor",
		zap.Int("max_entities", l.MaxEntities), zap.Stringer("max_memory", l.MaxMemory),
		zap.Stringer("idle_ttl", l.IdleTTL), zap.Stringer("finished_grace", l.FinishedGrace))
	if id := p.cfg.Storage; id != nil {
		tb := p.telemetry
		k, err := persist.Start(ctx, host, *id, component.KindProcessor, p.id, p.engine, p.cfg.CheckpointInterval, p.clock, p.logger,
			persist.Instruments{Snapshots: tb.ProcessorTaskerStateSnapshots, SnapshotBytes: tb.ProcessorTaskerStateSnapshotBytes,
				Restores: tb.ProcessorTaskerStateRestores, TransitionsLost: tb.ProcessorTaskerStateTransitionsLost})
		if err != nil {
			return err
		}
		p.keeper = k
	}
	return nil
}

func (p *stateProcessor) shutdown(ctx context.Context) error {
	var err error
	if p.keeper != nil {
		err = p.keeper.Shutdown(ctx)
	}
	if p.telemetry != nil {
		p.telemetry.Shutdown()
	}
	return err
}

// processTraces enters every transition of the batch into the entity log before stamping
// any (§5), then stamps each transition's carrier with what the log knows now.
func (p *stateProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	var tally batchTally
	counts := p.engine.Process(td, func(t *transition.Transition, s statelog.Stamps, st statelog.Status) {
		tally.recognised[t.Kind]++
		if st == statelog.Duplicate {
			tally.duplicates[t.Kind]++
		}
		p.stamp(t, s, st == statelog.Duplicate, &tally)
	})
	p.record(ctx, &counts, &tally)
	return td, nil
}

// batchTally counts a batch's outcomes, so that the telemetry is updated once a batch.
type batchTally struct {
	recognised, invalid, duplicates [tasker.NumKinds]int64
	clashes                         int64
}

// record adds the batch's counts and the log's counters to the component's telemetry.
func (p *stateProcessor) record(ctx context.Context, counts *engine.BatchCounts, tally *batchTally) {
	tb := p.telemetry
	for k := range p.kindAttrs {
		if n := tally.recognised[k]; n > 0 {
			tb.ProcessorTaskerStateTransitions.Add(ctx, n, p.kindAttrs[k])
		}
		if n := tally.invalid[k]; n > 0 {
			tb.ProcessorTaskerStateTransitionsInvalid.Add(ctx, n, p.kindAttrs[k])
		}
		if n := tally.duplicates[k]; n > 0 {
			tb.ProcessorTaskerStateTransitionsDuplicate.Add(ctx, n, p.kindAttrs[k])
		}
		for r, n := range counts.Problems[k] {
			if n > 0 {
				tb.ProcessorTaskerStateTransitionsUnrecognised.Add(ctx, n, p.problems[k][r])
			}
		}
		for a, n := range counts.Anomalies[k] {
			if n > 0 {
				tb.ProcessorTaskerStateTransitionAnomalies.Add(ctx, n, p.anomalies[k][a])
			}
		}
	}
	if tally.clashes > 0 {
		tb.ProcessorTaskerStateStampClashes.Add(ctx, tally.clashes)
	}
	if p.shared {
		return
	}
	s := p.engine.TakeStats()
	for k := range p.kindAttrs {
		if n := s.OutOfOrder[k]; n > 0 {
			tb.ProcessorTaskerStateTransitionsOutOfOrder.Add(ctx, n, p.kindAttrs[k])
		}
		if n := s.Dropped[k]; n > 0 {
			tb.ProcessorTaskerStateTransitionsDropped.Add(ctx, n, p.kindAttrs[k])
		}
		if n := s.DurationsRefused[k]; n > 0 {
			tb.ProcessorTaskerStateDurationsRefused.Add(ctx, n, p.kindAttrs[k])
		}
		for r, n := range s.Evicted[k] {
			if n > 0 {
				tb.ProcessorTaskerStateEvictions.Add(ctx, n, p.evictions[k][r])
			}
		}
	}
	if s.SourcesEvicted > 0 {
		tb.ProcessorTaskerStateLookupTableEvictions.Add(ctx, s.SourcesEvicted, p.tables[tableSources])
	}
	if s.NamesNotInterned > 0 {
		tb.ProcessorTaskerStateLookupTableEvictions.Add(ctx, s.NamesNotInterned, p.tables[tableNames])
	}
}
