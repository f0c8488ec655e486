package nginx_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/router/nginx"
	"github.com/termshift/termshift/rollout/router/routertest"
)

func TestNginxRender(t *testing.T) {
	t.Parallel()
	include := filepath.Join(t.TempDir(), "upstreams.conf")
	n := &nginx.Nginx{IncludeFile: include, ReloadCmd: []string{"true"},
		Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.1.5/32")}}
	live := router.Backend{Release: "next", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:8002"}}
	current := router.Backend{Release: "current", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:8001", Path: "/"}}
	table := router.Table{Live: "next", Backends: []router.Backend{current, live},
		Maintenance: &router.Maintenance{RetryAfter: 8500 * time.Millisecond, Releases: []string{"current", "gone"}}}
	if err := n.Switch(t.Context(), table); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(include)
	if err != nil {
		t.Fatal(err)
	}
	want := `# Written by termshift; every switch rewrites it.
# live release: next
upstream termshift_live {
    server 127.0.0.1:8002;
    keepalive 32;
}
upstream termshift_release_current {
    server 127.0.0.1:8001;
    keepalive 32;
}
upstream termshift_release_next {
    server 127.0.0.1:8002;
    keepalive 32;
}
geo $remote_addr $termshift_peer_allowed {
    default 0;
    10.0.0.0/8 1;
}
geo $remote_addr $termshift_peer_trusted {
    default 0;
    10.0.1.5/32 1;
}
map $http_x_forwarded_for $termshift_xff_last {
    default "";
    "~(?:^|,)\s*(?<termshift_last>[0-9A-Fa-f.:]+)\s*$" $termshift_last;
}
geo $termshift_xff_last $termshift_xff_allowed {
    default 0;
    10.0.0.0/8 1;
    10.0.1.5/32 0;
}
map "$http_x_forwarded_for$http_forwarded" $termshift_forwarded {
    "" 0;
    default 1;
}
map "$termshift_peer_trusted$termshift_forwarded$termshift_peer_allowed$termshift_xff_allowed" $termshift_preview_allowed {
    default 0;
    0010 1;
    0011 1;
    1010 1;
    1011 1;
    1101 1;
    1111 1;
}
map $host $termshift_split_cookie {
    default "";
}
map "$termshift_preview_allowed:$http_x_termshift_release" $termshift_upstream {
    default "";
    "0:" termshift_live;
    "1:" termshift_live;
    "0:next" termshift_live;
    "1:next" termshift_live;
    "1:current" termshift_release_current;
}
map "$termshift_preview_allowed:$http_x_termshift_release" $termshift_refused {
    default 0;
    "~^0:." 1;
    "0:next" 0;
}
map $termshift_upstream $termshift_held {
    default 0;
    termshift_live 1;
    termshift_release_current 1;
}
map $termshift_held $termshift_retry_after {
    default "";
    1 9;
}
map "$termshift_held$termshift_upstream" $termshift_served_by {
    default "";
    0termshift_live next;
    0termshift_release_current current;
}
`
	if diff := cmp.Diff(string(got), want); diff != "" {
		t.Errorf("include file (-got +want):\n%s", diff)
	}
	if fi, err := os.Stat(include); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("include file mode: %v %v, want 0644", fi.Mode(), err)
	}
}

func TestNginxBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := router.Backend{Release: "current", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:8001"}}
	tests := []struct {
		name     string
		include  string
		live     router.Backend
		previews []router.Backend
	}{
		{"no include file", "", ok, nil},
		{"bad release name", "", router.Backend{Release: "next;}", URL: ok.URL}, nil},
		{"no url", "", router.Backend{Release: "next"}, nil},
		{"https", "", router.Backend{Release: "next", URL: &url.URL{Scheme: "https", Host: "127.0.0.1:1"}}, nil},
		{"path", "", router.Backend{Release: "next", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:1", Path: "/lms"}}, nil},
		{"no port", "", router.Backend{Release: "next", URL: &url.URL{Scheme: "http", Host: "127.0.0.1"}}, nil},
		{"directive in host", "", router.Backend{Release: "next", URL: &url.URL{Scheme: "http", Host: "a;b:1"}}, nil},
		{"user in url", "", router.Backend{Release: "next", URL: &url.URL{Scheme: "http", User: url.UserPassword("u", "hunter2"), Host: "h:1"}}, nil},
		{"same release twice", "", ok, []router.Backend{{Release: "current", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:9"}}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			include := filepath.Join(dir, fmt.Sprintf("up%d.conf", i))
			if tt.name == "no include file" {
				include = ""
			}
			n := &nginx.Nginx{IncludeFile: include, ReloadCmd: []string{"true"}}
			err := n.SwitchTo(t.Context(), tt.live, tt.previews)
			if !errors.Is(err, termshift.ErrInvalid) {
				t.Fatalf("Switch: %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
			if include != "" {
				if _, err := os.Stat(include); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("include file written despite bad input: %v", err)
				}
			}
		})
	}
}

func TestNginxFailedReloadPutsBackPrevious(t *testing.T) {
	t.Parallel()
	include := filepath.Join(t.TempDir(), "upstreams.conf")
	n := &nginx.Nginx{IncludeFile: include, ReloadCmd: []string{"true"}}
	current := router.Backend{Release: "current", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:8001"}}
	next := router.Backend{Release: "next", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:8002"}}
	if err := n.SwitchTo(t.Context(), current, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(include)
	n.ReloadCmd = []string{"sh", "-c", "echo reload broke >&2; exit 1"}
	err := n.SwitchTo(t.Context(), next, nil)
	if err == nil || !strings.Contains(err.Error(), "reload broke") || !strings.Contains(err.Error(), "put back") {
		t.Fatalf("Switch with a failing reload: %v; want the reload's output and put back", err)
	}
	after, _ := os.ReadFile(include)
	if diff := cmp.Diff(string(after), string(before)); diff != "" {
		t.Errorf("include after failed reload (-got +want):\n%s", diff)
	}
	// Without a previous file, a failed switch leaves none.
	fresh := &nginx.Nginx{IncludeFile: include + ".new", ReloadCmd: []string{"false"}}
	if err := fresh.SwitchTo(t.Context(), next, nil); err == nil {
		t.Fatal("Switch with reload `false`: no error")
	}
	if _, err := os.Stat(include + ".new"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed first switch left an include file: %v", err)
	}
}

// privateNginx runs an nginx master of its own on a loopback port, with its
// configuration, logs and pid in a temporary directory, including the
// upstream file Nginx writes.
type privateNginx struct {
	dir, conf, include, addr string
}

func requireNginx(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nginx")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("nginx is not on PATH: install Debian's nginx package (CI=true forbids skipping)")
	}
	t.Skip("nginx is not on PATH: apt-get install nginx")
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (p *privateNginx) args(extra ...string) []string {
	return append([]string{"-p", p.dir, "-c", p.conf, "-e", filepath.Join(p.dir, "error.log")}, extra...)
}

type answer = routertest.Answer

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

var backend = routertest.Backend

func startNginx(t *testing.T, bin string, bootstrap router.Backend) *privateNginx {
	t.Helper()
	dir := t.TempDir()
	p := &privateNginx{dir: dir, conf: filepath.Join(dir, "nginx.conf"), include: filepath.Join(dir, "upstreams.conf"), addr: freeAddr(t)}
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o777); err != nil {
		t.Fatal(err)
	}
	var temps strings.Builder
	for _, k := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "    %s_temp_path %s;\n", k, filepath.Join(dir, "tmp", k))
	}
	conf := fmt.Sprintf(`worker_processes 1;
error_log %[1]s/error.log info;
pid %[1]s/nginx.pid;
events { worker_connections 128; }
http {
    access_log off;
%[2]s    include %[3]s;
    server {
        listen %[4]s;
%[5]s    }
}
`, dir, temps.String(), p.include, p.addr, indentedLocation())
	if err := os.WriteFile(p.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// The first include is written without a reload: no master runs yet.
	boot := &nginx.Nginx{IncludeFile: p.include, ReloadCmd: []string{"true"}}
	if err := boot.SwitchTo(t.Context(), bootstrap, nil); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, p.args("-g", "daemon off;")...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v: %s%s", err, stderr.String(), log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not listen on %s", p.addr)
		}
	}
}

// indentedLocation indents the location block for a server block.
func indentedLocation() string {
	var b strings.Builder
	for line := range strings.Lines(nginx.Location) {
		b.WriteString("        " + line)
	}
	return b.String()
}

func getVia(t *testing.T, addr, release string) answer {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/", nil)
	if release != "" {
		req.Header.Set("X-Termshift-Release", release)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET through nginx: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{Code: resp.StatusCode, ServedBy: resp.Header.Get(router.ServedByHeader), Body: string(b)}
}

// waitServedBy polls until public traffic reaches release: an nginx reload
// hands new connections to new workers while old ones finish.
func waitServedBy(t *testing.T, addr, release string) {
	t.Helper()
	want := answer{Code: 200, ServedBy: release, Body: "release " + release}
	var got answer
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = getVia(t, addr, ""); got == want {
			return
		}
	}
	t.Fatalf("public traffic never moved to %s; last answer %+v", release, got)
}

func TestNginxSwitch(t *testing.T) {
	t.Parallel()
	bin := requireNginx(t)
	blue, green := backend(t, "blue"), backend(t, "green")
	p := startNginx(t, bin, blue)
	n := &nginx.Nginx{
		Allow:         loopback,
		IncludeFile:   p.include,
		ReloadCmd:     append([]string{bin}, p.args("-s", "reload")...),
		ConfigTestCmd: append([]string{bin}, p.args("-t", "-q")...),
	}

	waitServedBy(t, p.addr, "blue")
	if err := n.SwitchTo(t.Context(), blue, []router.Backend{green}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		header string
		want   answer
	}{
		{"green", answer{Code: 200, ServedBy: "green", Body: "release green"}},
		{"blue", answer{Code: 200, ServedBy: "blue", Body: "release blue"}},
		{"purple", answer{Code: 404, ServedBy: "", Body: "unknown release purple\n"}},
	} {
		// The reload is asynchronous: retry until the new workers answer.
		var got answer
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if got = getVia(t, p.addr, tt.header); got == tt.want {
				break
			}
		}
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("preview %s through nginx (-got +want):\n%s", tt.header, diff)
		}
	}

	// Cutover, then rollback.
	if err := n.SwitchTo(t.Context(), green, []router.Backend{blue}); err != nil {
		t.Fatal(err)
	}
	waitServedBy(t, p.addr, "green")
	if err := n.SwitchTo(t.Context(), blue, []router.Backend{green}); err != nil {
		t.Fatal(err)
	}
	waitServedBy(t, p.addr, "blue")
}

func TestNginxBrokenIncludeIsPutBack(t *testing.T) {
	t.Parallel()
	bin := requireNginx(t)
	blue := backend(t, "blue")
	p := startNginx(t, bin, blue)
	n := &nginx.Nginx{
		Allow:         loopback,
		IncludeFile:   p.include,
		ReloadCmd:     append([]string{bin}, p.args("-s", "reload")...),
		ConfigTestCmd: append([]string{bin}, p.args("-t", "-q")...),
	}
	before, err := os.ReadFile(p.include)
	if err != nil {
		t.Fatal(err)
	}
	// A host that does not resolve passes Switch's own checks but fails
	// nginx -t.
	bad := router.Backend{Release: "green", URL: &url.URL{Scheme: "http", Host: "no-such-host.invalid:80"}}
	err = n.SwitchTo(t.Context(), bad, []router.Backend{blue})
	if err == nil || !strings.Contains(err.Error(), "config test") || !strings.Contains(err.Error(), "no-such-host.invalid") {
		t.Fatalf("Switch to an unresolvable upstream: %v; want a config test error naming the host", err)
	}
	after, _ := os.ReadFile(p.include)
	if diff := cmp.Diff(string(after), string(before)); diff != "" {
		t.Errorf("include after failed config test (-got +want):\n%s", diff)
	}
	if got := getVia(t, p.addr, ""); got != (answer{Code: 200, ServedBy: "blue", Body: "release blue"}) {
		t.Errorf("traffic after failed switch: %+v, want blue", got)
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	bin := requireNginx(t)
	p := startNginx(t, bin, backend(t, "boot"))
	n := &nginx.Nginx{
		Allow:         loopback,
		IncludeFile:   p.include,
		ReloadCmd:     append([]string{bin}, p.args("-s", "reload")...),
		ConfigTestCmd: append([]string{bin}, p.args("-t", "-q")...),
	}
	routertest.Run(t, n, p.addr)
}

func TestConformanceSplit(t *testing.T) {
	t.Parallel()
	bin := requireNginx(t)
	p := startNginx(t, bin, backend(t, "boot"))
	n := &nginx.Nginx{
		Allow:         loopback,
		IncludeFile:   p.include,
		ReloadCmd:     append([]string{bin}, p.args("-s", "reload")...),
		ConfigTestCmd: append([]string{bin}, p.args("-t", "-q")...),
	}
	routertest.RunSplit(t, n, p.addr)
}

// TestNginxPreviewAccess runs the access rule in a real nginx: a client
// from 127.0.0.2, outside the allowed networks, is refused a preview; a
// trusted proxy's client is judged by the X-Forwarded-For it reports; a
// forwarded request from a proxy nobody declared is refused; a maintenance
// window holds public traffic and the previews it names.
func TestNginxPreviewAccess(t *testing.T) {
	t.Parallel()
	bin := requireNginx(t)
	blue, green, old := backend(t, "blue"), backend(t, "green"), backend(t, "old")
	p := startNginx(t, bin, blue)
	n := &nginx.Nginx{
		Allow:          []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("198.51.100.0/24")},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		IncludeFile:    p.include,
		ReloadCmd:      append([]string{bin}, p.args("-s", "reload")...),
		ConfigTestCmd:  append([]string{bin}, p.args("-t", "-q")...),
	}
	table := router.Table{Live: "blue", Backends: []router.Backend{blue, green, old}}
	if err := n.Switch(t.Context(), table); err != nil {
		t.Fatal(err)
	}
	client := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	ask := func(from, release, xff string) answer {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+p.addr+"/", nil)
		if release != "" {
			req.Header.Set(router.PreviewHeader, release)
		}
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := client(from).Do(req)
		if err != nil {
			t.Fatalf("GET through nginx from %s: %v", from, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{Code: resp.StatusCode, ServedBy: resp.Header.Get(router.ServedByHeader), Body: string(b)}
	}
	refused := answer{Code: 403, Body: "preview refused: previews of a release that is not live are open only to allowed networks\n"}
	tests := []struct {
		name, from, release, xff string
		want                     answer
	}{
		{"public from outside", "127.0.0.2", "", "", answer{Code: 200, ServedBy: "blue", Body: "release blue"}},
		{"live by header from outside", "127.0.0.2", "blue", "", answer{Code: 200, ServedBy: "blue", Body: "release blue"}},
		{"next from outside", "127.0.0.2", "green", "", refused},
		{"rollback target from outside", "127.0.0.2", "old", "", refused},
		{"unknown from outside", "127.0.0.2", "purple", "", refused},
		{"next from the allowed network", "127.0.0.1", "green", "", answer{Code: 200, ServedBy: "green", Body: "release green"}},
		{"unknown from the allowed network", "127.0.0.1", "purple", "", answer{Code: 404, Body: "unknown release purple\n"}},
		{"trusted proxy's allowed client", "127.0.0.1", "old", "203.0.113.9, 198.51.100.9", answer{Code: 200, ServedBy: "old", Body: "release old"}},
		{"trusted proxy's outside client", "127.0.0.1", "old", "198.51.100.9, 203.0.113.9", refused},
		{"forwarded by an undeclared proxy", "127.0.0.2", "green", "198.51.100.9", refused},
	}
	for _, tt := range tests {
		// The reload is asynchronous: retry until the new workers answer.
		var got answer
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if got = ask(tt.from, tt.release, tt.xff); got == tt.want {
				break
			}
		}
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("%s (-got +want):\n%s", tt.name, diff)
		}
	}

	table.Maintenance = &router.Maintenance{RetryAfter: 9 * time.Second, Releases: []string{"green"}}
	if err := n.Switch(t.Context(), table); err != nil {
		t.Fatal(err)
	}
	held := answer{Code: 503, Body: "down for maintenance, back soon\n"}
	for _, release := range []string{"", "green"} {
		var got answer
		var retry string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+p.addr+"/", nil)
			req.Header.Set(router.PreviewHeader, release)
			resp, err := client("127.0.0.1").Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got, retry = answer{Code: resp.StatusCode, ServedBy: resp.Header.Get(router.ServedByHeader), Body: string(b)}, resp.Header.Get("Retry-After")
			if got == held {
				break
			}
		}
		if got != held || retry != "9" {
			t.Errorf("preview %q during the window: %+v Retry-After %q; want 503 with Retry-After 9", release, got, retry)
		}
	}
	if got := ask("127.0.0.1", "old", ""); got.ServedBy != "old" {
		t.Errorf("a preview the window does not hold: %+v", got)
	}
}

// TestNginxSplitGrowsWithoutMovingBrowsersBack: split_clients places a
// browser by its address and user agent, so one that keeps no cookie stays
// on its side, and a browser on the new release at 25% is still on it at
// 50% (its cookie of 25% is stale and replaced).
func TestNginxSplitGrowsWithoutMovingBrowsersBack(t *testing.T) {
	t.Parallel()
	bin := requireNginx(t)
	blue, green := backend(t, "blue"), backend(t, "green")
	p := startNginx(t, bin, blue)
	n := &nginx.Nginx{
		Allow:         loopback,
		IncludeFile:   p.include,
		ReloadCmd:     append([]string{bin}, p.args("-s", "reload")...),
		ConfigTestCmd: append([]string{bin}, p.args("-t", "-q")...),
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	split := func(percent int) {
		t.Helper()
		table := router.Table{Live: "blue", Backends: []router.Backend{blue, green}, Split: &router.Split{Release: "green", Percent: percent}}
		if err := n.Switch(t.Context(), table); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(":%d", percent)
		for deadline, inARow := time.Now().Add(10*time.Second), 0; inARow < 20; time.Sleep(5 * time.Millisecond) {
			if a, err := routertest.GetAs(t, client, p.addr, "probe", nil); err == nil && a.Cookie != nil && strings.HasSuffix(a.Cookie.Value, want) {
				inARow++
			} else {
				inARow = 0
			}
			if time.Now().After(deadline) {
				t.Fatalf("the split of %d%% was never applied", percent)
			}
		}
	}
	split(25)
	sides := map[string]string{}
	cookies := map[string]*http.Cookie{}
	for i := range 300 {
		agent := fmt.Sprintf("agent-%d", i)
		first, err := routertest.GetAs(t, client, p.addr, agent, nil)
		if err != nil {
			t.Fatal(err)
		}
		again, err := routertest.GetAs(t, client, p.addr, agent, nil)
		if err != nil {
			t.Fatal(err)
		}
		if again.ServedBy != first.ServedBy {
			t.Fatalf("%s without a cookie: %s, then %s", agent, first.ServedBy, again.ServedBy)
		}
		if want := first.ServedBy + ":25"; first.Cookie == nil || first.Cookie.Value != want {
			t.Fatalf("%s: cookie %v, want %s=%s", agent, first.Cookie, router.SplitCookie, want)
		}
		sides[agent], cookies[agent] = first.ServedBy, first.Cookie
	}
	split(50)
	onGreen := 0
	for agent, side := range sides {
		a, err := routertest.GetAs(t, client, p.addr, agent, cookies[agent])
		if err != nil {
			t.Fatal(err)
		}
		if side == "green" && a.ServedBy != "green" {
			t.Errorf("%s was on green at 25%% and on %s at 50%%", agent, a.ServedBy)
		}
		if a.Cookie == nil || a.Cookie.Value != a.ServedBy+":50" {
			t.Errorf("%s with a stale cookie got cookie %v, want %s:50", agent, a.Cookie, a.ServedBy)
		}
		if a.ServedBy == "green" {
			onGreen++
		}
	}
	if onGreen < 120 || onGreen > 180 {
		t.Errorf("at 50%%, %d of 300 browsers on green", onGreen)
	}
}
