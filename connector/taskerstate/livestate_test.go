package taskerstate

// Golden tests of §7's "Live state" and "Step outcomes across retries": the four gauges
// (tasker.{task,step}.in_state, tasker.{task,step}.oldest_in_state_since) and the two step
// histograms (tasker.step.completion_duration, tasker.step.attempt_count), with values
// worked out by hand from the contract's text.
//
// Readings of the contract used where its text leaves room (the simulator's ground truth
// reads it the same way):
//   - live: no transition into a terminal state of its machine anywhere in its log (a step's
//     error is not terminal); a step also stops being live once its task's log has a
//     terminal transition, whatever the times of the step's own transitions;
//   - current state: the to-state of its latest transition (a task's legacy in_progress read
//     as steps_in_process); it entered that state at the earliest transition of the trailing
//     run of transitions into it in which all but the first are moves from the state to
//     itself (X→S, S→S: since X→S; X→S, Y→S: since Y→S);
//   - a live entity belongs to the resource (service.name) of its latest transition;
//   - a step's outcome is decided at the earlier of its first transition into complete,
//     cancelled or resolved_manually (outcome: that state) and its task's earliest terminal
//     transition if the step is then in error (outcome error; a step transition at the same
//     time as the task's end counts as before it); completion_duration runs from the step's
//     none→ transition (else its earliest) to the deciding transition (for error: the step's
//     latest transition into error); attempt_count is the number of claims (transitions into
//     in_progress) up to the deciding transition, or the latest claim's attempt_number.
//
// Where the contract is silent on the resource of a gave-up outcome (the step's error
// transition, or the task's terminal one), the fixture has both on tasker-orchestration.

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/metadatatest"
)

// t0Unix is t0 (2026-03-01 12:00:00 UTC) in unix seconds, by hand: 2026-01-01 00:00 UTC is
// 1767225600; January and February 2026 are 31 + 28 = 59 days; then 12 hours.
const t0Unix = 1767225600 + 59*86400 + 12*3600 // 1772366400

// since is the unix time in seconds of the telemetry time ms after t0.
func since(ms int64) float64 { return float64(t0Unix) + float64(ms)/1000 }

func TestT0Unix(t *testing.T) { require.Equal(t, int64(t0Unix), t0.Unix()) }

// lsTr is one transition of the fixture: ms after t0; attempt, when set, is the claim's
// attempt_number attribute (on the carrier).
type lsTr struct {
	from, to string
	ms       int64
	attempt  int64
}

// inProcess is a task's creation and its way into steps_in_process (0, 100, 200, 300 ms),
// followed by more.
func inProcess(more ...lsTr) []lsTr {
	return append([]lsTr{{"none", "pending", 0, 0}, {"pending", "initializing", 100, 0},
		{"initializing", "enqueuing_steps", 200, 0}, {"enqueuing_steps", "steps_in_process", 300, 0}}, more...)
}

// taskSpans: a task's transitions as transition spans (shape 1), each with its namespace.
func (b *traceBuilder) taskSpans(spans ptrace.SpanSlice, trace byte, task, ns string, trs ...lsTr) {
	for _, x := range trs {
		b.taskSpan(spans, trace, task, ns, "C-"+task, x.from, x.to, x.ms)
	}
}

// taskEvents: a task's transitions as "Task state transition" events (shape 2) in one
// process_single_task_from_ready_info span that carries the task's namespace.
func (b *traceBuilder) taskEvents(spans ptrace.SpanSlice, trace byte, task, ns string, trs ...lsTr) {
	sp := b.span(spans, "process_single_task_from_ready_info", trace, trs[0].ms-5, trs[len(trs)-1].ms+5,
		map[string]any{"task_uuid": task, "namespace": ns, "correlation_id": "C-" + task})
	for _, x := range trs {
		event(sp, "Task state transition", x.ms, map[string]any{"event_name": "x", "task_uuid": task,
			"correlation_id": "C-" + task, "from_state": x.from, "to_state": x.to})
	}
}

// stepEvents: "Step state transition" events in span.
func stepEvents(span ptrace.Span, step, task string, trs ...lsTr) {
	for _, x := range trs {
		var extra map[string]any
		if x.attempt > 0 {
			extra = map[string]any{"attempt_number": x.attempt}
		}
		stepEvent(span, step, task, x.from, x.to, x.ms, extra)
	}
}

// orchSpan: an orchestration span that carries the task id only (no namespace: the steps'
// namespace is learned from their task).
func (b *traceBuilder) orchSpan(spans ptrace.SpanSlice, trace byte, task string) ptrace.Span {
	return b.span(spans, "enqueue_ready_steps", trace, 0, 60000, map[string]any{"task_uuid": task})
}

// workerSpan: a worker.step_execution span of one claim, with the namespace and step_name.
func (b *traceBuilder) workerSpan(spans ptrace.SpanSlice, trace byte, task, ns, step, handler string) ptrace.Span {
	return b.span(spans, "worker.step_execution", trace, 0, 60000, map[string]any{"step_uuid": step, "task_uuid": task,
		"namespace": ns, "step_name": handler, "correlation_id": "C-" + task})
}

// stepSpans: a step's transitions as step.state_transition spans (shape 1).
func (b *traceBuilder) stepSpans(spans ptrace.SpanSlice, trace byte, task, step string, extra map[string]any, trs ...lsTr) {
	for _, x := range trs {
		attrs := map[string]any{"step_uuid": step, "task_uuid": task, "from_state": x.from, "to_state": x.to}
		for k, v := range extra {
			attrs[k] = v
		}
		b.span(spans, "step.state_transition", trace, x.ms-5, x.ms, attrs)
	}
}

const (
	efo   = "enqueued_for_orchestration"
	eaefo = "enqueued_as_error_for_orchestration"
)

// The fixture (ms after t0; o = tasker-orchestration, w = tasker-worker).
//
// Tasks, all from o; namespace on their own carriers (spans) or on the enclosing span (events).
//
//	payments, live in every non-terminal task state:
//	  TP  spans   none→pending 1000                                   pending since 1000
//	  TI  events  none→pending 0, pending→initializing 2000            initializing since 2000
//	  TE  spans   …, initializing→enqueuing_steps 3000                 enqueuing_steps since 3000
//	  TL  spans   none→pending 0, pending→in_progress 1500 (legacy)    steps_in_process since 1500
//	  TS  events  …, enqueuing_steps→steps_in_process 4000             steps_in_process since 4000
//	  TR  spans   inProcess, steps_in_process→evaluating_results 5000  evaluating_results since 5000
//	  TD  events  …, initializing→waiting_for_dependencies 2500        waiting_for_dependencies since 2500
//	  TW  spans   inProcess, steps_in_process→waiting_for_retry 6000, then (its way back,
//	              waiting_for_retry→enqueuing_steps→steps_in_process, lost) steps_in_process→
//	              waiting_for_retry 8500: into the state again, not from it  waiting_for_retry since 8500
//	  TB  events  inProcess, →blocked_by_failures 7000, blocked_by_failures→blocked_by_failures
//	              9000 (a staleness sweep re-marks it: a self-move)    blocked_by_failures since 7000
//	  TC  spans   inProcess, →evaluating_results 2800, →complete 3000; complete→pending 9000
//	              (invalid, in a batch of its own): not live
//	reports:
//	  TQ  events  none→pending 1200                                    pending since 1200
//	  TX  events  inProcess, steps_in_process→cancelled 8000 (a cancelled task with pending steps)
//	  TF  spans   inProcess, →blocked_by_failures 20000, blocked_by_failures→error 21000
//
// Steps of TS (payments learned from TS: no carrier of theirs, and no orchestration span,
// has a namespace; worker spans have it and step_name charge_card). Each is created
// none→pending 4100 and, but s-pend, pending→enqueued 4200 (o), except s-enq2 (4150):
//
//	s-pend                                                       pending since 4100 (o)
//	s-enq                                                        enqueued since 4200 (o)
//	s-enq2  enqueued→in_progress 4300 (w), in_progress→waiting_for_retry 4800 (w),
//	        waiting_for_retry→pending 6000 (o), pending→enqueued 6100 (o)
//	                                                             enqueued since 6100 (o): entering again restarts
//	s-run   enqueued→in_progress 4400 (w)                        in_progress since 4400 (w)
//	s-efo   claim 4300 (w), in_progress→efo 5000 (w)             efo since 5000 (w)
//	s-eaefo claim 4300 (w), in_progress→eaefo 5100 (w), eaefo→eaefo 7000 (o, an invalid
//	        self-move)                                           eaefo since 5100, on o (its latest)
//	s-wfr   claim 4300 (w), →eaefo 5100 (w), eaefo→waiting_for_retry 5200 (o)
//	                                                             waiting_for_retry since 5200 (o)
//	s-err   claim 4300 (w), →eaefo 5100 (w), eaefo→error 5300 (o) error since 5300 (o): error is not terminal
//	s-done  claim 4300 (w), →efo 5400 (w), efo→complete 5500 (o), complete→pending 6500 (o,
//	        invalid): not live; outcome complete at 5500
//
// Steps of TX (reports): x1 none→pending 250; x2 none→pending 260, pending→enqueued 400;
// x3 none→pending 270, pending→cancelled 8001 (all o); x4, whose creation never arrives:
// pending→enqueued 500 (o), enqueued→in_progress 600 (w, step_name render_pdf),
// in_progress→efo 700 (w), efo→complete 900 (o). Step of TC: c1 none→pending 250 (o).
//
// Steps of TF (reports), as events (g1, g3: worker spans with step_name render_pdf) or as
// step.state_transition spans (g4, g5: the worker's with handler_name send_mail):
//
//	g1  none→pending 350 (o), pending→enqueued 400 (o), enqueued→in_progress 500 (w),
//	    in_progress→eaefo 1500 (w), eaefo→waiting_for_retry 1600 (o), waiting_for_retry→pending
//	    3600 (o), pending→enqueued 3700 (o), enqueued→in_progress 3800 (w, attempt_number 4),
//	    in_progress→eaefo 4800 (w), eaefo→error 4900 (o); after TF ended, an operator's
//	    error→pending 30000 (o)
//	g3  none→pending 360 (o), pending→in_progress 600 (w), in_progress→eaefo 4000 (w),
//	    eaefo→error 5000 (o); after TF ended, error→complete 25000 (o, a manual completion)
//	g4  none→pending 370 (o), pending→enqueued 380 (o), enqueued→in_progress 700 (w),
//	    in_progress→eaefo 20500 (w), eaefo→error 21000 (o): the same time as TF's end
//	g5  none→pending 390 (o), pending→in_progress 800 (w), in_progress→eaefo 9000 (w),
//	    eaefo→error 10000 (o), error→complete 21000 (o): the same time as TF's end
func liveBatches() []ptrace.Traces {
	var out []ptrace.Traces
	add := func(build func(b *traceBuilder)) {
		b := newTraces()
		build(b)
		out = append(out, b.td)
	}
	created := lsTr{"none", "pending", 0, 0}
	// A: task transition spans.
	add(func(b *traceBuilder) {
		s := b.resource(orch, "orch-1")
		b.taskSpans(s, 1, "TP", "payments", lsTr{"none", "pending", 1000, 0})
		b.taskSpans(s, 3, "TE", "payments", created, lsTr{"pending", "initializing", 500, 0}, lsTr{"initializing", "enqueuing_steps", 3000, 0})
		b.taskSpans(s, 4, "TL", "payments", created, lsTr{"pending", "in_progress", 1500, 0})
		b.taskSpans(s, 6, "TR", "payments", inProcess(lsTr{"steps_in_process", "evaluating_results", 5000, 0})...)
		b.taskSpans(s, 8, "TW", "payments", inProcess(lsTr{"steps_in_process", "waiting_for_retry", 6000, 0},
			lsTr{"steps_in_process", "waiting_for_retry", 8500, 0})...)
		b.taskSpans(s, 10, "TC", "payments", inProcess(lsTr{"steps_in_process", "evaluating_results", 2800, 0},
			lsTr{"evaluating_results", "complete", 3000, 0})...)
		b.taskSpans(s, 13, "TF", "reports", inProcess(lsTr{"steps_in_process", "blocked_by_failures", 20000, 0},
			lsTr{"blocked_by_failures", "error", 21000, 0})...)
	})
	// B: task transition events, payments.
	add(func(b *traceBuilder) {
		s := b.resource(orch, "orch-2")
		b.taskEvents(s, 2, "TI", "payments", created, lsTr{"pending", "initializing", 2000, 0})
		b.taskEvents(s, 5, "TS", "payments", created, lsTr{"pending", "initializing", 100, 0},
			lsTr{"initializing", "enqueuing_steps", 200, 0}, lsTr{"enqueuing_steps", "steps_in_process", 4000, 0})
		b.taskEvents(s, 7, "TD", "payments", created, lsTr{"pending", "initializing", 100, 0},
			lsTr{"initializing", "waiting_for_dependencies", 2500, 0})
		b.taskEvents(s, 9, "TB", "payments", inProcess(lsTr{"steps_in_process", "blocked_by_failures", 7000, 0},
			lsTr{"blocked_by_failures", "blocked_by_failures", 9000, 0})...)
	})
	// C: task transition events, reports.
	add(func(b *traceBuilder) {
		s := b.resource(orch, "orch-1")
		b.taskEvents(s, 11, "TX", "reports", inProcess(lsTr{"steps_in_process", "cancelled", 8000, 0})...)
		b.taskEvents(s, 12, "TQ", "reports", lsTr{"none", "pending", 1200, 0})
	})
	// D: TC's invalid move out of complete, alone (a shuffle may deliver it first).
	add(func(b *traceBuilder) {
		b.taskSpans(b.resource(orch, "orch-2"), 10, "TC", "payments", lsTr{"complete", "pending", 9000, 0})
	})
	enq := lsTr{"pending", "enqueued", 4200, 0}
	claim := lsTr{"enqueued", "in_progress", 4300, 0}
	// E: the orchestration creates and enqueues TS's steps.
	add(func(b *traceBuilder) {
		sp := b.orchSpan(b.resource(orch, "orch-1"), 5, "TS")
		c := lsTr{"none", "pending", 4100, 0}
		stepEvents(sp, "s-pend", "TS", c)
		stepEvents(sp, "s-enq2", "TS", c, lsTr{"pending", "enqueued", 4150, 0})
		for _, st := range []string{"s-enq", "s-run", "s-efo", "s-eaefo", "s-wfr", "s-err", "s-done"} {
			stepEvents(sp, st, "TS", c, enq)
		}
	})
	// F: the workers claim TS's steps and report results.
	add(func(b *traceBuilder) {
		s := b.resource(worker, "worker-1")
		ws := func(step string, trs ...lsTr) {
			stepEvents(b.workerSpan(s, 5, "TS", "payments", step, "charge_card"), step, "TS", trs...)
		}
		ws("s-enq2", claim, lsTr{"in_progress", "waiting_for_retry", 4800, 0})
		ws("s-run", lsTr{"enqueued", "in_progress", 4400, 0})
		ws("s-efo", claim, lsTr{"in_progress", efo, 5000, 0})
		ws("s-eaefo", claim, lsTr{"in_progress", eaefo, 5100, 0})
		ws("s-wfr", claim, lsTr{"in_progress", eaefo, 5100, 0})
		ws("s-err", claim, lsTr{"in_progress", eaefo, 5100, 0})
		ws("s-done", claim, lsTr{"in_progress", efo, 5400, 0})
	})
	// G: the orchestration handles TS's steps' results.
	add(func(b *traceBuilder) {
		s := b.resource(orch, "orch-2")
		rs := func(step string, trs ...lsTr) {
			sp := b.span(s, "handle_step_result_with_metadata", 5, 0, 60000, map[string]any{"step_uuid": step, "correlation_id": "C-TS"})
			stepEvents(sp, step, "TS", trs...)
		}
		rs("s-enq2", lsTr{"waiting_for_retry", "pending", 6000, 0}, lsTr{"pending", "enqueued", 6100, 0})
		rs("s-wfr", lsTr{eaefo, "waiting_for_retry", 5200, 0})
		rs("s-err", lsTr{eaefo, "error", 5300, 0})
		rs("s-done", lsTr{efo, "complete", 5500, 0}, lsTr{"complete", "pending", 6500, 0})
		rs("s-eaefo", lsTr{eaefo, eaefo, 7000, 0})
	})
	// H: the steps of TX and TC.
	add(func(b *traceBuilder) {
		s := b.resource(orch, "orch-1")
		sp := b.orchSpan(s, 11, "TX")
		stepEvents(sp, "x1", "TX", lsTr{"none", "pending", 250, 0})
		stepEvents(sp, "x2", "TX", lsTr{"none", "pending", 260, 0}, lsTr{"pending", "enqueued", 400, 0})
		stepEvents(sp, "x3", "TX", lsTr{"none", "pending", 270, 0}, lsTr{"pending", "cancelled", 8001, 0})
		stepEvents(sp, "x4", "TX", lsTr{"pending", "enqueued", 500, 0}, lsTr{efo, "complete", 900, 0})
		stepEvents(b.orchSpan(s, 10, "TC"), "c1", "TC", lsTr{"none", "pending", 250, 0})
	})
	// I: the orchestration's transitions of g1 and g3.
	add(func(b *traceBuilder) {
		sp := b.orchSpan(b.resource(orch, "orch-2"), 13, "TF")
		stepEvents(sp, "g1", "TF", lsTr{"none", "pending", 350, 0}, lsTr{"pending", "enqueued", 400, 0},
			lsTr{eaefo, "waiting_for_retry", 1600, 0}, lsTr{"waiting_for_retry", "pending", 3600, 0},
			lsTr{"pending", "enqueued", 3700, 0}, lsTr{eaefo, "error", 4900, 0}, lsTr{"error", "pending", 30000, 0})
		stepEvents(sp, "g3", "TF", lsTr{"none", "pending", 360, 0}, lsTr{eaefo, "error", 5000, 0},
			lsTr{"error", "complete", 25000, 0})
	})
	// J: the workers' transitions of g1 (two claims) and g3.
	add(func(b *traceBuilder) {
		s := b.resource(worker, "worker-2")
		stepEvents(b.workerSpan(s, 13, "TF", "reports", "g1", "render_pdf"), "g1", "TF",
			lsTr{"enqueued", "in_progress", 500, 0}, lsTr{"in_progress", eaefo, 1500, 0})
		stepEvents(b.workerSpan(s, 13, "TF", "reports", "g1", "render_pdf"), "g1", "TF",
			lsTr{"enqueued", "in_progress", 3800, 4}, lsTr{"in_progress", eaefo, 4800, 0})
		stepEvents(b.workerSpan(s, 13, "TF", "reports", "g3", "render_pdf"), "g3", "TF",
			lsTr{"pending", "in_progress", 600, 0}, lsTr{"in_progress", eaefo, 4000, 0})
		stepEvents(b.workerSpan(s, 11, "TX", "reports", "x4", "render_pdf"), "x4", "TX",
			lsTr{"enqueued", "in_progress", 600, 0}, lsTr{"in_progress", efo, 700, 0})
	})
	// K: the orchestration's step.state_transition spans of g4 and g5.
	add(func(b *traceBuilder) {
		s := b.resource(orch, "orch-1")
		b.stepSpans(s, 13, "TF", "g4", nil, lsTr{"none", "pending", 370, 0}, lsTr{"pending", "enqueued", 380, 0},
			lsTr{eaefo, "error", 21000, 0})
		b.stepSpans(s, 13, "TF", "g5", nil, lsTr{"none", "pending", 390, 0}, lsTr{eaefo, "error", 10000, 0},
			lsTr{"error", "complete", 21000, 0})
	})
	// L: the worker's step.state_transition spans of g4 and g5, with handler_name.
	add(func(b *traceBuilder) {
		s := b.resource(worker, "worker-1")
		h := map[string]any{"handler_name": "send_mail"}
		b.stepSpans(s, 13, "TF", "g4", h, lsTr{"enqueued", "in_progress", 700, 0}, lsTr{"in_progress", eaefo, 20500, 0})
		b.stepSpans(s, 13, "TF", "g5", h, lsTr{"pending", "in_progress", 800, 0}, lsTr{"in_progress", eaefo, 9000, 0})
	})
	return out
}

// liveMore: TB resolved (40000), TL on to evaluating_results (41000), s-pend enqueued (42000).
func liveMore() ptrace.Traces {
	b := newTraces()
	s := b.resource(orch, "orch-1")
	b.taskEvents(s, 9, "TB", "payments", lsTr{"blocked_by_failures", "resolved_manually", 40000, 0})
	b.taskSpans(s, 4, "TL", "payments", lsTr{"steps_in_process", "evaluating_results", 41000, 0})
	stepEvents(b.orchSpan(s, 5, "TS"), "s-pend", "TS", lsTr{"pending", "enqueued", 42000, 0})
	return b.td
}

// liveEnd: every task still live is cancelled (TS at 50000, the others 50010…50080).
func liveEnd() ptrace.Traces {
	b := newTraces()
	s := b.resource(orch, "orch-2")
	for i, x := range []struct {
		task  string
		trace byte
		from  string
	}{{"TS", 5, "steps_in_process"}, {"TP", 1, "pending"}, {"TI", 2, "initializing"}, {"TE", 3, "enqueuing_steps"},
		{"TL", 4, "evaluating_results"}, {"TR", 6, "evaluating_results"}, {"TD", 7, "waiting_for_dependencies"},
		{"TW", 8, "waiting_for_retry"}, {"TQ", 12, "pending"}} {
		ns := "payments"
		if x.task == "TQ" {
			ns = "reports"
		}
		b.taskSpans(s, x.trace, x.task, ns, lsTr{x.from, "cancelled", 50000 + int64(i)*10, 0})
	}
	return b.td
}

// The view of the six metrics compared: a gauge series shows n=<count> (in_state) or
// since=<unix seconds, to the ms> (oldest_in_state_since), or "stale" when its point is
// flagged as having no recorded value; a histogram its count, sum and buckets.
var liveMetrics = map[string]bool{
	"tasker.task.in_state": true, "tasker.step.in_state": true,
	"tasker.task.oldest_in_state_since": true, "tasker.step.oldest_in_state_since": true,
	"tasker.step.completion_duration": true, "tasker.step.attempt_count": true,
}

func liveView(t *testing.T, md pmetric.Metrics) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, p := range flatten(t, md) {
		metric := strings.Split(k, "|")[1]
		if !liveMetrics[metric] {
			continue
		}
		switch {
		case p.kind == pmetric.MetricTypeGauge && p.stale:
			out[k] = "stale"
		case strings.HasSuffix(metric, ".in_state"):
			require.Zero(t, p.gauge, "%s: an int gauge", k)
			out[k] = fmt.Sprintf("n=%d", p.value)
		case strings.HasSuffix(metric, ".oldest_in_state_since"):
			out[k] = fmt.Sprintf("since=%.3f", p.gauge)
		default:
			require.Equal(t, pmetric.MetricTypeHistogram, p.kind, k)
			out[k] = histView(p.count, p.sum, p.buckets)
		}
	}
	return out
}

// assertView compares a view with the expected one and lists only the series that differ.
func assertView(t *testing.T, want liveExpect, got map[string]string, msg string) bool {
	t.Helper()
	var diffs []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("MISSING %s: want %s", k, w))
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("DIFFER  %s: want %s, got %s", k, w, g))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("EXTRA   %s: got %s", k, g))
		}
	}
	sort.Strings(diffs)
	return assert.Empty(t, diffs, "%s: %d series differ:\n%s", msg, len(diffs), strings.Join(diffs, "\n"))
}

func histView(count uint64, sum float64, buckets []uint64) string {
	return fmt.Sprintf("count=%d sum=%.6f buckets=%v", count, sum, buckets)
}

// countBuckets are attempt_count's buckets (bounds 0, 1, 2, 3, 4, 5, 10, +Inf) with one count
// at each index given.
func countBuckets(idx ...int) []uint64 {
	b := make([]uint64, len(attemptBounds)+1)
	for _, i := range idx {
		b[i]++
	}
	return b
}

type liveExpect map[string]string

func (e liveExpect) live(svc, kind, ns, state string, n int, sinceMs int64) {
	attrs := "namespace=" + ns + ",state=" + state
	e[svc+"|tasker."+kind+".in_state|"+attrs] = fmt.Sprintf("n=%d", n)
	e[svc+"|tasker."+kind+".oldest_in_state_since|"+attrs] = fmt.Sprintf("since=%.3f", since(sinceMs))
}

func (e liveExpect) stale(svc, kind, ns, state string) {
	attrs := "namespace=" + ns + ",state=" + state
	e[svc+"|tasker."+kind+".in_state|"+attrs] = "stale"
	e[svc+"|tasker."+kind+".oldest_in_state_since|"+attrs] = "stale"
}

func (e liveExpect) outcome(ns, handler, outcome string, durCount uint64, durSum float64, durBuckets []uint64,
	attemptSum float64, attemptBuckets []uint64) {
	attrs := "handler_name=" + handler + ",namespace=" + ns + ",outcome=" + outcome
	e[orch+"|tasker.step.completion_duration|"+attrs] = histView(durCount, durSum, durBuckets)
	e[orch+"|tasker.step.attempt_count|"+attrs] = histView(durCount, attemptSum, attemptBuckets)
}

func (e liveExpect) clone() liveExpect {
	c := liveExpect{}
	for k, v := range e {
		c[k] = v
	}
	return c
}

// liveOutcomes: the step outcomes of the fixture. Buckets of completion_duration as in
// buckets() (default bounds; a value counts in the first bound >= it).
func liveOutcomes() liveExpect {
	e := liveExpect{}
	// s-done: first into complete at 5500, from its creation at 4100: 1.4 s (bound 2.5, idx
	// 8); one claim (4300): attempt bucket 1. On the orchestration (the complete's resource).
	e.outcome("payments", "charge_card", "complete", 1, 1.4, buckets(8), 1, countBuckets(1))
	// x3: pending→cancelled at 8001, from 270: 7.731 s (bound 10, idx 10); never claimed: 0
	// attempts (bucket 0). No span of x3 names a handler: unknown. x1 and x2 were pending
	// and enqueued when TX was cancelled: no outcome.
	e.outcome("reports", "unknown", "cancelled", 1, 7.731, buckets(10), 0, countBuckets(0))
	// x4: its log starts at pending→enqueued (500): from there to its complete at 900 is
	// 0.4 s (bound 0.5, idx 6); one claim (600).
	e.outcome("reports", "render_pdf", "complete", 1, 0.4, buckets(6), 1, countBuckets(1))
	// TF's earliest terminal transition is blocked_by_failures→error at 21000.
	// g1: its latest transition at or before 21000 is eaefo→error at 4900: it gave up;
	//     4900 − 350 = 4.55 s (bound 5, idx 9); its latest claim (3800) says attempt_number 4,
	//     so 4 (bucket 4), although the log holds 2 claims. Its later error→pending (30000)
	//     changes nothing.
	// g3: in error (5000) at 21000: it gave up before its manual completion at 25000, which
	//     is later, so records nothing; 5000 − 360 = 4.64 s (idx 9); 1 claim (bucket 1).
	// Together: count 2, sum 9.19; attempts sum 5, buckets 1 and 4.
	e.outcome("reports", "render_pdf", "error", 2, 9.19, buckets(9, 9), 5, countBuckets(1, 4))
	// g4: eaefo→error at 21000, the same time as TF's end, counts as before it: in error then;
	//     21000 − 370 = 20.63 s (bound 30, idx 11); 1 claim. Its handler from the worker's
	//     spans (handler_name send_mail).
	e.outcome("reports", "send_mail", "error", 1, 20.63, buckets(11), 1, countBuckets(1))
	// g5: error→complete at 21000, the same time as TF's end, counts as before it: it was
	//     complete, not in error, when TF ended; decided by that first complete:
	//     21000 − 390 = 20.61 s (idx 11); 1 claim.
	e.outcome("reports", "send_mail", "complete", 1, 20.61, buckets(11), 1, countBuckets(1))
	return e
}

// liveExpected: the six metrics once the fixture (liveBatches) has settled.
func liveExpected() liveExpect {
	e := liveOutcomes()
	// Tasks, all on the orchestration. Not live: TC (complete at 3000; its invalid
	// complete→pending does not make it live again), TX (cancelled), TF (error).
	e.live(orch, "task", "payments", "pending", 1, 1000)                  // TP
	e.live(orch, "task", "payments", "initializing", 1, 2000)             // TI
	e.live(orch, "task", "payments", "enqueuing_steps", 1, 3000)          // TE
	e.live(orch, "task", "payments", "steps_in_process", 2, 1500)         // TL (legacy in_progress, 1500) and TS (4000)
	e.live(orch, "task", "payments", "evaluating_results", 1, 5000)       // TR
	e.live(orch, "task", "payments", "waiting_for_dependencies", 1, 2500) // TD
	e.live(orch, "task", "payments", "waiting_for_retry", 1, 8500)        // TW: since its second entry
	e.live(orch, "task", "payments", "blocked_by_failures", 1, 7000)      // TB: the self-move at 9000 does not restart it
	e.live(orch, "task", "reports", "pending", 1, 1200)                   // TQ
	// Steps of TS (live: TS is). Not live: s-done (complete; its invalid complete→pending
	// does not make it live again), the steps of TX (cancelled), TC (complete) and TF (error),
	// whatever their states: x1 pending, x2 enqueued, c1 pending, g1 pending again at 30000.
	e.live(orch, "step", "payments", "pending", 1, 4100)  // s-pend
	e.live(orch, "step", "payments", "enqueued", 2, 4200) // s-enq (4200) and s-enq2 (back in enqueued at 6100)
	e.live(worker, "step", "payments", "in_progress", 1, 4400)
	e.live(worker, "step", "payments", efo, 1, 5000)
	e.live(orch, "step", "payments", eaefo, 1, 5100) // entered at 5100 (w); its latest, the self-move at 7000, is o's
	e.live(orch, "step", "payments", "waiting_for_retry", 1, 5200)
	e.live(orch, "step", "payments", "error", 1, 5300)
	return e
}

// mergeTraces puts batches into one.
func mergeTraces(batches []ptrace.Traces) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, b := range batches {
		b.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	return td
}

// TestLiveStateGolden delivers the fixture batch by batch, then two more batches, and
// follows the six metrics through every flush: their values, and series that end (a stale
// point, then gone) once nothing is live in them.
func TestLiveStateGolden(t *testing.T) {
	h := newHarness(t, testConfig())
	h.consume(liveBatches()...)
	assert.Empty(t, liveView(t, h.tick()), "15 s: nothing has settled")
	h.tick() // 30 s: everything settles; new histogram series first show as zero points
	want := liveExpected()
	md := h.tick() // 45 s
	assertView(t, want, liveView(t, md), "45 s")
	checkLiveUnits(t, md)

	// A gauge is set at every flush: unchanged at 60 s.
	assertView(t, want, liveView(t, h.tick()), "")

	h.consume(liveMore()) // arrives at 60 s, settles at 90 s
	assertView(t, want, liveView(t, h.tick()), "75 s: not settled yet")
	// 90 s: TB resolved (40000): payments/blocked_by_failures has nothing live: a stale
	// point. TL left steps_in_process (41000): TS alone there, since 4000; TL joins TR in
	// evaluating_results, the oldest still TR (5000). s-pend enqueued at 42000: step
	// pending has nothing live; enqueued holds s-enq, s-enq2 and s-pend, the oldest s-enq.
	want2 := want.clone()
	want2.stale(orch, "task", "payments", "blocked_by_failures")
	want2.live(orch, "task", "payments", "steps_in_process", 1, 4000)
	want2.live(orch, "task", "payments", "evaluating_results", 2, 5000)
	want2.stale(orch, "step", "payments", "pending")
	want2.live(orch, "step", "payments", "enqueued", 3, 4200)
	assertView(t, want2, liveView(t, h.tick()), "")
	// 105 s: the ended series are gone.
	want3 := want2.clone()
	for k, v := range want3 {
		if v == "stale" {
			delete(want3, k)
		}
	}
	assertView(t, want3, liveView(t, h.tick()), "")

	h.consume(liveEnd()) // arrives at 105 s, settles at 135 s
	h.tick()
	// 135 s: every task is cancelled, so no task and no step is live: every gauge series
	// shows a stale point. TS ended at 50000 with s-err in error (5300): it gave up,
	// 5300 − 4100 = 1.2 s (bound 2.5, idx 8), after 1 claim (4300): a new series, first a
	// zero point. TS's other steps were in other states: no outcome.
	md = h.tick()
	want4 := liveOutcomes()
	for k := range want3 {
		if strings.Contains(k, "in_state") {
			want4[k] = "stale"
		}
	}
	newDur := orch + "|tasker.step.completion_duration|handler_name=charge_card,namespace=payments,outcome=error"
	newCnt := orch + "|tasker.step.attempt_count|handler_name=charge_card,namespace=payments,outcome=error"
	want4[newDur] = histView(0, 0, buckets())
	want4[newCnt] = histView(0, 0, countBuckets())
	assertView(t, want4, liveView(t, md), "45 s")
	// 150 s: no gauge series at all; the new outcome with its values.
	want5 := liveOutcomes()
	want5[newDur] = histView(1, 1.2, buckets(8))
	want5[newCnt] = histView(1, 1, countBuckets(1))
	assertView(t, want5, liveView(t, h.tick()), "")
	assertView(t, want5, liveView(t, h.tick()), "165 s: still none")
}

// checkLiveUnits: the units and value types of §7's table.
func checkLiveUnits(t *testing.T, md pmetric.Metrics) {
	t.Helper()
	units := map[string]string{"tasker.task.in_state": "{task}", "tasker.step.in_state": "{step}",
		"tasker.task.oldest_in_state_since": "s", "tasker.step.oldest_in_state_since": "s",
		"tasker.step.completion_duration": "s", "tasker.step.attempt_count": "{attempt}"}
	seen := map[string]bool{}
	for k, p := range flatten(t, md) {
		metric := strings.Split(k, "|")[1]
		if want, ok := units[metric]; ok {
			seen[metric] = true
			assert.Equal(t, want, p.unit, k)
			switch metric {
			case "tasker.step.attempt_count":
				assert.Equal(t, attemptBounds, p.bounds, k)
			case "tasker.step.completion_duration":
				assert.Equal(t, defaultBuckets, p.bounds, k)
			}
		}
	}
	assert.Len(t, seen, len(units))
}

// TestLiveStateOneBatch: the whole fixture in one batch gives the same values.
func TestLiveStateOneBatch(t *testing.T) {
	h := newHarness(t, testConfig())
	h.consume(mergeTraces(liveBatches()))
	assertView(t, liveExpected(), liveView(t, h.ticks(3)), "")
}

// TestLiveStateShuffledAndRepeated: the fixture's batches in shuffled orders, over two
// flushes, one batch sent twice: the same values (the gauges and oldest times do not move
// with arrival order).
func TestLiveStateShuffledAndRepeated(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		batches := liveBatches()
		r := rand.New(rand.NewPCG(seed, 11))
		if seed == 1 {
			for i, j := 0, len(batches)-1; i < j; i, j = i+1, j-1 { // reversed: every late one first
				batches[i], batches[j] = batches[j], batches[i]
			}
		} else {
			r.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
		}
		repeat := ptrace.NewTraces()
		batches[r.IntN(len(batches))].CopyTo(repeat)
		split := 1 + r.IntN(len(batches)-1)

		h := newHarness(t, testConfig())
		h.consume(batches[:split]...)
		h.tick() // 15 s: the rest arrives a flush later, within the settle window
		h.consume(batches[split:]...)
		h.consume(repeat)
		// Everything has settled by 45 s; histogram series made then show values at 60 s.
		assertView(t, liveExpected(), liveView(t, h.ticks(3)), fmt.Sprintf("seed %d", seed))
	}
}

// TestLiveStateShutdownFlush: at shutdown the connector settles everything and flushes: the
// gauges show what is live then, the histograms their values.
func TestLiveStateShutdownFlush(t *testing.T) {
	h := newHarness(t, testConfig())
	h.consume(liveBatches()...)
	h.tick()
	assertView(t, liveExpected(), liveView(t, h.shutdown()), "")
}

// TestLiveStateDelta: with delta temporality the gauges are the same (a gauge has no
// temporality); the histograms' delta points add up to the same values.
func TestLiveStateDelta(t *testing.T) {
	cfg := testConfig()
	cfg.AggregationTemporality = TemporalityDelta
	h := newHarness(t, cfg)
	h.consume(liveBatches()...)
	h.tick()
	at30 := liveView(t, h.tick()) // 30 s: all settled; delta points carry their values at once
	at45 := liveView(t, h.tick())
	gauges, hists := liveExpect{}, liveExpect{}
	for k, v := range liveExpected() {
		if strings.Contains(k, "in_state") {
			gauges[k] = v
		} else {
			hists[k] = v
		}
	}
	for k, v := range hists {
		assert.Equal(t, v, at30[k], k)
		assert.NotContains(t, at45, k, "45 s: nothing new, no delta point")
	}
	for k, v := range gauges {
		assert.Equal(t, v, at30[k], k)
		assert.Equal(t, v, at45[k], k)
	}
	assert.Len(t, at45, len(gauges))
}

// lsTask is a task created (none→pending) at ms in namespace ns, on the orchestration.
func lsTask(b *traceBuilder, spans ptrace.SpanSlice, task, ns string, ms int64, more ...lsTr) {
	b.taskSpans(spans, 9, task, ns, append([]lsTr{{"none", "pending", ms, 0}}, more...)...)
}

// TestLiveGaugesOutliveSeriesExpiry: a stuck entity keeps its gauges however long nothing
// new happens (series_expiry is about series that see nothing; a live one is set at every
// flush).
func TestLiveGaugesOutliveSeriesExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.SeriesExpiry = time.Minute
	h := newHarness(t, cfg)
	b := newTraces()
	lsTask(b, b.resource(orch, "o"), "T", "stuck", 0)
	h.consume(b.td)
	want := liveExpect{}
	want.live(orch, "task", "stuck", "pending", 1, 0)
	assertView(t, want, liveView(t, h.ticks(3)), "")
	assertView(t, want, liveView(t, h.ticks(12)), "225 s: three series_expiry later, still stuck, still shown")
}

// TestLiveEntityEvictedIdle: a live task and its step that see nothing for idle_ttl leave
// the log: they stop counting (their series end) and are counted as live entities evicted,
// by kind. A task that keeps moving stays.
func TestLiveEntityEvictedIdle(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.IdleTTL = time.Minute
	cfg.Limits.FinishedGrace = time.Minute // not longer than idle_ttl
	h := newHarness(t, cfg)
	b := newTraces()
	s := b.resource(orch, "o")
	lsTask(b, s, "A", "ev", 0)
	stepEvents(b.orchSpan(s, 9, "A"), "A1", "A", lsTr{"none", "pending", 10, 0})
	lsTask(b, s, "B", "ev", 20)
	h.consume(b.td) // at 0 s
	h.ticks(2)      // 30 s: settled
	want := liveExpect{}
	want.live(orch, "task", "ev", "pending", 2, 0) // A (0) and B (20)
	want.live(orch, "step", "ev", "pending", 1, 10)
	assertView(t, want, liveView(t, h.tick()), "45 s")

	b = newTraces()
	b.taskSpans(b.resource(orch, "o"), 9, "B", "ev", lsTr{"pending", "initializing", 5000, 0})
	h.consume(b.td) // at 45 s: B is seen again, and settles at 75 s
	// A and A1 have seen nothing since 0 s: idle_ttl (1 min) passes at 60 s. By 90 s they
	// have left the log; B is in initializing since 5000. The series of A and A1 ended (a
	// stale point at some flush between, then gone): no live value for them.
	h.ticks(2) // 75 s
	got := liveView(t, h.tick())
	want = liveExpect{}
	want.live(orch, "task", "ev", "initializing", 1, 5000)
	assertView(t, want, got, "90 s")

	metadatatest.AssertEqualConnectorTaskerStateLiveEntitiesEvicted(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("kind", "task"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("kind", "step"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualConnectorTaskerStateEntitiesEvicted(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("kind", "task"), attribute.String("reason", "idle"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("kind", "step"), attribute.String("reason", "idle"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestLiveEntityEvictedCapacity: at max_entities the least recently seen settled entity
// goes; live, it stops counting and is counted.
func TestLiveEntityEvictedCapacity(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.MaxEntities = 2
	h := newHarness(t, cfg)
	task := func(id string, ms int64) ptrace.Traces {
		b := newTraces()
		lsTask(b, b.resource(orch, "o"), id, "cap", ms)
		return b.td
	}
	h.consume(task("A", 0)) // at 0 s, settles at 30 s
	h.tick()
	h.consume(task("B", 100)) // at 15 s, settles at 45 s
	h.ticks(2)
	want := liveExpect{}
	want.live(orch, "task", "cap", "pending", 2, 0)
	assertView(t, want, liveView(t, h.tick()), "60 s: A and B")
	h.consume(task("C", 200)) // at 60 s: the log is full; A is the least recently seen
	h.ticks(2)
	want.live(orch, "task", "cap", "pending", 2, 100) // B and C: the oldest is B now
	assertView(t, want, liveView(t, h.tick()), "105 s: B and C")
	metadatatest.AssertEqualConnectorTaskerStateLiveEntitiesEvicted(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("kind", "task"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualConnectorTaskerStateEntitiesEvicted(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("kind", "task"), attribute.String("reason", "capacity"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestLiveGaugesUnderCardinalityLimit: past cardinality_limit, a step gauge's further
// series go to the overflow series, which adds the counts up (in_state) and keeps the
// oldest time (oldest_in_state_since); the regular series stay at the limit.
func TestLiveGaugesUnderCardinalityLimit(t *testing.T) {
	cfg := testConfig()
	cfg.CardinalityLimit = 2
	h := newHarness(t, cfg)
	b := newTraces()
	s := b.resource(orch, "o")
	lsTask(b, s, "T", "card", 0, lsTr{"pending", "in_progress", 50, 0})
	sp := b.orchSpan(s, 9, "T")
	stepEvents(sp, "K1", "T", lsTr{"none", "pending", 100, 0})
	stepEvents(sp, "K2", "T", lsTr{"none", "pending", 150, 0}, lsTr{"pending", "enqueued", 200, 0})
	h.consume(b.td) // settles at 30 s: the two regular series of each step gauge
	h.ticks(2)

	b = newTraces()
	s = b.resource(orch, "o")
	sp = b.orchSpan(s, 9, "T")
	stepEvents(sp, "K3", "T", lsTr{"none", "pending", 300, 0})                                               // an existing series
	stepEvents(sp, "K4", "T", lsTr{"none", "pending", 350, 0}, lsTr{"pending", "waiting_for_retry", 600, 0}) // overflow
	stepEvents(sp, "K5", "T", lsTr{"none", "pending", 360, 0}, lsTr{"pending", "error", 700, 0})             // overflow
	stepEvents(sp, "K6", "T", lsTr{"none", "pending", 370, 0}, lsTr{"pending", "cancelled", 800, 0})         // not live
	h.consume(b.td)                                                                                          // at 30 s, settles at 60 s
	got := liveView(t, h.ticks(2))

	want := liveExpect{}
	want.live(orch, "task", "card", "steps_in_process", 1, 50)
	want.live(orch, "step", "card", "pending", 2, 100) // K1 (100), K3 (300)
	want.live(orch, "step", "card", "enqueued", 1, 200)
	want[orch+"|tasker.step.in_state|otel.metric.overflow=true"] = "n=2"                                              // K4, K5
	want[orch+"|tasker.step.oldest_in_state_since|otel.metric.overflow=true"] = fmt.Sprintf("since=%.3f", since(600)) // K4
	// K6's outcome: cancelled at 800, from 370: 0.43 s (bound 0.5, idx 6), never claimed.
	want[orch+"|tasker.step.completion_duration|handler_name=unknown,namespace=card,outcome=cancelled"] = histView(0, 0, buckets())
	want[orch+"|tasker.step.attempt_count|handler_name=unknown,namespace=card,outcome=cancelled"] = histView(0, 0, countBuckets())
	assertView(t, want, got, "60 s")
	regular := map[string]int{}
	for k := range got {
		if !strings.Contains(k, "overflow") {
			regular[strings.Split(k, "|")[1]]++
		}
	}
	for m, n := range regular {
		assert.LessOrEqual(t, n, cfg.CardinalityLimit, m)
	}
}

// TestLiveStateFollowsCausalOrder: an entity's current state is that of its latest
// transition in the order §5 restores. The worker's clock is 20 ms behind the
// orchestration's: its claim of SK (enqueued→in_progress, 980 ms) is stamped before the
// orchestration's pending→enqueued (1000 ms) it follows. In telemetry time the log is
// none→pending (900, o), the claim (980, w), pending→enqueued (1000, o): the claim does not
// chain onto none→pending, and pending→enqueued, from another service less than
// max_clock_skew (1 s) later, does: it moves up (§5). So the claim is SK's latest transition:
// SK is in in_progress, on the worker's resource, since 980 ms (the entering transition's own
// telemetry time). Read in raw time order, its latest would be pending→enqueued: enqueued, on
// the orchestration.
func TestLiveStateFollowsCausalOrder(t *testing.T) {
	h := newHarness(t, testConfig())
	b := newTraces()
	o := b.resource(orch, "o1")
	b.taskSpans(o, 9, "TK", "skew", inProcess()...)
	stepEvents(b.orchSpan(o, 9, "TK"), "SK", "TK", lsTr{"none", "pending", 900, 0}, lsTr{"pending", "enqueued", 1000, 0})
	w := b.resource(worker, "w1")
	stepEvents(b.workerSpan(w, 9, "TK", "skew", "SK", "h"), "SK", "TK", lsTr{"enqueued", "in_progress", 980, 0})
	h.consume(b.td)
	want := liveExpect{}
	want.live(orch, "task", "skew", "steps_in_process", 1, 300)
	want.live(worker, "step", "skew", "in_progress", 1, 980)
	assertView(t, want, liveView(t, h.ticks(3)), "45 s")
}

// TestLiveStateTerminalSurvivesLogOverflow: having reached a terminal state is final
// (docs/telemetry.md §7, "Live state": an invalid move out of it does not make the entity live
// again), also when the transition into it has left an overflowing log (§5: it drops its
// oldest settled transitions, keeping its start and any open claim). With logs of 4 transitions:
//
//	TK: none→pending 0, pending→initializing 100, initializing→complete 200, complete→pending
//	    300 (invalid); then pending→initializing 400, initializing→enqueuing_steps 500,
//	    enqueuing_steps→steps_in_process 600 push its complete out. Not live.
//	SK (a step of TL, live in steps_in_process since 300): none→pending 1000,
//	    pending→in_progress 1100, in_progress→complete 1200, complete→pending 1300 (invalid);
//	    then pending→in_progress 1400, in_progress→error 1500, error→pending 1600. Not live;
//	    its outcome was decided once, by its complete: 1200 − 1000 = 0.2 s (bound 0.25, idx 5),
//	    1 claim before it.
func TestLiveStateTerminalSurvivesLogOverflow(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.MaxTransitionsPerEntity = 4
	h := newHarness(t, cfg)
	b := newTraces()
	o := b.resource(orch, "o1")
	b.taskSpans(o, 9, "TK", "cap", lsTr{"none", "pending", 0, 0}, lsTr{"pending", "initializing", 100, 0},
		lsTr{"initializing", "complete", 200, 0}, lsTr{"complete", "pending", 300, 0})
	b.taskSpans(o, 9, "TL", "cap", inProcess()...)
	stepEvents(b.orchSpan(o, 9, "TL"), "SK", "TL", lsTr{"none", "pending", 1000, 0}, lsTr{"pending", "in_progress", 1100, 0},
		lsTr{"in_progress", "complete", 1200, 0}, lsTr{"complete", "pending", 1300, 0})
	h.consume(b.td) // settles at 30 s
	h.ticks(2)
	b = newTraces()
	o = b.resource(orch, "o1")
	b.taskSpans(o, 9, "TK", "cap", lsTr{"pending", "initializing", 400, 0},
		lsTr{"initializing", "enqueuing_steps", 500, 0}, lsTr{"enqueuing_steps", "steps_in_process", 600, 0})
	stepEvents(b.orchSpan(o, 9, "TL"), "SK", "TL", lsTr{"pending", "in_progress", 1400, 0}, lsTr{"in_progress", "error", 1500, 0},
		lsTr{"error", "pending", 1600, 0})
	h.consume(b.td) // at 30 s, settles at 60 s
	want := liveExpect{}
	want.live(orch, "task", "cap", "steps_in_process", 1, 300) // TL
	attrs := "handler_name=unknown,namespace=cap,outcome=complete"
	want[orch+"|tasker.step.completion_duration|"+attrs] = histView(1, 0.2, buckets(5))
	want[orch+"|tasker.step.attempt_count|"+attrs] = histView(1, 1, countBuckets(1))
	assertView(t, want, liveView(t, h.ticks(3)), "75 s")
}
