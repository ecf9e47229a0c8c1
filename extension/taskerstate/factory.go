package taskerstate // import "github.com/tasker-systems/otelcol-tasker/extension/taskerstate"

import (
	"context"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/tasker-systems/otelcol-tasker/extension/taskerstate/internal/metadata"
)

// NewFactory returns the factory of the tasker_state extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		create,
		metadata.ExtensionStability)
}

// create makes the extension. Its clock comes from the context (clockwork.AddToContext), so
// tests drive it with a fake clock; otherwise it is the real clock.
func create(ctx context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newEntityLog(set, cfg.(*Config), clockwork.FromContext(ctx))
}
