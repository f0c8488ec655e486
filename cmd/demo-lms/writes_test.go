package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/loadgen"
)

// inStores says whether each store holds the write id.
func inStores(t *testing.T, b *backends, id string) (mysql, forum bool) {
	t.Helper()
	var n int
	if err := b.db.QueryRow(`SELECT COUNT(*) FROM demo_writes WHERE id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	err := b.fdb.Collection(writesColl).FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Err()
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		t.Fatal(err)
	}
	return n == 1, err == nil
}

func TestWrites(t *testing.T) {
	t.Parallel()
	cfg, b, srv := startLMS(t, "1.0", nil)
	c := srv.Client()

	resp, body := do(t, c, "POST", srv.URL+"/api/writes", "application/json", `{"id":"run1-00000001"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/writes = %d %s, want 201", resp.StatusCode, body)
	}
	var first Write
	if err := json.Unmarshal(body, &first); err != nil {
		t.Fatal(err)
	}
	if first.ID != "run1-00000001" || first.Release != cfg.Release || first.Version != "1.0" || first.Created.IsZero() {
		t.Errorf("write = %+v", first)
	}
	if m, f := inStores(t, b, first.ID); !m || !f {
		t.Errorf("acknowledged write: in mysql %v, in forum %v; want both", m, f)
	}

	// A retry of the same id is the same write.
	resp, body = do(t, c, "POST", srv.URL+"/api/writes", "application/x-www-form-urlencoded", "id=run1-00000001")
	var again Write
	if err := json.Unmarshal(body, &again); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("second POST = %d %s, want 200", resp.StatusCode, body)
	}
	if diff := cmp.Diff(again, first); diff != "" {
		t.Errorf("second POST returned another write (-got +want):\n%s", diff)
	}

	resp, body = do(t, c, "GET", srv.URL+"/api/writes/run1-00000001", "", "")
	var got StoredWrite
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET write = %d %s", resp.StatusCode, body)
	}
	want := StoredWrite{Write: first}
	want.StoredIn.MySQL, want.StoredIn.Forum = true, true
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("GET write (-got +want):\n%s", diff)
	}

	// A write recorded in MySQL alone (a former attempt stopped half way)
	// is completed in the forum by the retry.
	half := "run1-00000002"
	if _, err := b.db.Exec(`INSERT INTO demo_writes (id, release_name, version, created) VALUES (?, 'older', '0.9', UTC_TIMESTAMP(3))`, half); err != nil {
		t.Fatal(err)
	}
	resp, body = do(t, c, "GET", srv.URL+"/api/writes/"+half, "", "")
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusOK || !got.StoredIn.MySQL || got.StoredIn.Forum {
		t.Fatalf("GET half-stored write = %d %s, want mysql only", resp.StatusCode, body)
	}
	resp, body = do(t, c, "POST", srv.URL+"/api/writes", "application/json", `{"id":"`+half+`"}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"release":"older"`) {
		t.Errorf("retry of a half-stored write = %d %s, want 200 with the stored write", resp.StatusCode, body)
	}
	if m, f := inStores(t, b, half); !m || !f {
		t.Errorf("retried write: in mysql %v, in forum %v; want both", m, f)
	}

	tests := []struct {
		method, path, ctype, body string
		want                      int
	}{
		{"POST", "/api/writes", "application/json", `{"id":""}`, http.StatusBadRequest},
		{"POST", "/api/writes", "application/json", `{"id":"a b"}`, http.StatusBadRequest},
		{"POST", "/api/writes", "application/json", `{"id":"` + strings.Repeat("x", 129) + `"}`, http.StatusBadRequest},
		{"POST", "/api/writes", "application/json", `not json`, http.StatusBadRequest},
		{"POST", "/api/writes", "application/json", `{"id":"` + strings.Repeat("x", 5000) + `"}`, http.StatusBadRequest},
		{"GET", "/api/writes/nope-" + suffix(t), "", "", http.StatusNotFound},
		{"GET", "/api/writes/bad%20id", "", "", http.StatusBadRequest},
		{"GET", "/api/writes", "", "", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		resp, body := do(t, c, tt.method, srv.URL+tt.path, tt.ctype, tt.body)
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s %.40s = %d %s, want %d", tt.method, tt.path, tt.body, resp.StatusCode, body, tt.want)
		}
	}
}

// A write is acknowledged only when both stores hold it: when one fails,
// the answer is 500 (never 503, the router's maintenance) and MySQL keeps
// nothing.
func TestWriteNotAcknowledgedUnlessBothStoresCommit(t *testing.T) {
	t.Parallel()
	t.Run("forum down", func(t *testing.T) {
		t.Parallel()
		cfg := newConfig(t, "1.0")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		cfg.Forum.URI = termshift.Secret("mongodb://f:" + url.QueryEscape("hunter2-forum") + "@" + closed + "/?authSource=admin&connectTimeoutMS=300&serverSelectionTimeoutMS=500")
		b := open(t, cfg)
		if _, err := Migrate(context.Background(), b.db, cfg.Version, quietLog()); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(newHandler(b, nil, quietLog()))
		t.Cleanup(srv.Close)
		resp, body := do(t, srv.Client(), "POST", srv.URL+"/api/writes", "application/json", `{"id":"down-1"}`)
		if resp.StatusCode != http.StatusInternalServerError || bytes.Contains(body, []byte("hunter2")) {
			t.Errorf("POST with the forum down = %d %s, want 500 without the password", resp.StatusCode, body)
		}
		var n int
		if err := b.db.QueryRow(`SELECT COUNT(*) FROM demo_writes`).Scan(&n); err != nil || n != 0 {
			t.Errorf("demo_writes has %d rows (%v) after a failed write, want 0", n, err)
		}
	})
	t.Run("mysql fails", func(t *testing.T) {
		t.Parallel()
		_, b, srv := startLMS(t, "1.0", nil)
		if _, err := b.db.Exec(`DROP TABLE demo_writes`); err != nil {
			t.Fatal(err)
		}
		resp, body := do(t, srv.Client(), "POST", srv.URL+"/api/writes", "application/json", `{"id":"nosql-1"}`)
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("POST with demo_writes gone = %d %s, want 500", resp.StatusCode, body)
		}
		if err := b.fdb.Collection(writesColl).FindOne(context.Background(), bson.D{{Key: "_id", Value: "nosql-1"}}).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
			t.Errorf("forum holds a write MySQL refused: %v", err)
		}
	})
}

// Through loadgen, with a share of the requests faulted: every acknowledged
// id is in both stores, and no faulted id is in either.
func TestWritesUnderLoadWithFaults(t *testing.T) {
	t.Parallel()
	_, b, srv := startLMS(t, "1.0", newFaults(FaultOptions{Rate: 0.3}))
	res, err := loadgen.Run(t.Context(), loadgen.Options{URL: srv.URL + "/api/writes", Rate: 200, Duration: time.Second, Writes: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 200 || len(res.Acked)+len(res.ServerErrors) != 200 || len(res.Acked) == 0 || len(res.ServerErrors) == 0 {
		t.Fatalf("sent %d: acked %d, 5xx %d, 503 %d, other %d, unanswered %d (%v); want 200 acked or faulted, some of each",
			res.Sent, len(res.Acked), len(res.ServerErrors), len(res.Maintenance), len(res.Rejected), len(res.NoAnswer), res.Errors)
	}
	ctx := context.Background()
	noMySQL, noForum, err := b.MissingWrites(ctx, res.Acked)
	if err != nil {
		t.Fatal(err)
	}
	if len(noMySQL) > 0 || len(noForum) > 0 {
		t.Errorf("acknowledged writes missing: from mysql %v, from forum %v", noMySQL, noForum)
	}
	noMySQL, noForum, err = b.MissingWrites(ctx, res.ServerErrors)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(noMySQL, res.ServerErrors); diff != "" {
		t.Errorf("faulted writes found in mysql (-missing +faulted):\n%s", diff)
	}
	if diff := cmp.Diff(noForum, res.ServerErrors); diff != "" {
		t.Errorf("faulted writes found in the forum (-missing +faulted):\n%s", diff)
	}
}

func TestCheckWrites(t *testing.T) {
	t.Parallel()
	cfg, b, srv := startLMS(t, "1.0", nil)
	ids := []string{"chk-00000001", "chk-00000002", "chk-00000003"}
	for _, id := range ids {
		if resp, body := do(t, srv.Client(), "POST", srv.URL+"/api/writes", "application/json", `{"id":"`+id+`"}`); resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s = %d %s", id, resp.StatusCode, body)
		}
	}
	// One write lost from the forum, one never made.
	if _, err := b.fdb.Collection(writesColl).DeleteOne(context.Background(), bson.D{{Key: "_id", Value: ids[2]}}); err != nil {
		t.Fatal(err)
	}
	config := writeConfigFile(t, cfg)
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name, ids string
		wantErr   bool
		want      []string
	}{
		{"all there", ids[0] + "\n" + ids[1] + "\n\n" + ids[0] + "\n", false,
			[]string{"check-writes: lost 0 of 2 acknowledged writes (missing from mysql " + cfg.MySQL.Name + ": 0, from mongo " + cfg.Forum.Name + ".demo_writes: 0)"}},
		{"two lost", strings.Join(append(ids, "chk-never"), "\n"), true, []string{
			"check-writes: lost 2 of 4 acknowledged writes (missing from mysql " + cfg.MySQL.Name + ": 1, from mongo " + cfg.Forum.Name + ".demo_writes: 2)",
			"check-writes: missing from mysql: chk-never",
			"check-writes: missing from forum: chk-00000003",
			"check-writes: missing from forum: chk-never",
		}},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := run(context.Background(), []string{"check-writes", "--config", config, "--ids", write(tt.name, tt.ids)}, &out, quietLog())
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: check-writes = %v, want error %v", tt.name, err, tt.wantErr)
		}
		if diff := cmp.Diff(strings.Split(strings.TrimSpace(out.String()), "\n"), tt.want); diff != "" {
			t.Errorf("%s: output (-got +want):\n%s", tt.name, diff)
		}
	}
	err := run(context.Background(), []string{"check-writes", "--config", config, "--ids", write("bad", "ok-1\nnot an id\n")}, &bytes.Buffer{}, quietLog())
	if !errors.Is(err, termshift.ErrInvalid) || !strings.Contains(err.Error(), "bad:2") {
		t.Errorf("check-writes of a bad ids file = %v, want ErrInvalid naming line 2", err)
	}
}
