package rollout

import (
	"context"
	"slices"
	"sort"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
)

// Namespace states as checked live on the servers.
const (
	LiveOK      = "ok"          // in state and on the server
	LiveMissing = "missing"     // in state, not on the server
	LiveOrphan  = "orphan"      // on the server, marked as this environment's, owned by no release in state
	LiveNotOurs = "not ours"    // on the server, matching the naming pattern, marked for another environment or not marked
	LiveUnknown = "unreachable" // the server could not be asked
)

// NamespaceStatus is one namespace checked live.
type NamespaceStatus struct {
	Release string            `json:"release"`
	Service termshift.Service `json:"service"`
	Logical string            `json:"logical"`
	Name    string            `json:"name"`
	State   string            `json:"state"`
	Status  string            `json:"status,omitempty"` // carve/restore status from state
	// Owner is what the namespace's marker on the server says, for
	// orphans and namespaces that are not ours ("" when unmarked).
	Owner  string `json:"owner,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Namespaces checks every namespace in state on its server and classifies
// the others that look like ours: names that match the naming pattern of a
// logical database (or memcached pool members) but belong to no release in
// state are orphans when their owner marker names this environment, and
// "not ours" otherwise (another environment's, or unmarked): those are
// listed, never dropped. release "" means all.
func (o *Orchestrator) Namespaces(ctx context.Context, release string) ([]NamespaceStatus, error) {
	if release != "" {
		if err := termshift.ValidateRelease(release); err != nil {
			return nil, err
		}
	}
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	var out []NamespaceStatus
	for _, svc := range termshift.Services() {
		dbs := o.Env.LogicalDBs(svc)
		if len(dbs) == 0 {
			continue
		}
		c, cerr := o.openCarver(ctx, svc)
		owned := map[string]bool{}
		for _, name := range s.Names() {
			for _, ns := range s.Releases[name].Namespaces {
				if ns.Service != svc {
					continue
				}
				owned[ns.Name] = true
				if release != "" && name != release && name != s.DataOwner(release) {
					continue
				}
				st := NamespaceStatus{Release: name, Service: svc, Logical: ns.Logical, Name: ns.Name, Status: ns.Status}
				if cerr != nil {
					st.State, st.Detail = LiveUnknown, cerr.Error()
				} else if ok, err := c.Exists(ctx, ns.Namespace); err != nil {
					st.State, st.Detail = LiveUnknown, err.Error()
				} else if ok {
					st.State, st.Detail = LiveOK, ns.Isolation
				} else {
					st.State, st.Detail = LiveMissing, "recorded in state but not on "+c.Server()+": `termshift carve "+name+"` recreates it"
				}
				out = append(out, st)
			}
		}
		if cerr != nil {
			continue
		}
		others, err := o.strangers(ctx, c, svc, dbs, owned, release)
		c.Close()
		if err != nil {
			out = append(out, NamespaceStatus{Service: svc, State: LiveUnknown, Detail: err.Error()})
			continue
		}
		out = append(out, others...)
	}
	out = append(out, borrowedRows(s, out, release)...)
	if owner := s.DataOwner(release); release != "" && owner != release {
		// The owner's rows were checked for the borrowed ones only.
		out = slices.DeleteFunc(out, func(r NamespaceStatus) bool { return r.Release == owner })
	}
	out = append(out, o.orphanObjectRows(ctx, s, release)...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Release != out[j].Release {
			return out[i].Release < out[j].Release
		}
		return out[i].Service < out[j].Service
	})
	return out, nil
}

// strangers classifies what a server holds that looks like a namespace of
// this environment but is in no release of state.
func (o *Orchestrator) strangers(ctx context.Context, c Carver, svc termshift.Service, dbs []envfile.LogicalDB, owned map[string]bool, release string) ([]NamespaceStatus, error) {
	var candidates []termshift.Namespace
	if svc == termshift.Memcached {
		if len(o.P.Pool) == 0 {
			return nil, nil // clusters created per release are named, not pooled
		}
		for _, m := range o.P.Pool {
			if !owned[m] {
				candidates = append(candidates, termshift.Namespace{Service: svc, Logical: dbs[0].Name, Name: m})
			}
		}
	} else {
		names, err := c.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if owned[name] {
				continue
			}
			for _, db := range dbs {
				m := termshift.PatternRegexp(o.Env.Naming, db.Name).FindStringSubmatch(name)
				if m == nil {
					continue
				}
				if ns, err := termshift.DeriveNamespace(svc, o.Env.Naming, db.Name, m[1]); err == nil && ns.Name == name {
					candidates = append(candidates, ns)
				}
				break
			}
		}
	}
	var out []NamespaceStatus
	for _, ns := range candidates {
		owner, exists, err := c.Owner(ctx, ns)
		if err != nil {
			out = append(out, NamespaceStatus{Release: ns.Release, Service: svc, Logical: ns.Logical, Name: ns.Name, State: LiveUnknown, Detail: "read owner marker: " + err.Error()})
			continue
		}
		if !exists || (svc == termshift.Memcached && owner.IsZero()) {
			continue // a free pool member, or gone since it was listed
		}
		if owner.Environment == o.Env.Name {
			ns.Release = owner.Release
		}
		if release != "" && ns.Release != release {
			continue
		}
		st := NamespaceStatus{Release: ns.Release, Service: svc, Logical: ns.Logical, Name: ns.Name, Owner: owner.String()}
		switch {
		case owner.IsZero():
			st.State, st.Detail = LiveNotOurs, "matches the naming pattern but carries no termshift owner marker: not ours, never dropped"
		case owner.Environment != o.Env.Name:
			st.State, st.Detail = LiveNotOurs, "belongs to environment "+termshift.Quote(owner.Environment)+" (release "+termshift.Quote(owner.Release)+"): not ours, never dropped"
		default:
			st.State, st.Detail = LiveOrphan, "marked as this environment's release "+termshift.Quote(owner.Release)+", which state does not know: `termshift gc` lists it for removal"
		}
		out = append(out, st)
	}
	return out, nil
}

// borrowedRows lists, for each release that shares another's data, the
// owner's namespaces as it uses them: checked once (as the owner's rows),
// never orphans, never dropped with the sharer.
func borrowedRows(s *store.State, rows []NamespaceStatus, release string) []NamespaceStatus {
	var out []NamespaceStatus
	for _, name := range s.Names() {
		owner := s.Releases[name].SharesData
		if owner == "" || release != "" && name != release {
			continue
		}
		for _, ns := range s.DataNamespaces(name) {
			st := NamespaceStatus{Release: name, Service: ns.Service, Logical: ns.Logical, Name: ns.Name, Status: ns.Status, State: LiveUnknown}
			for _, r := range rows {
				if r.Release == owner && r.Service == ns.Service && r.Name == ns.Name {
					st.State = r.State
				}
			}
			st.Detail = "borrowed from " + termshift.Quote(owner) + " (shares its data): never dropped with " + termshift.Quote(name)
			out = append(out, st)
		}
	}
	return out
}
