package transition

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
)

// byteSource turns fuzz bytes into choices; past the end it yields zeros.
type byteSource struct {
	b []byte
	i int
}

func (s *byteSource) next() byte {
	if s.i >= len(s.b) {
		return 0
	}
	c := s.b[s.i]
	s.i++
	return c
}

func (s *byteSource) pick(n int) int { return int(s.next()) % n }

var (
	fuzzKeys = []string{
		"from_state", "to_state", "task_uuid", "step_uuid", "workflow_step_uuid", "namespace",
		"correlation_id", "handler_name", "step_name", "attempt_number", "attempts", "event_name",
		"service.name", "service.instance.id", "other",
	}
	fuzzStrings = []string{
		"none", "", " ", "pending", "initializing", "enqueuing_steps", "steps_in_process",
		"evaluating_results", "waiting_for_dependencies", "waiting_for_retry", "blocked_by_failures",
		"complete", "error", "cancelled", "resolved_manually", "enqueued", "in_progress",
		"enqueued_for_orchestration", "enqueued_as_error_for_orchestration", " In_Progress ", "NONE",
		"bogus", "t-1", "t-2", "s-1", "s-2", "payments", "charge", "tasker-worker",
	}
	fuzzNames = []string{"Step state transition", "Task state transition", "step.state_transition",
		"task.state_transition", "worker.step_execution", "", "STEP x", "tasks", "other"}
)

// fillValue sets v to a value of a type chosen by the fuzz bytes.
func fillValue(s *byteSource, v pcommon.Value, depth int) {
	switch s.pick(9) {
	case 0, 1, 2, 3:
		v.SetStr(fuzzStrings[s.pick(len(fuzzStrings))])
	case 4:
		v.SetInt(int64(s.next()) - 3)
	case 5:
		v.SetDouble(float64(s.next()) / 7)
	case 6:
		v.SetBool(s.next()&1 == 1)
	case 7:
		v.SetEmptyBytes().FromRaw([]byte{s.next()})
	case 8:
		if depth > 1 {
			return // leave it empty
		}
		if s.next()&1 == 0 {
			sl := v.SetEmptySlice()
			for n := s.pick(3); n > 0; n-- {
				fillValue(s, sl.AppendEmpty(), depth+1)
			}
		} else {
			m := v.SetEmptyMap()
			for n := s.pick(3); n > 0; n-- {
				fillValue(s, m.PutEmpty(fuzzKeys[s.pick(len(fuzzKeys))]), depth+1)
			}
		}
	}
}

// fillAttrs writes random attributes; half the time it starts from a transition's
// attributes (string states, ids) so that the extractor's deeper paths are reached, then
// lets random attributes overwrite some of them with other values and types.
func fillAttrs(s *byteSource, m pcommon.Map) {
	if s.next()&1 == 1 {
		m.PutStr("from_state", fuzzStrings[s.pick(21)])
		m.PutStr("to_state", fuzzStrings[1+s.pick(20)])
		switch s.pick(4) {
		case 0:
			m.PutStr("step_uuid", fuzzStrings[24+s.pick(2)])
			m.PutStr("task_uuid", fuzzStrings[22+s.pick(2)])
		case 1:
			m.PutStr("task_uuid", fuzzStrings[22+s.pick(2)])
		case 2:
			m.PutStr("workflow_step_uuid", fuzzStrings[24+s.pick(2)])
		}
	}
	for n := s.pick(5); n > 0; n-- {
		fillValue(s, m.PutEmpty(fuzzKeys[s.pick(len(fuzzKeys))]), 0)
	}
}

func fuzzTraces(data []byte) ptrace.Traces {
	s := &byteSource{b: data}
	td := ptrace.NewTraces()
	for r := 1 + s.pick(2); r > 0; r-- {
		rs := td.ResourceSpans().AppendEmpty()
		fillAttrs(s, rs.Resource().Attributes())
		for sc := 1 + s.pick(2); sc > 0; sc-- {
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			for n := s.pick(4); n > 0; n-- {
				sp := spans.AppendEmpty()
				sp.SetName(fuzzNames[s.pick(len(fuzzNames))])
				sp.SetStartTimestamp(pcommon.Timestamp(s.pick(3)))
				sp.SetEndTimestamp(pcommon.Timestamp(s.pick(4)))
				sp.SetSpanID(pcommon.SpanID{s.next()})
				fillAttrs(s, sp.Attributes())
				for e := s.pick(4); e > 0; e-- {
					ev := sp.Events().AppendEmpty()
					ev.SetName(fuzzNames[s.pick(len(fuzzNames))])
					ev.SetTimestamp(pcommon.Timestamp(s.pick(3)))
					fillAttrs(s, ev.Attributes())
				}
			}
		}
	}
	return td
}

func FuzzExtract(f *testing.F) {
	// Seeds: empty input; a typical step event; a task span; wrong types; nested values.
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 1, 1, 0, 2, 1, 3, 0, 0, 1, 0, 0, 0, 0, 1, 0, 3, 0, 0, 0, 14, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2})
	f.Add([]byte("step_uuid from_state to_state task_uuid in_progress enqueued complete pending"))
	f.Add([]byte{1, 1, 1, 3, 2, 1, 1, 7, 0, 0, 1, 0, 0, 1, 15, 1, 0, 3, 16, 2, 0, 3, 22, 3, 0, 3, 24})
	f.Add([]byte{0xff, 0xfe, 0xfd, 0x80, 0x08, 0x17, 0x26, 0x35, 0x44, 0x53, 0x62, 0x71, 0x08, 0x08, 0x08, 0x08})
	f.Add([]byte{1, 0, 1, 3, 0, 2, 3, 7, 3, 1, 0, 0, 0, 3, 1, 0, 0, 0, 0, 15, 3, 1, 0, 1, 0, 16, 4, 1, 2, 1, 0, 0, 4})
	for i := 0; i < 16; i++ {
		seed := make([]byte, 96)
		for j := range seed {
			seed[j] = byte((i*131 + j*29 + j*j*7) % 251)
		}
		f.Add(seed)
	}

	keys := DefaultKeys()
	f.Fuzz(func(t *testing.T, data []byte) {
		td := fuzzTraces(data)
		var b Batch
		for _, ts := range []TimeSource{TimeEnd, TimeStart} {
			b.Reset()
			assertUnchanged(t, td, func() { NewExtractor(keys, ts).Extract(td, &b) })
			for i, tr := range b.Transitions {
				m := tasker.MachineOf(tr.Kind)
				switch {
				case m == nil:
					t.Fatalf("transition %d: kind %v", i, tr.Kind)
				case tr.ID == "":
					t.Fatalf("transition %d: empty id", i)
				case tr.Time == 0:
					t.Fatalf("transition %d: zero time", i)
				case tr.To == tasker.StateNone || !m.Knows(tr.From) || !m.Knows(tr.To):
					t.Fatalf("transition %d: states %v → %v unknown to %v", i, tr.From, tr.To, tr.Kind)
				case tr.Kind == tasker.KindTask && tr.TaskID != tr.ID:
					t.Fatalf("transition %d: task's TaskID %q != ID %q", i, tr.TaskID, tr.ID)
				case tr.Attempt < 0:
					t.Fatalf("transition %d: attempt %d", i, tr.Attempt)
				case tr.ResourceIndex < 0 || tr.ResourceIndex >= td.ResourceSpans().Len():
					t.Fatalf("transition %d: resource index %d", i, tr.ResourceIndex)
				}
				if v, ok := tr.Attrs.Get("from_state"); !ok || v.Type() != pcommon.ValueTypeStr {
					t.Fatalf("transition %d: carrier has no string from_state", i)
				}
			}
			for _, h := range b.Hints {
				if h.TaskID == "" && h.StepID == "" {
					t.Fatalf("hint without an id: %+v", h)
				}
			}
		}
	})
}

// TestFuzzGeneratorReachesTransitions guards the generator: its seeds must produce real
// transitions, or FuzzExtract would check nothing but the no-panic property.
func TestFuzzGeneratorReachesTransitions(t *testing.T) {
	n := 0
	for i := 0; i < 200; i++ {
		seed := make([]byte, 96)
		for j := range seed {
			seed[j] = byte((i*131 + j*29 + j*j*7) % 251)
		}
		var b Batch
		NewExtractor(DefaultKeys(), TimeEnd).Extract(fuzzTraces(seed), &b)
		n += len(b.Transitions)
	}
	if n < 20 {
		t.Errorf("200 generated inputs gave only %d transitions", n)
	}
}
