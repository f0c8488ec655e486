package rollout_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/store"
)

// A final sync is refused before a window opens when there is nothing to
// copy from, or when the release is the rollback target.
func TestFinalSyncRefusals(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		live, before string
		target, want string
	}{
		{"no live release", "", "", "next", "no live release to copy from"},
		{"into the rollback target", "current", "next", "next", "rollback target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLifecycle(t, "")
			l.o.Reason = "test"
			l.mutate(func(s *store.State) { s.Live, s.Previous = tc.live, tc.before })
			if tc.live != "" {
				// serve routes the live release.
				if _, err := l.o.Cutover(ctx, tc.live, rollout.CutoverOptions{}); err != nil {
					t.Fatal(err)
				}
				l.mutate(func(s *store.State) { s.Previous = tc.before })
			}
			rep, err := l.o.Cutover(ctx, tc.target, rollout.CutoverOptions{FinalSync: true})
			if !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("final sync: %v, want refused: %s", err, tc.want)
			}
			s, _ := l.o.LoadState(ctx)
			if s.Maintenance != nil || s.Live != tc.live || (rep != nil && rep.Window != nil) {
				t.Errorf("after the refusal: maintenance %+v, live %q, report %+v", s.Maintenance, s.Live, rep)
			}
		})
	}
}

// A window whose holder no longer holds the lock is stale: the next command
// that takes the lock lifts it, and the router follows; the same final
// sync (KeepWindow) keeps it.
func TestStaleWindowIsLifted(t *testing.T) {
	ctx := context.Background()
	l := newLifecycle(t, "")
	l.o.Reason = "test"
	if _, err := l.o.Cutover(ctx, "current", rollout.CutoverOptions{}); err != nil {
		t.Fatal(err)
	}
	stale := &store.Maintenance{Since: time.Now().Add(-time.Minute), Release: "next", Token: "gone", Command: "cutover next"}
	l.mutate(func(s *store.State) { s.Maintenance = stale })
	if _, err := l.o.Control().Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if _, resp := l.get(); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("with the window on: %d, want 503", resp.StatusCode)
	}

	keeper := orchestrator(t, l.env, "cutover next")
	keeper.KeepWindow = "next"
	if err := keeper.Locked(ctx, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if s, _ := l.o.LoadState(ctx); s.Maintenance == nil {
		t.Fatalf("the same final sync lifted the window it keeps")
	}

	other := orchestrator(t, l.env, "carve next")
	if err := other.Locked(ctx, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	s, _ := l.o.LoadState(ctx)
	if s.Maintenance != nil {
		t.Fatalf("the stale window survived a command that took the lock: %+v", s.Maintenance)
	}
	if body, resp := l.get(); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"current"`) {
		t.Errorf("after the window was lifted: %d %s, want current", resp.StatusCode, body)
	}
	entries, _, err := l.o.Store.ReadJournal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		found = found || e.Step == "window" && e.Outcome == "lifted" && strings.Contains(e.Detail, `"cutover next"`)
	}
	if !found {
		t.Errorf("the journal does not say the stale window was lifted")
	}
}
