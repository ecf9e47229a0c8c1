package sim

import (
	"context"
	"time"
)

// Prepare plans a run and computes its ground truth, with telemetry time placed so that every
// span is in the past when it is sent and the last ones are close to now.
func Prepare(opts Options, now time.Time) (*Plan, *Truth, time.Time, error) {
	p, err := NewPlan(opts)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	// A span ending at plan time e is sent at wall now+e/Speed (plus delays), so base is chosen
	// with base+e <= now+e/Speed for every e <= p.Span.
	lag := time.Duration(float64(p.Span)*(1-1/opts.Speed)) + max(0, opts.WorkerSkew)
	base := now.Add(-lag - time.Second).Truncate(time.Millisecond)
	return p, ComputeTruth(p, base), base, nil
}

// Run plans, computes the ground truth and sends the telemetry to an OTLP gRPC endpoint.
func Run(ctx context.Context, opts Options, endpoint string) (*Truth, Stats, error) {
	now := time.Now()
	p, truth, base, err := Prepare(opts, now)
	if err != nil {
		return nil, Stats{}, err
	}
	stats, err := Emit(ctx, p, EmitOptions{Endpoint: endpoint, Base: base, Start: now})
	return truth, stats, err
}

// Sent returns the plan as a collector sees it when only the given spans of p reach it (a
// run sent in parts, some of it lost to a crash): the spans in p's order, and each task and
// step with the transitions those spans carry. A duplicate whose original is not among them
// is the entity's transition. Emit sends the part, ComputeTruth gives its ground truth; p
// is not changed.
func (p *Plan) Sent(spans []*Span) *Plan {
	in := make(map[*Span]bool, len(spans))
	for _, s := range spans {
		in[s] = true
	}
	sent := map[*Transition]*Transition{} // what each transition of p is in the part, if sent
	part := &Plan{Opts: p.Opts, Span: p.Span}
	for _, s := range p.Spans {
		if in[s] {
			part.Spans = append(part.Spans, s)
		}
	}
	for _, tr := range p.Transitions {
		if !in[tr.Carrier] {
			continue
		}
		if tr.Duplicate && !in[tr.orig.Carrier] {
			orig := *tr
			orig.Duplicate, orig.orig = false, nil
			sent[tr] = &orig
		} else {
			sent[tr] = tr
		}
		part.Transitions = append(part.Transitions, sent[tr])
	}
	keep := func(trs []*Transition) []*Transition {
		var out []*Transition
		for _, tr := range trs {
			if s := sent[tr]; s != nil {
				out = append(out, s)
			}
		}
		return out
	}
	for _, task := range p.Tasks {
		t := *task
		t.Transitions = keep(task.Transitions)
		t.Steps = nil
		for _, step := range task.Steps {
			s := *step
			s.Transitions = keep(step.Transitions)
			t.Steps = append(t.Steps, &s)
		}
		part.Tasks = append(part.Tasks, &t)
	}
	return part
}
