package rollout

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/verify"
)

// VerifyOptions configures Verify.
type VerifyOptions struct {
	Only []string
}

// Verify runs every check on release and records the result in state.
func (o *Orchestrator) Verify(ctx context.Context, release string, opts VerifyOptions) (*verify.Report, error) {
	if _, err := o.spec(release); err != nil {
		return nil, err
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	target, err := o.verifyTarget(ctx, s, release)
	if err != nil {
		return nil, err
	}
	var logger *slog.Logger // one line per result, only when debugging
	if o.Logger.Enabled(ctx, slog.LevelDebug) {
		logger = o.Logger
	}
	rep := verify.Run(ctx, target, verify.Options{Only: opts.Only, Timeout: o.Env.Verify.Timeout.Duration, Logger: logger, Probers: o.P.Probers})
	if err := o.stateChecks(s.Releases[o.Env.DataOwner(release)], rep, opts.Only); err != nil {
		return rep, err
	}
	rec := &store.VerifyRecord{At: o.Now(), Passed: !rep.Failed(), Counts: map[string]int{}, Results: rep.Results}
	for st, n := range rep.Counts() {
		rec.Counts[string(st)] = n
	}
	for _, r := range rep.Results {
		switch r.Status {
		case verify.Fail:
			rec.Failed = append(rec.Failed, fmt.Sprintf("%s %s: %s", r.Check, r.Target, r.Detail))
		case verify.Unknown:
			rec.Unknown = append(rec.Unknown, fmt.Sprintf("%s %s: %s", r.Check, r.Target, r.Detail))
		}
	}
	// A partial run (--only) is recorded but cannot pass the cutover gate.
	if len(opts.Only) > 0 {
		rec.Partial = true
	}
	rs := s.Release(release)
	rs.Verify = rec
	if rec.Passed && !rec.Partial {
		rs.SetStep("verify", "done", fmt.Sprintf("%d pass, %d warn, %d skip, %d unknown", rec.Counts["pass"], rec.Counts["warn"], rec.Counts["skip"], rec.Counts["unknown"]), rec.At)
	} else if !rec.Passed {
		rs.SetStep("verify", "failed", fmt.Sprintf("%d checks failed", rec.Counts["fail"]), rec.At)
	}
	if err := o.SaveState(ctx, s); err != nil {
		return rep, err
	}
	outcome := "done"
	if !rec.Passed {
		outcome = "failed"
	}
	o.journal(ctx, release, "verify", outcome, fmt.Sprintf("pass %d, warn %d, fail %d, skip %d, unknown %d", rec.Counts["pass"], rec.Counts["warn"], rec.Counts["fail"], rec.Counts["skip"], rec.Counts["unknown"]))
	if !rec.Passed {
		return rep, fmt.Errorf("verify %s: %d check(s) failed: %w", termshift.Quote(release), rec.Counts["fail"], termshift.ErrVerifyFailed)
	}
	return rep, nil
}

// verifyTarget gathers what verify needs from the environment and state.
func (o *Orchestrator) verifyTarget(ctx context.Context, s *store.State, release string) (verify.Target, error) {
	t := verify.Target{Release: release, PreviewHeader: router.PreviewHeader, HealthPath: o.Env.Verify.HealthPath}
	for _, svc := range termshift.Services() {
		for _, db := range o.Env.LogicalDBs(svc) {
			t.Logical = append(t.Logical, db.Name)
		}
	}
	// A release that shares another's data is checked against the owner's
	// namespaces and credentials: they are its own for every check.
	owner, err := o.sharedOwner(s, release)
	if err != nil {
		return t, err
	}
	data := release
	if owner != "" {
		data = owner
	}
	for _, name := range s.Names() {
		rs := s.Releases[name]
		creds, err := o.Store.Credentials(ctx, name)
		if err != nil {
			return t, err
		}
		for _, ns := range rs.Namespaces {
			v := verify.Namespace{Service: ns.Service, Logical: ns.Logical, Name: ns.Name, Release: name,
				Cred: creds[store.CredKey(ns.Service, ns.Logical)], Endpoints: ns.Endpoints, Enforced: ns.Isolation == "enforced"}
			if ns.Proof != nil {
				v.Proof = &verify.Proof{Objects: ns.Proof.Objects, At: ns.Proof.At}
			}
			if name == data {
				t.Own = append(t.Own, v)
			} else {
				t.Others = append(t.Others, v)
			}
		}
	}
	if len(t.Own) == 0 && owner != "" {
		return t, termshift.WithHint(fmt.Errorf("release %s shares %s's data, but %s has no namespaces to verify against: %w", termshift.Quote(release), termshift.Quote(owner), termshift.Quote(owner), termshift.ErrNotFound),
			"upgrade the release that owns the data first (`termshift upgrade "+owner+"`)")
	}
	if len(t.Own) == 0 {
		return t, termshift.WithHint(fmt.Errorf("release %s has no namespaces to verify: %w", termshift.Quote(release), termshift.ErrNotFound), "run `termshift carve "+release+"` first")
	}
	// Rendered configuration, when the release was deployed.
	for _, tpl := range o.Env.Templates {
		p := filepath.Join(o.ConfigDir(release), tpl.Target)
		if _, err := os.Stat(p); err == nil {
			t.ConfigFiles = append(t.ConfigFiles, p)
		}
	}
	rules, err := o.scrubRules()
	if err != nil {
		return t, err
	}
	if s.Releases[data].StepDone("restore") {
		t.Scrub = append(t.Scrub, rules...)
	}
	running := s.Release(release).Running
	if pv, ok := o.P.Router.(previewer); ok && running {
		if u, err := pv.Preview(ctx, release); err != nil {
			t.Unreachable = "not reachable from here: " + err.Error()
		} else {
			t.RouterURL = u
		}
	} else if running && o.Control().Running() {
		t.RouterURL = "http://" + o.Env.Router.Listen
	}
	for _, sc := range o.Env.Verify.Smoke {
		t.Smoke = append(t.Smoke, verify.SmokeCheck{Name: sc.Name, Method: sc.Method, Path: sc.Path, Status: sc.Status, Contains: sc.Contains})
	}
	srv := o.Env.Servers
	if srv.MySQL != nil {
		t.Servers.MySQLAdminDSN = termshift.Secret(srv.MySQL.DSN)
		t.Servers.MySQLAddr = srv.MySQL.Addr()
	}
	if srv.Mongo != nil {
		t.Servers.MongoURI = termshift.Secret(srv.Mongo.URI)
	}
	return t, nil
}

// stateChecks adds what only state knows to a report: a namespace whose
// restore failed or never finished fails integrity (verify alone would skip
// it as "not restored"), and a restored release whose scrub rules have not
// run fails scrub: it is not ready for QA.
func (o *Orchestrator) stateChecks(rs *store.ReleaseState, rep *verify.Report, only []string) error {
	want := func(check string) bool { return len(only) == 0 || slices.Contains(only, check) }
	replace := func(check, target, detail string) {
		for i := range rep.Results {
			r := &rep.Results[i]
			if r.Check == check && (r.Target == target || target == "") {
				r.Status, r.Detail = verify.Fail, detail
				return
			}
		}
		rep.Results = append(rep.Results, verify.Result{Check: check, Target: target, Status: verify.Fail, Detail: detail})
	}
	if want(verify.CheckIntegrity) {
		for _, ns := range rs.Namespaces {
			switch ns.Status {
			case store.NSFailed:
				replace(verify.CheckIntegrity, string(ns.Service)+" "+ns.Name, "restore failed: "+ns.Error)
			case store.NSRestoring:
				replace(verify.CheckIntegrity, string(ns.Service)+" "+ns.Name, "restore never finished: run `termshift restore "+rs.Name+" --resume`")
			}
		}
	}
	if want(verify.CheckScrub) && rs.StepDone("restore") && !rs.StepDone("scrub") {
		rules, err := o.scrubRules()
		if err != nil {
			return err
		}
		if len(rules) > 0 {
			replace(verify.CheckScrub, "", fmt.Sprintf("%d scrub rules have not run on the restored data: run `termshift scrub %s`", len(rules), rs.Name))
		}
	}
	return nil
}
