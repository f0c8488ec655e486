package rollout_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/verify"
)

// What a person sees, in a real browser: Debian's Chromium driven by
// chromedp against a real serve. The browser is TERMSHIFT_CHROMIUM, else
// /usr/bin/chromium; without it the tests skip, except under CI=true,
// where they fail. Each case saves a screenshot under
// $TERMSHIFT_TEST_OUTPUT/browser, else .termshift-dev/test-output/browser
// at the top of the checkout.

func chromium(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("TERMSHIFT_CHROMIUM")
	if bin == "" {
		bin = "/usr/bin/chromium"
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no browser at %s (set TERMSHIFT_CHROMIUM, or apt-get install chromium; CI=true forbids skipping): %v", bin, err)
		}
		t.Skipf("no browser at %s: apt-get install chromium, or set TERMSHIFT_CHROMIUM", bin)
	}
	return bin
}

func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TERMSHIFT_TEST_OUTPUT")
	if dir == "" {
		dir = filepath.Join("..", ".termshift-dev", "test-output")
	}
	dir = filepath.Join(dir, "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserCtx starts a headless Chromium with a fresh profile, for the test.
func browserCtx(t *testing.T) context.Context {
	t.Helper()
	bin := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser: no timeout on it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium %s: %v", bin, err)
	}
	return ctx
}

// htmlRelease is an external release with an HTML home page naming itself.
func htmlRelease(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/heartbeat" {
			fmt.Fprint(w, "ok")
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>LMS %[1]s</title></head><body><h1 id="who">release %[1]s</h1><p><a id="courses" href="/courses">courses</a></p></body></html>`, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// browserEnv is a serve of three HTML releases, current live, next
// verified and failed; no admin auth (loopback only).
func browserEnv(t *testing.T) (public, admin string) {
	t.Helper()
	cur, next, old := htmlRelease(t, "current"), htmlRelease(t, "next"), htmlRelease(t, "old")
	public, admin = freeAddr(t), freeAddr(t)
	yaml := `name: browser
releases:
  - {name: current, version: "1.0", runner: external, health_url: "` + cur.URL + `/heartbeat"}
  - {name: next, version: "2.0", runner: external, health_url: "` + next.URL + `/heartbeat"}
  - {name: old, version: "0.9", runner: external, health_url: "` + old.URL + `/heartbeat"}
router: {listen: "` + public + `", admin_listen: "` + admin + `", retention: 1h}
`
	path := filepath.Join(t.TempDir(), "termshift.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := envfile.LoadEnvironment(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	o := orchestrator(t, env, "test")
	s, _ := o.LoadState(t.Context())
	now := time.Now()
	for _, name := range []string{"current", "next", "old"} {
		rs := s.Release(name)
		rs.Running = true
		rs.Namespaces = []*store.NamespaceState{{Namespace: termshift.Namespace{Service: termshift.MySQL, Logical: "edxapp", Release: name, Name: "edxapp_" + name},
			Status: store.NSScrubbed, Proof: &store.Proof{At: now, Source: "s3://backups/2026-11-20", Objects: map[string]int64{"auth_user": 25001}}}}
	}
	s.Live, s.Previous, s.LiveSince = "current", "old", now
	s.Releases["next"].Verify = &store.VerifyRecord{At: now, Passed: false, Counts: map[string]int{"pass": 1, "fail": 1}, Results: []verify.Result{
		{Check: "connectivity", Target: "mysql edxapp_next", Status: verify.Pass, Detail: "connected"},
		{Check: "integrity", Target: "mysql edxapp_next", Status: verify.Fail, Detail: "auth_user: 25000 rows, the backup has 25001"},
	}}
	if err := o.SaveState(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- orchestrator(t, env, "serve").Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	for i := 0; ; i++ {
		if c, err := net.DialTimeout("tcp", admin, time.Second); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v", err)
		default:
		}
		if i > 300 {
			t.Fatal("serve did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return public, admin
}

func responseServedBy(resp *network.Response) string {
	if resp == nil {
		return ""
	}
	for k, v := range resp.Headers {
		if strings.EqualFold(k, router.ServedByHeader) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(screenshotDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func bannerShown(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const b = document.getElementById("termshift-preview"); return b && b.offsetHeight > 0 ? b.textContent : ""; })()`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDashboardInABrowser(t *testing.T) {
	ctx := browserCtx(t)
	public, admin := browserEnv(t)
	step := func(name string) context.Context {
		c, cancel := context.WithTimeout(ctx, 60*time.Second)
		t.Cleanup(cancel)
		t.Logf("case: %s", name)
		return c
	}

	c := step("the dashboard shows the live release")
	if err := chromedp.Do(c, chromedp.Navigate("http://"+admin+"/_termshift/"), chromedp.WaitVisible(chromedp.ID("live"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, c, "#live"); got != "current" {
		t.Errorf("live release shown: %q, want current", got)
	}
	if got := text(t, c, "#release-current td:nth-of-type(2)"); got != "live" {
		t.Errorf("role of current: %q, want live", got)
	}
	if got := text(t, c, "#rollback"); got != "old" {
		t.Errorf("rollback target shown: %q, want old", got)
	}
	shoot(t, c, "dashboard-live")

	c = step("a failed verify shows as failed, with its detail")
	if got := text(t, c, "#detail-next .verdict strong"); got != "failed" {
		t.Errorf("verify verdict of next: %q, want failed", got)
	}
	if got := text(t, c, "#detail-next table.verify tbody tr:first-child"); !strings.Contains(got, "fail") || !strings.Contains(got, "auth_user: 25000 rows, the backup has 25001") {
		t.Errorf("first verify row of next: %q, want the failure and its detail first", got)
	}
	if err := chromedp.Do(c, chromedp.ScrollIntoView(chromedp.ID("detail-next"))); err != nil {
		t.Fatal(err)
	}
	shoot(t, c, "dashboard-verify-failed")

	c = step("the preview button sends the next page load to the preview release")
	resp, err := chromedp.RunResponse(c, chromedp.Click(chromedp.ID("preview-next")))
	if err != nil {
		t.Fatal(err)
	}
	if got := responseServedBy(resp); got != "next" {
		t.Errorf("the page after 'preview this release' was served by %q, want next", got)
	}
	resp, err = chromedp.Run(c, chromedp.NavigateResponse("http://"+public+"/courses"))
	if err != nil {
		t.Fatal(err)
	}
	if got := responseServedBy(resp); got != "next" || text(t, c, "#who") != "release next" {
		t.Errorf("the next page load was served by %q, want next", got)
	}
	if b := bannerShown(t, c); !strings.Contains(b, "previewing next - stop") {
		t.Errorf("banner on the preview: %q", b)
	}
	shoot(t, c, "preview-from-dashboard")
	// Stop previewing, from the dashboard.
	if err := chromedp.Do(c, chromedp.Navigate("http://"+admin+"/_termshift/")); err != nil {
		t.Fatal(err)
	}
	resp, err = chromedp.RunResponse(c, chromedp.Click(chromedp.ID("stop-preview")))
	if err != nil {
		t.Fatal(err)
	}
	if got := responseServedBy(resp); got != "current" {
		t.Errorf("after 'stop previewing' the page was served by %q, want current", got)
	}

	c = step("the preview flow from the public home page and back")
	resp, err = chromedp.Run(c, chromedp.NavigateResponse("http://"+public+"/"))
	if err != nil {
		t.Fatal(err)
	}
	if got := responseServedBy(resp); got != "current" || bannerShown(t, c) != "" {
		t.Errorf("public home page: served by %q, banner %q; want current without a banner", got, bannerShown(t, c))
	}
	shoot(t, c, "flow-1-public-home")
	resp, err = chromedp.Run(c, chromedp.NavigateResponse("http://"+public+"/_termshift/preview/next"))
	if err != nil {
		t.Fatal(err)
	}
	if got := responseServedBy(resp); got != "next" || text(t, c, "#who") != "release next" {
		t.Errorf("after the preview link: served by %q, want next's page", got)
	}
	if b := bannerShown(t, c); !strings.Contains(b, "previewing next - stop") {
		t.Errorf("banner on next's page: %q, want it visible", b)
	}
	shoot(t, c, "flow-2-preview-with-banner")
	resp, err = chromedp.RunResponse(c, chromedp.Click(chromedp.ID("courses")))
	if err != nil {
		t.Fatal(err)
	}
	if got := responseServedBy(resp); got != "next" || bannerShown(t, c) == "" {
		t.Errorf("a link on the preview: served by %q, banner %q; want next with the banner", got, bannerShown(t, c))
	}
	resp, err = chromedp.RunResponse(c, chromedp.Click(chromedp.CSS("#termshift-preview a")))
	if err != nil {
		t.Fatal(err)
	}
	if got := responseServedBy(resp); got != "current" || text(t, c, "#who") != "release current" || bannerShown(t, c) != "" {
		t.Errorf("after 'stop' in the banner: served by %q, banner %q; want current without a banner", got, bannerShown(t, c))
	}
	shoot(t, c, "flow-3-back-to-public")
}
