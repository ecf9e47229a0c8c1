// Package statelog is the entity log both components share (docs/telemetry.md §5): per task
// or step, its transitions ordered by telemetry time, late arrivals inserted where they
// belong, duplicates recognised, and each derived fact (time in a state, a step attempt, a
// task's completion, a step's outcome) produced exactly once.
//
// It is built for a busy collector: entities and transitions live in pointer-free slabs
// indexed by integers, so the garbage collector does not scan them; ids are kept as 16
// bytes (a canonical UUID) or in a byte arena; names are interned; every list is intrusive,
// by index; free lists make steady state allocate nothing per entity or transition. It is
// bounded in entities, in bytes, in transitions per entity and in time, and counts what it
// evicts and why.
package statelog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tasker-systems/otelcol-tasker/internal/confcheck"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

// Limits bounds the log. The zero value is not usable: start from DefaultLimits.
type Limits struct {
	// MaxEntities caps the tasks and steps tracked at once.
	MaxEntities int `mapstructure:"max_entities"`
	// MaxMemory caps the bytes the log holds (its slabs, ids, names and tables, counted
	// exactly). Past either cap, finished entities go first, then the least recently
	// used; one whose transitions have not settled goes only as a last resort.
	MaxMemory ByteSize `mapstructure:"max_memory"`
	// MaxTransitionsPerEntity caps one entity's log; an overflowing log drops its oldest
	// settled transitions but keeps its start and any open claim.
	MaxTransitionsPerEntity int `mapstructure:"max_transitions_per_entity"`
	// IdleTTL drops an unfinished entity that has seen nothing for this long (collector
	// clock). Tasker's retry backoff reaches an hour and its staleness sweeps 30–60 min.
	IdleTTL time.Duration `mapstructure:"idle_ttl"`
	// FinishedGrace keeps a finished entity (a terminal task, and its steps with it: a step's
	// error is not terminal) this long, for late and duplicate transitions.
	FinishedGrace time.Duration `mapstructure:"finished_grace"`
	// MaxDuration bounds a derived duration (a time in a state, a task's or a step's
	// completion): a longer one comes from a wrong clock, and is neither stamped nor
	// recorded (counted).
	MaxDuration time.Duration `mapstructure:"max_duration"`
	// Values bound what a transition's values may be (ids, names, timestamps, attempts).
	Values transition.ValueLimits `mapstructure:",squash"`
	_      struct{}
}

// DefaultLimits suit a production collector in front of a busy Tasker fleet: the byte cap
// is what binds under sustained load (docs: sizing in the README).
func DefaultLimits() Limits {
	return Limits{
		MaxEntities:             200_000,
		MaxMemory:               128 << 20,
		MaxTransitionsPerEntity: 512,
		IdleTTL:                 2 * time.Hour,
		FinishedGrace:           5 * time.Minute,
		// Tasker's retries reach hours and a task can wait on its dependencies for days.
		MaxDuration: 7 * 24 * time.Hour,
		Values:      transition.DefaultValueLimits(),
	}
}

// maxPerEntity bounds max_transitions_per_entity: an entity counts its transitions in 16 bits.
const maxPerEntity = 1<<16 - 1

// minMemory is the smallest max_memory accepted: room for a few thousand entities.
const minMemory = 1 << 20

// Validate names the key (under prefix) and the fix for each bad value.
func (l *Limits) Validate(prefix string) error {
	var errs []error
	d := DefaultLimits()
	if l.MaxEntities < 2 {
		errs = append(errs, fmt.Errorf("%s::max_entities: must be at least 2 (a step and its task), got %d; set a cap such as %d", prefix, l.MaxEntities, d.MaxEntities))
	}
	if l.MaxEntities > maxSlab {
		errs = append(errs, fmt.Errorf("%s::max_entities: must be at most %d, got %d; bound the log with max_memory instead", prefix, maxSlab, l.MaxEntities))
	}
	if l.MaxMemory < minMemory {
		errs = append(errs, fmt.Errorf("%s::max_memory: must be at least 1MiB, got %s; set a budget such as %s (a number of bytes, or with a unit: KiB, MiB, GiB)", prefix, l.MaxMemory, d.MaxMemory))
	}
	if l.MaxTransitionsPerEntity < 4 || l.MaxTransitionsPerEntity > maxPerEntity {
		errs = append(errs, fmt.Errorf("%s::max_transitions_per_entity: must be between 4 and %d, got %d; set a cap such as %d", prefix, maxPerEntity, l.MaxTransitionsPerEntity, d.MaxTransitionsPerEntity))
	}
	errs = append(errs,
		confcheck.Duration(prefix+"::idle_ttl", l.IdleTTL, time.Minute, d.IdleTTL, false),
		confcheck.Duration(prefix+"::finished_grace", l.FinishedGrace, time.Second, d.FinishedGrace, false),
		confcheck.Duration(prefix+"::max_duration", l.MaxDuration, time.Minute, d.MaxDuration, false),
		l.Values.Validate(prefix))
	// A finished entity is kept for late and duplicate transitions; kept longer than an
	// unfinished one that sees nothing, it would outlive what idle_ttl promises to bound.
	if l.FinishedGrace > l.IdleTTL && l.IdleTTL > 0 {
		errs = append(errs, fmt.Errorf("%s::finished_grace: %s is longer than %s::idle_ttl %s, so finished entities would be kept longer than idle unfinished ones; shorten finished_grace (default %s) or raise idle_ttl (default %s)", prefix, l.FinishedGrace, prefix, l.IdleTTL, d.FinishedGrace, d.IdleTTL))
	}
	return errors.Join(errs...)
}

// ByteSize is a number of bytes, written in configuration as a plain number or with a unit
// (B, KiB, MiB, GiB; also KB, MB, GB as powers of 1000).
type ByteSize int64

var byteUnits = []struct {
	suffix string
	factor int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1},
}

// UnmarshalText reads "256MiB", "64 MiB", "1GiB" or "1048576".
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.ToLower(strings.TrimSpace(string(text)))
	factor := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, factor = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.factor
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 || n*float64(factor) > 1<<50 {
		return fmt.Errorf("%q is not a size: write a number of bytes, or one with a unit such as 256MiB", string(text))
	}
	*b = ByteSize(n * float64(factor))
	return nil
}

// String writes the size with the largest binary unit that divides it.
func (b ByteSize) String() string {
	switch {
	case b != 0 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b != 0 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b != 0 && b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return fmt.Sprintf("%dB", int64(b))
}

// Timing says when transitions are settled and how much clock skew is tolerated.
type Timing struct {
	// SettleWindow: a transition's facts are derived only this long after its arrival
	// (collector clock), so that its neighbours from the other service have arrived.
	SettleWindow time.Duration
	// MaxClockSkew between services: a transition from another service less than this later
	// may be ordered before one that does not chain.
	MaxClockSkew time.Duration
}

// EvictReason says why an entity left the log.
type EvictReason uint8

const (
	EvictFinished EvictReason = iota // grace period after finishing passed
	EvictIdle                        // idle time-to-live passed
	EvictCapacity                    // max_entities reached: finished ones first, then least recently used
	EvictMemory                      // max_memory reached: likewise
	// EvictUnsettled: a last resort at either cap, an entity whose transitions had not
	// settled. Its facts are derived at once, so metrics that depend on transitions still
	// to come are inexact.
	EvictUnsettled
	EvictShutdown // dropped at shutdown (the connector settles it first)
	NumEvictReasons
)

var evictReasonNames = [NumEvictReasons]string{"finished", "idle", "capacity", "memory", "unsettled", "shutdown"}

func (r EvictReason) String() string { return evictReasonNames[r] }
