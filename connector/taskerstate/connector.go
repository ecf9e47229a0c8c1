package taskerstate // import "github.com/tasker-systems/otelcol-tasker/connector/taskerstate"

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/metadata"
	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

const scopeName = "github.com/tasker-systems/otelcol-tasker/connector/taskerstate"

// maxResourceIdentities bounds the interned output-resource identities; past it, identities
// are still made, just not shared.
const maxResourceIdentities = 4096

// taskerState is the tasker_state connector.
type taskerState struct {
	logger    *zap.Logger
	cfg       *Config
	next      consumer.Metrics
	clock     clockwork.Clock
	telemetry *metadata.TelemetryBuilder
	extractor *transition.Extractor
	batches   sync.Pool

	mu        sync.Mutex
	log       *statelog.Log[payload]
	agg       *aggregator
	resources map[string]*resIdentity
	resCache  []*resIdentity // per batch, by ResourceIndex
	keyBuf    []byte
	corrKeys  []string
	// counters since the last flush, for the component's own telemetry
	recognised [3]int64
	problems   transition.Counts

	flushMu  sync.Mutex // one flush at a time (ticker, shutdown)
	ticker   clockwork.Ticker
	done     chan struct{}
	stopped  chan struct{}
	shutOnce sync.Once

	// onFlush, when set (tests), is called at the end of every flush.
	onFlush func()
}

func newTaskerState(set component.TelemetrySettings, logger *zap.Logger, cfg *Config, clock clockwork.Clock, next consumer.Metrics) (*taskerState, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	c := &taskerState{
		logger:    logger,
		cfg:       cfg,
		next:      next,
		clock:     clock,
		telemetry: tb,
		extractor: transition.NewExtractor(cfg.Attributes, cfg.TransitionTime),
		resources: make(map[string]*resIdentity),
		corrKeys:  cfg.Attributes.CorrelationID,
	}
	c.batches.New = func() any { return new(transition.Batch) }
	c.agg = newAggregator(cfg, pcommon.NewTimestampFromTime(clock.Now()))
	c.agg.corrIsDim = -1
	for i, d := range cfg.ExtraDimensions {
		if slices.Contains(c.corrKeys, d) {
			c.agg.corrIsDim = i
		}
	}
	c.log = statelog.New[payload](cfg.Limits, statelog.Timing{SettleWindow: cfg.SettleWindow, MaxClockSkew: cfg.MaxClockSkew}, clock, c.agg)
	return c, nil
}

// Capabilities implements consumer.Traces: the traces are only read.
func (*taskerState) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start starts the flush ticker.
func (c *taskerState) Start(ctx context.Context, _ component.Host) error {
	c.logger.Info("Starting tasker_state connector",
		zap.Stringer("flush_interval", c.cfg.FlushInterval), zap.Stringer("settle_window", c.cfg.SettleWindow),
		zap.String("aggregation_temporality", c.cfg.AggregationTemporality))
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

// Shutdown stops the ticker, settles everything the entity log holds and flushes, so that
// the last interval is not lost.
func (c *taskerState) Shutdown(ctx context.Context) error {
	c.shutOnce.Do(func() {
		if c.ticker != nil {
			c.ticker.Stop()
			close(c.done)
			<-c.stopped
		}
		c.flush(ctx, true)
		c.telemetry.Shutdown()
	})
	return nil
}

// ConsumeTraces enters every transition of td into the entity log; the metrics are derived
// when the transitions settle, at a flush.
func (c *taskerState) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	b := c.batches.Get().(*transition.Batch)
	b.Reset()
	c.extractor.Extract(td, b)

	c.mu.Lock()
	for k := range b.Problems {
		for p := range b.Problems[k] {
			c.problems[k][p] += b.Problems[k][p]
		}
	}
	if len(b.Transitions) > 0 || len(b.Hints) > 0 {
		for i := range b.Hints {
			c.log.Learn(b.Hints[i])
		}
		c.resCache = slices.Grow(c.resCache[:0], td.ResourceSpans().Len())[:td.ResourceSpans().Len()]
		clear(c.resCache)
		for i := range b.Transitions {
			t := &b.Transitions[i]
			p := payload{res: c.resource(td, t.ResourceIndex), traceID: t.TraceID, spanID: t.SpanID}
			if len(c.cfg.ExtraDimensions) > 0 {
				p.extra = c.extra(td, t)
			}
			if _, st := c.log.Add(t, p); st == statelog.Added {
				c.recognised[t.Kind]++
			}
		}
		clear(c.resCache)
	}
	c.mu.Unlock()

	c.batches.Put(b)
	return nil
}

// resource returns the output-resource identity of the batch's resource ri.
func (c *taskerState) resource(td ptrace.Traces, ri int) *resIdentity {
	if r := c.resCache[ri]; r != nil {
		return r
	}
	attrs := td.ResourceSpans().At(ri).Resource().Attributes()
	k := c.keyBuf[:0]
	for _, name := range c.cfg.ResourceKeyAttributes {
		if v, ok := attrs.Get(name); ok {
			k = append(k, name...)
			k = append(k, '=')
			k = append(k, v.AsString()...)
		}
		k = append(k, 0)
	}
	c.keyBuf = k
	r, ok := c.resources[string(k)]
	if !ok {
		r = &resIdentity{key: string(k), attrs: pcommon.NewMap()}
		for _, name := range c.cfg.ResourceKeyAttributes {
			if v, ok := attrs.Get(name); ok {
				v.CopyTo(r.attrs.PutEmpty(name))
			}
		}
		if len(c.resources) < maxResourceIdentities {
			c.resources[r.key] = r
		}
	}
	c.resCache[ri] = r
	return r
}

// extra returns the values of the configured extra_dimensions for t: a correlation-id
// dimension as the extractor found it, others from the carrier, then the resource.
func (c *taskerState) extra(td ptrace.Traces, t *transition.Transition) []string {
	out := make([]string, len(c.cfg.ExtraDimensions))
	res := td.ResourceSpans().At(t.ResourceIndex).Resource().Attributes()
	for i, name := range c.cfg.ExtraDimensions {
		if slices.Contains(c.corrKeys, name) && t.CorrelationID != "" {
			out[i] = strings.Clone(t.CorrelationID)
			continue
		}
		// Cloned like the correlation id: the value outlives the batch in the log and series.
		if v, ok := t.Attrs.Get(name); ok {
			out[i] = strings.Clone(v.AsString())
		} else if v, ok := res.Get(name); ok {
			out[i] = strings.Clone(v.AsString())
		}
	}
	return out
}

// flush derives the facts of the transitions that have settled (all of them at shutdown),
// evicts what the entity log no longer needs, and emits the metrics.
func (c *taskerState) flush(ctx context.Context, final bool) {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()

	c.mu.Lock()
	now := c.clock.Now()
	c.agg.now = now.UnixNano()
	if final {
		c.log.SettleAll()
		c.log.Close()
	} else {
		c.log.Settle()
		c.log.Expire()
	}
	md, active := c.agg.build(now.UnixNano(), pcommon.NewTimestampFromTime(now), final)
	stats := c.log.TakeStats()
	tracked := int64(c.log.Len())
	recognised, problems := c.recognised, c.problems
	c.recognised, c.problems = [3]int64{}, transition.Counts{}
	overflowed, exDropped, expired := c.agg.overflowed, c.agg.exDropped, c.agg.expired
	c.agg.overflowed, c.agg.exDropped, c.agg.expired = [numMetrics]int64{}, [numMetrics]int64{}, [numMetrics]int64{}
	c.mu.Unlock()

	c.record(ctx, &stats, tracked, recognised, &problems, active, overflowed, exDropped, expired)
	if md.DataPointCount() > 0 {
		if err := c.next.ConsumeMetrics(ctx, md); err != nil {
			c.logger.Error("Failed to hand on Tasker state metrics", zap.Error(err), zap.Int("data_points", md.DataPointCount()))
		}
	}
	if c.onFlush != nil {
		c.onFlush()
	}
}

var kinds = [3]tasker.Kind{tasker.KindUnknown, tasker.KindTask, tasker.KindStep}

func (c *taskerState) record(ctx context.Context, st *statelog.Stats, tracked int64, recognised [3]int64, problems *transition.Counts,
	active, overflowed, exDropped, expired [numMetrics]int64,
) {
	tb := c.telemetry
	addKind := func(ctr metric.Int64Counter, by [3]int64) {
		for k, n := range by {
			if n > 0 {
				ctr.Add(ctx, n, metric.WithAttributes(attribute.String("kind", kinds[k].String())))
			}
		}
	}
	addMetric := func(ctr metric.Int64Counter, by [numMetrics]int64) {
		for id, n := range by {
			if n > 0 {
				ctr.Add(ctx, n, metric.WithAttributes(attribute.String("metric", metricDefs[id].name)))
			}
		}
	}
	addKind(tb.ConnectorTaskerStateTransitions, recognised)
	addKind(tb.ConnectorTaskerStateDuplicates, st.Duplicates)
	addKind(tb.ConnectorTaskerStateLateTransitions, st.Late)
	addKind(tb.ConnectorTaskerStateOutOfOrder, st.OutOfOrder)
	addKind(tb.ConnectorTaskerStateClockSkew, st.Skewed)
	addKind(tb.ConnectorTaskerStateLearnConflicts, st.Conflicts)
	addKind(tb.ConnectorTaskerStateTransitionsDropped, st.Dropped)
	if st.Abandoned > 0 {
		tb.ConnectorTaskerStateAttemptsAbandoned.Add(ctx, st.Abandoned)
	}
	if st.SourcesEvicted > 0 {
		tb.ConnectorTaskerStateLookupTableEvictions.Add(ctx, st.SourcesEvicted, metric.WithAttributes(attribute.String("table", "service_instances")))
	}
	if st.NamesNotInterned > 0 {
		tb.ConnectorTaskerStateLookupTableEvictions.Add(ctx, st.NamesNotInterned, metric.WithAttributes(attribute.String("table", "names")))
	}
	for k := range problems {
		for p, n := range problems[k] {
			if n > 0 {
				tb.ConnectorTaskerStateProblems.Add(ctx, n, metric.WithAttributes(
					attribute.String("kind", kinds[k].String()), attribute.String("reason", transition.Problem(p).String())))
			}
		}
	}
	for k := range st.Evicted {
		for r, n := range st.Evicted[k] {
			if n > 0 {
				tb.ConnectorTaskerStateEntitiesEvicted.Add(ctx, n, metric.WithAttributes(
					attribute.String("kind", kinds[k].String()), attribute.String("reason", statelog.EvictReason(r).String())))
			}
		}
	}
	addMetric(tb.ConnectorTaskerStateOverflowedPoints, overflowed)
	addMetric(tb.ConnectorTaskerStateExemplarsDropped, exDropped)
	addMetric(tb.ConnectorTaskerStateSeriesExpired, expired)
	for id, n := range active {
		tb.ConnectorTaskerStateActiveSeries.Record(ctx, n, metric.WithAttributes(attribute.String("metric", metricDefs[id].name)))
	}
	tb.ConnectorTaskerStateTrackedEntities.Record(ctx, tracked)
}
