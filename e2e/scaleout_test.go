//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tasker-systems/otelcol-tasker/cmd/taskersim/sim"
)

// The scale-out of deploy/scale-out/ on loopback: gateways (otelcol-tasker-gateway on
// gateway.yaml) route every span by its task to one of several otelcol-tasker instances
// (tier2.yaml, each with its own collector.instance.id), which send the traces on to one Jaeger
// and are scraped by one Prometheus. The simulator's orchestration sends to the first gateway,
// its workers to the second, so every task reaches both gateways.

type tier2Instance struct {
	id, otlp, metrics, telemetry string
}

type gatewayInstance struct {
	name, otlp, otlpHTTP, health, telemetry string
	srv                                     *server
}

type scaleOut struct {
	dir      string
	tier2    []tier2Instance
	gateways []*gatewayInstance
	prom     *promAPI
	jaeger   *jaegerAPI
}

// startScaleOut starts Jaeger, tier2 otelcol-tasker instances, gateways that each route to the
// first routed of them, and Prometheus scraping every instance and every collector's own
// telemetry.
func startScaleOut(t *testing.T, gateways, tier2, routed int, settle string) *scaleOut {
	collectorBin := env(t, "OTELCOL_TASKER_BIN", "")
	tier2Cfg := env(t, "TIER2_CONFIG", "../deploy/scale-out/tier2.yaml")
	env(t, "OTELCOL_TASKER_GATEWAY_BIN", "")
	env(t, "GATEWAY_CONFIG", "../deploy/scale-out/gateway.yaml")
	so := &scaleOut{dir: t.TempDir()}
	jaegerOTLP, jaegerQuery := startJaeger(t, so.dir)
	so.jaeger = &jaegerAPI{base: "http://" + jaegerQuery}

	var exporters, telemetry []string
	for i := 0; i < tier2; i++ {
		p := freePorts(t, 5)
		in := tier2Instance{id: fmt.Sprintf("tier2-%d", i), otlp: addr(p[0]), metrics: addr(p[2]), telemetry: addr(p[4])}
		srv := startServer(t, so.dir, in.id, []string{
			"COLLECTOR_INSTANCE_ID=" + in.id,
			"TASKER_OTLP_GRPC_ENDPOINT=" + in.otlp,
			"TASKER_OTLP_HTTP_ENDPOINT=" + addr(p[1]),
			"TASKER_PROMETHEUS_ENDPOINT=" + in.metrics,
			"TASKER_HEALTH_ENDPOINT=" + addr(p[3]),
			"TASKER_TELEMETRY_PORT=" + strconv.Itoa(p[4]),
			"TASKER_TRACES_OTLP_ENDPOINT=" + jaegerOTLP,
			"TASKER_SETTLE_WINDOW=" + settle,
			"TASKER_FLUSH_INTERVAL=1s",
		}, collectorBin, "--config", tier2Cfg)
		waitHTTP(t, srv, "http://"+addr(p[3])+"/", time.Minute)
		so.tier2 = append(so.tier2, in)
		exporters, telemetry = append(exporters, in.metrics), append(telemetry, in.telemetry)
	}
	for i := 0; i < gateways; i++ {
		p := freePorts(t, 4)
		g := &gatewayInstance{name: fmt.Sprintf("gateway-%d", i), otlp: addr(p[0]), otlpHTTP: addr(p[1]), health: addr(p[2]), telemetry: addr(p[3])}
		so.startGateway(t, g, g.name, routed)
		so.gateways = append(so.gateways, g)
		telemetry = append(telemetry, g.telemetry)
	}
	so.prom = &promAPI{base: "http://" + startPrometheus(t, so.dir, exporters, telemetry)}
	return so
}

// startGateway starts (or restarts, on the same ports) a gateway that routes to the first
// routed tier-2 instances, its static resolver's list.
func (so *scaleOut) startGateway(t *testing.T, g *gatewayInstance, logName string, routed int) {
	var backends []string
	for _, in := range so.tier2[:routed] {
		backends = append(backends, in.otlp)
	}
	port := g.telemetry[strings.LastIndex(g.telemetry, ":")+1:]
	g.srv = startServer(t, so.dir, logName, []string{
		"TASKER_OTLP_GRPC_ENDPOINT=" + g.otlp,
		"TASKER_OTLP_HTTP_ENDPOINT=" + g.otlpHTTP,
		"TASKER_HEALTH_ENDPOINT=" + g.health,
		"TASKER_TELEMETRY_PORT=" + port,
		"TASKER_TIER2_ENDPOINTS=[" + strings.Join(backends, ", ") + "]",
	}, env(t, "OTELCOL_TASKER_GATEWAY_BIN", ""), "--config", env(t, "GATEWAY_CONFIG", "../deploy/scale-out/gateway.yaml"))
	waitHTTP(t, g.srv, "http://"+g.health+"/", time.Minute)
}

// run sends the simulator's plan, the orchestration to the first gateway and the workers to
// the second; meanwhile, if given, during is called once with the plan being sent.
func (so *scaleOut) run(ctx context.Context, t *testing.T, o sim.Options, during func(*sim.Plan)) *sim.Truth {
	now := time.Now()
	plan, truth, base, err := sim.Prepare(o, now)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		stats sim.Stats
		err   error
	}
	done := make(chan result, 1)
	go func() {
		st, err := sim.Emit(ctx, plan, sim.EmitOptions{Endpoint: so.gateways[0].otlp, WorkerEndpoint: so.gateways[len(so.gateways)-1].otlp, Base: base, Start: now})
		done <- result{st, err}
	}()
	if during != nil {
		during(plan)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("simulator: %v", r.err)
	}
	t.Logf("simulator: %d tasks, %d spans sent in %s (orchestration to %s, workers to %s); %d invalid, %d duplicates, %d late spans injected, %d times in state across the skewed clocks",
		truth.Tasks, r.stats.Spans, time.Since(now).Round(time.Millisecond), so.gateways[0].name, so.gateways[len(so.gateways)-1].name,
		truth.Injected.Invalid, truth.Injected.Duplicates, truth.Injected.Late, truth.Injected.SkewClamped)
	if r.stats.Spans != truth.SpanCount {
		t.Fatalf("sent %d spans, the plan has %d", r.stats.Spans, truth.SpanCount)
	}
	return truth
}

// placement is where the tier-2 instances handled the spans, as Jaeger shows it (each instance
// upserts its collector.instance.id on the resources it exports).
type placement struct {
	taskHome map[string]map[string]bool // task id -> instances that handled its spans
	tasksOn  map[string]int             // instance -> tasks it handled
	// Spans without a task id, routed by trace id: how many, how many on another instance
	// than their trace's task, on which instances, and how many of those others carried
	// something an entity log learns (a step id with a handler or namespace).
	taskless, elsewhere, learnableElsewhere int
	tasklessOn                              map[string]int
	problems                                []string
}

func placeSpans(traces map[string][]span) placement {
	p := placement{taskHome: map[string]map[string]bool{}, tasksOn: map[string]int{}, tasklessOn: map[string]int{}}
	for _, spans := range traces {
		traceTasks := map[string]bool{}
		for _, s := range spans {
			if s.Instance == "" {
				p.problems = append(p.problems, fmt.Sprintf("span %s (%s) has no collector.instance.id", s.SpanID, s.Name))
			}
			task := s.Attrs.str("task_uuid")
			for _, ev := range s.Events {
				if et := ev.Attrs.str("task_uuid"); et != "" && ev.Attrs.str("to_state") != "" && task == "" {
					p.problems = append(p.problems, fmt.Sprintf("span %s (%s): its transition event names task %s, the span has no task_uuid (the gateway's transform did not copy it)", s.SpanID, s.Name, et))
				}
			}
			if task == "" {
				continue
			}
			traceTasks[task] = true
			if p.taskHome[task] == nil {
				p.taskHome[task] = map[string]bool{}
			}
			p.taskHome[task][s.Instance] = true
		}
		for _, s := range spans {
			if s.Attrs.str("task_uuid") != "" {
				continue
			}
			p.taskless++
			p.tasklessOn[s.Instance]++
			for task := range traceTasks {
				if !p.taskHome[task][s.Instance] {
					p.elsewhere++
					if (s.Attrs.str("step_uuid") != "" || s.Attrs.str("workflow_step_uuid") != "") &&
						(s.Attrs.str("namespace") != "" || s.Attrs.str("step_name") != "" || s.Attrs.str("handler_name") != "") {
						p.learnableElsewhere++
					}
					break
				}
			}
		}
	}
	for _, homes := range p.taskHome {
		for in := range homes {
			p.tasksOn[in]++
		}
	}
	return p
}

// moved lists the tasks whose spans were handled by more than one instance.
func (p placement) moved() []string {
	var out []string
	for task, homes := range p.taskHome {
		if len(homes) > 1 {
			out = append(out, fmt.Sprintf("%s on %v", task[:8], sortedKeys(homes)))
		}
	}
	sort.Strings(out)
	return out
}

// acceptedSpans reads, per scrape target of the collectors' own telemetry, the spans their
// OTLP receivers accepted.
func acceptedSpans(ctx context.Context, prom *promAPI) (map[string]float64, error) {
	res, err := prom.query(ctx, `sum by (instance) ({__name__=~"otelcol_receiver_accepted_spans(_total)?", receiver="otlp"})`)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, r := range res {
		out[r.labels["instance"]] = r.value
	}
	return out, nil
}

// TestScaleOut runs the two tiers with every fault of the simulator on (out-of-order delivery
// across services, duplicates, late carriers within the settle window, invalid transitions and
// a skewed worker clock): the metrics summed over the instances must equal the ground truth,
// every span must reach Jaeger, every task must be handled by one instance, and no series may
// have two writers.
func TestScaleOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	so := startScaleOut(t, 2, 3, 3, settleWindow)
	o := simOptions()
	o.Seed = seed + 4
	o.Tasks = 90
	o.WorkerSkew = 250 * time.Millisecond
	truth := so.run(ctx, t, o, nil)
	simEnd := time.Now()
	if truth.Injected.Invalid == 0 || truth.Injected.Duplicates == 0 || truth.Injected.Late == 0 || truth.Injected.SkewClamped == 0 {
		t.Fatalf("the run injected no fault of some kind (%+v): the test would prove nothing; change the seed", truth.Injected)
	}

	t.Run("metrics summed over the instances equal the ground truth", func(t *testing.T) {
		if err := eventually(ctx, 2*time.Minute, time.Second, func() error { return compareMetrics(ctx, so.prom, truth) }); err != nil {
			t.Fatal(err)
		}
		t.Logf("Prometheus matched the ground truth %s after the simulator finished", time.Since(simEnd).Round(time.Second))
	})

	t.Run("each instance writes only its own series", func(t *testing.T) {
		// A series' identity includes collector_instance_id: if each id comes from one scrape
		// target, and each target exposes one id, its own, no series has two writers.
		res, err := so.prom.query(ctx, `count by (instance, collector_instance_id) ({__name__=~"tasker_.+"})`)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for _, in := range so.tier2 {
			want[in.metrics] = in.id
		}
		got := map[string][]string{}
		for _, r := range res {
			got[r.labels["instance"]] = append(got[r.labels["instance"]], r.labels["collector_instance_id"])
		}
		for target, id := range want {
			if ids := got[target]; len(ids) != 1 || ids[0] != id {
				t.Errorf("target %s exposes tasker_* series with collector_instance_id %q, want only %q", target, ids, id)
			}
		}
		if len(got) != len(want) {
			t.Errorf("tasker_* series come from targets %v, want %v", sortedKeys(got), sortedKeys(want))
		}
	})

	var traces map[string][]span
	t.Run("Jaeger holds every span sent", func(t *testing.T) {
		var err error
		if traces, err = so.jaeger.everySpan(ctx, truth, time.Minute); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("each task is handled by one instance", func(t *testing.T) {
		if traces == nil {
			t.Skip("no traces from Jaeger")
		}
		p := placeSpans(traces)
		for _, pr := range p.problems[:min(len(p.problems), 10)] {
			t.Error(pr)
		}
		if m := p.moved(); len(m) > 0 {
			t.Errorf("%d of %d tasks were handled by more than one instance: %v", len(m), len(p.taskHome), m[:min(len(m), 10)])
		}
		if len(p.taskHome) != truth.Tasks {
			t.Errorf("spans of %d tasks carry task_uuid in Jaeger, the simulator sent %d tasks", len(p.taskHome), truth.Tasks)
		}
		for _, in := range so.tier2 {
			if p.tasksOn[in.id] == 0 {
				t.Errorf("%s handled no task: routing by task_uuid does not spread (%v)", in.id, p.tasksOn)
			}
		}
		// The spans without a task id go by trace id: on a load_balancing exporter routing by a
		// missing attribute they would all go to one instance.
		if p.taskless == 0 || len(p.tasklessOn) < 2 {
			t.Errorf("%d spans without a task id, on instances %v: want some, spread by trace id", p.taskless, p.tasklessOn)
		}
		// The simulator sends each task in one trace, so routing everything by trace id would
		// also keep each task on one instance: that the two keys put some of a trace's spans on
		// different instances shows that the spans with a task id went by it.
		if p.elsewhere == 0 {
			t.Errorf("every span without a task id landed on its task's instance: the spans with one were routed by trace id, not by task_uuid")
		}
		t.Logf("tasks per instance %v; %d spans without a task id went by trace id (%v), %d of them to another instance than their task's, %d of those carrying something an entity log learns",
			p.tasksOn, p.taskless, p.tasklessOn, p.elsewhere, p.learnableElsewhere)
	})

	t.Run("every span passed one gateway and one instance, once", func(t *testing.T) {
		var gw, t2 float64
		err := eventually(ctx, 30*time.Second, time.Second, func() error {
			acc, err := acceptedSpans(ctx, so.prom)
			if err != nil {
				return err
			}
			gw, t2 = 0, 0
			for _, g := range so.gateways {
				gw += acc[g.telemetry]
			}
			for _, in := range so.tier2 {
				t2 += acc[in.telemetry]
			}
			if int(gw) != truth.SpanCount || int(t2) != truth.SpanCount {
				return fmt.Errorf("the gateways accepted %v spans, the instances %v (%v); %d were sent", gw, t2, acc, truth.SpanCount)
			}
			// The simulator split its traffic by service.
			orch, work := acc[so.gateways[0].telemetry], acc[so.gateways[1].telemetry]
			if int(orch) != truth.SpansByService[sim.ServiceOrchestration] || int(work) != truth.SpansByService[sim.ServiceWorker] {
				return fmt.Errorf("%s accepted %v spans and %s %v; the orchestration sent %d, the workers %d",
					so.gateways[0].name, orch, so.gateways[1].name, work, truth.SpansByService[sim.ServiceOrchestration], truth.SpansByService[sim.ServiceWorker])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestScaleOutResize doubles tier 2 mid-run the way a static resolver list changes: both
// gateways are restarted one after the other, routing to four instances instead of two.
// Consistent hashing moves about 1 - 2/4 of the keys (a third to a half in practice), so some of
// the tasks in flight surely move to the new instances; each moved entity's time in the state it was in at
// the move is lost, because its entering and leaving transitions are on two instances (a gap
// on both). Counters stay exact, summed over the instances; the times in
// state Prometheus holds must be exactly those whose two transitions landed on one instance.
// The run injects no fault, so that what differs is the resize's doing; a 20 s settle window
// covers the seconds the simulator's exporters retry while a gateway restarts.
func TestScaleOutResize(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	so := startScaleOut(t, 2, 4, 2, "20s")
	o := simOptions()
	o.Seed = seed + 5
	o.Tasks = 120
	o.Speed = 5 // tasks live longer than at 20x, so that more are in flight at the resize
	o.InvalidRate, o.DuplicateRate, o.LateRate = 0, 0, 0
	var resizedAt time.Duration
	inFlight := 0
	truth := so.run(ctx, t, o, func(plan *sim.Plan) {
		began := time.Now()
		emission := plan.Spans[len(plan.Spans)-1].EmitAt
		resizedAt = emission * 2 / 5
		time.Sleep(resizedAt)
		for _, g := range so.gateways {
			g.srv.stop(t)
			so.startGateway(t, g, fmt.Sprintf("%s-resized", g.name), len(so.tier2))
			t.Logf("%s restarted with %d backends %s into a %s emission", g.name, len(so.tier2), time.Since(began).Round(100*time.Millisecond), emission.Round(time.Second))
		}
		// In flight: a task (one trace) with spans sent before the resize and after it.
		first, last := map[[16]byte]time.Duration{}, map[[16]byte]time.Duration{}
		for _, s := range plan.Spans {
			if f, ok := first[s.TraceID]; !ok || s.EmitAt < f {
				first[s.TraceID] = s.EmitAt
			}
			last[s.TraceID] = max(last[s.TraceID], s.EmitAt)
		}
		for id, f := range first {
			if f < resizedAt && last[id] > resizedAt {
				inFlight++
			}
		}
	})

	traces, err := so.jaeger.everySpan(ctx, truth, 2*time.Minute)
	if err != nil {
		t.Fatalf("not every span reached Jaeger across the gateways' restarts: %v", err)
	}
	p := placeSpans(traces)
	for _, pr := range p.problems[:min(len(p.problems), 10)] {
		t.Error(pr)
	}
	moved := p.moved()
	if len(moved) == 0 || p.tasksOn[so.tier2[2].id] == 0 || p.tasksOn[so.tier2[3].id] == 0 {
		t.Fatalf("the resize moved no task (tasks per instance %v): the run proves nothing; resize later or send more tasks", p.tasksOn)
	}

	// Where each transition was handled, and so which times in state some instance could see.
	instanceOf := map[string]string{}
	for _, spans := range traces {
		for _, s := range spans {
			instanceOf[s.SpanID] = s.Instance
		}
	}
	derivable, lost := derivableTimesInState(truth, instanceOf)

	// Counters: every transition is counted once, on whichever instance got it.
	counters := map[string][]string{
		sim.MetricTaskTransitions: {"from_state", "to_state", "event_name"},
		sim.MetricStepTransitions: {"from_state", "to_state", "event_name"},
	}
	histograms := map[string]string{sim.MetricTaskStateDuration: "task", sim.MetricStepStateDuration: "step"}
	var got map[string]float64
	err = eventually(ctx, 2*time.Minute, time.Second, func() error {
		var diffs []string
		for m, labels := range counters {
			want := map[string]float64{}
			for _, s := range truth.Counters[m] {
				l := map[string]string{}
				for _, k := range labels {
					l[k] = s.Labels[k]
				}
				want[labelKey(l)] += s.Value
			}
			d, err := diffSeries(ctx, so.prom, fmt.Sprintf("sum by (%s) (%s)", strings.Join(labels, ","), m), want, exact, nil)
			if err != nil {
				return err
			}
			diffs = append(diffs, d...)
		}
		got = map[string]float64{}
		for m, kind := range histograms {
			res, err := so.prom.query(ctx, fmt.Sprintf("sum(%s_count)", m))
			if err != nil {
				return err
			}
			if len(res) == 1 {
				got[kind] = res[0].value
			}
			if got[kind] != float64(derivable[kind]) {
				diffs = append(diffs, fmt.Sprintf("%s_count summed: %v, want %d (the ground truth's %d, less %d whose transitions were split across instances, plus %d across a split)",
					m, got[kind], derivable[kind], histCount(truth, m), lost[kind], derivable[kind]+lost[kind]-histCount(truth, m)))
			}
		}
		if len(diffs) > 0 {
			sort.Strings(diffs)
			return fmt.Errorf("after the resize, Prometheus differs:\n  %s", strings.Join(diffs, "\n  "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The figures of deploy/scale-out/README.md.
	query := func(q string) float64 {
		res, err := so.prom.query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) == 0 {
			return 0
		}
		return res[0].value
	}
	attempts := query("sum(" + sim.MetricStepAttempts + ")")
	completions := query("sum(" + sim.MetricTaskCompletion + "_count)")
	unknown := query(fmt.Sprintf(`sum(%s{namespace="unknown"})`, sim.MetricStepTransitions))
	t.Logf("resize 2 -> 4 instances %s into the run: %d of the %d tasks in flight moved, of %d (tasks per instance %v); counters exact; times in state held (lost to gaps, ground truth): task %v (%d, %d), step %v (%d, %d); step attempts %v of %v; task completions %v of %d; step transitions with namespace \"unknown\": %v of %v",
		resizedAt.Round(100*time.Millisecond), len(moved), inFlight, truth.Tasks, p.tasksOn,
		got["task"], lost["task"], histCount(truth, sim.MetricTaskStateDuration), got["step"], lost["step"], histCount(truth, sim.MetricStepStateDuration),
		attempts, truth.CounterTotal(sim.MetricStepAttempts), completions, histCount(truth, sim.MetricTaskCompletion),
		unknown, truth.CounterTotal(sim.MetricStepTransitions))
}

// derivableTimesInState counts, per entity kind, the times in state the instances can derive
// (§5: consecutive transitions of an entity in one log, the earlier's to_state the later's
// from_state), each log holding the entity's transitions that its instance handled, and the
// times in state of the ground truth that none can derive because their two transitions were
// handled by two instances (lost). A run without faults is assumed: no duplicates,
// no invalid moves, one clock.
func derivableTimesInState(truth *sim.Truth, instanceOf map[string]string) (derivable, lost map[string]int) {
	byEntity := map[string][]sim.Carrier{}
	for _, c := range truth.Carriers {
		byEntity[c.Kind+"/"+c.EntityID] = append(byEntity[c.Kind+"/"+c.EntityID], c)
	}
	derivable, lost = map[string]int{}, map[string]int{}
	for _, cs := range byEntity {
		sort.Slice(cs, func(i, j int) bool { return cs[i].TimeNanos < cs[j].TimeNanos })
		// Each instance's log holds its own subsequence of the entity's transitions.
		last := map[string]sim.Carrier{}
		for i, c := range cs {
			in := instanceOf[c.SpanID]
			if prev, ok := last[in]; ok && prev.To == c.From {
				derivable[c.Kind]++
			} else if i > 0 && cs[i-1].To == c.From {
				lost[c.Kind]++
			}
			last[in] = c
		}
	}
	return derivable, lost
}

func histCount(truth *sim.Truth, metric string) int {
	n := 0
	for _, h := range truth.Histograms[metric] {
		n += int(h.Count)
	}
	return n
}
