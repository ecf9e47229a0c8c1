package confcheck

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/confmap"
)

type inner struct {
	Depth int `mapstructure:"depth"`
}

type squashed struct {
	Wide int `mapstructure:"wide"`
}

type sample struct {
	Name   string         `mapstructure:"name"`
	Inner  inner          `mapstructure:"inner"`
	Ptr    *inner         `mapstructure:"ptr"`
	List   []string       `mapstructure:"list"`
	Table  map[string]int `mapstructure:"table"`
	Flat   squashed       `mapstructure:",squash"`
	hidden int
	_      struct{}
}

func TestKeys(t *testing.T) {
	got := Keys(&sample{})
	want := map[string]bool{"name": false, "inner": false, "inner::depth": false, "ptr": false, "ptr::depth": false,
		"list": true, "table": true, "wide": false}
	if len(got) != len(want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("key %s: %v, %v; want %v", k, g, ok, v)
		}
	}
}

func TestCheckKeys(t *testing.T) {
	ok := map[string]any{"name": "x", "inner": map[string]any{"depth": 1}, "list": []any{"a", "b"},
		"table": map[string]any{"anything": 1}, "wide": 2}
	if err := CheckKeys(confmap.NewFromStringMap(ok), &sample{}); err != nil {
		t.Errorf("valid keys refused: %v", err)
	}
	for _, c := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"nme": "x"}, "nme: unknown key; did you mean name?"},
		{map[string]any{"inner": map[string]any{"dpth": 1}}, "inner::dpth: unknown key; did you mean inner::depth?"},
		{map[string]any{"widee": 1}, "did you mean wide?"},
		{map[string]any{"zzzzzzzz": 1}, "zzzzzzzz: unknown key (the keys"},
		// A key under a struct field is not accepted just because the field is.
		{map[string]any{"inner": map[string]any{"depth": 1, "width": 2}}, "inner::width: unknown key"},
	} {
		err := CheckKeys(confmap.NewFromStringMap(c.raw), &sample{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.raw, err, c.want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"max_clock_skw", "max_clock_skew", 1}, {"kitten", "sitting", 3}} {
		if d := distance(c.a, c.b); d != c.d {
			t.Errorf("distance(%q, %q) = %d, want %d", c.a, c.b, d, c.d)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, c := range []struct {
		d      time.Duration
		zeroOK bool
		want   string // "" for no error
	}{
		{time.Hour, false, ""},
		{0, true, ""},
		{0, false, "must be a positive duration"},
		{-time.Second, true, "must not be negative"},
		{7200000, false, "7.2ms is under its floor of 1m0s; a number without a unit is read as nanoseconds: write the unit, such as 2h0m0s"},
	} {
		err := Duration("k", c.d, time.Minute, 2*time.Hour, c.zeroOK)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: unexpected error %v", c.d, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: error %v, want %q", c.d, err, c.want)
		}
	}
}
