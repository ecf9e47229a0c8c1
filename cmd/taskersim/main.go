// Command taskersim speaks like Tasker: it simulates tasks and their workflow steps moving
// through Tasker's state machines and sends the transitions as OpenTelemetry traces (OTLP gRPC),
// in the shapes Tasker uses. It can write the ground truth of what it sent, which the
// end-to-end tests compare with what the collector derived. See docs/simulator.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/tasker-systems/otelcol-tasker/cmd/taskersim/sim"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	var usage usageError
	switch {
	case err == nil:
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "taskersim: %v\n(taskersim --help lists the flags)\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "taskersim: %v\n", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line, as opposed to a failure of the run.
type usageError struct{ error }

func run(args []string, stdout, stderr io.Writer) error {
	o := sim.DefaultOptions()
	fs := flag.NewFlagSet("taskersim", flag.ContinueOnError)
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "random seed; the same seed and flags give the same run")
	fs.IntVar(&o.Tasks, "tasks", 0, "number of tasks (default: rate × duration)")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "tasks started per wall-clock second")
	duration := fs.Duration("duration", time.Minute, "how long to start tasks for, when --tasks is not set")
	fs.Float64Var(&o.Speed, "speed", o.Speed, "simulated seconds per wall-clock second (>1 replays faster than real time)")
	fs.StringVar(&o.Shape, "shape", o.Shape, "how transitions are sent: spans (task./step.state_transition spans), events (Tasker's span events) or mix")
	fs.IntVar(&o.Workers, "workers", o.Workers, "number of worker instances (at least 1)")
	fates := fs.String("fates", sim.DefaultFates, "the deck of fates dealt to tasks, fate=count pairs (normal, flaky, cancel, fail_error, fail_resolve)")
	fs.Float64Var(&o.InvalidRate, "invalid-rate", o.InvalidRate, "fraction of tasks given one invalid transition")
	fs.Float64Var(&o.DuplicateRate, "duplicate-rate", o.DuplicateRate, "fraction of transitions re-sent identically")
	fs.Float64Var(&o.LateRate, "late-rate", o.LateRate, "fraction of transitions whose span is sent --late-delay late")
	fs.DurationVar(&o.LateDelay, "late-delay", o.LateDelay, "extra delay of a late transition's span")
	fs.DurationVar(&o.WorkerDelay, "worker-delay", o.WorkerDelay, "delay of every tasker-worker span (separate exporters)")
	fs.DurationVar(&o.DuplicateDelay, "duplicate-delay", o.DuplicateDelay, "how long after the original a duplicate is sent")
	fs.DurationVar(&o.WorkerSkew, "worker-skew", 0, "the worker clock's offset from the orchestration's (under 0.8s either way)")
	fs.BoolVar(&o.OmitTaskTransitions, "no-task-transitions", false, "send no task transitions, like today's Tasker (task metrics stay empty)")
	fs.Float64Var(&o.InFlightRate, "in-flight-rate", o.InFlightRate, "fraction of tasks left unfinished, stopped (with their steps) in every non-terminal state in turn")
	endpoint := fs.String("endpoint", "127.0.0.1:4317", "OTLP gRPC endpoint (host:port, plaintext)")
	workerEndpoint := fs.String("worker-endpoint", "", "OTLP gRPC endpoint of the tasker-worker instances (default: --endpoint)")
	truthFile := fs.String("truth", "", "write the ground truth as JSON to this file")
	dryRun := fs.Bool("dry-run", false, "plan and write the ground truth without sending anything")
	progressEvery := fs.Duration("progress", 5*time.Second, "print a progress line this often while sending (0: never)")
	// Parse errors are reported by main, once; --help prints the usage on stdout.
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprintf(stdout, "%s\n\nFlags:\n", usageText)
			fs.PrintDefaults()
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q: every setting is a flag", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := checkFlags(&o, set, *duration, *progressEvery, *fates); err != nil {
		return usageError{err}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr, err := otlpEndpoint(ctx, "endpoint", *endpoint, !*dryRun)
	if err != nil {
		return err
	}
	workerAddr := ""
	if *workerEndpoint != "" {
		if workerAddr, err = otlpEndpoint(ctx, "worker-endpoint", *workerEndpoint, !*dryRun); err != nil {
			return err
		}
	}

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
	var exportErrs exportErrors
	if !*dryRun {
		fmt.Fprintf(stdout, "taskersim: sending %d spans of %d tasks to %s over about %s\n",
			truth.SpanCount, truth.Tasks, addr, plan.Spans[len(plan.Spans)-1].EmitAt.Round(time.Second))
		// The SDK reports failed exports here instead of logging each one.
		otel.SetErrorHandler(&exportErrs)
		var progress sim.Progress
		stopProgress := reportProgress(stdout, *progressEvery, start, truth, &progress, &exportErrs)
		stats, err = sim.Emit(ctx, plan, sim.EmitOptions{Endpoint: addr, WorkerEndpoint: workerAddr, Base: base, Start: start, Progress: &progress})
		stopProgress()
		if n, last := exportErrs.get(); err != nil || n > 0 {
			msg := "sending to " + addr + " failed"
			if n > 0 {
				msg += fmt.Sprintf("; %d exports failed, the last: %v", n, last)
			}
			if err != nil {
				msg += fmt.Sprintf("; %v", err)
			}
			return errors.New(msg + "; spans were lost, so the ground truth does not hold")
		}
	}
	summary(stdout, truth, stats, *dryRun, time.Since(start))
	if stats.Incomplete {
		return fmt.Errorf("interrupted after %d of %d spans: the ground truth describes the whole plan", stats.Spans, truth.SpanCount)
	}
	return nil
}

const usageText = `taskersim simulates Tasker's tasks and workflow steps and sends their state transitions as
OpenTelemetry traces over OTLP gRPC, as Tasker does; --truth writes what the collector should
derive from them. See docs/simulator.md.

Usage: taskersim [flags]
  taskersim --speed 5 --rate 2 --duration 1m           send to a collector on 127.0.0.1:4317
  taskersim --tasks 40 --dry-run --truth truth.json    plan only`

// checkFlags refuses values the simulator cannot honour, naming the flag, and completes o.
func checkFlags(o *sim.Options, set map[string]bool, duration, progress time.Duration, fates string) error {
	positive := []struct {
		flag  string
		value float64
	}{{"rate", o.Rate}, {"speed", o.Speed}}
	for _, p := range positive {
		if !(p.value > 0) || math.IsInf(p.value, 0) {
			return fmt.Errorf("--%s must be a positive number, got %v", p.flag, p.value)
		}
	}
	shares := []struct {
		flag  string
		value float64
	}{{"invalid-rate", o.InvalidRate}, {"duplicate-rate", o.DuplicateRate}, {"late-rate", o.LateRate}, {"in-flight-rate", o.InFlightRate}}
	for _, s := range shares {
		if !(s.value >= 0 && s.value <= 1) {
			return fmt.Errorf("--%s is a fraction from 0 to 1, got %v", s.flag, s.value)
		}
	}
	delays := []struct {
		flag  string
		value time.Duration
	}{{"late-delay", o.LateDelay}, {"worker-delay", o.WorkerDelay}, {"duplicate-delay", o.DuplicateDelay}, {"progress", progress}}
	for _, d := range delays {
		if d.value < 0 {
			return fmt.Errorf("--%s must not be negative, got %s", d.flag, d.value)
		}
	}
	switch {
	case o.Workers < 1:
		return fmt.Errorf("--workers must be at least 1 (workers run the steps and send their spans), got %d", o.Workers)
	case o.WorkerSkew <= -maxWorkerSkew || o.WorkerSkew >= maxWorkerSkew:
		return fmt.Errorf("--worker-skew must stay under %s either way (under the components' max_clock_skew and the shortest retry backoff), got %s", maxWorkerSkew, o.WorkerSkew)
	case o.Shape != sim.ShapeSpans && o.Shape != sim.ShapeEvents && o.Shape != sim.ShapeMix:
		return fmt.Errorf("--shape must be spans, events or mix, got %q", o.Shape)
	}
	if set["fates"] {
		deck, err := sim.ParseFates(fates)
		if err != nil {
			return fmt.Errorf("--fates: %w", err)
		}
		o.FateDeck = deck
	}
	if set["tasks"] {
		if o.Tasks < 1 {
			return fmt.Errorf("--tasks must be at least 1, got %d", o.Tasks)
		}
		return nil
	}
	if duration <= 0 {
		return fmt.Errorf("--duration must be positive, got %s", duration)
	}
	o.Tasks = int(math.Ceil(o.Rate * duration.Seconds()))
	return nil
}

// maxWorkerSkew bounds --worker-skew: the ground truth orders a step's transitions across the
// two clocks, which holds only under the components' max_clock_skew (1 s) and the shortest
// retry backoff.
const maxWorkerSkew = 800 * time.Millisecond

// exportErrors is the OpenTelemetry error handler while spans are sent: it counts the SDK's
// failed exports and keeps the last.
type exportErrors struct {
	mu   sync.Mutex
	n    int
	last error
}

func (e *exportErrors) Handle(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	e.last = err
}

func (e *exportErrors) get() (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n, e.last
}

// reportProgress prints a line every interval until the returned function is called.
func reportProgress(w io.Writer, every time.Duration, start time.Time, t *sim.Truth, p *sim.Progress, errs *exportErrors) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		reported := 0
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			n, last := errs.get()
			line := fmt.Sprintf("taskersim: %s  tasks %d started, %d finished of %d; spans %d of %d sent; %d export errors",
				time.Since(start).Round(time.Second), p.TasksStarted.Load(), p.TasksFinished.Load(), t.Tasks,
				p.SpansSent.Load(), t.SpanCount, n)
			if n > reported {
				line += fmt.Sprintf(" (the last: %v)", last)
				reported = n
			}
			fmt.Fprintln(w, line)
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func summary(w io.Writer, t *sim.Truth, st sim.Stats, dry bool, took time.Duration) {
	fmt.Fprintf(w, "taskersim: %d tasks (%s), shape %s, seed %d\n", t.Tasks, counts(t.Fates), t.Shape, t.Seed)
	fmt.Fprintf(w, "  transitions: task %.0f, step %.0f (invalid %.0f); attempts %.0f\n",
		t.CounterTotal(sim.MetricTaskTransitions), t.CounterTotal(sim.MetricStepTransitions),
		t.CounterTotal(sim.MetricInvalidTransitions), t.CounterTotal(sim.MetricStepAttempts))
	fmt.Fprintf(w, "  injected: %d invalid, %d duplicates, %d late spans; %d times in state clamped to 0 by clock skew\n",
		t.Injected.Invalid, t.Injected.Duplicates, t.Injected.Late, t.Injected.SkewClamped)
	fmt.Fprintf(w, "  spans: %d in %d traces (%s); telemetry %s .. %s\n", t.SpanCount, len(t.TraceSpans), counts(t.SpansByService),
		t.Start.Format(time.RFC3339), t.End.Format(time.RFC3339))
	if dry {
		fmt.Fprintf(w, "  dry run: nothing sent\n")
	} else {
		fmt.Fprintf(w, "  sent %d spans in %s\n", st.Spans, took.Round(time.Millisecond))
	}
}

// counts writes a map of counts as "a 1, b 2", by key.
func counts(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
