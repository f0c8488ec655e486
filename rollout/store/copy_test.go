package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/rollout/store/local"
)

func TestStoreCopyCopiesEverythingOnceAndOnlyIntoAnEmptyTarget(t *testing.T) {
	ctx := t.Context()
	from, to := local.New(t.TempDir()), local.New(t.TempDir())
	s, _ := from.Load(ctx)
	s.Environment, s.Live = "qa", "current"
	s.Release("current").Version = "1"
	for range 3 {
		if err := from.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	creds := map[string]termshift.Credential{store.CredKey(termshift.MySQL, "edxapp"): {User: "edxapp_current", Password: "Zx9-pw"}}
	if err := from.SaveCredentials(ctx, "current", creds); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"carve", "restore"} {
		if err := from.Append(ctx, store.Entry{Command: "upgrade current", Step: step, Outcome: "done"}); err != nil {
			t.Fatal(err)
		}
	}
	if held, err := store.Empty(ctx, to); err != nil || held != "" {
		t.Fatalf("Empty(new directory) = %q, %v", held, err)
	}

	rep, err := store.Copy(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := &store.CopyReport{From: from.String(), To: to.String(), Revision: 3, Live: "current", Releases: 1, Entries: 2, Credentials: []string{"current"}}
	if diff := cmp.Diff(rep, want); diff != "" {
		t.Errorf("report (-got +want):\n%s", diff)
	}
	got, _ := to.Load(ctx)
	if got.Revision != 1 || got.Live != "current" || got.Releases["current"].Version != "1" {
		t.Errorf("copied state = revision %d, live %q, %+v", got.Revision, got.Live, got.Releases)
	}
	fromEntries, _, _ := from.ReadJournal(ctx)
	toEntries, _, _ := to.ReadJournal(ctx)
	if diff := cmp.Diff(toEntries, fromEntries); diff != "" {
		t.Errorf("copied journal (-got +want):\n%s", diff)
	}
	if c, err := to.Credentials(ctx, "current"); err != nil || cmp.Diff(c, creds) != "" {
		t.Errorf("copied credentials = %v, %v", c, err)
	}

	// A second copy would duplicate the journal and overwrite the state.
	_, err = store.Copy(ctx, from, to)
	if !errors.Is(err, termshift.ErrRefused) {
		t.Fatalf("copy into a target holding a state = %v, want ErrRefused", err)
	}
	for _, w := range []string{"already holds a state (revision 1, 1 releases, live current)", "2 journal entries", "credentials of current", "not overwritten"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("refusal %q does not say %q", err, w)
		}
	}
	if _, err := store.Copy(ctx, from, from); !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("copy onto itself = %v, want ErrInvalid", err)
	}
}
