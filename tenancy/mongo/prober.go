package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/termshift/termshift"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// refusals are the server error codes that mean "this credential does not
// get in": every one termshift knows, in one place. A failed login arrives
// as one of them inside the driver's handshake error.
var refusals = map[int]string{
	13:   "Unauthorized",         // logged in, but no role on that database
	18:   "AuthenticationFailed", // wrong password, no such user, wrong authentication database
	8000: "AtlasError",           // Atlas and Atlas-like proxies: "bad auth : authentication failed"
}

// Prober tells whether a credential gets into a database. It holds the
// server's hosts and connection options, never the administrator's
// credential.
type Prober struct {
	base  options.ClientOptions // Auth cleared
	mech  string                // the URI's authMechanism, if it names one
	hosts string
}

// NewProber prepares a prober for the server cfg.URI names. The URI needs
// no credential ("mongodb://127.0.0.1:27017/?tls=true"); one that has it is
// dropped, and its authMechanism is kept for release users. It makes no
// connection.
func NewProber(cfg Config) (*Prober, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	opts := options.Client().ApplyURI(cfg.URI.Reveal())
	if err := opts.Validate(); err != nil || len(opts.Hosts) == 0 {
		// The parser's errors may quote the URI, password included.
		return nil, fmt.Errorf("mongo config: URI does not parse: %w", termshift.ErrInvalid)
	}
	p := &Prober{hosts: strings.Join(opts.Hosts, ",")}
	if opts.Auth != nil {
		p.mech = opts.Auth.AuthMechanism
		opts.Auth = nil
	}
	if opts.ServerSelectionTimeout == nil {
		opts.SetServerSelectionTimeout(serverSelectionTimeout)
	}
	if opts.Timeout == nil {
		opts.SetTimeout(cfg.timeout())
	}
	opts.SetAppName("termshift probe")
	p.base = *opts
	return p, nil
}

// Server names the server for messages: "mongo 127.0.0.1:27017".
func (p *Prober) Server() string { return "mongo " + p.hosts }

// Probe authenticates as cred against the user's own database (a release
// user's name is its database's name) and lists the collections of target.
// nil: cred gets into the database (on a server without roles, such as
// FerretDB, every user does). An error wrapping termshift.ErrAccessDenied:
// the server refused cred (see refusals). Any other error: it could not tell.
func (p *Prober) Probe(ctx context.Context, cred termshift.Credential, target termshift.Namespace) error {
	if err := validate(target); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if err := termshift.ValidateMongoDatabase(cred.User); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	what := fmt.Sprintf("probe %s on %s as %s", target, p.Server(), termshift.Quote(cred.User))
	opts := p.base
	opts.SetAuth(options.Credential{Username: cred.User, Password: cred.Password.Reveal(), AuthSource: cred.User, AuthMechanism: p.mech})
	client, err := mongo.Connect(&opts)
	if err != nil {
		return probeError(what+": connect", err, cred.Password)
	}
	defer client.Disconnect(context.Background())
	if _, err := client.Database(target.Name).ListCollectionNames(ctx, bson.D{}, options.ListCollections().SetNameOnly(true)); err != nil {
		return probeError(what+": list collections", err, cred.Password)
	}
	return nil
}

// probeError classifies err: a refusal wraps termshift.ErrAccessDenied.
func probeError(what string, err error, password termshift.Secret) error {
	if refused(err) {
		return fmt.Errorf("%s: %w: %w", what, termshift.ErrAccessDenied, redact(err, password))
	}
	return fmt.Errorf("%s: %w", what, redact(err, password))
}

// refused reports whether err carries a refusal code. The driver turns the
// server's answer to a failed login, deep inside its handshake error, into a
// CommandError with the server's code; other commands fail as a
// ServerError.
func refused(err error) bool {
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		if _, ok := refusals[int(ce.Code)]; ok {
			return true
		}
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		for code := range refusals {
			if se.HasErrorCode(code) {
				return true
			}
		}
	}
	return false
}
