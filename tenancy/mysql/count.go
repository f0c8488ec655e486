package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	driver "github.com/go-sql-driver/mysql"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
)

// Counter counts the rows and AUTO_INCREMENT values of schemas with the
// administrator's credentials.
type Counter struct {
	DSN termshift.Secret
}

// Count returns, per "schema.table", the rows and the next AUTO_INCREMENT
// value of every base table of the schemas. Errors name the server, never
// the DSN's password.
func (c *Counter) Count(ctx context.Context, schemas []string) (tenancy.Counts, error) {
	out := tenancy.Counts{Rows: map[string]int64{}, AutoIncrement: map[string]int64{}}
	cfg, err := driver.ParseDSN(c.DSN.Reveal())
	if err != nil {
		return out, fmt.Errorf("count: admin DSN does not parse: %w", termshift.ErrInvalid)
	}
	cfg.DBName = ""
	conn, err := driver.NewConnector(cfg)
	if err != nil {
		return out, fmt.Errorf("count on %s: %w", cfg.Addr, err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	sc, err := db.Conn(ctx)
	if err != nil {
		return out, fmt.Errorf("connect to %s: %w", cfg.Addr, redact(err, termshift.Secret(cfg.Passwd)))
	}
	defer sc.Close()
	// MySQL 8 caches information_schema statistics; MariaDB refuses the variable.
	_, _ = sc.ExecContext(ctx, "SET SESSION information_schema_stats_expiry = 0")
	for _, schema := range schemas {
		if err := termshift.ValidateMySQLIdent("MySQL schema", schema); err != nil {
			return out, fmt.Errorf("count: %w", err)
		}
		rows, err := sc.QueryContext(ctx, "SELECT TABLE_NAME, COALESCE(AUTO_INCREMENT, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", schema)
		if err != nil {
			return out, fmt.Errorf("list tables of %s on %s: %w", termshift.Quote(schema), cfg.Addr, err)
		}
		type table struct {
			name string
			ai   int64
		}
		var tables []table
		for rows.Next() {
			var t table
			if err := rows.Scan(&t.name, &t.ai); err != nil {
				rows.Close()
				return out, err
			}
			tables = append(tables, t)
		}
		err = errors.Join(rows.Err(), rows.Close())
		if err != nil {
			return out, fmt.Errorf("list tables of %s on %s: %w", termshift.Quote(schema), cfg.Addr, err)
		}
		for _, t := range tables {
			if strings.EqualFold(t.name, ownerTable) {
				continue
			}
			var n int64
			q := "SELECT COUNT(*) FROM " + termshift.QuoteMySQL(schema) + "." + termshift.QuoteMySQL(t.name)
			if err := sc.QueryRowContext(ctx, q).Scan(&n); err != nil {
				return out, fmt.Errorf("count %s.%s on %s: %w", schema, t.name, cfg.Addr, err)
			}
			key := schema + "." + t.name
			out.Rows[key] = n
			if t.ai > 0 {
				out.AutoIncrement[key] = t.ai
			}
		}
	}
	return out, nil
}

// ownerTable is the ownership marker table on servers without schema
// comments; it is termshift's, not the release's data.
const ownerTable = "termshift_owner"
