package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/rollout/wiring"
)

// fakeRelease is an externally deployed release: an HTTP server that says
// which release it is.
func fakeRelease(t testing.TB, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"release":%q}`, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lifecycle is an environment of two external releases behind the local
// router of a real `serve`, with no database servers: the orchestration
// itself under test.
type lifecycle struct {
	t      *testing.T
	o      *rollout.Orchestrator
	router string
	env    *envfile.Environment
}

func orchestrator(t testing.TB, env *envfile.Environment, command string) *rollout.Orchestrator {
	t.Helper()
	o, err := wiring.Orchestrator(t.Context(), env, nil, io.Discard, command)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func newLifecycle(t *testing.T, preCutover string) *lifecycle {
	t.Helper()
	cur, next := fakeRelease(t, "current"), fakeRelease(t, "next")
	router := freeAddr(t)
	dir := t.TempDir()
	pre := ""
	if preCutover != "" {
		pre = fmt.Sprintf(", pre_cutover: [[sh, -c, %q]]", preCutover)
	}
	yaml := fmt.Sprintf(`name: lifecycle
releases:
  - {name: current, version: "1.0", runner: external, health_url: "%s/heartbeat"}
  - {name: next, version: "2.0", runner: external, health_url: "%s/heartbeat"%s}
router: {listen: %q, retention: 1h, maintenance: {retry_after: 7s, message: "upgrading, back soon"}}
`, cur.URL, next.URL, pre, router)
	path := filepath.Join(dir, "termshift.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := envfile.LoadEnvironment(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	l := &lifecycle{t: t, o: orchestrator(t, env, "test"), router: router, env: env}
	// Both releases carved, deployed and verified, as upgrade leaves them.
	s, _ := l.o.LoadState(t.Context())
	now := time.Now()
	for _, name := range []string{"current", "next"} {
		rs := s.Release(name)
		rs.Namespaces = []*store.NamespaceState{{Namespace: termshift.Namespace{Service: termshift.Memcached, Logical: "default", Release: name, Name: "cache-" + name}, Status: store.NSCarved, Endpoints: []string{"127.0.0.1:1"}}}
		rs.Running = true
		rs.ChangedAt = now.Add(-time.Minute)
		rs.SetStep("carve", "done", "", rs.ChangedAt)
		rs.Verify = &store.VerifyRecord{At: now, Passed: true}
	}
	if err := l.o.SaveState(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	l.serve()
	return l
}

func (l *lifecycle) serve() {
	t := l.t
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o := orchestrator(t, l.env, "serve")
	go func() { done <- o.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	for i := 0; !l.o.Control().Running(); i++ {
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v", err)
		default:
		}
		if i > 200 {
			t.Fatal("serve did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get returns who answered a public request, or the status when not 200.
func (l *lifecycle) get(header ...string) (string, *http.Response) {
	l.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+l.router+"/version", nil)
	if len(header) == 2 {
		req.Header.Set(header[0], header[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		l.t.Fatalf("GET through the router: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(body), resp
}

func (l *lifecycle) mutate(f func(s *store.State)) {
	l.t.Helper()
	s, err := l.o.LoadState(l.t.Context())
	if err != nil {
		l.t.Fatal(err)
	}
	f(s)
	if err := l.o.SaveState(l.t.Context(), s); err != nil {
		l.t.Fatal(err)
	}
}

func TestCutoverGateAndRollback(t *testing.T) {
	l := newLifecycle(t, "")
	ctx := context.Background()
	l.o.Reason = "test"
	if body, resp := l.get(); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("before any cutover: %d %s, want 503 (no live release)", resp.StatusCode, body)
	}
	if _, err := l.o.Cutover(ctx, "current", rollout.CutoverOptions{}); err != nil {
		t.Fatalf("first cutover: %v", err)
	}
	if body, _ := l.get(); !strings.Contains(body, `"current"`) {
		t.Fatalf("public traffic after cutover reaches %s", body)
	}
	if body, _ := l.get(router.PreviewHeader, "next"); !strings.Contains(body, `"next"`) {
		t.Errorf("preview header reaches %s, want next", body)
	}

	for _, tc := range []struct {
		name   string
		change func(rs *store.ReleaseState)
		want   string
	}{
		{"never verified", func(rs *store.ReleaseState) { rs.Verify = nil }, "it was never verified"},
		{"verify failed", func(rs *store.ReleaseState) {
			rs.Verify = &store.VerifyRecord{At: time.Now(), Failed: []string{"isolation mysql x: granted"}}
		}, "failed: isolation mysql x: granted"},
		{"verify stale", func(rs *store.ReleaseState) {
			rs.Verify = &store.VerifyRecord{At: time.Now(), Passed: true}
			rs.ChangedAt = time.Now().Add(time.Minute)
		}, "older than its last change"},
		{"partial verify", func(rs *store.ReleaseState) {
			rs.ChangedAt = time.Time{}
			rs.Verify = &store.VerifyRecord{At: time.Now(), Passed: true, Partial: true}
		}, "ran only some checks"},
		{"not running", func(rs *store.ReleaseState) {
			rs.Verify = &store.VerifyRecord{At: time.Now(), Passed: true}
			rs.Running = false
		}, "it is not running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.mutate(func(s *store.State) { tc.change(s.Releases["next"]) })
			_, err := l.o.Cutover(ctx, "next", rollout.CutoverOptions{})
			if !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "traffic untouched") {
				t.Errorf("Cutover = %v, want refused: %q", err, tc.want)
			}
			if body, _ := l.get(); !strings.Contains(body, `"current"`) {
				t.Errorf("traffic moved after a refused cutover: %s", body)
			}
		})
	}
	if _, err := l.o.Cutover(ctx, "redwood", rollout.CutoverOptions{}); !errors.Is(err, termshift.ErrNotFound) {
		t.Errorf("cutover to an unknown release: %v", err)
	}
	// --skip-verify with a reason goes through, journaled as forced.
	l.mutate(func(s *store.State) { s.Releases["next"].Running = true; s.Releases["next"].Verify = nil })
	l.o.Reason = "QA signed off on paper"
	rep, err := l.o.Cutover(ctx, "next", rollout.CutoverOptions{SkipVerify: true})
	if err != nil || !strings.Contains(rep.Forced, "never verified") {
		t.Fatalf("cutover --skip-verify = %+v, %v", rep, err)
	}
	if body, _ := l.get(); !strings.Contains(body, `"next"`) {
		t.Errorf("public traffic after cutover reaches %s", body)
	}
	s, _ := l.o.LoadState(ctx)
	if s.Live != "next" || s.Previous != "current" {
		t.Errorf("live %q previous %q", s.Live, s.Previous)
	}
	// The rollback target may not be torn down, whatever the flags.
	if _, err := l.o.Teardown(ctx, "current", true); !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), "rollback target") {
		t.Errorf("teardown of the rollback target: %v", err)
	}
	if _, err := l.o.Teardown(ctx, "next", true); !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), "live release") {
		t.Errorf("teardown of the live release: %v", err)
	}

	// Rollback: another command holds the lock; without force it is named,
	// with force it is taken over and the holder stops at its next step.
	holder, _, err := l.o.Store.Acquire(ctx, "upgrade redwood")
	if err != nil {
		t.Fatal(err)
	}
	l.o.Reason = "INC-1"
	if _, err := l.o.Rollback(ctx, rollout.RollbackOptions{}); !errors.Is(err, termshift.ErrLocked) || !strings.Contains(err.Error(), "(upgrade redwood)") {
		t.Fatalf("rollback under a held lock = %v", err)
	}
	rep, err = l.o.Rollback(ctx, rollout.RollbackOptions{Force: true})
	if err != nil {
		t.Fatalf("rollback --force: %v", err)
	}
	if !strings.Contains(rep.Forced, "upgrade redwood") || rep.To != "current" || rep.From != "next" {
		t.Errorf("rollback report %+v", rep)
	}
	// next has no MySQL or MongoDB namespaces: nothing can be stranded.
	if rep.Stranded == nil || !rep.Stranded.Empty() || rep.Stranded.Release != "next" {
		t.Errorf("rollback's stranded report = %+v, want an empty one for next", rep.Stranded)
	}
	if err := holder.Check(ctx); !errors.Is(err, termshift.ErrLocked) {
		t.Errorf("the former holder may go on: %v", err)
	}
	if body, _ := l.get(); !strings.Contains(body, `"current"`) {
		t.Errorf("public traffic after rollback reaches %s", body)
	}
	entries, _, _ := l.o.Store.ReadJournal(ctx)
	var outcomes []string
	for _, e := range entries {
		if e.Step == "cutover" || e.Step == "rollback" {
			outcomes = append(outcomes, e.Step+" "+e.Outcome+" "+e.Reason)
		}
	}
	for _, want := range []string{"cutover forced QA signed off on paper", "cutover done QA signed off on paper", "rollback forced INC-1", "rollback done INC-1", "cutover refused test"} {
		found := false
		for _, o := range outcomes {
			found = found || o == want
		}
		if !found {
			t.Errorf("journal lacks %q: %q", want, outcomes)
		}
	}
}

func TestCutoverMaintenanceWindow(t *testing.T) {
	l := newLifecycle(t, "touch "+filepath.Join(t.TempDir(), "started")+"; sleep 1")
	ctx := context.Background()
	l.o.Reason = "test"
	if _, err := l.o.Cutover(ctx, "current", rollout.CutoverOptions{}); err != nil {
		t.Fatal(err)
	}
	var maint503, retryAfter atomic.Int32
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			body, resp := l.get()
			if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, "upgrading, back soon") {
				maint503.Add(1)
				if resp.Header.Get("Retry-After") == "7" {
					retryAfter.Add(1)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	rep, err := l.o.Cutover(ctx, "next", rollout.CutoverOptions{})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("cutover with pre_cutover: %v", err)
	}
	if rep.Maintained <= 0 || maint503.Load() == 0 || retryAfter.Load() != maint503.Load() {
		t.Errorf("maintenance window %s: %d maintenance pages, %d with Retry-After 7", rep.Maintained, maint503.Load(), retryAfter.Load())
	}
	if body, resp := l.get(); resp.StatusCode != 200 || !strings.Contains(body, `"next"`) {
		t.Errorf("after the window: %d %s", resp.StatusCode, body)
	}
}

func TestFailingPreCutoverLiftsMaintenanceAndKeepsTraffic(t *testing.T) {
	l := newLifecycle(t, "echo migration exploded >&2; exit 3")
	ctx := context.Background()
	l.o.Reason = "test"
	if _, err := l.o.Cutover(ctx, "current", rollout.CutoverOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := l.o.Cutover(ctx, "next", rollout.CutoverOptions{})
	if err == nil || !strings.Contains(err.Error(), "migration exploded") || !strings.Contains(err.Error(), "traffic stays on current") {
		t.Fatalf("cutover with a failing pre_cutover = %v", err)
	}
	if body, resp := l.get(); resp.StatusCode != 200 || !strings.Contains(body, `"current"`) {
		t.Errorf("after a failed pre_cutover: %d %s, want current", resp.StatusCode, body)
	}
}

func TestServeRefusesASecondServeAndABusyAddress(t *testing.T) {
	l := newLifecycle(t, "")
	err := orchestrator(t, l.env, "serve").Serve(context.Background())
	if !errors.Is(err, termshift.ErrLocked) || !strings.Contains(err.Error(), "already runs") {
		t.Errorf("second serve = %v", err)
	}
	// Another environment on the same public address: the router says it cannot bind.
	other := *l.env
	other.StateDir = t.TempDir()
	err = orchestrator(t, &other, "serve").Serve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "router cannot bind "+l.router) {
		t.Errorf("serve on a busy address = %v", err)
	}
}

func TestGCListsOnlyReleasesPastRetention(t *testing.T) {
	l := newLifecycle(t, "")
	ctx := context.Background()
	l.o.Reason = "test"
	if _, err := l.o.Cutover(ctx, "current", rollout.CutoverOptions{}); err != nil {
		t.Fatal(err)
	}
	l.mutate(func(s *store.State) {
		s.Release("redwood").Namespaces = []*store.NamespaceState{{Namespace: termshift.Namespace{Service: termshift.Memcached, Logical: "default", Release: "redwood", Name: "cache-redwood"}}}
		s.Releases["redwood"].RetiredAt = time.Now().Add(-2 * time.Hour)
		s.Releases["next"].RetiredAt = time.Now().Add(-10 * time.Minute)
		s.Previous = "current" // not a real rollback target here; only to prove gc spares it
		s.Releases["current"].RetiredAt = time.Now().Add(-5 * time.Hour)
	})
	items, err := l.o.GC(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Release != "redwood" || items[0].Outcome != "would drop" || !strings.Contains(items[0].Why, "retention 1h0m0s") {
		t.Errorf("gc items = %+v, want only redwood", items)
	}
}

// A verify whose checks could not run where it matters is no pass: the
// gate refuses it unless the operator waives that check by name, and the
// waiver is journaled.
func TestGateRefusesUnknownUnlessWaived(t *testing.T) {
	l := newLifecycle(t, "")
	ctx := context.Background()
	l.o.Reason = "test"
	if _, err := l.o.Cutover(ctx, "current", rollout.CutoverOptions{}); err != nil {
		t.Fatal(err)
	}
	unknown := "isolation mysql edxapp_next: could not tell: schema \"edxapp_current\": timeout"
	l.mutate(func(s *store.State) {
		s.Releases["next"].Verify = &store.VerifyRecord{At: time.Now(), Passed: true, Unknown: []string{unknown}}
	})
	_, err := l.o.Cutover(ctx, "next", rollout.CutoverOptions{})
	if !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), "could not tell") || !strings.Contains(err.Error(), "--waive CHECK") {
		t.Fatalf("cutover with an unknown = %v, want refused", err)
	}
	if _, err := l.o.Cutover(ctx, "next", rollout.CutoverOptions{Waive: []string{"connectivity"}}); !errors.Is(err, termshift.ErrRefused) {
		t.Errorf("waiving another check: %v, want refused", err)
	}
	if _, err := l.o.Cutover(ctx, "next", rollout.CutoverOptions{Waive: []string{"isolaton"}}); !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("waiving a misspelt check: %v, want invalid", err)
	}
	l.o.Reason = "FerretDB cannot tell; checked by hand"
	rep, err := l.o.Cutover(ctx, "next", rollout.CutoverOptions{Waive: []string{"isolation"}})
	if err != nil || !strings.Contains(rep.Forced, "waived isolation") {
		t.Fatalf("cutover --waive isolation = %+v, %v", rep, err)
	}
	entries, _, _ := l.o.Store.ReadJournal(ctx)
	found := false
	for _, e := range entries {
		found = found || e.Outcome == "forced" && strings.Contains(e.Detail, unknown) && e.Reason == l.o.Reason
	}
	if !found {
		t.Errorf("journal %+v lacks the waiver with its reason", entries)
	}
}

// refusingRouter is the environment's real router, but the next switch is
// refused as a router does when someone changed it since the plan.
type refusingRouter struct {
	rollout.Switcher
	refuse bool
}

func (r *refusingRouter) Switch(ctx context.Context, t router.Table) error {
	if r.refuse {
		r.refuse = false
		return fmt.Errorf("public Service \"lms\" was changed by \"someone-else\" since the plan: %w", termshift.ErrRefused)
	}
	return r.Switcher.Switch(ctx, t)
}

// A switch the router refuses leaves state as it was: it does not say a
// release is live that gets no traffic.
func TestRefusedSwitchPutsStateBack(t *testing.T) {
	l := newLifecycle(t, "")
	ctx := context.Background()
	l.o.Reason = "test"
	if _, err := l.o.Cutover(ctx, "current", rollout.CutoverOptions{}); err != nil {
		t.Fatal(err)
	}
	before, _ := l.o.LoadState(ctx)
	rr := &refusingRouter{Switcher: l.o.P.Router, refuse: true}
	l.o.P.Router = rr
	_, err := l.o.Cutover(ctx, "next", rollout.CutoverOptions{})
	if !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), "state put back, traffic stays on current") {
		t.Fatalf("cutover refused by the router = %v", err)
	}
	after, _ := l.o.LoadState(ctx)
	if after.Live != "current" || after.Previous != before.Previous || after.Releases["next"].StepDone("cutover") {
		t.Errorf("state after a refused switch: live %q previous %q next's steps %v", after.Live, after.Previous, after.Releases["next"].Steps)
	}
	if body, _ := l.get(); !strings.Contains(body, `"current"`) {
		t.Errorf("traffic after a refused switch: %s", body)
	}
	// The next cutover goes through.
	if _, err := l.o.Cutover(ctx, "next", rollout.CutoverOptions{}); err != nil {
		t.Fatalf("cutover after the refusal: %v", err)
	}
}
