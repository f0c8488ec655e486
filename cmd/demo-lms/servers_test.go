package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
)

// The helpers below carve a throwaway namespace on each real local server
// with the admin credentials of `make services`, the way termshift would for
// a release, and remove it when the test ends.

func suffix(t *testing.T) string {
	t.Helper()
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// password has characters that need escaping in JSON, URLs and SQL.
func password(t *testing.T) termshift.Secret {
	return termshift.Secret("pw\"\\:@/%+" + suffix(t))
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newMySQL(t *testing.T) MySQLConfig {
	t.Helper()
	dsn := termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN")
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse TERMSHIFT_MYSQL_DSN: %v", err)
	}
	admin, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := "lmst_" + suffix(t)
	pw := password(t)
	ctx := context.Background()
	stmts := []string{
		"CREATE DATABASE " + termshift.QuoteMySQL(name),
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", name, strings.ReplaceAll(strings.ReplaceAll(pw.Reveal(), `\`, `\\`), `'`, `''`)),
		fmt.Sprintf("GRANT ALL ON %s.* TO '%s'@'%%'", termshift.QuoteMySQL(name), name),
	}
	t.Cleanup(func() {
		admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+termshift.QuoteMySQL(name))
		admin.ExecContext(ctx, fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", name))
	})
	for _, s := range stmts {
		if _, err := admin.ExecContext(ctx, s); err != nil {
			t.Fatalf("carve mysql %s: %v", name, err)
		}
	}
	host, port, err := net.SplitHostPort(mc.Addr)
	if err != nil {
		t.Fatalf("TERMSHIFT_MYSQL_DSN address %q: %v", mc.Addr, err)
	}
	p, _ := strconv.Atoi(port)
	return MySQLConfig{Host: host, Port: p, Name: name, User: name, Password: pw}
}

func newMongo(t *testing.T) MongoConfig {
	t.Helper()
	uri := termshift.RequireLocalSetting(t, "TERMSHIFT_MONGO_URI")
	name := "lmst_" + suffix(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			return
		}
		defer c.Disconnect(ctx)
		c.Database(name).Drop(ctx)
	})
	return MongoConfig{URI: termshift.Secret(uri), Name: name}
}

func newRabbitMQ(t *testing.T) RabbitMQConfig {
	t.Helper()
	amqpURL := termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_URL")
	api, err := rabbithole.NewClient(
		termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_URL"),
		termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_USER"),
		termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_PASSWORD"))
	if err != nil {
		t.Fatalf("rabbitmq management client: %v", err)
	}
	name := "lmst_" + suffix(t)
	pw := password(t)
	t.Cleanup(func() {
		api.DeleteVhost(name)
		api.DeleteUser(name)
	})
	if _, err := api.PutVhost(name, rabbithole.VhostSettings{}); err != nil {
		t.Fatalf("create vhost %s: %v", name, err)
	}
	if _, err := api.PutUser(name, rabbithole.UserSettings{Password: pw.Reveal(), Tags: rabbithole.UserTags{}}); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	if _, err := api.UpdatePermissionsIn(name, name, rabbithole.Permissions{Configure: ".*", Write: ".*", Read: ".*"}); err != nil {
		t.Fatalf("grant %s on %s: %v", name, name, err)
	}
	u, err := url.Parse(amqpURL)
	if err != nil {
		t.Fatalf("parse TERMSHIFT_RABBITMQ_URL: %v", err)
	}
	u.User = url.UserPassword(name, pw.Reveal())
	u.Path, u.RawPath = "/"+name, "/"+url.PathEscape(name)
	return RabbitMQConfig{URL: termshift.Secret(u.String()), Queue: "edx.lms.core.default"}
}

func memcachedServers(t *testing.T) []string {
	t.Helper()
	clusters := termshift.RequireLocalSetting(t, "TERMSHIFT_MEMCACHED_CLUSTERS")
	first, _, _ := strings.Cut(clusters, ";")
	return strings.Split(first, ",")
}

// newConfig carves every namespace of a throwaway release.
func newConfig(t *testing.T, ver string) Config {
	t.Helper()
	cfg := Config{
		Release:       "t" + suffix(t)[:8],
		Version:       ver,
		Listen:        "127.0.0.1:0",
		SessionCookie: "termshift_test_sessionid",
		MySQL:         newMySQL(t),
		Mongo:         newMongo(t),
		Forum:         newMongo(t),
		RabbitMQ:      newRabbitMQ(t),
		Memcached:     MemcachedConfig{Servers: memcachedServers(t)},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

func open(t *testing.T, cfg Config) *backends {
	t.Helper()
	b, err := openBackends(cfg)
	if err != nil {
		t.Fatalf("open backends: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.Close(ctx)
	})
	return b
}

// seedCourse writes a published course the way the backup's modulestore
// holds one: an active_versions entry and its structure.
func seedCourse(t *testing.T, db *mongo.Database, key CourseKey, chapters int) {
	t.Helper()
	seedCourseNamed(t, db, key, "Circuits and Electronics", chapters)
}

// seedCourseNamed is seedCourse with the course's display name.
func seedCourseNamed(t *testing.T, db *mongo.Database, key CourseKey, name string, chapters int) {
	t.Helper()
	ctx := context.Background()
	sid := bson.NewObjectID()
	ref := func(typ, id string) bson.D {
		return bson.D{{Key: "block_type", Value: typ}, {Key: "block_id", Value: id}}
	}
	blk := func(typ, id, name string, children bson.A) bson.D {
		return bson.D{{Key: "block_type", Value: typ}, {Key: "block_id", Value: id}, {Key: "definition", Value: bson.NewObjectID()},
			{Key: "fields", Value: bson.D{{Key: "display_name", Value: name}, {Key: "children", Value: children}}}}
	}
	var blocks, top bson.A
	for c := range chapters {
		cid := fmt.Sprintf("ch%d", c)
		seq := fmt.Sprintf("seq%d", c)
		vert := fmt.Sprintf("vert%d", c)
		top = append(top, ref("chapter", cid))
		blocks = append(blocks,
			blk("chapter", cid, fmt.Sprintf("Week %d", c+1), bson.A{ref("sequential", seq)}),
			blk("sequential", seq, fmt.Sprintf("Lecture %d", c+1), bson.A{ref("vertical", vert)}),
			blk("vertical", vert, fmt.Sprintf("Unit %d", c+1), bson.A{}))
	}
	blocks = append(blocks, blk("course", "course", name, top))
	if _, err := db.Collection(structuresColl).InsertOne(ctx, bson.D{{Key: "_id", Value: sid},
		{Key: "root", Value: bson.A{"course", "course"}}, {Key: "blocks", Value: blocks}}); err != nil {
		t.Fatalf("seed structure: %v", err)
	}
	if _, err := db.Collection(activeVersionsColl).InsertOne(ctx, bson.D{{Key: "org", Value: key.Org},
		{Key: "course", Value: key.Course}, {Key: "run", Value: key.Run},
		{Key: "versions", Value: bson.D{{Key: "published-branch", Value: sid}, {Key: "draft-branch", Value: sid}}}}); err != nil {
		t.Fatalf("seed active version: %v", err)
	}
}

// startLMS carves a release, migrates it and serves it with faults (nil:
// none) until the test ends.
func startLMS(t *testing.T, ver string, f *faults) (Config, *backends, *httptest.Server) {
	t.Helper()
	cfg := newConfig(t, ver)
	b := open(t, cfg)
	if _, err := Migrate(context.Background(), b.db, cfg.Version, quietLog()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newHandler(b, f, quietLog()))
	t.Cleanup(srv.Close)
	return cfg, b, srv
}

// writeConfigFile writes cfg as the rendered lms.env.json would hold it.
func writeConfigFile(t *testing.T, cfg Config) string {
	t.Helper()
	raw := map[string]any{
		"release": cfg.Release, "version": cfg.Version, "listen": cfg.Listen, "session_cookie": cfg.SessionCookie,
		"mysql": map[string]any{"host": cfg.MySQL.Host, "port": cfg.MySQL.Port, "name": cfg.MySQL.Name,
			"user": cfg.MySQL.User, "password": cfg.MySQL.Password.Reveal()},
		"mongo":     map[string]any{"uri": cfg.Mongo.URI.Reveal(), "name": cfg.Mongo.Name},
		"forum":     map[string]any{"uri": cfg.Forum.URI.Reveal(), "name": cfg.Forum.Name},
		"rabbitmq":  map[string]any{"url": cfg.RabbitMQ.URL.Reveal(), "queue": cfg.RabbitMQ.Queue},
		"memcached": map[string]any{"servers": cfg.Memcached.Servers},
	}
	data, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "lms.env.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
