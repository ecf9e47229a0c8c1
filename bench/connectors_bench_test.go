// Package bench compares the tasker_state connector with contrib's span_metrics connector on
// the same batches of Tasker transition spans. It is its own Go module so that contrib's
// dependencies stay out of the project's go.mod.
package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate"
)

// benchBase is the telemetry time the batches start at.
var benchBase = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	tasksPerBatch = 50
	stepsPerTask  = 3
	// distinct batch shapes in rotation; every iteration also renews the ids (renew), so
	// that no entity is ever seen twice, whatever the flush cadence.
	rotation      = 16
	flushInterval = 15 * time.Second
)

// renew gives a batch's tasks and steps ids never used before (generation gen). Not timed.
func renew(td ptrace.Traces, gen int) {
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		a := spans.At(i).Attributes()
		for _, k := range [...]string{"task_uuid", "step_uuid", "correlation_id"} {
			if v, ok := a.Get(k); ok {
				base := v.Str()
				if j := strings.LastIndexByte(base, '#'); j >= 0 {
					base = base[:j]
				}
				v.SetStr(fmt.Sprintf("%s#%d", base, gen))
			}
		}
	}
}

// batch makes tasksPerBatch tasks as transition spans (shape 1): six task transitions and,
// per step, five step transitions, all with namespace and ids on the span.
func batch(n int) (ptrace.Traces, int) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "tasker-orchestration")
	rs.Resource().Attributes().PutStr("service.instance.id", "orch-1")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	base := benchBase.Add(time.Duration(n) * time.Minute)
	var sid uint64
	add := func(name string, trace int, ms int64, attrs map[string]any) {
		s := spans.AppendEmpty()
		s.SetName(name)
		s.SetTraceID(pcommon.TraceID{byte(n), byte(trace), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14})
		sid++
		s.SetSpanID(pcommon.SpanID{byte(sid >> 8), byte(sid), 1, 2, 3, 4, 5, 6})
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(ms-3) * time.Millisecond)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(ms) * time.Millisecond)))
		_ = s.Attributes().FromRaw(attrs)
	}
	for t := range tasksPerBatch {
		task := fmt.Sprintf("task-%d-%d", n, t)
		ns := fmt.Sprintf("ns%d", t%5)
		tr := func(from, to string, ms int64) {
			add("task.state_transition", t, ms, map[string]any{"task_uuid": task, "namespace": ns,
				"correlation_id": "c-" + task, "from_state": from, "to_state": to})
		}
		tr("none", "pending", 0)
		tr("pending", "initializing", 10)
		tr("initializing", "enqueuing_steps", 20)
		tr("enqueuing_steps", "steps_in_process", 30)
		for s := range stepsPerTask {
			step := fmt.Sprintf("%s-s%d", task, s)
			st := func(from, to string, ms int64) {
				add("step.state_transition", t, ms, map[string]any{"step_uuid": step, "task_uuid": task, "namespace": ns,
					"step_name": fmt.Sprint("handler", s), "from_state": from, "to_state": to})
			}
			st("none", "pending", 25)
			st("pending", "enqueued", 31)
			st("enqueued", "in_progress", 40+int64(s))
			st("in_progress", "enqueued_for_orchestration", 200+int64(t))
			st("enqueued_for_orchestration", "complete", 260+int64(t))
		}
		tr("steps_in_process", "evaluating_results", 300+int64(t))
		tr("evaluating_results", "complete", 320+int64(t))
	}
	return td, spans.Len()
}

// signalSink tells the benchmark when a flush has handed on its metrics.
type signalSink struct{ ch chan struct{} }

func (s *signalSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }
func (s *signalSink) ConsumeMetrics(context.Context, pmetric.Metrics) error {
	s.ch <- struct{}{}
	return nil
}

// run feeds one batch per iteration and then advances the fake clock by one flush
// interval, waiting for that flush: ingestion, aggregation and emission are all measured.
func run(b *testing.B, f connector.Factory, cfg component.Config, batchesPerFlush int) {
	batches := make([]ptrace.Traces, rotation)
	spansPer := 0
	for i := range batches {
		batches[i], spansPer = batch(i)
	}
	// The collector's clock runs after the telemetry (tasker_state refuses transitions far
	// ahead of it as implausible).
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
	// Warm-up, not measured: tasker_state emits only once its first transitions have settled
	// (settle_window 30 s = two flushes).
	for i := range 2 {
		if err := c.ConsumeTraces(context.Background(), batches[i]); err != nil {
			b.Fatal(err)
		}
		clock.Advance(flushInterval)
		select {
		case <-sink.ch:
		case <-time.After(time.Second):
		}
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		td := batches[(i+2)%rotation]
		renew(td, i+2)
		b.StartTimer()
		if err := c.ConsumeTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
		if (i+1)%batchesPerFlush == 0 {
			clock.Advance(flushInterval)
			<-sink.ch
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spansPer), "ns/span")
	go func() {
		for range sink.ch { // the final flush of tasker_state
		}
	}()
	if err := c.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	close(sink.ch)
}

// BenchmarkConnectors runs both connectors on the same batches, flushing after every batch
// (1,050 spans a flush: the flush weighs heavily) and after every 16 batches (16,800 spans a
// 15 s flush, about 1,100 spans/s: closer to a busy collector).
func BenchmarkConnectors(b *testing.B) {
	for _, perFlush := range []int{1, 16} {
		b.Run(fmt.Sprintf("flush_every_%d_batches/tasker_state", perFlush), func(b *testing.B) {
			f := taskerstate.NewFactory()
			run(b, f, f.CreateDefaultConfig(), perFlush)
		})
		b.Run(fmt.Sprintf("flush_every_%d_batches/span_metrics", perFlush), func(b *testing.B) {
			f := spanmetricsconnector.NewFactory()
			cfg := f.CreateDefaultConfig().(*spanmetricsconnector.Config)
			cfg.MetricsFlushInterval = flushInterval
			cfg.Dimensions = []spanmetricsconnector.Dimension{{Name: "namespace"}, {Name: "from_state"}, {Name: "to_state"}}
			cfg.Exemplars.Enabled = true
			cfg.SeriesExpiration = 10 * time.Minute
			cfg.AggregationCardinalityLimit = 2000
			run(b, f, cfg, perFlush)
		})
	}
}
