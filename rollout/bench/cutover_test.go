package bench_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/termshift/termshift/loadgen"
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/router/builtin"
)

// app starts a minimal release on a loopback port: it answers every request
// with a small body naming itself.
func app(tb testing.TB, release string) router.Backend {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	body := []byte(strings.Repeat("release "+release+"\n", 16))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return router.Backend{Release: release, URL: &url.URL{Scheme: "http", Host: ln.Addr().String()}}
}

// startRouter runs the real router on 127.0.0.1:0 until the test ends.
func startRouter(tb testing.TB, live string, backends []router.Backend) (*builtin.Router, string) {
	tb.Helper()
	r := builtin.New(builtin.Options{Addr: "127.0.0.1:0"})
	r.Update(live, backends)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.ListenAndServe(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("router: %v", err)
		}
	})
	<-r.Ready()
	if r.Addr() == "" {
		tb.Fatalf("router did not bind: %v", <-done)
	}
	return r, "http://" + r.Addr() + "/"
}

const (
	rate       = 500
	duration   = 10 * time.Second
	cutoverAt  = 3 * time.Second
	rollbackAt = 6 * time.Second
)

// BenchmarkCutover sends 500 requests/s for 10 s through the router, cuts
// over at 3 s and rolls back at 6 s, and reports failed requests, how soon
// each new target answered, and the p99 latency the router adds over an
// equal paced run straight to the backend at the same time. Run it with
// -benchtime 1x.
func BenchmarkCutover(b *testing.B) {
	current, next := app(b, "current"), app(b, "next")
	backends := []router.Backend{current, next}
	r, routerURL := startRouter(b, "current", backends)

	for b.Loop() {
		events := []loadgen.Event{
			{Name: "cutover", At: cutoverAt, Want: "next", Do: func() { r.Update("next", backends) }},
			{Name: "rollback", At: rollbackAt, Want: "current", Do: func() { r.Update("current", backends) }},
		}
		// The direct run goes at the same time as the routed one, so both
		// see the same machine: on a shared host, runs one after the other
		// measure the neighbours more than the router.
		var direct, via loadgen.Result
		var wg sync.WaitGroup
		wg.Go(func() { direct = loadgen.Load(b.Context(), current.URL.String()+"/", rate, duration, nil) })
		wg.Go(func() { via = loadgen.Load(b.Context(), routerURL, rate, duration, events) })
		wg.Wait()
		b.Logf("direct to backend: %s", direct)
		b.Logf("through router:    %s", via)
		for _, e := range via.Errors {
			b.Logf("failure: %s", e)
		}

		added := via.P99 - direct.P99
		fmt.Printf("cutover benchmark: %d requests sent at %d/s for %s, %d failed\n", via.Sent, rate, duration, via.Failed)
		for _, e := range via.Events {
			fmt.Printf("  %-8s first response from %-7s %v after Update (switched: %v)\n", e.Name, e.Want, e.Switch, e.Switched)
		}
		fmt.Printf("  p99 direct %v, through router %v, added %v (p50 %v, %v)\n", direct.P99, via.P99, added, direct.P50, via.P50)

		b.ReportMetric(float64(via.Sent), "requests")
		b.ReportMetric(float64(via.Failed), "failed")
		for _, e := range via.Events {
			ms := -1.0 // never switched
			if e.Switched {
				ms = float64(e.Switch) / float64(time.Millisecond)
			}
			b.ReportMetric(ms, e.Name+"-switch-ms")
		}
		b.ReportMetric(float64(direct.P99)/float64(time.Millisecond), "direct-p99-ms")
		b.ReportMetric(float64(via.P99)/float64(time.Millisecond), "router-p99-ms")
		b.ReportMetric(float64(added)/float64(time.Millisecond), "added-p99-ms")
		// The median shows the router's own cost when neighbours blur p99.
		b.ReportMetric(float64(via.P50-direct.P50)/float64(time.Millisecond), "added-p50-ms")
		if via.Failed > 0 {
			b.Errorf("%d of %d requests failed across cutover and rollback", via.Failed, via.Sent)
		}
	}
}

func TestLoadCountsAndSwitch(t *testing.T) {
	t.Parallel()
	current, next := app(t, "current"), app(t, "next")
	backends := []router.Backend{current, next}
	r, routerURL := startRouter(t, "current", backends)

	events := []loadgen.Event{{Name: "cutover", At: 250 * time.Millisecond, Want: "next", Do: func() { r.Update("next", backends) }}}
	got := loadgen.Load(t.Context(), routerURL, 200, 500*time.Millisecond, events)
	if got.Sent != 100 || got.Failed != 0 {
		t.Fatalf("sent %d, failed %d (%v); want 100 sent, 0 failed", got.Sent, got.Failed, got.Errors)
	}
	if got.ServedBy["current"] == 0 || got.ServedBy["next"] == 0 || got.ServedBy["current"]+got.ServedBy["next"] != 100 {
		t.Errorf("served by %v; want both releases, 100 in all", got.ServedBy)
	}
	if e := got.Events[0]; !e.Switched || e.Switch <= 0 || e.Name != "cutover" {
		t.Errorf("event %+v; want cutover switched after a positive time", e)
	}
	if got.P50 <= 0 || got.P99 < got.P50 || got.Max < got.P99 {
		t.Errorf("latencies p50 %v p99 %v max %v out of order", got.P50, got.P99, got.Max)
	}
}

func TestLoadCountsFailures(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, "broken", http.StatusInternalServerError)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	events := []loadgen.Event{{Name: "never", At: 10 * time.Millisecond, Want: "next", Do: func() {}}}
	got := loadgen.Load(t.Context(), "http://"+ln.Addr().String()+"/", 100, 200*time.Millisecond, events)
	if got.Sent != 20 || got.Failed != 10 || len(got.Errors) != 10 || !strings.Contains(got.Errors[0], "500") {
		t.Errorf("sent %d, failed %d, errors %v; want 20 sent, 10 failed with status 500", got.Sent, got.Failed, got.Errors)
	}
	if got.Events[0].Switched {
		t.Errorf("event %+v switched though nothing served next", got.Events[0])
	}

	// A closed port: every request fails, none hangs past the bound.
	srv.Close()
	refused := loadgen.Load(t.Context(), "http://"+ln.Addr().String()+"/", 100, 100*time.Millisecond, nil)
	if refused.Sent != 10 || refused.Failed != 10 {
		t.Errorf("against a closed server: sent %d, failed %d; want 10, 10", refused.Sent, refused.Failed)
	}
}
