package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/kube"
	"github.com/termshift/termshift/rollout/runner"
)

// Labelled lists the Deployments, Services and Ingresses in the runner's
// namespace labelled for a release of its environment, whatever the
// release: gc and `namespaces` compare them with state to find orphans.
// Secrets are not listed (listing them reads their contents); they go with
// their release's Deployment.
func (r *Runner) Labelled(ctx context.Context) ([]runner.Object, error) {
	c, ns := r.Client, r.Spec.Namespace
	opts := metav1.ListOptions{LabelSelector: kube.EnvironmentSelector(r.Environment)}
	var out []runner.Object
	deps, err := c.AppsV1().Deployments(ns).List(ctx, opts)
	if err != nil {
		return nil, c.Err(err, "list", "deployments", ns, "")
	}
	for _, o := range deps.Items {
		out = append(out, runner.Object{Release: o.Labels[kube.LabelRelease], Kind: "Deployment", Namespace: ns, Name: o.Name})
	}
	svcs, err := c.CoreV1().Services(ns).List(ctx, opts)
	if err != nil {
		return nil, c.Err(err, "list", "services", ns, "")
	}
	for _, o := range svcs.Items {
		out = append(out, runner.Object{Release: o.Labels[kube.LabelRelease], Kind: "Service", Namespace: ns, Name: o.Name})
	}
	ings, err := c.NetworkingV1().Ingresses(ns).List(ctx, opts)
	switch {
	case apierrors.IsForbidden(err):
		// The runner's credentials need not manage Ingresses: the router's do.
	case err != nil:
		return nil, c.Err(err, "list", "ingresses.networking.k8s.io", ns, "")
	default:
		for _, o := range ings.Items {
			out = append(out, runner.Object{Release: o.Labels[kube.LabelRelease], Kind: "Ingress", Namespace: ns, Name: o.Name})
		}
	}
	slices.SortFunc(out, func(a, b runner.Object) int {
		if a.Release != b.Release {
			if a.Release < b.Release {
				return -1
			}
			return 1
		}
		if a.String() < b.String() {
			return -1
		}
		return 1
	})
	return out, nil
}

// RemoveRelease deletes every object termshift made for a release that
// state does not know (gc of an orphan): the same as Stop, for any
// release name.
func (r *Runner) RemoveRelease(ctx context.Context, release string) error {
	return r.Stop(ctx, release)
}

// removeRelease deletes a release's objects by their names, the preview
// Ingress first (it routes to the Service), then the Service, the
// Deployment and the Secret. Each is tried; what failed is named.
func removeRelease(ctx context.Context, c *kube.Client, env, ns, release string) error {
	name := kube.ReleaseName(env, release)
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	steps := []struct {
		what, resource, name string
		del                  func() error
	}{
		{"Ingress", "ingresses.networking.k8s.io", name, func() error { return c.NetworkingV1().Ingresses(ns).Delete(ctx, name, opts) }},
		{"Service", "services", name, func() error { return c.CoreV1().Services(ns).Delete(ctx, name, opts) }},
		{"Deployment", "deployments", name, func() error { return c.AppsV1().Deployments(ns).Delete(ctx, name, opts) }},
		{"Secret", "secrets", kube.SecretName(env, release), func() error {
			return c.CoreV1().Secrets(ns).Delete(ctx, kube.SecretName(env, release), opts)
		}},
	}
	var done, failed []string
	var errs []error
	for _, s := range steps {
		err := s.del()
		switch {
		case err == nil:
			done = append(done, s.what+" "+ns+"/"+s.name)
		case apierrors.IsNotFound(err):
		case s.what == "Ingress" && apierrors.IsForbidden(err):
			// Credentials without Ingress rights have made none.
		default:
			failed = append(failed, s.what+" "+ns+"/"+s.name)
			errs = append(errs, c.Err(err, "delete", s.resource, ns, s.name))
		}
	}
	if len(errs) > 0 {
		return &termshift.PartialError{Op: fmt.Sprintf("delete the objects of release %s", termshift.Quote(release)), Done: done, Failed: failed, Err: errors.Join(errs...)}
	}
	return nil
}
