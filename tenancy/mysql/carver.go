// Package mysql carves a release's schemas on a shared MySQL or MariaDB
// server: one schema per logical database, each with its own user that holds
// every privilege on that schema and nothing else, and an owner marker naming
// the environment and release the schema is carved for.
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	driver "github.com/go-sql-driver/mysql"
	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
)

// OwnerTable is the one-row marker table MarkerTable creates inside a
// schema. The restore loaders leave a table of this name alone.
const OwnerTable = "termshift_owner"

// Server error numbers the carver handles itself.
const (
	erDBCreateExists = 1007 // ER_DB_CREATE_EXISTS
	erNoSuchTable    = 1146 // ER_NO_SUCH_TABLE
)

// systemSchemas are the server's own schemas; List leaves them out.
var systemSchemas = []string{"information_schema", "mysql", "performance_schema", "sys"}

// Carver carves schemas and their users on one MySQL or MariaDB server.
type Carver struct {
	db       *sql.DB
	cfg      *driver.Config // the administrator's
	userHost string
	// comments: the server has schema comments, so markers can be read there.
	comments bool
	marker   string // MarkerComment or MarkerTable
}

// New connects to the server with the administrator's DSN and finds out
// where owner markers live.
func New(ctx context.Context, cfg Config) (*Carver, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dcfg, err := parseDSN(cfg.DSN)
	if err != nil {
		return nil, err
	}
	// Passwords and comments travel as string literals that the driver
	// escapes for the connection's sql_mode; CREATE USER cannot be a
	// server-side prepared statement everywhere.
	dcfg.InterpolateParams = true
	dcfg.DBName = ""
	userHost, _ := cfg.userHost()
	conn, err := driver.NewConnector(dcfg)
	if err != nil {
		return nil, fmt.Errorf("mysql %s: %w", dcfg.Addr, err)
	}
	c := &Carver{db: sql.OpenDB(conn), cfg: dcfg, userHost: userHost}
	c.db.SetMaxOpenConns(4)
	if err := c.db.PingContext(ctx); err != nil {
		c.db.Close()
		return nil, fmt.Errorf("connect to %s as %s: %w", c.Server(), dcfg.User, err)
	}
	var n int
	err = c.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'SCHEMATA' AND COLUMN_NAME = 'SCHEMA_COMMENT'").Scan(&n)
	if err != nil {
		c.db.Close()
		return nil, fmt.Errorf("look up schema comments on %s: %w", c.Server(), err)
	}
	c.comments = n > 0
	switch {
	case cfg.Marker == MarkerTable || cfg.Marker == MarkerAuto && !c.comments:
		c.marker = MarkerTable
	case c.comments:
		c.marker = MarkerComment
	default:
		c.db.Close()
		return nil, fmt.Errorf("mysql config: marker %q: %s has no schema comments (MariaDB 10.5+ has), use %q: %w", MarkerComment, c.Server(), MarkerTable, termshift.ErrInvalid)
	}
	return c, nil
}

// parseDSN parses a DSN without ever repeating it: the driver's parse errors
// quote parts of it, which may hold the password.
func parseDSN(dsn termshift.Secret) (*driver.Config, error) {
	dcfg, err := driver.ParseDSN(dsn.Reveal())
	if err != nil {
		return nil, fmt.Errorf("mysql config: DSN does not parse: %w", termshift.ErrInvalid)
	}
	return dcfg, nil
}

// Server names the server for messages: "mysql 127.0.0.1:3306".
func (c *Carver) Server() string { return "mysql " + c.cfg.Addr }

// Marker says where this carver records owners: MarkerComment or MarkerTable.
func (c *Carver) Marker() string { return c.marker }

// Close releases the administrator's connections.
func (c *Carver) Close() error { return c.db.Close() }

// validate refuses a namespace this carver must not touch, before any statement runs.
func validate(ns termshift.Namespace) error {
	if ns.Service != termshift.MySQL {
		return fmt.Errorf("namespace %s is not a mysql namespace: %w", ns, termshift.ErrInvalid)
	}
	if err := termshift.ValidateMySQLIdent("MySQL schema", ns.Name); err != nil {
		return err
	}
	if slices.Contains(systemSchemas, strings.ToLower(ns.Name)) {
		return &termshift.NameError{What: "MySQL schema", Name: ns.Name, Rule: "is a system schema"}
	}
	if err := termshift.ValidateMySQLUser(ns.User); err != nil {
		return err
	}
	return nil
}

// grantSchema renders a schema for a GRANT's database level, where '_' and
// '%' are wildcards unless escaped: `edxapp\_next` grants on edxapp_next only.
func grantSchema(name string) string {
	return termshift.QuoteMySQL(strings.NewReplacer("_", `\_`, "%", `\%`).Replace(name))
}

// account renders 'user'@'host' as a placeholder expression's arguments.
const account = "?@?"

func (c *Carver) notOurs(ns termshift.Namespace, found, want termshift.Owner, userOnly bool) error {
	return &tenancy.NotOursError{Namespace: ns, Server: c.Server(), Found: found, Want: want, UserOnly: userOnly}
}

// Carve creates the schema (utf8mb4, utf8mb4_unicode_ci) with owner's
// marker, then its user with every privilege on that schema only. A schema
// already marked for owner is kept: a missing user is created, an existing
// one keeps its password and is granted again (tenancy.Exists when both were
// there). A schema marked for another owner or not marked at all, or a user
// without its schema, is refused with a *tenancy.NotOursError and nothing
// is changed.
func (c *Carver) Carve(ctx context.Context, ns termshift.Namespace, password termshift.Secret, owner termshift.Owner) (tenancy.Result, error) {
	res := tenancy.Result{Namespace: ns, Isolation: tenancy.Enforced}
	if err := validate(ns); err != nil {
		return res, fmt.Errorf("carve: %w", err)
	}
	if err := tenancy.ValidateOwner(owner); err != nil {
		return res, fmt.Errorf("carve %s: %w", ns, err)
	}
	if password == "" {
		return res, fmt.Errorf("carve %s: empty password: %w", ns, termshift.ErrInvalid)
	}
	// The user first: a carve makes the namespace before its user, so a
	// user seen here has its namespace by the time that is looked up, and a
	// concurrent carve of the same name is told apart from a user made by
	// hand.
	userOK, err := c.userExists(ctx, ns)
	if err != nil {
		return res, err
	}
	found, schemaOK, err := c.owner(ctx, ns)
	if err != nil {
		return res, err
	}
	switch {
	case schemaOK && found != owner:
		return res, c.notOurs(ns, found, owner, false)
	case !schemaOK && userOK:
		return res, c.notOurs(ns, termshift.Owner{}, owner, true)
	}
	res.Outcome = tenancy.Exists
	if !schemaOK {
		res.Outcome = tenancy.Created
		if err := c.createSchema(ctx, ns, owner); err != nil {
			return res, err
		}
	}
	if !userOK {
		res.Outcome = tenancy.Created
		// No IF NOT EXISTS: a user that appeared since the look-up is not
		// ours to grant on our schema.
		if _, err := c.db.ExecContext(ctx, "CREATE USER "+account+" IDENTIFIED BY ?", ns.User, c.userHost, password.Reveal()); err != nil {
			return res, fmt.Errorf("create user %s on %s (schema %s is carved and marked for %s): %w",
				termshift.Quote(ns.User), c.Server(), termshift.Quote(ns.Name), owner, redact(err, password))
		}
	}
	// Granting again is harmless and repairs a grant revoked by hand.
	if _, err := c.db.ExecContext(ctx, "GRANT ALL PRIVILEGES ON "+grantSchema(ns.Name)+".* TO "+account, ns.User, c.userHost); err != nil {
		return res, fmt.Errorf("grant on %s to %s on %s: %w", termshift.Quote(ns.Name), termshift.Quote(ns.User), c.Server(), err)
	}
	return res, nil
}

// createSchema creates the schema with owner's marker. CREATE DATABASE
// without IF NOT EXISTS is the claim: of two carvers racing for one name, one
// creates it and the other reads the winner's marker.
func (c *Carver) createSchema(ctx context.Context, ns termshift.Namespace, owner termshift.Owner) error {
	q := "CREATE DATABASE " + termshift.QuoteMySQL(ns.Name) + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
	args := []any{}
	if c.marker == MarkerComment {
		q += " COMMENT ?"
		args = append(args, tenancy.FormatMarker(owner))
	}
	_, err := c.db.ExecContext(ctx, q, args...)
	var me *driver.MySQLError
	if errors.As(err, &me) && me.Number == erDBCreateExists {
		found, _, rerr := c.owner(ctx, ns)
		if rerr != nil {
			return rerr
		}
		if found != owner {
			return c.notOurs(ns, found, owner, false)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("create schema %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	if c.marker == MarkerComment {
		return nil
	}
	if err := c.writeOwnerTable(ctx, ns, owner); err != nil {
		// An unmarked schema would be refused as not ours by every later
		// carve: take back the empty schema just made.
		if _, derr := c.db.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE "+termshift.QuoteMySQL(ns.Name)); derr != nil {
			return fmt.Errorf("%w; and dropping the unmarked schema again failed, drop it by hand: %w", err, derr)
		}
		return fmt.Errorf("%w (the schema was dropped again: nothing is left)", err)
	}
	return nil
}

// writeOwnerTable records owner in OwnerTable. The release's user holds
// every privilege on its schema, so it could alter this table; a marker that
// no longer reads as its owner makes Carve and Drop refuse the schema, which
// errs on the safe side.
//
// Untested here: the local server is MariaDB with schema comments, so the
// tests exercise this path through Config.Marker = MarkerTable on MariaDB,
// never on a MySQL server.
func (c *Carver) writeOwnerTable(ctx context.Context, ns termshift.Namespace, owner termshift.Owner) error {
	table := termshift.QuoteMySQL(ns.Name) + "." + termshift.QuoteMySQL(OwnerTable)
	if _, err := c.db.ExecContext(ctx, "CREATE TABLE "+table+
		" (id TINYINT PRIMARY KEY, environment VARCHAR(40) NOT NULL, release_name VARCHAR(20) NOT NULL, carved_at DATETIME NOT NULL)"); err != nil {
		return fmt.Errorf("create owner table in %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	if _, err := c.db.ExecContext(ctx, "INSERT INTO "+table+" (id, environment, release_name, carved_at) VALUES (1, ?, ?, UTC_TIMESTAMP())",
		owner.Environment, owner.Release); err != nil {
		return fmt.Errorf("write owner of %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	return nil
}

// Drop removes the user and the schema with all its tables, only when the
// schema's marker names owner; another owner's or an unmarked schema is
// refused with a *tenancy.NotOursError. tenancy.Absent when the schema is
// not there; a user without its schema is left alone (a note says so).
func (c *Carver) Drop(ctx context.Context, ns termshift.Namespace, owner termshift.Owner) (tenancy.Result, error) {
	res := tenancy.Result{Namespace: ns, Isolation: tenancy.Enforced}
	if err := validate(ns); err != nil {
		return res, fmt.Errorf("drop: %w", err)
	}
	if err := tenancy.ValidateOwner(owner); err != nil {
		return res, fmt.Errorf("drop %s: %w", ns, err)
	}
	found, schemaOK, err := c.owner(ctx, ns)
	if err != nil {
		return res, err
	}
	if !schemaOK {
		res.Outcome = tenancy.Absent
		userOK, err := c.userExists(ctx, ns)
		if err != nil {
			return res, err
		}
		if userOK {
			res.Notes = append(res.Notes, tenancy.UserOnlyNote(ns.User))
		}
		return res, nil
	}
	if found != owner {
		return res, c.notOurs(ns, found, owner, false)
	}
	res.Outcome = tenancy.Dropped
	// The user first: a schema left by a crash between the two still
	// carries its marker, a user without its schema would not be ours.
	if _, err := c.db.ExecContext(ctx, "DROP USER IF EXISTS "+account, ns.User, c.userHost); err != nil {
		return res, fmt.Errorf("drop user %s on %s: %w", termshift.Quote(ns.User), c.Server(), err)
	}
	if _, err := c.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+termshift.QuoteMySQL(ns.Name)); err != nil {
		return res, fmt.Errorf("drop schema %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	return res, nil
}

// Owner reads the schema's owner marker: exists is false when there is no
// such schema; a zero owner with exists true means the schema has no marker.
func (c *Carver) Owner(ctx context.Context, ns termshift.Namespace) (termshift.Owner, bool, error) {
	if err := validate(ns); err != nil {
		return termshift.Owner{}, false, fmt.Errorf("owner: %w", err)
	}
	return c.owner(ctx, ns)
}

// owner reads the comment where the server has them, then the marker table:
// a server's marker place may change (a MySQL server migrated to MariaDB).
func (c *Carver) owner(ctx context.Context, ns termshift.Namespace) (termshift.Owner, bool, error) {
	var n int
	if err := c.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", ns.Name).Scan(&n); err != nil {
		return termshift.Owner{}, false, fmt.Errorf("look up schema %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	if n == 0 {
		return termshift.Owner{}, false, nil
	}
	if c.comments {
		var comment string
		if err := c.db.QueryRowContext(ctx, "SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", ns.Name).Scan(&comment); err != nil {
			return termshift.Owner{}, true, fmt.Errorf("read owner of schema %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
		}
		if o, ok := tenancy.ParseMarker(comment); ok {
			return o, true, nil
		}
	}
	var o termshift.Owner
	err := c.db.QueryRowContext(ctx, "SELECT environment, release_name FROM "+termshift.QuoteMySQL(ns.Name)+"."+termshift.QuoteMySQL(OwnerTable)+" WHERE id = 1").
		Scan(&o.Environment, &o.Release)
	var me *driver.MySQLError
	switch {
	case errors.Is(err, sql.ErrNoRows), errors.As(err, &me) && me.Number == erNoSuchTable:
		return termshift.Owner{}, true, nil
	case err != nil:
		return termshift.Owner{}, true, fmt.Errorf("read owner table of schema %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	case o.Validate() != nil:
		// Whatever this row is, it does not name an owner.
		return termshift.Owner{}, true, nil
	}
	return o, true, nil
}

// Exists reports whether both the schema and its user exist.
func (c *Carver) Exists(ctx context.Context, ns termshift.Namespace) (bool, error) {
	if err := validate(ns); err != nil {
		return false, fmt.Errorf("exists: %w", err)
	}
	_, schemaOK, err := c.owner(ctx, ns)
	if err != nil || !schemaOK {
		return false, err
	}
	return c.userExists(ctx, ns)
}

func (c *Carver) userExists(ctx context.Context, ns termshift.Namespace) (bool, error) {
	var n int
	if err := c.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?", ns.User, c.userHost).Scan(&n); err != nil {
		return false, fmt.Errorf("look up user %s on %s: %w", termshift.Quote(ns.User), c.Server(), err)
	}
	return n > 0, nil
}

// List returns every schema on the server except the server's own.
func (c *Carver) List(ctx context.Context) ([]string, error) {
	rows, err := c.db.QueryContext(ctx, "SHOW DATABASES")
	if err != nil {
		return nil, fmt.Errorf("list schemas on %s: %w", c.Server(), err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list schemas on %s: %w", c.Server(), err)
		}
		if !slices.Contains(systemSchemas, strings.ToLower(name)) {
			out = append(out, name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list schemas on %s: %w", c.Server(), err)
	}
	return out, nil
}

// redact keeps a password out of a server's message, which may quote the
// statement near a syntax error. The server's error number survives.
func redact(err error, password termshift.Secret) error {
	p := password.Reveal()
	if err == nil || p == "" || !strings.Contains(err.Error(), p) {
		return err
	}
	var me *driver.MySQLError
	if errors.As(err, &me) {
		return &driver.MySQLError{Number: me.Number, SQLState: me.SQLState,
			Message: strings.ReplaceAll(me.Message, p, "[redacted]")}
	}
	return errors.New(strings.ReplaceAll(err.Error(), p, "[redacted]"))
}
