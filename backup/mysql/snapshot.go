// Package mysql takes consistent snapshots of MySQL/MariaDB schemas and
// serves them as mydumper 0.10 directories (the layout restore/mysql and
// myloader read): metadata with the binary log position and the finish
// line, DB-schema-create.sql, DB.T-schema.sql, views, triggers and routines
// in the files mydumper uses for them, and data files DB.T.sql or
// DB.T.NNNNN.sql with extended INSERTs, cut on the integer primary key.
//
// One snapshot is consistent across all its connections, as mydumper's:
// every connection is opened first, then FLUSH TABLES WITH READ LOCK is
// taken, each connection starts START TRANSACTION WITH CONSISTENT SNAPSHOT,
// the binary log position is read, and UNLOCK TABLES follows at once. How
// long the lock was waited for and held is in Info.
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
	"github.com/termshift/termshift/restore"
)

// MarkerTable is tenancy's ownership marker table on servers without
// schema comments: termshift's, not the release's data, never dumped.
const MarkerTable = "termshift_owner"

// Dumper takes snapshots of schemas on a server it reaches as an
// administrator (FLUSH TABLES WITH READ LOCK needs the RELOAD privilege).
type Dumper struct {
	// DSN is the admin DSN, go-sql-driver format.
	DSN termshift.Secret
}

// Snapshot is a consistent, read-only view of some schemas, served as a
// mydumper directory (restore.Source). It holds Threads+1 connections, each
// inside a transaction started with the same consistent snapshot, until
// Close.
type Snapshot struct {
	req     backup.Request
	db      *sql.DB // for work outside the snapshot: Changes, HashCopy
	addr    string
	threads int
	conns   chan *sql.Conn // snapshot connections for data files
	all     []*sql.Conn
	counter *sql.Conn // snapshot connection for counts and small reads

	info    backup.Info
	started time.Time
	schemas []*schema
	files   map[string]*file
	names   []string // sorted

	countsDone chan struct{}
	countErr   error
	counts     map[*table]int64 // COUNT(*) inside the snapshot
	counterMu  sync.Mutex       // the counter connection is used by one at a time

	mu     sync.Mutex
	chunks map[string]chunkResult // data file -> what its last whole read gave
}

var _ backup.Snapshot = (*Snapshot)(nil)

// chunkResult is one whole read of a data file.
type chunkResult struct {
	rows int64
	hash multiset
}

// Service implements backup.Snapshot.
func (s *Snapshot) Service() termshift.Service { return termshift.MySQL }

// String names the snapshot for messages.
func (s *Snapshot) String() string {
	names := make([]string, 0, len(s.schemas))
	for _, sc := range s.schemas {
		names = append(names, sc.server)
	}
	return "mysql://" + s.addr + "/" + strings.Join(names, ",")
}

// sessionSetup is what every connection sets: raw bytes out (as mydumper's
// --set-names binary), UTC timestamps, long network timeouts (a data file
// may be read slowly by a loader), repeatable read for the snapshot.
var sessionSetup = []string{
	"SET NAMES binary",
	"SET SESSION time_zone = '+00:00'",
	"SET SESSION net_write_timeout = 7200, net_read_timeout = 7200, wait_timeout = 28800",
	"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
}

// Snapshot opens a consistent snapshot of the schemas req.Names lists
// (server name -> name in the snapshot). Everything is checked first (names,
// that each schema exists); the global read lock is taken only once every
// connection is open, and held only while they start their transactions.
func (d *Dumper) Snapshot(ctx context.Context, req backup.Request) (*Snapshot, error) {
	if len(req.Names) == 0 {
		return nil, fmt.Errorf("mysql snapshot: no schema named: %w", termshift.ErrInvalid)
	}
	seen := map[string]string{}
	for server, name := range req.Names {
		if err := termshift.ValidateMySQLIdent("schema", server); err != nil {
			return nil, fmt.Errorf("mysql snapshot: %w", err)
		}
		if err := termshift.ValidateMySQLIdent("schema name in the backup", name); err != nil {
			return nil, fmt.Errorf("mysql snapshot: %w", err)
		}
		if other, dup := seen[strings.ToLower(name)]; dup {
			return nil, fmt.Errorf("mysql snapshot: schemas %s and %s would both be %s in the backup: %w", termshift.Quote(other), termshift.Quote(server), termshift.Quote(name), termshift.ErrInvalid)
		}
		seen[strings.ToLower(name)] = server
	}
	threads, capped := restore.Request{Threads: req.Threads}.ThreadCount(0)
	cfg, err := driver.ParseDSN(d.DSN.Reveal())
	if err != nil {
		return nil, fmt.Errorf("mysql snapshot: admin DSN does not parse: %w", termshift.ErrInvalid)
	}
	cfg.DBName = ""
	cfg.MultiStatements = false
	cfg.InterpolateParams = false
	cfg.ParseTime = false
	cfg.MaxAllowedPacket = 0
	connector, err := driver.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql snapshot: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(threads + 4)
	db.SetMaxIdleConns(2)
	s := &Snapshot{req: req, db: db, addr: cfg.Addr, threads: threads, conns: make(chan *sql.Conn, threads),
		files: map[string]*file{}, countsDone: make(chan struct{}), counts: map[*table]int64{}, chunks: map[string]chunkResult{}}
	s.info.Service = termshift.MySQL
	if capped {
		s.warn("threads capped at %d", threads)
	}
	if err := s.open(ctx); err != nil {
		s.Close()
		return nil, err
	}
	go s.count()
	return s, nil
}

func (s *Snapshot) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.info.Warnings = append(s.info.Warnings, msg)
	s.req.Log().Warn(msg)
}

func (s *Snapshot) open(ctx context.Context) error {
	ctl, err := s.conn(ctx)
	if err != nil {
		return err
	}
	defer ctl.Close()
	if err := ctl.QueryRowContext(ctx, "SELECT VERSION()").Scan(&s.info.Server); err != nil {
		return fmt.Errorf("mysql %s: read version: %w", s.addr, err)
	}
	// Every schema must exist, before anything is locked.
	var missing []string
	for _, server := range s.serverNames() {
		var n int
		if err := ctl.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", server).Scan(&n); err != nil {
			return fmt.Errorf("mysql %s: look up schema %s: %w", s.addr, termshift.Quote(server), err)
		}
		if n == 0 {
			missing = append(missing, termshift.Quote(server))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("mysql %s: no schema %s: %w", s.addr, strings.Join(missing, ", "), termshift.ErrNotFound)
	}
	// Table statistics before the lock: what Changes compares with.
	for _, server := range s.serverNames() {
		sc := &schema{server: server, name: s.req.Names[server]}
		if err := sc.readTables(ctx, ctl); err != nil {
			return fmt.Errorf("mysql %s: %w", s.addr, err)
		}
		s.schemas = append(s.schemas, sc)
	}
	// Every snapshot connection is open and set up before the lock.
	for range s.threads + 1 {
		c, err := s.conn(ctx)
		if err != nil {
			return err
		}
		s.all = append(s.all, c)
	}
	if err := s.lockAndStart(ctx, ctl); err != nil {
		return err
	}
	s.counter = s.all[0]
	for _, c := range s.all[1:] {
		s.conns <- c
	}
	// The schema is read inside the snapshot, on the counter's connection.
	for _, sc := range s.schemas {
		if err := sc.readDDL(ctx, s.counter); err != nil {
			return fmt.Errorf("mysql %s: %w", s.addr, err)
		}
		for _, t := range sc.tables {
			if err := t.plan(ctx, s.counter, s.chunkRows()); err != nil {
				return fmt.Errorf("mysql %s: %w", s.addr, err)
			}
		}
	}
	s.layout()
	return nil
}

func (s *Snapshot) chunkRows() int64 {
	if s.req.ChunkRows > 0 {
		return s.req.ChunkRows
	}
	return backup.DefaultChunkRows
}

func (s *Snapshot) serverNames() []string {
	out := make([]string, 0, len(s.req.Names))
	for n := range s.req.Names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// conn opens one connection with the session every snapshot connection has.
func (s *Snapshot) conn(ctx context.Context) (*sql.Conn, error) {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("mysql %s: connect: %w", s.addr, err)
	}
	for _, q := range sessionSetup {
		if _, err := c.ExecContext(ctx, q); err != nil {
			c.Close()
			return nil, fmt.Errorf("mysql %s: %s: %w", s.addr, q, err)
		}
	}
	return c, nil
}

// lockAndStart takes the global read lock, starts the consistent snapshot
// on every connection, reads the binary log position and unlocks, timing
// the lock. The lock is released on every path.
func (s *Snapshot) lockAndStart(ctx context.Context, ctl *sql.Conn) (err error) {
	asked := time.Now()
	if _, err := ctl.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		var me *driver.MySQLError
		if errors.As(err, &me) && (me.Number == 1227 || me.Number == 1045) {
			return termshift.WithHint(fmt.Errorf("mysql %s: FLUSH TABLES WITH READ LOCK refused (%v): a consistent snapshot across connections needs the RELOAD privilege: %w", s.addr, err, termshift.ErrRefused),
				"give the admin user RELOAD, or back up with a user that has it")
		}
		return fmt.Errorf("mysql %s: FLUSH TABLES WITH READ LOCK: %w", s.addr, err)
	}
	locked := time.Now()
	unlocked := false
	unlock := func() error {
		if unlocked {
			return nil
		}
		unlocked = true
		_, err := ctl.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES")
		s.info.LockHeld = time.Since(locked)
		return err
	}
	defer func() {
		if uerr := unlock(); uerr != nil && err == nil {
			err = fmt.Errorf("mysql %s: UNLOCK TABLES: %w", s.addr, uerr)
		}
	}()
	s.info.LockWait = locked.Sub(asked)
	var wg sync.WaitGroup
	errs := make([]error, len(s.all))
	for i, c := range s.all {
		wg.Go(func() {
			_, errs[i] = c.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT")
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mysql %s: START TRANSACTION WITH CONSISTENT SNAPSHOT: %w", s.addr, err)
	}
	s.info.Binlog, err = BinlogPosition(ctx, ctl)
	if err != nil {
		return fmt.Errorf("mysql %s: %w", s.addr, err)
	}
	s.info.Taken = time.Now()
	s.started = s.info.Taken
	if err := unlock(); err != nil {
		return fmt.Errorf("mysql %s: UNLOCK TABLES: %w", s.addr, err)
	}
	s.info.Consistency = fmt.Sprintf("one snapshot across %d connections (FLUSH TABLES WITH READ LOCK held %s while each started START TRANSACTION WITH CONSISTENT SNAPSHOT)",
		len(s.all), s.info.LockHeld.Round(10*time.Microsecond))
	return nil
}

// querier is a *sql.DB or a *sql.Conn.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// BinlogPosition reads SHOW MASTER STATUS and the GTID position (MySQL's
// fifth column, Executed_Gtid_Set; MariaDB's @@gtid_binlog_pos); nil when
// the server keeps no binary log.
func BinlogPosition(ctx context.Context, q querier) (*restore.BinlogPosition, error) {
	rows, err := q.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		return nil, fmt.Errorf("SHOW MASTER STATUS: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var pos *restore.BinlogPosition
	if rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("SHOW MASTER STATUS: %w", err)
		}
		pos = &restore.BinlogPosition{File: vals[0].String}
		fmt.Sscan(vals[1].String, &pos.Position)
		if len(cols) >= 5 {
			pos.GTID = strings.ReplaceAll(vals[4].String, "\n", "")
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("SHOW MASTER STATUS: %w", err)
	}
	if pos != nil && len(cols) < 5 {
		var g sql.NullString
		if err := q.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&g); err == nil {
			pos.GTID = g.String
		}
	}
	return pos, nil
}

// count takes every table's COUNT(*) inside the snapshot, on its own
// connection, while the data files are read: for a sync (Request.Hash),
// whose proof compares it with what is loaded. A backup's counts are the
// rows its data files read inside the snapshot (snapshotCount).
func (s *Snapshot) count() {
	defer close(s.countsDone)
	if !s.req.Hash {
		return
	}
	ctx := context.Background()
	for _, sc := range s.schemas {
		for _, t := range sc.tables {
			s.counterMu.Lock()
			var n int64
			err := s.counter.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t.qualified()).Scan(&n)
			s.counterMu.Unlock()
			if err != nil {
				s.countErr = fmt.Errorf("mysql %s: count %s.%s in the snapshot: %w", s.addr, sc.server, t.name, err)
				return
			}
			s.mu.Lock()
			s.counts[t] = n
			s.mu.Unlock()
			s.progress(t, false)
		}
	}
}

// waitCounts waits for the counts taken inside the snapshot.
func (s *Snapshot) waitCounts(ctx context.Context) error {
	select {
	case <-s.countsDone:
		return s.countErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// snapshotCount is a table's rows inside the snapshot: its COUNT(*) when
// one was taken, else the rows its data files read (all of them, each
// whole), else 0 for a table found empty, else a COUNT(*) now.
func (s *Snapshot) snapshotCount(ctx context.Context, t *table) (n int64, counted bool, err error) {
	if err := s.waitCounts(ctx); err != nil {
		return 0, false, err
	}
	s.mu.Lock()
	n, counted = s.counts[t]
	read, whole := s.readRows(t)
	s.mu.Unlock()
	switch {
	case counted:
		return n, true, nil
	case len(t.chunks) == 0:
		return 0, false, nil
	case whole:
		return read, false, nil
	}
	s.counterMu.Lock()
	err = s.counter.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t.qualified()).Scan(&n)
	s.counterMu.Unlock()
	if err != nil {
		return 0, false, fmt.Errorf("mysql %s: count %s.%s in the snapshot: %w", s.addr, t.schema.server, t.name, err)
	}
	s.mu.Lock()
	s.counts[t] = n
	s.mu.Unlock()
	return n, true, nil
}

// Info implements backup.Snapshot: every table with its rows inside the
// snapshot (snapshotCount). A table whose data files were all read, and
// whose rows read differ from its COUNT(*) in the snapshot, is an error:
// the data files would not hold the table.
func (s *Snapshot) Info(ctx context.Context) (backup.Info, error) {
	info := s.info
	info.Objects = nil
	for _, sc := range s.schemas {
		for _, t := range sc.tables {
			n, counted, err := s.snapshotCount(ctx, t)
			if err != nil {
				return backup.Info{}, err
			}
			info.Objects = append(info.Objects, restore.ManifestObject{Service: string(termshift.MySQL), Database: sc.name, Name: t.name, Count: n})
			s.mu.Lock()
			read, whole := s.readRows(t)
			s.mu.Unlock()
			if counted && whole && read != n {
				return info, fmt.Errorf("mysql %s: the data files of %s.%s hold %d rows, COUNT(*) in the same snapshot says %d: %w", s.addr, sc.server, t.name, read, n, termshift.ErrVerifyFailed)
			}
		}
	}
	return info, nil
}

// readRows sums the rows of a table's data files that were read whole;
// whole is false until every one of them was.
func (s *Snapshot) readRows(t *table) (rows int64, whole bool) {
	for _, c := range t.chunks {
		r, ok := s.chunks[c.file]
		if !ok {
			return 0, false
		}
		rows += r.rows
	}
	return rows, true
}

// progress sends a table's progress: rows read across its data files.
func (s *Snapshot) progress(t *table, done bool) {
	if s.req.Progress == nil {
		return
	}
	s.mu.Lock()
	total, ok := s.counts[t]
	s.mu.Unlock()
	if !ok {
		total = t.estimate
	}
	s.req.Progress(restore.Event{Object: t.schema.name + "." + t.name, Unit: restore.UnitRows, Count: t.rows.Load(), Total: total, Bytes: t.bytes.Load(), Done: done})
}

// Close rolls the snapshot's transactions back and closes its connections.
func (s *Snapshot) Close() error {
	var errs []error
	for _, c := range s.all {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		errs = append(errs, c.Close())
	}
	s.all = nil
	errs = append(errs, s.db.Close())
	return errors.Join(errs...)
}

// atomicTableProgress are a table's counters, across its data files.
type atomicTableProgress struct {
	rows    atomic.Int64
	bytes   atomic.Int64
	pending atomic.Int64 // data files not yet read whole
}
