package dashboard

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/termshift/termshift/rollout/router/builtin"
)

// Rates are one release's live traffic over the sampler's window.
type Rates struct {
	Requests  uint64        `json:"requests"`
	RPS       float64       `json:"rps"`
	ErrorRate float64       `json:"error_rate"` // 5xx answers / answers
	P50       time.Duration `json:"p50_ns"`
	P99       time.Duration `json:"p99_ns"`
	Window    time.Duration `json:"window_ns"`
}

// RPSText is requests per second for the page.
func (r Rates) RPSText() string {
	if r.Window == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", r.RPS)
}

// ErrorText is the error rate for the page.
func (r Rates) ErrorText() string {
	if r.Requests == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*r.ErrorRate)
}

// P50Text and P99Text are the latency quantiles for the page.
func (r Rates) P50Text() string { return latency(r.P50, r.Requests) }

// P99Text is the 99th percentile latency for the page.
func (r Rates) P99Text() string { return latency(r.P99, r.Requests) }

func latency(d time.Duration, n uint64) string {
	if n == 0 {
		return "–"
	}
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// Sampler keeps the router's counters over a sliding window and turns
// them into rates: requests per second, error rate, p50 and p99 (from the
// latency histogram's buckets, interpolated as Prometheus'
// histogram_quantile does, so they are as fine as the buckets).
type Sampler struct {
	read   func() map[string]builtin.Traffic
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	samples []sample
}

type sample struct {
	at      time.Time
	traffic map[string]builtin.Traffic
}

// NewSampler samples read over window.
func NewSampler(read func() map[string]builtin.Traffic, window time.Duration) *Sampler {
	return &Sampler{read: read, window: window, now: time.Now}
}

// Run samples every interval until ctx is done.
func (s *Sampler) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	s.Sample()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sample()
		}
	}
}

// Sample takes one sample now and forgets those older than the window.
func (s *Sampler) Sample() {
	smp := sample{at: s.now(), traffic: s.read()}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples = append(s.samples, smp)
	// Keep one sample at or before the window's start, to span it whole.
	cut := 0
	for i := range s.samples {
		if smp.at.Sub(s.samples[i].at) >= s.window {
			cut = i
		}
	}
	s.samples = s.samples[cut:]
}

// Rates are the rates between the oldest kept sample and a fresh reading.
func (s *Sampler) Rates() map[string]Rates {
	now := sample{at: s.now(), traffic: s.read()}
	s.mu.Lock()
	var first sample
	if len(s.samples) > 0 {
		first = s.samples[0]
	}
	s.mu.Unlock()
	out := map[string]Rates{}
	if first.traffic == nil {
		return out
	}
	span := now.at.Sub(first.at)
	for release, cur := range now.traffic {
		out[release] = rates(first.traffic[release], cur, span)
	}
	return out
}

func rates(before, after builtin.Traffic, span time.Duration) Rates {
	var r Rates
	if span <= 0 {
		return r
	}
	r.Window = span
	total, errors := after.Since(before)
	r.Requests = total
	r.RPS = float64(total) / span.Seconds()
	if total > 0 {
		r.ErrorRate = float64(errors) / float64(total)
	}
	r.P50, r.P99 = after.Latency(before)
	return r
}
