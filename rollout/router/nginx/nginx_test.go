package nginx_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	n := &nginx.Nginx{IncludeFile: include, ReloadCmd: []string{"true"}}
	live := router.Backend{Release: "next", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:8002"}}
	previews := []router.Backend{
		{Release: "current", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:8001", Path: "/"}},
		live,
	}
	if err := n.SwitchTo(t.Context(), live, previews); err != nil {
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
map $http_x_termshift_release $termshift_upstream {
    default "";
    "" termshift_live;
    current termshift_release_current;
    next termshift_release_next;
}
map $http_x_termshift_release $termshift_served_by {
    default "";
    "" next;
    current current;
    next next;
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
		IncludeFile:   p.include,
		ReloadCmd:     append([]string{bin}, p.args("-s", "reload")...),
		ConfigTestCmd: append([]string{bin}, p.args("-t", "-q")...),
	}
	routertest.Run(t, n, p.addr)
}
