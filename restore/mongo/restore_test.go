package mongo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

type server struct {
	uri    termshift.Secret
	kind   string // ferretdb or mongod
	client *mongo.Client
}

func testServer(t *testing.T) server {
	t.Helper()
	uri := termshift.Secret(termshift.RequireLocalSetting(t, "TERMSHIFT_MONGO_URI"))
	kind, _ := termshift.LocalSetting("TERMSHIFT_MONGO_SERVER")
	client, err := connect(t.Context(), uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Disconnect(context.Background()) })
	return server{uri: uri, kind: kind, client: client}
}

// targetDB returns a unique database name, dropped when the test ends.
func (s server) targetDB(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "rtmongo_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if err := s.client.Database(name).Drop(context.Background()); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return name
}

func (s server) indexNames(t *testing.T, db, coll string) []string {
	t.Helper()
	cur, err := s.client.Database(db).Collection(coll).Indexes().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var specs []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(t.Context(), &specs); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return names
}

func (s server) opts(to, from string) restore.Request {
	return restore.Request{From: from, To: to, Threads: 4}
}

func (s server) loader() *Loader { return &Loader{URI: s.uri} }

type objCount struct {
	Name     string
	Expected int64
	Loaded   int64
}

func counts(rep *restore.Report) []objCount {
	var out []objCount
	for _, o := range rep.Objects {
		out = append(out, objCount{o.Name, o.Expected, o.Loaded})
	}
	return out
}

func checkProof(t *testing.T, rep *restore.Report) {
	t.Helper()
	for _, o := range rep.Objects {
		if !o.OK() || len(o.Hash) != 64 {
			t.Errorf("%s: proof does not hold: %+v", o.Name, o)
		}
	}
}

func TestRestoreCorpus(t *testing.T) {
	src := corpus(t)
	s := testServer(t)
	tests := []struct {
		path, from string
		format     string
		want       []objCount
		indexes    map[string][]string // beyond _id_
		warnings   []string            // substrings, in order
	}{
		{"testdirs", "db1", FormatDump, []objCount{{"c1", 100, 100}, {"c4", 10, 10}}, nil, nil},
		{"coll_with_index", "test", FormatDump, []objCount{{"foo", 1, 1}}, map[string][]string{"foo": {"f_1"}}, nil},
		{"specialcharacter", "db1", FormatDump, []objCount{{"cafés", 1, 1}}, nil, nil},
		{"prelude_test/prelude_gzip", "test", FormatDump, []objCount{{"foo", 1, 1}}, nil, nil},
		{"", "mongodump", FormatDump, []objCount{{"hashedIndexes", 2, 2}}, map[string][]string{"hashedIndexes": {"a.a_1"}}, nil},
		{"test.bar.archive", "test", FormatArchive, []objCount{{"bar", 1, 1}}, nil, nil},
		{"test.bar.archive", "admin", FormatArchive, nil, nil, []string{`collection "system.version" skipped`}},
	}
	for _, tt := range tests {
		t.Run(tt.path+"/"+tt.from, func(t *testing.T) {
			t.Parallel()
			to := s.targetDB(t)
			var mu sync.Mutex
			var done []string
			o := s.opts(to, tt.from)
			o.Progress = func(ev restore.Event) {
				if ev.Done {
					mu.Lock()
					done = append(done, ev.Object)
					mu.Unlock()
				}
			}
			rep, err := s.loader().Load(t.Context(), src, tt.path, o)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Format != tt.format || rep.From != tt.from || rep.To != to {
				t.Errorf("report says %s %s -> %s, want %s %s -> %s", rep.Format, rep.From, rep.To, tt.format, tt.from, to)
			}
			if diff := cmp.Diff(counts(rep), tt.want); diff != "" {
				t.Errorf("objects (-got +want):\n%s", diff)
			}
			checkProof(t, rep)
			sort.Strings(done)
			var wantDone []string
			for _, w := range tt.want {
				wantDone = append(wantDone, w.Name)
			}
			if diff := cmp.Diff(done, wantDone); diff != "" {
				t.Errorf("progress Done events (-got +want):\n%s", diff)
			}
			for coll, want := range tt.indexes {
				got := s.indexNames(t, to, coll)
				for _, name := range want {
					if !slices.Contains(got, name) {
						t.Errorf("%s: indexes %v lack %s", coll, got, name)
					}
				}
			}
			if tt.path != "" {
				checkWarnings(t, rep.Warnings, tt.warnings)
			} else {
				// The hashed indexes exist, or a warning says the server refused them.
				got := s.indexNames(t, to, "hashedIndexes")
				for _, name := range []string{"a.b_hashed", "b_hashed"} {
					warned := slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, `index "`+name+`" hashed`) })
					if slices.Contains(got, name) == warned {
						t.Errorf("index %s: created %v, warned %v; want exactly one (warnings %q)", name, !warned, warned, rep.Warnings)
					}
				}
			}
		})
	}
}

func checkWarnings(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("warnings %q, want %d matching %q", got, len(want), want)
		return
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("warning %q, want it to contain %q", got[i], want[i])
		}
	}
}

// fixtureDocs are documents of many BSON types, _id first as mongod keeps
// them, enough to need several InsertMany batches.
func fixtureDocs(t testing.TB, n int) []bson.Raw {
	t.Helper()
	var docs []bson.Raw
	for i := range n {
		docs = append(docs, doc(t,
			"_id", int32(i),
			"s", fmt.Sprintf("doc %d é ✓", i),
			"i64", int64(i)*1e12,
			"f", float64(i)/3,
			"b", i%2 == 0,
			"t", bson.DateTime(1700000000000+int64(i)),
			"oid", bson.ObjectID{byte(i), byte(i >> 8), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
			"bin", bson.Binary{Subtype: 0, Data: []byte{byte(i), 0, 255}},
			"nested", bson.D{{Key: "z", Value: int32(i)}, {Key: "a", Value: bson.A{"x", int32(1), nil}}},
			"nil", nil,
		))
	}
	return docs
}

const fixtureMeta = `{"options":{},"indexes":[
 {"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_","ns":"app.items"},
 {"v":{"$numberInt":"2"},"key":{"s":{"$numberInt":"1"}},"name":"s_1","unique":true,"ns":"app.items"},
 {"v":{"$numberInt":"2"},"key":{"b":{"$numberInt":"-1"},"i64":{"$numberInt":"1"}},"name":"b_-1_i64_1","ns":"app.items"},
 {"v":{"$numberInt":"2"},"key":{"t":{"$numberInt":"1"}},"name":"t_1","expireAfterSeconds":{"$numberInt":"31536000"},"ns":"app.items"}
],"uuid":"0679db720f4944de90ae27472664e94a","collectionName":"items"}`

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeDump writes a dump directory with database app (items: 2500
// documents; "ünï/cöde%": 3, its name percent-encoded on disk) and database
// other, gzipped or not.
func writeDump(t *testing.T, gzipped bool) string {
	t.Helper()
	dir := t.TempDir()
	put := func(name string, data []byte) {
		if gzipped {
			name, data = name+".gz", gz(t, data)
		}
		writeFile(t, filepath.Join(dir, name), data)
	}
	put("prelude.json", []byte(`{"ServerVersion":"7.0.16","ToolVersion":"100.10.0"}`))
	put("app/items.bson", concat(fixtureDocs(t, 2500)...))
	put("app/items.metadata.json", []byte(fixtureMeta))
	put("app/%C3%BCn%C3%AF%2Fc%C3%B6de%25.bson", concat(doc(t, "_id", "a"), doc(t, "_id", "b"), doc(t, "_id", "c")))
	put("app/%C3%BCn%C3%AF%2Fc%C3%B6de%25.metadata.json", []byte(`{"options":{},"indexes":[{"v":2,"key":{"_id":1},"name":"_id_","ns":"app.ünï/cöde%"}]}`))
	put("app/empty.bson", nil)
	put("app/empty.metadata.json", []byte(`{"options":{},"indexes":[{"v":2,"key":{"_id":1},"name":"_id_"}]}`))
	put("other/x.bson", concat(doc(t, "_id", int32(1))))
	put("other/x.metadata.json", []byte(`{"options":{},"indexes":[]}`))
	return dir
}

func TestRestoreFixtures(t *testing.T) {
	s := testServer(t)
	for _, gzipped := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gzipped), func(t *testing.T) {
			t.Parallel()
			dir := writeDump(t, gzipped)
			src := restore.Dir{Root: dir}
			format, dbs, err := Detect(t.Context(), src, "")
			if err != nil {
				t.Fatal(err)
			}
			if format != FormatDump || !slices.Equal(dbs, []string{"app", "other"}) {
				t.Errorf("Detect = %s %v, want mongodump [app other]", format, dbs)
			}
			to := s.targetDB(t)
			rep, err := s.loader().Load(t.Context(), src, "", s.opts(to, "app"))
			if err != nil {
				t.Fatal(err)
			}
			want := []objCount{{"empty", 0, 0}, {"items", 2500, 2500}, {"ünï/cöde%", 3, 3}}
			if diff := cmp.Diff(counts(rep), want); diff != "" {
				t.Errorf("objects (-got +want):\n%s", diff)
			}
			checkProof(t, rep)
			// The TTL index exists, or a warning says the server refused it
			// (FerretDB 1.x: expireAfterSeconds is not implemented).
			wantIx := []string{"_id_", "b_-1_i64_1", "s_1", "t_1"}
			var wantWarn []string
			if len(rep.Warnings) > 0 {
				wantIx = wantIx[:3]
				wantWarn = []string{`index "t_1"`}
			}
			if diff := cmp.Diff(s.indexNames(t, to, "items"), wantIx); diff != "" {
				t.Errorf("indexes (-got +want):\n%s", diff)
			}
			checkWarnings(t, rep.Warnings, wantWarn)
			// Nothing outside the target: database other was not loaded.
			if n, err := s.client.Database(to).Collection("x").CountDocuments(t.Context(), bson.D{}); err != nil || n != 0 {
				t.Errorf("collection x of database other loaded: %d documents, %v", n, err)
			}
		})
	}
}

func TestRestoreArchiveFixture(t *testing.T) {
	s := testServer(t)
	nss := testNamespaces(t)
	for _, gzipped := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gzipped), func(t *testing.T) {
			t.Parallel()
			data := encodeArchive(t, nss)
			if gzipped {
				data = gz(t, data)
			}
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "snap/mongo/app.archive.gz"), data)
			src := restore.Sub{Source: restore.Dir{Root: dir}, Dir: "snap"}
			to := s.targetDB(t)
			rep, err := s.loader().Load(t.Context(), src, "mongo/app.archive.gz", restore.Request{From: "app", To: to, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(counts(rep), []objCount{{"a", 5, 5}, {"b", 5, 5}}); diff != "" {
				t.Errorf("objects (-got +want):\n%s", diff)
			}
			checkProof(t, rep)
			if diff := cmp.Diff(s.indexNames(t, to, "b"), []string{"_id_", "v_1"}); diff != "" {
				t.Errorf("indexes of b (-got +want):\n%s", diff)
			}
		})
	}
}

func TestRestoreTarget(t *testing.T) {
	s := testServer(t)
	src := corpus(t)
	ctx := t.Context()

	t.Run("marker only is empty", func(t *testing.T) {
		t.Parallel()
		to := s.targetDB(t)
		if err := s.client.Database(to).CreateCollection(ctx, MarkerCollection); err != nil {
			t.Fatal(err)
		}
		if _, err := s.loader().Load(ctx, src, "testdirs", s.opts(to, "db1")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("refused, then dropped", func(t *testing.T) {
		t.Parallel()
		to := s.targetDB(t)
		if _, err := s.client.Database(to).Collection("c1").InsertOne(ctx, bson.D{{Key: "_id", Value: "stale"}}); err != nil {
			t.Fatal(err)
		}
		_, err := s.loader().Load(ctx, src, "testdirs", s.opts(to, "db1"))
		if !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), `"c1"`) {
			t.Fatalf("err = %v, want ErrRefused naming c1", err)
		}
		n, err := s.client.Database(to).Collection("c1").CountDocuments(ctx, bson.D{})
		if err != nil || n != 1 {
			t.Fatalf("refused restore touched the target: %d documents, %v", n, err)
		}
		o := s.opts(to, "db1")
		o.DropExisting = true
		rep, err := s.loader().Load(ctx, src, "testdirs", o)
		if err != nil {
			t.Fatal(err)
		}
		checkProof(t, rep)
		if diff := cmp.Diff(counts(rep), []objCount{{"c1", 100, 100}, {"c4", 10, 10}}); diff != "" {
			t.Errorf("objects (-got +want):\n%s", diff)
		}
	})
}

func TestRestoreBadInput(t *testing.T) {
	s := testServer(t)
	ctx := t.Context()
	good := concat(doc(t, "_id", int32(1)), doc(t, "_id", int32(2)))
	meta := []byte(`{"options":{},"indexes":[]}`)
	nss := testNamespaces(t)
	archive := encodeArchive(t, nss)
	lastDoc := nss[1].docs[4]
	flipped := append([]byte(nil), archive...)
	flipped[strings.LastIndex(string(archive), string(lastDoc))+len(lastDoc)-2] ^= 0x01
	bigGz := gz(t, concat(fixtureDocs(t, 3000)...))

	tests := []struct {
		name    string
		files   map[string][]byte
		path    string
		from    string
		is      error
		message string // substring of the error
		offset  int64  // checked when >= 0 on a *FormatError
		partial bool   // the error came after the target was touched
	}{
		{"metadata without bson", map[string][]byte{"d/app/a.metadata.json": meta, "d/app/b.bson": good, "d/app/b.metadata.json": meta}, "d", "app",
			termshift.ErrInvalid, "d/app/a.metadata.json has no data file", -1, false},
		{"bson without metadata", map[string][]byte{"d/app/a.bson": good}, "d", "app",
			termshift.ErrInvalid, "d/app/a.bson has no metadata file", -1, false},
		{"database not in the dump", map[string][]byte{"d/app/a.bson": good, "d/app/a.metadata.json": meta}, "d", "nope",
			termshift.ErrNotFound, `database "nope" is not in the dump`, -1, false},
		{"database not in the archive", map[string][]byte{"x.archive": archive}, "x.archive", "nope",
			termshift.ErrNotFound, `database "nope" is not in the archive x.archive (it holds "app", "other")`, -1, false},
		{"bad metadata", map[string][]byte{"d/app/a.bson": good, "d/app/a.metadata.json": []byte(`{"indexes":[`)}, "d", "app",
			termshift.ErrInvalid, "d/app/a.metadata.json at offset 0", 0, false},
		{"truncated bson", map[string][]byte{"d/app/a.bson": good[:len(good)-3], "d/app/a.metadata.json": meta}, "d", "app",
			termshift.ErrInvalid, "d/app/a.bson at offset 14: truncated document", 14, true},
		{"hostile length", map[string][]byte{"d/app/a.bson": append(append([]byte(nil), good...), 0xff, 0xff, 0xff, 0x7f), "d/app/a.metadata.json": meta}, "d", "app",
			termshift.ErrInvalid, "document length 2147483647 outside 5..16777216", 28, true},
		{"truncated gzip", map[string][]byte{"d/app/a.bson.gz": bigGz[:len(bigGz)*2/3], "d/app/a.metadata.json": meta}, "d", "app",
			termshift.ErrInvalid, "d/app/a.bson.gz at offset", -1, true},
		{"corrupted gzip header", map[string][]byte{"d/app/a.bson.gz": append([]byte{0x1f, 0x8c}, bigGz[2:]...), "d/app/a.metadata.json": meta}, "d", "app",
			termshift.ErrInvalid, "d/app/a.bson.gz at offset 0: read gzip header", 0, true},
		{"one-bit CRC corruption", map[string][]byte{"x.archive": flipped}, "x.archive", "app",
			termshift.ErrInvalid, "CRC-64 mismatch for app.b", -1, true},
		{"broken archive", map[string][]byte{"x.archive": archive[:len(archive)-30]}, "x.archive", "app",
			termshift.ErrInvalid, "x.archive at offset", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, data := range tt.files {
				writeFile(t, filepath.Join(dir, name), data)
			}
			to := s.targetDB(t)
			rep, err := s.loader().Load(ctx, restore.Dir{Root: dir}, tt.path, s.opts(to, tt.from))
			if err == nil {
				t.Fatalf("restore succeeded: %+v", rep)
			}
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("err = %v\nwant it to wrap %v and contain %q", err, tt.is, tt.message)
			}
			var fe *FormatError
			if tt.offset >= 0 && (!errors.As(err, &fe) || fe.Offset != tt.offset) {
				t.Errorf("err = %v, want a FormatError at offset %d", err, tt.offset)
			}
			var pe *termshift.PartialError
			if errors.As(err, &pe) != tt.partial {
				t.Errorf("err = %v: PartialError %v, want %v", err, !tt.partial, tt.partial)
			}
			if strings.Contains(err.Error(), s.uri.Reveal()) {
				t.Errorf("error quotes the URI")
			}
		})
	}
	t.Run("bad-format.archive", func(t *testing.T) {
		t.Parallel()
		to := s.targetDB(t)
		_, err := s.loader().Load(ctx, corpus(t), "bad-format.archive", s.opts(to, "test"))
		var fe *FormatError
		if !errors.As(err, &fe) || fe.File != "bad-format.archive" || fe.Offset != 106 {
			t.Fatalf("err = %v, want a FormatError at bad-format.archive offset 106", err)
		}
		if names, err := s.client.Database(to).ListCollectionNames(ctx, bson.D{}); err != nil || len(names) != 0 {
			t.Errorf("refused archive touched the target %s: %v, %v", to, names, err)
		}
	})
}

// TestServerRoundTripFidelity restores values a server might normalize, one
// per collection, and checks that the proof flags exactly the collections
// whose documents came back changed: a change is reported, never hidden.
func TestServerRoundTripFidelity(t *testing.T) {
	s := testServer(t)
	to := s.targetDB(t)
	dir := t.TempDir()
	cases := map[string]bson.Raw{
		"negzero": doc(t, "_id", int32(1), "v", math.Copysign(0, -1)),
		"order":   doc(t, "_id", int32(2), "z", int32(1), "a", int64(2), "m", 1.5),
		"idlast":  doc(t, "v", "id last", "_id", int32(3)),
		"regexts": doc(t, "_id", int32(5), "regex", bson.Regex{Pattern: "^a", Options: "i"}, "ts", bson.Timestamp{T: 1, I: 2}),
	}
	for name, d := range cases {
		writeFile(t, filepath.Join(dir, "app", name+".bson"), d)
		writeFile(t, filepath.Join(dir, "app", name+".metadata.json"), []byte(`{"options":{},"indexes":[]}`))
	}
	rep, err := s.loader().Load(t.Context(), restore.Dir{Root: dir}, "", s.opts(to, "app"))
	if err != nil && !errors.Is(err, termshift.ErrVerifyFailed) {
		t.Fatal(err)
	}
	var changed, flagged []string
	for _, o := range rep.Objects {
		if !o.OK() {
			flagged = append(flagged, o.Name)
		}
		raw, ferr := s.client.Database(to).Collection(o.Name).FindOne(t.Context(), bson.D{}).Raw()
		if ferr != nil {
			t.Fatal(ferr)
		}
		if string(raw) != string(canonical(cases[o.Name])) {
			changed = append(changed, o.Name)
		}
	}
	t.Logf("server %s changed %v in the round trip; proof error: %v", s.kind, changed, err)
	if diff := cmp.Diff(flagged, changed); diff != "" {
		t.Errorf("collections flagged by the proof (-got) vs changed by the server (+want):\n%s", diff)
	}
	if (err == nil) != (len(changed) == 0) {
		t.Errorf("proof error %v, changed %v", err, changed)
	}
}
