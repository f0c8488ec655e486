package restore

import (
	"log/slog"
	"runtime"
)

// MaxThreads bounds Request.Threads: more connections than this load no
// faster and only crowd the shared server.
const MaxThreads = 64

// Request is what every loader (restore/mysql, restore/mongo,
// restore/rabbitmq) is asked to do: load the namespace From of a backup
// into To.
type Request struct {
	// From is the name in the backup (schema, database, vhost), To the name
	// on the server. A loader may not need From when the backup holds one
	// namespace only (a single-schema mysqldump, a one-vhost export).
	From, To string
	// Threads is how many tables, chunks or collections load at once: 0
	// (or less) means a default; loaders cap it and say so in
	// Report.Warnings.
	Threads int
	// DropExisting lets a restore replace what the target holds; without
	// it a target that holds anything but termshift's ownership marker is
	// refused with an error wrapping termshift.ErrRefused, before anything
	// is touched.
	DropExisting bool
	// Resume continues a killed restore from Checkpoint (loaders that
	// cannot resume start over and say so in Report.Warnings).
	Resume bool
	// Checkpoint is a local path for resume marks; "" = no resume.
	Checkpoint string
	// Manifest is the snapshot's manifest (ReadManifest) or nil when it has
	// none. With a manifest, src is the snapshot's root and the path a
	// loader gets is relative to it: the loader verifies the namespace's
	// files against the manifest before it touches the target, takes its
	// counts as the expected ones, and the manifest proves completeness.
	Manifest *Manifest
	Progress Progress     // may be nil
	Logger   *slog.Logger // may be nil
}

// Log returns the request's logger, or one that discards.
func (r Request) Log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// ThreadCount returns how many threads to use: Threads, the default
// (runtime.NumCPU) when it is below 1, and at most limit (MaxThreads when
// limit < 1). capped is set when the request asked for more than that.
func (r Request) ThreadCount(limit int) (n int, capped bool) {
	if limit < 1 || limit > MaxThreads {
		limit = MaxThreads
	}
	n = r.Threads
	if n < 1 {
		n = runtime.NumCPU()
	}
	if n > limit {
		return limit, r.Threads > limit
	}
	return n, false
}
