package local

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/control"
	"github.com/termshift/termshift/rollout/runner"
)

// Runner runs one release's processes on this machine, through the
// `termshift serve` of the environment: the orchestrator marks the release
// running in state and Deploy asks serve to converge; serve starts the
// processes with Start. A release stops when state says so and serve
// converges again.
type Runner struct {
	Release    string
	Port       int
	HealthPath string
	Control    *control.Client
}

// Deploy asks serve to start the release (state already says it runs).
func (r *Runner) Deploy(ctx context.Context, _ runner.Deployment) error {
	if !r.Control.Running() {
		return termshift.WithHint(control.ErrNotRunning, "start `termshift serve` (it supervises local releases and routes traffic), then deploy again")
	}
	st, err := r.Control.Apply(ctx)
	if err != nil {
		return err
	}
	for _, e := range st.Errors {
		if strings.Contains(e, termshift.Quote(r.Release)) {
			return fmt.Errorf("serve could not start %s: %s", termshift.Quote(r.Release), e)
		}
	}
	return nil
}

// Stop asks serve to converge: a release that state no longer runs stops.
func (r *Runner) Stop(ctx context.Context, _ string) error {
	if !r.Control.Running() {
		return nil // nothing runs it
	}
	_, err := r.Control.Apply(ctx)
	return err
}

// Endpoint is the release's local port.
func (r *Runner) Endpoint(string) (runner.Endpoint, error) {
	if r.Port <= 0 {
		return runner.Endpoint{}, fmt.Errorf("release %s runs locally but has no port: %w", termshift.Quote(r.Release), termshift.ErrInvalid)
	}
	return runner.PortEndpoint(r.Port, r.HealthPath), nil
}

// Status counts the release's running processes as serve reports them.
func (r *Runner) Status(ctx context.Context, release string) (runner.Status, error) {
	if !r.Control.Running() {
		return runner.Status{Detail: "termshift serve is not running"}, nil
	}
	st, err := r.Control.Status(ctx)
	if err != nil {
		return runner.Status{}, err
	}
	procs := st.Processes[release]
	out := runner.Status{Desired: len(procs)}
	var down []string
	for _, p := range procs {
		if p.Running {
			out.Ready++
		} else {
			down = append(down, p.Name+" ("+p.LastExit+")")
		}
	}
	out.Detail = fmt.Sprintf("%d of %d processes running", out.Ready, out.Desired)
	if len(down) > 0 {
		out.Detail += "; down: " + strings.Join(down, ", ")
	}
	return out, nil
}

// Supervise starts a deployment's processes under serve's supervision. The
// processes outlive ctx's cancellation only through the returned group's
// Stop: serve stops them when state says so or when it exits.
func (r *Runner) Supervise(ctx context.Context, d runner.Deployment) (*Group, error) {
	names := make([]string, 0, len(d.Commands))
	for n := range d.Commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var cmds []Command
	for _, n := range names {
		cmds = append(cmds, Command{Name: n, Argv: d.Commands[n], Dir: d.WorkDir, Env: d.Env})
	}
	if err := os.MkdirAll(d.LogDir, 0o700); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	return Start(ctx, Options{Release: d.Release, Commands: cmds, LogDir: d.LogDir})
}
