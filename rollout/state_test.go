package rollout

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/termshift/termshift"
)

// The test binary doubles as a helper process: TestMain runs the helper mode
// named in TERMSHIFT_TEST_HELPER instead of the tests.
func TestMain(m *testing.M) {
	switch os.Getenv("TERMSHIFT_TEST_HELPER") {
	case "hold-lock":
		st := Store{Dir: os.Getenv("TERMSHIFT_TEST_DIR")}
		l, err := st.Acquire("carve next", time.Now())
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		// Hold until stdin closes, then release.
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		_ = l.Release()
		os.Exit(0)
	case "write-state":
		st := Store{Dir: os.Getenv("TERMSHIFT_TEST_DIR")}
		fmt.Println("writing")
		for i := 0; ; i++ {
			s := &State{Environment: "qa", Live: "current", Releases: map[string]*ReleaseState{}}
			// A large state makes a kill land mid-write often.
			for r := 0; r < 200; r++ {
				name := "r" + strconv.Itoa(r)
				s.Release(name).Version = strconv.Itoa(i)
			}
			if err := st.Save(s, time.Now()); err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
		}
	}
	os.Exit(m.Run())
}

func helper(t *testing.T, mode, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TERMSHIFT_TEST_HELPER="+mode, "TERMSHIFT_TEST_DIR="+dir)
	return cmd
}

func TestLockContentionBetweenTwoProcesses(t *testing.T) {
	dir := t.TempDir()
	st := Store{Dir: dir}
	holder := helper(t, "hold-lock", dir)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("holder said %q, want locked", line)
	}

	_, err = st.Acquire("restore next", time.Now())
	var locked *LockedError
	if !errors.As(err, &locked) || !errors.Is(err, termshift.ErrLocked) {
		t.Fatalf("second Acquire = %v, want a LockedError", err)
	}
	if locked.Holder.PID != holder.Process.Pid || locked.Holder.Command != "carve next" {
		t.Errorf("holder = %+v, want pid %d command %q", locked.Holder, holder.Process.Pid, "carve next")
	}
	want := fmt.Sprintf("pid %d (carve next) since ", holder.Process.Pid)
	if !strings.HasPrefix(err.Error(), "locked by ") || !strings.Contains(err.Error(), want) {
		t.Errorf("message %q, want `locked by USER@HOST %s...`", err, want)
	}

	// The holder releases; now the lock can be taken.
	stdin.Close()
	if err := holder.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}
	l, err := st.Acquire("restore next", time.Now())
	if err != nil {
		t.Fatalf("Acquire after release: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
}

func TestStaleLockIsNamedAndBreakable(t *testing.T) {
	dir := t.TempDir()
	st := Store{Dir: dir}
	holder := helper(t, "hold-lock", dir)
	stdout, _ := holder.StdoutPipe()
	_, _ = holder.StdinPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("holder said %q", line)
	}
	_ = holder.Process.Signal(syscall.SIGKILL)
	_ = holder.Wait()

	_, err := st.Acquire("verify next", time.Now())
	if err == nil || !strings.Contains(err.Error(), "is gone: the lock is stale") {
		t.Fatalf("Acquire over a dead holder = %v, want it named stale", err)
	}
	prev, err := st.BreakLock()
	if err != nil || prev == nil || prev.PID != holder.Process.Pid {
		t.Fatalf("BreakLock = %+v, %v", prev, err)
	}
	l, err := st.Acquire("verify next", time.Now())
	if err != nil {
		t.Fatalf("Acquire after BreakLock: %v", err)
	}
	_ = l.Release()
}

func TestTakeOverStopsTheFormerHolderAtItsNextStep(t *testing.T) {
	st := Store{Dir: t.TempDir()}
	upgrade, err := st.Acquire("upgrade next", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := upgrade.Check(); err != nil {
		t.Fatalf("Check while held: %v", err)
	}
	rollback, prev, err := st.TakeOver("rollback --force", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if prev == nil || prev.Command != "upgrade next" {
		t.Errorf("previous holder = %+v, want the upgrade", prev)
	}
	if err := upgrade.Check(); !errors.Is(err, termshift.ErrLocked) || !strings.Contains(err.Error(), "rollback --force") {
		t.Errorf("former holder's Check = %v, want it told the lock was taken over by the rollback", err)
	}
	// The former holder's Release must not remove the new holder's lock.
	if err := upgrade.Release(); err != nil {
		t.Fatal(err)
	}
	if h, _ := st.Holder(); h == nil || h.Token != rollback.Info().Token {
		t.Errorf("holder after the former's Release = %+v, want the rollback", h)
	}
	_ = rollback.Release()
}

func TestStateSurvivesKillMidWrite(t *testing.T) {
	dir := t.TempDir()
	st := Store{Dir: dir}
	for round := 0; round < 5; round++ {
		w := helper(t, "write-state", dir)
		stdout, _ := w.StdoutPipe()
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		if strings.TrimSpace(line) != "writing" {
			t.Fatalf("writer said %q", line)
		}
		// Let it write for a while, then kill it wherever it is.
		deadline := time.Now().Add(time.Duration(20+round*15) * time.Millisecond)
		for time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		_ = w.Process.Signal(syscall.SIGKILL)
		_ = w.Wait()

		s, err := st.Load()
		if err != nil {
			t.Fatalf("round %d: state after kill: %v", round, err)
		}
		if s.Environment != "" && len(s.Releases) != 200 {
			t.Fatalf("round %d: state has %d releases, want 200 (a torn write)", round, len(s.Releases))
		}
		// Every release must carry the same version: one whole write.
		seen := map[string]bool{}
		for _, r := range s.Releases {
			seen[r.Version] = true
		}
		if len(seen) > 1 {
			t.Fatalf("round %d: mixed versions %v: a torn write", round, seen)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Logf("leftover temp file %s (harmless: rename never happened)", e.Name())
		}
	}
}

func TestJournalNeverHoldsASecret(t *testing.T) {
	st := Store{Dir: t.TempDir()}
	password := termshift.Secret("Zx9-very-secret-password-Q7")
	if err := st.SaveCredentials("next", map[string]termshift.Credential{
		credKey(termshift.MySQL, "edxapp"): {User: "edxapp_next", Password: password},
	}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(st.secretsDir(), "next.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	dsnPassword := "adminpw-4242"
	j := st.Journal(st.Redactor(dsnPassword))
	// A careless caller hands secrets to the journal in every field it can.
	if err := j.Append(Entry{Command: "carve next", Release: "next", Step: "carve",
		Outcome: "failed", Reason: "because " + password.Reveal(),
		Detail: fmt.Sprintf("dial root:%s@tcp(db:3306): %v %s", dsnPassword, password, password.Reveal())}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(st.journalPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{password.Reveal(), dsnPassword} {
		if strings.Contains(string(data), secret) {
			t.Errorf("journal holds a secret: %s", data)
		}
	}
	entries, torn, err := st.ReadJournal()
	if err != nil || torn != 0 || len(entries) != 1 {
		t.Fatalf("ReadJournal = %d entries, %d torn, %v", len(entries), torn, err)
	}
	var raw map[string]any
	_ = json.Unmarshal([]byte(strings.TrimSpace(string(data))), &raw)
	for _, k := range []string{"time", "actor", "command", "reason", "step", "outcome"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("journal line lacks %q: %s", k, data)
		}
	}
}
