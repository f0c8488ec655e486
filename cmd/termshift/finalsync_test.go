package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/loadgen"
	"github.com/termshift/termshift/restore"
	"github.com/termshift/termshift/rollout"
	localstore "github.com/termshift/termshift/rollout/store/local"
)

// withMigrations gives next a pre_cutover command: the demo LMS's
// migrations, which a final sync must run again on the synced data (the
// live release's 1.0 schema gets next's 2.0 migration).
func (e *e2e) withMigrations() {
	e.t.Helper()
	data, err := os.ReadFile(e.env)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "  - {name: "+e.nxt+",") {
			line = strings.TrimSuffix(line, "}") + fmt.Sprintf(`, pre_cutover: [[%s/demo-lms, migrate, --config, "{{.ConfigDir}}/lms.env.json"]]}`, filepath.Join(e.dir, "bin"))
		}
		out = append(out, line)
	}
	if err := os.WriteFile(e.env, []byte(strings.Join(out, "\n")), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// finalSyncRun is the production cutover under write load: current is
// live and takes writes through the router (each with a unique id) while
// `upgrade next --cutover --final-sync` runs; the load goes on until a
// little after the switch.
type finalSyncRun struct {
	Load     loadgen.Result
	Code     int
	Stdout   string
	Stderr   string
	Report   *rollout.UpgradeReport
	Window   *rollout.WindowReport
	Lost     int // acknowledged writes missing from next (check-writes)
	CheckOut string
}

func (e *e2e) finalSync(rate int) finalSyncRun {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var run finalSyncRun
	done := make(chan struct{})
	res, err := loadgen.Run(ctx, loadgen.Options{URL: "http://" + e.router + "/api/writes", Rate: rate, Duration: 10 * time.Minute, Writes: true,
		Events: []loadgen.Event{{Name: "final sync", At: 2 * time.Second, Want: e.nxt, Do: func() {
			var out, errb bytes.Buffer
			run.Code = runCLI(context.Background(), []string{"--env", e.env, "--log-level", "debug", "upgrade", e.nxt, "--cutover", "--final-sync", "--json", "--reason", "e2e: final sync under load"}, &out, &errb)
			run.Stdout, run.Stderr = out.String(), errb.String()
			close(done)
			// Writes go on to the new live release for a while.
			time.Sleep(2 * time.Second)
			cancel()
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	<-done
	run.Load = res
	if err := json.Unmarshal([]byte(run.Stdout), &run.Report); err == nil && run.Report.Cutover != nil {
		run.Window = run.Report.Cutover.Window
	}
	// Every acknowledged write must be in next's MySQL table and forum
	// collection: the demo LMS's own check.
	ids := filepath.Join(e.dir, "acked.txt")
	if err := os.WriteFile(ids, []byte(strings.Join(res.Acked, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(e.dir, ".termshift", "releases", e.nxt, "config", "lms.env.json")
	// check-writes exits 1 when a write is lost: its summary line says so.
	out, _ := exec.Command(filepath.Join(e.dir, "bin", "demo-lms"), "check-writes", "--config", cfg, "--ids", ids).CombinedOutput()
	run.CheckOut = strings.TrimSpace(string(out))
	i := strings.Index(run.CheckOut, "check-writes:")
	if i < 0 {
		t.Fatalf("check-writes said %q", run.CheckOut)
	}
	if _, err := fmt.Sscanf(run.CheckOut[i:], "check-writes: lost %d of", &run.Lost); err != nil {
		t.Fatalf("check-writes said %q (%v)", run.CheckOut, err)
	}
	return run
}

// runCLI is run, the CLI's entry point.
var runCLI = run

func TestFinalSyncLosesNoWrite(t *testing.T) {
	e := newE2E(t)
	e.withMigrations()
	e.serve()
	e.must("upgrade", e.cur, "--cutover", "--reason", "e2e: current goes live")
	e.must("upgrade", e.nxt, "--reason", "e2e: next restored from last night, verified")

	run := e.finalSync(50)
	t.Logf("load: %s", run.Load)
	if run.Code != 0 {
		t.Fatalf("upgrade --cutover --final-sync: exit %d\n%s\n%s", run.Code, run.Stdout, run.Stderr)
	}
	if run.Lost != 0 || len(run.Load.Acked) == 0 {
		t.Errorf("%s (acknowledged: %d)", run.CheckOut, len(run.Load.Acked))
	}
	// During the window: 503 only; never another 5xx, never a lost connection.
	for _, c := range []loadgen.Class{loadgen.ClassServerError, loadgen.ClassOther, loadgen.ClassNoAnswer} {
		if n := run.Load.ByClass[c].Count; n != 0 {
			t.Errorf("%d requests answered %s during the final sync: %v", n, c, run.Load.Errors)
		}
	}
	if run.Load.ByClass[loadgen.ClassMaintenance].Count == 0 {
		t.Errorf("no request met the maintenance window: %s", run.Load)
	}
	if run.Load.ServedBy[e.cur] == 0 || run.Load.ServedBy[e.nxt] == 0 {
		t.Errorf("writes served by %v: want both releases, before and after the switch", run.Load.ServedBy)
	}
	w := run.Window
	if w == nil {
		t.Fatalf("no window in the report:\n%s", run.Stdout)
	}
	t.Logf("window %s", w.Parts())
	for _, l := range strings.Split(run.Stderr, "\n") {
		if strings.Contains(l, "msg=\"sync: ") {
			t.Logf("%s", l)
		}
	}
	if want := "drain sync migrations verify switch"; strings.Join(w.Ran, " ") != want || w.Failed != "" {
		t.Errorf("window ran %v (failed %q), want %s", w.Ran, w.Failed, want)
	}
	if w.SyncReport == nil || !w.SyncReport.Proven || !w.SyncReport.InWindow {
		t.Errorf("sync report %+v: want proven, inside the window", w.SyncReport)
	}
	s := e.state()
	if s.Live != e.nxt || s.Maintenance != nil {
		t.Errorf("after the final sync: live %q, maintenance %+v", s.Live, s.Maintenance)
	}
	entries, _, err := localstore.New(filepath.Join(e.dir, ".termshift")).ReadJournal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var journaled string
	for _, en := range entries {
		if en.Step == "window" && en.Outcome == "done" {
			journaled = en.Detail
		}
	}
	if !strings.Contains(journaled, "drain") || !strings.Contains(journaled, "sync") || !strings.Contains(journaled, "switch") {
		t.Errorf("journal's window line %q: want its parts", journaled)
	}

	// The new live release's nightly backup: to the environment's backup
	// source (S3, streamed), under the backup names, the newest complete
	// snapshot, and restore takes it with its manifest's proof.
	id := "2099-01-01T02:00:00Z"
	if code, out, errs := e.cli("backup", e.nxt, "--id", id, "--json"); code != 0 {
		t.Fatalf("backup %s: exit %d\n%s\n%s", e.nxt, code, out, errs)
	}
	var snaps []restore.Snapshot
	if err := json.Unmarshal([]byte(e.must("backups", "list", "--json")), &snaps); err != nil {
		t.Fatal(err)
	}
	if len(snaps) == 0 || snaps[0].ID != id || !snaps[0].Manifest || strings.Join(snaps[0].Services, ",") != "mysql,mongo,rabbitmq" {
		t.Fatalf("backups list: %+v; want %s first, with its manifest and every service", snaps, id)
	}
	scratch := randName(t, "bkrst_", 8)
	t.Cleanup(func() { _, _ = e.db.Exec("DROP DATABASE IF EXISTS " + termshift.QuoteMySQL(scratch)) })
	env, err := os.ReadFile(e.env)
	if err != nil {
		t.Fatal(err)
	}
	var source string
	for _, l := range strings.Split(string(env), "\n") {
		if v, ok := strings.CutPrefix(l, "  source: "); ok {
			source = v
		}
	}
	if code, out, errs := e.cli("restore", "mysql", "--source", source, "--snapshot", id, "--from", "edxapp_residential_live", "--to", scratch, "--dsn", "$TERMSHIFT_MYSQL_DSN"); code != 0 || !strings.Contains(out, "backup complete: manifest.json") {
		t.Fatalf("restore of %s's backup: exit %d\n%s\n%s", e.nxt, code, out, errs)
	}
	var want, got int
	_ = e.db.QueryRow("SELECT COUNT(*) FROM " + termshift.QuoteMySQL("edxapp_"+e.nxt) + ".demo_writes").Scan(&want)
	_ = e.db.QueryRow("SELECT COUNT(*) FROM " + termshift.QuoteMySQL(scratch) + ".demo_writes").Scan(&got)
	if got != want || got < len(run.Load.Acked) {
		t.Errorf("the backup restored %d writes, %s holds %d (%d acknowledged)", got, e.nxt, want, len(run.Load.Acked))
	}
}

// killDuringSync starts `cutover next --final-sync` as its own process and
// kills it (SIGKILL) as soon as its sync has started.
func (e *e2e) killDuringSync(bin string) {
	t := e.t
	t.Helper()
	journal := filepath.Join(e.dir, ".termshift", "journal.jsonl")
	before, _ := os.ReadFile(journal)
	cmd := exec.Command(bin, "--env", e.env, "cutover", e.nxt, "--final-sync", "--reason", "e2e: killed")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		data, _ := os.ReadFile(journal)
		lines := strings.Split(string(data[min(len(before), len(data)):]), "\n")
		started := false
		for _, l := range lines {
			started = started || strings.Contains(l, `"release":"`+e.nxt+`"`) && strings.Contains(l, `"step":"sync"`) && strings.Contains(l, `"outcome":"started"`) && strings.Contains(l, "killed")
		}
		if started {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the final sync did not start its sync in 3 minutes:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// kill -9 during a final sync: the window stays on (stale: its holder is
// gone), the live release is never written to; another command lifts it;
// the same final sync run again after another kill keeps it and finishes.
func TestFinalSyncKilled(t *testing.T) {
	e := newE2E(t)
	e.withMigrations()
	e.serve()
	e.must("upgrade", e.cur, "--cutover", "--reason", "e2e: current goes live")
	e.must("upgrade", e.nxt, "--reason", "e2e: next restored, verified")
	live := e.liveSnapshot(e.cur)
	bin := filepath.Join(e.dir, "bin", "termshift")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build termshift: %v\n%s", err, out)
	}

	e.killDuringSync(bin)
	s := e.state()
	if s.Maintenance == nil || s.Live != e.cur {
		t.Fatalf("after kill -9: maintenance %+v, live %q; want the window still on, live unchanged", s.Maintenance, s.Live)
	}
	if _, code := e.version(nil); code != 503 {
		t.Errorf("public traffic during the killed window: %d, want 503", code)
	}
	// Any command that takes the lock finds the window stale and lifts it.
	code, _, stderr := e.cli("carve", e.nxt)
	if code != 0 || !strings.Contains(stderr, "lifted the stale maintenance window") {
		t.Errorf("carve after the kill: exit %d, did not say it lifted the window:\n%s", code, stderr)
	}
	if got, code := e.version(nil); got != e.cur || code != 200 {
		t.Errorf("public traffic after the window was lifted: %q %d, want %s 200", got, code, e.cur)
	}
	if s := e.state(); s.Maintenance != nil {
		t.Errorf("the window is still in state: %+v", s.Maintenance)
	}

	// Killed again; the same final sync run again keeps the window and
	// finishes.
	e.killDuringSync(bin)
	code, stdout, stderr := e.cli("cutover", e.nxt, "--final-sync", "--reason", "e2e: killed", "--json")
	if code != 0 {
		t.Fatalf("final sync run again: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep rollout.SwitchReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Window == nil || rep.Window.Kept == "" || rep.Window.SyncReport == nil || !rep.Window.SyncReport.Proven {
		t.Errorf("window of the run again: %+v; want the killed window kept and a proven sync", rep.Window)
	}
	if s := e.state(); s.Live != e.nxt || s.Maintenance != nil {
		t.Errorf("after the final sync: live %q, maintenance %+v", s.Live, s.Maintenance)
	}
	if got, code := e.version(nil); got != e.nxt || code != 200 {
		t.Errorf("public traffic after the final sync: %q %d, want %s", got, code, e.nxt)
	}
	// The live release (now the rollback target) was only ever read.
	if diff := cmp.Diff(e.liveSnapshot(e.cur), live); diff != "" {
		t.Errorf("the live release's data changed (-after +before):\n%s", diff)
	}
}
