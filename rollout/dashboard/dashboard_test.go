package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/dashboard"
	"github.com/termshift/termshift/rollout/router/builtin"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/verify"
)

var at = time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)

// sample is a state of two releases: current live, next verified and failed.
func sample() dashboard.Data {
	s := &store.State{Environment: "qa", Live: "current", Previous: "", LiveSince: at, Releases: map[string]*store.ReleaseState{}}
	cur := s.Release("current")
	cur.Version, cur.Running = "1.0", true
	next := s.Release("next")
	next.Version, next.Running = "2.0", true
	next.Namespaces = []*store.NamespaceState{{Namespace: termshift.Namespace{Service: termshift.MySQL, Logical: "edxapp", Release: "next", Name: "edxapp_next"},
		Status: store.NSScrubbed, Isolation: "enforced", Proof: &store.Proof{At: at, Source: "s3://backups/2026-11-20", Objects: map[string]int64{"auth_user": 25001, "courseware_studentmodule": 1000000}, Seconds: 17.2, Bytes: 531e6}}}
	next.Verify = &store.VerifyRecord{At: at, Passed: false, Counts: map[string]int{"pass": 1, "warn": 1, "fail": 1, "skip": 1}, Results: []verify.Result{
		{Check: "connectivity", Target: "mysql edxapp_next", Status: verify.Pass, Detail: "connected in 3ms"},
		{Check: "isolation", Target: "mongo forum_next", Status: verify.Warn, Detail: "server has no roles"},
		{Check: "smoke", Target: "version", Status: verify.Skip, Detail: "release not deployed"},
		{Check: "integrity", Target: "mysql edxapp_next", Status: verify.Fail, Detail: "auth_user: 25000 rows, the backup has 25001"},
	}}
	return dashboard.Data{
		Environment: "qa", Now: at, State: s,
		Releases: []dashboard.ReleaseSpec{{Name: "current", Version: "1.0"}, {Name: "next", Version: "2.0"}},
		Router:   dashboard.RouterView{Live: "current", Running: true},
		Health:   map[string]string{"current": "healthy", "next": "unhealthy: status 500"},
		Traffic:  map[string]dashboard.Rates{"current": {Requests: 600, RPS: 10, ErrorRate: 0.01, P50: 1200 * time.Microsecond, P99: 18 * time.Millisecond, Window: time.Minute}},
		Preview:  dashboard.PreviewView{PublicURL: "http://127.0.0.1:8100", Scheme: "http", Host: "lms.localhost", Port: "8100", Header: "X-Termshift-Release", Grants: true, Allow: []string{"127.0.0.0/8"}},
		Journal: []store.Entry{
			{Time: at.Add(-time.Hour), Actor: "ops@host", Command: "upgrade next", Release: "next", Step: "verify", Outcome: "failed", Detail: "pass 1, warn 1, fail 1, skip 1"},
			{Time: at, Actor: "qa@host", Command: "preview-link next", Release: "next", Step: "preview-link", Outcome: "done", Reason: "QA sign-off", Detail: "grant 0123456789abcdef for next"},
		},
	}
}

func render(t *testing.T, d dashboard.Data) string {
	t.Helper()
	var b bytes.Buffer
	if err := dashboard.Render(&b, dashboard.Build(d)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPageShowsReleasesVerifyAndJournal(t *testing.T) {
	t.Parallel()
	html := render(t, sample())
	for _, want := range []string{
		`Live: <strong id="live">current</strong>`,
		`<th scope="row"><a href="#detail-next">next</a></th>`,
		`<td data-k="release.next.health">unhealthy: status 500</td>`,
		`<td class="num" data-k="release.current.rps">10.0</td>`,
		`<td class="num" data-k="release.current.errors">1.0%</td>`,
		`<td class="num" data-k="release.current.p50">1.2 ms</td>`,
		`<td class="num" data-k="release.current.p99">18.0 ms</td>`,
		`<a class="button" id="preview-next" href="http://127.0.0.1:8100/_termshift/preview/next">preview this release</a>`,
		`<a class="button secondary" id="stop-preview" href="http://127.0.0.1:8100/_termshift/preview/?clear=1">stop previewing</a>`,
		`<dd><a href="http://next.lms.localhost:8100/">http://next.lms.localhost:8100/</a></dd>`,
		`<dd><code>X-Termshift-Release: next</code></dd>`,
		`1025001 objects in 2 tables or collections, 531.0 MB in 17.2s from s3://backups/2026-11-20`,
		`Verify <strong>failed</strong>`,
		`<td class="detail">auth_user: 25000 rows, the backup has 25001</td>`,
		`the last 2 of 2 entries, newest first`,
		`<td>QA sign-off</td>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// The live release has no preview button: it is public.
	if strings.Contains(html, `id="preview-current"`) {
		t.Error("the live release has a preview button")
	}
	// Failures first, then warnings, skips, passes.
	order := []string{"auth_user: 25000 rows", "server has no roles", "release not deployed", "connected in 3ms"}
	last := -1
	for _, s := range order {
		i := strings.Index(html, s)
		if i < last {
			t.Errorf("verify results out of order: %q before the one above it", s)
		}
		last = i
	}
	// Newest journal entry first.
	if strings.Index(html, "QA sign-off") > strings.Index(html, "pass 1, warn 1, fail 1, skip 1</td>") {
		t.Error("journal is not newest first")
	}
}

// TestHostileTextRendersAsText: names and journal text holding markup are
// shown as text in the page and stay text in the JSON.
func TestHostileTextRendersAsText(t *testing.T) {
	t.Parallel()
	d := sample()
	evil := `<script>alert("x")</script>`
	d.State.Releases[evil] = &store.ReleaseState{Name: evil, Version: `<img src=x onerror=alert(1)>`, Running: true,
		Namespaces: []*store.NamespaceState{{Status: "failed", Error: `</td></tr><script>alert(2)</script>`}}}
	d.Journal = append(d.Journal, store.Entry{Time: at, Actor: "<b>mallory</b>", Reason: `"><script>alert(3)</script>`, Detail: "<iframe src=//evil>"})
	d.Environment = "<svg onload=alert(4)>"
	html := render(t, d)
	for _, raw := range []string{"<script>alert", "<img src=x", "<iframe", "<svg onload", "<b>mallory"} {
		if strings.Contains(html, raw) {
			t.Errorf("page holds raw markup %q", raw)
		}
	}
	for _, escaped := range []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "&lt;iframe src=//evil&gt;", "&lt;b&gt;mallory&lt;/b&gt;"} {
		if !strings.Contains(html, escaped) {
			t.Errorf("page lacks the escaped text %q", escaped)
		}
	}
	// In an attribute (the row's id) too.
	if strings.Contains(html, `id="release-<`) {
		t.Error("a release name is raw in an attribute")
	}
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(dashboard.Build(d)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script>") {
		t.Error("JSON holds raw <script>: encoding/json escapes < and > for pages that embed it")
	}
}

// TestNoSecretOnThePage: whatever secret reaches the data (a leaked
// password in a namespace error, the journal, a proof's source, a verify
// detail), neither the page nor its JSON shows it.
func TestNoSecretOnThePage(t *testing.T) {
	t.Parallel()
	secrets := []string{"s3cr3t-admin-pw", "next-user-pw-9f8e7d", "grant-key-0123456789abcdef0123456789"}
	d := sample()
	d.Redact = termshift.Redactor(secrets, "[redacted]")
	ns := d.State.Releases["next"].Namespaces[0]
	ns.Error = "access denied for edxapp_next:next-user-pw-9f8e7d@db"
	ns.Proof.Source = "s3://AKID:s3cr3t-admin-pw@backups/x"
	d.State.Releases["next"].Verify.Results[3].Detail = "dsn root:s3cr3t-admin-pw@tcp(db)/"
	d.Journal = append(d.Journal, store.Entry{Time: at, Detail: "key grant-key-0123456789abcdef0123456789", Reason: "pw next-user-pw-9f8e7d"})
	d.StateError = "open mysql://root:s3cr3t-admin-pw@db: refused"
	html := render(t, d)
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(dashboard.Build(d))
	for _, out := range []string{html, b.String()} {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("a secret (%s...) is shown", s[:6])
			}
		}
		if !strings.Contains(out, "[redacted]") {
			t.Error("nothing was redacted: the test does not test")
		}
	}
}

func TestUnreadableStateShowsABanner(t *testing.T) {
	t.Parallel()
	d := sample()
	d.State = nil
	d.StateError = "load state from /srv/.termshift: open state.json: permission denied"
	html := render(t, d)
	if !strings.Contains(html, `<div class="banner error" role="alert">The state cannot be read: load state from /srv/.termshift: open state.json: permission denied.`) {
		t.Errorf("no error banner:\n%s", html)
	}
	// Not blank: the releases of the file and what the router routes.
	for _, want := range []string{`<a href="#detail-current">current</a>`, `<a href="#detail-next">next</a>`, `Live: <strong id="live">current</strong>`, "<h2 id=\"journal-h\">Journal</h2>"} {
		if !strings.Contains(html, want) {
			t.Errorf("page without state lacks %s", want)
		}
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	d := sample()
	h := dashboard.Handler(func(context.Context) dashboard.Data { return d }, nil)
	get := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}
	page := get(http.MethodGet, "/_termshift/")
	if page.Code != 200 || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") || !strings.Contains(page.Header().Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("page: %d %v", page.Code, page.Header())
	}
	js := get(http.MethodGet, "/_termshift/dashboard.json")
	var p dashboard.Page
	if err := json.Unmarshal(js.Body.Bytes(), &p); err != nil {
		t.Fatalf("dashboard.json: %v: %s", err, js.Body)
	}
	want := map[string]string{"release.current.health": "healthy", "release.current.rps": "10.0", "release.next.running": "yes"}
	for k, v := range want {
		if p.Values[k] != v {
			t.Errorf("values[%s] = %q, want %q", k, p.Values[k], v)
		}
	}
	if !strings.Contains(page.Body.String(), `data-shape="`+p.Shape+`"`) {
		t.Error("the page and its JSON disagree on the shape: the script would reload forever")
	}
	if got := get(http.MethodGet, "/_termshift/assets/dashboard.js"); got.Code != 200 || !strings.Contains(got.Body.String(), "textContent") {
		t.Errorf("script asset: %d", got.Code)
	}
	for path, code := range map[string]int{"/_termshift/nothing": 404, "/_termshift/assets/page.html": 404} {
		if got := get(http.MethodGet, path); got.Code != code {
			t.Errorf("GET %s: %d, want %d", path, got.Code, code)
		}
	}
	if got := get(http.MethodPost, "/_termshift/"); got.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405 (read-only)", got.Code)
	}
}

func TestSamplerRates(t *testing.T) {
	t.Parallel()
	now := at
	cur := map[string]builtin.Traffic{"current": {Buckets: make([]uint64, len(builtin.LatencyBuckets))}}
	s := dashboard.NewSampler(func() map[string]builtin.Traffic {
		out := map[string]builtin.Traffic{}
		for k, v := range cur {
			v.Buckets = append([]uint64(nil), v.Buckets...)
			out[k] = v
		}
		return out
	}, time.Minute)
	dashboard.SetClock(s, func() time.Time { return now })
	s.Sample()
	// 100 requests in 10 s: 98 at under 1 ms, 1 at 2 ms, one 5xx at 40 ms.
	tr := cur["current"]
	tr.Requests = [5]uint64{0, 99, 0, 0, 1}
	for i, bound := range builtin.LatencyBuckets {
		switch {
		case bound >= 0.05:
			tr.Buckets[i] = 100
		case bound >= 0.0025:
			tr.Buckets[i] = 99
		case bound >= 0.001:
			tr.Buckets[i] = 98
		}
	}
	tr.Count = 100
	cur["current"] = tr
	now = now.Add(10 * time.Second)
	got := s.Rates()["current"]
	if got.Requests != 100 || got.RPS != 10 || got.ErrorRate != 0.01 {
		t.Errorf("rates %+v: want 100 requests, 10/s, 1%% errors", got)
	}
	if got.P50 < 500*time.Microsecond || got.P50 > time.Millisecond || got.P99 < time.Millisecond || got.P99 > 2500*time.Microsecond {
		t.Errorf("p50 %v, p99 %v: want p50 within (0.5, 1] ms and p99 within (1, 2.5] ms", got.P50, got.P99)
	}
	if diff := cmp.Diff([]string{got.RPSText(), got.ErrorText()}, []string{"10.0", "1.0%"}); diff != "" {
		t.Errorf("texts (-got +want):\n%s", diff)
	}
	if (dashboard.Rates{}).P99Text() != "–" {
		t.Error("no traffic is not shown as a dash")
	}
}

// BenchmarkRender: the page of 10 releases (4 namespaces and 20 verify
// results each) and a journal of 1,000 entries, built and rendered.
func BenchmarkRender(b *testing.B) {
	d := sample()
	d.Releases = nil
	for i := range 10 {
		name := fmt.Sprintf("rel%d", i)
		d.Releases = append(d.Releases, dashboard.ReleaseSpec{Name: name, Version: fmt.Sprintf("%d.0", i)})
		rs := d.State.Release(name)
		rs.Running = true
		for j := range 4 {
			rs.Namespaces = append(rs.Namespaces, &store.NamespaceState{Namespace: termshift.Namespace{Service: termshift.MySQL, Logical: fmt.Sprintf("db%d", j), Name: fmt.Sprintf("db%d_%s", j, name)},
				Status: store.NSScrubbed, Proof: &store.Proof{At: at, Objects: map[string]int64{"a": 1, "b": 2, "c": 3}}})
		}
		rs.Verify = &store.VerifyRecord{At: at, Passed: true, Counts: map[string]int{"pass": 20}}
		for j := range 20 {
			rs.Verify.Results = append(rs.Verify.Results, verify.Result{Check: "connectivity", Target: fmt.Sprintf("t%d", j), Status: verify.Pass, Detail: "ok"})
		}
		d.Traffic[name] = dashboard.Rates{Requests: 100, RPS: 1.7, Window: time.Minute}
	}
	d.Journal = nil
	for i := range 1000 {
		d.Journal = append(d.Journal, store.Entry{Time: at.Add(time.Duration(i) * time.Second), Actor: "ops@host", Command: "upgrade next", Release: "next", Step: "restore", Outcome: "done", Detail: "restored 12 tables"})
	}
	d.Redact = termshift.Redactor([]string{"secret-one-1234", "secret-two-5678"}, "[redacted]")
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := dashboard.Render(&buf, dashboard.Build(d)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "page-bytes")
}

func TestPageShowsAProgressiveCutover(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		pg   *store.Progressive
		want string
	}{
		{"none", nil, ""},
		{"running", &store.Progressive{Release: "patch", From: "current", Steps: []int{5, 25, 50, 100}, Step: 1, Percent: 25, Since: at, Status: store.ProgressRunning},
			`<div class="banner warn" role="status">A progressive cutover is running: patch takes 25% of public traffic from current (step 2 of 4, since 2026-11-21 09:30:00Z).</div>`},
		{"rolled back", &store.Progressive{Release: "patch", From: "current", Steps: []int{5, 100}, Step: 0, Status: store.ProgressRolledBack, Why: "error rate 46.67% > 1% (7 of 15 requests)"},
			`The progressive cutover of patch was rolled back at step 1 of 2: error rate 46.67% &gt; 1% (7 of 15 requests). Its traffic went back to current.`},
		{"promoted", &store.Progressive{Release: "patch", From: "current", Steps: []int{100}, Status: store.ProgressPromoted}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := sample()
			d.State.Progressive = tc.pg
			html := render(t, d)
			if tc.want == "" {
				if strings.Contains(html, "progressive cutover") {
					t.Errorf("the page speaks of a progressive cutover:\n%s", html)
				}
				return
			}
			if !strings.Contains(html, tc.want) {
				t.Errorf("the page does not say %q", tc.want)
			}
			if p := dashboard.Build(d); !strings.Contains(p.Progressive, "patch") {
				t.Errorf("JSON view progressive = %q", p.Progressive)
			}
		})
	}
}
