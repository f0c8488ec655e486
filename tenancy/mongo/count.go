package mongo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
)

// Counter counts the documents of databases with the administrator's
// credentials.
type Counter struct {
	URI termshift.Secret
}

// Count returns the documents per "database.collection" of the databases,
// leaving out termshift's own marker collection. Collections are counted at
// once: a count scans on some servers.
func (c *Counter) Count(ctx context.Context, dbs []string) (tenancy.Counts, error) {
	out := tenancy.Counts{Documents: map[string]int64{}}
	opts := options.Client().ApplyURI(c.URI.Reveal())
	if err := opts.Validate(); err != nil || len(opts.Hosts) == 0 {
		return out, fmt.Errorf("count: admin URI does not parse: %w", termshift.ErrInvalid)
	}
	hosts := strings.Join(opts.Hosts, ",")
	var password termshift.Secret
	if opts.Auth != nil {
		password = termshift.Secret(opts.Auth.Password)
	}
	client, err := mongo.Connect(opts.SetServerSelectionTimeout(3 * time.Second).SetAppName("termshift"))
	if err != nil {
		return out, fmt.Errorf("connect to mongo %s: %w", hosts, redact(err, password))
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	for _, name := range dbs {
		if err := termshift.ValidateMongoDatabase(name); err != nil {
			return out, fmt.Errorf("count: %w", err)
		}
		colls, err := client.Database(name).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return out, fmt.Errorf("list collections of %s on mongo %s: %w", termshift.Quote(name), hosts, redact(err, password))
		}
		sort.Strings(colls)
		counts := make([]int64, len(colls))
		errs := make([]error, len(colls))
		var wg sync.WaitGroup
		for i, coll := range colls {
			if coll == MarkerCollection {
				continue
			}
			wg.Go(func() {
				counts[i], errs[i] = client.Database(name).Collection(coll).CountDocuments(ctx, bson.D{})
			})
		}
		wg.Wait()
		for i, coll := range colls {
			if coll == MarkerCollection {
				continue
			}
			if errs[i] != nil {
				return out, fmt.Errorf("count %s.%s on mongo %s: %w", name, coll, hosts, redact(errs[i], password))
			}
			out.Documents[name+"."+coll] = counts[i]
		}
	}
	return out, nil
}
