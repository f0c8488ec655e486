// Package runner is the contract between the orchestrator and the runners
// that make a release run: what a deployment is (version, rendered
// configuration, commands), where a release is reached (Endpoint), and how
// ready it is (Status). Each runner is a folder beside this one: local
// (processes supervised by `termshift serve`), external (deployed by other
// tools; termshift only waits for health). WaitHealthy polls a health URL.
package runner

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"

	"github.com/termshift/termshift"
)

// Deployment is what a runner needs to make a release run.
type Deployment struct {
	Release, Version string
	// ConfigDir holds the rendered configuration files, mode 0600.
	ConfigDir string
	// Files are the same files by target name, for runners that ship them
	// elsewhere.
	Files map[string][]byte
	// Commands are the release's processes, arguments rendered.
	Commands map[string][]string
	// Env is added to each process's environment.
	Env []string
	// WorkDir is where commands run (the environment file's directory).
	WorkDir string
	// LogDir receives the processes' logs, for runners that keep them here.
	LogDir string
	// Progress receives human progress lines while a runner waits (a
	// rollout's replicas); nil discards them.
	Progress io.Writer
}

// Endpoint is where a release is reached.
type Endpoint struct {
	// URL is the router's backend for the release.
	URL *url.URL
	// Health answers 200 when the release is healthy.
	Health string
}

// Status says how ready a release is.
type Status struct {
	Ready, Desired int
	Detail         string
}

// PortEndpoint is the endpoint of a release listening on a local port.
func PortEndpoint(port int, healthPath string) Endpoint {
	host := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return Endpoint{URL: &url.URL{Scheme: "http", Host: host}, Health: "http://" + host + healthPath}
}

// URLEndpoint is the endpoint of a release known by its health URL: the
// router reaches the URL's scheme and host.
func URLEndpoint(release, healthURL string) (Endpoint, error) {
	u, err := url.Parse(healthURL)
	if err != nil || u.Host == "" {
		return Endpoint{}, fmt.Errorf("release %s: health_url %q is not an absolute URL: %w", termshift.Quote(release), healthURL, termshift.ErrInvalid)
	}
	return Endpoint{URL: &url.URL{Scheme: u.Scheme, Host: u.Host}, Health: healthURL}, nil
}

// Object is something a runner made on its platform for a release, found
// by the labels it carries (a Kubernetes Deployment, Service, Ingress).
type Object struct {
	Release   string `json:"release"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (o Object) String() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}
