package scrub

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/termshift/termshift"
)

// MySQLOptions says which schema to scrub.
type MySQLOptions struct {
	DSN    termshift.Secret // a go-sql-driver DSN; its database is replaced by Schema
	Schema string
	// Salt keys the hash action; use one per environment, so hashes cannot
	// be joined across environments or reversed from a dictionary.
	Salt   termshift.Secret
	Logger *slog.Logger
	// Threads is how many key ranges of a table are rewritten at once,
	// each on its own connection; below 1 means DefaultMySQLThreads.
	Threads int
}

// DefaultMySQLThreads is how many ranges a scrub rewrites at once unless
// told otherwise: enough to keep a server's cores and its disk busy, few
// enough that row locks stay on a handful of ranges.
const DefaultMySQLThreads = 4

// mysqlBatch is how many rows one UPDATE rewrites: small enough to keep
// locks and undo short, large enough that round trips do not dominate.
// Measured on 1M auth_user rows with 4 threads (MariaDB 10.11, a 128 MiB
// buffer pool): 2,500 rows 91-116k rows/s, 10,000 84-89k, 25,000 72k.
const mysqlBatch = 2500

// mysqlTable is what the scrub needs to know of a table.
type mysqlTable struct {
	name    string
	columns map[string]mysqlColumn
	pk      []string
}

type mysqlColumn struct {
	dataType  string
	maxLen    int64 // characters; 0 for non-character columns
	nullable  bool
	character bool
}

// ScrubMySQL applies the mysql rules to opts.Schema. Each table is
// rewritten in primary-key ranges of mysqlBatch rows, one UPDATE per range
// setting every scrubbed column, opts.Threads ranges at once; the new values
// are computed by the server (CONCAT for emails, SHA2 for hashes), so no row
// crosses the network; {{id}} is the row's primary key, or a row
// number when the table has no single-column primary key (then the table
// is rewritten in one UPDATE). Rules on a table or column the schema lacks
// are skipped with a warning.
func ScrubMySQL(ctx context.Context, rules []Rule, opts MySQLOptions) (*Report, error) {
	started := time.Now()
	if err := ValidateRules(rules); err != nil {
		return nil, err
	}
	rules = forService(rules, termshift.MySQL)
	if needsSalt(rules) && opts.Salt.Reveal() == "" {
		return nil, fmt.Errorf("scrub MySQL schema %s: hash rules need a salt: %w", termshift.Quote(opts.Schema), termshift.ErrInvalid)
	}
	logger := loggerOr(opts.Logger).With("schema", opts.Schema)
	db, err := openMySQL(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer db.Close()

	rep := &Report{}
	plan, warnings, err := planMySQL(ctx, db, opts.Schema, rules)
	if err != nil {
		return nil, err
	}
	rep.Warnings = warnings
	for _, w := range warnings {
		logger.Warn(w)
	}
	threads := opts.Threads
	if threads < 1 {
		threads = DefaultMySQLThreads
	}
	db.SetMaxOpenConns(threads + 1) // the ranges' updates and the walk that finds them
	db.SetMaxIdleConns(threads + 1)
	for _, tp := range plan {
		rows, err := scrubTable(ctx, db, tp, opts.Salt, threads)
		if err != nil {
			rep.Seconds = time.Since(started).Seconds()
			return rep, fmt.Errorf("scrub MySQL table %s.%s: %w", opts.Schema, tp.table.name, err)
		}
		for _, r := range tp.rules {
			rep.Tables = append(rep.Tables, TableScrub{Table: r.Table, Column: r.Column, Action: r.Action, Rows: rows})
		}
		logger.Info("scrubbed", "table", tp.table.name, "rows", rows, "columns", len(tp.rules))
	}
	rep.Seconds = time.Since(started).Seconds()
	return rep, nil
}

func loggerOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

func openMySQL(ctx context.Context, opts MySQLOptions) (*sql.DB, error) {
	if err := termshift.ValidateMySQLIdent("MySQL schema", opts.Schema); err != nil {
		return nil, fmt.Errorf("scrub: %w", err)
	}
	cfg, err := mysql.ParseDSN(opts.DSN.Reveal())
	if err != nil {
		// The driver's message does not repeat the DSN.
		return nil, fmt.Errorf("scrub MySQL schema %s: parse DSN: %w", termshift.Quote(opts.Schema), err)
	}
	cfg.DBName = opts.Schema
	cfg.ClientFoundRows = true // RowsAffected counts matched rows, not only changed ones
	// Arguments go inside the statement: one round trip per UPDATE rather
	// than prepare, execute and close.
	cfg.InterpolateParams = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("scrub MySQL schema %s on %s: %w", termshift.Quote(opts.Schema), cfg.Addr, err)
	}
	db := sql.OpenDB(conn)
	var n int
	err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", opts.Schema).Scan(&n)
	var myErr *mysql.MySQLError
	if (err == nil && n == 0) || (errors.As(err, &myErr) && myErr.Number == 1049) { // ER_BAD_DB_ERROR
		err = fmt.Errorf("schema does not exist: %w", termshift.ErrNotFound)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("scrub MySQL schema %s on %s: %w", termshift.Quote(opts.Schema), cfg.Addr, err)
	}
	return db, nil
}

// tablePlan is the rules of one table that exists, with the table's shape.
type tablePlan struct {
	table *mysqlTable
	rules []Rule
}

// planMySQL groups rules by table in rule order, skipping (with a
// warning) rules on tables or columns that do not exist, and refuses rules
// that cannot work on the column they name.
func planMySQL(ctx context.Context, db *sql.DB, schema string, rules []Rule) ([]tablePlan, []string, error) {
	var plans []tablePlan
	var warnings []string
	byTable := map[string]int{}
	tables := map[string]*mysqlTable{}
	var problems []string
	for _, r := range rules {
		t, ok := tables[r.Table]
		if !ok {
			var err error
			t, err = describeTable(ctx, db, schema, r.Table)
			if err != nil {
				return nil, nil, err
			}
			tables[r.Table] = t
		}
		if t == nil {
			warnings = append(warnings, fmt.Sprintf("skipped %s: table %s does not exist in schema %s", r, r.Table, schema))
			continue
		}
		col, ok := t.columns[r.Column]
		if !ok {
			warnings = append(warnings, fmt.Sprintf("skipped %s: column %s does not exist in %s.%s", r, r.Column, schema, r.Table))
			continue
		}
		if p := columnProblem(r, col, t); p != "" {
			problems = append(problems, fmt.Sprintf("%s: %s", r, p))
			continue
		}
		i, ok := byTable[r.Table]
		if !ok {
			i = len(plans)
			byTable[r.Table] = i
			plans = append(plans, tablePlan{table: t})
		}
		plans[i].rules = append(plans[i].rules, r)
	}
	if len(problems) > 0 {
		return nil, nil, fmt.Errorf("scrub rules do not fit schema %s:\n  %s: %w", schema, strings.Join(problems, "\n  "), termshift.ErrInvalid)
	}
	return plans, warnings, nil
}

func columnProblem(r Rule, col mysqlColumn, t *mysqlTable) string {
	for _, k := range t.pk {
		if k == r.Column {
			return "the column is part of the primary key, which other tables refer to"
		}
	}
	switch r.Action {
	case ActionNull:
		if !col.nullable {
			return "the column is NOT NULL; use fixed instead"
		}
	case ActionEmail, ActionHash, ActionUnusablePassword:
		if !col.character {
			return fmt.Sprintf("action %s needs a character column, not %s", r.Action, col.dataType)
		}
		if r.Action == ActionUnusablePassword && col.maxLen < unusablePasswordLen {
			return fmt.Sprintf("an unusable password needs %d characters, the column holds %d", unusablePasswordLen, col.maxLen)
		}
	}
	return ""
}

// describeTable returns nil, nil when the table does not exist.
func describeTable(ctx context.Context, db *sql.DB, schema, table string) (*mysqlTable, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT COLUMN_NAME, DATA_TYPE, COALESCE(CHARACTER_MAXIMUM_LENGTH, 0), IS_NULLABLE = 'YES', COLUMN_KEY
		FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
		ORDER BY ORDINAL_POSITION`, schema, table)
	if err != nil {
		return nil, fmt.Errorf("describe %s.%s: %w", schema, table, err)
	}
	defer rows.Close()
	t := &mysqlTable{name: table, columns: map[string]mysqlColumn{}}
	for rows.Next() {
		var name, dataType, key string
		var c mysqlColumn
		if err := rows.Scan(&name, &dataType, &c.maxLen, &c.nullable, &key); err != nil {
			return nil, fmt.Errorf("describe %s.%s: %w", schema, table, err)
		}
		c.dataType = strings.ToLower(dataType)
		switch c.dataType {
		case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
			c.character = true
		}
		t.columns[name] = c
		if key == "PRI" {
			t.pk = append(t.pk, name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("describe %s.%s: %w", schema, table, err)
	}
	if len(t.columns) == 0 {
		return nil, nil
	}
	return t, nil
}

// setClause returns "`col` = expr" for one rule and its arguments. idExpr
// is the SQL of the row's {{id}}.
func setClause(r Rule, col mysqlColumn, idExpr string, salt termshift.Secret) (string, []any) {
	c := termshift.QuoteMySQL(r.Column)
	keepNull := func(expr string) string {
		if !col.nullable {
			return c + " = " + expr
		}
		return fmt.Sprintf("%s = CASE WHEN %s IS NULL THEN NULL ELSE %s END", c, c, expr)
	}
	switch r.Action {
	case ActionFixed:
		return c + " = ?", []any{r.Value}
	case ActionNull:
		return c + " = NULL", nil
	case ActionEmail:
		before, after, _ := strings.Cut(r.EmailTemplate(), idPlaceholder)
		return keepNull(fmt.Sprintf("CONCAT(?, %s, ?)", idExpr)), []any{before, after}
	case ActionHash:
		return keepNull(fmt.Sprintf("LEFT(SHA2(CONCAT(?, %s), 256), %d)", c, hashLen(col))), []any{salt.Reveal()}
	case ActionUnusablePassword:
		// The SHA-1 (40 hex digits) of a random key drawn for this scrub
		// and the row's {{id}} stands in for Django's 40 random
		// characters: distinct per row, unguessable once the key is
		// forgotten, and a third of the cost of UUID() and SHA2 per row.
		// No password hashes to a "!" value.
		return keepNull(fmt.Sprintf("CONCAT('!', SHA1(CONCAT(?, %s)))", idExpr)), []any{randomKey()}
	}
	panic("scrub: unvalidated action " + r.Action)
}

// randomKey is 32 random bytes in hex.
func randomKey() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b)
}

func hashLen(col mysqlColumn) int64 {
	if col.maxLen > 0 && col.maxLen < 64 {
		return col.maxLen
	}
	return 64
}

// keyRange is one batch of a table: the rows whose key is above lo (nil:
// from the first row) and at most hi (nil: to the last row).
type keyRange struct {
	lo, hi any
}

func (r keyRange) String() string {
	lo, hi := "the first row", "the last row"
	if r.lo != nil {
		lo = keyString(r.lo)
	}
	if r.hi != nil {
		hi = keyString(r.hi)
	}
	return fmt.Sprintf("key range (%s, %s]", lo, hi)
}

func keyString(k any) string {
	switch v := k.(type) {
	case *int64:
		return fmt.Sprint(*v)
	case *string:
		return termshift.Quote(*v)
	}
	return fmt.Sprint(k)
}

// scrubTable rewrites a table with a single-column primary key in ranges
// of mysqlBatch rows: it finds every range first (denseRanges, else
// walkRanges), then threads goroutines, each on its own connection, run one
// UPDATE per range. Ranges do not overlap and the key is
// never scrubbed, so the boundaries hold while the updates run.
func scrubTable(ctx context.Context, db *sql.DB, tp tablePlan, salt termshift.Secret, threads int) (int64, error) {
	t := tp.table
	table := termshift.QuoteMySQL(t.name)
	if len(t.pk) != 1 {
		return scrubTableByRowNumber(ctx, db, tp, salt)
	}
	pk := termshift.QuoteMySQL(t.pk[0])
	var sets []string
	var args []any
	for _, r := range tp.rules {
		s, a := setClause(r, t.columns[r.Column], pk, salt)
		sets = append(sets, s)
		args = append(args, a...)
	}
	update := fmt.Sprintf("UPDATE %s SET %s", table, strings.Join(sets, ", "))
	nextEnd := fmt.Sprintf("SELECT %s FROM %s WHERE %s > ? ORDER BY %s LIMIT 1 OFFSET %d", pk, table, pk, pk, mysqlBatch-1)
	firstEnd := fmt.Sprintf("SELECT %s FROM %s ORDER BY %s LIMIT 1 OFFSET %d", pk, table, pk, mysqlBatch-1)

	// Keys go back to the server in their own type, so a character key is
	// compared in its collation, the one ORDER BY used.
	newKey := func() any { return new(string) }
	if strings.HasSuffix(t.columns[t.pk[0]].dataType, "int") {
		newKey = func() any { return new(int64) }
	}

	todo, err := denseRanges(ctx, db, t, pk)
	if err != nil {
		return 0, err
	}
	if todo == nil {
		if todo, err = walkRanges(ctx, db, firstEnd, nextEnd, newKey); err != nil {
			return 0, err
		}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ranges := make(chan keyRange)
	var (
		wg    sync.WaitGroup
		total atomic.Int64
	)
	for range min(threads, len(todo)) {
		wg.Go(func() {
			for r := range ranges {
				q, a := update, append([]any{}, args...)
				switch {
				case r.lo == nil && r.hi == nil:
					// The whole table is one range.
				case r.lo == nil:
					q += fmt.Sprintf(" WHERE %s <= ?", pk)
					a = append(a, r.hi)
				case r.hi == nil:
					q += fmt.Sprintf(" WHERE %s > ?", pk)
					a = append(a, r.lo)
				default:
					q += fmt.Sprintf(" WHERE %s > ? AND %s <= ?", pk, pk)
					a = append(a, r.lo, r.hi)
				}
				res, err := db.ExecContext(ctx, q, a...)
				if err == nil {
					var n int64
					n, err = res.RowsAffected()
					total.Add(n)
				}
				if err != nil {
					cancel(fmt.Errorf("update %s: %w", r, err))
					return
				}
			}
		})
	}
feed:
	for _, r := range todo {
		select {
		case ranges <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(ranges)
	wg.Wait()
	// A worker's failure, or the caller's cancellation.
	return total.Load(), context.Cause(ctx)
}

// walkRanges finds where each range ends by walking the key, mysqlBatch
// keys at a time. The boundaries come first, before any row changes: a walk
// beside running updates would read around their locks and undo.
func walkRanges(ctx context.Context, db *sql.DB, firstEnd, nextEnd string, newKey func() any) ([]keyRange, error) {
	var todo []keyRange
	var lo any // nil before the first range
	for {
		hi := newKey()
		var err error
		if lo == nil {
			err = db.QueryRowContext(ctx, firstEnd).Scan(hi)
		} else {
			err = db.QueryRowContext(ctx, nextEnd, lo).Scan(hi)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return append(todo, keyRange{lo: lo}), nil
		}
		if err != nil {
			after := "the first row"
			if lo != nil {
				after = "key " + keyString(lo)
			}
			return nil, fmt.Errorf("find where the range after %s ends: %w", after, err)
		}
		todo = append(todo, keyRange{lo: lo, hi: hi})
		lo = hi
	}
}

// denseRanges cuts an integer key's span into ranges of mysqlBatch values
// when the keys are dense (auto-increment ids: at least half the values
// between MIN and MAX used, by the server's row estimate), which costs two
// index dives where walking the key reads the whole table once more before
// the updates read it again. It returns nil when the keys are not integers
// or too sparse: then the key is walked. The first and last ranges are
// open, so every row is in one range whatever the estimate.
func denseRanges(ctx context.Context, db *sql.DB, t *mysqlTable, pk string) ([]keyRange, error) {
	if !strings.HasSuffix(t.columns[t.pk[0]].dataType, "int") {
		return nil, nil
	}
	var lo, hi sql.NullInt64
	q := fmt.Sprintf("SELECT MIN(%s), MAX(%s) FROM %s", pk, pk, termshift.QuoteMySQL(t.name))
	if err := db.QueryRowContext(ctx, q).Scan(&lo, &hi); err != nil {
		return nil, fmt.Errorf("read the key's span: %w", err)
	}
	if !lo.Valid {
		return []keyRange{{}}, nil // empty: one range
	}
	var estimate sql.NullInt64
	err := db.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", t.name).Scan(&estimate)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read the row estimate: %w", err)
	}
	span := uint64(hi.Int64 - lo.Int64) // int64 keys: the difference fits in uint64
	if span > 2*uint64(max(estimate.Int64, 0))+mysqlBatch {
		return nil, nil
	}
	var out []keyRange
	var prev any
	for end := lo.Int64 - 1 + mysqlBatch; end < hi.Int64 && end >= lo.Int64; end += mysqlBatch {
		e := end
		out = append(out, keyRange{lo: prev, hi: &e})
		prev = &e
	}
	return append(out, keyRange{lo: prev}), nil
}

// scrubTableByRowNumber rewrites a table without a single-column primary
// key in one UPDATE, numbering rows with a session variable per rule.
func scrubTableByRowNumber(ctx context.Context, db *sql.DB, tp tablePlan, salt termshift.Secret) (int64, error) {
	conn, err := db.Conn(ctx) // session variables live on one connection
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var sets []string
	var args []any
	for i, r := range tp.rules {
		v := fmt.Sprintf("@termshift_row_%d", i)
		if _, err := conn.ExecContext(ctx, "SET "+v+" = 0"); err != nil {
			return 0, err
		}
		s, a := setClause(r, tp.table.columns[r.Column], fmt.Sprintf("(%s := %s + 1)", v, v), salt)
		sets = append(sets, s)
		args = append(args, a...)
	}
	q := fmt.Sprintf("UPDATE %s SET %s", termshift.QuoteMySQL(tp.table.name), strings.Join(sets, ", "))
	if len(tp.table.pk) > 0 {
		keys := make([]string, len(tp.table.pk))
		for i, k := range tp.table.pk {
			keys[i] = termshift.QuoteMySQL(k)
		}
		q += " ORDER BY " + strings.Join(keys, ", ")
	}
	res, err := conn.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("update: %w", err)
	}
	return res.RowsAffected()
}

// LeftoversMySQL counts, per rule whose table and column exist, the values
// that still look like production data: for email, non-NULL values not
// ending in the template's @domain; for fixed, values other than Value;
// for null, non-NULL values; for unusable_password, values not starting
// with "!"; for hash, values that are not lowercase hex of the hash's
// length. It never reads the values out.
func LeftoversMySQL(ctx context.Context, rules []Rule, opts MySQLOptions) ([]Leftover, error) {
	if err := ValidateRules(rules); err != nil {
		return nil, err
	}
	rules = forService(rules, termshift.MySQL)
	db, err := openMySQL(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	tables := map[string]*mysqlTable{}
	var out []Leftover
	for _, r := range rules {
		t, ok := tables[r.Table]
		if !ok {
			if t, err = describeTable(ctx, db, opts.Schema, r.Table); err != nil {
				return nil, err
			}
			tables[r.Table] = t
		}
		if t == nil {
			continue
		}
		col, ok := t.columns[r.Column]
		if !ok {
			continue
		}
		c := termshift.QuoteMySQL(r.Column)
		var cond string
		var args []any
		switch r.Action {
		case ActionFixed:
			cond, args = fmt.Sprintf("%s IS NOT NULL AND %s <> ?", c, c), []any{r.Value}
		case ActionNull:
			cond = c + " IS NOT NULL"
		case ActionEmail:
			cond, args = fmt.Sprintf("%s IS NOT NULL AND %s NOT LIKE ? ESCAPE '!'", c, c), []any{"%" + likeEscape(r.EmailSuffix())}
		case ActionUnusablePassword:
			cond = fmt.Sprintf("%s IS NOT NULL AND %s NOT LIKE '!!%%' ESCAPE '!'", c, c)
		case ActionHash:
			cond = fmt.Sprintf("%s IS NOT NULL AND NOT (%s REGEXP '^[0-9a-f]{%d}$')", c, c, hashLen(col))
		}
		var n int64
		q := fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s", termshift.QuoteMySQL(r.Table), cond)
		if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			return nil, fmt.Errorf("count leftovers of %s in schema %s: %w", r, opts.Schema, err)
		}
		out = append(out, Leftover{Table: r.Table, Column: r.Column, Count: n})
	}
	return out, nil
}

// likeEscape escapes LIKE's wildcards with '!'.
func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}
