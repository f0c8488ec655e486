package follow

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/termshift/termshift"
)

// recordedSet is what a run has recorded as changed, not to record again:
// the tables, and the rows since the last settling started (a settled row
// is forgotten, so its next change must be recorded).
type recordedSet struct {
	tables map[touch]bool
	rows   map[rowKey]bool
}

// maxRecordedRows bounds recordedSet.rows (a long backlog, where settling
// waits): past it, rows are recorded again, which costs only time.
const maxRecordedRows = 1 << 20

func (r *recordedSet) forget(ts []touch, keys []rowKey) {
	for _, t := range ts {
		delete(r.tables, t)
	}
	for _, k := range keys {
		delete(r.rows, k)
	}
}

// recordTouched records the tables a batch changed; a table recorded
// already keeps its first position, and becomes whole when any change
// of it was not known by key.
func recordTouched(ctx context.Context, tx *sql.Tx, key string, at Position, ts []touch) error {
	rows := make([][]any, len(ts))
	for i, t := range ts {
		rows[i] = []any{key, t.side, t.schema, t.table, at.File, at.Pos, !t.byKey}
	}
	if err := upsert(ctx, tx, "touched (follower, side, schema_name, table_name, file, pos, whole)", rows, 200, "whole = whole OR VALUES(whole)"); err != nil {
		return fmt.Errorf("follow: record the tables changed up to %s: %w", at, err)
	}
	return nil
}

// seqOf orders positions in one number: the file's sequence number, then
// the offset (binary log files stay under 4 GiB).
func seqOf(p Position) int64 { return fileSeq(p.File)<<32 | p.Pos }

// recordKeys records the keys of the rows a batch changed (each once),
// with the batch's end.
func recordKeys(ctx context.Context, tx *sql.Tx, key string, at Position, keys []rowKey) error {
	seq := seqOf(at)
	rows := make([][]any, len(keys))
	for i, k := range keys {
		rows[i] = []any{key, k.side, k.schema, k.table, k.key, seq}
	}
	if err := upsert(ctx, tx, "touched_rows (follower, side, schema_name, table_name, pk, seq)", rows, 500, "seq = VALUES(seq)"); err != nil {
		return fmt.Errorf("follow: record the rows changed up to %s: %w", at, err)
	}
	return nil
}

// upsert inserts rows into one of PositionSchema's tables ("name
// (columns)"), per rows at a time, updating a row already there by set.
func upsert(ctx context.Context, tx *sql.Tx, into string, rows [][]any, per int, set string) error {
	for len(rows) > 0 {
		n := min(len(rows), per)
		var q strings.Builder
		q.WriteString("INSERT INTO " + PositionSchema + "." + into + " VALUES ")
		var args []any
		for i, r := range rows[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?" + strings.Repeat(", ?", len(r)-1) + ")")
			args = append(args, r...)
		}
		q.WriteString(" ON DUPLICATE KEY UPDATE " + set)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// primaryKeys finds, in each followed schema and its target, the tables
// whose primary key is one integer, VARCHAR or VARBINARY column: their
// changed rows are recorded by key. A table whose key differs between the
// two sides (type or collation) is left out: its changes count as whole.
func primaryKeys(ctx context.Context, src, dst *sql.DB, names map[string]string) (map[string]primaryKey, error) {
	// Two queries, each given the schema as a constant: MariaDB then
	// reads only that schema's tables. KEY_COLUMN_USAGE joined with
	// COLUMNS took 20-90 ms here, in the window; these take under 1 ms.
	read := func(db *sql.DB, schema string) (map[string]primaryKey, error) {
		fail := func(err error) (map[string]primaryKey, error) {
			return nil, fmt.Errorf("read the primary keys of %s: %w", termshift.Quote(schema), err)
		}
		keyCols := map[string][]string{}
		rows, err := db.QueryContext(ctx, "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND INDEX_NAME = 'PRIMARY'", schema)
		if err != nil {
			return fail(err)
		}
		for rows.Next() {
			var table, col string
			if err := rows.Scan(&table, &col); err != nil {
				rows.Close()
				return fail(err)
			}
			keyCols[table] = append(keyCols[table], col)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fail(err)
		}
		rows, err = db.QueryContext(ctx, "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, DATA_TYPE, COLUMN_TYPE, COALESCE(COLLATION_NAME, '') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ?", schema)
		if err != nil {
			return fail(err)
		}
		defer rows.Close()
		out := map[string]primaryKey{}
		for rows.Next() {
			var table, col, typ, ctype, coll string
			var ord int
			if err := rows.Scan(&table, &col, &ord, &typ, &ctype, &coll); err != nil {
				return fail(err)
			}
			if k := keyCols[table]; len(k) != 1 || k[0] != col {
				continue
			}
			switch strings.ToLower(typ) {
			case "tinyint", "smallint", "mediumint", "int", "bigint":
				out[table] = primaryKey{column: col, ordinal: ord, unsigned: strings.Contains(strings.ToLower(ctype), "unsigned")}
			case "varchar", "varbinary":
				// Not CHAR or BINARY: the row image may hold their
				// padding, which the stored value does not.
				out[table] = primaryKey{column: col, ordinal: ord, text: true, collation: coll}
			}
		}
		if err := rows.Err(); err != nil {
			return fail(err)
		}
		return out, nil
	}
	out := map[string]primaryKey{}
	for from, to := range names {
		a, err := read(src, from)
		if err != nil {
			return nil, err
		}
		b, err := read(dst, to)
		if err != nil {
			return nil, err
		}
		for table, pk := range a {
			if b[table] == pk {
				out[tableID(from, table)] = pk
				out[tableID(to, table)] = pk
			}
		}
	}
	return out, nil
}
