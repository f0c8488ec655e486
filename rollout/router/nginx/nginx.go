// Package nginx is the router provider for an nginx front router: Switch
// rewrites an upstream include file atomically, tests the configuration and
// reloads nginx, putting the previous file back when either fails.
//
// Who may preview: nginx applies the network rule of the built-in router
// (Allow, after TrustedProxies' X-Forwarded-For) with geo and map blocks,
// and previews by header only. It cannot check preview grants (an HMAC
// needs njs or Lua, which a stock nginx lacks), so behind nginx a preview
// is open only to the allowed networks, and termshift's configuration
// refuses a grant key with the nginx router. Two differences from the
// built-in rule, both stricter or equal: only the rightmost X-Forwarded-For
// entry is read (one trusted proxy hop; an entry that is itself a trusted
// proxy is refused), and a malformed entry is refused.
package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router"
)

// Backend is one running release and where it listens.
type Backend = router.Backend

// Switch applies a routing table: its live release gets public traffic,
// the other backends are previewed by header from the allowed networks.
// While the table's maintenance window is on, public traffic and the
// previews it holds get 503 with Retry-After.
func (n *Nginx) Switch(ctx context.Context, t router.Table) error {
	live, ok := t.Backend(t.Live)
	if !ok {
		return fmt.Errorf("nginx: live release %s is not running: there is nothing to route to", termshift.Quote(t.Live))
	}
	var previews []Backend
	for _, b := range t.Backends {
		if b.Release != t.Live {
			previews = append(previews, b)
		}
	}
	if err := t.CheckSplit(); err != nil {
		return fmt.Errorf("nginx switch: %w", err)
	}
	return n.switchTo(ctx, live, previews, t.Maintenance, t.Split)
}

// Location is the location block a server of the operator's nginx.conf
// uses with the include file Nginx writes (the include goes in the http
// block). It sends public traffic to termshift_live; a request whose
// X-Termshift-Release header names another release gets 403 unless it
// comes from an allowed network, then that release, or 404 when no such
// release runs; during a maintenance window public traffic and the held
// previews get 503 with Retry-After. During a weighted split public traffic
// goes to either side, and a browser seen first gets the termshift_split
// cookie that keeps it on its side.
const Location = `location / {
    if ($termshift_refused) {
        return 403 "preview refused: previews of a release that is not live are open only to allowed networks\n";
    }
    if ($termshift_upstream = "") {
        return 404 "unknown release $http_x_termshift_release\n";
    }
    add_header Retry-After $termshift_retry_after always;
    add_header Set-Cookie $termshift_split_cookie always;
    if ($termshift_held) {
        return 503 "down for maintenance, back soon\n";
    }
    proxy_pass http://$termshift_upstream;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    add_header X-Termshift-Served-By $termshift_served_by always;
}
`

// Nginx switches an nginx front router by rewriting an upstream include file
// and reloading nginx.
type Nginx struct {
	// IncludeFile is the file Switch writes; the http block of nginx.conf
	// includes it.
	IncludeFile string
	// Allow lists the networks whose clients may preview; empty: none.
	Allow []netip.Prefix
	// TrustedProxies are the proxies in front of nginx whose
	// X-Forwarded-For is read.
	TrustedProxies []netip.Prefix
	// ReloadCmd reloads nginx; default ["nginx", "-s", "reload"].
	ReloadCmd []string
	// ConfigTestCmd, when set (e.g. ["nginx", "-t"]), runs before the
	// reload; when it fails the previous include file is put back. Set it:
	// `nginx -s reload` exits 0 even when the master rejects the new
	// configuration.
	ConfigTestCmd []string
}

// upstreamHostRE is what Switch accepts as an upstream host:port, so nothing
// written into the include file can end a directive.
var upstreamHostRE = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$`)

// SwitchTo makes live get public traffic and previews reachable through the
// X-Termshift-Release header: it writes the include file atomically, tests
// the configuration when ConfigTestCmd is set, and reloads nginx. When the
// test or the reload fails, the previous include file is put back.
func (n *Nginx) SwitchTo(ctx context.Context, live Backend, previews []Backend) error {
	return n.switchTo(ctx, live, previews, nil, nil)
}

func (n *Nginx) switchTo(ctx context.Context, live Backend, previews []Backend, m *router.Maintenance, sp *router.Split) error {
	if n.IncludeFile == "" {
		return fmt.Errorf("nginx switch: IncludeFile is empty: %w", termshift.ErrInvalid)
	}
	conf, err := n.render(live, previews, m, sp)
	if err != nil {
		return fmt.Errorf("nginx switch to %s: %w", termshift.Quote(live.Release), err)
	}
	prev, err := os.ReadFile(n.IncludeFile)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("nginx switch: read %s: %w", n.IncludeFile, err)
	}
	if err := writeFileAtomic(n.IncludeFile, conf); err != nil {
		return fmt.Errorf("nginx switch: %w", err)
	}
	restore := func(cause error) error {
		var rerr error
		if existed {
			rerr = writeFileAtomic(n.IncludeFile, prev)
		} else {
			rerr = os.Remove(n.IncludeFile)
		}
		if rerr != nil {
			return errors.Join(cause, fmt.Errorf("put back previous %s: %w", n.IncludeFile, rerr))
		}
		return fmt.Errorf("%w (previous %s put back)", cause, n.IncludeFile)
	}
	if len(n.ConfigTestCmd) > 0 {
		if err := run(ctx, n.ConfigTestCmd); err != nil {
			return restore(fmt.Errorf("nginx switch to %s: config test: %w", termshift.Quote(live.Release), err))
		}
	}
	reload := n.ReloadCmd
	if len(reload) == 0 {
		reload = []string{"nginx", "-s", "reload"}
	}
	if err := run(ctx, reload); err != nil {
		return restore(fmt.Errorf("nginx switch to %s: reload: %w", termshift.Quote(live.Release), err))
	}
	return nil
}

func run(ctx context.Context, argv []string) error {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 2000 {
			msg = "..." + msg[len(msg)-2000:]
		}
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, msg)
	}
	return nil
}

// render writes the upstreams (termshift_live and one
// termshift_release_NAME per release), the access rule, and the maps from
// the preview header to the upstream, the release that serves, a refusal
// and a held preview.
func (n *Nginx) render(live Backend, previews []Backend, m *router.Maintenance, sp *router.Split) ([]byte, error) {
	all := append([]Backend{live}, previews...)
	hosts := make(map[string]string, len(all))
	for _, b := range all {
		if err := termshift.ValidateRelease(b.Release); err != nil {
			return nil, err
		}
		host, err := upstreamHost(b)
		if err != nil {
			return nil, err
		}
		if h, dup := hosts[b.Release]; dup && h != host {
			return nil, fmt.Errorf("release %s listed twice, at %s and %s: %w", termshift.Quote(b.Release), h, host, termshift.ErrInvalid)
		}
		hosts[b.Release] = host
	}
	names := make([]string, 0, len(hosts))
	for name := range hosts {
		names = append(names, name)
	}
	slices.Sort(names)

	var b bytes.Buffer
	b.WriteString("# Written by termshift; every switch rewrites it.\n")
	fmt.Fprintf(&b, "# live release: %s\n", live.Release)
	fmt.Fprintf(&b, "upstream termshift_live {\n    server %s;\n    keepalive 32;\n}\n", hosts[live.Release])
	for _, name := range names {
		fmt.Fprintf(&b, "upstream termshift_release_%s {\n    server %s;\n    keepalive 32;\n}\n", name, hosts[name])
	}
	n.renderAccess(&b)
	public := "termshift_live"
	if sp != nil {
		public = "$termshift_public"
	}
	renderSplit(&b, live.Release, sp)
	b.WriteString("map \"$termshift_preview_allowed:$http_x_termshift_release\" $termshift_upstream {\n    default \"\";\n")
	fmt.Fprintf(&b, "    \"0:\" %[2]s;\n    \"1:\" %[2]s;\n    \"0:%[1]s\" termshift_live;\n    \"1:%[1]s\" termshift_live;\n", live.Release, public)
	for _, name := range names {
		if name != live.Release {
			fmt.Fprintf(&b, "    \"1:%s\" termshift_release_%s;\n", name, name)
		}
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "map \"$termshift_preview_allowed:$http_x_termshift_release\" $termshift_refused {\n    default 0;\n    \"~^0:.\" 1;\n    \"0:%s\" 0;\n}\n", live.Release)
	// What maintenance holds: public traffic, and the named previews.
	held := map[string]bool{}
	if m != nil {
		held["termshift_live"] = true
		if sp != nil {
			held["termshift_release_"+sp.Release] = true // its share of public traffic
		}
		for _, r := range m.Releases {
			if _, ok := hosts[r]; ok && r != live.Release {
				held["termshift_release_"+r] = true
			}
		}
	}
	b.WriteString("map $termshift_upstream $termshift_held {\n    default 0;\n")
	for _, up := range slices.Sorted(maps.Keys(held)) {
		fmt.Fprintf(&b, "    %s 1;\n", up)
	}
	b.WriteString("}\n")
	retry := "30"
	if m != nil && m.RetryAfter > 0 {
		retry = strconv.FormatInt(int64((m.RetryAfter+time.Second-1)/time.Second), 10)
	}
	fmt.Fprintf(&b, "map $termshift_held $termshift_retry_after {\n    default \"\";\n    1 %s;\n}\n", retry)
	fmt.Fprintf(&b, "map \"$termshift_held$termshift_upstream\" $termshift_served_by {\n    default \"\";\n    0termshift_live %s;\n", live.Release)
	for _, name := range names {
		if name != live.Release {
			fmt.Fprintf(&b, "    0termshift_release_%s %s;\n", name, name)
		}
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// renderSplit writes $termshift_split_cookie, the Set-Cookie header of a
// public response ("" for none), and, with a split, $termshift_public: the
// upstream of public traffic. A browser with a termshift_split cookie of
// this weight ("RELEASE:PERCENT") keeps its side; any other request is
// placed by split_clients on its address and user agent (so a client that
// keeps no cookies stays on one side too), and gets the cookie. When the
// weight changes every cookie is stale: split_clients gives each hash a
// fixed place in the range, so a browser on the new release at 25% is
// still on it at 50%.
func renderSplit(b *bytes.Buffer, live string, sp *router.Split) {
	if sp == nil {
		b.WriteString("map $host $termshift_split_cookie {\n    default \"\";\n}\n")
		return
	}
	fmt.Fprintf(b, "# split: %d%% of public traffic to %s\n", sp.Percent, sp.Release)
	fmt.Fprintf(b, "split_clients \"${remote_addr}${http_user_agent}\" $termshift_split_hashed {\n    %d%% termshift_release_%s;\n    * termshift_live;\n}\n", sp.Percent, sp.Release)
	fmt.Fprintf(b, "map $cookie_%s $termshift_split_pinned {\n    default \"\";\n    \"%s:%d\" termshift_release_%s;\n    \"%s:%d\" termshift_live;\n}\n",
		router.SplitCookie, sp.Release, sp.Percent, sp.Release, live, sp.Percent)
	b.WriteString("map $termshift_split_pinned $termshift_public {\n    \"\" $termshift_split_hashed;\n    default $termshift_split_pinned;\n}\n")
	cookie := func(side string) string {
		return fmt.Sprintf("\"%s=%s:%d; Path=/; HttpOnly; SameSite=Lax\"", router.SplitCookie, side, sp.Percent)
	}
	fmt.Fprintf(b, "map \"$termshift_split_pinned:$http_x_termshift_release:$termshift_upstream\" $termshift_split_cookie {\n    default \"\";\n    \"::termshift_release_%s\" %s;\n    \"::termshift_live\" %s;\n}\n",
		sp.Release, cookie(sp.Release), cookie(live))
}

// renderAccess writes $termshift_preview_allowed: 1 when the client is in
// an allowed network. The client is the peer, unless the request was
// forwarded: then, from a trusted proxy, the rightmost X-Forwarded-For
// entry; from any other peer, nobody (the built-in router's rule).
func (n *Nginx) renderAccess(b *bytes.Buffer) {
	geo := func(source, name string, on []netip.Prefix, off []netip.Prefix) {
		fmt.Fprintf(b, "geo %s %s {\n    default 0;\n", source, name)
		for _, p := range on {
			fmt.Fprintf(b, "    %s 1;\n", p)
		}
		for _, p := range off {
			if !slices.Contains(on, p) {
				fmt.Fprintf(b, "    %s 0;\n", p)
			}
		}
		b.WriteString("}\n")
	}
	geo("$remote_addr", "$termshift_peer_allowed", n.Allow, nil)
	geo("$remote_addr", "$termshift_peer_trusted", n.TrustedProxies, nil)
	b.WriteString("map $http_x_forwarded_for $termshift_xff_last {\n    default \"\";\n    \"~(?:^|,)\\s*(?<termshift_last>[0-9A-Fa-f.:]+)\\s*$\" $termshift_last;\n}\n")
	// A rightmost entry that is itself a trusted proxy is refused: nginx
	// reads one hop.
	geo("$termshift_xff_last", "$termshift_xff_allowed", n.Allow, n.TrustedProxies)
	b.WriteString("map \"$http_x_forwarded_for$http_forwarded\" $termshift_forwarded {\n    \"\" 0;\n    default 1;\n}\n")
	b.WriteString("map \"$termshift_peer_trusted$termshift_forwarded$termshift_peer_allowed$termshift_xff_allowed\" $termshift_preview_allowed {\n    default 0;\n")
	for _, k := range []string{"0010", "0011", "1010", "1011", "1101", "1111"} {
		fmt.Fprintf(b, "    %s 1;\n", k)
	}
	b.WriteString("}\n")
}

func upstreamHost(b Backend) (string, error) {
	u := b.URL
	if u == nil {
		return "", fmt.Errorf("release %s has no URL: %w", termshift.Quote(b.Release), termshift.ErrInvalid)
	}
	if u.Scheme != "http" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || !upstreamHostRE.MatchString(u.Host) {
		return "", fmt.Errorf("release %s: backend URL %s must be http://HOST:PORT (no user, path or query): %w",
			termshift.Quote(b.Release), termshift.Quote(u.Redacted()), termshift.ErrInvalid)
	}
	return u.Host, nil
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory, fsync, rename, fsync of the directory. A reader sees the old
// file or the new one, never a part.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write %s: sync directory: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write %s: sync directory: %w", path, err)
	}
	return nil
}
