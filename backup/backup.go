// Package backup takes backups in the formats package restore reads, so the
// nightly production backup and termshift's own copies are one format:
//
//	<snapshot>/mysql/      a mydumper 0.10 directory (metadata, DB-schema-create.sql, DB.T-schema.sql, DB.T.NNNNN.sql[.gz], ...)
//	<snapshot>/mongo/      a mongodump directory (prelude.json, DB/COLL.bson[.gz], DB/COLL.metadata.json[.gz]) or DB.archive[.gz]
//	<snapshot>/rabbitmq/   definitions.json: the management API's export of the vhosts
//	<snapshot>/manifest.json  every file with its size and sha256, every table and collection with its count (restore.Manifest)
//
// Each service's dumper (backup/mysql, backup/mongo, backup/rabbitmq) opens a
// Snapshot: a read-only, consistent view of some namespaces of one server,
// served as a restore.Source whose files are made when they are read. Write
// copies a Snapshot's files to a Destination (a local directory, or S3 with a
// streamed multipart upload, no local staging) and Run writes a whole
// snapshot with its manifest last, so a snapshot cut short is never taken
// for a complete one. The same Snapshot fed straight to a restore loader is
// termshift sync: a dump stream into a load stream, in process, no files.
package backup

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// Request is what every dumper is asked to snapshot.
type Request struct {
	// Names maps each namespace on the server (schema, database, vhost) to
	// its name in the snapshot: the environment's backup name, or itself.
	Names map[string]string
	// Threads is how many connections read at once (0 = the CPU count; at
	// most restore.MaxThreads).
	Threads int
	// ChunkRows is how many rows a MySQL data file holds at most when the
	// table can be cut on an integer primary key (0 = DefaultChunkRows).
	ChunkRows int64
	// Hash makes MySQL data files hash every row they stream, for a sync's
	// proof (Snapshot.Hashes).
	Hash bool
	// Archive writes each MongoDB database as one mongodump --archive file
	// (DB.archive) instead of a directory.
	Archive  bool
	Progress restore.Progress // may be nil
	Logger   *slog.Logger     // may be nil
}

// DefaultChunkRows is the rows per MySQL data file when Request.ChunkRows is 0.
const DefaultChunkRows = 100_000

// Log returns the request's logger, or one that discards.
func (r Request) Log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// Info describes a snapshot: where it stands and what it holds.
type Info struct {
	Service termshift.Service `json:"service"`
	// Server is the server's version string.
	Server string `json:"server"`
	// Taken is when the snapshot became consistent.
	Taken time.Time `json:"taken"`
	// Binlog is the MySQL binary log position (or GTID) of the snapshot;
	// nil when the server keeps no binary log.
	Binlog *restore.BinlogPosition `json:"binlog,omitempty"`
	// LockWait and LockHeld are how long MySQL's global read lock (FLUSH
	// TABLES WITH READ LOCK) was waited for and held while every
	// connection started its consistent snapshot.
	LockWait time.Duration `json:"lock_wait_ns,omitempty"`
	LockHeld time.Duration `json:"lock_held_ns,omitempty"`
	// Consistency says in words what the snapshot promises.
	Consistency string `json:"consistency"`
	// Objects are the tables, collections and kinds of definitions with
	// their counts taken inside the snapshot, under their snapshot names.
	Objects  []restore.ManifestObject `json:"objects"`
	Skipped  []restore.SkippedObject  `json:"skipped,omitempty"`
	Warnings []string                 `json:"warnings,omitempty"`
}

// Snapshot is a read-only view of some namespaces of one server, laid out
// as the service's directory of a backup snapshot. Its files are made when
// they are read: List is known at once, Open streams.
type Snapshot interface {
	restore.Source
	// Service is the snapshot's service: its directory in a backup.
	Service() termshift.Service
	// Info waits until the counts taken inside the snapshot are in, then
	// describes it.
	Info(ctx context.Context) (Info, error)
	// Changes compares the server now with the snapshot and lists what
	// differs (counts, AUTO_INCREMENT, last update, binary log position):
	// nil when nothing it can see changed.
	Changes(ctx context.Context) ([]string, error)
	// Close ends the snapshot and its connections.
	Close() error
}

// TableHash is a table's rows and an order-independent hash of them (the
// sum modulo 2^256 of each row's SHA-256), as a MySQL snapshot computes it
// inside the snapshot and over a copy.
type TableHash struct {
	Rows int64  `json:"rows"`
	Hash string `json:"hash"`
}

// Version is the termshift version recorded in manifests: the main
// module's version and VCS revision when the binary knows them.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			rev := s.Value
			if len(rev) > 12 {
				rev = rev[:12]
			}
			v += " " + rev
		}
		if s.Key == "vcs.modified" && s.Value == "true" {
			v += "+dirty"
		}
	}
	return v
}
