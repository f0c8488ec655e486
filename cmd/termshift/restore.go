package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/wiring"
)

func (a *app) restoreCommand() *cobra.Command {
	var opts rollout.RestoreOptions
	var reason string
	cmd := &cobra.Command{
		Use:   "restore RELEASE | restore mysql|mongo|rabbitmq ...",
		Short: "Restore a backup snapshot into a carved release's namespaces, renamed, with proof",
		Long: `termshift restore RELEASE loads every MySQL, MongoDB and RabbitMQ namespace of a
carved release from the environment's backup source (the newest snapshot, or
--snapshot ID), renamed from the backup's names, and proves each one: rows and
documents counted while reading the backup against the target after loading,
and for MongoDB an order-independent hash of the documents. Exit 0 only when
every proof holds. The live release and the rollback target are refused.

The subcommands restore one namespace without an environment file.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !a.jsonOut {
				opts.Progress = newProgress(a.stderr).Event
			}
			type restored struct {
				Snapshot   restore.Snapshot        `json:"snapshot"`
				Namespaces []rollout.RestoreResult `json:"namespaces"`
			}
			return lockedRelease(a, cmd, args, reason, func(ctx context.Context, o *rollout.Orchestrator, release string) (*restored, error) {
				results, snap, err := o.Restore(ctx, release, opts)
				if results == nil {
					return nil, err
				}
				return &restored{Snapshot: snap, Namespaces: results}, err
			}, func(_ string, r *restored) {
				fmt.Fprintf(a.stdout, "snapshot %s\n", r.Snapshot.ID)
				for _, n := range r.Namespaces {
					a.printRestoreResult(n)
				}
			})
		},
	}
	cmd.Flags().StringVar(&opts.Snapshot, "snapshot", "", "snapshot ID (default: the newest; see `termshift backups list`)")
	cmd.Flags().IntVar(&opts.Threads, "threads", 0, "parallel tables, chunks and collections (default: CPU count)")
	cmd.Flags().BoolVar(&opts.DropExisting, "drop-existing", false, "replace data already in the target namespaces")
	cmd.Flags().BoolVar(&opts.Resume, "resume", false, "continue a killed or failed restore: finished namespaces, tables and chunks are kept")
	cmd.Flags().BoolVar(&opts.AcceptUnproven, "accept-unproven-backup", false, "accept backups that carry no evidence of being complete (no dump trailer, no mydumper finish line, no manifest); needs --reason, journaled")
	cmd.Flags().StringVar(&reason, "reason", "", "why (journaled)")
	a.addJSONFlag(cmd)
	cmd.AddCommand(a.restoreOneCommand(termshift.MySQL), a.restoreOneCommand(termshift.MongoDB), a.restoreOneCommand(termshift.RabbitMQ))
	return cmd
}

func (a *app) printRestoreResult(r rollout.RestoreResult) {
	fmt.Fprintf(a.stdout, "\n%s  %s", r.Namespace, r.Status)
	if r.Error != "" {
		fmt.Fprintf(a.stdout, ": %s", r.Error)
	}
	fmt.Fprintln(a.stdout)
	if r.Report != nil {
		a.printReport(r.Report)
	}
}

func (a *app) printReport(rep *restore.Report) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "OBJECT\tEXPECTED\tLOADED\tBYTES\tSECONDS\tPROOF\t")
	for _, o := range rep.Objects {
		proof := "ok"
		if !o.OK() {
			proof = "MISMATCH"
		}
		if o.Skipped {
			proof = "kept"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2f\t%s\t\n", o.Name, o.Expected, o.Loaded, o.Bytes, o.Seconds, proof)
	}
	_ = tw.Flush()
	exp, loaded, bytes := rep.Totals()
	unit := map[string]string{"mysql": "rows", "mongo": "documents", "rabbitmq": "objects"}[rep.Service]
	if unit == "" {
		unit = "rows/documents"
	}
	fmt.Fprintf(a.stdout, "%s %s -> %s (%s): %d of %d %s, %s in %.2fs\n", rep.Format, termshift.Quote(rep.From), termshift.Quote(rep.To), rep.Source, loaded, exp, unit, human(float64(bytes)), rep.Seconds)
	if c := rep.Completeness; c.Proven {
		fmt.Fprintf(a.stdout, "backup complete: %s\n", c.Evidence)
	} else {
		fmt.Fprintf(a.stdout, "backup completeness NOT proven: %s\n", c.Missing)
	}
	for _, sk := range rep.Skipped {
		fmt.Fprintf(a.stdout, "skipped %s %s: %s\n", sk.Kind, termshift.Quote(sk.Name), sk.Reason)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(a.stdout, "warning: %s\n", w)
	}
}

// restoreOneCommand is `restore mysql|mongo|rabbitmq`: one namespace.
func (a *app) restoreOneCommand(svc termshift.Service) *cobra.Command {
	var req rollout.RestoreRequest
	var source, from, to, admin, mgmtUser string
	req.Service = svc
	use, fromFlag, toFlag, adminFlag := "", "from", "to", ""
	switch svc {
	case termshift.MySQL:
		use, adminFlag = "mysql --source PATH|s3://... --from SCHEMA --to SCHEMA --dsn DSN", "dsn"
	case termshift.MongoDB:
		use, adminFlag = "mongo --source PATH|s3://... --from DB --to DB --uri URI", "uri"
	case termshift.RabbitMQ:
		use, fromFlag, toFlag, adminFlag = "rabbitmq --source FILE|s3://... --from-vhost V --to-vhost V --management URL", "from-vhost", "to-vhost", "management"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: "Restore one " + string(svc) + " namespace from a backup, renamed, with proof",
		Long: `Restore one namespace from a backup source: a local directory or file, or
s3://bucket/prefix (S3 settings from the environment file when there is one,
else the standard AWS chain; TERMSHIFT_S3_ENDPOINT sets an S3-compatible
endpoint). Credentials in --dsn/--uri/--management may be given as $VAR
references to keep them out of argv and shell history: --dsn '$MYSQL_ADMIN_DSN'.
When an environment file exists, a target that belongs to the live release or
the rollback target is refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			required := map[string]string{"--source": source, "--" + toFlag: to, "--" + adminFlag: admin}
			if svc == termshift.MongoDB {
				// A MySQL dump of one schema, an export of one vhost: the file says which.
				required["--"+fromFlag] = from
			}
			for name, v := range required {
				if v == "" {
					return usageError{fmt.Errorf("%s is required", name)}
				}
			}
			secret := termshift.Secret(a.flagSecret(admin))
			req.Backup = rollout.BackupRef{Source: source, Snapshot: req.Backup.Snapshot, BaseDir: "."}
			req.From, req.To = from, to
			loader, err := wiring.Loader(svc, secret, mgmtUser, termshift.Secret(os.Getenv("TERMSHIFT_RABBITMQ_MANAGEMENT_PASSWORD")))
			if err != nil {
				return err
			}
			if env, err := a.environment(); err == nil {
				req.Backup.S3 = env.Backup.S3
				st, err := a.store(cmd.Context(), env)
				if err != nil {
					return err
				}
				if err := rollout.RefuseProtectedTarget(cmd.Context(), st, svc, to); err != nil {
					return err
				}
			} else if !errors.Is(err, termshift.ErrNotFound) {
				return err
			} else {
				req.Backup.S3 = envfile.S3Config{Endpoint: os.Getenv("TERMSHIFT_S3_ENDPOINT"), Region: os.Getenv("TERMSHIFT_S3_REGION"), PathStyle: os.Getenv("TERMSHIFT_S3_ENDPOINT") != ""}
			}
			if !a.jsonOut {
				req.Progress = newProgress(a.stderr).Event
			}
			rep, _, err := rollout.RestoreNamespace(cmd.Context(), loader, req)
			if rep != nil {
				if a.jsonOut {
					if jerr := a.printJSON(rep); jerr != nil {
						return jerr
					}
				} else {
					a.printReport(rep)
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&source, "source", "", "backup: a directory, a file, or s3://bucket/prefix")
	f.StringVar(&req.Backup.Snapshot, "snapshot", "", "snapshot ID when the source holds several (default: the newest)")
	f.StringVar(&from, fromFlag, "", "name in the backup (MySQL and RabbitMQ: optional when the file holds one schema or vhost)")
	f.StringVar(&to, toFlag, "", "target namespace (must exist: carve it first)")
	switch svc {
	case termshift.MySQL:
		f.StringVar(&admin, adminFlag, "", "admin DSN of the target server (go-sql-driver format), or $VAR naming it")
	case termshift.MongoDB:
		f.StringVar(&admin, adminFlag, "", "admin URI of the target server, or $VAR naming it")
	case termshift.RabbitMQ:
		f.StringVar(&admin, adminFlag, "", "management API URL, e.g. http://127.0.0.1:15672")
		f.StringVar(&mgmtUser, "management-user", "guest", "management API user (password from $TERMSHIFT_RABBITMQ_MANAGEMENT_PASSWORD)")
	}
	if svc != termshift.RabbitMQ {
		f.IntVar(&req.Threads, "threads", 0, "parallel tables, chunks or collections (default: CPU count)")
	}
	f.BoolVar(&req.DropExisting, "drop-existing", false, "replace what the target already holds")
	f.BoolVar(&req.AcceptUnproven, "accept-unproven-backup", false, "accept a backup that carries no evidence of being complete (no dump trailer, no mydumper finish line, no manifest)")
	if svc == termshift.MySQL {
		f.BoolVar(&req.Resume, "resume", false, "continue a killed restore (needs --checkpoint)")
		f.StringVar(&req.Checkpoint, "checkpoint", "", "checkpoint file for --resume")
	}
	a.addJSONFlag(cmd)
	return cmd
}

// flagSecret resolves a "$VAR" flag value from the environment, so secrets
// need not appear in argv.
func (a *app) flagSecret(v string) string {
	if len(v) > 1 && v[0] == '$' {
		name := v[1:]
		if len(name) > 2 && name[0] == '{' && name[len(name)-1] == '}' {
			name = name[1 : len(name)-1]
		}
		if val, ok := a.lookupEnv(name); ok {
			return val
		}
	}
	return v
}
