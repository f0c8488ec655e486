package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift/rollout"
)

func (a *app) deployCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deploy RELEASE",
		Short: "Render the release's configuration, start it beside the live one, wait for health",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return lockedRelease(a, cmd, args, "", func(ctx context.Context, o *rollout.Orchestrator, release string) (string, error) {
				if err := o.Deploy(ctx, release); err != nil {
					return "", err // nothing to print: the error says it
				}
				return release, nil
			}, func(release, _ string) {
				fmt.Fprintf(a.stdout, "%s is running and healthy; preview it with the header X-Termshift-Release: %s\n", release, release)
			})
		},
	}
	return cmd
}

func (a *app) serveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the router on the public address and supervise local releases (long-running)",
		Long: `Run the environment's router on router.listen: public traffic goes to the
live release. Previews of any other running release (the header
X-Termshift-Release: NAME, the host NAME.HOST, or the cookie set by
/_termshift/preview/NAME) are served only to the networks in
router.preview.allow (loopback by default) or with a signed grant from
` + "`termshift preview-link`" + `; the rollback target is never public. The dashboard,
/_termshift/status and /_termshift/metrics are on router.admin_listen (default
127.0.0.1:8099), never on the public address. serve also runs local releases'
commands, restarting them with backoff, converges on state whenever a command
(deploy, cutover, rollback) asks through the control socket in the state
directory, and follows a shared state (state.backend s3) every 250 ms. Stop it
with Ctrl-C or SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			o.Out = a.stdout
			return o.Serve(cmd.Context())
		},
	}
}

func (a *app) cutoverCommand() *cobra.Command {
	var opts rollout.CutoverOptions
	var reason string
	var prog progressiveFlags
	cmd := &cobra.Command{
		Use:   "cutover RELEASE --reason TEXT [--final-sync | --steps 5,25,50,100 | --pause | --resume | --promote | --abort]",
		Short: "Switch public traffic to a verified, running, healthy release (atomic; journaled)",
		Long: `Switch public traffic to RELEASE: verify gate, then (with pre_cutover commands or
--final-sync) a maintenance window, then the atomic switch.

--final-sync is the production cutover that loses no write: the maintenance
window opens (public traffic gets 503 with Retry-After; requests already in
flight on the live release finish first), the live release's data is synced
into RELEASE with proof (see 'termshift sync'), RELEASE's pre_cutover commands
(migrations) run, verify runs again on the synced data and must pass, then
traffic switches and the window closes. If any part fails, the window is
lifted, traffic stays on the live release, untouched, and the report says which
parts ran; running the same command again starts the window again. A command
that finds the window of a killed final sync (its lock's holder gone) lifts it;
the same final sync run again keeps it, so the live release takes no write in
between. A final sync into the rollback target is refused (exit 4).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			release, err := releaseArg(args)
			if err != nil {
				return err
			}
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			o.Reason = reason
			action, err := prog.steering(cmd)
			if err != nil {
				return err
			}
			if action != "" {
				return a.steer(cmd, o, release, action)
			}
			progressive := prog.progressive(cmd)
			if progressive && opts.FinalSync {
				return usageError{errors.New("--steps and --final-sync exclude each other: a progressive cutover is for a release sharing the live release's data, a final sync for one with its own")}
			}
			if !progressive && !opts.FinalSync {
				// A progressive cutover left running continues.
				if s, err := o.LoadState(cmd.Context()); err == nil && s.Progressive.Active() && s.Progressive.Release == release {
					progressive = true
				}
			}
			if progressive {
				popts := prog.options(cmd)
				popts.SkipVerify, popts.Waive = opts.SkipVerify, opts.Waive
				return a.runProgressive(cmd, o, release, popts)
			}
			if opts.FinalSync {
				o.KeepWindow = release
				if !a.jsonOut {
					opts.Progress = newProgress(a.stderr).Event
				}
			}
			var rep *rollout.SwitchReport
			err = o.Locked(cmd.Context(), func() error {
				var err error
				rep, err = o.Cutover(cmd.Context(), release, opts)
				return err
			})
			if rep == nil {
				return err
			}
			if a.jsonOut {
				if jerr := a.printJSON(rep); jerr != nil {
					return errors.Join(err, jerr)
				}
				return err
			}
			a.printCutover(release, rep)
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required, journaled)")
	cmd.Flags().BoolVar(&opts.SkipVerify, "skip-verify", false, "cut over although verify failed or is stale (journaled with --reason)")
	cmd.Flags().StringSliceVar(&opts.Waive, "waive", nil, "accept that verify could not tell for this check (e.g. isolation); repeatable; journaled with --reason")
	cmd.Flags().BoolVar(&opts.FinalSync, "final-sync", false, "inside a maintenance window, sync the live release's data into RELEASE with proof, migrate and verify before the switch")
	cmd.Flags().IntVar(&opts.Threads, "threads", 0, "--final-sync: parallel connections, tables and collections (default: CPU count)")
	prog.add(cmd)
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) printCutover(release string, rep *rollout.SwitchReport) {
	if rep.From == rep.To {
		fmt.Fprintf(a.stdout, "%s is already live: nothing to do\n", release)
		return
	}
	if w := rep.Window; w != nil {
		if w.SyncReport != nil {
			a.printSync(w.SyncReport)
		}
		if w.Kept != "" {
			fmt.Fprintf(a.stdout, "kept %s\n", w.Kept)
		}
		for _, n := range w.Notes {
			fmt.Fprintf(a.stdout, "note: %s\n", n)
		}
		if w.Failed != "" {
			fmt.Fprintf(a.stdout, "maintenance window FAILED at %s after %s; lifted: traffic stays on %s\n", w.Failed, w.Parts(), orNone(rep.From))
			return
		}
		fmt.Fprintf(a.stdout, "maintenance window %s\n", w.Parts())
	}
	if rep.Switched.IsZero() {
		return
	}
	fmt.Fprintf(a.stdout, "%s is live (was %s); switched %s after the command started\n", release, orNone(rep.From), rep.Duration.Round(time.Millisecond))
	if rep.From != "" {
		fmt.Fprintf(a.stdout, "%s keeps running as the rollback target: termshift rollback --reason TEXT\n", rep.From)
	}
}

func (a *app) rollbackCommand() *cobra.Command {
	var opts rollout.RollbackOptions
	var reason string
	cmd := &cobra.Command{
		Use:   "rollback [--to RELEASE] --reason TEXT",
		Short: "Switch traffic back to the rollback target in well under a second",
		Long: `Switch public traffic back to the rollback target (the release live before),
or --to RELEASE. It needs nothing from the release being abandoned: it may be
crashed or its servers unreachable. It reports what the switch strands: rows
and documents written to the abandoned release since it became live, counted
within half a second while the switch happens, so counting never delays it
(unreachable servers are reported as unknown). --dry-run shows only that,
without switching. If another command holds the lock, rollback
names it; --force takes the lock over (journaled) and the holder stops at its
next step.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			o.Reason = reason
			rep, err := o.Rollback(cmd.Context(), opts)
			if rep != nil {
				if a.jsonOut {
					if jerr := a.printJSON(rep); jerr != nil {
						return jerr
					}
				} else {
					a.printStranded(rep)
					if !opts.DryRun && err == nil {
						fmt.Fprintf(a.stdout, "%s is live again (abandoned %s); switched %s after the command started\n", rep.To, rep.From, rep.Duration.Round(time.Millisecond))
					}
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.To, "to", "", "release to make live (default: the rollback target)")
	f.StringVar(&reason, "reason", "", "why (required, journaled)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "only show what would be stranded")
	f.BoolVar(&opts.Force, "force", false, "take the lock over from the command holding it (journaled)")
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) printStranded(rep *rollout.SwitchReport) {
	s := rep.Stranded
	if s == nil {
		return
	}
	if s.Empty() {
		fmt.Fprintf(a.stdout, "rolling back %s -> %s strands nothing: no rows or documents were written to %s since it became live\n", rep.From, rep.To, rep.From)
		return
	}
	fmt.Fprintf(a.stdout, "rolling back %s -> %s strands what was written to %s since %s:\n", rep.From, rep.To, rep.From, s.Since.Local().Format(time.RFC3339))
	print := func(kind string, m map[string]int64) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(a.stdout, "  %-50s %+d %s\n", k, m[k], kind)
		}
	}
	print("rows", s.Rows)
	print("new ids", s.NewIDs)
	print("documents", s.Documents)
	for _, u := range s.Unknown {
		fmt.Fprintf(a.stdout, "  unknown: %s\n", u)
	}
}

func (a *app) upgradeCommand() *cobra.Command {
	var opts rollout.UpgradeOptions
	var reason string
	cmd := &cobra.Command{
		Use:   "upgrade RELEASE [--snapshot ID] [--cutover] [--dry-run]",
		Short: "Plan, then carve, restore, scrub, deploy, verify, and stop for approval (or cut over)",
		Long: `Print the plan, then run each unfinished step: carve -> restore (renamed, proven)
-> scrub -> deploy beside the live release -> verify -> stop for approval, or cut
over with --cutover. Every step is idempotent and journaled: after a crash,
Ctrl-C or a lost terminal, the same command continues from the first unfinished
step. --dry-run prints only the plan.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			release, err := releaseArg(args)
			if err != nil {
				return err
			}
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			o.Reason = reason
			if o.Reason == "" {
				o.Reason = "semester upgrade to " + release
			}
			if !a.jsonOut {
				opts.Progress = newProgress(a.stderr).Event
			}
			if opts.FinalSync && !opts.Cutover {
				return usageError{fmt.Errorf("--final-sync needs --cutover: it is how the cutover copies the live release's data")}
			}
			if opts.FinalSync {
				o.KeepWindow = release
			}
			plan, err := o.Plan(cmd.Context(), release, opts)
			if err != nil {
				return err
			}
			if !a.jsonOut {
				fmt.Fprintf(a.stdout, "plan for %s:\n", release)
				for _, p := range plan {
					fmt.Fprintf(a.stdout, "  %-8s %-5s %s\n", p.Step, p.Action, p.Why)
				}
			}
			if opts.DryRun {
				if a.jsonOut {
					return a.printJSON(plan)
				}
				return nil
			}
			var rep *rollout.UpgradeReport
			err = o.Locked(cmd.Context(), func() error {
				var err error
				rep, err = o.Upgrade(cmd.Context(), release, opts)
				return err
			})
			if rep != nil {
				if a.jsonOut {
					if jerr := a.printJSON(rep); jerr != nil {
						return jerr
					}
				} else {
					a.printUpgrade(rep)
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Snapshot, "snapshot", "", "backup snapshot (default: the newest)")
	f.BoolVar(&opts.Cutover, "cutover", false, "cut over at the end instead of stopping for approval")
	f.BoolVar(&opts.FinalSync, "final-sync", false, "with --cutover: sync the live release's data in a maintenance window, migrate and verify before the switch")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the plan only")
	f.IntVar(&opts.Threads, "threads", 0, "restore parallelism (default: CPU count)")
	f.BoolVar(&opts.DropExisting, "drop-existing", false, "replace data restored before (e.g. with --snapshot of a newer night)")
	f.BoolVar(&opts.AcceptUnproven, "accept-unproven-backup", false, "accept backups that carry no evidence of being complete (journaled with --reason)")
	f.StringSliceVar(&opts.Waive, "waive", nil, "with --cutover: accept that verify could not tell for this check; repeatable; journaled")
	f.StringVar(&reason, "reason", "", "why (journaled; default \"semester upgrade to RELEASE\")")
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) printUpgrade(rep *rollout.UpgradeReport) {
	var rows, docs int64
	var secs float64
	for _, r := range rep.Restore {
		if r.Report == nil {
			continue
		}
		_, loaded, _ := r.Report.Totals()
		switch r.Namespace.Service {
		case "mysql":
			rows += loaded
		case "mongo":
			docs += loaded
		}
		secs += r.Report.Seconds
	}
	fmt.Fprintf(a.stdout, "\nupgrade %s:\n", rep.Release)
	var steps []string
	for _, p := range rep.Plan {
		if s, ok := rep.Seconds[p.Step]; ok {
			steps = append(steps, fmt.Sprintf("%s %.1fs", p.Step, s))
		}
	}
	if len(steps) == 0 {
		fmt.Fprintln(a.stdout, "  nothing to do: every step was already done")
	} else {
		fmt.Fprintf(a.stdout, "  ran: %s\n", strings.Join(steps, ", "))
	}
	if len(rep.Restore) > 0 {
		fmt.Fprintf(a.stdout, "  restored snapshot %s: %d rows, %d documents in %.1fs, every proof held\n", rep.Snapshot, rows, docs, secs)
	}
	if v := rep.Verify; v != nil {
		fmt.Fprintf(a.stdout, "  verify: %d pass, %d warn, %d skip, %d fail", v.Counts["pass"], v.Counts["warn"], v.Counts["skip"], v.Counts["fail"])
		if n := v.Counts["unknown"]; n > 0 {
			fmt.Fprintf(a.stdout, ", %d unknown (could not tell: no pass)", n)
		}
		fmt.Fprintln(a.stdout)
	}
	if c := rep.Cutover; c != nil && c.Window != nil && c.Window.SyncReport != nil {
		a.printSync(c.Window.SyncReport)
	}
	if c := rep.Cutover; c != nil && c.Window != nil {
		if c.Window.Failed != "" {
			fmt.Fprintf(a.stdout, "  maintenance window FAILED at %s after %s; lifted: traffic stays on %s\n", c.Window.Failed, c.Window.Parts(), orNone(c.From))
		} else {
			fmt.Fprintf(a.stdout, "  maintenance window %s\n", c.Window.Parts())
		}
	}
	if c := rep.Cutover; c != nil && !c.Switched.IsZero() {
		fmt.Fprintf(a.stdout, "  cutover: %s is live (was %s), switched in %s\n", c.To, orNone(c.From), c.Duration.Round(time.Millisecond))
	} else if c == nil {
		fmt.Fprintf(a.stdout, "  waiting for approval: termshift cutover %s --reason TEXT\n", rep.Release)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (a *app) gcCommand() *cobra.Command {
	var yes bool
	var reason string
	cmd := &cobra.Command{
		Use:   "gc [--yes]",
		Short: "List releases past retention and orphan namespaces; drop them only with --yes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			o.Reason = reason
			var items []rollout.GCItem
			err = o.Locked(cmd.Context(), func() error {
				var err error
				items, err = o.GC(cmd.Context(), yes)
				return err
			})
			if a.jsonOut {
				if jerr := a.printJSON(items); jerr != nil {
					return jerr
				}
				return err
			}
			if len(items) == 0 {
				fmt.Fprintln(a.stdout, "nothing to collect")
			}
			for _, it := range items {
				what := it.Release
				if it.Namespace != nil {
					what = it.Namespace.String()
				}
				fmt.Fprintf(a.stdout, "%-8s %-40s %-11s %s%s\n", it.Kind, what, it.Outcome, it.Why, errSuffix(it.Error))
			}
			droppable := 0
			for _, it := range items {
				if it.Outcome == "would drop" {
					droppable++
				}
			}
			if !yes && droppable > 0 {
				fmt.Fprintf(a.stdout, "nothing dropped: run `termshift gc --yes` to drop the %d marked \"would drop\"; namespaces that are not ours are never dropped\n", droppable)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "really drop")
	cmd.Flags().StringVar(&reason, "reason", "", "why (journaled)")
	a.addJSONFlag(cmd)
	return cmd
}
