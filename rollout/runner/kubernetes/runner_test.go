package kubernetes_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/kube"
	"github.com/termshift/termshift/rollout/kube/kubetest"
	"github.com/termshift/termshift/rollout/runner"
	"github.com/termshift/termshift/rollout/runner/kubernetes"
)

// syncBuffer collects progress lines written while a test reads them.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newRunner(c *kube.Client, env, ns, release string, replicas int32) *kubernetes.Runner {
	return &kubernetes.Runner{Client: c, Environment: env, Release: release, HealthPath: "/heartbeat", Poll: 200 * time.Millisecond,
		Spec: kubernetes.Spec{Namespace: ns, Image: "registry.example/openedx:redwood.2", Replicas: replicas,
			Args:  []string{"gunicorn", "lms.wsgi"},
			Ports: []kubernetes.Port{{Name: "http", Port: 8000}}, Env: map[string]string{"SERVICE_VARIANT": "lms"},
			Requests: map[string]string{"cpu": "100m", "memory": "128Mi"}, ConfigPath: "/openedx/config", ProgressDeadline: time.Minute}}
}

func deployment(release, version string, progress io.Writer) runner.Deployment {
	return runner.Deployment{Release: release, Version: version, Progress: progress,
		Files: map[string][]byte{"lms.yml": []byte("DATABASES: {password: s3cret}\n")}}
}

func getDeployment(t *testing.T, c *kube.Client, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := c.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment: %v", err)
	}
	return d
}

// objectsIn lists what termshift labelled in a namespace, as an
// administrator sees it.
func objectsIn(t *testing.T, c *kube.Client, ns string) []string {
	t.Helper()
	opts := metav1.ListOptions{LabelSelector: kube.LabelManagedBy + "=" + kube.FieldManager}
	var out []string
	deps, err := c.AppsV1().Deployments(ns).List(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range deps.Items {
		out = append(out, "Deployment "+o.Name)
	}
	svcs, err := c.CoreV1().Services(ns).List(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range svcs.Items {
		out = append(out, "Service "+o.Name)
	}
	secs, err := c.CoreV1().Secrets(ns).List(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range secs.Items {
		out = append(out, "Secret "+o.Name)
	}
	return out
}

// TestRunner is the runner's conformance on a real API server: deploy
// three replicas until Available, deploy again and change nothing, status,
// the orphan listing, stop, and stop again.
func TestRunner(t *testing.T) {
	t.Parallel()
	admin := kubetest.Client(t)
	ns := kubetest.Namespace(t, admin)
	env := kubetest.Name(t, "env")
	r := newRunner(admin, env, ns, "next", 3)
	ctx := t.Context()
	var progress syncBuffer
	if err := r.Deploy(ctx, deployment("next", "redwood.2", &progress)); err != nil {
		t.Fatalf("deploy: %v\n%s", err, progress.String())
	}
	name := kube.ReleaseName(env, "next")
	dep := getDeployment(t, admin, ns, name)
	if dep.Status.AvailableReplicas != 3 || dep.Status.ObservedGeneration != dep.Generation {
		t.Errorf("after deploy: available %d, observed generation %d of %d", dep.Status.AvailableReplicas, dep.Status.ObservedGeneration, dep.Generation)
	}
	if !strings.Contains(progress.String(), "rollout of "+ns+"/"+name) {
		t.Errorf("no progress lines: %q", progress.String())
	}
	wantLabels := map[string]string{kube.LabelEnvironment: env, kube.LabelRelease: "next", kube.LabelVersion: "redwood.2", kube.LabelManagedBy: "termshift"}
	if diff := cmp.Diff(dep.Spec.Template.Labels, wantLabels); diff != "" {
		t.Errorf("pod labels (-got +want):\n%s", diff)
	}
	// The configuration is a Secret mounted where the spec says.
	sec, err := admin.CoreV1().Secrets(ns).Get(ctx, kube.SecretName(env, "next"), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("configuration secret: %v", err)
	}
	if got := string(sec.Data["lms.yml"]); got != "DATABASES: {password: s3cret}\n" {
		t.Errorf("secret lms.yml = %q", got)
	}
	mount := dep.Spec.Template.Spec.Containers[0].VolumeMounts[0]
	if mount.MountPath != "/openedx/config" || dep.Spec.Template.Spec.Volumes[0].Secret == nil {
		t.Errorf("config mount %+v, volume %+v", mount, dep.Spec.Template.Spec.Volumes[0])
	}
	if cms, _ := admin.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelRelease}); len(cms.Items) > 0 {
		t.Errorf("configuration in a ConfigMap: %v", cms.Items[0].Name)
	}
	for _, f := range dep.ManagedFields {
		if f.Operation == metav1.ManagedFieldsOperationApply && f.Manager != kube.FieldManager {
			t.Errorf("applied by field manager %q", f.Manager)
		}
	}

	// Idempotent: the same deployment again changes nothing.
	pods := func() []string {
		t.Helper()
		l, err := admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelRelease + "=next"})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range l.Items {
			names = append(names, p.Name)
		}
		return names
	}
	before := pods()
	if err := r.Deploy(ctx, deployment("next", "redwood.2", &progress)); err != nil {
		t.Fatalf("deploy again: %v", err)
	}
	again := getDeployment(t, admin, ns, name)
	if again.Generation != dep.Generation || again.ResourceVersion != dep.ResourceVersion {
		t.Errorf("deploy again changed the Deployment: generation %d -> %d, resourceVersion %s -> %s", dep.Generation, again.Generation, dep.ResourceVersion, again.ResourceVersion)
	}
	if diff := cmp.Diff(pods(), before); diff != "" {
		t.Errorf("deploy again replaced pods (-got +want):\n%s", diff)
	}

	st, err := r.Status(ctx, "next")
	if err != nil {
		t.Fatal(err)
	}
	if st.Ready != 3 || st.Desired != 3 {
		t.Errorf("status = %+v, want 3 of 3", st)
	}
	if err := r.WaitHealthy(ctx, "next"); err != nil {
		t.Errorf("wait healthy: %v", err)
	}
	objs, err := r.Labelled(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []runner.Object{{Release: "next", Kind: "Deployment", Namespace: ns, Name: name}, {Release: "next", Kind: "Service", Namespace: ns, Name: name}}
	if diff := cmp.Diff(objs, want); diff != "" {
		t.Errorf("labelled (-got +want):\n%s", diff)
	}

	for i := range 2 { // stop, and stop again: nothing left is fine
		if err := r.Stop(ctx, "next"); err != nil {
			t.Fatalf("stop %d: %v", i, err)
		}
	}
	if got := objectsIn(t, admin, ns); len(got) != 0 {
		t.Errorf("after stop: %v", got)
	}
	st, err = r.Status(ctx, "next")
	if err != nil || st.Desired != 0 {
		t.Errorf("status after stop = %+v, %v", st, err)
	}
}

// TestDeployNeverReady: pods that ask for more CPU than the cluster has
// stay Pending (Unschedulable); deploy fails once the progress deadline has
// passed, with the scheduler's reason.
func TestDeployNeverReady(t *testing.T) {
	t.Parallel()
	admin := kubetest.Client(t)
	ns := kubetest.Namespace(t, admin)
	env := kubetest.Name(t, "env")
	r := newRunner(admin, env, ns, "next", 2)
	r.Spec.Requests = map[string]string{"cpu": "100k"} // kwok's node has 1k
	r.Spec.ProgressDeadline = 5 * time.Second
	var progress syncBuffer
	err := r.Deploy(t.Context(), deployment("next", "redwood.2", &progress))
	if err == nil {
		t.Fatal("deploy of pods that cannot be scheduled succeeded")
	}
	t.Log(err)
	for _, want := range []string{"progress deadline", "0 of 2 pods ready", "Unschedulable", "Insufficient cpu", "nothing was switched"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	if st, _ := r.Status(t.Context(), "next"); st.Ready != 0 || st.Desired != 2 {
		t.Errorf("status = %+v", st)
	}
}

// TestDeployRefusesBadNames: a release or version that is no label value
// is refused before anything is applied.
func TestDeployRefusesBadNames(t *testing.T) {
	t.Parallel()
	admin := kubetest.Client(t)
	ns := kubetest.Namespace(t, admin)
	for _, tc := range []struct{ name, release, version, want string }{
		{"release with an underscore", "Next_1", "redwood.2", `"envx-Next_1" (environment-release) is not a valid Service name`},
		{"release ending in a dot", "next.", "redwood.2", `release "next."`},
		{"version with a plus", "next", "v1.0+build", `version "v1.0+build"`},
		{"version too long", "next", strings.Repeat("v", 64), "must be no more than 63 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(admin, "envx", ns, tc.release, 1)
			err := r.Deploy(t.Context(), deployment(tc.release, tc.version, nil))
			if !errors.Is(err, termshift.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("deploy = %v, want invalid naming %s", err, tc.want)
			}
		})
	}
	if got := objectsIn(t, admin, ns); len(got) != 0 {
		t.Errorf("applied despite bad names: %v", got)
	}
}

// TestDeployUnreachable: an API server that refuses connections gives an
// error naming it, and nothing is applied.
func TestDeployUnreachable(t *testing.T) {
	t.Parallel()
	admin := kubetest.Client(t)
	ns := kubetest.Namespace(t, admin)
	dead := kubetest.Unreachable(t, admin)
	r := newRunner(dead, kubetest.Name(t, "env"), ns, "next", 1)
	err := r.Deploy(t.Context(), deployment("next", "redwood.2", nil))
	var ke *kube.Error
	if !errors.As(err, &ke) || !strings.Contains(err.Error(), "is not reachable") || !strings.Contains(err.Error(), dead.Server) {
		t.Fatalf("deploy to a closed port = %v, want an error naming %s", err, dead.Server)
	}
	if _, err := r.Status(t.Context(), "next"); err == nil || !strings.Contains(err.Error(), dead.Server) {
		t.Errorf("status = %v", err)
	}
	if got := objectsIn(t, admin, ns); len(got) != 0 {
		t.Errorf("applied: %v", got)
	}
}

// TestDeployForbiddenNamespace: credentials limited by RBAC to one
// namespace deploy there, and are refused in another before anything is
// applied, with the verb, the resource and the namespace named.
func TestDeployForbiddenNamespace(t *testing.T) {
	t.Parallel()
	admin := kubetest.Client(t)
	mine, other := kubetest.Namespace(t, admin), kubetest.Namespace(t, admin)
	limited := kubetest.Restricted(t, admin, mine, kube.Rules(kubernetes.Permissions))
	env := kubetest.Name(t, "env")

	if err := newRunner(limited, env, mine, "next", 1).Deploy(t.Context(), deployment("next", "redwood.2", nil)); err != nil {
		t.Fatalf("deploy with the documented Role in its namespace: %v", err)
	}
	err := newRunner(limited, env, other, "next", 1).Deploy(t.Context(), deployment("next", "redwood.2", nil))
	var denied *kube.Denied
	if !errors.As(err, &denied) || !errors.Is(err, termshift.ErrRefused) {
		t.Fatalf("deploy into %s = %v, want refused", other, err)
	}
	t.Log(err)
	if denied.Namespace != other || denied.Verb != "get" || denied.Resource != "deployments.apps" {
		t.Errorf("denied = %+v", denied)
	}
	for _, want := range []string{"may not get deployments.apps", `namespace "` + other + `"`, limited.Server} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	if got := objectsIn(t, admin, other); len(got) != 0 {
		t.Errorf("applied in %s: %v", other, got)
	}
}
