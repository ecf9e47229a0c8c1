package taskerstate // import "github.com/tasker-systems/otelcol-tasker/connector/taskerstate"

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/lightstep/go-expohisto/structure"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/series"
	"github.com/tasker-systems/otelcol-tasker/internal/confcheck"
	"github.com/tasker-systems/otelcol-tasker/internal/engine"
)

// Temporality values of aggregation_temporality.
const (
	TemporalityCumulative = "cumulative"
	TemporalityDelta      = "delta"
)

// defaultBuckets are the explicit histogram bounds in seconds: from a step hand-off
// (milliseconds) to a task waiting on retries and dependencies (hours).
var defaultBuckets = []float64{
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400,
}

// Config is the tasker_state connector's configuration.
type Config struct {
	// The connector's own entity log: attributes, transition_time, max_clock_skew, limits.
	engine.LogConfig `mapstructure:",squash"`
	// How it derives: settle_window, resource_key_attributes, extra_dimensions.
	engine.DeriveConfig `mapstructure:",squash"`
	// FlushInterval is how often metrics are emitted.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	// AggregationTemporality is cumulative (default) or delta.
	AggregationTemporality string `mapstructure:"aggregation_temporality"`
	// SeriesExpiry stops emitting a series that saw nothing for this long; 0 never expires.
	SeriesExpiry time.Duration `mapstructure:"series_expiry"`
	// CardinalityLimit caps the series of each metric; past it, points go to one
	// otel.metric.overflow="true" series per output resource. 0 means unlimited.
	CardinalityLimit int `mapstructure:"cardinality_limit"`
	// Histogram configures the duration histograms.
	Histogram HistogramConfig `mapstructure:"histogram"`
	// Exemplars configures the exemplars attached to points.
	Exemplars ExemplarsConfig `mapstructure:"exemplars"`
	// EntityLog names a tasker_state extension whose entity log a processor upstream feeds
	// and the connector reads, instead of keeping its own: the log's settings and how it
	// derives are then the extension's.
	EntityLog *component.ID `mapstructure:"entity_log"`
	_         struct{}
}

// HistogramConfig chooses explicit buckets (the default) or an exponential histogram.
type HistogramConfig struct {
	Explicit ExplicitHistogramConfig `mapstructure:"explicit"`
	// Exponential, when set, makes the histograms exponential (explicit buckets must then
	// be left unset).
	Exponential *ExponentialHistogramConfig `mapstructure:"exponential"`
	_           struct{}
}

// ExplicitHistogramConfig holds explicit bucket bounds in seconds.
type ExplicitHistogramConfig struct {
	// Buckets are the upper bounds in seconds, strictly increasing; empty means the defaults.
	Buckets []float64 `mapstructure:"buckets"`
	_       struct{}
}

// ExponentialHistogramConfig configures exponential histograms.
type ExponentialHistogramConfig struct {
	// MaxSize is the maximum number of buckets per sign (default 160).
	MaxSize int32 `mapstructure:"max_size"`
	_       struct{}
}

// ExemplarsConfig configures exemplars.
type ExemplarsConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// MaxPerDataPoint is how many exemplars a point keeps; newer ones replace the oldest.
	MaxPerDataPoint int `mapstructure:"max_per_data_point"`
	_               struct{}
}

var (
	_ confmap.Validator   = (*Config)(nil)
	_ confmap.Unmarshaler = (*Config)(nil)
)

// Unmarshal refuses an unknown key with the nearest valid one as a hint, then decodes as
// usual (a list of attribute names may be written as one string; commas separate them).
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	if err := confcheck.CheckKeys(conf, c); err != nil {
		return err
	}
	if err := engine.CheckShared(conf, "connector", true); err != nil {
		return err
	}
	return conf.Unmarshal(c)
}

func createDefaultConfig() *Config {
	return &Config{
		LogConfig:              engine.DefaultLogConfig(),
		DeriveConfig:           engine.DefaultDeriveConfig(),
		FlushInterval:          15 * time.Second,
		AggregationTemporality: TemporalityCumulative,
		SeriesExpiry:           10 * time.Minute,
		CardinalityLimit:       2000,
		Exemplars:              ExemplarsConfig{Enabled: true, MaxPerDataPoint: 5},
	}
}

// seriesConfig is how the series aggregate under this configuration.
func (c *Config) seriesConfig() series.Config {
	sc := series.Config{
		Bounds:           defaultBuckets,
		Delta:            strings.EqualFold(c.AggregationTemporality, TemporalityDelta),
		CardinalityLimit: c.CardinalityLimit,
		Expiry:           int64(c.SeriesExpiry),
	}
	if len(c.Histogram.Explicit.Buckets) > 0 {
		sc.Bounds = c.Histogram.Explicit.Buckets
	}
	if e := c.Histogram.Exponential; e != nil {
		sc.ExpoMaxSize = e.MaxSize
		if sc.ExpoMaxSize == 0 {
			sc.ExpoMaxSize = structure.DefaultMaxSize
		}
	}
	if c.Exemplars.Enabled {
		sc.Exemplars = c.Exemplars.MaxPerDataPoint
	}
	return sc
}

// Validate checks the configuration; each error names the key and the fix.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(c.LogConfig.Check())
	add(c.DeriveConfig.Validate(&c.Limits))
	add(confcheck.Duration("flush_interval", c.FlushInterval, 100*time.Millisecond, 15*time.Second, false))
	add(confcheck.Duration("series_expiry", c.SeriesExpiry, time.Second, 10*time.Minute, true))
	switch strings.ToLower(c.AggregationTemporality) {
	case TemporalityCumulative, TemporalityDelta:
	default:
		add(fmt.Errorf("aggregation_temporality: unknown value %q; use %q (the default, what the prometheus exporter wants) or %q", c.AggregationTemporality, TemporalityCumulative, TemporalityDelta))
	}
	if c.SeriesExpiry > 0 && c.SeriesExpiry < c.FlushInterval {
		add(fmt.Errorf("series_expiry: %s is shorter than flush_interval %s, so series would expire between flushes; make it several flush intervals, such as 10m", c.SeriesExpiry, c.FlushInterval))
	}
	if c.CardinalityLimit < 0 {
		add(fmt.Errorf("cardinality_limit: must not be negative, got %d; use 0 for no limit, or a limit such as 2000", c.CardinalityLimit))
	}
	add(c.Histogram.validate())
	if c.Exemplars.Enabled && (c.Exemplars.MaxPerDataPoint <= 0 || c.Exemplars.MaxPerDataPoint > maxExemplarsPerPoint) {
		add(fmt.Errorf("exemplars::max_per_data_point: must be between 1 and %d when exemplars are enabled (each point keeps that many), got %d; use a value such as 5, or set exemplars::enabled to false", maxExemplarsPerPoint, c.Exemplars.MaxPerDataPoint))
	}
	return errors.Join(errs...)
}

// maxExemplarsPerPoint bounds exemplars::max_per_data_point: each series keeps that many.
const maxExemplarsPerPoint = 100

func (h *HistogramConfig) validate() error {
	var errs []error
	if h.Exponential != nil {
		if len(h.Explicit.Buckets) > 0 {
			errs = append(errs, errors.New("histogram: both explicit::buckets and exponential are set; keep one of them"))
		}
		if h.Exponential.MaxSize != 0 && (h.Exponential.MaxSize < 2 || h.Exponential.MaxSize > 16384) {
			errs = append(errs, fmt.Errorf("histogram::exponential::max_size: must be between 2 and 16384, got %d; use 160 (the default)", h.Exponential.MaxSize))
		}
	}
	b := h.Explicit.Buckets
	for i, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			errs = append(errs, fmt.Errorf("histogram::explicit::buckets[%d]: bounds are durations in seconds and must be positive finite numbers, got %v", i, v))
		} else if i > 0 && v <= b[i-1] {
			errs = append(errs, fmt.Errorf("histogram::explicit::buckets[%d]: bounds must be strictly increasing, got %v after %v", i, v, b[i-1]))
		}
	}
	return errors.Join(errs...)
}
