package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	driver "github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
	"github.com/termshift/termshift/tenancy/mysql"
	"github.com/termshift/termshift/tenancy/tenancytest"
)

var (
	_ tenancytest.Carver = (*mysql.Carver)(nil)
	_ tenancytest.Prober = (*mysql.Prober)(nil)
)

func newCarver(t *testing.T) *mysql.Carver {
	t.Helper()
	return newCarverMarker(t, mysql.MarkerAuto)
}

func newCarverMarker(t *testing.T, marker string) *mysql.Carver {
	t.Helper()
	dsn := termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN")
	c, err := mysql.New(t.Context(), mysql.Config{DSN: termshift.Secret(dsn), Marker: marker})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newProber builds the prober from the administrator's DSN, as the
// orchestrator does; it drops the credential.
func newProber(t *testing.T) *mysql.Prober {
	t.Helper()
	p, err := mysql.NewProber(mysql.Config{DSN: termshift.Secret(termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN"))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// owner is a fresh owner for ns's release in an environment of its own.
func owner(t *testing.T, ns termshift.Namespace) termshift.Owner {
	t.Helper()
	return termshift.Owner{Environment: tenancytest.Environment(t), Release: ns.Release}
}

// adminDB opens the administrator's connection, to look behind the carver's back.
func adminDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func carveOne(t *testing.T, c *mysql.Carver, password termshift.Secret) termshift.Namespace {
	t.Helper()
	ns := tenancytest.Derive(t, termshift.MySQL, "edxapp", tenancytest.Release(t))
	o := owner(t, ns)
	t.Cleanup(func() {
		if _, err := c.Drop(context.Background(), ns, o); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if _, err := c.Carve(t.Context(), ns, password, o); err != nil {
		t.Fatal(err)
	}
	return ns
}

// The suite runs with each place a marker can live: a schema comment
// (MariaDB) and the owner table (MySQL, here forced on MariaDB).
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, marker := range []string{mysql.MarkerComment, mysql.MarkerTable} {
		t.Run(marker, func(t *testing.T) {
			t.Parallel()
			if marker == mysql.MarkerComment && newCarver(t).Marker() != mysql.MarkerComment {
				t.Skip("this server has no schema comments")
			}
			tenancytest.Run(t,
				func(t *testing.T) tenancytest.Carver { return newCarverMarker(t, marker) },
				func(t *testing.T) tenancytest.Prober { return newProber(t) },
				func(t *testing.T, release string) termshift.Namespace {
					return tenancytest.Derive(t, termshift.MySQL, "edxapp", release)
				},
				tenancytest.Options{Isolation: tenancy.Enforced, ChecksPasswords: true, Notes: []string{},
					Unmarked: func(t *testing.T, ns termshift.Namespace) {
						db := adminDB(t)
						exec(t, db, "CREATE DATABASE "+termshift.QuoteMySQL(ns.Name))
						t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + termshift.QuoteMySQL(ns.Name)) })
					},
					UserOnly: func(t *testing.T, ns termshift.Namespace) func() bool {
						db := adminDB(t)
						account := "'" + ns.User + "'@'%'" // a validated name
						exec(t, db, "CREATE USER "+account+" IDENTIFIED BY 'by-hand'")
						t.Cleanup(func() { db.Exec("DROP USER IF EXISTS " + account) })
						return func() bool {
							var n int
							if err := db.QueryRow("SELECT COUNT(*) FROM mysql.user WHERE User = ?", ns.User).Scan(&n); err != nil {
								t.Fatal(err)
							}
							return n == 1
						}
					},
				})
		})
	}
}

func exec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func TestCarveGrantsOnlyItsSchema(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	ns := carveOne(t, c, "pw-"+termshift.Secret(tenancytest.Release(t)))
	rows, err := adminDB(t).QueryContext(t.Context(), "SHOW GRANTS FOR '"+ns.User+"'@'%'") // a validated name
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var grants []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			t.Fatal(err)
		}
		// The password hash is not what this test is about.
		g, _, _ = strings.Cut(g, " IDENTIFIED BY")
		grants = append(grants, g)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	schema := strings.ReplaceAll(ns.Name, "_", `\_`)
	want := []string{
		"GRANT USAGE ON *.* TO `" + ns.User + "`@`%`",
		"GRANT ALL PRIVILEGES ON `" + schema + "`.* TO `" + ns.User + "`@`%`",
	}
	if diff := cmp.Diff(grants, want); diff != "" {
		t.Errorf("grants of %s (-got +want):\n%s", ns.User, diff)
	}
}

func TestCarveCharset(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	ns := carveOne(t, c, "pw")
	var charset, collation string
	err := adminDB(t).QueryRowContext(t.Context(),
		"SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", ns.Name).
		Scan(&charset, &collation)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{charset, collation}, []string{"utf8mb4", "utf8mb4_unicode_ci"}); diff != "" {
		t.Errorf("schema %s charset (-got +want):\n%s", ns.Name, diff)
	}
}

// A password is a string literal: quotes and backslashes must not break it.
func TestCarveHostilePassword(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	pw := termshift.Secret(`it's a \'trap\\" --; DROP DATABASE mysql; #`)
	ns := carveOne(t, c, pw)
	if err := newProber(t).Probe(t.Context(), termshift.Credential{User: ns.User, Password: pw}, ns); err != nil {
		t.Fatalf("probe with the hostile password: %v", err)
	}
}

func TestRefusesHostileNamespaces(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	good := tenancytest.Derive(t, termshift.MySQL, "edxapp", tenancytest.Release(t))
	tests := []tenancytest.Invalid{
		{Name: "backquote in schema", NS: termshift.Namespace{Service: termshift.MySQL, Name: "x`; DROP DATABASE mysql; --", User: good.User}},
		{Name: "quote in user", NS: termshift.Namespace{Service: termshift.MySQL, Name: good.Name, User: "x'@'%' IDENTIFIED BY 'a"}},
		{Name: "empty user", NS: termshift.Namespace{Service: termshift.MySQL, Name: good.Name}},
		{Name: "system schema", NS: termshift.Namespace{Service: termshift.MySQL, Name: "mysql", User: good.User}},
		{Name: "other service", NS: termshift.Namespace{Service: termshift.MongoDB, Name: good.Name, User: good.User}},
	}
	tenancytest.RefusesInvalid(t, c, newProber(t), termshift.Credential{User: good.User, Password: "pw"}, tests)
	// Nothing of the good namespace was made on the way.
	if ok, err := c.Exists(t.Context(), good); err != nil || ok {
		t.Errorf("exists %s = %v, %v; want false, nil", good, ok, err)
	}
}

func TestNewErrorsNameServerNotPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, dsn, want string
	}{
		{"unreachable", "root:s3cretPW@tcp(127.0.0.1:1)/?timeout=2s", "127.0.0.1:1"},
		{"bad DSN", "root:s3cretPW@tcp(127.0.0.1:1", "does not parse"},
		{"bad host", "root:s3cretPW@tcp(127.0.0.1:3306)/", "127.0.0.1:3306"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := tt.dsn
			if tt.name == "bad host" {
				// A real server refusing the password.
				termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN")
			}
			_, err := mysql.New(t.Context(), mysql.Config{DSN: termshift.Secret(dsn)})
			tenancytest.RequireErrorNames(t, err, tt.want, "s3cretPW")
		})
	}
}

func TestProbeDeniedNumbers(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	ns := carveOne(t, c, "right")
	err := newProber(t).Probe(t.Context(), termshift.Credential{User: ns.User, Password: "wrong-s3cret"}, ns)
	if !errors.Is(err, tenancy.ErrAccessDenied) {
		t.Fatalf("got %v, want access denied", err)
	}
	var me *driver.MySQLError
	if !errors.As(err, &me) || me.Number != 1045 {
		t.Errorf("got %v, want MySQL error 1045 inside", err)
	}
	if strings.Contains(err.Error(), "wrong-s3cret") {
		t.Errorf("error %q leaks the password", err)
	}
}

func TestInvalidUserHost(t *testing.T) {
	t.Parallel()
	_, err := mysql.New(t.Context(), mysql.Config{DSN: "root@tcp(127.0.0.1:1)/", UserHost: "%' OR '1"})
	if !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("got %v, want an error wrapping %v", err, termshift.ErrInvalid)
	}
}

// The marker is on the server where an operator can read it: the schema's
// comment, or the owner table inside the schema.
func TestCarveWritesMarker(t *testing.T) {
	t.Parallel()
	for _, marker := range []string{mysql.MarkerComment, mysql.MarkerTable} {
		t.Run(marker, func(t *testing.T) {
			t.Parallel()
			c := newCarverMarker(t, marker)
			ns := tenancytest.Derive(t, termshift.MySQL, "edxapp", tenancytest.Release(t))
			o := owner(t, ns)
			t.Cleanup(func() { c.Drop(context.Background(), ns, o) })
			if _, err := c.Carve(t.Context(), ns, "pw", o); err != nil {
				t.Fatal(err)
			}
			db := adminDB(t)
			var got string
			var err error
			if marker == mysql.MarkerComment {
				err = db.QueryRowContext(t.Context(), "SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", ns.Name).Scan(&got)
			} else {
				var env, rel string
				err = db.QueryRowContext(t.Context(), "SELECT environment, release_name FROM "+termshift.QuoteMySQL(ns.Name)+"."+mysql.OwnerTable).Scan(&env, &rel)
				got = "termshift owner=" + env + "/" + rel
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := "termshift owner=" + o.String(); got != want {
				t.Errorf("marker of %s = %q, want %q", ns.Name, got, want)
			}
		})
	}
}

// Two environments carving one name at once: one gets it, the other is
// refused naming the winner, and the winner's credential works.
func TestCarveRace(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	ns := tenancytest.Derive(t, termshift.MySQL, "edxapp", tenancytest.Release(t))
	owners := []termshift.Owner{owner(t, ns), owner(t, ns)}
	passwords := []termshift.Secret{"pw-0", "pw-1"}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range owners {
		t.Cleanup(func() { c.Drop(context.Background(), ns, owners[i]) })
		wg.Go(func() { _, errs[i] = c.Carve(t.Context(), ns, passwords[i], owners[i]) })
	}
	wg.Wait()
	winner := slices.IndexFunc(errs, func(err error) bool { return err == nil })
	if winner < 0 || errs[1-winner] == nil {
		t.Fatalf("carve results %v: want exactly one success", errs)
	}
	var notOurs *tenancy.NotOursError
	if !errors.As(errs[1-winner], &notOurs) || notOurs.Found != owners[winner] {
		t.Errorf("loser got %v, want a NotOursError naming %s", errs[1-winner], owners[winner])
	}
	if err := newProber(t).Probe(t.Context(), termshift.Credential{User: ns.User, Password: passwords[winner]}, ns); err != nil {
		t.Errorf("winner's credential: %v", err)
	}
}

// Every way this server refuses a credential is recognised as a refusal,
// keeping the server's number; what is not a refusal is not one.
func TestProbeRefusals(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	p := newProber(t)
	db := adminDB(t)
	ns := carveOne(t, c, "right")
	other := carveOne(t, c, "other")
	// Accounts made by hand, each refused its own way.
	account := func(name, options string) termshift.Credential {
		t.Helper()
		acct := "'" + name + "'@'%'"
		if strings.HasSuffix(name, "_h") {
			acct = "'" + name + "'@'10.255.255.1'"
		}
		exec(t, db, "CREATE USER "+acct+" IDENTIFIED BY 'pw-"+name+"' "+options)
		t.Cleanup(func() { db.Exec("DROP USER IF EXISTS " + acct) })
		exec(t, db, "GRANT ALL PRIVILEGES ON "+termshift.QuoteMySQL(strings.ReplaceAll(ns.Name, "_", `\_`))+".* TO "+acct)
		return termshift.Credential{User: name, Password: termshift.Secret("pw-" + name)}
	}
	base := "p" + tenancytest.Release(t)
	locked := account(base+"_l", "ACCOUNT LOCK")
	expired := account(base+"_e", "PASSWORD EXPIRE")
	hostOnly := account(base+"_h", "")
	readOnly := termshift.Credential{User: base + "_r", Password: "pw-r"}
	exec(t, db, "CREATE USER '"+readOnly.User+"'@'%' IDENTIFIED BY 'pw-r'")
	t.Cleanup(func() { db.Exec("DROP USER IF EXISTS '" + readOnly.User + "'@'%'") })
	exec(t, db, "GRANT SELECT ON "+termshift.QuoteMySQL(other.Name)+".* TO '"+readOnly.User+"'@'%'")
	// A grant whose wildcard covers a schema that does not exist.
	missing := tenancytest.Derive(t, termshift.MySQL, "edxapp", tenancytest.Release(t))
	wild := termshift.Credential{User: base + "_w", Password: "pw-w"}
	exec(t, db, "CREATE USER '"+wild.User+"'@'%' IDENTIFIED BY 'pw-w'")
	t.Cleanup(func() { db.Exec("DROP USER IF EXISTS '" + wild.User + "'@'%'") })
	exec(t, db, "GRANT ALL PRIVILEGES ON "+termshift.QuoteMySQL(missing.Name)+".* TO '"+wild.User+"'@'%'")

	tests := []struct {
		name   string
		cred   termshift.Credential
		target termshift.Namespace
		number uint16 // the refusal's server number; 0: not a refusal
		or     uint16 // another number the server may give for the same refusal
		want   error  // nil: accepted
	}{
		{"own credential", termshift.Credential{User: ns.User, Password: "right"}, ns, 0, 0, nil},
		{"wrong password", termshift.Credential{User: ns.User, Password: "wrong-s3cret"}, ns, 1045, 0, termshift.ErrAccessDenied},
		// For an account that does not exist MariaDB fakes one: a copy of
		// the existing account a hash of the user name picks, so that a
		// stranger cannot tell a missing account from a wrong password. When
		// the copy is Debian's root@localhost, which tries unix_socket first,
		// the refusal is 1698. The name here is random: CI met it once.
		{"no such user", termshift.Credential{User: base + "_none", Password: "no-such-s3cret"}, ns, 1045, 1698, termshift.ErrAccessDenied},
		{"grant on another schema", termshift.Credential{User: ns.User, Password: "right"}, other, 1044, 0, termshift.ErrAccessDenied},
		{"locked account", locked, ns, 4151, 0, termshift.ErrAccessDenied},
		{"expired password", expired, ns, 1820, 0, termshift.ErrAccessDenied},
		// MariaDB answers 1698 instead of 1045 where an anonymous or
		// socket-authenticated account also matches the client.
		{"account for another host", hostOnly, ns, 1045, 1698, termshift.ErrAccessDenied},
		{"read-only grant gets in", readOnly, other, 0, 0, nil},
		{"grant on a schema that does not exist", wild, missing, 1049, 0, termshift.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Probe(t.Context(), tt.cred, tt.target)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want an error wrapping %v", err, tt.want)
			}
			if tt.want != termshift.ErrAccessDenied && errors.Is(err, termshift.ErrAccessDenied) {
				t.Errorf("got %v: not a refusal, must not wrap access denied", err)
			}
			var me *driver.MySQLError
			if !errors.As(err, &me) || (me.Number != tt.number && (tt.or == 0 || me.Number != tt.or)) {
				t.Errorf("got %v, want MySQL error %d inside", err, tt.number)
			}
			if strings.Contains(err.Error(), tt.cred.Password.Reveal()) {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
	t.Run("unreachable server is no refusal", func(t *testing.T) {
		p, err := mysql.NewProber(mysql.Config{DSN: "tcp(127.0.0.1:1)/?timeout=2s"})
		if err != nil {
			t.Fatal(err)
		}
		err = p.Probe(t.Context(), termshift.Credential{User: ns.User, Password: "right"}, ns)
		if err == nil || errors.Is(err, termshift.ErrAccessDenied) || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Errorf("got %v, want a connection error naming 127.0.0.1:1", err)
		}
	})
}

// The prober never holds the administrator's credential.
func TestNewProberDropsCredential(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, dsn, want string
	}{
		{"empty", "", "empty DSN"},
		{"bad DSN", "root:s3cretPW@tcp(127.0.0.1:1", "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mysql.NewProber(mysql.Config{DSN: termshift.Secret(tt.dsn)})
			if !errors.Is(err, termshift.ErrInvalid) {
				t.Errorf("got %v, want an error wrapping %v", err, termshift.ErrInvalid)
			}
			tenancytest.RequireErrorNames(t, err, tt.want, "s3cretPW")
		})
	}
	// With the administrator's credential dropped, an empty credential is
	// refused as itself, not let in as root.
	p, err := mysql.NewProber(mysql.Config{DSN: termshift.Secret(termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN"))})
	if err != nil {
		t.Fatal(err)
	}
	ns := carveOne(t, newCarver(t), "pw")
	if err := p.Probe(t.Context(), termshift.Credential{User: ns.User}, ns); !errors.Is(err, termshift.ErrAccessDenied) {
		t.Errorf("probe with an empty password: got %v, want access denied", err)
	}
}
