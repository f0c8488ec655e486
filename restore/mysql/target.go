package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// before checks, before the target is touched, everything that can be
// checked: the manifest, the checkpoint and its fingerprint, an empty
// target.
func (r *run) before(ctx context.Context) error {
	files, err := r.namespaceFiles(ctx)
	if err != nil {
		return err
	}
	r.files = files
	if m := r.req.Manifest; m != nil {
		c, err := m.Verify(ctx, r.src, r.path, r.belongs, r.threads)
		if err != nil {
			return fmt.Errorf("restore mysql %s: %w", r.path, err)
		}
		r.report.Completeness = c
		if r.from != "" {
			r.counts, r.record = m.Counts(termshift.MySQL, r.from), restore.ManifestName
		}
	}
	fp := restore.NewFingerprint(files)
	if r.req.Resume && r.req.Checkpoint != "" {
		cp, err := loadCheckpoint(r.req.Checkpoint)
		if err != nil {
			return err
		}
		if cp != nil {
			if cp.Format != r.format || cp.Source != r.src.String() || cp.Path != r.path || cp.From != r.req.From || cp.To != r.req.To {
				return fmt.Errorf("checkpoint %s is for %s %s/%s %s -> %s, not this restore: %w",
					r.req.Checkpoint, cp.Format, cp.Source, cp.Path, cp.From, cp.To, termshift.ErrInvalid)
			}
			switch diff := cp.Files.Diff(fp); {
			case cp.Files == nil:
				r.warn("checkpoint %s records no fingerprint of the backup (an older termshift wrote it): the backup is trusted to be the same", r.req.Checkpoint)
				r.cp, r.resuming = cp, true
			case diff == "" || cp.Files == nil:
				r.cp, r.resuming = cp, true
			case r.req.DropExisting:
				r.warn("the backup changed since checkpoint %s (%s): starting over", r.req.Checkpoint, diff)
			default:
				return termshift.WithHint(fmt.Errorf("cannot resume from checkpoint %s: the backup is not the one it was made from: %s: %w", r.req.Checkpoint, diff, termshift.ErrRefused),
					"restore again from the start with DropExisting (--drop-existing) to replace what the first attempt loaded")
			}
		}
	}
	if r.cp == nil {
		r.cp = &checkpoint{Format: r.format, Source: r.src.String(), Path: r.path, From: r.req.From, To: r.req.To,
			Files: fp, Tables: map[string]tableCheck{}, file: r.req.Checkpoint}
	}
	if !r.resuming {
		var n int
		err := r.admin.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> ?", r.req.To, MarkerTable).Scan(&n)
		if err != nil {
			return fmt.Errorf("inspect schema %s on %s: %w", termshift.Quote(r.req.To), r.admin.addr, err)
		}
		if n > 0 && !r.req.DropExisting {
			return termshift.WithHint(fmt.Errorf("target schema %s on %s holds %d tables: %w", termshift.Quote(r.req.To), r.admin.addr, n, termshift.ErrRefused),
				"restore into a freshly carved schema, or pass DropExisting (--drop-existing) to replace what it holds")
		}
	}
	return nil
}

// setFrom names the schema in the backup once a plain dump shows it.
func (r *run) setFrom(name string) {
	r.from = name
	r.report.From = name
	if m := r.req.Manifest; m != nil && r.counts == nil {
		r.counts, r.record = m.Counts(termshift.MySQL, name), restore.ManifestName
	}
}

// namespaceFiles lists the backup files the restore reads.
func (r *run) namespaceFiles(ctx context.Context) ([]restore.FileInfo, error) {
	if r.format == FormatMysqldump {
		f, err := statFile(ctx, r.src, r.path)
		if err != nil {
			return nil, err
		}
		return []restore.FileInfo{f}, nil
	}
	all, err := r.src.List(ctx, r.path)
	if err != nil {
		return nil, err
	}
	var out []restore.FileInfo
	for _, f := range all {
		if r.belongs(f.Name) {
			out = append(out, f)
		}
	}
	return out, nil
}

// belongs reports whether a file under path is part of the schema being
// restored: a dump file is its own; in a mydumper directory the metadata
// and the files named after From.
func (r *run) belongs(name string) bool {
	if r.format == FormatMysqldump {
		return name == r.path
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(name, strings.Trim(r.path, "/")), "/")
	if strings.Contains(rel, "/") {
		return false
	}
	base := strings.TrimSuffix(rel, ".gz")
	return base == "metadata" || strings.HasPrefix(base, r.from+".") || strings.HasPrefix(base, r.from+"-schema")
}

// failedEarly is a failure before the target was touched.
func (r *run) failedEarly(err error) (*restore.Report, error) {
	return nil, fmt.Errorf("restore mysql: %w", err)
}

// fail ends a restore that failed. Before the target was touched the
// error is returned as it is. After, what was created is dropped when the
// restore cannot be resumed (no checkpoint) or must not be (the backup is
// proven incomplete); otherwise it is kept for Resume. Either way the
// report carries the numbers and the error says what the target holds.
func (r *run) fail(ctx context.Context, err error) error {
	r.report.Seconds = time.Since(r.report.Started).Seconds()
	op := "restore mysql " + termshift.Quote(r.from) + " -> " + termshift.Quote(r.req.To)
	if !r.touched {
		return fmt.Errorf("%s: %w", op, err)
	}
	// The run's context may be what failed: clean up with a fresh one.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	pe := &termshift.PartialError{Op: op}
	r.cp.mu.Lock()
	for _, n := range r.order {
		if n == MarkerTable {
			continue
		}
		if _, ok := r.cp.Tables[n]; ok {
			pe.Done = append(pe.Done, n)
		} else {
			pe.Failed = append(pe.Failed, n)
		}
	}
	r.cp.mu.Unlock()
	if r.incomplete || r.req.Checkpoint == "" {
		derr := dropObjects(cctx, r.admin, r.req.To, true)
		if derr == nil {
			if objs, cerr := r.countTables(cctx); cerr == nil {
				r.report.Objects = objs
			}
			if r.incomplete && r.req.Checkpoint != "" {
				_ = os.Remove(r.req.Checkpoint) // nothing of this backup can be resumed
			}
			pe.Done = nil
			pe.Err = fmt.Errorf("%w; what this restore created in %s was dropped: the schema holds no table", err, termshift.Quote(r.req.To))
			return pe
		}
		err = fmt.Errorf("%w; dropping what it created failed too: %v", err, derr)
	}
	if objs, cerr := r.countTables(cctx); cerr == nil {
		r.report.Objects = objs
	}
	left, lerr := r.describeTarget(cctx)
	if lerr != nil {
		left = "unknown: " + lerr.Error()
	}
	pe.Err = fmt.Errorf("%w; left in %s: %s", err, termshift.Quote(r.req.To), left)
	return pe
}

// describeTarget lists what the target holds: tables with their rows
// (marking those no run finished), then views, triggers and routines.
func (r *run) describeTarget(ctx context.Context) (string, error) {
	rows, err := tableRows(ctx, r.admin, r.req.To)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(rows))
	for n := range rows {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		s := fmt.Sprintf("%s (%d rows", termshift.Quote(n), rows[n])
		if _, ok := r.cp.done(n); !ok {
			s += ", unfinished"
		}
		parts = append(parts, s+")")
	}
	c, err := r.admin.db.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	for _, l := range objectLists(false) {
		n, err := listNames(ctx, c, l.query, r.req.To)
		if err != nil {
			return "", err
		}
		if len(n) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s (%s)", len(n), l.what, strings.Join(quoteAll(n), ", ")))
		}
	}
	if len(parts) == 0 {
		return "nothing", nil
	}
	return strings.Join(parts, ", "), nil
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = termshift.Quote(n)
	}
	return out
}

// tableRows counts the rows of every base table of schema but the marker.
func tableRows(ctx context.Context, s *server, schema string) (map[string]int64, error) {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("mysql %s: connect: %w", s.addr, err)
	}
	defer c.Close()
	names, err := listNames(ctx, c, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW' AND TABLE_NAME <> ?", schema, MarkerTable)
	if err != nil {
		return nil, fmt.Errorf("mysql %s: list tables of %s: %w", s.addr, termshift.Quote(schema), err)
	}
	out := map[string]int64{}
	for _, n := range names {
		var rows int64
		q := "SELECT COUNT(*) FROM " + termshift.QuoteMySQL(schema) + "." + termshift.QuoteMySQL(n)
		if err := c.QueryRowContext(ctx, q).Scan(&rows); err != nil {
			return nil, fmt.Errorf("count rows of %s.%s: %w", termshift.Quote(schema), termshift.Quote(n), err)
		}
		out[n] = rows
	}
	return out, nil
}

type objectList struct{ what, query, drop string }

// objectLists are the kinds of objects a schema holds, dependants first:
// tables (with tables) last, the marker table never.
func objectLists(tables bool) []objectList {
	lists := []objectList{
		{"triggers", "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?", "DROP TRIGGER IF EXISTS "},
		{"views", "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'VIEW'", "DROP VIEW IF EXISTS "},
		{"procedures", "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'PROCEDURE'", "DROP PROCEDURE IF EXISTS "},
		{"functions", "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'FUNCTION'", "DROP FUNCTION IF EXISTS "},
		{"events", "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?", "DROP EVENT IF EXISTS "},
	}
	if tables {
		lists = append(lists, objectList{"tables", "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW' AND TABLE_NAME <> '" + MarkerTable + "'", "DROP TABLE IF EXISTS "})
	}
	return lists
}

// dropObjects empties the target: tables too when tables is set (never the
// marker table), views, triggers, routines and events always.
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
	for _, l := range objectLists(tables) {
		names, err := listNames(ctx, c, l.query, schema)
		if err != nil {
			return fmt.Errorf("mysql %s: list %s of %s: %w", s.addr, l.what, termshift.Quote(schema), err)
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

// chooseThreads caps the request's threads at restore.MaxThreads and at
// what the server's free connections allow.
func (r *run) chooseThreads(ctx context.Context) error {
	var maxConns, connected int
	if err := r.admin.db.QueryRowContext(ctx, "SELECT @@max_connections").Scan(&maxConns); err != nil {
		return fmt.Errorf("mysql %s: read max_connections: %w", r.admin.addr, err)
	}
	var name string
	err := r.admin.db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Threads_connected'").Scan(&name, &connected)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("mysql %s: read Threads_connected: %w", r.admin.addr, err)
	}
	free := maxConns - connected
	n, capped := r.req.ThreadCount(threadLimit(maxConns, connected))
	r.threads = n
	if capped {
		r.warn("threads capped at %d: the server has %d free connections (max_connections %d) and a restore uses at most %d", n, free, maxConns, restore.MaxThreads)
	}
	return nil
}

// threadLimit is how many loader threads a server with maxConns
// connections, connected of them in use, can take: its free connections
// less a margin for everyone else (a tenth, at least 5) and the loader's
// own control and spare connections; at least 1.
func threadLimit(maxConns, connected int) int {
	margin := max(5, maxConns/10)
	return min(restore.MaxThreads, max(1, maxConns-connected-margin-2))
}

// isSource reports whether schema names the schema being restored: From,
// or for a plain dump also its own name (header or file).
func (r *run) isSource(schema string) bool {
	return schema == r.from || (schema == r.req.From && schema != "")
}

// rename rewrites a DDL statement's references to the schema being
// restored (under any of its names) to the target.
func (r *run) rename(text []byte) []byte {
	text = rename(text, r.from, r.req.To)
	if r.req.From != "" && r.req.From != r.from {
		text = rename(text, r.req.From, r.req.To)
	}
	return text
}
