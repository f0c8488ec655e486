// Package mysql carves a release's schemas on a shared MySQL or MariaDB
// server: one schema per logical database, each with its own user that holds
// every privilege on that schema and nothing else.
package mysql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	driver "github.com/go-sql-driver/mysql"
	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
)

// Server error numbers that mean a credential was refused.
const (
	erDBAccessDenied    = 1044 // ER_DBACCESS_DENIED_ERROR
	erAccessDenied      = 1045 // ER_ACCESS_DENIED_ERROR
	erTableAccessDenied = 1142 // ER_TABLEACCESS_DENIED_ERROR
	erSpecificAccess    = 1227 // ER_SPECIFIC_ACCESS_DENIED_ERROR
	erAccessNoPassword  = 1698 // ER_ACCESS_DENIED_NO_PASSWORD_ERROR: MariaDB, for a user that does not exist
)

// systemSchemas are the server's own schemas; List leaves them out.
var systemSchemas = []string{"information_schema", "mysql", "performance_schema", "sys"}

// Carver carves schemas and their users on one MySQL or MariaDB server.
type Carver struct {
	db       *sql.DB
	cfg      *driver.Config // the administrator's; cloned for probes
	userHost string
}

// New connects to the server with the administrator's DSN.
func New(ctx context.Context, cfg Config) (*Carver, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dcfg, err := driver.ParseDSN(cfg.DSN.Reveal())
	if err != nil {
		// The driver's parse errors quote parts of the DSN, which may hold the password.
		return nil, fmt.Errorf("mysql config: DSN does not parse: %w", termshift.ErrInvalid)
	}
	// Passwords travel as string literals that the driver escapes for the
	// connection's sql_mode; CREATE USER cannot be a server-side prepared
	// statement everywhere.
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
	return c, nil
}

// Server names the server for messages: "mysql 127.0.0.1:3306".
func (c *Carver) Server() string { return "mysql " + c.cfg.Addr }

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

// Carve creates the schema (utf8mb4, utf8mb4_unicode_ci) and its user with
// every privilege on that schema only. When both already exist it changes
// nothing (the user keeps its password) and reports tenancy.Exists.
func (c *Carver) Carve(ctx context.Context, ns termshift.Namespace, password termshift.Secret) (tenancy.Result, error) {
	res := tenancy.Result{Namespace: ns, Isolation: tenancy.Enforced}
	if err := validate(ns); err != nil {
		return res, fmt.Errorf("carve: %w", err)
	}
	if password == "" {
		return res, fmt.Errorf("carve %s: empty password: %w", ns, termshift.ErrInvalid)
	}
	schemaOK, userOK, err := c.exists(ctx, ns)
	if err != nil {
		return res, err
	}
	if schemaOK && userOK {
		res.Outcome = tenancy.Exists
		// Re-granting is harmless and repairs a grant revoked by hand.
		if _, err := c.db.ExecContext(ctx, "GRANT ALL PRIVILEGES ON "+grantSchema(ns.Name)+".* TO "+account, ns.User, c.userHost); err != nil {
			return res, fmt.Errorf("grant on %s to %s on %s: %w", termshift.Quote(ns.Name), termshift.Quote(ns.User), c.Server(), err)
		}
		return res, nil
	}
	res.Outcome = tenancy.Created
	if _, err := c.db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+termshift.QuoteMySQL(ns.Name)+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return res, fmt.Errorf("create schema %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	if _, err := c.db.ExecContext(ctx, "CREATE USER IF NOT EXISTS "+account+" IDENTIFIED BY ?", ns.User, c.userHost, password.Reveal()); err != nil {
		return res, fmt.Errorf("create user %s on %s: %w", termshift.Quote(ns.User), c.Server(), redact(err, password))
	}
	if _, err := c.db.ExecContext(ctx, "GRANT ALL PRIVILEGES ON "+grantSchema(ns.Name)+".* TO "+account, ns.User, c.userHost); err != nil {
		return res, fmt.Errorf("grant on %s to %s on %s: %w", termshift.Quote(ns.Name), termshift.Quote(ns.User), c.Server(), err)
	}
	return res, nil
}

// Drop removes the user and the schema with all its tables. It reports
// tenancy.Absent when neither was there.
func (c *Carver) Drop(ctx context.Context, ns termshift.Namespace) (tenancy.Result, error) {
	res := tenancy.Result{Namespace: ns, Isolation: tenancy.Enforced}
	if err := validate(ns); err != nil {
		return res, fmt.Errorf("drop: %w", err)
	}
	schemaOK, userOK, err := c.exists(ctx, ns)
	if err != nil {
		return res, err
	}
	res.Outcome = tenancy.Absent
	if schemaOK || userOK {
		res.Outcome = tenancy.Dropped
	}
	if _, err := c.db.ExecContext(ctx, "DROP USER IF EXISTS "+account, ns.User, c.userHost); err != nil {
		return res, fmt.Errorf("drop user %s on %s: %w", termshift.Quote(ns.User), c.Server(), err)
	}
	if _, err := c.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+termshift.QuoteMySQL(ns.Name)); err != nil {
		return res, fmt.Errorf("drop schema %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	return res, nil
}

// Exists reports whether both the schema and its user exist.
func (c *Carver) Exists(ctx context.Context, ns termshift.Namespace) (bool, error) {
	if err := validate(ns); err != nil {
		return false, fmt.Errorf("exists: %w", err)
	}
	schemaOK, userOK, err := c.exists(ctx, ns)
	return schemaOK && userOK, err
}

func (c *Carver) exists(ctx context.Context, ns termshift.Namespace) (schema, user bool, err error) {
	var n int
	if err := c.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", ns.Name).Scan(&n); err != nil {
		return false, false, fmt.Errorf("look up schema %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	schema = n > 0
	if err := c.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?", ns.User, c.userHost).Scan(&n); err != nil {
		return false, false, fmt.Errorf("look up user %s on %s: %w", termshift.Quote(ns.User), c.Server(), err)
	}
	return schema, n > 0, nil
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

// Probe logs in with cred, selects the target schema, lists its tables and
// creates and drops a table in it. A refusal wraps tenancy.ErrAccessDenied.
func (c *Carver) Probe(ctx context.Context, cred termshift.Credential, target termshift.Namespace) error {
	if err := validate(target); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	cfg := c.cfg.Clone()
	cfg.User = cred.User
	cfg.Passwd = cred.Password.Reveal()
	cfg.DBName = target.Name
	conn, err := driver.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("probe %s on %s: %w", target, c.Server(), err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	what := fmt.Sprintf("probe %s on %s as %s", target, c.Server(), termshift.Quote(cred.User))
	if err := db.PingContext(ctx); err != nil {
		return probeError(what+": connect", err, cred.Password)
	}
	var tables int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", target.Name).Scan(&tables); err != nil {
		return probeError(what+": list tables", err, cred.Password)
	}
	table, err := probeTable()
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+termshift.QuoteMySQL(table)+" (id INT PRIMARY KEY)"); err != nil {
		return probeError(what+": create table", err, cred.Password)
	}
	if _, err := db.ExecContext(ctx, "DROP TABLE "+termshift.QuoteMySQL(table)); err != nil {
		return probeError(what+": drop table "+table, err, cred.Password)
	}
	return nil
}

func probeTable() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("probe table name: %w", err)
	}
	return "termshift_probe_" + hex.EncodeToString(b), nil
}

func probeError(what string, err error, password termshift.Secret) error {
	err = redact(err, password)
	var me *driver.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case erDBAccessDenied, erAccessDenied, erTableAccessDenied, erSpecificAccess, erAccessNoPassword:
			return fmt.Errorf("%s: %w: %w", what, tenancy.ErrAccessDenied, err)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
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
