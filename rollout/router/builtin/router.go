// Package builtin is the router provider termshift brings itself: Router is
// the reverse proxy that `termshift serve` runs on the public address
// (public traffic goes to the live release; a request from an allowed
// network, or with a preview grant, previews another running release by
// header, host prefix or cookie; a cutover or a rollback is one atomic swap
// of an immutable routing table), and Remote switches it from a CLI command
// through serve's control socket. The router keeps its own metrics (one
// Prometheus registry per router) and serves its status and metrics as
// handlers for the admin address, never on the public one.
package builtin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/router/grant"
)

// Names shared with the other providers.
const (
	DefaultPreviewHeader = router.PreviewHeader
	ServedByHeader       = router.ServedByHeader
	PreviewCookie        = router.PreviewCookie
	GrantHeader          = router.GrantHeader
	GrantCookie          = router.GrantCookie
)

const (
	controlPrefix = router.ControlPrefix
	previewPath   = router.PreviewPath
	stopPath      = previewPath + "?clear=1"

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
	// Allow lists the networks whose clients may preview any running
	// release. Empty: none; only grants open previews.
	Allow []netip.Prefix
	// TrustedProxies lists the proxies in front of the router whose
	// X-Forwarded-For is believed (see Client).
	TrustedProxies []netip.Prefix
	// Grants checks preview grants; nil refuses every grant.
	Grants *grant.Keys
	// SecureCookies marks the grant cookie Secure: the public scheme is
	// https.
	SecureCookies bool
	// Version is the build's version, for the build-info metric.
	Version string
	// Now tells grant expiry; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// maintenance is the maintenance page public traffic gets while it is on.
type maintenance struct {
	retryAfter time.Duration
	message    string
	releases   []string // whose previews are held too
}

func (m *maintenance) holds(release string) bool {
	return m != nil && slices.Contains(m.releases, release)
}

// table is one immutable routing state. Every request loads it once, so a
// request finishes on the backend it started on whatever Update does.
type table struct {
	live        string
	backends    []Backend
	proxies     map[string]*httputil.ReverseProxy
	stats       map[string]*releaseStats
	maintenance *maintenance
	revoked     map[string]bool
	// split sends a share of public traffic to a second release (split.go).
	split *split

	// switched is the switch to this table's live release that waits for
	// its first response, nil when there is none.
	switched *pendingSwitch
	// before is the release live before this table's, for telling a
	// rollback from Update alone.
	before string
}

// Router is the built-in HTTP router. The zero value is not usable; call New.
type Router struct {
	opts      Options
	log       *slog.Logger
	transport *http.Transport
	metrics   *metrics
	now       func() time.Time

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
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	r := &Router{
		opts:    opts,
		log:     logger,
		now:     now,
		ready:   make(chan struct{}),
		metrics: newMetrics(opts.Version),
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
	r.table.Store(&table{proxies: map[string]*httputil.ReverseProxy{}, stats: map[string]*releaseStats{}})
	return r
}

// Update makes live the release that gets public traffic and backends the
// releases that can be previewed. It swaps the whole routing table at once
// and returns immediately: requests in flight finish where they started, new
// ones go to the new live release. The maintenance setting and the revoked
// grants are kept. A change of live release is counted as a switch, timed
// until the new live release's first response; Update calls it a rollback
// when it goes back to the release live before the current one.
func (r *Router) Update(live string, backends []Backend) {
	r.update(live, backends, nil)
}

// switchInfo is what Switch knows of a change of live release.
type switchInfo struct {
	by    string
	since time.Time
}

func (r *Router) update(live string, backends []Backend, how *switchInfo) {
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
	stats := make(map[string]*releaseStats, len(bs))
	for _, b := range bs {
		stats[b.Release] = r.metrics.release(b.Release)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.table.Load()
	t := &table{live: live, backends: bs, proxies: proxies, stats: stats, maintenance: old.maintenance, revoked: old.revoked,
		switched: old.switched, before: old.before, split: old.split}
	if t.split != nil && (t.split.release == live || proxies[t.split.release] == nil) {
		t.split = nil // a split needs a second running release
	}
	if live != old.live {
		t.before = old.live
		t.switched = nil
		if old.live != "" && live != "" {
			sw := &pendingSwitch{by: router.ByCutover, since: r.now()}
			if live == old.before {
				sw.by = router.ByRollback
			}
			if how != nil {
				if how.by != "" {
					sw.by = how.by
				}
				if !how.since.IsZero() {
					sw.since = how.since
				}
			}
			t.switched = sw
		}
	}
	r.table.Store(t)
	r.log.Info("router: table updated", "live", live, "previous_live", old.live, "backends", releases(bs))
}

// Switch applies a whole routing table: live, backends, maintenance,
// revoked grants and the weighted split. A split it cannot apply (see
// Table.CheckSplit) is refused before anything changes. A switch into a
// maintenance window returns once the requests in flight before it have
// finished (Drain), so that no write acknowledged by the live release is
// left behind.
func (r *Router) Switch(ctx context.Context, t router.Table) error {
	for _, b := range t.Backends {
		if b.URL == nil {
			return fmt.Errorf("switch router to %s: backend %s has no URL: %w", termshift.Quote(t.Live), termshift.Quote(b.Release), termshift.ErrInvalid)
		}
	}
	if err := t.CheckSplit(); err != nil {
		return err
	}
	live, backends, maint := r.Table()
	if live != t.Live || !SameBackends(backends, t.Backends) {
		r.update(t.Live, t.Backends, &switchInfo{by: t.LiveBy, since: t.LiveSince})
	}
	r.setMaintenance(t.Maintenance)
	r.setRevoked(t.RevokedGrants)
	r.setSplit(t.Split)
	if t.Maintenance != nil && !maint {
		return r.Drain(ctx)
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
// so QA can check a release, except those of the releases a final sync
// holds (Switch with Maintenance.Releases).
func (r *Router) SetMaintenance(on bool, retryAfter time.Duration, message string) {
	var m *router.Maintenance
	if on {
		m = &router.Maintenance{RetryAfter: retryAfter, Message: message}
	}
	r.setMaintenance(m)
}

func (r *Router) setMaintenance(want *router.Maintenance) {
	var m *maintenance
	if want != nil {
		msg := want.Message
		if msg == "" {
			msg = "This site is down for maintenance. Please try again shortly."
		}
		m = &maintenance{retryAfter: want.RetryAfter, message: msg, releases: slices.Sorted(slices.Values(want.Releases))}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.table.Load()
	if sameMaintenance(old.maintenance, m) {
		return
	}
	t := *old
	t.maintenance = m
	r.table.Store(&t)
	r.metrics.setMaintenance(m != nil)
	if m != nil {
		r.log.Info("router: maintenance", "on", true, "retry_after", m.retryAfter, "held_previews", m.releases)
	} else {
		r.log.Info("router: maintenance", "on", false)
	}
}

func sameMaintenance(a, b *maintenance) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.retryAfter == b.retryAfter && a.message == b.message && slices.Equal(a.releases, b.releases)
}

// setRevoked replaces the revoked grant IDs.
func (r *Router) setRevoked(ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.table.Load()
	if len(ids) == len(old.revoked) && !slices.ContainsFunc(ids, func(id string) bool { return !old.revoked[id] }) {
		return
	}
	revoked := make(map[string]bool, len(ids))
	for _, id := range ids {
		revoked[id] = true
	}
	t := *old
	t.revoked = revoked
	r.table.Store(&t)
	r.log.Info("router: revoked grants", "count", len(revoked))
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

// ServeHTTP routes one request of the public address.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	defer r.inflight.enter()() // before the table is read: see inflight
	t := r.table.Load()
	if strings.HasPrefix(req.URL.Path, controlPrefix) {
		r.serveControl(w, req, t)
		return
	}
	start := time.Now()
	d := r.decide(req, t)
	sw := getStatusWriter(w)
	defer putStatusWriter(sw)
	if d.verdict == servePublic && d.asked == "" && t.split != nil && t.maintenance == nil {
		side, bucket := t.split.side(req, t.live)
		if bucket >= 0 {
			http.SetCookie(sw, r.splitCookie(bucket))
		}
		d.release = side
	}
	st := t.stats[d.release]
	switch d.verdict {
	case servePublic:
		if m := t.maintenance; m != nil {
			maintenancePage(sw, req, m)
			break
		}
		p, ok := t.proxies[d.release]
		if !ok {
			page(sw, req, http.StatusServiceUnavailable, "No live release", "No release is live: there is nothing to serve yet.")
			break
		}
		st.inflight.Inc()
		p.ServeHTTP(sw, req)
		st.inflight.Dec()
		if sw.code < 500 && t.switched != nil && d.release == t.live {
			t.switched.observe(r.metrics, time.Now())
		}
	case servePreview:
		if t.maintenance.holds(d.release) {
			maintenancePage(sw, req, t.maintenance)
			break
		}
		st.inflight.Inc()
		t.proxies[d.release].ServeHTTP(sw, req.WithContext(context.WithValue(req.Context(), previewKey{}, d)))
		st.inflight.Dec()
	case refuse:
		refused(sw, req, d.why)
	case unknown:
		unknownRelease(sw, req, d)
	}
	r.metrics.observe(st, sw.status(), time.Since(start))
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
			// A grant is the caller's credential for the router, not for
			// the application: it never reaches a release.
			pr.Out.Header.Del(GrantHeader)
			stripGrantCookie(pr.Out.Header)
			if d, ok := pr.In.Context().Value(previewKey{}).(decision); ok && d.wantsBanner() {
				// The banner goes into a body the router can read.
				pr.Out.Header.Set("Accept-Encoding", "identity")
			}
		},
		Transport:     r.transport,
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set(ServedByHeader, release)
			if d, ok := resp.Request.Context().Value(previewKey{}).(decision); ok {
				r.injectBanner(resp, d)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			if req.Context().Err() != nil {
				// The client went away; nobody reads an answer. 499, as
				// nginx counts it, keeps it out of the backend's errors.
				w.WriteHeader(499)
				return
			}
			r.log.Warn("router: backend failed", "release", release, "backend", target.Redacted(), "err", err)
			w.Header().Set(ServedByHeader, release)
			page(w, req, http.StatusBadGateway, "Bad gateway", "Release "+termshift.Quote(release)+" is not answering (bad gateway).")
		},
		ErrorLog: slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
	}
}

// stripGrantCookie removes the grant cookie from a Cookie header.
func stripGrantCookie(h http.Header) {
	lines := h["Cookie"]
	for i, line := range lines {
		if !strings.Contains(line, GrantCookie) {
			continue
		}
		kept := make([]string, 0, 4)
		for part := range strings.SplitSeq(line, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if name != GrantCookie {
				kept = append(kept, strings.TrimSpace(part))
			}
		}
		lines[i] = strings.Join(kept, "; ")
	}
	if len(lines) > 0 {
		lines = slices.DeleteFunc(lines, func(l string) bool { return l == "" })
		if len(lines) == 0 {
			h.Del("Cookie")
		} else {
			h["Cookie"] = lines
		}
	}
}

// statusWriter remembers the status a response got, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

func getStatusWriter(w http.ResponseWriter) *statusWriter {
	sw := statusWriters.Get().(*statusWriter)
	sw.ResponseWriter, sw.code = w, 0
	return sw
}

func putStatusWriter(sw *statusWriter) {
	sw.ResponseWriter = nil
	statusWriters.Put(sw)
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 && code >= 200 {
		s.code = code
	}
	if code == 499 {
		return // not a status a client can get; only counted
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

func maintenancePage(w http.ResponseWriter, req *http.Request, m *maintenance) {
	if m.retryAfter > 0 {
		secs := int64((m.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	page(w, req, http.StatusServiceUnavailable, "Down for maintenance", m.message)
}

func releases(bs []Backend) []string {
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Release
	}
	return names
}
