// Package memcached gives each release its own memcached cluster. Memcached
// has no users: isolation is by distinct clusters, so Carve never hands two
// releases the same cluster and flushes a cluster before a new release gets
// it, so no entry of a former tenant survives.
//
// Two providers: a pool of running clusters (the caller assigns one to a
// release and passes its name as the namespace's Name; Pick suggests a free
// one), or ElastiCache, where Carve creates a cluster per release.
//
// In a pool, a marker key in the cluster records which release holds it;
// Exists, List and Drop read it, and Carve refuses a cluster another release
// holds. Memcached may evict the marker under memory pressure; the caller's
// state stays the authority on assignments.
package memcached

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
)

// MarkerKey holds "release logical" of the release a pool cluster is carved for.
const MarkerKey = "termshift:namespace"

// ErrPoolExhausted is wrapped by Pick when every pool cluster is assigned.
var ErrPoolExhausted = errors.New("memcached pool exhausted")

// Carver carves memcached clusters for releases.
type Carver struct {
	provider string
	timeout  time.Duration
	clusters map[string][]string // pool
	names    []string            // pool, sorted
	ec       *elastiCache
}

// New prepares a carver. For a pool it checks that every node answers; for
// ElastiCache it builds the client and makes no request.
func New(ctx context.Context, cfg Config) (*Carver, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Carver{provider: cfg.Provider, timeout: cfg.timeout()}
	switch cfg.Provider {
	case ProviderPool:
		c.clusters = make(map[string][]string, len(cfg.Clusters))
		for name, nodes := range cfg.Clusters {
			c.clusters[name] = slices.Clone(nodes)
		}
		c.names = sortedNames(c.clusters)
		for _, name := range c.names {
			for _, node := range c.clusters[name] {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				if err := c.client(node).Ping(); err != nil {
					return nil, fmt.Errorf("connect to memcached %s (cluster %s): %w", node, termshift.Quote(name), err)
				}
			}
		}
	case ProviderElastiCache:
		ec, err := newElastiCache(ctx, cfg.ElastiCache)
		if err != nil {
			return nil, err
		}
		c.ec = ec
	}
	return c, nil
}

// Server names the provider for messages: "memcached pool (a, b)" or
// "memcached elasticache eu-west-1".
func (c *Carver) Server() string {
	if c.provider == ProviderElastiCache {
		return "memcached elasticache " + c.ec.cfg.Region
	}
	return "memcached pool (" + strings.Join(c.names, ", ") + ")"
}

// Close implements the carver method set; connections are per request.
func (c *Carver) Close() error { return nil }

func (c *Carver) client(nodes ...string) *memcache.Client {
	mc := memcache.New(nodes...)
	mc.Timeout = c.timeout
	return mc
}

func (c *Carver) validate(ns termshift.Namespace) error {
	if ns.Service != termshift.Memcached {
		return fmt.Errorf("namespace %s is not a memcached namespace: %w", ns, termshift.ErrInvalid)
	}
	if err := termshift.ValidateRelease(ns.Release); err != nil {
		return err
	}
	if c.provider == ProviderElastiCache {
		_, err := termshift.ElastiCacheID(ns.Name)
		return err
	}
	if _, ok := c.clusters[ns.Name]; !ok {
		return &termshift.NameError{What: "memcached cluster", Name: ns.Name,
			Rule: "is not in the pool (" + strings.Join(c.names, ", ") + ")"}
	}
	return nil
}

// Pick returns the first pool cluster, in name order, that is not taken.
// The caller knows the assignments and records its choice.
func (c *Carver) Pick(taken []string) (string, error) {
	if c.provider != ProviderPool {
		return "", fmt.Errorf("pick a memcached cluster: provider %s creates clusters, it has no pool: %w", c.provider, termshift.ErrInvalid)
	}
	for _, name := range c.names {
		if !slices.Contains(taken, name) {
			return name, nil
		}
	}
	return "", fmt.Errorf("all %d memcached clusters are assigned: %s: %w", len(c.names), strings.Join(c.names, ", "), ErrPoolExhausted)
}

// Holder returns the release a pool cluster is carved for, "" if none.
func (c *Carver) Holder(ctx context.Context, cluster string) (string, error) {
	if c.provider != ProviderPool {
		return "", fmt.Errorf("memcached holder: provider %s has no pool: %w", c.provider, termshift.ErrInvalid)
	}
	nodes, ok := c.clusters[cluster]
	if !ok {
		return "", &termshift.NameError{What: "memcached cluster", Name: cluster, Rule: "is not in the pool (" + strings.Join(c.names, ", ") + ")"}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	it, err := c.client(nodes...).Get(MarkerKey)
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read marker of memcached cluster %s (%s): %w", termshift.Quote(cluster), strings.Join(nodes, ","), err)
	}
	release, _, _ := strings.Cut(string(it.Value), " ")
	return release, nil
}

func (c *Carver) result(ns termshift.Namespace, outcome tenancy.Outcome, endpoints []string) tenancy.Result {
	return tenancy.Result{Namespace: ns, Outcome: outcome, Isolation: tenancy.SeparateCluster, Endpoints: endpoints}
}

// Carve readies the release's cluster. Pool: flush every node, prove the
// cluster stores and serves a key, and mark it as the release's; a cluster
// already marked for this release is left alone (tenancy.Exists), one marked
// for another release is refused. ElastiCache: create the cluster and wait
// until it is available. The password is unused: memcached has no users.
func (c *Carver) Carve(ctx context.Context, ns termshift.Namespace, _ termshift.Secret) (tenancy.Result, error) {
	res := c.result(ns, "", nil)
	if err := c.validate(ns); err != nil {
		return res, fmt.Errorf("carve: %w", err)
	}
	if c.provider == ProviderElastiCache {
		return c.ec.carve(ctx, ns)
	}
	nodes := c.clusters[ns.Name]
	res.Endpoints = slices.Clone(nodes)
	holder, err := c.Holder(ctx, ns.Name)
	if err != nil {
		return res, fmt.Errorf("carve %s: %w", ns, err)
	}
	if holder == "" {
		// Claim the cluster atomically before flushing it: of two carvers
		// racing for a free cluster, one gets it and the other is refused.
		err := c.client(nodes...).Add(&memcache.Item{Key: MarkerKey, Value: []byte(ns.Release + " " + ns.Logical)})
		switch {
		case errors.Is(err, memcache.ErrNotStored):
			if holder, err = c.Holder(ctx, ns.Name); err != nil {
				return res, fmt.Errorf("carve %s: %w", ns, err)
			}
		case err != nil:
			return res, fmt.Errorf("carve %s: claim cluster %s: %w", ns, strings.Join(nodes, ","), err)
		default:
			holder = ns.Release
			res.Outcome = tenancy.Created
		}
	}
	if holder != ns.Release {
		return res, fmt.Errorf("carve %s: memcached cluster %s is carved for release %s: %w", ns, termshift.Quote(ns.Name), termshift.Quote(holder), termshift.ErrRefused)
	}
	if res.Outcome != tenancy.Created {
		res.Outcome = tenancy.Exists
		return res, nil
	}
	if err := c.flush(ctx, ns.Name); err != nil {
		return res, fmt.Errorf("carve %s: %w", ns, err)
	}
	if err := c.roundTrip(ctx, nodes); err != nil {
		return res, fmt.Errorf("carve %s: %w", ns, err)
	}
	// The flush took the claim with it.
	if err := c.client(nodes...).Set(&memcache.Item{Key: MarkerKey, Value: []byte(ns.Release + " " + ns.Logical)}); err != nil {
		return res, fmt.Errorf("carve %s: write marker to %s: %w", ns, strings.Join(nodes, ","), err)
	}
	return res, nil
}

// flush empties every node of a pool cluster.
func (c *Carver) flush(ctx context.Context, cluster string) error {
	for _, node := range c.clusters[cluster] {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.client(node).FlushAll(); err != nil {
			return fmt.Errorf("flush memcached %s (cluster %s): %w", node, termshift.Quote(cluster), err)
		}
	}
	return nil
}

// roundTrip sets, gets and deletes a unique key on the cluster.
func (c *Carver) roundTrip(ctx context.Context, nodes []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("probe key: %w", err)
	}
	key, value := "termshift:probe:"+hex.EncodeToString(b), []byte(hex.EncodeToString(b))
	mc := c.client(nodes...)
	where := strings.Join(nodes, ",")
	if err := mc.Set(&memcache.Item{Key: key, Value: value, Expiration: 60}); err != nil {
		return fmt.Errorf("set %s on memcached %s: %w", key, where, err)
	}
	it, err := mc.Get(key)
	if err != nil {
		return fmt.Errorf("get %s from memcached %s: %w", key, where, err)
	}
	if string(it.Value) != string(value) {
		return fmt.Errorf("get %s from memcached %s: got %q, want %q", key, where, it.Value, value)
	}
	if err := mc.Delete(key); err != nil {
		return fmt.Errorf("delete %s on memcached %s: %w", key, where, err)
	}
	return nil
}

// Drop releases the cluster. Pool: flush it (the caller clears the
// assignment); tenancy.Absent when no release holds it, refused when another
// release does. ElastiCache: delete the cluster.
func (c *Carver) Drop(ctx context.Context, ns termshift.Namespace) (tenancy.Result, error) {
	res := c.result(ns, tenancy.Absent, nil)
	if err := c.validate(ns); err != nil {
		return res, fmt.Errorf("drop: %w", err)
	}
	if c.provider == ProviderElastiCache {
		return c.ec.drop(ctx, ns)
	}
	holder, err := c.Holder(ctx, ns.Name)
	if err != nil {
		return res, fmt.Errorf("drop %s: %w", ns, err)
	}
	switch holder {
	case "":
		return res, nil
	case ns.Release:
	default:
		return res, fmt.Errorf("drop %s: memcached cluster %s is carved for release %s: %w", ns, termshift.Quote(ns.Name), termshift.Quote(holder), termshift.ErrRefused)
	}
	if err := c.flush(ctx, ns.Name); err != nil {
		return res, fmt.Errorf("drop %s: %w", ns, err)
	}
	res.Outcome = tenancy.Dropped
	return res, nil
}

// Exists reports whether the cluster is carved for ns.Release (pool) or
// exists (ElastiCache).
func (c *Carver) Exists(ctx context.Context, ns termshift.Namespace) (bool, error) {
	if err := c.validate(ns); err != nil {
		return false, fmt.Errorf("exists: %w", err)
	}
	if c.provider == ProviderElastiCache {
		return c.ec.exists(ctx, ns)
	}
	holder, err := c.Holder(ctx, ns.Name)
	return err == nil && holder == ns.Release, err
}

// List returns the pool clusters carved for some release, or the ids of
// every memcached cluster in the ElastiCache region.
func (c *Carver) List(ctx context.Context) ([]string, error) {
	if c.provider == ProviderElastiCache {
		return c.ec.list(ctx)
	}
	var out []string
	for _, name := range c.names {
		holder, err := c.Holder(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		if holder != "" {
			out = append(out, name)
		}
	}
	return out, nil
}

// Probe sets, gets and deletes a key on the target's cluster. Memcached has
// no credentials, so cred is unused and nothing is ever refused: isolation is
// by distinct clusters, which tenancy.SeparateCluster reports.
func (c *Carver) Probe(ctx context.Context, _ termshift.Credential, target termshift.Namespace) error {
	if err := c.validate(target); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	nodes := c.clusters[target.Name]
	if c.provider == ProviderElastiCache {
		var err error
		if nodes, err = c.ec.endpoints(ctx, target); err != nil {
			return fmt.Errorf("probe %s: %w", target, err)
		}
	}
	if err := c.roundTrip(ctx, nodes); err != nil {
		return fmt.Errorf("probe %s: %w", target, err)
	}
	return nil
}
