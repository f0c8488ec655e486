package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"

	"github.com/termshift/termshift"
)

// schema is one schema of the snapshot and the statements that recreate it.
type schema struct {
	server, name string // on the server, in the backup
	createDB     string // SHOW CREATE DATABASE, renamed, without COMMENT
	tables       []*table
	views        []*view
	post         []byte // routines and events: DB-schema-post.sql, or nil
}

// table is one base table: how to read it and where its rows go.
type table struct {
	schema *schema
	name   string
	// Statistics read before the lock, for Changes.
	autoIncrement sql.NullInt64
	updated       sql.NullString
	estimate      int64 // TABLE_ROWS
	// From the snapshot.
	create     []byte // DB.T-schema.sql
	triggers   []byte // DB.T-schema-triggers.sql, or nil
	columns    []column
	colList    string // " (`a`,`b`)" when some columns are not dumped (generated), else ""
	selectList string
	pk         string // the integer primary key column, "" when the table cannot be cut
	chunks     []chunk
	atomicTableProgress
}

type column struct {
	name    string
	numeric bool
}

// chunk is one data file: the rows of a primary key range.
type chunk struct {
	file  string
	where string // "" for the whole table
}

type view struct {
	name        string
	placeholder []byte // DB.V-schema.sql: a table with the view's columns
	create      []byte // DB.V-schema-view.sql
}

func (t *table) qualified() string {
	return termshift.QuoteMySQL(t.schema.server) + "." + termshift.QuoteMySQL(t.name)
}

// readTables lists the schema's tables and views with their statistics.
func (sc *schema) readTables(ctx context.Context, c *sql.Conn) error {
	rows, err := c.QueryContext(ctx, `SELECT TABLE_NAME, TABLE_TYPE, AUTO_INCREMENT, CAST(UPDATE_TIME AS CHAR), COALESCE(TABLE_ROWS, 0)
FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME`, sc.server)
	if err != nil {
		return fmt.Errorf("list tables of %s: %w", termshift.Quote(sc.server), err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, typ string
		t := &table{schema: sc}
		if err := rows.Scan(&name, &typ, &t.autoIncrement, &t.updated, &t.estimate); err != nil {
			return fmt.Errorf("list tables of %s: %w", termshift.Quote(sc.server), err)
		}
		if strings.ContainsAny(name, "/\\\x00") {
			return fmt.Errorf("table %s.%s: a name with a slash cannot be a file name in a mydumper directory: %w", termshift.Quote(sc.server), termshift.Quote(name), termshift.ErrInvalid)
		}
		switch {
		case typ == "VIEW":
			sc.views = append(sc.views, &view{name: name})
		case strings.EqualFold(name, MarkerTable):
			// tenancy's ownership marker
		case typ == "BASE TABLE" || typ == "SYSTEM VERSIONED":
			t.name = name
			sc.tables = append(sc.tables, t)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("list tables of %s: %w", termshift.Quote(sc.server), err)
	}
	return nil
}

// setNames is the header of every schema and data file mydumper writes.
const setNames = "/*!40101 SET NAMES binary*/;\n"

// charsetBlock saves the session's character set, sets the one an object
// was created with, and restores it: mydumper's frame around views,
// triggers and routines.
func charsetBlock(client, collation string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString("SET @PREV_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT;\nSET @PREV_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS;\nSET @PREV_COLLATION_CONNECTION=@@COLLATION_CONNECTION;\n")
	fmt.Fprintf(&b, "SET character_set_client = %s;\nSET character_set_results = %s;\nSET collation_connection = %s;\n", client, client, collation)
	b.Write(body)
	b.WriteString("SET character_set_client = @PREV_CHARACTER_SET_CLIENT;\nSET character_set_results = @PREV_CHARACTER_SET_RESULTS;\nSET collation_connection = @PREV_COLLATION_CONNECTION;\n")
	return b.Bytes()
}

// bodyLines makes a routine or trigger body safe for myloader's splitter,
// which ends a statement at ";\n": mydumper writes "; \n" inside bodies,
// and restore/mysql reads it back.
func bodyLines(s string) string {
	s = strings.TrimRight(s, "; \n")
	return strings.ReplaceAll(s, ";\n", "; \n") + ";\n"
}

var commentRE = regexp.MustCompile(`(?i)\s+COMMENT\s*=?\s*'(?:[^'\\]|\\.|'')*'`)

// readDDL reads, inside the snapshot, what recreates the schema: the
// database, every table with its columns, primary key and triggers, views,
// routines and events. References to the schema by its server name are
// renamed to its backup name.
func (sc *schema) readDDL(ctx context.Context, c *sql.Conn) error {
	q := termshift.QuoteMySQL(sc.server)
	if _, err := c.ExecContext(ctx, "USE "+q); err != nil {
		return fmt.Errorf("use %s: %w", termshift.Quote(sc.server), err)
	}
	var name, create string
	if err := c.QueryRowContext(ctx, "SHOW CREATE DATABASE "+q).Scan(&name, &create); err != nil {
		return fmt.Errorf("show create database %s: %w", termshift.Quote(sc.server), err)
	}
	// The schema comment is tenancy's ownership marker of the release backed
	// up: it does not travel.
	create = commentRE.ReplaceAllString(create, "")
	sc.createDB = rename(create, sc.server, sc.name) + ";\n"
	info, err := sc.readColumns(ctx, c)
	if err != nil {
		return err
	}
	for _, t := range sc.tables {
		if err := t.readDDL(ctx, c, info); err != nil {
			return err
		}
	}
	for _, v := range sc.views {
		if err := sc.readView(ctx, c, v); err != nil {
			return err
		}
	}
	return sc.readPost(ctx, c)
}

// schemaInfo is what information_schema says of a schema's tables, read
// in one query per kind: columns, primary keys, triggers.
type schemaInfo struct {
	columns  map[string][]columnInfo
	pk       map[string][]columnInfo
	triggers map[string][]string
}

type columnInfo struct{ name, typ, extra string }

func (sc *schema) readColumns(ctx context.Context, c *sql.Conn) (*schemaInfo, error) {
	info := &schemaInfo{columns: map[string][]columnInfo{}, pk: map[string][]columnInfo{}, triggers: map[string][]string{}}
	read := func(what, q string, each func(table string, vals []string)) error {
		rows, err := c.QueryContext(ctx, q, sc.server)
		if err != nil {
			return fmt.Errorf("%s of %s: %w", what, termshift.Quote(sc.server), err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return fmt.Errorf("%s of %s: %w", what, termshift.Quote(sc.server), err)
			}
			strs := make([]string, len(vals)-1)
			for i, v := range vals[1:] {
				strs[i] = v.String
			}
			each(vals[0].String, strs)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%s of %s: %w", what, termshift.Quote(sc.server), err)
		}
		return nil
	}
	if err := read("columns", `SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, EXTRA FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION`, func(t string, v []string) {
		info.columns[t] = append(info.columns[t], columnInfo{name: v[0], typ: v[1], extra: v[2]})
	}); err != nil {
		return nil, err
	}
	if err := read("primary keys", `SELECT s.TABLE_NAME, s.COLUMN_NAME, c.DATA_TYPE FROM information_schema.STATISTICS s
JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME
WHERE s.TABLE_SCHEMA = ? AND s.INDEX_NAME = 'PRIMARY'`, func(t string, v []string) {
		info.pk[t] = append(info.pk[t], columnInfo{name: v[0], typ: v[1]})
	}); err != nil {
		return nil, err
	}
	if err := read("triggers", `SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS
WHERE EVENT_OBJECT_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER`, func(t string, v []string) {
		info.triggers[t] = append(info.triggers[t], v[0])
	}); err != nil {
		return nil, err
	}
	return info, nil
}

func (t *table) readDDL(ctx context.Context, c *sql.Conn, info *schemaInfo) error {
	sc := t.schema
	var name, create string
	if err := c.QueryRowContext(ctx, "SHOW CREATE TABLE "+t.qualified()).Scan(&name, &create); err != nil {
		return fmt.Errorf("show create table %s.%s: %w", termshift.Quote(sc.server), termshift.Quote(t.name), err)
	}
	t.create = []byte(setNames + "/*!40014 SET FOREIGN_KEY_CHECKS=0*/;\n\n/*!40103 SET TIME_ZONE='+00:00' */;\n" + rename(create, sc.server, sc.name) + ";\n")
	var dumped []string
	skipped := false
	for _, col := range info.columns[t.name] {
		extra := strings.ToUpper(col.extra)
		if strings.Contains(extra, "GENERATED") || strings.Contains(extra, "VIRTUAL") || strings.Contains(extra, "PERSISTENT") {
			skipped = true // computed again by the server on insert
			continue
		}
		if strings.Contains(extra, "INVISIBLE") {
			skipped = true // SELECT * would leave it out: name it
		}
		dumped = append(dumped, termshift.QuoteMySQL(col.name))
		t.columns = append(t.columns, column{name: col.name, numeric: numericType(col.typ)})
	}
	if len(t.columns) == 0 {
		return fmt.Errorf("table %s.%s has no column to dump: %w", termshift.Quote(sc.server), termshift.Quote(t.name), termshift.ErrInvalid)
	}
	t.selectList = strings.Join(dumped, ",")
	if skipped {
		t.colList = " (" + t.selectList + ")"
	}
	if pk := info.pk[t.name]; len(pk) == 1 && integerType(pk[0].typ) {
		t.pk = termshift.QuoteMySQL(pk[0].name)
	}
	return t.readTriggers(ctx, c, info.triggers[t.name])
}

// numericType reports the types mydumper writes unquoted.
func numericType(typ string) bool {
	switch strings.ToLower(typ) {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric", "float", "double", "real", "year":
		return true
	}
	return false
}

func integerType(typ string) bool {
	switch strings.ToLower(typ) {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return true
	}
	return false
}

func (t *table) readTriggers(ctx context.Context, c *sql.Conn, names []string) error {
	var b bytes.Buffer
	for _, n := range names {
		vals, err := showCreate(ctx, c, "SHOW CREATE TRIGGER "+termshift.QuoteMySQL(n))
		if err != nil {
			return fmt.Errorf("show create trigger %s.%s: %w", termshift.Quote(t.schema.server), termshift.Quote(n), err)
		}
		// Trigger, sql_mode, SQL Original Statement, character_set_client, collation_connection, ...
		if len(vals) < 5 {
			return fmt.Errorf("show create trigger %s.%s: %d columns: %w", termshift.Quote(t.schema.server), termshift.Quote(n), len(vals), termshift.ErrInvalid)
		}
		b.Write(charsetBlock(vals[3], vals[4], []byte(bodyLines(rename(vals[2], t.schema.server, t.schema.name)))))
	}
	if b.Len() > 0 {
		t.triggers = b.Bytes()
	}
	return nil
}

func (sc *schema) readView(ctx context.Context, c *sql.Conn, v *view) error {
	qv := termshift.QuoteMySQL(v.name)
	vals, err := showCreate(ctx, c, "SHOW CREATE VIEW "+termshift.QuoteMySQL(sc.server)+"."+qv)
	if err != nil {
		return fmt.Errorf("show create view %s.%s: %w", termshift.Quote(sc.server), termshift.Quote(v.name), err)
	}
	// View, Create View, character_set_client, collation_connection
	if len(vals) < 4 {
		return fmt.Errorf("show create view %s.%s: %d columns: %w", termshift.Quote(sc.server), termshift.Quote(v.name), len(vals), termshift.ErrInvalid)
	}
	var b bytes.Buffer
	b.WriteString(setNames)
	fmt.Fprintf(&b, "DROP TABLE IF EXISTS %s;\nDROP VIEW IF EXISTS %s;\n", qv, qv)
	b.Write(charsetBlock(vals[2], vals[3], []byte(rename(vals[1], sc.server, sc.name)+";\n")))
	v.create = b.Bytes()
	cols, err := listStrings(ctx, c, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", sc.server, v.name)
	if err != nil {
		return fmt.Errorf("columns of view %s.%s: %w", termshift.Quote(sc.server), termshift.Quote(v.name), err)
	}
	var p bytes.Buffer
	p.WriteString(setNames)
	fmt.Fprintf(&p, "CREATE TABLE %s(\n", qv)
	for i, col := range cols {
		sep := ",\n"
		if i == len(cols)-1 {
			sep = "\n"
		}
		fmt.Fprintf(&p, "%s int%s", termshift.QuoteMySQL(col), sep)
	}
	p.WriteString(")ENGINE=MyISAM;\n")
	v.placeholder = p.Bytes()
	return nil
}

// readPost reads the routines and events into DB-schema-post.sql.
func (sc *schema) readPost(ctx context.Context, c *sql.Conn) error {
	var b bytes.Buffer
	for _, kind := range []string{"FUNCTION", "PROCEDURE"} {
		names, err := listStrings(ctx, c, "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = ? ORDER BY ROUTINE_NAME", sc.server, kind)
		if err != nil {
			return fmt.Errorf("%s list of %s: %w", strings.ToLower(kind), termshift.Quote(sc.server), err)
		}
		for _, n := range names {
			qn := termshift.QuoteMySQL(n)
			vals, err := showCreate(ctx, c, "SHOW CREATE "+kind+" "+termshift.QuoteMySQL(sc.server)+"."+qn)
			if err != nil {
				return fmt.Errorf("show create %s %s.%s: %w", strings.ToLower(kind), termshift.Quote(sc.server), termshift.Quote(n), err)
			}
			// Name, sql_mode, Create ..., character_set_client, collation_connection, Database Collation
			if len(vals) < 5 || vals[2] == "" {
				return fmt.Errorf("show create %s %s.%s: no definition (the admin user may lack the privilege to read it): %w",
					strings.ToLower(kind), termshift.Quote(sc.server), termshift.Quote(n), termshift.ErrInvalid)
			}
			body := fmt.Sprintf("DROP %s IF EXISTS %s;\n%s", kind, qn, bodyLines(rename(vals[2], sc.server, sc.name)))
			b.Write(charsetBlock(vals[3], vals[4], []byte(body)))
		}
	}
	events, err := listStrings(ctx, c, "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME", sc.server)
	if err != nil {
		return fmt.Errorf("event list of %s: %w", termshift.Quote(sc.server), err)
	}
	for _, n := range events {
		qn := termshift.QuoteMySQL(n)
		vals, err := showCreate(ctx, c, "SHOW CREATE EVENT "+termshift.QuoteMySQL(sc.server)+"."+qn)
		if err != nil {
			return fmt.Errorf("show create event %s.%s: %w", termshift.Quote(sc.server), termshift.Quote(n), err)
		}
		// Event, sql_mode, time_zone, Create Event, character_set_client, collation_connection, ...
		if len(vals) < 6 {
			return fmt.Errorf("show create event %s.%s: %d columns: %w", termshift.Quote(sc.server), termshift.Quote(n), len(vals), termshift.ErrInvalid)
		}
		body := fmt.Sprintf("DROP EVENT IF EXISTS %s;\n%s", qn, bodyLines(rename(vals[3], sc.server, sc.name)))
		b.Write(charsetBlock(vals[4], vals[5], []byte(body)))
	}
	if b.Len() > 0 {
		sc.post = b.Bytes()
	}
	return nil
}

// plan cuts a table on its integer primary key into data files of about
// chunkRows rows each (by the server's estimate of its rows), reading the
// key's range inside the snapshot. Other tables are one data file.
func (t *table) plan(ctx context.Context, c *sql.Conn, chunkRows int64) error {
	base := t.schema.name + "." + t.name
	if t.pk == "" || t.estimate <= chunkRows {
		// An empty table gets no data file, as with mydumper.
		var one int
		err := c.QueryRowContext(ctx, "SELECT 1 FROM "+t.qualified()+" LIMIT 1").Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("read %s.%s: %w", termshift.Quote(t.schema.server), termshift.Quote(t.name), err)
		}
		t.chunks = []chunk{{file: base + ".sql"}}
		return nil
	}
	var lo, hi sql.NullString
	if err := c.QueryRowContext(ctx, "SELECT MIN("+t.pk+"), MAX("+t.pk+") FROM "+t.qualified()).Scan(&lo, &hi); err != nil {
		return fmt.Errorf("key range of %s.%s: %w", termshift.Quote(t.schema.server), termshift.Quote(t.name), err)
	}
	bounds := cut(lo.String, hi.String, (t.estimate+chunkRows-1)/chunkRows)
	if !lo.Valid || len(bounds) == 0 {
		t.chunks = []chunk{{file: base + ".sql"}}
		return nil
	}
	for i := 0; i <= len(bounds); i++ {
		var where string
		switch {
		case i == 0:
			where = t.pk + " < " + bounds[0]
		case i == len(bounds):
			where = t.pk + " >= " + bounds[i-1]
		default:
			where = t.pk + " >= " + bounds[i-1] + " AND " + t.pk + " < " + bounds[i]
		}
		t.chunks = append(t.chunks, chunk{file: fmt.Sprintf("%s.%05d.sql", base, i), where: where})
	}
	return nil
}

// cut returns the n-1 inner bounds that split [lo, hi] into n ranges of
// equal width, as decimal integers; none when the range is too small.
func cut(lo, hi string, n int64) []string {
	l, ok1 := new(big.Int).SetString(lo, 10)
	h, ok2 := new(big.Int).SetString(hi, 10)
	if !ok1 || !ok2 || n < 2 {
		return nil
	}
	width := new(big.Int).Sub(h, l)
	width.Add(width, big.NewInt(1))
	if width.Cmp(big.NewInt(n)) < 0 {
		n = width.Int64()
	}
	var out []string
	for i := int64(1); i < n; i++ {
		b := new(big.Int).Mul(width, big.NewInt(i))
		b.Div(b, big.NewInt(n))
		b.Add(b, l)
		out = append(out, b.String())
	}
	return out
}

func listStrings(ctx context.Context, c *sql.Conn, q string, args ...any) ([]string, error) {
	rows, err := c.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// showCreate runs a SHOW CREATE statement and returns its one row's
// columns as strings (NULL as "").
func showCreate(ctx context.Context, c *sql.Conn, q string) ([]string, error) {
	rows, err := c.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: no row: %w", q, termshift.ErrNotFound)
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make([]string, len(cols))
	for i, v := range vals {
		out[i] = v.String
	}
	return out, rows.Err()
}
