package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/termshift/termshift/loadgen"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/store"
	localstore "github.com/termshift/termshift/rollout/store/local"
)

// Patch releases of the end-to-end environment, on current's data.
const (
	faultyPatch  = "patchbad"
	healthyPatch = "patchgood"
)

// canaryE2E is the end-to-end environment with two patch releases of the
// demo LMS sharing current's data: one that fails 30% of its requests
// (demo-lms web --fault-rate 0.3), one without a fault. current goes live
// from the backup; the admin address is the test's own, for the analysis.
func canaryE2E(tb testing.TB) *e2e {
	e := newE2E(tb)
	data, err := os.ReadFile(e.env)
	if err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(e.dir, "bin", "demo-lms")
	web := func(extra string) string {
		return fmt.Sprintf(`[%s, web, --config, "{{.ConfigDir}}/lms.env.json"%s]`, bin, extra)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "router: {listen: ") {
			out = append(out,
				fmt.Sprintf(`  - {name: %s, version: "1.0", port: %d, data: {shared_with: %s}, commands: {web: %s}}`, faultyPatch, freePort(tb), e.cur, web(`, --fault-rate, "0.3", --fault-seed, "7"`)),
				fmt.Sprintf(`  - {name: %s, version: "1.0", port: %d, data: {shared_with: %s}, commands: {web: %s}}`, healthyPatch, freePort(tb), e.cur, web("")))
			line = strings.Replace(line, "router: {", fmt.Sprintf("router: {admin_listen: \"127.0.0.1:%d\", ", freePort(tb)), 1)
		}
		out = append(out, line)
	}
	if err := os.WriteFile(e.env, []byte(strings.Join(out, "\n")), 0o600); err != nil {
		tb.Fatal(err)
	}
	e.serve()
	// The patches go before current's teardown (serve's cleanup): an owner
	// is refused teardown while a sharer runs.
	tb.Cleanup(func() {
		st := localstore.New(filepath.Join(e.dir, ".termshift"))
		if s, err := st.Load(context.Background()); err == nil {
			s.Live, s.Previous = "", ""
			_ = st.Save(context.Background(), s)
		}
		for _, r := range []string{faultyPatch, healthyPatch} {
			if code, _, errs := e.cli("teardown", r, "--yes", "--reason", "canary cleanup"); code != 0 {
				tb.Errorf("cleanup teardown %s: %s", r, errs)
			}
		}
	})
	e.must("upgrade", e.cur, "--cutover", "--reason", "canary: current goes live")
	return e
}

// canaryRun is one progressive cutover under public load.
type canaryRun struct {
	Code   int
	Report rollout.ProgressiveReport
	Load   loadgen.Result
	Stderr string
}

// progressive runs `cutover RELEASE --steps ... --json` while public
// requests (no cookies: each draws its side) flow through the router.
func (e *e2e) progressive(release string, args ...string) canaryRun {
	e.t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	loaded := make(chan loadgen.Result, 1)
	go func() {
		loaded <- loadgen.Load(ctx, "http://"+e.router+"/version", 150, 2*time.Minute, nil)
	}()
	time.Sleep(300 * time.Millisecond) // the load is flowing before the first step
	code, out, errs := e.cli(append([]string{"cutover", release, "--json", "--reason", "canary: " + release}, args...)...)
	time.Sleep(300 * time.Millisecond) // and goes on a little after the end
	stop()
	run := canaryRun{Code: code, Load: <-loaded, Stderr: errs}
	if err := json.Unmarshal([]byte(out), &run.Report); err != nil {
		e.t.Fatalf("cutover %s --json: exit %d: %v\nstdout:\n%s\nstderr:\n%s", release, code, err, out, errs)
	}
	return run
}

// steps are the per-step lines of a run, for the log and the README.
func (r canaryRun) steps() []string {
	var out []string
	for _, ev := range r.Report.Events {
		if res := ev.Result; res != nil {
			out = append(out, fmt.Sprintf("step %d/%d %3d%%: %-12s %s: %d requests, %d failed (%.1f%%), p99 %s; live: %d requests, %d failed",
				ev.Step, ev.Of, ev.Percent, ev.Event, r.Report.Release, res.Canary.Requests, res.Canary.Errors, res.Canary.ErrorRate,
				res.Canary.P99.Round(100*time.Microsecond), res.Live.Requests, res.Live.Errors))
		} else {
			out = append(out, fmt.Sprintf("step %d/%d %3d%%: %s", ev.Step, ev.Of, ev.Percent, ev.Detail))
		}
	}
	return out
}

var canarySteps = []string{"--steps", "5,25,50,100", "--interval", "2s", "--min-requests", "5", "--max-error-rate", "1", "--max-p99", "500ms"}

func TestProgressiveCutoverEndToEnd(t *testing.T) {
	e := canaryE2E(t)
	if code, _, errs := e.cli("deploy", faultyPatch); code != 0 {
		logs, _ := filepath.Glob(filepath.Join(e.dir, ".termshift", "releases", faultyPatch, "logs", "*"))
		for _, l := range logs {
			text, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", l, text)
		}
		t.Fatalf("deploy %s: exit %d: %s", faultyPatch, code, errs)
	}
	e.must("upgrade", healthyPatch, "--reason", "canary: the healthy patch deployed and verified")

	// Bad input is refused before traffic moves.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"cutover", e.nxt, "--steps", "5,100", "--reason", "x"}, exitRefused, "a split would send one student's writes to two databases"},
		{[]string{"cutover", healthyPatch, "--steps", "5,25", "--reason", "x"}, exitUsage, "the last step must be 100"},
		{[]string{"cutover", healthyPatch, "--steps", "25,5,100", "--reason", "x"}, exitUsage, "each step must be larger"},
		{[]string{"cutover", healthyPatch, "--steps", "5,100", "--interval", "2s", "--window", "5s", "--reason", "x"}, exitUsage, "shorter than the metrics window"},
		{[]string{"cutover", healthyPatch, "--steps", "5,100", "--final-sync", "--reason", "x"}, exitUsage, "exclude each other"},
		{[]string{"cutover", healthyPatch, "--pause", "--reason", "x"}, exitNotFound, "no progressive cutover"},
	} {
		code, _, errs := e.cli(tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("termshift %s: exit %d, %s; want exit %d naming %q", strings.Join(tc.args, " "), code, errs, tc.code, tc.want)
		}
	}
	if s := e.state(); s.Live != e.cur || s.Progressive != nil {
		t.Fatalf("bad input moved something: live %s, progressive %+v", s.Live, s.Progressive)
	}

	bad := e.progressive(faultyPatch, append(canarySteps, "--skip-verify")...)
	t.Logf("faulty patch:\n%s", strings.Join(bad.steps(), "\n"))
	if bad.Code == 0 || bad.Report.Status != store.ProgressRolledBack || !strings.Contains(bad.Report.Why, "error rate") {
		t.Fatalf("faulty patch: exit %d, %s %q: want rolled back on the error rate\n%s", bad.Code, bad.Report.Status, bad.Report.Why, bad.Stderr)
	}
	if n := len(bad.Report.History); n != 1 {
		t.Errorf("faulty patch analysed %d times, want rolled back at its first analysis (within one interval)", n)
	}
	if s := e.state(); s.Live != e.cur || s.Progressive.Percent != 0 {
		t.Errorf("after the rollback: live %s, split %d%%", s.Live, s.Progressive.Percent)
	}
	if bad.Load.FailedBy[faultyPatch] == 0 {
		t.Errorf("the faulty patch failed no request: %s", bad.Load)
	}
	if out := e.must("status"); !strings.Contains(out, "progressive cutover: "+faultyPatch+" from "+e.cur+" rolled-back at step 1/4 (0%)") || !strings.Contains(out, "error rate") {
		t.Errorf("status after the rollback does not say where the progressive cutover stands:\n%s", out)
	}
	for range 20 {
		if by, code := e.version(nil); by != e.cur || code != 200 {
			t.Fatalf("after the rollback public traffic reaches %s (%d)", by, code)
		}
	}

	good := e.progressive(healthyPatch, canarySteps...)
	t.Logf("healthy patch:\n%s", strings.Join(good.steps(), "\n"))
	if good.Code != 0 || good.Report.Status != store.ProgressPromoted {
		t.Fatalf("healthy patch: exit %d, %s %q\n%s", good.Code, good.Report.Status, good.Report.Why, good.Stderr)
	}
	if n := good.Load.FailedBy[healthyPatch]; n != 0 || good.Load.ServedBy[healthyPatch] == 0 {
		t.Errorf("healthy patch: %d requests failed, %d served; want 0 failed: %s", n, good.Load.ServedBy[healthyPatch], good.Load)
	}
	if s := e.state(); s.Live != healthyPatch || s.Previous != e.cur {
		t.Errorf("after promotion: live %s, previous %s", s.Live, s.Previous)
	}
	if by, _ := e.version(nil); by != healthyPatch {
		t.Errorf("public traffic after promotion reaches %s", by)
	}
}
