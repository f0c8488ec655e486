package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/follow"
)

func TestFollowBadInput(t *testing.T) {
	env := writeEnv(t, minimalEnv)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no --from", []string{"--env", env, "follow", "next"}, exitUsage, "--from LIVE is required"},
		{"bad interval", []string{"--env", env, "follow", "next", "--from", "current", "--interval", "0s"}, exitUsage, "--interval 0s"},
		{"bad settle", []string{"--env", env, "follow", "next", "--from", "current", "--settle", "-1m"}, exitUsage, "--settle -1m0s: want a positive duration"},
		{"unknown release", []string{"--env", env, "follow", "redwood", "--from", "current"}, exitNotFound, `release "redwood" is not defined`},
		{"into itself", []string{"--env", env, "follow", "next", "--from", "next"}, exitUsage, "into itself"},
		{"no MySQL server", []string{"--env", env, "follow", "next", "--from", "current"}, exitUsage, "follow needs servers.mysql"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) || stdout != "" {
				t.Errorf("exit %d, want %d; stderr %q, want it to contain %q; stdout %q", code, tc.code, stderr, tc.stderr, stdout)
			}
		})
	}
}

// `termshift follow` applies the live release's writes to next until it is
// interrupted, and says how far it got; run again, it resumes.
func TestFollowCommand(t *testing.T) {
	dsn := termshift.RequireLocalSetting(t, "TERMSHIFT_BINLOG_MYSQL_DSN")
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	name := randName(t, "fc", 8)
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	t.Cleanup(health.Close)
	env := writeEnv(t, fmt.Sprintf(`name: %s
naming: "{logical}_%s_{release}"
servers:
  mysql: {dsn: "${TERMSHIFT_BINLOG_MYSQL_DSN}"}
databases:
  mysql: [{name: edxapp}]
backup: {source: /nonexistent}
releases:
  - {name: current, version: "1.0", runner: external, health_url: "%s/heartbeat"}
  - {name: next, version: "1.0", runner: external, health_url: "%s/heartbeat"}
router: {listen: "127.0.0.1:%d"}
`, name, name, health.URL, health.URL, freePort(t)))
	cur, next := "edxapp_"+name+"_current", "edxapp_"+name+"_next"
	t.Cleanup(func() {
		for _, s := range []string{cur, next} {
			_, _ = db.Exec("DROP DATABASE IF EXISTS " + s)
		}
		_, _ = db.Exec("DELETE FROM "+follow.PositionSchema+".positions WHERE follower = ?", name+"/next")
		_, _ = db.Exec("DELETE FROM "+follow.PositionSchema+".touched WHERE follower = ?", name+"/next")
	})
	for _, r := range []string{"current", "next"} {
		if code, out, errs := cli(t, "--env", env, "carve", r); code != 0 {
			t.Fatalf("carve %s: exit %d\n%s\n%s", r, code, out, errs)
		}
	}
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE TABLE " + cur + ".log (learner VARCHAR(20), n INT)")
	exec("CREATE TABLE " + cur + ".quiet (id INT PRIMARY KEY)")
	exec("INSERT INTO " + cur + ".log VALUES ('a', 1)")
	if code, out, errs := cli(t, "--env", env, "sync", "next", "--from", "current"); code != 0 {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out, errs)
	}
	follow := func(until int) string {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var out, errb bytes.Buffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"--env", env, "follow", "next", "--from", "current", "--interval", "100ms"}, &out, &errb)
		}()
		deadline := time.Now().Add(time.Minute)
		for {
			var n int
			_ = db.QueryRow("SELECT COUNT(*) FROM " + next + ".log").Scan(&n)
			if n >= until {
				break
			}
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("next has %d rows after a minute, want %d\n%s", n, until, errb.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("follow: exit %d\n%s\n%s", code, out.String(), errb.String())
		}
		return out.String()
	}
	exec("INSERT INTO " + cur + ".log VALUES ('b', 2), ('c', 3)")
	if out := follow(3); !strings.Contains(out, "follow next <- current: started at") || !strings.Contains(out, "interrupted") {
		t.Errorf("follow said %q", out)
	}
	exec("INSERT INTO " + cur + ".log VALUES ('d', 4)")
	if out := follow(4); !strings.Contains(out, "resumed at") {
		t.Errorf("follow run again said %q, want resumed", out)
	}
	if code, out, _ := cli(t, "--env", env, "status"); code != 0 || !strings.Contains(out, "next: follow of current's MySQL binary log from") {
		t.Errorf("status: exit %d, does not show the follower:\n%s", code, out)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + next + ".log").Scan(&n); err != nil || n != 4 {
		t.Errorf("next has %d rows (%v), want 4: each once", n, err)
	}
	// The final sync catches up and its report says which tables its
	// proof read and which it did not need to.
	exec("INSERT INTO " + cur + ".log VALUES ('e', 5)")
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan int, 1)
	go func() { served <- run(sctx, []string{"--env", env, "serve"}, io.Discard, io.Discard) }()
	defer func() {
		stop()
		<-served
	}()
	for _, args := range [][]string{{"deploy", "current"}, {"cutover", "current", "--skip-verify", "--reason", "test"}, {"deploy", "next"}} {
		if code, out, errs := cli(t, append([]string{"--env", env}, args...)...); code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errs)
		}
	}
	code, out, errs := cli(t, "--env", env, "cutover", "next", "--final-sync", "--skip-verify", "--reason", "test")
	if code != 0 {
		t.Fatalf("cutover --final-sync: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"1 table changed since the data was proven read on both sides, 1 unchanged", "1 of 2 tables not read: no event on either side since the sync from current"} {
		if !strings.Contains(out, want) {
			t.Errorf("cutover --final-sync said:\n%s\nwant %q", out, want)
		}
	}
	if !regexp.MustCompile(`(?m)^\s*quiet\s+0\s+0\s+unchanged\s+ok\s*$`).MatchString(out) {
		t.Errorf("cutover --final-sync said:\n%s\nwant quiet shown unchanged", out)
	}
}
