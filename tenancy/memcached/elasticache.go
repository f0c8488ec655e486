package memcached

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
)

// elastiCache creates one memcached cluster per release. It cannot run
// here: its requests are tested through the SDK's middleware stack, never
// against AWS.
type elastiCache struct {
	client *elasticache.Client
	cfg    ElastiCacheConfig
}

func newElastiCache(ctx context.Context, cfg ElastiCacheConfig) (*elastiCache, error) {
	if cfg.NodeType == "" {
		cfg.NodeType = DefaultNodeType
	}
	if cfg.NumNodes == 0 {
		cfg.NumNodes = DefaultNumNodes
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = DefaultWaitTimeout
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(cfg.Region))
	if err != nil {
		return nil, fmt.Errorf("elasticache %s: load AWS configuration: %w", cfg.Region, err)
	}
	return &elastiCache{client: elasticache.NewFromConfig(awsCfg, cfg.ClientOptions...), cfg: cfg}, nil
}

func (e *elastiCache) where(id string) string {
	return fmt.Sprintf("elasticache cluster %s in %s", termshift.Quote(id), e.cfg.Region)
}

// Tags that record a cluster's owner; "managed-by" = "termshift" says the
// others were written by termshift.
const (
	tagEnvironment = "environment"
	tagRelease     = "release"
	tagManagedBy   = "managed-by"
	managedBy      = "termshift"
)

// carve creates the cluster, tagged with owner. CreateCacheCluster is the
// claim: when the cluster exists already, nothing is changed unless its tags
// name owner.
func (e *elastiCache) carve(ctx context.Context, ns termshift.Namespace, owner termshift.Owner, server string) (tenancy.Result, error) {
	res := tenancy.Result{Namespace: ns, Isolation: tenancy.SeparateCluster, Outcome: tenancy.Created}
	id, err := termshift.ElastiCacheID(ns.Name)
	if err != nil {
		return res, fmt.Errorf("carve: %w", err)
	}
	in := &elasticache.CreateCacheClusterInput{
		CacheClusterId:   aws.String(id),
		Engine:           aws.String("memcached"),
		CacheNodeType:    aws.String(e.cfg.NodeType),
		NumCacheNodes:    aws.Int32(e.cfg.NumNodes),
		SecurityGroupIds: e.cfg.SecurityGroupIDs,
		Tags: []types.Tag{
			{Key: aws.String(tagRelease), Value: aws.String(owner.Release)},
			{Key: aws.String("logical"), Value: aws.String(ns.Logical)},
			{Key: aws.String("namespace"), Value: aws.String(ns.Name)},
			{Key: aws.String(tagManagedBy), Value: aws.String(managedBy)},
			{Key: aws.String(tagEnvironment), Value: aws.String(owner.Environment)},
		},
	}
	if e.cfg.SubnetGroup != "" {
		in.CacheSubnetGroupName = aws.String(e.cfg.SubnetGroup)
	}
	if e.cfg.EngineVersion != "" {
		in.EngineVersion = aws.String(e.cfg.EngineVersion)
	}
	if _, err := e.client.CreateCacheCluster(ctx, in); err != nil {
		var exists *types.CacheClusterAlreadyExistsFault
		if !errors.As(err, &exists) {
			return res, fmt.Errorf("create %s: %w", e.where(id), err)
		}
		found, _, err := e.owner(ctx, ns)
		if err != nil {
			return res, err
		}
		if found != owner {
			return res, &tenancy.NotOursError{Namespace: ns, Server: server, Found: found, Want: owner}
		}
		res.Outcome = tenancy.Exists
	}
	waiter := elasticache.NewCacheClusterAvailableWaiter(e.client)
	if err := waiter.Wait(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(id)}, e.cfg.WaitTimeout); err != nil {
		return res, fmt.Errorf("wait for %s to be available: %w", e.where(id), err)
	}
	if res.Endpoints, err = e.endpoints(ctx, ns); err != nil {
		return res, err
	}
	return res, nil
}

// owner reads the cluster's owner from its tags: exists is false when
// there is no such cluster (or it is being deleted); a zero owner with
// exists true means the tags name none, or were not written by termshift.
func (e *elastiCache) owner(ctx context.Context, ns termshift.Namespace) (termshift.Owner, bool, error) {
	id, err := termshift.ElastiCacheID(ns.Name)
	if err != nil {
		return termshift.Owner{}, false, err
	}
	cl, err := e.describe(ctx, id)
	if err != nil || cl == nil || aws.ToString(cl.CacheClusterStatus) == "deleting" {
		return termshift.Owner{}, false, err
	}
	if cl.ARN == nil {
		return termshift.Owner{}, true, fmt.Errorf("describe %s: no ARN to read its tags by", e.where(id))
	}
	out, err := e.client.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: cl.ARN})
	if err != nil {
		return termshift.Owner{}, true, fmt.Errorf("read tags of %s: %w", e.where(id), err)
	}
	tags := map[string]string{}
	for _, t := range out.TagList {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	o := termshift.Owner{Environment: tags[tagEnvironment], Release: tags[tagRelease]}
	if tags[tagManagedBy] != managedBy || o.Validate() != nil {
		return termshift.Owner{}, true, nil
	}
	return o, true, nil
}

// describe returns the cluster, or nil if there is none.
func (e *elastiCache) describe(ctx context.Context, id string) (*types.CacheCluster, error) {
	out, err := e.client.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{
		CacheClusterId:    aws.String(id),
		ShowCacheNodeInfo: aws.Bool(true),
	})
	var notFound *types.CacheClusterNotFoundFault
	switch {
	case errors.As(err, &notFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("describe %s: %w", e.where(id), err)
	case len(out.CacheClusters) == 0:
		return nil, nil
	}
	return &out.CacheClusters[0], nil
}

func (e *elastiCache) endpoints(ctx context.Context, ns termshift.Namespace) ([]string, error) {
	id, err := termshift.ElastiCacheID(ns.Name)
	if err != nil {
		return nil, err
	}
	cl, err := e.describe(ctx, id)
	if err != nil {
		return nil, err
	}
	if cl == nil {
		return nil, fmt.Errorf("%s: %w", e.where(id), termshift.ErrNotFound)
	}
	var out []string
	for _, n := range cl.CacheNodes {
		if n.Endpoint == nil || n.Endpoint.Address == nil || n.Endpoint.Port == nil {
			continue
		}
		out = append(out, net.JoinHostPort(*n.Endpoint.Address, strconv.Itoa(int(*n.Endpoint.Port))))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no node endpoints (status %s)", e.where(id), aws.ToString(cl.CacheClusterStatus))
	}
	return out, nil
}

// drop deletes the cluster when its tags name owner.
func (e *elastiCache) drop(ctx context.Context, ns termshift.Namespace, owner termshift.Owner, server string) (tenancy.Result, error) {
	res := tenancy.Result{Namespace: ns, Isolation: tenancy.SeparateCluster, Outcome: tenancy.Absent}
	id, err := termshift.ElastiCacheID(ns.Name)
	if err != nil {
		return res, fmt.Errorf("drop: %w", err)
	}
	found, exists, err := e.owner(ctx, ns)
	if err != nil || !exists {
		return res, err
	}
	if found != owner {
		return res, &tenancy.NotOursError{Namespace: ns, Server: server, Found: found, Want: owner}
	}
	_, err = e.client.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String(id)})
	var notFound *types.CacheClusterNotFoundFault
	switch {
	case errors.As(err, &notFound):
		// Deleted since the look-up.
	case err != nil:
		return res, fmt.Errorf("delete %s: %w", e.where(id), err)
	default:
		res.Outcome = tenancy.Dropped
	}
	return res, nil
}

func (e *elastiCache) exists(ctx context.Context, ns termshift.Namespace) (bool, error) {
	id, err := termshift.ElastiCacheID(ns.Name)
	if err != nil {
		return false, err
	}
	cl, err := e.describe(ctx, id)
	if err != nil || cl == nil {
		return false, err
	}
	// A cluster being deleted is on its way out, not a namespace.
	return aws.ToString(cl.CacheClusterStatus) != "deleting", nil
}

func (e *elastiCache) list(ctx context.Context) ([]string, error) {
	var out []string
	p := elasticache.NewDescribeCacheClustersPaginator(e.client, &elasticache.DescribeCacheClustersInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list elasticache clusters in %s: %w", e.cfg.Region, err)
		}
		for _, cl := range page.CacheClusters {
			if aws.ToString(cl.Engine) == "memcached" && aws.ToString(cl.CacheClusterStatus) != "deleting" {
				out = append(out, aws.ToString(cl.CacheClusterId))
			}
		}
	}
	return out, nil
}
