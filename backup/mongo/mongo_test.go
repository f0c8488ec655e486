package mongo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
	bmongo "github.com/termshift/termshift/backup/mongo"
	"github.com/termshift/termshift/restore"
	rmongo "github.com/termshift/termshift/restore/mongo"
)

type server struct {
	uri    termshift.Secret
	client *mongo.Client
}

func localServer(t *testing.T) *server {
	t.Helper()
	uri := termshift.RequireLocalSetting(t, "TERMSHIFT_MONGO_URI")
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return &server{uri: termshift.Secret(uri), client: client}
}

func (s *server) database(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := prefix + "_" + hex.EncodeToString(b)
	t.Cleanup(func() { _ = s.client.Database(name).Drop(context.Background()) })
	return name
}

// makeSource fills a database: documents of every common BSON type, a
// unique index, an empty collection, and tenancy's marker collection,
// which a backup leaves out.
func (s *server) makeSource(t *testing.T, name string, n int) {
	t.Helper()
	ctx := context.Background()
	db := s.client.Database(name)
	var docs []any
	for i := range n {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "k", Value: fmt.Sprintf("key-%05d", i)}, {Key: "i64", Value: int64(i) << 33},
			{Key: "f", Value: float64(i) / 3}, {Key: "when", Value: time.Date(2026, 1, 1, 0, 0, i%60, 0, time.UTC)},
			{Key: "nested", Value: bson.D{{Key: "a", Value: bson.A{i, "x", nil, true}}}}, {Key: "bin", Value: bson.Binary{Data: []byte{byte(i), 0, 1}}}})
	}
	if _, err := db.Collection("docs").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("docs").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "k", Value: 1}}, Options: options.Index().SetUnique(true).SetName("k_unique")}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateCollection(ctx, "empty"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection(bmongo.MarkerCollection).InsertOne(ctx, bson.D{{Key: "_id", Value: "owner"}, {Key: "owner", Value: "env/live"}}); err != nil {
		t.Fatal(err)
	}
}

// hashes reads every collection back: count and order-independent hash.
func (s *server) hashes(t *testing.T, name string) map[string]string {
	t.Helper()
	ctx := context.Background()
	db := s.client.Database(name)
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range names {
		if n == bmongo.MarkerCollection {
			continue
		}
		cur, err := db.Collection(n).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var h rmongo.MultisetHash
		c := 0
		for cur.Next(ctx) {
			h.Add(cur.Current)
			c++
		}
		cur.Close(ctx)
		out[n] = fmt.Sprintf("%d/%s", c, h.Hex())
	}
	return out
}

func TestBackupIsRestoredWithProof(t *testing.T) {
	s := localServer(t)
	ctx := context.Background()
	src := s.database(t, "bkm_src")
	s.makeSource(t, src, 2500)
	want := s.hashes(t, src)
	for _, tc := range []struct {
		name     string
		archive  bool
		compress string
	}{
		{"dir", false, backup.CompressNone},
		{"dir gzip", false, backup.CompressGzip},
		{"archive", true, backup.CompressNone},
		{"archive gzip", true, backup.CompressGzip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := s.database(t, "bkm_name")
			snap, err := (&bmongo.Dumper{URI: s.uri}).Snapshot(ctx, backup.Request{Names: map[string]string{src: name}, Archive: tc.archive, Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer snap.Close()
			root := t.TempDir()
			dst, err := backup.OpenDestination(ctx, root, "snap", restore.S3Options{})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := backup.Run(ctx, dst, []backup.Snapshot{snap}, backup.Options{Compress: tc.compress, Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			counts := map[string]int64{}
			for _, o := range rep.Services[0].Info.Objects {
				counts[o.Name] = o.Count
			}
			if diff := cmp.Diff(counts, map[string]int64{"docs": 2500, "empty": 0}); diff != "" {
				t.Errorf("manifest counts (-got +want):\n%s", diff)
			}
			source := restore.Dir{Root: filepath.Join(root, "snap")}
			m, err := restore.ReadManifest(ctx, source)
			if err != nil || m == nil {
				t.Fatalf("manifest: %v %v", m, err)
			}
			path := "mongo"
			if tc.archive {
				path = "mongo/" + name + ".archive"
				if tc.compress == backup.CompressGzip {
					path += ".gz"
				}
			}
			target := s.database(t, "bkm_dst")
			lrep, err := (&rmongo.Loader{URI: s.uri}).Load(ctx, source, path, restore.Request{From: name, To: target, Manifest: m, Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			if !lrep.OK() || !lrep.Completeness.Proven {
				t.Errorf("restore proof: ok %v, %+v, %s", lrep.OK(), lrep.Completeness, lrep.Gaps())
			}
			if diff := cmp.Diff(s.hashes(t, target), want); diff != "" {
				t.Errorf("restored database differs from the source (-restored +source):\n%s", diff)
			}
		})
	}
}

func TestChangesSeeWrites(t *testing.T) {
	s := localServer(t)
	ctx := context.Background()
	src := s.database(t, "bkm_chg")
	s.makeSource(t, src, 10)
	snap, err := (&bmongo.Dumper{URI: s.uri}).Snapshot(ctx, backup.Request{Names: map[string]string{src: src}})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if ch, err := snap.Changes(ctx); err != nil || len(ch) != 0 {
		t.Fatalf("changes of an unchanged database: %v %v", ch, err)
	}
	if _, err := s.client.Database(src).Collection("docs").InsertOne(ctx, bson.D{{Key: "_id", Value: 99}}); err != nil {
		t.Fatal(err)
	}
	ch, err := snap.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := "collection " + src + ".docs: 10 documents in the snapshot, 11 now"; strings.Join(ch, ";") != want {
		t.Errorf("changes %q, want %q", ch, want)
	}
}

func TestSnapshotRefusesBadNames(t *testing.T) {
	s := localServer(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		names map[string]string
		want  error
	}{
		{"none", nil, termshift.ErrInvalid},
		{"missing", map[string]string{"bkm_nope_" + hex.EncodeToString([]byte{1, 2, 3}): "x"}, termshift.ErrNotFound},
		{"bad name", map[string]string{"admin": "a/b"}, termshift.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap, err := (&bmongo.Dumper{URI: s.uri}).Snapshot(ctx, backup.Request{Names: tc.names})
			if err == nil {
				snap.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v: want %v", err, tc.want)
			}
		})
	}
}
