package envfile

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const grantKeyValue = "0123456789abcdef0123456789abcdef0123"

func accessLookup(name string) (string, bool) {
	switch name {
	case "GRANT_KEY":
		return grantKeyValue, true
	case "OLD_GRANT_KEY":
		return "fedcba9876543210fedcba9876543210fedc", true
	case "ADMIN_PASSWORD":
		return "correct horse battery", true
	case "ADMIN_TOKEN":
		return "tok-0123456789abcdef", true
	case "SHORT":
		return "short", true
	}
	return "", false
}

func TestAccessFields(t *testing.T) {
	data := `name: qa
releases: [{name: next, version: "2", runner: external, health_url: "http://next/heartbeat"}]
router:
  listen: "0.0.0.0:8000"
  host: lms.example.edu
  admin_listen: "10.0.0.2:9000"
  admin_auth: {user: ops, password: "${ADMIN_PASSWORD}", token: "${ADMIN_TOKEN}"}
  preview:
    allow: [10.0.0.0/8, 192.0.2.7, "2001:db8::/32"]
    trusted_proxies: [10.0.1.5]
    grant_key: ${GRANT_KEY}
    grant_key_previous: ${OLD_GRANT_KEY}
    public_url: https://lms.example.edu
`
	env, err := ParseEnvironment("termshift.yaml", []byte(data), accessLookup)
	if err != nil {
		t.Fatal(err)
	}
	r := env.Router
	if addr, def := r.AdminAddr(); addr != "10.0.0.2:9000" || def {
		t.Errorf("AdminAddr = %s, %v", addr, def)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if diff := cmp.Diff(r.Preview.AllowPrefixes(), want, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("allow (-got +want):\n%s", diff)
	}
	if got := r.Preview.TrustedPrefixes(); len(got) != 1 || got[0] != netip.MustParsePrefix("10.0.1.5/32") {
		t.Errorf("trusted proxies = %v", got)
	}
	if r.Preview.Scheme() != "https" || env.PublicURL() != "https://lms.example.edu" {
		t.Errorf("scheme %q, public URL %q; want https from public_url", r.Preview.Scheme(), env.PublicURL())
	}
	secrets := env.Secrets()
	for _, s := range []string{grantKeyValue, "correct horse battery", "tok-0123456789abcdef"} {
		if !slices.Contains(secrets, s) {
			t.Errorf("Secrets() misses %q: the journal would not redact it", s[:4])
		}
	}
}

func TestAccessDefaults(t *testing.T) {
	env, err := ParseEnvironment("termshift.yaml", []byte(valid), accessLookup)
	if err != nil {
		t.Fatal(err)
	}
	if addr, def := env.Router.AdminAddr(); addr != DefaultAdminListen || !def {
		t.Errorf("AdminAddr = %s, %v; want the default", addr, def)
	}
	got := env.Router.Preview.AllowPrefixes()
	if len(got) != 2 || got[0] != netip.MustParsePrefix("127.0.0.0/8") || got[1] != netip.MustParsePrefix("::1/128") {
		t.Errorf("default allow = %v, want loopback only", got)
	}
	if env.PublicURL() != "http://127.0.0.1:8000" {
		t.Errorf("PublicURL = %q", env.PublicURL())
	}
	data := strings.Replace(valid, `router: {listen: "127.0.0.1:8000"}`, "router:\n  listen: \"0.0.0.0:8100\"\n  host: lms.localhost\n  preview: {allow: []}", 1)
	env, err = ParseEnvironment("termshift.yaml", []byte(data), accessLookup)
	if err != nil {
		t.Fatal(err)
	}
	if got := env.Router.Preview.AllowPrefixes(); len(got) != 0 {
		t.Errorf("allow: [] = %v, want no network", got)
	}
	if env.PublicURL() != "http://lms.localhost:8100" {
		t.Errorf("PublicURL = %q, want the host with the listen port", env.PublicURL())
	}
}

func TestAccessProblems(t *testing.T) {
	base := "name: qa\nreleases: [{name: next, version: \"2\", runner: external, health_url: \"http://next/heartbeat\"}]\nrouter:\n  listen: \"127.0.0.1:8000\"\n"
	tests := []struct {
		name, router, want string
	}{
		{"admin not host:port", `  admin_listen: nowhere`, `router.admin_listen: "nowhere" is not host:port`},
		{"admin is public", `  admin_listen: "127.0.0.1:8000"`, `router.admin_listen: is router.listen too`},
		{"admin open to the network", `  admin_listen: "0.0.0.0:9000"`, `router.admin_listen: "0.0.0.0:9000" is reachable from other hosts: set router.admin_auth`},
		{"auth without password", "  admin_auth: {user: ops}", "router.admin_auth: basic auth needs both user and password"},
		{"auth empty", "  admin_auth: {}", "router.admin_auth: sets nothing"},
		{"short token", "  admin_auth: {token: \"${SHORT}\"}", "router.admin_auth.token: is 5 bytes; want at least 16"},
		{"password in the file", "  admin_auth: {user: ops, password: hunter2hunter2}", "router.admin_auth.password: must be a ${VAR} reference"},
		{"bad cidr", "  preview: {allow: [10.0.0.0/33]}", `router.preview.allow: item 1, "10.0.0.0/33", is not a network`},
		{"bad proxy", "  preview: {trusted_proxies: [proxy.local]}", `router.preview.trusted_proxies: item 1, "proxy.local", is not a network`},
		{"bad scheme", "  preview: {public_scheme: ftp}", `router.preview.public_scheme: must be http or https, not "ftp"`},
		{"bad public url", "  preview: {public_url: lms.example.edu}", `router.preview.public_url: "lms.example.edu" is not an http(s) URL`},
		{"public url with path", "  preview: {public_url: \"https://lms.example.edu/x\"}", `want only scheme and host`},
		{"scheme disagrees", "  preview: {public_url: \"https://lms.example.edu\", public_scheme: http}", `router.preview.public_url: is https, but public_scheme says http`},
		{"short key", "  preview: {grant_key: \"${SHORT}\"}", "router.preview.grant_key: is 5 bytes; want at least 32 random bytes"},
		{"unset key", "  preview: {grant_key: \"${NO_SUCH_KEY}\"}", "router.preview.grant_key: ${NO_SUCH_KEY} is not set in the environment"},
		{"key in the file", "  preview: {grant_key: " + grantKeyValue + "}", "router.preview.grant_key: must be a ${VAR} reference"},
		{"previous without current", "  preview: {grant_key_previous: \"${OLD_GRANT_KEY}\"}", "router.preview.grant_key_previous: is set without grant_key"},
		{"same key twice", "  preview: {grant_key: \"${GRANT_KEY}\", grant_key_previous: \"${GRANT_KEY}\"}", "router.preview.grant_key_previous: is grant_key itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseEnvironment("termshift.yaml", []byte(base+tt.router+"\n"), accessLookup)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tt.want)
			}
			if strings.Count(err.Error(), "\n") != 1 {
				t.Errorf("want one problem, got:\n%v", err)
			}
		})
	}
	nginx := "name: qa\nreleases: [{name: next, version: \"2\", runner: external, health_url: \"http://next/heartbeat\"}]\nrouter:\n  provider: nginx\n  nginx: {include_file: /etc/nginx/termshift.conf}\n  admin_listen: \"127.0.0.1:9000\"\n  preview: {grant_key: \"${GRANT_KEY}\"}\n"
	_, err := ParseEnvironment("termshift.yaml", []byte(nginx), accessLookup)
	if err == nil || !strings.Contains(err.Error(), "the nginx router cannot check preview grants") || !strings.Contains(err.Error(), "only the local router (`termshift serve`) has an admin address") {
		t.Errorf("nginx with grants and an admin address: %v", err)
	}
}
