package rollout

import (
	"context"
	"fmt"
	"time"

	"github.com/termshift/termshift"
)

// GCItem is something gc would remove.
type GCItem struct {
	Kind      string               `json:"kind"` // release, orphan
	Release   string               `json:"release,omitempty"`
	Namespace *termshift.Namespace `json:"namespace,omitempty"`
	Why       string               `json:"why"`
	Outcome   string               `json:"outcome"` // would drop, dropped, failed
	Error     string               `json:"error,omitempty"`
}

// GC lists releases past the retention window and orphan namespaces, and
// with yes drops them. It never touches the live release or the rollback
// target.
func (o *Orchestrator) GC(ctx context.Context, yes bool) ([]GCItem, error) {
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	var items []GCItem
	retention := o.Env.Router.Retention.Duration
	for _, name := range s.Names() {
		rs := s.Releases[name]
		if s.Protected(name) != "" || len(rs.Namespaces) == 0 || rs.RetiredAt.IsZero() {
			continue
		}
		if age := o.Now().Sub(rs.RetiredAt); age > retention {
			it := GCItem{Kind: "release", Release: name, Outcome: "would drop",
				Why: fmt.Sprintf("retired %s ago, retention %s", age.Round(time.Minute), retention)}
			if err := o.refuseRunningSharers(s, name, "tear down"); err != nil {
				it.Outcome, it.Why = "kept", it.Why+"; "+err.Error()
			}
			items = append(items, it)
		}
	}
	live, err := o.Namespaces(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, n := range live {
		ns := termshift.Namespace{Service: n.Service, Logical: n.Logical, Release: n.Release, Name: n.Name}
		switch {
		case n.State == LiveNotOurs:
			items = append(items, GCItem{Kind: "not ours", Release: n.Release, Namespace: &ns, Outcome: "kept", Why: n.Detail})
		case n.State != LiveOrphan:
		case s.Protected(n.Release) != "":
			items = append(items, GCItem{Kind: "orphan", Release: n.Release, Namespace: &ns, Outcome: "kept", Why: "its marker names " + termshift.Quote(n.Release) + ": " + s.Protected(n.Release)})
		default:
			if d, err := termshift.DeriveNamespace(n.Service, o.Env.Naming, n.Logical, n.Release); err == nil && n.Service != termshift.Memcached {
				ns.User = d.User
			}
			items = append(items, GCItem{Kind: "orphan", Release: n.Release, Namespace: &ns, Outcome: "would drop", Why: "marked as this environment's release " + termshift.Quote(n.Release) + ", which state does not know"})
		}
	}
	items = append(items, o.orphanObjectItems(ctx, s)...)
	if !yes {
		return items, nil
	}
	for i := range items {
		it := &items[i]
		if it.Outcome != "would drop" {
			continue
		}
		if err := o.checkLock(ctx); err != nil {
			return items, err
		}
		switch it.Kind {
		case "release":
			if _, err := o.Teardown(ctx, it.Release, true); err != nil {
				it.Outcome, it.Error = "failed", err.Error()
				continue
			}
		case GCObjects:
			if err := o.removeOrphanObjects(ctx, it.Release); err != nil {
				it.Outcome, it.Error = "failed", err.Error()
				continue
			}
		case "orphan":
			c, err := o.openCarver(ctx, it.Namespace.Service)
			if err != nil {
				it.Outcome, it.Error = "failed", err.Error()
				continue
			}
			_, err = c.Drop(ctx, *it.Namespace, o.owner(it.Release))
			c.Close()
			if err != nil {
				it.Outcome, it.Error = "failed", err.Error()
				continue
			}
			o.journal(ctx, it.Release, "gc", "done", "dropped orphan "+it.Namespace.String())
		}
		it.Outcome = "dropped"
	}
	return items, nil
}
