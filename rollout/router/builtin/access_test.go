package builtin_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/router/builtin"
	"github.com/termshift/termshift/rollout/router/grant"
)

const grantKey = termshift.Secret("test-grant-key-0123456789abcdef0123456789")

// serving runs r on a loopback port until the test ends and returns its
// address.
func serving(t *testing.T, r *builtin.Router) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.ListenAndServe(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("router: %v", err)
		}
	})
	<-r.Ready()
	if r.Addr() == "" {
		t.Fatalf("router did not bind: %v", <-done)
	}
	return r.Addr()
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip: 127.0.0.2 is outside an allowed network of 127.0.0.1/32.
func clientFrom(t *testing.T, ip string, jar http.CookieJar) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second}
}

type request struct {
	host   string
	path   string
	header map[string]string
	cookie map[string]string
}

func send(t *testing.T, c *http.Client, addr string, rq request) answer {
	t.Helper()
	path := rq.path
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rq.host != "" {
		req.Host = rq.host
	}
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	for k, v := range rq.cookie {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{Code: resp.StatusCode, ServedBy: resp.Header.Get(router.ServedByHeader), Body: string(b)}
}

// TestPreviewsFromOutsideTheAllowedNetworks is the proof of the access
// rule on the real router: a client from 127.0.0.2, outside the allowed
// 127.0.0.1/32, asks for the next release and for the rollback target by
// header, cookie and host name and is refused with a page that names
// neither; with a valid grant it is served; an expired, tampered or revoked
// grant, or one for another release, is refused.
func TestPreviewsFromOutsideTheAllowedNetworks(t *testing.T) {
	t.Parallel()
	keys, err := grant.NewKeys(grantKey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r := builtin.New(builtin.Options{Addr: "127.0.0.1:0", Host: "lms.test", Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Grants: keys})
	// next is the release QA checks, old the rollback target.
	table := router.Table{Live: "current", Backends: []router.Backend{backend(t, "current"), backend(t, "next"), backend(t, "old")}}
	if err := r.Switch(t.Context(), table); err != nil {
		t.Fatal(err)
	}
	addr := serving(t, r)
	outside := clientFrom(t, "127.0.0.2", nil)
	inside := clientFrom(t, "127.0.0.1", nil)
	public := answer{Code: 200, ServedBy: "current", Body: "release current"}
	if got := send(t, outside, addr, request{}); got != public {
		t.Fatalf("public request from outside: %+v", got)
	}

	for _, release := range []string{"next", "old"} {
		asks := map[string]request{
			"header": {header: map[string]string{router.PreviewHeader: release}},
			"cookie": {cookie: map[string]string{router.PreviewCookie: release}},
			"host":   {host: release + ".lms.test"},
			"link":   {path: "/_termshift/preview/" + release},
		}
		for how, rq := range asks {
			got := send(t, outside, addr, rq)
			if got.Code != http.StatusForbidden || got.ServedBy != "" {
				t.Errorf("%s by %s from outside: %+v, want 403 served by nobody", release, how, got)
			}
			for _, name := range []string{"next", "old", "current"} {
				if strings.Contains(got.Body, name) {
					t.Errorf("%s by %s from outside: the refusal names %q: %q", release, how, name, got.Body)
				}
			}
			if how == "link" {
				continue
			}
			want := answer{Code: 200, ServedBy: release, Body: "release " + release}
			if got := send(t, inside, addr, rq); got != want {
				t.Errorf("%s by %s from the allowed network: %+v, want %+v", release, how, got, want)
			}
		}
	}
	// A release that does not exist is refused from outside just like one
	// that does: the answer tells nothing.
	if got := send(t, outside, addr, request{header: map[string]string{router.PreviewHeader: "nosuch"}}); got.Code != http.StatusForbidden {
		t.Errorf("unknown release from outside: %+v, want 403", got)
	}

	mint := func(release string, ttl time.Duration, at time.Time) (grant.Grant, string) {
		g, err := grant.New(release, ttl, at)
		if err != nil {
			t.Fatal(err)
		}
		return g, keys.Sign(g)
	}
	nextGrant, nextToken := mint("next", time.Hour, now)
	_, oldToken := mint("old", time.Hour, now)
	_, expired := mint("next", time.Minute, now.Add(-time.Hour))
	tampered := strings.Replace(nextToken, ".next.", ".old.", 1)
	otherKey, _ := grant.NewKeys("another-key-0123456789abcdef0123456789abcdef")
	forged := otherKey.Sign(nextGrant)

	served := func(release string) answer { return answer{Code: 200, ServedBy: release, Body: "release " + release} }
	tests := []struct {
		name string
		rq   request
		want int
	}{
		{"grant header alone", request{header: map[string]string{router.GrantHeader: nextToken}}, 200},
		{"grant header with release header", request{header: map[string]string{router.GrantHeader: nextToken, router.PreviewHeader: "next"}}, 200},
		{"grant cookie", request{cookie: map[string]string{router.GrantCookie: nextToken}}, 200},
		{"grant cookie on the host name", request{host: "next.lms.test", cookie: map[string]string{router.GrantCookie: nextToken}}, 200},
		{"grant of the rollback target", request{header: map[string]string{router.GrantHeader: oldToken}}, 200},
		{"grant for another release", request{header: map[string]string{router.GrantHeader: nextToken, router.PreviewHeader: "old"}}, 403},
		{"grant for another release by host", request{host: "old.lms.test", cookie: map[string]string{router.GrantCookie: nextToken}}, 403},
		{"expired grant", request{header: map[string]string{router.GrantHeader: expired}}, 403},
		{"expired grant with release header", request{header: map[string]string{router.GrantHeader: expired, router.PreviewHeader: "next"}}, 403},
		{"tampered grant", request{header: map[string]string{router.GrantHeader: tampered}}, 403},
		{"grant of another key", request{cookie: map[string]string{router.GrantCookie: forged}}, 403},
	}
	for _, tt := range tests {
		got := send(t, outside, addr, tt.rq)
		switch tt.want {
		case 200:
			release := "next"
			if strings.Contains(tt.name, "rollback target") {
				release = "old"
			}
			if got != served(release) {
				t.Errorf("%s: %+v, want %+v", tt.name, got, served(release))
			}
		default:
			if got.Code != tt.want || got.ServedBy != "" {
				t.Errorf("%s: %+v, want %d served by nobody", tt.name, got, tt.want)
			}
		}
	}

	// serve applies revocations from state through Switch.
	table.RevokedGrants = []string{nextGrant.ID}
	if err := r.Switch(t.Context(), table); err != nil {
		t.Fatal(err)
	}
	for _, rq := range []request{
		{header: map[string]string{router.GrantHeader: nextToken}},
		{cookie: map[string]string{router.GrantCookie: nextToken}},
		{path: "/_termshift/preview/next?grant=" + nextToken},
	} {
		if got := send(t, outside, addr, rq); got.Code != http.StatusForbidden || !strings.Contains(got.Body, "revoked") {
			t.Errorf("revoked grant %+v: %+v, want 403 saying revoked", rq, got)
		}
	}
	if got := send(t, outside, addr, request{header: map[string]string{router.GrantHeader: oldToken}}); got != served("old") {
		t.Errorf("another grant after a revocation: %+v", got)
	}
}

// TestGrantLinkFlow follows what a QA person outside does with the URL of
// `termshift preview-link`: it sets the grant cookie and sends the browser
// to the release; stop clears it.
func TestGrantLinkFlow(t *testing.T) {
	t.Parallel()
	keys, _ := grant.NewKeys(grantKey)
	r := builtin.New(builtin.Options{Addr: "127.0.0.1:0", Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Grants: keys, SecureCookies: true})
	r.Update("current", []router.Backend{backend(t, "current"), backend(t, "next")})
	addr := serving(t, r)
	g, _ := grant.New("next", 8*time.Hour, time.Now())
	token := keys.Sign(g)

	// The cookie's attributes, as the browser gets them.
	noRedirect := clientFrom(t, "127.0.0.2", nil)
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Get("http://" + addr + "/_termshift/preview/next?grant=" + url.QueryEscape(token))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var gc *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == router.GrantCookie {
			gc = c
		}
	}
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" || gc == nil {
		t.Fatalf("grant link: %d to %q, cookies %v; want 302 to / with the grant cookie", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
	}
	if !gc.HttpOnly || !gc.Secure || gc.SameSite != http.SameSiteLaxMode || gc.Path != "/" || gc.Value != token || gc.MaxAge <= 7*3600 || gc.MaxAge > 8*3600 {
		t.Errorf("grant cookie %+v: want HttpOnly, Secure, SameSite=Lax, Path=/, the token, Max-Age up to the grant's expiry", gc)
	}

	// A browser: the cookie jar does not send Secure cookies over http, so
	// this one runs against a router that does not mark them.
	plain := builtin.New(builtin.Options{Addr: "127.0.0.1:0", Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Grants: keys})
	plain.Update("current", []router.Backend{backend(t, "current"), backend(t, "next")})
	paddr := serving(t, plain)
	browser := clientFrom(t, "127.0.0.2", newJar(t))
	steps := []struct {
		path string
		want answer
	}{
		{"/", answer{Code: 200, ServedBy: "current", Body: "release current"}},
		{"/_termshift/preview/next?grant=" + token, answer{Code: 200, ServedBy: "next", Body: "release next"}},
		{"/courses", answer{Code: 200, ServedBy: "next", Body: "release next"}},
		{"/_termshift/preview/?clear=1", answer{Code: 200, ServedBy: "current", Body: "release current"}},
		{"/courses", answer{Code: 200, ServedBy: "current", Body: "release current"}},
	}
	for i, s := range steps {
		if got := send(t, browser, paddr, request{path: s.path}); got != s.want {
			t.Errorf("step %d GET %s: %+v, want %+v", i, s.path, got, s.want)
		}
	}
	// A grant link for a release that does not run: a clear 404, no
	// cookie, no redirect (no loop).
	gone, _ := grant.New("gone", time.Hour, time.Now())
	got := send(t, browser, paddr, request{path: "/_termshift/preview/gone?grant=" + keys.Sign(gone)})
	if got.Code != http.StatusNotFound || !strings.Contains(got.Body, `"gone"`) || strings.Contains(got.Body, "next") {
		t.Errorf("grant link of a release that does not run: %+v, want 404 naming only it", got)
	}
	if got := send(t, browser, paddr, request{}); got.ServedBy != "current" {
		t.Errorf("after the 404 the browser is on %q, want current", got.ServedBy)
	}
	// A link whose grant names another release than its path.
	if got := send(t, browser, paddr, request{path: "/_termshift/preview/current?grant=" + token}); got.Code != http.StatusForbidden {
		t.Errorf("grant of next on the link of current: %+v, want 403", got)
	}
}

func TestNoGrantKeyRefusesGrants(t *testing.T) {
	t.Parallel()
	keys, _ := grant.NewKeys(grantKey)
	g, _ := grant.New("next", time.Hour, time.Now())
	r := builtin.New(builtin.Options{})
	r.Update("current", []router.Backend{backend(t, "current"), backend(t, "next")})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(router.GrantHeader, keys.Sign(g))
	got := do(t, r, req)
	if got.Code != http.StatusForbidden || !strings.Contains(got.Body, "no grant key") {
		t.Errorf("a grant at a router without keys: %+v, want 403 saying no key is configured", got)
	}
}

func TestGrantNeverReachesTheRelease(t *testing.T) {
	t.Parallel()
	keys, _ := grant.NewKeys(grantKey)
	seen := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen <- r.Header.Clone() }))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	r := builtin.New(builtin.Options{Grants: keys})
	r.Update("current", []router.Backend{backend(t, "current"), {Release: "next", URL: u}})
	g, _ := grant.New("next", time.Hour, time.Now())
	token := keys.Sign(g)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(router.GrantHeader, token)
	req.Header.Set("Cookie", "sessionid=abc; "+router.GrantCookie+"="+token+"; csrftoken=x")
	if got := do(t, r, req); got.Code != 200 {
		t.Fatalf("grant preview: %+v", got)
	}
	h := <-seen
	if diff := cmp.Diff(h.Values("Cookie"), []string{"sessionid=abc; csrftoken=x"}); diff != "" {
		t.Errorf("cookies the release got (-got +want):\n%s", diff)
	}
	if h.Get(router.GrantHeader) != "" {
		t.Errorf("the release got the grant header")
	}
}

func TestClient(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("127.0.0.1/32")}
	tests := []struct {
		name      string
		peer      string
		xff       []string
		forwarded string
		want      string // "" when the client cannot be told
	}{
		{"direct", "203.0.113.7:5000", nil, "", "203.0.113.7"},
		{"ipv6 direct", "[2001:db8::1]:5000", nil, "", "2001:db8::1"},
		{"4in6 peer", "[::ffff:203.0.113.7]:5000", nil, "", "203.0.113.7"},
		{"untrusted peer with xff is unknown", "203.0.113.7:5000", []string{"127.0.0.1"}, "", ""},
		{"untrusted peer with Forwarded is unknown", "203.0.113.7:5000", nil, "for=127.0.0.1", ""},
		{"trusted proxy without xff is itself", "10.0.0.5:5000", nil, "", "10.0.0.5"},
		{"trusted proxy, one client", "10.0.0.5:5000", []string{"198.51.100.9"}, "", "198.51.100.9"},
		{"spoofed left entries are ignored", "10.0.0.5:5000", []string{"127.0.0.1, 198.51.100.9"}, "", "198.51.100.9"},
		{"chain of trusted proxies", "127.0.0.1:5000", []string{"198.51.100.9, 10.0.0.7"}, "", "198.51.100.9"},
		{"several header lines", "10.0.0.5:5000", []string{"192.0.2.1", "198.51.100.9, 10.0.0.8"}, "", "198.51.100.9"},
		{"all trusted: the leftmost", "10.0.0.5:5000", []string{"10.0.0.9, 10.0.0.8"}, "", "10.0.0.9"},
		{"garbage entry is unknown", "10.0.0.5:5000", []string{"1.2.3.4, not-an-ip"}, "", ""},
		{"entry with port", "10.0.0.5:5000", []string{"198.51.100.9:4711"}, "", "198.51.100.9"},
		{"trusted peer with only Forwarded", "10.0.0.5:5000", nil, "for=198.51.100.9", ""},
		{"bad peer", "pipe", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if tt.forwarded != "" {
				req.Header.Set("Forwarded", tt.forwarded)
			}
			got, ok := builtin.Client(req, trusted)
			if tt.want == "" {
				if ok {
					t.Errorf("Client = %v, want unknown", got)
				}
				return
			}
			if !ok || got.String() != tt.want {
				t.Errorf("Client = %v, %v; want %s", got, ok, tt.want)
			}
		})
	}
}

// TestPreviewBehindATrustedProxy: the allowed network is the client's as
// the trusted proxy reports it, never the proxy's own.
func TestPreviewBehindATrustedProxy(t *testing.T) {
	t.Parallel()
	r := builtin.New(builtin.Options{Allow: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}})
	r.Update("current", []router.Backend{backend(t, "current"), backend(t, "next")})
	for _, tt := range []struct {
		xff  string
		want int
	}{
		{"198.51.100.9", 200},
		{"203.0.113.7", 403},
		{"198.51.100.9, 203.0.113.7", 403}, // the client wrote the left entry
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = "10.0.0.5:4000"
		req.Header.Set("X-Forwarded-For", tt.xff)
		req.Header.Set(router.PreviewHeader, "next")
		if got := do(t, r, req); got.Code != tt.want {
			t.Errorf("X-Forwarded-For %q: %+v, want %d", tt.xff, got, tt.want)
		}
	}
}

// TestMaintenanceHoldsPreviewsOfSyncedReleases: during a final sync's
// window, previews of the releases it writes into get 503 with
// Retry-After; other previews pass.
func TestMaintenanceHoldsPreviewsOfSyncedReleases(t *testing.T) {
	t.Parallel()
	r := builtin.New(builtin.Options{Allow: testNet})
	table := router.Table{Live: "current", Backends: []router.Backend{backend(t, "current"), backend(t, "next"), backend(t, "old")},
		Maintenance: &router.Maintenance{RetryAfter: 30 * time.Second, Message: "final sync to next", Releases: []string{"next", "current"}}}
	if err := r.Switch(t.Context(), table); err != nil {
		t.Fatal(err)
	}
	for _, ask := range []string{"", "current", "next"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if ask != "" {
			req.Header.Set(router.PreviewHeader, ask)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != 503 || rec.Header().Get("Retry-After") != "30" || rec.Body.String() != "final sync to next\n" || rec.Header().Get(router.ServedByHeader) != "" {
			t.Errorf("preview %q during the final sync: %d Retry-After=%q %q; want 503, 30, the message", ask, rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(router.PreviewHeader, "old")
	if got := do(t, r, req); got != (answer{Code: 200, ServedBy: "old", Body: "release old"}) {
		t.Errorf("preview of a release the sync does not touch: %+v", got)
	}
	if st := r.Status(); !st.Maintenance || !cmp.Equal(st.HeldPreviews, []string{"current", "next"}) {
		t.Errorf("status %+v: want maintenance with held previews current, next", st)
	}
	table.Maintenance = nil
	if err := r.Switch(t.Context(), table); err != nil {
		t.Fatal(err)
	}
	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(router.PreviewHeader, "next")
	if got := do(t, r, req); got != (answer{Code: 200, ServedBy: "next", Body: "release next"}) {
		t.Errorf("after the window: %+v", got)
	}
}
