package rollout

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"syscall"
	"time"

	"github.com/termshift/termshift"
)

// LockInfo says who holds an environment's lock.
type LockInfo struct {
	User    string    `json:"user"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
	Token   string    `json:"token"`
}

func (h LockInfo) String() string {
	return fmt.Sprintf("%s@%s pid %d (%s) since %s", h.User, h.Host, h.PID, h.Command, h.Since.Format(time.RFC3339))
}

// Gone reports whether the holder ran on this host and its process is gone:
// the lock is stale.
func (h LockInfo) Gone() bool {
	host, _ := os.Hostname()
	if h.Host != host || h.PID <= 0 {
		return false
	}
	err := syscall.Kill(h.PID, 0)
	return errors.Is(err, syscall.ESRCH)
}

// LockedError is returned when another command holds the lock.
type LockedError struct {
	Holder LockInfo
}

func (e *LockedError) Error() string {
	msg := "locked by " + e.Holder.String()
	if e.Holder.Gone() {
		msg += fmt.Sprintf(" (process %d is gone: the lock is stale)", e.Holder.PID)
	}
	return msg
}

// Is makes LockedError match termshift.ErrLocked.
func (e *LockedError) Is(target error) bool { return target == termshift.ErrLocked }

// Lock is a held environment lock. One mutating command at a time holds it.
type Lock struct {
	st   Store
	info LockInfo
}

// Actor names who runs termshift: user@host.
func Actor() (userName, host string) {
	host, _ = os.Hostname()
	if u := os.Getenv("SUDO_USER"); u != "" {
		return u, host
	}
	if u, err := user.Current(); err == nil {
		return u.Username, host
	}
	return fmt.Sprintf("uid%d", os.Getuid()), host
}

func newLockInfo(command string, now time.Time) LockInfo {
	u, h := Actor()
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	return LockInfo{User: u, Host: h, PID: os.Getpid(), Command: command, Since: now.UTC(), Token: hex.EncodeToString(tok[:])}
}

// Acquire takes the environment's lock for command, or returns a
// *LockedError naming the holder.
func (st Store) Acquire(command string, now time.Time) (*Lock, error) {
	if err := st.Init(); err != nil {
		return nil, err
	}
	info := newLockInfo(command, now)
	data, _ := json.Marshal(info)
	f, err := os.OpenFile(st.lockPath(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		holder, herr := st.Holder()
		if herr != nil {
			return nil, herr
		}
		if holder == nil { // released between our two calls: try once more
			return st.Acquire(command, now)
		}
		return nil, &LockedError{Holder: *holder}
	}
	if err != nil {
		return nil, fmt.Errorf("take lock: %w", err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(st.lockPath())
		return nil, fmt.Errorf("take lock: %w", err)
	}
	return &Lock{st: st, info: info}, nil
}

// TakeOver replaces whatever lock is held by one for command and returns
// the former holder (nil if none). The former holder notices at its next
// step (Lock.Check) and stops.
func (st Store) TakeOver(command string, now time.Time) (*Lock, *LockInfo, error) {
	if err := st.Init(); err != nil {
		return nil, nil, err
	}
	prev, err := st.Holder()
	if err != nil {
		return nil, nil, err
	}
	info := newLockInfo(command, now)
	data, _ := json.Marshal(info)
	if err := writeFileAtomic(st.lockPath(), data, 0o600); err != nil {
		return nil, nil, fmt.Errorf("take over lock: %w", err)
	}
	return &Lock{st: st, info: info}, prev, nil
}

// Holder returns who holds the lock, or nil when nobody does.
func (st Store) Holder() (*LockInfo, error) {
	data, err := os.ReadFile(st.lockPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lock: %w", err)
	}
	var info LockInfo
	if err := json.Unmarshal(data, &info); err != nil {
		// A lock file that is not ours to parse (torn by a crash before
		// its first write completed) still locks: show what we can.
		fi, _ := os.Stat(st.lockPath())
		info = LockInfo{User: "unknown", Host: "unknown", Command: "unreadable lock file", Since: fi.ModTime()}
	}
	return &info, nil
}

// BreakLock removes the lock whoever holds it and returns the holder.
func (st Store) BreakLock() (*LockInfo, error) {
	holder, err := st.Holder()
	if err != nil || holder == nil {
		return holder, err
	}
	if err := os.Remove(st.lockPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("break lock: %w", err)
	}
	return holder, nil
}

// Info returns the lock's holder record.
func (l *Lock) Info() LockInfo { return l.info }

// Check confirms the lock is still ours; a command calls it before each step
// so that a `rollback --force` that took the lock over stops it.
func (l *Lock) Check() error {
	holder, err := l.st.Holder()
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
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	holder, err := l.st.Holder()
	if err != nil || holder == nil || holder.Token != l.info.Token {
		return err
	}
	if err := os.Remove(l.st.lockPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("release lock: %w", err)
	}
	return nil
}
