package taskerstate // import "github.com/tasker-systems/otelcol-tasker/connector/taskerstate"

import (
	"context"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/tasker-systems/otelcol-tasker/connector/taskerstate/internal/metadata"
)

// NewFactory returns the factory of the tasker_state connector.
func NewFactory() connector.Factory {
	return connector.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		connector.WithTracesToMetrics(createTracesToMetrics, metadata.TracesToMetricsStability),
	)
}

// createTracesToMetrics builds the connector. Its clock comes from the context
// (clockwork.AddToContext), so tests drive the flush ticker with a fake clock; otherwise it
// is the real clock.
func createTracesToMetrics(ctx context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	return newTaskerState(set, cfg.(*Config), clockwork.FromContext(ctx), next)
}
