package mongo

import (
	"context"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// archiveBufferBytes bounds the documents an archive's demultiplexer holds
// for collections whose loaders are busy inserting. A collection's feed
// holds up to batchDocs documents, so while one loader waits on the server
// the demultiplexer reads on for the others (with a feed of a few hundred
// documents it stalled on the first full one, and an archive loaded one
// collection at a time); the byte budget keeps large documents from
// multiplying that into gigabytes.
const archiveBufferBytes = 32 << 20

// budget is a count of bytes shared by an archive's feeds.
type budget struct {
	mu   sync.Mutex
	cond *sync.Cond
	free int64
	max  int64
}

func newBudget(n int64) *budget {
	b := &budget{free: n, max: n}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire waits until n bytes are free (a document larger than the whole
// budget waits until nothing else is held), or ctx is done.
func (b *budget) acquire(ctx context.Context, n int64) error {
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.free < min(n, b.max) {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.cond.Wait()
	}
	b.free -= n
	return nil
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.free += n
	b.cond.Broadcast()
	b.mu.Unlock()
}

// feed carries one collection's documents from an archive's demultiplexer
// to its loader.
type feed struct {
	ch     chan bson.Raw
	budget *budget
}

func newFeed(b *budget) *feed {
	return &feed{ch: make(chan bson.Raw, batchDocs), budget: b}
}

// send hands a document to the loader once the budget has room for it.
func (f *feed) send(ctx context.Context, doc bson.Raw) error {
	if err := f.budget.acquire(ctx, int64(len(doc))); err != nil {
		return err
	}
	select {
	case f.ch <- doc:
		return nil
	case <-ctx.Done():
		f.budget.release(int64(len(doc)))
		return ctx.Err()
	}
}

// close ends the collection's documents.
func (f *feed) close() { close(f.ch) }

// next returns the next document; ok is false at the end of the collection.
func (f *feed) next(ctx context.Context) (bson.Raw, bool, error) {
	select {
	case doc, ok := <-f.ch:
		if ok {
			f.budget.release(int64(len(doc)))
		}
		return doc, ok, nil
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}
