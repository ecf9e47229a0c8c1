package main

import (
	"context"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"math"
	"net"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	"github.com/tasker-systems/otelcol-tasker/cmd/taskersim/sim"
)

// Pool is the traffic one sender repeats: the OTLP export requests the simulator's own
// exporters sent, in the order they arrived, marshalled once. Every pass over it renames the
// entities (see Request.Rename), so the collector keeps seeing new tasks and steps.
type Pool struct {
	Requests []Request
	Tasks    int // tasks planned, live ones included
	Live     int // tasks cut off mid-flight: they never finish
	Spans    int // spans in one pass
	// Transitions carried in one pass: transition events and transition spans, duplicates
	// and invalid ones included.
	Transitions int
}

// Request is one marshalled ExportTraceServiceRequest and where its entity names sit in it.
type Request struct {
	Proto []byte
	Spans int
	// UUIDTails are the offsets of the last 12 hex digits of every task, step and correlation
	// UUID in Proto; TraceTails those of the last 8 bytes of every span's trace id.
	UUIDTails  []int
	TraceTails []int
}

// PoolOptions say what the pool is planned from.
type PoolOptions struct {
	Seed  uint64
	Tasks int
	// LiveShare is the share of tasks cut off mid-flight (cutLiveTasks): they and their steps
	// stay in the collector's stores (until idle_ttl or the entity cap) instead of finishing.
	LiveShare float64
}

// BuildPool plans tasks with the simulator (its defaults: mixed shapes, both services, two
// workers, injected invalid, duplicate and late transitions), cuts the live share off
// mid-flight, and captures what the simulator's OTLP exporters send, through an in-process
// OTLP gRPC server on loopback.
func BuildPool(ctx context.Context, o PoolOptions) (*Pool, error) {
	so := sim.DefaultOptions()
	so.Seed, so.Tasks = o.Seed, o.Tasks
	// 20 tasks start per simulated second (Speed/Rate), and the whole plan replays in about
	// Tasks/Rate wall seconds. The delays keep their simulated size at this speed, so arrival
	// order stays Tasker's (worker spans late, some transitions late or repeated).
	so.Rate, so.Speed = 4000, 200
	so.WorkerDelay = time.Duration(float64(so.WorkerDelay) / so.Speed)
	so.LateDelay = time.Duration(float64(so.LateDelay) / so.Speed)
	so.DuplicateDelay = time.Duration(float64(so.DuplicateDelay) / so.Speed)
	now := time.Now()
	plan, _, base, err := sim.Prepare(so, now)
	if err != nil {
		return nil, fmt.Errorf("planning the traffic: %w", err)
	}
	live := cutLiveTasks(plan, o.LiveShare)

	ids := map[string]bool{}
	traces := map[[16]byte]bool{}
	for _, t := range plan.Tasks {
		ids[t.UUID], ids[t.Correlation] = true, true
		for _, s := range t.Steps {
			ids[s.UUID] = true
		}
	}
	for _, s := range plan.Spans {
		traces[s.TraceID] = true
	}

	protos, err := capture(ctx, plan, base, now)
	if err != nil {
		return nil, err
	}
	pool := &Pool{Tasks: len(plan.Tasks), Live: live}
	for _, s := range plan.Spans {
		pool.Transitions += len(s.Events)
		if s.Transition != nil {
			pool.Transitions++
		}
	}
	for _, c := range protos {
		r := Request{Proto: c.proto, Spans: c.spans}
		r.UUIDTails = uuidTails(c.proto, ids)
		r.TraceTails = traceTails(c.proto, traces)
		if len(r.TraceTails) != c.spans {
			return nil, fmt.Errorf("found %d trace ids in a request of %d spans", len(r.TraceTails), c.spans)
		}
		pool.Requests = append(pool.Requests, r)
		pool.Spans += c.spans
	}
	if pool.Spans != len(plan.Spans) {
		return nil, fmt.Errorf("captured %d spans of the %d planned", pool.Spans, len(plan.Spans))
	}
	return pool, nil
}

// cutLiveTasks cuts an evenly spread share of the tasks off mid-flight: at the first claim of
// one of its steps (kept), or just before whatever else first moves a step past enqueued or
// the task out of steps_in_process. Later spans and transitions of those tasks are removed
// from the plan, so the task stays in steps_in_process and its steps are pending, enqueued or
// in an open attempt. It returns how many tasks it cut.
func cutLiveTasks(p *sim.Plan, share float64) int {
	cut := map[[16]byte]time.Duration{} // trace id of a live task -> its cut time
	for i, t := range p.Tasks {
		if int(float64(i+1)*share) == int(float64(i)*share) || len(t.Transitions) == 0 {
			continue
		}
		at := time.Duration(math.MaxInt64)
		for _, tr := range t.Transitions {
			if tr.From == "steps_in_process" {
				at = min(at, tr.At-1)
			}
		}
		for _, s := range t.Steps {
			for _, tr := range s.Transitions {
				switch tr.To {
				case "pending", "enqueued":
				case "in_progress":
					at = min(at, tr.At)
				default:
					at = min(at, tr.At-1)
				}
			}
		}
		cut[t.Transitions[0].Home.TraceID] = at
	}
	kept := p.Spans[:0]
	for _, s := range p.Spans {
		at, isLive := cut[s.TraceID]
		if !isLive {
			kept = append(kept, s)
			continue
		}
		if s.Start > at || (s.Transition != nil && s.Transition.At > at) {
			continue
		}
		events := s.Events[:0]
		for _, ev := range s.Events {
			if ev.At <= at {
				events = append(events, ev)
			}
		}
		s.Events = events
		if s.Dup && s.Transition == nil && len(s.Events) == 0 {
			continue // a re-send of transitions that never happened
		}
		s.End = min(s.End, at)
		kept = append(kept, s)
	}
	p.Spans = kept
	return len(cut)
}

type captured struct {
	proto []byte
	spans int
}

// captureServer keeps every export request it receives, marshalled.
type captureServer struct {
	ptraceotlp.UnimplementedGRPCServer
	mu   sync.Mutex
	reqs []captured
	err  error
}

func (c *captureServer) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	b, err := req.MarshalProto()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.err = err
	} else {
		c.reqs = append(c.reqs, captured{proto: b, spans: req.Traces().SpanCount()})
	}
	return ptraceotlp.NewExportResponse(), nil
}

func capture(ctx context.Context, plan *sim.Plan, base, start time.Time) ([]captured, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("capture server: %w", err)
	}
	srv := grpc.NewServer()
	cs := &captureServer{}
	ptraceotlp.RegisterGRPCServer(srv, cs)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	stats, err := sim.Emit(ctx, plan, sim.EmitOptions{Endpoint: lis.Addr().String(), Base: base, Start: start})
	if err != nil {
		return nil, fmt.Errorf("capturing the simulator's export: %w", err)
	}
	if stats.Incomplete {
		return nil, fmt.Errorf("capturing the simulator's export: interrupted after %d spans", stats.Spans)
	}
	srv.GracefulStop()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.reqs, cs.err
}

// uuidTails finds every UUID of ids in b and returns the offsets of their last 12 hex digits.
func uuidTails(b []byte, ids map[string]bool) []int {
	var tails []int
	for i := 0; i+36 <= len(b); i++ {
		if b[i+8] != '-' || b[i+13] != '-' || b[i+18] != '-' || b[i+23] != '-' || !ids[string(b[i:i+36])] {
			continue
		}
		tails = append(tails, i+24)
		i += 35
	}
	return tails
}

// traceTails finds every span's trace id (protobuf field 1 of a Span: tag 0x0a, length 16)
// and returns the offsets of its last 8 bytes.
func traceTails(b []byte, traces map[[16]byte]bool) []int {
	var tails []int
	for i := 0; i+18 <= len(b); i++ {
		if b[i] != 0x0a || b[i+1] != 16 || !traces[[16]byte(b[i+2:i+18])] {
			continue
		}
		tails = append(tails, i+10)
		i += 17
	}
	return tails
}

const hexDigits = "0123456789abcdef"

// Rename gives every entity of the request the generation gen (48 bits): it becomes the last
// 12 hex digits of each UUID and the last 8 bytes of each trace id. Requests of one pass share
// a generation, so one task's spans still belong together.
func (r *Request) Rename(gen uint64) {
	var tail [12]byte
	for i := range tail {
		tail[11-i] = hexDigits[(gen>>(4*i))&0xf]
	}
	for _, off := range r.UUIDTails {
		copy(r.Proto[off:off+12], tail[:])
	}
	for _, off := range r.TraceTails {
		binary.BigEndian.PutUint64(r.Proto[off:off+8], gen)
	}
}

// Clone gives a sender its own copy of the pool to rename.
func (p *Pool) Clone() *Pool {
	c := *p
	c.Requests = make([]Request, len(p.Requests))
	for i, r := range p.Requests {
		r.Proto = append([]byte(nil), r.Proto...)
		c.Requests[i] = r
	}
	return &c
}

func (p *Pool) Write(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := gob.NewEncoder(f).Encode(p); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

func ReadPool(path string) (*Pool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var p Pool
	if err := gob.NewDecoder(f).Decode(&p); err != nil {
		return nil, fmt.Errorf("reading pool %s: %w", path, err)
	}
	if len(p.Requests) == 0 {
		return nil, fmt.Errorf("pool %s holds no request", path)
	}
	return &p, nil
}
