package taskerstate // import "github.com/tasker-systems/otelcol-tasker/extension/taskerstate"

import (
	"errors"

	"go.opentelemetry.io/collector/confmap"

	"github.com/tasker-systems/otelcol-tasker/internal/confcheck"
	"github.com/tasker-systems/otelcol-tasker/internal/engine"
)

// Config is the shared entity log's configuration: what the processor and the connector
// configure for a log of their own.
type Config struct {
	// attributes, transition_time, max_clock_skew, limits.
	engine.LogConfig `mapstructure:",squash"`
	// settle_window, resource_key_attributes, extra_dimensions.
	engine.DeriveConfig `mapstructure:",squash"`
	_                   struct{}
}

var (
	_ confmap.Validator   = (*Config)(nil)
	_ confmap.Unmarshaler = (*Config)(nil)
)

// Validate checks every key and says how to fix what is wrong.
func (c *Config) Validate() error {
	return errors.Join(c.LogConfig.Check(), c.DeriveConfig.Validate(&c.Limits))
}

// Unmarshal refuses an unknown key with the nearest valid one as a hint.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	if err := confcheck.CheckKeys(conf, c); err != nil {
		return err
	}
	return conf.Unmarshal(c)
}

func createDefaultConfig() *Config {
	return &Config{LogConfig: engine.DefaultLogConfig(), DeriveConfig: engine.DefaultDeriveConfig()}
}
