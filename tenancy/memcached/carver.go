// Package memcached gives each release its own memcached cluster. Memcached
// has no users: isolation is by distinct clusters, so Carve never hands two
// releases the same cluster and flushes a cluster before a new release gets
// it, so no entry of a former tenant survives.
//
// Two providers: a pool of running clusters (the caller assigns one to a
// release and passes its name as the namespace's Name; Pick suggests a free
// one), or ElastiCache, where Carve creates a cluster per release.
//
// In a pool, a marker key in the cluster records which environment's release
// holds it; Exists, List and Drop read it, and Carve and Drop refuse a
// cluster another owner holds. A pool cluster without the marker key is
// free: memcached may evict the marker under memory pressure, so the
// caller's state stays the authority on assignments. ElastiCache clusters
// carry their owner in tags.
package memcached

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
)

// MarkerKey holds the owner marker of a pool cluster,
// "termshift owner=qa/next" (tenancy.FormatMarker). Markers written before
// owners had environments hold "release logical"; they read as an owner
// whose environment is unknown, which is never the caller's.
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
	prober   *Prober
}

// New prepares a carver. For a pool it checks that every node answers; for
// ElastiCache it builds the client and makes no request.
func New(ctx context.Context, cfg Config) (*Carver, error) {
	c, err := build(ctx, cfg)
	if err != nil {
		return nil, err
	}
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
	return c, nil
}

// build prepares a carver without a request to any server.
func build(ctx context.Context, cfg Config) (*Carver, error) {
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
	case ProviderElastiCache:
		ec, err := newElastiCache(ctx, cfg.ElastiCache)
		if err != nil {
			return nil, err
		}
		c.ec = ec
	}
	c.prober = &Prober{c: c}
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

// Holder reads the owner marker of a pool cluster: held is false when the
// cluster has no marker (it is free); a zero owner with held true means the
// marker key holds something that names no owner.
func (c *Carver) Holder(ctx context.Context, cluster string) (owner termshift.Owner, held bool, err error) {
	if c.provider != ProviderPool {
		return termshift.Owner{}, false, fmt.Errorf("memcached holder: provider %s has no pool: %w", c.provider, termshift.ErrInvalid)
	}
	nodes, ok := c.clusters[cluster]
	if !ok {
		return termshift.Owner{}, false, &termshift.NameError{What: "memcached cluster", Name: cluster, Rule: "is not in the pool (" + strings.Join(c.names, ", ") + ")"}
	}
	if err := ctx.Err(); err != nil {
		return termshift.Owner{}, false, err
	}
	it, err := c.client(nodes...).Get(MarkerKey)
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		return termshift.Owner{}, false, nil
	case err != nil:
		return termshift.Owner{}, false, fmt.Errorf("read marker of memcached cluster %s (%s): %w", termshift.Quote(cluster), strings.Join(nodes, ","), err)
	}
	return parseMarker(string(it.Value)), true, nil
}

// parseMarker reads a marker value: tenancy.FormatMarker's, or the older
// "release logical", whose environment is unknown.
func parseMarker(v string) termshift.Owner {
	if o, ok := tenancy.ParseMarker(v); ok {
		return o
	}
	f := strings.Split(v, " ")
	if len(f) == 2 && termshift.ValidateRelease(f[0]) == nil && termshift.ValidateLogical(f[1]) == nil {
		return termshift.Owner{Release: f[0]}
	}
	return termshift.Owner{}
}

func (c *Carver) result(ns termshift.Namespace, outcome tenancy.Outcome, endpoints []string) tenancy.Result {
	return tenancy.Result{Namespace: ns, Outcome: outcome, Isolation: tenancy.SeparateCluster, Endpoints: endpoints}
}

func (c *Carver) notOurs(ns termshift.Namespace, found, want termshift.Owner) error {
	return &tenancy.NotOursError{Namespace: ns, Server: c.Server(), Found: found, Want: want}
}

// Carve readies the release's cluster. Pool: claim a free cluster with
// owner's marker, flush every node, prove the cluster stores and serves a
// key, and mark it again; a cluster already marked for owner is left alone
// (tenancy.Exists); one marked for another owner, or whose marker key names
// none, is refused with a *tenancy.NotOursError and nothing is changed.
// ElastiCache: create the cluster tagged with owner and wait until it is
// available; an existing cluster tagged for another owner, or untagged, is
// refused. The password is unused: memcached has no users.
func (c *Carver) Carve(ctx context.Context, ns termshift.Namespace, _ termshift.Secret, owner termshift.Owner) (tenancy.Result, error) {
	res := c.result(ns, "", nil)
	if err := c.validate(ns); err != nil {
		return res, fmt.Errorf("carve: %w", err)
	}
	if err := tenancy.ValidateOwner(owner); err != nil {
		return res, fmt.Errorf("carve %s: %w", ns, err)
	}
	if c.provider == ProviderElastiCache {
		return c.ec.carve(ctx, ns, owner, c.Server())
	}
	nodes := c.clusters[ns.Name]
	res.Endpoints = slices.Clone(nodes)
	holder, held, err := c.Holder(ctx, ns.Name)
	if err != nil {
		return res, fmt.Errorf("carve %s: %w", ns, err)
	}
	marker := []byte(tenancy.FormatMarker(owner))
	if !held {
		// Claim the cluster atomically before flushing it: of two carvers
		// racing for a free cluster, one gets it and the other is refused.
		err := c.client(nodes...).Add(&memcache.Item{Key: MarkerKey, Value: marker})
		switch {
		case errors.Is(err, memcache.ErrNotStored):
			if holder, _, err = c.Holder(ctx, ns.Name); err != nil {
				return res, fmt.Errorf("carve %s: %w", ns, err)
			}
		case err != nil:
			return res, fmt.Errorf("carve %s: claim cluster %s: %w", ns, strings.Join(nodes, ","), err)
		default:
			holder = owner
			res.Outcome = tenancy.Created
		}
	}
	if holder != owner {
		return res, c.notOurs(ns, holder, owner)
	}
	if res.Outcome != tenancy.Created {
		res.Outcome = tenancy.Exists
		return res, nil
	}
	if err := c.flush(ctx, ns.Name); err != nil {
		return res, fmt.Errorf("carve %s: %w", ns, err)
	}
	if err := c.prober.roundTrip(ctx, nodes); err != nil {
		return res, fmt.Errorf("carve %s: %w", ns, err)
	}
	// The flush took the claim with it.
	if err := c.client(nodes...).Set(&memcache.Item{Key: MarkerKey, Value: marker}); err != nil {
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

// Drop releases the cluster, only when its owner is owner; another owner's
// cluster, or one whose marker names none, is refused with a
// *tenancy.NotOursError. Pool: flush it (the caller clears the assignment);
// tenancy.Absent when it has no marker. ElastiCache: delete the cluster.
func (c *Carver) Drop(ctx context.Context, ns termshift.Namespace, owner termshift.Owner) (tenancy.Result, error) {
	res := c.result(ns, tenancy.Absent, nil)
	if err := c.validate(ns); err != nil {
		return res, fmt.Errorf("drop: %w", err)
	}
	if err := tenancy.ValidateOwner(owner); err != nil {
		return res, fmt.Errorf("drop %s: %w", ns, err)
	}
	if c.provider == ProviderElastiCache {
		return c.ec.drop(ctx, ns, owner, c.Server())
	}
	holder, held, err := c.Holder(ctx, ns.Name)
	if err != nil {
		return res, fmt.Errorf("drop %s: %w", ns, err)
	}
	if !held {
		return res, nil
	}
	if holder != owner {
		return res, c.notOurs(ns, holder, owner)
	}
	if err := c.flush(ctx, ns.Name); err != nil {
		return res, fmt.Errorf("drop %s: %w", ns, err)
	}
	res.Outcome = tenancy.Dropped
	return res, nil
}

// Owner reads the cluster's owner: the pool's marker key (exists is false
// when the cluster is free), or the ElastiCache cluster's tags (exists is
// false when there is no such cluster). A zero owner with exists true means
// the cluster names no owner.
func (c *Carver) Owner(ctx context.Context, ns termshift.Namespace) (termshift.Owner, bool, error) {
	if err := c.validate(ns); err != nil {
		return termshift.Owner{}, false, fmt.Errorf("owner: %w", err)
	}
	if c.provider == ProviderElastiCache {
		return c.ec.owner(ctx, ns)
	}
	return c.Holder(ctx, ns.Name)
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
	holder, held, err := c.Holder(ctx, ns.Name)
	return err == nil && held && holder.Release == ns.Release, err
}

// List returns the pool clusters that hold a marker, or the ids of every
// memcached cluster in the ElastiCache region.
func (c *Carver) List(ctx context.Context) ([]string, error) {
	if c.provider == ProviderElastiCache {
		return c.ec.list(ctx)
	}
	var out []string
	for _, name := range c.names {
		_, held, err := c.Holder(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		if held {
			out = append(out, name)
		}
	}
	return out, nil
}
