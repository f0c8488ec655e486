package mysql

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	driver "github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"

	"github.com/termshift/termshift"
)

// testServer is the local MariaDB/MySQL the tests load into.
type testServer struct {
	dsn termshift.Secret
	cfg *driver.Config
	db  *sql.DB
}

func localServer(t *testing.T) *testServer {
	t.Helper()
	dsn := termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN")
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse TERMSHIFT_MYSQL_DSN: %v", err)
	}
	c := cfg.Clone()
	c.DBName = ""
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatalf("mysql %s: %v", cfg.Addr, err)
	}
	return &testServer{dsn: termshift.Secret(dsn), cfg: cfg, db: db}
}

// schema returns a unique schema name dropped when the test ends.
func (s *testServer) schema(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := prefix + "_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if _, err := s.db.Exec("DROP DATABASE IF EXISTS " + termshift.QuoteMySQL(name)); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return name
}

func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (apt-get install mydumper mariadb-client)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// clientArgs are the connection flags of the real command-line tools.
func (s *testServer) clientArgs() ([]string, []string) {
	host, port, _ := strings.Cut(s.cfg.Addr, ":")
	args := []string{"-h", host, "-u", s.cfg.User}
	if port != "" {
		args = append(args, "-P", port)
	}
	env := append(os.Environ(), "MYSQL_PWD="+s.cfg.Passwd)
	return args, env
}

func (s *testServer) run(t *testing.T, stdin []byte, tool string, args ...string) []byte {
	t.Helper()
	conn, env := s.clientArgs()
	if tool == "mydumper" {
		conn = append(conn, "-p", s.cfg.Passwd)
		if s.cfg.Passwd == "" {
			conn = conn[:len(conn)-2]
		}
	}
	cmd := exec.Command(requireTool(t, tool), append(conn, args...)...)
	cmd.Env = env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// makeSource creates a schema from testdata/source.sql with the mariadb
// client, the real tool.
func (s *testServer) makeSource(t *testing.T, name string) {
	t.Helper()
	sqlText, err := os.ReadFile("testdata/source.sql")
	if err != nil {
		t.Fatal(err)
	}
	sqlText = bytes.ReplaceAll(sqlText, []byte("termshift_src"), []byte(name))
	s.run(t, nil, "mariadb", "-e", "CREATE DATABASE "+termshift.QuoteMySQL(name))
	s.run(t, sqlText, "mariadb", name)
}

// dumps writes the source with the real tools in every format.
func (s *testServer) mydumper(t *testing.T, schema, dir string, extra ...string) {
	t.Helper()
	args := append([]string{"-B", schema, "-o", dir, "-G", "-E", "-R", "-t", "2"}, extra...)
	s.run(t, nil, "mydumper", args...)
}

func (s *testServer) mysqldump(t *testing.T, schema, file string, gz bool, extra ...string) {
	t.Helper()
	args := append([]string{"--routines", "--triggers", "--events"}, extra...)
	args = append(args, schema)
	out := s.run(t, nil, "mariadb-dump", args...)
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(out)
		zw.Close()
		out = b.Bytes()
	}
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshot is everything a restore must reproduce, with schema names
// taken out.
type snapshot struct {
	Tables   map[string]string // SHOW CREATE TABLE (AUTO_INCREMENT included)
	AutoInc  map[string]string
	Rows     map[string]string // hash of the sorted rows
	Checksum map[string]string
	Views    map[string]string
	Triggers []string
	Routines []string
}

func (s *testServer) snapshot(t *testing.T, schema string) snapshot {
	t.Helper()
	ctx := context.Background()
	c, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := termshift.QuoteMySQL(schema)
	anon := func(v string) string { return strings.ReplaceAll(v, schema, "SCHEMA") }
	strs := func(query string, args ...any) [][]string {
		rows, err := c.QueryContext(ctx, query, args...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]string
		for rows.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			row := make([]string, len(cols))
			for i, v := range vals {
				if v == nil {
					row[i] = "NULL"
				} else {
					row[i] = "=" + string(v)
				}
			}
			out = append(out, row)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	sn := snapshot{Tables: map[string]string{}, AutoInc: map[string]string{}, Rows: map[string]string{}, Checksum: map[string]string{}, Views: map[string]string{}}
	for _, r := range strs("SELECT TABLE_NAME, TABLE_TYPE, COALESCE(AUTO_INCREMENT, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", schema) {
		name := r[0][1:]
		if r[1] == "=VIEW" {
			v := strs("SELECT VIEW_DEFINITION, CHECK_OPTION, SECURITY_TYPE FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", schema, name)
			sn.Views[name] = anon(strings.Join(v[0], "|"))
			continue
		}
		sn.AutoInc[name] = r[2]
		sn.Tables[name] = strs("SHOW CREATE TABLE " + q + "." + termshift.QuoteMySQL(name))[0][1]
		sn.Checksum[name] = strs("CHECKSUM TABLE " + q + "." + termshift.QuoteMySQL(name))[0][1]
		rows := strs("SELECT * FROM " + q + "." + termshift.QuoteMySQL(name))
		lines := make([]string, len(rows))
		for i, row := range rows {
			lines[i] = strings.Join(row, "\x00|")
		}
		sort.Strings(lines)
		h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
		sn.Rows[name] = fmt.Sprintf("%d rows %x", len(rows), h[:8])
	}
	for _, r := range strs("SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, ACTION_STATEMENT, SQL_MODE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME", schema) {
		sn.Triggers = append(sn.Triggers, anon(strings.Join(r, "|")))
	}
	for _, r := range strs("SELECT ROUTINE_NAME, ROUTINE_TYPE, DTD_IDENTIFIER, ROUTINE_DEFINITION, IS_DETERMINISTIC, SQL_MODE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_NAME", schema) {
		sn.Routines = append(sn.Routines, anon(strings.Join(r, "|")))
	}
	return sn
}

// assertSame proves the target equals the source.
func (s *testServer) assertSame(t *testing.T, source, target string) {
	t.Helper()
	want := s.snapshot(t, source)
	got := s.snapshot(t, target)
	if len(want.Tables) == 0 {
		t.Fatalf("source %s has no tables", source)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("target %s differs from source %s (-got +want):\n%s", target, source, diff)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}
