package taskerstate

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/metadata"
	exttaskerstate "github.com/tasker-systems/otelcol-tasker/extension/taskerstate"
	"github.com/tasker-systems/otelcol-tasker/internal/persist/persisttest"
	proctaskerstate "github.com/tasker-systems/otelcol-tasker/processor/taskerstate"
)

// hostWith is a host whose extensions are the given ones.
type hostWith map[component.ID]component.Component

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h }

// sharedStack is a processor and this connector on one tasker_state extension's entity log,
// as otelcol-config.yaml wires them: spans go through the processor, then to the connector.
type sharedStack struct {
	*harness
	processor consumer.Traces
	spans     *consumertest.TracesSink
	// procTel is the processor's own telemetry (it counts what the extractor found).
	procTel *componenttest.Telemetry
	stop    func() // shuts the stack down, as the collector does: pipelines, then extensions
}

func newSharedStack(t *testing.T) *sharedStack {
	t.Helper()
	return newSharedStackOn(t, clockwork.NewFakeClockAt(clockStart), nil)
}

// newSharedStackOn runs the stack on clock; with store, the extension keeps its state there.
func newSharedStackOn(t *testing.T, clock *clockwork.FakeClock, store *persisttest.Storage) *sharedStack {
	t.Helper()
	ctx := clockwork.AddToContext(context.Background(), clock)
	extID := component.MustNewID("tasker_state")
	ecfg := exttaskerstate.NewFactory().CreateDefaultConfig().(*exttaskerstate.Config)
	host := hostWith{}
	if store != nil {
		ecfg.Storage = &storageID
		host[storageID] = store
	}
	eset := extensiontest.NewNopSettings(extID.Type())
	eset.ID = extID // one name across restarts: its storage is found again
	ext, err := exttaskerstate.NewFactory().Create(ctx, eset, ecfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(ctx, host))
	host[extID] = ext

	pcfg := proctaskerstate.NewFactory().CreateDefaultConfig().(*proctaskerstate.Config)
	pcfg.EntityLog = &extID
	s := &sharedStack{spans: new(consumertest.TracesSink), procTel: componenttest.NewTelemetry()}
	pset := processortest.NewNopSettings(proctaskerstate.NewFactory().Type())
	pset.TelemetrySettings = s.procTel.NewTelemetrySettings()
	s.processor, err = proctaskerstate.NewFactory().CreateTraces(ctx, pset, pcfg, s.spans)
	require.NoError(t, err)
	require.NoError(t, s.processor.(component.Component).Start(ctx, host))

	ccfg := testConfig()
	ccfg.EntityLog = &extID
	h := &harness{t: t, clock: clock, sink: new(consumertest.MetricsSink), flushed: make(chan struct{}, 64), tel: componenttest.NewTelemetry()}
	set := connectortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = h.tel.NewTelemetrySettings()
	c, err := NewFactory().CreateTracesToMetrics(ctx, set, ccfg, h.sink)
	require.NoError(t, err)
	h.c = c.(*taskerState)
	h.c.onFlush = func() { h.flushed <- struct{}{} }
	require.NoError(t, h.c.Start(ctx, host))
	h.started = true
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		require.NoError(t, s.processor.(component.Component).Shutdown(ctx))
		require.NoError(t, h.c.Shutdown(ctx))
		h.started = false
		require.NoError(t, ext.Shutdown(ctx))
	}
	t.Cleanup(func() {
		s.stop()
		require.NoError(t, h.tel.Shutdown(ctx))
		require.NoError(t, s.procTel.Shutdown(ctx))
	})
	s.harness = h
	return s
}

// send passes batches through the processor and on to the connector, as the pipeline does.
func (s *sharedStack) send(batches ...ptrace.Traces) {
	for _, b := range batches {
		require.NoError(s.t, s.processor.ConsumeTraces(context.Background(), b))
		out := s.spans.AllTraces()
		require.NoError(s.t, s.c.ConsumeTraces(context.Background(), out[len(out)-1]))
	}
}

// TestSharedEntityLog: with one log shared through the extension, the metrics are the golden
// ones, in any arrival order, and the processor's spans carry their stamps: each transition
// was found and stored once, by the processor, and the connector read no span itself.
func TestSharedEntityLog(t *testing.T) {
	for seed := uint64(0); seed <= 3; seed++ {
		s := newSharedStack(t)
		batches := goldenBatches()
		if seed > 0 {
			r := rand.New(rand.NewPCG(seed, 11))
			r.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
		}
		s.send(batches...)
		assertGolden(t, flatten(t, s.ticks(4)))
		// The connector entered nothing itself: its own count of transitions is zero, the
		// log's counters (duplicates, evictions, ...) are its to report.
		assert.Equal(t, [3]int64{}, s.c.counts.Recognised)
		stamped := 0
		for _, td := range s.spans.AllTraces() {
			rs := td.ResourceSpans()
			for i := 0; i < rs.Len(); i++ {
				ss := rs.At(i).ScopeSpans()
				for j := 0; j < ss.Len(); j++ {
					sp := ss.At(j).Spans()
					for k := 0; k < sp.Len(); k++ {
						if _, ok := sp.At(k).Attributes().Get("tasker.entity.kind"); ok {
							stamped++
						}
						ev := sp.At(k).Events()
						for e := 0; e < ev.Len(); e++ {
							if _, ok := ev.At(e).Attributes().Get("tasker.entity.kind"); ok {
								stamped++
							}
						}
					}
				}
			}
		}
		// T1 6 and T2 4 task transitions (T1's to "exploded" is no transition); S1 9 and S2 4.
		assert.Equal(t, 6+4+9+4, stamped, "every recognised transition stamped once")
	}
}

// TestSharedRefusesOwnLogSettings: beside entity_log, a setting of the log belongs to the
// extension, and the error says so.
func TestSharedRefusesOwnLogSettings(t *testing.T) {
	err := confFromYAML(t, "entity_log: tasker_state\nsettle_window: 10s").Unmarshal(NewFactory().CreateDefaultConfig())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "settle_window: set on the connector, whose entity_log names a tasker_state extension")
}

// TestSharedNeedsTheExtension: an entity_log naming no extension, or another kind of one,
// fails at start-up with the key and the fix.
func TestSharedNeedsTheExtension(t *testing.T) {
	cfg := testConfig()
	id := component.MustNewID("tasker_state")
	cfg.EntityLog = &id
	c, err := NewFactory().CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = c.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, `entity_log: no extension "tasker_state" in this collector`)
	other := struct {
		component.StartFunc
		component.ShutdownFunc
	}{}
	err = c.Start(context.Background(), hostWith{id: other})
	require.ErrorContains(t, err, "is not a tasker_state extension")
}
