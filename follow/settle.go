package follow

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// settling is a settling in progress: it compares, on both sides, the
// rows recorded by key up to seq, a chunk at a time, and forgets those that
// are equal. The follower runs one chunk between the batches it applies,
// so a settling holds applying up for one chunk's reads at most, however
// many rows it has to compare.
//
// It is sound while the follower applies and the source moves on. The set
// of rows recorded since (seen.rows) is emptied when a settling starts, so
// a row that changes after seq is recorded again, with a later position,
// when its event is applied (or seen, for the target's own writes); only
// records at or before seq are forgotten, so that record stays. A row
// that did not change after seq is compared as it stands at seq on both
// sides.
type settling struct {
	seq    int64
	groups []settleGroup
	// back maps each target schema to the schema it follows.
	back map[string]string
	// after is the last key of the current group's chunk before ("" is a
	// text key too).
	after *string
	// rows is how many rows were recorded when it started; compared,
	// settled and pending count what it has done so far.
	rows, compared, settled, pending int64
}

// settleGroup is one table's recorded rows, on one side.
type settleGroup struct{ side, schema, table string }

// startSettling reads what a settling up to applied has to compare.
func startSettling(ctx context.Context, dst *sql.DB, req Request, applied Position) (*settling, error) {
	s := &settling{seq: seqOf(applied), back: followedOf(req.Schemas)}
	rows, err := dst.QueryContext(ctx, "SELECT side, schema_name, table_name, COUNT(*) FROM "+PositionSchema+".touched_rows WHERE follower = ? AND seq <= ? GROUP BY side, schema_name, table_name", req.Key, s.seq)
	if err != nil {
		return nil, fmt.Errorf("follow: read the changed rows to settle: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g settleGroup
		var n int64
		if err := rows.Scan(&g.side, &g.schema, &g.table, &n); err != nil {
			return nil, fmt.Errorf("follow: read the changed rows to settle: %w", err)
		}
		s.groups = append(s.groups, g)
		s.rows += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("follow: read the changed rows to settle: %w", err)
	}
	return s, nil
}

// step compares the next chunk of recorded rows on both sides and forgets
// those that are equal; it reports whether the settling is done.
func (s *settling) step(ctx context.Context, src, dst *sql.DB, req Request, pks map[string]primaryKey) (bool, error) {
	for len(s.groups) > 0 {
		g := s.groups[0]
		from, to := g.schema, req.Schemas[g.schema]
		if g.side == sideTarget {
			from, to = s.back[g.schema], g.schema
		}
		pk, ok := pks[tableID(from, g.table)]
		if from == "" || to == "" || !ok {
			s.groups, s.after = s.groups[1:], nil
			continue
		}
		q := "SELECT pk FROM " + PositionSchema + ".touched_rows WHERE follower = ? AND side = ? AND schema_name = ? AND table_name = ? AND seq <= ?"
		args := []any{req.Key, g.side, g.schema, g.table, s.seq}
		if s.after != nil {
			q += " AND pk > ?"
			args = append(args, *s.after)
		}
		keys, err := queryStrings(ctx, dst, q+" ORDER BY pk LIMIT "+strconv.Itoa(keyChunk), args...)
		if err != nil {
			return false, fmt.Errorf("follow: read the changed rows to settle: %w", err)
		}
		if len(keys) == 0 {
			s.groups, s.after = s.groups[1:], nil
			continue
		}
		s.after = &keys[len(keys)-1]
		s.compared += int64(len(keys))
		return false, s.compare(ctx, src, dst, req.Key, g, from, to, pk, keys)
	}
	return true, nil
}

// compare settles one chunk of keys of group g.
func (s *settling) compare(ctx context.Context, src, dst *sql.DB, key string, g settleGroup, from, to string, pk primaryKey, keys []string) error {
	a, err := rowsByKey(ctx, src, from, g.table, pk, keys)
	if err != nil {
		return err
	}
	b, err := rowsByKey(ctx, dst, to, g.table, pk, keys)
	if err != nil {
		return err
	}
	if len(strays(a, keys)) > 0 || len(strays(b, keys)) > 0 {
		// A key found a row of another key (a collation that ignores
		// case or trailing spaces): which recorded row it stands for
		// is not known, so none of this chunk is forgotten; the proof
		// reads them all.
		s.pending += int64(len(keys))
		return nil
	}
	var equal []any
	for _, k := range keys {
		if a[k] == b[k] {
			equal = append(equal, k)
		}
	}
	s.pending += int64(len(keys) - len(equal))
	if len(equal) == 0 {
		return nil
	}
	res, err := dst.ExecContext(ctx, "DELETE FROM "+PositionSchema+".touched_rows WHERE follower = ? AND side = ? AND schema_name = ? AND table_name = ? AND seq <= ? AND pk IN (?"+strings.Repeat(", ?", len(equal)-1)+")",
		append([]any{key, g.side, g.schema, g.table, s.seq}, equal...)...)
	if err != nil {
		return fmt.Errorf("follow: forget the settled rows: %w", err)
	}
	n, _ := res.RowsAffected()
	s.settled += n
	return nil
}
