// Package router is the contract between the orchestrator and the router
// providers that move HTTP traffic between releases: a routing Table (the
// live release, every running release as a Backend, an optional maintenance
// window) and the names shared by every provider. Each provider is a folder
// beside this one: builtin (the reverse proxy `termshift serve` runs), nginx
// (an upstream include file and a reload), elbv2 (an AWS load balancer's
// listener). Each has a Switch(ctx, Table) that applies a table atomically.
package router

import (
	"net/url"
	"time"
)

const (
	// PreviewHeader names the release a request previews.
	PreviewHeader = "X-Termshift-Release"
	// ServedByHeader is set on every proxied response to the release that
	// served it.
	ServedByHeader = "X-Termshift-Served-By"
	// PreviewCookie holds the release a browser previews; GET
	// /_termshift/preview/RELEASE sets it.
	PreviewCookie = "termshift_release"
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
}

// Table is what a router should do: send public traffic to Live, let any
// other backend be previewed, and answer public traffic with the
// maintenance page while Maintenance is set.
type Table struct {
	Live        string
	Backends    []Backend
	Maintenance *Maintenance
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
