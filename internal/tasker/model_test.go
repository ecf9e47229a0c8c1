package tasker

import (
	"strings"
	"testing"
)

// The tables in this file are written from docs/telemetry.md §1–§3, not from model.go: the
// tests check the code against the contract's text, never against its own tables.

// taskStates is §1's state table: state string → terminal.
var taskStates = map[string]bool{
	"pending":                  false,
	"initializing":             false,
	"enqueuing_steps":          false,
	"steps_in_process":         false,
	"evaluating_results":       false,
	"waiting_for_dependencies": false,
	"waiting_for_retry":        false,
	"blocked_by_failures":      false,
	"complete":                 true,
	"error":                    true,
	"cancelled":                true,
	"resolved_manually":        true,
}

// taskGroups is the "group" column of §1.
var taskGroups = map[string]string{
	"pending":                  "initial",
	"initializing":             "active",
	"enqueuing_steps":          "active",
	"steps_in_process":         "active",
	"evaluating_results":       "active",
	"waiting_for_dependencies": "waiting",
	"waiting_for_retry":        "waiting",
	"blocked_by_failures":      "problem",
	"complete":                 "end",
	"error":                    "end",
	"cancelled":                "end",
	"resolved_manually":        "end",
}

// stepStates is §2's state table: state string → terminal. A step's error is NOT terminal.
var stepStates = map[string]bool{
	"pending":                             false,
	"enqueued":                            false,
	"in_progress":                         false,
	"enqueued_for_orchestration":          false,
	"enqueued_as_error_for_orchestration": false,
	"waiting_for_retry":                   false,
	"complete":                            true,
	"error":                               false,
	"cancelled":                           true,
	"resolved_manually":                   true,
}

// taskExplicit is the explicit block of §1's allowed-transition table.
var taskExplicit = map[string][]string{
	"pending":                  {"initializing", "steps_in_process", "in_progress"},
	"initializing":             {"enqueuing_steps", "waiting_for_dependencies"},
	"enqueuing_steps":          {"steps_in_process"},
	"steps_in_process":         {"evaluating_results", "waiting_for_retry"},
	"evaluating_results":       {"enqueuing_steps", "waiting_for_dependencies"},
	"waiting_for_dependencies": {"evaluating_results"},
	"waiting_for_retry":        {"enqueuing_steps"},
}

// taskFromAnyNonTerminal: "any non-terminal | complete, error, blocked_by_failures, cancelled,
// resolved_manually".
var taskFromAnyNonTerminal = []string{"complete", "error", "blocked_by_failures", "cancelled", "resolved_manually"}

// stepExplicit is the explicit block of §2's allowed-transition table.
var stepExplicit = map[string][]string{
	"pending":                             {"enqueued", "in_progress", "error", "waiting_for_retry", "cancelled"},
	"enqueued":                            {"in_progress", "error", "waiting_for_retry", "cancelled"},
	"in_progress":                         {"enqueued_for_orchestration", "enqueued_as_error_for_orchestration", "complete", "error", "waiting_for_retry", "cancelled"},
	"enqueued_for_orchestration":          {"complete", "error", "cancelled"},
	"enqueued_as_error_for_orchestration": {"error", "complete", "waiting_for_retry", "cancelled"},
	"waiting_for_retry":                   {"pending", "cancelled"},
	"error":                               {"pending", "cancelled"},
}

// stepFromAnyState: "any state, terminal ones included | complete (manual completion),
// resolved_manually".
var stepFromAnyState = []string{"complete", "resolved_manually"}

// specRow is one row of a §3 event-name table; from "_" matches any from-state, none included.
type specRow struct{ from, to, event string }

// taskEventRows is §3's task table, rows 1–15, in order.
var taskEventRows = []specRow{
	{"pending", "initializing", "task.initialize_requested"},                          // 1
	{"initializing", "enqueuing_steps", "task.steps_discovery_completed"},             // 2
	{"enqueuing_steps", "steps_in_process", "task.steps_enqueued"},                    // 3
	{"steps_in_process", "evaluating_results", "task.step_results_received"},          // 4
	{"_", "waiting_for_dependencies", "task.awaiting_dependencies"},                   // 5
	{"waiting_for_dependencies", "evaluating_results", "task.dependencies_satisfied"}, // 6
	{"_", "waiting_for_retry", "task.retry_backoff_started"},                          // 7
	{"_", "blocked_by_failures", "task.blocked_by_failures"},                          // 8
	{"_", "complete", "task.completed"},                                               // 9
	{"_", "error", "task.failed"},                                                     // 10
	{"_", "cancelled", "task.cancelled"},                                              // 11
	{"_", "resolved_manually", "task.resolved_manually"},                              // 12
	{"error", "pending", "task.retry_requested"},                                      // 13
	{"waiting_for_retry", "pending", "task.retry_requested"},                          // 14
	{"_", "in_progress", "task.started"},                                              // 15
}

// stepEventRows is §3's step table, rows 1–12, in order.
var stepEventRows = []specRow{
	{"pending", "enqueued", "step.enqueue_requested"},                                        // 1
	{"enqueued", "in_progress", "step.execution_requested"},                                  // 2
	{"_", "in_progress", "step.handle"},                                                      // 3
	{"_", "enqueued_for_orchestration", "step.enqueued_for_orchestration"},                   // 4
	{"_", "enqueued_as_error_for_orchestration", "step.enqueued_as_error_for_orchestration"}, // 5
	{"_", "waiting_for_retry", "step.retry_requested"},                                       // 6
	{"error", "pending", "step.retry_requested"},                                             // 7
	{"waiting_for_retry", "pending", "step.retry_requested"},                                 // 8
	{"_", "complete", "step.completed"},                                                      // 9
	{"_", "error", "step.failed"},                                                            // 10
	{"_", "cancelled", "step.cancelled"},                                                     // 11
	{"_", "resolved_manually", "step.resolved_manually"},                                     // 12
}

func mustParse(t *testing.T, s string) State {
	t.Helper()
	st := ParseState(s)
	if st == StateInvalid {
		t.Fatalf("ParseState(%q) = invalid; docs/telemetry.md §1–§2 names this state", s)
	}
	return st
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// specTaskValid is §1 read literally: from none anything; nothing leaves a terminal state;
// the explicit block; any non-terminal to the five end/problem states. The legacy
// in_progress means steps_in_process for validity.
func specTaskValid(from, to string) bool {
	canon := func(s string) string {
		if s == "in_progress" {
			return "steps_in_process"
		}
		return s
	}
	if _, ok := taskStates[canon(to)]; !ok {
		return false
	}
	if from == "none" {
		return true
	}
	cf := canon(from)
	term, ok := taskStates[cf]
	if !ok || term {
		return false
	}
	if contains(taskExplicit[cf], to) || contains(taskExplicit[cf], canon(to)) {
		return true
	}
	return contains(taskFromAnyNonTerminal, canon(to))
}

// specStepValid is §2 read literally.
func specStepValid(from, to string) bool {
	if _, ok := stepStates[to]; !ok {
		return false
	}
	if from == "none" {
		return true
	}
	if _, ok := stepStates[from]; !ok {
		return false
	}
	return contains(stepExplicit[from], to) || contains(stepFromAnyState, to)
}

func specEvent(rows []specRow, from, to string) string {
	for _, r := range rows {
		if r.to == to && (r.from == "_" || r.from == from) {
			return r.event
		}
	}
	return ""
}

// allNames is every state string of both machines plus "none".
func allNames() []string {
	seen := map[string]bool{"none": true}
	out := []string{"none"}
	for _, m := range []map[string]bool{taskStates, stepStates} {
		for s := range m {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

func TestStateNamesRoundTrip(t *testing.T) {
	for _, s := range allNames() {
		st := mustParse(t, s)
		if st.String() != s {
			t.Errorf("ParseState(%q).String() = %q", s, st.String())
		}
	}
	if StateInvalid.String() != "invalid" {
		t.Errorf("StateInvalid.String() = %q", StateInvalid.String())
	}
}

func TestParseState(t *testing.T) {
	cases := []struct {
		in   string
		want State
	}{
		{"pending", Pending},
		{"PENDING", Pending},
		{"  Pending  ", Pending},
		{"\tcomplete\n", Complete},
		{"Enqueued_For_Orchestration", EnqueuedForOrchestration},
		{" IN_PROGRESS", InProgress},
		{"none", StateNone},
		{"NONE", StateNone},
		{" None ", StateNone},
		{"", StateNone},
		{"   ", StateNone},
		{"bogus", StateInvalid},
		{"in progress", StateInvalid},
		{"pending_", StateInvalid},
		{"complete d", StateInvalid},
		{"pending\xff", StateInvalid},
		{"\xffpending", StateInvalid},
		{"PEND\xfeING", StateInvalid},
		{strings.Repeat(" ", 28) + "enqueued_as_error_for_orchestration", EnqueuedAsErrorForOrchestration}, // 63 bytes
		{strings.Repeat(" ", 30) + "enqueued_as_error_for_orchestration", StateInvalid},                    // 65 bytes
	}
	for _, c := range cases {
		if got := ParseState(c.in); got != c.want {
			t.Errorf("ParseState(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestParseStateDoesNotAllocateForLowerCase(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		for _, s := range []string{"pending", "enqueued_for_orchestration", "none", ""} {
			_ = ParseState(s)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseState allocates %v times for Tasker's own strings", allocs)
	}
}

// A state string of any length is read in bounded time and space: a long one names no state
// and is not copied (trimmed or lowered) to find that out.
func TestParseStateRefusesLongStringsWithoutCopying(t *testing.T) {
	huge := strings.Repeat("Pending", 1<<20/7)
	if got := ParseState(huge); got != StateInvalid {
		t.Fatalf("a 1 MiB state string parsed as %v", got)
	}
	if allocs := testing.AllocsPerRun(20, func() { _ = ParseState(huge) }); allocs != 0 {
		t.Errorf("ParseState allocates %v times for a 1 MiB string", allocs)
	}
}

func TestTerminalFlags(t *testing.T) {
	for s, term := range taskStates {
		if got := TaskMachine.Terminal(mustParse(t, s)); got != term {
			t.Errorf("task %s: Terminal = %v, want %v", s, got, term)
		}
	}
	for s, term := range stepStates {
		if got := StepMachine.Terminal(mustParse(t, s)); got != term {
			t.Errorf("step %s: Terminal = %v, want %v", s, got, term)
		}
	}
	// Spelled out: a step's error is not terminal (an operator may retry it), a task's is.
	if StepMachine.Terminal(Error) {
		t.Error("step error must not be terminal")
	}
	if !TaskMachine.Terminal(Error) {
		t.Error("task error must be terminal")
	}
	// The legacy task in_progress is steps_in_process: not terminal.
	if TaskMachine.Terminal(InProgress) {
		t.Error("task in_progress (legacy) must not be terminal")
	}
	if TaskMachine.Terminal(StateNone) || StepMachine.Terminal(StateNone) {
		t.Error("none must not be terminal")
	}
}

func TestMachineStatesAndGroups(t *testing.T) {
	check := func(name string, m *Machine, want map[string]bool) {
		got := map[string]bool{}
		for _, si := range m.States {
			got[si.State.String()] = si.Terminal
		}
		if len(got) != len(want) {
			t.Errorf("%s machine has %d states, docs/telemetry.md has %d", name, len(got), len(want))
		}
		for s, term := range want {
			g, ok := got[s]
			if !ok || g != term {
				t.Errorf("%s state %s: present=%v terminal=%v, want terminal=%v", name, s, ok, g, term)
			}
		}
	}
	check("task", TaskMachine, taskStates)
	check("step", StepMachine, stepStates)
	for _, si := range TaskMachine.States {
		if g := taskGroups[si.State.String()]; si.Group != g {
			t.Errorf("task %s: group %q, want %q", si.State, si.Group, g)
		}
	}
	if TaskMachine.Kind != KindTask || StepMachine.Kind != KindStep {
		t.Error("machine kinds")
	}
	if MachineOf(KindTask) != TaskMachine || MachineOf(KindStep) != StepMachine || MachineOf(KindUnknown) != nil {
		t.Error("MachineOf")
	}
}

func TestKnows(t *testing.T) {
	for _, s := range allNames() {
		st := mustParse(t, s)
		_, task := taskStates[s]
		_, step := stepStates[s]
		task = task || s == "none" || s == "in_progress" // legacy in_progress is accepted on a task (§4)
		step = step || s == "none"
		if got := TaskMachine.Knows(st); got != task {
			t.Errorf("TaskMachine.Knows(%s) = %v, want %v", s, got, task)
		}
		if got := StepMachine.Knows(st); got != step {
			t.Errorf("StepMachine.Knows(%s) = %v, want %v", s, got, step)
		}
	}
	if TaskMachine.Knows(StateInvalid) || StepMachine.Knows(StateInvalid) || TaskMachine.Knows(Any) {
		t.Error("invalid states must be unknown")
	}
}

// TestTaskValidityRows names each row of §1's table with examples, then the full matrix.
func TestTaskValidityRows(t *testing.T) {
	cases := []struct {
		from, to string
		want     bool
	}{
		// pending | initializing, steps_in_process (legacy in_progress)
		{"pending", "initializing", true},
		{"pending", "steps_in_process", true},
		{"pending", "in_progress", true},
		{"pending", "enqueuing_steps", false},
		// initializing | enqueuing_steps, waiting_for_dependencies
		{"initializing", "enqueuing_steps", true},
		{"initializing", "waiting_for_dependencies", true},
		{"initializing", "steps_in_process", false},
		// enqueuing_steps | steps_in_process
		{"enqueuing_steps", "steps_in_process", true},
		{"enqueuing_steps", "in_progress", true}, // legacy judged as steps_in_process
		{"enqueuing_steps", "evaluating_results", false},
		// steps_in_process | evaluating_results, waiting_for_retry
		{"steps_in_process", "evaluating_results", true},
		{"steps_in_process", "waiting_for_retry", true},
		{"in_progress", "evaluating_results", true}, // legacy from-state
		{"in_progress", "waiting_for_retry", true},
		{"steps_in_process", "enqueuing_steps", false},
		// evaluating_results | enqueuing_steps, waiting_for_dependencies
		{"evaluating_results", "enqueuing_steps", true},
		{"evaluating_results", "waiting_for_dependencies", true},
		{"evaluating_results", "steps_in_process", false},
		// waiting_for_dependencies | evaluating_results
		{"waiting_for_dependencies", "evaluating_results", true},
		{"waiting_for_dependencies", "enqueuing_steps", false},
		// waiting_for_retry | enqueuing_steps
		{"waiting_for_retry", "enqueuing_steps", true},
		{"waiting_for_retry", "pending", false},
		// any non-terminal | complete, error, blocked_by_failures, cancelled, resolved_manually
		{"pending", "complete", true},
		{"initializing", "error", true},
		{"waiting_for_dependencies", "blocked_by_failures", true},
		{"blocked_by_failures", "error", true},
		{"blocked_by_failures", "cancelled", true},
		{"waiting_for_retry", "resolved_manually", true},
		{"in_progress", "complete", true},
		// none (first record) | any state
		{"none", "pending", true},
		{"none", "complete", true},
		{"none", "blocked_by_failures", true},
		{"none", "in_progress", true},
		// nothing leaves a terminal state
		{"complete", "pending", false},
		{"complete", "complete", false},
		{"error", "pending", false},
		{"error", "resolved_manually", false},
		{"cancelled", "error", false},
		{"resolved_manually", "complete", false},
		// states of the other machine are not task states
		{"pending", "enqueued", false},
		{"none", "enqueued_for_orchestration", false},
		{"enqueued", "complete", false},
		// nothing enters "none"
		{"pending", "none", false},
		{"none", "none", false},
	}
	for _, c := range cases {
		got := TaskMachine.Valid(ParseState(c.from), ParseState(c.to))
		if got != c.want {
			t.Errorf("task %s → %s: Valid = %v, want %v", c.from, c.to, got, c.want)
		}
		if spec := specTaskValid(c.from, c.to); spec != c.want {
			t.Fatalf("test table disagrees with itself on task %s → %s", c.from, c.to)
		}
	}
}

func TestTaskValidityMatrix(t *testing.T) {
	for _, from := range allNames() {
		for _, to := range allNames() {
			want := specTaskValid(from, to)
			if got := TaskMachine.Valid(mustParse(t, from), mustParse(t, to)); got != want {
				t.Errorf("task %s → %s: Valid = %v, want %v", from, to, got, want)
			}
		}
	}
}

func TestStepValidityRows(t *testing.T) {
	cases := []struct {
		from, to string
		want     bool
	}{
		// pending | enqueued, in_progress, error, waiting_for_retry, cancelled
		{"pending", "enqueued", true},
		{"pending", "in_progress", true},
		{"pending", "error", true},
		{"pending", "waiting_for_retry", true},
		{"pending", "cancelled", true},
		{"pending", "enqueued_for_orchestration", false},
		// enqueued | in_progress, error, waiting_for_retry, cancelled
		{"enqueued", "in_progress", true},
		{"enqueued", "error", true},
		{"enqueued", "waiting_for_retry", true},
		{"enqueued", "cancelled", true},
		{"enqueued", "pending", false},
		// in_progress | efo, eaefo, complete, error, waiting_for_retry, cancelled
		{"in_progress", "enqueued_for_orchestration", true},
		{"in_progress", "enqueued_as_error_for_orchestration", true},
		{"in_progress", "complete", true},
		{"in_progress", "error", true},
		{"in_progress", "waiting_for_retry", true},
		{"in_progress", "cancelled", true},
		{"in_progress", "pending", false},
		{"in_progress", "enqueued", false},
		// enqueued_for_orchestration | complete, error, cancelled
		{"enqueued_for_orchestration", "complete", true},
		{"enqueued_for_orchestration", "error", true},
		{"enqueued_for_orchestration", "cancelled", true},
		{"enqueued_for_orchestration", "waiting_for_retry", false},
		// enqueued_as_error_for_orchestration | error, complete, waiting_for_retry, cancelled
		{"enqueued_as_error_for_orchestration", "error", true},
		{"enqueued_as_error_for_orchestration", "complete", true},
		{"enqueued_as_error_for_orchestration", "waiting_for_retry", true},
		{"enqueued_as_error_for_orchestration", "cancelled", true},
		{"enqueued_as_error_for_orchestration", "pending", false},
		// waiting_for_retry | pending, cancelled
		{"waiting_for_retry", "pending", true},
		{"waiting_for_retry", "cancelled", true},
		{"waiting_for_retry", "enqueued", false},
		// error | pending, cancelled
		{"error", "pending", true},
		{"error", "cancelled", true},
		{"error", "in_progress", false},
		// any state, terminal ones included | complete, resolved_manually
		{"complete", "complete", true},
		{"complete", "resolved_manually", true},
		{"cancelled", "complete", true},
		{"resolved_manually", "resolved_manually", true},
		{"waiting_for_retry", "complete", true},
		{"error", "resolved_manually", true},
		// but complete → pending is not a move
		{"complete", "pending", false},
		{"cancelled", "pending", false},
		{"complete", "error", false},
		// none (first record) | any state
		{"none", "pending", true},
		{"none", "in_progress", true},
		{"none", "complete", true},
		{"none", "enqueued_as_error_for_orchestration", true},
		// task-only states are not step states
		{"none", "initializing", false},
		{"pending", "steps_in_process", false},
		{"blocked_by_failures", "complete", false},
		{"in_progress", "none", false},
	}
	for _, c := range cases {
		got := StepMachine.Valid(ParseState(c.from), ParseState(c.to))
		if got != c.want {
			t.Errorf("step %s → %s: Valid = %v, want %v", c.from, c.to, got, c.want)
		}
		if spec := specStepValid(c.from, c.to); spec != c.want {
			t.Fatalf("test table disagrees with itself on step %s → %s", c.from, c.to)
		}
	}
}

func TestStepValidityMatrix(t *testing.T) {
	for _, from := range allNames() {
		for _, to := range allNames() {
			want := specStepValid(from, to)
			if got := StepMachine.Valid(mustParse(t, from), mustParse(t, to)); got != want {
				t.Errorf("step %s → %s: Valid = %v, want %v", from, to, got, want)
			}
		}
	}
}

// TestEventNameRows checks one move per row of §3 that the row (and no earlier one) decides.
func TestEventNameRows(t *testing.T) {
	type c struct {
		row      int
		from, to string
		want     string
	}
	task := []c{
		{1, "pending", "initializing", "task.initialize_requested"},
		{2, "initializing", "enqueuing_steps", "task.steps_discovery_completed"},
		{3, "enqueuing_steps", "steps_in_process", "task.steps_enqueued"},
		{4, "steps_in_process", "evaluating_results", "task.step_results_received"},
		{5, "initializing", "waiting_for_dependencies", "task.awaiting_dependencies"},
		{5, "evaluating_results", "waiting_for_dependencies", "task.awaiting_dependencies"},
		{5, "none", "waiting_for_dependencies", "task.awaiting_dependencies"},
		{6, "waiting_for_dependencies", "evaluating_results", "task.dependencies_satisfied"},
		{7, "steps_in_process", "waiting_for_retry", "task.retry_backoff_started"},
		{8, "steps_in_process", "blocked_by_failures", "task.blocked_by_failures"},
		{9, "evaluating_results", "complete", "task.completed"},
		{9, "none", "complete", "task.completed"},
		{10, "blocked_by_failures", "error", "task.failed"},
		{11, "waiting_for_dependencies", "cancelled", "task.cancelled"},
		{12, "blocked_by_failures", "resolved_manually", "task.resolved_manually"},
		{13, "error", "pending", "task.retry_requested"},
		{14, "waiting_for_retry", "pending", "task.retry_requested"},
		{15, "pending", "in_progress", "task.started"},
		{15, "none", "in_progress", "task.started"},
		// rows 3 and 4 see the legacy string as received: they do not match it.
		{15, "enqueuing_steps", "in_progress", "task.started"},
		{0, "in_progress", "evaluating_results", ""},
		// valid moves that map to no event name
		{0, "evaluating_results", "enqueuing_steps", ""},
		{0, "waiting_for_retry", "enqueuing_steps", ""},
		{0, "pending", "steps_in_process", ""},
		{0, "none", "pending", ""},
		{0, "none", "initializing", ""},
		{0, "none", "evaluating_results", ""},
		// rows 13/14 need their exact from-state
		{0, "complete", "pending", ""},
		{0, "none", "pending", ""},
	}
	step := []c{
		{1, "pending", "enqueued", "step.enqueue_requested"},
		{2, "enqueued", "in_progress", "step.execution_requested"},
		// match order: row 3 catches every other from-state into in_progress
		{3, "pending", "in_progress", "step.handle"},
		{3, "none", "in_progress", "step.handle"},
		{3, "error", "in_progress", "step.handle"},
		{4, "in_progress", "enqueued_for_orchestration", "step.enqueued_for_orchestration"},
		{5, "in_progress", "enqueued_as_error_for_orchestration", "step.enqueued_as_error_for_orchestration"},
		{6, "enqueued_as_error_for_orchestration", "waiting_for_retry", "step.retry_requested"},
		{6, "in_progress", "waiting_for_retry", "step.retry_requested"},
		{7, "error", "pending", "step.retry_requested"},
		{8, "waiting_for_retry", "pending", "step.retry_requested"},
		{9, "enqueued_for_orchestration", "complete", "step.completed"},
		{9, "complete", "complete", "step.completed"},
		{10, "in_progress", "error", "step.failed"},
		{11, "pending", "cancelled", "step.cancelled"},
		{12, "complete", "resolved_manually", "step.resolved_manually"},
		{0, "none", "pending", ""},
		{0, "none", "enqueued", ""}, // row 1 needs from pending
		{0, "enqueued", "enqueued", ""},
		{0, "complete", "pending", ""},
	}
	for _, x := range task {
		if got := TaskMachine.EventName(ParseState(x.from), ParseState(x.to)); got != x.want {
			t.Errorf("task row %d: %s → %s = %q, want %q", x.row, x.from, x.to, got, x.want)
		}
		if s := specEvent(taskEventRows, x.from, x.to); s != x.want {
			t.Fatalf("test table disagrees with itself on task %s → %s", x.from, x.to)
		}
	}
	for _, x := range step {
		if got := StepMachine.EventName(ParseState(x.from), ParseState(x.to)); got != x.want {
			t.Errorf("step row %d: %s → %s = %q, want %q", x.row, x.from, x.to, got, x.want)
		}
		if s := specEvent(stepEventRows, x.from, x.to); s != x.want {
			t.Fatalf("test table disagrees with itself on step %s → %s", x.from, x.to)
		}
	}
	// Every row of both tables is exercised above.
	for _, tab := range []struct {
		name  string
		rows  []specRow
		cases []c
	}{{"task", taskEventRows, task}, {"step", stepEventRows, step}} {
		hit := map[int]bool{}
		for _, x := range tab.cases {
			hit[x.row] = true
		}
		for i := range tab.rows {
			if !hit[i+1] {
				t.Errorf("%s row %d has no case", tab.name, i+1)
			}
		}
	}
}

// TestEventNameMatrix checks every from × to pair (none and the legacy string included)
// against the tables of docs/telemetry.md §3 evaluated first-match, top to bottom.
func TestEventNameMatrix(t *testing.T) {
	for _, from := range allNames() {
		for _, to := range allNames() {
			f, tt := mustParse(t, from), mustParse(t, to)
			if want, got := specEvent(taskEventRows, from, to), TaskMachine.EventName(f, tt); got != want {
				t.Errorf("task %s → %s: %q, want %q", from, to, got, want)
			}
			if want, got := specEvent(stepEventRows, from, to), StepMachine.EventName(f, tt); got != want {
				t.Errorf("step %s → %s: %q, want %q", from, to, got, want)
			}
		}
	}
}

// TestValidMovesWithoutEventName lists the valid moves no row of docs/telemetry.md §3 names (they
// have no event name, and are still counted): every valid move is either named or in this list.
func TestValidMovesWithoutEventName(t *testing.T) {
	unnamedTask := map[string]bool{
		"evaluating_results→enqueuing_steps": true,
		"waiting_for_retry→enqueuing_steps":  true,
		"pending→steps_in_process":           true, // row 15 names only the legacy in_progress
		"in_progress→evaluating_results":     true, // legacy from-state: row 4 sees it as received
	}
	for _, from := range allNames() {
		if from == "none" {
			continue
		}
		for _, to := range allNames() {
			if !specTaskValid(from, to) {
				continue
			}
			name := TaskMachine.EventName(mustParse(t, from), mustParse(t, to))
			key := from + "→" + to
			if (name == "") != unnamedTask[key] {
				t.Errorf("task %s: event %q; in the unnamed list: %v", key, name, unnamedTask[key])
			}
		}
	}
	for _, k := range []string{"evaluating_results→enqueuing_steps", "waiting_for_retry→enqueuing_steps"} {
		from, to, _ := strings.Cut(k, "→")
		if !TaskMachine.Valid(ParseState(from), ParseState(to)) {
			t.Errorf("task %s must be valid", k)
		}
	}
}

func TestLegacyTaskInProgress(t *testing.T) {
	// Valid as steps_in_process, for durations canonical steps_in_process, but named as received.
	if got := TaskMachine.Canonical(InProgress); got != StepsInProcess {
		t.Errorf("Canonical(in_progress) = %v, want steps_in_process", got)
	}
	if got := StepMachine.Canonical(InProgress); got != InProgress {
		t.Errorf("step Canonical(in_progress) = %v; steps have no legacy strings", got)
	}
	if !TaskMachine.Valid(Pending, InProgress) || !TaskMachine.Valid(InProgress, EvaluatingResults) {
		t.Error("legacy in_progress must be valid where steps_in_process is")
	}
	if TaskMachine.Valid(InProgress, EnqueuingSteps) {
		t.Error("in_progress → enqueuing_steps is not valid (steps_in_process → enqueuing_steps is not)")
	}
	if got := TaskMachine.EventName(Pending, InProgress); got != "task.started" {
		t.Errorf("task pending → in_progress = %q, want task.started (row 15)", got)
	}
	if got := TaskMachine.EventName(Pending, StepsInProcess); got != "" {
		t.Errorf("task pending → steps_in_process = %q, want no name", got)
	}
}

func TestKindFromStates(t *testing.T) {
	cases := []struct {
		from, to string
		want     Kind
	}{
		{"initializing", "enqueuing_steps", KindTask},
		{"none", "initializing", KindTask},
		{"steps_in_process", "complete", KindTask},
		{"blocked_by_failures", "error", KindTask},
		{"pending", "waiting_for_dependencies", KindTask},
		{"enqueued", "in_progress", KindStep},
		{"none", "enqueued", KindStep},
		{"in_progress", "enqueued_for_orchestration", KindStep},
		{"enqueued_as_error_for_orchestration", "waiting_for_retry", KindStep},
		// states both machines have: undecided
		{"pending", "complete", KindUnknown},
		{"none", "pending", KindUnknown},
		{"waiting_for_retry", "pending", KindUnknown},
		{"error", "cancelled", KindUnknown},
		// in_progress is a step state and a legacy task state: undecided on its own
		{"pending", "in_progress", KindUnknown},
		// a mix no machine has
		{"initializing", "enqueued", KindUnknown},
		{"bogus", "complete", KindUnknown},
	}
	for _, c := range cases {
		if got := KindFromStates(ParseState(c.from), ParseState(c.to)); got != c.want {
			t.Errorf("KindFromStates(%s, %s) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}

func TestKindString(t *testing.T) {
	if KindTask.String() != "task" || KindStep.String() != "step" || KindUnknown.String() != "unknown" {
		t.Error("Kind.String")
	}
}

func TestWorkflowEvents(t *testing.T) {
	want := []string{
		"workflow.task_started", "workflow.task_completed", "workflow.task_failed",
		"workflow.step_completed", "workflow.step_failed", "workflow.viable_steps_discovered",
		"workflow.no_viable_steps", "workflow.orchestration_requested",
	}
	if len(WorkflowEvents) != len(want) {
		t.Fatalf("WorkflowEvents has %d names, want %d", len(WorkflowEvents), len(want))
	}
	for _, w := range want {
		if !contains(WorkflowEvents, w) {
			t.Errorf("missing workflow event %s", w)
		}
	}
}
