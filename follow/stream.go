package follow

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/termshift/termshift"
)

// unit is what the stream hands the applier: a transaction of the followed
// schemas (stmts: BINLOG statements, renamed), an event or transaction of
// other schemas that only moves the position (no stmts), a new format
// description (fde), or a schema change that stops the follower (ddl).
type unit struct {
	end     Position
	at      time.Time
	stmts   []string
	events  int
	fde     string
	touched []touch
	keys    []rowKey
}

// touch is a table seen changed in the binary log: a followed schema's
// (side source, applied) or a target schema's, written by someone else
// than the follower (side target: the next release itself, on a shared
// server). Table "*" is every table of the schema: a statement, not row
// events, changed it. ByKey says the rows it changed are known by their
// primary key (rowKey); otherwise any row may have changed.
type touch struct {
	side, schema, table string
	byKey               bool
}

// rowKey is the primary key of a row a row event changed (its before or
// after image), as mariadb-binlog --verbose prints it: a decimal integer,
// or a text key's bytes (see textKey).
type rowKey struct {
	touch
	key string
}

// primaryKey is a table's primary key when it is one integer, VARCHAR or
// VARBINARY column: its name and 1-based position (mariadb-binlog
// --verbose prints columns as @N). Text says it is VARCHAR or VARBINARY;
// its collation (the same on both sides) decides which rows a key finds.
type primaryKey struct {
	column    string
	ordinal   int
	unsigned  bool
	text      bool
	collation string
}

// rowsContext is the row event whose --verbose image lines follow: the
// table's key column, and how many keys and rows were seen.
type rowsContext struct {
	t          touch
	col        string // "@N="
	unsigned   bool
	text       bool
	keys, rows int
	bad        bool
}

const (
	sideSource = "source"
	sideTarget = "target"
	allTables  = "*"
)

// header is the comment mariadb-binlog prints before each event:
// "#261129  2:08:27 server id 3307  end_log_pos 2442 CRC32 0x76e60368 \tWrite_rows: table id 18 flags: STMT_END_F".
var header = regexp.MustCompile(`^#(\d{6})\s+(\d{1,2}:\d\d:\d\d)\s+server id\s+\d+\s+end_log_pos\s+(\d+)\s+(?:CRC32\s+0x[0-9a-fA-F]+\s+)?(.*)$`)

var tableMap = regexp.MustCompile("^Table_map: `((?:[^`]|``)+)`\\.`((?:[^`]|``)+)`")

// parser turns mariadb-binlog's output into units. Names maps a followed
// schema to its new name; other schemas' events only move the position,
// and those of the target schemas (targets) say which tables changed.
// Target events at or before since[schema] are not counted: they precede
// the proof of the data the follower applies to.
type parser struct {
	names   map[string]string
	targets map[string]bool
	since   map[string]Position
	// pks holds the primary key of each table (by tableID) whose changed
	// rows are recorded by key.
	pks  map[string]primaryKey
	emit func(unit) bool // false: stop
	rctx *rowsContext

	file   string
	db     string // the default schema of the statements that follow (use)
	typ    string // the current event's type
	end    int64  // the current event's end_log_pos
	at     time.Time
	inTxn  bool
	tables []touch // the Table_map events before the next BINLOG
	txn    unit
	stmt   strings.Builder
}

const delimiter = "/*!*/;"

// filter is what a stream keeps: names maps each followed schema to its
// target; since and pks are parser's.
type filter struct {
	names map[string]string
	since map[string]Position
	pks   map[string]primaryKey
}

func newParser(f filter, start Position, emit func(unit) bool) *parser {
	targets := map[string]bool{}
	for _, to := range f.names {
		targets[to] = true
	}
	return &parser{names: f.names, targets: targets, since: f.since, pks: f.pks, emit: emit, file: start.File, end: start.Pos}
}

// tableID keys a table in maps.
func tableID(schema, table string) string { return schema + "\x00" + table }

func (p *parser) pos() Position { return Position{File: p.file, Pos: p.end} }

// line handles one line of output; an error stops the stream.
func (p *parser) line(l string) (bool, error) {
	l = strings.TrimRight(l, "\r\n")
	if p.stmt.Len() == 0 && strings.HasPrefix(l, "#") {
		return p.comment(l), nil
	}
	if p.stmt.Len() == 0 && strings.TrimSpace(l) == "" {
		return true, nil
	}
	if p.stmt.Len() > 0 {
		p.stmt.WriteByte('\n')
	}
	if s, ok := strings.CutSuffix(l, delimiter); ok {
		p.stmt.WriteString(s)
		st := strings.TrimSpace(p.stmt.String())
		p.stmt.Reset()
		return p.statement(st)
	}
	p.stmt.WriteString(l)
	return true, nil
}

func (p *parser) comment(l string) bool {
	if strings.HasPrefix(l, "###") {
		p.image(l)
		return true
	}
	if n, ok := strings.CutPrefix(l, "# Number of rows: "); ok && p.rctx != nil {
		if v, err := strconv.Atoi(strings.TrimSpace(n)); err == nil {
			p.rctx.rows += v
		} else {
			p.rctx.bad = true
		}
		return true
	}
	m := header.FindStringSubmatch(l)
	if m == nil {
		return true
	}
	p.endRows()
	p.typ = strings.TrimSpace(m[4])
	p.end, _ = strconv.ParseInt(m[3], 10, 64)
	clock := m[2]
	if len(clock) == 7 {
		clock = "0" + clock
	}
	if t, err := time.Parse("060102 15:04:05", m[1]+" "+clock); err == nil {
		p.at = t
	}
	switch {
	case strings.HasPrefix(p.typ, "Rotate to "):
		f := strings.Fields(strings.TrimPrefix(p.typ, "Rotate to "))
		if len(f) > 0 {
			p.file = f[0]
		}
		if len(f) >= 3 && f[1] == "pos:" {
			p.end, _ = strconv.ParseInt(f[2], 10, 64)
		}
		return true
	case strings.HasPrefix(p.typ, "Table_map: "):
		if mm := tableMap.FindStringSubmatch(p.typ); mm != nil {
			p.tables = append(p.tables, touch{schema: strings.ReplaceAll(mm[1], "``", "`"), table: strings.ReplaceAll(mm[2], "``", "`")})
		}
		return true
	case strings.HasPrefix(p.typ, "GTID "):
		f := strings.Fields(p.typ)
		p.txn = unit{}
		if len(f) > 1 {
			p.txn.end.GTID = f[1]
		}
		p.inTxn = false
		return true
	case strings.HasPrefix(p.typ, "Gtid list"), strings.HasPrefix(p.typ, "Binlog checkpoint"), strings.HasPrefix(p.typ, "Stop"):
		// Events without statements: only the position moves.
		if !p.inTxn && p.end > 0 {
			return p.emit(unit{end: p.pos(), at: p.at})
		}
	}
	return true
}

func (p *parser) statement(st string) (bool, error) {
	p.endRows()
	upper := strings.ToUpper(st)
	switch {
	case st == "" || strings.HasPrefix(st, "/*!") || strings.HasPrefix(st, "/*M!") || strings.HasPrefix(upper, "DELIMITER"):
		return true, nil
	case strings.HasPrefix(upper, "USE "):
		p.db = unquoteIdent(strings.TrimSpace(st[4:]))
		return true, nil
	case strings.HasPrefix(upper, "SET "):
		return true, nil
	case strings.HasPrefix(upper, "BINLOG "):
		if strings.HasPrefix(p.typ, "Start:") {
			return p.emit(unit{fde: st}), nil
		}
		return p.rows(st)
	case upper == "BEGIN" || upper == "START TRANSACTION":
		p.inTxn = true
		p.txn.stmts, p.txn.events, p.txn.touched = nil, 0, nil
		return true, nil
	case upper == "COMMIT":
		p.inTxn = false
		u := p.txn
		gtid := u.end.GTID
		u.end, u.at = p.pos(), p.at
		u.end.GTID = gtid
		p.txn = unit{}
		return p.emit(u), nil
	case upper == "ROLLBACK":
		// A non-transactional table keeps what a rolled-back transaction
		// wrote to it: its tables still count as changed.
		p.inTxn = false
		touched, keys := p.txn.touched, p.txn.keys
		p.txn = unit{}
		return p.emit(unit{end: p.pos(), at: p.at, touched: touched, keys: keys}), nil
	case strings.HasPrefix(upper, "SAVEPOINT") || strings.HasPrefix(upper, "XA "):
		return true, nil
	}
	// Any other statement is a schema change (or a statement the row
	// format logs as such: TRUNCATE, CREATE TABLE ... SELECT): on a
	// followed schema it stops the follower, elsewhere it only moves the
	// position.
	if schema := touchesIn(p, st, p.names); schema != "" {
		at := p.pos()
		at.GTID = p.txn.end.GTID
		return false, &DDLError{Statement: shorten(st, 300), Schema: schema, At: at}
	}
	// On a target schema, a statement may have changed any of its tables
	// (a migration, or rows logged as a statement); one that creates the
	// schema or sets its options (character set, termshift's owner
	// comment) changes none.
	if schema := touchesIn(p, st, p.targets); schema != "" && !schemaOptions(upper) {
		p.target(touch{side: sideTarget, schema: schema, table: allTables})
	}
	if !p.inTxn {
		u := unit{end: p.pos(), at: p.at, touched: p.txn.touched}
		p.txn.touched = nil
		return p.emit(u), nil
	}
	return true, nil
}

// schemaOptions reports a statement (upper case) that creates a schema
// or changes its options, not its tables.
func schemaOptions(upper string) bool {
	f := strings.Fields(upper)
	return len(f) >= 2 && (f[0] == "CREATE" || f[0] == "ALTER") && (f[1] == "DATABASE" || f[1] == "SCHEMA")
}

// target counts a change of a target schema, unless it precedes the
// proof of that schema's data; it reports whether it counted.
func (p *parser) target(t touch) bool {
	if s, ok := p.since[t.schema]; ok && p.pos().Compare(s) <= 0 {
		return false
	}
	p.txn.touched = append(p.txn.touched, t)
	return true
}

// image reads a --verbose line of the last row event ("###   @N=value"):
// the value of its table's key column is a changed row's key.
func (p *parser) image(l string) {
	c := p.rctx
	if c == nil {
		return
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(strings.TrimPrefix(l, "###")), c.col)
	if !ok {
		return
	}
	if c.text {
		k, ok := textKey(v)
		if !ok {
			c.bad = true
			return
		}
		c.keys++
		p.txn.keys = append(p.txn.keys, rowKey{touch: c.t, key: k})
		return
	}
	// A negative value is printed as the signed value and then the
	// unsigned one, "-7 (4294967289)", whatever the column's sign: an
	// unsigned column's value is the second.
	if i := strings.Index(v, " ("); i >= 0 && strings.HasSuffix(v, ")") {
		if c.unsigned {
			v = v[i+2 : len(v)-1]
		} else {
			v = v[:i]
		}
	}
	if _, err := strconv.ParseInt(v, 10, 64); err != nil {
		if _, err := strconv.ParseUint(v, 10, 64); err != nil {
			c.bad = true
			return
		}
	}
	c.keys++
	p.txn.keys = append(p.txn.keys, rowKey{touch: c.t, key: v})
}

// maxTextKey is the longest text key recorded (touched_rows.pk is
// VARBINARY(255)); a longer one makes its table count as whole.
const maxTextKey = 255

// textKey reads a text key as mariadb-binlog --verbose prints it: its
// bytes, raw, between single quotes ('it's' is it's), except those under
// 0x20, printed as \xNN. A backslash is printed raw too, so '\x41' may be
// the four characters or a byte: only keys of printable ASCII without a
// backslash are read. Those bytes mean the same in the key's charset and
// in the client's (a UTF-16 or UTF-32 key holds zero bytes, printed
// escaped, so it is never read). Django's session keys, hex digests and
// slugs qualify; any other key is not recorded, and its table counts as
// whole.
func textKey(v string) (string, bool) {
	if len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' || len(v)-2 > maxTextKey {
		return "", false
	}
	v = v[1 : len(v)-1]
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e || v[i] == '\\' {
			return "", false
		}
	}
	return v, true
}

// endRows ends the --verbose lines of a row event: when they did not give
// a key for every row, any row of the table may have changed.
func (p *parser) endRows() {
	c := p.rctx
	if c == nil {
		return
	}
	p.rctx = nil
	if c.bad || c.rows == 0 || c.keys < c.rows {
		w := c.t
		w.byKey = false
		p.txn.touched = append(p.txn.touched, w)
	}
}

// keyed returns the touch of a row event's table, by key when the table
// has a primary key of one column (pks) and the event is in a transaction
// (its keys then reach the unit at COMMIT), and starts reading its
// --verbose lines.
func (p *parser) keyed(t touch, single bool) touch {
	pk, ok := p.pks[tableID(t.schema, t.table)]
	if !ok || !single || !p.inTxn {
		return t
	}
	t.byKey = true
	p.rctx = &rowsContext{t: t, col: "@" + strconv.Itoa(pk.ordinal) + "=", unsigned: pk.unsigned, text: pk.text}
	return t
}

// rows handles a BINLOG statement of row events: kept and renamed when its
// tables are all in followed schemas, dropped when none is.
func (p *parser) rows(st string) (bool, error) {
	tables := p.tables
	p.tables = nil
	ours, others := 0, 0
	var names []string
	for _, t := range tables {
		names = append(names, t.schema)
		switch _, ok := p.names[t.schema]; {
		case ok:
			ours++
		case p.targets[t.schema]:
			others++
			tt := touch{side: sideTarget, schema: t.schema, table: t.table}
			if p.target(p.keyed(tt, len(tables) == 1)) {
				continue
			}
			p.rctx = nil
		default:
			others++
		}
	}
	if ours == 0 {
		if !p.inTxn {
			u := unit{end: p.pos(), at: p.at, touched: p.txn.touched}
			p.txn.touched = nil
			return p.emit(u), nil
		}
		return true, nil
	}
	if others > 0 {
		return false, fmt.Errorf("a statement at %s changes rows of followed and other schemas at once (%s): it cannot be applied in part: %w", p.pos(), strings.Join(names, ", "), termshift.ErrInvalid)
	}
	renamed, n, err := renameRows(st, p.names)
	if err != nil {
		return false, fmt.Errorf("row events at %s: %w", p.pos(), err)
	}
	for _, t := range tables {
		p.txn.touched = append(p.txn.touched, p.keyed(touch{side: sideSource, schema: t.schema, table: t.table}, len(tables) == 1))
	}
	p.txn.stmts = append(p.txn.stmts, renamed)
	p.txn.events += n
	if !p.inTxn {
		// A non-transactional table's rows come without BEGIN/COMMIT.
		u := p.txn
		u.end, u.at = p.pos(), p.at
		p.txn = unit{}
		return p.emit(u), nil
	}
	return true, nil
}

// touchesIn names the schema of set (its keys) a statement changes: the
// default schema, or one the statement names.
func touchesIn[V any](p *parser, st string, set map[string]V) string {
	if _, ok := set[p.db]; ok {
		return p.db
	}
	low := strings.ToLower(st)
	for name := range set {
		n := strings.ToLower(name)
		for i := 0; ; {
			j := strings.Index(low[i:], n)
			if j < 0 {
				break
			}
			j += i
			before, after := byte(' '), byte(' ')
			if j > 0 {
				before = low[j-1]
			}
			if j+len(n) < len(low) {
				after = low[j+len(n)]
			}
			if !identByte(before) && !identByte(after) {
				return name
			}
			i = j + len(n)
		}
	}
	return ""
}

func identByte(b byte) bool {
	return b == '_' || b == '$' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b >= 0x80
}

func unquoteIdent(s string) string {
	if len(s) >= 2 && s[0] == '`' && s[len(s)-1] == '`' {
		return strings.ReplaceAll(s[1:len(s)-1], "``", "`")
	}
	return s
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// stream runs mariadb-binlog from start and feeds parsed units to emit
// until ctx ends, emit says stop, or an error (a DDLError among them).
type stream struct {
	binary   string
	addr     string // host:port
	user     string
	password termshift.Secret
	serverID int
}

func (s *stream) run(ctx context.Context, start Position, f filter, emit func(unit) bool) error {
	host, port, ok := strings.Cut(s.addr, ":")
	if !ok {
		port = "3306"
	}
	args := []string{
		"--read-from-remote-server", "--protocol=tcp", "--host=" + host, "--port=" + port, "--user=" + s.user,
		"--stop-never", "--stop-never-slave-server-id=" + strconv.Itoa(s.serverID), "--verbose",
		"--start-position=" + strconv.FormatInt(start.Pos, 10), start.File,
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.binary, args...)
	// The password goes through the environment (MYSQL_PWD), never argv;
	// TZ=UTC makes the events' printed times UTC.
	env := []string{"TZ=UTC", "MYSQL_PWD=" + s.password.Reveal()}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "MYSQL_PWD" && k != "TZ" && !strings.HasPrefix(k, "TERMSHIFT_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	stderr := &tail{max: 4096}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("mariadb-binlog: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return termshift.WithHint(fmt.Errorf("start %s: %w", s.binary, err), "install mariadb-client (Debian) or set the path of mariadb-binlog")
	}
	p := newParser(f, start, emit)
	r := bufio.NewReaderSize(out, 1<<20)
	var perr error
	for {
		l, err := r.ReadString('\n')
		if l != "" {
			more, e := p.line(l)
			if e != nil {
				perr = e
				break
			}
			if !more {
				break
			}
		}
		if err != nil {
			break
		}
	}
	cancel()
	go func() { _, _ = io.Copy(io.Discard, out) }()
	werr := cmd.Wait()
	if perr != nil {
		return perr
	}
	if ctx.Err() != nil {
		return nil
	}
	msg := strings.TrimSpace(stderr.String())
	if strings.Contains(msg, "Could not find first log file") || strings.Contains(msg, "could not find next log") || strings.Contains(msg, "purged") {
		return fmt.Errorf("mariadb-binlog on %s from %s: %s: %w", s.addr, start, msg, ErrPurged)
	}
	if werr != nil {
		return fmt.Errorf("mariadb-binlog on %s from %s stopped: %w: %s", s.addr, start, werr, msg)
	}
	return fmt.Errorf("mariadb-binlog on %s from %s ended: %s", s.addr, start, msg)
}

// tail keeps the last bytes written to it (a child's stderr).
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
