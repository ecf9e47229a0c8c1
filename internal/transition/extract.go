package transition

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// Transition is one recognised state transition, with everything the entity logs and the
// stamps need. Its strings point into the batch's data: clone before keeping them.
type Transition struct {
	Kind tasker.Kind
	// ID is the entity's id: the task id of a task transition, the step id of a step's.
	ID string
	// TaskID is the task a step belongs to, when the telemetry says; for a task, its ID.
	TaskID string
	// From and To are the states as received (From is StateNone for "none" or empty).
	From, To tasker.State
	Time     pcommon.Timestamp
	// Namespace, Handler and CorrelationID are the values the telemetry itself gives this
	// transition (carrier, then enclosing span, then resource), or "".
	Namespace     string
	Handler       string
	CorrelationID string
	// Attempt is the carrier's attempt attribute (an int), 0 when absent.
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

// Source is the service instance a transition came from.
type Source struct{ Service, Instance string }

// Hint is what an ordinary span (or a transition's enclosing span) tells about Tasker's
// entities: a task's namespace, a step's handler, the task a step belongs to.
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
	// ProblemZeroTimestamp: the carrier has no timestamp.
	ProblemZeroTimestamp
	NumProblems
)

var problemNames = [NumProblems]string{"wrong_type", "unknown_state", "unclassified", "missing_id", "zero_timestamp"}

func (p Problem) String() string { return problemNames[p] }

// Counts tallies problems by kind (KindUnknown when the kind was not decided).
type Counts [3][NumProblems]int64

// Batch is the result of extracting one ptrace.Traces. It is reused between batches.
type Batch struct {
	Transitions []Transition
	Hints       []Hint
	Problems    Counts

	span, event found // scratch, kept here so that extraction allocates nothing
}

// Reset empties the batch, keeping its buffers.
func (b *Batch) Reset() {
	clear(b.Transitions) // drop references into the previous batch's data
	b.Transitions = b.Transitions[:0]
	clear(b.Hints)
	b.Hints = b.Hints[:0]
	b.Problems = Counts{}
}

// Extractor finds transitions and hints. It holds only configuration and is safe for
// concurrent use.
type Extractor struct {
	time TimeSource
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

// NewExtractor returns an extractor for the given keys and transition-span time.
func NewExtractor(keys Keys, ts TimeSource) *Extractor {
	x := &Extractor{time: ts, index: make([][]keyRef, indexSize)}
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
// for the attempt a positive int). Values of other types are absent.
type found struct {
	str     [numMeanings]string
	rank    [numMeanings]uint8 // rank+1 of the key that gave str; 0: none
	attempt int64
	arank   uint8
	// fromKey and toKey: a state key is present, whatever its type.
	fromKey, toKey bool
}

func (f *found) states() bool { return f.rank[mFrom] != 0 && f.rank[mTo] != 0 }

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
				if v.Type() == pcommon.ValueTypeInt && v.Int() > 0 && (f.arank == 0 || r.rank < f.arank-1) {
					f.attempt, f.arank = v.Int(), r.rank+1
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
			if str == "" && r.m != mFrom && r.m != mTo {
				continue
			}
			if f.rank[r.m] == 0 || r.rank < f.rank[r.m]-1 {
				f.str[r.m], f.rank[r.m] = str, r.rank+1
			}
		}
	}
}

// Extract appends every transition and hint of td to b. It never changes td.
func (x *Extractor) Extract(td ptrace.Traces, b *Batch) {
	rss := td.ResourceSpans()
	sf, ef := &b.span, &b.event
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		res := resource{attrs: attrs, index: i,
			src: Source{Service: strAttr(attrs, "service.name"), Instance: strAttr(attrs, "service.instance.id")}}
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
	read  bool
	f     found
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
	if x.spanCarrier(span, res, sf, ef, b) {
		return // the transition itself tells the log what the span would
	}
	task, step := sf.str[mTask], sf.str[mStep]
	if task == "" && step == "" {
		return
	}
	h := Hint{TaskID: task, StepID: step, Namespace: sf.str[mNamespace]}
	if step != "" {
		h.Handler = sf.str[mHandler]
	}
	if h.Namespace != "" || h.Handler != "" || (task != "" && step != "") {
		b.Hints = append(b.Hints, h)
	}
}

// spanCarrier extracts the span's transitions: its events', or else its own. It reports
// whether the span itself was recognised as a transition.
func (x *Extractor) spanCarrier(span ptrace.Span, res *resource, sf, ef *found, b *Batch) bool {
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
		return false
	}
	t := span.EndTimestamp()
	if x.time == TimeStart {
		t = span.StartTimestamp()
	}
	c := carrier{attrs: span.Attributes(), own: sf, name: span.Name(), time: t}
	return x.carrier(&c, span, res, b)
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
	if c.time == 0 {
		b.Problems[kind][ProblemZeroTimestamp]++
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
		sameStep := spanStep == "" || spanStep == t.ID
		t.Handler = x.lookup(c, res, mHandler, sameStep)
		t.Attempt = c.own.attempt
		if t.Attempt == 0 && sameStep && c.span != nil {
			t.Attempt = c.span.attempt
		}
		if t.Attempt == 0 {
			t.Attempt = x.values(res).attempt
		}
	}
	if t.ID == "" {
		b.Problems[kind][ProblemMissingID]++
		return false
	}
	sameTask := spanTask == "" || spanTask == t.TaskID
	t.Namespace = x.lookup(c, res, mNamespace, sameTask)
	t.CorrelationID = x.lookup(c, res, mCorrelation, sameTask)
	b.Transitions = append(b.Transitions, t)
	return true
}

// lookup finds a value on the carrier, then (if borrow) on the enclosing span, then on the
// resource.
func (x *Extractor) lookup(c *carrier, res *resource, m meaning, borrow bool) string {
	if v := c.own.str[m]; v != "" {
		return v
	}
	if borrow {
		if v := c.spanStr(m); v != "" {
			return v
		}
	}
	return x.values(res).str[m]
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
