package rollout

import (
	"context"
	"fmt"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
	"github.com/termshift/termshift/follow"
	"github.com/termshift/termshift/restore"
	"github.com/termshift/termshift/restore/scrub"
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/runner"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/tenancy"
	"github.com/termshift/termshift/verify"
)

// The orchestrator's steps talk to servers, routers and runners only
// through these interfaces; package wiring builds the concrete ones from the
// environment file. A new backend is a new folder implementing one of them,
// never an edit of the steps.

// Carver creates, drops and inspects one service's namespaces on its
// server, with the administrator's credentials. Every namespace it carves
// carries an owner marker on the server; Carve and Drop refuse (changing
// nothing) a namespace whose marker names another owner or none.
type Carver interface {
	Server() string
	Carve(ctx context.Context, ns termshift.Namespace, password termshift.Secret, owner termshift.Owner) (tenancy.Result, error)
	Drop(ctx context.Context, ns termshift.Namespace, owner termshift.Owner) (tenancy.Result, error)
	// Owner reads the marker: the zero Owner with exists true is a
	// namespace without one.
	Owner(ctx context.Context, ns termshift.Namespace) (owner termshift.Owner, exists bool, err error)
	Exists(ctx context.Context, ns termshift.Namespace) (bool, error)
	List(ctx context.Context) ([]string, error)
	Close() error
}

// PoolCarver is a carver whose namespaces are assigned from a fixed pool
// (memcached clusters) rather than named by the pattern.
type PoolCarver interface {
	Carver
	// Holder returns the owner a pool member is carved for.
	Holder(ctx context.Context, member string) (owner termshift.Owner, held bool, err error)
}

// Loader restores one service's backup into a namespace, with proof.
type Loader interface {
	Load(ctx context.Context, src restore.Source, path string, req restore.Request) (*restore.Report, error)
}

// Snapshotter opens a read-only snapshot of some of one service's
// namespaces (req.Names: name on the server -> name in the snapshot),
// served in the layout restore reads: the backup and sync steps' source.
type Snapshotter func(ctx context.Context, req backup.Request) (backup.Snapshot, error)

// contentHasher is a snapshot that can prove a copy of one of its
// namespaces row for row (MySQL): the hash of every table inside the
// snapshot, and of the copy in target.
type contentHasher interface {
	Hashes(ctx context.Context, name string) (map[string]backup.TableHash, error)
	HashCopy(ctx context.Context, name, target string) (map[string]backup.TableHash, error)
}

// cacheFlusher is a carver that can empty a namespace it carved (a
// memcached cluster) and keep it marked as its owner's: a sync's cold
// cache.
type cacheFlusher interface {
	Flush(ctx context.Context, ns termshift.Namespace, owner termshift.Owner) error
}

// Follower follows a MySQL server's binary log into other schemas of the
// same or another server (`termshift follow`, the catch-up of a final
// sync). Its errors wrap follow.ErrPurged, follow.ErrNoRowBinlog and
// follow.ErrSchemaChanged.
type Follower interface {
	Server() string
	Check(ctx context.Context, from follow.Position) error
	CheckSchemas(ctx context.Context, names map[string]string) error
	Head(ctx context.Context) (follow.Position, error)
	Recorded(ctx context.Context, key string) (follow.Record, bool, error)
	Forget(ctx context.Context, key string) error
	Run(ctx context.Context, req follow.Request) (follow.Status, error)
	Changed(ctx context.Context, key string, names map[string]string) (*follow.Changes, error)
	Prove(ctx context.Context, names map[string]string, only *follow.Changes) ([]follow.TableProof, error)
}

// Scrubber runs scrub rules on one namespace.
type Scrubber interface {
	Scrub(ctx context.Context, ns termshift.Namespace, rules []scrub.Rule, salt termshift.Secret) (*scrub.Report, error)
}

// Counter counts what a service's namespaces hold, for the counts taken at
// a switch and the data a rollback would strand.
type Counter interface {
	Count(ctx context.Context, names []string) (tenancy.Counts, error)
}

// Runner makes one release run and says where and how ready it is.
type Runner interface {
	Deploy(ctx context.Context, d runner.Deployment) error
	Stop(ctx context.Context, release string) error
	Endpoint(release string) (runner.Endpoint, error)
	Status(ctx context.Context, release string) (runner.Status, error)
}

// healthWaiter is a runner that knows a release's health itself (a
// Kubernetes Deployment's ready pods) where this machine cannot reach its
// health URL.
type healthWaiter interface {
	WaitHealthy(ctx context.Context, release string) error
}

// waitHealthy waits for a release's health: through its runner when the
// runner knows it, else by polling its health URL.
func waitHealthy(ctx context.Context, r Runner, release string, ep runner.Endpoint, interval time.Duration) error {
	if hw, ok := r.(healthWaiter); ok {
		return hw.WaitHealthy(ctx, release)
	}
	return runner.WaitHealthy(ctx, ep.Health, interval)
}

// orphanLister is a runner whose platform keeps objects labelled with their
// release (Kubernetes Deployments, Services, Ingresses): gc and namespaces
// list those of releases state does not know, and gc removes them.
type orphanLister interface {
	Labelled(ctx context.Context) ([]runner.Object, error)
	RemoveRelease(ctx context.Context, release string) error
}

// previewer is a router that knows how this machine reaches a release for
// verify's HTTP checks; an error says why it cannot from here.
type previewer interface {
	Preview(ctx context.Context, release string) (string, error)
}

// Switcher applies a routing table to the environment's router.
type Switcher interface {
	Switch(ctx context.Context, t router.Table) error
}

// readyChecker is a switcher that can tell, before anything changes,
// whether a switch can happen now (the built-in router needs serve).
type readyChecker interface {
	Ready(ctx context.Context) error
}

// routerReady checks the router before a switch is recorded in state.
func (o *Orchestrator) routerReady(ctx context.Context) error {
	if o.P.Router == nil {
		return fmt.Errorf("no router is configured: %w", termshift.ErrInvalid)
	}
	if rc, ok := o.P.Router.(readyChecker); ok {
		return rc.Ready(ctx)
	}
	return nil
}

// Providers are the concrete backends of one environment.
type Providers struct {
	State store.Backend
	// Carver opens a service's carver; the caller closes it.
	Carver  func(ctx context.Context, svc termshift.Service) (Carver, error)
	Loaders map[termshift.Service]Loader
	// Snapshotters open snapshots of a release's namespaces (backup,
	// sync, the final sync of a cutover).
	Snapshotters map[termshift.Service]Snapshotter
	Scrubbers    map[termshift.Service]Scrubber
	Counters     map[termshift.Service]Counter
	// Probers tell whether a credential gets into a namespace (verify's
	// connectivity and isolation checks).
	Probers map[termshift.Service]verify.Prober
	// Runners by release name.
	Runners map[string]Runner
	Router  Switcher
	// Follower follows the MySQL server's binary log; nil when there is
	// no MySQL server.
	Follower Follower
	// Pool lists the memcached clusters releases are assigned from; empty
	// when a provider creates one per release.
	Pool []string
}
