package mysql

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

const resumeChildEnv = "TERMSHIFT_RESTORE_MYSQL_CHILD"

// resumeChild is the child process TestResume kills: it only runs when
// re-executed by the test with resumeChildEnv set.
type resumeChild struct {
	Dir, Path, From, To, Checkpoint string
	DSN                             string
}

func TestResumeChildProcess(t *testing.T) {
	raw := os.Getenv(resumeChildEnv)
	if raw == "" {
		t.Skip("helper process for TestResume")
	}
	var c resumeChild
	must(t, json.Unmarshal([]byte(raw), &c))
	_, err := (&Loader{DSN: termshift.Secret(c.DSN)}).Load(context.Background(), restore.Dir{Root: c.Dir}, c.Path, restore.Request{From: c.From, To: c.To, Threads: 2, Checkpoint: c.Checkpoint})
	if err != nil {
		t.Fatal(err)
	}
}

// TestResume kills a restore with SIGKILL once it has finished some tables,
// continues it with Resume, and proves the target equals the source: no row
// lost, none twice.
func TestResume(t *testing.T) {
	if os.Getenv(resumeChildEnv) != "" {
		t.Skip("in the helper process")
	}
	srv := localServer(t)
	source := srv.schema(t, "tsres_src")
	must(t, execAll(srv, "CREATE DATABASE "+termshift.QuoteMySQL(source)))
	const tables = 8
	for i := range tables {
		q := termshift.QuoteMySQL(source) + "." + termshift.QuoteMySQL(fmt.Sprintf("t%d", i))
		must(t, execAll(srv,
			"CREATE TABLE "+q+" (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, a VARCHAR(255), b INT, KEY b_idx (b)) ENGINE=InnoDB",
			"INSERT INTO "+q+" (a, b) SELECT REPEAT(MD5(seq), 6), seq % 1000 FROM "+termshift.QuoteMySQL(source)+".seq_1_to_40000"))
	}
	dir := t.TempDir()
	srv.mydumper(t, source, filepath.Join(dir, "md"), "--rows", "5000")
	srv.mysqldump(t, source, filepath.Join(dir, source+".sql"), false)

	for _, tc := range []struct{ name, path string }{
		{"mydumper", "md"},
		{"mysqldump", source + ".sql"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := srv.schema(t, "tsres_dst")
			cpFile := filepath.Join(t.TempDir(), "checkpoint.json")
			child, _ := json.Marshal(resumeChild{Dir: dir, Path: tc.path, From: source, To: target, Checkpoint: cpFile, DSN: srv.dsn.Reveal()})
			cmd := exec.Command(os.Args[0], "-test.run=^TestResumeChildProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), resumeChildEnv+"="+string(child))
			must(t, cmd.Start())
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			deadline := time.After(2 * time.Minute)
			done := 0
		poll:
			for {
				select {
				case err := <-exited:
					t.Fatalf("the restore ended (%v) before it could be killed; %d tables were done", err, done)
				case <-deadline:
					cmd.Process.Kill()
					t.Fatal("no table finished within 2 minutes")
				case <-time.After(2 * time.Millisecond):
				}
				cp, err := loadCheckpoint(cpFile)
				if err != nil || cp == nil {
					continue
				}
				if done = len(cp.Tables); done >= 1 && done < tables {
					must(t, cmd.Process.Signal(syscall.SIGKILL))
					<-exited
					break poll
				}
			}
			t.Logf("killed after %d of %d tables", done, tables)

			rep, err := (&Loader{DSN: srv.dsn}).Load(context.Background(), restore.Dir{Root: dir}, tc.path, restore.Request{From: source, To: target, Threads: 2, Checkpoint: cpFile, Resume: true})
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			skipped := 0
			for _, o := range rep.Objects {
				if o.Skipped {
					skipped++
				}
				if o.Expected != 40000 || o.Loaded != 40000 {
					t.Errorf("table %s: expected %d loaded %d, want 40000", o.Name, o.Expected, o.Loaded)
				}
			}
			if skipped < done || skipped == tables || len(rep.Objects) != tables {
				t.Errorf("resume skipped %d of %d tables, the killed run had finished %d", skipped, len(rep.Objects), done)
			}
			srv.assertSame(t, source, target)
		})
	}
}

func execAll(srv *testServer, stmts ...string) error {
	for _, q := range stmts {
		if _, err := srv.db.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}
