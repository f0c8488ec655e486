package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/termshift/termshift/rollout/store"
	localstore "github.com/termshift/termshift/rollout/store/local"
)

// cli runs the CLI in-process and returns exit code, stdout, stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// minimalEnv is a valid environment without servers: an external release.
const minimalEnv = `name: unit
databases: {}
releases:
  - {name: current, version: "1.0", runner: external, health_url: "http://127.0.0.1:1/heartbeat"}
  - {name: next, version: "2.0", runner: external, health_url: "http://127.0.0.1:2/heartbeat"}
router: {listen: "127.0.0.1:0"}
`

func writeEnv(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "termshift.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExitCodesAndMessages(t *testing.T) {
	env := writeEnv(t, minimalEnv)
	bad := writeEnv(t, "name: x\nreleases:\n  - {name: Next, version: \"1\", runner: external, health_url: http://x/}\nrouter: {listen: nowhere}\nbogus: 1\n")
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		stderr   string
		noStdout bool
	}{
		{"hostile release name refused before anything", []string{"--env", env, "carve", "next; DROP DATABASE x"}, exitUsage, `termshift: release name "next; DROP DATABASE x": is 21 bytes, longer than 20; must match`, true},
		{"path traversal", []string{"--env", env, "teardown", "../x"}, exitUsage, `release name "../x"`, true},
		{"over-long release", []string{"--env", env, "carve", strings.Repeat("a", 65)}, exitUsage, "is 65 bytes, longer than 20", true},
		{"unicode release", []string{"--env", env, "carve", "nëxt"}, exitUsage, `release name "nëxt"`, true},
		{"unknown release", []string{"--env", env, "carve", "redwood"}, exitNotFound, `release "redwood" is not defined`, true},
		{"missing environment file", []string{"--env", "/nonexistent/termshift.yaml", "status"}, exitNotFound, "hint: write one with `termshift init`", true},
		{"every problem with its line", []string{"--env", bad, "config", "validate"}, exitUsage, "termshift.yaml:3: releases.0.name: release name \"Next\"", true},
		{"unknown field with its line", []string{"--env", bad, "config", "validate"}, exitUsage, "termshift.yaml:5: bogus: unknown field", true},
		{"unknown flag", []string{"--env", env, "status", "--bogus"}, exitUsage, "unknown flag: --bogus", true},
		{"bad log level", []string{"--env", env, "--log-level", "loud", "status"}, exitUsage, `--log-level "loud"`, true},
		{"credentials of an uncarved release", []string{"--env", env, "credentials", "next"}, exitNotFound, "carve it first", true},
		{"unlock needs force", []string{"--env", env, "unlock"}, exitUsage, "unlock needs --force", true},
		{"cutover needs a reason", []string{"--env", env, "cutover", "next"}, exitUsage, "cutover needs --reason", true},
		{"rollback with nothing live", []string{"--env", env, "rollback", "--reason", "test"}, exitRefused, "nothing is live", true},
		{"restore of an uncarved release", []string{"--env", env, "restore", "next"}, exitNotFound, "is not carved", true},
		{"verify of an uncarved release", []string{"--env", env, "verify", "next"}, exitNotFound, "has no namespaces to verify", true},
		{"standalone restore without flags", []string{"restore", "mysql"}, exitUsage, "is required", true},
		{"init over an existing file", []string{"--env", env, "init"}, exitRefused, "exists: not overwritten", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr, tc.stderr)
			}
			if !strings.HasPrefix(stderr, "termshift: ") {
				t.Errorf("stderr %q does not start with `termshift: `", stderr)
			}
			if tc.noStdout && stdout != "" {
				t.Errorf("stdout %q, want nothing on a failure", stdout)
			}
		})
	}
	// None of the refused commands left state behind.
	if _, err := os.Stat(filepath.Join(filepath.Dir(env), ".termshift", "state.json")); err == nil {
		t.Errorf("a refused command wrote state")
	}
}

func TestLockedCommandExitsThreeNamingTheHolder(t *testing.T) {
	env := writeEnv(t, minimalEnv)
	ctx := t.Context()
	st := localstore.New(filepath.Join(filepath.Dir(env), ".termshift"))
	l, _, err := st.Acquire(ctx, "upgrade next")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	code, _, stderr := cli(t, "--env", env, "teardown", "next", "--yes")
	if code != exitLocked {
		t.Fatalf("exit %d, want %d: %s", code, exitLocked, stderr)
	}
	if !strings.Contains(stderr, "termshift: locked by ") || !strings.Contains(stderr, "(upgrade next) since ") {
		t.Errorf("stderr %q, want `locked by USER@HOST pid N (upgrade next) since T`", stderr)
	}
	// Rollback names the holder too, and --force takes over (journaled).
	code, _, stderr = cli(t, "--env", env, "rollback", "--reason", "incident")
	if code != exitLocked || !strings.Contains(stderr, "(upgrade next)") || !strings.Contains(stderr, "rollback --force") {
		t.Errorf("rollback: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = cli(t, "--env", env, "rollback", "--force", "--reason", "incident")
	if code != exitRefused || !strings.Contains(stderr, "nothing is live") {
		t.Errorf("rollback --force: exit %d, stderr %q (want it past the lock, refused for nothing live)", code, stderr)
	}
	if err := l.Check(ctx); err == nil {
		t.Errorf("the former holder was not told its lock was taken over")
	}
	entries, _, err := st.ReadJournal(ctx)
	if err != nil || len(entries) == 0 || entries[0].Outcome != "forced" || !strings.Contains(entries[0].Detail, "upgrade next") {
		t.Errorf("journal %+v, %v: want the forced takeover recorded", entries, err)
	}
}

func TestHelpListsOnlyWorkingCommands(t *testing.T) {
	code, out, _ := cli(t, "--help")
	if code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, c := range []string{"init", "config", "status", "history", "unlock", "carve", "credentials", "namespaces", "teardown",
		"backups", "restore", "scrub", "verify", "deploy", "serve", "cutover", "rollback", "upgrade", "gc", "completion", "Exit codes:"} {
		if !strings.Contains(out, c) {
			t.Errorf("--help does not list %q", c)
		}
	}
	code, out, _ = cli(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "termshift") {
		t.Errorf("completion bash: exit %d", code)
	}
}

func TestStatusAndHistoryJSONOnStdout(t *testing.T) {
	env := writeEnv(t, minimalEnv)
	code, out, stderr := cli(t, "--env", env, "status", "--json")
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "{") || stderr != "" {
		t.Fatalf("status --json: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	code, out, _ = cli(t, "--env", env, "history", "--json")
	if code != 0 || strings.TrimSpace(out) != "null" && !strings.HasPrefix(strings.TrimSpace(out), "[") {
		t.Fatalf("history --json: exit %d, stdout %q", code, out)
	}
}

// init outside any checkout and without the local servers' settings:
// without a backup source it says what is missing; with one it writes an
// environment file and its template that validate once the operator's
// variables are set.
func TestInitAnywhere(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "termshift.yaml")
	nothing := func(string) (string, bool) { return "", false }
	runWith := func(lookup func(string) (string, bool), args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		a := &app{stdout: &out, stderr: &errb, now: time.Now, lookupEnv: lookup}
		root := a.rootCommand()
		root.SetArgs(args)
		root.SetOut(&out)
		root.SetErr(&errb)
		if err := root.ExecuteContext(t.Context()); err != nil {
			return a.report(err), out.String(), errb.String()
		}
		return 0, out.String(), errb.String()
	}
	code, _, stderr := runWith(nothing, "--env", env, "init")
	if code != exitUsage || !strings.Contains(stderr, "not a termshift checkout") || !strings.Contains(stderr, "--backup-source") || strings.Contains(stderr, "make services") {
		t.Fatalf("init without a backup source: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(env); err == nil {
		t.Fatal("a refused init wrote the file")
	}
	code, stdout, stderr := runWith(nothing, "--env", env, "init", "--backup-source", "s3://backups/prod")
	if code != 0 || !strings.Contains(stdout, "settings were not found") {
		t.Fatalf("init with a backup source: exit %d, %q %q", code, stdout, stderr)
	}
	tmpl, err := os.ReadFile(filepath.Join(dir, "templates", "lms.env.json.tmpl"))
	if err != nil || !bytes.Equal(tmpl, lmsTemplate) {
		t.Fatalf("template beside the file: %v", err)
	}
	// The file's only problems are the variables it names.
	code, _, stderr = runWith(nothing, "--env", env, "config", "validate")
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n")[1:] {
		if !strings.Contains(line, "is not set in the environment") {
			t.Errorf("config validate without variables: %s", line)
		}
	}
	if code != exitUsage {
		t.Errorf("config validate without variables: exit %d", code)
	}
	set := func(name string) (string, bool) {
		if v, ok := placeholderLookup(nothing)(name); ok {
			return v, true
		}
		return "", false
	}
	if code, _, stderr := runWith(set, "--env", env, "config", "validate"); code != 0 {
		t.Errorf("config validate with the variables set: exit %d, %s", code, stderr)
	}
	// A second init keeps the file; --force replaces it.
	if code, _, _ := runWith(nothing, "--env", env, "init", "--backup-source", "/b"); code != exitRefused {
		t.Errorf("second init: exit %d, want %d", code, exitRefused)
	}
	if code, _, _ := runWith(nothing, "--env", filepath.Join(dir, "nope", "termshift.yaml"), "init", "--backup-source", "/b"); code != exitNotFound {
		t.Errorf("init into a missing directory: exit %d, want %d", code, exitNotFound)
	}
}

// A lock left by a command killed with SIGKILL: status says it is stale,
// and the next command takes it over and journals it.
func TestStaleLockIsReportedAndTakenOver(t *testing.T) {
	env := writeEnv(t, minimalEnv)
	dir := filepath.Join(filepath.Dir(env), ".termshift")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	info := store.NewLockInfo("restore next", time.Now())
	info.PID, info.ProcStart = dead.Process.Pid, 0
	data, _ := json.Marshal(info)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lock"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := cli(t, "--env", env, "status")
	if code != 0 || !strings.Contains(out, "(restore next)") || !strings.Contains(out, "stale: process") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	code, out, stderr := cli(t, "--env", env, "teardown", "next")
	if code != 0 || !strings.Contains(out, "took over a stale lock") && !strings.Contains(stderr, "took over a stale lock") {
		t.Fatalf("teardown over a stale lock: exit %d\n%s%s", code, out, stderr)
	}
	entries, _, err := localstore.New(dir).ReadJournal(t.Context())
	if err != nil || len(entries) == 0 || entries[0].Outcome != "forced" || !strings.Contains(entries[0].Detail, "restore next") {
		t.Errorf("journal %+v, %v: want the takeover recorded", entries, err)
	}
}
