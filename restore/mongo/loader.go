package mongo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// run is one Load in progress: it loads collections into the target database.
type run struct {
	req     restore.Request
	threads int
	created map[string]bool // collections and views this run created
	log     *slog.Logger
	db      *mongo.Database
	report  *restore.Report

	counts map[string]int64 // documents the manifest counts, when there is one

	mu       sync.Mutex // guards warnings, created and report.Objects
	warnings []string
}

func (l *run) markCreated(name string) {
	l.mu.Lock()
	l.created[name] = true
	l.mu.Unlock()
}

func (l *run) warn(msg string) {
	l.mu.Lock()
	l.warnings = append(l.warnings, msg)
	l.mu.Unlock()
	l.log.Warn(msg)
}

func (l *run) progress(ev restore.Event) {
	if l.req.Progress != nil {
		l.req.Progress(ev)
	}
}

// prepareTarget refuses a target that already holds collections, or drops
// them with DropExisting. The marker collection and the server's system
// collections are left alone.
func (l *run) prepareTarget(ctx context.Context) error {
	names, err := l.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("list collections of target %s: %w", termshift.Quote(l.req.To), err)
	}
	var existing []string
	for _, n := range names {
		if n != MarkerCollection && !strings.HasPrefix(n, "system.") {
			existing = append(existing, n)
		}
	}
	if len(existing) == 0 {
		return nil
	}
	if !l.req.DropExisting {
		return termshift.WithHint(
			fmt.Errorf("restore mongo into %s: the target already holds %d collection(s) (%s): %w", termshift.Quote(l.req.To), len(existing), quoteList(existing), termshift.ErrRefused),
			"restore into a freshly carved namespace, or pass DropExisting to replace what it holds")
	}
	for _, n := range existing {
		if err := l.db.Collection(n).Drop(ctx); err != nil {
			return fmt.Errorf("drop %s.%s before restoring: %w", l.req.To, n, err)
		}
		l.log.Info("dropped existing collection", "collection", n)
	}
	return nil
}

// loadAll loads every job. A directory's collections run Threads at a time. An
// archive's run all at once, fed by demux: the archive interleaves them as
// mongodump wrote them, so holding one back would stall the others.
func (l *run) loadAll(ctx context.Context, jobs []collJob, demux func(context.Context, map[string]*feed) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		cancel()
	}
	do := func(j collJob) {
		obj, err := l.loadCollection(ctx, j)
		if err != nil {
			fail(err)
			return
		}
		l.mu.Lock()
		l.report.Objects = append(l.report.Objects, obj)
		l.mu.Unlock()
	}
	if demux == nil {
		queue := make(chan collJob)
		for range min(l.threads, len(jobs)) {
			wg.Go(func() {
				for j := range queue {
					do(j)
				}
			})
		}
	feed:
		for _, j := range jobs {
			select {
			case queue <- j:
			case <-ctx.Done():
				break feed
			}
		}
		close(queue)
	} else {
		feeds := map[string]*feed{}
		b := newBudget(archiveBufferBytes)
		for _, j := range jobs {
			f := newFeed(b)
			feeds[j.name] = f
			j.open = func(ctx context.Context) (func() (bson.Raw, error), func(), error) {
				next := func() (bson.Raw, error) {
					doc, ok, err := f.next(ctx)
					if err != nil {
						return nil, err
					}
					if !ok {
						return nil, io.EOF
					}
					return doc, nil
				}
				return next, func() {}, nil
			}
			wg.Go(func() { do(j) })
		}
		wg.Go(func() {
			if err := demux(ctx, feeds); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	// Report the cause, not the cancellations it caused.
	for _, err := range errs {
		if !errors.Is(err, context.Canceled) {
			return err
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return ctx.Err()
}

// loadCollection creates one collection, streams its documents in, creates
// its indexes and proves the result.
func (l *run) loadCollection(ctx context.Context, j collJob) (restore.ObjectReport, error) {
	start := time.Now()
	obj := restore.ObjectReport{Name: j.name}
	create := append(bson.D{{Key: "create", Value: j.name}}, j.meta.createOptions()...)
	// Marked before it is asked for: a create cut short by a cancellation
	// may still happen on the server, and a failed restore drops what it
	// marked (dropping a collection that is not there is no error).
	l.markCreated(j.name)
	if err := l.db.RunCommand(ctx, create).Err(); err != nil {
		return obj, fmt.Errorf("create collection %s.%s: %w", l.req.To, j.name, err)
	}
	next, closeStream, err := j.open(ctx)
	if err != nil {
		return obj, err
	}
	closeFn := sync.OnceFunc(closeStream)
	defer closeFn()
	coll := l.db.Collection(j.name)
	var (
		hash      MultisetHash
		batch     = make([]bson.Raw, 0, batchDocs)
		size      int
		firstDoc  int64 // index of the batch's first document
		insertOpt = options.InsertMany().SetOrdered(false)
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := coll.InsertMany(ctx, batch, insertOpt); err != nil {
			return fmt.Errorf("insert documents %d..%d of %s into %s.%s: %w", firstDoc, firstDoc+int64(len(batch))-1, j.file, l.req.To, j.name, err)
		}
		firstDoc += int64(len(batch))
		clear(batch)
		batch, size = batch[:0], 0
		l.progress(restore.Event{Object: j.name, Unit: restore.UnitDocuments, Count: obj.Expected, Total: l.counts[j.name], Bytes: obj.Bytes, TotalBytes: j.totalBytes})
		return nil
	}
	for {
		doc, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return obj, err
		}
		hash.Add(doc)
		obj.Expected++
		obj.Bytes += int64(len(doc))
		batch = append(batch, doc)
		size += len(doc)
		if len(batch) >= batchDocs || size >= batchBytes {
			if err := flush(); err != nil {
				return obj, err
			}
		}
	}
	if err := flush(); err != nil {
		return obj, err
	}
	closeFn()
	obj.Hash = hash.Hex()

	for _, ix := range j.meta.Indexes {
		if ix.Name == "_id_" {
			continue
		}
		if err := l.createIndex(ctx, j.name, ix); err != nil {
			return obj, err
		}
	}

	// The proof reads every document back: it counts and hashes them in one
	// pass (a separate count would read the collection a second time on a
	// server that counts by scanning, as FerretDB does).
	l.log.Info("collection loaded, reading it back for the proof", "collection", j.name, "documents", obj.Expected, "seconds", time.Since(start).Seconds())
	back, loaded, err := hashCollection(ctx, coll)
	if err != nil {
		return obj, fmt.Errorf("read back %s.%s: %w", l.req.To, j.name, err)
	}
	obj.Loaded = loaded
	obj.HashLoaded = back.Hex()
	obj.Seconds = time.Since(start).Seconds()
	done := restore.Event{Object: j.name, Unit: restore.UnitDocuments, Count: obj.Expected, Total: l.counts[j.name], Bytes: obj.Bytes, TotalBytes: j.totalBytes, Done: true}
	if done.TotalBytes > 0 {
		done.Bytes = done.TotalBytes
	}
	l.progress(done)
	l.log.Info("collection restored", "collection", j.name, "documents", obj.Expected, "loaded", obj.Loaded, "proof", obj.OK())
	return obj, nil
}

// hashCollection reads every document of a collection back, hashes them
// and counts them.
func hashCollection(ctx context.Context, coll *mongo.Collection) (MultisetHash, int64, error) {
	var h MultisetHash
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(batchDocs))
	if err != nil {
		return h, 0, err
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var n int64
	for cur.Next(ctx) {
		h.Add(cur.Current)
		n++
	}
	return h, n, cur.Err()
}

// Server error codes with which a server refuses an index it does not
// implement. FerretDB answers a hashed index with IndexNotFound.
const (
	codeBadValue            = 2
	codeIndexNotFound       = 27
	codeCannotCreateIndex   = 67
	codeCommandNotSupported = 115
	codeNotImplemented      = 238
)

// unsupportedIndex reports whether err is the server refusing an index of a
// special kind (hashed, text, geo, wildcard) it does not implement, as
// opposed to failing one it does implement (duplicate keys, arrays in a
// hashed field, ...), which keeps its own code.
func unsupportedIndex(ix Index, err error) (mongo.CommandError, bool) {
	var ce mongo.CommandError
	if !errors.As(err, &ce) {
		return ce, false
	}
	switch ce.Code {
	case codeNotImplemented, codeCommandNotSupported:
		return ce, true
	case codeIndexNotFound, codeCannotCreateIndex, codeBadValue:
		return ce, ix.Kind() != "" && ix.Kind() != "1" && strings.Contains(strings.ToLower(ce.Message), strings.ToLower(ix.Kind()))
	}
	return ce, false
}

// createIndex recreates one index. An index of a special kind (hashed,
// text, geo, wildcard) that the server says it does not implement becomes a
// warning; any other failure fails the restore.
func (l *run) createIndex(ctx context.Context, coll string, ix Index) error {
	cmd := bson.D{{Key: "createIndexes", Value: coll}, {Key: "indexes", Value: bson.A{ix.Spec}}}
	err := l.db.RunCommand(ctx, cmd).Err()
	if err == nil {
		return nil
	}
	if ce, ok := unsupportedIndex(ix, err); ok {
		kind := ix.Kind()
		if kind == "" {
			kind = "with these options"
		}
		l.warn(fmt.Sprintf("index %s %s on collection %s not created: the server does not support it (%s)",
			termshift.Quote(ix.Name), kind, termshift.Quote(coll), ce.Message))
		return nil
	}
	return fmt.Errorf("create index %s on %s.%s: %w", termshift.Quote(ix.Name), l.req.To, coll, err)
}

// createViews creates the views after the collections, each after the view
// it reads from when that is a view too.
func (l *run) createViews(ctx context.Context, views []collJob) error {
	pending := map[string]collJob{}
	for _, v := range views {
		pending[v.name] = v
	}
	for len(pending) > 0 {
		progressed := false
		for _, v := range views {
			if _, ok := pending[v.name]; !ok {
				continue
			}
			var on string
			for _, e := range v.meta.Options {
				if e.Key == "viewOn" {
					on, _ = e.Value.(string)
				}
			}
			if _, waits := pending[on]; waits && on != v.name {
				continue
			}
			create := append(bson.D{{Key: "create", Value: v.name}}, v.meta.createOptions()...)
			if err := l.db.RunCommand(ctx, create).Err(); err != nil {
				return fmt.Errorf("create view %s.%s (from %s): %w", l.req.To, v.name, v.file, err)
			}
			l.markCreated(v.name)
			delete(pending, v.name)
			progressed = true
			l.mu.Lock()
			l.report.Objects = append(l.report.Objects, restore.ObjectReport{Name: v.name})
			l.mu.Unlock()
		}
		if !progressed {
			return fmt.Errorf("create views in %s: views read from each other in a cycle: %w", l.req.To, termshift.ErrInvalid)
		}
	}
	return nil
}
