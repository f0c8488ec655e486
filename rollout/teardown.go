package rollout

import (
	"context"
	"errors"
	"fmt"

	"github.com/termshift/termshift"
)

// DropResult is what teardown did to one namespace.
type DropResult struct {
	Namespace termshift.Namespace `json:"namespace"`
	Outcome   string              `json:"outcome"` // would drop, dropped, absent, failed
	Error     string              `json:"error,omitempty"`
}

// refuseProtected refuses any change to the live release or the rollback
// target, whatever the flags.
func refuseProtected(s *State, release, action string) error {
	if why := s.Protected(release); why != "" {
		return termshift.WithHint(fmt.Errorf("refusing to %s %s: %s: %w", action, termshift.Quote(release), why, termshift.ErrRefused),
			"cut over or roll back first so that it is neither live nor the rollback target")
	}
	return nil
}

// Teardown drops every namespace and user of release. Without yes it only
// returns what it would drop. It refuses the live release and the rollback
// target whatever the flags.
func (o *Orchestrator) Teardown(ctx context.Context, release string, yes bool) ([]DropResult, error) {
	if err := termshift.ValidateRelease(release); err != nil {
		return nil, err
	}
	s, err := o.loadState()
	if err != nil {
		return nil, err
	}
	if err := refuseProtected(s, release, "tear down"); err != nil {
		o.journal(release, "teardown", "refused", err.Error())
		return nil, err
	}
	targets, err := o.teardownTargets(s, release)
	if err != nil {
		return nil, err
	}
	results := make([]DropResult, len(targets))
	for i, ns := range targets {
		results[i] = DropResult{Namespace: ns, Outcome: "would drop"}
	}
	if !yes {
		return results, nil
	}
	o.journal(release, "teardown", "started", fmt.Sprintf("%d namespaces", len(targets)))
	rs := s.Release(release)
	rs.Running = false
	carvers := map[termshift.Service]carver{}
	defer func() {
		for _, c := range carvers {
			c.Close()
		}
	}()
	var done, failed []string
	var errs []error
	for i, ns := range targets {
		if err := o.checkLock(); err != nil {
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
		if err := o.saveState(s); err != nil {
			return results, err
		}
		perr := &termshift.PartialError{Op: "teardown " + release, Done: done, Failed: failed, Err: errors.Join(errs...)}
		o.journal(release, "teardown", "failed", perr.Error())
		return results, termshift.WithHint(perr, "fix the failing server and run the same teardown again")
	}
	rs.Steps = nil
	rs.Verify = nil
	rs.Snapshot = ""
	rs.TornDownAt = now
	if err := o.Store.DeleteCredentials(release); err != nil {
		return results, err
	}
	if err := o.saveState(s); err != nil {
		return results, err
	}
	o.journal(release, "teardown", "done", fmt.Sprintf("%d namespaces dropped", len(done)))
	return results, nil
}

// teardownTargets lists what a teardown drops: the namespaces in state, plus
// derived names not in state (a carve that crashed before saving state).
func (o *Orchestrator) teardownTargets(s *State, release string) ([]termshift.Namespace, error) {
	var out []termshift.Namespace
	seen := map[string]bool{}
	if rs := s.Releases[release]; rs != nil {
		for _, ns := range rs.Namespaces {
			out = append(out, ns.Namespace)
			seen[string(ns.Service)+"/"+ns.Logical] = true
		}
	}
	for _, svc := range []termshift.Service{termshift.MySQL, termshift.MongoDB, termshift.RabbitMQ} {
		for _, db := range o.logicalDBs(svc) {
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
