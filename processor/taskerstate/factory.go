package taskerstate // import "github.com/tasker-systems/otelcol-tasker/processor/taskerstate"

import (
	"context"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/tasker-systems/otelcol-tasker/processor/taskerstate/internal/metadata"
)

// The processor adds attributes to spans and events.
var processorCapabilities = consumer.Capabilities{MutatesData: true}

// NewFactory returns the factory of the tasker_state processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		processor.WithTraces(createTraces, metadata.TracesStability))
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	p, err := newStateProcessor(set, cfg.(*Config), clockwork.FromContext(ctx))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, p.processTraces,
		processorhelper.WithCapabilities(processorCapabilities),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown))
}
