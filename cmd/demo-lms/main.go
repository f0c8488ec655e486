// Command demo-lms is a stand-in for the Open edX LMS that really uses the
// four namespaces of one release: a MySQL schema (users, enrollments,
// courseware state, writes, Django-style migrations), two MongoDB databases
// (the modulestore's course structures; the forum's, which holds writes too),
// a RabbitMQ vhost (Celery tasks) and a memcached cluster (course outlines).
// termshift renders its configuration from
// cmd/termshift/templates/lms.env.json.tmpl.
//
//	demo-lms web          --config FILE [--fault-...]  serve the LMS on the configured address
//	demo-lms worker       --config FILE                consume the task queue into demo_tasks
//	demo-lms migrate      --config FILE                apply the version's migrations
//	demo-lms check-writes --config FILE --ids FILE     are these acknowledged writes all here?
//	demo-lms load         --url URL [--writes ...]     paced traffic, a summary at the end
//
// `demo-lms MODE --help` describes each mode's flags.
//
// Web routes: GET / (the home page: release and version, courses, the
// signed-in user's enrollments; forms POST /signin, POST /signout, POST
// /enroll), GET /heartbeat, GET /version, POST /api/enroll, GET
// /api/courses/{course_id}, GET /api/users/{username}, POST /api/writes
// ({"id": ID}: 201 once stored in MySQL and in the forum database, 200 for an
// id already stored, 500 when a store failed), GET /api/writes/{id}. SIGTERM
// stops the web server gracefully, letting in-flight requests finish.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// shutdownGrace bounds how long in-flight requests may take after SIGTERM.
const shutdownGrace = 30 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "demo-lms:", err)
		os.Exit(1)
	}
}

const (
	webUsage = `usage: demo-lms web --config FILE [--fault-rate R] [--fault-delay D [--fault-delay-rate R]] [--fault-seed N]

Serves the LMS on the configured address until SIGINT or SIGTERM, then lets
in-flight requests finish.

Fault injection, for canary analysis: --fault-rate answers that share of the
requests with 500, --fault-delay slows the share --fault-delay-rate of them
by that long (both drawn independently per request, from one random source
per process, seeded by --fault-seed or at random; the seed is logged).
Every route but /heartbeat is affected, so health stays green and only the
traffic shows the fault; faulted answers carry the header X-LMS-Fault.

Flags:
`
	workerUsage = `usage: demo-lms worker --config FILE

Consumes the release's task queue into demo_tasks until SIGINT or SIGTERM.

Flags:
`
	migrateUsage = `usage: demo-lms migrate --config FILE

Applies the version's migrations that django_migrations does not record yet.

Flags:
`
	checkWritesUsage = `usage: demo-lms check-writes --config FILE --ids FILE

Checks that every write id of --ids (one a line, e.g. the --acked file of
demo-lms load --writes) is in the release's MySQL table demo_writes and in
its forum database's collection demo_writes. Prints one summary line,
"check-writes: lost N of M acknowledged writes (...)", and exits 1 when N > 0.

Flags:
`
)

func run(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return errors.New("usage: demo-lms web|worker|migrate|check-writes --config FILE, or demo-lms load --url URL (--help after a mode for its flags)")
	}
	mode := args[0]
	if mode == "load" {
		return runLoad(ctx, args[1:], stdout)
	}
	usage := map[string]string{"web": webUsage, "worker": workerUsage, "migrate": migrateUsage, "check-writes": checkWritesUsage}[mode]
	if usage == "" {
		return fmt.Errorf("unknown mode %q (want web, worker, migrate, check-writes or load)", mode)
	}
	fs := flag.NewFlagSet("demo-lms "+mode, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", "", "rendered lms.env.json")
	var fo FaultOptions
	var idsPath string
	switch mode {
	case "check-writes":
		fs.StringVar(&idsPath, "ids", "", "file of write ids, one a line")
	case "web":
		fs.Float64Var(&fo.Rate, "fault-rate", 0, "share of requests (0-1) answered 500")
		fs.DurationVar(&fo.Delay, "fault-delay", 0, "delay added to the slowed requests (up to 1m)")
		fs.Float64Var(&fo.DelayRate, "fault-delay-rate", 1, "share of requests (0-1) slowed by --fault-delay")
		fs.Uint64Var(&fo.Seed, "fault-seed", 0, "seed of the fault injection's random source (0: random)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return printUsage(stdout, usage, fs)
		}
		return fmt.Errorf("%s: %w", mode, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", mode, fs.Arg(0))
	}
	if *configPath == "" {
		return fmt.Errorf("%s: --config FILE is required", mode)
	}
	if mode == "check-writes" && idsPath == "" {
		return fmt.Errorf("%s: --ids FILE is required", mode)
	}
	if err := fo.Validate(); err != nil {
		return fmt.Errorf("%s: %w", mode, err)
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		return err
	}
	log = log.With("release", cfg.Release, "version", cfg.Version, "mode", mode)
	b, err := openBackends(cfg)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = b.Close(cctx)
	}()
	switch mode {
	case "migrate":
		applied, err := Migrate(ctx, b.db, cfg.Version, log)
		if err != nil {
			return fmt.Errorf("migrate %s on %s: %s", cfg.MySQL.Name, cfg.MySQL.Host, b.redact.String(err))
		}
		fmt.Fprintf(stdout, "applied %d migration(s) to %s\n", len(applied), cfg.MySQL.Name)
		for _, m := range applied {
			fmt.Fprintf(stdout, "  %s.%s\n", m.App, m.Name)
		}
		return nil
	case "worker":
		return RunWorker(ctx, b, log)
	case "check-writes":
		return checkWrites(ctx, b, idsPath, stdout)
	default:
		f := newFaults(fo)
		if fo.active() {
			log.Warn("fault injection on", "fault_rate", fo.Rate, "fault_delay", fo.Delay, "fault_delay_rate", fo.DelayRate, "fault_seed", f.opts.Seed)
		}
		return serve(ctx, cfg.Listen, newHandler(b, f, log), log)
	}
}

// serve runs the handler on addr until ctx is done, then shuts down
// gracefully: the listener closes at once, in-flight requests finish.
func serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", addr, err)
	case <-ctx.Done():
	}
	log.Info("shutting down; finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down %s: %w", addr, err)
	}
	return nil
}
