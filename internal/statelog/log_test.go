package statelog

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

// Every expected value below is worked out by hand from the fixed timestamps, following
// docs/telemetry.md §5–§7. Times are microsecond offsets from t0.

const t0 = int64(1_700_000_000) * 1e9 // ns

func at(us int64) pcommon.Timestamp { return pcommon.Timestamp(t0 + us*1000) }

var (
	orch = transition.Source{Service: "tasker-orchestration", Instance: "o-1"}
	wrk  = transition.Source{Service: "tasker-worker", Instance: "w-1"}
)

// tr is a compact transition for the tables.
type tr struct {
	kind     tasker.Kind
	id, task string
	from, to string
	us       int64
	src      transition.Source
	ns, h    string
	attempt  int64
}

func (x tr) T() transition.Transition {
	t := transition.Transition{
		Kind: x.kind, ID: x.id, TaskID: x.task, From: tasker.ParseState(x.from), To: tasker.ParseState(x.to),
		Time: at(x.us), Source: x.src, Namespace: x.ns, Handler: x.h, Attempt: x.attempt,
	}
	if x.kind == tasker.KindTask {
		t.TaskID = x.id
	}
	return t
}

func task(id, from, to string, us int64, ns string) tr {
	return tr{kind: tasker.KindTask, id: id, from: from, to: to, us: us, src: orch, ns: ns}
}

// stepO is an orchestration-side step transition: Tasker's step events carry no namespace,
// and orchestration spans no handler.
func stepO(id, taskID, from, to string, us int64) tr {
	return tr{kind: tasker.KindStep, id: id, task: taskID, from: from, to: to, us: us, src: orch}
}

// stepW is a worker-side step transition: the extractor borrowed namespace and handler from
// worker.step_execution.
func stepW(id, taskID, from, to string, us int64, ns, h string) tr {
	return tr{kind: tasker.KindStep, id: id, task: taskID, from: from, to: to, us: us, src: wrk, ns: ns, h: h}
}

// recorder keeps the facts as strings; step outcomes (§7 Step outcomes across retries) apart,
// in outcomes, so that each test checks the facts it is about.
type recorder struct{ facts, outcomes []string }

func (r *recorder) Fact(f *Fact[struct{}]) {
	id := f.ID()
	var s string
	switch f.Type {
	case FactTransition:
		s = fmt.Sprintf("T %s %s %s>%s ev=%s inv=%v ns=%s h=%s", f.Kind, id, f.From, f.To, f.Event, f.Invalid, f.Namespace, f.Handler)
	case FactStateDuration:
		if f.Seconds < 0 {
			panic(fmt.Sprintf("negative duration %v", f.Seconds)) // durations are never negative (§5)
		}
		s = fmt.Sprintf("D %s %s %s %.6f ns=%s h=%s", f.Kind, id, f.State, f.Seconds, f.Namespace, f.Handler)
	case FactAttempt:
		s = fmt.Sprintf("A %s #%d %s ns=%s h=%s", id, f.Ordinal, f.Outcome, f.Namespace, f.Handler)
	case FactCompletion:
		s = fmt.Sprintf("C %s %s %.6f ns=%s", id, f.State, f.Seconds, f.Namespace)
	case FactStepOutcome:
		r.outcomes = append(r.outcomes, fmt.Sprintf("O %s %s %.6f attempts=%d ns=%s h=%s", id, f.Outcome, f.Seconds, f.Ordinal, f.Namespace, f.Handler))
		return
	}
	r.facts = append(r.facts, s)
}

func (r *recorder) take() []string {
	f := r.facts
	r.facts = nil
	return f
}

func (r *recorder) of(prefix string) []string {
	var out []string
	for _, f := range r.facts {
		if strings.HasPrefix(f, prefix) {
			out = append(out, f)
		}
	}
	return out
}

func defaultTiming() Timing { return Timing{SettleWindow: 30 * time.Second, MaxClockSkew: time.Second} }

func newLog(t testing.TB, lim Limits, tm Timing) (*Log[struct{}], *recorder, *clockwork.FakeClock) {
	t.Helper()
	clk := clockwork.NewFakeClock()
	rec := &recorder{}
	return NewDeriving[struct{}](lim, tm, clk, rec), rec, clk
}

func add(l *Log[struct{}], xs ...tr) []Status {
	var st []Status
	for _, x := range xs {
		t := x.T()
		_, s := l.Add(&t, struct{}{})
		st = append(st, s)
	}
	return st
}

func sameMultiset(t *testing.T, label string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	sort.Strings(g)
	sort.Strings(w)
	if slices.Equal(g, w) {
		return
	}
	gm, wm := map[string]int{}, map[string]int{}
	for _, s := range g {
		gm[s]++
	}
	for _, s := range w {
		wm[s]++
	}
	var b strings.Builder
	for s, n := range wm {
		if gm[s] < n {
			fmt.Fprintf(&b, "\n  missing %dx %s", n-gm[s], s)
		}
	}
	for s, n := range gm {
		if wm[s] < n {
			fmt.Fprintf(&b, "\n  extra   %dx %s", n-wm[s], s)
		}
	}
	t.Errorf("%s: facts differ (got %d, want %d):%s", label, len(got), len(want), b.String())
}

// ---- The lifecycles -----------------------------------------------------------------------

// lifecycles: task A with three steps (s2 fails once and is retried) ends complete; task B
// goes blocked_by_failures → error; task C is cancelled. Returned in telemetry-time order.
func lifecycles() []tr {
	const pay, rep = "payments", "reports"
	xs := []tr{
		// Task A.
		task("A", "none", "pending", 0, pay),
		task("A", "pending", "initializing", 10_123, pay),
		task("A", "initializing", "enqueuing_steps", 20_000, pay),
		task("A", "enqueuing_steps", "steps_in_process", 50_000, pay),
		task("A", "steps_in_process", "waiting_for_retry", 450_000, pay),
		task("A", "waiting_for_retry", "enqueuing_steps", 1_450_000, pay),
		task("A", "enqueuing_steps", "steps_in_process", 1_460_000, pay),
		task("A", "steps_in_process", "evaluating_results", 2_000_000, pay),
		task("A", "evaluating_results", "complete", 2_010_500, pay),
		// Step s1: the §5 skew example. The orchestration's efo → complete is stamped 200 µs
		// before the worker's in_progress → efo it follows.
		stepO("s1", "A", "none", "pending", 30_000),
		stepO("s1", "A", "pending", "enqueued", 40_000),
		stepW("s1", "A", "enqueued", "in_progress", 100_250, pay, "validate"),
		stepW("s1", "A", "in_progress", "enqueued_for_orchestration", 350_000, pay, "validate"),
		stepO("s1", "A", "enqueued_for_orchestration", "complete", 349_800),
		// Step s2: attempt 1 fails, retried, attempt 2 succeeds.
		stepO("s2", "A", "none", "pending", 30_500),
		stepO("s2", "A", "pending", "enqueued", 41_000),
		stepW("s2", "A", "enqueued", "in_progress", 120_000, pay, "charge"),
		stepW("s2", "A", "in_progress", "enqueued_as_error_for_orchestration", 300_000, pay, "charge"),
		stepO("s2", "A", "enqueued_as_error_for_orchestration", "waiting_for_retry", 420_000),
		stepO("s2", "A", "waiting_for_retry", "pending", 1_440_000),
		stepO("s2", "A", "pending", "enqueued", 1_455_000),
		stepW("s2", "A", "enqueued", "in_progress", 1_500_000, pay, "charge"),
		stepW("s2", "A", "in_progress", "enqueued_for_orchestration", 1_800_000, pay, "charge"),
		stepO("s2", "A", "enqueued_for_orchestration", "complete", 1_900_000),
		// Step s3.
		stepO("s3", "A", "none", "pending", 31_000),
		stepO("s3", "A", "pending", "enqueued", 42_000),
		stepW("s3", "A", "enqueued", "in_progress", 200_000, pay, "notify"),
		stepW("s3", "A", "in_progress", "enqueued_for_orchestration", 260_000, pay, "notify"),
		stepO("s3", "A", "enqueued_for_orchestration", "complete", 400_000),
		// Task B: blocked_by_failures → error, with one failing step.
		task("B", "none", "pending", 5_000_000, rep),
		task("B", "pending", "initializing", 5_002_000, rep),
		task("B", "initializing", "enqueuing_steps", 5_004_500, rep),
		task("B", "enqueuing_steps", "steps_in_process", 5_010_000, rep),
		task("B", "steps_in_process", "blocked_by_failures", 6_000_000, rep),
		task("B", "blocked_by_failures", "error", 7_250_000, rep),
		stepO("sB1", "B", "none", "pending", 5_005_000),
		stepO("sB1", "B", "pending", "enqueued", 5_006_000),
		stepW("sB1", "B", "enqueued", "in_progress", 5_100_000, rep, "build_report"),
		stepW("sB1", "B", "in_progress", "error", 5_900_000, rep, "build_report"),
		// Task C: cancelled while waiting for dependencies; its step never ran (no handler).
		task("C", "none", "pending", 8_000_000, rep),
		task("C", "pending", "initializing", 8_001_000, rep),
		task("C", "initializing", "waiting_for_dependencies", 8_003_000, rep),
		task("C", "waiting_for_dependencies", "cancelled", 9_503_000, rep),
		stepO("sC1", "C", "none", "pending", 8_002_000),
		stepO("sC1", "C", "pending", "cancelled", 9_504_000),
	}
	sort.SliceStable(xs, func(i, j int) bool { return xs[i].us < xs[j].us })
	return xs
}

// lifecycleFacts is what the connector must derive from lifecycles(), by hand.
func lifecycleFacts() []string {
	return []string{
		// Task A: every transition once; event names by §3 (row 15 unused; waiting_for_retry →
		// enqueuing_steps has no name).
		"T task A none>pending ev= inv=false ns=payments h=",
		"T task A pending>initializing ev=task.initialize_requested inv=false ns=payments h=",
		"T task A initializing>enqueuing_steps ev=task.steps_discovery_completed inv=false ns=payments h=",
		"T task A enqueuing_steps>steps_in_process ev=task.steps_enqueued inv=false ns=payments h=",
		"T task A steps_in_process>waiting_for_retry ev=task.retry_backoff_started inv=false ns=payments h=",
		"T task A waiting_for_retry>enqueuing_steps ev= inv=false ns=payments h=",
		"T task A enqueuing_steps>steps_in_process ev=task.steps_enqueued inv=false ns=payments h=",
		"T task A steps_in_process>evaluating_results ev=task.step_results_received inv=false ns=payments h=",
		"T task A evaluating_results>complete ev=task.completed inv=false ns=payments h=",
		"D task A pending 0.010123 ns=payments h=",            // 10_123 − 0
		"D task A initializing 0.009877 ns=payments h=",       // 20_000 − 10_123
		"D task A enqueuing_steps 0.030000 ns=payments h=",    // 50_000 − 20_000
		"D task A steps_in_process 0.400000 ns=payments h=",   // 450_000 − 50_000
		"D task A waiting_for_retry 1.000000 ns=payments h=",  // 1_450_000 − 450_000
		"D task A enqueuing_steps 0.010000 ns=payments h=",    // 1_460_000 − 1_450_000
		"D task A steps_in_process 0.540000 ns=payments h=",   // 2_000_000 − 1_460_000
		"D task A evaluating_results 0.010500 ns=payments h=", // 2_010_500 − 2_000_000
		"C A complete 2.010500 ns=payments",                   // 2_010_500 − 0 (the none start)

		// s1: namespace of orchestration-side transitions learned from the task; handler
		// learned from the worker's.
		"T step s1 none>pending ev= inv=false ns=payments h=validate",
		"T step s1 pending>enqueued ev=step.enqueue_requested inv=false ns=payments h=validate",
		"T step s1 enqueued>in_progress ev=step.execution_requested inv=false ns=payments h=validate",
		"T step s1 in_progress>enqueued_for_orchestration ev=step.enqueued_for_orchestration inv=false ns=payments h=validate",
		"T step s1 enqueued_for_orchestration>complete ev=step.completed inv=false ns=payments h=validate",
		"D step s1 pending 0.010000 ns=payments h=validate",     // 40_000 − 30_000
		"D step s1 enqueued 0.060250 ns=payments h=validate",    // 100_250 − 40_000
		"D step s1 in_progress 0.249750 ns=payments h=validate", // 350_000 − 100_250 (chain fixed)
		// 349_800 − 350_000 < 0: counts as 0 (and as skew).
		"D step s1 enqueued_for_orchestration 0.000000 ns=payments h=validate",
		"A s1 #1 success ns=payments h=validate",

		"T step s2 none>pending ev= inv=false ns=payments h=charge",
		"T step s2 pending>enqueued ev=step.enqueue_requested inv=false ns=payments h=charge",
		"T step s2 enqueued>in_progress ev=step.execution_requested inv=false ns=payments h=charge",
		"T step s2 in_progress>enqueued_as_error_for_orchestration ev=step.enqueued_as_error_for_orchestration inv=false ns=payments h=charge",
		"T step s2 enqueued_as_error_for_orchestration>waiting_for_retry ev=step.retry_requested inv=false ns=payments h=charge",
		"T step s2 waiting_for_retry>pending ev=step.retry_requested inv=false ns=payments h=charge",
		"T step s2 pending>enqueued ev=step.enqueue_requested inv=false ns=payments h=charge",
		"T step s2 enqueued>in_progress ev=step.execution_requested inv=false ns=payments h=charge",
		"T step s2 in_progress>enqueued_for_orchestration ev=step.enqueued_for_orchestration inv=false ns=payments h=charge",
		"T step s2 enqueued_for_orchestration>complete ev=step.completed inv=false ns=payments h=charge",
		"D step s2 pending 0.010500 ns=payments h=charge",                             // 41_000 − 30_500
		"D step s2 enqueued 0.079000 ns=payments h=charge",                            // 120_000 − 41_000
		"D step s2 in_progress 0.180000 ns=payments h=charge",                         // 300_000 − 120_000
		"D step s2 enqueued_as_error_for_orchestration 0.120000 ns=payments h=charge", // 420_000 − 300_000
		"D step s2 waiting_for_retry 1.020000 ns=payments h=charge",                   // 1_440_000 − 420_000
		"D step s2 pending 0.015000 ns=payments h=charge",                             // 1_455_000 − 1_440_000
		"D step s2 enqueued 0.045000 ns=payments h=charge",                            // 1_500_000 − 1_455_000
		"D step s2 in_progress 0.300000 ns=payments h=charge",                         // 1_800_000 − 1_500_000
		"D step s2 enqueued_for_orchestration 0.100000 ns=payments h=charge",          // 1_900_000 − 1_800_000
		"A s2 #1 error ns=payments h=charge",                                          // closed by → waiting_for_retry
		"A s2 #2 success ns=payments h=charge",                                        // second claim; closed by → complete

		"T step s3 none>pending ev= inv=false ns=payments h=notify",
		"T step s3 pending>enqueued ev=step.enqueue_requested inv=false ns=payments h=notify",
		"T step s3 enqueued>in_progress ev=step.execution_requested inv=false ns=payments h=notify",
		"T step s3 in_progress>enqueued_for_orchestration ev=step.enqueued_for_orchestration inv=false ns=payments h=notify",
		"T step s3 enqueued_for_orchestration>complete ev=step.completed inv=false ns=payments h=notify",
		"D step s3 pending 0.011000 ns=payments h=notify",                    // 42_000 − 31_000
		"D step s3 enqueued 0.158000 ns=payments h=notify",                   // 200_000 − 42_000
		"D step s3 in_progress 0.060000 ns=payments h=notify",                // 260_000 − 200_000
		"D step s3 enqueued_for_orchestration 0.140000 ns=payments h=notify", // 400_000 − 260_000
		"A s3 #1 success ns=payments h=notify",

		"T task B none>pending ev= inv=false ns=reports h=",
		"T task B pending>initializing ev=task.initialize_requested inv=false ns=reports h=",
		"T task B initializing>enqueuing_steps ev=task.steps_discovery_completed inv=false ns=reports h=",
		"T task B enqueuing_steps>steps_in_process ev=task.steps_enqueued inv=false ns=reports h=",
		"T task B steps_in_process>blocked_by_failures ev=task.blocked_by_failures inv=false ns=reports h=",
		"T task B blocked_by_failures>error ev=task.failed inv=false ns=reports h=",
		"D task B pending 0.002000 ns=reports h=",             // 5_002_000 − 5_000_000
		"D task B initializing 0.002500 ns=reports h=",        // 5_004_500 − 5_002_000
		"D task B enqueuing_steps 0.005500 ns=reports h=",     // 5_010_000 − 5_004_500
		"D task B steps_in_process 0.990000 ns=reports h=",    // 6_000_000 − 5_010_000
		"D task B blocked_by_failures 1.250000 ns=reports h=", // 7_250_000 − 6_000_000
		"C B error 2.250000 ns=reports",                       // 7_250_000 − 5_000_000

		"T step sB1 none>pending ev= inv=false ns=reports h=build_report",
		"T step sB1 pending>enqueued ev=step.enqueue_requested inv=false ns=reports h=build_report",
		"T step sB1 enqueued>in_progress ev=step.execution_requested inv=false ns=reports h=build_report",
		"T step sB1 in_progress>error ev=step.failed inv=false ns=reports h=build_report",
		"D step sB1 pending 0.001000 ns=reports h=build_report",     // 5_006_000 − 5_005_000
		"D step sB1 enqueued 0.094000 ns=reports h=build_report",    // 5_100_000 − 5_006_000
		"D step sB1 in_progress 0.800000 ns=reports h=build_report", // 5_900_000 − 5_100_000
		"A sB1 #1 error ns=reports h=build_report",

		"T task C none>pending ev= inv=false ns=reports h=",
		"T task C pending>initializing ev=task.initialize_requested inv=false ns=reports h=",
		"T task C initializing>waiting_for_dependencies ev=task.awaiting_dependencies inv=false ns=reports h=",
		"T task C waiting_for_dependencies>cancelled ev=task.cancelled inv=false ns=reports h=",
		"D task C pending 0.001000 ns=reports h=",                  // 8_001_000 − 8_000_000
		"D task C initializing 0.002000 ns=reports h=",             // 8_003_000 − 8_001_000
		"D task C waiting_for_dependencies 1.500000 ns=reports h=", // 9_503_000 − 8_003_000
		"C C cancelled 1.503000 ns=reports",                        // 9_503_000 − 8_000_000

		// sC1 never reached a worker: no handler; its namespace comes from task C. A closing
		// transition with no open attempt counts nothing.
		"T step sC1 none>pending ev= inv=false ns=reports h=",
		"T step sC1 pending>cancelled ev=step.cancelled inv=false ns=reports h=",
		"D step sC1 pending 1.502000 ns=reports h=", // 9_504_000 − 8_002_000
	}
}

// feed enters batches one second apart (collector clock), calling Settle after each as the
// connector does, then lets the settle window pass and settles.
func feed(l *Log[struct{}], clk *clockwork.FakeClock, batches [][]tr) {
	for _, b := range batches {
		add(l, b...)
		l.Settle()
		clk.Advance(time.Second)
	}
	clk.Advance(31 * time.Second)
	l.Settle()
}

func chunk(xs []tr, n int) [][]tr {
	var out [][]tr
	for len(xs) > n {
		out = append(out, xs[:n])
		xs = xs[n:]
	}
	return append(out, xs)
}

func TestLifecycleFactsAnyArrivalOrder(t *testing.T) {
	inOrder := lifecycles()
	if len(inOrder) != 45 {
		t.Fatalf("the scenario has %d transitions, want 45", len(inOrder))
	}
	want := lifecycleFacts()
	// 45 transitions + 37 durations + 5 attempts + 3 completions.
	if len(want) != 90 {
		t.Fatalf("hand-written facts: %d, want 90", len(want))
	}
	reversed := slices.Clone(inOrder)
	slices.Reverse(reversed)

	type variant struct {
		name    string
		batches [][]tr
		dups    [3]int64
	}
	variants := []variant{
		{name: "time order", batches: chunk(inOrder, 5)},
		{name: "time order, one batch", batches: [][]tr{inOrder}},
		{name: "reversed", batches: chunk(reversed, 5)},
		{name: "reversed, one per batch", batches: chunk(reversed, 1)},
	}
	for seed := uint64(1); seed <= 6; seed++ {
		r := rand.New(rand.NewPCG(seed, seed*7919))
		xs := slices.Clone(inOrder)
		r.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
		var bs [][]tr
		for len(xs) > 0 {
			n := min(1+r.IntN(10), len(xs))
			bs = append(bs, xs[:n])
			xs = xs[n:]
		}
		variants = append(variants, variant{name: fmt.Sprintf("shuffled %d", seed), batches: bs})
	}
	// A batch repeated (an exporter's retry): batch 3 of the time-order run again at the end,
	// and batch 0 right after itself. Batch 0 (transitions at 0, 10_123, 20_000, 30_000,
	// 30_500 µs) holds 3 task and 2 step transitions; batch 3 (at 50_000, 100_250, 120_000,
	// 200_000, 260_000 µs) holds 1 task and 4 step transitions.
	b := chunk(inOrder, 5)
	repeated := append([][]tr{b[0], b[0]}, b[1:]...)
	repeated = append(repeated, b[3])
	variants = append(variants, variant{name: "batch repeated", batches: repeated, dups: [3]int64{0, 3 + 1, 2 + 4}})

	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
			feed(l, clk, v.batches)
			sameMultiset(t, v.name, rec.facts, want)
			st := l.TakeStats()
			if st.Duplicates != v.dups {
				t.Errorf("duplicates %v, want %v", st.Duplicates, v.dups)
			}
			// Only s1's efo → complete is skewed.
			if st.Skewed != [3]int64{0, 0, 1} {
				t.Errorf("skewed %v, want [0 0 1]", st.Skewed)
			}
			if st.Abandoned != 0 || st.Late != [3]int64{} {
				t.Errorf("abandoned %d late %v", st.Abandoned, st.Late)
			}
			// Every fact came from a settled log: nothing more once everything is settled.
			clk.Advance(time.Hour)
			l.Settle()
			l.SettleAll()
			if len(rec.facts) != len(want) {
				t.Errorf("facts derived twice: %d after settling again", len(rec.facts))
			}
		})
	}
}

func TestDuplicatesAfterSettlingAreNotRederived(t *testing.T) {
	l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
	xs := lifecycles()
	feed(l, clk, [][]tr{xs})
	rec.take()
	l.TakeStats()
	// The whole lot again, as a retried export: 19 task and 26 step transitions.
	for _, s := range add(l, xs...) {
		if s != Duplicate {
			t.Fatalf("status %v, want Duplicate", s)
		}
	}
	clk.Advance(31 * time.Second)
	l.Settle()
	l.SettleAll()
	if len(rec.facts) != 0 {
		t.Errorf("duplicates derived facts: %v", rec.facts)
	}
	st := l.TakeStats()
	if st.Duplicates != [3]int64{0, 19, 26} {
		t.Errorf("duplicates %v, want [0 19 26]", st.Duplicates)
	}
	if st.Late != [3]int64{} || st.OutOfOrder != [3]int64{} {
		t.Errorf("a duplicate is neither late nor out of order: %+v", st)
	}
}

// ---- Clock skew and ties (§5) -------------------------------------------------------------

func TestSkewBetweenServicesIsReordered(t *testing.T) {
	base := []tr{
		stepO("x", "", "none", "pending", 0),
		stepO("x", "", "pending", "enqueued", 10_000),
		stepW("x", "", "enqueued", "in_progress", 100_000, "", ""),
	}
	cases := []struct {
		name     string
		efo      tr // worker: in_progress → efo
		complete tr // orchestration: efo → complete
		want     []string
		skewed   int64
	}{
		{
			// §5's example: complete stamped 200 µs before the efo it follows, from another
			// service, within the 1 s skew: the chain is fixed; the negative gap counts 0.
			name:     "within skew",
			efo:      stepW("x", "", "in_progress", "enqueued_for_orchestration", 350_000, "", ""),
			complete: stepO("x", "", "enqueued_for_orchestration", "complete", 349_800),
			want: []string{
				"D step x in_progress 0.250000 ns= h=",                // 350_000 − 100_000
				"D step x enqueued_for_orchestration 0.000000 ns= h=", // 349_800 − 350_000 → 0
			},
			skewed: 1,
		},
		{
			// 1.5 s apart: more than the maximum skew. The chain breaks: a gap, no time
			// derived across it.
			name:     "beyond skew",
			efo:      stepW("x", "", "in_progress", "enqueued_for_orchestration", 1_850_000, "", ""),
			complete: stepO("x", "", "enqueued_for_orchestration", "complete", 350_000),
			want:     nil,
		},
		{
			// Both from the same service: one service keeps its time order, so no reordering.
			name:     "same service",
			efo:      stepW("x", "", "in_progress", "enqueued_for_orchestration", 350_000, "", ""),
			complete: stepW("x", "", "enqueued_for_orchestration", "complete", 349_800, "", ""),
			want:     nil,
		},
		{
			// Equal times: the chain decides (whatever the arrival); a zero gap is not skew.
			name:     "tie",
			efo:      stepW("x", "", "in_progress", "enqueued_for_orchestration", 350_000, "", ""),
			complete: stepO("x", "", "enqueued_for_orchestration", "complete", 350_000),
			want: []string{
				"D step x in_progress 0.250000 ns= h=",
				"D step x enqueued_for_orchestration 0.000000 ns= h=",
			},
		},
	}
	for _, c := range cases {
		for _, completeFirst := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/complete first=%v", c.name, completeFirst), func(t *testing.T) {
				l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
				add(l, base...)
				if completeFirst {
					add(l, c.complete, c.efo)
				} else {
					add(l, c.efo, c.complete)
				}
				clk.Advance(31 * time.Second)
				l.Settle()
				// pending 0.010000 (10_000 − 0) and enqueued 0.090000 (100_000 − 10_000) always.
				want := append([]string{"D step x pending 0.010000 ns= h=", "D step x enqueued 0.090000 ns= h="}, c.want...)
				sameMultiset(t, "durations", rec.of("D "), want)
				// The attempt opens at the claim and closes at complete whichever order.
				sameMultiset(t, "attempts", rec.of("A "), []string{"A x #1 success ns= h="})
				if st := l.TakeStats(); st.Skewed[tasker.KindStep] != c.skewed {
					t.Errorf("skewed %d, want %d", st.Skewed[tasker.KindStep], c.skewed)
				}
			})
		}
	}
}

// A worker clock behind the orchestration's: the claim (worker) is stamped 300 µs before the
// enqueue (orchestration) it follows. The claim does not chain onto none>pending, and the
// enqueue, from another service and less than the skew later, does: it moves up (§5); the
// negative gap counts as 0 and as skew. The same pair from one service stays as it is.
func TestSkewClockBehindMovesTheEnqueueUp(t *testing.T) {
	for _, sameService := range []bool{false, true} {
		t.Run(fmt.Sprintf("same service=%v", sameService), func(t *testing.T) {
			l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
			claim := stepW("x", "", "enqueued", "in_progress", 9_700, "", "")
			if sameService {
				claim.src = orch
			}
			add(l,
				stepO("x", "", "none", "pending", 0),
				claim,
				stepO("x", "", "pending", "enqueued", 10_000),
				stepW("x", "", "in_progress", "complete", 500_000, "", ""),
			)
			clk.Advance(31 * time.Second)
			l.Settle()
			want := []string{"D step x pending 0.010000 ns= h=", // 10_000 − 0
				"D step x enqueued 0.000000 ns= h=",    // 9_700 − 10_000 → 0
				"D step x in_progress 0.490300 ns= h="} // 500_000 − 9_700
			skewed := int64(1)
			if sameService {
				// One service keeps its time order: pending → (gap) → the claim; the chain
				// breaks twice, so only the claim's time in in_progress is derived.
				want, skewed = []string{"D step x in_progress 0.490300 ns= h="}, 0
			}
			sameMultiset(t, "durations", rec.of("D "), want)
			if st := l.TakeStats(); st.Skewed[tasker.KindStep] != skewed {
				t.Errorf("skewed %d, want %d", st.Skewed[tasker.KindStep], skewed)
			}
		})
	}
}

// ---- Attempts (§5, §7) --------------------------------------------------------------------

func TestAbandonedAttempt(t *testing.T) {
	l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
	// One worker's claim at 10_000 is never closed (its transitions were lost); a second
	// claim at 20_000 supersedes it and completes. All from one service, so no reordering.
	add(l,
		stepW("x", "", "none", "pending", 0, "", ""),
		stepW("x", "", "pending", "enqueued", 1_000, "", ""),
		stepW("x", "", "enqueued", "in_progress", 10_000, "", ""),
		stepW("x", "", "enqueued", "in_progress", 20_000, "", ""),
		stepW("x", "", "in_progress", "complete", 30_000, "", ""),
	)
	clk.Advance(31 * time.Second)
	l.Settle()
	// The abandoned claim counts nothing; the second is the second claim the log holds.
	sameMultiset(t, "attempts", rec.of("A "), []string{"A x #2 success ns= h="})
	sameMultiset(t, "durations", rec.of("D "), []string{
		"D step x pending 0.001000 ns= h=",     // 1_000 − 0
		"D step x enqueued 0.009000 ns= h=",    // 10_000 − 1_000
		"D step x in_progress 0.010000 ns= h=", // 30_000 − 20_000; 10_000 → 20_000 is a gap
	})
	if st := l.TakeStats(); st.Abandoned != 1 {
		t.Errorf("abandoned %d, want 1", st.Abandoned)
	}
}

func TestAttemptOrdinals(t *testing.T) {
	claim := func(us, attempt int64) tr {
		x := stepW("x", "", "enqueued", "in_progress", us, "", "")
		x.attempt = attempt
		return x
	}
	cases := []struct {
		name string
		xs   []tr
		want []string
	}{
		{
			// The log starts mid-life: a lower bound, 1.
			name: "from claim count, log not at creation",
			xs:   []tr{claim(0, 0), stepW("x", "", "in_progress", "complete", 5_000, "", "")},
			want: []string{"A x #1 success ns= h="},
		},
		{
			// The claim's own attribute says which attempt it opens.
			name: "from the attempt attribute",
			xs:   []tr{claim(0, 3), stepW("x", "", "in_progress", "error", 5_000, "", "")},
			want: []string{"A x #3 error ns= h="},
		},
		{
			// First claim by count (1); after the retry the claim carries 5.
			name: "mixed",
			xs: []tr{
				stepO("x", "", "none", "pending", 0),
				stepO("x", "", "pending", "enqueued", 1_000),
				claim(2_000, 0),
				stepW("x", "", "in_progress", "waiting_for_retry", 3_000, "", ""),
				stepO("x", "", "waiting_for_retry", "pending", 4_000),
				stepO("x", "", "pending", "enqueued", 5_000),
				claim(6_000, 5),
				stepW("x", "", "in_progress", "cancelled", 7_000, "", ""),
			},
			want: []string{"A x #1 error ns= h=", "A x #5 cancelled ns= h="},
		},
		{
			// resolved_manually closes with its own name; a close with no claim counts nothing.
			name: "outcomes",
			xs: []tr{
				stepO("x", "", "none", "pending", 0),
				stepO("x", "", "pending", "error", 1_000),
				claim(2_000, 0),
				stepW("x", "", "in_progress", "resolved_manually", 3_000, "", ""),
			},
			want: []string{"A x #1 resolved_manually ns= h="},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
			add(l, c.xs...)
			clk.Advance(31 * time.Second)
			l.Settle()
			sameMultiset(t, "attempts", rec.of("A "), c.want)
		})
	}
}

// ---- Completion (§5) ----------------------------------------------------------------------

func TestCompletionStart(t *testing.T) {
	cases := []struct {
		name string
		xs   []tr
		want []string
	}{
		{
			name: "from none",
			xs: []tr{
				task("T", "none", "pending", 0, ""),
				task("T", "pending", "initializing", 40_000, ""),
				task("T", "initializing", "error", 100_000, ""),
			},
			want: []string{"C T error 0.100000 ns="}, // 100_000 − 0, not − 40_000
		},
		{
			name: "fallback pending → initializing",
			xs: []tr{
				task("T", "pending", "initializing", 100_000, ""),
				task("T", "initializing", "enqueuing_steps", 150_000, ""),
				task("T", "enqueuing_steps", "steps_in_process", 200_000, ""),
				task("T", "steps_in_process", "complete", 1_100_000, ""),
			},
			want: []string{"C T complete 1.000000 ns="}, // 1_100_000 − 100_000
		},
		{
			name: "earliest none",
			xs: []tr{
				task("T", "none", "pending", 20_000, ""),
				task("T", "none", "pending", 10_000, ""),
				task("T", "pending", "initializing", 30_000, ""),
				task("T", "initializing", "complete", 520_000, ""),
			},
			want: []string{"C T complete 0.510000 ns="}, // 520_000 − 10_000
		},
		{
			// One completion per task, from its earliest terminal transition.
			name: "earliest terminal",
			xs: []tr{
				task("T", "none", "pending", 0, ""),
				task("T", "pending", "cancelled", 300_000, ""),
				task("T", "pending", "error", 200_000, ""),
			},
			want: []string{"C T error 0.200000 ns="},
		},
		{
			// Legacy in_progress is steps_in_process, not terminal.
			name: "legacy in_progress",
			xs: []tr{
				task("T", "none", "pending", 0, ""),
				task("T", "pending", "in_progress", 5_000, ""),
				task("T", "in_progress", "complete", 65_000, ""),
			},
			want: []string{"C T complete 0.065000 ns="},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
			add(l, c.xs...)
			clk.Advance(31 * time.Second)
			l.Settle()
			sameMultiset(t, "completions", rec.of("C "), c.want)
		})
	}

	t.Run("legacy durations", func(t *testing.T) {
		l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
		add(l, task("T", "none", "pending", 0, ""), task("T", "pending", "in_progress", 5_000, ""),
			task("T", "in_progress", "complete", 65_000, ""))
		clk.Advance(31 * time.Second)
		l.Settle()
		// Time in in_progress is reported as steps_in_process (§1).
		sameMultiset(t, "durations", rec.of("D "), []string{
			"D task T pending 0.005000 ns= h=", "D task T steps_in_process 0.060000 ns= h="})
		sameMultiset(t, "transitions", rec.of("T "), []string{
			"T task T none>pending ev= inv=false ns= h=",
			"T task T pending>in_progress ev=task.started inv=false ns= h=",
			"T task T in_progress>complete ev=task.completed inv=false ns= h=",
		})
	})

	t.Run("start arrives after the terminal settled", func(t *testing.T) {
		l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
		add(l, task("T", "steps_in_process", "complete", 900_000, ""))
		clk.Advance(31 * time.Second)
		l.Settle()
		if c := rec.of("C "); len(c) != 0 {
			t.Fatalf("no start known yet: %v", c)
		}
		add(l, task("T", "pending", "initializing", 100_000, ""))
		clk.Advance(31 * time.Second)
		l.Settle()
		sameMultiset(t, "completions", rec.of("C "), []string{"C T complete 0.800000 ns="}) // 900_000 − 100_000
		if st := l.TakeStats(); st.Late[tasker.KindTask] != 1 {
			t.Errorf("late %v, want 1 task", st.Late)
		}
	})

	t.Run("none after the fallback was used", func(t *testing.T) {
		l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
		add(l, task("T", "pending", "initializing", 10_000, ""), task("T", "initializing", "complete", 1_000_000, ""))
		clk.Advance(31 * time.Second)
		l.Settle()
		sameMultiset(t, "completions", rec.take(), []string{
			"T task T pending>initializing ev=task.initialize_requested inv=false ns= h=",
			"T task T initializing>complete ev=task.completed inv=false ns= h=",
			"D task T initializing 0.990000 ns= h=", // 1_000_000 − 10_000
			"C T complete 0.990000 ns=",             // from pending → initializing
		})
		// The creation arrives late: counted as a transition and as late; the time in pending
		// it gives is still derivable; the completion is not derived twice.
		add(l, task("T", "none", "pending", 0, ""))
		clk.Advance(31 * time.Second)
		l.Settle()
		l.SettleAll()
		sameMultiset(t, "late", rec.take(), []string{
			"T task T none>pending ev= inv=false ns= h=",
			"D task T pending 0.010000 ns= h=", // 10_000 − 0
		})
		if st := l.TakeStats(); st.Late[tasker.KindTask] != 1 || st.OutOfOrder[tasker.KindTask] != 1 {
			t.Errorf("late %v out of order %v", st.Late, st.OutOfOrder)
		}
	})
}

// ---- Late arrivals (§5) -------------------------------------------------------------------

func TestLateArrival(t *testing.T) {
	l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
	add(l,
		stepO("x", "", "none", "pending", 0),
		stepO("x", "", "pending", "enqueued", 10_000),
		stepO("x", "", "in_progress", "complete", 100_000),
	)
	clk.Advance(31 * time.Second)
	l.Settle()
	sameMultiset(t, "before", rec.take(), []string{
		"T step x none>pending ev= inv=false ns= h=",
		"T step x pending>enqueued ev=step.enqueue_requested inv=false ns= h=",
		"T step x in_progress>complete ev=step.completed inv=false ns= h=",
		"D step x pending 0.010000 ns= h=", // 10_000 − 0; enqueued → (gap) → complete: nothing
	})
	if st := l.TakeStats(); st.Late != [3]int64{} {
		t.Errorf("late %v", st.Late)
	}
	// The claim arrives after complete has settled: late; its facts are still derivable.
	claim := stepW("x", "", "enqueued", "in_progress", 40_000, "", "")
	add(l, claim)
	if c := rec.of(""); len(c) != 0 {
		t.Fatalf("derived before settling: %v", c)
	}
	clk.Advance(31 * time.Second)
	l.Settle()
	sameMultiset(t, "late", rec.take(), []string{
		"T step x enqueued>in_progress ev=step.execution_requested inv=false ns= h=",
		"D step x enqueued 0.030000 ns= h=",    // 40_000 − 10_000
		"D step x in_progress 0.060000 ns= h=", // 100_000 − 40_000
		"A x #1 success ns= h=",
	})
	st := l.TakeStats()
	if st.Late[tasker.KindStep] != 1 || st.OutOfOrder[tasker.KindStep] != 1 {
		t.Errorf("late %v out of order %v, want 1 step each", st.Late, st.OutOfOrder)
	}
	// And never twice: the same late transition again is a duplicate.
	if s := add(l, claim); s[0] != Duplicate {
		t.Errorf("status %v", s[0])
	}
	clk.Advance(31 * time.Second)
	l.Settle()
	l.SettleAll()
	if len(rec.facts) != 0 {
		t.Errorf("re-derived: %v", rec.facts)
	}
}

func TestOutOfOrderWithinWindowIsNotLate(t *testing.T) {
	l, _, clk := newLog(t, DefaultLimits(), defaultTiming())
	add(l, stepO("x", "", "pending", "enqueued", 10_000))
	clk.Advance(29 * time.Second)
	add(l, stepO("x", "", "none", "pending", 0))
	st := l.TakeStats()
	if st.OutOfOrder[tasker.KindStep] != 1 || st.Late[tasker.KindStep] != 0 {
		t.Errorf("out of order %v late %v", st.OutOfOrder, st.Late)
	}
}

// ---- Namespace and handler learning (§5) --------------------------------------------------

func TestLearning(t *testing.T) {
	l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
	// process_single_task_from_ready_info tells the task's namespace; worker.step_execution
	// the step's task and handler.
	l.Learn(transition.Hint{TaskID: "T", Namespace: "payments"})
	l.Learn(transition.Hint{TaskID: "T", StepID: "x", Handler: "charge"})
	// Conflicts: counted, the first value stays.
	l.Learn(transition.Hint{TaskID: "T", Namespace: "other"})
	l.Learn(transition.Hint{TaskID: "T", StepID: "x", Handler: "other"})
	add(l,
		stepO("x", "", "none", "pending", 0),
		stepO("x", "", "pending", "enqueued", 2_000),
		// A value directly on a carrier wins for that transition.
		tr{kind: tasker.KindStep, id: "x", task: "T", from: "enqueued", to: "in_progress", us: 5_000, src: wrk, ns: "direct", h: "direct_h"},
	)
	clk.Advance(31 * time.Second)
	l.Settle()
	sameMultiset(t, "facts", rec.facts, []string{
		"T step x none>pending ev= inv=false ns=payments h=charge",
		"T step x pending>enqueued ev=step.enqueue_requested inv=false ns=payments h=charge",
		"T step x enqueued>in_progress ev=step.execution_requested inv=false ns=direct h=direct_h",
		"D step x pending 0.002000 ns=payments h=charge",
		"D step x enqueued 0.003000 ns=direct h=direct_h", // the later transition's values
	})
	st := l.TakeStats()
	// Task namespace "other" and "direct" (learned through the step) vs "payments"; the step's
	// handler "other" and "direct_h" vs "charge".
	if st.Conflicts[tasker.KindTask] < 1 || st.Conflicts[tasker.KindStep] < 1 {
		t.Errorf("conflicts %v", st.Conflicts)
	}
	if e := l.Get(tasker.KindTask, "T"); e == nil || e.Namespace != "payments" {
		t.Errorf("task namespace: %+v", e)
	}
	if e := l.Get(tasker.KindStep, "x"); e == nil || e.Handler != "charge" || e.TaskID != "T" {
		t.Errorf("step: %+v", e)
	}
}

// ---- Retention (§5) -----------------------------------------------------------------------

func smallLimits() Limits {
	lim := DefaultLimits()
	lim.MaxEntities = 3
	return lim
}

// TestEvictCapacityLRU: at max_entities the least recently used goes. Here every entity is
// still within its settle window, so the one that goes is counted as unsettled (a last
// resort: its facts are derived at once).
func TestEvictCapacityLRU(t *testing.T) {
	l, _, clk := newLog(t, smallLimits(), defaultTiming())
	for _, id := range []string{"e1", "e2", "e3"} {
		add(l, stepO(id, "", "none", "pending", 0))
		clk.Advance(time.Second)
	}
	add(l, stepO("e1", "", "pending", "enqueued", 1_000)) // e1 used again: e2 is now the LRU
	clk.Advance(time.Second)
	add(l, stepO("e4", "", "none", "pending", 0))
	if l.Len() != 3 {
		t.Errorf("Len %d, want 3", l.Len())
	}
	if l.Get(tasker.KindStep, "e2") != nil {
		t.Error("e2, least recently used, must be evicted")
	}
	for _, id := range []string{"e1", "e3", "e4"} {
		if l.Get(tasker.KindStep, id) == nil {
			t.Errorf("%s evicted", id)
		}
	}
	st := l.TakeStats()
	want := [NumEvictReasons]int64{EvictUnsettled: 1}
	if st.Evicted[tasker.KindStep] != want {
		t.Errorf("evicted %v, want %v", st.Evicted[tasker.KindStep], want)
	}
}

// TestEvictSettledBeforeUnsettled: past the cap, an entity whose transitions have all
// settled goes before one that has not, even when the unsettled one was seen less recently;
// only that is counted as capacity.
func TestEvictSettledBeforeUnsettled(t *testing.T) {
	l, rec, clk := newLog(t, smallLimits(), defaultTiming())
	add(l, stepO("e1", "", "none", "pending", 0), stepO("e3", "", "none", "pending", 0))
	clk.Advance(31 * time.Second)
	l.Settle()
	add(l, stepO("e2", "", "none", "pending", 0)) // unsettled, and now less recently seen than:
	clk.Advance(time.Second)
	l.Learn(transition.Hint{StepID: "e1", Handler: "h"})
	l.Learn(transition.Hint{StepID: "e3", Handler: "h"}) // e1, e3 settled and seen since e2
	add(l, stepO("e4", "", "none", "pending", 0))
	if l.Get(tasker.KindStep, "e2") == nil || l.Get(tasker.KindStep, "e1") != nil || l.Get(tasker.KindStep, "e3") == nil {
		t.Error("the settled e1, least recently seen of the settled ones, must go; unsettled e2 stays")
	}
	st := l.TakeStats()
	want := [NumEvictReasons]int64{EvictCapacity: 1}
	if st.Evicted[tasker.KindStep] != want {
		t.Errorf("evicted %v, want %v", st.Evicted[tasker.KindStep], want)
	}
	if n := len(rec.of("T step e2")); n != 0 {
		t.Errorf("e2 was settled early: %d facts", n)
	}
}

func TestEvictExpiredBeforeLRU(t *testing.T) {
	l, _, clk := newLog(t, smallLimits(), defaultTiming())
	add(l, stepO("e2", "", "none", "pending", 0))
	clk.Advance(time.Second)
	add(l, stepO("e3", "", "none", "pending", 0))
	clk.Advance(time.Second)
	add(l, task("T", "none", "pending", 0, ""))
	clk.Advance(time.Second)
	add(l, task("T", "pending", "cancelled", 1_000, "")) // finished now; most recently used
	clk.Advance(5*time.Minute + 10*time.Second)
	add(l, stepO("e4", "", "none", "pending", 0))
	if l.Get(tasker.KindTask, "T") != nil || l.Get(tasker.KindStep, "e2") == nil {
		t.Error("the expired finished task must go before the LRU step")
	}
	st := l.TakeStats()
	if st.Evicted[tasker.KindTask][EvictFinished] != 1 || st.Evicted[tasker.KindStep][EvictCapacity] != 0 {
		t.Errorf("evicted %v", st.Evicted)
	}
}

func TestEvictIdleTTL(t *testing.T) {
	l, _, clk := newLog(t, DefaultLimits(), defaultTiming())
	if DefaultLimits().IdleTTL < 2*time.Hour {
		t.Errorf("default idle TTL %v; §5 asks at least 2 h", DefaultLimits().IdleTTL)
	}
	add(l, stepO("x", "", "none", "pending", 0))
	clk.Advance(2*time.Hour - time.Second)
	l.Expire()
	if l.Get(tasker.KindStep, "x") == nil {
		t.Fatal("evicted before its idle TTL")
	}
	add(l, stepO("x", "", "pending", "enqueued", 1_000)) // seen again: the TTL restarts
	clk.Advance(2*time.Hour - time.Second)
	l.Expire()
	if l.Get(tasker.KindStep, "x") == nil {
		t.Fatal("evicted though seen within the TTL")
	}
	clk.Advance(2 * time.Second)
	l.Expire()
	if l.Get(tasker.KindStep, "x") != nil {
		t.Fatal("not evicted after the idle TTL")
	}
	if st := l.TakeStats(); st.Evicted[tasker.KindStep][EvictIdle] != 1 {
		t.Errorf("evicted %v", st.Evicted)
	}
}

func TestEvictFinishedGraceTaskFinishesSteps(t *testing.T) {
	l, _, clk := newLog(t, DefaultLimits(), defaultTiming())
	if DefaultLimits().FinishedGrace != 5*time.Minute {
		t.Errorf("default grace %v; §5 says 5 min", DefaultLimits().FinishedGrace)
	}
	// Step x of task T ends in error (not terminal); a step y of another, running task too.
	add(l,
		task("T", "none", "pending", 0, ""),
		stepO("x", "T", "none", "pending", 1_000),
		stepW("x", "T", "pending", "in_progress", 2_000, "", ""),
		stepW("x", "T", "in_progress", "error", 3_000, "", ""),
		task("U", "none", "pending", 0, ""),
		stepO("y", "U", "none", "pending", 1_000),
		stepO("y", "U", "pending", "error", 2_000),
	)
	clk.Advance(10 * time.Second)
	add(l, task("T", "pending", "error", 9_000, "")) // T finishes, and with it x
	clk.Advance(time.Minute)
	add(l, stepO("z", "T", "none", "pending", 10_000)) // a step of T seen after T finished
	clk.Advance(4*time.Minute - time.Second)           // T: 5 min − 1 s after finishing
	l.Expire()
	if l.Get(tasker.KindTask, "T") == nil || l.Get(tasker.KindStep, "x") == nil {
		t.Fatal("evicted within the grace period")
	}
	clk.Advance(2 * time.Second) // T and x: 5 min + 1 s; z: 4 min + 1 s
	l.Expire()
	if l.Get(tasker.KindTask, "T") != nil || l.Get(tasker.KindStep, "x") != nil {
		t.Error("T and its step x must go after the grace period")
	}
	if l.Get(tasker.KindStep, "z") == nil {
		t.Error("z finished with T only when it arrived, a minute later")
	}
	if l.Get(tasker.KindStep, "y") == nil || l.Get(tasker.KindTask, "U") == nil {
		t.Error("a step in error of a running task is not finished")
	}
	clk.Advance(time.Minute)
	l.Expire()
	if l.Get(tasker.KindStep, "z") != nil {
		t.Error("z must go 5 min after it finished")
	}
	st := l.TakeStats()
	if st.Evicted[tasker.KindTask][EvictFinished] != 1 || st.Evicted[tasker.KindStep][EvictFinished] != 2 {
		t.Errorf("evicted %v, want 1 task and 2 steps finished", st.Evicted)
	}
	if st.Evicted[tasker.KindStep][EvictIdle] != 0 || st.Evicted[tasker.KindStep][EvictCapacity] != 0 {
		t.Errorf("evicted %v", st.Evicted)
	}
}

func TestTransitionCapKeepsStartAndOpenClaim(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxTransitionsPerEntity = 4
	l, rec, clk := newLog(t, lim, defaultTiming())
	add(l,
		stepO("x", "", "none", "pending", 0),
		stepW("x", "", "enqueued", "in_progress", 2_000, "", ""), // the claim (its enqueue was lost)
		stepW("x", "", "in_progress", "enqueued_for_orchestration", 3_000, "", ""),
		stepW("x", "", "in_progress", "enqueued_as_error_for_orchestration", 4_000, "", ""),
	)
	clk.Advance(31 * time.Second)
	l.Settle()
	rec.take()
	// The log is full: the oldest settled transition that is neither the start nor the open
	// claim goes, i.e. in_progress → efo at 3_000.
	st := add(l, stepO("x", "", "enqueued_as_error_for_orchestration", "complete", 5_000))
	if st[0] != Added {
		t.Fatalf("status %v", st[0])
	}
	e := l.Get(tasker.KindStep, "x")
	kept := e.Transitions
	want := []string{"none>pending", "enqueued>in_progress", "in_progress>enqueued_as_error_for_orchestration", "enqueued_as_error_for_orchestration>complete"}
	if !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}
	clk.Advance(31 * time.Second)
	l.Settle()
	// The open claim survived: the attempt closes at complete.
	sameMultiset(t, "after", rec.take(), []string{
		"T step x enqueued_as_error_for_orchestration>complete ev=step.completed inv=false ns= h=",
		"D step x enqueued_as_error_for_orchestration 0.001000 ns= h=", // 5_000 − 4_000
		"A x #1 success ns= h=",
	})
	if s := l.TakeStats(); s.Dropped[tasker.KindStep] != 1 {
		t.Errorf("dropped %v", s.Dropped)
	}

	// Nothing settled yet: rather than lose the new transition's count (§7: every
	// recognised, non-duplicate transition counts), the entity is settled at once and then
	// its oldest droppable transition goes (not the start, not the open claim).
	l2, rec2, _ := newLog(t, lim, defaultTiming())
	sts := add(l2,
		stepO("y", "", "none", "pending", 0),
		stepO("y", "", "pending", "enqueued", 1_000),
		stepW("y", "", "enqueued", "in_progress", 2_000, "", ""),
		stepW("y", "", "in_progress", "enqueued_for_orchestration", 3_000, "", ""),
		stepO("y", "", "enqueued_for_orchestration", "complete", 4_000),
	)
	if sts[4] != Added || l2.Get(tasker.KindStep, "y").Len() != 4 {
		t.Errorf("status %v len %d", sts[4], l2.Get(tasker.KindStep, "y").Len())
	}
	if s := l2.TakeStats(); s.Dropped[tasker.KindStep] != 1 {
		t.Errorf("dropped %v", s.Dropped)
	}
	l2.SettleAll()
	if n := len(rec2.of("T ")); n != 5 {
		t.Errorf("%d of 5 transitions counted", n)
	}
	sameMultiset(t, "attempt", rec2.of("A "), []string{"A y #1 success ns= h="})
}

// ---- Stamps (§6): the processor reads the log at pass time --------------------------------

func TestStampsInOrder(t *testing.T) {
	clk := clockwork.NewFakeClock()
	l := NewStamping[struct{}](DefaultLimits(), Timing{MaxClockSkew: time.Second}, clk)
	type want struct {
		has     bool
		secs    float64
		attempt int
		handler string
		taskSec float64
	}
	exp := map[string]want{
		// Task A.
		"A none>pending@0":                                          {},
		"A pending>initializing@10123":                              {has: true, secs: 0.010123},
		"A evaluating_results>complete@2010500":                     {has: true, secs: 0.010500, taskSec: 2.010500},
		"s2 none>pending@30500":                                     {},
		"s2 pending>enqueued@41000":                                 {has: true, secs: 0.010500},
		"s2 enqueued>in_progress@120000":                            {has: true, secs: 0.079000, attempt: 1, handler: "charge"},
		"s2 in_progress>enqueued_as_error_for_orchestration@300000": {has: true, secs: 0.180000, attempt: 1, handler: "charge"},
		// closes attempt 1
		"s2 enqueued_as_error_for_orchestration>waiting_for_retry@420000": {has: true, secs: 0.120000, attempt: 1, handler: "charge"},
		"s2 waiting_for_retry>pending@1440000":                            {has: true, secs: 1.020000, handler: "charge"},
		"s2 pending>enqueued@1455000":                                     {has: true, secs: 0.015000, handler: "charge"},
		"s2 enqueued>in_progress@1500000":                                 {has: true, secs: 0.045000, attempt: 2, handler: "charge"},
		"s2 in_progress>enqueued_for_orchestration@1800000":               {has: true, secs: 0.300000, attempt: 2, handler: "charge"},
		"s2 enqueued_for_orchestration>complete@1900000":                  {has: true, secs: 0.100000, attempt: 2, handler: "charge"},
		// s1's complete (349_800) passes before the efo it follows (350_000): no duration yet,
		// but it closes attempt 1.
		"s1 enqueued_for_orchestration>complete@349800":    {attempt: 1, handler: "validate"},
		"s1 in_progress>enqueued_for_orchestration@350000": {has: true, secs: 0.249750, attempt: 1, handler: "validate"},
		"B blocked_by_failures>error@7250000":              {has: true, secs: 1.250000, taskSec: 2.250000},
		"C waiting_for_dependencies>cancelled@9503000":     {has: true, secs: 1.500000, taskSec: 1.503000},
		"sB1 in_progress>error@5900000":                    {has: true, secs: 0.800000, attempt: 1, handler: "build_report"},
		"sC1 pending>cancelled@9504000":                    {has: true, secs: 1.502000},
	}
	checked := 0
	for _, x := range lifecycles() {
		t0 := x.T()
		ref, st := l.Add(&t0, struct{}{})
		if st != Added {
			t.Fatalf("status %v", st)
		}
		s := l.Stamps(ref)
		key := fmt.Sprintf("%s %s>%s@%d", x.id, x.from, x.to, x.us)
		// Namespace: every task and step of A is known as payments from A's first transition
		// on; B and C as reports.
		wantNS := map[string]string{"A": "payments", "s1": "payments", "s2": "payments", "s3": "payments",
			"B": "reports", "sB1": "reports", "C": "reports", "sC1": "reports"}[x.id]
		if s.Namespace != wantNS {
			t.Errorf("%s: namespace %q, want %q", key, s.Namespace, wantNS)
		}
		if s.StateSeconds < 0 || s.TaskSeconds < 0 {
			t.Errorf("%s: negative %+v", key, s)
		}
		w, ok := exp[key]
		if !ok {
			continue
		}
		checked++
		if s.HasStateSeconds != w.has || fmt.Sprintf("%.6f", s.StateSeconds) != fmt.Sprintf("%.6f", w.secs) {
			t.Errorf("%s: state seconds %v/%v, want %v/%v", key, s.HasStateSeconds, s.StateSeconds, w.has, w.secs)
		}
		if s.Attempt != w.attempt {
			t.Errorf("%s: attempt %d, want %d", key, s.Attempt, w.attempt)
		}
		if x.kind == tasker.KindStep && s.Handler != w.handler {
			t.Errorf("%s: handler %q, want %q", key, s.Handler, w.handler)
		}
		if s.HasTaskSeconds != (w.taskSec != 0) || fmt.Sprintf("%.6f", s.TaskSeconds) != fmt.Sprintf("%.6f", w.taskSec) {
			t.Errorf("%s: task seconds %v/%v, want %v", key, s.HasTaskSeconds, s.TaskSeconds, w.taskSec)
		}
	}
	if checked != len(exp) {
		t.Errorf("checked %d of %d expectations", checked, len(exp))
	}

	// A duplicate gets the same stamps as the original.
	dup := stepW("s2", "A", "enqueued", "in_progress", 1_500_000, "payments", "charge").T()
	ref, st := l.Add(&dup, struct{}{})
	if st != Duplicate {
		t.Fatalf("status %v", st)
	}
	if s := l.Stamps(ref); !s.HasStateSeconds || fmt.Sprintf("%.6f", s.StateSeconds) != "0.045000" || s.Attempt != 2 || s.Handler != "charge" {
		t.Errorf("duplicate stamps %+v", s)
	}
}

func TestStampsAttemptAttribute(t *testing.T) {
	clk := clockwork.NewFakeClock()
	l := NewStamping[struct{}](DefaultLimits(), Timing{MaxClockSkew: time.Second}, clk)
	claim := stepW("x", "", "enqueued", "in_progress", 0, "", "")
	claim.attempt = 3
	var got []int
	for _, x := range []tr{claim, stepW("x", "", "in_progress", "enqueued_for_orchestration", 1_000, "", ""),
		stepO("x", "", "enqueued_for_orchestration", "complete", 2_000)} {
		t0 := x.T()
		ref, _ := l.Add(&t0, struct{}{})
		got = append(got, l.Stamps(ref).Attempt)
	}
	if !slices.Equal(got, []int{3, 3, 3}) {
		t.Errorf("attempts %v, want [3 3 3]", got)
	}
}

func TestStampsAfterEviction(t *testing.T) {
	l, _, clk := newLog(t, DefaultLimits(), defaultTiming())
	x := stepO("x", "", "none", "pending", 0).T()
	ref, _ := l.Add(&x, struct{}{})
	clk.Advance(3 * time.Hour)
	l.Expire()
	if l.Tracked(ref) || l.Stamps(ref) != (Stamps{}) {
		t.Error("an evicted entity's stamps are empty")
	}
}

func TestLimitsValidate(t *testing.T) {
	d := DefaultLimits()
	if err := d.Validate("limits"); err != nil {
		t.Fatal(err)
	}
	bad := Limits{}
	err := bad.Validate("limits")
	if err == nil {
		t.Fatal("zero limits must not validate")
	}
	for _, k := range []string{"limits::max_entities", "limits::max_transitions_per_entity", "limits::idle_ttl", "limits::finished_grace"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error does not name %s: %v", k, err)
		}
	}
}

// ---- Memory per tracked entity ------------------------------------------------------------

// stepUUIDs makes n distinct 36-character ids, like Tasker's UUIDs.
func stepUUIDs(prefix byte, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%c%07x-0000-7000-8000-%012x", prefix, i, i*2654435761)
	}
	return ids
}

// fillSteps enters, per step, six transitions of a step that failed once and waits to run
// again (none → pending → enqueued → in_progress → eaefo → waiting_for_retry → pending), so
// that no entity is finished and all stay tracked.
func fillSteps(l *Log[struct{}], ids []string, taskIDs []string) {
	path := [][2]string{{"none", "pending"}, {"pending", "enqueued"}, {"enqueued", "in_progress"},
		{"in_progress", "enqueued_as_error_for_orchestration"}, {"enqueued_as_error_for_orchestration", "waiting_for_retry"},
		{"waiting_for_retry", "pending"}}
	for i, id := range ids {
		task := ""
		if taskIDs != nil {
			task = taskIDs[i%len(taskIDs)]
		}
		for k, p := range path {
			t := transition.Transition{Kind: tasker.KindStep, ID: id, TaskID: task, From: tasker.ParseState(p[0]),
				To: tasker.ParseState(p[1]), Time: at(int64(i)*10 + int64(k)), Source: wrk, Namespace: "payments", Handler: "charge"}
			l.Add(&t, struct{}{})
		}
	}
}

// memoryInUse is the heap in use plus the slab pages mapped outside it.
func memoryInUse() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc) + MappedBytes()
}

func measure(n int) (perEntity float64, entities int) {
	clk := clockwork.NewFakeClock()
	lim := DefaultLimits()
	lim.MaxEntities = 2 * n
	ids := stepUUIDs('a', n)
	tasks := stepUUIDs('b', n/4) // four steps per task
	before := memoryInUse()
	l := NewStamping[struct{}](lim, Timing{MaxClockSkew: time.Second}, clk)
	fillSteps(l, ids, tasks)
	after := memoryInUse()
	entities = l.Len()
	runtime.KeepAlive(l)
	// The ids themselves were allocated before "before"; the log clones them, so the
	// measure includes the log's own copies.
	return float64(after-before) / float64(entities), entities
}

// TestMemoryPerEntity measures the heap held per tracked entity: 100k steps (6 transitions
// each, Tasker-like 36-byte ids) and their 25k tasks. Run:
//
//	go test ./internal/statelog -run TestMemoryPerEntity -v
func TestMemoryPerEntity(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	per, entities := measure(n)
	t.Logf("%d entities (%d steps × 6 transitions, %d tasks): %.0f bytes per tracked entity", entities, n, n/4, per)
	if entities != n+n/4 {
		t.Errorf("tracked %d entities, want %d", entities, n+n/4)
	}
	if per <= 0 || per > 4096 {
		t.Errorf("implausible %.0f bytes per entity", per)
	}
}

// BenchmarkEntityMemory reports bytes per tracked entity (steps with 6 transitions each and
// their tasks, four steps per task). Run:
//
//	go test ./internal/statelog -run XXX -bench EntityMemory -benchmem
func BenchmarkEntityMemory(b *testing.B) {
	var per float64
	for b.Loop() {
		per, _ = measure(20_000)
	}
	b.ReportMetric(per, "B/entity")
}

// TestCloseSettlesEverything: at shutdown the connector settles everything it holds and
// flushes (§5). Close, called before any settle window has passed, must derive the same
// facts as settling would, namespaces learned from the task included.
func TestCloseSettlesEverything(t *testing.T) {
	for _, order := range []string{"time order", "reversed"} {
		t.Run(order, func(t *testing.T) {
			l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
			xs := lifecycles()
			if order == "reversed" {
				slices.Reverse(xs)
			}
			add(l, xs...)
			clk.Advance(time.Second)
			var held [3]int64
			for k, n := range l.count {
				held[k] = int64(n)
			}
			l.Close()
			sameMultiset(t, "close", rec.facts, lifecycleFacts())
			if l.Len() != 0 {
				t.Errorf("%d entities left", l.Len())
			}
			// Everything evicted is counted with its reason (§5), shutdown included.
			var want [3][NumEvictReasons]int64
			for k, n := range held {
				want[k][EvictShutdown] = n
			}
			if st := l.TakeStats(); st.Evicted != want || held[tasker.KindTask] == 0 || held[tasker.KindStep] == 0 {
				t.Errorf("evicted %v, want %v", st.Evicted, want)
			}
		})
	}
}

// TestExpirySettlesBeforeEviction: an entity evicted before its settle window passed still
// gives its facts exactly once, with the namespace learned from its task, although the task
// (finished first, so first in the finished list) goes before its step.
func TestExpirySettlesBeforeEviction(t *testing.T) {
	lim := DefaultLimits()
	lim.FinishedGrace = 10 * time.Second // shorter than the settle window
	l, rec, clk := newLog(t, lim, defaultTiming())
	add(l,
		task("C", "none", "pending", 8_000_000, "reports"),
		stepO("sC1", "C", "none", "pending", 8_002_000),
		stepO("sC1", "C", "pending", "error", 9_504_000), // not terminal: finishes with C
		task("C", "pending", "cancelled", 9_503_000, "reports"),
	)
	clk.Advance(11 * time.Second)
	l.Expire()
	if l.Len() != 0 {
		t.Fatalf("%d entities left", l.Len())
	}
	clk.Advance(time.Minute)
	l.Settle()
	sameMultiset(t, "facts", rec.facts, []string{
		"T task C none>pending ev= inv=false ns=reports h=",
		"T task C pending>cancelled ev=task.cancelled inv=false ns=reports h=",
		"D task C pending 1.503000 ns=reports h=", // 9_503_000 − 8_000_000
		"C C cancelled 1.503000 ns=reports",
		"T step sC1 none>pending ev= inv=false ns=reports h=",
		"T step sC1 pending>error ev=step.failed inv=false ns=reports h=",
		"D step sC1 pending 1.502000 ns=reports h=", // 9_504_000 − 8_002_000
	})
	if st := l.TakeStats(); st.Evicted[tasker.KindTask][EvictFinished] != 1 || st.Evicted[tasker.KindStep][EvictFinished] != 1 {
		t.Errorf("evicted %v", st.Evicted)
	}
}

// TestInvalidTransitionsCountAndBehave: invalid moves are counted as transitions too, marked
// invalid (§7), and otherwise behave like any other.
func TestInvalidTransitionsCountAndBehave(t *testing.T) {
	l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
	add(l,
		task("T", "none", "complete", 0, "ns"),
		task("T", "complete", "pending", 4_000, "ns"), // nothing leaves a task's terminal state
		stepO("x", "", "none", "complete", 0),
		stepO("x", "", "complete", "pending", 1_000),          // invalid for a step too
		stepO("x", "", "pending", "resolved_manually", 3_000), // valid from any state
	)
	clk.Advance(31 * time.Second)
	l.Settle()
	sameMultiset(t, "facts", rec.facts, []string{
		"T task T none>complete ev=task.completed inv=false ns=ns h=",
		"T task T complete>pending ev= inv=true ns=ns h=",
		"D task T complete 0.004000 ns=ns h=", // 4_000 − 0
		// The task's start (§5: its transition with no from-state) is its terminal one
		// itself: a task created complete took 0 s.
		"C T complete 0.000000 ns=ns",
		"T step x none>complete ev=step.completed inv=false ns= h=",
		"T step x complete>pending ev= inv=true ns= h=",
		"T step x pending>resolved_manually ev=step.resolved_manually inv=false ns= h=",
		"D step x complete 0.001000 ns= h=", // 1_000 − 0
		"D step x pending 0.002000 ns= h=",  // 3_000 − 1_000
	})
}

// The table of service instances is bounded: instances unseen for the idle time-to-live
// leave it at the next sweep, and past maxSources the least recently seen goes; both are
// counted. Ids are never reused.
func TestServiceInstancesAreBounded(t *testing.T) {
	l, _, clk := newLog(t, DefaultLimits(), defaultTiming())
	addFrom := func(i int) {
		tr := transition.Transition{Kind: tasker.KindStep, ID: fmt.Sprintf("s%d", i), From: tasker.StateNone,
			To: tasker.Pending, Time: at(int64(i)), Source: transition.Source{Service: "tasker-worker", Instance: fmt.Sprintf("w-%d", i)}}
		l.Add(&tr, struct{}{})
	}
	for i := range maxSources + 10 {
		addFrom(i)
		clk.Advance(time.Millisecond) // each instance seen after the one before
	}
	if got := len(l.sources.m); got != maxSources {
		t.Fatalf("%d instances held, want the cap %d", got, maxSources)
	}
	if st := l.TakeStats(); st.SourcesEvicted != 10 {
		t.Fatalf("evicted %d instances, want 10", st.SourcesEvicted)
	}
	// The first instances went (least recently seen); the newest holds the highest id.
	if _, ok := l.sources.m[transition.Source{Service: "tasker-worker", Instance: "w-0"}]; ok {
		t.Error("the least recently seen instance is still held")
	}
	if se := l.sources.m[transition.Source{Service: "tasker-worker", Instance: fmt.Sprintf("w-%d", maxSources+9)}]; se == nil || se.id != maxSources+10 {
		t.Errorf("newest instance %+v, want id %d", se, maxSources+10)
	}
	clk.Advance(DefaultLimits().IdleTTL + time.Minute)
	l.Expire()
	if got := len(l.sources.m); got != 0 {
		t.Errorf("%d idle instances left after the idle time-to-live", got)
	}
	if st := l.TakeStats(); st.SourcesEvicted != maxSources {
		t.Errorf("evicted %d idle instances, want %d", st.SourcesEvicted, maxSources)
	}
}

// ---- Regressions found in review -----------------------------------------------------------

// docs/telemetry.md §5: at equal times the chain decides, then the order of arrival. Two
// transitions of one step from one service, at the same telemetry time, arrive in reverse order.
func TestEqualTimesOneServiceChainDecides(t *testing.T) {
	l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
	add(l,
		stepW("x", "", "enqueued", "in_progress", 10_000, "", ""), // arrives first
		stepW("x", "", "pending", "enqueued", 10_000, "", ""),     // same time, arrives second
		stepW("x", "", "in_progress", "complete", 20_000, "", ""),
	)
	clk.Advance(31 * time.Second)
	l.Settle()
	sameMultiset(t, "durations", rec.of("D "), []string{
		"D step x enqueued 0.000000 ns= h=",    // pending>enqueued then enqueued>in_progress, equal times
		"D step x in_progress 0.010000 ns= h=", // 20_000 − 10_000
	})
}

// Same, as the processor sees it (§6 stamps, settle window 0).
func TestEqualTimesOneServiceStamps(t *testing.T) {
	clk := clockwork.NewFakeClock()
	l := NewStamping[struct{}](DefaultLimits(), Timing{MaxClockSkew: time.Second}, clk)
	a := stepW("x", "", "enqueued", "in_progress", 10_000, "", "").T()
	b := stepW("x", "", "pending", "enqueued", 10_000, "", "").T()
	ra, _ := l.Add(&a, struct{}{})
	l.Add(&b, struct{}{})
	s := l.Stamps(ra)
	if !s.HasStateSeconds {
		t.Errorf("enqueued>in_progress: no tasker.state.duration though pending>enqueued at the same time is known: %+v", s)
	}
}

// docs/telemetry.md §5/§7: an attempt closes, counted once, at the step's next closing transition; every
// fact exactly once. A late claim that lands between an already counted claim and its close
// must not make that close count a second attempt.
func TestLateClaimDoesNotCountTheCloseTwice(t *testing.T) {
	l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
	add(l,
		stepW("x", "", "enqueued", "in_progress", 10_000, "", ""),
		stepW("x", "", "in_progress", "complete", 30_000, "", ""),
	)
	clk.Advance(31 * time.Second)
	l.Settle()
	first := rec.of("A ")
	rec.take()
	add(l, stepW("x", "", "enqueued", "in_progress", 20_000, "", "")) // late
	clk.Advance(31 * time.Second)
	l.Settle()
	second := rec.of("A ")
	if n := len(first) + len(second); n != 1 {
		t.Errorf("one closing transition (in_progress>complete) gave %d attempts: %v then %v", n, first, second)
	}
}

// docs/telemetry.md §5, Retention: a step is finished when its task is, since a step's error
// is not terminal.
// A completed step of a still-running task is not finished: it outlives the grace period.
func TestStepFinishedOnlyWithItsTask(t *testing.T) {
	l, _, clk := newLog(t, DefaultLimits(), defaultTiming())
	add(l,
		task("T", "none", "pending", 0, ""),
		task("T", "pending", "initializing", 1_000, ""),
		stepO("x", "T", "none", "pending", 1_000),
		stepW("x", "T", "pending", "in_progress", 2_000, "", ""),
		stepW("x", "T", "in_progress", "complete", 3_000, "", ""),
	)
	clk.Advance(6 * time.Minute)
	l.Expire()
	if l.Get(tasker.KindStep, "x") == nil {
		st := l.TakeStats()
		t.Errorf("step x evicted (%v) while its task T is still running", st.Evicted[tasker.KindStep])
	}
}

// docs/telemetry.md §5: a value on the carrier itself wins for that transition.
func TestDirectNamespaceWinsOverLaterLink(t *testing.T) {
	l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
	l.Learn(transition.Hint{TaskID: "T", Namespace: "billing"})
	// The step's transition carries namespace "payments" itself; its task is not known yet.
	add(l, stepW("x", "", "none", "pending", 0, "payments", ""))
	// A later span links x to T.
	l.Learn(transition.Hint{TaskID: "T", StepID: "x"})
	clk.Advance(31 * time.Second)
	l.Settle()
	sameMultiset(t, "transitions", rec.of("T "), []string{
		"T step x none>pending ev= inv=false ns=payments h=",
	})
}

// docs/telemetry.md §7: every recognised transition that is not a duplicate counts in the
// state_transitions metrics.
// A burst of transitions of one entity within the settle window overflows its log: the
// entity is settled at once, so that every transition is still counted.
func TestOverflowWithinSettleWindowCountsEveryTransition(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxTransitionsPerEntity = 4
	l, rec, clk := newLog(t, lim, defaultTiming())
	st := add(l,
		task("T", "none", "pending", 0, ""),
		task("T", "pending", "initializing", 1_000, ""),
		task("T", "initializing", "enqueuing_steps", 2_000, ""),
		task("T", "enqueuing_steps", "steps_in_process", 3_000, ""),
		task("T", "steps_in_process", "evaluating_results", 4_000, ""),
	)
	clk.Advance(31 * time.Second)
	l.Settle()
	l.SettleAll()
	if n := len(rec.of("T ")); n != 5 {
		t.Errorf("5 recognised, non-duplicate transitions; %d counted (statuses %v)", n, st)
	}
}

// docs/telemetry.md §5: an overflowing log drops its oldest settled transition but keeps its
// start. A task
// whose none-transition never arrived starts at pending → initializing (§5, completion);
// overflow must keep it, so that the completion is still measured.
func TestOverflowKeepsTheFallbackStart(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxTransitionsPerEntity = 4
	l, rec, clk := newLog(t, lim, defaultTiming())
	xs := []tr{
		task("T", "pending", "initializing", 0, ""),
		task("T", "initializing", "enqueuing_steps", 1_000, ""),
		task("T", "enqueuing_steps", "steps_in_process", 2_000, ""),
		task("T", "steps_in_process", "evaluating_results", 3_000, ""),
		task("T", "evaluating_results", "enqueuing_steps", 4_000, ""),
		task("T", "enqueuing_steps", "steps_in_process", 5_000, ""),
		task("T", "steps_in_process", "complete", 6_000, ""),
	}
	for _, x := range xs {
		add(l, x)
		clk.Advance(31 * time.Second)
		l.Settle()
	}
	sameMultiset(t, "completion", rec.of("C "), []string{"C T complete 0.006000 ns="})
}

// docs/telemetry.md §5 (at equal times the chain decides, then the order of arrival), for
// runs longer than a pair: a step's
// first four transitions share one telemetry time (one service), in every arrival order,
// one batch or one transition per batch; and the same run after an earlier transition that
// it continues. Every order gives the same durations.
func TestEqualTimesLongerRunsChainDecides(t *testing.T) {
	run := []tr{
		stepO("x", "", "none", "pending", 10_000),
		stepO("x", "", "pending", "enqueued", 10_000),
		stepO("x", "", "enqueued", "in_progress", 10_000),
		stepO("x", "", "in_progress", "enqueued_for_orchestration", 10_000),
	}
	last := stepO("x", "", "enqueued_for_orchestration", "complete", 30_000)
	want := []string{
		"D step x pending 0.000000 ns= h=",
		"D step x enqueued 0.000000 ns= h=",
		"D step x in_progress 0.000000 ns= h=",
		"D step x enqueued_for_orchestration 0.020000 ns= h=",
	}
	for _, perm := range permutations(len(run)) {
		for _, oneByOne := range []bool{false, true} {
			l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
			for _, i := range perm {
				add(l, run[i])
				if oneByOne {
					clk.Advance(time.Second)
				}
			}
			add(l, last)
			clk.Advance(31 * time.Second)
			l.Settle()
			sameMultiset(t, fmt.Sprintf("durations, arrival %v, one by one %v", perm, oneByOne), rec.of("D "), want)
		}
	}
	// The run continues an earlier transition: the one that chains onto it comes first.
	for _, perm := range permutations(3) {
		l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
		add(l, run[0])
		for _, i := range perm {
			add(l, stepO("x", "", run[i+1].from, run[i+1].to, 20_000))
		}
		clk.Advance(31 * time.Second)
		l.Settle()
		sameMultiset(t, fmt.Sprintf("durations after a start, arrival %v", perm), rec.of("D "), []string{
			"D step x pending 0.010000 ns= h=",
			"D step x enqueued 0.000000 ns= h=",
			"D step x in_progress 0.000000 ns= h=",
		})
	}
}

// permutations returns every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// Variant at a step's creation: none>pending and pending>enqueued share a timestamp and
// arrive in reverse order.
func TestEqualTimesAtCreation(t *testing.T) {
	l, rec, clk := newLog(t, DefaultLimits(), defaultTiming())
	add(l,
		stepO("x", "", "pending", "enqueued", 10_000),
		stepO("x", "", "none", "pending", 10_000),
		stepW("x", "", "enqueued", "in_progress", 20_000, "", ""),
	)
	clk.Advance(31 * time.Second)
	l.Settle()
	sameMultiset(t, "durations", rec.of("D "), []string{
		"D step x pending 0.000000 ns= h=",
		"D step x enqueued 0.010000 ns= h=",
	})
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{
		"1048576": 1 << 20, "64MiB": 64 << 20, "64 mib": 64 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10,
		"1.5GiB": 3 << 29, "100MB": 100e6, "2g": 2 << 30, "10B": 10,
	} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err != nil || b != want {
			t.Errorf("%q: got %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1MiB", "12 apples", "1e30GiB"} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q: accepted as %d", in, b)
		}
	}
	if s := ByteSize(64 << 20).String(); s != "64MiB" {
		t.Errorf("String %q", s)
	}
}

// ---- max_memory and the id arena -----------------------------------------------------------

// padID is an id of exactly n bytes that is not a canonical UUID, so that the log keeps it
// in its arena.
func padID(prefix string, i, n int) string {
	id := fmt.Sprintf("%s%d-", prefix, i)
	return id + strings.Repeat("x", n-len(id))
}

// TestMaxMemoryBoundsTheIDArena: ids that are not UUIDs (a task's, a step's and, in a
// deriving log, a task's correlation id) go into the log's arena, which is counted in Bytes.
// A stream of new entities with such ids, as long as limits::max_id_bytes and
// max_correlation_id_bytes allow up to their maximum, keeps the log within max_memory: the
// arena's garbage (the ids of the entities that left) is compacted, and it grows only within
// the budget, entities going to make room as they do for a slab page. The log stays
// consistent, and holds the newest.
func TestMaxMemoryBoundsTheIDArena(t *testing.T) {
	for _, mode := range []string{"stamping", "deriving"} {
		for _, mem := range []ByteSize{1 << 20, 8 << 20} {
			for _, n := range []int{37, transition.DefaultValueLimits().MaxIDBytes, transition.MaxIDBytesLimit} {
				t.Run(fmt.Sprintf("%s/%s/%dB", mode, mem, n), func(t *testing.T) {
					lim := DefaultLimits()
					lim.MaxMemory = mem
					clk := clockwork.NewFakeClock()
					l := NewStamping[struct{}](lim, defaultTiming(), clk)
					if mode == "deriving" {
						l = NewDeriving[struct{}](lim, defaultTiming(), clk, &recorder{})
					}
					// held is what max_memory bounds here: all of Bytes but, in a deriving log, the
					// settle queue, which grows by appending (at most an item per entity) and is
					// only charged when a slab page is next added.
					held := func() int64 {
						if l.derive != nil {
							return l.Bytes() - l.derive.queue.bytes()
						}
						return l.Bytes()
					}
					const tasks = 20_000
					for i := range tasks {
						tk := padID("t", i, n)
						x := transition.Transition{Kind: tasker.KindTask, ID: tk, TaskID: tk, From: tasker.StateNone, To: tasker.Pending,
							Time: at(int64(i)), Source: orch, CorrelationID: padID("c", i, n)}
						l.Add(&x, struct{}{})
						y := transition.Transition{Kind: tasker.KindStep, ID: padID("s", i, n), TaskID: tk, From: tasker.StateNone,
							To: tasker.Pending, Time: at(int64(i)), Source: orch}
						l.Add(&y, struct{}{})
						if b := held(); b > int64(mem) {
							t.Fatalf("after %d tasks and their steps: %d bytes held, over max_memory %d (the id arena %d)", i+1, b, int64(mem), l.ids.bytes())
						}
						if i%1000 == 999 {
							clk.Advance(time.Millisecond)
						}
					}
					if err := l.check(); err != nil {
						t.Fatal(err)
					}
					if l.Get(tasker.KindTask, padID("t", tasks-1, n)) == nil || l.Get(tasker.KindStep, padID("s", tasks-1, n)) == nil {
						t.Error("the newest task and step are not tracked")
					}
					if l.Len() < 10 {
						t.Errorf("only %d entities tracked", l.Len())
					}
					if st := l.TakeStats(); mem == 1<<20 && st.Evicted[tasker.KindTask][EvictMemory]+st.Evicted[tasker.KindTask][EvictUnsettled] == 0 {
						t.Errorf("the budget did not bind: no task evicted for memory (%v)", st.Evicted)
					}
					t.Logf("%d entities tracked, %d bytes (the id arena %d)", l.Len(), l.Bytes(), l.ids.bytes())
				})
			}
		}
	}
}

// TestIDArenaDoesNotEmptyTheLog: a log full of entities with UUID ids (no arena bytes) that
// then sees entities with other ids does not evict everything to make arena room: evicting an
// entity with a UUID id frees no id bytes, so it stops after a few.
func TestIDArenaDoesNotEmptyTheLog(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxMemory = 2 << 20
	l, _, _ := newLog(t, lim, defaultTiming())
	for _, id := range stepUUIDs('a', 20_000) {
		x := transition.Transition{Kind: tasker.KindStep, ID: id, From: tasker.StateNone, To: tasker.Pending, Time: at(1), Source: orch}
		l.Add(&x, struct{}{})
	}
	full := l.Len()
	for i := range 50 {
		x := transition.Transition{Kind: tasker.KindStep, ID: padID("s", i, 1024), From: tasker.StateNone, To: tasker.Pending, Time: at(2), Source: orch}
		l.Add(&x, struct{}{})
	}
	if l.Len() < full/2 {
		t.Errorf("%d entities tracked after 50 with long ids, %d before", l.Len(), full)
	}
	if err := l.check(); err != nil {
		t.Fatal(err)
	}
}

// TestEvictFinishedOnlyOnceSettled: a finished entity goes first only once its transitions
// have settled (§5: one that has not settled goes only as a last resort, counted apart);
// before that the least recently seen settled unfinished one goes, and when nothing has
// settled, the finished one goes first, counted as unsettled.
func TestEvictFinishedOnlyOnceSettled(t *testing.T) {
	l, rec, clk := newLog(t, smallLimits(), defaultTiming())
	add(l, stepO("e1", "", "none", "pending", 0))
	clk.Advance(time.Second)
	add(l, stepO("e2", "", "none", "pending", 0))
	clk.Advance(31 * time.Second)
	l.Settle()                                                                                // e1 and e2 settled
	add(l, task("T", "none", "pending", 0, ""), task("T", "pending", "cancelled", 1_000, "")) // finished, unsettled
	clk.Advance(time.Second)
	add(l, stepO("e3", "", "none", "pending", 0))
	if l.Get(tasker.KindTask, "T") == nil || l.Get(tasker.KindStep, "e1") != nil || l.Get(tasker.KindStep, "e2") == nil {
		t.Fatal("the settled e1, least recently seen, must go before the finished but unsettled task")
	}
	if n := len(rec.of("T task T")); n != 0 {
		t.Errorf("the task was settled early: %d facts", n)
	}
	clk.Advance(time.Second)
	add(l, stepO("e4", "", "none", "pending", 0)) // e2 goes, settled
	clk.Advance(time.Second)
	add(l, stepO("e5", "", "none", "pending", 0)) // nothing settled: the finished task goes
	if l.Get(tasker.KindTask, "T") != nil || l.Get(tasker.KindStep, "e3") == nil || l.Get(tasker.KindStep, "e4") == nil {
		t.Error("with nothing settled, the finished task must go before the unfinished steps")
	}
	if n := len(rec.of("T task T")); n != 2 {
		t.Errorf("the evicted task's two transitions: %d facts, want 2 (derived as it left)", n)
	}
	st := l.TakeStats()
	if want := ([NumEvictReasons]int64{EvictCapacity: 2}); st.Evicted[tasker.KindStep] != want {
		t.Errorf("steps evicted %v, want %v", st.Evicted[tasker.KindStep], want)
	}
	if want := ([NumEvictReasons]int64{EvictUnsettled: 1}); st.Evicted[tasker.KindTask] != want {
		t.Errorf("task evicted %v, want %v", st.Evicted[tasker.KindTask], want)
	}
}
