package main

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func testPool(t *testing.T) *Pool {
	t.Helper()
	return buildPool(t, 3, 40)
}

func buildPool(t *testing.T, seed uint64, tasks int) *Pool {
	t.Helper()
	p, err := BuildPool(context.Background(), PoolOptions{Seed: seed, Tasks: tasks, LiveShare: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func decode(t *testing.T, r Request) ptrace.Traces {
	t.Helper()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(r.Proto); err != nil {
		t.Fatal(err)
	}
	return req.Traces()
}

// eachSpan calls f for every span of td.
func eachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				f(spans.At(k))
			}
		}
	}
}

// transitions calls f for every transition carrier (a transition event, or a span with
// from_state/to_state) with the carrier's attributes and whether it is a task transition.
func transitions(td ptrace.Traces, f func(task bool, attrs pcommon.Map)) {
	eachSpan(td, func(s ptrace.Span) {
		evs := s.Events()
		for e := 0; e < evs.Len(); e++ {
			if _, ok := evs.At(e).Attributes().Get("to_state"); ok {
				f(strings.HasPrefix(evs.At(e).Name(), "Task"), evs.At(e).Attributes())
			}
		}
		if _, ok := s.Attributes().Get("to_state"); ok {
			f(strings.HasPrefix(s.Name(), "task."), s.Attributes())
		}
	})
}

func str(m pcommon.Map, k string) string {
	v, _ := m.Get(k)
	return v.Str()
}

// Every fate of the simulator (cancellations and lost claims included) over a few seeds: the
// live quarter of the tasks, and every step of theirs, never reaches a terminal state; all
// other tasks do.
func TestPoolKeepsTheLiveShareUnfinished(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		checkLiveShare(t, buildPool(t, seed, 120))
	}
}

func checkLiveShare(t *testing.T, p *Pool) {
	if p.Tasks != 120 || p.Live != 30 {
		t.Fatalf("tasks %d, live %d; want 120 and 30", p.Tasks, p.Live)
	}
	taskTerminal := map[string]bool{"complete": true, "error": true, "cancelled": true, "resolved_manually": true}
	stepTerminal := map[string]bool{"complete": true, "cancelled": true, "resolved_manually": true}
	tasks, finished := map[string]bool{}, map[string]bool{}
	stepsOf := map[string]map[string]bool{} // task -> its steps seen
	stepDone := map[string]bool{}
	spans, carriers := 0, 0
	for _, r := range p.Requests {
		td := decode(t, r)
		if td.SpanCount() != r.Spans {
			t.Fatalf("request says %d spans, holds %d", r.Spans, td.SpanCount())
		}
		spans += r.Spans
		transitions(td, func(task bool, a pcommon.Map) {
			carriers++
			id, to := str(a, "task_uuid"), str(a, "to_state")
			if task {
				tasks[id] = true
				if taskTerminal[to] {
					finished[id] = true
				}
				return
			}
			step := str(a, "step_uuid")
			if stepsOf[id] == nil {
				stepsOf[id] = map[string]bool{}
			}
			stepsOf[id][step] = true
			if stepTerminal[to] {
				stepDone[step] = true
			}
		})
	}
	if spans != p.Spans || carriers != p.Transitions {
		t.Fatalf("requests hold %d spans and %d transitions, pool says %d and %d", spans, carriers, p.Spans, p.Transitions)
	}
	if len(tasks) != p.Tasks || len(finished) != p.Tasks-p.Live {
		t.Fatalf("%d tasks, %d finished; want %d and %d", len(tasks), len(finished), p.Tasks, p.Tasks-p.Live)
	}
	for task := range tasks {
		if finished[task] {
			continue
		}
		if len(stepsOf[task]) == 0 {
			t.Errorf("live task %s shows no step", task)
		}
		for step := range stepsOf[task] {
			if stepDone[step] {
				t.Errorf("step %s of live task %s finished", step, task)
			}
		}
	}
}

// ids collects every task and step id and every trace id of a pass.
func ids(t *testing.T, p *Pool) (entities map[string]bool, traces map[pcommon.TraceID]bool) {
	entities, traces = map[string]bool{}, map[pcommon.TraceID]bool{}
	for _, r := range p.Requests {
		td := decode(t, r)
		transitions(td, func(_ bool, a pcommon.Map) {
			entities[str(a, "task_uuid")] = true
			if s := str(a, "step_uuid"); s != "" {
				entities[s] = true
			}
		})
		eachSpan(td, func(s ptrace.Span) { traces[s.TraceID()] = true })
	}
	return entities, traces
}

func TestRenameGivesEveryEntityAndTraceANewName(t *testing.T) {
	p := testPool(t)
	before, beforeTraces := ids(t, p)
	for i := range p.Requests {
		p.Requests[i].Rename(0xabcdef012345)
	}
	after, afterTraces := ids(t, p)
	if len(after) != len(before) || len(afterTraces) != len(beforeTraces) {
		t.Fatalf("renaming changed the number of entities (%d -> %d) or traces (%d -> %d)",
			len(before), len(after), len(beforeTraces), len(afterTraces))
	}
	prefixes := map[string]bool{}
	for id := range before {
		prefixes[id[:24]] = true
	}
	for id := range after {
		if before[id] || !strings.HasSuffix(id, "-abcdef012345") || !prefixes[id[:24]] {
			t.Fatalf("entity %s is not a renamed one of the pass", id)
		}
	}
	for tr := range afterTraces {
		if beforeTraces[tr] || tr[8] != 0 || tr[9] != 0 || tr[10] != 0xab || tr[15] != 0x45 {
			t.Fatalf("trace %x was not renamed", tr)
		}
	}
	// A copy is renamed on its own.
	c := p.Clone()
	for i := range c.Requests {
		c.Requests[i].Rename(1)
	}
	again, _ := ids(t, p)
	for id := range again {
		if !after[id] {
			t.Fatalf("renaming a clone renamed the original: %s", id)
		}
	}
}

// fakeCollector answers every export: with refuse set, with Unavailable; otherwise OK,
// reporting one rejected span. It records the step ids it received.
type fakeCollector struct {
	ptraceotlp.UnimplementedGRPCServer
	refuse bool
	mu     sync.Mutex
	spans  int
	steps  map[string]bool
}

func (f *fakeCollector) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	if f.refuse {
		return ptraceotlp.NewExportResponse(), status.Error(codes.Unavailable, "refused")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spans += req.Traces().SpanCount()
	transitions(req.Traces(), func(_ bool, a pcommon.Map) {
		if s := str(a, "step_uuid"); s != "" {
			f.steps[s] = true
		}
	})
	resp := ptraceotlp.NewExportResponse()
	resp.PartialSuccess().SetRejectedSpans(1)
	return resp, nil
}

func serve(t *testing.T, f *fakeCollector) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func TestSendCountsOnlyWhatTheCollectorAccepted(t *testing.T) {
	p := testPool(t)
	f := &fakeCollector{steps: map[string]bool{}}
	res, err := Send(context.Background(), p, SendOptions{Endpoint: serve(t, f), Senders: 2, Warmup: 200 * time.Millisecond, Duration: 700 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.FailedRequests != 0 || res.FirstError != nil {
		t.Fatalf("result %+v", res)
	}
	if res.Rejected != res.Requests {
		t.Fatalf("rejected %d spans over %d requests; the collector rejected one span a request", res.Rejected, res.Requests)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if res.Accepted+res.Rejected > int64(f.spans) {
		t.Fatalf("counted %d+%d spans; the collector received %d", res.Accepted, res.Rejected, f.spans)
	}
	// Every pass renames the steps: more than a pass sent, more distinct steps than it holds.
	if f.spans <= 2*p.Spans {
		t.Fatalf("the collector received %d spans, not even two passes of %d", f.spans, p.Spans)
	}
	if n := stepsIn(t, p); len(f.steps) <= n {
		t.Fatalf("%d spans sent, but only %d distinct steps (one pass has %d)", f.spans, len(f.steps), n)
	}
}

func stepsIn(t *testing.T, p *Pool) int {
	steps := map[string]bool{}
	for _, r := range p.Requests {
		transitions(decode(t, r), func(_ bool, a pcommon.Map) {
			if s := str(a, "step_uuid"); s != "" {
				steps[s] = true
			}
		})
	}
	return len(steps)
}

func TestSendCountsNothingARefusingCollectorGot(t *testing.T) {
	p := testPool(t)
	res, err := Send(context.Background(), p, SendOptions{Endpoint: serve(t, &fakeCollector{refuse: true}), Senders: 2, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 0 || res.FailedRequests == 0 || res.FirstError == nil || status.Code(res.FirstError) != codes.Unavailable {
		t.Fatalf("result %+v", res)
	}
}
