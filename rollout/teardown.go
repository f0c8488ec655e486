package rollout

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"strings"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/store"
)

// DropResult is what teardown did to one namespace.
type DropResult struct {
	Namespace termshift.Namespace `json:"namespace"`
	Outcome   string              `json:"outcome"` // would drop, dropped, absent, failed
	Error     string              `json:"error,omitempty"`
}

// refuseProtected refuses any change to the live release or the rollback
// target, whatever the flags, and to a release that shares a namespace with
// either (compared by the namespaces themselves, not by release names: a
// changed naming pattern can map a new release onto the live one's data).
func (o *Orchestrator) refuseProtected(s *store.State, release, action string) error {
	if why := s.Protected(release); why != "" {
		return termshift.WithHint(fmt.Errorf("refusing to %s %s: %s: %w", action, termshift.Quote(release), why, termshift.ErrRefused),
			"cut over or roll back first so that it is neither live nor the rollback target")
	}
	mine := map[string]bool{}
	if rs := s.Releases[release]; rs != nil {
		for _, ns := range rs.Namespaces {
			mine[string(ns.Service)+" "+strings.ToLower(ns.Name)] = true
		}
	}
	for _, ns := range o.derivedNamespaces(release) {
		mine[string(ns.Service)+" "+strings.ToLower(ns.Name)] = true
	}
	for _, other := range []string{s.Live, s.Previous} {
		if other == "" || other == release {
			continue
		}
		// A live release that shares another's data protects those
		// namespaces as its own.
		for _, ns := range s.DataNamespaces(other) {
			if mine[string(ns.Service)+" "+strings.ToLower(ns.Name)] {
				return termshift.WithHint(fmt.Errorf("refusing to %s %s: its namespace %s belongs to release %s (%s): %w",
					action, termshift.Quote(release), ns.Namespace, termshift.Quote(other), s.Protected(other), termshift.ErrRefused),
					"the naming pattern maps this release onto another's namespaces: change `naming` back, or choose another release name")
			}
		}
	}
	return nil
}

// RefuseProtectedTarget refuses a standalone restore (one namespace, no
// release) into a namespace of the live release or the rollback target.
func RefuseProtectedTarget(ctx context.Context, st store.Backend, svc termshift.Service, name string) error {
	s, err := st.Load(ctx)
	if err != nil {
		return err
	}
	for _, rel := range []string{s.Live, s.Previous} {
		if rel == "" {
			continue
		}
		for _, ns := range s.DataNamespaces(rel) {
			if ns.Service == svc && strings.EqualFold(ns.Name, name) {
				return fmt.Errorf("refusing to restore into %s: it belongs to release %s (%s): %w", termshift.Quote(name), termshift.Quote(rel), s.Protected(rel), termshift.ErrRefused)
			}
		}
	}
	return nil
}

// derivedNamespaces are the MySQL, MongoDB and RabbitMQ namespaces the
// naming pattern gives release (names that cannot be derived are left out:
// validation reports them).
func (o *Orchestrator) derivedNamespaces(release string) []termshift.Namespace {
	var out []termshift.Namespace
	for _, svc := range []termshift.Service{termshift.MySQL, termshift.MongoDB, termshift.RabbitMQ} {
		for _, db := range o.Env.LogicalDBs(svc) {
			if ns, err := termshift.DeriveNamespace(svc, o.Env.Naming, db.Name, release); err == nil {
				out = append(out, ns)
			}
		}
	}
	return out
}

// Teardown drops every namespace and user of release. Without yes it only
// returns what it would drop. It refuses the live release and the rollback
// target whatever the flags.
func (o *Orchestrator) Teardown(ctx context.Context, release string, yes bool) ([]DropResult, error) {
	if err := termshift.ValidateRelease(release); err != nil {
		return nil, err
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	if err := o.refuseProtected(s, release, "tear down"); err != nil {
		o.journal(ctx, release, "teardown", "refused", err.Error())
		return nil, err
	}
	if err := o.refuseRunningSharers(s, release, "tear down"); err != nil {
		o.journal(ctx, release, "teardown", "refused", err.Error())
		return nil, err
	}
	targets, err := o.teardownTargets(s, release)
	if err != nil {
		return nil, err
	}
	owner := s.DataOwner(release)
	if envOwner, ok := o.Env.SharesData(release); ok && owner == release {
		owner = envOwner
	}
	if owner == release {
		owner = ""
	} else {
		o.printf("teardown %s: shares %s's data: those namespaces are never dropped with it\n", release, owner)
	}
	results := make([]DropResult, len(targets))
	for i, ns := range targets {
		results[i] = DropResult{Namespace: ns, Outcome: "would drop"}
	}
	if !yes {
		return results, nil
	}
	o.journal(ctx, release, "teardown", "started", fmt.Sprintf("%d namespaces", len(targets)))
	rs := s.Release(release)
	if rs.Running {
		// Stop it before its data goes: intent first, then the runner.
		rs.Running = false
		if err := o.SaveState(ctx, s); err != nil {
			return results, err
		}
		if r, err := o.runner(release); err == nil {
			if err := r.Stop(ctx, release); err != nil {
				o.Logger.Warn("stop release before teardown", "release", release, "err", err)
			}
		}
	}
	carvers := map[termshift.Service]Carver{}
	defer func() {
		for _, c := range carvers {
			c.Close()
		}
	}()
	var done, failed []string
	var errs []error
	for i, ns := range targets {
		if err := o.checkLock(ctx); err != nil {
			return results, err
		}
		c, ok := carvers[ns.Service]
		if !ok {
			c, err = o.openCarver(ctx, ns.Service)
			if err != nil {
				results[i].Outcome, results[i].Error = "failed", err.Error()
				failed = append(failed, ns.String())
				errs = append(errs, err)
				continue
			}
			carvers[ns.Service] = c
		}
		res, err := c.Drop(ctx, ns, o.owner(release))
		if err != nil {
			results[i].Outcome, results[i].Error = "failed", err.Error()
			failed = append(failed, ns.String())
			errs = append(errs, fmt.Errorf("%s: %w", ns, err))
			continue
		}
		results[i].Outcome = string(res.Outcome)
		done = append(done, ns.String())
		// Forget the namespace in state as soon as it is gone.
		kept := rs.Namespaces[:0]
		for _, n := range rs.Namespaces {
			if !(n.Service == ns.Service && n.Logical == ns.Logical) {
				kept = append(kept, n)
			}
		}
		rs.Namespaces = kept
	}
	now := o.Now()
	rs.ChangedAt = now
	if len(failed) > 0 {
		if err := o.SaveState(ctx, s); err != nil {
			return results, err
		}
		perr := &termshift.PartialError{Op: "teardown " + release, Done: done, Failed: failed, Err: errors.Join(errs...)}
		o.journal(ctx, release, "teardown", "failed", perr.Error())
		return results, termshift.WithHint(perr, "fix the failing server and run the same teardown again")
	}
	rs.Steps = nil
	rs.SharesData = ""
	rs.Verify = nil
	rs.Snapshot = ""
	rs.Switch = nil
	rs.TornDownAt = now
	if err := o.Store.DeleteCredentials(ctx, release); err != nil {
		return results, err
	}
	// A torn-down name is new again: its restore checkpoints and rendered
	// configuration go with it.
	if err := os.RemoveAll(filepath.Join(o.Work, "releases", release)); err != nil {
		return results, fmt.Errorf("remove %s's restore checkpoints and configuration: %w", termshift.Quote(release), err)
	}
	if err := o.SaveState(ctx, s); err != nil {
		return results, err
	}
	detail := fmt.Sprintf("%d namespaces dropped", len(done))
	if owner != "" {
		detail += "; " + termshift.Quote(owner) + "'s namespaces, which it shared, are kept"
	}
	o.journal(ctx, release, "teardown", "done", detail)
	return results, nil
}

// teardownTargets lists what a teardown drops: the namespaces in state, plus
// derived names not in state (a carve that crashed before saving state). A
// release that shares another's data holds no namespaces: only what state
// records as its own (from before it shared) is dropped, never what it
// borrows.
func (o *Orchestrator) teardownTargets(s *store.State, release string) ([]termshift.Namespace, error) {
	var out []termshift.Namespace
	seen := map[string]bool{}
	rs := s.Releases[release]
	if rs != nil {
		for _, ns := range rs.Namespaces {
			out = append(out, ns.Namespace)
			seen[string(ns.Service)+"/"+ns.Logical] = true
		}
	}
	if _, shares := o.Env.SharesData(release); shares || rs != nil && rs.SharesData != "" {
		return out, nil
	}
	for _, svc := range []termshift.Service{termshift.MySQL, termshift.MongoDB, termshift.RabbitMQ} {
		for _, db := range o.Env.LogicalDBs(svc) {
			if seen[string(svc)+"/"+db.Name] {
				continue
			}
			ns, err := termshift.DeriveNamespace(svc, o.Env.Naming, db.Name, release)
			if err != nil {
				return nil, err
			}
			out = append(out, ns)
		}
	}
	return out, nil
}
