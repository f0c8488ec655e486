package builtin

import (
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// Label values of the metrics are bounded: releases of the routing table
// (and "none" for requests no release was asked for or allowed), status
// classes, and the two kinds of switch. Never paths, hosts or users.
const noRelease = "none"

// LatencyBuckets are the request latency histogram's upper bounds in
// seconds: fine below 10 ms, where a router's own cost shows.
var LatencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

var switchBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60}

var classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// metrics is one router's collectors, in its own registry.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	inflight    *prometheus.GaugeVec
	switches    *prometheus.CounterVec
	switchTime  *prometheus.HistogramVec
	maintenance prometheus.Gauge

	mu    sync.Mutex
	stats map[string]*releaseStats
	none  *releaseStats
}

// releaseStats are one release's collectors, looked up once per routing
// table so a request only does atomic adds.
type releaseStats struct {
	release  string
	requests [len(classes)]prometheus.Counter
	latency  prometheus.Observer
	hist     prometheus.Histogram
	inflight prometheus.Gauge
}

func newMetrics(version string) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "termshift_router_requests_total",
			Help: "Requests answered on the public address, by the release they were for and status class.",
		}, []string{"release", "class"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "termshift_router_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its answer, by release.",
			Buckets: LatencyBuckets,
		}, []string{"release"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "termshift_router_requests_in_flight",
			Help: "Requests being proxied now, by release.",
		}, []string{"release"}),
		switches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "termshift_router_switches_total",
			Help: "Changes of the live release, by kind (cutover, rollback).",
		}, []string{"kind"}),
		switchTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "termshift_router_switch_duration_seconds",
			Help:    "Time from a switch being decided (state saved) to the new live release's first answer, by kind.",
			Buckets: switchBuckets,
		}, []string{"kind"}),
		maintenance: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "termshift_router_maintenance",
			Help: "1 while a maintenance window is on.",
		}),
		stats: map[string]*releaseStats{},
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "termshift_router_build_info",
		Help:        "The router's build; always 1.",
		ConstLabels: prometheus.Labels{"version": buildVersion(version), "goversion": runtime.Version()},
	})
	info.Set(1)
	m.reg.MustRegister(m.requests, m.latency, m.inflight, m.switches, m.switchTime, m.maintenance, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, k := range []string{"cutover", "rollback"} {
		m.switches.WithLabelValues(k)
	}
	m.none = m.release(noRelease)
	return m
}

func buildVersion(v string) string {
	if v != "" {
		return v
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return bi.Main.Version
}

// release returns the collectors of a release, made on first use.
func (m *metrics) release(name string) *releaseStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.stats[name]; ok {
		return s
	}
	s := &releaseStats{release: name, inflight: m.inflight.WithLabelValues(name)}
	for i, c := range classes {
		s.requests[i] = m.requests.WithLabelValues(name, c)
	}
	s.latency = m.latency.WithLabelValues(name)
	s.hist = s.latency.(prometheus.Histogram)
	m.stats[name] = s
	return s
}

func (m *metrics) observe(s *releaseStats, code int, d time.Duration) {
	if s == nil {
		s = m.none
	}
	i := code/100 - 1
	if i < 0 || i >= len(classes) {
		i = len(classes) - 1
	}
	s.requests[i].Inc()
	s.latency.Observe(d.Seconds())
}

func (m *metrics) setMaintenance(on bool) {
	if on {
		m.maintenance.Set(1)
	} else {
		m.maintenance.Set(0)
	}
}

// pendingSwitch is a change of live release waiting for the new live
// release's first answer, which ends its timing.
type pendingSwitch struct {
	by    string
	since time.Time
	done  atomic.Bool
}

func (p *pendingSwitch) observe(m *metrics, at time.Time) {
	if p.done.Load() || !p.done.CompareAndSwap(false, true) {
		return
	}
	m.switches.WithLabelValues(p.by).Inc()
	m.switchTime.WithLabelValues(p.by).Observe(max(at.Sub(p.since), 0).Seconds())
}

// Traffic is what the router counted for one release since it started.
type Traffic struct {
	// Requests by status class: 1xx, 2xx, 3xx, 4xx, 5xx.
	Requests [5]uint64 `json:"requests"`
	// Buckets are the latency histogram's cumulative counts, one per
	// LatencyBuckets bound.
	Buckets []uint64 `json:"buckets"`
	Count   uint64   `json:"count"`
	Sum     float64  `json:"sum"`
}

// Since counts the requests between two readings of one release's traffic
// (before, then t), and of those the 5xx answers.
func (t Traffic) Since(before Traffic) (requests, errors uint64) {
	for i := range t.Requests {
		d := t.Requests[i] - min(before.Requests[i], t.Requests[i])
		requests += d
		if i == 4 {
			errors = d
		}
	}
	return requests, errors
}

// Latency estimates the p50 and p99 of the requests counted between two
// readings of one release's traffic (before, then t).
func (t Traffic) Latency(before Traffic) (p50, p99 time.Duration) {
	buckets := make([]uint64, len(t.Buckets))
	for i := range t.Buckets {
		var b uint64
		if i < len(before.Buckets) {
			b = before.Buckets[i]
		}
		buckets[i] = t.Buckets[i] - min(b, t.Buckets[i])
	}
	count := t.Count - min(before.Count, t.Count)
	return quantile(0.50, LatencyBuckets, buckets, count), quantile(0.99, LatencyBuckets, buckets, count)
}

// quantile estimates the q-quantile from cumulative bucket counts (upper
// bounds in seconds) and the total count, interpolating linearly within a
// bucket as Prometheus' histogram_quantile does. Past the last bound it
// answers the last bound.
func quantile(q float64, bounds []float64, cumulative []uint64, count uint64) time.Duration {
	if count == 0 || len(bounds) == 0 || len(cumulative) != len(bounds) {
		return 0
	}
	rank := q * float64(count)
	lower, below := 0.0, uint64(0)
	for i, upper := range bounds {
		c := cumulative[i]
		if float64(c) >= rank {
			frac := 1.0
			if in := c - below; in > 0 {
				frac = (rank - float64(below)) / float64(in)
			}
			return time.Duration(math.Round((lower + (upper-lower)*frac) * float64(time.Second)))
		}
		lower, below = upper, c
	}
	return time.Duration(bounds[len(bounds)-1] * float64(time.Second))
}

// Traffic returns the counters of every release the router has routed,
// and "none" for requests no release was asked for or allowed.
func (r *Router) Traffic() map[string]Traffic {
	m := r.metrics
	m.mu.Lock()
	stats := make([]*releaseStats, 0, len(m.stats))
	for _, s := range m.stats {
		stats = append(stats, s)
	}
	m.mu.Unlock()
	out := make(map[string]Traffic, len(stats))
	for _, s := range stats {
		var t Traffic
		var pb dto.Metric
		for i, c := range s.requests {
			if err := c.Write(&pb); err == nil {
				t.Requests[i] = uint64(pb.GetCounter().GetValue())
			}
		}
		var hm dto.Metric
		if err := s.hist.Write(&hm); err == nil {
			h := hm.GetHistogram()
			t.Count, t.Sum = h.GetSampleCount(), h.GetSampleSum()
			for _, b := range h.GetBucket() {
				t.Buckets = append(t.Buckets, b.GetCumulativeCount())
			}
		}
		out[s.release] = t
	}
	return out
}
