// Package rabbitmq carves a release's virtual hosts on a shared RabbitMQ
// broker: one vhost per logical vhost, each with its own user (no tags, so no
// management access) that may configure, write and read in that vhost only.
package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
)

// Carver carves vhosts and their users on one RabbitMQ broker.
type Carver struct {
	mgmt     *rabbithole.Client
	mgmtUser string
	amqpURL  string // scheme://host:port/, no credentials
	hostPort string
	timeout  time.Duration
}

// New connects to the management API with the administrator's credential and
// checks that it is accepted.
func New(ctx context.Context, cfg Config) (*Carver, error) {
	amqpURL, hostPort, err := cfg.amqpAddr()
	if err != nil {
		return nil, err
	}
	mgmtHost, err := cfg.managementHost()
	if err != nil {
		return nil, err
	}
	mgmt, err := rabbithole.NewClient(cfg.ManagementURL, cfg.ManagementUser, cfg.ManagementPassword.Reveal())
	if err != nil {
		return nil, fmt.Errorf("rabbitmq management %s: %w", mgmtHost, err)
	}
	mgmt.SetTimeout(cfg.timeout())
	c := &Carver{mgmt: mgmt, mgmtUser: cfg.ManagementUser, amqpURL: amqpURL, hostPort: hostPort, timeout: cfg.timeout()}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := mgmt.Whoami(); err != nil {
		return nil, fmt.Errorf("connect to rabbitmq management %s as %s: %w", mgmtHost, termshift.Quote(cfg.ManagementUser), err)
	}
	return c, nil
}

// Server names the broker for messages: "rabbitmq 127.0.0.1:5672".
func (c *Carver) Server() string { return "rabbitmq " + c.hostPort }

// Close implements the carver method set; the management client holds no
// connection of its own.
func (c *Carver) Close() error { return nil }

func (c *Carver) validate(ns termshift.Namespace) error {
	if ns.Service != termshift.RabbitMQ {
		return fmt.Errorf("namespace %s is not a rabbitmq namespace: %w", ns, termshift.ErrInvalid)
	}
	if err := termshift.ValidateVhost(ns.Name); err != nil {
		return err
	}
	if ns.Name == "/" {
		return &termshift.NameError{What: "RabbitMQ vhost", Name: ns.Name, Rule: "is the broker's default vhost, never a release's"}
	}
	if err := termshift.ValidateVhost(ns.User); err != nil {
		return &termshift.NameError{What: "RabbitMQ user", Name: ns.User, Rule: "must be 1-255 bytes of printable ASCII without spaces"}
	}
	if ns.User == c.mgmtUser || ns.User == "guest" {
		return &termshift.NameError{What: "RabbitMQ user", Name: ns.User, Rule: "is an administrator, never a release's user"}
	}
	return nil
}

func isNotFound(err error) bool {
	var er rabbithole.ErrorResponse
	return errors.As(err, &er) && er.StatusCode == http.StatusNotFound
}

// Carve creates the vhost and its user with every permission in that vhost
// only, then proves the credential by opening an AMQP connection to the
// vhost. When both already exist it changes nothing (the user keeps its
// password) and reports tenancy.Exists.
func (c *Carver) Carve(ctx context.Context, ns termshift.Namespace, password termshift.Secret) (tenancy.Result, error) {
	res := tenancy.Result{Namespace: ns, Isolation: tenancy.Enforced}
	if err := c.validate(ns); err != nil {
		return res, fmt.Errorf("carve: %w", err)
	}
	if password == "" {
		return res, fmt.Errorf("carve %s: empty password: %w", ns, termshift.ErrInvalid)
	}
	vhostOK, userOK, err := c.exists(ctx, ns)
	if err != nil {
		return res, err
	}
	res.Outcome = tenancy.Created
	if vhostOK && userOK {
		res.Outcome = tenancy.Exists
	}
	if !vhostOK {
		if err := c.do(ctx, "create vhost "+termshift.Quote(ns.Name), func() (*http.Response, error) {
			return c.mgmt.PutVhost(ns.Name, rabbithole.VhostSettings{Description: "termshift release " + ns.Release + " " + ns.Logical})
		}); err != nil {
			return res, err
		}
	}
	if !userOK {
		if err := c.do(ctx, "create user "+termshift.Quote(ns.User), func() (*http.Response, error) {
			return c.mgmt.PutUser(ns.User, rabbithole.UserSettings{Name: ns.User, Tags: rabbithole.UserTags{}, Password: password.Reveal()})
		}); err != nil {
			return res, err
		}
	}
	// Setting the same permissions again is harmless and repairs a grant
	// removed by hand.
	if err := c.do(ctx, "grant "+termshift.Quote(ns.User)+" on vhost "+termshift.Quote(ns.Name), func() (*http.Response, error) {
		return c.mgmt.UpdatePermissionsIn(ns.Name, ns.User, rabbithole.Permissions{Configure: ".*", Write: ".*", Read: ".*"})
	}); err != nil {
		return res, err
	}
	if res.Outcome == tenancy.Created {
		if err := c.Probe(ctx, termshift.Credential{User: ns.User, Password: password}, ns); err != nil {
			return res, fmt.Errorf("carve %s: the new credential does not work: %w", ns, err)
		}
	}
	return res, nil
}

// do runs one management request, which the client cannot cancel, after
// checking ctx.
func (c *Carver) do(ctx context.Context, what string, req func() (*http.Response, error)) error {
	_, err := c.doStatus(ctx, what, req)
	return err
}

// doStatus is do that also returns the HTTP status: rabbit-hole reports a
// DELETE answered 404 as success.
func (c *Carver) doStatus(ctx context.Context, what string, req func() (*http.Response, error)) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%s on %s: %w", what, c.Server(), err)
	}
	resp, err := req()
	status := 0
	if resp != nil {
		status = resp.StatusCode
		if resp.Body != nil {
			resp.Body.Close()
		}
	}
	if err != nil {
		return status, fmt.Errorf("%s on %s: %w", what, c.Server(), err)
	}
	return status, nil
}

// Drop deletes the user and the vhost with everything in it. It reports
// tenancy.Absent when neither was there.
func (c *Carver) Drop(ctx context.Context, ns termshift.Namespace) (tenancy.Result, error) {
	res := tenancy.Result{Namespace: ns, Isolation: tenancy.Enforced, Outcome: tenancy.Absent}
	if err := c.validate(ns); err != nil {
		return res, fmt.Errorf("drop: %w", err)
	}
	for _, step := range []struct {
		what string
		req  func() (*http.Response, error)
	}{
		{"delete user " + termshift.Quote(ns.User), func() (*http.Response, error) { return c.mgmt.DeleteUser(ns.User) }},
		{"delete vhost " + termshift.Quote(ns.Name), func() (*http.Response, error) { return c.mgmt.DeleteVhost(ns.Name) }},
	} {
		status, err := c.doStatus(ctx, step.what, step.req)
		switch {
		case isNotFound(err) || status == http.StatusNotFound:
		case err != nil:
			return res, err
		default:
			res.Outcome = tenancy.Dropped
		}
	}
	return res, nil
}

// Exists reports whether both the vhost and its user exist.
func (c *Carver) Exists(ctx context.Context, ns termshift.Namespace) (bool, error) {
	if err := c.validate(ns); err != nil {
		return false, fmt.Errorf("exists: %w", err)
	}
	vhostOK, userOK, err := c.exists(ctx, ns)
	return vhostOK && userOK, err
}

func (c *Carver) exists(ctx context.Context, ns termshift.Namespace) (vhost, user bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, false, err
	}
	_, err = c.mgmt.GetVhost(ns.Name)
	switch {
	case err == nil:
		vhost = true
	case !isNotFound(err):
		return false, false, fmt.Errorf("look up vhost %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	_, err = c.mgmt.GetUser(ns.User)
	switch {
	case err == nil:
		user = true
	case !isNotFound(err):
		return false, false, fmt.Errorf("look up user %s on %s: %w", termshift.Quote(ns.User), c.Server(), err)
	}
	return vhost, user, nil
}

// List returns every vhost on the broker, the default "/" included.
func (c *Carver) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	vhosts, err := c.mgmt.ListVhosts()
	if err != nil {
		return nil, fmt.Errorf("list vhosts on %s: %w", c.Server(), err)
	}
	out := make([]string, 0, len(vhosts))
	for _, v := range vhosts {
		out = append(out, v.Name)
	}
	return out, nil
}

// Probe opens an AMQP connection to the target vhost with cred, opens a
// channel, and declares and deletes an exclusive queue. A refusal wraps
// tenancy.ErrAccessDenied.
func (c *Carver) Probe(ctx context.Context, cred termshift.Credential, target termshift.Namespace) error {
	if err := c.validate(target); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	what := fmt.Sprintf("probe %s on %s as %s", target, c.Server(), termshift.Quote(cred.User))
	conn, err := c.dial(ctx, cred, target.Name)
	if err != nil {
		return probeError(what+": connect", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return probeError(what+": open channel", err)
	}
	defer ch.Close()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("%s: queue name: %w", what, err)
	}
	q, err := ch.QueueDeclare("termshift.probe."+hex.EncodeToString(b), false, true, true, false, nil)
	if err != nil {
		return probeError(what+": declare queue", err)
	}
	if _, err := ch.QueueDelete(q.Name, false, false, false); err != nil {
		return probeError(what+": delete queue "+q.Name, err)
	}
	return nil
}

// dial logs in to vhost with cred. The vhost and the credential travel in
// the AMQP handshake, not in the URL, so no name needs URL escaping and no
// password sits in a string that an error could quote.
func (c *Carver) dial(ctx context.Context, cred termshift.Credential, vhost string) (*amqp.Connection, error) {
	return amqp.DialConfig(c.amqpURL, amqp.Config{
		Vhost: vhost,
		SASL:  []amqp.Authentication{&amqp.PlainAuth{Username: cred.User, Password: cred.Password.Reveal()}},
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: c.timeout}
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Handshake deadline; amqp091 clears it once the connection is open.
			deadline := time.Now().Add(c.timeout)
			if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
				deadline = d
			}
			if err := conn.SetDeadline(deadline); err != nil {
				conn.Close()
				return nil, err
			}
			return conn, nil
		},
		Properties: amqp.Table{"connection_name": "termshift probe"},
	})
}

func probeError(what string, err error) error {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case amqp.AccessRefused, amqp.NotAllowed:
			return fmt.Errorf("%s: %w: %w", what, tenancy.ErrAccessDenied, err)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}
