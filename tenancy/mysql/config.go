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
}

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
	_, err := c.userHost()
	return err
}
