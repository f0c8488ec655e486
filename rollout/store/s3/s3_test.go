package s3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/rollout/store/storetest"
)

// The test binary doubles as a helper process (a command on another
// machine): TestMain runs the helper mode named in TERMSHIFT_TEST_HELPER.
func TestMain(m *testing.M) {
	if os.Getenv("TERMSHIFT_TEST_HELPER") == "hold-lock" {
		holdLockHelper()
		return
	}
	os.Exit(m.Run())
}

// holdLockHelper takes the lock of the prefix in TERMSHIFT_TEST_PREFIX as
// host TERMSHIFT_TEST_HOST with lease TERMSHIFT_TEST_LEASE, says "locked",
// and holds it (renewing the lease) until stdin closes or it is killed.
func holdLockHelper() {
	ctx := context.Background()
	setting := func(name string) string { v, _ := termshift.LocalSetting(name); return v }
	lease, _ := time.ParseDuration(os.Getenv("TERMSHIFT_TEST_LEASE"))
	st, err := New(ctx, Config{Bucket: setting("TERMSHIFT_S3_BUCKET"), Prefix: os.Getenv("TERMSHIFT_TEST_PREFIX"),
		Endpoint: setting("TERMSHIFT_S3_ENDPOINT"), Region: setting("TERMSHIFT_S3_REGION"), PathStyle: true,
		AccessKey: setting("TERMSHIFT_S3_ACCESS_KEY"), SecretKey: termshift.Secret(setting("TERMSHIFT_S3_SECRET_KEY")),
		Lease: lease, Host: os.Getenv("TERMSHIFT_TEST_HOST")})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	l, _, err := st.Acquire(ctx, "carve next")
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_ = l.Release(ctx)
	os.Exit(0)
}

// testKey is this run's state key.
var testKey = func() termshift.Secret {
	var k [32]byte
	_, _ = rand.Read(k[:])
	return termshift.Secret(base64.StdEncoding.EncodeToString(k[:]))
}()

// s3Config reaches the local S3 server under prefix.
func s3Config(t *testing.T, prefix string) Config {
	t.Helper()
	return Config{
		Bucket:    termshift.RequireLocalSetting(t, "TERMSHIFT_S3_BUCKET"),
		Prefix:    prefix,
		Endpoint:  termshift.RequireLocalSetting(t, "TERMSHIFT_S3_ENDPOINT"),
		Region:    termshift.RequireLocalSetting(t, "TERMSHIFT_S3_REGION"),
		PathStyle: true,
		AccessKey: termshift.RequireLocalSetting(t, "TERMSHIFT_S3_ACCESS_KEY"),
		SecretKey: termshift.Secret(termshift.RequireLocalSetting(t, "TERMSHIFT_S3_SECRET_KEY")),
		Key:       func() (termshift.Secret, bool) { return testKey, true },
	}
}

// testPrefix is a prefix no other test uses; everything under it is
// removed when the test ends.
func testPrefix(t *testing.T) string {
	t.Helper()
	var r [6]byte
	_, _ = rand.Read(r[:])
	prefix := "termshift-state-test/" + hex.EncodeToString(r[:])
	cfg := s3Config(t, prefix)
	t.Cleanup(func() {
		st, err := New(context.Background(), cfg)
		if err != nil {
			t.Error(err)
			return
		}
		removeAll(t, st)
	})
	return prefix
}

func removeAll(t *testing.T, st *Store) {
	t.Helper()
	ctx := context.Background()
	keys, err := st.list(ctx, "")
	if err != nil {
		t.Errorf("clean up %s: %v", st, err)
		return
	}
	for _, k := range keys {
		if _, err := st.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: st.bucket(), Key: aws.String(k)}); err != nil {
			t.Errorf("clean up %s: %v", k, err)
		}
	}
}

func newStore(t *testing.T, prefix string, mods ...func(*Config)) *Store {
	t.Helper()
	cfg := s3Config(t, prefix)
	for _, m := range mods {
		m(&cfg)
	}
	st, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Two Store values on one prefix stand for two machines.
func TestStoreConformance(t *testing.T) {
	t.Parallel()
	root := testPrefix(t)
	var mu sync.Mutex
	prefixes := map[string]string{}
	storetest.Run(t, func(t *testing.T, name string) store.Backend {
		mu.Lock()
		key := t.Name() + "/" + name
		if prefixes[key] == "" {
			prefixes[key] = root + "/" + strings.ReplaceAll(t.Name(), "/", "_") + "/" + name
		}
		prefix := prefixes[key]
		mu.Unlock()
		return newStore(t, prefix, func(c *Config) { c.Lease = 3 * time.Second })
	})
}

func TestStoreStringNamesTheURL(t *testing.T) {
	for _, tc := range []struct{ prefix, want string }{
		{"", "s3://team-state/"},
		{"termshift/qa", "s3://team-state/termshift/qa"},
		{"/termshift/qa/", "s3://team-state/termshift/qa"},
	} {
		st, err := New(t.Context(), Config{Bucket: "team-state", Prefix: tc.prefix, Endpoint: "http://127.0.0.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := st.String(); got != tc.want {
			t.Errorf("String() with prefix %q = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

// Everything a state writes to the bucket: no object holds a generated
// password in clear.
func TestStoreBucketHoldsNoPasswordInClear(t *testing.T) {
	ctx := t.Context()
	prefix := testPrefix(t)
	st := newStore(t, prefix)
	password := "Zx9-generated-password-Q7"
	creds := map[string]termshift.Credential{
		store.CredKey(termshift.MySQL, "edxapp"):  {User: "edxapp_next", Password: termshift.Secret(password)},
		store.CredKey(termshift.MongoDB, "forum"): {User: "forum_next", Password: termshift.Secret(password + "-mongo")},
	}
	if err := st.SaveCredentials(ctx, "next", creds); err != nil {
		t.Fatal(err)
	}
	s, _ := st.Load(ctx)
	s.Environment = "qa"
	s.Release("next").Version = "2"
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := st.Append(ctx, store.Entry{Command: "carve next", Outcome: "done", Detail: "carved 2 namespaces"}); err != nil {
		t.Fatal(err)
	}
	l, _, err := st.Acquire(ctx, "carve next")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)

	keys, err := st.list(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 {
		t.Errorf("objects %v: want state.json, lock, one journal entry and one credentials box", keys)
	}
	sawBox := false
	for _, k := range keys {
		data, err := st.get(ctx, k, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{password, "generated-password", base64.StdEncoding.EncodeToString([]byte(password)), hex.EncodeToString([]byte(password))} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s holds the password (as %q)", k, secret)
			}
		}
		if strings.HasSuffix(k, "secrets/next.box") {
			sawBox = true
			if !bytes.Contains(data, []byte(boxFormat)) {
				t.Errorf("%s is not a sealed box: %s", k, data)
			}
		}
	}
	if !sawBox {
		t.Errorf("no secrets/next.box among %v", keys)
	}
	// And they read back whole from another machine.
	got, err := newStore(t, prefix).Credentials(ctx, "next")
	if err != nil || got[store.CredKey(termshift.MySQL, "edxapp")].Password.Reveal() != password {
		t.Errorf("credentials read back = %v, %v", got, err)
	}
}

func TestStoreStateKeyMissingWrongOrDamaged(t *testing.T) {
	ctx := t.Context()
	prefix := testPrefix(t)
	st := newStore(t, prefix)
	creds := map[string]termshift.Credential{store.CredKey(termshift.MySQL, "edxapp"): {User: "edxapp_next", Password: "Zx9-generated-password-Q7"}}
	if err := st.SaveCredentials(ctx, "next", creds); err != nil {
		t.Fatal(err)
	}
	var other [32]byte
	_, _ = rand.Read(other[:])
	otherKey := termshift.Secret(hex.EncodeToString(other[:]))
	withKey := func(k termshift.Secret, set bool) func(*Config) {
		return func(c *Config) { c.Key = func() (termshift.Secret, bool) { return k, set } }
	}
	for _, tc := range []struct {
		name string
		key  func(*Config)
		want []string
	}{
		{"unset", withKey("", false), []string{"$TERMSHIFT_STATE_KEY, which is not set", "s3://"}},
		{"not a key", withKey("hunter2-not-a-key", true), []string{"$TERMSHIFT_STATE_KEY is not a state key", "neither hex nor base64"}},
		{"too short", withKey(termshift.Secret(base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))), true), []string{"decodes to 16 bytes"}},
		{"another key", withKey(otherKey, true), []string{"was sealed with another key (key id ", "than the one in $TERMSHIFT_STATE_KEY (key id "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newStore(t, prefix, tc.key)
			_, err := b.Credentials(ctx, "next")
			if !errors.Is(err, termshift.ErrInvalid) {
				t.Fatalf("Credentials = %v, want ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), otherKey.Reveal()) {
				t.Errorf("error %q shows the key", err)
			}
			if err := b.SaveCredentials(ctx, "redwood", creds); err == nil && tc.name != "another key" {
				t.Errorf("SaveCredentials without a usable key succeeded")
			}
			// A release without credentials needs no key.
			if got, err := b.Credentials(ctx, "current"); err != nil || len(got) != 0 {
				t.Errorf("credentials of a release without any = %v, %v", got, err)
			}
		})
	}

	// A changed box does not authenticate; a box moved onto another
	// release's name is refused.
	box, err := st.get(ctx, st.secretsKey("next"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	put := func(release string, data []byte) {
		t.Helper()
		if _, err := st.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: st.bucket(), Key: aws.String(st.secretsKey(release)), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	put("moved", box)
	if _, err := st.Credentials(ctx, "moved"); err == nil || !strings.Contains(err.Error(), `holds the credentials of "next"`) {
		t.Errorf("a box under another release's name = %v", err)
	}
	var sb sealed
	if err := json.Unmarshal(box, &sb); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(sb.Box)
	raw[len(raw)/2] ^= 1
	sb.Box = base64.StdEncoding.EncodeToString(raw)
	damaged, _ := json.Marshal(sb)
	put("next", damaged)
	if _, err := st.Credentials(ctx, "next"); err == nil || !strings.Contains(err.Error(), "does not authenticate") {
		t.Errorf("a changed box = %v, want it refused as not authenticating", err)
	}
}

// holdLock starts a process that takes the lock as host and holds it.
func holdLock(t *testing.T, prefix, host string, lease time.Duration) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TERMSHIFT_TEST_HELPER=hold-lock", "TERMSHIFT_TEST_PREFIX="+prefix,
		"TERMSHIFT_TEST_HOST="+host, "TERMSHIFT_TEST_LEASE="+lease.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("holder said %q, want locked", line)
	}
	return cmd
}

// waitGone polls Acquire until the holder's lease is reported expired.
func waitGone(t *testing.T, st *Store) *store.LockedError {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		l, _, err := st.Acquire(t.Context(), "rollback")
		if err == nil {
			_ = l.Release(t.Context())
			t.Fatal("Acquire took a lock whose holder was killed on another machine: it must be taken over only on purpose")
		}
		var locked *store.LockedError
		if !errors.As(err, &locked) {
			t.Fatalf("Acquire = %v, want a *LockedError", err)
		}
		if locked.Gone {
			return locked
		}
		if !strings.Contains(err.Error(), "its lease runs until "+locked.Holder.Expires.UTC().Format(time.RFC3339)) {
			t.Errorf("a live holder's message %q does not name its lease", err)
		}
	}
	t.Fatal("the killed holder's lease never expired")
	return nil
}

// A command killed with SIGKILL on another machine leaves its lock: the
// next command names the holder and the lease's expiry and how to take it
// over, and does not take it by itself; TakeOver does.
func TestStoreExpiredLeaseIsReportedThenTakenOver(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	prefix := testPrefix(t)
	holder := holdLock(t, prefix, "machine-a", time.Second)
	_ = holder.Process.Signal(syscall.SIGKILL)
	_ = holder.Wait()

	b := newStore(t, prefix, func(c *Config) { c.Host = "machine-b" })
	locked := waitGone(t, b)
	h := locked.Holder
	if h.PID != holder.Process.Pid || h.Host != "machine-a" || h.Command != "carve next" || h.Expires.IsZero() {
		t.Errorf("holder = %+v, want pid %d on machine-a running carve next, with its lease", h, holder.Process.Pid)
	}
	msg := locked.Error()
	for _, want := range []string{
		fmt.Sprintf("locked by %s@machine-a pid %d (carve next) since ", h.User, h.PID),
		"its lease expired at " + h.Expires.UTC().Format(time.RFC3339),
		"`termshift unlock --force --reason TEXT`", "`termshift rollback --force --reason TEXT`",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if !errors.Is(locked, termshift.ErrLocked) {
		t.Error("the LockedError does not match ErrLocked")
	}

	l, prev, err := b.TakeOver(ctx, "rollback --force")
	if err != nil {
		t.Fatal(err)
	}
	if prev == nil || prev.Token != h.Token {
		t.Errorf("TakeOver replaced %+v, want the killed holder", prev)
	}
	if err := l.Check(ctx); err != nil {
		t.Errorf("Check after TakeOver: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if h, err := b.Holder(ctx); h != nil || err != nil {
		t.Errorf("Holder after Release = %+v, %v", h, err)
	}
}

// On this host, a holder whose process is gone is replaced at once, as the
// local backend does, and returned for the journal.
func TestStoreDeadHolderOnThisHostIsReplaced(t *testing.T) {
	ctx := t.Context()
	prefix := testPrefix(t)
	host, _ := os.Hostname()
	holder := holdLock(t, prefix, host, time.Minute)
	_ = holder.Process.Signal(syscall.SIGKILL)
	_ = holder.Wait()

	l, stale, err := newStore(t, prefix).Acquire(ctx, "verify next")
	if err != nil {
		t.Fatalf("Acquire over a dead holder on this host: %v", err)
	}
	defer l.Release(ctx)
	if stale == nil || stale.PID != holder.Process.Pid || stale.Command != "carve next" {
		t.Errorf("replaced holder = %+v, want the killed carve", stale)
	}
}

// A command that runs for several leases keeps its lock: the heartbeat
// renews the lease, and the other machine is told it is alive throughout.
func TestStoreHeartbeatKeepsALongCommandsLease(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	prefix := testPrefix(t)
	const lease = 1500 * time.Millisecond
	a := newStore(t, prefix, func(c *Config) { c.Lease = lease; c.Host = "machine-a" })
	b := newStore(t, prefix, func(c *Config) { c.Host = "machine-b" })
	l, _, err := a.Acquire(ctx, "restore next")
	if err != nil {
		t.Fatal(err)
	}
	first := l.Info().Expires
	for end := time.Now().Add(3 * lease); time.Now().Before(end); time.Sleep(lease / 4) {
		_, _, err := b.Acquire(ctx, "carve next")
		var locked *store.LockedError
		if !errors.As(err, &locked) {
			t.Fatalf("Acquire while the command runs = %v, want a *LockedError", err)
		}
		if locked.Gone {
			t.Fatalf("the running command's lease was reported expired: %v", err)
		}
	}
	if err := l.Check(ctx); err != nil {
		t.Errorf("Check after three leases: %v", err)
	}
	if h, _ := b.Holder(ctx); h == nil || !h.Expires.After(first) {
		t.Errorf("stored lease = %+v, want it renewed past %s", h, first)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	// Released: the heartbeat stopped and never brings the lock back.
	time.Sleep(lease)
	if h, err := b.Holder(ctx); h != nil || err != nil {
		t.Errorf("Holder after Release = %+v, %v", h, err)
	}
}

// S3 that does not answer: every operation fails with an error that names
// the endpoint, and says what to check.
func TestStoreEndpointDownNamesIt(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close() // a closed port: connection refused
	st, err := New(t.Context(), Config{Bucket: "team-state", Prefix: "qa", Endpoint: endpoint, Region: "us-east-1", PathStyle: true,
		AccessKey: "AK", SecretKey: "SK", Key: func() (termshift.Secret, bool) { return testKey, true }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ops := map[string]func() error{
		"Load":    func() error { _, err := st.Load(ctx); return err },
		"Save":    func() error { return st.Save(ctx, &store.State{Environment: "qa"}) },
		"Acquire": func() error { _, _, err := st.Acquire(ctx, "carve next"); return err },
		"Holder":  func() error { _, err := st.Holder(ctx); return err },
		"Append":  func() error { return st.Append(ctx, store.Entry{Outcome: "done"}) },
		"Journal": func() error { _, _, err := st.ReadJournal(ctx); return err },
		"Creds":   func() error { _, err := st.Credentials(ctx, "next"); return err },
		"Changed": func() error { _, err := st.Changed(ctx, &store.State{}); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := op()
			if err == nil {
				t.Fatalf("%s against a closed port succeeded", name)
			}
			if !strings.Contains(err.Error(), endpoint) || !strings.Contains(err.Error(), "s3://team-state/qa/") {
				t.Errorf("%s: %q does not name the endpoint %s and the object", name, err, endpoint)
			}
			var hint *termshift.HintError
			if !errors.As(err, &hint) || !strings.Contains(hint.Hint, "does not answer from here") {
				t.Errorf("%s: no hint on what to check: %v", name, err)
			}
			if name == "Load" && hint != nil {
				t.Logf("%v (hint: %s)", err, hint.Hint)
			}
		})
	}
}
