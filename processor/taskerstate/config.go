package taskerstate // import "github.com/tasker-systems/otelcol-tasker/processor/taskerstate"

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/tasker-systems/otelcol-tasker/internal/confcheck"
	"github.com/tasker-systems/otelcol-tasker/internal/engine"
)

// Config is the tasker_state processor's configuration.
type Config struct {
	// The processor's own entity log: attributes, transition_time, max_clock_skew, limits.
	engine.LogConfig `mapstructure:",squash"`
	// EntityLog names a tasker_state extension whose entity log the processor shares with a
	// connector, instead of keeping its own: the log's settings are then the extension's.
	EntityLog *component.ID `mapstructure:"entity_log"`
	_         struct{}
}

var (
	_ confmap.Validator   = (*Config)(nil)
	_ confmap.Unmarshaler = (*Config)(nil)
)

// Validate checks every key and says how to fix what is wrong.
func (c *Config) Validate() error { return c.LogConfig.Check() }

// Unmarshal refuses an unknown key with the nearest valid one as a hint, and a setting of
// the log beside entity_log; then it decodes as usual (a list of attribute keys may be
// written as one string; commas separate keys).
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	if err := confcheck.CheckKeys(conf, c); err != nil {
		return err
	}
	if err := engine.CheckShared(conf, "processor", false); err != nil {
		return err
	}
	return conf.Unmarshal(c)
}

func createDefaultConfig() *Config {
	return &Config{LogConfig: engine.DefaultLogConfig()}
}
