package taskerstate

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/tasker-systems/otelcol-tasker/processor/taskerstate/internal/metadatatest"
)

func kindReason(kind, reason string) attribute.Set {
	return attribute.NewSet(attribute.String("kind", kind), attribute.String("reason", reason))
}

func kindOnly(kind string) attribute.Set { return attribute.NewSet(attribute.String("kind", kind)) }

// Bad input passes untouched and is counted by reason; duplicates, out-of-order and invalid
// transitions are counted; entities are evicted when their grace period ends.
func TestOwnTelemetry(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	clock := clockwork.NewFakeClock()
	cfg := createDefaultConfig()
	ctx := clockwork.AddToContext(context.Background(), clock)
	p, err := NewFactory().CreateTraces(ctx, metadatatest.NewSettings(tt), cfg, new(consumertest.TracesSink))
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, p.Shutdown(ctx)) }()

	// task-c: none→pending @0, pending→initializing @50ms, initializing→cancelled @1.05s, sent
	// latest first: the two earlier ones arrive after a later one (out of order, 2).
	c := golden[len(golden)-3:]
	for _, batch := range [][]row{{c[2]}, {c[0], c[1]}, {c[1]}} { // the last batch repeats one: duplicate
		td := ptrace.NewTraces()
		spansShape(td, batch)
		require.NoError(t, p.ConsumeTraces(ctx, td))
	}
	td := ptrace.NewTraces()
	spans := resourceSpans(td, false)
	bad := func(name string, attrs map[string]any) {
		s := newSpan(spans, name, "task-x", 10*ms)
		require.NoError(t, s.Attributes().FromRaw(attrs))
	}
	bad("step.state_transition", map[string]any{"from_state": "pending", "to_state": "teleported", "step_uuid": "s1"}) // unknown state
	bad("something", map[string]any{"from_state": "pending", "to_state": "complete"})                                  // no id, no name: unclassified
	bad("task.state_transition", map[string]any{"from_state": "pending", "to_state": "initializing"})                  // a task with no id
	bad("task.state_transition", map[string]any{"from_state": "pending", "to_state": int64(3), "task_uuid": "t"})      // wrong type
	bad("task.state_transition", map[string]any{"from_state": "complete", "to_state": "pending", "task_uuid": "t9"})   // invalid move
	require.NoError(t, p.ConsumeTraces(ctx, td))

	ignore := []metricdatatest.Option{metricdatatest.IgnoreTimestamp()}
	// 3 + 1 (the duplicate) task-c transitions, and the invalid one.
	metadatatest.AssertEqualProcessorTaskerStateTransitions(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: kindOnly("task"), Value: 5},
	}, ignore...)
	metadatatest.AssertEqualProcessorTaskerStateTransitionsDuplicate(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: kindOnly("task"), Value: 1},
	}, ignore...)
	metadatatest.AssertEqualProcessorTaskerStateTransitionsOutOfOrder(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: kindOnly("task"), Value: 2},
	}, ignore...)
	metadatatest.AssertEqualProcessorTaskerStateTransitionsInvalid(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: kindOnly("task"), Value: 1},
	}, ignore...)
	metadatatest.AssertEqualProcessorTaskerStateTransitionsUnrecognised(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: kindReason("step", "unknown_state"), Value: 1},
		{Attributes: kindReason("unknown", "unclassified"), Value: 1},
		{Attributes: kindReason("task", "missing_id"), Value: 1},
		{Attributes: kindReason("unknown", "wrong_type"), Value: 1},
	}, ignore...)
	// task-c and t9 (the invalid move's task) are tracked.
	metadatatest.AssertEqualProcessorTaskerStateTrackedEntities(t, tt, []metricdata.DataPoint[int64]{{Value: 2}}, ignore...)

	// task-c is finished (cancelled): it goes once its grace period has passed; t9 entered
	// pending, so it stays until its idle time-to-live.
	clock.Advance(cfg.Limits.FinishedGrace + time.Second)
	require.NoError(t, p.ConsumeTraces(ctx, ordinarySpans()))
	metadatatest.AssertEqualProcessorTaskerStateEvictions(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: kindReason("task", "finished"), Value: 1},
	}, ignore...)
	clock.Advance(cfg.Limits.IdleTTL)
	require.NoError(t, p.ConsumeTraces(ctx, ordinarySpans()))
	metadatatest.AssertEqualProcessorTaskerStateEvictions(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: kindReason("task", "finished"), Value: 1},
		{Attributes: kindReason("task", "idle"), Value: 1},
	}, ignore...)
	metadatatest.AssertEqualProcessorTaskerStateTrackedEntities(t, tt, []metricdata.DataPoint[int64]{{Value: 0}}, ignore...)
	// Every transition came from one service instance (tasker-orchestration's); idle for the
	// time-to-live too, it leaves the table used for clock-skew decisions.
	metadatatest.AssertEqualProcessorTaskerStateLookupTableEvictions(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("table", "service_instances")), Value: 1},
	}, ignore...)
}

// A stamp never overwrites an attribute already present; the clash is counted.
func TestStampNeverOverwrites(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	ctx := clockwork.AddToContext(context.Background(), clockwork.NewFakeClock())
	sink := new(consumertest.TracesSink)
	p, err := NewFactory().CreateTraces(ctx, metadatatest.NewSettings(tt), createDefaultConfig(), sink)
	require.NoError(t, err)
	td := ptrace.NewTraces()
	spansShape(td, golden[:1])
	s := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	s.Attributes().PutStr("tasker.namespace", "set-upstream")
	require.NoError(t, p.ConsumeTraces(ctx, td))
	got, _ := sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Get("tasker.namespace")
	require.Equal(t, "set-upstream", got.Str())
	metadatatest.AssertEqualProcessorTaskerStateStampClashes(t, tt, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	require.NoError(t, p.Shutdown(ctx))
}
