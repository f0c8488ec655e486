package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/termshift/termshift/rollout/store"
)

// The journal is one object per entry under journal/, named by the time it
// was appended and a random suffix: journal/20261120T020304.123456789Z-
// 5f0c2a9e41d7.json. S3 has no append, and a journal object rewritten with
// compare-and-swap would make concurrent writers retry (and every append
// cost the whole journal); separate objects never contend, an append is
// one small PUT with If-None-Match: * (a duplicate name can only be our
// own retried request), and a listing returns them in name order, which is
// time order. Entries of one writer strictly increase even if its clock
// steps back; entries of two machines are ordered by their clocks.
const (
	journalDir    = "journal/"
	journalLayout = "20060102T150405.000000000Z"
	// readers is how many journal objects ReadJournal fetches at once.
	readers = 16
)

// Append writes one entry as its own object.
func (st *Store) Append(ctx context.Context, e store.Entry) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if e.Actor == "" {
		u, h := store.Actor()
		e.Actor = u + "@" + h
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	key := st.key(journalDir + st.entryName())
	_, err = st.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: st.bucket(), Key: aws.String(key), Body: bytes.NewReader(data),
		ContentType: aws.String("application/json"), IfNoneMatch: aws.String("*")})
	if err != nil && !refused(err) {
		return st.fail("append to journal", key, err)
	}
	return nil
}

// entryName is the next journal object's name: later than any this Store
// wrote before.
func (st *Store) entryName() string {
	st.mu.Lock()
	t := time.Now().UTC()
	if !t.After(st.lastEntry) {
		t = st.lastEntry.Add(time.Nanosecond)
	}
	st.lastEntry = t
	st.mu.Unlock()
	var r [6]byte
	_, _ = rand.Read(r[:])
	return t.Format(journalLayout) + "-" + hex.EncodeToString(r[:]) + ".json"
}

// ReadJournal returns every entry in name order (time order). An object
// that does not decode is skipped and counted.
func (st *Store) ReadJournal(ctx context.Context) ([]store.Entry, int, error) {
	keys, err := st.list(ctx, journalDir)
	if err != nil {
		return nil, 0, err
	}
	sort.Strings(keys) // listings are in name order; do not rely on it
	type result struct {
		entry            store.Entry
		found, malformed bool
		err              error
	}
	results := make([]result, len(keys))
	var wg sync.WaitGroup
	sem := make(chan struct{}, readers)
	for i, key := range keys {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := &results[i]
			data, err := st.get(ctx, key, 1<<20)
			switch {
			case notFound(err): // removed since the listing
			case err != nil:
				r.err = err
			default:
				r.found = true
				r.malformed = json.Unmarshal(data, &r.entry) != nil
			}
		})
	}
	wg.Wait()
	var entries []store.Entry
	torn := 0
	for _, r := range results {
		switch {
		case r.err != nil:
			return nil, 0, r.err
		case r.malformed:
			torn++
		case r.found:
			entries = append(entries, r.entry)
		}
	}
	return entries, torn, nil
}

// list returns the keys under dir (relative to the prefix), in name order.
func (st *Store) list(ctx context.Context, dir string) ([]string, error) {
	var keys []string
	pages := awss3.NewListObjectsV2Paginator(st.client, &awss3.ListObjectsV2Input{Bucket: st.bucket(), Prefix: aws.String(st.key(dir))})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, st.fail("list", st.key(dir), err)
		}
		for _, o := range page.Contents {
			if k := aws.ToString(o.Key); !strings.HasSuffix(k, "/") {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

// get reads a small object whole; a missing one is an error matching
// notFound.
func (st *Store) get(ctx context.Context, key string, limit int64) ([]byte, error) {
	out, err := st.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: st.bucket(), Key: aws.String(key)})
	if notFound(err) {
		return nil, err
	}
	if err != nil {
		return nil, st.fail("read", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, limit))
	if err != nil {
		return nil, st.fail("read", key, err)
	}
	return data, nil
}
