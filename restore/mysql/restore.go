// Package mysql loads MySQL backups — mydumper directories and
// mysqldump/mariadb-dump files, plain or gzip — into a renamed schema, in
// parallel and streaming, and proves what it loaded: rows counted while
// reading the backup against SELECT COUNT(*) afterwards.
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// Formats Detect reports.
const (
	FormatMydumper  = "mydumper"
	FormatMysqldump = "mysqldump"
)

// Options tells Restore where to load and how.
type Options struct {
	DSN          termshift.Secret // admin DSN of the target server, go-sql-driver format, e.g. "root@tcp(127.0.0.1:3306)/"
	From, To     string           // source schema name in the backup; target schema (must exist or be creatable)
	Threads      int              // default runtime.NumCPU()
	DropExisting bool             // without it, a target holding any table is refused with an error wrapping termshift.ErrRefused
	Resume       bool             // continue a killed restore using the checkpoint file
	Checkpoint   string           // path of a JSON checkpoint file (the caller puts it in its state dir); "" = no resume support
	Progress     restore.Progress // may be nil
	Logger       *slog.Logger     // may be nil
}

// commitBytes is how much a loader connection inserts between commits.
const commitBytes = 32 << 20

// Restore loads the backup at path inside src (a mydumper directory, or a
// mysqldump/mariadb-dump file NAME.sql or NAME.sql.gz) into opts.To,
// renamed from opts.From, and returns the report with per-table proof
// (rows counted while reading the backup vs SELECT COUNT(*) afterwards).
func Restore(ctx context.Context, src restore.Source, path string, opts Options) (*restore.Report, error) {
	if err := termshift.ValidateMySQLIdent("source schema", opts.From); err != nil {
		return nil, fmt.Errorf("restore mysql: %w", err)
	}
	if err := termshift.ValidateMySQLIdent("target schema", opts.To); err != nil {
		return nil, fmt.Errorf("restore mysql: %w", err)
	}
	if opts.Threads <= 0 {
		opts.Threads = runtime.NumCPU()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	format := FormatMydumper
	if isDumpFile(path) {
		format = FormatMysqldump
	}
	r := &run{
		src: src, path: path, opts: opts, format: format, log: opts.Logger,
		tables: map[string]*tableRun{},
		report: &restore.Report{Service: string(termshift.MySQL), Source: strings.TrimSuffix(src.String(), "/") + "/" + path,
			Format: format, From: opts.From, To: opts.To, Started: time.Now()},
	}
	admin, err := openServer(ctx, opts.DSN, "", 2)
	if err != nil {
		return nil, fmt.Errorf("restore mysql: %w", err)
	}
	defer admin.Close()
	r.admin = admin

	if opts.Resume && opts.Checkpoint != "" {
		cp, err := loadCheckpoint(opts.Checkpoint)
		if err != nil {
			return nil, fmt.Errorf("restore mysql: %w", err)
		}
		if cp != nil {
			if cp.Format != format || cp.Source != src.String() || cp.Path != path || cp.From != opts.From || cp.To != opts.To {
				return nil, fmt.Errorf("restore mysql: checkpoint %s is for %s %s/%s %s -> %s, not this restore: %w",
					opts.Checkpoint, cp.Format, cp.Source, cp.Path, cp.From, cp.To, termshift.ErrInvalid)
			}
			r.cp, r.resuming = cp, true
		}
	}
	if r.cp == nil {
		r.cp = &checkpoint{Format: format, Source: src.String(), Path: path, From: opts.From, To: opts.To,
			Tables: map[string]tableCheck{}, file: opts.Checkpoint}
	}
	if !r.resuming {
		n, err := countObjects(ctx, admin.db, opts.To, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?")
		if err != nil {
			return nil, fmt.Errorf("restore mysql: %w", err)
		}
		if n > 0 && !opts.DropExisting {
			return nil, fmt.Errorf("restore mysql: target schema %s on %s holds %d tables: %w", termshift.Quote(opts.To), admin.addr, n, termshift.ErrRefused)
		}
	}

	switch format {
	case FormatMysqldump:
		err = r.mysqldump(ctx)
	default:
		err = r.mydumper(ctx)
	}
	if r.loader != nil {
		r.loader.Close()
	}
	if err != nil {
		return r.report, r.partial(err)
	}
	if err := r.verify(ctx); err != nil {
		return r.report, fmt.Errorf("restore mysql: %w", err)
	}
	r.report.Seconds = time.Since(r.report.Started).Seconds()
	return r.report, nil
}

// run is one Restore in progress.
type run struct {
	src      restore.Source
	path     string
	opts     Options
	format   string
	log      *slog.Logger
	admin    *server
	loader   *server // default schema: opts.To
	cp       *checkpoint
	resuming bool
	report   *restore.Report

	mu       sync.Mutex
	tables   map[string]*tableRun
	order    []string
	prepared bool
	preamble []fileStmt // a dump's SETs read before the target was prepared
}

// tableRun is the progress of one table.
type tableRun struct {
	name     string
	expected atomic.Int64
	bytes    atomic.Int64
	total    int64 // uncompressed bytes of its data files when known
	started  time.Time
	seconds  float64
	skipped  bool
	pending  atomic.Int64 // data units not yet committed
	broken   atomic.Bool  // a unit failed or was abandoned
}

func (r *run) table(name string) *tableRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tables[name]
	if !ok {
		t = &tableRun{name: name, started: time.Now()}
		r.tables[name] = t
		r.order = append(r.order, name)
	}
	return t
}

func (r *run) progress(t *tableRun, done bool) {
	if r.opts.Progress == nil {
		return
	}
	r.opts.Progress(restore.Event{Object: t.name, Rows: t.expected.Load(), Bytes: t.bytes.Load(), TotalBytes: t.total, Done: done})
}

// finishTable records a table whose rows are all committed.
func (r *run) finishTable(t *tableRun) error {
	t.seconds = time.Since(t.started).Seconds()
	err := r.cp.update(func(cp *checkpoint) {
		cp.Tables[t.name] = tableCheck{Expected: t.expected.Load(), Bytes: t.bytes.Load(), Seconds: t.seconds}
	})
	r.progress(t, true)
	r.log.Debug("table loaded", "table", t.name, "rows", t.expected.Load(), "seconds", t.seconds)
	return err
}

// prepare makes the target ready, once the backup is known to hold From:
// it drops what DropExisting allows, creates the schema, and opens the
// loader connections.
func (r *run) prepare(ctx context.Context) error {
	if r.prepared {
		return nil
	}
	r.prepared = true
	to := termshift.QuoteMySQL(r.opts.To)
	if !r.resuming && r.opts.DropExisting {
		if err := dropObjects(ctx, r.admin, r.opts.To, true); err != nil {
			return err
		}
	}
	if _, err := r.admin.db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+to); err != nil {
		return fmt.Errorf("create schema %s on %s: %w", termshift.Quote(r.opts.To), r.admin.addr, err)
	}
	if r.resuming && !r.cp.PostDone {
		// Views, triggers and routines are redone whole.
		if err := dropObjects(ctx, r.admin, r.opts.To, false); err != nil {
			return err
		}
	}
	if err := r.cp.update(func(*checkpoint) {}); err != nil {
		return err
	}
	loader, err := openServer(ctx, r.opts.DSN, r.opts.To, r.opts.Threads+1)
	if err != nil {
		return err
	}
	r.loader = loader
	return nil
}

// createDatabaseOptions applies the character set and collation of a
// backup's CREATE DATABASE to the target.
func (r *run) createDatabaseOptions(ctx context.Context, text []byte) error {
	toks := tokenize(text, -1)
	for i, t := range toks {
		if t.Text == r.opts.From && (i > 0) && !t.Str {
			rest := strings.TrimSpace(string(text[t.End:]))
			if rest == "" {
				return nil
			}
			q := "ALTER DATABASE " + termshift.QuoteMySQL(r.opts.To) + " " + rest
			if _, err := r.admin.db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("set schema options of %s: %s: %w", termshift.Quote(r.opts.To), preview([]byte(q)), err)
			}
			return nil
		}
	}
	return nil
}

// dropObjects empties the target: tables too when tables is set, views,
// triggers, routines and events always.
func dropObjects(ctx context.Context, s *server, schema string, tables bool) error {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("mysql %s: connect: %w", s.addr, err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "SET SESSION foreign_key_checks=0"); err != nil {
		return fmt.Errorf("mysql %s: %w", s.addr, err)
	}
	q := termshift.QuoteMySQL(schema)
	lists := []struct{ query, drop string }{
		{"SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?", "DROP TRIGGER IF EXISTS "},
		{"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'VIEW'", "DROP VIEW IF EXISTS "},
		{"SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'PROCEDURE'", "DROP PROCEDURE IF EXISTS "},
		{"SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'FUNCTION'", "DROP FUNCTION IF EXISTS "},
		{"SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?", "DROP EVENT IF EXISTS "},
	}
	if tables {
		lists = append(lists, struct{ query, drop string }{"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW'", "DROP TABLE IF EXISTS "})
	}
	for _, l := range lists {
		names, err := listNames(ctx, c, l.query, schema)
		if err != nil {
			return fmt.Errorf("mysql %s: list %s: %w", s.addr, termshift.Quote(schema), err)
		}
		for _, n := range names {
			if _, err := c.ExecContext(ctx, l.drop+q+"."+termshift.QuoteMySQL(n)); err != nil {
				return fmt.Errorf("mysql %s: %s%s.%s: %w", s.addr, l.drop, termshift.Quote(schema), termshift.Quote(n), err)
			}
		}
	}
	return nil
}

func listNames(ctx context.Context, c *sql.Conn, query string, args ...any) ([]string, error) {
	rows, err := c.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func countObjects(ctx context.Context, db *sql.DB, schema, query string) (int, error) {
	var n int
	if err := db.QueryRowContext(ctx, query, schema).Scan(&n); err != nil {
		return 0, fmt.Errorf("inspect schema %s: %w", termshift.Quote(schema), err)
	}
	return n, nil
}

// verify counts the loaded rows of every table and fills the report.
func (r *run) verify(ctx context.Context) error {
	names := append([]string(nil), r.order...)
	sort.Strings(names)
	to := termshift.QuoteMySQL(r.opts.To)
	for _, n := range names {
		t := r.tables[n]
		var loaded int64
		q := "SELECT COUNT(*) FROM " + to + "." + termshift.QuoteMySQL(n)
		if err := r.admin.db.QueryRowContext(ctx, q).Scan(&loaded); err != nil {
			return fmt.Errorf("count rows of %s.%s: %w", termshift.Quote(r.opts.To), termshift.Quote(n), err)
		}
		o := restore.ObjectReport{Name: n, Expected: t.expected.Load(), Loaded: loaded, Bytes: t.bytes.Load(), Seconds: t.seconds, Skipped: t.skipped}
		r.report.Objects = append(r.report.Objects, o)
		if !o.OK() {
			r.report.Warnings = append(r.report.Warnings, fmt.Sprintf("table %s: backup holds %d rows, target %d", termshift.Quote(n), o.Expected, o.Loaded))
		}
	}
	return nil
}

// partial wraps err with what is done and what is not.
func (r *run) partial(err error) error {
	pe := &termshift.PartialError{Op: "restore mysql " + termshift.Quote(r.opts.From) + " -> " + termshift.Quote(r.opts.To), Err: err}
	r.cp.mu.Lock()
	for _, n := range r.order {
		if _, ok := r.cp.Tables[n]; ok {
			pe.Done = append(pe.Done, n)
		} else {
			pe.Failed = append(pe.Failed, n)
		}
	}
	r.cp.mu.Unlock()
	return pe
}

// open streams a backup file, decompressing .gz names.
func open(ctx context.Context, src restore.Source, name string) (io.ReadCloser, error) {
	rc, err := src.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(name, ".gz") {
		return rc, nil
	}
	zr, err := gzipReader(rc, name)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return &gzipFile{ReadCloser: zr, under: rc}, nil
}

// gzipReader decompresses a stream; read errors name the file.
func gzipReader(r io.Reader, name string) (io.ReadCloser, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%s: gzip header: %v: %w", name, err, termshift.ErrInvalid)
	}
	return &namedGzip{zr: zr, name: name}, nil
}

type namedGzip struct {
	zr   *gzip.Reader
	name string
	n    int64
}

func (g *namedGzip) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	g.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("%s: gzip stream corrupt or truncated after %d uncompressed bytes: %v: %w", g.name, g.n, err, termshift.ErrInvalid)
	}
	return n, err
}

func (g *namedGzip) Close() error { return g.zr.Close() }

type gzipFile struct {
	io.ReadCloser
	under io.Closer
}

func (g *gzipFile) Close() error {
	g.ReadCloser.Close()
	return g.under.Close()
}

func isDumpFile(path string) bool {
	return strings.HasSuffix(path, ".sql") || strings.HasSuffix(path, ".sql.gz")
}

// Detect tells which format lives at path: "mydumper" or "mysqldump", and
// lists the source schemas it holds.
func Detect(ctx context.Context, src restore.Source, path string) (format string, schemas []string, err error) {
	if isDumpFile(path) {
		schemas, err := dumpSchemas(ctx, src, path)
		if err != nil {
			return "", nil, fmt.Errorf("detect %s: %w", path, err)
		}
		return FormatMysqldump, schemas, nil
	}
	files, err := src.List(ctx, path)
	if err != nil {
		return "", nil, fmt.Errorf("detect %s: %w", path, err)
	}
	d := parseMydumper(files, path)
	if !d.isMydumper {
		return "", nil, fmt.Errorf("detect %s in %s: neither a mydumper directory nor a NAME.sql[.gz] dump: %w", path, src, termshift.ErrNotFound)
	}
	return FormatMydumper, d.schemas(), nil
}
