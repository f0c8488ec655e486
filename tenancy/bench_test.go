package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
	"github.com/termshift/termshift/tenancy/memcached"
	"github.com/termshift/termshift/tenancy/mongo"
	"github.com/termshift/termshift/tenancy/mysql"
	"github.com/termshift/termshift/tenancy/rabbitmq"
	"github.com/termshift/termshift/tenancy/tenancytest"
)

// carver is what the benchmark, like the orchestrator, needs of a service.
type carver interface {
	Carve(ctx context.Context, ns termshift.Namespace, password termshift.Secret, owner termshift.Owner) (tenancy.Result, error)
	Drop(ctx context.Context, ns termshift.Namespace, owner termshift.Owner) (tenancy.Result, error)
}

type service struct {
	svc      termshift.Service
	c        carver
	logicals []string
}

// localServices opens the carvers and picks a free memcached cluster.
func localServices(b *testing.B) ([]service, string) {
	b.Helper()
	ctx := b.Context()
	my, err := mysql.New(ctx, mysql.Config{DSN: termshift.Secret(termshift.RequireLocalSetting(b, "TERMSHIFT_MYSQL_DSN"))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { my.Close() })
	mg, err := mongo.New(ctx, mongo.Config{URI: termshift.Secret(termshift.RequireLocalSetting(b, "TERMSHIFT_MONGO_URI"))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mg.Close() })
	rb, err := rabbitmq.New(ctx, rabbitmq.Config{
		AMQPURL:            termshift.RequireLocalSetting(b, "TERMSHIFT_RABBITMQ_URL"),
		ManagementURL:      termshift.RequireLocalSetting(b, "TERMSHIFT_RABBITMQ_MANAGEMENT_URL"),
		ManagementUser:     termshift.RequireLocalSetting(b, "TERMSHIFT_RABBITMQ_MANAGEMENT_USER"),
		ManagementPassword: termshift.Secret(termshift.RequireLocalSetting(b, "TERMSHIFT_RABBITMQ_MANAGEMENT_PASSWORD")),
	})
	if err != nil {
		b.Fatal(err)
	}
	pool := map[string][]string{}
	for i, cluster := range strings.Split(termshift.RequireLocalSetting(b, "TERMSHIFT_MEMCACHED_CLUSTERS"), ";") {
		pool[fmt.Sprintf("c%d", i+1)] = strings.Split(cluster, ",")
	}
	mc, err := memcached.New(ctx, memcached.Config{Provider: memcached.ProviderPool, Clusters: pool})
	if err != nil {
		b.Fatal(err)
	}
	// Clusters carved for a developer's releases are not ours to flush.
	held, err := mc.List(ctx)
	if err != nil {
		b.Fatal(err)
	}
	cluster, err := mc.Pick(held)
	if errors.Is(err, memcached.ErrPoolExhausted) {
		b.Logf("every shared memcached cluster is carved for a release (%v): using a memcached of the benchmark's own", err)
		cluster = "own"
		mc, err = memcached.New(ctx, memcached.Config{Provider: memcached.ProviderPool, Clusters: map[string][]string{cluster: {tenancytest.StartMemcached(b)}}})
	}
	if err != nil {
		b.Fatal(err)
	}
	return []service{
		{termshift.MySQL, my, []string{"edxapp", "edxapp_csmh", "xqueue"}},
		{termshift.MongoDB, mg, []string{"modulestore", "contentstore", "forum"}},
		{termshift.RabbitMQ, rb, []string{"/celery", "xqueue"}},
		{termshift.Memcached, mc, []string{"cache"}},
	}, cluster
}

func namespaces(b *testing.B, s service, release, cluster string) []termshift.Namespace {
	var out []termshift.Namespace
	for _, l := range s.logicals {
		if s.svc == termshift.Memcached {
			out = append(out, termshift.Namespace{Service: s.svc, Logical: l, Release: release, Name: cluster})
			continue
		}
		out = append(out, tenancytest.Derive(b, s.svc, l, release))
	}
	return out
}

// each runs fn on every namespace of a release, services in parallel and
// each service's namespaces in turn, as the orchestrator does.
func each(b *testing.B, services []service, release, cluster string, fn func(carver, termshift.Namespace) error) {
	var wg sync.WaitGroup
	errs := make(chan error, len(services))
	for _, s := range services {
		nss := namespaces(b, s, release, cluster)
		wg.Go(func() {
			for _, ns := range nss {
				if err := fn(s.c, ns); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Error(err)
	}
	if b.Failed() {
		b.FailNow()
	}
}

// BenchmarkCarveDrop carves a release (3 MySQL schemas, 3 MongoDB databases,
// 2 vhosts, 1 memcached cluster) and drops it, on the local servers.
func BenchmarkCarveDrop(b *testing.B) {
	services, cluster := localServices(b)
	ctx := b.Context()
	env := tenancytest.Environment(b)
	var carveTime time.Duration
	for b.Loop() {
		release := tenancytest.Release(b)
		owner := termshift.Owner{Environment: env, Release: release}
		pw, err := tenancy.NewPassword()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			each(b, services, release, cluster, func(c carver, ns termshift.Namespace) error {
				_, err := c.Drop(context.Background(), ns, owner)
				return err
			})
		})
		start := time.Now()
		each(b, services, release, cluster, func(c carver, ns termshift.Namespace) error {
			_, err := c.Carve(ctx, ns, pw, owner)
			return err
		})
		carveTime += time.Since(start)
		each(b, services, release, cluster, func(c carver, ns termshift.Namespace) error {
			_, err := c.Drop(ctx, ns, owner)
			return err
		})
	}
	b.ReportMetric(carveTime.Seconds()/float64(b.N), "s/carve")
}
