package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
)

func TestConfigTemplate(t *testing.T) {
	t.Parallel()
	type mysqlNS struct {
		Name, User string
		Password   termshift.Secret
		Host       string
		Port       int
	}
	type mongoNS struct {
		Name, User string
		Password   termshift.Secret
		URI        string
	}
	type rabbitNS struct {
		Vhost, User string
		Password    termshift.Secret
		URL         string
	}
	type memcachedNS struct{ Endpoints []string }
	pw := `p"w\{{x}}</script>`
	data := map[string]any{
		"Release": "next", "Version": "2.0", "Port": 8102, "Listen": "127.0.0.1:8102", "CookieName": "termshift_next_sessionid",
		"MySQL": map[string]mysqlNS{
			"edxapp": {Name: "edxapp_next", User: "edxapp_next", Password: termshift.Secret(pw), Host: "127.0.0.1", Port: 3306},
			"xqueue": {Name: "xqueue_next", User: "xqueue_next", Password: "other", Host: "127.0.0.1", Port: 3306},
		},
		"Mongo": map[string]mongoNS{
			"modulestore": {Name: "modulestore_next", User: "modulestore_next", URI: "mongodb://modulestore_next:x%22y@127.0.0.1:27017/?authSource=modulestore_next"},
			"forum":       {Name: "forum_next", URI: "mongodb://forum_next:z@127.0.0.1:27017/?authSource=forum_next"},
		},
		"RabbitMQ":  map[string]rabbitNS{"celery": {Vhost: "celery_next", User: "celery_next", URL: "amqp://celery_next:s%40@127.0.0.1:5672/celery_next"}},
		"Memcached": map[string]memcachedNS{"default": {Endpoints: []string{"127.0.0.1:11211", "127.0.0.1:11212"}}},
	}
	// The renderer's json function: passwords reach it revealed.
	funcs := template.FuncMap{"json": func(v any) (string, error) {
		if s, ok := v.(termshift.Secret); ok {
			v = s.Reveal()
		}
		b, err := json.Marshal(v)
		return string(b), err
	}}
	tmpl, err := template.New("lms.env.json.tmpl").Option("missingkey=error").Funcs(funcs).
		ParseFiles(filepath.Join("..", "termshift", "templates", "lms.env.json.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, data); err != nil {
		t.Fatalf("render: %v", err)
	}
	path := filepath.Join(t.TempDir(), "lms.env.json")
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("load rendered config: %v\n%s", err, out.String())
	}
	want := Config{
		Release: "next", Version: "2.0", Listen: "127.0.0.1:8102", SessionCookie: "termshift_next_sessionid",
		MySQL:     MySQLConfig{Host: "127.0.0.1", Port: 3306, Name: "edxapp_next", User: "edxapp_next", Password: termshift.Secret(pw)},
		Mongo:     MongoConfig{URI: "mongodb://modulestore_next:x%22y@127.0.0.1:27017/?authSource=modulestore_next", Name: "modulestore_next"},
		Forum:     MongoConfig{URI: "mongodb://forum_next:z@127.0.0.1:27017/?authSource=forum_next", Name: "forum_next"},
		RabbitMQ:  RabbitMQConfig{URL: "amqp://celery_next:s%40@127.0.0.1:5672/celery_next", Queue: "edx.lms.core.default"},
		Memcached: MemcachedConfig{Servers: []string{"127.0.0.1:11211", "127.0.0.1:11212"}},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("config (-got +want):\n%s", diff)
	}
	if got.MySQL.Password.Reveal() != pw {
		t.Errorf("password did not survive rendering")
	}
}

func TestLoadConfigRejects(t *testing.T) {
	t.Parallel()
	good := `{"release":"next","version":"2.0","listen":"127.0.0.1:8102","session_cookie":"c",
"mysql":{"host":"127.0.0.1","port":3306,"name":"edxapp_next","user":"u","password":"sekrit-pw"},
"mongo":{"uri":"mongodb://u:sekrit-pw@127.0.0.1/","name":"modulestore_next"},
"forum":{"uri":"mongodb://f:sekrit-pw@127.0.0.1/","name":"forum_next"},
"rabbitmq":{"url":"amqp://u:sekrit-pw@127.0.0.1:5672/celery_next","queue":"q"},
"memcached":{"servers":["127.0.0.1:11211"]}}`
	tests := []struct {
		name, text string
		want       string
	}{
		{"not json", `{"release":`, "parse config"},
		{"unknown field", strings.Replace(good, `"listen"`, `"lisen"`, 1), "unknown field"},
		{"bad version", strings.Replace(good, `"2.0"`, `"two"`, 1), "version must look like MAJOR.MINOR"},
		{"bad release", strings.Replace(good, `"next"`, `"Next!"`, 1), "release must be"},
		{"no memcached", strings.Replace(good, `["127.0.0.1:11211"]`, `[]`, 1), "memcached.servers"},
		{"bad mongo uri", strings.Replace(good, `mongodb://`, `http://`, 1), "mongo.uri"},
		{"bad forum uri", strings.Replace(good, `mongodb://f:`, `http://f:`, 1), "forum.uri"},
		{"no forum", strings.Replace(good, `"forum":`, `"other":`, 1), "unknown field"},
		{"bad forum name", strings.Replace(good, `"forum_next"`, `"forum.next"`, 1), "forum.name"},
		{"bad amqp url", strings.Replace(good, `amqp://u:sekrit-pw@`, `amqp://u:sekrit-pw@[`, 1), "rabbitmq.url"},
		{"bad port", strings.Replace(good, `3306`, `0`, 1), "mysql.port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "c.json")
			if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(path)
			if !errors.Is(err, termshift.ErrInvalid) {
				t.Fatalf("LoadConfig = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "sekrit") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("LoadConfig of a missing file succeeded")
	}
}

func TestRunRejectsUsage(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.json")
	tests := []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"serve", "--config", missing}, "unknown mode"},
		{[]string{"web"}, "--config FILE is required"},
		{[]string{"web", "--bogus"}, "flag provided but not defined"},
		{[]string{"migrate", "--config", missing}, "read config"},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args, io.Discard, quietLog())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

func columnExists(t *testing.T, b *backends, table, column string) bool {
	t.Helper()
	var n int
	err := b.db.QueryRow(`SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`, table, column).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func recorded(t *testing.T, b *backends) []AppliedMigration {
	t.Helper()
	rows, err := b.db.Query(`SELECT app, name FROM django_migrations ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []AppliedMigration
	for rows.Next() {
		var m AppliedMigration
		if err := rows.Scan(&m.App, &m.Name); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestMigrateUpgrade(t *testing.T) {
	t.Parallel()
	cfg := Config{MySQL: newMySQL(t)}
	db, err := openMySQL(cfg.MySQL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := &backends{db: db}
	ctx := context.Background()
	m1 := AppliedMigration{"lms", "0001_initial"}
	w1 := AppliedMigration{"demo", "0001_writes"}
	m2 := AppliedMigration{"lms", "0002_courseenrollment_mode_expiry"}

	steps := []struct {
		version string
		want    []AppliedMigration
	}{
		{"1.0", []AppliedMigration{m1, w1}},
		{"1.0", nil},
		{"2.0", []AppliedMigration{m2}},
		{"2.0", nil},
		{"1.0", nil}, // a downgrade applies nothing and removes nothing
	}
	for i, s := range steps {
		got, err := Migrate(ctx, db, s.version, quietLog())
		if err != nil {
			t.Fatalf("step %d: migrate %s: %v", i, s.version, err)
		}
		if diff := cmp.Diff(got, s.want); diff != "" {
			t.Errorf("step %d: migrate %s applied (-got +want):\n%s", i, s.version, diff)
		}
		if i == 1 && columnExists(t, b, "student_courseenrollment", "expires") {
			t.Errorf("version 1.0 has the 2.0 column expires")
		}
	}
	if !columnExists(t, b, "student_courseenrollment", "expires") {
		t.Errorf("0002 did not add student_courseenrollment.expires")
	}
	var idx int
	if err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
AND TABLE_NAME = 'student_courseenrollment' AND INDEX_NAME = 'student_courseenrollment_expires_idx'`).Scan(&idx); err != nil || idx != 1 {
		t.Errorf("expires index: count %d, err %v", idx, err)
	}
	if diff := cmp.Diff(recorded(t, b), []AppliedMigration{m1, w1, m2}); diff != "" {
		t.Errorf("django_migrations (-got +want):\n%s", diff)
	}

	if _, err := Migrate(ctx, db, "latest", quietLog()); !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("Migrate(latest) = %v, want ErrInvalid", err)
	}
}

// A crash between 0002's ALTER and its record must not wedge the next run.
func TestMigrateResumesHalfAppliedMigration(t *testing.T) {
	t.Parallel()
	db, err := openMySQL(newMySQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if _, err := Migrate(ctx, db, "1.0", quietLog()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`ALTER TABLE student_courseenrollment ADD COLUMN expires datetime(6) NULL`); err != nil {
		t.Fatal(err)
	}
	got, err := Migrate(ctx, db, "2.0", quietLog())
	if err != nil {
		t.Fatalf("migrate after a half-applied 0002: %v", err)
	}
	if diff := cmp.Diff(got, []AppliedMigration{{"lms", "0002_courseenrollment_mode_expiry"}}); diff != "" {
		t.Errorf("applied (-got +want):\n%s", diff)
	}
}

func do(t *testing.T, c *http.Client, method, u, ctype, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

func TestLMS(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t, "2.0")
	b := open(t, cfg)
	ctx := context.Background()
	if _, err := Migrate(ctx, b.db, cfg.Version, quietLog()); err != nil {
		t.Fatal(err)
	}
	key := CourseKey{"MITx", "6.002x", "T" + suffix(t)}
	seedCourse(t, b.mdb, key, 3)
	srv := httptest.NewServer(newHandler(b, nil, quietLog()))
	t.Cleanup(srv.Close)
	c := srv.Client()

	t.Run("version and session cookie", func(t *testing.T) {
		resp, body := do(t, c, "GET", srv.URL+"/version", "", "")
		var got map[string]string
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, map[string]string{"release": cfg.Release, "version": "2.0"}); diff != "" {
			t.Errorf("/version (-got +want):\n%s", diff)
		}
		var found bool
		for _, ck := range resp.Cookies() {
			found = found || (ck.Name == cfg.SessionCookie && len(ck.Value) == 32)
		}
		if !found {
			t.Errorf("no %s cookie in %v", cfg.SessionCookie, resp.Header["Set-Cookie"])
		}
	})

	t.Run("heartbeat", func(t *testing.T) {
		resp, body := do(t, c, "GET", srv.URL+"/heartbeat", "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/heartbeat = %d %s", resp.StatusCode, body)
		}
		var got map[string]string
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"mysql": "OK", "mongo": "OK", "rabbitmq": "OK", "memcached": "OK"}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("/heartbeat (-got +want):\n%s", diff)
		}
	})

	courseURL := srv.URL + "/api/courses/" + key.String()
	getCourse := func(t *testing.T) (string, Course) {
		t.Helper()
		resp, body := do(t, c, "GET", courseURL, "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET course = %d %s", resp.StatusCode, body)
		}
		var got Course
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		return resp.Header.Get("X-Cache"), got
	}

	t.Run("course is cached until an enrollment", func(t *testing.T) {
		cache, course := getCourse(t)
		if cache != "miss" {
			t.Errorf("first GET: X-Cache %q, want miss", cache)
		}
		if course.DisplayName != "Circuits and Electronics" || len(course.Chapters) != 3 || course.EnrollmentCount != 0 {
			t.Errorf("course = %+v", course)
		}
		if ch := course.Chapters[2]; ch.DisplayName != "Week 3" || len(ch.Children) != 1 || ch.Children[0].Children[0].DisplayName != "Unit 3" {
			t.Errorf("chapter 3 = %+v", ch)
		}
		if cache, _ := getCourse(t); cache != "hit" {
			t.Errorf("second GET: X-Cache %q, want hit", cache)
		}

		resp, body := do(t, c, "POST", srv.URL+"/api/enroll", "application/x-www-form-urlencoded",
			url.Values{"username": {"ada"}, "course_id": {key.String()}}.Encode())
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("enroll by form = %d %s", resp.StatusCode, body)
		}
		resp, body = do(t, c, "POST", srv.URL+"/api/enroll", "application/json",
			`{"username":"grace.h@example","course_id":"`+key.String()+`"}`)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("enroll by JSON = %d %s", resp.StatusCode, body)
		}
		// Enrolling twice is one enrollment.
		if resp, body := do(t, c, "POST", srv.URL+"/api/enroll", "application/json", `{"username":"ada","course_id":"`+key.String()+`"}`); resp.StatusCode != http.StatusCreated {
			t.Fatalf("enroll again = %d %s", resp.StatusCode, body)
		}
		cache, course = getCourse(t)
		if cache != "miss" || course.EnrollmentCount != 2 {
			t.Errorf("after enrolling: X-Cache %q, enrollment_count %d; want miss, 2", cache, course.EnrollmentCount)
		}
	})

	t.Run("user", func(t *testing.T) {
		resp, body := do(t, c, "GET", srv.URL+"/api/users/ada", "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET user = %d %s", resp.StatusCode, body)
		}
		var u User
		if err := json.Unmarshal(body, &u); err != nil {
			t.Fatal(err)
		}
		if u.Username != "ada" || len(u.Enrollments) != 1 || u.Enrollments[0].CourseID != key.String() || u.Enrollments[0].Mode != "audit" {
			t.Errorf("user = %+v", u)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		tests := []struct {
			method, path, ctype, body string
			want                      int
		}{
			{"POST", "/api/enroll", "application/json", `{"username":"ada"}`, http.StatusBadRequest},
			{"POST", "/api/enroll", "application/json", `{"username":"a b","course_id":"` + key.String() + `"}`, http.StatusBadRequest},
			{"POST", "/api/enroll", "application/json", `not json`, http.StatusBadRequest},
			{"POST", "/api/enroll", "application/x-www-form-urlencoded", "username=ada&course_id=MITx/6.002x/2012", http.StatusBadRequest},
			{"GET", "/api/enroll", "", "", http.StatusMethodNotAllowed},
			{"GET", "/api/courses/course-v1:MITx+Nope+" + suffix(t), "", "", http.StatusNotFound},
			{"GET", "/api/courses/not-a-course", "", "", http.StatusBadRequest},
			{"GET", "/api/users/nobody-" + suffix(t), "", "", http.StatusNotFound},
			{"GET", "/api/users/bad%20name", "", "", http.StatusBadRequest},
		}
		for _, tt := range tests {
			resp, body := do(t, c, tt.method, srv.URL+tt.path, tt.ctype, tt.body)
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s %s = %d %s, want %d", tt.method, tt.path, tt.body, resp.StatusCode, body, tt.want)
			}
		}
	})

	t.Run("worker records the tasks", func(t *testing.T) {
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- RunWorker(wctx, b, quietLog()) }()
		var n int
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if err := b.db.QueryRow(`SELECT COUNT(*) FROM demo_tasks WHERE name = ? AND queue = ?`, enrollTaskName, cfg.RabbitMQ.Queue).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n >= 3 {
				break
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
		if n != 3 {
			t.Errorf("demo_tasks has %d enrollment tasks, want 3", n)
		}
		var args string
		if err := b.db.QueryRow(`SELECT args FROM demo_tasks ORDER BY id LIMIT 1`).Scan(&args); err != nil {
			t.Fatal(err)
		}
		if want := `[["ada","` + key.String() + `"],{"mode":"audit"}]`; args != want {
			t.Errorf("task args %s, want %s", args, want)
		}
	})
}

func TestHeartbeatNamesFailingBackend(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t, "1.0")
	// A port that was just closed: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	cfg.Mongo.URI = termshift.Secret("mongodb://lms:" + url.QueryEscape("hunter2-mongo") + "@" + closed + "/?authSource=admin&connectTimeoutMS=500")
	cfg.MySQL.Password = "hunter2-mysql"
	b := open(t, cfg)
	srv := httptest.NewServer(newHandler(b, nil, quietLog()))
	t.Cleanup(srv.Close)
	resp, body := do(t, srv.Client(), "GET", srv.URL+"/heartbeat", "", "")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/heartbeat = %d %s, want 503", resp.StatusCode, body)
	}
	var got map[string]string
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got["mongo"] == "OK" || !strings.Contains(got["mongo"], closed) {
		t.Errorf("mongo = %q, want an error naming %s", got["mongo"], closed)
	}
	if got["mysql"] == "OK" || !strings.Contains(got["mysql"], "Access denied") {
		t.Errorf("mysql = %q, want access denied", got["mysql"])
	}
	if got["rabbitmq"] != "OK" || got["memcached"] != "OK" {
		t.Errorf("healthy backends reported %q, %q", got["rabbitmq"], got["memcached"])
	}
	if bytes.Contains(body, []byte("hunter2")) {
		t.Errorf("heartbeat leaks a password: %s", body)
	}
}

func TestServeFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, addr, h, quietLog()) }()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		var resp *http.Response
		var err error
		for range 100 { // the listener may not be up yet
			if resp, err = http.Get("http://" + addr + "/"); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-started
	cancel() // SIGTERM while the request is in flight
	time.Sleep(50 * time.Millisecond)
	close(release)
	r := <-got
	if r.err != nil || r.body != "finished" {
		t.Errorf("in-flight request: %q, %v; want finished", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("still listening on %s after shutdown", addr)
	}
}
