package rollout

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
	rmongo "github.com/termshift/termshift/restore/mongo"
	rmysql "github.com/termshift/termshift/restore/mysql"
	rrabbitmq "github.com/termshift/termshift/restore/rabbitmq"
)

// S3Options turns the environment's S3 settings into the restore package's.
func (c S3Config) S3Options() restore.S3Options {
	return restore.S3Options{Endpoint: c.Endpoint, Region: c.Region, PathStyle: c.PathStyle, AccessKey: c.AccessKey, SecretKey: termshift.Secret(c.SecretKey)}
}

// BackupRef names the backup to read: a source (directory, file or
// s3://bucket/prefix) and, when the source holds snapshots, which one.
type BackupRef struct {
	Source   string
	S3       S3Config
	Snapshot string // "" = the newest
	BaseDir  string // relative sources resolve against it
}

// OpenBackup opens a backup source and, when it holds snapshots, the chosen
// snapshot. It returns the source rooted at the snapshot (or at the source
// itself when it holds none), the snapshot (ID "" when none), and the path
// inside it of a single file source.
func OpenBackup(ctx context.Context, b BackupRef) (restore.Source, restore.Snapshot, string, error) {
	uri := backupURI(b.Source, b.BaseDir)
	if !strings.HasPrefix(uri, "s3://") {
		// A single local file: its directory is the source.
		if fi, err := os.Stat(uri); err == nil && !fi.IsDir() {
			return restore.Dir{Root: filepath.Dir(uri)}, restore.Snapshot{}, filepath.Base(uri), nil
		}
	}
	src, err := restore.OpenSource(ctx, uri, b.S3.S3Options())
	if err != nil {
		return nil, restore.Snapshot{}, "", err
	}
	if _, ok := src.(*restore.S3); ok {
		// A single object: its prefix's directory is the source.
		if files, err := src.List(ctx, ""); err == nil && len(files) == 0 {
			dir, file := path.Split(strings.TrimSuffix(uri, "/"))
			if fsrc, ferr := restore.OpenSource(ctx, dir, b.S3.S3Options()); ferr == nil {
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

// backupURI is a backup source as restore opens it: s3:// as written, a
// local path resolved against the environment file's directory.
func backupURI(source, baseDir string) string {
	if strings.HasPrefix(source, "s3://") {
		return source
	}
	return resolve(baseDir, source)
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
	Service      termshift.Service
	Backup       BackupRef
	From, To     string
	Admin        termshift.Secret // MySQL DSN or MongoDB URI
	Management   string           // RabbitMQ management URL
	MgmtUser     string
	MgmtPassword termshift.Secret
	Threads      int
	DropExisting bool
	Resume       bool
	Checkpoint   string
	Progress     restore.Progress
}

// RestoreNamespace loads one namespace from a backup and proves it.
func RestoreNamespace(ctx context.Context, req RestoreRequest, logger interface{ Info(string, ...any) }) (*restore.Report, restore.Snapshot, error) {
	src, snap, file, err := OpenBackup(ctx, req.Backup)
	if err != nil {
		return nil, snap, err
	}
	var manifest *restore.Manifest
	if file == "" {
		// A snapshot's manifest, when it has one, is checked by the loader
		// before it touches anything.
		if manifest, err = restore.ReadManifest(ctx, src); err != nil {
			return nil, snap, err
		}
	}
	var rep *restore.Report
	switch req.Service {
	case termshift.MySQL:
		p := file
		if p == "" {
			if p, err = pick(ctx, src, dirFor(snap, "mysql"), req.From, ".sql.gz", ".sql"); err != nil {
				return nil, snap, err
			}
		}
		rep, err = (&rmysql.Loader{DSN: req.Admin}).Load(ctx, src, p, restore.Request{From: req.From, To: req.To, Threads: req.Threads,
			DropExisting: req.DropExisting, Resume: req.Resume, Checkpoint: req.Checkpoint, Manifest: manifest, Progress: req.Progress})
	case termshift.MongoDB:
		p := file
		if p == "" {
			if p, err = pick(ctx, src, dirFor(snap, "mongo"), req.From, ".archive.gz", ".archive", ".agz"); err != nil {
				return nil, snap, err
			}
		}
		rep, err = (&rmongo.Loader{URI: req.Admin}).Load(ctx, src, p, restore.Request{From: req.From, To: req.To, Threads: req.Threads,
			DropExisting: req.DropExisting, Manifest: manifest, Progress: req.Progress})
	case termshift.RabbitMQ:
		p := file
		if p == "" {
			if p, err = pick(ctx, src, dirFor(snap, "rabbitmq"), "definitions", ".json"); err != nil {
				return nil, snap, err
			}
		}
		rep, err = (&rrabbitmq.Loader{ManagementURL: req.Management, User: req.MgmtUser, Password: req.MgmtPassword}).Load(ctx, src, p,
			restore.Request{From: req.From, To: req.To, DropExisting: req.DropExisting, Resume: req.Resume, Manifest: manifest, Progress: req.Progress})
	default:
		return nil, snap, fmt.Errorf("restore: unsupported service %q: %w", req.Service, termshift.ErrInvalid)
	}
	if err != nil {
		return rep, snap, err
	}
	if !rep.OK() {
		return rep, snap, fmt.Errorf("restore %s %s: the proof does not hold: %s", req.Service, termshift.Quote(req.To), proofGap(rep))
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

func proofGap(rep *restore.Report) string {
	var gaps []string
	for _, o := range rep.Objects {
		if o.Expected != o.Loaded {
			gaps = append(gaps, fmt.Sprintf("%s: %d in the backup, %d loaded", o.Name, o.Expected, o.Loaded))
		} else if o.Hash != o.HashLoaded {
			gaps = append(gaps, fmt.Sprintf("%s: document hash differs", o.Name))
		}
	}
	return strings.Join(gaps, "; ")
}

// RestoreOptions configures `restore RELEASE`.
type RestoreOptions struct {
	Snapshot     string
	Threads      int
	DropExisting bool
	Resume       bool
	Progress     restore.Progress
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
	s, err := o.loadState()
	if err != nil {
		return nil, restore.Snapshot{}, err
	}
	if err := refuseProtected(s, release, "restore into"); err != nil {
		o.journal(release, "restore", "refused", err.Error())
		return nil, restore.Snapshot{}, err
	}
	rs := s.Releases[release]
	if rs == nil || !rs.StepDone("carve") {
		return nil, restore.Snapshot{}, termshift.WithHint(fmt.Errorf("release %s is not carved: %w", termshift.Quote(release), termshift.ErrNotFound), "run `termshift carve "+release+"` first")
	}
	backup := BackupRef{Source: o.Env.Backup.Source, S3: o.Env.Backup.S3, Snapshot: opts.Snapshot, BaseDir: o.Env.Dir}
	_, snap, _, err := OpenBackup(ctx, backup)
	if err != nil {
		return nil, snap, err
	}
	backup.Snapshot = snap.ID
	// Proven data is replaced only with --drop-existing; refuse before
	// anything is touched (a resume keeps what the same snapshot proved).
	if !opts.DropExisting {
		var proven []string
		for _, ns := range rs.Namespaces {
			if ns.Service == termshift.Memcached || ns.Proof == nil || (ns.Status != NSRestored && ns.Status != NSScrubbed) {
				continue
			}
			if opts.Resume && ns.Proof.Source == snap.ID {
				continue
			}
			proven = append(proven, fmt.Sprintf("%s (snapshot %s)", ns.Namespace, ns.Proof.Source))
		}
		if len(proven) > 0 {
			err := fmt.Errorf("refusing to restore into %s: already restored: %s: %w", termshift.Quote(release), strings.Join(proven, ", "), termshift.ErrRefused)
			o.journal(release, "restore", "refused", err.Error())
			return nil, snap, termshift.WithHint(err, "pass --drop-existing to replace that data with snapshot "+snap.ID)
		}
	}
	if err := os.MkdirAll(filepath.Dir(o.Store.CheckpointPath(release, "x")), 0o700); err != nil {
		return nil, snap, fmt.Errorf("create restore checkpoint directory: %w", err)
	}
	o.journal(release, "restore", "started", "snapshot "+snap.ID+" from "+o.Env.Backup.Source)
	var results []RestoreResult
	var done, failed []string
	var errs []error
	for _, svc := range []termshift.Service{termshift.MySQL, termshift.MongoDB, termshift.RabbitMQ} {
		for _, db := range o.logicalDBs(svc) {
			if err := o.checkLock(); err != nil {
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
			if opts.Resume && ns.Status == NSRestored && ns.Proof != nil && ns.Proof.Source == snap.ID {
				results = append(results, RestoreResult{Namespace: ns.Namespace, Status: "skipped"})
				done = append(done, ns.Namespace.String())
				continue
			}
			// termshift's own half-load (never proven) may be replaced;
			// data restored and proven before only with --drop-existing.
			halfLoaded := ns.Status == NSRestoring || ns.Status == NSFailed
			ns.Status, ns.Error = NSRestoring, ""
			if err := o.saveState(s); err != nil {
				return results, snap, err
			}
			req := RestoreRequest{Service: svc, Backup: backup, From: from, To: ns.Name, Threads: opts.Threads,
				DropExisting: opts.DropExisting || halfLoaded, Resume: opts.Resume,
				Checkpoint: o.Store.CheckpointPath(release, ns.Name), Progress: opts.Progress}
			o.adminFor(&req)
			start := o.Now()
			o.printf("restoring %s from %s ...\n", ns.Namespace, termshift.Quote(from))
			rep, _, err := RestoreNamespace(ctx, req, o.Logger)
			if errors.Is(err, termshift.ErrRefused) && !req.DropExisting {
				err = termshift.WithHint(err, "the namespace already holds data: pass --drop-existing to replace it")
			}
			res := RestoreResult{Namespace: ns.Namespace, Report: rep}
			if err != nil {
				ns.Status, ns.Error = NSFailed, err.Error()
				res.Status, res.Error = "failed", err.Error()
				failed = append(failed, ns.Namespace.String())
				errs = append(errs, fmt.Errorf("%s: %w", ns.Namespace, err))
			} else {
				ns.Status = NSRestored
				ns.Proof = proofOf(rep, snap.ID, start, o.Now())
				res.Status = "restored"
				done = append(done, ns.Namespace.String())
			}
			results = append(results, res)
			if err := o.saveState(s); err != nil {
				return results, snap, err
			}
		}
	}
	now := o.Now()
	rs.ChangedAt = now
	rs.Snapshot = snap.ID
	if len(failed) > 0 {
		rs.SetStep("restore", "failed", fmt.Sprintf("%d of %d namespaces failed", len(failed), len(results)), now)
		_ = o.saveState(s)
		perr := &termshift.PartialError{Op: "restore " + release, Done: done, Failed: failed, Err: errors.Join(errs...)}
		o.journal(release, "restore", "failed", perr.Error())
		return results, snap, termshift.WithHint(perr, "fix the cause and run `termshift restore "+release+" --resume`: finished namespaces are kept")
	}
	rs.SetStep("restore", "done", "snapshot "+snap.ID, now)
	delete(rs.Steps, "scrub") // new data: scrub must run again
	if err := o.saveState(s); err != nil {
		return results, snap, err
	}
	o.journal(release, "restore", "done", fmt.Sprintf("%d namespaces from snapshot %s", len(results), snap.ID))
	return results, snap, nil
}

// adminFor fills a request's admin credentials from the environment.
func (o *Orchestrator) adminFor(req *RestoreRequest) {
	s := o.Env.Servers
	switch req.Service {
	case termshift.MySQL:
		req.Admin = termshift.Secret(s.MySQL.DSN)
	case termshift.MongoDB:
		req.Admin = termshift.Secret(s.Mongo.URI)
	case termshift.RabbitMQ:
		req.Management, req.MgmtUser, req.MgmtPassword = s.RabbitMQ.ManagementURL, s.RabbitMQ.ManagementUser, termshift.Secret(s.RabbitMQ.ManagementPassword)
	}
}

func proofOf(rep *restore.Report, snapshot string, start, end time.Time) *Proof {
	p := &Proof{At: end, Source: snapshot, Objects: map[string]int64{}, Seconds: end.Sub(start).Seconds()}
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
	src, err := restore.OpenSource(ctx, backupURI(o.Env.Backup.Source, o.Env.Dir), o.Env.Backup.S3.S3Options())
	if err != nil {
		return nil, err
	}
	return restore.Snapshots(ctx, src)
}

// UploadSnapshot copies a local snapshot directory to s3://bucket/prefix/ID.
func UploadSnapshot(ctx context.Context, s3cfg S3Config, dir, dst, id string) (int, int64, error) {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return 0, 0, fmt.Errorf("upload: %s is not a directory: %w", dir, termshift.ErrNotFound)
	}
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(dst, "s3://"), "/")
	if bucket == "" {
		return 0, 0, fmt.Errorf("upload: %q names no bucket: %w", dst, termshift.ErrInvalid)
	}
	s3, err := restore.NewS3(ctx, bucket, strings.TrimSuffix(prefix, "/"), s3cfg.S3Options())
	if err != nil {
		return 0, 0, err
	}
	return restore.Upload(ctx, s3, restore.Dir{Root: dir}, "", id)
}
