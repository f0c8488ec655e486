package tenancytest

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// StartMemcached runs a memcached on a free loopback port until the test ends
// and returns its host:port. Tests that carve and drop memcached clusters
// use their own: the shared pool of `make services` may be carved for a
// developer's releases, which a carver rightly refuses to flush. Without
// memcached installed the test skips, or fails under CI=true.
func StartMemcached(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("memcached")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("memcached is not installed: run `make services` (CI=true forbids skipping)")
		}
		t.Skip("memcached is not installed: run `make services`")
	}
	// The free port is free when picked, not always when memcached binds
	// it (another test's server may take it first, and the ping would
	// then answer from that one): a server that exits at once is tried
	// again on another port.
	for attempt := 1; ; attempt++ {
		addr, ok := startMemcached(t, bin)
		if ok {
			return addr
		}
		if attempt == 5 {
			t.Fatalf("memcached did not start on a free port in %d attempts", attempt)
		}
	}
}

func startMemcached(t testing.TB, bin string) (string, bool) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	l.Close()
	args := []string{"-l", "127.0.0.1", "-p", port, "-U", "0", "-m", "16"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody")
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	mc := memcache.New(addr)
	for i := 0; ; i++ {
		select {
		case <-exited:
			return "", false
		default:
		}
		if err := mc.Ping(); err == nil {
			break
		} else if i == 200 {
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("memcached on %s does not answer: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The answer may have come from another server on the port, while
	// ours failed to bind it and exits.
	select {
	case <-exited:
		return "", false
	case <-time.After(100 * time.Millisecond):
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return addr, true
}
