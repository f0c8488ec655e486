// Package kubernetes is the router provider for releases that run on a
// Kubernetes cluster (runner kubernetes): public traffic goes to a Service
// whose selector names the live release, so a cutover or a rollback is one
// update of that Service, sent with the resourceVersion termshift last saw
// (someone else's change in between is refused and named). QA previews a
// release through an Ingress per release on host RELEASE.HOST to its
// preview Service, or, where a Gateway API gateway is configured, through
// HTTPRoutes that match the X-Termshift-Release header.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/kube"
	"github.com/termshift/termshift/rollout/router"
)

// Preview modes.
const (
	// PreviewIngress (the default): an Ingress per release on host
	// RELEASE.HOST. networking.k8s.io/v1 is in every cluster and every
	// ingress controller Open edX operators run (ingress-nginx in Tutor and
	// openedx-k8s-harmony) serves it; the Gateway API needs CRDs and a
	// controller many clusters do not have.
	PreviewIngress = "ingress"
	// PreviewGateway: HTTPRoutes on a configured Gateway: the public host
	// to the public Service, and a route per release matching the
	// X-Termshift-Release header to its preview Service.
	PreviewGateway = "gateway"
	// PreviewNone: no preview routes.
	PreviewNone = "none"
)

// httpPort names the release containers' port both Services route to (the
// runner's kubernetes.HTTPPort).
const httpPort = "http"

// Permissions are what the router's credentials need in its namespace.
var Permissions = []kube.Permission{
	{Group: "", Resource: "services", Verbs: []string{"get", "create", "patch"}},
	{Group: "networking.k8s.io", Resource: "ingresses", Verbs: []string{"get", "list", "create", "patch", "delete"}},
}

// GatewayPermissions are needed besides Permissions with PreviewGateway.
var GatewayPermissions = []kube.Permission{
	{Group: "gateway.networking.k8s.io", Resource: "httproutes", Verbs: []string{"get", "list", "create", "patch", "delete"}},
}

// Gateway is the Gateway API gateway previews attach to.
type Gateway struct {
	Name, Namespace, SectionName string
}

// Router switches an environment's public Service between releases.
type Router struct {
	Client      *kube.Client
	Environment string
	// Namespace holds the public Service and the releases (a Service
	// selects pods in its own namespace only).
	Namespace string
	// Service is the public Service's name; default the environment's.
	Service string
	// ServiceType is ClusterIP (default), NodePort or LoadBalancer.
	ServiceType corev1.ServiceType
	// Port is the public Service's port; default 80.
	Port int32
	// Host is the public host name; previews are on RELEASE.HOST.
	Host string
	// Previews is PreviewIngress (default), PreviewGateway or PreviewNone.
	Previews string
	// IngressClass, IngressAnnotations and TLSSecret shape the preview
	// Ingresses.
	IngressClass       string
	IngressAnnotations map[string]string
	TLSSecret          string
	Gateway            Gateway

	mu sync.Mutex
	// seen is the public Service's resourceVersion when termshift last read
	// or wrote it ("" when it did not exist): the next switch expects it.
	seen *string
}

func (r *Router) service() string {
	if r.Service == "" {
		return r.Environment
	}
	return r.Service
}

func (r *Router) port() int32 {
	if r.Port == 0 {
		return 80
	}
	return r.Port
}

func (r *Router) previews() string {
	if r.Previews == "" {
		return PreviewIngress
	}
	return r.Previews
}

func (r *Router) permissions() []kube.Permission {
	if r.previews() == PreviewGateway {
		return slices.Concat(Permissions, GatewayPermissions)
	}
	return Permissions
}

// Ready checks, before a switch is recorded in state, that the
// credentials may switch, and reads the public Service: the switch that
// follows expects it unchanged.
func (r *Router) Ready(ctx context.Context) error {
	if err := r.Client.CheckAccess(ctx, r.Namespace, r.permissions()); err != nil {
		return err
	}
	svc, err := r.Client.CoreV1().Services(r.Namespace).Get(ctx, r.service(), metav1.GetOptions{})
	seen := ""
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return r.Client.Err(err, "get", "services", r.Namespace, r.service())
	default:
		seen = svc.ResourceVersion
	}
	r.mu.Lock()
	r.seen = &seen
	r.mu.Unlock()
	return nil
}

// Live reads which release the public Service selects now ("" when it
// does not exist or selects none).
func (r *Router) Live(ctx context.Context) (string, error) {
	svc, err := r.Client.CoreV1().Services(r.Namespace).Get(ctx, r.service(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", r.Client.Err(err, "get", "services", r.Namespace, r.service())
	}
	if svc.Spec.Selector[kube.LabelMaintenance] != "" {
		return "", nil
	}
	return svc.Spec.Selector[kube.LabelRelease], nil
}

// Switch points the public Service at the table's live release (during a
// maintenance window, at no pod) in one server-side apply that carries the
// resourceVersion termshift last saw, then makes the previews match the
// table's backends. A Service changed by someone else since is refused,
// naming who changed it, and nothing is switched.
func (r *Router) Switch(ctx context.Context, t router.Table) error {
	if sp := t.Split; sp != nil {
		// A Service spreads its traffic over every pod it selects: the
		// share of a release would be its share of the pods, and no
		// browser would keep its side.
		return termshift.WithHint(fmt.Errorf("kubernetes router: cannot send %d%% of public traffic to %s: a Service selector cannot weigh traffic or keep a browser on one side: %w",
			sp.Percent, termshift.Quote(sp.Release), termshift.ErrRefused),
			"use router.provider nginx, elbv2 or local (termshift serve) for a progressive cutover, or cut over at once without --steps")
	}
	if t.Live != "" {
		if err := kube.CheckLabelValue("release", t.Live); err != nil {
			return err
		}
	}
	for _, b := range t.Backends {
		if err := kube.CheckRelease(r.Environment, b.Release, "x"); err != nil {
			return err
		}
	}
	if t.Live != "" {
		if _, ok := t.Backend(t.Live); !ok {
			return fmt.Errorf("kubernetes router: live release %s is not running: %w", termshift.Quote(t.Live), termshift.ErrRefused)
		}
		if err := r.switchPublic(ctx, t); err != nil {
			return err
		}
	}
	switch r.previews() {
	case PreviewIngress:
		return r.syncIngresses(ctx, t)
	case PreviewGateway:
		return r.syncRoutes(ctx, t)
	}
	return nil
}

func (r *Router) switchPublic(ctx context.Context, t router.Table) error {
	c, ns, name := r.Client, r.Namespace, r.service()
	r.mu.Lock()
	seen := r.seen
	r.mu.Unlock()
	if seen == nil {
		// No plan read by Ready: what is there now is the plan.
		if err := r.Ready(ctx); err != nil {
			return err
		}
		r.mu.Lock()
		seen = r.seen
		r.mu.Unlock()
	}
	selector := kube.Selector(r.Environment, t.Live)
	if t.Maintenance != nil {
		selector[kube.LabelMaintenance] = "true"
	}
	labels := map[string]string{kube.LabelEnvironment: r.Environment, kube.LabelManagedBy: kube.FieldManager}
	svc := corev1ac.Service(name, ns).WithLabels(labels).
		WithAnnotations(map[string]string{"termshift.io/live": t.Live}).
		WithSpec(corev1ac.ServiceSpec().WithType(r.serviceType()).WithSelector(selector).
			WithPorts(corev1ac.ServicePort().WithName(httpPort).WithPort(r.port()).WithTargetPort(intstr.FromString(httpPort)).WithProtocol(corev1.ProtocolTCP)))
	if *seen != "" {
		svc.WithResourceVersion(*seen)
	}
	got, err := c.CoreV1().Services(ns).Apply(ctx, svc, metav1.ApplyOptions{FieldManager: kube.FieldManager, Force: true})
	r.mu.Lock()
	r.seen = nil
	if err == nil {
		rv := got.ResourceVersion
		r.seen = &rv
	}
	r.mu.Unlock()
	if apierrors.IsConflict(err) {
		return r.changedError(ctx, *seen, t.Live)
	}
	return c.Err(err, "patch", "services", ns, name)
}

func (r *Router) serviceType() corev1.ServiceType {
	if r.ServiceType == "" {
		return corev1.ServiceTypeClusterIP
	}
	return r.ServiceType
}

// ChangedError is a switch refused because the public Service changed
// between the plan and the switch.
type ChangedError struct {
	Service string
	// Seen is the resourceVersion termshift expected, Now the one found.
	Seen, Now string
	// By is the field manager of the latest change, At its time.
	By, Operation string
	At            time.Time
	// Selector is the Service's selector now.
	Selector string
	To       string
}

func (e *ChangedError) Error() string {
	by := "someone else"
	if e.By != "" {
		by = termshift.Quote(e.By)
		if e.Operation != "" {
			by += " (" + e.Operation
			if !e.At.IsZero() {
				by += " at " + e.At.UTC().Format(time.RFC3339)
			}
			by += ")"
		}
	}
	return fmt.Sprintf("public Service %s was changed by %s between plan and switch (resourceVersion %s, now %s; its selector is now %s): refusing to switch it to %s; nothing was switched",
		e.Service, by, e.Seen, e.Now, termshift.Quote(e.Selector), termshift.Quote(e.To))
}

// Is makes a ChangedError match termshift.ErrRefused.
func (e *ChangedError) Is(target error) bool { return target == termshift.ErrRefused }

func (r *Router) changedError(ctx context.Context, seen, to string) error {
	e := &ChangedError{Service: r.Namespace + "/" + r.service(), Seen: seen, To: to}
	svc, err := r.Client.CoreV1().Services(r.Namespace).Get(ctx, r.service(), metav1.GetOptions{})
	if err != nil {
		return errors.Join(e, r.Client.Err(err, "get", "services", r.Namespace, r.service()))
	}
	e.Now, e.Selector = svc.ResourceVersion, labels.SelectorFromSet(svc.Spec.Selector).String()
	// The latest entry; on a tie (times have one-second resolution) one
	// that is not termshift's.
	var latest *metav1.ManagedFieldsEntry
	for i := range svc.ManagedFields {
		f := &svc.ManagedFields[i]
		switch {
		case f.Time == nil:
		case latest == nil, f.Time.After(latest.Time.Time),
			f.Time.Equal(latest.Time) && latest.Manager == kube.FieldManager && f.Manager != kube.FieldManager:
			latest = f
		}
	}
	if latest != nil {
		e.By, e.Operation, e.At = latest.Manager, string(latest.Operation), latest.Time.Time
	}
	return e
}

// Preview is the URL through which this machine reaches a release for
// verify's health and smoke checks; an error says why it cannot (termshift
// runs outside the cluster and no preview route has an address that
// resolves). Cluster addresses are never dialled to find out.
func (r *Router) Preview(ctx context.Context, release string) (string, error) {
	name := kube.ReleaseName(r.Environment, release)
	if r.Client.InCluster {
		svc, err := r.Client.CoreV1().Services(r.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", r.Client.Err(err, "get", "services", r.Namespace, name)
		}
		for _, p := range svc.Spec.Ports {
			if p.Name == httpPort {
				return "http://" + net.JoinHostPort(name+"."+r.Namespace+".svc", strconv.Itoa(int(p.Port))), nil
			}
		}
		return "", fmt.Errorf("preview Service %s/%s has no port %s", r.Namespace, name, httpPort)
	}
	if r.Host == "" || r.previews() == PreviewNone {
		return "", fmt.Errorf("termshift runs outside the cluster and release %s has no preview route (router.host is not set)", termshift.Quote(release))
	}
	var addrs []string
	switch r.previews() {
	case PreviewIngress:
		ing, err := r.Client.NetworkingV1().Ingresses(r.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", r.Client.Err(err, "get", "ingresses.networking.k8s.io", r.Namespace, name)
		}
		for _, a := range ing.Status.LoadBalancer.Ingress {
			addrs = append(addrs, a.IP+a.Hostname)
		}
		if len(addrs) == 0 {
			return "", fmt.Errorf("preview Ingress %s/%s has no address: no ingress controller has admitted it", r.Namespace, name)
		}
	case PreviewGateway:
		a, err := r.gatewayAddresses(ctx)
		if err != nil {
			return "", err
		}
		addrs = a
	}
	host := r.previewHost(release)
	if r.previews() == PreviewGateway {
		host = r.Host // previews go by header on the public host
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := net.DefaultResolver.LookupHost(rctx, host); err != nil {
		return "", fmt.Errorf("the preview route's address is %v, but %s does not resolve from here: %v", addrs, host, err)
	}
	scheme := "http"
	if r.TLSSecret != "" {
		scheme = "https"
	}
	return scheme + "://" + host, nil
}

func (r *Router) previewHost(release string) string { return release + "." + r.Host }
