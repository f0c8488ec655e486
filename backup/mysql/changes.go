package mysql

import (
	"context"
	"fmt"

	"github.com/termshift/termshift"
)

// Changes implements backup.Snapshot. When the server keeps a binary log
// and its position has not moved since the snapshot, nothing on the server
// changed: nil. Otherwise (another schema's writes move it too, or there is
// no binary log) every table is compared: its COUNT(*) now against the
// count inside the snapshot, and its AUTO_INCREMENT and UPDATE_TIME now
// against what they were just before the snapshot; a table created or
// dropped since is a change too. UPDATE_TIME has one-second resolution and
// is not kept across a server restart: an UPDATE that changes no count
// within the second the snapshot was taken can go unseen.
func (s *Snapshot) Changes(ctx context.Context) ([]string, error) {
	c, err := s.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if was := s.info.Binlog; was != nil {
		now, err := BinlogPosition(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("mysql %s: %w", s.addr, err)
		}
		if now != nil && *now == *was {
			return nil, nil
		}
	}
	var out []string
	for _, sc := range s.schemas {
		now := &schema{server: sc.server, name: sc.name}
		if err := now.readTables(ctx, c); err != nil {
			return nil, fmt.Errorf("mysql %s: %w", s.addr, err)
		}
		byName := map[string]*table{}
		for _, t := range now.tables {
			byName[t.name] = t
		}
		for _, t := range sc.tables {
			n, ok := byName[t.name]
			if !ok {
				out = append(out, fmt.Sprintf("table %s.%s was dropped", sc.server, t.name))
				continue
			}
			delete(byName, t.name)
			var rows int64
			if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t.qualified()).Scan(&rows); err != nil {
				return nil, fmt.Errorf("mysql %s: count %s.%s: %w", s.addr, sc.server, t.name, err)
			}
			was, _, err := s.snapshotCount(ctx, t)
			if err != nil {
				return nil, err
			}
			switch {
			case rows != was:
				out = append(out, fmt.Sprintf("table %s.%s: %d rows in the snapshot, %d now", sc.server, t.name, was, rows))
			case n.autoIncrement != t.autoIncrement:
				out = append(out, fmt.Sprintf("table %s.%s: AUTO_INCREMENT %d at the snapshot, %d now", sc.server, t.name, t.autoIncrement.Int64, n.autoIncrement.Int64))
			case n.updated != t.updated:
				out = append(out, fmt.Sprintf("table %s.%s: last updated %s at the snapshot, %s now", sc.server, t.name, orNever(t.updated.String), orNever(n.updated.String)))
			}
		}
		for name := range byName {
			out = append(out, fmt.Sprintf("table %s.%s was created", sc.server, termshift.Quote(name)))
		}
	}
	return out, nil
}

func orNever(s string) string {
	if s == "" {
		return "never (since the server started)"
	}
	return s
}
