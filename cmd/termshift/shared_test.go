package main

import (
	"strings"
	"testing"
	"time"
)

// TestSharedDataReleaseInPlanAndStatus: `upgrade --dry-run` says which
// mode a release is in, status shows whose data a release shares, and the
// owner cannot be torn down while its sharer runs (exit 4, naming it).
func TestSharedDataReleaseInPlanAndStatus(t *testing.T) {
	path := writeEnv(t, `name: unit
databases: {}
releases:
  - {name: current, version: "1.0", runner: external, health_url: "http://127.0.0.1:1/heartbeat"}
  - {name: patch, version: "1.0.1", runner: external, health_url: "http://127.0.0.1:2/heartbeat", data: {shared_with: current}}
router: {listen: "127.0.0.1:0"}
`)
	st := openState(t, path)
	s, err := st.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s.Release("current").SetStep("carve", "done", "", time.Now())
	s.Release("current").Running = true
	s.Live = "current"
	if err := st.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := cli(t, "--env", path, "upgrade", "patch", "--dry-run")
	if code != 0 {
		t.Fatalf("upgrade patch --dry-run: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"data     mode  shares data with current", "carve    skip  shares current's data: nothing to do", "restore  skip  shares current's data: nothing to do"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if code, out, _ := cli(t, "--env", path, "upgrade", "current", "--dry-run"); code != 0 || !strings.Contains(out, "data     mode  own namespaces") {
		t.Errorf("upgrade current --dry-run: exit %d\n%s", code, out)
	}

	s, err = st.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s.Release("patch").SharesData = "current"
	s.Release("patch").Running = true
	s.Live = ""
	if err := st.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := cli(t, "--env", path, "status"); code != 0 || !strings.Contains(out, "shares data with current") {
		t.Errorf("status: exit %d, want patch's row to say whose data it shares:\n%s%s", code, out, stderr)
	}
	code, out, stderr = cli(t, "--env", path, "teardown", "current", "--yes", "--reason", "test")
	if code != exitRefused || !strings.Contains(stderr, `release "patch" runs on its namespaces`) {
		t.Errorf("teardown of the owner while its sharer runs: exit %d, want %d naming patch\n%s%s", code, exitRefused, out, stderr)
	}
}
