package memcached_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
	"github.com/termshift/termshift/tenancy/memcached"
)

// ElastiCache cannot run here. fakeAWS sits at the front of the SDK's own
// middleware stack: it records each operation's input as the SDK built it and
// answers with a canned output or service error, so no request leaves.
type fakeAWS struct {
	mu      sync.Mutex
	inputs  []any
	respond func(in any) (any, error)
}

func (f *fakeAWS) option(o *elasticache.Options) {
	o.Credentials = aws.AnonymousCredentials{}
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("termshiftFakeAWS",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				f.mu.Lock()
				f.inputs = append(f.inputs, in.Parameters)
				f.mu.Unlock()
				out, err := f.respond(in.Parameters)
				return middleware.InitializeOutput{Result: out}, middleware.Metadata{}, err
			}), middleware.Before)
	})
}

func (f *fakeAWS) carver(t *testing.T) *memcached.Carver {
	t.Helper()
	c, err := memcached.New(t.Context(), memcached.Config{
		Provider: memcached.ProviderElastiCache,
		ElastiCache: memcached.ElastiCacheConfig{
			Region:           "eu-west-1",
			SecurityGroupIDs: []string{"sg-0123"},
			SubnetGroup:      "cache-subnets",
			ClientOptions:    []func(*elasticache.Options){f.option},
			WaitTimeout:      time.Minute,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func availableCluster(id string) *elasticache.DescribeCacheClustersOutput {
	return &elasticache.DescribeCacheClustersOutput{CacheClusters: []types.CacheCluster{{
		ARN:                aws.String("arn:aws:elasticache:eu-west-1:0123456789:cluster:" + id),
		CacheClusterId:     aws.String(id),
		CacheClusterStatus: aws.String("available"),
		Engine:             aws.String("memcached"),
		CacheNodes: []types.CacheNode{
			{CacheNodeStatus: aws.String("available"), Endpoint: &types.Endpoint{Address: aws.String(id + ".0001.euw1.cache.amazonaws.com"), Port: aws.Int32(11211)}},
		},
	}}}
}

var (
	ecNS    = termshift.Namespace{Service: termshift.Memcached, Logical: "cache", Release: "next", Name: "cache_next"}
	ecOwner = termshift.Owner{Environment: "qa", Release: "next"}
)

// ownerTags are the tags Carve writes for owner, as ListTagsForResource
// returns them.
func ownerTags(owner termshift.Owner) *elasticache.ListTagsForResourceOutput {
	return &elasticache.ListTagsForResourceOutput{TagList: []types.Tag{
		{Key: aws.String("release"), Value: aws.String(owner.Release)},
		{Key: aws.String("logical"), Value: aws.String("cache")},
		{Key: aws.String("namespace"), Value: aws.String("cache_next")},
		{Key: aws.String("managed-by"), Value: aws.String("termshift")},
		{Key: aws.String("environment"), Value: aws.String(owner.Environment)},
	}}
}

// inputsOf returns the recorded requests of one operation.
func inputsOf[T any](f *fakeAWS) []T {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []T
	for _, in := range f.inputs {
		if x, ok := in.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

func TestElastiCacheCarve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		createErr error
		tags      *elasticache.ListTagsForResourceOutput // of the existing cluster
		want      tenancy.Outcome
		found     termshift.Owner // the owner a refusal names
	}{
		{"new cluster", nil, nil, tenancy.Created, termshift.Owner{}},
		{"already exists", &types.CacheClusterAlreadyExistsFault{Message: aws.String("exists")}, ownerTags(ecOwner), tenancy.Exists, termshift.Owner{}},
		{"another environment's", &types.CacheClusterAlreadyExistsFault{Message: aws.String("exists")}, ownerTags(termshift.Owner{Environment: "staging", Release: "next"}), "", termshift.Owner{Environment: "staging", Release: "next"}},
		{"untagged", &types.CacheClusterAlreadyExistsFault{Message: aws.String("exists")}, &elasticache.ListTagsForResourceOutput{}, "", termshift.Owner{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeAWS{respond: func(in any) (any, error) {
				switch in := in.(type) {
				case *elasticache.CreateCacheClusterInput:
					if tt.createErr != nil {
						return nil, tt.createErr
					}
					return &elasticache.CreateCacheClusterOutput{}, nil
				case *elasticache.DescribeCacheClustersInput:
					return availableCluster(aws.ToString(in.CacheClusterId)), nil
				case *elasticache.ListTagsForResourceInput:
					if aws.ToString(in.ResourceName) != "arn:aws:elasticache:eu-west-1:0123456789:cluster:cache-next" {
						return nil, errors.New("tags of an unexpected resource")
					}
					return tt.tags, nil
				}
				return nil, errors.New("unexpected operation")
			}}
			res, err := f.carver(t).Carve(t.Context(), ecNS, "", ecOwner)
			if tt.want == "" {
				var notOurs *tenancy.NotOursError
				if !errors.As(err, &notOurs) || !errors.Is(err, termshift.ErrRefused) || notOurs.Found != tt.found {
					t.Fatalf("got %v, want a NotOursError naming %q", err, tt.found)
				}
				// Nothing was waited for or changed after the refusal.
				if n := len(inputsOf[*elasticache.DescribeCacheClustersInput](f)); n != 1 {
					t.Errorf("%d DescribeCacheClusters after the refusal, want only the one that found the ARN", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tenancy.Result{Namespace: ecNS, Outcome: tt.want, Isolation: tenancy.SeparateCluster,
				Endpoints: []string{"cache-next.0001.euw1.cache.amazonaws.com:11211"}}
			if diff := cmp.Diff(res, want); diff != "" {
				t.Errorf("result (-got +want):\n%s", diff)
			}
			create, ok := f.inputs[0].(*elasticache.CreateCacheClusterInput)
			if !ok {
				t.Fatalf("first request is %T, want CreateCacheClusterInput", f.inputs[0])
			}
			wantIn := &elasticache.CreateCacheClusterInput{
				CacheClusterId:       aws.String("cache-next"),
				Engine:               aws.String("memcached"),
				CacheNodeType:        aws.String("cache.t3.micro"),
				NumCacheNodes:        aws.Int32(1),
				SecurityGroupIds:     []string{"sg-0123"},
				CacheSubnetGroupName: aws.String("cache-subnets"),
				Tags: []types.Tag{
					{Key: aws.String("release"), Value: aws.String("next")},
					{Key: aws.String("logical"), Value: aws.String("cache")},
					{Key: aws.String("namespace"), Value: aws.String("cache_next")},
					{Key: aws.String("managed-by"), Value: aws.String("termshift")},
					{Key: aws.String("environment"), Value: aws.String("qa")},
				},
			}
			if diff := cmp.Diff(create, wantIn, cmpopts.IgnoreUnexported(elasticache.CreateCacheClusterInput{}, types.Tag{})); diff != "" {
				t.Errorf("CreateCacheCluster input (-got +want):\n%s", diff)
			}
			// The waiter and the endpoint lookup both describe the cluster, with node info.
			last, ok := f.inputs[len(f.inputs)-1].(*elasticache.DescribeCacheClustersInput)
			if !ok || aws.ToString(last.CacheClusterId) != "cache-next" || !aws.ToBool(last.ShowCacheNodeInfo) {
				t.Errorf("last request = %#v, want DescribeCacheClusters of cache-next with node info", f.inputs[len(f.inputs)-1])
			}
		})
	}
}

func TestElastiCacheCarveFails(t *testing.T) {
	t.Parallel()
	f := &fakeAWS{respond: func(in any) (any, error) {
		return nil, &types.InsufficientCacheClusterCapacityFault{Message: aws.String("no capacity")}
	}}
	_, err := f.carver(t).Carve(t.Context(), ecNS, "", ecOwner)
	var capacity *types.InsufficientCacheClusterCapacityFault
	if !errors.As(err, &capacity) {
		t.Fatalf("got %v, want the service's fault", err)
	}
	if !strings.Contains(err.Error(), `"cache-next"`) || !strings.Contains(err.Error(), "eu-west-1") {
		t.Errorf("error %q must name the cluster id and region", err)
	}
}

func TestElastiCacheDrop(t *testing.T) {
	t.Parallel()
	gone := &types.CacheClusterNotFoundFault{Message: aws.String("gone")}
	tests := []struct {
		name        string
		describeErr error
		tags        *elasticache.ListTagsForResourceOutput
		err         error // DeleteCacheCluster's
		want        tenancy.Outcome
		deletes     int
	}{
		{"deleted", nil, ownerTags(ecOwner), nil, tenancy.Dropped, 1},
		{"not found", nil, ownerTags(ecOwner), gone, tenancy.Absent, 1},
		{"absent", gone, nil, nil, tenancy.Absent, 0},
		{"another environment's", nil, ownerTags(termshift.Owner{Environment: "staging", Release: "next"}), nil, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeAWS{respond: func(in any) (any, error) {
				switch in := in.(type) {
				case *elasticache.DescribeCacheClustersInput:
					if tt.describeErr != nil {
						return nil, tt.describeErr
					}
					return availableCluster(aws.ToString(in.CacheClusterId)), nil
				case *elasticache.ListTagsForResourceInput:
					return tt.tags, nil
				case *elasticache.DeleteCacheClusterInput:
					return &elasticache.DeleteCacheClusterOutput{}, tt.err
				}
				return nil, errors.New("unexpected operation")
			}}
			res, err := f.carver(t).Drop(t.Context(), ecNS, ecOwner)
			deletes := inputsOf[*elasticache.DeleteCacheClusterInput](f)
			if len(deletes) != tt.deletes {
				t.Fatalf("%d DeleteCacheCluster requests, want %d", len(deletes), tt.deletes)
			}
			if tt.want == "" {
				if !errors.Is(err, termshift.ErrRefused) {
					t.Fatalf("got %v, want a refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tt.want {
				t.Errorf("outcome %q, want %q", res.Outcome, tt.want)
			}
			if len(deletes) > 0 {
				if id := aws.ToString(deletes[0].CacheClusterId); id != "cache-next" {
					t.Errorf("deleted %q, want cache-next", id)
				}
			}
		})
	}
}

func TestElastiCacheExistsAndList(t *testing.T) {
	t.Parallel()
	f := &fakeAWS{respond: func(in any) (any, error) {
		in2 := in.(*elasticache.DescribeCacheClustersInput)
		switch aws.ToString(in2.CacheClusterId) {
		case "":
			out := availableCluster("cache-next")
			out.CacheClusters = append(out.CacheClusters,
				types.CacheCluster{CacheClusterId: aws.String("redis-one"), Engine: aws.String("redis"), CacheClusterStatus: aws.String("available")},
				types.CacheCluster{CacheClusterId: aws.String("cache-old"), Engine: aws.String("memcached"), CacheClusterStatus: aws.String("deleting")})
			return out, nil
		case "cache-next":
			return availableCluster("cache-next"), nil
		}
		return nil, &types.CacheClusterNotFoundFault{Message: aws.String("not found")}
	}}
	c := f.carver(t)
	if ok, err := c.Exists(t.Context(), ecNS); err != nil || !ok {
		t.Errorf("exists cache_next = %v, %v; want true", ok, err)
	}
	gone := ecNS
	gone.Name = "cache_gone"
	if ok, err := c.Exists(t.Context(), gone); err != nil || ok {
		t.Errorf("exists cache_gone = %v, %v; want false", ok, err)
	}
	names, err := c.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(names, []string{"cache-next"}); diff != "" {
		t.Errorf("list (-got +want):\n%s", diff)
	}
}

// A name ElastiCache would refuse is refused before any request.
func TestElastiCacheRefusesBadName(t *testing.T) {
	t.Parallel()
	f := &fakeAWS{respond: func(any) (any, error) { return nil, errors.New("no request expected") }}
	bad := ecNS
	bad.Name = "a_name_far_too_long_for_elasticache"
	_, err := f.carver(t).Carve(t.Context(), bad, "", ecOwner)
	if !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("got %v, want an error wrapping %v", err, termshift.ErrInvalid)
	}
	if len(f.inputs) != 0 {
		t.Errorf("%d requests sent, want none", len(f.inputs))
	}
}
