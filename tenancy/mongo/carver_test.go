package mongo_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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

var (
	_ tenancytest.Carver = (*mongo.Carver)(nil)
	_ tenancytest.Prober = (*mongo.Prober)(nil)
)

// newProber builds the prober from the administrator's URI, as the
// orchestrator does; it drops the credential.
func newProber(t *testing.T) *mongo.Prober {
	t.Helper()
	p, err := mongo.NewProber(mongo.Config{URI: termshift.Secret(termshift.RequireLocalSetting(t, "TERMSHIFT_MONGO_URI"))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// adminClient connects with the administrator's URI, to work behind the
// carver's back.
func adminClient(t *testing.T) *driver.Client {
	t.Helper()
	admin, err := driver.Connect(options.Client().ApplyURI(termshift.RequireLocalSetting(t, "TERMSHIFT_MONGO_URI")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Disconnect(context.Background()) })
	return admin
}

// carveOne carves a fresh namespace for an owner of its own.
func carveOne(t *testing.T, c *mongo.Carver, password termshift.Secret) (termshift.Namespace, termshift.Owner) {
	t.Helper()
	ns := derive(t, tenancytest.Release(t))
	o := termshift.Owner{Environment: tenancytest.Environment(t), Release: ns.Release}
	t.Cleanup(func() {
		if _, err := c.Drop(context.Background(), ns, o); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if _, err := c.Carve(t.Context(), ns, password, o); err != nil {
		t.Fatal(err)
	}
	return ns, o
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
	opts.Unmarked = func(t *testing.T, ns termshift.Namespace) {
		admin := adminClient(t)
		if _, err := admin.Database(ns.Name).Collection("by_hand").InsertOne(t.Context(), bson.D{{Key: "x", Value: 1}}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Database(ns.Name).Drop(context.Background()) })
	}
	opts.UserOnly = func(t *testing.T, ns termshift.Namespace) func() bool {
		admin := adminClient(t)
		db := admin.Database(ns.Name)
		if err := db.RunCommand(t.Context(), bson.D{{Key: "createUser", Value: ns.User}, {Key: "pwd", Value: "by-hand"}, {Key: "roles", Value: bson.A{}}}).Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.RunCommand(context.Background(), bson.D{{Key: "dropUser", Value: ns.User}}) })
		return func() bool {
			var info struct {
				Users []bson.Raw `bson:"users"`
			}
			if err := db.RunCommand(t.Context(), bson.D{{Key: "usersInfo", Value: ns.User}}).Decode(&info); err != nil {
				t.Fatal(err)
			}
			return len(info.Users) == 1
		}
	}
	tenancytest.Run(t, func(t *testing.T) tenancytest.Carver { return newCarver(t) },
		func(t *testing.T) tenancytest.Prober { return newProber(t) }, derive, opts)
}

// The carved database holds the owner document naming its environment and
// release, and nothing else.
func TestCarveWritesMarker(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	ns, o := carveOne(t, c, "pw")
	var marker struct {
		Environment, Release, Logical string
		CarvedAt                      time.Time `bson:"carved_at"`
	}
	coll := adminClient(t).Database(ns.Name).Collection(mongo.MarkerCollection)
	err := coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: "owner"}}).Decode(&marker)
	if err != nil {
		t.Fatal(err)
	}
	if marker.Release != ns.Release || marker.Logical != ns.Logical || marker.Environment != o.Environment || marker.CarvedAt.IsZero() {
		t.Errorf("marker = %+v, want environment %q release %q logical %q and a time", marker, o.Environment, ns.Release, ns.Logical)
	}
	if n, err := coll.CountDocuments(t.Context(), bson.D{}); err != nil || n != 1 {
		t.Errorf("%s holds %d documents (%v), want 1", mongo.MarkerCollection, n, err)
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
	tenancytest.RefusesInvalid(t, c, newProber(t), termshift.Credential{User: good.User, Password: "pw"}, tests)
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
	ns, _ := carveOne(t, c, "right")
	err := newProber(t).Probe(t.Context(), termshift.Credential{User: ns.User, Password: "wrong-s3cret"}, ns)
	if !errors.Is(err, tenancy.ErrAccessDenied) {
		t.Fatalf("got %v, want access denied", err)
	}
	if strings.Contains(err.Error(), "wrong-s3cret") {
		t.Errorf("error %q leaks the password", err)
	}
}

// Every way this server refuses a credential is recognised as a refusal,
// with the server's code; what is not a refusal is not one.
func TestProbeRefusals(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	p := newProber(t)
	ns, _ := carveOne(t, c, "right")
	other, _ := carveOne(t, c, "other")
	enforced, err := c.EnforcesRoles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// A user who exists, but in another database than its name says.
	stray := derive(t, tenancytest.Release(t))
	admin := adminClient(t)
	if err := admin.Database(other.Name).RunCommand(t.Context(), bson.D{{Key: "createUser", Value: stray.User}, {Key: "pwd", Value: "stray-s3cret"}, {Key: "roles", Value: bson.A{}}}).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Database(other.Name).RunCommand(context.Background(), bson.D{{Key: "dropUser", Value: stray.User}})
	})

	type probeCase struct {
		name   string
		cred   termshift.Credential
		target termshift.Namespace
		code   int // the refusal's server code; 0: accepted
	}
	tests := []probeCase{
		{"own credential", termshift.Credential{User: ns.User, Password: "right"}, ns, 0},
		{"wrong password", termshift.Credential{User: ns.User, Password: "wrong-s3cret"}, ns, 18},
		{"no such user", termshift.Credential{User: stray.Name + "x", Password: "none-s3cret"}, ns, 18},
		{"user of another database", termshift.Credential{User: stray.User, Password: "stray-s3cret"}, ns, 18},
	}
	if enforced {
		tests = append(tests, probeCase{"no role on another database", termshift.Credential{User: ns.User, Password: "right"}, other, 13})
	} else {
		t.Logf("%s has no roles: a release's credential gets into every database, so code 13 is checked only in TestRefusedCodes", c.Server())
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Probe(t.Context(), tt.cred, tt.target)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				return
			}
			if !errors.Is(err, termshift.ErrAccessDenied) {
				t.Fatalf("got %v, want access denied", err)
			}
			var se driver.ServerError
			if !errors.As(err, &se) || !se.HasErrorCode(tt.code) {
				t.Errorf("got %v, want server code %d inside", err, tt.code)
			}
			if strings.Contains(err.Error(), tt.cred.Password.Reveal()) {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
	t.Run("unreachable server is no refusal", func(t *testing.T) {
		p, err := mongo.NewProber(mongo.Config{URI: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500&connectTimeoutMS=500"})
		if err != nil {
			t.Fatal(err)
		}
		err = p.Probe(t.Context(), termshift.Credential{User: ns.User, Password: "right"}, ns)
		if err == nil || errors.Is(err, termshift.ErrAccessDenied) || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Errorf("got %v, want a connection error naming 127.0.0.1:1", err)
		}
	})
}

// The prober never holds the administrator's credential: an empty
// credential is refused as itself, not let in as the administrator.
func TestNewProberDropsCredential(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, uri, want string }{
		{"empty", "", "empty URI"},
		{"bad URI", "mongodb://admin:s3cretPW@127.0.0.1:1/?bogusOption=%zz", "does not parse"},
	} {
		_, err := mongo.NewProber(mongo.Config{URI: termshift.Secret(tt.uri)})
		if !errors.Is(err, termshift.ErrInvalid) {
			t.Errorf("%s: got %v, want an error wrapping %v", tt.name, err, termshift.ErrInvalid)
		}
		tenancytest.RequireErrorNames(t, err, tt.want, "s3cretPW")
	}
	ns, _ := carveOne(t, newCarver(t), "pw")
	if err := newProber(t).Probe(t.Context(), termshift.Credential{User: ns.User}, ns); err == nil {
		t.Errorf("probe with an empty password: accepted, want a refusal")
	}
}

// Two environments carving one name at once: one gets it, the other is
// refused naming the winner, and the winner's credential works.
func TestCarveRace(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	ns := derive(t, tenancytest.Release(t))
	owners := []termshift.Owner{
		{Environment: tenancytest.Environment(t), Release: ns.Release},
		{Environment: tenancytest.Environment(t), Release: ns.Release},
	}
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
