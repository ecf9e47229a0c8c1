//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tasker-systems/otelcol-tasker/cmd/taskersim/sim"
)

// The run's shape: a fixed seed, a mix of both input shapes, and every fault the simulator
// can inject. Worker spans reach the collector 2 s after the orchestration's, late carriers
// another 1.5 s later; the connector's settle window (8 s) covers both, so the metrics must be
// exact.
const (
	seed         = 20261125
	settleWindow = "8s"
)

func simOptions() sim.Options {
	o := sim.DefaultOptions()
	o.Seed = seed
	o.Tasks = 40
	o.Rate = 8
	o.Speed = 20
	o.Shape = sim.ShapeMix
	o.Workers = 2
	o.InvalidRate = 0.15
	o.DuplicateRate = 0.03
	o.LateRate = 0.015
	o.WorkerDelay = 2 * time.Second
	o.LateDelay = 1500 * time.Millisecond
	o.DuplicateDelay = time.Second
	return o
}

type stack struct {
	otlpGRPC    string
	promExport  string
	prometheus  string
	jaegerQuery string
	telemetry   string // the collector's own metrics
	health      string
	dir         string
	// The collector: the process running now, and how to start it again (restartCollector).
	collector *server
	starts    int
	env       []string
}

// stackOptions change what startStack starts.
type stackOptions struct {
	// env: more settings of the collector (TASKER_*), over startStack's own.
	env []string
	// tracesVia, if set, returns where the collector sends its traces, given Jaeger's OTLP
	// endpoint (a link the test can cut).
	tracesVia func(jaegerOTLP string) string
}

// startStack starts Jaeger, the collector and Prometheus on free loopback ports. Each stack's
// collector has a storage directory of its own (TASKER_STORAGE_DIR, file_storage).
func startStack(t *testing.T) *stack { return startStackWith(t, stackOptions{}) }

func startStackWith(t *testing.T, o stackOptions) *stack {
	dir := t.TempDir()
	jaegerOTLP, jaegerQuery := startJaeger(t, dir)
	if o.tracesVia != nil {
		jaegerOTLP = o.tracesVia(jaegerOTLP)
	}
	p := freePorts(t, 7)
	st := &stack{otlpGRPC: addr(p[0]), promExport: addr(p[2]), jaegerQuery: jaegerQuery, telemetry: addr(p[6]), health: addr(p[3]), dir: dir}
	st.env = append([]string{
		"TASKER_OTLP_GRPC_ENDPOINT=" + st.otlpGRPC,
		"TASKER_OTLP_HTTP_ENDPOINT=" + addr(p[1]),
		"TASKER_PROMETHEUS_ENDPOINT=" + st.promExport,
		"TASKER_HEALTH_ENDPOINT=" + st.health,
		"TASKER_ZPAGES_ENDPOINT=" + addr(p[4]),
		"TASKER_PPROF_ENDPOINT=" + addr(p[5]),
		"TASKER_TELEMETRY_PORT=" + strconv.Itoa(p[6]),
		"TASKER_JAEGER_OTLP_ENDPOINT=" + jaegerOTLP,
		"TASKER_SETTLE_WINDOW=" + settleWindow,
		"TASKER_FLUSH_INTERVAL=1s",
		"TASKER_STORAGE_DIR=" + filepath.Join(dir, "storage"),
	}, o.env...)
	st.startCollector(t)
	st.prometheus = startPrometheus(t, dir, []string{st.promExport}, []string{st.telemetry})
	return st
}

// startCollector starts the stack's collector (again, after a restart: same ports, same
// storage), logging to collector.log, then collector-2.log, ..., and waits until it is healthy.
func (st *stack) startCollector(t *testing.T) {
	st.starts++
	name := "collector"
	if st.starts > 1 {
		name = fmt.Sprintf("collector-%d", st.starts)
	}
	st.collector = startServer(t, st.dir, name, st.env,
		env(t, "OTELCOL_TASKER_BIN", ""), "--config", env(t, "OTELCOL_TASKER_CONFIG", "../otelcol-config.yaml"))
	waitHTTP(t, st.collector, "http://"+st.health+"/", time.Minute)
}

// startJaeger starts Jaeger (deploy/jaeger.yaml) on free loopback ports and returns its OTLP
// gRPC endpoint and its query API's address.
func startJaeger(t *testing.T, dir string) (otlpGRPC, query string) {
	jaegerBin := env(t, "JAEGER_BIN", "")
	jaegerCfg := env(t, "JAEGER_CONFIG", "../deploy/jaeger.yaml")
	p := freePorts(t, 6)
	otlpGRPC, query = addr(p[0]), addr(p[2])
	jaeger := startServer(t, dir, "jaeger", []string{
		"JAEGER_OTLP_GRPC_ENDPOINT=" + otlpGRPC,
		"JAEGER_OTLP_HTTP_ENDPOINT=" + addr(p[1]),
		"JAEGER_QUERY_HTTP_ENDPOINT=" + query,
		"JAEGER_QUERY_GRPC_ENDPOINT=" + addr(p[3]),
		"JAEGER_HEALTH_ENDPOINT=" + addr(p[4]),
		"JAEGER_TELEMETRY_PORT=" + strconv.Itoa(p[5]),
	}, jaegerBin, "--config", jaegerCfg)
	waitHTTP(t, jaeger, "http://"+query+"/api/v3/services", time.Minute)
	return otlpGRPC, query
}

// startPrometheus starts Prometheus on a free loopback port, scraping every second the
// collectors' prometheus exporters (honor_labels, as deploy/README.md says) and their own
// telemetry, and returns its address. The rules of deploy/prometheus are loaded as a user
// would load them.
func startPrometheus(t *testing.T, dir string, exporters, telemetry []string) string {
	promBin := env(t, "PROMETHEUS_BIN", "/usr/bin/prometheus")
	rules, err := filepath.Abs(env(t, "PROMETHEUS_RULES", rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	listen := addr(freePorts(t, 1)[0])
	targets := func(ts []string) string { return "['" + strings.Join(ts, "', '") + "']" }
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ['%s']
scrape_configs:
  - job_name: otelcol-tasker
    honor_labels: true
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: %s
  - job_name: otelcol-tasker-self
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: %s
`, rules, targets(exporters), targets(telemetry))
	promCfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promCfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := startServer(t, dir, "prometheus", nil, promBin,
		"--config.file="+promCfg,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		"--web.listen-address="+listen,
		"--enable-feature=exemplar-storage",
	)
	waitHTTP(t, prom, "http://"+listen+"/-/ready", time.Minute)
	return listen
}

// runSimulator starts the stack, runs the simulator into it, and returns its ground truth.
func runSimulator(ctx context.Context, t *testing.T, opts sim.Options) (*sim.Truth, *promAPI, *jaegerAPI, *selfMetrics) {
	st := startStack(t)
	began := time.Now()
	truth, stats, err := sim.Run(ctx, opts, st.otlpGRPC)
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	if b, err := json.MarshalIndent(truth, "", "  "); err == nil {
		if out := os.Getenv("E2E_TRUTH_OUT"); out != "" {
			_ = os.WriteFile(out+"."+t.Name()+".json", b, 0o644)
		}
	}
	t.Logf("simulator: %d tasks, %d spans sent in %s; %d invalid, %d duplicates, %d late spans injected; fates %v",
		truth.Tasks, stats.Spans, time.Since(began).Round(time.Millisecond), truth.Injected.Invalid, truth.Injected.Duplicates, truth.Injected.Late, truth.Fates)
	if stats.Spans != truth.SpanCount {
		t.Fatalf("sent %d spans, the plan has %d", stats.Spans, truth.SpanCount)
	}
	return truth, &promAPI{base: "http://" + st.prometheus}, &jaegerAPI{base: "http://" + st.jaegerQuery}, &selfMetrics{url: "http://" + st.telemetry + "/metrics"}
}

// TestTodaysTasker sends what Tasker emits today: step transitions as `Step state transition`
// span events (orchestration-side ones in spans without a namespace), no task transitions.
// The step metrics must be exact, with the real namespace; the task metrics must not exist.
func TestTodaysTasker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	o := simOptions()
	o.Seed = seed + 1
	o.Shape = sim.ShapeEvents
	o.OmitTaskTransitions = true
	o.InvalidRate, o.DuplicateRate, o.LateRate = 0, 0, 0
	truth, prom, jaeger, _ := runSimulator(ctx, t, o)
	if err := eventually(ctx, 2*time.Minute, time.Second, func() error { return compareMetrics(ctx, prom, truth) }); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{sim.MetricTaskTransitions, sim.MetricTaskStateDuration + "_count", sim.MetricTaskCompletion + "_count"} {
		if res, err := prom.query(ctx, "count("+m+")"); err != nil || len(res) != 0 {
			t.Errorf("%s exists (%v, %v) though no task transition was sent", m, res, err)
		}
	}
	traces, err := jaeger.everySpan(ctx, truth, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	checkStamps(t, traces, truth)
}

// TestLateBeyondSettleWindow sends some transitions later than the connector's settle window
// (docs/telemetry.md §5: late). They must still count as transitions, exactly, and be counted
// as late; the facts that depend on them are derived only where that is still possible, so the
// histograms and attempts are
// not compared here.
func TestLateBeyondSettleWindow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	o := simOptions()
	o.Seed = seed + 2
	o.Tasks = 20
	o.InvalidRate, o.DuplicateRate = 0, 0
	o.LateRate = 0.03
	o.LateDelay = 12 * time.Second // settle window 8 s
	truth, prom, _, self := runSimulator(ctx, t, o)
	if truth.Injected.Late == 0 {
		t.Fatal("no late carrier injected; change the seed")
	}
	onlyCounters := *truth
	onlyCounters.Histograms = nil
	onlyCounters.Counters = map[string][]sim.CounterSeries{}
	for _, m := range []string{sim.MetricTaskTransitions, sim.MetricStepTransitions, sim.MetricInvalidTransitions} {
		onlyCounters.Counters[m] = truth.Counters[m]
	}
	err := eventually(ctx, 2*time.Minute, time.Second, func() error {
		return compareMetricsOf(ctx, prom, &onlyCounters, []string{sim.MetricTaskTransitions, sim.MetricStepTransitions, sim.MetricInvalidTransitions}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	late, err := self.sum(ctx, "otelcol_connector_tasker_state_late_transitions")
	if err != nil {
		t.Fatal(err)
	}
	if late == 0 {
		t.Errorf("the connector counted no late transition; %d spans were sent after the settle window", truth.Injected.Late)
	}
	t.Logf("%d late spans sent; the connector counted %v late transitions", truth.Injected.Late, late)
}

// TestClockSkew runs the workers' clock 250 ms ahead of the orchestration's, so that a step's
// orchestration-side transition often shows an earlier time than the worker-side one it
// follows. The components put them back in order (§5: a transition from another service less
// than max_clock_skew later moves up) and count the negative gaps as 0, so the metrics must
// still equal the ground truth, which computes times in state on each service's clock in the
// order things happened.
func TestClockSkew(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	o := simOptions()
	o.Seed = seed + 3
	o.Tasks = 30
	o.InvalidRate, o.DuplicateRate, o.LateRate = 0, 0, 0
	o.WorkerSkew = 250 * time.Millisecond
	truth, prom, _, self := runSimulator(ctx, t, o)
	if truth.Injected.SkewClamped == 0 {
		t.Fatal("the skew reordered nothing; change the seed")
	}
	if err := eventually(ctx, 2*time.Minute, time.Second, func() error { return compareMetrics(ctx, prom, truth) }); err != nil {
		t.Fatal(err)
	}
	got, err := self.sum(ctx, "otelcol_connector_tasker_state_clock_skew")
	if err != nil {
		t.Fatal(err)
	}
	if int(got) != truth.Injected.SkewClamped {
		t.Errorf("the connector counted %v negative gaps as 0, the ground truth has %d", got, truth.Injected.SkewClamped)
	}
	t.Logf("%d times in state had a negative gap across the two clocks; metrics exact", truth.Injected.SkewClamped)
}

func TestEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	truth, prom, jaeger, self := runSimulator(ctx, t, simOptions())
	simEnd := time.Now()
	if truth.Injected.Invalid == 0 || truth.Injected.Duplicates == 0 || truth.Injected.Late == 0 {
		t.Fatalf("the run injected no fault of some kind (%+v): the test would prove nothing; change the seed", truth.Injected)
	}

	t.Run("metrics equal the ground truth", func(t *testing.T) {
		err := eventually(ctx, 2*time.Minute, time.Second, func() error { return compareMetrics(ctx, prom, truth) })
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Prometheus matched the ground truth %s after the simulator finished", time.Since(simEnd).Round(time.Second))
	})

	t.Run("every metric of docs/telemetry.md §7 exists", func(t *testing.T) {
		for _, name := range []string{
			sim.MetricTaskTransitions, sim.MetricStepTransitions, sim.MetricStepAttempts, sim.MetricInvalidTransitions,
			sim.MetricTaskStateDuration + "_bucket", sim.MetricTaskStateDuration + "_sum", sim.MetricTaskStateDuration + "_count",
			sim.MetricStepStateDuration + "_bucket", sim.MetricStepStateDuration + "_sum", sim.MetricStepStateDuration + "_count",
			sim.MetricTaskCompletion + "_bucket", sim.MetricTaskCompletion + "_sum", sim.MetricTaskCompletion + "_count",
		} {
			res, err := prom.query(ctx, "count("+name+")")
			if err != nil {
				t.Fatal(err)
			}
			if len(res) == 0 || res[0].value == 0 {
				t.Errorf("Prometheus has no series named %s", name)
			}
		}
		// The +Inf bucket of each histogram series equals its count.
		for _, h := range []string{sim.MetricTaskStateDuration, sim.MetricStepStateDuration, sim.MetricTaskCompletion} {
			res, err := prom.query(ctx, fmt.Sprintf(`sum(%s_bucket{le="+Inf"}) - sum(%s_count)`, h, h))
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 || res[0].value != 0 {
				t.Errorf("%s: +Inf bucket and count differ: %v", h, res)
			}
		}
	})

	t.Run("step series carry the real namespace", func(t *testing.T) {
		for _, m := range []string{sim.MetricStepTransitions, sim.MetricStepAttempts, sim.MetricStepStateDuration + "_count", sim.MetricTaskTransitions} {
			res, err := prom.query(ctx, fmt.Sprintf(`sum(%s{namespace="unknown"})`, m))
			if err != nil {
				t.Fatal(err)
			}
			if len(res) > 0 && res[0].value != 0 {
				t.Errorf("%s has %v points with namespace=\"unknown\"; every namespace was learnable", m, res[0].value)
			}
		}
		res, err := prom.query(ctx, fmt.Sprintf(`count by (namespace) (%s)`, sim.MetricStepTransitions))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range res {
			got = append(got, r.labels["namespace"])
		}
		sort.Strings(got)
		want := namespacesOf(truth)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("step namespaces in Prometheus %v, want %v", got, want)
		}
	})

	t.Run("invalid transitions counted, duplicates not", func(t *testing.T) {
		res, err := prom.query(ctx, "sum("+sim.MetricInvalidTransitions+")")
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || int(res[0].value) != truth.Injected.Invalid {
			t.Errorf("tasker_transitions_invalid_total = %v, the simulator injected %d invalid transitions", res, truth.Injected.Invalid)
		}
		res, err = prom.query(ctx, fmt.Sprintf("sum(%s) + sum(%s)", sim.MetricTaskTransitions, sim.MetricStepTransitions))
		if err != nil {
			t.Fatal(err)
		}
		sent := len(truth.Carriers)
		want := sent - truth.Injected.Duplicates
		if len(res) != 1 || int(res[0].value) != want {
			t.Errorf("transitions counted %v; %d were sent, %d of them duplicates, so %d must count", res, sent, truth.Injected.Duplicates, want)
		}
	})

	t.Run("the components' own telemetry counts the duplicates", func(t *testing.T) {
		for name, want := range map[string]float64{
			"otelcol_connector_tasker_state_duplicates":            float64(truth.Injected.Duplicates),
			"otelcol_processor_tasker_state_transitions_duplicate": float64(truth.Injected.Duplicates),
			// Late carriers came within the settle window: nothing was late in the sense of docs/telemetry.md §5.
			"otelcol_connector_tasker_state_late_transitions": 0,
		} {
			got, err := self.sum(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
	})

	t.Run("deploy/prometheus rules load, evaluate and return data", func(t *testing.T) {
		checkDeployRules(ctx, t, prom, truth)
	})

	t.Run("deploy/grafana dashboard queries run", func(t *testing.T) {
		checkDashboard(ctx, t, prom, truth)
	})

	var traces map[string][]span
	t.Run("Jaeger holds every span sent", func(t *testing.T) {
		var err error
		if traces, err = jaeger.everySpan(ctx, truth, time.Minute); err != nil {
			t.Fatal(err)
		}
		// The search API (all four parameters required on v2.13) finds every trace by service.
		for _, svc := range []string{sim.ServiceOrchestration, sim.ServiceWorker} {
			got, err := jaeger.search(ctx, svc, truth.Start.Add(-time.Minute), time.Now().Add(time.Minute), 10*truth.Tasks)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != truth.ServiceTraces[svc] {
				t.Errorf("search by service %s found %d traces, want %d", svc, len(got), truth.ServiceTraces[svc])
			}
		}
	})

	t.Run("transitions carry the processor's stamps", func(t *testing.T) {
		if traces == nil {
			t.Skip("no traces from Jaeger")
		}
		checkStamps(t, traces, truth)
	})

	t.Run("tag query finds transitions by event name", func(t *testing.T) {
		for _, q := range []struct{ service, key, value string }{
			{sim.ServiceOrchestration, "tasker.event.name", "step.completed"},
			{sim.ServiceOrchestration, "tasker.event.name", "task.failed"},
			{sim.ServiceWorker, "tasker.event.name", "step.execution_requested"},
			{sim.ServiceWorker, "tasker.transition.invalid", "true"},
		} {
			want := map[string]bool{}
			for _, c := range truth.Carriers {
				if c.Service != q.service {
					continue
				}
				if (q.key == "tasker.event.name" && c.EventName == q.value) || (q.key == "tasker.transition.invalid" && c.Invalid) {
					want[c.TraceID] = true
				}
			}
			got, err := jaeger.tagSearch(ctx, q.service, map[string]string{q.key: q.value}, truth.Start.Add(-time.Minute), time.Now().Add(time.Minute), 10*truth.Tasks)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 {
				t.Errorf("the ground truth has no %s=%s in %s: pick another query", q.key, q.value, q.service)
			}
			if fmt.Sprint(sortedKeys(got)) != fmt.Sprint(sortedKeys(want)) {
				t.Errorf("tags {%q: %q} in %s: Jaeger found %d traces, want %d", q.key, q.value, q.service, len(got), len(want))
			}
		}
	})

	t.Run("an exemplar links a bucket to a trace in Jaeger", func(t *testing.T) {
		checked := 0
		for _, h := range []string{sim.MetricStepStateDuration, sim.MetricTaskStateDuration, sim.MetricTaskCompletion} {
			ex, err := prom.exemplars(ctx, h+"_bucket", truth.Start.Add(-time.Hour), time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if len(ex) == 0 {
				t.Errorf("Prometheus holds no exemplar for %s_bucket", h)
				continue
			}
			for _, e := range ex[:min(len(ex), 3)] {
				if _, ok := truth.TraceSpans[e.traceID]; !ok {
					t.Errorf("%s exemplar trace id %q is not a trace the simulator sent", h, e.traceID)
					continue
				}
				spans, err := jaeger.trace(ctx, e.traceID)
				if err != nil {
					t.Errorf("%s exemplar trace %s: %v", h, e.traceID, err)
					continue
				}
				found := false
				for _, s := range spans {
					found = found || s.SpanID == e.spanID
				}
				if !found {
					t.Errorf("%s exemplar span %s is not in trace %s as Jaeger returns it", h, e.spanID, e.traceID)
				}
				checked++
			}
		}
		t.Logf("%d exemplars followed to their traces in Jaeger", checked)
	})
}

func namespacesOf(truth *sim.Truth) []string {
	set := map[string]bool{}
	for _, s := range truth.Counters[sim.MetricStepTransitions] {
		set[s.Labels["namespace"]] = true
	}
	return sortedKeys(set)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func labelKey(l map[string]string) string {
	keys := sortedKeys(l)
	var b strings.Builder
	for _, k := range keys {
		if l[k] == "" {
			continue
		}
		b.WriteString(k + "=" + strconv.Quote(l[k]) + " ")
	}
	return strings.TrimSpace(b.String())
}

var counterLabels = map[string][]string{
	sim.MetricTaskTransitions:    {"namespace", "from_state", "to_state", "event_name"},
	sim.MetricStepTransitions:    {"namespace", "from_state", "to_state", "event_name"},
	sim.MetricStepAttempts:       {"handler_name", "namespace", "outcome", "attempt_number"},
	sim.MetricInvalidTransitions: {"entity", "from_state", "to_state"},
}

var histogramLabels = map[string][]string{
	sim.MetricTaskStateDuration: {"state", "namespace"},
	sim.MetricStepStateDuration: {"state", "namespace"},
	sim.MetricTaskCompletion:    {"namespace", "outcome"},
}

// compareMetrics queries every metric summed over everything but its §7 attributes (job and
// instance vary with the resource) and compares it with the ground truth, series by series.
func compareMetrics(ctx context.Context, prom *promAPI, truth *sim.Truth) error {
	return compareMetricsOf(ctx, prom, truth, sortedKeys(counterLabels), sortedKeys(histogramLabels))
}

func compareMetricsOf(ctx context.Context, prom *promAPI, truth *sim.Truth, counters, histograms []string) error {
	var diffs []string
	for _, m := range counters {
		labels := counterLabels[m]
		want := map[string]float64{}
		for _, s := range truth.Counters[m] {
			want[labelKey(s.Labels)] += s.Value
		}
		d, err := diffSeries(ctx, prom, fmt.Sprintf("sum by (%s) (%s)", strings.Join(labels, ","), m), want, exact, nil)
		if err != nil {
			return err
		}
		diffs = append(diffs, d...)
	}
	for _, m := range histograms {
		d, err := diffHistogram(ctx, prom, m, histogramLabels[m], truth.Histograms[m])
		if err != nil {
			return err
		}
		diffs = append(diffs, d...)
	}
	return diffsError(diffs)
}

func compareSpanCounts(traces map[string][]span, truth *sim.Truth) error {
	var diffs []string
	total := 0
	for id, want := range truth.TraceSpans {
		got := len(traces[id])
		total += got
		if got != want {
			diffs = append(diffs, fmt.Sprintf("trace %s: %d spans in Jaeger, %d sent", id, got, want))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		return fmt.Errorf("Jaeger holds %d of %d spans:\n  %s", total, truth.SpanCount, strings.Join(diffs[:min(len(diffs), 20)], "\n  "))
	}
	return nil
}

// checkStamps finds every transition the simulator sent in what Jaeger returns, and checks
// the stamps of docs/telemetry.md §6 on it. Stamps that depend on arrival order (durations,
// attempt numbers) are checked only where the ground truth says the processor could know them.
func checkStamps(t *testing.T, traces map[string][]span, truth *sim.Truth) {
	byID := map[string]*span{}
	for _, spans := range traces {
		for i := range spans {
			byID[spans[i].SpanID] = &spans[i]
		}
	}
	var missing, problems []string
	stateStamped, stateExpected, lateSkipped := 0, 0, 0
	for _, c := range truth.Carriers {
		s := byID[c.SpanID]
		if s == nil {
			missing = append(missing, c.SpanID)
			continue
		}
		attrs := s.Attrs
		if c.Event {
			attrs = nil
			for _, ev := range s.Events {
				// Jaeger keeps microseconds.
				if math.Abs(float64(ev.TimeNanos-c.TimeNanos)) < 1000 && ev.Attrs.str("from_state") == c.From && ev.Attrs.str("to_state") == c.To &&
					(ev.Attrs.str("step_uuid") == c.EntityID || (c.Kind == sim.KindTask && ev.Attrs.str("task_uuid") == c.EntityID)) {
					attrs = ev.Attrs
				}
			}
			if attrs == nil {
				missing = append(missing, fmt.Sprintf("%s event %s->%s", c.SpanID, c.From, c.To))
				continue
			}
		}
		where := fmt.Sprintf("%s %s %s->%s (span %s, event %v)", c.Kind, c.EntityID[:8], c.From, c.To, c.SpanID, c.Event)
		if got := attrs.str("tasker.entity.kind"); got != c.Kind {
			problems = append(problems, fmt.Sprintf("%s: tasker.entity.kind %q", where, got))
		}
		if got, ok := attrs.get("tasker.event.name"); (c.EventName == "") == ok || (ok && got != c.EventName) {
			problems = append(problems, fmt.Sprintf("%s: tasker.event.name %v (present %v), want %q", where, got, ok, c.EventName))
		}
		if got, ok := attrs.get("tasker.transition.invalid"); ok != c.Invalid || (ok && got != true) {
			problems = append(problems, fmt.Sprintf("%s: tasker.transition.invalid %v (present %v), want %v", where, got, ok, c.Invalid))
		}
		if got, ok := attrs.get("tasker.transition.duplicate"); ok != c.Duplicate || (ok && got != true) {
			problems = append(problems, fmt.Sprintf("%s: tasker.transition.duplicate %v (present %v), want %v", where, got, ok, c.Duplicate))
		}
		if got, ok := attrs.get("tasker.namespace"); (ok && got != c.Namespace) || (!ok && c.NamespaceKnown) {
			problems = append(problems, fmt.Sprintf("%s: tasker.namespace %v (present %v), want %q", where, got, ok, c.Namespace))
		}
		if c.Attempt > 0 && !c.EntityLate {
			if got, ok := attrs.get("tasker.step.attempt"); !ok || got != float64(c.Attempt) {
				problems = append(problems, fmt.Sprintf("%s: tasker.step.attempt %v (present %v), want %d", where, got, ok, c.Attempt))
			}
		}
		if c.StateDuration != nil {
			stateExpected++
		}
		// Durations are what the processor's log knew at pass time. For an entity with a late
		// carrier that can be another value (a chain across the late transitions), so they
		// are checked only on entities whose transitions all came in their turn.
		if c.EntityLate {
			lateSkipped++
			continue
		}
		if got, ok := attrs.get("tasker.state.duration"); ok {
			stateStamped++
			if c.StateDuration == nil {
				problems = append(problems, fmt.Sprintf("%s: tasker.state.duration %v where no state was entered", where, got))
			} else if f, _ := got.(float64); math.Abs(f-*c.StateDuration) > 1e-6 {
				problems = append(problems, fmt.Sprintf("%s: tasker.state.duration %v, want %v", where, got, *c.StateDuration))
			}
		}
		if got, ok := attrs.get("tasker.task.duration"); ok || c.TaskDuration != nil {
			if c.TaskDuration == nil {
				problems = append(problems, fmt.Sprintf("%s: tasker.task.duration %v on a transition that does not end the task", where, got))
			} else if f, _ := got.(float64); !ok || math.Abs(f-*c.TaskDuration) > 1e-6 {
				problems = append(problems, fmt.Sprintf("%s: tasker.task.duration %v (present %v), want %v", where, got, ok, *c.TaskDuration))
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d transitions not found in Jaeger, e.g. %v", len(missing), missing[:min(len(missing), 5)])
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Errorf("%d stamp problems:\n  %s", len(problems), strings.Join(problems[:min(len(problems), 30)], "\n  "))
	}
	if stateStamped == 0 {
		t.Errorf("no transition carries tasker.state.duration (%d could have)", stateExpected)
	}
	t.Logf("%d transitions checked (durations skipped on %d of entities with a late carrier); tasker.state.duration on %d of the %d that entered a known state (the rest arrived before their predecessor)",
		len(truth.Carriers), lateSkipped, stateStamped, stateExpected)
}

// --- Prometheus HTTP API ---

type promAPI struct{ base string }

type sample struct {
	labels map[string]string
	value  float64
}

func (p *promAPI) query(ctx context.Context, q string) ([]sample, error) {
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(ctx, p.base+"/api/v1/query?query="+url.QueryEscape(q), &r); err != nil {
		return nil, err
	}
	var out []sample
	for _, x := range r.Data.Result {
		s, _ := x.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v: %w", q, x.Value[1], err)
		}
		delete(x.Metric, "__name__")
		out = append(out, sample{labels: x.Metric, value: v})
	}
	return out, nil
}

type exemplar struct{ traceID, spanID string }

func (p *promAPI) exemplars(ctx context.Context, q string, start, end time.Time) ([]exemplar, error) {
	var r struct {
		Data []struct {
			Exemplars []struct {
				Labels map[string]string `json:"labels"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	u := fmt.Sprintf("%s/api/v1/query_exemplars?query=%s&start=%d&end=%d", p.base, url.QueryEscape(q), start.Unix(), end.Unix())
	if err := getJSON(ctx, u, &r); err != nil {
		return nil, err
	}
	var out []exemplar
	for _, s := range r.Data {
		for _, e := range s.Exemplars {
			if e.Labels["trace_id"] != "" {
				out = append(out, exemplar{traceID: e.Labels["trace_id"], spanID: e.Labels["span_id"]})
			}
		}
	}
	return out, nil
}

// --- Jaeger HTTP API (v2.13) ---

type jaegerAPI struct{ base string }

type attrs map[string]any

func (a attrs) get(k string) (any, bool) { v, ok := a[k]; return v, ok }
func (a attrs) str(k string) string      { s, _ := a[k].(string); return s }

type span struct {
	TraceID string
	SpanID  string
	Name    string
	Service string
	// Instance is the resource's collector.instance.id: which tier-2 collector handled the
	// span in a scale-out (deploy/scale-out/tier2.yaml sets it); empty for one collector.
	Instance string
	Attrs    attrs
	Events   []spanEvent
}

type spanEvent struct {
	Name      string
	TimeNanos int64
	Attrs     attrs
}

type otlpKV struct {
	Key   string `json:"key"`
	Value struct {
		StringValue *string  `json:"stringValue"`
		BoolValue   *bool    `json:"boolValue"`
		IntValue    any      `json:"intValue"`
		DoubleValue *float64 `json:"doubleValue"`
	} `json:"value"`
}

func toAttrs(kvs []otlpKV) attrs {
	a := attrs{}
	for _, kv := range kvs {
		v := kv.Value
		switch {
		case v.StringValue != nil:
			a[kv.Key] = *v.StringValue
		case v.BoolValue != nil:
			a[kv.Key] = *v.BoolValue
		case v.DoubleValue != nil:
			a[kv.Key] = *v.DoubleValue
		case v.IntValue != nil:
			// protojson writes int64 as a string.
			f, _ := strconv.ParseFloat(fmt.Sprint(v.IntValue), 64)
			a[kv.Key] = f
		}
	}
	return a
}

type otlpTraces struct {
	Result struct {
		ResourceSpans []struct {
			Resource struct {
				Attributes []otlpKV `json:"attributes"`
			} `json:"resource"`
			ScopeSpans []struct {
				Spans []struct {
					TraceID    string   `json:"traceId"`
					SpanID     string   `json:"spanId"`
					Name       string   `json:"name"`
					Attributes []otlpKV `json:"attributes"`
					Events     []struct {
						Name         string   `json:"name"`
						TimeUnixNano string   `json:"timeUnixNano"`
						Attributes   []otlpKV `json:"attributes"`
					} `json:"events"`
				} `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	} `json:"result"`
}

func (o *otlpTraces) spans() []span {
	var out []span
	for _, rs := range o.Result.ResourceSpans {
		res := toAttrs(rs.Resource.Attributes)
		svc, inst := res.str("service.name"), res.str("collector.instance.id")
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				sp := span{TraceID: strings.ToLower(s.TraceID), SpanID: strings.ToLower(s.SpanID), Name: s.Name, Service: svc, Instance: inst, Attrs: toAttrs(s.Attributes)}
				for _, e := range s.Events {
					ns, _ := strconv.ParseInt(e.TimeUnixNano, 10, 64)
					sp.Events = append(sp.Events, spanEvent{Name: e.Name, TimeNanos: ns, Attrs: toAttrs(e.Attributes)})
				}
				out = append(out, sp)
			}
		}
	}
	return out
}

func (j *jaegerAPI) trace(ctx context.Context, id string) ([]span, error) {
	var r otlpTraces
	if err := getJSON(ctx, j.base+"/api/v3/traces/"+id, &r); err != nil {
		return nil, err
	}
	return r.spans(), nil
}

func (j *jaegerAPI) allTraces(ctx context.Context, truth *sim.Truth) (map[string][]span, error) {
	out := map[string][]span{}
	for id := range truth.TraceSpans {
		spans, err := j.trace(ctx, id)
		if err != nil {
			return nil, err
		}
		out[id] = spans
	}
	return out, nil
}

// everySpan polls Jaeger until it holds every span the simulator sent, or within passes, and
// returns the traces as Jaeger last returned them.
func (j *jaegerAPI) everySpan(ctx context.Context, truth *sim.Truth, within time.Duration) (map[string][]span, error) {
	var traces map[string][]span
	err := eventually(ctx, within, time.Second, func() error {
		var err error
		if traces, err = j.allTraces(ctx, truth); err != nil {
			return err
		}
		return compareSpanCounts(traces, truth)
	})
	return traces, err
}

// search uses /api/v3/traces with the four parameters v2.13 requires; it returns the trace ids.
func (j *jaegerAPI) search(ctx context.Context, service string, from, to time.Time, n int) (map[string]bool, error) {
	q := url.Values{}
	q.Set("query.service_name", service)
	q.Set("query.start_time_min", from.UTC().Format(time.RFC3339Nano))
	q.Set("query.start_time_max", to.UTC().Format(time.RFC3339Nano))
	q.Set("query.num_traces", strconv.Itoa(n))
	var r otlpTraces
	if err := getJSON(ctx, j.base+"/api/v3/traces?"+q.Encode(), &r); err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, s := range r.spans() {
		ids[s.TraceID] = true
	}
	return ids, nil
}

// tagSearch uses v2.13's /api/traces?tags= (its HTTP /api/v3 has no attribute search).
func (j *jaegerAPI) tagSearch(ctx context.Context, service string, tags map[string]string, from, to time.Time, limit int) (map[string]bool, error) {
	tj, _ := json.Marshal(tags)
	q := url.Values{}
	q.Set("service", service)
	q.Set("tags", string(tj))
	q.Set("start", strconv.FormatInt(from.UnixMicro(), 10))
	q.Set("end", strconv.FormatInt(to.UnixMicro(), 10))
	q.Set("limit", strconv.Itoa(limit))
	var r struct {
		Data []struct {
			TraceID string `json:"traceID"`
		} `json:"data"`
	}
	if err := getJSON(ctx, j.base+"/api/traces?"+q.Encode(), &r); err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, d := range r.Data {
		ids[strings.ToLower(d.TraceID)] = true
	}
	return ids, nil
}

// selfMetrics reads the collector's own metrics (Prometheus text format).
type selfMetrics struct{ url string }

// sum adds up every sample of one metric name (with or without a _total suffix), whatever
// its labels; a metric that is not there sums to 0.
func (m *selfMetrics) sum(ctx context.Context, name string) (float64, error) {
	return m.sumWhere(ctx, name, nil)
}

// sumWhere adds up the samples of one metric name (with or without a _total suffix) whose
// labels include every pair of match.
func (m *selfMetrics) sumWhere(ctx context.Context, name string, match map[string]string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var total float64
	for _, line := range strings.Split(string(body), "\n") {
		metric, labels, rest := line, "", ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			metric, rest = line[:i], line[i:]
			if line[i] == '{' {
				j := strings.LastIndex(line, "}")
				labels, rest = line[i+1:j], line[j+1:]
			}
		}
		if metric != name && metric != name+"_total" {
			continue
		}
		if !hasLabels(labels, match) {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", m.url, line, err)
		}
		total += v
	}
	return total, nil
}

// hasLabels reports whether the label list of a text-format sample (a="x",b="y") holds every
// pair of match. The collectors' own label values hold no quote or comma.
func hasLabels(labels string, match map[string]string) bool {
	for k, v := range match {
		if !strings.Contains(","+labels+",", ","+k+"="+strconv.Quote(v)+",") {
			return false
		}
	}
	return true
}
