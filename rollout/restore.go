package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
)

// S3Options turns the environment's S3 settings into the restore package's.
func S3Options(c envfile.S3Config) restore.S3Options {
	return restore.S3Options{Endpoint: c.Endpoint, Region: c.Region, PathStyle: c.PathStyle, AccessKey: c.AccessKey, SecretKey: termshift.Secret(c.SecretKey)}
}

// MaxThreads bounds --threads: beyond it a restore only exhausts the
// server's connections.
const MaxThreads = 64

// checkThreads refuses a --threads outside 1..MaxThreads (0 = the default).
func checkThreads(n int) error {
	if n < 0 || n > MaxThreads {
		return fmt.Errorf("--threads %d: want 1 to %d (0 for the default): %w", n, MaxThreads, termshift.ErrInvalid)
	}
	return nil
}

// BackupRef names the backup to read: a source (directory, file or
// s3://bucket/prefix) and, when the source holds snapshots, which one.
type BackupRef struct {
	Source   string
	S3       envfile.S3Config
	Snapshot string // "" = the newest
	BaseDir  string // relative sources resolve against it
}

// OpenBackup opens a backup source and, when it holds snapshots, the chosen
// snapshot. It returns the source rooted at the snapshot (or at the source
// itself when it holds none), the snapshot (ID "" when none), and the path
// inside it of a single file source.
func OpenBackup(ctx context.Context, b BackupRef) (restore.Source, restore.Snapshot, string, error) {
	uri := BackupURI(b.Source, b.BaseDir)
	if !strings.HasPrefix(uri, "s3://") {
		// A single local file: its directory is the source.
		if fi, err := os.Stat(uri); err == nil && !fi.IsDir() {
			return restore.Dir{Root: filepath.Dir(uri)}, restore.Snapshot{}, filepath.Base(uri), nil
		}
	}
	src, err := restore.OpenSource(ctx, uri, S3Options(b.S3))
	if err != nil {
		return nil, restore.Snapshot{}, "", err
	}
	if _, ok := src.(*restore.S3); ok {
		// A single object: its prefix's directory is the source.
		if files, err := src.List(ctx, ""); err == nil && len(files) == 0 {
			dir, file := path.Split(strings.TrimSuffix(uri, "/"))
			if fsrc, ferr := restore.OpenSource(ctx, dir, S3Options(b.S3)); ferr == nil {
				if list, lerr := fsrc.List(ctx, ""); lerr == nil {
					for _, f := range list {
						if f.Name == file {
							return fsrc, restore.Snapshot{}, file, nil
						}
					}
				}
			}
		}
	}
	snaps, err := restore.Snapshots(ctx, src)
	if err != nil {
		return nil, restore.Snapshot{}, "", err
	}
	if len(snaps) == 0 {
		if b.Snapshot != "" {
			return nil, restore.Snapshot{}, "", fmt.Errorf("--snapshot %s: %s holds no snapshots: %w", termshift.Quote(b.Snapshot), src, termshift.ErrNotFound)
		}
		return src, restore.Snapshot{}, "", nil
	}
	sub, snap, err := restore.OpenSnapshot(ctx, src, b.Snapshot)
	if err != nil {
		return nil, restore.Snapshot{}, "", err
	}
	return sub, snap, "", nil
}

// BackupURI is a backup source as restore opens it: s3:// as written, a
// local path resolved against the environment file's directory.
func BackupURI(source, baseDir string) string {
	if strings.HasPrefix(source, "s3://") {
		return source
	}
	return envfile.Resolve(baseDir, source)
}

// pick finds the backup of one service's database inside a snapshot: a
// single file named after the database (NAME.sql[.gz], NAME.archive[.gz]),
// else the service's directory.
func pick(ctx context.Context, src restore.Source, dir, name string, suffixes ...string) (string, error) {
	files, err := src.List(ctx, dir)
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", fmt.Errorf("the backup %s holds nothing under %s/: %w", src, dir, termshift.ErrNotFound)
	}
	for _, suf := range suffixes {
		want := path.Join(dir, name+suf)
		for _, f := range files {
			if f.Name == want {
				return want, nil
			}
		}
	}
	return dir, nil
}

// RestoreRequest restores one namespace: the standalone `restore mysql`,
// `restore mongo` and `restore rabbitmq` commands, and each namespace of
// `restore RELEASE`.
type RestoreRequest struct {
	Service termshift.Service
	Backup  BackupRef
	restore.Request
	// AcceptUnproven restores a backup that carries no evidence of being
	// complete (no trailer, no finish line, no manifest); without it such a
	// restore fails after loading, and says why.
	AcceptUnproven bool
}

// RestoreNamespace loads one namespace from a backup with loader and
// proves it.
func RestoreNamespace(ctx context.Context, loader Loader, req RestoreRequest) (*restore.Report, restore.Snapshot, error) {
	if err := checkThreads(req.Threads); err != nil {
		return nil, restore.Snapshot{}, err
	}
	src, snap, file, err := OpenBackup(ctx, req.Backup)
	if err != nil {
		return nil, snap, err
	}
	if file == "" && req.Manifest == nil {
		// A snapshot's manifest, when it has one, is checked by the loader
		// before it touches anything, and proves the snapshot complete.
		if req.Manifest, err = restore.ReadManifest(ctx, src); err != nil {
			return nil, snap, err
		}
	}
	p := file
	if p == "" {
		var err error
		switch req.Service {
		case termshift.MySQL:
			p, err = pick(ctx, src, dirFor(snap, "mysql"), req.From, ".sql.gz", ".sql")
		case termshift.MongoDB:
			p, err = pick(ctx, src, dirFor(snap, "mongo"), req.From, ".archive.gz", ".archive", ".agz")
		case termshift.RabbitMQ:
			p, err = pick(ctx, src, dirFor(snap, "rabbitmq"), "definitions", ".json.gz", ".json")
		default:
			return nil, snap, fmt.Errorf("restore: unsupported service %q: %w", req.Service, termshift.ErrInvalid)
		}
		if err != nil {
			return nil, snap, err
		}
	}
	rep, err := loader.Load(ctx, src, p, req.Request)
	if err != nil {
		return rep, snap, err
	}
	if !rep.OK() {
		return rep, snap, fmt.Errorf("restore %s %s: the proof does not hold: %s", req.Service, termshift.Quote(req.To), rep.Gaps())
	}
	if !rep.Completeness.Proven && !req.AcceptUnproven {
		return rep, snap, termshift.WithHint(fmt.Errorf("restore %s %s: backup completeness not proven: %s: %w", req.Service, termshift.Quote(req.To), rep.Completeness.Missing, ErrUnproven),
			"the counts match what the backup holds, but nothing proves the backup holds everything; check it, then pass --accept-unproven-backup --reason TEXT (journaled), or restore a backup made by `termshift backup`, whose manifest proves it")
	}
	return rep, snap, nil
}

// dirFor is the service directory inside a snapshot; a source without
// snapshots is the service's backup itself.
func dirFor(snap restore.Snapshot, svc string) string {
	if snap.ID == "" {
		return "."
	}
	return svc
}

// ErrUnproven: a backup carries no evidence that it is complete.
var ErrUnproven = errors.New("backup completeness not proven")

// RestoreOptions configures `restore RELEASE`.
type RestoreOptions struct {
	Snapshot     string
	Threads      int
	DropExisting bool
	Resume       bool
	// AcceptUnproven accepts backups without evidence of completeness
	// (journaled, with the reason).
	AcceptUnproven bool
	Progress       restore.Progress
}

// RestoreResult is one namespace's restore.
type RestoreResult struct {
	Namespace termshift.Namespace `json:"namespace"`
	Status    string              `json:"status"` // restored, failed, skipped
	Report    *restore.Report     `json:"report,omitempty"`
	Error     string              `json:"error,omitempty"`
}

// Restore loads every MySQL, MongoDB and RabbitMQ namespace of a carved
// release from the environment's backup source and records each proof in
// state. A namespace is restored in state only after its proof holds.
func (o *Orchestrator) Restore(ctx context.Context, release string, opts RestoreOptions) ([]RestoreResult, restore.Snapshot, error) {
	if _, err := o.spec(release); err != nil {
		return nil, restore.Snapshot{}, err
	}
	if err := checkThreads(opts.Threads); err != nil {
		return nil, restore.Snapshot{}, err
	}
	if skip, err := o.skipShared(ctx, release, "restore"); err != nil || skip {
		return nil, restore.Snapshot{}, err
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, restore.Snapshot{}, err
	}
	if err := o.refuseProtected(s, release, "restore into"); err != nil {
		o.journal(ctx, release, "restore", "refused", err.Error())
		return nil, restore.Snapshot{}, err
	}
	if err := o.refuseRunningSharers(s, release, "restore into"); err != nil {
		o.journal(ctx, release, "restore", "refused", err.Error())
		return nil, restore.Snapshot{}, err
	}
	rs := s.Releases[release]
	if rs == nil || !rs.StepDone("carve") {
		return nil, restore.Snapshot{}, termshift.WithHint(fmt.Errorf("release %s is not carved: %w", termshift.Quote(release), termshift.ErrNotFound), "run `termshift carve "+release+"` first")
	}
	if err := refuseFollowed(rs, "restore into"); err != nil {
		return nil, restore.Snapshot{}, err
	}
	backup := BackupRef{Source: o.Env.Backup.Source, S3: o.Env.Backup.S3, Snapshot: opts.Snapshot, BaseDir: o.Env.Dir}
	_, snap, _, err := OpenBackup(ctx, backup)
	if err != nil {
		return nil, snap, err
	}
	backup.Snapshot = snap.ID
	if err := o.refuseReplacing(ctx, rs, snap, opts); err != nil {
		return nil, snap, err
	}
	if err := os.MkdirAll(filepath.Dir(o.checkpointPath(release, "x")), 0o700); err != nil {
		return nil, snap, fmt.Errorf("create restore checkpoint directory: %w", err)
	}
	if opts.AcceptUnproven && strings.TrimSpace(o.Reason) == "" {
		return nil, snap, fmt.Errorf("--accept-unproven-backup needs --reason TEXT: it is journaled: %w", termshift.ErrInvalid)
	}
	o.journal(ctx, release, "restore", "started", "snapshot "+snap.ID+" from "+o.Env.Backup.Source)
	var results []RestoreResult
	var done, failed []string
	var errs []error
	for _, svc := range []termshift.Service{termshift.MySQL, termshift.MongoDB, termshift.RabbitMQ} {
		for _, db := range o.Env.LogicalDBs(svc) {
			if err := o.checkLock(ctx); err != nil {
				return results, snap, err
			}
			ns := rs.Namespace(svc, db.Name)
			if ns == nil {
				return results, snap, fmt.Errorf("release %s has no %s namespace for %s: carve it again: %w", termshift.Quote(release), svc, termshift.Quote(db.Name), termshift.ErrNotFound)
			}
			from := db.Backup
			if from == "" {
				from = db.Name
			}
			if opts.Resume && ns.Status == store.NSRestored && ns.Proof != nil && ns.Proof.Source == snap.ID {
				results = append(results, RestoreResult{Namespace: ns.Namespace, Status: "skipped"})
				done = append(done, ns.Namespace.String())
				continue
			}
			loader, ok := o.P.Loaders[svc]
			if !ok {
				return results, snap, fmt.Errorf("no %s loader: servers.%s is not configured: %w", svc, svc, termshift.ErrInvalid)
			}
			// termshift's own half-load (never proven) may be replaced;
			// data restored and proven before only with --drop-existing.
			halfLoaded := ns.Status == store.NSRestoring || ns.Status == store.NSFailed
			ns.Status, ns.Error = store.NSRestoring, ""
			if err := o.SaveState(ctx, s); err != nil {
				return results, snap, err
			}
			// A loader logs each object when debugging; the progress lines and
			// the report say the rest.
			var logger *slog.Logger
			if o.Logger.Enabled(ctx, slog.LevelDebug) {
				logger = o.Logger
			}
			req := RestoreRequest{Service: svc, Backup: backup, AcceptUnproven: opts.AcceptUnproven, Request: restore.Request{From: from, To: ns.Name, Threads: opts.Threads,
				DropExisting: opts.DropExisting || halfLoaded, Resume: opts.Resume && halfLoaded,
				Checkpoint: o.checkpointPath(release, ns.Name), Progress: opts.Progress, Logger: logger}}
			start := o.Now()
			var before *store.BinlogPos
			if svc == termshift.MySQL && !req.Resume {
				before = o.binlogHead(ctx)
			}
			o.printf("restoring %s from %s ...\n", ns.Namespace, termshift.Quote(from))
			rep, _, err := RestoreNamespace(ctx, loader, req)
			if errors.Is(err, termshift.ErrRefused) && !req.DropExisting {
				err = termshift.WithHint(err, "the namespace already holds data: pass --drop-existing to replace it")
			}
			res := RestoreResult{Namespace: ns.Namespace, Report: rep}
			if err != nil {
				ns.Status, ns.Error = store.NSFailed, err.Error()
				res.Status, res.Error = "failed", err.Error()
				failed = append(failed, ns.Namespace.String())
				errs = append(errs, fmt.Errorf("%s: %w", ns.Namespace, err))
			} else {
				ns.Status = store.NSRestored
				ns.Proof = proofOf(rep, snap.ID, start, o.Now())
				ns.Proof.Binlog = before
				res.Status = "restored"
				done = append(done, ns.Namespace.String())
				if !rep.Completeness.Proven {
					ns.Proof.Unproven = orNone(rep.Completeness.Missing)
					o.journal(ctx, release, "restore", "forced", fmt.Sprintf("%s: accepted a backup whose completeness is not proven (%s)", ns.Namespace, rep.Completeness.Missing))
				}
			}
			results = append(results, res)
			if err := o.SaveState(ctx, s); err != nil {
				return results, snap, err
			}
		}
	}
	now := o.Now()
	rs.ChangedAt = now
	rs.Snapshot = snap.ID
	if len(failed) > 0 {
		rs.SetStep("restore", "failed", fmt.Sprintf("%d of %d namespaces failed", len(failed), len(results)), now)
		_ = o.SaveState(ctx, s)
		perr := &termshift.PartialError{Op: "restore " + release, Done: done, Failed: failed, Err: errors.Join(errs...)}
		o.journal(ctx, release, "restore", "failed", perr.Error())
		return results, snap, termshift.WithHint(perr, "fix the cause and run `termshift restore "+release+" --resume --snapshot "+snap.ID+"`: finished namespaces are kept")
	}
	rs.SetStep("restore", "done", "snapshot "+snap.ID, now)
	delete(rs.Steps, "scrub") // new data: scrub must run again
	if err := o.SaveState(ctx, s); err != nil {
		return results, snap, err
	}
	o.journal(ctx, release, "restore", "done", fmt.Sprintf("%d namespaces from snapshot %s", len(results), snap.ID))
	return results, snap, nil
}

// refuseReplacing refuses, before anything is touched, a restore that would
// replace proven data without --drop-existing, and a resume from another
// snapshot than the one the namespaces were (half) restored from: every
// service is checked first, so none is loaded from a different night.
func (o *Orchestrator) refuseReplacing(ctx context.Context, rs *store.ReleaseState, snap restore.Snapshot, opts RestoreOptions) error {
	if opts.DropExisting {
		return nil
	}
	var proven, other []string
	for _, ns := range rs.Namespaces {
		if ns.Service == termshift.Memcached {
			continue
		}
		started := ns.Status == store.NSRestoring || ns.Status == store.NSFailed
		if opts.Resume && started && rs.Snapshot != "" && rs.Snapshot != snap.ID {
			other = append(other, fmt.Sprintf("%s (snapshot %s)", ns.Namespace, rs.Snapshot))
		}
		if ns.Proof == nil || (ns.Status != store.NSRestored && ns.Status != store.NSScrubbed) {
			continue
		}
		if opts.Resume && ns.Proof.Source == snap.ID {
			continue
		}
		proven = append(proven, fmt.Sprintf("%s (snapshot %s)", ns.Namespace, ns.Proof.Source))
	}
	release := rs.Name
	if len(other) > 0 {
		err := fmt.Errorf("refusing to resume %s from snapshot %s: it was restoring another snapshot: %s: %w", termshift.Quote(release), snap.ID, strings.Join(other, ", "), termshift.ErrRefused)
		o.journal(ctx, release, "restore", "refused", err.Error())
		return termshift.WithHint(err, fmt.Sprintf("resume the same night with `termshift restore %s --resume --snapshot %s`, or load snapshot %s from scratch with `termshift restore %s --drop-existing --snapshot %s`", release, rs.Snapshot, snap.ID, release, snap.ID))
	}
	if len(proven) > 0 {
		err := fmt.Errorf("refusing to restore into %s: already restored: %s: %w", termshift.Quote(release), strings.Join(proven, ", "), termshift.ErrRefused)
		o.journal(ctx, release, "restore", "refused", err.Error())
		return termshift.WithHint(err, "pass --drop-existing to replace that data with snapshot "+snap.ID)
	}
	return nil
}

func proofOf(rep *restore.Report, snapshot string, start, end time.Time) *store.Proof {
	p := &store.Proof{At: end, Source: snapshot, Objects: map[string]int64{}, Seconds: end.Sub(start).Seconds()}
	for _, obj := range rep.Objects {
		p.Objects[obj.Name] = obj.Loaded
		p.Bytes += obj.Bytes
		if obj.Hash != "" {
			if p.Hashes == nil {
				p.Hashes = map[string]string{}
			}
			p.Hashes[obj.Name] = obj.Hash
		}
	}
	return p
}

// Backups lists the snapshots at the environment's backup source.
func (o *Orchestrator) Backups(ctx context.Context) ([]restore.Snapshot, error) {
	src, err := restore.OpenSource(ctx, BackupURI(o.Env.Backup.Source, o.Env.Dir), S3Options(o.Env.Backup.S3))
	if err != nil {
		return nil, err
	}
	return restore.Snapshots(ctx, src)
}

// UploadSnapshot copies a local snapshot directory to s3://bucket/prefix/ID.
func UploadSnapshot(ctx context.Context, s3cfg envfile.S3Config, dir, dst, id string) (int, int64, error) {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return 0, 0, fmt.Errorf("upload: %s is not a directory: %w", dir, termshift.ErrNotFound)
	}
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(dst, "s3://"), "/")
	if bucket == "" {
		return 0, 0, fmt.Errorf("upload: %q names no bucket: %w", dst, termshift.ErrInvalid)
	}
	s3, err := restore.NewS3(ctx, bucket, strings.TrimSuffix(prefix, "/"), S3Options(s3cfg))
	if err != nil {
		return 0, 0, err
	}
	return restore.Upload(ctx, s3, restore.Dir{Root: dir}, "", id)
}
