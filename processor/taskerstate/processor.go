package taskerstate // import "github.com/tasker-systems/otelcol-tasker/processor/taskerstate"

import (
	"context"
	"strings"
	"sync"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
	"github.com/tasker-systems/otelcol-tasker/processor/taskerstate/internal/metadata"
)

// stampPrefix starts every attribute of the stamp contract.
const stampPrefix = "tasker."

// The stamp contract (§6): attribute names written on transition spans and events.
const (
	AttrEventName  = "tasker.event.name"
	AttrEntityKind = "tasker.entity.kind"
	AttrNamespace  = "tasker.namespace"
	AttrStateDur   = "tasker.state.duration"
	AttrTaskDur    = "tasker.task.duration"
	AttrAttempt    = "tasker.step.attempt"
	AttrHandler    = "tasker.step.handler"
	AttrInvalid    = "tasker.transition.invalid"
	AttrDuplicate  = "tasker.transition.duplicate"
)

// maxStamps is how many attributes stamp may add to one carrier.
const maxStamps = 9

// problemLogFull extends transition.Problem for a transition the entity log could not hold.
const problemLogFull = transition.NumProblems

// The entity log's small tables, as the table attribute of lookup_table_evictions.
const (
	tableSources = iota
	tableNames
)

// noData: the processor keeps nothing per transition beyond what the log itself holds.
type noData struct{}

type stateProcessor struct {
	logger    *zap.Logger
	limits    statelog.Limits
	extractor *transition.Extractor
	telemetry *metadata.TelemetryBuilder
	kindAttrs [3]metric.MeasurementOption
	problems  [3][transition.NumProblems + 1]metric.MeasurementOption
	evictions [3][statelog.NumEvictReasons]metric.MeasurementOption
	tables    [2]metric.MeasurementOption

	mu       sync.Mutex
	log      *statelog.Log[noData]
	batch    transition.Batch
	refs     []statelog.Ref[noData]
	statuses []statelog.Status
}

func newStateProcessor(set processor.Settings, cfg *Config, clock clockwork.Clock) (*stateProcessor, error) {
	p := &stateProcessor{
		logger:    set.Logger,
		limits:    cfg.Limits,
		extractor: transition.NewExtractor(cfg.Attributes, cfg.TransitionTime),
		log:       statelog.New[noData](cfg.Limits, statelog.Timing{MaxClockSkew: cfg.MaxClockSkew}, clock, nil),
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	if err := tb.RegisterProcessorTaskerStateTrackedEntitiesCallback(func(_ context.Context, o metric.Int64Observer) error {
		p.mu.Lock()
		n := p.log.Len()
		p.mu.Unlock()
		o.Observe(int64(n))
		return nil
	}); err != nil {
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
			reason := "log_full"
			if r < int(transition.NumProblems) {
				reason = transition.Problem(r).String()
			}
			p.problems[k][r] = metric.WithAttributeSet(attribute.NewSet(kind, attribute.String("reason", reason)))
		}
		for r := range p.evictions[k] {
			p.evictions[k][r] = metric.WithAttributeSet(attribute.NewSet(kind, attribute.String("reason", statelog.EvictReason(r).String())))
		}
	}
	return p, nil
}

func (p *stateProcessor) start(context.Context, component.Host) error {
	p.logger.Info("Starting tasker_state processor",
		zap.Int("max_entities", p.limits.MaxEntities), zap.Stringer("idle_ttl", p.limits.IdleTTL),
		zap.Stringer("finished_grace", p.limits.FinishedGrace))
	return nil
}

func (p *stateProcessor) shutdown(context.Context) error {
	if p.telemetry != nil {
		p.telemetry.Shutdown()
	}
	return nil
}

// processTraces enters every transition of the batch into the entity log before stamping
// any (§5), then stamps each transition's carrier with what the log knows now.
func (p *stateProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	p.mu.Lock()
	defer p.mu.Unlock()

	b := &p.batch
	b.Reset()
	p.extractor.Extract(td, b)
	p.log.Expire()
	var tally batchTally
	if len(b.Transitions) == 0 && len(b.Hints) == 0 && b.Problems == (transition.Counts{}) {
		p.record(ctx, &tally) // evictions
		return td, nil
	}

	for _, h := range b.Hints {
		p.log.Learn(h)
	}
	p.refs, p.statuses = p.refs[:0], p.statuses[:0]
	for i := range b.Transitions {
		ref, st := p.log.Add(&b.Transitions[i], noData{})
		p.refs = append(p.refs, ref)
		p.statuses = append(p.statuses, st)
	}
	for i := range b.Transitions {
		t := &b.Transitions[i]
		if p.statuses[i] == statelog.Dropped {
			tally.logFull[t.Kind]++
			continue
		}
		tally.recognised[t.Kind]++
		p.stamp(t, p.log.Stamps(p.refs[i]), p.statuses[i] == statelog.Duplicate, &tally)
	}
	p.record(ctx, &tally)
	return td, nil
}

// batchTally counts a batch's outcomes, so that the telemetry is updated once a batch.
type batchTally struct {
	recognised, invalid, logFull [3]int64
	clashes                      int64
}

// stamp writes the §6 attributes onto the transition's carrier, tallying invalid moves and
// the stamps not written because the attribute already existed.
func (p *stateProcessor) stamp(t *transition.Transition, s statelog.Stamps, duplicate bool, tally *batchTally) {
	m := tasker.MachineOf(t.Kind)
	// One growth of the attribute slice for all the stamps, not one per stamp.
	t.Attrs.EnsureCapacity(t.Attrs.Len() + maxStamps)
	w := newStamper(t.Attrs)
	if ev := m.EventName(t.From, t.To); ev != "" {
		w.str(AttrEventName, ev)
	}
	w.str(AttrEntityKind, t.Kind.String())
	if s.Namespace != "" {
		w.str(AttrNamespace, s.Namespace)
	}
	if s.HasStateSeconds {
		w.double(AttrStateDur, s.StateSeconds)
	}
	if s.HasTaskSeconds {
		w.double(AttrTaskDur, s.TaskSeconds)
	}
	if t.Kind == tasker.KindStep {
		if s.Attempt > 0 {
			w.int(AttrAttempt, int64(s.Attempt))
		}
		if s.Handler != "" {
			w.str(AttrHandler, s.Handler)
		}
	}
	if !m.Valid(t.From, t.To) {
		tally.invalid[t.Kind]++
		w.bool(AttrInvalid)
	}
	if duplicate {
		w.bool(AttrDuplicate)
	}
	tally.clashes += w.clashes
}

// record adds the batch's problems and the log's counters to the component's telemetry.
func (p *stateProcessor) record(ctx context.Context, tally *batchTally) {
	tb := p.telemetry
	for k := range p.kindAttrs {
		if n := tally.recognised[k]; n > 0 {
			tb.ProcessorTaskerStateTransitions.Add(ctx, n, p.kindAttrs[k])
		}
		if n := tally.invalid[k]; n > 0 {
			tb.ProcessorTaskerStateTransitionsInvalid.Add(ctx, n, p.kindAttrs[k])
		}
		if n := tally.logFull[k]; n > 0 {
			tb.ProcessorTaskerStateTransitionsUnrecognised.Add(ctx, n, p.problems[k][problemLogFull])
		}
	}
	for k := range p.batch.Problems {
		for r, n := range p.batch.Problems[k] {
			if n > 0 {
				tb.ProcessorTaskerStateTransitionsUnrecognised.Add(ctx, n, p.problems[k][r])
			}
		}
	}
	s := p.log.TakeStats()
	for k := range p.kindAttrs {
		if n := s.Duplicates[k]; n > 0 {
			tb.ProcessorTaskerStateTransitionsDuplicate.Add(ctx, n, p.kindAttrs[k])
		}
		if n := s.OutOfOrder[k]; n > 0 {
			tb.ProcessorTaskerStateTransitionsOutOfOrder.Add(ctx, n, p.kindAttrs[k])
		}
		for r, n := range s.Evicted[k] {
			if n > 0 {
				tb.ProcessorTaskerStateEvictions.Add(ctx, n, p.evictions[k][r])
			}
		}
	}
	if tally.clashes > 0 {
		tb.ProcessorTaskerStateStampClashes.Add(ctx, tally.clashes)
	}
	if s.SourcesEvicted > 0 {
		tb.ProcessorTaskerStateLookupTableEvictions.Add(ctx, s.SourcesEvicted, p.tables[tableSources])
	}
	if s.NamesNotInterned > 0 {
		tb.ProcessorTaskerStateLookupTableEvictions.Add(ctx, s.NamesNotInterned, p.tables[tableNames])
	}
}

// stamper adds attributes without ever overwriting one that is present.
type stamper struct {
	attrs pcommon.Map
	// anyStamp: the carrier already holds a tasker.* attribute, so each stamp must look
	// before it writes; most carriers hold none, and one pass tells.
	anyStamp bool
	clashes  int64
}

func newStamper(attrs pcommon.Map) stamper {
	w := stamper{attrs: attrs}
	for k := range attrs.All() {
		if strings.HasPrefix(k, stampPrefix) {
			w.anyStamp = true
			break
		}
	}
	return w
}

func (w *stamper) free(key string) bool {
	if !w.anyStamp {
		return true
	}
	if _, ok := w.attrs.Get(key); ok {
		w.clashes++
		return false
	}
	return true
}

func (w *stamper) str(key, v string) {
	if w.free(key) {
		w.attrs.PutStr(key, v)
	}
}

func (w *stamper) double(key string, v float64) {
	if w.free(key) {
		w.attrs.PutDouble(key, v)
	}
}

func (w *stamper) int(key string, v int64) {
	if w.free(key) {
		w.attrs.PutInt(key, v)
	}
}

func (w *stamper) bool(key string) {
	if w.free(key) {
		w.attrs.PutBool(key, true)
	}
}
