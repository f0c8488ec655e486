package follow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
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

// openBoth opens the source and the target; done closes both.
func (f *Follower) openBoth() (src, dst *sql.DB, done func(), err error) {
	if src, err = open(f.source); err != nil {
		return nil, nil, nil, err
	}
	if dst, err = open(f.target); err != nil {
		src.Close()
		return nil, nil, nil, err
	}
	return src, dst, func() { src.Close(); dst.Close() }, nil
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
	// all it read, starts to compare the rows it recorded by key on both
	// sides and forget those that are equal, so that a cutover's proof
	// reads only the rows changed since: 0 is every minute, negative
	// never. A settling runs a chunk of rows at a time between the batches
	// the follower applies.
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
	Settled int64 `json:"settled"`
	Pending int64 `json:"pending"`
	// Settling is how many recorded rows the settling in progress has
	// compared, of SettleRows; both are 0 when none runs.
	Settling   int64     `json:"settling"`
	SettleRows int64     `json:"settle_rows"`
	CaughtUp   bool      `json:"caught_up"`
	At         time.Time `json:"at"`
}

// The tables of PositionSchema, whose name stands for {schema} in their
// DDL (prepareIn).

// createPositions holds each follower's applied position.
const createPositions = `CREATE TABLE IF NOT EXISTS {schema}.positions (
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
const createTouched = `CREATE TABLE IF NOT EXISTS {schema}.touched (
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
// tables of touched that are not whole (as text: an integer's decimal
// digits, a text key's bytes), with where they last changed
// (seq: the binary log file's number << 32 | the offset), until a
// settling proves them equal on both sides.
const createTouchedRows = `CREATE TABLE IF NOT EXISTS {schema}.touched_rows (
	follower VARCHAR(191) NOT NULL,
	side ENUM('source', 'target') NOT NULL,
	schema_name VARCHAR(64) NOT NULL,
	table_name VARCHAR(64) NOT NULL,
	pk VARBINARY(255) NOT NULL,
	seq BIGINT NOT NULL,
	PRIMARY KEY (follower, side, schema_name, table_name, pk)
) ENGINE=InnoDB`

// Run follows the source from the recorded position (or req.Start) and
// applies the followed schemas' transactions to their targets, each batch
// with its end position in one target transaction. It returns when ctx
// ends (nil), when req.Until is reached (nil), or on an error: a
// *DDLError for a schema change on a followed schema, ErrPurged,
// ErrNoRowBinlog, ErrSchemaChanged when the two sides' schemas differ.
// A run that ctx ends before Until is reached returns nil and a Status
// whose Applied is short of it: check it.
func (f *Follower) Run(ctx context.Context, req Request) (Status, error) {
	st, err := f.run(ctx, req)
	if err != nil && ctx.Err() != nil {
		// Stopped (Ctrl-C, SIGTERM) while it started, applied or settled:
		// what was not committed rolled back with its position, and a
		// lasting cause is met again by the next run.
		f.Logger.Debug("follow: stopped", "err", err)
		return st, nil
	}
	return st, err
}

func (f *Follower) run(ctx context.Context, req Request) (Status, error) {
	var st Status
	if req.Key == "" || len(req.Schemas) == 0 {
		return st, fmt.Errorf("follow: a key and at least one schema are needed: %w", termshift.ErrInvalid)
	}
	src, dst, done, err := f.openBoth()
	if err != nil {
		return st, err
	}
	defer done()
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
	// An apply or a settling that fails because ctx ended is a stop, not
	// an error: its transaction rolled back, with its position.
	interrupted := func(err error) (Status, error) {
		if ctx.Err() != nil {
			report()
			return st, nil
		}
		return st, err
	}
	// pass is the settling in progress; ready is a channel that is always
	// ready, waited on while one runs so that its next chunk is not held
	// up by an idle source.
	var pass *settling
	ready := make(chan time.Time)
	close(ready)
	for {
		if pass != nil {
			done, err := pass.step(ctx, src, dst, req, pks)
			if err != nil {
				return interrupted(err)
			}
			st.Settling, st.SettleRows = pass.compared, pass.rows
			if done {
				st.Settled, st.Pending, st.Settling, st.SettleRows = pass.settled, pass.pending, 0, 0
				f.Logger.Debug("follow: settled", "settled", pass.settled, "pending", pass.pending)
				pass = nil
				report()
			}
		}
		var idle <-chan time.Time
		if pass != nil {
			idle = ready
		}
		// Take what is ready, up to a batch's worth, waiting for the first.
		batch = batch[:0]
		select {
		case <-ctx.Done():
			report()
			return st, nil
		case <-tick.C:
			if settleEvery > 0 && pass == nil && len(units) == 0 && time.Since(lastSettle) >= settleEvery {
				lastSettle = time.Now()
				// Settled rows are forgotten: a change of them must be
				// recorded again.
				clear(seen.rows)
				p, err := startSettling(ctx, dst, req, applied)
				if err != nil {
					return interrupted(err)
				}
				pass = p
			}
			report()
			continue
		case <-idle:
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
				return interrupted(err)
			}
			fde = u.fde
			if _, err := conn.ExecContext(ctx, fde); err != nil {
				return interrupted(fmt.Errorf("follow: apply the format description of %s on the target: %w", applied.File, err))
			}
			from = i + 1
		}
		if err := f.apply(ctx, conn, req.Key, &applied, batch[from:], &st, seen); err != nil {
			return interrupted(err)
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

// prepare creates PositionSchema's tables on the target, or brings those
// of an older termshift up to date.
func (f *Follower) prepare(ctx context.Context, dst *sql.DB) error {
	return prepareIn(ctx, dst, PositionSchema)
}

// prepareIn creates the follower's tables in schema, or brings those of an
// older termshift up to date. It reads their columns first and changes
// nothing when they are as they should be: a no-op DDL statement is still
// written to the binary log, and a catch-up reads the binary log up to its
// head once more after its proof when the head moved.
func prepareIn(ctx context.Context, dst *sql.DB, schema string) error {
	rows, err := dst.QueryContext(ctx, "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ?", schema)
	if err != nil {
		return fmt.Errorf("follow: read the columns of %s on the target: %w", schema, err)
	}
	have := map[string]string{}
	for rows.Next() {
		var table, column, typ string
		if err := rows.Scan(&table, &column, &typ); err != nil {
			rows.Close()
			return fmt.Errorf("follow: read the columns of %s on the target: %w", schema, err)
		}
		have[table+"."+column] = typ
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("follow: read the columns of %s on the target: %w", schema, err)
	}
	if have["positions.tracks_touched"] != "" && have["touched.whole"] != "" && have["touched_rows.pk"] == "varbinary" {
		return nil
	}
	for _, q := range []string{"CREATE DATABASE IF NOT EXISTS {schema}", createPositions,
		"ALTER TABLE {schema}.positions ADD COLUMN IF NOT EXISTS tracks_touched BOOLEAN NOT NULL DEFAULT FALSE", createTouched,
		"ALTER TABLE {schema}.touched ADD COLUMN IF NOT EXISTS whole BOOLEAN NOT NULL DEFAULT TRUE", createTouchedRows} {
		if _, err := dst.ExecContext(ctx, strings.ReplaceAll(q, "{schema}", termshift.QuoteMySQL(schema))); err != nil {
			return fmt.Errorf("follow: create %s on the target: %w", schema, err)
		}
	}
	// Before text keys were recorded, pk was DECIMAL(20, 0): its integers
	// read the same as text.
	if typ, ok := have["touched_rows.pk"]; ok && typ != "varbinary" {
		if _, err := dst.ExecContext(ctx, "ALTER TABLE "+termshift.QuoteMySQL(schema)+".touched_rows MODIFY pk VARBINARY(255) NOT NULL"); err != nil {
			return fmt.Errorf("follow: widen %s.touched_rows to text keys on the target: %w", schema, err)
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
	for _, from := range slices.Sorted(maps.Keys(names)) {
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
	slices.Sort(diffs)
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
	src, dst, done, err := f.openBoth()
	if err != nil {
		return err
	}
	defer done()
	return SchemasEqual(ctx, src, dst, names)
}
