package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"sync"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
)

// Hashes returns, for every table of the schema named name in the backup,
// its rows and their hash inside the snapshot: from the data files read
// whole (with Request.Hash), or, for a table that was not read (a resumed
// sync kept it), read again inside the snapshot.
func (s *Snapshot) Hashes(ctx context.Context, name string) (map[string]backup.TableHash, error) {
	sc := s.schemaNamed(name)
	if sc == nil {
		return nil, fmt.Errorf("schema %s is not in the snapshot: %w", termshift.Quote(name), termshift.ErrNotFound)
	}
	out := map[string]backup.TableHash{}
	var todo []job
	s.mu.Lock()
	for _, t := range sc.tables {
		var sum multiset
		var rows int64
		whole := s.req.Hash
		for _, c := range t.chunks {
			r, ok := s.chunks[c.file]
			if !ok {
				whole = false
				break
			}
			sum.merge(r.hash)
			rows += r.rows
		}
		if whole {
			out[t.name] = backup.TableHash{Rows: rows, Hash: sum.hex()}
			continue
		}
		for i := range t.chunks {
			todo = append(todo, job{t: t, chunk: i})
		}
	}
	s.mu.Unlock()
	got, err := s.hashJobs(ctx, todo, func(ctx context.Context) (*sql.Conn, func(), error) {
		c, err := s.acquire(ctx)
		if err != nil {
			return nil, nil, err
		}
		return c, func() { s.release(c) }, nil
	}, "")
	if err != nil {
		return nil, err
	}
	for k, v := range got {
		out[k] = v
	}
	return out, nil
}

// HashCopy reads every table of the schema named name in the backup from
// schema target on the same server (a copy of it: a sync's target) and
// hashes it as Hashes does, with the same columns and ranges, Threads at
// once.
func (s *Snapshot) HashCopy(ctx context.Context, name, target string) (map[string]backup.TableHash, error) {
	sc := s.schemaNamed(name)
	if sc == nil {
		return nil, fmt.Errorf("schema %s is not in the snapshot: %w", termshift.Quote(name), termshift.ErrNotFound)
	}
	if err := termshift.ValidateMySQLIdent("target schema", target); err != nil {
		return nil, err
	}
	var todo []job
	for _, t := range sc.tables {
		if len(t.chunks) == 0 {
			// Empty in the snapshot: the copy is read whole, and must be
			// empty too.
			todo = append(todo, job{t: t, chunk: -1})
		}
		for i := range t.chunks {
			todo = append(todo, job{t: t, chunk: i})
		}
	}
	return s.hashJobs(ctx, todo, func(ctx context.Context) (*sql.Conn, func(), error) {
		c, err := s.conn(ctx)
		if err != nil {
			return nil, nil, err
		}
		return c, func() { c.Close() }, nil
	}, target)
}

func (s *Snapshot) schemaNamed(name string) *schema {
	for _, sc := range s.schemas {
		if sc.name == name {
			return sc
		}
	}
	return nil
}

type job struct {
	t     *table
	chunk int // -1: the whole table
}

// hashJobs hashes data ranges, Threads at once, on connections from get;
// target "" reads the snapshot's schema, else that schema.
func (s *Snapshot) hashJobs(ctx context.Context, todo []job, get func(context.Context) (*sql.Conn, func(), error), target string) (map[string]backup.TableHash, error) {
	type acc struct {
		rows int64
		sum  multiset
	}
	var (
		mu    sync.Mutex
		byTab = map[*table]*acc{}
		first error
		wg    sync.WaitGroup
	)
	for _, j := range todo {
		if byTab[j.t] == nil {
			byTab[j.t] = &acc{}
		}
	}
	next := make(chan job)
	for range min(s.threads, len(todo)) {
		wg.Go(func() {
			for j := range next {
				rows, sum, err := s.hashRange(ctx, get, j, target)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				a := byTab[j.t]
				a.rows += rows
				a.sum.merge(sum)
				mu.Unlock()
			}
		})
	}
	for _, j := range todo {
		next <- j
	}
	close(next)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	out := map[string]backup.TableHash{}
	for t, a := range byTab {
		out[t.name] = backup.TableHash{Rows: a.rows, Hash: a.sum.hex()}
	}
	return out, nil
}

func (s *Snapshot) hashRange(ctx context.Context, get func(context.Context) (*sql.Conn, func(), error), j job, target string) (int64, multiset, error) {
	var sum multiset
	c, done, err := get(ctx)
	if err != nil {
		return 0, sum, err
	}
	defer done()
	from := j.t.qualified()
	where := "source"
	if target != "" {
		from = termshift.QuoteMySQL(target) + "." + termshift.QuoteMySQL(j.t.name)
		where = target
	}
	q := "SELECT " + j.t.selectList + " FROM " + from
	if j.chunk >= 0 && j.t.chunks[j.chunk].where != "" {
		q += " WHERE " + j.t.chunks[j.chunk].where
	}
	h := sha256.New()
	var digest []byte
	var n int64
	err = rawRows(ctx, c, q, len(j.t.columns), func(vals [][]byte) error {
		digest = rowDigest(h, vals, digest[:0])
		sum.add(digest)
		n++
		return nil
	})
	if err != nil {
		return n, sum, fmt.Errorf("mysql %s: hash %s.%s (%s): %w", s.addr, j.t.schema.name, j.t.name, where, err)
	}
	return n, sum, nil
}
