package rollout

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/dashboard"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/router/builtin"
	"github.com/termshift/termshift/rollout/router/grant"
)

// The admin address of `termshift serve` (router.admin_listen, default
// envfile.DefaultAdminListen, loopback): the dashboard under /_termshift/,
// its JSON, /_termshift/status and /_termshift/metrics, behind the optional
// router.admin_auth. The public address has none of them.

// newRouter is the built-in router of the environment.
func (o *Orchestrator) newRouter() (*builtin.Router, error) {
	opts, err := o.routerOptions()
	if err != nil {
		return nil, err
	}
	return builtin.New(opts), nil
}

// routerOptions are the built-in router's options from the environment:
// the public address, who may preview, and the grant keys.
func (o *Orchestrator) routerOptions() (builtin.Options, error) {
	r := o.Env.Router
	opts := builtin.Options{Addr: r.Listen, Host: r.Host, PreviewHeader: router.PreviewHeader, Logger: o.Logger,
		Allow: r.Preview.AllowPrefixes(), TrustedProxies: r.Preview.TrustedPrefixes(), SecureCookies: r.Preview.Scheme() == "https"}
	if r.Preview.GrantKey != "" {
		keys, err := grant.NewKeys(termshift.Secret(r.Preview.GrantKey), termshift.Secret(r.Preview.GrantKeyPrevious))
		if err != nil {
			return opts, fmt.Errorf("router.preview.grant_key: %w", err)
		}
		opts.Grants = keys
	}
	return opts, nil
}

// startAdmin serves the admin address until ctx is done or stop is called.
// When the default address is busy (another environment's serve on this
// host), serve goes on without it and says so; an address the file names
// must bind.
func (srv *server) startAdmin(ctx context.Context) (stop func(context.Context), err error) {
	o := srv.o
	addr, isDefault := o.Env.Router.AdminAddr()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		if isDefault {
			o.Logger.Warn("admin address busy: dashboard, status and metrics are off", "addr", addr, "err", err)
			o.printf("admin address %s is busy: dashboard, status and metrics are off (set router.admin_listen)\n", addr)
			o.journal(ctx, "", "serve", "skipped", "admin address "+addr+" is busy: dashboard, status and metrics are off")
			return func(context.Context) {}, nil
		}
		return nil, termshift.WithHint(fmt.Errorf("admin address cannot bind %s: %w", addr, err), "another program uses it: stop it, or change router.admin_listen")
	}
	actx, cancel := context.WithCancel(ctx)
	sampler := dashboard.NewSampler(srv.router.Traffic, time.Minute)
	go sampler.Run(actx, 5*time.Second)
	health := &healthCache{ttl: 2 * time.Second, client: &http.Client{Timeout: time.Second}}

	mux := http.NewServeMux()
	mux.Handle("GET /_termshift/status", srv.router.StatusHandler())
	mux.Handle("GET /_termshift/metrics", srv.router.MetricsHandler())
	mux.Handle("GET "+builtin.TrafficPath, srv.router.TrafficHandler())
	mux.Handle(dashboard.Prefix, dashboard.Handler(func(ctx context.Context) dashboard.Data {
		return srv.dashboardData(ctx, sampler, health)
	}, o.Logger))
	mux.Handle("/", http.RedirectHandler(dashboard.Prefix, http.StatusFound))
	hs := &http.Server{Handler: adminAuth(o.Env.Router.AdminAuth, mux), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = hs.Serve(ln) }()
	srv.mu.Lock()
	srv.admin = ln.Addr().String()
	srv.mu.Unlock()
	o.printf("dashboard, status and metrics on http://%s%s (admin address)\n", ln.Addr(), dashboard.Prefix)
	return func(c context.Context) {
		cancel()
		_ = hs.Shutdown(c)
	}, nil
}

// adminAuth asks for the basic auth or the bearer token of
// router.admin_auth, when it is set. Comparisons take the same time
// whatever the guess.
func adminAuth(a *envfile.AdminAuth, next http.Handler) http.Handler {
	if a == nil || (a.Password == "" && a.Token == "") {
		return next
	}
	same := func(got, want string) bool {
		g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
		return subtle.ConstantTimeCompare(g[:], w[:]) == 1
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Token != "" {
			if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && same(tok, a.Token) {
				next.ServeHTTP(w, r)
				return
			}
		}
		if a.Password != "" {
			if u, p, ok := r.BasicAuth(); ok && same(u, a.User) && same(p, a.Password) {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="termshift", charset="UTF-8"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="termshift"`)
		}
		http.Error(w, "authentication required (router.admin_auth)", http.StatusUnauthorized)
	})
}

// dashboardData gathers one page: state (or why it cannot be read), the
// journal, what the router routes, health, traffic; every text of it is
// redacted with every secret the environment knows.
func (srv *server) dashboardData(ctx context.Context, sampler *dashboard.Sampler, health *healthCache) dashboard.Data {
	o := srv.o
	env := o.Env
	d := dashboard.Data{Environment: env.Name, Now: o.Now(), Redact: o.Redactor(ctx), Traffic: sampler.Rates()}
	for _, r := range env.Releases {
		d.Releases = append(d.Releases, dashboard.ReleaseSpec{Name: r.Name, Version: r.Version})
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		d.StateError = err.Error()
	} else {
		d.State = s
	}
	entries, torn, err := o.Store.ReadJournal(ctx)
	switch {
	case err != nil:
		d.JournalError = err.Error()
	case torn > 0:
		d.JournalError = fmt.Sprintf("%d torn line(s) skipped", torn)
	}
	d.Journal = entries
	st := srv.router.Status()
	d.Router = dashboard.RouterView{Live: st.Live, Maintenance: st.Maintenance, HeldPreviews: st.HeldPreviews, Running: true}
	d.Preview = dashboard.PreviewView{PublicURL: env.PublicURL(), Scheme: env.Router.Preview.Scheme(), Host: env.Router.Host,
		Header: router.PreviewHeader, Grants: env.Router.Preview.GrantKey != ""}
	if u, err := url.Parse(d.Preview.PublicURL); err == nil {
		d.Preview.Port = u.Port()
	}
	for _, p := range env.Router.Preview.AllowPrefixes() {
		d.Preview.Allow = append(d.Preview.Allow, p.String())
	}
	if s != nil {
		d.Health = health.check(ctx, o, s.Names(), func(name string) bool { return s.Releases[name].Running })
	}
	return d
}

// healthCache checks the running releases' health URLs, at most every ttl.
type healthCache struct {
	ttl    time.Duration
	client *http.Client

	mu     sync.Mutex
	at     time.Time
	result map[string]string
}

func (h *healthCache) check(ctx context.Context, o *Orchestrator, names []string, running func(string) bool) map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.result != nil && time.Since(h.at) < h.ttl {
		return h.result
	}
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range names {
		r, ok := o.P.Runners[name]
		if !ok || !running(name) {
			continue
		}
		ep, err := r.Endpoint(name)
		if err != nil || ep.Health == "" {
			continue
		}
		wg.Go(func() {
			got := probe(ctx, h.client, ep.Health)
			mu.Lock()
			out[name] = got
			mu.Unlock()
		})
	}
	wg.Wait()
	h.result, h.at = out, time.Now()
	return out
}

func probe(ctx context.Context, c *http.Client, rawURL string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "unhealthy: bad health URL"
	}
	resp, err := c.Do(req)
	if err != nil {
		return "unhealthy: not answering"
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("unhealthy: status %d", resp.StatusCode)
	}
	return "healthy"
}
