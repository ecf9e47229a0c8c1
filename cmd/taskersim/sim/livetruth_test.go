package sim

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// handPlan builds a plan transition by transition, for ground truths worked out by hand.
type handPlan struct {
	p *Plan
	n int
}

func newHandPlan() *handPlan { return &handPlan{p: &Plan{Opts: Options{Shape: ShapeEvents}}} }

func (h *handPlan) id(prefix string) string { h.n++; return fmt.Sprintf("%s-%d", prefix, h.n) }

func (h *handPlan) task(ns string) *Task {
	t := &Task{Index: len(h.p.Tasks), UUID: h.id("task"), Namespace: ns, Fate: FateNormal}
	h.p.Tasks = append(h.p.Tasks, t)
	return t
}

func (h *handPlan) step(t *Task, name string) *Step {
	s := &Step{Index: len(t.Steps), UUID: h.id("step"), Name: name}
	t.Steps = append(t.Steps, s)
	return s
}

// move sends one transition of t (s == nil) or of its step s, at ms milliseconds, as an event
// on a span of its own. A worker's span names the step's handler, as worker.step_execution does.
func (h *handPlan) move(t *Task, s *Step, service, from, to string, ms int) {
	attrs := []attribute.KeyValue{attribute.String("task_uuid", t.UUID), attribute.String("namespace", t.Namespace)}
	tr := &Transition{Kind: KindTask, Task: t, Step: s, From: from, To: to, At: time.Duration(ms) * time.Millisecond}
	if s != nil {
		tr.Kind = KindStep
		attrs = append(attrs, attribute.String("step_uuid", s.UUID))
		if service == ServiceWorker {
			attrs = append(attrs, attribute.String("step_name", s.Name))
		}
		s.Transitions = append(s.Transitions, tr)
	} else {
		t.Transitions = append(t.Transitions, tr)
	}
	sp := &Span{Service: service, Name: "hand", Start: tr.At, End: tr.At, Attrs: attrs, Events: []*Transition{tr}, task: t}
	tr.Home, tr.Carrier = sp, sp
	h.p.Spans = append(h.p.Spans, sp)
	h.p.Transitions = append(h.p.Transitions, tr)
}

const (
	orch   = ServiceOrchestration
	worker = ServiceWorker
)

var handBase = time.Unix(1_800_000_000, 0)

// since is the unix time of plan time ms, as oldest_in_state_since gives it.
func since(ms int) float64 { return 1_800_000_000 + float64(ms)/1000 }

func gaugeKey(job, ns, state string) string {
	return labelKey(map[string]string{"job": job, "namespace": ns, "state": state})
}

func gauges(tr *Truth, metric string) map[string]float64 {
	out := map[string]float64{}
	for _, g := range tr.Gauges[metric] {
		out[labelKey(g.Labels)] = g.Value
	}
	return out
}

func checkGauges(t *testing.T, tr *Truth, metric string, want map[string]float64) {
	t.Helper()
	got := gauges(tr, metric)
	for k, w := range want {
		if g, ok := got[k]; !ok || math.Abs(g-w) > 1e-6 {
			t.Errorf("%s {%s} = %v (present %v), want %v", metric, k, g, ok, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s {%s} = %v, want no series", metric, k, g)
		}
	}
}

type wantHist struct {
	count   uint64
	sum     float64
	buckets map[string]uint64
}

func outcomeKey(ns, handler, outcome string) string {
	return labelKey(map[string]string{"namespace": ns, "handler_name": handler, "outcome": outcome})
}

func checkHist(t *testing.T, tr *Truth, metric string, want map[string]wantHist) {
	t.Helper()
	got := map[string]HistogramSeries{}
	for _, h := range tr.Histograms[metric] {
		got[labelKey(h.Labels)] = h
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || g.Count != w.count || math.Abs(g.Sum-w.sum) > 1e-9 {
			t.Errorf("%s {%s}: count %d sum %v (present %v), want count %d sum %v", metric, k, g.Count, g.Sum, ok, w.count, w.sum)
			continue
		}
		if w.buckets != nil && fmt.Sprint(g.Buckets) != fmt.Sprint(w.buckets) {
			t.Errorf("%s {%s}: buckets %v, want %v", metric, k, g.Buckets, w.buckets)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s {%s}: count %d, want no series", metric, k, g.Count)
		}
	}
}

// cumulative returns attempt_count buckets for observations of these attempt numbers.
func cumulative(attempts ...int) map[string]uint64 {
	b := map[string]uint64{"0": 0, "1": 0, "2": 0, "3": 0, "4": 0, "5": 0, "10": 0, "+Inf": 0}
	for _, a := range attempts {
		for _, le := range []int{0, 1, 2, 3, 4, 5, 10} {
			if a <= le {
				b[fmt.Sprint(le)]++
			}
		}
		b["+Inf"]++
	}
	return b
}

// A task still running, with a step in each of several situations; every value below is
// worked out by hand from §7's text (the readings are listed on addLiveState).
func TestLiveStateOfARunningTask(t *testing.T) {
	h := newHandPlan()
	a := h.task("payments")
	h.move(a, nil, orch, "none", "pending", 0)
	h.move(a, nil, orch, "pending", "initializing", 1000)
	h.move(a, nil, orch, "initializing", "enqueuing_steps", 2000)
	h.move(a, nil, orch, "enqueuing_steps", "steps_in_process", 3000)

	// Enqueued at 2.5 s, re-enqueued by a sweep at 10 s: a self-move does not restart it.
	s1 := h.step(a, "validate")
	h.move(a, s1, orch, "none", "pending", 1500)
	h.move(a, s1, orch, "pending", "enqueued", 2500)
	h.move(a, s1, orch, "enqueued", "enqueued", 10000)

	// Completes at 6 s after one attempt, then is claimed again (invalid, out of a terminal
	// state): not live, and the later claim is not an attempt of its outcome.
	s2 := h.step(a, "charge")
	h.move(a, s2, orch, "none", "pending", 1600)
	h.move(a, s2, orch, "pending", "enqueued", 2600)
	h.move(a, s2, worker, "enqueued", "in_progress", 4000)
	h.move(a, s2, worker, "in_progress", "enqueued_for_orchestration", 5000)
	h.move(a, s2, orch, "enqueued_for_orchestration", "complete", 6000)
	h.move(a, s2, worker, "complete", "in_progress", 20000)

	// Failed once, retried, claimed again at 8 s: in_progress since 8 s, on the worker.
	s3 := h.step(a, "reserve")
	h.move(a, s3, orch, "none", "pending", 1700)
	h.move(a, s3, orch, "pending", "enqueued", 2700)
	h.move(a, s3, worker, "enqueued", "in_progress", 4100)
	h.move(a, s3, worker, "in_progress", "enqueued_as_error_for_orchestration", 5100)
	h.move(a, s3, orch, "enqueued_as_error_for_orchestration", "waiting_for_retry", 5200)
	h.move(a, s3, orch, "waiting_for_retry", "pending", 7000)
	h.move(a, s3, orch, "pending", "enqueued", 7100)
	h.move(a, s3, worker, "enqueued", "in_progress", 8000)

	// Its creation never arrived; in error (not terminal) while its task runs: live, and no
	// outcome yet.
	s4 := h.step(a, "ship")
	h.move(a, s4, orch, "pending", "enqueued", 2800)
	h.move(a, s4, orch, "enqueued", "error", 3500)

	// Enqueued at 2 s, then a transition from another state into enqueued at 4 s (the log
	// has a gap): that one restarts the time in enqueued.
	s5 := h.step(a, "notify")
	h.move(a, s5, orch, "none", "pending", 1800)
	h.move(a, s5, orch, "pending", "enqueued", 2000)
	h.move(a, s5, orch, "waiting_for_retry", "enqueued", 4000)

	// Only a self-move after a gap: the state is entered at that self-move.
	s6 := h.step(a, "audit")
	h.move(a, s6, orch, "none", "pending", 1900)
	h.move(a, s6, orch, "in_progress", "in_progress", 9000)

	// A second running task of the same namespace, in the same state since earlier, with the
	// legacy in_progress and a move from it to steps_in_process (the same state: no restart).
	b := h.task("payments")
	h.move(b, nil, orch, "none", "pending", 0)
	h.move(b, nil, orch, "pending", "in_progress", 1200)
	h.move(b, nil, orch, "in_progress", "steps_in_process", 5000)

	tr := ComputeTruth(h.p, handBase)
	checkGauges(t, tr, MetricTaskInState, map[string]float64{gaugeKey(orch, "payments", "steps_in_process"): 2})
	checkGauges(t, tr, MetricTaskOldestInState, map[string]float64{gaugeKey(orch, "payments", "steps_in_process"): since(1200)})
	checkGauges(t, tr, MetricStepInState, map[string]float64{
		gaugeKey(orch, "payments", "enqueued"):      2,
		gaugeKey(worker, "payments", "in_progress"): 1,
		gaugeKey(orch, "payments", "in_progress"):   1,
		gaugeKey(orch, "payments", "error"):         1,
	})
	checkGauges(t, tr, MetricStepOldestInState, map[string]float64{
		gaugeKey(orch, "payments", "enqueued"):      since(2500),
		gaugeKey(worker, "payments", "in_progress"): since(8000),
		gaugeKey(orch, "payments", "in_progress"):   since(9000),
		gaugeKey(orch, "payments", "error"):         since(3500),
	})
	checkHist(t, tr, MetricStepCompletion, map[string]wantHist{outcomeKey("payments", "charge", "complete"): {count: 1, sum: 4.4}})
	checkHist(t, tr, MetricStepAttemptCount, map[string]wantHist{outcomeKey("payments", "charge", "complete"): {count: 1, sum: 1, buckets: cumulative(1)}})
	if tr.Injected.OutOfTerminal != 1 {
		t.Errorf("out of terminal %d, want 1 (step charge)", tr.Injected.OutOfTerminal)
	}
}

// Tasks that end: their steps stop being live whatever state they are in, a step in error
// when its task ends gives up (outcome error), and moves out of terminal states change
// nothing.
func TestStepOutcomesWhenTasksEnd(t *testing.T) {
	h := newHandPlan()
	c := h.task("billing")
	h.move(c, nil, orch, "none", "pending", 0)
	h.move(c, nil, orch, "pending", "initializing", 500)
	h.move(c, nil, orch, "initializing", "enqueuing_steps", 600)
	h.move(c, nil, orch, "enqueuing_steps", "steps_in_process", 700)
	h.move(c, nil, orch, "steps_in_process", "blocked_by_failures", 9000)
	h.move(c, nil, orch, "blocked_by_failures", "blocked_by_failures", 15000)
	h.move(c, nil, orch, "blocked_by_failures", "error", 30000)
	h.move(c, nil, orch, "error", "pending", 40000) // invalid: an ended task does not come back

	// Two attempts, then error at 8.5 s; the task ends at 30 s: gives up, 7.5 s, 2 attempts.
	c1 := h.step(c, "charge")
	h.move(c, c1, orch, "none", "pending", 1000)
	h.move(c, c1, orch, "pending", "enqueued", 2000)
	h.move(c, c1, worker, "enqueued", "in_progress", 4000)
	h.move(c, c1, worker, "in_progress", "enqueued_as_error_for_orchestration", 5000)
	h.move(c, c1, orch, "enqueued_as_error_for_orchestration", "error", 6000)
	h.move(c, c1, orch, "error", "pending", 7000)
	h.move(c, c1, orch, "pending", "enqueued", 7500)
	h.move(c, c1, worker, "enqueued", "in_progress", 8000)
	h.move(c, c1, worker, "in_progress", "error", 8500)

	// Never claimed; still pending when the task ends: no outcome, handler never learned.
	c2 := h.step(c, "refund")
	h.move(c, c2, orch, "none", "pending", 1100)

	// In error when the task ends at 30 s; resolved at 31 s: the outcome was already decided.
	c3 := h.step(c, "notify")
	h.move(c, c3, orch, "none", "pending", 1200)
	h.move(c, c3, orch, "pending", "enqueued", 2000)
	h.move(c, c3, worker, "enqueued", "in_progress", 4000)
	h.move(c, c3, worker, "in_progress", "error", 5000)
	h.move(c, c3, orch, "error", "resolved_manually", 31000)

	// In error at 6 s, retried and back in_progress before the task ends, completed after it:
	// not in error when the task ended, so its outcome is its completion at 34 s.
	c4 := h.step(c, "ledger")
	h.move(c, c4, orch, "none", "pending", 1300)
	h.move(c, c4, worker, "pending", "in_progress", 3000)
	h.move(c, c4, worker, "in_progress", "error", 6000)
	h.move(c, c4, orch, "error", "pending", 29000)
	h.move(c, c4, worker, "pending", "in_progress", 29500)
	h.move(c, c4, worker, "in_progress", "complete", 34000)

	// A cancelled task with a pending step and one cancelled before any claim.
	d := h.task("billing")
	h.move(d, nil, orch, "none", "pending", 0)
	h.move(d, nil, orch, "pending", "initializing", 1000)
	h.move(d, nil, orch, "initializing", "cancelled", 3000)
	h.move(d, nil, orch, "cancelled", "enqueuing_steps", 4000) // invalid
	d1 := h.step(d, "export")
	h.move(d, d1, orch, "none", "pending", 1500)
	d2 := h.step(d, "archive")
	h.move(d, d2, orch, "none", "pending", 1600)
	h.move(d, d2, orch, "pending", "cancelled", 3100)

	// Steps whose task sent no transition (today's Tasker): only their own terminal state
	// ends them, and a step in error has no outcome.
	e := h.task("reports")
	e1 := h.step(e, "render")
	h.move(e, e1, orch, "none", "pending", 0)
	h.move(e, e1, worker, "pending", "in_progress", 1000)
	h.move(e, e1, worker, "in_progress", "enqueued_for_orchestration", 2000)
	h.move(e, e1, orch, "enqueued_for_orchestration", "complete", 4000)
	h.move(e, e1, orch, "complete", "resolved_manually", 5000) // a second end changes nothing
	e2 := h.step(e, "mail")
	h.move(e, e2, orch, "none", "pending", 500)
	e3 := h.step(e, "print")
	h.move(e, e3, orch, "none", "pending", 600)
	h.move(e, e3, worker, "pending", "in_progress", 1500)
	h.move(e, e3, worker, "in_progress", "error", 2500)

	tr := ComputeTruth(h.p, handBase)
	checkGauges(t, tr, MetricTaskInState, map[string]float64{})
	checkGauges(t, tr, MetricTaskOldestInState, map[string]float64{})
	checkGauges(t, tr, MetricStepInState, map[string]float64{
		gaugeKey(orch, "reports", "pending"): 1,
		gaugeKey(worker, "reports", "error"): 1,
	})
	checkGauges(t, tr, MetricStepOldestInState, map[string]float64{
		gaugeKey(orch, "reports", "pending"): since(500),
		gaugeKey(worker, "reports", "error"): since(2500),
	})
	checkHist(t, tr, MetricStepCompletion, map[string]wantHist{
		outcomeKey("billing", "charge", "error"):      {count: 1, sum: 7.5},
		outcomeKey("billing", "notify", "error"):      {count: 1, sum: 3.8},
		outcomeKey("billing", "ledger", "complete"):   {count: 1, sum: 32.7},
		outcomeKey("billing", "unknown", "cancelled"): {count: 1, sum: 1.5},
		outcomeKey("reports", "render", "complete"):   {count: 1, sum: 4},
	})
	checkHist(t, tr, MetricStepAttemptCount, map[string]wantHist{
		outcomeKey("billing", "charge", "error"):      {count: 1, sum: 2, buckets: cumulative(2)},
		outcomeKey("billing", "notify", "error"):      {count: 1, sum: 1, buckets: cumulative(1)},
		outcomeKey("billing", "ledger", "complete"):   {count: 1, sum: 2, buckets: cumulative(2)},
		outcomeKey("billing", "unknown", "cancelled"): {count: 1, sum: 0, buckets: cumulative(0)},
		outcomeKey("reports", "render", "complete"):   {count: 1, sum: 1, buckets: cumulative(1)},
	})
	if tr.Injected.OutOfTerminal != 2 || tr.Injected.CancelledWithUnfinishedSteps != 1 {
		t.Errorf("out of terminal %d (want 2: tasks c and d), cancelled with unfinished steps %d (want 1: d)",
			tr.Injected.OutOfTerminal, tr.Injected.CancelledWithUnfinishedSteps)
	}
}

func liveOptions(seed uint64) Options {
	o := testOptions(seed)
	o.InFlightRate, o.InvalidRate = 0.5, 0.25
	return o
}

var (
	taskNonTerminal = []string{"blocked_by_failures", "enqueuing_steps", "evaluating_results", "initializing", "pending", "steps_in_process", "waiting_for_dependencies", "waiting_for_retry"}
	stepNonTerminal = []string{"enqueued", "enqueued_as_error_for_orchestration", "enqueued_for_orchestration", "error", "in_progress", "pending", "waiting_for_retry"}
)

// With --in-flight-rate the runs leave tasks and steps in every non-terminal state of both
// machines, and show the other cases the live-state metrics must get right.
func TestInFlightCoversEveryState(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		o := liveOptions(seed)
		p, err := NewPlan(o)
		if err != nil {
			t.Fatal(err)
		}
		tr := ComputeTruth(p, handBase)
		where := fmt.Sprintf("seed %d", seed)
		if got := strings.Join(tr.LiveStates(KindTask), ","); got != strings.Join(taskNonTerminal, ",") {
			t.Errorf("%s: live tasks in %s, want every non-terminal state %v", where, got, taskNonTerminal)
		}
		if got := strings.Join(tr.LiveStates(KindStep), ","); got != strings.Join(stepNonTerminal, ",") {
			t.Errorf("%s: live steps in %s, want every non-terminal state %v", where, got, stepNonTerminal)
		}
		if want := o.Tasks / 2; tr.InFlight != want {
			t.Errorf("%s: %d tasks in flight, want %d", where, tr.InFlight, want)
		}
		if tr.Injected.OutOfTerminal == 0 || tr.Injected.CancelledWithUnfinishedSteps == 0 {
			t.Errorf("%s: %d moves out of terminal states, %d cancelled tasks with unfinished steps; want some of each", where, tr.Injected.OutOfTerminal, tr.Injected.CancelledWithUnfinishedSteps)
		}
		gaveUp := 0
		for _, h := range tr.Histograms[MetricStepCompletion] {
			if h.Labels["outcome"] == "error" {
				gaveUp += int(h.Count)
			}
		}
		if gaveUp == 0 {
			t.Errorf("%s: no step gave up after its retries", where)
		}
	}
}

// modelLive counts, from the simulator's own model (where it left each task and step, not
// from what it sent), the live entities by namespace and state.
func modelLive(p *Plan, tasksSent bool) (tasks, steps map[string]int) {
	tasks, steps = map[string]int{}, map[string]int{}
	for _, task := range p.Tasks {
		ended := taskTerminal[task.state]
		if tasksSent && !ended {
			tasks[task.Namespace+"/"+taskValidityState(task.state)]++
		}
		for _, s := range task.Steps {
			if s.state == "" || stepTerminal[s.state] || (tasksSent && ended) {
				continue
			}
			steps[task.Namespace+"/"+s.state]++
		}
	}
	return tasks, steps
}

func truthLive(tr *Truth, metric string) map[string]int {
	out := map[string]int{}
	for _, g := range tr.Gauges[metric] {
		out[g.Labels["namespace"]+"/"+g.Labels["state"]] += int(g.Value)
	}
	return out
}

// The ground truth, computed from the telemetry sent, agrees with where the simulator's model
// left every entity: with task transitions and without, in flight or not.
func TestLiveStateAgreesWithTheModel(t *testing.T) {
	for _, c := range []struct {
		name           string
		inFlight       float64
		omitTasks      bool
		wantLiveSteps  bool
		wantStepErrors bool
	}{
		{"all tasks end", 0, false, false, false},
		{"in flight", 0.5, false, true, true},
		{"no task transitions", 0, true, true, true},
		{"no task transitions, in flight", 0.3, true, true, true},
	} {
		o := testOptions(11)
		o.InvalidRate, o.InFlightRate, o.OmitTaskTransitions = 0.25, c.inFlight, c.omitTasks
		p, err := NewPlan(o)
		if err != nil {
			t.Fatal(err)
		}
		tr := ComputeTruth(p, handBase)
		tasks, steps := modelLive(p, !c.omitTasks)
		if got := truthLive(tr, MetricTaskInState); fmt.Sprint(got) != fmt.Sprint(tasks) {
			t.Errorf("%s: live tasks %v, the model has %v", c.name, got, tasks)
		}
		if got := truthLive(tr, MetricStepInState); fmt.Sprint(got) != fmt.Sprint(steps) {
			t.Errorf("%s: live steps %v, the model has %v", c.name, got, steps)
		}
		if (len(steps) > 0) != c.wantLiveSteps {
			t.Errorf("%s: live steps %v", c.name, steps)
		}
		errors := 0
		for k, n := range steps {
			if strings.HasSuffix(k, "/error") {
				errors += n
			}
		}
		if (errors > 0) != c.wantStepErrors {
			t.Errorf("%s: %d live steps in error", c.name, errors)
		}
		if len(tr.Gauges[MetricTaskOldestInState]) != len(tr.Gauges[MetricTaskInState]) || len(tr.Gauges[MetricStepOldestInState]) != len(tr.Gauges[MetricStepInState]) {
			t.Errorf("%s: oldest_in_state_since and in_state have different series", c.name)
		}
	}
}

// Every step whose outcome the model says is decided is recorded exactly once: those that end
// complete, cancelled or resolved_manually, and those left in error by a task that ended.
func TestEveryDecidedStepIsRecordedOnce(t *testing.T) {
	for _, omit := range []bool{false, true} {
		o := liveOptions(13)
		o.OmitTaskTransitions = omit
		p, err := NewPlan(o)
		if err != nil {
			t.Fatal(err)
		}
		tr := ComputeTruth(p, handBase)
		want := map[string]int{}
		for _, task := range p.Tasks {
			for _, s := range task.Steps {
				switch {
				case stepTerminal[s.state]:
					want[s.state]++
				case s.state == "error" && taskTerminal[task.state] && !omit:
					want["error"]++
				}
			}
		}
		got := map[string]int{}
		for _, m := range []string{MetricStepCompletion, MetricStepAttemptCount} {
			for _, h := range tr.Histograms[m] {
				got[m+" "+h.Labels["outcome"]] += int(h.Count)
			}
		}
		var keys []string
		for k := range want {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, m := range []string{MetricStepCompletion, MetricStepAttemptCount} {
			for _, k := range keys {
				if got[m+" "+k] != want[k] {
					t.Errorf("no task transitions %v: %s outcome %s recorded %d times, the model decided %d", omit, m, k, got[m+" "+k], want[k])
				}
			}
		}
		if want["error"] == 0 && !omit {
			t.Error("no step gave up")
		}
	}
}

func TestInFlightRateIsChecked(t *testing.T) {
	for _, r := range []float64{-0.1, 1.5} {
		o := testOptions(1)
		o.InFlightRate = r
		if _, err := NewPlan(o); err == nil || !strings.Contains(err.Error(), "in-flight rate") {
			t.Errorf("in-flight rate %v: %v", r, err)
		}
	}
}
