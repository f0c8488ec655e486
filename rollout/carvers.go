package rollout

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
	tmemcached "github.com/termshift/termshift/tenancy/memcached"
	tmongo "github.com/termshift/termshift/tenancy/mongo"
	tmysql "github.com/termshift/termshift/tenancy/mysql"
	trabbitmq "github.com/termshift/termshift/tenancy/rabbitmq"
	"github.com/termshift/termshift/verify"
)

// carver is what rollout needs of one service's tenancy carver.
type carver interface {
	Server() string
	Carve(ctx context.Context, ns termshift.Namespace, password termshift.Secret, owner termshift.Owner) (tenancy.Result, error)
	Drop(ctx context.Context, ns termshift.Namespace, owner termshift.Owner) (tenancy.Result, error)
	Exists(ctx context.Context, ns termshift.Namespace) (bool, error)
	List(ctx context.Context) ([]string, error)
	Close() error
}

// owner is who release's namespaces belong to on the servers.
func (o *Orchestrator) owner(release string) termshift.Owner {
	return termshift.Owner{Environment: o.Env.Name, Release: release}
}

// openCarver connects to the service's server with the admin credentials.
func (o *Orchestrator) openCarver(ctx context.Context, svc termshift.Service) (carver, error) {
	s := o.Env.Servers
	if (svc == termshift.MySQL && s.MySQL == nil) || (svc == termshift.MongoDB && s.Mongo == nil) ||
		(svc == termshift.RabbitMQ && s.RabbitMQ == nil) || (svc == termshift.Memcached && s.Memcached == nil) {
		return nil, fmt.Errorf("servers.%s is not configured in %s, but a release has %s namespaces: %w", svc, o.Env.Path, svc, termshift.ErrInvalid)
	}
	switch svc {
	case termshift.MySQL:
		return tmysql.New(ctx, tmysql.Config{DSN: termshift.Secret(s.MySQL.DSN), UserHost: s.MySQL.UserHost})
	case termshift.MongoDB:
		return tmongo.New(ctx, tmongo.Config{URI: termshift.Secret(s.Mongo.URI)})
	case termshift.RabbitMQ:
		return trabbitmq.New(ctx, trabbitmq.Config{AMQPURL: s.RabbitMQ.URL, ManagementURL: s.RabbitMQ.ManagementURL,
			ManagementUser: s.RabbitMQ.ManagementUser, ManagementPassword: termshift.Secret(s.RabbitMQ.ManagementPassword)})
	case termshift.Memcached:
		return o.openMemcached(ctx)
	}
	return nil, fmt.Errorf("no carver for service %q", svc)
}

// probers builds verify's probers for the services the environment has
// servers for; none of them holds an administrator's credential.
func (o *Orchestrator) probers() (map[termshift.Service]verify.Prober, error) {
	s := o.Env.Servers
	out := map[termshift.Service]verify.Prober{}
	if s.MySQL != nil {
		p, err := tmysql.NewProber(tmysql.Config{DSN: termshift.Secret(s.MySQL.DSN)})
		if err != nil {
			return nil, err
		}
		out[termshift.MySQL] = p
	}
	if s.Mongo != nil {
		p, err := tmongo.NewProber(tmongo.Config{URI: termshift.Secret(s.Mongo.URI)})
		if err != nil {
			return nil, err
		}
		out[termshift.MongoDB] = p
	}
	if s.RabbitMQ != nil {
		p, err := trabbitmq.NewProber(trabbitmq.Config{AMQPURL: s.RabbitMQ.URL, ManagementUser: s.RabbitMQ.ManagementUser})
		if err != nil {
			return nil, err
		}
		out[termshift.RabbitMQ] = p
	}
	return out, nil
}

func (o *Orchestrator) openMemcached(ctx context.Context) (*tmemcached.Carver, error) {
	m := o.Env.Servers.Memcached
	cfg := tmemcached.Config{Provider: m.Provider, Clusters: m.Clusters}
	if m.ElastiCache != nil {
		cfg.ElastiCache = tmemcached.ElastiCacheConfig{Region: m.ElastiCache.Region, NodeType: m.ElastiCache.NodeType,
			NumNodes: m.ElastiCache.NumNodes, SubnetGroup: m.ElastiCache.SubnetGroup}
	}
	return tmemcached.New(ctx, cfg)
}

// logicalDBs lists the environment's logical databases of a service.
func (o *Orchestrator) logicalDBs(svc termshift.Service) []LogicalDB {
	d := o.Env.Databases
	switch svc {
	case termshift.MySQL:
		return d.MySQL
	case termshift.MongoDB:
		return d.Mongo
	case termshift.RabbitMQ:
		return d.RabbitMQ
	case termshift.Memcached:
		return d.Memcached
	}
	return nil
}

// plannedNamespaces derives every namespace of release. Memcached pool
// clusters come from state (an existing assignment) or are picked from the
// clusters no other release holds.
func (o *Orchestrator) plannedNamespaces(ctx context.Context, s *State, release string) ([]termshift.Namespace, error) {
	var out []termshift.Namespace
	for _, svc := range termshift.Services() {
		for _, db := range o.logicalDBs(svc) {
			ns, err := termshift.DeriveNamespace(svc, o.Env.Naming, db.Name, release)
			if err != nil {
				return nil, err
			}
			if svc == termshift.Memcached {
				name, err := o.memcachedName(ctx, s, release, db.Name, ns.Name)
				if err != nil {
					return nil, err
				}
				ns.Name = name
			}
			out = append(out, ns)
		}
	}
	return out, nil
}

func (o *Orchestrator) memcachedName(ctx context.Context, s *State, release, logical, derived string) (string, error) {
	if r := s.Releases[release]; r != nil {
		if ns := r.Namespace(termshift.Memcached, logical); ns != nil {
			return ns.Name, nil
		}
	}
	m := o.Env.Servers.Memcached
	if m.Provider == "elasticache" {
		return termshift.ElastiCacheID(derived)
	}
	taken := map[string]string{}
	for _, name := range s.Names() {
		if name == release {
			continue
		}
		for _, ns := range s.Releases[name].Namespaces {
			if ns.Service == termshift.Memcached {
				taken[ns.Name] = name
			}
		}
	}
	var names []string
	for c := range m.Clusters {
		names = append(names, c)
	}
	sort.Strings(names)
	// A cluster no release in state holds may still carry another
	// environment's owner marker: skip it rather than fail the carve.
	mc, err := o.openMemcached(ctx)
	if err != nil {
		return "", err
	}
	defer mc.Close()
	for _, c := range names {
		if _, ok := taken[c]; ok {
			continue
		}
		holder, held, err := mc.Holder(ctx, c)
		if err != nil {
			return "", err
		}
		if !held || holder == o.owner(release) {
			return c, nil
		}
		taken[c] = holder.String() + ", by its owner marker"
	}
	var holders []string
	for _, c := range names {
		holders = append(holders, c+" ("+taken[c]+")")
	}
	return "", termshift.WithHint(fmt.Errorf("all %d memcached clusters are assigned: %s: %w", len(names), strings.Join(holders, ", "), termshift.ErrRefused),
		"add a cluster to servers.memcached.clusters, or tear down a release that no longer needs one")
}
