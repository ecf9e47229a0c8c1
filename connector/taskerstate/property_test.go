package taskerstate

// A randomized property test of the connector against an independent reference written from
// the contract (docs/telemetry.md) alone: the state tables of §1–§2, the event
// names of §3, the input shapes and look-up rules of §4, the entity log of §5 and the metrics
// of §7. Nothing here uses the connector's, internal/statelog's or internal/tasker's logic.
//
// Each seed generates a Tasker-shaped workload (tasks in a few namespaces walking the task
// machine, each with 1–4 steps walking the step machine with claims, retries, failures,
// operator actions and the odd invalid move), its ground truth (each entity's transitions at
// distinct, increasing telemetry times on one clock), renders it as Tasker would export it
// (orchestration and worker resources, transition spans and transition span events, the
// namespace only on enclosing spans and some task transition spans, the handler only on
// worker spans), splits it into batches delivered in a shuffled order (one repeated, some
// spans re-sent) within the settle window, shuts the connector down and compares every
// series of the final flush with the reference.
//
// The live state and the step outcomes (§7 "Live state", "Step outcomes across retries") are
// derived by the reference from the same ground truth (propLiveReference); what is compared
// for them is said there.
//
// Deliberately outside the property (the brief, or an ambiguity of the contract): clock
// skew (one clock; a lost transition is only generated where §5's skew repair cannot
// apply), late transitions, eviction and cardinality limits, a task's legacy in_progress →
// evaluating_results (whether §3 row 4 sees the legacy from-state as received or
// canonical), attempt attributes that are not ints, and differing step_name/handler_name
// values on different spans of one step (first seen depends on arrival).

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tasker-systems/otelcol-tasker/cmd/taskersim/sim"
)

const propSeeds = 200

// propBounds are the default explicit bounds as the README states them.
var propBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
	1800, 3600, 7200, 14400}

// ---- the contract's tables, written from §1–§3 ------------------------------------------
//
// Validity (§1–§2) and event names (§3) come from the simulator's model
// (cmd/taskersim/sim/model.go: sim.Valid, sim.EventName), which is written from docs/telemetry.md
// without the project's internal packages for the same reason: the end-to-end ground truth.
// The states and terminal sets below drive the generator.

const (
	propEFO   = "enqueued_for_orchestration"
	propEAEFO = "enqueued_as_error_for_orchestration"
)

var propTaskStates = []string{"pending", "initializing", "enqueuing_steps", "steps_in_process",
	"evaluating_results", "waiting_for_dependencies", "waiting_for_retry", "blocked_by_failures",
	"complete", "error", "cancelled", "resolved_manually"}

var propTaskTerminal = map[string]bool{"complete": true, "error": true, "cancelled": true, "resolved_manually": true}

var propStepStates = []string{"pending", "enqueued", "in_progress", propEFO, propEAEFO, "waiting_for_retry",
	"complete", "error", "cancelled", "resolved_manually"}

var propStepTerminal = map[string]bool{"complete": true, "cancelled": true, "resolved_manually": true}

// propNorm: compared case-insensitively after trimming; an empty from-state is none.
func propNorm(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "none"
	}
	return s
}

// propCanon is the state as validity, durations and metric attributes see it (§1: a task's
// legacy in_progress is steps_in_process).
func propCanon(kind, s string) string {
	s = propNorm(s)
	if kind == "task" && s == "in_progress" {
		return "steps_in_process"
	}
	return s
}

// propCloses: §7, a step attempt closes at complete (success), error or waiting_for_retry
// (error), cancelled or resolved_manually.
func propCloses(to string) (string, bool) {
	switch to {
	case "complete":
		return "success", true
	case "error", "waiting_for_retry":
		return "error", true
	case "cancelled", "resolved_manually":
		return to, true
	}
	return "", false
}

// ---- the workload -------------------------------------------------------------------------

type propTr struct {
	kind, id, task string
	from, to       string // as emitted
	ms             int64  // telemetry time, ms after t0
	svc            string
	claimOrdinal   int64 // the true ordinal of a claim (all generated claims, dropped ones too)
	effAttempt     int64 // the attempt attribute the emitted telemetry gives the claim (0: none)
	dropped        bool  // sampled out: never emitted
}

func (tr *propTr) String() string {
	return fmt.Sprintf("%s %s: %q→%q @%dms (%s)", tr.kind, tr.id, tr.from, tr.to, tr.ms, tr.svc)
}

type propStep struct {
	id, handler   string
	task          *propTask
	trs           []*propTr
	attemptMode   int // 0 none, 1 on the claim's carrier, 2 on the enclosing worker span
	attemptOffset int64
	attemptKey    string
	handlerClass  string // when set, the worker's spans also carry handler_name, which wins over step_name (§4)
}

// expectHandler is the handler the step's attempts are to carry, once learned.
func (st *propStep) expectHandler() string {
	if st.handlerClass != "" {
		return st.handlerClass
	}
	return st.handler
}

type propTask struct {
	id, ns, corr string
	nsBareOnly   bool // the namespace is only on a span that carries no transition
	trace        byte
	steps        []*propStep
	trs          []*propTr
	procSpans    []*propSpan // its process_single_task_from_ready_info spans with events
	enqSpan      *propSpan   // its latest enqueue_ready_steps span
}

type propEvent struct {
	name  string
	ms    int64
	zero  bool
	attrs map[string]any
}

type propSpan struct {
	svc, inst, name string
	trace           byte
	spanID          uint64
	startMs, endMs  int64
	attrs           map[string]any
	events          []propEvent
}

type propWorkload struct {
	r              *rand.Rand
	startTime      bool            // transition_time: start
	delta          bool            // aggregation_temporality: delta (the flushes' points are summed)
	exponential    bool            // exponential histograms (count and sum compared)
	stepLinked     map[string]bool // step id → some emitted carrier of the step names its task
	tasks          []*propTask
	spans          []*propSpan
	nextSpan       uint64
	nsLearned      map[string]bool // task id → some emitted span of the task carries namespace
	nsOnlyBare     map[string]bool // … and only bare (transition-less) spans do
	handlerLearned map[string]bool // step id → some emitted span of the step carries its handler
	batches        [][]*propSpan   // delivery order
	notes          []string
}

var propNamespaces = []string{"payments", "reports", "billing"}
var propHandlers = []string{"charge_card", "send_email", "build_report", "validate_order"}

func propPick(r *rand.Rand, opts ...any) string {
	total := 0
	for i := 1; i < len(opts); i += 2 {
		total += opts[i].(int)
	}
	x := r.IntN(total)
	for i := 0; i < len(opts); i += 2 {
		x -= opts[i+1].(int)
		if x < 0 {
			return opts[i].(string)
		}
	}
	panic("unreachable")
}

func propInvalidMove(r *rand.Rand, kind, cur string) string {
	states := propStepStates
	if kind == "task" {
		states = propTaskStates
	}
	var cands []string
	for _, s := range states {
		if s != propCanon(kind, cur) && !sim.Valid(kind, cur, s) {
			cands = append(cands, s)
		}
	}
	return cands[r.IntN(len(cands))]
}

// propTaskWalk walks §1's machine, with the odd invalid move and unfinished task.
func propTaskWalk(r *rand.Rand) [][2]string {
	var out [][2]string
	cur := "none"
	add := func(to string) { out = append(out, [2]string{cur, to}); cur = to }
	add("pending")
	for len(out) < 16 {
		c := propCanon("task", cur)
		if propTaskTerminal[c] {
			if r.Float64() < 0.8 {
				break
			}
			add(propInvalidMove(r, "task", cur)) // e.g. an operator's error → pending
			continue
		}
		if len(out) >= 3 && r.Float64() < 0.06 {
			break // unfinished
		}
		if r.Float64() < 0.04 {
			add(propInvalidMove(r, "task", cur))
			continue
		}
		var next string
		switch cur {
		case "pending":
			next = propPick(r, "initializing", 85, "in_progress", 10, "cancelled", 5)
		case "initializing":
			next = propPick(r, "enqueuing_steps", 80, "waiting_for_dependencies", 15, "error", 3, "cancelled", 2)
		case "enqueuing_steps":
			next = propPick(r, "steps_in_process", 95, "cancelled", 3, "error", 2)
		case "in_progress": // legacy: only moves whose event name does not depend on the from-state
			next = propPick(r, "waiting_for_retry", 20, "complete", 50, "error", 15, "blocked_by_failures", 10, "cancelled", 5)
		case "steps_in_process":
			next = propPick(r, "evaluating_results", 80, "waiting_for_retry", 12, "cancelled", 3, "error", 3, "blocked_by_failures", 2)
		case "evaluating_results":
			next = propPick(r, "complete", 45, "enqueuing_steps", 20, "waiting_for_dependencies", 10, "error", 10,
				"blocked_by_failures", 10, "cancelled", 5)
		case "waiting_for_dependencies":
			next = propPick(r, "evaluating_results", 90, "cancelled", 5, "error", 5)
		case "waiting_for_retry":
			next = propPick(r, "enqueuing_steps", 90, "cancelled", 5, "error", 5)
		case "blocked_by_failures":
			// A staleness sweep re-marks a blocked task: a move to itself (valid, §1).
			next = propPick(r, "error", 40, "resolved_manually", 40, "cancelled", 20, "blocked_by_failures", 15)
		default:
			panic(cur)
		}
		add(next)
	}
	return out
}

// propStepWalk walks §2's machine: claims, retries through waiting_for_retry, failures,
// operator retries and manual resolutions, cancellations, the odd invalid move.
func propStepWalk(r *rand.Rand) [][2]string {
	var out [][2]string
	cur := "none"
	add := func(to string) { out = append(out, [2]string{cur, to}); cur = to }
	add("pending")
loop:
	for len(out) < 24 {
		if propStepTerminal[cur] {
			x := r.Float64()
			switch {
			case x < 0.8:
				break loop
			case x < 0.88 && cur != "resolved_manually":
				add("resolved_manually")
			case x < 0.92 && cur != "complete":
				add("complete")
			default:
				add(propInvalidMove(r, "step", cur))
			}
			continue
		}
		if len(out) >= 2 && r.Float64() < 0.04 {
			break // unfinished (possibly with an open attempt)
		}
		if r.Float64() < 0.03 {
			add(propInvalidMove(r, "step", cur)) // e.g. a stale claim reset in_progress → pending
			continue
		}
		var next string
		switch cur {
		case "pending":
			next = propPick(r, "enqueued", 85, "in_progress", 5, "cancelled", 4, "waiting_for_retry", 3, "error", 3)
		case "enqueued":
			next = propPick(r, "in_progress", 90, "cancelled", 4, "error", 3, "waiting_for_retry", 3)
		case "in_progress":
			next = propPick(r, propEFO, 55, propEAEFO, 25, "complete", 5, "error", 4, "waiting_for_retry", 4, "cancelled", 4,
				"resolved_manually", 3)
		case propEFO:
			next = propPick(r, "complete", 90, "error", 5, "cancelled", 5)
		case propEAEFO:
			next = propPick(r, "waiting_for_retry", 65, "error", 25, "complete", 5, "cancelled", 5)
		case "waiting_for_retry":
			next = propPick(r, "pending", 92, "cancelled", 8)
		case "error":
			next = propPick(r, "pending", 40, "", 30, "resolved_manually", 15, "complete", 10, "cancelled", 5)
		default:
			panic(cur)
		}
		if next == "" {
			break
		}
		add(next)
	}
	return out
}

// propStepService: the worker claims a step and reports its result; the orchestration does
// the rest.
func propStepService(from, to string) string {
	if to == "in_progress" {
		return worker
	}
	if from == "in_progress" && (to == propEFO || to == propEAEFO || to == "complete" || to == "error") {
		return worker
	}
	return orch
}

func propDelta(r *rand.Rand) int64 {
	x := r.Float64()
	switch {
	case x < 0.5:
		return 1 + r.Int64N(999)
	case x < 0.85:
		return 1000 + r.Int64N(9000)
	default:
		return 10000 + r.Int64N(290000)
	}
}

// propEmitted: the transitions of an entity that reach the collector, in telemetry order.
func propEmitted(trs []*propTr) []*propTr {
	var out []*propTr
	for _, tr := range trs {
		if !tr.dropped {
			out = append(out, tr)
		}
	}
	return out
}

// propSkewAmbiguous: a chain break (from a dropped transition) near which §5's clock-skew
// repair could apply. The generator avoids those, so the reference need not model the repair.
func propSkewAmbiguous(kind string, log []*propTr) bool {
	for i := 1; i < len(log); i++ {
		prevTo := propCanon(kind, log[i-1].to)
		if propCanon(kind, log[i].from) == prevTo {
			continue
		}
		for j := i + 1; j < len(log) && log[j].ms-log[i].ms <= 1000; j++ {
			if propCanon(kind, log[j].from) == prevTo {
				return true
			}
		}
	}
	return false
}

func propApplyDrops(r *rand.Rand, kind string, trs []*propTr) {
	for i, tr := range trs {
		// A task's creation may be lost only when its pending → initializing is not: so that
		// its completion always has a start (§5).
		if kind == "task" && i == 0 && (len(trs) < 2 || propNorm(trs[1].from) != "pending" || propNorm(trs[1].to) != "initializing") {
			continue
		}
		if kind == "task" && i == 1 && trs[0].dropped {
			continue
		}
		tr.dropped = r.Float64() < 0.03
	}
	if propSkewAmbiguous(kind, propEmitted(trs)) {
		for _, tr := range trs {
			tr.dropped = false
		}
	}
}

// propVariant: none is sometimes sent empty; a state is now and then sent in another case
// with blanks around it (§4: compared case-insensitively after trimming).
func propVariant(r *rand.Rand, state string) string {
	switch x := r.Float64(); {
	case state == "none" && x < 0.3:
		return ""
	case state == "none":
		return state
	case x < 0.03:
		return strings.ToUpper(state)
	case x < 0.05:
		return " " + strings.ToUpper(state[:1]) + state[1:] + "  "
	}
	return state
}

func propGenerate(seed uint64) *propWorkload {
	r := rand.New(rand.NewPCG(seed, 0x7a5c))
	w := &propWorkload{r: r, startTime: seed%3 == 0, delta: seed%4 == 1, exponential: seed%5 == 2,
		stepLinked: map[string]bool{}, nsLearned: map[string]bool{}, nsOnlyBare: map[string]bool{}, handlerLearned: map[string]bool{}}
	nTasks := 2 + r.IntN(5)
	for ti := range nTasks {
		task := &propTask{id: fmt.Sprintf("T%d-%d", seed, ti), corr: fmt.Sprintf("C%d-%d", seed, ti), trace: byte(ti + 1)}
		switch x := r.Float64(); {
		case x < 0.1: // no span ever carries it: unknown
		case x < 0.2:
			task.ns = propNamespaces[r.IntN(len(propNamespaces))]
			task.nsBareOnly = true
		default:
			task.ns = propNamespaces[r.IntN(len(propNamespaces))]
		}
		ms := r.Int64N(30000)
		start := ms
		for _, ft := range propTaskWalk(r) {
			from, to := propVariant(r, ft[0]), propVariant(r, ft[1])
			task.trs = append(task.trs, &propTr{kind: "task", id: task.id, task: task.id, from: from, to: to, ms: ms, svc: orch})
			ms += propDelta(r)
		}
		// The task's creation stays, so that its completion always has a start.
		propApplyDrops(r, "task", task.trs)
		if r.Float64() < 0.1 {
			// Today's Tasker: no task transitions at all; its steps' namespace is still
			// learned from the spans that carry it.
			for _, tr := range task.trs {
				tr.dropped = true
			}
		}

		for si := range 1 + r.IntN(4) {
			st := &propStep{id: fmt.Sprintf("S%d-%d-%d", seed, ti, si), handler: propHandlers[r.IntN(len(propHandlers))], task: task}
			switch x := r.Float64(); {
			case x < 0.6:
			case x < 0.8:
				st.attemptMode = 1
				if r.Float64() < 0.3 {
					st.attemptOffset = 2
				}
			default:
				st.attemptMode = 2
			}
			st.attemptKey = "attempt_number"
			if r.Float64() < 0.3 {
				st.handlerClass = strings.ReplaceAll(strings.ToTitle(st.handler[:1])+st.handler[1:], "_", "") + "Handler"
			}
			if r.Float64() < 0.5 {
				st.attemptKey = "attempts"
			}
			ms := start + 100 + r.Int64N(5000)
			var claims int64
			for _, ft := range propStepWalk(r) {
				from, to := propVariant(r, ft[0]), propVariant(r, ft[1])
				tr := &propTr{kind: "step", id: st.id, task: task.id, from: from, to: to, ms: ms, svc: propStepService(ft[0], ft[1])}
				if ft[1] == "in_progress" {
					claims++
					tr.claimOrdinal = claims
				}
				st.trs = append(st.trs, tr)
				ms += propDelta(r)
			}
			propApplyDrops(r, "step", st.trs)
			task.steps = append(task.steps, st)
		}
		w.tasks = append(w.tasks, task)
	}

	for _, task := range w.tasks {
		w.taskSpans(task)
		for _, st := range task.steps {
			w.stepSpans(st)
		}
	}
	w.noise()
	w.batch()
	return w
}

// tsTimes are the start and end of a transition span at ms, as transition_time reads it.
func (w *propWorkload) tsTimes(ms int64) (int64, int64) {
	if w.startTime {
		return ms, ms + 1 + w.r.Int64N(20)
	}
	return ms - 1 - w.r.Int64N(20), ms
}

// resend: now and then a transition sent as an event is also sent as a transition span at
// the same time: an identical transition (§5), a duplicate whatever its shape.
func (w *propWorkload) resend(tr *propTr, trace byte) {
	if w.r.Float64() >= 0.04 {
		return
	}
	attrs := map[string]any{"task_uuid": tr.task, "from_state": tr.from, "to_state": tr.to}
	name := "task.state_transition"
	if tr.kind == "step" {
		w.stepLinked[tr.id] = true
		name = "step.state_transition"
		attrs["step_uuid"] = tr.id
		if tr.effAttempt > 0 {
			attrs["attempt_number"] = tr.effAttempt
		}
	}
	st, en := w.tsTimes(tr.ms)
	w.newSpan(tr.svc, name, trace, st, en, attrs)
}

func (w *propWorkload) newSpan(svc, name string, trace byte, startMs, endMs int64, attrs map[string]any) *propSpan {
	inst := "1"
	if w.r.Float64() < 0.5 {
		inst = "2"
	}
	w.nextSpan++
	s := &propSpan{svc: svc, inst: svc[len("tasker-"):len("tasker-")+1] + inst, name: name, trace: trace, spanID: w.nextSpan,
		startMs: startMs, endMs: endMs, attrs: attrs}
	w.spans = append(w.spans, s)
	return s
}

// decoyPair: §4, a span with transition events is not a transition itself; its own pair
// (here a valid one for its entity) must be ignored.
func (w *propWorkload) decoyPair(attrs map[string]any, from, to string) {
	if w.r.Float64() < 0.08 {
		attrs["from_state"], attrs["to_state"] = from, to
	}
}

// groups splits an entity's emitted transitions into runs of one service (at most 4, and
// each worker claim starts a run, as each claim is a new worker.step_execution).
func (w *propWorkload) groups(em []*propTr) [][]*propTr {
	var out [][]*propTr
	for i := 0; i < len(em); {
		j := i + 1
		for j < len(em) && em[j].svc == em[i].svc && j-i < 4 && w.r.Float64() < 0.6 &&
			!(em[j].svc == worker && propNorm(em[j].to) == "in_progress") {
			j++
		}
		out = append(out, em[i:j])
		i = j
	}
	return out
}

func (w *propWorkload) taskSpans(task *propTask) {
	r := w.r
	em := propEmitted(task.trs)
	for _, g := range w.groups(em) {
		if r.Float64() < 0.35 { // shape 1: task.state_transition spans
			for _, tr := range g {
				attrs := map[string]any{"task_uuid": task.id, "correlation_id": task.corr, "from_state": tr.from, "to_state": tr.to}
				if task.ns != "" && !task.nsBareOnly && r.Float64() < 0.5 {
					attrs["namespace"] = task.ns
					w.nsLearned[task.id] = true
				}
				st, en := w.tsTimes(tr.ms)
				w.newSpan(tr.svc, "task.state_transition", task.trace, st, en, attrs)
			}
			continue
		}
		// shape 2: Task state transition events in an orchestration span.
		var attrs map[string]any
		if len(task.steps) > 0 && r.Float64() < 0.3 {
			// Tasker records task transitions while it handles a step's result (§4).
			attrs = map[string]any{"step_uuid": task.steps[r.IntN(len(task.steps))].id, "correlation_id": task.corr}
			w.decoyPair(attrs, "pending", "enqueued")
		} else {
			attrs = map[string]any{"task_uuid": task.id, "correlation_id": task.corr}
			if task.ns != "" && !task.nsBareOnly && r.Float64() < 0.7 {
				attrs["namespace"] = task.ns
				w.nsLearned[task.id] = true
			}
			w.decoyPair(attrs, "pending", "initializing")
		}
		name := "process_single_task_from_ready_info"
		if _, ok := attrs["step_uuid"]; ok {
			name = "handle_step_result_with_metadata"
		}
		s := w.newSpan(orch, name, task.trace, g[0].ms-1-r.Int64N(50), g[len(g)-1].ms+1+r.Int64N(50), attrs)
		if name == "process_single_task_from_ready_info" {
			task.procSpans = append(task.procSpans, s)
		}
		for _, tr := range g {
			s.events = append(s.events, propEvent{name: "Task state transition", ms: tr.ms, attrs: map[string]any{
				"event_name": "transition", "task_uuid": task.id, "correlation_id": task.corr, "from_state": tr.from, "to_state": tr.to}})
			w.resend(tr, task.trace)
		}
	}
	// A span of the task that carries its namespace but no transition (docs/telemetry.md §5:
	// namespace is learned from any span of the task that carries it).
	if task.nsBareOnly || task.ns != "" && r.Float64() < 0.1 {
		ms := task.trs[0].ms + r.Int64N(2000)
		w.newSpan(orch, "process_single_task_from_ready_info", task.trace, ms, ms+5, map[string]any{
			"task_uuid": task.id, "namespace": task.ns, "correlation_id": task.corr})
		if !w.nsLearned[task.id] {
			w.nsOnlyBare[task.id] = true
		}
		w.nsLearned[task.id] = true
	}
}

func (w *propWorkload) stepSpans(st *propStep) {
	r := w.r
	task := st.task
	em := propEmitted(st.trs)
	carrierAttempt := func(tr *propTr, attrs map[string]any) {
		if propNorm(tr.to) != "in_progress" || st.attemptMode == 0 {
			return
		}
		v := tr.claimOrdinal
		if st.attemptMode == 1 {
			v += st.attemptOffset
		}
		attrs[st.attemptKey] = v
		tr.effAttempt = v
	}
	for _, g := range w.groups(em) {
		if r.Float64() < 0.3 { // shape 1: step.state_transition spans
			for _, tr := range g {
				attrs := map[string]any{"from_state": tr.from, "to_state": tr.to}
				if r.Float64() < 0.7 {
					attrs["task_uuid"] = task.id
					w.stepLinked[st.id] = true
				} // else the step's task is learned from its other transitions (§5)
				if r.Float64() < 0.3 {
					attrs["workflow_step_uuid"] = st.id // the step id's second key (§4)
				} else {
					attrs["step_uuid"] = st.id
				}
				if tr.svc == worker && r.Float64() < 0.5 {
					attrs["handler_name"] = st.expectHandler()
					w.handlerLearned[st.id] = true
				}
				carrierAttempt(tr, attrs) // the span is the carrier: modes 1 and 2 alike
				s, e := w.tsTimes(tr.ms)
				w.newSpan(tr.svc, "step.state_transition", task.trace, s, e, attrs)
			}
			continue
		}
		svc := g[0].svc
		var name string
		var attrs map[string]any
		var s *propSpan
		decoy := r.Float64() < 0.1
		switch x := r.Float64(); {
		case svc == orch && !decoy && x < 0.15 && len(task.procSpans) > 0:
			// One orchestration span carries the task's and its steps' transitions.
			s = task.procSpans[r.IntN(len(task.procSpans))]
		case svc == orch && !decoy && x < 0.4 && task.enqSpan != nil:
			// enqueue_ready_steps enqueues several steps of a task at once.
			s = task.enqSpan
		case svc == orch && decoy:
			// Another task's span, with its namespace: not to be borrowed (§4).
			name, attrs = "process_single_task_from_ready_info", map[string]any{"task_uuid": "ghost-task", "namespace": "ghostns",
				"correlation_id": "C-ghost"}
		case svc == orch && x < 0.7:
			name, attrs = "enqueue_ready_steps", map[string]any{"task_uuid": task.id}
			if task.ns != "" && !task.nsBareOnly && r.Float64() < 0.3 {
				attrs["namespace"] = task.ns
				w.nsLearned[task.id] = true
				delete(w.nsOnlyBare, task.id)
			}
			w.decoyPair(attrs, "pending", "enqueued")
		case svc == orch:
			name, attrs = "handle_step_result_with_metadata", map[string]any{"step_uuid": st.id, "correlation_id": task.corr}
			w.decoyPair(attrs, propEFO, "complete")
		case decoy:
			// Another step's (and task's) worker span: its handler, attempt and namespace are
			// not to be borrowed (§4).
			name, attrs = "worker.step_execution", map[string]any{"step_uuid": "ghost-step", "task_uuid": "ghost-task",
				"namespace": "ghostns", "step_name": "ghost_handler", "attempt_number": int64(7)}
		default:
			name, attrs = "worker.step_execution", map[string]any{"step_uuid": st.id, "task_uuid": task.id,
				"step_name": st.handler, "correlation_id": task.corr}
			if st.handlerClass != "" {
				attrs["handler_name"] = st.handlerClass
			}
			w.handlerLearned[st.id] = true
			if task.ns != "" && !task.nsBareOnly && r.Float64() < 0.8 {
				attrs["namespace"] = task.ns
				w.nsLearned[task.id] = true
				delete(w.nsOnlyBare, task.id)
			}
			if st.attemptMode == 2 && propNorm(g[0].to) == "in_progress" {
				attrs["attempt_number"] = g[0].claimOrdinal
				g[0].effAttempt = g[0].claimOrdinal
			}
			w.decoyPair(attrs, "enqueued", "in_progress")
		}
		if s == nil {
			s = w.newSpan(svc, name, task.trace, g[0].ms-1-r.Int64N(50), g[len(g)-1].ms+1+r.Int64N(50), attrs)
			if name == "enqueue_ready_steps" {
				task.enqSpan = s
			}
		} else {
			s.startMs = min(s.startMs, g[0].ms-1)
			s.endMs = max(s.endMs, g[len(g)-1].ms+1)
		}
		for _, tr := range g {
			ea := map[string]any{"event_name": "transition", "step_uuid": st.id, "task_uuid": task.id,
				"named_step_uuid": "n-" + st.id, "from_state": tr.from, "to_state": tr.to}
			if st.attemptMode == 1 {
				carrierAttempt(tr, ea)
			}
			s.events = append(s.events, propEvent{name: "Step state transition", ms: tr.ms, attrs: ea})
			w.stepLinked[st.id] = true
			w.resend(tr, task.trace)
		}
	}
}

// noise: carriers that §4 says are no transitions of any metric.
func (w *propWorkload) noise() {
	r := w.r
	for range r.IntN(4) {
		ms := r.Int64N(60000)
		t := w.tasks[r.IntN(len(w.tasks))]
		st := t.steps[0]
		switch r.IntN(6) {
		case 0: // unknown state
			w.newSpan(orch, "step.state_transition", 99, ms-3, ms, map[string]any{"step_uuid": "noise-step", "task_uuid": "noise-task",
				"from_state": "pending", "to_state": "exploded"})
		case 1: // a step transition with no step id
			w.newSpan(orch, "step.state_transition", 99, ms-3, ms, map[string]any{"from_state": "pending", "to_state": "enqueued"})
		case 2: // unclassified: no ids, no telling name, states both machines have
			w.newSpan(orch, "misc.work", 99, ms-3, ms, map[string]any{"from_state": "pending", "to_state": "complete"})
		case 3: // a zero timestamp: malformed
			s := w.newSpan(orch, "noise.zero", 99, ms-3, ms, map[string]any{})
			s.events = append(s.events, propEvent{name: "Step state transition", zero: true, attrs: map[string]any{
				"step_uuid": st.id, "task_uuid": t.id, "from_state": "pending", "to_state": "enqueued"}})
		case 4: // no from_state: no transition
			s := w.newSpan(orch, "noise.partial", 99, ms-3, ms, map[string]any{})
			s.events = append(s.events, propEvent{name: "Step state transition", ms: ms - 1, attrs: map[string]any{
				"step_uuid": st.id, "task_uuid": t.id, "to_state": "complete"}})
		case 5: // a from_state that is no string: no transition
			s := w.newSpan(orch, "noise.partial", 99, ms-3, ms, map[string]any{})
			s.events = append(s.events, propEvent{name: "Step state transition", ms: ms - 1, attrs: map[string]any{
				"step_uuid": st.id, "task_uuid": t.id, "from_state": int64(3), "to_state": "complete"}})
		}
	}
}

// batch splits the spans into batches, re-sends some spans in another batch, shuffles the
// batches and repeats one.
func (w *propWorkload) batch() {
	r := w.r
	n := 3 + r.IntN(6)
	bs := make([][]*propSpan, n)
	for _, s := range w.spans {
		i := r.IntN(n)
		bs[i] = append(bs[i], s)
		if r.Float64() < 0.06 { // an identical re-send, in another batch
			j := r.IntN(n)
			bs[j] = append(bs[j], s)
		}
	}
	r.Shuffle(len(bs), func(i, j int) { bs[i], bs[j] = bs[j], bs[i] })
	rep := r.IntN(n)
	pos := r.IntN(n + 1)
	bs = append(bs[:pos], append([][]*propSpan{bs[rep]}, bs[pos:]...)...)
	w.batches = bs
}

func propTraces(spans []*propSpan) ptrace.Traces {
	td := ptrace.NewTraces()
	res := map[string]ptrace.SpanSlice{}
	for _, s := range spans {
		k := s.svc + "/" + s.inst
		ss, ok := res[k]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", s.svc)
			rs.Resource().Attributes().PutStr("service.instance.id", s.inst)
			rs.Resource().Attributes().PutStr("host.name", "host-"+s.inst)
			ss = rs.ScopeSpans().AppendEmpty().Spans()
			res[k] = ss
		}
		sp := ss.AppendEmpty()
		sp.SetName(s.name)
		sp.SetTraceID(traceID(s.trace))
		sp.SetSpanID(pcommon.SpanID{s.trace, 0, byte(s.spanID >> 40), byte(s.spanID >> 32), byte(s.spanID >> 24),
			byte(s.spanID >> 16), byte(s.spanID >> 8), byte(s.spanID)})
		sp.SetStartTimestamp(at(s.startMs))
		sp.SetEndTimestamp(at(s.endMs))
		if err := sp.Attributes().FromRaw(s.attrs); err != nil {
			panic(err)
		}
		for _, e := range s.events {
			ev := sp.Events().AppendEmpty()
			ev.SetName(e.name)
			if !e.zero {
				ev.SetTimestamp(at(e.ms))
			}
			if err := ev.Attributes().FromRaw(e.attrs); err != nil {
				panic(err)
			}
		}
	}
	return td
}

// ---- the reference ------------------------------------------------------------------------

type propSeries struct {
	hist    bool
	value   int64
	count   uint64
	sum     float64
	buckets []uint64
	bounds  []float64 // a histogram's bounds
	contrib []string
	// gauge: an in_state count (value) or, with oldest, an oldest_in_state_since (since, unix
	// seconds).
	gauge, oldest bool
	since         float64
}

type propExpect map[string]*propSeries

func propKey(svc, metric string, attrs map[string]string) string {
	var parts []string
	for k, v := range attrs {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return svc + "|" + metric + "|" + strings.Join(parts, ",")
}

func (e propExpect) count(svc, metric string, attrs map[string]string, why string) {
	k := propKey(svc, metric, attrs)
	s := e[k]
	if s == nil {
		s = &propSeries{}
		e[k] = s
	}
	s.value++
	s.contrib = append(s.contrib, why)
}

func (e propExpect) observe(svc, metric string, attrs map[string]string, ms int64, why string) {
	e.observeIn(svc, metric, attrs, float64(ms)/1000, propBounds, fmt.Sprintf("%s = %.3fs", why, float64(ms)/1000))
}

func (e propExpect) observeIn(svc, metric string, attrs map[string]string, v float64, bounds []float64, why string) {
	k := propKey(svc, metric, attrs)
	s := e[k]
	if s == nil {
		s = &propSeries{hist: true, buckets: make([]uint64, len(bounds)+1), bounds: bounds}
		e[k] = s
	}
	s.count++
	s.sum += v
	i := sort.SearchFloat64s(bounds, v) // the first bound >= v: bounds are inclusive
	s.buckets[i]++
	s.contrib = append(s.contrib, why)
}

// nsOf is the namespace a task's metrics carry: its own once some span teaches it.
func (w *propWorkload) nsOf(task *propTask) string {
	if task.ns != "" && w.nsLearned[task.id] {
		return task.ns
	}
	return "unknown"
}

// stepNS is the namespace of a step's metrics: its task's, if some carrier of the step names
// the task.
func (w *propWorkload) stepNS(st *propStep) string {
	if !w.stepLinked[st.id] {
		return "unknown"
	}
	return w.nsOf(st.task)
}

// stepHandler is the handler of a step's metrics, once some span of the step names it.
func (w *propWorkload) stepHandler(st *propStep) string {
	if w.handlerLearned[st.id] {
		return st.expectHandler()
	}
	return "unknown"
}

func propReference(w *propWorkload) propExpect {
	e := propExpect{}
	nsOf := w.nsOf
	// common: the transition counters, the invalid counter, the times in states.
	common := func(kind, ns string, log []*propTr) {
		for i, tr := range log {
			from, to := propCanon(kind, tr.from), propCanon(kind, tr.to)
			attrs := map[string]string{"namespace": ns, "from_state": from, "to_state": to}
			if n := sim.EventName(kind, tr.from, tr.to); n != "" {
				attrs["event_name"] = n
			}
			e.count(tr.svc, "tasker."+kind+".state_transitions", attrs, tr.String())
			if !sim.Valid(kind, tr.from, tr.to) {
				e.count(tr.svc, "tasker.transitions.invalid", map[string]string{"entity": kind, "from_state": from, "to_state": to}, tr.String())
			}
			if i > 0 && propCanon(kind, log[i-1].to) == from {
				prev := log[i-1]
				e.observe(tr.svc, "tasker."+kind+".state_duration", map[string]string{"state": from, "namespace": ns},
					tr.ms-prev.ms, fmt.Sprintf("[%s] then [%s]", prev, tr))
			}
		}
	}
	for _, task := range w.tasks {
		ns := nsOf(task)
		log := propEmitted(task.trs)
		common("task", ns, log)
		// Completion: the earliest terminal transition, from the creation (else pending →
		// initializing).
		var term, start *propTr
		for _, tr := range log {
			if term == nil && propTaskTerminal[propCanon("task", tr.to)] {
				term = tr
			}
		}
		for _, tr := range log {
			if propNorm(tr.from) == "none" {
				start = tr
				break
			}
		}
		if start == nil {
			for _, tr := range log {
				if propNorm(tr.from) == "pending" && propNorm(tr.to) == "initializing" {
					start = tr
					break
				}
			}
		}
		if term != nil && start != nil && start.ms <= term.ms {
			e.observe(term.svc, "tasker.task.completion_duration", map[string]string{"namespace": ns, "outcome": propCanon("task", term.to)},
				term.ms-start.ms, fmt.Sprintf("[%s] to [%s]", start, term))
		}
		for _, st := range task.steps {
			log := propEmitted(st.trs)
			ns := w.stepNS(st)
			common("step", ns, log)
			handler := w.stepHandler(st)
			var open *propTr
			var openOrdinal, claims int64
			for _, tr := range log {
				to := propCanon("step", tr.to)
				if to == "in_progress" {
					claims++
					open, openOrdinal = tr, claims // a claim while one is open abandons it
					if tr.effAttempt > 0 {
						openOrdinal = tr.effAttempt
					}
					continue
				}
				if outcome, ok := propCloses(to); ok && open != nil {
					e.count(tr.svc, "tasker.step.attempts", map[string]string{"handler_name": handler, "namespace": ns,
						"outcome": outcome, "attempt_number": fmt.Sprint(openOrdinal)}, fmt.Sprintf("[%s] closed by [%s]", open, tr))
					open = nil
				}
			}
		}
	}
	propLiveReference(w, e)
	return e
}

// ---- the reference: live state and step outcomes (§7) -------------------------------------
//
// Readings of §7 where it leaves room (the simulator's ground truth, cmd/taskersim, reads it
// the same way):
//   - live: no transition into a terminal state of its machine anywhere in its log (a step's
//     error is not terminal); a step also stops being live once its task's log has a terminal
//     transition, if the step is linked to its task (some carrier of the step names it);
//   - its state: the to-state (canonical) of its latest transition; it entered it at the
//     earliest of the trailing run of transitions into that state in which all but the first
//     are moves from the state to itself; its series is on its latest transition's service;
//   - a step's outcome: at the earlier of its first transition into complete, cancelled or
//     resolved_manually (outcome that state) and its task's earliest terminal transition if
//     the step is then in error (its latest transition at or before it, a tie counting as
//     before; outcome error); completion_duration from its none→ transition (else its
//     earliest) to the deciding one (for error, that latest transition into error);
//     attempt_count: the claims up to the deciding transition, or the latest claim's attempt
//     attribute.
//
// What is compared (propCompare): the two histograms like the others (summed over the
// flushes in delta mode; attempt_count's buckets are fixed, also when the durations are
// exponential). An error outcome is compared summed over services: whether a gave-up fact
// belongs to the step's error transition's service or to its task's terminal one, §7 does not
// say. The gauges: the run ends with a shutdown, which settles everything and flushes, so the
// final flush shows the live state once every transition has settled: each live series of the
// reference with its value (not summed in delta mode: a gauge has no temporality), and no
// other series but stale points (flagged as having no recorded value) of series that were
// live at the earlier flush and are not any more.

var propCountBounds = []float64{0, 1, 2, 3, 4, 5, 10}

var propDecisive = map[string]bool{"complete": true, "cancelled": true, "resolved_manually": true}

// propSince is the unix time in seconds of ms after t0.
func propSince(ms int64) float64 { return float64(t0.Unix()) + float64(ms)/1000 }

// propCurrent: an entity's state, the transition that entered it, and whether it is live on
// its own (no terminal transition in its log).
func propCurrent(kind string, log []*propTr) (string, *propTr, bool) {
	terminal := propStepTerminal
	if kind == "task" {
		terminal = propTaskTerminal
	}
	if len(log) == 0 {
		return "", nil, false
	}
	for _, tr := range log {
		if terminal[propCanon(kind, tr.to)] {
			return "", nil, false
		}
	}
	state := propCanon(kind, log[len(log)-1].to)
	i := len(log) - 1
	for i > 0 && propCanon(kind, log[i].from) == state && propCanon(kind, log[i-1].to) == state {
		i--
	}
	return state, log[i], true
}

func (e propExpect) live(kind, ns, state string, last, entered *propTr, why string) {
	attrs := map[string]string{"namespace": ns, "state": state}
	k := propKey(last.svc, "tasker."+kind+".in_state", attrs)
	if e[k] == nil {
		e[k] = &propSeries{gauge: true}
	}
	e[k].value++
	e[k].contrib = append(e[k].contrib, why)
	k = propKey(last.svc, "tasker."+kind+".oldest_in_state_since", attrs)
	since := propSince(entered.ms)
	if s := e[k]; s == nil || since < s.since {
		e[k] = &propSeries{gauge: true, oldest: true, since: since, contrib: []string{why}}
	}
}

func propLiveReference(w *propWorkload, e propExpect) {
	for _, task := range w.tasks {
		tlog := propEmitted(task.trs)
		if state, entered, ok := propCurrent("task", tlog); ok {
			e.live("task", w.nsOf(task), state, tlog[len(tlog)-1], entered, fmt.Sprintf("%s in %s since [%s]", task.id, state, entered))
		}
		var end *propTr // the task's earliest terminal transition
		for _, tr := range tlog {
			if propTaskTerminal[propCanon("task", tr.to)] {
				end = tr
				break
			}
		}
		for _, st := range task.steps {
			log := propEmitted(st.trs)
			stepEnd := end
			if !w.stepLinked[st.id] {
				stepEnd = nil // its task is never known
			}
			if state, entered, ok := propCurrent("step", log); ok && stepEnd == nil {
				e.live("step", w.stepNS(st), state, log[len(log)-1], entered, fmt.Sprintf("%s in %s since [%s]", st.id, state, entered))
			}
			by, outcome := propDecide(log, stepEnd)
			if by == nil {
				continue
			}
			start := log[0]
			for _, tr := range log {
				if propNorm(tr.from) == "none" {
					start = tr
					break
				}
			}
			var claims, attempts int64
			for _, tr := range log {
				if propCanon("step", tr.to) == "in_progress" {
					claims++
					attempts = claims
					if tr.effAttempt > 0 {
						attempts = tr.effAttempt
					}
				}
				if tr == by {
					break
				}
			}
			attrs := map[string]string{"namespace": w.stepNS(st), "handler_name": w.stepHandler(st), "outcome": outcome}
			why := fmt.Sprintf("%s from [%s] to [%s]", st.id, start, by)
			if outcome == "error" {
				why += fmt.Sprintf(", in error when [%s]", stepEnd)
			}
			e.observe(by.svc, "tasker.step.completion_duration", attrs, by.ms-start.ms, why)
			e.observeIn(by.svc, "tasker.step.attempt_count", attrs, float64(attempts), propCountBounds,
				fmt.Sprintf("%s: %d attempts", why, attempts))
		}
	}
}

// propDecide: the transition of a step's log that decides its outcome, given its task's
// earliest terminal transition (nil: none known), and the outcome; nil if undecided.
func propDecide(log []*propTr, end *propTr) (*propTr, string) {
	var first *propTr
	for _, tr := range log {
		if propDecisive[propCanon("step", tr.to)] {
			first = tr
			break
		}
	}
	if end != nil && (first == nil || first.ms > end.ms) {
		var last *propTr // the step's latest transition at or before its task's end
		for _, tr := range log {
			if tr.ms <= end.ms {
				last = tr
			}
		}
		if last != nil && propCanon("step", last.to) == "error" {
			return last, "error"
		}
	}
	if first == nil {
		return nil, ""
	}
	return first, propCanon("step", first.to)
}

func (w *propWorkload) describe() string {
	var b strings.Builder
	for _, task := range w.tasks {
		fmt.Fprintf(&b, "task %s ns=%q learned=%v onlyBare=%v\n", task.id, task.ns, w.nsLearned[task.id], w.nsOnlyBare[task.id])
		for _, tr := range task.trs {
			fmt.Fprintf(&b, "    %s dropped=%v\n", tr, tr.dropped)
		}
		for _, st := range task.steps {
			fmt.Fprintf(&b, "  step %s handler=%s learned=%v attemptMode=%d offset=%d\n", st.id, st.handler,
				w.handlerLearned[st.id], st.attemptMode, st.attemptOffset)
			for _, tr := range st.trs {
				fmt.Fprintf(&b, "    %s dropped=%v claim=%d attemptAttr=%d\n", tr, tr.dropped, tr.claimOrdinal, tr.effAttempt)
			}
		}
	}
	return b.String()
}

// propMetrics are the metrics compared whose flushes add up in delta mode; propGauges those
// compared as the final flush shows them.
var propMetrics = map[string]bool{
	"tasker.task.state_transitions": true, "tasker.task.state_duration": true, "tasker.task.completion_duration": true,
	"tasker.step.state_transitions": true, "tasker.step.attempts": true, "tasker.step.state_duration": true,
	"tasker.transitions.invalid": true, "tasker.step.completion_duration": true, "tasker.step.attempt_count": true,
}

var propGauges = map[string]bool{
	"tasker.task.in_state": true, "tasker.step.in_state": true,
	"tasker.task.oldest_in_state_since": true, "tasker.step.oldest_in_state_since": true,
}

// propAnyService: an error outcome's series, with the service left out (see
// propLiveReference).
func propAnyService(k string) string {
	parts := strings.SplitN(k, "|", 3)
	if (parts[1] == "tasker.step.completion_duration" || parts[1] == "tasker.step.attempt_count") &&
		strings.Contains(parts[2], "outcome=error") {
		return "*|" + parts[1] + "|" + parts[2]
	}
	return k
}

// propMergeServices merges the series that propAnyService maps to one key.
func propMergeServices(want propExpect, got map[string]point) (propExpect, map[string]point) {
	w2 := propExpect{}
	for k, s := range want {
		k2 := propAnyService(k)
		if o, ok := w2[k2]; ok {
			c := *o
			c.count += s.count
			c.sum += s.sum
			c.buckets = append([]uint64(nil), o.buckets...)
			for i := range c.buckets {
				c.buckets[i] += s.buckets[i]
			}
			c.contrib = append(append([]string(nil), o.contrib...), s.contrib...)
			w2[k2] = &c
		} else {
			w2[k2] = s
		}
	}
	g2 := map[string]point{}
	for k, p := range got {
		k2 := propAnyService(k)
		if o, ok := g2[k2]; ok {
			o.count += p.count
			o.sum += p.sum
			o.buckets = append([]uint64(nil), o.buckets...)
			for i := range o.buckets {
				if i < len(p.buckets) {
					o.buckets[i] += p.buckets[i]
				}
			}
			g2[k2] = o
		} else {
			g2[k2] = p
		}
	}
	return w2, g2
}

// propCompare returns the differences between the reference and the connector's points.
func propCompare(want propExpect, got map[string]point, exponential bool) []string {
	want, got = propMergeServices(want, got)
	var diffs []string
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		metric := strings.Split(k, "|")[1]
		if !propMetrics[metric] && !propGauges[metric] {
			continue
		}
		ws, wok := want[k]
		gp, gok := got[k]
		why := ""
		if wok {
			why = "\n        from: " + strings.Join(ws.contrib, "\n              ")
		}
		switch {
		case !wok && gok && gp.kind == pmetric.MetricTypeGauge && gp.stale:
			// A series that was live at an earlier flush and is no longer: it ends.
		case !gok:
			diffs = append(diffs, fmt.Sprintf("MISSING %s: want %s%s", k, ws.show(), why))
		case !wok:
			diffs = append(diffs, fmt.Sprintf("EXTRA   %s: got %s", k, propShowPoint(gp)))
		case ws.gauge:
			ok := gp.kind == pmetric.MetricTypeGauge && !gp.stale
			if ws.oldest {
				ok = ok && gp.value == 0 && math.Abs(gp.gauge-ws.since) < 1e-6
			} else {
				ok = ok && gp.gauge == 0 && gp.value == ws.value
			}
			if !ok {
				diffs = append(diffs, fmt.Sprintf("DIFFER  %s: want %s, got %s%s", k, ws.show(), propShowPoint(gp), why))
			}
		case ws.hist:
			explicitOK := gp.kind == pmetric.MetricTypeHistogram && fmt.Sprint(gp.buckets) == fmt.Sprint(ws.buckets) &&
				fmt.Sprint(gp.bounds) == fmt.Sprint(ws.bounds)
			if exponential && fmt.Sprint(ws.bounds) == fmt.Sprint(propBounds) {
				explicitOK = gp.kind == pmetric.MetricTypeExponentialHistogram
			}
			if !explicitOK || gp.count != ws.count || math.Abs(gp.sum-ws.sum) > 1e-6*math.Max(1, ws.sum) {
				diffs = append(diffs, fmt.Sprintf("DIFFER  %s: want %s, got %s%s", k, ws.show(), propShowPoint(gp), why))
			}
		default:
			if gp.kind != pmetric.MetricTypeSum || gp.value != ws.value {
				diffs = append(diffs, fmt.Sprintf("DIFFER  %s: want %s, got %s%s", k, ws.show(), propShowPoint(gp), why))
			}
		}
	}
	return diffs
}

func (s *propSeries) show() string {
	switch {
	case s.oldest:
		return fmt.Sprintf("since=%.3f", s.since)
	case s.gauge:
		return fmt.Sprintf("n=%d", s.value)
	}
	if s.hist {
		return fmt.Sprintf("count=%d sum=%.3f buckets=%v", s.count, s.sum, s.buckets)
	}
	return fmt.Sprint(s.value)
}

func propShowPoint(p point) string {
	switch p.kind {
	case pmetric.MetricTypeSum:
		return fmt.Sprint(p.value)
	case pmetric.MetricTypeGauge:
		return fmt.Sprintf("n=%d since=%.3f stale=%v", p.value, p.gauge, p.stale)
	}
	return fmt.Sprintf("count=%d sum=%.3f buckets=%v", p.count, p.sum, p.buckets)
}

// propRun delivers a workload to a fresh connector and returns its account: the final flush
// (cumulative), or the sum of every flush's points (delta). The batches arrive within 30 s
// of each other (the settle window): a first group at once, a flush (15 s), the rest a
// second apart, and a flush after the first group has settled but the rest has not; then
// the shutdown settles the rest and flushes everything.
func propRun(t *testing.T, w *propWorkload) map[string]point {
	cfg := testConfig()
	raw := map[string]any{}
	if w.startTime {
		raw["transition_time"] = "start"
	}
	if w.delta {
		raw["aggregation_temporality"] = "delta"
	}
	if w.exponential {
		raw["histogram"] = map[string]any{"exponential": map[string]any{"max_size": 160}}
	}
	require.NoError(t, confmap.NewFromStringMap(raw).Unmarshal(cfg))
	var last int64 // the workload's latest telemetry time: the collector's clock starts after it
	for _, s := range w.spans {
		last = max(last, s.endMs)
		for _, e := range s.events {
			last = max(last, e.ms)
		}
	}
	h := newHarnessAt(t, cfg, t0.Add(time.Duration(last)*time.Millisecond+time.Second))
	first := 1 + len(w.batches)/3
	for _, b := range w.batches[:first] {
		h.consume(propTraces(b))
	}
	var flushes []pmetric.Metrics
	flushes = append(flushes, h.tick()) // 15 s: nothing has settled
	for _, b := range w.batches[first:] {
		h.consume(propTraces(b))
		h.clock.Advance(time.Second) // at most 11 batches: the last arrives before 27 s
	}
	flushes = append(flushes, h.tick()) // past 30 s: the first group has settled, the rest has not
	final := flatten(t, h.shutdown())
	if !w.delta {
		return final
	}
	total := map[string]point{}
	for k, p := range final {
		if propGauges[strings.Split(k, "|")[1]] {
			total[k] = p // a gauge has no temporality: the final flush's value
		}
	}
	all := []map[string]point{final}
	for _, md := range flushes {
		all = append(all, flatten(t, md))
	}
	for _, pts := range all {
		for k, p := range pts {
			if !propMetrics[strings.Split(k, "|")[1]] {
				continue // the reference covers these metrics only; gauges are not summed
			}
			require.Equal(t, pmetric.AggregationTemporalityDelta, p.temp, k)
			acc, ok := total[k]
			if !ok {
				acc = p
				acc.buckets = append([]uint64(nil), p.buckets...)
			} else {
				acc.value += p.value
				acc.count += p.count
				acc.sum += p.sum
				for i := range acc.buckets {
					acc.buckets[i] += p.buckets[i]
				}
			}
			total[k] = acc
		}
	}
	return total
}

// TestPropertyMetricsMatchReference: for many seeds, every series of the final flush equals
// the reference's account of the ground truth, whatever the arrival order.
func TestPropertyMetricsMatchReference(t *testing.T) {
	failed, stale := 0, 0
	for seed := uint64(1); seed <= propSeeds; seed++ {
		w := propGenerate(seed)
		want := propReference(w)
		got := propRun(t, w)
		for _, p := range got {
			if p.stale {
				stale++
			}
		}
		diffs := propCompare(want, got, w.exponential)
		if len(diffs) == 0 {
			continue
		}
		failed++
		if failed > 5 {
			t.Errorf("seed %d: %d differences (details only for the first 5 failing seeds)", seed, len(diffs))
			continue
		}
		if len(diffs) > 12 {
			diffs = append(diffs[:12], fmt.Sprintf("... and %d more", len(diffs)-12))
		}
		t.Errorf("seed %d: %d series differ from the reference:\n  %s\nworkload:\n%s", seed, len(diffs),
			strings.Join(diffs, "\n  "), w.describe())
	}
	// Series live at the flush before the shutdown and no longer at it end with a stale point.
	assert.Positive(t, stale, "no gauge series ended in any run")
	t.Logf("stale gauge points in the final flushes: %d", stale)
}

// TestPropertyGeneratorCoverage keeps the generator honest: across the seeds it produces every
// feature the property is meant to cover.
func TestPropertyGeneratorCoverage(t *testing.T) {
	seen := map[string]int{}
	for seed := uint64(1); seed <= propSeeds; seed++ {
		w := propGenerate(seed)
		want := propReference(w)
		for k, s := range want {
			metric := strings.Split(k, "|")[1]
			seen[metric]++
			if metric == "tasker.step.attempts" && strings.Contains(k, "handler_name=unknown") {
				seen["attempt with unknown handler"]++
			}
			if strings.Contains(k, "namespace=unknown") {
				seen["unknown namespace"]++
			}
			if metric == "tasker.step.attempts" && !strings.Contains(k, "attempt_number=1,") {
				seen["attempt_number > 1"]++
			}
			if !s.hist && strings.Contains(k, "state_transitions") && !strings.Contains(k, "event_name=") {
				seen["no event name"]++
			}
			if strings.Contains(k, "event_name=task.started") {
				seen["legacy in_progress"]++
			}
			if s.gauge && !s.oldest && s.value > 1 {
				seen["a gauge series with several live entities"]++
			}
			if s.gauge && strings.HasPrefix(k, worker+"|") {
				seen["a live step on the worker's resource"]++
			}
			if metric == "tasker.step.in_state" && strings.HasSuffix(k, "state=error") {
				seen["a live step in error"]++
			}
			if metric == "tasker.step.attempt_count" {
				for i, n := range s.buckets {
					if n > 0 && i < len(propCountBounds) {
						seen[fmt.Sprintf("attempt_count %g", propCountBounds[i])]++
					}
				}
				for _, o := range []string{"complete", "cancelled", "resolved_manually", "error"} {
					if strings.Contains(k, "outcome="+o) {
						seen["outcome "+o]++
					}
				}
			}
		}
		for name, on := range map[string]bool{"transition_time start": w.startTime, "delta": w.delta, "exponential": w.exponential} {
			if on {
				seen[name]++
			}
		}
		for _, task := range w.tasks {
			if w.nsOnlyBare[task.id] {
				seen["namespace only on a bare span"]++
			}
			if log := propEmitted(task.trs); len(log) == 0 {
				seen["task without task transitions"]++
			} else if propNorm(log[0].from) != "none" {
				seen["task log without its creation"]++
			}
			for _, tr := range task.trs {
				if tr.dropped {
					seen["dropped task transition"]++
				}
			}
			tlog := propEmitted(task.trs)
			var end *propTr
			for i, tr := range tlog {
				if propTaskTerminal[propCanon("task", tr.to)] && end == nil {
					end = tr
				}
				if end != nil && tr.ms > end.ms && !propTaskTerminal[propCanon("task", tr.to)] {
					seen["a move out of a terminal task state"]++
				}
				if i > 0 && propCanon("task", tr.from) == propCanon("task", tr.to) && propCanon("task", tlog[i-1].to) == propCanon("task", tr.to) {
					seen["a task's move to itself"]++
				}
			}
			for _, st := range task.steps {
				if !w.stepLinked[st.id] {
					seen["step never linked to its task"]++
				}
				slog := propEmitted(st.trs)
				if _, _, live := propCurrent("step", slog); live && end != nil && w.stepLinked[st.id] {
					seen["a step not live only because its task ended"]++
				}
				if by, outcome := propDecide(slog, end); by != nil && outcome == "error" && w.stepLinked[st.id] {
					seen["a step that gave up"]++
					if by.ms == end.ms {
						seen["gave up at the time of its task's end"]++
					}
				}
				for _, tr := range slog {
					if end != nil && tr.ms > end.ms {
						seen["a step transition after its task ended"]++
						break
					}
				}
				if len(slog) > 0 && propNorm(slog[0].from) != "none" {
					seen["a step log without its creation"]++
				}
				if st.handlerClass != "" && w.handlerLearned[st.id] {
					seen["handler_name over step_name"]++
				}
				open := false
				for _, tr := range propEmitted(st.trs) {
					if propNorm(tr.to) == "in_progress" {
						if open {
							seen["abandoned attempt"]++
						}
						open = true
					} else if _, ok := propCloses(propNorm(tr.to)); ok {
						open = false
					}
				}
				for _, tr := range st.trs {
					if tr.dropped {
						seen["dropped step transition"]++
					}
					if tr.effAttempt > 0 && tr.effAttempt != tr.claimOrdinal {
						seen["attempt attribute differs from claim count"]++
					}
				}
			}
		}
	}
	for _, f := range []string{"tasker.task.state_transitions", "tasker.task.state_duration", "tasker.task.completion_duration",
		"tasker.step.state_transitions", "tasker.step.attempts", "tasker.step.state_duration", "tasker.transitions.invalid",
		"attempt with unknown handler", "unknown namespace", "attempt_number > 1", "no event name", "legacy in_progress",
		"namespace only on a bare span", "dropped task transition", "dropped step transition",
		"attempt attribute differs from claim count", "transition_time start", "delta", "exponential",
		"task without task transitions", "task log without its creation", "step never linked to its task",
		"handler_name over step_name", "abandoned attempt",
		"tasker.task.in_state", "tasker.step.in_state", "tasker.task.oldest_in_state_since", "tasker.step.oldest_in_state_since",
		"tasker.step.completion_duration", "tasker.step.attempt_count", "a gauge series with several live entities",
		"a live step on the worker's resource", "a live step in error", "attempt_count 0", "attempt_count 1", "attempt_count 2",
		"attempt_count 3", "outcome complete", "outcome cancelled", "outcome resolved_manually", "outcome error",
		"a move out of a terminal task state", "a task's move to itself", "a step not live only because its task ended",
		"a step that gave up", "a step transition after its task ended", "a step log without its creation"} {
		assert.Positive(t, seen[f], "the generator never produced: %s", f)
	}
	t.Logf("coverage: %v", seen)
	require.NotEmpty(t, seen)
}
