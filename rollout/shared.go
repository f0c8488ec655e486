package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
)

// Shared-data releases: a patch release that runs on another release's
// namespaces (termshift.yaml's data: {shared_with: OWNER}). It holds no
// namespaces of its own in state, only the owner's name (SharesData), so
// no carve, restore, scrub or teardown of it can reach the data it
// borrows; its configuration is rendered with the owner's namespaces and
// credentials.

// Data modes as plans and status say them.
const (
	ModeOwn = "own namespaces"
	// ModeShared is followed by the owner's name.
	ModeShared = "shares data with "
)

// DataMode says which mode a release is in: ModeOwn, or ModeShared and the
// release whose data it shares.
func (o *Orchestrator) DataMode(release string) string {
	if owner, ok := o.Env.SharesData(release); ok {
		return ModeShared + owner
	}
	return ModeOwn
}

// sharedOwner is the release whose data release shares according to
// termshift.yaml ("" for a release with its own namespaces), after checking
// that state agrees: a release that holds namespaces of its own cannot
// start sharing, and one that runs on another's data cannot silently get
// namespaces of its own (or another owner's) under it.
func (o *Orchestrator) sharedOwner(s *store.State, release string) (string, error) {
	owner, shares := o.Env.SharesData(release)
	rs := s.Releases[release]
	if rs == nil {
		return owner, nil
	}
	switch {
	case shares && len(rs.Namespaces) > 0:
		return "", termshift.WithHint(fmt.Errorf("release %s holds %d namespaces of its own (%s), but %s says it shares %s's data: %w",
			termshift.Quote(release), len(rs.Namespaces), nsNames(rs.Namespaces), o.Env.Path, termshift.Quote(owner), termshift.ErrRefused),
			"tear it down first (`termshift teardown "+release+" --yes`), or remove its data: section")
	case rs.SharesData != "" && rs.SharesData != owner && (rs.Running || s.Live == release || s.Previous == release):
		now := "namespaces of its own"
		if shares {
			now = termshift.Quote(owner) + "'s data"
		}
		return "", termshift.WithHint(fmt.Errorf("release %s runs on %s's data, but %s now gives it %s: %w",
			termshift.Quote(release), termshift.Quote(rs.SharesData), o.Env.Path, now, termshift.ErrRefused),
			"put data: {shared_with: "+rs.SharesData+"} back, or stop using the release and tear it down (`termshift teardown "+release+" --yes`) first")
	}
	return owner, nil
}

func nsNames(nss []*store.NamespaceState) string {
	var out []string
	for _, ns := range nss {
		out = append(out, ns.Namespace.String())
	}
	return strings.Join(out, ", ")
}

// nothingToDo is what carve, restore and scrub say of a shared-data
// release.
func nothingToDo(owner string) string {
	return "shares " + owner + "'s data: nothing to do"
}

// skipShared reports whether release shares another's data, and says so
// for step: printed, journaled; an error when state disagrees with the
// environment file.
func (o *Orchestrator) skipShared(ctx context.Context, release, step string) (bool, error) {
	s, err := o.LoadState(ctx)
	if err != nil {
		return false, err
	}
	owner, err := o.sharedOwner(s, release)
	if err != nil {
		o.journal(ctx, release, step, "refused", err.Error())
		return false, err
	}
	if owner == "" {
		return false, nil
	}
	if rs := s.Release(release); rs.SharesData != owner {
		rs.SharesData = owner
		if err := o.SaveState(ctx, s); err != nil {
			return false, err
		}
	}
	o.printf("%s %s: %s\n", step, release, nothingToDo(owner))
	o.journal(ctx, release, step, "skipped", nothingToDo(owner))
	return true, nil
}

// refuseRunningSharers refuses to change release's namespaces while a
// release that shares them runs: its data would change or vanish under it.
func (o *Orchestrator) refuseRunningSharers(s *store.State, release, action string) error {
	var running, quoted []string
	for _, n := range s.Sharers(release) {
		if s.Releases[n].Running {
			running, quoted = append(running, n), append(quoted, termshift.Quote(n))
		}
	}
	if len(running) == 0 {
		return nil
	}
	return termshift.WithHint(fmt.Errorf("refusing to %s %s: release %s runs on its namespaces (shares its data): %w",
		action, termshift.Quote(release), strings.Join(quoted, ", "), termshift.ErrRefused),
		"tear the sharing release down first (`termshift teardown "+running[0]+" --yes`)")
}

// sharedPlan is the upgrade plan of a release that shares owner's data:
// nothing to carve, restore or scrub; deploy with the owner's namespaces
// and credentials; verify against them; a cutover without a final sync.
func (o *Orchestrator) sharedPlan(ctx context.Context, s *store.State, spec envfile.ReleaseSpec, owner string, opts UpgradeOptions) ([]PlanStep, error) {
	release := spec.Name
	if opts.FinalSync {
		return nil, termshift.WithHint(fmt.Errorf("--final-sync for %s: it shares %s's data, so there is nothing to sync: %w", termshift.Quote(release), termshift.Quote(owner), termshift.ErrInvalid),
			"cut over without --final-sync")
	}
	if opts.Snapshot != "" || opts.DropExisting || opts.AcceptUnproven {
		return nil, termshift.WithHint(fmt.Errorf("release %s shares %s's data and restores nothing: --snapshot, --drop-existing and --accept-unproven-backup do not apply: %w", termshift.Quote(release), termshift.Quote(owner), termshift.ErrInvalid),
			"restore into the release that owns the data instead, when it is neither live nor the rollback target")
	}
	ors := s.Releases[owner]
	if ors == nil || !ors.StepDone("carve") {
		return nil, termshift.WithHint(fmt.Errorf("release %s shares %s's data, but %s is not carved: %w", termshift.Quote(release), termshift.Quote(owner), termshift.Quote(owner), termshift.ErrNotFound),
			"upgrade the release that owns the data first (`termshift upgrade "+owner+"`)")
	}
	rs := s.Releases[release]
	if rs == nil {
		rs = &store.ReleaseState{Name: release}
	}
	var plan []PlanStep
	add := func(step, action, why string) { plan = append(plan, PlanStep{Step: step, Action: action, Why: why}) }
	add("data", "mode", ModeShared+owner+": runs on "+owner+"'s namespaces with its credentials (same schema, no migrations)")
	for _, step := range []string{"carve", "restore", "scrub"} {
		add(step, "skip", nothingToDo(owner))
	}
	deployed := rs.StepDone("deploy") && rs.Running && o.healthy(ctx, release)
	if deployed {
		add("deploy", "skip", "running and healthy")
	} else {
		add("deploy", "run", "render configuration with "+owner+"'s namespaces and credentials, start the "+spec.Runner+" release, wait for health")
	}
	if deployed && gate(rs, opts.Waive) == "" && !rs.Verify.At.Before(ors.ChangedAt) {
		add("verify", "skip", "passed "+rs.Verify.At.Format(time.RFC3339))
	} else {
		add("verify", "run", "all checks, against "+owner+"'s namespaces")
	}
	switch {
	case s.Live == release:
		add("cutover", "skip", "already live")
	case opts.Cutover:
		add("cutover", "run", "switch traffic from "+orNone(s.Live)+" (kept running as the rollback target); both run on "+owner+"'s data")
	default:
		add("cutover", "stop", "waits for approval: `termshift cutover "+release+" --reason TEXT`")
	}
	return plan, nil
}
