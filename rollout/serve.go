package rollout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/control"
	"github.com/termshift/termshift/rollout/router/builtin"
	"github.com/termshift/termshift/rollout/runner"
	"github.com/termshift/termshift/rollout/runner/local"
	"github.com/termshift/termshift/rollout/store"
)

// supervisor is a runner whose releases serve keeps running itself.
type supervisor interface {
	Supervise(ctx context.Context, d runner.Deployment) (*local.Group, error)
}

// server is the long-running part: the router plus supervised releases.
type server struct {
	o       *Orchestrator
	router  *builtin.Router
	started time.Time

	// admin is the bound admin address, "" when it could not bind.
	admin string

	mu     sync.Mutex
	groups map[string]*local.Group
	status control.Status
	// last is the state last applied; stateErr and stateErrSince say that
	// the state cannot be read now, and since when.
	last          *store.State
	stateErr      error
	stateErrSince time.Time
}

// StatePoll is how often serve asks a shared state whether it changed
// (store.Watcher: a conditional request, without a body while nothing
// changed), so that a cutover or rollback made from any machine is served
// by every router well within a second. A state that cannot tell is
// loaded in full every ApplyEvery.
const (
	StatePoll  = 250 * time.Millisecond
	ApplyEvery = 3 * time.Second
)

// Serve runs the built-in router on the environment's public address and
// supervises the local releases state says should run, converging whenever
// a CLI command asks (through the control socket in the work directory) and
// every few seconds. It returns when ctx is done, after stopping its
// processes.
func (o *Orchestrator) Serve(ctx context.Context) error {
	if _, ok := o.P.Router.(*builtin.Remote); !ok {
		return fmt.Errorf("serve runs the built-in router, but router.provider is %q: nginx and elbv2 need no serve: %w", o.Env.Router.Provider, termshift.ErrInvalid)
	}
	// Built before the control socket answers: a command that sees the
	// socket finds the router bound moments later.
	rtr, err := o.newRouter()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.Work, 0o700); err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	ctl := o.Control()
	if c, err := net.DialTimeout("unix", ctl.Socket, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("another termshift serve already runs for this environment (socket %s answers): %w", ctl.Socket, termshift.ErrLocked)
	}
	_ = os.Remove(ctl.Socket)
	ln, err := net.Listen("unix", ctl.Socket)
	if err != nil {
		return fmt.Errorf("listen on control socket %s: %w", ctl.Socket, err)
	}
	_ = os.Chmod(ctl.Socket, 0o600)

	srv := &server{o: o, started: o.Now(), groups: map[string]*local.Group{}}
	srv.router = rtr
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	routerErr := make(chan error, 1)
	go func() { routerErr <- srv.router.ListenAndServe(ctx) }()
	<-srv.router.Ready() // closed once bound, or once binding failed
	if srv.router.Addr() == "" {
		err := <-routerErr
		ln.Close()
		_ = os.Remove(ctl.Socket)
		return termshift.WithHint(fmt.Errorf("router cannot bind %s: %w", o.Env.Router.Listen, err), "another program uses that address: stop it, or change router.listen")
	}
	stopAdmin, err := srv.startAdmin(ctx)
	if err != nil {
		ln.Close()
		_ = os.Remove(ctl.Socket)
		return err
	}

	apply := func() (control.Status, error) {
		err := srv.apply(ctx)
		return srv.snapshot(), err
	}
	ctlServer := &http.Server{Handler: control.Handler(apply, srv.snapshot), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = ctlServer.Serve(ln) }()

	if err := srv.apply(ctx); err != nil {
		o.Logger.Warn("apply state", "err", err)
	}
	o.printf("serving %s on http://%s (live: %s); control socket %s\n", o.Env.Name, srv.router.Addr(), orNone(srv.snapshot().Live), ctl.Socket)
	o.journal(ctx, "", "serve", "started", "router on "+srv.router.Addr())

	tick := time.NewTicker(ApplyEvery)
	defer tick.Stop()
	var poll <-chan time.Time
	watcher, watching := o.Store.(store.Watcher)
	if watching {
		p := time.NewTicker(StatePoll)
		defer p.Stop()
		poll = p.C
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-routerErr:
			runErr = err
			break loop
		case <-poll:
			if !srv.changed(ctx, watcher) {
				continue
			}
			if err := srv.apply(ctx); err != nil {
				o.Logger.Warn("apply state", "err", err)
			}
		case <-tick.C:
			if err := srv.apply(ctx); err != nil {
				o.Logger.Warn("apply state", "err", err)
			}
		}
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), 15*time.Second)
	defer done()
	_ = ctlServer.Shutdown(shutdownCtx)
	stopAdmin(shutdownCtx)
	_ = os.Remove(ctl.Socket)
	srv.stopAll(shutdownCtx)
	o.journal(shutdownCtx, "", "serve", "done", "stopped")
	return runErr
}

func (srv *server) snapshot() control.Status {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.status
}

// apply converges on state: start the supervised releases that should run,
// stop the others, and route public traffic as state says.
func (srv *server) apply(ctx context.Context) error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	o := srv.o
	s, err := o.LoadState(ctx)
	if err != nil {
		srv.stateFailed(err)
		return err
	}
	srv.stateRead()
	srv.last = s
	var errs []error
	for _, name := range s.Names() {
		rs := s.Releases[name]
		r, known := o.P.Runners[name]
		if !known || !rs.Running {
			if g, ok := srv.groups[name]; ok {
				stopCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
				_ = g.Stop(stopCtx)
				cancel()
				delete(srv.groups, name)
				o.Logger.Info("stopped release", "release", name)
			}
			continue
		}
		sup, ok := r.(supervisor)
		if !ok {
			continue
		}
		if _, started := srv.groups[name]; !started {
			g, err := srv.start(ctx, s, name, sup)
			if err != nil {
				errs = append(errs, fmt.Errorf("start %s: %w", termshift.Quote(name), err))
				continue
			}
			srv.groups[name] = g
		}
	}
	t, err := o.Table(s)
	if err != nil {
		errs = append(errs, err)
	}
	if err := srv.router.Switch(ctx, t); err != nil {
		errs = append(errs, err)
	}
	urls := map[string]string{}
	for _, b := range t.Backends {
		urls[b.Release] = b.URL.String()
	}
	procs := map[string][]control.ProcRow{}
	for name, g := range srv.groups {
		for _, p := range g.Status() {
			procs[name] = append(procs[name], control.ProcRow{Name: p.Name, PID: p.PID, Running: p.Running, Restarts: p.Restarts, LastExit: p.LastExit})
		}
	}
	srv.status = control.Status{PID: os.Getpid(), Started: srv.started, Applied: o.Now(), Listen: srv.router.Addr(), Admin: srv.admin, Live: s.Live,
		Backends: urls, Maintenance: s.Maintenance != nil, Processes: procs}
	if sp := srv.router.Status().Split; sp != nil {
		srv.status.SplitRelease, srv.status.SplitPercent = sp.Release, sp.Percent
	}
	return errors.Join(errs...)
}

// changed asks the state whether it moved on from the one last applied.
func (srv *server) changed(ctx context.Context, w store.Watcher) bool {
	srv.mu.Lock()
	last := srv.last
	srv.mu.Unlock()
	changed, err := w.Changed(ctx, last)
	if ctx.Err() != nil {
		return false
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if err != nil {
		srv.stateFailed(err)
		return false
	}
	srv.stateRead()
	return changed
}

// stateFailed records that the state cannot be read: the router keeps the
// last table it applied, and the log (once) and the status say so.
// Called with srv.mu held.
func (srv *server) stateFailed(err error) {
	o := srv.o
	serving := fmt.Sprintf("serving the last routing table applied (live %s, applied %s)", orNone(srv.status.Live), srv.status.Applied.Format(time.RFC3339))
	if srv.status.Applied.IsZero() {
		serving = "nothing was applied yet: the router serves no release until the state is read"
	}
	if srv.stateErr == nil {
		srv.stateErrSince = o.Now()
		o.Logger.Warn("cannot read the state: "+serving, "state", o.Store.String(), "err", err)
	}
	srv.stateErr = err
	srv.status.StateError = fmt.Sprintf("cannot read the state in %s since %s: %v; %s", o.Store, srv.stateErrSince.Format(time.RFC3339), err, serving)
}

// stateRead records that the state was read. Called with srv.mu held.
func (srv *server) stateRead() {
	if srv.stateErr != nil {
		srv.o.Logger.Info("the state is readable again", "state", srv.o.Store.String(), "unreadable_for", srv.o.Now().Sub(srv.stateErrSince).Round(time.Millisecond))
	}
	srv.stateErr = nil
	srv.status.StateError = ""
}

// start launches a supervised release with its rendered configuration.
func (srv *server) start(ctx context.Context, s *store.State, name string, sup supervisor) (*local.Group, error) {
	o := srv.o
	spec, err := o.spec(name)
	if err != nil {
		return nil, err
	}
	d, err := o.renderData(ctx, s, name)
	if err != nil {
		return nil, err
	}
	dep, err := o.deployment(spec, d)
	if err != nil {
		return nil, err
	}
	// The processes outlive this request: they stop when serve stops.
	return sup.Supervise(context.WithoutCancel(ctx), dep)
}

func (srv *server) stopAll(ctx context.Context) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for name, g := range srv.groups {
		_ = g.Stop(ctx)
		delete(srv.groups, name)
	}
}

// ServeState asks serve what it has applied.
func (o *Orchestrator) ServeState(ctx context.Context) (*control.Status, error) {
	return o.Control().Status(ctx)
}
