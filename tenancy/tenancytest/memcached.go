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
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	mc := memcache.New(addr)
	for i := 0; ; i++ {
		if err := mc.Ping(); err == nil {
			return addr
		} else if i == 200 {
			t.Fatalf("memcached on %s does not answer: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
