package memcached

import (
	"context"
	"fmt"
	"strings"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
)

// Flush empties the cluster of ns, which must be carved for owner: every
// node is flushed (a sync's cold cache: entries cached from the data the
// sync replaced must not be served). A pool cluster keeps its owner marker;
// another owner's cluster is refused with a *tenancy.NotOursError and left
// as it is. ElastiCache: the nodes its API lists are flushed.
func (c *Carver) Flush(ctx context.Context, ns termshift.Namespace, owner termshift.Owner) error {
	if err := c.validate(ns); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if err := tenancy.ValidateOwner(owner); err != nil {
		return fmt.Errorf("flush %s: %w", ns, err)
	}
	var nodes []string
	if c.provider == ProviderElastiCache {
		found, exists, err := c.ec.owner(ctx, ns)
		if err != nil {
			return fmt.Errorf("flush %s: %w", ns, err)
		}
		if !exists || found != owner {
			return c.notOurs(ns, found, owner)
		}
		if nodes, err = c.ec.endpoints(ctx, ns); err != nil {
			return fmt.Errorf("flush %s: %w", ns, err)
		}
	} else {
		holder, held, err := c.Holder(ctx, ns.Name)
		if err != nil {
			return fmt.Errorf("flush %s: %w", ns, err)
		}
		if !held || holder != owner {
			return c.notOurs(ns, holder, owner)
		}
		nodes = c.clusters[ns.Name]
	}
	for _, node := range nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.client(node).FlushAll(); err != nil {
			return fmt.Errorf("flush memcached %s (cluster %s): %w", node, termshift.Quote(ns.Name), err)
		}
	}
	if c.provider == ProviderElastiCache {
		return nil
	}
	// The flush took the marker with it.
	if err := c.client(nodes...).Set(&memcache.Item{Key: MarkerKey, Value: []byte(tenancy.FormatMarker(owner))}); err != nil {
		return fmt.Errorf("flush %s: write marker to %s: %w", ns, strings.Join(nodes, ","), err)
	}
	return nil
}
