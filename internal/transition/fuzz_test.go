package transition

import (
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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
		// Hostile values: invalid UTF-8 (a state with it is unknown; a name is repaired),
		// values over the default limits (129 bytes: ids and correlation ids; 300: names),
		// and one whose repair (each invalid byte becomes 3) grows it past max_name_bytes.
		"ns-\xff\xfe", "\xff", "pending\xff", "pay\xc3", strings.Repeat("i", 129), strings.Repeat("n", 300),
		strings.Repeat("a\xff", 100), strings.Repeat("\xfe", 4096),
	}
	// fuzzIDs are the ids fillAttrs writes: Tasker-like ones, an invalid-UTF-8 one (kept as
	// it is), and ones over the default and the tight max_id_bytes.
	fuzzIDs   = []string{"t-1", "t-2", "s-1", "s-2", "s-\xff", strings.Repeat("t", 129), "t-12345"}
	fuzzInts  = []int64{0, -1, 1, 2, 3, 4, 10_000, 10_001, 1 << 62, math.MinInt64, math.MaxInt64}
	fuzzTimes = []pcommon.Timestamp{
		1, earliestPlausible - 1, // before 2000
		earliestPlausible, fuzzNowTS, fuzzNowTS + 1,
		fuzzNowTS + pcommon.Timestamp(DefaultValueLimits().MaxFutureSkew),     // the latest plausible
		fuzzNowTS + pcommon.Timestamp(DefaultValueLimits().MaxFutureSkew) + 1, // just past it
		pcommon.NewTimestampFromTime(fuzzNow.AddDate(100, 0, 0)),
		math.MaxUint64, math.MaxUint64 - pcommon.Timestamp(time.Second) + 1, // -1 s wrapped to uint64
	}
	fuzzNames = []string{"Step state transition", "Task state transition", "step.state_transition",
		"task.state_transition", "worker.step_execution", "", "STEP x", "tasks", "other"}
)

// fuzzNow is the collector's clock of the fuzz target; ordinary timestamps are just after
// the tests' base, an hour earlier.
var (
	fuzzNow   = testNow
	fuzzNowTS = pcommon.NewTimestampFromTime(fuzzNow)
)

// timestamp picks a time: mostly 0 or base+1..base+n-1 (as ordinary telemetry), sometimes
// one of fuzzTimes.
func (s *byteSource) timestamp(n int) pcommon.Timestamp {
	c := s.next()
	if c >= 224 {
		return fuzzTimes[int(c)%len(fuzzTimes)]
	}
	return at(uint64(int(c) % n))
}

// fillValue sets v to a value of a type chosen by the fuzz bytes.
func fillValue(s *byteSource, v pcommon.Value, depth int) {
	switch s.pick(9) {
	case 0, 1, 2, 3:
		v.SetStr(fuzzStrings[s.pick(len(fuzzStrings))])
	case 4:
		if c := s.next(); c >= 240 {
			v.SetInt(fuzzInts[int(c)%len(fuzzInts)])
		} else {
			v.SetInt(int64(c) - 3)
		}
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
			m.PutStr("step_uuid", fuzzIDs[2+s.pick(len(fuzzIDs)-2)])
			m.PutStr("task_uuid", fuzzIDs[s.pick(2)])
		case 1:
			m.PutStr("task_uuid", fuzzIDs[s.pick(len(fuzzIDs))])
		case 2:
			m.PutStr("workflow_step_uuid", fuzzIDs[2+s.pick(2)])
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
				sp.SetStartTimestamp(s.timestamp(3))
				sp.SetEndTimestamp(s.timestamp(4))
				sp.SetSpanID(pcommon.SpanID{s.next()})
				fillAttrs(s, sp.Attributes())
				for e := s.pick(4); e > 0; e-- {
					ev := sp.Events().AppendEmpty()
					ev.SetName(fuzzNames[s.pick(len(fuzzNames))])
					ev.SetTimestamp(s.timestamp(3))
					fillAttrs(s, ev.Attributes())
				}
			}
		}
	}
	return td
}

// tightLimits are far below the defaults (and below what Validate accepts), so that the
// fuzz target's ordinary values are oversized too, and its times and attempts out of range.
var tightLimits = ValueLimits{MaxIDBytes: 3, MaxNameBytes: 8, MaxCorrelationIDBytes: 4, MaxFutureSkew: 1, MaxAttempt: 3}

// fuzzSeeds are FuzzExtract's seed corpus, which go test runs: empty input; a typical step
// event; a task span; wrong types; nested values; hostile values (each reason of Problem and
// Anomaly: TestFuzzSeedsReachEveryReason); and generated ones.
func fuzzSeeds() [][]byte {
	seeds := [][]byte{
		{},
		{0, 0, 0, 1, 1, 0, 2, 1, 3, 0, 0, 1, 0, 0, 0, 0, 1, 0, 3, 0, 0, 0, 14, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2},
		[]byte("step_uuid from_state to_state task_uuid in_progress enqueued complete pending"),
		{1, 1, 1, 3, 2, 1, 1, 7, 0, 0, 1, 0, 0, 1, 15, 1, 0, 3, 16, 2, 0, 3, 22, 3, 0, 3, 24},
		{0xff, 0xfe, 0xfd, 0x80, 0x08, 0x17, 0x26, 0x35, 0x44, 0x53, 0x62, 0x71, 0x08, 0x08, 0x08, 0x08},
		{1, 0, 1, 3, 0, 2, 3, 7, 3, 1, 0, 0, 0, 3, 1, 0, 0, 0, 0, 15, 3, 1, 0, 1, 0, 16, 4, 1, 2, 1, 0, 0, 4},
	}
	for _, h := range hostileSeeds {
		seed, err := hex.DecodeString(h)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, seed)
	}
	for i := 0; i < 16; i++ {
		seeds = append(seeds, generatedSeed(i))
	}
	return seeds
}

func generatedSeed(i int) []byte {
	seed := make([]byte, 96)
	for j := range seed {
		seed[j] = byte((i*131 + j*29 + j*j*7) % 251)
	}
	return seed
}

// hostileSeeds (hex) were found by a search of random inputs for each reason of Problem and
// Anomaly, under each limit set, that the other seeds did not reach.
var hostileSeeds = []string{
	"1c2257af6b7b49f10c36fa4e24f8dd3547e0c56a8a9eab088caf0b96eb60bb2f3c8caddd45afe3c3be25f6256b558dcd94e8008900418b446694d86ab6d3f66d627563774c37d48c5c95c5f5",
	"b341248d0183d23754174fc991b6a4794fe854f5cf8a4122c6b79be551fb6b40215ee0f8746251a85a497fd78ba4e339eb92a12c7863d89be922a214d2aaf68d8a994b6e6281f2",
	"4d4464121a0fa05c9c7f9f9e755f209b0908f77dff32b6b2312e6b6eaf318c5a25eeecd85fb12a847f8667e2926486dd7a473e96a2e353f535d2519479438135a8a615652dff05d387db9878",
	"7995bf1350d708b54552182f6e0e45daae3540d08423fe4476818c1d7b73e9db676b38ab8a995d65b023123f21a5245eaea8726628",
	"608747205bda6601c501e96a795e768acb7e0d84568224b79a32ecf7a072674de68b8b8910f5c76c8b7e08e79a84cb784f874ed752ee3b30d32ac19b99c07e7cf3afb651fa639b14f3425368",
	"0fc3a7f468caeab862cf9f6d8fee1c4ff3bb6af4ee1fe7d6973974e2d491e2d36294b353ad23db26cc02f014378cad81668cc92360c913b9b78309179153",
	"38b4047abf9b94a4aa5cbf61fbb84958ef56366c7af45c4f81964165dd5a60fe50bb1333e9e8e3d4b690b97b00b4c9be0b3df9cd87cccfa2",
	"d11548a0709037b77cb6364f7a4a6fc81e205b42b81b8ac183f811830b0e317198c855422b0860ad0b51af6ceb5e50378321f2553919e186c4758f7e9bed1e349ba0bef7fb7c793ae138e4",
	"937356313ce4a335793c0d2a5351eb2d1df6087b861657270331bd63dc41c951b72ca7aea33900f232d3a8231bc197e5d2c1e89b5ab96e9f8d85d9df3caffa10ecab6905",
	"2ce153e003dd6e88fe856e4bb4c9c42edf00828324ef1881eba4b6f64f3280b74531f59cf2571695fcb0c327ec3c71d647074e4c972fab04a8d321408be82a0946b0c38532213d71f17534",
	"0505133d83a7b617fe1dfd509367856f8fd784f355ca02a98544b09f290f4dc0d8c538ce45afd6b73417a39bc9fc7d8277bafaa321dfce12ad6fbae4afbbb625bcc30f93b7",
	"c76f10b5186ccae5b4381eeea36ec773087415c46fca54e54be0959c613b8c01c50e92fdfee8972b1e74f0f90347d22e899bec305d95",
}

func FuzzExtract(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	keys := DefaultKeys()
	f.Fuzz(func(t *testing.T, data []byte) {
		td := fuzzTraces(data)
		for _, ts := range []TimeSource{TimeEnd, TimeStart} {
			var loose, tight Batch
			assertUnchanged(t, td, func() {
				NewExtractor(keys, ts, DefaultValueLimits()).Extract(td, fuzzNow, &loose)
				NewExtractor(keys, ts, tightLimits).Extract(td, fuzzNow, &tight)
			})
			checkBatch(t, td, &loose, DefaultValueLimits())
			checkBatch(t, td, &tight, tightLimits)
			// Limits only refuse: what tight limits recognise, the defaults recognise too, in
			// the same order and as the same transition.
			j := 0
			for _, tr := range tight.Transitions {
				for j < len(loose.Transitions) && !sameTransition(&loose.Transitions[j], &tr) {
					j++
				}
				if j == len(loose.Transitions) {
					t.Fatalf("%v: %+v is recognised under tight limits only", ts, tr)
				}
				j++
			}
		}
	})
}

func sameTransition(a, b *Transition) bool {
	return a.Kind == b.Kind && a.ID == b.ID && a.TaskID == b.TaskID && a.From == b.From && a.To == b.To &&
		a.Time == b.Time && a.SpanID == b.SpanID && a.ResourceIndex == b.ResourceIndex
}

// checkBatch checks what every extraction promises: recognised transitions are whole, and
// every value in the batch is within l and valid UTF-8 where it may become a label or stamp.
func checkBatch(t *testing.T, td ptrace.Traces, b *Batch, l ValueLimits) {
	t.Helper()
	latest := fuzzNowTS + pcommon.Timestamp(l.MaxFutureSkew)
	name := func(what, v string, limit int) {
		t.Helper()
		if len(v) > limit || !utf8.ValidString(v) {
			t.Fatalf("limits %+v: %s %q (%d bytes) is over %d bytes or not UTF-8", l, what, v, len(v), limit)
		}
	}
	for i, tr := range b.Transitions {
		m := tasker.MachineOf(tr.Kind)
		switch {
		case m == nil:
			t.Fatalf("transition %d: kind %v", i, tr.Kind)
		case tr.ID == "":
			t.Fatalf("transition %d: empty id", i)
		case len(tr.ID) > l.MaxIDBytes || len(tr.TaskID) > l.MaxIDBytes:
			t.Fatalf("transition %d: ids %q, %q over %d bytes", i, tr.ID, tr.TaskID, l.MaxIDBytes)
		case tr.Time < earliestPlausible || tr.Time > latest:
			t.Fatalf("transition %d: implausible time %d", i, tr.Time)
		case tr.To == tasker.StateNone || !m.Knows(tr.From) || !m.Knows(tr.To):
			t.Fatalf("transition %d: states %v → %v unknown to %v", i, tr.From, tr.To, tr.Kind)
		case tr.Kind == tasker.KindTask && tr.TaskID != tr.ID:
			t.Fatalf("transition %d: task's TaskID %q != ID %q", i, tr.TaskID, tr.ID)
		case tr.Attempt < 0 || tr.Attempt > l.MaxAttempt:
			t.Fatalf("transition %d: attempt %d", i, tr.Attempt)
		case tr.ResourceIndex < 0 || tr.ResourceIndex >= td.ResourceSpans().Len():
			t.Fatalf("transition %d: resource index %d", i, tr.ResourceIndex)
		}
		name("namespace", tr.Namespace, l.MaxNameBytes)
		name("handler", tr.Handler, l.MaxNameBytes)
		name("correlation id", tr.CorrelationID, l.MaxCorrelationIDBytes)
		if len(tr.Source.Service) > l.MaxNameBytes || len(tr.Source.Instance) > l.MaxNameBytes {
			t.Fatalf("transition %d: source %+v over %d bytes", i, tr.Source, l.MaxNameBytes)
		}
		if v, ok := tr.Attrs.Get("from_state"); !ok || v.Type() != pcommon.ValueTypeStr {
			t.Fatalf("transition %d: carrier has no string from_state", i)
		}
	}
	for _, h := range b.Hints {
		if (h.TaskID == "" && h.StepID == "") || len(h.TaskID) > l.MaxIDBytes || len(h.StepID) > l.MaxIDBytes {
			t.Fatalf("hint ids: %+v", h)
		}
		name("hint namespace", h.Namespace, l.MaxNameBytes)
		name("hint handler", h.Handler, l.MaxNameBytes)
	}
}

// TestFuzzGeneratorReachesTransitions guards the generator: its seeds must produce real
// transitions, or FuzzExtract would check nothing but the no-panic property.
func TestFuzzGeneratorReachesTransitions(t *testing.T) {
	n := 0
	for i := 0; i < 200; i++ {
		var b Batch
		NewExtractor(DefaultKeys(), TimeEnd, DefaultValueLimits()).Extract(fuzzTraces(generatedSeed(i)), fuzzNow, &b)
		n += len(b.Transitions)
	}
	if n < 20 {
		t.Errorf("200 generated inputs gave only %d transitions", n)
	}
}

// TestFuzzSeedsReachEveryReason guards the seed corpus: under the default limits and under
// the tight ones, its inputs reach every reason of Problem and Anomaly, so that go test alone
// runs FuzzExtract's checks on oversized, invalid-UTF-8 and extreme-time input.
func TestFuzzSeedsReachEveryReason(t *testing.T) {
	for _, l := range []ValueLimits{DefaultValueLimits(), tightLimits} {
		problems, anomalies := seedReasons(fuzzSeeds(), l)
		for p := Problem(0); p < NumProblems; p++ {
			if problems[p] == 0 {
				t.Errorf("limits %+v: no seed reaches problem %s", l, p)
			}
		}
		for a := Anomaly(0); a < NumAnomalies; a++ {
			if a == AnomalyOversizedDimension || a == AnomalyInvalidUTF8Dimension {
				continue // counted by the connector for its extra dimensions, not by the extractor
			}
			if anomalies[a] == 0 {
				t.Errorf("limits %+v: no seed reaches anomaly %s", l, a)
			}
		}
	}
}

// seedReasons totals, over the seeds and both time sources, the problems and anomalies
// counted under l, whatever the kind.
func seedReasons(seeds [][]byte, l ValueLimits) (problems [NumProblems]int64, anomalies [NumAnomalies]int64) {
	for _, seed := range seeds {
		td := fuzzTraces(seed)
		for _, ts := range []TimeSource{TimeEnd, TimeStart} {
			var b Batch
			NewExtractor(DefaultKeys(), ts, l).Extract(td, fuzzNow, &b)
			for k := range b.Problems {
				for p, n := range b.Problems[k] {
					problems[p] += n
				}
				for a, n := range b.Anomalies[k] {
					anomalies[a] += n
				}
			}
		}
	}
	return problems, anomalies
}
