// Package tenancy carves, lists and drops the namespaces a release owns on the
// shared servers, each with its own credential and an owner marker on the
// server naming its environment and release. One subpackage per service
// (tenancy/mysql, tenancy/mongo, tenancy/rabbitmq, tenancy/memcached) provides
// a Carver and a Prober with the same method sets:
//
//	New(ctx, cfg) (*Carver, error)
//	Server() string
//	Carve(ctx, ns, password, owner) (Result, error)  idempotent: Outcome created or exists
//	Drop(ctx, ns, owner) (Result, error)             idempotent: Outcome dropped or absent
//	Owner(ctx, ns) (termshift.Owner, bool, error)    the marker; zero and true = unmarked
//	Exists(ctx, ns) (bool, error)
//	List(ctx) ([]string, error)                      every namespace name on the server
//	Close() error
//
//	NewProber(cfg) (*Prober, error)                  no administrator credential needed
//	                                                 (memcached: NewProber(ctx, cfg))
//	Probe(ctx, cred, target) error                   nil: cred gets into target;
//	                                                 wrapping termshift.ErrAccessDenied: refused;
//	                                                 any other error: could not tell
//
// A Prober answers "does this credential get into that namespace": it logs
// in and reads (a grant to read is getting in, which isolation must catch);
// it never writes. Every refusal code of its server is listed in its
// prober.go, and verify classifies with errors.Is(err,
// termshift.ErrAccessDenied) alone.
//
// Carve and Drop act only on what is theirs: a namespace that exists with
// another owner's marker, or with none, is refused with a *NotOursError
// (wrapping termshift.ErrRefused) and nothing is changed. Every Carver
// validates namespace names again before any statement runs (errors wrap
// termshift.ErrInvalid), and never puts a password into an error.
// tenancytest.Run is the conformance suite each one passes against a real
// server.
package tenancy

import (
	"crypto/rand"
	"fmt"

	"github.com/termshift/termshift"
)

// Outcome says what Carve or Drop did.
type Outcome string

// The outcomes of Carve and Drop.
const (
	Created Outcome = "created" // Carve made the namespace and its user
	Exists  Outcome = "exists"  // Carve found both already there and changed nothing
	Dropped Outcome = "dropped" // Drop removed the namespace (or, for a memcached pool, flushed and released it)
	Absent  Outcome = "absent"  // Drop found nothing to remove
)

// Isolation says how a release's namespace is kept from other releases.
type Isolation string

// The isolation levels a carver reports.
const (
	// Enforced: the server refuses the release's credential everywhere but
	// its own namespace.
	Enforced Isolation = "enforced"
	// NotEnforced: the server accepts users but not roles (FerretDB), so a
	// release's credential is not confined to its own database.
	NotEnforced Isolation = "not enforced by this server"
	// SeparateCluster: memcached has no credentials; each release gets its
	// own cluster.
	SeparateCluster Isolation = "separate cluster"
)

// Result is what Carve or Drop did to one namespace, as data for the journal
// and the operator. It never holds a secret.
type Result struct {
	Namespace termshift.Namespace
	Outcome   Outcome
	Isolation Isolation
	// Endpoints lists host:port of the namespace's servers; set for memcached.
	Endpoints []string
	// Notes are plain facts the operator should read, e.g. that the server
	// does not support roles.
	Notes []string
}

// ErrAccessDenied is wrapped by Probe when the server refuses a credential.
// It is termshift.ErrAccessDenied, kept here for callers written before it
// moved to the root package.
var ErrAccessDenied = termshift.ErrAccessDenied

const (
	passwordLen      = 40
	passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// NewPassword returns a fresh random password of 40 characters from
// [A-Za-z0-9], drawn from crypto/rand without modulo bias. Such a password
// needs no escaping in any server's syntax or URL.
func NewPassword() (termshift.Secret, error) {
	out := make([]byte, 0, passwordLen)
	buf := make([]byte, 64)
	// 62 letters: accept bytes below 248 (4*62) so every letter is equally likely.
	const limit = 256 - 256%len(passwordAlphabet)
	for len(out) < passwordLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("generate password: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			if len(out) == passwordLen {
				break
			}
		}
	}
	return termshift.Secret(out), nil
}
