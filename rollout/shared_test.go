package rollout_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/tenancy/tenancytest"
)

// sharedWorld is a world with an owner release, carved and restored, and a
// patch release that shares its data.
func sharedWorld(t *testing.T) (w *world, owner, patch string) {
	t.Helper()
	owner, patch = tenancytest.Release(t), tenancytest.Release(t)
	// The sharer first: cleanup tears releases down in this order.
	w = newWorld(t, termshift.DefaultNamingPattern, patch, owner)
	w.shares = map[string]string{patch: owner}
	w.write()
	return w, owner, patch
}

// A patch release on its owner's data: no carve, no restore, no scrub; its
// configuration and verify use the owner's namespaces; teardown never drops
// them; the owner is refused teardown while the patch runs, and restore,
// scrub and teardown of the owner stay refused while the patch is live.
func TestSharedDataRelease(t *testing.T) {
	ctx := context.Background()
	w, owner, patch := sharedWorld(t)

	// Before the owner has data, the patch has nothing to run on.
	if _, err := w.o("upgrade "+patch).Plan(ctx, patch, rollout.UpgradeOptions{}); !errors.Is(err, termshift.ErrNotFound) || !strings.Contains(err.Error(), "is not carved") {
		t.Fatalf("plan of a sharer whose owner is not carved = %v, want not found", err)
	}
	w.upgrade(owner)

	o := w.o("upgrade " + patch)
	plan, err := o.Plan(ctx, patch, rollout.UpgradeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range plan[:4] {
		got = append(got, p.Step+" "+p.Action+" "+p.Why)
	}
	nothing := "shares " + owner + "'s data: nothing to do"
	want := []string{
		"data mode shares data with " + owner + ": runs on " + owner + "'s namespaces with its credentials (same schema, no migrations)",
		"carve skip " + nothing, "restore skip " + nothing, "scrub skip " + nothing,
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("plan (-got +want):\n%s", diff)
	}
	if plan, err := o.Plan(ctx, owner, rollout.UpgradeOptions{}); err != nil || plan[0].Why != "own namespaces: carved, restored and scrubbed for "+owner+" alone" {
		t.Errorf("owner's plan = %+v, %v; want its first line to say own namespaces", plan, err)
	}
	if _, err := o.Plan(ctx, patch, rollout.UpgradeOptions{Cutover: true, FinalSync: true}); !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("--final-sync of a sharer = %v, want refused", err)
	}

	rs := w.state().Releases[owner]
	before := checksums(t, names(rs, termshift.MySQL), names(rs, termshift.MongoDB))
	if res, err := o.Carve(ctx, patch); err != nil || len(res) != 0 {
		t.Errorf("carve %s = %v, %v; want nothing done", patch, res, err)
	}
	if res, _, err := o.Restore(ctx, patch, rollout.RestoreOptions{DropExisting: true}); err != nil || len(res) != 0 {
		t.Errorf("restore %s = %v, %v; want nothing done", patch, res, err)
	}
	if res, err := o.Scrub(ctx, patch); err != nil || len(res) != 0 {
		t.Errorf("scrub %s = %v, %v; want nothing done", patch, res, err)
	}
	if err := o.Deploy(ctx, patch); err != nil {
		t.Fatalf("deploy %s: %v", patch, err)
	}
	s := w.state()
	if p := s.Releases[patch]; p.SharesData != owner || len(p.Namespaces) != 0 || !p.Running {
		t.Errorf("state of %s = shares %q, %d namespaces, running %v; want shares %s, none of its own, running", patch, p.SharesData, len(p.Namespaces), p.Running, owner)
	}

	// verify checks the patch against the owner's namespaces.
	rep, _ := w.o("verify "+patch).Verify(ctx, patch, rollout.VerifyOptions{Only: []string{"connectivity"}})
	if rep == nil || len(rep.Results) == 0 {
		t.Fatalf("verify %s: no results", patch)
	}
	own := map[string]bool{}
	for _, ns := range w.state().Releases[owner].Namespaces {
		own[ns.Name] = true
	}
	for _, r := range rep.Results {
		if r.Status != "pass" || !own[strings.Fields(r.Target)[len(strings.Fields(r.Target))-1]] {
			t.Errorf("verify %s: %s %s %s: %s; want a pass on %s's namespaces", patch, r.Check, r.Target, r.Status, r.Detail, owner)
		}
	}

	// The owner's data cannot go while the patch runs on it.
	if _, err := w.o("teardown").Teardown(ctx, owner, true); !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), termshift.Quote(patch)) {
		t.Errorf("teardown of the owner while its sharer runs = %v, want refused naming %s", err, patch)
	}

	// Live through a sharer: every write to the owner's namespaces is refused.
	w.mutate(func(s *store.State) { s.Live = patch })
	o = w.o("restore " + owner)
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), termshift.Quote(patch)) {
			t.Errorf("%s while %s is live on its data: %v, want refused naming %s", what, patch, err, patch)
		}
	}
	_, _, err = o.Restore(ctx, owner, rollout.RestoreOptions{Resume: true, DropExisting: true})
	refused("restore "+owner, err)
	_, err = o.Scrub(ctx, owner)
	refused("scrub "+owner, err)
	w.mutate(func(s *store.State) { s.Releases[patch].Running = false })
	_, err = o.Teardown(ctx, owner, true)
	refused("teardown "+owner, err)
	edxapp := rs.Namespace(termshift.MySQL, "edxapp")
	if err := rollout.RefuseProtectedTarget(ctx, w.o("x").Store, termshift.MySQL, edxapp.Name); !errors.Is(err, termshift.ErrRefused) {
		t.Errorf("standalone restore into %s = %v, want refused", edxapp.Name, err)
	}
	if diff := diffMaps(checksums(t, names(rs, termshift.MySQL), names(rs, termshift.MongoDB)), before); diff != "" {
		t.Errorf("the owner's data changed:\n%s", diff)
	}

	// Borrowed namespaces are listed as the patch's, never as orphans.
	list, err := w.o("namespaces").Namespaces(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	borrowed := 0
	for _, n := range list {
		if n.State == rollout.LiveOrphan {
			t.Errorf("namespace %s listed as an orphan", n.Name)
		}
		if n.Release == patch {
			borrowed++
			if n.State != rollout.LiveOK || !strings.Contains(n.Detail, "borrowed from") {
				t.Errorf("borrowed namespace %s: %s %s", n.Name, n.State, n.Detail)
			}
		}
	}
	if want := len(rs.Namespaces); borrowed != want {
		t.Errorf("namespaces lists %d borrowed rows for %s, want %d", borrowed, patch, want)
	}

	// With the owner live, nothing done to the patch reaches its data, and
	// tearing the patch down drops nothing of the owner's.
	w.mutate(func(s *store.State) { s.Live, s.Previous = owner, "" })
	o = w.o("restore " + patch)
	if res, _, err := o.Restore(ctx, patch, rollout.RestoreOptions{Resume: true, DropExisting: true}); err != nil || len(res) != 0 {
		t.Errorf("restore %s --drop-existing while %s is live = %v, %v; want nothing done", patch, owner, res, err)
	}
	if res, err := o.Scrub(ctx, patch); err != nil || len(res) != 0 {
		t.Errorf("scrub %s while %s is live = %v, %v; want nothing done", patch, owner, res, err)
	}
	drops, err := w.o("teardown").Teardown(ctx, patch, true)
	if err != nil || len(drops) != 0 {
		t.Fatalf("teardown %s = %v, %v; want nothing dropped", patch, drops, err)
	}
	list, err = w.o("namespaces").Namespaces(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list {
		if n.State != rollout.LiveOK && own[n.Name] {
			t.Errorf("after teardown of %s, %s's namespace %s is %s: %s", patch, owner, n.Name, n.State, n.Detail)
		}
	}
	if p := w.state().Releases[patch]; p.SharesData != "" || p.Running {
		t.Errorf("after teardown, %s still shares %q, running %v", patch, p.SharesData, p.Running)
	}
	if diff := diffMaps(checksums(t, names(rs, termshift.MySQL), names(rs, termshift.MongoDB)), before); diff != "" {
		t.Errorf("the owner's data changed:\n%s", diff)
	}
}

// A release that holds namespaces of its own cannot start sharing another's
// data, and one running on another's data cannot lose it silently.
func TestSharedDataModeChangesAreRefused(t *testing.T) {
	ctx := context.Background()
	w, owner, patch := sharedWorld(t)
	w.mutate(func(s *store.State) {
		s.Release(owner).SetStep("carve", "done", "", s.UpdatedAt)
		ns, _ := termshift.DeriveNamespace(termshift.MySQL, termshift.DefaultNamingPattern, "edxapp", patch)
		s.Release(patch).Namespaces = []*store.NamespaceState{{Namespace: ns, Status: store.NSCarved}}
	})
	_, err := w.o("upgrade").Plan(ctx, patch, rollout.UpgradeOptions{})
	if !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), "namespaces of its own") {
		t.Errorf("plan of a sharer with namespaces of its own = %v, want refused", err)
	}
	w.mutate(func(s *store.State) {
		rs := s.Release(patch)
		rs.Namespaces, rs.SharesData, rs.Running = nil, owner, true
	})
	w.shares = nil
	w.write()
	_, err = w.o("carve").Carve(ctx, patch)
	if !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), "runs on "+termshift.Quote(owner)+"'s data") {
		t.Errorf("carve of a running sharer whose data: was removed = %v, want refused", err)
	}
	w.mutate(func(s *store.State) { s.Release(patch).Running = false })
}
