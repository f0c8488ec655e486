package mongo

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// corpusDir holds real mongodump output copied from the MongoDB Database
// Tools' test data (origin and license in its README.md).
const corpusDir = "testdata/mongodump"

func corpus(t *testing.T) restore.Dir {
	t.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus missing: %v", err)
		}
		t.Skipf("corpus missing: %v", err)
	}
	return restore.Dir{Root: corpusDir}
}

// countDocs reads every document of a stream.
func countDocs(t *testing.T, r io.Reader, name string) (int, error) {
	t.Helper()
	br := NewBSONReader(r, name)
	n := 0
	for {
		_, err := br.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

func TestBSONReaderCorpus(t *testing.T) {
	src := corpus(t)
	// Document counts from testdata/mongodump/README.md.
	tests := []struct {
		file string
		want int
	}{
		{"testdirs/db1/c1.bson", 100},
		{"testdirs/db1/c4.bson", 10},
		{"coll_with_index/test/foo.bson", 1},
		{"hashedIndexes.bson", 2},
		{"specialcharacter/db1/caf%C3%A9s.bson", 1},
		{"prelude_test/prelude_gzip/test/foo.bson.gz", 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rc, err := openStream(t.Context(), src, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := countDocs(t, rc, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("%s: %d documents, want %d", tt.file, got, tt.want)
			}
		})
	}
}

func TestScanDumpCorpus(t *testing.T) {
	src := corpus(t)
	tests := []struct {
		dir      string
		single   bool
		prelude  *Prelude
		colls    []DumpCollection
		wantDBs  []string
		wantFrom string
	}{
		{dir: "testdirs", colls: []DumpCollection{
			{Database: "db1", Collection: "c1", Data: "testdirs/db1/c1.bson", DataSize: 3300, Metadata: "testdirs/db1/c1.metadata.json"},
			{Database: "db1", Collection: "c4", Data: "testdirs/db1/c4.bson", DataSize: 330, Metadata: "testdirs/db1/c4.metadata.json"},
		}},
		{dir: "specialcharacter", colls: []DumpCollection{
			{Database: "db1", Collection: "cafés", Data: "specialcharacter/db1/caf%C3%A9s.bson", DataSize: 33, Metadata: "specialcharacter/db1/caf%C3%A9s.metadata.json"},
		}},
		{dir: "prelude_test/prelude_gzip", prelude: &Prelude{ServerVersion: "7.0.16"}, colls: []DumpCollection{
			{Database: "test", Collection: "foo", Data: "prelude_test/prelude_gzip/test/foo.bson.gz", DataSize: 60, Metadata: "prelude_test/prelude_gzip/test/foo.metadata.json.gz"},
		}},
		{dir: "coll_with_index/test", single: true, colls: []DumpCollection{
			{Database: "test", Collection: "foo", Data: "coll_with_index/test/foo.bson", DataSize: 33, Metadata: "coll_with_index/test/foo.metadata.json"},
		}},
		{dir: "", single: true, colls: []DumpCollection{
			{Database: "mongodump", Collection: "hashedIndexes", Data: "hashedIndexes.bson", DataSize: 104, Metadata: "hashedIndexes.metadata.json"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			d, err := ScanDump(t.Context(), src, tt.dir)
			if err != nil {
				t.Fatal(err)
			}
			if d.SingleDatabase != tt.single {
				t.Errorf("SingleDatabase = %v, want %v", d.SingleDatabase, tt.single)
			}
			if diff := cmp.Diff(d.Prelude, tt.prelude); diff != "" {
				t.Errorf("prelude (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(d.Collections, tt.colls); diff != "" {
				t.Errorf("collections (-got +want):\n%s", diff)
			}
		})
	}
}

func TestMetadataCorpus(t *testing.T) {
	src := corpus(t)
	type ix struct {
		Name string
		Key  bson.D
		Kind string
	}
	tests := []struct {
		file     string
		collName string
		indexes  []ix
		hasNS    bool
	}{
		{"testdirs/db1/c1.metadata.json", "", []ix{{"_id_", bson.D{{Key: "_id", Value: int32(1)}}, ""}}, true},
		{"testdirs/db1/c4.metadata.json", "c4", []ix{{"_id_", bson.D{{Key: "_id", Value: int32(1)}}, ""}}, false},
		{"coll_with_index/test/foo.metadata.json", "foo", []ix{
			{"_id_", bson.D{{Key: "_id", Value: int32(1)}}, ""},
			{"f_1", bson.D{{Key: "f", Value: 1.0}}, ""},
		}, false},
		{"hashedIndexes.metadata.json", "", []ix{
			{"_id_", bson.D{{Key: "_id", Value: int32(1)}}, ""},
			{"a.a_1", bson.D{{Key: "a.a", Value: int32(1)}}, ""},
			{"a.b_hashed", bson.D{{Key: "a.b", Value: "hashed"}}, "hashed"},
			{"b_hashed", bson.D{{Key: "b", Value: "hashed"}}, "hashed"},
		}, true},
		{"prelude_test/prelude_gzip/test/foo.metadata.json.gz", "", []ix{{"_id_", bson.D{{Key: "_id", Value: int32(1)}}, ""}}, true},
		{"specialcharacter/db1/caf%C3%A9s.metadata.json", "", []ix{{"_id_", bson.D{{Key: "_id", Value: int32(1)}}, ""}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := readSmall(t.Context(), src, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			m, err := ParseMetadata(data, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if m.CollectionName != tt.collName {
				t.Errorf("collectionName = %q, want %q", m.CollectionName, tt.collName)
			}
			var got []ix
			for _, i := range m.Indexes {
				got = append(got, ix{i.Name, i.Key, i.Kind()})
				for _, e := range i.Spec {
					if e.Key == "ns" || e.Key == "v" {
						t.Errorf("index %s spec keeps %q, which names the source", i.Name, e.Key)
					}
				}
			}
			if diff := cmp.Diff(got, tt.indexes); diff != "" {
				t.Errorf("indexes (-got +want):\n%s", diff)
			}
			if raw := string(data); strings.Contains(raw, `"ns"`) != tt.hasNS {
				t.Errorf("corpus file: ns present = %v, want %v", !tt.hasNS, tt.hasNS)
			}
		})
	}
}

func TestParseMetadataKeepsOptions(t *testing.T) {
	data := []byte(`{"options":{"capped":true,"size":{"$numberLong":"4096"},"idIndex":{"v":2,"key":{"_id":1},"name":"_id_","ns":"old.x"}},
		"indexes":[{"v":2,"key":{"b":-1,"a":1},"name":"b_-1_a_1","unique":true,"sparse":true,"ns":"old.x"},
		{"v":2,"key":{"t":1},"name":"t_1","expireAfterSeconds":3600,"partialFilterExpression":{"t":{"$exists":true}}}]}`)
	m, err := ParseMetadata(data, "x.metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	wantOpts := bson.D{{Key: "capped", Value: true}, {Key: "size", Value: int64(4096)}}
	if diff := cmp.Diff(m.createOptions(), wantOpts); diff != "" {
		t.Errorf("create options (-got +want):\n%s", diff)
	}
	wantSpecs := []bson.D{
		{{Key: "key", Value: bson.D{{Key: "b", Value: int32(-1)}, {Key: "a", Value: int32(1)}}}, {Key: "name", Value: "b_-1_a_1"}, {Key: "unique", Value: true}, {Key: "sparse", Value: true}},
		{{Key: "key", Value: bson.D{{Key: "t", Value: int32(1)}}}, {Key: "name", Value: "t_1"}, {Key: "expireAfterSeconds", Value: int32(3600)},
			{Key: "partialFilterExpression", Value: bson.D{{Key: "t", Value: bson.D{{Key: "$exists", Value: true}}}}}},
	}
	var gotSpecs []bson.D
	for _, ix := range m.Indexes {
		gotSpecs = append(gotSpecs, ix.Spec)
	}
	if diff := cmp.Diff(gotSpecs, wantSpecs); diff != "" {
		t.Errorf("index specs (-got +want):\n%s", diff)
	}
}

func TestParseMetadataRefuses(t *testing.T) {
	for name, data := range map[string]string{
		"not json":           `{"options":`,
		"indexes object":     `{"indexes":{}}`,
		"index without key":  `{"indexes":[{"name":"x"}]}`,
		"index without name": `{"indexes":[{"key":{"a":1}}]}`,
		"options array":      `{"options":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseMetadata([]byte(data), "x.metadata.json")
			var fe *FormatError
			if !errors.As(err, &fe) || fe.File != "x.metadata.json" || !errors.Is(err, termshift.ErrInvalid) {
				t.Fatalf("err = %v, want a FormatError naming x.metadata.json", err)
			}
		})
	}
}

func TestArchiveCorpus(t *testing.T) {
	src := corpus(t)
	rc, ar, err := openArchive(t.Context(), src, "test.bar.archive")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if diff := cmp.Diff(ar.Header(), ArchiveHeader{ConcurrentCollections: 4, FormatVersion: "0.1", ServerVersion: "3.4.3", ToolVersion: "r3.4.3"}); diff != "" {
		t.Errorf("header (-got +want):\n%s", diff)
	}
	var prelude []string
	for _, c := range ar.Collections() {
		prelude = append(prelude, c.Namespace())
	}
	if diff := cmp.Diff(prelude, []string{"test.bar", "admin.system.version"}); diff != "" {
		t.Errorf("prelude (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(ar.Databases(), []string{"admin", "test"}); diff != "" {
		t.Errorf("databases (-got +want):\n%s", diff)
	}
	var events []string
	for {
		it, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ev := it.Database + "." + it.Collection
		if it.EOF {
			ev += " EOF"
		} else {
			ev += " doc"
		}
		events = append(events, ev)
	}
	want := []string{"admin.system.version doc", "admin.system.version EOF", "test.bar doc", "test.bar EOF"}
	if diff := cmp.Diff(events, want); diff != "" {
		t.Errorf("events (-got +want):\n%s", diff)
	}
}

func TestArchiveCorpusCRCIsECMA(t *testing.T) {
	corpus(t)
	data, err := os.ReadFile(filepath.Join(corpusDir, "test.bar.archive"))
	if err != nil {
		t.Fatal(err)
	}
	// Flip one bit in the only document of test.bar (its "foo" value): the
	// EOF header's CRC must no longer match.
	i := bytes.Index(data, []byte("foo\x00\x04\x00\x00\x00bar"))
	if i < 0 {
		t.Fatal("test.bar document not found in the corpus archive")
	}
	data[i+len("foo\x00\x04\x00\x00\x00")] ^= 0x01
	err = readArchiveAll(data, "flipped.archive")
	var fe *FormatError
	if !errors.As(err, &fe) || !strings.Contains(fe.Msg, "CRC-64 mismatch for test.bar") {
		t.Fatalf("err = %v, want a CRC mismatch for test.bar", err)
	}
}

func readArchiveAll(data []byte, name string) error {
	ar, err := NewArchiveReader(bytes.NewReader(data), name)
	if err != nil {
		return err
	}
	for {
		_, err := ar.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestBadFormatArchiveRefused(t *testing.T) {
	src := corpus(t)
	_, _, err := Detect(t.Context(), src, "bad-format.archive")
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a *FormatError", err)
	}
	if fe.File != "bad-format.archive" || fe.Offset != 106 {
		t.Errorf("error names %s at %d, want bad-format.archive at 106 (the test.ixtest prelude entry): %v", fe.File, fe.Offset, err)
	}
	if !strings.Contains(err.Error(), "test.ixtest") || !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("err = %v, want it to name test.ixtest and wrap ErrInvalid", err)
	}
}

func TestDetectCorpus(t *testing.T) {
	src := corpus(t)
	tests := []struct {
		path   string
		format string
		dbs    []string
	}{
		{"testdirs", FormatDump, []string{"db1"}},
		{"coll_with_index", FormatDump, []string{"test"}},
		{"specialcharacter", FormatDump, []string{"db1"}},
		{"prelude_test/prelude_gzip", FormatDump, []string{"test"}},
		{"", FormatDump, []string{"mongodump"}},
		{"test.bar.archive", FormatArchive, []string{"admin", "test"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			format, dbs, err := Detect(t.Context(), src, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if format != tt.format {
				t.Errorf("format = %q, want %q", format, tt.format)
			}
			if diff := cmp.Diff(dbs, tt.dbs); diff != "" {
				t.Errorf("databases (-got +want):\n%s", diff)
			}
		})
	}
	if _, _, err := Detect(t.Context(), src, "no/such/dir"); !errors.Is(err, termshift.ErrNotFound) {
		t.Errorf("Detect(missing) = %v, want ErrNotFound", err)
	}
}

// doc builds a BSON document from alternating keys and values.
func doc(t testing.TB, kv ...any) bson.Raw {
	t.Helper()
	var d bson.D
	for i := 0; i < len(kv); i += 2 {
		d = append(d, bson.E{Key: kv[i].(string), Value: kv[i+1]})
	}
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func concat(docs ...bson.Raw) []byte {
	var b []byte
	for _, d := range docs {
		b = append(b, d...)
	}
	return b
}

func TestBSONReaderRefuses(t *testing.T) {
	d1 := doc(t, "_id", int32(1), "s", "hello")
	d2 := doc(t, "_id", int32(2))
	le := func(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }
	badTail := bytes.Clone(d2)
	badTail[len(badTail)-1] = 1
	tests := []struct {
		name    string
		data    []byte
		docs    int
		offset  int64
		message string
	}{
		{"length 4", append(bytes.Clone(d1), le(4)...), 1, int64(len(d1)), "document length 4 outside"},
		{"negative length", append(bytes.Clone(d1), le(0xfffffff0)...), 1, int64(len(d1)), "document length -16 outside"},
		{"16 MiB + 1", append(bytes.Clone(d1), le(MaxBSONSize+1)...), 1, int64(len(d1)), "document length 16777217 outside"},
		{"max length, short stream", append(le(MaxBSONSize), 0, 0, 0), 0, 0, "truncated document: 7 of 16777216 bytes"},
		{"truncated body", concat(d1, d2)[:len(d1)+len(d2)-3], 1, int64(len(d1)), "truncated document"},
		{"truncated length", concat(d1, d2)[:len(d1)+2], 1, int64(len(d1)), "truncated document: 2 of 4 length bytes"},
		{"no trailing NUL", concat(d1, badTail), 1, int64(len(d1)), "invalid BSON document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := countDocs(t, bytes.NewReader(tt.data), "x.bson")
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FormatError", err)
			}
			if n != tt.docs || fe.File != "x.bson" || fe.Offset != tt.offset || !strings.Contains(fe.Msg, tt.message) {
				t.Errorf("after %d docs: %v; want %d docs, x.bson at offset %d: %q", n, err, tt.docs, tt.offset, tt.message)
			}
		})
	}
}

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGzipCorruptionRefused(t *testing.T) {
	var docs []bson.Raw
	for i := range 200 {
		docs = append(docs, doc(t, "_id", int32(i), "pad", strings.Repeat("x", i)))
	}
	z := gz(t, concat(docs...))
	flipped := bytes.Clone(z)
	flipped[len(flipped)-6] ^= 0x40 // inside the CRC-32 trailer
	tests := map[string][]byte{
		"truncated":     z[:len(z)/2],
		"crc32 trailer": flipped,
		"not gzip":      []byte("this is not gzip at all"),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "c.bson.gz"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			rc, err := openStream(t.Context(), restore.Dir{Root: dir}, "c.bson.gz")
			if err == nil {
				defer rc.Close()
				_, err = countDocs(t, rc, "c.bson.gz")
			}
			var fe *FormatError
			if !errors.As(err, &fe) || fe.File != "c.bson.gz" {
				t.Fatalf("err = %v, want a FormatError naming c.bson.gz", err)
			}
		})
	}
}

// archiveNS is a namespace for encodeArchive.
type archiveNS struct {
	db, coll, meta string
	docs           []bson.Raw
}

// encodeArchive writes a mongodump archive following mongo-tools'
// common/archive/spec.md, interleaving the namespaces' documents in
// segments of two.
func encodeArchive(t testing.TB, nss []archiveNS) []byte {
	t.Helper()
	term := []byte{0xff, 0xff, 0xff, 0xff}
	out := binary.LittleEndian.AppendUint32(nil, ArchiveMagic)
	out = append(out, doc(t, "concurrent_collections", int32(4), "version", "0.1", "server_version", "7.0.0", "tool_version", "test")...)
	for _, ns := range nss {
		size := 0
		for _, d := range ns.docs {
			size += len(d)
		}
		out = append(out, doc(t, "db", ns.db, "collection", ns.coll, "metadata", ns.meta, "size", int64(size))...)
	}
	out = append(out, term...)
	table := crc64.MakeTable(crc64.ECMA)
	crcs := make([]uint64, len(nss))
	for i := 0; ; i += 2 {
		more := false
		for n, ns := range nss {
			if i >= len(ns.docs) {
				continue
			}
			more = true
			out = append(out, doc(t, "db", ns.db, "collection", ns.coll, "EOF", false, "CRC", int64(0))...)
			for _, d := range ns.docs[i:min(i+2, len(ns.docs))] {
				out = append(out, d...)
				crcs[n] = crc64.Update(crcs[n], table, d)
			}
			out = append(out, term...)
		}
		if !more {
			break
		}
	}
	for n, ns := range nss {
		out = append(out, doc(t, "db", ns.db, "collection", ns.coll, "EOF", true, "CRC", int64(crcs[n]))...)
		out = append(out, term...)
	}
	return out
}

func testNamespaces(t testing.TB) []archiveNS {
	var a, b []bson.Raw
	for i := range 5 {
		a = append(a, doc(t, "_id", int32(i), "v", "a"))
		b = append(b, doc(t, "_id", int64(i), "v", float64(i)+0.5))
	}
	return []archiveNS{
		{"app", "a", `{"options":{},"indexes":[{"v":2,"key":{"_id":1},"name":"_id_"}],"collectionName":"a"}`, a},
		{"app", "b", `{"options":{},"indexes":[{"v":2,"key":{"_id":1},"name":"_id_"},{"v":2,"key":{"v":1},"name":"v_1","unique":true}]}`, b},
		{"other", "c", `{"options":{},"indexes":[]}`, []bson.Raw{doc(t, "_id", "x")}},
	}
}

func TestArchiveRoundTrip(t *testing.T) {
	nss := testNamespaces(t)
	data := encodeArchive(t, nss)
	for _, name := range []string{"plain", "gzip"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			b := data
			if name == "gzip" {
				b = gz(t, data)
			}
			if err := os.WriteFile(filepath.Join(dir, "x.archive"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			rc, ar, err := openArchive(t.Context(), restore.Dir{Root: dir}, "x.archive")
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got := map[string][]bson.Raw{}
			eofs := 0
			for {
				it, err := ar.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if it.EOF {
					eofs++
					continue
				}
				got[it.Database+"."+it.Collection] = append(got[it.Database+"."+it.Collection], it.Doc)
			}
			want := map[string][]bson.Raw{}
			for _, ns := range nss {
				want[ns.db+"."+ns.coll] = ns.docs
			}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("documents (-got +want):\n%s", diff)
			}
			if eofs != len(nss) {
				t.Errorf("%d EOF headers, want %d", eofs, len(nss))
			}
		})
	}
}

func TestArchiveRefuses(t *testing.T) {
	nss := testNamespaces(t)
	good := encodeArchive(t, nss)
	lastDoc := nss[1].docs[4]
	at := int64(bytes.LastIndex(good, lastDoc))
	// One bit of b's last document flipped: its CRC no longer matches.
	flipped := bytes.Clone(good)
	flipped[at+int64(len(lastDoc))-2] ^= 0x01
	// Everything after the first EOF header cut off.
	eofFlag := bytes.Index(good, []byte("EOF\x00\x01"))
	firstEOF := bytes.LastIndex(good[:eofFlag], []byte("\x02db\x00")) - 4
	tests := []struct {
		name    string
		data    []byte
		message string
	}{
		{"one-bit CRC corruption", flipped, "CRC-64 mismatch for app.b"},
		{"bad magic", append([]byte{1, 2, 3, 4}, good[4:]...), "not a mongodump archive"},
		{"empty", nil, "not a mongodump archive"},
		{"cut in the prelude", good[:40], "truncated document"},
		{"cut at a block boundary", good[:firstEOF], "archive ends before the EOF header"},
		{"cut inside a segment", good[:at], "archive ends inside a segment of app.b"},
		{"hostile length", append(bytes.Clone(good[:at]), 0xff, 0xff, 0xff, 0x7f), "document length 2147483647 outside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := readArchiveAll(tt.data, "x.archive")
			var fe *FormatError
			if !errors.As(err, &fe) || fe.File != "x.archive" || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("err = %v, want a FormatError naming x.archive: %q", err, tt.message)
			}
		})
	}
}

func FuzzBSONReader(f *testing.F) {
	f.Add([]byte{5, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 0})
	f.Add([]byte{0, 0, 0, 1, 0, 0})
	f.Add(concat(doc(f, "a", int32(1)), doc(f, "b", "x")))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := NewBSONReader(bytes.NewReader(data), "fuzz.bson")
		for {
			d, err := br.Next()
			if err != nil {
				if err != io.EOF {
					var fe *FormatError
					if !errors.As(err, &fe) {
						t.Fatalf("error %v is not a *FormatError", err)
					}
				}
				return
			}
			if len(d) > len(data) || len(d) < MinBSONSize {
				t.Fatalf("document of %d bytes from %d bytes of input", len(d), len(data))
			}
			// A returned document's memory is bounded by the input, not by
			// the claimed length.
			if cap(d) > max(len(data), directAlloc) {
				t.Fatalf("document capacity %d for %d bytes of input", cap(d), len(data))
			}
		}
	})
}

func TestBSONReaderAllocatesByInput(t *testing.T) {
	// A maximal length followed by nothing must not cost 16 MiB.
	data := binary.LittleEndian.AppendUint32(nil, MaxBSONSize)
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_, _ = NewBSONReader(bytes.NewReader(data), "x").Next()
		}
	})
	if per := allocs.AllocedBytesPerOp(); per > 2*directAlloc {
		t.Errorf("%d bytes allocated per hostile document, want at most %d", per, 2*directAlloc)
	}
}

var _ = context.Background
