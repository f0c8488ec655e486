package verify

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/termshift/termshift"
)

// planIntegrity: one job per own MySQL and MongoDB namespace, comparing the
// restore proof with counts taken now through the admin access.
func planIntegrity(t Target, _ Options) []job {
	var jobs []job
	for _, ns := range t.Own {
		if ns.Service != termshift.MySQL && ns.Service != termshift.MongoDB {
			continue
		}
		jobs = append(jobs, job{target: nsTarget(ns), run: func(ctx context.Context) (Status, string) {
			if ns.Proof == nil {
				return Skip, "not restored"
			}
			if len(ns.Proof.Objects) == 0 {
				return Warn, "restore proof lists no tables or collections"
			}
			var now map[string]int64
			var missing []string
			var err error
			if ns.Service == termshift.MySQL {
				now, missing, err = countMySQL(ctx, t.Servers, ns)
			} else {
				now, missing, err = countMongo(ctx, t.Servers, ns)
			}
			if err != nil {
				return noServer(err)
			}
			return compareProof(ns.Proof, now, missing)
		}})
	}
	if len(jobs) == 0 {
		return single("-", Skip, "release has no mysql or mongo namespaces")
	}
	return jobs
}

// compareProof: a missing object fails (data is gone); a different count
// warns with both numbers (the release may have written since); equal
// counts pass.
func compareProof(p *Proof, now map[string]int64, missing []string) (Status, string) {
	names := make([]string, 0, len(p.Objects))
	for name := range p.Objects {
		names = append(names, name)
	}
	sort.Strings(names)
	var gone, changed []string
	for _, name := range names {
		switch {
		case slices.Contains(missing, name):
			gone = append(gone, fmt.Sprintf("%s: %d at restore, missing now", name, p.Objects[name]))
		case now[name] != p.Objects[name]:
			changed = append(changed, fmt.Sprintf("%s: %d at restore, %d now", name, p.Objects[name], now[name]))
		}
	}
	switch {
	case len(gone) > 0:
		return Fail, listDetail(append(gone, changed...), 5)
	case len(changed) > 0:
		return Warn, listDetail(changed, 5)
	}
	at := ""
	if !p.At.IsZero() {
		at = " of " + p.At.UTC().Format("2006-01-02 15:04:05Z")
	}
	return Pass, fmt.Sprintf("%d objects match the restore proof%s", len(names), at)
}

func countMySQL(ctx context.Context, s Servers, ns Namespace) (map[string]int64, []string, error) {
	db, err := openMySQLAdmin(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", ns.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("list tables of %s on %s: %w", termshift.Quote(ns.Name), mysqlAddr(s), err)
	}
	present := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("list tables of %s on %s: %w", termshift.Quote(ns.Name), mysqlAddr(s), err)
		}
		present[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list tables of %s on %s: %w", termshift.Quote(ns.Name), mysqlAddr(s), err)
	}
	now := map[string]int64{}
	var missing []string
	for table := range ns.Proof.Objects {
		if !present[table] {
			missing = append(missing, table)
			continue
		}
		var n int64
		q := "SELECT COUNT(*) FROM " + termshift.QuoteMySQL(ns.Name) + "." + termshift.QuoteMySQL(table)
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return nil, nil, fmt.Errorf("count %s.%s on %s: %w", ns.Name, table, mysqlAddr(s), err)
		}
		now[table] = n
	}
	return now, missing, nil
}

func countMongo(ctx context.Context, s Servers, ns Namespace) (map[string]int64, []string, error) {
	c, err := openMongo(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	defer disconnectMongo(c)
	db := c.Database(ns.Name)
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, nil, fmt.Errorf("list collections of %s on %s: %w", termshift.Quote(ns.Name), mongoHosts(s), err)
	}
	now := map[string]int64{}
	var missing []string
	for coll := range ns.Proof.Objects {
		if !slices.Contains(names, coll) {
			missing = append(missing, coll)
			continue
		}
		n, err := db.Collection(coll).CountDocuments(ctx, bson.D{})
		if err != nil {
			return nil, nil, fmt.Errorf("count %s.%s on %s: %w", ns.Name, coll, mongoHosts(s), err)
		}
		now[coll] = n
	}
	return now, missing, nil
}
