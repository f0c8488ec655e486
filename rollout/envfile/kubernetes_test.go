package envfile

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestKubernetesEnvironmentDefaults(t *testing.T) {
	env, err := LoadEnvironment("testdata/kubernetes.yaml", noEnv)
	if err != nil {
		t.Fatalf("LoadEnvironment: %v", err)
	}
	six, one := int32(6), int32(1)
	want := []*KubernetesRelease{
		{Namespace: "openedx", Image: "registry.example.edu/openedx:redwood.3", Replicas: &six,
			Args:      []string{"gunicorn", "lms.wsgi:application", "--bind", "0.0.0.0:8000"},
			Resources: KubernetesResources{Requests: map[string]string{"cpu": "500m", "memory": "1Gi"}, Limits: map[string]string{"memory": "2Gi"}},
			Ports:     []KubernetesPort{{Name: "http", Port: 8000}}, Env: map[string]string{"SERVICE_VARIANT": "lms"},
			ConfigPath: "/openedx/config", ProgressDeadline: Duration{10 * time.Minute}},
		{Namespace: "openedx", Image: "registry.example.edu/openedx:sumac.1", Replicas: &one,
			Ports:      []KubernetesPort{{Name: "http", Port: 8000}, {Name: "metrics", Port: 9100}},
			ConfigPath: "/etc/termshift", ProgressDeadline: Duration{5 * time.Minute}},
	}
	for i, r := range env.Releases {
		if diff := cmp.Diff(r.Kubernetes, want[i]); diff != "" {
			t.Errorf("release %s (-got +want):\n%s", r.Name, diff)
		}
	}
	wantRouter := &KubernetesRouter{Namespace: "openedx", Service: "lms", ServiceType: "ClusterIP", Port: 80, Previews: "ingress", IngressClass: "nginx", TLSSecret: "lms-previews-tls"}
	if diff := cmp.Diff(env.Router.Kubernetes, wantRouter); diff != "" {
		t.Errorf("router (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(env.Kubernetes, &KubernetesConfig{Kubeconfig: "~/.kube/config", Context: "prod-eks", Namespace: "openedx"}); diff != "" {
		t.Errorf("kubernetes (-got +want):\n%s", diff)
	}
}

// Every name that would label or name an object is refused before
// anything is applied, with its line.
func TestKubernetesEnvironmentProblems(t *testing.T) {
	_, err := LoadEnvironment("testdata/kubernetes-bad.yaml", noEnv)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("LoadEnvironment = %v, want a *ValidationError", err)
	}
	var got []string
	for _, p := range verr.Problems {
		got = append(got, p.String())
	}
	want := []string{
		`kubernetes-bad.yaml:1: name: environment name "prod-" is not a valid Kubernetes label value (the kubernetes runner labels every object with it): a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
		`kubernetes-bad.yaml:3: kubernetes.in_cluster: is true, but kubeconfig or context is set too: choose one`,
		`kubernetes-bad.yaml:7: releases.0.version: version "v1.0+build" is not a valid Kubernetes label value (the kubernetes runner labels every object with it): a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
		`kubernetes-bad.yaml:9: releases.0.kubernetes.image: is required: the container image the release runs`,
		`kubernetes-bad.yaml:10: releases.0.kubernetes.namespace: "Open_edX" is not a valid Kubernetes namespace: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		`kubernetes-bad.yaml:10: releases.0.kubernetes.namespace: is "Open_edX", but the router's public Service is in "openedx": a Service selects pods in its own namespace only`,
		`kubernetes-bad.yaml:11: releases.0.kubernetes.replicas: -1 is below 0`,
		`kubernetes-bad.yaml:12: releases.0.kubernetes.ports.0.port: 80000 is not a TCP port`,
		`kubernetes-bad.yaml:12: releases.0.kubernetes.ports: has no port named http: the Services route traffic to it`,
		`kubernetes-bad.yaml:14: releases.0.kubernetes.resources.requests.cpu: "lots" is not a quantity (e.g. 500m, 1Gi)`,
		`kubernetes-bad.yaml:15: releases.0.kubernetes.env.TERMSHIFT_PORT: TERMSHIFT_ variables are set by termshift`,
		`kubernetes-bad.yaml:15: releases.0.kubernetes.env.bad name: is not an environment variable name: a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')`,
		`kubernetes-bad.yaml:16: releases.0.kubernetes.config_path: "config" must be an absolute path in the container`,
		`kubernetes-bad.yaml:17: releases.0.kubernetes.progress_deadline: 10ms is below one second`,
		`kubernetes-bad.yaml:18: releases.1.kubernetes: is required for the kubernetes runner (image, namespace, replicas, ports, ...)`,
		`kubernetes-bad.yaml:25: router.kubernetes.service_type: must be ClusterIP, NodePort or LoadBalancer, not "External"`,
		`kubernetes-bad.yaml:26: router.kubernetes.previews: must be ingress, gateway or none, not "mesh"`,
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("problems (-got +want):\n%s", diff)
	}
}
