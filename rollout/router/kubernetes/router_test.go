package kubernetes_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/kube"
	"github.com/termshift/termshift/rollout/kube/kubetest"
	"github.com/termshift/termshift/rollout/router"
	rk "github.com/termshift/termshift/rollout/router/kubernetes"
	"github.com/termshift/termshift/rollout/runner"
	runk "github.com/termshift/termshift/rollout/runner/kubernetes"
)

// cluster is one test's namespace with releases deployed by the runner.
type cluster struct {
	admin *kube.Client
	ns    string
	env   string
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	admin := kubetest.Client(t)
	return &cluster{admin: admin, ns: kubetest.Namespace(t, admin), env: kubetest.Name(t, "env")}
}

// deploy runs release with replicas pods and returns its routing backend.
func (c *cluster) deploy(t testing.TB, release string, replicas int32) router.Backend {
	t.Helper()
	r := &runk.Runner{Client: c.admin, Environment: c.env, Release: release, Poll: 100 * time.Millisecond,
		Spec: runk.Spec{Namespace: c.ns, Image: "registry.example/openedx:" + release, Replicas: replicas,
			Ports: []runk.Port{{Name: "http", Port: 8000}}, ProgressDeadline: time.Minute}}
	if err := r.Deploy(t.Context(), runner.Deployment{Release: release, Version: "v1", Files: map[string][]byte{"lms.yml": []byte("x: 1\n")}}); err != nil {
		t.Fatalf("deploy %s: %v", release, err)
	}
	ep, err := r.Endpoint(release)
	if err != nil {
		t.Fatal(err)
	}
	return router.Backend{Release: release, URL: ep.URL}
}

func (c *cluster) router() *rk.Router {
	return &rk.Router{Client: c.admin, Environment: c.env, Namespace: c.ns, Service: "lms", Host: "lms.example.test", IngressClass: "nginx"}
}

// served waits until the public Service's EndpointSlices list exactly the
// release's pods.
func (c *cluster) served(t testing.TB, release string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := kubetest.WaitServed(ctx, c.admin, c.ns, "lms", c.env, release, 50*time.Millisecond); err != nil {
		t.Fatalf("public service: %v", err)
	}
}

func (c *cluster) selector(t testing.TB) map[string]string {
	t.Helper()
	svc, err := c.admin.CoreV1().Services(c.ns).Get(t.Context(), "lms", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc.Spec.Selector
}

// previews lists the preview Ingresses as host -> backend Service.
func (c *cluster) previews(t testing.TB) map[string]string {
	t.Helper()
	l, err := c.admin.NetworkingV1().Ingresses(c.ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, ing := range l.Items {
		for _, rule := range ing.Spec.Rules {
			b := rule.HTTP.Paths[0].Backend.Service
			out[rule.Host] = b.Name + ":" + b.Port.Name
		}
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
			t.Errorf("ingress %s class %v", ing.Name, ing.Spec.IngressClassName)
		}
	}
	return out
}

// TestRouter is the router's conformance, checked by what the API server
// shows (no request reaches a pod under kwok): public traffic to the live
// release (the public Service's selector and its EndpointSlices), previews
// by an Ingress per running release, a cutover and a rollback, a table
// whose live release is not running refused.
func TestRouter(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	blue, green := c.deploy(t, "blue", 2), c.deploy(t, "green", 2)
	r := c.router()
	ctx := t.Context()
	table := func(live string, bs ...router.Backend) router.Table { return router.Table{Live: live, Backends: bs} }

	if err := r.Switch(ctx, table("blue", blue, green)); err != nil {
		t.Fatalf("switch to blue: %v", err)
	}
	c.served(t, "blue")
	if diff := cmp.Diff(c.selector(t), kube.Selector(c.env, "blue")); diff != "" {
		t.Errorf("selector (-got +want):\n%s", diff)
	}
	wantPreviews := map[string]string{"blue.lms.example.test": c.env + "-blue:http", "green.lms.example.test": c.env + "-green:http"}
	if diff := cmp.Diff(c.previews(t), wantPreviews); diff != "" {
		t.Errorf("previews (-got +want):\n%s", diff)
	}
	if live, err := r.Live(ctx); err != nil || live != "blue" {
		t.Errorf("Live = %q, %v", live, err)
	}

	if err := r.Switch(ctx, table("green", blue, green)); err != nil {
		t.Fatalf("cutover to green: %v", err)
	}
	c.served(t, "green")
	if err := r.Switch(ctx, table("blue", blue, green)); err != nil {
		t.Fatalf("rollback to blue: %v", err)
	}
	c.served(t, "blue")

	// A maintenance window: the public Service selects no pod.
	if err := r.Switch(ctx, router.Table{Live: "blue", Backends: []router.Backend{blue, green}, Maintenance: &router.Maintenance{}}); err != nil {
		t.Fatalf("maintenance: %v", err)
	}
	waitEmpty(t, c)
	if err := r.Switch(ctx, table("blue", blue, green)); err != nil {
		t.Fatalf("after maintenance: %v", err)
	}
	c.served(t, "blue")

	// A live release that is not running is refused; nothing changes.
	err := r.Switch(ctx, table("purple", blue))
	if !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), `"purple"`) {
		t.Errorf("switch to a release not running = %v", err)
	}
	if got := c.selector(t)[kube.LabelRelease]; got != "blue" {
		t.Errorf("after a refused switch the selector names %q", got)
	}
	// Green stops running: its preview goes.
	if err := r.Switch(ctx, table("blue", blue)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c.previews(t), map[string]string{"blue.lms.example.test": c.env + "-blue:http"}); diff != "" {
		t.Errorf("previews after green stopped (-got +want):\n%s", diff)
	}

	// From outside the cluster, with no ingress controller to give the
	// Ingress an address, a preview is not reachable; no address is dialled.
	if u, err := r.Preview(ctx, "blue"); err == nil || !strings.Contains(err.Error(), "no address") {
		t.Errorf("Preview = %q, %v; want not reachable: no address", u, err)
	}
}

func waitEmpty(t *testing.T, c *cluster) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := kubetest.ServedPods(t.Context(), c.admin, c.ns, "lms")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("maintenance: public service still serves %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSwitchRefusesChangedService: the public Service's selector changed
// by someone else between plan (Ready) and switch is refused and named;
// their change stays.
func TestSwitchRefusesChangedService(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	blue, green := c.deploy(t, "blue", 1), c.deploy(t, "green", 1)
	r := c.router()
	ctx := t.Context()
	tables := []router.Table{{Live: "blue", Backends: []router.Backend{blue, green}}, {Live: "green", Backends: []router.Backend{blue, green}}}
	if err := r.Switch(ctx, tables[0]); err != nil {
		t.Fatal(err)
	}
	if err := r.Ready(ctx); err != nil { // the plan
		t.Fatalf("ready: %v", err)
	}
	svc, err := c.admin.CoreV1().Services(c.ns).Get(ctx, "lms", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Selector = map[string]string{"app": "hotfix"}
	if _, err := c.admin.CoreV1().Services(c.ns).Update(ctx, svc, metav1.UpdateOptions{FieldManager: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	err = r.Switch(ctx, tables[1])
	var changed *rk.ChangedError
	if !errors.As(err, &changed) || !errors.Is(err, termshift.ErrRefused) {
		t.Fatalf("switch after someone else's change = %v, want refused", err)
	}
	t.Log(err)
	if changed.By != "someone-else" || changed.Service != c.ns+"/lms" || changed.To != "green" {
		t.Errorf("changed = %+v", changed)
	}
	if diff := cmp.Diff(c.selector(t), map[string]string{"app": "hotfix"}); diff != "" {
		t.Errorf("their change did not stay (-got +want):\n%s", diff)
	}
	// A new plan sees their change; the switch then goes through.
	if err := r.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Switch(ctx, tables[1]); err != nil {
		t.Fatalf("switch after a new plan: %v", err)
	}
	c.served(t, "green")
}

// TestRouterFaults: an unreachable API server, credentials that may not
// touch the router's namespace, and names that are no label values.
func TestRouterFaults(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	other := kubetest.Namespace(t, c.admin)
	backend := router.Backend{Release: "blue", URL: &url.URL{Scheme: "http", Host: "x:1"}}
	table := router.Table{Live: "blue", Backends: []router.Backend{backend}}

	dead := kubetest.Unreachable(t, c.admin)
	r := &rk.Router{Client: dead, Environment: c.env, Namespace: c.ns}
	if err := r.Switch(t.Context(), table); err == nil || !strings.Contains(err.Error(), dead.Server) || !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("switch on a closed port = %v", err)
	}
	if err := r.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), dead.Server) {
		t.Errorf("ready on a closed port = %v", err)
	}

	limited := kubetest.Restricted(t, c.admin, other, kube.Rules(rk.Permissions))
	r = &rk.Router{Client: limited, Environment: c.env, Namespace: c.ns}
	err := r.Ready(t.Context())
	var denied *kube.Denied
	if !errors.As(err, &denied) || denied.Namespace != c.ns || denied.Verb != "get" || denied.Resource != "services" {
		t.Errorf("ready with credentials for another namespace = %v", err)
	}
	if err := r.Switch(t.Context(), table); !errors.As(err, &denied) {
		t.Errorf("switch with credentials for another namespace = %v", err)
	}

	r = c.router()
	for _, bad := range []string{"Blue_", "blue.", strings.Repeat("b", 64)} {
		err := r.Switch(t.Context(), router.Table{Live: bad, Backends: []router.Backend{{Release: bad, URL: backend.URL}}})
		if !errors.Is(err, termshift.ErrInvalid) {
			t.Errorf("switch to %q = %v, want invalid", bad, err)
		}
	}
	if _, err := c.admin.CoreV1().Services(c.ns).Get(t.Context(), "lms", metav1.GetOptions{}); err == nil {
		t.Error("a public Service was applied despite the faults")
	}
}

// TestGatewayPreviews applies the Gateway API previews to a cluster with
// the HTTPRoute CRD. The CRD installed here is a minimal one of ours that
// accepts any spec: this checks what termshift applies, not that the
// upstream schema accepts it, and no gateway controller serves it.
func TestGatewayPreviews(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	installHTTPRouteCRD(t, c.admin)
	blue, green := c.deploy(t, "blue", 1), c.deploy(t, "green", 1)
	r := c.router()
	r.Previews, r.Gateway = rk.PreviewGateway, rk.Gateway{Name: "edge", Namespace: "gateways"}
	ctx := t.Context()
	if err := r.Switch(ctx, router.Table{Live: "blue", Backends: []router.Backend{blue, green}}); err != nil {
		t.Fatalf("switch: %v", err)
	}
	c.served(t, "blue")
	routes := func() map[string]string {
		t.Helper()
		l, err := c.admin.Dynamic.Resource(httpRoutes).Namespace(c.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, o := range l.Items {
			rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
			rule := rules[0].(map[string]any)
			ref := rule["backendRefs"].([]any)[0].(map[string]any)
			match := "any request"
			if m, ok := rule["matches"].([]any); ok {
				h := m[0].(map[string]any)["headers"].([]any)[0].(map[string]any)
				match = h["name"].(string) + ": " + h["value"].(string)
			}
			parent, _, _ := unstructured.NestedSlice(o.Object, "spec", "parentRefs")
			hosts, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "hostnames")
			out[o.GetName()] = strings.Join(hosts, ",") + " " + match + " -> " + ref["name"].(string) + " via " + parent[0].(map[string]any)["name"].(string)
		}
		return out
	}
	want := map[string]string{
		"lms":            "lms.example.test any request -> lms via edge",
		c.env + "-blue":  "lms.example.test X-Termshift-Release: blue -> " + c.env + "-blue via edge",
		c.env + "-green": "lms.example.test X-Termshift-Release: green -> " + c.env + "-green via edge",
	}
	if diff := cmp.Diff(routes(), want); diff != "" {
		t.Errorf("routes (-got +want):\n%s", diff)
	}
	if err := r.Switch(ctx, router.Table{Live: "blue", Backends: []router.Backend{blue}}); err != nil {
		t.Fatal(err)
	}
	delete(want, c.env+"-green")
	if diff := cmp.Diff(routes(), want); diff != "" {
		t.Errorf("routes after green stopped (-got +want):\n%s", diff)
	}
}

var httpRoutes = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// installHTTPRouteCRD installs a minimal HTTPRoute CRD (ours, written for
// this test; any spec accepted) unless the cluster has one, and waits until
// it is served. It is left installed: other tests may use it at once.
func installHTTPRouteCRD(t *testing.T, c *kube.Client) {
	t.Helper()
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "httproutes.gateway.networking.k8s.io",
			// *.k8s.io groups need this annotation; "unapproved" marks a CRD that is not the upstream one.
			"annotations": map[string]any{"api-approved.kubernetes.io": "unapproved, a minimal test CRD of termshift"}},
		"spec": map[string]any{
			"group": "gateway.networking.k8s.io", "scope": "Namespaced",
			"names": map[string]any{"plural": "httproutes", "singular": "httproute", "kind": "HTTPRoute", "listKind": "HTTPRouteList"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	_, err := c.Dynamic.Resource(crds).Create(t.Context(), crd, metav1.CreateOptions{})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("install HTTPRoute CRD: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.Dynamic.Resource(httpRoutes).Namespace(corev1.NamespaceDefault).List(t.Context(), metav1.ListOptions{Limit: 1})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("HTTPRoute CRD not served: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A weighted split is refused before the cluster is asked anything: a
// Service selector cannot weigh.
func TestRouterRefusesSplit(t *testing.T) {
	t.Parallel()
	r := &rk.Router{Environment: "qa", Namespace: "lms", Service: "lms"} // no client: nothing may be sent
	u := &url.URL{Scheme: "http", Host: "10.0.0.9:8000"}
	table := router.Table{Live: "current", Backends: []router.Backend{{Release: "current", URL: u}, {Release: "patch", URL: u}},
		Split: &router.Split{Release: "patch", Percent: 25}}
	err := r.Switch(t.Context(), table)
	var hint *termshift.HintError
	if !errors.Is(err, termshift.ErrRefused) || !errors.As(err, &hint) || !strings.Contains(err.Error(), "25%") || !strings.Contains(hint.Hint, "nginx") {
		t.Fatalf("Switch with a split = %v, want refused with a hint naming the routers that can split", err)
	}
}
