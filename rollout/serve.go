package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/runner"
)

// ServeStatus is what `termshift serve` reports it has applied.
type ServeStatus struct {
	PID         int                  `json:"pid"`
	Started     time.Time            `json:"started"`
	Applied     time.Time            `json:"applied"`
	Listen      string               `json:"listen"`
	Live        string               `json:"live"`
	Backends    map[string]string    `json:"backends"` // release -> URL
	Maintenance bool                 `json:"maintenance"`
	Processes   map[string][]ProcRow `json:"processes,omitempty"`
	Errors      []string             `json:"errors,omitempty"`
}

// ProcRow is one supervised process as serve reports it.
type ProcRow struct {
	Name     string `json:"name"`
	PID      int    `json:"pid"`
	Running  bool   `json:"running"`
	Restarts int    `json:"restarts"`
	LastExit string `json:"last_exit,omitempty"`
}

// ErrServeNotRunning: no `termshift serve` answers for this environment.
var ErrServeNotRunning = errors.New("termshift serve is not running for this environment")

func (st Store) socketPath() string { return filepath.Join(st.Dir, "serve.sock") }

// server is the long-running part: the router plus local releases.
type server struct {
	o       *Orchestrator
	router  *router.Router
	started time.Time

	mu     sync.Mutex
	groups map[string]*runner.Group
	status ServeStatus
}

// Serve runs the router on the environment's public address and supervises
// the local releases state says should run, converging whenever a CLI
// command asks (through the control socket in the state directory) and every
// few seconds. It returns when ctx is done, after stopping its processes.
func (o *Orchestrator) Serve(ctx context.Context) error {
	if o.Env.Router.Provider != "local" {
		return fmt.Errorf("serve runs the local router, but router.provider is %q: use the nginx or elbv2 provider without serve: %w", o.Env.Router.Provider, termshift.ErrInvalid)
	}
	if err := o.Store.Init(); err != nil {
		return err
	}
	sock := o.Store.socketPath()
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("another termshift serve already runs for this environment (socket %s answers): %w", sock, termshift.ErrLocked)
	}
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen on control socket %s: %w", sock, err)
	}
	_ = os.Chmod(sock, 0o600)

	srv := &server{o: o, started: o.Now(), groups: map[string]*runner.Group{}}
	srv.router = router.New(router.Options{Addr: o.Env.Router.Listen, Host: o.Env.Router.Host, PreviewHeader: PreviewHeader, Logger: o.Logger})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	routerErr := make(chan error, 1)
	go func() { routerErr <- srv.router.ListenAndServe(ctx) }()
	<-srv.router.Ready() // closed once bound, or once binding failed
	if srv.router.Addr() == "" {
		err := <-routerErr
		ln.Close()
		_ = os.Remove(sock)
		return termshift.WithHint(fmt.Errorf("router cannot bind %s: %w", o.Env.Router.Listen, err), "another program uses that address: stop it, or change router.listen")
	}

	control := &http.Server{Handler: srv.controlHandler(ctx), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = control.Serve(ln) }()

	if err := srv.apply(ctx); err != nil {
		o.Logger.Warn("apply state", "err", err)
	}
	o.printf("serving %s on http://%s (live: %s); control socket %s\n", o.Env.Name, srv.router.Addr(), orNone(srv.snapshot().Live), sock)
	o.journal("", "serve", "started", "router on "+srv.router.Addr())

	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-routerErr:
			runErr = err
			break loop
		case <-tick.C:
			if err := srv.apply(ctx); err != nil {
				o.Logger.Warn("apply state", "err", err)
			}
		}
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), 15*time.Second)
	defer done()
	_ = control.Shutdown(shutdownCtx)
	_ = os.Remove(sock)
	srv.stopAll(shutdownCtx)
	o.journal("", "serve", "done", "stopped")
	return runErr
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (srv *server) snapshot() ServeStatus {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.status
}

func (srv *server) controlHandler(ctx context.Context) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apply", func(w http.ResponseWriter, r *http.Request) {
		err := srv.apply(ctx)
		st := srv.snapshot()
		if err != nil {
			st.Errors = append(st.Errors, err.Error())
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(srv.snapshot())
	})
	return mux
}

// apply converges on state: start the local releases that should run, stop
// the others, and route public traffic to the live release.
func (srv *server) apply(ctx context.Context) error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	o := srv.o
	s, err := o.loadState()
	if err != nil {
		return err
	}
	var errs []error
	var backends []router.Backend
	urls := map[string]string{}
	for _, name := range s.Names() {
		rs := s.Releases[name]
		spec, ok := o.Env.Release(name)
		if !ok || !rs.Running {
			if g, ok := srv.groups[name]; ok {
				stopCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
				_ = g.Stop(stopCtx)
				cancel()
				delete(srv.groups, name)
				o.Logger.Info("stopped release", "release", name)
			}
			continue
		}
		if spec.Runner == "local" {
			if _, started := srv.groups[name]; !started {
				g, err := srv.start(ctx, s, spec)
				if err != nil {
					errs = append(errs, fmt.Errorf("start %s: %w", termshift.Quote(name), err))
					continue
				}
				srv.groups[name] = g
			}
		}
		u, err := backendURL(spec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		backends = append(backends, router.Backend{Release: name, URL: u})
		urls[name] = u.String()
	}
	// Push a new routing table only when it differs: every push is logged.
	live, current, maint := srv.router.Table()
	if live != s.Live || !sameBackends(current, backends) {
		srv.router.Update(s.Live, backends)
	}
	if want := s.Maintenance != nil; want != maint {
		if want {
			srv.router.SetMaintenance(true, o.Env.Router.Maintain.RetryAfter.Duration, s.Maintenance.Message)
		} else {
			srv.router.SetMaintenance(false, 0, "")
		}
	}
	procs := map[string][]ProcRow{}
	for name, g := range srv.groups {
		for _, p := range g.Status() {
			procs[name] = append(procs[name], ProcRow{Name: p.Name, PID: p.PID, Running: p.Running, Restarts: p.Restarts, LastExit: p.LastExit})
		}
	}
	srv.status = ServeStatus{PID: os.Getpid(), Started: srv.started, Applied: o.Now(), Listen: srv.router.Addr(), Live: s.Live,
		Backends: urls, Maintenance: s.Maintenance != nil, Processes: procs}
	return errors.Join(errs...)
}

// start launches a local release's commands with its rendered configuration.
func (srv *server) start(ctx context.Context, s *State, spec ReleaseSpec) (*runner.Group, error) {
	o := srv.o
	d, _, err := o.templateData(s, spec.Name)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(spec.Commands))
	for n := range spec.Commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var cmds []runner.Command
	for _, n := range names {
		argv, err := expandArgv(spec.Commands[n], d)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, runner.Command{Name: n, Argv: argv, Dir: o.Env.Dir, Env: releaseEnv(d)})
	}
	if err := os.MkdirAll(o.Store.LogDir(spec.Name), 0o700); err != nil {
		return nil, err
	}
	// The processes outlive this request: they stop when serve stops.
	return runner.Start(context.WithoutCancel(ctx), runner.Options{Release: spec.Name, Commands: cmds, LogDir: o.Store.LogDir(spec.Name), Logger: o.Logger})
}

func sameBackends(a, b []router.Backend) bool {
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

func releaseEnv(d *TemplateData) []string {
	return []string{"TERMSHIFT_RELEASE=" + d.Release, "TERMSHIFT_VERSION=" + d.Version, "TERMSHIFT_CONFIG_DIR=" + d.ConfigDir, "TERMSHIFT_PORT=" + strconv.Itoa(d.Port)}
}

func (srv *server) stopAll(ctx context.Context) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for name, g := range srv.groups {
		_ = g.Stop(ctx)
		delete(srv.groups, name)
	}
}

// backendURL is where the router reaches a release.
func backendURL(spec ReleaseSpec) (*url.URL, error) {
	if spec.Port > 0 {
		return &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(spec.Port))}, nil
	}
	u, err := url.Parse(spec.HealthURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("release %s: no port and no usable health_url", termshift.Quote(spec.Name))
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// healthURL is where a release's health is checked directly.
func (o *Orchestrator) healthURL(spec ReleaseSpec) string {
	if spec.HealthURL != "" {
		return spec.HealthURL
	}
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(spec.Port)) + o.Env.Verify.HealthPath
}

func (o *Orchestrator) controlClient() *http.Client {
	sock := o.Store.socketPath()
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

// serveRunning reports whether a serve answers on the control socket.
func (o *Orchestrator) serveRunning() bool {
	c, err := net.DialTimeout("unix", o.Store.socketPath(), 500*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// ServeState asks serve what it has applied.
func (o *Orchestrator) ServeState(ctx context.Context) (*ServeStatus, error) {
	return o.serveCall(ctx, http.MethodGet, "/status")
}

// applyServe asks serve to converge on state now and returns what it
// applied. Without serve it returns ErrServeNotRunning.
func (o *Orchestrator) applyServe(ctx context.Context) (*ServeStatus, error) {
	return o.serveCall(ctx, http.MethodPost, "/apply")
}

func (o *Orchestrator) serveCall(ctx context.Context, method, path string) (*ServeStatus, error) {
	if !o.serveRunning() {
		return nil, termshift.WithHint(ErrServeNotRunning, "start it: `termshift serve` (it runs the router and the local releases)")
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://termshift"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.controlClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask termshift serve: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st ServeStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("ask termshift serve: %w", err)
	}
	return &st, nil
}
