package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/loadgen"
	rmongo "github.com/termshift/termshift/restore/mongo"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/store"
	localstore "github.com/termshift/termshift/rollout/store/local"
	"github.com/termshift/termshift/tenancy/tenancytest"
)

const backupSnapshot = "../../testdata/backup/2026-11-20T02:00:00Z"

func randName(t testing.TB, prefix string, n int) string {
	t.Helper()
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return prefix + string(b)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// e2e is one end-to-end environment: two releases of the demo LMS on the
// real local servers, a backup snapshot in the local S3, termshift serve.
type e2e struct {
	t        testing.TB
	env      string
	dir      string
	cur, nxt string
	router   string
	db       *sql.DB
	mongo    *mongo.Client
}

func (e *e2e) cli(args ...string) (int, string, string) {
	e.t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := run(ctx, append([]string{"--env", e.env}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func (e *e2e) must(args ...string) string {
	e.t.Helper()
	code, out, errs := e.cli(args...)
	if code != 0 {
		e.t.Fatalf("termshift %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (e *e2e) state() *store.State {
	e.t.Helper()
	s, err := localstore.New(filepath.Join(e.dir, ".termshift")).Load(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// get sends a request through the router and returns the release that
// served it (from /version) and the status.
func (e *e2e) version(header http.Header) (string, int) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.router+"/version", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("GET /version through the router: %v", err)
	}
	defer resp.Body.Close()
	var v struct{ Release, Version string }
	body, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(body, &v)
	return v.Release, resp.StatusCode
}

func newE2E(t testing.TB) *e2e {
	dsn := termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN")
	mongoURI := termshift.RequireLocalSetting(t, "TERMSHIFT_MONGO_URI")
	for _, k := range []string{"TERMSHIFT_RABBITMQ_URL", "TERMSHIFT_RABBITMQ_MANAGEMENT_URL", "TERMSHIFT_S3_ENDPOINT", "TERMSHIFT_S3_BUCKET"} {
		termshift.RequireLocalSetting(t, k)
	}
	if _, err := exec.LookPath("myloader"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("myloader is not installed: `make services` installs it")
		}
		t.Skip("myloader is not installed: run `make services`")
	}
	e := &e2e{t: t, dir: t.TempDir(), cur: randName(t, "c", 7), nxt: randName(t, "n", 7)}
	e.router = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	bin := filepath.Join(e.dir, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "demo-lms"), "../demo-lms")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build demo-lms: %v\n%s", err, out)
	}
	bucket, _ := termshift.LocalSetting("TERMSHIFT_S3_BUCKET")
	prefix := randName(t, "e2e-", 8)
	root, _ := filepath.Abs("../..")
	cmd := func(mode string) string {
		if mode == "web" {
			return fmt.Sprintf(`[sh, -c, '"$0" migrate --config "$1" && exec "$0" web --config "$1"', %s/demo-lms, "{{.ConfigDir}}/lms.env.json"]`, bin)
		}
		return fmt.Sprintf(`[%s/demo-lms, worker, --config, "{{.ConfigDir}}/lms.env.json"]`, bin)
	}
	// Two releases carve two clusters: the test brings its own, since the
	// shared pool of `make services` may be held by a developer's releases
	// (`make demo` leaves both carved).
	var pool strings.Builder
	for i := range 2 {
		fmt.Fprintf(&pool, "      e2e%d: [%q]\n", i, tenancytest.StartMemcached(t))
	}
	yaml := fmt.Sprintf(`name: e2e
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
  mongo: [{name: modulestore, backup: modulestore_residential_live}, {name: forum, backup: forum_residential_live}]
  rabbitmq: [{name: celery, backup: celery_residential_live}]
  memcached: [{name: default}]
backup:
  source: s3://%s/%s
  s3: {endpoint: "${TERMSHIFT_S3_ENDPOINT}", region: "${TERMSHIFT_S3_REGION}", path_style: true, access_key: "${TERMSHIFT_S3_ACCESS_KEY}", secret_key: "${TERMSHIFT_S3_SECRET_KEY}"}
scrub: {preset: openedx}
templates: [{source: %s/cmd/termshift/templates/lms.env.json.tmpl, target: lms.env.json}]
releases:
  - {name: %s, version: "1.0", port: %d, commands: {web: %s, worker: %s}}
  - {name: %s, version: "2.0", port: %d, commands: {web: %s, worker: %s}}
router: {listen: %q, retention: 1h}
verify:
  timeout: 20s
  smoke: [{name: version, path: /version, status: 200, contains: '"version"'}]
`, pool.String(), bucket, prefix, root, e.cur, freePort(t), cmd("web"), cmd("worker"), e.nxt, freePort(t), cmd("web"), cmd("worker"), e.router)
	e.env = filepath.Join(e.dir, "termshift.yaml")
	if err := os.WriteFile(e.env, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.db, err = sql.Open("mysql", dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	if e.mongo, err = mongo.Connect(options.Client().ApplyURI(mongoURI)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.mongo.Disconnect(context.Background()) })

	// The nightly backup lands in S3 as the newest snapshot.
	e.must("backups", "upload", backupSnapshot, "s3://"+bucket+"/"+prefix)
	return e
}

// serve runs `termshift serve` until the test ends, then tears everything down.
func (e *e2e) serve() {
	t := e.t
	ctx, cancel := context.WithCancel(context.Background())
	logf, err := os.Create(filepath.Join(e.dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"--env", e.env, "serve"}, logf, logf) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30s")
		}
		logf.Close()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(e.dir, "serve.log"))
			t.Logf("serve log:\n%s", log)
		}
		// Make both releases droppable and drop them.
		st := localstore.New(filepath.Join(e.dir, ".termshift"))
		if s, err := st.Load(context.Background()); err == nil {
			s.Live, s.Previous = "", ""
			_ = st.Save(context.Background(), s)
		}
		for _, r := range []string{e.cur, e.nxt} {
			if code, _, errs := e.cli("teardown", r, "--yes", "--reason", "e2e cleanup"); code != 0 {
				t.Errorf("cleanup teardown %s: %s", r, errs)
			}
		}
	})
	for i := 0; ; i++ {
		if c, err := net.DialTimeout("tcp", e.router, 100*time.Millisecond); err == nil {
			c.Close()
			return
		}
		select {
		case code := <-done:
			log, _ := os.ReadFile(filepath.Join(e.dir, "serve.log"))
			t.Fatalf("serve exited %d before the router answered:\n%s", code, log)
		default:
		}
		if i > 300 {
			t.Fatalf("the router on %s did not answer within 30s", e.router)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mysqlChecksums returns CHECKSUM TABLE of every table of a schema.
func (e *e2e) mysqlChecksums(schema string) map[string]int64 {
	e.t.Helper()
	rows, err := e.db.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", schema)
	if err != nil {
		e.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string]int64{}
	for _, tbl := range tables {
		var name string
		var sum sql.NullInt64
		if err := e.db.QueryRow("CHECKSUM TABLE "+termshift.QuoteMySQL(schema)+"."+termshift.QuoteMySQL(tbl)).Scan(&name, &sum); err != nil {
			e.t.Fatal(err)
		}
		out[tbl] = sum.Int64
	}
	return out
}

// mongoHashes returns the order-independent hash and count of every
// collection of a database, read back from the server.
func (e *e2e) mongoHashes(db string) map[string]string {
	e.t.Helper()
	ctx := context.Background()
	names, err := e.mongo.Database(db).ListCollectionNames(ctx, bson.D{})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range names {
		if n == "termshift_namespace" {
			continue
		}
		cur, err := e.mongo.Database(db).Collection(n).Find(ctx, bson.D{})
		if err != nil {
			e.t.Fatal(err)
		}
		var h rmongo.MultisetHash
		count := 0
		for cur.Next(ctx) {
			h.Add(cur.Current)
			count++
		}
		cur.Close(ctx)
		out[n] = fmt.Sprintf("%d/%s", count, h.Hex())
	}
	return out
}

// backupMongoHashes reads the backup's .bson files directly.
func backupMongoHashes(t *testing.T, db string) map[string]string {
	t.Helper()
	dir := filepath.Join(backupSnapshot, "mongo", db)
	files, err := filepath.Glob(filepath.Join(dir, "*.bson"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .bson files in %s: %v", dir, err)
	}
	out := map[string]string{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		r := rmongo.NewBSONReader(fh, f)
		var h rmongo.MultisetHash
		count := 0
		for {
			doc, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			h.Add(doc)
			count++
		}
		fh.Close()
		out[strings.TrimSuffix(filepath.Base(f), ".bson")] = fmt.Sprintf("%d/%s", count, h.Hex())
	}
	return out
}

// liveSnapshot is every checksum of a release's MySQL and MongoDB data.
func (e *e2e) liveSnapshot(release string) map[string]string {
	out := map[string]string{}
	for _, logical := range []string{"edxapp", "xqueue"} {
		for tbl, sum := range e.mysqlChecksums(logical + "_" + release) {
			out["mysql "+logical+"."+tbl] = fmt.Sprint(sum)
		}
	}
	for _, logical := range []string{"modulestore", "forum"} {
		for coll, h := range e.mongoHashes(logical + "_" + release) {
			out["mongo "+logical+"."+coll] = h
		}
	}
	return out
}

// referenceLoad loads the backup's schema with the real myloader into a
// scratch schema: an independent reference for the restored data.
func (e *e2e) referenceLoad(source string) string {
	t := e.t
	dsn, _ := termshift.LocalSetting("TERMSHIFT_MYSQL_DSN")
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(cfg.Addr)
	ref := randName(t, "e2eref_", 8)
	t.Cleanup(func() { _, _ = e.db.Exec("DROP DATABASE IF EXISTS " + termshift.QuoteMySQL(ref)) })
	args := []string{"-d", filepath.Join(backupSnapshot, "mysql"), "-s", source, "-B", ref, "-h", host, "-P", port, "-u", cfg.User, "-t", "2"}
	cmd := exec.Command("myloader", args...)
	if cfg.Passwd != "" {
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+cfg.Passwd)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("myloader: %v\n%s", err, out)
	}
	return ref
}

func TestSemesterUpgradeEndToEnd(t *testing.T) {
	e := newE2E(t)
	e.serve()
	ctx := context.Background()

	// current goes live from the backup.
	e.must("upgrade", e.cur, "--cutover", "--reason", "e2e: current goes live")
	if got, code := e.version(nil); got != e.cur || code != 200 {
		t.Fatalf("public traffic reaches %q (%d), want %q", got, code, e.cur)
	}
	before := e.liveSnapshot(e.cur)
	if len(before) < 10 {
		t.Fatalf("live snapshot of %s has %d objects: %v", e.cur, len(before), before)
	}

	// next: carve and restore first, to compare the restored data with the
	// backup before scrub and migrations change it.
	e.must("carve", e.nxt)
	e.must("restore", e.nxt)
	for _, pair := range [][2]string{{"edxapp", "edxapp_residential_live"}, {"xqueue", "xqueue_residential_live"}} {
		ref := e.referenceLoad(pair[1])
		if diff := cmp.Diff(e.mysqlChecksums(pair[0]+"_"+e.nxt), e.mysqlChecksums(ref)); diff != "" {
			t.Errorf("%s_%s differs from the backup loaded by myloader (-termshift +myloader):\n%s", pair[0], e.nxt, diff)
		}
	}
	for _, pair := range [][2]string{{"modulestore", "modulestore_residential_live"}, {"forum", "forum_residential_live"}} {
		if diff := cmp.Diff(e.mongoHashes(pair[0]+"_"+e.nxt), backupMongoHashes(t, pair[1])); diff != "" {
			t.Errorf("%s_%s differs from the backup's .bson files (-restored +backup):\n%s", pair[0], e.nxt, diff)
		}
	}

	// Restored data is replaced only with --drop-existing; a refusal leaves
	// every namespace as it was.
	if code, _, errs := e.cli("restore", e.nxt); code != exitRefused || !strings.Contains(errs, "--drop-existing") {
		t.Errorf("second restore without --drop-existing: exit %d, %s", code, errs)
	}
	for _, ns := range e.state().Releases[e.nxt].Namespaces {
		if ns.Service != termshift.Memcached && ns.Status != store.NSRestored {
			t.Errorf("%s is %q after a refused restore, want restored", ns.Namespace, ns.Status)
		}
	}

	// Namespaces exist with the right owners.
	var list []rollout.NamespaceStatus
	if err := json.Unmarshal([]byte(e.must("namespaces", "--release", e.nxt, "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 6 {
		t.Errorf("%d namespaces for %s, want 6: %+v", len(list), e.nxt, list)
	}
	for _, n := range list {
		if n.State != rollout.LiveOK || n.Release != e.nxt {
			t.Errorf("namespace %+v: want ok, owned by %s", n, e.nxt)
		}
	}
	for _, logical := range []string{"edxapp", "xqueue"} {
		user := logical + "_" + e.nxt
		rows, err := e.db.Query("SHOW GRANTS FOR " + termshift.QuoteMySQL(user) + "@'%'")
		if err != nil {
			t.Fatal(err)
		}
		var grants []string
		for rows.Next() {
			var g string
			_ = rows.Scan(&g)
			grants = append(grants, g)
		}
		rows.Close()
		if len(grants) != 2 || !strings.HasPrefix(grants[0], "GRANT USAGE ON *.*") || !strings.Contains(grants[1], "ON `"+strings.ReplaceAll(user, "_", `\_`)+"`.*") {
			t.Errorf("grants of %s: %q, want USAGE plus its own schema only (with _ escaped: a GRANT wildcard)", user, grants)
		}
	}

	// The rest of the upgrade, stopping for approval.
	out := e.must("upgrade", e.nxt, "--reason", "e2e: semester upgrade")
	if !strings.Contains(out, "waiting for approval") {
		t.Errorf("upgrade without --cutover did not stop for approval:\n%s", out)
	}
	s := e.state()
	if s.Live != e.cur || !s.Releases[e.nxt].Verify.Passed {
		t.Fatalf("after upgrade: live %q, verify %+v", s.Live, s.Releases[e.nxt].Verify)
	}
	// A second run is a no-op.
	entries, _, _ := localstore.New(filepath.Join(e.dir, ".termshift")).ReadJournal(ctx)
	out = e.must("upgrade", e.nxt, "--reason", "e2e: again")
	if !strings.Contains(out, "nothing to do") {
		t.Errorf("second upgrade did something:\n%s", out)
	}
	after, _, _ := localstore.New(filepath.Join(e.dir, ".termshift")).ReadJournal(ctx)
	for _, en := range after[len(entries):] {
		if en.Step != "upgrade" {
			t.Errorf("second upgrade journaled step %q (%s): want no step to run", en.Step, en.Outcome)
		}
	}

	// Preview reaches next before cutover; public traffic stays on current.
	if got, _ := e.version(http.Header{"X-Termshift-Release": {e.nxt}}); got != e.nxt {
		t.Errorf("preview header reaches %q, want %q", got, e.nxt)
	}
	if got, _ := e.version(nil); got != e.cur {
		t.Errorf("public traffic reaches %q before cutover, want %q", got, e.cur)
	}

	// Cutover and rollback under load: no request fails.
	var cutCode, backCode int
	var cutErr, backErr string
	res := loadgen.Load(ctx, "http://"+e.router+"/version", 200, 8*time.Second, []loadgen.Event{
		{Name: "cutover", At: 1500 * time.Millisecond, Want: e.nxt, Do: func() {
			var o, eb bytes.Buffer
			cutCode = run(ctx, []string{"--env", e.env, "cutover", e.nxt, "--reason", "e2e: approved by QA"}, &o, &eb)
			cutErr = eb.String()
		}},
		{Name: "rollback", At: 5 * time.Second, Want: e.cur, Do: func() {
			var o, eb bytes.Buffer
			backCode = run(ctx, []string{"--env", e.env, "rollback", "--reason", "e2e: incident drill"}, &o, &eb)
			backErr = eb.String()
		}},
	})
	t.Logf("load: %s", res)
	if cutCode != 0 || backCode != 0 {
		t.Fatalf("cutover exit %d (%s), rollback exit %d (%s)", cutCode, cutErr, backCode, backErr)
	}
	if res.Failed != 0 {
		t.Errorf("%d of %d requests failed during cutover and rollback: %v", res.Failed, res.Sent, res.Errors)
	}
	for _, ev := range res.Events {
		if !ev.Switched {
			t.Errorf("%s: %s never served", ev.Name, ev.Want)
		}
	}
	if res.ServedBy[e.nxt] == 0 || res.ServedBy[e.cur] == 0 {
		t.Errorf("served by %v: want both releases", res.ServedBy)
	}
	if got, _ := e.version(nil); got != e.cur {
		t.Errorf("public traffic reaches %q after rollback, want %q", got, e.cur)
	}
	s = e.state()
	if s.Live != e.cur || s.Previous != e.nxt || s.Releases[e.nxt].Switch == nil {
		t.Errorf("after rollback: live %q previous %q, switch counts %v", s.Live, s.Previous, s.Releases[e.nxt].Switch)
	}

	// The live release's data was not touched by the whole upgrade.
	if diff := cmp.Diff(e.liveSnapshot(e.cur), before); diff != "" {
		t.Errorf("the live release's data changed during the upgrade (-after +before):\n%s", diff)
	}

	// The journal records each step with its reason.
	entries, torn, err := localstore.New(filepath.Join(e.dir, ".termshift")).ReadJournal(ctx)
	if err != nil || torn != 0 {
		t.Fatalf("journal: %v, %d torn lines", err, torn)
	}
	want := map[string]string{"carve": "", "restore": "", "scrub": "e2e: semester upgrade", "deploy": "e2e: semester upgrade",
		"verify": "e2e: semester upgrade", "cutover": "e2e: approved by QA", "rollback": "e2e: incident drill"}
	for _, en := range entries {
		if en.Outcome != "done" {
			continue
		}
		if r, ok := want[en.Step]; ok && (en.Release == e.nxt || en.Step == "rollback") && (r == "" || en.Reason == r) {
			delete(want, en.Step)
		}
	}
	if len(want) > 0 {
		t.Errorf("journal lacks these steps with their reasons: %v", want)
	}
	creds, _ := localstore.New(filepath.Join(e.dir, ".termshift")).Credentials(ctx, e.nxt)
	journal, _ := os.ReadFile(filepath.Join(e.dir, ".termshift", "journal.jsonl"))
	for k, c := range creds {
		if strings.Contains(string(journal), c.Password.Reveal()) {
			t.Errorf("the journal holds the password of %s", k)
		}
	}

	// A configuration naming another release's schema fails exactly the
	// config check, exit 5, and the cutover gate then refuses (exit 4).
	cfgPath := filepath.Join(e.dir, ".termshift", "releases", e.nxt, "config", "lms.env.json")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(string(cfg), `"edxapp_`+e.nxt+`"`, `"edxapp_`+e.cur+`"`, 1)
	if tampered == string(cfg) {
		t.Fatalf("rendered config does not name edxapp_%s:\n%s", e.nxt, cfg)
	}
	if err := os.WriteFile(cfgPath, []byte(tampered), 0o600); err != nil {
		t.Fatal(err)
	}
	junit := filepath.Join(e.dir, "verify.xml")
	code, vout, verr := e.cli("verify", e.nxt, "--junit", junit, "--json")
	if code != exitVerify {
		t.Fatalf("verify with a mis-wired config: exit %d, want %d\n%s\n%s", code, exitVerify, vout, verr)
	}
	var rep struct {
		Results []struct{ Check, Target, Status string }
	}
	if err := json.Unmarshal([]byte(vout), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, vout)
	}
	var failed []string
	for _, r := range rep.Results {
		if r.Status == "fail" {
			failed = append(failed, r.Check)
		}
	}
	if diff := cmp.Diff(failed, []string{"config"}); diff != "" {
		t.Errorf("failing checks (-got +want):\n%s", diff)
	}
	xmlData, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(xmlData, &suites); err != nil || len(suites.Suites) != 1 || suites.Suites[0].Failures != 1 || suites.Suites[0].Tests != len(rep.Results) {
		t.Errorf("junit report: %+v, %v\n%s", suites, err, xmlData)
	}
	if code, _, errs := e.cli("rollback", "--to", e.nxt, "--reason", "e2e: forward again"); code != 0 {
		t.Fatalf("rollback --to next: %s", errs)
	}
	if code, _, errs := e.cli("rollback", "--reason", "e2e: back"); code != 0 {
		t.Fatalf("rollback: %s", errs)
	}
	if code, _, errs := e.cli("cutover", e.nxt, "--reason", "e2e: must be refused"); code != exitRefused || !strings.Contains(errs, "failed") {
		t.Errorf("cutover after a failed verify: exit %d, %s; want %d refused", code, errs, exitRefused)
	}
	if got, _ := e.version(nil); got != e.cur {
		t.Errorf("public traffic reaches %q after a refused cutover, want %q", got, e.cur)
	}
}
