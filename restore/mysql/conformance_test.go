package mysql

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore/restoretest"
)

var _ restoretest.Loader = (*Loader)(nil)

// mysqlTarget is restoretest's view of the local server: schemas carved
// as tenancy does on servers without schema comments, with a marker table.
type mysqlTarget struct{ srv *testServer }

func (m mysqlTarget) New(t *testing.T) string {
	t.Helper()
	name := m.srv.schema(t, "tsconf")
	must(t, execAll(m.srv, "CREATE DATABASE "+termshift.QuoteMySQL(name),
		"CREATE TABLE "+termshift.QuoteMySQL(name)+"."+MarkerTable+" (environment VARCHAR(64), release_name VARCHAR(64))",
		"INSERT INTO "+termshift.QuoteMySQL(name)+"."+MarkerTable+" VALUES ('test', 'conformance')"))
	return name
}

func (m mysqlTarget) Contents(t *testing.T, ns string) map[string]int64 {
	t.Helper()
	s := &server{db: m.srv.db, addr: m.srv.cfg.Addr}
	rows, err := tableRows(t.Context(), s, ns)
	must(t, err)
	return rows
}

func (m mysqlTarget) Occupy(t *testing.T, ns string) string {
	t.Helper()
	q := termshift.QuoteMySQL(ns) + ".occupant"
	must(t, execAll(m.srv, "CREATE TABLE "+q+" (a INT)", "INSERT INTO "+q+" VALUES (1)"))
	return "occupant"
}

func (m mysqlTarget) HasMarker(t *testing.T, ns string) bool {
	t.Helper()
	var n int
	must(t, m.srv.db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", ns, MarkerTable).Scan(&n))
	return n == 1
}

// fixtureRows are the rows of testdata/source.sql's tables.
var fixtureRows = map[string]int64{"alltypes": 124, "audit": 1, "child": 5, "empty_table": 0,
	"nopk": 3, "order": 2, "parent": 3, "we-ird$name": 3}

func TestConformance(t *testing.T) {
	srv := localServer(t)
	target := mysqlTarget{srv}
	dir := t.TempDir()
	copyDir(t, "testdata", dir)
	// A mydumper directory without its metadata, a dump cut short at a
	// statement boundary, and bad input.
	copyDir(t, filepath.Join(dir, "mydumper"), filepath.Join(dir, "no-metadata"))
	must(t, os.Remove(filepath.Join(dir, "no-metadata", "metadata")))
	dump, err := os.ReadFile(filepath.Join(dir, "mysqldump", "termshift_src.sql"))
	must(t, err)
	cut := dump[:bytes.LastIndex(dump[:len(dump)*3/5], []byte(";\n"))+2]
	must(t, os.MkdirAll(filepath.Join(dir, "cut"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "cut", "termshift_src.sql"), cut, 0o644))
	copyDir(t, filepath.Join(dir, "mydumper"), filepath.Join(dir, "escape"))
	must(t, os.WriteFile(filepath.Join(dir, "escape", "termshift_src.nopk.sql"), []byte("INSERT INTO `mysql`.`nopk` VALUES (1,\"x\");\n"), 0o644))
	copyDir(t, filepath.Join(dir, "mydumper"), filepath.Join(dir, "missing-chunk"))
	must(t, os.Remove(filepath.Join(dir, "missing-chunk", "termshift_src.alltypes.00000.sql")))
	must(t, os.WriteFile(filepath.Join(dir, "unterminated.sql"), []byte("CREATE TABLE t (a TEXT);\nINSERT INTO t VALUES ('one'),\n('unterminated;\n"), 0o644))

	fixture := func(path string, proven bool) restoretest.Fixture {
		return restoretest.Fixture{Dir: dir, Path: path, From: "termshift_src", Service: termshift.MySQL, Database: "termshift_src", Objects: fixtureRows, Proven: proven}
	}
	bad := []restoretest.Bad{
		{Name: "write outside the schema", Fixture: fixture("escape", true), Is: termshift.ErrInvalid, Says: "termshift_src.nopk.sql line 1"},
		{Name: "missing chunk", Fixture: fixture("missing-chunk", true), Is: termshift.ErrNotFound, Says: "termshift_src.alltypes.00000.sql"},
		{Name: "unterminated string", Fixture: fixture("unterminated.sql", false), Is: termshift.ErrInvalid, Says: "unterminated.sql: unterminated 'string' starting at line 3"},
	}
	l := &Loader{DSN: srv.dsn}
	t.Run("mydumper", func(t *testing.T) {
		restoretest.Run(t, l, restoretest.Options{Target: target, Good: fixture("mydumper", true),
			Incomplete: fixture("no-metadata", false), Bad: bad, Resume: restoretest.ResumeContinue, Threads: 2})
	})
	t.Run("mysqldump", func(t *testing.T) {
		restoretest.Run(t, l, restoretest.Options{Target: target, Good: fixture("mysqldump/termshift_src.sql", true),
			Incomplete: fixture("cut/termshift_src.sql", false), Bad: bad, Resume: restoretest.ResumeContinue, Threads: 2})
	})
}
