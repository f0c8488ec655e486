package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/kube/kubetest"
	"github.com/termshift/termshift/rollout/runner"
	kuberunner "github.com/termshift/termshift/rollout/runner/kubernetes"
)

// TestStatusShowsReadyPods: status asks each running release's runner how
// ready it is: a Kubernetes release shows its Deployment's ready/desired
// pods, one whose pods cannot be scheduled says why.
func TestStatusShowsReadyPods(t *testing.T) {
	kubeconfig := termshift.RequireLocalSetting(t, "TERMSHIFT_KUBECONFIG")
	admin := kubetest.Client(t)
	ns := kubetest.Namespace(t, admin)
	env := kubetest.Name(t, "st")
	path := writeEnv(t, fmt.Sprintf(`name: %s
kubernetes: {kubeconfig: %q, namespace: %s}
releases:
  - {name: current, version: "1", runner: kubernetes, kubernetes: {image: "registry.example/lms:1", replicas: 2}}
  - {name: next, version: "2", runner: kubernetes, kubernetes: {image: "registry.example/lms:2", replicas: 3, resources: {requests: {cpu: 100k}}}}
router: {provider: kubernetes, host: lms.example.test}
`, env, kubeconfig, ns))
	for _, rel := range []struct {
		name     string
		replicas int32
		cpu      string
	}{{"current", 2, "100m"}, {"next", 3, "100k"}} {
		r := &kuberunner.Runner{Client: admin, Environment: env, Release: rel.name, Poll: 100 * time.Millisecond,
			Spec: kuberunner.Spec{Namespace: ns, Image: "registry.example/lms", Replicas: rel.replicas, Requests: map[string]string{"cpu": rel.cpu},
				Ports: []kuberunner.Port{{Name: "http", Port: 8000}}, ProgressDeadline: 2 * time.Second}}
		err := r.Deploy(t.Context(), runner.Deployment{Release: rel.name, Version: "1"})
		if (err != nil) != (rel.name == "next") {
			t.Fatalf("deploy %s: %v", rel.name, err)
		}
	}
	st := openState(t, path)
	s, err := st.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s.Release("current").Running = true
	s.Release("next").Running = true
	s.Live = "current"
	if err := st.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := cli(t, "--env", path, "status")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`RELEASE +VERSION +ROLE +READY +STEPS`),
		regexp.MustCompile(`current +1 +live +2/2 `),
		regexp.MustCompile(`next +2 +running +0/3 `),
		regexp.MustCompile(`next: 0 of 3 pods ready, 3 updated \(Deployment ` + ns + `/` + env + `-next, version 1\)`),
	} {
		if !want.MatchString(out) {
			t.Errorf("status does not match %s:\n%s", want, out)
		}
	}
	code, out, _ = cli(t, "--env", path, "status", "--json")
	if code != 0 || !strings.Contains(out, `"current": {`) || !strings.Contains(out, `"desired": 3`) {
		t.Errorf("status --json: exit %d\n%s", code, out)
	}
}
