package transition

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// ValueLimits bounds the values the extractor accepts, so that what the components keep
// (entity logs, learned names, series) and emit (stamps, labels) is bounded in bytes and
// plausible. The components embed it in their `limits` block (`mapstructure:",squash"`).
type ValueLimits struct {
	// MaxIDBytes bounds a task or step id. A transition with a longer id is malformed
	// (ProblemOversizedID); a longer id on an ordinary span is ignored.
	MaxIDBytes int `mapstructure:"max_id_bytes"`
	// MaxNameBytes bounds a namespace, a handler and a service's name and instance id. A
	// longer value is treated as absent (AnomalyOversized...).
	MaxNameBytes int `mapstructure:"max_name_bytes"`
	// MaxCorrelationIDBytes bounds a correlation id. A longer one is treated as absent.
	MaxCorrelationIDBytes int `mapstructure:"max_correlation_id_bytes"`
	// MaxFutureSkew is how far ahead of the collector's clock a transition's timestamp may
	// be. A later one is malformed (ProblemImplausibleTimestamp).
	MaxFutureSkew time.Duration `mapstructure:"max_future_skew"`
	// MaxAttempt is the largest attempt number accepted; outside 1..MaxAttempt the attempt
	// is treated as absent (AnomalyAttemptOutOfRange).
	MaxAttempt int64 `mapstructure:"max_attempt"`
	_          struct{}
}

// EarliestPlausible is the earliest timestamp a transition may have. Tasker did not exist
// before it; an earlier time is a clock that was never set or a field filled in as seconds
// or milliseconds. (A negative time wrapped to uint64 is past 2262: MaxFutureSkew refuses it.)
var EarliestPlausible = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

var earliestPlausible = pcommon.NewTimestampFromTime(EarliestPlausible)

// MaxAttemptLimit is the largest max_attempt: the entity logs keep an attempt in 16 bits.
const MaxAttemptLimit = 1<<16 - 1

// uuidBytes is the length of a UUID in its text form, the shape of every Tasker id.
const uuidBytes = 36

// The largest max_id_bytes, max_correlation_id_bytes and max_name_bytes. An id that is not a
// UUID is kept whole in the entity log for its entity's life, within max_memory, so that one
// id of many kilobytes would take the room of many entities (Tasker's are 36-byte UUIDs; 1 KiB
// leaves room for any other scheme). A name (namespace, handler, service) is kept for the
// log's life in a table of up to 65,536, and is a label of every series it is on.
const (
	MaxIDBytesLimit            = 1 << 10
	MaxCorrelationIDBytesLimit = 1 << 10
	MaxNameBytesLimit          = 4 << 10
)

// The range of max_future_skew: under a second it would refuse the skew between hosts that
// the components tolerate anyway (max_clock_skew, default 1s), and it is then most likely a
// number written without its unit (YAML's 600 is 600 ns); past a day, a wrong clock would
// skew every duration derived from it by more than Tasker's own timescales.
const (
	minFutureSkew = time.Second
	maxFutureSkew = 24 * time.Hour
)

// DefaultValueLimits fits any real Tasker deployment with room to spare: its ids are UUIDs
// (36 bytes), its namespaces and handlers short identifiers, its attempts a handful (the
// default max_attempts is 3). Future timestamps come only from clock skew between hosts,
// which NTP keeps to milliseconds; 10 minutes also covers a host that has lost its time
// server for a while.
func DefaultValueLimits() ValueLimits {
	return ValueLimits{
		MaxIDBytes:            128,
		MaxNameBytes:          256,
		MaxCorrelationIDBytes: 128,
		MaxFutureSkew:         10 * time.Minute,
		MaxAttempt:            10_000,
	}
}

// Validate checks every bound. prefix is the config path of the block that embeds the
// limits (e.g. "limits"), so that errors name the full key.
func (l *ValueLimits) Validate(prefix string) error {
	key := func(name string) string { return prefix + "::" + name }
	d := DefaultValueLimits()
	var errs []error
	if l.MaxIDBytes < uuidBytes {
		errs = append(errs, fmt.Errorf("%s: %d is shorter than a UUID (%d bytes), the form of Tasker's ids; set at least %d (default %d)",
			key("max_id_bytes"), l.MaxIDBytes, uuidBytes, uuidBytes, d.MaxIDBytes))
	}
	if l.MaxIDBytes > MaxIDBytesLimit {
		errs = append(errs, fmt.Errorf("%s: must be at most %d, got %d (default %d): an id that is not a UUID is kept whole for its entity's life, within limits::max_memory, so a longer one would take the room of many entities; Tasker's ids are 36-byte UUIDs",
			key("max_id_bytes"), MaxIDBytesLimit, l.MaxIDBytes, d.MaxIDBytes))
	}
	if l.MaxNameBytes < 1 {
		errs = append(errs, fmt.Errorf("%s: must be at least 1 (default %d); every kept value needs a bound",
			key("max_name_bytes"), d.MaxNameBytes))
	}
	if l.MaxNameBytes > MaxNameBytesLimit {
		errs = append(errs, fmt.Errorf("%s: must be at most %d, got %d (default %d): names are kept for the log's life (up to 65,536) and are labels of every series they are on; Tasker's namespaces and handlers are short identifiers",
			key("max_name_bytes"), MaxNameBytesLimit, l.MaxNameBytes, d.MaxNameBytes))
	}
	if l.MaxCorrelationIDBytes < uuidBytes {
		errs = append(errs, fmt.Errorf("%s: %d is shorter than a UUID (%d bytes), the form of Tasker's correlation ids; set at least %d (default %d)",
			key("max_correlation_id_bytes"), l.MaxCorrelationIDBytes, uuidBytes, uuidBytes, d.MaxCorrelationIDBytes))
	}
	if l.MaxCorrelationIDBytes > MaxCorrelationIDBytesLimit {
		errs = append(errs, fmt.Errorf("%s: must be at most %d, got %d (default %d): a correlation id that is not a UUID is kept whole with its task, within limits::max_memory, so a longer one would take the room of many entities; Tasker's are 36-byte UUIDs",
			key("max_correlation_id_bytes"), MaxCorrelationIDBytesLimit, l.MaxCorrelationIDBytes, d.MaxCorrelationIDBytes))
	}
	if l.MaxFutureSkew < minFutureSkew || l.MaxFutureSkew > maxFutureSkew {
		errs = append(errs, fmt.Errorf("%s: %v is outside %v..%v; write a duration with its unit (a bare number is nanoseconds), such as %v (the default)",
			key("max_future_skew"), l.MaxFutureSkew, minFutureSkew, maxFutureSkew, d.MaxFutureSkew))
	}
	if l.MaxAttempt < 1 || l.MaxAttempt > MaxAttemptLimit {
		errs = append(errs, fmt.Errorf("%s: must be between 1 and %d, got %d (default %d); attempts are numbered from 1",
			key("max_attempt"), MaxAttemptLimit, l.MaxAttempt, d.MaxAttempt))
	}
	return errors.Join(errs...)
}
