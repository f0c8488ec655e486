package rollout_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/rollout/wiring"
	"github.com/termshift/termshift/tenancy/tenancytest"
)

// snapshotDir is the edX-like production backup every restore test loads.
const snapshotDir = "../testdata/backup/2026-11-20T02:00:00Z"

// world is an environment on the real local servers of `make services`:
// MariaDB, FerretDB, RabbitMQ, a memcached of its own per release, a backup
// directory on disk, external releases (HTTP servers that say who they
// are) and an nginx router provider whose reload does nothing, so that
// switches need no serve.
type world struct {
	t        *testing.T
	dir      string
	name     string
	releases []string
	pattern  string
	backup   string
	clusters []string
	health   *httptest.Server
	// shares maps a release to the release whose data it shares.
	shares map[string]string
}

func newWorld(t *testing.T, pattern string, releases ...string) *world {
	t.Helper()
	for _, k := range []string{"TERMSHIFT_MYSQL_DSN", "TERMSHIFT_MONGO_URI", "TERMSHIFT_RABBITMQ_URL", "TERMSHIFT_RABBITMQ_MANAGEMENT_URL"} {
		termshift.RequireLocalSetting(t, k)
	}
	w := &world{t: t, dir: t.TempDir(), name: "s-" + tenancytest.Release(t), releases: releases, pattern: pattern}
	w.backup = filepath.Join(w.dir, "backups")
	w.addSnapshot("2026-11-20T02:00:00Z")
	for range releases {
		w.clusters = append(w.clusters, tenancytest.StartMemcached(t))
	}
	w.health = httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(w.health.Close)
	w.write()
	t.Cleanup(w.cleanup)
	return w
}

// addSnapshot copies the test backup in as one more night.
func (w *world) addSnapshot(id string) {
	w.t.Helper()
	if err := os.CopyFS(filepath.Join(w.backup, id), os.DirFS(snapshotDir)); err != nil {
		w.t.Fatal(err)
	}
}

// write (re)writes termshift.yaml with the world's current naming pattern.
func (w *world) write() {
	w.t.Helper()
	var pool, rels strings.Builder
	for i, c := range w.clusters {
		fmt.Fprintf(&pool, "      c%d: [%q]\n", i, c)
	}
	for _, r := range w.releases {
		data := ""
		if owner := w.shares[r]; owner != "" {
			data = ", data: {shared_with: " + owner + "}"
		}
		fmt.Fprintf(&rels, "  - {name: %s, version: \"1\", runner: external, health_url: %q%s}\n", r, w.health.URL+"/heartbeat", data)
	}
	yaml := fmt.Sprintf(`name: %s
naming: %q
servers:
  mysql: {dsn: "${TERMSHIFT_MYSQL_DSN}"}
  mongo: {uri: "${TERMSHIFT_MONGO_URI}"}
  rabbitmq:
    url: "${TERMSHIFT_RABBITMQ_URL}"
    management_url: "${TERMSHIFT_RABBITMQ_MANAGEMENT_URL}"
    management_user: "${TERMSHIFT_RABBITMQ_MANAGEMENT_USER}"
    management_password: "${TERMSHIFT_RABBITMQ_MANAGEMENT_PASSWORD}"
  memcached:
    clusters:
%sdatabases:
  mysql: [{name: edxapp, backup: edxapp_residential_live}, {name: xqueue, backup: xqueue_residential_live}]
  mongo: [{name: forum, backup: forum_residential_live}]
  rabbitmq: [{name: celery, backup: celery_residential_live}]
  memcached: [{name: default}]
backup: {source: %q}
releases:
%srouter: {provider: nginx, nginx: {include_file: routes.conf, reload: ["true"]}}
`, w.name, w.pattern, pool.String(), w.backup, rels.String())
	if err := os.WriteFile(filepath.Join(w.dir, "termshift.yaml"), []byte(yaml), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) env() *envfile.Environment {
	w.t.Helper()
	env, err := envfile.LoadEnvironment(filepath.Join(w.dir, "termshift.yaml"), func(name string) (string, bool) {
		return termshift.LocalSetting(name)
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return env
}

// o is a new command's orchestrator, as the CLI builds one.
func (w *world) o(command string) *rollout.Orchestrator {
	w.t.Helper()
	o, err := wiring.Orchestrator(context.Background(), w.env(), nil, io.Discard, command)
	if err != nil {
		w.t.Fatal(err)
	}
	o.Reason = "test"
	return o
}

func (w *world) state() *store.State {
	w.t.Helper()
	s, err := w.o("status").LoadState(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *world) mutate(f func(s *store.State)) {
	w.t.Helper()
	o := w.o("test")
	s, err := o.LoadState(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	f(s)
	if err := o.SaveState(context.Background(), s); err != nil {
		w.t.Fatal(err)
	}
}

// upgrade carves and restores a release, as `upgrade` does up to scrub.
func (w *world) upgrade(release string) {
	w.t.Helper()
	ctx := context.Background()
	o := w.o("upgrade " + release)
	err := o.Locked(ctx, func() error {
		if _, err := o.Carve(ctx, release); err != nil {
			return err
		}
		_, _, err := o.Restore(ctx, release, rollout.RestoreOptions{})
		return err
	})
	if err != nil {
		w.t.Fatalf("carve and restore %s: %v", release, err)
	}
}

// cleanup drops every namespace the world's releases hold, whatever the
// state says of live and rollback target.
func (w *world) cleanup() {
	ctx := context.Background()
	w.mutate(func(s *store.State) { s.Live, s.Previous = "", "" })
	w.pattern = termshift.DefaultNamingPattern
	w.write()
	for _, r := range w.releases {
		if _, err := w.o("teardown").Teardown(ctx, r, true); err != nil {
			w.t.Logf("cleanup teardown %s: %v", r, err)
		}
	}
}

func mysqlAdmin(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// checksums are CHECKSUM TABLE of every table of the schemas, the
// documents of every collection of the databases.
func checksums(t *testing.T, schemas, dbs []string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	db := mysqlAdmin(t)
	for _, schema := range schemas {
		rows, err := db.QueryContext(ctx, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1", schema)
		if err != nil {
			t.Fatal(err)
		}
		var tables []string
		for rows.Next() {
			var n string
			_ = rows.Scan(&n)
			tables = append(tables, n)
		}
		rows.Close()
		for _, tbl := range tables {
			var name string
			var sum sql.NullInt64
			if err := db.QueryRowContext(ctx, "CHECKSUM TABLE "+termshift.QuoteMySQL(schema)+"."+termshift.QuoteMySQL(tbl)).Scan(&name, &sum); err != nil {
				t.Fatal(err)
			}
			out["mysql "+schema+"."+tbl] = fmt.Sprint(sum.Int64)
		}
	}
	client, err := mongo.Connect(options.Client().ApplyURI(termshift.RequireLocalSetting(t, "TERMSHIFT_MONGO_URI")))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	for _, name := range dbs {
		colls, err := client.Database(name).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range colls {
			cur, err := client.Database(name).Collection(c).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
			if err != nil {
				t.Fatal(err)
			}
			var docs []string
			for cur.Next(ctx) {
				docs = append(docs, cur.Current.String())
			}
			cur.Close(ctx)
			out["mongo "+name+"."+c] = strings.Join(docs, "\n")
		}
	}
	return out
}

func names(rs *store.ReleaseState, svc termshift.Service) []string {
	var out []string
	for _, ns := range rs.Namespaces {
		if ns.Service == svc {
			out = append(out, ns.Name)
		}
	}
	return out
}

// A changed naming pattern that maps a new release onto the live
// release's namespaces: carve, restore, resume, scrub and teardown of the
// new release are refused, and the live data keeps its checksums.
func TestNamingCollisionNeverTouchesTheLiveRelease(t *testing.T) {
	ctx := context.Background()
	live := "a" + tenancytest.Release(t)[1:] // "a" then 8 letters: live's names under "{logical}_{release}"
	other := live[1:]                        // under "{logical}_a{release}" it maps onto live's
	w := newWorld(t, termshift.DefaultNamingPattern, live, other)
	w.upgrade(live)
	w.mutate(func(s *store.State) { s.Live = live })
	rs := w.state().Releases[live]
	before := checksums(t, names(rs, termshift.MySQL), names(rs, termshift.MongoDB))

	w.pattern = "{logical}_a{release}"
	w.write()
	o := w.o("upgrade " + other)
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), termshift.Quote(live)) {
			t.Errorf("%s: %v, want refused naming the live release %s", what, err, live)
		}
	}
	_, err := o.Carve(ctx, other)
	refused("carve", err)
	_, _, err = o.Restore(ctx, other, rollout.RestoreOptions{})
	refused("restore", err)
	_, _, err = o.Restore(ctx, other, rollout.RestoreOptions{Resume: true, DropExisting: true})
	refused("restore --resume --drop-existing", err)
	_, err = o.Scrub(ctx, other)
	refused("scrub", err)
	_, err = o.Teardown(ctx, other, true)
	refused("teardown --yes", err)
	plan, err := o.Plan(ctx, other, rollout.UpgradeOptions{})
	if err == nil {
		t.Errorf("upgrade plan of a release mapped onto the live one = %+v, want refused", plan)
	}
	if diff := diffMaps(checksums(t, names(rs, termshift.MySQL), names(rs, termshift.MongoDB)), before); diff != "" {
		t.Errorf("the live release's data changed:\n%s", diff)
	}
	if got := w.state().Releases[other]; got != nil && len(got.Namespaces) > 0 {
		t.Errorf("state records namespaces for %s: %+v", other, got.Namespaces)
	}
}

func diffMaps(got, want map[string]string) string {
	var out []string
	for k, v := range want {
		if got[k] != v {
			out = append(out, "changed: "+k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, "added: "+k)
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// --threads out of bounds is refused before anything is touched.
func TestThreadsAreBounded(t *testing.T) {
	ctx := context.Background()
	rel := tenancytest.Release(t)
	w := newWorld(t, termshift.DefaultNamingPattern, rel)
	o := w.o("restore " + rel)
	for _, n := range []int{-1, rollout.MaxThreads + 1, 10000} {
		_, _, err := o.Restore(ctx, rel, rollout.RestoreOptions{Threads: n})
		if !errors.Is(err, termshift.ErrInvalid) || !strings.Contains(err.Error(), fmt.Sprintf("--threads %d", n)) {
			t.Errorf("--threads %d: %v, want refused", n, err)
		}
	}
	if _, err := o.Plan(ctx, rel, rollout.UpgradeOptions{Threads: 10000}); !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("upgrade --threads 10000: %v, want refused", err)
	}
	if s := w.state(); s.Revision != 0 {
		t.Errorf("a refused restore wrote state (revision %d)", s.Revision)
	}
}

// A resume from a different night is refused for every service before any
// is loaded, and the hint's commands work.
func TestResumeFromAnotherSnapshotTouchesNothing(t *testing.T) {
	ctx := context.Background()
	rel := tenancytest.Release(t)
	w := newWorld(t, termshift.DefaultNamingPattern, rel)
	o := w.o("carve " + rel)
	if _, err := o.Carve(ctx, rel); err != nil {
		t.Fatal(err)
	}
	// A restore of the first night stopped half way: MySQL proven, the rest not.
	first := "2026-11-20T02:00:00Z"
	w.mutate(func(s *store.State) {
		rs := s.Releases[rel]
		rs.Snapshot = first
		rs.SetStep("restore", "failed", "1 of 4 namespaces failed", time.Now())
		for _, ns := range rs.Namespaces {
			switch ns.Service {
			case termshift.MySQL:
				ns.Status, ns.Proof = store.NSRestored, &store.Proof{Source: first, Objects: map[string]int64{}}
			case termshift.MongoDB, termshift.RabbitMQ:
				ns.Status = store.NSFailed
			}
		}
	})
	w.addSnapshot("2026-11-21T02:00:00Z") // the next night lands
	_, _, err := w.o("restore").Restore(ctx, rel, rollout.RestoreOptions{Resume: true})
	var hint *termshift.HintError
	if !errors.Is(err, termshift.ErrRefused) || !errors.As(err, &hint) || !strings.Contains(hint.Hint, "--resume --snapshot "+first) {
		t.Fatalf("resume from the newer snapshot = %v, want refused with a hint naming --snapshot %s", err, first)
	}
	rs := w.state().Releases[rel]
	if sums := checksums(t, nil, names(rs, termshift.MongoDB)); len(sums) > 1 { // the marker collection only
		t.Errorf("MongoDB was loaded although the resume was refused: %v", slices.Collect(mapKeys(sums)))
	}
	// The hint's first command works: the same night resumes.
	if _, _, err := w.o("restore").Restore(ctx, rel, rollout.RestoreOptions{Resume: true, Snapshot: first, DropExisting: false}); err != nil {
		t.Fatalf("resume of the same night: %v", err)
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Universities reuse `next` every semester: a torn-down release restores
// again from scratch with every proof.
func TestTornDownNameIsNewAgain(t *testing.T) {
	ctx := context.Background()
	rel := tenancytest.Release(t)
	w := newWorld(t, termshift.DefaultNamingPattern, rel)
	w.upgrade(rel)
	if _, err := w.o("teardown").Teardown(ctx, rel, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(w.dir, ".termshift", "releases", rel)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("teardown left the release's restore checkpoints: %v", err)
	}
	w.upgrade(rel)
	rs := w.state().Releases[rel]
	if !rs.StepDone("restore") {
		t.Fatalf("restore after teardown: %+v", rs.Steps)
	}
	edxapp := rs.Namespace(termshift.MySQL, "edxapp")
	if edxapp.Proof == nil || edxapp.Proof.Objects["auth_user"] == 0 {
		t.Errorf("%s restored without its users: %+v", edxapp.Namespace, edxapp.Proof)
	}
}

// A rollback whose abandoned release lost a schema lists it as unknown
// rather than leaving it out.
func TestRollbackListsADroppedSchemaAsUnknown(t *testing.T) {
	ctx := context.Background()
	cur, next := tenancytest.Release(t), tenancytest.Release(t)
	w := newWorld(t, termshift.DefaultNamingPattern, cur, next)
	w.upgrade(cur)
	w.upgrade(next)
	var schema string
	w.mutate(func(s *store.State) {
		s.Live, s.Previous = next, cur
		rs := s.Releases[next]
		schema = rs.Namespace(termshift.MySQL, "xqueue").Name
		rs.Switch = &store.SwitchCounts{At: time.Now(), Rows: map[string]int64{schema + ".queue_submission": 3}, Documents: map[string]int64{}}
		s.Releases[cur].Running, s.Releases[next].Running = true, true
	})
	if _, err := mysqlAdmin(t).ExecContext(ctx, "DROP DATABASE "+termshift.QuoteMySQL(schema)); err != nil {
		t.Fatal(err)
	}
	rep, err := w.o("rollback").Rollback(ctx, rollout.RollbackOptions{DryRun: true, StrandedBudget: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, u := range rep.Stranded.Unknown {
		found = found || strings.Contains(u, termshift.Quote(schema)) && strings.Contains(u, "gone")
	}
	if !found || rep.Stranded.Empty() {
		t.Errorf("stranded = %+v, want %s listed as unknown", rep.Stranded, schema)
	}
}

// rollback --force takes the lock from a running restore; a carve runs
// after it; the restore's later write of its stale state is refused, so
// the carve's update survives.
func TestForcedRollbackFencesTheFormerHolder(t *testing.T) {
	ctx := context.Background()
	cur, next := tenancytest.Release(t), tenancytest.Release(t)
	w := newWorld(t, termshift.DefaultNamingPattern, cur, next)
	w.upgrade(cur)
	w.upgrade(next)
	w.mutate(func(s *store.State) { s.Live, s.Previous = next, cur })

	holder := w.o("restore " + next)
	loaded := make(chan *store.State)
	resume := make(chan struct{})
	result := make(chan [2]error)
	go func() {
		var saveErr error
		lockErr := holder.Locked(ctx, func() error {
			s, err := holder.LoadState(ctx)
			if err != nil {
				return err
			}
			loaded <- s
			<-resume
			s.Releases[next].Version = "stale write"
			saveErr = holder.SaveState(ctx, s)
			return nil
		})
		result <- [2]error{lockErr, saveErr}
	}()
	<-loaded
	rb := w.o("rollback --force")
	rep, err := rb.Rollback(ctx, rollout.RollbackOptions{Force: true})
	if err != nil || !strings.Contains(rep.Forced, "restore "+next) {
		t.Fatalf("rollback --force = %+v, %v", rep, err)
	}
	carve := w.o("carve " + next)
	if err := carve.Locked(ctx, func() error { _, err := carve.Carve(ctx, next); return err }); err != nil {
		t.Fatalf("carve after the rollback: %v", err)
	}
	close(resume)
	got := <-result
	if !errors.Is(got[1], store.ErrConflict) {
		t.Errorf("the former holder's stale write = %v, want refused (ErrConflict)", got[1])
	}
	s := w.state()
	if s.Live != cur || s.Releases[next].Version == "stale write" {
		t.Errorf("after the stale write: live %q, next's version %q; want the rollback's state kept", s.Live, s.Releases[next].Version)
	}
}

// Two environments on the same servers (QA and staging often share them):
// each upgrades, cuts over and rolls back its own releases while the
// other's live release keeps its checksums, and gc --yes in either never
// touches the other's namespaces; it drops only its own orphans.
func TestTwoEnvironmentsOnOneSetOfServers(t *testing.T) {
	ctx := context.Background()
	a1, a2 := tenancytest.Release(t), tenancytest.Release(t)
	b1, b2 := tenancytest.Release(t), tenancytest.Release(t)
	qa := newWorld(t, termshift.DefaultNamingPattern, a1, a2)
	staging := newWorld(t, termshift.DefaultNamingPattern, b1, b2)

	qa.upgrade(a1)
	qa.mutate(func(s *store.State) { s.Live = a1; s.Releases[a1].Running = true })
	live := qa.state().Releases[a1]
	before := checksums(t, names(live, termshift.MySQL), names(live, termshift.MongoDB))

	// staging's whole cycle: two releases, cutover, rollback.
	staging.upgrade(b1)
	staging.upgrade(b2)
	for _, r := range []string{b1, b2} {
		o := staging.o("verify " + r)
		if _, err := o.Verify(ctx, r, rollout.VerifyOptions{}); err != nil {
			t.Fatalf("verify %s: %v", r, err)
		}
	}
	staging.mutate(func(s *store.State) { s.Releases[b1].Running, s.Releases[b2].Running = true, true })
	for _, r := range []string{b1, b2} {
		if _, err := staging.o("cutover "+r).Cutover(ctx, r, rollout.CutoverOptions{}); err != nil {
			t.Fatalf("staging cutover %s: %v", r, err)
		}
	}
	if _, err := staging.o("rollback").Rollback(ctx, rollout.RollbackOptions{}); err != nil {
		t.Fatalf("staging rollback: %v", err)
	}

	// qa carves a2 and then loses it from state: its orphan, marked as qa's.
	if _, err := qa.o("carve "+a2).Carve(ctx, a2); err != nil {
		t.Fatal(err)
	}
	orphan := qa.state().Releases[a2].Namespace(termshift.MySQL, "edxapp").Name
	qa.mutate(func(s *store.State) { delete(s.Releases, a2) })

	for _, w := range []*world{staging, qa} {
		items, err := w.o("gc").GC(ctx, true)
		if err != nil {
			t.Fatalf("gc --yes in %s: %v", w.name, err)
		}
		for _, it := range items {
			if it.Namespace == nil {
				continue
			}
			mine := it.Release == a2 && w == qa
			switch {
			case it.Outcome == "dropped" && !mine:
				t.Errorf("gc in %s dropped %s (%s)", w.name, it.Namespace, it.Why)
			case it.Kind == "not ours" && it.Outcome != "kept":
				t.Errorf("gc in %s: %+v", w.name, it)
			}
		}
		if w == staging {
			kept := 0
			for _, it := range items {
				if it.Kind == "not ours" && strings.Contains(it.Why, termshift.Quote(qa.name)) {
					kept++
				}
			}
			if kept == 0 {
				t.Errorf("staging's gc did not list qa's namespaces as not ours: %+v", items)
			}
		}
	}
	if diff := diffMaps(checksums(t, names(live, termshift.MySQL), names(live, termshift.MongoDB)), before); diff != "" {
		t.Errorf("qa's live release changed:\n%s", diff)
	}
	var n int
	if err := mysqlAdmin(t).QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", orphan).Scan(&n); err != nil || n != 0 {
		t.Errorf("qa's own orphan %s still there (%d, %v)", orphan, n, err)
	}
	// staging's releases survive qa's gc.
	for _, r := range []string{b1, b2} {
		rs := staging.state().Releases[r]
		for _, ns := range rs.Namespaces {
			if ns.Service != termshift.MySQL {
				continue
			}
			if err := mysqlAdmin(t).QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", ns.Name).Scan(&n); err != nil || n != 1 {
				t.Errorf("staging's %s is gone after qa's gc", ns.Namespace)
			}
		}
	}
}
