// Package routertest holds what router providers' tests share: release
// backends that say who they are, and Run, the conformance suite every
// provider that serves HTTP passes: public traffic to the live release,
// previews by header, a cutover and a rollback, each checked by the
// served-by header a real request gets.
package routertest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/termshift/termshift/rollout/router"
)

// Backend starts an HTTP server that answers "release NAME" and echoes the
// Host it saw in X-Seen-Host.
func Backend(t testing.TB, release string) router.Backend {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Host", r.Host)
		fmt.Fprintf(w, "release %s", release)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return router.Backend{Release: release, URL: u}
}

// DeadBackend returns a backend whose address refuses connections.
func DeadBackend(t testing.TB, release string) router.Backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return router.Backend{Release: release, URL: &url.URL{Scheme: "http", Host: addr}}
}

// Answer is what one request got.
type Answer struct {
	Code     int
	ServedBy string
	Body     string
}

// Get sends GET / to addr, previewing release by header when it is not "".
func Get(t testing.TB, addr, preview string) Answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if preview != "" {
		req.Header.Set(router.PreviewHeader, preview)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Answer{Code: -1, Body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return Answer{resp.StatusCode, resp.Header.Get(router.ServedByHeader), string(b)}
}

// Provider is a router under test: Switch applies a table, Addr is where
// it serves public traffic.
type Provider interface {
	Switch(ctx context.Context, t router.Table) error
}

// Run is the conformance suite. Providers that apply a table
// asynchronously (nginx reloads its workers) are polled until they agree,
// within a bound: a table that is never served fails.
func Run(t *testing.T, p Provider, addr string) {
	ctx := t.Context()
	blue, green := Backend(t, "blue"), Backend(t, "green")
	table := func(live string) router.Table {
		return router.Table{Live: live, Backends: []router.Backend{blue, green}}
	}
	want := func(preview, release string) {
		t.Helper()
		w := Answer{200, release, "release " + release}
		var got Answer
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if got = Get(t, addr, preview); got == w {
				return
			}
		}
		t.Errorf("request previewing %q got %+v, want %+v", preview, got, w)
	}
	if err := p.Switch(ctx, table("blue")); err != nil {
		t.Fatalf("Switch to blue: %v", err)
	}
	want("", "blue")
	want("green", "green")
	want("blue", "blue")
	if err := p.Switch(ctx, table("green")); err != nil {
		t.Fatalf("cutover to green: %v", err)
	}
	want("", "green")
	want("blue", "blue")
	if err := p.Switch(ctx, table("blue")); err != nil {
		t.Fatalf("rollback to blue: %v", err)
	}
	want("", "blue")
	if err := p.Switch(ctx, router.Table{Live: "purple", Backends: []router.Backend{blue}}); err == nil {
		// A provider may accept a table whose live release is not running
		// (the built-in router answers 503); it must then not serve it.
		if got := Get(t, addr, ""); got.Code == 200 && got.ServedBy != "blue" {
			t.Errorf("after a table with no running live release: %+v", got)
		}
	}
}

// Browsers is how many first-time browsers RunSplit sends, and
// SplitTolerance how far (in percentage points) the share they see may be
// from the split's weight.
const (
	Browsers       = 2000
	SplitTolerance = 5
)

// SplitAnswer is what one browser got through a split.
type SplitAnswer struct {
	ServedBy string
	// Cookie is the SplitCookie the router set ("" for none).
	Cookie *http.Cookie
}

// GetAs sends GET / to addr as one browser: its user agent, and the split
// cookie when it has one (nil: a browser seen first).
func GetAs(t testing.TB, client *http.Client, addr, agent string, cookie *http.Cookie) (SplitAnswer, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	req.Header.Set("User-Agent", agent)
	if cookie != nil {
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	resp, err := client.Do(req)
	if err != nil {
		return SplitAnswer{}, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	a := SplitAnswer{ServedBy: resp.Header.Get(router.ServedByHeader)}
	for _, c := range resp.Cookies() {
		if c.Name == router.SplitCookie {
			a.Cookie = c
		}
	}
	if resp.StatusCode != http.StatusOK {
		return a, fmt.Errorf("GET / as %s: %s", agent, resp.Status)
	}
	return a, nil
}

// RunSplit is the conformance case of a weighted split, for providers
// that can weigh public traffic: with 25% to green, Browsers first-time
// browsers (no cookie, each its own user agent) see green within
// SplitTolerance points of 25%, each gets the split cookie, and a browser
// that sends it back stays on its side, even under another user agent;
// previews still go where they ask; a table without the split sends every
// browser to the live release again.
func RunSplit(t *testing.T, p Provider, addr string) {
	ctx := t.Context()
	blue, green := Backend(t, "blue"), Backend(t, "green")
	split := router.Table{Live: "blue", Backends: []router.Backend{blue, green}, Split: &router.Split{Release: "green", Percent: 25}}
	if err := p.Switch(ctx, split); err != nil {
		t.Fatalf("Switch with 25%% to green: %v", err)
	}
	// A provider that reloads (nginx) is polled until first-time browsers
	// get the split cookie on 20 new connections in a row: old workers no
	// longer take connections.
	wait := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for deadline, inARow := time.Now().Add(10*time.Second), 0; inARow < 20; time.Sleep(5 * time.Millisecond) {
		if a, err := GetAs(t, wait, addr, "probe", nil); err == nil && a.Cookie != nil {
			inARow++
		} else {
			inARow = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("a first-time browser never got the %s cookie after a Switch with a split", router.SplitCookie)
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	type browser struct {
		agent, side string
		cookie      *http.Cookie
	}
	var browsers []browser
	green25 := 0
	for i := range Browsers {
		agent := fmt.Sprintf("browser-%d", i)
		a, err := GetAs(t, client, addr, agent, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.ServedBy != "blue" && a.ServedBy != "green" {
			t.Fatalf("browser %d was served by %q, want blue or green", i, a.ServedBy)
		}
		if a.Cookie == nil {
			t.Fatalf("browser %d (served by %s) got no %s cookie", i, a.ServedBy, router.SplitCookie)
		}
		if a.ServedBy == "green" {
			green25++
		}
		browsers = append(browsers, browser{agent, a.ServedBy, a.Cookie})
	}
	share := 100 * float64(green25) / Browsers
	if share < 25-SplitTolerance || share > 25+SplitTolerance {
		t.Errorf("%d of %d first-time browsers (%.1f%%) reached green, want 25%% ± %d", green25, Browsers, share, SplitTolerance)
	}
	t.Logf("split 25%%: %d of %d browsers (%.1f%%) on green", green25, Browsers, share)
	// Stickiness: the cookie decides, whatever else changes.
	for i, b := range browsers[:200] {
		for j := range 3 {
			a, err := GetAs(t, client, addr, fmt.Sprintf("another-agent-%d-%d", i, j), b.cookie)
			if err != nil {
				t.Fatal(err)
			}
			if a.ServedBy != b.side {
				t.Fatalf("browser %d with its cookie %s=%s was served by %s, first by %s", i, b.cookie.Name, b.cookie.Value, a.ServedBy, b.side)
			}
		}
	}
	// Previews are untouched by the split.
	for _, r := range []string{"blue", "green"} {
		if got, want := Get(t, addr, r), (Answer{200, r, "release " + r}); got != want {
			t.Errorf("preview of %s during the split: %+v, want %+v", r, got, want)
		}
	}
	// Without the split, every browser is on the live release again.
	if err := p.Switch(ctx, router.Table{Live: "blue", Backends: []router.Backend{blue, green}}); err != nil {
		t.Fatalf("Switch without the split: %v", err)
	}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for _, b := range browsers[:50] {
		var a SplitAnswer
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if a, _ = GetAs(t, fresh, addr, b.agent, b.cookie); a.ServedBy == "blue" {
				break
			}
		}
		// A router may clear the cookie; it may not set a new side.
		if a.ServedBy != "blue" || a.Cookie != nil && a.Cookie.MaxAge >= 0 && a.Cookie.Value != "" {
			t.Fatalf("after the split ended, a browser on %s was served by %s (cookie %v), want blue and no new cookie", b.side, a.ServedBy, a.Cookie)
		}
	}
	// A split the table cannot hold is refused.
	for _, bad := range []router.Split{{Release: "green", Percent: 0}, {Release: "green", Percent: 100}, {Release: "blue", Percent: 10}, {Release: "purple", Percent: 10}} {
		tb := router.Table{Live: "blue", Backends: []router.Backend{blue, green}, Split: &bad}
		if err := p.Switch(ctx, tb); err == nil {
			t.Errorf("Switch with a split of %d%% to %s: accepted, want refused", bad.Percent, bad.Release)
		}
	}
}
