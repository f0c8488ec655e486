package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift/rollout/control"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/rollout/wiring"
)

func (a *app) statusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show releases, the live one, the rollback target, namespaces and the lock",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := a.environment()
			if err != nil {
				return err
			}
			st, err := a.store(cmd.Context(), env)
			if err != nil {
				return err
			}
			s, err := st.Load(cmd.Context())
			if err != nil {
				return err
			}
			holder, err := st.Holder(cmd.Context())
			if err != nil {
				return err
			}
			ready := readiness(cmd.Context(), env, s)
			if a.jsonOut {
				lock := map[string]any{"holder": holder}
				if holder != nil {
					gone, why := store.Stale(*holder, time.Now())
					lock["stale"], lock["why"] = gone, why
				}
				return a.printJSON(map[string]any{"environment": env.Name, "state": s, "lock": lock, "ready": ready})
			}
			if err := writeStatus(a, env, s, holder, ready); err != nil {
				return err
			}
			a.writeServe(cmd.Context(), env)
			return nil
		},
	}
	a.addJSONFlag(cmd)
	return cmd
}

// readyStatus is how ready a running release is, as its runner says.
type readyStatus struct {
	Ready   int    `json:"ready"`
	Desired int    `json:"desired"`
	Detail  string `json:"detail,omitempty"`
	Error   string `json:"error,omitempty"`
}

// readinessTimeout bounds how long status waits for the runners.
const readinessTimeout = 5 * time.Second

// readiness asks the runner of each running release how ready it is (pods
// of a Deployment, processes under serve), all at once, within
// readinessTimeout.
func readiness(ctx context.Context, env *envfile.Environment, s *store.State) map[string]readyStatus {
	out := map[string]readyStatus{}
	runners, err := wiring.Runners(env)
	if err != nil {
		for _, n := range s.Names() {
			if s.Releases[n].Running {
				out[n] = readyStatus{Error: err.Error()}
			}
		}
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, readinessTimeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range s.Names() {
		r, ok := runners[n]
		if !ok || !s.Releases[n].Running {
			continue
		}
		wg.Go(func() {
			st, err := r.Status(ctx, n)
			rs := readyStatus{Ready: st.Ready, Desired: st.Desired, Detail: st.Detail}
			if err != nil {
				rs.Error = err.Error()
			}
			mu.Lock()
			out[n] = rs
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func writeStatus(a *app, env *envfile.Environment, s *store.State, holder *store.LockInfo, ready map[string]readyStatus) error {
	w := a.stdout
	fmt.Fprintf(w, "environment %s (%s)\n", env.Name, env.Path)
	live := s.Live
	if live == "" {
		live = "none"
	}
	fmt.Fprintf(w, "live: %s", live)
	if !s.LiveSince.IsZero() {
		fmt.Fprintf(w, " since %s", s.LiveSince.Local().Format(time.RFC3339))
	}
	if s.Previous != "" {
		fmt.Fprintf(w, "    rollback target: %s", s.Previous)
	}
	fmt.Fprintln(w)
	if holder != nil {
		fmt.Fprintf(w, "lock: held by %s", holder)
		if gone, why := store.Stale(*holder, time.Now()); gone {
			fmt.Fprintf(w, " (stale: %s; the next command takes it over and journals it)", why)
		} else if why != "" {
			fmt.Fprintf(w, " (%s)", why)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "lock: free")
	}
	writeProgressive(w, s.Progressive)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nRELEASE\tVERSION\tROLE\tREADY\tSTEPS\tVERIFY\tNAMESPACES")
	names := map[string]bool{}
	for _, r := range env.Releases {
		names[r.Name] = true
	}
	for _, n := range s.Names() {
		names[n] = true
	}
	for _, r := range env.Releases {
		writeReleaseRow(tw, s, r.Name, r.Version, ready)
		delete(names, r.Name)
	}
	for n := range names {
		writeReleaseRow(tw, s, n, "(not in environment file)", ready)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range slices.Sorted(maps.Keys(ready)) {
		if r := ready[n]; r.Error != "" {
			fmt.Fprintf(w, "%s: its runner could not say how ready it is: %s\n", n, r.Error)
		} else if r.Ready < r.Desired && r.Detail != "" {
			fmt.Fprintf(w, "%s: %s\n", n, r.Detail)
		}
	}
	for _, n := range s.Names() {
		if f := s.Releases[n].Follow; f != nil {
			fmt.Fprintf(w, "%s: follow of %s's MySQL binary log from %s:%d, %s since %s (pid %d on %s)", n, f.From, f.Start.File, f.Start.Pos, f.Status, f.Since.Local().Format(time.RFC3339), f.PID, f.Host)
			if f.Detail != "" {
				fmt.Fprintf(w, ": %s", f.Detail)
			}
			fmt.Fprintln(w)
		}
	}
	for _, n := range s.Names() {
		r := s.Releases[n]
		if len(r.Namespaces) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s namespaces:\n", n)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, ns := range r.Namespaces {
			detail := ns.Isolation
			if ns.Error != "" {
				detail = ns.Error
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", ns.Service, ns.Name, ns.Status, detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func writeReleaseRow(tw *tabwriter.Writer, s *store.State, name, version string, ready map[string]readyStatus) {
	role := "-"
	switch name {
	case s.Live:
		role = "live"
	case s.Previous:
		role = "rollback target"
	}
	r := s.Releases[name]
	steps, verify, nss := "-", "never", "0"
	if r != nil {
		var done []string
		for _, step := range store.StepOrder {
			if st, ok := r.Steps[step]; ok {
				mark := step
				if st.Status != "done" {
					mark += "(" + st.Status + ")"
				}
				done = append(done, mark)
			}
		}
		if len(done) > 0 {
			steps = strings.Join(done, ",")
		}
		if r.Verify != nil {
			verify = "failed"
			switch {
			case r.Verify.Passed && len(r.Verify.Unknown) > 0:
				verify = "unproven"
			case r.Verify.Passed:
				verify = "passed"
			}
			verify += " " + r.Verify.At.Local().Format("01-02 15:04")
		}
		nss = fmt.Sprint(len(r.Namespaces))
		if r.SharesData != "" {
			nss = "shares data with " + r.SharesData
		}
		if r.Version != "" {
			version = r.Version
		}
		if r.Running && role == "-" {
			role = "running"
		}
	}
	rd := "-"
	if r, ok := ready[name]; ok {
		rd = fmt.Sprintf("%d/%d", r.Ready, r.Desired)
		if r.Error != "" {
			rd = "?"
		}
	}
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, version, role, rd, steps, verify, nss)
}

// writeServe says where this machine's serve routes and shows its
// dashboard, when one runs here.
func (a *app) writeServe(ctx context.Context, env *envfile.Environment) {
	ctl := control.NewClient(env.StateDir)
	if !ctl.Running() {
		fmt.Fprintln(a.stdout, "\nserve: not running on this machine")
		return
	}
	st, err := ctl.Status(ctx)
	if err != nil {
		fmt.Fprintf(a.stdout, "\nserve: %v\n", err)
		return
	}
	fmt.Fprintf(a.stdout, "\nserve: pid %d, public http://%s, live %s", st.PID, st.Listen, orNone(st.Live))
	if st.Admin != "" {
		fmt.Fprintf(a.stdout, ", dashboard http://%s/_termshift/", st.Admin)
	}
	if st.Maintenance {
		fmt.Fprint(a.stdout, ", MAINTENANCE WINDOW ON")
	}
	if st.SplitRelease != "" {
		fmt.Fprintf(a.stdout, ", split %d%% to %s", st.SplitPercent, st.SplitRelease)
	}
	fmt.Fprintln(a.stdout)
	if st.StateError != "" {
		fmt.Fprintf(a.stdout, "serve: %s\n", st.StateError)
	}
}
