package mysql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// mydumperDir is the layout of a mydumper 0.10 output directory:
//
//	metadata
//	DB-schema-create.sql          CREATE DATABASE
//	DB-schema-post.sql            routines and events (--routines, --events)
//	DB.T-schema.sql               CREATE TABLE (for a view: a placeholder table)
//	DB.T-schema-view.sql          DROP TABLE placeholder; CREATE VIEW
//	DB.T-schema-triggers.sql      CREATE TRIGGER (--triggers)
//	DB.T.sql or DB.T.00000.sql    data, whole or in numbered chunks (--rows)
//
// each optionally gzip-compressed (.gz, with -c).
type mydumperDir struct {
	isMydumper bool
	metadata   string // the metadata file's name, "" when absent
	partial    bool   // metadata.partial: mydumper did not finish
	dbs        map[string]*mydumperDB
}

type mydumperDB struct {
	create, post string
	tables       map[string]*mydumperTable
}

type mydumperTable struct {
	schema, view, triggers string
	whole                  *restore.FileInfo
	chunks                 map[int]restore.FileInfo
}

var chunkRE = regexp.MustCompile(`^(.+)\.([0-9]{5,})\.sql$`)

func parseMydumper(files []restore.FileInfo, dir string) mydumperDir {
	d := mydumperDir{dbs: map[string]*mydumperDB{}}
	db := func(name string) *mydumperDB {
		x, ok := d.dbs[name]
		if !ok {
			x = &mydumperDB{tables: map[string]*mydumperTable{}}
			d.dbs[name] = x
		}
		return x
	}
	table := func(qualified string) *mydumperTable {
		dbName, t, ok := strings.Cut(qualified, ".")
		if !ok {
			return nil
		}
		x := db(dbName)
		tt, ok := x.tables[t]
		if !ok {
			tt = &mydumperTable{chunks: map[int]restore.FileInfo{}}
			x.tables[t] = tt
		}
		return tt
	}
	prefix := strings.Trim(dir, "/")
	if prefix != "" && prefix != "." {
		prefix += "/"
	} else {
		prefix = ""
	}
	for _, f := range files {
		rel := strings.TrimPrefix(f.Name, prefix)
		if strings.Contains(rel, "/") {
			continue
		}
		base := strings.TrimSuffix(rel, ".gz")
		switch {
		case base == "metadata":
			d.isMydumper = true
			d.metadata = f.Name
		case base == "metadata.partial":
			d.partial = true
		case strings.HasSuffix(base, "-schema-create.sql"):
			db(strings.TrimSuffix(base, "-schema-create.sql")).create = f.Name
			d.isMydumper = true
		case strings.HasSuffix(base, "-schema-post.sql") && !strings.Contains(strings.TrimSuffix(base, "-schema-post.sql"), "."):
			db(strings.TrimSuffix(base, "-schema-post.sql")).post = f.Name
		case strings.HasSuffix(base, "-schema-view.sql"):
			if t := table(strings.TrimSuffix(base, "-schema-view.sql")); t != nil {
				t.view = f.Name
			}
		case strings.HasSuffix(base, "-schema-triggers.sql"):
			if t := table(strings.TrimSuffix(base, "-schema-triggers.sql")); t != nil {
				t.triggers = f.Name
			}
		case strings.HasSuffix(base, "-schema.sql"):
			if t := table(strings.TrimSuffix(base, "-schema.sql")); t != nil {
				t.schema = f.Name
				d.isMydumper = true
			}
		case strings.HasSuffix(base, ".sql"):
			if m := chunkRE.FindStringSubmatch(base); m != nil {
				if t := table(m[1]); t != nil {
					n, _ := strconv.Atoi(m[2])
					t.chunks[n] = f
				}
			} else if t := table(strings.TrimSuffix(base, ".sql")); t != nil {
				fi := f
				t.whole = &fi
			}
		}
	}
	return d
}

func (d mydumperDir) schemas() []string {
	var out []string
	for n := range d.dbs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// dataFiles lists a table's data files in order, checking that the chunk
// numbers have no gap.
func (t *mydumperTable) dataFiles(name string) ([]restore.FileInfo, error) {
	if t.whole != nil && len(t.chunks) > 0 {
		return nil, fmt.Errorf("table %s has both %s and numbered chunks: %w", termshift.Quote(name), t.whole.Name, termshift.ErrInvalid)
	}
	if t.whole != nil {
		return []restore.FileInfo{*t.whole}, nil
	}
	nums := make([]int, 0, len(t.chunks))
	for n := range t.chunks {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	out := make([]restore.FileInfo, 0, len(nums))
	for i, n := range nums {
		if n != i {
			missing := strings.Replace(t.chunks[n].Name, fmt.Sprintf(".%05d.sql", n), fmt.Sprintf(".%05d.sql", i), 1)
			return nil, fmt.Errorf("chunk %s of table %s is missing (chunks %05d to %05d exist): %w", missing, termshift.Quote(name), nums[0], nums[len(nums)-1], termshift.ErrNotFound)
		}
		out = append(out, t.chunks[n])
	}
	return out, nil
}

// schemaTable is a table's CREATE statements read from its schema file,
// with secondary indexes set aside when they can be built after the load.
type schemaTable struct {
	name   string
	stmts  []fileStmt
	addKey string // ALTER TABLE clause adding the deferred indexes, or ""
	// keep: the columns of its foreign keys and those other tables'
	// foreign keys reference, whose indexes are never deferred
	keep map[string]bool
	// related: it holds a foreign key or one points at it; creating it
	// locks other tables' metadata
	related   bool
	data      []restore.FileInfo
	total     int64 // uncompressed bytes of its data files
	dataBytes int64 // bytes of its data files as stored
	view      bool
	viewFile  string // DB.T-schema-view.sql
	triggers  string // DB.T-schema-triggers.sql
}

type fileStmt struct {
	file string
	line int
	text []byte
	kind kind
}

// readStatements reads a whole small file (schema, view, triggers, post)
// into statements, renamed for the target. Only the DB-schema-create.sql
// file (createDB) may hold a CREATE DATABASE, and that is not executed.
func (r *run) readStatements(ctx context.Context, name string, createDB bool) ([]fileStmt, error) {
	rc, err := open(ctx, r.src, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	sp := newSplitter(rc, name, true)
	var out []fileStmt
	for {
		st, err := sp.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		k, obj := classify(st.Text)
		if !(k == kCreateDB && createDB && obj.Name == r.from) {
			if err := r.checkScope(name, st.Line, k, obj); err != nil {
				return nil, err
			}
		}
		text := r.rename(bytes.Clone(st.Text))
		if k == kCreateTrigger || k == kCreateRoutine {
			// mydumper writes "; " at the end of body lines so that myloader's
			// line-based splitter does not cut the body; undo it.
			text = bytes.ReplaceAll(text, []byte("; \n"), []byte(";\n"))
		}
		out = append(out, fileStmt{file: name, line: st.Line, kind: k, text: text})
	}
}

// checkScope refuses statements that would touch another schema.
func (r *run) checkScope(file string, line int, k kind, obj object) error {
	switch k {
	case kUse, kCreateDB, kDropDB:
		if r.format == FormatMydumper || obj.Name != r.from {
			return fmt.Errorf("%s line %d: refusing a statement on schema %s: %w", file, line, termshift.Quote(obj.Name), termshift.ErrInvalid)
		}
	case kInsert, kCreateTable, kDropTable, kCreateTrigger, kCreateView, kCreateRoutine, kAlterKeys:
		if obj.Schema != "" && !r.isSource(obj.Schema) {
			return fmt.Errorf("%s line %d: refusing a statement on %s.%s outside the schema being restored: %w", file, line, termshift.Quote(obj.Schema), termshift.Quote(obj.Name), termshift.ErrInvalid)
		}
	}
	return nil
}

var (
	keyLineRE = regexp.MustCompile("^  (UNIQUE )?KEY `(?:[^`]|``)+` \\(`((?:[^`]|``)+)`")
	aiLineRE  = regexp.MustCompile("^  `((?:[^`]|``)+)` .* AUTO_INCREMENT")
	fkRE      = regexp.MustCompile("FOREIGN KEY \\(([^)]*)\\) REFERENCES `((?:[^`]|``)+)` \\(([^)]*)\\)")
	colRE     = regexp.MustCompile("`((?:[^`]|``)+)`")
)

// fkColumns lists the backquoted column names of a FOREIGN KEY's list.
func fkColumns(list string) []string {
	var out []string
	for _, m := range colRE.FindAllStringSubmatch(list, -1) {
		out = append(out, strings.ReplaceAll(m[1], "``", "`"))
	}
	return out
}

// deferKeys takes the secondary indexes out of a CREATE TABLE written by
// SHOW CREATE TABLE, returning the statement without them and the ALTER
// clause that adds them: building an index once, sorted, after the load is
// much cheaper than maintaining it row by row. Indexes on the
// AUTO_INCREMENT column stay (the column needs one), and so do those whose
// first column is in keep: the columns of the table's foreign keys and
// those other tables' foreign keys reference, which need an index when the
// constraint is created.
func deferKeys(create string, keep map[string]bool) (string, string) {
	lines := strings.Split(create, "\n")
	ai := ""
	for _, l := range lines {
		if m := aiLineRE.FindStringSubmatch(l); m != nil {
			ai = "(`" + m[1] + "`"
		}
	}
	var kept, keys []string
	for i, l := range lines {
		m := keyLineRE.FindStringSubmatch(l)
		if i > 0 && i < len(lines)-1 && m != nil && !(ai != "" && strings.Contains(l, ai)) && !keep[strings.ReplaceAll(m[2], "``", "`")] {
			keys = append(keys, "ADD "+strings.TrimSuffix(strings.TrimSpace(l), ","))
			continue
		}
		kept = append(kept, l)
	}
	if len(keys) == 0 {
		return create, ""
	}
	// the line before the closing one must not end with a comma
	for i := len(kept) - 1; i > 0; i-- {
		if strings.HasPrefix(kept[i], ")") {
			kept[i-1] = strings.TrimSuffix(kept[i-1], ",")
			break
		}
	}
	return strings.Join(kept, "\n"), strings.Join(keys, ", ")
}

// mydumper restores a mydumper directory: every schema file is read and
// checked before the target is touched, then the tables are created, the
// data files loaded in parallel, and the views, triggers and routines
// created last.
func (r *run) mydumper(ctx context.Context) error {
	files, err := r.src.List(ctx, r.path)
	if err != nil {
		return err
	}
	d := parseMydumper(files, r.path)
	if !d.isMydumper {
		return fmt.Errorf("%s in %s is not a mydumper directory (no metadata or schema files): %w", r.path, r.src, termshift.ErrNotFound)
	}
	db, ok := d.dbs[r.from]
	if !ok {
		return fmt.Errorf("schema %s is not in the mydumper backup %s (it holds %s): %w", termshift.Quote(r.from), r.path, strings.Join(d.schemas(), ", "), termshift.ErrNotFound)
	}
	if err := r.mydumperMetadata(ctx, d); err != nil {
		return err
	}
	tables, err := r.readSchemas(ctx, db)
	if err != nil {
		return err
	}
	var createDB []fileStmt
	if db.create != "" {
		if createDB, err = r.readStatements(ctx, db.create, true); err != nil {
			return err
		}
	}
	if err := r.prepare(ctx); err != nil {
		return err
	}
	for _, s := range createDB {
		if s.kind == kCreateDB {
			if err := r.createDatabaseOptions(ctx, s.text); err != nil {
				return err
			}
		}
	}
	deferIndexes(tables, r.deferMin)
	todo := r.unfinished(tables)
	pool, err := r.newPool(ctx, mydumperSession)
	if err != nil {
		return err
	}
	defer pool.close()
	start := time.Now()
	if err := r.loadData(ctx, pool, todo); err != nil {
		return err
	}
	r.log.Debug("tables created and loaded", "tables", len(todo), "seconds", time.Since(start).Seconds())
	if r.cp.PostDone {
		return nil
	}
	return r.postData(ctx, pool, db, tables)
}

// mydumperMetadata reads the directory's metadata: its finish line proves
// the dump whole, and the rows it lists per table (mydumper 0.11 and
// later) are the expected counts.
func (r *run) mydumperMetadata(ctx context.Context, d mydumperDir) error {
	proven := r.report.Completeness.Proven // by the manifest
	if d.metadata == "" {
		if !proven {
			missing := "the mydumper directory has no metadata file, which mydumper writes last, when the dump finished"
			if d.partial {
				missing = "the mydumper directory has only metadata.partial: mydumper did not finish this dump"
			}
			r.report.Completeness = restore.Unproven(missing + "; without it a table's missing last chunk cannot be noticed")
		}
		return nil
	}
	data, err := readAll(ctx, r.src, d.metadata, 16<<20)
	if err != nil {
		return err
	}
	md := parseMydumperMetadata(data)
	if rows := md.rows[r.from]; len(rows) > 0 && r.counts == nil {
		r.counts, r.record = rows, d.metadata
		r.mu.Lock()
		for n, t := range r.tables {
			t.totalRows = rows[n]
		}
		r.mu.Unlock()
	}
	if proven {
		return nil
	}
	switch {
	case md.finished == "":
		r.report.Completeness = restore.Unproven(d.metadata + " has no 'Finished dump at' line: mydumper did not finish this dump, or the file was cut")
	case len(md.rows[r.from]) == 0:
		r.report.Completeness = restore.Proven("mydumper metadata: " + md.finished + " (it lists no rows per table: a table's missing last chunk would go unnoticed)")
	default:
		r.report.Completeness = restore.Proven(fmt.Sprintf("mydumper metadata: %s, with the rows of %d tables", md.finished, len(md.rows[r.from])))
	}
	return nil
}

// readSchemas reads and checks every table's schema file and lists its
// data files, in parallel, before the target is touched.
func (r *run) readSchemas(ctx context.Context, db *mydumperDB) ([]*schemaTable, error) {
	names := make([]string, 0, len(db.tables))
	for n := range db.tables {
		names = append(names, n)
	}
	sort.Strings(names)
	datas := make([][]restore.FileInfo, len(names))
	for i, n := range names {
		mt := db.tables[n]
		if mt.schema == "" {
			return nil, fmt.Errorf("%s: table %s has data or view files but no schema file %s.%s-schema.sql: %w", r.path, termshift.Quote(n), r.from, n, termshift.ErrNotFound)
		}
		var err error
		if datas[i], err = mt.dataFiles(n); err != nil {
			return nil, fmt.Errorf("%s: %w", r.path, err)
		}
	}
	tables := make([]*schemaTable, len(names))
	var mu sync.Mutex
	keep := map[string]map[string]bool{} // table: columns of foreign keys
	referenced := map[string]bool{}
	g, gctx := newGroup(ctx, r.threads)
	for i, n := range names {
		mt, data := db.tables[n], datas[i]
		g.Go(func() error {
			stmts, err := r.readStatements(gctx, mt.schema, false)
			if err != nil {
				return err
			}
			st := &schemaTable{name: n, stmts: stmts, data: data, view: mt.view != "", viewFile: mt.view, triggers: mt.triggers}
			for _, f := range data {
				if !strings.HasSuffix(f.Name, ".gz") {
					st.total += f.Size
				}
				st.dataBytes += f.Size
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range stmts {
				if s.kind == kCreateTable {
					for _, m := range fkRE.FindAllStringSubmatch(string(s.text), -1) {
						ref := strings.ReplaceAll(m[2], "``", "`")
						st.related = true
						referenced[ref] = true
						for _, x := range []struct {
							table string
							cols  []string
						}{{n, fkColumns(m[1])}, {ref, fkColumns(m[3])}} {
							if keep[x.table] == nil {
								keep[x.table] = map[string]bool{}
							}
							for _, c := range x.cols {
								keep[x.table][c] = true
							}
						}
					}
				}
			}
			tables[i] = st
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, t := range tables {
		t.keep = keep[t.name]
		t.related = t.related || referenced[t.name]
	}
	return tables, nil
}

// deferMinBytes is the data below which a table keeps its indexes: one
// ALTER TABLE costs more than maintaining them for a few thousand rows,
// and a schema has hundreds of such tables.
const deferMinBytes = 4 << 20

// deferIndexes takes the secondary indexes out of the CREATE TABLE of
// InnoDB tables with data enough, to build them after the load, but for
// those a foreign key needs.
func deferIndexes(tables []*schemaTable, minBytes int64) {
	for _, t := range tables {
		if t.view || t.dataBytes < minBytes {
			continue
		}
		for i, s := range t.stmts {
			if s.kind == kCreateTable && strings.Contains(string(s.text), "ENGINE=InnoDB") {
				create, add := deferKeys(string(s.text), t.keep)
				if add != "" {
					t.stmts[i].text = []byte(create)
					t.addKey = add
				}
			}
		}
	}
}

// unfinished returns the tables (not views) an earlier run did not finish.
func (r *run) unfinished(tables []*schemaTable) []*schemaTable {
	var todo []*schemaTable
	for _, t := range tables {
		if t.view {
			continue
		}
		r.table(t.name).total = t.total
		if r.skipFinished(t.name) {
			continue
		}
		todo = append(todo, t)
	}
	return todo
}

// createTable creates a table (dropping what a killed run left).
func (r *run) createTable(ctx context.Context, lc *loaderConn, t *schemaTable) error {
	// A fresh target holds no table of the backup (but perhaps the marker,
	// when the backup has one too).
	if r.resuming || t.name == MarkerTable {
		if _, err := lc.c.ExecContext(ctx, "DROP TABLE IF EXISTS "+termshift.QuoteMySQL(t.name)); err != nil {
			return fmt.Errorf("drop unfinished table %s: %w", termshift.Quote(t.name), err)
		}
	}
	return r.execAll(ctx, lc, mydumperSession, t.stmts)
}

// smallTable is the data under which a table without foreign keys (and
// that none points at) is created, loaded and finished in one go, after
// the big tables' data started loading: a schema has hundreds of small
// tables, and creating them is disk latency the loading of the big ones
// hides. A table with foreign keys is created before: its CREATE locks the
// tables it references, which a deferred index build may hold.
const smallTable = 1 << 20

// loadData creates the tables and loads every data file, largest first,
// and finishes each table (deferred indexes, checkpoint) when its last
// file is committed. The tables with more data are created first; each
// small table is one unit of work: create, load, finish.
func (r *run) loadData(ctx context.Context, pool *pool, todo []*schemaTable) error {
	type unit struct {
		t      *schemaTable
		file   *restore.FileInfo
		create bool
	}
	var early []*schemaTable
	var units, small []unit
	for _, t := range todo {
		r.table(t.name).pending.Store(int64(len(t.data)))
		if len(t.data) <= 1 && t.dataBytes < smallTable && !t.related {
			u := unit{t: t, create: true}
			if len(t.data) == 1 {
				u.file = &t.data[0]
			}
			small = append(small, u)
			continue
		}
		early = append(early, t)
		for i := range t.data {
			units = append(units, unit{t: t, file: &t.data[i]})
		}
	}
	if err := pool.each(ctx, len(early), func(ctx context.Context, lc *loaderConn, i int) error {
		return r.createTable(ctx, lc, early[i])
	}); err != nil {
		return err
	}
	// Tables without data files are finished once created.
	for _, t := range early {
		if len(t.data) == 0 {
			if err := pool.with(ctx, func(lc *loaderConn) error { return r.finishSchemaTable(ctx, lc, t) }); err != nil {
				return err
			}
		}
	}
	// Largest files first keeps every connection busy until the end.
	sort.SliceStable(units, func(i, j int) bool { return units[i].file.Size > units[j].file.Size })
	sort.SliceStable(small, func(i, j int) bool { return small[i].t.dataBytes > small[j].t.dataBytes })
	units = append(units, small...)
	return pool.each(ctx, len(units), func(ctx context.Context, lc *loaderConn, i int) error {
		u := units[i]
		if u.create {
			if err := r.createTable(ctx, lc, u.t); err != nil {
				return err
			}
		}
		tr := r.table(u.t.name)
		if u.file != nil {
			if err := r.loadFile(ctx, lc, u.file.Name, tr); err != nil {
				return err
			}
		}
		if u.file == nil || tr.pending.Add(-1) == 0 {
			return r.finishSchemaTable(ctx, lc, u.t)
		}
		return nil
	})
}

// finishSchemaTable builds a loaded table's deferred indexes and records it.
func (r *run) finishSchemaTable(ctx context.Context, lc *loaderConn, t *schemaTable) error {
	if t.addKey != "" {
		start := time.Now()
		q := "ALTER TABLE " + termshift.QuoteMySQL(t.name) + " " + t.addKey
		for attempt := 1; ; attempt++ {
			_, err := lc.c.ExecContext(ctx, q)
			if err == nil {
				break
			}
			// The metadata locks of two related tables' index builds (or of
			// a concurrent load into a child table) can deadlock; a failed
			// ALTER changed nothing, so it runs again.
			if attempt == 5 || !retriable(err) {
				return fmt.Errorf("build deferred indexes of %s: %w", termshift.Quote(t.name), err)
			}
			r.log.Debug("retrying a deferred index build after a deadlock", "table", t.name, "attempt", attempt, "error", err)
		}
		r.log.Debug("deferred indexes built", "table", t.name, "seconds", time.Since(start).Seconds())
	}
	return r.finishTable(r.table(t.name))
}

// postData creates the views (placeholders first, so views may use each
// other), triggers, then routines and events, on one connection in order.
func (r *run) postData(ctx context.Context, pool *pool, db *mydumperDB, tables []*schemaTable) error {
	var post []fileStmt
	for _, t := range tables {
		if t.view && len(t.stmts) > 0 {
			// a killed run may have left the placeholder behind
			drop := "DROP TABLE IF EXISTS " + termshift.QuoteMySQL(t.name)
			post = append(post, fileStmt{file: t.stmts[0].file, line: 1, kind: kDropTable, text: []byte(drop)})
			post = append(post, t.stmts...)
		}
	}
	var files []string
	for _, t := range tables {
		if t.viewFile != "" {
			files = append(files, t.viewFile)
		}
	}
	for _, t := range tables {
		if t.triggers != "" {
			files = append(files, t.triggers)
		}
	}
	if db.post != "" {
		files = append(files, db.post)
	}
	for _, f := range files {
		s, err := r.readStatements(ctx, f, false)
		if err != nil {
			return err
		}
		post = append(post, s...)
	}
	if err := pool.with(ctx, func(lc *loaderConn) error {
		if err := r.execAll(ctx, lc, mydumperPostSession, post); err != nil {
			return err
		}
		return lc.commit(ctx)
	}); err != nil {
		return err
	}
	return r.cp.update(func(cp *checkpoint) { cp.PostDone = true })
}

// mydumperSession is what myloader sets: values as written (zero ids stay
// zero), no engine substitution, UTC timestamps.
const mydumperSession = "SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', time_zone='+00:00', NAMES utf8mb4"

// mydumperPostSession is for triggers and routines: mydumper 0.10 does
// not record the sql_mode they were created with, so they get the
// server's default, as if the application had created them.
const mydumperPostSession = "SET SESSION sql_mode=@@GLOBAL.sql_mode, time_zone='+00:00', NAMES utf8mb4"

// execAll runs already-read statements in order, in the session of
// baseline and their leading SET statements.
func (r *run) execAll(ctx context.Context, lc *loaderConn, baseline string, stmts []fileStmt) error {
	lead := 0
	for lead < len(stmts) && stmts[lead].kind == kSet {
		lead++
	}
	if err := lc.setSessionWith(ctx, baseline, stmts[:lead]); err != nil {
		return err
	}
	for _, s := range stmts[lead:] {
		if err := lc.exec(ctx, s.file, s.line, s.text); err != nil {
			return err
		}
		if s.kind == kSet {
			lc.session = "" // the file changed the session: reapply the baseline next time
		}
	}
	return nil
}

// loadFile streams one data file into its table and commits it. A
// deadlock or lock wait timeout (parallel chunks of one table) before the
// file's first commit rolls back and loads the file again, as myloader
// retries.
func (r *run) loadFile(ctx context.Context, lc *loaderConn, name string, t *tableRun) error {
	for attempt := 1; ; attempt++ {
		rows, bytes, committed, err := r.loadFileOnce(ctx, lc, name, t)
		if err == nil || committed || attempt == 5 || !retriable(err) {
			return err
		}
		if _, rerr := lc.c.ExecContext(ctx, "ROLLBACK"); rerr != nil {
			return err
		}
		t.expected.Add(-rows)
		t.bytes.Add(-bytes)
		r.log.Debug("retrying a data file after a deadlock", "file", name, "attempt", attempt, "error", err)
	}
}

// retriable reports a transaction the server aborted because of others,
// or a LOAD DATA LOCAL INFILE it refused (the rows go again as INSERTs).
func retriable(err error) bool {
	var me *driver.MySQLError
	var ir *infileRefused
	return errors.As(err, &ir) || errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

// loadFileOnce loads a data file once; it returns the rows and bytes it
// added to t and whether any of them was committed.
func (r *run) loadFileOnce(ctx context.Context, lc *loaderConn, name string, t *tableRun) (rows, bytes int64, committed bool, err error) {
	rc, err := open(ctx, r.src, name)
	if err != nil {
		return 0, 0, false, err
	}
	defer rc.Close()
	sp := newSplitter(rc, name, true)
	bl := r.newBulk(lc, name)
	var sinceCommit int
	// The SETs before the first INSERT are applied with the baseline, or
	// not at all when the previous file on lc had the same.
	var lead []fileStmt
	started := false
	for {
		st, err := sp.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rows, bytes, committed, err
		}
		k, obj := classify(st.Text)
		switch k {
		case kSet:
			if !started {
				lead = append(lead, fileStmt{file: name, line: st.Line, kind: kSet, text: append([]byte(nil), st.Text...)})
				continue
			}
			if err := bl.flush(ctx); err != nil {
				return rows, bytes, committed, err
			}
			lc.session = ""
			bl.sessionChanged()
		case kInsert:
			if !started {
				started = true
				if err := lc.setSessionWith(ctx, mydumperSession, lead); err != nil {
					return rows, bytes, committed, err
				}
			}
			if err := r.checkScope(name, st.Line, k, obj); err != nil {
				return rows, bytes, committed, err
			}
			if obj.Name != t.name {
				return rows, bytes, committed, fmt.Errorf("%s line %d: INSERT into %s in the data file of %s: %w", name, st.Line, termshift.Quote(obj.Name), termshift.Quote(t.name), termshift.ErrInvalid)
			}
			if obj.Schema != "" {
				st.Text = r.rename(st.Text)
			}
		default:
			return rows, bytes, committed, fmt.Errorf("%s line %d: unexpected statement in a data file: %s: %w", name, st.Line, preview(st.Text), termshift.ErrInvalid)
		}
		if k == kInsert {
			err = bl.insert(ctx, t.name, st.Line, st.Text)
		} else {
			err = lc.exec(ctx, name, st.Line, st.Text)
		}
		if err != nil {
			return rows, bytes, committed, err
		}
		if k == kInsert {
			n, b := rowCount(st), int64(len(st.Text))+2
			rows, bytes = rows+n, bytes+b
			t.expected.Add(n)
			t.bytes.Add(b)
			sinceCommit += len(st.Text)
			if sinceCommit >= commitBytes {
				if err := bl.flush(ctx); err != nil {
					return rows, bytes, committed, err
				}
				if err := lc.commit(ctx); err != nil {
					return rows, bytes, committed, err
				}
				committed, sinceCommit = true, 0
			}
			r.progress(t, false)
		}
	}
	if err := bl.flush(ctx); err != nil {
		return rows, bytes, committed, err
	}
	return rows, bytes, committed, lc.commit(ctx)
}

// pool is Threads loader connections.
type pool struct {
	conns chan *loaderConn
	all   []*loaderConn
}

func (r *run) newPool(ctx context.Context, baseline string) (*pool, error) {
	p := &pool{conns: make(chan *loaderConn, r.threads)}
	for range r.threads {
		lc, err := r.loader.conn(ctx, baseline)
		if err != nil {
			p.close()
			return nil, err
		}
		p.all = append(p.all, lc)
		p.conns <- lc
	}
	return p, nil
}

func (p *pool) close() {
	for _, lc := range p.all {
		lc.Close()
	}
}

// with runs f on one connection.
func (p *pool) with(ctx context.Context, f func(*loaderConn) error) error {
	select {
	case lc := <-p.conns:
		defer func() { p.conns <- lc }()
		return f(lc)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// each runs f for 0..n-1 on the pool's connections, stopping at the first
// error.
func (p *pool) each(ctx context.Context, n int, f func(context.Context, *loaderConn, int) error) error {
	g, gctx := newGroup(ctx, 0)
	next := make(chan int)
	for _, lc := range p.all {
		g.Go(func() error {
			for i := range next {
				if err := f(gctx, lc, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	return g.Wait()
}
