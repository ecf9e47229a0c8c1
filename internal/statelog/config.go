// Package statelog is the entity log both components share (shared/spec/tasker-telemetry.md
// §5): per task or step, its transitions ordered by telemetry time, late arrivals inserted
// where they belong, duplicates recognised, and each derived fact (time in a state, a step
// attempt, a task's completion) produced exactly once. It is bounded in entities, in
// transitions per entity and in time, and counts what it evicts.
package statelog

import (
	"errors"
	"fmt"
	"time"
)

// Limits bounds the log. The zero value is not usable: start from DefaultLimits.
type Limits struct {
	// MaxEntities caps the tasks and steps tracked at once; past it, expired entries go
	// first, then the least recently used.
	MaxEntities int `mapstructure:"max_entities"`
	// MaxTransitionsPerEntity caps one entity's log; an overflowing log drops its oldest
	// settled transitions but keeps its start and any open claim.
	MaxTransitionsPerEntity int `mapstructure:"max_transitions_per_entity"`
	// IdleTTL drops an unfinished entity that has seen nothing for this long (collector
	// clock). Tasker's retry backoff reaches an hour and its staleness sweeps 30–60 min.
	IdleTTL time.Duration `mapstructure:"idle_ttl"`
	// FinishedGrace keeps a finished entity (a terminal task, and its steps with it: a step's
	// error is not terminal) this long, for late and duplicate transitions.
	FinishedGrace time.Duration `mapstructure:"finished_grace"`
	_             struct{}
}

// DefaultLimits suit a production collector in front of a busy Tasker fleet.
func DefaultLimits() Limits {
	return Limits{
		MaxEntities:             200_000,
		MaxTransitionsPerEntity: 512,
		IdleTTL:                 2 * time.Hour,
		FinishedGrace:           5 * time.Minute,
	}
}

// Validate names the key (under prefix) and the fix for each bad value.
func (l *Limits) Validate(prefix string) error {
	var errs []error
	if l.MaxEntities < 2 {
		errs = append(errs, fmt.Errorf("%s::max_entities: must be at least 2 (a step and its task), got %d; set a cap such as %d", prefix, l.MaxEntities, DefaultLimits().MaxEntities))
	}
	if l.MaxTransitionsPerEntity < 4 {
		errs = append(errs, fmt.Errorf("%s::max_transitions_per_entity: must be at least 4, got %d; set a cap such as %d", prefix, l.MaxTransitionsPerEntity, DefaultLimits().MaxTransitionsPerEntity))
	}
	if l.IdleTTL <= 0 {
		errs = append(errs, fmt.Errorf("%s::idle_ttl: must be a positive duration, got %s; set one longer than Tasker's longest retry or dependency wait, such as %s", prefix, l.IdleTTL, DefaultLimits().IdleTTL))
	}
	if l.FinishedGrace <= 0 {
		errs = append(errs, fmt.Errorf("%s::finished_grace: must be a positive duration, got %s; set one longer than your exporters' retries, such as %s", prefix, l.FinishedGrace, DefaultLimits().FinishedGrace))
	}
	errs = append(errs,
		CheckUnit(prefix+"::idle_ttl", l.IdleTTL, DefaultLimits().IdleTTL),
		CheckUnit(prefix+"::finished_grace", l.FinishedGrace, DefaultLimits().FinishedGrace))
	return errors.Join(errs...)
}

// CheckUnit catches a duration written without its unit: YAML's `30` is 30 ns. Every
// duration of these components is at least a millisecond when meant; a positive one under
// that is refused with the hint to write the unit, e.g. example.
func CheckUnit(key string, d, example time.Duration) error {
	if d > 0 && d < time.Millisecond {
		return fmt.Errorf("%s: %s is under a millisecond; a number without a unit is read as nanoseconds: write the unit, such as %s", key, d, example)
	}
	return nil
}

// Timing says when transitions are settled and how much clock skew is tolerated.
type Timing struct {
	// SettleWindow: a transition's facts are derived only this long after its arrival
	// (collector clock), so that its neighbours from the other service have arrived. Zero
	// settles at once (the processor reads the log at pass time).
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
	EvictCapacity                    // max_entities reached, least recently used went
	EvictShutdown                    // dropped at shutdown (the connector settles it first)
	NumEvictReasons
)

var evictReasonNames = [NumEvictReasons]string{"finished", "idle", "capacity", "shutdown"}

func (r EvictReason) String() string { return evictReasonNames[r] }
