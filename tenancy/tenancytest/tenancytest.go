// Package tenancytest is the conformance suite every tenancy carver passes
// against a real server: carve, carve again (nothing changes, the credential
// still works), the credential works in its own namespace and is refused in a
// sibling release's, drop, drop again.
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

// Carver is the method set every tenancy service provides.
type Carver interface {
	Server() string
	Carve(ctx context.Context, ns termshift.Namespace, password termshift.Secret) (tenancy.Result, error)
	Drop(ctx context.Context, ns termshift.Namespace) (tenancy.Result, error)
	Exists(ctx context.Context, ns termshift.Namespace) (bool, error)
	List(ctx context.Context) ([]string, error)
	Probe(ctx context.Context, cred termshift.Credential, target termshift.Namespace) error
	Close() error
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
// method set. newCarver is called once; the carver is closed at the end. ns
// gives the namespace of a release (called once per release, in order).
// Everything carved is dropped in t.Cleanup, whatever happens.
func Run(t *testing.T, newCarver func(t *testing.T) Carver, ns func(t *testing.T, release string) termshift.Namespace, opts Options) {
	t.Helper()
	ctx := t.Context()
	c := newCarver(t)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close %s: %v", c.Server(), err)
		}
	})

	nsA := ns(t, Release(t))
	nsB := ns(t, Release(t))
	for _, n := range []termshift.Namespace{nsA, nsB} {
		t.Cleanup(func() {
			// t.Context is done by now.
			if _, err := c.Drop(context.Background(), n); err != nil {
				t.Errorf("cleanup: drop %s on %s: %v", n, c.Server(), err)
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
		}},
		{"carve", func(t *testing.T) {
			var err error
			resA, err = c.Carve(ctx, nsA, pwA)
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
		{"own credential works", func(t *testing.T) {
			if err := c.Probe(ctx, credA, nsA); err != nil {
				t.Fatalf("probe %s with its own credential: %v", nsA, err)
			}
		}},
		{"carve again changes nothing", func(t *testing.T) {
			pwOther := newPassword(t)
			res, err := c.Carve(ctx, nsA, pwOther)
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
			if err := c.Probe(ctx, credA, nsA); err != nil {
				t.Errorf("probe %s with the first password after carving again: %v", nsA, err)
			}
			if opts.ChecksPasswords {
				err := c.Probe(ctx, termshift.Credential{User: nsA.User, Password: pwOther}, nsA)
				if !errors.Is(err, tenancy.ErrAccessDenied) {
					t.Errorf("probe %s with the second carve's password: got %v, want access denied (the password must not change)", nsA, err)
				}
			}
		}},
		{"wrong password refused", func(t *testing.T) {
			if !opts.ChecksPasswords {
				t.Skipf("%s has no passwords to check", c.Server())
			}
			err := c.Probe(ctx, termshift.Credential{User: nsA.User, Password: "wrong" + pwA}, nsA)
			if !errors.Is(err, tenancy.ErrAccessDenied) {
				t.Errorf("probe with a wrong password: got %v, want access denied", err)
			}
		}},
		{"sibling release", func(t *testing.T) {
			var err error
			resB, err = c.Carve(ctx, nsB, pwB)
			if err != nil {
				t.Fatalf("carve %s on %s: %v", nsB, c.Server(), err)
			}
			if resB.Outcome != tenancy.Created {
				t.Errorf("carve sibling: outcome %q, want %q", resB.Outcome, tenancy.Created)
			}
			if err := c.Probe(ctx, credB, nsB); err != nil {
				t.Fatalf("probe %s with its own credential: %v", nsB, err)
			}
			switch opts.Isolation {
			case tenancy.Enforced:
				for _, p := range []struct {
					cred   termshift.Credential
					target termshift.Namespace
				}{{credA, nsB}, {credB, nsA}} {
					err := c.Probe(ctx, p.cred, p.target)
					if !errors.Is(err, tenancy.ErrAccessDenied) {
						t.Errorf("probe %s with %s's credential: got %v, want access denied", p.target, p.cred.User, err)
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
			res, err := c.Drop(ctx, nsA)
			if err != nil {
				t.Fatalf("drop %s: %v", nsA, err)
			}
			if res.Outcome != tenancy.Dropped || res.Namespace != nsA {
				t.Errorf("drop: got outcome %q for %s, want %q for %s", res.Outcome, res.Namespace, tenancy.Dropped, nsA)
			}
			requireExists(ctx, t, c, nsA, false)
			requireListed(ctx, t, c, nsA.Name, false)
			// The sibling is untouched.
			requireExists(ctx, t, c, nsB, true)
			if err := c.Probe(ctx, credB, nsB); err != nil {
				t.Errorf("probe sibling %s after dropping %s: %v", nsB, nsA, err)
			}
		}},
		{"drop again", func(t *testing.T) {
			res, err := c.Drop(ctx, nsA)
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
			if err := c.Probe(ctx, credA, nsA); !errors.Is(err, tenancy.ErrAccessDenied) {
				t.Errorf("probe dropped %s: got %v, want access denied", nsA, err)
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

// RefusesInvalid checks that every method of c refuses each namespace with
// an error wrapping termshift.ErrInvalid: names are validated again inside
// each carver before any statement reaches its server.
func RefusesInvalid(t *testing.T, c Carver, cred termshift.Credential, cases []Invalid) {
	t.Helper()
	ctx := t.Context()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			calls := map[string]error{}
			_, calls["carve"] = c.Carve(ctx, tc.NS, cred.Password)
			_, calls["drop"] = c.Drop(ctx, tc.NS)
			_, calls["exists"] = c.Exists(ctx, tc.NS)
			calls["probe"] = c.Probe(ctx, cred, tc.NS)
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
