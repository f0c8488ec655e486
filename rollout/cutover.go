package rollout

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/render"
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/verify"
)

// CutoverOptions configures Cutover.
type CutoverOptions struct {
	SkipVerify bool
	// Waive names verify checks whose unknown results the operator accepts
	// (journaled with the reason): e.g. isolation on a server that could
	// not tell.
	Waive []string
	// FinalSync copies the live release's data into the release inside the
	// maintenance window, then verifies it (finalsync.go).
	FinalSync bool
	Threads   int
	Progress  restore.Progress
}

// SwitchReport says how a cutover or rollback went.
type SwitchReport struct {
	From       string        `json:"from"`
	To         string        `json:"to"`
	Switched   time.Time     `json:"switched"`
	Duration   time.Duration `json:"duration_ns"`   // from the command's start until the router serves the new target
	Maintained time.Duration `json:"maintained_ns"` // maintenance window, 0 without pre_cutover commands
	Stranded   *Stranded     `json:"stranded,omitempty"`
	Forced     string        `json:"forced,omitempty"`
	// Window is the maintenance window, when there was one.
	Window *WindowReport `json:"window,omitempty"`
}

// gate refuses a cutover to a release whose latest verify failed, is
// partial, is older than its last change, or has checks that could not run
// where it matters and that the operator did not waive by name.
func gate(rs *store.ReleaseState, waive []string) string {
	switch {
	case rs.Verify == nil:
		return "it was never verified"
	case !rs.Verify.Passed:
		return fmt.Sprintf("its latest verify (%s) failed: %s", rs.Verify.At.Format(time.RFC3339), strings.Join(rs.Verify.Failed, "; "))
	case rs.Verify.Partial:
		return "its latest verify ran only some checks (--only)"
	case rs.Verify.At.Before(rs.ChangedAt):
		return fmt.Sprintf("its latest verify (%s) is older than its last change (%s)", rs.Verify.At.Format(time.RFC3339), rs.ChangedAt.Format(time.RFC3339))
	}
	if left := unwaived(rs.Verify.Unknown, waive); len(left) > 0 {
		return fmt.Sprintf("its latest verify (%s) could not tell: %s (no pass: fix the cause and verify again, or waive the check by name with --waive CHECK --reason TEXT)",
			rs.Verify.At.Format(time.RFC3339), strings.Join(left, "; "))
	}
	return ""
}

// unwaived keeps the unknown results ("check target: detail") whose check
// is not waived.
func unwaived(unknown, waive []string) []string {
	var out []string
	for _, u := range unknown {
		check, _, _ := strings.Cut(u, " ")
		if !slices.Contains(waive, check) {
			out = append(out, u)
		}
	}
	return out
}

// checkWaivers refuses waivers of checks verify does not have, and waivers
// without a reason.
func (o *Orchestrator) checkWaivers(waive []string) error {
	for _, w := range waive {
		if !slices.Contains(verify.Checks(), w) {
			return fmt.Errorf("--waive %s: no such check (want one of %s): %w", termshift.Quote(w), strings.Join(verify.Checks(), ", "), termshift.ErrInvalid)
		}
	}
	return nil
}

// Cutover makes release live: verify gate, optional maintenance window with
// the pre_cutover commands, counts of the new live release, then an atomic
// switch. The former live release keeps running as the rollback target.
func (o *Orchestrator) Cutover(ctx context.Context, release string, opts CutoverOptions) (*SwitchReport, error) {
	start := o.Now()
	spec, err := o.spec(release)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(o.Reason) == "" {
		return nil, fmt.Errorf("cutover needs --reason TEXT: every cutover is journaled with its reason: %w", termshift.ErrInvalid)
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	refuse := func(why, hint string) (*SwitchReport, error) {
		err := fmt.Errorf("refusing to cut over to %s: %s; traffic untouched: %w", termshift.Quote(release), why, termshift.ErrRefused)
		o.journal(ctx, release, "cutover", "refused", err.Error())
		return nil, termshift.WithHint(err, hint)
	}
	if s.Live == release {
		return &SwitchReport{From: release, To: release}, nil
	}
	rs := s.Releases[release]
	if rs == nil || len(s.DataNamespaces(release)) == 0 {
		return refuse("it has no namespaces", "run `termshift upgrade "+release+"`")
	}
	if !rs.Running {
		return refuse("it is not running", "run `termshift deploy "+release+"` first")
	}
	// The counts of the new live release at the switch are taken while its
	// health is checked: both must finish before the switch, and the release
	// gets no public writes until then.
	r, err := o.runner(release)
	if err != nil {
		return nil, err
	}
	ep, err := r.Endpoint(release)
	if err != nil {
		return nil, err
	}
	countsc := make(chan *store.SwitchCounts, 1)
	counted := rs
	go func() { countsc <- o.takeCounts(ctx, counted) }()
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = waitHealthy(hctx, r, release, ep, 200*time.Millisecond)
	cancel()
	if err != nil {
		return refuse("it is not healthy: "+err.Error(), "its logs are in "+o.LogDir(release))
	}
	o.Logger.Debug("cutover: healthy", "release", release, "elapsed", o.Now().Sub(start))
	forced := ""
	if err := o.checkWaivers(opts.Waive); err != nil {
		return nil, err
	}
	if why := gate(rs, opts.Waive); why != "" {
		if !opts.SkipVerify {
			return refuse(why, "run `termshift verify "+release+"`, or pass --skip-verify with --reason (journaled)")
		}
		forced = "verify gate skipped: " + why
		o.journal(ctx, release, "cutover", "forced", forced)
	} else if rs.Verify != nil && len(rs.Verify.Unknown) > 0 {
		forced = "waived " + strings.Join(opts.Waive, ", ") + ": " + strings.Join(rs.Verify.Unknown, "; ")
		o.journal(ctx, release, "cutover", "forced", forced)
	}
	if err := o.routerReady(ctx); err != nil {
		return refuse("nothing can switch traffic: "+err.Error(), "start `termshift serve` (the built-in router), or check router.provider")
	}
	if err := o.checkLock(ctx); err != nil {
		return nil, err
	}
	o.journal(ctx, release, "cutover", "started", "from "+orNone(s.Live))
	rep := &SwitchReport{From: s.Live, To: release, Forced: forced}

	// Maintenance window: final sync, pre_cutover commands (migrations),
	// verify (finalsync.go).
	if len(spec.PreCutover) > 0 || opts.FinalSync {
		// The window changes the release's data and state: the counts
		// taken beside the health check end first, and are taken again
		// past its work.
		<-countsc
		countsc = nil
		if err := o.maintenanceWindow(ctx, s, spec, opts, rep); err != nil {
			if rep.Window == nil {
				return nil, err
			}
			return rep, err
		}
		rs = s.Releases[release]
	}
	// Counts of the new live release at the switch, for rollback's report;
	// after a maintenance window they are taken again, past its work.
	if countsc != nil {
		rs.Switch = <-countsc
	} else {
		rs.Switch = o.takeCounts(ctx, rs)
	}
	o.Logger.Debug("cutover: counted", "release", release, "elapsed", o.Now().Sub(start))
	if err := o.checkLock(ctx); err != nil {
		return nil, err
	}
	prev, prevPrevious := s.Live, s.Previous
	var prevRetired time.Time
	if prev != "" {
		prevRetired = s.Release(prev).RetiredAt
		s.Previous = prev
		s.Release(prev).RetiredAt = o.Now()
	}
	s.Live, s.LiveSince, s.Maintenance = release, o.Now(), nil
	endProgressive(s, "ended by a cutover to "+release+": "+o.Reason)
	rs.RetiredAt = time.Time{}
	rs.SetStep("cutover", "done", "live since "+s.LiveSince.Format(time.RFC3339), s.LiveSince)
	if err := o.SaveState(ctx, s); err != nil {
		return nil, err
	}
	o.Logger.Debug("cutover: state saved", "release", release, "elapsed", o.Now().Sub(start))
	if err := o.route(ctx, s); err != nil {
		if errors.Is(err, termshift.ErrRefused) {
			// The router refused the switch (someone changed it since the
			// plan): nothing moved, so state goes back to say so.
			s.Live, s.Previous = prev, prevPrevious
			if prev != "" {
				s.Release(prev).RetiredAt = prevRetired
			}
			delete(rs.Steps, "cutover")
			if serr := o.SaveState(context.WithoutCancel(ctx), s); serr != nil {
				err = fmt.Errorf("%w; and state could not be put back: %v", err, serr)
			}
			err = fmt.Errorf("cutover %s: the router refused the switch; state put back, traffic stays on %s: %w", termshift.Quote(release), orNone(prev), err)
			o.journal(ctx, release, "cutover", "refused", err.Error())
			return nil, err
		}
		err = fmt.Errorf("cutover %s: state says live, but the router did not switch: %w", termshift.Quote(release), err)
		o.journal(ctx, release, "cutover", "failed", err.Error())
		return nil, err
	}
	rep.Switched = o.Now()
	rep.Duration = rep.Switched.Sub(start)
	if w := rep.Window; w != nil {
		o.closeWindow(ctx, release, w)
		rep.Maintained = w.Total
	}
	o.journal(ctx, release, "cutover", "done", fmt.Sprintf("live (was %s); switched in %s", orNone(prev), rep.Duration.Round(time.Millisecond)))
	return rep, nil
}

// runPreCutover runs the release's pre_cutover commands in order.
func (o *Orchestrator) runPreCutover(ctx context.Context, s *store.State, spec envfile.ReleaseSpec) error {
	d, err := o.renderData(ctx, s, spec.Name)
	if err != nil {
		return err
	}
	if _, err := render.Write(o.Env, d); err != nil {
		return err
	}
	for _, argv := range spec.PreCutover {
		args, err := render.Argv(argv, d)
		if err != nil {
			return err
		}
		o.printf("maintenance: running %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir = o.Env.Dir
		cmd.Env = append(os.Environ(), d.Env()...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", args[0], err, lastLines(string(out), 3))
		}
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// Table is the routing table state asks for: the live release, every
// running release at its runner's endpoint, and the maintenance window.
func (o *Orchestrator) Table(s *store.State) (router.Table, error) {
	t := router.Table{Live: s.Live}
	var errs []string
	for _, name := range s.Names() {
		rs := s.Releases[name]
		if !rs.Running {
			continue
		}
		r, err := o.runner(name)
		if err != nil {
			continue // a release no longer in the environment file
		}
		ep, err := r.Endpoint(name)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		t.Backends = append(t.Backends, router.Backend{Release: name, URL: ep.URL})
	}
	if s.Maintenance != nil {
		t.Maintenance = &router.Maintenance{RetryAfter: o.Env.Router.Maintain.RetryAfter.Duration, Message: s.Maintenance.Message}
	}
	routeAccess(&t, s, o.Now())
	t.Split = split(s, t)
	if len(errs) > 0 {
		return t, fmt.Errorf("routing table: %s", strings.Join(errs, "; "))
	}
	return t, nil
}

// route makes the router follow state.
func (o *Orchestrator) route(ctx context.Context, s *store.State) error {
	t, err := o.Table(s)
	if err != nil {
		return err
	}
	if o.P.Router == nil {
		return fmt.Errorf("no router is configured: %w", termshift.ErrInvalid)
	}
	return o.P.Router.Switch(ctx, t)
}
