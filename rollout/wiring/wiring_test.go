package wiring

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/envfile"
	kuberouter "github.com/termshift/termshift/rollout/router/kubernetes"
	kuberunner "github.com/termshift/termshift/rollout/runner/kubernetes"
)

func kubeEnv(t *testing.T, kubeconfig string) *envfile.Environment {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "termshift.yaml")
	data := `name: qa
kubernetes: {kubeconfig: "` + kubeconfig + `", namespace: openedx}
releases:
  - {name: next, version: sumac.1, runner: kubernetes, kubernetes: {image: "registry.example/openedx:sumac.1", replicas: 3}}
router: {provider: kubernetes, host: lms.example.test, kubernetes: {service: lms}}
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := envfile.LoadEnvironment(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestProvidersKubernetes(t *testing.T) {
	kubeconfig := termshift.RequireLocalSetting(t, "TERMSHIFT_KUBECONFIG")
	p, err := Providers(t.Context(), kubeEnv(t, kubeconfig), nil)
	if err != nil {
		t.Fatalf("providers: %v", err)
	}
	r, ok := p.Runners["next"].(*kuberunner.Runner)
	if !ok || r.Spec.Namespace != "openedx" || r.Spec.Replicas != 3 || r.Environment != "qa" || r.Spec.Ports[0].Name != "http" {
		t.Errorf("runner = %#v", p.Runners["next"])
	}
	rt, ok := p.Router.(*kuberouter.Router)
	if !ok || rt.Namespace != "openedx" || rt.Service != "lms" || rt.Previews != kuberouter.PreviewIngress || rt.Host != "lms.example.test" {
		t.Errorf("router = %#v", p.Router)
	}
	if rt.Client != r.Client || r.Client.Server == "" {
		t.Errorf("runner and router do not share one client of the cluster")
	}
}

func TestProvidersKubernetesMissingKubeconfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope", "kubeconfig")
	_, err := Providers(t.Context(), kubeEnv(t, missing), nil)
	if !errors.Is(err, termshift.ErrNotFound) || !strings.Contains(err.Error(), missing) {
		t.Errorf("providers with a missing kubeconfig = %v, want not found naming %s", err, missing)
	}
}
