package kubernetes

import (
	"context"
	"errors"
	"fmt"

	netv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	netv1ac "k8s.io/client-go/applyconfigurations/networking/v1"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/kube"
	"github.com/termshift/termshift/rollout/router"
)

// The Gateway API's resources (gateway.networking.k8s.io/v1).
var (
	httpRoutes = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	gateways   = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}
)

func (r *Router) previewLabels(release string) map[string]string {
	return map[string]string{kube.LabelEnvironment: r.Environment, kube.LabelRelease: release, kube.LabelManagedBy: kube.FieldManager}
}

// previewSelector selects the preview objects of the environment.
func (r *Router) previewSelector() string {
	return kube.EnvironmentSelector(r.Environment) + "," + kube.LabelManagedBy + "=" + kube.FieldManager
}

// syncIngresses applies an Ingress per running release on RELEASE.HOST to
// its preview Service, and deletes the environment's preview Ingresses of
// releases no longer running.
func (r *Router) syncIngresses(ctx context.Context, t router.Table) error {
	if r.Host == "" {
		return nil
	}
	c, ns := r.Client, r.Namespace
	want := map[string]bool{}
	for _, b := range t.Backends {
		name, host := kube.ReleaseName(r.Environment, b.Release), r.previewHost(b.Release)
		want[name] = true
		spec := netv1ac.IngressSpec().WithRules(netv1ac.IngressRule().WithHost(host).WithHTTP(
			netv1ac.HTTPIngressRuleValue().WithPaths(netv1ac.HTTPIngressPath().WithPath("/").WithPathType(netv1.PathTypePrefix).
				WithBackend(netv1ac.IngressBackend().WithService(
					netv1ac.IngressServiceBackend().WithName(name).WithPort(netv1ac.ServiceBackendPort().WithName(httpPort)))))))
		if r.IngressClass != "" {
			spec.WithIngressClassName(r.IngressClass)
		}
		if r.TLSSecret != "" {
			spec.WithTLS(netv1ac.IngressTLS().WithHosts(host).WithSecretName(r.TLSSecret))
		}
		ing := netv1ac.Ingress(name, ns).WithLabels(r.previewLabels(b.Release)).WithSpec(spec)
		if len(r.IngressAnnotations) > 0 {
			ing.WithAnnotations(r.IngressAnnotations)
		}
		if _, err := c.NetworkingV1().Ingresses(ns).Apply(ctx, ing, metav1.ApplyOptions{FieldManager: kube.FieldManager, Force: true}); err != nil {
			return c.Err(err, "patch", "ingresses.networking.k8s.io", ns, name)
		}
	}
	list, err := c.NetworkingV1().Ingresses(ns).List(ctx, metav1.ListOptions{LabelSelector: r.previewSelector()})
	if err != nil {
		return c.Err(err, "list", "ingresses.networking.k8s.io", ns, "")
	}
	var errs []error
	for _, ing := range list.Items {
		if want[ing.Name] {
			continue
		}
		if err := c.NetworkingV1().Ingresses(ns).Delete(ctx, ing.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, c.Err(err, "delete", "ingresses.networking.k8s.io", ns, ing.Name))
		}
	}
	return errors.Join(errs...)
}

// syncRoutes applies, on the configured Gateway, a public HTTPRoute for
// the public host to the public Service and an HTTPRoute per running
// release that matches the X-Termshift-Release header (a header match is
// more specific than none, so it wins), and deletes the environment's
// preview routes of releases no longer running.
func (r *Router) syncRoutes(ctx context.Context, t router.Table) error {
	c, ns := r.Client, r.Namespace
	routes := c.Dynamic.Resource(httpRoutes).Namespace(ns)
	apply := func(name string, labels map[string]string, rule map[string]any) error {
		spec := map[string]any{"parentRefs": []any{r.parentRef()}, "rules": []any{rule}}
		if r.Host != "" {
			spec["hostnames"] = []any{r.Host}
		}
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
			"metadata": map[string]any{"name": name, "namespace": ns, "labels": toAny(labels)},
			"spec":     spec,
		}}
		if _, err := routes.Apply(ctx, name, obj, metav1.ApplyOptions{FieldManager: kube.FieldManager, Force: true}); err != nil {
			return c.Err(err, "patch", "httproutes.gateway.networking.k8s.io", ns, name)
		}
		return nil
	}
	if t.Live != "" {
		labels := map[string]string{kube.LabelEnvironment: r.Environment, kube.LabelManagedBy: kube.FieldManager}
		rule := map[string]any{"backendRefs": []any{map[string]any{"name": r.service(), "port": int64(r.port())}}}
		if err := apply(r.service(), labels, rule); err != nil {
			return err
		}
	}
	want := map[string]bool{}
	for _, b := range t.Backends {
		name := kube.ReleaseName(r.Environment, b.Release)
		want[name] = true
		svc, err := c.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return c.Err(err, "get", "services", ns, name)
		}
		var port int32
		for _, p := range svc.Spec.Ports {
			if p.Name == httpPort {
				port = p.Port
			}
		}
		if port == 0 {
			return fmt.Errorf("preview Service %s/%s has no port named %s: %w", ns, name, httpPort, termshift.ErrInvalid)
		}
		rule := map[string]any{
			"matches":     []any{map[string]any{"headers": []any{map[string]any{"type": "Exact", "name": router.PreviewHeader, "value": b.Release}}}},
			"backendRefs": []any{map[string]any{"name": name, "port": int64(port)}},
		}
		if err := apply(name, r.previewLabels(b.Release), rule); err != nil {
			return err
		}
	}
	list, err := routes.List(ctx, metav1.ListOptions{LabelSelector: r.previewSelector()})
	if err != nil {
		return c.Err(err, "list", "httproutes.gateway.networking.k8s.io", ns, "")
	}
	var errs []error
	for _, o := range list.Items {
		if want[o.GetName()] {
			continue
		}
		if err := routes.Delete(ctx, o.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, c.Err(err, "delete", "httproutes.gateway.networking.k8s.io", ns, o.GetName()))
		}
	}
	return errors.Join(errs...)
}

func (r *Router) parentRef() map[string]any {
	ref := map[string]any{"name": r.Gateway.Name}
	if r.Gateway.Namespace != "" {
		ref["namespace"] = r.Gateway.Namespace
	}
	if r.Gateway.SectionName != "" {
		ref["sectionName"] = r.Gateway.SectionName
	}
	return ref
}

// gatewayAddresses are the configured Gateway's addresses (status).
func (r *Router) gatewayAddresses(ctx context.Context) ([]string, error) {
	ns := r.Gateway.Namespace
	if ns == "" {
		ns = r.Namespace
	}
	gw, err := r.Client.Dynamic.Resource(gateways).Namespace(ns).Get(ctx, r.Gateway.Name, metav1.GetOptions{})
	if err != nil {
		return nil, r.Client.Err(err, "get", "gateways.gateway.networking.k8s.io", ns, r.Gateway.Name)
	}
	list, _, _ := unstructured.NestedSlice(gw.Object, "status", "addresses")
	var out []string
	for _, a := range list {
		if m, ok := a.(map[string]any); ok {
			if v, ok := m["value"].(string); ok && v != "" {
				out = append(out, v)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("gateway %s/%s has no address: no gateway controller has programmed it", ns, r.Gateway.Name)
	}
	return out, nil
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
