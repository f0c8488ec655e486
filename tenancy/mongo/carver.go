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
// database only once it holds a collection. Its one document,
// {_id: "owner", environment, release, logical, carved_at}, is the owner
// marker.
const MarkerCollection = "termshift_namespace"

// NoRolesNote is the note Carve reports on a server that does not support roles.
const NoRolesNote = "server does not support roles: createUser without roles, so this user is not confined to its own database"

// Server error codes the carver handles itself; the refusals are in
// prober.go.
const (
	codeUserNotFound    = 11
	codeNotImplemented  = 238
	codeCommandNotFound = 59
)

const serverSelectionTimeout = 10 * time.Second

// systemDatabases are the server's own; List leaves them out and no
// namespace may be one.
var systemDatabases = []string{"admin", "local", "config"}

// Carver carves databases and their users on one MongoDB server.
type Carver struct {
	client *mongo.Client
	hosts  string

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
	c := &Carver{hosts: strings.Join(opts.Hosts, ",")}
	var password termshift.Secret
	if opts.Auth != nil {
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
	// Prober.Probe), so the user name obeys the database rules too.
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

// ownerID is the _id of the owner document in MarkerCollection.
const ownerID = "owner"

// markerWaits times markerWait is how long owner waits for the marker of a
// carve in flight.
const (
	markerWaits = 10
	markerWait  = 50 * time.Millisecond
)

// ownerDoc is the owner marker: MarkerCollection's document {_id: "owner"}.
type ownerDoc struct {
	ID          string    `bson:"_id"`
	Environment string    `bson:"environment"`
	Release     string    `bson:"release"`
	Logical     string    `bson:"logical,omitempty"`
	CarvedAt    time.Time `bson:"carved_at"`
}

func (c *Carver) notOurs(ns termshift.Namespace, found, want termshift.Owner, userOnly bool) error {
	return &tenancy.NotOursError{Namespace: ns, Server: c.Server(), Found: found, Want: want, UserOnly: userOnly}
}

// Carve creates the database with owner's marker (MarkerCollection's
// document {_id: "owner", environment, release, logical, carved_at}), then
// its user with role readWrite on that database only, or without roles where
// the server has none. A database already marked for owner is kept: a
// missing user is created, an existing one keeps its password
// (tenancy.Exists when both were there). A database marked for another owner
// or not marked at all, or a user without its database, is refused with a
// *tenancy.NotOursError and nothing is changed.
func (c *Carver) Carve(ctx context.Context, ns termshift.Namespace, password termshift.Secret, owner termshift.Owner) (tenancy.Result, error) {
	res := tenancy.Result{Namespace: ns}
	if err := validate(ns); err != nil {
		return res, fmt.Errorf("carve: %w", err)
	}
	if err := tenancy.ValidateOwner(owner); err != nil {
		return res, fmt.Errorf("carve %s: %w", ns, err)
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
	// The user first: a carve makes the namespace before its user, so a
	// user seen here has its namespace by the time that is looked up, and a
	// concurrent carve of the same name is told apart from a user made by
	// hand.
	userOK, err := c.userExists(ctx, ns)
	if err != nil {
		return res, err
	}
	found, dbOK, err := c.owner(ctx, ns)
	if err != nil {
		return res, err
	}
	switch {
	case dbOK && found != owner:
		return res, c.notOurs(ns, found, owner, false)
	case !dbOK && userOK:
		return res, c.notOurs(ns, termshift.Owner{}, owner, true)
	}
	res.Outcome = tenancy.Exists
	db := c.client.Database(ns.Name)
	if !dbOK {
		res.Outcome = tenancy.Created
		// Inserting the marker creates the database. Its fixed _id is the
		// claim: of two carvers racing for one name, the second's insert
		// fails and it reads the winner's marker.
		doc := ownerDoc{ID: ownerID, Environment: owner.Environment, Release: owner.Release, Logical: ns.Logical, CarvedAt: time.Now().UTC()}
		if _, err := db.Collection(MarkerCollection).InsertOne(ctx, doc); err != nil {
			if !mongo.IsDuplicateKeyError(err) {
				return res, fmt.Errorf("create database %s with its owner marker on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
			}
			if found, _, err = c.owner(ctx, ns); err != nil {
				return res, err
			}
			if found != owner {
				return res, c.notOurs(ns, found, owner, false)
			}
		}
	}
	if !userOK {
		res.Outcome = tenancy.Created
		if err := db.RunCommand(ctx, createUser(ns.User, password, ns.Name, roles)).Err(); err != nil {
			return res, fmt.Errorf("create user %s on %s (database %s is carved and marked for %s): %w",
				termshift.Quote(ns.User), c.Server(), termshift.Quote(ns.Name), owner, redact(err, password))
		}
	}
	return res, nil
}

// Drop removes the user and the database, only when the database's marker
// names owner; another owner's or an unmarked database is refused with a
// *tenancy.NotOursError. tenancy.Absent when the database is not there; a
// user without its database is left alone (a note says so).
func (c *Carver) Drop(ctx context.Context, ns termshift.Namespace, owner termshift.Owner) (tenancy.Result, error) {
	res := tenancy.Result{Namespace: ns, Outcome: tenancy.Absent}
	if err := validate(ns); err != nil {
		return res, fmt.Errorf("drop: %w", err)
	}
	if err := tenancy.ValidateOwner(owner); err != nil {
		return res, fmt.Errorf("drop %s: %w", ns, err)
	}
	found, dbOK, err := c.owner(ctx, ns)
	if err != nil {
		return res, err
	}
	if !dbOK {
		userOK, err := c.userExists(ctx, ns)
		if err != nil {
			return res, err
		}
		if userOK {
			res.Notes = append(res.Notes, tenancy.UserOnlyNote(ns.User))
		}
		return res, nil
	}
	if found != owner {
		return res, c.notOurs(ns, found, owner, false)
	}
	res.Outcome = tenancy.Dropped
	// The user first: a database left by a crash between the two still
	// carries its marker, a user without its database would not be ours.
	db := c.client.Database(ns.Name)
	if err := db.RunCommand(ctx, bson.D{{Key: "dropUser", Value: ns.User}}).Err(); err != nil && !hasCode(err, codeUserNotFound) {
		return res, fmt.Errorf("drop user %s on %s: %w", termshift.Quote(ns.User), c.Server(), err)
	}
	if err := db.Drop(ctx); err != nil {
		return res, fmt.Errorf("drop database %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	return res, nil
}

// Owner reads the database's owner marker: exists is false when the
// database does not exist; a zero owner with exists true means it has no
// marker.
func (c *Carver) Owner(ctx context.Context, ns termshift.Namespace) (termshift.Owner, bool, error) {
	if err := validate(ns); err != nil {
		return termshift.Owner{}, false, fmt.Errorf("owner: %w", err)
	}
	return c.owner(ctx, ns)
}

func (c *Carver) owner(ctx context.Context, ns termshift.Namespace) (termshift.Owner, bool, error) {
	// A database exists on the server once it holds a collection. Ask the
	// database itself: listDatabases walks every database on the server, and
	// FerretDB's can hang while another database is busy.
	db := c.client.Database(ns.Name)
	colls, err := db.ListCollectionNames(ctx, bson.D{}, options.ListCollections().SetNameOnly(true))
	if err != nil {
		return termshift.Owner{}, false, fmt.Errorf("look up database %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	if len(colls) == 0 {
		return termshift.Owner{}, false, nil
	}
	var doc ownerDoc
	err = db.Collection(MarkerCollection).FindOne(ctx, bson.D{{Key: "_id", Value: ownerID}}).Decode(&doc)
	// A database holding only an empty marker collection is a carve in
	// flight: the insert that creates the collection shows it before its
	// document (FerretDB). Give that document a moment to appear.
	for wait := 0; errors.Is(err, mongo.ErrNoDocuments) && wait < markerWaits && slices.Equal(colls, []string{MarkerCollection}); wait++ {
		select {
		case <-ctx.Done():
			return termshift.Owner{}, true, ctx.Err()
		case <-time.After(markerWait):
		}
		err = db.Collection(MarkerCollection).FindOne(ctx, bson.D{{Key: "_id", Value: ownerID}}).Decode(&doc)
	}
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return termshift.Owner{}, true, nil
	case err != nil:
		// A document that does not decode as an owner is no owner.
		var de *bson.DecodeError
		if errors.As(err, &de) {
			return termshift.Owner{}, true, nil
		}
		return termshift.Owner{}, true, fmt.Errorf("read owner of database %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	o := termshift.Owner{Environment: doc.Environment, Release: doc.Release}
	if o.Validate() != nil {
		return termshift.Owner{}, true, nil
	}
	return o, true, nil
}

// Exists reports whether the database is listed and its user exists.
func (c *Carver) Exists(ctx context.Context, ns termshift.Namespace) (bool, error) {
	if err := validate(ns); err != nil {
		return false, fmt.Errorf("exists: %w", err)
	}
	_, dbOK, err := c.owner(ctx, ns)
	if err != nil || !dbOK {
		return false, err
	}
	return c.userExists(ctx, ns)
}

func (c *Carver) userExists(ctx context.Context, ns termshift.Namespace) (bool, error) {
	var info struct {
		Users []bson.Raw `bson:"users"`
	}
	err := c.client.Database(ns.Name).RunCommand(ctx, bson.D{{Key: "usersInfo", Value: ns.User}}).Decode(&info)
	if err != nil {
		return false, fmt.Errorf("look up user %s on %s: %w", termshift.Quote(ns.User), c.Server(), err)
	}
	return len(info.Users) > 0, nil
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

// redact keeps a secret out of an error's text. The original error is not
// kept: its text is what would leak.
func redact(err error, secret termshift.Secret) error {
	s := secret.Reveal()
	if err == nil || s == "" || !strings.Contains(err.Error(), s) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), s, "[redacted]"))
}
