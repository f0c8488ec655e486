package builtin

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/termshift/termshift/rollout/router"
)

// serveControl answers the termshift paths of the public address: only the
// preview path. Status, dashboard and metrics are on the admin address;
// here they are 404 like any unknown path, naming nothing.
func (r *Router) serveControl(w http.ResponseWriter, req *http.Request, t *table) {
	if !strings.HasPrefix(req.URL.Path, previewPath) {
		page(w, req, http.StatusNotFound, "Not found", "Not found.")
		return
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		page(w, req, http.StatusMethodNotAllowed, "Method not allowed", "Use GET.")
		return
	}
	name := strings.TrimPrefix(req.URL.Path, previewPath)
	q := req.URL.Query()
	if name == "" || q.Get("clear") != "" {
		r.clearPreview(w)
		http.Redirect(w, req, "/", http.StatusFound)
		return
	}
	if token := q.Get("grant"); token != "" {
		r.openGrant(w, req, t, name, token)
		return
	}
	d := decision{asked: name, how: "path " + previewPath + name}
	if !r.allowed(req) {
		refused(w, req, "this preview link is open only to allowed networks; ask an operator for a grant link (`termshift preview-link`)")
		return
	}
	if _, ok := t.proxies[name]; !ok {
		unknownRelease(w, req, d)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: PreviewCookie, Value: name, Path: "/", HttpOnly: true, Secure: r.opts.SecureCookies, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, req, "/", http.StatusFound)
}

// openGrant checks a grant link and, when it is good, sets the grant cookie
// and sends the browser to the release's home page.
func (r *Router) openGrant(w http.ResponseWriter, req *http.Request, t *table, name, token string) {
	g, err := r.checkGrant(token, t)
	switch {
	case err != nil:
		refused(w, req, grantProblem(err))
		return
	case g.Release != name:
		refused(w, req, "this grant is for another release")
		return
	}
	if _, ok := t.proxies[name]; !ok {
		unknownRelease(w, req, decision{asked: name, how: byGrant})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: GrantCookie, Value: token, Path: "/", MaxAge: grantExpiry(g, r.now()),
		HttpOnly: true, Secure: r.opts.SecureCookies, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: PreviewCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.opts.SecureCookies, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, req, "/", http.StatusFound)
}

// clearPreview deletes both preview cookies: "stop previewing".
func (r *Router) clearPreview(w http.ResponseWriter) {
	for _, name := range []string{PreviewCookie, GrantCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.opts.SecureCookies, SameSite: http.SameSiteLaxMode})
	}
	w.Header().Set("Cache-Control", "no-store")
}

// Status is what the router routes, as the admin address's
// /_termshift/status shows it.
type Status struct {
	Live        string          `json:"live"`
	Backends    []StatusBackend `json:"backends"`
	Maintenance bool            `json:"maintenance"`
	// HeldPreviews are the releases whose previews the maintenance window
	// holds.
	HeldPreviews  []string `json:"held_previews,omitempty"`
	RevokedGrants int      `json:"revoked_grants"`
	// Split is the weighted share of public traffic sent to a second
	// release, nil without one.
	Split *router.Split `json:"split,omitempty"`
}

// StatusBackend is one backend in Status.
type StatusBackend struct {
	Release string `json:"release"`
	URL     string `json:"url"`
}

// Status returns what the router routes now.
func (r *Router) Status() Status {
	t := r.table.Load()
	s := Status{Live: t.live, Backends: []StatusBackend{}, Maintenance: t.maintenance != nil, RevokedGrants: len(t.revoked)}
	for _, b := range t.backends {
		s.Backends = append(s.Backends, StatusBackend{Release: b.Release, URL: b.URL.Redacted()})
	}
	if t.maintenance != nil {
		s.HeldPreviews = t.maintenance.releases
	}
	if t.split != nil {
		s.Split = &router.Split{Release: t.split.release, Percent: t.split.percent}
	}
	return s
}

// StatusHandler serves Status as JSON, for the admin address.
func (r *Router) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if err := json.NewEncoder(w).Encode(r.Status()); err != nil {
			r.log.Debug("router: write status", "err", err)
		}
	})
}

// MetricsHandler serves the router's metrics in the Prometheus text
// format, for the admin address.
func (r *Router) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(r.metrics.reg, promhttp.HandlerOpts{})
}

// TrafficPath is where the admin address serves the router's counters
// (Traffic) as JSON: a progressive cutover's analysis reads them twice, at
// a step's start and end, and compares.
const TrafficPath = "/_termshift/traffic"

// TrafficHandler serves Traffic as JSON, for the admin address.
func (r *Router) TrafficHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if err := json.NewEncoder(w).Encode(r.Traffic()); err != nil {
			r.log.Debug("router: write traffic", "err", err)
		}
	})
}
