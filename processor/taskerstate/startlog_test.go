package taskerstate

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tasker-systems/otelcol-tasker/processor/taskerstate/internal/metadata"
)

// The start-up log states durations with their unit, as they are written in the configuration.
func TestStartLogDurationsHaveUnits(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	set := processortest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	p, err := NewFactory().CreateTraces(context.Background(), set, createDefaultConfig(), consumertest.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Shutdown(context.Background()) }()
	started := logs.FilterMessage("Starting tasker_state processor").All()
	if len(started) != 1 {
		t.Fatalf("%d start-up lines, want 1", len(started))
	}
	fields := started[0].ContextMap()
	for key, want := range map[string]string{"idle_ttl": "2h0m0s", "finished_grace": "5m0s"} {
		if got := fields[key]; got != want {
			t.Errorf("%s logged as %#v, want %q", key, got, want)
		}
	}
}
