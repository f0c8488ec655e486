package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/tenancy"
)

// CarveResult is what carve did to one namespace.
type CarveResult struct {
	Namespace termshift.Namespace `json:"namespace"`
	Outcome   string              `json:"outcome"` // created, exists, failed
	Isolation string              `json:"isolation,omitempty"`
	Endpoints []string            `json:"endpoints,omitempty"`
	Notes     []string            `json:"notes,omitempty"`
	Error     string              `json:"error,omitempty"`
}

// Carve creates every namespace of release with its own credential. It is
// idempotent: a second run changes nothing and reports each namespace as
// exists. When a service fails, the others still run, and the error is a
// *termshift.PartialError naming what exists; a re-run completes it.
func (o *Orchestrator) Carve(ctx context.Context, release string) ([]CarveResult, error) {
	if _, err := o.spec(release); err != nil {
		return nil, err
	}
	if skip, err := o.skipShared(ctx, release, "carve"); err != nil || skip {
		return nil, err
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	planned, err := o.plannedNamespaces(ctx, s, release)
	if err != nil {
		return nil, err
	}
	if err := o.refuseShared(s, release, planned); err != nil {
		o.journal(ctx, release, "carve", "refused", err.Error())
		return nil, err
	}
	creds, err := o.Store.Credentials(ctx, release)
	if err != nil {
		return nil, err
	}
	// Credentials are written before any server is touched, so a crash
	// between creating a user and saving its password cannot happen.
	changed := false
	for _, ns := range planned {
		if ns.User == "" {
			continue
		}
		key := store.CredKey(ns.Service, ns.Logical)
		if _, ok := creds[key]; ok {
			continue
		}
		pw, err := tenancy.NewPassword()
		if err != nil {
			return nil, err
		}
		creds[key] = termshift.Credential{User: ns.User, Password: pw}
		changed = true
	}
	if changed {
		if err := o.Store.SaveCredentials(ctx, release, creds); err != nil {
			return nil, err
		}
	}
	o.journal(ctx, release, "carve", "started", fmt.Sprintf("%d namespaces", len(planned)))

	// Services in parallel; namespaces of one service in order.
	bySvc := map[termshift.Service][]termshift.Namespace{}
	for _, ns := range planned {
		bySvc[ns.Service] = append(bySvc[ns.Service], ns)
	}
	results := make([]CarveResult, len(planned))
	index := map[string]int{}
	for i, ns := range planned {
		index[string(ns.Service)+"/"+ns.Logical] = i
		results[i] = CarveResult{Namespace: ns, Outcome: "pending"}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for svc, nss := range bySvc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := o.openCarver(ctx, svc)
			if err != nil {
				mu.Lock()
				for _, ns := range nss {
					r := &results[index[string(ns.Service)+"/"+ns.Logical]]
					r.Outcome, r.Error = "failed", err.Error()
				}
				mu.Unlock()
				return
			}
			defer c.Close()
			for _, ns := range nss {
				res, err := c.Carve(ctx, ns, creds[store.CredKey(ns.Service, ns.Logical)].Password, o.owner(release))
				mu.Lock()
				r := &results[index[string(ns.Service)+"/"+ns.Logical]]
				if err != nil {
					r.Outcome, r.Error = "failed", err.Error()
				} else {
					r.Outcome, r.Isolation, r.Endpoints, r.Notes = string(res.Outcome), string(res.Isolation), res.Endpoints, res.Notes
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	rs := s.Release(release)
	if spec, ok := o.Env.Release(release); ok {
		rs.Version = spec.Version
	}
	var done, failed []string
	var errs []error
	created := false
	for _, r := range results {
		existing := rs.Namespace(r.Namespace.Service, r.Namespace.Logical)
		if r.Outcome == "failed" {
			failed = append(failed, r.Namespace.String())
			errs = append(errs, fmt.Errorf("%s: %s", r.Namespace, r.Error))
			continue
		}
		done = append(done, r.Namespace.String())
		if r.Outcome == string(tenancy.Created) {
			created = true
		}
		if existing == nil {
			existing = &store.NamespaceState{Namespace: r.Namespace, Status: store.NSCarved}
			rs.Namespaces = append(rs.Namespaces, existing)
		}
		existing.Namespace = r.Namespace
		existing.Isolation, existing.Endpoints, existing.Notes = r.Isolation, r.Endpoints, r.Notes
		if existing.Status == "" || existing.Status == store.NSFailed && existing.Proof == nil {
			existing.Status = store.NSCarved
		}
	}
	now := o.Now()
	if created || !rs.StepDone("carve") {
		rs.ChangedAt = now
	}
	if len(failed) > 0 {
		rs.SetStep("carve", "failed", fmt.Sprintf("%d of %d namespaces failed", len(failed), len(results)), now)
	} else {
		rs.SetStep("carve", "done", fmt.Sprintf("%d namespaces", len(results)), now)
	}
	rs.TornDownAt = time.Time{} // carved again after a teardown
	if err := o.SaveState(ctx, s); err != nil {
		return results, err
	}
	if len(failed) > 0 {
		err := &termshift.PartialError{Op: "carve " + release, Done: done, Failed: failed, Err: errors.Join(errs...)}
		o.journal(ctx, release, "carve", "failed", err.Error())
		return results, termshift.WithHint(err, "fix the failing server and run the same carve again: it completes what is missing")
	}
	o.journal(ctx, release, "carve", "done", fmt.Sprintf("%d namespaces", len(results)))
	return results, nil
}
