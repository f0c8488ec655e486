package envfile

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sharing is an environment with an owner (current) and a patch release
// (patch) on its data.
const sharing = `name: qa
releases:
  - {name: current, version: "1", runner: external, health_url: "http://current/heartbeat"}
  - name: patch
    version: "1.0.1"
    runner: external
    health_url: "http://patch/heartbeat"
    data: {shared_with: current}
router: {listen: "127.0.0.1:8000"}
`

func TestSharedDataRelease(t *testing.T) {
	env, err := ParseEnvironment("termshift.yaml", []byte(sharing), noEnv)
	if err != nil {
		t.Fatalf("ParseEnvironment: %v", err)
	}
	if owner, ok := env.SharesData("patch"); !ok || owner != "current" {
		t.Errorf("SharesData(patch) = %q, %v; want current, true", owner, ok)
	}
	for _, name := range []string{"current", "nosuch"} {
		if owner, ok := env.SharesData(name); ok {
			t.Errorf("SharesData(%s) = %q, true; want no owner", name, owner)
		}
	}
	if got, want := env.Sharers("current"), []string{"patch"}; !cmp.Equal(got, want) {
		t.Errorf("Sharers(current) = %q, want %q", got, want)
	}
	if got := env.Sharers("patch"); len(got) != 0 {
		t.Errorf("Sharers(patch) = %q, want none", got)
	}
	if got := env.DataOwner("patch") + "," + env.DataOwner("current"); got != "current,current" {
		t.Errorf("DataOwner(patch),DataOwner(current) = %s", got)
	}
}

func TestSharedDataBadInput(t *testing.T) {
	head := `name: qa
router: {listen: "127.0.0.1:8000"}
releases:
  - {name: current, version: "1", runner: external, health_url: "http://c/"}
`
	for _, tc := range []struct {
		name, releases string
		want           []string
	}{
		{"unknown", `  - {name: patch, version: "2", runner: external, health_url: "http://p/", data: {shared_with: curent}}
`, []string{`termshift.yaml:5: releases.1.data.shared_with: names "curent", which is not a release of this file (releases: current, patch)`}},
		{"itself", `  - {name: patch, version: "2", runner: external, health_url: "http://p/", data: {shared_with: patch}}
`, []string{`termshift.yaml:5: releases.1.data.shared_with: names release "patch" itself: a release either owns its data (remove data:) or shares another release's`}},
		{"empty", `  - {name: patch, version: "2", runner: external, health_url: "http://p/", data: {}}
`, []string{`termshift.yaml:5: releases.1.data.shared_with: is required under data: the release whose namespaces "patch" uses (or remove data: for namespaces of its own)`}},
		{"chain", `  - {name: patch, version: "2", runner: external, health_url: "http://p/", data: {shared_with: current}}
  - name: hotfix
    version: "3"
    runner: external
    health_url: "http://h/"
    data:
      shared_with: patch
`, []string{`termshift.yaml:11: releases.2.data.shared_with: names "patch", which shares "current"'s data itself (hotfix -> patch -> current): shared data has one owner, so write shared_with: current`}},
		{"circle", `  - {name: a, version: "2", runner: external, health_url: "http://a/", data: {shared_with: b}}
  - {name: b, version: "2", runner: external, health_url: "http://b/", data: {shared_with: a}}
`, []string{
			`termshift.yaml:5: releases.1.data.shared_with: names "b", which shares "a"'s data itself, round in a circle (a -> b -> a): one of these releases must own its data (remove its data:)`,
			`termshift.yaml:6: releases.2.data.shared_with: names "a", which shares "b"'s data itself, round in a circle (b -> a -> b): one of these releases must own its data (remove its data:)`,
		}},
		{"migrations", `  - name: patch
    version: "2"
    runner: external
    health_url: "http://p/"
    pre_cutover: [[bin/migrate]]
    data: {shared_with: current}
`, []string{`termshift.yaml:9: releases.1.pre_cutover: runs commands (migrations) before cutover, but release "patch" shares "current"'s data: a migration would change the live release's schema under it; a release that migrates needs namespaces of its own (remove data:)`}},
		{"unknown field", `  - {name: patch, version: "2", runner: external, health_url: "http://p/", data: {shared: current}}
`, []string{
			`termshift.yaml:5: shared: unknown field (check its spelling and indentation)`,
			`termshift.yaml:5: releases.1.data.shared_with: is required under data: the release whose namespaces "patch" uses (or remove data: for namespaces of its own)`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, head+tc.releases)
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("problems (-got +want):\n%s", diff)
			}
		})
	}
}

func TestELBv2StickinessBounds(t *testing.T) {
	head := `name: qa
releases: [{name: next, version: "2", runner: external, health_url: "http://next/heartbeat"}]
router:
  provider: elbv2
  elbv2:
    listener_arn: arn:listener
    target_groups: {next: arn:tg}
`
	if env, err := ParseEnvironment("termshift.yaml", []byte(head+"    stickiness: 10m\n"), noEnv); err != nil || env.Router.ELBv2.Stickiness.Minutes() != 10 {
		t.Errorf("stickiness 10m: %v", err)
	}
	got := problems(t, head+"    stickiness: 200h\n")
	want := []string{"termshift.yaml:8: router.elbv2.stickiness: 200h0m0s is outside 1s-168h (the load balancer's limits)"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("problems (-got +want):\n%s", diff)
	}
}
