// Package engine is what both components run on: it finds the transitions of a batch of
// traces (internal/transition), learns what ordinary spans teach, and enters the
// transitions into an entity log (internal/statelog), keeping with each what the
// connector's metrics need (trace and span ids, output resource, extra dimensions).
//
// An engine stamps (the processor reads what its log knows of each transition as the batch
// passes), derives (the connector's log settles transitions and hands their facts to a
// sink), or both: one engine, and one log, shared by the processor and the connector of a
// collector through the tasker_state extension, so that nothing is extracted or stored
// twice.
package engine

import (
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

// Payload is what the log keeps with each transition for the metrics: no pointer, so the
// garbage collector does not scan the log.
type Payload struct {
	TraceID  pcommon.TraceID
	SpanID   pcommon.SpanID
	Resource uint32 // output resource (Resources)
	Extra    uint32 // extra-dimension values (ExtraValues), 0 when none are configured
}

// Mode says what an engine does.
type Mode uint8

const (
	// Stamping: the processor reads each transition's stamps as its batch passes.
	Stamping Mode = 1 << iota
	// Deriving: the log settles transitions and derives facts for the connector's sink.
	Deriving
	// Shared: both, for a processor and a connector sharing one log.
	Shared = Stamping | Deriving
)

// Config is what an engine is built from.
type Config struct {
	Attributes     transition.Keys
	TransitionTime transition.TimeSource
	MaxClockSkew   time.Duration
	Limits         statelog.Limits
	// Deriving only.
	SettleWindow time.Duration
	ResourceKeys []string
	ExtraDims    []string
}

// Sink receives a deriving engine's facts (the connector's series). Its methods are called
// with the engine's lock held.
type Sink interface {
	statelog.Sink[Payload]
	// Settling is called before facts are derived, with the collector's clock.
	Settling(now int64)
}

// BatchCounts is what one batch told about itself.
type BatchCounts struct {
	Recognised [tasker.NumKinds]int64 // transitions entered (duplicates not included)
	Problems   transition.Counts
	Anomalies  transition.AnomalyCounts
}

// Add adds o's counts to c.
func (c *BatchCounts) Add(o *BatchCounts) {
	for k := range c.Recognised {
		c.Recognised[k] += o.Recognised[k]
	}
	c.Problems.Add(&o.Problems)
	c.Anomalies.Add(&o.Anomalies)
}

// StampFunc writes what the log knows of a transition onto its carrier; status says whether
// it was added or is a duplicate.
type StampFunc func(t *transition.Transition, s statelog.Stamps, status statelog.Status)

// Engine runs one entity log. Its methods are safe for concurrent use: they hold its lock.
type Engine struct {
	mu        sync.Mutex
	cfg       Config
	mode      Mode
	clock     clockwork.Clock
	extractor *transition.Extractor
	log       *statelog.Log[Payload]
	sink      forward
	resources resources
	extras    tuples
	batch     transition.Batch
	refs      []statelog.Ref
	statuses  []statelog.Status
	resCache  []cachedResource // per batch, by ResourceIndex
	extraBuf  []string
	extraDims map[string]bool // extra dimensions that name a correlation-id key
	// entered counts the transitions entered since the log began, across restores: what a
	// crash lost is the count past the last checkpoint's.
	entered uint64
	// enteredByKind counts them since the last TakeStats.
	enteredByKind [tasker.NumKinds]int64
	// persistent: a keeper writes the state at shutdown, so it is not settled early then.
	persistent bool
	// firstUse runs once, before the engine is first used (the extension's restore, which
	// waits until the connector has attached its sink).
	firstUse     func()
	firstUseOnce sync.Once
}

// New returns an engine. A deriving one hands its facts to the sink attached with Attach
// (until then, nowhere).
func New(cfg Config, mode Mode, clock clockwork.Clock) *Engine {
	e := &Engine{
		cfg:       cfg,
		mode:      mode,
		clock:     clock,
		extractor: transition.NewExtractor(cfg.Attributes, cfg.TransitionTime, cfg.Limits.Values),
		resources: newResources(cfg.ResourceKeys, cfg.Limits.Values.MaxNameBytes),
		extras:    newTuples(),
		extraDims: map[string]bool{},
	}
	for _, d := range cfg.ExtraDims {
		if slices.Contains(cfg.Attributes.CorrelationID, d) {
			e.extraDims[d] = true
		}
	}
	e.sink.extras = &e.extras
	timing := statelog.Timing{SettleWindow: cfg.SettleWindow, MaxClockSkew: cfg.MaxClockSkew}
	switch mode {
	case Stamping:
		e.log = statelog.NewStamping[Payload](cfg.Limits, timing, clock)
	case Deriving:
		e.log = statelog.NewDeriving[Payload](cfg.Limits, timing, clock, &e.sink)
	default:
		e.log = statelog.NewShared[Payload](cfg.Limits, timing, clock, &e.sink)
	}
	return e
}

// Mode returns what the engine does.
func (e *Engine) Mode() Mode { return e.mode }

// Config returns what the engine was built from.
func (e *Engine) Config() Config { return e.cfg }

// Attach makes sink the receiver of a deriving engine's facts.
func (e *Engine) Attach(sink Sink) {
	e.mu.Lock()
	e.sink.to = sink
	e.mu.Unlock()
}

// Process finds the transitions and hints of td, enters every transition into the log
// before any is read (§5), and then, for a stamping engine, calls stamp for each that was
// kept, with what the log knows now. A deriving engine then settles what is due. td is
// never changed by the engine (stamp may change it).
func (e *Engine) Process(td ptrace.Traces, stamp StampFunc) BatchCounts {
	e.used()
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock.Now()
	b := &e.batch
	b.Reset()
	e.extractor.Extract(td, now, b)
	counts := BatchCounts{Problems: b.Problems, Anomalies: b.Anomalies}
	if e.mode&Stamping != 0 {
		e.log.Expire()
	}
	if len(b.Transitions) == 0 && len(b.Hints) == 0 {
		return counts
	}
	for i := range b.Hints {
		e.log.Learn(b.Hints[i])
	}
	deriving := e.mode&Deriving != 0
	if deriving {
		n := td.ResourceSpans().Len()
		e.resCache = slices.Grow(e.resCache[:0], n)[:n]
		clear(e.resCache)
	}
	e.refs, e.statuses = e.refs[:0], e.statuses[:0]
	e.log.Prefetch(b.Transitions)
	for i := range b.Transitions {
		t := &b.Transitions[i]
		var p Payload
		if deriving {
			p = Payload{TraceID: t.TraceID, SpanID: t.SpanID, Resource: e.resource(td, t, &counts)}
			if len(e.cfg.ExtraDims) > 0 {
				p.Extra = e.extras.acquire(e.extra(td, t, &counts))
			}
		}
		ref, st := e.log.Add(t, p)
		if st == statelog.Added {
			counts.Recognised[t.Kind]++
			e.entered++
			e.enteredByKind[t.Kind]++
		} else {
			e.extras.release(p.Extra)
		}
		e.refs = append(e.refs, ref)
		e.statuses = append(e.statuses, st)
	}
	if stamp != nil && e.mode&Stamping != 0 {
		for i := range b.Transitions {
			if e.statuses[i] != statelog.Dropped {
				stamp(&b.Transitions[i], e.log.Stamps(e.refs[i]), e.statuses[i])
			}
		}
	}
	if deriving {
		// Settling as batches come spreads the derivation over time, rather than holding
		// the lock for a whole flush interval's worth at once.
		e.sink.Settling(now.UnixNano())
		e.log.Settle()
	}
	return counts
}

// Entered returns the count of transitions entered since the log began (across restores).
func (e *Engine) Entered() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.entered
}

// SetPersistent says that the engine's state is written at shutdown and read back at start,
// so that a shutdown does not settle it early.
func (e *Engine) SetPersistent() {
	e.mu.Lock()
	e.persistent = true
	e.mu.Unlock()
}

// Persistent reports whether SetPersistent was called.
func (e *Engine) Persistent() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.persistent
}

// OnFirstUse sets what runs once, before the engine first processes or flushes (set before
// any use).
func (e *Engine) OnFirstUse(fn func()) { e.firstUse = fn }

func (e *Engine) used() {
	if e.firstUse != nil {
		e.firstUseOnce.Do(e.firstUse)
	}
}

// Locked runs fn with the engine's lock held, for what reads or changes the log and its
// sink together (the connector's flush). fn must not call the engine's other methods.
func (e *Engine) Locked(fn func(log *statelog.Log[Payload])) {
	e.used()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sink.Settling(e.clock.Now().UnixNano())
	fn(e.log)
}

// Len returns the number of tracked entities.
func (e *Engine) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log.Len()
}

// Bytes returns the bytes the log holds.
func (e *Engine) Bytes() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log.Bytes()
}

// TakeStats returns the log's counters since the last call, and those of the engine's
// tables.
func (e *Engine) TakeStats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.takeStats()
}

// Stats are the log's counters and the engine's tables'.
type Stats struct {
	statelog.Stats
	// Entered: transitions entered (duplicates not included), by kind.
	Entered [tasker.NumKinds]int64
	// ResourcesRefused: output resources past the table's bound; ExtrasRefused: tuples of
	// extra-dimension values past theirs.
	ResourcesRefused, ExtrasRefused int64
}

func (e *Engine) takeStats() Stats {
	s := Stats{Stats: e.log.TakeStats(), Entered: e.enteredByKind, ResourcesRefused: e.resources.takeRefused(), ExtrasRefused: e.extras.takeRefused()}
	e.enteredByKind = [tasker.NumKinds]int64{}
	return s
}

// TakeStatsLocked is TakeStats for use inside Locked.
func (e *Engine) TakeStatsLocked() Stats { return e.takeStats() }

// WriteResource copies the attributes of output resource id into out (inside Locked).
func (e *Engine) WriteResource(id uint32, out pcommon.Map) { e.resources.write(id, out) }

// ExtraValues returns a transition's extra-dimension values; false when they could not be
// kept (its facts then go to the overflow series). Only for use by the sink.
func (e *Engine) ExtraValues(id uint32) ([]string, bool) { return e.extras.values(id) }

// cachedResource is what a batch's resource was looked up as: its output-resource id + 1
// (0: not looked up yet), and what bounding did to its values.
type cachedResource struct {
	id    uint32
	flaws resourceFlaws
}

// resource returns the output-resource id of t's resource, counting for t what bounding
// did to its values (as a dimension's).
func (e *Engine) resource(td ptrace.Traces, t *transition.Transition, counts *BatchCounts) uint32 {
	c := &e.resCache[t.ResourceIndex]
	if c.id == 0 {
		id, flaws := e.resources.id(td.ResourceSpans().At(t.ResourceIndex).Resource().Attributes())
		*c = cachedResource{id: id + 1, flaws: flaws}
	}
	if c.flaws&resourceOversized != 0 {
		counts.Anomalies[t.Kind][transition.AnomalyOversizedDimension]++
	}
	if c.flaws&resourceRepaired != 0 {
		counts.Anomalies[t.Kind][transition.AnomalyInvalidUTF8Dimension]++
	}
	return c.id - 1
}

// extra returns the values of the configured extra dimensions for t: a correlation-id
// dimension as the extractor found it, others from the carrier, then the resource, bounded
// like names. The slice is reused: the tuple table copies what it keeps.
func (e *Engine) extra(td ptrace.Traces, t *transition.Transition, counts *BatchCounts) []string {
	out := e.extraBuf[:0]
	res := td.ResourceSpans().At(t.ResourceIndex).Resource().Attributes()
	for _, name := range e.cfg.ExtraDims {
		v := ""
		if e.extraDims[name] && t.CorrelationID != "" {
			v = t.CorrelationID
		} else if a, ok := t.Attrs.Get(name); ok {
			v = e.dimension(t.Kind, a.AsString(), counts)
		} else if a, ok := res.Get(name); ok {
			v = e.dimension(t.Kind, a.AsString(), counts)
		}
		out = append(out, v)
	}
	e.extraBuf = out
	return out
}

// dimension bounds an extra dimension's value like a name (limits::max_name_bytes, valid
// UTF-8), counting what it sets aside or repairs.
func (e *Engine) dimension(k tasker.Kind, s string, counts *BatchCounts) string {
	v, oversized, repaired := transition.BoundName(s, e.cfg.Limits.Values.MaxNameBytes)
	switch {
	case oversized:
		counts.Anomalies[k][transition.AnomalyOversizedDimension]++
	case repaired:
		counts.Anomalies[k][transition.AnomalyInvalidUTF8Dimension]++
	}
	return v
}

// forward is the log's sink: it passes facts on to the attached sink, tells the log which
// resource a payload belongs to (live state is grouped by it), and frees a payload's extra
// values with its transition.
type forward struct {
	to     Sink
	extras *tuples
}

var (
	_ statelog.Resourcer[Payload] = (*forward)(nil)
	_ statelog.Releaser[Payload]  = (*forward)(nil)
)

func (f *forward) Fact(fact *statelog.Fact[Payload]) {
	if f.to != nil {
		f.to.Fact(fact)
	}
}

func (f *forward) Settling(now int64) {
	if f.to != nil {
		f.to.Settling(now)
	}
}

func (f *forward) Resource(p *Payload) uint32 { return p.Resource }
func (f *forward) Release(p *Payload)         { f.extras.release(p.Extra) }
