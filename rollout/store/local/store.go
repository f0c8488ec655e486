// Package local keeps an environment's state in a directory on one machine
// (default `.termshift/` beside termshift.yaml): state.json, written
// atomically and compare-and-swap on its revision under an advisory file
// lock; journal.jsonl, appended with O_APPEND; lock, created exclusively;
// secrets/RELEASE.json, mode 0600.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/store"
)

// Store is the state directory of one environment.
type Store struct {
	Dir string
}

var _ store.Backend = (*Store)(nil)

// New returns the backend for a state directory.
func New(dir string) *Store { return &Store{Dir: dir} }

// String names the directory.
func (st *Store) String() string { return st.Dir }

func (st *Store) statePath() string   { return filepath.Join(st.Dir, "state.json") }
func (st *Store) journalPath() string { return filepath.Join(st.Dir, "journal.jsonl") }
func (st *Store) lockPath() string    { return filepath.Join(st.Dir, "lock") }
func (st *Store) casPath() string     { return filepath.Join(st.Dir, ".state.cas") }
func (st *Store) secretsDir() string  { return filepath.Join(st.Dir, "secrets") }

// Init creates the state directory with private permissions.
func (st *Store) Init() error {
	for _, d := range []string{st.Dir, st.secretsDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create state directory: %w", err)
		}
	}
	return nil
}

// Load reads state.json; a missing file is an empty state.
func (st *Store) Load(_ context.Context) (*store.State, error) {
	return st.read()
}

func (st *Store) read() (*store.State, error) {
	data, err := os.ReadFile(st.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return &store.State{Version: store.StateVersion, Releases: map[string]*store.ReleaseState{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var s store.State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read state %s: %w (the file is damaged; restore it from a backup or move it aside)", st.statePath(), err)
	}
	if s.Version > store.StateVersion {
		return nil, fmt.Errorf("read state %s: version %d is newer than this termshift understands (%d): upgrade termshift", st.statePath(), s.Version, store.StateVersion)
	}
	if s.Releases == nil {
		s.Releases = map[string]*store.ReleaseState{}
	}
	return &s, nil
}

// Save writes state.json atomically when its stored revision is still
// s.Revision, and advances s.Revision. Writers on this machine serialise on
// an advisory lock, so the compare and the swap are one step.
func (st *Store) Save(_ context.Context, s *store.State) error {
	if err := st.Init(); err != nil {
		return err
	}
	unlock, err := st.flock()
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := st.read()
	if err != nil {
		return err
	}
	if cur.Revision != s.Revision {
		return &store.ConflictError{Where: st.Dir, Have: s.Revision, Stored: cur.Revision}
	}
	next := *s
	next.Version = store.StateVersion
	next.Revision = s.Revision + 1
	data, err := json.MarshalIndent(&next, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := termshift.WriteFileAtomic(st.statePath(), append(data, '\n'), 0o600); err != nil {
		return err
	}
	s.Version, s.Revision = next.Version, next.Revision
	return nil
}

// flock takes the directory's compare-and-swap lock; the kernel drops it
// when the process dies, so a crash never leaves it held.
func (st *Store) flock() (func(), error) {
	f, err := os.OpenFile(st.casPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state for writing: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock state for writing: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
