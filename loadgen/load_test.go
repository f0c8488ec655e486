package loadgen_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/loadgen"
)

// outcome is what the test server does with the write of a sequence number;
// every outcome occurs in a run of 200 writes.
func outcome(seq int) loadgen.Class {
	switch {
	case seq%13 == 0:
		return loadgen.ClassNoAnswer
	case seq%11 == 0:
		return loadgen.ClassOther
	case seq%7 == 0:
		return loadgen.ClassServerError
	case seq%5 == 0:
		return loadgen.ClassMaintenance
	}
	return loadgen.ClassOK
}

// writeServer answers POSTs of {"id": "RUN-NNNNNNNN"} as outcome says,
// names itself in the served-by header, and records the ids it
// acknowledged.
type writeServer struct {
	mu      sync.Mutex
	stored  []string
	seen    map[string]int
	badBody int
}

func (s *writeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct{ ID string }
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&in) != nil {
		s.mu.Lock()
		s.badBody++
		s.mu.Unlock()
		http.Error(w, "want a JSON POST", http.StatusBadRequest)
		return
	}
	_, num, _ := strings.Cut(in.ID, "-")
	seq, err := strconv.Atoi(num)
	if err != nil {
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.seen[in.ID]++
	s.mu.Unlock()
	switch outcome(seq) {
	case loadgen.ClassNoAnswer:
		// Half a response, then the connection drops.
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("{"))
		panic(http.ErrAbortHandler)
	case loadgen.ClassOther:
		http.Error(w, "conflict", http.StatusConflict)
	case loadgen.ClassServerError:
		w.Header().Set(loadgen.ServedByHeader, "blue")
		http.Error(w, "broken", http.StatusInternalServerError)
	case loadgen.ClassMaintenance:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	default:
		s.mu.Lock()
		s.stored = append(s.stored, in.ID)
		s.mu.Unlock()
		w.Header().Set(loadgen.ServedByHeader, "blue")
		w.WriteHeader(http.StatusCreated)
	}
}

func TestWritesRecordsAckedIDsExactly(t *testing.T) {
	t.Parallel()
	ws := &writeServer{seen: map[string]int{}}
	srv := httptest.NewServer(ws)
	t.Cleanup(srv.Close)

	const rate, total = 400, 200
	got, err := loadgen.Run(t.Context(), loadgen.Options{
		URL: srv.URL + "/api/writes", Rate: rate, Duration: total * time.Second / rate, Writes: true, RunID: "t1",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[loadgen.Class][]string{}
	for seq := 1; seq <= total; seq++ {
		c := outcome(seq)
		want[c] = append(want[c], loadgen.WriteID("t1", seq))
	}
	lists := map[loadgen.Class][]string{
		loadgen.ClassOK: got.Acked, loadgen.ClassMaintenance: got.Maintenance, loadgen.ClassServerError: got.ServerErrors,
		loadgen.ClassOther: got.Rejected, loadgen.ClassNoAnswer: got.NoAnswer,
	}
	for _, c := range loadgen.Classes {
		if len(want[c]) == 0 {
			t.Fatalf("the test sends no write of class %s", c)
		}
		if diff := cmp.Diff(lists[c], want[c]); diff != "" {
			t.Errorf("ids of class %s (-got +want):\n%s", c, diff)
		}
		if got.ByClass[c].Count != len(want[c]) {
			t.Errorf("ByClass[%s].Count = %d, want %d", c, got.ByClass[c].Count, len(want[c]))
		}
	}
	// What the server stored is exactly what loadgen says it acknowledged.
	ws.mu.Lock()
	stored := slices.Sorted(slices.Values(ws.stored))
	for id, n := range ws.seen {
		if n != 1 {
			t.Errorf("write %s reached the server %d times, want once (a POST is never retried)", id, n)
		}
	}
	if ws.badBody > 0 {
		t.Errorf("%d requests were not a JSON POST", ws.badBody)
	}
	ws.mu.Unlock()
	if diff := cmp.Diff(got.Acked, stored); diff != "" {
		t.Errorf("acked ids differ from the ids the server stored (-acked +stored):\n%s", diff)
	}
	if got.RunID != "t1" || got.Sent != total || got.Failed != total-len(want[loadgen.ClassOK]) {
		t.Errorf("run %q: sent %d, failed %d; want t1, %d, %d", got.RunID, got.Sent, got.Failed, total, total-len(want[loadgen.ClassOK]))
	}
	if diff := cmp.Diff(got.ServedBy, map[string]int{"blue": len(want[loadgen.ClassOK])}); diff != "" {
		t.Errorf("served by (-got +want):\n%s", diff)
	}
	wantFailedBy := map[string]int{
		"blue": len(want[loadgen.ClassServerError]),
		"":     len(want[loadgen.ClassMaintenance]) + len(want[loadgen.ClassOther]),
	}
	if diff := cmp.Diff(got.FailedBy, wantFailedBy); diff != "" {
		t.Errorf("failed by (-got +want):\n%s", diff)
	}
	if ok := got.ByClass[loadgen.ClassOK]; got.P50 != ok.P50 || got.P99 != ok.P99 || got.Max != ok.Max || ok.P50 > ok.P99 || ok.P99 > ok.Max {
		t.Errorf("latencies of the 2xx: p50 %v p99 %v max %v, class %+v", got.P50, got.P99, got.Max, ok)
	}
	if len(got.Errors) != 10 {
		t.Errorf("%d errors kept, want the first 10: %v", len(got.Errors), got.Errors)
	}
}

func TestWritesRunIDs(t *testing.T) {
	t.Parallel()
	ws := &writeServer{seen: map[string]int{}}
	srv := httptest.NewServer(ws)
	t.Cleanup(srv.Close)
	run := func() loadgen.Result {
		r, err := loadgen.Run(t.Context(), loadgen.Options{URL: srv.URL, Rate: 200, Duration: 20 * time.Millisecond, Writes: true})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := run(), run()
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(a.RunID) || a.RunID == b.RunID {
		t.Errorf("run ids %q and %q: want 12 random hex digits each, different", a.RunID, b.RunID)
	}
	if diff := cmp.Diff(a.Acked, []string{a.RunID + "-00000001", a.RunID + "-00000002", a.RunID + "-00000003", a.RunID + "-00000004"}); diff != "" {
		t.Errorf("acked (-got +want):\n%s", diff)
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if len(ws.seen) != 2*4 {
		t.Errorf("server saw %d distinct ids, want 8: %v", len(ws.seen), ws.seen)
	}
}

func TestLoadGetsAndSwitches(t *testing.T) {
	t.Parallel()
	var release atomic.Value
	release.Store("current")
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			posts.Add(1)
		}
		w.Header().Set("X-Served", release.Load().(string))
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	got, err := loadgen.Run(t.Context(), loadgen.Options{
		URL: srv.URL, Rate: 200, Duration: 500 * time.Millisecond, ServedByHeader: "X-Served",
		Events: []loadgen.Event{
			{Name: "cutover", At: 250 * time.Millisecond, Want: "next", Do: func() { release.Store("next") }},
			{Name: "late", At: time.Hour, Want: "current", Do: func() { t.Error("an event after the duration ran") }},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Sent != 100 || got.Failed != 0 || posts.Load() != 0 || got.RunID != "" || got.Acked != nil {
		t.Fatalf("sent %d, failed %d, posts %d, run id %q, acked %d; want 100 GETs, 0 failed, no writes",
			got.Sent, got.Failed, posts.Load(), got.RunID, len(got.Acked))
	}
	if got.ServedBy["current"] == 0 || got.ServedBy["next"] == 0 || got.ServedBy["current"]+got.ServedBy["next"] != 100 {
		t.Errorf("served by %v; want both releases, 100 in all", got.ServedBy)
	}
	if e := got.Events[0]; !e.Switched || e.Switch <= 0 {
		t.Errorf("event %+v; want switched after a positive time", e)
	}
	if e := got.Events[1]; e.Switched {
		t.Errorf("event %+v ran after the duration", e)
	}
	if diff := cmp.Diff(got.ByClass, map[loadgen.Class]loadgen.ClassStats{loadgen.ClassOK: got.ByClass[loadgen.ClassOK]}); diff != "" || got.ByClass[loadgen.ClassOK].Count != 100 {
		t.Errorf("classes (-got +want):\n%s", diff)
	}
}

// Stopping the load stops sending, and the requests in flight finish: none
// of them fails.
func TestLoadStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 20 {
			cancel()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	got := loadgen.Load(ctx, srv.URL, 200, time.Minute, nil)
	if got.Sent < 20 || got.Sent > 200 || got.Failed != 0 {
		t.Errorf("sent %d, failed %d (%v); want the load stopped soon after 20, none failed", got.Sent, got.Failed, got.Errors)
	}
	if int64(got.Sent) != n.Load() {
		t.Errorf("sent %d, server saw %d", got.Sent, n.Load())
	}
}

func TestRunRefusesBadOptions(t *testing.T) {
	t.Parallel()
	good := loadgen.Options{URL: "http://127.0.0.1:1/", Rate: 1, Duration: time.Second}
	tests := []struct {
		name string
		edit func(*loadgen.Options)
		want string
	}{
		{"no url", func(o *loadgen.Options) { o.URL = "" }, "url"},
		{"relative url", func(o *loadgen.Options) { o.URL = "/api/writes" }, "url"},
		{"ftp url", func(o *loadgen.Options) { o.URL = "ftp://example.com/" }, "url"},
		{"zero rate", func(o *loadgen.Options) { o.Rate = 0 }, "rate 0"},
		{"no duration", func(o *loadgen.Options) { o.Duration = 0 }, "duration"},
		{"run id with a space", func(o *loadgen.Options) { o.Writes, o.RunID = true, "a b" }, "run id"},
		{"long run id", func(o *loadgen.Options) { o.Writes, o.RunID = true, strings.Repeat("x", 41) }, "run id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			_, err := loadgen.Run(t.Context(), o)
			if !errors.Is(err, termshift.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v, want ErrInvalid naming %q", err, tt.want)
			}
		})
	}
}

// A closed port: every request is unanswered and none hangs past the bound.
func TestLoadAgainstClosedPort(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	got, err := loadgen.Run(t.Context(), loadgen.Options{URL: url, Rate: 100, Duration: 100 * time.Millisecond, Writes: true, RunID: "closed"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Sent != 10 || got.Failed != 10 || len(got.NoAnswer) != 10 || got.ByClass[loadgen.ClassNoAnswer].Count != 10 || len(got.FailedBy) != 0 {
		t.Errorf("sent %d, failed %d, unanswered %v, failed by %v; want 10 sent, all unanswered", got.Sent, got.Failed, got.NoAnswer, got.FailedBy)
	}
}
