package statelog

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// entry is one transition in an entity's log: 32 bytes, no pointer. What only one mode needs
// lives beside it, in slabs of that mode (settling for a deriving log, the stamps read for a
// stamping one), at the same position.
type entry struct {
	time int64 // telemetry time, ns
	// link: its neighbours in the entity's log, in telemetry-time order (next: the free list).
	link
	source uint32 // the service instance it came from, for clock-skew decisions (§5)
	// ns and handler are the values the telemetry gave this transition itself (name ids, 0:
	// none); a handler only where it differs from the step's learned one.
	ns, handler uint32
	attempt     uint16 // the carrier's attempt attribute, 0 when absent
	from, to    tasker.State
}

// entity is one task or step: 96 bytes, no pointer (TestRecordSizes). A deriving log keeps
// 64 more beside it (dentity), at the same position.
type entity struct {
	id   idRef
	kind tasker.Kind
	// finished: a terminal task, or a step of one (§5); it is then on the finished list, else
	// on the unfinished one (least recently used last), by its age link.
	finished bool
	n        uint16 // transitions held
	hash     uint32 // of kind and id, for the id index
	log      list   // its transitions in telemetry-time order
	// task is a step's task (0: unknown, or no longer tracked); steps are a task's steps,
	// linked by their sib links.
	task  uint32
	steps list
	sib   link
	// ns and handler are learned (name ids): the first value seen, never overwritten.
	ns, handler uint32
	gen         uint32 // incremented each time the position is freed, so stale Refs fail
	// end is its earliest transition into a terminal state in telemetry time (0: none): it
	// ends its live state, a task's end decides its steps' outcomes, and a full log keeps it.
	end        uint32
	lastSeen   int64 // collector clock, ns
	finishedAt int64
	age        link
}

// Ref points at a transition in a log; it stays valid while its entity is tracked.
type Ref struct {
	ent, gen uint32
	time     int64
	from, to tasker.State
}

// Status is the outcome of Add.
type Status uint8

const (
	Added Status = iota
	Duplicate
	Dropped // the entity's log was full of transitions it must keep
)

// Stats are counters of what happened in the log since the last TakeStats.
type Stats struct {
	Duplicates [tasker.NumKinds]int64
	OutOfOrder [tasker.NumKinds]int64 // inserted before a transition already held
	Late       [tasker.NumKinds]int64 // arrived after a later transition of its entity had settled
	Skewed     [tasker.NumKinds]int64 // a negative gap between services counted as 0
	Abandoned  int64                  // claims superseded by another claim before closing
	Conflicts  [tasker.NumKinds]int64 // a learned namespace or handler contradicted
	Evicted    [tasker.NumKinds][NumEvictReasons]int64
	// LiveEvicted: live entities (§7 Live state) that left the log unfinished, so the
	// in_state gauges stopped counting them.
	LiveEvicted [tasker.NumKinds]int64
	Dropped     [tasker.NumKinds]int64 // transitions dropped from an overflowing entity log
	// DurationsRefused: derived durations longer than max_duration, neither stamped nor
	// recorded (a stamping log counts each transition's once, at its first read).
	DurationsRefused [tasker.NumKinds]int64
	// SourcesEvicted: service instances dropped from the table used for clock-skew
	// decisions (idle for the idle time-to-live, or the table full).
	SourcesEvicted int64
	// NamesNotInterned: namespaces or handlers not kept because the name table was full
	// (the entity's learned value, if any, stands in; else unknown).
	NamesNotInterned int64
}

// FactType says what a Fact is.
type FactType uint8

const (
	// FactTransition: a recognised, non-duplicate transition, once settled.
	FactTransition FactType = iota
	// FactStateDuration: the time spent in State, between two chained transitions.
	FactStateDuration
	// FactAttempt: a step attempt closed, with its ordinal and outcome.
	FactAttempt
	// FactCompletion: a task reached its first terminal state; Seconds since its start.
	FactCompletion
	// FactStepOutcome: a step's outcome was decided (§7 Step outcomes across retries):
	// Seconds from its first transition, Ordinal the number of attempts it made.
	FactStepOutcome
)

// Fact is one derived fact. It belongs to one transition (From, To, Time, Data): of a pair,
// the later one in telemetry time (§7: a fact derived from two transitions belongs to the
// resource of the later one in telemetry time).
type Fact[P any] struct {
	Type     FactType
	Kind     tasker.Kind
	From, To tasker.State
	Time     pcommon.Timestamp
	// Data is what the component keeps with the transition; valid only during the call.
	Data *P
	// Namespace and Handler as resolved for the transition ("" when unknown).
	Namespace, Handler string
	// Correlation is the entity's correlation id, else its task's.
	Correlation CorrelationID
	// FactTransition: the event name ("" when no row matches) and whether the move is invalid.
	Event   string
	Invalid bool
	// FactStateDuration: the state (canonical); FactCompletion: the terminal state.
	State   tasker.State
	Seconds float64
	// FactAttempt: the attempt's ordinal; FactStepOutcome: the number of attempts.
	Ordinal int
	// FactAttempt, FactStepOutcome.
	Outcome string
	// FactStepOutcome: its duration was longer than max_duration, so only the attempts are
	// recorded.
	Refused bool

	log *Log[P]
	ent uint32
}

// ID returns the entity's id. It allocates: for tests and logs, not for the hot path.
func (f *Fact[P]) ID() string { return f.log.ids.idString(&f.log.ents.at(f.ent).id) }

// Sink receives derived facts. The Fact and its pointers are valid only during the call.
type Sink[P any] interface {
	Fact(f *Fact[P])
}
