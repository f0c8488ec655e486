// Package bench measures what a cutover costs the users of a release: Load
// sends paced HTTP traffic at a URL while events (a cutover, a rollback)
// happen, and reports failed requests, latency and how soon after each event
// the new release answered. The cutover benchmark and the demo use it.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/termshift/termshift/rollout/router"
)

const (
	workers        = 32
	requestTimeout = 5 * time.Second
	maxErrorsKept  = 10
)

// Event is something done during the load, e.g. a cutover.
type Event struct {
	Name string
	// At is when Do runs, measured from the start of the load; an event
	// after the load's duration does not run.
	At time.Duration
	Do func()
	// Want, when set, is the release expected to serve after Do: Load
	// measures the time from the call of Do to the first response served by
	// Want.
	Want string
}

// EventResult is what one event did to the traffic.
type EventResult struct {
	Name string
	Want string
	// Switch is the time from the call of Do to the first response served
	// by Want; zero with Switched false when none came.
	Switch   time.Duration
	Switched bool
}

// Result is the outcome of one Load.
type Result struct {
	Sent     int
	Failed   int           // transport errors and non-2xx answers
	Errors   []string      // the first few failures
	P50, P99 time.Duration // of the requests that succeeded
	Max      time.Duration
	ServedBy map[string]int // responses per X-Termshift-Served-By
	Events   []EventResult
	Elapsed  time.Duration
}

func (r Result) String() string {
	s := fmt.Sprintf("sent %d, failed %d, p50 %s, p99 %s, max %s, served by %v",
		r.Sent, r.Failed, r.P50, r.P99, r.Max, r.ServedBy)
	for _, e := range r.Events {
		if e.Switched {
			s += fmt.Sprintf("; %s: %s served after %s", e.Name, e.Want, e.Switch)
		} else if e.Want != "" {
			s += fmt.Sprintf("; %s: %s never served", e.Name, e.Want)
		}
	}
	return s
}

type sample struct {
	latency  time.Duration
	done     time.Time
	servedBy string
	err      error
}

// Load sends GET requests to url at rate per second for dur, from several
// workers over keep-alive connections, and runs events at their times. It
// sends at most rate*dur requests and returns at most a request timeout
// after dur, or earlier when ctx is done. A request that cannot start on
// time because every worker is busy waits for one: latency is measured from
// when it was sent.
func Load(ctx context.Context, url string, rate int, dur time.Duration, events []Event) Result {
	rate = max(rate, 1)
	total := int(int64(rate) * int64(dur) / int64(time.Second))
	ctx, cancel := context.WithTimeout(ctx, dur+requestTimeout)
	defer cancel()

	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        workers,
		MaxIdleConnsPerHost: workers,
		IdleConnTimeout:     time.Minute,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: requestTimeout}

	var (
		mu      sync.Mutex
		results = make([]EventResult, len(events))
		fired   = make([]time.Time, len(events))
	)
	for i, e := range events {
		results[i] = EventResult{Name: e.Name, Want: e.Want}
	}
	// observe records a response for the events waiting on its release.
	observe := func(s sample) {
		if s.err != nil || s.servedBy == "" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range results {
			r := &results[i]
			if r.Switched || r.Want != s.servedBy || fired[i].IsZero() || !s.done.After(fired[i]) {
				continue
			}
			r.Switch, r.Switched = s.done.Sub(fired[i]), true
		}
	}

	// Cancelling ctx stops sending; requests already sent finish (bounded
	// by the client's timeout), so stopping the load fails no request.
	reqCtx := context.WithoutCancel(ctx)
	start := time.Now()
	slots := make(chan struct{}, total)
	samples := make(chan sample, total)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range slots {
				s := get(reqCtx, client, url)
				observe(s)
				samples <- s
			}
		})
	}
	for i, e := range events {
		if e.At > dur || e.Do == nil {
			continue
		}
		wg.Go(func() {
			t := time.NewTimer(time.Until(start.Add(e.At)))
			defer t.Stop()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// A response served before fired is set cannot count for this
			// event, and one completed after Do started may, which is what
			// "from the call" means.
			mu.Lock()
			fired[i] = time.Now()
			mu.Unlock()
			e.Do()
		})
	}

	interval := time.Second / time.Duration(rate)
pace:
	for i := range total {
		next := start.Add(time.Duration(i) * interval)
		if d := time.Until(next); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				break pace
			case <-t.C:
			}
		}
		slots <- struct{}{}
	}
	close(slots)
	wg.Wait()
	close(samples)

	res := Result{ServedBy: map[string]int{}, Events: results, Elapsed: time.Since(start)}
	var lat []time.Duration
	for s := range samples {
		res.Sent++
		if s.err != nil {
			res.Failed++
			if len(res.Errors) < maxErrorsKept {
				res.Errors = append(res.Errors, s.err.Error())
			}
			continue
		}
		res.ServedBy[s.servedBy]++
		lat = append(lat, s.latency)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50 = percentile(lat, 0.50)
		res.P99 = percentile(lat, 0.99)
		res.Max = lat[len(lat)-1]
	}
	return res
}

func get(ctx context.Context, client *http.Client, url string) sample {
	sent := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return sample{err: err}
	}
	resp, err := client.Do(req)
	if err != nil {
		return sample{err: err}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	done := time.Now()
	if err == nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		err = errors.New("status " + resp.Status + " from " + resp.Header.Get(router.ServedByHeader))
	}
	return sample{latency: done.Sub(sent), done: done, servedBy: resp.Header.Get(router.ServedByHeader), err: err}
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
