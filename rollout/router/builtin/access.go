package builtin

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router/grant"
)

// verdict is what the router does with a request.
type verdict int

const (
	servePublic  verdict = iota // the live release (or the maintenance page)
	servePreview                // the release asked for
	refuse                      // 403: not from an allowed network, no valid grant
	unknown                     // 404: allowed, but no such release runs
)

// How a request asked to preview a release.
const (
	byHeader = "header"
	byHost   = "host"
	byCookie = "cookie"
	byGrant  = "grant"
)

// decision is what the router decided for one request, and why.
type decision struct {
	verdict verdict
	release string // the release that serves, or was asked for
	how     string // byHeader, byHost, byCookie, byGrant
	asked   string // what the request asked for, as it asked (for a 404 page)
	why     string // why a preview was refused, for the 403 page
}

// previewKey marks a request that is a preview, with its decision.
type previewKey struct{}

// decide applies the access rule to a request of the public address:
//
//   - A request that asks for no release, or for the live one, is public.
//   - A request that asks for another release (header, host name, preview
//     cookie, or a grant alone) is served only when its client is in an
//     allowed network (see Client) or it carries a valid grant for that
//     release: well signed, not expired, not revoked. Otherwise it is
//     refused (403), whether the release exists or not, so the answer
//     tells an outsider nothing about which releases run.
//   - An allowed request for a release that does not run gets 404.
func (r *Router) decide(req *http.Request, t *table) decision {
	asked, how := r.asked(req)
	g, grantHow, hasGrant, gerr := r.grantOf(req, t)
	if asked == "" && hasGrant {
		if gerr == nil {
			asked, how = g.Release, grantHow
		} else if !errors.Is(gerr, grant.ErrMalformed) || g.Release != "" {
			// A grant that was good once (expired, revoked): say so rather
			// than silently serve the public site to someone who expects
			// a preview.
			return decision{verdict: refuse, asked: g.Release, how: grantHow, why: grantProblem(gerr)}
		}
	}
	if asked == "" || asked == t.live {
		// asked set: a request for the live release by name is no part of
		// a weighted split.
		return decision{verdict: servePublic, release: t.live, asked: asked, how: how}
	}
	d := decision{asked: asked, how: how}
	switch {
	case hasGrant && gerr == nil && g.Release == asked:
	case r.allowed(req):
	case hasGrant && gerr == nil:
		d.verdict, d.why = refuse, "your preview grant is for another release"
		return d
	case hasGrant:
		d.verdict, d.why = refuse, grantProblem(gerr)
		return d
	default:
		d.verdict, d.why = refuse, "previews of a release that is not live are open only to allowed networks, or with a preview grant"
		return d
	}
	if _, ok := t.proxies[asked]; !ok {
		d.verdict = unknown
		return d
	}
	d.verdict, d.release = servePreview, asked
	return d
}

func grantProblem(err error) string {
	switch {
	case errors.Is(err, grant.ErrExpired):
		return "your preview grant has expired: ask for a new link"
	case errors.Is(err, errRevoked):
		return "your preview grant was revoked"
	case errors.Is(err, errNoGrants):
		return "preview grants are not accepted here (no grant key is configured)"
	}
	return "your preview grant is not valid"
}

var (
	errRevoked  = errors.New("preview grant revoked")
	errNoGrants = errors.New("no grant key configured")
)

// asked returns the release a request asks to preview and how: the header
// first, then the host prefix, then the preview cookie.
func (r *Router) asked(req *http.Request) (release, how string) {
	if v := req.Header.Get(r.opts.PreviewHeader); v != "" {
		if v = strings.TrimSpace(v); v != "" {
			return v, byHeader
		}
	}
	if r.opts.Host != "" {
		host := req.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.ToLower(host), ".")
		if label, ok := strings.CutSuffix(host, "."+r.opts.Host); ok && label != "" && !strings.Contains(label, ".") {
			return label, byHost
		}
	}
	if v := cookie(req, PreviewCookie); v != "" {
		return v, byCookie
	}
	return "", ""
}

// grantOf reads the grant of a request, from the header first (how is
// byHeader: a tool asks), then the cookie (byGrant: a browser); ok is false
// when it carries none.
func (r *Router) grantOf(req *http.Request, t *table) (g grant.Grant, how string, ok bool, err error) {
	token, how := req.Header.Get(GrantHeader), byHeader
	if token == "" {
		token, how = cookie(req, GrantCookie), byGrant
	}
	if token == "" {
		return grant.Grant{}, "", false, nil
	}
	g, err = r.checkGrant(token, t)
	return g, how, true, err
}

func (r *Router) checkGrant(token string, t *table) (grant.Grant, error) {
	if r.opts.Grants == nil {
		return grant.Grant{}, errNoGrants
	}
	g, err := r.opts.Grants.Parse(token, r.now())
	if err != nil {
		if !errors.Is(err, grant.ErrExpired) {
			g = grant.Grant{}
		}
		return g, err
	}
	if t.revoked[g.ID] {
		return g, errRevoked
	}
	return g, nil
}

// cookie returns a cookie's value without parsing every cookie of every
// request: most public requests carry none of termshift's.
func cookie(req *http.Request, name string) string {
	for _, line := range req.Header["Cookie"] {
		if !strings.Contains(line, name) {
			continue
		}
		if c, err := req.Cookie(name); err == nil {
			return c.Value
		}
	}
	return ""
}

// allowed reports whether a request's client is in an allowed network.
func (r *Router) allowed(req *http.Request) bool {
	if len(r.opts.Allow) == 0 {
		return false
	}
	addr, ok := Client(req, r.opts.TrustedProxies)
	if !ok {
		return false
	}
	return inAny(addr, r.opts.Allow)
}

// Client returns the address a request comes from, and false when it cannot
// be told. The rule:
//
//   - The peer is the address of the TCP connection.
//   - When the peer is a trusted proxy, X-Forwarded-For is read from the
//     right (every header line, comma-separated): trusted proxies are
//     skipped, and the first other address is the client. An entry that is
//     not an IP address makes the client unknown. When every entry is a
//     trusted proxy, the leftmost is the client; without the header the
//     peer itself is. A trusted peer that sends only RFC 7239 Forwarded
//     (not read) leaves the client unknown.
//   - When the peer is not a trusted proxy, it is the client, unless the
//     request carries X-Forwarded-For or Forwarded: then it passed through
//     a proxy nobody declared, and the client is unknown. So a front proxy
//     on the router's own host cannot make every visitor look local.
func Client(req *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	peer, ok := peerAddr(req.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	xff := req.Header.Values("X-Forwarded-For")
	if !inAny(peer, trusted) {
		if len(xff) > 0 || req.Header.Get("Forwarded") != "" {
			return netip.Addr{}, false
		}
		return peer, true
	}
	if len(xff) == 0 {
		if req.Header.Get("Forwarded") != "" {
			return netip.Addr{}, false
		}
		return peer, true
	}
	var entries []string
	for _, line := range xff {
		for e := range strings.SplitSeq(line, ",") {
			entries = append(entries, strings.TrimSpace(e))
		}
	}
	client := peer
	for i := len(entries) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(entries[i])
		if err != nil {
			a, ok = peerAddr(entries[i]) // some proxies add the port
			if !ok {
				return netip.Addr{}, false
			}
		}
		client = a.Unmap()
		if !inAny(client, trusted) {
			return client, true
		}
	}
	return client, true
}

func peerAddr(hostport string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

func inAny(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Loopback is the default allowed network of `termshift serve`: the
// router's own host, where verify and the operator's tools run.
var Loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// releaseShown quotes a name a caller sent, for a page that echoes it.
func releaseShown(name string) string {
	if len(name) > 40 {
		name = name[:40] + "..."
	}
	return termshift.Quote(name)
}

// grantExpiry is how long the grant cookie lives: until the grant expires.
func grantExpiry(g grant.Grant, now time.Time) int {
	return max(int(g.Expires.Sub(now)/time.Second), 1)
}
