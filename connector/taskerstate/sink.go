package taskerstate // import "github.com/tasker-systems/otelcol-tasker/connector/taskerstate"

import (
	"strconv"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/series"
	"github.com/tasker-systems/otelcol-tasker/internal/engine"
	"github.com/tasker-systems/otelcol-tasker/internal/snapshot"
	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// unknown is the value of namespace and handler_name when they cannot be learned.
const unknown = "unknown"

// sink turns the entity log's facts into series (docs/telemetry.md §7). The engine calls it
// with its lock held, which guards the series too.
type sink struct {
	table  *series.Table
	extras interface {
		ExtraValues(id uint32) ([]string, bool)
	}
	exemplars bool
	now       int64 // the collector's clock as facts are derived, ns
	vals      [8]string
}

var (
	_ engine.Sink        = (*sink)(nil)
	_ engine.Snapshotter = (*sink)(nil)
)

// Fingerprint, WriteSnapshot and ReadSnapshot implement engine.Snapshotter: the series are
// kept with the entity log across restarts.
func (s *sink) Fingerprint() uint64              { return s.table.Fingerprint() }
func (s *sink) WriteSnapshot(w *snapshot.Writer) { s.table.WriteSnapshot(w) }

func (s *sink) ReadSnapshot(r *snapshot.Reader, shift int64, resources int) (func(), error) {
	t, err := s.table.ReadSnapshot(r, shift, resources)
	if err != nil {
		return nil, err
	}
	return func() { s.table = t }, nil
}

// Settling implements engine.Sink: the time series are updated at.
func (s *sink) Settling(now int64) { s.now = now }

func orUnknown(s string) string {
	if s == "" {
		return unknown
	}
	return s
}

// Fact implements statelog.Sink: it adds one derived fact to its series.
func (s *sink) Fact(f *statelog.Fact[engine.Payload]) {
	m := tasker.MachineOf(f.Kind)
	ns := orUnknown(f.Namespace)
	v := s.vals[:0]
	step := f.Kind == tasker.KindStep
	switch f.Type {
	case statelog.FactTransition:
		from, to := stateName(m, f.From), stateName(m, f.To)
		s.add(pick(step, series.StepTransitions, series.TaskTransitions), f, append(v, ns, from, to, f.Event), 1)
		if f.Invalid {
			s.add(series.Invalid, f, append(s.vals[:0], f.Kind.String(), from, to), 1)
		}
	case statelog.FactStateDuration:
		s.add(pick(step, series.StepStateDuration, series.TaskStateDuration), f, append(v, f.State.String(), ns), f.Seconds)
	case statelog.FactCompletion:
		s.add(series.TaskCompletion, f, append(v, ns, f.State.String()), f.Seconds)
	case statelog.FactAttempt:
		s.add(series.StepAttempts, f, append(v, orUnknown(f.Handler), ns, f.Outcome, strconv.Itoa(f.Ordinal)), 1)
	case statelog.FactStepOutcome:
		v = append(v, ns, orUnknown(f.Handler), f.Outcome)
		if !f.Refused {
			s.add(series.StepCompletion, f, v, f.Seconds)
		}
		s.add(series.StepAttemptCount, f, v, float64(f.Ordinal))
	}
}

func pick(step bool, forStep, forTask series.Metric) series.Metric {
	if step {
		return forStep
	}
	return forTask
}

// stateName is a state as a metric attribute: "none" for no previous state, and a task's
// legacy in_progress as steps_in_process.
func stateName(m *tasker.Machine, st tasker.State) string { return m.Canonical(st).String() }

// add records value (an increment of 1 for sums, an observation for histograms) in the
// series of metric id with the given attribute values and the fact's extra dimensions.
func (s *sink) add(id series.Metric, f *statelog.Fact[engine.Payload], vals []string, value float64) {
	p := f.Data
	if p.Extra != 0 {
		if extra, ok := s.extras.ExtraValues(p.Extra); ok {
			vals = append(vals, extra...)
		} else {
			vals = nil // the values could not be kept: the overflow series counts it
		}
	}
	var ex *series.Exemplar
	if s.exemplars {
		ex = &series.Exemplar{TraceID: p.TraceID, SpanID: p.SpanID, Correlation: f.Correlation, Value: value, Time: f.Time}
	}
	s.table.Add(id, p.Resource, vals, value, s.now, ex)
}

// setLiveGauges sets the four live-state gauges (§7 Live state) from the log's live series:
// the number of live entities and when the longest waiting entered the state.
func (s *sink) setLiveGauges(log *statelog.Log[engine.Payload]) {
	log.Live(func(ls *statelog.LiveSeries) {
		v := append(s.vals[:0], orUnknown(ls.Namespace), ls.State.String())
		count, since := series.TaskInState, series.TaskOldestInStateSince
		if ls.Kind == tasker.KindStep {
			count, since = series.StepInState, series.StepOldestInStateSince
		}
		s.table.SetGauge(count, ls.Resource, v, float64(ls.Count), s.now)
		s.table.SetGauge(since, ls.Resource, v, float64(ls.OldestSince)/1e9, s.now)
	})
	s.table.EndGauges()
}
