package verify

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/termshift/termshift"
)

// planIsolation: one job per own namespace, trying the release's credential
// (or, for memcached, a sentinel key) on every other release's namespaces of
// the same service.
func planIsolation(t Target, opts Options) []job {
	if len(t.Own) == 0 {
		return single("-", Skip, "release has no namespaces")
	}
	var jobs []job
	for _, ns := range t.Own {
		others := byService(t.Others, ns.Service)
		run := func(ctx context.Context) (Status, string) {
			if ns.Service == termshift.MongoDB && !ns.Enforced {
				return Warn, string(notEnforced)
			}
			if len(others) == 0 {
				return Skip, fmt.Sprintf("no other release has %s namespaces", ns.Service)
			}
			switch ns.Service {
			case termshift.MySQL, termshift.MongoDB, termshift.RabbitMQ:
				return isolateNamespace(ctx, opts.Probers, ns, others)
			case termshift.Memcached:
				return isolateMemcached(ctx, ns, others)
			}
			return Skip, fmt.Sprintf("unknown service %s", termshift.Quote(string(ns.Service)))
		}
		jobs = append(jobs, job{target: nsTarget(ns), run: run})
	}
	return jobs
}

// notEnforced is the detail for a MongoDB server that accepts users but not
// roles: isolation there is a warning, never a pass.
const notEnforced = "not enforced by this server"

// probes collects what trying a credential on other namespaces showed.
type probes struct {
	leaks    []string // accepted where it must be refused
	unknown  []string // could not tell
	refused  int
	releases map[string]bool
	// passed says what a pass means: "refused on %d vhosts of %d other releases".
	passed string
}

func (p *probes) verdict() (Status, string) {
	switch {
	case len(p.leaks) > 0:
		return Fail, listDetail(p.leaks, 5)
	case len(p.unknown) > 0:
		return Unknown, "could not tell: " + listDetail(p.unknown, 3)
	}
	return Pass, fmt.Sprintf(p.passed, p.refused, len(p.releases))
}

func newProbes(passed string) *probes { return &probes{releases: map[string]bool{}, passed: passed} }

// isolation's words per service: what a namespace is called, what getting
// into one means.
var (
	nsKind = map[termshift.Service]string{termshift.MySQL: "schema", termshift.MongoDB: "database", termshift.RabbitMQ: "vhost"}
	access = map[termshift.Service]string{termshift.MySQL: "use", termshift.MongoDB: "list collections of", termshift.RabbitMQ: "open"}
)

// isolateNamespace: the release's credential must get into its own
// namespace (else nothing can be told) and be refused on every other
// release's. A probe that neither gets in nor is refused could not tell.
func isolateNamespace(ctx context.Context, probers map[termshift.Service]Prober, ns Namespace, others []Namespace) (Status, string) {
	p, err := proberFor(probers, ns.Service)
	if err != nil {
		return noServer(err)
	}
	if err := p.Probe(ctx, ns.Cred, probeTarget(ns)); err != nil {
		return Unknown, fmt.Sprintf("own credential does not work on %s: %v", termshift.Quote(ns.Name), err)
	}
	kind := nsKind[ns.Service]
	found := newProbes("refused on %d " + kind + "s of %d other releases")
	for _, o := range others {
		found.releases[o.Release] = true
		err := p.Probe(ctx, ns.Cred, probeTarget(o))
		switch {
		case err == nil:
			found.leaks = append(found.leaks, fmt.Sprintf("%s can %s %s %s of release %s",
				termshift.Quote(ns.Cred.User), access[ns.Service], kind, termshift.Quote(o.Name), termshift.Quote(o.Release)))
		case errors.Is(err, termshift.ErrAccessDenied):
			found.refused++
		default:
			found.unknown = append(found.unknown, fmt.Sprintf("%s %s: %v", kind, termshift.Quote(o.Name), err))
		}
	}
	return found.verdict()
}

// normEndpoint makes "LOCALHOST:11211" and "localhost:11211" compare equal;
// names that resolve alike but are spelt differently are caught by the
// sentinel instead.
func normEndpoint(ep string) string { return strings.ToLower(strings.TrimSpace(ep)) }

// isolateMemcached: memcached has no credentials, so isolation means a
// separate cluster. A shared endpoint fails outright; otherwise a sentinel
// written to the release's cluster must be absent from every other one.
func isolateMemcached(ctx context.Context, ns Namespace, others []Namespace) (Status, string) {
	p := newProbes("sentinel key absent from %d clusters of %d other releases")
	own := map[string]bool{}
	for _, ep := range ns.Endpoints {
		own[normEndpoint(ep)] = true
	}
	for _, o := range others {
		p.releases[o.Release] = true
		if slices.ContainsFunc(o.Endpoints, func(ep string) bool { return own[normEndpoint(ep)] }) {
			p.leaks = append(p.leaks, fmt.Sprintf("shares memcached cluster with release %s (%s)",
				termshift.Quote(o.Release), termshift.Quote(o.Name)))
		}
	}
	if len(p.leaks) > 0 {
		return p.verdict()
	}
	c, err := newMemcache(ctx, ns.Endpoints)
	if err != nil {
		return noServer(err)
	}
	defer c.Close()
	key := "termshift-verify-sentinel-" + rand.Text()
	if err := c.Set(&memcache.Item{Key: key, Value: []byte(ns.Release), Expiration: int32(time.Minute / time.Second)}); err != nil {
		return Unknown, fmt.Sprintf("cannot write sentinel to own cluster %v: %v", ns.Endpoints, err)
	}
	defer func() { _ = c.Delete(key) }()
	for _, o := range others {
		oc, err := newMemcache(ctx, o.Endpoints)
		if err != nil {
			p.unknown = append(p.unknown, fmt.Sprintf("cluster %s: %v", termshift.Quote(o.Name), err))
			continue
		}
		_, err = oc.Get(key)
		oc.Close()
		switch {
		case err == nil:
			p.leaks = append(p.leaks, fmt.Sprintf("sentinel key visible on cluster %s of release %s: shares memcached cluster with release %s",
				termshift.Quote(o.Name), termshift.Quote(o.Release), termshift.Quote(o.Release)))
		case errors.Is(err, memcache.ErrCacheMiss):
			p.refused++
		default:
			p.unknown = append(p.unknown, fmt.Sprintf("cluster %s %v: %v", termshift.Quote(o.Name), o.Endpoints, err))
		}
	}
	return p.verdict()
}
