package sim

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Tasker's event names for transitions carried as span events (docs/telemetry.md §4).
const (
	StepEventName = "Step state transition"
	TaskEventName = "Task state transition"
)

// idKey carries a planned span's ids to plannedIDs through the context given to Start.
type idKey struct{}

type plannedSpanIDs struct {
	trace trace.TraceID
	span  trace.SpanID
}

// plannedIDs is an sdktrace.IDGenerator that hands out the ids the plan chose, so that a run
// is reproducible and the ground truth can name every span before it is sent.
type plannedIDs struct{}

func (plannedIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	ids, _ := ctx.Value(idKey{}).(plannedSpanIDs)
	return ids.trace, ids.span
}

func (plannedIDs) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	ids, _ := ctx.Value(idKey{}).(plannedSpanIDs)
	return ids.span
}

// EmitOptions say where and how the plan is sent.
type EmitOptions struct {
	// Endpoint is the OTLP gRPC endpoint, host:port (plaintext).
	Endpoint string
	// WorkerEndpoint, if set, is where the tasker-worker instances send instead, as when
	// Tasker's orchestration and its workers each export to their own collector.
	WorkerEndpoint string
	// Base is the telemetry time of the plan's time 0.
	Base time.Time
	// Start is the wall-clock time the plan's emission schedule counts from.
	Start time.Time
	// BatchTimeout is the SDK batch span processor's export interval.
	BatchTimeout time.Duration
	// Progress, when set, is kept up to date while Emit runs, for a caller that reports it.
	Progress *Progress
}

// Progress counts what Emit has handed to the SDK so far. Other goroutines may read it while
// Emit runs.
type Progress struct {
	SpansSent atomic.Int64
	// TasksStarted counts the tasks with at least one span sent; TasksFinished those with
	// every span sent.
	TasksStarted  atomic.Int64
	TasksFinished atomic.Int64
}

// Stats say what Emit sent.
type Stats struct {
	Spans int
	// Incomplete is set when the context ended before every span was handed to the SDK.
	Incomplete bool
}

type service struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
}

func instanceID(seed uint64, svc string, n int) string {
	return fmt.Sprintf("%s-%d-%x", svc, n, seed&0xffffff)
}

// Emit sends every span of the plan through the OpenTelemetry Go SDK, one tracer provider
// (and OTLP gRPC exporter) per service instance, each span at its scheduled wall time.
func Emit(ctx context.Context, p *Plan, eo EmitOptions) (Stats, error) {
	if eo.BatchTimeout <= 0 {
		eo.BatchTimeout = 200 * time.Millisecond
	}
	services := map[string]*service{}
	get := func(svc string, inst int) (*service, error) {
		key := fmt.Sprintf("%s/%d", svc, inst)
		if s := services[key]; s != nil {
			return s, nil
		}
		endpoint := eo.Endpoint
		if svc == ServiceWorker && eo.WorkerEndpoint != "" {
			endpoint = eo.WorkerEndpoint
		}
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
		if err != nil {
			return nil, fmt.Errorf("OTLP exporter for %s: %w", key, err)
		}
		res := resource.NewWithAttributes(semconv.SchemaURL,
			semconv.ServiceName(svc),
			semconv.ServiceInstanceID(instanceID(p.Opts.Seed, svc, inst)),
			semconv.ServiceVersion("0.1.0-sim"),
			attribute.String("telemetry.sdk.language", "go"),
		)
		limits := sdktrace.NewSpanLimits()
		limits.EventCountLimit = 1024
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithResource(res),
			sdktrace.WithIDGenerator(plannedIDs{}),
			sdktrace.WithSampler(sdktrace.AlwaysSample()),
			sdktrace.WithRawSpanLimits(limits),
			sdktrace.WithBatcher(exp,
				sdktrace.WithBatchTimeout(eo.BatchTimeout),
				sdktrace.WithMaxQueueSize(1<<16),
				sdktrace.WithMaxExportBatchSize(512),
				sdktrace.WithBlocking(),
			),
		)
		s := &service{tp: tp, tracer: tp.Tracer("github.com/tasker-systems/otelcol-tasker/cmd/taskersim")}
		services[key] = s
		return s, nil
	}

	var stats Stats
	var err error
	if eo.Progress == nil {
		eo.Progress = &Progress{}
	}
	unsent := map[*Task]int{} // spans of each task not yet sent
	started := map[*Task]bool{}
	for _, sp := range p.Spans {
		unsent[sp.task]++
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
loop:
	for _, sp := range p.Spans {
		if wait := time.Until(eo.Start.Add(sp.EmitAt)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				stats.Incomplete = true
				break loop
			case <-timer.C:
			}
		}
		svc, gerr := get(sp.Service, sp.Instance)
		if gerr != nil {
			err = gerr
			break
		}
		base := eo.Base
		if sp.Service == ServiceWorker {
			base = base.Add(p.Opts.WorkerSkew) // the worker's clock
		}
		sendSpan(svc.tracer, sp, base)
		stats.Spans++
		eo.Progress.SpansSent.Add(1)
		if !started[sp.task] {
			started[sp.task] = true
			eo.Progress.TasksStarted.Add(1)
		}
		if unsent[sp.task]--; unsent[sp.task] == 0 {
			eo.Progress.TasksFinished.Add(1)
		}
	}
	// Flush and stop every provider, even after a cancellation, with a bounded wait.
	fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for key, s := range services {
		if ferr := s.tp.ForceFlush(fctx); ferr != nil {
			err = errors.Join(err, fmt.Errorf("flush %s: %w", key, ferr))
		}
		if serr := s.tp.Shutdown(fctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("shutdown %s: %w", key, serr))
		}
	}
	return stats, err
}

func sendSpan(tracer trace.Tracer, sp *Span, base time.Time) {
	ctx := context.WithValue(context.Background(), idKey{}, plannedSpanIDs{trace: sp.TraceID, span: sp.SpanID})
	if sp.ParentID != ([8]byte{}) {
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: sp.TraceID, SpanID: sp.ParentID, TraceFlags: trace.FlagsSampled, Remote: true,
		}))
	}
	kind := trace.SpanKindInternal
	if sp.Name == "worker.step_execution" {
		kind = trace.SpanKindConsumer
	}
	attrs := sp.Attrs
	_, span := tracer.Start(ctx, sp.Name,
		trace.WithTimestamp(base.Add(sp.Start)),
		trace.WithAttributes(attrs...),
		trace.WithSpanKind(kind),
	)
	for _, ev := range sp.Events {
		name := StepEventName
		if ev.Kind == KindTask {
			name = TaskEventName
		}
		span.AddEvent(name, trace.WithTimestamp(base.Add(ev.At)), trace.WithAttributes(transitionAttrs(ev, ev.Home)...))
	}
	if sp.Failed {
		span.SetStatus(codes.Error, "step handler failed")
	}
	span.End(trace.WithTimestamp(base.Add(sp.End)))
}
