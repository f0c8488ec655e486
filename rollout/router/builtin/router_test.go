package builtin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/router/builtin"
	"github.com/termshift/termshift/rollout/router/routertest"
)

var (
	backend     = routertest.Backend
	deadBackend = routertest.DeadBackend
)

type answer = routertest.Answer

func do(t *testing.T, h http.Handler, req *http.Request) answer {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return answer{Code: rec.Code, ServedBy: rec.Header().Get(router.ServedByHeader), Body: rec.Body.String()}
}

// testNet is the network of httptest.NewRequest's client (192.0.2.1).
var testNet = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}

func TestRouting(t *testing.T) {
	t.Parallel()
	current, next := backend(t, "current"), backend(t, "next")
	r := builtin.New(builtin.Options{Host: "lms.local", Allow: testNet})
	r.Update("current", []router.Backend{current, next})

	tests := []struct {
		name  string
		host  string
		setup func(*http.Request)
		want  answer
	}{
		{name: "public", host: "lms.local", want: answer{Code: 200, ServedBy: "current", Body: "release current"}},
		{name: "header", host: "lms.local", setup: func(r *http.Request) { r.Header.Set("X-Termshift-Release", "next") },
			want: answer{Code: 200, ServedBy: "next", Body: "release next"}},
		{name: "header live release", host: "lms.local", setup: func(r *http.Request) { r.Header.Set("X-Termshift-Release", "current") },
			want: answer{Code: 200, ServedBy: "current", Body: "release current"}},
		{name: "host prefix", host: "next.lms.local", want: answer{Code: 200, ServedBy: "next", Body: "release next"}},
		{name: "host prefix with port", host: "NEXT.lms.local:8080", want: answer{Code: 200, ServedBy: "next", Body: "release next"}},
		{name: "host two labels is public", host: "a.next.lms.local", want: answer{Code: 200, ServedBy: "current", Body: "release current"}},
		{name: "other domain is public", host: "next.example.com", want: answer{Code: 200, ServedBy: "current", Body: "release current"}},
		{name: "cookie", host: "lms.local", setup: func(r *http.Request) { r.AddCookie(&http.Cookie{Name: router.PreviewCookie, Value: "next"}) },
			want: answer{Code: 200, ServedBy: "next", Body: "release next"}},
		// A 404 names what was asked, never the releases that run.
		{name: "unknown header release", host: "lms.local", setup: func(r *http.Request) { r.Header.Set("X-Termshift-Release", "nope") },
			want: answer{Code: 404, ServedBy: "", Body: unknownBody("nope", "header")}},
		{name: "unknown host release", host: "nextt.lms.local",
			want: answer{Code: 404, ServedBy: "", Body: unknownBody("nextt", "host")}},
		{name: "unknown cookie release", host: "lms.local", setup: func(r *http.Request) { r.AddCookie(&http.Cookie{Name: router.PreviewCookie, Value: "gone"}) },
			want: answer{Code: 404, ServedBy: "", Body: unknownBody("gone", "cookie")}},
		{name: "unknown control path", host: "lms.local", want: answer{Code: 404, ServedBy: "", Body: "Not found.\n"}},
		{name: "status is not on the public address", host: "lms.local", want: answer{Code: 404, ServedBy: "", Body: "Not found.\n"}},
		{name: "metrics are not on the public address", host: "lms.local", want: answer{Code: 404, ServedBy: "", Body: "Not found.\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := map[string]string{
				"unknown control path":                  "/_termshift/nothing",
				"status is not on the public address":   "/_termshift/status",
				"metrics are not on the public address": "/_termshift/metrics",
			}[tt.name]
			if path == "" {
				path = "/courses"
			}
			req := httptest.NewRequest(http.MethodGet, "http://"+tt.host+path, nil)
			if tt.setup != nil {
				tt.setup(req)
			}
			got := do(t, r, req)
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("answer (-got +want):\n%s", diff)
			}
		})
	}
}

func TestHostIsPreserved(t *testing.T) {
	t.Parallel()
	r := builtin.New(builtin.Options{})
	r.Update("current", []router.Backend{backend(t, "current")})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://lms.example.org/", nil))
	if got := rec.Header().Get("X-Seen-Host"); got != "lms.example.org" {
		t.Errorf("backend saw Host %q, want lms.example.org", got)
	}
}

func TestBackendSetsServedBy(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set(router.ServedByHeader, "forged")
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	r := builtin.New(builtin.Options{})
	r.Update("current", []router.Backend{{Release: "current", URL: u}})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if diff := cmp.Diff(rec.Header().Values(router.ServedByHeader), []string{"current"}); diff != "" {
		t.Errorf("served-by (-got +want):\n%s", diff)
	}
}

func TestPreviewCookieFlow(t *testing.T) {
	t.Parallel()
	r := builtin.New(builtin.Options{Allow: builtin.Loopback})
	r.Update("current", []router.Backend{backend(t, "current"), backend(t, "next")})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	jar := newJar(t)
	c := &http.Client{Jar: jar}
	get := func(path string) answer {
		t.Helper()
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{Code: resp.StatusCode, ServedBy: resp.Header.Get(router.ServedByHeader), Body: string(b)}
	}
	// Each step follows the 302 to "/".
	steps := []struct {
		path string
		want answer
	}{
		{"/", answer{Code: 200, ServedBy: "current", Body: "release current"}},
		{"/_termshift/preview/next", answer{Code: 200, ServedBy: "next", Body: "release next"}},
		{"/other", answer{Code: 200, ServedBy: "next", Body: "release next"}},
		{"/_termshift/preview/?clear=1", answer{Code: 200, ServedBy: "current", Body: "release current"}},
		{"/_termshift/preview/next", answer{Code: 200, ServedBy: "next", Body: "release next"}},
		{"/_termshift/preview/", answer{Code: 200, ServedBy: "current", Body: "release current"}},
	}
	for i, s := range steps {
		if diff := cmp.Diff(get(s.path), s.want); diff != "" {
			t.Errorf("step %d GET %s (-got +want):\n%s", i, s.path, diff)
		}
	}
	got := get("/_termshift/preview/nope")
	if got.Code != http.StatusNotFound || !strings.Contains(got.Body, `"nope"`) || strings.Contains(got.Body, `"next"`) {
		t.Errorf("preview of unknown release: got %+v, want 404 naming it and no running one", got)
	}
	// An unknown release does not set the cookie: the next request is public.
	if diff := cmp.Diff(get("/"), answer{Code: 200, ServedBy: "current", Body: "release current"}); diff != "" {
		t.Errorf("after unknown preview (-got +want):\n%s", diff)
	}
}

const noLive = "No release is live: there is nothing to serve yet.\n"

func unknownBody(release, how string) string {
	return "No running release is called \"" + release + "\" (asked by " + how + "). The releases that run are listed on the termshift dashboard of the admin address.\n"
}

func newJar(t *testing.T) http.CookieJar {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return jar
}

func TestNoLiveRelease(t *testing.T) {
	t.Parallel()
	r := builtin.New(builtin.Options{})
	got := do(t, r, httptest.NewRequest(http.MethodGet, "/", nil))
	if diff := cmp.Diff(got, answer{Code: 503, ServedBy: "", Body: noLive}); diff != "" {
		t.Errorf("empty router (-got +want):\n%s", diff)
	}
	// A live release without a backend is no live release either.
	r.Update("ghost", []router.Backend{backend(t, "next")})
	got = do(t, r, httptest.NewRequest(http.MethodGet, "/", nil))
	if diff := cmp.Diff(got, answer{Code: 503, ServedBy: "", Body: noLive}); diff != "" {
		t.Errorf("live without backend (-got +want):\n%s", diff)
	}
}

func TestBackendDown(t *testing.T) {
	t.Parallel()
	r := builtin.New(builtin.Options{})
	r.Update("current", []router.Backend{deadBackend(t, "current")})
	got := do(t, r, httptest.NewRequest(http.MethodGet, "/", nil))
	want := answer{Code: 502, ServedBy: "current", Body: "Release \"current\" is not answering (bad gateway).\n"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("dead backend (-got +want):\n%s", diff)
	}
}

func TestMaintenance(t *testing.T) {
	t.Parallel()
	r := builtin.New(builtin.Options{Allow: testNet})
	r.Update("current", []router.Backend{backend(t, "current"), backend(t, "next")})
	r.SetMaintenance(true, 1500*time.Millisecond, "upgrading to redwood")

	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "2" || rec.Body.String() != "upgrading to redwood\n" {
		t.Errorf("public during maintenance: %d Retry-After=%q %q; want 503, 2, the message", rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Termshift-Release", "next")
	if diff := cmp.Diff(do(t, r, req), answer{Code: 200, ServedBy: "next", Body: "release next"}); diff != "" {
		t.Errorf("preview during maintenance (-got +want):\n%s", diff)
	}
	// Update keeps maintenance on.
	r.Update("next", []router.Backend{backend(t, "next")})
	if _, _, m := r.Table(); !m {
		t.Error("Update turned maintenance off")
	}
	r.SetMaintenance(false, 0, "")
	if diff := cmp.Diff(do(t, r, httptest.NewRequest(http.MethodGet, "/", nil)), answer{Code: 200, ServedBy: "next", Body: "release next"}); diff != "" {
		t.Errorf("after maintenance (-got +want):\n%s", diff)
	}
}

func TestStatusAndTable(t *testing.T) {
	t.Parallel()
	current, next := backend(t, "current"), backend(t, "next")
	r := builtin.New(builtin.Options{})
	r.Update("next", []router.Backend{next, current, {Release: "current", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}}})

	live, bs, m := r.Table()
	if live != "next" || m || len(bs) != 2 || bs[0].Release != "current" || bs[0].URL.String() != current.URL.String() || bs[1].Release != "next" {
		t.Errorf("Table() = %q, %v, %v; want next, [current next] sorted with the first current backend, false", live, bs, m)
	}
	// Table returns copies: changing them does not change the router.
	bs[0].URL.Host = "changed:1"
	if _, again, _ := r.Table(); again[0].URL.Host == "changed:1" {
		t.Error("Table() shares URLs with the routing table")
	}

	rec := httptest.NewRecorder()
	r.StatusHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_termshift/status", nil))
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("status is not JSON: %v: %s", err, rec.Body)
	}
	want := map[string]any{
		"live": "next",
		"backends": []any{
			map[string]any{"release": "current", "url": current.URL.String()},
			map[string]any{"release": "next", "url": next.URL.String()},
		},
		"maintenance":    false,
		"revoked_grants": float64(0),
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("status (-got +want):\n%s", diff)
	}
}

func TestSwitch(t *testing.T) {
	t.Parallel()
	r := builtin.New(builtin.Options{})
	if err := r.Switch(t.Context(), router.Table{Live: "next", Backends: []router.Backend{{Release: "next"}}}); err == nil {
		t.Error("Switch to a backend without URL: no error")
	}
	table := router.Table{Live: "next", Backends: []router.Backend{backend(t, "current"), backend(t, "next")},
		Maintenance: &router.Maintenance{RetryAfter: 7 * time.Second, Message: "back soon"}}
	if err := r.Switch(t.Context(), table); err != nil {
		t.Fatal(err)
	}
	if live, bs, maint := r.Table(); live != "next" || len(bs) != 2 || !maint {
		t.Errorf("after Switch: live %q, %d backends, maintenance %v; want next, 2, on", live, len(bs), maint)
	}
	table.Maintenance = nil
	if err := r.Switch(t.Context(), table); err != nil {
		t.Fatal(err)
	}
	if _, _, maint := r.Table(); maint {
		t.Error("maintenance still on after a table without it")
	}
}

func TestListenAndServe(t *testing.T) {
	t.Parallel()
	r := builtin.New(builtin.Options{Addr: "127.0.0.1:0"})
	r.Update("current", []router.Backend{backend(t, "current")})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.ListenAndServe(ctx) }()
	<-r.Ready()
	if r.Addr() == "" {
		t.Fatalf("not bound: %v", <-done)
	}
	resp, err := http.Get("http://" + r.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get(router.ServedByHeader) != "current" {
		t.Errorf("served by %q, want current", resp.Header.Get(router.ServedByHeader))
	}

	// A second router on the same address cannot bind and says why.
	r2 := builtin.New(builtin.Options{Addr: r.Addr()})
	err = r2.ListenAndServe(t.Context())
	if err == nil || !strings.Contains(err.Error(), "could not bind "+r.Addr()) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("bind of a busy address: %v; want could not bind ADDR: address already in use", err)
	}
	if err := r.ListenAndServe(t.Context()); err == nil {
		t.Error("second ListenAndServe on the same router: no error")
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenAndServe after cancel: %v", err)
	}
	if _, err := http.Get("http://" + r.Addr() + "/"); err == nil {
		t.Error("router still answers after shutdown")
	}
}

// TestNoFailedRequestsAcrossUpdate runs concurrent keep-alive clients while
// the live release flips between two backends: not one request may fail.
func TestNoFailedRequestsAcrossUpdate(t *testing.T) {
	t.Parallel()
	a, b := backend(t, "blue"), backend(t, "green")
	r := builtin.New(builtin.Options{})
	r.Update("blue", []router.Backend{a, b})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	const (
		workers    = 8
		perWorker  = 300
		updates    = 200
		maxRuntime = 20 * time.Second
	)
	ctx, cancel := context.WithTimeout(t.Context(), maxRuntime)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	t.Cleanup(client.CloseIdleConnections)

	var (
		wg     sync.WaitGroup
		ok     atomic.Int64
		served sync.Map
		errMu  sync.Mutex
		errs   []string
	)
	for range workers {
		wg.Go(func() {
			for range perWorker {
				if ctx.Err() != nil {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/", nil)
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = errors.New(resp.Status)
					}
				}
				if err != nil {
					errMu.Lock()
					errs = append(errs, err.Error())
					errMu.Unlock()
					continue
				}
				ok.Add(1)
				served.Store(resp.Header.Get(router.ServedByHeader), true)
			}
		})
	}
	wg.Go(func() {
		for i := range updates {
			if ctx.Err() != nil {
				return
			}
			if i%2 == 0 {
				r.Update("green", []router.Backend{a, b})
			} else {
				r.Update("blue", []router.Backend{a, b})
			}
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d requests failed across Update; first: %s", len(errs), workers*perWorker, errs[0])
	}
	if got := ok.Load(); got != workers*perWorker {
		t.Fatalf("%d requests succeeded, want %d (the run hit its time bound)", got, workers*perWorker)
	}
	for _, rel := range []string{"blue", "green"} {
		if _, ok := served.Load(rel); !ok {
			t.Errorf("no request was served by %s", rel)
		}
	}
}

func TestConformance(t *testing.T) {
	r := builtin.New(builtin.Options{Addr: "127.0.0.1:0", Allow: builtin.Loopback})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.ListenAndServe(ctx) }()
	<-r.Ready()
	t.Cleanup(func() { cancel(); <-done })
	routertest.Run(t, r, r.Addr())
}
