// Command loadgen drives a collector with Tasker-shaped OTLP traces over gRPC, as fast as the
// collector accepts them, and reports the accepted spans per second. scripts/bench-collector.sh
// uses it (make bench-collector); docs/benchmarks.md describes the traffic.
//
//	loadgen pool -o pool.gob [-tasks 600 -live 0.2 -seed 1]
//	loadgen send -pool pool.gob -endpoint 127.0.0.1:4317 [-senders 4 -warmup 5s -duration 10s]
//
// The pool is planned by the simulator (cmd/taskersim) and captured from its own OTLP
// exporters once; each sender then repeats it, renaming every task, step and trace on each
// pass, so entities keep arriving and the generator does no marshalling.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: loadgen pool|send [flags] (see -h of each)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "pool":
		return runPool(ctx, args[1:])
	case "send":
		return runSend(ctx, args[1:])
	}
	return fmt.Errorf("unknown command %q: want pool or send", args[0])
}

func runPool(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("loadgen pool", flag.ContinueOnError)
	out := fs.String("o", "", "file to write the pool to (required)")
	var o PoolOptions
	fs.Uint64Var(&o.Seed, "seed", 1, "simulator seed")
	fs.IntVar(&o.Tasks, "tasks", 600, "tasks in one pass of the pool")
	fs.Float64Var(&o.LiveShare, "live", 0.2, "share of tasks cut off mid-flight (at their first step claim), so they never finish")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("pool: -o FILE is required")
	}
	if o.LiveShare < 0 || o.LiveShare > 1 {
		return fmt.Errorf("pool: -live must be within 0..1, got %v", o.LiveShare)
	}
	p, err := BuildPool(ctx, o)
	if err != nil {
		return err
	}
	if err := p.Write(*out); err != nil {
		return err
	}
	fmt.Printf("pool: %d tasks (%d kept live), %d spans carrying %d transitions, in %d requests -> %s\n",
		p.Tasks, p.Live, p.Spans, p.Transitions, len(p.Requests), *out)
	return nil
}

func runSend(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("loadgen send", flag.ContinueOnError)
	poolFile := fs.String("pool", "", "pool written by `loadgen pool` (required)")
	var o SendOptions
	fs.StringVar(&o.Endpoint, "endpoint", "127.0.0.1:4317", "collector's OTLP gRPC endpoint (plaintext)")
	fs.IntVar(&o.Senders, "senders", 4, "concurrent senders, each on its own connection")
	fs.DurationVar(&o.Warmup, "warmup", 5*time.Second, "sending before the counted window")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "the counted window")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *poolFile == "" {
		return fmt.Errorf("send: -pool FILE is required")
	}
	if o.Duration <= 0 || o.Warmup < 0 {
		return fmt.Errorf("send: -duration must be positive and -warmup not negative")
	}
	pool, err := ReadPool(*poolFile)
	if err != nil {
		return err
	}
	res, err := Send(ctx, pool, o)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("send: interrupted")
	}
	// One line for the script to read; the first error, if any, goes to stderr.
	fmt.Printf("spans_per_s=%.0f accepted_spans=%d rejected_spans=%d requests=%d failed_requests=%d seconds=%.1f\n",
		res.SpansPerSecond(), res.Accepted, res.Rejected, res.Requests, res.FailedRequests, res.Seconds)
	if res.FirstError != nil {
		fmt.Fprintln(os.Stderr, "loadgen: first error:", res.FirstError)
	}
	if res.Accepted == 0 {
		return fmt.Errorf("send: the collector accepted no span in the counted window")
	}
	return nil
}
