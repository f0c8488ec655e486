package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/store"
)

const lockName = "lock"

// Lock is a held environment lock: the lock object, whose lease a
// heartbeat renews until Release.
type Lock struct {
	st *Store

	mu   sync.Mutex
	info store.LockInfo
	etag string // the lock object's ETag as we last wrote it

	stopOnce sync.Once
	stop     context.CancelFunc
	done     chan struct{}
}

var _ store.Lock = (*Lock)(nil)

// newInfo describes this process as the holder of a lock for command,
// with a fresh lease.
func (st *Store) newInfo(command string) store.LockInfo {
	now := time.Now()
	info := store.NewLockInfo(command, now)
	info.Host = st.cfg.Host
	info.Expires = now.Add(st.cfg.Lease).UTC()
	return info
}

// Acquire creates the lock object for command with If-None-Match: *. When
// another command holds it, it returns a *store.LockedError naming the
// holder and its lease; a holder on this host whose process is gone is
// replaced (and returned); a holder whose lease expired is reported with
// Gone set, for the operator to take over with TakeOver or BreakLock.
func (st *Store) Acquire(ctx context.Context, command string) (store.Lock, *store.LockInfo, error) {
	info := st.newInfo(command)
	for attempt := 0; attempt < 5; attempt++ {
		etag, err := st.putLock(ctx, info, "")
		if err == nil {
			return st.hold(info, etag), nil, nil
		}
		if !refused(err) {
			return nil, nil, err
		}
		holder, hetag, err := st.readLock(ctx)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case holder == nil: // released between our two requests
			continue
		case holder.Token == info.Token: // our create went through; its answer was lost
			return st.hold(info, hetag), nil, nil
		}
		if holder.Host == st.cfg.Host {
			if gone, _ := store.HolderGone(*holder); gone {
				// Replace it only if it is still that one: another command
				// may have just done the same.
				etag, err := st.putLock(ctx, info, hetag)
				if refused(err) {
					continue
				}
				if err != nil {
					return nil, nil, err
				}
				return st.hold(info, etag), holder, nil
			}
		}
		return nil, nil, st.lockedError(*holder)
	}
	return nil, nil, fmt.Errorf("take lock %s: it keeps changing hands; try again", st.uri(st.key(lockName)))
}

// lockedError says who holds the lock and how long their lease runs.
func (st *Store) lockedError(h store.LockInfo) *store.LockedError {
	now := time.Now()
	switch {
	case h.Expires.IsZero():
		return &store.LockedError{Holder: h, Why: "the lock object holds no lease: take it over if its holder is gone"}
	case now.After(h.Expires):
		ago := "less than a second ago"
		if d := now.Sub(h.Expires).Round(time.Second); d > 0 {
			ago = d.String() + " ago"
		}
		return &store.LockedError{Holder: h, Gone: true,
			Why: fmt.Sprintf("its lease expired at %s, %s: the holder stopped renewing it (killed, or cut off from %s); if it is truly gone, take the lock over with `termshift unlock --force --reason TEXT` or `termshift rollback --force --reason TEXT` (journaled)",
				h.Expires.UTC().Format(time.RFC3339), ago, st)}
	}
	where := "from this host"
	if h.Host != st.cfg.Host {
		where = "from host " + h.Host
	}
	return &store.LockedError{Holder: h,
		Why: fmt.Sprintf("held %s; its lease runs until %s and is renewed while the command runs", where, h.Expires.UTC().Format(time.RFC3339))}
}

// TakeOver replaces whatever lock is held by one for command and returns
// the former holder (nil if none). The former holder's heartbeat and
// Check notice and it stops; its state writes are refused because the
// state's revision moved on.
func (st *Store) TakeOver(ctx context.Context, command string) (store.Lock, *store.LockInfo, error) {
	info := st.newInfo(command)
	for attempt := 0; attempt < 10; attempt++ {
		prev, etag, err := st.readLock(ctx)
		if err != nil {
			return nil, nil, err
		}
		if prev != nil && prev.Token == info.Token {
			return st.hold(info, etag), nil, nil
		}
		newETag, err := st.putLock(ctx, info, etag)
		if refused(err) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		return st.hold(info, newETag), prev, nil
	}
	return nil, nil, fmt.Errorf("take over lock %s: it keeps changing hands; try again", st.uri(st.key(lockName)))
}

// Holder returns who holds the lock, or nil when nobody does.
func (st *Store) Holder(ctx context.Context) (*store.LockInfo, error) {
	h, _, err := st.readLock(ctx)
	return h, err
}

// BreakLock removes the lock whoever holds it and returns the holder.
func (st *Store) BreakLock(ctx context.Context) (*store.LockInfo, error) {
	key := st.key(lockName)
	for attempt := 0; attempt < 10; attempt++ {
		holder, etag, err := st.readLock(ctx)
		if err != nil || holder == nil {
			return holder, err
		}
		_, err = st.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: st.bucket(), Key: aws.String(key), IfMatch: aws.String(etag)})
		if refused(err) {
			continue
		}
		if err != nil {
			return nil, st.fail("break lock", key, err)
		}
		return holder, nil
	}
	return nil, fmt.Errorf("break lock %s: it keeps changing hands; try again", st.uri(key))
}

// putLock writes the lock object: created when etag is "" (If-None-Match:
// *), else replaced only if it still has etag.
func (st *Store) putLock(ctx context.Context, info store.LockInfo, etag string) (string, error) {
	key := st.key(lockName)
	data, err := json.Marshal(info)
	if err != nil {
		return "", fmt.Errorf("encode lock: %w", err)
	}
	in := &awss3.PutObjectInput{Bucket: st.bucket(), Key: aws.String(key), Body: bytes.NewReader(data), ContentType: aws.String("application/json")}
	if etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(etag)
	}
	out, err := st.client.PutObject(ctx, in)
	if refused(err) {
		return "", err
	}
	if err != nil {
		return "", st.fail("write lock", key, err)
	}
	return aws.ToString(out.ETag), nil
}

// readLock returns the lock's holder and the object's ETag; nil when
// nobody holds it.
func (st *Store) readLock(ctx context.Context) (*store.LockInfo, string, error) {
	key := st.key(lockName)
	out, err := st.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: st.bucket(), Key: aws.String(key)})
	if notFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", st.fail("read lock", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, 1<<20))
	if err != nil {
		return nil, "", st.fail("read lock", key, err)
	}
	var info store.LockInfo
	if err := json.Unmarshal(data, &info); err != nil || info.Token == "" {
		// Not ours to parse: it still locks; show what we can.
		info = store.LockInfo{User: "unknown", Host: "unknown", Command: "unreadable lock object " + st.uri(key)}
		if out.LastModified != nil {
			info.Since = *out.LastModified
		}
	}
	return &info, aws.ToString(out.ETag), nil
}

// hold starts the heartbeat of a lock just taken.
func (st *Store) hold(info store.LockInfo, etag string) *Lock {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Lock{st: st, info: info, etag: etag, stop: cancel, done: make(chan struct{})}
	go l.heartbeat(ctx)
	return l
}

// heartbeat renews the lease every third of it until Release, or until the
// lock is no longer ours. A renewal that fails for the network is tried
// again at the next beat: the lease outlives two failed beats.
func (l *Lock) heartbeat(ctx context.Context) {
	defer close(l.done)
	every := l.st.cfg.Lease / 3
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		ours, err := l.renew(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			l.st.cfg.Logger.Warn("renew lock lease", "lock", l.st.uri(l.st.key(lockName)), "err", err)
			continue
		}
		if !ours {
			l.st.cfg.Logger.Warn("lock taken over: lease no longer renewed", "lock", l.st.uri(l.st.key(lockName)))
			return
		}
	}
}

// renew extends the lease if the lock is still ours.
func (l *Lock) renew(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	info := l.info
	info.Expires = time.Now().Add(l.st.cfg.Lease).UTC()
	etag, err := l.st.putLock(ctx, info, l.etag)
	if err == nil {
		l.info, l.etag = info, etag
		return true, nil
	}
	if !refused(err) {
		return true, err
	}
	// Refused: taken over, broken, or our last renewal went through and
	// its answer was lost. The object says which.
	holder, hetag, rerr := l.st.readLock(ctx)
	if rerr != nil {
		return true, rerr
	}
	if holder == nil || holder.Token != l.info.Token {
		return false, nil
	}
	l.info, l.etag = *holder, hetag
	return true, nil
}

// Info returns the lock's holder record, with its current lease.
func (l *Lock) Info() store.LockInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// Check confirms the lock is still ours.
func (l *Lock) Check(ctx context.Context) error {
	holder, _, err := l.st.readLock(ctx)
	if err != nil {
		return err
	}
	if holder == nil || holder.Token != l.Info().Token {
		who := "nobody (the lock was broken)"
		if holder != nil {
			who = holder.String()
		}
		return fmt.Errorf("the lock was taken over by %s: stopping before the next step: %w", who, termshift.ErrLocked)
	}
	return nil
}

// Release stops renewing the lease and removes the lock object if it is
// still ours.
func (l *Lock) Release(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.stopOnce.Do(func() {
		l.stop()
		<-l.done
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	key := l.st.key(lockName)
	for attempt := 0; attempt < 3; attempt++ {
		_, err := l.st.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: l.st.bucket(), Key: aws.String(key), IfMatch: aws.String(l.etag)})
		if err == nil || notFound(err) {
			return nil
		}
		if !refused(err) {
			return l.st.fail("release lock", key, err)
		}
		holder, hetag, err := l.st.readLock(ctx)
		if err != nil {
			return err
		}
		if holder == nil || holder.Token != l.info.Token {
			return nil // no longer ours: nothing to release
		}
		l.etag = hetag
	}
	return fmt.Errorf("release lock %s: it keeps changing; it will expire at %s", l.st.uri(key), l.info.Expires.Format(time.RFC3339))
}
