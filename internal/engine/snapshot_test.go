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
