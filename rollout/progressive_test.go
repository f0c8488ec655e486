package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
)

// flaky is an external release that fails a share of its requests (in
// thousandths) while its fault is on; /heartbeat always answers.
type flaky struct {
	srv      *httptest.Server
	failPerK atomic.Int64
	n        atomic.Int64
}

func newFlaky(t *testing.T, name string) *flaky {
	f := &flaky{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/heartbeat" && f.n.Add(1)%1000 < f.failPerK.Load() {
			http.Error(w, "injected fault", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, `{"release":%q}`, name)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// canary is an environment of a live release and a patch release on its
// data (data: {shared_with: current}) behind a real serve, with public
// traffic flowing while the test runs.
type canary struct {
	*lifecycle
	patch *flaky
	// served counts the answers of each release by status class.
	mu     sync.Mutex
	served map[string]map[int]int
}

func newCanary(t *testing.T, extra ...string) *canary {
	t.Helper()
	cur, patch := newFlaky(t, "current"), newFlaky(t, "patch")
	dir := t.TempDir()
	yaml := fmt.Sprintf(`name: canary
releases:
  - {name: current, version: "1.0", runner: external, health_url: "%s/heartbeat"}
  - {name: patch, version: "1.0.1", runner: external, health_url: "%s/heartbeat", data: {shared_with: current}}
  - {name: other, version: "2.0", runner: external, health_url: "%s/heartbeat"}
  - {name: patch2, version: "1.0.2", runner: external, health_url: "%s/heartbeat", data: {shared_with: current}}
router: {listen: %q, admin_listen: %q, retention: 1h}
%s`, cur.srv.URL, patch.srv.URL, cur.srv.URL, patch.srv.URL, freeAddr(t), freeAddr(t), strings.Join(extra, "\n"))
	path := filepath.Join(dir, "termshift.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := envfile.LoadEnvironment(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	c := &canary{lifecycle: &lifecycle{t: t, o: orchestrator(t, env, "test"), router: env.Router.Listen, env: env}, patch: patch, served: map[string]map[int]int{}}
	s, _ := c.o.LoadState(t.Context())
	now := time.Now()
	for _, name := range []string{"current", "patch", "other", "patch2"} {
		rs := s.Release(name)
		rs.Namespaces = []*store.NamespaceState{{Namespace: termshift.Namespace{Service: termshift.Memcached, Logical: "default", Release: name, Name: "cache-" + name}, Status: store.NSCarved, Endpoints: []string{"127.0.0.1:1"}}}
		rs.Running = true
		rs.ChangedAt = now.Add(-time.Minute)
		rs.Verify = &store.VerifyRecord{At: now, Passed: true}
	}
	s.Live = "current"
	if err := c.o.SaveState(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	c.serve()
	c.o.Reason = "test"
	return c
}

// load sends public requests (no cookies: each draws its side) until ctx
// is done, counting who answered what.
func (c *canary) load(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				resp, err := client.Get("http://" + c.router + "/")
				if err != nil {
					continue
				}
				resp.Body.Close()
				by := resp.Header.Get("X-Termshift-Served-By")
				c.mu.Lock()
				if c.served[by] == nil {
					c.served[by] = map[int]int{}
				}
				c.served[by][resp.StatusCode/100]++
				c.mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	return wg.Wait
}

func (c *canary) count(release string, class int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.served[release][class]
}

func (c *canary) journal(outcome string) []store.Entry {
	entries, _, err := c.o.Store.ReadJournal(c.t.Context())
	if err != nil {
		c.t.Fatal(err)
	}
	var out []store.Entry
	for _, e := range entries {
		if e.Outcome == outcome {
			out = append(out, e)
		}
	}
	return out
}

func progressive(steps ...int) rollout.ProgressiveOptions {
	min := uint64(5)
	return rollout.ProgressiveOptions{Steps: steps, Interval: time.Second, MinRequests: &min}
}

func TestProgressiveCutoverRollsBackAFaultyRelease(t *testing.T) {
	c := newCanary(t)
	c.patch.failPerK.Store(300)
	ctx, stop := context.WithCancel(context.Background())
	wait := c.load(ctx)
	rep, err := c.o.Progressive(t.Context(), "patch", progressive(20, 50, 100))
	stop()
	wait()
	if !errors.Is(err, rollout.ErrRolledBack) {
		t.Fatalf("progressive cutover of a faulty release: %v, want rolled back", err)
	}
	if rep.Status != store.ProgressRolledBack || !strings.Contains(rep.Why, "error rate") {
		t.Errorf("report: %s, %q: want rolled back naming the error rate", rep.Status, rep.Why)
	}
	// Rolled back at the end of the first step: one interval, plus the
	// reads of state and counters.
	if n := len(rep.History); n != 1 || rep.History[0].Percent != 20 || rep.History[0].Verdict != "fail" {
		t.Errorf("history %+v: want one failed analysis at 20%%", rep.History)
	}
	s, _ := c.o.LoadState(t.Context())
	if s.Live != "current" || s.Progressive.Percent != 0 || s.Progressive.Status != store.ProgressRolledBack {
		t.Errorf("state after the rollback: live %s, progressive %+v", s.Live, s.Progressive)
	}
	j := c.journal("rolled-back")
	if len(j) != 1 || !strings.Contains(j[0].Detail, "error rate") || !strings.Contains(j[0].Detail, "%") {
		t.Errorf("journal of the rollback: %+v: want the metric and its value", j)
	}
	// All public traffic is on current again, with the split cookie too.
	for range 50 {
		req, _ := http.NewRequest(http.MethodGet, "http://"+c.router+"/", nil)
		req.AddCookie(&http.Cookie{Name: "termshift_split", Value: "0"})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if by := resp.Header.Get("X-Termshift-Served-By"); by != "current" {
			t.Fatalf("after the rollback a browser of the patch's side is served by %s", by)
		}
	}
	if c.count("patch", 5) == 0 {
		t.Error("the faulty patch failed no request: the test did not test")
	}
}

func TestProgressiveCutoverPromotesAHealthyRelease(t *testing.T) {
	c := newCanary(t)
	ctx, stop := context.WithCancel(context.Background())
	wait := c.load(ctx)
	var lines []string
	opts := progressive(25, 50, 100)
	opts.OnStep = func(ev rollout.ProgressEvent) {
		lines = append(lines, fmt.Sprintf("%d/%d %d%% %s", ev.Step, ev.Of, ev.Percent, ev.Event))
	}
	rep, err := c.o.Progressive(t.Context(), "patch", opts)
	stop()
	wait()
	if err != nil {
		t.Fatalf("progressive cutover of a healthy release: %v", err)
	}
	want := "1/3 25% weight,1/3 25% pass,2/3 50% weight,2/3 50% pass,3/3 100% promoted"
	if got := strings.Join(lines, ","); got != want {
		t.Errorf("steps:\n got %s\nwant %s", got, want)
	}
	s, _ := c.o.LoadState(t.Context())
	if s.Live != "patch" || s.Previous != "current" || s.Progressive.Status != store.ProgressPromoted {
		t.Errorf("after promotion: live %s, previous %s, progressive %s", s.Live, s.Previous, s.Progressive.Status)
	}
	if rep.Switch == nil || rep.Switch.From != "current" {
		t.Errorf("switch report %+v", rep.Switch)
	}
	if n := c.count("patch", 2); n == 0 {
		t.Error("the patch served nothing during its progressive cutover")
	}
	if n := c.count("patch", 5) + c.count("current", 5); n != 0 {
		t.Errorf("%d requests failed during a healthy progressive cutover, want 0", n)
	}
	if body, _ := c.get(); !strings.Contains(body, `"patch"`) {
		t.Errorf("public traffic after promotion reaches %s", body)
	}
}

func TestProgressiveCutoverBadInput(t *testing.T) {
	c := newCanary(t)
	ctx := t.Context()
	for _, tc := range []struct {
		release string
		opts    rollout.ProgressiveOptions
		want    string
	}{
		{"patch", progressive(5, 5, 100), "5 after 5: each step must be larger"},
		{"patch", progressive(50, 25, 100), "25 after 50"},
		{"patch", progressive(5, 25, 50), "the last step must be 100"},
		{"patch", progressive(0, 50, 100), "0 is outside 1-100"},
		{"patch", progressive(5, 150), "150 is outside 1-100"},
		{"patch", progressive(), "want weights in percent"},
		{"patch", rollout.ProgressiveOptions{Steps: []int{50, 100}, Interval: time.Second, Window: 2 * time.Second}, "shorter than the metrics window"},
		{"patch", rollout.ProgressiveOptions{Steps: []int{50, 100}, Interval: 10 * time.Millisecond}, "--interval 10ms: want at least 1s"},
		{"other", progressive(5, 100), "a split would send one student's writes to two databases"},
	} {
		_, err := c.o.Progressive(ctx, tc.release, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: %v, want %q", tc.release, tc.opts.Steps, err, tc.want)
		}
		var he *termshift.HintError
		if tc.release == "other" && (!errors.As(err, &he) || !strings.Contains(he.Hint, "--final-sync")) {
			t.Errorf("refusal for a release with its own namespaces: %v, want the hint --final-sync", err)
		}
	}
	s, _ := c.o.LoadState(ctx)
	if s.Progressive != nil || s.Live != "current" {
		t.Errorf("bad input changed state: live %s, progressive %+v", s.Live, s.Progressive)
	}
}

func TestProgressiveCutoverIsSteeredAndContinued(t *testing.T) {
	c := newCanary(t)
	ctx, stop := context.WithCancel(context.Background())
	wait := c.load(ctx)
	defer func() { stop(); wait() }()
	opts := progressive(10, 100)
	opts.Interval = time.Hour // only steering moves it
	runCtx, cancelRun := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := c.o.Progressive(runCtx, "patch", opts); done <- err }()
	steerer := orchestrator(t, c.env, "cutover patch --pause")
	steerer.Reason = "looks odd"
	waitFor(t, "the split at 10%", func() bool {
		s, _ := c.o.LoadState(t.Context())
		return s.Progressive != nil && s.Progressive.Percent == 10
	})
	// A second progressive cutover is refused while this one runs.
	other := orchestrator(t, c.env, "test")
	other.Reason = "second"
	if _, err := other.Progressive(t.Context(), "patch", progressive(50, 100)); err == nil || !strings.Contains(err.Error(), "runs with --steps 10,100") {
		t.Errorf("a second progressive cutover with other steps: %v", err)
	}
	if _, err := other.Progressive(t.Context(), "patch2", progressive(50, 100)); err == nil || !strings.Contains(err.Error(), `a progressive cutover of "patch" is running`) {
		t.Errorf("a progressive cutover of another release while one runs: %v", err)
	}
	if _, err := steerer.Steer(t.Context(), "patch", rollout.SteerPause); err != nil {
		t.Fatal(err)
	}
	// The command stops (a crash, a closed terminal) and is run again: it
	// continues where state says, paused.
	cancelRun()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "run the same command again") {
		t.Errorf("stopped progressive cutover: %v", err)
	}
	runCtx2, cancelRun2 := context.WithCancel(t.Context())
	defer cancelRun2()
	go func() { _, err := c.o.Progressive(runCtx2, "patch", rollout.ProgressiveOptions{}); done <- err }()
	waitFor(t, "the continuation", func() bool { return len(c.journal("continued")) == 1 })
	if _, err := steerer.Steer(t.Context(), "patch", rollout.SteerResume); err != nil {
		t.Fatal(err)
	}
	if _, err := steerer.Steer(t.Context(), "patch", rollout.SteerAbort); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, rollout.ErrAborted) {
		t.Errorf("aborted progressive cutover: %v, want ErrAborted", err)
	}
	s, _ := c.o.LoadState(t.Context())
	if s.Live != "current" || s.Progressive.Status != store.ProgressAborted || s.Progressive.Percent != 0 {
		t.Errorf("after abort: live %s, progressive %+v", s.Live, s.Progressive)
	}
	if _, err := steerer.Steer(t.Context(), "patch", rollout.SteerResume); !errors.Is(err, termshift.ErrNotFound) {
		t.Errorf("resume after abort: %v, want not found", err)
	}
	if len(c.journal("pause")) != 1 || len(c.journal("abort")) != 1 || len(c.journal("continued")) != 1 {
		t.Errorf("journal lacks the pause, the continuation or the abort")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for i := 0; !ok(); i++ {
		if i > 500 {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRollbackEndsAProgressiveCutover(t *testing.T) {
	c := newCanary(t)
	opts := progressive(10, 100)
	opts.Interval = time.Hour
	done := make(chan error, 1)
	driver := orchestrator(t, c.env, "cutover patch --steps 10,100")
	driver.Reason = "patch"
	go func() {
		done <- driver.Locked(t.Context(), func() error {
			_, err := driver.Progressive(t.Context(), "patch", opts)
			return err
		})
	}()
	waitFor(t, "the split at 10%", func() bool {
		s, _ := c.o.LoadState(t.Context())
		return s.Progressive != nil && s.Progressive.Percent == 10
	})
	oncall := orchestrator(t, c.env, "rollback --to other --force")
	oncall.Reason = "incident"
	if _, err := oncall.Rollback(t.Context(), rollout.RollbackOptions{To: "other", Force: true}); err != nil {
		t.Fatalf("rollback during a progressive cutover: %v", err)
	}
	if err := <-done; err == nil {
		t.Error("the progressive cutover went on after its lock was taken over")
	}
	s, _ := c.o.LoadState(t.Context())
	if s.Live != "other" || s.Progressive.Active() || s.Progressive.Percent != 0 || !strings.Contains(s.Progressive.Why, "rollback") {
		t.Errorf("after the rollback: live %s, progressive %+v", s.Live, s.Progressive)
	}
	if body, _ := c.get(); !strings.Contains(body, `"current"`) && !strings.Contains(body, `"other"`) {
		t.Errorf("public traffic after the rollback reaches %s", body)
	}
}

func TestProgressiveCutoverHoldsWithoutTraffic(t *testing.T) {
	c := newCanary(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3500*time.Millisecond)
	defer cancel()
	rep, err := c.o.Progressive(ctx, "patch", progressive(50, 100))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("progressive cutover without traffic: %v, want it still holding when stopped", err)
	}
	if len(rep.Events) < 3 {
		t.Fatalf("events %+v: want the weight and at least two analyses", rep.Events)
	}
	for _, ev := range rep.Events[1:] {
		if ev.Event != "inconclusive" || ev.Percent != 50 || !strings.Contains(ev.Detail, "requests 0 < 5") {
			t.Errorf("event %+v: want inconclusive at 50%% naming too few requests", ev)
		}
	}
	s, _ := c.o.LoadState(t.Context())
	if s.Live != "current" || s.Progressive.Percent != 50 || s.Progressive.Status != store.ProgressRunning {
		t.Errorf("after inconclusive steps: live %s, progressive %+v", s.Live, s.Progressive)
	}
}

func TestProgressiveCutoverPrometheusCheckFails(t *testing.T) {
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if q := r.URL.Query().Get("query"); q != `sum(rate(lms_db_errors_total{release="patch"}[1s]))` {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":"unexpected query %q"}`, q)
			return
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"7.5"]}]}}`, time.Now().Unix())
	}))
	t.Cleanup(prom.Close)
	c := newCanary(t, fmt.Sprintf(`progressive:
  max_error_rate: 5
  prometheus:
    url: %s
    queries:
      - {name: db errors, query: 'sum(rate(lms_db_errors_total{release="{{release}}"}[{{window}}]))', condition: "< 1"}
`, prom.URL))
	ctx, stop := context.WithCancel(context.Background())
	wait := c.load(ctx)
	rep, err := c.o.Progressive(t.Context(), "patch", progressive(50, 100))
	stop()
	wait()
	if !errors.Is(err, rollout.ErrRolledBack) || !strings.Contains(rep.Why, "db errors 7.5, want < 1") {
		t.Fatalf("a failed Prometheus check: %v (%q), want rolled back naming the query and its value", err, rep.Why)
	}
	s, _ := c.o.LoadState(t.Context())
	if s.Progressive.MaxErrorRate != 5 {
		t.Errorf("max_error_rate of termshift.yaml not applied: %v", s.Progressive.MaxErrorRate)
	}
}
