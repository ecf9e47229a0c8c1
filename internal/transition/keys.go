// Package transition finds Tasker's state transitions in traces (docs/telemetry.md §4):
// spans whose attributes carry from_state/to_state, and span events that do. Both components
// use it, so the rules of where each value is looked up live only here.
package transition

import (
	"errors"
	"fmt"
	"strings"
)

// Keys names, per meaning, the attribute keys tried in order. Look-up is location-major:
// every key of a meaning on the carrier, then on the enclosing span, then on the resource.
type Keys struct {
	FromState     []string `mapstructure:"from_state"`
	ToState       []string `mapstructure:"to_state"`
	TaskID        []string `mapstructure:"task_id"`
	StepID        []string `mapstructure:"step_id"`
	Namespace     []string `mapstructure:"namespace"`
	CorrelationID []string `mapstructure:"correlation_id"`
	Handler       []string `mapstructure:"handler"`
	Attempt       []string `mapstructure:"attempt"`
	_             struct{}
}

// DefaultKeys returns the keys Tasker uses today and those its design plans (§4).
func DefaultKeys() Keys {
	return Keys{
		FromState:     []string{"from_state"},
		ToState:       []string{"to_state"},
		TaskID:        []string{"task_uuid"},
		StepID:        []string{"step_uuid", "workflow_step_uuid"},
		Namespace:     []string{"namespace"},
		CorrelationID: []string{"correlation_id"},
		Handler:       []string{"handler_name", "step_name"},
		Attempt:       []string{"attempt_number", "attempts"},
	}
}

// meaningNames are the config keys of the meanings, in meaning order.
var meaningNames = [numMeanings]string{
	mFrom: "from_state", mTo: "to_state", mTask: "task_id", mStep: "step_id",
	mNamespace: "namespace", mCorrelation: "correlation_id", mHandler: "handler", mAttempt: "attempt",
}

// lists returns the key lists by meaning.
func (k *Keys) lists() [numMeanings][]string {
	return [numMeanings][]string{
		mFrom: k.FromState, mTo: k.ToState, mTask: k.TaskID, mStep: k.StepID,
		mNamespace: k.Namespace, mCorrelation: k.CorrelationID, mHandler: k.Handler, mAttempt: k.Attempt,
	}
}

// Validate checks that every meaning has at least one non-empty key. prefix is the config
// path of the Keys block (e.g. "attributes"), so errors name the full key.
func (k *Keys) Validate(prefix string) error {
	var errs []error
	defaults := DefaultKeys()
	defaultLists := defaults.lists()
	for m, keys := range k.lists() {
		key := prefix + "::" + meaningNames[m]
		if len(keys) == 0 {
			errs = append(errs, fmt.Errorf("%s: the list of attribute keys is empty; name at least one key, e.g. %q, or remove the setting to use the default", key, defaultLists[m][0]))
			continue
		}
		for i, a := range keys {
			if strings.TrimSpace(a) == "" {
				errs = append(errs, fmt.Errorf("%s[%d]: attribute key is empty; remove it or name an attribute key", key, i))
			}
		}
	}
	return errors.Join(errs...)
}

// TimeSource says which timestamp of a transition span is the moment of the transition.
type TimeSource string

const (
	TimeEnd   TimeSource = "end"
	TimeStart TimeSource = "start"
)

// Validate names the key and the accepted values.
func (t TimeSource) Validate(key string) error {
	switch t {
	case TimeEnd, TimeStart:
		return nil
	}
	return fmt.Errorf("%s: unknown value %q; use %q (the span's end time, the default) or %q", key, string(t), TimeEnd, TimeStart)
}
