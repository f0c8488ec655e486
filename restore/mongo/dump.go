package mongo

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// Prelude is a dump directory's prelude.json.
type Prelude struct {
	ServerVersion string `json:"ServerVersion"`
	ToolVersion   string `json:"ToolVersion"`
}

// DumpCollection is one collection's files in a dump directory. Either file
// may be missing; Restore refuses that for the database it loads.
type DumpCollection struct {
	Database   string // decoded from the directory name (or the dump's own name)
	Collection string // percent-decoded from the file name
	Data       string // source name of COLL.bson or COLL.bson.gz, "" if absent
	DataSize   int64  // bytes on disk (compressed when gzipped)
	Metadata   string // source name of COLL.metadata.json[.gz], "" if absent
}

// Dump is the layout of a mongodump output directory.
type Dump struct {
	Path string
	// SingleDatabase: Path is one database's directory (COLL.bson files at
	// its top), named after the directory.
	SingleDatabase bool
	Prelude        *Prelude // nil without prelude.json
	Collections    []DumpCollection
}

// Databases lists the databases of the dump, sorted.
func (d *Dump) Databases() []string {
	var out []string
	for _, c := range d.Collections {
		if len(out) == 0 || out[len(out)-1] != c.Database {
			out = append(out, c.Database)
		}
	}
	return out
}

// Collection returns the files of one collection.
func (d *Dump) Collection(db, coll string) (DumpCollection, bool) {
	for _, c := range d.Collections {
		if c.Database == db && c.Collection == coll {
			return c, true
		}
	}
	return DumpCollection{}, false
}

// dumpFileKind classifies a file name: its stem and whether it is data or
// metadata.
func dumpFileKind(base string) (stem string, data, meta bool) {
	for _, suffix := range []string{".bson.gz", ".bson"} {
		if s, ok := strings.CutSuffix(base, suffix); ok && s != "" {
			return s, true, false
		}
	}
	for _, suffix := range []string{".metadata.json.gz", ".metadata.json"} {
		if s, ok := strings.CutSuffix(base, suffix); ok && s != "" {
			return s, false, true
		}
	}
	return "", false, false
}

// ScanDump lists a mongodump output directory at dir inside src: either a
// dump root (DB/COLL.bson, prelude.json) or one database's directory.
func ScanDump(ctx context.Context, src restore.Source, dir string) (*Dump, error) {
	dir = cleanDir(dir)
	files, err := src.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	d := &Dump{Path: dir}
	type rel struct {
		restore.FileInfo
		rel string
	}
	var top, nested []rel
	for _, f := range files {
		r, ok := strings.CutPrefix(f.Name, prefix)
		if !ok {
			continue
		}
		if strings.Contains(r, "/") {
			nested = append(nested, rel{f, r})
			continue
		}
		top = append(top, rel{f, r})
		if _, data, meta := dumpFileKind(r); (data || meta) && r != "oplog.bson" {
			d.SingleDatabase = true
		}
	}
	byKey := map[[2]string]*DumpCollection{}
	add := func(db string, f rel, base string) error {
		stem, data, meta := dumpFileKind(base)
		if !data && !meta {
			return nil
		}
		coll, err := url.PathUnescape(stem)
		if err != nil {
			return fmt.Errorf("scan %s: file %s: collection name is not valid percent-encoding: %w", src, f.Name, termshift.ErrInvalid)
		}
		k := [2]string{db, coll}
		c := byKey[k]
		if c == nil {
			c = &DumpCollection{Database: db, Collection: coll}
			byKey[k] = c
		}
		slot := &c.Metadata
		if data {
			slot = &c.Data
			c.DataSize = f.Size
		}
		if *slot != "" {
			return fmt.Errorf("scan %s: both %s and %s hold collection %s of database %s: %w", src, *slot, f.Name, termshift.Quote(coll), termshift.Quote(db), termshift.ErrInvalid)
		}
		*slot = f.Name
		return nil
	}
	if d.SingleDatabase {
		name := path.Base(dir)
		if dir == "" {
			name = path.Base(strings.ReplaceAll(strings.TrimSuffix(src.String(), "/"), "\\", "/"))
		}
		db, err := url.PathUnescape(name)
		if err != nil {
			return nil, fmt.Errorf("scan %s: database directory %s is not valid percent-encoding: %w", src, name, termshift.ErrInvalid)
		}
		for _, f := range top {
			if err := add(db, f, f.rel); err != nil {
				return nil, err
			}
		}
	} else {
		for _, f := range top {
			if f.rel == "prelude.json" || f.rel == "prelude.json.gz" {
				data, err := readSmall(ctx, src, f.Name)
				if err != nil {
					return nil, err
				}
				var p Prelude
				if err := json.Unmarshal(data, &p); err != nil {
					return nil, &FormatError{File: f.Name, Msg: "decode prelude", Err: err}
				}
				d.Prelude = &p
			}
		}
		for _, f := range nested {
			dbDir, base, _ := strings.Cut(f.rel, "/")
			if strings.Contains(base, "/") {
				continue // deeper than DB/COLL: not part of a dump
			}
			db, err := url.PathUnescape(dbDir)
			if err != nil {
				return nil, fmt.Errorf("scan %s: database directory %s is not valid percent-encoding: %w", src, dbDir, termshift.ErrInvalid)
			}
			if err := add(db, f, base); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range byKey {
		d.Collections = append(d.Collections, *c)
	}
	sort.Slice(d.Collections, func(i, j int) bool {
		a, b := d.Collections[i], d.Collections[j]
		if a.Database != b.Database {
			return a.Database < b.Database
		}
		return a.Collection < b.Collection
	})
	return d, nil
}

func cleanDir(dir string) string {
	dir = path.Clean("/" + strings.ReplaceAll(dir, "\\", "/"))
	return strings.TrimPrefix(dir, "/")
}

// maxMetadataBytes bounds metadata and prelude files, read whole.
const maxMetadataBytes = 16 * 1024 * 1024

// readSmall reads a metadata or prelude file, gunzipping .gz.
func readSmall(ctx context.Context, src restore.Source, name string) ([]byte, error) {
	rc, err := openStream(ctx, src, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxMetadataBytes+1))
	if err != nil {
		return nil, &FormatError{File: name, Offset: int64(len(data)), Msg: "read", Err: err}
	}
	if len(data) > maxMetadataBytes {
		return nil, &FormatError{File: name, Offset: maxMetadataBytes, Msg: fmt.Sprintf("larger than %d bytes", maxMetadataBytes)}
	}
	return data, nil
}

// openStream opens a file of the source, decompressed when its name ends in
// .gz.
func openStream(ctx context.Context, src restore.Source, name string) (io.ReadCloser, error) {
	rc, err := src.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(name, ".gz") {
		return readCloser{bufio.NewReaderSize(rc, 256<<10), rc}, nil
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(rc, 256<<10))
	if err != nil {
		rc.Close()
		return nil, &FormatError{File: name, Offset: 0, Msg: "read gzip header", Err: err}
	}
	return readCloser{zr, rc}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
