// Package verify proves a release is fit for traffic: its credentials work
// on its own namespaces and are refused on every other release's, its data
// still matches the restore proof, PII is scrubbed, its rendered
// configuration names only its own namespaces, and it answers through the
// router's preview route. It takes a Target as data, tries release
// credentials through the Probers it is given (tenancy's, which know every
// refusal of their server), counts through the official drivers with admin
// access, and returns a Report as data.
package verify

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/termshift/termshift"
)

// The checks, in the order reports list them.
const (
	CheckConnectivity = "connectivity"
	CheckIsolation    = "isolation"
	CheckIntegrity    = "integrity"
	CheckScrub        = "scrub"
	CheckConfig       = "config"
	CheckHealth       = "health"
	CheckSmoke        = "smoke"
)

// Checks lists every check Run knows, in report order.
func Checks() []string {
	return []string{CheckConnectivity, CheckIsolation, CheckIntegrity, CheckScrub, CheckConfig, CheckHealth, CheckSmoke}
}

// Namespace is one namespace of a release as verify needs it.
type Namespace struct {
	Service termshift.Service
	Logical string
	// Name is the schema, database, vhost or memcached cluster name.
	Name    string
	Release string
	// Cred is the owning release's credential; empty for memcached.
	Cred termshift.Credential
	// Endpoints lists host:port of a memcached cluster.
	Endpoints []string
	// Enforced: the MongoDB server enforces roles (false on FerretDB).
	Enforced bool
	// Proof is the restore proof recorded in state; nil if never restored.
	Proof *Proof
}

// Proof is what a restore counted into a namespace.
type Proof struct {
	// Objects maps a table or collection to its rows or documents at restore.
	Objects map[string]int64
	At      time.Time
}

// Servers are the admin access verify needs to count rows and documents;
// release credentials are tried through Options.Probers.
type Servers struct {
	// MySQLAddr is host:port; empty means the address of MySQLAdminDSN.
	MySQLAddr string
	// MongoURI is an admin URI, for counts.
	MongoURI termshift.Secret
	// MySQLAdminDSN (go-sql-driver format) counts rows for integrity and
	// scrub leftovers.
	MySQLAdminDSN termshift.Secret
}

// Prober tells whether a credential gets into a namespace: nil when it
// does, an error wrapping termshift.ErrAccessDenied when the server refuses
// it, any other error when it could not tell. Each tenancy service provides
// one (tenancy/mysql, tenancy/mongo, tenancy/rabbitmq: NewProber), where
// every refusal code of that server is known.
type Prober interface {
	Probe(ctx context.Context, cred termshift.Credential, target termshift.Namespace) error
}

// ScrubRule is a scrub rule as restore/scrub applies it (the root
// package's vocabulary). Service is "mysql" or "mongo" (every namespace of
// that service holding Table) or a logical name (that namespace only); for
// email, Value is the template ("user{{id}}@example.invalid") whose domain
// scrubbed addresses end in.
type ScrubRule = termshift.ScrubRule

// SmokeCheck is one request through the release's preview route. Method
// defaults to GET and Status to 200; Contains, when set, must appear in the
// body.
type SmokeCheck struct {
	Name, Method, Path string
	Status             int
	Contains           string
}

// Target is everything verify needs to know about one release.
type Target struct {
	Release string
	Own     []Namespace
	// Others are every other release's namespaces.
	Others []Namespace
	// Logical lists every logical name, to catch un-namespaced names in
	// configuration.
	Logical []string
	// ConfigFiles are the release's rendered configuration files.
	ConfigFiles []string
	Scrub       []ScrubRule
	// RouterURL is the router's base URL; "" when nothing routes to the
	// release yet.
	RouterURL string
	// Unreachable, when set, says why the release runs but cannot be
	// reached from here (a cluster network this machine is not on): health
	// and smoke checks are then unknown, not skipped.
	Unreachable string
	// PreviewHeader is the header that routes a request to Release
	// (X-Termshift-Release).
	PreviewHeader string
	HealthPath    string
	Smoke         []SmokeCheck
	Servers       Servers
}

// Options tune Run.
type Options struct {
	// Only restricts Run to these checks; empty runs all. An unknown name
	// is reported as a failed result, so a typo cannot pass silently.
	Only []string
	// Timeout bounds each check on each target; default 20s.
	Timeout time.Duration
	// Parallel bounds how many checks run at once; default 8.
	Parallel int
	// Logger receives one line per result; nil discards.
	Logger *slog.Logger
	// Probers try release credentials, for connectivity and isolation, per
	// service with users (mysql, mongo, rabbitmq). A service without one is
	// skipped: verify has no server address for it. Memcached has no
	// credentials: verify checks its clusters by their endpoints.
	Probers map[termshift.Service]Prober
}

const (
	defaultTimeout  = 20 * time.Second
	defaultParallel = 8
)

// job is one check on one target.
type job struct {
	check  string
	target string
	run    func(ctx context.Context) (Status, string)
}

// Run runs the checks on the release's targets in parallel, each with its own
// timeout, and returns one Result per check and target in a stable order.
func Run(ctx context.Context, t Target, opts Options) *Report {
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.Parallel <= 0 {
		opts.Parallel = defaultParallel
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	started := time.Now()
	report := &Report{Release: t.Release, Started: started}

	var jobs []job
	var unknown []Result
	for _, name := range opts.Only {
		if !slices.Contains(Checks(), name) {
			unknown = append(unknown, Result{Check: name, Target: "-", Status: Fail,
				Detail: fmt.Sprintf("unknown check %s (want one of %s)", termshift.Quote(name), strings.Join(Checks(), ", "))})
		}
	}
	planners := map[string]func(Target, Options) []job{
		CheckConnectivity: planConnectivity,
		CheckIsolation:    planIsolation,
		CheckIntegrity:    planIntegrity,
		CheckScrub:        planScrub,
		CheckConfig:       planConfig,
		CheckHealth:       planHealth,
		CheckSmoke:        planSmoke,
	}
	for _, name := range Checks() {
		if len(opts.Only) > 0 && !slices.Contains(opts.Only, name) {
			continue
		}
		for _, j := range planners[name](t, opts) {
			j.check = name
			jobs = append(jobs, j)
		}
	}

	results := make([]Result, len(jobs))
	sem := make(chan struct{}, opts.Parallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = runJob(ctx, j, opts.Timeout)
			r := results[i]
			log.LogAttrs(ctx, slog.LevelInfo, "verify", slog.String("release", t.Release),
				slog.String("check", r.Check), slog.String("target", r.Target),
				slog.String("status", string(r.Status)), slog.String("detail", r.Detail),
				slog.Duration("duration", r.Duration))
		})
	}
	wg.Wait()

	report.Results = append(unknown, results...)
	report.Seconds = time.Since(started).Seconds()
	return report
}

func runJob(ctx context.Context, j job, timeout time.Duration) Result {
	start := time.Now()
	res := Result{Check: j.check, Target: j.target}
	if err := ctx.Err(); err != nil {
		res.Status, res.Detail = Unknown, "not run: "+err.Error()
		return res
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res.Status, res.Detail = j.run(cctx)
	if res.Status != Pass && res.Status != Skip && cctx.Err() != nil && ctx.Err() == nil {
		if res.Status != Fail {
			res.Status = Unknown // cut short: it could not tell
		}
		res.Detail = fmt.Sprintf("timed out after %s: %s", timeout, res.Detail)
	}
	res.Duration = time.Since(start)
	return res
}

// single is a planner's answer when the check has nothing to look at.
func single(target string, s Status, detail string) []job {
	return []job{{target: target, run: func(context.Context) (Status, string) { return s, detail }}}
}

// nsTarget names a namespace in a result: "mysql edxapp_next".
func nsTarget(ns Namespace) string { return string(ns.Service) + " " + ns.Name }

// byService returns the namespaces of one service.
func byService(nss []Namespace, svc termshift.Service) []Namespace {
	var out []Namespace
	for _, ns := range nss {
		if ns.Service == svc {
			out = append(out, ns)
		}
	}
	return out
}

// listDetail joins findings, capped so a detail stays readable.
func listDetail(items []string, limit int) string {
	if len(items) <= limit {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:limit], "; ") + fmt.Sprintf("; and %d more", len(items)-limit)
}
