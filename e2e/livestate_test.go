//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tasker-systems/otelcol-tasker/cmd/taskersim/sim"
)

// Tolerances of a comparison with the ground truth, given the wanted value.
func exact(float64) float64 { return 0 }

// approx is for sums of float durations, which the collector adds in another order.
func approx(w float64) float64 { return 1e-6 + 1e-9*math.Abs(w) }

// toTheMillisecond is for unix times (oldest_in_state_since).
func toTheMillisecond(float64) float64 { return 1e-3 }

// diffSeries runs an instant query and compares its series, keyed by labelKey, with want:
// a value off by more than tol, a wanted series missing and an unwanted one are differences,
// except unwanted series that allowed (if not nil) accepts. An le label is compared as the
// number it is (Prometheus 3 writes 1 as "1.0").
func diffSeries(ctx context.Context, prom *promAPI, query string, want map[string]float64, tol func(float64) float64, allowed func(map[string]string, float64) bool) ([]string, error) {
	res, err := prom.query(ctx, query)
	if err != nil {
		return nil, err
	}
	got := map[string]float64{}
	labels := map[string]map[string]string{}
	for _, r := range res {
		if le, ok := r.labels["le"]; ok {
			if f, err := strconv.ParseFloat(le, 64); err == nil {
				r.labels["le"] = strconv.FormatFloat(f, 'g', -1, 64)
			}
		}
		k := labelKey(r.labels)
		got[k] += r.value
		labels[k] = r.labels
	}
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		if !ok || math.Abs(g-w) > tol(w) {
			diffs = append(diffs, fmt.Sprintf("%s {%s}: got %v (present %v), want %v", query, k, g, ok, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok && (allowed == nil || !allowed(labels[k], g)) {
			diffs = append(diffs, fmt.Sprintf("%s {%s}: got %v, want no such series", query, k, g))
		}
	}
	return diffs, nil
}

// diffsError turns the differences of a comparison into one error, or nil.
func diffsError(diffs []string) error {
	if len(diffs) == 0 {
		return nil
	}
	sort.Strings(diffs)
	n := len(diffs)
	if n > 40 {
		diffs = append(diffs[:40], fmt.Sprintf("... and %d more", n-40))
	}
	return fmt.Errorf("Prometheus differs from the ground truth in %d series:\n  %s", n, strings.Join(diffs, "\n  "))
}

// diffHistogram compares a histogram's count and sum per series, summed by its §7
// attributes, with the ground truth, and its buckets where the ground truth has them (the
// contract fixes the bounds of tasker.step.attempt_count).
func diffHistogram(ctx context.Context, prom *promAPI, metric string, labels []string, series []sim.HistogramSeries) ([]string, error) {
	wantCount, wantSum, wantBuckets := map[string]float64{}, map[string]float64{}, map[string]float64{}
	withBuckets := false
	for _, s := range series {
		k := labelKey(s.Labels)
		wantCount[k] += float64(s.Count)
		wantSum[k] += s.Sum
		for le, n := range s.Buckets {
			withBuckets = true
			l := map[string]string{"le": le}
			for name, v := range s.Labels {
				l[name] = v
			}
			wantBuckets[labelKey(l)] += float64(n)
		}
	}
	by := strings.Join(labels, ",")
	type comparison struct {
		query string
		want  map[string]float64
		tol   func(float64) float64
	}
	queries := []comparison{
		{fmt.Sprintf("sum by (%s) (%s_count)", by, metric), wantCount, exact},
		{fmt.Sprintf("sum by (%s) (%s_sum)", by, metric), wantSum, approx},
	}
	if withBuckets {
		queries = append(queries, comparison{fmt.Sprintf("sum by (%s, le) (%s_bucket)", by, metric), wantBuckets, exact})
	}
	var diffs []string
	for _, q := range queries {
		d, err := diffSeries(ctx, prom, q.query, q.want, q.tol, nil)
		if err != nil {
			return nil, err
		}
		diffs = append(diffs, d...)
	}
	return diffs, nil
}

// liveStateLabels are the labels a live-state series is compared by: its §7 attributes and
// job, since a live entity belongs to the resource of its latest transition.
var liveStateLabels = []string{"job", "namespace", "state"}

// compareLiveState compares the four live-state gauges with the ground truth at the end of
// the run: in_state exactly (summed over anything else, e.g. collector_instance_id; a series
// of a non-terminal state at 0 is allowed, as §7 says), oldest_in_state_since to the
// millisecond (the smallest over anything else; no series where nothing is live), and no
// series at all for a terminal state.
func compareLiveState(ctx context.Context, prom *promAPI, truth *sim.Truth) error {
	var diffs []string
	for _, g := range []struct {
		metric, kind, agg string
		tol               func(float64) float64
		zeroAllowed       bool
	}{
		{sim.MetricTaskInState, sim.KindTask, "sum", exact, true},
		{sim.MetricStepInState, sim.KindStep, "sum", exact, true},
		{sim.MetricTaskOldestInState, sim.KindTask, "min", toTheMillisecond, false},
		{sim.MetricStepOldestInState, sim.KindStep, "min", toTheMillisecond, false},
	} {
		want := map[string]float64{}
		for _, s := range truth.Gauges[g.metric] {
			want[labelKey(s.Labels)] = s.Value
		}
		allowed := func(l map[string]string, v float64) bool {
			return g.zeroAllowed && v == 0 && !sim.Terminal(g.kind, l["state"])
		}
		d, err := diffSeries(ctx, prom, fmt.Sprintf("%s by (%s) (%s)", g.agg, strings.Join(liveStateLabels, ","), g.metric), want, g.tol, allowed)
		if err != nil {
			return err
		}
		diffs = append(diffs, d...)
	}
	return diffsError(diffs)
}

// stepOutcomeLabels are the §7 attributes of the two step-outcome histograms.
var stepOutcomeLabels = map[string][]string{
	sim.MetricStepCompletion:   {"namespace", "handler_name", "outcome"},
	sim.MetricStepAttemptCount: {"namespace", "handler_name", "outcome"},
}

// compareStepOutcomes compares tasker_step_completion_duration_seconds and
// tasker_step_attempt_count (count, sum, and the attempt count's buckets) with the ground
// truth.
func compareStepOutcomes(ctx context.Context, prom *promAPI, truth *sim.Truth) error {
	var diffs []string
	for _, m := range sortedKeys(stepOutcomeLabels) {
		d, err := diffHistogram(ctx, prom, m, stepOutcomeLabels[m], truth.Histograms[m])
		if err != nil {
			return err
		}
		diffs = append(diffs, d...)
	}
	return diffsError(diffs)
}

var taskerMetricName = regexp.MustCompile(`tasker_[a-z_]+`)

// truthExpectsData reports whether a query of a rule or panel must return data after the
// run: it must unless it names a metric of the connector's output of which the ground truth
// has no series (the live-state gauges after a run whose tasks all ended, the task metrics
// without task transitions). Names the ground truth does not know (the collectors' own
// telemetry, parts of recording-rule names) decide nothing.
func truthExpectsData(truth *sim.Truth, query string) bool {
	for _, name := range taskerMetricName.FindAllString(query, -1) {
		if n, known := truthSeries(truth, name); known && n == 0 {
			return false
		}
	}
	return true
}

func truthSeries(truth *sim.Truth, name string) (int, bool) {
	if s, ok := truth.Counters[name]; ok {
		return len(s), true
	}
	if s, ok := truth.Gauges[name]; ok {
		return len(s), true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if s, ok := truth.Histograms[base]; ok {
				return len(s), true
			}
		}
	}
	return 0, false
}

// requireLiveCases stops a test whose run would prove too little: tasks and steps left in
// every non-terminal state, a step that gave up, a cancelled task with unfinished steps, and
// a move out of a terminal state.
func requireLiveCases(t *testing.T, truth *sim.Truth, withTasks bool) {
	t.Helper()
	var missing []string
	wantStates := map[string][]string{
		sim.KindStep: {"enqueued", "enqueued_as_error_for_orchestration", "enqueued_for_orchestration", "error", "in_progress", "pending", "waiting_for_retry"},
	}
	if withTasks {
		wantStates[sim.KindTask] = []string{"blocked_by_failures", "enqueuing_steps", "evaluating_results", "initializing", "pending", "steps_in_process", "waiting_for_dependencies", "waiting_for_retry"}
		gaveUp := false
		for _, h := range truth.Histograms[sim.MetricStepCompletion] {
			gaveUp = gaveUp || h.Labels["outcome"] == "error"
		}
		if !gaveUp {
			missing = append(missing, "a step that gave up after its retries")
		}
		if truth.Injected.CancelledWithUnfinishedSteps == 0 {
			missing = append(missing, "a cancelled task with unfinished steps")
		}
	}
	for kind, want := range wantStates {
		if got := truth.LiveStates(kind); strings.Join(got, ",") != strings.Join(want, ",") {
			missing = append(missing, fmt.Sprintf("live %ss in every non-terminal state (%v, want %v)", kind, got, want))
		}
	}
	if truth.Injected.OutOfTerminal == 0 {
		missing = append(missing, "a move out of a terminal state")
	}
	if len(missing) > 0 {
		t.Fatalf("the run lacks %s: the test would prove little; change the seed or the rates", strings.Join(missing, "; "))
	}
}

// TestLiveState leaves half the tasks unfinished, stopped in every non-terminal state of both
// machines (with their steps), among tasks that finish, give up, are cancelled with pending
// steps and move out of their terminal states, with duplicates and late carriers: the live
// state (§7 "Live state") and the step outcomes ("Step outcomes across retries") in
// Prometheus must equal the ground truth, as must the seven other metrics, and the deploy/
// rules and panels on them must return data. Without task transitions (today's Tasker), a
// step stops being live only by its own terminal state.
func TestLiveState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	for _, c := range []struct {
		name      string
		seed      uint64
		withTasks bool
	}{
		{"with task transitions", seed + 4, true},
		{"today's Tasker: no task transitions", seed + 5, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := simOptions()
			o.Seed = c.seed
			o.InFlightRate = 0.5
			o.InvalidRate = 0.25
			o.OmitTaskTransitions = !c.withTasks
			if !c.withTasks {
				o.Shape = sim.ShapeEvents
			}
			truth, prom, _, _ := runSimulator(ctx, t, o)
			requireLiveCases(t, truth, c.withTasks)
			t.Logf("%d tasks in flight; %v live steps, %v live tasks; %d moves out of terminal states",
				truth.InFlight, gaugeTotal(truth, sim.MetricStepInState), gaugeTotal(truth, sim.MetricTaskInState), truth.Injected.OutOfTerminal)
			// Once the seven metrics are exact every transition has settled and been flushed,
			// so the gauges and histograms of the same flush need no long wait.
			if err := eventually(ctx, 2*time.Minute, time.Second, func() error { return compareMetrics(ctx, prom, truth) }); err != nil {
				t.Fatal(err)
			}
			checkLiveStateAndOutcomes(ctx, t, prom, truth)
			if c.withTasks {
				t.Run("deploy/prometheus rules return data", func(t *testing.T) { checkDeployRules(ctx, t, prom, truth) })
				t.Run("deploy/grafana panels return data", func(t *testing.T) { checkDashboard(ctx, t, prom, truth) })
			}
		})
	}
}

// checkLiveStateAndOutcomes compares the live-state gauges and the step outcomes with the
// ground truth, once the seven metrics match: every transition has settled and been flushed,
// so the gauges and histograms of the same flush need no long wait.
func checkLiveStateAndOutcomes(ctx context.Context, t *testing.T, prom *promAPI, truth *sim.Truth) {
	t.Helper()
	for _, check := range []struct {
		name    string
		compare func(context.Context, *promAPI, *sim.Truth) error
	}{
		{"live-state gauges", compareLiveState},
		{"step outcomes", compareStepOutcomes},
	} {
		if err := eventually(ctx, 30*time.Second, time.Second, func() error { return check.compare(ctx, prom, truth) }); err != nil {
			t.Errorf("%s: %v", check.name, err)
		}
	}
}

func gaugeTotal(truth *sim.Truth, metric string) float64 {
	var n float64
	for _, g := range truth.Gauges[metric] {
		n += g.Value
	}
	return n
}
