package rollout

import (
	"context"
	"fmt"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/runner"
)

// DeployTimeout bounds how long deploy waits for a release to be healthy.
const DeployTimeout = 90 * time.Second

// Deploy renders the release's configuration, starts it beside the live
// one (local runner: through serve; external: started elsewhere) and waits
// until its health URL answers 200.
func (o *Orchestrator) Deploy(ctx context.Context, release string) error {
	spec, err := o.spec(release)
	if err != nil {
		return err
	}
	s, err := o.loadState()
	if err != nil {
		return err
	}
	rs := s.Releases[release]
	if rs == nil || !rs.StepDone("carve") {
		return termshift.WithHint(fmt.Errorf("release %s is not carved: %w", termshift.Quote(release), termshift.ErrNotFound), "run `termshift carve "+release+"` first")
	}
	if spec.Runner == "local" && o.Env.Router.Provider == "local" && !o.serveRunning() {
		return termshift.WithHint(ErrServeNotRunning, "start `termshift serve` (it supervises local releases and routes traffic), then deploy again")
	}
	o.journal(release, "deploy", "started", "version "+spec.Version)
	files, err := o.Render(s, release)
	if err != nil {
		o.journal(release, "deploy", "failed", err.Error())
		return err
	}
	o.printf("rendered %d configuration file(s) for %s in %s\n", len(files), release, o.Store.ConfigDir(release))
	wasRunning := rs.Running
	rs.Running = true
	rs.Version = spec.Version
	if err := o.saveState(s); err != nil {
		return err
	}
	if spec.Runner == "local" && o.serveRunning() {
		st, err := o.applyServe(ctx)
		if err != nil {
			return err
		}
		if len(st.Errors) > 0 {
			err := fmt.Errorf("serve could not start %s: %s", termshift.Quote(release), st.Errors[0])
			o.journal(release, "deploy", "failed", err.Error())
			return err
		}
	}
	url := o.healthURL(spec)
	o.printf("waiting for %s to be healthy at %s ...\n", release, url)
	wctx, cancel := context.WithTimeout(ctx, DeployTimeout)
	defer cancel()
	if err := runner.WaitHealthy(wctx, url, 250*time.Millisecond); err != nil {
		err = fmt.Errorf("deploy %s: not healthy within %s: %w", termshift.Quote(release), DeployTimeout, err)
		o.journal(release, "deploy", "failed", err.Error())
		return termshift.WithHint(err, "its logs are in "+o.Store.LogDir(release))
	}
	now := o.Now()
	if !wasRunning || !rs.StepDone("deploy") {
		rs.ChangedAt = now
	}
	rs.SetStep("deploy", "done", "healthy at "+url, now)
	if err := o.saveState(s); err != nil {
		return err
	}
	o.journal(release, "deploy", "done", "healthy at "+url)
	return nil
}
