package mongo

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"runtime"
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
// a target holding only it counts as empty.
const MarkerCollection = "termshift_namespace"

// Batch limits of InsertMany.
const (
	batchDocs  = 1000
	batchBytes = 8 * 1024 * 1024
)

// Options configures Restore.
type Options struct {
	URI          termshift.Secret // admin URI
	From, To     string           // database name in the backup; target database
	Threads      int              // collections in parallel; default runtime.NumCPU()
	DropExisting bool             // without it, a target holding any collection (other than "termshift_namespace", the marker collection tenancy creates) is refused, wrapping termshift.ErrRefused
	Progress     restore.Progress
	Logger       *slog.Logger
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

// Restore loads the backup at path inside src — a mongodump output directory
// (containing DB/ subdirs, or a DB dir itself), or an archive file (plain or
// .gz) — for database From into To.
//
// Everything about the backup that can be checked before loading is checked
// before the target is touched. A restore that fails half way returns the
// report so far and a *termshift.PartialError naming the collections loaded
// with proof and those not. A proof that does not hold is an error wrapping
// termshift.ErrVerifyFailed, with the report.
func Restore(ctx context.Context, src restore.Source, path string, opts Options) (*restore.Report, error) {
	started := time.Now()
	if err := termshift.ValidateMongoDatabase(opts.To); err != nil {
		return nil, fmt.Errorf("restore mongo: target: %w", err)
	}
	if opts.From == "" {
		return nil, fmt.Errorf("restore mongo: no source database (From): %w", termshift.ErrInvalid)
	}
	if opts.URI.Reveal() == "" {
		return nil, fmt.Errorf("restore mongo: no server URI: %w", termshift.ErrInvalid)
	}
	if opts.Threads <= 0 {
		opts.Threads = runtime.NumCPU()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	path = cleanDir(path)
	rep := &restore.Report{Service: string(termshift.MongoDB), Source: src.String() + "/" + path, From: opts.From, To: opts.To, Started: started}
	l := &loader{opts: opts, log: opts.Logger.With("from", opts.From, "to", opts.To), report: rep}

	isFile, err := isFile(ctx, src, path)
	if err != nil {
		return nil, err
	}
	var (
		jobs   []collJob
		views  []collJob
		demux  func(ctx context.Context, feeds map[string]chan bson.Raw) error
		closer io.Closer
	)
	if isFile {
		rep.Format = FormatArchive
		c, ar, err := openArchive(ctx, src, path)
		if err != nil {
			return nil, err
		}
		closer = c
		defer closer.Close()
		jobs, views, demux, err = l.archiveJobs(path, ar)
		if err != nil {
			return nil, err
		}
	} else {
		rep.Format = FormatDump
		jobs, views, err = l.dumpJobs(ctx, src, path)
		if err != nil {
			return nil, err
		}
	}

	client, err := connect(ctx, opts.URI)
	if err != nil {
		return nil, err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	l.db = client.Database(opts.To)
	if err := l.prepareTarget(ctx); err != nil {
		return nil, err
	}

	runErr := l.run(ctx, jobs, demux)
	if runErr == nil {
		runErr = l.createViews(ctx, views)
	}
	sort.Slice(rep.Objects, func(i, j int) bool { return rep.Objects[i].Name < rep.Objects[j].Name })
	rep.Warnings = l.warnings
	rep.Seconds = time.Since(started).Seconds()
	if runErr != nil {
		var done, failed []string
		loaded := map[string]bool{}
		for _, o := range rep.Objects {
			loaded[o.Name] = true
			done = append(done, o.Name)
		}
		for _, j := range append(jobs, views...) {
			if !loaded[j.name] {
				failed = append(failed, j.name)
			}
		}
		return rep, &termshift.PartialError{Op: "restore mongo " + termshift.Quote(opts.From) + " into " + termshift.Quote(opts.To), Done: done, Failed: failed, Err: runErr}
	}
	var bad []string
	for _, o := range rep.Objects {
		if !o.OK() {
			bad = append(bad, fmt.Sprintf("%s (documents read %d, in target %d, hash read %s, hash in target %s)", termshift.Quote(o.Name), o.Expected, o.Loaded, o.Hash, o.HashLoaded))
		}
	}
	if len(bad) > 0 {
		return rep, fmt.Errorf("restore mongo %s into %s: proof does not hold for %s: %w", termshift.Quote(opts.From), termshift.Quote(opts.To), strings.Join(bad, "; "), termshift.ErrVerifyFailed)
	}
	return rep, nil
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
func (l *loader) dumpJobs(ctx context.Context, src restore.Source, path string) (jobs, views []collJob, err error) {
	d, err := ScanDump(ctx, src, path)
	if err != nil {
		return nil, nil, err
	}
	var colls []DumpCollection
	for _, c := range d.Collections {
		if c.Database == l.opts.From {
			colls = append(colls, c)
		}
	}
	if len(colls) == 0 {
		return nil, nil, fmt.Errorf("restore mongo: database %s is not in the dump at %s/%s (it holds %s): %w",
			termshift.Quote(l.opts.From), src, path, quoteList(d.Databases()), termshift.ErrNotFound)
	}
	for _, c := range colls {
		if c.Metadata == "" {
			return nil, nil, fmt.Errorf("restore mongo: %s has no metadata file beside it (%s.metadata.json): %w", c.Data, strings.TrimSuffix(strings.TrimSuffix(c.Data, ".gz"), ".bson"), termshift.ErrInvalid)
		}
		data, err := readSmall(ctx, src, c.Metadata)
		if err != nil {
			return nil, nil, err
		}
		meta, err := ParseMetadata(data, c.Metadata)
		if err != nil {
			return nil, nil, err
		}
		name := c.Collection
		if meta.CollectionName != "" {
			name = meta.CollectionName
		}
		if meta.IsView() {
			views = append(views, collJob{name: name, meta: meta, file: c.Metadata})
			continue
		}
		if c.Data == "" {
			return nil, nil, fmt.Errorf("restore mongo: %s has no data file beside it (%s.bson): %w", c.Metadata, strings.TrimSuffix(strings.TrimSuffix(c.Metadata, ".gz"), ".metadata.json"), termshift.ErrInvalid)
		}
		if strings.HasPrefix(name, "system.") {
			l.warn(fmt.Sprintf("collection %s skipped: system collections are the server's, not restored", termshift.Quote(name)))
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

// archiveJobs checks the prelude for database From and makes its jobs, fed
// by the returned demultiplexer.
func (l *loader) archiveJobs(name string, ar *ArchiveReader) (jobs, views []collJob, demux func(context.Context, map[string]chan bson.Raw) error, err error) {
	skipped := map[string]bool{}
	known := map[string]bool{}
	for _, c := range ar.Collections() {
		if c.Database != l.opts.From {
			continue
		}
		known[c.Collection] = true
		meta := c.Parsed
		if c.Type == "view" || meta.IsView() {
			views = append(views, collJob{name: c.Collection, meta: meta, file: name})
			continue
		}
		if strings.HasPrefix(c.Collection, "system.") {
			skipped[c.Collection] = true
			l.warn(fmt.Sprintf("collection %s skipped: system collections are the server's, not restored", termshift.Quote(c.Collection)))
			continue
		}
		jobs = append(jobs, collJob{name: c.Collection, meta: meta, file: name, totalBytes: c.Size})
	}
	if len(jobs)+len(views)+len(skipped) == 0 {
		return nil, nil, nil, fmt.Errorf("restore mongo: database %s is not in the archive %s (it holds %s): %w",
			termshift.Quote(l.opts.From), name, quoteList(ar.Databases()), termshift.ErrNotFound)
	}
	demux = func(ctx context.Context, feeds map[string]chan bson.Raw) error {
		for {
			it, err := ar.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if it.Database != l.opts.From || skipped[it.Collection] {
				continue
			}
			ch, ok := feeds[it.Collection]
			if !ok {
				if !known[it.Collection] {
					return &FormatError{File: name, Offset: it.Offset, Msg: fmt.Sprintf("namespace %s has data but no entry in the prelude", it.Database+"."+it.Collection)}
				}
				continue // a view's empty namespace
			}
			if it.EOF {
				close(ch)
				delete(feeds, it.Collection)
				continue
			}
			select {
			case ch <- it.Doc:
			case <-ctx.Done():
				return ctx.Err()
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
