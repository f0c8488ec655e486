package mysql_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
	bmysql "github.com/termshift/termshift/backup/mysql"
	"github.com/termshift/termshift/restore"
	rmysql "github.com/termshift/termshift/restore/mysql"
)

// backupTo backs schema up as name into a fresh snapshot directory and
// returns the snapshot's root and the report.
func backupTo(t *testing.T, s *server, schema, name string, compress string, chunkRows int64) (string, *backup.Report) {
	t.Helper()
	ctx := context.Background()
	d := &bmysql.Dumper{DSN: s.dsn}
	snap, err := d.Snapshot(ctx, backup.Request{Names: map[string]string{schema: name}, Threads: 2, ChunkRows: chunkRows})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	root := t.TempDir()
	dst, err := backup.OpenDestination(ctx, root, "snap", restore.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := backup.Run(ctx, dst, []backup.Snapshot{snap}, backup.Options{Compress: compress, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "snap"), rep
}

func TestBackupIsReadByMyloaderTheClientAndRestore(t *testing.T) {
	s := localServer(t)
	requireTool(t, "myloader")
	src := s.schema(t, "bk_src")
	s.makeSource(t, src)
	want := s.content(t, src)
	for _, compress := range []string{backup.CompressNone, backup.CompressGzip} {
		t.Run(compress, func(t *testing.T) {
			name := s.schema(t, "bk_name")
			snap, rep := backupTo(t, s, src, name, compress, 50)
			dir := filepath.Join(snap, "mysql")
			files := names(t, dir)
			ext := ""
			if compress == backup.CompressGzip {
				ext = ".gz"
			}
			// alltypes is cut on its key: 131 rows, 50 a file.
			for _, f := range []string{"metadata", name + "-schema-create.sql" + ext, name + "-schema-post.sql" + ext,
				name + ".alltypes.00000.sql" + ext, name + ".alltypes.00002.sql" + ext, name + ".child-schema-triggers.sql" + ext,
				name + ".parent_names-schema-view.sql" + ext, name + ".order.sql" + ext} {
				if !files[f] {
					t.Errorf("%s is not in the backup: %v", f, files)
				}
			}
			if files[name+".empty_table.sql"+ext] {
				t.Errorf("an empty table got a data file")
			}
			if rep.Services[0].Info.LockHeld <= 0 {
				t.Errorf("lock held %s, want the measured time", rep.Services[0].Info.LockHeld)
			}

			t.Run("myloader", func(t *testing.T) {
				ref := s.schema(t, "bk_myl")
				s.run(t, nil, "myloader", "-d", dir, "-s", name, "-B", ref, "-t", "2")
				// myloader 0.10 keeps the "; " mydumper writes at the end of
				// body lines, and does not rename the schema inside bodies:
				// as with mydumper's own output.
				got := s.content(t, ref)
				for _, l := range [][]string{got.Triggers, got.Routines} {
					for i, b := range l {
						l[i] = strings.ReplaceAll(strings.ReplaceAll(b, "; \n", ";\n"), name, "SCHEMA")
					}
				}
				if diff := cmp.Diff(got, want); diff != "" {
					t.Errorf("myloader's load differs from the source (-myloader +source):\n%s", diff)
				}
			})
			t.Run("mariadb client", func(t *testing.T) {
				ref := s.schema(t, "bk_cli")
				s.exec(t, "CREATE DATABASE "+termshift.QuoteMySQL(ref)+" DEFAULT CHARACTER SET utf8mb4")
				for _, f := range clientOrder(files) {
					text := read(t, filepath.Join(dir, f))
					s.run(t, []byte(strings.ReplaceAll(string(text), "`"+name+"`", "`"+ref+"`")), "mariadb", ref)
				}
				// Triggers and routines are written for myloader's splitter
				// (no DELIMITER), as mydumper writes them: the client loads
				// the tables, the data and the views.
				got, want := s.content(t, ref), want
				got.Triggers, got.Routines, want.Triggers, want.Routines = nil, nil, nil, nil
				if diff := cmp.Diff(got, want); diff != "" {
					t.Errorf("the mariadb client's load differs from the source (-client +source):\n%s", diff)
				}
			})
			t.Run("restore", func(t *testing.T) {
				ref := s.schema(t, "bk_rst")
				src := restore.Dir{Root: snap}
				m, err := restore.ReadManifest(context.Background(), src)
				if err != nil || m == nil {
					t.Fatalf("manifest: %v, %v", m, err)
				}
				rep, err := (&rmysql.Loader{DSN: s.dsn}).Load(context.Background(), src, "mysql", restore.Request{From: name, To: ref, Threads: 2, Manifest: m})
				if err != nil {
					t.Fatal(err)
				}
				if !rep.OK() || !rep.Completeness.Proven || !strings.Contains(rep.Completeness.Evidence, restore.ManifestName) {
					t.Errorf("restore proof: ok %v, completeness %+v, gaps %s", rep.OK(), rep.Completeness, rep.Gaps())
				}
				if diff := cmp.Diff(s.content(t, ref), want); diff != "" {
					t.Errorf("termshift's restore differs from the source (-restore +source):\n%s", diff)
				}
			})
		})
	}
}

// clientOrder is the order the mariadb client loads a mydumper directory:
// tables, data, then views.
func clientOrder(files map[string]bool) []string {
	var schemas, data, views []string
	for f := range files {
		base := strings.TrimSuffix(f, ".gz")
		switch {
		case f == "metadata" || strings.HasSuffix(base, "-schema-create.sql"):
		case strings.HasSuffix(base, "-schema-view.sql"):
			views = append(views, f)
		case strings.HasSuffix(base, "-schema-triggers.sql"), strings.HasSuffix(base, "-schema-post.sql"):
		case strings.HasSuffix(base, "-schema.sql"):
			schemas = append(schemas, f)
		default:
			data = append(data, f)
		}
	}
	for _, l := range [][]string{schemas, data, views} {
		sort.Strings(l)
	}
	return append(append(schemas, data...), views...)
}

func names(t *testing.T, dir string) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range ents {
		out[e.Name()] = true
	}
	return out
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// TestSnapshotIsConsistentAndSeesChanges: rows written after the snapshot
// are not in it, on any connection, and Changes reports them.
func TestSnapshotIsConsistentAndSeesChanges(t *testing.T) {
	s := localServer(t)
	ctx := context.Background()
	src := s.schema(t, "bk_cons")
	s.exec(t, "CREATE DATABASE "+termshift.QuoteMySQL(src))
	q := termshift.QuoteMySQL(src)
	s.exec(t, "CREATE TABLE "+q+".a (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20))")
	s.exec(t, "CREATE TABLE "+q+".b (id INT PRIMARY KEY, v VARCHAR(20))")
	for i := range 100 {
		s.exec(t, "INSERT INTO "+q+".a (v) VALUES (?)", i)
		s.exec(t, "INSERT INTO "+q+".b VALUES (?, ?)", i, i)
	}
	snap, err := (&bmysql.Dumper{DSN: s.dsn}).Snapshot(ctx, backup.Request{Names: map[string]string{src: src}, Threads: 3, ChunkRows: 10, Hash: true})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if changes, err := snap.Changes(ctx); err != nil || len(changes) != 0 {
		t.Fatalf("changes of an unchanged source: %v, %v", changes, err)
	}
	s.exec(t, "INSERT INTO "+q+".a (v) VALUES ('late')")
	s.exec(t, "UPDATE "+q+".b SET v = 'changed' WHERE id = 5")
	info, err := snap.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, o := range info.Objects {
		counts[o.Name] = o.Count
	}
	if diff := cmp.Diff(counts, map[string]int64{"a": 100, "b": 100}); diff != "" {
		t.Errorf("counts in the snapshot (-got +want):\n%s", diff)
	}
	// Every data file, read by several connections, holds the snapshot.
	files, _ := snap.List(ctx, "")
	var rows int
	for _, f := range files {
		if !strings.HasPrefix(f.Name, src+".a.") || strings.Contains(f.Name, "-schema") {
			continue
		}
		rc, err := snap.Open(ctx, f.Name)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		rows += strings.Count(string(data), "\n(")
		if strings.Contains(string(data), "late") {
			t.Errorf("%s holds a row written after the snapshot", f.Name)
		}
	}
	if rows != 100 {
		t.Errorf("the data files of a hold %d rows, want 100", rows)
	}
	changes, err := snap.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(changes, "; ")
	if !strings.Contains(joined, src+".a: 100 rows in the snapshot, 101 now") {
		t.Errorf("changes %q do not name the insert into a", joined)
	}
}

func TestSnapshotRefusesBadNames(t *testing.T) {
	s := localServer(t)
	ctx := context.Background()
	existing := s.schema(t, "bk_bad")
	s.exec(t, "CREATE DATABASE "+termshift.QuoteMySQL(existing))
	d := &bmysql.Dumper{DSN: s.dsn}
	for _, tc := range []struct {
		name  string
		names map[string]string
		want  error
		text  string
	}{
		{"none", nil, termshift.ErrInvalid, "no schema"},
		{"missing schema", map[string]string{existing + "_nope": "x"}, termshift.ErrNotFound, existing + "_nope"},
		{"bad backup name", map[string]string{existing: "a/b"}, termshift.ErrInvalid, "a/b"},
		{"two onto one", map[string]string{existing: "same", "mysql": "same"}, termshift.ErrInvalid, "same"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap, err := d.Snapshot(ctx, backup.Request{Names: tc.names})
			if err == nil {
				snap.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %v: want %v naming %q", err, tc.want, tc.text)
			}
		})
	}
}
