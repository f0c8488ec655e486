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
	s, err := o.loadState()
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
			items = append(items, GCItem{Kind: "release", Release: name, Outcome: "would drop",
				Why: fmt.Sprintf("retired %s ago, retention %s", age.Round(time.Minute), retention)})
		}
	}
	live, err := o.Namespaces(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, n := range live {
		if n.State != LiveOrphan || s.Protected(n.Release) != "" {
			continue
		}
		ns, err := termshift.DeriveNamespace(n.Service, o.Env.Naming, n.Logical, n.Release)
		if err != nil {
			continue
		}
		items = append(items, GCItem{Kind: "orphan", Release: n.Release, Namespace: &ns, Outcome: "would drop", Why: "on the server, owned by no release in state"})
	}
	if !yes {
		return items, nil
	}
	for i := range items {
		it := &items[i]
		if err := o.checkLock(); err != nil {
			return items, err
		}
		switch it.Kind {
		case "release":
			if _, err := o.Teardown(ctx, it.Release, true); err != nil {
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
			o.journal(it.Release, "gc", "done", "dropped orphan "+it.Namespace.String())
		}
		it.Outcome = "dropped"
	}
	return items, nil
}
