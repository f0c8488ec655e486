package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/termshift/termshift/rollout/store"
)

const (
	stateName = "state.json"
	// writeMeta is user metadata naming the write that made a state
	// object, so that a write whose answer was lost (and was retried into a
	// 412) is recognised as ours.
	writeMeta = "termshift-write"
	// maxStateBytes bounds what Load reads: a state is kilobytes.
	maxStateBytes = 64 << 20
	// keptETags is how many revisions' ETags a Store remembers.
	keptETags = 8
)

// Load reads state.json; a missing object is an empty state.
func (st *Store) Load(ctx context.Context) (*store.State, error) {
	key := st.key(stateName)
	out, err := st.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: st.bucket(), Key: aws.String(key)})
	if notFound(err) {
		return &store.State{Version: store.StateVersion, Releases: map[string]*store.ReleaseState{}}, nil
	}
	if err != nil {
		return nil, st.fail("read state", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxStateBytes+1))
	if err != nil {
		return nil, st.fail("read state", key, err)
	}
	if len(data) > maxStateBytes {
		return nil, fmt.Errorf("read state %s: larger than %d bytes: this is not a termshift state", st.uri(key), maxStateBytes)
	}
	var s store.State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read state %s: %w (the object is damaged; restore a former version of it, or move it aside)", st.uri(key), err)
	}
	if s.Version > store.StateVersion {
		return nil, fmt.Errorf("read state %s: version %d is newer than this termshift understands (%d): upgrade termshift", st.uri(key), s.Version, store.StateVersion)
	}
	if s.Releases == nil {
		s.Releases = map[string]*store.ReleaseState{}
	}
	st.remember(s.Revision, aws.ToString(out.ETag))
	return &s, nil
}

// Save writes state.json when its stored revision is still s.Revision:
// a first save creates it with If-None-Match: *, later ones replace it with
// If-Match on the ETag of the revision s was loaded at. S3 checks the
// condition and writes in one step, so two writers never overwrite each
// other; a PUT is atomic, so a crash leaves the old state or the new one.
func (st *Store) Save(ctx context.Context, s *store.State) error {
	key := st.key(stateName)
	etag, known := st.etag(s.Revision)
	if s.Revision != 0 && !known {
		// Loaded by another Store value (or long ago): learn the ETag.
		cur, err := st.Load(ctx)
		if err != nil {
			return err
		}
		if cur.Revision != s.Revision {
			return &store.ConflictError{Where: st.String(), Have: s.Revision, Stored: cur.Revision}
		}
		if etag, known = st.etag(s.Revision); !known {
			return &store.ConflictError{Where: st.String(), Have: s.Revision, Stored: cur.Revision}
		}
	}
	next := *s
	next.Version = store.StateVersion
	next.Revision = s.Revision + 1
	data, err := json.MarshalIndent(&next, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	write := token()
	in := &awss3.PutObjectInput{Bucket: st.bucket(), Key: aws.String(key), Body: bytes.NewReader(append(data, '\n')),
		ContentType: aws.String("application/json"), Metadata: map[string]string{writeMeta: write}}
	if s.Revision == 0 {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(etag)
	}
	out, err := st.client.PutObject(ctx, in)
	switch {
	case err == nil:
		etag = aws.ToString(out.ETag)
	case refused(err):
		// Either another writer won, or our own write went through and its
		// answer was lost before a retry: the object says which.
		h, herr := st.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: st.bucket(), Key: aws.String(key)})
		if herr == nil && h.Metadata[writeMeta] == write {
			etag = aws.ToString(h.ETag)
			break
		}
		cur, lerr := st.Load(ctx)
		if lerr != nil {
			return fmt.Errorf("state in %s changed since this command read it (revision %d); reading it again: %w", st, s.Revision, lerr)
		}
		return &store.ConflictError{Where: st.String(), Have: s.Revision, Stored: cur.Revision}
	default:
		return st.fail("write state", key, err)
	}
	st.remember(next.Revision, etag)
	s.Version, s.Revision = next.Version, next.Revision
	return nil
}

// Changed asks S3 whether state.json still has the ETag of since's
// revision: a HEAD with If-None-Match, answered 304 without a body while
// nothing changed.
func (st *Store) Changed(ctx context.Context, since *store.State) (bool, error) {
	if since == nil {
		return true, nil
	}
	key := st.key(stateName)
	in := &awss3.HeadObjectInput{Bucket: st.bucket(), Key: aws.String(key)}
	etag, known := st.etag(since.Revision)
	switch {
	case known:
		in.IfNoneMatch = aws.String(etag)
	case since.Revision != 0:
		return true, nil
	}
	out, err := st.client.HeadObject(ctx, in)
	switch {
	case notModified(err):
		return false, nil
	case notFound(err):
		return since.Revision != 0, nil
	case err != nil:
		return false, st.fail("check state", key, err)
	}
	// A server that ignores the condition answers 200: compare ourselves.
	return !known || aws.ToString(out.ETag) != etag, nil
}

// remember records the ETag of a revision, forgetting old ones.
func (st *Store) remember(rev int64, etag string) {
	if etag == "" {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.etags[rev] = etag
	for r := range st.etags {
		if r <= rev-keptETags {
			delete(st.etags, r)
		}
	}
}

func (st *Store) etag(rev int64) (string, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.etags[rev]
	return e, ok
}
