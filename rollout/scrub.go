package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore/scrub"
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
	for _, r := range o.Env.Scrub.Rules {
		rules = append(rules, scrub.Rule{Service: r.Service, Table: r.Table, Column: r.Column, Action: r.Action, Value: r.Value})
	}
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
	s, err := o.loadState()
	if err != nil {
		return nil, err
	}
	if err := refuseProtected(s, release, "scrub"); err != nil {
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
	var my, mg []scrub.Rule
	for _, r := range rules {
		if r.Service == string(termshift.MySQL) {
			my = append(my, r)
		} else {
			mg = append(mg, r)
		}
	}
	salt := termshift.Secret(o.Env.Scrub.Salt)
	// A preset names tables of every namespace; each skip is in the report,
	// the log gets them only when debugging.
	logger := slog.New(slog.DiscardHandler)
	if o.Logger.Enabled(ctx, slog.LevelDebug) {
		logger = o.Logger
	}
	var results []ScrubResult
	var errs []error
	for _, ns := range rs.Namespaces {
		if err := o.checkLock(); err != nil {
			return results, err
		}
		var rep *scrub.Report
		var err error
		switch {
		case ns.Service == termshift.MySQL && len(my) > 0:
			rep, err = scrub.ScrubMySQL(ctx, my, scrub.MySQLOptions{DSN: termshift.Secret(o.Env.Servers.MySQL.DSN), Schema: ns.Name, Salt: salt, Logger: logger})
		case ns.Service == termshift.MongoDB && len(mg) > 0:
			rep, err = scrub.ScrubMongo(ctx, mg, scrub.MongoOptions{URI: termshift.Secret(o.Env.Servers.Mongo.URI), Database: ns.Name, Salt: salt, Logger: logger})
		default:
			continue
		}
		res := ScrubResult{Namespace: ns.Namespace, Report: rep}
		if err != nil {
			res.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", ns.Namespace, err))
		} else {
			ns.Status = NSScrubbed
		}
		results = append(results, res)
	}
	now := o.Now()
	rs.ChangedAt = now
	if err := errors.Join(errs...); err != nil {
		rs.SetStep("scrub", "failed", err.Error(), now)
		_ = o.saveState(s)
		o.journal(release, "scrub", "failed", err.Error())
		return results, err
	}
	rs.SetStep("scrub", "done", fmt.Sprintf("%d rules on %d namespaces", len(rules), len(results)), now)
	if err := o.saveState(s); err != nil {
		return results, err
	}
	o.journal(release, "scrub", "done", fmt.Sprintf("%d rules on %d namespaces", len(rules), len(results)))
	return results, nil
}
