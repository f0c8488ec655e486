package rollout

import (
	"context"
	"errors"
	"fmt"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore/scrub"
	"github.com/termshift/termshift/rollout/store"
)

// scrubRules are the environment's preset plus its own rules.
func (o *Orchestrator) scrubRules() ([]scrub.Rule, error) {
	var rules []scrub.Rule
	if o.Env.Scrub.Preset != "" {
		p, err := scrub.Preset(o.Env.Scrub.Preset)
		if err != nil {
			return nil, err
		}
		rules = append(rules, p...)
	}
	rules = append(rules, o.Env.Scrub.Rules...)
	if err := scrub.ValidateRules(rules); err != nil {
		return nil, err
	}
	return rules, nil
}

// ScrubResult is what scrub did to one namespace.
type ScrubResult struct {
	Namespace termshift.Namespace `json:"namespace"`
	Report    *scrub.Report       `json:"report,omitempty"`
	Error     string              `json:"error,omitempty"`
}

// Scrub runs the scrub rules on every restored MySQL and MongoDB namespace
// of release. A release with scrub rules is not ready until they ran.
func (o *Orchestrator) Scrub(ctx context.Context, release string) ([]ScrubResult, error) {
	if _, err := o.spec(release); err != nil {
		return nil, err
	}
	if skip, err := o.skipShared(ctx, release, "scrub"); err != nil || skip {
		return nil, err
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	if err := o.refuseProtected(s, release, "scrub"); err != nil {
		o.journal(ctx, release, "scrub", "refused", err.Error())
		return nil, err
	}
	if err := o.refuseRunningSharers(s, release, "scrub"); err != nil {
		o.journal(ctx, release, "scrub", "refused", err.Error())
		return nil, err
	}
	rs := s.Releases[release]
	if rs == nil || !rs.StepDone("restore") {
		return nil, termshift.WithHint(fmt.Errorf("release %s is not restored: %w", termshift.Quote(release), termshift.ErrNotFound), "run `termshift restore "+release+"` first")
	}
	rules, err := o.scrubRules()
	if err != nil {
		return nil, err
	}
	bySvc := map[termshift.Service][]scrub.Rule{}
	for _, r := range rules {
		svc := termshift.MongoDB
		if r.Service == string(termshift.MySQL) {
			svc = termshift.MySQL
		}
		bySvc[svc] = append(bySvc[svc], r)
	}
	salt := termshift.Secret(o.Env.Scrub.Salt)
	var results []ScrubResult
	var errs []error
	for _, ns := range rs.Namespaces {
		if err := o.checkLock(ctx); err != nil {
			return results, err
		}
		sc, ok := o.P.Scrubbers[ns.Service]
		if !ok || len(bySvc[ns.Service]) == 0 {
			continue
		}
		rep, err := sc.Scrub(ctx, ns.Namespace, bySvc[ns.Service], salt)
		res := ScrubResult{Namespace: ns.Namespace, Report: rep}
		if err != nil {
			res.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", ns.Namespace, err))
		} else {
			ns.Status = store.NSScrubbed
		}
		results = append(results, res)
	}
	now := o.Now()
	rs.ChangedAt = now
	if err := errors.Join(errs...); err != nil {
		rs.SetStep("scrub", "failed", err.Error(), now)
		_ = o.SaveState(ctx, s)
		o.journal(ctx, release, "scrub", "failed", err.Error())
		return results, err
	}
	rs.SetStep("scrub", "done", fmt.Sprintf("%d rules on %d namespaces", len(rules), len(results)), now)
	if err := o.SaveState(ctx, s); err != nil {
		return results, err
	}
	o.journal(ctx, release, "scrub", "done", fmt.Sprintf("%d rules on %d namespaces", len(rules), len(results)))
	return results, nil
}
