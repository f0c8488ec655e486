package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
	"github.com/termshift/termshift/restore"
)

// backupSource is a schema of n rows, dropped when the test ends.
func backupSource(t *testing.T, n int) (*sql.DB, string) {
	t.Helper()
	dsn := termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN")
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	name := randName(t, "bkcli_", 8)
	t.Cleanup(func() { _, _ = db.Exec("DROP DATABASE IF EXISTS " + termshift.QuoteMySQL(name)) })
	q := termshift.QuoteMySQL(name)
	for _, stmt := range []string{
		"CREATE DATABASE " + q,
		"CREATE TABLE " + q + ".t (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(200))",
		fmt.Sprintf("INSERT INTO %s.t (body) SELECT CONCAT('row ', seq, ' ', REPEAT(MD5(seq), 5)) FROM %s.seq_1_to_%d", q, q, n),
		"CREATE TABLE " + q + ".small (k VARCHAR(10) PRIMARY KEY)",
		"INSERT INTO " + q + ".small VALUES ('a'), ('b')",
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return db, name
}

// A snapshot termshift wrote and a file of it changed afterwards: restore
// refuses it before touching the target, naming the file.
func TestRestoreRefusesAnAlteredBackup(t *testing.T) {
	db, src := backupSource(t, 2000)
	dir := t.TempDir()
	code, out, errs := cli(t, "--env", filepath.Join(dir, "none.yaml"), "backup", "mysql", "--dsn", "$TERMSHIFT_MYSQL_DSN", "--schema", src,
		"--to", dir, "--id", "good", "--chunk-rows", "500", "--compress", "none")
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s\n%s", code, out, errs)
	}
	data := src + ".t.00001.sql"
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, root string)
		code  int
		says  string
	}{
		{"truncated", func(t *testing.T, root string) {
			p := filepath.Join(root, "mysql", data)
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, exitUsage, data + " holds"},
		{"one byte altered", func(t *testing.T, root string) {
			p := filepath.Join(root, "mysql", data)
			b, _ := os.ReadFile(p)
			i := strings.Index(string(b), "row ")
			b[i] = 'R'
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, exitUsage, data + ": sha256"},
		{"deleted", func(t *testing.T, root string) {
			if err := os.Remove(filepath.Join(root, "mysql", data)); err != nil {
				t.Fatal(err)
			}
		}, exitNotFound, data},
		{"added", func(t *testing.T, root string) {
			if err := os.WriteFile(filepath.Join(root, "mysql", src+".t.00099.sql"), []byte("INSERT INTO `t` VALUES (1,'x');\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, exitUsage, src + ".t.00099.sql is in the snapshot but not in manifest.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "snap")
			if err := os.CopyFS(root, os.DirFS(filepath.Join(dir, "good"))); err != nil {
				t.Fatal(err)
			}
			tc.spoil(t, root)
			target := randName(t, "bkcli_dst_", 6)
			t.Cleanup(func() { _, _ = db.Exec("DROP DATABASE IF EXISTS " + termshift.QuoteMySQL(target)) })
			code, _, errs := cli(t, "--env", filepath.Join(dir, "none.yaml"), "restore", "mysql", "--source", root, "--from", src, "--to", target, "--dsn", "$TERMSHIFT_MYSQL_DSN")
			if code != tc.code || !strings.Contains(errs, tc.says) {
				t.Errorf("restore of a backup with a file %s: exit %d, %s; want exit %d naming %q", tc.name, code, errs, tc.code, tc.says)
			}
			var n int
			if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", target).Scan(&n); err != nil || n != 0 {
				t.Errorf("the refused restore created the target (%d, %v)", n, err)
			}
		})
	}
}

// kill -9 during a backup leaves a snapshot without a manifest: listed as
// partial, never picked as the newest; the same command again clears it
// and writes it whole.
func TestKilledBackupIsNeverComplete(t *testing.T) {
	_, src := backupSource(t, 300_000)
	dir := t.TempDir()
	bin := filepath.Join(dir, "termshift")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	backups := filepath.Join(dir, "backups")
	env := writeEnv(t, minimalEnv+"backup: {source: "+backups+"}\n")
	args := []string{"--env", env, "backup", "mysql", "--dsn", "$TERMSHIFT_MYSQL_DSN", "--schema", src, "--to", backups, "--id", "2026-11-21T02:00:00Z",
		"--threads", "1", "--chunk-rows", "10000", "--compress", "gzip"}
	// A complete, older snapshot: what restore must pick instead.
	older := []string{"--env", env, "backup", "mysql", "--dsn", "$TERMSHIFT_MYSQL_DSN", "--schema", src, "--to", backups, "--id", "2026-11-20T02:00:00Z", "--compress", "none"}
	if code, out, errs := cli(t, older...); code != 0 {
		t.Fatalf("older backup: exit %d\n%s\n%s", code, out, errs)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TERMSHIFT_MYSQL_DSN="+termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(backups, "2026-11-21T02:00:00Z")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		files, _ := filepath.Glob(filepath.Join(snap, "mysql", src+".t.*.sql.gz"))
		if len(files) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the backup wrote no data file in 2 minutes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if _, err := os.Stat(filepath.Join(snap, restore.ManifestName)); err == nil {
		t.Fatalf("the killed backup wrote its manifest: kill it earlier")
	}

	code, out, errs := cli(t, "--env", env, "backups", "list", "--json")
	if code != 0 {
		t.Fatalf("backups list: exit %d %s", code, errs)
	}
	var snaps []restore.Snapshot
	if err := json.Unmarshal([]byte(out), &snaps); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range snaps {
		got[s.ID] = fmt.Sprintf("manifest %v partial %v", s.Manifest, s.Partial)
	}
	if got["2026-11-21T02:00:00Z"] != "manifest false partial true" || got["2026-11-20T02:00:00Z"] != "manifest true partial false" {
		t.Errorf("backups list: %v; want the killed one partial, the older complete", got)
	}
	if _, text, _ := cli(t, "--env", env, "backups", "list"); !strings.Contains(text, "PARTIAL") {
		t.Errorf("backups list does not say PARTIAL:\n%s", text)
	}
	// restore and upgrade take the newest complete snapshot, not the partial one.
	src2, chosen, err := restore.OpenSnapshot(t.Context(), restore.Dir{Root: backups}, "")
	if err != nil || chosen.ID != "2026-11-20T02:00:00Z" || src2 == nil {
		t.Errorf("newest snapshot picked: %+v, %v; want the complete 2026-11-20T02:00:00Z", chosen, err)
	}

	// The same command again starts clean and finishes.
	code, out, errs = cli(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("backup again: exit %d\n%s\n%s", code, out, errs)
	}
	var rep backup.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Cleared {
		t.Errorf("the re-run did not report clearing the partial snapshot")
	}
	m, err := restore.ReadManifest(t.Context(), restore.Dir{Root: snap})
	if err != nil || m == nil {
		t.Fatalf("manifest after the re-run: %v, %v", m, err)
	}
	if _, err := os.Stat(filepath.Join(snap, restore.PartialMarker)); err == nil {
		t.Errorf("the finished snapshot still holds %s", restore.PartialMarker)
	}
	if c := m.Counts(termshift.MySQL, src)["t"]; c != 300_000 {
		t.Errorf("manifest counts %d rows of t, want 300000", c)
	}
	// A complete snapshot is never overwritten.
	if code, _, errs := cli(t, args...); code != exitRefused || !strings.Contains(errs, "already holds a complete snapshot") {
		t.Errorf("backup over a complete snapshot: exit %d, %s; want refused", code, errs)
	}
}
