//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// hostileBatch builds one OTLP request: spans of one service, at times relative to now.
type hostileBatch struct {
	td    ptrace.Traces
	spans ptrace.SpanSlice
	now   time.Time
	seq   byte
}

func newHostileBatch(service string, now time.Time) *hostileBatch {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	rs.Resource().Attributes().PutStr("service.instance.id", service+"-1")
	return &hostileBatch{td: td, spans: rs.ScopeSpans().AppendEmpty().Spans(), now: now}
}

// span adds a span ending at end with attrs; its trace is the batch's.
func (b *hostileBatch) span(name string, end pcommon.Timestamp, attrs map[string]any) ptrace.Span {
	b.seq++
	s := b.spans.AppendEmpty()
	s.SetName(name)
	s.SetTraceID(pcommon.TraceID{0xba, 0xd0, b.seq})
	s.SetSpanID(pcommon.SpanID{0xba, 0xd0, b.seq})
	s.SetStartTimestamp(end - 1)
	s.SetEndTimestamp(end)
	_ = s.Attributes().FromRaw(attrs)
	return s
}

// at is now plus d as a timestamp.
func (b *hostileBatch) at(d time.Duration) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(b.now.Add(d))
}

// taskMove adds a task transition span (Tasker's planned task.state_transition).
func (b *hostileBatch) taskMove(task, ns, from, to string, end pcommon.Timestamp) {
	b.span("task.state_transition", end, map[string]any{"task_uuid": task, "namespace": ns, "correlation_id": "corr-" + task,
		"from_state": from, "to_state": to})
}

// stepEvent adds a step transition event to span (today's Tasker's `Step state transition`).
func stepEvent(span ptrace.Span, step, task, from, to string, at pcommon.Timestamp, attempt int64) {
	e := span.Events().AppendEmpty()
	e.SetName("Step state transition")
	e.SetTimestamp(at)
	_ = e.Attributes().FromRaw(map[string]any{"step_uuid": step, "task_uuid": task, "from_state": from, "to_state": to})
	if attempt != 0 {
		e.Attributes().PutInt("attempt_number", attempt)
	}
}

// TestHostileInput sends hostile values through OTLP to the collector on the shipped
// configuration (processor and connector on one entity log): a namespace, a handler and a
// service name with invalid UTF-8, a 1 MiB task id, a 1 MiB namespace, a transition at 1 ns and one a century
// ahead, an attempt number of 2^62. The series of the invalid UTF-8 namespace must stay
// visible in Prometheus with the repaired label (the prometheus exporter drops a series
// whose label is not valid UTF-8), the collector's own telemetry must count each hostile
// value, and the /metrics scrape must stay small.
func TestHostileInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st := startStack(t)
	conn, err := grpc.NewClient(st.otlpGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	send := func(what string, b *hostileBatch) {
		t.Helper()
		if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(b.td)); err != nil {
			t.Fatalf("sending %s: %v", what, err)
		}
	}
	now := time.Now()
	const badNS, badHandler = "ns-\xff\xfe", "h-\xc3\x28"
	const goodNS, goodHandler = "ns-\uFFFD", "h-\uFFFD(" // each run of invalid bytes is one U+FFFD
	// PromQL refuses a literal U+FFFD in a query (Prometheus 2.42: "invalid UTF-8 rune"), so
	// the queries write it escaped.
	promQL := func(s string) string { return strings.ReplaceAll(fmt.Sprintf("%q", s), "\uFFFD", `\uFFFD`) }
	big := strings.Repeat("x", 1<<20)

	// A task and its step in the invalid UTF-8 namespace, the step's handler invalid too.
	b := newHostileBatch("tasker-orchestration", now)
	b.taskMove("hostile-utf8", badNS, "none", "pending", b.at(-3*time.Second))
	b.taskMove("hostile-utf8", badNS, "pending", "initializing", b.at(-2*time.Second))
	send("the invalid UTF-8 namespace", b)
	b = newHostileBatch("tasker-worker", now)
	w := b.span("worker.step_execution", b.at(0), map[string]any{"task_uuid": "hostile-utf8", "step_uuid": "hostile-utf8-step",
		"namespace": badNS, "step_name": badHandler})
	stepEvent(w, "hostile-utf8-step", "hostile-utf8", "enqueued", "in_progress", b.at(-1500*time.Millisecond), 0)
	stepEvent(w, "hostile-utf8-step", "hostile-utf8", "in_progress", "enqueued_for_orchestration", b.at(-time.Second), 0)
	stepEvent(w, "hostile-utf8-step", "hostile-utf8", "enqueued_for_orchestration", "complete", b.at(-500*time.Millisecond), 0)
	// A claim with an attempt number of 2^62: its attempt is the count of claims, 1.
	a := b.span("worker.step_execution", b.at(0), map[string]any{"task_uuid": "hostile-attempt", "step_uuid": "hostile-attempt-step",
		"namespace": "hostile-attempt", "step_name": "claimed"})
	stepEvent(a, "hostile-attempt-step", "hostile-attempt", "enqueued", "in_progress", b.at(-time.Second), 1<<62)
	stepEvent(a, "hostile-attempt-step", "hostile-attempt", "in_progress", "enqueued_for_orchestration", b.at(-500*time.Millisecond), 0)
	stepEvent(a, "hostile-attempt-step", "hostile-attempt", "enqueued_for_orchestration", "complete", b.at(-400*time.Millisecond), 0)
	send("the invalid UTF-8 handler and the attempt number", b)
	// A 1 MiB task id; a task with a 1 MiB namespace.
	b = newHostileBatch("tasker-orchestration", now)
	b.taskMove("big-id-"+big, "payments", "none", "pending", b.at(-time.Second))
	send("the 1 MiB task id", b)
	b = newHostileBatch("tasker-orchestration", now)
	b.taskMove("hostile-bigns", "big-ns-"+big, "none", "pending", b.at(-2*time.Second))
	b.taskMove("hostile-bigns", "big-ns-"+big, "pending", "initializing", b.at(-time.Second))
	send("the 1 MiB namespace", b)
	// A service whose name (the job label) has invalid UTF-8.
	b = newHostileBatch("tasker-\xff", now)
	b.taskMove("hostile-service", "service-utf8", "none", "pending", b.at(-time.Second))
	send("the invalid UTF-8 service name", b)
	// A transition at 1 ns, then the task's next one now; one a century ahead.
	b = newHostileBatch("tasker-orchestration", now)
	b.taskMove("hostile-epoch", "epoch", "none", "pending", 1)
	b.taskMove("hostile-epoch", "epoch", "pending", "initializing", b.at(-time.Second))
	b.taskMove("hostile-future", "future", "none", "pending", pcommon.NewTimestampFromTime(now.AddDate(100, 0, 0)))
	send("the implausible times", b)

	prom := &promAPI{base: "http://" + st.prometheus}
	single := func(q string) (float64, error) {
		res, err := prom.query(ctx, q)
		if err != nil {
			return 0, err
		}
		if len(res) != 1 {
			return 0, fmt.Errorf("%s: %d series, want 1: %v", q, len(res), res)
		}
		return res[0].value, nil
	}
	// Once settled (8 s), flushed and scraped, every series is there.
	want := []struct {
		query string
		value float64
	}{
		{fmt.Sprintf(`sum(tasker_task_state_transitions_total{namespace=%s})`, promQL(goodNS)), 2},
		{fmt.Sprintf(`sum(tasker_step_state_transitions_total{namespace=%s})`, promQL(goodNS)), 3},
		{fmt.Sprintf(`sum(tasker_step_attempts_total{namespace=%s, handler_name=%s, attempt_number="1"})`, promQL(goodNS), promQL(goodHandler)), 1},
		{`sum(tasker_step_attempts_total{namespace="hostile-attempt", attempt_number="1"})`, 1},
		// the 1 MiB namespace is absent: its task's series say unknown
		{`sum(tasker_task_state_transitions_total{namespace="unknown"})`, 2},
		// the transition at 1 ns is not one: only the one now counts, and no time in state
		// comes from 1970
		{`sum(tasker_task_state_transitions_total{namespace="epoch"})`, 1},
		{`count(tasker_task_state_duration_seconds_count{namespace="epoch"}) or vector(0)`, 0},
		{`sum(tasker_task_state_transitions_total{namespace="future"}) or vector(0)`, 0},
		{fmt.Sprintf(`sum(tasker_task_state_transitions_total{namespace="service-utf8", job=%s})`, promQL("tasker-\uFFFD")), 1},
	}
	err = eventually(ctx, 2*time.Minute, time.Second, func() error {
		for _, w := range want {
			got, err := single(w.query)
			if err != nil {
				return err
			}
			if got != w.value {
				return fmt.Errorf("%s = %v, want %v", w.query, got, w.value)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The collector's own telemetry (scraped by the same Prometheus) counts each hostile value:
	// a use of a value by a transition or a hint, as the components' documentation says.
	counted := []struct {
		metric, reason string
		value          float64
	}{
		// the two task transitions, the worker span's hint, its three events
		{"otelcol_processor_tasker_state_transition_anomalies", "invalid_utf8_namespace", 2 + 1 + 3},
		{"otelcol_processor_tasker_state_transition_anomalies", "invalid_utf8_handler", 1 + 3},
		{"otelcol_processor_tasker_state_transition_anomalies", "oversized_namespace", 2},
		{"otelcol_processor_tasker_state_transition_anomalies", "attempt_out_of_range", 1},
		{"otelcol_processor_tasker_state_transition_anomalies", "invalid_utf8_dimension", 1},
		{"otelcol_processor_tasker_state_transitions_unrecognised", "oversized_id", 1},
		{"otelcol_processor_tasker_state_transitions_unrecognised", "implausible_timestamp", 2},
	}
	err = eventually(ctx, time.Minute, time.Second, func() error {
		for _, c := range counted {
			q := fmt.Sprintf(`sum({__name__=~"%s(_total)?", reason=%q})`, c.metric, c.reason)
			got, err := single(q)
			if err != nil {
				return err
			}
			if got != c.value {
				return fmt.Errorf("%s = %v, want %v", q, got, c.value)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The scrape itself: small, valid UTF-8, the repaired label in it, nothing in the log
	// about a label the exporter could not write.
	body, err := scrape(ctx, "http://"+st.promExport+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("/metrics: %d bytes after the hostile input", len(body))
	if len(body) > 256<<10 {
		t.Errorf("/metrics is %d bytes: a hostile value reached it", len(body))
	}
	if !utf8.Valid(body) {
		t.Error("/metrics is not valid UTF-8")
	}
	if !strings.Contains(string(body), fmt.Sprintf("namespace=%q", goodNS)) {
		t.Errorf("/metrics has no series with namespace=%q", goodNS)
	}
	log, err := os.ReadFile(st.collector.log)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), "UTF-8") {
		t.Errorf("the collector logged about UTF-8:\n%s", tail(st.collector.log, 20))
	}
}

// scrape GETs a /metrics endpoint and returns its body.
func scrape(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
