// Package testmeasure reads what the components' tests measure: the points of a component's
// own metrics from the collector's test telemetry, and the live heap.
package testmeasure

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tasker-systems/otelcol-tasker/internal/statelog"
)

// IntPoints returns the data points of an int sum or gauge of tel, keyed by their attributes
// written k=v and sorted ("kind=task,reason=oversized_id"; "" for none). A metric never
// recorded has no points.
func IntPoints(tel *componenttest.Telemetry, name string) (map[string]int64, error) {
	var rm metricdata.ResourceMetrics
	if err := tel.Reader.Collect(context.Background(), &rm); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				addPoints(out, d.DataPoints)
			case metricdata.Gauge[int64]:
				addPoints(out, d.DataPoints)
			default:
				return nil, fmt.Errorf("%s is a %T, not an int sum or gauge", name, m.Data)
			}
		}
	}
	return out, nil
}

func addPoints(out map[string]int64, dps []metricdata.DataPoint[int64]) {
	for _, dp := range dps {
		var kv []string
		for _, a := range dp.Attributes.ToSlice() {
			kv = append(kv, string(a.Key)+"="+a.Value.Emit())
		}
		sort.Strings(kv)
		out[strings.Join(kv, ",")] += dp.Value
	}
}

// LiveMemory is the heap in use once the garbage collector has run (twice, so that what a
// sync.Pool held is gone too), plus the entity logs' slab pages, which are mapped outside
// the heap: what is still referenced.
func LiveMemory() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc) + statelog.MappedBytes()
}
