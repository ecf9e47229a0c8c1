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
	keys Keys
	time TimeSource
}

// NewExtractor returns an extractor for the given keys and transition-span time.
func NewExtractor(keys Keys, ts TimeSource) *Extractor {
	return &Extractor{keys: keys, time: ts}
}

// Extract appends every transition and hint of td to b. It never changes td.
func (x *Extractor) Extract(td ptrace.Traces, b *Batch) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		res := resource{attrs: attrs, index: i,
			src: Source{Service: strAttr(attrs, "service.name"), Instance: strAttr(attrs, "service.instance.id")}}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				x.span(spans.At(k), &res, b)
			}
		}
	}
}

// spanIDs are the Tasker ids on a carrier or an enclosing span.
type spanIDs struct{ task, step string }

// resource is one ResourceSpans: its attributes are read once, and only when a transition
// needs a value that its carrier and span lack.
type resource struct {
	attrs pcommon.Map
	index int
	src   Source

	read                                              bool
	taskID, stepID, namespace, correlationID, handler string
	attempt                                           int64
}

func (x *Extractor) values(r *resource) *resource {
	if !r.read {
		r.read = true
		r.taskID, r.stepID = x.str(r.attrs, x.keys.TaskID), x.str(r.attrs, x.keys.StepID)
		r.namespace, r.correlationID = x.str(r.attrs, x.keys.Namespace), x.str(r.attrs, x.keys.CorrelationID)
		r.handler, r.attempt = x.str(r.attrs, x.keys.Handler), x.int(r.attrs)
	}
	return r
}

func (x *Extractor) span(span ptrace.Span, res *resource, b *Batch) {
	attrs := span.Attributes()
	ids := spanIDs{task: x.str(attrs, x.keys.TaskID), step: x.str(attrs, x.keys.StepID)}
	if x.spanCarrier(span, res, ids, b) {
		return // the transition itself tells the log what the span would
	}
	if ids.task != "" || ids.step != "" {
		h := Hint{TaskID: ids.task, StepID: ids.step, Namespace: x.str(attrs, x.keys.Namespace)}
		if ids.step != "" {
			h.Handler = x.str(attrs, x.keys.Handler)
		}
		if h.Namespace != "" || h.Handler != "" || (h.TaskID != "" && h.StepID != "") {
			b.Hints = append(b.Hints, h)
		}
	}
}

// spanCarrier extracts the span's transitions: its events', or else its own. It reports
// whether the span itself was recognised as a transition.
func (x *Extractor) spanCarrier(span ptrace.Span, res *resource, ids spanIDs, b *Batch) bool {
	attrs := span.Attributes()
	events := span.Events()
	anyEvent := false
	for e := 0; e < events.Len(); e++ {
		ev := events.At(e)
		ea := ev.Attributes()
		from, to, present := x.states(ea, &b.Problems)
		if !present {
			continue
		}
		anyEvent = true
		c := carrier{attrs: ea, name: ev.Name(), time: ev.Timestamp(), span: attrs, spanIDs: ids, from: from, to: to,
			own: spanIDs{task: x.str(ea, x.keys.TaskID), step: x.str(ea, x.keys.StepID)}}
		x.carrier(&c, span, res, b)
	}
	if anyEvent {
		return false
	}
	from, to, present := x.states(attrs, &b.Problems)
	if !present {
		return false
	}
	t := span.EndTimestamp()
	if x.time == TimeStart {
		t = span.StartTimestamp()
	}
	c := carrier{attrs: attrs, name: span.Name(), time: t, from: from, to: to, isSpan: true, own: ids}
	return x.carrier(&c, span, res, b)
}

type carrier struct {
	attrs    pcommon.Map
	name     string
	time     pcommon.Timestamp
	span     pcommon.Map // the enclosing span's attributes; empty for a transition span
	spanIDs  spanIDs     // the enclosing span's ids; empty for a transition span
	own      spanIDs     // the carrier's own ids
	from, to pcommon.Value
	isSpan   bool
}

// states returns the carrier's from/to values; present is true when both meanings have a
// string value (the first string among their keys). A value of another type is absent (§4):
// it does not make the carrier a transition, so a span whose events carry only wrong-typed
// states is still a carrier in its own right; it is counted as wrong_type when it leaves
// the pair incomplete.
func (x *Extractor) states(m pcommon.Map, problems *Counts) (from, to pcommon.Value, present bool) {
	from, okF := x.strValue(m, x.keys.FromState)
	to, okT := x.strValue(m, x.keys.ToState)
	if okF && okT {
		return from, to, true
	}
	_, anyF := x.get(m, x.keys.FromState)
	_, anyT := x.get(m, x.keys.ToState)
	if anyF && anyT {
		problems[tasker.KindUnknown][ProblemWrongType]++
	}
	return from, to, false
}

// strValue returns the first string value among keys (empty strings included).
func (x *Extractor) strValue(m pcommon.Map, keys []string) (pcommon.Value, bool) {
	for _, k := range keys {
		if v, ok := m.Get(k); ok && v.Type() == pcommon.ValueTypeStr {
			return v, true
		}
	}
	return pcommon.Value{}, false
}

// carrier extracts one transition; it reports whether one was recognised.
func (x *Extractor) carrier(c *carrier, span ptrace.Span, res *resource, b *Batch) bool {
	from, to := tasker.ParseState(c.from.Str()), tasker.ParseState(c.to.Str())
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
	taskID := first(c.own.task, c.spanIDs.task)
	if kind == tasker.KindTask {
		t.ID = first(taskID, x.values(res).taskID)
		t.TaskID = t.ID
	} else {
		t.ID = first(c.own.step, c.spanIDs.step)
		if t.ID == "" {
			t.ID = x.values(res).stepID
		}
		t.TaskID = first(taskID, x.values(res).taskID)
		sameStep := c.spanIDs.step == "" || c.spanIDs.step == t.ID
		if t.Handler = x.lookup(c, x.keys.Handler, sameStep); t.Handler == "" {
			t.Handler = x.values(res).handler
		}
		if t.Attempt = x.attempt(c, sameStep); t.Attempt == 0 {
			t.Attempt = x.values(res).attempt
		}
	}
	if t.ID == "" {
		b.Problems[kind][ProblemMissingID]++
		return false
	}
	sameTask := c.spanIDs.task == "" || c.spanIDs.task == t.TaskID
	if t.Namespace = x.lookup(c, x.keys.Namespace, sameTask); t.Namespace == "" {
		t.Namespace = x.values(res).namespace
	}
	if t.CorrelationID = x.lookup(c, x.keys.CorrelationID, sameTask); t.CorrelationID == "" {
		t.CorrelationID = x.values(res).correlationID
	}
	b.Transitions = append(b.Transitions, t)
	return true
}

// kind decides task or step: the carrier's own ids, its name, the enclosing span's ids,
// and last the state vocabulary (§4).
func (x *Extractor) kind(c *carrier, from, to tasker.State) tasker.Kind {
	switch {
	case c.own.step != "":
		return tasker.KindStep
	case c.own.task != "":
		return tasker.KindTask
	}
	if k := kindFromName(c.name); k != tasker.KindUnknown {
		return k
	}
	switch {
	case c.spanIDs.step != "":
		return tasker.KindStep
	case c.spanIDs.task != "":
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

// lookup finds a string value on the carrier, then (if borrow) on the enclosing span; the
// caller falls back to the resource.
func (x *Extractor) lookup(c *carrier, keys []string, borrow bool) string {
	if v := x.str(c.attrs, keys); v != "" {
		return v
	}
	if borrow && !c.isSpan {
		return x.str(c.span, keys)
	}
	return ""
}

func (x *Extractor) attempt(c *carrier, borrow bool) int64 {
	if n := x.int(c.attrs); n > 0 {
		return n
	}
	if borrow && !c.isSpan {
		return x.int(c.span)
	}
	return 0
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (x *Extractor) int(m pcommon.Map) int64 {
	for _, k := range x.keys.Attempt {
		if v, ok := m.Get(k); ok && v.Type() == pcommon.ValueTypeInt && v.Int() > 0 {
			return v.Int()
		}
	}
	return 0
}

// str returns the first non-empty string value among keys; values of other types are absent.
func (x *Extractor) str(m pcommon.Map, keys []string) string {
	for _, k := range keys {
		if v, ok := m.Get(k); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			return v.Str()
		}
	}
	return ""
}

// get returns the first present value among keys, of any type.
func (x *Extractor) get(m pcommon.Map, keys []string) (pcommon.Value, bool) {
	for _, k := range keys {
		if v, ok := m.Get(k); ok {
			return v, true
		}
	}
	return pcommon.Value{}, false
}

func strAttr(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}
