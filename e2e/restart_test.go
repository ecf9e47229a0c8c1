//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tasker-systems/otelcol-tasker/cmd/taskersim/sim"
)

// Restarts (docs/telemetry.md §5, README "Restarts"), on the shipped configuration: the
// tasker_state extension keeps its state on file_storage, and so does the Jaeger exporter's
// queue.

// restartSettleWindow is the settle window of TestRestart: longer than the end-to-end runs'
// 8 s, so that a transition sent out of order after the restart (a worker's, 2 s late) still
// arrives within it of those before the restart that it settles with, the seconds the
// collector is up around the restart included (the downtime itself does not count, §5).
const restartSettleWindow = "10s"

// The tasker_state extension's own telemetry and log (the owner of the shared entity log).
const (
	metricSnapshots       = "otelcol_extension_tasker_state_snapshots"
	metricRestores        = "otelcol_extension_tasker_state_restores"
	metricTransitionsLost = "otelcol_extension_tasker_state_transitions_lost"
	metricEntered         = "otelcol_connector_tasker_state_transitions" // the log's, duplicates not included
	logRestored           = "Restored the tasker_state entity log"
	logCrashed            = "The collector stopped without writing its state; what arrived after the last checkpoint is lost"
	logDropped            = "Exporting failed. Dropping data."
)

// TestRestart restarts the collector with SIGTERM half-way through a run with tasks in flight
// and every fault of the simulator, while Jaeger is unreachable: the collector was cut off
// from it a quarter of the way in and is reconnected only after the restart. Afterwards
// Prometheus holds exactly the simulator's ground truth, as raw counter values (not increase()),
// histograms, live-state gauges and step outcomes; no series was reset or changed its start
// time; every span is in Jaeger, with the stamps a collector that never stopped would write,
// and nothing was dropped.
func TestRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var jaegerLink *link
	st := startStackWith(t, stackOptions{
		env: []string{"TASKER_SETTLE_WINDOW=" + restartSettleWindow},
		tracesVia: func(jaeger string) string {
			jaegerLink = newLink(t, jaeger)
			return jaegerLink.addr
		},
	})
	prom, jaeger := &promAPI{base: "http://" + st.prometheus}, &jaegerAPI{base: "http://" + st.jaegerQuery}
	o := simOptions()
	o.Seed = seed + 6
	// Slower than the other runs: tasks last seconds, so that many are in flight at the
	// restart, and the first half lasts longer than the settle window, so that series exist.
	o.Tasks, o.Rate, o.Speed = 80, 3, 2
	o.InFlightRate = 0.3
	began := time.Now()
	plan, truth, base, err := sim.Prepare(o, began)
	if err != nil {
		t.Fatal(err)
	}
	n := len(plan.Spans)
	outage, restart := n/4, n/2
	crossing := tasksAcross(plan, restart)
	if crossing < 10 {
		t.Fatalf("only %d tasks have spans on both sides of the restart: the run proves little; slow it down", crossing)
	}

	sendParts(ctx, t, st, plan, base, plan.Spans[:outage], began)
	jaegerLink.cut()
	sendParts(ctx, t, st, plan, base, plan.Spans[outage:restart], began)
	before, err := exportedSeries(ctx, st.promExport)
	if err != nil {
		t.Fatal(err)
	}
	if countStarted(before) == 0 {
		t.Fatal("no series had been exported before the restart: the start times prove nothing; slow the run down")
	}
	// Transitions sent before the restart that it finds unsettled, to be counted after it.
	counted := exportedTotal(before, sim.MetricTaskTransitions, sim.MetricStepTransitions)
	unsettled := transitionCount(sim.ComputeTruth(plan.Sent(plan.Spans[:restart]), base)) - counted
	if counted == 0 || unsettled <= 0 {
		t.Fatalf("before the restart the collector had counted %v of the transitions sent, %v more: the restart proves little", counted, unsettled)
	}
	stopped := time.Now()
	st.collector.stop(t)
	if code := st.collector.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the collector exited with %d on SIGTERM", code)
	}
	first := st.collector
	st.startCollector(t)
	t.Logf("restarted with SIGTERM after %d of %d spans (Jaeger cut off since span %d), %d tasks in flight across it, %v transitions unsettled; healthy again %s after the SIGTERM",
		restart, n, outage, crossing, unsettled, time.Since(stopped).Round(time.Millisecond))

	// Jaeger comes back while the rest is being sent.
	reconnect := time.AfterFunc(3*time.Second, func() { jaegerLink.restore(t) })
	defer reconnect.Stop()
	sendParts(ctx, t, st, plan, base, plan.Spans[restart:], time.Now().Add(-plan.Spans[restart].EmitAt))
	simEnd := time.Now()
	checkRestored(ctx, t, st.collector, true, stopped)

	if err := eventually(ctx, 2*time.Minute, time.Second, func() error { return compareMetrics(ctx, prom, truth) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("Prometheus matched the ground truth %s after the simulator finished", time.Since(simEnd).Round(time.Second))
	checkLiveStateAndOutcomes(ctx, t, prom, truth)
	checkNoResets(ctx, t, prom)
	after, err := exportedSeries(ctx, st.promExport)
	if err != nil {
		t.Fatal(err)
	}
	if diffs := startTimeDiffs(before, after); len(diffs) > 0 {
		t.Errorf("%d of %d series exported before the restart have another start time after it:\n  %s", len(diffs), countStarted(before), strings.Join(diffs[:min(len(diffs), 20)], "\n  "))
	}

	traces, err := jaeger.everySpan(ctx, truth, 2*time.Minute)
	if err != nil {
		t.Fatalf("not every span reached Jaeger across the outage and the restart: %v", err)
	}
	checkStamps(t, traces, truth)
	// The exporter logs the requests its shutdown interrupted as dropped, though the persistent
	// queue keeps them and sends them after the restart (as Jaeger's count shows); any other
	// is lost.
	for _, c := range []*server{first, st.collector} {
		for _, d := range c.logEntries(t, logDropped) {
			if e, _ := d.fields["error"].(string); !strings.HasPrefix(e, "interrupted due to shutdown") {
				t.Errorf("%s dropped spans: %v", c.name, d.fields)
			}
		}
	}
}

// TestCrashRestart kills the collector (SIGKILL) after a checkpoint, with spans that arrived
// since. The restarted collector restores exactly what the checkpoint held (every series, its
// value and start time, the live state), says in its log and its telemetry how many
// transitions it lost, and continues: Prometheus sees no reset, and the transition counters
// end at the ground truth of every span but the lost ones.
func TestCrashRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Long enough for a burst and the progress record after it (every second) to be written
	// before the next checkpoint.
	const checkpointInterval = 8 * time.Second
	st := startStackWith(t, stackOptions{env: []string{"TASKER_CHECKPOINT_INTERVAL=" + checkpointInterval.String()}})
	prom := &promAPI{base: "http://" + st.prometheus}
	o := simOptions()
	o.Seed = seed + 7
	o.InFlightRate = 0.3
	began := time.Now()
	plan, _, base, err := sim.Prepare(o, began)
	if err != nil {
		t.Fatal(err)
	}
	n := len(plan.Spans)
	crash, resume := n/2, n*2/3
	beforeCrash := sim.ComputeTruth(plan.Sent(plan.Spans[:crash]), base)

	sendParts(ctx, t, st, plan, base, plan.Spans[:crash], began)
	// Everything sent so far has settled and been exported ...
	if err := eventually(ctx, 2*time.Minute, time.Second, func() error { return compareMetrics(ctx, prom, beforeCrash) }); err != nil {
		t.Fatal(err)
	}
	// ... and the next checkpoint holds it.
	self := &selfMetrics{url: "http://" + st.telemetry + "/metrics"}
	checkpoints := func() float64 {
		v, err := self.sumWhere(ctx, metricSnapshots, map[string]string{"reason": "checkpoint"})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c0 := checkpoints()
	var c1 float64
	if err := eventually(ctx, 3*checkpointInterval, 100*time.Millisecond, func() error {
		if c1 = checkpoints(); c1 == c0 {
			return fmt.Errorf("no checkpoint written within %s (checkpoint_interval %s): %s stays at %v", 3*checkpointInterval, checkpointInterval, metricSnapshots, c0)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	checkpointed, err := exportedSeries(ctx, st.promExport)
	if err != nil {
		t.Fatal(err)
	}
	entered0, err := self.sum(ctx, metricEntered)
	if err != nil {
		t.Fatal(err)
	}
	// Then a burst, all at once, and the crash before the next checkpoint. What a crash loses
	// is known from a progress record written every second: two pass first.
	sendParts(ctx, t, st, plan, base, plan.Spans[crash:resume], time.Now().Add(-plan.Spans[resume-1].EmitAt))
	time.Sleep(2500 * time.Millisecond)
	entered1, err := self.sum(ctx, metricEntered) // updated at each flush (1 s)
	if err != nil {
		t.Fatal(err)
	}
	if c := checkpoints(); c != c1 {
		t.Fatalf("a checkpoint was written after the burst (%v, then %v): what it lost is not known; lengthen checkpointInterval", c1, c)
	}
	// The burst's transitions, duplicates of what the log holds left out: by the ground truth,
	// and as the connector counted them.
	lost := transitionCount(sim.ComputeTruth(plan.Sent(plan.Spans[:resume]), base)) - transitionCount(beforeCrash)
	if entered := entered1 - entered0; lost == 0 || entered != lost {
		t.Fatalf("the burst holds %v transitions, the connector counted %v entered (%s)", lost, entered, metricEntered)
	}
	_ = syscall.Kill(-st.collector.cmd.Process.Pid, syscall.SIGKILL)
	<-st.collector.done
	killed := time.Now()
	st.startCollector(t)
	t.Logf("killed after a checkpoint and a burst of %d spans (%v transitions entered); healthy again %s after the kill", resume-crash, lost, time.Since(killed).Round(time.Millisecond))
	checkRestored(ctx, t, st.collector, false, time.Time{})
	warned := waitLog(ctx, t, st.collector, logCrashed)
	if len(warned) != 1 || !strings.EqualFold(warned[0].level, "warn") {
		t.Errorf("log lines %q: %v, want one at warn", logCrashed, warned)
	} else if got, _ := warned[0].fields["transitions_lost"].(float64); got != lost {
		t.Errorf("the log says %v transitions were lost, %v were entered after the checkpoint", warned[0].fields["transitions_lost"], lost)
	}
	self = &selfMetrics{url: "http://" + st.telemetry + "/metrics"}
	if got, err := self.sum(ctx, metricTransitionsLost); err != nil || got != lost {
		t.Errorf("%s = %v (%v), want %v", metricTransitionsLost, got, err, lost)
	}
	if got, err := self.sumWhere(ctx, metricRestores, map[string]string{"outcome": "restored"}); err != nil || got != 1 {
		t.Errorf(`%s{outcome="restored"} = %v (%v), want 1`, metricRestores, got, err)
	}
	// The restored state is the checkpoint's: the same series, values and start times.
	if err := eventually(ctx, 30*time.Second, time.Second, func() error {
		now, err := exportedSeries(ctx, st.promExport)
		if err != nil {
			return err
		}
		if d := seriesDiffs(checkpointed, now); len(d) > 0 {
			return fmt.Errorf("after the crash the collector exports %d series, the checkpoint held %d; %d differ:\n  %s", len(now), len(checkpointed), len(d), strings.Join(d[:min(len(d), 20)], "\n  "))
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	sendParts(ctx, t, st, plan, base, plan.Spans[resume:], time.Now().Add(-plan.Spans[resume].EmitAt))
	// Transitions count exactly, whenever they arrive; the facts that pair a transition from
	// before the crash with one after it are derived only where that is still possible
	// (docs/telemetry.md §5: the first part
	// settled long before), so only the counters are compared.
	received := append(append([]*sim.Span(nil), plan.Spans[:crash]...), plan.Spans[resume:]...)
	want := sim.ComputeTruth(plan.Sent(received), base)
	counters := []string{sim.MetricTaskTransitions, sim.MetricStepTransitions, sim.MetricInvalidTransitions}
	if err := eventually(ctx, 2*time.Minute, time.Second, func() error { return compareMetricsOf(ctx, prom, want, counters, nil) }); err != nil {
		t.Fatal(err)
	}
	checkNoResets(ctx, t, prom)
	after, err := exportedSeries(ctx, st.promExport)
	if err != nil {
		t.Fatal(err)
	}
	if diffs := startTimeDiffs(checkpointed, after); len(diffs) > 0 {
		t.Errorf("%d of %d series of the checkpoint have another start time at the end:\n  %s", len(diffs), countStarted(checkpointed), strings.Join(diffs[:min(len(diffs), 20)], "\n  "))
	}
}

// transitionCount is the number of transitions a ground truth counts (task and step).
func transitionCount(truth *sim.Truth) float64 {
	return truth.CounterTotal(sim.MetricTaskTransitions) + truth.CounterTotal(sim.MetricStepTransitions)
}

// sendParts sends the given spans of plan (in its order) on plan's schedule counted from
// start, and fails the test unless every one was handed over.
func sendParts(ctx context.Context, t *testing.T, st *stack, plan *sim.Plan, base time.Time, spans []*sim.Span, start time.Time) {
	t.Helper()
	stats, err := sim.Emit(ctx, plan.Sent(spans), sim.EmitOptions{Endpoint: st.otlpGRPC, Base: base, Start: start})
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	if stats.Spans != len(spans) {
		t.Fatalf("sent %d spans of %d", stats.Spans, len(spans))
	}
}

// tasksAcross counts the tasks (one trace each) with spans both before span i and from it on.
func tasksAcross(plan *sim.Plan, i int) int {
	before := map[[16]byte]bool{}
	for _, s := range plan.Spans[:i] {
		before[s.TraceID] = true
	}
	across := map[[16]byte]bool{}
	for _, s := range plan.Spans[i:] {
		if before[s.TraceID] {
			across[s.TraceID] = true
		}
	}
	return len(across)
}

// checkRestored waits for the restarted collector's log line of its restore (written when
// the restored log is first used: the first batch or flush) and checks it. since, if set, is
// when the collector was stopped: the downtime the line reports is at most the time since.
func checkRestored(ctx context.Context, t *testing.T, c *server, clean bool, since time.Time) {
	t.Helper()
	lines := waitLog(ctx, t, c, logRestored)
	upTo := time.Since(since)
	if len(lines) != 1 || !strings.EqualFold(lines[0].level, "info") {
		t.Fatalf("log lines %q: %v, want one at info", logRestored, lines)
	}
	f := lines[0].fields
	for _, k := range []string{"entities", "transitions", "series", "bytes"} {
		if v, _ := f[k].(float64); v <= 0 {
			t.Errorf("%s: %s = %v, want a positive count (fields %v)", logRestored, k, f[k], f)
		}
	}
	for _, k := range []string{"took", "downtime"} {
		if _, err := logDuration(f[k]); err != nil {
			t.Errorf("%s: %s: %v", logRestored, k, err)
		}
	}
	if got, _ := f["clean"].(bool); got != clean {
		t.Errorf("%s: clean = %v, want %v", logRestored, f["clean"], clean)
	}
	if !since.IsZero() {
		if d, err := logDuration(f["downtime"]); err != nil || d <= 0 || d > upTo {
			t.Errorf("%s: downtime %v (%v), want more than 0 and at most %s, the time from the stop to the line", logRestored, f["downtime"], err, upTo)
		}
	}
	t.Logf("%s: %v", logRestored, f)
}

// waitLog returns a server's log lines with a message, once there is one (or after 15 s).
func waitLog(ctx context.Context, t *testing.T, c *server, msg string) []logEntry {
	t.Helper()
	var lines []logEntry
	_ = eventually(ctx, 15*time.Second, 200*time.Millisecond, func() error {
		if lines = c.logEntries(t, msg); len(lines) == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	return lines
}

// logDuration reads a duration field of a zap log line: seconds as a number, or a string
// time.ParseDuration reads.
func logDuration(v any) (time.Duration, error) {
	switch x := v.(type) {
	case float64:
		return time.Duration(x * float64(time.Second)), nil
	case string:
		return time.ParseDuration(x)
	}
	return 0, fmt.Errorf("not a duration: %v", v)
}

// checkNoResets fails the test if Prometheus saw any tasker_* counter or histogram series
// decrease during the run: a restart that loses nothing shows none.
func checkNoResets(ctx context.Context, t *testing.T, prom *promAPI) {
	t.Helper()
	var names struct {
		Data []string `json:"data"`
	}
	if err := getJSON(ctx, prom.base+"/api/v1/label/__name__/values", &names); err != nil {
		t.Fatal(err)
	}
	var reset []string
	checked := 0
	for _, name := range names.Data {
		if !strings.HasPrefix(name, "tasker_") || !strings.HasSuffix(name, "_total") && !strings.HasSuffix(name, "_count") && !strings.HasSuffix(name, "_sum") && !strings.HasSuffix(name, "_bucket") {
			continue
		}
		checked++
		res, err := prom.query(ctx, "resets("+name+"[1h]) > 0")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			reset = append(reset, fmt.Sprintf("%s {%s}: %v", name, labelKey(r.labels), r.value))
		}
	}
	if checked == 0 {
		t.Fatal("Prometheus holds no tasker_* counter or histogram")
	}
	sort.Strings(reset)
	if len(reset) > 0 {
		t.Errorf("Prometheus saw %d series of %d metrics reset:\n  %s", len(reset), checked, strings.Join(reset[:min(len(reset), 20)], "\n  "))
	}
}

// --- the collector's prometheus exporter, in the protobuf exposition format ---

// exported is one series the collector's prometheus exporter exposes: its value (a
// histogram's count) and, for a counter or a histogram, its start time. Only the protobuf
// format carries the start time (as the created timestamp); the exporter writes none in its
// text formats, and Prometheus 2.42 keeps none.
type exported struct {
	value float64
	start time.Time
}

// exportedSeries scrapes a prometheus exporter in the protobuf format; the series are keyed
// by metric family name and labels.
func exportedSeries(ctx context.Context, exporter string) (map[string]exported, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+exporter+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "protobuf") {
		return nil, fmt.Errorf("%s answers %q, not the protobuf format", exporter, ct)
	}
	out := map[string]exported{}
	for len(b) > 0 {
		msg, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, fmt.Errorf("%s: a metric family: %w", exporter, protowire.ParseError(n))
		}
		b = b[n:]
		if err := readFamily(msg, out); err != nil {
			return nil, fmt.Errorf("%s: %w", exporter, err)
		}
	}
	return out, nil
}

// pbField is one field of a protobuf message: a varint or fixed64 scalar, or bytes.
type pbField struct {
	num    protowire.Number
	scalar uint64
	bytes  []byte
}

func pbFields(b []byte) ([]pbField, error) {
	var out []pbField
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		f := pbField{num: num}
		switch typ {
		case protowire.VarintType:
			f.scalar, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			f.scalar, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		out = append(out, f)
	}
	return out, nil
}

// readFamily reads an io.prometheus.client.MetricFamily: name = 1, metric = 4; Metric: label
// = 1 (LabelPair: name = 1, value = 2), gauge = 2 (value = 1), counter = 3 (value = 1,
// created_timestamp = 3), histogram = 7 (sample_count = 1, created_timestamp = 15);
// Timestamp: seconds = 1, nanos = 2.
func readFamily(msg []byte, out map[string]exported) error {
	fields, err := pbFields(msg)
	if err != nil {
		return err
	}
	var name string
	var metrics [][]byte
	for _, f := range fields {
		switch f.num {
		case 1:
			name = string(f.bytes)
		case 4:
			metrics = append(metrics, f.bytes)
		}
	}
	for _, m := range metrics {
		mf, err := pbFields(m)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		labels := map[string]string{}
		var e exported
		for _, f := range mf {
			switch f.num {
			case 1:
				lp, err := pbFields(f.bytes)
				if err != nil {
					return err
				}
				var k, v string
				for _, x := range lp {
					switch x.num {
					case 1:
						k = string(x.bytes)
					case 2:
						v = string(x.bytes)
					}
				}
				labels[k] = v
			case 2, 3, 7:
				vf, err := pbFields(f.bytes)
				if err != nil {
					return err
				}
				created := protowire.Number(3)
				if f.num == 7 {
					created = 15
				}
				for _, x := range vf {
					switch {
					case x.num == 1 && f.num == 7:
						e.value = float64(x.scalar)
					case x.num == 1:
						e.value = math.Float64frombits(x.scalar)
					case x.num == created && f.num != 2:
						if e.start, err = readTimestamp(x.bytes); err != nil {
							return err
						}
					}
				}
			}
		}
		out[name+" {"+labelKey(labels)+"}"] = e
	}
	return nil
}

func readTimestamp(b []byte) (time.Time, error) {
	fields, err := pbFields(b)
	if err != nil {
		return time.Time{}, err
	}
	var sec, nanos int64
	for _, f := range fields {
		switch f.num {
		case 1:
			sec = int64(f.scalar)
		case 2:
			nanos = int64(f.scalar)
		}
	}
	return time.Unix(sec, nanos), nil
}

// exportedTotal sums the values of the series of the given metrics in a scrape.
func exportedTotal(s map[string]exported, metrics ...string) float64 {
	var total float64
	for k, e := range s {
		for _, m := range metrics {
			if strings.HasPrefix(k, m+" {") {
				total += e.value
			}
		}
	}
	return total
}

func countStarted(s map[string]exported) int {
	n := 0
	for _, e := range s {
		if !e.start.IsZero() {
			n++
		}
	}
	return n
}

// startTimeDiffs lists the series of before with a start time that after lacks or changed.
func startTimeDiffs(before, after map[string]exported) []string {
	var diffs []string
	for k, b := range before {
		if b.start.IsZero() {
			continue
		}
		a, ok := after[k]
		if !ok || !a.start.Equal(b.start) {
			diffs = append(diffs, fmt.Sprintf("%s: started %s, now %s (present %v)", k, b.start.Format(time.RFC3339Nano), a.start.Format(time.RFC3339Nano), ok))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// seriesDiffs lists the differences between two scrapes: series missing, added, or with
// another value or start time.
func seriesDiffs(want, got map[string]exported) []string {
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		if !ok || g.value != w.value || !g.start.Equal(w.start) {
			diffs = append(diffs, fmt.Sprintf("%s: %v since %s, want %v since %s (present %v)", k, g.value, g.start.Format(time.RFC3339Nano), w.value, w.start.Format(time.RFC3339Nano), ok))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: %v, want no such series", k, g.value))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// --- a link that can be cut ---

// link forwards loopback TCP connections to a server. Cut, it closes the connections it
// holds and refuses new ones (nothing listens on its port), as a stopped server does, while
// the server behind it keeps what it stored; restored, it listens on the same port again.
type link struct {
	addr, to string
	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]bool
}

func newLink(t *testing.T, to string) *link {
	l := &link{addr: addr(freePorts(t, 1)[0]), to: to, conns: map[net.Conn]bool{}}
	l.restore(t)
	t.Cleanup(l.cut)
	return l
}

func (l *link) restore(t *testing.T) {
	var ln net.Listener
	err := eventually(context.Background(), 5*time.Second, 100*time.Millisecond, func() error {
		var err error
		ln, err = net.Listen("tcp", l.addr)
		return err
	})
	if err != nil {
		t.Errorf("link to %s: listen again on %s: %v", l.to, l.addr, err)
		return
	}
	l.mu.Lock()
	l.ln = ln
	l.mu.Unlock()
	go l.accept(ln)
}

func (l *link) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", l.to)
		if err != nil {
			c.Close()
			continue
		}
		l.mu.Lock()
		if l.ln != ln { // cut meanwhile
			l.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		l.conns[c], l.conns[up] = true, true
		l.mu.Unlock()
		go l.pipe(c, up)
		go l.pipe(up, c)
	}
}

func (l *link) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src) // until either side closes or resets, or the link is cut
	dst.Close()
	src.Close()
	l.mu.Lock()
	delete(l.conns, dst)
	delete(l.conns, src)
	l.mu.Unlock()
}

func (l *link) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	for c := range l.conns {
		c.Close()
	}
	clear(l.conns)
}
