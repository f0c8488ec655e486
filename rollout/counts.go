package rollout

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"sync"
	"time"

	_ "github.com/go-sql-driver/mysql" // the MySQL driver for counts
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
)

// takeCounts records per-table rows and AUTO_INCREMENT values and
// per-collection documents of a release's MySQL and MongoDB namespaces. A
// server that cannot be asked is listed in Unavailable, not an error.
func (o *Orchestrator) takeCounts(ctx context.Context, rs *ReleaseState) *SwitchCounts {
	c := &SwitchCounts{At: o.Now(), Rows: map[string]int64{}, AutoIncrement: map[string]int64{}, Documents: map[string]int64{}}
	var schemas, dbs []string
	for _, ns := range rs.Namespaces {
		switch ns.Service {
		case termshift.MySQL:
			schemas = append(schemas, ns.Name)
		case termshift.MongoDB:
			dbs = append(dbs, ns.Name)
		}
	}
	// MySQL and MongoDB are counted at once, each into its own maps.
	my := &SwitchCounts{Rows: c.Rows, AutoIncrement: c.AutoIncrement}
	var myErr, mgErr error
	var wg sync.WaitGroup
	if len(schemas) > 0 && o.Env.Servers.MySQL != nil {
		wg.Go(func() { myErr = o.mysqlCounts(ctx, schemas, my) })
	}
	if len(dbs) > 0 && o.Env.Servers.Mongo != nil {
		wg.Go(func() { mgErr = o.mongoCounts(ctx, dbs, c) })
	}
	wg.Wait()
	if myErr != nil {
		c.Unavailable = append(c.Unavailable, "mysql: "+myErr.Error())
	}
	if mgErr != nil {
		c.Unavailable = append(c.Unavailable, "mongo: "+mgErr.Error())
	}
	return c
}

func (o *Orchestrator) mysqlCounts(ctx context.Context, schemas []string, c *SwitchCounts) error {
	db, err := sql.Open("mysql", o.Env.Servers.MySQL.DSN)
	if err != nil {
		return fmt.Errorf("open: %s", termshift.Quote(o.mysqlAddr()))
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", o.mysqlAddr(), redactErr(err, o.adminSecrets()))
	}
	defer conn.Close()
	// MySQL 8 caches information_schema statistics; MariaDB refuses the variable.
	_, _ = conn.ExecContext(ctx, "SET SESSION information_schema_stats_expiry = 0")
	for _, schema := range schemas {
		rows, err := conn.QueryContext(ctx, "SELECT TABLE_NAME, COALESCE(AUTO_INCREMENT, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", schema)
		if err != nil {
			return fmt.Errorf("list tables of %s: %w", termshift.Quote(schema), err)
		}
		type tbl struct {
			name string
			ai   int64
		}
		var tables []tbl
		for rows.Next() {
			var t tbl
			if err := rows.Scan(&t.name, &t.ai); err != nil {
				rows.Close()
				return err
			}
			tables = append(tables, t)
		}
		rows.Close()
		for _, t := range tables {
			var n int64
			q := "SELECT COUNT(*) FROM " + termshift.QuoteMySQL(schema) + "." + termshift.QuoteMySQL(t.name)
			if err := conn.QueryRowContext(ctx, q).Scan(&n); err != nil {
				return fmt.Errorf("count %s.%s: %w", schema, t.name, err)
			}
			key := schema + "." + t.name
			c.Rows[key] = n
			if t.ai > 0 {
				c.AutoIncrement[key] = t.ai
			}
		}
	}
	return nil
}

func (o *Orchestrator) mongoCounts(ctx context.Context, dbs []string, c *SwitchCounts) error {
	client, err := mongo.Connect(options.Client().ApplyURI(o.Env.Servers.Mongo.URI).SetServerSelectionTimeout(3 * time.Second))
	if err != nil {
		return fmt.Errorf("connect: %w", redactErr(err, o.adminSecrets()))
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	for _, name := range dbs {
		colls, err := client.Database(name).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return fmt.Errorf("list collections of %s: %w", termshift.Quote(name), redactErr(err, o.adminSecrets()))
		}
		sort.Strings(colls)
		// Collections are counted at once: a count scans on some servers.
		counts := make([]int64, len(colls))
		errs := make([]error, len(colls))
		var wg sync.WaitGroup
		for i, coll := range colls {
			wg.Go(func() {
				counts[i], errs[i] = client.Database(name).Collection(coll).CountDocuments(ctx, bson.D{})
			})
		}
		wg.Wait()
		for i, coll := range colls {
			if errs[i] != nil {
				return fmt.Errorf("count %s.%s: %w", name, coll, redactErr(errs[i], o.adminSecrets()))
			}
			c.Documents[name+"."+coll] = counts[i]
		}
	}
	return nil
}

func (o *Orchestrator) mysqlAddr() string {
	h, p := o.mysqlHostPort()
	return fmt.Sprintf("%s:%d", h, p)
}

// redactErr removes secrets from an error's text.
func redactErr(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s", maskFunc(secrets)(err.Error()))
}

// Stranded is data written to a release since it became live: what a
// rollback would leave behind.
type Stranded struct {
	Release   string           `json:"release"`
	Since     time.Time        `json:"since"`
	Rows      map[string]int64 `json:"rows,omitempty"`      // table -> rows added since the switch
	NewIDs    map[string]int64 `json:"new_ids,omitempty"`   // table -> AUTO_INCREMENT values issued since
	Documents map[string]int64 `json:"documents,omitempty"` // collection -> documents added since
	Unknown   []string         `json:"unknown,omitempty"`   // why some could not be counted
}

// Empty reports whether nothing would be stranded.
func (s *Stranded) Empty() bool {
	return len(s.Rows) == 0 && len(s.NewIDs) == 0 && len(s.Documents) == 0 && len(s.Unknown) == 0
}

// stranded compares a release's counts now with those recorded when it
// became live.
func (o *Orchestrator) stranded(ctx context.Context, rs *ReleaseState) *Stranded {
	out := &Stranded{Release: rs.Name, Rows: map[string]int64{}, NewIDs: map[string]int64{}, Documents: map[string]int64{}}
	if rs.Switch == nil {
		out.Unknown = append(out.Unknown, "no counts were recorded when "+termshift.Quote(rs.Name)+" became live")
		return out
	}
	out.Since = rs.Switch.At
	now := o.takeCounts(ctx, rs)
	out.Unknown = append(out.Unknown, now.Unavailable...)
	for k, v := range now.Rows {
		if d := v - rs.Switch.Rows[k]; d != 0 {
			out.Rows[k] = d
		}
	}
	for k, v := range now.AutoIncrement {
		if d := v - rs.Switch.AutoIncrement[k]; d > 0 && rs.Switch.AutoIncrement[k] > 0 {
			out.NewIDs[k] = d
		}
	}
	for k, v := range now.Documents {
		if d := v - rs.Switch.Documents[k]; d != 0 {
			out.Documents[k] = d
		}
	}
	return out
}
