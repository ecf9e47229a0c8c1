package taskerstate

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/tasker-systems/otelcol-tasker/extension/taskerstate/internal/metadata"
	"github.com/tasker-systems/otelcol-tasker/internal/engine"
)

func load(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg, confmap.Validate(cfg)
}

func TestConfig(t *testing.T) {
	cfg, err := load(t, "")
	require.NoError(t, err)
	assert.Equal(t, createDefaultConfig(), cfg)

	cfg, err = load(t, "custom")
	require.NoError(t, err)
	want := createDefaultConfig()
	want.SettleWindow, want.MaxClockSkew = 45*time.Second, 500*time.Millisecond
	want.Limits.MaxMemory, want.Limits.IdleTTL = 128<<20, 3*time.Hour
	want.ResourceKeyAttributes = []string{"service.name", "deployment.environment"}
	assert.Equal(t, want, cfg)

	_, err = load(t, "bad_settle")
	require.Error(t, err)
	for _, frag := range []string{"settle_window: 30ns is under its floor of 100ms", "limits::idle_ttl: 10s is under its floor of 1m0s"} {
		assert.Equal(t, 1, strings.Count(err.Error(), frag), "want %q exactly once in:\n%v", frag, err)
	}

	err = confmap.NewFromStringMap(map[string]any{"setle_window": "1s"}).Unmarshal(createDefaultConfig())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "setle_window: unknown key; did you mean settle_window?")
}

// TestReservedDimensions: the extension refuses, as the connector does, an extra dimension
// that would become a label the connector's metrics already have or Prometheus reserves: the
// connector derives its metrics from the extension's log, with the extension's dimensions.
func TestReservedDimensions(t *testing.T) {
	_, err := load(t, "reserved_dimensions")
	require.Error(t, err)
	for _, want := range []string{
		`extra_dimensions[1]: "namespace" would be the label "namespace", which the metrics already have or Prometheus reserves`,
		`extra_dimensions[2]: "from.state" would be the label "from_state"`,
		`extra_dimensions[3]: "le" would be the label "le"`,
		`extra_dimensions[4]: "__name__" would be the label "__name__"`,
		`extra_dimensions[5]: "handler_name" would be the label "handler_name"`,
	} {
		assert.Equal(t, 1, strings.Count(err.Error(), want), "want %q exactly once in:\n%v", want, err)
	}
	assert.NotContains(t, err.Error(), "extra_dimensions[0]", "correlation_id is no label of the metrics")
}

// TestConfigErrorsOnce: a bad value of the entity log's keys (embedded from engine.LogConfig)
// or of how it derives (engine.DeriveConfig) is reported once, under the user's key path,
// though the collector's validation walks the embedded structs as well as the Config.
func TestConfigErrorsOnce(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Limits.MaxMemory = 1000
	cfg.SettleWindow = 30
	cfg.ResourceKeyAttributes = nil
	err := confmap.Validate(cfg)
	require.Error(t, err)
	for _, want := range []string{
		"limits::max_memory: must be at least 1MiB, got 1000B; set a budget such as 128MiB",
		"settle_window: 30ns is under its floor of 100ms",
		"resource_key_attributes: empty",
	} {
		assert.Equal(t, 1, strings.Count(err.Error(), want), "want %q exactly once in:\n%v", want, err)
	}
	assert.NotContains(t, err.Error(), "logconfig")
	assert.NotContains(t, err.Error(), "deriveconfig")
}

// The extension hands out one engine, which both stamps and derives, once it has started.
func TestSharedEngine(t *testing.T) {
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), createDefaultConfig())
	require.NoError(t, err)
	p := ext.(engine.Provider)
	_, err = p.SharedEngine()
	require.ErrorContains(t, err, "has not started")
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	e1, err := p.SharedEngine()
	require.NoError(t, err)
	e2, _ := p.SharedEngine()
	assert.Same(t, e1, e2)
	assert.Equal(t, engine.Shared, e1.Mode())
	require.NoError(t, ext.Shutdown(context.Background()))
}
