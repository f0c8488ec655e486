package builtin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// drainTimeout bounds how long a switch into a maintenance window waits
// for the requests in flight.
const drainTimeout = 30 * time.Second

// drainErrPrefix starts the error a switch returns when the requests in
// flight did not finish: Remote recognises it among serve's errors.
const drainErrPrefix = "router: drain: "

// inflight counts the requests the router serves, in epochs, so that a
// drain waits for exactly the requests that started before it: a request
// registers in the current epoch before it reads the routing table, and a
// drain opens a new epoch after the table changed and waits for the older
// ones to empty. A request that read the table from before the change is
// counted in an epoch the drain waits for; one that registered after reads
// the new table.
type inflight struct {
	mu      sync.Mutex
	cur     atomic.Pointer[epoch]
	retired []*epoch // epochs a drain waited for and that had not emptied
}

type epoch struct{ n atomic.Int64 }

// enter registers a request; the function it returns ends it.
func (f *inflight) enter() func() {
	for {
		e := f.cur.Load()
		if e == nil {
			f.mu.Lock()
			if f.cur.Load() == nil {
				f.cur.Store(&epoch{})
			}
			f.mu.Unlock()
			continue
		}
		e.n.Add(1)
		if f.cur.Load() == e {
			return func() { e.n.Add(-1) }
		}
		e.n.Add(-1) // a drain began in between: register in the new epoch
	}
}

// drain waits until every request registered before it has ended; it
// returns how many it waited for.
func (f *inflight) drain(ctx context.Context) (int64, error) {
	f.mu.Lock()
	if old := f.cur.Swap(&epoch{}); old != nil {
		f.retired = append(f.retired, old)
	}
	wait := slices.Clone(f.retired)
	f.mu.Unlock()
	var first int64
	for _, e := range wait {
		first += e.n.Load()
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		var left int64
		for _, e := range wait {
			left += e.n.Load()
		}
		if left == 0 {
			f.mu.Lock()
			f.retired = slices.DeleteFunc(f.retired, func(e *epoch) bool { return slices.Contains(wait, e) })
			f.mu.Unlock()
			return first, nil
		}
		select {
		case <-ctx.Done():
			return first, fmt.Errorf("%s%d of %d requests in flight still running: %w", drainErrPrefix, left, first, ctx.Err())
		case <-tick.C:
		}
	}
}

// Drain waits until every request the router was serving when it was
// called has finished, at most drainTimeout (or until ctx ends). A switch
// into a maintenance window calls it, so that no write acknowledged by the
// live release is still running when the window's work begins.
func (r *Router) Drain(ctx context.Context) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	n, err := r.inflight.drain(ctx)
	if err != nil {
		r.log.Error("router: requests in flight did not finish", "err", err)
		return err
	}
	r.log.Info("router: drained", "requests", n, "waited", time.Since(start))
	return nil
}

// drainFailure finds a failed drain among the errors serve reported.
func drainFailure(errs []string) error {
	for _, e := range errs {
		if i := strings.Index(e, drainErrPrefix); i >= 0 {
			return errors.New(e[i:])
		}
	}
	return nil
}

// DrainsInFlight says that a switch into a maintenance window through
// serve returns only once the requests in flight have finished.
// Without a serve on this machine (routers following a shared state) no
// drain is confirmed.
func (r *Remote) DrainsInFlight() bool { return !r.Followed || r.Control.Running() }
