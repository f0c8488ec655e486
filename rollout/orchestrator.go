package rollout

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/termshift/termshift"
)

// Orchestrator runs termshift's steps for one environment: it owns the
// state directory and drives tenancy, restore and verify.
type Orchestrator struct {
	Env    *Environment
	Store  Store
	Logger *slog.Logger
	// Out receives human progress lines (a terminal, or io.Discard).
	Out io.Writer
	Now func() time.Time
	// Command is the command line being run, for the lock and the journal.
	Command string
	// Reason is the operator's --reason, journaled with each step.
	Reason string

	lock *Lock
}

// NewOrchestrator returns an orchestrator for env.
func NewOrchestrator(env *Environment, logger *slog.Logger, out io.Writer, command string) *Orchestrator {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if out == nil {
		out = io.Discard
	}
	return &Orchestrator{Env: env, Store: Store{Dir: env.StateDir}, Logger: logger, Out: out, Now: time.Now, Command: command}
}

// Locked runs fn holding the environment's lock.
func (o *Orchestrator) Locked(fn func() error) error {
	l, err := o.Store.Acquire(o.Command, o.Now())
	if err != nil {
		return err
	}
	o.lock = l
	defer func() {
		if err := l.Release(); err != nil {
			o.Logger.Warn("release lock", "err", err)
		}
		o.lock = nil
	}()
	return fn()
}

// checkLock stops a command whose lock was taken over (rollback --force).
func (o *Orchestrator) checkLock() error {
	if o.lock == nil {
		return nil
	}
	return o.lock.Check()
}

// journal appends an entry, redacting every known secret.
func (o *Orchestrator) journal(release, step, outcome, detail string) {
	e := Entry{Time: o.Now(), Command: o.Command, Release: release, Reason: o.Reason, Step: step, Outcome: outcome, Detail: detail}
	if err := o.Store.Journal(o.Store.Redactor(o.adminSecrets()...)).Append(e); err != nil {
		o.Logger.Error("journal append failed", "err", err)
	}
}

// adminSecrets lists the environment's admin secrets for redaction.
func (o *Orchestrator) adminSecrets() []string {
	var out []string
	s := o.Env.Servers
	if s.MySQL != nil {
		out = append(out, dsnPassword(s.MySQL.DSN))
	}
	if s.Mongo != nil {
		out = append(out, urlPassword(s.Mongo.URI))
	}
	if s.RabbitMQ != nil {
		out = append(out, s.RabbitMQ.ManagementPassword, urlPassword(s.RabbitMQ.URL))
	}
	out = append(out, o.Env.Backup.S3.SecretKey, o.Env.Scrub.Salt)
	return out
}

// loadState reads state, naming the environment on first use.
func (o *Orchestrator) loadState() (*State, error) {
	s, err := o.Store.Load()
	if err != nil {
		return nil, err
	}
	if s.Environment == "" {
		s.Environment = o.Env.Name
	}
	return s, nil
}

func (o *Orchestrator) saveState(s *State) error { return o.Store.Save(s, o.Now()) }

// spec returns the environment's release spec or a not-found error listing
// the defined ones.
func (o *Orchestrator) spec(release string) (ReleaseSpec, error) {
	if err := termshift.ValidateRelease(release); err != nil {
		return ReleaseSpec{}, err
	}
	r, ok := o.Env.Release(release)
	if !ok {
		return r, fmt.Errorf("release %s is not defined in %s: %w", termshift.Quote(release), o.Env.Path, termshift.ErrNotFound)
	}
	return r, nil
}

func (o *Orchestrator) printf(format string, args ...any) { fmt.Fprintf(o.Out, format, args...) }
