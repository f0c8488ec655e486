// Package envfile reads an environment's termshift.yaml: its types, ${VAR}
// expansion from the process environment, defaults, and validation that
// reports every problem at once as FILE:LINE: field: problem. It knows the
// file's words (servers, databases, releases, router, state) but does no
// I/O beyond reading the file and checking that templates exist.
package envfile

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/termshift/termshift"
)

// Environment is one deployment (qa, production) as described by its
// termshift.yaml: shared servers, backup source, logical databases, naming
// pattern, releases and router. Secrets arrive through ${VAR} expansion.
type Environment struct {
	// Path is the file the environment was loaded from; Dir its directory,
	// against which relative paths in the file resolve.
	Path string `yaml:"-"`
	Dir  string `yaml:"-"`

	Name string `yaml:"name"`
	// StateDir is this machine's directory for the environment: the state
	// itself when state.backend is local, and always the working files
	// (rendered configuration, logs, serve's control socket).
	StateDir  string        `yaml:"state_dir"`
	State     StateConfig   `yaml:"state"`
	Naming    string        `yaml:"naming"`
	Servers   Servers       `yaml:"servers"`
	Databases Databases     `yaml:"databases"`
	Backup    Backup        `yaml:"backup"`
	Scrub     ScrubConfig   `yaml:"scrub"`
	Releases  []ReleaseSpec `yaml:"releases"`
	Templates []Template    `yaml:"templates"`
	Router    RouterConfig  `yaml:"router"`
	Verify    VerifyConfig  `yaml:"verify"`
	// Progressive holds the defaults of a progressive cutover (progressive.go).
	Progressive Progressive `yaml:"progressive"`
	// Kubernetes says how to reach the cluster of releases with runner
	// kubernetes and of router kubernetes.
	Kubernetes *KubernetesConfig `yaml:"kubernetes"`
}

// KubernetesConfig is how termshift reaches a Kubernetes cluster: a
// kubeconfig file and context, or the service account of the pod it runs
// in.
type KubernetesConfig struct {
	Kubeconfig string `yaml:"kubeconfig"` // default $KUBECONFIG or ~/.kube/config
	Context    string `yaml:"context"`    // default the kubeconfig's current context
	InCluster  bool   `yaml:"in_cluster"`
	// Namespace is the default namespace of releases and of the router.
	Namespace string `yaml:"namespace"`
}

// KubernetesRelease is how a release with runner kubernetes runs: a
// Deployment of Image, its configuration files in a Secret mounted at
// ConfigPath, a preview Service to the port named http.
type KubernetesRelease struct {
	Namespace        string              `yaml:"namespace"` // default kubernetes.namespace
	Image            string              `yaml:"image"`
	Replicas         *int32              `yaml:"replicas"` // default 1
	Command          []string            `yaml:"command"`
	Args             []string            `yaml:"args"`
	Resources        KubernetesResources `yaml:"resources"`
	Ports            []KubernetesPort    `yaml:"ports"` // default [{name: http, port: 8000}]
	Env              map[string]string   `yaml:"env"`
	ConfigPath       string              `yaml:"config_path"`       // default /etc/termshift
	ProgressDeadline Duration            `yaml:"progress_deadline"` // default 10m
}

// KubernetesResources are a container's resource requests and limits
// (cpu: 500m, memory: 1Gi).
type KubernetesResources struct {
	Requests map[string]string `yaml:"requests"`
	Limits   map[string]string `yaml:"limits"`
}

// KubernetesPort is a container port; the one named http gets traffic.
type KubernetesPort struct {
	Name string `yaml:"name"`
	Port int32  `yaml:"port"`
}

// KubernetesRouter configures the kubernetes router provider.
type KubernetesRouter struct {
	Namespace   string `yaml:"namespace"`    // default kubernetes.namespace
	Service     string `yaml:"service"`      // the public Service, default the environment's name
	ServiceType string `yaml:"service_type"` // ClusterIP (default), NodePort, LoadBalancer
	Port        int32  `yaml:"port"`         // the public Service's port, default 80
	// Previews is ingress (default: an Ingress per release on
	// RELEASE.HOST), gateway (HTTPRoutes matching X-Termshift-Release on
	// Gateway) or none.
	Previews           string            `yaml:"previews"`
	IngressClass       string            `yaml:"ingress_class"`
	IngressAnnotations map[string]string `yaml:"ingress_annotations"`
	TLSSecret          string            `yaml:"tls_secret"`
	Gateway            *GatewayRef       `yaml:"gateway"`
}

// GatewayRef names a Gateway API gateway.
type GatewayRef struct {
	Name        string `yaml:"name"`
	Namespace   string `yaml:"namespace"`
	SectionName string `yaml:"section_name"`
}

// Servers holds the shared servers and their admin credentials.
type Servers struct {
	MySQL     *MySQLServer     `yaml:"mysql"`
	Mongo     *MongoServer     `yaml:"mongo"`
	RabbitMQ  *RabbitMQServer  `yaml:"rabbitmq"`
	Memcached *MemcachedServer `yaml:"memcached"`
}

// MySQLServer is a MySQL or MariaDB server.
type MySQLServer struct {
	DSN      string `yaml:"dsn"`       // admin DSN, go-sql-driver format
	UserHost string `yaml:"user_host"` // host part of created users, default "%"
}

// MongoServer is a MongoDB (or wire-compatible) server.
type MongoServer struct {
	URI string `yaml:"uri"` // admin URI
}

// RabbitMQServer is a RabbitMQ broker with its management API.
type RabbitMQServer struct {
	URL                string `yaml:"url"` // AMQP URL with admin credentials
	ManagementURL      string `yaml:"management_url"`
	ManagementUser     string `yaml:"management_user"`
	ManagementPassword string `yaml:"management_password"`
}

// MemcachedServer describes where release clusters come from.
type MemcachedServer struct {
	Provider    string              `yaml:"provider"` // pool (default) or elasticache
	Clusters    map[string][]string `yaml:"clusters"`
	ElastiCache *ElastiCacheConfig  `yaml:"elasticache"`
}

// ElastiCacheConfig configures the elasticache memcached provider.
type ElastiCacheConfig struct {
	Region      string `yaml:"region"`
	NodeType    string `yaml:"node_type"`
	NumNodes    int32  `yaml:"num_nodes"`
	SubnetGroup string `yaml:"subnet_group"`
}

// Databases lists the logical databases per service.
type Databases struct {
	MySQL     []LogicalDB `yaml:"mysql"`
	Mongo     []LogicalDB `yaml:"mongo"`
	RabbitMQ  []LogicalDB `yaml:"rabbitmq"`
	Memcached []LogicalDB `yaml:"memcached"`
}

// LogicalDB is one logical database and the name it has in the backup.
type LogicalDB struct {
	Name   string `yaml:"name"`
	Backup string `yaml:"backup"` // schema, database or vhost name in the backup snapshot
}

// Backup is where the nightly snapshots are.
type Backup struct {
	Source string   `yaml:"source"` // a directory (relative to the file) or s3://bucket/prefix
	S3     S3Config `yaml:"s3"`
}

// S3Config configures S3 access; empty fields use the standard AWS chain.
type S3Config struct {
	Endpoint  string `yaml:"endpoint"`
	Region    string `yaml:"region"`
	PathStyle bool   `yaml:"path_style"`
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
}

// ScrubConfig names the scrub rules that run after restore.
type ScrubConfig struct {
	Preset string      `yaml:"preset"` // "openedx" or ""
	Salt   string      `yaml:"salt"`
	Rules  []ScrubRule `yaml:"rules"`
}

// ScrubRule is one rule: a MySQL column or MongoDB field and what to put
// there (the root package's vocabulary, shared with restore/scrub and
// verify).
type ScrubRule = termshift.ScrubRule

// ReleaseSpec is a release slot and how to run it.
type ReleaseSpec struct {
	Name       string              `yaml:"name"`
	Version    string              `yaml:"version"`
	Runner     string              `yaml:"runner"` // local (default), external or kubernetes
	Port       int                 `yaml:"port"`
	Commands   map[string][]string `yaml:"commands"`
	PreCutover [][]string          `yaml:"pre_cutover"`
	HealthURL  string              `yaml:"health_url"`
	Kubernetes *KubernetesRelease  `yaml:"kubernetes"`
	// Data says where the release's data lives: absent, in namespaces of
	// its own (carved, restored, scrubbed); with shared_with, in another
	// release's namespaces.
	Data *DataSpec `yaml:"data"`
}

// Template is a configuration template rendered per release.
type Template struct {
	Source string `yaml:"source"` // Go text/template file, relative to the environment file
	Target string `yaml:"target"` // file name in the release's config directory
}

// RouterConfig configures how traffic reaches releases.
type RouterConfig struct {
	Provider   string            `yaml:"provider"` // local (default), nginx, elbv2, kubernetes
	Listen     string            `yaml:"listen"`
	Host       string            `yaml:"host"`
	Retention  Duration          `yaml:"retention"`
	Nginx      *NginxConfig      `yaml:"nginx"`
	ELBv2      *ELBv2Config      `yaml:"elbv2"`
	Kubernetes *KubernetesRouter `yaml:"kubernetes"`
	Maintain   MaintainConfig    `yaml:"maintenance"`
	// AdminListen is the internal address of the dashboard, status and
	// metrics of `termshift serve`; "" means DefaultAdminListen.
	AdminListen string        `yaml:"admin_listen"`
	AdminAuth   *AdminAuth    `yaml:"admin_auth"`
	Preview     PreviewConfig `yaml:"preview"`
}

// MaintainConfig is the maintenance window during cutover.
type MaintainConfig struct {
	RetryAfter Duration `yaml:"retry_after"`
	Message    string   `yaml:"message"`
}

// NginxConfig configures the nginx router provider.
type NginxConfig struct {
	IncludeFile string   `yaml:"include_file"`
	Reload      []string `yaml:"reload"`
	Test        []string `yaml:"test"`
}

// ELBv2Config configures the elbv2 router provider.
type ELBv2Config struct {
	Region       string            `yaml:"region"`
	ListenerARN  string            `yaml:"listener_arn"`
	TargetGroups map[string]string `yaml:"target_groups"`
	// Stickiness is how long a browser stays on its side of a weighted
	// split (target group stickiness); default 1h, at most 168h.
	Stickiness Duration `yaml:"stickiness"`
}

// VerifyConfig configures `termshift verify`.
type VerifyConfig struct {
	HealthPath string       `yaml:"health_path"`
	Timeout    Duration     `yaml:"timeout"`
	Smoke      []SmokeCheck `yaml:"smoke"`
}

// SmokeCheck is an HTTP check sent through the preview route.
type SmokeCheck struct {
	Name     string `yaml:"name"`
	Method   string `yaml:"method"`
	Path     string `yaml:"path"`
	Status   int    `yaml:"status"`
	Contains string `yaml:"contains"`
}

// Duration is a time.Duration written as "72h" or "30s".
type Duration struct{ time.Duration }

// UnmarshalYAML parses a Go duration. A bad value is a *yaml.TypeError, so
// the decoder goes on and every problem of the file is reported at once.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot use %q here: want a duration such as 30s or 72h", n.Line, n.Value)}}
	}
	d.Duration = v
	return nil
}

// MarshalText writes a Go duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Release returns the release spec named name.
func (e *Environment) Release(name string) (ReleaseSpec, bool) {
	for _, r := range e.Releases {
		if r.Name == name {
			return r, true
		}
	}
	return ReleaseSpec{}, false
}

// LogicalDBs lists the environment's logical databases of a service.
func (e *Environment) LogicalDBs(svc termshift.Service) []LogicalDB {
	d := e.Databases
	switch svc {
	case termshift.MySQL:
		return d.MySQL
	case termshift.MongoDB:
		return d.Mongo
	case termshift.RabbitMQ:
		return d.RabbitMQ
	case termshift.Memcached:
		return d.Memcached
	}
	return nil
}

// NamespaceCount is how many namespaces each release gets.
func (e *Environment) NamespaceCount() int {
	d := e.Databases
	return len(d.MySQL) + len(d.Mongo) + len(d.RabbitMQ) + len(d.Memcached)
}
