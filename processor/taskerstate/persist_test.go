package taskerstate

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tasker-systems/otelcol-tasker/internal/persist/persisttest"
	"github.com/tasker-systems/otelcol-tasker/processor/taskerstate/internal/metadata"
)

type storageHost map[component.ID]component.Component

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h }

// stepSpan is one step transition span at t0+ms.
func stepSpan(from, to string, ms int64) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "tasker-orchestration")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetName("step.state_transition")
	s.SetStartTimestamp(ts(time.Duration(ms-1) * time.Millisecond))
	s.SetEndTimestamp(ts(time.Duration(ms) * time.Millisecond))
	s.Attributes().PutStr("step_uuid", "0193a000-0000-7000-8000-000000000001")
	s.Attributes().PutStr("task_uuid", "0193a000-0000-7000-8000-0000000000aa")
	s.Attributes().PutStr("from_state", from)
	s.Attributes().PutStr("to_state", to)
	return td
}

// TestProcessorRestart: with storage, the processor's log outlives a restart: the step's
// time in enqueued, which spans it, is stamped, and its attempt is counted on from before.
func TestProcessorRestart(t *testing.T) {
	store := persisttest.New()
	id := component.MustNewID("file_storage")
	host := storageHost{id: store}
	clock := clockwork.NewFakeClockAt(t0.Add(time.Hour))
	cfg := createDefaultConfig()
	cfg.Storage = &id
	start := func(sink *consumertest.TracesSink) (func(ptrace.Traces), func()) {
		ctx := clockwork.AddToContext(context.Background(), clock)
		set := processortest.NewNopSettings(metadata.Type)
		set.ID = component.NewID(metadata.Type)
		p, err := NewFactory().CreateTraces(ctx, set, cfg, sink)
		require.NoError(t, err)
		require.NoError(t, p.Start(ctx, host))
		return func(td ptrace.Traces) { require.NoError(t, p.ConsumeTraces(ctx, td)) },
			func() { require.NoError(t, p.Shutdown(ctx)) }
	}
	sink1 := new(consumertest.TracesSink)
	send, stop := start(sink1)
	send(stepSpan("none", "pending", 0))
	send(stepSpan("pending", "enqueued", 1000))
	send(stepSpan("enqueued", "in_progress", 1500))
	stop()
	clock.Advance(10 * time.Minute)

	sink2 := new(consumertest.TracesSink)
	send, stop = start(sink2)
	defer stop()
	send(stepSpan("in_progress", "waiting_for_retry", 4000))
	send(stepSpan("waiting_for_retry", "pending", 6000))
	attrs := sink2.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
	dur, ok := attrs.Get(AttrStateDur)
	require.True(t, ok, "the time in in_progress spans the restart")
	assert.InDelta(t, 2.5, dur.Double(), 1e-9)
	attempt, ok := attrs.Get(AttrAttempt)
	require.True(t, ok)
	assert.Equal(t, int64(1), attempt.Int(), "the attempt opened before the restart closes after it")
}
