// Package confcheck holds the configuration checks both components share: an unknown key is
// refused with the nearest valid key as a hint, and each duration has a floor that makes
// sense for it (a number written without its unit is nanoseconds in YAML).
package confcheck

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/confmap"
)

// Keys returns every key a configuration struct accepts, as confmap writes them ("a::b"):
// its mapstructure names, those of nested structs (squashed ones in their parent), and the
// paths to them. A key maps to true when anything below it is accepted too (a list or a map,
// whose items confmap may flatten into keys of their own).
func Keys(cfg any) map[string]bool {
	out := map[string]bool{}
	collect(reflect.TypeOf(cfg), "", out)
	return out
}

func collect(t reflect.Type, prefix string, out map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "squash" {
			collect(f.Type, prefix, out)
			continue
		}
		key := prefix + name
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch ft.Kind() {
		case reflect.Struct:
			out[key] = false
			collect(ft, key+confmap.KeyDelimiter, out)
		case reflect.Slice, reflect.Array, reflect.Map, reflect.Interface:
			out[key] = true
		default:
			out[key] = false
		}
	}
}

// CheckKeys refuses the first key of conf (in sorted order) that cfg does not accept,
// naming the nearest valid one.
func CheckKeys(conf *confmap.Conf, cfg any) error {
	valid := Keys(cfg)
	keys := conf.AllKeys()
	sort.Strings(keys)
	for _, k := range keys {
		if known(k, valid) {
			continue
		}
		if hint := nearest(k, valid); hint != "" {
			return fmt.Errorf("%s: unknown key; did you mean %s? (the keys are listed in the README)", k, hint)
		}
		return fmt.Errorf("%s: unknown key (the keys are listed in the README)", k)
	}
	return nil
}

// known reports whether k is valid, or lies under a list or map that is.
func known(k string, valid map[string]bool) bool {
	if _, ok := valid[k]; ok {
		return true
	}
	for {
		i := strings.LastIndex(k, confmap.KeyDelimiter)
		if i < 0 {
			return false
		}
		if k = k[:i]; valid[k] {
			return true
		}
	}
}

// nearest returns the valid key most like k: among the keys under the same parent, the one
// at the smallest edit distance of its last segment, if that is small; "" when none is.
func nearest(k string, valid map[string]bool) string {
	parent, leaf := "", k
	if i := strings.LastIndex(k, confmap.KeyDelimiter); i >= 0 {
		parent, leaf = k[:i+len(confmap.KeyDelimiter)], k[i+len(confmap.KeyDelimiter):]
	}
	best, bestDist := "", max(2, len(leaf)/3)+1
	for v := range valid {
		rest, ok := strings.CutPrefix(v, parent)
		if !ok || strings.Contains(rest, confmap.KeyDelimiter) {
			continue
		}
		if d := distance(leaf, rest); d < bestDist || d == bestDist && v < best {
			best, bestDist = v, d
		}
	}
	return best
}

// distance is the Levenshtein distance of two strings.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Duration checks a duration against its floor: a positive one under it is refused, with
// the hint that a number without a unit is nanoseconds (YAML's 7200000 is 7.2ms). zeroOK
// says that 0 is a meaningful value of the key (it turns something off); otherwise 0 is
// refused too. Negative durations are always refused.
func Duration(key string, d, floor, example time.Duration, zeroOK bool) error {
	switch {
	case d < 0:
		return fmt.Errorf("%s: must not be negative, got %s; use a duration such as %s", key, d, example)
	case d == 0 && zeroOK:
		return nil
	case d == 0:
		return fmt.Errorf("%s: must be a positive duration; use one such as %s", key, example)
	case d < floor:
		return fmt.Errorf("%s: %s is under its floor of %s; a number without a unit is read as nanoseconds: write the unit, such as %s", key, d, floor, example)
	}
	return nil
}
