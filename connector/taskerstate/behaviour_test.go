package taskerstate

import (
	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/series"
	"strings"

	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/metadatatest"
)

// createdTask is one task transition none→pending of task id in namespace ns.
func createdTask(id, ns string, ms int64) ptrace.Traces {
	b := newTraces()
	b.taskSpan(b.resource(orch, "o"), 9, id, ns, "C-"+id, "none", "pending", ms)
	return b.td
}

const created = "|tasker.task.state_transitions|from_state=none,namespace="

// TestSeriesExpiry: a series that sees nothing for series_expiry stops being emitted, while
// one that is updated stays. Without expiry the first series would still be in the output.
func TestSeriesExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.SeriesExpiry = time.Minute
	h := newHarness(t, cfg)

	h.consume(createdTask("A", "old", 0))
	h.ticks(2) // 30s: A settles, its series is made (last update 30s)
	pts := flatten(t, h.ticks(3))
	require.Contains(t, pts, orch+created+"old,to_state=pending") // 75s: still there
	assert.Equal(t, int64(1), pts[orch+created+"old,to_state=pending"].value)

	h.consume(createdTask("B", "new", 0)) // arrives at 75s, settles at 105s
	pts = flatten(t, h.tick())            // 90s: 30s + 1m, "old" expires
	assert.NotContains(t, pts, orch+created+"old,to_state=pending")
	pts = flatten(t, h.ticks(2)) // 120s: "new" is emitted, "old" is gone for good
	assert.NotContains(t, pts, orch+created+"old,to_state=pending")
	assert.Equal(t, int64(1), pts[orch+created+"new,to_state=pending"].value)

	metadatatest.AssertEqualConnectorTaskerStateSeriesExpired(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("metric", "tasker.task.state_transitions"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestCardinalityOverflow: past cardinality_limit, new attribute sets go to one series
// marked otel.metric.overflow="true", nothing is lost, and the overflowed points are counted.
func TestCardinalityOverflow(t *testing.T) {
	cfg := testConfig()
	cfg.CardinalityLimit = 2
	h := newHarness(t, cfg)
	for i := range 5 {
		h.consume(createdTask(fmt.Sprint("T", i), fmt.Sprint("ns", i), int64(i)))
	}
	h.consume(createdTask("T9", "ns0", 9)) // an existing series still counts normally
	pts := flatten(t, h.ticks(3))

	var regular, total int64
	for k, p := range pts {
		if !strings.HasPrefix(k, orch+"|tasker.task.state_transitions|") {
			continue
		}
		total += p.value
		if k != orch+"|tasker.task.state_transitions|otel.metric.overflow=true" {
			regular++
		}
	}
	// The live-state gauges are under the limit too: the five live tasks' series, two
	// regular ones and the overflow series, which adds the counts up and keeps the oldest.
	assert.Equal(t, int64(3), pts[orch+"|tasker.task.in_state|otel.metric.overflow=true"].value)
	assert.Len(t, pts, 3*3, "three series of each of state_transitions, in_state and oldest_in_state_since")
	assert.Equal(t, at(2).AsTime().Unix(), int64(pts[orch+"|tasker.task.oldest_in_state_since|otel.metric.overflow=true"].gauge))
	assert.Equal(t, int64(2), regular, "exactly cardinality_limit regular series")
	assert.Equal(t, int64(6), total, "every transition is counted somewhere")
	assert.Equal(t, int64(2), pts[orch+created+"ns0,to_state=pending"].value)
	assert.Equal(t, int64(3), pts[orch+"|tasker.task.state_transitions|otel.metric.overflow=true"].value)

	// A gauge's points past the limit are counted at each flush that sets them: at 30 s and
	// 45 s, three each.
	metadatatest.AssertEqualConnectorTaskerStateOverflowedPoints(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: attribute.NewSet(attribute.String("metric", "tasker.task.state_transitions"))},
		{Value: 6, Attributes: attribute.NewSet(attribute.String("metric", "tasker.task.in_state"))},
		{Value: 6, Attributes: attribute.NewSet(attribute.String("metric", "tasker.task.oldest_in_state_since"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestDeltaContinuity: with delta temporality each point's start time is the previous point's
// time for that series, also across flushes in which the series had nothing new, and each
// point holds only its interval's increments.
func TestDeltaContinuity(t *testing.T) {
	cfg := testConfig()
	cfg.AggregationTemporality = TemporalityDelta
	h := newHarness(t, cfg)
	key := orch + created + "d,to_state=pending"

	h.consume(createdTask("A", "d", 0))
	h.tick()
	p1 := flatten(t, h.tick())[key] // 30s
	assert.Equal(t, pmetric.AggregationTemporalityDelta, p1.temp)
	assert.Equal(t, int64(1), p1.value, "delta points are not held back as zero points")
	assert.Equal(t, ts(15), p1.start, "a new series starts at the flush before")
	assert.Equal(t, ts(30), p1.ts)

	h.consume(createdTask("B", "d", 1), createdTask("C", "d", 2)) // settle at 60s
	assert.NotContains(t, flatten(t, h.tick()), key, "45s: nothing new, no point")
	p2 := flatten(t, h.tick())[key] // 60s
	assert.Equal(t, int64(2), p2.value, "only this interval's increments")
	assert.Equal(t, p1.ts, p2.start, "contiguous with the previous point")
	assert.Equal(t, ts(60), p2.ts)
	require.Len(t, p2.exs, 2, "a delta point carries the exemplars of its interval")

	h.consume(createdTask("D", "d", 3))
	p3 := flatten(t, h.ticks(2))[key] // 90s
	assert.Equal(t, int64(1), p3.value)
	assert.Equal(t, p2.ts, p3.start)
}

// TestCumulativeStartFixed: a cumulative series keeps its start time across increments.
func TestCumulativeStartFixed(t *testing.T) {
	h := newHarness(t, testConfig())
	key := orch + created + "c,to_state=pending"
	h.consume(createdTask("A", "c", 0))
	p := flatten(t, h.ticks(2))[key]
	assert.Equal(t, int64(0), p.value, "30s: the series first shows as zero")
	h.consume(createdTask("B", "c", 1))
	p = flatten(t, h.tick())[key]
	assert.Equal(t, int64(1), p.value, "45s: the first increment")
	p = flatten(t, h.ticks(2))[key]
	assert.Equal(t, int64(2), p.value, "75s: B has settled")
	assert.Equal(t, ts(15), p.start)
	assert.Equal(t, ts(75), p.ts)
}

func ts(sec int) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(clockStart.Add(time.Duration(sec) * time.Second))
}

// TestExemplarsBounded: a point keeps the latest max_per_data_point exemplars; the replaced
// ones are counted.
func TestExemplarsBounded(t *testing.T) {
	cfg := testConfig()
	cfg.Exemplars.MaxPerDataPoint = 2
	h := newHarness(t, cfg)
	for i := range 3 {
		h.consume(createdTask(fmt.Sprint("T", i), "e", int64(100*i)))
	}
	p := flatten(t, h.ticks(3))[orch+created+"e,to_state=pending"]
	assert.Equal(t, int64(3), p.value)
	require.Len(t, p.exs, 2)
	assert.Equal(t, at(100), p.exs[0].Timestamp())
	assert.Equal(t, at(200), p.exs[1].Timestamp())
	metadatatest.AssertEqualConnectorTaskerStateExemplarsDropped(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("metric", "tasker.task.state_transitions"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestExemplarsDisabled: no exemplars when disabled.
func TestExemplarsDisabled(t *testing.T) {
	cfg := testConfig()
	cfg.Exemplars.Enabled = false
	h := newHarness(t, cfg)
	h.consume(goldenBatches()...)
	for k, p := range flatten(t, h.ticks(3)) {
		assert.Empty(t, p.exs, k)
	}
}

// TestExtraDimensionCorrelationID: correlation_id becomes an attribute only when opted in.
func TestExtraDimensionCorrelationID(t *testing.T) {
	cfg := testConfig()
	cfg.ExtraDimensions = []string{"correlation_id"}
	h := newHarness(t, cfg)
	h.consume(goldenBatches()...)
	pts := flatten(t, h.ticks(3))
	assert.Equal(t, uint64(1), pts[orch+"|tasker.task.completion_duration|correlation_id=C1,namespace=payments,outcome=complete"].count)
	// On a worker step event the id comes from the enclosing worker.step_execution span.
	assert.Equal(t, int64(2), pts[worker+"|tasker.step.state_transitions|correlation_id=C1,event_name=step.execution_requested,from_state=enqueued,namespace=payments,to_state=in_progress"].value)
	// As a dimension it is not repeated as an exemplar attribute.
	for _, p := range pts {
		for _, e := range p.exs {
			_, ok := e.FilteredAttributes().Get("correlation_id")
			assert.False(t, ok)
		}
	}
}

// TestExponentialHistogram: the histogram option gives exponential histograms with the same
// counts and sums.
func TestExponentialHistogram(t *testing.T) {
	cfg := testConfig()
	cfg.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 40}
	h := newHarness(t, cfg)
	h.consume(goldenBatches()...)
	pts := flatten(t, h.ticks(3))
	for k, want := range goldenHists {
		p := pts[k]
		if want.bounds != nil {
			// attempt_count keeps its fixed explicit buckets
			assert.Equal(t, pmetric.MetricTypeHistogram, p.kind, k)
			assert.Equal(t, want.buckets, p.buckets, k)
			continue
		}
		assert.Equal(t, pmetric.MetricTypeExponentialHistogram, p.kind, k)
		assert.Equal(t, want.count, p.count, k)
		assert.InDelta(t, want.sum, p.sum, 1e-9, k)
	}
}

// TestTelemetry: the component counts recognised transitions, duplicates and problems.
func TestTelemetry(t *testing.T) {
	h := newHarness(t, testConfig())
	batches := goldenBatches()
	h.consume(batches...)
	h.consume(batches[1]) // T2's four task transitions again
	h.tick()

	kind := func(k string) attribute.Set { return attribute.NewSet(attribute.String("kind", k)) }
	// 10 task transitions and 13 step transitions (the fixture's comment).
	metadatatest.AssertEqualConnectorTaskerStateTransitions(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 10, Attributes: kind("task")}, {Value: 13, Attributes: kind("step")},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualConnectorTaskerStateDuplicates(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 4, Attributes: kind("task")},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualConnectorTaskerStateProblems(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("kind", "task"), attribute.String("reason", "unknown_state"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualConnectorTaskerStateTrackedEntities(t, h.tel, []metricdata.DataPoint[int64]{{Value: 4}},
		metricdatatest.IgnoreTimestamp())
}

// workload makes n tasks, each with two steps, the second retried once; task i is in
// namespace ns(i%3) and finishes complete or error. One batch per task and service.
func workload(n int) [][]ptrace.Traces {
	out := make([][]ptrace.Traces, n)
	for i := range n {
		task := fmt.Sprintf("task-%d", i)
		ns := fmt.Sprintf("ns%d", i%3)
		base := int64(i) * 10
		tr := byte(i%250 + 1)
		ob, wb := newTraces(), newTraces()
		o, w := ob.resource(orch, "o1"), wb.resource(worker, fmt.Sprint("w", i%2))
		for _, x := range []struct {
			from, to string
			ms       int64
		}{{"none", "pending", 0}, {"pending", "initializing", 100}, {"initializing", "enqueuing_steps", 200},
			{"enqueuing_steps", "steps_in_process", 300}} {
			ob.taskSpan(o, tr, task, ns, "c-"+task, x.from, x.to, base+x.ms)
		}
		end := "complete"
		if i%4 == 3 {
			end = "error"
		}
		ob.taskSpan(o, tr, task, ns, "c-"+task, "steps_in_process", end, base+5000+int64(i%7)*1000)
		for s := range 2 {
			step := fmt.Sprintf("%s-s%d", task, s)
			os := ob.span(o, "enqueue_ready_steps", tr, base, base+400, map[string]any{"task_uuid": task})
			stepEvent(os, step, task, "none", "pending", base+250, nil)
			stepEvent(os, step, task, "pending", "enqueued", base+300+int64(s), nil)
			ws := wb.span(w, "worker.step_execution", tr, base+350, base+4000, map[string]any{"step_uuid": step, "task_uuid": task,
				"namespace": ns, "step_name": fmt.Sprint("handler", s), "correlation_id": "c-" + task})
			stepEvent(ws, step, task, "enqueued", "in_progress", base+400+int64(i%5)*10, nil)
			if s == 1 {
				stepEvent(ws, step, task, "in_progress", "waiting_for_retry", base+900, nil)
				stepEvent(os, step, task, "waiting_for_retry", "pending", base+1900, nil)
				stepEvent(os, step, task, "pending", "enqueued", base+2000, nil)
				stepEvent(ws, step, task, "enqueued", "in_progress", base+2100, nil)
			}
			stepEvent(ws, step, task, "in_progress", "enqueued_for_orchestration", base+3000+int64(s)*100, nil)
			stepEvent(os, step, task, "enqueued_for_orchestration", "complete", base+3500, nil)
		}
		out[i] = []ptrace.Traces{ob.td, wb.td}
	}
	return out
}

// TestSharding: transitions split by task across three connector instances give, summed,
// exactly the metrics of one instance (each instance writes its own series; see README).
func TestSharding(t *testing.T) {
	const n, shards = 30, 3
	tasks := workload(n)

	one := newHarness(t, testConfig())
	for _, b := range tasks {
		one.consume(b...)
	}
	want := values(flatten(t, one.ticks(3)))
	require.NotEmpty(t, want)

	summed := map[string]point{}
	for s := range shards {
		h := newHarness(t, testConfig())
		for i, b := range tasks {
			if i%shards == s {
				h.consume(b...)
			}
		}
		for k, p := range flatten(t, h.ticks(3)) {
			q := summed[k]
			q.kind = p.kind
			q.value += p.value
			q.count += p.count
			q.sum += p.sum
			if q.buckets == nil && p.buckets != nil {
				q.buckets = make([]uint64, len(p.buckets))
			}
			for i, c := range p.buckets {
				q.buckets[i] += c
			}
			summed[k] = q
		}
	}
	assert.Equal(t, want, values(summed))
	// Spot-check that the workload exercised every metric.
	names := map[string]bool{}
	for k := range want {
		var svc, name string
		_, _ = fmt.Sscanf(replaceBars(k), "%s %s", &svc, &name)
		names[name] = true
	}
	for _, d := range series.Defs {
		// Every task of the workload finishes, so nothing is live at the end.
		if d.Name != "tasker.transitions.invalid" && d.Kind != series.Gauge {
			assert.True(t, names[d.Name], "workload has no %s", d.Name)
		}
	}
}

func replaceBars(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == '|' {
			b[i] = ' '
		}
	}
	return string(b)
}
