package envfile

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Kubernetes defaults.
const (
	KubernetesHTTPPort         = "http"
	kubernetesDefaultPort      = 8000
	kubernetesDefaultConfig    = "/etc/termshift"
	kubernetesDefaultDeadline  = 10 * time.Minute
	kubernetesDefaultReplicas  = int32(1)
	kubernetesDefaultPublicSvc = 80
)

// ReleaseNamespace is the namespace of a kubernetes release.
func (e *Environment) ReleaseNamespace(r ReleaseSpec) string {
	if r.Kubernetes != nil && r.Kubernetes.Namespace != "" {
		return r.Kubernetes.Namespace
	}
	if e.Kubernetes != nil {
		return e.Kubernetes.Namespace
	}
	return ""
}

// RouterNamespace is the namespace of the kubernetes router.
func (e *Environment) RouterNamespace() string {
	if k := e.Router.Kubernetes; k != nil && k.Namespace != "" {
		return k.Namespace
	}
	if e.Kubernetes != nil {
		return e.Kubernetes.Namespace
	}
	return ""
}

func applyKubernetesDefaults(env *Environment) {
	for i := range env.Releases {
		k := env.Releases[i].Kubernetes
		if env.Releases[i].Runner != "kubernetes" || k == nil {
			continue
		}
		k.Namespace = env.ReleaseNamespace(env.Releases[i])
		if k.Replicas == nil {
			n := kubernetesDefaultReplicas
			k.Replicas = &n
		}
		if len(k.Ports) == 0 {
			k.Ports = []KubernetesPort{{Name: KubernetesHTTPPort, Port: kubernetesDefaultPort}}
		}
		if k.ConfigPath == "" {
			k.ConfigPath = kubernetesDefaultConfig
		}
		if k.ProgressDeadline.Duration == 0 {
			k.ProgressDeadline.Duration = kubernetesDefaultDeadline
		}
	}
	if env.Router.Provider == "kubernetes" {
		if env.Router.Kubernetes == nil {
			env.Router.Kubernetes = &KubernetesRouter{}
		}
		k := env.Router.Kubernetes
		k.Namespace = env.RouterNamespace()
		if k.Service == "" {
			k.Service = env.Name
		}
		if k.ServiceType == "" {
			k.ServiceType = "ClusterIP"
		}
		if k.Port == 0 {
			k.Port = kubernetesDefaultPublicSvc
		}
		if k.Previews == "" {
			k.Previews = "ingress"
		}
	}
}

// labelValue reports a value that cannot label a Kubernetes object.
func (v *validator) labelValue(field, what, value string) {
	if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
		v.fail(field, "%s %s is not a valid Kubernetes label value (the kubernetes runner labels every object with it): %s", what, short(value), strings.Join(errs, "; "))
	}
}

func (v *validator) namespaceName(field, ns string) {
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		v.fail(field, "%s is not a valid Kubernetes namespace: %s", short(ns), strings.Join(errs, "; "))
	}
}

// validateKubernetesRelease checks a release with runner kubernetes: every
// name that labels or names an object, before anything is applied.
func (v *validator) validateKubernetesRelease(env *Environment, f string, r ReleaseSpec) {
	v.labelValue(f+".name", "release", r.Name)
	if r.Version != "" {
		v.labelValue(f+".version", "version", r.Version)
	}
	if env.Name != "" {
		if errs := validation.IsDNS1035Label(env.Name + "-" + r.Name); len(errs) > 0 {
			v.fail(f+".name", "environment and release name %s, the name of its Deployment and Service, is not a valid Kubernetes name: %s", short(env.Name+"-"+r.Name), strings.Join(errs, "; "))
		}
	}
	k := r.Kubernetes
	if k == nil {
		v.fail(f+".kubernetes", "is required for the kubernetes runner (image, namespace, replicas, ports, ...)")
		return
	}
	f += ".kubernetes"
	if k.Image == "" {
		v.fail(f+".image", "is required: the container image the release runs")
	}
	if ns := env.ReleaseNamespace(r); ns == "" {
		v.fail(f+".namespace", "is required (here or as kubernetes.namespace)")
	} else {
		v.namespaceName(f+".namespace", ns)
	}
	if k.Replicas != nil && *k.Replicas < 0 {
		v.fail(f+".replicas", "%d is below 0", *k.Replicas)
	}
	names := map[string]bool{}
	for i, p := range k.Ports {
		pf := fmt.Sprintf("%s.ports.%d", f, i)
		if errs := validation.IsValidPortName(p.Name); len(errs) > 0 {
			v.fail(pf+".name", "%s is not a port name: %s", short(p.Name), strings.Join(errs, "; "))
		} else if names[p.Name] {
			v.fail(pf+".name", "%q is listed twice", p.Name)
		}
		names[p.Name] = true
		if p.Port < 1 || p.Port > 65535 {
			v.fail(pf+".port", "%d is not a TCP port", p.Port)
		}
	}
	if len(k.Ports) > 0 && !names[KubernetesHTTPPort] {
		v.fail(f+".ports", "has no port named %s: the Services route traffic to it", KubernetesHTTPPort)
	}
	for _, group := range []struct {
		field string
		m     map[string]string
	}{{"requests", k.Resources.Requests}, {"limits", k.Resources.Limits}} {
		for _, name := range slices.Sorted(maps.Keys(group.m)) {
			if _, err := resource.ParseQuantity(group.m[name]); err != nil {
				v.fail(f+".resources."+group.field+"."+name, "%s is not a quantity (e.g. 500m, 1Gi)", short(group.m[name]))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(k.Env)) {
		if errs := validation.IsEnvVarName(name); len(errs) > 0 {
			v.fail(f+".env."+name, "is not an environment variable name: %s", strings.Join(errs, "; "))
		} else if strings.HasPrefix(name, "TERMSHIFT_") {
			v.fail(f+".env."+name, "TERMSHIFT_ variables are set by termshift")
		}
	}
	if k.ConfigPath != "" && !path.IsAbs(k.ConfigPath) {
		v.fail(f+".config_path", "%s must be an absolute path in the container", short(k.ConfigPath))
	}
	if d := k.ProgressDeadline.Duration; d != 0 && d < time.Second {
		v.fail(f+".progress_deadline", "%s is below one second", d)
	}
}

// validateKubernetes checks the kubernetes section and the router's
// options; env.Name must label objects when anything runs on a cluster.
func (v *validator) validateKubernetes(env *Environment) {
	used := env.Router.Provider == "kubernetes"
	for _, r := range env.Releases {
		used = used || r.Runner == "kubernetes"
	}
	if !used {
		return
	}
	if env.Name != "" {
		v.labelValue("name", "environment name", env.Name)
	}
	if k := env.Kubernetes; k != nil {
		if k.InCluster && (k.Kubeconfig != "" || k.Context != "") {
			v.fail("kubernetes.in_cluster", "is true, but kubeconfig or context is set too: choose one")
		}
		if k.Namespace != "" {
			v.namespaceName("kubernetes.namespace", k.Namespace)
		}
	}
	if env.Router.Provider != "kubernetes" {
		return
	}
	k := env.Router.Kubernetes
	if k == nil {
		k = &KubernetesRouter{}
	}
	ns := env.RouterNamespace()
	if ns == "" {
		v.fail("router.kubernetes.namespace", "is required (here or as kubernetes.namespace)")
	} else {
		v.namespaceName("router.kubernetes.namespace", ns)
	}
	for i, r := range env.Releases {
		f := fmt.Sprintf("releases.%d", i)
		switch {
		case r.Runner != "kubernetes":
			v.fail(f+".runner", "is %q, but router.provider kubernetes switches only releases with runner kubernetes", r.Runner)
		case ns != "" && env.ReleaseNamespace(r) != "" && env.ReleaseNamespace(r) != ns:
			v.fail(f+".kubernetes.namespace", "is %q, but the router's public Service is in %q: a Service selects pods in its own namespace only", env.ReleaseNamespace(r), ns)
		}
	}
	if k.Service != "" {
		if errs := validation.IsDNS1035Label(k.Service); len(errs) > 0 {
			v.fail("router.kubernetes.service", "%s is not a valid Service name: %s", short(k.Service), strings.Join(errs, "; "))
		}
	}
	switch k.ServiceType {
	case "", "ClusterIP", "NodePort", "LoadBalancer":
	default:
		v.fail("router.kubernetes.service_type", "must be ClusterIP, NodePort or LoadBalancer, not %q", k.ServiceType)
	}
	if k.Port < 0 || k.Port > 65535 {
		v.fail("router.kubernetes.port", "%d is not a TCP port", k.Port)
	}
	switch k.Previews {
	case "", "ingress":
		if env.Router.Host == "" {
			v.fail("router.host", "is required for router.kubernetes.previews ingress: releases are previewed on RELEASE.HOST (or set previews: none)")
		}
	case "gateway":
		if k.Gateway == nil || k.Gateway.Name == "" {
			v.fail("router.kubernetes.gateway.name", "is required for previews gateway: the Gateway the HTTPRoutes attach to")
		}
	case "none":
	default:
		v.fail("router.kubernetes.previews", "must be ingress, gateway or none, not %q", k.Previews)
	}
}
