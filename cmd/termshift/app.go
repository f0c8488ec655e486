package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/rollout/wiring"
)

// Exit codes, documented in the README and in `termshift --help`.
const (
	exitOK       = 0 // success
	exitFailure  = 1 // the command failed
	exitUsage    = 2 // bad flags, arguments, names or environment file
	exitLocked   = 3 // another command holds the environment's lock
	exitRefused  = 4 // a safety rule refused it (live release, rollback target, verify gate)
	exitVerify   = 5 // verify ran and a check failed
	exitPartial  = 6 // stopped half way; the message says what is done
	exitNotFound = 7 // a release, namespace, snapshot or file does not exist
)

const exitCodesHelp = `Exit codes:
  0  success
  1  the command failed
  2  usage: bad flags, arguments, names or environment file
  3  locked: another command holds the environment's lock
  4  refused by a safety rule (live release, rollback target, verify gate)
  5  verify ran and a check failed
  6  stopped half way: the message says what is done; re-run to complete
  7  not found: release, namespace, snapshot or file`

// app is what every subcommand shares: flags, output streams, the logger.
type app struct {
	stdout, stderr io.Writer
	envPath        string
	jsonOut        bool
	logLevel       string
	logger         *slog.Logger
	now            func() time.Time
	lookupEnv      func(string) (string, bool)
}

// lockedWriter serialises writes to one stream.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Fd is the stream's file descriptor when it is a file (a terminal gets
// progress bars), else an invalid one.
func (l *lockedWriter) Fd() uintptr {
	if f, ok := l.w.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}

// usageError marks errors of the command line itself.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// The logger and the progress lines write to stderr from several
	// goroutines: one lock keeps their lines whole.
	a := &app{stdout: stdout, stderr: &lockedWriter{w: stderr}, now: time.Now, lookupEnv: lookupEnv}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	return a.report(err)
}

// lookupEnv resolves ${VAR} in the environment file: the process
// environment, then, for TERMSHIFT_* settings only, the local servers'
// .termshift-dev/env written by `make services`.
func lookupEnv(name string) (string, bool) {
	if v, ok := os.LookupEnv(name); ok {
		return v, true
	}
	if strings.HasPrefix(name, "TERMSHIFT_") {
		return termshift.LocalSetting(name)
	}
	return "", false
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "termshift",
		Short: "Multi-version upgrades of Open edX-like platforms on shared servers",
		Long: `termshift carves per-release namespaces on shared MySQL, MongoDB, RabbitMQ and
Memcached, restores last night's production backup into them under the next
release's names, verifies the release, runs it beside the current one, cuts
traffic over, and rolls back with one command.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setupLogging()
		},
	}
	defEnv := "termshift.yaml"
	if v := os.Getenv("TERMSHIFT_ENV"); v != "" {
		defEnv = v
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.envPath, "env", defEnv, "environment file (or $TERMSHIFT_ENV)")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level on stderr: debug, info, warn, error")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	root.AddCommand(
		a.initCommand(),
		a.configCommand(),
		a.statusCommand(),
		a.historyCommand(),
		a.unlockCommand(),
		a.stateCommand(),
		a.carveCommand(),
		a.credentialsCommand(),
		a.namespacesCommand(),
		a.teardownCommand(),
		a.backupsCommand(),
		a.backupCommand(),
		a.syncCommand(),
		a.followCommand(),
		a.restoreCommand(),
		a.scrubCommand(),
		a.verifyCommand(),
		a.deployCommand(),
		a.serveCommand(),
		a.cutoverCommand(),
		a.rollbackCommand(),
		a.upgradeCommand(),
		a.gcCommand(),
		a.previewLinkCommand(),
		a.previewRevokeCommand(),
	)
	return root
}

func (a *app) setupLogging() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", a.logLevel)}
	}
	a.logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	return nil
}

// addJSONFlag gives a read command its --json flag.
func (a *app) addJSONFlag(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&a.jsonOut, "json", false, "machine-readable JSON on stdout (logs stay on stderr)")
}

// environment loads and validates the environment file.
func (a *app) environment() (*envfile.Environment, error) {
	env, err := envfile.LoadEnvironment(a.envPath, a.lookupEnv)
	if errors.Is(err, os.ErrNotExist) {
		return nil, termshift.WithHint(fmt.Errorf("environment file %s does not exist: %w", a.envPath, termshift.ErrNotFound),
			"write one with `termshift init`, or point --env (or $TERMSHIFT_ENV) at yours")
	}
	return env, err
}

// store opens the environment's state backend.
func (a *app) store(ctx context.Context, env *envfile.Environment) (store.Backend, error) {
	return wiring.State(ctx, env)
}

// printJSON writes v as indented JSON on stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// report prints err as `termshift: WHAT: WHY` (plus a hint) and maps it to
// an exit code.
func (a *app) report(err error) int {
	msg := err.Error()
	var verr *envfile.ValidationError
	if errors.As(err, &verr) {
		// One problem a line, each FILE:LINE: field: problem.
		fmt.Fprintf(a.stderr, "termshift: %s\n", msg)
	} else {
		fmt.Fprintf(a.stderr, "termshift: %s\n", strings.ReplaceAll(msg, "\n", " "))
	}
	var hint *termshift.HintError
	if errors.As(err, &hint) && hint.Hint != "" {
		fmt.Fprintf(a.stderr, "hint: %s\n", hint.Hint)
	}
	var locked *store.LockedError
	var partial *termshift.PartialError
	var usage usageError
	switch {
	case errors.As(err, &locked):
		if !errors.As(err, &hint) {
			fmt.Fprintln(a.stderr, "hint: wait for it to finish (`termshift status` shows it); if it is truly gone, `termshift unlock --force --reason TEXT` breaks the lock (journaled)")
		}
		return exitLocked
	case errors.As(err, &usage), errors.As(err, &verr):
		return exitUsage
	case errors.Is(err, termshift.ErrLocked):
		return exitLocked
	case errors.As(err, &partial):
		return exitPartial
	case errors.Is(err, termshift.ErrRefused):
		return exitRefused
	case errors.Is(err, termshift.ErrVerifyFailed):
		return exitVerify
	case errors.Is(err, termshift.ErrInvalid):
		return exitUsage
	case errors.Is(err, termshift.ErrNotFound):
		return exitNotFound
	}
	return exitFailure
}

// releaseArg validates a RELEASE argument before anything is touched.
func releaseArg(args []string) (string, error) {
	if len(args) != 1 {
		return "", usageError{errors.New("want exactly one RELEASE argument")}
	}
	if err := termshift.ValidateRelease(args[0]); err != nil {
		return "", usageError{err}
	}
	return args[0], nil
}
