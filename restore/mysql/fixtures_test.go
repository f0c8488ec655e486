package mysql

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// TestFixtures restores the committed backups (testdata/make-fixtures.sh
// writes them with the real tools), so the formats stay covered where
// mydumper is not installed.
func TestFixtures(t *testing.T) {
	srv := localServer(t)
	schemaFile, err := os.ReadFile("testdata/mydumper/termshift_src.alltypes-schema.sql")
	must(t, err)
	m := regexp.MustCompile(`AUTO_INCREMENT=(\d+)`).FindSubmatch(schemaFile)
	if m == nil {
		t.Fatal("no AUTO_INCREMENT in the alltypes fixture")
	}
	wantAutoInc, _ := strconv.Atoi(string(m[1]))

	for _, tc := range []struct{ path, format string }{
		{"mydumper", FormatMydumper},
		{"mydumper-gz", FormatMydumper},
		{"mysqldump/termshift_src.sql", FormatMysqldump},
		{"mysqldump/termshift_src.sql.gz", FormatMysqldump},
	} {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src := restore.Dir{Root: "testdata"}
			format, schemas, err := Detect(ctx, src, tc.path)
			if err != nil || format != tc.format || !cmp.Equal(schemas, []string{"termshift_src"}) {
				t.Fatalf("Detect = %q %q %v, want %q [termshift_src]", format, schemas, err, tc.format)
			}
			target := srv.schema(t, "tsfx")
			var events atomic.Int64
			rep, err := (&Loader{DSN: srv.dsn}).Load(ctx, src, tc.path, restore.Request{From: "termshift_src", To: target, Threads: 3,
				Progress: func(restore.Event) { events.Add(1) }})
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			got := map[string][2]int64{}
			for _, o := range rep.Objects {
				got[o.Name] = [2]int64{o.Expected, o.Loaded}
			}
			want := map[string][2]int64{"alltypes": {124, 124}, "audit": {1, 1}, "child": {5, 5}, "empty_table": {0, 0},
				"nopk": {3, 3}, "order": {2, 2}, "parent": {3, 3}, "we-ird$name": {3, 3}}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("rows (-got +want):\n%s", diff)
			}
			if events.Load() == 0 {
				t.Error("no progress event")
			}
			q := termshift.QuoteMySQL(target)
			var autoInc int
			must(t, srv.db.QueryRow("SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'alltypes'", target).Scan(&autoInc))
			if autoInc != wantAutoInc {
				t.Errorf("AUTO_INCREMENT = %d, want %d", autoInc, wantAutoInc)
			}
			// The renamed routine reads the target, the function and the view work.
			c, err := srv.db.Conn(ctx)
			must(t, err)
			defer c.Close()
			var n int
			var greeting string
			_, err = c.ExecContext(ctx, "CALL "+q+".count_children(1, @n)")
			must(t, err)
			must(t, c.QueryRowContext(ctx, "SELECT @n, "+q+".greet('you')").Scan(&n, &greeting))
			if n != 2 || greeting != "hi; you '#'" {
				t.Errorf("count_children(1) = %d, greet = %q", n, greeting)
			}
			var children int
			must(t, c.QueryRowContext(ctx, "SELECT SUM(children) FROM "+q+".parent_names").Scan(&children))
			if children != 5 {
				t.Errorf("view parent_names sums %d children, want 5", children)
			}
			// the trigger came after the data: audit holds only the source's row
			_, err = c.ExecContext(ctx, "INSERT INTO "+q+".child (parent_id, note) VALUES (1, 'new')")
			must(t, err)
			var audits int
			must(t, c.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+q+".audit").Scan(&audits))
			if audits != 2 {
				t.Errorf("audit holds %d rows after one insert, want 2 (trigger missing or fired during the load)", audits)
			}
		})
	}
}
