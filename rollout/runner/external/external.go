// Package external is the runner for releases deployed by other tools (Salt,
// Ansible, a Kubernetes pipeline): termshift does not start or stop them; it
// reaches them at their health URL and waits for it.
package external

import (
	"context"
	"time"

	"github.com/termshift/termshift/rollout/runner"
)

// Runner is one externally deployed release.
type Runner struct {
	Release   string
	HealthURL string
}

// Deploy does nothing: the release is deployed elsewhere. The orchestrator
// then waits for its health.
func (r *Runner) Deploy(context.Context, runner.Deployment) error { return nil }

// Stop does nothing: termshift does not stop what it did not start.
func (r *Runner) Stop(context.Context, string) error { return nil }

// Endpoint is the health URL's scheme and host.
func (r *Runner) Endpoint(string) (runner.Endpoint, error) {
	return runner.URLEndpoint(r.Release, r.HealthURL)
}

// Status is 1 of 1 when the health URL answers 200 within two seconds.
func (r *Runner) Status(ctx context.Context, _ string) (runner.Status, error) {
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := runner.WaitHealthy(hctx, r.HealthURL, 200*time.Millisecond); err != nil {
		return runner.Status{Desired: 1, Detail: "not healthy: " + err.Error()}, nil
	}
	return runner.Status{Ready: 1, Desired: 1, Detail: "healthy"}, nil
}
