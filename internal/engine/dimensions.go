package engine

import (
	"errors"
	"fmt"
	"strings"
)

// MetricAttrs are the attribute names the connector's metrics already carry (their definitions
// are in connector/taskerstate/internal/series, whose test keeps the two the same). An extra
// dimension must not become one of them as a label.
var MetricAttrs = []string{
	"namespace", "from_state", "to_state", "event_name", "state", "outcome",
	"handler_name", "attempt_number", "entity",
}

// OverflowAttr marks the series that points go to past the cardinality limit.
const OverflowAttr = "otel.metric.overflow"

// reservedDimensions are MetricAttrs, the overflow attribute, and the labels the prometheus
// exporter or Prometheus itself put on every series.
var reservedDimensions = append(append([]string(nil), MetricAttrs...), OverflowAttr, "le", "quantile", "job", "instance")

// CheckDimensions refuses an extra dimension that would become a label the metrics already
// have or Prometheus reserves. key is where the dimensions are configured ("extra_dimensions"
// of the connector or of the tasker_state extension, whose log a connector derives from).
// Every component that takes extra_dimensions checks them here, through DeriveConfig.Validate.
func CheckDimensions(key string, dims []string) error {
	var errs []error
	for i, d := range dims {
		if r, ok := reservedLabel(d); ok {
			errs = append(errs, fmt.Errorf("%s[%d]: %q would be the label %q, which the metrics already have or Prometheus reserves; remove it, or copy the attribute to another name", key, i, d, r))
		}
	}
	return errors.Join(errs...)
}

// reservedLabel reports whether the attribute name d becomes, as a Prometheus label (every
// character other than a letter, digit or underscore turned into an underscore), one that
// is reserved; it returns that label.
func reservedLabel(d string) (string, bool) {
	label := promLabel(d)
	if strings.HasPrefix(label, "__") {
		return label, true
	}
	for _, r := range reservedDimensions {
		if label == promLabel(r) {
			return label, true
		}
	}
	return "", false
}

func promLabel(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
}
