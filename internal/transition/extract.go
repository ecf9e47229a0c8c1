package transition

import (
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// Transition is one recognised state transition, with everything the entity logs and the
// stamps need. Its strings point into the batch's data: clone before keeping them. Every
// value is within the extractor's ValueLimits.
type Transition struct {
	Kind tasker.Kind
	// ID is the entity's id: the task id of a task transition, the step id of a step's.
	// Ids are at most MaxIDBytes long and kept as received, invalid UTF-8 included: they are
	// never a label or a stamp, only the key of an entity's log, and repairing them could
	// merge two distinct ids into one.
	ID string
	// TaskID is the task a step belongs to, when the telemetry says; for a task, its ID.
	TaskID string
	// From and To are the states as received (From is StateNone for "none" or empty).
	From, To tasker.State
	// Time is the carrier's timestamp, between EarliestPlausible and the collector's clock
	// plus MaxFutureSkew.
	Time pcommon.Timestamp
	// Namespace, Handler and CorrelationID are the values the telemetry itself gives this
	// transition (carrier, then enclosing span, then resource), or "". They are valid UTF-8
	// (invalid bytes repaired) and within their limits (a longer value is absent).
	Namespace     string
	Handler       string
	CorrelationID string
	// Attempt is the carrier's attempt attribute (an int in 1..MaxAttempt), 0 when absent.
	Attempt int64
	TraceID pcommon.TraceID
	SpanID  pcommon.SpanID
	// Source identifies the emitting service instance: clock skew exists only between sources.
	Source Source
	// Attrs are the carrier's attributes (the span's or the event's): where stamps go.
	Attrs pcommon.Map
	// ResourceIndex is the index of the ResourceSpans the transition came from.
	ResourceIndex int
}

// Source is the service instance a transition came from: the resource's service.name and
// service.instance.id, each "" when longer than MaxNameBytes.
type Source struct{ Service, Instance string }

// Hint is what an ordinary span (or a transition's enclosing span) tells about Tasker's
// entities: a task's namespace, a step's handler, the task a step belongs to. Its values
// are bounded and repaired like a Transition's; an oversized id is absent.
type Hint struct {
	TaskID, StepID     string
	Namespace, Handler string
}

// Problem is why a carrier that looked like a transition was not recognised.
type Problem uint8

const (
	// ProblemWrongType: from_state/to_state present but not both as strings (the carrier is
	// then not a transition).
	ProblemWrongType Problem = iota
	// ProblemUnknownState: a state outside the decided kind's table.
	ProblemUnknownState
	// ProblemUnclassified: neither ids, names nor states tell task from step.
	ProblemUnclassified
	// ProblemMissingID: the decided kind's id is absent.
	ProblemMissingID
	// ProblemZeroTimestamp: the carrier has no timestamp (OTLP's 0 is "unset").
	ProblemZeroTimestamp
	// ProblemImplausibleTimestamp: the carrier's timestamp is set but before
	// EarliestPlausible or later than the collector's clock plus MaxFutureSkew.
	ProblemImplausibleTimestamp
	// ProblemOversizedID: the transition's id, or a step's task id, is longer than
	// MaxIDBytes.
	ProblemOversizedID
	NumProblems
)

var problemNames = [NumProblems]string{"wrong_type", "unknown_state", "unclassified", "missing_id", "zero_timestamp",
	"implausible_timestamp", "oversized_id"}

func (p Problem) String() string { return problemNames[p] }

// Counts tallies problems by kind (KindUnknown when the kind was not decided).
type Counts [3][NumProblems]int64

// Anomaly is something wrong in a value of a transition or hint that was still recognised:
// the value was set aside (treated as absent) or repaired, or the span's times disagree.
// Each is counted once per transition or hint that would have used the value.
type Anomaly uint8

const (
	// AnomalyOversizedNamespace: a namespace longer than MaxNameBytes, treated as absent.
	AnomalyOversizedNamespace Anomaly = iota
	// AnomalyOversizedHandler: a handler longer than MaxNameBytes, treated as absent.
	AnomalyOversizedHandler
	// AnomalyOversizedCorrelationID: a correlation id longer than MaxCorrelationIDBytes,
	// treated as absent.
	AnomalyOversizedCorrelationID
	// AnomalyOversizedService: the resource's service.name or service.instance.id is longer
	// than MaxNameBytes, treated as absent (the transition's Source has "" for it).
	AnomalyOversizedService
	// AnomalyOversizedID: an ordinary span's task or step id is longer than MaxIDBytes; the
	// hint leaves it out. (On a transition, an oversized id is ProblemOversizedID.)
	AnomalyOversizedID
	// AnomalyInvalidUTF8Namespace: a namespace with invalid UTF-8, repaired.
	AnomalyInvalidUTF8Namespace
	// AnomalyInvalidUTF8Handler: a handler with invalid UTF-8, repaired.
	AnomalyInvalidUTF8Handler
	// AnomalyInvalidUTF8CorrelationID: a correlation id with invalid UTF-8, repaired.
	AnomalyInvalidUTF8CorrelationID
	// AnomalyAttemptOutOfRange: an int attempt number outside 1..MaxAttempt, treated as
	// absent.
	AnomalyAttemptOutOfRange
	// AnomalyStartAfterEnd: a transition span starts after it ends; the transition is still
	// at its transition_time timestamp.
	AnomalyStartAfterEnd
	// AnomalyOversizedDimension: a value of a dimension of the connector's output (an
	// opted-in extra dimension, or a resource key attribute such as service.name) longer
	// than MaxNameBytes, treated as absent (counted by the engine, see BoundName).
	AnomalyOversizedDimension
	// AnomalyInvalidUTF8Dimension: such a value with invalid UTF-8, repaired.
	AnomalyInvalidUTF8Dimension
	NumAnomalies
)

var anomalyNames = [NumAnomalies]string{"oversized_namespace", "oversized_handler", "oversized_correlation_id",
	"oversized_service", "oversized_id", "invalid_utf8_namespace", "invalid_utf8_handler", "invalid_utf8_correlation_id",
	"attempt_out_of_range", "start_after_end", "oversized_dimension", "invalid_utf8_dimension"}

func (a Anomaly) String() string { return anomalyNames[a] }

// AnomalyCounts tallies anomalies by the kind of entity the value belongs to: the
// transition's kind; for a hint, task for a namespace or task id, step for a handler or
// step id.
type AnomalyCounts [tasker.NumKinds][NumAnomalies]int64

// Add adds o's counts to c.
func (c *AnomalyCounts) Add(o *AnomalyCounts) {
	for k := range c {
		for a := range c[k] {
			c[k][a] += o[k][a]
		}
	}
}

// Batch is the result of extracting one ptrace.Traces. It is reused between batches.
type Batch struct {
	Transitions []Transition
	Hints       []Hint
	Problems    Counts
	Anomalies   AnomalyCounts

	// scratch, kept here so that extraction allocates nothing
	span, event found
	latest      pcommon.Timestamp // the latest plausible timestamp of this extraction
}

// Reset empties the batch, keeping its buffers.
func (b *Batch) Reset() {
	clear(b.Transitions) // drop references into the previous batch's data
	b.Transitions = b.Transitions[:0]
	clear(b.Hints)
	b.Hints = b.Hints[:0]
	b.Problems = Counts{}
	b.Anomalies = AnomalyCounts{}
}

// Extractor finds transitions and hints. It holds only configuration and is safe for
// concurrent use.
type Extractor struct {
	time   TimeSource
	limits ValueLimits
	// maxBytes is the limit of each meaning whose values scan bounds and repairs (the
	// names: namespace, handler, correlation id); 0 for the others.
	maxBytes [numMeanings]int
	// index holds every configured key in a small table hashed on the key's length, first
	// and last byte, so that one pass over a map's attributes finds all meanings with about
	// one comparison per attribute (several default keys share a length).
	index [][]keyRef
}

// indexSize is the number of slots of the key index: a power of two, well above the
// number of keys a configuration names.
const indexSize = 64

func slot(k string) int {
	return (len(k)*7 + int(k[0])*3 + int(k[len(k)-1])) & (indexSize - 1)
}

// meaning is what an attribute key stands for.
type meaning uint8

const (
	mFrom meaning = iota
	mTo
	mTask
	mStep
	mNamespace
	mCorrelation
	mHandler
	mAttempt
	numMeanings
)

type keyRef struct {
	key  string
	m    meaning
	rank uint8 // position in its meaning's list: the lower wins
}

// asideAnomaly and repairedAnomaly are what a value of a meaning set aside (too long, or an
// attempt out of range) or repaired is counted as.
var (
	asideAnomaly = [numMeanings]Anomaly{mNamespace: AnomalyOversizedNamespace, mHandler: AnomalyOversizedHandler,
		mCorrelation: AnomalyOversizedCorrelationID, mAttempt: AnomalyAttemptOutOfRange}
	repairedAnomaly = [numMeanings]Anomaly{mNamespace: AnomalyInvalidUTF8Namespace, mHandler: AnomalyInvalidUTF8Handler,
		mCorrelation: AnomalyInvalidUTF8CorrelationID}
)

// NewExtractor returns an extractor for the given keys, transition-span time and value
// limits (which the caller has validated).
func NewExtractor(keys Keys, ts TimeSource, limits ValueLimits) *Extractor {
	x := &Extractor{time: ts, limits: limits, index: make([][]keyRef, indexSize)}
	x.maxBytes[mNamespace] = limits.MaxNameBytes
	x.maxBytes[mHandler] = limits.MaxNameBytes
	x.maxBytes[mCorrelation] = limits.MaxCorrelationIDBytes
	for m, list := range keys.lists() {
		for rank, k := range list {
			if k == "" {
				continue // Validate refuses it; an empty key never matches an attribute
			}
			x.index[slot(k)] = append(x.index[slot(k)], keyRef{key: k, m: meaning(m), rank: uint8(min(rank, 254))})
		}
	}
	return x
}

// found is what one attribute map says, per meaning: the value of its first key in list
// order that has a usable value (a non-empty string; for states any string, "" included;
// for the attempt an int in 1..MaxAttempt). Values of other types are absent; a name
// longer than its limit or an attempt out of range is set aside (absent, and remembered so
// that a transition that would have used it counts it).
type found struct {
	str  [numMeanings]string
	rank [numMeanings]uint8 // rank+1 of the key that gave str (or attempt); 0: none
	// aside is rank+1 of the best-ranked key whose value was set aside; 0: none.
	aside [numMeanings]uint8
	// repaired has bit m set when str[m] is a repair of invalid UTF-8.
	repaired uint16
	attempt  int64
	// fromKey and toKey: a state key is present, whatever its type.
	fromKey, toKey bool
}

func (f *found) states() bool { return f.rank[mFrom] != 0 && f.rank[mTo] != 0 }

// better reports whether key r outranks the key that gave f's value of its meaning.
func (f *found) better(r keyRef) bool { return f.rank[r.m] == 0 || r.rank < f.rank[r.m]-1 }

func (f *found) setAside(r keyRef) {
	if f.aside[r.m] == 0 || r.rank < f.aside[r.m]-1 {
		f.aside[r.m] = r.rank + 1
	}
}

// wasSetAside reports whether a value of m was set aside where it would have won.
func (f *found) wasSetAside(m meaning) bool {
	return f.aside[m] != 0 && (f.rank[m] == 0 || f.aside[m] < f.rank[m])
}

// scan reads m once.
func (x *Extractor) scan(m pcommon.Map, f *found) {
	*f = found{}
	for k, v := range m.All() {
		if k == "" {
			continue
		}
		for _, r := range x.index[slot(k)] {
			if r.key != k {
				continue
			}
			switch r.m {
			case mAttempt:
				if v.Type() == pcommon.ValueTypeInt && f.better(r) {
					if n := v.Int(); n >= 1 && n <= x.limits.MaxAttempt {
						f.attempt, f.rank[mAttempt] = n, r.rank+1
					} else {
						f.setAside(r)
					}
				}
				continue
			case mFrom:
				f.fromKey = true
			case mTo:
				f.toKey = true
			}
			if v.Type() != pcommon.ValueTypeStr {
				continue
			}
			str := v.Str()
			if (str == "" && r.m != mFrom && r.m != mTo) || !f.better(r) {
				continue
			}
			if limit := x.maxBytes[r.m]; limit > 0 {
				// The limit is checked before the repair (which allocates) and after it
				// (which may lengthen the value): what is kept is bounded either way.
				if len(str) > limit {
					f.setAside(r)
					continue
				}
				f.repaired &^= 1 << r.m
				if !validUTF8(str) {
					if str = strings.ToValidUTF8(str, string(utf8.RuneError)); len(str) > limit {
						f.setAside(r)
						continue
					}
					f.repaired |= 1 << r.m
				}
			}
			f.str[r.m], f.rank[r.m] = str, r.rank+1
		}
	}
}

// BoundName applies the extractor's rule for names to a value the extractor does not read
// itself (the connector's opt-in extra dimensions): longer than limit, it is set aside
// (""); with invalid UTF-8, it is repaired. It reports which, if either, happened.
func BoundName(s string, limit int) (v string, oversized, repaired bool) {
	if len(s) > limit {
		return "", true, false
	}
	if validUTF8(s) {
		return s, false, false
	}
	if s = strings.ToValidUTF8(s, string(utf8.RuneError)); len(s) > limit {
		return "", true, false
	}
	return s, false, true
}

// validUTF8 is utf8.ValidString with the ASCII of Tasker's names checked inline.
func validUTF8(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return utf8.ValidString(s)
		}
	}
	return true
}

// Extract appends every transition and hint of td to b. now is the collector's clock: a
// transition later than now plus MaxFutureSkew is implausible. It never changes td.
func (x *Extractor) Extract(td ptrace.Traces, now time.Time, b *Batch) {
	b.latest = pcommon.NewTimestampFromTime(now.Add(x.limits.MaxFutureSkew))
	rss := td.ResourceSpans()
	sf, ef := &b.span, &b.event
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		svc, svcAside := x.sourceValue(attrs, "service.name")
		inst, instAside := x.sourceValue(attrs, "service.instance.id")
		res := resource{attrs: attrs, index: i, src: Source{Service: svc, Instance: inst}, srcAside: svcAside || instAside}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				x.span(spans.At(k), &res, sf, ef, b)
			}
		}
	}
}

// resource is one ResourceSpans: its attributes are read once, and only when a transition
// needs a value that its carrier and span lack.
type resource struct {
	attrs pcommon.Map
	index int
	src   Source
	// srcAside: a source value was longer than MaxNameBytes and left out of src.
	srcAside bool
	read     bool
	f        found
}

// sourceValue is the resource's string attribute key: "" when absent, and also (aside) when
// longer than MaxNameBytes.
func (x *Extractor) sourceValue(attrs pcommon.Map, key string) (v string, aside bool) {
	if v = strAttr(attrs, key); len(v) > x.limits.MaxNameBytes {
		return "", true
	}
	return v, false
}

func (x *Extractor) values(r *resource) *found {
	if !r.read {
		r.read = true
		x.scan(r.attrs, &r.f)
	}
	return &r.f
}

func (x *Extractor) span(span ptrace.Span, res *resource, sf, ef *found, b *Batch) {
	x.scan(span.Attributes(), sf)
	switch x.spanCarrier(span, res, sf, ef, b) {
	case spanTransition:
		// the transition itself tells the log what the span would
	case spanRejected:
		x.hint(sf, false, b) // already counted as unrecognised: its ids are not counted again
	default:
		x.hint(sf, true, b)
	}
}

// hint records what a span that is not a transition tells about Tasker's entities. An
// oversized id is left out (and counted if countIDs).
func (x *Extractor) hint(sf *found, countIDs bool, b *Batch) {
	task, step := x.hintID(sf, mTask, countIDs, &b.Anomalies[tasker.KindTask]), x.hintID(sf, mStep, countIDs, &b.Anomalies[tasker.KindStep])
	if task == "" && step == "" {
		return
	}
	h := Hint{TaskID: task, StepID: step, Namespace: hintValue(sf, mNamespace, &b.Anomalies[tasker.KindTask])}
	if step != "" {
		h.Handler = hintValue(sf, mHandler, &b.Anomalies[tasker.KindStep])
	}
	if h.Namespace != "" || h.Handler != "" || (task != "" && step != "") {
		b.Hints = append(b.Hints, h)
	}
}

func (x *Extractor) hintID(sf *found, m meaning, count bool, counts *[NumAnomalies]int64) string {
	id := sf.str[m]
	if len(id) <= x.limits.MaxIDBytes {
		return id
	}
	if count {
		counts[AnomalyOversizedID]++
	}
	return ""
}

// hintValue is the span's value of m, counting what was set aside or repaired.
func hintValue(sf *found, m meaning, counts *[NumAnomalies]int64) string {
	tally(sf, m, sf.wasSetAside(m), counts)
	return sf.str[m]
}

// tally counts a value of m set aside on the way to f, and f's value if it was repaired.
func tally(f *found, m meaning, aside bool, counts *[NumAnomalies]int64) {
	if aside {
		counts[asideAnomaly[m]]++
	}
	if f.repaired&(1<<m) != 0 {
		counts[repairedAnomaly[m]]++
	}
}

// spanVerdict is what a span was to spanCarrier.
type spanVerdict uint8

const (
	spanNotTransition spanVerdict = iota // not a transition itself (its events may be)
	spanTransition                       // recognised as a transition
	spanRejected                         // a transition candidate, counted as a Problem
)

// spanCarrier extracts the span's transitions: its events', or else its own.
func (x *Extractor) spanCarrier(span ptrace.Span, res *resource, sf, ef *found, b *Batch) spanVerdict {
	events := span.Events()
	anyEvent := false
	for e := 0; e < events.Len(); e++ {
		ev := events.At(e)
		x.scan(ev.Attributes(), ef)
		if !x.statesPresent(ef, &b.Problems) {
			continue
		}
		anyEvent = true
		c := carrier{attrs: ev.Attributes(), own: ef, span: sf, name: ev.Name(), time: ev.Timestamp()}
		x.carrier(&c, span, res, b)
	}
	if anyEvent || !x.statesPresent(sf, &b.Problems) {
		return spanNotTransition
	}
	start, end := span.StartTimestamp(), span.EndTimestamp()
	c := carrier{attrs: span.Attributes(), own: sf, name: span.Name(), time: end,
		startAfterEnd: start != 0 && end != 0 && start > end} // an unset end is not before the start
	if x.time == TimeStart {
		c.time = start
	}
	if x.carrier(&c, span, res, b) {
		return spanTransition
	}
	return spanRejected
}

// statesPresent reports whether f has both states as strings. A value of another type is
// absent (§4): it does not make the carrier a transition, so a span whose events carry only
// wrong-typed states is still a carrier in its own right; such a pair is counted as
// wrong_type.
func (x *Extractor) statesPresent(f *found, problems *Counts) bool {
	if f.states() {
		return true
	}
	if f.fromKey && f.toKey {
		problems[tasker.KindUnknown][ProblemWrongType]++
	}
	return false
}

// carrier is one candidate transition: a span event (span set) or a span (span nil).
type carrier struct {
	attrs pcommon.Map
	own   *found // the carrier's attributes
	span  *found // the enclosing span's; nil for a transition span
	name  string
	time  pcommon.Timestamp
	// startAfterEnd: a transition span whose start is after its end.
	startAfterEnd bool
}

// spanStr is the enclosing span's value for m, "" for a transition span.
func (c *carrier) spanStr(m meaning) string {
	if c.span == nil {
		return ""
	}
	return c.span.str[m]
}

// carrier extracts one transition; it reports whether one was recognised.
func (x *Extractor) carrier(c *carrier, span ptrace.Span, res *resource, b *Batch) bool {
	from, to := tasker.ParseState(c.own.str[mFrom]), tasker.ParseState(c.own.str[mTo])
	kind := x.kind(c, from, to)
	if kind == tasker.KindUnknown {
		b.Problems[tasker.KindUnknown][ProblemUnclassified]++
		return false
	}
	m := tasker.MachineOf(kind)
	if to == tasker.StateNone || !m.Knows(from) || !m.Knows(to) {
		b.Problems[kind][ProblemUnknownState]++
		return false
	}
	switch {
	case c.time == 0:
		b.Problems[kind][ProblemZeroTimestamp]++
		return false
	case c.time < earliestPlausible || c.time > b.latest:
		b.Problems[kind][ProblemImplausibleTimestamp]++
		return false
	}

	t := Transition{Kind: kind, From: from, To: to, Time: c.time, TraceID: span.TraceID(), SpanID: span.SpanID(),
		Source: res.src, Attrs: c.attrs, ResourceIndex: res.index}
	// Ids: the carrier's own, then the enclosing span's, then the resource's. Other values on
	// the enclosing span are borrowed only when the span is about the same entity.
	spanTask, spanStep := c.spanStr(mTask), c.spanStr(mStep)
	taskID := first(c.own.str[mTask], spanTask)
	if taskID == "" {
		taskID = x.values(res).str[mTask]
	}
	if kind == tasker.KindTask {
		t.ID, t.TaskID = taskID, taskID
	} else {
		if t.ID = first(c.own.str[mStep], spanStep); t.ID == "" {
			t.ID = x.values(res).str[mStep]
		}
		t.TaskID = taskID
	}
	switch {
	case t.ID == "":
		b.Problems[kind][ProblemMissingID]++
		return false
	case len(t.ID) > x.limits.MaxIDBytes || len(t.TaskID) > x.limits.MaxIDBytes:
		b.Problems[kind][ProblemOversizedID]++
		return false
	}
	// The transition is recognised: from here on, what is wrong is counted as an anomaly.
	counts := &b.Anomalies[kind]
	if kind == tasker.KindStep {
		sameStep := spanStep == "" || spanStep == t.ID
		t.Handler = x.lookup(c, res, mHandler, sameStep, counts).str[mHandler]
		t.Attempt = x.lookup(c, res, mAttempt, sameStep, counts).attempt
	}
	sameTask := spanTask == "" || spanTask == t.TaskID
	t.Namespace = x.lookup(c, res, mNamespace, sameTask, counts).str[mNamespace]
	t.CorrelationID = x.lookup(c, res, mCorrelation, sameTask, counts).str[mCorrelation]
	if res.srcAside {
		counts[AnomalyOversizedService]++
	}
	if c.startAfterEnd {
		counts[AnomalyStartAfterEnd]++
	}
	b.Transitions = append(b.Transitions, t)
	return true
}

// lookup returns the attributes that give m's value: the carrier's, then (if borrow) the
// enclosing span's, then the resource's; the resource's also when none has one. It counts a
// value set aside on the way, and the value's repair.
func (x *Extractor) lookup(c *carrier, res *resource, m meaning, borrow bool, counts *[NumAnomalies]int64) *found {
	f := c.own
	aside := f.wasSetAside(m)
	if f.rank[m] == 0 && borrow && c.span != nil {
		f = c.span
		aside = aside || f.wasSetAside(m)
	}
	if f.rank[m] == 0 {
		f = x.values(res)
		aside = aside || f.wasSetAside(m)
	}
	tally(f, m, aside, counts)
	return f
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// kind decides task or step: the carrier's own ids, its name, the enclosing span's ids,
// and last the state vocabulary (§4).
func (x *Extractor) kind(c *carrier, from, to tasker.State) tasker.Kind {
	switch {
	case c.own.str[mStep] != "":
		return tasker.KindStep
	case c.own.str[mTask] != "":
		return tasker.KindTask
	}
	if k := kindFromName(c.name); k != tasker.KindUnknown {
		return k
	}
	switch {
	case c.spanStr(mStep) != "":
		return tasker.KindStep
	case c.spanStr(mTask) != "":
		return tasker.KindTask
	}
	return tasker.KindFromStates(from, to)
}

func kindFromName(name string) tasker.Kind {
	switch {
	case hasPrefixFold(name, "step ") || hasPrefixFold(name, "step."):
		return tasker.KindStep
	case hasPrefixFold(name, "task ") || hasPrefixFold(name, "task."):
		return tasker.KindTask
	}
	return tasker.KindUnknown
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func strAttr(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// Add adds o's counts to c.
func (c *Counts) Add(o *Counts) {
	for k := range c {
		for p := range c[k] {
			c[k][p] += o[k][p]
		}
	}
}
