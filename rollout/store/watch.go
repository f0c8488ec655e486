package store

import "context"

// Watcher is a backend that tells cheaply whether the stored state moved
// on from one it returned, so that a router can follow a shared state
// often: on S3 it is a conditional request on the state object's ETag,
// answered without a body while nothing changed. serve asks it several
// times a second; backends without it are loaded in full, less often.
type Watcher interface {
	// Changed reports whether the stored state is no longer since, a state
	// this backend's Load or Save returned. It is true when since is nil
	// or when the backend cannot tell.
	Changed(ctx context.Context, since *State) (bool, error)
}
