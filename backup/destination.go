package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// Destination is where one snapshot is written: a directory on disk or a
// prefix of an S3 bucket. Names are slash-separated and relative to the
// snapshot's root.
type Destination interface {
	// Create starts a file; it is whole once Close returned nil, and gone
	// (or never visible) after Abort.
	Create(ctx context.Context, name string) (File, error)
	// List returns the files the snapshot holds now.
	List(ctx context.Context) ([]restore.FileInfo, error)
	// Remove deletes one file; a missing file is no error.
	Remove(ctx context.Context, name string) error
	// Clear deletes everything the snapshot holds.
	Clear(ctx context.Context) error
	// String names the snapshot: a path or s3://bucket/prefix/ID.
	String() string
}

// File is a file being written.
type File interface {
	io.Writer
	// Close finishes the file: flushed and synced to disk, or the upload
	// completed.
	Close() error
	// Abort drops the file after a failure.
	Abort(err error)
}

// OpenDestination returns the destination of snapshot id under uri: a local
// directory (created when missing) or s3://bucket/prefix reached with
// opts.
func OpenDestination(ctx context.Context, uri, id string, opts restore.S3Options) (Destination, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if rest, ok := strings.CutPrefix(uri, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return nil, fmt.Errorf("backup destination %q: no bucket after s3://: %w", uri, termshift.ErrInvalid)
		}
		s3, err := restore.NewS3(ctx, bucket, path.Join(strings.Trim(prefix, "/"), id), opts)
		if err != nil {
			return nil, err
		}
		return &S3{s3: s3}, nil
	}
	if uri == "" {
		return nil, fmt.Errorf("backup destination: empty path: %w", termshift.ErrInvalid)
	}
	if fi, err := os.Stat(uri); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("backup destination %s: not a directory: %w", uri, termshift.ErrInvalid)
	}
	return &Dir{Root: filepath.Join(uri, id)}, nil
}

// ValidateID refuses a snapshot ID that is not one plain path element.
func ValidateID(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\\\x00") || strings.TrimSpace(id) != id {
		return fmt.Errorf("snapshot ID %s: want one path element (e.g. 2026-11-20T02:00:00Z): %w", termshift.Quote(id), termshift.ErrInvalid)
	}
	return nil
}

// Dir is a snapshot in a local directory.
type Dir struct {
	Root string
}

var _ Destination = (*Dir)(nil)

func (d *Dir) String() string { return d.Root }

// Create implements Destination.
func (d *Dir) Create(_ context.Context, name string) (File, error) {
	if !fs.ValidPath(name) {
		return nil, fmt.Errorf("create %q: not a clean relative path: %w", name, termshift.ErrInvalid)
	}
	full := filepath.Join(d.Root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", full, err)
	}
	f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", full, err)
	}
	return &dirFile{f: f}, nil
}

type dirFile struct {
	f *os.File
}

func (f *dirFile) Write(p []byte) (int, error) { return f.f.Write(p) }

func (f *dirFile) Close() error {
	serr := f.f.Sync()
	cerr := f.f.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("close %s: %w", f.f.Name(), err)
	}
	return nil
}

func (f *dirFile) Abort(error) {
	f.f.Close()
	_ = os.Remove(f.f.Name())
}

// List implements Destination.
func (d *Dir) List(ctx context.Context) ([]restore.FileInfo, error) {
	return restore.Dir{Root: d.Root}.List(ctx, "")
}

// Remove implements Destination.
func (d *Dir) Remove(_ context.Context, name string) error {
	err := os.Remove(filepath.Join(d.Root, filepath.FromSlash(name)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// Clear implements Destination.
func (d *Dir) Clear(context.Context) error {
	if err := os.RemoveAll(d.Root); err != nil {
		return fmt.Errorf("clear %s: %w", d.Root, err)
	}
	return nil
}

// S3 is a snapshot under a prefix of an S3 bucket. Every file streams up
// as it is made (restore.S3.Put: one part in memory at a time, multipart
// above one part); nothing is staged on disk.
type S3 struct {
	s3 *restore.S3
}

var _ Destination = (*S3)(nil)

func (s *S3) String() string { return s.s3.String() }

// Create implements Destination: the body is piped into an upload that
// runs while the file is written.
func (s *S3) Create(ctx context.Context, name string) (File, error) {
	if !fs.ValidPath(name) {
		return nil, fmt.Errorf("create %q: not a clean relative path: %w", name, termshift.ErrInvalid)
	}
	pr, pw := io.Pipe()
	f := &s3File{pw: pw, done: make(chan error, 1)}
	go func() {
		err := s.s3.Put(ctx, name, pr)
		pr.CloseWithError(err) // unblocks a writer when the upload failed
		f.done <- err
	}()
	return f, nil
}

type s3File struct {
	pw   *io.PipeWriter
	done chan error
}

func (f *s3File) Write(p []byte) (int, error) { return f.pw.Write(p) }

func (f *s3File) Close() error {
	f.pw.Close()
	return <-f.done
}

func (f *s3File) Abort(err error) {
	if err == nil {
		err = errors.New("backup aborted")
	}
	f.pw.CloseWithError(err) // Put fails and aborts its multipart upload
	<-f.done
}

// List implements Destination.
func (s *S3) List(ctx context.Context) ([]restore.FileInfo, error) { return s.s3.List(ctx, "") }

// Remove implements Destination.
func (s *S3) Remove(ctx context.Context, name string) error { return s.s3.Remove(ctx, name) }

// Clear implements Destination.
func (s *S3) Clear(ctx context.Context) error {
	_, err := s.s3.Delete(ctx, "")
	return err
}
