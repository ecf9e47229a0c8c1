package taskerstate // import "github.com/tasker-systems/otelcol-tasker/connector/taskerstate"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/metadata"
	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/series"
	"github.com/tasker-systems/otelcol-tasker/internal/engine"
	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
	"github.com/tasker-systems/otelcol-tasker/internal/tasker"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

// flushStats is what one flush tells the component's own telemetry.
type flushStats struct {
	engine  engine.Stats
	series  series.Stats
	active  [series.NumMetrics]int64
	tracked int64
	bytes   int64
	counts  engine.BatchCounts
}

// Values of the table attribute of lookup_table_evictions.
const (
	tableSources = iota
	tableNames
	tableResources
	tableExtras
	numTables
)

var tableLabels = [numTables]string{"service_instances", "names", "resources", "extra_dimensions"}

// telemetry records the connector's own metrics. Its attribute sets are made once.
type telemetry struct {
	tb        *metadata.TelemetryBuilder
	kinds     [tasker.NumKinds]metric.MeasurementOption
	problems  [tasker.NumKinds][transition.NumProblems]metric.MeasurementOption
	anomalies [tasker.NumKinds][transition.NumAnomalies]metric.MeasurementOption
	evicted   [tasker.NumKinds][statelog.NumEvictReasons]metric.MeasurementOption
	metrics   [series.NumMetrics]metric.MeasurementOption
	tables    [numTables]metric.MeasurementOption
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	t := &telemetry{tb: tb}
	set1 := func(kv ...attribute.KeyValue) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(kv...))
	}
	for k := range t.kinds {
		kind := attribute.String("kind", tasker.Kind(k).String())
		t.kinds[k] = set1(kind)
		for p := range t.problems[k] {
			t.problems[k][p] = set1(kind, attribute.String("reason", transition.Problem(p).String()))
		}
		for a := range t.anomalies[k] {
			t.anomalies[k][a] = set1(kind, attribute.String("reason", transition.Anomaly(a).String()))
		}
		for r := range t.evicted[k] {
			t.evicted[k][r] = set1(kind, attribute.String("reason", statelog.EvictReason(r).String()))
		}
	}
	for id := range t.metrics {
		t.metrics[id] = set1(attribute.String("metric", series.Defs[id].Name))
	}
	for i, name := range tableLabels {
		t.tables[i] = set1(attribute.String("table", name))
	}
	return t, nil
}

func (t *telemetry) shutdown() { t.tb.Shutdown() }

func (t *telemetry) record(ctx context.Context, st *flushStats) {
	tb := t.tb
	byKind := func(ctr metric.Int64Counter, by [tasker.NumKinds]int64) {
		for k, n := range by {
			if n > 0 {
				ctr.Add(ctx, n, t.kinds[k])
			}
		}
	}
	byMetric := func(ctr metric.Int64Counter, by [series.NumMetrics]int64) {
		for id, n := range by {
			if n > 0 {
				ctr.Add(ctx, n, t.metrics[id])
			}
		}
	}
	byTable := func(table int, n int64) {
		if n > 0 {
			tb.ConnectorTaskerStateLookupTableEvictions.Add(ctx, n, t.tables[table])
		}
	}
	ls := &st.engine.Stats
	byKind(tb.ConnectorTaskerStateTransitions, st.engine.Entered)
	byKind(tb.ConnectorTaskerStateDuplicates, ls.Duplicates)
	byKind(tb.ConnectorTaskerStateLateTransitions, ls.Late)
	byKind(tb.ConnectorTaskerStateOutOfOrder, ls.OutOfOrder)
	byKind(tb.ConnectorTaskerStateClockSkew, ls.Skewed)
	byKind(tb.ConnectorTaskerStateLearnConflicts, ls.Conflicts)
	byKind(tb.ConnectorTaskerStateTransitionsDropped, ls.Dropped)
	byKind(tb.ConnectorTaskerStateLiveEntitiesEvicted, ls.LiveEvicted)
	byKind(tb.ConnectorTaskerStateDurationsRefused, ls.DurationsRefused)
	if ls.Abandoned > 0 {
		tb.ConnectorTaskerStateAttemptsAbandoned.Add(ctx, ls.Abandoned)
	}
	byTable(tableSources, ls.SourcesEvicted)
	byTable(tableNames, ls.NamesNotInterned)
	byTable(tableResources, st.engine.ResourcesRefused)
	byTable(tableExtras, st.engine.ExtrasRefused)
	for k := range st.counts.Problems {
		for p, n := range st.counts.Problems[k] {
			if n > 0 {
				tb.ConnectorTaskerStateProblems.Add(ctx, n, t.problems[k][p])
			}
		}
		for a, n := range st.counts.Anomalies[k] {
			if n > 0 {
				tb.ConnectorTaskerStateTransitionAnomalies.Add(ctx, n, t.anomalies[k][a])
			}
		}
	}
	for k := range ls.Evicted {
		for r, n := range ls.Evicted[k] {
			if n > 0 {
				tb.ConnectorTaskerStateEntitiesEvicted.Add(ctx, n, t.evicted[k][r])
			}
		}
	}
	byMetric(tb.ConnectorTaskerStateOverflowedPoints, st.series.Overflowed)
	byMetric(tb.ConnectorTaskerStateExemplarsDropped, st.series.ExemplarsDropped)
	byMetric(tb.ConnectorTaskerStateSeriesExpired, st.series.Expired)
	for id, n := range st.active {
		tb.ConnectorTaskerStateActiveSeries.Record(ctx, n, t.metrics[id])
	}
	tb.ConnectorTaskerStateTrackedEntities.Record(ctx, st.tracked)
	tb.ConnectorTaskerStateEntityLogBytes.Record(ctx, st.bytes)
}
