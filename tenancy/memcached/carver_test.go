package memcached_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/google/go-cmp/cmp"
	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
	"github.com/termshift/termshift/tenancy/memcached"
	"github.com/termshift/termshift/tenancy/tenancytest"
)

// Each test runs its own memcached servers: the shared pool of `make
// services` may be carved for a developer's releases, which Carve rightly
// refuses to flush.

var (
	_ tenancytest.Carver = (*memcached.Carver)(nil)
	_ tenancytest.Prober = (*memcached.Prober)(nil)
)

// localClusters starts two clusters, c1 and c2, of one node each.
func localClusters(t *testing.T) map[string][]string {
	t.Helper()
	return map[string][]string{"c1": {tenancytest.StartMemcached(t)}, "c2": {tenancytest.StartMemcached(t)}}
}

func newProber(t *testing.T, clusters map[string][]string) *memcached.Prober {
	t.Helper()
	p, err := memcached.NewProber(t.Context(), memcached.Config{Provider: memcached.ProviderPool, Clusters: clusters})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ownerOf is a fresh owner for ns's release in an environment of its own.
func ownerOf(t *testing.T, ns termshift.Namespace) termshift.Owner {
	t.Helper()
	return termshift.Owner{Environment: tenancytest.Environment(t), Release: ns.Release}
}

func newCarver(t *testing.T, clusters map[string][]string) *memcached.Carver {
	t.Helper()
	c, err := memcached.New(t.Context(), memcached.Config{Provider: memcached.ProviderPool, Clusters: clusters})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func namespace(cluster, release string) termshift.Namespace {
	return termshift.Namespace{Service: termshift.Memcached, Logical: "cache", Release: release, Name: cluster}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	clusters := localClusters(t)
	clusters["c3"] = []string{tenancytest.StartMemcached(t)}
	c := newCarver(t, clusters)
	free := []string{"c1", "c2", "c3"}
	tenancytest.Run(t,
		func(t *testing.T) tenancytest.Carver { return c },
		func(t *testing.T) tenancytest.Prober { return newProber(t, clusters) },
		func(t *testing.T, release string) termshift.Namespace {
			cluster := free[0]
			free = free[1:]
			return namespace(cluster, release)
		},
		tenancytest.Options{
			Isolation: tenancy.SeparateCluster,
			Notes:     []string{},
			// A free cluster has no marker key: one that holds something
			// else there is not free, and names no owner.
			Unmarked: func(t *testing.T, ns termshift.Namespace) {
				mc := memcache.New(clusters[ns.Name]...)
				if err := mc.Set(&memcache.Item{Key: memcached.MarkerKey, Value: []byte("made by hand")}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { mc.Delete(memcached.MarkerKey) })
			},
			CheckIsolation: func(t *testing.T, own, sibling tenancy.Result) {
				key := "termshift:test:" + own.Namespace.Release
				a, b := memcache.New(own.Endpoints...), memcache.New(sibling.Endpoints...)
				if err := a.Set(&memcache.Item{Key: key, Value: []byte("own"), Expiration: 60}); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Get(key); !errors.Is(err, memcache.ErrCacheMiss) {
					t.Errorf("key set in %s: get from sibling %s: got %v, want a cache miss", own.Namespace.Name, sibling.Namespace.Name, err)
				}
				if _, err := a.Get(key); err != nil {
					t.Errorf("key set in %s: get from it: %v", own.Namespace.Name, err)
				}
			},
		})
}

// No entry of a former tenant survives a carve.
func TestCarveFlushes(t *testing.T) {
	t.Parallel()
	clusters := localClusters(t)
	c := newCarver(t, clusters)
	cluster := "c1"
	ns := namespace(cluster, tenancytest.Release(t))
	owner := ownerOf(t, ns)
	t.Cleanup(func() {
		if _, err := c.Drop(context.Background(), ns, owner); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	mc := memcache.New(clusters[cluster]...)
	if err := mc.Set(&memcache.Item{Key: "termshift:test:stale", Value: []byte("former tenant")}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Carve(t.Context(), ns, "", owner)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res.Endpoints, clusters[cluster]); diff != "" {
		t.Errorf("endpoints (-got +want):\n%s", diff)
	}
	if _, err := mc.Get("termshift:test:stale"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Errorf("stale key after carve: got %v, want a cache miss", err)
	}
	holder, held, err := c.Holder(t.Context(), cluster)
	if err != nil || !held || holder != owner {
		t.Errorf("holder of %s = %q, %v, %v; want %q", cluster, holder, held, err, owner)
	}
	if it, err := mc.Get(memcached.MarkerKey); err != nil || string(it.Value) != "termshift owner="+owner.String() {
		t.Errorf("marker key of %s: %v; want %q", cluster, err, "termshift owner="+owner.String())
	}
}

// A cluster carved for one release is never flushed for another, nor for
// a release of the same name in another environment.
func TestRefusesClusterHeldByAnotherRelease(t *testing.T) {
	t.Parallel()
	c := newCarver(t, localClusters(t))
	ctx := t.Context()
	cluster := "c2"
	own := namespace(cluster, tenancytest.Release(t))
	owner := ownerOf(t, own)
	t.Cleanup(func() {
		if _, err := c.Drop(context.Background(), own, owner); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if _, err := c.Carve(ctx, own, "", owner); err != nil {
		t.Fatal(err)
	}
	other := namespace(cluster, tenancytest.Release(t))
	otherOwner := termshift.Owner{Environment: owner.Environment, Release: other.Release}
	if _, err := c.Carve(ctx, other, "", otherOwner); !errors.Is(err, termshift.ErrRefused) {
		t.Errorf("carve %s for a second release: got %v, want an error wrapping %v", cluster, err, termshift.ErrRefused)
	}
	if _, err := c.Drop(ctx, other, otherOwner); !errors.Is(err, termshift.ErrRefused) {
		t.Errorf("drop %s for a second release: got %v, want an error wrapping %v", cluster, err, termshift.ErrRefused)
	}
	// Two environments on one pool, with the same release names.
	stranger := ownerOf(t, own)
	for op, err := range map[string]error{
		"carve": func() error { _, err := c.Carve(ctx, own, "", stranger); return err }(),
		"drop":  func() error { _, err := c.Drop(ctx, own, stranger); return err }(),
	} {
		var notOurs *tenancy.NotOursError
		if !errors.As(err, &notOurs) || notOurs.Found != owner || !strings.Contains(err.Error(), "belongs to "+owner.String()) {
			t.Errorf("%s %s for release %s of another environment: got %v, want a NotOursError naming %s", op, cluster, own.Release, err, owner)
		}
	}
	if ok, err := c.Exists(ctx, own); err != nil || !ok {
		t.Errorf("exists %s after the refusals = %v, %v; want true", own, ok, err)
	}
}

// A marker written before owners had environments ("release logical")
// still holds its cluster: it names a release of an unknown environment,
// which is never the caller's.
func TestLegacyMarkerHoldsCluster(t *testing.T) {
	t.Parallel()
	clusters := localClusters(t)
	c := newCarver(t, clusters)
	mc := memcache.New(clusters["c1"]...)
	if err := mc.Set(&memcache.Item{Key: memcached.MarkerKey, Value: []byte("next cache")}); err != nil {
		t.Fatal(err)
	}
	if err := mc.Set(&memcache.Item{Key: "termshift:test:data", Value: []byte("next's")}); err != nil {
		t.Fatal(err)
	}
	holder, held, err := c.Holder(t.Context(), "c1")
	if err != nil || !held || holder != (termshift.Owner{Release: "next"}) {
		t.Fatalf("holder = %q, %v, %v; want release next of an unknown environment", holder, held, err)
	}
	ns := namespace("c1", "next")
	owner := termshift.Owner{Environment: "qa", Release: "next"}
	if _, err := c.Carve(t.Context(), ns, "", owner); !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), "belongs to ?/next, not to qa/next") {
		t.Errorf("carve: got %v, want a refusal naming ?/next", err)
	}
	if _, err := c.Drop(t.Context(), ns, owner); !errors.Is(err, termshift.ErrRefused) {
		t.Errorf("drop: got %v, want a refusal", err)
	}
	if _, err := mc.Get("termshift:test:data"); err != nil {
		t.Errorf("the holder's data after the refusals: %v", err)
	}
	if names, err := c.List(t.Context()); err != nil || !slices.Contains(names, "c1") {
		t.Errorf("list = %q, %v; want c1 listed", names, err)
	}
}

func TestRefusesBadNamespaces(t *testing.T) {
	t.Parallel()
	c := newCarver(t, localClusters(t))
	tests := []tenancytest.Invalid{
		{Name: "cluster not in pool", NS: namespace("c9", "tgood")},
		{Name: "hostile cluster name", NS: namespace("c1\r\nflush_all", "tgood")},
		{Name: "bad release", NS: namespace("c1", "Bad`release")},
		{Name: "other service", NS: termshift.Namespace{Service: termshift.MySQL, Release: "tgood", Name: "c1"}},
	}
	tenancytest.RefusesInvalid(t, c, newProber(t, localClusters(t)), termshift.Credential{}, tests)
}

func TestPick(t *testing.T) {
	t.Parallel()
	c, err := memcached.New(t.Context(), memcached.Config{Provider: memcached.ProviderElastiCache, ElastiCache: memcached.ElastiCacheConfig{Region: "eu-west-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pick(nil); !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("pick on elasticache: got %v, want an error wrapping %v", err, termshift.ErrInvalid)
	}
	pool := newCarver(t, localClusters(t))
	tests := []struct {
		taken   []string
		want    string
		wantErr string
	}{
		{nil, "c1", ""},
		{[]string{"c1"}, "c2", ""},
		{[]string{"c2", "elsewhere"}, "c1", ""},
		{[]string{"c2", "c1"}, "", "all 2 memcached clusters are assigned: c1, c2"},
	}
	for _, tt := range tests {
		got, err := pool.Pick(tt.taken)
		if tt.wantErr != "" {
			if !errors.Is(err, memcached.ErrPoolExhausted) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("pick(%q): got %v, want %q wrapping ErrPoolExhausted", tt.taken, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("pick(%q) = %q, %v; want %q", tt.taken, got, err, tt.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  memcached.Config
		want string
	}{
		{"unreachable", memcached.Config{Provider: memcached.ProviderPool, Clusters: map[string][]string{"a": {"127.0.0.1:1"}}}, "127.0.0.1:1"},
		{"no clusters", memcached.Config{Provider: memcached.ProviderPool}, "no clusters"},
		{"node not host:port", memcached.Config{Provider: memcached.ProviderPool, Clusters: map[string][]string{"a": {"localhost"}}}, "not host:port"},
		{"hostile cluster name", memcached.Config{Provider: memcached.ProviderPool, Clusters: map[string][]string{"a b": {"127.0.0.1:1"}}}, "memcached cluster"},
		{"unknown provider", memcached.Config{Provider: "redis"}, "provider"},
		{"elasticache without region", memcached.Config{Provider: memcached.ProviderElastiCache}, "region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := memcached.New(t.Context(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// The shared pool of `make services` is only read: its clusters may be
// carved for a developer's releases.
func TestSharedPoolReadOnly(t *testing.T) {
	t.Parallel()
	clusters := map[string][]string{}
	for i, cluster := range strings.Split(termshift.RequireLocalSetting(t, "TERMSHIFT_MEMCACHED_CLUSTERS"), ";") {
		clusters[string(rune('a'+i))] = strings.Split(cluster, ",")
	}
	c := newCarver(t, clusters)
	names, err := c.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		holder, held, err := c.Holder(t.Context(), name)
		if err != nil || !held || holder.Release == "" {
			t.Errorf("listed cluster %s: holder %q, %v, %v; want a release", name, holder, held, err)
		}
	}
}
