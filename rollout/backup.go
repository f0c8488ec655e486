package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
	"github.com/termshift/termshift/restore"
)

// BackupOptions configures Backup and BackupNamespaces.
type BackupOptions struct {
	// To is a directory or s3://bucket/prefix; "" = the environment's
	// backup source.
	To string
	// ID is the snapshot's directory under To; "" = now, UTC, so it is the
	// newest.
	ID        string
	Compress  string // backup.CompressGzip (the default) or backup.CompressNone
	Threads   int
	ChunkRows int64
	Archive   bool // MongoDB: one --archive file per database
	// S3 reaches an s3:// destination; nil = the environment's settings.
	S3       *restore.S3Options
	Progress restore.Progress
}

// snapshotServices are the services a backup or a sync copies, in order.
var snapshotServices = []termshift.Service{termshift.MySQL, termshift.MongoDB, termshift.RabbitMQ}

// backupName is a logical database's name in backups: its backup name in
// the environment file, else the logical name.
func (o *Orchestrator) backupName(svc termshift.Service, logical string) string {
	for _, db := range o.Env.LogicalDBs(svc) {
		if db.Name == logical && db.Backup != "" {
			return db.Backup
		}
	}
	return logical
}

// Backup writes a snapshot of a release's MySQL, MongoDB and RabbitMQ
// namespaces, each under the name the environment's backups give it, so
// that `restore` and `upgrade --snapshot ID` take it like the nightly
// backup. It only reads the release; it needs no lock.
func (o *Orchestrator) Backup(ctx context.Context, release string, opts BackupOptions) (*backup.Report, error) {
	if _, err := o.spec(release); err != nil {
		return nil, err
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	rs := s.Releases[release]
	if rs == nil || len(rs.Namespaces) == 0 {
		return nil, termshift.WithHint(fmt.Errorf("release %s has no namespaces to back up: %w", termshift.Quote(release), termshift.ErrNotFound),
			"carve and restore it first (`termshift upgrade "+release+"`)")
	}
	names := map[termshift.Service]map[string]string{}
	for _, ns := range rs.Namespaces {
		if ns.Service == termshift.Memcached {
			continue
		}
		if names[ns.Service] == nil {
			names[ns.Service] = map[string]string{}
		}
		names[ns.Service][ns.Name] = o.backupName(ns.Service, ns.Logical)
	}
	if opts.To == "" {
		opts.To = BackupURI(o.Env.Backup.Source, o.Env.Dir)
	}
	o.journal(ctx, release, "backup", "started", "to "+opts.To)
	rep, err := o.backupTo(ctx, names, opts)
	if err != nil {
		o.journal(ctx, release, "backup", "failed", err.Error())
		return rep, err
	}
	o.journal(ctx, release, "backup", "done", describeBackup(rep))
	return rep, nil
}

// BackupNamespaces writes a snapshot of namespaces given by name, on the
// servers snap reaches (the standalone `backup mysql|mongo|rabbitmq`).
func BackupNamespaces(ctx context.Context, svc termshift.Service, snap Snapshotter, names []string, opts BackupOptions) (*backup.Report, error) {
	m := map[string]string{}
	for _, n := range names {
		m[n] = n
	}
	o := &Orchestrator{P: Providers{Snapshotters: map[termshift.Service]Snapshotter{svc: snap}}}
	return o.backupTo(ctx, map[termshift.Service]map[string]string{svc: m}, opts)
}

func (o *Orchestrator) backupTo(ctx context.Context, names map[termshift.Service]map[string]string, opts BackupOptions) (*backup.Report, error) {
	if opts.To == "" {
		return nil, fmt.Errorf("backup: no destination (--to DIR or s3://bucket/prefix): %w", termshift.ErrInvalid)
	}
	if err := checkThreads(opts.Threads); err != nil {
		return nil, err
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	if opts.ID == "" {
		opts.ID = now().UTC().Format("2006-01-02T15:04:05Z")
	}
	if opts.Compress == "" {
		opts.Compress = backup.CompressGzip
	}
	var s3 restore.S3Options
	switch {
	case opts.S3 != nil:
		s3 = *opts.S3
	case o.Env != nil:
		s3 = S3Options(o.Env.Backup.S3)
	}
	dst, err := backup.OpenDestination(ctx, opts.To, opts.ID, s3)
	if err != nil {
		return nil, err
	}
	var snaps []backup.Snapshot
	defer func() {
		for _, sn := range snaps {
			sn.Close()
		}
	}()
	for _, svc := range snapshotServices {
		if len(names[svc]) == 0 {
			continue
		}
		open, ok := o.P.Snapshotters[svc]
		if !ok {
			return nil, fmt.Errorf("backup: no %s snapshotter: servers.%s is not configured: %w", svc, svc, termshift.ErrInvalid)
		}
		sn, err := open(ctx, backup.Request{Names: names[svc], Threads: opts.Threads, ChunkRows: opts.ChunkRows, Archive: opts.Archive,
			Progress: opts.Progress, Logger: o.Logger})
		if err != nil && len(snaps) > 0 {
			err = fmt.Errorf("%w (nothing was written)", err)
		}
		if err != nil {
			return nil, err
		}
		snaps = append(snaps, sn)
	}
	return backup.Run(ctx, dst, snaps, backup.Options{Compress: opts.Compress, Threads: opts.Threads, Command: o.Command, Now: now})
}

// describeBackup is a backup's journal line: where, what, how long the
// MySQL read lock was held. Never a secret.
func describeBackup(rep *backup.Report) string {
	if rep == nil {
		return ""
	}
	var parts []string
	for _, sr := range rep.Services {
		var n int64
		for _, o := range sr.Info.Objects {
			n += o.Count
		}
		part := fmt.Sprintf("%s: %d objects, %d rows/documents/definitions, %d files", sr.Info.Service, len(sr.Info.Objects), n, sr.Files)
		if sr.Info.LockHeld > 0 {
			part += fmt.Sprintf(", read lock held %s", sr.Info.LockHeld.Round(time.Microsecond))
		}
		parts = append(parts, part)
	}
	return fmt.Sprintf("snapshot %s (%d files, %d bytes, %.1fs): %s", rep.Snapshot, rep.Files, rep.Bytes, rep.Seconds, strings.Join(parts, "; "))
}
