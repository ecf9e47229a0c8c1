// Package sim is a Tasker simulator: it plans task and step lifecycles the way Tasker's
// orchestration and workers move them, emits them as OpenTelemetry traces in the shapes Tasker
// uses (transition spans, `Step state transition` / `Task state transition` span events, or a
// mix), and computes the ground truth of what the tasker_state connector must derive from them.
//
// The model in this file is written from docs/telemetry.md §1–§3 on purpose and
// does not import the project's internal/ packages: the ground truth must be independent of the
// code under test.
package sim

import "strings"

// Entity kinds, as the tasker_transitions_invalid_total `entity` label spells them.
const (
	KindTask = "task"
	KindStep = "step"
)

// noneState is how Tasker spells "no previous state" in from_state.
const noneState = "none"

var taskTerminal = map[string]bool{
	"complete": true, "error": true, "cancelled": true, "resolved_manually": true,
}

var stepTerminal = map[string]bool{
	"complete": true, "cancelled": true, "resolved_manually": true,
}

// taskMoves is §1's table of allowed task transitions, besides "any non-terminal → one of
// taskFromAnyNonTerminal" and "none → anything".
var taskMoves = map[string][]string{
	"pending":                  {"initializing", "steps_in_process"},
	"initializing":             {"enqueuing_steps", "waiting_for_dependencies"},
	"enqueuing_steps":          {"steps_in_process"},
	"steps_in_process":         {"evaluating_results", "waiting_for_retry"},
	"evaluating_results":       {"enqueuing_steps", "waiting_for_dependencies"},
	"waiting_for_dependencies": {"evaluating_results"},
	"waiting_for_retry":        {"enqueuing_steps"},
}

var taskFromAnyNonTerminal = []string{"complete", "error", "blocked_by_failures", "cancelled", "resolved_manually"}

// stepMoves is §2's table of allowed step transitions, besides "any → complete |
// resolved_manually" and "none → anything".
var stepMoves = map[string][]string{
	"pending":                             {"enqueued", "in_progress", "error", "waiting_for_retry", "cancelled"},
	"enqueued":                            {"in_progress", "error", "waiting_for_retry", "cancelled"},
	"in_progress":                         {"enqueued_for_orchestration", "enqueued_as_error_for_orchestration", "complete", "error", "waiting_for_retry", "cancelled"},
	"enqueued_for_orchestration":          {"complete", "error", "cancelled"},
	"enqueued_as_error_for_orchestration": {"error", "complete", "waiting_for_retry", "cancelled"},
	"waiting_for_retry":                   {"pending", "cancelled"},
	"error":                               {"pending", "cancelled"},
}

var stepFromAny = []string{"complete", "resolved_manually"}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func normState(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// isNone reports whether a from_state means "no previous state".
func isNone(from string) bool { f := normState(from); return f == "" || f == noneState }

// taskValidityState maps the legacy task state in_progress to steps_in_process (§1).
func taskValidityState(s string) string {
	s = normState(s)
	if s == "in_progress" {
		return "steps_in_process"
	}
	return s
}

// Valid reports whether from → to is allowed by the state machine of the given kind.
func Valid(kind, from, to string) bool {
	if isNone(from) {
		return true
	}
	if kind == KindTask {
		f, t := taskValidityState(from), taskValidityState(to)
		if taskTerminal[f] {
			return false
		}
		return contains(taskFromAnyNonTerminal, t) || contains(taskMoves[f], t)
	}
	f, t := normState(from), normState(to)
	return contains(stepFromAny, t) || contains(stepMoves[f], t)
}

// eventRow is one row of §3: "_" as from matches any from-state, none included.
type eventRow struct{ from, to, name string }

var taskEventRows = []eventRow{
	{"pending", "initializing", "task.initialize_requested"},
	{"initializing", "enqueuing_steps", "task.steps_discovery_completed"},
	{"enqueuing_steps", "steps_in_process", "task.steps_enqueued"},
	{"steps_in_process", "evaluating_results", "task.step_results_received"},
	{"_", "waiting_for_dependencies", "task.awaiting_dependencies"},
	{"waiting_for_dependencies", "evaluating_results", "task.dependencies_satisfied"},
	{"_", "waiting_for_retry", "task.retry_backoff_started"},
	{"_", "blocked_by_failures", "task.blocked_by_failures"},
	{"_", "complete", "task.completed"},
	{"_", "error", "task.failed"},
	{"_", "cancelled", "task.cancelled"},
	{"_", "resolved_manually", "task.resolved_manually"},
	{"error", "pending", "task.retry_requested"},
	{"waiting_for_retry", "pending", "task.retry_requested"},
	{"_", "in_progress", "task.started"},
}

var stepEventRows = []eventRow{
	{"pending", "enqueued", "step.enqueue_requested"},
	{"enqueued", "in_progress", "step.execution_requested"},
	{"_", "in_progress", "step.handle"},
	{"_", "enqueued_for_orchestration", "step.enqueued_for_orchestration"},
	{"_", "enqueued_as_error_for_orchestration", "step.enqueued_as_error_for_orchestration"},
	{"_", "waiting_for_retry", "step.retry_requested"},
	{"error", "pending", "step.retry_requested"},
	{"waiting_for_retry", "pending", "step.retry_requested"},
	{"_", "complete", "step.completed"},
	{"_", "error", "step.failed"},
	{"_", "cancelled", "step.cancelled"},
	{"_", "resolved_manually", "step.resolved_manually"},
}

// EventName returns §3's event name of a transition, or "" when no row matches.
func EventName(kind, from, to string) string {
	rows := stepEventRows
	if kind == KindTask {
		rows = taskEventRows
	}
	f, t := normState(from), normState(to)
	for _, r := range rows {
		if (r.from == "_" || r.from == f) && r.to == t {
			return r.name
		}
	}
	return ""
}

// attemptOutcome returns the outcome of an attempt closed by a step transition into to, or ""
// when to does not close an attempt (§7).
func attemptOutcome(to string) string {
	switch normState(to) {
	case "complete":
		return "success"
	case "error", "waiting_for_retry":
		return "error"
	case "cancelled":
		return "cancelled"
	case "resolved_manually":
		return "resolved_manually"
	}
	return ""
}
