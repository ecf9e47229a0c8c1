package sim

import (
	"encoding/json"
	"testing"
	"time"
)

func sentTestPlan(t *testing.T) *Plan {
	t.Helper()
	o := testOptions(11)
	o.DuplicateRate, o.LateRate, o.InvalidRate, o.InFlightRate = 0.05, 0.05, 0.2, 0.3
	o.Shape = ShapeMix
	p, err := NewPlan(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func truthJSON(t *testing.T, tr *Truth) string {
	t.Helper()
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// metricsJSON is what a collector derives: the counters, histograms and gauges of a truth.
func metricsJSON(t *testing.T, tr *Truth) string {
	t.Helper()
	b, err := json.Marshal([]any{tr.Counters, tr.Histograms, tr.Gauges})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var sentBase = time.Unix(1_800_000_000, 0)

// The whole plan sent is the plan; nothing sent derives nothing.
func TestSentAllOrNothing(t *testing.T) {
	p := sentTestPlan(t)
	if got, want := truthJSON(t, ComputeTruth(p.Sent(p.Spans), sentBase)), truthJSON(t, ComputeTruth(p, sentBase)); got != want {
		t.Error("the truth of the plan sent whole differs from the plan's")
	}
	none := ComputeTruth(p.Sent(nil), sentBase)
	if none.SpanCount != 0 || len(none.Carriers) != 0 || len(none.TraceSpans) != 0 {
		t.Errorf("nothing sent: %d spans, %d carriers, %d traces", none.SpanCount, len(none.Carriers), len(none.TraceSpans))
	}
	for m, series := range none.Counters {
		if len(series) != 0 {
			t.Errorf("nothing sent: %s has %d series", m, len(series))
		}
	}
	for m, series := range none.Histograms {
		if len(series) != 0 {
			t.Errorf("nothing sent: %s has %d series", m, len(series))
		}
	}
}

// A plan sent in two parts: the spans add up, and each part counts the transitions its spans
// carry, a duplicate in the second part whose original went in the first counting in both
// (each part alone sees it once).
func TestSentPartsAddUp(t *testing.T) {
	p := sentTestPlan(t)
	k := len(p.Spans) / 2
	first, second := p.Sent(p.Spans[:k]), p.Sent(p.Spans[k:])
	whole := ComputeTruth(p, sentBase)
	a, b := ComputeTruth(first, sentBase), ComputeTruth(second, sentBase)
	if a.SpanCount != k || b.SpanCount != len(p.Spans)-k {
		t.Fatalf("parts of %d and %d spans, want %d and %d", a.SpanCount, b.SpanCount, k, len(p.Spans)-k)
	}
	firstSpans := map[*Span]bool{}
	for _, s := range p.Spans[:k] {
		firstSpans[s] = true
	}
	straddling := 0 // duplicates sent in the second part whose original went in the first
	for _, tr := range p.Transitions {
		if tr.Duplicate && !firstSpans[tr.Carrier] && firstSpans[tr.orig.Carrier] {
			straddling++
		}
	}
	if straddling == 0 {
		t.Fatal("no duplicate straddles the split: the test proves little; change the seed")
	}
	got := a.CounterTotal(MetricTaskTransitions) + a.CounterTotal(MetricStepTransitions) + b.CounterTotal(MetricTaskTransitions) + b.CounterTotal(MetricStepTransitions)
	want := whole.CounterTotal(MetricTaskTransitions) + whole.CounterTotal(MetricStepTransitions) + float64(straddling)
	if got != want {
		t.Errorf("the parts count %v transitions, want the plan's %v and %d straddling duplicates", got, want-float64(straddling), straddling)
	}
	if len(a.Carriers)+len(b.Carriers) != len(whole.Carriers) {
		t.Errorf("the parts have %d + %d carriers, the plan %d", len(a.Carriers), len(b.Carriers), len(whole.Carriers))
	}
	for _, part := range []*Plan{first, second} {
		for _, task := range part.Tasks {
			for _, tr := range task.Transitions {
				if tr.Duplicate && tr.orig != nil && !contains1(part.Spans, tr.orig.Carrier) {
					t.Fatalf("task %d keeps a duplicate whose original was not sent", task.Index)
				}
			}
		}
	}
}

func contains1(spans []*Span, s *Span) bool {
	for _, x := range spans {
		if x == s {
			return true
		}
	}
	return false
}

// A duplicate whose original is lost stands for it: without the original's span (a
// transition span, which carries nothing else) the collector derives what it derives from
// the whole plan.
func TestSentDuplicateStandsForALostOriginal(t *testing.T) {
	p := sentTestPlan(t)
	var lost *Span
	for _, tr := range p.Transitions {
		if tr.Duplicate && tr.orig.AsSpan {
			lost = tr.orig.Carrier
			break
		}
	}
	if lost == nil {
		t.Fatal("no duplicated transition span; change the seed")
	}
	var rest []*Span
	for _, s := range p.Spans {
		if s != lost {
			rest = append(rest, s)
		}
	}
	part := ComputeTruth(p.Sent(rest), sentBase)
	if got, want := metricsJSON(t, part), metricsJSON(t, ComputeTruth(p, sentBase)); got != want {
		t.Error("without the original, its duplicate does not stand for it")
	}
	if part.Injected.Duplicates != ComputeTruth(p, sentBase).Injected.Duplicates-1 {
		t.Errorf("%d duplicates in the part, want one fewer than the plan's", part.Injected.Duplicates)
	}
}
