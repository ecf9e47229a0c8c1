package taskerstate // import "github.com/tasker-systems/otelcol-tasker/processor/taskerstate"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/confmap"

	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

// Config is the tasker_state processor's configuration.
type Config struct {
	// Attributes names the attribute keys read for each meaning, each a list tried in order.
	Attributes transition.Keys `mapstructure:"attributes"`
	// TransitionTime is the moment a transition span stands for: "end" (default) or "start".
	TransitionTime transition.TimeSource `mapstructure:"transition_time"`
	// MaxClockSkew between Tasker services (orchestration, workers) when ordering one
	// entity's transitions.
	MaxClockSkew time.Duration `mapstructure:"max_clock_skew"`
	// Limits bound the entity log.
	Limits statelog.Limits `mapstructure:"limits"`
	_      struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks every key and says how to fix what is wrong.
func (c *Config) Validate() error {
	errs := []error{
		c.Attributes.Validate("attributes"),
		c.TransitionTime.Validate("transition_time"),
		c.Limits.Validate("limits"),
	}
	if c.MaxClockSkew < 0 {
		errs = append(errs, fmt.Errorf("max_clock_skew: must not be negative, got %s; use 0 to trust every clock, or a small duration such as 1s", c.MaxClockSkew))
	}
	errs = append(errs, statelog.CheckUnit("max_clock_skew", c.MaxClockSkew, time.Second))
	return errors.Join(errs...)
}

func createDefaultConfig() *Config {
	return &Config{
		Attributes:     transition.DefaultKeys(),
		TransitionTime: transition.TimeEnd,
		MaxClockSkew:   time.Second,
		Limits:         statelog.DefaultLimits(),
	}
}
