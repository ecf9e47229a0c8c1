package engine

import (
	"fmt"

	"go.opentelemetry.io/collector/component"
)

// Provider is what the tasker_state extension offers: the engine that a processor and a
// connector of one collector share.
type Provider interface {
	component.Component
	// SharedEngine returns the extension's engine (it is made when the extension starts).
	SharedEngine() (*Engine, error)
}

// FromHost returns the engine of the tasker_state extension id, which the component's key
// (entity_log) names.
func FromHost(host component.Host, id component.ID, key string) (*Engine, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("%s: no extension %q in this collector; declare it under extensions (type tasker_state) and list it in service::extensions", key, id)
	}
	p, ok := ext.(Provider)
	if !ok {
		return nil, fmt.Errorf("%s: extension %q is not a tasker_state extension; name one of type tasker_state", key, id)
	}
	return p.SharedEngine()
}
