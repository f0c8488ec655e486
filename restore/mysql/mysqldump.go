package mysql

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// batchBytes bounds the INSERTs handed to one loader connection at once;
// with Threads connections, memory stays near 2 x Threads x batchBytes.
const batchBytes = 4 << 20

// batch is INSERTs of one table that one loader connection runs in one
// transaction, in the session the dump had set when they were read.
type batch struct {
	t     *tableRun
	wg    *sync.WaitGroup // the table's batches in flight
	sets  []string        // the dump's SET statements so far, for the session
	stmts [][]byte
	lines []int
	size  int
}

var headerDBRE = regexp.MustCompile(`(?m)^-- Host: .*\bDatabase: (\S+)`)

// dumpName is the schema a plain dump (no CREATE DATABASE / USE) holds:
// the header's "Database:" or else the file's NAME.
func dumpName(file string, header []byte) string {
	if m := headerDBRE.FindSubmatch(header); m != nil {
		return string(m[1])
	}
	return strings.TrimSuffix(strings.TrimSuffix(path.Base(file), ".gz"), ".sql")
}

// dumpLoad is one mysqldump or mariadb-dump file being loaded. One reader
// splits the stream; DDL and SET statements run in order on a control
// connection, INSERTs go in batches to Threads worker connections. Before a
// trigger, view, routine or any other statement that may depend on loaded
// rows, the workers are drained.
//
// Every SET the dump runs (sql_mode, NAMES, TIME_ZONE, the @OLD_*
// variables, ...) is replayed on each worker, in order, before the first
// batch read after it: each INSERT runs in the session the dump had set
// for it, as the vendor's client runs the whole file in one session.
type dumpLoad struct {
	r       *run
	sp      *splitter
	rest    io.Reader // the stream after what the splitter has read
	tail    *tailReader
	control *loaderConn
	workers *pool
	jobs    chan *batch

	inflight sync.WaitGroup
	finishes sync.WaitGroup
	tableWG  map[string]*sync.WaitGroup
	failed   atomic.Pointer[error]

	sets     []string // SET statements run on the control connection, in order
	preamble []statement
	cur      *batch
	curTable *tableRun

	plainName  string // the schema a plain dump holds
	curDB      string
	createdDB  string // the last CREATE DATABASE before any USE
	sawUse     bool
	inScope    bool
	seenFrom   bool
	hasHeader  bool // written by mysqldump or mariadb-dump
	headerTool string
}

// mysqldump restores a mysqldump or mariadb-dump file.
func (r *run) mysqldump(ctx context.Context) error {
	rc, err := open(ctx, r.src, r.path)
	if err != nil {
		return err
	}
	defer rc.Close()
	d := &dumpLoad{r: r, tableWG: map[string]*sync.WaitGroup{}}
	d.tail = &tailReader{r: rc}
	br := bufio.NewReaderSize(d.tail, 64<<10)
	header, _ := br.Peek(4096)
	d.plainName = dumpName(r.path, header)
	d.headerTool = dumpTool(header)
	d.hasHeader = d.headerTool != ""
	d.sp = newSplitter(br, r.path, false)
	d.rest = br
	defer d.close()
	if err := d.load(ctx); err != nil {
		return d.cause(err)
	}
	return nil
}

func (d *dumpLoad) load(ctx context.Context) error {
	r := d.r
	for {
		if err := d.err(); err != nil {
			return err
		}
		st, err := d.sp.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := d.statement(ctx, st); err != nil {
			return err
		}
	}
	if err := d.completeness(); err != nil {
		return err
	}
	if !d.seenFrom {
		return fmt.Errorf("schema %s is not in the dump %s: %w", termshift.Quote(r.from), r.path, termshift.ErrNotFound)
	}
	if err := d.drain(ctx); err != nil {
		return err
	}
	return r.cp.update(func(cp *checkpoint) { cp.PostDone = true })
}

// cause returns the stream's own error when a failure came from a corrupt
// file: a gzip stream's garbage decompresses into statements the server or
// the splitter refuses before its checksum fails at the end, so the rest of
// a compressed file is read to find out. The statement's error is kept in
// the message.
func (d *dumpLoad) cause(err error) error {
	if !strings.HasSuffix(d.r.path, ".gz") || errors.Is(err, context.Canceled) {
		return err
	}
	var ge *gzipError
	if errors.As(err, &ge) {
		return err
	}
	if _, rerr := io.Copy(io.Discard, d.rest); rerr != nil {
		return fmt.Errorf("%w (the failing statement was read from this corrupt stream: %v)", rerr, err)
	}
	return err
}

// statement handles one statement of the dump.
func (d *dumpLoad) statement(ctx context.Context, st statement) error {
	r := d.r
	k, obj := classify(st.Text)
	switch k {
	case kUse:
		d.curDB, d.sawUse = obj.Name, true
		d.inScope = d.curDB == r.from && r.from != ""
		if d.inScope {
			d.seenFrom = true
			return d.start(ctx)
		}
		return nil
	case kCreateDB:
		if !d.sawUse {
			d.createdDB = obj.Name
		}
		if obj.Name == r.from && r.from != "" {
			d.seenFrom = true
			if err := d.start(ctx); err != nil {
				return err
			}
			return r.createDatabaseOptions(ctx, st.Text)
		}
		return nil
	case kDropDB:
		return nil
	}
	if !d.sawUse {
		if k == kSet {
			return d.set(ctx, st) // the dump's preamble
		}
		if err := d.enterPlain(); err != nil {
			return err
		}
	}
	if !d.inScope {
		return nil
	}
	if err := d.start(ctx); err != nil {
		return err
	}
	if err := r.checkScope(r.path, st.Line, k, obj); err != nil {
		return err
	}
	switch k {
	case kSet:
		return d.set(ctx, st)
	case kLockTables, kAlterKeys:
		// LOCK TABLES would serialise the loaders; DISABLE KEYS is a no-op on InnoDB.
		return nil
	case kInsert:
		return d.insert(ctx, st, obj)
	case kCreateTable, kDropTable:
		return d.table(ctx, st, k, obj)
	}
	if err := d.drain(ctx); err != nil {
		return err
	}
	if k == kCreateView {
		r.dropTable(obj.Name)
	}
	return d.exec(ctx, statement{Text: r.rename(st.Text), Line: st.Line})
}

// enterPlain decides, at the first statement that is not a SET before any
// USE, which schema it belongs to: a dump with CREATE DATABASE but no USE
// yet is in the schema it created; a plain dump holds one schema, the
// header's or the file's, whatever From says.
func (d *dumpLoad) enterPlain() error {
	r := d.r
	if d.createdDB != "" {
		d.inScope = d.createdDB == r.from
		d.seenFrom = d.seenFrom || d.inScope
		return nil
	}
	if d.seenFrom {
		return nil
	}
	if r.req.From != "" && r.req.From != d.plainName {
		r.warn("%s holds one schema, %s, restored as %s was asked for", r.path, termshift.Quote(d.plainName), termshift.Quote(r.req.From))
	}
	r.setFrom(d.plainName)
	d.inScope, d.seenFrom = true, true
	return nil
}

// start prepares the target and the connections at the first statement
// to run, then runs the preamble held back until then.
func (d *dumpLoad) start(ctx context.Context) error {
	if d.control != nil {
		return nil
	}
	r := d.r
	if err := r.prepare(ctx); err != nil {
		return err
	}
	var err error
	if d.control, err = r.loader.conn(ctx, ""); err != nil {
		return err
	}
	if d.workers, err = r.newPool(ctx, ""); err != nil {
		return err
	}
	d.jobs = make(chan *batch, r.threads)
	for _, lc := range d.workers.all {
		go d.work(ctx, lc)
	}
	pre := d.preamble
	d.preamble = nil
	for _, st := range pre {
		if err := d.set(ctx, st); err != nil {
			return err
		}
	}
	return nil
}

// work runs batches on one worker connection until the jobs close.
func (d *dumpLoad) work(ctx context.Context, lc *loaderConn) {
	applied := 0 // SET statements of the dump replayed on lc
	for b := range d.jobs {
		if d.err() == nil && ctx.Err() == nil {
			if err := d.r.loadBatch(ctx, lc, b, &applied); err != nil {
				d.fail(err)
			}
		}
		if d.err() != nil || ctx.Err() != nil {
			b.t.broken.Store(true) // never record it as finished
		}
		b.wg.Done()
		d.inflight.Done()
	}
}

func (d *dumpLoad) fail(err error) { d.failed.CompareAndSwap(nil, &err) }

func (d *dumpLoad) err() error {
	if p := d.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// set runs a SET statement of the dump on the control connection and
// logs it for the workers; before the connections exist it is held back.
func (d *dumpLoad) set(ctx context.Context, st statement) error {
	if d.control == nil {
		d.preamble = append(d.preamble, statement{Text: bytes.Clone(st.Text), Line: st.Line})
		return nil
	}
	// INSERTs read before this SET run in the session before it.
	if err := d.flush(ctx); err != nil {
		return err
	}
	ran, err := d.r.execControl(ctx, d.control, st)
	if err != nil {
		return err
	}
	if ran {
		d.sets = append(d.sets, string(st.Text))
	}
	return nil
}

func (d *dumpLoad) exec(ctx context.Context, st statement) error {
	_, err := d.r.execControl(ctx, d.control, st)
	return err
}

// insert adds an INSERT to the current batch of its table.
func (d *dumpLoad) insert(ctx context.Context, st statement, obj object) error {
	r := d.r
	t := r.table(obj.Name)
	if t.skipped {
		return nil
	}
	if _, ok := d.tableWG[t.name]; !ok {
		d.tableWG[t.name] = &sync.WaitGroup{}
	}
	if d.curTable != t {
		if err := d.flush(ctx); err != nil {
			return err
		}
		d.closeTable()
		d.curTable = t
	}
	if d.cur != nil && d.cur.size+len(st.Text) > batchBytes {
		if err := d.flush(ctx); err != nil {
			return err
		}
	}
	if d.cur == nil {
		d.cur = &batch{t: t}
	}
	text := st.Text
	if obj.Schema != "" {
		text = r.rename(text)
	}
	d.cur.stmts = append(d.cur.stmts, bytes.Clone(text))
	d.cur.lines = append(d.cur.lines, st.Line)
	d.cur.size += len(text)
	t.expected.Add(rowCount(st))
	t.bytes.Add(int64(len(st.Text)) + 1)
	return nil
}

// table runs a CREATE or DROP TABLE, skipping tables a resumed run
// finished and dropping the half-loaded ones it did not.
func (d *dumpLoad) table(ctx context.Context, st statement, k kind, obj object) error {
	r := d.r
	if err := d.flush(ctx); err != nil {
		return err
	}
	d.closeTable()
	if r.skipFinished(obj.Name) {
		return nil
	}
	if k == kCreateTable {
		t := r.table(obj.Name)
		if _, ok := d.tableWG[t.name]; !ok {
			d.tableWG[t.name] = &sync.WaitGroup{}
		}
		d.curTable = t
		if r.resuming { // left half loaded by the killed run
			q := "DROP TABLE IF EXISTS " + termshift.QuoteMySQL(t.name)
			if err := d.exec(ctx, statement{Text: []byte(q), Line: st.Line}); err != nil {
				return err
			}
		}
	}
	return d.exec(ctx, statement{Text: r.rename(st.Text), Line: st.Line})
}

// flush hands the current batch to the workers.
func (d *dumpLoad) flush(ctx context.Context) error {
	if d.cur == nil {
		return nil
	}
	b := d.cur
	d.cur = nil
	b.sets = d.sets
	b.wg = d.tableWG[b.t.name]
	d.inflight.Add(1)
	b.wg.Add(1)
	select {
	case d.jobs <- b:
		return nil
	case <-ctx.Done():
		b.wg.Done()
		d.inflight.Done()
		return ctx.Err()
	}
}

// closeTable records the current table once its batches are committed.
func (d *dumpLoad) closeTable() {
	t := d.curTable
	d.curTable = nil
	if t == nil || t.skipped {
		return
	}
	wg := d.tableWG[t.name]
	d.finishes.Add(1)
	go func() {
		defer d.finishes.Done()
		wg.Wait()
		if d.err() != nil || t.broken.Load() {
			return
		}
		if err := d.r.finishTable(t); err != nil {
			d.fail(err)
		}
	}()
}

// drain waits until every INSERT read so far is committed.
func (d *dumpLoad) drain(ctx context.Context) error {
	if d.control == nil {
		return d.err()
	}
	if err := d.flush(ctx); err != nil {
		return err
	}
	d.closeTable()
	d.inflight.Wait()
	d.finishes.Wait()
	return d.err()
}

// close stops the workers and closes the connections.
func (d *dumpLoad) close() {
	if d.jobs != nil {
		close(d.jobs)
	}
	d.inflight.Wait()
	d.finishes.Wait()
	if d.workers != nil {
		d.workers.close()
	}
	if d.control != nil {
		d.control.Close()
	}
}

// completeness judges, at the end of the file, whether the dump is whole:
// a dump by mysqldump or mariadb-dump ends with its "-- Dump completed"
// trailer; one cut short is refused (and what it loaded is dropped).
func (d *dumpLoad) completeness() error {
	r := d.r
	trailer := dumpTrailer(d.tail.bytes())
	switch {
	case trailer != "":
		if !r.report.Completeness.Proven {
			r.report.Completeness = restore.Proven(fmt.Sprintf("%s trailer %q", d.headerTool, trailer))
		}
	case d.hasHeader:
		r.incomplete = true
		return fmt.Errorf("%s: the %s trailer '-- Dump completed' is missing: the file was cut short after line %d (%d bytes): %w",
			r.path, d.headerTool, d.sp.line, d.sp.base+int64(len(d.sp.buf)), termshift.ErrInvalid)
	case !r.report.Completeness.Proven:
		r.report.Completeness = restore.Unproven(fmt.Sprintf("%s has no mysqldump or mariadb-dump header and trailer (a phpMyAdmin export or a hand-written file): nothing in it tells whether it is whole", r.path))
	}
	return nil
}

// dumpTool names the tool whose header a dump starts with, or "".
func dumpTool(header []byte) string {
	for _, l := range bytes.SplitN(header, []byte("\n"), 8) {
		switch {
		case bytes.HasPrefix(l, []byte("-- MySQL dump")):
			return "mysqldump"
		case bytes.HasPrefix(l, []byte("-- MariaDB dump")):
			return "mariadb-dump"
		}
	}
	return ""
}

// dumpTrailer returns the "-- Dump completed ..." line that ends a whole
// dump, or "" when the file's last line is not one.
func dumpTrailer(tail []byte) string {
	t := bytes.TrimRight(tail, " \t\r\n")
	last := t[bytes.LastIndexByte(t, '\n')+1:]
	if bytes.HasPrefix(last, []byte("-- Dump completed")) {
		return string(last)
	}
	return ""
}

// tailReader keeps the last bytes read, for the trailer.
type tailReader struct {
	r    io.Reader
	last [512]byte
	n    int64
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		if n >= len(t.last) {
			copy(t.last[:], p[n-len(t.last):n])
		} else {
			copy(t.last[:], t.last[n:])
			copy(t.last[len(t.last)-n:], p[:n])
		}
		t.n += int64(n)
	}
	return n, err
}

func (t *tailReader) bytes() []byte {
	if t.n < int64(len(t.last)) {
		return t.last[len(t.last)-int(t.n):]
	}
	return t.last[:]
}

// execControl runs a statement on the control connection and reports
// whether it ran; SET GLOBAL (e.g. GTID_PURGED in MySQL dumps) is skipped:
// a restore never changes the server for others.
func (r *run) execControl(ctx context.Context, lc *loaderConn, st statement) (bool, error) {
	if k, _ := classify(st.Text); k == kSet {
		for _, t := range tokenize(st.Text, -1) {
			if t.word("GLOBAL") || strings.HasPrefix(strings.ToUpper(t.Text), "@@GLOBAL") {
				r.warn("%s line %d: skipped a SET GLOBAL", r.path, st.Line)
				return false, nil
			}
		}
	}
	return true, lc.exec(ctx, r.path, st.Line, st.Text)
}

// dropTable forgets a name that turned out to be a view placeholder.
func (r *run) dropTable(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tables[name]; !ok {
		return
	}
	delete(r.tables, name)
	for i, n := range r.order {
		if n == name {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
}

// loadBatch runs a batch of INSERTs in one transaction, after replaying on
// lc the dump's SET statements it has not run yet.
func (r *run) loadBatch(ctx context.Context, lc *loaderConn, b *batch, applied *int) error {
	for ; *applied < len(b.sets); *applied++ {
		if err := lc.exec(ctx, r.path, 0, []byte(b.sets[*applied])); err != nil {
			return fmt.Errorf("replay the dump's session settings: %w", err)
		}
	}
	for attempt := 1; ; attempt++ {
		err := r.runBatch(ctx, lc, b)
		if err == nil {
			break
		}
		if attempt == 5 || !retriable(err) {
			return err
		}
		// A deadlock with a batch of the same table: roll back, run it again.
		if _, rerr := lc.c.ExecContext(ctx, "ROLLBACK"); rerr != nil {
			return err
		}
	}
	r.progress(b.t, false)
	return nil
}

func (r *run) runBatch(ctx context.Context, lc *loaderConn, b *batch) error {
	bl := r.newBulk(lc, r.path)
	for i, s := range b.stmts {
		if err := bl.insert(ctx, b.t.name, b.lines[i], s); err != nil {
			return err
		}
	}
	if err := bl.flush(ctx); err != nil {
		return err
	}
	return lc.commit(ctx)
}

// dumpSchemas lists the schemas of a dump file: its CREATE DATABASE and
// USE statements, or for a plain dump the header's database or the
// file's NAME. It reads lines, not statements: mysqldump writes each
// statement's start at the start of a line and escapes newlines in data.
func dumpSchemas(ctx context.Context, src interface {
	Open(context.Context, string) (io.ReadCloser, error)
}, file string) ([]string, error) {
	rc, err := src.Open(ctx, file)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var rd io.Reader = rc
	if strings.HasSuffix(file, ".gz") {
		zr, err := gzipReader(rc, file)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	}
	br := bufio.NewReaderSize(rd, 64<<10)
	header, _ := br.Peek(4096)
	seen := map[string]bool{}
	var out []string
	lineNo := 0
	for {
		line, err := br.ReadSlice('\n')
		lineNo++
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n') // the rest of a long INSERT line
		}
		if bytes.HasPrefix(line, []byte("USE ")) || bytes.HasPrefix(line, []byte("CREATE DATABASE")) {
			if k, obj := classify(line); (k == kUse || k == kCreateDB) && !seen[obj.Name] {
				seen[obj.Name] = true
				out = append(out, obj.Name)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s near line %d: %w", file, lineNo, err)
		}
		if lineNo%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if len(out) == 0 {
		out = []string{dumpName(file, header)}
	}
	return out, nil
}
