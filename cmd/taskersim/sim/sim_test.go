package sim

import (
	"encoding/json"
	"maps"
	"testing"
	"time"
)

func testOptions(seed uint64) Options {
	o := DefaultOptions()
	o.Seed, o.Tasks, o.Rate, o.Speed = seed, 60, 10, 20
	return o
}

func TestSameSeedSameTruth(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	run := func(seed uint64) string {
		p, err := NewPlan(testOptions(seed))
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(ComputeTruth(p, base))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if run(7) != run(7) {
		t.Fatal("the same seed gave two different ground truths")
	}
	if run(7) == run(8) {
		t.Fatal("two seeds gave the same ground truth")
	}
}

// Without injected faults every transition the simulator plans is allowed by the state
// machines of docs/telemetry.md §1–§2: the simulated Tasker behaves.
func TestNormalFlowsAreValid(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		o := testOptions(seed)
		o.InvalidRate = 0
		p, err := NewPlan(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range p.Transitions {
			if !Valid(tr.Kind, tr.From, tr.To) {
				t.Fatalf("seed %d: task %d (%s, fate %s): invalid %s %s -> %s", seed, tr.Task.Index, tr.Task.Namespace, tr.Task.Fate, tr.Kind, tr.From, tr.To)
			}
		}
	}
}

func TestFatesEndAsPlanned(t *testing.T) {
	p, err := NewPlan(testOptions(3))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range p.Tasks {
		want := map[string][]string{
			FateNormal:      {"complete", "blocked_by_failures", "error"}, // random failures may exhaust retries
			FateFlaky:       {"complete", "error"},
			FateCancel:      {"cancelled", "complete"}, // a short task may finish before the cancel
			FateFailError:   {"error"},
			FateFailResolve: {"resolved_manually"},
		}[task.Fate]
		if !contains(want, task.state) {
			t.Errorf("task %d fate %s ended %s, want one of %v", task.Index, task.Fate, task.state, want)
		}
	}
}

func TestTruthAccountsForFaults(t *testing.T) {
	o := testOptions(5)
	o.DuplicateRate, o.LateRate, o.InvalidRate = 0.05, 0.05, 0.2
	p, err := NewPlan(o)
	if err != nil {
		t.Fatal(err)
	}
	tr := ComputeTruth(p, time.Unix(1_700_000_000, 0))
	var dups, originals, invalid int
	for _, x := range p.Transitions {
		if x.Duplicate {
			dups++
			continue
		}
		originals++
		if !Valid(x.Kind, x.From, x.To) {
			invalid++
		}
	}
	if dups == 0 || invalid == 0 || tr.Injected.Late == 0 {
		t.Fatalf("faults not injected: %d duplicates, %d invalid, %d late", dups, invalid, tr.Injected.Late)
	}
	if got := tr.CounterTotal(MetricTaskTransitions) + tr.CounterTotal(MetricStepTransitions); int(got) != originals {
		t.Errorf("transitions counted %v, want %d (duplicates must not count)", got, originals)
	}
	if got := tr.CounterTotal(MetricInvalidTransitions); int(got) != invalid {
		t.Errorf("invalid counted %v, want %d", got, invalid)
	}
	if tr.Injected.Duplicates != dups || tr.Injected.Invalid != invalid {
		t.Errorf("injected %+v, want %d duplicates and %d invalid", tr.Injected, dups, invalid)
	}
	if len(tr.Carriers) != len(p.Transitions) {
		t.Errorf("%d carriers for %d transitions", len(tr.Carriers), len(p.Transitions))
	}
	// Every task ends, so every task has a completion.
	var completions uint64
	for _, h := range tr.Histograms[MetricTaskCompletion] {
		completions += h.Count
		if h.Sum <= 0 {
			t.Errorf("completion %v has a non-positive sum %v", h.Labels, h.Sum)
		}
	}
	if int(completions) != len(p.Tasks) {
		t.Errorf("%d completions for %d tasks", completions, len(p.Tasks))
	}
	for _, m := range []string{MetricTaskStateDuration, MetricStepStateDuration} {
		if len(tr.Histograms[m]) == 0 {
			t.Errorf("%s has no series", m)
		}
		for _, h := range tr.Histograms[m] {
			if h.Sum < 0 {
				t.Errorf("%s %v: negative sum", m, h.Labels)
			}
		}
	}
	if len(tr.Counters[MetricStepAttempts]) == 0 {
		t.Error("no step attempts")
	}
}

// Each entity's transitions are strictly ordered in time, and every span is sent only after it
// ended (in telemetry time mapped to wall time), so the telemetry is never from the future.
func TestTimesAreOrderedAndPast(t *testing.T) {
	o := testOptions(9)
	p, err := NewPlan(o)
	if err != nil {
		t.Fatal(err)
	}
	check := func(trs []*Transition) {
		var last time.Duration = -1
		for _, x := range entityLog(trs) {
			if x.At <= last {
				t.Fatalf("entity %s: %s -> %s at %v not after %v", x.EntityID(), x.From, x.To, x.At, last)
			}
			last = x.At
		}
	}
	for _, task := range p.Tasks {
		check(task.Transitions)
		for _, s := range task.Steps {
			check(s.Transitions)
		}
	}
	for _, s := range p.Spans {
		if s.End < s.Start {
			t.Fatalf("span %s ends before it starts", s.Name)
		}
		if wall := time.Duration(float64(s.End) / o.Speed); s.EmitAt < wall {
			t.Fatalf("span %s sent at %v before it ended (%v)", s.Name, s.EmitAt, wall)
		}
	}
}

func TestEventNameTable(t *testing.T) {
	cases := []struct{ kind, from, to, want string }{
		{KindStep, "enqueued", "in_progress", "step.execution_requested"},
		{KindStep, "pending", "in_progress", "step.handle"},
		{KindStep, "none", "pending", ""},
		{KindStep, "error", "pending", "step.retry_requested"},
		{KindTask, "evaluating_results", "enqueuing_steps", ""},
		{KindTask, "", "waiting_for_dependencies", "task.awaiting_dependencies"},
		{KindTask, "pending", "in_progress", "task.started"},
	}
	for _, c := range cases {
		if got := EventName(c.kind, c.from, c.to); got != c.want {
			t.Errorf("%s %s -> %s: %q, want %q", c.kind, c.from, c.to, got, c.want)
		}
	}
	if Valid(KindTask, "complete", "error") || !Valid(KindTask, "blocked_by_failures", "error") || !Valid(KindStep, "complete", "resolved_manually") || Valid(KindStep, "enqueued", "enqueued_for_orchestration") {
		t.Error("validity table disagrees with docs/telemetry.md §1–§2")
	}
}

func TestParseFates(t *testing.T) {
	deck, err := ParseFates(DefaultFates)
	if err != nil {
		t.Fatal(err)
	}
	count := func(d []string) map[string]int {
		m := map[string]int{}
		for _, f := range d {
			m[f]++
		}
		return m
	}
	if got, want := count(deck), count(fateDeck); !maps.Equal(got, want) {
		t.Errorf("DefaultFates deals %v, the default deck is %v", got, want)
	}
	for _, bad := range []string{"", "normal", "normal=x", "normal=-1", "normal=1,normal=2", "doomed=1", "normal=0"} {
		if _, err := ParseFates(bad); err == nil {
			t.Errorf("ParseFates(%q) accepted", bad)
		}
	}
}

func TestFateDeckIsDealt(t *testing.T) {
	o := testOptions(5)
	o.FateDeck = []string{FateCancel, FateNormal, FateNormal}
	p, err := NewPlan(o)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, task := range p.Tasks {
		n[task.Fate]++
	}
	if want := map[string]int{FateCancel: o.Tasks / 3, FateNormal: 2 * o.Tasks / 3}; !maps.Equal(n, want) {
		t.Errorf("fates dealt %v, want %v", n, want)
	}
	o.FateDeck = []string{}
	if _, err := NewPlan(o); err == nil {
		t.Error("an empty deck was accepted")
	}
}
