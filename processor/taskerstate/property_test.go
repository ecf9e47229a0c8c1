package taskerstate

// A randomized property test of the §6 stamp contract, written from the contract
// (docs/telemetry.md) alone: Tasker-shaped workloads (§1, §2 walks, both
// §4 input shapes, teaching spans, duplicates, messy state strings, malformed carriers) are
// delivered in order on one clock, and the stamps on every carrier are compared with an
// independent reference (its own §1–§3 tables, §4 look-up and §5 derivations). When spans
// arrive in order, every transition whose predecessor was seen carries its duration
// (docs/telemetry.md §6), so every stamp is determined.
//
// What docs/telemetry.md leaves open, and how the reference decides it:
//   - A batch passes as a whole (§5: all transitions of a batch are entered into the log before
//     any of them is stamped): what any span of the batch teaches is known to all its stamps,
//     and a batch's spans may be in any order.
//   - Learning (§5, namespace and handler) is from spans: a span with a task id and a namespace
//     teaches that task's namespace; a span with a step id and a handler teaches that step's
//     handler; a span with both ids links the step to its task. A value borrowed from a span
//     without the entity's id, from the resource, or carried by an event, and the values of a
//     span whose transitions are all duplicates (§5: a duplicate changes nothing), may or may
//     not be learned: later transitions may carry them or not (optional stamps).
//   - Wrong types are absent: a non-string id/namespace/handler, a non-int attempt.
//   - A transition span with a zero time (end, or start with transition_time: start) is
//     malformed even if its other timestamp is set.
//   - tasker.task.duration: the start is looked for at or before the terminal transition (a
//     pending → initializing after a task left its terminal state is not its start); the
//     workload never gives a task two terminal transitions (which of them is stamped is open).
//   - Chain breaks (a sampled-out transition, a from-state that is not the entity's state) are
//     followed by more than the 1 s maximum clock skew, so the §5 skew move never applies.
//   - The attempt attribute of a claim is looked up like the handler (carrier, then the
//     enclosing span if it has no step id or the same one, then the resource): §4.
//   - A step's decided outcome (§7 "Step outcomes across retries") is stamped on the
//     transition that decides it, as the logs stand when its batch passes: the earlier of the
//     step's first transition into complete, cancelled or resolved_manually and its task's
//     earliest terminal transition if the step is then in error (its latest transition at or
//     before the task's, a tie counting as before); for error, the deciding transition is
//     that latest one, into error. So a step that gave up is stamped only when its task's end
//     was already seen (the same batch or an earlier one): delivered in order, only when they
//     share a batch. Duration from the step's none→ transition (else its earliest);
//     attempts: the claims up to the deciding transition, or the latest claim's attempt
//     attribute. A step linked to its task only through an undetermined link (maybeLink)
//     gets whatever either reading gives as optional.

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tasker-systems/otelcol-tasker/cmd/taskersim/sim"
)

// ---------------------------------------------------------------------------------------------
// The reference: tables of docs/telemetry.md §1–§3, written from its text. Validity (§1–§2) and
// event names (§3) are the simulator's (cmd/taskersim/sim/model.go: sim.Valid, sim.EventName),
// written from docs/telemetry.md without the project's internal packages for the same reason.

const propNone = "" // the normalized "no previous state"

var propTaskStates = map[string]bool{
	"pending": true, "initializing": true, "enqueuing_steps": true, "steps_in_process": true,
	"evaluating_results": true, "waiting_for_dependencies": true, "waiting_for_retry": true,
	"blocked_by_failures": true, "complete": true, "error": true, "cancelled": true, "resolved_manually": true,
	"in_progress": true, // legacy, accepted (§1)
}

var propTaskTerminal = map[string]bool{"complete": true, "error": true, "cancelled": true, "resolved_manually": true}

var propStepStates = map[string]bool{
	"pending": true, "enqueued": true, "in_progress": true, "enqueued_for_orchestration": true,
	"enqueued_as_error_for_orchestration": true, "waiting_for_retry": true, "complete": true, "error": true,
	"cancelled": true, "resolved_manually": true,
}

// §7: the transitions that close an open attempt.
var propClosing = map[string]bool{"complete": true, "error": true, "waiting_for_retry": true, "cancelled": true, "resolved_manually": true}

// propNorm: case-insensitive after trimming (§4); "none" and empty mean no previous state.
func propNorm(s string) string {
	n := strings.ToLower(strings.TrimSpace(s))
	if n == "none" {
		return propNone
	}
	return n
}

// propLegacy maps the task's legacy in_progress to steps_in_process (durations).
func propLegacy(kind, s string) string {
	if kind == "task" && s == "in_progress" {
		return "steps_in_process"
	}
	return s
}

// ---------------------------------------------------------------------------------------------
// The reference: §4 look-up and classification, §5 logs and derivations, §6 stamps.

type propEntry struct {
	kind, id, task string
	fromN, toN     string
	at             pcommon.Timestamp
	attempt        int64 // the claim's attempt attribute, 0: none
	directNS       string
	directHandler  string
	stamps         map[string]any
	optional       map[string]any // stamps docs/telemetry.md leaves open (see propRef.maybeNS)
	desc           string
}

type propRef struct {
	logs    map[string][]*propEntry // by kind/id, in telemetry order
	seen    map[string]*propEntry
	ns      map[string]string // task → namespace (first seen)
	handler map[string]string // step → handler (first seen)
	link    map[string]string // step → task
	cover   map[string]int    // what the workload exercised
	// maybeNS, maybeHandler: values a transition borrowed from a span without the entity's id
	// or from its resource. §4 makes them the transition's own values; whether they are also
	// learned for later transitions (§5 learns from any span of the task) is not said, so a
	// later transition may carry them or not.
	maybeNS      map[string]string
	maybeHandler map[string]string
	maybeLink    map[string]string
	maybeStepNS  map[string]string
	startTime    bool // transition_time: start
}

func newPropRef() *propRef {
	return &propRef{logs: map[string][]*propEntry{}, seen: map[string]*propEntry{}, ns: map[string]string{},
		handler: map[string]string{}, link: map[string]string{}, cover: map[string]int{},
		maybeNS: map[string]string{}, maybeHandler: map[string]string{}, maybeLink: map[string]string{},
		maybeStepNS: map[string]string{}}
}

type propPos struct{ rs, ss, sp, ev int } // ev -1: the span itself

var (
	propStepIDKeys  = []string{"step_uuid", "workflow_step_uuid"}
	propTaskIDKeys  = []string{"task_uuid"}
	propNSKeys      = []string{"namespace"}
	propHandlerKeys = []string{"handler_name", "step_name"}
	propAttemptKeys = []string{"attempt_number", "attempts"}
)

// propStr: the first of keys present as a string.
func propStr(m pcommon.Map, keys []string) (string, bool) {
	for _, k := range keys {
		if v, ok := m.Get(k); ok && v.Type() == pcommon.ValueTypeStr {
			return v.Str(), true
		}
	}
	return "", false
}

func propInt(m pcommon.Map, keys []string) (int64, bool) {
	for _, k := range keys {
		if v, ok := m.Get(k); ok && v.Type() == pcommon.ValueTypeInt {
			return v.Int(), true
		}
	}
	return 0, false
}

// propPair: the carrier's from/to, both present as strings.
func propPair(m pcommon.Map) (string, string, bool) {
	f, okF := m.Get("from_state")
	t, okT := m.Get("to_state")
	if !okF || !okT || f.Type() != pcommon.ValueTypeStr || t.Type() != pcommon.ValueTypeStr {
		return "", "", false
	}
	return f.Str(), t.Str(), true
}

var (
	propTaskOnly = map[string]bool{"initializing": true, "enqueuing_steps": true, "steps_in_process": true,
		"evaluating_results": true, "waiting_for_dependencies": true, "blocked_by_failures": true}
	propStepOnly = map[string]bool{"enqueued": true, "enqueued_for_orchestration": true, "enqueued_as_error_for_orchestration": true}
)

// classify returns the transition of one carrier, or nil when it gets no stamps.
// span is the enclosing span for an event (nil-able via isEvent).
func (r *propRef) classify(c pcommon.Map, name string, at pcommon.Timestamp, isEvent bool, span pcommon.Map, res pcommon.Map) *propEntry {
	fromR, toR, ok := propPair(c)
	if !ok {
		return nil
	}
	if at == 0 {
		return nil // malformed: counted, passed untouched
	}
	from, to := propNorm(fromR), propNorm(toR)
	locs := []pcommon.Map{c}
	if isEvent {
		locs = append(locs, span)
	}
	locs = append(locs, res)
	lookup := func(keys []string) (string, bool) {
		for _, m := range locs {
			if v, ok := propStr(m, keys); ok {
				return v, true
			}
		}
		return "", false
	}
	// Kind: the carrier's ids, its name, the enclosing span's ids, the vocabulary.
	kind := ""
	if _, ok := propStr(c, propStepIDKeys); ok {
		kind = "step"
	} else if _, ok := propStr(c, propTaskIDKeys); ok {
		kind = "task"
	} else if strings.HasPrefix(name, "Step ") || strings.HasPrefix(name, "step.") {
		kind = "step"
	} else if strings.HasPrefix(name, "Task ") || strings.HasPrefix(name, "task.") {
		kind = "task"
	} else if _, ok := propStr(span, propStepIDKeys); isEvent && ok {
		kind = "step"
	} else if _, ok := propStr(span, propTaskIDKeys); isEvent && ok {
		kind = "task"
	} else {
		t := propTaskOnly[from] || propTaskOnly[to]
		s := propStepOnly[from] || propStepOnly[to]
		switch {
		case t && !s:
			kind = "task"
		case s && !t:
			kind = "step"
		default:
			return nil // unclassified
		}
	}
	states := propStepStates
	if kind == "task" {
		states = propTaskStates
	}
	if (from != propNone && !states[from]) || !states[to] {
		return nil // unknown state
	}
	e := &propEntry{kind: kind, fromN: from, toN: to, at: at}
	task, _ := lookup(propTaskIDKeys)
	if kind == "step" {
		id, ok := lookup(propStepIDKeys)
		if !ok {
			return nil // missing id
		}
		e.id, e.task = id, task
	} else {
		if task == "" {
			return nil // missing id
		}
		e.id, e.task = task, task
	}
	// Namespace: carrier, then the span if it has no task id or the same one, then resource.
	if v, ok := propStr(c, propNSKeys); ok {
		e.directNS = v
	} else if v, ok := propStr(span, propNSKeys); isEvent && ok && r.spanTaskOK(span, e.task) {
		e.directNS = v
	} else if v, ok := propStr(res, propNSKeys); ok {
		e.directNS = v
	}
	if kind == "step" {
		stepOK := isEvent && r.spanStepOK(span, e.id)
		if v, ok := propStr(c, propHandlerKeys); ok {
			e.directHandler = v
		} else if v, ok := propStr(span, propHandlerKeys); stepOK && ok {
			e.directHandler = v
		} else if v, ok := propStr(res, propHandlerKeys); ok {
			e.directHandler = v
		}
		if v, ok := propInt(c, propAttemptKeys); ok {
			e.attempt = v
		} else if v, ok := propInt(span, propAttemptKeys); stepOK && ok {
			e.attempt = v
		} else if v, ok := propInt(res, propAttemptKeys); ok {
			e.attempt = v
		}
	}
	e.desc = fmt.Sprintf("%s %s %q→%q @%s", kind, e.id, fromR, toR, at.AsTime().Sub(propT0))
	return e
}

func (r *propRef) spanTaskOK(span pcommon.Map, task string) bool {
	v, ok := propStr(span, propTaskIDKeys)
	return !ok || v == task
}

func (r *propRef) spanStepOK(span pcommon.Map, step string) bool {
	v, ok := propStr(span, propStepIDKeys)
	return !ok || v == step
}

// learn: namespace per task and handler per step from any span that carries them (§5).
// strict false: whether the processor learns from this span is not determined (all its
// transitions are duplicates, which change nothing (§5)), so what it teaches is optional.
func (r *propRef) learn(span pcommon.Map, strict bool) {
	task, okT := propStr(span, propTaskIDKeys)
	step, okS := propStr(span, propStepIDKeys)
	ns, okN := propStr(span, propNSKeys)
	nsM, hM, linkM := r.ns, r.handler, r.link
	if !strict {
		nsM, hM, linkM = r.maybeNS, r.maybeHandler, r.maybeLink
	}
	if okN && okT {
		r.maybe(nsM, task, ns)
	}
	if okN && !okT && okS {
		// A step's span with a namespace but no task id: is it "a span of the task"?
		r.maybe(r.maybeStepNS, step, ns)
	}
	if h, ok := propStr(span, propHandlerKeys); ok && okS {
		r.maybe(hM, step, h)
	}
	if okT && okS {
		r.maybe(linkM, step, task)
	}
}

type propExpect struct {
	stamps   map[string]any // nil: no stamps
	optional map[string]any // may be absent; if present, with this value
	desc     string
}

// batch enters a batch (§5: all its transitions before any is stamped) and returns the stamps
// §6 requires on every carrier.
func (r *propRef) batch(td ptrace.Traces) map[propPos]propExpect {
	type item struct {
		pos  propPos
		e    *propEntry
		orig *propEntry // set: a duplicate
	}
	var items []item
	out := map[propPos]propExpect{}
	rss := td.ResourceSpans()
	var teachers []pcommon.Map
	var strict []bool
	for i := 0; i < rss.Len(); i++ {
		res := rss.At(i).Resource().Attributes()
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				var carriers []propPos
				for e := 0; e < s.Events().Len(); e++ {
					if _, _, ok := propPair(s.Events().At(e).Attributes()); ok {
						carriers = append(carriers, propPos{i, j, k, e})
					}
				}
				if len(carriers) == 0 {
					if _, _, ok := propPair(s.Attributes()); ok {
						carriers = append(carriers, propPos{i, j, k, -1})
					}
				}
				recognised, dups := 0, 0
				for _, pos := range carriers {
					var e *propEntry
					if pos.ev < 0 {
						at := s.EndTimestamp()
						if r.startTime {
							at = s.StartTimestamp()
						}
						e = r.classify(s.Attributes(), s.Name(), at, false, pcommon.NewMap(), res)
					} else {
						ev := s.Events().At(pos.ev)
						e = r.classify(ev.Attributes(), ev.Name(), ev.Timestamp(), true, s.Attributes(), res)
					}
					if e == nil {
						r.cover["unrecognised carrier"]++
						out[pos] = propExpect{desc: "unrecognised carrier"}
						continue
					}
					if e.kind == "step" && e.task != "" {
						if _, had := r.link[e.id]; !had {
							r.link[e.id] = e.task
						}
					}
					if ns, ok := propStr(res, propNSKeys); ok {
						r.maybeNSOf(e, ns)
					}
					if pos.ev >= 0 {
						if ns, ok := propStr(s.Events().At(pos.ev).Attributes(), propNSKeys); ok {
							r.maybeNSOf(e, ns) // learned from an event? not said
						}
						sa := s.Attributes()
						if ns, ok := propStr(sa, propNSKeys); ok {
							if _, hasTask := propStr(sa, propTaskIDKeys); !hasTask {
								r.maybeNSOf(e, ns)
							}
						}
						if h, ok := propStr(sa, propHandlerKeys); ok && e.kind == "step" {
							if _, hasStep := propStr(sa, propStepIDKeys); !hasStep {
								r.maybe(r.maybeHandler, e.id, h)
							}
						}
					}
					key := fmt.Sprintf("%s/%s|%s|%s|%d", e.kind, e.id, e.fromN, e.toN, e.at)
					recognised++
					if o, dup := r.seen[key]; dup {
						dups++
						r.cover["duplicate"]++
						items = append(items, item{pos: pos, e: e, orig: o})
						continue
					}
					r.seen[key] = e
					lk := e.kind + "/" + e.id
					log := r.logs[lk]
					at := sort.Search(len(log), func(x int) bool { return log[x].at > e.at })
					r.logs[lk] = slices.Insert(log, at, e)
					items = append(items, item{pos: pos, e: e})
				}
				teachers = append(teachers, s.Attributes())
				strict = append(strict, recognised == 0 || dups < recognised)
			}
		}
	}
	for i, m := range teachers {
		r.learn(m, strict[i])
	}
	for _, it := range items {
		if it.orig != nil {
			st := map[string]any{}
			for k, v := range it.orig.stamps {
				st[k] = v
			}
			st["tasker.transition.duplicate"] = true
			out[it.pos] = propExpect{stamps: st, optional: it.orig.optional, desc: it.e.desc + " (duplicate)"}
			continue
		}
		it.e.stamps = r.stamps(it.e)
		out[it.pos] = propExpect{stamps: it.e.stamps, optional: it.e.optional, desc: it.e.desc}
	}
	return out
}

// maybeNSOf: a namespace a transition borrowed, which may or may not be learned: for its
// task, or for the step itself when its task is not known (nothing says which the processor
// keeps).
func (r *propRef) maybeNSOf(e *propEntry, ns string) {
	if e.task == "" && e.kind == "step" {
		r.maybe(r.maybeStepNS, e.id, ns)
		return
	}
	r.maybe(r.maybeNS, e.task, ns)
}

func (r *propRef) maybe(m map[string]string, id, v string) {
	if id == "" {
		return
	}
	if _, had := m[id]; !had {
		m[id] = v
	}
}

func (r *propRef) stamps(e *propEntry) map[string]any {
	st := map[string]any{"tasker.entity.kind": e.kind}
	if n := sim.EventName(e.kind, e.fromN, e.toN); n != "" {
		st["tasker.event.name"] = n
	}
	task := e.task
	if e.kind == "step" && task == "" {
		task = r.link[e.id]
	}
	ns := e.directNS
	if ns == "" {
		ns = r.ns[task]
	}
	if ns != "" {
		st["tasker.namespace"] = ns
	} else {
		var m string
		cands := []string{r.maybeNS[task]}
		if e.kind == "step" {
			ml := r.maybeLink[e.id]
			cands = append(cands, r.ns[ml], r.maybeNS[ml], r.maybeStepNS[e.id])
		}
		// A step's span with a namespace and no task id may teach the step's task.
		for step, v := range r.maybeStepNS {
			if task != "" && (r.link[step] == task || r.maybeLink[step] == task) {
				cands = append(cands, v)
			}
		}
		for _, c := range cands {
			if m == "" {
				m = c
			}
		}
		if m != "" {
			e.optional = map[string]any{"tasker.namespace": m}
			r.cover["namespace optional"]++
		}
	}
	log := r.logs[e.kind+"/"+e.id]
	idx := slices.Index(log, e)
	if idx > 0 && e.fromN != propNone {
		prev := log[idx-1]
		if propLegacy(e.kind, prev.toN) == propLegacy(e.kind, e.fromN) {
			st["tasker.state.duration"] = e.at.AsTime().Sub(prev.at.AsTime()).Seconds()
		}
	}
	if e.kind == "task" && propTaskTerminal[e.toN] {
		// The task's start: its first record, else its pending → initializing; one after the
		// terminal transition (a task moved out of a terminal state) is not its start.
		var start *propEntry
		for _, x := range log[:idx+1] {
			if x.fromN == propNone {
				start = x
				break
			}
		}
		if start == nil {
			for _, x := range log[:idx+1] {
				if x.fromN == "pending" && x.toN == "initializing" {
					start = x
					r.cover["task start from pending→initializing"]++
					break
				}
			}
		}
		if start != nil {
			st["tasker.task.duration"] = e.at.AsTime().Sub(start.at.AsTime()).Seconds()
		}
	}
	if e.kind == "step" {
		var claims, open, cur int64
		for _, x := range log[:idx+1] {
			cur = 0
			switch {
			case x.toN == "in_progress":
				if open > 0 && x == e {
					r.cover["claim abandons open attempt"]++
				}
				claims++
				open = claims
				if x.attempt != 0 {
					open = x.attempt
				}
				cur = open
			case open > 0:
				cur = open
				if propClosing[x.toN] {
					open = 0
				}
			}
		}
		if cur > 0 {
			st["tasker.step.attempt"] = cur
		}
		h := e.directHandler
		if h == "" {
			h = r.handler[e.id]
		}
		if h != "" {
			st["tasker.step.handler"] = h
		} else if m := r.maybeHandler[e.id]; m != "" {
			if e.optional == nil {
				e.optional = map[string]any{}
			}
			e.optional["tasker.step.handler"] = m
			r.cover["handler optional"]++
		}
	}
	if e.kind == "step" {
		r.outcomeStamps(e, st)
	}
	if !sim.Valid(e.kind, e.fromN, e.toN) {
		st["tasker.transition.invalid"] = true
	}
	for k := range st {
		r.cover[e.kind+" "+k]++
	}
	if e.attempt != 0 && e.toN == "in_progress" {
		r.cover["attempt from attribute"]++
	}
	if e.kind == "task" && (e.fromN == "in_progress" || e.toN == "in_progress") {
		r.cover["task legacy in_progress"]++
	}
	if e.directNS == "" && st["tasker.namespace"] != nil {
		r.cover["namespace learned"]++
	}
	if e.kind == "step" && e.directHandler == "" && st["tasker.step.handler"] != nil {
		r.cover["handler learned"]++
	}
	if _, ok := st["tasker.state.duration"]; !ok && idx > 0 && e.fromN != propNone {
		r.cover["chain break"]++
	}
	return st
}

// propDecisive: a step's first transition into one of these decides its outcome (§7).
var propDecisive = map[string]bool{"complete": true, "cancelled": true, "resolved_manually": true}

// taskEnd: the earliest terminal transition in the log of task, nil if none (or no task).
func (r *propRef) taskEnd(task string) *propEntry {
	if task == "" {
		return nil
	}
	for _, x := range r.logs["task/"+task] {
		if propTaskTerminal[x.toN] {
			return x
		}
	}
	return nil
}

// propDecide: the transition of a step's log that decides its outcome given its task's end
// (nil: not ended), and the stamps it carries; nil if the outcome is not decided.
func propDecide(log []*propEntry, end *propEntry) (*propEntry, map[string]any) {
	var by *propEntry
	for _, x := range log {
		if propDecisive[x.toN] {
			by = x
			break
		}
	}
	if end != nil && (by == nil || by.at > end.at) {
		var last *propEntry // the step's latest transition at or before the task's end
		for _, x := range log {
			if x.at <= end.at {
				last = x
			}
		}
		if last != nil && last.toN == "error" {
			by = last
		}
	}
	if by == nil {
		return nil, nil
	}
	start := log[0]
	for _, x := range log {
		if x.fromN == propNone {
			start = x
			break
		}
	}
	var claims, attempts int64
	for _, x := range log {
		if x.toN == "in_progress" {
			claims++
			attempts = claims
			if x.attempt != 0 {
				attempts = x.attempt
			}
		}
		if x == by {
			break
		}
	}
	return by, map[string]any{
		"tasker.step.completion_duration": by.at.AsTime().Sub(start.at.AsTime()).Seconds(),
		"tasker.step.attempt_count":       attempts,
	}
}

// outcomeStamps adds to st the outcome stamps e carries, if e decides its step's outcome.
func (r *propRef) outcomeStamps(e *propEntry, st map[string]any) {
	log := r.logs["step/"+e.id]
	by, stamps := propDecide(log, r.taskEnd(r.link[e.id]))
	if r.link[e.id] == "" && r.maybeLink[e.id] != "" {
		by2, stamps2 := propDecide(log, r.taskEnd(r.maybeLink[e.id]))
		if by2 != by {
			for _, alt := range []struct {
				by     *propEntry
				stamps map[string]any
			}{{by, stamps}, {by2, stamps2}} {
				if alt.by == e {
					if e.optional == nil {
						e.optional = map[string]any{}
					}
					for k, v := range alt.stamps {
						e.optional[k] = v
					}
					r.cover["outcome optional"]++
				}
			}
			return
		}
	}
	if by != e {
		if e.toN == "error" && r.taskEnd(r.link[e.id]) == nil {
			r.cover["error before its task's end was seen"]++
		}
		return
	}
	for k, v := range stamps {
		st[k] = v
	}
	outcome := e.toN
	if !propDecisive[outcome] {
		outcome = "error (gave up)"
		if end := r.taskEnd(r.link[e.id]); end != nil && end.at == e.at {
			r.cover["gave up at the time of its task's end"]++
		}
	}
	r.cover["outcome "+outcome]++
	if stamps["tasker.step.attempt_count"] == int64(0) {
		r.cover["outcome with 0 attempts"]++
	}
}

// ---------------------------------------------------------------------------------------------
// The workload generator: Tasker-shaped, delivered in order.

var propT0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func propTS(d time.Duration) pcommon.Timestamp { return pcommon.NewTimestampFromTime(propT0.Add(d)) }

var propResources = [][2]string{
	{"tasker-orchestration", "orch-1"}, {"tasker-worker", "worker-1"}, {"tasker-worker", "worker-2"}, {"tasker-orchestration", "orch-2"},
}

type propUnit struct {
	res  int
	key  time.Duration
	seq  int
	span ptrace.Span
}

type propStep struct{ id, handler string }

type propTask struct {
	id, ns string
	steps  []propStep
	shape  int // 0 transition spans, 1 span events, 2 mixed
}

type propGen struct {
	rng     *rand.Rand
	units   []*propUnit
	tasks   []*propTask
	orchs   []int
	workers []int
	spanN   uint64
	junkN   int
	maxAt   time.Duration
	// startTime: transition spans stand for their start (transition_time: start).
	startTime bool
	// resNS: a resource attribute namespace (seeds whose tasks share one namespace).
	resNS map[int]string
}

// spanTimes: a transition span's start and end when it stands for at.
func (g *propGen) spanTimes(at time.Duration) (time.Duration, time.Duration) {
	d := time.Duration(1+g.rng.IntN(5000)) * time.Microsecond
	if g.startTime {
		return at, at + d
	}
	return at - d, at
}

func (g *propGen) orch() int         { return g.orchs[g.rng.IntN(len(g.orchs))] }
func (g *propGen) chance(n int) bool { return g.rng.IntN(n) == 0 }

func propPut(m pcommon.Map, kv ...any) {
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		switch v := kv[i+1].(type) {
		case string:
			m.PutStr(k, v)
		case int:
			m.PutInt(k, int64(v))
		case int64:
			m.PutInt(k, v)
		case float64:
			m.PutDouble(k, v)
		case bool:
			m.PutBool(k, v)
		default:
			panic(fmt.Sprintf("propPut %T", v))
		}
	}
}

func propTraceID(s string) pcommon.TraceID {
	var id pcommon.TraceID
	copy(id[:], s)
	id[15] = 1
	return id
}

// unit appends a span (its own unit of delivery) sorting at key.
func (g *propGen) unit(res int, key time.Duration, name, trace string, start, end time.Duration, kv ...any) *propUnit {
	g.spanN++
	s := ptrace.NewSpan()
	s.SetName(name)
	s.SetTraceID(propTraceID(trace))
	var sid pcommon.SpanID
	binary.BigEndian.PutUint64(sid[:], g.spanN)
	s.SetSpanID(sid)
	s.SetKind(ptrace.SpanKindInternal)
	if start >= 0 {
		s.SetStartTimestamp(propTS(start))
	}
	if end >= 0 {
		s.SetEndTimestamp(propTS(end))
	}
	propPut(s.Attributes(), kv...)
	u := &propUnit{res: res, key: key, seq: len(g.units), span: s}
	g.units = append(g.units, u)
	if key > g.maxAt {
		g.maxAt = key
	}
	return u
}

func propEvent(s ptrace.Span, name string, at time.Duration, kv ...any) ptrace.SpanEvent {
	ev := s.Events().AppendEmpty()
	ev.SetName(name)
	if at >= 0 {
		ev.SetTimestamp(propTS(at))
	}
	propPut(ev.Attributes(), kv...)
	return ev
}

// messy state strings: case, blanks (§4: compared case-insensitively after trimming).
func (g *propGen) messy(s string) string {
	switch g.rng.IntN(24) {
	case 0:
		return strings.ToUpper(s)
	case 1:
		return " " + s + " "
	case 2:
		return strings.ToUpper(s[:1]) + s[1:]
	case 3:
		return "\t" + strings.ToUpper(s) + "\n"
	}
	return s
}

func (g *propGen) none() string {
	return []string{"none", "none", "none", "none", "", "", "NONE", " None ", "  "}[g.rng.IntN(9)]
}

// preset: sometimes a carrier already holds a tasker.* attribute (never overwritten, §6).
func (g *propGen) preset(m pcommon.Map) {
	if !g.chance(30) {
		return
	}
	switch g.rng.IntN(6) {
	case 0:
		m.PutStr("tasker.namespace", "set-upstream")
	case 1:
		m.PutInt("tasker.event.name", 5)
	case 2:
		m.PutStr("tasker.step.attempt", "one")
	case 3:
		m.PutBool("tasker.transition.invalid", false)
	case 4:
		m.PutStr("tasker.entity.kind", "other")
	case 5:
		m.PutStr("tasker.state.duration", "long")
	}
}

type propWalk struct {
	g         *propGen
	ti        *propTask
	kind      string
	id        string
	handler   string
	cur       time.Duration
	last      string // the entity's state, "" none
	breakNext bool   // the next emitted transition does not chain onto the one before
	exact     bool   // the next emitted transition is at cur itself, with no gap
	postBreak bool   // the one after a chain break must be more than the max clock skew later
	prev      *propUnit
	prevRes   int
	worker    int
	claims    int
	stepIdx   int
}

func (w *propWalk) gap() time.Duration {
	r := w.g.rng
	d := time.Duration(1+r.IntN(2_000_000)) * time.Microsecond
	if r.IntN(40) == 0 {
		d += time.Duration(r.IntN(3600)) * time.Second // a long retry backoff or dependency wait
	}
	if w.postBreak {
		d += 1500 * time.Millisecond
		w.postBreak = false
	}
	return d
}

// lose: the transition into to was sampled out (a gap: no time is derived across it).
func (w *propWalk) lose(to string) {
	w.last = to
	w.breakNext = true
}

// move emits last → to.
func (w *propWalk) move(to string, worker bool) { w.moveFrom(w.last, to, worker, nil) }

type propAttempt struct {
	key    string
	val    any
	onSpan bool
	also   int64 // >0: an "attempts" attribute beside attempt_number
}

func (a *propAttempt) kv() []any {
	kv := []any{a.key, a.val}
	if a.also > 0 {
		kv = append(kv, "attempts", a.also)
	}
	return kv
}

func (w *propWalk) fromRaw(from string) string {
	if from == "" {
		return w.g.none()
	}
	if w.kind == "task" && from == "steps_in_process" && w.g.chance(8) {
		from = "in_progress" // legacy from-state
	}
	return w.g.messy(from)
}

func (w *propWalk) moveFrom(from, to string, worker bool, att *propAttempt) {
	brk := w.breakNext || from != w.last
	w.breakNext = false
	at := w.cur
	if w.exact {
		w.exact = false
	} else {
		at += w.gap()
	}
	w.cur = at
	fr, tr := w.fromRaw(from), w.g.messy(to)
	shape := w.ti.shape
	if shape == 2 {
		shape = w.g.rng.IntN(2)
	}
	shapes := []int{shape}
	if w.g.chance(40) {
		// The same transition as a transition span and as an event: one is a duplicate.
		shapes = append(shapes, 1-shape)
	}
	for i, sh := range shapes {
		if i > 0 {
			att = nil
		}
		if w.kind == "task" {
			w.emitTask(fr, tr, at, sh)
		} else {
			w.emitStep(fr, tr, at, worker, att, sh)
		}
	}
	w.last = to
	if brk {
		w.postBreak = true
	}
}

// stray emits a transition whose from-state is not the entity's state (a chain break).
func (w *propWalk) stray(from, to string, worker bool) {
	w.moveFrom(from, to, worker, nil)
}

func (w *propWalk) emitTask(fr, tr string, at time.Duration, shape int) {
	g, r := w.g, w.g.rng
	res := g.orch()
	if shape == 0 {
		w.prev = nil
		if g.chance(6) { // an ordinary span that teaches the namespace
			g.unit(g.orch(), at, "process_single_task_from_ready_info", w.id, at-20*time.Millisecond, at-time.Millisecond,
				"task_uuid", w.id, "namespace", w.ti.ns, "correlation_id", "corr-"+w.id)
		}
		start, end := g.spanTimes(at)
		u := g.unit(res, at, "task.state_transition", w.id, start, end,
			"from_state", fr, "to_state", tr, "task_uuid", w.id, "correlation_id", "corr-"+w.id)
		if g.chance(2) {
			u.span.Attributes().PutStr("namespace", w.ti.ns)
		}
		if g.chance(10) {
			propEvent(u.span, "log", at-time.Microsecond, "message", "state change")
		}
		g.preset(u.span.Attributes())
		return
	}
	evKV := []any{"event_name", "task_transition", "task_uuid", w.id, "correlation_id", "corr-" + w.id}
	var s ptrace.Span
	if w.prev != nil && w.prevRes == res && g.chance(3) {
		s = w.prev.span
		w.prev.key = at
		s.SetEndTimestamp(propTS(at + 2*time.Millisecond))
	} else {
		var u *propUnit
		start, end := at-5*time.Millisecond, at+2*time.Millisecond
		switch x := r.IntN(24); {
		case x >= 22:
			// A span with no task id: its namespace is borrowed (§4).
			u = g.unit(res, at, "handle_step_result_with_metadata", w.id, start, end,
				"step_uuid", "some-step-of-"+w.id, "namespace", w.ti.ns)
		case x >= 20:
			// Ids only on the enclosing span: kind by the event's name, id borrowed.
			u = g.unit(res, at, "process_single_task_from_ready_info", w.id, start, end,
				"task_uuid", w.id, "namespace", w.ti.ns)
			evKV = []any{"event_name", "task_transition"}
		case x < 12:
			u = g.unit(res, at, "process_single_task_from_ready_info", w.id, start, end,
				"task_uuid", w.id, "namespace", w.ti.ns, "correlation_id", "corr-"+w.id)
		case x < 15:
			// Results processing: the span carries a step's id, no task id (§4).
			u = g.unit(res, at, "handle_step_result_with_metadata", w.id, start, end,
				"step_uuid", "some-step-of-"+w.id, "correlation_id", "corr-"+w.id)
		case x < 17:
			u = g.unit(res, at, "handle_step_result_with_metadata", w.id, start, end,
				"step_uuid", "some-step-of-"+w.id, "task_uuid", w.id, "namespace", w.ti.ns)
		case x < 19 && len(g.tasks) > 1:
			// A span of another task: its namespace is not borrowed (§4).
			o := g.tasks[r.IntN(len(g.tasks))]
			u = g.unit(res, at, "process_single_task_from_ready_info", o.id, start, end,
				"task_uuid", o.id, "namespace", o.ns)
		default:
			// A namespace of the wrong type: not a namespace.
			u = g.unit(res, at, "process_single_task_from_ready_info", w.id, start, end,
				"task_uuid", w.id, "namespace", int64(42))
		}
		w.prev, w.prevRes = u, res
		s = u.span
	}
	ev := propEvent(s, "Task state transition", at, append(evKV, "from_state", fr, "to_state", tr)...)
	g.preset(ev.Attributes())
}

func (w *propWalk) stepKey() string {
	if w.g.chance(10) {
		return "workflow_step_uuid"
	}
	return "step_uuid"
}

func (w *propWalk) emitStep(fr, tr string, at time.Duration, worker bool, att *propAttempt, shape int) {
	g, r := w.g, w.g.rng
	res := g.orch()
	if worker {
		res = w.worker
	}
	hkeys := func() []any {
		if g.chance(4) {
			return []any{"handler_name", w.handler, "step_name", "Display " + w.handler}
		}
		return []any{"step_name", w.handler}
	}
	if shape == 0 {
		w.prev = nil
		if worker && !g.chance(5) {
			kv := append([]any{"step_uuid", w.id, "task_uuid", w.ti.id, "namespace", w.ti.ns, "correlation_id", "corr-" + w.ti.id}, hkeys()...)
			if g.chance(8) {
				kv = append(kv, "attempt_number", 9) // not the claim's carrier nor its enclosing span
			}
			g.unit(w.worker, at, "worker.step_execution", w.ti.id, at-30*time.Millisecond, at+10*time.Millisecond, kv...)
		}
		start, end := g.spanTimes(at)
		u := g.unit(res, at, "step.state_transition", w.ti.id, start, end, "from_state", fr, "to_state", tr, w.stepKey(), w.id)
		a := u.span.Attributes()
		if !g.chance(10) {
			a.PutStr("task_uuid", w.ti.id) // else the step's task is only learned (§5)
		}
		if g.chance(10) {
			a.PutStr("namespace", w.ti.ns)
		}
		if g.chance(10) {
			a.PutStr("handler_name", w.handler)
		}
		if att != nil {
			propPut(a, att.kv()...)
		}
		if g.chance(10) {
			propEvent(u.span, "log", at-time.Microsecond, "message", "state change")
		}
		g.preset(a)
		return
	}
	evName := "Step state transition"
	kv := []any{"event_name", "step_transition", w.stepKey(), w.id, "task_uuid", w.ti.id, "named_step_uuid", "named-" + w.handler}
	var s ptrace.Span
	if w.prev != nil && w.prevRes == res && g.chance(3) {
		s = w.prev.span
		w.prev.key = at
		s.SetEndTimestamp(propTS(at + 2*time.Millisecond))
	} else {
		var u *propUnit
		start, end := at-5*time.Millisecond, at+2*time.Millisecond
		if worker {
			x := r.IntN(20)
			others := len(w.ti.steps) > 1
			switch {
			case x == 19:
				// A span with no step id: its handler (and attempt) are borrowed (§4).
				u = g.unit(res, at, "worker.poll", w.ti.id, start, end, "task_uuid", w.ti.id, "namespace", w.ti.ns,
					"handler_name", w.handler)
			case x == 0 && others:
				// Another step's execution span: its handler is not borrowed (§4).
				o := w.ti.steps[(w.stepIdx+1+r.IntN(len(w.ti.steps)-1))%len(w.ti.steps)]
				u = g.unit(res, at, "worker.step_execution", w.ti.id, start, end, "step_uuid", o.id, "task_uuid", w.ti.id,
					"namespace", w.ti.ns, "step_name", o.handler)
			default:
				ukv := append([]any{w.stepKey(), w.id, "task_uuid", w.ti.id, "namespace", w.ti.ns, "correlation_id", "corr-" + w.ti.id}, hkeys()...)
				u = g.unit(res, at, "worker.step_execution", w.ti.id, start, end, ukv...)
				switch {
				case x == 1:
					// The events are the transitions: the span's own pair is ignored (§4).
					propPut(u.span.Attributes(), "from_state", "enqueued", "to_state", "in_progress")
				case x == 2:
					// Ids only on the enclosing span: kind by the event's name, id borrowed.
					kv = []any{"event_name", "step_transition"}
				case x == 3:
					// No ids and no telling name: kind by the enclosing span's ids.
					kv = []any{"event_name", "step_transition"}
					evName = "state_change"
				}
			}
		} else {
			switch x := r.IntN(12); {
			case x == 10:
				// No ids on the span: its namespace is borrowed (§4).
				u = g.unit(res, at, "orchestration_loop", w.ti.id, start, end, "namespace", w.ti.ns)
			case x == 11:
				// The event lacks its task id: borrowed from the span (§4).
				u = g.unit(res, at, "enqueue_ready_steps", w.ti.id, start, end, "task_uuid", w.ti.id, "namespace", w.ti.ns)
				kv = []any{"event_name", "step_transition", w.stepKey(), w.id}
			case x < 6:
				u = g.unit(res, at, "enqueue_ready_steps", w.ti.id, start, end, "task_uuid", w.ti.id)
			case x < 8:
				u = g.unit(res, at, "process_step_result", w.ti.id, start, end, "task_uuid", w.ti.id, "namespace", w.ti.ns)
			default:
				u = g.unit(res, at, "process_step_result", w.ti.id, start, end, "step_uuid", w.id, "task_uuid", w.ti.id)
			}
		}
		w.prev, w.prevRes = u, res
		s = u.span
	}
	if att != nil {
		if att.onSpan {
			propPut(s.Attributes(), att.kv()...)
		} else {
			kv = append(kv, att.kv()...)
		}
	}
	if g.chance(25) {
		kv = append(kv, "namespace", w.ti.ns) // on the event itself: the carrier's own value wins
	}
	kv = append(kv, "from_state", fr, "to_state", tr)
	ev := propEvent(s, evName, at, kv...)
	g.preset(ev.Attributes())
}

// claim: a worker claims the step (a transition into in_progress), sometimes with an attempt
// attribute.
func (w *propWalk) claim(from string) {
	g := w.g
	w.claims++
	var att *propAttempt
	if g.chance(3) {
		att = &propAttempt{key: "attempt_number"}
		if g.chance(3) {
			att.key = "attempts"
		}
		v := int64(w.claims)
		if g.chance(2) {
			v = int64(1 + g.rng.IntN(6))
		}
		att.val = v
		switch g.rng.IntN(8) {
		case 0:
			att.val = fmt.Sprint(v) // wrong type: not an int
		case 1:
			att.val = float64(v) // wrong type
		}
		att.onSpan = g.chance(4)
		if att.key == "attempt_number" && g.chance(5) {
			att.also = v + 3 // "attempts" too: the first key found wins (§4)
		}
	}
	w.moveFrom(from, "in_progress", true, att)
}

func (g *propGen) task(ti *propTask, start time.Duration) {
	r := g.rng
	w := &propWalk{g: g, ti: ti, kind: "task", id: ti.id, cur: start}
	legacy := g.chance(8)
	switch {
	case g.chance(12):
		w.last = "pending" // the creation record was sampled out: the log starts later
	case !legacy && g.chance(15):
		w.move("initializing", false) // created straight into initializing: none → initializing
	default:
		w.move("pending", false)
	}
	if legacy {
		if g.chance(2) {
			w.move("in_progress", false)
		} else {
			w.move("initializing", false)
			w.move("enqueuing_steps", false)
			w.move("in_progress", false)
		}
	} else {
		if w.last != "initializing" {
			w.move("initializing", false)
		}
		if g.chance(5) {
			w.move("waiting_for_dependencies", false)
			w.move("evaluating_results", false)
		}
		if g.chance(15) {
			w.move("cancelled", false)
			w.after()
			return
		}
		w.move("enqueuing_steps", false)
		if g.chance(15) {
			w.lose("steps_in_process")
		} else {
			w.move("steps_in_process", false)
		}
	}
	end := g.steps(ti, w.cur)
	if end > w.cur && !w.breakNext && g.chance(8) {
		// The task ends at the very time of its steps' last transition: a step transition at
		// the same time as the task's end counts as before it (§7).
		w.cur, w.exact = end, true
		w.move([]string{"error", "complete", "cancelled"}[r.IntN(3)], false)
		w.after()
		return
	}
	if end += time.Millisecond; end > w.cur {
		w.cur = end
	}
	for range r.IntN(3) {
		switch r.IntN(3) {
		case 0:
			w.move("evaluating_results", false)
			w.move("enqueuing_steps", false)
			w.move("steps_in_process", false)
		case 1:
			w.move("waiting_for_retry", false)
			w.move("enqueuing_steps", false)
			w.move("steps_in_process", false)
		case 2:
			w.move("evaluating_results", false)
			w.move("waiting_for_dependencies", false)
			w.move("evaluating_results", false)
			w.move("enqueuing_steps", false)
			w.move("steps_in_process", false)
		}
	}
	if (w.last == "steps_in_process" || w.last == "in_progress") && !g.chance(4) {
		w.move("evaluating_results", false)
	}
	terminals := []string{"complete", "error", "cancelled", "resolved_manually"}
	switch x := r.IntN(20); {
	case x < 9:
		w.move("complete", false)
	case x < 11:
		w.move("error", false)
	case x < 14:
		w.move("blocked_by_failures", false)
		switch r.IntN(3) {
		case 0:
			w.move("error", false)
		case 1:
			w.move("resolved_manually", false)
		}
	case x < 15:
		w.move("cancelled", false)
	case x < 17:
		// An invalid move (it chains), then an end.
		var bad []string
		for _, s := range []string{"pending", "initializing", "enqueuing_steps", "steps_in_process", "evaluating_results", "waiting_for_dependencies", "waiting_for_retry"} {
			if !sim.Valid("task", w.last, s) {
				bad = append(bad, s)
			}
		}
		w.move(bad[r.IntN(len(bad))], false)
		w.move(terminals[r.IntN(4)], false)
	case x < 18:
		// A transition whose from-state is not the task's state (a gap), into an end.
		w.stray([]string{"initializing", "waiting_for_dependencies", "enqueuing_steps"}[r.IntN(3)], terminals[r.IntN(4)], false)
	default:
		// still in flight
	}
	w.after()
}

// after: sometimes an invalid move out of a terminal state (never a second terminal one).
func (w *propWalk) after() {
	if !propTaskTerminal[w.last] || !w.g.chance(6) {
		return
	}
	w.move("pending", false) // task.retry_requested after error; invalid
	if w.g.chance(2) {
		w.move("initializing", false)
	}
}

// steps runs the task's steps from at; it returns when the last has moved.
func (g *propGen) steps(ti *propTask, at time.Duration) time.Duration {
	ws := make([]*propWalk, len(ti.steps))
	group := ti.shape == 1 && g.chance(2)
	var gu *propUnit
	cur := at
	for j, s := range ti.steps {
		w := &propWalk{g: g, ti: ti, kind: "step", id: s.id, handler: s.handler, cur: at, stepIdx: j}
		ws[j] = w
		switch {
		case g.chance(15):
			w.last = "pending" // creation sampled out
		case g.chance(20):
			w.move("enqueued", false) // first record none → enqueued
		case group:
			// One orchestration span creates all the steps: one event each (§4: several per span).
			t := at + time.Duration(j+1)*time.Microsecond
			if gu == nil {
				gu = g.unit(g.orch(), t, "initialize_workflow_steps", ti.id, at-time.Millisecond, at+time.Millisecond, "task_uuid", ti.id)
			}
			gu.key = t
			ev := propEvent(gu.span, "Step state transition", t, "event_name", "step_transition", "step_uuid", s.id,
				"task_uuid", ti.id, "named_step_uuid", "named-"+s.handler, "from_state", g.none(), "to_state", g.messy("pending"))
			g.preset(ev.Attributes())
			w.last = "pending"
			cur = t
		default:
			w.move("pending", false)
		}
	}
	end := at
	for _, w := range ws {
		if w.cur < cur {
			w.cur = cur
		}
		g.stepWalk(w)
		if w.cur > end {
			end = w.cur
		}
	}
	return end
}

func (g *propGen) stepWalk(w *propWalk) {
	r := g.rng
	maxAttempts := 1 + r.IntN(4)
	for attempt := 1; attempt <= 6; attempt++ {
		w.worker = g.workers[r.IntN(len(g.workers))]
		w.prev = nil
		if g.chance(30) {
			w.move("enqueued_for_orchestration", false) // invalid from pending; chains
			w.move("complete", false)
			return
		}
		switch {
		case w.last == "enqueued":
			w.claim("enqueued")
		case g.chance(10):
			w.claim(w.last) // pending → in_progress: step.handle
		case g.chance(20):
			w.lose("enqueued")
			w.claim("enqueued")
		case g.chance(30):
			w.move("enqueued", false)
			w.claim("pending") // from-state not the step's state: a gap
		default:
			w.move("enqueued", false)
			w.claim("enqueued")
		}
		if g.chance(30) {
			w.claim("in_progress") // claimed again while open: invalid; abandons the open attempt
		}
		more := attempt < maxAttempts
		switch x := r.IntN(100); {
		case x < 45:
			if g.chance(8) {
				w.move("complete", true)
			} else {
				w.move("enqueued_for_orchestration", true)
				w.move("complete", false)
			}
			switch {
			case g.chance(20):
				w.move("complete", false) // manual completion again: valid from any state
			case g.chance(15):
				w.move("resolved_manually", false) // valid from any state
			case g.chance(15):
				w.move("pending", false) // leaves complete: invalid
				continue
			}
			return
		case x < 70:
			if g.chance(4) {
				w.move("waiting_for_retry", true)
			} else {
				w.move("enqueued_as_error_for_orchestration", true)
				w.move("waiting_for_retry", false)
			}
			if !more {
				if g.chance(2) {
					w.move("cancelled", false)
				}
				return
			}
			w.move("pending", false)
		case x < 85:
			w.move("enqueued_as_error_for_orchestration", true)
			w.move("error", false)
			switch r.IntN(5) {
			case 0:
				if more {
					w.move("pending", false) // operator retry
					continue
				}
			case 1:
				w.move("resolved_manually", false)
			case 2:
				w.move("complete", false) // manual completion
			}
			return
		case x < 92:
			w.move("pending", false) // a stale claim reset: invalid; the attempt stays open
			if !more {
				return
			}
		case x < 96:
			w.move("cancelled", false)
			if g.chance(3) {
				w.move("pending", false) // leaves cancelled: invalid
				continue
			}
			return
		default:
			return // in flight
		}
		if !more {
			return
		}
	}
}

// junk: carriers that get no stamps (§4: malformed, unknown state, missing id, wrong types,
// unclassified), on their own ids, and ordinary spans.
func (g *propGen) junk(at time.Duration) {
	g.junkN++
	id := fmt.Sprintf("junk-%d", g.junkN)
	res := g.rng.IntN(len(propResources))
	if !slices.Contains(g.orchs, res) && !slices.Contains(g.workers, res) {
		res = g.orchs[0]
	}
	switch g.rng.IntN(12) {
	case 11: // a task transition (the event's task id decides) with a step state: unknown state
		u := g.unit(res, at, "junk_span", id, at-time.Millisecond, at, "note", "x")
		propEvent(u.span, "Task state transition", at, "task_uuid", id, "from_state", "pending", "to_state", "enqueued")
	case 0: // zero time (the one the span stands for): malformed
		start, end := at-time.Millisecond, time.Duration(-1)
		if g.startTime {
			start, end = -1, at
		}
		g.unit(res, at, "step.state_transition", id, start, end, "step_uuid", id, "task_uuid", "junk-task",
			"from_state", "pending", "to_state", "enqueued")
	case 1: // zero event time: malformed
		u := g.unit(res, at, "enqueue_ready_steps", id, at-time.Millisecond, at, "task_uuid", "junk-task")
		propEvent(u.span, "Step state transition", -1, "step_uuid", id, "task_uuid", "junk-task", "from_state", "none", "to_state", "pending")
	case 2: // unknown step state
		g.unit(res, at, "step.state_transition", id, at-time.Millisecond, at, "step_uuid", id, "from_state", "pending", "to_state", "steps_in_process")
	case 3: // unknown task state
		g.unit(res, at, "task.state_transition", id, at-time.Millisecond, at, "task_uuid", id, "from_state", "initializing", "to_state", "teleported")
	case 4: // a step with no id
		g.unit(res, at, "step.state_transition", id, at-time.Millisecond, at, "from_state", "pending", "to_state", "enqueued")
	case 5: // a task event with no id anywhere
		u := g.unit(res, at, "process_batch", id, at-time.Millisecond, at, "batch", "b1")
		propEvent(u.span, "Task state transition", at, "from_state", "pending", "to_state", "initializing")
	case 6: // wrong types
		g.unit(res, at, "task.state_transition", id, at-time.Millisecond, at, "task_uuid", id, "from_state", "pending", "to_state", int64(3))
	case 7:
		g.unit(res, at, "step.state_transition", id, at-time.Millisecond, at, "step_uuid", id, "from_state", true, "to_state", "enqueued")
	case 8: // only one of the pair
		g.unit(res, at, "task.state_transition", id, at-time.Millisecond, at, "task_uuid", id, "to_state", "pending")
	case 9: // unclassified: no id, no telling name, states both machines have
		g.unit(res, at, "transition", id, at-time.Millisecond, at, "from_state", "pending", "to_state", "complete")
	default: // an ordinary span
		u := g.unit(res, at, "GET /health", id, at-time.Millisecond, at, "http.method", "GET", "tasker.custom", "x")
		propEvent(u.span, "log", at, "message", "ok")
	}
}

var (
	propNamespaces = []string{"payments", "inventory", "shipping", "Customer Success"}
	propHandlers   = []string{"validate_order", "charge_card", "reserve_stock", "send_receipt", "ship_parcel", "notify"}
)

// propWorkload generates one seed's workload and cuts it into batches, in order.
func propWorkload(seed uint64) ([]ptrace.Traces, bool) {
	g := &propGen{rng: rand.New(rand.NewPCG(seed, 0x7a5c)), resNS: map[int]string{}}
	r := g.rng
	g.startTime = g.chance(4)
	g.orchs = []int{0}
	if g.chance(3) {
		g.orchs = append(g.orchs, 3)
	}
	g.workers = []int{1}
	if g.chance(2) {
		g.workers = append(g.workers, 2)
	}
	nTasks := 1 + r.IntN(4)
	for i := range nTasks {
		ti := &propTask{id: fmt.Sprintf("task-%d-%d", seed, i), ns: propNamespaces[r.IntN(len(propNamespaces))], shape: r.IntN(3)}
		for j := range 1 + r.IntN(4) {
			ti.steps = append(ti.steps, propStep{id: fmt.Sprintf("step-%d-%d-%d", seed, i, j), handler: propHandlers[r.IntN(len(propHandlers))]})
		}
		g.tasks = append(g.tasks, ti)
	}
	if g.chance(4) {
		// One namespace for the whole workload, also a resource attribute of some services.
		for _, ti := range g.tasks {
			ti.ns = g.tasks[0].ns
		}
		g.resNS[2], g.resNS[3] = g.tasks[0].ns, g.tasks[0].ns
	}
	for _, ti := range g.tasks {
		g.task(ti, time.Duration(r.IntN(5000))*time.Millisecond)
	}
	for range r.IntN(5) {
		g.junk(time.Duration(r.Int64N(int64(g.maxAt) + 1)))
	}
	units := slices.Clone(g.units)
	sort.SliceStable(units, func(a, b int) bool { return units[a].key < units[b].key })

	// Batches: one or several units each; sometimes all in one.
	var batches [][]*propUnit
	if g.chance(6) {
		batches = [][]*propUnit{units}
	} else {
		for i := 0; i < len(units); {
			n := 1 + r.IntN(6)
			n = min(n, len(units)-i)
			batches = append(batches, slices.Clone(units[i:i+n]))
			i += n
		}
	}
	// All of a batch is entered before any is stamped (§5): shuffle some batches.
	for _, b := range batches {
		if g.chance(4) {
			r.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
		}
	}
	// Re-sent units (an exporter's retry), after the original: in a later batch or at the end of
	// the same one; sometimes with the state strings spelled differently (§4: the same states).
	nb := len(batches)
	for b := 0; b < nb; b++ {
		for _, u := range slices.Clone(batches[b]) {
			if !g.chance(12) {
				continue
			}
			to := b + r.IntN(4)
			for to >= len(batches) {
				batches = append(batches, nil)
			}
			c := *u
			if g.chance(3) {
				c.span = ptrace.NewSpan()
				u.span.CopyTo(c.span)
				g.respell(c.span.Attributes())
				for e := 0; e < c.span.Events().Len(); e++ {
					g.respell(c.span.Events().At(e).Attributes())
				}
			}
			batches[to] = append(batches[to], &c)
		}
	}
	var out []ptrace.Traces
	for _, b := range batches {
		td := ptrace.NewTraces()
		byRes := map[int]ptrace.SpanSlice{}
		for _, u := range b {
			spans, ok := byRes[u.res]
			if !ok || g.chance(10) {
				rs := td.ResourceSpans().AppendEmpty()
				rs.Resource().Attributes().PutStr("service.name", propResources[u.res][0])
				rs.Resource().Attributes().PutStr("service.instance.id", propResources[u.res][1])
				if ns, ok := g.resNS[u.res]; ok {
					rs.Resource().Attributes().PutStr("namespace", ns)
				}
				ss := rs.ScopeSpans().AppendEmpty()
				ss.Scope().SetName("tasker")
				spans = ss.Spans()
				byRes[u.res] = spans
			}
			u.span.CopyTo(spans.AppendEmpty())
		}
		out = append(out, td)
	}
	return out, g.startTime
}

// respell writes a carrier's states differently: case, blanks, none as empty.
func (g *propGen) respell(m pcommon.Map) {
	for _, k := range []string{"from_state", "to_state"} {
		v, ok := m.Get(k)
		if !ok || v.Type() != pcommon.ValueTypeStr {
			continue
		}
		n := strings.ToLower(strings.TrimSpace(v.Str()))
		switch {
		case n == "none" || n == "":
			v.SetStr([]string{"", "none", "NONE", " None"}[g.rng.IntN(4)])
		case g.chance(2):
			v.SetStr(strings.ToUpper(n))
		default:
			v.SetStr(" " + n + "  ")
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Comparison of the processor's output with the reference.

// propCompare checks out against orig plus the expected stamps, and that nothing else changed.
func propCompare(orig, out ptrace.Traces, exp map[propPos]propExpect) (diffs []string, stamped int) {
	if orig.ResourceSpans().Len() != out.ResourceSpans().Len() {
		return []string{"resource spans count changed"}, 0
	}
	for i := 0; i < orig.ResourceSpans().Len(); i++ {
		ors, nrs := orig.ResourceSpans().At(i), out.ResourceSpans().At(i)
		if !propSameRaw(ors.Resource().Attributes().AsRaw(), nrs.Resource().Attributes().AsRaw()) {
			diffs = append(diffs, "resource attributes changed")
		}
		if ors.ScopeSpans().Len() != nrs.ScopeSpans().Len() {
			return append(diffs, "scope spans count changed"), 0
		}
		for j := 0; j < ors.ScopeSpans().Len(); j++ {
			if ors.ScopeSpans().At(j).Scope().Name() != nrs.ScopeSpans().At(j).Scope().Name() {
				diffs = append(diffs, "scope changed")
			}
			os, ns := ors.ScopeSpans().At(j).Spans(), nrs.ScopeSpans().At(j).Spans()
			if os.Len() != ns.Len() {
				return append(diffs, "span count changed"), 0
			}
			for k := 0; k < os.Len(); k++ {
				o, n := os.At(k), ns.At(k)
				if o.Events().Len() != n.Events().Len() {
					diffs = append(diffs, fmt.Sprintf("span %s: event count changed", o.Name()))
					continue
				}
				check := func(pos propPos, om, nm pcommon.Map) {
					e := exp[pos]
					d := propAttrs(om, nm, e.stamps, e.optional)
					for _, x := range d {
						desc := e.desc
						if desc == "" {
							desc = "not a transition carrier"
						}
						diffs = append(diffs, fmt.Sprintf("%s [span %q ev %d]: %s", desc, o.Name(), pos.ev, x))
					}
					if e.stamps != nil {
						stamped++
					}
				}
				check(propPos{i, j, k, -1}, o.Attributes(), n.Attributes())
				for e := 0; e < o.Events().Len(); e++ {
					oe, ne := o.Events().At(e), n.Events().At(e)
					check(propPos{i, j, k, e}, oe.Attributes(), ne.Attributes())
					if oe.Name() != ne.Name() || oe.Timestamp() != ne.Timestamp() || oe.DroppedAttributesCount() != ne.DroppedAttributesCount() {
						diffs = append(diffs, fmt.Sprintf("span %q event %d changed", o.Name(), e))
					}
				}
				o2, n2 := ptrace.NewSpan(), ptrace.NewSpan()
				o.CopyTo(o2)
				n.CopyTo(n2)
				o2.Attributes().Clear()
				n2.Attributes().Clear()
				o2.Events().RemoveIf(func(ptrace.SpanEvent) bool { return true })
				n2.Events().RemoveIf(func(ptrace.SpanEvent) bool { return true })
				if o2.Name() != n2.Name() || o2.SpanID() != n2.SpanID() || o2.TraceID() != n2.TraceID() ||
					o2.StartTimestamp() != n2.StartTimestamp() || o2.EndTimestamp() != n2.EndTimestamp() ||
					o2.Kind() != n2.Kind() || o2.Status().Code() != n2.Status().Code() || o2.ParentSpanID() != n2.ParentSpanID() {
					diffs = append(diffs, fmt.Sprintf("span %q changed", o.Name()))
				}
			}
		}
	}
	return diffs, stamped
}

func propSameRaw(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || fmt.Sprintf("%T %v", v, v) != fmt.Sprintf("%T %v", w, w) {
			return false
		}
	}
	return true
}

// propAttrs: every original attribute kept as it was; every expected stamp absent from the
// original added with its type and value; nothing else.
func propAttrs(orig, out pcommon.Map, stamps, optional map[string]any) []string {
	var d []string
	o, n := orig.AsRaw(), out.AsRaw()
	for k, v := range o {
		w, ok := n[k]
		if !ok {
			d = append(d, fmt.Sprintf("attribute %s lost", k))
		} else if fmt.Sprintf("%T %v", v, v) != fmt.Sprintf("%T %v", w, w) {
			d = append(d, fmt.Sprintf("attribute %s changed: %v → %v", k, v, w))
		}
	}
	keys := make([]string, 0, len(stamps))
	for k := range stamps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, had := o[k]; had {
			continue // never overwritten
		}
		want := stamps[k]
		got, ok := n[k]
		if !ok {
			d = append(d, fmt.Sprintf("%s missing (want %T %v)", k, want, want))
			continue
		}
		if wf, isF := want.(float64); isF {
			gf, ok := got.(float64)
			if !ok || math.Abs(gf-wf) > 1e-6 {
				d = append(d, fmt.Sprintf("%s: want %T %v got %T %v", k, want, want, got, got))
			}
			continue
		}
		if fmt.Sprintf("%T %v", want, want) != fmt.Sprintf("%T %v", got, got) {
			d = append(d, fmt.Sprintf("%s: want %T %v got %T %v", k, want, want, got, got))
		}
	}
	for k, v := range n {
		if _, had := o[k]; had {
			continue
		}
		if _, want := stamps[k]; !want {
			if o, may := optional[k]; may && o == v {
				continue
			}
			d = append(d, fmt.Sprintf("unexpected %s=%T %v", k, v, v))
		}
	}
	return d
}

// TestPropertyStampsInOrder: 200 seeded workloads delivered in order; every carrier's tasker.*
// stamps match the reference exactly and nothing else changes.
func TestPropertyStampsInOrder(t *testing.T) {
	const seeds = 200
	totalStamped, totalDiffs := 0, 0
	categories, cover := map[string]int{}, map[string]int{}
	var first []string
	for seed := uint64(1); seed <= seeds; seed++ {
		batches, startTime := propWorkload(seed)
		sink := new(consumertest.TracesSink)
		cfg := createDefaultConfig()
		if startTime {
			cfg.TransitionTime = "start"
		}
		p := newTestProcessor(t, cfg, clockwork.NewFakeClock(), sink)
		ref := newPropRef()
		ref.startTime = startTime
		for bi, td := range batches {
			orig := ptrace.NewTraces()
			td.CopyTo(orig)
			exp := ref.batch(orig)
			require.NoError(t, p.ConsumeTraces(context.Background(), td))
			all := sink.AllTraces()
			require.Len(t, all, bi+1)
			diffs, n := propCompare(orig, all[bi], exp)
			totalStamped += n
			for _, d := range diffs {
				totalDiffs++
				cat := d
				if i := strings.Index(d, "]: "); i >= 0 {
					cat = d[i+3:]
				}
				if i := strings.IndexAny(cat, ":(="); i >= 0 {
					cat = cat[:i]
				}
				categories[cat]++
				if len(first) < 40 {
					first = append(first, fmt.Sprintf("seed %d batch %d: %s", seed, bi, d))
				}
			}
		}
		for k, n := range ref.cover {
			cover[k] += n
		}
	}
	t.Logf("carriers with stamps checked: %d; coverage: %v", totalStamped, cover)
	require.Greater(t, totalStamped, 5000, "the workload must exercise stamping")
	for _, k := range []string{"outcome complete", "outcome cancelled", "outcome resolved_manually", "outcome error (gave up)",
		"outcome with 0 attempts", "error before its task's end was seen", "gave up at the time of its task's end"} {
		require.Positive(t, cover[k], "the workload never produced: %s", k)
	}
	if totalDiffs > 0 {
		t.Errorf("%d differences; by kind: %v\nfirst ones:\n%s", totalDiffs, categories, strings.Join(first, "\n"))
	}
}
