package taskerstate

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.yaml.in/yaml/v3"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/metadata"
	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/series"
	"github.com/tasker-systems/otelcol-tasker/internal/engine"
	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg, confmap.Validate(cfg)
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	assert.Equal(t, transition.DefaultKeys(), cfg.Attributes)
	assert.Equal(t, transition.TimeEnd, cfg.TransitionTime)
	assert.Equal(t, 30*time.Second, cfg.SettleWindow)
	assert.Equal(t, time.Second, cfg.MaxClockSkew)
	assert.Equal(t, statelog.DefaultLimits(), cfg.Limits)
	assert.Equal(t, 15*time.Second, cfg.FlushInterval)
	assert.Equal(t, TemporalityCumulative, cfg.AggregationTemporality)
	assert.Equal(t, 10*time.Minute, cfg.SeriesExpiry)
	assert.Equal(t, 2000, cfg.CardinalityLimit)
	assert.Equal(t, ExemplarsConfig{Enabled: true, MaxPerDataPoint: 5}, cfg.Exemplars)
	assert.Equal(t, []string{"service.name"}, cfg.ResourceKeyAttributes)
	assert.Empty(t, cfg.ExtraDimensions)
	assert.Nil(t, cfg.Histogram.Exponential)
	// Defaults span a step hand-off (milliseconds) to a task waiting for hours.
	sc := cfg.seriesConfig()
	b := sc.Bounds
	assert.Equal(t, 0.005, b[0])
	assert.Equal(t, 14400.0, b[len(b)-1])
	assert.False(t, sc.Delta)
	assert.Equal(t, 5, sc.Exemplars)
}

func TestConfigFull(t *testing.T) {
	cfg, err := loadConfig(t, "full")
	require.NoError(t, err)
	keys := transition.DefaultKeys()
	keys.TaskID = []string{"task_uuid", "task.id"}
	keys.Namespace = []string{"namespace", "tasker.namespace"}
	values := transition.DefaultValueLimits()
	values.MaxNameBytes = 64
	want := &Config{
		LogConfig: engine.LogConfig{
			Attributes:     keys,
			TransitionTime: transition.TimeStart,
			MaxClockSkew:   2 * time.Second,
			Limits: statelog.Limits{
				MaxEntities: 1000, MaxMemory: 96 << 20, MaxTransitionsPerEntity: 64, IdleTTL: 3 * time.Hour, FinishedGrace: 10 * time.Minute,
				MaxDuration: 240 * time.Hour, Values: values,
			},
			CheckpointInterval: 30 * time.Second,
		},
		DeriveConfig: engine.DeriveConfig{
			SettleWindow:          45 * time.Second,
			ResourceKeyAttributes: []string{"service.name", "deployment.environment"},
			ExtraDimensions:       []string{"correlation_id"},
		},
		FlushInterval:          30 * time.Second,
		AggregationTemporality: TemporalityDelta,
		SeriesExpiry:           20 * time.Minute,
		CardinalityLimit:       500,
		Histogram:              HistogramConfig{Explicit: ExplicitHistogramConfig{Buckets: []float64{0.1, 1, 10, 100}}},
		Exemplars:              ExemplarsConfig{Enabled: false, MaxPerDataPoint: 3},
	}
	assert.Equal(t, want, cfg)
	sc := cfg.seriesConfig()
	assert.True(t, sc.Delta)
	assert.Equal(t, []float64{0.1, 1, 10, 100}, sc.Bounds)
	assert.Zero(t, sc.Exemplars)
}

func TestConfigExponential(t *testing.T) {
	cfg, err := loadConfig(t, "exponential")
	require.NoError(t, err)
	require.NotNil(t, cfg.Histogram.Exponential)
	assert.Equal(t, int32(80), cfg.Histogram.Exponential.MaxSize)
}

func TestConfigInvalid(t *testing.T) {
	for name, want := range map[string]string{
		"bad_temporality":    `aggregation_temporality: unknown value "sometimes"`,
		"bad_buckets":        "histogram::explicit::buckets[1]: bounds must be strictly increasing",
		"both_histograms":    "histogram: both explicit::buckets and exponential are set",
		"bad_flush":          "flush_interval: must be a positive duration",
		"short_expiry":       "series_expiry: 5s is shorter than flush_interval 15s",
		"empty_keys":         "attributes::task_id: the list of attribute keys is empty",
		"bad_limits":         "limits::max_entities: must be at least 2",
		"reserved_dimension": `extra_dimensions[0]: "namespace" would be the label "namespace", which the metrics already have`,
		"bad_exemplars":      "exemplars::max_per_data_point: must be between 1 and 100",
		// A number without a unit is nanoseconds in YAML.
		"unitless_settle_window":           "settle_window: 30ns is under its floor of 100ms; a number without a unit is read as nanoseconds: write the unit, such as 30s",
		"unitless_idle_ttl":                "limits::idle_ttl: 7.2µs is under its floor of 1m0s",
		"unitless_idle_ttl_millis":         "limits::idle_ttl: 7.2ms is under its floor of 1m0s; a number without a unit is read as nanoseconds: write the unit, such as 2h0m0s",
		"unitless_flush_interval":          "flush_interval: 15ns is under its floor of 100ms",
		"grace_over_idle_ttl":              "limits::finished_grace: 2h0m0s is longer than limits::idle_ttl 1h0m0s",
		"idle_ttl_within_settle_window":    "limits::idle_ttl: 10s is not longer than settle_window 30s",
		"grace_within_settle_window":       "limits::finished_grace: 1m0s is shorter than settle_window 2m0s",
		"no_resource_keys":                 "resource_key_attributes: empty",
		"dimension_becomes_reserved_label": `extra_dimensions[0]: "from.state" would be the label "from_state"`,
		"dimension_le":                     `extra_dimensions[0]: "le" would be the label "le"`,
		"too_many_exemplars":               "exemplars::max_per_data_point: must be between 1 and 100 when exemplars are enabled (each point keeps that many), got 100000000",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(t, name)
			require.Error(t, err)
			// Once: the collector's validation walks the embedded configurations too.
			assert.Equal(t, 1, strings.Count(err.Error(), want), "want %q exactly once in:\n%v", want, err)
		})
	}
}

// TestReservedDimensionsAreTheMetricsAttributes: the shared check of extra_dimensions (in
// internal/engine, used by the connector and the tasker_state extension) refuses exactly the
// attribute names the metrics carry, and the overflow attribute.
func TestReservedDimensionsAreTheMetricsAttributes(t *testing.T) {
	assert.ElementsMatch(t, series.ReservedAttrs(), engine.MetricAttrs)
	assert.Equal(t, series.OverflowKey, engine.OverflowAttr)
	for _, a := range append(series.ReservedAttrs(), series.OverflowKey) {
		assert.Error(t, engine.CheckDimensions("extra_dimensions", []string{a}), a)
	}
}

// TestConfigErrorsOnce: a bad value of the entity log's keys (embedded from engine.LogConfig),
// of how it derives (engine.DeriveConfig) and of the connector's own is reported once, under
// the user's key path, though the collector's validation walks every embedded struct.
func TestConfigErrorsOnce(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Limits.MaxMemory = 1000
	cfg.TransitionTime = "middle"
	cfg.SettleWindow = 30
	cfg.ExtraDimensions = []string{"handler_name"}
	cfg.FlushInterval = 0
	err := confmap.Validate(cfg)
	require.Error(t, err)
	for _, want := range []string{
		"limits::max_memory: must be at least 1MiB, got 1000B; set a budget such as 128MiB",
		`transition_time: unknown value "middle"`,
		"settle_window: 30ns is under its floor of 100ms",
		`extra_dimensions[0]: "handler_name" would be the label "handler_name"`,
		"flush_interval: must be a positive duration",
	} {
		assert.Equal(t, 1, strings.Count(err.Error(), want), "want %q exactly once in:\n%v", want, err)
	}
	assert.NotContains(t, err.Error(), "logconfig")
	assert.NotContains(t, err.Error(), "deriveconfig")
}

// TestConfigUnknownKey: a misspelt key is refused with the nearest valid one, at any depth.
func TestConfigUnknownKey(t *testing.T) {
	for in, want := range map[string]string{
		"max_clock_skw: 1s":                 "max_clock_skw: unknown key; did you mean max_clock_skew?",
		"limits: {max_entites: 10}":         "limits::max_entites: unknown key; did you mean limits::max_entities?",
		"limits: {max_memry: 64MiB}":        "limits::max_memory",
		"histogram: {explict: {}}":          "histogram::explict: unknown key; did you mean histogram::explicit?",
		"attributes: {taskid: [task_uuid]}": "attributes::taskid: unknown key; did you mean attributes::task_id?",
		"wholly_unrelated_setting: 1":       "wholly_unrelated_setting: unknown key (the keys are listed in the README)",
	} {
		conf := confFromYAML(t, in)
		err := conf.Unmarshal(NewFactory().CreateDefaultConfig())
		if assert.Error(t, err, in) {
			assert.Contains(t, err.Error(), want, in)
		}
	}
}

// TestConfigKeyListAsString: a list of attribute keys written as one string is that key
// (commas separate several), as the README says.
func TestConfigKeyListAsString(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, confFromYAML(t, "attributes: {task_id: task_uuid, step_id: 'step_uuid,workflow_step_uuid'}").Unmarshal(cfg))
	assert.Equal(t, []string{"task_uuid"}, cfg.Attributes.TaskID)
	assert.Equal(t, []string{"step_uuid", "workflow_step_uuid"}, cfg.Attributes.StepID)
	require.NoError(t, confmap.Validate(cfg))
}

func confFromYAML(t *testing.T, s string) *confmap.Conf {
	t.Helper()
	var raw map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(s), &raw))
	return confmap.NewFromStringMap(raw)
}
