package main

import (
	"strings"
	"testing"
)

const results = `round	pipeline	variant	spans_per_s	cpu_us_per_span	hwm_kib	rss_kib	gc_cycles	gc_live_max_mb	gc_mark_max_ms
1	bare	a	100	10	10240	9216	-	-	-
1	processor	a	60	20	20480	20480	-	-	-
1	processor	b	90	12	12288	11264	-	-	-
2	bare	a	200	11	11264	10240	-	-	-
2	processor	a	140	18	30720	28672	-	-	-
2	processor	b	150	13	13312	12288	-	-	-
3	bare	a	50	9	10240	9216	-	-	-
3	processor	a	40	25	25600	24576	-	-	-
3	processor	b	45	14	12288	12288	-	-	-
`

func TestSharesAreTakenPerRoundThenTheMedian(t *testing.T) {
	runs, err := Read(strings.NewReader(results))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := Report(&out, runs); err != nil {
		t.Fatal(err)
	}
	// processor/a: shares 0.60, 0.70, 0.80 (median 0.70), where the median rate over the
	// median bare rate would say 60/100. processor/b: 0.90, 0.75, 0.90. CPU shares: a 10/20,
	// 11/18, 9/25 = 0.50, 0.61, 0.36; b 10/12, 11/13, 9/14 = 0.83, 0.85, 0.64.
	for _, want := range []string{
		"| bare | a | 100 (50–200) | 1.00 (1.00–1.00) | 10.0 (9.0–11.0) | 1.00 (1.00–1.00) | 10 (11) | 9 |",
		"| processor | a | 60 (40–140) | 0.70 (0.60–0.80) | 20.0 (18.0–25.0) | 0.50 (0.36–0.61) | 25 (30) | 24 |",
		"| processor | b | 90 (45–150) | 0.90 (0.75–0.90) | 13.0 (12.0–14.0) | 0.83 (0.64–0.85) | 12 (13) | 12 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing line %q in\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "live heap") {
		t.Errorf("GC columns without GC figures:\n%s", out.String())
	}
}

func TestGCColumnsWhenTraced(t *testing.T) {
	runs, err := Read(strings.NewReader(`round	pipeline	variant	spans_per_s	cpu_us_per_span	hwm_kib	rss_kib	gc_cycles	gc_live_max_mb	gc_mark_max_ms
1	bare	a	100	10	1024	1024	40	12	3.5
1	both	a	50	4.5	2048	2048	9	850	1400
2	bare	a	100	11	1024	1024	41	11	2.5
2	both	a	60	4.5	2048	2048	8	885	1500
`))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := Report(&out, runs); err != nil {
		t.Fatal(err)
	}
	if want := "| both | a | 55 (50–60) | 0.55 (0.50–0.60) | 4.5 (4.5–4.5) | 2.33 (2.22–2.44) | 2 (2) | 2 | 885 | 1500 |"; !strings.Contains(out.String(), want) {
		t.Errorf("missing line %q in\n%s", want, out.String())
	}
}

func TestARoundWithoutBareIsAnError(t *testing.T) {
	runs, err := Read(strings.NewReader(`round	pipeline	variant	spans_per_s	cpu_us_per_span	hwm_kib	rss_kib	gc_cycles	gc_live_max_mb	gc_mark_max_ms
1	bare	a	100	10	1024	1024	-	-	-
2	both	a	50	4.5	2048	2048	-	-	-
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := Report(&strings.Builder{}, runs); err == nil || !strings.Contains(err.Error(), "round 2 has no bare run") {
		t.Fatalf("got %v", err)
	}
}

func TestReadRefusesAForeignFile(t *testing.T) {
	if _, err := Read(strings.NewReader("a\tb\n1\t2\n")); err == nil {
		t.Fatal("no error for a file without the header")
	}
	if _, err := Read(strings.NewReader(strings.Join(header, "\t") + "\n1\tbare\ta\tfast\t1\t1\t1\t-\t-\t-\n")); err == nil {
		t.Fatal("no error for a rate that is not a number")
	}
}
