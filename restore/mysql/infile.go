package mysql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	driver "github.com/go-sql-driver/mysql"

	"github.com/termshift/termshift"
)

// The rows of a dump's INSERTs are loaded with LOAD DATA LOCAL INFILE,
// streamed from the parsed statements: the server then parses plain
// tab-separated fields instead of SQL, which roughly doubles what one
// connection inserts. A statement whose values are anything but literals
// the conversion reproduces exactly (NULL, numbers, strings, hex), a table
// with columns LOAD DATA treats differently (generated, invisible, BIT,
// spatial, JSON), text columns whose character set differs from the
// connection's, and a session with NO_BACKSLASH_ESCAPES all take the
// INSERT as written. So does a server with local_infile off.
//
// The fields are sent as CHARACTER SET binary, i.e. unconverted, which is
// what the INSERT does with the same bytes when the connection's character
// set is the column's (or binary, as mydumper sets).
//
// With LOCAL, the server cannot stop the client mid-file, so it turns
// duplicate-key and conversion errors into warnings: a row lost that way is
// still caught by the restore's proof (rows read from the backup against
// COUNT(*)).

// infileBytes is how much converted data one LOAD DATA carries.
const infileBytes = 8 << 20

// infileMinBytes is the smallest INSERT that starts a LOAD DATA: a small
// table's one statement loads faster as written than through a look at its
// columns and a second round trip.
const infileMinBytes = 128 << 10

// colKind is how the conversion treats a column's values.
type colKind uint8

const (
	colString colKind = iota + 1 // text or binary: strings and hex literals are bytes
	colOther                     // numbers, dates, enums: literals as written
)

// tableCols is what the conversion needs to know of a target table: its
// columns in order, or why its INSERTs run as written.
type tableCols struct {
	names    []string
	kinds    []colKind
	charsets []string // of string columns, "" for binary and others
	refuse   string   // non-empty: LOAD DATA would not do what the INSERT does
}

// infile is the run's LOAD DATA state, shared by its connections.
type infile struct {
	disabled atomic.Bool
	seq      atomic.Int64
	// converted and written count the INSERTs loaded with LOAD DATA and
	// those run as written.
	converted, written atomic.Int64
	minBytes           int // infileMinBytes, or a test's
	mu                 sync.Mutex
	tables             map[string]*tableCols
}

// refused reports a server refusing LOAD DATA LOCAL (local_infile off, or
// the client capability not granted).
func refusedInfile(err error) bool {
	var me *driver.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1148, 3948, 3950, 4166: // command not allowed, loading local data disabled
			return true
		}
	}
	return false
}

// columns returns the target table's columns, read once per run.
func (r *run) columns(ctx context.Context, lc *loaderConn, table string) (*tableCols, error) {
	r.infile.mu.Lock()
	tc, ok := r.infile.tables[table]
	r.infile.mu.Unlock()
	if ok {
		return tc, nil
	}
	rows, err := lc.c.QueryContext(ctx, "SELECT COLUMN_NAME, DATA_TYPE, COALESCE(CHARACTER_SET_NAME, ''), EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", r.req.To, table)
	if err != nil {
		return nil, fmt.Errorf("mysql %s: read the columns of %s: %w", lc.srv.addr, termshift.Quote(table), err)
	}
	defer rows.Close()
	tc = &tableCols{}
	for rows.Next() {
		var name, typ, cs, extra string
		if err := rows.Scan(&name, &typ, &cs, &extra); err != nil {
			return nil, fmt.Errorf("mysql %s: read the columns of %s: %w", lc.srv.addr, termshift.Quote(table), err)
		}
		k, why := columnKind(strings.ToLower(typ), strings.ToUpper(extra))
		if why != "" && tc.refuse == "" {
			tc.refuse = fmt.Sprintf("column %s is %s", termshift.Quote(name), why)
		}
		tc.names = append(tc.names, name)
		tc.kinds = append(tc.kinds, k)
		tc.charsets = append(tc.charsets, strings.ToLower(cs))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysql %s: read the columns of %s: %w", lc.srv.addr, termshift.Quote(table), err)
	}
	if len(tc.names) == 0 {
		tc.refuse = "not a table the loader can see"
	}
	r.infile.mu.Lock()
	r.infile.tables[table] = tc
	r.infile.mu.Unlock()
	return tc, nil
}

// columnKind classifies a column by its DATA_TYPE and EXTRA; why says what
// LOAD DATA would do differently from an INSERT.
func columnKind(typ, extra string) (colKind, string) {
	switch {
	case strings.Contains(extra, "GENERATED") || strings.Contains(extra, "VIRTUAL") || strings.Contains(extra, "PERSISTENT") || strings.Contains(extra, "STORED"):
		return 0, "generated"
	case strings.Contains(extra, "INVISIBLE"):
		return 0, "invisible"
	}
	switch typ {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext",
		"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return colString, ""
	case "bit", "json", "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		return 0, typ
	}
	return colOther, ""
}

// sameBytes reports whether bytes sent in the connection's character set
// client are stored unchanged in a column of character set col, as an
// INSERT stores them.
func sameBytes(client, col string) bool {
	utf8 := func(cs string) bool { return cs == "utf8" || cs == "utf8mb3" || cs == "utf8mb4" }
	return client == "binary" || col == "" || col == "binary" || col == client || (utf8(client) && utf8(col))
}

// bulk gathers the converted rows of one table's INSERTs on one loader
// connection and loads them with LOAD DATA LOCAL INFILE.
type bulk struct {
	r     *run
	lc    *loaderConn
	file  string
	table string
	cols  []string // the column list of the buffered rows (nil: all)
	line  int      // of the first buffered statement
	buf   []byte
	// client is the connection's character_set_client, "" until read
	// (after any SET of the dump).
	client  string
	noSlash bool // the session has NO_BACKSLASH_ESCAPES
}

func (r *run) newBulk(lc *loaderConn, file string) *bulk {
	return &bulk{r: r, lc: lc, file: file}
}

// sessionChanged forgets what was read of the session.
func (b *bulk) sessionChanged() { b.client = "" }

// insert loads one INSERT of table: converted into the buffer, or, when it
// cannot be, as written after the buffer.
func (b *bulk) insert(ctx context.Context, table string, line int, text []byte) error {
	if err := b.lc.fits(b.file, line, text); err != nil {
		return err
	}
	ok, err := b.add(ctx, table, line, text)
	if err != nil {
		return err
	}
	if ok {
		b.r.infile.converted.Add(1)
		return nil
	}
	if err := b.flush(ctx); err != nil {
		return err
	}
	b.r.infile.written.Add(1)
	return b.lc.exec(ctx, b.file, line, text)
}

// add converts an INSERT into the buffer; ok=false means it must run as
// written.
func (b *bulk) add(ctx context.Context, table string, line int, text []byte) (bool, error) {
	r := b.r
	if r.infile.disabled.Load() || (len(text) < r.infile.minBytes && (b.table != table || len(b.buf) == 0)) {
		return false, nil
	}
	if b.client == "" {
		if err := b.readSession(ctx); err != nil {
			return false, err
		}
	}
	if b.noSlash {
		return false, nil
	}
	tc, err := r.columns(ctx, b.lc, table)
	if err != nil {
		return false, err
	}
	if tc.refuse != "" {
		return false, nil
	}
	cols, at, ok := insertHead(text)
	if !ok {
		return false, nil
	}
	kinds, ok := tc.pick(cols, b.client)
	if !ok {
		return false, nil
	}
	if b.table != table || !sameNames(b.cols, cols) {
		if err := b.flush(ctx); err != nil {
			return false, err
		}
		b.table, b.cols = table, append([]string(nil), cols...)
	}
	mark := len(b.buf)
	out, ok := appendRows(b.buf, text[at:], kinds)
	if !ok {
		b.buf = b.buf[:mark]
		return false, nil
	}
	if mark == 0 {
		b.line = line
	}
	b.buf = out
	if len(b.buf) >= infileBytes {
		return true, b.flush(ctx)
	}
	return true, nil
}

func sameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// pick returns the kinds of the columns an INSERT lists (all for none),
// or ok=false when its values must go as written.
func (tc *tableCols) pick(cols []string, client string) ([]colKind, bool) {
	idx := make([]int, 0, len(tc.names))
	if cols == nil {
		for i := range tc.names {
			idx = append(idx, i)
		}
	} else {
		for _, c := range cols {
			j := -1
			for i, n := range tc.names {
				if strings.EqualFold(n, c) {
					j = i
					break
				}
			}
			if j < 0 {
				return nil, false
			}
			idx = append(idx, j)
		}
	}
	kinds := make([]colKind, len(idx))
	for i, j := range idx {
		if tc.kinds[j] == colString && !sameBytes(client, tc.charsets[j]) {
			return nil, false
		}
		kinds[i] = tc.kinds[j]
	}
	return kinds, true
}

func (b *bulk) readSession(ctx context.Context) error {
	var mode string
	if err := b.lc.c.QueryRowContext(ctx, "SELECT @@character_set_client, @@sql_mode").Scan(&b.client, &mode); err != nil {
		return fmt.Errorf("mysql %s: read the session's character set: %w", b.lc.srv.addr, err)
	}
	b.client = strings.ToLower(b.client)
	b.noSlash = strings.Contains(strings.ToUpper(mode), "NO_BACKSLASH_ESCAPES")
	return nil
}

// flush loads the buffered rows.
func (b *bulk) flush(ctx context.Context) error {
	if len(b.buf) == 0 {
		return nil
	}
	data := b.buf
	defer func() { b.buf = b.buf[:0] }()
	// The driver's registry is the process's: the name is unique to this
	// bulk (its address) and this load.
	name := fmt.Sprintf("termshift-%p-%d", b, b.r.infile.seq.Add(1))
	driver.RegisterReaderHandler(name, func() io.Reader { return bytes.NewReader(data) })
	defer driver.DeregisterReaderHandler(name)
	var q strings.Builder
	q.WriteString("LOAD DATA LOCAL INFILE 'Reader::" + name + "' INTO TABLE " + termshift.QuoteMySQL(b.table) +
		" CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'")
	if b.cols != nil {
		q.WriteString(" (")
		for i, c := range b.cols {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(termshift.QuoteMySQL(c))
		}
		q.WriteString(")")
	}
	if _, err := b.lc.c.ExecContext(ctx, q.String()); err != nil {
		if refusedInfile(err) {
			b.r.infile.disabled.Store(true)
			b.r.log.Debug("the server refuses LOAD DATA LOCAL INFILE: loading the INSERTs as written", "server", b.lc.srv.addr, "error", err)
			return &infileRefused{err: err}
		}
		return fmt.Errorf("%s line %d: load the rows of %s (LOAD DATA LOCAL INFILE of the INSERTs from this line on): %w", b.file, b.line, termshift.Quote(b.table), err)
	}
	return b.warnings(ctx)
}

// warnings refuses a LOAD DATA the server completed with warnings: with
// LOCAL, the server turns what would fail an INSERT (a duplicate key, a
// value out of range or cut short) into a warning and goes on, so a row
// could be skipped or changed without an error.
func (b *bulk) warnings(ctx context.Context) error {
	rows, err := b.lc.c.QueryContext(ctx, "SHOW WARNINGS LIMIT 3")
	if err != nil {
		return fmt.Errorf("%s line %d: read the warnings of loading %s: %w", b.file, b.line, termshift.Quote(b.table), err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var level, msg string
		var code int
		if err := rows.Scan(&level, &code, &msg); err != nil {
			return fmt.Errorf("%s line %d: read the warnings of loading %s: %w", b.file, b.line, termshift.Quote(b.table), err)
		}
		if level != "Note" {
			found = append(found, fmt.Sprintf("%s %d: %s", level, code, msg))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s line %d: read the warnings of loading %s: %w", b.file, b.line, termshift.Quote(b.table), err)
	}
	if len(found) > 0 {
		return fmt.Errorf("%s line %d: the rows of %s do not load as written (LOAD DATA LOCAL INFILE of the INSERTs from this line on): %s: %w",
			b.file, b.line, termshift.Quote(b.table), strings.Join(found, "; "), termshift.ErrInvalid)
	}
	return nil
}

// infileRefused is a LOAD DATA the server refused before loading anything:
// the rows it carried are loaded again as INSERTs.
type infileRefused struct{ err error }

func (e *infileRefused) Error() string {
	return "the server refuses LOAD DATA LOCAL INFILE: " + e.err.Error()
}
func (e *infileRefused) Unwrap() error { return e.err }

// insertHead parses "INSERT INTO [db.]t [(cols)] VALUES" and returns the
// column list (nil for none) and where the first row's '(' is; ok=false
// for any other form (IGNORE, REPLACE, SET, SELECT, ...).
func insertHead(text []byte) (cols []string, at int, ok bool) {
	toks := tokenize(text, 6)
	if len(toks) < 4 || !toks[0].word("INSERT") || !toks[1].word("INTO") || toks[2].Str {
		return nil, 0, false
	}
	i := 3
	if toks[i].Text == "." && !toks[i].Quoted {
		if len(toks) < 6 || toks[4].Str {
			return nil, 0, false
		}
		i = 5
	}
	p := toks[i].Start
	if toks[i].Text == "(" && !toks[i].Quoted {
		// a column list: `a`, `b`, ...
		p = toks[i].End
		for {
			p = skipSpace(text, p)
			name, end, ok := identAt(text, p)
			if !ok {
				return nil, 0, false
			}
			cols = append(cols, name)
			p = skipSpace(text, end)
			if p < len(text) && text[p] == ',' {
				p++
				continue
			}
			if p < len(text) && text[p] == ')' {
				p++
				break
			}
			return nil, 0, false
		}
		p = skipSpace(text, p)
	}
	switch {
	case hasWordAt(text, p, "VALUES"):
		p += 6
	case hasWordAt(text, p, "VALUE"):
		p += 5
	default:
		return nil, 0, false
	}
	p = skipSpace(text, p)
	if p >= len(text) || text[p] != '(' {
		return nil, 0, false
	}
	return cols, p, true
}

func skipSpace(text []byte, p int) int {
	for p < len(text) && isSpace(text[p]) {
		p++
	}
	return p
}

func hasWordAt(text []byte, p int, w string) bool {
	return p+len(w) <= len(text) && strings.EqualFold(string(text[p:p+len(w)]), w) &&
		(p+len(w) == len(text) || !isWordByte(text[p+len(w)]))
}

// identAt reads a `quoted` or bare identifier at p.
func identAt(text []byte, p int) (string, int, bool) {
	if p >= len(text) {
		return "", p, false
	}
	if text[p] == '`' {
		var sb strings.Builder
		for j := p + 1; j < len(text); j++ {
			if text[j] == '`' {
				if j+1 < len(text) && text[j+1] == '`' {
					sb.WriteByte('`')
					j++
					continue
				}
				return sb.String(), j + 1, true
			}
			sb.WriteByte(text[j])
		}
		return "", p, false
	}
	j := p
	for j < len(text) && isWordByte(text[j]) {
		j++
	}
	return string(text[p:j]), j, j > p
}

// appendRows converts the rows "(v, ...), (v, ...)" of an INSERT into
// LOAD DATA lines (tab-separated, backslash-escaped, \N for NULL) appended
// to dst. ok=false when a value is not a plain literal, a row has not
// len(kinds) values, or anything follows the rows: the INSERT then runs as
// written.
func appendRows(dst, text []byte, kinds []colKind) ([]byte, bool) {
	p := 0
	n := len(text)
	for {
		p = skipSpace(text, p)
		if p >= n || text[p] != '(' {
			return dst, false
		}
		p++
		for col := 0; ; col++ {
			if col >= len(kinds) {
				return dst, false
			}
			p = skipSpace(text, p)
			if col > 0 {
				dst = append(dst, '\t')
			}
			var ok bool
			dst, p, ok = appendValue(dst, text, p, kinds[col])
			if !ok {
				return dst, false
			}
			p = skipSpace(text, p)
			if p >= n {
				return dst, false
			}
			if text[p] == ',' {
				p++
				continue
			}
			if text[p] != ')' || col != len(kinds)-1 {
				return dst, false
			}
			p++
			break
		}
		dst = append(dst, '\n')
		p = skipSpace(text, p)
		if p >= n {
			return dst, true
		}
		if text[p] != ',' {
			return dst, false // ON DUPLICATE KEY UPDATE, RETURNING, ...
		}
		p++
	}
}

// appendValue converts the literal at p.
func appendValue(dst, text []byte, p int, k colKind) ([]byte, int, bool) {
	n := len(text)
	if p >= n {
		return dst, p, false
	}
	c := text[p]
	switch {
	case c == '\'' || c == '"':
		return appendString(dst, text, p)
	case c == '_' && k == colString && hasWordAt(text, p, "_binary"):
		q := skipSpace(text, p+len("_binary"))
		if q < n && (text[q] == '\'' || text[q] == '"') {
			return appendString(dst, text, q)
		}
		return dst, p, false
	case (c == 'N' || c == 'n') && hasWordAt(text, p, "NULL"):
		return append(dst, '\\', 'N'), p + 4, true
	case c == '0' && p+1 < n && (text[p+1] == 'x' || text[p+1] == 'X'):
		if k != colString {
			return dst, p, false
		}
		q := p + 2
		for q < n && isHex(text[q]) {
			q++
		}
		if (q-p-2)%2 != 0 || (q < n && isWordByte(text[q])) {
			return dst, p, false
		}
		return appendHex(dst, text[p+2:q]), q, true
	case (c == 'x' || c == 'X') && p+1 < n && text[p+1] == '\'':
		if k != colString {
			return dst, p, false
		}
		q := p + 2
		for q < n && isHex(text[q]) {
			q++
		}
		if q >= n || text[q] != '\'' || (q-p-2)%2 != 0 {
			return dst, p, false
		}
		return appendHex(dst, text[p+2:q]), q + 1, true
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		q := p
		for q < n && isNumberByte(text[q]) {
			q++
		}
		if q < n && isWordByte(text[q]) {
			return dst, p, false
		}
		return append(dst, text[p:q]...), q, true
	}
	return dst, p, false
}

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func appendHex(dst, hex []byte) []byte {
	for i := 0; i+1 < len(hex); i += 2 {
		dst = appendField(dst, unhex(hex[i])<<4|unhex(hex[i+1]))
	}
	return dst
}

// appendField appends one byte of a field's value, escaped for LOAD DATA.
func appendField(dst []byte, c byte) []byte {
	switch c {
	case '\\':
		return append(dst, '\\', '\\')
	case '\t':
		return append(dst, '\\', 't')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case 0:
		return append(dst, '\\', '0')
	}
	return append(dst, c)
}

// appendString converts the quoted string at p: the SQL escapes are
// undone (\0 \b \n \r \t \Z \\ \' \" and a doubled quote; \% and \_ keep
// their backslash; any other \x is x) and the bytes escaped for LOAD DATA.
func appendString(dst, text []byte, p int) ([]byte, int, bool) {
	q := text[p]
	i := p + 1
	n := len(text)
	for i < n {
		// copy the run of bytes that need nothing
		j := i
		for j < n {
			c := text[j]
			if c == q || c == '\\' || c == '\t' || c == '\n' || c == '\r' || c == 0 {
				break
			}
			j++
		}
		dst = append(dst, text[i:j]...)
		i = j
		if i >= n {
			return dst, i, false
		}
		c := text[i]
		switch {
		case c == q:
			if i+1 < n && text[i+1] == q {
				dst = append(dst, q)
				i += 2
				continue
			}
			return dst, i + 1, true
		case c == '\\':
			if i+1 >= n {
				return dst, i, false
			}
			e := text[i+1]
			var v byte
			switch e {
			case '0':
				v = 0
			case 'b':
				v = 8
			case 'n':
				v = '\n'
			case 'r':
				v = '\r'
			case 't':
				v = '\t'
			case 'Z':
				v = 0x1a
			case '%', '_':
				dst = append(dst, '\\', '\\', e)
				i += 2
				continue
			default:
				v = e
			}
			dst = appendField(dst, v)
			i += 2
		default:
			dst = appendField(dst, c)
			i++
		}
	}
	return dst, i, false
}
