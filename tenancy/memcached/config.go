package memcached

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/termshift/termshift"
)

// Providers of memcached clusters.
const (
	// ProviderPool: a fixed set of running clusters, one per release at a time.
	ProviderPool = "pool"
	// ProviderElastiCache: one ElastiCache memcached cluster created per release.
	ProviderElastiCache = "elasticache"
)

// Config tells a Carver where its clusters come from.
type Config struct {
	// Provider is ProviderPool or ProviderElastiCache.
	Provider string
	// Clusters is the pool: cluster name -> its nodes' host:port.
	Clusters map[string][]string
	// ElastiCache configures ProviderElastiCache.
	ElastiCache ElastiCacheConfig
	// Timeout bounds each memcached request; default 2s.
	Timeout time.Duration
}

// ElastiCacheConfig configures the clusters CreateCacheCluster makes.
type ElastiCacheConfig struct {
	Region           string
	NodeType         string // default cache.t3.micro
	NumNodes         int32  // default 1
	SecurityGroupIDs []string
	SubnetGroup      string
	EngineVersion    string // empty: the service's default
	// ClientOptions are applied to the ElastiCache client (tests use them to
	// capture requests).
	ClientOptions []func(*elasticache.Options)
	// WaitTimeout bounds the wait for a new cluster to become available;
	// default 20 minutes.
	WaitTimeout time.Duration
}

// Defaults of ElastiCacheConfig.
const (
	DefaultNodeType    = "cache.t3.micro"
	DefaultNumNodes    = 1
	DefaultWaitTimeout = 20 * time.Minute
	defaultTimeout     = 2 * time.Second
)

var clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return defaultTimeout
}

func (c Config) validate() error {
	switch c.Provider {
	case ProviderPool:
		if len(c.Clusters) == 0 {
			return fmt.Errorf("memcached config: pool has no clusters: %w", termshift.ErrInvalid)
		}
		for _, name := range sortedNames(c.Clusters) {
			if !clusterNameRE.MatchString(name) {
				return &termshift.NameError{What: "memcached cluster", Name: name, Rule: "must be 1-64 letters, digits, '_' or '-'"}
			}
			if len(c.Clusters[name]) == 0 {
				return fmt.Errorf("memcached config: cluster %s has no nodes: %w", termshift.Quote(name), termshift.ErrInvalid)
			}
			for _, hp := range c.Clusters[name] {
				if _, _, err := net.SplitHostPort(hp); err != nil {
					return fmt.Errorf("memcached config: cluster %s: node %s is not host:port: %w", termshift.Quote(name), termshift.Quote(hp), termshift.ErrInvalid)
				}
			}
		}
	case ProviderElastiCache:
		if c.ElastiCache.Region == "" {
			return fmt.Errorf("memcached config: elasticache needs a region: %w", termshift.ErrInvalid)
		}
		if c.ElastiCache.NumNodes < 0 {
			return fmt.Errorf("memcached config: elasticache node count %d: %w", c.ElastiCache.NumNodes, termshift.ErrInvalid)
		}
	default:
		return fmt.Errorf("memcached config: provider %s (want %q or %q): %w", termshift.Quote(c.Provider), ProviderPool, ProviderElastiCache, termshift.ErrInvalid)
	}
	return nil
}

func sortedNames(m map[string][]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
