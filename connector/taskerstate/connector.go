package taskerstate // import "github.com/tasker-systems/otelcol-tasker/connector/taskerstate"

import (
	"context"
	"slices"
	"sync"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/points"
	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/series"
	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

const scopeName = "github.com/tasker-systems/otelcol-tasker/connector/taskerstate"

// taskerState is the tasker_state connector.
type taskerState struct {
	logger    *zap.Logger
	cfg       *Config
	next      consumer.Metrics
	clock     clockwork.Clock
	telemetry *telemetry
	extractor *transition.Extractor
	batches   sync.Pool
	build     points.Builder

	// mu guards everything below: the entity log, the series and the tables the log's
	// payloads refer to.
	mu        sync.Mutex
	log       *statelog.Log[payload]
	sink      *sink
	resources resources
	extras    tuples
	resCache  []uint32 // per batch, by ResourceIndex: resource id + 1 (0: not looked up)
	extraBuf  []string
	counts    batchCounts // since the last flush, for the component's own telemetry

	ticker   clockwork.Ticker
	done     chan struct{}
	stopped  chan struct{}
	shutOnce sync.Once

	// onFlush, when set (tests), is called at the end of every flush.
	onFlush func()
}

// batchCounts tallies what arrived between flushes.
type batchCounts struct {
	recognised [tasker.NumKinds]int64
	problems   transition.Counts
	anomalies  transition.AnomalyCounts
}

// payload is what the connector keeps with each transition in the entity log: no pointer,
// so the garbage collector does not scan the log.
type payload struct {
	traceID pcommon.TraceID
	spanID  pcommon.SpanID
	res     uint32 // output resource (resources)
	extra   uint32 // extra-dimension values (tuples), 0 when none are configured
}

func newTaskerState(set component.TelemetrySettings, logger *zap.Logger, cfg *Config, clock clockwork.Clock, next consumer.Metrics) (*taskerState, error) {
	tel, err := newTelemetry(set)
	if err != nil {
		return nil, err
	}
	c := &taskerState{
		logger:    logger,
		cfg:       cfg,
		next:      next,
		clock:     clock,
		telemetry: tel,
		extractor: transition.NewExtractor(cfg.Attributes, cfg.TransitionTime, cfg.Limits.Values),
		resources: newResources(cfg.ResourceKeyAttributes),
		extras:    newTuples(),
	}
	c.batches.New = func() any { return new(transition.Batch) }
	correlationIsDim := slices.ContainsFunc(cfg.ExtraDimensions, func(d string) bool { return slices.Contains(cfg.Attributes.CorrelationID, d) })
	c.build = points.Builder{Scope: scopeName, Resource: c.resources.write, ExtraDims: cfg.ExtraDimensions, CorrelationIsDim: correlationIsDim}
	c.sink = &sink{table: series.New(cfg.seriesConfig(), pcommon.NewTimestampFromTime(clock.Now())), extras: &c.extras, exemplars: cfg.Exemplars.Enabled}
	c.log = statelog.NewDeriving[payload](cfg.Limits, statelog.Timing{SettleWindow: cfg.SettleWindow, MaxClockSkew: cfg.MaxClockSkew}, clock, c.sink)
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
		zap.String("aggregation_temporality", c.cfg.AggregationTemporality),
		zap.Int("max_entities", c.cfg.Limits.MaxEntities), zap.Stringer("max_memory", c.cfg.Limits.MaxMemory))
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
// the last interval is not lost. The ticker's goroutine has stopped before the last flush,
// so flushes never overlap.
func (c *taskerState) Shutdown(ctx context.Context) error {
	c.shutOnce.Do(func() {
		if c.ticker != nil {
			c.ticker.Stop()
			close(c.done)
			<-c.stopped
		}
		c.flush(ctx, true)
		c.telemetry.shutdown()
	})
	return nil
}

// ConsumeTraces enters every transition of td into the entity log; the metrics are derived
// when the transitions settle, at a flush.
func (c *taskerState) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	b := c.batches.Get().(*transition.Batch)
	b.Reset()
	c.extractor.Extract(td, c.clock.Now(), b)

	c.mu.Lock()
	c.counts.problems.Add(&b.Problems)
	c.counts.anomalies.Add(&b.Anomalies)
	if len(b.Transitions) > 0 || len(b.Hints) > 0 {
		for i := range b.Hints {
			c.log.Learn(b.Hints[i])
		}
		n := td.ResourceSpans().Len()
		c.resCache = slices.Grow(c.resCache[:0], n)[:n]
		clear(c.resCache)
		for i := range b.Transitions {
			t := &b.Transitions[i]
			p := payload{res: c.resource(td, t.ResourceIndex), traceID: t.TraceID, spanID: t.SpanID}
			if len(c.cfg.ExtraDimensions) > 0 {
				p.extra = c.extras.acquire(c.extra(td, t))
			}
			if _, st := c.log.Add(t, p); st == statelog.Added {
				c.counts.recognised[t.Kind]++
			} else {
				c.extras.release(p.extra)
			}
		}
	}
	c.mu.Unlock()

	c.batches.Put(b)
	return nil
}

// resource returns the output-resource id of the batch's resource ri.
func (c *taskerState) resource(td ptrace.Traces, ri int) uint32 {
	if id := c.resCache[ri]; id != 0 {
		return id - 1
	}
	id := c.resources.id(td.ResourceSpans().At(ri).Resource().Attributes())
	c.resCache[ri] = id + 1
	return id
}

// extra returns the values of the configured extra_dimensions for t: a correlation-id
// dimension as the extractor found it, others from the carrier, then the resource. The
// slice is reused: the tuple table copies what it keeps.
func (c *taskerState) extra(td ptrace.Traces, t *transition.Transition) []string {
	out := c.extraBuf[:0]
	res := td.ResourceSpans().At(t.ResourceIndex).Resource().Attributes()
	for _, name := range c.cfg.ExtraDimensions {
		v := ""
		if slices.Contains(c.cfg.Attributes.CorrelationID, name) && t.CorrelationID != "" {
			v = t.CorrelationID
		} else if a, ok := t.Attrs.Get(name); ok {
			v = c.dimension(t.Kind, a.AsString())
		} else if a, ok := res.Get(name); ok {
			v = c.dimension(t.Kind, a.AsString())
		}
		out = append(out, v)
	}
	c.extraBuf = out
	return out
}

// dimension bounds an extra dimension's value like a name (limits::max_name_bytes, valid
// UTF-8), counting what it sets aside or repairs.
func (c *taskerState) dimension(k tasker.Kind, s string) string {
	v, oversized, repaired := transition.BoundName(s, c.cfg.Limits.Values.MaxNameBytes)
	switch {
	case oversized:
		c.counts.anomalies[k][transition.AnomalyOversizedDimension]++
	case repaired:
		c.counts.anomalies[k][transition.AnomalyInvalidUTF8Dimension]++
	}
	return v
}

// flush derives the facts of the transitions that have settled (all of them at shutdown),
// evicts what the entity log no longer needs, sets the live-state gauges and emits the
// metrics.
func (c *taskerState) flush(ctx context.Context, final bool) {
	c.mu.Lock()
	now := c.clock.Now()
	c.sink.now = now.UnixNano()
	if final {
		c.log.SettleAll()
	} else {
		c.log.Settle()
		c.log.Expire()
	}
	c.sink.setLiveGauges(c.log)
	if final {
		c.log.Close()
	}
	table := c.sink.table
	table.Expire(now.UnixNano())
	ts := pcommon.NewTimestampFromTime(now)
	md := c.build.Build(table, ts, final)
	table.Flushed(ts)
	st := flushStats{
		log:       c.log.TakeStats(),
		series:    table.TakeStats(),
		active:    table.Active(),
		tracked:   int64(c.log.Len()),
		bytes:     c.log.Bytes(),
		counts:    c.counts,
		resources: c.resources.takeRefused(),
		extras:    c.extras.takeRefused(),
	}
	c.counts = batchCounts{}
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
