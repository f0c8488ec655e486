package verify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
	tmongo "github.com/termshift/termshift/tenancy/mongo"
	tmysql "github.com/termshift/termshift/tenancy/mysql"
	trabbitmq "github.com/termshift/termshift/tenancy/rabbitmq"
)

const previewHeader = "X-Termshift-Release"

// servers is the local shared servers, with admin access for setting up
// releases the way tenancy would.
type servers struct {
	admin    *sql.DB
	rmq      *rabbithole.Client
	clusters [][]string
	verify   Servers
	probers  map[termshift.Service]Prober
}

func newServers(t *testing.T) *servers {
	t.Helper()
	dsn := termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN")
	amqpURL := termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_URL")
	mgmtURL := termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_URL")
	mgmtUser := termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_USER")
	mgmtPass := termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_PASSWORD")
	clusters := termshift.RequireLocalSetting(t, "TERMSHIFT_MEMCACHED_CLUSTERS")

	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse TERMSHIFT_MYSQL_DSN: %v", err)
	}
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	rmq, err := rabbithole.NewClient(mgmtURL, mgmtUser, mgmtPass)
	if err != nil {
		t.Fatal(err)
	}
	// The probers the orchestrator gives verify: tenancy's, which know every
	// refusal of their server.
	my, err := tmysql.NewProber(tmysql.Config{DSN: termshift.Secret(dsn)})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := trabbitmq.NewProber(trabbitmq.Config{AMQPURL: amqpURL, ManagementUser: mgmtUser})
	if err != nil {
		t.Fatal(err)
	}
	s := &servers{admin: admin, rmq: rmq, verify: Servers{
		MySQLAddr:     cfg.Addr,
		MySQLAdminDSN: termshift.Secret(dsn),
	}, probers: map[termshift.Service]Prober{termshift.MySQL: my, termshift.RabbitMQ: rb}}
	for _, c := range strings.Split(clusters, ";") {
		s.clusters = append(s.clusters, strings.Split(c, ","))
	}
	if len(s.clusters) < 2 {
		t.Fatalf("TERMSHIFT_MEMCACHED_CLUSTERS has %d clusters, the isolation tests need 2", len(s.clusters))
	}
	return s
}

// suffix makes release names unique across parallel tests and runs.
func suffix() string { return strings.ToLower(rand.Text()[:8]) }

func password() termshift.Secret { return termshift.Secret(rand.Text()) }

func (s *servers) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := s.admin.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// release carves a release's MySQL schema and RabbitMQ vhost with their
// users (as tenancy would, in plain SQL and through the management API) and
// assigns it a memcached cluster. Its MySQL schema holds a scrubbed
// auth_user table of three rows, proven at "restore".
func (s *servers) release(t *testing.T, name string, cluster []string) []Namespace {
	t.Helper()
	schema := "edxapp_" + name
	mysqlCred := termshift.Credential{User: schema, Password: password()}
	account := fmt.Sprintf("'%s'@'%%'", schema)
	s.exec(t, "CREATE DATABASE "+termshift.QuoteMySQL(schema))
	t.Cleanup(func() {
		_, _ = s.admin.Exec("DROP DATABASE IF EXISTS " + termshift.QuoteMySQL(schema))
		_, _ = s.admin.Exec("DROP USER IF EXISTS " + account)
	})
	s.exec(t, "CREATE USER "+account+" IDENTIFIED BY '"+mysqlCred.Password.Reveal()+"'")
	s.exec(t, "GRANT ALL PRIVILEGES ON "+termshift.QuoteMySQL(schema)+".* TO "+account)
	s.exec(t, "CREATE TABLE "+termshift.QuoteMySQL(schema)+".auth_user (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255), password VARCHAR(128))")
	s.exec(t, "INSERT INTO "+termshift.QuoteMySQL(schema)+".auth_user (email, password) VALUES "+
		"('user1@example.invalid', '!x'), ('user2@example.invalid', '!y'), (NULL, NULL)")

	vhost := "/celery_" + name
	amqpCred := termshift.Credential{User: "celery_" + name, Password: password()}
	if _, err := s.rmq.PutVhost(vhost, rabbithole.VhostSettings{}); err != nil {
		t.Fatalf("create vhost %s: %v", vhost, err)
	}
	t.Cleanup(func() { _, _ = s.rmq.DeleteVhost(vhost) })
	if _, err := s.rmq.PutUser(amqpCred.User, rabbithole.UserSettings{Password: amqpCred.Password.Reveal(), Tags: rabbithole.UserTags{}}); err != nil {
		t.Fatalf("create rabbitmq user %s: %v", amqpCred.User, err)
	}
	t.Cleanup(func() { _, _ = s.rmq.DeleteUser(amqpCred.User) })
	if _, err := s.rmq.UpdatePermissionsIn(vhost, amqpCred.User, rabbithole.Permissions{Configure: ".*", Write: ".*", Read: ".*"}); err != nil {
		t.Fatalf("grant %s on %s: %v", amqpCred.User, vhost, err)
	}

	return []Namespace{
		{Service: termshift.MySQL, Logical: "edxapp", Name: schema, Release: name, Cred: mysqlCred,
			Proof: &Proof{Objects: map[string]int64{"auth_user": 3}, At: time.Now()}},
		{Service: termshift.RabbitMQ, Logical: "/celery", Name: vhost, Release: name, Cred: amqpCred},
		{Service: termshift.Memcached, Logical: "default", Name: "cluster-" + strings.Join(cluster, "+"), Release: name, Endpoints: cluster},
	}
}

// router plays the router: it answers only requests whose preview header
// names release.
func router(t *testing.T, release string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(previewHeader) != release {
			http.Error(w, "no such release", http.StatusNotFound)
			return
		}
		switch r.URL.Path {
		case "/heartbeat":
			fmt.Fprintln(w, `{"status": "ok"}`)
		case "/courses":
			fmt.Fprintln(w, "<h1>Explore courses</h1>")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// pair sets up release a (under test) and its sibling b, and returns a's
// clean Target.
func (s *servers) pair(t *testing.T) Target {
	t.Helper()
	sfx := suffix()
	a, b := "a"+sfx, "b"+sfx
	own := s.release(t, a, s.clusters[0])
	others := s.release(t, b, s.clusters[1])
	cfg := filepath.Join(t.TempDir(), "lms.yml")
	text := fmt.Sprintf("DATABASES:\n  default:\n    NAME: %s\n    USER: %s\nBROKER_URL: amqp://%s:x@h/%%2F%s\nCACHES:\n  default:\n    LOCATION: %s\nCONFIG_ROOT: /edx/app/edxapp\n",
		own[0].Name, own[0].Cred.User, own[1].Cred.User, strings.TrimPrefix(own[1].Name, "/"), strings.Join(own[2].Endpoints, ","))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return Target{
		Release:     a,
		Own:         own,
		Others:      others,
		Logical:     []string{"edxapp", "/celery", "default"},
		ConfigFiles: []string{cfg},
		Scrub: []ScrubRule{
			{Service: "mysql", Table: "auth_user", Column: "email", Action: ActionEmail, Value: "user{{id}}@example.invalid"},
			{Service: "edxapp", Table: "auth_user", Column: "password", Action: ActionUnusablePassword},
		},
		RouterURL:     router(t, a),
		PreviewHeader: previewHeader,
		HealthPath:    "/heartbeat",
		Smoke:         []SmokeCheck{{Name: "courses", Path: "/courses", Contains: "Explore courses"}},
		Servers:       s.verify,
	}
}

// row is one (check, target) pair.
type row struct{ Check, Target string }

func rowsWith(r *Report, st Status) []row {
	var out []row
	for _, res := range r.Results {
		if res.Status == st {
			out = append(out, row{res.Check, res.Target})
		}
	}
	slices.SortFunc(out, func(x, y row) int { return strings.Compare(x.Check+" "+x.Target, y.Check+" "+y.Target) })
	return out
}

func detailOf(t *testing.T, r *Report, check, target string) string {
	t.Helper()
	for _, res := range r.Results {
		if res.Check == check && res.Target == target {
			return res.Detail
		}
	}
	t.Fatalf("no result for %s %s", check, target)
	return ""
}

func (s *servers) run(t *testing.T, tg Target) *Report {
	t.Helper()
	r := Run(t.Context(), tg, Options{Timeout: 20 * time.Second, Probers: s.probers})
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", b.String())
	return r
}

func TestRunCleanRelease(t *testing.T) {
	t.Parallel()
	s := newServers(t)
	tg := s.pair(t)
	r := s.run(t, tg)

	mysqlT, rabbitT, memT := nsTarget(tg.Own[0]), nsTarget(tg.Own[1]), nsTarget(tg.Own[2])
	want := []row{
		{CheckConfig, tg.ConfigFiles[0]},
		{CheckConnectivity, memT}, {CheckConnectivity, mysqlT}, {CheckConnectivity, rabbitT},
		{CheckHealth, "/heartbeat"},
		{CheckIntegrity, mysqlT},
		{CheckIsolation, memT}, {CheckIsolation, mysqlT}, {CheckIsolation, rabbitT},
		{CheckScrub, "edxapp auth_user.password"}, {CheckScrub, "mysql auth_user.email"},
		{CheckSmoke, "courses"},
	}
	if diff := cmp.Diff(rowsWith(r, Pass), want); diff != "" {
		t.Errorf("passing rows (-got +want):\n%s", diff)
	}
	if len(r.Results) != len(want) || r.Failed() {
		t.Errorf("got %d results (failed=%v), want %d, all passing", len(r.Results), r.Failed(), len(want))
	}
	if d := detailOf(t, r, CheckIsolation, memT); !strings.Contains(d, "absent from 1 clusters") {
		t.Errorf("memcached isolation detail = %q", d)
	}

	doc := parseJUnit(t, r)
	type counts struct{ Tests, Failures, Skipped int }
	if diff := cmp.Diff(counts{doc.Tests, doc.Failures, doc.Skipped}, counts{len(want), 0, 0}); diff != "" {
		t.Errorf("junit counts (-got +want):\n%s", diff)
	}
}

func TestRunCatchesDefects(t *testing.T) {
	t.Parallel()
	s := newServers(t)
	tests := []struct {
		name     string
		breakIt  func(t *testing.T, tg *Target)
		failing  func(tg Target) []row
		detail   func(tg Target) (check, target, contains string)
		warnings func(tg Target) []row
	}{
		{
			name: "grant on the sibling's schema",
			breakIt: func(t *testing.T, tg *Target) {
				s.exec(t, "GRANT SELECT ON "+termshift.QuoteMySQL(tg.Others[0].Name)+".* TO '"+tg.Own[0].Cred.User+"'@'%'")
			},
			failing: func(tg Target) []row { return []row{{CheckIsolation, nsTarget(tg.Own[0])}} },
			detail: func(tg Target) (string, string, string) {
				return CheckIsolation, nsTarget(tg.Own[0]), "can use schema " + termshift.Quote(tg.Others[0].Name)
			},
		},
		{
			// The server answers "unknown database", neither in nor
			// refused: the check could not tell, which is no pass.
			name: "grant on a sibling's schema that is gone",
			breakIt: func(t *testing.T, tg *Target) {
				s.exec(t, "GRANT SELECT ON "+termshift.QuoteMySQL(tg.Others[0].Name)+".* TO '"+tg.Own[0].Cred.User+"'@'%'")
				s.exec(t, "DROP DATABASE "+termshift.QuoteMySQL(tg.Others[0].Name))
			},
			failing: func(Target) []row { return nil },
			detail: func(tg Target) (string, string, string) {
				return CheckIsolation, nsTarget(tg.Own[0]), "could not tell: schema " + termshift.Quote(tg.Others[0].Name) + ": "
			},
		},
		{
			name: "permission on the sibling's vhost",
			breakIt: func(t *testing.T, tg *Target) {
				if _, err := s.rmq.UpdatePermissionsIn(tg.Others[1].Name, tg.Own[1].Cred.User, rabbithole.Permissions{Read: ".*"}); err != nil {
					t.Fatal(err)
				}
			},
			failing: func(tg Target) []row { return []row{{CheckIsolation, nsTarget(tg.Own[1])}} },
			detail: func(tg Target) (string, string, string) {
				return CheckIsolation, nsTarget(tg.Own[1]), "can open vhost " + termshift.Quote(tg.Others[1].Name)
			},
		},
		{
			name: "same memcached cluster",
			breakIt: func(t *testing.T, tg *Target) {
				tg.Others[2].Endpoints = tg.Own[2].Endpoints
			},
			failing: func(tg Target) []row { return []row{{CheckIsolation, nsTarget(tg.Own[2])}} },
			detail: func(tg Target) (string, string, string) {
				return CheckIsolation, nsTarget(tg.Own[2]), "shares memcached cluster with release " + termshift.Quote(tg.Others[2].Release)
			},
		},
		{
			name: "config names the sibling's schema",
			breakIt: func(t *testing.T, tg *Target) {
				f, err := os.OpenFile(tg.ConfigFiles[0], os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := fmt.Fprintf(f, "READ_REPLICA: {NAME: %s}\n", tg.Others[0].Name); err != nil {
					t.Fatal(err)
				}
			},
			failing: func(tg Target) []row { return []row{{CheckConfig, tg.ConfigFiles[0]}} },
			detail: func(tg Target) (string, string, string) {
				return CheckConfig, tg.ConfigFiles[0], "line 10: names " + termshift.Quote(tg.Others[0].Name)
			},
		},
		{
			name: "unscrubbed email",
			breakIt: func(t *testing.T, tg *Target) {
				s.exec(t, "UPDATE "+termshift.QuoteMySQL(tg.Own[0].Name)+".auth_user SET email = 'Real.Person@gmail.com' WHERE id = 2")
			},
			failing: func(tg Target) []row { return []row{{CheckScrub, "mysql auth_user.email"}} },
			detail: func(tg Target) (string, string, string) {
				return CheckScrub, "mysql auth_user.email", tg.Own[0].Name + ": 1 of 3 rows not scrubbed (email)"
			},
		},
		{
			name: "row inserted after the proof",
			breakIt: func(t *testing.T, tg *Target) {
				s.exec(t, "INSERT INTO "+termshift.QuoteMySQL(tg.Own[0].Name)+".auth_user (email, password) VALUES ('user9@example.invalid', '!z')")
			},
			failing:  func(Target) []row { return nil },
			warnings: func(tg Target) []row { return []row{{CheckIntegrity, nsTarget(tg.Own[0])}} },
			detail: func(tg Target) (string, string, string) {
				return CheckIntegrity, nsTarget(tg.Own[0]), "auth_user: 3 at restore, 4 now"
			},
		},
		{
			name: "table dropped after the proof",
			breakIt: func(t *testing.T, tg *Target) {
				s.exec(t, "DROP TABLE "+termshift.QuoteMySQL(tg.Own[0].Name)+".auth_user")
			},
			// Scrub rules then find no table to look at: skip, not pass.
			failing: func(tg Target) []row { return []row{{CheckIntegrity, nsTarget(tg.Own[0])}} },
			detail: func(tg Target) (string, string, string) {
				return CheckIntegrity, nsTarget(tg.Own[0]), "auth_user: 3 at restore, missing now"
			},
		},
		{
			name: "wrong passwords",
			breakIt: func(t *testing.T, tg *Target) {
				tg.Own[0].Cred.Password = "wrong-mysql-" + password()
				tg.Own[1].Cred.Password = "wrong-amqp-" + password()
			},
			// Isolation cannot be told with a credential that does not work.
			failing: func(tg Target) []row {
				return []row{{CheckConnectivity, nsTarget(tg.Own[0])}, {CheckConnectivity, nsTarget(tg.Own[1])}}
			},
			detail: func(tg Target) (string, string, string) {
				return CheckConnectivity, nsTarget(tg.Own[0]), "Access denied"
			},
		},
		{
			name: "release not answering its preview route",
			breakIt: func(t *testing.T, tg *Target) {
				tg.RouterURL = router(t, "someone-else")
			},
			failing: func(Target) []row { return []row{{CheckHealth, "/heartbeat"}, {CheckSmoke, "courses"}} },
			detail: func(Target) (string, string, string) {
				return CheckHealth, "/heartbeat", "status 404, want 200"
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := s.pair(t)
			tc.breakIt(t, &tg)
			r := s.run(t, tg)
			if diff := cmp.Diff(rowsWith(r, Fail), tc.failing(tg)); diff != "" {
				t.Errorf("failing rows (-got +want):\n%s", diff)
			}
			var wantWarn []row
			if tc.warnings != nil {
				wantWarn = tc.warnings(tg)
			}
			if diff := cmp.Diff(rowsWith(r, Warn), wantWarn); diff != "" {
				t.Errorf("warning rows (-got +want):\n%s", diff)
			}
			check, target, contains := tc.detail(tg)
			if d := detailOf(t, r, check, target); !strings.Contains(d, contains) {
				t.Errorf("%s %s detail = %q, want it to contain %q", check, target, d, contains)
			}
			if d := detailOf(t, r, CheckScrub, "mysql auth_user.email"); strings.Contains(d, "Real.Person") {
				t.Errorf("scrub detail leaks a value: %q", d)
			}
			for _, res := range r.Results {
				for _, ns := range append(slices.Clone(tg.Own), tg.Others...) {
					if p := ns.Cred.Password.Reveal(); p != "" && strings.Contains(res.Detail, p) {
						t.Errorf("%s %s detail leaks a password: %q", res.Check, res.Target, res.Detail)
					}
				}
			}

			doc := parseJUnit(t, r)
			c := r.Counts()
			type counts struct{ Tests, Failures, Skipped int }
			if diff := cmp.Diff(counts{doc.Tests, doc.Failures, doc.Skipped}, counts{len(r.Results), c[Fail], c[Skip]}); diff != "" {
				t.Errorf("junit counts (-got +want):\n%s", diff)
			}
			if c[Fail] != len(tc.failing(tg)) {
				t.Errorf("junit failures = %d, want %d", c[Fail], len(tc.failing(tg)))
			}
		})
	}
}

// TestRunSkipsWhatCannotRun: every check that has nothing to look at, or no
// server to ask, says so with a reason, never a silent pass.
func TestRunSkipsWhatCannotRun(t *testing.T) {
	t.Parallel()
	tg := Target{
		Release: "lonely",
		Own: []Namespace{
			{Service: termshift.MySQL, Logical: "edxapp", Name: "edxapp_lonely", Release: "lonely"},
			{Service: termshift.RabbitMQ, Logical: "/celery", Name: "/celery_lonely", Release: "lonely"},
		},
		HealthPath: "/heartbeat",
		Smoke:      []SmokeCheck{{Name: "courses", Path: "/courses"}},
	}
	r := Run(context.Background(), tg, Options{Only: []string{"connectivity", "integrity", "scrub", "config", "health", "smoke", "isolation", "speling"}})
	type res struct {
		Check, Target string
		Status        Status
		Detail        string
	}
	var got []res
	for _, x := range r.Results {
		got = append(got, res{x.Check, x.Target, x.Status, x.Detail})
	}
	want := []res{
		{"speling", "-", Fail, `unknown check "speling" (want one of connectivity, isolation, integrity, scrub, config, health, smoke)`},
		{CheckConnectivity, "mysql edxapp_lonely", Unknown, "mysql: no server address configured"},
		{CheckConnectivity, "rabbitmq /celery_lonely", Unknown, "amqp: no server address configured"},
		{CheckIsolation, "mysql edxapp_lonely", Skip, "no other release has mysql namespaces"},
		{CheckIsolation, "rabbitmq /celery_lonely", Skip, "no other release has rabbitmq namespaces"},
		{CheckIntegrity, "mysql edxapp_lonely", Skip, "not restored"},
		{CheckScrub, "-", Skip, "no scrub rules"},
		{CheckConfig, "-", Skip, "no rendered configuration"},
		{CheckHealth, "/heartbeat", Skip, "release not deployed"},
		{CheckSmoke, "courses", Skip, "release not deployed"},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("results (-got +want):\n%s", diff)
	}
	if !r.Failed() {
		t.Errorf("an unknown check name must fail the report")
	}
}

// TestRunCancelled: a cancelled run reports every check as not run: an
// unknown, which is no pass.
func TestRunCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := Run(ctx, Target{Release: "x", RouterURL: "http://127.0.0.1:1", HealthPath: "/h"}, Options{Only: []string{CheckHealth}})
	if len(r.Results) != 1 || r.Results[0].Status != Unknown || !strings.Contains(r.Results[0].Detail, "canceled") {
		t.Errorf("results = %+v, want one unknown saying the run was cancelled", r.Results)
	}
	if len(r.Unknowns()) != 1 || !strings.Contains(r.Summary(), "UNPROVEN") || !strings.Contains(r.Summary(), "1 unknown") {
		t.Errorf("summary %q, unknowns %v", r.Summary(), r.Unknowns())
	}
}

// mongoRelease creates database forum_<name> with its own user (readWrite
// on it, authenticating against it) and a collection of two scrubbed users.
func mongoRelease(t *testing.T, admin *mongo.Client, name string, enforced bool) Namespace {
	t.Helper()
	ctx := t.Context()
	db := "forum_" + name
	cred := termshift.Credential{User: db, Password: password()}
	// FerretDB accepts users but not roles: that is what "not enforced" means.
	roles := bson.A{}
	if enforced {
		roles = bson.A{bson.D{{Key: "role", Value: "readWrite"}, {Key: "db", Value: db}}}
	}
	err := admin.Database(db).RunCommand(ctx, bson.D{
		{Key: "createUser", Value: cred.User}, {Key: "pwd", Value: cred.Password.Reveal()}, {Key: "roles", Value: roles},
	}).Err()
	if err != nil {
		t.Fatalf("create mongo user %s: %v", cred.User, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = admin.Database(db).RunCommand(ctx, bson.D{{Key: "dropUser", Value: cred.User}}).Err()
		_ = admin.Database(db).Drop(ctx)
	})
	if _, err := admin.Database(db).Collection("users").InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: 1}, {Key: "email", Value: "user1@example.invalid"}},
		bson.D{{Key: "_id", Value: 2}, {Key: "email", Value: "user2@example.invalid"}, {Key: "password", Value: "!x"}},
	}); err != nil {
		t.Fatalf("insert into %s.users: %v", db, err)
	}
	return Namespace{Service: termshift.MongoDB, Logical: "forum", Name: db, Release: name, Cred: cred, Enforced: enforced,
		Proof: &Proof{Objects: map[string]int64{"users": 2}, At: time.Now()}}
}

func TestRunMongo(t *testing.T) {
	t.Parallel()
	uri := termshift.RequireLocalSetting(t, "TERMSHIFT_MONGO_URI")
	enforced := termshift.RequireLocalSetting(t, "TERMSHIFT_MONGO_SERVER") == "mongod"
	admin, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Disconnect(context.Background()) })

	sfx := suffix()
	own := mongoRelease(t, admin, "a"+sfx, enforced)
	other := mongoRelease(t, admin, "b"+sfx, enforced)
	tg := Target{
		Release: own.Release,
		Own:     []Namespace{own},
		Others:  []Namespace{other},
		Scrub: []ScrubRule{
			{Service: "mongo", Table: "users", Column: "email", Action: ActionEmail, Value: "user{{id}}@example.invalid"},
			{Service: "forum", Table: "users", Column: "password", Action: ActionUnusablePassword},
		},
		Servers: Servers{MongoURI: termshift.Secret(uri)},
	}
	prober, err := tmongo.NewProber(tmongo.Config{URI: termshift.Secret(uri)})
	if err != nil {
		t.Fatal(err)
	}
	only := Options{Only: []string{CheckConnectivity, CheckIsolation, CheckIntegrity, CheckScrub},
		Probers: map[termshift.Service]Prober{termshift.MongoDB: prober}}
	target := nsTarget(own)

	type res struct {
		Check, Target string
		Status        Status
	}
	statuses := func(r *Report) []res {
		var out []res
		for _, x := range r.Results {
			out = append(out, res{x.Check, x.Target, x.Status})
		}
		return out
	}
	isolation := Warn
	if enforced {
		isolation = Pass
	}

	r := Run(t.Context(), tg, only)
	want := []res{
		{CheckConnectivity, target, Pass},
		{CheckIsolation, target, isolation},
		{CheckIntegrity, target, Pass},
		{CheckScrub, "mongo users.email", Pass},
		{CheckScrub, "forum users.password", Pass},
	}
	if diff := cmp.Diff(statuses(r), want); diff != "" {
		t.Errorf("clean release (-got +want):\n%s", diff)
	}
	if !enforced {
		if d := detailOf(t, r, CheckIsolation, target); d != notEnforced {
			t.Errorf("isolation detail = %q, want %q", d, notEnforced)
		}
	}

	// A production document arrives after the restore.
	if _, err := admin.Database(own.Name).Collection("users").InsertOne(t.Context(),
		bson.D{{Key: "_id", Value: 3}, {Key: "email", Value: "Real.Person@gmail.com"}, {Key: "password", Value: "pbkdf2_sha256$x"}}); err != nil {
		t.Fatal(err)
	}
	r = Run(t.Context(), tg, only)
	want = []res{
		{CheckConnectivity, target, Pass},
		{CheckIsolation, target, isolation},
		{CheckIntegrity, target, Warn},
		{CheckScrub, "mongo users.email", Fail},
		{CheckScrub, "forum users.password", Fail},
	}
	if diff := cmp.Diff(statuses(r), want); diff != "" {
		t.Errorf("after a production document (-got +want):\n%s", diff)
	}
	for _, c := range []struct{ check, target, want string }{
		{CheckIntegrity, target, "users: 2 at restore, 3 now"},
		{CheckScrub, "mongo users.email", own.Name + ": 1 of 3 documents not scrubbed (email)"},
		{CheckScrub, "forum users.password", own.Name + ": 1 of 3 documents not scrubbed (unusable_password)"},
	} {
		if d := detailOf(t, r, c.check, c.target); d != c.want {
			t.Errorf("%s %s detail = %q, want %q", c.check, c.target, d, c.want)
		}
	}
}
