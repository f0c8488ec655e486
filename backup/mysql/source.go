package mysql

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// file is one file of the mydumper directory: fixed content read from the
// schema, a data file streamed from the snapshot, or the metadata, written
// when it is read.
type file struct {
	content  []byte
	table    *table
	chunk    int
	metadata bool
	etag     string
}

// layout names every file of the directory, as mydumper 0.10 does.
func (s *Snapshot) layout() {
	add := func(name string, f *file) {
		if f.etag == "" && f.content != nil {
			sum := sha256.Sum256(f.content)
			f.etag = hex.EncodeToString(sum[:8])
		}
		s.files[name] = f
	}
	// The metadata is written anew on each read: its fingerprint is its name.
	add("metadata", &file{metadata: true, etag: "metadata"})
	for _, sc := range s.schemas {
		add(sc.name+"-schema-create.sql", &file{content: []byte(sc.createDB)})
		if sc.post != nil {
			add(sc.name+"-schema-post.sql", &file{content: sc.post})
		}
		for _, t := range sc.tables {
			base := sc.name + "." + t.name
			add(base+"-schema.sql", &file{content: t.create})
			if t.triggers != nil {
				add(base+"-schema-triggers.sql", &file{content: t.triggers})
			}
			t.pending.Store(int64(len(t.chunks)))
			for i, c := range t.chunks {
				// The fingerprint a restore checkpoint keeps: a data file
				// of an unchanged table reads the same.
				sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%s\x00%d", c.file, c.where, t.autoIncrement.Int64, t.updated.String, len(t.chunks)))
				add(c.file, &file{table: t, chunk: i, etag: hex.EncodeToString(sum[:8])})
			}
		}
		for _, v := range sc.views {
			base := sc.name + "." + v.name
			add(base+"-schema.sql", &file{content: v.placeholder})
			add(base+"-schema-view.sql", &file{content: v.create})
		}
	}
	for n := range s.files {
		s.names = append(s.names, n)
	}
	sort.Strings(s.names)
}

// List implements restore.Source: every file is at the root.
func (s *Snapshot) List(_ context.Context, dir string) ([]restore.FileInfo, error) {
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir != "" {
		if f, ok := s.files[dir]; ok {
			return []restore.FileInfo{s.fileInfo(dir, f)}, nil
		}
		return nil, nil
	}
	out := make([]restore.FileInfo, 0, len(s.names))
	for _, n := range s.names {
		out = append(out, s.fileInfo(n, s.files[n]))
	}
	return out, nil
}

func (s *Snapshot) fileInfo(name string, f *file) restore.FileInfo {
	return restore.FileInfo{Name: name, Size: int64(len(f.content)), ModTime: s.info.Taken, ETag: f.etag}
}

// Open implements restore.Source. A data file streams from the snapshot
// through a pipe as the reader reads it; closing it early lets the
// snapshot connection read to the end of the file's rows, so the
// connection stays usable.
func (s *Snapshot) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	f, ok := s.files[name]
	if !ok {
		return nil, fmt.Errorf("open %s in %s: %w", name, s, termshift.ErrNotFound)
	}
	switch {
	case f.metadata:
		return io.NopCloser(bytes.NewReader(s.metadata())), nil
	case f.table == nil:
		return io.NopCloser(bytes.NewReader(f.content)), nil
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := s.writeData(ctx, f.table, f.chunk, pw)
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// WriteFile writes one file straight into w (backup.Write uses it instead
// of Open's pipe).
func (s *Snapshot) WriteFile(ctx context.Context, name string, w io.Writer) (int64, error) {
	f, ok := s.files[name]
	if !ok {
		return 0, fmt.Errorf("open %s in %s: %w", name, s, termshift.ErrNotFound)
	}
	switch {
	case f.metadata:
		n, err := w.Write(s.metadata())
		return int64(n), err
	case f.table == nil:
		n, err := w.Write(f.content)
		return int64(n), err
	}
	return s.writeData(ctx, f.table, f.chunk, w)
}

// metadata is mydumper 0.10's metadata file: the start, the binary log
// position of the snapshot, and the finish line, written when it is read
// (last, by backup.Write).
func (s *Snapshot) metadata() []byte {
	const layout = "2006-01-02 15:04:05"
	var b bytes.Buffer
	fmt.Fprintf(&b, "Started dump at: %s\n", s.started.Format(layout))
	if p := s.info.Binlog; p != nil {
		fmt.Fprintf(&b, "SHOW MASTER STATUS:\n\tLog: %s\n\tPos: %d\n\tGTID:%s\n\n", p.File, p.Position, p.GTID)
	}
	fmt.Fprintf(&b, "Finished dump at: %s\n", time.Now().Format(layout))
	return b.Bytes()
}
