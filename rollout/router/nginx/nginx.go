// Package nginx is the router provider for an nginx front router: Switch
// rewrites an upstream include file atomically, tests the configuration and
// reloads nginx, putting the previous file back when either fails.
package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router"
)

// Backend is one running release and where it listens.
type Backend = router.Backend

// Switch applies a routing table: its live release gets public traffic,
// the other backends are previewed by header. nginx has no maintenance page
// of termshift's: a table with Maintenance set is applied without it, and
// the window is kept by the release's own pre_cutover commands.
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
	return n.SwitchTo(ctx, live, previews)
}

// Location is the location block a server of the operator's nginx.conf
// uses with the include file Nginx writes (the include goes in the http
// block). It sends public traffic to termshift_live, a request whose
// X-Termshift-Release header names a running release to that release, and
// answers 404 to a header naming an unknown one, never public traffic.
const Location = `location / {
    if ($termshift_upstream = "") {
        return 404 "unknown release $http_x_termshift_release\n";
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
	if n.IncludeFile == "" {
		return fmt.Errorf("nginx switch: IncludeFile is empty: %w", termshift.ErrInvalid)
	}
	conf, err := renderNginx(live, previews)
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

// renderNginx writes the upstreams: termshift_live, one
// termshift_release_NAME per release, and the maps from the preview header
// to the upstream and to the release that serves.
func renderNginx(live Backend, previews []Backend) ([]byte, error) {
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
	b.WriteString("map $http_x_termshift_release $termshift_upstream {\n    default \"\";\n    \"\" termshift_live;\n")
	for _, name := range names {
		fmt.Fprintf(&b, "    %s termshift_release_%s;\n", name, name)
	}
	b.WriteString("}\nmap $http_x_termshift_release $termshift_served_by {\n    default \"\";\n")
	fmt.Fprintf(&b, "    \"\" %s;\n", live.Release)
	for _, name := range names {
		fmt.Fprintf(&b, "    %s %s;\n", name, name)
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
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
