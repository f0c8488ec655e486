package rollout

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
	"github.com/termshift/termshift/restore"
	"github.com/termshift/termshift/rollout/store"
)

// SyncOptions configures Sync.
type SyncOptions struct {
	// From is the release whose data is copied (the live release). It is
	// only read.
	From     string
	Threads  int
	Progress restore.Progress
	// InWindow says the sync runs inside a maintenance window (a final
	// sync), for the report.
	InWindow bool
	// Skip lists services whose namespaces are not copied (a final sync
	// whose MySQL part was caught up from the binary log).
	Skip []termshift.Service
}

// SyncObject is the proof for one table, collection or kind of definition.
type SyncObject struct {
	Name string `json:"name"`
	// Snapshot is the count taken inside the source's snapshot (MySQL
	// COUNT(*); MongoDB the documents read; RabbitMQ the definitions).
	Snapshot int64 `json:"snapshot"`
	Loaded   int64 `json:"loaded"` // counted in the target after loading
	// SourceHash and TargetHash are order-independent hashes of the rows
	// inside the source's snapshot and in the target after the load
	// (MySQL), or of the documents read and read back (MongoDB).
	SourceHash string `json:"source_hash,omitempty"`
	TargetHash string `json:"target_hash,omitempty"`
	OK         bool   `json:"ok"`
	// Unchanged, when set, says why the object was not read again: no
	// event changed it on either side since its last proof, whose count
	// and hash it carries.
	Unchanged string `json:"unchanged,omitempty"`
	// ByKey, when set, says the object was proven by the rows changed
	// since its last proof, read on both sides: the hashes are of those
	// rows, the counts of the whole table.
	ByKey string `json:"by_key,omitempty"`
}

// SyncResult is one namespace of a sync.
type SyncResult struct {
	Namespace termshift.Namespace `json:"namespace"` // the target
	From      string              `json:"from"`      // the source namespace's name
	Status    string              `json:"status"`    // synced, flushed, failed
	Objects   []SyncObject        `json:"objects,omitempty"`
	Report    *restore.Report     `json:"report,omitempty"`
	Note      string              `json:"note,omitempty"`
	Error     string              `json:"error,omitempty"`
	// Binlog is where the source server's binary log stood at the
	// snapshot copied (MySQL): where a follow of the source starts.
	Binlog *restore.BinlogPosition `json:"binlog,omitempty"`
}

// SyncReport is what a sync copied and what proves it.
type SyncReport struct {
	From       string       `json:"from"`
	To         string       `json:"to"`
	InWindow   bool         `json:"in_window"`
	Started    time.Time    `json:"started"`
	Seconds    float64      `json:"seconds"`
	Namespaces []SyncResult `json:"namespaces"`
	// Proven: every object's counts and hashes hold and the source did not
	// change during the sync. A sync whose source changed has no proof:
	// Changes says what changed.
	Proven  bool     `json:"proven"`
	Changes []string `json:"changes,omitempty"`
	Notes   []string `json:"notes,omitempty"`
	// LockHeld is how long MySQL's global read lock was held to open the
	// snapshot.
	LockHeld time.Duration `json:"lock_held_ns"`
	Rows     int64         `json:"rows"`
	Docs     int64         `json:"documents"`
	// RowsPerSecond is rows and documents loaded per second of the sync.
	RowsPerSecond float64 `json:"rows_per_second"`
}

// ErrSourceChanged: the source changed while it was copied; the copy has
// no proof.
var ErrSourceChanged = errors.New("the source changed during the sync")

// syncCheckpointPath is where the sync of one namespace keeps its resume
// marks.
func (o *Orchestrator) syncCheckpointPath(release, ns string) string {
	return filepath.Join(o.Work, "releases", release, "sync-"+ns+".checkpoint.json")
}

// Sync copies the MySQL schemas, MongoDB databases and RabbitMQ
// definitions of opts.From into release's namespaces, straight from a
// snapshot of the source into the loaders (no files), and flushes the
// release's memcached cluster. A target that is the live release or the
// rollback target is refused (termshift.ErrRefused) before anything is
// touched. The source is only read.
//
// Each namespace is proven as a restore is: counts taken inside the
// source's snapshot against counts in the target after loading, and for
// MySQL an order-independent hash of every table's rows inside the
// snapshot against the same hash over the target. Then the source is
// compared with its snapshot: when it changed, the report says what and the
// error wraps ErrSourceChanged: the copy is of a moment that is gone.
//
// A sync killed half way continues when run again: finished MySQL tables
// are kept when the source's tables did not change since (restore's
// checkpoints); the proof covers them either way.
func (o *Orchestrator) Sync(ctx context.Context, release string, opts SyncOptions) (*SyncReport, error) {
	if _, err := o.spec(release); err != nil {
		return nil, err
	}
	if _, err := o.spec(opts.From); err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	if err := checkThreads(opts.Threads); err != nil {
		return nil, err
	}
	if release == opts.From {
		return nil, fmt.Errorf("sync %s from itself: %w", termshift.Quote(release), termshift.ErrInvalid)
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	if err := o.refuseProtected(s, release, "sync into"); err != nil {
		o.journal(ctx, release, "sync", "refused", err.Error())
		return nil, err
	}
	rs, from := s.Releases[release], s.Releases[opts.From]
	if rs == nil || !rs.StepDone("carve") {
		return nil, termshift.WithHint(fmt.Errorf("release %s is not carved: %w", termshift.Quote(release), termshift.ErrNotFound), "run `termshift carve "+release+"` first")
	}
	if !slices.Contains(opts.Skip, termshift.MySQL) {
		if err := refuseFollowed(rs, "sync into"); err != nil {
			return nil, err
		}
	}
	if from == nil || len(from.Namespaces) == 0 {
		return nil, fmt.Errorf("release %s has no namespaces to copy: %w", termshift.Quote(opts.From), termshift.ErrNotFound)
	}
	// Every pair of namespaces is known before anything is touched.
	type pair struct{ src, dst *store.NamespaceState }
	pairs := map[termshift.Service][]pair{}
	for _, ns := range rs.Namespaces {
		if slices.Contains(opts.Skip, ns.Service) {
			continue
		}
		src := from.Namespace(ns.Service, ns.Logical)
		if src == nil {
			return nil, fmt.Errorf("release %s has no %s namespace for %s: %w", termshift.Quote(opts.From), ns.Service, termshift.Quote(ns.Logical), termshift.ErrNotFound)
		}
		pairs[ns.Service] = append(pairs[ns.Service], pair{src, ns})
	}
	for _, svc := range snapshotServices {
		if len(pairs[svc]) == 0 {
			continue
		}
		if _, ok := o.P.Snapshotters[svc]; !ok {
			return nil, fmt.Errorf("sync: no %s snapshotter: servers.%s is not configured: %w", svc, svc, termshift.ErrInvalid)
		}
		if _, ok := o.P.Loaders[svc]; !ok {
			return nil, fmt.Errorf("sync: no %s loader: servers.%s is not configured: %w", svc, svc, termshift.ErrInvalid)
		}
	}
	if err := os.MkdirAll(filepath.Join(o.Work, "releases", release), 0o700); err != nil {
		return nil, fmt.Errorf("create sync checkpoint directory: %w", err)
	}
	rep := &SyncReport{From: opts.From, To: release, InWindow: opts.InWindow, Started: o.Now()}
	var before *store.BinlogPos
	if len(pairs[termshift.MySQL]) > 0 {
		before = o.binlogHead(ctx)
	}
	o.journal(ctx, release, "sync", "started", "from "+opts.From)
	rs.SetStep("sync", "running", "from "+opts.From, o.Now())
	for _, p := range pairs[termshift.MySQL] {
		p.dst.Status, p.dst.Error = store.NSRestoring, ""
	}
	for _, p := range pairs[termshift.MongoDB] {
		p.dst.Status, p.dst.Error = store.NSRestoring, ""
	}
	if err := o.SaveState(ctx, s); err != nil {
		return nil, err
	}

	// The services are copied at once, each on its own server.
	var (
		mu      sync.Mutex
		results []SyncResult
		errs    []error
		wg      sync.WaitGroup
	)
	for _, svc := range snapshotServices {
		ps := pairs[svc]
		if len(ps) == 0 {
			continue
		}
		wg.Go(func() {
			names := map[string]string{}
			targets := map[string]string{}
			for _, p := range ps {
				names[p.src.Name] = p.src.Name
				targets[p.src.Name] = p.dst.Name
			}
			res, held, changes, err := o.syncService(ctx, svc, release, names, targets, ps[0].dst.Release, opts)
			mu.Lock()
			defer mu.Unlock()
			for i := range res {
				for _, p := range ps {
					if p.dst.Name == res[i].Namespace.Name {
						res[i].Namespace = p.dst.Namespace
					}
				}
			}
			results = append(results, res...)
			rep.Changes = append(rep.Changes, changes...)
			if held > 0 {
				rep.LockHeld = held
			}
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	for _, ns := range rs.Namespaces {
		if ns.Service != termshift.Memcached || slices.Contains(opts.Skip, ns.Service) {
			continue
		}
		res := SyncResult{Namespace: ns.Namespace, Status: "flushed", Note: "cold cache: the cluster was flushed; nothing is copied from " + opts.From + "'s cache"}
		if err := o.flushCache(ctx, ns.Namespace, release); err != nil {
			res.Status, res.Error = "failed", err.Error()
			errs = append(errs, err)
		}
		results = append(results, res)
	}
	sort.Slice(results, func(i, j int) bool { return results[i].Namespace.String() < results[j].Namespace.String() })
	rep.Namespaces = results
	if len(pairs[termshift.RabbitMQ]) > 0 {
		rep.Notes = append(rep.Notes, "RabbitMQ: definitions only (exchanges, queues, bindings, policies); messages in "+opts.From+"'s queues are not copied")
	}
	if len(pairs[termshift.Memcached]) > 0 {
		rep.Notes = append(rep.Notes, "memcached: "+release+"'s cluster was flushed: it starts with a cold cache")
	}
	rep.Seconds = o.Now().Sub(rep.Started).Seconds()
	proven := len(errs) == 0
	for _, r := range results {
		for _, obj := range r.Objects {
			proven = proven && obj.OK
			if r.Namespace.Service == termshift.MySQL {
				rep.Rows += obj.Loaded
			} else if r.Namespace.Service == termshift.MongoDB {
				rep.Docs += obj.Loaded
			}
		}
	}
	if rep.Seconds > 0 {
		rep.RowsPerSecond = float64(rep.Rows+rep.Docs) / rep.Seconds
	}
	if len(rep.Changes) > 0 {
		sort.Strings(rep.Changes)
		errs = append(errs, termshift.WithHint(fmt.Errorf("%d changes in %s (%s): the copy has no proof: %w: %w", len(rep.Changes), opts.From, strings.Join(rep.Changes, "; "), ErrSourceChanged, termshift.ErrVerifyFailed),
			"sync inside a maintenance window (`termshift cutover "+release+" --final-sync`), or sync again when "+opts.From+" is quiet"))
		proven = false
	}
	rep.Proven = proven && len(errs) == 0

	// State: what the target holds now.
	now := o.Now()
	for _, r := range results {
		ns := rs.Namespace(r.Namespace.Service, r.Namespace.Logical)
		if ns == nil || ns.Service == termshift.Memcached || ns.Service == termshift.RabbitMQ {
			continue
		}
		if r.Status == "synced" && rep.Proven {
			ns.Status, ns.Error = store.NSRestored, ""
			ns.Proof = syncProof(r, opts.From, now, rep.Started)
			if ns.Service == termshift.MySQL {
				ns.Proof.Binlog = before
			}
			if b := r.Binlog; b != nil {
				rs.Binlog = &store.BinlogPos{File: b.File, Pos: b.Position, GTID: b.GTID}
			}
		} else {
			ns.Status, ns.Error = store.NSFailed, r.Error
			if r.Error == "" {
				ns.Error = "synced from " + opts.From + " without proof"
			}
		}
	}
	rs.ChangedAt = now
	if err := errors.Join(errs...); err != nil {
		rs.SetStep("sync", "failed", err.Error(), now)
		_ = o.SaveState(ctx, s)
		o.journal(ctx, release, "sync", "failed", err.Error())
		var done, failed []string
		for _, r := range results {
			if r.Status == "failed" || !allOK(r.Objects) {
				failed = append(failed, r.Namespace.String())
			} else {
				done = append(done, r.Namespace.String())
			}
		}
		if errors.Is(err, ErrSourceChanged) && len(failed) == 0 {
			return rep, err
		}
		return rep, termshift.WithHint(&termshift.PartialError{Op: "sync " + release + " from " + opts.From, Done: done, Failed: failed, Err: err},
			"fix the cause and run the same sync again: it continues, replacing what it copied")
	}
	rs.SetStep("sync", "done", fmt.Sprintf("from %s, proven", opts.From), now)
	if err := o.SaveState(ctx, s); err != nil {
		return rep, err
	}
	for _, p := range pairs[termshift.MySQL] {
		_ = os.Remove(o.syncCheckpointPath(release, p.dst.Name))
	}
	o.journal(ctx, release, "sync", "done", describeSync(rep))
	return rep, nil
}

// retriableLoad reports a failed load worth trying again: not a refusal,
// not a proof that does not hold, not a cancelled context.
func retriableLoad(ctx context.Context, err error) bool {
	return ctx.Err() == nil && !errors.Is(err, termshift.ErrRefused) && !errors.Is(err, termshift.ErrVerifyFailed) && !errors.Is(err, termshift.ErrInvalid)
}

func allOK(objs []SyncObject) bool {
	for _, o := range objs {
		if !o.OK {
			return false
		}
	}
	return true
}

// syncService copies one service's namespaces (names: source -> source,
// targets: source -> target) from one snapshot and proves each.
func (o *Orchestrator) syncService(ctx context.Context, svc termshift.Service, release string, names, targets map[string]string, _ string, opts SyncOptions) ([]SyncResult, time.Duration, []string, error) {
	t0 := o.Now()
	snap, err := o.P.Snapshotters[svc](ctx, backup.Request{Names: names, Threads: opts.Threads, Hash: svc == termshift.MySQL, Logger: o.Logger})
	if err != nil {
		return nil, 0, nil, fmt.Errorf("sync %s: snapshot of %s: %w", svc, opts.From, err)
	}
	defer snap.Close()
	o.Logger.Debug("sync: snapshot open", "service", svc, "elapsed", o.Now().Sub(t0))
	loader := o.P.Loaders[svc]
	srcs := make([]string, 0, len(names))
	for n := range names {
		srcs = append(srcs, n)
	}
	sort.Strings(srcs)
	// MySQL namespaces load at once, each from the same snapshot; MongoDB
	// ones one after the other (FerretDB's SQLite backend has answered
	// concurrent collection and index creation in several databases with
	// spurious "index already exists").
	results := make([]SyncResult, len(srcs))
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	var serial sync.Mutex
	for i, src := range srcs {
		wg.Go(func() {
			if svc == termshift.MongoDB {
				serial.Lock()
				defer serial.Unlock()
			}
			dst := targets[src]
			res := SyncResult{Namespace: termshift.Namespace{Service: svc, Name: dst}, From: src}
			req := restore.Request{From: src, To: dst, Threads: opts.Threads, DropExisting: true, Progress: opts.Progress, Logger: o.Logger}
			path := ""
			switch svc {
			case termshift.MySQL:
				req.Resume, req.Checkpoint = true, o.syncCheckpointPath(release, dst)
			case termshift.RabbitMQ:
				// Definitions are declared again over what the vhost holds
				// (idempotent): the release's running consumers keep their
				// queues.
				req.DropExisting, req.Resume = false, true
				path = "definitions.json"
			}
			o.printf("syncing %s %s -> %s ...\n", svc, termshift.Quote(src), termshift.Quote(dst))
			lrep, err := loader.Load(ctx, snap, path, req)
			// A failed MongoDB load drops what it created and is tried
			// again, twice, after a pause: FerretDB's SQLite backend has been
			// seen to report a collection or index it had just dropped as
			// existing for a moment. The report keeps the failures.
			for attempt := 1; err != nil && attempt <= 2 && svc == termshift.MongoDB && retriableLoad(ctx, err); attempt++ {
				res.Note = strings.TrimPrefix(res.Note+"; ", "; ") + fmt.Sprintf("attempt %d failed: %v", attempt, err)
				o.Logger.Warn("sync: loading again", "namespace", dst, "attempt", attempt+1, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(attempt) * time.Second):
				}
				lrep, err = loader.Load(ctx, snap, path, req)
			}
			res.Report = lrep
			o.Logger.Debug("sync: loaded", "namespace", dst, "elapsed", o.Now().Sub(t0))
			if err == nil {
				res.Objects, err = o.proveSync(ctx, snap, svc, src, dst, lrep)
				o.Logger.Debug("sync: proved", "namespace", dst, "elapsed", o.Now().Sub(t0))
			}
			res.Status = "synced"
			if err != nil {
				res.Status, res.Error = "failed", err.Error()
				errs[i] = fmt.Errorf("%s %s: %w", svc, termshift.Quote(dst), err)
			}
			if svc == termshift.RabbitMQ {
				res.Note = "definitions only: messages in queues are not copied"
			}
			results[i] = res
		})
	}
	wg.Wait()
	var held time.Duration
	info, ierr := snap.Info(ctx)
	if ierr == nil {
		held = info.LockHeld
		if svc == termshift.MySQL && info.Binlog != nil {
			for i := range results {
				results[i].Binlog = info.Binlog
			}
		}
	}
	changes, cerr := snap.Changes(ctx)
	o.Logger.Debug("sync: source compared with its snapshot", "service", svc, "elapsed", o.Now().Sub(t0))
	if cerr != nil {
		errs = append(errs, fmt.Errorf("sync %s: compare %s with its snapshot: %w", svc, opts.From, cerr))
	}
	return results, held, changes, errors.Join(errs...)
}

// proveSync compares, object by object, the source's snapshot with the
// target after loading: counts, and for MySQL the rows' hashes on both
// sides (the loaders of MongoDB hash what they read and read back).
func (o *Orchestrator) proveSync(ctx context.Context, snap backup.Snapshot, svc termshift.Service, src, dst string, lrep *restore.Report) ([]SyncObject, error) {
	info, err := snap.Info(ctx)
	if err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	for _, obj := range info.Objects {
		if obj.Database == src {
			counts[obj.Name] = obj.Count
		}
	}
	loaded := map[string]restore.ObjectReport{}
	for _, obj := range lrep.Objects {
		loaded[obj.Name] = obj
	}
	var source, target map[string]backup.TableHash
	if h, ok := snap.(contentHasher); ok {
		if source, err = h.Hashes(ctx, src); err != nil {
			return nil, err
		}
		if target, err = h.HashCopy(ctx, src, dst); err != nil {
			return nil, err
		}
	}
	var out []SyncObject
	for name, n := range counts {
		lo, ok := loaded[name]
		obj := SyncObject{Name: name, Snapshot: n, Loaded: lo.Loaded, SourceHash: lo.Hash, TargetHash: lo.HashLoaded}
		if source != nil {
			obj.SourceHash, obj.TargetHash = source[name].Hash, target[name].Hash
		}
		obj.OK = ok && lo.OK() && n == lo.Loaded && obj.SourceHash == obj.TargetHash
		out = append(out, obj)
	}
	for name, lo := range loaded {
		if _, ok := counts[name]; !ok && lo.Loaded > 0 {
			out = append(out, SyncObject{Name: name, Loaded: lo.Loaded})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	var bad []string
	for _, obj := range out {
		if !obj.OK {
			bad = append(bad, fmt.Sprintf("%s: %d in the snapshot, %d loaded, hash %s/%s", termshift.Quote(obj.Name), obj.Snapshot, obj.Loaded, short(obj.SourceHash), short(obj.TargetHash)))
		}
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("the proof does not hold for %s: %w", strings.Join(bad, "; "), termshift.ErrVerifyFailed)
	}
	return out, nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// flushCache empties a release's memcached cluster, keeping it marked as
// the release's.
func (o *Orchestrator) flushCache(ctx context.Context, ns termshift.Namespace, release string) error {
	c, err := o.P.Carver(ctx, termshift.Memcached)
	if err != nil {
		return err
	}
	defer c.Close()
	f, ok := c.(cacheFlusher)
	if !ok {
		return fmt.Errorf("the memcached provider cannot flush %s: %w", ns, termshift.ErrInvalid)
	}
	return f.Flush(ctx, ns, o.owner(release))
}

// syncSourcePrefix begins the source of a sync's proof.
const syncSourcePrefix = "sync from "

func syncProof(r SyncResult, from string, at, started time.Time) *store.Proof {
	p := &store.Proof{At: at, Source: syncSourcePrefix + from, Objects: map[string]int64{}, Seconds: at.Sub(started).Seconds()}
	for _, obj := range r.Objects {
		p.Objects[obj.Name] = obj.Loaded
		if obj.TargetHash != "" {
			if p.Hashes == nil {
				p.Hashes = map[string]string{}
			}
			p.Hashes[obj.Name] = obj.TargetHash
		}
	}
	if r.Report != nil {
		_, _, p.Bytes = r.Report.Totals()
	}
	return p
}

// describeSync is a sync's journal line.
func describeSync(rep *SyncReport) string {
	return fmt.Sprintf("from %s: %d namespaces, %d rows and %d documents in %.1fs (%.0f/s), proven %v, MySQL read lock held %s",
		rep.From, len(rep.Namespaces), rep.Rows, rep.Docs, rep.Seconds, rep.RowsPerSecond, rep.Proven, rep.LockHeld.Round(time.Microsecond))
}
