package bench

import (
	"hash/maphash"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// lifetimeBatches is how long an entity stays in a floor table: ~20 flushes of 16 batches,
// 5 minutes at a 15 s flush (the finished grace).
const lifetimeBatches = 320

// floorEntry is the least an entity log must keep per transition to order it later: time
// and the two states.
type floorEntry struct {
	time     pcommon.Timestamp
	from, to string
}

// readTransition reads, in one pass over its attributes, what a floor table needs of a
// transition span: its entity's id (the step's, else the task's) and its states.
func readTransition(s ptrace.Span) (id, from, to string) {
	for k, v := range s.Attributes().All() {
		switch k {
		case "step_uuid":
			id = v.Str()
		case "task_uuid":
			if id == "" {
				id = v.Str()
			}
		case "from_state":
			from = v.Str()
		case "to_state":
			to = v.Str()
		}
	}
	return id, from, to
}

// runFloor fills a floor table to its steady state (not measured), then times consume on one
// renewed batch per iteration, and reports ns/span and the live entities at the end.
func runFloor(b *testing.B, consume func(ptrace.Traces), live func() int) {
	batches := make([]ptrace.Traces, rotation)
	spansPer := 0
	for i := range batches {
		batches[i], spansPer = batch(i)
	}
	for i := range lifetimeBatches {
		td := batches[i%rotation]
		renew(td, -i-1)
		consume(td)
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		td := batches[(i+2)%rotation]
		renew(td, i+2)
		b.StartTimer()
		consume(td)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spansPer), "ns/span")
	b.ReportMetric(float64(live()), "live-entities")
}

// BenchmarkFloor measures the least work any implementation of the contract (§5: exact in
// any arrival order) does per transition span, with no fact, metric or flush: read the
// span's attributes once, find or create its entity in a map keyed by its id (tens of
// thousands of live entities, as at ~1,100 spans/s with finished entities kept for the
// 5-minute grace), append the transition to the entity's log, and drop entities as they
// age out. span_metrics also reads the attributes and updates a map per span, but its map
// holds a few hundred series that stay in cache.
func BenchmarkFloor(b *testing.B) {
	live := map[string]*[]floorEntry{}
	var born [][]string // ids by the batch that created them, for ageing out
	consume := func(td ptrace.Traces) {
		var ids []string
		spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for i := 0; i < spans.Len(); i++ {
			s := spans.At(i)
			id, from, to := readTransition(s)
			e, ok := live[id]
			if !ok {
				e = new([]floorEntry)
				id = strings.Clone(id)
				live[id] = e
				ids = append(ids, id)
			}
			*e = append(*e, floorEntry{time: s.EndTimestamp(), from: from, to: to})
		}
		born = append(born, ids)
		if len(born) > lifetimeBatches {
			for _, id := range born[0] {
				delete(live, id)
			}
			born = born[1:]
		}
	}
	runFloor(b, consume, func() int { return len(live) })
}

// BenchmarkFloorHashedIDs is BenchmarkFloor with the cheapest entity table we know: ids
// hashed to 128 bits as the map key and entities in a pointer-free slab, so that neither
// the key compare nor the garbage collector touches the id strings.
func BenchmarkFloorHashedIDs(b *testing.B) {
	seed1, seed2 := maphash.MakeSeed(), maphash.MakeSeed()
	type slabEntity struct {
		entries [8]struct {
			time     pcommon.Timestamp
			from, to uint8
		}
		n uint8
	}
	live := map[[2]uint64]uint32{}
	var slab []slabEntity
	var free []uint32
	var born [][][2]uint64
	consume := func(td ptrace.Traces) {
		var ids [][2]uint64
		spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for i := 0; i < spans.Len(); i++ {
			s := spans.At(i)
			id, from, to := readTransition(s)
			key := [2]uint64{maphash.String(seed1, id), maphash.String(seed2, id)}
			ix, ok := live[key]
			if !ok {
				if n := len(free); n > 0 {
					ix, free = free[n-1], free[:n-1]
					slab[ix] = slabEntity{}
				} else {
					ix = uint32(len(slab))
					slab = append(slab, slabEntity{})
				}
				live[key] = ix
				ids = append(ids, key)
			}
			e := &slab[ix]
			if int(e.n) < len(e.entries) {
				e.entries[e.n].time = s.EndTimestamp()
				e.entries[e.n].from, e.entries[e.n].to = uint8(len(from)), uint8(len(to))
				e.n++
			}
		}
		born = append(born, ids)
		if len(born) > lifetimeBatches {
			for _, k := range born[0] {
				free = append(free, live[k])
				delete(live, k)
			}
			born = born[1:]
		}
	}
	runFloor(b, consume, func() int { return len(live) })
}
