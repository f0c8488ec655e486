package restore

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/termshift/termshift"
)

// ObjectReport is the proof for one table, collection or kind of
// definition: what the backup holds against what the target holds after
// loading.
type ObjectReport struct {
	Name string `json:"name"`
	// Expected is what the target must hold: the count a record of the
	// backup gives (a manifest, mydumper's metadata) when there is one, else
	// what was read from the backup.
	Expected int64 `json:"expected"`
	// Read is the rows or documents read from the backup, when they differ
	// from Expected or Expected came from a record of the backup.
	Read    int64   `json:"read,omitempty"`
	Loaded  int64   `json:"loaded"` // rows or documents counted in the target afterwards
	Bytes   int64   `json:"bytes"`  // backup bytes read (uncompressed)
	Seconds float64 `json:"seconds"`
	// Hash is an order-independent hash of the documents read from the
	// backup and HashLoaded that of the documents read back (MongoDB).
	Hash       string `json:"hash,omitempty"`
	HashLoaded string `json:"hash_loaded,omitempty"`
	Skipped    bool   `json:"skipped,omitempty"` // finished by an earlier run (--resume)
}

// OK reports whether the object's proof holds.
func (o ObjectReport) OK() bool { return o.Expected == o.Loaded && o.Hash == o.HashLoaded }

// Completeness says whether the backup itself is known to be whole: a
// backup cut short proves nothing by counting what it holds.
type Completeness struct {
	Proven bool `json:"proven"`
	// Evidence is what proves it, e.g. "mysqldump trailer '-- Dump
	// completed on 2026-11-20 02:00:01'" or "manifest.json: 14 files,
	// sha256 and counts".
	Evidence string `json:"evidence,omitempty"`
	// Missing is why it is not proven, in words an operator understands.
	Missing string `json:"missing,omitempty"`
}

// Proven returns a proven Completeness.
func Proven(evidence string) Completeness { return Completeness{Proven: true, Evidence: evidence} }

// Unproven returns a Completeness that is not proven, for the reason given.
func Unproven(missing string) Completeness { return Completeness{Missing: missing} }

// SkippedObject is an object of the backup deliberately not restored.
type SkippedObject struct {
	Kind   string `json:"kind"` // queue, exchange, collection, table
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Report is what one restore of one namespace did.
type Report struct {
	Service      string          `json:"service"`
	Source       string          `json:"source"`
	Format       string          `json:"format"` // mydumper, mysqldump, mongodump, archive, definitions
	From         string          `json:"from"`
	To           string          `json:"to"`
	Objects      []ObjectReport  `json:"objects"`
	Completeness Completeness    `json:"completeness"`
	Skipped      []SkippedObject `json:"skipped,omitempty"`
	Started      time.Time       `json:"started"`
	Seconds      float64         `json:"seconds"`
	Warnings     []string        `json:"warnings,omitempty"`
}

// OK reports whether every object's proof holds: counts and hashes. Whether
// the backup itself was complete is Completeness.
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

// ExpectCounts makes a record of the backup (a manifest, mydumper's
// metadata), named by record, the judge of each object's proof: every
// object it counts gets that count as Expected (what was read stays in
// Read), and an object it counts that the load never met is added with
// nothing loaded, so the proof fails naming it. Objects the record does not
// count keep what was read, with a warning. Objects are left sorted by
// name.
func (r *Report) ExpectCounts(record string, counts map[string]int64) {
	seen := map[string]bool{}
	for i := range r.Objects {
		o := &r.Objects[i]
		seen[o.Name] = true
		n, ok := counts[o.Name]
		if !ok {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s gives no count for %s: its proof is the rows read", record, termshift.Quote(o.Name)))
			continue
		}
		if o.Read == 0 {
			o.Read = o.Expected
		}
		o.Expected = n
		if o.Read != n {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %s holds %d according to %s, %d were read from the backup", r.Source, termshift.Quote(o.Name), n, record, o.Read))
		}
	}
	for name, n := range counts {
		if !seen[name] {
			r.Objects = append(r.Objects, ObjectReport{Name: name, Expected: n})
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s counts %d in %s, which the backup does not hold", record, n, termshift.Quote(name)))
		}
	}
	sort.Slice(r.Objects, func(i, j int) bool { return r.Objects[i].Name < r.Objects[j].Name })
}

// Gaps describes every object whose proof does not hold, for an error.
func (r *Report) Gaps() string {
	var gaps []string
	for _, o := range r.Objects {
		switch {
		case o.Expected != o.Loaded:
			gaps = append(gaps, fmt.Sprintf("%s: %d expected, %d loaded", termshift.Quote(o.Name), o.Expected, o.Loaded))
		case o.Hash != o.HashLoaded:
			gaps = append(gaps, fmt.Sprintf("%s: hash of what was read %s, of what was loaded %s", termshift.Quote(o.Name), o.Hash, o.HashLoaded))
		}
	}
	return strings.Join(gaps, "; ")
}

// Units of Event.Count.
const (
	UnitRows      = "rows"
	UnitDocuments = "documents"
	UnitObjects   = "objects"
)

// Event is progress on one table, collection or kind of definition, for
// progress bars.
type Event struct {
	Object string
	Unit   string // UnitRows, UnitDocuments or UnitObjects
	Count  int64  // rows, documents or objects done so far
	Total  int64  // the Count expected at the end; 0 when unknown
	// Bytes and TotalBytes are backup bytes read (uncompressed) and the
	// object's total; TotalBytes is 0 when unknown (gzip, S3 of unknown
	// size) and both are 0 where bytes mean nothing (RabbitMQ).
	Bytes      int64
	TotalBytes int64
	Done       bool // the object is finished: Count is final
}

// Progress receives events; it must be safe for concurrent use and fast.
type Progress func(Event)

// Send calls p with ev; a nil Progress drops it.
func (p Progress) Send(ev Event) {
	if p != nil {
		p(ev)
	}
}
