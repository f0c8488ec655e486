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
	const q = `SELECT k.TABLE_SCHEMA, k.TABLE_NAME, MIN(k.COLUMN_NAME), MIN(c.ORDINAL_POSITION), MIN(c.DATA_TYPE), MIN(c.COLUMN_TYPE), COALESCE(MIN(c.COLLATION_NAME), ''), COUNT(*)
		FROM information_schema.KEY_COLUMN_USAGE k
		JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = k.TABLE_SCHEMA AND c.TABLE_NAME = k.TABLE_NAME AND c.COLUMN_NAME = k.COLUMN_NAME
		WHERE k.CONSTRAINT_NAME = 'PRIMARY' AND k.TABLE_SCHEMA = ?
		GROUP BY k.TABLE_SCHEMA, k.TABLE_NAME`
	read := func(db *sql.DB, schema string) (map[string]primaryKey, error) {
		rows, err := db.QueryContext(ctx, q, schema)
		if err != nil {
			return nil, fmt.Errorf("read the primary keys of %s: %w", termshift.Quote(schema), err)
		}
		defer rows.Close()
		out := map[string]primaryKey{}
		for rows.Next() {
			var sch, table, col, typ, ctype, coll string
			var ord, n int
			if err := rows.Scan(&sch, &table, &col, &ord, &typ, &ctype, &coll, &n); err != nil {
				return nil, fmt.Errorf("read the primary keys of %s: %w", termshift.Quote(schema), err)
			}
			if n != 1 {
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
		return out, rows.Err()
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
