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
