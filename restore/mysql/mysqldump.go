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
)

// batchBytes bounds the INSERTs handed to one loader connection at once;
// with Threads connections, memory stays near 2 x Threads x batchBytes.
const batchBytes = 4 << 20

type batch struct {
	t       *tableRun
	wg      *sync.WaitGroup // the table's batches in flight
	session string
	stmts   [][]byte
	lines   []int
	size    int
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

// mysqldump restores a mysqldump or mariadb-dump file. One reader splits
// the stream; DDL and SET statements run in order on a control connection,
// INSERTs go in batches to Threads loader connections. Before a trigger,
// view, routine or any other statement that may depend on loaded rows, the
// loaders are drained.
func (r *run) mysqldump(ctx context.Context) error {
	rc, err := open(ctx, r.src, r.path)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	header, _ := br.Peek(4096)
	plainName := dumpName(r.path, header)
	sp := newSplitter(br, r.path, false)

	var (
		control  *loaderConn
		workers  *pool
		jobs     chan *batch
		inflight sync.WaitGroup
		tableWG  = map[string]*sync.WaitGroup{}
		failed   atomic.Pointer[error]
		finishes sync.WaitGroup
		session  string
		dirty    = true
		cur      *batch
		curTable *tableRun
		curDB    string
		sawUse   bool
		inScope  bool
		seenFrom bool
	)
	fail := func(err error) {
		failed.CompareAndSwap(nil, &err)
	}
	firstErr := func() error {
		if p := failed.Load(); p != nil {
			return *p
		}
		return nil
	}
	defer func() {
		if jobs != nil {
			close(jobs)
		}
		inflight.Wait()
		finishes.Wait()
		if workers != nil {
			workers.close()
		}
		if control != nil {
			control.Close()
		}
	}()
	start := func() error {
		if control != nil {
			return nil
		}
		if err := r.prepare(ctx); err != nil {
			return err
		}
		var err error
		if control, err = r.loader.conn(ctx, ""); err != nil {
			return err
		}
		if workers, err = r.newPool(ctx, ""); err != nil {
			return err
		}
		jobs = make(chan *batch, r.opts.Threads)
		for _, lc := range workers.all {
			go func() {
				for b := range jobs {
					if firstErr() == nil && ctx.Err() == nil {
						if err := r.loadBatch(ctx, lc, b); err != nil {
							fail(err)
						}
					}
					if firstErr() != nil || ctx.Err() != nil {
						b.t.broken.Store(true) // never record it as finished
					}
					b.wg.Done()
					inflight.Done()
				}
			}()
		}
		return nil
	}
	flush := func() error {
		if cur == nil {
			return nil
		}
		b := cur
		cur = nil
		if dirty {
			s, err := sessionState(ctx, control.c)
			if err != nil {
				return err
			}
			session, dirty = s, false
		}
		b.session = session
		b.wg = tableWG[b.t.name]
		inflight.Add(1)
		b.wg.Add(1)
		select {
		case jobs <- b:
			return nil
		case <-ctx.Done():
			b.wg.Done()
			inflight.Done()
			return ctx.Err()
		}
	}
	// closeTable records the current table once its batches are committed.
	closeTable := func() {
		t := curTable
		curTable = nil
		if t == nil || t.skipped {
			return
		}
		wg := tableWG[t.name]
		finishes.Add(1)
		go func() {
			defer finishes.Done()
			wg.Wait()
			if firstErr() != nil || t.broken.Load() {
				return
			}
			if err := r.finishTable(t); err != nil {
				fail(err)
			}
		}()
	}
	drain := func() error {
		if err := flush(); err != nil {
			return err
		}
		closeTable()
		inflight.Wait()
		finishes.Wait()
		return firstErr()
	}

	for {
		if err := firstErr(); err != nil {
			return err
		}
		st, err := sp.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		k, obj := classify(st.Text)
		switch k {
		case kUse:
			curDB, sawUse = obj.Name, true
			inScope = curDB == r.opts.From
			if inScope {
				seenFrom = true
				if err := start(); err != nil {
					return err
				}
			}
			continue
		case kCreateDB:
			if obj.Name == r.opts.From {
				seenFrom = true
				if err := start(); err != nil {
					return err
				}
				if err := r.createDatabaseOptions(ctx, st.Text); err != nil {
					return err
				}
			}
			continue
		case kDropDB:
			continue
		}
		if !sawUse {
			if k == kSet {
				// the dump's preamble: session settings for whatever follows
				if control != nil && len(r.preamble) == 0 {
					if err := r.execControl(ctx, control, st); err != nil {
						return err
					}
				} else {
					r.preamble = append(r.preamble, fileStmt{file: r.path, line: st.Line, kind: k, text: bytes.Clone(st.Text)})
				}
				dirty = true
				continue
			}
			if plainName != r.opts.From {
				return fmt.Errorf("schema %s is not in the dump %s: it holds %s: %w", termshift.Quote(r.opts.From), r.path, termshift.Quote(plainName), termshift.ErrNotFound)
			}
			inScope, seenFrom = true, true
		}
		if !inScope {
			continue
		}
		if err := start(); err != nil {
			return err
		}
		if len(r.preamble) > 0 {
			for _, p := range r.preamble {
				if err := r.execControl(ctx, control, statement{Text: p.text, Line: p.line}); err != nil {
					return err
				}
			}
			r.preamble = nil
		}
		if err := r.checkScope(r.path, st.Line, k, obj); err != nil {
			return err
		}
		switch k {
		case kSet:
			if err := r.execControl(ctx, control, st); err != nil {
				return err
			}
			dirty = true
		case kLockTables, kAlterKeys:
			// LOCK TABLES would serialise the loaders; DISABLE KEYS is a no-op on InnoDB.
		case kInsert:
			t := r.table(obj.Name)
			if t.skipped {
				continue
			}
			if _, ok := tableWG[t.name]; !ok {
				tableWG[t.name] = &sync.WaitGroup{}
			}
			if curTable != t {
				if err := flush(); err != nil {
					return err
				}
				closeTable()
				curTable = t
			}
			if cur != nil && cur.size+len(st.Text) > batchBytes {
				if err := flush(); err != nil {
					return err
				}
			}
			if cur == nil {
				cur = &batch{t: t}
			}
			text := st.Text
			if obj.Schema != "" {
				text = rename(text, r.opts.From, r.opts.To)
			}
			cur.stmts = append(cur.stmts, bytes.Clone(text))
			cur.lines = append(cur.lines, st.Line)
			cur.size += len(text)
			t.expected.Add(rowCount(st))
			t.bytes.Add(int64(len(st.Text)) + 1)
		case kCreateTable, kDropTable:
			if err := flush(); err != nil {
				return err
			}
			closeTable()
			if _, ok := r.cp.done(obj.Name); ok {
				t := r.table(obj.Name)
				if !t.skipped {
					tc, _ := r.cp.done(obj.Name)
					t.skipped = true
					t.expected.Store(tc.Expected)
					t.bytes.Store(tc.Bytes)
					t.seconds = tc.Seconds
				}
				continue
			}
			if k == kCreateTable {
				t := r.table(obj.Name)
				if _, ok := tableWG[t.name]; !ok {
					tableWG[t.name] = &sync.WaitGroup{}
				}
				curTable = t
				if r.resuming { // left half loaded by the killed run
					q := "DROP TABLE IF EXISTS " + termshift.QuoteMySQL(t.name)
					if err := r.execControl(ctx, control, statement{Text: []byte(q), Line: st.Line}); err != nil {
						return err
					}
				}
			}
			if err := r.execControl(ctx, control, statement{Text: rename(st.Text, r.opts.From, r.opts.To), Line: st.Line}); err != nil {
				return err
			}
		default:
			if err := drain(); err != nil {
				return err
			}
			if k == kCreateView {
				r.dropTable(obj.Name)
			}
			if err := r.execControl(ctx, control, statement{Text: rename(st.Text, r.opts.From, r.opts.To), Line: st.Line}); err != nil {
				return err
			}
		}
	}
	if !seenFrom {
		return fmt.Errorf("schema %s is not in the dump %s: %w", termshift.Quote(r.opts.From), r.path, termshift.ErrNotFound)
	}
	if err := drain(); err != nil {
		return err
	}
	return r.cp.update(func(cp *checkpoint) { cp.PostDone = true })
}

// execControl runs a statement on the control connection; SET GLOBAL
// (e.g. GTID_PURGED in MySQL dumps) is skipped: a restore never changes
// the server for others.
func (r *run) execControl(ctx context.Context, lc *loaderConn, st statement) error {
	if k, _ := classify(st.Text); k == kSet {
		for _, t := range tokenize(st.Text, -1) {
			if t.word("GLOBAL") || strings.HasPrefix(strings.ToUpper(t.Text), "@@GLOBAL") {
				r.mu.Lock()
				r.report.Warnings = append(r.report.Warnings, fmt.Sprintf("%s line %d: skipped a SET GLOBAL", r.path, st.Line))
				r.mu.Unlock()
				return nil
			}
		}
	}
	return lc.exec(ctx, r.path, st.Line, st.Text)
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

// loadBatch runs a batch of INSERTs in one transaction.
func (r *run) loadBatch(ctx context.Context, lc *loaderConn, b *batch) error {
	if err := lc.setSession(ctx, b.session); err != nil {
		return err
	}
	for i, s := range b.stmts {
		if err := lc.exec(ctx, r.path, b.lines[i], s); err != nil {
			return err
		}
	}
	if err := lc.commit(ctx); err != nil {
		return err
	}
	r.progress(b.t, false)
	return nil
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
