//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tasker-systems/otelcol-tasker/cmd/taskersim/sim"
)

// TestSustainedLoad sends 80,000 tasks (about three million spans) as fast as the collector
// accepts them, into the shipped configuration with its default limits and its 30 s settle
// window, through real Prometheus and Jaeger. Every metric must equal the ground truth: at
// this rate the log holds every transition of the last 30 s unsettled, and the byte budget
// must make room for them without evicting one of them (which would make the metrics
// inexact; the evictions by reason are logged). The collector's peak RSS is logged too.
//
// The simulator offers tasks faster than the collector takes them (its spans queue in the
// senders), yet not all at once: its worker delay is wall time, so a plan compressed into
// milliseconds would send every orchestration span of all 80,000 tasks before the first
// worker span, holding every entity open for the whole run, which no Tasker deployment does.
// Offered at 600 tasks/s (about 23,000 spans/s), the worker spans trail by 3 s of the
// schedule, as a worker's exporter delays them.
func TestSustainedLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the sustained-load test sends three million spans")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	o := sim.DefaultOptions()
	o.Seed = seed + 40
	o.Tasks = 80_000
	o.Rate = 600  // tasks offered per wall second: more than the collector takes
	o.Speed = 1e3 // a task's minute of plan passes in 60 ms
	o.Shape = sim.ShapeMix
	o.Workers = 4
	o.InvalidRate = 0.02
	o.DuplicateRate = 0.01
	o.DuplicateDelay = 0
	st := startStackWith(t, stackOptions{env: append([]string{"TASKER_SETTLE_WINDOW=30s", "TASKER_FLUSH_INTERVAL=5s"}, strings.Fields(os.Getenv("E2E_SUSTAINED_ENV"))...)})
	prom, self := &promAPI{base: "http://" + st.prometheus}, &selfMetrics{url: "http://" + st.telemetry + "/metrics"}

	peak := make(chan peaks, 1)
	stop := make(chan struct{})
	go func() { peak <- watchPeaks(ctx, st.collector.cmd.Process.Pid, self, stop) }()

	began := time.Now()
	truth, stats, err := sim.Run(ctx, o, st.otlpGRPC)
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	took := time.Since(began)
	if stats.Spans != truth.SpanCount {
		t.Fatalf("sent %d spans, the plan has %d", stats.Spans, truth.SpanCount)
	}
	t.Logf("simulator: %d tasks, %d spans sent in %s (%.0f spans/s); %d invalid, %d duplicates injected",
		truth.Tasks, stats.Spans, took.Round(time.Millisecond), float64(stats.Spans)/took.Seconds(), truth.Injected.Invalid, truth.Injected.Duplicates)

	err = eventually(ctx, 3*time.Minute, 2*time.Second, func() error { return compareMetrics(ctx, prom, truth) })
	close(stop)
	rss := <-peak
	for _, reason := range []string{"finished", "idle", "capacity", "memory", "unsettled"} {
		n, _ := self.sumWhere(ctx, "otelcol_connector_tasker_state_entities_evicted", map[string]string{"reason": reason})
		t.Logf("evictions from the shared log, reason %s: %v", reason, n)
	}
	t.Logf("collector peak RSS %d MiB (largest anonymous part %d MiB, file-backed %d MiB); the entity log's peak %d MiB",
		rss.rss>>20, rss.anon>>20, rss.file>>20, rss.log>>20)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := self.sumWhere(ctx, "otelcol_connector_tasker_state_entities_evicted", map[string]string{"reason": "unsettled"}); n != 0 {
		t.Errorf("%v unsettled entities evicted, yet the metrics matched: the comparison missed what they lost", n)
	}
}

// peaks: the resident set's high-water mark, the largest anonymous and file-backed parts seen
// (file_storage's bbolt maps its file: the snapshots and the Jaeger queue), and the log's bytes.
type peaks struct{ rss, anon, file, log int64 }

// watchPeaks samples a process's peak resident set (VmHWM) and the entity log's bytes as
// the connector reports them, each second until stop.
func watchPeaks(ctx context.Context, pid int, self *selfMetrics, stop <-chan struct{}) peaks {
	var p peaks
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(line)
				if len(f) < 2 {
					continue
				}
				kb, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					continue
				}
				switch f[0] {
				case "VmHWM:":
					p.rss = max(p.rss, kb<<10)
				case "RssAnon:":
					p.anon = max(p.anon, kb<<10)
				case "RssFile:":
					p.file = max(p.file, kb<<10)
				}
			}
		}
		if n, err := self.sum(ctx, "otelcol_connector_tasker_state_entity_log_bytes"); err == nil {
			p.log = max(p.log, int64(n))
		}
		select {
		case <-stop:
			return p
		case <-tick.C:
		}
	}
}
