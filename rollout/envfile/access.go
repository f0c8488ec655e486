package envfile

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// Who reaches what: the admin address (dashboard, status, metrics) and who
// may preview a release on the public address.

// DefaultAdminListen is the admin address when router.admin_listen is not
// set: loopback only, one port below the demo's router.
const DefaultAdminListen = "127.0.0.1:8099"

// AdminAuth protects the admin address: basic auth (User and Password), a
// bearer token, or both (either is accepted). Values come from ${VAR}.
type AdminAuth struct {
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	Token    string `yaml:"token"`
}

// PreviewConfig says who may preview a release that is not live.
type PreviewConfig struct {
	// Allow lists the networks (CIDR, or one address) whose clients may
	// preview any running release. Absent: loopback only (the router's
	// own host, where verify runs). An empty list: no network; only
	// grants.
	Allow []string `yaml:"allow"`
	// TrustedProxies lists the proxies in front of the router whose
	// X-Forwarded-For is believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// GrantKey signs preview grants (`termshift preview-link`); at least
	// 32 bytes, from ${VAR}. GrantKeyPrevious is still accepted, for a
	// rotation.
	GrantKey         string `yaml:"grant_key"`
	GrantKeyPrevious string `yaml:"grant_key_previous"`
	// PublicScheme is http or https: with https the grant cookie is Secure.
	PublicScheme string `yaml:"public_scheme"`
	// PublicURL is the public address as visitors write it (a load
	// balancer's https://lms.example.edu), for the links termshift prints.
	PublicURL string `yaml:"public_url"`
}

// minAdminToken is the shortest bearer token accepted.
const minAdminToken = 16

// minGrantKey matches grant.MinKeyBytes (envfile does not import router
// packages).
const minGrantKey = 32

// AdminAddr is the admin address and whether it is the default.
func (r RouterConfig) AdminAddr() (addr string, isDefault bool) {
	if r.AdminListen == "" {
		return DefaultAdminListen, true
	}
	return r.AdminListen, false
}

// AllowPrefixes are the networks allowed to preview: loopback when
// router.preview.allow is absent.
func (p PreviewConfig) AllowPrefixes() []netip.Prefix {
	if p.Allow == nil {
		return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	return prefixes(p.Allow)
}

// TrustedPrefixes are the trusted proxies.
func (p PreviewConfig) TrustedPrefixes() []netip.Prefix { return prefixes(p.TrustedProxies) }

// Scheme is the public scheme: public_scheme, else public_url's, else http.
func (p PreviewConfig) Scheme() string {
	if p.PublicScheme != "" {
		return p.PublicScheme
	}
	if u, err := url.Parse(p.PublicURL); err == nil && u.Scheme != "" {
		return u.Scheme
	}
	return "http"
}

// PublicURL is the public address for links: router.preview.public_url,
// else the scheme with router.host and the listen port (loopback when the
// router listens on every address), else the listen address.
func (e *Environment) PublicURL() string {
	r := e.Router
	if r.Preview.PublicURL != "" {
		return strings.TrimSuffix(r.Preview.PublicURL, "/")
	}
	host, port, err := net.SplitHostPort(r.Listen)
	if err != nil {
		return r.Preview.Scheme() + "://" + r.Listen
	}
	if r.Host != "" {
		host = r.Host
	} else if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := r.Preview.Scheme()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return scheme + "://" + host
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

func prefixes(list []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix reads a CIDR or one address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (r RouterConfig) accessSecrets() []string {
	out := []string{r.Preview.GrantKey, r.Preview.GrantKeyPrevious}
	if r.AdminAuth != nil {
		out = append(out, r.AdminAuth.Password, r.AdminAuth.Token)
	}
	return out
}

func (v *validator) validateAccess(env *Environment) {
	r := env.Router
	local := r.Provider == "" || r.Provider == "local"
	if r.AdminListen != "" {
		switch {
		case !local:
			v.fail("router.admin_listen", "only the local router (`termshift serve`) has an admin address; the %s router has none", r.Provider)
		case !hostPortRE.MatchString(r.AdminListen):
			v.fail("router.admin_listen", "%s is not host:port", short(r.AdminListen))
		case r.AdminListen == r.Listen:
			v.fail("router.admin_listen", "is router.listen too: the admin address must not be the public one")
		case !isLoopback(r.AdminListen) && (r.AdminAuth == nil || (r.AdminAuth.Password == "" && r.AdminAuth.Token == "")):
			v.fail("router.admin_listen", "%s is reachable from other hosts: set router.admin_auth (user and password, or token, from ${VAR}) so the dashboard and metrics are not open to whoever reaches it", short(r.AdminListen))
		}
	}
	if a := r.AdminAuth; a != nil {
		switch {
		case a.User == "" && a.Password == "" && a.Token == "":
			v.fail("router.admin_auth", "sets nothing: give user and password (basic auth), or token (bearer), or remove it")
		case (a.User == "") != (a.Password == ""):
			v.fail("router.admin_auth", "basic auth needs both user and password")
		}
		if a.Token != "" && len(a.Token) < minAdminToken {
			v.fail("router.admin_auth.token", "is %d bytes; want at least %d random bytes", len(a.Token), minAdminToken)
		}
		v.fromVariable("router.admin_auth.password", a.Password)
		v.fromVariable("router.admin_auth.token", a.Token)
	}
	p := r.Preview
	for _, list := range []struct {
		field string
		cidrs []string
	}{{"router.preview.allow", p.Allow}, {"router.preview.trusted_proxies", p.TrustedProxies}} {
		for i, c := range list.cidrs {
			if _, err := parsePrefix(c); err != nil {
				v.fail(list.field, "item %d, %s, is not a network: want a CIDR such as 10.0.0.0/8, or one address", i+1, short(c))
			}
		}
	}
	if p.PublicScheme != "" && p.PublicScheme != "http" && p.PublicScheme != "https" {
		v.fail("router.preview.public_scheme", "must be http or https, not %s", short(p.PublicScheme))
	}
	if p.PublicURL != "" {
		u, err := url.Parse(p.PublicURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.fail("router.preview.public_url", "%s is not an http(s) URL such as https://lms.example.edu", short(p.PublicURL))
		case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil:
			v.fail("router.preview.public_url", "%s: want only scheme and host (no path, query or user)", short(p.PublicURL))
		case p.PublicScheme != "" && u.Scheme != p.PublicScheme:
			v.fail("router.preview.public_url", "is %s, but public_scheme says %s", u.Scheme, p.PublicScheme)
		}
	}
	if p.GrantKey == "" && p.GrantKeyPrevious != "" {
		v.fail("router.preview.grant_key_previous", "is set without grant_key: a rotation keeps the previous key beside a new one")
	}
	if p.GrantKey != "" {
		if !local {
			v.fail("router.preview.grant_key", "the %s router cannot check preview grants: previews through it are open only to router.preview.allow (remove grant_key)", r.Provider)
		}
		if len(p.GrantKey) < minGrantKey {
			v.fail("router.preview.grant_key", "is %d bytes; want at least %d random bytes (e.g. `openssl rand -hex 32`)", len(p.GrantKey), minGrantKey)
		}
		if p.GrantKeyPrevious != "" && len(p.GrantKeyPrevious) < minGrantKey {
			v.fail("router.preview.grant_key_previous", "is %d bytes; want at least %d", len(p.GrantKeyPrevious), minGrantKey)
		}
		if p.GrantKey == p.GrantKeyPrevious {
			v.fail("router.preview.grant_key_previous", "is grant_key itself: after a rotation it holds the former key")
		}
	}
	v.fromVariable("router.preview.grant_key", p.GrantKey)
	v.fromVariable("router.preview.grant_key_previous", p.GrantKeyPrevious)
}

// fromVariable refuses a secret written into the file: it must come from a
// ${VAR} reference, so the file can be shared and committed.
func (v *validator) fromVariable(field, value string) {
	if value == "" {
		return
	}
	if !strings.Contains(v.lineText(v.line(field)), "${") {
		v.fail(field, "must be a ${VAR} reference, not the secret itself: secrets stay out of the environment file")
	}
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
