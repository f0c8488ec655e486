package analysis_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/analysis"
	"github.com/termshift/termshift/rollout/router/builtin"
)

// traffic builds counters: n answers of which errs 5xx, all within the
// latency bucket at index b.
func traffic(n, errs uint64, b int) builtin.Traffic {
	t := builtin.Traffic{Count: n, Buckets: make([]uint64, len(builtin.LatencyBuckets))}
	t.Requests[1], t.Requests[4] = n-errs, errs
	for i := range t.Buckets {
		if i >= b {
			t.Buckets[i] = n
		}
	}
	return t
}

func add(a, b builtin.Traffic) builtin.Traffic {
	out := builtin.Traffic{Count: a.Count + b.Count, Buckets: make([]uint64, len(a.Buckets))}
	for i := range a.Requests {
		out.Requests[i] = a.Requests[i] + b.Requests[i]
	}
	for i := range a.Buckets {
		out.Buckets[i] = a.Buckets[i] + b.Buckets[i]
	}
	return out
}

func TestJudge(t *testing.T) {
	before := traffic(1000, 500, 3) // what happened before the window does not count
	th := analysis.Thresholds{MaxErrorRate: 1, MaxP99: 100 * time.Millisecond, MinRequests: 20}
	for _, tc := range []struct {
		name          string
		window        builtin.Traffic
		verdict, want string
	}{
		{"healthy", traffic(200, 1, 4), analysis.Pass, ""},                             // 0.5% errors, ~5ms
		{"errors", traffic(200, 60, 4), analysis.Fail, "error rate 30.00% > 1%"},       // 30%
		{"slow", traffic(200, 0, 9), analysis.Fail, "p99 "},                            // 250-500ms
		{"too few", traffic(10, 10, 9), analysis.Inconclusive, "requests 10 < 20"},     // whatever they show
		{"none", traffic(0, 0, 0), analysis.Inconclusive, "requests 0 < 20 (minimum)"}, // no traffic at all
	} {
		canary := analysis.Between(before, add(before, tc.window))
		r := analysis.Judge(canary, analysis.Sample{}, th, time.Second)
		if r.Verdict != tc.verdict || !strings.Contains(r.Metric+" "+r.Value, tc.want) {
			t.Errorf("%s: %s (%s %s), want %s naming %q", tc.name, r.Verdict, r.Metric, r.Value, tc.verdict, tc.want)
		}
	}
}

// prometheus is a server speaking the Prometheus HTTP API's JSON for
// /api/v1/query: answers by query text.
func prometheus(t *testing.T, answers map[string]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query().Get("query")
		body, ok := answers[q]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			body = `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:1: parse error: unexpected end of input"}`
		}
		if r.URL.Query().Get("time") == "" {
			w.WriteHeader(http.StatusBadRequest)
			body = `{"status":"error","errorType":"bad_data","error":"no time"}`
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPrometheusChecks(t *testing.T) {
	srv := prometheus(t, map[string]string{
		`sum(rate(errors{release="patch"}[30s]))`: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1735689600.123,"0.25"]}]}}`,
		`sum(rate(ok{release="patch"}[30s]))`:     `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1735689600.123,"42"]}]}}`,
		`scalar(vector(3))`:                       `{"status":"success","data":{"resultType":"scalar","result":[1735689600.123,"3"]}}`,
		`rate(by_pod[30s])`:                       `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1,"1"]},{"metric":{"pod":"b"},"value":[1,"2"]}]}}`,
		`empty`:                                   `{"status":"success","data":{"resultType":"vector","result":[]}}`,
		`nan`:                                     `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}`,
	})
	p := &analysis.Prometheus{URL: srv.URL}
	queries := []analysis.Query{
		{Name: "errors", Query: `sum(rate(errors{release="{{release}}"}[{{window}}]))`, Condition: "< 0.1"},
		{Name: "throughput", Query: `sum(rate(ok{release="{{release}}"}[{{window}}]))`, Condition: ">= 1"},
		{Name: "scalar", Query: `scalar(vector(3))`, Condition: "== 3"},
		{Name: "many", Query: `rate(by_pod[{{window}}])`, Condition: "< 5"},
		{Name: "empty", Query: `empty`, Condition: "< 5"},
		{Name: "nan", Query: `nan`, Condition: "< 5"},
		{Name: "bad", Query: `sum(`, Condition: "< 5"},
	}
	got := p.Check(context.Background(), queries, "patch", "current", 30*time.Second, time.Now())
	want := []struct {
		passed bool
		err    string
	}{{false, ""}, {true, ""}, {true, ""}, {false, "returned 2 series"}, {false, "returned 0 series"}, {false, "NaN"}, {false, "bad_data: invalid parameter"}}
	for i, w := range want {
		g := got[i]
		if g.Passed != w.passed || (w.err == "") != (g.Err == "") || !strings.Contains(g.Err, w.err) {
			t.Errorf("%s: passed %v err %q, want passed %v err %q", g.Name, g.Passed, g.Err, w.passed, w.err)
		}
	}
	// A failed query fails a step that passed on the counters; one that
	// could not run makes it inconclusive.
	r := analysis.Judge(analysis.Sample{Requests: 100}, analysis.Sample{}, analysis.Thresholds{MaxErrorRate: 1}, time.Second)
	r.AddChecks(got[:1])
	if r.Verdict != analysis.Fail || r.Metric != "errors" || !strings.Contains(r.Value, "0.25, want < 0.1") {
		t.Errorf("failed query: %s %s %s", r.Verdict, r.Metric, r.Value)
	}
	r = analysis.Judge(analysis.Sample{Requests: 100}, analysis.Sample{}, analysis.Thresholds{MaxErrorRate: 1}, time.Second)
	r.AddChecks(got[1:5])
	if r.Verdict != analysis.Inconclusive || r.Metric != "many" {
		t.Errorf("query that could not tell: %s %s", r.Verdict, r.Metric)
	}
}

func TestBadQueries(t *testing.T) {
	for _, q := range []analysis.Query{
		{Name: "x", Query: "up", Condition: "about 3"},
		{Name: "x", Query: "up", Condition: "< many"},
		{Name: "", Query: "up", Condition: "< 1"},
		{Name: "x", Query: " ", Condition: "< 1"},
	} {
		if err := analysis.Validate([]analysis.Query{q}); !errors.Is(err, termshift.ErrInvalid) {
			t.Errorf("%+v: %v, want invalid", q, err)
		}
	}
	if _, err := (&analysis.Prometheus{URL: "ftp://x"}).Query(context.Background(), "up", time.Now()); !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("ftp URL: %v", err)
	}
}
