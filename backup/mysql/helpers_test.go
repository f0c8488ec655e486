package mysql_test

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

	"github.com/termshift/termshift"
)

// server is the local MariaDB the tests back up from and load into.
type server struct {
	dsn termshift.Secret
	cfg *driver.Config
	db  *sql.DB
}

func localServer(t *testing.T) *server {
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
	return &server{dsn: termshift.Secret(dsn), cfg: cfg, db: db}
}

// schema returns a unique schema name, dropped when the test ends.
func (s *server) schema(t *testing.T, prefix string) string {
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

func (s *server) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := s.db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (make services installs mydumper and the mariadb client)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// run runs one of the real tools with the server's connection flags.
func (s *server) run(t *testing.T, stdin []byte, tool string, args ...string) []byte {
	t.Helper()
	host, port, _ := strings.Cut(s.cfg.Addr, ":")
	conn := []string{"-h", host, "-u", s.cfg.User}
	if port != "" {
		conn = append(conn, "-P", port)
	}
	if tool == "mydumper" && s.cfg.Passwd != "" {
		conn = append(conn, "-p", s.cfg.Passwd)
	}
	cmd := exec.Command(requireTool(t, tool), append(conn, args...)...)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+s.cfg.Passwd)
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

// makeSource creates a schema from restore/mysql's round-trip source: every
// column type, a generated column, foreign keys both ways, a view, a
// trigger, routines, reserved and odd names.
func (s *server) makeSource(t *testing.T, name string) {
	t.Helper()
	text, err := os.ReadFile("../../restore/mysql/testdata/source.sql")
	if err != nil {
		t.Fatal(err)
	}
	text = bytes.ReplaceAll(text, []byte("termshift_src"), []byte(name))
	s.exec(t, "CREATE DATABASE "+termshift.QuoteMySQL(name)+" DEFAULT CHARACTER SET utf8mb4")
	s.run(t, text, "mariadb", name)
}

// content is what a copy of a schema must reproduce, schema names taken
// out: table definitions, AUTO_INCREMENT, rows, CHECKSUM TABLE (where it is
// sound), views, triggers, routines.
type content struct {
	Tables   map[string]string
	Rows     map[string]string
	Checksum map[string]string
	Views    map[string]string
	Triggers []string
	Routines []string
}

func (s *server) content(t *testing.T, schema string) content {
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
		t.Helper()
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
	got := content{Tables: map[string]string{}, Rows: map[string]string{}, Checksum: map[string]string{}, Views: map[string]string{}}
	for _, r := range strs("SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", schema) {
		name := r[0][1:]
		if r[1] == "=VIEW" {
			v := strs("SELECT VIEW_DEFINITION, CHECK_OPTION, SECURITY_TYPE FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", schema, name)
			got.Views[name] = anon(strings.Join(v[0], "|"))
			continue
		}
		create := strs("SHOW CREATE TABLE " + q + "." + termshift.QuoteMySQL(name))[0][1]
		got.Tables[name] = create
		// MariaDB's CHECKSUM TABLE can differ for identical rows of a table
		// with a generated column: compare those by their rows alone.
		if !strings.Contains(create, " GENERATED ALWAYS ") {
			got.Checksum[name] = strs("CHECKSUM TABLE " + q + "." + termshift.QuoteMySQL(name))[0][1]
		}
		rows := strs("SELECT * FROM " + q + "." + termshift.QuoteMySQL(name))
		lines := make([]string, len(rows))
		for i, row := range rows {
			lines[i] = strings.Join(row, "\x00|")
		}
		sort.Strings(lines)
		h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
		got.Rows[name] = fmt.Sprintf("%d rows %x", len(rows), h[:8])
	}
	for _, r := range strs("SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME", schema) {
		got.Triggers = append(got.Triggers, anon(strings.Join(r, "|")))
	}
	for _, r := range strs("SELECT ROUTINE_NAME, ROUTINE_TYPE, DTD_IDENTIFIER, ROUTINE_DEFINITION, IS_DETERMINISTIC FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_NAME", schema) {
		got.Routines = append(got.Routines, anon(strings.Join(r, "|")))
	}
	return got
}
