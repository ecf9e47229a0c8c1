// Command taskersim speaks like Tasker: it simulates tasks and their workflow steps moving
// through Tasker's state machines and sends the transitions as OpenTelemetry traces (OTLP gRPC),
// in the shapes Tasker uses. It can write the ground truth of what it sent, which the
// end-to-end tests compare with what the collector derived. See docs/simulator.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/tasker-systems/otelcol-tasker/cmd/taskersim/sim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		slog.Error("taskersim failed", "error", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	o := sim.DefaultOptions()
	fs := flag.NewFlagSet("taskersim", flag.ContinueOnError)
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "random seed; the same seed and flags give the same run")
	fs.IntVar(&o.Tasks, "tasks", 0, "number of tasks (default: rate × duration)")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "tasks started per wall-clock second")
	duration := fs.Duration("duration", time.Minute, "how long to start tasks for, when --tasks is not set")
	fs.Float64Var(&o.Speed, "speed", o.Speed, "simulated seconds per wall-clock second (>1 replays faster than real time)")
	fs.StringVar(&o.Shape, "shape", o.Shape, "how transitions are sent: spans (task./step.state_transition spans), events (Tasker's span events) or mix")
	fs.IntVar(&o.Workers, "workers", o.Workers, "number of worker instances")
	fs.Float64Var(&o.InvalidRate, "invalid-rate", o.InvalidRate, "fraction of tasks given one invalid transition")
	fs.Float64Var(&o.DuplicateRate, "duplicate-rate", o.DuplicateRate, "fraction of transitions re-sent identically")
	fs.Float64Var(&o.LateRate, "late-rate", o.LateRate, "fraction of transitions whose span is sent --late-delay late")
	fs.DurationVar(&o.LateDelay, "late-delay", o.LateDelay, "extra delay of a late transition's span")
	fs.DurationVar(&o.WorkerDelay, "worker-delay", o.WorkerDelay, "delay of every tasker-worker span (separate exporters)")
	fs.DurationVar(&o.DuplicateDelay, "duplicate-delay", o.DuplicateDelay, "how long after the original a duplicate is sent")
	fs.DurationVar(&o.WorkerSkew, "worker-skew", 0, "the worker clock's offset from the orchestration's (keep under 0.8s)")
	fs.BoolVar(&o.OmitTaskTransitions, "no-task-transitions", false, "send no task transitions, like today's Tasker (task metrics stay empty)")
	fs.Float64Var(&o.InFlightRate, "in-flight-rate", o.InFlightRate, "fraction of tasks left unfinished, stopped (with their steps) in every non-terminal state in turn")
	endpoint := fs.String("endpoint", "127.0.0.1:4317", "OTLP gRPC endpoint (host:port, plaintext)")
	workerEndpoint := fs.String("worker-endpoint", "", "OTLP gRPC endpoint of the tasker-worker instances (default: --endpoint)")
	truthFile := fs.String("truth", "", "write the ground truth as JSON to this file")
	dryRun := fs.Bool("dry-run", false, "plan and write the ground truth without sending anything")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Tasks == 0 {
		o.Tasks = int(math.Ceil(o.Rate * duration.Seconds()))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	plan, truth, base, err := sim.Prepare(o, start)
	if err != nil {
		return err
	}
	if *truthFile != "" {
		if err := writeJSON(*truthFile, truth); err != nil {
			return err
		}
	}
	var stats sim.Stats
	if !*dryRun {
		fmt.Printf("taskersim: sending %d spans of %d tasks to %s over about %s\n",
			truth.SpanCount, truth.Tasks, *endpoint, plan.Spans[len(plan.Spans)-1].EmitAt.Round(time.Second))
		stats, err = sim.Emit(ctx, plan, sim.EmitOptions{Endpoint: *endpoint, WorkerEndpoint: *workerEndpoint, Base: base, Start: start})
		if err != nil {
			return err
		}
	}
	summary(truth, stats, *dryRun, time.Since(start))
	if stats.Incomplete {
		return fmt.Errorf("interrupted after %d of %d spans: the ground truth describes the whole plan", stats.Spans, truth.SpanCount)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func summary(t *sim.Truth, st sim.Stats, dry bool, took time.Duration) {
	fates := make([]string, 0, len(t.Fates))
	for f, n := range t.Fates {
		fates = append(fates, fmt.Sprintf("%s=%d", f, n))
	}
	sort.Strings(fates)
	fmt.Printf("taskersim: %d tasks %v, shape %s, seed %d\n", t.Tasks, fates, t.Shape, t.Seed)
	fmt.Printf("  transitions: task %.0f, step %.0f (invalid %.0f); attempts %.0f\n",
		t.CounterTotal(sim.MetricTaskTransitions), t.CounterTotal(sim.MetricStepTransitions),
		t.CounterTotal(sim.MetricInvalidTransitions), t.CounterTotal(sim.MetricStepAttempts))
	fmt.Printf("  injected: %d invalid, %d duplicates, %d late spans; %d times in state clamped to 0 by clock skew\n",
		t.Injected.Invalid, t.Injected.Duplicates, t.Injected.Late, t.Injected.SkewClamped)
	fmt.Printf("  spans: %d in %d traces %v; telemetry %s .. %s\n", t.SpanCount, len(t.TraceSpans), t.SpansByService,
		t.Start.Format(time.RFC3339), t.End.Format(time.RFC3339))
	if dry {
		fmt.Printf("  dry run: nothing sent\n")
	} else {
		fmt.Printf("  sent %d spans in %s\n", st.Spans, took.Round(time.Millisecond))
	}
}
