// Command demo-lms is a stand-in for the Open edX LMS that really uses the
// four namespaces of one release: a MySQL schema (users, enrollments,
// courseware state, Django-style migrations), a MongoDB modulestore (course
// structures), a RabbitMQ vhost (Celery tasks) and a memcached cluster
// (course outlines). termshift renders its configuration from
// cmd/termshift/templates/lms.env.json.tmpl.
//
//	demo-lms web     --config FILE   serve the LMS API on the configured address
//	demo-lms worker  --config FILE   consume the task queue into demo_tasks
//	demo-lms migrate --config FILE   apply the version's migrations
//
// Web endpoints: GET /heartbeat, GET /version, POST /api/enroll,
// GET /api/courses/{course_id}, GET /api/users/{username}. SIGTERM stops the
// web server gracefully, letting in-flight requests finish.
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

func run(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return errors.New("usage: demo-lms web|worker|migrate --config FILE, or demo-lms load --url URL")
	}
	mode := args[0]
	if mode == "load" {
		return runLoad(ctx, args[1:], stdout)
	}
	fs := flag.NewFlagSet("demo-lms "+mode, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", "", "rendered lms.env.json")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%s: %w", mode, err)
	}
	if *configPath == "" {
		return fmt.Errorf("%s: --config FILE is required", mode)
	}
	switch mode {
	case "web", "worker", "migrate":
	default:
		return fmt.Errorf("unknown mode %q (want web, worker or migrate)", mode)
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
	default:
		return serve(ctx, cfg.Listen, newHandler(b, log), log)
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
