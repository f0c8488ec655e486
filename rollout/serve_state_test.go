package rollout_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/rollout/store/s3/s3test"
)

// machine is one host of a team: its own environment directory (work
// files, serve's control socket) and router address, on the team's shared
// state in S3.
type machine struct {
	name   string
	env    *envfile.Environment
	router string
	stop   func() // stops its serve; nil while none runs
}

// team is several machines on one S3 state, with two external releases.
type team struct {
	tb       testing.TB
	state    envfile.StateConfig
	machines []*machine
}

func newTeam(tb testing.TB, n int, endpointOf func(i int) string) *team {
	tb.Helper()
	cur, next := fakeRelease(tb, "current"), fakeRelease(tb, "next")
	tm := &team{tb: tb, state: s3test.State(tb)}
	for i := range n {
		st := tm.state
		if endpointOf != nil {
			st.S3.Endpoint = endpointOf(i)
		}
		router := freeAddr(tb)
		dir := tb.TempDir()
		yaml := fmt.Sprintf(`name: team
releases:
  - {name: current, version: "1.0", runner: external, health_url: "%s/heartbeat"}
  - {name: next, version: "2.0", runner: external, health_url: "%s/heartbeat"}
router: {listen: %q}
`, cur.URL, next.URL, router) + s3test.YAML(st)
		path := filepath.Join(dir, "termshift.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			tb.Fatal(err)
		}
		env, err := envfile.LoadEnvironment(path, func(string) (string, bool) { return "", false })
		if err != nil {
			tb.Fatal(err)
		}
		tm.machines = append(tm.machines, &machine{name: string(rune('A' + i)), env: env, router: router})
	}
	// Both releases carved, deployed and verified, current live, as an
	// upgrade and a first cutover leave them.
	o := orchestrator(tb, tm.machines[0].env, "test")
	s, err := o.LoadState(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	for _, name := range []string{"current", "next"} {
		rs := s.Release(name)
		rs.Namespaces = []*store.NamespaceState{{Namespace: termshift.Namespace{Service: termshift.Memcached, Logical: "default", Release: name, Name: "cache-" + name}, Status: store.NSCarved}}
		rs.Running = true
		rs.ChangedAt = now.Add(-time.Minute)
		rs.SetStep("carve", "done", "", rs.ChangedAt)
		rs.Verify = &store.VerifyRecord{At: now, Passed: true}
	}
	s.Live, s.LiveSince = "current", now
	if err := o.SaveState(tb.Context(), s); err != nil {
		tb.Fatal(err)
	}
	return tm
}

// serve starts machine m's `termshift serve` and waits for its socket.
func (tm *team) serve(m *machine) {
	tb := tm.tb
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o := orchestrator(tb, m.env, "serve")
	go func() { done <- o.Serve(ctx) }()
	var once sync.Once
	m.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("serve on %s: %v", m.name, err)
			}
		})
	}
	tb.Cleanup(m.stop)
	for i := 0; !o.Control().Running(); i++ {
		select {
		case err := <-done:
			tb.Fatalf("serve on %s stopped: %v", m.name, err)
		default:
		}
		if i > 500 {
			tb.Fatalf("serve on %s did not start", m.name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// servedBy asks machine m's router who answers public traffic; "" when
// nobody does.
func servedBy(m *machine) string {
	resp, err := http.Get("http://" + m.router + "/version")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, r := range []string{"current", "next"} {
		if strings.Contains(string(body), `"`+r+`"`) {
			return r
		}
	}
	return ""
}

// await polls until every machine's router serves release, and returns
// when the last one did (a safety deadline fails the test).
func (tm *team) await(release string, ms ...*machine) time.Time {
	tm.tb.Helper()
	pending := map[*machine]bool{}
	for _, m := range ms {
		pending[m] = true
	}
	for deadline := time.Now().Add(30 * time.Second); len(pending) > 0; time.Sleep(5 * time.Millisecond) {
		for m := range pending {
			if servedBy(m) == release {
				delete(pending, m)
			}
		}
		if time.Now().After(deadline) {
			var names []string
			for m := range pending {
				names = append(names, m.name+" serves "+orNone(servedBy(m)))
			}
			sort.Strings(names)
			tm.tb.Fatalf("routers never served %s: %s", release, strings.Join(names, ", "))
		}
	}
	return time.Now()
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// cutover runs `termshift cutover RELEASE` from machine m, holding the lock.
func (tm *team) cutover(m *machine, release string) {
	tm.tb.Helper()
	o := orchestrator(tm.tb, m.env, "cutover "+release)
	o.Reason = "test"
	err := o.Locked(tm.tb.Context(), func() error {
		_, err := o.Cutover(tm.tb.Context(), release, rollout.CutoverOptions{})
		return err
	})
	if err != nil {
		tm.tb.Fatalf("cutover %s from %s: %v", release, m.name, err)
	}
}

// Three routers on one state: a cutover from A is served by all three; a
// rollback from B is served while A is gone; a restarted router serves the
// live release at once.
func TestRoutersFollowASharedState(t *testing.T) {
	tm := newTeam(t, 4, nil)
	a, b, c, laptop := tm.machines[0], tm.machines[1], tm.machines[2], tm.machines[3]
	for _, m := range []*machine{a, b, c} {
		tm.serve(m)
	}
	tm.await("current", a, b, c)

	tm.cutover(a, "next")
	tm.await("next", a, b, c)

	a.stop()
	ob := orchestrator(t, b.env, "rollback")
	ob.Reason = "INC-7"
	rep, err := ob.Rollback(t.Context(), rollout.RollbackOptions{})
	if err != nil {
		t.Fatalf("rollback from B while A is gone: %v", err)
	}
	if rep.From != "next" || rep.To != "current" {
		t.Errorf("rollback report %+v", rep)
	}
	tm.await("current", b, c)
	if got := servedBy(a); got != "" {
		t.Errorf("A's router is stopped, yet %s answered", got)
	}

	// A restarted router serves the live release from the state at once.
	tm.serve(a)
	tm.await("current", a)

	// On-call's laptop runs no serve: its rollback saves the state, and
	// every router follows it.
	ol := orchestrator(t, laptop.env, "rollback")
	ol.Reason = "INC-8 from a laptop"
	if _, err := ol.Rollback(t.Context(), rollout.RollbackOptions{}); err != nil {
		t.Fatalf("rollback from a machine without serve: %v", err)
	}
	tm.await("next", a, b, c)

	// Every machine reads one journal: A's cutover and B's rollback.
	entries, _, err := orchestrator(t, c.env, "history").Store.ReadJournal(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if (e.Step == "cutover" || e.Step == "rollback") && e.Outcome == "done" {
			got = append(got, e.Step+" "+e.Release)
		}
	}
	if strings.Join(got, ", ") != "cutover next, rollback current, rollback next" {
		t.Errorf("journal read from C: %q, want A's cutover, B's rollback, the laptop's rollback", got)
	}
}

// proxy forwards TCP connections to target until it is closed: a network
// path to S3 that a test can cut and restore.
type proxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.start(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) start(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// cut closes the listener and every connection: S3 unreachable.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same address.
func (p *proxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.start(ln)
}

// S3 unreachable from a router: it keeps serving the last table it had,
// and says so in its status; when S3 answers again it follows again.
func TestRouterKeepsServingWhenTheStateIsUnreachable(t *testing.T) {
	endpoint := termshift.RequireLocalSetting(t, "TERMSHIFT_S3_ENDPOINT")
	target := strings.TrimPrefix(strings.TrimPrefix(endpoint, "http://"), "https://")
	p := newProxy(t, target)
	tm := newTeam(t, 2, func(i int) string {
		if i == 1 {
			return "http://" + p.addr // machine B reaches S3 through the proxy
		}
		return endpoint
	})
	a, b := tm.machines[0], tm.machines[1]
	tm.serve(a)
	tm.serve(b)
	tm.await("current", a, b)
	ob := orchestrator(t, b.env, "status")

	p.cut()
	var st string
	for deadline := time.Now().Add(time.Minute); st == ""; time.Sleep(50 * time.Millisecond) {
		s, err := ob.ServeState(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		st = s.StateError
		if time.Now().After(deadline) {
			t.Fatal("B's serve never reported the state unreachable")
		}
	}
	for _, want := range []string{"cannot read the state in " + tm.state.URL, p.addr, "serving the last routing table applied (live current"} {
		if !strings.Contains(st, want) {
			t.Errorf("status' state error %q does not say %q", st, want)
		}
	}
	if got := servedBy(b); got != "current" {
		t.Errorf("B's router serves %q while S3 is unreachable, want the last table (current)", got)
	}
	// A cutover from A meanwhile: A follows; B cannot know until S3 answers.
	tm.cutover(a, "next")
	tm.await("next", a)
	if got := servedBy(b); got != "current" {
		t.Errorf("B's router serves %q, want current still", got)
	}
	p.restore(t)
	tm.await("next", b)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		s, err := ob.ServeState(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if s.StateError == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the state error stays after S3 answers again: %s", s.StateError)
		}
	}
}

// BenchmarkStateConvergence measures, on a state in the local S3 server,
// the time from a cutover's start (the orchestrator's command, in process)
// until all three routers serve the new release, alternating cutovers
// between the two releases, and the latency of a state write. Its last
// line: `bench-state: routers converged in N ms, state write N ms`
// (medians). Run it with -benchtime 10x.
func BenchmarkStateConvergence(b *testing.B) {
	tm := newTeam(b, 3, nil)
	ma := tm.machines[0]
	for _, m := range tm.machines {
		tm.serve(m)
	}
	tm.await("current", tm.machines...)
	var converged, commands []time.Duration
	target, other := "next", "current"
	for b.Loop() {
		// Start at a random point of the routers' poll cycle: one cutover
		// right after the last convergence would always land just after a
		// poll, and measure the worst case only.
		time.Sleep(rand.N(rollout.StatePoll))
		start := time.Now()
		tm.cutover(ma, target)
		commands = append(commands, time.Since(start))
		converged = append(converged, tm.await(target, tm.machines...).Sub(start))
		target, other = other, target
	}
	o := orchestrator(b, ma.env, "bench")
	var writes []time.Duration
	for range 20 {
		s, err := o.LoadState(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := o.SaveState(b.Context(), s); err != nil {
			b.Fatal(err)
		}
		writes = append(writes, time.Since(start))
	}
	conv, write := median(converged), median(writes)
	b.ReportMetric(ms(conv), "converge-ms")
	b.ReportMetric(ms(slicesMax(converged)), "converge-max-ms")
	b.ReportMetric(ms(write), "write-ms")
	fmt.Printf("bench-state: %d cutovers from A, 3 routers (A by its control socket, B and C following the state every %s)\n", len(converged), rollout.StatePoll)
	fmt.Printf("  cutover command: median %s; all routers converged: median %s, max %s; state write (%d saves): median %s, max %s\n",
		median(commands).Round(time.Millisecond), conv.Round(time.Millisecond), slicesMax(converged).Round(time.Millisecond),
		len(writes), write.Round(time.Millisecond), slicesMax(writes).Round(time.Millisecond))
	fmt.Printf("bench-state: routers converged in %d ms, state write %d ms\n", conv.Round(time.Millisecond).Milliseconds(), write.Round(time.Millisecond).Milliseconds())
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func slicesMax(d []time.Duration) time.Duration {
	m := d[0]
	for _, v := range d {
		m = max(m, v)
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
