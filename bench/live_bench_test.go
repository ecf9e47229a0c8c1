package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate"
)

// The connectors at steady state with live state: 150,000 steps (Tasker's UUID ids, four a
// task, their task's namespace and the worker's handler on each span) that never finish, as
// steps going round retries do, so that tasker_state's log holds all of them for the whole
// run; each batch moves 1,000 of them one transition on. span_metrics gets the same spans;
// its state is its series.

const (
	liveSteps    = 150_000
	liveBatch    = 1000
	stepsPerLive = 4
)

var liveLoop = [][2]string{{"pending", "enqueued"}, {"enqueued", "in_progress"},
	{"in_progress", "enqueued_as_error_for_orchestration"}, {"enqueued_as_error_for_orchestration", "waiting_for_retry"},
	{"waiting_for_retry", "pending"}}

func uuid(kind byte, n int) string {
	return fmt.Sprintf("0193%04x-%04x-7%03x-8000-%012x", n>>16, n&0xffff, kind, n)
}

// liveBatches returns a batch rewritten in place: create(i) makes batch i of the
// population's creations (none → pending), next(round) moves the round's 1,000 steps on.
func liveBatches() (create func(int) ptrace.Traces, next func(int) ptrace.Traces) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "tasker-orchestration")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for range liveBatch {
		s := spans.AppendEmpty()
		s.SetName("step.state_transition")
	}
	fill := func(first int, move func(step int) [2]string, at time.Time) ptrace.Traces {
		for i := range spans.Len() {
			step := (first + i) % liveSteps
			s := spans.At(i)
			s.SetTraceID(pcommon.TraceID{byte(step >> 16), byte(step >> 8), byte(step), 1})
			s.SetSpanID(pcommon.SpanID{byte(i >> 8), byte(i), 2})
			end := at.Add(time.Duration(i) * time.Microsecond)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-time.Millisecond)))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
			a := s.Attributes()
			a.Clear()
			m := move(step)
			a.PutStr("from_state", m[0])
			a.PutStr("to_state", m[1])
			a.PutStr("step_uuid", uuid(0x5, step))
			a.PutStr("task_uuid", uuid(0xa, step/stepsPerLive))
			a.PutStr("namespace", fmt.Sprintf("ns%d", step%7))
			a.PutStr("step_name", fmt.Sprintf("handler%d", step%11))
		}
		return td
	}
	create = func(batch int) ptrace.Traces {
		return fill(batch*liveBatch, func(int) [2]string { return [2]string{"none", "pending"} }, benchBase)
	}
	next = func(round int) ptrace.Traces {
		first := round * liveBatch
		lap := first / liveSteps
		return fill(first, func(step int) [2]string {
			l := lap
			if step < first%liveSteps {
				l++
			}
			return liveLoop[l%len(liveLoop)]
		}, benchBase.Add(time.Duration(round+1)*time.Second))
	}
	return create, next
}

// runLive prefills the population (not timed, settled), then feeds one batch a round with
// the collector's clock advancing a second a round and a flush every 15 rounds (1,000
// spans/s at a 15 s flush, the flush timed too), GC included.
func runLive(b *testing.B, f connector.Factory, cfg component.Config) {
	clock := clockwork.NewFakeClockAt(benchBase.Add(time.Hour))
	ctx := clockwork.AddToContext(context.Background(), clock)
	sink := &signalSink{ch: make(chan struct{}, 1)}
	c, err := f.CreateTracesToMetrics(ctx, connectortest.NewNopSettings(f.Type()), cfg, sink)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		b.Fatal(err)
	}
	// A flush hands on metrics only when it has points (tasker_state's first ones come once
	// transitions have settled): wait for it, up to a bound.
	flush := func() {
		clock.Advance(flushInterval)
		select {
		case <-sink.ch:
		case <-time.After(5 * time.Second):
		}
	}
	create, next := liveBatches()
	for i := range liveSteps / liveBatch {
		if err := c.ConsumeTraces(context.Background(), create(i)); err != nil {
			b.Fatal(err)
		}
	}
	flush()
	flush()
	flush() // the population has settled
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		td := next(i)
		b.StartTimer()
		if err := c.ConsumeTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
		if (i+1)%15 == 0 {
			flush()
		} else {
			clock.Advance(time.Second)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*liveBatch), "ns/span")
	go func() {
		for range sink.ch {
		}
	}()
	if err := c.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	close(sink.ch)
}

// BenchmarkConnectorsLive: both connectors with 150,000 live steps. tasker_state's byte
// budget is raised so that nothing is evicted (its default bounds the log well below).
func BenchmarkConnectorsLive(b *testing.B) {
	b.Run("tasker_state", func(b *testing.B) {
		f := taskerstate.NewFactory()
		cfg := f.CreateDefaultConfig().(*taskerstate.Config)
		cfg.Limits.MaxMemory = 1 << 30
		runLive(b, f, cfg)
	})
	b.Run("span_metrics", func(b *testing.B) {
		f := spanmetricsconnector.NewFactory()
		cfg := f.CreateDefaultConfig().(*spanmetricsconnector.Config)
		cfg.MetricsFlushInterval = flushInterval
		cfg.Dimensions = []spanmetricsconnector.Dimension{{Name: "namespace"}, {Name: "from_state"}, {Name: "to_state"}}
		cfg.Exemplars.Enabled = true
		cfg.SeriesExpiration = 10 * time.Minute
		cfg.AggregationCardinalityLimit = 2000
		runLive(b, f, cfg)
	})
}
