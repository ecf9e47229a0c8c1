package transition

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// BenchmarkExtract reads a batch of 1,000 step transition spans (shape 1, the attributes
// Tasker puts on them plus a few of other instrumentation) and reports the cost per span.
func BenchmarkExtract(b *testing.B) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "tasker-worker")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	const n = 1000
	for i := range n {
		s := spans.AppendEmpty()
		s.SetName("step.state_transition")
		s.SetTraceID(traceA)
		s.SetSpanID(spanA)
		s.SetEndTimestamp(at(uint64(1_000_000 + i)))
		a := s.Attributes()
		a.PutStr("step_uuid", fmt.Sprintf("0190c5e2-7a7b-7c3d-9e4f-%012d", i))
		a.PutStr("task_uuid", fmt.Sprintf("0190c5e2-7a7b-7c3d-9e4f-%012d", i/5))
		a.PutStr("namespace", "payments")
		a.PutStr("step_name", "charge_card")
		a.PutStr("from_state", "enqueued")
		a.PutStr("to_state", "in_progress")
		a.PutStr("code.function", "transition")
		a.PutInt("thread.id", 7)
	}
	x := NewExtractor(DefaultKeys(), TimeEnd, DefaultValueLimits())
	var batch Batch
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		batch.Reset()
		x.Extract(td, testNow, &batch)
	}
	if len(batch.Transitions) != n {
		b.Fatalf("%d transitions, want %d", len(batch.Transitions), n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/span")
}
