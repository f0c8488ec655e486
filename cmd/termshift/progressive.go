package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/store"
)

// progressiveFlags are the cutover flags of a progressive cutover and of
// steering one.
type progressiveFlags struct {
	opts         rollout.ProgressiveOptions
	maxErrorRate float64
	minRequests  uint64
	pause        bool
	resume       bool
	promote      bool
	abort        bool
}

const progressiveHelp = `

Progressive cutover (a release with data: {shared_with: LIVE} only: a split
between releases with their own namespaces would send one student's writes to
two databases, so it is refused and --final-sync is the way): --steps
5,25,50,100 sends that share of public traffic to RELEASE step by step, sticky
per browser (cookie termshift_split). At the end of each --interval the
router's own counters are analysed: RELEASE's error rate (5xx) above
--max-error-rate percent or its p99 above --max-p99 fails the step and sends
the split back to 0 on its own (the journal names the metric and its value);
fewer than --min-requests holds the step (never promotes); a pass moves to the
next step, and at 100 RELEASE becomes live as in a normal cutover. Defaults
come from termshift.yaml's progressive: section. Where it stands is in state:
from another terminal, cutover RELEASE --pause, --resume, --promote or --abort
--reason TEXT steers it; if the command stops, running cutover RELEASE again
continues it.`

func (f *progressiveFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntSliceVar(&f.opts.Steps, "steps", nil, "progressive cutover: weights in percent, increasing, ending at 100 (e.g. 5,25,50,100)")
	fl.DurationVar(&f.opts.Interval, "interval", 0, "progressive cutover: how long each step runs before its analysis (default 2m)")
	fl.DurationVar(&f.opts.Window, "window", 0, "progressive cutover: how far back each analysis reads the counters (default: the interval)")
	fl.Float64Var(&f.maxErrorRate, "max-error-rate", 0, "progressive cutover: highest share of 5xx answers of RELEASE in a step, in percent (default 1)")
	fl.DurationVar(&f.opts.MaxP99, "max-p99", 0, "progressive cutover: highest p99 latency of RELEASE in a step (default 500ms)")
	fl.Uint64Var(&f.minRequests, "min-requests", 0, "progressive cutover: fewest requests of RELEASE for a step to be judged (default 20)")
	fl.IntVar(&f.opts.FailureLimit, "failure-limit", 0, "progressive cutover: failed analyses of a step before the split goes back to 0 (default 1)")
	fl.BoolVar(&f.pause, "pause", false, "hold the running progressive cutover of RELEASE at its weight")
	fl.BoolVar(&f.resume, "resume", false, "resume a paused progressive cutover of RELEASE (its step's window starts again)")
	fl.BoolVar(&f.promote, "promote", false, "make RELEASE live now, ending its progressive cutover")
	fl.BoolVar(&f.abort, "abort", false, "send all public traffic back to the live release, ending the progressive cutover of RELEASE")
	cmd.Long += progressiveHelp
}

// steering returns the steering action asked for, "" for none.
func (f *progressiveFlags) steering(cmd *cobra.Command) (string, error) {
	var actions []string
	for name, on := range map[string]bool{rollout.SteerPause: f.pause, rollout.SteerResume: f.resume, rollout.SteerPromote: f.promote, rollout.SteerAbort: f.abort} {
		if on {
			actions = append(actions, name)
		}
	}
	if len(actions) > 1 {
		return "", usageError{errors.New("--pause, --resume, --promote and --abort exclude each other")}
	}
	if len(actions) == 1 && f.progressive(cmd) {
		return "", usageError{fmt.Errorf("--%s steers a running progressive cutover: it takes no --steps, --interval or thresholds", actions[0])}
	}
	if len(actions) == 1 {
		return actions[0], nil
	}
	return "", nil
}

// progressive reports whether a progressive flag was given.
func (f *progressiveFlags) progressive(cmd *cobra.Command) bool {
	for _, name := range []string{"steps", "interval", "window", "max-error-rate", "max-p99", "min-requests", "failure-limit"} {
		if cmd.Flags().Changed(name) {
			return true
		}
	}
	return false
}

// options are the progressive options with the thresholds the flags set.
func (f *progressiveFlags) options(cmd *cobra.Command) rollout.ProgressiveOptions {
	opts := f.opts
	if cmd.Flags().Changed("max-error-rate") {
		v := f.maxErrorRate
		opts.MaxErrorRate = &v
	}
	if cmd.Flags().Changed("min-requests") {
		v := f.minRequests
		opts.MinRequests = &v
	}
	return opts
}

// runProgressive runs or continues a progressive cutover holding the lock,
// printing a line per step.
func (a *app) runProgressive(cmd *cobra.Command, o *rollout.Orchestrator, release string, opts rollout.ProgressiveOptions) error {
	if !a.jsonOut {
		opts.OnStep = func(ev rollout.ProgressEvent) { printProgressEvent(a.stdout, release, ev) }
	}
	var rep *rollout.ProgressiveReport
	err := o.Locked(cmd.Context(), func() error {
		var err error
		rep, err = o.Progressive(cmd.Context(), release, opts)
		return err
	})
	if rep == nil {
		return err
	}
	if a.jsonOut {
		return errors.Join(err, a.printJSON(rep))
	}
	switch {
	case rep.Status == store.ProgressPromoted && rep.Switch != nil:
		fmt.Fprintf(a.stdout, "%s is live (was %s) after a progressive cutover\n", release, orNone(rep.From))
		fmt.Fprintf(a.stdout, "%s keeps running as the rollback target: termshift rollback --reason TEXT\n", rep.From)
	case rep.Status == store.ProgressPromoted:
		fmt.Fprintf(a.stdout, "%s is already live: nothing to do\n", release)
	case rep.Status == store.ProgressRolledBack:
		fmt.Fprintf(a.stdout, "rolled back after %s: %s; all public traffic is on %s\n", rep.RolledBackAfter.Round(100*time.Millisecond), rep.Why, rep.From)
	}
	return err
}

// printProgressEvent prints one step line: the weight, the verdict and the
// metrics of both releases.
func printProgressEvent(w io.Writer, release string, ev rollout.ProgressEvent) {
	head := fmt.Sprintf("step %d/%d %3d%% to %s", ev.Step, ev.Of, ev.Percent, release)
	switch ev.Event {
	case "weight":
		fmt.Fprintf(w, "%s: weight applied\n", head)
	case "pass", "fail", "inconclusive":
		r := ev.Result
		what := ""
		if r.Metric != "" {
			what = fmt.Sprintf(" (%s %s)", r.Metric, r.Value)
		}
		fmt.Fprintf(w, "%s: %s%s; %s: %s; live: %s\n", head, ev.Event, what, release, r.Canary, r.Live)
		for _, c := range r.Checks {
			if c.Err != "" {
				fmt.Fprintf(w, "  prometheus %s: %s\n", c.Name, c.Err)
			} else {
				fmt.Fprintf(w, "  prometheus %s: %g (want %s)\n", c.Name, c.Value, c.Condition)
			}
		}
	default:
		fmt.Fprintf(w, "%s: %s: %s\n", head, ev.Event, ev.Detail)
	}
}

// steer applies a steering action from any terminal, without the lock.
func (a *app) steer(cmd *cobra.Command, o *rollout.Orchestrator, release, action string) error {
	p, err := o.Steer(cmd.Context(), release, action)
	if err != nil {
		return err
	}
	if a.jsonOut {
		return a.printJSON(p)
	}
	switch action {
	case rollout.SteerAbort:
		fmt.Fprintf(a.stdout, "aborted the progressive cutover of %s: all public traffic goes to %s\n", release, p.From)
	case rollout.SteerPromote:
		fmt.Fprintf(a.stdout, "asked the running progressive cutover to make %s live now (if no command runs it, run termshift cutover %s --reason TEXT)\n", release, release)
	default:
		fmt.Fprintf(a.stdout, "progressive cutover of %s %s at step %d/%d (%d%%)\n", release, p.Status, p.Step+1, len(p.Steps), p.Percent)
	}
	return nil
}

// writeProgressive is status's line of the progressive cutover state
// holds: where it stands and its last analysis.
func writeProgressive(w io.Writer, p *store.Progressive) {
	if p == nil {
		return
	}
	fmt.Fprintf(w, "progressive cutover: %s from %s %s at step %d/%d (%d%%)", p.Release, p.From, p.Status, p.Step+1, len(p.Steps), p.Percent)
	if p.Active() {
		fmt.Fprintf(w, " since %s, every %s; steer: termshift cutover %s --pause|--resume|--promote|--abort --reason TEXT", p.Since.Local().Format(time.RFC3339), p.Interval, p.Release)
	}
	if p.Why != "" {
		fmt.Fprintf(w, "; %s", p.Why)
	}
	fmt.Fprintln(w)
	if n := len(p.History); n > 0 {
		h := p.History[n-1]
		fmt.Fprintf(w, "  last analysis %s at %d%%: %s\n", h.At.Local().Format(time.RFC3339), h.Percent, h.Detail)
	}
}
