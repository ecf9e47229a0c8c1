// Package taskerstate is the tasker_state extension: one entity log (docs/telemetry.md §5)
// that the tasker_state processor and the tasker_state connector of a collector share when
// both name it in entity_log. The processor then finds every transition once, enters it
// into this log and stamps it; the connector reads no spans itself and derives its metrics
// from the same log. Each transition is extracted, ordered and stored once, in one memory
// budget.
//
//go:generate go tool mdatagen metadata.yaml
package taskerstate // import "github.com/tasker-systems/otelcol-tasker/extension/taskerstate"
