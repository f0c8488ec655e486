// Package kubetest holds what the Kubernetes runner's and router's tests
// share: a client of the local API server (`make services`), a namespace
// of their own per test, credentials limited by RBAC to one namespace, and
// an API server address that refuses connections.
package kubetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"slices"
	"sort"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/kube"
)

// Client is an administrator's client of the local API server; under
// CI=true a missing one fails the test.
func Client(t testing.TB) *kube.Client {
	t.Helper()
	path := termshift.RequireLocalSetting(t, "TERMSHIFT_KUBECONFIG")
	kctx, _ := termshift.LocalSetting("TERMSHIFT_KUBE_CONTEXT")
	c, err := kube.New(kube.Config{Kubeconfig: path, Context: kctx})
	if err != nil {
		t.Fatalf("kubernetes client: %v", err)
	}
	return c
}

// Name is a unique lowercase name with prefix, a valid namespace, label
// value and environment name.
func Name(t testing.TB, prefix string) string {
	t.Helper()
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return prefix + string(b)
}

// Namespace creates a namespace of the test's own and deletes it at
// cleanup without waiting for the namespace controller.
func Namespace(t testing.TB, c *kube.Client) string {
	t.Helper()
	name := Name(t, "ts-")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"termshift.io/test": "true"}}}
	if _, err := c.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	return name
}

// Restricted returns a client whose credentials are a new ServiceAccount's
// token (TokenRequest API) bound by a Role to rules in namespace alone.
func Restricted(t testing.TB, admin *kube.Client, namespace string, rules []rbacv1.PolicyRule) *kube.Client {
	t.Helper()
	ctx := t.Context()
	name := Name(t, "termshift-")
	meta := metav1.ObjectMeta{Name: name, Namespace: namespace}
	if _, err := admin.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service account: %v", err)
	}
	if _, err := admin.RbacV1().Roles(namespace).Create(ctx, &rbacv1.Role{ObjectMeta: meta, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role: %v", err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: meta,
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}}
	if _, err := admin.RbacV1().RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role binding: %v", err)
	}
	expiry := int64(600)
	tr, err := admin.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	rc := rest.AnonymousClientConfig(admin.REST)
	rc.BearerToken = tr.Status.Token
	c, err := kube.NewForConfig(rc, false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Unreachable returns a client of an API server address that refuses
// connections (a port just closed on loopback).
func Unreachable(t testing.TB, admin *kube.Client) *kube.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rc := rest.CopyConfig(admin.REST)
	rc.Host = "https://" + addr
	rc.Timeout = 5 * time.Second
	c, err := kube.NewForConfig(rc, false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ServedPods lists the pods a Service's EndpointSlices name as ready
// endpoints, sorted.
func ServedPods(ctx context.Context, c *kube.Client, namespace, service string) ([]string, error) {
	list, err := c.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			if e.TargetRef != nil && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
				out = append(out, e.TargetRef.Name)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// ReleasePods lists the pods of a release, sorted.
func ReleasePods(ctx context.Context, c *kube.Client, namespace, env, release string) ([]string, error) {
	l, err := c.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(kube.Selector(env, release)).String()})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// WaitServed waits until a Service's EndpointSlices list exactly the
// release's pods, polling every interval, and returns the time it took.
func WaitServed(ctx context.Context, c *kube.Client, namespace, service, env, release string, interval time.Duration) (time.Duration, error) {
	start := time.Now()
	want, err := ReleasePods(ctx, c, namespace, env, release)
	if err != nil {
		return 0, err
	}
	var got []string
	for {
		got, err = ServedPods(ctx, c, namespace, service)
		if err != nil {
			return 0, err
		}
		if len(want) > 0 && slices.Equal(got, want) {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("service %s/%s serves %v, want release %s's pods %v: %w", namespace, service, got, release, want, ctx.Err())
		case <-time.After(interval):
		}
	}
}
