package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/store"
)

// Lock is a held environment lock: the lock file, created exclusively.
type Lock struct {
	st   *Store
	info store.LockInfo
}

var _ store.Lock = (*Lock)(nil)

// Acquire takes the environment's lock for command. When another command
// holds it, it returns a *store.LockedError naming the holder; a holder
// whose process is gone from this host is replaced, and returned.
func (st *Store) Acquire(ctx context.Context, command string) (store.Lock, *store.LockInfo, error) {
	if err := st.Init(); err != nil {
		return nil, nil, err
	}
	info := store.NewLockInfo(command, time.Now())
	data, _ := json.Marshal(info)
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(st.lockPath(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			holder, herr := st.Holder(ctx)
			if herr != nil {
				return nil, nil, herr
			}
			if holder == nil && attempt < 3 { // released between our two calls
				continue
			}
			if holder == nil {
				return nil, nil, fmt.Errorf("take lock %s: it keeps appearing and disappearing", st.lockPath())
			}
			gone, why := store.HolderGone(*holder)
			if !gone {
				return nil, nil, &store.LockedError{Holder: *holder, Why: why}
			}
			// A stale lock of a dead process on this host: replace it, but
			// only if it is still that one (another command may have just
			// done the same).
			unlock, err := st.flock()
			if err != nil {
				return nil, nil, err
			}
			now, herr := st.Holder(ctx)
			if herr != nil || now == nil || now.Token != holder.Token {
				unlock()
				continue
			}
			werr := termshift.WriteFileAtomic(st.lockPath(), data, 0o600)
			unlock()
			if werr != nil {
				return nil, nil, fmt.Errorf("take over stale lock: %w", werr)
			}
			return &Lock{st: st, info: info}, holder, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("take lock: %w", err)
		}
		_, werr := f.Write(data)
		serr := f.Sync()
		cerr := f.Close()
		if err := errors.Join(werr, serr, cerr); err != nil {
			_ = os.Remove(st.lockPath())
			return nil, nil, fmt.Errorf("take lock: %w", err)
		}
		return &Lock{st: st, info: info}, nil, nil
	}
}

// TakeOver replaces whatever lock is held by one for command and returns
// the former holder (nil if none). The former holder notices at its next
// step (Lock.Check) and stops; its state writes are refused from then on
// because the state's revision moved on.
func (st *Store) TakeOver(ctx context.Context, command string) (store.Lock, *store.LockInfo, error) {
	if err := st.Init(); err != nil {
		return nil, nil, err
	}
	prev, err := st.Holder(ctx)
	if err != nil {
		return nil, nil, err
	}
	info := store.NewLockInfo(command, time.Now())
	data, _ := json.Marshal(info)
	if err := termshift.WriteFileAtomic(st.lockPath(), data, 0o600); err != nil {
		return nil, nil, fmt.Errorf("take over lock: %w", err)
	}
	return &Lock{st: st, info: info}, prev, nil
}

// Holder returns who holds the lock, or nil when nobody does.
func (st *Store) Holder(_ context.Context) (*store.LockInfo, error) {
	data, err := os.ReadFile(st.lockPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lock: %w", err)
	}
	var info store.LockInfo
	if err := json.Unmarshal(data, &info); err != nil {
		// A lock file that is not ours to parse (torn by a crash before
		// its first write completed) still locks: show what we can.
		fi, _ := os.Stat(st.lockPath())
		info = store.LockInfo{User: "unknown", Host: "unknown", Command: "unreadable lock file " + st.lockPath()}
		if fi != nil {
			info.Since = fi.ModTime()
		}
	}
	return &info, nil
}

// BreakLock removes the lock whoever holds it and returns the holder.
func (st *Store) BreakLock(ctx context.Context) (*store.LockInfo, error) {
	holder, err := st.Holder(ctx)
	if err != nil || holder == nil {
		return holder, err
	}
	if err := os.Remove(st.lockPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("break lock: %w", err)
	}
	return holder, nil
}

// Info returns the lock's holder record.
func (l *Lock) Info() store.LockInfo { return l.info }

// Check confirms the lock is still ours.
func (l *Lock) Check(ctx context.Context) error {
	holder, err := l.st.Holder(ctx)
	if err != nil {
		return err
	}
	if holder == nil || holder.Token != l.info.Token {
		who := "nobody (the lock was broken)"
		if holder != nil {
			who = holder.String()
		}
		return fmt.Errorf("the lock was taken over by %s: stopping before the next step: %w", who, termshift.ErrLocked)
	}
	return nil
}

// Release gives the lock up if it is still ours.
func (l *Lock) Release(ctx context.Context) error {
	if l == nil {
		return nil
	}
	holder, err := l.st.Holder(ctx)
	if err != nil || holder == nil || holder.Token != l.info.Token {
		return err
	}
	if err := os.Remove(l.st.lockPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("release lock: %w", err)
	}
	return nil
}
