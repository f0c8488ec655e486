package mysql

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"time"

	"github.com/termshift/termshift"
)

// statementBytes is the size an extended INSERT grows to before the next
// one starts: mydumper's default (--statement-size 1000000).
const statementBytes = 1_000_000

// dataHeader opens every data file, as mydumper's, plus the sql_mode that
// keeps a zero in an AUTO_INCREMENT column a zero when the mariadb client
// loads the file (mysqldump sets it too).
const dataHeader = setNames + "/*!40014 SET FOREIGN_KEY_CHECKS=0*/;\n/*!40101 SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO'*/;\n/*!40103 SET TIME_ZONE='+00:00' */;\n"

func (s *Snapshot) acquire(ctx context.Context) (*sql.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Snapshot) release(c *sql.Conn) { s.conns <- c }

// countingWriter counts what reaches w, and remembers its first error.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

// writeData streams one data file of t: its rows, inside the snapshot, as
// extended INSERTs. A table's rows read and (with Request.Hash) their
// hash are recorded once the file was read whole. When w fails, the rest of
// the rows are still read (and dropped), so the snapshot connection can
// serve the next file.
func (s *Snapshot) writeData(ctx context.Context, t *table, i int, w io.Writer) (int64, error) {
	c, err := s.acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer s.release(c)
	ch := t.chunks[i]
	q := "SELECT /*!40001 SQL_NO_CACHE */ " + t.selectList + " FROM " + t.qualified()
	if ch.where != "" {
		q += " WHERE " + ch.where
	}
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 256<<10)
	bw.WriteString(dataHeader)
	insert := "INSERT INTO " + termshift.QuoteMySQL(t.name) + t.colList + " VALUES\n"
	var (
		rowBuf   []byte
		inStmt   bool
		stmtLen  int
		n        int64
		sum      multiset
		h        hash.Hash
		digest   []byte
		lastSent int64
		reported int64 // bytes reported to the table's counter
	)
	if s.req.Hash {
		h = sha256.New()
	}
	err = rawRows(ctx, c, q, len(t.columns), func(vals [][]byte) error {
		n++
		if h != nil {
			digest = rowDigest(h, vals, digest[:0])
			sum.add(digest)
		}
		if cw.err != nil {
			return nil // the reader went away: drain
		}
		rowBuf = appendRow(rowBuf[:0], vals, t.columns)
		if !inStmt {
			bw.WriteString(insert)
			stmtLen = len(insert)
			inStmt = true
		} else {
			bw.WriteString(",\n")
		}
		bw.Write(rowBuf)
		stmtLen += len(rowBuf) + 2
		if stmtLen >= statementBytes {
			bw.WriteString(";\n")
			inStmt = false
		}
		if n-lastSent >= 5000 {
			t.rows.Add(n - lastSent)
			lastSent = n
			t.bytes.Add(cw.n - reported)
			reported = cw.n
			s.progress(t, false)
		}
		return nil
	})
	if err != nil {
		return cw.n, fmt.Errorf("mysql %s: read %s.%s: %w", s.addr, t.schema.server, t.name, err)
	}
	if inStmt {
		bw.WriteString(";\n")
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	if cw.err != nil {
		return cw.n, cw.err
	}
	t.rows.Add(n - lastSent)
	t.bytes.Add(cw.n - reported)
	s.mu.Lock()
	_, again := s.chunks[ch.file]
	s.chunks[ch.file] = chunkResult{rows: n, hash: sum}
	s.mu.Unlock()
	if !again && t.pending.Add(-1) == 0 {
		s.progress(t, true)
	} else {
		s.progress(t, false)
	}
	return cw.n, nil
}

// appendRow renders one row as a VALUES tuple: NULL, numbers as rawRows
// gives them, everything else quoted and escaped as mysql_real_escape_string
// does (the bytes are raw: the file sets NAMES binary).
func appendRow(b []byte, vals [][]byte, cols []column) []byte {
	b = append(b, '(')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case v == nil:
			b = append(b, "NULL"...)
		case cols[i].numeric:
			b = append(b, v...)
		default:
			b = appendQuoted(b, v)
		}
	}
	return append(b, ')')
}

// escapes maps the bytes that are escaped in a quoted string to the letter
// after the backslash; 0 for bytes copied as they are.
var escapes = [256]byte{0: '0', '\n': 'n', '\r': 'r', '\\': '\\', '\'': '\'', '"': '"', 0x1a: 'Z'}

func appendQuoted(b, v []byte) []byte {
	b = append(b, '\'')
	start := 0
	for i, c := range v {
		if e := escapes[c]; e != 0 {
			b = append(b, v[start:i]...)
			b = append(b, '\\', e)
			start = i + 1
		}
	}
	b = append(b, v[start:]...)
	return append(b, '\'')
}

// rowDigest is the SHA-256 of a row's canonical form: per column, 0 for
// NULL, or 1, the value's length (4 bytes) and its bytes as rawRows gives
// them.
func rowDigest(h hash.Hash, vals [][]byte, out []byte) []byte {
	h.Reset()
	var hdr [5]byte
	for _, v := range vals {
		if v == nil {
			h.Write(hdr[:1])
			continue
		}
		hdr[0] = 1
		binary.LittleEndian.PutUint32(hdr[1:], uint32(len(v)))
		h.Write(hdr[:])
		h.Write(v)
		hdr[0] = 0
	}
	return h.Sum(out)
}

// multiset is an order-independent hash of a multiset of rows: the sum
// modulo 2^256 of their digests. Rows added in any order, or split across
// files and merged, give the same value; a row missing, added twice or
// changed changes it.
type multiset [4]uint64

func (m *multiset) add(digest []byte) {
	var carry uint64
	for i := range m {
		d := binary.BigEndian.Uint64(digest[(3-i)*8:])
		s := m[i] + d
		c1 := uint64(0)
		if s < m[i] {
			c1 = 1
		}
		s2 := s + carry
		if s2 < s {
			c1++
		}
		m[i], carry = s2, c1
	}
}

func (m *multiset) merge(o multiset) {
	var b [32]byte
	for i, l := range o {
		binary.BigEndian.PutUint64(b[(3-i)*8:], l)
	}
	m.add(b[:])
}

func (m multiset) hex() string {
	var b [32]byte
	for i, l := range m {
		binary.BigEndian.PutUint64(b[(3-i)*8:], l)
	}
	return fmt.Sprintf("%x", b[:])
}

// rawRows runs q on c as a prepared statement through the driver itself
// and hands each row to each as bytes (nil for NULL), valid until each
// returns. The binary protocol spares the server turning numbers and dates
// into text: strings, DECIMALs, dates and times come as bytes (the driver
// writes dates and times as the server would), integers and
// floating-point numbers as values, formatted here in the shortest form
// that reads the same value. database/sql's conversions (and their
// allocations) are skipped: they cost more than formatting a row.
func rawRows(ctx context.Context, c *sql.Conn, q string, ncols int, each func([][]byte) error) error {
	return c.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("the MySQL driver does not prepare: %T", dc)
		}
		st, err := pc.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		defer st.Close()
		sq, ok := st.(driver.StmtQueryContext)
		if !ok {
			return fmt.Errorf("the MySQL driver's statement does not query: %T", st)
		}
		rows, err := sq.QueryContext(ctx, nil)
		if err != nil {
			return err
		}
		defer rows.Close()
		if got := len(rows.Columns()); got != ncols {
			return fmt.Errorf("%d columns, want %d", got, ncols)
		}
		dest := make([]driver.Value, ncols)
		vals := make([][]byte, ncols)
		var num []byte
		for {
			if err := rows.Next(dest); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			num = num[:0]
			for i, v := range dest {
				start := len(num)
				switch x := v.(type) {
				case nil:
					vals[i] = nil
					continue
				case []byte:
					if x == nil {
						x = []byte{}
					}
					vals[i] = x
					continue
				case string:
					num = append(num, x...)
				case int64:
					num = strconv.AppendInt(num, x, 10)
				case time.Time:
					// Only with parseTime, which snapshots never set.
					return fmt.Errorf("column %d: a time.Time from the driver", i+1)
				case uint64:
					num = strconv.AppendUint(num, x, 10)
				case float32:
					num = strconv.AppendFloat(num, float64(x), 'g', -1, 32)
				case float64:
					num = strconv.AppendFloat(num, x, 'g', -1, 64)
				default:
					return fmt.Errorf("column %d: unexpected %T from the driver", i+1, v)
				}
				vals[i] = num[start:len(num):len(num)]
			}
			if err := each(vals); err != nil {
				return err
			}
		}
	})
}
