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
