// Package mongo takes snapshots of MongoDB databases and serves them in
// mongodump's layouts, as restore/mongo and mongorestore read them: a dump
// directory (prelude.json, DB/COLL.bson, DB/COLL.metadata.json with the
// collection's options and indexes) or one mongodump --archive file per
// database (DB.archive).
//
// MongoDB (and FerretDB) offer no point-in-time read across collections
// without a replica set's snapshot reads: like mongodump without --oplog,
// each collection is read once with one cursor. The counts a snapshot
// records are the documents it read; Changes compares them with the server.
package mongo

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
	"github.com/termshift/termshift/restore"
)

// MarkerCollection is tenancy's ownership marker: termshift's, not the
// release's data, never dumped.
const MarkerCollection = "termshift_namespace"

// Dumper snapshots databases of a server it reaches as an administrator.
type Dumper struct {
	URI termshift.Secret
}

// Snapshot serves some databases in mongodump's layout (restore.Source).
type Snapshot struct {
	req     backup.Request
	client  *mongo.Client
	server  string
	taken   time.Time
	dbs     []*database
	files   map[string]*file
	names   []string
	threads int

	mu       sync.Mutex
	read     map[*collection]int64 // documents of the last whole read
	warnings []string
}

var _ backup.Snapshot = (*Snapshot)(nil)

type database struct {
	server, name string
	colls        []*collection
}

type collection struct {
	db       *database
	name     string
	view     bool
	metadata []byte // COLL.metadata.json: options, indexes, uuid, name, type
	before   int64  // documents counted when the snapshot was opened
	size     int64  // collStats size, for the archive's prelude
}

type file struct {
	content []byte
	coll    *collection // COLL.bson
	archive *database   // DB.archive
}

// Service implements backup.Snapshot.
func (s *Snapshot) Service() termshift.Service { return termshift.MongoDB }

func (s *Snapshot) String() string {
	var names []string
	for _, d := range s.dbs {
		names = append(names, d.server)
	}
	return "mongodb://" + strings.Join(names, ",")
}

// Snapshot lists the databases req.Names names (server -> name in the
// snapshot), their collections, options, indexes and counts.
func (d *Dumper) Snapshot(ctx context.Context, req backup.Request) (*Snapshot, error) {
	if len(req.Names) == 0 {
		return nil, fmt.Errorf("mongo snapshot: no database named: %w", termshift.ErrInvalid)
	}
	seen := map[string]string{}
	for server, name := range req.Names {
		for _, n := range []string{server, name} {
			if err := termshift.ValidateMongoDatabase(n); err != nil {
				return nil, fmt.Errorf("mongo snapshot: %w", err)
			}
		}
		if other, dup := seen[name]; dup {
			return nil, fmt.Errorf("mongo snapshot: databases %s and %s would both be %s in the backup: %w", termshift.Quote(other), termshift.Quote(server), termshift.Quote(name), termshift.ErrInvalid)
		}
		seen[name] = server
	}
	client, err := mongo.Connect(options.Client().ApplyURI(d.URI.Reveal()))
	if err != nil {
		return nil, fmt.Errorf("mongo snapshot: connect: %w", redact(err, d.URI))
	}
	threads, _ := restore.Request{Threads: req.Threads}.ThreadCount(0)
	s := &Snapshot{req: req, client: client, files: map[string]*file{}, read: map[*collection]int64{}, threads: threads}
	if err := s.open(ctx); err != nil {
		s.Close()
		return nil, redact(err, d.URI)
	}
	return s, nil
}

func (s *Snapshot) open(ctx context.Context) error {
	var bi struct {
		Version string `bson:"version"`
	}
	if err := s.client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&bi); err != nil {
		return fmt.Errorf("mongo snapshot: buildInfo: %w", err)
	}
	s.server = bi.Version
	existing, err := s.client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("mongo snapshot: list databases: %w", err)
	}
	servers := make([]string, 0, len(s.req.Names))
	for n := range s.req.Names {
		servers = append(servers, n)
	}
	sort.Strings(servers)
	for _, server := range servers {
		found := false
		for _, e := range existing {
			found = found || e == server
		}
		if !found {
			return fmt.Errorf("mongo snapshot: no database %s: %w", termshift.Quote(server), termshift.ErrNotFound)
		}
		db := &database{server: server, name: s.req.Names[server]}
		if err := s.readDatabase(ctx, db); err != nil {
			return err
		}
		s.dbs = append(s.dbs, db)
	}
	s.taken = time.Now()
	s.layout()
	return nil
}

// collInfo is one listCollections entry.
type collInfo struct {
	Name    string   `bson:"name"`
	Type    string   `bson:"type"`
	Options bson.Raw `bson:"options"`
	Info    struct {
		UUID bson.Binary `bson:"uuid"`
	} `bson:"info"`
}

func (s *Snapshot) readDatabase(ctx context.Context, db *database) error {
	mdb := s.client.Database(db.server)
	cur, err := mdb.ListCollections(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("mongo snapshot: list collections of %s: %w", termshift.Quote(db.server), err)
	}
	var infos []collInfo
	if err := cur.All(ctx, &infos); err != nil {
		return fmt.Errorf("mongo snapshot: list collections of %s: %w", termshift.Quote(db.server), err)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	for _, ci := range infos {
		if strings.HasPrefix(ci.Name, "system.") || ci.Name == MarkerCollection {
			continue
		}
		c := &collection{db: db, name: ci.Name, view: ci.Type == "view"}
		var indexes []bson.Raw
		if !c.view {
			ic, err := mdb.Collection(ci.Name).Indexes().List(ctx)
			if err != nil {
				return fmt.Errorf("mongo snapshot: indexes of %s.%s: %w", db.server, ci.Name, err)
			}
			if err := ic.All(ctx, &indexes); err != nil {
				return fmt.Errorf("mongo snapshot: indexes of %s.%s: %w", db.server, ci.Name, err)
			}
			if c.before, err = mdb.Collection(ci.Name).CountDocuments(ctx, bson.D{}); err != nil {
				return fmt.Errorf("mongo snapshot: count %s.%s: %w", db.server, ci.Name, err)
			}
			if s.req.Archive {
				// The archive's prelude gives each collection's size.
				var st struct {
					Size int64 `bson:"size"`
				}
				if err := mdb.RunCommand(ctx, bson.D{{Key: "collStats", Value: ci.Name}}).Decode(&st); err == nil {
					c.size = st.Size
				}
			}
		}
		meta, err := metadataJSON(ci, indexes)
		if err != nil {
			return fmt.Errorf("mongo snapshot: metadata of %s.%s: %w", db.server, ci.Name, err)
		}
		c.metadata = meta
		db.colls = append(db.colls, c)
	}
	return nil
}

// metadataJSON is mongodump's COLL.metadata.json: canonical extended JSON
// of options, indexes (without the "ns" of older servers, which would name
// the source database), uuid, collectionName and type.
func metadataJSON(ci collInfo, indexes []bson.Raw) ([]byte, error) {
	opts := bson.D{}
	if len(ci.Options) > 0 {
		if err := bson.Unmarshal(ci.Options, &opts); err != nil {
			return nil, err
		}
	}
	ixs := bson.A{}
	for _, ix := range indexes {
		var d bson.D
		if err := bson.Unmarshal(ix, &d); err != nil {
			return nil, err
		}
		var kept bson.D
		for _, e := range d {
			if e.Key != "ns" {
				kept = append(kept, e)
			}
		}
		ixs = append(ixs, kept)
	}
	typ := ci.Type
	if typ == "" {
		typ = "collection"
	}
	doc := bson.D{{Key: "options", Value: opts}, {Key: "indexes", Value: ixs}}
	if len(ci.Info.UUID.Data) > 0 {
		doc = append(doc, bson.E{Key: "uuid", Value: hex.EncodeToString(ci.Info.UUID.Data)})
	}
	doc = append(doc, bson.E{Key: "collectionName", Value: ci.Name}, bson.E{Key: "type", Value: typ})
	return bson.MarshalExtJSON(doc, true, false)
}

// layout names the files: a dump directory, or one archive per database.
func (s *Snapshot) layout() {
	if s.req.Archive {
		for _, db := range s.dbs {
			s.files[db.name+".archive"] = &file{archive: db}
		}
	} else {
		prelude, _ := json.Marshal(map[string]string{"ServerVersion": s.server, "ToolVersion": "termshift " + backup.Version()})
		s.files["prelude.json"] = &file{content: prelude}
		for _, db := range s.dbs {
			dir := url.PathEscape(db.name)
			for _, c := range db.colls {
				base := path.Join(dir, url.PathEscape(c.name))
				s.files[base+".metadata.json"] = &file{content: c.metadata}
				if !c.view {
					s.files[base+".bson"] = &file{coll: c}
				}
			}
		}
	}
	for n := range s.files {
		s.names = append(s.names, n)
	}
	sort.Strings(s.names)
}

// List implements restore.Source.
func (s *Snapshot) List(_ context.Context, dir string) ([]restore.FileInfo, error) {
	dir = strings.Trim(path.Clean("/"+dir), "/")
	var out []restore.FileInfo
	for _, n := range s.names {
		if dir == "" || n == dir || strings.HasPrefix(n, dir+"/") {
			f := s.files[n]
			out = append(out, restore.FileInfo{Name: n, Size: int64(len(f.content)), ModTime: s.taken})
		}
	}
	return out, nil
}

// Open implements restore.Source: data streams from a cursor as it is read.
func (s *Snapshot) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	f, ok := s.files[name]
	if !ok {
		return nil, fmt.Errorf("open %s in %s: %w", name, s, termshift.ErrNotFound)
	}
	if f.content != nil {
		return io.NopCloser(bytes.NewReader(f.content)), nil
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		_, err := s.WriteFile(ctx, name, pw)
		pw.CloseWithError(err)
	}()
	return &pipeFile{PipeReader: pr, cancel: cancel}, nil
}

type pipeFile struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (p *pipeFile) Close() error {
	p.cancel()
	return p.PipeReader.Close()
}

// WriteFile writes one file straight into w.
func (s *Snapshot) WriteFile(ctx context.Context, name string, w io.Writer) (int64, error) {
	f, ok := s.files[name]
	if !ok {
		return 0, fmt.Errorf("open %s in %s: %w", name, s, termshift.ErrNotFound)
	}
	switch {
	case f.content != nil:
		n, err := w.Write(f.content)
		return int64(n), err
	case f.coll != nil:
		cw := &countWriter{w: w}
		err := s.dumpCollection(ctx, f.coll, func(doc bson.Raw) error {
			_, err := cw.Write(doc)
			return err
		})
		return cw.n, err
	}
	cw := &countWriter{w: w}
	err := s.writeArchive(ctx, f.archive, cw)
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// dumpCollection reads a collection with one cursor and hands each
// document on; the documents of a whole read are recorded.
func (s *Snapshot) dumpCollection(ctx context.Context, c *collection, each func(bson.Raw) error) error {
	cur, err := s.client.Database(c.db.server).Collection(c.name).Find(ctx, bson.D{}, options.Find().SetBatchSize(1000))
	if err != nil {
		return fmt.Errorf("mongo: read %s.%s: %w", c.db.server, c.name, err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var n, bytes int64
	obj := c.db.name + "." + c.name
	for cur.Next(ctx) {
		if err := each(cur.Current); err != nil {
			return err
		}
		n++
		bytes += int64(len(cur.Current))
		if n%5000 == 0 {
			s.req.Progress.Send(restore.Event{Object: obj, Unit: restore.UnitDocuments, Count: n, Total: c.before, Bytes: bytes})
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("mongo: read %s.%s: %w", c.db.server, c.name, err)
	}
	s.mu.Lock()
	s.read[c] = n
	s.mu.Unlock()
	s.req.Progress.Send(restore.Event{Object: obj, Unit: restore.UnitDocuments, Count: n, Total: c.before, Bytes: bytes, Done: true})
	return nil
}

// Info implements backup.Snapshot: each collection with the documents read
// (the counts taken when the snapshot opened until it is read).
func (s *Snapshot) Info(context.Context) (backup.Info, error) {
	info := backup.Info{Service: termshift.MongoDB, Server: s.server, Taken: s.taken,
		Consistency: "each collection read once with one cursor (like mongodump without --oplog): no point-in-time view across collections"}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, db := range s.dbs {
		for _, c := range db.colls {
			if c.view {
				continue
			}
			n, read := s.read[c]
			if !read {
				n = c.before
			} else if n != c.before {
				info.Warnings = append(info.Warnings, fmt.Sprintf("collection %s.%s: %d documents counted when the snapshot opened, %d read: it changed during the backup", db.server, c.name, c.before, n))
			}
			info.Objects = append(info.Objects, restore.ManifestObject{Service: string(termshift.MongoDB), Database: db.name, Name: c.name, Count: n})
		}
	}
	info.Warnings = append(info.Warnings, s.warnings...)
	return info, nil
}

// Counts returns the documents of each collection of the database named
// name in the snapshot, counted when the snapshot opened.
func (s *Snapshot) Counts(name string) map[string]int64 {
	out := map[string]int64{}
	for _, db := range s.dbs {
		if db.name != name {
			continue
		}
		for _, c := range db.colls {
			if !c.view {
				out[c.name] = c.before
			}
		}
	}
	return out
}

// Changes implements backup.Snapshot: collections whose count now differs
// from the one taken when the snapshot opened, and collections created or
// dropped since. A change that keeps the count (an update) is not seen.
func (s *Snapshot) Changes(ctx context.Context) ([]string, error) {
	var out []string
	for _, db := range s.dbs {
		mdb := s.client.Database(db.server)
		names, err := mdb.ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return nil, fmt.Errorf("mongo: list collections of %s: %w", db.server, err)
		}
		now := map[string]bool{}
		for _, n := range names {
			if !strings.HasPrefix(n, "system.") && n != MarkerCollection {
				now[n] = true
			}
		}
		for _, c := range db.colls {
			if !now[c.name] {
				out = append(out, fmt.Sprintf("collection %s.%s was dropped", db.server, c.name))
				continue
			}
			delete(now, c.name)
			if c.view {
				continue
			}
			n, err := mdb.Collection(c.name).CountDocuments(ctx, bson.D{})
			if err != nil {
				return nil, fmt.Errorf("mongo: count %s.%s: %w", db.server, c.name, err)
			}
			if n != c.before {
				out = append(out, fmt.Sprintf("collection %s.%s: %d documents in the snapshot, %d now", db.server, c.name, c.before, n))
			}
		}
		for n := range now {
			out = append(out, fmt.Sprintf("collection %s.%s was created", db.server, termshift.Quote(n)))
		}
	}
	sort.Strings(out)
	return out, nil
}

// Close disconnects.
func (s *Snapshot) Close() error {
	return s.client.Disconnect(context.Background())
}

// redact keeps the URI's password out of a driver error.
func redact(err error, uri termshift.Secret) error {
	if err == nil {
		return nil
	}
	u, perr := url.Parse(uri.Reveal())
	if perr != nil || u.User == nil {
		return err
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "[redacted]"))
}
