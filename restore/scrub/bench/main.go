// Command bench measures the scrub at production scale on the local
// servers (make services): an auth_user-like table of -rows rows in a
// scratch MySQL schema and -docs forum-like documents (default: as many as
// -rows, at most 100,000) in a scratch MongoDB database, scrubbed with the
// openedx preset through scrub.MySQL and
// scrub.Mongo, the scrubbers `termshift scrub` runs. It checks that nothing
// is left to scrub, drops the scratch namespaces, and ends with
//
//	scrub-bench: mysql N rows/s, mongo N docs/s, peak RSS N MiB
//
// Usage: go run ./restore/scrub/bench [-rows 1000000] [-docs N] [-threads N]
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore/scrub"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "auth_user rows in the scratch MySQL schema")
	docs := flag.Int("docs", 0, "forum documents in the scratch MongoDB database (0: as many as -rows, at most 100000)")
	threads := flag.Int("threads", scrub.DefaultMySQLThreads, "key ranges the MySQL scrub rewrites at once")
	flag.Parse()
	if *docs == 0 {
		// FerretDB, the local MongoDB server, reads and writes forum
		// documents at a few thousand a second: a million takes minutes.
		*docs = min(*rows, 100_000)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *rows, *docs, *threads); err != nil {
		fmt.Fprintln(os.Stderr, "scrub-bench:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, rows, docs, threads int) error {
	if rows < 1 || docs < 1 || threads < 1 {
		return fmt.Errorf("-rows, -docs and -threads must be at least 1 (got %d, %d, %d)", rows, docs, threads)
	}
	dsn, err := setting("TERMSHIFT_MYSQL_DSN")
	if err != nil {
		return err
	}
	uri, err := setting("TERMSHIFT_MONGO_URI")
	if err != nil {
		return err
	}
	salt := termshift.Secret("bench-" + suffix())
	rules, err := scrub.Preset("openedx")
	if err != nil {
		return err
	}

	myRate, err := benchMySQL(ctx, termshift.Secret(dsn), rows, threads, rules, salt)
	if err != nil {
		return fmt.Errorf("mysql: %w", err)
	}
	mongoRate, err := benchMongo(ctx, termshift.Secret(uri), docs, rules, salt)
	if err != nil {
		return fmt.Errorf("mongo: %w", err)
	}
	peak, err := peakRSS()
	if err != nil {
		return err
	}
	fmt.Printf("scrub-bench: mysql %.0f rows/s, mongo %.0f docs/s, peak RSS %d MiB\n", myRate, mongoRate, peak>>20)
	return nil
}

// setting reads a local server's setting the way the tests do.
func setting(name string) (string, error) {
	v, ok := termshift.LocalSetting(name)
	if !ok {
		return "", fmt.Errorf("%s is not set and %s has no value: run `make services` first", name, termshift.DevEnvFile)
	}
	return v, nil
}

func suffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// authUser is Django's auth_user as edxapp's migrations create it.
const authUser = `CREATE TABLE auth_user (
  id int NOT NULL AUTO_INCREMENT PRIMARY KEY,
  password varchar(128) NOT NULL,
  last_login datetime(6) DEFAULT NULL,
  is_superuser tinyint(1) NOT NULL,
  username varchar(150) NOT NULL UNIQUE,
  first_name varchar(150) NOT NULL,
  last_name varchar(150) NOT NULL,
  email varchar(254) NOT NULL,
  is_staff tinyint(1) NOT NULL,
  is_active tinyint(1) NOT NULL,
  date_joined datetime(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

func benchMySQL(ctx context.Context, dsn termshift.Secret, rows, threads int, rules []scrub.Rule, salt termshift.Secret) (float64, error) {
	cfg, err := mysql.ParseDSN(dsn.Reveal())
	if err != nil {
		return 0, fmt.Errorf("parse TERMSHIFT_MYSQL_DSN: %w", err)
	}
	schema := "scrub_bench_" + suffix()
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return 0, fmt.Errorf("TERMSHIFT_MYSQL_DSN: %w", err)
	}
	admin := sql.OpenDB(connector)
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		return 0, fmt.Errorf("reach the MySQL server at %s (is `make services` up?): %w", cfg.Addr, err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+termshift.QuoteMySQL(schema)+" DEFAULT CHARACTER SET utf8mb4"); err != nil {
		return 0, fmt.Errorf("create scratch schema %s: %w", schema, err)
	}
	defer func() {
		if _, err := admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE "+termshift.QuoteMySQL(schema)); err != nil {
			fmt.Fprintf(os.Stderr, "scrub-bench: drop scratch schema %s: %v\n", schema, err)
		}
	}()
	if err := fillAuthUser(ctx, admin, schema, rows); err != nil {
		return 0, err
	}

	ns := termshift.Namespace{Service: termshift.MySQL, Logical: "edxapp", Release: "bench", Name: schema}
	sc := &scrub.MySQL{DSN: dsn, Threads: threads}
	rep, err := sc.Scrub(ctx, ns, rules, salt)
	if err != nil {
		return 0, err
	}
	var scrubbed int64
	for _, t := range rep.Tables {
		if t.Table == "auth_user" {
			scrubbed = max(scrubbed, t.Rows)
		}
	}
	if scrubbed != int64(rows) {
		return 0, fmt.Errorf("the scrub rewrote %d rows of auth_user, want %d", scrubbed, rows)
	}
	left, err := scrub.LeftoversMySQL(ctx, rules, scrub.MySQLOptions{DSN: dsn, Schema: schema})
	if err != nil {
		return 0, err
	}
	if err := noLeftovers(left); err != nil {
		return 0, err
	}
	rate := float64(rows) / rep.Seconds
	fmt.Printf("mysql: scrubbed %d auth_user rows (4 columns) in %.2fs with %d threads: %.0f rows/s\n", rows, rep.Seconds, threads, rate)
	return rate, nil
}

// fillAuthUser inserts rows users generated by the server, 100,000 per
// statement from a cross join of digits.
func fillAuthUser(ctx context.Context, admin *sql.DB, schema string, rows int) error {
	started := time.Now()
	conn, err := admin.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	q := termshift.QuoteMySQL(schema)
	for _, stmt := range []string{
		"USE " + q,
		authUser,
		"CREATE TEMPORARY TABLE digits (d int NOT NULL PRIMARY KEY)",
		"INSERT INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)",
		"CREATE TEMPORARY TABLE d2 LIKE digits", "INSERT INTO d2 SELECT * FROM digits",
		"CREATE TEMPORARY TABLE d3 LIKE digits", "INSERT INTO d3 SELECT * FROM digits",
		"CREATE TEMPORARY TABLE d4 LIKE digits", "INSERT INTO d4 SELECT * FROM digits",
		"CREATE TEMPORARY TABLE d5 LIKE digits", "INSERT INTO d5 SELECT * FROM digits",
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("prepare scratch schema %s: %w", schema, err)
		}
	}
	const chunk = 100_000
	for base := 0; base < rows; base += chunk {
		n := min(chunk, rows-base)
		_, err := conn.ExecContext(ctx, `INSERT INTO auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
			SELECT id, CONCAT('pbkdf2_sha256$600000$', LEFT(MD5(id), 12), '$', TO_BASE64(UNHEX(SHA2(id, 256)))),
				NOW(6) - INTERVAL id % 1000 MINUTE, 0, CONCAT('learner', id), CONCAT('Ada', id % 977), CONCAT('Lovelace', id % 331),
				CONCAT('ada.lovelace', id, '@', ELT(1 + id % 4, 'gmail.com', 'yahoo.com', 'outlook.com', 'example.edu')),
				id % 1000 = 0, 1, NOW(6) - INTERVAL id MINUTE
			FROM (SELECT ? + 1 + a.d + 10*b.d + 100*c.d + 1000*e.d + 10000*f.d AS id
			      FROM digits a, d2 b, d3 c, d4 e, d5 f) ids
			WHERE id <= ?`, base, base+n)
		if err != nil {
			return fmt.Errorf("fill %s.auth_user at row %d: %w", schema, base, err)
		}
	}
	fmt.Printf("mysql: generated %d auth_user rows in %.1fs\n", rows, time.Since(started).Seconds())
	// The scrub is timed, not the flush of the pages the generation dirtied:
	// FLUSH TABLES ... FOR EXPORT writes the table's dirty pages out now.
	waited := time.Now()
	if _, err := conn.ExecContext(ctx, "FLUSH TABLES auth_user FOR EXPORT"); err != nil {
		return fmt.Errorf("flush %s.auth_user: %w", schema, err)
	}
	if _, err := conn.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		return fmt.Errorf("unlock %s.auth_user: %w", schema, err)
	}
	fmt.Printf("mysql: waited %.1fs for the server to write the generated pages\n", time.Since(waited).Seconds())
	return nil
}

func benchMongo(ctx context.Context, uri termshift.Secret, docs int, rules []scrub.Rule, salt termshift.Secret) (float64, error) {
	copts := options.Client().ApplyURI(uri.Reveal())
	if err := copts.Validate(); err != nil {
		return 0, errors.New("TERMSHIFT_MONGO_URI is not a valid MongoDB URI")
	}
	client, err := mongo.Connect(copts)
	if err != nil {
		return 0, fmt.Errorf("connect to %s: %w", strings.Join(copts.Hosts, ","), err)
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	if err := client.Ping(ctx, nil); err != nil {
		return 0, fmt.Errorf("reach the MongoDB server at %s (is `make services` up?): %w", strings.Join(copts.Hosts, ","), err)
	}
	name := "scrub_bench_" + suffix()
	db := client.Database(name)
	defer func() {
		if err := db.Drop(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(os.Stderr, "scrub-bench: drop scratch database %s: %v\n", name, err)
		}
	}()
	users := max(docs/10, 1)
	posts := docs - users
	started := time.Now()
	if err := fillForum(ctx, db, posts, users); err != nil {
		return 0, err
	}
	fmt.Printf("mongo: generated %d forum posts and %d users in %.1fs\n", posts, users, time.Since(started).Seconds())

	ns := termshift.Namespace{Service: termshift.MongoDB, Logical: "forum", Release: "bench", Name: name}
	rep, err := (&scrub.Mongo{URI: uri}).Scrub(ctx, ns, rules, salt)
	if err != nil {
		return 0, err
	}
	left, err := scrub.LeftoversMongo(ctx, rules, scrub.MongoOptions{URI: uri, Database: name})
	if err != nil {
		return 0, err
	}
	if err := noLeftovers(left); err != nil {
		return 0, err
	}
	rate := float64(docs) / rep.Seconds
	fmt.Printf("mongo: scrubbed %d documents (posts: body, title; users: email) in %.2fs: %.0f docs/s\n", docs, rep.Seconds, rate)
	for _, t := range rep.Tables {
		fmt.Printf("mongo:   %s.%s %s: %d documents\n", t.Table, t.Column, t.Action, t.Rows)
	}
	return rate, nil
}

// fillForum inserts cs_comments_service-like posts (threads with titles,
// comments without) and users, in unordered batches, two collections at once.
func fillForum(ctx context.Context, db *mongo.Database, posts, users int) error {
	const batch = 1000
	insert := func(coll string, n int, gen func(i int) bson.D) error {
		c := db.Collection(coll)
		buf := make([]any, 0, batch)
		for i := range n {
			buf = append(buf, gen(i))
			if len(buf) == batch || i == n-1 {
				if _, err := c.InsertMany(ctx, buf, options.InsertMany().SetOrdered(false)); err != nil {
					return fmt.Errorf("fill %s.%s at document %d: %w", db.Name(), coll, i, err)
				}
				buf = buf[:0]
			}
		}
		return nil
	}
	created := bson.DateTime(1_700_000_000_000)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() {
		errs[0] = insert("contents", posts, func(i int) bson.D {
			d := bson.D{
				{Key: "_id", Value: bson.NewObjectID()},
				{Key: "_type", Value: []string{"CommentThread", "Comment"}[i%2]},
				{Key: "author_id", Value: strconv.Itoa(1 + i%50_000)},
				{Key: "author_username", Value: "learner" + strconv.Itoa(1+i%50_000)},
				{Key: "course_id", Value: "course-v1:edX+DemoX+Demo_Course"},
				{Key: "body", Value: fmt.Sprintf("Hi all, I am stuck on problem %d of week %d. My phone is +44 20 7946 0%03d, my email ada%d@gmail.com; happy to talk it over. %s", i%17, i%12, i%1000, i, strings.Repeat("Thanks! ", i%8))},
				{Key: "anonymous", Value: false},
				{Key: "votes", Value: bson.D{{Key: "up", Value: bson.A{}}, {Key: "down", Value: bson.A{}}, {Key: "up_count", Value: int32(i % 5)}, {Key: "point", Value: int32(i % 5)}}},
				{Key: "created_at", Value: created + bson.DateTime(i)*60_000},
				{Key: "updated_at", Value: created + bson.DateTime(i)*60_000},
			}
			if i%2 == 0 {
				d = append(d, bson.E{Key: "title", Value: fmt.Sprintf("Question %d about week %d", i, i%12)}, bson.E{Key: "comment_count", Value: int32(i % 9)})
			}
			return d
		})
	})
	wg.Go(func() {
		errs[1] = insert("users", users, func(i int) bson.D {
			return bson.D{
				{Key: "_id", Value: strconv.Itoa(1 + i)},
				{Key: "external_id", Value: strconv.Itoa(1 + i)},
				{Key: "username", Value: "learner" + strconv.Itoa(1+i)},
				{Key: "email", Value: fmt.Sprintf("ada.lovelace%d@gmail.com", 1+i)},
				{Key: "default_sort_key", Value: "date"},
				{Key: "read_states", Value: bson.A{}},
			}
		})
	})
	wg.Wait()
	return errors.Join(errs...)
}

func noLeftovers(left []scrub.Leftover) error {
	var bad []string
	for _, l := range left {
		if l.Count > 0 {
			bad = append(bad, fmt.Sprintf("%s.%s: %d", l.Table, l.Column, l.Count))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("values left unscrubbed after the scrub: %s", strings.Join(bad, ", "))
	}
	return nil
}

// peakRSS is the process's peak resident set, in bytes (getrusage's
// ru_maxrss, in KiB on Linux: /proc/self/status's VmHWM).
func peakRSS() (int64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("read peak RSS: %w", err)
	}
	return ru.Maxrss << 10, nil
}
