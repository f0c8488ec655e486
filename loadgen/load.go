// Package loadgen sends paced HTTP traffic at a URL, as users of a release
// would, while events (a cutover, a rollback, a maintenance window) happen,
// and reports what the traffic saw: requests sent and failed, latency, which
// release served each answer, how soon after each event the release it
// wanted answered, and, for write traffic, exactly which writes were
// acknowledged. The cutover benchmarks, the end-to-end test and `demo-lms
// load` use it.
//
// It depends on the standard library and the root package only, so the demo
// LMS and the benchmarks can share it without pulling in the orchestrator.
package loadgen

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/termshift/termshift"
)

// ServedByHeader is the response header naming the release that served a
// request; termshift's router sets it on every proxied response.
const ServedByHeader = "X-Termshift-Served-By"

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
	// Want, when set, is the release expected to serve after Do: the load
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

// Options describe one run of Run.
type Options struct {
	// URL receives every request: a GET, or with Writes a POST of the JSON
	// object {"id": ID} (e.g. the demo LMS's /api/writes).
	URL string
	// Rate is requests per second, Duration how long to send; at most
	// Rate*Duration requests go out.
	Rate     int
	Duration time.Duration
	Events   []Event
	// Writes makes every request a write with a unique id, RunID-NNNNNNNN
	// (the sequence number of the request, from 00000001), and the Result
	// lists the ids by outcome.
	Writes bool
	// RunID prefixes the write ids: 1-40 letters, digits, '.', '_' or '-'.
	// Empty: 12 random hex digits. Result.RunID says which was used.
	RunID string
	// ServedByHeader names the header that says which release answered;
	// empty: ServedByHeader.
	ServedByHeader string
}

// Class is what became of one request.
type Class string

const (
	// ClassOK: a 2xx answer; for a write, the acknowledgement.
	ClassOK Class = "2xx"
	// ClassMaintenance: 503, what termshift's router answers while the
	// maintenance window is on.
	ClassMaintenance Class = "503"
	// ClassServerError: any 5xx other than 503.
	ClassServerError Class = "5xx"
	// ClassOther: any other final status (4xx, or 3xx past the redirect
	// limit).
	ClassOther Class = "other"
	// ClassNoAnswer: no complete HTTP answer: refused or reset connection,
	// timeout, or a body cut short.
	ClassNoAnswer Class = "no-answer"
)

// Classes in the order reports print them.
var Classes = []Class{ClassOK, ClassMaintenance, ClassServerError, ClassOther, ClassNoAnswer}

// ClassStats counts the requests of one class and their latencies (for
// ClassNoAnswer, the time until the error).
type ClassStats struct {
	Count         int
	P50, P99, Max time.Duration
}

// Result is the outcome of one run.
type Result struct {
	Sent     int
	Failed   int           // requests of every class but ClassOK
	Errors   []string      // the first few failures
	P50, P99 time.Duration // of the requests that succeeded
	Max      time.Duration
	ServedBy map[string]int // successful responses per served-by header value
	// FailedBy counts the HTTP answers that were not 2xx per served-by
	// header value ("" when absent, e.g. the router's own 503).
	FailedBy map[string]int
	// ByClass has an entry for every class that occurred.
	ByClass map[Class]ClassStats
	Events  []EventResult
	Elapsed time.Duration

	// RunID and the id lists are set for writes only; each list is in
	// sending order and every id sent is in exactly one of them.
	RunID        string
	Acked        []string // 2xx: the writes the server acknowledged
	Maintenance  []string // 503
	ServerErrors []string // other 5xx
	Rejected     []string // any other status
	NoAnswer     []string // no complete answer: the write may or may not have happened
}

func (r Result) String() string {
	s := fmt.Sprintf("sent %d, failed %d, p50 %s, p99 %s, max %s, served by %v",
		r.Sent, r.Failed, r.P50, r.P99, r.Max, r.ServedBy)
	if r.Failed > 0 {
		s += ", failures:"
		for _, c := range Classes[1:] {
			if st, ok := r.ByClass[c]; ok {
				s += fmt.Sprintf(" %s %d", c, st.Count)
			}
		}
	}
	if r.RunID != "" {
		s += fmt.Sprintf(", writes %s: %d acknowledged", r.RunID, len(r.Acked))
	}
	for _, e := range r.Events {
		if e.Switched {
			s += fmt.Sprintf("; %s: %s served after %s", e.Name, e.Want, e.Switch)
		} else if e.Want != "" {
			s += fmt.Sprintf("; %s: %s never served", e.Name, e.Want)
		}
	}
	return s
}

var runIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,40}$`)

// Load sends GET requests to url at rate per second for dur; see Run.
func Load(ctx context.Context, url string, rate int, dur time.Duration, events []Event) Result {
	return run(ctx, Options{URL: url, Rate: max(rate, 1), Duration: dur, Events: events})
}

// Run sends paced requests from several workers over keep-alive
// connections, and runs events at their times. It sends at most
// Rate*Duration requests and returns at most a request timeout after
// Duration, or earlier when ctx is done: then it stops sending, and requests
// already sent finish, so stopping the load fails no request. A request that
// cannot start on time because every worker is busy waits for one: latency
// is measured from when it was sent. Options that cannot work are refused
// with termshift.ErrInvalid before anything is sent.
func Run(ctx context.Context, o Options) (Result, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Result{}, fmt.Errorf("loadgen: url %s: want an absolute http:// or https:// URL: %w", termshift.Quote(o.URL), termshift.ErrInvalid)
	}
	if o.Rate < 1 {
		return Result{}, fmt.Errorf("loadgen: rate %d: want at least 1 request per second: %w", o.Rate, termshift.ErrInvalid)
	}
	if o.Duration <= 0 {
		return Result{}, fmt.Errorf("loadgen: duration %s: want more than 0: %w", o.Duration, termshift.ErrInvalid)
	}
	if o.RunID != "" && !runIDRE.MatchString(o.RunID) {
		return Result{}, fmt.Errorf("loadgen: run id %s: want 1-40 letters, digits, '.', '_' or '-': %w", termshift.Quote(o.RunID), termshift.ErrInvalid)
	}
	return run(ctx, o), nil
}

// NewRunID returns 12 random hex digits.
func NewRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// WriteID is the id of the write with sequence number seq (from 1) of a run.
func WriteID(runID string, seq int) string {
	return fmt.Sprintf("%s-%08d", runID, seq)
}

type sample struct {
	seq      int
	latency  time.Duration
	done     time.Time
	status   int // 0: no answer
	servedBy string
	err      error
}

func (s sample) class() Class {
	switch {
	case s.status == 0:
		return ClassNoAnswer
	case s.status >= 200 && s.status <= 299:
		return ClassOK
	case s.status == http.StatusServiceUnavailable:
		return ClassMaintenance
	case s.status >= 500 && s.status <= 599:
		return ClassServerError
	}
	return ClassOther
}

func run(ctx context.Context, o Options) Result {
	total := int(int64(o.Rate) * int64(o.Duration) / int64(time.Second))
	header := cmp.Or(o.ServedByHeader, ServedByHeader)
	if o.Writes && o.RunID == "" {
		o.RunID = NewRunID()
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration+requestTimeout)
	defer cancel()

	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        workers,
		MaxIdleConnsPerHost: workers,
		IdleConnTimeout:     time.Minute,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: requestTimeout}
	send := func(ctx context.Context, seq int) sample {
		if o.Writes {
			body := []byte(`{"id":"` + WriteID(o.RunID, seq) + `"}`)
			return request(ctx, client, http.MethodPost, o.URL, body, header)
		}
		return request(ctx, client, http.MethodGet, o.URL, nil, header)
	}

	var (
		mu      sync.Mutex
		results = make([]EventResult, len(o.Events))
		fired   = make([]time.Time, len(o.Events))
		samples = make([]sample, 0, min(total, 1<<16))
	)
	for i, e := range o.Events {
		results[i] = EventResult{Name: e.Name, Want: e.Want}
	}
	// record keeps a response and marks the events waiting on its release.
	record := func(s sample) {
		mu.Lock()
		defer mu.Unlock()
		samples = append(samples, s)
		if s.err != nil || s.servedBy == "" {
			return
		}
		for i := range results {
			r := &results[i]
			if r.Switched || r.Want != s.servedBy || fired[i].IsZero() || !s.done.After(fired[i]) {
				continue
			}
			r.Switch, r.Switched = s.done.Sub(fired[i]), true
		}
	}

	reqCtx := context.WithoutCancel(ctx)
	start := time.Now()
	// Slots are zero-sized, so a buffer for every request costs nothing and
	// the pacer never waits for a busy worker.
	slots := make(chan struct{}, total)
	var seq atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range slots {
				n := int(seq.Add(1))
				s := send(reqCtx, n)
				s.seq = n
				record(s)
			}
		})
	}
	for i, e := range o.Events {
		if e.At > o.Duration || e.Do == nil {
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

	interval := time.Second / time.Duration(o.Rate)
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
	return summarize(samples, results, o, time.Since(start))
}

func summarize(samples []sample, events []EventResult, o Options, elapsed time.Duration) Result {
	res := Result{ServedBy: map[string]int{}, FailedBy: map[string]int{}, ByClass: map[Class]ClassStats{}, Events: events, Elapsed: elapsed}
	if o.Writes {
		res.RunID = o.RunID
	}
	slices.SortFunc(samples, func(a, b sample) int { return a.seq - b.seq })
	lat := map[Class][]time.Duration{}
	for _, s := range samples {
		res.Sent++
		c := s.class()
		lat[c] = append(lat[c], s.latency)
		if o.Writes {
			id := WriteID(o.RunID, s.seq)
			switch c {
			case ClassOK:
				res.Acked = append(res.Acked, id)
			case ClassMaintenance:
				res.Maintenance = append(res.Maintenance, id)
			case ClassServerError:
				res.ServerErrors = append(res.ServerErrors, id)
			case ClassOther:
				res.Rejected = append(res.Rejected, id)
			default:
				res.NoAnswer = append(res.NoAnswer, id)
			}
		}
		if c == ClassOK {
			res.ServedBy[s.servedBy]++
			continue
		}
		res.Failed++
		if c != ClassNoAnswer {
			res.FailedBy[s.servedBy]++
		}
		if len(res.Errors) < maxErrorsKept {
			res.Errors = append(res.Errors, s.err.Error())
		}
	}
	for c, l := range lat {
		slices.Sort(l)
		res.ByClass[c] = ClassStats{Count: len(l), P50: percentile(l, 0.50), P99: percentile(l, 0.99), Max: l[len(l)-1]}
	}
	if ok, found := res.ByClass[ClassOK]; found {
		res.P50, res.P99, res.Max = ok.P50, ok.P99, ok.Max
	}
	return res
}

// request sends one request and reads the whole answer; err is set for
// every outcome but a 2xx.
func request(ctx context.Context, client *http.Client, method, url string, body []byte, header string) sample {
	sent := time.Now()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return sample{err: err, done: time.Now()}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		done := time.Now()
		return sample{latency: done.Sub(sent), done: done, err: err}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	done := time.Now()
	servedBy := resp.Header.Get(header)
	s := sample{latency: done.Sub(sent), done: done, status: resp.StatusCode, servedBy: servedBy}
	switch {
	case err != nil:
		// The answer was cut short: whatever its status, it did not arrive.
		s.status, s.err = 0, fmt.Errorf("read answer %d from %s: %w", resp.StatusCode, cmp.Or(servedBy, "?"), err)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		s.err = errors.New("status " + resp.Status + " from " + servedBy)
	}
	return s
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
