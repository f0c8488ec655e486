package rollout

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/tenancy"
)

// takeCounts records per-table rows and AUTO_INCREMENT values and
// per-collection documents of a release's MySQL and MongoDB namespaces. A
// server that cannot be asked is listed in Unavailable, not an error.
func (o *Orchestrator) takeCounts(ctx context.Context, rs *store.ReleaseState) *store.SwitchCounts {
	c := &store.SwitchCounts{At: o.Now(), Rows: map[string]int64{}, AutoIncrement: map[string]int64{}, Documents: map[string]int64{}}
	names := map[termshift.Service][]string{}
	for _, ns := range rs.Namespaces {
		if _, ok := o.P.Counters[ns.Service]; ok {
			names[ns.Service] = append(names[ns.Service], ns.Name)
		}
	}
	// Services are counted at once, each into its own result.
	var mu sync.Mutex
	var wg sync.WaitGroup
	redact := termshift.Redactor(o.Env.Secrets(), "[redacted]")
	for svc, list := range names {
		wg.Go(func() {
			got, err := o.P.Counters[svc].Count(ctx, list)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				c.Unavailable = append(c.Unavailable, string(svc)+": "+redact(err.Error()))
				return
			}
			merge(c, got)
		})
	}
	wg.Wait()
	return c
}

func merge(c *store.SwitchCounts, got tenancy.Counts) {
	for k, v := range got.Rows {
		c.Rows[k] = v
	}
	for k, v := range got.AutoIncrement {
		c.AutoIncrement[k] = v
	}
	for k, v := range got.Documents {
		c.Documents[k] = v
	}
}

// Stranded is data written to a release since it became live: what a
// rollback would leave behind.
type Stranded struct {
	Release   string           `json:"release"`
	Since     time.Time        `json:"since"`
	Rows      map[string]int64 `json:"rows,omitempty"`      // table -> rows added since the switch
	NewIDs    map[string]int64 `json:"new_ids,omitempty"`   // table -> AUTO_INCREMENT values issued since
	Documents map[string]int64 `json:"documents,omitempty"` // collection -> documents added since
	Unknown   []string         `json:"unknown,omitempty"`   // why some could not be counted
}

// Empty reports whether nothing would be stranded.
func (s *Stranded) Empty() bool {
	return len(s.Rows) == 0 && len(s.NewIDs) == 0 && len(s.Documents) == 0 && len(s.Unknown) == 0
}

// stranded compares a release's counts now with those recorded when it
// became live.
func (o *Orchestrator) stranded(ctx context.Context, rs *store.ReleaseState) *Stranded {
	out := &Stranded{Release: rs.Name, Rows: map[string]int64{}, NewIDs: map[string]int64{}, Documents: map[string]int64{}}
	if rs.Switch == nil {
		out.Unknown = append(out.Unknown, "no counts were recorded when "+termshift.Quote(rs.Name)+" became live")
		return out
	}
	out.Since = rs.Switch.At
	now := o.takeCounts(ctx, rs)
	out.Unknown = append(out.Unknown, now.Unavailable...)
	for k, v := range now.Rows {
		if d := v - rs.Switch.Rows[k]; d != 0 {
			out.Rows[k] = d
		}
	}
	for k, v := range now.AutoIncrement {
		if d := v - rs.Switch.AutoIncrement[k]; d > 0 && rs.Switch.AutoIncrement[k] > 0 {
			out.NewIDs[k] = d
		}
	}
	for k, v := range now.Documents {
		if d := v - rs.Switch.Documents[k]; d != 0 {
			out.Documents[k] = d
		}
	}
	// What was counted at the switch but is gone now (a dropped schema, a
	// dropped collection) cannot be counted: it is unknown, not nothing.
	// Only where the server answered: an unreachable one is unknown anyway.
	out.Unknown = append(out.Unknown, vanished("mysql", rs.Switch.Rows, now.Rows, now.Unavailable)...)
	out.Unknown = append(out.Unknown, vanished("mongo", rs.Switch.Documents, now.Documents, now.Unavailable)...)
	return out
}

// vanished lists, per schema or database, the objects counted at the
// switch that are no longer there.
func vanished(svc string, then, now map[string]int64, unavailable []string) []string {
	for _, u := range unavailable {
		if strings.HasPrefix(u, svc+":") {
			return nil
		}
	}
	gone := map[string]int{}
	for k := range then {
		if _, ok := now[k]; !ok {
			db, _, _ := strings.Cut(k, ".")
			gone[db]++
		}
	}
	var out []string
	for db, n := range gone {
		out = append(out, fmt.Sprintf("%s %s: %d of the objects counted at the switch are gone (dropped?): what they held since is unknown", svc, termshift.Quote(db), n))
	}
	sort.Strings(out)
	return out
}
