package mongo

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// The formats Detect reports.
const (
	FormatDump    = "mongodump"
	FormatArchive = "archive"
)

// MarkerCollection is the collection tenancy creates in a carved database;
// a target holding only it counts as empty, and a restore never drops,
// counts or restores it.
const MarkerCollection = "termshift_namespace"

// Batch limits of InsertMany.
const (
	batchDocs  = 1000
	batchBytes = 8 * 1024 * 1024
)

// Loader loads mongodump output into a server it reaches as an
// administrator.
type Loader struct {
	URI termshift.Secret // admin URI
}

// Detect tells a mongodump output directory ("mongodump") from an archive
// file ("archive"), and lists the databases it holds.
func Detect(ctx context.Context, src restore.Source, path string) (format string, databases []string, err error) {
	path = cleanDir(path)
	isFile, err := isFile(ctx, src, path)
	if err != nil {
		return "", nil, err
	}
	if isFile {
		rc, ar, err := openArchive(ctx, src, path)
		if err != nil {
			return "", nil, err
		}
		defer rc.Close()
		return FormatArchive, ar.Databases(), nil
	}
	d, err := ScanDump(ctx, src, path)
	if err != nil {
		return "", nil, err
	}
	if len(d.Collections) == 0 {
		return "", nil, fmt.Errorf("detect %s: no mongodump output or archive at %s: %w", src, termshift.Quote(path), termshift.ErrNotFound)
	}
	return FormatDump, d.Databases(), nil
}

func isFile(ctx context.Context, src restore.Source, name string) (bool, error) {
	if name == "" {
		return false, nil
	}
	files, err := src.List(ctx, name)
	if err != nil {
		return false, err
	}
	return len(files) == 1 && files[0].Name == name, nil
}

// openArchive opens an archive, gunzipping it when it starts with the gzip
// magic, and reads its prelude.
func openArchive(ctx context.Context, src restore.Source, name string) (io.Closer, *ArchiveReader, error) {
	rc, err := src.Open(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(rc, 256<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			rc.Close()
			return nil, nil, &FormatError{File: name, Msg: "read gzip header", Err: err}
		}
		r = zr
	}
	ar, err := NewArchiveReader(r, name)
	if err != nil {
		rc.Close()
		return nil, nil, err
	}
	return rc, ar, nil
}

// collJob is one collection to load: its metadata and a stream of its
// documents.
type collJob struct {
	name       string
	meta       *Metadata
	file       string // where the documents come from, for messages
	totalBytes int64  // 0 when unknown
	// open starts the document stream; next returns io.EOF at its end.
	open func(ctx context.Context) (next func() (bson.Raw, error), closeFn func(), err error)
}

// Load loads database req.From of the backup at path inside src — a
// mongodump output directory (containing DB/ subdirs, or a DB dir itself),
// or an archive file (plain or .gz) — into req.To.
//
// Everything about the backup that can be checked before loading is
// checked before the target is touched, the manifest included. A target
// holding collections (other than MarkerCollection) is refused unless
// DropExisting. A MongoDB restore cannot resume: Resume starts over,
// replacing what the killed run loaded, and says so in the report.
//
// A restore that fails half way drops the collections it created and
// returns the report (with what was read and loaded) and a
// *termshift.PartialError; when dropping fails too, the error lists what
// the target still holds, with document counts. A proof that does not hold
// is an error wrapping termshift.ErrVerifyFailed, with the report.
func (ld *Loader) Load(ctx context.Context, src restore.Source, path string, req restore.Request) (*restore.Report, error) {
	started := time.Now()
	if err := termshift.ValidateMongoDatabase(req.To); err != nil {
		return nil, fmt.Errorf("restore mongo: target: %w", err)
	}
	if req.From == "" {
		return nil, fmt.Errorf("restore mongo: no source database (From): %w", termshift.ErrInvalid)
	}
	if ld.URI.Reveal() == "" {
		return nil, fmt.Errorf("restore mongo: no server URI: %w", termshift.ErrInvalid)
	}
	path = cleanDir(path)
	rep := &restore.Report{Service: string(termshift.MongoDB), Source: src.String() + "/" + path, From: req.From, To: req.To, Started: started}
	l := &run{req: req, log: req.Log().With("from", req.From, "to", req.To), report: rep, created: map[string]bool{}}
	threads, capped := req.ThreadCount(0)
	l.threads = threads
	if capped {
		l.warn(fmt.Sprintf("threads capped at %d: a restore uses at most %d", threads, restore.MaxThreads))
	}
	if req.Resume {
		if !req.DropExisting {
			l.req.DropExisting = true
		}
		l.warn("a MongoDB restore cannot resume: it starts over, replacing what the earlier run loaded")
	}

	if err := l.checkManifest(ctx, src, path); err != nil {
		return nil, err
	}
	plan, err := l.plan(ctx, src, path)
	if err != nil {
		return nil, err
	}
	if plan.closer != nil {
		defer plan.closer.Close()
	}

	client, err := connect(ctx, ld.URI)
	if err != nil {
		return nil, err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	l.db = client.Database(req.To)
	if err := l.prepareTarget(ctx); err != nil {
		return nil, err
	}

	runErr := l.loadAll(ctx, plan.jobs, plan.demux)
	if runErr == nil {
		runErr = l.createViews(ctx, plan.views)
	}
	sort.Slice(rep.Objects, func(i, j int) bool { return rep.Objects[i].Name < rep.Objects[j].Name })
	rep.Warnings = l.warnings
	rep.Seconds = time.Since(started).Seconds()
	if runErr != nil {
		return rep, l.fail(ctx, plan, runErr)
	}
	if !rep.Completeness.Proven {
		if rep.Format == FormatArchive {
			rep.Completeness = restore.Proven(fmt.Sprintf("archive %s: every collection of its prelude ends with its EOF header, terminator and CRC-64", path))
		} else {
			rep.Completeness = restore.Unproven("a mongodump directory holds no record of its completeness: a .bson file cut at a document boundary reads as a whole one")
		}
	}
	if req.Manifest != nil {
		rep.ExpectCounts(restore.ManifestName, l.counts)
	}
	var bad []string
	for _, o := range rep.Objects {
		if !o.OK() {
			bad = append(bad, fmt.Sprintf("%s (documents expected %d, in target %d, hash read %s, hash in target %s)", termshift.Quote(o.Name), o.Expected, o.Loaded, o.Hash, o.HashLoaded))
		}
	}
	if len(bad) > 0 {
		return rep, fmt.Errorf("restore mongo %s into %s: proof does not hold for %s: %w", termshift.Quote(req.From), termshift.Quote(req.To), strings.Join(bad, "; "), termshift.ErrVerifyFailed)
	}
	return rep, nil
}

// plan is what a restore will load, read and checked before the target is
// touched.
type plan struct {
	jobs, views []collJob
	demux       func(ctx context.Context, feeds map[string]*feed) error
	closer      io.Closer
	archive     bool
}

func (l *run) plan(ctx context.Context, src restore.Source, path string) (*plan, error) {
	isFile, err := isFile(ctx, src, path)
	if err != nil {
		return nil, err
	}
	p := &plan{archive: isFile}
	if isFile {
		l.report.Format = FormatArchive
		c, ar, err := openArchive(ctx, src, path)
		if err != nil {
			return nil, err
		}
		p.closer = c
		if p.jobs, p.views, p.demux, err = l.archiveJobs(path, ar); err != nil {
			c.Close()
			return nil, err
		}
		return p, nil
	}
	l.report.Format = FormatDump
	if p.jobs, p.views, err = l.dumpJobs(ctx, src, path); err != nil {
		return nil, err
	}
	return p, nil
}

// checkManifest verifies the database's files against the manifest before
// anything else reads them, and takes its counts.
func (l *run) checkManifest(ctx context.Context, src restore.Source, path string) error {
	m := l.req.Manifest
	if m == nil {
		return nil
	}
	belongs := func(string) bool { return true }
	root, err := isDumpRoot(ctx, src, path)
	if err != nil {
		return err
	}
	if root {
		dbDir := strings.TrimPrefix(cleanDir(path+"/"+url.PathEscape(l.req.From)), "/")
		prelude := strings.TrimPrefix(cleanDir(path+"/prelude.json"), "/")
		belongs = func(name string) bool {
			return strings.HasPrefix(name, dbDir+"/") || strings.HasPrefix(name, prelude)
		}
	}
	c, err := m.Verify(ctx, src, path, belongs, l.threads)
	if err != nil {
		return fmt.Errorf("restore mongo %s: %w", path, err)
	}
	l.report.Completeness = c
	l.counts = m.Counts(termshift.MongoDB, l.req.From)
	return nil
}

// fail ends a restore that failed after the target was touched: it drops
// what this run created (a MongoDB restore cannot resume) and says so, or,
// when that fails too, what the target holds.
func (l *run) fail(ctx context.Context, p *plan, runErr error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	op := "restore mongo " + termshift.Quote(l.req.From) + " into " + termshift.Quote(l.req.To)
	var failed []string
	loaded := map[string]bool{}
	for _, o := range l.report.Objects {
		loaded[o.Name] = true
	}
	for _, j := range append(append([]collJob(nil), p.jobs...), p.views...) {
		if !loaded[j.name] {
			failed = append(failed, j.name)
		}
	}
	var done []string
	for _, o := range l.report.Objects {
		done = append(done, o.Name)
	}
	l.mu.Lock()
	created := make([]string, 0, len(l.created))
	for n := range l.created {
		created = append(created, n)
	}
	l.mu.Unlock()
	sort.Strings(created)
	var dropErr error
	for _, n := range created {
		if err := l.db.Collection(n).Drop(cctx); err != nil {
			dropErr = fmt.Errorf("drop %s.%s: %w", l.req.To, n, err)
			break
		}
	}
	if dropErr == nil {
		for i := range l.report.Objects {
			l.report.Objects[i].Loaded = 0
		}
		return &termshift.PartialError{Op: op, Failed: append(done, failed...),
			Err: fmt.Errorf("%w; the %d collections this restore created in %s were dropped", runErr, len(created), termshift.Quote(l.req.To))}
	}
	left := l.describeTarget(cctx)
	return &termshift.PartialError{Op: op, Done: done, Failed: failed,
		Err: fmt.Errorf("%w; dropping what it created failed too (%v); left in %s: %s", runErr, dropErr, termshift.Quote(l.req.To), left)}
}

// describeTarget lists the target's collections with their documents.
func (l *run) describeTarget(ctx context.Context) string {
	names, err := l.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return "unknown: " + err.Error()
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		if n == MarkerCollection || strings.HasPrefix(n, "system.") {
			continue
		}
		c, err := l.db.Collection(n).CountDocuments(ctx, bson.D{})
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s (count failed: %v)", termshift.Quote(n), err))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (%d documents)", termshift.Quote(n), c))
	}
	if len(parts) == 0 {
		return "no collection"
	}
	return strings.Join(parts, ", ")
}

func connect(ctx context.Context, uri termshift.Secret) (*mongo.Client, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri.Reveal()))
	if err != nil {
		return nil, fmt.Errorf("connect to mongo server: %w", redact(err, uri))
	}
	if err := client.Ping(ctx, nil); err != nil {
		client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("ping mongo server: %w", redact(err, uri))
	}
	return client, nil
}

// redact keeps a password that a driver error quotes out of the message.
func redact(err error, uri termshift.Secret) error {
	u, perr := url.Parse(uri.Reveal())
	if perr != nil || u.User == nil {
		if perr != nil && strings.Contains(err.Error(), uri.Reveal()) {
			return errors.New(strings.ReplaceAll(err.Error(), uri.Reveal(), "[redacted URI]"))
		}
		return err
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "[redacted]"))
}

// dumpJobs checks one database of a dump directory and makes its jobs.
// dumpRoot tells a dump root (DB/ directories) from one database's
// directory. A legacy dump (servers up to 3.0) has a system.indexes.bson
// per database: its index specs serve the collections whose metadata has
// none, or that have no metadata file at all.
func (l *run) dumpJobs(ctx context.Context, src restore.Source, path string) (jobs, views []collJob, err error) {
	d, err := ScanDump(ctx, src, path)
	if err != nil {
		return nil, nil, err
	}
	var colls []DumpCollection
	var legacy *DumpCollection
	for _, c := range d.Collections {
		if c.Database != l.req.From {
			continue
		}
		if c.Collection == "system.indexes" && c.Metadata == "" && c.Data != "" {
			legacy = &c
			continue
		}
		colls = append(colls, c)
	}
	if len(colls) == 0 && legacy == nil {
		return nil, nil, fmt.Errorf("restore mongo: database %s is not in the dump at %s/%s (it holds %s): %w",
			termshift.Quote(l.req.From), src, path, quoteList(d.Databases()), termshift.ErrNotFound)
	}
	var legacyIndexes map[string][]Index
	if legacy != nil {
		if legacyIndexes, err = l.readSystemIndexes(ctx, src, legacy.Data); err != nil {
			return nil, nil, err
		}
	}
	for _, c := range colls {
		meta, err := l.collectionMetadata(ctx, src, c, legacy != nil)
		if err != nil {
			return nil, nil, err
		}
		name := c.Collection
		if meta.CollectionName != "" {
			name = meta.CollectionName
		}
		if len(meta.Indexes) == 0 {
			meta.Indexes = legacyIndexes[name]
		}
		if meta.IsView() {
			views = append(views, collJob{name: name, meta: meta, file: c.Metadata})
			continue
		}
		if c.Data == "" {
			return nil, nil, fmt.Errorf("restore mongo: %s has no data file beside it (%s.bson): %w", c.Metadata, strings.TrimSuffix(strings.TrimSuffix(c.Metadata, ".gz"), ".metadata.json"), termshift.ErrInvalid)
		}
		if l.skip(name) {
			continue
		}
		file := c.Data
		total := c.DataSize
		if strings.HasSuffix(file, ".gz") {
			total = 0
		}
		jobs = append(jobs, collJob{name: name, meta: meta, file: file, totalBytes: total,
			open: func(ctx context.Context) (func() (bson.Raw, error), func(), error) {
				rc, err := openStream(ctx, src, file)
				if err != nil {
					return nil, nil, err
				}
				br := NewBSONReader(rc, file)
				return br.Next, func() { rc.Close() }, nil
			}})
	}
	return jobs, views, nil
}

// isDumpRoot tells a dump root (DB/ directories) from one database's
// directory (COLL.bson files at its top), as ScanDump does, from names
// alone; a file is neither.
func isDumpRoot(ctx context.Context, src restore.Source, dir string) (bool, error) {
	files, err := src.List(ctx, dir)
	if err != nil {
		return false, err
	}
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	nested := false
	for _, f := range files {
		r, ok := strings.CutPrefix(f.Name, prefix)
		if !ok {
			return false, nil // a file
		}
		if strings.Contains(r, "/") {
			nested = true
			continue
		}
		if _, data, meta := dumpFileKind(r); (data || meta) && r != "oplog.bson" {
			return false, nil
		}
	}
	return nested, nil
}

// collectionMetadata reads a collection's metadata file; in a legacy dump
// a collection may have none (its indexes are in system.indexes.bson).
func (l *run) collectionMetadata(ctx context.Context, src restore.Source, c DumpCollection, legacy bool) (*Metadata, error) {
	if c.Metadata == "" {
		if legacy {
			return &Metadata{}, nil
		}
		return nil, fmt.Errorf("restore mongo: %s has no metadata file beside it (%s.metadata.json): %w", c.Data, strings.TrimSuffix(strings.TrimSuffix(c.Data, ".gz"), ".bson"), termshift.ErrInvalid)
	}
	data, err := readSmall(ctx, src, c.Metadata)
	if err != nil {
		return nil, err
	}
	return ParseMetadata(data, c.Metadata)
}

// readSystemIndexes reads a legacy dump's system.indexes.bson: one index
// spec per document, its "ns" naming database.collection.
func (l *run) readSystemIndexes(ctx context.Context, src restore.Source, file string) (map[string][]Index, error) {
	rc, err := openStream(ctx, src, file)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	br := NewBSONReader(rc, file)
	out := map[string][]Index{}
	prefix := l.req.From + "."
	for {
		off := br.Offset()
		doc, err := br.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var spec bson.D
		if err := bson.Unmarshal(doc, &spec); err != nil {
			return nil, &FormatError{File: file, Offset: off, Msg: "decode index spec", Err: err}
		}
		var ns string
		var kept bson.D
		for _, e := range spec {
			switch e.Key {
			case "ns":
				ns, _ = e.Value.(string)
			case "dropDups": // removed in MongoDB 3.0; servers refuse it
				continue
			}
			kept = append(kept, e)
		}
		coll, ok := strings.CutPrefix(ns, prefix)
		if !ok {
			return nil, &FormatError{File: file, Offset: off, Msg: fmt.Sprintf("index spec for namespace %s, not in database %s", termshift.Quote(ns), termshift.Quote(l.req.From))}
		}
		ix, err := parseIndex(kept)
		if err != nil {
			return nil, &FormatError{File: file, Offset: off, Msg: fmt.Sprintf("index spec of %s: %v", termshift.Quote(ns), err)}
		}
		out[coll] = append(out[coll], ix)
	}
}

// skip reports (and records) a collection a restore never loads: the
// server's system collections and termshift's ownership marker.
func (l *run) skip(name string) bool {
	reason := ""
	switch {
	case strings.HasPrefix(name, "system."):
		reason = "system collections are the server's, not restored"
	case name == MarkerCollection:
		reason = "termshift's ownership marker: the target keeps its own"
	default:
		return false
	}
	l.warn(fmt.Sprintf("collection %s skipped: %s", termshift.Quote(name), reason))
	l.mu.Lock()
	l.report.Skipped = append(l.report.Skipped, restore.SkippedObject{Kind: "collection", Name: name, Reason: reason})
	l.mu.Unlock()
	return true
}

// archiveJobs checks the prelude for database From and makes its jobs, fed
// by the returned demultiplexer.
func (l *run) archiveJobs(name string, ar *ArchiveReader) (jobs, views []collJob, demux func(context.Context, map[string]*feed) error, err error) {
	skipped := map[string]bool{}
	known := map[string]bool{}
	for _, c := range ar.Collections() {
		if c.Database != l.req.From {
			continue
		}
		known[c.Collection] = true
		meta := c.Parsed
		if c.Type == "view" || meta.IsView() {
			views = append(views, collJob{name: c.Collection, meta: meta, file: name})
			continue
		}
		if l.skip(c.Collection) {
			skipped[c.Collection] = true
			continue
		}
		jobs = append(jobs, collJob{name: c.Collection, meta: meta, file: name, totalBytes: c.Size})
	}
	if len(jobs)+len(views)+len(skipped) == 0 {
		return nil, nil, nil, fmt.Errorf("restore mongo: database %s is not in the archive %s (it holds %s): %w",
			termshift.Quote(l.req.From), name, quoteList(ar.Databases()), termshift.ErrNotFound)
	}
	demux = func(ctx context.Context, feeds map[string]*feed) error {
		for {
			it, err := ar.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if it.Database != l.req.From || skipped[it.Collection] {
				continue
			}
			f, ok := feeds[it.Collection]
			if !ok {
				if !known[it.Collection] {
					return &FormatError{File: name, Offset: it.Offset, Msg: fmt.Sprintf("namespace %s has data but no entry in the prelude", it.Database+"."+it.Collection)}
				}
				continue // a view's empty namespace
			}
			if it.EOF {
				f.close()
				delete(feeds, it.Collection)
				continue
			}
			if err := f.send(ctx, it.Doc); err != nil {
				return err
			}
		}
	}
	return jobs, views, demux, nil
}

func quoteList(names []string) string {
	if len(names) == 0 {
		return "no database"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = termshift.Quote(n)
	}
	return strings.Join(q, ", ")
}
