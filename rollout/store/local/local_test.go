package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/rollout/store/storetest"
)

// The test binary doubles as a helper process: TestMain runs the helper mode
// named in TERMSHIFT_TEST_HELPER instead of the tests.
func TestMain(m *testing.M) {
	ctx := context.Background()
	switch os.Getenv("TERMSHIFT_TEST_HELPER") {
	case "hold-lock":
		st := New(os.Getenv("TERMSHIFT_TEST_DIR"))
		l, _, err := st.Acquire(ctx, "carve next")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		// Hold until stdin closes, then release.
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		_ = l.Release(ctx)
		os.Exit(0)
	case "write-state":
		st := New(os.Getenv("TERMSHIFT_TEST_DIR"))
		fmt.Println("writing")
		for i := 0; ; i++ {
			s, err := st.Load(ctx)
			if err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
			s.Environment, s.Live = "qa", "current"
			// A large state makes a kill land mid-write often.
			for r := 0; r < 200; r++ {
				s.Release("r" + strconv.Itoa(r)).Version = strconv.Itoa(i)
			}
			if err := st.Save(ctx, s); err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
		}
	}
	os.Exit(m.Run())
}

func TestConformance(t *testing.T) {
	dirs := map[string]string{}
	var mu sync.Mutex
	storetest.Run(t, func(t *testing.T, name string) store.Backend {
		mu.Lock()
		defer mu.Unlock()
		key := t.Name() + "/" + name
		if dirs[key] == "" {
			dirs[key] = t.TempDir()
		}
		return New(dirs[key])
	})
}

func helper(t *testing.T, mode, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TERMSHIFT_TEST_HELPER="+mode, "TERMSHIFT_TEST_DIR="+dir)
	return cmd
}

// holdLock starts a process that takes the lock and holds it.
func holdLock(t *testing.T, dir string) (*exec.Cmd, func()) {
	t.Helper()
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
	return holder, func() { stdin.Close() }
}

func TestLockContentionBetweenTwoProcesses(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st := New(dir)
	holder, release := holdLock(t, dir)

	_, _, err := st.Acquire(ctx, "restore next")
	var locked *store.LockedError
	if !errors.As(err, &locked) || !errors.Is(err, termshift.ErrLocked) {
		t.Fatalf("second Acquire = %v, want a LockedError", err)
	}
	if locked.Holder.PID != holder.Process.Pid || locked.Holder.Command != "carve next" || locked.Gone {
		t.Errorf("holder = %+v (gone %v), want live pid %d command %q", locked.Holder, locked.Gone, holder.Process.Pid, "carve next")
	}
	want := fmt.Sprintf("pid %d (carve next) since ", holder.Process.Pid)
	if !strings.HasPrefix(err.Error(), "locked by ") || !strings.Contains(err.Error(), want) {
		t.Errorf("message %q, want `locked by USER@HOST %s...`", err, want)
	}

	// The holder releases; now the lock can be taken.
	release()
	if err := holder.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}
	l, stale, err := st.Acquire(ctx, "restore next")
	if err != nil || stale != nil {
		t.Fatalf("Acquire after release: %v (stale %v)", err, stale)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// A holder killed with SIGKILL leaves its lock file behind: the next
// command takes it over and says whose it was.
func TestStaleLockOfADeadProcessIsTakenOver(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st := New(dir)
	holder, _ := holdLock(t, dir)
	_ = holder.Process.Signal(syscall.SIGKILL)
	_ = holder.Wait()

	h, err := st.Holder(ctx)
	if err != nil || h == nil {
		t.Fatalf("Holder after kill = %v, %v", h, err)
	}
	if gone, why := store.HolderGone(*h); !gone || !strings.Contains(why, "is gone: the lock is stale") {
		t.Errorf("HolderGone = %v %q, want the dead holder named stale", gone, why)
	}
	l, stale, err := st.Acquire(ctx, "verify next")
	if err != nil {
		t.Fatalf("Acquire over a dead holder: %v", err)
	}
	if stale == nil || stale.PID != holder.Process.Pid || stale.Command != "carve next" {
		t.Errorf("replaced holder = %+v, want the killed carve", stale)
	}
	if err := l.Check(ctx); err != nil {
		t.Errorf("Check of the new lock: %v", err)
	}
	_ = l.Release(ctx)
}

// A PID reused by an unrelated process does not keep a stale lock alive.
func TestStaleLockWithAReusedPID(t *testing.T) {
	ctx := t.Context()
	st := New(t.TempDir())
	info := store.NewLockInfo("upgrade next", time.Now())
	info.PID = os.Getppid() // alive, but not the process that took the lock
	info.ProcStart = 1
	if err := st.Init(); err != nil {
		t.Fatal(err)
	}
	if err := termshift.WriteFileAtomic(st.lockPath(), []byte(fmt.Sprintf(`{"user":"u","host":%q,"pid":%d,"command":"upgrade next","token":"t","proc_start":1}`, info.Host, info.PID)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stale, err := st.Acquire(ctx, "carve next")
	if err != nil || stale == nil || stale.PID != info.PID {
		t.Fatalf("Acquire over a reused PID = %v, stale %+v", err, stale)
	}
}

// Two processes race on the lock: exactly one wins each round.
func TestLockIsExclusiveUnderRaces(t *testing.T) {
	ctx := t.Context()
	st := New(t.TempDir())
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []store.Lock
		for range 4 {
			wg.Go(func() {
				l, _, err := st.Acquire(ctx, "race")
				if err == nil {
					mu.Lock()
					won = append(won, l)
					mu.Unlock()
				} else if !errors.Is(err, termshift.ErrLocked) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("round %d: %d winners", round, len(won))
		}
		_ = won[0].Release(ctx)
	}
}

func TestStateSurvivesKillMidWrite(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st := New(dir)
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

		s, err := st.Load(ctx)
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
		// The compare-and-swap lock died with the writer: a save goes through.
		if err := st.Save(ctx, s); err != nil {
			t.Fatalf("round %d: save after the writer was killed: %v", round, err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "state.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state.json mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

func TestCredentialsFileIsPrivate(t *testing.T) {
	st := New(t.TempDir())
	if err := st.SaveCredentials(t.Context(), "next", map[string]termshift.Credential{
		store.CredKey(termshift.MySQL, "edxapp"): {User: "edxapp_next", Password: "Zx9-very-secret-password-Q7"},
	}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(st.secretsDir(), "next.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	di, err := os.Stat(st.secretsDir())
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("secrets directory mode = %v, %v; want 0700", di.Mode().Perm(), err)
	}
}
