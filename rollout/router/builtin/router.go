// Package builtin is the router provider termshift brings itself: Router is
// the reverse proxy that `termshift serve` runs on the public address
// (public traffic goes to the live release, QA previews any other running
// release by header, host prefix or cookie, and a cutover or a rollback is
// one atomic swap of an immutable routing table), and Remote switches it
// from a CLI command through serve's control socket.
package builtin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router"
)

// Names shared with the other providers.
const (
	DefaultPreviewHeader = router.PreviewHeader
	ServedByHeader       = router.ServedByHeader
	PreviewCookie        = router.PreviewCookie
)

const (
	controlPrefix = "/_termshift/"
	statusPath    = "/_termshift/status"
	previewPath   = "/_termshift/preview/"

	shutdownGrace = 10 * time.Second
)

// Backend is one running release and where it listens.
type Backend = router.Backend

// Options configure a Router.
type Options struct {
	// Addr is the public address to listen on, e.g. ":8080" or "127.0.0.1:0".
	Addr string
	// Host is the public host name. When set, "RELEASE.HOST" previews
	// RELEASE (an exact match of the first label).
	Host string
	// PreviewHeader names the release a request previews; default
	// DefaultPreviewHeader.
	PreviewHeader string
	Logger        *slog.Logger
}

// maintenance is the maintenance page public traffic gets while it is on.
type maintenance struct {
	retryAfter time.Duration
	message    string
}

// table is one immutable routing state. Every request loads it once, so a
// request finishes on the backend it started on whatever Update does.
type table struct {
	live        string
	backends    []Backend
	proxies     map[string]*httputil.ReverseProxy
	maintenance *maintenance
}

// Router is the built-in HTTP router. The zero value is not usable; call New.
type Router struct {
	opts      Options
	log       *slog.Logger
	transport *http.Transport

	mu    sync.Mutex // serializes writers; readers only Load
	table atomic.Pointer[table]

	addr    atomic.Pointer[string]
	ready   chan struct{}
	started atomic.Bool

	inflight inflight // requests being served, for Drain (drain.go)
}

// New returns a Router with no live release: it answers 503 until Update.
func New(opts Options) *Router {
	if opts.PreviewHeader == "" {
		opts.PreviewHeader = DefaultPreviewHeader
	}
	opts.Host = strings.TrimSuffix(strings.ToLower(opts.Host), ".")
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Router{
		opts:  opts,
		log:   logger,
		ready: make(chan struct{}),
		transport: &http.Transport{
			DialContext: (&net.Dialer{
				Timeout:   5 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
	}
	r.table.Store(&table{proxies: map[string]*httputil.ReverseProxy{}})
	return r
}

// Update makes live the release that gets public traffic and backends the
// releases that can be previewed. It swaps the whole routing table at once
// and returns immediately: requests in flight finish where they started, new
// ones go to the new live release. The maintenance setting is kept.
func (r *Router) Update(live string, backends []Backend) {
	bs := make([]Backend, 0, len(backends))
	proxies := make(map[string]*httputil.ReverseProxy, len(backends))
	for _, b := range backends {
		if b.URL == nil {
			r.log.Error("router: backend has no URL; ignored", "release", b.Release)
			continue
		}
		if _, dup := proxies[b.Release]; dup {
			if i := slices.IndexFunc(bs, func(x Backend) bool { return x.Release == b.Release }); bs[i].URL.String() != b.URL.String() {
				r.log.Error("router: release listed twice with different URLs; the first wins", "release", b.Release)
			}
			continue
		}
		u := *b.URL
		b.URL = &u
		bs = append(bs, b)
		proxies[b.Release] = r.proxy(b)
	}
	slices.SortFunc(bs, func(a, b Backend) int { return cmp.Compare(a.Release, b.Release) })
	if _, ok := proxies[live]; live != "" && !ok {
		r.log.Error("router: live release has no backend; public traffic gets 503", "live", live)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.table.Load()
	r.table.Store(&table{live: live, backends: bs, proxies: proxies, maintenance: old.maintenance})
	r.log.Info("router: table updated", "live", live, "previous_live", old.live, "backends", releases(bs))
}

// Switch applies a whole routing table: live, backends and maintenance.
func (r *Router) Switch(ctx context.Context, t router.Table) error {
	for _, b := range t.Backends {
		if b.URL == nil {
			return fmt.Errorf("switch router to %s: backend %s has no URL: %w", termshift.Quote(t.Live), termshift.Quote(b.Release), termshift.ErrInvalid)
		}
	}
	live, backends, maint := r.Table()
	if live != t.Live || !SameBackends(backends, t.Backends) {
		r.Update(t.Live, t.Backends)
	}
	if want := t.Maintenance != nil; want != maint {
		if want {
			r.SetMaintenance(true, t.Maintenance.RetryAfter, t.Maintenance.Message)
			return r.Drain(ctx)
		} else {
			r.SetMaintenance(false, 0, "")
		}
	}
	return nil
}

// SameBackends reports whether two backend lists name the same releases at
// the same URLs, in order.
func SameBackends(a, b []Backend) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Release != b[i].Release || a[i].URL.String() != b[i].URL.String() {
			return false
		}
	}
	return true
}

var _ interface {
	Switch(context.Context, router.Table) error
} = (*Router)(nil)

// SetMaintenance turns the maintenance page on or off. While it is on,
// public traffic gets 503 with Retry-After and message; previews still pass
// so QA can check a release.
func (r *Router) SetMaintenance(on bool, retryAfter time.Duration, message string) {
	var m *maintenance
	if on {
		if message == "" {
			message = "This site is down for maintenance. Please try again shortly."
		}
		m = &maintenance{retryAfter: retryAfter, message: message}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.table.Load()
	t := *old
	t.maintenance = m
	r.table.Store(&t)
	r.log.Info("router: maintenance", "on", on, "retry_after", retryAfter)
}

// Table returns the live release, the backends and whether maintenance is on.
func (r *Router) Table() (live string, backends []Backend, maintenance bool) {
	t := r.table.Load()
	bs := make([]Backend, len(t.backends))
	for i, b := range t.backends {
		u := *b.URL
		bs[i] = Backend{Release: b.Release, URL: &u}
	}
	return t.live, bs, t.maintenance != nil
}

// ListenAndServe binds Options.Addr and serves until ctx is done, then shuts
// down gracefully, letting requests in flight finish for up to 10 seconds.
func (r *Router) ListenAndServe(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("router: ListenAndServe called twice")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", r.opts.Addr)
	if err != nil {
		close(r.ready)
		return fmt.Errorf("router: could not bind %s: %w", r.opts.Addr, err)
	}
	addr := ln.Addr().String()
	r.addr.Store(&addr)
	close(r.ready)
	r.log.Info("router: listening", "addr", addr)

	srv := &http.Server{
		Handler:           r,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("router: serve on %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-errc
	r.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("router: shut down %s: %w", addr, err)
	}
	r.log.Info("router: stopped", "addr", addr)
	return nil
}

// Ready is closed once ListenAndServe has bound its address or failed to.
func (r *Router) Ready() <-chan struct{} { return r.ready }

// Addr returns the bound address, or "" before ListenAndServe has bound it.
func (r *Router) Addr() string {
	if a := r.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// ServeHTTP routes one request.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	defer r.inflight.enter()() // before the table is read: see inflight
	t := r.table.Load()
	if strings.HasPrefix(req.URL.Path, controlPrefix) {
		r.serveControl(w, req, t)
		return
	}
	release, how := r.previewOf(req)
	if release != "" {
		p, ok := t.proxies[release]
		if !ok {
			unknownRelease(w, t, release, how)
			return
		}
		p.ServeHTTP(w, req)
		return
	}
	if m := t.maintenance; m != nil {
		if m.retryAfter > 0 {
			secs := int64((m.retryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		plain(w, http.StatusServiceUnavailable, m.message+"\n")
		return
	}
	p, ok := t.proxies[t.live]
	if !ok {
		plain(w, http.StatusServiceUnavailable, "no live release\n")
		return
	}
	p.ServeHTTP(w, req)
}

// previewOf returns the release req asks to preview and how it asked: the
// header first, then the host prefix, then the cookie.
func (r *Router) previewOf(req *http.Request) (release, how string) {
	if v := strings.TrimSpace(req.Header.Get(r.opts.PreviewHeader)); v != "" {
		return v, "header " + r.opts.PreviewHeader
	}
	if r.opts.Host != "" {
		host := req.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.ToLower(host), ".")
		if label, ok := strings.CutSuffix(host, "."+r.opts.Host); ok && label != "" && !strings.Contains(label, ".") {
			return label, "host " + host
		}
	}
	if c, err := req.Cookie(PreviewCookie); err == nil && c.Value != "" {
		return c.Value, "cookie " + PreviewCookie + " (clear it at " + previewPath + "?clear=1)"
	}
	return "", ""
}

func (r *Router) serveControl(w http.ResponseWriter, req *http.Request, t *table) {
	switch {
	case req.URL.Path == statusPath:
		r.serveStatus(w, t)
	case strings.HasPrefix(req.URL.Path, previewPath):
		r.servePreview(w, req, t)
	default:
		plain(w, http.StatusNotFound, "unknown termshift path "+termshift.Quote(req.URL.Path)+"\n")
	}
}

type statusBackend struct {
	Release string `json:"release"`
	URL     string `json:"url"`
}

type status struct {
	Live        string          `json:"live"`
	Backends    []statusBackend `json:"backends"`
	Maintenance bool            `json:"maintenance"`
}

func (r *Router) serveStatus(w http.ResponseWriter, t *table) {
	s := status{Live: t.live, Backends: []statusBackend{}, Maintenance: t.maintenance != nil}
	for _, b := range t.backends {
		s.Backends = append(s.Backends, statusBackend{Release: b.Release, URL: b.URL.Redacted()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(s); err != nil {
		r.log.Debug("router: write status", "err", err)
	}
}

func (r *Router) servePreview(w http.ResponseWriter, req *http.Request, t *table) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		plain(w, http.StatusMethodNotAllowed, "use GET\n")
		return
	}
	name := strings.TrimPrefix(req.URL.Path, previewPath)
	if name == "" || req.URL.Query().Get("clear") != "" {
		http.SetCookie(w, &http.Cookie{Name: PreviewCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, req, "/", http.StatusFound)
		return
	}
	if _, ok := t.proxies[name]; !ok {
		unknownRelease(w, t, name, "path "+previewPath+name)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: PreviewCookie, Value: name, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, req, "/", http.StatusFound)
}

// proxy builds the reverse proxy of one backend; Update builds them once per
// table, and they all share the Router's transport and its idle connections.
func (r *Router) proxy(b Backend) *httputil.ReverseProxy {
	release, target := b.Release, b.URL
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			// The application sees the public host name, as it would
			// behind any front proxy (ALLOWED_HOSTS, absolute URLs).
			pr.Out.Host = pr.In.Host
		},
		Transport:     r.transport,
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set(ServedByHeader, release)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			if req.Context().Err() != nil {
				// The client went away; nobody reads an answer.
				return
			}
			r.log.Warn("router: backend failed", "release", release, "backend", target.Redacted(), "err", err)
			w.Header().Set(ServedByHeader, release)
			plain(w, http.StatusBadGateway, "release "+termshift.Quote(release)+" is not answering (bad gateway)\n")
		},
		ErrorLog: slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
	}
}

func unknownRelease(w http.ResponseWriter, t *table, release, how string) {
	known := releases(t.backends)
	list := "none"
	if len(known) > 0 {
		quoted := make([]string, len(known))
		for i, k := range known {
			quoted[i] = termshift.Quote(k)
		}
		list = strings.Join(quoted, ", ")
	}
	plain(w, http.StatusNotFound, fmt.Sprintf("unknown release %s (asked by %s); running releases: %s\n", termshift.Quote(release), how, list))
}

func plain(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

func releases(bs []Backend) []string {
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Release
	}
	return names
}
