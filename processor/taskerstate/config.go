package taskerstate // import "github.com/tasker-systems/otelcol-tasker/processor/taskerstate"

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/confmap"

	"github.com/tasker-systems/otelcol-tasker/internal/confcheck"
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
	errs = append(errs, confcheck.Duration("max_clock_skew", c.MaxClockSkew, time.Millisecond, time.Second, true))
	return errors.Join(errs...)
}

var _ confmap.Unmarshaler = (*Config)(nil)

// Unmarshal refuses an unknown key with the nearest valid one as a hint, then decodes as
// usual (a list of attribute keys may be written as one string; commas separate keys).
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	if err := confcheck.CheckKeys(conf, c); err != nil {
		return err
	}
	return conf.Unmarshal(c)
}

func createDefaultConfig() *Config {
	return &Config{
		Attributes:     transition.DefaultKeys(),
		TransitionTime: transition.TimeEnd,
		MaxClockSkew:   time.Second,
		Limits:         statelog.DefaultLimits(),
	}
}
