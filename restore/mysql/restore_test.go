package mysql

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/termshift/termshift/restore"
)

// TestRoundTrip dumps a schema holding every column type, generated
// columns, foreign keys in both directions, odd names, a view, a trigger,
// routines and AUTO_INCREMENT counters with the real mydumper and
// mariadb-dump, restores each dump into a fresh renamed schema, and proves
// the target equals the source.
func TestRoundTrip(t *testing.T) {
	srv := localServer(t)
	source := srv.schema(t, "tsrt_src")
	srv.makeSource(t, source)
	dir := t.TempDir()
	srv.mydumper(t, source, filepath.Join(dir, "mydumper-plain"), "--rows", "50")
	srv.mydumper(t, source, filepath.Join(dir, "mydumper-gz"), "-c")
	srv.mysqldump(t, source, filepath.Join(dir, "databases.sql"), false, "--databases")
	srv.mysqldump(t, source, filepath.Join(dir, source+".sql.gz"), true)

	for _, tc := range []struct {
		name, path, format string
	}{
		{"mydumper chunked", "mydumper-plain", FormatMydumper},
		{"mydumper gzip", "mydumper-gz", FormatMydumper},
		{"mariadb-dump --databases", "databases.sql", FormatMysqldump},
		{"mariadb-dump plain gzip", source + ".sql.gz", FormatMysqldump},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := restore.Dir{Root: dir}
			format, schemas, err := Detect(context.Background(), src, tc.path)
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if format != tc.format || len(schemas) != 1 || schemas[0] != source {
				t.Errorf("Detect = %q %q, want %q [%q]", format, schemas, tc.format, source)
			}
			target := srv.schema(t, "tsrt_dst")
			// every table's indexes deferred and rows loaded with LOAD
			// DATA where they can be, as the big tables' are
			rep, err := (&Loader{DSN: srv.dsn, deferBelow: -1, infileBelow: -1}).Load(context.Background(), src, tc.path, restore.Request{From: source, To: target, Threads: 2})
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if !rep.OK() || rep.Format != tc.format {
				t.Errorf("report not OK or wrong format %q: %+v", rep.Format, rep)
			}
			byName := map[string]restore.ObjectReport{}
			for _, o := range rep.Objects {
				byName[o.Name] = o
			}
			for name, want := range map[string]int64{"alltypes": 124, "child": 5, "parent": 3, "order": 2, "we-ird$name": 3, "nopk": 3, "empty_table": 0, "audit": 1} {
				if got := byName[name]; got.Expected != want || got.Loaded != want {
					t.Errorf("table %s: expected %d loaded %d, want %d", name, got.Expected, got.Loaded, want)
				}
			}
			if _, ok := byName["parent_names"]; ok {
				t.Errorf("the view is reported as a table")
			}
			srv.assertSame(t, source, target)
		})
	}
}
