// Package storetest is the conformance suite every state backend passes:
// compare-and-swap state writes, one lock per environment with takeover,
// a journal that loses nothing under concurrent writers, and credentials.
// A backend's test calls Run with a function that returns a fresh, empty
// backend for each case (two calls for the same name must share storage:
// they stand for two machines).
package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/store"
)

// Factory returns a backend on the storage named name; two calls with the
// same name reach the same state (two operators' machines).
type Factory func(t *testing.T, name string) store.Backend

// Run runs every case against the backends newBackend makes.
func Run(t *testing.T, newBackend Factory) {
	t.Run("EmptyState", func(t *testing.T) { emptyState(t, newBackend(t, "empty")) })
	t.Run("CompareAndSwap", func(t *testing.T) { compareAndSwap(t, newBackend(t, "cas"), newBackend(t, "cas")) })
	t.Run("NoLostUpdates", func(t *testing.T) { noLostUpdates(t, newBackend(t, "race"), newBackend(t, "race")) })
	t.Run("Lock", func(t *testing.T) { lock(t, newBackend(t, "lock"), newBackend(t, "lock")) })
	t.Run("TakeOver", func(t *testing.T) { takeOver(t, newBackend(t, "takeover"), newBackend(t, "takeover")) })
	t.Run("Journal", func(t *testing.T) { journal(t, newBackend(t, "journal"), newBackend(t, "journal")) })
	t.Run("Credentials", func(t *testing.T) { credentials(t, newBackend(t, "creds"), newBackend(t, "creds")) })
	t.Run("LockRace", func(t *testing.T) { lockRace(t, newBackend(t, "lockrace"), newBackend(t, "lockrace")) })
	t.Run("Watcher", func(t *testing.T) { watcher(t, newBackend(t, "watch"), newBackend(t, "watch")) })
}

func emptyState(t *testing.T, b store.Backend) {
	s, err := b.Load(t.Context())
	if err != nil {
		t.Fatalf("Load of a new backend: %v", err)
	}
	if s.Revision != 0 || len(s.Releases) != 0 || s.Live != "" {
		t.Errorf("new state = revision %d, %d releases, live %q; want an empty one", s.Revision, len(s.Releases), s.Live)
	}
	if s.Releases == nil {
		t.Error("Releases is nil: callers index it")
	}
	h, err := b.Holder(t.Context())
	if err != nil || h != nil {
		t.Errorf("Holder of a new backend = %+v, %v; want nobody", h, err)
	}
	if b.String() == "" {
		t.Error("String() is empty: messages must say where the state is")
	}
}

func compareAndSwap(t *testing.T, a, b store.Backend) {
	ctx := t.Context()
	s, _ := a.Load(ctx)
	s.Environment, s.Live = "qa", "current"
	s.Release("current").Version = "1.0"
	if err := a.Save(ctx, s); err != nil {
		t.Fatalf("first Save: %v", err)
	}
	if s.Revision != 1 {
		t.Errorf("revision after the first save = %d, want 1", s.Revision)
	}
	// Two operators read the same revision; the first to write wins.
	sa, err := a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sb, sa); diff != "" {
		t.Fatalf("two machines read different states (-b +a):\n%s", diff)
	}
	sa.Live = "next"
	if err := a.Save(ctx, sa); err != nil {
		t.Fatalf("Save by a: %v", err)
	}
	sb.Release("redwood").Version = "3"
	err = b.Save(ctx, sb)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Save by b with a stale view = %v, want ErrConflict", err)
	}
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Have != 1 || ce.Stored != 2 {
		t.Errorf("conflict = %#v, want read revision 1, stored 2", err)
	}
	got, _ := b.Load(ctx)
	if got.Live != "next" || got.Releases["redwood"] != nil || got.Revision != 2 {
		t.Errorf("after the refused write: live %q, redwood %v, revision %d; want a's write only", got.Live, got.Releases["redwood"], got.Revision)
	}
	// Re-read and re-apply: now it goes through.
	got.Release("redwood").Version = "3"
	if err := b.Save(ctx, got); err != nil {
		t.Fatalf("Save after re-reading: %v", err)
	}
	// A saved state is not changed by later edits of the caller's copy.
	got.Live = "edited-after-save"
	again, _ := a.Load(ctx)
	if again.Live != "next" || again.Releases["redwood"] == nil {
		t.Errorf("stored state = live %q, redwood %v", again.Live, again.Releases["redwood"])
	}
}

// noLostUpdates: writers on two machines each add their own releases with
// read-modify-write and retry on conflict; every addition survives.
func noLostUpdates(t *testing.T, a, b store.Backend) {
	ctx := t.Context()
	const perWriter = 8
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w, be := range []store.Backend{a, b, a, b} {
		wg.Go(func() {
			for i := range perWriter {
				name := fmt.Sprintf("w%dr%d", w, i)
				for attempt := 0; ; attempt++ {
					s, err := be.Load(ctx)
					if err != nil {
						errs <- err
						return
					}
					s.Release(name).Version = "1"
					err = be.Save(ctx, s)
					if err == nil {
						break
					}
					if !errors.Is(err, store.ErrConflict) || attempt > 200 {
						errs <- fmt.Errorf("writer %d: %w", w, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s, err := a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Releases) != 4*perWriter || s.Revision != 4*perWriter {
		t.Errorf("after %d writes: %d releases, revision %d; an update was lost", 4*perWriter, len(s.Releases), s.Revision)
	}
}

func lock(t *testing.T, a, b store.Backend) {
	ctx := t.Context()
	la, stale, err := a.Acquire(ctx, "upgrade next")
	if err != nil || stale != nil {
		t.Fatalf("Acquire = %v, stale %v", err, stale)
	}
	if err := la.Check(ctx); err != nil {
		t.Errorf("Check while held: %v", err)
	}
	_, _, err = b.Acquire(ctx, "carve next")
	var locked *store.LockedError
	if !errors.As(err, &locked) || !errors.Is(err, termshift.ErrLocked) {
		t.Fatalf("second Acquire = %v, want a *LockedError", err)
	}
	if locked.Holder.Command != "upgrade next" || locked.Holder.Token != la.Info().Token || !strings.Contains(err.Error(), "(upgrade next)") {
		t.Errorf("LockedError = %q (holder %+v): it must name the holder and its command", err, locked.Holder)
	}
	h, err := b.Holder(ctx)
	if err != nil || h == nil || h.Command != "upgrade next" || h.PID == 0 || h.Host == "" || h.Since.IsZero() {
		t.Errorf("Holder = %+v, %v", h, err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	lb, _, err := b.Acquire(ctx, "carve next")
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	// The former holder's Release must not free the new holder's lock.
	if err := la.Release(ctx); err != nil {
		t.Fatalf("a second Release: %v", err)
	}
	if err := lb.Check(ctx); err != nil {
		t.Errorf("new holder lost its lock to the old one's Release: %v", err)
	}
	broken, err := a.BreakLock(ctx)
	if err != nil || broken == nil || broken.Command != "carve next" {
		t.Errorf("BreakLock = %+v, %v", broken, err)
	}
	if err := lb.Check(ctx); !errors.Is(err, termshift.ErrLocked) {
		t.Errorf("Check after BreakLock = %v, want ErrLocked", err)
	}
	if h, _ := a.Holder(ctx); h != nil {
		t.Errorf("Holder after BreakLock = %+v", h)
	}
}

func takeOver(t *testing.T, a, b store.Backend) {
	ctx := t.Context()
	upgrade, _, err := a.Acquire(ctx, "upgrade next")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := a.Load(ctx) // the upgrade's view of the state
	rollback, prev, err := b.TakeOver(ctx, "rollback --force")
	if err != nil {
		t.Fatal(err)
	}
	if prev == nil || prev.Command != "upgrade next" {
		t.Errorf("previous holder = %+v, want the upgrade", prev)
	}
	if err := upgrade.Check(ctx); !errors.Is(err, termshift.ErrLocked) || !strings.Contains(err.Error(), "rollback --force") {
		t.Errorf("former holder's Check = %v, want it told the lock was taken over by the rollback", err)
	}
	// The rollback writes; the former holder's later write is fenced off.
	rs, _ := b.Load(ctx)
	rs.Live = "current"
	if err := b.Save(ctx, rs); err != nil {
		t.Fatal(err)
	}
	s.Live = "next"
	if err := a.Save(ctx, s); !errors.Is(err, store.ErrConflict) {
		t.Errorf("former holder's stale write = %v, want ErrConflict", err)
	}
	if err := upgrade.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if h, _ := a.Holder(ctx); h == nil || h.Token != rollback.Info().Token {
		t.Errorf("holder after the former's Release = %+v, want the rollback", h)
	}
	if err := rollback.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func journal(t *testing.T, a, b store.Backend) {
	ctx := t.Context()
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		be := a
		if w%2 == 1 {
			be = b
		}
		wg.Go(func() {
			for i := range each {
				e := store.Entry{Command: fmt.Sprintf("w%d", w), Step: "carve", Outcome: "done", Detail: fmt.Sprintf("%d", i)}
				if err := be.Append(ctx, e); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	entries, torn, err := b.ReadJournal(ctx)
	if err != nil || torn != 0 {
		t.Fatalf("ReadJournal: %v, %d torn", err, torn)
	}
	if len(entries) != writers*each {
		t.Fatalf("journal holds %d entries, want %d: entries were lost", len(entries), writers*each)
	}
	next := map[string]int{}
	for _, e := range entries {
		if e.Detail != fmt.Sprint(next[e.Command]) {
			t.Fatalf("writer %s's entries out of order: got %s, want %d", e.Command, e.Detail, next[e.Command])
		}
		next[e.Command]++
		if e.Time.IsZero() || e.Actor == "" {
			t.Errorf("entry without time or actor: %+v", e)
		}
	}
}

func credentials(t *testing.T, a, b store.Backend) {
	ctx := t.Context()
	pw := termshift.Secret("Zx9-stored-password-Q7")
	want := map[string]termshift.Credential{store.CredKey(termshift.MySQL, "edxapp"): {User: "edxapp_next", Password: pw}}
	if err := a.SaveCredentials(ctx, "next", want); err != nil {
		t.Fatal(err)
	}
	got, err := b.Credentials(ctx, "next")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("credentials (-got +want):\n%s", diff)
	}
	if none, err := b.Credentials(ctx, "redwood"); err != nil || len(none) != 0 {
		t.Errorf("credentials of a release without any = %v, %v", none, err)
	}
	list, err := b.CredentialReleases(ctx)
	if err != nil || len(list) != 1 || list[0] != "next" {
		t.Errorf("CredentialReleases = %v, %v", list, err)
	}
	for _, bad := range []string{"../next", "Next", ""} {
		if _, err := a.Credentials(ctx, bad); !errors.Is(err, termshift.ErrInvalid) {
			t.Errorf("Credentials(%q) = %v, want ErrInvalid", bad, err)
		}
		if err := a.SaveCredentials(ctx, bad, want); !errors.Is(err, termshift.ErrInvalid) {
			t.Errorf("SaveCredentials(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := b.DeleteCredentials(ctx, "next"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteCredentials(ctx, "next"); err != nil {
		t.Errorf("deleting again: %v", err)
	}
	if got, _ := a.Credentials(ctx, "next"); len(got) != 0 {
		t.Errorf("credentials after delete = %v", got)
	}
}

// lockRace: commands on two machines race for the lock; exactly one wins
// each round, and the others are told who holds it.
func lockRace(t *testing.T, a, b store.Backend) {
	ctx := t.Context()
	for round := range 8 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []store.Lock
		for i, be := range []store.Backend{a, b, a, b} {
			wg.Go(func() {
				l, _, err := be.Acquire(ctx, fmt.Sprintf("race %d", i))
				var locked *store.LockedError
				switch {
				case err == nil:
					mu.Lock()
					won = append(won, l)
					mu.Unlock()
				case !errors.As(err, &locked) || locked.Holder.Command == "":
					t.Errorf("round %d: a losing Acquire = %v, want a *LockedError naming the holder", round, err)
				}
			})
		}
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("round %d: %d winners, want 1", round, len(won))
		}
		if err := won[0].Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if h, err := a.Holder(ctx); err != nil || h != nil {
		t.Errorf("Holder after every winner released = %+v, %v", h, err)
	}
}

// watcher: a backend that says whether the state changed (store.Watcher)
// must see another machine's write, and nothing else.
func watcher(t *testing.T, a, b store.Backend) {
	wa, ok := a.(store.Watcher)
	if !ok {
		t.Skipf("%T does not implement store.Watcher: serve loads its state in full", a)
	}
	wb := b.(store.Watcher)
	ctx := t.Context()
	changed := func(w store.Watcher, s *store.State, want bool, when string) {
		t.Helper()
		got, err := w.Changed(ctx, s)
		if err != nil || got != want {
			t.Errorf("Changed %s = %v, %v; want %v", when, got, err, want)
		}
	}
	empty, err := a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	changed(wa, empty, false, "of an empty state with nothing stored")
	changed(wa, nil, true, "since nothing")
	s := &store.State{Environment: "qa", Live: "current"}
	s.Release("current").Version = "1"
	if err := a.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	changed(wb, empty, true, "of an empty state after a first save")
	changed(wa, s, false, "since the writer's own save")
	sb, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	changed(wb, sb, false, "since the state just loaded")
	s.Live = "next"
	if err := a.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	changed(wb, sb, true, "after another machine's save")
	changed(wa, sb, true, "by the writer, of the revision before its save")
	sb, err = b.Load(ctx)
	if err != nil || sb.Live != "next" {
		t.Fatalf("Load after the change = %+v, %v", sb, err)
	}
	changed(wb, sb, false, "since the new state was loaded")
}
