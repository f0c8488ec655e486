package builtin_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/router/builtin"
)

func scrape(t *testing.T, r *builtin.Router) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_termshift/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("metrics: %d %s", rec.Code, rec.Body)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

var sampleRE = regexp.MustCompile(`(?m)^(termshift_router_[a-z_]+)(\{[^}]*\})? (\S+)$`)

// samples returns termshift's samples of a scrape, "name{labels}" -> value.
func samples(text string) map[string]string {
	out := map[string]string{}
	for _, m := range sampleRE.FindAllStringSubmatch(text, -1) {
		out[m[1]+m[2]] = m[3]
	}
	return out
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	r := builtin.New(builtin.Options{Allow: testNet, Version: "v9.9.9-test"})
	current, next := backend(t, "current"), backend(t, "next")
	r.Update("current", []router.Backend{current, next, deadBackend(t, "dead")})
	get := func(preview string) {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		if preview != "" {
			req.Header.Set(router.PreviewHeader, preview)
		}
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
	for range 3 {
		get("")
	}
	get("next")
	get("dead")
	// Names a caller makes up never become labels.
	for _, name := range []string{"nope1", "nope2", "<script>"} {
		get(name)
	}
	r.Update("next", []router.Backend{current, next})
	get("")
	r.Update("current", []router.Backend{current, next})
	get("")
	r.SetMaintenance(true, time.Second, "")
	get("")

	got := samples(scrape(t, r))
	want := map[string]string{
		`termshift_router_requests_total{class="2xx",release="current"}`:     "4",
		`termshift_router_requests_total{class="5xx",release="current"}`:     "1",
		`termshift_router_requests_total{class="2xx",release="next"}`:        "2",
		`termshift_router_requests_total{class="5xx",release="dead"}`:        "1",
		`termshift_router_requests_total{class="4xx",release="none"}`:        "3",
		`termshift_router_request_duration_seconds_count{release="current"}`: "5",
		`termshift_router_request_duration_seconds_count{release="next"}`:    "2",
		`termshift_router_request_duration_seconds_count{release="none"}`:    "3",
		`termshift_router_requests_in_flight{release="current"}`:             "0",
		`termshift_router_switches_total{kind="cutover"}`:                    "1",
		`termshift_router_switches_total{kind="rollback"}`:                   "1",
		`termshift_router_switch_duration_seconds_count{kind="cutover"}`:     "1",
		`termshift_router_switch_duration_seconds_count{kind="rollback"}`:    "1",
		`termshift_router_maintenance`:                                       "1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	var labels []string
	for k := range got {
		for _, m := range regexp.MustCompile(`release="([^"]*)"`).FindAllStringSubmatch(k, -1) {
			if !strings.Contains(strings.Join(labels, " "), m[1]) {
				labels = append(labels, m[1])
			}
		}
	}
	for _, l := range labels {
		if l != "current" && l != "next" && l != "dead" && l != "none" {
			t.Errorf("release label %q: only routed releases and none may be labels", l)
		}
	}
	if !strings.Contains(scrape(t, r), `termshift_router_build_info{goversion="go`) || !strings.Contains(scrape(t, r), `version="v9.9.9-test"} 1`) {
		t.Errorf("no build info")
	}

	tr := r.Traffic()
	c := tr["current"]
	if diff := cmp.Diff(c.Requests, [5]uint64{0, 4, 0, 0, 1}); diff != "" {
		t.Errorf("Traffic()[current].Requests (-got +want):\n%s", diff)
	}
	if c.Count != 5 || len(c.Buckets) != len(builtin.LatencyBuckets) || c.Buckets[len(c.Buckets)-1] > c.Count {
		t.Errorf("Traffic()[current] = %+v; want 5 samples in %d cumulative buckets", c, len(builtin.LatencyBuckets))
	}
}

// TestMetricsPerRouter: two routers in one process count apart (no global
// registry).
func TestMetricsPerRouter(t *testing.T) {
	t.Parallel()
	a, b := builtin.New(builtin.Options{}), builtin.New(builtin.Options{})
	a.Update("current", []router.Backend{backend(t, "current")})
	b.Update("current", []router.Backend{backend(t, "current")})
	a.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if got := samples(scrape(t, b))[`termshift_router_requests_total{class="2xx",release="current"}`]; got != "0" {
		t.Errorf("router b counted router a's request: %q", got)
	}
}

// BenchmarkPublicRequest is one public request through the router to a
// release on loopback, metrics on: the router's whole cost per request plus
// one loopback round trip (compare BenchmarkDirectRequest).
func BenchmarkPublicRequest(b *testing.B) {
	r := builtin.New(builtin.Options{Allow: builtin.Loopback})
	r.Update("current", []router.Backend{backend(b, "current")})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Cookie", "sessionid=abc; csrftoken=def")
	for b.Loop() {
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// BenchmarkDirectRequest is the same request straight to the release.
func BenchmarkDirectRequest(b *testing.B) {
	be := backend(b, "current")
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for b.Loop() {
		resp, err := c.Get(be.URL.String() + "/")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
