package rollout_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/follow"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/tenancy/tenancytest"
)

// followWorld is two releases on the MariaDB with a row binary log:
// current live with a table with a primary key and one without, next
// carved and synced from it.
type followWorld struct {
	t         testing.TB
	o         *rollout.Orchestrator
	env       *envfile.Environment
	router    string
	db        *sql.DB
	cur, next string // their edxapp schemas
	// settle is the follower's SettleEvery (0: its default); snapshot
	// its --snapshot ("": the one its data came from).
	settle   time.Duration
	snapshot string
}

// worldOptions: Rows of the bench table added to current; Apps: each
// release answers POST /api/writes by inserting the write's id into its
// demo_writes table (the load generator's target through the router);
// Hot: in the same transaction, it updates a random row of the bench
// table (a learner's state), so the big table changes while followed.
type worldOptions struct {
	Rows   int
	Apps   bool
	NoSync bool
	Hot    bool
}

func newFollowWorld(t testing.TB, opts ...worldOptions) *followWorld {
	t.Helper()
	var opt worldOptions
	if len(opts) > 0 {
		opt = opts[0]
	}
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
	router, dir := freeAddr(t), t.TempDir()
	name := "f" + strings.ReplaceAll(tenancytest.Release(t), "-", "")
	w := &followWorld{t: t, router: router, db: db}
	apps := map[string]*httptest.Server{}
	for _, r := range []string{"current", "next"} {
		apps[r] = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
			if req.Method != http.MethodPost || !opt.Apps {
				fmt.Fprintf(rw, `{"release":%q}`, r)
				return
			}
			var body struct{ ID string }
			if err := json.NewDecoder(req.Body).Decode(&body); err != nil || body.ID == "" {
				http.Error(rw, "want {\"id\": ID}", http.StatusBadRequest)
				return
			}
			schema := w.cur
			if r == "next" {
				schema = w.next
			}
			tx, err := db.BeginTx(req.Context(), nil)
			if err == nil {
				_, err = tx.ExecContext(req.Context(), "INSERT INTO "+schema+".demo_writes (id) VALUES (?)", body.ID)
			}
			if err == nil && opt.Hot && opt.Rows > 0 {
				_, err = tx.ExecContext(req.Context(), "UPDATE "+schema+".courseware_studentmodule SET grade = COALESCE(grade, 0) + 1, modified = NOW(6) WHERE id = ?", 1+rand.IntN(opt.Rows))
			}
			if err == nil {
				err = tx.Commit()
			} else if tx != nil {
				_ = tx.Rollback()
			}
			if err != nil {
				http.Error(rw, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(rw, `{"release":%q}`, r)
		}))
		t.Cleanup(apps[r].Close)
	}
	yaml := fmt.Sprintf(`name: %s
naming: "{logical}_%s_{release}"
servers:
  mysql: {dsn: "${TERMSHIFT_BINLOG_MYSQL_DSN}"}
databases:
  mysql: [{name: edxapp}]
backup: {source: %s}
releases:
  - {name: current, version: "1.0", runner: external, health_url: "%s/heartbeat"}
  - {name: next, version: "1.0", runner: external, health_url: "%s/heartbeat"}
router: {listen: %q, retention: 1h}
`, name, name, filepath.Join(dir, "backups"), apps["current"].URL, apps["next"].URL, router)
	path := filepath.Join(dir, "termshift.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := envfile.LoadEnvironment(path, termshift.LocalSetting)
	if err != nil {
		t.Fatal(err)
	}
	w.o, w.env = orchestrator(t, env, "test"), env
	w.o.Reason = "test"
	ctx := t.Context()
	for _, r := range []string{"current", "next"} {
		o := orchestrator(t, env, "carve "+r)
		if err := o.Locked(ctx, func() error { _, err := o.Carve(ctx, r); return err }); err != nil {
			t.Fatalf("carve %s: %v", r, err)
		}
	}
	t.Cleanup(func() {
		for _, r := range []string{"current", "next"} {
			o := orchestrator(t, env, "teardown")
			s, _ := o.LoadState(context.Background())
			if rs := s.Releases[r]; rs != nil {
				for _, ns := range rs.Namespaces {
					_, _ = db.Exec("DROP DATABASE IF EXISTS " + termshift.QuoteMySQL(ns.Name))
					_, _ = db.Exec("DROP USER IF EXISTS " + termshift.QuoteMySQL(ns.User) + "@'%'")
				}
			}
		}
		_, _ = db.Exec("DELETE FROM "+follow.PositionSchema+".positions WHERE follower LIKE ?", name+"/%")
		_, _ = db.Exec("DELETE FROM "+follow.PositionSchema+".touched WHERE follower LIKE ?", name+"/%")
	})
	s, _ := w.o.LoadState(ctx)
	w.cur = s.Releases["current"].Namespaces[0].Name
	w.next = s.Releases["next"].Namespaces[0].Name
	w.exec("CREATE TABLE " + w.cur + ".grades (id INT PRIMARY KEY, learner VARCHAR(40) NULL, score DECIMAL(5,2) NULL, essay BLOB NULL)")
	w.exec("CREATE TABLE " + w.cur + ".events (learner VARCHAR(40) NULL, kind VARCHAR(20) NULL)")
	w.exec("CREATE TABLE " + w.cur + ".demo_writes (id VARCHAR(64) NOT NULL PRIMARY KEY, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))")
	if opt.Rows > 0 {
		w.fill(opt.Rows)
	}
	for i := range 50 {
		w.exec("INSERT INTO "+w.cur+".grades VALUES (?, ?, ?, ?)", i, fmt.Sprint("l", i), float64(i)/2, []byte{byte(i), 0, 255})
		w.exec("INSERT INTO "+w.cur+".events VALUES (?, 'seen')", fmt.Sprint("l", i))
	}
	w.mutate(func(s *store.State) {
		for _, r := range []string{"current", "next"} {
			rs := s.Releases[r]
			rs.Running = true
			rs.Verify = &store.VerifyRecord{At: time.Now(), Passed: true}
		}
		s.Releases["current"].Namespaces[0].Status = store.NSRestored
	})
	w.serve()
	if _, err := w.o.Cutover(ctx, "current", rollout.CutoverOptions{SkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if opt.NoSync {
		return w
	}
	o := orchestrator(t, env, "sync next")
	if err := o.Locked(ctx, func() error {
		_, err := o.Sync(ctx, "next", rollout.SyncOptions{From: "current"})
		return err
	}); err != nil {
		t.Fatalf("sync next: %v", err)
	}
	return w
}

func (w *followWorld) mutate(f func(s *store.State)) {
	w.t.Helper()
	s, err := w.o.LoadState(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	f(s)
	if err := w.o.SaveState(context.Background(), s); err != nil {
		w.t.Fatal(err)
	}
}

// serve runs `termshift serve` (the built-in router) until the test ends.
func (w *followWorld) serve() {
	t := w.t
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o := orchestrator(t, w.env, "serve")
	go func() { done <- o.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	for i := 0; !w.o.Control().Running(); i++ {
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v", err)
		default:
		}
		if i > 500 {
			t.Fatal("serve did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fill adds make bench-restore's courseware_studentmodule-like table of
// rows rows to current (backup/bench/source.sql).
func (w *followWorld) fill(rows int) {
	w.t.Helper()
	text, err := os.ReadFile("../backup/bench/source.sql")
	if err != nil {
		w.t.Fatal(err)
	}
	q := strings.NewReplacer("@ROWS@", fmt.Sprint(rows), "@USERS@", fmt.Sprint(rows/40+1)).Replace(string(text))
	conn, err := w.db.Conn(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "USE "+termshift.QuoteMySQL(w.cur)); err != nil {
		w.t.Fatal(err)
	}
	for _, stmt := range strings.Split(q, ";\n") {
		var lines []string
		for _, l := range strings.Split(stmt, "\n") {
			if !strings.HasPrefix(l, "--") {
				lines = append(lines, l)
			}
		}
		if q := strings.TrimSpace(strings.Join(lines, "\n")); q != "" {
			if _, err := conn.ExecContext(context.Background(), q); err != nil {
				w.t.Fatalf("%s: %v", q[:min(len(q), 60)], err)
			}
		}
	}
}

func (w *followWorld) exec(q string, args ...any) {
	w.t.Helper()
	if _, err := w.db.Exec(q, args...); err != nil {
		w.t.Fatalf("%s: %v", q, err)
	}
}

// writes changes current's rows in every way a row event can.
func (w *followWorld) writes(from, to int) {
	for i := from; i < to; i++ {
		w.exec("INSERT INTO "+w.cur+".grades VALUES (?, ?, NULL, ?)", 1000+i, fmt.Sprint("new", i), []byte("essay\x00"+fmt.Sprint(i)))
		w.exec("INSERT INTO "+w.cur+".events VALUES (?, 'enrolled')", fmt.Sprint("new", i))
		w.exec("UPDATE "+w.cur+".grades SET score = score + 1, learner = NULL WHERE id = ?", i)
		w.exec("DELETE FROM "+w.cur+".events WHERE learner = ? LIMIT 1", fmt.Sprint("l", i))
	}
}

func (w *followWorld) sums(schema string) string {
	w.t.Helper()
	var out []string
	for _, tbl := range []string{"grades", "events"} {
		var name string
		var sum sql.NullInt64
		var n int
		if err := w.db.QueryRow("CHECKSUM TABLE "+schema+"."+tbl).Scan(&name, &sum); err != nil {
			w.t.Fatal(err)
		}
		if err := w.db.QueryRow("SELECT COUNT(*) FROM " + schema + "." + tbl).Scan(&n); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %d rows %d", tbl, n, sum.Int64))
	}
	return strings.Join(out, "; ")
}

// startFollow runs `follow next --from current` until the test ends or a
// cutover stops it; it returns how it ended.
func (w *followWorld) startFollow() chan *rollout.FollowReport {
	ctx, cancel := context.WithCancel(context.Background())
	w.t.Cleanup(cancel)
	done := make(chan *rollout.FollowReport, 1)
	caught := make(chan struct{}, 1)
	o := orchestrator(w.t, w.env, "follow next")
	go func() {
		rep, err := o.Follow(ctx, "next", rollout.FollowOptions{From: "current", Interval: 50 * time.Millisecond, SettleEvery: w.settle, Snapshot: w.snapshot, Status: func(st follow.Status) {
			if st.CaughtUp {
				select {
				case caught <- struct{}{}:
				default:
				}
			}
		}})
		if err != nil {
			w.t.Errorf("follow: %v", err)
		}
		done <- rep
	}()
	select {
	case <-caught:
	case rep := <-done:
		w.t.Fatalf("follow ended at once: %+v", rep)
	case <-time.After(15 * time.Minute):
		w.t.Fatal("follow did not catch up in 15 minutes")
	}
	return done
}

// next follows current; the final sync catches up instead of copying,
// proves the tables, and the follower stops.
func TestFinalSyncCatchesUp(t *testing.T) {
	w := newFollowWorld(t)
	ctx := t.Context()
	done := w.startFollow()
	w.writes(0, 20)
	// A migrated next is refused while the follower runs.
	o := orchestrator(t, w.env, "follow next again")
	if _, err := o.Follow(ctx, "next", rollout.FollowOptions{From: "current", Interval: time.Second}); !errors.Is(err, termshift.ErrLocked) {
		t.Errorf("a second follower: %v, want ErrLocked (already followed)", err)
	}
	// A sync into it would replace the tables the follower applies to.
	so := orchestrator(t, w.env, "sync next")
	if err := so.Locked(ctx, func() error {
		_, err := so.Sync(ctx, "next", rollout.SyncOptions{From: "current"})
		return err
	}); !errors.Is(err, termshift.ErrLocked) || !strings.Contains(err.Error(), "is being followed") || !strings.Contains(err.Error(), "refusing to sync into") {
		t.Errorf("sync into a followed release: %v, want refused: it is being followed", err)
	}
	w.writes(20, 30)
	// The plan says the window catches up rather than copies.
	plan, err := w.o.Plan(ctx, "next", rollout.UpgradeOptions{Cutover: true, FinalSync: true})
	if err != nil || len(plan) == 0 || plan[len(plan)-1].Step != "cutover" || !strings.Contains(plan[len(plan)-1].Why, "catch up next's MySQL from current's binary log") {
		t.Errorf("plan %+v, %v: want its cutover to say it catches up from the binary log", plan, err)
	}
	rep, err := w.o.Cutover(ctx, "next", rollout.CutoverOptions{FinalSync: true, SkipVerify: true})
	if err != nil {
		t.Fatalf("cutover --final-sync: %v", err)
	}
	sr := rep.Window.SyncReport
	if sr == nil || !sr.Proven || len(sr.Notes) == 0 || !strings.Contains(sr.Notes[0], "caught up from current's binary log") {
		t.Fatalf("sync report %+v: want proven, caught up", sr)
	}
	if len(sr.Namespaces) != 1 || sr.Namespaces[0].Status != "caught up" || len(sr.Namespaces[0].Objects) != 3 {
		t.Fatalf("namespaces %+v: want edxapp caught up with its 3 tables", sr.Namespaces)
	}
	// Only the tables current wrote are read again: demo_writes had no
	// event on either side since the sync proved it.
	proof := map[string]string{}
	for _, obj := range sr.Namespaces[0].Objects {
		proof[obj.Name] = "read"
		if obj.Unchanged != "" {
			proof[obj.Name] = "unchanged"
		}
		if !obj.OK {
			proof[obj.Name] += ", not ok"
		}
	}
	if diff := cmp.Diff(map[string]string{"grades": "read", "events": "read", "demo_writes": "unchanged"}, proof); diff != "" {
		t.Errorf("tables read by the proof (-want +got):\n%s", diff)
	}
	// grades has an integer primary key: its 30 inserted and 30 updated
	// rows are compared; events has none: it is read whole.
	if !strings.Contains(sr.Notes[0], "1 table changed since the data was proven read on both sides, 1 table compared by the 60 rows changed since they were last proven equal, 1 unchanged") {
		t.Errorf("note %q: want it to say which tables the proof read", sr.Notes[0])
	}
	if got, want := w.sums(w.next), w.sums(w.cur); got != want {
		t.Errorf("next: %s\ncurrent: %s", got, want)
	}
	select {
	case frep := <-done:
		if frep == nil || !strings.HasPrefix(frep.Ended, "stopped by") {
			t.Errorf("follow ended: %+v, want stopped by the final sync", frep)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the follower did not stop after the final sync")
	}
	s, _ := w.o.LoadState(ctx)
	if f := s.Releases["next"].Follow; s.Live != "next" || f == nil || f.Status != "caught-up" {
		t.Errorf("live %q, follow record %+v; want next live, caught-up", s.Live, f)
	}
	t.Logf("window %s; %s", rep.Window.Parts(), sr.Notes[0])
}

// The next release writes a table current does not (a QA write while it
// follows): the catch-up's proof reads that table too, finds it differs,
// and the final sync copies everything instead, saying why.
func TestCatchUpSeesNextsOwnWrites(t *testing.T) {
	w := newFollowWorld(t)
	ctx := t.Context()
	w.startFollow()
	w.writes(0, 5)
	w.exec("INSERT INTO " + w.next + ".demo_writes (id) VALUES ('written by QA on next')")
	w.writes(5, 10)
	rep, err := w.o.Cutover(ctx, "next", rollout.CutoverOptions{FinalSync: true, SkipVerify: true})
	if err != nil {
		t.Fatalf("cutover --final-sync: %v", err)
	}
	sr := rep.Window.SyncReport
	if sr == nil || !sr.Proven || len(sr.Notes) == 0 || !strings.Contains(sr.Notes[0], "the proof does not hold") || !strings.Contains(sr.Notes[0], "demo_writes: 0 rows in current, 1 in next") {
		t.Fatalf("sync report %+v: want the full sync, because demo_writes differs", sr)
	}
	if got, want := w.sums(w.next), w.sums(w.cur); got != want {
		t.Errorf("next: %s\ncurrent: %s", got, want)
	}
	var n int
	if err := w.db.QueryRow("SELECT COUNT(*) FROM " + w.next + ".demo_writes").Scan(&n); err != nil || n != 0 {
		t.Errorf("next's demo_writes after the full sync: %d rows, %v; want current's 0", n, err)
	}
}

// A follower whose position is gone from the server's binary logs: the
// final sync says so and copies everything.
func TestFinalSyncFallsBackWhenPurged(t *testing.T) {
	w := newFollowWorld(t)
	ctx := t.Context()
	done := w.startFollow()
	w.writes(0, 5)
	// The follower is stopped, and its position is one the server no
	// longer has (as after PURGE BINARY LOGS).
	w.mutate(func(s *store.State) { s.Releases["next"].Follow.Stop = true })
	<-done
	w.exec("UPDATE "+follow.PositionSchema+".positions SET file = 'binlog.000000' WHERE follower = ?", w.env.Name+"/next")
	w.writes(5, 10)
	rep, err := w.o.Cutover(ctx, "next", rollout.CutoverOptions{FinalSync: true, SkipVerify: true})
	if err != nil {
		t.Fatalf("cutover --final-sync: %v", err)
	}
	sr := rep.Window.SyncReport
	if sr == nil || !sr.Proven || len(sr.Notes) == 0 || !strings.Contains(sr.Notes[0], "the full sync copies everything instead") || !strings.Contains(sr.Notes[0], "binlog.000000") {
		t.Fatalf("sync report %+v: want the full sync, saying why", sr)
	}
	if got, want := w.sums(w.next), w.sums(w.cur); got != want {
		t.Errorf("next: %s\ncurrent: %s", got, want)
	}
}

// A next whose schema differs from current's (migrated) is refused, and
// the error says why.
func TestFollowRefusesMigrated(t *testing.T) {
	w := newFollowWorld(t)
	w.exec("ALTER TABLE " + w.next + ".grades ADD COLUMN migrated INT NULL")
	o := orchestrator(t, w.env, "follow next")
	_, err := o.Follow(t.Context(), "next", rollout.FollowOptions{From: "current", Interval: time.Second})
	if !errors.Is(err, termshift.ErrRefused) || !errors.Is(err, follow.ErrSchemaChanged) || !strings.Contains(err.Error(), "grades.migrated") {
		t.Fatalf("follow into a migrated next: %v, want refused naming the column", err)
	}
	if _, err := o.Follow(t.Context(), "current", rollout.FollowOptions{From: "next", Interval: time.Second}); !errors.Is(err, termshift.ErrRefused) {
		t.Errorf("follow into the live release: %v, want refused", err)
	}
}

// Next restored from a backup snapshot of current follows from the
// snapshot manifest's binary log position: the writes current took after
// the snapshot are applied, once.
func TestFollowFromSnapshot(t *testing.T) {
	w := newFollowWorld(t, worldOptions{NoSync: true})
	ctx := t.Context()
	const id = "2026-11-28T02:00:00Z"
	o := orchestrator(t, w.env, "backup current")
	if err := o.Locked(ctx, func() error {
		_, err := o.Backup(ctx, "current", rollout.BackupOptions{ID: id})
		return err
	}); err != nil {
		t.Fatalf("backup current: %v", err)
	}
	w.writes(0, 10)
	o = orchestrator(t, w.env, "restore next")
	if err := o.Locked(ctx, func() error {
		_, _, err := o.Restore(ctx, "next", rollout.RestoreOptions{Snapshot: id})
		return err
	}); err != nil {
		t.Fatalf("restore next: %v", err)
	}
	if got, want := w.sums(w.next), w.sums(w.cur); got == want {
		t.Fatalf("next equals current before following: the writes after the snapshot are missing from the test")
	}
	w.startFollow()
	if got, want := w.sums(w.next), w.sums(w.cur); got != want {
		t.Errorf("next: %s\ncurrent: %s", got, want)
	}
	s, _ := w.o.LoadState(ctx)
	if f := s.Releases["next"].Follow; f == nil || f.Start.File == "" || f.Status != "following" || !f.StartsAtData {
		t.Errorf("follow record %+v: want following from the snapshot's position, where its data was proven", f)
	}
	if p := s.Releases["next"].Namespaces[0].Proof; p == nil || p.Binlog == nil {
		t.Fatalf("restore proof %+v: want the binary log position before the load", p)
	}
	// The final sync reads only what changed since the snapshot.
	w.writes(10, 12)
	rep, err := w.o.Cutover(ctx, "next", rollout.CutoverOptions{FinalSync: true, SkipVerify: true})
	if err != nil {
		t.Fatalf("cutover --final-sync: %v", err)
	}
	if sr := rep.Window.SyncReport; sr == nil || len(sr.Notes) == 0 || !strings.Contains(sr.Notes[0], "1 table changed since the data was proven read on both sides, 1 table compared by the 24 rows changed") {
		t.Errorf("sync report %+v: want the catch-up reading the 2 tables written since the snapshot", sr)
	}
	if got, want := w.sums(w.next), w.sums(w.cur); got != want {
		t.Errorf("after the final sync, next: %s\ncurrent: %s", got, want)
	}
}

// A follower started from a snapshot other than the one next's data was
// restored from (a named --snapshot) cannot vouch for the tables it saw no
// event for: the catch-up's proof reads every table, and says why.
func TestCatchUpReadsEverythingFromAnotherStart(t *testing.T) {
	w := newFollowWorld(t, worldOptions{NoSync: true})
	ctx := t.Context()
	o := orchestrator(t, w.env, "backup current")
	for _, id := range []string{"2026-11-27T02:00:00Z", "2026-11-28T02:00:00Z"} {
		if err := o.Locked(ctx, func() error {
			_, err := o.Backup(ctx, "current", rollout.BackupOptions{ID: id})
			return err
		}); err != nil {
			t.Fatalf("backup current: %v", err)
		}
	}
	o = orchestrator(t, w.env, "restore next")
	if err := o.Locked(ctx, func() error {
		_, _, err := o.Restore(ctx, "next", rollout.RestoreOptions{Snapshot: "2026-11-28T02:00:00Z"})
		return err
	}); err != nil {
		t.Fatalf("restore next: %v", err)
	}
	w.snapshot = "2026-11-27T02:00:00Z"
	w.startFollow()
	s, _ := w.o.LoadState(ctx)
	if f := s.Releases["next"].Follow; f == nil || f.StartsAtData {
		t.Fatalf("follow record %+v: want a start other than its data's", f)
	}
	w.writes(0, 3)
	rep, err := w.o.Cutover(ctx, "next", rollout.CutoverOptions{FinalSync: true, SkipVerify: true})
	if err != nil {
		t.Fatalf("cutover --final-sync: %v", err)
	}
	if sr := rep.Window.SyncReport; sr == nil || len(sr.Notes) == 0 || !strings.Contains(sr.Notes[0], "every table read on both sides (3), since the follower did not start at the position its data was proven at") {
		t.Errorf("sync report %+v: want every table read, saying why", sr)
	}
	if got, want := w.sums(w.next), w.sums(w.cur); got != want {
		t.Errorf("after the final sync, next: %s\ncurrent: %s", got, want)
	}
}
