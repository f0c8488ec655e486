package local_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/runner"
	"github.com/termshift/termshift/rollout/runner/local"
)

// helperEnv makes the test binary, re-executed as a child, serve HTTP on
// the address it names instead of running the tests.
const helperEnv = "TERMSHIFT_RUNNER_TEST_SERVE"

func TestMain(m *testing.M) {
	if addr := os.Getenv(helperEnv); addr != "" {
		serve(addr)
		return
	}
	os.Exit(m.Run())
}

func serve(addr string) {
	http.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok pid %d", os.Getpid())
	})
	fmt.Println("helper serving on", addr)
	if err := http.ListenAndServe(addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// eventually polls cond until it holds, bounded so a broken runner fails
// the test instead of hanging it.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("never: %s", what)
}

func stop(t *testing.T, g *local.Group) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := g.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestRestartWithBackoff(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	g, err := local.Start(t.Context(), local.Options{
		Release: "next",
		Commands: []local.Command{{
			Name: "crasher",
			Argv: []string{"sh", "-c", `echo "crashing with $TOKEN_NAME"; exit 3`},
			Env:  []string{"TOKEN_NAME=visible", "DB_PASSWORD=hunter2"},
		}},
		LogDir:     logDir,
		MinBackoff: 5 * time.Millisecond,
		MaxBackoff: 40 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "four restarts", func() bool { return g.Status()[0].Restarts >= 4 })
	stop(t, g)

	st := g.Status()[0]
	// Stop lands either while sh runs (terminated) or during a backoff.
	if st.Name != "crasher" || st.Running || st.PID != 0 || (st.LastExit != "exit status 3" && st.LastExit != "signal: terminated") {
		t.Errorf("status after stop: %+v; want crasher, not running, exit status 3 or terminated", st)
	}
	b, err := os.ReadFile(filepath.Join(logDir, "next-crasher.log"))
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	starts := strings.Count(log, "termshift: starting crasher of release next")
	if starts < 5 || starts != st.Restarts+1 {
		t.Errorf("log has %d start lines, want restarts+1 = %d:\n%s", starts, st.Restarts+1, log)
	}
	for _, want := range []string{"crashing with visible", "exit status 3; restarting in 5ms", "restarting in 10ms", "restarting in 40ms", "env names [TOKEN_NAME,DB_PASSWORD]"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "restarting in 80ms") {
		t.Errorf("backoff went past MaxBackoff:\n%s", log)
	}
	if strings.Contains(log, "hunter2") {
		t.Errorf("log holds an environment value:\n%s", log)
	}
	if fi, err := os.Stat(filepath.Join(logDir, "next-crasher.log")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v %v, want 0600", fi.Mode(), err)
	}
}

func TestServeAndStop(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logDir := t.TempDir()
	g, err := local.Start(t.Context(), local.Options{
		Release: "current",
		Commands: []local.Command{
			{Name: "lms", Argv: []string{exe}, Env: []string{helperEnv + "=" + addr}},
			// Ignores SIGTERM: Stop must SIGKILL it after the grace.
			{Name: "stubborn", Argv: []string{"sh", "-c", `trap "" TERM; echo ready; while :; do sleep 0.05; done`}},
		},
		LogDir:    logDir,
		StopGrace: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := runner.WaitHealthy(ctx, "http://"+addr+"/health", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	st := g.Status()
	for _, s := range st {
		if !s.Running || s.PID == 0 || s.Restarts != 0 || s.Since.IsZero() {
			t.Errorf("status while serving: %+v", s)
		}
	}
	stop(t, g)
	for _, s := range st {
		if alive(s.PID) {
			t.Errorf("%s (pid %d) still alive after Stop", s.Name, s.PID)
		}
	}
	after := g.Status()
	if after[0].Running || after[0].LastExit != "signal: terminated" || after[1].LastExit != "signal: killed" {
		t.Errorf("status after Stop: %+v; want lms terminated, stubborn killed", after)
	}
	if _, err := http.Get("http://" + addr + "/health"); err == nil {
		t.Error("the server still answers after Stop")
	}
	select {
	case <-g.Done():
	default:
		t.Error("Done not closed after Stop returned")
	}
}

func TestContextEndStopsGroup(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	g, err := local.Start(ctx, local.Options{
		Release:  "next",
		Commands: []local.Command{{Name: "sleeper", Argv: []string{"sleep", "60"}}},
		LogDir:   t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	pid := g.Status()[0].PID
	cancel()
	select {
	case <-g.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("group still runs after its context ended")
	}
	if alive(pid) {
		t.Errorf("sleep (pid %d) alive after the context ended", pid)
	}
}

func TestStartRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := local.Command{Name: "lms", Argv: []string{"sleep", "60"}}
	tests := []struct {
		name string
		opts local.Options
		want error // nil: any error
	}{
		{"bad release", local.Options{Release: "Next", Commands: []local.Command{ok}, LogDir: dir}, termshift.ErrInvalid},
		{"no commands", local.Options{Release: "next", LogDir: dir}, termshift.ErrInvalid},
		{"no log dir", local.Options{Release: "next", Commands: []local.Command{ok}}, termshift.ErrInvalid},
		{"bad name", local.Options{Release: "next", Commands: []local.Command{{Name: "../x", Argv: []string{"true"}}}, LogDir: dir}, termshift.ErrInvalid},
		{"no argv", local.Options{Release: "next", Commands: []local.Command{{Name: "lms"}}, LogDir: dir}, termshift.ErrInvalid},
		{"twice", local.Options{Release: "next", Commands: []local.Command{ok, ok}, LogDir: dir}, termshift.ErrInvalid},
		{"env without name", local.Options{Release: "next", Commands: []local.Command{{Name: "lms", Argv: []string{"true"}, Env: []string{"hunter2"}}}, LogDir: dir}, termshift.ErrInvalid},
		{"missing program", local.Options{Release: "next", Commands: []local.Command{ok, {Name: "ghost", Argv: []string{"/nonexistent/termshift-ghost"}}}, LogDir: dir}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, err := local.Start(t.Context(), tt.opts)
			if err == nil {
				stop(t, g)
				t.Fatal("Start: no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Start: %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks an environment value: %v", err)
			}
		})
	}
}

func TestWaitHealthyReportsLastStatus(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "migrating", http.StatusServiceUnavailable)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err = runner.WaitHealthy(ctx, "http://"+ln.Addr().String()+"/health", 10*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "503 Service Unavailable") {
		t.Errorf("WaitHealthy on a 503: %v; want deadline exceeded and the last status", err)
	}

	ctx2, cancel2 := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel2()
	err = runner.WaitHealthy(ctx2, "http://"+freeAddr(t)+"/health", 10*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("WaitHealthy on a closed port: %v; want the connection error", err)
	}
}
