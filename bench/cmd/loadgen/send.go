package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// rawCodec sends a request's bytes as they are, so a sender never marshals: the pool is
// marshalled once and only renamed in place. It hands gRPC a copy, because gRPC may still
// hold the bytes it was given when the call returns (the next pass renames them). It names
// itself "proto", the content subtype the collector's OTLP receiver expects.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return append([]byte(nil), v.([]byte)...), nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	p := v.(*[]byte)
	*p = append((*p)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// SendOptions say where to send, with how many senders and for how long.
type SendOptions struct {
	Endpoint string
	Senders  int
	Warmup   time.Duration // sent, not counted
	Duration time.Duration // counted
}

// Result is what the counted window saw: only spans of requests that the collector answered
// with OK inside the window, less the spans it said it rejected (OTLP partial success).
type Result struct {
	Accepted       int64
	Rejected       int64 // spans of refused requests and partial rejections
	FailedRequests int64
	Requests       int64
	Seconds        float64
	FirstError     error
}

func (r Result) SpansPerSecond() float64 { return float64(r.Accepted) / r.Seconds }

// maxPasses keeps a generation (sender<<40 | pass) within the 48 bits of a UUID's tail.
const maxPasses = 1 << 40

// Send runs the senders, each on its own connection and its own copy of the pool, each
// sending its next request as soon as the collector has answered the last.
func Send(ctx context.Context, pool *Pool, o SendOptions) (Result, error) {
	if o.Senders < 1 || o.Senders > 255 {
		return Result{}, fmt.Errorf("senders must be 1..255, got %d", o.Senders)
	}
	start := time.Now()
	from, until := start.Add(o.Warmup), start.Add(o.Warmup+o.Duration)
	ctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()

	results := make([]Result, o.Senders)
	var wg sync.WaitGroup
	for i := range o.Senders {
		conn, err := grpc.NewClient(o.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return Result{}, fmt.Errorf("connecting to %s: %w", o.Endpoint, err)
		}
		defer conn.Close()
		own := pool.Clone()
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = sendLoop(ctx, conn, own, uint64(i+1)<<40, from, until)
		}()
	}
	wg.Wait()
	total := Result{Seconds: until.Sub(from).Seconds()}
	for _, r := range results {
		total.Accepted += r.Accepted
		total.Rejected += r.Rejected
		total.FailedRequests += r.FailedRequests
		total.Requests += r.Requests
		if total.FirstError == nil {
			total.FirstError = r.FirstError
		}
	}
	return total, nil
}

func sendLoop(ctx context.Context, conn *grpc.ClientConn, pool *Pool, genBase uint64, from, until time.Time) Result {
	var res Result
	var reply []byte
	resp := ptraceotlp.NewExportResponse()
	opts := []grpc.CallOption{grpc.ForceCodec(rawCodec{}), grpc.WaitForReady(true)}
	for pass := uint64(1); pass < maxPasses; pass++ {
		for i := range pool.Requests {
			r := &pool.Requests[i]
			r.Rename(genBase | pass)
			err := conn.Invoke(ctx, exportMethod, r.Proto, &reply, opts...)
			now := time.Now()
			if ctx.Err() != nil || now.After(until) {
				return res // answered after the window, or cut off by its end: not counted
			}
			counted := !now.Before(from)
			rejected := int64(0)
			if err == nil && len(reply) > 0 {
				if uerr := resp.UnmarshalProto(reply); uerr != nil {
					err = fmt.Errorf("reading the export response: %w", uerr)
				} else {
					rejected = min(resp.PartialSuccess().RejectedSpans(), int64(r.Spans))
				}
			}
			if err != nil {
				rejected = int64(r.Spans)
				if res.FirstError == nil {
					res.FirstError = err
				}
			}
			if counted {
				res.Requests++
				res.Accepted += int64(r.Spans) - rejected
				res.Rejected += rejected
				if err != nil {
					res.FailedRequests++
				}
			}
			if err != nil {
				// A refusing collector is not hammered in a tight loop.
				select {
				case <-ctx.Done():
					return res
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
	}
	res.FirstError = errors.Join(res.FirstError, errors.New("ran out of generations"))
	return res
}
