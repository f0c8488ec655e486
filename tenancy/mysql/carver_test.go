package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	driver "github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
	"github.com/termshift/termshift/tenancy/mysql"
	"github.com/termshift/termshift/tenancy/tenancytest"
)

func newCarver(t *testing.T) *mysql.Carver {
	t.Helper()
	dsn := termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN")
	c, err := mysql.New(t.Context(), mysql.Config{DSN: termshift.Secret(dsn)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
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
	t.Cleanup(func() {
		if _, err := c.Drop(context.Background(), ns); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if _, err := c.Carve(t.Context(), ns, password); err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestConformance(t *testing.T) {
	t.Parallel()
	tenancytest.Run(t,
		func(t *testing.T) tenancytest.Carver { return newCarver(t) },
		func(t *testing.T, release string) termshift.Namespace {
			return tenancytest.Derive(t, termshift.MySQL, "edxapp", release)
		},
		tenancytest.Options{Isolation: tenancy.Enforced, ChecksPasswords: true, Notes: []string{}})
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
	if err := c.Probe(t.Context(), termshift.Credential{User: ns.User, Password: pw}, ns); err != nil {
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
	tenancytest.RefusesInvalid(t, c, termshift.Credential{User: good.User, Password: "pw"}, tests)
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
	err := c.Probe(t.Context(), termshift.Credential{User: ns.User, Password: "wrong-s3cret"}, ns)
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
