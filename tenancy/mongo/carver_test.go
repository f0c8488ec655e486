package mongo_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
	"github.com/termshift/termshift/tenancy/mongo"
	"github.com/termshift/termshift/tenancy/tenancytest"
	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func newCarver(t *testing.T) *mongo.Carver {
	t.Helper()
	uri := termshift.RequireLocalSetting(t, "TERMSHIFT_MONGO_URI")
	c, err := mongo.New(t.Context(), mongo.Config{URI: termshift.Secret(uri)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func derive(t *testing.T, release string) termshift.Namespace {
	return tenancytest.Derive(t, termshift.MongoDB, "modulestore", release)
}

// TERMSHIFT_MONGO_SERVER says what the local server is; the carver must
// find out the same on its own.
func TestEnforcesRoles(t *testing.T) {
	t.Parallel()
	server := termshift.RequireLocalSetting(t, "TERMSHIFT_MONGO_SERVER")
	got, err := newCarver(t).EnforcesRoles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := server == "mongod"; got != want {
		t.Errorf("EnforcesRoles on %s = %v, want %v", server, got, want)
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	roles, err := c.EnforcesRoles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	opts := tenancytest.Options{Isolation: tenancy.Enforced, ChecksPasswords: true, Notes: []string{}}
	if !roles {
		t.Logf("%s does not support roles: a release's user is not confined to its own database, so the suite checks that Carve says so instead of checking a refusal", c.Server())
		opts.Isolation = tenancy.NotEnforced
		opts.Notes = []string{mongo.NoRolesNote}
	}
	tenancytest.Run(t, func(t *testing.T) tenancytest.Carver { return newCarver(t) }, derive, opts)
}

// The carved database holds the marker document naming its release.
func TestCarveWritesMarker(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	ns := derive(t, tenancytest.Release(t))
	t.Cleanup(func() {
		if _, err := c.Drop(context.Background(), ns); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if _, err := c.Carve(t.Context(), ns, "pw"); err != nil {
		t.Fatal(err)
	}
	admin, err := driver.Connect(options.Client().ApplyURI(termshift.RequireLocalSetting(t, "TERMSHIFT_MONGO_URI")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Disconnect(context.Background()) })
	var marker struct {
		Release, Logical string
	}
	err = admin.Database(ns.Name).Collection(mongo.MarkerCollection).FindOne(t.Context(), bson.D{{Key: "_id", Value: "namespace"}}).Decode(&marker)
	if err != nil {
		t.Fatal(err)
	}
	if marker.Release != ns.Release || marker.Logical != ns.Logical {
		t.Errorf("marker = %+v, want release %q logical %q", marker, ns.Release, ns.Logical)
	}
}

func TestRefusesHostileNamespaces(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	good := derive(t, tenancytest.Release(t))
	tests := []tenancytest.Invalid{
		{Name: "dot in database", NS: termshift.Namespace{Service: termshift.MongoDB, Name: "a.b", User: "a.b"}},
		{Name: "quote in database", NS: termshift.Namespace{Service: termshift.MongoDB, Name: `a"b`, User: `a"b`}},
		{Name: "admin database", NS: termshift.Namespace{Service: termshift.MongoDB, Name: "admin", User: "admin"}},
		{Name: "user not its database", NS: termshift.Namespace{Service: termshift.MongoDB, Name: good.Name, User: "root"}},
		{Name: "other service", NS: termshift.Namespace{Service: termshift.MySQL, Name: good.Name, User: good.User}},
	}
	tenancytest.RefusesInvalid(t, c, termshift.Credential{User: good.User, Password: "pw"}, tests)
}

func TestNewErrorsNameServerNotPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, uri, want string
	}{
		{"unreachable", "mongodb://admin:s3cretPW@127.0.0.1:1/?authSource=admin&serverSelectionTimeoutMS=500&connectTimeoutMS=500", "127.0.0.1:1"},
		{"bad URI", "mongodb://admin:s3cretPW@127.0.0.1:1/?bogusOption=%zz", "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mongo.New(t.Context(), mongo.Config{URI: termshift.Secret(tt.uri)})
			tenancytest.RequireErrorNames(t, err, tt.want, "s3cretPW")
		})
	}
}

// FerretDB checks passwords even where it cannot confine users: a wrong
// password is refused on every server.
func TestProbeWrongPassword(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	ns := derive(t, tenancytest.Release(t))
	t.Cleanup(func() {
		if _, err := c.Drop(context.Background(), ns); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if _, err := c.Carve(t.Context(), ns, "right"); err != nil {
		t.Fatal(err)
	}
	err := c.Probe(t.Context(), termshift.Credential{User: ns.User, Password: "wrong-s3cret"}, ns)
	if !errors.Is(err, tenancy.ErrAccessDenied) {
		t.Fatalf("got %v, want access denied", err)
	}
	if strings.Contains(err.Error(), "wrong-s3cret") {
		t.Errorf("error %q leaks the password", err)
	}
}
