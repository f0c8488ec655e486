package mongo

import (
	"os"
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore/restoretest"
)

var _ restoretest.Loader = (*Loader)(nil)

// mongoTarget is restoretest's view of the local server: databases carved
// as tenancy does, with the marker collection.
type mongoTarget struct{ s server }

func (m mongoTarget) New(t *testing.T) string {
	t.Helper()
	name := m.s.targetDB(t)
	if _, err := m.s.client.Database(name).Collection(MarkerCollection).InsertOne(t.Context(), bson.D{{Key: "release", Value: "conformance"}}); err != nil {
		t.Fatal(err)
	}
	return name
}

func (m mongoTarget) Contents(t *testing.T, ns string) map[string]int64 {
	t.Helper()
	db := m.s.client.Database(ns)
	names, err := db.ListCollectionNames(t.Context(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, n := range names {
		if n == MarkerCollection || len(n) > 7 && n[:7] == "system." {
			continue
		}
		c, err := db.Collection(n).CountDocuments(t.Context(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		out[n] = c
	}
	return out
}

func (m mongoTarget) Occupy(t *testing.T, ns string) string {
	t.Helper()
	if _, err := m.s.client.Database(ns).Collection("occupant").InsertOne(t.Context(), bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	return "occupant"
}

func (m mongoTarget) HasMarker(t *testing.T, ns string) bool {
	t.Helper()
	n, err := m.s.client.Database(ns).Collection(MarkerCollection).CountDocuments(t.Context(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestConformance(t *testing.T) {
	s := testServer(t)
	target := mongoTarget{s}
	dir := t.TempDir()
	archive := encodeArchive(t, testNamespaces(t))
	writeFile(t, filepath.Join(dir, "app.archive"), archive)
	writeFile(t, filepath.Join(dir, "cut.archive"), archive[:len(archive)-30])
	writeFile(t, filepath.Join(dir, "nometa", "app", "a.bson"), concat(doc(t, "_id", int32(1))))
	dump := writeDump(t, false)
	cutDump := writeDump(t, false)
	data, err := os.ReadFile(filepath.Join(cutDump, "app", "items.bson"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(cutDump, "app", "items.bson"), data[:len(data)-7])

	bad := []restoretest.Bad{
		{Name: "bson without metadata", Fixture: restoretest.Fixture{Dir: dir, Path: "nometa", From: "app"}, Is: termshift.ErrInvalid, Says: "nometa/app/a.bson has no metadata file"},
		{Name: "database not in the archive", Fixture: restoretest.Fixture{Dir: dir, Path: "app.archive", From: "nope"}, Is: termshift.ErrNotFound, Says: `database "nope" is not in the archive app.archive`},
	}
	l := &Loader{URI: s.uri}
	t.Run("archive", func(t *testing.T) {
		good := restoretest.Fixture{Dir: dir, Path: "app.archive", From: "app", Service: termshift.MongoDB, Database: "app",
			Objects: map[string]int64{"a": 5, "b": 5}, Proven: true}
		incomplete := good
		incomplete.Path = "cut.archive"
		restoretest.Run(t, l, restoretest.Options{Target: target, Good: good, Incomplete: incomplete, Bad: bad, Resume: restoretest.ResumeRestart, Threads: 2})
	})
	t.Run("dump", func(t *testing.T) {
		good := restoretest.Fixture{Dir: dump, Path: "", From: "app", Service: termshift.MongoDB, Database: "app",
			Objects: map[string]int64{"items": 2500, "ünï/cöde%": 3, "empty": 0}}
		incomplete := good
		incomplete.Dir = cutDump
		restoretest.Run(t, l, restoretest.Options{Target: target, Good: good, Incomplete: incomplete, Bad: bad, Resume: restoretest.ResumeRestart, Threads: 2})
	})
}
