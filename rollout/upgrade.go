package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
	"github.com/termshift/termshift/rollout/runner"
	"github.com/termshift/termshift/rollout/store"
)

// UpgradeOptions configures Upgrade.
type UpgradeOptions struct {
	Snapshot     string
	DropExisting bool // replace data restored before (a new snapshot into a restored release)
	// AcceptUnproven accepts backups without evidence of completeness
	// (journaled, with the reason).
	AcceptUnproven bool
	Cutover        bool
	// FinalSync makes the cutover a final sync (CutoverOptions.FinalSync).
	FinalSync bool
	DryRun    bool
	Threads   int
	Progress  restore.Progress
	// Waive names verify checks whose unknown results the cutover accepts.
	Waive []string
}

// PlanStep is one step of an upgrade plan and whether it will run.
type PlanStep struct {
	Step   string `json:"step"`
	Action string `json:"action"` // run, skip (done), stop (needs approval)
	Why    string `json:"why"`
}

// UpgradeReport is what an upgrade did.
type UpgradeReport struct {
	Release  string              `json:"release"`
	Plan     []PlanStep          `json:"plan"`
	Carve    []CarveResult       `json:"carve,omitempty"`
	Restore  []RestoreResult     `json:"restore,omitempty"`
	Snapshot string              `json:"snapshot,omitempty"`
	Scrub    []ScrubResult       `json:"scrub,omitempty"`
	Verify   *store.VerifyRecord `json:"verify,omitempty"`
	Cutover  *SwitchReport       `json:"cutover,omitempty"`
	Seconds  map[string]float64
}

// Plan says which upgrade steps would run for release and why.
func (o *Orchestrator) Plan(ctx context.Context, release string, opts UpgradeOptions) ([]PlanStep, error) {
	spec, err := o.spec(release)
	if err != nil {
		return nil, err
	}
	if err := checkThreads(opts.Threads); err != nil {
		return nil, err
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	if err := o.refuseProtected(s, release, "upgrade"); err != nil && s.Live != release {
		return nil, err
	}
	rs := s.Releases[release]
	if rs == nil {
		rs = &store.ReleaseState{Name: release}
	}
	owner, err := o.sharedOwner(s, release)
	if err != nil {
		return nil, err
	}
	if owner != "" {
		return o.sharedPlan(ctx, s, spec, owner, opts)
	}
	var plan []PlanStep
	add := func(step, action, why string) { plan = append(plan, PlanStep{Step: step, Action: action, Why: why}) }
	add("data", "mode", ModeOwn+": carved, restored and scrubbed for "+release+" alone")
	changed := o.patternChanges(rs)
	switch {
	case len(changed) > 0:
		add("carve", "run", "the naming pattern changed since this release was carved: "+strings.Join(changed, "; ")+" (carve refuses this: tear the release down first, or restore the pattern)")
	case rs.StepDone("carve"):
		add("carve", "skip", "namespaces carved "+rs.Steps["carve"].At.Format(time.RFC3339))
	default:
		add("carve", "run", fmt.Sprintf("create %d namespaces and credentials", o.Env.NamespaceCount()))
	}
	snapWhy := "the newest snapshot"
	if opts.Snapshot != "" {
		snapWhy = "snapshot " + opts.Snapshot
	}
	switch {
	case s.Live == release:
		add("restore", "skip", "the release is live: its data is never overwritten")
	case rs.StepDone("restore") && (opts.Snapshot == "" || opts.Snapshot == rs.Snapshot):
		add("restore", "skip", "restored from snapshot "+rs.Snapshot)
	case rs.Steps["restore"].Status == "failed":
		add("restore", "run", "resume the failed restore from "+snapWhy)
	default:
		add("restore", "run", "load "+snapWhy+" from "+o.Env.Backup.Source+", renamed, with proof")
	}
	rules, err := o.scrubRules()
	if err != nil {
		return nil, err
	}
	switch {
	case len(rules) == 0:
		add("scrub", "skip", "no scrub rules")
	case rs.StepDone("scrub") && plan[2].Action == "skip":
		add("scrub", "skip", "scrubbed "+rs.Steps["scrub"].At.Format(time.RFC3339))
	default:
		add("scrub", "run", fmt.Sprintf("%d scrub rules", len(rules)))
	}
	deployed := rs.StepDone("deploy") && rs.Running && o.healthy(ctx, release)
	if deployed {
		add("deploy", "skip", "running and healthy")
	} else {
		add("deploy", "run", "render configuration, start the "+spec.Runner+" release, wait for health")
	}
	nothingChanges := plan[1].Action == "skip" && plan[2].Action == "skip" && plan[3].Action == "skip" && deployed
	if nothingChanges && gate(rs, opts.Waive) == "" {
		add("verify", "skip", "passed "+rs.Verify.At.Format(time.RFC3339))
	} else {
		add("verify", "run", "all checks")
	}
	switch {
	case s.Live == release:
		add("cutover", "skip", "already live")
	case opts.Cutover && opts.FinalSync:
		how := "sync " + orNone(s.Live) + "'s data into " + release + " with proof"
		if f := rs.Follow; f != nil && f.Status == "following" && !f.Stop && f.From == s.Live && s.Live != "" {
			how = "catch up " + release + "'s MySQL from " + s.Live + "'s binary log (followed since " + f.Since.Format(time.RFC3339) + ") and prove the tables changed since its data was proven, full copy of MongoDB and RabbitMQ"
		}
		add("cutover", "run", "maintenance window: "+how+", pre_cutover, verify; then switch traffic from "+orNone(s.Live)+" (kept running as the rollback target)")
	case opts.Cutover:
		add("cutover", "run", "switch traffic from "+orNone(s.Live)+" (kept running as the rollback target)")
	default:
		add("cutover", "stop", "waits for approval: `termshift cutover "+release+" --reason TEXT`")
	}
	return plan, nil
}

// patternChanges lists a release's namespaces whose names in state differ
// from what the naming pattern gives now.
func (o *Orchestrator) patternChanges(rs *store.ReleaseState) []string {
	var out []string
	for _, ns := range o.derivedNamespaces(rs.Name) {
		if was := rs.Namespace(ns.Service, ns.Logical); was != nil && was.Name != ns.Name {
			out = append(out, fmt.Sprintf("%s %s is %s, the pattern now gives %s", ns.Service, termshift.Quote(ns.Logical), termshift.Quote(was.Name), termshift.Quote(ns.Name)))
		}
	}
	return out
}

func (o *Orchestrator) healthy(ctx context.Context, release string) bool {
	r, err := o.runner(release)
	if err != nil {
		return false
	}
	ep, err := r.Endpoint(release)
	if err != nil {
		return false
	}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return runner.WaitHealthy(hctx, ep.Health, 200*time.Millisecond) == nil
}

// Upgrade runs the plan: carve, restore, scrub, deploy, verify, and cut
// over with opts.Cutover. Each step is idempotent and journaled, so
// running it again after a crash continues from the first unfinished step.
func (o *Orchestrator) Upgrade(ctx context.Context, release string, opts UpgradeOptions) (*UpgradeReport, error) {
	plan, err := o.Plan(ctx, release, opts)
	if err != nil {
		return nil, err
	}
	rep := &UpgradeReport{Release: release, Plan: plan, Seconds: map[string]float64{}}
	if opts.DryRun {
		return rep, nil
	}
	var steps []string
	for _, p := range plan {
		steps = append(steps, p.Step+":"+p.Action)
	}
	o.journal(ctx, release, "upgrade", "started", strings.Join(steps, " "))
	for _, p := range plan {
		if p.Action != "run" {
			continue
		}
		if err := o.checkLock(ctx); err != nil {
			return rep, err
		}
		o.printf("== %s: %s\n", p.Step, p.Why)
		start := time.Now()
		switch p.Step {
		case "carve":
			rep.Carve, err = o.Carve(ctx, release)
		case "restore":
			var snap restore.Snapshot
			rep.Restore, snap, err = o.Restore(ctx, release, RestoreOptions{Snapshot: opts.Snapshot, Threads: opts.Threads, Resume: true,
				DropExisting: opts.DropExisting, AcceptUnproven: opts.AcceptUnproven, Progress: opts.Progress})
			rep.Snapshot = snap.ID
		case "scrub":
			rep.Scrub, err = o.Scrub(ctx, release)
		case "deploy":
			err = o.Deploy(ctx, release)
		case "verify":
			_, err = o.Verify(ctx, release, VerifyOptions{})
			if s, lerr := o.LoadState(ctx); lerr == nil && s.Releases[release] != nil {
				rep.Verify = s.Releases[release].Verify
			}
		case "cutover":
			rep.Cutover, err = o.Cutover(ctx, release, CutoverOptions{FinalSync: opts.FinalSync, Threads: opts.Threads, Progress: opts.Progress, Waive: opts.Waive})
		}
		rep.Seconds[p.Step] = time.Since(start).Seconds()
		if err != nil {
			o.journal(ctx, release, "upgrade", "failed", p.Step+": "+err.Error())
			return rep, termshift.WithHint(fmt.Errorf("upgrade %s stopped at %s: %w", termshift.Quote(release), p.Step, err),
				"fix the cause and run the same `termshift upgrade` again: finished steps are skipped")
		}
	}
	outcome := "done"
	if !opts.Cutover {
		outcome = "done (waiting for cutover approval)"
	}
	o.journal(ctx, release, "upgrade", outcome, "")
	return rep, nil
}
