package builtin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/router/builtin"
	"github.com/termshift/termshift/rollout/router/routertest"
)

// splitTable is current live with a share of public traffic to next.
func splitTable(current, next router.Backend, percent int) router.Table {
	t := router.Table{Live: "current", Backends: []router.Backend{current, next}}
	if percent > 0 {
		t.Split = &router.Split{Release: "next", Percent: percent}
	}
	return t
}

// publicAs sends a public request as a browser holding bucket (-1: a
// browser without the cookie) and returns who served it and the cookie set.
func publicAs(t *testing.T, r *builtin.Router, bucket int) (servedBy, cookie string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://lms.local/", nil)
	if bucket >= 0 {
		req.AddCookie(&http.Cookie{Name: router.SplitCookie, Value: strconv.Itoa(bucket)})
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("public request: status %d: %s", rec.Code, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == router.SplitCookie {
			cookie = c.Value
		}
	}
	return rec.Header().Get(router.ServedByHeader), cookie
}

func TestSplitIsWeightedAndSticky(t *testing.T) {
	t.Parallel()
	current, next := backend(t, "current"), backend(t, "next")
	r := builtin.New(builtin.Options{Allow: testNet})
	ctx := t.Context()
	if err := r.Switch(ctx, splitTable(current, next, 25)); err != nil {
		t.Fatal(err)
	}
	// Browsers without the cookie: about a quarter land on next, and each
	// gets a bucket that keeps it there.
	const n = 800
	onNext := 0
	buckets := map[string]string{}
	for range n {
		by, c := publicAs(t, r, -1)
		if c == "" {
			t.Fatal("a browser without the split cookie got none")
		}
		buckets[c] = by
		if by == "next" {
			onNext++
		}
	}
	if onNext < n*15/100 || onNext > n*35/100 {
		t.Errorf("%d of %d new browsers on next at 25%%, want about %d", onNext, n, n/4)
	}
	// Sticky: a browser with its cookie stays on its side, and gets no
	// new cookie.
	for c, first := range buckets {
		b, _ := strconv.Atoi(c)
		if by, again := publicAs(t, r, b); by != first || again != "" {
			t.Fatalf("bucket %d: served by %s then %s (new cookie %q)", b, first, by, again)
		}
	}
	// A higher weight moves only live's browsers, never back.
	if err := r.Switch(ctx, splitTable(current, next, 50)); err != nil {
		t.Fatal(err)
	}
	moved := 0
	for c, first := range buckets {
		b, _ := strconv.Atoi(c)
		by, _ := publicAs(t, r, b)
		if first == "next" && by != "next" {
			t.Fatalf("bucket %d left next when the weight rose", b)
		}
		if first != by {
			moved++
		}
	}
	if moved == 0 {
		t.Error("no browser moved to next when the weight went from 25% to 50%")
	}
	// Previews are unaffected by the split.
	req := httptest.NewRequest(http.MethodGet, "http://lms.local/", nil)
	req.Header.Set(router.PreviewHeader, "current")
	req.AddCookie(&http.Cookie{Name: router.SplitCookie, Value: "0"})
	if got := do(t, r, req); got.ServedBy != "current" {
		t.Errorf("a browser of next's side asking for current by header: served by %q", got.ServedBy)
	}
	req = httptest.NewRequest(http.MethodGet, "http://lms.local/", nil)
	req.Header.Set(router.PreviewHeader, "next")
	req.AddCookie(&http.Cookie{Name: router.SplitCookie, Value: "9999"})
	if got := do(t, r, req); got.ServedBy != "next" {
		t.Errorf("a browser of live's side previewing next: served by %q", got.ServedBy)
	}
	// Maintenance wins over the split.
	mt := splitTable(current, next, 50)
	mt.Maintenance = &router.Maintenance{RetryAfter: time.Second}
	if err := r.Switch(ctx, mt); err != nil {
		t.Fatal(err)
	}
	req = httptest.NewRequest(http.MethodGet, "http://lms.local/", nil)
	req.AddCookie(&http.Cookie{Name: router.SplitCookie, Value: "0"})
	if got := do(t, r, req); got.Code != http.StatusServiceUnavailable {
		t.Errorf("split during maintenance: %d, want 503", got.Code)
	}
	// Back to 0: every browser on the live release.
	if err := r.Switch(ctx, splitTable(current, next, 0)); err != nil {
		t.Fatal(err)
	}
	if by, _ := publicAs(t, r, 0); by != "current" {
		t.Errorf("bucket 0 after the split went away: served by %s", by)
	}
	if st := r.Status(); st.Split != nil {
		t.Errorf("status shows split %+v after it went away", st.Split)
	}
	// The metrics count each side under its own release.
	tr := r.Traffic()
	if tr["next"].Requests[1] == 0 || tr["current"].Requests[1] == 0 {
		t.Errorf("2xx counted: next %d, current %d: want both", tr["next"].Requests[1], tr["current"].Requests[1])
	}
}

func TestSplitBadTables(t *testing.T) {
	t.Parallel()
	current, next := backend(t, "current"), backend(t, "next")
	r := builtin.New(builtin.Options{})
	for _, tc := range []struct {
		name string
		t    router.Table
	}{
		{"zero", router.Table{Live: "current", Backends: []router.Backend{current, next}, Split: &router.Split{Release: "next", Percent: 0}}},
		{"hundred", router.Table{Live: "current", Backends: []router.Backend{current, next}, Split: &router.Split{Release: "next", Percent: 100}}},
		{"live", router.Table{Live: "current", Backends: []router.Backend{current, next}, Split: &router.Split{Release: "current", Percent: 10}}},
		{"not running", router.Table{Live: "current", Backends: []router.Backend{current}, Split: &router.Split{Release: "next", Percent: 10}}},
	} {
		if err := r.Switch(t.Context(), tc.t); err == nil {
			t.Errorf("%s: split %+v accepted", tc.name, tc.t.Split)
		}
		if st := r.Status(); st.Live != "" || st.Split != nil {
			t.Errorf("%s: a refused table changed the router: %+v", tc.name, st)
		}
	}
}

func TestSplitConformance(t *testing.T) {
	r := builtin.New(builtin.Options{Addr: "127.0.0.1:0", Allow: builtin.Loopback})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.ListenAndServe(ctx) }()
	<-r.Ready()
	t.Cleanup(func() { cancel(); <-done })
	routertest.RunSplit(t, r, r.Addr())
}
