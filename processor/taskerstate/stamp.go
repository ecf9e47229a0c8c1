package taskerstate // import "github.com/tasker-systems/otelcol-tasker/processor/taskerstate"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

// stampPrefix starts every attribute of the stamp contract.
const stampPrefix = "tasker."

// The stamp contract (§6): attribute names written on transition spans and events.
const (
	AttrEventName  = "tasker.event.name"
	AttrEntityKind = "tasker.entity.kind"
	AttrNamespace  = "tasker.namespace"
	AttrStateDur   = "tasker.state.duration"
	AttrTaskDur    = "tasker.task.duration"
	AttrAttempt    = "tasker.step.attempt"
	AttrHandler    = "tasker.step.handler"
	AttrInvalid    = "tasker.transition.invalid"
	AttrDuplicate  = "tasker.transition.duplicate"
	// On the step transition that decides the step's outcome (§7 Step outcomes across
	// retries): its end-to-end time and how many attempts it made.
	AttrStepCompletion   = "tasker.step.completion_duration"
	AttrStepAttemptCount = "tasker.step.attempt_count"
)

// The values of tasker.entity.kind.
var kindNames = [tasker.NumKinds]string{tasker.KindTask: "task", tasker.KindStep: "step"}

// stamp writes the §6 attributes onto the transition's carrier, tallying invalid moves and
// the stamps not written because the attribute already existed.
func (p *stateProcessor) stamp(t *transition.Transition, s statelog.Stamps, duplicate bool, tally *batchTally) {
	m := tasker.MachineOf(t.Kind)
	event := m.EventName(t.From, t.To)
	invalid := !m.Valid(t.From, t.To)
	step := t.Kind == tasker.KindStep
	// The attribute slice grows once, by exactly the stamps that follow.
	n := 1 + count(event != "") + count(s.Namespace != "") + count(s.HasStateSeconds) + count(s.HasTaskSeconds) +
		count(invalid) + count(duplicate)
	if step {
		n += count(s.Attempt > 0) + count(s.Handler != "") + count(s.HasOutcome) + count(s.HasStepSeconds)
	}
	t.Attrs.EnsureCapacity(t.Attrs.Len() + n)
	w := newStamper(t.Attrs)
	if event != "" {
		w.str(AttrEventName, event)
	}
	w.str(AttrEntityKind, kindNames[t.Kind])
	if s.Namespace != "" {
		w.str(AttrNamespace, s.Namespace)
	}
	if s.HasStateSeconds {
		w.double(AttrStateDur, s.StateSeconds)
	}
	if s.HasTaskSeconds {
		w.double(AttrTaskDur, s.TaskSeconds)
	}
	if step {
		if s.Attempt > 0 {
			w.int(AttrAttempt, int64(s.Attempt))
		}
		if s.Handler != "" {
			w.str(AttrHandler, s.Handler)
		}
		if s.HasStepSeconds {
			w.double(AttrStepCompletion, s.StepSeconds)
		}
		if s.HasOutcome {
			w.int(AttrStepAttemptCount, int64(s.StepAttempts))
		}
	}
	if invalid {
		tally.invalid[t.Kind]++
		w.bool(AttrInvalid)
	}
	if duplicate {
		w.bool(AttrDuplicate)
	}
	tally.clashes += w.clashes
}

func count(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stamper adds attributes without ever overwriting one that is present.
type stamper struct {
	attrs pcommon.Map
	// anyStamp: the carrier already holds a tasker.* attribute, so each stamp must look
	// before it writes; most carriers hold none, and one pass tells.
	anyStamp bool
	clashes  int64
}

func newStamper(attrs pcommon.Map) stamper {
	w := stamper{attrs: attrs}
	for k := range attrs.All() {
		if strings.HasPrefix(k, stampPrefix) {
			w.anyStamp = true
			break
		}
	}
	return w
}

func (w *stamper) free(key string) bool {
	if !w.anyStamp {
		return true
	}
	if _, ok := w.attrs.Get(key); ok {
		w.clashes++
		return false
	}
	return true
}

func (w *stamper) str(key, v string) {
	if w.free(key) {
		w.attrs.PutStr(key, v)
	}
}

func (w *stamper) double(key string, v float64) {
	if w.free(key) {
		w.attrs.PutDouble(key, v)
	}
}

func (w *stamper) int(key string, v int64) {
	if w.free(key) {
		w.attrs.PutInt(key, v)
	}
}

func (w *stamper) bool(key string) {
	if w.free(key) {
		w.attrs.PutBool(key, true)
	}
}
