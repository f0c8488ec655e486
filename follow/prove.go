package follow

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/termshift/termshift"
)

// Changes are the tables a follower saw changed since its start position,
// by followed schema: those it applied row events to, and those of their
// target schemas that someone else wrote (the next release itself, on the
// same server) after their data was proven. A table not in them holds,
// on both sides, what it held at the start position, provided the target's
// writes reach the binary log the follower reads.
type Changes struct {
	// Tracked is false when the changes cannot be known: Why says why.
	Tracked bool   `json:"tracked"`
	Why     string `json:"why,omitempty"`
	// Tables maps a followed schema to its tables where any row may have
	// changed; "*" stands for every table of the schema (a statement
	// changed the target).
	Tables map[string]map[string]bool `json:"tables,omitempty"`
	// Rows maps a followed schema to its tables whose changed rows are
	// known by primary key, those not proven equal since (Prove compares
	// only them).
	Rows map[string]map[string]bool `json:"rows,omitempty"`

	follower string // whose recorded keys Rows refers to
}

// Has reports whether table of the followed schema changed.
func (c *Changes) Has(schema, table string) bool {
	return c.Whole(schema, table) || c.Rows[schema][table]
}

// Whole reports whether any row of table may have changed.
func (c *Changes) Whole(schema, table string) bool {
	t := c.Tables[schema]
	return t[table] || t[allTables]
}

// Changed reads the tables the follower key saw changed since its start
// (names: followed schema -> target schema).
func (f *Follower) Changed(ctx context.Context, key string, names map[string]string) (*Changes, error) {
	src, dst, done, err := f.openBoth()
	if err != nil {
		return nil, err
	}
	defer done()
	rec, found, err := recorded(ctx, dst, key)
	if err != nil {
		return nil, err
	}
	switch {
	case !found:
		return &Changes{Why: "the follower recorded no position"}, nil
	case !rec.TracksChanges:
		return &Changes{Why: "the follower started before termshift recorded the tables it saw changed"}, nil
	}
	same, err := sameServer(ctx, src, dst)
	if err != nil {
		return nil, err
	}
	if !same {
		return &Changes{Why: "the target schemas are on another server than the binary log followed: their own writes are not in it"}, nil
	}
	back := followedOf(names)
	rows, err := dst.QueryContext(ctx, "SELECT side, schema_name, table_name, whole FROM "+PositionSchema+".touched WHERE follower = ?", key)
	if err != nil {
		return nil, fmt.Errorf("read the tables follower %s saw changed: %w", termshift.Quote(key), err)
	}
	defer rows.Close()
	c := &Changes{Tracked: true, Tables: map[string]map[string]bool{}, Rows: map[string]map[string]bool{}, follower: key}
	for rows.Next() {
		var side, schema, table string
		var whole bool
		if err := rows.Scan(&side, &schema, &table, &whole); err != nil {
			return nil, fmt.Errorf("read the tables follower %s saw changed: %w", termshift.Quote(key), err)
		}
		if side == sideTarget {
			from, ok := back[schema]
			if !ok {
				continue
			}
			schema = from
		} else if _, ok := names[schema]; !ok {
			continue
		}
		m := c.Rows
		if whole {
			m = c.Tables
		}
		if m[schema] == nil {
			m[schema] = map[string]bool{}
		}
		m[schema][table] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the tables follower %s saw changed: %w", termshift.Quote(key), err)
	}
	return c, nil
}

// followedOf maps each target schema of names (followed -> target) back
// to the schema it follows.
func followedOf(names map[string]string) map[string]string {
	back := make(map[string]string, len(names))
	for from, to := range names {
		back[to] = from
	}
	return back
}

// sameServer tells whether two connections reach the same server: same
// host name, port, server id and data directory.
func sameServer(ctx context.Context, a, b *sql.DB) (bool, error) {
	const q = "SELECT CONCAT_WS('|', @@hostname, @@port, @@server_id, @@datadir)"
	var x, y string
	if err := a.QueryRowContext(ctx, q).Scan(&x); err != nil {
		return false, fmt.Errorf("identify the source server: %w", err)
	}
	if err := b.QueryRowContext(ctx, q).Scan(&y); err != nil {
		return false, fmt.Errorf("identify the target server: %w", err)
	}
	return x == y, nil
}

// TableProof compares one table with its copy: rows counted and
// CHECKSUM TABLE (order-independent) on both sides, unless it is
// Unchanged: not read, since no event changed it on either side.
type TableProof struct {
	Schema         string `json:"schema"`
	Table          string `json:"table"`
	Target         string `json:"target"`
	Rows           int64  `json:"rows"`
	TargetRows     int64  `json:"target_rows"`
	Checksum       string `json:"checksum"`
	TargetChecksum string `json:"target_checksum"`
	Unchanged      bool   `json:"unchanged,omitempty"`
	// ByKey says the table was proven by the rows changed since its data
	// was last proven equal: Keys rows, each read on both sides (the
	// checksums are of those rows), and the counts of the whole table.
	ByKey bool  `json:"by_key,omitempty"`
	Keys  int64 `json:"keys,omitempty"`
}

// OK reports equal counts and checksums (false for a table not read).
func (p TableProof) OK() bool {
	return !p.Unchanged && p.Rows == p.TargetRows && p.Checksum == p.TargetChecksum && p.Checksum != ""
}

// Prove counts and checksums every table of each followed schema and of
// its target, or, when only is tracked, only the tables it names (the
// others come back Unchanged, not read). Run it while the source takes no
// write (a maintenance window) for the two sides to be comparable.
func (f *Follower) Prove(ctx context.Context, names map[string]string, only *Changes) ([]TableProof, error) {
	src, dst, done, err := f.openBoth()
	if err != nil {
		return nil, err
	}
	defer done()
	var out []TableProof
	for _, from := range slices.Sorted(maps.Keys(names)) {
		tables, err := queryStrings(ctx, src, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME <> 'termshift_owner' ORDER BY TABLE_NAME", from)
		if err != nil {
			return nil, fmt.Errorf("list the tables of %s: %w", termshift.Quote(from), err)
		}
		for _, t := range tables {
			out = append(out, TableProof{Schema: from, Table: t, Target: names[from], Unchanged: only != nil && only.Tracked && !only.Has(from, t)})
		}
	}
	var pks map[string]primaryKey
	if only != nil && only.Tracked && len(only.Rows) > 0 && only.follower != "" {
		if pks, err = primaryKeys(ctx, src, dst, names); err != nil {
			return nil, err
		}
	}
	// Both sides and every table at once, a few queries at a time: the
	// proof is inside the maintenance window.
	sem := make(chan struct{}, proveParallel)
	errs := make([]error, 2*len(out))
	var wg sync.WaitGroup
	for i := range out {
		p := &out[i]
		if p.Unchanged {
			continue
		}
		if pk, ok := pks[tableID(p.Schema, p.Table)]; ok && !only.Whole(p.Schema, p.Table) {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				errs[2*i] = proveRows(ctx, src, dst, only.follower, p, pk)
			})
			continue
		}
		for side := range 2 {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				if side == 0 {
					p.Rows, p.Checksum, errs[2*i] = tableSum(ctx, src, p.Schema, p.Table)
				} else {
					p.TargetRows, p.TargetChecksum, errs[2*i+1] = tableSum(ctx, dst, p.Target, p.Table)
				}
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// queryStrings runs a query of one column.
func queryStrings(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// proveParallel is how many tables (of either side) Prove reads at once.
const proveParallel = 4

// keyChunk is how many rows are read by key at once.
const keyChunk = 500

// proveRows proves a table by the rows changed since its data was
// proven: each recorded key's row, read on both sides, and the two counts.
func proveRows(ctx context.Context, src, dst *sql.DB, follower string, p *TableProof, pk primaryKey) error {
	keys, err := queryStrings(ctx, dst, "SELECT DISTINCT pk FROM "+PositionSchema+".touched_rows WHERE follower = ? AND table_name = ? AND ((side = 'source' AND schema_name = ?) OR (side = 'target' AND schema_name = ?)) ORDER BY pk",
		follower, p.Table, p.Schema, p.Target)
	if err != nil {
		return fmt.Errorf("read the changed rows of %s.%s: %w", p.Schema, p.Table, err)
	}
	p.ByKey, p.Keys = true, int64(len(keys))
	var a, b []string
	for len(keys) > 0 {
		n := min(len(keys), keyChunk)
		ra, err := rowsByKey(ctx, src, p.Schema, p.Table, pk, keys[:n])
		if err != nil {
			return err
		}
		rb, err := rowsByKey(ctx, dst, p.Target, p.Table, pk, keys[:n])
		if err != nil {
			return err
		}
		for _, k := range keys[:n] {
			a, b = append(a, ra[k]), append(b, rb[k])
		}
		// Rows the keys found under other keys count too, with their key.
		for _, k := range strays(ra, keys[:n]) {
			a = append(a, k+"\x00"+ra[k])
		}
		for _, k := range strays(rb, keys[:n]) {
			b = append(b, k+"\x00"+rb[k])
		}
		keys = keys[n:]
	}
	// The two counts at once: they are the only reads that grow with the
	// table.
	var wg sync.WaitGroup
	var errs [2]error
	for side, db := range []*sql.DB{src, dst} {
		schema, n := p.Schema, &p.Rows
		if side == 1 {
			schema, n = p.Target, &p.TargetRows
		}
		wg.Go(func() {
			q := termshift.QuoteMySQL(schema) + "." + termshift.QuoteMySQL(p.Table)
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+q).Scan(n); err != nil {
				errs[side] = fmt.Errorf("count %s: %w", q, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}
	p.Checksum, p.TargetChecksum = rowsDigest(a), rowsDigest(b)
	return nil
}

// rowsDigest hashes rows (each as rowsByKey returns it; "" for a row that
// is not there) in order.
func rowsDigest(rows []string) string {
	h := sha256.New()
	for _, r := range rows {
		fmt.Fprintf(h, "%d:%s;", len(r), r)
	}
	return "rows:" + hex.EncodeToString(h.Sum(nil)[:12])
}

// rowsByKey reads the rows of the given keys, each as one string of its
// columns' bytes (NULL told apart from empty), by the key it holds. A text
// key's collation may find a row under another key ('abc' finds 'ABC'
// where case is ignored): see strays.
func rowsByKey(ctx context.Context, db *sql.DB, schema, table string, pk primaryKey, keys []string) (map[string]string, error) {
	q := termshift.QuoteMySQL(schema) + "." + termshift.QuoteMySQL(table)
	col := termshift.QuoteMySQL(pk.column)
	key := "CAST(" + col + " AS CHAR)"
	if pk.text {
		key = col
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := db.QueryContext(ctx, "SELECT "+key+", t.* FROM "+q+" t WHERE "+col+" IN (?"+strings.Repeat(", ?", len(keys)-1)+")", args...)
	if err != nil {
		return nil, fmt.Errorf("read rows of %s by key: %w", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read rows of %s by key: %w", q, err)
		}
		var sb strings.Builder
		for _, v := range vals[1:] {
			if v == nil {
				sb.WriteString("N;")
				continue
			}
			fmt.Fprintf(&sb, "%d:", len(v))
			sb.Write(v)
		}
		out[string(vals[0])] = sb.String()
	}
	return out, rows.Err()
}

// strays lists, in order, the keys of rows (rowsByKey's) that are none of
// keys.
func strays(rows map[string]string, keys []string) []string {
	if len(rows) == 0 {
		return nil
	}
	asked := make(map[string]bool, len(keys))
	for _, k := range keys {
		asked[k] = true
	}
	var out []string
	for k := range rows {
		if !asked[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func tableSum(ctx context.Context, db *sql.DB, schema, table string) (int64, string, error) {
	q := termshift.QuoteMySQL(schema) + "." + termshift.QuoteMySQL(table)
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+q).Scan(&n); err != nil {
		return 0, "", fmt.Errorf("count %s: %w", q, err)
	}
	var name string
	var sum sql.NullInt64
	if err := db.QueryRowContext(ctx, "CHECKSUM TABLE "+q).Scan(&name, &sum); err != nil {
		return 0, "", fmt.Errorf("checksum %s: %w", q, err)
	}
	if !sum.Valid {
		return n, "", fmt.Errorf("checksum %s: the server has none for it: %w", q, termshift.ErrNotFound)
	}
	return n, strconv.FormatInt(sum.Int64, 10), nil
}
