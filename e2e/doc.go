// Package e2e holds the end-to-end tests of otelcol-tasker: the ocb-built collector, real
// Prometheus and real Jaeger on loopback, fed by the Tasker simulator (cmd/taskersim), checked
// through the servers' HTTP APIs against the simulator's ground truth. The tests carry the
// build tag e2e; run them with `make e2e`, which builds and fetches what they need.
package e2e
