package store

import (
	"sort"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/verify"
)

// StepOrder is the order of an upgrade's steps.
var StepOrder = []string{"carve", "restore", "scrub", "deploy", "verify", "cutover"}

// Namespace states.
const (
	NSCarved    = "carved"
	NSRestoring = "restoring"
	NSRestored  = "restored"
	NSScrubbed  = "scrubbed"
	NSFailed    = "failed"
)

// State is what termshift knows of an environment: releases, their
// namespaces, the live pointer, verify results. It lives in state.json.
type State struct {
	Version int `json:"version"`
	// Revision counts the saves of this state. A backend writes a state
	// only when the stored revision is still the one it was loaded at
	// (compare-and-swap), so a writer with a stale view never overwrites a
	// newer state.
	Revision    int64                    `json:"revision"`
	Environment string                   `json:"environment"`
	Live        string                   `json:"live,omitempty"`
	Previous    string                   `json:"previous,omitempty"` // the rollback target
	LiveSince   time.Time                `json:"live_since,omitzero"`
	Releases    map[string]*ReleaseState `json:"releases"`
	UpdatedAt   time.Time                `json:"updated_at,omitzero"`
	// Maintenance is set while cutover runs pre_cutover commands: the
	// router answers public traffic with 503 and Retry-After.
	Maintenance *Maintenance `json:"maintenance,omitempty"`
	// RevokedGrants are preview grants refused before their expiry
	// (`termshift preview-revoke`); serve applies them.
	RevokedGrants []RevokedGrant `json:"revoked_grants,omitempty"`
	// Progressive is the progressive cutover running, or the last one
	// (progressive.go).
	Progressive *Progressive `json:"progressive,omitempty"`
}

// Maintenance is a maintenance window in progress.
type Maintenance struct {
	Since   time.Time `json:"since"`
	Release string    `json:"release"`
	Message string    `json:"message"`
	// Releases are the releases whose previews the window holds too (a
	// final sync writes into them): their previews get 503 as well.
	Releases []string `json:"releases,omitempty"`
	// Token is the lock token of the command that opened the window, and
	// Command its command line: a window whose token no longer holds the
	// environment's lock is stale (its holder is gone).
	Token   string `json:"token,omitempty"`
	Command string `json:"command,omitempty"`
}

// RevokedGrant is a preview grant refused before its expiry. Once expired
// it is refused anyway, and a later revocation drops it from the list.
type RevokedGrant struct {
	ID      string    `json:"id"`
	Release string    `json:"release,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	Reason  string    `json:"reason,omitempty"`
}

// ReleaseState is one release as state knows it.
type ReleaseState struct {
	Name       string            `json:"name"`
	Version    string            `json:"version"`
	Namespaces []*NamespaceState `json:"namespaces,omitempty"`
	Steps      map[string]Step   `json:"steps,omitempty"`
	// Running: serve should keep the release's processes up.
	Running    bool          `json:"running,omitempty"`
	Snapshot   string        `json:"snapshot,omitempty"`  // backup snapshot restored
	ChangedAt  time.Time     `json:"changed_at,omitzero"` // last carve, restore, scrub or deploy
	Verify     *VerifyRecord `json:"verify,omitempty"`
	Switch     *SwitchCounts `json:"switch,omitempty"`    // counts recorded when it became live
	RetiredAt  time.Time     `json:"retired_at,omitzero"` // when it stopped being live
	TornDownAt time.Time     `json:"torn_down_at,omitzero"`
	// SharesData names the release whose namespaces this release runs on
	// (envfile's data.shared_with), recorded before it first runs. Such a
	// release holds no namespaces of its own: nothing done to it can reach
	// the namespaces it borrows, and the owner is protected while it is
	// live or the rollback target (State.Protected).
	SharesData string `json:"shares_data_with,omitempty"`
	// Follow is the binary log follower of the release's MySQL schemas
	// (`termshift follow`), while one runs and after it ended.
	Follow *FollowState `json:"follow,omitempty"`
	// Binlog is where the source server's binary log stood when the
	// release's MySQL data was last synced (a follow's start).
	Binlog *BinlogPos `json:"binlog,omitempty"`
}

// BinlogPos is a point in a MySQL server's binary log.
type BinlogPos struct {
	File string `json:"file"`
	Pos  int64  `json:"position"`
	GTID string `json:"gtid,omitempty"`
}

// FollowState is a follower of another release's MySQL binary log. The
// follower runs without the environment's lock and never writes state
// while it runs: it writes this record when it starts and when it ends
// (when the lock is free); its position is committed with the rows it
// applies, on the server. A command holding the lock sets Stop (a
// cutover's final sync, which catches up itself) and the follower exits.
type FollowState struct {
	From  string    `json:"from"`
	Key   string    `json:"key"` // the follower's position record on the server
	Token string    `json:"token"`
	Host  string    `json:"host"`
	PID   int       `json:"pid"`
	Since time.Time `json:"since"`
	Start BinlogPos `json:"start"`
	// Basis is the data the position was applied to (the MySQL
	// namespaces' proofs): restored or synced again, a follow starts anew.
	Basis string `json:"basis,omitempty"`
	// StartsAtData says the follower started at the position its data
	// was proven at (the snapshot it was restored from, or its sync): the
	// catch-up's proof may then read only the tables changed since.
	StartsAtData bool      `json:"starts_at_data,omitempty"`
	Status       string    `json:"status"` // following, stopped, failed, caught-up
	Detail       string    `json:"detail,omitempty"`
	Stop         bool      `json:"stop,omitempty"`
	EndedAt      time.Time `json:"ended_at,omitzero"`
}

// Step is the outcome of one upgrade step of a release.
type Step struct {
	Status string    `json:"status"` // done, failed, running
	At     time.Time `json:"at"`
	Detail string    `json:"detail,omitempty"`
}

// NamespaceState is a carved namespace and what happened to it.
type NamespaceState struct {
	termshift.Namespace
	Status    string   `json:"status"`
	Isolation string   `json:"isolation,omitempty"`
	Endpoints []string `json:"endpoints,omitempty"`
	Notes     []string `json:"notes,omitempty"`
	Error     string   `json:"error,omitempty"`
	Proof     *Proof   `json:"proof,omitempty"`
}

// Proof is the integrity proof of a restore: per object counts as restored.
type Proof struct {
	At      time.Time         `json:"at"`
	Source  string            `json:"source"`
	Objects map[string]int64  `json:"objects"`
	Hashes  map[string]string `json:"hashes,omitempty"`
	Seconds float64           `json:"seconds"`
	Bytes   int64             `json:"bytes"`
	// Unproven says what the backup lacked when it was restored with
	// --accept-unproven-backup: the counts are the load's, not proof.
	Unproven string `json:"unproven,omitempty"`
	// Binlog is where the MySQL server's binary log stood before the
	// data was written (the restore's or sync's start): the namespace's
	// writes logged before it made this data, those after changed it.
	Binlog *BinlogPos `json:"binlog,omitempty"`
}

// VerifyRecord is the latest verify result of a release.
type VerifyRecord struct {
	At     time.Time      `json:"at"`
	Passed bool           `json:"passed"`
	Counts map[string]int `json:"counts"`
	Failed []string       `json:"failed,omitempty"` // "check target: detail"
	// Unknown lists the checks that could not run where it matters
	// ("check target: detail"): no pass; the cutover gate refuses them
	// unless waived by check name.
	Unknown []string `json:"unknown,omitempty"`
	Partial bool     `json:"partial,omitempty"` // only some checks ran (--only)
	// Results are every check's result, for the dashboard.
	Results []verify.Result `json:"results,omitempty"`
}

// SwitchCounts are the counts of a release's data taken when it became live,
// so a rollback can tell what would be stranded.
type SwitchCounts struct {
	At            time.Time        `json:"at"`
	Rows          map[string]int64 `json:"rows"`           // "schema.table" -> rows
	AutoIncrement map[string]int64 `json:"auto_increment"` // "schema.table" -> next id
	Documents     map[string]int64 `json:"documents"`      // "db.collection" -> documents
	Unavailable   []string         `json:"unavailable,omitempty"`
}

// Release returns the release's state, creating it when absent.
func (s *State) Release(name string) *ReleaseState {
	if s.Releases == nil {
		s.Releases = map[string]*ReleaseState{}
	}
	r, ok := s.Releases[name]
	if !ok {
		r = &ReleaseState{Name: name}
		s.Releases[name] = r
	}
	return r
}

// Names lists the releases in state, sorted.
func (s *State) Names() []string {
	names := make([]string, 0, len(s.Releases))
	for n := range s.Releases {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Protected reports why a release must not be dropped or overwritten: it is
// live, or it is the rollback target. "" when it is neither.
func (s *State) Protected(name string) string {
	switch name {
	case "":
		return ""
	case s.Live:
		return "it is the live release"
	case s.Previous:
		return "it is the rollback target (the release that was live before " + termshift.Quote(s.Live) + ")"
	}
	for _, user := range []string{s.Live, s.Previous} {
		if rs := s.Releases[user]; user != "" && rs != nil && rs.SharesData == name {
			return "its namespaces are the data of release " + termshift.Quote(user) + ", which shares them and " + s.Protected(user)[len("it "):]
		}
	}
	return ""
}

// DataOwner is the release whose namespaces name runs on: the release it
// shares data with, else itself.
func (s *State) DataOwner(name string) string {
	if rs := s.Releases[name]; rs != nil && rs.SharesData != "" {
		return rs.SharesData
	}
	return name
}

// DataNamespaces are the namespaces a release runs on: its own, or those
// of the release whose data it shares. Read them; never write through them.
func (s *State) DataNamespaces(name string) []*NamespaceState {
	if rs := s.Releases[s.DataOwner(name)]; rs != nil {
		return rs.Namespaces
	}
	return nil
}

// Sharers lists the releases in state that run on name's namespaces.
func (s *State) Sharers(name string) []string {
	var out []string
	for _, n := range s.Names() {
		if n != name && s.Releases[n].SharesData == name {
			out = append(out, n)
		}
	}
	return out
}

// Namespace finds a release's namespace by service and logical name.
func (r *ReleaseState) Namespace(svc termshift.Service, logical string) *NamespaceState {
	for _, ns := range r.Namespaces {
		if ns.Service == svc && ns.Logical == logical {
			return ns
		}
	}
	return nil
}

// SetStep records a step outcome.
func (r *ReleaseState) SetStep(step, status, detail string, at time.Time) {
	if r.Steps == nil {
		r.Steps = map[string]Step{}
	}
	r.Steps[step] = Step{Status: status, At: at, Detail: detail}
}

// StepDone reports whether a step finished.
func (r *ReleaseState) StepDone(step string) bool { return r.Steps[step].Status == "done" }
