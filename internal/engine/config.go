package engine

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/tasker-systems/otelcol-tasker/internal/confcheck"
	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

// LogConfig is how an entity log is configured: the keys the processor, the connector and
// the tasker_state extension share (each embeds it with `mapstructure:",squash"`).
type LogConfig struct {
	// Attributes names the attribute keys read for each meaning, each a list tried in order.
	Attributes transition.Keys `mapstructure:"attributes"`
	// TransitionTime is the moment a transition span stands for: "end" (default) or "start".
	TransitionTime transition.TimeSource `mapstructure:"transition_time"`
	// MaxClockSkew between Tasker services (orchestration, workers) when ordering one
	// entity's transitions.
	MaxClockSkew time.Duration `mapstructure:"max_clock_skew"`
	// Limits bound the entity log.
	Limits statelog.Limits `mapstructure:"limits"`
	// Storage names a collector storage extension (such as file_storage) that keeps the
	// log's state across restarts; unset, a restart starts empty.
	Storage *component.ID `mapstructure:"storage"`
	// CheckpointInterval is how often the state is written to storage besides at shutdown,
	// so that a crash loses at most what arrived since; 0 writes it at shutdown only.
	CheckpointInterval time.Duration `mapstructure:"checkpoint_interval"`
}

// DefaultLogConfig is the default of every component.
func DefaultLogConfig() LogConfig {
	return LogConfig{
		Attributes:         transition.DefaultKeys(),
		TransitionTime:     transition.TimeEnd,
		MaxClockSkew:       time.Second,
		Limits:             statelog.DefaultLimits(),
		CheckpointInterval: 30 * time.Second,
	}
}

// Check checks every key and says how to fix what is wrong. It is not named Validate on
// purpose: LogConfig is embedded in each component's Config, whose Validate calls Check, and
// the collector's validation walks every field that is a confmap.Validator, so a Validate
// here would report each error a second time, under the field's name ("logconfig: ...")
// rather than the user's key path.
func (c *LogConfig) Check() error {
	return errors.Join(
		c.Attributes.Validate("attributes"),
		c.TransitionTime.Validate("transition_time"),
		c.Limits.Validate("limits"),
		confcheck.Duration("max_clock_skew", c.MaxClockSkew, time.Millisecond, time.Second, true),
		confcheck.Duration("checkpoint_interval", c.CheckpointInterval, time.Second, 30*time.Second, true))
}

// DeriveConfig is what a deriving log needs besides: the connector's and the extension's.
type DeriveConfig struct {
	// SettleWindow: facts are derived from a transition only this long after its arrival.
	SettleWindow time.Duration `mapstructure:"settle_window"`
	// ResourceKeyAttributes are the input resource attributes the output resource keeps;
	// together they are the resource part of a series' identity.
	ResourceKeyAttributes []string `mapstructure:"resource_key_attributes"`
	// ExtraDimensions are further metric attributes, opted in by name (e.g. correlation_id),
	// looked up on the transition's carrier, then its resource. They stay under the
	// cardinality limit.
	ExtraDimensions []string `mapstructure:"extra_dimensions"`
}

// DefaultDeriveConfig is the connector's and the extension's default.
func DefaultDeriveConfig() DeriveConfig {
	return DeriveConfig{SettleWindow: 30 * time.Second, ResourceKeyAttributes: []string{"service.name"}}
}

// Validate checks the keys against each other and the log's limits, and refuses an extra
// dimension that would become a label the metrics already have (CheckDimensions).
func (c *DeriveConfig) Validate(limits *statelog.Limits) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(confcheck.Duration("settle_window", c.SettleWindow, 100*time.Millisecond, 30*time.Second, true))
	// An entity leaves the log (and is settled at once) after idle_ttl, or finished_grace
	// after it finished: a transition arriving later, still within the settle window of its
	// neighbours, would start a new log and miss its facts.
	if c.SettleWindow > 0 && limits.IdleTTL > 0 && limits.IdleTTL <= c.SettleWindow {
		add(fmt.Errorf("limits::idle_ttl: %s is not longer than settle_window %s, so entities would leave the log before their transitions settle; raise limits::idle_ttl (default %s) or shorten settle_window", limits.IdleTTL, c.SettleWindow, statelog.DefaultLimits().IdleTTL))
	}
	if c.SettleWindow > 0 && limits.FinishedGrace > 0 && limits.FinishedGrace < c.SettleWindow {
		add(fmt.Errorf("limits::finished_grace: %s is shorter than settle_window %s, so a finished entity would leave the log before a late transition of it settles; raise limits::finished_grace (default %s) or shorten settle_window", limits.FinishedGrace, c.SettleWindow, statelog.DefaultLimits().FinishedGrace))
	}
	if len(c.ResourceKeyAttributes) == 0 {
		add(errors.New("resource_key_attributes: empty, so the metrics would have no resource attributes (the prometheus exporter makes job of service.name); name at least one, such as [service.name]"))
	}
	add(validateNames("resource_key_attributes", c.ResourceKeyAttributes))
	add(validateNames("extra_dimensions", c.ExtraDimensions))
	add(CheckDimensions("extra_dimensions", c.ExtraDimensions))
	return errors.Join(errs...)
}

func validateNames(key string, names []string) error {
	var errs []error
	seen := map[string]bool{}
	for i, n := range names {
		switch {
		case strings.TrimSpace(n) == "":
			errs = append(errs, fmt.Errorf("%s[%d]: attribute name is empty; remove it or name an attribute", key, i))
		case seen[n]:
			errs = append(errs, fmt.Errorf("%s[%d]: %q is listed twice; remove one", key, i, n))
		}
		seen[n] = true
	}
	return errors.Join(errs...)
}

// NewConfig is the engine configuration of a log and, for a deriving one, its deriving part.
func NewConfig(l *LogConfig, d *DeriveConfig) Config {
	c := Config{Attributes: l.Attributes, TransitionTime: l.TransitionTime, MaxClockSkew: l.MaxClockSkew, Limits: l.Limits}
	if d != nil {
		c.SettleWindow, c.ResourceKeys, c.ExtraDims = d.SettleWindow, d.ResourceKeyAttributes, d.ExtraDimensions
	}
	return c
}

// logKeys and deriveKeys are the keys of LogConfig and DeriveConfig.
var (
	logKeys    = []string{"attributes", "transition_time", "max_clock_skew", "limits", "storage", "checkpoint_interval"}
	deriveKeys = []string{"settle_window", "resource_key_attributes", "extra_dimensions"}
)

// CheckShared refuses, in a component whose entity_log names a tasker_state extension, a
// key of the shared log (LogConfig, and DeriveConfig when deriving), naming where it goes.
func CheckShared(conf *confmap.Conf, component string, deriving bool) error {
	if !conf.IsSet("entity_log") {
		return nil
	}
	keys := logKeys
	if deriving {
		keys = append(append([]string(nil), logKeys...), deriveKeys...)
	}
	for _, k := range keys {
		if conf.IsSet(k) {
			return fmt.Errorf("%s: set on the %s, whose entity_log names a tasker_state extension: the shared log's settings are the extension's; move %s to it", k, component, k)
		}
	}
	return nil
}
