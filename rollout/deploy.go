package rollout

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/render"
	"github.com/termshift/termshift/rollout/runner"
	"github.com/termshift/termshift/rollout/store"
)

// DeployTimeout bounds how long deploy waits for a release to be healthy.
const DeployTimeout = 90 * time.Second

// renderData assembles a release's template data from state and its
// credentials.
func (o *Orchestrator) renderData(ctx context.Context, s *store.State, release string) (*render.Data, error) {
	spec, err := o.spec(release)
	if err != nil {
		return nil, err
	}
	owner, err := o.sharedOwner(s, release)
	if err != nil {
		return nil, err
	}
	data := release // whose namespaces and credentials the configuration names
	if owner != "" {
		data = owner
	}
	rs := s.Releases[data]
	if rs == nil || len(rs.Namespaces) == 0 {
		if owner != "" {
			return nil, termshift.WithHint(fmt.Errorf("release %s shares %s's data, but %s has no namespaces: %w", termshift.Quote(release), termshift.Quote(owner), termshift.Quote(owner), termshift.ErrNotFound),
				"upgrade the release that owns the data first (`termshift upgrade "+owner+"`)")
		}
		return nil, termshift.WithHint(fmt.Errorf("release %s has no namespaces: %w", termshift.Quote(release), termshift.ErrNotFound), "run `termshift carve "+release+"` first")
	}
	creds, err := o.Store.Credentials(ctx, data)
	if err != nil {
		return nil, err
	}
	return render.NewData(o.Env, spec, rs.Namespaces, creds, o.ConfigDir(release)), nil
}

// deployment is what a runner gets: the rendered files and the commands.
func (o *Orchestrator) deployment(spec envfile.ReleaseSpec, d *render.Data) (runner.Deployment, error) {
	files, err := render.Files(o.Env, d)
	if err != nil {
		return runner.Deployment{}, err
	}
	cmds := map[string][]string{}
	names := make([]string, 0, len(spec.Commands))
	for n := range spec.Commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		argv, err := render.Argv(spec.Commands[n], d)
		if err != nil {
			return runner.Deployment{}, err
		}
		cmds[n] = argv
	}
	return runner.Deployment{Release: spec.Name, Version: spec.Version, ConfigDir: d.ConfigDir, Files: files,
		Commands: cmds, Env: d.Env(), WorkDir: o.Env.Dir, LogDir: o.LogDir(spec.Name), Progress: o.Out}, nil
}

// Deploy renders the release's configuration, has its runner start it
// beside the live one, and waits until its health URL answers 200.
func (o *Orchestrator) Deploy(ctx context.Context, release string) error {
	spec, err := o.spec(release)
	if err != nil {
		return err
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		return err
	}
	owner, err := o.sharedOwner(s, release)
	if err != nil {
		o.journal(ctx, release, "deploy", "refused", err.Error())
		return err
	}
	if owner != "" {
		// Intent first: state knows whose data the release runs on
		// before it runs.
		s.Release(release).SharesData = owner
		if ors := s.Releases[owner]; ors == nil || !ors.StepDone("carve") {
			return termshift.WithHint(fmt.Errorf("release %s shares %s's data, but %s is not carved: %w", termshift.Quote(release), termshift.Quote(owner), termshift.Quote(owner), termshift.ErrNotFound),
				"upgrade the release that owns the data first (`termshift upgrade "+owner+"`)")
		}
	}
	rs := s.Release(release)
	if owner == "" && !rs.StepDone("carve") {
		return termshift.WithHint(fmt.Errorf("release %s is not carved: %w", termshift.Quote(release), termshift.ErrNotFound), "run `termshift carve "+release+"` first")
	}
	r, err := o.runner(release)
	if err != nil {
		return err
	}
	ep, err := r.Endpoint(release)
	if err != nil {
		return err
	}
	o.journal(ctx, release, "deploy", "started", "version "+spec.Version)
	d, err := o.renderData(ctx, s, release)
	if err != nil {
		return err
	}
	files, err := render.Write(o.Env, d)
	if err != nil {
		o.journal(ctx, release, "deploy", "failed", err.Error())
		return err
	}
	o.printf("rendered %d configuration file(s) for %s in %s\n", len(files), release, d.ConfigDir)
	dep, err := o.deployment(spec, d)
	if err != nil {
		return err
	}
	wasRunning := rs.Running
	rs.Running = true
	rs.Version = spec.Version
	if err := o.SaveState(ctx, s); err != nil {
		return err
	}
	if err := r.Deploy(ctx, dep); err != nil {
		o.journal(ctx, release, "deploy", "failed", err.Error())
		return err
	}
	o.printf("waiting for %s to be healthy at %s ...\n", release, ep.Health)
	wctx, cancel := context.WithTimeout(ctx, DeployTimeout)
	defer cancel()
	if err := waitHealthy(wctx, r, release, ep, 250*time.Millisecond); err != nil {
		err = fmt.Errorf("deploy %s: not healthy within %s: %w", termshift.Quote(release), DeployTimeout, err)
		o.journal(ctx, release, "deploy", "failed", err.Error())
		return termshift.WithHint(err, "its logs are in "+o.LogDir(release))
	}
	now := o.Now()
	if !wasRunning || !rs.StepDone("deploy") {
		rs.ChangedAt = now
	}
	rs.SetStep("deploy", "done", "healthy at "+ep.Health, now)
	if err := o.SaveState(ctx, s); err != nil {
		return err
	}
	o.journal(ctx, release, "deploy", "done", "healthy at "+ep.Health)
	return nil
}

// ConfigDiff renders two releases' configurations and returns a line diff
// per file with every password masked.
func (o *Orchestrator) ConfigDiff(ctx context.Context, a, b string) (string, error) {
	s, err := o.LoadState(ctx)
	if err != nil {
		return "", err
	}
	da, err := o.renderData(ctx, s, a)
	if err != nil {
		return "", err
	}
	db, err := o.renderData(ctx, s, b)
	if err != nil {
		return "", err
	}
	return render.Diff(o.Env, da, db)
}
