// Command bench measures a MongoDB restore against the server's own
// ceiling, on the local servers (make services).
//
// It writes -docs forum-like documents (cs_comments_service's contents,
// subscriptions and users, with their indexes) as a mongodump directory and
// a mongodump archive under .termshift-dev/bench-mongo, kept for the next
// run. It then loads the same documents three ways into scratch databases,
// each dropped afterwards: the ceiling (the .bson files' documents sent as
// they are in unordered insertMany batches of 1000 through the driver, one
// goroutine per collection, then the same indexes: no parsing, no proof),
// and restore/mongo's Loader from the directory and from the archive (with
// its proof: every document hashed as read, then read back and hashed
// again). It ends with
//
//	mongo-bench: restore N docs/s, ceiling N docs/s, ratio R, peak RSS N MiB
//
// where restore is the slower of the two restores, timed like the ceiling:
// until every document is in and every index built (the loader logs it).
// The line before it gives the same figures over the whole Load, proof
// included: reading a collection back costs the server about as much as
// writing it (FerretDB more), which the ceiling never pays.
//
// Usage: go run ./restore/mongo/bench [-docs 50000] [-threads N] [-cpuprofile FILE]
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash/crc64"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
	rmongo "github.com/termshift/termshift/restore/mongo"
)

func main() {
	// FerretDB, the local MongoDB server, loads forum documents at a few
	// thousand a second and reads them back slower: 50,000 take minutes.
	docs := flag.Int("docs", 50_000, "documents in the bench backup")
	threads := flag.Int("threads", runtime.NumCPU(), "collections the restore loads at once")
	cpuProfile := flag.String("cpuprofile", "", "write this process's CPU profile to the file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "mongo-bench: cpu profile:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(ctx, *docs, *threads); err != nil {
		fmt.Fprintln(os.Stderr, "mongo-bench:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, docs, threads int) error {
	if docs < 10 || threads < 1 {
		return fmt.Errorf("-docs must be at least 10 and -threads at least 1 (got %d, %d)", docs, threads)
	}
	uri, ok := termshift.LocalSetting("TERMSHIFT_MONGO_URI")
	if !ok {
		return fmt.Errorf("TERMSHIFT_MONGO_URI is not set and %s has no value: run `make services` first", termshift.DevEnvFile)
	}
	work, err := workDir(docs)
	if err != nil {
		return err
	}
	client, err := connect(ctx, uri)
	if err != nil {
		return err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))

	ceiling, err := measureCeiling(ctx, client, work)
	if err != nil {
		return fmt.Errorf("ceiling: %w", err)
	}
	loader := &rmongo.Loader{URI: termshift.Secret(uri)}
	slowest, slowestProof := 0.0, 0.0
	for _, path := range []string{"dump", "forum.archive"} {
		rate, withProof, err := measureRestore(ctx, client, loader, work, path, threads)
		if err != nil {
			return fmt.Errorf("restore %s: %w", path, err)
		}
		if slowest == 0 || rate < slowest {
			slowest = rate
		}
		if slowestProof == 0 || withProof < slowestProof {
			slowestProof = withProof
		}
	}
	peak, err := peakRSS()
	if err != nil {
		return err
	}
	fmt.Printf("with the proof: restore %.0f docs/s, ratio %.2f (the proof reads every document back, which the ceiling does not)\n", slowestProof, slowestProof/ceiling)
	fmt.Printf("mongo-bench: restore %.0f docs/s, ceiling %.0f docs/s, ratio %.2f, peak RSS %d MiB\n", slowest, ceiling, slowest/ceiling, peak>>20)
	return nil
}

func connect(ctx context.Context, uri string) (*mongo.Client, error) {
	copts := options.Client().ApplyURI(uri)
	if err := copts.Validate(); err != nil {
		return nil, errors.New("TERMSHIFT_MONGO_URI is not a valid MongoDB URI")
	}
	client, err := mongo.Connect(copts)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", strings.Join(copts.Hosts, ","), err)
	}
	if err := client.Ping(ctx, nil); err != nil {
		client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("reach the MongoDB server at %s (is `make services` up?): %w", strings.Join(copts.Hosts, ","), err)
	}
	return client, nil
}

func scratchName(what string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "mongo_bench_" + what + "_" + hex.EncodeToString(b)
}

func drop(ctx context.Context, db *mongo.Database) {
	if err := db.Drop(context.WithoutCancel(ctx)); err != nil {
		fmt.Fprintf(os.Stderr, "mongo-bench: drop scratch database %s: %v\n", db.Name(), err)
	}
}

// measureRestore loads the backup at path through restore/mongo and returns
// documents per second until every collection is loaded and indexed, and
// over the whole Load, its proof included.
func measureRestore(ctx context.Context, client *mongo.Client, loader *rmongo.Loader, work, path string, threads int) (load, withProof float64, err error) {
	to := scratchName("restore")
	defer drop(ctx, client.Database(to))
	clock := &loadedClock{}
	started := time.Now()
	rep, err := loader.Load(ctx, restore.Dir{Root: work}, path, restore.Request{From: "forum", To: to, Threads: threads, Logger: slog.New(clock)})
	if err != nil {
		return 0, 0, err
	}
	secs := time.Since(started).Seconds()
	if !rep.OK() {
		return 0, 0, fmt.Errorf("proof does not hold: %s", rep.Gaps())
	}
	expected, loaded, bytes := rep.Totals()
	if loaded != expected {
		return 0, 0, fmt.Errorf("loaded %d of %d documents", loaded, expected)
	}
	last, n := clock.get()
	if n != len(forumCollections) {
		return 0, 0, fmt.Errorf("the loader said %d collections were loaded, want %d", n, len(forumCollections))
	}
	loadSecs := last.Sub(started).Seconds()
	withProof = float64(loaded) / secs
	load = float64(loaded) / loadSecs
	fmt.Printf("restore %s: %d documents (%.1f MiB) with %d threads: loaded and indexed in %.2fs (%.0f docs/s); with the proof (every document read back and hashed) %.2fs (%.0f docs/s), every proof held\n",
		path, loaded, float64(bytes)/(1<<20), threads, loadSecs, load, secs, withProof)
	return load, withProof, nil
}

// loadedClock notes when restore/mongo logs that a collection is loaded
// (documents and indexes in; its proof reads it back next).
type loadedClock struct {
	mu   sync.Mutex
	last time.Time
	n    int
}

func (c *loadedClock) Enabled(context.Context, slog.Level) bool { return true }
func (c *loadedClock) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *loadedClock) WithGroup(string) slog.Handler            { return c }
func (c *loadedClock) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "collection loaded") {
		c.mu.Lock()
		c.last = time.Now()
		c.n++
		c.mu.Unlock()
	}
	return nil
}

func (c *loadedClock) get() (time.Time, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.n
}

// measureCeiling inserts the dump's documents as they are, one goroutine per
// collection, then creates the same indexes, and returns documents per
// second.
func measureCeiling(ctx context.Context, client *mongo.Client, work string) (float64, error) {
	name := scratchName("ceiling")
	db := client.Database(name)
	defer drop(ctx, db)
	started := time.Now()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
		errs  []error
	)
	for _, c := range forumCollections {
		wg.Go(func() {
			n, err := insertRaw(ctx, db.Collection(c.name), filepath.Join(work, "dump", "forum", c.name+".bson"))
			if err == nil {
				err = createIndexes(ctx, db.Collection(c.name), c.indexes)
			}
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	secs := time.Since(started).Seconds()
	rate := float64(total) / secs
	fmt.Printf("ceiling: %d documents inserted as they are (unordered insertMany of 1000, a goroutine per collection) and indexed in %.2fs: %.0f docs/s\n", total, secs, rate)
	return rate, nil
}

// insertRaw sends a .bson file's documents in unordered insertMany batches
// of 1000, each document's bytes as read: no parsing, no validation.
func insertRaw(ctx context.Context, coll *mongo.Collection, file string) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	batch := make([]bson.Raw, 0, 1000)
	var n int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := coll.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false)); err != nil {
			return err
		}
		n += int64(len(batch))
		batch = batch[:0]
		return nil
	}
	var size [4]byte
	for {
		if _, err := io.ReadFull(r, size[:]); err == io.EOF {
			break
		} else if err != nil {
			return n, fmt.Errorf("read %s: %w", file, err)
		}
		doc := make([]byte, binary.LittleEndian.Uint32(size[:]))
		copy(doc, size[:])
		if _, err := io.ReadFull(r, doc[4:]); err != nil {
			return n, fmt.Errorf("read %s: %w", file, err)
		}
		batch = append(batch, doc)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

func createIndexes(ctx context.Context, coll *mongo.Collection, indexes []index) error {
	for _, ix := range indexes {
		opts := options.Index().SetName(ix.name)
		if ix.unique {
			opts.SetUnique(true)
		}
		if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: ix.keys, Options: opts}); err != nil {
			return fmt.Errorf("create index %s: %w", ix.name, err)
		}
	}
	return nil
}

// index is one secondary index of a forum collection.
type index struct {
	name   string
	keys   bson.D
	unique bool
}

type collection struct {
	name    string
	share   int // of every 100 documents
	indexes []index
	gen     func(i int) bson.D
}

var epoch = bson.DateTime(1_700_000_000_000)

// forumCollections are cs_comments_service's collections, with the
// indexes its migrations create that matter for its queries.
var forumCollections = []collection{
	{name: "contents", share: 80, indexes: []index{
		{name: "_type_1_course_id_1_pinned_-1_created_at_-1", keys: bson.D{{Key: "_type", Value: 1}, {Key: "course_id", Value: 1}, {Key: "pinned", Value: -1}, {Key: "created_at", Value: -1}}},
		{name: "comment_thread_id_1_sk_1", keys: bson.D{{Key: "comment_thread_id", Value: 1}, {Key: "sk", Value: 1}}},
		{name: "author_id_1_course_id_1", keys: bson.D{{Key: "author_id", Value: 1}, {Key: "course_id", Value: 1}}},
	}, gen: func(i int) bson.D {
		thread := i%5 == 0
		d := bson.D{
			{Key: "_id", Value: objectID(1, i)},
			{Key: "_type", Value: map[bool]string{true: "CommentThread", false: "Comment"}[thread]},
			{Key: "votes", Value: bson.D{{Key: "up", Value: bson.A{strconv.Itoa(i % 997)}}, {Key: "down", Value: bson.A{}}, {Key: "up_count", Value: int32(1)}, {Key: "down_count", Value: int32(0)}, {Key: "count", Value: int32(1)}, {Key: "point", Value: int32(1)}}},
			{Key: "visible", Value: true},
			{Key: "abuse_flaggers", Value: bson.A{}},
			{Key: "historical_abuse_flaggers", Value: bson.A{}},
			{Key: "thread_type", Value: "discussion"},
			{Key: "anonymous", Value: false},
			{Key: "anonymous_to_peers", Value: false},
			{Key: "author_id", Value: strconv.Itoa(1 + i%50_000)},
			{Key: "author_username", Value: "learner" + strconv.Itoa(1+i%50_000)},
			{Key: "course_id", Value: fmt.Sprintf("course-v1:edX+Course%d+2026_T1", i%40)},
			{Key: "body", Value: fmt.Sprintf("<p>I am stuck on problem %d of week %d: the grader says my answer %d is wrong, but the notes on page %d say otherwise. Has anyone else seen this? %s</p>", i%17, i%12, i*7%1000, i%300, strings.Repeat("Thanks for any help. ", 1+i%6))},
			{Key: "created_at", Value: epoch + bson.DateTime(i)*60_000},
			{Key: "updated_at", Value: epoch + bson.DateTime(i)*60_000},
			{Key: "last_activity_at", Value: epoch + bson.DateTime(i)*61_000},
		}
		if thread {
			d = append(d, bson.E{Key: "title", Value: fmt.Sprintf("Week %d, problem %d: grader disagrees", i%12, i%17)},
				bson.E{Key: "comment_count", Value: int32(i % 9)}, bson.E{Key: "pinned", Value: i%100 == 0},
				bson.E{Key: "commentable_id", Value: fmt.Sprintf("course_%d_discussion", i%40)})
		} else {
			thread := i - i%5
			d = append(d, bson.E{Key: "comment_thread_id", Value: objectID(1, thread)},
				bson.E{Key: "parent_ids", Value: bson.A{}}, bson.E{Key: "sk", Value: objectID(1, i).Hex()},
				bson.E{Key: "endorsed", Value: i%23 == 0})
		}
		return d
	}},
	{name: "subscriptions", share: 15, indexes: []index{
		{name: "subscriber_id_1_source_id_1_source_type_1", keys: bson.D{{Key: "subscriber_id", Value: 1}, {Key: "source_id", Value: 1}, {Key: "source_type", Value: 1}}, unique: true},
		{name: "source_id_1_source_type_1", keys: bson.D{{Key: "source_id", Value: 1}, {Key: "source_type", Value: 1}}},
	}, gen: func(i int) bson.D {
		return bson.D{
			{Key: "_id", Value: objectID(2, i)},
			{Key: "subscriber_id", Value: strconv.Itoa(1 + i%50_000)},
			{Key: "source_id", Value: objectID(1, (i/50_000)*5+i%5).Hex() + strconv.Itoa(i)},
			{Key: "source_type", Value: "CommentThread"},
			{Key: "created_at", Value: epoch + bson.DateTime(i)*60_000},
			{Key: "updated_at", Value: epoch + bson.DateTime(i)*60_000},
		}
	}},
	{name: "users", share: 5, indexes: []index{
		{name: "external_id_1", keys: bson.D{{Key: "external_id", Value: 1}}, unique: true},
		{name: "username_1", keys: bson.D{{Key: "username", Value: 1}}},
	}, gen: func(i int) bson.D {
		return bson.D{
			{Key: "_id", Value: strconv.Itoa(1 + i)},
			{Key: "external_id", Value: strconv.Itoa(1 + i)},
			{Key: "username", Value: "learner" + strconv.Itoa(1+i)},
			{Key: "email", Value: fmt.Sprintf("ada.lovelace%d@gmail.com", 1+i)},
			{Key: "default_sort_key", Value: "date"},
			{Key: "read_states", Value: bson.A{bson.D{{Key: "course_id", Value: fmt.Sprintf("course-v1:edX+Course%d+2026_T1", i%40)}, {Key: "last_read_times", Value: bson.D{}}}}},
			{Key: "course_stats", Value: bson.A{}},
		}
	}},
}

func objectID(kind byte, i int) bson.ObjectID {
	var id bson.ObjectID
	binary.BigEndian.PutUint32(id[:4], uint32(1_700_000_000+i/1000))
	binary.BigEndian.PutUint64(id[4:], uint64(kind)<<56|uint64(i))
	return id
}

// counts splits docs between the collections by their shares.
func counts(docs int) []int {
	out := make([]int, len(forumCollections))
	left := docs
	for i, c := range forumCollections[1:] {
		out[i+1] = docs * c.share / 100
		left -= out[i+1]
	}
	out[0] = left
	return out
}

// workDir returns the bench backup for docs documents, writing it first
// when .termshift-dev/bench-mongo does not hold it yet.
func workDir(docs int) (string, error) {
	dev, err := devDir()
	if err != nil {
		return "", err
	}
	const version = "v1"
	dir := filepath.Join(dev, "bench-mongo", fmt.Sprintf("docs-%d", docs))
	stamp := filepath.Join(dir, "complete")
	if b, err := os.ReadFile(stamp); err == nil && string(b) == version {
		fmt.Printf("backup: reusing %s\n", dir)
		return dir, nil
	}
	started := time.Now()
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(dir, "dump", "forum"), 0o755); err != nil {
		return "", err
	}
	if err := writeBackup(dir, docs); err != nil {
		return "", fmt.Errorf("write bench backup in %s: %w", dir, err)
	}
	if err := os.WriteFile(stamp, []byte(version), 0o644); err != nil {
		return "", err
	}
	fmt.Printf("backup: wrote %d documents as a mongodump directory and archive in %s in %.1fs\n", docs, dir, time.Since(started).Seconds())
	return dir, nil
}

// devDir finds .termshift-dev in the working directory or a parent.
func devDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		d := filepath.Join(dir, ".termshift-dev")
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no .termshift-dev in the working directory or its parents: run from the repository after `make services`")
		}
		dir = parent
	}
}

func metadataJSON(c collection) (string, error) {
	ixs := bson.A{bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}}}
	for _, ix := range c.indexes {
		spec := bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: ix.keys}, {Key: "name", Value: ix.name}}
		if ix.unique {
			spec = append(spec, bson.E{Key: "unique", Value: true})
		}
		ixs = append(ixs, spec)
	}
	b, err := bson.MarshalExtJSON(bson.D{{Key: "options", Value: bson.D{}}, {Key: "indexes", Value: ixs}, {Key: "collectionName", Value: c.name}, {Key: "type", Value: "collection"}}, true, false)
	return string(b), err
}

// writeBackup writes dump/forum/COLL.bson and .metadata.json, then
// forum.archive from the same documents, interleaved in blocks of 1000 per
// collection as a mongodump of several collections at once writes them.
func writeBackup(dir string, docs int) error {
	n := counts(docs)
	metas := make([]string, len(forumCollections))
	sizes := make([]int64, len(forumCollections))
	for ci, c := range forumCollections {
		meta, err := metadataJSON(c)
		if err != nil {
			return err
		}
		metas[ci] = meta
		if err := os.WriteFile(filepath.Join(dir, "dump", "forum", c.name+".metadata.json"), []byte(meta), 0o644); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(dir, "dump", "forum", c.name+".bson"))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		for i := range n[ci] {
			b, err := bson.Marshal(c.gen(i))
			if err != nil {
				f.Close()
				return err
			}
			w.Write(b)
			sizes[ci] += int64(len(b))
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}

	f, err := os.Create(filepath.Join(dir, "forum.archive"))
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	term := []byte{0xff, 0xff, 0xff, 0xff}
	put := func(d bson.D) error {
		b, err := bson.Marshal(d)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	w.Write(binary.LittleEndian.AppendUint32(nil, rmongo.ArchiveMagic))
	if err := put(bson.D{{Key: "concurrent_collections", Value: int32(4)}, {Key: "version", Value: "0.1"}, {Key: "server_version", Value: "7.0.0"}, {Key: "tool_version", Value: "termshift mongo-bench"}}); err != nil {
		return err
	}
	for ci, c := range forumCollections {
		if err := put(bson.D{{Key: "db", Value: "forum"}, {Key: "collection", Value: c.name}, {Key: "metadata", Value: metas[ci]}, {Key: "size", Value: sizes[ci]}, {Key: "type", Value: "collection"}}); err != nil {
			return err
		}
	}
	w.Write(term)
	table := crc64.MakeTable(crc64.ECMA)
	crcs := make([]uint64, len(forumCollections))
	const block = 1000
	for start := 0; ; start += block {
		more := false
		for ci, c := range forumCollections {
			if start >= n[ci] {
				continue
			}
			more = true
			if err := put(bson.D{{Key: "db", Value: "forum"}, {Key: "collection", Value: c.name}, {Key: "EOF", Value: false}, {Key: "CRC", Value: int64(0)}}); err != nil {
				return err
			}
			for i := start; i < min(start+block, n[ci]); i++ {
				b, err := bson.Marshal(c.gen(i))
				if err != nil {
					return err
				}
				crcs[ci] = crc64.Update(crcs[ci], table, b)
				w.Write(b)
			}
			w.Write(term)
		}
		if !more {
			break
		}
	}
	for ci, c := range forumCollections {
		if err := put(bson.D{{Key: "db", Value: "forum"}, {Key: "collection", Value: c.name}, {Key: "EOF", Value: true}, {Key: "CRC", Value: int64(crcs[ci])}}); err != nil {
			return err
		}
		w.Write(term)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// peakRSS is the process's peak resident set, in bytes (getrusage's
// ru_maxrss, in KiB on Linux: /proc/self/status's VmHWM).
func peakRSS() (int64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("read peak RSS: %w", err)
	}
	return ru.Maxrss << 10, nil
}
