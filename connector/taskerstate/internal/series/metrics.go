// Package series is the tasker_state connector's storage of output series: one per metric,
// resource and attribute values, with its value, start time, exemplars and last update,
// bounded by a cardinality limit per metric (past it, one otel.metric.overflow series) and
// an expiry. The metrics themselves are defined here, once (docs/telemetry.md §7).
package series

// Metric is one of the connector's output metrics.
type Metric uint8

const (
	TaskTransitions Metric = iota
	TaskStateDuration
	TaskCompletion
	StepTransitions
	StepAttempts
	StepStateDuration
	Invalid
	TaskInState
	StepInState
	TaskOldestInStateSince
	StepOldestInStateSince
	StepCompletion
	StepAttemptCount
	NumMetrics
)

// Kind is how a metric's points are aggregated.
type Kind uint8

const (
	// Sum: a monotonic count.
	Sum Kind = iota
	// Duration: a histogram of seconds, explicit buckets (configurable) or exponential.
	Duration
	// Count: a histogram of small counts, with fixed explicit buckets.
	Count
	// Gauge: a value set at each flush from the live state; MinOverflow says how the
	// overflow series combines values: the least (a time since), else their sum (a count).
	Gauge
)

// Def describes one metric.
type Def struct {
	Name, Description, Unit string
	Kind                    Kind
	// Attrs are the attribute names, in the order series keep their values.
	Attrs []string
	// IntAttr is the index in Attrs of an attribute emitted as an int, or -1.
	IntAttr int
	// Bounds are a Count histogram's fixed buckets.
	Bounds []float64
	// MinOverflow: a Gauge whose overflow series shows the least value (else the sum).
	MinOverflow bool
	// DoubleGauge: a Gauge of doubles (else of ints).
	DoubleGauge bool
}

var (
	transitionAttrs = []string{"namespace", "from_state", "to_state", "event_name"}
	durationAttrs   = []string{"state", "namespace"}
	liveAttrs       = []string{"namespace", "state"}
	stepOutcome     = []string{"namespace", "handler_name", "outcome"}
)

// Defs are the metrics, by Metric.
var Defs = [NumMetrics]Def{
	TaskTransitions: {
		Name: "tasker.task.state_transitions", Unit: "{transition}", Kind: Sum, IntAttr: -1, Attrs: transitionAttrs,
		Description: "Task state transitions, by namespace, from-state, to-state and event name.",
	},
	TaskStateDuration: {
		Name: "tasker.task.state_duration", Unit: "s", Kind: Duration, IntAttr: -1, Attrs: durationAttrs,
		Description: "Time a task spent in a state, between the transition into it and the one out of it.",
	},
	TaskCompletion: {
		Name: "tasker.task.completion_duration", Unit: "s", Kind: Duration, IntAttr: -1, Attrs: []string{"namespace", "outcome"},
		Description: "Time from a task's start to its first terminal state, by outcome.",
	},
	StepTransitions: {
		Name: "tasker.step.state_transitions", Unit: "{transition}", Kind: Sum, IntAttr: -1, Attrs: transitionAttrs,
		Description: "Workflow step state transitions, by namespace, from-state, to-state and event name.",
	},
	StepAttempts: {
		Name: "tasker.step.attempts", Unit: "{attempt}", Kind: Sum, IntAttr: 3,
		Attrs:       []string{"handler_name", "namespace", "outcome", "attempt_number"},
		Description: "Closed step attempts (a claim into in_progress and the step's next closing transition), by outcome.",
	},
	StepStateDuration: {
		Name: "tasker.step.state_duration", Unit: "s", Kind: Duration, IntAttr: -1, Attrs: durationAttrs,
		Description: "Time a workflow step spent in a state, between the transition into it and the one out of it.",
	},
	Invalid: {
		Name: "tasker.transitions.invalid", Unit: "{transition}", Kind: Sum, IntAttr: -1, Attrs: []string{"entity", "from_state", "to_state"},
		Description: "Transitions that break Tasker's state machines, by entity kind, from-state and to-state.",
	},
	TaskInState: {
		Name: "tasker.task.in_state", Unit: "{task}", Kind: Gauge, IntAttr: -1, Attrs: liveAttrs,
		Description: "Live tasks (no terminal state reached) in each non-terminal state, by namespace.",
	},
	StepInState: {
		Name: "tasker.step.in_state", Unit: "{step}", Kind: Gauge, IntAttr: -1, Attrs: liveAttrs,
		Description: "Live workflow steps (no terminal state reached, their task not ended) in each non-terminal state, by namespace.",
	},
	TaskOldestInStateSince: {
		Name: "tasker.task.oldest_in_state_since", Unit: "s", Kind: Gauge, IntAttr: -1, Attrs: liveAttrs, MinOverflow: true, DoubleGauge: true,
		Description: "Unix time at which the longest-waiting live task of the series entered its state (time() minus this is its age).",
	},
	StepOldestInStateSince: {
		Name: "tasker.step.oldest_in_state_since", Unit: "s", Kind: Gauge, IntAttr: -1, Attrs: liveAttrs, MinOverflow: true, DoubleGauge: true,
		Description: "Unix time at which the longest-waiting live workflow step of the series entered its state (time() minus this is its age).",
	},
	StepCompletion: {
		Name: "tasker.step.completion_duration", Unit: "s", Kind: Duration, IntAttr: -1, Attrs: stepOutcome,
		Description: "A workflow step's end-to-end time through all its retries, from its first transition to the one that decided its outcome.",
	},
	StepAttemptCount: {
		Name: "tasker.step.attempt_count", Unit: "{attempt}", Kind: Count, IntAttr: -1, Attrs: stepOutcome,
		Bounds:      []float64{0, 1, 2, 3, 4, 5, 10},
		Description: "How many attempts a workflow step made before its outcome was decided.",
	},
}

// ReservedAttrs are the attribute names the metrics already carry.
func ReservedAttrs() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range Defs {
		for _, a := range d.Attrs {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}
