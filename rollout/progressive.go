package rollout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/analysis"
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/router/builtin"
	"github.com/termshift/termshift/rollout/store"
)

// A progressive cutover moves public traffic to a release that shares the
// live release's data step by step (--steps 5,25,50,100), each step held
// for an interval and then analysed from the router's own counters (and
// optional Prometheus queries): a pass moves to the next step, a failure
// sends the split to 0 on its own, too few requests hold the step (never
// promote). At 100 the release becomes live as in a normal cutover. Where
// it stands lives in state (store.Progressive), so serve routes the split,
// another terminal steers it (Steer) and the command run again continues.

// Defaults of a progressive cutover, when neither a flag nor termshift.yaml's
// progressive: section sets them.
const (
	DefaultInterval     = 2 * time.Minute
	DefaultMaxErrorRate = 1.0 // percent
	DefaultMaxP99       = 500 * time.Millisecond
	DefaultMinRequests  = 20
	DefaultFailureLimit = 1
	// MinInterval is the shortest step: the router's counters are read
	// about every tenth of an interval, never more often than every 50ms.
	MinInterval = time.Second
)

// ProgressiveOptions configure a progressive cutover. Unset values come
// from termshift.yaml's progressive: section, then the defaults.
type ProgressiveOptions struct {
	Steps    []int
	Interval time.Duration
	// Window is how far back each analysis reads the counters, at most
	// Interval; default Interval.
	Window       time.Duration
	MaxErrorRate *float64 // percent of 5xx answers
	MaxP99       time.Duration
	MinRequests  *uint64
	FailureLimit int
	SkipVerify   bool
	Waive        []string
	// OnStep receives every analysis and every change of weight, for the
	// command's output.
	OnStep func(ProgressEvent)
}

// ProgressEvent is one line of a progressive cutover's output.
type ProgressEvent struct {
	At      time.Time        `json:"at"`
	Step    int              `json:"step"` // 1-based
	Of      int              `json:"of"`
	Percent int              `json:"percent"`
	Event   string           `json:"event"` // weight, pass, fail, inconclusive, rolled-back, promoted, paused, aborted
	Result  *analysis.Result `json:"result,omitempty"`
	Detail  string           `json:"detail"`
}

// ProgressiveReport says how a progressive cutover ended.
type ProgressiveReport struct {
	Release string               `json:"release"`
	From    string               `json:"from"`
	Status  string               `json:"status"`
	Why     string               `json:"why,omitempty"`
	Events  []ProgressEvent      `json:"events"`
	History []store.ProgressStep `json:"history"`
	// RolledBackAfter is the time from the first weight to the split's
	// return to 0 after a failed analysis.
	RolledBackAfter time.Duration `json:"rolled_back_after_ns,omitempty"`
	Switch          *SwitchReport `json:"switch,omitempty"`
}

// Errors of a progressive cutover that did not promote.
var (
	// ErrRolledBack: an analysis failed and the traffic went back to the
	// live release on its own.
	ErrRolledBack = errors.New("progressive cutover rolled back")
	// ErrAborted: an operator aborted it (`cutover --abort`).
	ErrAborted = errors.New("progressive cutover aborted")
)

// CheckSteps refuses steps that are empty, outside 1-100, not increasing,
// or not ending at 100.
func CheckSteps(steps []int) error {
	bad := func(why string) error {
		return fmt.Errorf("--steps %s: %s: %w", joinInts(steps), why, termshift.ErrInvalid)
	}
	if len(steps) == 0 {
		return bad("want weights in percent, e.g. 5,25,50,100")
	}
	for i, p := range steps {
		switch {
		case p < 1 || p > 100:
			return bad(fmt.Sprintf("%d is outside 1-100", p))
		case i > 0 && p <= steps[i-1]:
			return bad(fmt.Sprintf("%d after %d: each step must be larger than the one before", p, steps[i-1]))
		}
	}
	if steps[len(steps)-1] != 100 {
		return bad("the last step must be 100 (the release takes all traffic and becomes live)")
	}
	return nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// resolve fills unset options from the environment file and the defaults,
// and refuses bad ones.
func (o *Orchestrator) resolve(opts ProgressiveOptions) (ProgressiveOptions, []analysis.Query, error) {
	pc := o.Env.Progressive
	if opts.Interval == 0 {
		opts.Interval = cmpOr(pc.Interval.Duration, DefaultInterval)
	}
	if opts.MaxErrorRate == nil {
		v := DefaultMaxErrorRate
		if pc.MaxErrorRate != nil {
			v = *pc.MaxErrorRate
		}
		opts.MaxErrorRate = &v
	}
	if opts.MaxP99 == 0 {
		opts.MaxP99 = cmpOr(pc.MaxP99.Duration, DefaultMaxP99)
	}
	if opts.MinRequests == nil {
		v := uint64(DefaultMinRequests)
		if pc.MinRequests != nil {
			v = *pc.MinRequests
		}
		opts.MinRequests = &v
	}
	if opts.FailureLimit == 0 {
		opts.FailureLimit = cmpOr(pc.FailureLimit, DefaultFailureLimit)
	}
	if opts.Window == 0 {
		opts.Window = opts.Interval
	}
	var queries []analysis.Query
	if pc.Prometheus != nil {
		for _, q := range pc.Prometheus.Queries {
			queries = append(queries, analysis.Query(q))
		}
	}
	invalid := func(format string, args ...any) error {
		return fmt.Errorf(format+": %w", append(args, termshift.ErrInvalid)...)
	}
	switch {
	case opts.Interval < MinInterval:
		return opts, nil, invalid("--interval %s: want at least %s", opts.Interval, MinInterval)
	case opts.Window < 0 || opts.Interval < opts.Window:
		return opts, nil, invalid("--interval %s is shorter than the metrics window %s: each analysis reads a whole window of its own step, so make the interval at least the window", opts.Interval, opts.Window)
	case *opts.MaxErrorRate < 0 || *opts.MaxErrorRate > 100:
		return opts, nil, invalid("--max-error-rate %v: want a percentage from 0 to 100", *opts.MaxErrorRate)
	case opts.MaxP99 < 0:
		return opts, nil, invalid("--max-p99 %s: want a positive duration", opts.MaxP99)
	case opts.FailureLimit < 1:
		return opts, nil, invalid("--failure-limit %d: want 1 or more", opts.FailureLimit)
	}
	if pc.Prometheus != nil && pc.Prometheus.URL == "" {
		return opts, nil, invalid("progressive.prometheus.url is required with queries")
	}
	if err := analysis.Validate(queries); err != nil {
		return opts, nil, err
	}
	return opts, queries, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// trafficReader reads the router's counters per release.
type trafficReader interface {
	Traffic(ctx context.Context) (map[string]builtin.Traffic, error)
}

// counters is where the analysis reads the router's counters: the admin
// address of serve (the one serve reports, else router.admin_listen).
// Routers that keep none (nginx, elbv2) need the Prometheus provider.
func (o *Orchestrator) counters(ctx context.Context, prom bool) (trafficReader, error) {
	if _, ok := o.P.Router.(*builtin.Remote); !ok {
		if prom {
			return nil, nil
		}
		return nil, termshift.WithHint(fmt.Errorf("the analysis reads the built-in router's counters, and router.provider is %q: %w", o.Env.Router.Provider, termshift.ErrInvalid),
			"configure progressive.prometheus with queries for this router's metrics")
	}
	addr, _ := o.Env.Router.AdminAddr()
	if st, err := o.Control().Status(ctx); err == nil && st.Admin != "" {
		addr = st.Admin
	}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
	}
	a := &analysis.Admin{Addr: addr, Client: &http.Client{Timeout: 5 * time.Second}}
	if auth := o.Env.Router.AdminAuth; auth != nil {
		a.Token, a.User, a.Password = termshift.Secret(auth.Token), auth.User, termshift.Secret(auth.Password)
	}
	if _, err := a.Traffic(ctx); err != nil {
		return nil, termshift.WithHint(fmt.Errorf("the analysis cannot read the router's counters: %w", err), "start `termshift serve` with its admin address (router.admin_listen) reachable from here")
	}
	return a, nil
}

// reading is one read of the router's counters.
type reading struct {
	at      time.Time
	traffic map[string]builtin.Traffic
}

// Progressive runs, or continues, the progressive cutover of release.
func (o *Orchestrator) Progressive(ctx context.Context, release string, opts ProgressiveOptions) (*ProgressiveReport, error) {
	spec, err := o.spec(release)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(o.Reason) == "" {
		return nil, fmt.Errorf("cutover needs --reason TEXT: every cutover is journaled with its reason: %w", termshift.ErrInvalid)
	}
	// Steps that can never be right are named before anything else.
	if len(opts.Steps) > 0 {
		if err := CheckSteps(opts.Steps); err != nil {
			return nil, err
		}
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	refuse := func(why, hint string) (*ProgressiveReport, error) {
		err := fmt.Errorf("refusing a progressive cutover to %s: %s; traffic untouched: %w", termshift.Quote(release), why, termshift.ErrRefused)
		o.journal(ctx, release, "cutover", "refused", err.Error())
		return nil, termshift.WithHint(err, hint)
	}
	owner, shared := o.Env.SharesData(spec.Name)
	if !shared {
		return refuse("it has its own namespaces, and a split would send one student's writes to two databases",
			"cut over at once with `termshift cutover "+release+" --final-sync` (a maintenance window copies the live release's data); steps are for a patch release with data: {shared_with: LIVE}")
	}
	if s.Live == release {
		return &ProgressiveReport{Release: release, From: release, Status: store.ProgressPromoted, Why: "already live"}, nil
	}
	if s.Live == "" || o.Env.DataOwner(s.Live) != owner {
		return refuse(fmt.Sprintf("it shares %s's data, but the live release %s uses %s's", termshift.Quote(owner), orNone(s.Live), termshift.Quote(o.Env.DataOwner(s.Live))),
			"a split needs both releases on the same namespaces: cut over to "+owner+" first, or use --final-sync")
	}
	p := s.Progressive
	continuing := p.Active() && p.Release == release
	if p.Active() && !continuing {
		return refuse(fmt.Sprintf("a progressive cutover of %s is running (%s, %d%%)", termshift.Quote(p.Release), p.Status, p.Percent),
			"steer it with `termshift cutover "+p.Release+" --pause|--resume|--promote|--abort --reason TEXT`")
	}
	if continuing {
		if len(opts.Steps) > 0 && !slices.Equal(opts.Steps, p.Steps) {
			return refuse(fmt.Sprintf("its progressive cutover runs with --steps %s, not %s", joinInts(p.Steps), joinInts(opts.Steps)),
				"run `termshift cutover "+release+" --reason TEXT` without --steps to continue it, or abort it first")
		}
		opts.Steps = p.Steps
		opts.Interval = p.Interval
		opts.MaxErrorRate, opts.MaxP99, opts.MinRequests, opts.FailureLimit = &p.MaxErrorRate, p.MaxP99, &p.MinRequests, p.FailureLimit
	} else if err := CheckSteps(opts.Steps); err != nil {
		return nil, err
	}
	opts, queries, err := o.resolve(opts)
	if err != nil {
		return nil, err
	}
	rs := s.Releases[release]
	if rs == nil || !rs.Running {
		return refuse("it is not running", "run `termshift deploy "+release+"` first")
	}
	r, err := o.runner(release)
	if err != nil {
		return nil, err
	}
	ep, err := r.Endpoint(release)
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = waitHealthy(hctx, r, release, ep, 200*time.Millisecond)
	cancel()
	if err != nil {
		return refuse("it is not healthy: "+err.Error(), "its logs are in "+o.LogDir(release))
	}
	if err := o.checkWaivers(opts.Waive); err != nil {
		return nil, err
	}
	if why := gate(rs, opts.Waive); why != "" {
		if !opts.SkipVerify {
			return refuse(why, "run `termshift verify "+release+"`, or pass --skip-verify with --reason (journaled)")
		}
		o.journal(ctx, release, "cutover", "forced", "verify gate skipped: "+why)
	}
	if err := o.routerReady(ctx); err != nil {
		return refuse("nothing can switch traffic: "+err.Error(), "start `termshift serve` (the built-in router), or check router.provider")
	}
	var prom *analysis.Prometheus
	if pc := o.Env.Progressive.Prometheus; pc != nil && len(queries) > 0 {
		prom = &analysis.Prometheus{URL: pc.URL}
	}
	counters, err := o.counters(ctx, prom != nil)
	if err != nil {
		return refuse(err.Error(), "")
	}
	if err := o.checkLock(ctx); err != nil {
		return nil, err
	}

	run := &progressRun{o: o, release: release, from: s.Live, opts: opts, queries: queries, prom: prom, counters: counters,
		rep: &ProgressiveReport{Release: release, From: s.Live}}
	if continuing {
		// The counters before this command are not known to it: the
		// current step's window starts again now.
		err = run.update(ctx, func(s *store.State, p *store.Progressive) {
			if p.Status == store.ProgressRunning {
				p.Since = o.Now()
			}
		})
		o.journal(ctx, release, "cutover", "continued", fmt.Sprintf("progressive cutover at step %d of %d (%d%%), %s", p.Step+1, len(p.Steps), p.Percent, p.Status))
	} else {
		now := o.Now()
		err = run.update(ctx, func(s *store.State, _ *store.Progressive) {
			s.Progressive = &store.Progressive{Release: release, From: s.Live, Steps: opts.Steps, Percent: opts.Steps[0], Since: now, Started: now,
				Interval: opts.Interval, Status: store.ProgressRunning, MaxErrorRate: *opts.MaxErrorRate, MaxP99: opts.MaxP99,
				MinRequests: *opts.MinRequests, FailureLimit: opts.FailureLimit}
		})
		o.journal(ctx, release, "cutover", "started", fmt.Sprintf("progressive cutover from %s: steps %s%%, every %s; fails above %v%% errors or p99 %s; at least %d requests a step",
			s.Live, joinInts(opts.Steps), opts.Interval, *opts.MaxErrorRate, opts.MaxP99, *opts.MinRequests))
	}
	if err != nil {
		return nil, err
	}
	if err := run.route(ctx); err != nil {
		return run.rep, err
	}
	if cur := run.state.Progressive; cur.Status == store.ProgressRunning && !continuing {
		run.emit(ProgressEvent{Event: "weight", Detail: fmt.Sprintf("%d%% of public traffic to %s", cur.Percent, release)})
	}
	return run.loop(ctx)
}

// progressRun is one command driving a progressive cutover.
type progressRun struct {
	o        *Orchestrator
	release  string
	from     string
	opts     ProgressiveOptions
	queries  []analysis.Query
	prom     *analysis.Prometheus
	counters trafficReader
	rep      *ProgressiveReport

	state    *store.State // last saved or loaded
	readings []reading    // of the current step's window
	since    time.Time    // the step's start the readings belong to
}

// update loads state, applies fn to it and saves it, again on a conflict
// (a steering command saved in between).
func (run *progressRun) update(ctx context.Context, fn func(s *store.State, p *store.Progressive)) error {
	o := run.o
	for attempt := 0; ; attempt++ {
		s, err := o.LoadState(ctx)
		if err != nil {
			return err
		}
		fn(s, s.Progressive)
		err = o.SaveState(ctx, s)
		if err == nil {
			run.state = s
			return nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= 20 {
			return err
		}
	}
}

// route makes the router follow the saved state. A router that follows a
// newer state (a steering command saved meanwhile) is checked against it.
func (run *progressRun) route(ctx context.Context) error {
	err := run.o.route(ctx, run.state)
	for attempt := 0; err != nil && attempt < 3; attempt++ {
		s, lerr := run.o.LoadState(ctx)
		if lerr != nil || s.Revision == run.state.Revision {
			break
		}
		run.state = s
		err = run.o.route(ctx, s)
	}
	if err != nil {
		return fmt.Errorf("progressive cutover of %s: state saved, but the router did not follow: %w", termshift.Quote(run.release), err)
	}
	return nil
}

func (run *progressRun) emit(ev ProgressEvent) {
	p := run.state.Progressive
	if ev.At.IsZero() {
		ev.At = run.o.Now()
	}
	if p != nil {
		ev.Step, ev.Of = p.Step+1, len(p.Steps)
		if ev.Percent == 0 {
			ev.Percent = p.Percent
		}
	}
	run.rep.Events = append(run.rep.Events, ev)
	if run.opts.OnStep != nil {
		run.opts.OnStep(ev)
	}
}

// read takes one reading of the counters, kept for the current step.
func (run *progressRun) read(ctx context.Context, since time.Time) {
	if !since.Equal(run.since) {
		run.readings, run.since = nil, since
	}
	if run.counters == nil {
		return
	}
	t, err := run.counters.Traffic(ctx)
	if err != nil {
		run.o.Logger.Warn("progressive cutover: read the router's counters", "err", err)
		return
	}
	run.readings = append(run.readings, reading{at: run.o.Now(), traffic: t})
}

// poll is how often the command reads state and the counters.
func (run *progressRun) poll() time.Duration {
	return min(max(run.opts.Interval/10, 50*time.Millisecond), time.Second)
}

func (run *progressRun) loop(ctx context.Context) (*ProgressiveReport, error) {
	o := run.o
	tick := time.NewTicker(run.poll())
	defer tick.Stop()
	lastStatus := ""
	for {
		s, err := o.LoadState(ctx)
		if err != nil {
			o.Logger.Warn("progressive cutover: load state", "err", err)
		} else {
			run.state = s
			p := s.Progressive
			if p == nil || p.Release != run.release {
				return run.rep, fmt.Errorf("progressive cutover of %s: it is gone from state (another command replaced it): %w", termshift.Quote(run.release), termshift.ErrRefused)
			}
			if p.Status != lastStatus && lastStatus != "" && (p.Status == store.ProgressPaused || p.Status == store.ProgressRunning) {
				run.emit(ProgressEvent{Event: p.Status, Detail: p.Why})
			}
			lastStatus = p.Status
			switch {
			case p.Status == store.ProgressAborted:
				run.emit(ProgressEvent{Event: "aborted", Percent: 0, Detail: p.Why})
				return run.finish(p), fmt.Errorf("progressive cutover of %s: %s; traffic is back on %s: %w", termshift.Quote(run.release), p.Why, termshift.Quote(p.From), ErrAborted)
			case p.Status == store.ProgressRolledBack:
				return run.finish(p), fmt.Errorf("progressive cutover of %s: %s: %w", termshift.Quote(run.release), p.Why, ErrRolledBack)
			case p.Status == store.ProgressPromoted || s.Live == run.release:
				return run.finish(p), nil
			case p.Status == store.ProgressRunning && p.Request == store.RequestPromote:
				return run.promote(ctx, "promoted by an operator: "+p.Why)
			case p.Status == store.ProgressRunning:
				run.read(ctx, p.Since)
				if !o.Now().Before(p.Since.Add(run.opts.Interval)) {
					if rep, done, err := run.analyse(ctx, p); done {
						return rep, err
					}
				}
			}
		}
		if err := o.checkLock(ctx); err != nil {
			return run.rep, err
		}
		select {
		case <-ctx.Done():
			return run.rep, fmt.Errorf("progressive cutover of %s stopped at %d%% (%s); run the same command again to continue: %w", termshift.Quote(run.release), run.state.Progressive.Percent, ctx.Err(), ctx.Err())
		case <-tick.C:
		}
	}
}

// window returns the readings that span the analysis window: the newest at
// or before its start (never before the step's start), and the newest.
func (run *progressRun) window() (first, last reading, ok bool) {
	if len(run.readings) < 2 {
		return first, last, false
	}
	last = run.readings[len(run.readings)-1]
	first = run.readings[0]
	for _, r := range run.readings {
		if last.at.Sub(r.at) >= run.opts.Window {
			first = r
		}
	}
	return first, last, first.at.Before(last.at)
}

// analyse judges the current step; done says the cutover ended.
func (run *progressRun) analyse(ctx context.Context, p *store.Progressive) (rep *ProgressiveReport, done bool, err error) {
	o := run.o
	th := analysis.Thresholds{MaxErrorRate: *run.opts.MaxErrorRate, MaxP99: run.opts.MaxP99, MinRequests: *run.opts.MinRequests}
	var res analysis.Result
	switch first, last, ok := run.window(); {
	case run.counters == nil:
		res = analysis.Result{Verdict: analysis.Pass}
	case !ok:
		res = analysis.Judge(analysis.Sample{}, analysis.Sample{}, th, 0)
		res.Value = "the router's counters could not be read twice in the step"
	default:
		res = analysis.Judge(analysis.Between(first.traffic[run.release], last.traffic[run.release]),
			analysis.Between(first.traffic[p.From], last.traffic[p.From]), th, last.at.Sub(first.at))
	}
	if run.prom != nil {
		res.AddChecks(run.prom.Check(ctx, run.queries, run.release, p.From, run.opts.Window, o.Now()))
	}
	now := o.Now()
	hist := store.ProgressStep{At: now, Percent: p.Percent, Verdict: res.Verdict, Detail: res.Detail}
	run.emit(ProgressEvent{Event: res.Verdict, Result: &res, Detail: res.Detail})
	stepName := fmt.Sprintf("step %d of %d (%d%%)", p.Step+1, len(p.Steps), p.Percent)
	switch res.Verdict {
	case analysis.Pass:
		o.journal(ctx, run.release, "analysis", "done", stepName+": "+res.Detail)
		next := p.Step + 1
		if p.Steps[next] >= 100 {
			err := run.update(ctx, func(_ *store.State, q *store.Progressive) { q.History = append(q.History, hist) })
			if err != nil {
				return run.rep, true, err
			}
			rep, err := run.promote(ctx, "every step passed its analysis")
			return rep, true, err
		}
		err := run.update(ctx, func(_ *store.State, q *store.Progressive) {
			q.History = append(q.History, hist)
			if q.Status != store.ProgressRunning {
				return // paused or aborted meanwhile: that wins
			}
			q.Step, q.Percent, q.Since, q.Failures = next, q.Steps[next], now, 0
		})
		if err != nil {
			return run.rep, true, err
		}
		if err := run.route(ctx); err != nil {
			return run.rep, true, err
		}
		if q := run.state.Progressive; q.Step == next {
			o.journal(ctx, run.release, "cutover", "step", fmt.Sprintf("step %d of %d: %d%% of public traffic to %s", next+1, len(q.Steps), q.Percent, run.release))
			run.emit(ProgressEvent{Event: "weight", Detail: fmt.Sprintf("%d%% of public traffic to %s", q.Percent, run.release)})
		}
	case analysis.Inconclusive:
		// Hold the step: analyse again after another interval, never promote.
		o.journal(ctx, run.release, "analysis", "inconclusive", stepName+": "+res.Detail+"; the step holds")
		err := run.update(ctx, func(_ *store.State, q *store.Progressive) {
			q.History = append(q.History, hist)
			if q.Status == store.ProgressRunning {
				q.Since = now
			}
		})
		if err != nil {
			return run.rep, true, err
		}
	case analysis.Fail:
		o.journal(ctx, run.release, "analysis", "failed", stepName+": "+res.Detail)
		failures := p.Failures + 1
		if failures < run.opts.FailureLimit {
			err := run.update(ctx, func(_ *store.State, q *store.Progressive) {
				q.History = append(q.History, hist)
				q.Failures = failures
				if q.Status == store.ProgressRunning {
					q.Since = now
				}
			})
			if err != nil {
				return run.rep, true, err
			}
			return nil, false, nil
		}
		why := fmt.Sprintf("analysis failed at %s: %s %s", stepName, res.Metric, res.Value)
		err := run.update(ctx, func(_ *store.State, q *store.Progressive) {
			q.History = append(q.History, hist)
			q.Failures, q.Percent, q.Status, q.Why = failures, 0, store.ProgressRolledBack, why
		})
		if err != nil {
			return run.rep, true, err
		}
		rerr := run.route(ctx)
		run.rep.RolledBackAfter = o.Now().Sub(p.Started)
		o.journal(ctx, run.release, "cutover", "rolled-back", why+"; public traffic back on "+p.From+" (0%)")
		run.emit(ProgressEvent{Event: "rolled-back", Percent: 0, Detail: why + "; all public traffic back on " + p.From})
		rep := run.finish(run.state.Progressive)
		err = fmt.Errorf("progressive cutover of %s: %s; all public traffic is back on %s: %w", termshift.Quote(run.release), why, termshift.Quote(p.From), ErrRolledBack)
		return rep, true, errors.Join(err, rerr)
	}
	return nil, false, nil
}

// promote makes the release live, as a normal cutover does: the former
// live release becomes the rollback target.
func (run *progressRun) promote(ctx context.Context, why string) (*ProgressiveReport, error) {
	o := run.o
	start := o.Now()
	rs := run.state.Releases[run.release]
	counts := o.takeCounts(ctx, rs)
	if err := o.checkLock(ctx); err != nil {
		return run.rep, err
	}
	var prev string
	err := run.update(ctx, func(s *store.State, q *store.Progressive) {
		prev = s.Live
		if prev != "" {
			s.Previous = prev
			s.Release(prev).RetiredAt = o.Now()
		}
		s.Live, s.LiveSince, s.Maintenance = run.release, o.Now(), nil
		r := s.Release(run.release)
		r.RetiredAt = time.Time{}
		r.Switch = counts
		r.SetStep("cutover", "done", "live since "+s.LiveSince.Format(time.RFC3339)+" (progressive)", s.LiveSince)
		q.Step, q.Percent, q.Status, q.Why, q.Request = len(q.Steps)-1, 100, store.ProgressPromoted, why, ""
	})
	if err != nil {
		return run.rep, err
	}
	if err := run.route(ctx); err != nil {
		o.journal(ctx, run.release, "cutover", "failed", err.Error())
		return run.rep, err
	}
	sw := &SwitchReport{From: prev, To: run.release, Switched: o.Now()}
	sw.Duration = sw.Switched.Sub(start)
	run.rep.Switch = sw
	o.journal(ctx, run.release, "cutover", "done", fmt.Sprintf("live (was %s) after a progressive cutover: %s", orNone(prev), why))
	run.emit(ProgressEvent{Event: "promoted", Percent: 100, Detail: fmt.Sprintf("%s is live (was %s): %s", run.release, orNone(prev), why)})
	return run.finish(run.state.Progressive), nil
}

func (run *progressRun) finish(p *store.Progressive) *ProgressiveReport {
	run.rep.Status, run.rep.Why, run.rep.History = p.Status, p.Why, p.History
	return run.rep
}

// Steering actions of a running progressive cutover.
const (
	SteerPause   = "pause"
	SteerResume  = "resume"
	SteerPromote = "promote"
	SteerAbort   = "abort"
)

// Steer changes a running progressive cutover from any terminal, through
// state, without its lock: pause holds the weight, resume starts the step's
// window again, promote asks the running command to make the release live
// now, abort sends all public traffic back to the live release at once.
func (o *Orchestrator) Steer(ctx context.Context, release, action string) (*store.Progressive, error) {
	if strings.TrimSpace(o.Reason) == "" {
		return nil, fmt.Errorf("cutover --%s needs --reason TEXT (journaled): %w", action, termshift.ErrInvalid)
	}
	var out *store.Progressive
	for attempt := 0; ; attempt++ {
		s, err := o.LoadState(ctx)
		if err != nil {
			return nil, err
		}
		p := s.Progressive
		if !p.Active() || p.Release != release {
			what := "none runs"
			if p != nil {
				what = fmt.Sprintf("the last one, of %s, is %s", termshift.Quote(p.Release), p.Status)
			}
			return nil, termshift.WithHint(fmt.Errorf("cutover %s --%s: no progressive cutover of %s is running (%s): %w", release, action, termshift.Quote(release), what, termshift.ErrNotFound),
				"start one with `termshift cutover "+release+" --steps 5,25,50,100 --reason TEXT`")
		}
		by := fmt.Sprintf("%s by %s: %s", action+"d", o.Command, o.Reason)
		switch action {
		case SteerPause:
			p.Status, p.Why = store.ProgressPaused, by
		case SteerResume:
			p.Status, p.Why, p.Since, p.Failures = store.ProgressRunning, by, o.Now(), 0
		case SteerPromote:
			p.Status, p.Request, p.Why = store.ProgressRunning, store.RequestPromote, o.Reason
		case SteerAbort:
			p.Status, p.Percent, p.Why = store.ProgressAborted, 0, "aborted by "+o.Command+": "+o.Reason
		default:
			return nil, fmt.Errorf("cutover --%s: no such action (pause, resume, promote, abort): %w", action, termshift.ErrInvalid)
		}
		err = o.SaveState(ctx, s)
		if errors.Is(err, store.ErrConflict) && attempt < 20 {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = p
		o.journal(ctx, release, "cutover", action, fmt.Sprintf("progressive cutover at step %d of %d (%d%%)", p.Step+1, len(p.Steps), p.Percent))
		if action == SteerAbort || action == SteerPause {
			// Serve follows state on its own; ask it now so the traffic
			// moves before this command returns.
			if err := o.route(ctx, s); err != nil {
				o.Logger.Warn("progressive cutover: ask the router to follow (it follows state when it runs)", "err", err)
			}
		}
		return out, nil
	}
}

// endProgressive ends a progressive cutover that still steers traffic, for a
// command that moves the live release itself (rollback): no split outlives
// the live release it was taken from.
func endProgressive(s *store.State, why string) {
	if p := s.Progressive; p.Active() {
		p.Status, p.Percent, p.Why = store.ProgressAborted, 0, why
	}
}

// split is the weighted split state asks for: the share of a progressive
// cutover that is running or paused, while its release runs and the live
// release is still the one it started from.
func split(s *store.State, t router.Table) *router.Split {
	p := s.Progressive
	if !p.Active() || p.Percent <= 0 || p.Percent >= 100 || s.Live != p.From || p.Release == s.Live {
		return nil
	}
	if _, ok := t.Backend(p.Release); !ok {
		return nil
	}
	return &router.Split{Release: p.Release, Percent: p.Percent}
}
