package follow

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/termshift/termshift"
)

// PositionSchema is the schema, on the target server, of the table that
// records where each follower stands: termshift's, not a release's.
const PositionSchema = "termshift_follow"

// Follower applies one server's binary log to schemas of another (or the
// same) server. The source account needs REPLICATION SLAVE and BINLOG
// MONITOR (REPLICATION CLIENT); the target account BINLOG REPLAY (for the
// BINLOG statements), the rights to change the target schemas' rows and to
// create PositionSchema, and, to keep the applied rows out of the binary
// log, BINLOG ADMIN (SET sql_log_bin=0; without it they are logged, and
// skipped, as another schema's).
type Follower struct {
	source, target termshift.Secret
	addr, user     string
	password       termshift.Secret
	// Binary is the mariadb-binlog executable.
	Binary string
	Logger *slog.Logger
}

// New returns a follower reading source's binary log and applying to
// target (go-sql-driver DSNs of administrator accounts).
func New(source, target termshift.Secret) (*Follower, error) {
	cfg, err := driver.ParseDSN(source.Reveal())
	if err != nil {
		return nil, fmt.Errorf("follow: the source DSN does not parse: %w", termshift.ErrInvalid)
	}
	if _, err := driver.ParseDSN(target.Reveal()); err != nil {
		return nil, fmt.Errorf("follow: the target DSN does not parse: %w", termshift.ErrInvalid)
	}
	if cfg.Net != "tcp" {
		return nil, fmt.Errorf("follow: the source DSN must use tcp (mariadb-binlog reads it over TCP), not %s: %w", cfg.Net, termshift.ErrInvalid)
	}
	bin := "mariadb-binlog"
	if p, err := exec.LookPath(bin); err == nil {
		bin = p
	} else if p, err := exec.LookPath("mysqlbinlog"); err == nil {
		bin = p
	}
	return &Follower{source: source, target: target, addr: cfg.Addr, user: cfg.User, password: termshift.Secret(cfg.Passwd), Binary: bin, Logger: slog.New(slog.DiscardHandler)}, nil
}

// Server names the source server in messages.
func (f *Follower) Server() string { return "MySQL " + f.addr }

func open(dsn termshift.Secret) (*sql.DB, error) {
	cfg, err := driver.ParseDSN(dsn.Reveal())
	if err != nil {
		return nil, fmt.Errorf("follow: DSN does not parse: %w", termshift.ErrInvalid)
	}
	cfg.MultiStatements = false
	cfg.ParseTime = true
	c, err := driver.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// Check tells whether the source can be followed from from: a row-based
// binary log that still holds from. Its errors wrap ErrNoRowBinlog or
// ErrPurged.
func (f *Follower) Check(ctx context.Context, from Position) error {
	db, err := open(f.source)
	if err != nil {
		return err
	}
	defer db.Close()
	return checkSource(ctx, db, f.Server(), from)
}

// Head is the source's binary log position now.
func (f *Follower) Head(ctx context.Context) (Position, error) {
	db, err := open(f.source)
	if err != nil {
		return Position{}, err
	}
	defer db.Close()
	return head(ctx, db, f.Server())
}

// Record is where a follower stands, as committed with the rows it
// applied.
type Record struct {
	Position
	Transactions int64     `json:"transactions"`
	Events       int64     `json:"events"`
	UpdatedAt    time.Time `json:"updated_at"`
	// TracksChanges says the follower has recorded, since its start,
	// every table it saw changed (Changed); a record written by an older
	// termshift has not.
	TracksChanges bool `json:"tracks_changes"`
}

// Recorded reads the position recorded for key; found is false when none
// is.
func (f *Follower) Recorded(ctx context.Context, key string) (Record, bool, error) {
	db, err := open(f.target)
	if err != nil {
		return Record{}, false, err
	}
	defer db.Close()
	return recorded(ctx, db, key)
}

// rowQueryer is a *sql.DB or a *sql.Conn.
type rowQueryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func recorded(ctx context.Context, db rowQueryer, key string) (Record, bool, error) {
	var r Record
	err := db.QueryRowContext(ctx, "SELECT file, pos, gtid, transactions, events, updated_at, tracks_touched FROM "+PositionSchema+".positions WHERE follower = ?", key).
		Scan(&r.File, &r.Pos, &r.GTID, &r.Transactions, &r.Events, &r.UpdatedAt, &r.TracksChanges)
	var me *driver.MySQLError
	switch {
	case errors.As(err, &me) && me.Number == 1054:
		// A positions table of an older termshift, not prepared yet by
		// a run: it tracks no changes.
		err = db.QueryRowContext(ctx, "SELECT file, pos, gtid, transactions, events, updated_at FROM "+PositionSchema+".positions WHERE follower = ?", key).
			Scan(&r.File, &r.Pos, &r.GTID, &r.Transactions, &r.Events, &r.UpdatedAt)
		if errors.Is(err, sql.ErrNoRows) {
			return Record{}, false, nil
		}
		if err != nil {
			return Record{}, false, fmt.Errorf("read the position of follower %s: %w", termshift.Quote(key), err)
		}
		return r, true, nil
	case errors.Is(err, sql.ErrNoRows), errors.As(err, &me) && (me.Number == 1146 || me.Number == 1049):
		return Record{}, false, nil
	case err != nil:
		return Record{}, false, fmt.Errorf("read the position of follower %s: %w", termshift.Quote(key), err)
	}
	return r, true, nil
}

// Forget removes the position recorded for key (a follower that ended:
// the next follow starts from a snapshot again).
func (f *Follower) Forget(ctx context.Context, key string) error {
	db, err := open(f.target)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, table := range []string{"touched_rows", "touched", "positions"} {
		_, err = db.ExecContext(ctx, "DELETE FROM "+PositionSchema+"."+table+" WHERE follower = ?", key)
		var me *driver.MySQLError
		if err != nil && !(errors.As(err, &me) && (me.Number == 1146 || me.Number == 1049)) {
			return fmt.Errorf("forget the position of follower %s: %w", termshift.Quote(key), err)
		}
	}
	return nil
}

// Request is one run of a follower.
type Request struct {
	// Key names the follower's position record (one per target release).
	Key string
	// Schemas maps each followed schema to the schema it is applied to.
	Schemas map[string]string
	// Start is where to begin when no position is recorded for Key.
	Start Position
	// Until, when set, ends the run once everything up to it is applied
	// (a catch-up); otherwise the run follows until ctx ends.
	Until *Position
	// TargetProven maps a target schema to the binary log position at
	// which its data was last proven (a restore's or sync's start): writes
	// to it up to there are that data's making, not changes (Changed).
	TargetProven map[string]Position
	// Report receives the status after each applied batch and every
	// Interval.
	Report   func(Status)
	Interval time.Duration
	// SettleEvery is how often a run without Until, when it has applied
	// all it read, compares the rows it recorded by key on both sides and
	// forgets those that are equal, so that a cutover's proof reads only
	// the rows changed since: 0 is every minute, negative never.
	SettleEvery time.Duration
}

// Status is how far a follower is.
type Status struct {
	Applied      Position `json:"applied"`
	Head         Position `json:"head"`
	Transactions int64    `json:"transactions"` // applied by this run
	Events       int64    `json:"events"`       // row events applied by this run
	LagSeconds   float64  `json:"lag_seconds"`  // age of the oldest event not applied yet; 0 when caught up
	LagEvents    int      `json:"lag_events"`   // units read and waiting to be applied
	LagBytes     int64    `json:"lag_bytes"`    // binary log bytes between applied and head (same file)
	// Settled is how many changed rows the last settling proved equal on
	// both sides and forgot; Pending how many it left (different, or
	// changed again since).
	Settled  int64     `json:"settled"`
	Pending  int64     `json:"pending"`
	CaughtUp bool      `json:"caught_up"`
	At       time.Time `json:"at"`
}

const createPositions = "CREATE TABLE IF NOT EXISTS " + PositionSchema + `.positions (
	follower VARCHAR(191) NOT NULL PRIMARY KEY,
	file VARCHAR(255) NOT NULL,
	pos BIGINT NOT NULL,
	gtid VARCHAR(1024) NOT NULL DEFAULT '',
	transactions BIGINT NOT NULL DEFAULT 0,
	events BIGINT NOT NULL DEFAULT 0,
	updated_at DATETIME(6) NOT NULL,
	tracks_touched BOOLEAN NOT NULL DEFAULT FALSE
) ENGINE=InnoDB`

// createTouched holds the tables each follower saw changed since its
// start, committed with the rows it applies.
const createTouched = "CREATE TABLE IF NOT EXISTS " + PositionSchema + `.touched (
	follower VARCHAR(191) NOT NULL,
	side ENUM('source', 'target') NOT NULL,
	schema_name VARCHAR(64) NOT NULL,
	table_name VARCHAR(64) NOT NULL,
	file VARCHAR(255) NOT NULL,
	pos BIGINT NOT NULL,
	whole BOOLEAN NOT NULL DEFAULT TRUE,
	PRIMARY KEY (follower, side, schema_name, table_name)
) ENGINE=InnoDB`

// createTouchedRows holds the primary keys of the rows changed in the
// tables of touched that are not whole, with where they last changed
// (seq: the binary log file's number << 32 | the offset), until a
// settling proves them equal on both sides.
const createTouchedRows = "CREATE TABLE IF NOT EXISTS " + PositionSchema + `.touched_rows (
	follower VARCHAR(191) NOT NULL,
	side ENUM('source', 'target') NOT NULL,
	schema_name VARCHAR(64) NOT NULL,
	table_name VARCHAR(64) NOT NULL,
	pk DECIMAL(20, 0) NOT NULL,
	seq BIGINT NOT NULL,
	PRIMARY KEY (follower, side, schema_name, table_name, pk)
) ENGINE=InnoDB`

// Run follows the source from the recorded position (or req.Start) and
// applies the followed schemas' transactions to their targets, each batch
// with its end position in one target transaction. It returns when ctx
// ends (nil), when req.Until is reached (nil), or on an error: a
// *DDLError for a schema change on a followed schema, ErrPurged,
// ErrNoRowBinlog, ErrSchemaChanged when the two sides' schemas differ.
func (f *Follower) Run(ctx context.Context, req Request) (Status, error) {
	var st Status
	if req.Key == "" || len(req.Schemas) == 0 {
		return st, fmt.Errorf("follow: a key and at least one schema are needed: %w", termshift.ErrInvalid)
	}
	src, err := open(f.source)
	if err != nil {
		return st, err
	}
	defer src.Close()
	dst, err := open(f.target)
	if err != nil {
		return st, err
	}
	defer dst.Close()
	if err := f.prepare(ctx, dst); err != nil {
		return st, err
	}
	if err := SchemasEqual(ctx, src, dst, req.Schemas); err != nil {
		return st, err
	}
	pks, err := primaryKeys(ctx, src, dst, req.Schemas)
	if err != nil {
		return st, err
	}
	rec, found, err := recorded(ctx, dst, req.Key)
	if err != nil {
		return st, err
	}
	if !found {
		if req.Start.IsZero() {
			return st, fmt.Errorf("follow %s: no position is recorded and none was given (a snapshot's): %w", termshift.Quote(req.Key), termshift.ErrInvalid)
		}
		if _, err := dst.ExecContext(ctx, "INSERT IGNORE INTO "+PositionSchema+".positions (follower, file, pos, gtid, updated_at, tracks_touched) VALUES (?, ?, ?, ?, NOW(6), TRUE)",
			req.Key, req.Start.File, req.Start.Pos, req.Start.GTID); err != nil {
			return st, fmt.Errorf("record the start of follower %s: %w", termshift.Quote(req.Key), err)
		}
		if rec, _, err = recorded(ctx, dst, req.Key); err != nil {
			return st, err
		}
	}
	if err := checkSource(ctx, src, f.Server(), rec.Position); err != nil {
		return st, err
	}
	st.Applied = rec.Position
	if req.Until != nil && rec.Compare(*req.Until) >= 0 {
		st.CaughtUp = true
		return st, nil
	}

	conn, err := dst.Conn(ctx)
	if err != nil {
		return st, fmt.Errorf("follow: connect to the target: %w", err)
	}
	defer conn.Close()
	// The applied rows stay out of the binary log when the account may say
	// so; otherwise they are logged under the target's names and skipped.
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_bin = 0"); err != nil {
		f.Logger.Debug("follow: applied rows are binary-logged", "err", err)
	}

	units := make(chan unit, 4096)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	sdone := make(chan error, 1)
	s := &stream{binary: f.Binary, addr: f.addr, user: f.user, password: f.password, serverID: 100000 + rand.IntN(1<<30)}
	go func() {
		defer close(units)
		sdone <- s.run(sctx, rec.Position, filter{names: req.Schemas, since: req.TargetProven, pks: pks}, func(u unit) bool {
			select {
			case units <- u:
				return true
			case <-sctx.Done():
				return false
			}
		})
	}()

	interval := req.Interval
	if interval <= 0 {
		interval = time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	settleEvery := req.SettleEvery
	if settleEvery == 0 {
		settleEvery = time.Minute
	}
	if req.Until != nil {
		settleEvery = -1
	}
	lastSettle := time.Now()
	var (
		fde     string
		oldest  time.Time // the time of the first event read and not applied
		batch   []unit
		lastHd  Position
		applied = rec.Position
		seen    = &recordedSet{tables: map[touch]bool{}, rows: map[rowKey]bool{}}
	)
	report := func() {
		st.Applied, st.At = applied, time.Now()
		st.LagEvents = len(units) + len(batch)
		if hd, err := head(ctx, src, f.Server()); err == nil {
			lastHd = hd
		}
		st.Head = lastHd
		st.LagBytes = 0
		if lastHd.File == applied.File && lastHd.Pos > applied.Pos {
			st.LagBytes = lastHd.Pos - applied.Pos
		}
		st.CaughtUp = applied.Compare(lastHd) >= 0
		st.LagSeconds = 0
		if !st.CaughtUp && !oldest.IsZero() {
			st.LagSeconds = max(0, time.Since(oldest).Seconds())
		}
		if req.Report != nil {
			req.Report(st)
		}
	}
	for {
		// Take what is ready, up to a batch's worth, waiting for the first.
		batch = batch[:0]
		select {
		case <-ctx.Done():
			report()
			return st, nil
		case <-tick.C:
			if settleEvery > 0 && len(units) == 0 && time.Since(lastSettle) >= settleEvery {
				lastSettle = time.Now()
				// Settled rows are forgotten: a change of them must be
				// recorded again.
				clear(seen.rows)
				if err := f.settle(ctx, src, dst, req, pks, applied, &st); err != nil {
					return st, err
				}
			}
			report()
			continue
		case u, ok := <-units:
			if !ok {
				err := <-sdone
				report()
				if err == nil && ctx.Err() != nil {
					return st, nil
				}
				if err == nil {
					err = fmt.Errorf("mariadb-binlog stopped")
				}
				return st, fmt.Errorf("follow %s at %s: %w", f.Server(), applied, err)
			}
			batch = append(batch, u)
		}
	more:
		for len(batch) < 1000 {
			select {
			case u, ok := <-units:
				if !ok {
					break more
				}
				batch = append(batch, u)
			default:
				break more
			}
		}
		if oldest.IsZero() {
			oldest = batch[0].at
		}
		// A format description precedes the row events it describes:
		// what came before it is applied first, then it.
		from := 0
		for i, u := range batch {
			if u.fde == "" {
				continue
			}
			if err := f.apply(ctx, conn, req.Key, &applied, batch[from:i], &st, seen); err != nil {
				return st, err
			}
			fde = u.fde
			if _, err := conn.ExecContext(ctx, fde); err != nil {
				return st, fmt.Errorf("follow: apply the format description of %s on the target: %w", applied.File, err)
			}
			from = i + 1
		}
		if err := f.apply(ctx, conn, req.Key, &applied, batch[from:], &st, seen); err != nil {
			return st, err
		}
		if len(units) == 0 {
			oldest = time.Time{}
		} else if len(batch) > 0 {
			oldest = batch[len(batch)-1].at
		}
		if req.Until != nil && applied.Compare(*req.Until) >= 0 {
			report()
			return st, nil
		}
		if req.Report != nil && len(units) == 0 {
			report()
		}
	}
}

// apply applies a batch in one target transaction, recording its end
// position and the tables it changed (or saw changed) in it. The position
// row is updated first, where it was: a second applier that has moved it
// on (a cutover's catch-up) makes this one skip what it already applied.
func (f *Follower) apply(ctx context.Context, conn *sql.Conn, key string, applied *Position, batch []unit, st *Status, seen *recordedSet) error {
	for len(batch) > 0 {
		end := batch[len(batch)-1].end
		if end.Pos == 0 || end.File == "" {
			return nil
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("follow: begin on the target: %w", err)
		}
		res, err := tx.ExecContext(ctx, "UPDATE "+PositionSchema+".positions SET file = ?, pos = ?, gtid = IF(? = '', gtid, ?), transactions = transactions + ?, events = events + ?, updated_at = NOW(6) WHERE follower = ? AND file = ? AND pos = ?",
			end.File, end.Pos, end.GTID, end.GTID, countTxns(batch), countEvents(batch), key, applied.File, applied.Pos)
		if err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("follow: record position %s: %w", end, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			_ = tx.Rollback()
			rec, found, err := recorded(ctx, conn, key)
			if err != nil {
				return err
			}
			if !found || rec.Compare(*applied) < 0 {
				return fmt.Errorf("follow: the position of follower %s was removed or moved back (to %s) by someone else: %w", termshift.Quote(key), rec.Position, termshift.ErrRefused)
			}
			// Another applier is ahead: what it applied is skipped.
			*applied = rec.Position
			for len(batch) > 0 && batch[0].end.Compare(rec.Position) <= 0 {
				batch = batch[1:]
			}
			continue
		}
		var fresh []touch
		var keys []rowKey
		if len(seen.rows) > maxRecordedRows {
			clear(seen.rows)
		}
		for _, u := range batch {
			for _, k := range u.keys {
				if !seen.rows[k] {
					seen.rows[k] = true
					keys = append(keys, k)
				}
			}
			for _, s := range u.stmts {
				if _, err := tx.ExecContext(ctx, s); err != nil {
					_ = tx.Rollback()
					return fmt.Errorf("follow: apply the transaction ending at %s on the target: %w", u.end, err)
				}
			}
			for _, t := range u.touched {
				if !seen.tables[t] {
					seen.tables[t] = true
					fresh = append(fresh, t)
				}
			}
		}
		err = recordTouched(ctx, tx, key, end, fresh)
		if err == nil {
			err = recordKeys(ctx, tx, key, end, keys)
		}
		if err == nil {
			err = tx.Commit()
		} else {
			_ = tx.Rollback()
		}
		if err != nil {
			seen.forget(fresh, keys)
			return fmt.Errorf("follow: commit the transaction ending at %s on the target: %w", end, err)
		}
		*applied = end
		st.Transactions += int64(countTxns(batch))
		st.Events += int64(countEvents(batch))
		return nil
	}
	return nil
}

// recordedSet is what a run has recorded as changed, not to record again: the
// tables, and the rows since the last settling (a settled row is
// forgotten, so its next change must be recorded).
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
	for len(ts) > 0 {
		n := min(len(ts), 200)
		q := strings.Builder{}
		q.WriteString("INSERT INTO " + PositionSchema + ".touched (follower, side, schema_name, table_name, file, pos, whole) VALUES ")
		args := make([]any, 0, 7*n)
		for i, t := range ts[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?)")
			args = append(args, key, t.side, t.schema, t.table, at.File, at.Pos, !t.byKey)
		}
		q.WriteString(" ON DUPLICATE KEY UPDATE whole = whole OR VALUES(whole)")
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("follow: record the tables changed up to %s: %w", at, err)
		}
		ts = ts[n:]
	}
	return nil
}

// seqOf orders positions in one number: the file's sequence number, then
// the offset (binary log files stay under 4 GiB).
func seqOf(p Position) int64 { return fileSeq(p.File)<<32 | p.Pos }

// recordKeys records the keys of the rows a batch changed, with the
// batch's end.
func recordKeys(ctx context.Context, tx *sql.Tx, key string, at Position, keys []rowKey) error {
	seen := map[rowKey]bool{}
	uniq := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, k)
		}
	}
	seq := seqOf(at)
	for len(uniq) > 0 {
		n := min(len(uniq), 500)
		q := strings.Builder{}
		q.WriteString("INSERT INTO " + PositionSchema + ".touched_rows (follower, side, schema_name, table_name, pk, seq) VALUES ")
		args := make([]any, 0, 6*n)
		for i, k := range uniq[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?)")
			args = append(args, key, k.side, k.schema, k.table, k.key, seq)
		}
		q.WriteString(" ON DUPLICATE KEY UPDATE seq = VALUES(seq)")
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("follow: record the rows changed up to %s: %w", at, err)
		}
		uniq = uniq[n:]
	}
	return nil
}

// primaryKeys finds, in each followed schema and its target, the tables
// whose primary key is a single integer column: their changed rows are
// recorded by key. A table whose key differs between the two sides is
// left out (its changes count as whole).
func primaryKeys(ctx context.Context, src, dst *sql.DB, names map[string]string) (map[string]primaryKey, error) {
	const q = `SELECT k.TABLE_SCHEMA, k.TABLE_NAME, MIN(k.COLUMN_NAME), MIN(c.ORDINAL_POSITION), MIN(c.DATA_TYPE), MIN(c.COLUMN_TYPE), COUNT(*)
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
			var sch, table, col, typ, ctype string
			var ord, n int
			if err := rows.Scan(&sch, &table, &col, &ord, &typ, &ctype, &n); err != nil {
				return nil, fmt.Errorf("read the primary keys of %s: %w", termshift.Quote(schema), err)
			}
			switch strings.ToLower(typ) {
			case "tinyint", "smallint", "mediumint", "int", "bigint":
				if n == 1 {
					out[table] = primaryKey{column: col, ordinal: ord, unsigned: strings.Contains(strings.ToLower(ctype), "unsigned")}
				}
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

func countTxns(b []unit) int {
	n := 0
	for _, u := range b {
		if len(u.stmts) > 0 {
			n++
		}
	}
	return n
}

func countEvents(b []unit) int {
	n := 0
	for _, u := range b {
		n += u.events
	}
	return n
}

func (f *Follower) prepare(ctx context.Context, dst *sql.DB) error {
	for _, q := range []string{"CREATE DATABASE IF NOT EXISTS " + PositionSchema, createPositions,
		"ALTER TABLE " + PositionSchema + ".positions ADD COLUMN IF NOT EXISTS tracks_touched BOOLEAN NOT NULL DEFAULT FALSE", createTouched,
		"ALTER TABLE " + PositionSchema + ".touched ADD COLUMN IF NOT EXISTS whole BOOLEAN NOT NULL DEFAULT TRUE", createTouchedRows} {
		if _, err := dst.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("follow: create %s on the target: %w", PositionSchema, err)
		}
	}
	return nil
}

// SchemasEqual compares the columns of each followed schema with its
// target's (names -> target names): row events apply only to tables of the
// same shape. A difference (a migrated target) is an error wrapping
// ErrSchemaChanged that names the first differences.
func SchemasEqual(ctx context.Context, src, dst *sql.DB, names map[string]string) error {
	var diffs []string
	froms := make([]string, 0, len(names))
	for n := range names {
		froms = append(froms, n)
	}
	sort.Strings(froms)
	for _, from := range froms {
		to := names[from]
		a, err := columns(ctx, src, from)
		if err != nil {
			return err
		}
		b, err := columns(ctx, dst, to)
		if err != nil {
			return err
		}
		for k, v := range a {
			if w, ok := b[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s is missing in %s", from, k, to))
			} else if v != w {
				diffs = append(diffs, fmt.Sprintf("%s.%s is %s, %s in %s", from, k, v, w, to))
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s is not in %s", to, k, from))
			}
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	sort.Strings(diffs)
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("and %d more", len(diffs)-5))
	}
	return fmt.Errorf("the schemas differ (%s): %w", strings.Join(diffs, "; "), ErrSchemaChanged)
}

// columns maps "table.column" to its type and position; termshift's owner
// marker table is not the release's data.
func columns(ctx context.Context, db *sql.DB, schema string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, ORDINAL_POSITION FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> 'termshift_owner'`, schema)
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", termshift.Quote(schema), err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var t, c, typ string
		var pos int
		if err := rows.Scan(&t, &c, &typ, &pos); err != nil {
			return nil, err
		}
		out[t+"."+c] = fmt.Sprintf("%s #%d", typ, pos)
	}
	return out, rows.Err()
}

// CheckSchemas compares each followed schema's columns with its target's
// (see SchemasEqual).
func (f *Follower) CheckSchemas(ctx context.Context, names map[string]string) error {
	src, err := open(f.source)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := open(f.target)
	if err != nil {
		return err
	}
	defer dst.Close()
	return SchemasEqual(ctx, src, dst, names)
}

// Changes are the tables a follower saw changed since its start position,
// by followed schema: those it applied row events to, and those of their
// target schemas that someone else wrote (the next release itself, on the
// same server) after their data was proven. A table not in them holds,
// on both sides, what it held at the start position, provided the target's
// writes reach the binary log the follower reads.
type Changes struct {
	// Tracked is false when the changes cannot be known: Why says why.
	Tracked bool   `json:"tracked"`
	Why     string `json:"why,omitempty"`
	// Tables maps a followed schema to its tables where any row may have
	// changed; "*" stands for every table of the schema (a statement
	// changed the target).
	Tables map[string]map[string]bool `json:"tables,omitempty"`
	// Rows maps a followed schema to its tables whose changed rows are
	// known by primary key, those not proven equal since (Prove compares
	// only them).
	Rows map[string]map[string]bool `json:"rows,omitempty"`

	follower string // whose recorded keys Rows refers to
}

// Has reports whether table of the followed schema changed.
func (c *Changes) Has(schema, table string) bool {
	return c.Whole(schema, table) || c.Rows[schema][table]
}

// Whole reports whether any row of table may have changed.
func (c *Changes) Whole(schema, table string) bool {
	t := c.Tables[schema]
	return t[table] || t[allTables]
}

// Changed reads the tables the follower key saw changed since its start
// (names: followed schema -> target schema).
func (f *Follower) Changed(ctx context.Context, key string, names map[string]string) (*Changes, error) {
	dst, err := open(f.target)
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	rec, found, err := recorded(ctx, dst, key)
	if err != nil {
		return nil, err
	}
	switch {
	case !found:
		return &Changes{Why: "the follower recorded no position"}, nil
	case !rec.TracksChanges:
		return &Changes{Why: "the follower started before termshift recorded the tables it saw changed"}, nil
	}
	src, err := open(f.source)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	same, err := sameServer(ctx, src, dst)
	if err != nil {
		return nil, err
	}
	if !same {
		return &Changes{Why: "the target schemas are on another server than the binary log followed: their own writes are not in it"}, nil
	}
	back := map[string]string{}
	for from, to := range names {
		back[to] = from
	}
	rows, err := dst.QueryContext(ctx, "SELECT side, schema_name, table_name, whole FROM "+PositionSchema+".touched WHERE follower = ?", key)
	if err != nil {
		return nil, fmt.Errorf("read the tables follower %s saw changed: %w", termshift.Quote(key), err)
	}
	defer rows.Close()
	c := &Changes{Tracked: true, Tables: map[string]map[string]bool{}, Rows: map[string]map[string]bool{}, follower: key}
	for rows.Next() {
		var side, schema, table string
		var whole bool
		if err := rows.Scan(&side, &schema, &table, &whole); err != nil {
			return nil, fmt.Errorf("read the tables follower %s saw changed: %w", termshift.Quote(key), err)
		}
		if side == sideTarget {
			from, ok := back[schema]
			if !ok {
				continue
			}
			schema = from
		} else if _, ok := names[schema]; !ok {
			continue
		}
		m := c.Rows
		if whole {
			m = c.Tables
		}
		if m[schema] == nil {
			m[schema] = map[string]bool{}
		}
		m[schema][table] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the tables follower %s saw changed: %w", termshift.Quote(key), err)
	}
	return c, nil
}

// sameServer tells whether two connections reach the same server: same
// host name, port, server id and data directory.
func sameServer(ctx context.Context, a, b *sql.DB) (bool, error) {
	const q = "SELECT CONCAT_WS('|', @@hostname, @@port, @@server_id, @@datadir)"
	var x, y string
	if err := a.QueryRowContext(ctx, q).Scan(&x); err != nil {
		return false, fmt.Errorf("identify the source server: %w", err)
	}
	if err := b.QueryRowContext(ctx, q).Scan(&y); err != nil {
		return false, fmt.Errorf("identify the target server: %w", err)
	}
	return x == y, nil
}

// TableProof compares one table with its copy: rows counted and
// CHECKSUM TABLE (order-independent) on both sides, unless it is
// Unchanged: not read, since no event changed it on either side.
type TableProof struct {
	Schema         string `json:"schema"`
	Table          string `json:"table"`
	Target         string `json:"target"`
	Rows           int64  `json:"rows"`
	TargetRows     int64  `json:"target_rows"`
	Checksum       string `json:"checksum"`
	TargetChecksum string `json:"target_checksum"`
	Unchanged      bool   `json:"unchanged,omitempty"`
	// ByKey says the table was proven by the rows changed since its data
	// was last proven equal: Keys rows, each read on both sides (the
	// checksums are of those rows), and the counts of the whole table.
	ByKey bool  `json:"by_key,omitempty"`
	Keys  int64 `json:"keys,omitempty"`
}

// OK reports equal counts and checksums (false for a table not read).
func (p TableProof) OK() bool {
	return !p.Unchanged && p.Rows == p.TargetRows && p.Checksum == p.TargetChecksum && p.Checksum != ""
}

// Prove counts and checksums every table of each followed schema and of
// its target, or, when only is tracked, only the tables it names (the
// others come back Unchanged, not read). Run it while the source takes no
// write (a maintenance window) for the two sides to be comparable.
func (f *Follower) Prove(ctx context.Context, names map[string]string, only *Changes) ([]TableProof, error) {
	src, err := open(f.source)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := open(f.target)
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	var out []TableProof
	froms := make([]string, 0, len(names))
	for n := range names {
		froms = append(froms, n)
	}
	sort.Strings(froms)
	for _, from := range froms {
		rows, err := src.QueryContext(ctx, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME <> 'termshift_owner' ORDER BY TABLE_NAME", from)
		if err != nil {
			return nil, fmt.Errorf("list the tables of %s: %w", termshift.Quote(from), err)
		}
		var tables []string
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return nil, err
			}
			tables = append(tables, t)
		}
		rows.Close()
		for _, t := range tables {
			out = append(out, TableProof{Schema: from, Table: t, Target: names[from], Unchanged: only != nil && only.Tracked && !only.Has(from, t)})
		}
	}
	var pks map[string]primaryKey
	if only != nil && only.Tracked && len(only.Rows) > 0 && only.follower != "" {
		if pks, err = primaryKeys(ctx, src, dst, names); err != nil {
			return nil, err
		}
	}
	// Both sides and every table at once, a few queries at a time: the
	// proof is inside the maintenance window.
	sem := make(chan struct{}, proveParallel)
	errs := make([]error, 2*len(out))
	var wg sync.WaitGroup
	for i := range out {
		p := &out[i]
		if p.Unchanged {
			continue
		}
		if pk, ok := pks[tableID(p.Schema, p.Table)]; ok && !only.Whole(p.Schema, p.Table) {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				errs[2*i] = proveRows(ctx, src, dst, only.follower, p, pk)
			})
			continue
		}
		for side := range 2 {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				if side == 0 {
					p.Rows, p.Checksum, errs[2*i] = tableSum(ctx, src, p.Schema, p.Table)
				} else {
					p.TargetRows, p.TargetChecksum, errs[2*i+1] = tableSum(ctx, dst, p.Target, p.Table)
				}
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// settle compares, on both sides, the rows recorded by key up to applied
// and forgets those that are equal. It is sound while the source moves on:
// a row that changes after applied is recorded again, with a later
// position, when its event is applied (or seen, for the target's own
// writes), so forgetting it now loses nothing; and a row that did not is
// compared as it stands at applied on both sides.
func (f *Follower) settle(ctx context.Context, src, dst *sql.DB, req Request, pks map[string]primaryKey, applied Position, st *Status) error {
	seq := seqOf(applied)
	back := map[string]string{}
	for from, to := range req.Schemas {
		back[to] = from
	}
	rows, err := dst.QueryContext(ctx, "SELECT DISTINCT side, schema_name, table_name FROM "+PositionSchema+".touched_rows WHERE follower = ? AND seq <= ?", req.Key, seq)
	if err != nil {
		return fmt.Errorf("follow: read the changed rows to settle: %w", err)
	}
	type group struct{ side, schema, table string }
	var groups []group
	for rows.Next() {
		var g group
		if err := rows.Scan(&g.side, &g.schema, &g.table); err != nil {
			rows.Close()
			return fmt.Errorf("follow: read the changed rows to settle: %w", err)
		}
		groups = append(groups, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("follow: read the changed rows to settle: %w", err)
	}
	st.Settled, st.Pending = 0, 0
	for _, g := range groups {
		from, to := g.schema, req.Schemas[g.schema]
		if g.side == sideTarget {
			from, to = back[g.schema], g.schema
		}
		pk, ok := pks[tableID(from, g.table)]
		if from == "" || to == "" || !ok {
			continue
		}
		for after := ""; ; {
			q := "SELECT pk FROM " + PositionSchema + ".touched_rows WHERE follower = ? AND side = ? AND schema_name = ? AND table_name = ? AND seq <= ?"
			args := []any{req.Key, g.side, g.schema, g.table, seq}
			if after != "" {
				q += " AND pk > ?"
				args = append(args, after)
			}
			keys, err := queryStrings(ctx, dst, q+" ORDER BY pk LIMIT "+strconv.Itoa(keyChunk), args...)
			if err != nil {
				return fmt.Errorf("follow: read the changed rows to settle: %w", err)
			}
			if len(keys) == 0 {
				break
			}
			after = keys[len(keys)-1]
			a, err := rowsByKey(ctx, src, from, g.table, pk.column, keys)
			if err != nil {
				return err
			}
			b, err := rowsByKey(ctx, dst, to, g.table, pk.column, keys)
			if err != nil {
				return err
			}
			var equal []any
			for _, k := range keys {
				if a[k] == b[k] {
					equal = append(equal, k)
				}
			}
			st.Pending += int64(len(keys) - len(equal))
			if len(equal) == 0 {
				continue
			}
			res, err := dst.ExecContext(ctx, "DELETE FROM "+PositionSchema+".touched_rows WHERE follower = ? AND side = ? AND schema_name = ? AND table_name = ? AND seq <= ? AND pk IN (?"+strings.Repeat(", ?", len(equal)-1)+")",
				append([]any{req.Key, g.side, g.schema, g.table, seq}, equal...)...)
			if err != nil {
				return fmt.Errorf("follow: forget the settled rows: %w", err)
			}
			n, _ := res.RowsAffected()
			st.Settled += n
		}
	}
	f.Logger.Debug("follow: settled", "at", applied, "settled", st.Settled, "pending", st.Pending)
	return nil
}

// queryStrings runs a query of one column.
func queryStrings(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// proveParallel is how many tables (of either side) Prove reads at once.
const proveParallel = 4

// keyChunk is how many rows are read by key at once.
const keyChunk = 500

// proveRows proves a table by the rows changed since its data was
// proven: each recorded key's row, read on both sides, and the two counts.
func proveRows(ctx context.Context, src, dst *sql.DB, follower string, p *TableProof, pk primaryKey) error {
	rows, err := dst.QueryContext(ctx, "SELECT DISTINCT pk FROM "+PositionSchema+".touched_rows WHERE follower = ? AND table_name = ? AND ((side = 'source' AND schema_name = ?) OR (side = 'target' AND schema_name = ?)) ORDER BY pk",
		follower, p.Table, p.Schema, p.Target)
	if err != nil {
		return fmt.Errorf("read the changed rows of %s.%s: %w", p.Schema, p.Table, err)
	}
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return fmt.Errorf("read the changed rows of %s.%s: %w", p.Schema, p.Table, err)
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the changed rows of %s.%s: %w", p.Schema, p.Table, err)
	}
	p.ByKey, p.Keys = true, int64(len(keys))
	var a, b []string
	for len(keys) > 0 {
		n := min(len(keys), keyChunk)
		ra, err := rowsByKey(ctx, src, p.Schema, p.Table, pk.column, keys[:n])
		if err != nil {
			return err
		}
		rb, err := rowsByKey(ctx, dst, p.Target, p.Table, pk.column, keys[:n])
		if err != nil {
			return err
		}
		for _, k := range keys[:n] {
			a, b = append(a, ra[k]), append(b, rb[k])
		}
		keys = keys[n:]
	}
	// The two counts at once: they are the only reads that grow with the
	// table.
	var wg sync.WaitGroup
	var errs [2]error
	for side, db := range []*sql.DB{src, dst} {
		schema, n := p.Schema, &p.Rows
		if side == 1 {
			schema, n = p.Target, &p.TargetRows
		}
		wg.Go(func() {
			q := termshift.QuoteMySQL(schema) + "." + termshift.QuoteMySQL(p.Table)
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+q).Scan(n); err != nil {
				errs[side] = fmt.Errorf("count %s: %w", q, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}
	p.Checksum, p.TargetChecksum = rowsDigest(a), rowsDigest(b)
	return nil
}

// rowsDigest hashes rows (each as rowsByKey returns it; "" for a row that
// is not there) in order.
func rowsDigest(rows []string) string {
	h := sha256.New()
	for _, r := range rows {
		fmt.Fprintf(h, "%d:%s;", len(r), r)
	}
	return "rows:" + hex.EncodeToString(h.Sum(nil)[:12])
}

// rowsByKey reads the rows of the given keys, each as one string of its
// columns' bytes (NULL told apart from empty), by key.
func rowsByKey(ctx context.Context, db *sql.DB, schema, table, column string, keys []string) (map[string]string, error) {
	q := termshift.QuoteMySQL(schema) + "." + termshift.QuoteMySQL(table)
	col := termshift.QuoteMySQL(column)
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := db.QueryContext(ctx, "SELECT CAST("+col+" AS CHAR), t.* FROM "+q+" t WHERE "+col+" IN (?"+strings.Repeat(", ?", len(keys)-1)+")", args...)
	if err != nil {
		return nil, fmt.Errorf("read rows of %s by key: %w", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read rows of %s by key: %w", q, err)
		}
		var sb strings.Builder
		for _, v := range vals[1:] {
			if v == nil {
				sb.WriteString("N;")
				continue
			}
			fmt.Fprintf(&sb, "%d:", len(v))
			sb.Write(v)
		}
		out[string(vals[0])] = sb.String()
	}
	return out, rows.Err()
}
func tableSum(ctx context.Context, db *sql.DB, schema, table string) (int64, string, error) {
	q := termshift.QuoteMySQL(schema) + "." + termshift.QuoteMySQL(table)
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+q).Scan(&n); err != nil {
		return 0, "", fmt.Errorf("count %s: %w", q, err)
	}
	var name string
	var sum sql.NullInt64
	if err := db.QueryRowContext(ctx, "CHECKSUM TABLE "+q).Scan(&name, &sum); err != nil {
		return 0, "", fmt.Errorf("checksum %s: %w", q, err)
	}
	if !sum.Valid {
		return n, "", fmt.Errorf("checksum %s: the server has none for it: %w", q, termshift.ErrNotFound)
	}
	return n, strconv.FormatInt(sum.Int64, 10), nil
}
