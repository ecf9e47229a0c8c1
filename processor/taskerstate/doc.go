//go:generate go tool mdatagen metadata.yaml

// Package taskerstate holds the tasker_state traces processor: it recognises the state
// transitions of the Tasker workflow engine (spans or span events carrying from_state and
// to_state), names each one's event, checks it against the state machine, learns each
// task's namespace and each step's handler, and stamps what its entity log knows when the
// span passes (docs/telemetry.md §6). It never holds back, drops, reorders
// or changes a span beyond adding those attributes.
package taskerstate // import "github.com/tasker-systems/otelcol-tasker/processor/taskerstate"
