package memcached

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/termshift/termshift"
)

// Prober tells whether a release's cluster serves it. Memcached has no
// credentials, so it never refuses anyone: isolation is by distinct
// clusters, which tenancy.SeparateCluster reports, and nothing here wraps
// termshift.ErrAccessDenied.
type Prober struct {
	c *Carver // the cluster map or the ElastiCache client; no marker is read or written
}

// NewProber prepares a prober from the same Config as New: the pool's
// clusters, or the ElastiCache region whose clusters it looks up. It makes
// no request.
func NewProber(ctx context.Context, cfg Config) (*Prober, error) {
	c, err := build(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return c.prober, nil
}

// Server names the provider for messages: "memcached pool (a, b)".
func (p *Prober) Server() string { return p.c.Server() }

// Probe sets, gets and deletes a unique key on the target's cluster. cred
// is unused. nil: the cluster serves; any error: it could not tell.
func (p *Prober) Probe(ctx context.Context, _ termshift.Credential, target termshift.Namespace) error {
	if err := p.c.validate(target); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	nodes := p.c.clusters[target.Name]
	if p.c.provider == ProviderElastiCache {
		var err error
		if nodes, err = p.c.ec.endpoints(ctx, target); err != nil {
			return fmt.Errorf("probe %s: %w", target, err)
		}
	}
	if err := p.roundTrip(ctx, nodes); err != nil {
		return fmt.Errorf("probe %s: %w", target, err)
	}
	return nil
}

// roundTrip sets, gets and deletes a unique key on the cluster.
func (p *Prober) roundTrip(ctx context.Context, nodes []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("probe key: %w", err)
	}
	key, value := "termshift:probe:"+hex.EncodeToString(b), []byte(hex.EncodeToString(b))
	mc := p.c.client(nodes...)
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
