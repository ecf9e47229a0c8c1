package taskerstate

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tasker-systems/otelcol-tasker/processor/taskerstate/internal/metadata"
)

const benchSpans = 1000

// ordinarySpans: spans that carry neither a transition nor a Tasker id (HTTP, DB, ...).
func ordinarySpans() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "tasker-worker")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := range benchSpans {
		s := spans.AppendEmpty()
		s.SetName("GET /health")
		s.SetStartTimestamp(pcommon.Timestamp(1e18 + i))
		s.SetEndTimestamp(pcommon.Timestamp(1e18 + i + 1000))
		a := s.Attributes()
		a.PutStr("http.method", "GET")
		a.PutStr("http.route", "/health")
		a.PutInt("http.status_code", 200)
		a.PutStr("net.peer.name", "db")
		ev := s.Events().AppendEmpty()
		ev.SetName("log")
		ev.Attributes().PutStr("message", "ok")
	}
	return td
}

// A round's transitions, per task: five task transitions (creation to completion) and four
// steps of five transitions each (creation, enqueue, a claim, its result, completion): 25
// spans, 40 tasks a batch of 1,000.
var (
	taskMoves = [][2]string{{"none", "pending"}, {"pending", "initializing"}, {"initializing", "enqueuing_steps"},
		{"enqueuing_steps", "steps_in_process"}, {"steps_in_process", "complete"}}
	stepMoves = [][2]string{{"none", "pending"}, {"pending", "enqueued"}, {"enqueued", "in_progress"},
		{"in_progress", "enqueued_for_orchestration"}, {"enqueued_for_orchestration", "complete"}}
)

const stepsPerTask = 4

// transitionSpans returns a function that gives, each round, 1,000 transition spans of
// tasks and steps never seen before, in time order. With withTasks, the tasks' own
// transitions are among them, so tasks and their steps finish and leave the log after the
// grace period; without, only steps (today's Tasker), which never finish and fill the log
// to its cap, so that every new step evicts the least recently used one. The batch is
// rewritten in place between rounds (ids renewed, stamps removed), so that the benchmark's
// own garbage does not weigh on the figures.
func transitionSpans(withTasks bool) func(round int) ptrace.Traces {
	type carrier struct{ task, step int }
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "tasker-orchestration")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	var who []carrier
	add := func(name string, m [2]string, c carrier) {
		s := spans.AppendEmpty()
		s.SetName(name)
		at := 1e18 + len(who)*1000
		s.SetStartTimestamp(pcommon.Timestamp(at))
		s.SetEndTimestamp(pcommon.Timestamp(at + 10))
		a := s.Attributes()
		a.PutStr("from_state", m[0])
		a.PutStr("to_state", m[1])
		if c.step >= 0 {
			a.PutStr("step_uuid", "")
		}
		a.PutStr("task_uuid", "")
		a.PutStr("namespace", "payments")
		who = append(who, c)
	}
	for task := 0; len(who) < benchSpans; task++ {
		for i, m := range taskMoves {
			if withTasks && i < len(taskMoves)-1 {
				add("task.state_transition", m, carrier{task, -1})
			}
		}
		for step := range stepsPerTask {
			for _, m := range stepMoves {
				add("step.state_transition", m, carrier{task, task*stepsPerTask + step})
			}
		}
		if withTasks {
			add("task.state_transition", taskMoves[len(taskMoves)-1], carrier{task, -1})
		}
	}
	return func(round int) ptrace.Traces {
		for i := range spans.Len() {
			c := who[i]
			a := spans.At(i).Attributes()
			a.RemoveIf(func(k string, _ pcommon.Value) bool { return strings.HasPrefix(k, "tasker.") })
			if c.step >= 0 {
				a.PutStr("step_uuid", fmt.Sprintf("%08d-step-%04d", round, c.step))
			}
			a.PutStr("task_uuid", fmt.Sprintf("%08d-task-%04d", round, c.task))
		}
		return td
	}
}

// benchProcess feeds one batch a round; the collector's clock advances a second a round.
func benchProcess(b *testing.B, make func(round int) ptrace.Traces) {
	clock := clockwork.NewFakeClock()
	ctx := clockwork.AddToContext(context.Background(), clock)
	p, err := NewFactory().CreateTraces(ctx, processortest.NewNopSettings(metadata.Type), createDefaultConfig(), consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Shutdown(ctx) }()
	spans := make(0).SpanCount()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		td := make(i)
		clock.Advance(time.Second)
		b.StartTimer()
		if err := p.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
}

// BenchmarkOrdinarySpans: the hot path for spans that are neither transitions nor carry a
// Tasker id. Target: 0 allocs per span (allocs/op is per 1,000 spans).
func BenchmarkOrdinarySpans(b *testing.B) {
	td := ordinarySpans()
	benchProcess(b, func(int) ptrace.Traces { return td })
}

// BenchmarkTransitionSpans: 1,000 transition spans a batch, tasks and steps that finish.
// Target: under 1 µs per span.
func BenchmarkTransitionSpans(b *testing.B) {
	benchProcess(b, transitionSpans(true))
}

// BenchmarkTransitionSpansAtCapacity: steps only, which never finish: the log stays at
// max_entities and every new step evicts one (the worst case, and today's Tasker's).
func BenchmarkTransitionSpansAtCapacity(b *testing.B) {
	benchProcess(b, transitionSpans(false))
}

// liveSteps is the population of BenchmarkTransitionSpansLive: steps that never finish, so
// the log holds all of them for the whole run, as it does for a busy fleet's live work.
const liveSteps = 150_000

// retryLoop is the cycle each live step goes round: a claim that fails and is retried, so
// that it never reaches a terminal state.
var retryLoop = [][2]string{{"pending", "enqueued"}, {"enqueued", "in_progress"},
	{"in_progress", "enqueued_as_error_for_orchestration"}, {"enqueued_as_error_for_orchestration", "waiting_for_retry"},
	{"waiting_for_retry", "pending"}}

// liveStepSpans returns a function that gives, each round, 1,000 step transition spans
// (Tasker's UUID ids, four steps a task, no task transitions) that move the next 1,000 steps
// of the population one step further round the retry loop; round -1 is the population's
// creation (none → pending), a batch at a time.
func liveStepSpans() (create func(batch int) ptrace.Traces, next func(round int) ptrace.Traces) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "tasker-orchestration")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for range benchSpans {
		s := spans.AppendEmpty()
		s.SetName("step.state_transition")
		a := s.Attributes()
		a.PutStr("from_state", "")
		a.PutStr("to_state", "")
		a.PutStr("step_uuid", "")
		a.PutStr("task_uuid", "")
		a.PutStr("namespace", "payments")
	}
	uuid := func(kind byte, n int) string {
		return fmt.Sprintf("0193%04x-%04x-7%03x-8000-%012x", n>>16, n&0xffff, kind, n)
	}
	fill := func(first int, move func(step int) [2]string, at int64) ptrace.Traces {
		for i := range spans.Len() {
			step := (first + i) % liveSteps
			s := spans.At(i)
			s.SetStartTimestamp(pcommon.Timestamp(at + int64(i)*1000))
			s.SetEndTimestamp(pcommon.Timestamp(at + int64(i)*1000 + 10))
			a := s.Attributes()
			a.RemoveIf(func(k string, _ pcommon.Value) bool { return strings.HasPrefix(k, "tasker.") })
			m := move(step)
			a.PutStr("from_state", m[0])
			a.PutStr("to_state", m[1])
			a.PutStr("step_uuid", uuid(0x5, step))
			a.PutStr("task_uuid", uuid(0xa, step/stepsPerTask))
		}
		return td
	}
	const t0 = int64(1e18) // 2001: in the past of any collector clock, as the other benchmarks' spans
	create = func(batch int) ptrace.Traces {
		return fill(batch*benchSpans, func(int) [2]string { return [2]string{"none", "pending"} }, t0)
	}
	next = func(round int) ptrace.Traces {
		first := round * benchSpans
		lap := first / liveSteps // how often the population has gone round
		return fill(first, func(step int) [2]string {
			l := lap
			if step < first%liveSteps {
				l++ // already moved in this lap
			}
			return retryLoop[l%len(retryLoop)]
		}, t0+int64(round+1)*int64(time.Second))
	}
	return create, next
}

// BenchmarkTransitionSpansLive: the processor at steady state with 150,000 live entities
// (steps going round retries, which never finish): each batch moves 1,000 of them one
// transition on, so every span finds its entity among the live ones and its log grows.
// The log's byte budget is raised so that nothing is evicted; GC is included.
// Target: under 1 µs per transition span.
func BenchmarkTransitionSpansLive(b *testing.B) {
	clock := clockwork.NewFakeClock()
	ctx := context.Background()
	cfg := createDefaultConfig()
	cfg.Limits.MaxMemory = 1 << 30
	p, err := newStateProcessor(processortest.NewNopSettings(metadata.Type), cfg, clock)
	if err != nil {
		b.Fatal(err)
	}
	create, next := liveStepSpans()
	for batch := range liveSteps / benchSpans {
		if _, err := p.processTraces(ctx, create(batch)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		td := next(i)
		clock.Advance(time.Second)
		b.StartTimer()
		if _, err := p.processTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchSpans), "ns/span")
	// Every span must have been entered (a span refused, say for an implausible time, would
	// measure the refusal), and the population must have stayed live: every step and its
	// task tracked, none evicted.
	if got, want := p.engine.Entered(), uint64(liveSteps+b.N*benchSpans); got != want {
		b.Fatalf("%d transitions entered, want %d: the benchmark measured refused spans", got, want)
	}
	if n, want := p.engine.Len(), liveSteps+liveSteps/stepsPerTask; n != want {
		b.Fatalf("%d entities tracked, want %d: the benchmark did not keep its live state", n, want)
	}
	b.ReportMetric(float64(p.engine.Bytes())/float64(p.engine.Len()), "B/entity")
}
