package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
	"github.com/termshift/termshift/restore"
)

// files is a snapshot held in memory: its files, its counts.
type files struct {
	svc   termshift.Service
	names []string
	data  map[string][]byte
}

var _ backup.Snapshot = (*files)(nil)

func newFiles(svc termshift.Service, data map[string][]byte) *files {
	f := &files{svc: svc, data: data}
	for n := range data {
		f.names = append(f.names, n)
	}
	return f
}

func (f *files) Service() termshift.Service { return f.svc }
func (f *files) String() string             { return "memory" }
func (f *files) List(context.Context, string) ([]restore.FileInfo, error) {
	var out []restore.FileInfo
	for _, n := range f.names {
		out = append(out, restore.FileInfo{Name: n, Size: int64(len(f.data[n]))})
	}
	return out, nil
}
func (f *files) Open(_ context.Context, name string) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(f.data[name])), nil
}
func (f *files) Info(context.Context) (backup.Info, error) {
	return backup.Info{Service: f.svc, Server: "test 1.0", Objects: []restore.ManifestObject{{Service: string(f.svc), Database: "app", Name: "t", Count: 2}}}, nil
}
func (f *files) Changes(context.Context) ([]string, error) { return nil, nil }
func (f *files) Close() error                              { return nil }

func mysqlFiles() *files {
	return newFiles(termshift.MySQL, map[string][]byte{
		"metadata":              []byte("Started dump at: x\nFinished dump at: y\n"),
		"app-schema-create.sql": []byte("CREATE DATABASE `app`;\n"),
		"app.t-schema.sql":      []byte("CREATE TABLE `t` (id int);\n"),
		"app.t.sql":             []byte("INSERT INTO `t` VALUES\n(1),\n(2);\n"),
	})
}

// checkWhole reads a written snapshot back through restore: its manifest
// holds and lists every file.
func checkWhole(t *testing.T, src restore.Source, want []string) {
	t.Helper()
	ctx := context.Background()
	m, err := restore.ReadManifest(ctx, src)
	if err != nil || m == nil {
		t.Fatalf("manifest: %v, %v", m, err)
	}
	var got []string
	for _, f := range m.Files {
		got = append(got, f.Path)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("manifest files (-got +want):\n%s", diff)
	}
	if _, err := m.Verify(ctx, src, "mysql", nil, 2); err != nil {
		t.Errorf("verify: %v", err)
	}
	if c := m.Counts(termshift.MySQL, "app")["t"]; c != 2 {
		t.Errorf("count of t: %d", c)
	}
}

func TestRunWritesAWholeSnapshot(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		compress string
		want     []string
	}{
		{backup.CompressNone, []string{"mysql/app-schema-create.sql", "mysql/app.t-schema.sql", "mysql/app.t.sql", "mysql/metadata"}},
		{backup.CompressGzip, []string{"mysql/app-schema-create.sql.gz", "mysql/app.t-schema.sql.gz", "mysql/app.t.sql.gz", "mysql/metadata"}},
	} {
		t.Run(tc.compress, func(t *testing.T) {
			root := t.TempDir()
			dst, err := backup.OpenDestination(ctx, root, "s1", restore.S3Options{})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := backup.Run(ctx, dst, []backup.Snapshot{mysqlFiles()}, backup.Options{Compress: tc.compress})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Files != 5 {
				t.Errorf("%d files, want 4 and the manifest", rep.Files)
			}
			checkWhole(t, restore.Dir{Root: filepath.Join(root, "s1")}, tc.want)
			if _, err := os.Stat(filepath.Join(root, "s1", restore.PartialMarker)); err == nil {
				t.Errorf("the partial marker stayed")
			}
		})
	}
}

func TestRunRefusesOrClearsWhatTheDestinationHolds(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		holds   map[string]string
		want    error
		cleared bool
	}{
		{"complete snapshot", map[string]string{restore.ManifestName: "{}", "mysql/metadata": "x"}, termshift.ErrRefused, false},
		{"another tool's files", map[string]string{"mysql/metadata": "x"}, termshift.ErrRefused, false},
		{"a killed backup", map[string]string{restore.PartialMarker: "{}", "mysql/app.t.sql.gz": "half"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, text := range tc.holds {
				p := filepath.Join(root, "s1", filepath.FromSlash(name))
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			dst, _ := backup.OpenDestination(ctx, root, "s1", restore.S3Options{})
			rep, err := backup.Run(ctx, dst, []backup.Snapshot{mysqlFiles()}, backup.Options{})
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("run: %v, want %v", err, tc.want)
			}
			if err != nil {
				for name, text := range tc.holds {
					if got, _ := os.ReadFile(filepath.Join(root, "s1", filepath.FromSlash(name))); string(got) != text {
						t.Errorf("the refused backup changed %s", name)
					}
				}
				return
			}
			if rep.Cleared != tc.cleared {
				t.Errorf("cleared %v, want %v", rep.Cleared, tc.cleared)
			}
			if _, err := os.Stat(filepath.Join(root, "s1", "mysql", "app.t.sql.gz")); err == nil {
				t.Errorf("the killed backup's file survived the new one")
			}
		})
	}
}

func TestBadIDsAndCompression(t *testing.T) {
	ctx := context.Background()
	for _, id := range []string{"", ".", "..", "a/b", " x", "a\\b"} {
		if _, err := backup.OpenDestination(ctx, t.TempDir(), id, restore.S3Options{}); !errors.Is(err, termshift.ErrInvalid) {
			t.Errorf("id %q: %v, want invalid", id, err)
		}
	}
	dst, _ := backup.OpenDestination(ctx, t.TempDir(), "s", restore.S3Options{})
	if _, err := backup.Run(ctx, dst, []backup.Snapshot{mysqlFiles()}, backup.Options{Compress: "zstd"}); !errors.Is(err, termshift.ErrInvalid) || !strings.Contains(err.Error(), "zstd") {
		t.Errorf("compression zstd: %v, want invalid naming it", err)
	}
}

// To S3 the files stream up as they are made; restore reads the snapshot
// back from the bucket with its manifest.
func TestRunToS3(t *testing.T) {
	endpoint := termshift.RequireLocalSetting(t, "TERMSHIFT_S3_ENDPOINT")
	bucket := termshift.RequireLocalSetting(t, "TERMSHIFT_S3_BUCKET")
	opts := restore.S3Options{Endpoint: endpoint, Region: "us-east-1", PathStyle: true,
		AccessKey: termshift.RequireLocalSetting(t, "TERMSHIFT_S3_ACCESS_KEY"), SecretKey: termshift.Secret(termshift.RequireLocalSetting(t, "TERMSHIFT_S3_SECRET_KEY"))}
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "backup-test-" + hex.EncodeToString(b)
	// A data file larger than one multipart part.
	big := bytes.Repeat([]byte("(1),\n"), 5<<20)
	snap := mysqlFiles()
	snap.data["app.t.sql"] = append(append([]byte("INSERT INTO `t` VALUES\n"), big...), "(2);\n"...)
	dst, err := backup.OpenDestination(ctx, "s3://"+bucket+"/"+prefix, "s1", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dst.Clear(context.Background()) })
	if _, err := backup.Run(ctx, dst, []backup.Snapshot{snap}, backup.Options{Compress: backup.CompressNone}); err != nil {
		t.Fatal(err)
	}
	src, err := restore.NewS3(ctx, bucket, prefix+"/s1", opts)
	if err != nil {
		t.Fatal(err)
	}
	checkWhole(t, src, []string{"mysql/app-schema-create.sql", "mysql/app.t-schema.sql", "mysql/app.t.sql", "mysql/metadata"})
	list, _ := src.List(ctx, "")
	for _, f := range list {
		if f.Name == restore.PartialMarker {
			t.Errorf("the partial marker stayed in S3")
		}
	}
}
