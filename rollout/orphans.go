package rollout

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/runner"
	"github.com/termshift/termshift/rollout/store"
)

// GCObjects is the kind of a gc item that is a release's objects on a
// runner's platform (Deployments, Services, Ingresses), not a namespace.
const GCObjects = "objects"

// orphanListers are the environment's runners that label their objects,
// in release order.
func (o *Orchestrator) orphanListers() []orphanLister {
	var out []orphanLister
	for _, name := range slices.Sorted(maps.Keys(o.P.Runners)) {
		if l, ok := o.P.Runners[name].(orphanLister); ok {
			out = append(out, l)
		}
	}
	return out
}

// knownRelease says whether state knows a release that objects are
// labelled for: it runs, holds namespaces, or is live or the rollback
// target.
func knownRelease(s *store.State, release string) bool {
	if s.Protected(release) != "" {
		return true
	}
	rs := s.Releases[release]
	return rs != nil && (rs.Running || len(rs.Namespaces) > 0)
}

// orphanObjects lists the objects labelled for releases of this
// environment that state does not know, by release; errors are the
// runners that could not be asked.
func (o *Orchestrator) orphanObjects(ctx context.Context, s *store.State) (map[string][]runner.Object, []error) {
	out := map[string][]runner.Object{}
	seen := map[string]bool{}
	var errs []error
	for _, l := range o.orphanListers() {
		objs, err := l.Labelled(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, obj := range objs {
			if seen[obj.String()] || knownRelease(s, obj.Release) {
				continue
			}
			seen[obj.String()] = true
			out[obj.Release] = append(out[obj.Release], obj)
		}
	}
	return out, errs
}

// orphanObjectRows are the rows `namespaces` shows for orphan objects.
func (o *Orchestrator) orphanObjectRows(ctx context.Context, s *store.State, release string) []NamespaceStatus {
	orphans, errs := o.orphanObjects(ctx, s)
	var out []NamespaceStatus
	for _, err := range errs {
		out = append(out, NamespaceStatus{Service: "runner", State: LiveUnknown, Detail: "list labelled objects: " + err.Error()})
	}
	for _, rel := range slices.Sorted(maps.Keys(orphans)) {
		if release != "" && rel != release {
			continue
		}
		for _, obj := range orphans[rel] {
			out = append(out, NamespaceStatus{Release: rel, Service: termshift.Service(strings.ToLower(obj.Kind)), Logical: obj.Kind,
				Name: obj.Namespace + "/" + obj.Name, State: LiveOrphan,
				Detail: "labelled for this environment's release " + termshift.Quote(rel) + ", which state does not know: `termshift gc` lists it for removal"})
		}
	}
	return out
}

// orphanObjectItems are gc's items for orphan objects, one per release.
func (o *Orchestrator) orphanObjectItems(ctx context.Context, s *store.State) []GCItem {
	orphans, errs := o.orphanObjects(ctx, s)
	var items []GCItem
	for _, err := range errs {
		items = append(items, GCItem{Kind: GCObjects, Outcome: "kept", Why: "could not list labelled objects: " + err.Error()})
	}
	for _, rel := range slices.Sorted(maps.Keys(orphans)) {
		var names []string
		for _, obj := range orphans[rel] {
			names = append(names, obj.String())
		}
		items = append(items, GCItem{Kind: GCObjects, Release: rel, Outcome: "would drop",
			Why: fmt.Sprintf("labelled for this environment's release %s, which state does not know: %s", termshift.Quote(rel), strings.Join(names, ", "))})
	}
	return items
}

// removeOrphanObjects deletes a release's labelled objects through every
// runner that labels objects (each in its own namespace; absent objects
// are fine).
func (o *Orchestrator) removeOrphanObjects(ctx context.Context, release string) error {
	for _, l := range o.orphanListers() {
		if err := l.RemoveRelease(ctx, release); err != nil {
			return err
		}
	}
	o.journal(ctx, release, "gc", "done", "removed the objects labelled for "+termshift.Quote(release))
	return nil
}
