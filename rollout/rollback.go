package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/store"
)

// RollbackOptions configures Rollback.
type RollbackOptions struct {
	To     string // default: the rollback target
	DryRun bool   // only show what would be stranded
	Force  bool   // take the lock over from its holder (journaled)
	// StrandedBudget bounds counting what would be stranded, so an
	// unreachable abandoned release cannot slow the switch down.
	StrandedBudget time.Duration
}

// Rollback switches traffic back to the rollback target (or To). It needs
// nothing from the abandoned release: what would be stranded is counted
// within a short budget and reported as unknown when its servers do not
// answer. It takes the lock itself: when another command holds it,
// Rollback names the holder, and with Force takes it over; the holder
// stops at its next step.
func (o *Orchestrator) Rollback(ctx context.Context, opts RollbackOptions) (*SwitchReport, error) {
	start := o.Now()
	if !opts.DryRun && strings.TrimSpace(o.Reason) == "" {
		return nil, fmt.Errorf("rollback needs --reason TEXT: every rollback is journaled with its reason: %w", termshift.ErrInvalid)
	}
	if opts.To != "" {
		if _, err := o.spec(opts.To); err != nil {
			return nil, err
		}
	}
	if opts.StrandedBudget == 0 {
		opts.StrandedBudget = 500 * time.Millisecond
	}
	forced := ""
	var former *store.LockInfo
	if !opts.DryRun {
		l, stale, err := o.Store.Acquire(ctx, o.Command)
		var locked *store.LockedError
		switch {
		case errors.As(err, &locked) && opts.Force:
			l, former, err = o.Store.TakeOver(ctx, o.Command)
			if err != nil {
				return nil, err
			}
			if former != nil {
				forced = "took the lock over from " + former.String()
			}
		case errors.As(err, &locked):
			return nil, termshift.WithHint(err, "`termshift rollback --force --reason TEXT` takes the lock over (journaled); the holder stops at its next step")
		case err != nil:
			return nil, err
		case stale != nil:
			_, why := store.Stale(*stale, time.Now())
			o.journal(ctx, "", "lock", "forced", "took over the lock of "+stale.String()+": "+why)
		}
		o.lock = l
		defer func() {
			// Keep the lock until the former holder has stopped, for a
			// little while: it stops at its next step, and whatever it
			// writes before is refused, because the state moved on.
			o.awaitFormer(ctx, former)
			_ = l.Release(context.WithoutCancel(ctx))
			o.lock = nil
		}()
		if forced != "" {
			o.journal(ctx, "", "rollback", "forced", forced)
		}
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	if s.Live == "" {
		return nil, fmt.Errorf("nothing is live: there is nothing to roll back: %w", termshift.ErrRefused)
	}
	to := opts.To
	if to == "" {
		to = s.Previous
	}
	if to == "" {
		return nil, termshift.WithHint(fmt.Errorf("there is no rollback target: %s has been live since %s with nothing before it: %w", termshift.Quote(s.Live), s.LiveSince.Format(time.RFC3339), termshift.ErrRefused), "name one with --to RELEASE")
	}
	if to == s.Live {
		return nil, fmt.Errorf("%s is already live: %w", termshift.Quote(to), termshift.ErrRefused)
	}
	target := s.Releases[to]
	if target == nil || len(s.DataNamespaces(to)) == 0 || !target.TornDownAt.IsZero() {
		return nil, fmt.Errorf("cannot roll back to %s: it has no namespaces (torn down or never carved): %w", termshift.Quote(to), termshift.ErrRefused)
	}
	if !opts.DryRun {
		if err := o.routerReady(ctx); err != nil {
			return nil, fmt.Errorf("cannot roll back: %w", err)
		}
	}
	abandoned := s.Live
	rep := &SwitchReport{From: abandoned, To: to, Forced: forced}
	// What would be stranded is counted on the abandoned release's servers,
	// within a budget: they may be down. A dry run shows it alone; a real
	// rollback counts while it switches, so counting never delays the
	// switch, and the count is taken at the moment writes stop reaching it.
	abandonedState := *s.Releases[abandoned]
	strandedc := make(chan *Stranded, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.StrandedBudget)
		defer cancel()
		strandedc <- o.stranded(sctx, &abandonedState)
	}()
	if opts.DryRun {
		rep.Stranded = <-strandedc
		return rep, nil
	}
	if !target.Running {
		// Mark it running: serve starts it; routing waits for nothing.
		target.Running = true
	}
	s.Previous, s.Live, s.LiveSince, s.Maintenance = abandoned, to, o.Now(), nil
	s.Release(abandoned).RetiredAt = o.Now()
	endProgressive(s, "ended by a rollback to "+to+": "+o.Reason)
	target.RetiredAt = time.Time{}
	if err := o.SaveState(ctx, s); err != nil {
		return nil, err
	}
	if err := o.route(ctx, s); err != nil {
		rep.Stranded = <-strandedc
		err = fmt.Errorf("rollback to %s: state says live, but the router did not switch: %w", termshift.Quote(to), err)
		o.journal(ctx, to, "rollback", "failed", err.Error())
		return rep, err
	}
	rep.Switched = o.Now()
	rep.Duration = rep.Switched.Sub(start)
	rep.Stranded = <-strandedc
	detail := fmt.Sprintf("live again (abandoned %s); switched in %s", abandoned, rep.Duration.Round(time.Millisecond))
	if !rep.Stranded.Empty() {
		detail += "; stranded: " + rep.Stranded.Summary()
	}
	o.journal(ctx, to, "rollback", "done", detail)
	return rep, nil
}

// FormerHolderWait bounds how long a forced rollback keeps the lock for the
// holder it took it from to stop.
const FormerHolderWait = 5 * time.Second

// awaitFormer waits, within FormerHolderWait, for a former lock holder on
// this host to exit, and journals when it did not.
func (o *Orchestrator) awaitFormer(ctx context.Context, former *store.LockInfo) {
	if former == nil {
		return
	}
	deadline := time.Now().Add(FormerHolderWait)
	for {
		gone, why := store.HolderGone(*former)
		if gone {
			return
		}
		if why != "" || time.Now().After(deadline) || ctx.Err() != nil {
			// On another host, or still running: its next step stops it, and
			// its state writes are refused from now on.
			o.journal(ctx, "", "rollback", "forced", "released the lock while "+former.String()+" may still run: it stops at its next step and its state writes are refused")
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Summary is one line: "12 rows in 2 tables, 3 documents in 1 collection".
func (s *Stranded) Summary() string {
	var rows, docs int64
	for _, n := range s.Rows {
		rows += n
	}
	for _, n := range s.Documents {
		docs += n
	}
	parts := []string{fmt.Sprintf("%d rows in %d tables", rows, len(s.Rows)), fmt.Sprintf("%d documents in %d collections", docs, len(s.Documents))}
	if len(s.Unknown) > 0 {
		parts = append(parts, "unknown: "+strings.Join(s.Unknown, "; "))
	}
	return strings.Join(parts, ", ")
}
