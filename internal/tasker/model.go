// Package tasker is the one home of Tasker's state-machine model: the states of tasks and
// workflow steps, which moves are valid, and the event name of each move. Everything here is
// data that reads like docs/telemetry.md §1–§3; the components only look it up.
package tasker

import "strings"

// Kind is the kind of entity a transition belongs to.
type Kind uint8

const (
	KindUnknown Kind = iota
	KindTask
	KindStep
	// NumKinds sizes arrays indexed by Kind (KindUnknown included: problems are counted
	// before the kind is decided).
	NumKinds
)

func (k Kind) String() string {
	switch k {
	case KindTask:
		return "task"
	case KindStep:
		return "step"
	default:
		return "unknown"
	}
}

// State is one state name of either machine. Task and step states share one enumeration
// (several names, such as pending or complete, exist in both); each Machine says which of
// them it knows. A State fits in a byte, which keeps the entity logs small.
type State uint8

const (
	// StateNone is "no previous state": the from-state of an entity's first record,
	// written by Tasker as the string "none" or left empty.
	StateNone State = iota
	Pending
	Initializing
	EnqueuingSteps
	StepsInProcess
	EvaluatingResults
	WaitingForDependencies
	WaitingForRetry
	BlockedByFailures
	Complete
	Error
	Cancelled
	ResolvedManually
	Enqueued
	InProgress
	EnqueuedForOrchestration
	EnqueuedAsErrorForOrchestration
	numStates
	// StateInvalid is returned by ParseState for a string that names no state at all.
	StateInvalid State = 255
)

var stateNames = [numStates]string{
	StateNone:                       "none",
	Pending:                         "pending",
	Initializing:                    "initializing",
	EnqueuingSteps:                  "enqueuing_steps",
	StepsInProcess:                  "steps_in_process",
	EvaluatingResults:               "evaluating_results",
	WaitingForDependencies:          "waiting_for_dependencies",
	WaitingForRetry:                 "waiting_for_retry",
	BlockedByFailures:               "blocked_by_failures",
	Complete:                        "complete",
	Error:                           "error",
	Cancelled:                       "cancelled",
	ResolvedManually:                "resolved_manually",
	Enqueued:                        "enqueued",
	InProgress:                      "in_progress",
	EnqueuedForOrchestration:        "enqueued_for_orchestration",
	EnqueuedAsErrorForOrchestration: "enqueued_as_error_for_orchestration",
}

// String returns the state's name as Tasker writes it.
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "invalid"
}

// maxStateBytes is the longest state string ParseState reads: the longest name
// (enqueued_as_error_for_orchestration, 35 bytes) with room for surrounding spaces. A longer
// string names no state; it is refused before trimming and lowering copy it.
const maxStateBytes = 64

// ParseState reads a state string: compared case-insensitively after trimming; "none" and
// the empty string are StateNone. It does not allocate for Tasker's own lower-case strings,
// nor for a string longer than any state's name.
func ParseState(raw string) State {
	if s, ok := lookupState(raw); ok {
		return s
	}
	if len(raw) > maxStateBytes {
		return StateInvalid
	}
	trimmed := strings.TrimSpace(raw)
	if trimmed == "" {
		return StateNone
	}
	if s, ok := lookupState(strings.ToLower(trimmed)); ok {
		return s
	}
	return StateInvalid
}

func lookupState(s string) (State, bool) {
	switch s {
	case "", "none":
		return StateNone, true
	case "pending":
		return Pending, true
	case "initializing":
		return Initializing, true
	case "enqueuing_steps":
		return EnqueuingSteps, true
	case "steps_in_process":
		return StepsInProcess, true
	case "evaluating_results":
		return EvaluatingResults, true
	case "waiting_for_dependencies":
		return WaitingForDependencies, true
	case "waiting_for_retry":
		return WaitingForRetry, true
	case "blocked_by_failures":
		return BlockedByFailures, true
	case "complete":
		return Complete, true
	case "error":
		return Error, true
	case "cancelled":
		return Cancelled, true
	case "resolved_manually":
		return ResolvedManually, true
	case "enqueued":
		return Enqueued, true
	case "in_progress":
		return InProgress, true
	case "enqueued_for_orchestration":
		return EnqueuedForOrchestration, true
	case "enqueued_as_error_for_orchestration":
		return EnqueuedAsErrorForOrchestration, true
	}
	return StateInvalid, false
}

// Any, as a from-state in a Move or EventRow, matches every from-state, none included.
const Any State = 254

// Move is one allowed transition; From may be Any.
type Move struct{ From, To State }

// EventRow is one row of an event-name table (§3): the first row whose From and To match
// names the event.
type EventRow struct {
	From, To State
	Event    string
}

// StateInfo describes one state of a machine.
type StateInfo struct {
	State    State
	Group    string // task states only: initial, active, waiting, problem, end
	Terminal bool
}

// Machine is one of Tasker's two state machines, as data.
type Machine struct {
	Kind   Kind
	States []StateInfo
	// Moves are the valid transitions besides the two rules every machine has: from none
	// (an entity's first record) anything is valid, and only the machine's own states exist.
	Moves []Move
	// FromTerminal says whether a Move with From Any also leaves terminal states.
	AnyIncludesTerminal bool
	Events              []EventRow
	// Legacy maps strings Tasker used to write to the state they mean for validity,
	// durations and metric attributes; the event-name table still sees them as received.
	Legacy map[State]State

	known     [numStates]bool
	terminal  [numStates]bool
	valid     [numStates][numStates]bool
	canonical [numStates]State // the Legacy map as an array: Canonical is on hot paths
}

// TaskMachine is the task state machine (§1, §3).
var TaskMachine = newMachine(Machine{
	Kind: KindTask,
	States: []StateInfo{
		{Pending, "initial", false},
		{Initializing, "active", false},
		{EnqueuingSteps, "active", false},
		{StepsInProcess, "active", false},
		{EvaluatingResults, "active", false},
		{WaitingForDependencies, "waiting", false},
		{WaitingForRetry, "waiting", false},
		{BlockedByFailures, "problem", false},
		{Complete, "end", true},
		{Error, "end", true},
		{Cancelled, "end", true},
		{ResolvedManually, "end", true},
	},
	Moves: []Move{
		{Pending, Initializing},
		{Pending, StepsInProcess},
		{Initializing, EnqueuingSteps},
		{Initializing, WaitingForDependencies},
		{EnqueuingSteps, StepsInProcess},
		{StepsInProcess, EvaluatingResults},
		{StepsInProcess, WaitingForRetry},
		{EvaluatingResults, EnqueuingSteps},
		{EvaluatingResults, WaitingForDependencies},
		{WaitingForDependencies, EvaluatingResults},
		{WaitingForRetry, EnqueuingSteps},
		// The finalizer and the staleness sweep write these from any non-terminal state.
		{Any, Complete},
		{Any, Error},
		{Any, BlockedByFailures},
		{Any, Cancelled},
		{Any, ResolvedManually},
	},
	AnyIncludesTerminal: false,
	Events: []EventRow{
		{Pending, Initializing, "task.initialize_requested"},
		{Initializing, EnqueuingSteps, "task.steps_discovery_completed"},
		{EnqueuingSteps, StepsInProcess, "task.steps_enqueued"},
		{StepsInProcess, EvaluatingResults, "task.step_results_received"},
		{Any, WaitingForDependencies, "task.awaiting_dependencies"},
		{WaitingForDependencies, EvaluatingResults, "task.dependencies_satisfied"},
		{Any, WaitingForRetry, "task.retry_backoff_started"},
		{Any, BlockedByFailures, "task.blocked_by_failures"},
		{Any, Complete, "task.completed"},
		{Any, Error, "task.failed"},
		{Any, Cancelled, "task.cancelled"},
		{Any, ResolvedManually, "task.resolved_manually"},
		{Error, Pending, "task.retry_requested"},
		{WaitingForRetry, Pending, "task.retry_requested"},
		{Any, InProgress, "task.started"},
	},
	Legacy: map[State]State{InProgress: StepsInProcess},
})

// StepMachine is the workflow-step state machine (§2, §3).
var StepMachine = newMachine(Machine{
	Kind: KindStep,
	States: []StateInfo{
		{Pending, "", false},
		{Enqueued, "", false},
		{InProgress, "", false},
		{EnqueuedForOrchestration, "", false},
		{EnqueuedAsErrorForOrchestration, "", false},
		{WaitingForRetry, "", false},
		{Complete, "", true},
		{Error, "", false}, // an operator may retry a step in error
		{Cancelled, "", true},
		{ResolvedManually, "", true},
	},
	Moves: []Move{
		{Pending, Enqueued}, {Pending, InProgress}, {Pending, Error}, {Pending, WaitingForRetry}, {Pending, Cancelled},
		{Enqueued, InProgress}, {Enqueued, Error}, {Enqueued, WaitingForRetry}, {Enqueued, Cancelled},
		{InProgress, EnqueuedForOrchestration}, {InProgress, EnqueuedAsErrorForOrchestration}, {InProgress, Complete},
		{InProgress, Error}, {InProgress, WaitingForRetry}, {InProgress, Cancelled},
		{EnqueuedForOrchestration, Complete}, {EnqueuedForOrchestration, Error}, {EnqueuedForOrchestration, Cancelled},
		{EnqueuedAsErrorForOrchestration, Error}, {EnqueuedAsErrorForOrchestration, Complete},
		{EnqueuedAsErrorForOrchestration, WaitingForRetry}, {EnqueuedAsErrorForOrchestration, Cancelled},
		{WaitingForRetry, Pending}, {WaitingForRetry, Cancelled},
		{Error, Pending}, {Error, Cancelled},
		// Manual completion and manual resolution, from any state, terminal ones included.
		{Any, Complete},
		{Any, ResolvedManually},
	},
	AnyIncludesTerminal: true,
	Events: []EventRow{
		{Pending, Enqueued, "step.enqueue_requested"},
		{Enqueued, InProgress, "step.execution_requested"},
		{Any, InProgress, "step.handle"},
		{Any, EnqueuedForOrchestration, "step.enqueued_for_orchestration"},
		{Any, EnqueuedAsErrorForOrchestration, "step.enqueued_as_error_for_orchestration"},
		{Any, WaitingForRetry, "step.retry_requested"},
		{Error, Pending, "step.retry_requested"},
		{WaitingForRetry, Pending, "step.retry_requested"},
		{Any, Complete, "step.completed"},
		{Any, Error, "step.failed"},
		{Any, Cancelled, "step.cancelled"},
		{Any, ResolvedManually, "step.resolved_manually"},
	},
})

// WorkflowEvents are the named events Tasker publishes outside the state machines.
var WorkflowEvents = []string{
	"workflow.task_started",
	"workflow.task_completed",
	"workflow.task_failed",
	"workflow.step_completed",
	"workflow.step_failed",
	"workflow.viable_steps_discovered",
	"workflow.no_viable_steps",
	"workflow.orchestration_requested",
}

func newMachine(m Machine) *Machine {
	for s := range numStates {
		m.canonical[s] = s
	}
	for from, to := range m.Legacy {
		m.canonical[from] = to
	}
	for _, si := range m.States {
		m.known[si.State] = true
		m.terminal[si.State] = si.Terminal
	}
	for _, mv := range m.Moves {
		if mv.From != Any {
			m.valid[mv.From][mv.To] = true
			continue
		}
		for from := range numStates {
			if from != StateNone && m.known[from] && (m.AnyIncludesTerminal || !m.terminal[from]) {
				m.valid[from][mv.To] = true
			}
		}
	}
	return &m
}

// MachineOf returns the machine of a kind, or nil for KindUnknown.
func MachineOf(k Kind) *Machine {
	switch k {
	case KindTask:
		return TaskMachine
	case KindStep:
		return StepMachine
	}
	return nil
}

// Canonical returns what a received state means: legacy strings map to the state they
// stand for (a task's in_progress is steps_in_process); all others are themselves.
func (m *Machine) Canonical(s State) State {
	if s < numStates {
		return m.canonical[s]
	}
	return s
}

// Knows reports whether s is a state of this machine, legacy strings and none included.
func (m *Machine) Knows(s State) bool {
	if s == StateNone {
		return true
	}
	if s >= numStates {
		return false
	}
	return m.known[s] || m.canonical[s] != s
}

// Terminal reports whether s (canonicalised) is one of the machine's end states.
func (m *Machine) Terminal(s State) bool {
	s = m.Canonical(s)
	return s < numStates && m.terminal[s]
}

// Valid reports whether the move from → to is allowed. A first record (from none) may
// enter any state; legacy strings are judged by what they mean.
func (m *Machine) Valid(from, to State) bool {
	from, to = m.Canonical(from), m.Canonical(to)
	if from >= numStates || to >= numStates || !m.known[to] {
		return false
	}
	if from == StateNone {
		return true
	}
	return m.valid[from][to]
}

// EventName returns the event name of the move from → to, judged on the states as received
// (first matching row wins), or "" when no row matches.
func (m *Machine) EventName(from, to State) string {
	for _, row := range m.Events {
		if row.To == to && (row.From == Any || row.From == from) {
			return row.Event
		}
	}
	return ""
}

// KindFromStates decides the kind of a transition from its state vocabulary alone: states
// that only one machine has. It returns KindUnknown when both machines (or neither) know
// both states.
func KindFromStates(from, to State) Kind {
	task := TaskMachine.Knows(from) && TaskMachine.Knows(to)
	step := StepMachine.Knows(from) && StepMachine.Knows(to)
	switch {
	case task && !step:
		return KindTask
	case step && !task:
		return KindStep
	}
	return KindUnknown
}
