package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/go-sql-driver/mysql"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/termshift/termshift"
)

// backends are the four namespaces of one release, opened lazily: the web
// server starts while a backend is down and /heartbeat says which one.
type backends struct {
	cfg    Config
	redact redactor
	db     *sql.DB
	mongo  *mongo.Client
	mdb    *mongo.Database // the modulestore
	forum  *mongo.Client
	fdb    *mongo.Database
	cache  *memcache.Client
	rabbit *rabbit
}

func openBackends(cfg Config) (*backends, error) {
	db, err := openMySQL(cfg.MySQL)
	if err != nil {
		return nil, err
	}
	mc, err := openMongo(cfg.Mongo, cfg.secrets())
	if err != nil {
		db.Close()
		return nil, err
	}
	fc, err := openMongo(cfg.Forum, cfg.secrets())
	if err != nil {
		db.Close()
		_ = mc.Disconnect(context.Background())
		return nil, err
	}
	cache := memcache.New(cfg.Memcached.Servers...)
	cache.Timeout = 2 * time.Second
	return &backends{
		cfg:    cfg,
		redact: cfg.secrets(),
		db:     db,
		mongo:  mc,
		mdb:    mc.Database(cfg.Mongo.Name),
		forum:  fc,
		fdb:    fc.Database(cfg.Forum.Name),
		cache:  cache,
		rabbit: &rabbit{url: cfg.RabbitMQ.URL, queue: cfg.RabbitMQ.Queue},
	}, nil
}

// openMongo makes a client for one database; it connects on first use.
// Writes wait for the journal of a majority, so an acknowledged write
// survives a crash of the server.
func openMongo(c MongoConfig, secrets redactor) (*mongo.Client, error) {
	opts := options.Client().ApplyURI(c.URI.Reveal()).
		SetServerSelectionTimeout(3 * time.Second).
		SetConnectTimeout(3 * time.Second).
		SetWriteConcern(&writeconcern.WriteConcern{W: writeconcern.WCMajority, Journal: new(true)}).
		SetAppName("demo-lms")
	mc, err := mongo.Connect(opts)
	if err != nil {
		// The driver's URI parse errors may quote the URI.
		return nil, fmt.Errorf("open mongo %s: %s", c.Name, secrets.String(err))
	}
	return mc, nil
}

func openMySQL(c MySQLConfig) (*sql.DB, error) {
	mc := mysql.NewConfig()
	mc.Net = "tcp"
	mc.Addr = net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	mc.User = c.User
	mc.Passwd = c.Password.Reveal()
	mc.DBName = c.Name
	mc.ParseTime = true
	mc.Loc = time.UTC
	mc.Timeout = 3 * time.Second
	mc.Params = map[string]string{"time_zone": "'+00:00'"}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("open mysql %s on %s: %w", c.Name, mc.Addr, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(20)
	db.SetConnMaxIdleTime(time.Minute)
	return db, nil
}

func (b *backends) Close(ctx context.Context) error {
	return errors.Join(b.rabbit.Close(), b.mongo.Disconnect(ctx), b.forum.Disconnect(ctx), b.db.Close())
}

// rabbit holds one AMQP connection and a publishing channel in confirm mode,
// dialled on first use and again after the broker closed them.
type rabbit struct {
	url   termshift.Secret
	queue string

	mu       sync.Mutex
	conn     *amqp.Connection
	pub      *amqp.Channel
	declared bool
}

func (r *rabbit) connection() (*amqp.Connection, error) {
	if r.conn != nil && !r.conn.IsClosed() {
		return r.conn, nil
	}
	r.pub, r.declared = nil, false
	conn, err := amqp.DialConfig(r.url.Reveal(), amqp.Config{
		Heartbeat:  10 * time.Second,
		Locale:     "en_US",
		Dial:       amqp.DefaultDial(3 * time.Second),
		Properties: amqp.Table{"connection_name": "demo-lms"},
	})
	if err != nil {
		return nil, err
	}
	r.conn = conn
	return conn, nil
}

// Conn returns a live connection, dialling if needed.
func (r *rabbit) Conn() (*amqp.Connection, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connection()
}

// declareQueue declares the queue the way the backup's definitions hold it,
// so declaring an already restored queue is a no-op rather than a mismatch.
func declareQueue(ch *amqp.Channel, name string) error {
	_, err := ch.QueueDeclare(name, true, false, false, false, amqp.Table{"x-queue-type": "classic"})
	return err
}

// Publish sends one persistent message to the queue and waits for the
// broker's confirm.
func (r *rabbit) Publish(ctx context.Context, msg amqp.Publishing) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	conn, err := r.connection()
	if err != nil {
		return err
	}
	if r.pub == nil || r.pub.IsClosed() {
		ch, err := conn.Channel()
		if err != nil {
			return err
		}
		if err := ch.Confirm(false); err != nil {
			ch.Close()
			return err
		}
		r.pub, r.declared = ch, false
	}
	if !r.declared {
		if err := declareQueue(r.pub, r.queue); err != nil {
			return err
		}
		r.declared = true
	}
	msg.DeliveryMode = amqp.Persistent
	conf, err := r.pub.PublishWithDeferredConfirmWithContext(ctx, "", r.queue, true, false, msg)
	if err != nil {
		return err
	}
	ok, err := conf.WaitContext(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("broker nacked the message")
	}
	return nil
}

func (r *rabbit) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn == nil || r.conn.IsClosed() {
		return nil
	}
	return r.conn.Close()
}
