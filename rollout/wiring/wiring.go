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
	"github.com/termshift/termshift/restore"
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
		State:     st,
		Carver:    carvers(env),
		Loaders:   map[termshift.Service]rollout.Loader{},
		Scrubbers: map[termshift.Service]rollout.Scrubber{},
		Counters:  map[termshift.Service]rollout.Counter{},
		Runners:   map[string]rollout.Runner{},
	}
	// Scrub reports every skip; the log gets them only when debugging.
	scrubLog := slog.New(slog.DiscardHandler)
	if logger.Enabled(ctx, slog.LevelDebug) {
		scrubLog = logger
	}
	s := env.Servers
	if s.MySQL != nil {
		dsn := termshift.Secret(s.MySQL.DSN)
		p.Loaders[termshift.MySQL] = &MySQLLoader{DSN: dsn, Logger: logger}
		p.Scrubbers[termshift.MySQL] = &scrub.MySQL{DSN: dsn, Logger: scrubLog}
		p.Counters[termshift.MySQL] = &tmysql.Counter{DSN: dsn}
	}
	if s.Mongo != nil {
		uri := termshift.Secret(s.Mongo.URI)
		p.Loaders[termshift.MongoDB] = &MongoLoader{URI: uri, Logger: logger}
		p.Scrubbers[termshift.MongoDB] = &scrub.Mongo{URI: uri, Logger: scrubLog}
		p.Counters[termshift.MongoDB] = &tmongo.Counter{URI: uri}
	}
	if s.RabbitMQ != nil {
		p.Loaders[termshift.RabbitMQ] = &RabbitMQLoader{ManagementURL: s.RabbitMQ.ManagementURL, User: s.RabbitMQ.ManagementUser,
			Password: termshift.Secret(s.RabbitMQ.ManagementPassword), Logger: logger}
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
		p.Router = &nginx.Nginx{IncludeFile: envfile.Resolve(env.Dir, n.IncludeFile), ReloadCmd: n.Reload, ConfigTestCmd: n.Test,
			Allow: env.Router.Preview.AllowPrefixes(), TrustedProxies: env.Router.Preview.TrustedPrefixes()}
	case "elbv2":
		e := env.Router.ELBv2
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(e.Region))
		if err != nil {
			return p, fmt.Errorf("aws config for router.elbv2: %w", err)
		}
		p.Router = &elbv2.ELBv2{Client: elasticloadbalancingv2.NewFromConfig(cfg), ListenerARN: e.ListenerARN, TargetGroups: e.TargetGroups,
			Allow: env.Router.Preview.AllowPrefixes()}
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
func Loader(svc termshift.Service, admin termshift.Secret, mgmtUser string, mgmtPassword termshift.Secret, logger *slog.Logger) (rollout.Loader, error) {
	switch svc {
	case termshift.MySQL:
		return &MySQLLoader{DSN: admin, Logger: logger}, nil
	case termshift.MongoDB:
		return &MongoLoader{URI: admin, Logger: logger}, nil
	case termshift.RabbitMQ:
		return &RabbitMQLoader{ManagementURL: admin.Reveal(), User: mgmtUser, Password: mgmtPassword, Logger: logger}, nil
	}
	return nil, fmt.Errorf("restore: unsupported service %q: %w", svc, termshift.ErrInvalid)
}

// MySQLLoader restores mydumper and mysqldump backups.
type MySQLLoader struct {
	DSN    termshift.Secret
	Logger *slog.Logger
}

// Load restores one schema.
func (l *MySQLLoader) Load(ctx context.Context, src restore.Source, path string, req rollout.LoadRequest) (*restore.Report, error) {
	return rmysql.Restore(ctx, src, path, rmysql.Options{DSN: l.DSN, From: req.From, To: req.To, Threads: req.Threads,
		DropExisting: req.DropExisting, Resume: req.Resume, Checkpoint: req.Checkpoint, Progress: req.Progress})
}

// MongoLoader restores mongodump directories and archives.
type MongoLoader struct {
	URI    termshift.Secret
	Logger *slog.Logger
}

// Load restores one database.
func (l *MongoLoader) Load(ctx context.Context, src restore.Source, path string, req rollout.LoadRequest) (*restore.Report, error) {
	return rmongo.Restore(ctx, src, path, rmongo.Options{URI: l.URI, From: req.From, To: req.To, Threads: req.Threads,
		DropExisting: req.DropExisting, Progress: req.Progress})
}

// RabbitMQLoader restores RabbitMQ definitions into a vhost.
type RabbitMQLoader struct {
	ManagementURL, User string
	Password            termshift.Secret
	Logger              *slog.Logger
}

// Load restores one vhost's definitions.
func (l *RabbitMQLoader) Load(ctx context.Context, src restore.Source, path string, req rollout.LoadRequest) (*restore.Report, error) {
	return rrabbitmq.Restore(ctx, src, path, rrabbitmq.Options{ManagementURL: l.ManagementURL, User: l.User, Password: l.Password,
		FromVhost: req.From, ToVhost: req.To, Progress: req.Progress})
}

var (
	_ rollout.Loader     = (*MySQLLoader)(nil)
	_ rollout.Loader     = (*MongoLoader)(nil)
	_ rollout.Loader     = (*RabbitMQLoader)(nil)
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
