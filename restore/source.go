// Package restore reads backup snapshots (on disk or in S3) in the formats
// production tools write and loads them, renamed, into a release's
// namespaces with proof of integrity. The format readers and loaders live in
// subpackages: restore/mysql, restore/mongo, restore/rabbitmq; scrubbing in
// restore/scrub. Every loader has one entry point, Load(ctx, src, path,
// Request), and passes the conformance suite in restore/restoretest.
//
// A snapshot is one night's backup set laid out as:
//
//	<snapshot>/mysql/      a mydumper output directory, or mysqldump files NAME.sql[.gz]
//	<snapshot>/mongo/      a mongodump output directory (DB/COLL.bson[.gz]), or DB.archive[.gz]
//	<snapshot>/rabbitmq/   definitions.json[.gz] (management API or rabbitmqctl export_definitions)
//	<snapshot>/manifest.json  termshift's own snapshots: files with sha256, counts (see Manifest)
package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/termshift/termshift"
)

// Source is a tree of backup files: a local directory or an S3 prefix. Names
// are slash-separated and relative to the source's root.
type Source interface {
	// List returns the files under dir (recursively), sorted by name. A
	// missing dir is an empty list, not an error.
	List(ctx context.Context, dir string) ([]FileInfo, error)
	// Open streams one file. A missing file is an error wrapping
	// termshift.ErrNotFound that names it.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// String names the source for messages: a path or s3://bucket/prefix.
	String() string
}

// FileInfo describes one file of a Source.
type FileInfo struct {
	Name    string // slash-separated, relative to the source root
	Size    int64
	ModTime time.Time
	// ETag is the S3 object's entity tag ("" on disk): with Size it tells
	// whether an object was replaced in place.
	ETag string
}

// Dir is a Source on the local file system.
type Dir struct {
	Root string
}

var _ Source = Dir{}

func (d Dir) String() string { return d.Root }

// List implements Source.
func (d Dir) List(ctx context.Context, dir string) ([]FileInfo, error) {
	base := filepath.Join(d.Root, filepath.FromSlash(dir))
	var out []FileInfo
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == base {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(d.Root, p)
		if err != nil {
			return err
		}
		out = append(out, FileInfo{Name: filepath.ToSlash(rel), Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", base, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Open implements Source.
func (d Dir) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !fs.ValidPath(name) {
		return nil, fmt.Errorf("open %q: not a clean relative path inside the source: %w", name, termshift.ErrInvalid)
	}
	full := filepath.Join(d.Root, filepath.FromSlash(name))
	f, err := os.Open(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open %s: %w", full, termshift.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open backup file: %w", err)
	}
	return f, nil
}

// Sub is a Source restricted to a subdirectory of another.
type Sub struct {
	Source Source
	Dir    string
}

var _ Source = Sub{}

func (s Sub) String() string { return strings.TrimSuffix(s.Source.String(), "/") + "/" + s.Dir }

// List implements Source.
func (s Sub) List(ctx context.Context, dir string) ([]FileInfo, error) {
	files, err := s.Source.List(ctx, path.Join(s.Dir, dir))
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(s.Dir, "/") + "/"
	for i := range files {
		files[i].Name = strings.TrimPrefix(files[i].Name, prefix)
	}
	return files, nil
}

// Open implements Source.
func (s Sub) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return s.Source.Open(ctx, path.Join(s.Dir, name))
}
