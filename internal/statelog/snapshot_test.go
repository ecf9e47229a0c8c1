package statelog

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tasker-systems/otelcol-tasker/internal/snapshot"
	"github.com/tasker-systems/otelcol-tasker/internal/transition"
)

// snap writes a log's snapshot at the log's clock.
func snap(l *Log[struct{}], flags uint16) []byte {
	w := snapshot.NewWriter(nil, l.Fingerprint(), l.clock.Now().UnixNano(), flags)
	l.WriteSnapshot(w)
	return w.Bytes()
}

func restoreInto(t *testing.T, l *Log[struct{}], data []byte) error {
	t.Helper()
	r, err := snapshot.NewReader(data, l.Fingerprint())
	if err != nil {
		return err
	}
	if _, err = l.ReadSnapshot(r, max(0, l.clock.Now().UnixNano()-r.Taken)); err != nil {
		return err
	}
	if err := r.Done(); err != nil {
		l.Reset()
		return err
	}
	return nil
}

// TestSnapshotRestoresTheLog: a log written half-way through the lifecycles and read back
// into a new log after a downtime derives, from the rest, exactly the facts the original
// derives: the unsettled transitions settle with those that come after the restart, and
// the times that span the restart are derived.
func TestSnapshotRestoresTheLog(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		xs := lifecycles()
		r := rand.New(rand.NewPCG(seed, 5))
		r.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
		half := len(xs) / 2

		orig, origRec, oclk := newLog(t, DefaultLimits(), defaultTiming())
		add(orig, xs[:half]...)
		oclk.Advance(10 * time.Second)
		orig.Settle()
		if err := orig.check(); err != nil {
			t.Fatalf("the live log fails its own check: %v", err)
		}
		data := snap(orig, snapshot.Clean)

		// The copy comes back after an hour's downtime: on its clock, the downtime counts
		// for nothing (the transitions from before settle 20 s after the restart, with the
		// rest, as they would have without it).
		cp, cpRec, cclk := newLog(t, DefaultLimits(), defaultTiming())
		cclk.Advance(time.Hour + 10*time.Second)
		if err := restoreInto(t, cp, data); err != nil {
			t.Fatalf("seed %d: restore: %v", seed, err)
		}
		if err := cp.check(); err != nil {
			t.Fatalf("restored log fails its check: %v", err)
		}
		before := len(origRec.facts)
		for _, l := range []*Log[struct{}]{orig, cp} {
			add(l, xs[half:]...)
		}
		oclk.Advance(31 * time.Second)
		cclk.Advance(31 * time.Second)
		orig.Settle()
		cp.Settle()
		sameMultiset(t, "facts after the restart", cpRec.facts, origRec.facts[before:])
		sameMultiset(t, "outcomes", cpRec.outcomes, origRec.outcomes)
		if orig.Len() != cp.Len() {
			t.Errorf("entities %d, restored %d", orig.Len(), cp.Len())
		}
		var liveO, liveC []LiveSeries
		orig.Live(func(s *LiveSeries) { liveO = append(liveO, *s) })
		cp.Live(func(s *LiveSeries) { liveC = append(liveC, *s) })
		cmp := func(a, b LiveSeries) int { return int(a.OldestSince - b.OldestSince) }
		slices.SortFunc(liveO, cmp)
		slices.SortFunc(liveC, cmp)
		if !slices.Equal(liveO, liveC) {
			t.Errorf("live state %v, restored %v", liveO, liveC)
		}
	}
}

// TestSnapshotOfAStampingLog: the processor's log comes back with what it knew, the stamps a
// transition got at its first read included.
func TestSnapshotOfAStampingLog(t *testing.T) {
	clk := clockwork.NewFakeClock()
	l := NewStamping[struct{}](DefaultLimits(), Timing{MaxClockSkew: time.Second}, clk)
	xs := lifecycles()
	var refs []Ref
	for _, x := range xs {
		tr := x.T()
		ref, _ := l.Add(&tr, struct{}{})
		refs = append(refs, ref)
	}
	var want []Stamps
	for _, ref := range refs {
		want = append(want, l.Stamps(ref))
	}
	w := snapshot.NewWriter(nil, l.Fingerprint(), clk.Now().UnixNano(), 0)
	l.WriteSnapshot(w)
	cp := NewStamping[struct{}](DefaultLimits(), Timing{MaxClockSkew: time.Second}, clk)
	r, err := snapshot.NewReader(w.Bytes(), cp.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.ReadSnapshot(r, 0); err != nil || r.Done() != nil {
		t.Fatal(err, r.Done())
	}
	for i, x := range xs {
		tr := x.T()
		ref, st := cp.Add(&tr, struct{}{}) // now a duplicate: it gets the original's stamps
		if st != Duplicate {
			t.Fatalf("%v: status %v after the restore, want a duplicate", x, st)
		}
		if got := cp.Stamps(ref); got != want[i] {
			t.Errorf("%v: stamps %+v, want %+v", x, got, want[i])
		}
	}
}

// TestSnapshotRefused: a snapshot cut short, with a byte changed, of another format version
// or of another layout or mode is refused with its reason, and the log stays empty.
func TestSnapshotRefused(t *testing.T) {
	src, _, _ := newLog(t, DefaultLimits(), defaultTiming())
	add(src, lifecycles()...)
	data := snap(src, 0)
	flipped := slices.Clone(data)
	flipped[len(flipped)/2] ^= 0x40
	version := slices.Clone(data)
	version[8]++
	stamping := NewStamping[struct{}](DefaultLimits(), defaultTiming(), clockwork.NewFakeClock())
	for _, c := range []struct {
		name string
		data []byte
		into *Log[struct{}]
		want error
	}{
		{"truncated", data[:len(data)-7], nil, snapshot.ErrTruncated},
		{"header only", data[:20], nil, snapshot.ErrTruncated},
		{"a byte changed", flipped, nil, snapshot.ErrCorrupt},
		{"another version", version, nil, snapshot.ErrUnknownVersion},
		{"another mode", data, stamping, snapshot.ErrIncompatible},
		{"not a snapshot", []byte("{\"this\": \"is json\", \"and long enough\": 1}"), nil, snapshot.ErrCorrupt},
	} {
		into := c.into
		if into == nil {
			into, _, _ = newLog(t, DefaultLimits(), defaultTiming())
		}
		err := restoreInto(t, into, c.data)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if into.Len() != 0 || into.Bytes() > src.Bytes() && into.ents.n != 0 {
			t.Errorf("%s: the log is not empty after a refused restore", c.name)
		}
	}
}

// TestCheckHoldsUnderChurn: a log driven hard (tiny caps, so entities are evicted and logs
// overflow; late, duplicate and shuffled transitions; hints) passes its own structural check
// after every batch, and its snapshot restores into a log that passes it too.
func TestCheckHoldsUnderChurn(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxEntities, lim.MaxTransitionsPerEntity, lim.MaxMemory = 12, 5, 1<<20
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 9))
		l, _, clk := newLog(t, lim, defaultTiming())
		xs := lifecycles()
		for round := 0; round < 40; round++ {
			for range 8 {
				x := xs[r.IntN(len(xs))]
				x.id += string(rune('a' + r.IntN(6)))
				x.us += int64(r.IntN(3)) * 1_000_000
				add(l, x)
			}
			if r.IntN(3) == 0 {
				l.Learn(transitionHint(r))
			}
			clk.Advance(time.Duration(r.IntN(20)) * time.Second)
			l.Settle()
			l.Expire()
			if err := l.check(); err != nil {
				t.Fatalf("seed %d round %d: %v", seed, round, err)
			}
		}
		cp, _, cclk := newLog(t, lim, defaultTiming())
		cclk.Advance(time.Hour)
		if err := restoreInto(t, cp, snap(l, 0)); err != nil {
			t.Fatalf("seed %d: restore: %v", seed, err)
		}
	}
}

// FuzzRestore: whatever the bytes, restoring never panics, and a restored log passes its
// check. The checksums of the input's sections are put right first (when its frame allows),
// so that the fuzzer reaches the decoding of the sections themselves, not only the CRCs.
func FuzzRestore(f *testing.F) {
	src, _, _ := newLog(f, DefaultLimits(), defaultTiming())
	add(src, lifecycles()...)
	data := snap(src, 0)
	f.Add(data, true)
	f.Add(data[:len(data)/2], true)
	f.Add(data[:30], false)
	flipped := slices.Clone(data)
	flipped[100] ^= 0xff
	f.Add(flipped, true)
	f.Add(flipped, false)
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		if fixCRC {
			data = snapshot.FixChecksums(slices.Clone(data))
		}
		l, _, _ := newLog(t, DefaultLimits(), defaultTiming())
		if err := restoreInto(t, l, data); err != nil {
			if l.Len() != 0 {
				t.Fatalf("refused (%v), yet %d entities", err, l.Len())
			}
			return
		}
		if err := l.check(); err != nil {
			t.Fatalf("restored a log that fails its check: %v", err)
		}
		l.Settle()
		l.SettleAll()
		l.Close()
	})
}

func transitionHint(r *rand.Rand) transition.Hint {
	ids := []string{"Aa", "Ab", "Bc", "s1a", "s2b", "s3c"}
	return transition.Hint{TaskID: ids[r.IntN(3)], StepID: ids[3+r.IntN(3)], Namespace: "ns", Handler: "h"}
}
