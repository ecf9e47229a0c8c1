package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tasker-systems/otelcol-tasker/cmd/taskersim/sim"
)

// traceSink is an OTLP gRPC trace receiver on loopback that counts the spans it is sent, or
// refuses every export with refuse.
type traceSink struct {
	coltracepb.UnimplementedTraceServiceServer
	spans  atomic.Int64
	refuse error
	addr   string
}

func (s *traceSink) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	if s.refuse != nil {
		return nil, s.refuse
	}
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			s.spans.Add(int64(len(ss.GetSpans())))
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func startSink(t *testing.T, refuse error) *traceSink {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := &traceSink{refuse: refuse, addr: lis.Addr().String()}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, sink)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return sink
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// quick are flags that make a one-task run send everything at once.
var quick = []string{"--tasks", "1", "--speed", "1000", "--worker-delay", "0", "--late-delay", "0", "--duplicate-delay", "0", "--progress", "0"}

func runSim(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(args, &out, &errOut)
	if errOut.Len() > 0 {
		t.Errorf("run(%q) wrote to stderr: %s", args, errOut.String())
	}
	return out.String(), err
}

// Each row of the table of simulator mistakes: what the user typed, and what the
// error must say (or that it is accepted).
func TestFlagMistakesNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		usage bool     // a usageError (exit 2)
		want  []string // in the message
	}{
		{[]string{"--rate", "-1", "--duration", "2s"}, true, []string{"--rate", "-1"}},
		{[]string{"--duration", "-5s"}, true, []string{"--duration", "-5s"}},
		{[]string{"--workers", "0"}, true, []string{"--workers", "at least 1"}},
		{[]string{"--endpoint", "127.0.0.1", "--dry-run"}, true, []string{"--endpoint", "no port", "host:port"}},
		{[]string{"--tasks", "0"}, true, []string{"--tasks"}},
		{[]string{"--speed", "0"}, true, []string{"--speed"}},
		{[]string{"--invalid-rate", "1.5"}, true, []string{"--invalid-rate", "0 to 1"}},
		{[]string{"--late-delay", "-1s"}, true, []string{"--late-delay"}},
		{[]string{"--worker-skew", "2s"}, true, []string{"--worker-skew"}},
		{[]string{"--shape", "blobs"}, true, []string{"--shape", "blobs"}},
		{[]string{"--fates", "normal=two"}, true, []string{"--fates", "fate=count"}},
		{[]string{"--rate", "fast"}, true, []string{"-rate", "fast"}},
		{[]string{"leftover"}, true, []string{"leftover"}},
	} {
		_, err := runSim(t, tc.args...)
		if err == nil {
			t.Errorf("%q: accepted", tc.args)
			continue
		}
		var usage usageError
		if errors.As(err, &usage) != tc.usage {
			t.Errorf("%q: usage error %v, want %v (%v)", tc.args, !tc.usage, tc.usage, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not say %q", tc.args, err, w)
			}
		}
		if strings.Contains(err.Error(), "tasks must be positive") {
			t.Errorf("%q: error %q blames --tasks", tc.args, err)
		}
	}
}

func TestHelpPrintsUsageAndSucceeds(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		out, err := runSim(t, arg)
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		for _, w := range []string{"Usage: taskersim", "-endpoint", "-fates", "-progress", "docs/simulator.md"} {
			if !strings.Contains(out, w) {
				t.Errorf("%s: the usage lacks %q:\n%s", arg, w, out)
			}
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:4317":        "127.0.0.1:4317",
		" localhost:4317 ":      "localhost:4317",
		"http://127.0.0.1:4317": "127.0.0.1:4317",
		"grpc://127.0.0.1:4317": "127.0.0.1:4317",
		"http://[::1]:4317/":    "[::1]:4317",
		"[::1]:4317":            "[::1]:4317",
	} {
		got, err := parseEndpoint(in)
		if err != nil || got != want {
			t.Errorf("parseEndpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":                                "empty",
		"127.0.0.1":                       "no port",
		"http://127.0.0.1":                "no port",
		":4317":                           "no host",
		"127.0.0.1:http":                  "port",
		"127.0.0.1:70000":                 "port",
		"::1:4317":                        "brackets",
		"https://collector:4317":          "plaintext",
		"http://127.0.0.1:4318/v1/traces": "URL path",
		"ftp://127.0.0.1:4317":            "scheme",
	} {
		if got, err := parseEndpoint(in); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "host:port") {
			t.Errorf("parseEndpoint(%q) = %q, %v; want an error saying %q and host:port", in, got, err, want)
		}
	}
}

// Nothing listens: the run fails at once, naming the flag and the endpoint, instead of after
// the exporter's retries.
func TestUnreachableEndpointFailsWithinSeconds(t *testing.T) {
	addr := closedPort(t)
	began := time.Now()
	_, err := runSim(t, append([]string{"--endpoint", addr}, quick...)...)
	took := time.Since(began)
	if err == nil {
		t.Fatal("a closed port was accepted")
	}
	for _, w := range []string{"--endpoint", addr, "nothing listens"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if limit := 2 * probeTimeout; took > limit {
		t.Errorf("failed after %s, want within %s", took, limit)
	}
}

// An OTLP/HTTP port (here a real HTTP/1.1 server on loopback) is named as such.
func TestHTTPPortIsNamed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	_, err := runSim(t, append([]string{"--endpoint", addr}, quick...)...)
	if err == nil {
		t.Fatal("an HTTP/1.1 port was accepted")
	}
	for _, w := range []string{"--endpoint", addr, "OTLP/HTTP", "4317"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// A server that accepts the connection but never answers is not taken for a collector.
func TestSilentPortIsRefused(t *testing.T) {
	defer func(d time.Duration) { probeTimeout = d }(probeTimeout)
	probeTimeout = 200 * time.Millisecond
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		if c, err := lis.Accept(); err == nil {
			_, _ = io.Copy(io.Discard, c) // read, never answer, until the probe hangs up
			c.Close()
		}
	}()
	err = probeGRPC(context.Background(), lis.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "no gRPC answer") {
		t.Errorf("a silent port: %v, want an error about the missing gRPC answer", err)
	}
	<-accepted
}

// Emit's progress ends at the plan's totals.
func TestProgressCountsEverything(t *testing.T) {
	sink := startSink(t, nil)
	o := sim.DefaultOptions()
	o.Tasks, o.Speed, o.WorkerDelay, o.LateDelay, o.DuplicateDelay = 3, 1000, 0, 0, 0
	now := time.Now()
	plan, truth, base, err := sim.Prepare(o, now)
	if err != nil {
		t.Fatal(err)
	}
	var p sim.Progress
	if _, err := sim.Emit(context.Background(), plan, sim.EmitOptions{Endpoint: sink.addr, Base: base, Start: now, Progress: &p}); err != nil {
		t.Fatal(err)
	}
	if got := [3]int64{p.SpansSent.Load(), p.TasksStarted.Load(), p.TasksFinished.Load()}; got != [3]int64{int64(truth.SpanCount), 3, 3} {
		t.Errorf("progress (spans, tasks started, tasks finished) = %v, want %d spans and 3 tasks", got, truth.SpanCount)
	}
}

// The endpoint written as a URL is accepted, and every span of the plan reaches a real OTLP
// gRPC receiver. The summary holds no raw Go map.
func TestRunSendsEverySpan(t *testing.T) {
	sink := startSink(t, nil)
	truthFile := filepath.Join(t.TempDir(), "truth.json")
	out, err := runSim(t, append([]string{"--endpoint", "http://" + sink.addr, "--truth", truthFile}, quick...)...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(truthFile)
	if err != nil {
		t.Fatal(err)
	}
	var truth sim.Truth
	if err := json.Unmarshal(b, &truth); err != nil {
		t.Fatal(err)
	}
	if got := sink.spans.Load(); truth.SpanCount == 0 || got != int64(truth.SpanCount) {
		t.Errorf("the receiver got %d spans, the ground truth counts %d", got, truth.SpanCount)
	}
	for _, w := range []string{"taskersim: 1 tasks (", "tasker-orchestration ", "sent "} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "map[") || strings.Contains(out, "[") {
		t.Errorf("the summary prints a raw Go value:\n%s", out)
	}
}

// A receiver that refuses the spans makes the run fail, with the count of failed exports,
// instead of a summary that claims they were sent.
func TestRefusedExportsFailTheRun(t *testing.T) {
	sink := startSink(t, status.Error(codes.InvalidArgument, "no thanks"))
	_, err := runSim(t, append([]string{"--endpoint", sink.addr}, quick...)...)
	if err == nil {
		t.Fatal("refused exports went unreported")
	}
	for _, w := range []string{"sending to " + sink.addr + " failed", "no thanks", "ground truth does not hold"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// lockedBuffer is written by the progress goroutine and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestProgressLine(t *testing.T) {
	var p sim.Progress
	p.SpansSent.Store(120)
	p.TasksStarted.Store(7)
	p.TasksFinished.Store(3)
	var errs exportErrors
	errs.Handle(errors.New("rpc error: unavailable"))
	var out lockedBuffer
	stop := reportProgress(&out, time.Millisecond, time.Now(), &sim.Truth{Tasks: 10, SpanCount: 400}, &p, &errs)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "\n") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stop()
	first, _, _ := strings.Cut(out.String(), "\n")
	want := "tasks 7 started, 3 finished of 10; spans 120 of 400 sent; 1 export errors (the last: rpc error: unavailable)"
	if !strings.Contains(first, want) {
		t.Errorf("progress line %q, want it to contain %q", first, want)
	}
	// The last error is repeated only when a new one came.
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) > 1 && strings.Contains(lines[1], "the last") {
		t.Errorf("the same error repeated: %q", lines[1])
	}
}
