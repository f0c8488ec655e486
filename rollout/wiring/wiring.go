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
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	corev1 "k8s.io/api/core/v1"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
	bmongo "github.com/termshift/termshift/backup/mongo"
	bmysql "github.com/termshift/termshift/backup/mysql"
	brabbitmq "github.com/termshift/termshift/backup/rabbitmq"
	"github.com/termshift/termshift/follow"
	rmongo "github.com/termshift/termshift/restore/mongo"
	rmysql "github.com/termshift/termshift/restore/mysql"
	rrabbitmq "github.com/termshift/termshift/restore/rabbitmq"
	"github.com/termshift/termshift/restore/scrub"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/control"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/kube"
	"github.com/termshift/termshift/rollout/router/builtin"
	"github.com/termshift/termshift/rollout/router/elbv2"
	kuberouter "github.com/termshift/termshift/rollout/router/kubernetes"
	"github.com/termshift/termshift/rollout/router/nginx"
	"github.com/termshift/termshift/rollout/runner/external"
	kuberunner "github.com/termshift/termshift/rollout/runner/kubernetes"
	"github.com/termshift/termshift/rollout/runner/local"
	"github.com/termshift/termshift/rollout/store"
	localstore "github.com/termshift/termshift/rollout/store/local"
	s3store "github.com/termshift/termshift/rollout/store/s3"
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
func State(ctx context.Context, env *envfile.Environment) (store.Backend, error) {
	return StateFrom(ctx, env.State, env.StateDir, nil)
}

// StateFrom opens the state backend a state section describes; dir is the
// directory of a local state. `state migrate` opens its target with it.
// The key that seals credentials in a shared state is read from
// $TERMSHIFT_STATE_KEY when credentials are first used, never from the
// environment file, so that commands that do not need it run without it.
func StateFrom(ctx context.Context, c envfile.StateConfig, dir string, logger *slog.Logger) (store.Backend, error) {
	switch c.Backend {
	case "", envfile.StateLocal:
		return localstore.New(dir), nil
	case envfile.StateS3:
		return s3store.New(ctx, s3store.Config{Bucket: c.Bucket(), Prefix: c.Prefix(),
			Endpoint: c.S3.Endpoint, Region: c.S3.Region, PathStyle: c.S3.PathStyle,
			AccessKey: c.S3.AccessKey, SecretKey: termshift.Secret(c.S3.SecretKey),
			Key: func() (termshift.Secret, bool) {
				v, ok := os.LookupEnv(s3store.KeyVar)
				return termshift.Secret(v), ok
			},
			Lease: c.Lease.Duration, Logger: logger})
	}
	return nil, fmt.Errorf("unknown state backend %q: %w", c.Backend, termshift.ErrInvalid)
}

// Providers builds every provider the environment file names.
func Providers(ctx context.Context, env *envfile.Environment, logger *slog.Logger) (rollout.Providers, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st, err := StateFrom(ctx, env.State, env.StateDir, logger)
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
		// The releases share the server: the follower reads its binary log
		// and applies to it. A DSN mariadb-binlog cannot use (a socket)
		// leaves no follower: follow says so, a final sync copies all.
		if f, err := follow.New(dsn, dsn); err == nil {
			f.Logger = logger
			p.Follower = f
		}
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
	kc, err := kubeClient(env)
	if err != nil {
		return p, err
	}
	if p.Runners, err = runners(env, ctl, kc); err != nil {
		return p, err
	}
	switch env.Router.Provider {
	case "local":
		_, followed := st.(store.Watcher) // every serve follows a shared state
		p.Router = &builtin.Remote{Control: ctl, Followed: followed}
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
			Allow: env.Router.Preview.AllowPrefixes(), Stickiness: e.Stickiness.Duration}
	case "kubernetes":
		p.Router = kubeRouter(kc, env)
	default:
		return p, fmt.Errorf("unknown router provider %q: %w", env.Router.Provider, termshift.ErrInvalid)
	}
	return p, nil
}

// Runners builds each release's runner (`status` asks them how ready the
// releases are).
func Runners(env *envfile.Environment) (map[string]rollout.Runner, error) {
	kc, err := kubeClient(env)
	if err != nil {
		return nil, err
	}
	return runners(env, control.NewClient(env.StateDir), kc)
}

func runners(env *envfile.Environment, ctl *control.Client, kc *kube.Client) (map[string]rollout.Runner, error) {
	out := map[string]rollout.Runner{}
	for _, r := range env.Releases {
		switch r.Runner {
		case "local":
			out[r.Name] = &local.Runner{Release: r.Name, Port: r.Port, HealthPath: env.Verify.HealthPath, Control: ctl}
		case "external":
			out[r.Name] = &external.Runner{Release: r.Name, HealthURL: r.HealthURL}
		case "kubernetes":
			out[r.Name] = kubeRunner(kc, env, r)
		default:
			return nil, fmt.Errorf("release %s: unknown runner %q: %w", termshift.Quote(r.Name), r.Runner, termshift.ErrInvalid)
		}
	}
	return out, nil
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
	_ rollout.Runner     = (*kuberunner.Runner)(nil)
	_ rollout.Switcher   = (*kuberouter.Router)(nil)
	_ rollout.Counter    = (*tmysql.Counter)(nil)
	_ rollout.Follower   = (*follow.Follower)(nil)
	_ rollout.Counter    = (*tmongo.Counter)(nil)
	_ rollout.Scrubber   = (*scrub.MySQL)(nil)
	_ rollout.Scrubber   = (*scrub.Mongo)(nil)
	_ rollout.PoolCarver = (*tmemcached.Carver)(nil)
)

// kubeClient builds the client of the environment's cluster when a
// release or the router runs there (nil otherwise); it does not contact
// the server.
func kubeClient(env *envfile.Environment) (*kube.Client, error) {
	used := env.Router.Provider == "kubernetes"
	for _, r := range env.Releases {
		used = used || r.Runner == "kubernetes"
	}
	if !used {
		return nil, nil
	}
	cfg := kube.Config{}
	if k := env.Kubernetes; k != nil {
		cfg = kube.Config{Kubeconfig: envfile.Resolve(env.Dir, k.Kubeconfig), Context: k.Context, InCluster: k.InCluster}
		if strings.HasPrefix(k.Kubeconfig, "~/") {
			cfg.Kubeconfig = k.Kubeconfig // kube.New expands the home directory
		}
	}
	c, err := kube.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes section of %s: %w", env.Path, err)
	}
	return c, nil
}

func kubeRunner(c *kube.Client, env *envfile.Environment, r envfile.ReleaseSpec) *kuberunner.Runner {
	k := r.Kubernetes
	spec := kuberunner.Spec{Namespace: env.ReleaseNamespace(r), Image: k.Image, Command: k.Command, Args: k.Args,
		Requests: k.Resources.Requests, Limits: k.Resources.Limits, Env: k.Env, ConfigPath: k.ConfigPath, ProgressDeadline: k.ProgressDeadline.Duration}
	if k.Replicas != nil {
		spec.Replicas = *k.Replicas
	}
	for _, port := range k.Ports {
		spec.Ports = append(spec.Ports, kuberunner.Port{Name: port.Name, Port: port.Port})
	}
	return &kuberunner.Runner{Client: c, Environment: env.Name, Release: r.Name, Spec: spec, HealthPath: env.Verify.HealthPath}
}

func kubeRouter(c *kube.Client, env *envfile.Environment) *kuberouter.Router {
	k := env.Router.Kubernetes
	rt := &kuberouter.Router{Client: c, Environment: env.Name, Namespace: env.RouterNamespace(), Service: k.Service,
		ServiceType: corev1.ServiceType(k.ServiceType), Port: k.Port, Host: env.Router.Host, Previews: k.Previews,
		IngressClass: k.IngressClass, IngressAnnotations: k.IngressAnnotations, TLSSecret: k.TLSSecret}
	if g := k.Gateway; g != nil {
		rt.Gateway = kuberouter.Gateway{Name: g.Name, Namespace: g.Namespace, SectionName: g.SectionName}
	}
	return rt
}
