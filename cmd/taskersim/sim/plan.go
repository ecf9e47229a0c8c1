package sim

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// Services, as Tasker names them in service.name.
const (
	ServiceOrchestration = "tasker-orchestration"
	ServiceWorker        = "tasker-worker"
)

// Shapes of transitions in the telemetry (docs/telemetry.md §4).
const (
	ShapeSpans  = "spans"
	ShapeEvents = "events"
	ShapeMix    = "mix"
)

const maxAttempts = 3

// Options decide what the simulator plans. Everything random is drawn from Seed.
type Options struct {
	Seed  uint64
	Tasks int
	// Rate is tasks started per wall-clock second; Speed is simulated seconds per wall second.
	Rate  float64
	Speed float64
	Shape string
	// Workers is the number of worker instances (each its own service.instance.id).
	Workers int
	// InvalidRate is the fraction of tasks that get one invalid transition (a lost claim or a
	// skipped evaluation); DuplicateRate and LateRate are fractions of transitions re-sent
	// identically, or sent LateDelay after their turn.
	InvalidRate   float64
	DuplicateRate float64
	LateRate      float64
	// LateDelay delays a late transition's carrier; WorkerDelay delays every worker span
	// (Tasker's services export separately); DuplicateDelay is how long after its original a
	// duplicate is re-sent. All wall-clock.
	LateDelay      time.Duration
	WorkerDelay    time.Duration
	DuplicateDelay time.Duration
	// WorkerSkew shifts every worker timestamp (its clock runs ahead by this much; negative:
	// behind). Keep it under the components' max_clock_skew (default 1 s) and under the
	// shortest retry backoff (0.8 s); 0 means one clock for all.
	WorkerSkew time.Duration
	// OmitTaskTransitions sends no task transition, as today's Tasker (which records task
	// transitions only on a code path its tests use): the task metrics then stay empty.
	OmitTaskTransitions bool
	// InFlightRate is the fraction of tasks left unfinished (dealt evenly): each stops, with
	// its steps, when it reaches its turn of inFlightStops, which cover every non-terminal
	// state of both machines.
	InFlightRate float64
	// FateDeck is the deck of fates dealt to the tasks, reshuffled each time it runs out (see
	// ParseFates); nil deals the default deck of DefaultFates.
	FateDeck []string
}

// DefaultOptions are the CLI's defaults.
func DefaultOptions() Options {
	return Options{
		Seed: 1, Tasks: 0, Rate: 2, Speed: 1, Shape: ShapeMix, Workers: 2,
		InvalidRate: 0.1, DuplicateRate: 0.02, LateRate: 0.02,
		LateDelay: 1500 * time.Millisecond, WorkerDelay: 3 * time.Second, DuplicateDelay: time.Second,
	}
}

// Transition is one state change the simulator emits.
type Transition struct {
	Kind      string
	Task      *Task
	Step      *Step // nil for a task transition
	From, To  string
	At        time.Duration // simulated, from the start of the plan
	Home      *Span         // the context span it belongs to
	Carrier   *Span         // the span that carries it: Home for an event, its own span otherwise
	AsSpan    bool
	Duplicate bool        // an identical re-send of an earlier transition; not counted
	orig      *Transition // the original of a duplicate
}

// shownAt is the transition's time as its service's clock shows it.
func (tr *Transition) shownAt(skew time.Duration) time.Duration {
	if tr.Home.Service == ServiceWorker {
		return tr.At + skew
	}
	return tr.At
}

// EntityID is the task or step id of the transition's entity.
func (tr *Transition) EntityID() string {
	if tr.Step != nil {
		return tr.Step.UUID
	}
	return tr.Task.UUID
}

// Span is one span the simulator emits.
type Span struct {
	Service  string
	Instance int
	Name     string
	TraceID  [16]byte
	SpanID   [8]byte
	ParentID [8]byte
	Start    time.Duration
	End      time.Duration
	Attrs    []attribute.KeyValue
	Events   []*Transition
	// Transition is set when the span itself carries a transition (the span shape).
	Transition *Transition
	Failed     bool
	// Late and Dup mark fault injection: delayed by LateDelay, or a re-send.
	Late bool
	Dup  bool
	// EmitAt is when, in wall time from the start of emission, the span is handed to the SDK.
	EmitAt time.Duration
	seq    int
	task   *Task
}

// Task is one simulated task.
type Task struct {
	Index       int
	UUID        string
	Correlation string
	Namespace   string
	Name        string
	Fate        string
	Steps       []*Step
	Transitions []*Transition
	Start       time.Duration

	state   string
	traceID [16]byte
	root    *Span
	busy    time.Duration
	// invalidSkipEval: once, go steps_in_process → enqueuing_steps without evaluating_results.
	invalidSkipEval bool
	// invalidAfterEnd: once the task has ended, one of its entities moves out of its terminal
	// state (moveAfterEnd).
	invalidAfterEnd afterEnd
	// InFlight names the stop (inFlightStops) at which the task was left unfinished, or "".
	InFlight string
	stop     *inFlightStop
	// frozen: the task has reached its stop; nothing more happens to it or its steps.
	frozen      bool
	stoppedStep *Step
	stoppedAt   time.Duration
	failStep    int // the step that fails permanently (fates fail_error, fail_resolve), or -1
	flakyStep   int // the step that fails once or twice before succeeding, or -1
	flakyFails  int
}

// Step is one simulated workflow step.
type Step struct {
	Index       int
	UUID        string
	Name        string
	Deps        []int
	Transitions []*Transition

	state    string
	mean     time.Duration
	worker   int
	claims   int
	gen      int
	exec     *Span
	lastAt   time.Duration
	skipOnce bool // invalid injection: the first claim is lost, result comes from enqueued
}

// Plan is the whole simulation, in simulated time relative to its start.
type Plan struct {
	Opts        Options
	Tasks       []*Task
	Spans       []*Span
	Transitions []*Transition // every emitted transition, duplicates included, in plan order
	Span        time.Duration // simulated time from the first to the last telemetry
}

type stepTemplate struct {
	name string
	deps []int
	mean time.Duration
}

type workflowTemplate struct {
	namespace, name string
	steps           []stepTemplate
}

var templates = []workflowTemplate{
	{"payments", "process_order", []stepTemplate{
		{"validate_order", nil, 40 * time.Millisecond},
		{"charge_card", []int{0}, 250 * time.Millisecond},
		{"reserve_inventory", []int{0}, 120 * time.Millisecond},
		{"send_receipt", []int{1, 2}, 80 * time.Millisecond},
	}},
	{"onboarding", "user_onboarding", []stepTemplate{
		{"create_account", nil, 150 * time.Millisecond},
		{"send_welcome_email", []int{0}, 300 * time.Millisecond},
		{"provision_workspace", []int{1}, 900 * time.Millisecond},
	}},
	{"data_pipeline", "nightly_etl", []stepTemplate{
		{"extract_orders", nil, 600 * time.Millisecond},
		{"extract_users", nil, 400 * time.Millisecond},
		{"extract_events", nil, 800 * time.Millisecond},
		{"transform", []int{0, 1, 2}, 1200 * time.Millisecond},
		{"load_warehouse", []int{3}, 700 * time.Millisecond},
	}},
	{"notifications", "send_digest", []stepTemplate{
		{"render_digest", nil, 60 * time.Millisecond},
		{"deliver_digest", []int{0}, 200 * time.Millisecond},
	}},
}

// Fates, dealt from a shuffled deck so that every run of ten tasks covers each.
const (
	FateNormal      = "normal"
	FateFlaky       = "flaky"
	FateCancel      = "cancel"
	FateFailError   = "fail_error"
	FateFailResolve = "fail_resolve"
)

var fateDeck = []string{FateNormal, FateNormal, FateNormal, FateNormal, FateFlaky, FateFlaky, FateNormal, FateCancel, FateFailError, FateFailResolve}

// DefaultFates is the default deck, written as ParseFates reads it.
const DefaultFates = "normal=5,flaky=2,cancel=1,fail_error=1,fail_resolve=1"

var fateNames = []string{FateNormal, FateFlaky, FateCancel, FateFailError, FateFailResolve}

// ParseFates reads a deck of fates written as fate=count pairs separated by commas, e.g.
// DefaultFates. A fate left out is not dealt.
func ParseFates(s string) ([]string, error) {
	var deck []string
	seen := map[string]bool{}
	for _, pair := range strings.Split(s, ",") {
		name, count, ok := strings.Cut(strings.TrimSpace(pair), "=")
		n, err := strconv.Atoi(count)
		switch {
		case !ok || err != nil:
			return nil, fmt.Errorf("%q is not fate=count (e.g. %s)", pair, DefaultFates)
		case !slices.Contains(fateNames, name):
			return nil, fmt.Errorf("unknown fate %q (fates: %s)", name, strings.Join(fateNames, ", "))
		case seen[name]:
			return nil, fmt.Errorf("fate %s given twice", name)
		case n < 0:
			return nil, fmt.Errorf("fate %s: count %d is negative", name, n)
		}
		seen[name] = true
		for range n {
			deck = append(deck, name)
		}
	}
	if len(deck) == 0 {
		return nil, fmt.Errorf("the deck %q deals no fate", s)
	}
	return deck, nil
}

// randomFailure is the chance that any other attempt fails (and is retried).
const randomFailure = 0.05

type planner struct {
	opts Options
	r    *rand.Rand
	plan *Plan
	seq  int

	invalidDebt  float64
	invalidN     int
	cancelN      int
	inFlightDebt float64
	inFlightN    int
}

// afterEnd is the kind of injected move out of a terminal state.
type afterEnd int

const (
	noMoveAfterEnd afterEnd = iota
	stepAfterEnd            // a worker claims an ended step again: complete (or cancelled, resolved_manually) → in_progress
	taskAfterEnd            // the orchestration moves the ended task: error → pending, or <end> → enqueuing_steps
)

// inFlightStop is where an in-flight task stops: right after the task (kind task) or one of
// its steps (kind step) first enters state. With remark, the entity is first moved once more
// from the state to itself, a few seconds later (a staleness sweep re-marking it), which must
// not restart its time in the state.
type inFlightStop struct {
	kind, state string
	remark      bool
	// needsFailure: only a failing step gets there, so the task is given FateFailError.
	needsFailure bool
}

func (s inFlightStop) String() string { return s.kind + " " + s.state }

// inFlightStops are dealt in turn to the in-flight tasks: every non-terminal state of §1 and
// §2 (the legacy task in_progress is steps_in_process).
var inFlightStops = []inFlightStop{
	{kind: KindTask, state: "pending"},
	{kind: KindStep, state: "pending"},
	{kind: KindTask, state: "initializing"},
	{kind: KindStep, state: "enqueued", remark: true},
	{kind: KindTask, state: "enqueuing_steps"},
	{kind: KindStep, state: "in_progress"},
	{kind: KindTask, state: "steps_in_process"},
	{kind: KindStep, state: "enqueued_for_orchestration"},
	{kind: KindTask, state: "evaluating_results"},
	{kind: KindStep, state: "enqueued_as_error_for_orchestration", needsFailure: true},
	{kind: KindTask, state: "waiting_for_dependencies"},
	{kind: KindStep, state: "waiting_for_retry", needsFailure: true},
	{kind: KindTask, state: "waiting_for_retry", needsFailure: true},
	{kind: KindStep, state: "error", needsFailure: true},
	{kind: KindTask, state: "blocked_by_failures", remark: true, needsFailure: true},
}

// inFlightTries bounds how often an in-flight task is planned again (another workflow and
// timings) until it reaches its stop; one that never does finishes like any other.
const inFlightTries = 50

// NewPlan plans a whole simulation. It is a pure function of opts.
func NewPlan(opts Options) (*Plan, error) {
	if opts.Tasks <= 0 {
		return nil, fmt.Errorf("tasks must be positive, got %d", opts.Tasks)
	}
	if opts.Rate <= 0 || opts.Speed <= 0 {
		return nil, fmt.Errorf("rate and speed must be positive (rate %v, speed %v)", opts.Rate, opts.Speed)
	}
	switch opts.Shape {
	case ShapeSpans, ShapeEvents, ShapeMix:
	default:
		return nil, fmt.Errorf("shape must be spans, events or mix, got %q", opts.Shape)
	}
	if opts.InFlightRate < 0 || opts.InFlightRate > 1 {
		return nil, fmt.Errorf("in-flight rate must be between 0 and 1, got %v", opts.InFlightRate)
	}
	if opts.Workers <= 0 {
		return nil, fmt.Errorf("workers must be at least 1, got %d", opts.Workers)
	}
	if opts.FateDeck != nil && len(opts.FateDeck) == 0 {
		return nil, fmt.Errorf("the fate deck is empty")
	}
	for _, f := range opts.FateDeck {
		if !slices.Contains(fateNames, f) {
			return nil, fmt.Errorf("unknown fate %q in the deck", f)
		}
	}
	deal := fateDeck
	if opts.FateDeck != nil {
		deal = opts.FateDeck
	}
	p := &planner{opts: opts, r: rand.New(rand.NewPCG(opts.Seed, 0x7a5c3e5)), plan: &Plan{Opts: opts}}
	var deck []string
	at := time.Duration(0)
	for i := 0; i < opts.Tasks; i++ {
		// In-flight tasks are dealt evenly (not drawn), like invalid transitions.
		p.inFlightDebt += opts.InFlightRate
		if p.inFlightDebt >= 1 {
			p.inFlightDebt--
			stop := inFlightStops[p.inFlightN%len(inFlightStops)]
			p.inFlightN++
			p.simulateInFlight(i, at, stop)
		} else {
			if len(deck) == 0 {
				deck = append([]string(nil), deal...)
				p.r.Shuffle(len(deck), func(a, b int) { deck[a], deck[b] = deck[b], deck[a] })
			}
			fate := deck[0]
			deck = deck[1:]
			p.simulateTask(i, at, fate, nil)
		}
		// Exponential inter-arrival with mean Speed/Rate simulated seconds.
		gap := p.r.ExpFloat64() * opts.Speed / opts.Rate
		at += time.Duration(gap * float64(time.Second))
	}
	p.injectFaults()
	p.schedule()
	return p.plan, nil
}

func (p *planner) id16() (b [16]byte) {
	binary.BigEndian.PutUint64(b[:8], p.r.Uint64())
	binary.BigEndian.PutUint64(b[8:], p.r.Uint64())
	return b
}

func (p *planner) id8() (b [8]byte) {
	binary.BigEndian.PutUint64(b[:], p.r.Uint64()|1)
	return b
}

func (p *planner) uuid() string {
	b := p.id16()
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// jitter returns a duration uniformly in [lo, hi).
func (p *planner) jitter(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(p.r.Float64()*float64(hi-lo))
}

// execTime draws a handler's run time around its mean (log-normal, sigma 0.5).
func (p *planner) execTime(mean time.Duration) time.Duration {
	d := time.Duration(float64(mean) * math.Exp(p.r.NormFloat64()*0.5-0.125))
	if d < 5*time.Millisecond {
		d = 5 * time.Millisecond
	}
	return d
}

func (p *planner) newSpan(t *Task, service string, instance int, name string, parent *Span, start time.Duration, attrs ...attribute.KeyValue) *Span {
	s := &Span{Service: service, Instance: instance, Name: name, TraceID: t.traceID, SpanID: p.id8(), Start: start, End: start, Attrs: attrs, seq: p.seq, task: t}
	p.seq++
	if parent != nil {
		s.ParentID = parent.SpanID
	}
	if !t.frozen { // a stopped task's work never happens: its spans are not sent
		p.plan.Spans = append(p.plan.Spans, s)
	}
	return s
}

// shapeAsSpan decides the shape of one transition.
func (p *planner) shapeAsSpan() bool {
	switch p.opts.Shape {
	case ShapeSpans:
		return true
	case ShapeEvents:
		return false
	}
	return p.r.IntN(2) == 0
}

// emit records a transition of the task (step == nil) or of one of its steps at time at, on
// the context span home. Times of one entity are kept strictly increasing.
func (p *planner) emit(t *Task, s *Step, home *Span, from, to string, at time.Duration) *Transition {
	if t.frozen {
		return nil // the task has stopped in flight: nothing moves any more
	}
	if s == nil && p.opts.OmitTaskTransitions {
		t.state = to // the task still moves; nothing tells the collector
		t.reachStop(KindTask, nil, to, at)
		return nil
	}
	tr := &Transition{Task: t, Step: s, From: from, To: to, Home: home, AsSpan: p.shapeAsSpan()}
	if s != nil {
		tr.Kind = KindStep
		if at <= s.lastAt {
			at = s.lastAt + time.Millisecond
		}
		s.lastAt, s.state = at, to
		s.Transitions = append(s.Transitions, tr)
	} else {
		tr.Kind = KindTask
		if n := len(t.Transitions); n > 0 && at <= t.Transitions[n-1].At {
			at = t.Transitions[n-1].At + time.Millisecond
		}
		t.state = to
		t.Transitions = append(t.Transitions, tr)
	}
	tr.At = at
	if at > home.End {
		home.End = at
	}
	if at < home.Start {
		home.Start = at
	}
	if tr.AsSpan {
		name := "task.state_transition"
		if s != nil {
			name = "step.state_transition"
		}
		cs := p.newSpan(t, home.Service, home.Instance, name, home, at-p.jitter(200*time.Microsecond, 2*time.Millisecond), transitionAttrs(tr, home)...)
		cs.End = at
		cs.Transition = tr
		tr.Carrier = cs
	} else {
		home.Events = append(home.Events, tr)
		tr.Carrier = home
	}
	p.plan.Transitions = append(p.plan.Transitions, tr)
	t.reachStop(tr.Kind, s, to, at)
	return tr
}

// reachStop freezes an in-flight task when it, or one of its steps, first enters the state
// of its stop.
func (t *Task) reachStop(kind string, s *Step, to string, at time.Duration) {
	if t.stop == nil || t.InFlight != "" || kind != t.stop.kind || to != t.stop.state {
		return
	}
	t.InFlight, t.frozen, t.stoppedStep, t.stoppedAt = t.stop.String(), true, s, at
}

// transitionAttrs are the attributes of a transition's carrier: the event's attributes for the
// event shape, the span's for the span shape. A worker-side transition span also carries what
// Tasker's worker spans carry (namespace, step_name); orchestration-side ones do not.
func transitionAttrs(tr *Transition, home *Span) []attribute.KeyValue {
	from := tr.From
	if from == "" {
		from = noneState
	}
	var a []attribute.KeyValue
	if name := EventName(tr.Kind, tr.From, tr.To); name != "" {
		a = append(a, attribute.String("event_name", name))
	}
	if tr.Step != nil {
		a = append(a,
			attribute.String("step_uuid", tr.Step.UUID),
			attribute.String("task_uuid", tr.Task.UUID),
			attribute.String("named_step_uuid", namedStepUUID(tr.Task, tr.Step)),
		)
	} else {
		a = append(a,
			attribute.String("task_uuid", tr.Task.UUID),
			attribute.String("correlation_id", tr.Task.Correlation),
		)
	}
	a = append(a, attribute.String("from_state", from), attribute.String("to_state", tr.To))
	if tr.AsSpan && home.Service == ServiceWorker && tr.Step != nil {
		a = append(a,
			attribute.String("namespace", tr.Task.Namespace),
			attribute.String("step_name", tr.Step.Name),
			attribute.String("correlation_id", tr.Task.Correlation),
		)
	}
	return a
}

// namedStepUUID is a stable id per (template, step name), as Tasker's named steps have.
func namedStepUUID(t *Task, s *Step) string {
	h := uint64(14695981039346656037)
	for _, c := range t.Namespace + "/" + s.Name {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(h>>32), uint16(h>>16), uint16(h)&0xfff, uint16(h>>4)&0xfff, h&0xffffffffffff)
}

// Task-level discrete events.
type evKind int

const (
	evClaim evKind = iota
	evResult
	evArrive
	evRetryDue
	evCancel
	evBlockedDecision
)

type event struct {
	at   time.Duration
	kind evKind
	step *Step
	gen  int
	ok   bool
	seq  int
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type taskRun struct {
	p   *planner
	t   *Task
	q   eventQueue
	seq int
}

func (tr *taskRun) push(e *event) {
	e.seq = tr.seq
	tr.seq++
	heap.Push(&tr.q, e)
}

// simulateInFlight plans a task that stops at stop, planning it again (another workflow,
// other timings) until it gets there.
func (p *planner) simulateInFlight(idx int, start time.Duration, stop inFlightStop) {
	fate := FateNormal
	if stop.needsFailure {
		fate = FateFailError
	}
	spans, transitions := len(p.plan.Spans), len(p.plan.Transitions)
	for try := 1; ; try++ {
		t := p.simulateTask(idx, start, fate, &stop)
		if t.InFlight != "" || try == inFlightTries {
			return
		}
		p.plan.Tasks = p.plan.Tasks[:len(p.plan.Tasks)-1]
		p.plan.Spans, p.plan.Transitions = p.plan.Spans[:spans], p.plan.Transitions[:transitions]
	}
}

// simulateTask plans one task; with a stop, it is an in-flight task, which gets no injected
// invalid transition (it may stop before showing it).
func (p *planner) simulateTask(idx int, start time.Duration, fate string, stop *inFlightStop) *Task {
	tmpl := templates[p.r.IntN(len(templates))]
	t := &Task{
		Index: idx, UUID: p.uuid(), Correlation: p.uuid(), Namespace: tmpl.namespace, Name: tmpl.name,
		Fate: fate, Start: start, traceID: p.id16(), failStep: -1, flakyStep: -1, stop: stop,
	}
	for i, st := range tmpl.steps {
		t.Steps = append(t.Steps, &Step{Index: i, UUID: p.uuid(), Name: st.name, Deps: st.deps, mean: st.mean, worker: p.r.IntN(p.opts.Workers), lastAt: -1})
	}
	switch fate {
	case FateFailError, FateFailResolve:
		t.failStep = p.r.IntN(len(t.Steps))
	case FateFlaky:
		t.flakyStep = p.r.IntN(len(t.Steps))
		t.flakyFails = 1 + p.r.IntN(maxAttempts-1)
	}
	// Invalid transitions are dealt evenly (not drawn) so that a short run has them too, and
	// rotate between a lost claim, a skipped evaluation, a step and a task moving out of their
	// terminal state; cancelled tasks may end too early to show one, so they get none.
	if fate != FateCancel && stop == nil {
		p.invalidDebt += p.opts.InvalidRate
		if p.invalidDebt >= 1 {
			p.invalidDebt--
			p.invalidN++
			switch p.invalidN % 4 {
			case 1:
				t.Steps[0].skipOnce = true
			case 2:
				t.invalidSkipEval = true
			case 3:
				t.invalidAfterEnd = stepAfterEnd
			default:
				t.invalidAfterEnd = taskAfterEnd
			}
		}
	}
	p.plan.Tasks = append(p.plan.Tasks, t)
	run := &taskRun{p: p, t: t}
	run.initialize(start)
	if fate == FateCancel {
		var total time.Duration
		for _, st := range tmpl.steps {
			total += st.mean
		}
		run.push(&event{at: start + p.jitter(20*time.Millisecond, total/2), kind: evCancel})
	}
	for run.q.Len() > 0 && !t.frozen {
		e := heap.Pop(&run.q).(*event)
		run.handle(e)
	}
	if t.frozen {
		run.remark()
	} else {
		run.moveAfterEnd()
	}
	return t
}

// remark moves a stopped task's stopping entity from its state to itself once more, a few
// seconds after it entered it, when its stop asks for it: a staleness sweep re-marks the task
// blocked_by_failures (a valid move) or re-enqueues the step (enqueued → enqueued, which §2
// does not allow: it is sent only when invalid transitions are wanted, --invalid-rate > 0).
func (tr *taskRun) remark() {
	t, p := tr.t, tr.p
	if !t.stop.remark || (t.stoppedStep != nil && p.opts.InvalidRate == 0) {
		return
	}
	at := t.stoppedAt + p.jitter(2*time.Second, 8*time.Second)
	attrs := tr.taskAttrs(false)
	if s := t.stoppedStep; s != nil {
		attrs = append(attrs, attribute.String("step_uuid", s.UUID))
	}
	t.frozen = false
	h := p.newSpan(t, ServiceOrchestration, 0, "staleness_sweep", t.root, at-p.jitter(500*time.Microsecond, 3*time.Millisecond), attrs...)
	p.emit(t, t.stoppedStep, h, t.stop.state, t.stop.state, at)
	h.End = at + p.jitter(200*time.Microsecond, time.Millisecond)
	t.frozen = true
}

// moveAfterEnd is an injected fault: after the task has ended, a worker claims one of its
// ended steps again, or the orchestration moves the task on. Tasker's machines refuse both
// (nothing leaves a terminal task state; an ended step may only be completed or resolved
// again), so the transition is invalid and the entity stays where it was.
func (tr *taskRun) moveAfterEnd() {
	t, p := tr.t, tr.p
	if !taskTerminal[t.state] {
		return
	}
	switch t.invalidAfterEnd {
	case stepAfterEnd:
		for _, s := range t.Steps {
			ended := s.state
			if !stepTerminal[ended] {
				continue
			}
			at := max(s.lastAt, t.busy) + p.jitter(20*time.Millisecond, 300*time.Millisecond)
			exec := tr.workerSpan(s, at)
			p.emit(t, s, exec, ended, "in_progress", at)
			exec.End = at + p.jitter(time.Millisecond, 5*time.Millisecond)
			s.state = ended
			return
		}
	case taskAfterEnd:
		ended := t.state
		name, to := "process_single_task_from_ready_info", "enqueuing_steps"
		if ended == "error" {
			name, to = "retry_task", "pending" // an operator retries the failed task
		}
		h, o := tr.orchSpan(name, t.root, t.busy+p.jitter(20*time.Millisecond, 300*time.Millisecond), tr.taskAttrs(true)...)
		p.emit(t, nil, h, ended, to, o)
		tr.closeOrch(h, o)
		t.state = ended
	}
}

func (tr *taskRun) orchSpan(name string, parent *Span, at time.Duration, attrs ...attribute.KeyValue) (*Span, time.Duration) {
	o := at
	if tr.t.busy > o {
		o = tr.t.busy
	}
	o += tr.p.jitter(500*time.Microsecond, 3*time.Millisecond)
	s := tr.p.newSpan(tr.t, ServiceOrchestration, 0, name, parent, o, attrs...)
	return s, o
}

// step advances the orchestration's clock by a little and returns the new time.
func (tr *taskRun) tick(o time.Duration) time.Duration {
	return o + tr.p.jitter(300*time.Microsecond, 2*time.Millisecond)
}

func (tr *taskRun) closeOrch(s *Span, o time.Duration) {
	end := o + tr.p.jitter(200*time.Microsecond, time.Millisecond)
	if end > s.End {
		s.End = end
	}
	if s.End > tr.t.busy {
		tr.t.busy = s.End
	}
}

func (tr *taskRun) taskAttrs(withNamespace bool) []attribute.KeyValue {
	a := []attribute.KeyValue{attribute.String("task_uuid", tr.t.UUID), attribute.String("correlation_id", tr.t.Correlation)}
	if withNamespace {
		a = append(a, attribute.String("namespace", tr.t.Namespace), attribute.String("task_name", tr.t.Name))
	}
	return a
}

func (tr *taskRun) initialize(at time.Duration) {
	t, p := tr.t, tr.p
	root, o := tr.orchSpan("initialize_task", nil, at, tr.taskAttrs(true)...)
	t.root = root
	p.emit(t, nil, root, noneState, "pending", o)
	o = tr.tick(o)
	p.emit(t, nil, root, "pending", "initializing", o)
	for _, s := range t.Steps {
		o = tr.tick(o)
		p.emit(t, s, root, noneState, "pending", o)
	}
	o = tr.tick(o)
	p.emit(t, nil, root, "initializing", "enqueuing_steps", o)
	tr.closeOrch(root, o)
	tr.enqueueRound(o, false)
}

// ready lists pending steps whose dependencies are complete.
func (tr *taskRun) ready() []*Step {
	var out []*Step
	for _, s := range tr.t.Steps {
		if s.state != "pending" {
			continue
		}
		ok := true
		for _, d := range s.Deps {
			if tr.t.Steps[d].state != "complete" {
				ok = false
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// enqueueRound is Tasker's process_single_task_from_ready_info: the task is in enqueuing_steps
// (or, with retryOnly, in steps_in_process); ready steps are enqueued to the workers.
func (tr *taskRun) enqueueRound(at time.Duration, retryOnly bool, retried ...*Step) {
	t, p := tr.t, tr.p
	psf, o := tr.orchSpan("process_single_task_from_ready_info", t.root, at, tr.taskAttrs(true)...)
	o = tr.tick(o)
	ers := p.newSpan(t, ServiceOrchestration, 0, "enqueue_ready_steps", psf, o, attribute.String("task_uuid", t.UUID))
	for _, s := range retried {
		o = tr.tick(o)
		p.emit(t, s, ers, "waiting_for_retry", "pending", o)
	}
	for _, s := range tr.ready() {
		o = tr.tick(o)
		p.emit(t, s, ers, "pending", "enqueued", o)
		tr.push(&event{at: o + p.jitter(3*time.Millisecond, 120*time.Millisecond), kind: evClaim, step: s, gen: s.gen})
	}
	ers.End = tr.tick(o)
	o = ers.End
	if !retryOnly {
		o = tr.tick(o)
		p.emit(t, nil, psf, "enqueuing_steps", "steps_in_process", o)
	}
	tr.closeOrch(psf, o)
}

func (tr *taskRun) handle(e *event) {
	t := tr.t
	switch e.kind {
	case evClaim:
		if e.gen != e.step.gen || e.step.state != "enqueued" {
			return
		}
		tr.claim(e.at, e.step)
	case evResult:
		if e.gen != e.step.gen {
			return
		}
		tr.result(e.at, e.step, e.ok)
	case evArrive:
		if e.gen != e.step.gen {
			return
		}
		tr.arrive(e.at, e.step, e.ok)
	case evRetryDue:
		if e.gen != e.step.gen || e.step.state != "waiting_for_retry" || taskTerminal[t.state] || t.state == "blocked_by_failures" {
			return
		}
		tr.retryDue(e.at, e.step)
	case evCancel:
		if taskTerminal[t.state] {
			return
		}
		tr.cancel(e.at)
	case evBlockedDecision:
		if t.state != "blocked_by_failures" {
			return
		}
		tr.blockedDecision(e.at)
	}
}

// workerSpan is a worker's worker.step_execution span for a claim of s at at.
func (tr *taskRun) workerSpan(s *Step, at time.Duration) *Span {
	t := tr.t
	return tr.p.newSpan(t, ServiceWorker, s.worker, "worker.step_execution", t.root, at-tr.p.jitter(100*time.Microsecond, time.Millisecond),
		attribute.String("namespace", t.Namespace),
		attribute.String("step_name", s.Name),
		attribute.String("step_uuid", s.UUID),
		attribute.String("task_uuid", t.UUID),
		attribute.String("correlation_id", t.Correlation),
	)
}

func (tr *taskRun) claim(at time.Duration, s *Step) {
	t, p := tr.t, tr.p
	exec := tr.workerSpan(s, at)
	s.exec = exec
	s.claims++
	if s.skipOnce {
		// Injected fault: the claim is lost; the result will come straight from enqueued.
		s.skipOnce = false
	} else {
		p.emit(t, s, exec, "enqueued", "in_progress", at)
	}
	fail := false
	switch {
	case s.Index == t.failStep:
		fail = true
	case s.Index == t.flakyStep && s.claims <= t.flakyFails:
		fail = true
	case s.claims < maxAttempts && p.r.Float64() < randomFailure:
		fail = true
	}
	d := p.execTime(s.mean)
	call := p.newSpan(t, ServiceWorker, s.worker, "step_handler.call", exec, at+200*time.Microsecond, attribute.String("step_name", s.Name))
	call.End = at + d - 100*time.Microsecond
	call.Failed = fail
	tr.push(&event{at: at + d, kind: evResult, step: s, gen: s.gen, ok: !fail})
}

func (tr *taskRun) result(at time.Duration, s *Step, ok bool) {
	t, p := tr.t, tr.p
	to := "enqueued_for_orchestration"
	if !ok {
		to = "enqueued_as_error_for_orchestration"
		s.exec.Failed = true
	}
	from := s.state // in_progress, or enqueued after a lost claim
	p.emit(t, s, s.exec, from, to, at)
	s.exec.End = at + p.jitter(100*time.Microsecond, time.Millisecond)
	s.exec = nil
	tr.push(&event{at: at + p.jitter(2*time.Millisecond, 40*time.Millisecond), kind: evArrive, step: s, gen: s.gen, ok: ok})
}

func (tr *taskRun) inFlight(except *Step) int {
	n := 0
	for _, s := range tr.t.Steps {
		if s == except {
			continue
		}
		switch s.state {
		case "enqueued", "in_progress", "enqueued_for_orchestration", "enqueued_as_error_for_orchestration":
			n++
		}
	}
	return n
}

// arrive is Tasker's handle_step_result_with_metadata: a span with step_uuid and
// correlation_id (no namespace), where the step's and the task's transitions are recorded.
func (tr *taskRun) arrive(at time.Duration, s *Step, ok bool) {
	t, p := tr.t, tr.p
	h, o := tr.orchSpan("handle_step_result_with_metadata", t.root, at, attribute.String("step_uuid", s.UUID), attribute.String("correlation_id", t.Correlation))
	retryable := false
	switch {
	case ok:
		p.emit(t, s, h, s.state, "complete", o)
	case s.claims < maxAttempts:
		p.emit(t, s, h, s.state, "waiting_for_retry", o)
		retryable = true
		backoff := time.Duration(float64(time.Second) * math.Pow(2, float64(s.claims-1)) * (0.8 + 0.4*p.r.Float64()))
		tr.push(&event{at: o + backoff, kind: evRetryDue, step: s, gen: s.gen})
	default:
		p.emit(t, s, h, s.state, "error", o)
	}
	enqueue := false
	switch t.state {
	case "steps_in_process":
		if retryable && tr.inFlight(nil) == 0 {
			o = tr.tick(o)
			p.emit(t, nil, h, "steps_in_process", "waiting_for_retry", o)
			break
		}
		o, enqueue = tr.evaluate(h, o, true)
	case "waiting_for_dependencies":
		o = tr.tick(o)
		p.emit(t, nil, h, "waiting_for_dependencies", "evaluating_results", o)
		o, enqueue = tr.evaluate(h, o, false)
	}
	tr.closeOrch(h, o)
	if enqueue {
		tr.enqueueRound(o, false)
	}
}

// evaluate decides where a task goes from evaluating_results (entered from steps_in_process
// when fromSIP, and then still to be recorded). It reports whether an enqueue round follows.
func (tr *taskRun) evaluate(h *Span, o time.Duration, fromSIP bool) (time.Duration, bool) {
	t, p := tr.t, tr.p
	allComplete, anyError := true, false
	for _, s := range t.Steps {
		if s.state != "complete" {
			allComplete = false
		}
		if s.state == "error" {
			anyError = true
		}
	}
	target := "waiting_for_dependencies"
	switch {
	case allComplete:
		target = "complete"
	case anyError:
		target = "blocked_by_failures"
	case len(tr.ready()) > 0:
		target = "enqueuing_steps"
	}
	if fromSIP && target == "enqueuing_steps" && t.invalidSkipEval {
		// Injected fault: the evaluation is skipped (steps_in_process → enqueuing_steps).
		t.invalidSkipEval = false
		o = tr.tick(o)
		p.emit(t, nil, h, "steps_in_process", "enqueuing_steps", o)
		return o, true
	}
	if fromSIP {
		o = tr.tick(o)
		p.emit(t, nil, h, "steps_in_process", "evaluating_results", o)
	}
	o = tr.tick(o)
	p.emit(t, nil, h, "evaluating_results", target, o)
	if target == "blocked_by_failures" {
		tr.push(&event{at: o + p.jitter(20*time.Second, 60*time.Second), kind: evBlockedDecision})
	}
	return o, target == "enqueuing_steps"
}

func (tr *taskRun) retryDue(at time.Duration, s *Step) {
	t, p := tr.t, tr.p
	switch t.state {
	case "waiting_for_retry":
		h, o := tr.orchSpan("process_single_task_from_ready_info", t.root, at, tr.taskAttrs(true)...)
		p.emit(t, nil, h, "waiting_for_retry", "enqueuing_steps", o)
		tr.closeOrch(h, o)
		tr.enqueueRound(o, false, s)
	case "waiting_for_dependencies":
		h, o := tr.orchSpan("process_single_task_from_ready_info", t.root, at, tr.taskAttrs(true)...)
		p.emit(t, nil, h, "waiting_for_dependencies", "evaluating_results", o)
		o = tr.tick(o)
		p.emit(t, nil, h, "evaluating_results", "enqueuing_steps", o)
		tr.closeOrch(h, o)
		tr.enqueueRound(o, false, s)
	default: // steps_in_process: other steps are running; re-enqueue this one alongside
		tr.enqueueRound(at, true, s)
	}
}

func (tr *taskRun) cancel(at time.Duration) {
	t, p := tr.t, tr.p
	h, o := tr.orchSpan("cancel_task", t.root, at, tr.taskAttrs(true)...)
	p.emit(t, nil, h, t.state, "cancelled", o)
	// Every other cancellation that finds steps still pending (the first included) leaves
	// them as they are: a cancelled task with unfinished steps.
	sparePending := false
	for _, s := range t.Steps {
		if s.state == "pending" {
			p.cancelN++
			sparePending = p.cancelN%2 == 1
			break
		}
	}
	for _, s := range t.Steps {
		switch s.state {
		case "pending", "enqueued", "waiting_for_retry", "error", "enqueued_for_orchestration", "enqueued_as_error_for_orchestration":
			if s.state == "pending" && sparePending {
				break
			}
			o = tr.tick(o)
			p.emit(t, s, h, s.state, "cancelled", o)
			s.gen++
		case "in_progress":
			// The worker notices the cancellation and stops the handler.
			s.gen++
			if s.exec != nil {
				wt := o + p.jitter(5*time.Millisecond, 30*time.Millisecond)
				p.emit(t, s, s.exec, "in_progress", "cancelled", wt)
				s.exec.End = wt + 200*time.Microsecond
				s.exec.Failed = true
				s.exec = nil
			}
		}
		if s.exec != nil { // a run whose claim was lost: the worker stops it too
			s.exec.End = o + time.Millisecond
			s.exec.Failed = true
			s.exec = nil
		}
	}
	tr.closeOrch(h, o)
}

func (tr *taskRun) blockedDecision(at time.Duration) {
	t, p := tr.t, tr.p
	if t.Fate == FateFailResolve {
		h, o := tr.orchSpan("resolve_task_manually", t.root, at, tr.taskAttrs(true)...)
		for _, s := range t.Steps {
			if s.state == "error" {
				o = tr.tick(o)
				p.emit(t, s, h, "error", "resolved_manually", o)
			}
		}
		o = tr.tick(o)
		p.emit(t, nil, h, "blocked_by_failures", "resolved_manually", o)
		tr.closeOrch(h, o)
		return
	}
	h, o := tr.orchSpan("finalize_task", t.root, at, tr.taskAttrs(false)...)
	p.emit(t, nil, h, "blocked_by_failures", "error", o)
	tr.closeOrch(h, o)
}

// injectFaults adds duplicates and marks late carriers.
func (p *planner) injectFaults() {
	orig := append([]*Transition(nil), p.plan.Transitions...)
	for _, tr := range orig {
		if p.r.Float64() < p.opts.LateRate {
			tr.Carrier.Late = true
		}
		if p.r.Float64() < p.opts.DuplicateRate {
			p.duplicate(tr)
		}
	}
}

// duplicate re-sends exactly the same transition (same entity, from, to and time) in a new span:
// for the span shape a copy of the transition span, for the event shape a copy of the
// enclosing span that holds only this event.
func (p *planner) duplicate(orig *Transition) {
	d := *orig
	d.Duplicate = true
	d.orig = orig
	src := orig.Carrier
	cp := &Span{
		Service: src.Service, Instance: src.Instance, Name: src.Name, TraceID: src.TraceID, SpanID: p.id8(),
		ParentID: src.ParentID, Attrs: src.Attrs, Dup: true, seq: p.seq, task: src.task,
	}
	p.seq++
	if orig.AsSpan {
		cp.Start, cp.End = src.Start, src.End
		cp.Transition = &d
	} else {
		cp.Start, cp.End = orig.At-time.Millisecond, orig.At+time.Millisecond
		cp.Events = []*Transition{&d}
	}
	d.Carrier = cp
	cp.Late = src.Late
	p.plan.Spans = append(p.plan.Spans, cp)
	p.plan.Transitions = append(p.plan.Transitions, &d)
	if orig.Step != nil {
		orig.Step.Transitions = append(orig.Step.Transitions, &d)
	} else {
		orig.Task.Transitions = append(orig.Task.Transitions, &d)
	}
}

// schedule decides when each span is handed to the SDK: at its end, mapped to wall time by
// Speed, plus the worker delay, the late delay, and for a duplicate the duplicate delay after
// its original.
func (p *planner) schedule() {
	o := p.opts
	var last time.Duration
	for _, s := range p.plan.Spans {
		if s.End > last {
			last = s.End
		}
	}
	p.plan.Span = last
	origEmit := map[*Span]time.Duration{}
	for _, s := range p.plan.Spans {
		if s.Dup {
			continue
		}
		s.EmitAt = p.emitAt(s)
		origEmit[s] = s.EmitAt
	}
	for _, tr := range p.plan.Transitions {
		if tr.Duplicate {
			tr.Carrier.EmitAt = origEmit[tr.orig.Carrier] + o.DuplicateDelay
		}
	}
	sort.SliceStable(p.plan.Spans, func(i, j int) bool {
		a, b := p.plan.Spans[i], p.plan.Spans[j]
		if a.EmitAt != b.EmitAt {
			return a.EmitAt < b.EmitAt
		}
		return a.seq < b.seq
	})
}

func (p *planner) emitAt(s *Span) time.Duration {
	at := time.Duration(float64(s.End) / p.opts.Speed)
	if s.Service == ServiceWorker {
		at += p.opts.WorkerDelay
	}
	if s.Late {
		at += p.opts.LateDelay
	}
	return at
}
