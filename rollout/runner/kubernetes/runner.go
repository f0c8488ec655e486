// Package kubernetes is the runner for releases on a Kubernetes cluster:
// Deploy applies, by server-side apply with the field manager termshift, a
// Deployment per release, a Secret holding its rendered configuration files
// (mounted into its pods) and a Service for previews, then waits for the
// rollout the way `kubectl rollout status` does and, past the progress
// deadline, fails with the pods' own reasons. Every object carries the
// labels termshift.io/environment, termshift.io/release and
// termshift.io/version, by which Stop and gc find them.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/kube"
	"github.com/termshift/termshift/rollout/runner"
)

// Defaults of a release's Spec.
const (
	DefaultConfigPath       = "/etc/termshift"
	DefaultProgressDeadline = 10 * time.Minute
	// HTTPPort names the container port both Services route to.
	HTTPPort = "http"
)

// Port is a container port.
type Port struct {
	Name string
	Port int32
}

// Spec is how one release runs on the cluster.
type Spec struct {
	Namespace string
	Image     string
	Replicas  int32
	// Command and Args replace the image's entrypoint and arguments when
	// set.
	Command, Args []string
	// Requests and Limits are resource quantities by resource name (cpu:
	// 500m, memory: 1Gi).
	Requests, Limits map[string]string
	// Ports are the container's ports; the one named http gets traffic.
	Ports []Port
	// Env is added to the container's environment.
	Env map[string]string
	// ConfigPath is where the configuration files are mounted.
	ConfigPath string
	// ProgressDeadline is the Deployment's progressDeadlineSeconds: a
	// rollout that makes no progress for this long fails.
	ProgressDeadline time.Duration
}

// Runner runs one release of an environment as a Deployment.
type Runner struct {
	Client      *kube.Client
	Environment string
	Release     string
	Spec        Spec
	// HealthPath is the release's health URL path: its pods' readiness
	// probe.
	HealthPath string
	// Poll is how often a rollout is looked at; default 1s.
	Poll time.Duration
}

var errNoHTTPPort = errors.New("no container port is named " + HTTPPort)

// httpPort is the port Services route to.
func (r *Runner) httpPort() (int32, error) {
	for _, p := range r.Spec.Ports {
		if p.Name == HTTPPort {
			return p.Port, nil
		}
	}
	return 0, fmt.Errorf("release %s: %w (Services route to it): %w", termshift.Quote(r.Release), errNoHTTPPort, termshift.ErrInvalid)
}

func (r *Runner) configPath() string {
	if r.Spec.ConfigPath == "" {
		return DefaultConfigPath
	}
	return r.Spec.ConfigPath
}

func (r *Runner) progressDeadline() time.Duration {
	if r.Spec.ProgressDeadline <= 0 {
		return DefaultProgressDeadline
	}
	return r.Spec.ProgressDeadline
}

func (r *Runner) poll() time.Duration {
	if r.Poll <= 0 {
		return time.Second
	}
	return r.Poll
}

// check refuses what cannot be applied, before anything is: names that
// are no label values, a release this runner is not for, no image.
func (r *Runner) check(release, version string) error {
	if release != r.Release {
		return fmt.Errorf("the kubernetes runner of %s was asked for %s: %w", termshift.Quote(r.Release), termshift.Quote(release), termshift.ErrInvalid)
	}
	if err := kube.CheckRelease(r.Environment, release, version); err != nil {
		return err
	}
	if err := kube.CheckNamespace(r.Spec.Namespace); err != nil {
		return err
	}
	if r.Spec.Image == "" {
		return fmt.Errorf("release %s has no image: %w", termshift.Quote(release), termshift.ErrInvalid)
	}
	if r.Spec.Replicas < 0 {
		return fmt.Errorf("release %s: %d replicas: %w", termshift.Quote(release), r.Spec.Replicas, termshift.ErrInvalid)
	}
	_, err := r.httpPort()
	return err
}

// Deploy applies the release's Secret, Deployment and preview Service and
// waits for the rollout. It is idempotent: applying the same deployment
// again changes nothing and returns when the rollout is complete. Names,
// labels and the credentials' permissions are checked before anything is
// applied; an apply that fails after another succeeded is a
// *termshift.PartialError naming both.
func (r *Runner) Deploy(ctx context.Context, d runner.Deployment) error {
	if err := r.check(d.Release, d.Version); err != nil {
		return err
	}
	objs, err := r.objects(d)
	if err != nil {
		return err
	}
	if err := r.Client.CheckAccess(ctx, r.Spec.Namespace, Permissions); err != nil {
		return err
	}
	progress := d.Progress
	if progress == nil {
		progress = io.Discard
	}
	c, ns := r.Client, r.Spec.Namespace
	apply := metav1.ApplyOptions{FieldManager: kube.FieldManager, Force: true}
	var done []string
	step := func(what string, fn func() error) error {
		if err := fn(); err != nil {
			if len(done) == 0 {
				return err
			}
			return &termshift.PartialError{Op: "deploy " + d.Release, Done: done, Failed: []string{what}, Err: err}
		}
		done = append(done, what)
		return nil
	}
	name := kube.ReleaseName(r.Environment, d.Release)
	if err := step("Secret "+ns+"/"+kube.SecretName(r.Environment, d.Release), func() error {
		_, err := c.CoreV1().Secrets(ns).Apply(ctx, objs.secret, apply)
		return c.Err(err, "patch", "secrets", ns, kube.SecretName(r.Environment, d.Release))
	}); err != nil {
		return err
	}
	if err := step("Deployment "+ns+"/"+name, func() error {
		_, err := c.AppsV1().Deployments(ns).Apply(ctx, objs.deployment, apply)
		return c.Err(err, "patch", "deployments", ns, name)
	}); err != nil {
		return err
	}
	if err := step("Service "+ns+"/"+name, func() error {
		_, err := c.CoreV1().Services(ns).Apply(ctx, objs.service, apply)
		return c.Err(err, "patch", "services", ns, name)
	}); err != nil {
		return err
	}
	fmt.Fprintf(progress, "applied Secret, Deployment and Service %s/%s (%d replicas of %s)\n", ns, name, r.Spec.Replicas, r.Spec.Image)
	return r.waitRollout(ctx, d.Release, progress)
}

// Stop deletes every object termshift made for the release in its
// namespace: preview Ingress, preview Service, Deployment (its pods go
// with it) and configuration Secret. Objects already gone are fine.
func (r *Runner) Stop(ctx context.Context, release string) error {
	if err := kube.CheckLabelValue("release", release); err != nil {
		return err
	}
	return removeRelease(ctx, r.Client, r.Environment, r.Spec.Namespace, release)
}

// Endpoint is the release's preview Service inside the cluster; from
// outside it is reached through the router's previews.
func (r *Runner) Endpoint(release string) (runner.Endpoint, error) {
	port, err := r.httpPort()
	if err != nil {
		return runner.Endpoint{}, err
	}
	host := kube.ReleaseName(r.Environment, release) + "." + r.Spec.Namespace + ".svc.cluster.local:" + strconv.Itoa(int(port))
	u := &url.URL{Scheme: "http", Host: host}
	return runner.Endpoint{URL: u, Health: u.String() + r.HealthPath}, nil
}

// Status is the Deployment's ready and desired pods.
func (r *Runner) Status(ctx context.Context, release string) (runner.Status, error) {
	name := kube.ReleaseName(r.Environment, release)
	dep, err := r.Client.AppsV1().Deployments(r.Spec.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return runner.Status{Detail: "no Deployment " + r.Spec.Namespace + "/" + name}, nil
	}
	if err != nil {
		return runner.Status{}, r.Client.Err(err, "get", "deployments", r.Spec.Namespace, name)
	}
	return deploymentStatus(dep), nil
}

func deploymentStatus(dep *appsv1.Deployment) runner.Status {
	desired := int32(1)
	if dep.Spec.Replicas != nil {
		desired = *dep.Spec.Replicas
	}
	st := runner.Status{Ready: int(dep.Status.ReadyReplicas), Desired: int(desired)}
	st.Detail = fmt.Sprintf("%d of %d pods ready, %d updated (Deployment %s/%s, version %s)", st.Ready, st.Desired,
		dep.Status.UpdatedReplicas, dep.Namespace, dep.Name, dep.Labels[kube.LabelVersion])
	return st
}

// WaitHealthy waits until the release's Deployment has rolled out and
// every desired pod is ready, or ctx is done; the error then says the
// pods' own reasons.
func (r *Runner) WaitHealthy(ctx context.Context, release string) error {
	name := kube.ReleaseName(r.Environment, release)
	for {
		dep, err := r.Client.AppsV1().Deployments(r.Spec.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("release %s: %w", termshift.Quote(release), ctx.Err())
			}
			return r.Client.Err(err, "get", "deployments", r.Spec.Namespace, name)
		}
		msg, done, _ := rolloutStatus(dep)
		if done && dep.Status.ReadyReplicas >= deref(dep.Spec.Replicas) {
			return nil
		}
		t := time.NewTimer(r.poll())
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("release %s is not ready: %s; %s: %w", termshift.Quote(release), msg, r.reasons(context.WithoutCancel(ctx), release), ctx.Err())
		case <-t.C:
		}
	}
}

func deref(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}
