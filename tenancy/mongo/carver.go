// Package mongo carves a release's databases on a shared MongoDB server: one
// database per logical database, each with its own user whose only role is
// readWrite on that database.
//
// FerretDB (the local stand-in for mongod) accepts users but not roles: there
// the user is created without roles, and Carve says plainly that isolation is
// not enforced by the server (tenancy.NotEnforced, with a note).
package mongo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// MarkerCollection is created in every carved database: MongoDB lists a
// database only once it holds a collection. Its one document records whose
// database it is.
const MarkerCollection = "termshift_namespace"

// NoRolesNote is the note Carve reports on a server that does not support roles.
const NoRolesNote = "server does not support roles: createUser without roles, so this user is not confined to its own database"

// Server error codes.
const (
	codeUnauthorized         = 13
	codeAuthenticationFailed = 18
	codeUserNotFound         = 11
	codeNamespaceExists      = 48
	codeNotImplemented       = 238
	codeCommandNotFound      = 59
)

const serverSelectionTimeout = 10 * time.Second

// systemDatabases are the server's own; List leaves them out and no
// namespace may be one.
var systemDatabases = []string{"admin", "local", "config"}

// Carver carves databases and their users on one MongoDB server.
type Carver struct {
	client  *mongo.Client
	uri     termshift.Secret // the administrator's; probes replace its credential
	mech    string           // the administrator's auth mechanism; probes use it too
	timeout time.Duration
	hosts   string

	mu    sync.Mutex
	roles *bool // whether the server supports roles, once known
}

// New connects to the server with the administrator's URI.
func New(ctx context.Context, cfg Config) (*Carver, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	opts := options.Client().ApplyURI(cfg.URI.Reveal())
	if err := opts.Validate(); err != nil || len(opts.Hosts) == 0 {
		// The parser's errors may quote the URI, password included.
		return nil, fmt.Errorf("mongo config: URI does not parse: %w", termshift.ErrInvalid)
	}
	if opts.ServerSelectionTimeout == nil {
		opts.SetServerSelectionTimeout(serverSelectionTimeout)
	}
	if opts.Timeout == nil {
		opts.SetTimeout(cfg.timeout())
	}
	opts.SetAppName("termshift")
	c := &Carver{uri: cfg.URI, timeout: cfg.timeout(), hosts: strings.Join(opts.Hosts, ",")}
	var password termshift.Secret
	if opts.Auth != nil {
		c.mech = opts.Auth.AuthMechanism
		password = termshift.Secret(opts.Auth.Password)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.Server(), redact(err, password))
	}
	c.client = client
	if err := client.Ping(ctx, nil); err != nil {
		client.Disconnect(context.Background())
		return nil, fmt.Errorf("connect to %s: %w", c.Server(), redact(err, password))
	}
	return c, nil
}

// Server names the server for messages: "mongo 127.0.0.1:27017".
func (c *Carver) Server() string { return "mongo " + c.hosts }

// Close disconnects the administrator's client.
func (c *Carver) Close() error { return c.client.Disconnect(context.Background()) }

func validate(ns termshift.Namespace) error {
	if ns.Service != termshift.MongoDB {
		return fmt.Errorf("namespace %s is not a mongo namespace: %w", ns, termshift.ErrInvalid)
	}
	if err := termshift.ValidateMongoDatabase(ns.Name); err != nil {
		return err
	}
	if slices.Contains(systemDatabases, ns.Name) {
		return &termshift.NameError{What: "MongoDB database", Name: ns.Name, Rule: "is a system database"}
	}
	// Our users authenticate against the database of their own name (see
	// Probe), so the user name obeys the database rules too.
	if err := termshift.ValidateMongoDatabase(ns.User); err != nil {
		return &termshift.NameError{What: "MongoDB user", Name: ns.User, Rule: "must be a valid database name: it is the user's authentication database"}
	}
	if ns.User != ns.Name {
		return &termshift.NameError{What: "MongoDB user", Name: ns.User, Rule: "must equal its database's name " + termshift.Quote(ns.Name)}
	}
	return nil
}

// EnforcesRoles reports whether the server supports roles, that is whether
// a release's user can be confined to its own database. It learns it once by
// creating a throwaway user with a role, which FerretDB refuses as not
// implemented.
func (c *Carver) EnforcesRoles(ctx context.Context) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.roles != nil {
		return *c.roles, nil
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return false, fmt.Errorf("roles check: %w", err)
	}
	name := "termshift_roles_" + hex.EncodeToString(b)
	db := c.client.Database(name)
	pw, err := tenancy.NewPassword()
	if err != nil {
		return false, err
	}
	err = db.RunCommand(ctx, createUser(name, pw, name, true)).Err()
	var supported bool
	switch {
	case err == nil:
		supported = true
		if err := db.RunCommand(ctx, bson.D{{Key: "dropUser", Value: name}}).Err(); err != nil {
			return false, fmt.Errorf("roles check on %s: drop user %s: %w", c.Server(), name, err)
		}
	case hasCode(err, codeNotImplemented, codeCommandNotFound):
		supported = false
	default:
		return false, fmt.Errorf("roles check on %s: %w", c.Server(), redact(err, pw))
	}
	c.roles = &supported
	return supported, nil
}

func createUser(user string, pw termshift.Secret, db string, withRoles bool) bson.D {
	roles := bson.A{}
	if withRoles {
		roles = bson.A{bson.D{{Key: "role", Value: "readWrite"}, {Key: "db", Value: db}}}
	}
	return bson.D{{Key: "createUser", Value: user}, {Key: "pwd", Value: pw.Reveal()}, {Key: "roles", Value: roles}}
}

// Carve creates the database (with its marker collection) and its user with
// role readWrite on that database only, or without roles where the server
// has none. When both already exist it changes nothing (the user keeps its
// password) and reports tenancy.Exists.
func (c *Carver) Carve(ctx context.Context, ns termshift.Namespace, password termshift.Secret) (tenancy.Result, error) {
	res := tenancy.Result{Namespace: ns}
	if err := validate(ns); err != nil {
		return res, fmt.Errorf("carve: %w", err)
	}
	if password == "" {
		return res, fmt.Errorf("carve %s: empty password: %w", ns, termshift.ErrInvalid)
	}
	roles, err := c.EnforcesRoles(ctx)
	if err != nil {
		return res, err
	}
	res.Isolation = tenancy.Enforced
	if !roles {
		res.Isolation = tenancy.NotEnforced
		res.Notes = []string{NoRolesNote}
	}
	dbOK, userOK, err := c.exists(ctx, ns)
	if err != nil {
		return res, err
	}
	if dbOK && userOK {
		res.Outcome = tenancy.Exists
		return res, nil
	}
	res.Outcome = tenancy.Created
	db := c.client.Database(ns.Name)
	if err := db.CreateCollection(ctx, MarkerCollection); err != nil && !hasCode(err, codeNamespaceExists) {
		return res, fmt.Errorf("create database %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	marker := bson.D{{Key: "$setOnInsert", Value: bson.D{
		{Key: "release", Value: ns.Release}, {Key: "logical", Value: ns.Logical}, {Key: "created", Value: time.Now().UTC()},
	}}}
	if _, err := db.Collection(MarkerCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: "namespace"}}, marker, options.UpdateOne().SetUpsert(true)); err != nil {
		return res, fmt.Errorf("write marker in %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	if !userOK {
		if err := db.RunCommand(ctx, createUser(ns.User, password, ns.Name, roles)).Err(); err != nil {
			return res, fmt.Errorf("create user %s on %s: %w", termshift.Quote(ns.User), c.Server(), redact(err, password))
		}
	}
	return res, nil
}

// Drop removes the user and the database. It reports tenancy.Absent when
// neither was there.
func (c *Carver) Drop(ctx context.Context, ns termshift.Namespace) (tenancy.Result, error) {
	res := tenancy.Result{Namespace: ns, Outcome: tenancy.Absent}
	if err := validate(ns); err != nil {
		return res, fmt.Errorf("drop: %w", err)
	}
	dbOK, userOK, err := c.exists(ctx, ns)
	if err != nil {
		return res, err
	}
	if dbOK || userOK {
		res.Outcome = tenancy.Dropped
	}
	db := c.client.Database(ns.Name)
	if err := db.RunCommand(ctx, bson.D{{Key: "dropUser", Value: ns.User}}).Err(); err != nil && !hasCode(err, codeUserNotFound) {
		return res, fmt.Errorf("drop user %s on %s: %w", termshift.Quote(ns.User), c.Server(), err)
	}
	if err := db.Drop(ctx); err != nil {
		return res, fmt.Errorf("drop database %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	return res, nil
}

// Exists reports whether the database is listed and its user exists.
func (c *Carver) Exists(ctx context.Context, ns termshift.Namespace) (bool, error) {
	if err := validate(ns); err != nil {
		return false, fmt.Errorf("exists: %w", err)
	}
	dbOK, userOK, err := c.exists(ctx, ns)
	return dbOK && userOK, err
}

func (c *Carver) exists(ctx context.Context, ns termshift.Namespace) (db, user bool, err error) {
	// A database exists on the server once it holds a collection. Ask the
	// database itself: listDatabases walks every database on the server, and
	// FerretDB's can hang while another database is busy.
	colls, err := c.client.Database(ns.Name).ListCollectionNames(ctx, bson.D{}, options.ListCollections().SetNameOnly(true))
	if err != nil {
		return false, false, fmt.Errorf("look up database %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	db = len(colls) > 0
	var info struct {
		Users []bson.Raw `bson:"users"`
	}
	err = c.client.Database(ns.Name).RunCommand(ctx, bson.D{{Key: "usersInfo", Value: ns.User}}).Decode(&info)
	if err != nil {
		return false, false, fmt.Errorf("look up user %s on %s: %w", termshift.Quote(ns.User), c.Server(), err)
	}
	return db, len(info.Users) > 0, nil
}

// listTimeout bounds listDatabases.
const listTimeout = 15 * time.Second

// List returns every database on the server except admin, local and config.
func (c *Carver) List(ctx context.Context) ([]string, error) {
	// Bounded: FerretDB's listDatabases can hang while another database is
	// busy; an orphan listing that gives up is better than one that hangs.
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	names, err := c.client.ListDatabaseNames(ctx, bson.D{}, options.ListDatabases().SetNameOnly(true))
	if err != nil {
		return nil, fmt.Errorf("list databases on %s: %w", c.Server(), err)
	}
	return slices.DeleteFunc(names, func(n string) bool { return slices.Contains(systemDatabases, n) }), nil
}

// Probe authenticates with cred against the user's own database (a release
// user's name is its database's name) and then lists the collections of
// target and inserts and deletes a document there. A refusal wraps
// tenancy.ErrAccessDenied.
func (c *Carver) Probe(ctx context.Context, cred termshift.Credential, target termshift.Namespace) error {
	if err := validate(target); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if err := termshift.ValidateMongoDatabase(cred.User); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	what := fmt.Sprintf("probe %s on %s as %s", target, c.Server(), termshift.Quote(cred.User))
	opts := options.Client().ApplyURI(c.uri.Reveal())
	if opts.ServerSelectionTimeout == nil {
		opts.SetServerSelectionTimeout(serverSelectionTimeout)
	}
	if opts.Timeout == nil {
		opts.SetTimeout(c.timeout)
	}
	opts.SetAppName("termshift probe").
		SetAuth(options.Credential{Username: cred.User, Password: cred.Password.Reveal(), AuthSource: cred.User, AuthMechanism: c.mech})
	client, err := mongo.Connect(opts)
	if err != nil {
		return probeError(what+": connect", err, cred.Password)
	}
	defer client.Disconnect(context.Background())
	db := client.Database(target.Name)
	if _, err := db.ListCollectionNames(ctx, bson.D{}); err != nil {
		return probeError(what+": list collections", err, cred.Password)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	id := "probe-" + hex.EncodeToString(b)
	coll := db.Collection(MarkerCollection)
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return probeError(what+": insert", err, cred.Password)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return probeError(what+": delete", err, cred.Password)
	}
	return nil
}

func hasCode(err error, codes ...int) bool {
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	for _, code := range codes {
		if se.HasErrorCode(code) {
			return true
		}
	}
	return false
}

func probeError(what string, err error, password termshift.Secret) error {
	err = redact(err, password)
	if hasCode(err, codeUnauthorized, codeAuthenticationFailed) || isAuthError(err) {
		return fmt.Errorf("%s: %w: %w", what, tenancy.ErrAccessDenied, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isAuthError recognises a failed handshake, which the driver reports as a
// connection error around its SASL conversation rather than a server error.
func isAuthError(err error) bool {
	var ce mongo.CommandError
	if errors.As(err, &ce) && (ce.Code == codeAuthenticationFailed || ce.Code == codeUnauthorized) {
		return true
	}
	return strings.Contains(err.Error(), "auth error")
}

// redact keeps a secret out of an error's text. The original error is not
// kept: its text is what would leak.
func redact(err error, secret termshift.Secret) error {
	s := secret.Reveal()
	if err == nil || s == "" || !strings.Contains(err.Error(), s) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), s, "[redacted]"))
}
