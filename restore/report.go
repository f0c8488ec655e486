package restore

import "time"

// ObjectReport is the proof for one table or collection: what the backup
// held (counted while reading it) against what the target holds after
// loading.
type ObjectReport struct {
	Name     string  `json:"name"`
	Expected int64   `json:"expected"` // rows or documents read from the backup
	Loaded   int64   `json:"loaded"`   // rows or documents counted in the target afterwards
	Bytes    int64   `json:"bytes"`    // backup bytes read (uncompressed)
	Seconds  float64 `json:"seconds"`
	// Hash is an order-independent hash of the documents read from the
	// backup and HashLoaded that of the documents read back (MongoDB).
	Hash       string `json:"hash,omitempty"`
	HashLoaded string `json:"hash_loaded,omitempty"`
	Skipped    bool   `json:"skipped,omitempty"` // finished by an earlier run (--resume)
}

// OK reports whether the object's proof holds.
func (o ObjectReport) OK() bool { return o.Expected == o.Loaded && o.Hash == o.HashLoaded }

// Report is what one restore of one namespace did.
type Report struct {
	Service  string         `json:"service"`
	Source   string         `json:"source"`
	Format   string         `json:"format"` // mydumper, mysqldump, mongodump, archive, definitions
	From     string         `json:"from"`
	To       string         `json:"to"`
	Objects  []ObjectReport `json:"objects"`
	Started  time.Time      `json:"started"`
	Seconds  float64        `json:"seconds"`
	Warnings []string       `json:"warnings,omitempty"`
}

// OK reports whether every object's proof holds.
func (r *Report) OK() bool {
	for _, o := range r.Objects {
		if !o.OK() {
			return false
		}
	}
	return true
}

// Totals sums rows or documents and bytes over all objects.
func (r *Report) Totals() (expected, loaded, bytes int64) {
	for _, o := range r.Objects {
		expected += o.Expected
		loaded += o.Loaded
		bytes += o.Bytes
	}
	return expected, loaded, bytes
}

// Event is progress on one table or collection, for progress bars.
type Event struct {
	Object     string
	Rows       int64
	Bytes      int64
	TotalBytes int64 // 0 when unknown (S3 stream of unknown size, gzip)
	Done       bool
}

// Progress receives events; it must be safe for concurrent use and fast.
type Progress func(Event)
