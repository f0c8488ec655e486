package rollout

import (
	"context"
	"sort"

	"github.com/termshift/termshift"
)

// Namespace states as checked live on the servers.
const (
	LiveOK      = "ok"          // in state and on the server
	LiveMissing = "missing"     // in state, not on the server
	LiveOrphan  = "orphan"      // on the server, matching the naming pattern, owned by no known release
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
	Detail  string            `json:"detail,omitempty"`
}

// Namespaces checks every namespace in state on its server and finds
// orphans: names on a server that match the naming pattern of a logical
// database but belong to no release in state. release "" means all.
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
				if release != "" && name != release {
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
		if cerr != nil || svc == termshift.Memcached {
			// Pool clusters are assigned, not named by the pattern.
			if c != nil {
				c.Close()
			}
			continue
		}
		names, err := c.List(ctx)
		c.Close()
		if err != nil {
			out = append(out, NamespaceStatus{Service: svc, State: LiveUnknown, Detail: "list: " + err.Error()})
			continue
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
				if release != "" && m[1] != release {
					continue
				}
				out = append(out, NamespaceStatus{Release: m[1], Service: svc, Logical: db.Name, Name: name, State: LiveOrphan,
					Detail: "matches the naming pattern but no release in state owns it: `termshift gc` lists it for removal"})
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Release != out[j].Release {
			return out[i].Release < out[j].Release
		}
		return out[i].Service < out[j].Service
	})
	return out, nil
}
