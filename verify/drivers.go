package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/go-sql-driver/mysql"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
)

// Verify opens admin connections here, for counts (integrity, scrub) and
// memcached clusters. A release's credential is only ever tried through the
// Probers of Options: what a refusal looks like on each server is known in
// one place, tenancy, not here.

// remaining is how long ctx still allows, for drivers that take a timeout
// rather than a context.
func remaining(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d > 0 {
			return d
		}
		return time.Millisecond
	}
	return defaultTimeout
}

// errNoServer: the Target names no address for a service it has namespaces
// on, so the check cannot run.
var errNoServer = errors.New("no server address configured")

// mysqlAdminConfig parses the admin DSN; its error never repeats the DSN.
func mysqlAdminConfig(s Servers) (*mysql.Config, error) {
	if s.MySQLAdminDSN == "" {
		return nil, fmt.Errorf("mysql admin dsn: %w", errNoServer)
	}
	cfg, err := mysql.ParseDSN(s.MySQLAdminDSN.Reveal())
	if err != nil {
		return nil, fmt.Errorf("parse mysql admin dsn: %w", err)
	}
	if s.MySQLAddr != "" {
		cfg.Net, cfg.Addr = "tcp", s.MySQLAddr
	}
	return cfg, nil
}

// mysqlAddr names the MySQL server in messages.
func mysqlAddr(s Servers) string {
	if s.MySQLAddr != "" {
		return s.MySQLAddr
	}
	if cfg, err := mysqlAdminConfig(s); err == nil {
		return cfg.Addr
	}
	return ""
}

// openMySQLAdmin opens a pool with the admin DSN.
func openMySQLAdmin(ctx context.Context, s Servers) (*sql.DB, error) {
	cfg, err := mysqlAdminConfig(s)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = remaining(ctx)
	return connectMySQL(cfg)
}

func connectMySQL(cfg *mysql.Config) (*sql.DB, error) {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql %s: %w", cfg.Addr, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	return db, nil
}

// openMongo connects with the admin URI.
func openMongo(ctx context.Context, s Servers) (*mongo.Client, error) {
	if s.MongoURI == "" {
		return nil, fmt.Errorf("mongo uri: %w", errNoServer)
	}
	o := options.Client().ApplyURI(s.MongoURI.Reveal())
	if o.Validate() != nil {
		// The driver's message can quote the URI, password and all.
		return nil, errors.New("mongo admin uri is not valid")
	}
	d := remaining(ctx)
	o.SetServerSelectionTimeout(d).SetConnectTimeout(d)
	c, err := mongo.Connect(o)
	if err != nil {
		return nil, fmt.Errorf("connect to mongo: %w", err)
	}
	return c, nil
}

// mongoHosts names the servers of the admin URI for messages.
func mongoHosts(s Servers) string {
	o := options.Client().ApplyURI(s.MongoURI.Reveal())
	if o.Validate() != nil || len(o.Hosts) == 0 {
		return "mongo"
	}
	return fmt.Sprint(o.Hosts)
}

func disconnectMongo(c *mongo.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Disconnect(ctx)
}

// newMemcache returns a client for a cluster; gomemcache takes a timeout
// rather than a context.
func newMemcache(ctx context.Context, endpoints []string) (*memcache.Client, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("memcached: %w", errNoServer)
	}
	for _, ep := range endpoints {
		if _, _, err := net.SplitHostPort(ep); err != nil {
			return nil, fmt.Errorf("memcached endpoint %s: %w", termshift.Quote(ep), err)
		}
	}
	c := memcache.New(endpoints...)
	c.Timeout = remaining(ctx)
	return c, nil
}
