package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	driver "github.com/go-sql-driver/mysql"
	"github.com/termshift/termshift"
)

// refusals are the server error numbers that mean "this credential does not
// get in": every one termshift knows, in one place. MySQL and MariaDB share
// the numbers below 2000; the account-locked number differs.
var refusals = map[uint16]string{
	1044: "ER_DBACCESS_DENIED_ERROR",           // no grant on the schema
	1045: "ER_ACCESS_DENIED_ERROR",             // wrong password, or no such user
	1130: "ER_HOST_NOT_PRIVILEGED",             // no account for this client host
	1142: "ER_TABLEACCESS_DENIED_ERROR",        // command denied on a table
	1143: "ER_COLUMNACCESS_DENIED_ERROR",       // command denied on a column
	1227: "ER_SPECIFIC_ACCESS_DENIED_ERROR",    // needs a privilege it lacks
	1370: "ER_PROCACCESS_DENIED_ERROR",         // command denied on a routine
	1698: "ER_ACCESS_DENIED_NO_PASSWORD_ERROR", // MariaDB: no account for this user and host, some clients
	1820: "ER_MUST_CHANGE_PASSWORD",            // expired password: logged in, every statement refused
	1862: "ER_MUST_CHANGE_PASSWORD_LOGIN",      // expired password, refused at login
	3118: "ER_ACCOUNT_HAS_BEEN_LOCKED",         // MySQL
	4151: "ER_ACCOUNT_HAS_BEEN_LOCKED",         // MariaDB
}

// erBadDB: the schema does not exist, which the server tells a user only
// when one of its grants covers the name.
const erBadDB = 1049

// Prober tells whether a credential gets into a schema. It holds the
// server's address and connection parameters, never the administrator's
// credential.
type Prober struct {
	cfg *driver.Config // no user, no password, no schema
}

// NewProber prepares a prober for the server cfg.DSN names. The DSN needs
// no credential ("tcp(127.0.0.1:3306)/?tls=true"); one that has it is
// dropped. It makes no connection.
func NewProber(cfg Config) (*Prober, error) {
	if cfg.DSN == "" {
		return nil, fmt.Errorf("mysql config: empty DSN: %w", termshift.ErrInvalid)
	}
	dcfg, err := parseDSN(cfg.DSN)
	if err != nil {
		return nil, err
	}
	dcfg.User, dcfg.Passwd, dcfg.DBName = "", "", ""
	return &Prober{cfg: dcfg}, nil
}

// Server names the server for messages: "mysql 127.0.0.1:3306".
func (p *Prober) Server() string { return "mysql " + p.cfg.Addr }

// Probe logs in as cred with the target schema selected and reads its
// list of tables. nil: cred gets into the schema (a grant of SELECT alone
// is enough, which is what isolation must catch). An error wrapping
// termshift.ErrAccessDenied: the server refused cred (the error keeps the
// server's number, see refusals). Any other error: it could not tell (the
// server is unreachable; a schema that does not exist but that a grant
// covers wraps termshift.ErrNotFound).
func (p *Prober) Probe(ctx context.Context, cred termshift.Credential, target termshift.Namespace) error {
	if err := validate(target); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	cfg := p.cfg.Clone()
	cfg.User = cred.User
	cfg.Passwd = cred.Password.Reveal()
	cfg.DBName = target.Name
	conn, err := driver.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("probe %s on %s: %w", target, p.Server(), err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	what := fmt.Sprintf("probe %s on %s as %s", target, p.Server(), termshift.Quote(cred.User))
	if err := db.PingContext(ctx); err != nil {
		return probeError(what+": connect", err, cred.Password)
	}
	var tables int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()").Scan(&tables); err != nil {
		return probeError(what+": list tables", err, cred.Password)
	}
	return nil
}

// probeError classifies err: a refusal wraps termshift.ErrAccessDenied, a
// schema that does not exist wraps termshift.ErrNotFound.
func probeError(what string, err error, password termshift.Secret) error {
	err = redact(err, password)
	var me *driver.MySQLError
	if errors.As(err, &me) {
		if _, ok := refusals[me.Number]; ok {
			return fmt.Errorf("%s: %w: %w", what, termshift.ErrAccessDenied, err)
		}
		if me.Number == erBadDB {
			return fmt.Errorf("%s: the schema does not exist, and a grant lets this user see that: %w: %w", what, termshift.ErrNotFound, err)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}
