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

	"github.com/tasker-systems/otelcol-tasker/internal/engine"
	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
	"github.com/tasker-systems/otelcol-tasker/processor/taskerstate/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		name    string
		want    *Config
		wantErr []string // every fragment must appear in the validation error
	}{
		{name: "", want: createDefaultConfig()},
		{name: "custom", want: &Config{LogConfig: engine.LogConfig{
			Attributes: transition.Keys{
				FromState:     []string{"previous_state", "from_state"},
				ToState:       []string{"next_state", "to_state"},
				TaskID:        []string{"task_uuid", "tasker.task_id"},
				StepID:        []string{"step_uuid"},
				Namespace:     []string{"tasker.namespace_name", "namespace"},
				CorrelationID: []string{"correlation_id"},
				Handler:       []string{"handler_name"},
				Attempt:       []string{"attempt_number"},
			},
			TransitionTime: transition.TimeStart,
			MaxClockSkew:   250 * time.Millisecond,
			Limits: statelog.Limits{
				MaxEntities: 5000, MaxMemory: 32 << 20, MaxTransitionsPerEntity: 64, IdleTTL: 3 * time.Hour, FinishedGrace: 10 * time.Minute,
				MaxDuration: 72 * time.Hour,
				Values: transition.ValueLimits{MaxIDBytes: 64, MaxNameBytes: 100, MaxCorrelationIDBytes: 40,
					MaxFutureSkew: 2 * time.Minute, MaxAttempt: 50},
			},
			CheckpointInterval: 30 * time.Second,
		}}},
		{name: "empty_key_list", wantErr: []string{"attributes::to_state", "list of attribute keys is empty", `"to_state"`}},
		{name: "bad_time", wantErr: []string{"transition_time", `"middle"`, `use "end"`}},
		{name: "bad_limits", wantErr: []string{"max_clock_skew", "limits::max_entities", "limits::idle_ttl", "set a cap such as",
			"limits::max_memory: must be at least 1MiB, got 1000B"}},
		// YAML numbers without a unit are nanoseconds.
		{name: "unitless_durations", wantErr: []string{
			"max_clock_skew: 1ns is under its floor of 1ms; a number without a unit is read as nanoseconds: write the unit, such as 1s",
			"limits::finished_grace: 300ns is under its floor of 1s", "such as 5m0s",
			"limits::idle_ttl: 7.2ms is under its floor of 1m0s", "such as 2h0m0s",
		}},
		{name: "grace_over_idle_ttl", wantErr: []string{"limits::finished_grace: 2h0m0s is longer than limits::idle_ttl 1h0m0s", "shorten finished_grace"}},
		// One attribute key may be written as a string; commas separate several.
		{name: "key_lists_as_strings", want: func() *Config {
			c := createDefaultConfig()
			c.Attributes.TaskID = []string{"task_uuid"}
			c.Attributes.StepID = []string{"step_uuid", "workflow_step_uuid"}
			return c
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(component.NewIDWithName(metadata.Type, tt.name).String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, frag := range tt.wantErr {
					// Once: the collector's validation walks the embedded LogConfig too.
					assert.Equal(t, 1, strings.Count(err.Error(), frag), "want %q exactly once in:\n%v", frag, err)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

// TestConfigErrorsOnce: a bad value of the entity log's keys (embedded from engine.LogConfig)
// is reported once, under the user's key path, though the collector's validation walks the
// embedded struct as well as the processor's Config.
func TestConfigErrorsOnce(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Limits.MaxMemory = 1000
	cfg.Attributes.TaskID = nil
	cfg.MaxClockSkew = -time.Second
	err := confmap.Validate(cfg)
	require.Error(t, err)
	for _, want := range []string{
		"limits::max_memory: must be at least 1MiB, got 1000B; set a budget such as 128MiB",
		"attributes::task_id: the list of attribute keys is empty",
		"max_clock_skew: must not be negative",
	} {
		assert.Equal(t, 1, strings.Count(err.Error(), want), "want %q exactly once in:\n%v", want, err)
	}
	assert.NotContains(t, err.Error(), "logconfig")
}

func TestDefaultConfigIsValid(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, confmap.Validate(cfg))
	c := cfg.(*Config)
	// Tasker's retry backoff reaches an hour and its staleness sweeps take 30-60 min (§5).
	assert.GreaterOrEqual(t, c.Limits.IdleTTL, 2*time.Hour)
	assert.Equal(t, transition.TimeEnd, c.TransitionTime)
}

// TestUnknownKey: a misspelt key is refused with the nearest valid one, at any depth.
func TestUnknownKey(t *testing.T) {
	for raw, want := range map[string]string{
		"max_clock_skw":        "max_clock_skw: unknown key; did you mean max_clock_skew?",
		"limits::idle_tl":      "limits::idle_tl: unknown key; did you mean limits::idle_ttl?",
		"attributes::handlr":   "attributes::handlr: unknown key; did you mean attributes::handler?",
		"transition_tme":       "transition_tme: unknown key; did you mean transition_time?",
		"completely_different": "completely_different: unknown key (the keys are listed in the README)",
	} {
		conf := confmap.NewFromStringMap(map[string]any{})
		require.NoError(t, conf.Merge(confmap.NewFromStringMap(nest(raw, "1s"))))
		err := conf.Unmarshal(createDefaultConfig())
		if assert.Error(t, err, raw) {
			assert.Contains(t, err.Error(), want)
		}
	}
}

// nest turns "a::b" and a value into {a: {b: value}}.
func nest(key string, v any) map[string]any {
	parts := strings.Split(key, "::")
	out := map[string]any{parts[len(parts)-1]: v}
	for i := len(parts) - 2; i >= 0; i-- {
		out = map[string]any{parts[i]: out}
	}
	return out
}
