package rollout_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/store"
)

const (
	adminPassword = "admin-pw-correct-horse"
	grantKey      = "grant-key-0123456789abcdef0123456789abcdef"
	dbPassword    = "next-db-pw-8c1f2e"
)

// access is an environment of three external releases behind a real serve:
// current live, old its rollback target, next being checked; previews open
// to 127.0.0.1 only, grants on, the admin address behind basic auth.
type access struct {
	t             *testing.T
	o             *rollout.Orchestrator
	env           *envfile.Environment
	public, admin string
}

func newAccess(t *testing.T) *access {
	t.Helper()
	cur, next, old := fakeRelease(t, "current"), fakeRelease(t, "next"), fakeRelease(t, "old")
	a := &access{t: t, public: freeAddr(t), admin: freeAddr(t)}
	dir := t.TempDir()
	yaml := `name: access
releases:
  - {name: current, version: "1.0", runner: external, health_url: "` + cur.URL + `/heartbeat"}
  - {name: next, version: "2.0", runner: external, health_url: "` + next.URL + `/heartbeat"}
  - {name: old, version: "0.9", runner: external, health_url: "` + old.URL + `/heartbeat"}
router:
  listen: "` + a.public + `"
  admin_listen: "` + a.admin + `"
  admin_auth: {user: ops, password: "${ADMIN_PW}"}
  retention: 1h
  maintenance: {retry_after: 9s, message: "final sync"}
  preview:
    allow: [127.0.0.1/32]
    grant_key: "${GRANT_KEY}"
`
	path := filepath.Join(dir, "termshift.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	lookup := func(k string) (string, bool) {
		switch k {
		case "ADMIN_PW":
			return adminPassword, true
		case "GRANT_KEY":
			return grantKey, true
		}
		return "", false
	}
	env, err := envfile.LoadEnvironment(path, lookup)
	if err != nil {
		t.Fatal(err)
	}
	a.env, a.o = env, orchestrator(t, env, "test")
	ctx := t.Context()
	s, _ := a.o.LoadState(ctx)
	now := time.Now()
	for _, name := range []string{"current", "next", "old"} {
		rs := s.Release(name)
		rs.Running = true
		rs.Namespaces = []*store.NamespaceState{{Namespace: termshift.Namespace{Service: termshift.Memcached, Logical: "default", Release: name, Name: "cache-" + name}, Status: store.NSCarved}}
	}
	s.Live, s.Previous, s.LiveSince = "current", "old", now
	// A password that leaked into state and into the journal (written
	// around the orchestrator's redaction): the dashboard must not show it.
	s.Releases["next"].Namespaces[0].Error = "auth failed for next:" + dbPassword
	if err := a.o.SaveState(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := a.o.Store.SaveCredentials(ctx, "next", map[string]termshift.Credential{"mysql/edxapp": {User: "edxapp_next", Password: dbPassword}}); err != nil {
		t.Fatal(err)
	}
	if err := a.o.Store.Append(ctx, store.Entry{Time: now, Actor: "x", Command: "restore next", Outcome: "failed", Detail: "dsn edxapp_next:" + dbPassword + "@tcp(db)/"}); err != nil {
		t.Fatal(err)
	}
	serveCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- orchestrator(t, env, "serve").Serve(serveCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	// The control socket exists before serve has bound its addresses:
	// wait for the admin address, bound last.
	up := func() bool {
		c, err := net.DialTimeout("tcp", a.admin, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil && a.o.Control().Running()
	}
	for i := 0; !up(); i++ {
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v", err)
		default:
		}
		if i > 300 {
			t.Fatal("serve did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return a
}

type reply struct {
	code     int
	servedBy string
	body     string
	header   http.Header
}

func (a *access) do(c *http.Client, req *http.Request) reply {
	a.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header.Get(router.ServedByHeader), string(b), resp.Header}
}

func from(t *testing.T, ip string, jar http.CookieJar) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Jar: jar, Timeout: 10 * time.Second}
}

func get(t *testing.T, url string, header ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

// TestServeAdminAddress: status, dashboard and metrics answer on the admin
// address (behind its auth) and not on the public one; the dashboard
// shows no secret the state or the journal holds.
func TestServeAdminAddress(t *testing.T) {
	a := newAccess(t)
	local := from(t, "127.0.0.1", nil)
	for _, path := range []string{"/_termshift/status", "/_termshift/metrics", "/_termshift/", "/_termshift/dashboard.json"} {
		if got := a.do(local, get(t, "http://"+a.public+path)); got.code != http.StatusNotFound || strings.Contains(got.body, "next") {
			t.Errorf("public %s: %d %q, want 404 naming nothing", path, got.code, got.body)
		}
		if got := a.do(local, get(t, "http://"+a.admin+path)); got.code != http.StatusUnauthorized || !strings.Contains(got.header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("admin %s without credentials: %d, want 401 asking for basic auth", path, got.code)
		}
		req := get(t, "http://"+a.admin+path)
		req.SetBasicAuth("ops", "wrong")
		if got := a.do(local, req); got.code != http.StatusUnauthorized {
			t.Errorf("admin %s with a wrong password: %d, want 401", path, got.code)
		}
	}
	authed := func(path string) reply {
		req := get(t, "http://"+a.admin+path)
		req.SetBasicAuth("ops", adminPassword)
		return a.do(local, req)
	}
	if got := authed("/_termshift/status"); got.code != 200 || !strings.Contains(got.body, `"live":"current"`) {
		t.Errorf("admin status: %d %s", got.code, got.body)
	}
	// Traffic first, so the metrics have something to count. The router
	// counts a request once its handler returns, which may be just after
	// the client has read the whole response: the scrape may come first.
	a.do(local, get(t, "http://"+a.public+"/"))
	const counted = `termshift_router_requests_total{class="2xx",release="current"} 1`
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := authed("/_termshift/metrics")
		if got.code == 200 && strings.Contains(got.body, counted) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("admin metrics: %d, want the public request counted within 5 s (%s)", got.code, counted)
			break
		}
	}
	for _, path := range []string{"/_termshift/", "/_termshift/dashboard.json"} {
		got := authed(path)
		if got.code != 200 || !strings.Contains(got.body, "next") || !strings.Contains(got.body, "[redacted]") {
			t.Errorf("dashboard %s: %d; want the releases, and the leaked password redacted", path, got.code)
		}
		for _, secret := range []string{dbPassword, adminPassword, grantKey} {
			if strings.Contains(got.body, secret) {
				t.Errorf("dashboard %s shows a secret (%s...)", path, secret[:8])
			}
		}
	}
	if got := authed("/_termshift/"); !strings.Contains(got.body, `href="http://`+a.public+`/_termshift/preview/next"`) {
		t.Errorf("dashboard: no preview button to the public address for next")
	}
}

// TestServePreviewAccess is the proof through serve and the
// commands' code: a client from 127.0.0.2 is refused the next release and
// the rollback target; preview-link's URL lets it in; preview-revoke shuts
// it out again; a maintenance window that holds next answers its previews
// with 503.
func TestServePreviewAccess(t *testing.T) {
	a := newAccess(t)
	outside := from(t, "127.0.0.2", nil)
	inside := from(t, "127.0.0.1", nil)
	for _, release := range []string{"next", "old"} {
		if got := a.do(outside, get(t, "http://"+a.public+"/", router.PreviewHeader, release)); got.code != http.StatusForbidden || got.servedBy != "" {
			t.Errorf("%s from outside: %d served by %q, want 403", release, got.code, got.servedBy)
		}
		if got := a.do(inside, get(t, "http://"+a.public+"/", router.PreviewHeader, release)); got.servedBy != release {
			t.Errorf("%s from the allowed network: %d served by %q", release, got.code, got.servedBy)
		}
	}

	a.o.Reason = "QA at the client's office"
	link, err := a.o.PreviewLink(t.Context(), "next", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link.URL, "http://"+a.public+"/_termshift/preview/next?grant=") || !link.Running {
		t.Errorf("link %+v", link)
	}
	jar, _ := cookiejar.New(nil)
	browser := from(t, "127.0.0.2", jar)
	if got := a.do(browser, get(t, link.URL)); got.code != 200 || got.servedBy != "next" {
		t.Errorf("grant link from outside: %d served by %q, want next", got.code, got.servedBy)
	}
	if got := a.do(browser, get(t, "http://"+a.public+"/courses")); got.servedBy != "next" {
		t.Errorf("next page with the grant cookie: served by %q, want next", got.servedBy)
	}
	if got := a.do(outside, get(t, "http://"+a.public+"/", router.GrantHeader, link.Token)); got.servedBy != "next" {
		t.Errorf("grant header from outside: %d served by %q, want next", got.code, got.servedBy)
	}
	entries, _, err := a.o.Store.ReadJournal(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1]
	if last.Step != "preview-link" || last.Reason != "QA at the client's office" || !strings.Contains(last.Detail, link.Grant.ID) || last.Actor == "" {
		t.Errorf("journal entry %+v: want preview-link with who, why and the grant ID", last)
	}
	for _, e := range entries {
		if strings.Contains(e.Detail+e.Reason+e.Command, link.Token) {
			t.Errorf("the journal holds the token: %+v", e)
		}
	}

	a.o.Reason = "QA is done"
	rev, err := a.o.PreviewRevoke(t.Context(), link.Grant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rev.Release != "next" || !rev.Expires.Equal(link.Grant.Expires) {
		t.Errorf("revocation %+v: want the release and expiry read back from the journal", rev)
	}
	if got := a.do(browser, get(t, "http://"+a.public+"/courses")); got.code != http.StatusForbidden || !strings.Contains(got.body, "revoked") {
		t.Errorf("revoked grant cookie: %d %q, want 403 saying revoked", got.code, got.body)
	}
	if _, err := a.o.PreviewRevoke(t.Context(), "not-an-id"); !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("revoke of a malformed ID: %v, want ErrInvalid", err)
	}
	a.o.Reason = ""
	if _, err := a.o.PreviewLink(t.Context(), "next", time.Hour); !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("preview-link without a reason: %v, want ErrInvalid", err)
	}

	// A final sync's window holds next: its previews get 503 too.
	s, _ := a.o.LoadState(t.Context())
	s.Maintenance = &store.Maintenance{Since: time.Now(), Release: "next", Message: "final sync", Releases: []string{"next"}}
	if err := a.o.SaveState(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if _, err := a.o.Control().Apply(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := a.do(inside, get(t, "http://"+a.public+"/", router.PreviewHeader, "next"))
	if got.code != http.StatusServiceUnavailable || got.header.Get("Retry-After") != "9" || got.servedBy != "" {
		t.Errorf("preview of next during its final sync: %d Retry-After %q served by %q; want 503, 9, nobody", got.code, got.header.Get("Retry-After"), got.servedBy)
	}
	if got := a.do(inside, get(t, "http://"+a.public+"/", router.PreviewHeader, "old")); got.servedBy != "old" {
		t.Errorf("preview of a release the sync does not hold: %d served by %q", got.code, got.servedBy)
	}
}

func TestServeRefusesABusyAdminAddress(t *testing.T) {
	a := newAccess(t)
	other := *a.env
	other.StateDir = t.TempDir()
	other.Router.Listen = freeAddr(t)
	// Bounded: a serve that wrongly starts must not hang the test.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := orchestrator(t, &other, "serve").Serve(ctx)
	if err == nil || !strings.Contains(err.Error(), "admin address cannot bind "+a.admin) {
		t.Errorf("serve with a busy admin address = %v", err)
	}
}

func TestPreviewLinkWithoutAKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "termshift.yaml")
	if err := os.WriteFile(path, []byte("name: nokey\nreleases: [{name: next, version: \"2\", runner: external, health_url: \"http://127.0.0.1:1/\"}]\nrouter: {listen: \"127.0.0.1:1\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := envfile.LoadEnvironment(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	o := orchestrator(t, env, "preview-link next")
	o.Reason = "QA"
	_, err = o.PreviewLink(t.Context(), "next", time.Hour)
	var hint *termshift.HintError
	if !errors.Is(err, termshift.ErrInvalid) || !strings.Contains(err.Error(), "router.preview.grant_key is not set") || !errors.As(err, &hint) || !strings.Contains(hint.Hint, "openssl rand -hex 32") {
		t.Errorf("preview-link without a key: %v", err)
	}
}
