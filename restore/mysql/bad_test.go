package mysql

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// TestBadInput feeds broken backups and checks the error names what is
// wrong and where, and that nothing outside the target was created.
func TestBadInput(t *testing.T) {
	srv := localServer(t)
	source := srv.schema(t, "tsbad_src")
	srv.makeSource(t, source)
	dir := t.TempDir()
	srv.mydumper(t, source, filepath.Join(dir, "good"), "--rows", "50")
	srv.mysqldump(t, source, filepath.Join(dir, "good.sql.gz"), true, "--databases")
	gz, err := os.ReadFile(filepath.Join(dir, "good.sql.gz"))
	if err != nil {
		t.Fatal(err)
	}

	// a truncated gzip dump
	must(t, os.WriteFile(filepath.Join(dir, "truncated.sql.gz"), gz[:len(gz)*2/3], 0o644))
	// a corrupted gzip dump: flipped bytes in the middle of the stream
	corrupt := append([]byte(nil), gz...)
	for i := len(corrupt) / 2; i < len(corrupt)/2+64; i++ {
		corrupt[i] ^= 0x5a
	}
	must(t, os.WriteFile(filepath.Join(dir, "corrupt.sql.gz"), corrupt, 0o644))
	// an unterminated string at the end of a dump
	must(t, os.WriteFile(filepath.Join(dir, source+".sql"), []byte("CREATE TABLE t (a TEXT);\nINSERT INTO t VALUES ('one'),\n('unterminated;\n"), 0o644))
	// a mydumper directory with a chunk missing
	copyDir(t, filepath.Join(dir, "good"), filepath.Join(dir, "missing-chunk"))
	must(t, os.Remove(filepath.Join(dir, "missing-chunk", source+".alltypes.00000.sql")))
	// a mydumper directory whose data file has no schema file
	copyDir(t, filepath.Join(dir, "good"), filepath.Join(dir, "no-schema"))
	must(t, os.Remove(filepath.Join(dir, "no-schema", source+".nopk-schema.sql")))
	// a data file that tries to write into another schema
	copyDir(t, filepath.Join(dir, "good"), filepath.Join(dir, "escape"))
	must(t, os.WriteFile(filepath.Join(dir, "escape", source+".nopk.sql"), []byte("INSERT INTO `mysql`.`nopk` VALUES (1,\"x\");\n"), 0o644))

	// one INSERT larger than the server's max_allowed_packet
	var maxPacket int64
	must(t, srv.db.QueryRow("SELECT @@max_allowed_packet").Scan(&maxPacket))
	big := "CREATE TABLE t (a LONGTEXT);\nINSERT INTO t VALUES ('" + strings.Repeat("x", int(maxPacket)) + "');\n"
	must(t, os.WriteFile(filepath.Join(dir, "big_src.sql"), []byte(big), 0o644))
	// a duplicate key inside an INSERT large enough to load with LOAD DATA
	// LOCAL INFILE, where the server only warns and skips the row
	var dup strings.Builder
	dup.WriteString("CREATE TABLE t (id INT PRIMARY KEY, v TEXT);\nINSERT INTO t VALUES ")
	for i := range 300 {
		fmt.Fprintf(&dup, "(%d,'%s'),", i%299, strings.Repeat("v", 1000))
	}
	dup.WriteString("(1000,'last');\n")
	must(t, os.WriteFile(filepath.Join(dir, "dup_src.sql"), []byte(dup.String()), 0o644))

	for _, tc := range []struct {
		name, path, from string
		is               error
		says             []string
	}{
		{"truncated gzip", "truncated.sql.gz", source, termshift.ErrInvalid, []string{"truncated.sql.gz", "gzip"}},
		{"corrupt gzip", "corrupt.sql.gz", source, termshift.ErrInvalid, []string{"corrupt.sql.gz", "gzip"}},
		{"unterminated string", source + ".sql", source, termshift.ErrInvalid, []string{source + ".sql", "unterminated 'string' starting at line 3"}},
		{"missing chunk", "missing-chunk", source, termshift.ErrNotFound, []string{source + ".alltypes.00000.sql", "missing"}},
		{"data without schema", "no-schema", source, termshift.ErrNotFound, []string{"nopk", "schema file"}},
		{"write outside the schema", "escape", source, termshift.ErrInvalid, []string{source + ".nopk.sql line 1", "`mysql`", "outside"}},
		{"schema not in mydumper backup", "good", "tsbad_other", termshift.ErrNotFound, []string{"tsbad_other", "not in the mydumper backup"}},
		{"schema not in dump", "good.sql.gz", "tsbad_other", termshift.ErrNotFound, []string{"tsbad_other", "not in the dump"}},
		{"invalid source name", "good", "bad`name", termshift.ErrInvalid, []string{"source schema"}},
		{"duplicate key where LOAD DATA only warns", "dup_src.sql", "dup_src", termshift.ErrInvalid, []string{"dup_src.sql line 2", "Duplicate entry"}},
		{"statement over max_allowed_packet", "big_src.sql", "big_src", termshift.ErrInvalid, []string{"big_src.sql line 2", "max_allowed_packet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := srv.schema(t, "tsbad_dst")
			before := srv.schemas(t)
			_, err := (&Loader{DSN: srv.dsn}).Load(context.Background(), restore.Dir{Root: dir}, tc.path, restore.Request{From: tc.from, To: target, Threads: 2})
			if err == nil {
				t.Fatal("Restore succeeded")
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			for _, s := range tc.says {
				s = strings.ReplaceAll(s, "`mysql`", termshift.Quote("mysql"))
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			// Nothing outside the target: the source name was not created, the
			// source was not changed, no table appeared in mysql.
			if after := srv.schemas(t); after[tc.from] != before[tc.from] {
				t.Errorf("schema %s was created", tc.from)
			}
			var n int
			must(t, srv.db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'nopk'").Scan(&n))
			if n != 0 {
				t.Errorf("a table was created in the mysql schema")
			}
		})
	}

	t.Run("refuses a checkpoint of another restore", func(t *testing.T) {
		target := srv.schema(t, "tsbad_cp")
		cp := filepath.Join(t.TempDir(), "cp.json")
		must(t, os.WriteFile(cp, []byte(`{"format":"mydumper","source":"`+dir+`","path":"good","from":"someone_else","to":"`+target+`"}`), 0o600))
		_, err := (&Loader{DSN: srv.dsn}).Load(context.Background(), restore.Dir{Root: dir}, "good", restore.Request{From: source, To: target, Resume: true, Checkpoint: cp})
		if !errors.Is(err, termshift.ErrInvalid) || !strings.Contains(err.Error(), "not this restore") {
			t.Fatalf("Restore with a foreign checkpoint: %v, want ErrInvalid", err)
		}
	})

	t.Run("refuses a target holding tables", func(t *testing.T) {
		target := srv.schema(t, "tsbad_full")
		_, err := srv.db.Exec("CREATE DATABASE " + termshift.QuoteMySQL(target))
		must(t, err)
		_, err = srv.db.Exec("CREATE TABLE " + termshift.QuoteMySQL(target) + ".keep (a INT)")
		must(t, err)
		_, err = (&Loader{DSN: srv.dsn}).Load(context.Background(), restore.Dir{Root: dir}, "good", restore.Request{From: source, To: target})
		if !errors.Is(err, termshift.ErrRefused) {
			t.Fatalf("Restore into a full schema: %v, want ErrRefused", err)
		}
		// DropExisting empties it first
		rep, err := (&Loader{DSN: srv.dsn}).Load(context.Background(), restore.Dir{Root: dir}, "good", restore.Request{From: source, To: target, DropExisting: true})
		if err != nil || !rep.OK() {
			t.Fatalf("Restore with DropExisting: %v", err)
		}
		srv.assertSame(t, source, target)
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (s *testServer) schemas(t *testing.T) map[string]bool {
	t.Helper()
	rows, err := s.db.Query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
	must(t, err)
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		must(t, rows.Scan(&n))
		out[n] = true
	}
	return out
}

// A dump's CREATE DATABASE carries the source's schema options, and on
// MariaDB maybe its COMMENT (the source's termshift owner marker): the
// target gets the character set and collation, and keeps its own comment.
func TestSchemaOptionsKeepTheTargetsComment(t *testing.T) {
	srv := localServer(t)
	target := srv.schema(t, "tscomment")
	must(t, exec1(srv, "CREATE DATABASE "+termshift.QuoteMySQL(target)+" CHARACTER SET latin1 COMMENT 'termshift owner=qa/next'"))
	dir := t.TempDir()
	dump := "-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n" +
		"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `src` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci */ COMMENT 'termshift owner=prod/live';\n" +
		"USE `src`;\nCREATE TABLE t (a INT PRIMARY KEY);\nINSERT INTO t VALUES (1),(2);\n-- Dump completed on 2026-11-20  2:00:01\n"
	must(t, os.WriteFile(filepath.Join(dir, "src.sql"), []byte(dump), 0o644))
	rep, err := (&Loader{DSN: srv.dsn}).Load(t.Context(), restore.Dir{Root: dir}, "src.sql", restore.Request{From: "src", To: target})
	if err != nil || !rep.OK() {
		t.Fatalf("restore: %v (%+v)", err, rep)
	}
	var comment, charset, collation string
	must(t, srv.db.QueryRow("SELECT SCHEMA_COMMENT, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", target).Scan(&comment, &charset, &collation))
	if comment != "termshift owner=qa/next" || charset != "utf8mb4" || collation != "utf8mb4_unicode_ci" {
		t.Errorf("target schema: comment %q, charset %s, collation %s; want its own comment and the dump's charset", comment, charset, collation)
	}
	if got := schemaOptions(" /*!40100 DEFAULT CHARACTER SET = latin1 */ COMMENT='x'"); got != "CHARACTER SET latin1" {
		t.Errorf("schemaOptions = %q", got)
	}
}

func exec1(s *testServer, q string) error {
	_, err := s.db.Exec(q)
	return err
}
