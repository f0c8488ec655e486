package rabbitmq_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
	"github.com/termshift/termshift/tenancy/rabbitmq"
	"github.com/termshift/termshift/tenancy/tenancytest"
)

func localConfig(t *testing.T) rabbitmq.Config {
	t.Helper()
	return rabbitmq.Config{
		AMQPURL:            termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_URL"),
		ManagementURL:      termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_URL"),
		ManagementUser:     termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_USER"),
		ManagementPassword: termshift.Secret(termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_PASSWORD")),
	}
}

func newCarver(t *testing.T) *rabbitmq.Carver {
	t.Helper()
	c, err := rabbitmq.New(t.Context(), localConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var (
	_ tenancytest.Carver = (*rabbitmq.Carver)(nil)
	_ tenancytest.Prober = (*rabbitmq.Prober)(nil)
)

// newProber builds the prober from the AMQP URL and the administrator's
// name alone: it needs no management access.
func newProber(t *testing.T) *rabbitmq.Prober {
	t.Helper()
	p, err := rabbitmq.NewProber(rabbitmq.Config{
		AMQPURL:        termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_URL"),
		ManagementUser: termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_USER"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// admin is the management API behind the carver's back.
func admin(t *testing.T) *rabbithole.Client {
	t.Helper()
	cfg := localConfig(t)
	a, err := rabbithole.NewClient(cfg.ManagementURL, cfg.ManagementUser, cfg.ManagementPassword.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// carveOne carves a fresh namespace for an owner of its own.
func carveOne(t *testing.T, c *rabbitmq.Carver, logical string, password termshift.Secret) (termshift.Namespace, termshift.Owner) {
	t.Helper()
	ns := tenancytest.Derive(t, termshift.RabbitMQ, logical, tenancytest.Release(t))
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

func TestConformance(t *testing.T) {
	t.Parallel()
	// Open edX writes its celery vhost with a leading slash: it must survive
	// the management API's URL path and the AMQP handshake alike.
	for _, logical := range []string{"/celery", "xqueue"} {
		t.Run(logical, func(t *testing.T) {
			t.Parallel()
			tenancytest.Run(t,
				func(t *testing.T) tenancytest.Carver { return newCarver(t) },
				func(t *testing.T) tenancytest.Prober { return newProber(t) },
				func(t *testing.T, release string) termshift.Namespace {
					return tenancytest.Derive(t, termshift.RabbitMQ, logical, release)
				},
				tenancytest.Options{Isolation: tenancy.Enforced, ChecksPasswords: true, Notes: []string{},
					Unmarked: func(t *testing.T, ns termshift.Namespace) {
						a := admin(t)
						if _, err := a.PutVhost(ns.Name, rabbithole.VhostSettings{Description: "made by hand"}); err != nil {
							t.Fatal(err)
						}
						t.Cleanup(func() { a.DeleteVhost(ns.Name) })
					},
					UserOnly: func(t *testing.T, ns termshift.Namespace) func() bool {
						a := admin(t)
						if _, err := a.PutUser(ns.User, rabbithole.UserSettings{Password: "by-hand", Tags: rabbithole.UserTags{}}); err != nil {
							t.Fatal(err)
						}
						t.Cleanup(func() { a.DeleteUser(ns.User) })
						return func() bool {
							_, err := a.GetUser(ns.User)
							return err == nil
						}
					},
				})
		})
	}
}

// The marker is on the broker where an operator can read it: the vhost's
// description and tags.
func TestCarveWritesMarker(t *testing.T) {
	t.Parallel()
	ns, o := carveOne(t, newCarver(t), "/celery", "pw")
	v, err := admin(t).GetVhost(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	type marker struct {
		Description string
		Tags        []string
	}
	want := marker{"termshift owner=" + o.String(), []string{"termshift:" + o.String()}}
	if diff := cmp.Diff(marker{v.Description, v.Tags}, want); diff != "" {
		t.Errorf("vhost %s marker (-got +want):\n%s", ns.Name, diff)
	}
}

// A marker in the tags alone (its description edited by hand) still names
// the owner.
func TestOwnerFromTags(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	ns, o := carveOne(t, c, "xqueue", "pw")
	if _, err := admin(t).PutVhost(ns.Name, rabbithole.VhostSettings{Description: "the xqueue of next semester", Tags: rabbithole.VhostTags{"edx", "termshift:" + o.String()}}); err != nil {
		t.Fatal(err)
	}
	got, exists, err := c.Owner(t.Context(), ns)
	if err != nil || !exists || got != o {
		t.Errorf("owner = %q, %v, %v; want %q, true", got, exists, err, o)
	}
}

// Every way the broker refuses a credential is recognised as a refusal,
// with its reply code; what is not a refusal is not one.
func TestProbeRefusals(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	p := newProber(t)
	ns, _ := carveOne(t, c, "/celery", "right")
	other, _ := carveOne(t, c, "/celery", "other")
	a := admin(t)
	// Read permission alone in the other vhost.
	reader := termshift.Credential{User: "reader_" + tenancytest.Release(t), Password: "reader-s3cret"}
	if _, err := a.PutUser(reader.User, rabbithole.UserSettings{Password: reader.Password.Reveal(), Tags: rabbithole.UserTags{}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.DeleteUser(reader.User) })
	if _, err := a.UpdatePermissionsIn(other.Name, reader.User, rabbithole.Permissions{Read: ".*"}); err != nil {
		t.Fatal(err)
	}
	missing := tenancytest.Derive(t, termshift.RabbitMQ, "/celery", tenancytest.Release(t))
	own := termshift.Credential{User: ns.User, Password: "right"}
	tests := []struct {
		name   string
		cred   termshift.Credential
		target termshift.Namespace
		code   int // the refusal's reply code; 0: accepted
	}{
		{"own credential", own, ns, 0},
		{"wrong password", termshift.Credential{User: ns.User, Password: "wrong-s3cret"}, ns, amqp.AccessRefused},
		{"no such user", termshift.Credential{User: missing.User, Password: "none-s3cret"}, ns, amqp.AccessRefused},
		{"vhost without permission", own, other, amqp.NotAllowed},
		{"no such vhost", own, missing, amqp.NotAllowed},
		{"read permission gets in", reader, other, 0},
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
			var ae *amqp.Error
			if !errors.As(err, &ae) || ae.Code != tt.code {
				t.Errorf("got %v, want AMQP reply code %d inside", err, tt.code)
			}
			if strings.Contains(err.Error(), tt.cred.Password.Reveal()) {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}

// The release user gets no tags (no management access) and permissions in
// its own vhost only.
func TestCarveGrantsOnlyItsVhost(t *testing.T) {
	t.Parallel()
	cfg := localConfig(t)
	c := newCarver(t)
	ns := tenancytest.Derive(t, termshift.RabbitMQ, "/celery", tenancytest.Release(t))
	o := termshift.Owner{Environment: tenancytest.Environment(t), Release: ns.Release}
	t.Cleanup(func() {
		if _, err := c.Drop(context.Background(), ns, o); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if _, err := c.Carve(t.Context(), ns, "pw", o); err != nil {
		t.Fatal(err)
	}
	admin, err := rabbithole.NewClient(cfg.ManagementURL, cfg.ManagementUser, cfg.ManagementPassword.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	u, err := admin.GetUser(ns.User)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Tags) != 0 && !(len(u.Tags) == 1 && u.Tags[0] == "") {
		t.Errorf("user %s has tags %q, want none", ns.User, u.Tags)
	}
	perms, err := admin.ListPermissionsOf(ns.User)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range perms {
		got = append(got, p.Vhost+" "+p.Configure+" "+p.Write+" "+p.Read)
	}
	if diff := cmp.Diff(got, []string{ns.Name + " .* .* .*"}); diff != "" {
		t.Errorf("permissions of %s (-got +want):\n%s", ns.User, diff)
	}
}

func TestRefusesHostileNamespaces(t *testing.T) {
	t.Parallel()
	c := newCarver(t)
	good := tenancytest.Derive(t, termshift.RabbitMQ, "/celery", tenancytest.Release(t))
	tests := []tenancytest.Invalid{
		{Name: "default vhost", NS: termshift.Namespace{Service: termshift.RabbitMQ, Name: "/", User: good.User}},
		{Name: "space in vhost", NS: termshift.Namespace{Service: termshift.RabbitMQ, Name: "a b", User: good.User}},
		{Name: "newline in user", NS: termshift.Namespace{Service: termshift.RabbitMQ, Name: good.Name, User: "x\ny"}},
		{Name: "administrator", NS: termshift.Namespace{Service: termshift.RabbitMQ, Name: good.Name, User: "guest"}},
		{Name: "other service", NS: termshift.Namespace{Service: termshift.MySQL, Name: good.Name, User: good.User}},
	}
	tenancytest.RefusesInvalid(t, c, newProber(t), termshift.Credential{User: good.User, Password: "pw"}, tests)
}

func TestNewErrorsNameServerNotPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  rabbitmq.Config
		want string
	}{
		{"unreachable management", rabbitmq.Config{AMQPURL: "amqp://127.0.0.1:1/", ManagementURL: "http://127.0.0.1:1", ManagementUser: "admin", ManagementPassword: "s3cretPW"}, "127.0.0.1:1"},
		{"credentials in management URL", rabbitmq.Config{AMQPURL: "amqp://127.0.0.1:1/", ManagementURL: "http://admin:s3cretPW@127.0.0.1:1", ManagementUser: "admin"}, "without credentials"},
		{"bad AMQP URL", rabbitmq.Config{AMQPURL: "http://admin:s3cretPW@127.0.0.1:1/", ManagementURL: "http://127.0.0.1:1"}, "amqp://host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rabbitmq.New(t.Context(), tt.cfg)
			tenancytest.RequireErrorNames(t, err, tt.want, "s3cretPW")
		})
	}
	t.Run("wrong management password", func(t *testing.T) {
		cfg := localConfig(t)
		cfg.ManagementPassword = "s3cretPW"
		_, err := rabbitmq.New(t.Context(), cfg)
		if err == nil || strings.Contains(err.Error(), "s3cretPW") {
			t.Errorf("got %v, want an error without the password", err)
		}
	})
}

// The AMQP listener unreachable: Probe names host:port, never the password.
func TestProbeUnreachable(t *testing.T) {
	t.Parallel()
	cfg := localConfig(t)
	cfg.AMQPURL = "amqp://127.0.0.1:1/"
	c, err := rabbitmq.NewProber(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := tenancytest.Derive(t, termshift.RabbitMQ, "/celery", tenancytest.Release(t))
	err = c.Probe(t.Context(), termshift.Credential{User: ns.User, Password: "s3cretPW"}, ns)
	if err == nil || errors.Is(err, tenancy.ErrAccessDenied) {
		t.Fatalf("got %v, want a connection error", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "s3cretPW") {
		t.Errorf("error %q must name 127.0.0.1:1 and not the password", err)
	}
}
