// Package follow keeps a release's MySQL schemas caught up with another
// release's: it reads the live server's binary log with mariadb-binlog
// (--read-from-remote-server --stop-never), keeps the row events of the
// live release's schemas, renames their schemas to the next release's, and
// applies each transaction with the driver, together with the position it
// ends at, in one transaction of the target: a follower killed at any
// moment resumes where the last commit left it and never applies an event
// twice. With the rows, it records what it saw change on either side since
// it started (the tables, and for tables with a primary key of one
// integer or text column the changed rows' keys, read from --verbose row
// images), and settles those rows as it goes, so that a cutover's proof
// (Prove) reads only what changed since the two sides were last proven
// equal.
//
// Only MySQL/MariaDB: MongoDB (FerretDB here) has no change stream or oplog
// to follow; its databases keep the full copy of a final sync.
package follow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/termshift/termshift"
	mysqlbackup "github.com/termshift/termshift/backup/mysql"
)

// Position is a point in a server's binary log: the end of the last event
// applied (or the snapshot's position, before anything was).
type Position struct {
	File string `json:"file"`
	Pos  int64  `json:"position"`
	GTID string `json:"gtid,omitempty"`
}

func (p Position) String() string {
	if p.File == "" {
		return "(none)"
	}
	return fmt.Sprintf("%s:%d", p.File, p.Pos)
}

// IsZero reports a position that names no file.
func (p Position) IsZero() bool { return p.File == "" }

// Compare orders two positions of the same server: by the file's sequence
// number, then by the offset.
func (p Position) Compare(q Position) int {
	if p.File != q.File {
		a, b := fileSeq(p.File), fileSeq(q.File)
		if a != b {
			if a < b {
				return -1
			}
			return 1
		}
		return strings.Compare(p.File, q.File)
	}
	switch {
	case p.Pos < q.Pos:
		return -1
	case p.Pos > q.Pos:
		return 1
	}
	return 0
}

// fileSeq is the number at the end of a binary log's name (binlog.000042).
func fileSeq(name string) int64 {
	i := strings.LastIndexByte(name, '.')
	n, err := strconv.ParseInt(name[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

var (
	// ErrNoRowBinlog: the server has no binary log, or it does not log
	// rows (binlog_format is not ROW): there is nothing to follow.
	ErrNoRowBinlog = errors.New("no row-based binary log")
	// ErrPurged: the position to follow from is no longer in the server's
	// binary logs.
	ErrPurged = errors.New("binary log position purged")
	// ErrSchemaChanged: a statement changed a followed schema (DDL), or
	// the two sides' schemas differ: the rows can no longer be applied
	// as they are.
	ErrSchemaChanged = errors.New("schema changed")
)

// DDLError is a statement on a followed schema that is not a row change:
// the follower stops before it.
type DDLError struct {
	Statement string
	Schema    string
	At        Position // where the statement ends in the binary log
}

func (e *DDLError) Error() string {
	return fmt.Sprintf("a schema change on %s at %s: %s: the schemas must stay equal while following: %v",
		termshift.Quote(e.Schema), e.At, termshift.Quote(e.Statement), ErrSchemaChanged)
}

func (e *DDLError) Unwrap() error { return ErrSchemaChanged }

// checkSource checks that server (its name for messages) has a row-based
// binary log that still holds from.
func checkSource(ctx context.Context, db *sql.DB, server string, from Position) error {
	var logBin int
	var format string
	if err := db.QueryRowContext(ctx, "SELECT @@log_bin, @@binlog_format").Scan(&logBin, &format); err != nil {
		return fmt.Errorf("read log_bin and binlog_format on %s: %w", server, err)
	}
	if logBin != 1 {
		return termshift.WithHint(fmt.Errorf("%s has log_bin=OFF: there is no binary log to follow: %w", server, ErrNoRowBinlog),
			"start the server with log_bin and binlog_format=ROW to follow it; a final sync copies everything instead")
	}
	if !strings.EqualFold(format, "ROW") {
		return termshift.WithHint(fmt.Errorf("%s has binlog_format=%s, not ROW: its binary log does not hold the rows to apply: %w", server, format, ErrNoRowBinlog),
			"set binlog_format=ROW (and binlog_row_image=FULL) to follow it; a final sync copies everything instead")
	}
	if from.IsZero() {
		return nil
	}
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return fmt.Errorf("list the binary logs of %s: %w", server, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var files []string
	sizes := map[string]int64{}
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("list the binary logs of %s: %w", server, err)
		}
		files = append(files, vals[0].String)
		if len(vals) > 1 {
			sizes[vals[0].String], _ = strconv.ParseInt(vals[1].String, 10, 64)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list the binary logs of %s: %w", server, err)
	}
	size, ok := sizes[from.File]
	if !ok {
		oldest := "none"
		if len(files) > 0 {
			oldest = files[0]
		}
		return termshift.WithHint(fmt.Errorf("%s on %s: %s is no longer in the server's binary logs (the oldest is %s): %w", from, server, from.File, oldest, ErrPurged),
			"follow from a newer snapshot, or let the final sync copy everything (it does so by itself); keep binary logs longer (binlog_expire_logs_seconds) than a snapshot's age")
	}
	if from.Pos > size {
		return fmt.Errorf("%s on %s: %s has only %d bytes: %w", from, server, from.File, size, termshift.ErrInvalid)
	}
	return nil
}

// head is the server's current binary log position: the end of the last
// event written.
func head(ctx context.Context, db *sql.DB, server string) (Position, error) {
	p, err := mysqlbackup.BinlogPosition(ctx, db)
	if err != nil {
		return Position{}, fmt.Errorf("read the binary log position of %s: %w", server, err)
	}
	if p == nil {
		return Position{}, fmt.Errorf("%s has log_bin=OFF: %w", server, ErrNoRowBinlog)
	}
	return Position{File: p.File, Pos: p.Position, GTID: p.GTID}, nil
}
