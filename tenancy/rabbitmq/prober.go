package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/termshift/termshift"
)

// refusals are the AMQP reply codes that mean "this credential does not get
// in": every one termshift knows, in one place.
var refusals = map[int]string{
	amqp.AccessRefused: "access-refused", // 403: wrong password or no such user; or no permission for an operation
	amqp.NotAllowed:    "not-allowed",    // 530: no permission in the vhost, or no such vhost
}

// Prober tells whether a credential gets into a vhost. It needs only the
// AMQP listener's address, never the management API or its credential.
type Prober struct {
	amqpURL  string // scheme://host:port/, no credentials
	hostPort string
	mgmtUser string // the administrator, never a release's user
	timeout  time.Duration
}

// NewProber prepares a prober for the broker cfg.AMQPURL names; of cfg it
// reads only AMQPURL, Timeout and ManagementUser (to refuse probing as the
// administrator). It makes no connection.
func NewProber(cfg Config) (*Prober, error) {
	amqpURL, hostPort, err := cfg.amqpAddr()
	if err != nil {
		return nil, err
	}
	return &Prober{amqpURL: amqpURL, hostPort: hostPort, mgmtUser: cfg.ManagementUser, timeout: cfg.timeout()}, nil
}

// Server names the broker for messages: "rabbitmq 127.0.0.1:5672".
func (p *Prober) Server() string { return "rabbitmq " + p.hostPort }

// Probe opens an AMQP connection to the target vhost as cred and a channel
// in it. nil: cred gets into the vhost (any permission there is enough,
// which is what isolation must catch). An error wrapping
// termshift.ErrAccessDenied: the broker refused cred (see refusals). Any
// other error: it could not tell.
func (p *Prober) Probe(ctx context.Context, cred termshift.Credential, target termshift.Namespace) error {
	if err := validate(target, p.mgmtUser); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	what := fmt.Sprintf("probe %s on %s as %s", target, p.Server(), termshift.Quote(cred.User))
	conn, err := p.dial(ctx, cred, target.Name)
	if err != nil {
		return probeError(what+": connect", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return probeError(what+": open channel", err)
	}
	return ch.Close()
}

// dial logs in to vhost with cred. The vhost and the credential travel in
// the AMQP handshake, not in the URL, so no name needs URL escaping and no
// password sits in a string that an error could quote.
func (p *Prober) dial(ctx context.Context, cred termshift.Credential, vhost string) (*amqp.Connection, error) {
	return amqp.DialConfig(p.amqpURL, amqp.Config{
		Vhost: vhost,
		SASL:  []amqp.Authentication{&amqp.PlainAuth{Username: cred.User, Password: cred.Password.Reveal()}},
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: p.timeout}
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Handshake deadline; amqp091 clears it once the connection is open.
			deadline := time.Now().Add(p.timeout)
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

// probeError classifies err: a refusal wraps termshift.ErrAccessDenied.
func probeError(what string, err error) error {
	if refused(err) {
		return fmt.Errorf("%s: %w: %w", what, termshift.ErrAccessDenied, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// refused reports whether err is a refusal: a reply code of refusals, or
// amqp091's ErrCredentials, which it reports when a broker closes the socket
// during the login instead of answering with a code.
func refused(err error) bool {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		if _, ok := refusals[ae.Code]; ok {
			return true
		}
	}
	return errors.Is(err, amqp.ErrCredentials)
}
