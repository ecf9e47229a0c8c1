package engine

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tasker-systems/otelcol-tasker/internal/snapshot"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// workload is steps of two services with extra dimensions, so that payloads name resources
// and tuples.
func workload() ptrace.Traces {
	td := ptrace.NewTraces()
	for _, svc := range []string{"tasker-orchestration", "tasker-worker"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for i := range 20 {
			s := spans.AppendEmpty()
			s.SetName("step.state_transition")
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Second)))
			s.Attributes().PutStr("step_uuid", fmt.Sprintf("s-%s-%d", svc, i%7))
			s.Attributes().PutStr("task_uuid", fmt.Sprintf("t-%d", i%3))
			s.Attributes().PutStr("from_state", []string{"none", "pending", "enqueued"}[i%3])
			s.Attributes().PutStr("to_state", []string{"pending", "enqueued", "in_progress"}[i%3])
			s.Attributes().PutStr("tenant", fmt.Sprintf("tenant-%d", i%4))
		}
	}
	return td
}

func newTestEngine(resourceKeys ...string) (*Engine, *clockwork.FakeClock) {
	clock := clockwork.NewFakeClockAt(t0.Add(time.Minute))
	cfg := NewConfig(ptr(DefaultLogConfig()), &DeriveConfig{SettleWindow: 30 * time.Second, ResourceKeyAttributes: resourceKeys, ExtraDimensions: []string{"tenant"}})
	return New(cfg, Shared, clock), clock
}

func ptr[T any](v T) *T { return &v }

// TestEngineSnapshotRoundTrip: the restored engine holds the same entities, transitions,
// resources and extra values, and its tuples' references are those of its payloads.
func TestEngineSnapshotRoundTrip(t *testing.T) {
	e, _ := newTestEngine("service.name")
	e.Process(workload(), nil)
	data := e.Snapshot(nil, snapshot.Clean)
	cp, _ := newTestEngine("service.name")
	got, err := cp.Restore(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Entities != e.Len() || got.Entered != e.Entered() || got.Header.Flags != snapshot.Clean {
		t.Errorf("restored %+v; the original has %d entities, %d entered", got, e.Len(), e.Entered())
	}
	if !slices.EqualFunc(cp.extras.vals, e.extras.vals, slices.Equal) || !slices.Equal(cp.extras.refs, e.extras.refs) {
		t.Errorf("tuples %v refs %v, want %v %v", cp.extras.vals, cp.extras.refs, e.extras.vals, e.extras.refs)
	}
	if len(cp.resources.attrs) != len(e.resources.attrs) || len(cp.resources.ids) != len(e.resources.ids) {
		t.Errorf("resources %d, want %d", len(cp.resources.attrs), len(e.resources.attrs))
	}
	// A snapshot of the copy is the same state: written again, it reads back again.
	if _, err := (func() (Restored, error) {
		c2, _ := newTestEngine("service.name")
		return c2.Restore(cp.Snapshot(nil, 0))
	})(); err != nil {
		t.Errorf("a restored engine's snapshot does not read back: %v", err)
	}
}

// TestEngineRefusesAnotherConfiguration: payloads mean another thing under other resource
// keys or extra dimensions: the snapshot is incompatible, and the engine stays empty.
func TestEngineRefusesAnotherConfiguration(t *testing.T) {
	e, _ := newTestEngine("service.name")
	e.Process(workload(), nil)
	other, _ := newTestEngine("service.name", "collector.instance.id")
	if _, err := other.Restore(e.Snapshot(nil, 0)); !errors.Is(err, snapshot.ErrIncompatible) {
		t.Fatalf("restore: %v, want incompatible", err)
	}
	if other.Len() != 0 {
		t.Errorf("%d entities after a refused restore", other.Len())
	}
}

// FuzzEngineRestore: whatever the bytes (their section checksums put right first, so that
// changes reach the decoding), a restore never panics, and an engine that restored works.
func FuzzEngineRestore(f *testing.F) {
	e, _ := newTestEngine("service.name")
	e.Process(workload(), nil)
	data := e.Snapshot(nil, 0)
	f.Add(data)
	f.Add(data[:len(data)-100])
	f.Fuzz(func(t *testing.T, data []byte) {
		cp, clock := newTestEngine("service.name")
		if _, err := cp.Restore(snapshot.FixChecksums(slices.Clone(data))); err != nil {
			if cp.Len() != 0 {
				t.Fatalf("refused (%v), yet %d entities", err, cp.Len())
			}
			return
		}
		cp.Process(workload(), nil)
		clock.Advance(time.Hour)
		cp.Process(workload(), nil)
		_ = cp.Snapshot(nil, 0)
	})
}

// fill enters n steps (four a task, six transitions each, Tasker's UUID ids, two services)
// into e, none of them finished, in batches of 1,000 spans.
func fill(e *Engine, n int) {
	path := [][2]string{{"none", "pending"}, {"pending", "enqueued"}, {"enqueued", "in_progress"},
		{"in_progress", "enqueued_as_error_for_orchestration"}, {"enqueued_as_error_for_orchestration", "waiting_for_retry"},
		{"waiting_for_retry", "pending"}}
	td := ptrace.NewTraces()
	spans := ptrace.NewSpanSlice()
	flush := func() {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "tasker-orchestration")
		spans.MoveAndAppendTo(rs.ScopeSpans().AppendEmpty().Spans())
		e.Process(td, nil)
		td = ptrace.NewTraces()
	}
	for i := range n {
		for k, p := range path {
			s := spans.AppendEmpty()
			s.SetTraceID(pcommon.TraceID{byte(i >> 16), byte(i >> 8), byte(i), 1})
			s.SetSpanID(pcommon.SpanID{byte(k), 2})
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i*6+k) * time.Millisecond)))
			a := s.Attributes()
			a.PutStr("step_uuid", fmt.Sprintf("0193%04x-%04x-7005-8000-%012x", i>>16, i&0xffff, i))
			a.PutStr("task_uuid", fmt.Sprintf("0193%04x-%04x-700a-8000-%012x", i>>18, (i/4)&0xffff, i/4))
			a.PutStr("namespace", fmt.Sprintf("ns%d", i%7))
			a.PutStr("step_name", fmt.Sprintf("handler%d", i%11))
			a.PutStr("from_state", p[0])
			a.PutStr("to_state", p[1])
		}
		if spans.Len() >= 1000 {
			flush()
		}
	}
	flush()
}

// BenchmarkSnapshot200k measures what a restart costs with 200,000 tracked entities (160,000
// steps with six transitions each and their 40,000 tasks): the snapshot's size, the time the
// engine's lock is held to take it (what the hot path feels at each checkpoint; the keeper
// reuses its buffer, so the first, which grows it, is not timed), and the time a restore
// takes. Run:
//
//	go test -run '^$' -bench Snapshot200k -benchtime 5x ./internal/engine/
func BenchmarkSnapshot200k(b *testing.B) {
	big := func() *Engine {
		lc := DefaultLogConfig()
		lc.Limits.MaxMemory = 1 << 30
		return New(NewConfig(&lc, &DeriveConfig{SettleWindow: 30 * time.Second, ResourceKeyAttributes: []string{"service.name"}}),
			Shared, clockwork.NewFakeClockAt(t0.Add(time.Hour)))
	}
	e := big()
	fill(e, 160_000)
	if n := e.Len(); n != 200_000 {
		b.Fatalf("%d entities, want 200000", n)
	}
	data := e.Snapshot(nil, 0)
	b.ResetTimer()
	var snapNs, restoreNs int64
	for range b.N {
		began := time.Now()
		data = e.Snapshot(data[:0], 0)
		snapNs += time.Since(began).Nanoseconds()
		cp := big()
		began = time.Now()
		if _, err := cp.Restore(data); err != nil {
			b.Fatal(err)
		}
		restoreNs += time.Since(began).Nanoseconds()
	}
	b.ReportMetric(float64(len(data)), "snapshot_bytes")
	b.ReportMetric(float64(e.Bytes()), "log_bytes")
	b.ReportMetric(float64(snapNs)/float64(b.N)/1e6, "snapshot_ms")
	b.ReportMetric(float64(restoreNs)/float64(b.N)/1e6, "restore_ms")
}
