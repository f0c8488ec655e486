package follow_test

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/follow"
)

// binlogServer is the local MariaDB with log_bin and binlog_format=ROW.
type binlogServer struct {
	dsn termshift.Secret
	db  *sql.DB
}

func server(t testing.TB) *binlogServer {
	t.Helper()
	dsn := termshift.RequireLocalSetting(t, "TERMSHIFT_BINLOG_MYSQL_DSN")
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse TERMSHIFT_BINLOG_MYSQL_DSN: %v", err)
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatalf("mysql %s: %v", cfg.Addr, err)
	}
	return &binlogServer{dsn: termshift.Secret(dsn), db: db}
}

func (s *binlogServer) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := s.db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// pair creates a live and a next schema with the same tables: one with a
// primary key, NULLs and a blob, and one without a primary key, where an
// event applied twice would show as a duplicate row.
func (s *binlogServer) pair(t testing.TB) (live, next string) {
	t.Helper()
	b := make([]byte, 4)
	_, _ = crand.Read(b)
	live, next = "fl_"+hex.EncodeToString(b)+"_live", "fl_"+hex.EncodeToString(b)+"_next"
	for _, n := range []string{live, next} {
		s.exec(t, "CREATE DATABASE "+n)
		s.exec(t, "CREATE TABLE "+n+".pk (id INT PRIMARY KEY, name VARCHAR(40) NULL, data MEDIUMBLOB NULL, amount DECIMAL(10,2) NULL, at DATETIME(6) NULL) ENGINE=InnoDB")
		s.exec(t, "CREATE TABLE "+n+".nopk (a INT NULL, b VARCHAR(20) NULL) ENGINE=InnoDB")
		t.Cleanup(func() { _, _ = s.db.Exec("DROP DATABASE IF EXISTS " + n) })
	}
	t.Cleanup(func() {
		_, _ = s.db.Exec("DELETE FROM "+follow.PositionSchema+".positions WHERE follower = ?", next)
		_, _ = s.db.Exec("DELETE FROM "+follow.PositionSchema+".touched WHERE follower = ?", next)
		_, _ = s.db.Exec("DELETE FROM "+follow.PositionSchema+".touched_rows WHERE follower = ?", next)
	})
	return live, next
}

func (s *binlogServer) head(t testing.TB, f *follow.Follower) follow.Position {
	t.Helper()
	p, err := f.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checksums is CHECKSUM TABLE and COUNT(*) of each table.
func (s *binlogServer) checksums(t *testing.T, schema string) string {
	t.Helper()
	var out []string
	for _, tbl := range []string{"pk", "nopk"} {
		var name string
		var sum sql.NullInt64
		if err := s.db.QueryRow("CHECKSUM TABLE "+schema+"."+tbl).Scan(&name, &sum); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.db.QueryRow("SELECT COUNT(*) FROM " + schema + "." + tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s: %d rows, checksum %d", tbl, n, sum.Int64))
	}
	return strings.Join(out, "; ")
}

// unlogged runs statements with the binary log off, as a broken applier
// or a session with sql_log_bin=0 would: no follower sees them.
func (s *binlogServer) unlogged(t testing.TB, stmts ...string) {
	t.Helper()
	conn, err := s.db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range append([]string{"SET SESSION sql_log_bin = 0"}, stmts...) {
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func newFollower(t testing.TB, s *binlogServer) *follow.Follower {
	t.Helper()
	f, err := follow.New(s.dsn, s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestApplyRowChanges(t *testing.T) {
	t.Parallel()
	s := server(t)
	f := newFollower(t, s)
	live, next := s.pair(t)
	start := s.head(t, f)
	s.exec(t, "INSERT INTO "+live+".pk VALUES (1, 'a', x'00ff00', 1.50, '2026-01-02 03:04:05.123456'), (2, NULL, NULL, NULL, NULL), (3, 'c', REPEAT('x', 70000), -2.25, NULL)")
	s.exec(t, "INSERT INTO "+live+".nopk VALUES (1, 'one'), (1, 'one'), (2, NULL), (NULL, NULL)")
	s.exec(t, "UPDATE "+live+".pk SET name = NULL, data = x'ff' WHERE id = 1")
	s.exec(t, "UPDATE "+live+".nopk SET b = 'two' WHERE a = 2")
	s.exec(t, "DELETE FROM "+live+".pk WHERE id = 3")
	s.exec(t, "DELETE FROM "+live+".nopk WHERE a IS NULL")
	// The next release's own rows, on the same server, are not the live
	// release's: they are not applied again.
	s.exec(t, "INSERT INTO "+next+".nopk VALUES (9, 'next')")
	s.exec(t, "DELETE FROM "+next+".nopk WHERE a = 9")
	// A transaction of several statements.
	tx, err := s.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 20; i++ {
		if _, err := tx.Exec("INSERT INTO "+live+".pk (id, name) VALUES (?, ?)", i, fmt.Sprint("n", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	until := s.head(t, f)
	st, err := f.Run(context.Background(), follow.Request{Key: next, Schemas: map[string]string{live: next}, Start: start, Until: &until})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.checksums(t, next), s.checksums(t, live); got != want {
		t.Errorf("next: %s\nlive: %s", got, want)
	}
	if st.Applied.Compare(until) < 0 || st.Transactions != 7 {
		t.Errorf("applied %s (%d transactions), want %s (7 transactions)", st.Applied, st.Transactions, until)
	}
	proofs, err := f.Prove(context.Background(), map[string]string{live: next}, nil)
	if err != nil || len(proofs) != 2 || !proofs[0].OK() || !proofs[1].OK() {
		t.Errorf("proof after the catch-up: %+v, %v; want 2 tables, equal", proofs, err)
	}
	s.exec(t, "UPDATE "+next+".nopk SET b = 'drift' WHERE a = 1 LIMIT 1")
	if proofs, err := f.Prove(context.Background(), map[string]string{live: next}, nil); err != nil || proofs[0].OK() {
		t.Errorf("proof of a table that differs: %+v, %v; want nopk not OK", proofs, err)
	}
	rec, found, err := f.Recorded(context.Background(), next)
	if err != nil || !found || rec.Position.Compare(st.Applied) != 0 {
		t.Errorf("recorded %v %v %v, want %s", rec, found, err, st.Applied)
	}
}

// TestChangedTables: the follower records the tables it applied events
// to and those the next release wrote itself after its data was proven;
// the proof then reads only those, and a statement on the next release's
// schema counts as a change of every table.
func TestChangedTables(t *testing.T) {
	t.Parallel()
	s := server(t)
	f := newFollower(t, s)
	live, next := s.pair(t)
	names := map[string]string{live: next}
	ctx := context.Background()
	for _, n := range []string{live, next} {
		s.exec(t, "CREATE TABLE "+n+".quiet (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB")
		s.exec(t, "CREATE TABLE "+n+".`odd``name` (id INT PRIMARY KEY) ENGINE=InnoDB")
	}
	s.exec(t, "INSERT INTO "+live+".quiet VALUES (1, 'a'), (2, 'b')")
	start := s.head(t, f)
	// The next release's data is loaded after the snapshot (the start) and
	// proven: what it was made of is not a change; what it writes after is.
	s.exec(t, "INSERT INTO "+next+".quiet VALUES (1, 'a'), (2, 'b')")
	proven := s.head(t, f)
	s.exec(t, "INSERT INTO "+live+".pk (id, name) VALUES (1, 'live')")
	s.exec(t, "INSERT INTO "+next+".nopk VALUES (7, 'qa')")
	s.exec(t, "DELETE FROM "+next+".nopk WHERE a = 7")
	s.exec(t, "INSERT INTO "+live+".`odd``name` VALUES (1)")
	until := s.head(t, f)
	req := follow.Request{Key: next, Schemas: names, Start: start, Until: &until, TargetProven: map[string]follow.Position{next: proven}}
	if _, err := f.Run(ctx, req); err != nil {
		t.Fatal(err)
	}
	ch, err := f.Changed(ctx, next, names)
	if err != nil {
		t.Fatal(err)
	}
	// Tables with a primary key of one integer column have their changed
	// rows recorded by key; the table without one may have changed anywhere.
	want := map[string]any{"tracked": true, "whole": map[string]map[string]bool{live: {"nopk": true}}, "by key": map[string]map[string]bool{live: {"pk": true, "odd`name": true}}}
	got := map[string]any{"tracked": ch.Tracked, "whole": ch.Tables, "by key": ch.Rows}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("changed tables (-want +got):\n%s", diff)
	}
	result := map[string]string{}
	for _, p := range proveByTable(t, f, names, ch) {
		switch {
		case p.Unchanged:
			result[p.Table] = "unchanged"
		case p.OK() && p.ByKey:
			result[p.Table] = fmt.Sprintf("ok, %d rows by key", p.Keys)
		case p.OK():
			result[p.Table] = "ok"
		default:
			result[p.Table] = fmt.Sprintf("differs: %d/%d rows, checksum %s/%s", p.Rows, p.TargetRows, p.Checksum, p.TargetChecksum)
		}
	}
	if diff := cmp.Diff(map[string]string{"pk": "ok, 1 rows by key", "nopk": "ok", "odd`name": "ok, 1 rows by key", "quiet": "unchanged"}, result); diff != "" {
		t.Errorf("proof (-want +got):\n%s", diff)
	}
	// Setting the schema's options (termshift's owner comment) changes
	// no table; a statement on one of its tables may have changed anything.
	s.exec(t, "ALTER DATABASE "+next+" COMMENT 'owner marker'")
	until = s.head(t, f)
	if _, err := f.Run(ctx, req); err != nil {
		t.Fatal(err)
	}
	if ch, err = f.Changed(ctx, next, names); err != nil || ch.Has(live, "quiet") {
		t.Errorf("after ALTER DATABASE: %+v, %v; want quiet still unchanged", ch, err)
	}
	s.exec(t, "ALTER TABLE "+next+".quiet COMMENT 'touched by a statement'")
	until = s.head(t, f)
	if _, err := f.Run(ctx, req); err != nil {
		t.Fatal(err)
	}
	if ch, err = f.Changed(ctx, next, names); err != nil || !ch.Has(live, "quiet") {
		t.Errorf("after a statement on %s: %+v, %v; want every table changed", next, ch, err)
	}
	if err := f.Forget(ctx, next); err != nil {
		t.Fatal(err)
	}
	if ch, err = f.Changed(ctx, next, names); err != nil || ch.Tracked || ch.Why == "" {
		t.Errorf("after Forget: %+v, %v; want untracked, with the reason", ch, err)
	}
}

// TestRowsProvenByKey: rows changed in tables with an integer primary key
// (signed, and unsigned at its top) are recorded by their own keys and
// proven by reading those rows on both sides; a changed row that differs
// on next (as a broken applier would leave it) is caught.
func TestRowsProvenByKey(t *testing.T) {
	t.Parallel()
	s := server(t)
	f := newFollower(t, s)
	live, next := s.pair(t)
	names := map[string]string{live: next}
	ctx := context.Background()
	for _, n := range []string{live, next} {
		s.exec(t, "CREATE TABLE "+n+".u (id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB")
		s.exec(t, "INSERT INTO "+n+".u VALUES (18446744073709551615, 'top'), (1, 'one')")
		s.exec(t, "INSERT INTO "+n+".pk (id, name) VALUES (100, 'a'), (101, 'b'), (102, 'c')")
	}
	start := s.head(t, f)
	s.exec(t, "UPDATE "+live+".u SET v = 'top, changed' WHERE id = 18446744073709551615")
	s.exec(t, "INSERT INTO "+live+".pk (id, name) VALUES (-7, 'negative'), (7, 'x\ny')")
	s.exec(t, "UPDATE "+live+".pk SET id = 200, name = 'moved' WHERE id = 100")
	s.exec(t, "DELETE FROM "+live+".pk WHERE id = 101")
	until := s.head(t, f)
	if _, err := f.Run(ctx, follow.Request{Key: next, Schemas: names, Start: start, Until: &until}); err != nil {
		t.Fatal(err)
	}
	ch, err := f.Changed(ctx, next, names)
	if err != nil || !ch.Rows[live]["pk"] || !ch.Rows[live]["u"] || ch.Whole(live, "pk") {
		t.Fatalf("changes %+v, %v: want pk and u by key", ch, err)
	}
	// The keys recorded are the rows' own: a wrong one would compare two
	// absent rows and hide the real one.
	// (pk is kept as text, in byte order.)
	if diff := cmp.Diff(map[string][]string{"pk": {"-7", "100", "101", "200", "7"}, "u": {"18446744073709551615"}}, s.recordedKeys(t, next)); diff != "" {
		t.Errorf("recorded keys (-want +got):\n%s", diff)
	}
	byTable := func() map[string]follow.TableProof { return proveByTable(t, f, names, ch) }
	got := byTable()
	// pk: -7, 7, 100, 200 (the move: its before and after keys), 101.
	if p := got["pk"]; !p.OK() || !p.ByKey || p.Keys != 5 || p.Rows != 4 {
		t.Errorf("pk proof %+v: want ok by 5 keys, 4 rows", p)
	}
	if p := got["u"]; !p.OK() || !p.ByKey || p.Keys != 1 {
		t.Errorf("u proof %+v: want ok by its 1 key", p)
	}
	if p := got["nopk"]; !p.Unchanged {
		t.Errorf("nopk proof %+v: want unchanged", p)
	}
	// A changed row that differs on next (written with the binary log
	// off, as a broken applier would leave it) fails the proof.
	s.unlogged(t, "UPDATE "+next+".pk SET name = 'drift' WHERE id = 200")
	if p := byTable()["pk"]; p.OK() || p.Rows != p.TargetRows {
		t.Errorf("pk proof after a drift in a changed row %+v: want not ok, same counts", p)
	}
}

// proveByTable runs Prove and gives its proofs by table.
func proveByTable(t *testing.T, f *follow.Follower, names map[string]string, ch *follow.Changes) map[string]follow.TableProof {
	t.Helper()
	proofs, err := f.Prove(context.Background(), names, ch)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]follow.TableProof{}
	for _, p := range proofs {
		out[p.Table] = p
	}
	return out
}

// recordUnequal has n rows inserted into live's pk recorded by follower
// next, applied, and then made to differ on next (written with the binary
// log off), so that every settling compares all n and forgets none.
func (s *binlogServer) recordUnequal(t testing.TB, f *follow.Follower, live, next string, n int) {
	t.Helper()
	start := s.head(t, f)
	s.exec(t, fmt.Sprintf("INSERT INTO %s.pk (id, name) SELECT seq, 'r' FROM %s.seq_1_to_%d", live, live, n))
	until := s.head(t, f)
	if _, err := f.Run(context.Background(), follow.Request{Key: next, Schemas: map[string]string{live: next}, Start: start, Until: &until}); err != nil {
		t.Fatal(err)
	}
	s.unlogged(t, "UPDATE "+next+".pk SET name = 'drift'")
}

// recordedKeys reads the keys recorded for follower, by table, in byte
// order.
func (s *binlogServer) recordedKeys(t *testing.T, follower string) map[string][]string {
	t.Helper()
	rows, err := s.db.Query("SELECT table_name, pk FROM "+follow.PositionSchema+".touched_rows WHERE follower = ? ORDER BY table_name, pk", follower)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	keys := map[string][]string{}
	for rows.Next() {
		var tbl, k string
		if err := rows.Scan(&tbl, &k); err != nil {
			t.Fatal(err)
		}
		keys[tbl] = append(keys[tbl], k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestTextKeys: rows of tables whose primary key is one VARCHAR or
// VARBINARY column (Django's sessions) are recorded and proven by key too,
// exactly as mariadb-binlog prints them. A key it cannot print exactly
// (not ASCII, a backslash), or a CHAR key (padded in the row image), makes
// its table count as whole. Where a collation ignores case, a recorded key
// can find another key's row: that row is compared too, and a settling
// forgets none of its chunk.
func TestTextKeys(t *testing.T) {
	t.Parallel()
	s := server(t)
	f := newFollower(t, s)
	live, next := s.pair(t)
	names := map[string]string{live: next}
	for _, n := range []string{live, next} {
		s.exec(t, "CREATE TABLE "+n+".sess (session_key VARCHAR(40) PRIMARY KEY, data TEXT) ENGINE=InnoDB CHARSET utf8mb4 COLLATE utf8mb4_general_ci")
		s.exec(t, "CREATE TABLE "+n+".bin (k VARBINARY(20) PRIMARY KEY, v INT) ENGINE=InnoDB")
		s.exec(t, "CREATE TABLE "+n+".latin (k VARCHAR(20) PRIMARY KEY, v INT) ENGINE=InnoDB CHARSET latin1")
		s.exec(t, "CREATE TABLE "+n+".slash (k VARCHAR(20) PRIMARY KEY, v INT) ENGINE=InnoDB")
		s.exec(t, "CREATE TABLE "+n+".fixed (k CHAR(10) PRIMARY KEY, v INT) ENGINE=InnoDB")
		s.exec(t, "CREATE TABLE "+n+".blank (k VARCHAR(10) PRIMARY KEY, v INT) ENGINE=InnoDB")
		s.exec(t, "INSERT INTO "+n+".sess VALUES ('abc', 'd0'), ('keep', 'd1')")
	}
	start := s.head(t, f)
	for _, q := range []string{
		"INSERT INTO " + live + ".sess VALUES ('it''s', 'quote'), ('tail  ', 'spaces')",
		"UPDATE " + live + ".sess SET session_key = 'ABC' WHERE session_key = 'abc'",
		"INSERT INTO " + live + ".sess VALUES ('xyz', 'gone')",
		"DELETE FROM " + live + ".sess WHERE session_key = 'xyz'",
		"INSERT INTO " + live + ".bin VALUES ('k1', 1)",
		"INSERT INTO " + live + ".latin VALUES ('héllo', 1)",
		"INSERT INTO " + live + ".slash VALUES (CONCAT('a', CHAR(92), 'x41'), 1)", // a\x41
		"INSERT INTO " + live + ".fixed VALUES ('f', 1)",
		"INSERT INTO " + live + ".blank VALUES ('', 1)",
	} {
		s.exec(t, q)
	}
	until := s.head(t, f)
	ctx := context.Background()
	if _, err := f.Run(ctx, follow.Request{Key: next, Schemas: names, Start: start, Until: &until}); err != nil {
		t.Fatal(err)
	}
	ch, err := f.Changed(ctx, next, names)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{"whole": ch.Tables, "by key": ch.Rows}
	want := map[string]any{"whole": map[string]map[string]bool{live: {"latin": true, "slash": true, "fixed": true}}, "by key": map[string]map[string]bool{live: {"sess": true, "bin": true, "blank": true}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("changed tables (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string][]string{"sess": {"ABC", "abc", "it's", "tail  ", "xyz"}, "bin": {"k1"}, "blank": {""}}, s.recordedKeys(t, next)); diff != "" {
		t.Errorf("recorded keys (-want +got):\n%s", diff)
	}
	proofs := func() map[string]follow.TableProof { return proveByTable(t, f, names, ch) }
	ps := proofs()
	for table, keys := range map[string]int64{"sess": 5, "bin": 1, "blank": 1} {
		if p := ps[table]; !p.OK() || !p.ByKey || p.Keys != keys {
			t.Errorf("%s proof %+v: want ok by its %d keys", table, p, keys)
		}
	}
	for _, table := range []string{"latin", "slash", "fixed"} {
		if p := ps[table]; !p.OK() || p.ByKey || p.Unchanged {
			t.Errorf("%s proof %+v: want ok, read whole", table, p)
		}
	}
	// Next's 'keep' becomes 'XYZ' with the binary log off: the counts
	// stay equal, and no recorded key is 'XYZ', but the recorded 'xyz'
	// finds it under this collation. Next's row '' drifts too.
	s.unlogged(t, "UPDATE "+next+".sess SET session_key = 'XYZ' WHERE session_key = 'keep'", "UPDATE "+next+".blank SET v = 2")
	ps = proofs()
	if p := ps["sess"]; p.OK() || p.Rows != p.TargetRows {
		t.Errorf("sess proof with a row found under another key %+v: want not ok, same counts", p)
	}
	if p := ps["blank"]; p.OK() {
		t.Errorf("blank proof with its row '' drifted %+v: want not ok", p)
	}
	// A settling forgets bin's row, none of sess's, and not blank's ''.
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var (
		mu   sync.Mutex
		last follow.Status
	)
	done := make(chan error, 1)
	go func() {
		_, err := f.Run(rctx, follow.Request{Key: next, Schemas: names, Start: start, Interval: 20 * time.Millisecond, SettleEvery: 50 * time.Millisecond,
			Report: func(st follow.Status) {
				mu.Lock()
				defer mu.Unlock()
				last = st
			}})
		done <- err
	}()
	for {
		keys := s.recordedKeys(t, next)
		mu.Lock()
		st := last
		mu.Unlock()
		// A settling's counts are reported once it is done.
		if len(keys["bin"]) == 0 && st.Settled+st.Pending > 0 {
			if diff := cmp.Diff(map[string][]string{"sess": {"ABC", "abc", "it's", "tail  ", "xyz"}, "blank": {""}}, keys); diff != "" || st.Pending != 6 {
				t.Errorf("after a settling (%d rows left): recorded keys (-want +got):\n%s", st.Pending, diff)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the follower stopped: %v", err)
		case <-rctx.Done():
			t.Fatalf("no settling in a minute: last status %+v, recorded %v", st, keys)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestSettle: a follower compares the rows it recorded on both sides as it
// goes and forgets those that are equal, so the cutover's proof reads only
// what changed since; a row the next release changed itself stays.
func TestSettle(t *testing.T) {
	t.Parallel()
	s := server(t)
	f := newFollower(t, s)
	live, next := s.pair(t)
	names := map[string]string{live: next}
	start := s.head(t, f)
	for i := range 300 {
		s.exec(t, "INSERT INTO "+live+".pk (id, name) VALUES (?, 'r')", i)
	}
	until := s.head(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The last status, and whether a settling forgot a row applied after
	// again (set when live changes a settled row again).
	var (
		mu      sync.Mutex
		last    follow.Status
		again   *follow.Position
		settled bool
	)
	done := make(chan error, 1)
	go func() {
		_, err := f.Run(ctx, follow.Request{Key: next, Schemas: names, Start: start, Interval: 20 * time.Millisecond, SettleEvery: 50 * time.Millisecond,
			Report: func(st follow.Status) {
				mu.Lock()
				defer mu.Unlock()
				last = st
				if again != nil && st.Applied.Compare(*again) >= 0 && st.Settled >= 1 {
					settled = true
				}
			}})
		done <- err
	}()
	// wait polls the last status and the rows still recorded. A settling
	// may forget the 300 rows in parts (it runs whenever the follower has
	// applied all it read), so what is waited for is their count.
	wait := func(what string, ok func(st follow.Status, recorded int) bool) {
		t.Helper()
		for {
			var n int
			if err := s.db.QueryRow("SELECT COUNT(*) FROM "+follow.PositionSchema+".touched_rows WHERE follower = ?", next).Scan(&n); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			st := last
			mu.Unlock()
			if ok(st, n) {
				return
			}
			select {
			case err := <-done:
				t.Fatalf("the follower stopped: %v", err)
			case <-ctx.Done():
				t.Fatalf("%s: not in a minute (last status %+v, %d rows recorded)", what, st, n)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	// Every row applied, all 300 recorded with it, none left.
	wait("all 300 rows settled", func(st follow.Status, n int) bool { return st.Applied.Compare(until) >= 0 && n == 0 })
	// A settling that finds nothing, so that the next count is the
	// next settling's own.
	wait("a settling with nothing to do", func(st follow.Status, _ int) bool { return st.Settled == 0 && st.Pending == 0 })
	// A settled row that live changes again is recorded again, and settled.
	s.exec(t, "UPDATE "+live+".pk SET name = 'again' WHERE id = 7")
	at := s.head(t, f)
	mu.Lock()
	again = &at
	mu.Unlock()
	wait("the row changed again settled", func(_ follow.Status, n int) bool {
		mu.Lock()
		defer mu.Unlock()
		return settled && n == 0
	})
	// Next writes a row itself: it stays for the proof, which fails.
	s.exec(t, "UPDATE "+next+".pk SET name = 'qa' WHERE id = 5")
	wait("next's own write pending", func(st follow.Status, n int) bool { return st.Pending >= 1 && n == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ch, err := f.Changed(context.Background(), next, names)
	if err != nil {
		t.Fatal(err)
	}
	proofs, err := f.Prove(context.Background(), names, ch)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range proofs {
		if p.Table == "pk" && (p.OK() || !p.ByKey || p.Keys != 1) {
			t.Errorf("pk proof %+v: want it to read the one row next wrote, and fail", p)
		}
	}
}

// TestSettleWhileApplying: a settling compares a chunk of rows at a time
// between the batches the follower applies, so a write to live is applied
// while a long settling is under way, not after it.
func TestSettleWhileApplying(t *testing.T) {
	t.Parallel()
	s := server(t)
	f := newFollower(t, s)
	live, next := s.pair(t)
	names := map[string]string{live: next}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 100000
	s.recordUnequal(t, f, live, next, n)
	var (
		mu   sync.Mutex
		last follow.Status
		at   *follow.Position
		seen *follow.Status // the first status with the write applied
	)
	done := make(chan error, 1)
	go func() {
		_, err := f.Run(ctx, follow.Request{Key: next, Schemas: names, Interval: 10 * time.Millisecond, SettleEvery: 10 * time.Millisecond,
			Report: func(st follow.Status) {
				mu.Lock()
				defer mu.Unlock()
				last = st
				if at != nil && seen == nil && st.Applied.Compare(*at) >= 0 {
					seen = &st
				}
			}})
		done <- err
	}()
	poll := func(what string, ok func() bool) {
		t.Helper()
		for {
			mu.Lock()
			st, yes := last, ok()
			mu.Unlock()
			if yes {
				return
			}
			select {
			case err := <-done:
				t.Fatalf("the follower stopped: %v", err)
			case <-ctx.Done():
				t.Fatalf("%s: not in time (last status %+v)", what, st)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	// Early in a settling (which takes about a second here), live takes
	// a write.
	var mark int64
	poll("a settling under way", func() bool { mark = last.Settling; return last.SettleRows == n && last.Settling >= n/10 })
	s.exec(t, "INSERT INTO "+live+".pk (id, name) VALUES (?, 'during')", n+1)
	head := s.head(t, f)
	mu.Lock()
	at = &head
	mu.Unlock()
	poll("the write applied", func() bool { return seen != nil })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if seen.SettleRows != n || seen.Settling < mark {
		t.Errorf("status when the write was applied %+v: want the settling that had compared %d of %d rows still under way", *seen, mark, n)
	}
}

func TestSchemaChangeStops(t *testing.T) {
	t.Parallel()
	s := server(t)
	f := newFollower(t, s)
	live, next := s.pair(t)
	start := s.head(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	caughtUp := make(chan struct{})
	go func() {
		once := false
		_, err := f.Run(ctx, follow.Request{Key: next, Schemas: map[string]string{live: next}, Start: start, Interval: 50 * time.Millisecond, Report: func(st follow.Status) {
			if st.CaughtUp && !once {
				once = true
				close(caughtUp)
			}
		}})
		done <- err
	}()
	select {
	case <-caughtUp:
	case err := <-done:
		t.Fatalf("the follower stopped before the ALTER: %v", err)
	}
	s.exec(t, "INSERT INTO "+live+".nopk VALUES (1, 'before')")
	s.exec(t, "ALTER TABLE "+live+".nopk ADD COLUMN c INT NULL")
	s.exec(t, "INSERT INTO "+live+".nopk VALUES (2, 'after', 3)")
	err := <-done
	var ddl *follow.DDLError
	if !errors.As(err, &ddl) || !errors.Is(err, follow.ErrSchemaChanged) {
		t.Fatalf("err = %v, want a DDLError", err)
	}
	if !strings.Contains(ddl.Statement, "ADD COLUMN c") || ddl.Schema != live {
		t.Errorf("DDLError names %q on %s, want the ALTER TABLE on %s", ddl.Statement, ddl.Schema, live)
	}
	var n int
	if err := s.db.QueryRow("SELECT COUNT(*) FROM " + next + ".nopk WHERE b = 'before'").Scan(&n); err != nil || n != 1 {
		t.Errorf("the row before the ALTER: %d, %v; want applied once", n, err)
	}
}

func TestMigratedTargetRefused(t *testing.T) {
	t.Parallel()
	s := server(t)
	f := newFollower(t, s)
	live, next := s.pair(t)
	start := s.head(t, f)
	s.exec(t, "ALTER TABLE "+next+".pk ADD COLUMN migrated INT NULL")
	until := start
	_, err := f.Run(context.Background(), follow.Request{Key: next, Schemas: map[string]string{live: next}, Start: start, Until: &until})
	if !errors.Is(err, follow.ErrSchemaChanged) || !strings.Contains(err.Error(), "pk.migrated") {
		t.Fatalf("err = %v, want the schemas differ naming pk.migrated", err)
	}
}

func TestNoPositionAndBadInput(t *testing.T) {
	t.Parallel()
	s := server(t)
	f := newFollower(t, s)
	err := f.Check(context.Background(), follow.Position{File: "binlog.000000", Pos: 4})
	if !errors.Is(err, follow.ErrPurged) || !strings.Contains(err.Error(), "binlog.000000") {
		t.Errorf("a position in no binary log: %v, want ErrPurged naming the file", err)
	}
	if _, err := follow.New("not a dsn", s.dsn); !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("bad DSN: %v", err)
	}
	if _, err := f.Run(context.Background(), follow.Request{}); !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("empty request: %v", err)
	}
}

// TestPurgedPosition purges the binary log a position is in: the error
// names the server and the file.
func TestPurgedPosition(t *testing.T) {
	s := server(t)
	f := newFollower(t, s)
	s.exec(t, "FLUSH BINARY LOGS")
	old := s.head(t, f)
	s.exec(t, "FLUSH BINARY LOGS")
	now := s.head(t, f)
	// Only files before old's are purged: a follower of another test that
	// started before stays unharmed, unless it is older than this test.
	s.exec(t, "PURGE BINARY LOGS TO '"+old.File+"'")
	if err := f.Check(context.Background(), old); err != nil {
		t.Fatalf("the position just before the purge point: %v", err)
	}
	// The server keeps a file that a reader still reads (another test's
	// follower, a killed child's mariadb-binlog until its next write):
	// purge until it goes, for a while.
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		s.exec(t, "PURGE BINARY LOGS TO '"+now.File+"'")
		err = f.Check(context.Background(), old)
		if err != nil || time.Now().After(deadline) {
			break
		}
	}
	if err == nil {
		var readers []string
		if rows, qerr := s.db.Query("SELECT CONCAT(ID, ' ', HOST, ' ', COALESCE(STATE, '')) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'"); qerr == nil {
			for rows.Next() {
				var r string
				_ = rows.Scan(&r)
				readers = append(readers, r)
			}
			rows.Close()
		}
		t.Fatalf("%s was not purged in 30 s; binary log readers: %v", old.File, readers)
	}
	if !errors.Is(err, follow.ErrPurged) || !strings.Contains(err.Error(), old.File) || !strings.Contains(err.Error(), f.Server()) {
		t.Fatalf("purged position: %v, want ErrPurged naming %s and the server", err, old.File)
	}
}

// TestKillResume kills a follower (a child process) with SIGKILL while it
// applies single-row transactions into a table without a primary key, then
// resumes: every row is there exactly once.
func TestKillResume(t *testing.T) {
	t.Parallel()
	s := server(t)
	f := newFollower(t, s)
	live, next := s.pair(t)
	start := s.head(t, f)
	const rows = 600
	for i := range rows {
		s.exec(t, "INSERT INTO "+live+".nopk VALUES (?, 'r')", i)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "FOLLOW_TEST_CHILD="+live+","+next+","+start.File+","+fmt.Sprint(start.Pos))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once it has applied some but not all.
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		_ = s.db.QueryRow("SELECT COUNT(*) FROM " + next + ".nopk").Scan(&n)
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the child follower applied nothing in a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	var before int
	_ = s.db.QueryRow("SELECT COUNT(*) FROM " + next + ".nopk").Scan(&before)
	until := s.head(t, f)
	if _, err := f.Run(context.Background(), follow.Request{Key: next, Schemas: map[string]string{live: next}, Start: start, Until: &until}); err != nil {
		t.Fatal(err)
	}
	var n, distinct int
	if err := s.db.QueryRow("SELECT COUNT(*), COUNT(DISTINCT a) FROM "+next+".nopk").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != rows || distinct != rows {
		t.Errorf("after kill -9 (with %d rows applied) and resume: %d rows, %d distinct; want %d once each", before, n, distinct, rows)
	}
	t.Logf("killed with %d of %d rows applied", before, rows)
}

// TestInterruptedRuns stops a follower (ctx ends, as on Ctrl-C) 30 times
// at random moments, starting, applying or waiting: each run ends without
// an error, and with a last run they apply every row exactly once.
func TestInterruptedRuns(t *testing.T) {
	t.Parallel()
	s := server(t)
	f := newFollower(t, s)
	live, next := s.pair(t)
	start := s.head(t, f)
	const rows = 3000
	for i := 0; i < rows; i += 10 {
		tx, err := s.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for j := i; j < i+10; j++ {
			if _, err := tx.Exec("INSERT INTO "+live+".nopk VALUES (?, 'r')", j); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	until := s.head(t, f)
	req := follow.Request{Key: next, Schemas: map[string]string{live: next}, Start: start, Interval: 10 * time.Millisecond}
	for run := range 30 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(20+rand.IntN(300))*time.Millisecond)
		_, err := f.Run(ctx, req)
		cancel()
		if err != nil {
			t.Fatalf("run %d, interrupted: %v; want it to stop without an error", run, err)
		}
	}
	// The rest, to the end.
	req.Until = &until
	if _, err := f.Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	var n, distinct int
	if err := s.db.QueryRow("SELECT COUNT(*), COUNT(DISTINCT a) FROM "+next+".nopk").Scan(&n, &distinct); err != nil || n != rows || distinct != rows {
		t.Errorf("after interrupted runs: %d rows, %d distinct (%v); want %d once each", n, distinct, err, rows)
	}
}

// TestMain runs, in a child process, the follower TestKillResume kills.
func TestMain(m *testing.M) {
	if spec := os.Getenv("FOLLOW_TEST_CHILD"); spec != "" {
		p := strings.Split(spec, ",")
		dsn, _ := termshift.LocalSetting("TERMSHIFT_BINLOG_MYSQL_DSN")
		f, err := follow.New(termshift.Secret(dsn), termshift.Secret(dsn))
		if err == nil {
			var pos int64
			fmt.Sscan(p[3], &pos)
			_, err = f.Run(context.Background(), follow.Request{Key: p[1], Schemas: map[string]string{p[0]: p[1]}, Start: follow.Position{File: p[2], Pos: pos}})
		}
		fmt.Fprintln(os.Stderr, "child follower:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
