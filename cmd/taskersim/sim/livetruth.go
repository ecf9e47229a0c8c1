package sim

import (
	"sort"
	"strconv"
	"time"
)

// Prometheus names of the metrics of docs/telemetry.md §7 "Live state" and "Step outcomes
// across retries".
const (
	MetricTaskInState        = "tasker_task_in_state"
	MetricStepInState        = "tasker_step_in_state"
	MetricTaskOldestInState  = "tasker_task_oldest_in_state_since_seconds"
	MetricStepOldestInState  = "tasker_step_oldest_in_state_since_seconds"
	MetricStepCompletion     = "tasker_step_completion_duration_seconds"
	MetricStepAttemptCount   = "tasker_step_attempt_count"
	stepAttemptCountInfinity = "+Inf"
)

// StepAttemptCountBuckets are the explicit bucket bounds of tasker.step.attempt_count (§7).
var StepAttemptCountBuckets = []float64{0, 1, 2, 3, 4, 5, 10}

// GaugeSeries is the expected value of one gauge series at the end of the run. The live-state
// series are labelled with job (the service.name of the resource of the entity's latest
// transition, §7: "a live entity belongs to the resource of its latest transition"), namespace
// and state.
type GaugeSeries struct {
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

// The ground truth of the live-state gauges and the step-outcome histograms, computed from
// each entity's log (its non-duplicate transitions in telemetry order, exactly what was sent)
// and the text of §7, not from the simulator's own state nor from the components' code.
//
// Readings of the contract where its text leaves room, and what the simulator sends:
//
//   - Live: an entity whose log holds no transition into a terminal state of its machine (§1:
//     complete, error, cancelled, resolved_manually; §2: complete, cancelled,
//     resolved_manually, so a step in error is live). Having reached one is final: a later
//     move out of it (invalid) does not make it live again, whatever the order. A step is
//     also not live once its task's log holds a terminal transition, whatever the times of
//     the step's own transitions. A task without any transition sent (--no-task-transitions)
//     is not tracked at all, so its steps stop being live only by their own terminal state.
//   - Its current state is the to-state of its latest transition (the legacy task in_progress
//     read as steps_in_process; states compared case-insensitively after trimming, as §4
//     does). "Latest in telemetry time" is the order the components restore (§5): the
//     simulator's causal order, which with a --worker-skew under max_clock_skew is that order.
//   - It entered its current state at the telemetry time (on its service's clock) of the
//     earliest transition of the longest tail of its log in which every transition goes into
//     that state and every one but the first is a move from the state to itself. So a
//     self-move (from == to, compared like states) does not restart the time, a move into the
//     state from another state does (X→S, Y→S: since the second), and a self-move that does
//     not follow a transition into the state (a gap) starts it.
//   - in_state counts the live entities per (job, namespace, state); oldest_in_state_since is
//     the smallest entry time among them, in unix seconds. Finished entities give no series:
//     Prometheus may still show an in_state series at 0 (§7 allows it), never one for a
//     terminal state, and no oldest_in_state_since series where nothing is live.
//   - A step's outcome is decided, once, at the earlier of: its first transition into
//     complete, cancelled or resolved_manually (outcome: that state), whenever it comes, even
//     after its task ended; and the moment its task first reaches a terminal state (the
//     earliest terminal transition of the task's log), if the step is then in error (outcome
//     error). "Then" compares telemetry times across the two entities: the step's latest
//     transition at or before the task's terminal one (a tie counts as before). A step in any
//     other state when its task ends (a pending step of a cancelled task) gets no outcome,
//     and neither does a step whose task never ends in the log.
//   - completion_duration runs from the step's start, the earliest transition with no
//     from-state (none or empty) if the log has one, else its earliest transition, to the
//     deciding transition (for error, the latest transition into error at or before the
//     task's end); a negative difference (clock skew) counts as 0, as for task completion.
//   - attempt_count is the number of claims (transitions into in_progress) in the step's log
//     up to and including the deciding transition: the ordinal of its last attempt, as the
//     simulator sends no attempt_number. A claim after the outcome (a move out of complete)
//     does not count; a lost claim (never sent) does not either, so a step whose only claim
//     was lost counts 0.
//   - handler_name is the step's handler if some span sent for the step carries it (its
//     step_uuid and a step_name: the worker's worker.step_execution); a step never claimed
//     has no such span, and its handler is unknown. namespace is the task's: every task's
//     spans carry it, so it is always learned.
//   - Nothing leaves the log early: the ground truth is the components' view when no entity
//     was evicted (idle_ttl, capacity), as in the end-to-end runs, which last minutes and
//     track a few hundred entities.
func (t *Truth) addLiveState(p *Plan, base time.Time) {
	skew := p.Opts.WorkerSkew
	unix := func(d time.Duration) float64 {
		at := base.Add(d)
		return float64(at.Unix()) + float64(at.Nanosecond())/1e9
	}
	handlers := learnedHandlers(p)
	counts := map[string]map[string]*GaugeSeries{MetricTaskInState: {}, MetricStepInState: {}}
	oldest := map[string]map[string]*GaugeSeries{MetricTaskOldestInState: {}, MetricStepOldestInState: {}}
	live := func(countMetric, oldestMetric string, e liveEntity, ns string) {
		l := map[string]string{"job": e.service, "namespace": ns, "state": e.state}
		k := labelKey(l)
		if counts[countMetric][k] == nil {
			counts[countMetric][k] = &GaugeSeries{Labels: l}
		}
		counts[countMetric][k].Value++
		since := unix(e.since)
		if o := oldest[oldestMetric][k]; o == nil || since < o.Value {
			oldest[oldestMetric][k] = &GaugeSeries{Labels: l, Value: since}
		}
	}
	hists := map[string]histAcc{MetricStepCompletion: {}, MetricStepAttemptCount: {}}
	for _, task := range p.Tasks {
		if task.InFlight != "" {
			t.InFlight++
		}
		taskLog := entityLog(task.Transitions)
		if e, ok := liveOf(KindTask, taskLog, skew); ok {
			live(MetricTaskInState, MetricTaskOldestInState, e, task.Namespace)
		}
		if movesOutOfTerminal(KindTask, taskLog) {
			t.Injected.OutOfTerminal++
		}
		taskEnd := firstTerminal(KindTask, taskLog)
		unfinished := false
		for _, s := range task.Steps {
			stepLog := entityLog(s.Transitions)
			if movesOutOfTerminal(KindStep, stepLog) {
				t.Injected.OutOfTerminal++
			}
			if e, ok := liveOf(KindStep, stepLog, skew); ok {
				unfinished = true
				if taskEnd == nil {
					live(MetricStepInState, MetricStepOldestInState, e, task.Namespace)
				}
			}
			o, ok := stepOutcomeOf(stepLog, taskEnd, skew)
			if !ok {
				continue
			}
			handler := "unknown"
			if handlers[s.UUID] {
				handler = s.Name
			}
			l := map[string]string{"namespace": task.Namespace, "handler_name": handler, "outcome": o.outcome}
			hists[MetricStepCompletion].observe(l, o.duration)
			hists[MetricStepAttemptCount].observeBuckets(l, float64(o.attempts), StepAttemptCountBuckets)
		}
		if unfinished && taskEnd != nil && normState(taskEnd.To) == "cancelled" {
			t.Injected.CancelledWithUnfinishedSteps++
		}
	}
	if t.Gauges == nil {
		t.Gauges = map[string][]GaugeSeries{}
	}
	for m, acc := range counts {
		t.Gauges[m] = sortedSeries(acc)
	}
	for m, acc := range oldest {
		t.Gauges[m] = sortedSeries(acc)
	}
	for m, acc := range hists {
		t.Histograms[m] = sortedSeries(acc)
	}
}

// movesOutOfTerminal reports whether a log has a transition into a non-terminal state after
// its first one into a terminal state (invalid: nothing leaves a terminal state).
func movesOutOfTerminal(kind string, log []*Transition) bool {
	end := firstTerminal(kind, log)
	if end == nil {
		return false
	}
	for _, tr := range log {
		if tr.At > end.At && !Terminal(kind, tr.To) {
			return true
		}
	}
	return false
}

// liveEntity is an entity live at the end of the run: its state, when it entered it (plan
// time on its service's clock) and the service of its latest transition.
type liveEntity struct {
	state, service string
	since          time.Duration
}

// currentState is the state an entity is in after a transition into to.
func currentState(kind, to string) string {
	if kind == KindTask {
		return taskValidityState(to)
	}
	return normState(to)
}

// Terminal reports whether state is a terminal state of the kind's machine (§1, §2; a step's error is not).
func Terminal(kind, state string) bool {
	if kind == KindTask {
		return taskTerminal[currentState(kind, state)]
	}
	return stepTerminal[currentState(kind, state)]
}

// firstTerminal returns the earliest transition of a log into a terminal state, or nil.
func firstTerminal(kind string, log []*Transition) *Transition {
	for _, tr := range log {
		if Terminal(kind, tr.To) {
			return tr
		}
	}
	return nil
}

// liveOf reports whether an entity with this log is live (on its own: a step's task is the
// caller's business), and if so its state, entry time and service.
func liveOf(kind string, log []*Transition, skew time.Duration) (liveEntity, bool) {
	if len(log) == 0 || firstTerminal(kind, log) != nil {
		return liveEntity{}, false
	}
	last := log[len(log)-1]
	state := currentState(kind, last.To)
	i := len(log) - 1
	for i > 0 && !isNone(log[i].From) && currentState(kind, log[i].From) == state && currentState(kind, log[i-1].To) == state {
		i--
	}
	return liveEntity{state: state, service: last.Carrier.Service, since: log[i].shownAt(skew)}, true
}

// stepOutcome is a step's decided outcome, its end-to-end time in seconds and its attempts.
type stepOutcome struct {
	outcome  string
	duration float64
	attempts int
}

// stepOutcomeOf decides a step's outcome from its log and its task's earliest terminal
// transition (nil if the task has none), as the comment on addLiveState reads §7.
func stepOutcomeOf(log []*Transition, taskEnd *Transition, skew time.Duration) (stepOutcome, bool) {
	if len(log) == 0 {
		return stepOutcome{}, false
	}
	start := log[0]
	for _, tr := range log {
		if isNone(tr.From) {
			start = tr
			break
		}
	}
	decided := func(by *Transition, outcome string, claims int) (stepOutcome, bool) {
		d := max(0, by.shownAt(skew)-start.shownAt(skew))
		return stepOutcome{outcome: outcome, duration: seconds(d), attempts: claims}, true
	}
	claims := 0
	var intoError *Transition // the latest transition into error, while the step is in error
	for _, tr := range log {
		if taskEnd != nil && tr.shownAt(skew) > taskEnd.shownAt(skew) && intoError != nil {
			return decided(intoError, "error", claims)
		}
		to := normState(tr.To)
		if to == "in_progress" {
			claims++
		}
		switch to {
		case "complete", "cancelled", "resolved_manually":
			return decided(tr, to, claims)
		case "error":
			intoError = tr
		default:
			intoError = nil
		}
	}
	if taskEnd != nil && intoError != nil {
		return decided(intoError, "error", claims)
	}
	return stepOutcome{}, false
}

// learnedHandlers returns the steps whose handler some sent span names: a span with the
// step's step_uuid and a step_name (or handler_name).
func learnedHandlers(p *Plan) map[string]bool {
	out := map[string]bool{}
	for _, s := range p.Spans {
		var id string
		named := false
		for _, a := range s.Attrs {
			switch string(a.Key) {
			case "step_uuid", "workflow_step_uuid":
				id = a.Value.AsString()
			case "step_name", "handler_name":
				named = true
			}
		}
		if id != "" && named {
			out[id] = true
		}
	}
	return out
}

// observeBuckets observes v into a histogram series that also keeps cumulative bucket counts
// by upper bound (as Prometheus's le label: "0", "1", ..., "+Inf").
func (h histAcc) observeBuckets(l map[string]string, v float64, bounds []float64) {
	h.observe(l, v)
	s := h[labelKey(l)]
	if s.Buckets == nil {
		s.Buckets = map[string]uint64{}
		for _, b := range bounds {
			s.Buckets[strconv.FormatFloat(b, 'g', -1, 64)] = 0
		}
		s.Buckets[stepAttemptCountInfinity] = 0
	}
	for _, b := range bounds {
		if v <= b {
			s.Buckets[strconv.FormatFloat(b, 'g', -1, 64)]++
		}
	}
	s.Buckets[stepAttemptCountInfinity]++
}

// LiveStates returns the states in which the ground truth has live entities of a kind.
func (t *Truth) LiveStates(kind string) []string {
	m := MetricTaskInState
	if kind == KindStep {
		m = MetricStepInState
	}
	set := map[string]bool{}
	for _, g := range t.Gauges[m] {
		set[g.Labels["state"]] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
