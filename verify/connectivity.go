package verify

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/termshift/termshift"
)

// planConnectivity: one job per own namespace, using the release's own
// credential exactly as the application will.
func planConnectivity(t Target, opts Options) []job {
	if len(t.Own) == 0 {
		return single("-", Skip, "release has no namespaces")
	}
	var jobs []job
	for _, ns := range t.Own {
		jobs = append(jobs, job{target: nsTarget(ns), run: func(ctx context.Context) (Status, string) {
			switch ns.Service {
			case termshift.MySQL, termshift.MongoDB, termshift.RabbitMQ:
				return connectNamespace(ctx, opts.Probers, ns)
			case termshift.Memcached:
				return connectMemcached(ctx, ns)
			}
			return Skip, fmt.Sprintf("unknown service %s", termshift.Quote(string(ns.Service)))
		}})
	}
	return jobs
}

// noServer turns a missing address into an unknown: the check cannot run
// where it matters.
func noServer(err error) (Status, string) {
	if errors.Is(err, errNoServer) {
		return Unknown, err.Error()
	}
	return Fail, err.Error()
}

// protocol names what verify would speak to a service, in messages.
var protocol = map[termshift.Service]string{termshift.MySQL: "mysql", termshift.MongoDB: "mongo", termshift.RabbitMQ: "amqp"}

// proberFor returns the service's prober, or errNoServer.
func proberFor(probers map[termshift.Service]Prober, svc termshift.Service) (Prober, error) {
	if p := probers[svc]; p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("%s: %w", protocol[svc], errNoServer)
}

// probeTarget is the namespace as the prober takes it; its user is the
// owning release's.
func probeTarget(ns Namespace) termshift.Namespace {
	return termshift.Namespace{Service: ns.Service, Logical: ns.Logical, Release: ns.Release, Name: ns.Name, User: ns.Cred.User}
}

// connectNamespace: the release's own credential must get into its own
// namespace; a refusal or an unreachable server fails.
func connectNamespace(ctx context.Context, probers map[termshift.Service]Prober, ns Namespace) (Status, string) {
	p, err := proberFor(probers, ns.Service)
	if err != nil {
		return noServer(err)
	}
	if err := p.Probe(ctx, ns.Cred, probeTarget(ns)); err != nil {
		return Fail, err.Error()
	}
	return Pass, fmt.Sprintf("as %s: accepted on %s", termshift.Quote(ns.Cred.User), termshift.Quote(ns.Name))
}

func connectMemcached(ctx context.Context, ns Namespace) (Status, string) {
	c, err := newMemcache(ctx, ns.Endpoints)
	if err != nil {
		return noServer(err)
	}
	defer c.Close()
	key := "termshift-verify-" + rand.Text()
	value := []byte(rand.Text())
	if err := c.Set(&memcache.Item{Key: key, Value: value, Expiration: int32(time.Minute / time.Second)}); err != nil {
		return Fail, fmt.Sprintf("set on %v: %v", ns.Endpoints, err)
	}
	it, err := c.Get(key)
	if err != nil {
		return Fail, fmt.Sprintf("get on %v: %v", ns.Endpoints, err)
	}
	if string(it.Value) != string(value) {
		return Fail, fmt.Sprintf("get on %v returned another value than was set", ns.Endpoints)
	}
	if err := c.Delete(key); err != nil {
		return Fail, fmt.Sprintf("delete on %v: %v", ns.Endpoints, err)
	}
	return Pass, fmt.Sprintf("set, get and delete on %v", ns.Endpoints)
}
