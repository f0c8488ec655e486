package restore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/termshift/termshift"
)

// Snapshot is one backup set inside a Source.
type Snapshot struct {
	// ID is the snapshot's directory under the source root, or "." when the
	// root itself is the snapshot.
	ID string
	// Time is parsed from the ID when it is a timestamp, else the newest
	// file's modification time.
	Time time.Time
	// Services lists which of mysql, mongo and rabbitmq the snapshot holds,
	// in that order.
	Services []string
	Bytes    int64
	Files    int
	// Manifest: the snapshot holds a manifest (ManifestName), which proves
	// it complete once verified. Partial: it holds PartialMarker and no
	// manifest: a termshift backup that did not finish (killed, or still
	// running), never picked as the newest.
	Manifest bool
	Partial  bool
}

// PartialMarker is the file a termshift backup writes at a snapshot's root
// before anything else and removes after its manifest: a snapshot holding
// it and no manifest is not complete.
const PartialMarker = "termshift-backup.partial"

// snapshotServices are the directories that make a directory a snapshot.
var snapshotServices = []string{string(termshift.MySQL), string(termshift.MongoDB), string(termshift.RabbitMQ)}

// snapshotTimeLayouts are the timestamp forms backup jobs name their
// directories with; the first that parses the whole ID wins.
var snapshotTimeLayouts = []string{
	time.RFC3339,           // 2026-11-20T02:00:00Z
	"2006-01-02T15-04-05Z", // RFC 3339 with the colons a file system may refuse
	"20060102T150405Z",
	"20060102T1504Z", // 20261120T0200Z
	"2006-01-02_15-04-05",
	"2006-01-02",
	"20060102",
}

func isSnapshotService(dir string) bool {
	for _, s := range snapshotServices {
		if dir == s {
			return true
		}
	}
	return false
}

// Snapshots lists the snapshots of src, newest first. A snapshot is an
// immediate subdirectory of the root that holds mysql/, mongo/ or
// rabbitmq/; when the root itself holds them it is the only snapshot, ".".
func Snapshots(ctx context.Context, src Source) ([]Snapshot, error) {
	files, err := src.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list snapshots in %s: %w", src, err)
	}
	type acc struct {
		snap     Snapshot
		services map[string]bool
		newest   time.Time
	}
	byID := map[string]*acc{}
	var subdirFiles = map[string][]FileInfo{}
	// Manifests and partial markers, by snapshot ID ("." for the root).
	marks := map[string]map[string]bool{}
	mark := func(id, name string) {
		if name == ManifestName || name == PartialMarker {
			if marks[id] == nil {
				marks[id] = map[string]bool{}
			}
			marks[id][name] = true
		}
	}
	markRoot := func(name string) { mark(".", name) }
	markSub := func(id, name string) { mark(id, name) }
	for _, f := range files {
		parts := strings.Split(f.Name, "/")
		var id, svc string
		switch {
		case len(parts) >= 2 && isSnapshotService(parts[0]):
			id, svc = ".", parts[0]
		case len(parts) >= 3 && isSnapshotService(parts[1]):
			id, svc = parts[0], parts[1]
		}
		if len(parts) >= 2 {
			subdirFiles[parts[0]] = append(subdirFiles[parts[0]], f)
		}
		switch {
		case len(parts) == 1:
			markRoot(f.Name)
		case len(parts) == 2:
			markSub(parts[0], parts[1])
		}
		if id == "" {
			continue
		}
		a := byID[id]
		if a == nil {
			a = &acc{snap: Snapshot{ID: id}, services: map[string]bool{}}
			byID[id] = a
		}
		a.services[svc] = true
		if id == "." {
			// Only the service trees belong to a root snapshot.
			a.snap.Files++
			a.snap.Bytes += f.Size
			if f.ModTime.After(a.newest) {
				a.newest = f.ModTime
			}
		}
	}
	out := make([]Snapshot, 0, len(byID))
	for id, a := range byID {
		if id != "." {
			// Everything in a snapshot's directory is part of it (checksums,
			// manifests), not only the service trees.
			for _, f := range subdirFiles[id] {
				a.snap.Files++
				a.snap.Bytes += f.Size
				if f.ModTime.After(a.newest) {
					a.newest = f.ModTime
				}
			}
		}
		for _, s := range snapshotServices {
			if a.services[s] {
				a.snap.Services = append(a.snap.Services, s)
			}
		}
		a.snap.Time = a.newest
		a.snap.Manifest = marks[id][ManifestName]
		a.snap.Partial = marks[id][PartialMarker] && !a.snap.Manifest
		if t, ok := parseSnapshotTime(id); ok {
			a.snap.Time = t
		}
		out = append(out, a.snap)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.After(out[j].Time)
		}
		return out[i].ID > out[j].ID
	})
	return out, nil
}

func parseSnapshotTime(id string) (time.Time, bool) {
	for _, layout := range snapshotTimeLayouts {
		if t, err := time.Parse(layout, id); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// OpenSnapshot returns the snapshot id of src as a Source rooted at the
// snapshot, and its description. An empty id picks the newest that is not
// Partial.
func OpenSnapshot(ctx context.Context, src Source, id string) (Source, Snapshot, error) {
	snaps, err := Snapshots(ctx, src)
	if err != nil {
		return nil, Snapshot{}, err
	}
	if len(snaps) == 0 {
		return nil, Snapshot{}, fmt.Errorf("no backup snapshot in %s: expected directories holding mysql/, mongo/ or rabbitmq/: %w", src, termshift.ErrNotFound)
	}
	if id == "" {
		for _, s := range snaps {
			if !s.Partial {
				return snapshotSource(src, s), s, nil
			}
		}
		return nil, Snapshot{}, fmt.Errorf("no complete backup snapshot in %s: every one is a termshift backup that did not finish (%s without %s): %w", src, PartialMarker, ManifestName, termshift.ErrNotFound)
	}
	ids := make([]string, 0, len(snaps))
	for _, s := range snaps {
		if s.ID == strings.Trim(id, "/") {
			return snapshotSource(src, s), s, nil
		}
		ids = append(ids, termshift.Quote(s.ID))
	}
	return nil, Snapshot{}, fmt.Errorf("backup snapshot %s not in %s (available, newest first: %s): %w",
		termshift.Quote(id), src, strings.Join(ids, ", "), termshift.ErrNotFound)
}

func snapshotSource(src Source, s Snapshot) Source {
	if s.ID == "." {
		return src
	}
	return Sub{Source: src, Dir: s.ID}
}
