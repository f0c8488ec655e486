package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
	s3store "github.com/termshift/termshift/rollout/store/s3"
	"github.com/termshift/termshift/rollout/wiring"
)

func (a *app) stateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Move the environment's state (state, journal, lock, credentials) between a directory and S3",
	}
	var to, reason string
	var s3 envfile.S3Config
	migrate := &cobra.Command{
		Use:   "migrate --to s3://BUCKET/PREFIX | --to DIR",
		Short: "Copy the state, journal and credentials to S3 or a directory, holding the lock; refuses a target that holds a state",
		Long: `Copy the environment's state, its journal and the generated credentials to
another place: s3://BUCKET/PREFIX (credentials sealed with $TERMSHIFT_STATE_KEY)
or a directory (credentials in files of mode 0600). It holds the lock of both
sides while it copies, refuses a target that already holds anything (exit 4),
and leaves the source as it was. Then it says what to change in termshift.yaml:
until every machine's file points at the new place, commands use the old one.

An S3 target is reached with --s3-endpoint, --s3-region and --s3-path-style,
and the keys of the standard AWS chain (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, or a profile); when the state is already in S3, its
state.s3 settings are the defaults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return usageError{errors.New("state migrate needs --to s3://BUCKET/PREFIX or --to DIR")}
			}
			env, err := a.environment()
			if err != nil {
				return err
			}
			target, dir, err := migrationTarget(env, to, s3, cmd)
			if err != nil {
				return err
			}
			o, err := a.orchestrator(cmd, nil)
			if err != nil {
				return err
			}
			o.Command = "state migrate --to " + to
			o.Reason = reason
			ctx := cmd.Context()
			dst, err := wiring.StateFrom(ctx, target, dir, a.logger)
			if err != nil {
				return err
			}
			var rep *store.CopyReport
			err = o.Locked(ctx, func() error {
				l, _, err := dst.Acquire(ctx, o.Command)
				if err != nil {
					return fmt.Errorf("lock the target %s: %w", dst, err)
				}
				defer func() {
					if err := l.Release(context.WithoutCancel(ctx)); err != nil {
						a.logger.Warn("release the target's lock", "err", err)
					}
				}()
				rep, err = store.Copy(ctx, o.Store, dst)
				if err != nil {
					_ = o.Journal(ctx, store.Entry{Step: "migrate", Reason: reason, Outcome: "failed", Detail: "copy to " + dst.String() + ": " + err.Error()})
					return err
				}
				e := store.Entry{Command: o.Command, Step: "migrate", Reason: reason, Outcome: "done", Time: o.Now(),
					Detail: fmt.Sprintf("state copied from %s to %s: revision %d, %d journal entries, credentials of %d releases", rep.From, rep.To, rep.Revision, rep.Entries, len(rep.Credentials))}
				if err := o.Journal(ctx, e); err != nil {
					return err
				}
				return dst.Append(ctx, e)
			})
			if err != nil {
				return err
			}
			yaml := stateYAML(target, dir)
			if a.jsonOut {
				return a.printJSON(map[string]any{"copy": rep, "termshift_yaml": yaml})
			}
			a.printMigration(rep, target, yaml)
			return nil
		},
	}
	f := migrate.Flags()
	f.StringVar(&to, "to", "", "where to: s3://BUCKET/PREFIX, or a directory")
	f.StringVar(&s3.Endpoint, "s3-endpoint", "", "an S3-compatible server's URL (default: AWS, or the current state.s3.endpoint)")
	f.StringVar(&s3.Region, "s3-region", "", "the bucket's region (default: the AWS chain's, or the current state.s3.region)")
	f.BoolVar(&s3.PathStyle, "s3-path-style", false, "address the bucket in the path (most S3-compatible servers)")
	f.StringVar(&reason, "reason", "", "why (journaled)")
	a.addJSONFlag(migrate)
	cmd.AddCommand(migrate, a.rekeyCommand())
	return cmd
}

// rekeyer is a state whose credentials are sealed with a key.
type rekeyer interface {
	Rekey(ctx context.Context, newKey termshift.Secret) (resealed, already []string, err error)
}

func (a *app) rekeyCommand() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "rekey",
		Short: "Re-seal the credentials of a state in S3 with a new key, holding the lock",
		Long: `Re-seal every release's generated credentials in the S3 state with the key in
$TERMSHIFT_STATE_NEW_KEY, opening them with the one in $TERMSHIFT_STATE_KEY.
It holds the lock while it runs; a rekey that stopped half way is completed by
running it again with both keys (credentials already under the new key are
left alone). Afterwards, give every machine the new key as TERMSHIFT_STATE_KEY.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := a.orchestrator(cmd, nil)
			if err != nil {
				return err
			}
			o.Reason = reason
			rk, ok := o.Store.(rekeyer)
			if !ok {
				return fmt.Errorf("the state in %s keeps credentials in files of mode 0600, not sealed with a key: nothing to rekey: %w", o.Store, termshift.ErrInvalid)
			}
			newKey, set := os.LookupEnv(s3store.NewKeyVar)
			if !set || newKey == "" {
				return usageError{fmt.Errorf("state rekey needs the new key in $%s (`openssl rand -base64 32` makes one); the current one stays in $%s", s3store.NewKeyVar, s3store.KeyVar)}
			}
			ctx := cmd.Context()
			var resealed, already []string
			err = o.Locked(ctx, func() error {
				var err error
				resealed, already, err = rk.Rekey(ctx, termshift.Secret(newKey))
				outcome, detail := "done", fmt.Sprintf("credentials of %s re-sealed with the new key", count(len(resealed), "release"))
				if len(already) > 0 {
					detail += fmt.Sprintf(" (%s already were)", count(len(already), "release"))
				}
				if err != nil {
					outcome, detail = "failed", detail+": "+err.Error()
				}
				if jerr := o.Journal(ctx, store.Entry{Step: "rekey", Reason: reason, Outcome: outcome, Detail: detail}); jerr != nil {
					a.logger.Error("journal append failed", "err", jerr)
				}
				return err
			})
			if err != nil {
				if len(resealed) > 0 {
					return termshift.WithHint(err, "credentials of "+strings.Join(resealed, ", ")+" are under the new key already: run the rekey again with both keys set")
				}
				return err
			}
			fmt.Fprintf(a.stdout, "re-sealed the credentials of %s in %s with $%s", count(len(resealed), "release"), o.Store, s3store.NewKeyVar)
			if len(already) > 0 {
				fmt.Fprintf(a.stdout, " (%s already were)", count(len(already), "release"))
			}
			fmt.Fprintf(a.stdout, "\nNow give every machine that carves, deploys or reads credentials the new key as $%s; the old key opens nothing any more.\n", s3store.KeyVar)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (journaled)")
	return cmd
}

// migrationTarget describes where --to points: a state section, and the
// directory of a local one.
func migrationTarget(env *envfile.Environment, to string, flags envfile.S3Config, cmd *cobra.Command) (envfile.StateConfig, string, error) {
	if !strings.Contains(to, "://") {
		dir, err := filepath.Abs(to)
		if err != nil {
			return envfile.StateConfig{}, "", usageError{fmt.Errorf("--to %s: %w", to, err)}
		}
		return envfile.StateConfig{Backend: envfile.StateLocal}, dir, nil
	}
	if why := envfile.ValidateStateURL(to); why != "" {
		return envfile.StateConfig{}, "", usageError{fmt.Errorf("--to %s: %s", to, why)}
	}
	c := envfile.StateConfig{Backend: envfile.StateS3, URL: to, Lease: env.State.Lease}
	if env.State.Backend == envfile.StateS3 {
		c.S3 = env.State.S3 // the same server, keys included, unless told otherwise
	}
	if c.Lease.Duration == 0 {
		c.Lease.Duration = envfile.DefaultLease
	}
	fl := cmd.Flags()
	if fl.Changed("s3-endpoint") {
		c.S3.Endpoint = flags.Endpoint
	}
	if fl.Changed("s3-region") {
		c.S3.Region = flags.Region
	}
	if fl.Changed("s3-path-style") {
		c.S3.PathStyle = flags.PathStyle
	}
	return c, "", nil
}

// stateYAML is what termshift.yaml must say to use the migrated state.
func stateYAML(c envfile.StateConfig, dir string) string {
	if c.Backend == envfile.StateLocal {
		return "state:\n  backend: local\nstate_dir: " + dir + "\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "state:\n  backend: s3\n  url: %s\n", c.URL)
	var s3 []string
	if c.S3.Endpoint != "" {
		s3 = append(s3, "endpoint: "+c.S3.Endpoint)
	}
	if c.S3.Region != "" {
		s3 = append(s3, "region: "+c.S3.Region)
	}
	if c.S3.PathStyle {
		s3 = append(s3, "path_style: true")
	}
	if c.S3.AccessKey != "" {
		// The keys' values stay out of the output.
		s3 = append(s3, "# access_key and secret_key: as in the current state.s3")
	}
	if len(s3) > 0 {
		b.WriteString("  s3:\n")
		for _, l := range s3 {
			b.WriteString("    " + l + "\n")
		}
	}
	return b.String()
}

func (a *app) printMigration(rep *store.CopyReport, target envfile.StateConfig, yaml string) {
	w := a.stdout
	live := rep.Live
	if live == "" {
		live = "none live"
	} else {
		live = "live " + live
	}
	sealed := ""
	if target.Backend == envfile.StateS3 && len(rep.Credentials) > 0 {
		sealed = " (sealed with $" + s3store.KeyVar + ")"
	}
	fmt.Fprintf(w, "copied the state from %s to %s: revision %d (%s, %s), %s, credentials of %s%s\n",
		rep.From, rep.To, rep.Revision, count(rep.Releases, "release"), live, count(rep.Entries, "journal entry"), count(len(rep.Credentials), "release"), sealed)
	fmt.Fprintf(w, "\nNow replace the state settings in the termshift.yaml of every machine (routers too) with:\n\n%s\n", indent(yaml))
	if target.Backend == envfile.StateS3 {
		fmt.Fprintf(w, "Every machine needs read and write access to %s", rep.To)
		if target.S3.AccessKey == "" {
			fmt.Fprint(w, " (this copy used the standard AWS chain; state.s3.access_key and secret_key may name ${VARS} instead)")
		}
		fmt.Fprintf(w, "; whoever carves, deploys or reads credentials also needs $%s, the key this copy was sealed with.\n", s3store.KeyVar)
	}
	fmt.Fprintf(w, "Until then, commands still use %s, left as it was; once every machine uses %s, remove the old copy.\n", rep.From, rep.To)
}

// count writes "1 release", "2 releases", "3 journal entries".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n") + "\n"
}
