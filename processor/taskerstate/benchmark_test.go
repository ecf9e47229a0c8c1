package taskerstate

import (
	"context"
	"fmt"
	"strings"
	"testing"

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

// transitionSpans returns a function that gives, each round, 1,000 step.state_transition
// spans: five per step (creation, enqueue, a claim, its result and the completion), in time
// order, for steps never seen before. The batch is rewritten in place between rounds (ids
// renewed, stamps removed), so that the benchmark's own garbage does not weigh on the figures.
func transitionSpans() func(round int) ptrace.Traces {
	moves := [][2]string{{"none", "pending"}, {"pending", "enqueued"}, {"enqueued", "in_progress"},
		{"in_progress", "enqueued_for_orchestration"}, {"enqueued_for_orchestration", "complete"}}
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "tasker-orchestration")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := range benchSpans {
		m := moves[i%len(moves)]
		s := spans.AppendEmpty()
		s.SetName("step.state_transition")
		s.SetStartTimestamp(pcommon.Timestamp(1e18 + i*1000))
		s.SetEndTimestamp(pcommon.Timestamp(1e18 + i*1000 + 10))
		a := s.Attributes()
		a.PutStr("from_state", m[0])
		a.PutStr("to_state", m[1])
		a.PutStr("step_uuid", "")
		a.PutStr("task_uuid", "")
		a.PutStr("namespace", "payments")
	}
	return func(round int) ptrace.Traces {
		for i := range benchSpans {
			step := i / len(moves)
			a := spans.At(i).Attributes()
			a.RemoveIf(func(k string, _ pcommon.Value) bool { return strings.HasPrefix(k, "tasker.") })
			a.PutStr("step_uuid", fmt.Sprintf("%08d-step-%04d", round, step))
			a.PutStr("task_uuid", fmt.Sprintf("%08d-task-%04d", round, step/4))
		}
		return td
	}
}

func benchProcess(b *testing.B, make func(round int) ptrace.Traces) {
	ctx := clockwork.AddToContext(context.Background(), clockwork.NewFakeClock())
	p, err := NewFactory().CreateTraces(ctx, processortest.NewNopSettings(metadata.Type), createDefaultConfig(), consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Shutdown(ctx) }()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		td := make(i)
		b.StartTimer()
		if err := p.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchSpans), "ns/span")
}

// BenchmarkOrdinarySpans: the hot path for spans that are neither transitions nor carry a
// Tasker id. Target: 0 allocs per span (allocs/op is per 1,000 spans).
func BenchmarkOrdinarySpans(b *testing.B) {
	td := ordinarySpans()
	benchProcess(b, func(int) ptrace.Traces { return td })
}

// BenchmarkTransitionSpans: 1,000 transition spans a batch. Target: under 1 µs per span.
func BenchmarkTransitionSpans(b *testing.B) {
	benchProcess(b, transitionSpans())
}
