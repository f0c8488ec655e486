// Package rollout is the orchestrator: the steps of an upgrade (carve,
// restore, scrub, deploy, verify, cutover, rollback, teardown, gc) and the
// long-running serve. It records intent, acts, and records the outcome, in
// a state it reads and writes through a store.Backend, under the
// environment's lock, with every step journaled. It talks to servers,
// runners and routers only through the small interfaces it declares
// (providers.go); package wiring builds the concrete ones.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/control"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
)

// Orchestrator runs termshift's steps for one environment.
type Orchestrator struct {
	Env   *envfile.Environment
	Store store.Backend
	P     Providers
	// Work is this machine's working directory for the environment:
	// rendered configuration, process logs, restore checkpoints, and the
	// control socket of serve.
	Work   string
	Logger *slog.Logger
	// Out receives human progress lines (a terminal, or io.Discard).
	Out io.Writer
	Now func() time.Time
	// Command is the command line being run, for the lock and the journal.
	Command string
	// Reason is the operator's --reason, journaled with each step.
	Reason string
	// KeepWindow names the release whose stale maintenance window this
	// command keeps instead of lifting it (a final sync run again).
	KeepWindow string

	lock store.Lock
}

// New returns an orchestrator for env with its providers.
func New(env *envfile.Environment, p Providers, logger *slog.Logger, out io.Writer, command string) *Orchestrator {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if out == nil {
		out = io.Discard
	}
	return &Orchestrator{Env: env, Store: p.State, P: p, Work: env.StateDir, Logger: logger, Out: out, Now: time.Now, Command: command}
}

// Control is the client of this environment's `termshift serve`.
func (o *Orchestrator) Control() *control.Client { return control.NewClient(o.Work) }

// ConfigDir is where a release's rendered configuration lives.
func (o *Orchestrator) ConfigDir(release string) string {
	return filepath.Join(o.Work, "releases", release, "config")
}

// LogDir is where a release's process logs live.
func (o *Orchestrator) LogDir(release string) string {
	return filepath.Join(o.Work, "releases", release, "logs")
}

// checkpointPath is where a restore of one namespace keeps its resume marks.
func (o *Orchestrator) checkpointPath(release, ns string) string {
	return filepath.Join(o.Work, "releases", release, "restore-"+ns+".checkpoint.json")
}

// Locked runs fn holding the environment's lock. A lock left by a process
// that is gone from this host is taken over, and the takeover journaled.
func (o *Orchestrator) Locked(ctx context.Context, fn func() error) error {
	l, stale, err := o.Store.Acquire(ctx, o.Command)
	if err != nil {
		return o.lockedHint(err)
	}
	o.lock = l
	defer func() {
		if err := l.Release(context.WithoutCancel(ctx)); err != nil {
			o.Logger.Warn("release lock", "err", err)
		}
		o.lock = nil
	}()
	if stale != nil {
		_, why := store.Stale(*stale, time.Now())
		o.journal(ctx, "", "lock", "forced", "took over the lock of "+stale.String()+": "+why)
		o.printf("took over a stale lock: %s (%s)\n", stale, why)
	}
	if err := o.liftStaleWindow(ctx); err != nil {
		return err
	}
	return fn()
}

// lockedHint tells the operator what to do about a held lock.
func (o *Orchestrator) lockedHint(err error) error {
	var le *store.LockedError
	if errors.As(err, &le) {
		return termshift.WithHint(err, "wait for it to finish (`termshift status` shows it); if it is truly gone, `termshift unlock --force --reason TEXT` breaks the lock (journaled)")
	}
	return err
}

// checkLock stops a command whose lock was taken over (rollback --force).
func (o *Orchestrator) checkLock(ctx context.Context) error {
	if o.lock == nil {
		return nil
	}
	return o.lock.Check(ctx)
}

// Redactor removes every secret the environment knows from a text: admin
// passwords and keys, and every stored release credential.
func (o *Orchestrator) Redactor(ctx context.Context) func(string) string {
	secrets := o.Env.Secrets()
	if releases, err := o.Store.CredentialReleases(ctx); err == nil {
		for _, r := range releases {
			creds, err := o.Store.Credentials(ctx, r)
			if err != nil {
				continue
			}
			for _, c := range creds {
				secrets = append(secrets, c.Password.Reveal())
			}
		}
	}
	return termshift.Redactor(secrets, "[redacted]")
}

// Journal appends an entry with every known secret redacted.
func (o *Orchestrator) Journal(ctx context.Context, e store.Entry) error {
	redact := o.Redactor(ctx)
	e.Reason, e.Detail = redact(e.Reason), redact(e.Detail)
	if e.Command == "" {
		e.Command = o.Command
	}
	if e.Time.IsZero() {
		e.Time = o.Now()
	}
	return o.Store.Append(ctx, e)
}

// journal appends an entry of this command; a failure is logged, never
// fatal: the step's outcome is in state either way.
func (o *Orchestrator) journal(ctx context.Context, release, step, outcome, detail string) {
	e := store.Entry{Release: release, Reason: o.Reason, Step: step, Outcome: outcome, Detail: detail}
	if err := o.Journal(context.WithoutCancel(ctx), e); err != nil {
		o.Logger.Error("journal append failed", "err", err)
	}
}

// LoadState reads the state, naming the environment on first use.
func (o *Orchestrator) LoadState(ctx context.Context) (*store.State, error) {
	s, err := o.Store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load state from %s: %w", o.Store, err)
	}
	if s.Environment == "" {
		s.Environment = o.Env.Name
	}
	return s, nil
}

// SaveState writes the state (compare-and-swap on its revision).
func (o *Orchestrator) SaveState(ctx context.Context, s *store.State) error {
	s.UpdatedAt = o.Now()
	return o.Store.Save(context.WithoutCancel(ctx), s)
}

// spec returns the environment's release spec or a not-found error.
func (o *Orchestrator) spec(release string) (envfile.ReleaseSpec, error) {
	if err := termshift.ValidateRelease(release); err != nil {
		return envfile.ReleaseSpec{}, err
	}
	r, ok := o.Env.Release(release)
	if !ok {
		return r, fmt.Errorf("release %s is not defined in %s: %w", termshift.Quote(release), o.Env.Path, termshift.ErrNotFound)
	}
	return r, nil
}

// runner returns the runner of a release.
func (o *Orchestrator) runner(release string) (Runner, error) {
	r, ok := o.P.Runners[release]
	if !ok {
		return nil, fmt.Errorf("release %s has no runner: %w", termshift.Quote(release), termshift.ErrNotFound)
	}
	return r, nil
}

func (o *Orchestrator) printf(format string, args ...any) { fmt.Fprintf(o.Out, format, args...) }

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
