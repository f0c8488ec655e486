package scrub_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore/scrub"
)

func unique(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// edxSchema is the part of edxapp's schema the openedx preset scrubs, as
// Django's migrations create it.
const edxSchema = `
CREATE TABLE auth_user (
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
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE auth_userprofile (
  id int NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name varchar(255) NOT NULL,
  meta longtext NOT NULL,
  courseware varchar(255) NOT NULL,
  language varchar(255) NOT NULL,
  location varchar(255) NOT NULL,
  year_of_birth int DEFAULT NULL,
  gender varchar(6) DEFAULT NULL,
  level_of_education varchar(6) DEFAULT NULL,
  mailing_address longtext,
  city longtext,
  country varchar(2) DEFAULT NULL,
  goals longtext,
  bio varchar(3000) DEFAULT NULL,
  phone_number varchar(50) DEFAULT NULL,
  user_id int NOT NULL UNIQUE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE student_courseenrollment (
  id int NOT NULL AUTO_INCREMENT PRIMARY KEY,
  course_id varchar(255) NOT NULL,
  created datetime(6) DEFAULT NULL,
  is_active tinyint(1) NOT NULL,
  mode varchar(100) NOT NULL,
  user_id int NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE survey_answer (
  user_id int NOT NULL,
  field_name varchar(64) NOT NULL,
  answer varchar(255) NOT NULL,
  contact_email varchar(254) DEFAULT NULL,
  PRIMARY KEY (user_id, field_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE api_tokens (
  token varchar(40) NOT NULL PRIMARY KEY,
  owner_email varchar(254) NOT NULL,
  secret_digest varchar(32) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

// fixtureUsers is more than one scrub batch, so batch edges are crossed.
const fixtureUsers = 12345

type mysqlFixture struct {
	db     *sql.DB
	schema string
	opts   scrub.MySQLOptions
}

func newMySQLFixture(t testing.TB) mysqlFixture {
	t.Helper()
	dsn := termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN")
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := unique(t, "scrub_test_")
	ctx := context.Background()
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+termshift.QuoteMySQL(schema)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE "+termshift.QuoteMySQL(schema)); err != nil {
			t.Errorf("drop %s: %v", schema, err)
		}
	})
	cfg.DBName = schema
	cfg.MultiStatements = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(ctx, edxSchema); err != nil {
		t.Fatal(err)
	}
	// Realistic rows, generated server-side: ids 1..N with gaps-free keys.
	for start := 1; start <= fixtureUsers; start += 1000 {
		var users, profiles, answers, tokens []string
		for id := start; id < start+1000 && id <= fixtureUsers; id++ {
			users = append(users, fmt.Sprintf("(%d, 'pbkdf2_sha256$600000$salt%d$hashhashhash=', 0, 'learner%d', 'Ada%d', 'Lovelace', 'ada%d@gmail.com', 0, 1, NOW())", id, id, id, id, id))
			yob := "NULL"
			if id%3 != 0 {
				yob = fmt.Sprint(1960 + id%40)
			}
			profiles = append(profiles, fmt.Sprintf("(%d, 'Ada Lovelace %d', '{\"session_id\": \"%d\"}', '', 'en', 'London', %s, 'f', 'p', '12 St James Sq', 'London', 'GB', 'learn', 'bio', '+44 20 7946 0%03d', %d)", id, id, id, yob, id%1000, id))
			if id <= 30 {
				answers = append(answers, fmt.Sprintf("(%d, 'employer', 'ACME', 'hr%d@acme.example')", id, id), fmt.Sprintf("(%d, 'role', 'dev', NULL)", id))
				tokens = append(tokens, fmt.Sprintf("('tok%05d', 'owner%d@corp.example', 'digest%d')", id, id, id))
			}
		}
		stmts := "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) VALUES " + strings.Join(users, ",") + ";" +
			"INSERT INTO auth_userprofile (id, name, meta, courseware, language, location, year_of_birth, gender, level_of_education, mailing_address, city, country, goals, bio, phone_number, user_id) VALUES " + strings.Join(profiles, ",")
		if len(answers) > 0 {
			stmts += ";INSERT INTO survey_answer VALUES " + strings.Join(answers, ",") + ";INSERT INTO api_tokens VALUES " + strings.Join(tokens, ",")
		}
		if _, err := db.ExecContext(ctx, stmts); err != nil {
			t.Fatal(err)
		}
	}
	return mysqlFixture{db: db, schema: schema, opts: scrub.MySQLOptions{
		DSN:    termshift.Secret(dsn),
		Schema: schema,
		Salt:   termshift.Secret(unique(t, "salt-")),
	}}
}

func (f mysqlFixture) count(t *testing.T, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := f.db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func sumLeftovers(ls []scrub.Leftover) (n int64) {
	for _, l := range ls {
		n += l.Count
	}
	return n
}

func TestScrubMySQLOpenedxPreset(t *testing.T) {
	t.Parallel()
	f := newMySQLFixture(t)
	ctx := context.Background()
	rules, err := scrub.Preset("openedx")
	if err != nil {
		t.Fatal(err)
	}

	before, err := scrub.LeftoversMySQL(ctx, rules, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	// year_of_birth is NULL for a third of the rows already.
	wantBefore := map[string]int64{
		"auth_user.email": fixtureUsers, "auth_user.first_name": fixtureUsers, "auth_user.last_name": fixtureUsers, "auth_user.password": fixtureUsers,
		"auth_userprofile.name": fixtureUsers, "auth_userprofile.meta": fixtureUsers, "auth_userprofile.location": fixtureUsers,
		"auth_userprofile.mailing_address": fixtureUsers, "auth_userprofile.year_of_birth": fixtureUsers - fixtureUsers/3,
		"auth_userprofile.phone_number": fixtureUsers, "auth_userprofile.goals": fixtureUsers, "auth_userprofile.bio": fixtureUsers, "auth_userprofile.city": fixtureUsers,
	}
	if diff := cmp.Diff(leftoverMap(before), wantBefore); diff != "" {
		t.Errorf("leftovers before scrub (-got +want):\n%s", diff)
	}

	rep, err := scrub.ScrubMySQL(ctx, rules, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tables) != 13 {
		t.Errorf("report has %d scrubbed columns, want 13: %+v", len(rep.Tables), rep.Tables)
	}
	for _, ts := range rep.Tables {
		if ts.Rows != fixtureUsers {
			t.Errorf("%s.%s: %d rows, want %d", ts.Table, ts.Column, ts.Rows, fixtureUsers)
		}
	}
	// student_pendingemailchange is not in this schema: skipped, said so.
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "student_pendingemailchange") {
		t.Errorf("warnings %q, want one about student_pendingemailchange", rep.Warnings)
	}

	checks := []struct {
		query string
		want  int64
	}{
		{"SELECT COUNT(*) FROM auth_user", fixtureUsers},
		{"SELECT COUNT(*) FROM auth_userprofile", fixtureUsers},
		{"SELECT COUNT(*) FROM auth_user WHERE email = CONCAT('user', id, '@example.invalid')", fixtureUsers},
		{"SELECT COUNT(*) FROM auth_user WHERE first_name = '' AND last_name = ''", fixtureUsers},
		{"SELECT COUNT(*) FROM auth_user WHERE password LIKE '!%' AND CHAR_LENGTH(password) = 41", fixtureUsers},
		{"SELECT COUNT(DISTINCT password) FROM auth_user", fixtureUsers},
		{"SELECT COUNT(*) FROM auth_user WHERE username = CONCAT('learner', id)", fixtureUsers}, // kept
		{"SELECT COUNT(*) FROM auth_userprofile WHERE name = '' AND meta = '' AND location = ''", fixtureUsers},
		{"SELECT COUNT(*) FROM auth_userprofile WHERE year_of_birth IS NULL AND mailing_address IS NULL AND phone_number IS NULL AND goals IS NULL AND bio IS NULL AND city IS NULL", fixtureUsers},
		{"SELECT COUNT(*) FROM auth_userprofile WHERE country = 'GB' AND gender = 'f' AND language = 'en'", fixtureUsers}, // kept
	}
	for _, c := range checks {
		if got := f.count(t, c.query); got != c.want {
			t.Errorf("%s = %d, want %d", c.query, got, c.want)
		}
	}

	after, err := scrub.LeftoversMySQL(ctx, rules, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := sumLeftovers(after); n != 0 || len(after) != 13 {
		t.Errorf("leftovers after scrub: %d in %d columns, want 0 in 13: %+v", n, len(after), after)
	}

	// A second run is harmless and leaves nothing either.
	if _, err := scrub.ScrubMySQL(ctx, rules, f.opts); err != nil {
		t.Fatalf("second scrub: %v", err)
	}
	if got := f.count(t, "SELECT COUNT(*) FROM auth_user WHERE email = CONCAT('user', id, '@example.invalid')"); got != fixtureUsers {
		t.Errorf("after a second scrub %d emails are right, want %d", got, fixtureUsers)
	}
}

func leftoverMap(ls []scrub.Leftover) map[string]int64 {
	m := map[string]int64{}
	for _, l := range ls {
		m[l.Table+"."+l.Column] = l.Count
	}
	return m
}

func TestScrubMySQLHashTemplateAndKeys(t *testing.T) {
	t.Parallel()
	f := newMySQLFixture(t)
	ctx := context.Background()
	rules := []scrub.Rule{
		// Composite primary key: {{id}} is a row number.
		{Service: "mysql", Table: "survey_answer", Column: "contact_email", Action: "email", Value: "contact{{id}}@qa.example.test"},
		{Service: "mysql", Table: "survey_answer", Column: "answer", Action: "hash"},
		// Character primary key, and a hash truncated to a 32-character column.
		{Service: "mysql", Table: "api_tokens", Column: "owner_email", Action: "email"},
		{Service: "mysql", Table: "api_tokens", Column: "secret_digest", Action: "hash"},
		{Service: "mongo", Table: "contents", Column: "body", Action: "fixed"}, // not MySQL's: ignored
	}
	digests := map[string]string{}
	rows, err := f.db.QueryContext(ctx, "SELECT token, secret_digest FROM api_tokens")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tok, d string
		if err := rows.Scan(&tok, &d); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256([]byte(f.opts.Salt.Reveal() + d))
		digests[tok] = hex.EncodeToString(h[:])[:32]
	}
	rows.Close()

	before, err := scrub.LeftoversMySQL(ctx, rules, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(leftoverMap(before), map[string]int64{
		"survey_answer.contact_email": 30, "survey_answer.answer": 60, "api_tokens.owner_email": 30, "api_tokens.secret_digest": 30,
	}); diff != "" {
		t.Errorf("leftovers before (-got +want):\n%s", diff)
	}
	rep, err := scrub.ScrubMySQL(ctx, rules, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tables) != 4 || rep.Tables[0].Rows != 60 || rep.Tables[2].Rows != 30 {
		t.Errorf("report %+v, want 4 columns, 60 survey rows, 30 token rows", rep.Tables)
	}
	// NULL stays NULL; the others get unique row numbers.
	if got := f.count(t, "SELECT COUNT(*) FROM survey_answer WHERE contact_email IS NULL"); got != 30 {
		t.Errorf("%d NULL contact emails, want 30 kept NULL", got)
	}
	if got := f.count(t, "SELECT COUNT(DISTINCT contact_email) FROM survey_answer WHERE contact_email LIKE 'contact%@qa.example.test'"); got != 30 {
		t.Errorf("%d distinct scrubbed contact emails, want 30", got)
	}
	if got := f.count(t, "SELECT COUNT(*) FROM api_tokens WHERE owner_email = CONCAT('user', token, '@example.invalid')"); got != 30 {
		t.Errorf("%d token emails carry the token as {{id}}, want 30", got)
	}
	for tok, want := range digests {
		var got string
		if err := f.db.QueryRowContext(ctx, "SELECT secret_digest FROM api_tokens WHERE token = ?", tok).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("token %s digest %q, want salted sha256 %q", tok, got, want)
		}
	}
	after, err := scrub.LeftoversMySQL(ctx, rules, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := sumLeftovers(after); n != 0 {
		t.Errorf("leftovers after: %+v", after)
	}
}

func TestScrubMySQLRefusals(t *testing.T) {
	t.Parallel()
	f := newMySQLFixture(t)
	ctx := context.Background()
	noSalt := f.opts
	noSalt.Salt = ""
	missing := f.opts
	missing.Schema = unique(t, "scrub_absent_")
	tests := []struct {
		name    string
		rules   []scrub.Rule
		opts    scrub.MySQLOptions
		wantErr error
		mention []string
	}{
		{"null on NOT NULL", []scrub.Rule{{Service: "mysql", Table: "auth_user", Column: "first_name", Action: "null"}}, f.opts, termshift.ErrInvalid, []string{"first_name", "NOT NULL"}},
		{"primary key", []scrub.Rule{{Service: "mysql", Table: "auth_user", Column: "id", Action: "fixed", Value: "1"}}, f.opts, termshift.ErrInvalid, []string{"primary key"}},
		{"email on int", []scrub.Rule{{Service: "mysql", Table: "auth_user", Column: "is_staff", Action: "email"}}, f.opts, termshift.ErrInvalid, []string{"is_staff", "character column"}},
		{"password too short", []scrub.Rule{{Service: "mysql", Table: "auth_userprofile", Column: "gender", Action: "unusable_password"}}, f.opts, termshift.ErrInvalid, []string{"41"}},
		{"hash without salt", []scrub.Rule{{Service: "mysql", Table: "auth_user", Column: "email", Action: "hash"}}, noSalt, termshift.ErrInvalid, []string{"salt"}},
		{"bad rule", []scrub.Rule{{Service: "mysql", Table: "auth_user", Column: "email", Action: "wipe"}}, f.opts, termshift.ErrInvalid, []string{"rule 0", "wipe"}},
		{"missing schema", []scrub.Rule{{Service: "mysql", Table: "auth_user", Column: "email", Action: "email"}}, missing, termshift.ErrNotFound, []string{missing.Schema}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scrub.ScrubMySQL(ctx, tt.rules, tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
	// Nothing was touched by the refused runs.
	if got := f.count(t, "SELECT COUNT(*) FROM auth_user WHERE email LIKE 'ada%@gmail.com'"); got != fixtureUsers {
		t.Errorf("refused scrubs changed data: %d original emails left, want %d", got, fixtureUsers)
	}
}

// BenchmarkScrubMySQL measures the openedx preset over the fixture's
// users (auth_user and auth_userprofile rewritten once per iteration).
func BenchmarkScrubMySQL(b *testing.B) {
	f := newMySQLFixture(b)
	rules, err := scrub.Preset("openedx")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := scrub.ScrubMySQL(ctx, rules, f.opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(2*fixtureUsers)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestScrubMySQLThreads scrubs with one thread and with several: the same
// rows end the same way, and a range the server refuses is named.
func TestScrubMySQLThreads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rules := []scrub.Rule{
		{Service: "mysql", Table: "auth_user", Column: "email", Action: "email"},
		{Service: "mysql", Table: "auth_user", Column: "password", Action: "unusable_password"},
	}
	for _, threads := range []int{1, 3} {
		t.Run(fmt.Sprint(threads), func(t *testing.T) {
			t.Parallel()
			f := newMySQLFixture(t)
			opts := f.opts
			opts.Threads = threads
			rep, err := scrub.ScrubMySQL(ctx, rules, opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Tables[0].Rows != fixtureUsers {
				t.Errorf("report %+v, want %d rows", rep.Tables, fixtureUsers)
			}
			if got := f.count(t, "SELECT COUNT(*) FROM auth_user WHERE email = CONCAT('user', id, '@example.invalid')"); got != fixtureUsers {
				t.Errorf("%d emails scrubbed, want %d", got, fixtureUsers)
			}
			if got := f.count(t, "SELECT COUNT(DISTINCT password) FROM auth_user WHERE password REGEXP '^![0-9a-f]{40}$'"); got != fixtureUsers {
				t.Errorf("%d distinct unusable passwords, want %d", got, fixtureUsers)
			}
		})
	}
	// One far key makes the ids sparse: the key is walked, not cut by value.
	t.Run("sparse keys", func(t *testing.T) {
		t.Parallel()
		f := newMySQLFixture(t)
		if _, err := f.db.ExecContext(ctx, "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) VALUES (2000000000, 'x', 0, 'far', '', '', 'far@gmail.com', 0, 1, NOW())"); err != nil {
			t.Fatal(err)
		}
		opts := f.opts
		opts.Threads = 2
		rep, err := scrub.ScrubMySQL(ctx, rules, opts)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Tables[0].Rows != fixtureUsers+1 {
			t.Errorf("report %+v, want %d rows", rep.Tables, fixtureUsers+1)
		}
		if got := f.count(t, "SELECT COUNT(*) FROM auth_user WHERE email = CONCAT('user', id, '@example.invalid')"); got != fixtureUsers+1 {
			t.Errorf("%d emails scrubbed, want %d", got, fixtureUsers+1)
		}
	})
	t.Run("refused range", func(t *testing.T) {
		t.Parallel()
		f := newMySQLFixture(t)
		if _, err := f.db.ExecContext(ctx, `CREATE TRIGGER refuse_11000 BEFORE UPDATE ON auth_user FOR EACH ROW
			IF NEW.id = 11000 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'row 11000 is locked down'; END IF`); err != nil {
			t.Fatal(err)
		}
		opts := f.opts
		opts.Threads = 2
		_, err := scrub.ScrubMySQL(ctx, rules, opts)
		if err == nil {
			t.Fatal("scrub succeeded, want the refused range's error")
		}
		for _, want := range []string{"auth_user", "key range (10000, the last row]", "row 11000 is locked down"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		// The refused range's UPDATE is one statement: none of its rows changed.
		if got := f.count(t, "SELECT COUNT(*) FROM auth_user WHERE id > 10000 AND email LIKE 'ada%@gmail.com'"); got != fixtureUsers-10000 {
			t.Errorf("%d rows of the refused range kept their email, want all %d", got, fixtureUsers-10000)
		}
	})
}
