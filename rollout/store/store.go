// Package store holds what termshift knows of an environment (State), the
// journal's entries, the lock's holder record, and the contract every state
// backend implements (Backend). A backend is a folder beside this one:
// store/local keeps everything in a directory on one machine; a shared
// backend keeps it where a team's machines all reach. storetest is the
// conformance suite every backend passes.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/termshift/termshift"
)

// StateVersion is the version of the state document this code writes.
const StateVersion = 1

// Backend is where an environment's state, journal, lock and generated
// credentials live. Its rules:
//
//   - Load returns an empty State (Revision 0) when none was ever saved.
//   - Save writes s only when the stored revision is still s.Revision
//     (compare-and-swap; a first save creates only where nothing exists),
//     then sets s.Revision to the new one. A lost race returns an error
//     matching ErrConflict and changes nothing. A crash at any instant
//     leaves the old state or the new one, never a mix.
//   - One lock per environment. Acquire takes it or returns a
//     *LockedError naming the holder. A holder that is provably gone (its
//     process ended on this host) is replaced, and Acquire returns the
//     replaced holder so the caller can journal it. A holder on another
//     machine whose lease expired (it stopped renewing it: killed, or cut
//     off) is not replaced silently: Acquire returns a *LockedError with
//     Gone set, naming the holder and the expiry. TakeOver replaces any
//     holder (rollback --force) and BreakLock removes it (unlock --force);
//     the caller journals both; the former holder's Lock.Check fails from
//     then on. A lease is renewed while the Lock is held; Release stops
//     renewing it.
//   - Append never loses an entry under concurrent writers; entries are
//     read back in the order they were appended. The caller redacts.
//   - Credentials are stored so that only the environment's operators can
//     read them (mode 0600 locally, encrypted elsewhere).
type Backend interface {
	Load(ctx context.Context) (*State, error)
	Save(ctx context.Context, s *State) error

	Acquire(ctx context.Context, command string) (Lock, *LockInfo, error)
	TakeOver(ctx context.Context, command string) (Lock, *LockInfo, error)
	Holder(ctx context.Context) (*LockInfo, error)
	BreakLock(ctx context.Context) (*LockInfo, error)

	Append(ctx context.Context, e Entry) error
	ReadJournal(ctx context.Context) (entries []Entry, torn int, err error)

	Credentials(ctx context.Context, release string) (map[string]termshift.Credential, error)
	SaveCredentials(ctx context.Context, release string, creds map[string]termshift.Credential) error
	DeleteCredentials(ctx context.Context, release string) error
	// CredentialReleases lists the releases that have stored credentials.
	CredentialReleases(ctx context.Context) ([]string, error)

	// String names where the state lives: a directory or a URL.
	String() string
}

// Lock is a held environment lock.
type Lock interface {
	Info() LockInfo
	// Check confirms the lock is still ours; a command calls it before
	// each step so that a takeover stops it. It wraps termshift.ErrLocked
	// when the lock was taken over or broken.
	Check(ctx context.Context) error
	// Release gives the lock up if it is still ours.
	Release(ctx context.Context) error
}

// ErrConflict: the state changed since it was loaded; the write was refused.
var ErrConflict = errors.New("state changed since it was read")

// ConflictError is a refused compare-and-swap write.
type ConflictError struct {
	Where    string // the backend
	Have     int64  // the revision the writer loaded
	Stored   int64  // the revision stored now
	Operator string // who wrote it last, when known
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("state in %s changed since this command read it (read revision %d, now %d): not overwritten; run the command again",
		e.Where, e.Have, e.Stored)
}

// Is makes a ConflictError match ErrConflict and termshift.ErrLocked: an
// outdated writer is, in effect, one that no longer holds the lock.
func (e *ConflictError) Is(target error) bool {
	return target == ErrConflict || target == termshift.ErrLocked
}

// LockInfo says who holds an environment's lock.
type LockInfo struct {
	User    string    `json:"user"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
	Token   string    `json:"token"`
	// ProcStart identifies the holder's process beyond its PID (the
	// kernel's start time of the process), so that a reused PID is not
	// mistaken for the holder. 0 when unknown.
	ProcStart uint64 `json:"proc_start,omitempty"`
	// Expires is the end of the holder's lease, renewed while it runs, on
	// backends where the holder cannot be checked directly; zero when the
	// lock has no lease.
	Expires time.Time `json:"expires,omitzero"`
}

func (h LockInfo) String() string {
	return fmt.Sprintf("%s@%s pid %d (%s) since %s", h.User, h.Host, h.PID, h.Command, h.Since.Format(time.RFC3339))
}

// LockedError is returned when another command holds the lock.
type LockedError struct {
	Holder LockInfo
	// Gone: the holder is provably gone (its process ended on this host,
	// or its lease expired); the lock can be taken over.
	Gone bool
	// Why says how Gone was decided, or why the holder cannot be checked.
	Why string
}

func (e *LockedError) Error() string {
	msg := "locked by " + e.Holder.String()
	if e.Why != "" {
		msg += " (" + e.Why + ")"
	}
	return msg
}

// Is makes LockedError match termshift.ErrLocked.
func (e *LockedError) Is(target error) bool { return target == termshift.ErrLocked }

// Entry is one line of the journal: who did what, when, why, and how it
// ended. It never holds a secret: the orchestrator redacts every credential
// the environment knows before appending.
type Entry struct {
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Command string    `json:"command"`
	Release string    `json:"release,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Step    string    `json:"step,omitempty"`
	Outcome string    `json:"outcome"` // started, done, failed, refused, forced, skipped
	Detail  string    `json:"detail,omitempty"`
}

// CredKey is how a namespace's credential is keyed: "service/logical".
func CredKey(svc termshift.Service, logical string) string { return string(svc) + "/" + logical }
