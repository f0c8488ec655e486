package mongo

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift/restore"
)

// TestLegacyDump restores the layout mongodump wrote for servers up to
// 3.0, hand-made since no old mongodump runs here: a system.indexes.bson
// per database holding every index spec with its "ns", metadata files
// without uuid (one with no indexes, one collection with no metadata file
// at all). mongorestore restores it with its indexes; so must Load.
func TestLegacyDump(t *testing.T) {
	s := testServer(t)
	dir := t.TempDir()
	var c, d []byte
	for i := range 20 {
		c = append(c, doc(t, "_id", int32(i), "x", int32(i*7), "s", "c")...)
		d = append(d, doc(t, "_id", int32(i), "y", int32(i%5))...)
	}
	writeFile(t, filepath.Join(dir, "dump", "app", "c.bson"), c)
	writeFile(t, filepath.Join(dir, "dump", "app", "c.metadata.json"), []byte(`{"options":{"create":"c"}}`))
	writeFile(t, filepath.Join(dir, "dump", "app", "d.bson"), d)
	writeFile(t, filepath.Join(dir, "dump", "app", "system.indexes.bson"), concat(
		doc(t, "v", int32(1), "key", doc(t, "_id", int32(1)), "name", "_id_", "ns", "app.c"),
		doc(t, "v", int32(1), "key", doc(t, "x", int32(1)), "name", "x_1", "ns", "app.c", "unique", true),
		doc(t, "v", int32(1), "key", doc(t, "_id", int32(1)), "name", "_id_", "ns", "app.d"),
		doc(t, "v", int32(1), "key", doc(t, "y", int32(-1)), "name", "y_-1", "ns", "app.d", "dropDups", true),
	))
	src := restore.Dir{Root: dir}
	format, dbs, err := Detect(t.Context(), src, "dump")
	if err != nil || format != FormatDump || !slices.Equal(dbs, []string{"app"}) {
		t.Fatalf("Detect = %s %v %v", format, dbs, err)
	}
	to := s.targetDB(t)
	rep, err := s.loader().Load(t.Context(), src, "dump", s.opts(to, "app"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checkProof(t, rep)
	if diff := cmp.Diff(counts(rep), []objCount{{"c", 20, 20}, {"d", 20, 20}}); diff != "" {
		t.Errorf("objects (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(s.indexNames(t, to, "c"), []string{"_id_", "x_1"}); diff != "" {
		t.Errorf("indexes of c (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(s.indexNames(t, to, "d"), []string{"_id_", "y_-1"}); diff != "" {
		t.Errorf("indexes of d (-got +want):\n%s", diff)
	}
}
