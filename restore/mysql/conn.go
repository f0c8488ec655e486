package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	driver "github.com/go-sql-driver/mysql"

	"github.com/termshift/termshift"
)

// server is the loader's own connection pool to the target server: it is
// used for nothing else, so the session settings below never leak to
// other users of the server.
type server struct {
	db        *sql.DB
	addr      string
	maxPacket int64
}

// openServer connects with the admin DSN. dbName is the default schema of
// every connection ("" for none).
func openServer(ctx context.Context, dsn termshift.Secret, dbName string, conns int) (*server, error) {
	cfg, err := driver.ParseDSN(dsn.Reveal())
	if err != nil {
		return nil, fmt.Errorf("parse mysql DSN: %w", termshift.ErrInvalid)
	}
	cfg.DBName = dbName
	cfg.MultiStatements = false
	cfg.InterpolateParams = false
	cfg.MaxAllowedPacket = 0 // ask the server
	cfg.ParseTime = false
	conn, err := driver.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql %s: %w", cfg.Addr, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	s := &server{db: db, addr: cfg.Addr}
	if err := db.QueryRowContext(ctx, "SELECT @@max_allowed_packet").Scan(&s.maxPacket); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql %s: read max_allowed_packet: %w", cfg.Addr, err)
	}
	return s, nil
}

func (s *server) Close() error { return s.db.Close() }

// loaderConn is one dedicated connection with the loader's session
// settings: no foreign key or unique checks, no binary log when the user
// may turn it off, explicit transactions.
type loaderConn struct {
	c       *sql.Conn
	srv     *server
	session string // the SET statement last applied
}

func (s *server) conn(ctx context.Context, baseline string) (*loaderConn, error) {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("mysql %s: connect: %w", s.addr, err)
	}
	lc := &loaderConn{c: c, srv: s}
	for _, q := range []string{
		"SET SESSION foreign_key_checks=0, unique_checks=0, autocommit=0",
		"SET SESSION sql_log_bin=0",
	} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			var me *driver.MySQLError
			if errors.As(err, &me) && me.Number == 1227 { // no privilege for sql_log_bin: keep logging
				continue
			}
			c.Close()
			return nil, fmt.Errorf("mysql %s: %s: %w", s.addr, q, err)
		}
	}
	if err := lc.setSession(ctx, baseline); err != nil {
		c.Close()
		return nil, err
	}
	return lc, nil
}

// setSession applies a session state (a SET statement) unless it is the
// one already applied.
func (lc *loaderConn) setSession(ctx context.Context, set string) error {
	if set == "" || set == lc.session {
		return nil
	}
	if _, err := lc.c.ExecContext(ctx, set); err != nil {
		return fmt.Errorf("mysql %s: %s: %w", lc.srv.addr, set, err)
	}
	lc.session = set
	return nil
}

// setSessionWith puts the connection in the state of baseline followed by
// sets (a file's leading SET statements) unless it is in it already:
// mydumper starts every file with the same SETs, and a schema has hundreds
// of tables, each with a schema file and a data file.
func (lc *loaderConn) setSessionWith(ctx context.Context, baseline string, sets []fileStmt) error {
	key := baseline
	for _, s := range sets {
		key += "\n" + string(s.text)
	}
	if key == lc.session {
		return nil
	}
	lc.session = ""
	if err := lc.setSession(ctx, baseline); err != nil {
		return err
	}
	for _, s := range sets {
		if err := lc.exec(ctx, s.file, s.line, s.text); err != nil {
			return err
		}
	}
	lc.session = key
	return nil
}

// exec runs one statement of file at line.
func (lc *loaderConn) exec(ctx context.Context, file string, line int, text []byte) error {
	if err := lc.fits(file, line, text); err != nil {
		return err
	}
	if _, err := lc.c.ExecContext(ctx, unsafeString(text)); err != nil {
		return fmt.Errorf("%s line %d: %s: %w", file, line, preview(text), err)
	}
	return nil
}

// fits refuses a statement the server would refuse: the same limit holds
// for an INSERT loaded with LOAD DATA, as the vendor's client has it.
func (lc *loaderConn) fits(file string, line int, text []byte) error {
	if int64(len(text))+1 > lc.srv.maxPacket {
		return fmt.Errorf("%s line %d: statement of %d bytes exceeds the server's max_allowed_packet (%d): raise max_allowed_packet on %s: %w",
			file, line, len(text), lc.srv.maxPacket, lc.srv.addr, termshift.ErrInvalid)
	}
	return nil
}

func (lc *loaderConn) commit(ctx context.Context) error {
	if _, err := lc.c.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("mysql %s: commit: %w", lc.srv.addr, err)
	}
	return nil
}

func (lc *loaderConn) Close() error { return lc.c.Close() }

// preview shortens a statement for an error message.
func preview(text []byte) string {
	const n = 100
	s := strings.Join(strings.Fields(string(text[:min(len(text), 4*n)])), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// unsafeString views b as a string without copying; b must not change
// while the string is in use (it is only handed to the driver, which
// copies it into its packet buffer).
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
