package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
	localstore "github.com/termshift/termshift/rollout/store/local"
	s3store "github.com/termshift/termshift/rollout/store/s3"
	"github.com/termshift/termshift/rollout/store/s3/s3test"
	"github.com/termshift/termshift/rollout/wiring"
)

// The test binary doubles as a command on another machine:
// TERMSHIFT_TEST_HELPER=hold-state-lock takes the lock of the shared state
// of the environment file TERMSHIFT_TEST_ENV as host machine-a, with a one
// second lease it renews, says "locked", and holds it until killed.
func TestMain(m *testing.M) {
	if os.Getenv("TERMSHIFT_TEST_HELPER") == "hold-state-lock" {
		ctx := context.Background()
		env, err := envfile.LoadEnvironment(os.Getenv("TERMSHIFT_TEST_ENV"), lookupEnv)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		c := env.State
		st, err := s3store.New(ctx, s3store.Config{Bucket: c.Bucket(), Prefix: c.Prefix(), Endpoint: c.S3.Endpoint, Region: c.S3.Region,
			PathStyle: c.S3.PathStyle, AccessKey: c.S3.AccessKey, SecretKey: termshift.Secret(c.S3.SecretKey), Lease: time.Second, Host: "machine-a"})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		if _, _, err := st.Acquire(ctx, "upgrade next"); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		select {}
	}
	os.Exit(m.Run())
}

// stateKey sets a fresh $TERMSHIFT_STATE_KEY for the test.
func stateKey(t *testing.T) {
	t.Helper()
	var k [32]byte
	_, _ = rand.Read(k[:])
	t.Setenv(s3store.KeyVar, base64.StdEncoding.EncodeToString(k[:]))
}

// machineEnv writes an environment file on a machine of its own (a
// directory) whose state section is state; "" keeps a local state.
func machineEnv(t *testing.T, releases, state string) string {
	t.Helper()
	return writeEnv(t, "name: unit\n"+releases+"router: {listen: \"127.0.0.1:0\"}\n"+state)
}

const externalReleases = `releases:
  - {name: current, version: "1.0", runner: external, health_url: "http://127.0.0.1:1/heartbeat"}
  - {name: next, version: "2.0", runner: external, health_url: "http://127.0.0.1:2/heartbeat"}
`

func openState(t *testing.T, envPath string) store.Backend {
	t.Helper()
	env, err := envfile.LoadEnvironment(envPath, lookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	st, err := wiring.State(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// seed gives a state what an upgrade leaves: releases, the live pointer,
// journal entries, generated credentials.
func seed(t *testing.T, st store.Backend) map[string]termshift.Credential {
	t.Helper()
	ctx := t.Context()
	s, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Environment, s.Live, s.Previous = "unit", "next", "current"
	for _, r := range []string{"current", "next"} {
		rs := s.Release(r)
		rs.Namespaces = []*store.NamespaceState{{Namespace: termshift.Namespace{Service: termshift.Memcached, Logical: "default", Release: r, Name: "cache-" + r}, Status: store.NSCarved}}
		rs.SetStep("carve", "done", "", time.Now())
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	creds := map[string]termshift.Credential{
		store.CredKey(termshift.MySQL, "edxapp"):  {User: "edxapp_next", Password: "Zx9-migrated-password-Q7"},
		store.CredKey(termshift.MongoDB, "forum"): {User: "forum_next", Password: "Zx9-migrated-forum-Q7"},
	}
	if err := st.SaveCredentials(ctx, "next", creds); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"carve", "restore", "cutover"} {
		if err := st.Append(ctx, store.Entry{Command: "upgrade next", Release: "next", Step: step, Outcome: "done"}); err != nil {
			t.Fatal(err)
		}
	}
	return creds
}

func journalSteps(t *testing.T, st store.Backend) []string {
	t.Helper()
	entries, torn, err := st.ReadJournal(t.Context())
	if err != nil || torn != 0 {
		t.Fatalf("ReadJournal: %v, %d torn", err, torn)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Step+" "+e.Outcome)
	}
	return out
}

// A local state moves to S3, where a second machine uses it, and back to a
// directory; a target that holds a state is refused; credentials are
// re-sealed each way.
func TestStateMigrateToS3AndBack(t *testing.T) {
	stateKey(t)
	shared := s3test.State(t)
	t.Setenv("AWS_ACCESS_KEY_ID", shared.S3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", shared.S3.SecretKey)
	envA := machineEnv(t, externalReleases, "")
	src := openState(t, envA)
	seed(t, src)

	toS3 := []string{"--env", envA, "state", "migrate", "--to", shared.URL, "--s3-endpoint", shared.S3.Endpoint,
		"--s3-region", shared.S3.Region, "--s3-path-style", "--reason", "one truth for the team"}
	code, stdout, stderr := cli(t, toS3...)
	if code != exitOK {
		t.Fatalf("migrate to S3: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"copied the state from " + src.String() + " to " + shared.URL + ": revision 1 (2 releases, live next), 3 journal entries, credentials of 1 release (sealed with $TERMSHIFT_STATE_KEY)",
		"    state:\n      backend: s3\n      url: " + shared.URL + "\n      s3:\n        endpoint: " + shared.S3.Endpoint + "\n        region: " + shared.S3.Region + "\n        path_style: true\n",
		"also needs $TERMSHIFT_STATE_KEY", "Until then, commands still use " + src.String(),
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("migrate output does not say %q:\n%s", want, stdout)
		}
	}
	if h, _ := src.Holder(t.Context()); h != nil {
		t.Errorf("the source's lock is still held after the migration: %+v", h)
	}
	// The source is left as it was.
	if s, _ := src.Load(t.Context()); s.Revision != 1 || s.Live != "next" {
		t.Errorf("source state after the migration: revision %d live %q", s.Revision, s.Live)
	}

	// Again: the target holds a state now.
	code, _, stderr = cli(t, toS3...)
	if code != exitRefused || !strings.Contains(stderr, shared.URL+" already holds a state (revision 1, 2 releases, live next)") || !strings.Contains(stderr, "not overwritten") {
		t.Errorf("second migrate: exit %d, %s", code, stderr)
	}

	// Machine B uses the S3 state: status, history and credentials.
	envB := machineEnv(t, externalReleases, s3test.YAML(shared))
	code, stdout, stderr = cli(t, "--env", envB, "status", "--json")
	var status struct {
		State store.State `json:"state"`
	}
	if code != exitOK || json.Unmarshal([]byte(stdout), &status) != nil || status.State.Live != "next" || len(status.State.Releases) != 2 {
		t.Fatalf("status from B: exit %d, %s %s", code, stdout, stderr)
	}
	dst := openState(t, envB)
	want := []string{"carve done", "restore done", "cutover done", "migrate done"}
	if diff := cmp.Diff(journalSteps(t, dst), want); diff != "" {
		t.Errorf("journal in S3 (-got +want):\n%s", diff)
	}
	code, stdout, _ = cli(t, "--env", envB, "credentials", "next", "--json")
	if code != exitOK || !strings.Contains(stdout, "Zx9-migrated-password-Q7") {
		t.Errorf("credentials from B: exit %d, %s", code, stdout)
	}

	// A migration from B needs the key to read the credentials: without
	// it, nothing is written.
	dirC := filepath.Join(t.TempDir(), "state")
	t.Setenv(s3store.KeyVar, "")
	code, _, stderr = cli(t, "--env", envB, "state", "migrate", "--to", dirC)
	if code != exitUsage || !strings.Contains(stderr, "$TERMSHIFT_STATE_KEY, which is not set") {
		t.Errorf("migrate without the key: exit %d, %s", code, stderr)
	}
	if held, err := store.Empty(t.Context(), localstore.New(dirC)); held != "" || err != nil {
		t.Errorf("a refused migration left %q (%v) in %s", held, err, dirC)
	}
	if h, _ := dst.Holder(t.Context()); h != nil {
		t.Errorf("the S3 state's lock is still held after a failed migration: %+v", h)
	}

	// Another key than the one the credentials were sealed with is named
	// as such; history needs no key at all.
	stateKey(t)
	code, _, stderr = cli(t, "--env", envB, "state", "migrate", "--to", dirC)
	if code != exitUsage || !strings.Contains(stderr, "was sealed with another key") {
		t.Errorf("migrate with another key: exit %d, %s", code, stderr)
	}
	os.Unsetenv(s3store.KeyVar) // t.Setenv restores it
	if code, _, stderr := cli(t, "--env", envB, "history", "--json"); code != exitOK {
		t.Errorf("history from B without the key: exit %d: %s", code, stderr)
	}
}

// An S3 state moves back to a directory, with its credentials re-written
// in files of mode 0600.
func TestStateMigrateBackToADirectory(t *testing.T) {
	stateKey(t)
	shared := s3test.State(t)
	envB := machineEnv(t, externalReleases, s3test.YAML(shared))
	src := openState(t, envB)
	creds := seed(t, src)
	dir := filepath.Join(t.TempDir(), "state")

	code, stdout, stderr := cli(t, "--env", envB, "state", "migrate", "--to", dir)
	if code != exitOK {
		t.Fatalf("migrate to a directory: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "    state:\n      backend: local\n    state_dir: "+dir+"\n") {
		t.Errorf("migrate output does not give the local state settings:\n%s", stdout)
	}
	dst := localstore.New(dir)
	s, err := dst.Load(t.Context())
	if err != nil || s.Live != "next" || s.Previous != "current" || s.Revision != 1 {
		t.Errorf("state in %s: %+v, %v", dir, s, err)
	}
	got, err := dst.Credentials(t.Context(), "next")
	if err != nil || cmp.Diff(got, creds) != "" {
		t.Errorf("credentials in %s = %v, %v", dir, got, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "secrets", "next.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: %v, %v; want mode 0600", fi, err)
	}
	if diff := cmp.Diff(journalSteps(t, dst), []string{"carve done", "restore done", "cutover done", "migrate done"}); diff != "" {
		t.Errorf("journal in %s (-got +want):\n%s", dir, diff)
	}
	// The source holds its own record of the migration.
	if steps := journalSteps(t, src); steps[len(steps)-1] != "migrate done" {
		t.Errorf("source journal %q, want the migration last", steps)
	}

	// A migration while another command holds the lock waits its turn.
	l, _, err := src.Acquire(t.Context(), "upgrade redwood")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(t.Context())
	code, _, stderr = cli(t, "--env", envB, "state", "migrate", "--to", filepath.Join(t.TempDir(), "other"))
	if code != exitLocked || !strings.Contains(stderr, "(upgrade redwood)") {
		t.Errorf("migrate under a held lock: exit %d, %s", code, stderr)
	}
	code, _, stderr = cli(t, "--env", envB, "state", "migrate", "--to", "s3://Bad_Bucket/x")
	if code != exitUsage || !strings.Contains(stderr, "is not an S3 bucket name") {
		t.Errorf("migrate to a bad URL: exit %d, %s", code, stderr)
	}
}

// health is a release's health URL that answers 503 until healthy is set,
// and says when it was first asked.
type health struct {
	srv     *httptest.Server
	healthy atomic.Bool
	asked   chan struct{}
	once    atomic.Bool
}

func newHealth(t *testing.T) *health {
	h := &health{asked: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if h.once.CompareAndSwap(false, true) {
			close(h.asked)
		}
		if !h.healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// Two environment directories on one S3 state stand for two machines.
func TestTwoMachinesOnOneS3State(t *testing.T) {
	stateKey(t)
	shared := s3test.State(t)
	h := newHealth(t)
	releases := fmt.Sprintf("releases:\n  - {name: current, version: \"1.0\", runner: external, health_url: \"http://127.0.0.1:1/heartbeat\"}\n  - {name: next, version: \"2.0\", runner: external, health_url: %q}\n", h.srv.URL+"/heartbeat")
	envA := machineEnv(t, releases, s3test.YAML(shared))
	envB := machineEnv(t, releases, s3test.YAML(shared))
	seed(t, openState(t, envA))

	t.Run("two mutating commands at once", func(t *testing.T) {
		// A deploys next and waits for its health, holding the lock.
		done := make(chan struct{})
		var codeA int
		var stderrA string
		go func() {
			defer close(done)
			codeA, _, stderrA = cli(t, "--env", envA, "deploy", "next")
		}()
		select {
		case <-h.asked:
		case <-done:
			t.Fatalf("deploy from A ended before waiting for health: exit %d, %s", codeA, stderrA)
		}
		code, _, stderr := cli(t, "--env", envB, "deploy", "next")
		if code != exitLocked {
			t.Errorf("deploy from B while A deploys: exit %d, want %d: %s", code, exitLocked, stderr)
		}
		t.Logf("while A deploys: %s", stderr)
		for _, want := range []string{"termshift: locked by ", fmt.Sprintf("pid %d (deploy next) since ", os.Getpid()), "its lease runs until ", "hint: wait for it to finish"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("B's message %q does not say %q", stderr, want)
			}
		}
		h.healthy.Store(true)
		<-done
		if codeA != exitOK {
			t.Errorf("deploy from A: exit %d: %s", codeA, stderrA)
		}
		if code, _, stderr := cli(t, "--env", envB, "deploy", "next"); code != exitOK {
			t.Errorf("deploy from B once A is done: exit %d: %s", code, stderr)
		}
	})

	t.Run("kill -9 of the lock holder", func(t *testing.T) {
		holder := exec.Command(os.Args[0], "-test.run=^$")
		holder.Env = append(os.Environ(), "TERMSHIFT_TEST_HELPER=hold-state-lock", "TERMSHIFT_TEST_ENV="+envA)
		stdout, err := holder.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
		if line, _ := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "locked" {
			t.Fatalf("holder said %q", line)
		}
		_ = holder.Process.Signal(syscall.SIGKILL)
		_ = holder.Wait()

		// The next command names the holder; once the lease has expired,
		// it says so, with the expiry and how to take over.
		var stderr string
		for deadline := time.Now().Add(time.Minute); !strings.Contains(stderr, "its lease expired at "); time.Sleep(200 * time.Millisecond) {
			var code int
			code, _, stderr = cli(t, "--env", envB, "deploy", "next")
			if code != exitLocked {
				t.Fatalf("deploy after the holder was killed: exit %d, want %d: %s", code, exitLocked, stderr)
			}
			if time.Now().After(deadline) {
				t.Fatalf("the killed holder's lease never expired: %s", stderr)
			}
		}
		for _, want := range []string{fmt.Sprintf("@machine-a pid %d (upgrade next) since ", holder.Process.Pid),
			"`termshift unlock --force --reason TEXT`", "`termshift rollback --force --reason TEXT`"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("message %q does not say %q", stderr, want)
			}
		}
		t.Logf("after the kill: %s", stderr)
		code, stdout2, stderr2 := cli(t, "--env", envB, "unlock", "--force", "--reason", "holder killed on machine-a")
		if code != exitOK || !strings.Contains(stdout2, "broke lock held by ") || !strings.Contains(stdout2, "(upgrade next)") {
			t.Fatalf("unlock --force: exit %d, %s %s", code, stdout2, stderr2)
		}
		if code, _, stderr := cli(t, "--env", envB, "deploy", "next"); code != exitOK {
			t.Errorf("deploy after unlock: exit %d: %s", code, stderr)
		}
		entries, _, err := openState(t, envA).ReadJournal(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			found = found || e.Command == "unlock --force" && e.Outcome == "forced" && strings.Contains(e.Detail, "machine-a")
		}
		if !found {
			t.Errorf("journal lacks the forced unlock naming machine-a's holder: %+v", entries)
		}
	})
}

// S3 that does not answer: a command fails with an error naming the
// endpoint and what to check.
func TestCommandsNameAnUnreachableStateEndpoint(t *testing.T) {
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	env := machineEnv(t, externalReleases, fmt.Sprintf("state: {backend: s3, url: s3://team-state/qa, s3: {endpoint: %q, path_style: true, access_key: AK, secret_key: sk-never-shown-7Q}}\n", endpoint))
	code, stdout, stderr := cli(t, "--env", env, "status")
	if code != exitFailure || stdout != "" {
		t.Errorf("status: exit %d, stdout %q", code, stdout)
	}
	for _, want := range []string{"termshift: read state s3://team-state/qa/state.json at " + endpoint + ": ", "connection refused",
		"hint: S3 at " + endpoint + " does not answer from here: check state.s3.endpoint"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not say %q", stderr, want)
		}
	}
	if strings.Contains(stderr, "sk-never-shown-7Q") {
		t.Errorf("stderr shows the secret key: %s", stderr)
	}
}

// Rotating the state key: rekey re-seals every box with the new key; the
// old key opens nothing afterwards; a second run has nothing left to do.
func TestStateRekey(t *testing.T) {
	stateKey(t)
	shared := s3test.State(t)
	env := machineEnv(t, externalReleases, s3test.YAML(shared))
	seed(t, openState(t, env))

	code, _, stderr := cli(t, "--env", env, "state", "rekey")
	if code != exitUsage || !strings.Contains(stderr, "needs the new key in $TERMSHIFT_STATE_NEW_KEY") {
		t.Errorf("rekey without a new key: exit %d, %s", code, stderr)
	}
	var k [32]byte
	_, _ = rand.Read(k[:])
	newKey := base64.StdEncoding.EncodeToString(k[:])
	t.Setenv(s3store.NewKeyVar, newKey)
	code, stdout, stderr := cli(t, "--env", env, "state", "rekey", "--reason", "yearly rotation")
	if code != exitOK || !strings.Contains(stdout, "re-sealed the credentials of 1 release in "+shared.URL) {
		t.Fatalf("rekey: exit %d, %s %s", code, stdout, stderr)
	}
	code, _, stderr = cli(t, "--env", env, "credentials", "next")
	if code != exitUsage || !strings.Contains(stderr, "was sealed with another key") {
		t.Errorf("credentials with the old key after a rekey: exit %d, %s", code, stderr)
	}
	t.Setenv(s3store.KeyVar, newKey)
	code, stdout, _ = cli(t, "--env", env, "credentials", "next")
	if code != exitOK || !strings.Contains(stdout, "Zx9-migrated-password-Q7") {
		t.Errorf("credentials with the new key: exit %d, %s", code, stdout)
	}
	code, stdout, _ = cli(t, "--env", env, "state", "rekey")
	if code != exitOK || !strings.Contains(stdout, "re-sealed the credentials of 0 releases") || !strings.Contains(stdout, "(1 release already were)") {
		t.Errorf("second rekey: exit %d, %s", code, stdout)
	}
	code, _, stderr = cli(t, "--env", machineEnv(t, externalReleases, ""), "state", "rekey")
	if code != exitUsage || !strings.Contains(stderr, "nothing to rekey") {
		t.Errorf("rekey of a local state: exit %d, %s", code, stderr)
	}
}
