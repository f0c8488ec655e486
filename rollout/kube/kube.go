// Package kube is what the Kubernetes runner and router share: a client
// built from a kubeconfig file and context or from the in-cluster service
// account, errors that name the API server, the verb, the resource and the
// namespace, the labels and object names termshift gives a release's
// objects, and a check of the credentials' permissions before anything is
// applied.
package kube

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/termshift/termshift"
)

// FieldManager is the field manager of every server-side apply termshift
// sends: `kubectl get -o yaml --show-managed-fields` shows what it owns.
const FieldManager = "termshift"

// RequestTimeout bounds one request to the API server.
const RequestTimeout = 30 * time.Second

// Config says how to reach a cluster: a kubeconfig file and context, or the
// service account of the pod termshift runs in.
type Config struct {
	// Kubeconfig is a kubeconfig file; "" uses $KUBECONFIG or ~/.kube/config.
	Kubeconfig string
	// Context is the kubeconfig context; "" uses its current context.
	Context string
	// InCluster uses the pod's service account instead of a kubeconfig.
	InCluster bool
}

// Client talks to one API server.
type Client struct {
	kubernetes.Interface
	Dynamic dynamic.Interface
	// Server is the API server's URL, named in every error.
	Server string
	// InCluster is true when termshift runs inside the cluster: cluster
	// Services are reachable from here.
	InCluster bool
	// REST is the configuration the client was built from.
	REST *rest.Config
}

// New builds a client from cfg. It does not contact the server.
func New(cfg Config) (*Client, error) {
	if cfg.InCluster {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes in-cluster config: %w", err)
		}
		return NewForConfig(rc, true)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if cfg.Kubeconfig != "" {
		path := cfg.Kubeconfig
		if home, err := os.UserHomeDir(); err == nil && len(path) > 1 && path[:2] == "~/" {
			path = filepath.Join(home, path[2:])
		}
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", path, termshift.ErrNotFound)
		}
		rules.ExplicitPath = path
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: cfg.Context}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		where := "kubeconfig"
		if cfg.Context != "" {
			where += " context " + termshift.Quote(cfg.Context)
		}
		return nil, fmt.Errorf("%s: %w: %w", where, err, termshift.ErrInvalid)
	}
	return NewForConfig(rc, false)
}

// NewForConfig builds a client from a REST config (tests build one with a
// service account's token).
func NewForConfig(rc *rest.Config, inCluster bool) (*Client, error) {
	rc = rest.CopyConfig(rc)
	if rc.Timeout == 0 {
		rc.Timeout = RequestTimeout
	}
	if rc.QPS == 0 {
		// client-go's default (5 per second) would make the permission
		// check before a switch, a dozen small requests, take seconds.
		rc.QPS, rc.Burst = 50, 100
	}
	if rc.UserAgent == "" {
		rc.UserAgent = "termshift"
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", rc.Host, err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client for %s: %w", rc.Host, err)
	}
	server := rc.Host
	if u, err := url.Parse(rc.Host); err == nil && u.Host != "" {
		server = u.Redacted()
	}
	return &Client{Interface: cs, Dynamic: dyn, Server: server, InCluster: inCluster, REST: rc}, nil
}

// Error is a request the API server refused, or a server that did not
// answer: it names the server, the verb, the resource, the namespace and
// the object.
type Error struct {
	Server    string
	Verb      string // get, list, patch (server-side apply), create, update, delete
	Resource  string // deployments, services, ...
	Namespace string
	Name      string
	Err       error
}

// Err wraps an error of one request to the server; nil stays nil.
func (c *Client) Err(err error, verb, resource, namespace, name string) error {
	if err == nil {
		return nil
	}
	return &Error{Server: c.Server, Verb: verb, Resource: resource, Namespace: namespace, Name: name, Err: err}
}

func (e *Error) Error() string {
	what := e.Resource
	if e.Name != "" {
		what += " " + termshift.Quote(e.Name)
	}
	where := ""
	if e.Namespace != "" {
		where = " in namespace " + termshift.Quote(e.Namespace)
	}
	switch {
	case apierrors.IsForbidden(e.Err):
		return fmt.Sprintf("kubernetes %s: the credentials may not %s %s%s: %v", e.Server, e.Verb, e.Resource, where, e.Err)
	case apierrors.IsUnauthorized(e.Err):
		return fmt.Sprintf("kubernetes %s: the credentials were not accepted (%s %s%s): %v", e.Server, e.Verb, what, where, e.Err)
	case isUnreachable(e.Err):
		return fmt.Sprintf("kubernetes API server %s is not reachable (%s %s%s): %v", e.Server, e.Verb, what, where, e.Err)
	}
	return fmt.Sprintf("kubernetes %s: %s %s%s: %v", e.Server, e.Verb, what, where, e.Err)
}

// Unwrap lets errors.Is match the API error and termshift's sentinel:
// forbidden and conflicting requests are refused, missing objects not
// found, rejected objects invalid.
func (e *Error) Unwrap() []error {
	out := []error{e.Err}
	switch {
	case apierrors.IsForbidden(e.Err), apierrors.IsUnauthorized(e.Err), apierrors.IsConflict(e.Err), apierrors.IsAlreadyExists(e.Err):
		out = append(out, termshift.ErrRefused)
	case apierrors.IsNotFound(e.Err):
		out = append(out, termshift.ErrNotFound)
	case apierrors.IsInvalid(e.Err), apierrors.IsBadRequest(e.Err):
		out = append(out, termshift.ErrInvalid)
	}
	return out
}

// isUnreachable is an error that got no answer from the server.
func isUnreachable(err error) bool {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return false
	}
	var ue *url.Error
	return errors.As(err, &ue)
}
