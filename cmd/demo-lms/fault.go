package main

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/termshift/termshift"
)

// maxFaultDelay bounds --fault-delay: a slow release, not a hung one.
const maxFaultDelay = time.Minute

// FaultOptions make a share of the requests fail or slow down, like a bad
// patch release would, so that a progressive cutover's analysis has
// something to catch. /heartbeat is never touched: health stays green and
// only the traffic shows the fault.
type FaultOptions struct {
	Rate      float64       // share of requests answered 500
	Delay     time.Duration // added to the slowed requests
	DelayRate float64       // share of requests slowed by Delay
	// Seed of the process's random source; 0: a random seed.
	Seed uint64
}

// Validate refuses shares outside 0-1 and delays outside 0-1m, naming the flag.
func (o FaultOptions) Validate() error {
	switch {
	case !(o.Rate >= 0 && o.Rate <= 1):
		return fmt.Errorf("--fault-rate %v: want a share from 0 to 1: %w", o.Rate, termshift.ErrInvalid)
	case !(o.DelayRate >= 0 && o.DelayRate <= 1):
		return fmt.Errorf("--fault-delay-rate %v: want a share from 0 to 1: %w", o.DelayRate, termshift.ErrInvalid)
	case o.Delay < 0 || o.Delay > maxFaultDelay:
		return fmt.Errorf("--fault-delay %s: want 0 to %s: %w", o.Delay, maxFaultDelay, termshift.ErrInvalid)
	}
	return nil
}

func (o FaultOptions) active() bool { return o.Rate > 0 || (o.Delay > 0 && o.DelayRate > 0) }

// faults draws, for each request, whether it is slowed and whether it fails,
// from one random source per process.
type faults struct {
	opts FaultOptions
	mu   sync.Mutex
	rnd  *mrand.Rand
}

// newFaults returns the fault injector of opts; the seed it used is in
// opts() (a random one when opts.Seed is 0), so a run can be repeated.
func newFaults(opts FaultOptions) *faults {
	if opts.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		opts.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	return &faults{opts: opts, rnd: mrand.New(mrand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))}
}

// draw says what happens to one request.
func (f *faults) draw() (slow, fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	slow = f.opts.Delay > 0 && f.rnd.Float64() < f.opts.DelayRate
	fail = f.rnd.Float64() < f.opts.Rate
	return slow, fail
}

// wrap applies the faults to every request but /heartbeat. A faulted
// answer carries X-LMS-Fault, so a person reading it knows it was injected.
func (f *faults) wrap(next http.Handler) http.Handler {
	if f == nil || !f.opts.active() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/heartbeat" {
			next.ServeHTTP(w, r)
			return
		}
		slow, fail := f.draw()
		if slow {
			w.Header().Add("X-LMS-Fault", "delay")
			t := time.NewTimer(f.opts.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if fail {
			w.Header().Add("X-LMS-Fault", "error")
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "injected fault (demo-lms web --fault-rate)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}
