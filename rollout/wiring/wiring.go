// Package wiring is the one place that turns an environment file into
// concrete providers: the state backend, each service's carver, loader,
// scrubber and counter, each release's runner, and the router. The
// orchestrator's steps never switch on provider names; this package does,
// once.
package wiring

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
	bmongo "github.com/termshift/termshift/backup/mongo"
	bmysql "github.com/termshift/termshift/backup/mysql"
	brabbitmq "github.com/termshift/termshift/backup/rabbitmq"
	rmongo "github.com/termshift/termshift/restore/mongo"
	rmysql "github.com/termshift/termshift/restore/mysql"
	rrabbitmq "github.com/termshift/termshift/restore/rabbitmq"
	"github.com/termshift/termshift/restore/scrub"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/control"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/router/builtin"
	"github.com/termshift/termshift/rollout/router/elbv2"
	"github.com/termshift/termshift/rollout/router/nginx"
	"github.com/termshift/termshift/rollout/runner/external"
	"github.com/termshift/termshift/rollout/runner/local"
	"github.com/termshift/termshift/rollout/store"
	localstore "github.com/termshift/termshift/rollout/store/local"
	tmemcached "github.com/termshift/termshift/tenancy/memcached"
	tmongo "github.com/termshift/termshift/tenancy/mongo"
	tmysql "github.com/termshift/termshift/tenancy/mysql"
	trabbitmq "github.com/termshift/termshift/tenancy/rabbitmq"
	"github.com/termshift/termshift/verify"
)

// Orchestrator builds an orchestrator for env with its concrete providers.
func Orchestrator(ctx context.Context, env *envfile.Environment, logger *slog.Logger, out io.Writer, command string) (*rollout.Orchestrator, error) {
	p, err := Providers(ctx, env, logger)
	if err != nil {
		return nil, err
	}
	return rollout.New(env, p, logger, out, command), nil
}

// State opens the environment's state backend.
func State(_ context.Context, env *envfile.Environment) (store.Backend, error) {
	return localstore.New(env.StateDir), nil
}

// Providers builds every provider the environment file names.
func Providers(ctx context.Context, env *envfile.Environment, logger *slog.Logger) (rollout.Providers, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st, err := State(ctx, env)
	if err != nil {
		return rollout.Providers{}, err
	}
	p := rollout.Providers{
		State:        st,
		Carver:       carvers(env),
		Loaders:      map[termshift.Service]rollout.Loader{},
		Snapshotters: map[termshift.Service]rollout.Snapshotter{},
		Scrubbers:    map[termshift.Service]rollout.Scrubber{},
		Counters:     map[termshift.Service]rollout.Counter{},
		Probers:      map[termshift.Service]verify.Prober{},
		Runners:      map[string]rollout.Runner{},
	}
	// Scrub reports every skip; the log gets them only when debugging.
	scrubLog := slog.New(slog.DiscardHandler)
	if logger.Enabled(ctx, slog.LevelDebug) {
		scrubLog = logger
	}
	s := env.Servers
	if s.MySQL != nil {
		dsn := termshift.Secret(s.MySQL.DSN)
		p.Loaders[termshift.MySQL] = &rmysql.Loader{DSN: dsn}
		p.Snapshotters[termshift.MySQL] = Snapshotter(termshift.MySQL, dsn, "", "")
		p.Scrubbers[termshift.MySQL] = &scrub.MySQL{DSN: dsn, Logger: scrubLog}
		p.Counters[termshift.MySQL] = &tmysql.Counter{DSN: dsn}
		pr, err := tmysql.NewProber(tmysql.Config{DSN: dsn})
		if err != nil {
			return p, err
		}
		p.Probers[termshift.MySQL] = pr
	}
	if s.Mongo != nil {
		uri := termshift.Secret(s.Mongo.URI)
		p.Loaders[termshift.MongoDB] = &rmongo.Loader{URI: uri}
		p.Snapshotters[termshift.MongoDB] = Snapshotter(termshift.MongoDB, uri, "", "")
		p.Scrubbers[termshift.MongoDB] = &scrub.Mongo{URI: uri, Logger: scrubLog}
		p.Counters[termshift.MongoDB] = &tmongo.Counter{URI: uri}
		pr, err := tmongo.NewProber(tmongo.Config{URI: uri})
		if err != nil {
			return p, err
		}
		p.Probers[termshift.MongoDB] = pr
	}
	if s.RabbitMQ != nil {
		p.Loaders[termshift.RabbitMQ] = &rrabbitmq.Loader{ManagementURL: s.RabbitMQ.ManagementURL, User: s.RabbitMQ.ManagementUser,
			Password: termshift.Secret(s.RabbitMQ.ManagementPassword)}
		p.Snapshotters[termshift.RabbitMQ] = Snapshotter(termshift.RabbitMQ, termshift.Secret(s.RabbitMQ.ManagementURL), s.RabbitMQ.ManagementUser,
			termshift.Secret(s.RabbitMQ.ManagementPassword))
		pr, err := trabbitmq.NewProber(trabbitmq.Config{AMQPURL: s.RabbitMQ.URL, ManagementUser: s.RabbitMQ.ManagementUser})
		if err != nil {
			return p, err
		}
		p.Probers[termshift.RabbitMQ] = pr
	}
	if m := s.Memcached; m != nil && m.Provider == tmemcached.ProviderPool {
		p.Pool = slices.Sorted(maps.Keys(m.Clusters))
	}
	ctl := control.NewClient(env.StateDir)
	for _, r := range env.Releases {
		switch r.Runner {
		case "local":
			p.Runners[r.Name] = &local.Runner{Release: r.Name, Port: r.Port, HealthPath: env.Verify.HealthPath, Control: ctl}
		case "external":
			p.Runners[r.Name] = &external.Runner{Release: r.Name, HealthURL: r.HealthURL}
		default:
			return p, fmt.Errorf("release %s: unknown runner %q: %w", termshift.Quote(r.Name), r.Runner, termshift.ErrInvalid)
		}
	}
	switch env.Router.Provider {
	case "local":
		p.Router = &builtin.Remote{Control: ctl}
	case "nginx":
		n := env.Router.Nginx
		p.Router = &nginx.Nginx{IncludeFile: envfile.Resolve(env.Dir, n.IncludeFile), ReloadCmd: n.Reload, ConfigTestCmd: n.Test}
	case "elbv2":
		e := env.Router.ELBv2
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(e.Region))
		if err != nil {
			return p, fmt.Errorf("aws config for router.elbv2: %w", err)
		}
		p.Router = &elbv2.ELBv2{Client: elasticloadbalancingv2.NewFromConfig(cfg), ListenerARN: e.ListenerARN, TargetGroups: e.TargetGroups}
	default:
		return p, fmt.Errorf("unknown router provider %q: %w", env.Router.Provider, termshift.ErrInvalid)
	}
	return p, nil
}

// carvers opens a service's carver with the environment's admin access.
func carvers(env *envfile.Environment) func(ctx context.Context, svc termshift.Service) (rollout.Carver, error) {
	s := env.Servers
	return func(ctx context.Context, svc termshift.Service) (rollout.Carver, error) {
		missing := fmt.Errorf("servers.%s is not configured in %s, but a release has %s namespaces: %w", svc, env.Path, svc, termshift.ErrInvalid)
		switch svc {
		case termshift.MySQL:
			if s.MySQL == nil {
				return nil, missing
			}
			return tmysql.New(ctx, tmysql.Config{DSN: termshift.Secret(s.MySQL.DSN), UserHost: s.MySQL.UserHost})
		case termshift.MongoDB:
			if s.Mongo == nil {
				return nil, missing
			}
			return tmongo.New(ctx, tmongo.Config{URI: termshift.Secret(s.Mongo.URI)})
		case termshift.RabbitMQ:
			if s.RabbitMQ == nil {
				return nil, missing
			}
			return trabbitmq.New(ctx, trabbitmq.Config{AMQPURL: s.RabbitMQ.URL, ManagementURL: s.RabbitMQ.ManagementURL,
				ManagementUser: s.RabbitMQ.ManagementUser, ManagementPassword: termshift.Secret(s.RabbitMQ.ManagementPassword)})
		case termshift.Memcached:
			m := s.Memcached
			if m == nil {
				return nil, missing
			}
			cfg := tmemcached.Config{Provider: m.Provider, Clusters: m.Clusters}
			if m.ElastiCache != nil {
				cfg.ElastiCache = tmemcached.ElastiCacheConfig{Region: m.ElastiCache.Region, NodeType: m.ElastiCache.NodeType,
					NumNodes: m.ElastiCache.NumNodes, SubnetGroup: m.ElastiCache.SubnetGroup}
			}
			return tmemcached.New(ctx, cfg)
		}
		return nil, fmt.Errorf("no carver for service %q: %w", svc, termshift.ErrInvalid)
	}
}

// Loader builds the loader of one service from admin access given on the
// command line (the standalone `restore mysql|mongo|rabbitmq`).
func Loader(svc termshift.Service, admin termshift.Secret, mgmtUser string, mgmtPassword termshift.Secret) (rollout.Loader, error) {
	switch svc {
	case termshift.MySQL:
		return &rmysql.Loader{DSN: admin}, nil
	case termshift.MongoDB:
		return &rmongo.Loader{URI: admin}, nil
	case termshift.RabbitMQ:
		return &rrabbitmq.Loader{ManagementURL: admin.Reveal(), User: mgmtUser, Password: mgmtPassword}, nil
	}
	return nil, fmt.Errorf("restore: unsupported service %q: %w", svc, termshift.ErrInvalid)
}

// Snapshotter builds the snapshotter of one service from admin access:
// the MySQL DSN, the MongoDB URI, or the RabbitMQ management URL with its
// user and password (the standalone `backup mysql|mongo|rabbitmq`, and
// each service of an environment).
func Snapshotter(svc termshift.Service, admin termshift.Secret, mgmtUser string, mgmtPassword termshift.Secret) rollout.Snapshotter {
	switch svc {
	case termshift.MySQL:
		d := &bmysql.Dumper{DSN: admin}
		return func(ctx context.Context, req backup.Request) (backup.Snapshot, error) { return d.Snapshot(ctx, req) }
	case termshift.MongoDB:
		d := &bmongo.Dumper{URI: admin}
		return func(ctx context.Context, req backup.Request) (backup.Snapshot, error) { return d.Snapshot(ctx, req) }
	case termshift.RabbitMQ:
		d := &brabbitmq.Dumper{ManagementURL: admin.Reveal(), User: mgmtUser, Password: mgmtPassword}
		return func(ctx context.Context, req backup.Request) (backup.Snapshot, error) { return d.Snapshot(ctx, req) }
	}
	return func(context.Context, backup.Request) (backup.Snapshot, error) {
		return nil, fmt.Errorf("backup: unsupported service %q: %w", svc, termshift.ErrInvalid)
	}
}

var (
	_ backup.Snapshot    = (*bmysql.Snapshot)(nil)
	_ backup.Snapshot    = (*bmongo.Snapshot)(nil)
	_ backup.Snapshot    = (*brabbitmq.Snapshot)(nil)
	_ rollout.Loader     = (*rmysql.Loader)(nil)
	_ rollout.Loader     = (*rmongo.Loader)(nil)
	_ rollout.Loader     = (*rrabbitmq.Loader)(nil)
	_ rollout.Runner     = (*local.Runner)(nil)
	_ rollout.Runner     = (*external.Runner)(nil)
	_ rollout.Switcher   = (*builtin.Remote)(nil)
	_ rollout.Switcher   = (*nginx.Nginx)(nil)
	_ rollout.Switcher   = (*elbv2.ELBv2)(nil)
	_ rollout.Counter    = (*tmysql.Counter)(nil)
	_ rollout.Counter    = (*tmongo.Counter)(nil)
	_ rollout.Scrubber   = (*scrub.MySQL)(nil)
	_ rollout.Scrubber   = (*scrub.Mongo)(nil)
	_ rollout.PoolCarver = (*tmemcached.Carver)(nil)
)
