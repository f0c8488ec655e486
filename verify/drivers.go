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
	amqp "github.com/rabbitmq/amqp091-go"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
)

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

// mysqlAddr is the address release connections go to.
func mysqlAddr(s Servers) string {
	if s.MySQLAddr != "" {
		return s.MySQLAddr
	}
	if cfg, err := mysqlAdminConfig(s); err == nil {
		return cfg.Addr
	}
	return ""
}

// openMySQL opens a pool for cred on schema (may be ""), keeping the admin
// DSN's TLS and other parameters when there is one.
func openMySQL(ctx context.Context, s Servers, cred termshift.Credential, schema string) (*sql.DB, error) {
	cfg, err := mysqlAdminConfig(s)
	if err != nil {
		if s.MySQLAddr == "" {
			return nil, fmt.Errorf("mysql: %w", errNoServer)
		}
		cfg = mysql.NewConfig()
		cfg.Net, cfg.Addr = "tcp", s.MySQLAddr
	}
	cfg = cfg.Clone()
	cfg.User, cfg.Passwd, cfg.DBName = cred.User, cred.Password.Reveal(), schema
	cfg.Timeout = remaining(ctx)
	return connectMySQL(cfg)
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

// mysqlCode returns the server error number of err, 0 if it has none.
func mysqlCode(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// MySQL errors that mean "refused": access denied to a database, access
// denied for the user, command denied on a table.
const (
	erDBAccessDenied    = 1044
	erAccessDenied      = 1045
	erTableAccessDenied = 1142
	erBadDB             = 1049
)

func mysqlRefused(err error) bool {
	switch mysqlCode(err) {
	case erDBAccessDenied, erAccessDenied, erTableAccessDenied:
		return true
	}
	return false
}

// openMongo connects with the admin URI, or, when cred is set, with the
// URI's host and options but cred authenticating against its own database.
func openMongo(ctx context.Context, s Servers, cred *termshift.Credential, authSource string) (*mongo.Client, error) {
	if s.MongoURI == "" {
		return nil, fmt.Errorf("mongo uri: %w", errNoServer)
	}
	o := options.Client().ApplyURI(s.MongoURI.Reveal())
	if o.Validate() != nil {
		// The driver's message can quote the URI, password and all.
		return nil, errors.New("mongo admin uri is not valid")
	}
	if cred != nil {
		o.SetAuth(options.Credential{Username: cred.User, Password: cred.Password.Reveal(), AuthSource: authSource})
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

// Mongo error codes that mean "refused".
const (
	mongoUnauthorized         = 13
	mongoAuthenticationFailed = 18
)

func mongoRefused(err error) bool {
	var se mongo.ServerError
	if errors.As(err, &se) {
		return se.HasErrorCode(mongoUnauthorized) || se.HasErrorCode(mongoAuthenticationFailed)
	}
	return false
}

// dialAMQP opens a connection to vhost as cred.
func dialAMQP(ctx context.Context, s Servers, cred termshift.Credential, vhost string) (*amqp.Connection, error) {
	if s.AMQPAddr == "" {
		return nil, fmt.Errorf("amqp: %w", errNoServer)
	}
	cfg := amqp.Config{
		SASL:  []amqp.Authentication{&amqp.PlainAuth{Username: cred.User, Password: cred.Password.Reveal()}},
		Vhost: vhost,
		Dial:  amqp.DefaultDial(remaining(ctx)),
	}
	conn, err := amqp.DialConfig("amqp://"+s.AMQPAddr+"/", cfg)
	if err != nil {
		return nil, fmt.Errorf("amqp %s vhost %s: %w", s.AMQPAddr, termshift.Quote(vhost), err)
	}
	return conn, nil
}

// amqpRefused: the broker refused the credential or the vhost.
func amqpRefused(err error) bool {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		return ae.Code == amqp.AccessRefused || ae.Code == amqp.NotAllowed
	}
	return false
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
