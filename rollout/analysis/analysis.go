// Package analysis judges one step of a progressive cutover: the success
// rate and the p99 latency of the release taking a share of the traffic
// (the canary) and of the live release, from the router's own counters over
// the step's window (Flagger's two built-in metrics), against thresholds;
// optionally Prometheus queries with success conditions as a second
// provider (prometheus.go). A step with too few canary requests is
// inconclusive: it never promotes.
package analysis

import (
	"fmt"
	"strings"
	"time"

	"github.com/termshift/termshift/rollout/router/builtin"
)

// Verdicts of a step.
const (
	Pass         = "pass"
	Fail         = "fail"
	Inconclusive = "inconclusive"
)

// Thresholds are what a step must show to pass.
type Thresholds struct {
	// MaxErrorRate is the highest share of 5xx answers, in percent.
	MaxErrorRate float64
	// MaxP99 is the highest 99th percentile latency; 0 does not check it.
	MaxP99 time.Duration
	// MinRequests is how many canary requests a step needs to be judged.
	MinRequests uint64
}

// Sample is one release's traffic over a window.
type Sample struct {
	Requests  uint64        `json:"requests"`
	Errors    uint64        `json:"errors"`     // 5xx answers
	ErrorRate float64       `json:"error_rate"` // percent
	P50       time.Duration `json:"p50_ns"`
	P99       time.Duration `json:"p99_ns"`
}

func (s Sample) String() string {
	if s.Requests == 0 {
		return "0 requests"
	}
	return fmt.Sprintf("%d requests, %.2f%% errors, p99 %s", s.Requests, s.ErrorRate, s.P99.Round(time.Millisecond/10))
}

// Between is the traffic between two readings of the router's counters.
func Between(before, after builtin.Traffic) Sample {
	var s Sample
	s.Requests, s.Errors = after.Since(before)
	if s.Requests > 0 {
		s.ErrorRate = 100 * float64(s.Errors) / float64(s.Requests)
	}
	s.P50, s.P99 = after.Latency(before)
	return s
}

// Result is the judgement of one step.
type Result struct {
	Verdict string `json:"verdict"`
	// Metric names what failed ("error rate", "p99", a query's name) and
	// Value its value against the threshold; "" when nothing failed.
	Metric string        `json:"metric,omitempty"`
	Value  string        `json:"value,omitempty"`
	Canary Sample        `json:"canary"`
	Live   Sample        `json:"live"`
	Checks []QueryResult `json:"checks,omitempty"`
	Window time.Duration `json:"window_ns"`
	Detail string        `json:"detail"`
}

// Judge compares a step's canary traffic with the thresholds; live's is
// reported beside it. Too few canary requests is inconclusive, whatever
// they show; otherwise the error rate, then the p99, decide.
func Judge(canary, live Sample, th Thresholds, window time.Duration) Result {
	r := Result{Verdict: Pass, Canary: canary, Live: live, Window: window}
	switch {
	case canary.Requests < max(th.MinRequests, 1):
		r.Verdict = Inconclusive
		r.Metric, r.Value = "requests", fmt.Sprintf("%d < %d (minimum)", canary.Requests, max(th.MinRequests, 1))
	case canary.ErrorRate > th.MaxErrorRate:
		r.Verdict = Fail
		r.Metric, r.Value = "error rate", fmt.Sprintf("%.2f%% > %v%% (%d of %d requests)", canary.ErrorRate, th.MaxErrorRate, canary.Errors, canary.Requests)
	case th.MaxP99 > 0 && canary.P99 > th.MaxP99:
		r.Verdict = Fail
		r.Metric, r.Value = "p99", fmt.Sprintf("%s > %s", canary.P99.Round(time.Millisecond/10), th.MaxP99)
	}
	r.Detail = r.describe()
	return r
}

// AddChecks adds the Prometheus checks' outcomes: a failed check fails a
// step that passed on the router's counters, and one that could not run
// makes it inconclusive.
func (r *Result) AddChecks(checks []QueryResult) {
	r.Checks = append(r.Checks, checks...)
	for _, c := range checks {
		if r.Verdict != Pass {
			break
		}
		switch {
		case c.Err != "":
			r.Verdict, r.Metric, r.Value = Inconclusive, c.Name, c.Err
		case !c.Passed:
			r.Verdict, r.Metric, r.Value = Fail, c.Name, fmt.Sprintf("%g, want %s", c.Value, c.Condition)
		}
	}
	r.Detail = r.describe()
}

func (r Result) describe() string {
	var b strings.Builder
	b.WriteString(r.Verdict)
	if r.Metric != "" {
		fmt.Fprintf(&b, " (%s %s)", r.Metric, r.Value)
	}
	fmt.Fprintf(&b, ": canary %s; live %s", r.Canary, r.Live)
	for _, c := range r.Checks {
		if c.Err != "" {
			fmt.Fprintf(&b, "; %s: %s", c.Name, c.Err)
		} else {
			fmt.Fprintf(&b, "; %s %g (want %s)", c.Name, c.Value, c.Condition)
		}
	}
	return b.String()
}
