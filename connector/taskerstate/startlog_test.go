package taskerstate

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/metadata"
)

// The start-up log states durations with their unit, as they are written in the configuration.
func TestStartLogDurationsHaveUnits(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	set := connectortest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	c, err := NewFactory().CreateTracesToMetrics(context.Background(), set, createDefaultConfig(), consumertest.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Shutdown(context.Background()) }()
	started := logs.FilterMessage("Starting tasker_state connector").All()
	if len(started) != 1 {
		t.Fatalf("%d start-up lines, want 1", len(started))
	}
	fields := started[0].ContextMap()
	for key, want := range map[string]string{"settle_window": "30s", "flush_interval": "15s"} {
		if got := fields[key]; got != want {
			t.Errorf("%s logged as %#v, want %q", key, got, want)
		}
	}
}
