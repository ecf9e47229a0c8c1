// Package taskerstate is the tasker_state connector: it derives Tasker's task and step
// state-machine metrics (docs/telemetry.md §7) from the state transitions in
// traces, through its own entity log (§5), so that its values are exact whatever the
// arrival order.
//
//go:generate go tool mdatagen metadata.yaml
package taskerstate // import "github.com/tasker-systems/otelcol-tasker/connector/taskerstate"
