package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
	"github.com/termshift/termshift/restore"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/wiring"
)

// backupFlags are the flags every backup command shares.
func backupFlags(cmd *cobra.Command, opts *rollout.BackupOptions, withMongo bool) {
	f := cmd.Flags()
	f.StringVar(&opts.ID, "id", "", "snapshot ID: its directory under the destination (default: the current UTC time, so it is the newest)")
	f.StringVar(&opts.Compress, "compress", backup.CompressGzip, "gzip or none: MySQL .sql and MongoDB files (RabbitMQ definitions stay plain)")
	f.IntVar(&opts.Threads, "threads", 0, "parallel connections and files (default: CPU count)")
	f.Int64Var(&opts.ChunkRows, "chunk-rows", backup.DefaultChunkRows, "MySQL: rows per data file of a table cut on its integer primary key")
	if withMongo {
		f.BoolVar(&opts.Archive, "archive", false, "MongoDB: one mongodump --archive file per database instead of a directory")
	}
}

func (a *app) backupCommand() *cobra.Command {
	var opts rollout.BackupOptions
	var reason string
	cmd := &cobra.Command{
		Use:   "backup RELEASE [--to DIR|s3://bucket/prefix] [--id ID] | backup mysql|mongo|rabbitmq ...",
		Short: "Back up a release's namespaces in the formats restore reads, with a manifest written last",
		Long: `termshift backup RELEASE writes a snapshot of the release's MySQL schemas (a
mydumper 0.10 directory), MongoDB databases (a mongodump directory, or
--archive) and RabbitMQ vhosts (the management API's definitions export), each
under the name the environment's backups give it, to --to (a directory or
s3://bucket/prefix, streamed to S3 with no local copy) or by default to the
environment's backup source, as snapshot --id (default: now). The result is a
snapshot that 'backups list' shows and 'restore' and 'upgrade --snapshot ID'
take, and that myloader and the mariadb client read.

MySQL is read inside one consistent snapshot across all connections:
FLUSH TABLES WITH READ LOCK is held only while every connection starts START
TRANSACTION WITH CONSISTENT SNAPSHOT and the binary log position is read; the
report says how long. Counts per table are taken inside the same snapshot: the
rows its data files read (a sync also takes COUNT(*) there, to prove its copy).

manifest.json is written last: every file with its size and sha256, every
table and collection with its count, server versions, the binary log position.
A backup killed half way leaves a snapshot without it, which 'backups list'
shows as PARTIAL and restore never picks as the newest; running the same
command again with the same --id clears it and starts over.

The subcommands back up schemas, databases or vhosts named on the command line.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			release, err := releaseArg(args)
			if err != nil {
				return err
			}
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			o.Reason = reason
			if !a.jsonOut {
				opts.Progress = newProgress(a.stderr).Event
			}
			rep, err := o.Backup(cmd.Context(), release, opts)
			return a.printBackup(rep, err)
		},
	}
	cmd.Flags().StringVar(&opts.To, "to", "", "destination: a directory or s3://bucket/prefix (default: the environment's backup source)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (journaled)")
	backupFlags(cmd, &opts, true)
	a.addJSONFlag(cmd)
	cmd.AddCommand(a.backupOneCommand(termshift.MySQL), a.backupOneCommand(termshift.MongoDB), a.backupOneCommand(termshift.RabbitMQ))
	return cmd
}

// backupOneCommand is `backup mysql|mongo|rabbitmq`: namespaces named on
// the command line.
func (a *app) backupOneCommand(svc termshift.Service) *cobra.Command {
	var opts rollout.BackupOptions
	var admin, mgmtUser, mgmtPassword string
	var names []string
	use, adminFlag, nameFlag := "", "", ""
	switch svc {
	case termshift.MySQL:
		use, adminFlag, nameFlag = "mysql --dsn DSN --schema NAME [--schema NAME ...] --to DIR|s3://bucket/prefix", "dsn", "schema"
	case termshift.MongoDB:
		use, adminFlag, nameFlag = "mongo --uri URI --db NAME [--db NAME ...] --to DIR|s3://bucket/prefix", "uri", "db"
	case termshift.RabbitMQ:
		use, adminFlag, nameFlag = "rabbitmq --management URL --vhost NAME [--vhost NAME ...] --to DIR|s3://bucket/prefix", "management", "vhost"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: "Back up " + string(svc) + " namespaces named on the command line, in the format restore reads",
		Long: `Back up namespaces of one server to --to (a directory or s3://bucket/prefix;
S3 settings from the environment file when there is one, else the AWS chain and
TERMSHIFT_S3_ENDPOINT) as snapshot --id, with the manifest written last.
Credentials in --dsn, --uri and --management-password may be given as $VAR
references to keep them out of argv and shell history: --dsn '$MYSQL_ADMIN_DSN'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for flag, v := range map[string]string{"--" + adminFlag: admin, "--to": opts.To} {
				if v == "" {
					return usageError{fmt.Errorf("%s is required", flag)}
				}
			}
			if len(names) == 0 {
				return usageError{fmt.Errorf("--%s is required (one per %s)", nameFlag, nameFlag)}
			}
			if mgmtPassword == "" {
				mgmtPassword = os.Getenv("TERMSHIFT_RABBITMQ_MANAGEMENT_PASSWORD")
			}
			snap := wiring.Snapshotter(svc, termshift.Secret(a.flagSecret(admin)), mgmtUser, termshift.Secret(a.flagSecret(mgmtPassword)))
			s3 := restore.S3Options{Endpoint: os.Getenv("TERMSHIFT_S3_ENDPOINT"), Region: os.Getenv("TERMSHIFT_S3_REGION"), PathStyle: os.Getenv("TERMSHIFT_S3_ENDPOINT") != ""}
			if env, err := a.environment(); err == nil {
				s3 = rollout.S3Options(env.Backup.S3)
			} else if !errors.Is(err, termshift.ErrNotFound) {
				return err
			}
			opts.S3 = &s3
			if !a.jsonOut {
				opts.Progress = newProgress(a.stderr).Event
			}
			rep, err := rollout.BackupNamespaces(cmd.Context(), svc, snap, names, opts)
			return a.printBackup(rep, err)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.To, "to", "", "destination: a directory or s3://bucket/prefix")
	f.StringArrayVar(&names, nameFlag, nil, "a "+nameFlag+" to back up (repeat for several)")
	switch svc {
	case termshift.MySQL:
		f.StringVar(&admin, adminFlag, "", "admin DSN (go-sql-driver format; RELOAD for the read lock), or $VAR naming it")
	case termshift.MongoDB:
		f.StringVar(&admin, adminFlag, "", "admin URI, or $VAR naming it")
	case termshift.RabbitMQ:
		f.StringVar(&admin, adminFlag, "", "management API URL, e.g. http://127.0.0.1:15672")
		f.StringVar(&mgmtUser, "management-user", "guest", "management API user")
		f.StringVar(&mgmtPassword, "management-password", "", "management API password, or $VAR naming it (default: $TERMSHIFT_RABBITMQ_MANAGEMENT_PASSWORD)")
	}
	backupFlags(cmd, &opts, svc == termshift.MongoDB)
	a.addJSONFlag(cmd)
	return cmd
}

// printBackup prints a backup's report: --json whole, else a summary.
func (a *app) printBackup(rep *backup.Report, err error) error {
	if rep == nil {
		return err
	}
	if a.jsonOut {
		if jerr := a.printJSON(rep); jerr != nil {
			return jerr
		}
		return err
	}
	if rep.Cleared {
		fmt.Fprintf(a.stdout, "removed the partial snapshot a killed backup left in %s, and wrote it again\n", rep.Snapshot)
	}
	for _, sr := range rep.Services {
		i := sr.Info
		var n int64
		for _, o := range i.Objects {
			n += o.Count
		}
		unit := map[termshift.Service]string{termshift.MySQL: "tables", termshift.MongoDB: "collections", termshift.RabbitMQ: "kinds of definitions"}[i.Service]
		count := map[termshift.Service]string{termshift.MySQL: "rows", termshift.MongoDB: "documents", termshift.RabbitMQ: "definitions"}[i.Service]
		fmt.Fprintf(a.stdout, "%-8s %d %s, %d %s, %d files, %s in %.1fs (server %s)\n", i.Service, len(i.Objects), unit, n, count, sr.Files, human(float64(sr.Bytes)), sr.Seconds, i.Server)
		if i.Service == termshift.MySQL {
			fmt.Fprintf(a.stdout, "         global read lock held %s (waited %s for it)", fmtDur(i.LockHeld), fmtDur(i.LockWait))
			if p := i.Binlog; p != nil {
				fmt.Fprintf(a.stdout, "; binary log %s:%d", p.File, p.Position)
				if p.GTID != "" {
					fmt.Fprintf(a.stdout, " GTID %s", p.GTID)
				}
			} else {
				fmt.Fprint(a.stdout, "; the server keeps no binary log")
			}
			fmt.Fprintln(a.stdout)
		}
		fmt.Fprintf(a.stdout, "         %s\n", i.Consistency)
		for _, w := range i.Warnings {
			fmt.Fprintf(a.stdout, "warning: %s\n", w)
		}
	}
	if err != nil {
		fmt.Fprintf(a.stdout, "backup %s did NOT finish: it has no %s and is never taken for a complete snapshot\n", rep.Snapshot, restore.ManifestName)
		return err
	}
	fmt.Fprintf(a.stdout, "snapshot %s: %d files, %s in %.1fs; %s written last\n", rep.Snapshot, rep.Files, human(float64(rep.Bytes)), rep.Seconds, restore.ManifestName)
	return nil
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return d.Round(10 * time.Millisecond).String()
}
