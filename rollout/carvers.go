package rollout

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/store"
)

// owner is who release's namespaces belong to on the servers.
func (o *Orchestrator) owner(release string) termshift.Owner {
	return termshift.Owner{Environment: o.Env.Name, Release: release}
}

// openCarver connects to the service's server with the admin credentials.
func (o *Orchestrator) openCarver(ctx context.Context, svc termshift.Service) (Carver, error) {
	if o.P.Carver == nil {
		return nil, fmt.Errorf("servers.%s is not configured in %s, but a release has %s namespaces: %w", svc, o.Env.Path, svc, termshift.ErrInvalid)
	}
	return o.P.Carver(ctx, svc)
}

// plannedNamespaces derives every namespace of release. Memcached pool
// clusters come from state (an existing assignment) or are picked from the
// clusters no other release holds.
func (o *Orchestrator) plannedNamespaces(ctx context.Context, s *store.State, release string) ([]termshift.Namespace, error) {
	var out []termshift.Namespace
	for _, svc := range termshift.Services() {
		for _, db := range o.Env.LogicalDBs(svc) {
			ns, err := termshift.DeriveNamespace(svc, o.Env.Naming, db.Name, release)
			if err != nil {
				return nil, err
			}
			if svc == termshift.Memcached && len(o.P.Pool) > 0 {
				name, err := o.poolMember(ctx, s, release, db.Name)
				if err != nil {
					return nil, err
				}
				ns.Name = name
			} else if svc == termshift.Memcached {
				// A provider that creates a cluster per release names it
				// after the namespace.
				id, err := termshift.ElastiCacheID(ns.Name)
				if err != nil {
					return nil, err
				}
				ns.Name = id
			}
			out = append(out, ns)
		}
	}
	return out, nil
}

// poolMember assigns a memcached cluster to release: the one it holds in
// state, else the first no release in state holds and no other
// environment's marker claims.
func (o *Orchestrator) poolMember(ctx context.Context, s *store.State, release, logical string) (string, error) {
	if r := s.Releases[release]; r != nil {
		if ns := r.Namespace(termshift.Memcached, logical); ns != nil {
			return ns.Name, nil
		}
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
	names := append([]string(nil), o.P.Pool...)
	sort.Strings(names)
	c, err := o.openCarver(ctx, termshift.Memcached)
	if err != nil {
		return "", err
	}
	defer c.Close()
	pool, ok := c.(PoolCarver)
	if !ok {
		return "", fmt.Errorf("the memcached provider assigns no clusters from a pool: %w", termshift.ErrInvalid)
	}
	// A cluster no release in state holds may still carry another
	// environment's owner marker: skip it rather than fail the carve.
	for _, m := range names {
		if _, ok := taken[m]; ok {
			continue
		}
		holder, held, err := pool.Holder(ctx, m)
		if err != nil {
			return "", err
		}
		if !held || holder == o.owner(release) {
			return m, nil
		}
		taken[m] = holder.String() + ", by its owner marker"
	}
	var holders []string
	for _, m := range names {
		holders = append(holders, m+" ("+taken[m]+")")
	}
	return "", termshift.WithHint(fmt.Errorf("all %d memcached clusters are assigned: %s: %w", len(names), strings.Join(holders, ", "), termshift.ErrRefused),
		"add a cluster to servers.memcached.clusters, or tear down a release that no longer needs one")
}

// refuseShared refuses namespaces that another release in state already
// holds (a naming pattern changed, or two patterns that meet), and a
// release whose namespaces in state carry other names than the pattern now
// gives: nothing of another release is ever written to.
func (o *Orchestrator) refuseShared(s *store.State, release string, planned []termshift.Namespace) error {
	held := map[string]string{} // "service name" -> release
	for _, name := range s.Names() {
		if name == release || !s.Releases[name].TornDownAt.IsZero() && len(s.Releases[name].Namespaces) == 0 {
			continue
		}
		for _, ns := range s.Releases[name].Namespaces {
			held[string(ns.Service)+" "+strings.ToLower(ns.Name)] = name
		}
	}
	var problems []string
	for _, ns := range planned {
		if other, ok := held[string(ns.Service)+" "+strings.ToLower(ns.Name)]; ok {
			why := ""
			if w := s.Protected(other); w != "" {
				why = " (" + w + ")"
			}
			problems = append(problems, fmt.Sprintf("%s belongs to release %s%s", ns, termshift.Quote(other), why))
		}
		if rs := s.Releases[release]; rs != nil {
			if was := rs.Namespace(ns.Service, ns.Logical); was != nil && was.Name != ns.Name && ns.Service != termshift.Memcached {
				problems = append(problems, fmt.Sprintf("%s %s was carved as %s, but the naming pattern %q now gives %s", ns.Service, termshift.Quote(ns.Logical), termshift.Quote(was.Name), o.Env.Naming, termshift.Quote(ns.Name)))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return termshift.WithHint(fmt.Errorf("refusing to carve %s: %s: %w", termshift.Quote(release), strings.Join(problems, "; "), termshift.ErrRefused),
		"the naming pattern maps this release onto namespaces that are not its own: change `naming` back, or choose another release name")
}
