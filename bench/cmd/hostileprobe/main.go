// Command hostileprobe sends the hostile inputs of issue 13's table to a collector over OTLP
// gRPC, one input per run, and sums up what a collector made of one in its /metrics.
// scripts/probe-hostile.sh (make probe-hostile) runs it against the built collector on the
// shipped configuration and prints the table of docs/benchmarks.md, "Hostile input".
//
//	hostileprobe list                             the inputs, one "name<TAB>description" a line
//	hostileprobe send -endpoint 127.0.0.1:4317 -input NAME
//	hostileprobe summary -input NAME metrics.txt  what the tasker_* series show about the input
//
// It marshals with pdata, not the OpenTelemetry SDK: the SDK's protobuf encoder refuses a
// string that is not valid UTF-8, which is one of the inputs.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "hostileprobe:", err)
		os.Exit(1)
	}
}

// input is one row of the table: the batches it sends, built at send time from the
// collector's clock (now), and what of the collector's metrics tells about it.
type input struct {
	name, description string
	batches           func(now time.Time) []ptrace.Traces
	summary           func(m []sample) string
}

const mib = 1 << 20

var inputs = []input{
	{"baseline", "nothing sent (the collector at rest)",
		func(time.Time) []ptrace.Traces { return nil }, seriesCount},
	{"big-task-ids", "100 valid transitions with 1 MiB task_uuid values", func(now time.Time) []ptrace.Traces {
		var out []ptrace.Traces
		for i := range 100 {
			b := newBatch("tasker-orchestration", now)
			b.taskMove(fmt.Sprintf("%04d", i)+strings.Repeat("t", mib-4), "payments", "none", "pending", b.at(-time.Second))
			out = append(out, b.td)
		}
		return out
	}, seriesCount},
	{"big-namespaces", "30 step transitions with 1 MiB namespaces", func(now time.Time) []ptrace.Traces {
		var out []ptrace.Traces
		for i := range 10 {
			b := newBatch("tasker-worker", now)
			b.stepAttempt(fmt.Sprint("task-", i), fmt.Sprint("step-", i), fmt.Sprintf("%04d", i)+strings.Repeat("n", mib-4), "charge_card", 0)
			out = append(out, b.td)
		}
		return out
	}, labelValues("namespace")},
	{"many-long-names", "3,000 distinct 4 KiB namespaces and handlers", func(now time.Time) []ptrace.Traces {
		var out []ptrace.Traces
		var b *batch
		pad := func(prefix string, i int) string {
			v := fmt.Sprintf("%s-%05d-", prefix, i)
			return v + strings.Repeat("x", 4096-len(v))
		}
		for i := range 3000 {
			if i%100 == 0 {
				b = newBatch("tasker-worker", now)
				out = append(out, b.td)
			}
			b.stepAttempt(fmt.Sprint("task-", i), fmt.Sprint("step-", i), pad("ns", i), pad("handler", i), 0)
		}
		return out
	}, labelValues("namespace", "handler_name")},
	{"invalid-utf8", `namespace "ns-\xff\xfe" (invalid UTF-8)`, func(now time.Time) []ptrace.Traces {
		b := newBatch("tasker-orchestration", now)
		b.taskMove("task-utf8", "ns-\xff\xfe", "none", "pending", b.at(-2*time.Second))
		b.taskMove("task-utf8", "ns-\xff\xfe", "pending", "initializing", b.at(-time.Second))
		w := newBatch("tasker-worker", now)
		w.stepAttempt("task-utf8", "step-utf8", "ns-\xff\xfe", "charge_card", 0)
		return []ptrace.Traces{b.td, w.td}
	}, labelValues("namespace")},
	{"epoch-then-now", "a transition at 1 ns (1970) followed by one now", func(now time.Time) []ptrace.Traces {
		b := newBatch("tasker-orchestration", now)
		b.taskMove("task-epoch", "payments", "none", "pending", 1)
		b.taskMove("task-epoch", "payments", "pending", "initializing", b.at(-time.Second))
		return []ptrace.Traces{b.td}
	}, longestDuration},
	{"epoch-to-maxuint64", "a task none → pending at 1 ns, pending → complete at MaxUint64", func(now time.Time) []ptrace.Traces {
		b := newBatch("tasker-orchestration", now)
		b.taskMove("task-wrap", "payments", "none", "pending", 1)
		b.taskMove("task-wrap", "payments", "pending", "complete", math.MaxUint64)
		return []ptrace.Traces{b.td}
	}, longestDuration},
	{"future", "times 100 years in the future", func(now time.Time) []ptrace.Traces {
		b := newBatch("tasker-orchestration", now)
		far := pcommon.NewTimestampFromTime(now.AddDate(100, 0, 0))
		b.taskMove("task-future", "payments", "none", "pending", far)
		b.taskMove("task-future", "payments", "pending", "initializing", far+1e9)
		return []ptrace.Traces{b.td}
	}, seriesCount},
	{"start-after-end", "a task's spans start 1 s after they end", func(now time.Time) []ptrace.Traces {
		b := newBatch("tasker-orchestration", now)
		b.taskMove("task-backwards", "payments", "none", "pending", b.at(-2*time.Second)).SetStartTimestamp(b.at(-time.Second))
		b.taskMove("task-backwards", "payments", "pending", "initializing", b.at(-time.Second)).SetStartTimestamp(b.at(0))
		return []ptrace.Traces{b.td}
	}, longestDuration},
	{"attempt-2^62", "attempt_number 2^62 on a step's claim", func(now time.Time) []ptrace.Traces {
		b := newBatch("tasker-worker", now)
		b.stepAttempt("task-attempt", "step-attempt", "payments", "charge_card", 1<<62)
		return []ptrace.Traces{b.td}
	}, labelValues("attempt_number")},
	{"one-step-10000", "10,000 transitions of one step", func(now time.Time) []ptrace.Traces {
		loop := [][2]string{{"pending", "enqueued"}, {"enqueued", "in_progress"}, {"in_progress", "waiting_for_retry"}, {"waiting_for_retry", "pending"}}
		var out []ptrace.Traces
		start := now.Add(-10 * time.Minute)
		for first := 0; first < 10_000; first += 500 {
			b := newBatch("tasker-orchestration", now)
			sp := b.span("enqueue_ready_steps", b.at(0), map[string]any{"task_uuid": "task-loop"})
			for i := first; i < first+500; i++ {
				from, to := "none", "pending"
				if i > 0 {
					from, to = loop[(i-1)%4][0], loop[(i-1)%4][1]
				}
				stepEvent(sp, "step-loop", "task-loop", from, to, pcommon.NewTimestampFromTime(start.Add(time.Duration(i)*10*time.Millisecond)), 0)
			}
			out = append(out, b.td)
		}
		return out
	}, stepTransitions},
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: hostileprobe list|send|summary (see the package comment)")
	}
	fs := flag.NewFlagSet("hostileprobe "+args[0], flag.ContinueOnError)
	endpoint := fs.String("endpoint", "127.0.0.1:4317", "the collector's OTLP gRPC endpoint")
	name := fs.String("input", "", "the input (hostileprobe list)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	find := func() (input, error) {
		for _, in := range inputs {
			if in.name == *name {
				return in, nil
			}
		}
		return input{}, fmt.Errorf("unknown -input %q (hostileprobe list names them)", *name)
	}
	switch args[0] {
	case "list":
		for _, in := range inputs {
			fmt.Printf("%s\t%s\n", in.name, in.description)
		}
		return nil
	case "send":
		in, err := find()
		if err != nil {
			return err
		}
		return send(*endpoint, in.batches(time.Now()))
	case "summary":
		in, err := find()
		if err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("summary: give the file of a /metrics scrape")
		}
		m, err := readMetrics(fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Println(in.summary(m))
		return nil
	}
	return fmt.Errorf("unknown command %q: want list, send or summary", args[0])
}

func send(endpoint string, batches []ptrace.Traces) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, td := range batches {
		if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
			return fmt.Errorf("request %d of %d: %w", i+1, len(batches), err)
		}
	}
	return nil
}

// batch is one OTLP request: spans of one service.
type batch struct {
	td    ptrace.Traces
	spans ptrace.SpanSlice
	now   time.Time
}

var spanSeq uint64

func newBatch(service string, now time.Time) *batch {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	rs.Resource().Attributes().PutStr("service.instance.id", service+"-1")
	return &batch{td: td, spans: rs.ScopeSpans().AppendEmpty().Spans(), now: now}
}

func (b *batch) at(d time.Duration) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(b.now.Add(d))
}

func (b *batch) span(name string, end pcommon.Timestamp, attrs map[string]any) ptrace.Span {
	spanSeq++
	s := b.spans.AppendEmpty()
	s.SetName(name)
	var id [8]byte
	for i := range id {
		id[i] = byte(spanSeq >> (8 * i))
	}
	s.SetTraceID(pcommon.TraceID{0xba, 0xd0, id[0], id[1], id[2], id[3]})
	s.SetSpanID(id)
	s.SetStartTimestamp(end)
	s.SetEndTimestamp(end)
	_ = s.Attributes().FromRaw(attrs)
	return s
}

// taskMove adds a task transition span (Tasker's planned task.state_transition).
func (b *batch) taskMove(task, ns, from, to string, end pcommon.Timestamp) ptrace.Span {
	return b.span("task.state_transition", end, map[string]any{"task_uuid": task, "namespace": ns,
		"correlation_id": "corr-" + task, "from_state": from, "to_state": to})
}

// stepAttempt adds a worker.step_execution span with its step's transition events from the
// claim to complete, the way today's Tasker sends them; attempt, when not 0, is the claim's
// attempt_number.
func (b *batch) stepAttempt(task, step, ns, handler string, attempt int64) {
	sp := b.span("worker.step_execution", b.at(0), map[string]any{"task_uuid": task, "step_uuid": step,
		"namespace": ns, "step_name": handler})
	stepEvent(sp, step, task, "enqueued", "in_progress", b.at(-300*time.Millisecond), attempt)
	stepEvent(sp, step, task, "in_progress", "enqueued_for_orchestration", b.at(-200*time.Millisecond), 0)
	stepEvent(sp, step, task, "enqueued_for_orchestration", "complete", b.at(-100*time.Millisecond), 0)
}

func stepEvent(span ptrace.Span, step, task, from, to string, at pcommon.Timestamp, attempt int64) {
	e := span.Events().AppendEmpty()
	e.SetName("Step state transition")
	e.SetTimestamp(at)
	_ = e.Attributes().FromRaw(map[string]any{"step_uuid": step, "task_uuid": task, "from_state": from, "to_state": to})
	if attempt != 0 {
		e.Attributes().PutInt("attempt_number", attempt)
	}
}

// sample is one line of the Prometheus text exposition: a tasker_* series and its value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// readMetrics reads the tasker_* samples of a scrape. It parses only what the prometheus
// exporter writes (no escaped quotes in label values).
func readMetrics(path string) ([]sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []sample
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<30)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "tasker_") {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexByte(line, '{'); i >= 0 {
			s.name = line[:i]
			end := strings.LastIndexByte(line, '}')
			for _, kv := range strings.Split(line[i+1:end], `",`) {
				k, v, _ := strings.Cut(kv, `="`)
				s.labels[k] = strings.TrimSuffix(v, `"`)
			}
			rest = line[end+1:]
		} else {
			s.name, rest, _ = strings.Cut(line, " ")
		}
		if f := strings.Fields(rest); len(f) > 0 {
			s.value, _ = strconv.ParseFloat(f[0], 64)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func seriesCount(m []sample) string {
	names := map[string]bool{}
	for _, s := range m {
		names[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s.name, "_bucket"), "_sum"), "_count")] = true
	}
	return fmt.Sprintf("%d tasker samples, %d metrics", len(m), len(names))
}

// labelValues lists the distinct values of labels, each cut to 24 characters (with its
// length when longer).
func labelValues(labels ...string) func(m []sample) string {
	return func(m []sample) string {
		var parts []string
		for _, l := range labels {
			vals := map[string]bool{}
			for _, s := range m {
				if v, ok := s.labels[l]; ok {
					if len(v) > 24 {
						v = fmt.Sprintf("%.24q… (%d bytes)", v, len(v))
					} else {
						v = strconv.Quote(v)
					}
					vals[v] = true
				}
			}
			list := slices.Sorted(func(yield func(string) bool) {
				for v := range vals {
					if !yield(v) {
						return
					}
				}
			})
			if len(list) > 3 {
				list = append(list[:3], fmt.Sprintf("… %d values", len(list)))
			}
			parts = append(parts, l+": "+strings.Join(list, ", "))
		}
		return strings.Join(parts, "; ")
	}
}

// longestDuration is the largest _sum of the duration histograms.
func longestDuration(m []sample) string {
	longest, series := 0.0, ""
	for _, s := range m {
		if strings.HasSuffix(s.name, "duration_seconds_sum") && s.value >= longest {
			longest, series = s.value, s.name
		}
	}
	if series == "" {
		return "no duration recorded"
	}
	return fmt.Sprintf("largest duration sum %.3g s (%s)", longest, series)
}

func stepTransitions(m []sample) string {
	total := 0.0
	for _, s := range m {
		if s.name == "tasker_step_state_transitions_total" {
			total += s.value
		}
	}
	return fmt.Sprintf("tasker_step_state_transitions_total %v", total)
}
