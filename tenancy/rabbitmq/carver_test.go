package rabbitmq_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
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

func TestConformance(t *testing.T) {
	t.Parallel()
	// Open edX writes its celery vhost with a leading slash: it must survive
	// the management API's URL path and the AMQP handshake alike.
	for _, logical := range []string{"/celery", "xqueue"} {
		t.Run(logical, func(t *testing.T) {
			t.Parallel()
			tenancytest.Run(t,
				func(t *testing.T) tenancytest.Carver { return newCarver(t) },
				func(t *testing.T, release string) termshift.Namespace {
					return tenancytest.Derive(t, termshift.RabbitMQ, logical, release)
				},
				tenancytest.Options{Isolation: tenancy.Enforced, ChecksPasswords: true, Notes: []string{}})
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
	t.Cleanup(func() {
		if _, err := c.Drop(context.Background(), ns); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if _, err := c.Carve(t.Context(), ns, "pw"); err != nil {
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
	tenancytest.RefusesInvalid(t, c, termshift.Credential{User: good.User, Password: "pw"}, tests)
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
	c, err := rabbitmq.New(t.Context(), cfg)
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
