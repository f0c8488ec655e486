// Package local is the runner for releases that run as processes on this
// machine, supervised by `termshift serve`. Group supervises one release's
// processes: it starts each command as a child in its own process group,
// logs its output to a file, restarts it with exponential backoff when it
// crashes, and stops the whole group with SIGTERM, then SIGKILL. Runner is
// what a CLI command uses: it asks serve, through its control socket, to
// converge on state.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/termshift/termshift"
)

const (
	// stableAfter is how long a process must stay up for its backoff to go
	// back to MinBackoff.
	stableAfter = 10 * time.Second

	defaultMinBackoff = 500 * time.Millisecond
	defaultMaxBackoff = 30 * time.Second
	defaultStopGrace  = 10 * time.Second
)

var errStopped = errors.New("group is stopping")

var commandNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Command is one process of a release.
type Command struct {
	Name string // "lms", "cms", "worker": names the log file
	Argv []string
	Dir  string
	// Env is added to the runner's own environment, KEY=VALUE. Values can
	// be secrets: only the names are ever logged.
	Env []string
}

// Options describe a release's processes.
type Options struct {
	Release  string
	Commands []Command
	// LogDir receives RELEASE-NAME.log per command, appended to.
	LogDir string
	// MinBackoff (default 500ms) is the first wait before a restart; each
	// crash doubles it up to MaxBackoff (default 30s).
	MinBackoff, MaxBackoff time.Duration
	// StopGrace (default 10s) is how long Stop waits after SIGTERM before
	// SIGKILL.
	StopGrace time.Duration
	Logger    *slog.Logger
}

// ProcStatus is the state of one supervised command.
type ProcStatus struct {
	Name     string
	PID      int // 0 while not running
	Running  bool
	Restarts int
	LastExit string // how the previous run ended, "" before any exit
	Since    time.Time
}

// Group is a release's supervised processes.
type Group struct {
	opts  Options
	log   *slog.Logger
	procs []*proc

	mu       sync.Mutex // orders spawns against Stop: nothing starts after it
	stopOnce sync.Once
	stopping chan struct{} // closed by Stop: supervisors restart no more
	done     chan struct{} // closed when every supervisor has returned
	wg       sync.WaitGroup
}

type proc struct {
	cmd Command
	log *os.File

	mu       sync.Mutex
	pid      int
	running  bool
	restarts int
	lastExit string
	since    time.Time
}

// Start validates opts, opens the log files and starts every command. When
// a command cannot be started at all (its program does not exist), Start
// stops the ones already started and returns the error. When ctx is done the
// group stops as Stop does.
func Start(ctx context.Context, opts Options) (*Group, error) {
	if err := termshift.ValidateRelease(opts.Release); err != nil {
		return nil, fmt.Errorf("start release: %w", err)
	}
	if len(opts.Commands) == 0 {
		return nil, fmt.Errorf("start release %s: no commands: %w", termshift.Quote(opts.Release), termshift.ErrInvalid)
	}
	if opts.LogDir == "" {
		return nil, fmt.Errorf("start release %s: no log directory: %w", termshift.Quote(opts.Release), termshift.ErrInvalid)
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = defaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = defaultMaxBackoff
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)
	if opts.StopGrace <= 0 {
		opts.StopGrace = defaultStopGrace
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	seen := map[string]bool{}
	for _, c := range opts.Commands {
		if err := checkCommand(c); err != nil {
			return nil, fmt.Errorf("start release %s: %w", termshift.Quote(opts.Release), err)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("start release %s: command %s listed twice: %w", termshift.Quote(opts.Release), termshift.Quote(c.Name), termshift.ErrInvalid)
		}
		seen[c.Name] = true
	}
	if err := os.MkdirAll(opts.LogDir, 0o750); err != nil {
		return nil, fmt.Errorf("start release %s: create log directory: %w", termshift.Quote(opts.Release), err)
	}

	g := &Group{
		opts:     opts,
		log:      logger.With("release", opts.Release),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
	}
	for _, c := range opts.Commands {
		path := filepath.Join(opts.LogDir, opts.Release+"-"+c.Name+".log")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			g.closeLogs()
			return nil, fmt.Errorf("start release %s: open log: %w", termshift.Quote(opts.Release), err)
		}
		g.procs = append(g.procs, &proc{cmd: c, log: f})
	}

	var startErr error
	for _, p := range g.procs {
		cmd, err := g.spawn(p, 1)
		if err != nil {
			startErr = err
			break
		}
		g.wg.Add(1)
		go g.supervise(p, cmd)
	}
	go func() {
		g.wg.Wait()
		g.closeLogs()
		close(g.done)
	}()
	if startErr != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.StopGrace+5*time.Second)
		defer cancel()
		_ = g.Stop(sctx)
		return nil, fmt.Errorf("start release %s: %w", termshift.Quote(opts.Release), startErr)
	}
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.StopGrace+5*time.Second)
			defer cancel()
			if err := g.Stop(sctx); err != nil {
				g.log.Error("runner: stop after context end", "err", err)
			}
		case <-g.stopping:
		}
	}()
	return g, nil
}

func checkCommand(c Command) error {
	if !commandNameRE.MatchString(c.Name) {
		return fmt.Errorf("command name %s must be 1-64 letters, digits, '_', '.' or '-': %w", termshift.Quote(c.Name), termshift.ErrInvalid)
	}
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return fmt.Errorf("command %s has no program: %w", termshift.Quote(c.Name), termshift.ErrInvalid)
	}
	for _, kv := range c.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			// Never print kv: it may be a secret.
			return fmt.Errorf("command %s: environment entry without NAME=: %w", termshift.Quote(c.Name), termshift.ErrInvalid)
		}
	}
	return nil
}

func envNames(env []string) string {
	names := make([]string, len(env))
	for i, kv := range env {
		names[i], _, _ = strings.Cut(kv, "=")
	}
	return strings.Join(names, ",")
}

// spawn starts one run of p in its own process group, its output appended
// to p's log file.
func (g *Group) spawn(p *proc, run int) (*exec.Cmd, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.stopping:
		return nil, errStopped
	default:
	}
	fmt.Fprintf(p.log, "%s termshift: starting %s of release %s (run %d): %s, env names [%s]\n",
		time.Now().Format(time.RFC3339Nano), p.cmd.Name, g.opts.Release, run, p.cmd.Argv[0], envNames(p.cmd.Env))

	cmd := exec.Command(p.cmd.Argv[0], p.cmd.Argv[1:]...)
	cmd.Dir = p.cmd.Dir
	cmd.Env = append(os.Environ(), p.cmd.Env...)
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(p.log, "%s termshift: %s could not start: %v\n", time.Now().Format(time.RFC3339Nano), p.cmd.Name, err)
		return nil, fmt.Errorf("start command %s (%s): %w", termshift.Quote(p.cmd.Name), p.cmd.Argv[0], err)
	}
	p.mu.Lock()
	p.pid, p.running, p.since, p.restarts = cmd.Process.Pid, true, time.Now(), run-1
	p.mu.Unlock()
	g.log.Info("runner: started", "command", p.cmd.Name, "pid", cmd.Process.Pid, "run", run, "env_names", envNames(p.cmd.Env))
	return cmd, nil
}

// supervise waits for each run of p to end and restarts it, with backoff,
// until the group stops.
func (g *Group) supervise(p *proc, cmd *exec.Cmd) {
	defer g.wg.Done()
	backoff := g.opts.MinBackoff
	run := 1
	for {
		started := time.Now()
		err := cmd.Wait()
		// The leader is gone; anything it left in its group goes too, so a
		// restart does not find its port taken.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		up := time.Since(started)
		exit := "exit status 0"
		if err != nil {
			exit = err.Error()
		}
		p.mu.Lock()
		p.pid, p.running, p.lastExit, p.since = 0, false, exit, time.Now()
		p.mu.Unlock()

		select {
		case <-g.stopping:
			fmt.Fprintf(p.log, "%s termshift: %s stopped: %s\n", time.Now().Format(time.RFC3339Nano), p.cmd.Name, exit)
			g.log.Info("runner: stopped", "command", p.cmd.Name, "exit", exit)
			return
		default:
		}
		if up >= stableAfter {
			backoff = g.opts.MinBackoff
		}
		fmt.Fprintf(p.log, "%s termshift: %s exited after %s: %s; restarting in %s\n",
			time.Now().Format(time.RFC3339Nano), p.cmd.Name, up.Round(time.Millisecond), exit, backoff)
		g.log.Warn("runner: exited; restarting", "command", p.cmd.Name, "exit", exit, "up", up, "backoff", backoff)

		t := time.NewTimer(backoff)
		select {
		case <-g.stopping:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, g.opts.MaxBackoff)

		for {
			run++
			next, err := g.spawn(p, run)
			if err == nil {
				cmd = next
				break
			}
			if errors.Is(err, errStopped) {
				return
			}
			g.log.Error("runner: restart failed", "command", p.cmd.Name, "err", err, "backoff", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-g.stopping:
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(backoff*2, g.opts.MaxBackoff)
		}
	}
}

// Stop sends SIGTERM to every process group, waits up to StopGrace (or
// until ctx is done) for them to exit, then sends SIGKILL. It returns an
// error only when processes are still not reaped after SIGKILL and ctx is
// done. Calling it again waits again.
func (g *Group) Stop(ctx context.Context) error {
	g.stopOnce.Do(func() {
		g.mu.Lock()
		close(g.stopping)
		g.mu.Unlock()
		g.signal(syscall.SIGTERM)
	})
	grace := time.NewTimer(g.opts.StopGrace)
	defer grace.Stop()
	select {
	case <-g.done:
		return nil
	case <-grace.C:
	case <-ctx.Done():
	}
	if killed := g.signal(syscall.SIGKILL); len(killed) > 0 {
		g.log.Warn("runner: did not exit after SIGTERM; killed", "commands", killed, "grace", g.opts.StopGrace)
	}
	select {
	case <-g.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop release %s: processes not reaped after SIGKILL: %w", termshift.Quote(g.opts.Release), ctx.Err())
	}
}

// signal sends sig to the process group of every running command and
// returns their names.
func (g *Group) signal(sig syscall.Signal) []string {
	var names []string
	for _, p := range g.procs {
		p.mu.Lock()
		pid, running := p.pid, p.running
		p.mu.Unlock()
		if !running || pid <= 0 {
			continue
		}
		if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			g.log.Error("runner: signal", "command", p.cmd.Name, "pid", pid, "signal", sig.String(), "err", err)
			continue
		}
		names = append(names, p.cmd.Name)
	}
	return names
}

// Status reports every command, in the order of Options.Commands.
func (g *Group) Status() []ProcStatus {
	out := make([]ProcStatus, len(g.procs))
	for i, p := range g.procs {
		p.mu.Lock()
		out[i] = ProcStatus{Name: p.cmd.Name, PID: p.pid, Running: p.running, Restarts: p.restarts, LastExit: p.lastExit, Since: p.since}
		p.mu.Unlock()
	}
	return out
}

// Done is closed when every process has exited for good after Stop.
func (g *Group) Done() <-chan struct{} { return g.done }

func (g *Group) closeLogs() {
	for _, p := range g.procs {
		p.log.Close()
	}
}
