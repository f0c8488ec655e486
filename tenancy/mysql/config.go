package mysql

import (
	"fmt"
	"regexp"

	"github.com/termshift/termshift"
)

// Config tells a Carver how to reach the MySQL or MariaDB server.
type Config struct {
	// DSN is the administrator's data source name in go-sql-driver form,
	// e.g. "root:pw@tcp(127.0.0.1:3306)/". It is a Secret because it may
	// hold a password.
	DSN termshift.Secret
	// UserHost is the host part of every release user ('user'@'host');
	// default "%".
	UserHost string
	// Marker says where Carve records a schema's owner: MarkerAuto (the
	// default) picks MarkerComment on a server with schema comments
	// (MariaDB 10.5+) and MarkerTable elsewhere (MySQL).
	Marker string
}

// Where the owner marker of a schema lives.
const (
	// MarkerAuto: a schema comment where the server has them, else a table.
	MarkerAuto = ""
	// MarkerComment: the schema's comment, "termshift owner=qa/next",
	// readable from information_schema.SCHEMATA.SCHEMA_COMMENT (MariaDB).
	MarkerComment = "comment"
	// MarkerTable: a one-row table named OwnerTable inside the schema, for
	// servers without schema comments (MySQL).
	MarkerTable = "table"
)

// DefaultUserHost is the host part of release users when Config.UserHost is empty.
const DefaultUserHost = "%"

// userHostRE admits host names, IP addresses, netmasks and the % and _
// wildcards MySQL accepts in an account's host part.
var userHostRE = regexp.MustCompile(`^[A-Za-z0-9.%_:/-]{1,255}$`)

func (c Config) userHost() (string, error) {
	if c.UserHost == "" {
		return DefaultUserHost, nil
	}
	if !userHostRE.MatchString(c.UserHost) {
		return "", &termshift.NameError{What: "MySQL user host", Name: c.UserHost,
			Rule: "may hold only letters, digits, '.', '%', '_', ':', '/' and '-'"}
	}
	return c.UserHost, nil
}

func (c Config) validate() error {
	if c.DSN == "" {
		return fmt.Errorf("mysql config: empty DSN: %w", termshift.ErrInvalid)
	}
	switch c.Marker {
	case MarkerAuto, MarkerComment, MarkerTable:
	default:
		return fmt.Errorf("mysql config: marker %s (want %q, %q or empty): %w", termshift.Quote(c.Marker), MarkerComment, MarkerTable, termshift.ErrInvalid)
	}
	_, err := c.userHost()
	return err
}
