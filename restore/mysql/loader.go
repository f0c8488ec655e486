// Package mysql loads MySQL backups — mydumper directories and
// mysqldump/mariadb-dump files, plain or gzip — into a renamed schema, in
// parallel and streaming, and proves what it loaded: rows counted while
// reading the backup (or listed by the backup's own record: mydumper's
// metadata, termshift's manifest) against SELECT COUNT(*) afterwards, and
// whether the backup itself is whole (the dump's trailer, mydumper's
// finish line, the manifest).
package mysql

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path"
	"regexp"
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

// MarkerTable is the table tenancy keeps inside a carved schema to record
// its owner on servers without schema comments. A restore never drops,
// counts or reports it, and a target holding only it is empty.
const MarkerTable = "termshift_owner"

// Loader loads MySQL backups into a server it reaches as an administrator.
type Loader struct {
	// DSN is the admin DSN of the target server, go-sql-driver format,
	// e.g. "root@tcp(127.0.0.1:3306)/".
	DSN termshift.Secret
	// Inserts loads a dump's INSERTs as written, never with LOAD DATA
	// LOCAL INFILE (which is used when the server allows it).
	Inserts bool

	// deferBelow, when not 0, replaces deferMinBytes (tests: -1 defers
	// every table's indexes).
	deferBelow int64
	// infileBelow, when not 0, replaces infileMinBytes (tests: -1 loads
	// every INSERT it can with LOAD DATA).
	infileBelow int
}

// commitBytes is how much a loader connection inserts between commits.
const commitBytes = 32 << 20

// Load loads the backup at path inside src (a mydumper directory, or a
// mysqldump/mariadb-dump file NAME.sql or NAME.sql.gz) into schema req.To,
// renamed from req.From, and returns the report with per-table proof and
// the backup's completeness.
//
// req.From may be empty for a dump file that holds one schema (no CREATE
// DATABASE or USE): the file's schema is then the one loaded. Resume needs
// a Checkpoint; a checkpoint made from other files (a snapshot replaced in
// place) is refused unless DropExisting starts over.
//
// Everything that can be checked before the target is touched is: names,
// the manifest, the checkpoint, a non-empty target. A restore that fails
// after touching it either drops what it created (no Checkpoint, or a
// backup proven incomplete) or keeps it for Resume; either way the error
// says exactly what the target holds, tables with their rows.
func (l *Loader) Load(ctx context.Context, src restore.Source, path string, req restore.Request) (*restore.Report, error) {
	format := FormatMydumper
	if isDumpFile(path) {
		format = FormatMysqldump
	}
	if format == FormatMydumper {
		// A dump's From is only compared with the names the dump holds: a
		// file stem such as "edxapp.2026-11-20" is not refused.
		if err := termshift.ValidateMySQLIdent("source schema", req.From); err != nil {
			return nil, fmt.Errorf("restore mysql %s: %w", path, err)
		}
	}
	if err := termshift.ValidateMySQLIdent("target schema", req.To); err != nil {
		return nil, fmt.Errorf("restore mysql %s: %w", path, err)
	}
	r := &run{
		src: src, path: path, req: req, from: req.From, format: format, log: req.Log(),
		tables: map[string]*tableRun{}, infile: infile{tables: map[string]*tableCols{}},
		report: &restore.Report{Service: string(termshift.MySQL), Source: strings.TrimSuffix(src.String(), "/") + "/" + path,
			Format: format, From: req.From, To: req.To, Started: time.Now()},
	}
	admin, err := openServer(ctx, l.DSN, "", 2)
	if err != nil {
		return nil, fmt.Errorf("restore mysql: %w", err)
	}
	defer admin.Close()
	r.admin = admin
	r.dsn = l.DSN
	r.inserts = l.Inserts
	r.infile.minBytes = infileMinBytes
	if l.infileBelow != 0 {
		r.infile.minBytes = l.infileBelow
	}
	r.deferMin = deferMinBytes
	if l.deferBelow != 0 {
		r.deferMin = l.deferBelow
	}
	if err := r.chooseThreads(ctx); err != nil {
		return nil, fmt.Errorf("restore mysql: %w", err)
	}
	if err := r.checkInfile(ctx); err != nil {
		return nil, fmt.Errorf("restore mysql: %w", err)
	}
	if err := r.before(ctx); err != nil {
		return r.failedEarly(err)
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
		return r.report, r.fail(ctx, err)
	}
	if err := r.verify(ctx); err != nil {
		return r.report, r.fail(ctx, err)
	}
	r.report.Seconds = time.Since(r.report.Started).Seconds()
	r.log.Debug("restore mysql: INSERTs loaded", "with LOAD DATA LOCAL INFILE", r.infile.converted.Load(), "as written", r.infile.written.Load())
	return r.report, nil
}

// checkInfile turns LOAD DATA LOCAL INFILE off when the server has
// local_infile off: the INSERTs then run as written.
func (r *run) checkInfile(ctx context.Context) error {
	var on bool
	if err := r.admin.db.QueryRowContext(ctx, "SELECT @@local_infile").Scan(&on); err != nil {
		return fmt.Errorf("mysql %s: read local_infile: %w", r.admin.addr, err)
	}
	if !on || r.inserts {
		r.infile.disabled.Store(true)
		r.log.Debug("local_infile is off on the server: loading the INSERTs as written", "server", r.admin.addr)
	}
	return nil
}

// run is one Load in progress.
type run struct {
	src     restore.Source
	path    string
	req     restore.Request
	dsn     termshift.Secret
	threads int
	from    string // the schema in the backup: req.From, or a plain dump's own
	format  string
	log     *slog.Logger
	admin   *server
	loader  *server // default schema: req.To
	cp      *checkpoint
	files   []restore.FileInfo // the namespace's files, for the checkpoint's fingerprint
	// resuming: the checkpoint of an earlier run is continued.
	resuming bool
	touched  bool // the target was changed
	// incomplete: the backup is proven cut short; what was loaded goes.
	incomplete bool
	counts     map[string]int64 // expected counts from the backup's record
	record     string           // which record: the manifest, mydumper's metadata
	report     *restore.Report

	infile  infile // LOAD DATA LOCAL INFILE state
	inserts bool   // Loader.Inserts
	// deferMin: tables with less data keep their indexes in CREATE TABLE
	deferMin int64

	mu       sync.Mutex
	tables   map[string]*tableRun
	order    []string
	prepared bool
}

// tableRun is the progress of one table.
type tableRun struct {
	name      string
	expected  atomic.Int64 // rows read from the backup
	bytes     atomic.Int64
	total     int64 // uncompressed bytes of its data files when known
	totalRows int64 // rows the backup's record lists, when it does
	started   time.Time
	seconds   float64
	skipped   bool
	pending   atomic.Int64 // data units not yet committed
	broken    atomic.Bool  // a unit failed or was abandoned
}

func (r *run) table(name string) *tableRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tables[name]
	if !ok {
		t = &tableRun{name: name, started: time.Now(), totalRows: r.counts[name]}
		r.tables[name] = t
		r.order = append(r.order, name)
	}
	return t
}

func (r *run) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.report.Warnings = append(r.report.Warnings, msg)
	r.mu.Unlock()
	r.log.Warn(msg)
}

func (r *run) progress(t *tableRun, done bool) {
	if r.req.Progress == nil {
		return
	}
	ev := restore.Event{Object: t.name, Unit: restore.UnitRows, Count: t.expected.Load(), Total: t.totalRows,
		Bytes: t.bytes.Load(), TotalBytes: t.total, Done: done}
	if done && ev.TotalBytes > 0 {
		ev.Bytes = ev.TotalBytes // headers and comments are read too
	}
	r.req.Progress(ev)
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

// skipFinished marks a table an earlier run finished; it reports whether
// it was.
func (r *run) skipFinished(name string) bool {
	tc, ok := r.cp.done(name)
	if !ok {
		return false
	}
	t := r.table(name)
	if !t.skipped {
		t.skipped = true
		t.expected.Store(tc.Expected)
		t.bytes.Store(tc.Bytes)
		t.seconds = tc.Seconds
		r.progress(t, true)
	}
	return true
}

// prepare makes the target ready, once the backup is known to hold From:
// it drops what DropExisting allows, creates the schema, and opens the
// loader connections.
func (r *run) prepare(ctx context.Context) error {
	if r.prepared {
		return nil
	}
	r.prepared = true
	r.touched = true
	to := termshift.QuoteMySQL(r.req.To)
	if !r.resuming && r.req.DropExisting {
		if err := dropObjects(ctx, r.admin, r.req.To, true); err != nil {
			return err
		}
	}
	if _, err := r.admin.db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+to); err != nil {
		return fmt.Errorf("create schema %s on %s: %w", termshift.Quote(r.req.To), r.admin.addr, err)
	}
	if r.resuming && !r.cp.PostDone {
		// Views, triggers and routines are redone whole.
		if err := dropObjects(ctx, r.admin, r.req.To, false); err != nil {
			return err
		}
	}
	if err := r.cp.update(func(*checkpoint) {}); err != nil {
		return err
	}
	loader, err := openServer(ctx, r.dsn, r.req.To, r.threads+1)
	if err != nil {
		return err
	}
	r.loader = loader
	return nil
}

// createDatabaseOptions applies the character set and collation of a
// backup's CREATE DATABASE to the target, and nothing else: a schema
// COMMENT in the backup is the source's ownership marker (or anything),
// never to be written over the target's.
func (r *run) createDatabaseOptions(ctx context.Context, text []byte) error {
	toks := tokenize(text, -1)
	for i, t := range toks {
		if t.Text == r.from && (i > 0) && !t.Str {
			opts := schemaOptions(string(text[t.End:]))
			if opts == "" {
				return nil
			}
			q := "ALTER DATABASE " + termshift.QuoteMySQL(r.req.To) + " " + opts
			if _, err := r.admin.db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("set schema options of %s: %s: %w", termshift.Quote(r.req.To), preview([]byte(q)), err)
			}
			return nil
		}
	}
	return nil
}

var (
	charsetRE   = regexp.MustCompile(`(?i)\bCHARACTER\s+SET\s*=?\s*([A-Za-z0-9_]+)`)
	collationRE = regexp.MustCompile(`(?i)\bCOLLATE\s*=?\s*([A-Za-z0-9_]+)`)
)

// schemaOptions keeps the character set and collation of the options
// after a CREATE DATABASE's name ("/*!40100 DEFAULT CHARACTER SET utf8mb4
// COLLATE utf8mb4_unicode_ci */ COMMENT '...'").
func schemaOptions(rest string) string {
	var out []string
	if m := charsetRE.FindStringSubmatch(rest); m != nil {
		out = append(out, "CHARACTER SET "+m[1])
	}
	if m := collationRE.FindStringSubmatch(rest); m != nil {
		out = append(out, "COLLATE "+m[1])
	}
	return strings.Join(out, " ")
}

// verify counts the loaded rows of every table and fills the report.
func (r *run) verify(ctx context.Context) error {
	objs, err := r.countTables(ctx)
	if err != nil {
		return err
	}
	r.report.Objects = objs
	if r.counts != nil {
		r.report.ExpectCounts(r.record, r.counts)
	}
	for _, o := range r.report.Objects {
		if !o.OK() {
			r.report.Warnings = append(r.report.Warnings, fmt.Sprintf("table %s: backup holds %d rows, target %d", termshift.Quote(o.Name), o.Expected, o.Loaded))
		}
	}
	return nil
}

// countTables reports every table met in the backup with the rows read
// and the rows the target holds (0 for a table it does not hold).
func (r *run) countTables(ctx context.Context) ([]restore.ObjectReport, error) {
	r.mu.Lock()
	names := append([]string(nil), r.order...)
	r.mu.Unlock()
	sort.Strings(names)
	have, err := tableRows(ctx, r.admin, r.req.To)
	if err != nil {
		return nil, err
	}
	var out []restore.ObjectReport
	for _, n := range names {
		if n == MarkerTable {
			continue
		}
		t := r.tables[n]
		out = append(out, restore.ObjectReport{Name: n, Expected: t.expected.Load(), Loaded: have[n], Bytes: t.bytes.Load(), Seconds: t.seconds, Skipped: t.skipped})
	}
	return out, nil
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
	if err != nil && err != io.EOF {
		return n, &gzipError{name: g.name, at: g.n, err: err}
	}
	return n, err
}

// gzipError is a compressed file that is corrupt or cut short.
type gzipError struct {
	name string
	at   int64 // uncompressed bytes read before it
	err  error
}

func (e *gzipError) Error() string {
	return fmt.Sprintf("%s: gzip stream corrupt or truncated after %d uncompressed bytes: %v", e.name, e.at, e.err)
}

func (e *gzipError) Unwrap() []error { return []error{e.err, termshift.ErrInvalid} }

func (g *namedGzip) Close() error { return g.zr.Close() }

type gzipFile struct {
	io.ReadCloser
	under io.Closer
}

func (g *gzipFile) Close() error {
	g.ReadCloser.Close()
	return g.under.Close()
}

func isDumpFile(name string) bool {
	return strings.HasSuffix(name, ".sql") || strings.HasSuffix(name, ".sql.gz")
}

// statFile describes one file of src; a missing file wraps
// termshift.ErrNotFound.
func statFile(ctx context.Context, src restore.Source, name string) (restore.FileInfo, error) {
	dir := path.Dir(name)
	if dir == "." {
		dir = ""
	}
	files, err := src.List(ctx, dir)
	if err != nil {
		return restore.FileInfo{}, err
	}
	for _, f := range files {
		if f.Name == name {
			return f, nil
		}
	}
	return restore.FileInfo{}, fmt.Errorf("%s is not in %s: %w", name, src, termshift.ErrNotFound)
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
