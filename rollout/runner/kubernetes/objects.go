package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/kube"
	"github.com/termshift/termshift/rollout/runner"
)

// Permissions are what the runner's credentials need in a release's
// namespace; Deploy checks them before it applies anything. Server-side
// apply is a patch, and a create when the object is new.
var Permissions = []kube.Permission{
	{Group: "apps", Resource: "deployments", Verbs: []string{"get", "list", "create", "patch", "delete"}},
	{Group: "", Resource: "services", Verbs: []string{"get", "list", "create", "patch", "delete"}},
	{Group: "", Resource: "secrets", Verbs: []string{"create", "patch", "delete"}},
	{Group: "", Resource: "pods", Verbs: []string{"list"}},
	{Group: "", Resource: "events", Verbs: []string{"list"}},
}

// applied is what Deploy applies for one release.
type applied struct {
	secret     *corev1ac.SecretApplyConfiguration
	deployment *appsv1ac.DeploymentApplyConfiguration
	service    *corev1ac.ServiceApplyConfiguration
}

// configHash is the sha256 of the configuration files, names included, on
// the pod template: a change of configuration rolls the pods, the same
// configuration applied again changes nothing.
func configHash(files map[string][]byte) string {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%d:%s\n%d:", len(name), name, len(files[name]))
		h.Write(files[name])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func quantities(field string, m map[string]string) (corev1.ResourceList, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := corev1.ResourceList{}
	for k, v := range m {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("resources.%s.%s: %q is not a quantity (e.g. 500m, 1Gi): %w", field, k, v, termshift.ErrInvalid)
		}
		out[corev1.ResourceName(k)] = q
	}
	return out, nil
}

// objects builds the apply configurations of a deployment.
func (r *Runner) objects(d runner.Deployment) (*applied, error) {
	env, ns := r.Environment, r.Spec.Namespace
	name := kube.ReleaseName(env, d.Release)
	secretName := kube.SecretName(env, d.Release)
	labels := kube.ReleaseLabels(env, d.Release, d.Version)
	port, err := r.httpPort()
	if err != nil {
		return nil, err
	}
	requests, err := quantities("requests", r.Spec.Requests)
	if err != nil {
		return nil, err
	}
	limits, err := quantities("limits", r.Spec.Limits)
	if err != nil {
		return nil, err
	}
	files := d.Files
	if files == nil {
		files = map[string][]byte{}
	}

	// Secrets, never a ConfigMap: the files hold the release's database
	// passwords.
	secret := corev1ac.Secret(secretName, ns).WithLabels(labels).WithType(corev1.SecretTypeOpaque).WithData(files)

	container := corev1ac.Container().WithName("app").WithImage(r.Spec.Image).
		WithVolumeMounts(corev1ac.VolumeMount().WithName("config").WithMountPath(r.configPath()).WithReadOnly(true))
	if len(r.Spec.Command) > 0 {
		container.WithCommand(r.Spec.Command...)
	}
	if len(r.Spec.Args) > 0 {
		container.WithArgs(r.Spec.Args...)
	}
	for _, p := range r.Spec.Ports {
		container.WithPorts(corev1ac.ContainerPort().WithName(p.Name).WithContainerPort(p.Port).WithProtocol(corev1.ProtocolTCP))
	}
	container.WithEnv(
		corev1ac.EnvVar().WithName("TERMSHIFT_RELEASE").WithValue(d.Release),
		corev1ac.EnvVar().WithName("TERMSHIFT_VERSION").WithValue(d.Version),
		corev1ac.EnvVar().WithName("TERMSHIFT_CONFIG_DIR").WithValue(r.configPath()),
		corev1ac.EnvVar().WithName("TERMSHIFT_PORT").WithValue(strconv.Itoa(int(port))),
	)
	for _, k := range slices.Sorted(maps.Keys(r.Spec.Env)) {
		container.WithEnv(corev1ac.EnvVar().WithName(k).WithValue(r.Spec.Env[k]))
	}
	if requests != nil || limits != nil {
		res := corev1ac.ResourceRequirements()
		if requests != nil {
			res.WithRequests(requests)
		}
		if limits != nil {
			res.WithLimits(limits)
		}
		container.WithResources(res)
	}
	if r.HealthPath != "" {
		container.WithReadinessProbe(corev1ac.Probe().WithHTTPGet(
			corev1ac.HTTPGetAction().WithPath(r.HealthPath).WithPort(intstr.FromString(HTTPPort))).
			WithPeriodSeconds(5).WithFailureThreshold(3))
	}
	pod := corev1ac.PodTemplateSpec().WithLabels(labels).
		WithAnnotations(map[string]string{kube.AnnotationConfig: configHash(files)}).
		WithSpec(corev1ac.PodSpec().WithContainers(container).
			WithVolumes(corev1ac.Volume().WithName("config").WithSecret(corev1ac.SecretVolumeSource().WithSecretName(secretName))))
	deployment := appsv1ac.Deployment(name, ns).WithLabels(labels).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(r.Spec.Replicas).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(kube.Selector(env, d.Release))).
			WithProgressDeadlineSeconds(max(1, int32(r.progressDeadline().Seconds()))).
			WithTemplate(pod))
	service := corev1ac.Service(name, ns).WithLabels(labels).
		WithSpec(corev1ac.ServiceSpec().WithType(corev1.ServiceTypeClusterIP).
			WithSelector(kube.Selector(env, d.Release)).
			WithPorts(corev1ac.ServicePort().WithName(HTTPPort).WithPort(port).WithTargetPort(intstr.FromString(HTTPPort)).WithProtocol(corev1.ProtocolTCP)))
	return &applied{secret: secret, deployment: deployment, service: service}, nil
}
