package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
)

// drainGrace is how long a final sync waits for requests in flight when
// the router cannot say when they have finished (nginx, ELBv2).
const drainGrace = 10 * time.Second

// drainingSwitcher is a switcher whose switch into a maintenance window
// returns only once the requests in flight have finished (the built-in
// router through serve).
type drainingSwitcher interface {
	DrainsInFlight() bool
}

// WindowReport is a cutover's maintenance window: its length and parts.
type WindowReport struct {
	Started time.Time `json:"started"`
	// Total is from the window's opening until the switch closed it (or
	// until it was lifted after a failure).
	Total      time.Duration `json:"total_ns"`
	Drain      time.Duration `json:"drain_ns"`
	Sync       time.Duration `json:"sync_ns,omitempty"`
	Migrations time.Duration `json:"migrations_ns,omitempty"`
	Verify     time.Duration `json:"verify_ns,omitempty"`
	Switch     time.Duration `json:"switch_ns,omitempty"`
	// Ran lists the parts that ran, in order: drain, sync, migrations,
	// verify, switch.
	Ran []string `json:"ran"`
	// Failed is the part that failed; the window was then lifted and
	// traffic stayed on the live release.
	Failed     string      `json:"failed,omitempty"`
	SyncReport *SyncReport `json:"sync,omitempty"`
	// Kept is set when the window of a killed final sync of the same
	// release was found and kept rather than lifted.
	Kept  string   `json:"kept,omitempty"`
	Notes []string `json:"notes,omitempty"`

	switchFrom time.Time
}

// Parts describes the window for a journal line: "2.31s: drain 12ms, sync
// 1.8s, ...".
func (w *WindowReport) Parts() string {
	parts := []string{}
	for _, p := range []struct {
		name string
		d    time.Duration
	}{{"drain", w.Drain}, {"sync", w.Sync}, {"migrations", w.Migrations}, {"verify", w.Verify}, {"switch", w.Switch}} {
		for _, r := range w.Ran {
			if r == p.name {
				parts = append(parts, fmt.Sprintf("%s %s", p.name, p.d.Round(time.Millisecond)))
			}
		}
	}
	return fmt.Sprintf("%s: %s", w.Total.Round(time.Millisecond), strings.Join(parts, ", "))
}

// closeWindow records the switch that ended a window.
func (o *Orchestrator) closeWindow(ctx context.Context, release string, w *WindowReport) {
	now := o.Now()
	w.Switch = now.Sub(w.switchFrom)
	w.Ran = append(w.Ran, "switch")
	w.Total = now.Sub(w.Started)
	o.journal(ctx, release, "window", "done", w.Parts())
}

// maintenanceWindow runs the part of a cutover that happens behind the
// maintenance page: public traffic gets 503 with Retry-After and, with the
// built-in router, requests already in flight finish first (drain); then,
// with opts.FinalSync, the live release's data is synced into release
// with proof; then release's pre_cutover commands (migrations); then, with
// opts.FinalSync, verify runs on the synced data and its gate must pass.
// On success the window is still on: the switch closes it. When any part
// fails, the window is lifted, traffic stays on the live release,
// untouched, and the error (a *termshift.PartialError) says which parts
// ran. s is reloaded from the store as the parts save it.
func (o *Orchestrator) maintenanceWindow(ctx context.Context, s *store.State, spec envfile.ReleaseSpec, opts CutoverOptions, rep *SwitchReport) error {
	release, live := spec.Name, s.Live
	if opts.FinalSync {
		if live == "" {
			err := fmt.Errorf("refusing to final-sync %s: there is no live release to copy from: %w", termshift.Quote(release), termshift.ErrRefused)
			o.journal(ctx, release, "cutover", "refused", err.Error())
			return err
		}
		if err := o.refuseProtected(s, release, "final-sync into"); err != nil {
			o.journal(ctx, release, "cutover", "refused", err.Error())
			return err
		}
	}
	w := &WindowReport{Started: o.Now()}
	rep.Window = w
	if m := s.Maintenance; m != nil {
		w.Kept = fmt.Sprintf("the window %s opened at %s for %s, whose holder is gone", termshift.Quote(m.Command), m.Since.Format(time.RFC3339), termshift.Quote(m.Release))
	}
	token := ""
	if o.lock != nil {
		token = o.lock.Info().Token
	}
	s.Maintenance = &store.Maintenance{Since: w.Started, Release: release, Message: o.Env.Router.Maintain.Message, Token: token, Command: o.Command}
	if opts.FinalSync {
		// The previews of both releases are held too: the sync reads one
		// and writes the other.
		s.Maintenance.Releases = []string{live, release}
	}
	if err := o.SaveState(ctx, s); err != nil {
		return err
	}
	lift := func(part string, cause error) error {
		w.Failed = part
		cctx := context.WithoutCancel(ctx)
		if fresh, err := o.LoadState(cctx); err == nil {
			*s = *fresh
		}
		s.Maintenance = nil
		var liftErr error
		if err := o.SaveState(cctx, s); err != nil {
			liftErr = fmt.Errorf("lifting the window failed: %w", err)
		} else if err := o.route(cctx, s); err != nil {
			liftErr = fmt.Errorf("state says the window is lifted, the router did not follow: %w", err)
		}
		w.Total = o.Now().Sub(w.Started)
		rep.Maintained = w.Total
		outcome := "maintenance lifted, traffic stays on " + orNone(live) + ", untouched"
		if liftErr != nil {
			outcome = liftErr.Error()
		}
		err := &termshift.PartialError{Op: "cutover " + release + " (maintenance window)", Done: append([]string(nil), w.Ran...), Failed: []string{part},
			Err: fmt.Errorf("%s failed (%w); %s", part, cause, outcome)}
		o.journal(ctx, release, "window", "failed", fmt.Sprintf("%s failed after %s: %v", part, w.Parts(), cause))
		return termshift.WithHint(err, "fix the cause and run the same command again: the window opens again and every part runs again")
	}

	t := o.Now()
	if err := o.route(ctx, s); err != nil {
		return lift("drain", err)
	}
	if d, ok := o.P.Router.(drainingSwitcher); !ok || !d.DrainsInFlight() {
		w.Notes = append(w.Notes, fmt.Sprintf("the router cannot tell when the requests in flight have finished: waited %s", drainGrace))
		select {
		case <-ctx.Done():
			return lift("drain", ctx.Err())
		case <-time.After(drainGrace):
		}
	}
	w.Drain = o.Now().Sub(t)
	w.Ran = append(w.Ran, "drain")
	detail := "public traffic gets 503; requests in flight finished in " + w.Drain.Round(time.Millisecond).String()
	if w.Kept != "" {
		detail += "; kept " + w.Kept
	}
	o.journal(ctx, release, "window", "started", detail)

	reload := func() error {
		fresh, err := o.LoadState(ctx)
		if err != nil {
			return err
		}
		*s = *fresh
		return nil
	}
	if opts.FinalSync {
		if err := o.checkLock(ctx); err != nil {
			return lift("sync", err)
		}
		t = o.Now()
		// Catch-up from the binary log when release has been following
		// live (follow.go), else the full sync.
		srep, err := o.finalSync(ctx, release, live, opts)
		w.Sync, w.SyncReport = o.Now().Sub(t), srep
		w.Ran = append(w.Ran, "sync")
		if err == nil {
			err = reload()
		}
		if err != nil {
			return lift("sync", err)
		}
	}
	if len(spec.PreCutover) > 0 {
		if err := o.checkLock(ctx); err != nil {
			return lift("migrations", err)
		}
		t = o.Now()
		err := o.runPreCutover(ctx, s, spec)
		w.Migrations = o.Now().Sub(t)
		w.Ran = append(w.Ran, "migrations")
		if err != nil {
			return lift("migrations", err)
		}
	}
	if opts.FinalSync {
		if err := o.checkLock(ctx); err != nil {
			return lift("verify", err)
		}
		// The data is synced and migrated: the release's previews are
		// released for verify's health and smoke checks (public traffic
		// stays held, and the live release's previews too).
		s.Maintenance.Releases = []string{live}
		if err := o.SaveState(ctx, s); err != nil {
			return lift("verify", err)
		}
		if err := o.route(ctx, s); err != nil {
			return lift("verify", err)
		}
		t = o.Now()
		_, err := o.Verify(ctx, release, VerifyOptions{})
		w.Verify = o.Now().Sub(t)
		w.Ran = append(w.Ran, "verify")
		if errors.Is(err, termshift.ErrVerifyFailed) && opts.SkipVerify {
			err = nil // the gate below says why, and it is journaled
		}
		if err == nil {
			err = reload()
		}
		if err == nil {
			if why := gate(s.Releases[release], opts.Waive); why != "" && opts.SkipVerify {
				o.journal(ctx, release, "cutover", "forced", "verify gate on the synced data skipped: "+why)
			} else if why != "" {
				err = fmt.Errorf("verify gate on the synced data: %s: %w", why, termshift.ErrVerifyFailed)
			}
		}
		if err != nil {
			return lift("verify", err)
		}
	}
	w.switchFrom = o.Now()
	return nil
}

// liftStaleWindow lifts a maintenance window whose holder is gone. A window
// is stale when the lock token that opened it (store.Maintenance.Token) no
// longer holds the environment's lock: called by a command that has just
// taken the lock (from nobody, or from a holder proven gone), any window it
// finds that it did not open is stale. A final sync run again for the same
// release (KeepWindow) keeps it: the live release takes no write before its
// window opens again, so the killed sync's finished tables can be kept.
func (o *Orchestrator) liftStaleWindow(ctx context.Context) error {
	s, err := o.LoadState(ctx)
	if err != nil {
		return err
	}
	m := s.Maintenance
	if m == nil || (o.lock != nil && m.Token == o.lock.Info().Token) {
		return nil
	}
	if o.KeepWindow != "" && m.Release == o.KeepWindow {
		return nil
	}
	s.Maintenance = nil
	if err := o.SaveState(ctx, s); err != nil {
		return fmt.Errorf("lift the stale maintenance window of %s: %w", termshift.Quote(m.Command), err)
	}
	detail := fmt.Sprintf("lifted the stale maintenance window opened by %s at %s for %s: its holder no longer holds the lock", termshift.Quote(m.Command), m.Since.Format(time.RFC3339), termshift.Quote(m.Release))
	if err := o.route(ctx, s); err != nil {
		detail += "; the router will follow when it next reads the state (" + err.Error() + ")"
	}
	o.journal(ctx, m.Release, "window", "lifted", detail)
	o.printf("%s\n", detail)
	return nil
}
