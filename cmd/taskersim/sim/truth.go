package sim

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Prometheus names of the metrics of docs/telemetry.md §7, as the collector's prometheus
// exporter spells them with its default naming.
const (
	MetricTaskTransitions    = "tasker_task_state_transitions_total"
	MetricStepTransitions    = "tasker_step_state_transitions_total"
	MetricStepAttempts       = "tasker_step_attempts_total"
	MetricInvalidTransitions = "tasker_transitions_invalid_total"
	MetricTaskStateDuration  = "tasker_task_state_duration_seconds"
	MetricStepStateDuration  = "tasker_step_state_duration_seconds"
	MetricTaskCompletion     = "tasker_task_completion_duration_seconds"
)

// CounterSeries is the expected value of one counter series (labels as Prometheus shows them;
// a label with no value is left out).
type CounterSeries struct {
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

// HistogramSeries is the expected count and sum (seconds) of one histogram series, and for a
// histogram whose bounds the contract fixes (tasker.step.attempt_count) the cumulative count
// per bucket, by the upper bound as Prometheus's le label spells it.
type HistogramSeries struct {
	Labels  map[string]string `json:"labels"`
	Count   uint64            `json:"count"`
	Sum     float64           `json:"sum"`
	Buckets map[string]uint64 `json:"buckets,omitempty"`
}

// Carrier is one transition as sent (span or event) with what the processor should stamp on
// it. Durations are set only where a preceding transition chains onto it (state) or on a
// task's first terminal transition (task); whether the processor knew them at pass time
// depends on arrival order, so a consumer checks them only where they are present.
type Carrier struct {
	TraceID   string `json:"trace_id"`
	SpanID    string `json:"span_id"`
	Service   string `json:"service"`
	Event     bool   `json:"event"`
	TimeNanos int64  `json:"time_unix_nano"`
	Kind      string `json:"kind"`
	EntityID  string `json:"entity_id"`
	Namespace string `json:"namespace"`
	From      string `json:"from_state"`
	To        string `json:"to_state"`
	EventName string `json:"event_name,omitempty"`
	Invalid   bool   `json:"invalid,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	// EntityLate: some carrier of this entity was sent late, so pass-time stamps may differ.
	EntityLate bool `json:"entity_late,omitempty"`
	// NamespaceKnown: the processor must know the namespace when this carrier passes: the
	// carrier or its enclosing span carries it, or a span that does was sent well before
	// (a parent span ends, and is sent, after its children).
	NamespaceKnown bool `json:"namespace_known,omitempty"`
	// Attempt is the ordinal of the attempt a claim opens (claims only).
	Attempt       int      `json:"attempt,omitempty"`
	StateDuration *float64 `json:"state_duration,omitempty"`
	TaskDuration  *float64 `json:"task_duration,omitempty"`
}

// Truth is the ground truth of one run: what the connector must derive (counters and
// histograms, keyed by Prometheus metric name) and what Jaeger must hold.
type Truth struct {
	Seed     uint64    `json:"seed"`
	Tasks    int       `json:"tasks"`
	Shape    string    `json:"shape"`
	Start    time.Time `json:"telemetry_start"`
	End      time.Time `json:"telemetry_end"`
	Injected struct {
		Invalid    int `json:"invalid"`
		Duplicates int `json:"duplicates"`
		Late       int `json:"late_carriers"`
		// SkewClamped counts times in a state whose gap, on the two services' clocks, is
		// negative and so counts as 0.
		SkewClamped int `json:"skew_clamped"`
		// OutOfTerminal counts entities with a move out of a terminal state (into a
		// non-terminal one, after their first terminal transition).
		OutOfTerminal int `json:"out_of_terminal"`
		// CancelledWithUnfinishedSteps counts cancelled tasks with a step that reached no
		// terminal state of its own.
		CancelledWithUnfinishedSteps int `json:"cancelled_with_unfinished_steps"`
	} `json:"injected"`
	Fates          map[string]int               `json:"fates"`
	Counters       map[string][]CounterSeries   `json:"counters"`
	Histograms     map[string][]HistogramSeries `json:"histograms"`
	SpanCount      int                          `json:"span_count"`
	SpansByService map[string]int               `json:"spans_by_service"`
	TraceSpans     map[string]int               `json:"trace_spans"`
	// ServiceTraces counts, per service, the traces that hold at least one of its spans.
	ServiceTraces map[string]int `json:"service_traces"`
	Carriers      []Carrier      `json:"carriers"`
	// Gauges are the live-state gauges at the end of the run, by Prometheus metric name (see
	// addLiveState); InFlight counts the tasks left unfinished (--in-flight-rate).
	Gauges   map[string][]GaugeSeries `json:"gauges"`
	InFlight int                      `json:"in_flight_tasks"`
}

type counterAcc map[string]*CounterSeries
type histAcc map[string]*HistogramSeries

func labelKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + l[k] + ",")
	}
	return b.String()
}

func (c counterAcc) add(l map[string]string, v float64) {
	k := labelKey(l)
	if c[k] == nil {
		c[k] = &CounterSeries{Labels: l}
	}
	c[k].Value += v
}

func (h histAcc) observe(l map[string]string, v float64) {
	k := labelKey(l)
	if h[k] == nil {
		h[k] = &HistogramSeries{Labels: l}
	}
	h[k].Count++
	h[k].Sum += v
}

func fromLabel(from string) string {
	if isNone(from) {
		return noneState
	}
	return from
}

func transitionLabels(ns string, tr *Transition) map[string]string {
	l := map[string]string{"namespace": ns, "from_state": fromLabel(tr.From), "to_state": tr.To}
	if n := EventName(tr.Kind, tr.From, tr.To); n != "" {
		l["event_name"] = n
	}
	return l
}

// durationState is the state label of a time in state: the legacy task in_progress counts as
// steps_in_process (§1).
func durationState(kind, s string) string {
	if kind == KindTask {
		return taskValidityState(s)
	}
	return normState(s)
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// entityLog returns an entity's non-duplicate transitions in telemetry order.
func entityLog(trs []*Transition) []*Transition {
	var out []*Transition
	for _, tr := range trs {
		if !tr.Duplicate {
			out = append(out, tr)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

type stamps struct {
	attempt  int
	state    *float64
	taskDone *float64
}

// derive computes, from one entity's log, every fact of §5/§7 and the stamps of each
// transition, adding the facts to the accumulators.
// Times are taken on each service's clock (skew), in the entity's causal order, which the
// components recover (§5: a transition from another service less than max_clock_skew later
// moves up); a negative gap counts as 0. clamped counts those.
func derive(kind, ns, handler string, log []*Transition, skew time.Duration, clamped *int, counters map[string]counterAcc, hists map[string]histAcc) map[*Transition]stamps {
	st := map[*Transition]stamps{}
	trMetric, durMetric := MetricTaskTransitions, MetricTaskStateDuration
	if kind == KindStep {
		trMetric, durMetric = MetricStepTransitions, MetricStepStateDuration
	}
	for i, tr := range log {
		counters[trMetric].add(transitionLabels(ns, tr), 1)
		if !Valid(kind, tr.From, tr.To) {
			counters[MetricInvalidTransitions].add(map[string]string{"entity": kind, "from_state": fromLabel(tr.From), "to_state": tr.To}, 1)
		}
		if i > 0 && !isNone(tr.From) && durationState(kind, log[i-1].To) == durationState(kind, tr.From) {
			gap := tr.shownAt(skew) - log[i-1].shownAt(skew)
			if gap < 0 {
				gap = 0
				*clamped++
			}
			v := seconds(gap)
			hists[durMetric].observe(map[string]string{"state": durationState(kind, tr.From), "namespace": ns}, v)
			s := st[tr]
			s.state = &v
			st[tr] = s
		}
	}
	if kind == KindTask {
		var start *Transition
		for _, tr := range log {
			if isNone(tr.From) {
				start = tr
				break
			}
		}
		if start == nil {
			for _, tr := range log {
				if normState(tr.From) == "pending" && normState(tr.To) == "initializing" {
					start = tr
					break
				}
			}
		}
		for _, tr := range log {
			if taskTerminal[taskValidityState(tr.To)] {
				if start != nil {
					v := seconds(max(0, tr.shownAt(skew)-start.shownAt(skew)))
					hists[MetricTaskCompletion].observe(map[string]string{"namespace": ns, "outcome": normState(tr.To)}, v)
					s := st[tr]
					s.taskDone = &v
					st[tr] = s
				}
				break
			}
		}
		return st
	}
	claims, open := 0, 0
	for _, tr := range log {
		if normState(tr.To) == "in_progress" {
			claims++
			open = claims // a claim while one is open abandons it
			s := st[tr]
			s.attempt = claims
			st[tr] = s
			continue
		}
		if out := attemptOutcome(tr.To); out != "" && open > 0 {
			counters[MetricStepAttempts].add(map[string]string{
				"handler_name": handler, "namespace": ns, "outcome": out, "attempt_number": strconv.Itoa(open),
			}, 1)
			open = 0
		}
	}
	return st
}

// ComputeTruth computes the ground truth of a plan whose simulated time 0 is base.
func ComputeTruth(p *Plan, base time.Time) *Truth {
	t := &Truth{
		Seed: p.Opts.Seed, Tasks: len(p.Tasks), Shape: p.Opts.Shape,
		Start: base, End: base.Add(p.Span),
		Fates: map[string]int{}, Counters: map[string][]CounterSeries{}, Histograms: map[string][]HistogramSeries{},
		SpansByService: map[string]int{}, TraceSpans: map[string]int{}, ServiceTraces: map[string]int{},
	}
	counters := map[string]counterAcc{}
	for _, m := range []string{MetricTaskTransitions, MetricStepTransitions, MetricStepAttempts, MetricInvalidTransitions} {
		counters[m] = counterAcc{}
	}
	hists := map[string]histAcc{}
	for _, m := range []string{MetricTaskStateDuration, MetricStepStateDuration, MetricTaskCompletion} {
		hists[m] = histAcc{}
	}
	allStamps := map[*Transition]stamps{}
	late := map[string]bool{}
	for _, tr := range p.Transitions {
		if tr.Carrier.Late {
			late[tr.EntityID()] = true
		}
	}
	for _, task := range p.Tasks {
		t.Fates[task.Fate]++
		for k, v := range derive(KindTask, task.Namespace, "", entityLog(task.Transitions), p.Opts.WorkerSkew, &t.Injected.SkewClamped, counters, hists) {
			allStamps[k] = v
		}
		for _, s := range task.Steps {
			for k, v := range derive(KindStep, task.Namespace, s.Name, entityLog(s.Transitions), p.Opts.WorkerSkew, &t.Injected.SkewClamped, counters, hists) {
				allStamps[k] = v
			}
		}
	}
	for m, acc := range counters {
		t.Counters[m] = sortedSeries(acc)
	}
	for m, acc := range hists {
		t.Histograms[m] = sortedSeries(acc)
	}
	t.addLiveState(p, base)
	seen := map[string]bool{}
	for _, s := range p.Spans {
		if k := s.Service + "/" + hex.EncodeToString(s.TraceID[:]); !seen[k] {
			seen[k] = true
			t.ServiceTraces[s.Service]++
		}
		t.SpanCount++
		t.SpansByService[s.Service]++
		t.TraceSpans[hex.EncodeToString(s.TraceID[:])]++
		if s.Late {
			t.Injected.Late++
		}
	}
	// When the processor has surely seen a span with a task's namespace before a carrier: one
	// handed earlier to the same service instance's exporter (which sends in order), or one
	// from another instance sent well before (a margin for both sides' batching).
	const batchMargin = time.Second
	type nsSeen struct {
		first map[string]int // per service instance, the send order of the first span with it
		at    time.Duration  // the earliest send time of any span with it
	}
	ns := map[*Task]*nsSeen{}
	order := map[*Span]int{}
	for i, s := range p.Spans {
		order[s] = i
		if !hasAttr(s, "namespace") {
			continue
		}
		n := ns[s.task]
		if n == nil {
			n = &nsSeen{first: map[string]int{}, at: s.EmitAt}
			ns[s.task] = n
		}
		key := fmt.Sprintf("%s/%d", s.Service, s.Instance)
		if _, ok := n.first[key]; !ok {
			n.first[key] = i
		}
	}
	nsKnown := func(tr *Transition) bool {
		c := tr.Carrier
		if hasAttr(c, "namespace") || (!tr.AsSpan && hasAttr(tr.Home, "namespace")) {
			return true
		}
		n := ns[tr.Task]
		if n == nil {
			return false
		}
		if i, ok := n.first[fmt.Sprintf("%s/%d", c.Service, c.Instance)]; ok && i < order[c] {
			return true
		}
		return n.at+batchMargin <= c.EmitAt
	}
	for _, tr := range p.Transitions {
		src := tr
		if tr.Duplicate {
			t.Injected.Duplicates++
			src = tr.orig
		} else if !Valid(tr.Kind, tr.From, tr.To) {
			t.Injected.Invalid++
		}
		st := allStamps[src]
		c := Carrier{
			TraceID: hex.EncodeToString(tr.Carrier.TraceID[:]), SpanID: hex.EncodeToString(tr.Carrier.SpanID[:]),
			Service: tr.Carrier.Service, Event: !tr.AsSpan, TimeNanos: base.Add(tr.shownAt(p.Opts.WorkerSkew)).UnixNano(),
			Kind: tr.Kind, EntityID: tr.EntityID(), Namespace: tr.Task.Namespace,
			From: fromLabel(tr.From), To: tr.To, EventName: EventName(tr.Kind, tr.From, tr.To),
			Invalid: !Valid(tr.Kind, tr.From, tr.To), Duplicate: tr.Duplicate, EntityLate: late[tr.EntityID()],
			Attempt: st.attempt, StateDuration: st.state, TaskDuration: st.taskDone,
		}
		c.NamespaceKnown = nsKnown(tr)
		t.Carriers = append(t.Carriers, c)
	}
	return t
}

// sortedSeries returns an accumulator's series in the order of their keys.
func sortedSeries[S any](acc map[string]*S) []S {
	keys := make([]string, 0, len(acc))
	for k := range acc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]S, 0, len(keys))
	for _, k := range keys {
		out = append(out, *acc[k])
	}
	return out
}

// CounterTotal sums a counter's series.
func (t *Truth) CounterTotal(metric string) float64 {
	var s float64
	for _, c := range t.Counters[metric] {
		s += c.Value
	}
	return s
}

func hasAttr(s *Span, key string) bool {
	for _, a := range s.Attrs {
		if string(a.Key) == key {
			return true
		}
	}
	return false
}
