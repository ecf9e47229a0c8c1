// Command benchreport turns the rounds of scripts/bench-collector.sh (a TSV file, one line per
// collector run) into its summary table: per pipeline and build, the accepted spans/s, the
// share of the bare pipeline's throughput, the collector's CPU time per span, and memory.
//
//	benchreport results.tsv
//
// A share is taken per round, against the bare pipeline of the same round (rounds alternate
// the pipelines, so a slow phase of a shared machine hits both), and then the median of the
// rounds' shares is reported. Two shares are given: of bare's accepted spans/s, and of bare's
// CPU time per span (bare's µs/span over this pipeline's): the throughput share the pipeline
// would keep if both had the same CPU to themselves, which moves much less than throughput when
// other work competes for the machine.
package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// bare names the pipeline every share is taken against.
const bare = "bare"

// Run is one line of the results: one collector, one pipeline, one round.
type Run struct {
	Round    string
	Pipeline string
	Variant  string // the build whose binary ran
	Rate     float64
	CPUus    float64 // the collector's CPU time (user + system) per accepted span, in µs
	HWMKiB   float64 // VmHWM: the peak resident set
	RSSKiB   float64 // VmRSS when the load stopped
	// From GODEBUG=gctrace=1, when it was on (HasGC): the largest live heap a cycle left, and
	// the longest concurrent mark phase.
	HasGC     bool
	GCCycles  float64
	LiveMaxMB float64
	MarkMaxMS float64
}

var header = []string{"round", "pipeline", "variant", "spans_per_s", "cpu_us_per_span", "hwm_kib", "rss_kib", "gc_cycles", "gc_live_max_mb", "gc_mark_max_ms"}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchreport results.tsv")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err == nil {
		defer f.Close()
		var runs []Run
		if runs, err = Read(f); err == nil {
			err = Report(os.Stdout, runs)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// Read parses the TSV (with its header line) that the script writes.
func Read(r io.Reader) ([]Run, error) {
	cr := csv.NewReader(r)
	cr.Comma = '\t'
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || !slices.Equal(rows[0], header) {
		return nil, fmt.Errorf("want a header line %q", strings.Join(header, "\t"))
	}
	var runs []Run
	for n, row := range rows[1:] {
		num := func(i int) (float64, error) {
			v, err := strconv.ParseFloat(row[i], 64)
			if err != nil {
				return 0, fmt.Errorf("line %d, %s: %w", n+2, header[i], err)
			}
			return v, nil
		}
		run := Run{Round: row[0], Pipeline: row[1], Variant: row[2]}
		var errs [7]error
		run.Rate, errs[0] = num(3)
		run.CPUus, errs[1] = num(4)
		run.HWMKiB, errs[2] = num(5)
		run.RSSKiB, errs[3] = num(6)
		if row[7] != "-" {
			run.HasGC = true
			run.GCCycles, errs[4] = num(7)
			run.LiveMaxMB, errs[5] = num(8)
			run.MarkMaxMS, errs[6] = num(9)
		}
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
		runs = append(runs, run)
	}
	return runs, nil
}

// Row is the summary of one pipeline and build over the rounds.
type Row struct {
	Pipeline, Variant string
	Rates             []float64
	Shares            []float64 // per round, against that round's bare run
	CPUus             []float64
	CPUShares         []float64 // per round: that round's bare CPU µs/span over this one's
	HWMMiB, RSSMiB    []float64
	LiveMaxMB         []float64
	MarkMaxMS         []float64
}

// Summarize groups the runs by pipeline and build, in the order they first appear.
func Summarize(runs []Run) ([]*Row, error) {
	bareRuns := map[string]Run{}
	for _, r := range runs {
		if r.Pipeline == bare {
			bareRuns[r.Round] = r
		}
	}
	var rows []*Row
	byKey := map[[2]string]*Row{}
	for _, r := range runs {
		key := [2]string{r.Pipeline, r.Variant}
		row := byKey[key]
		if row == nil {
			row = &Row{Pipeline: r.Pipeline, Variant: r.Variant}
			byKey[key] = row
			rows = append(rows, row)
		}
		base, ok := bareRuns[r.Round]
		if !ok || base.Rate <= 0 || r.CPUus <= 0 {
			return nil, fmt.Errorf("round %s has no bare run to compare %s with", r.Round, r.Pipeline)
		}
		row.Rates = append(row.Rates, r.Rate)
		row.Shares = append(row.Shares, r.Rate/base.Rate)
		row.CPUus = append(row.CPUus, r.CPUus)
		row.CPUShares = append(row.CPUShares, base.CPUus/r.CPUus)
		row.HWMMiB = append(row.HWMMiB, r.HWMKiB/1024)
		row.RSSMiB = append(row.RSSMiB, r.RSSKiB/1024)
		if r.HasGC {
			row.LiveMaxMB = append(row.LiveMaxMB, r.LiveMaxMB)
			row.MarkMaxMS = append(row.MarkMaxMS, r.MarkMaxMS)
		}
	}
	return rows, nil
}

// Median of a non-empty list; the mean of the middle two for an even count.
func Median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Report writes the summary as a Markdown table.
func Report(w io.Writer, runs []Run) error {
	rows, err := Summarize(runs)
	if err != nil {
		return err
	}
	gc := slices.ContainsFunc(rows, func(r *Row) bool { return len(r.LiveMaxMB) > 0 })
	head := "| pipeline | build | accepted spans/s, median (min–max) | share of bare, median (min–max) | collector CPU µs/span, median (min–max) | CPU share of bare, median (min–max) | peak RSS MiB, median (max) | RSS at end MiB, median |"
	rule := "|---|---|---|---|---|---|---|---|"
	if gc {
		head += " live heap MB, max | GC mark ms, max |"
		rule += "---|---|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for _, r := range rows {
		line := fmt.Sprintf("| %s | %s | %.0f (%.0f–%.0f) | %.2f (%.2f–%.2f) | %.1f (%.1f–%.1f) | %.2f (%.2f–%.2f) | %.0f (%.0f) | %.0f |",
			r.Pipeline, r.Variant,
			Median(r.Rates), slices.Min(r.Rates), slices.Max(r.Rates),
			Median(r.Shares), slices.Min(r.Shares), slices.Max(r.Shares),
			Median(r.CPUus), slices.Min(r.CPUus), slices.Max(r.CPUus),
			Median(r.CPUShares), slices.Min(r.CPUShares), slices.Max(r.CPUShares),
			Median(r.HWMMiB), slices.Max(r.HWMMiB), Median(r.RSSMiB))
		if gc {
			if len(r.LiveMaxMB) > 0 {
				line += fmt.Sprintf(" %.0f | %.0f |", slices.Max(r.LiveMaxMB), slices.Max(r.MarkMaxMS))
			} else {
				line += " – | – |"
			}
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "\n%d collector runs; both shares are taken per round against that round's bare run, then the median.\n", len(runs))
	return nil
}
