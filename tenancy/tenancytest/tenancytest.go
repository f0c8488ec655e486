// Package tenancytest is the conformance suite every tenancy carver passes
// against a real server: carve, carve again (nothing changes, the credential
// still works), the credential works in its own namespace and is refused in a
// sibling release's, another owner's carve and drop are refused with nothing
// changed, an unmarked namespace is nobody's to carve or drop, drop, drop
// again.
package tenancytest

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
)

// Carver is the method set every tenancy service's Carver provides.
type Carver interface {
	Server() string
	Carve(ctx context.Context, ns termshift.Namespace, password termshift.Secret, owner termshift.Owner) (tenancy.Result, error)
	Drop(ctx context.Context, ns termshift.Namespace, owner termshift.Owner) (tenancy.Result, error)
	Owner(ctx context.Context, ns termshift.Namespace) (termshift.Owner, bool, error)
	Exists(ctx context.Context, ns termshift.Namespace) (bool, error)
	List(ctx context.Context) ([]string, error)
	Close() error
}

// Prober is the method set every tenancy service's Prober provides.
type Prober interface {
	Probe(ctx context.Context, cred termshift.Credential, target termshift.Namespace) error
}

// Options tunes the suite to what a service can promise.
type Options struct {
	// Isolation is what Carve must report on this server.
	Isolation tenancy.Isolation
	// ChecksPasswords: the server refuses a wrong password (every service
	// with users; FerretDB too, though it cannot confine a user to its
	// database).
	ChecksPasswords bool
	// Notes, when set, must be exactly the notes Carve reports the first time.
	Notes []string
	// CheckIsolation, when set, runs after both releases are carved, to prove
	// isolation the service's own way (memcached: a key set in one cluster is
	// absent from the other).
	CheckIsolation func(t *testing.T, own, sibling tenancy.Result)
	// Unmarked makes ns on the server by hand, without an owner marker, the
	// way an operator or another tool would (raw SQL, the driver, the
	// management API), and removes it in t.Cleanup. The suite checks that
	// Carve and Drop refuse it and change nothing.
	Unmarked func(t *testing.T, ns termshift.Namespace)
	// UserOnly, for services with users, makes ns's user by hand without
	// its namespace, removes it in t.Cleanup, and returns a function that
	// reports whether the user is still there. The suite checks that Carve
	// refuses it and Drop leaves it alone.
	UserOnly func(t *testing.T, ns termshift.Namespace) (stillThere func() bool)
}

// Release returns a unique release name valid by termshift.ValidateRelease:
// "t" and 8 random lowercase letters.
func Release(t testing.TB) string {
	t.Helper()
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random release name: %v", err)
	}
	b[0] = 't'
	for i := 1; i < len(b); i++ {
		b[i] = letters[int(b[i])%len(letters)]
	}
	name := string(b)
	if err := termshift.ValidateRelease(name); err != nil {
		t.Fatalf("random release name: %v", err)
	}
	return name
}

// Environment returns a unique environment name valid by
// termshift.ValidateEnvironment: "env-" and 8 random lowercase letters.
func Environment(t testing.TB) string {
	t.Helper()
	name := "env-" + Release(t)[1:]
	if err := termshift.ValidateEnvironment(name); err != nil {
		t.Fatalf("random environment name: %v", err)
	}
	return name
}

// Derive returns the namespace of logical for release with the default
// naming pattern, failing the test if the name is refused.
func Derive(t testing.TB, svc termshift.Service, logical, release string) termshift.Namespace {
	t.Helper()
	ns, err := termshift.DeriveNamespace(svc, termshift.DefaultNamingPattern, logical, release)
	if err != nil {
		t.Fatalf("derive namespace: %v", err)
	}
	return ns
}

// Run carves two sibling releases on c and checks every promise of the
// method set, probing credentials with the prober newProber returns.
// newCarver and newProber are called once; the carver is closed at the end.
// ns gives the namespace of a release (called once per release, in order:
// the two siblings, then, when opts.Unmarked or opts.UserOnly is set, one
// more for each). Everything carved is dropped in t.Cleanup, whatever
// happens.
func Run(t *testing.T, newCarver func(t *testing.T) Carver, newProber func(t *testing.T) Prober, ns func(t *testing.T, release string) termshift.Namespace, opts Options) {
	t.Helper()
	ctx := t.Context()
	c := newCarver(t)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close %s: %v", c.Server(), err)
		}
	})
	p := newProber(t)

	nsA := ns(t, Release(t))
	nsB := ns(t, Release(t))
	env := Environment(t)
	ownerA := termshift.Owner{Environment: env, Release: nsA.Release}
	ownerB := termshift.Owner{Environment: env, Release: nsB.Release}
	// Another environment on the same servers, with the same release name.
	stranger := termshift.Owner{Environment: Environment(t), Release: nsA.Release}
	for _, n := range []struct {
		ns    termshift.Namespace
		owner termshift.Owner
	}{{nsA, ownerA}, {nsB, ownerB}} {
		t.Cleanup(func() {
			// t.Context is done by now.
			if _, err := c.Drop(context.Background(), n.ns, n.owner); err != nil {
				t.Errorf("cleanup: drop %s on %s: %v", n.ns, c.Server(), err)
			}
		})
	}
	pwA := newPassword(t)
	pwB := newPassword(t)
	credA := termshift.Credential{User: nsA.User, Password: pwA}
	credB := termshift.Credential{User: nsB.User, Password: pwB}
	var resA, resB tenancy.Result

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"absent before carve", func(t *testing.T) {
			requireExists(ctx, t, c, nsA, false)
			requireOwner(ctx, t, c, nsA, termshift.Owner{}, false)
		}},
		{"invalid owner refused", func(t *testing.T) {
			for _, bad := range []termshift.Owner{{}, {Environment: "QA", Release: nsA.Release}, {Environment: env, Release: "Next"}} {
				if _, err := c.Carve(ctx, nsA, pwA, bad); !errors.Is(err, termshift.ErrInvalid) {
					t.Errorf("carve %s for owner %q: got %v, want an error wrapping %v", nsA, bad, err, termshift.ErrInvalid)
				}
				if _, err := c.Drop(ctx, nsA, bad); !errors.Is(err, termshift.ErrInvalid) {
					t.Errorf("drop %s for owner %q: got %v, want an error wrapping %v", nsA, bad, err, termshift.ErrInvalid)
				}
			}
			requireExists(ctx, t, c, nsA, false)
		}},
		{"carve", func(t *testing.T) {
			var err error
			resA, err = c.Carve(ctx, nsA, pwA, ownerA)
			if err != nil {
				t.Fatalf("carve %s on %s: %v", nsA, c.Server(), err)
			}
			want := tenancy.Result{Namespace: nsA, Outcome: tenancy.Created, Isolation: opts.Isolation, Endpoints: resA.Endpoints, Notes: opts.Notes}
			if opts.Notes == nil {
				want.Notes = resA.Notes
			}
			if diff := cmp.Diff(resA, want, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("carve result (-got +want):\n%s", diff)
			}
			if opts.Isolation == tenancy.SeparateCluster && len(resA.Endpoints) == 0 {
				t.Errorf("carve of a separate cluster reported no endpoints")
			}
			requireExists(ctx, t, c, nsA, true)
			requireListed(ctx, t, c, nsA.Name, true)
		}},
		{"owner reads back", func(t *testing.T) {
			requireOwner(ctx, t, c, nsA, ownerA, true)
		}},
		{"own credential works", func(t *testing.T) {
			if err := p.Probe(ctx, credA, nsA); err != nil {
				t.Fatalf("probe %s with its own credential: %v", nsA, err)
			}
		}},
		{"carve again changes nothing", func(t *testing.T) {
			pwOther := newPassword(t)
			res, err := c.Carve(ctx, nsA, pwOther, ownerA)
			if err != nil {
				t.Fatalf("carve %s again: %v", nsA, err)
			}
			if res.Outcome != tenancy.Exists {
				t.Errorf("carve again: outcome %q, want %q", res.Outcome, tenancy.Exists)
			}
			if res.Isolation != opts.Isolation {
				t.Errorf("carve again: isolation %q, want %q", res.Isolation, opts.Isolation)
			}
			if diff := cmp.Diff(res.Endpoints, resA.Endpoints); diff != "" {
				t.Errorf("carve again: endpoints changed (-got +want):\n%s", diff)
			}
			if err := p.Probe(ctx, credA, nsA); err != nil {
				t.Errorf("probe %s with the first password after carving again: %v", nsA, err)
			}
			if opts.ChecksPasswords {
				err := p.Probe(ctx, termshift.Credential{User: nsA.User, Password: pwOther}, nsA)
				if !errors.Is(err, tenancy.ErrAccessDenied) {
					t.Errorf("probe %s with the second carve's password: got %v, want access denied (the password must not change)", nsA, err)
				}
			}
		}},
		{"wrong password refused", func(t *testing.T) {
			if !opts.ChecksPasswords {
				t.Skipf("%s has no passwords to check", c.Server())
			}
			err := p.Probe(ctx, termshift.Credential{User: nsA.User, Password: "wrong" + pwA}, nsA)
			if !errors.Is(err, tenancy.ErrAccessDenied) {
				t.Errorf("probe with a wrong password: got %v, want access denied", err)
			}
		}},
		{"another owner's carve refused", func(t *testing.T) {
			for _, other := range []termshift.Owner{stranger, ownerB} {
				pwOther := newPassword(t)
				_, err := c.Carve(ctx, nsA, pwOther, other)
				requireNotOurs(t, err, nsA, ownerA)
				requireOwner(ctx, t, c, nsA, ownerA, true)
				if err := p.Probe(ctx, credA, nsA); err != nil {
					t.Errorf("probe %s with its owner's credential after %s's carve: %v", nsA, other, err)
				}
				// One password check is enough: a refused login is slow on
				// some servers (RabbitMQ answers after seconds).
				if opts.ChecksPasswords && other == stranger {
					err := p.Probe(ctx, termshift.Credential{User: nsA.User, Password: pwOther}, nsA)
					if !errors.Is(err, tenancy.ErrAccessDenied) {
						t.Errorf("probe %s with %s's password: got %v, want access denied (nothing may change)", nsA, other, err)
					}
				}
			}
		}},
		{"another owner's drop refused", func(t *testing.T) {
			for _, other := range []termshift.Owner{stranger, ownerB} {
				_, err := c.Drop(ctx, nsA, other)
				requireNotOurs(t, err, nsA, ownerA)
				requireExists(ctx, t, c, nsA, true)
				requireOwner(ctx, t, c, nsA, ownerA, true)
				if err := p.Probe(ctx, credA, nsA); err != nil {
					t.Errorf("probe %s after %s's drop: %v", nsA, other, err)
				}
			}
		}},
		{"sibling release", func(t *testing.T) {
			var err error
			resB, err = c.Carve(ctx, nsB, pwB, ownerB)
			if err != nil {
				t.Fatalf("carve %s on %s: %v", nsB, c.Server(), err)
			}
			if resB.Outcome != tenancy.Created {
				t.Errorf("carve sibling: outcome %q, want %q", resB.Outcome, tenancy.Created)
			}
			if err := p.Probe(ctx, credB, nsB); err != nil {
				t.Fatalf("probe %s with its own credential: %v", nsB, err)
			}
			switch opts.Isolation {
			case tenancy.Enforced:
				for _, pr := range []struct {
					cred   termshift.Credential
					target termshift.Namespace
				}{{credA, nsB}, {credB, nsA}} {
					err := p.Probe(ctx, pr.cred, pr.target)
					if !errors.Is(err, tenancy.ErrAccessDenied) {
						t.Errorf("probe %s with %s's credential: got %v, want access denied", pr.target, pr.cred.User, err)
					}
				}
			case tenancy.SeparateCluster:
				for _, e := range resA.Endpoints {
					if slices.Contains(resB.Endpoints, e) {
						t.Errorf("releases %s and %s share endpoint %s", nsA.Release, nsB.Release, e)
					}
				}
			default:
				t.Logf("%s: isolation %q: a release's credential is not refused in a sibling's namespace, so the suite does not test it; carve reported notes %q", c.Server(), opts.Isolation, resA.Notes)
			}
			if opts.CheckIsolation != nil {
				opts.CheckIsolation(t, resA, resB)
			}
		}},
		{"drop", func(t *testing.T) {
			res, err := c.Drop(ctx, nsA, ownerA)
			if err != nil {
				t.Fatalf("drop %s: %v", nsA, err)
			}
			if res.Outcome != tenancy.Dropped || res.Namespace != nsA {
				t.Errorf("drop: got outcome %q for %s, want %q for %s", res.Outcome, res.Namespace, tenancy.Dropped, nsA)
			}
			requireExists(ctx, t, c, nsA, false)
			requireListed(ctx, t, c, nsA.Name, false)
			requireOwner(ctx, t, c, nsA, termshift.Owner{}, false)
			// The sibling is untouched.
			requireExists(ctx, t, c, nsB, true)
			if err := p.Probe(ctx, credB, nsB); err != nil {
				t.Errorf("probe sibling %s after dropping %s: %v", nsB, nsA, err)
			}
		}},
		{"drop again", func(t *testing.T) {
			res, err := c.Drop(ctx, nsA, ownerA)
			if err != nil {
				t.Fatalf("drop %s again: %v", nsA, err)
			}
			if res.Outcome != tenancy.Absent {
				t.Errorf("drop again: outcome %q, want %q", res.Outcome, tenancy.Absent)
			}
			requireExists(ctx, t, c, nsA, false)
		}},
		{"dropped credential refused", func(t *testing.T) {
			if !opts.ChecksPasswords {
				t.Skipf("%s has no passwords to check", c.Server())
			}
			if err := p.Probe(ctx, credA, nsA); !errors.Is(err, tenancy.ErrAccessDenied) {
				t.Errorf("probe dropped %s: got %v, want access denied", nsA, err)
			}
		}},
		{"unmarked namespace refused", func(t *testing.T) {
			if opts.Unmarked == nil {
				t.Skipf("%s: the suite has no way to make an unmarked namespace", c.Server())
			}
			nsU := ns(t, Release(t))
			owner := termshift.Owner{Environment: env, Release: nsU.Release}
			opts.Unmarked(t, nsU)
			requireOwner(ctx, t, c, nsU, termshift.Owner{}, true)
			_, err := c.Carve(ctx, nsU, newPassword(t), owner)
			requireNotOurs(t, err, nsU, termshift.Owner{})
			_, err = c.Drop(ctx, nsU, owner)
			requireNotOurs(t, err, nsU, termshift.Owner{})
			requireOwner(ctx, t, c, nsU, termshift.Owner{}, true)
		}},
		{"user without namespace refused", func(t *testing.T) {
			if opts.UserOnly == nil {
				t.Skipf("%s has no users", c.Server())
			}
			nsU := ns(t, Release(t))
			owner := termshift.Owner{Environment: env, Release: nsU.Release}
			stillThere := opts.UserOnly(t, nsU)
			_, err := c.Carve(ctx, nsU, newPassword(t), owner)
			var notOurs *tenancy.NotOursError
			if !errors.As(err, &notOurs) || !notOurs.UserOnly || !errors.Is(err, termshift.ErrRefused) {
				t.Errorf("carve %s whose user exists alone: got %v, want a *tenancy.NotOursError with UserOnly", nsU, err)
			}
			requireOwner(ctx, t, c, nsU, termshift.Owner{}, false)
			res, err := c.Drop(ctx, nsU, owner)
			if err != nil {
				t.Fatalf("drop %s whose user exists alone: %v", nsU, err)
			}
			want := tenancy.Result{Namespace: nsU, Outcome: tenancy.Absent, Isolation: res.Isolation, Notes: []string{tenancy.UserOnlyNote(nsU.User)}}
			if diff := cmp.Diff(res, want, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("drop result (-got +want):\n%s", diff)
			}
			if !stillThere() {
				t.Errorf("drop %s removed user %s, which is not ours", nsU, nsU.User)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return
		}
	}
}

func newPassword(t testing.TB) termshift.Secret {
	t.Helper()
	p, err := tenancy.NewPassword()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func requireExists(ctx context.Context, t *testing.T, c Carver, ns termshift.Namespace, want bool) {
	t.Helper()
	got, err := c.Exists(ctx, ns)
	if err != nil {
		t.Fatalf("exists %s on %s: %v", ns, c.Server(), err)
	}
	if got != want {
		t.Errorf("exists %s on %s = %v, want %v", ns, c.Server(), got, want)
	}
}

func requireOwner(ctx context.Context, t *testing.T, c Carver, ns termshift.Namespace, want termshift.Owner, wantExists bool) {
	t.Helper()
	got, exists, err := c.Owner(ctx, ns)
	if err != nil {
		t.Fatalf("owner of %s on %s: %v", ns, c.Server(), err)
	}
	if got != want || exists != wantExists {
		t.Errorf("owner of %s on %s = %q, exists %v; want %q, exists %v", ns, c.Server(), got, exists, want, wantExists)
	}
}

// requireNotOurs checks a refusal: a *tenancy.NotOursError matching
// termshift.ErrRefused, naming found (the owner on the server, zero for
// none) in its message.
func requireNotOurs(t *testing.T, err error, ns termshift.Namespace, found termshift.Owner) {
	t.Helper()
	var notOurs *tenancy.NotOursError
	if !errors.As(err, &notOurs) || !errors.Is(err, termshift.ErrRefused) {
		t.Fatalf("%s: got %v, want a *tenancy.NotOursError wrapping %v", ns, err, termshift.ErrRefused)
	}
	if notOurs.Found != found || notOurs.Namespace.Name != ns.Name {
		t.Errorf("%s: refusal found owner %q in %s, want %q in %s", ns, notOurs.Found, notOurs.Namespace, found, ns)
	}
	wantText := "without a termshift owner marker"
	if !found.IsZero() {
		wantText = "belongs to " + found.String() + ", not to "
	}
	if !strings.Contains(err.Error(), wantText) || !strings.Contains(err.Error(), termshift.Quote(ns.Name)) {
		t.Errorf("refusal %q must name %s and say %q", err, termshift.Quote(ns.Name), wantText)
	}
}

func requireListed(ctx context.Context, t *testing.T, c Carver, name string, want bool) {
	t.Helper()
	names, err := c.List(ctx)
	if err != nil {
		t.Fatalf("list %s: %v", c.Server(), err)
	}
	if got := slices.Contains(names, name); got != want {
		t.Errorf("list %s contains %q = %v, want %v (got %q)", c.Server(), name, got, want, names)
	}
}

// Invalid is a namespace a carver must refuse, and why it is wrong.
type Invalid struct {
	Name string
	NS   termshift.Namespace
}

// RefusesInvalid checks that every method of c and p refuses each namespace
// with an error wrapping termshift.ErrInvalid: names are validated again
// inside each carver and prober before any statement reaches its server.
func RefusesInvalid(t *testing.T, c Carver, p Prober, cred termshift.Credential, cases []Invalid) {
	t.Helper()
	ctx := t.Context()
	owner := termshift.Owner{Environment: Environment(t), Release: Release(t)}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			calls := map[string]error{}
			_, calls["carve"] = c.Carve(ctx, tc.NS, cred.Password, owner)
			_, calls["drop"] = c.Drop(ctx, tc.NS, owner)
			_, calls["exists"] = c.Exists(ctx, tc.NS)
			_, _, calls["owner"] = c.Owner(ctx, tc.NS)
			calls["probe"] = p.Probe(ctx, cred, tc.NS)
			for op, err := range calls {
				if !errors.Is(err, termshift.ErrInvalid) {
					t.Errorf("%s: got %v, want an error wrapping %v", op, err, termshift.ErrInvalid)
				}
			}
		})
	}
}

// RequireErrorNames checks an error a carver returned for a bad or
// unreachable server: there is one, it names want (the server's host:port,
// or what is wrong), and it does not hold secret.
func RequireErrorNames(t testing.TB, err error, want, secret string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q leaks the password", err)
	}
}
