package bench_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/loadgen"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
	localstore "github.com/termshift/termshift/rollout/store/local"
	"github.com/termshift/termshift/rollout/wiring"
)

// BenchmarkCutoverServe is the cutover benchmark through the real thing:
// `termshift serve` (rollout.Serve: router, control socket, convergence on
// state) and the code of the `cutover` and `rollback` commands, each in its
// own orchestrator as a CLI process would be. The two releases are minimal
// HTTP apps deployed externally. Switch times run from each command's start
// (its verify gate, health check, counts, state write and the request to
// serve) until the first response from the new target.
func BenchmarkCutoverServe(b *testing.B) {
	current, next := app(b, "current"), app(b, "next")
	dir := b.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	listen := l.Addr().String()
	l.Close()
	yaml := fmt.Sprintf(`name: bench
releases:
  - {name: current, version: "1.0", runner: external, health_url: "%s/heartbeat"}
  - {name: next, version: "2.0", runner: external, health_url: "%s/heartbeat"}
router: {listen: %q}
`, current.URL, next.URL, listen)
	path := filepath.Join(dir, "termshift.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		b.Fatal(err)
	}
	env, err := envfile.LoadEnvironment(path, func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	command := func(line string) *rollout.Orchestrator {
		o, err := wiring.Orchestrator(b.Context(), env, nil, io.Discard, line)
		if err != nil {
			b.Fatal(err)
		}
		o.Reason = "benchmark"
		return o
	}
	// Both releases carved, deployed and verified, as upgrade leaves them.
	st := localstore.New(env.StateDir)
	s, err := st.Load(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"current", "next"} {
		rs := s.Release(name)
		rs.Namespaces = []*store.NamespaceState{{Namespace: termshift.Namespace{Service: termshift.Memcached, Logical: "default", Release: name, Name: "cache-" + name}, Status: store.NSCarved}}
		rs.Running = true
		rs.SetStep("carve", "done", "", time.Now().Add(-time.Minute))
		rs.ChangedAt = time.Now().Add(-time.Minute)
		rs.Verify = &store.VerifyRecord{At: time.Now(), Passed: true}
	}
	if err := st.Save(b.Context(), s); err != nil {
		b.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- command("serve").Serve(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			b.Errorf("serve: %v", err)
		}
	})
	cut := func(release string) error {
		o := command("cutover " + release)
		return o.Locked(ctx, func() error {
			_, err := o.Cutover(ctx, release, rollout.CutoverOptions{})
			return err
		})
	}
	for i := 0; ; i++ {
		if err := cut("current"); err == nil {
			break
		} else if i > 100 {
			b.Fatalf("first cutover: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // serve is still starting
	}

	for b.Loop() {
		var cutErr, backErr error
		events := []loadgen.Event{
			{Name: "cutover", At: cutoverAt, Want: "next", Do: func() { cutErr = cut("next") }},
			{Name: "rollback", At: rollbackAt, Want: "current", Do: func() {
				_, backErr = command("rollback").Rollback(ctx, rollout.RollbackOptions{})
			}},
		}
		res := loadgen.Load(b.Context(), "http://"+listen+"/", rate, duration, events)
		if cutErr != nil || backErr != nil {
			b.Fatalf("cutover: %v; rollback: %v", cutErr, backErr)
		}
		fmt.Printf("cutover benchmark behind termshift serve: %d requests sent at %d/s for %s, %d failed\n", res.Sent, rate, duration, res.Failed)
		for _, e := range res.Events {
			fmt.Printf("  %-8s first response from %-7s %v after the command started (switched: %v)\n", e.Name, e.Want, e.Switch, e.Switched)
		}
		fmt.Printf("  p50 %v, p99 %v through the router\n", res.P50, res.P99)
		b.ReportMetric(float64(res.Sent), "requests")
		b.ReportMetric(float64(res.Failed), "failed")
		for _, e := range res.Events {
			ms := -1.0
			if e.Switched {
				ms = float64(e.Switch) / float64(time.Millisecond)
			}
			b.ReportMetric(ms, e.Name+"-command-ms")
		}
		b.ReportMetric(float64(res.P99)/float64(time.Millisecond), "router-p99-ms")
		if res.Failed > 0 {
			b.Errorf("%d of %d requests failed across cutover and rollback: %v", res.Failed, res.Sent, res.Errors)
		}
	}
}
