package rollout_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/kube"
	"github.com/termshift/termshift/rollout/kube/kubetest"
	"github.com/termshift/termshift/rollout/runner"
	kuberunner "github.com/termshift/termshift/rollout/runner/kubernetes"
	"github.com/termshift/termshift/rollout/wiring"
	"github.com/termshift/termshift/tenancy/tenancytest"
	"github.com/termshift/termshift/verify"
)

// kubeWorld is an environment whose releases run on the local API server
// (kwok pods) and whose MySQL namespaces are on the local MariaDB.
type kubeWorld struct {
	t        *testing.T
	dir, ns  string
	env      string
	releases []string
	admin    *kube.Client
}

func newKubeWorld(t *testing.T) *kubeWorld {
	t.Helper()
	termshift.RequireLocalSetting(t, "TERMSHIFT_MYSQL_DSN")
	kubeconfig := termshift.RequireLocalSetting(t, "TERMSHIFT_KUBECONFIG")
	admin := kubetest.Client(t)
	w := &kubeWorld{t: t, dir: t.TempDir(), ns: kubetest.Namespace(t, admin), env: "k-" + tenancytest.Release(t), admin: admin,
		releases: []string{tenancytest.Release(t), tenancytest.Release(t)}}
	if err := os.WriteFile(filepath.Join(w.dir, "lms.yml.tmpl"), []byte("release: {{.Release}}\ndb: {{.MySQL.edxapp.Name}}\npassword: {{.MySQL.edxapp.Password}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var rels strings.Builder
	for i, r := range w.releases {
		fmt.Fprintf(&rels, "  - {name: %s, version: v%d, runner: kubernetes, kubernetes: {image: \"registry.example/openedx:v%d\", replicas: 2, progress_deadline: 1m}}\n", r, i+1, i+1)
	}
	yaml := fmt.Sprintf(`name: %s
servers:
  mysql: {dsn: "${TERMSHIFT_MYSQL_DSN}"}
databases:
  mysql: [{name: edxapp, backup: edxapp}]
backup: {source: %q}
kubernetes: {kubeconfig: %q, context: "${TERMSHIFT_KUBE_CONTEXT}", namespace: %s}
templates: [{source: lms.yml.tmpl, target: lms.yml}]
releases:
%srouter: {provider: kubernetes, host: lms.example.test, kubernetes: {service: lms}}
verify: {smoke: [{name: home, path: /}]}
`, w.env, w.dir, kubeconfig, w.ns, rels.String())
	if err := os.WriteFile(filepath.Join(w.dir, "termshift.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.cleanup)
	return w
}

func (w *kubeWorld) o(command string) *rollout.Orchestrator {
	w.t.Helper()
	env, err := envfile.LoadEnvironment(filepath.Join(w.dir, "termshift.yaml"), termshift.LocalSetting)
	if err != nil {
		w.t.Fatal(err)
	}
	o, err := wiring.Orchestrator(context.Background(), env, nil, &bytes.Buffer{}, command)
	if err != nil {
		w.t.Fatal(err)
	}
	o.Reason = "test"
	return o
}

// cleanup drops the releases' MySQL namespaces whatever state says; the
// cluster namespace goes with the test.
func (w *kubeWorld) cleanup() {
	ctx := context.Background()
	o := w.o("cleanup")
	if s, err := o.LoadState(ctx); err == nil {
		s.Live, s.Previous = "", ""
		_ = o.SaveState(ctx, s)
	}
	for _, r := range w.releases {
		if _, err := w.o("teardown").Teardown(ctx, r, true); err != nil {
			w.t.Logf("cleanup teardown %s: %v", r, err)
		}
	}
}

func (w *kubeWorld) served(release string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.t.Context(), time.Minute)
	defer cancel()
	if _, err := kubetest.WaitServed(ctx, w.admin, w.ns, "lms", w.env, release, 50*time.Millisecond); err != nil {
		w.t.Fatal(err)
	}
}

func (w *kubeWorld) locked(command string, fn func(o *rollout.Orchestrator) error) {
	w.t.Helper()
	o := w.o(command)
	if err := o.Locked(context.Background(), func() error { return fn(o) }); err != nil {
		w.t.Fatalf("%s: %v", command, err)
	}
}

// TestKubernetesLifecycle drives the orchestrator's steps on releases that
// run on the cluster: deploy (Secret with the rendered configuration), a
// verify whose HTTP checks cannot reach the cluster network (unknown, so the
// gate refuses until they are waived), cutover and rollback by the public
// Service's selector, teardown deleting the release's objects, and gc
// finding and removing objects of a release state does not know.
func TestKubernetesLifecycle(t *testing.T) {
	w := newKubeWorld(t)
	a, b := w.releases[0], w.releases[1]
	ctx := t.Context()
	for _, r := range w.releases {
		w.locked("carve "+r, func(o *rollout.Orchestrator) error { _, err := o.Carve(ctx, r); return err })
		w.locked("deploy "+r, func(o *rollout.Orchestrator) error { return o.Deploy(ctx, r) })
	}
	sec, err := w.admin.CoreV1().Secrets(w.ns).Get(ctx, kube.SecretName(w.env, a), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(sec.Data["lms.yml"]); !strings.Contains(got, "release: "+a+"\ndb: edxapp_"+a+"\npassword: ") {
		t.Errorf("rendered configuration in the Secret: %q", got)
	}

	// Verify: the health and smoke checks cannot reach the cluster from
	// here; they are unknown, not skipped, and the gate refuses them.
	var rep *verify.Report
	w.locked("verify "+a, func(o *rollout.Orchestrator) error {
		var err error
		rep, err = o.Verify(ctx, a, rollout.VerifyOptions{})
		return err
	})
	unknown := map[string]string{}
	for _, r := range rep.Unknowns() {
		unknown[r.Check] = r.Detail
	}
	for _, check := range []string{verify.CheckHealth, verify.CheckSmoke} {
		if !strings.HasPrefix(unknown[check], "not reachable from here: ") {
			t.Errorf("%s = %q, want unknown: not reachable from here", check, unknown[check])
		}
	}
	o := w.o("cutover " + a)
	err = o.Locked(ctx, func() error { _, err := o.Cutover(ctx, a, rollout.CutoverOptions{}); return err })
	if !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), "not reachable from here") {
		t.Fatalf("cutover with unknown health = %v, want refused", err)
	}
	waive := rollout.CutoverOptions{Waive: []string{verify.CheckHealth, verify.CheckSmoke}}
	w.locked("cutover "+a, func(o *rollout.Orchestrator) error { _, err := o.Cutover(ctx, a, waive); return err })
	w.served(a)

	w.locked("verify "+b, func(o *rollout.Orchestrator) error { _, err := o.Verify(ctx, b, rollout.VerifyOptions{}); return err })
	w.locked("cutover "+b, func(o *rollout.Orchestrator) error { _, err := o.Cutover(ctx, b, waive); return err })
	w.served(b)
	// The former live release stays scaled as the rollback target.
	if st, err := w.o("status").P.Runners[a].Status(ctx, a); err != nil || st.Ready != 2 || st.Desired != 2 {
		t.Errorf("rollback target's status = %+v, %v; want 2 of 2 ready", st, err)
	}
	var rb *rollout.SwitchReport
	rb, err = w.o("rollback").Rollback(ctx, rollout.RollbackOptions{})
	if err != nil || rb.To != a {
		t.Fatalf("rollback = %+v, %v", rb, err)
	}
	w.served(a)

	// b is no longer protected once a later cutover moves on: make a live
	// with no rollback target, then tear b down.
	w.locked("mutate", func(o *rollout.Orchestrator) error {
		s, err := o.LoadState(ctx)
		if err != nil {
			return err
		}
		s.Previous = ""
		return o.SaveState(ctx, s)
	})
	w.locked("teardown "+b, func(o *rollout.Orchestrator) error { _, err := o.Teardown(ctx, b, true); return err })
	if _, err := w.admin.AppsV1().Deployments(w.ns).Get(ctx, kube.ReleaseName(w.env, b), metav1.GetOptions{}); err == nil {
		t.Errorf("teardown left %s's Deployment", b)
	}

	// Objects labelled for a release state does not know are orphans.
	ghost := &kuberunner.Runner{Client: w.admin, Environment: w.env, Release: "ghost", Poll: 100 * time.Millisecond,
		Spec: kuberunner.Spec{Namespace: w.ns, Image: "registry.example/openedx:v0", Replicas: 1, Ports: []kuberunner.Port{{Name: "http", Port: 8000}}}}
	if err := ghost.Deploy(ctx, runner.Deployment{Release: "ghost", Version: "v0"}); err != nil {
		t.Fatal(err)
	}
	rows, err := w.o("namespaces").Namespaces(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var orphans []string
	for _, r := range rows {
		if r.State == rollout.LiveOrphan {
			orphans = append(orphans, r.Release+" "+r.Logical+" "+r.Name)
		}
	}
	wantOrphans := []string{"ghost Deployment " + w.ns + "/" + w.env + "-ghost", "ghost Service " + w.ns + "/" + w.env + "-ghost"}
	if strings.Join(orphans, "; ") != strings.Join(wantOrphans, "; ") {
		t.Errorf("orphans = %q, want %q", orphans, wantOrphans)
	}
	var items []rollout.GCItem
	w.locked("gc", func(o *rollout.Orchestrator) error {
		var err error
		items, err = o.GC(ctx, true)
		return err
	})
	var removed []string
	for _, it := range items {
		if it.Kind == rollout.GCObjects {
			removed = append(removed, it.Release+" "+it.Outcome)
		}
	}
	if strings.Join(removed, ",") != "ghost dropped" {
		t.Errorf("gc objects = %q, want ghost dropped", removed)
	}
	if st, err := ghost.Status(ctx, "ghost"); err != nil || st.Desired != 0 {
		t.Errorf("ghost after gc = %+v, %v", st, err)
	}
	// The live release was never touched.
	w.served(a)
	s, err := w.o("status").LoadState(ctx)
	if err != nil || s.Live != a {
		t.Errorf("live = %q, %v", s.Live, err)
	}
}
