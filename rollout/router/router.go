// Package router is the contract between the orchestrator and the router
// providers that move HTTP traffic between releases: a routing Table (the
// live release, every running release as a Backend, an optional maintenance
// window) and the names shared by every provider. Each provider is a folder
// beside this one: builtin (the reverse proxy `termshift serve` runs), nginx
// (an upstream include file and a reload), elbv2 (an AWS load balancer's
// listener). Each has a Switch(ctx, Table) that applies a table atomically.
//
// Who may preview: public traffic always goes to the live release. A
// request that asks for another release (by header, host name or cookie)
// is served only when it comes from an allowed network or carries a valid
// preview grant (package grant); every provider applies the same rule as
// far as it can, and says what it cannot check.
package router

import (
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/termshift/termshift"
)

const (
	// PreviewHeader names the release a request previews.
	PreviewHeader = "X-Termshift-Release"
	// SplitCookie keeps a browser on one side of a weighted split for as
	// long as the split's weight stays the same (Table.Split).
	SplitCookie = "termshift_split"
	// ServedByHeader is set on every proxied response to the release that
	// served it.
	ServedByHeader = "X-Termshift-Served-By"
	// PreviewCookie holds the release a browser previews; GET
	// /_termshift/preview/RELEASE sets it. It is honoured only for clients
	// of an allowed network.
	PreviewCookie = "termshift_release"
	// GrantHeader carries a preview grant token (test suites).
	GrantHeader = "X-Termshift-Grant"
	// GrantCookie holds a preview grant token; GET
	// /_termshift/preview/RELEASE?grant=TOKEN sets it.
	GrantCookie = "termshift_grant"
	// PreviewPath is the only termshift path on the public address: it
	// sets and clears the preview cookies. Every other /_termshift/ path
	// (status, dashboard, metrics) is on the admin address.
	PreviewPath = "/_termshift/preview/"
	// ControlPrefix starts every termshift path.
	ControlPrefix = "/_termshift/"
)

// How a release became live, in Table.LiveBy.
const (
	ByCutover  = "cutover"
	ByRollback = "rollback"
)

// Backend is one running release and where it listens.
type Backend struct {
	Release string
	URL     *url.URL
}

// Maintenance is a maintenance window: public traffic gets 503 with
// Retry-After and the message.
type Maintenance struct {
	RetryAfter time.Duration
	Message    string
	// Releases are the releases whose previews are held too, with the same
	// answer: a final sync writes into them, so no request may.
	Releases []string
}

// Holds reports whether the window holds previews of release.
func (m *Maintenance) Holds(release string) bool {
	return m != nil && slices.Contains(m.Releases, release)
}

// Table is what a router should do: send public traffic to Live, let any
// other backend be previewed, and answer public traffic with the
// maintenance page while Maintenance is set.
type Table struct {
	Live        string
	Backends    []Backend
	Maintenance *Maintenance
	// RevokedGrants are the IDs of preview grants refused although their
	// signature and expiry are good (`termshift preview-revoke`).
	RevokedGrants []string
	// LiveSince and LiveBy (ByCutover, ByRollback) say when and how Live
	// became live: a router that keeps metrics times a switch from
	// LiveSince to the first response of the new live release.
	LiveSince time.Time
	LiveBy    string
	// Split, when set, sends a share of public traffic to a second release
	// (a progressive cutover of a release sharing Live's data). A router
	// that cannot weigh traffic refuses a table with a Split.
	Split *Split
}

// Split is a weighted share of public traffic: Percent of it (1-99) goes
// to Release, the rest to the live release. Sticky: a browser keeps its
// side (SplitCookie) while the weight does not change.
type Split struct {
	Release string
	Percent int
}

// CheckSplit refuses a split no router can apply: of a share outside 1-99,
// to the live release itself, or to a release that is not running. A
// table without a split passes.
func (t Table) CheckSplit() error {
	sp := t.Split
	if sp == nil {
		return nil
	}
	switch {
	case sp.Percent < 1 || sp.Percent > 99:
		return fmt.Errorf("split of %d%% to %s: want 1 to 99 (0 is no split, 100 a cutover): %w", sp.Percent, termshift.Quote(sp.Release), termshift.ErrInvalid)
	case sp.Release == t.Live:
		return fmt.Errorf("split to %s: it is the live release already: %w", termshift.Quote(sp.Release), termshift.ErrInvalid)
	}
	if _, ok := t.Backend(sp.Release); !ok {
		return fmt.Errorf("split to %s: it is not running: there is nothing to send its share to: %w", termshift.Quote(sp.Release), termshift.ErrInvalid)
	}
	return nil
}

// Backend returns the backend of a release.
func (t Table) Backend(release string) (Backend, bool) {
	for _, b := range t.Backends {
		if b.Release == release {
			return b, true
		}
	}
	return Backend{}, false
}
