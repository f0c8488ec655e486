package verify

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestUnreachableRelease: a release that runs where this machine cannot
// reach it (a cluster network) gets unknown health and smoke results that
// say so, never a skip: the cutover gate refuses them unless waived.
func TestUnreachableRelease(t *testing.T) {
	t.Parallel()
	why := "not reachable from here: preview Ingress qa/qa-next has no address"
	tg := Target{Release: "next", HealthPath: "/heartbeat", Unreachable: why,
		Smoke: []SmokeCheck{{Name: "login page", Path: "/login"}}}
	r := Run(t.Context(), tg, Options{Only: []string{CheckHealth, CheckSmoke}})
	var got []Result
	for _, res := range r.Results {
		res.Duration = 0
		got = append(got, res)
	}
	want := []Result{
		{Check: CheckHealth, Target: "/heartbeat", Status: Unknown, Detail: why},
		{Check: CheckSmoke, Target: "login page", Status: Unknown, Detail: why},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("results (-got +want):\n%s", diff)
	}
}
