package backup

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// Compression of the files that are compressed (MySQL .sql files, every
// MongoDB file; RabbitMQ definitions stay plain).
const (
	CompressNone = "none"
	CompressGzip = "gzip"
)

// Options configures Run.
type Options struct {
	// Compress is CompressNone (or "") or CompressGzip.
	Compress string
	// Threads is how many files are written at once (0 = the CPU count).
	Threads int
	// Command names what writes the snapshot, for its partial marker.
	Command string
	Now     func() time.Time
}

// ServiceReport is what one service's snapshot put in the backup.
type ServiceReport struct {
	Info    Info    `json:"info"`
	Files   int     `json:"files"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

// Report is what Run wrote.
type Report struct {
	Snapshot string          `json:"snapshot"` // where: a path or s3://bucket/prefix/ID
	Services []ServiceReport `json:"services"`
	Files    int             `json:"files"` // the manifest included
	Bytes    int64           `json:"bytes"`
	Seconds  float64         `json:"seconds"`
	// Cleared is set when the destination held a partial snapshot (a
	// killed backup's) that was removed before writing again.
	Cleared bool `json:"cleared,omitempty"`
}

// partialInfo is the content of restore.PartialMarker.
type partialInfo struct {
	Started time.Time `json:"started"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Command string    `json:"command,omitempty"`
}

// Run writes a whole snapshot at dst: restore.PartialMarker first, then each
// service's files under its directory (mysql/, mongo/, rabbitmq/), then the
// manifest, then it removes the marker. A snapshot without a manifest is
// never complete: restore refuses to pick it as the newest and `backups
// list` shows it as partial. A destination that holds a complete snapshot
// is refused (termshift.ErrRefused); one that holds a partial one (a killed
// backup) is cleared and written again from the start; one that holds
// files termshift did not write is refused. The snapshots are not closed.
func Run(ctx context.Context, dst Destination, snaps []Snapshot, opts Options) (*Report, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	switch opts.Compress {
	case "", CompressNone, CompressGzip:
	default:
		return nil, fmt.Errorf("compression %s: want %s or %s: %w", termshift.Quote(opts.Compress), CompressNone, CompressGzip, termshift.ErrInvalid)
	}
	if len(snaps) == 0 {
		return nil, fmt.Errorf("backup to %s: nothing to back up: %w", dst, termshift.ErrInvalid)
	}
	start := opts.Now()
	rep := &Report{Snapshot: dst.String()}
	cleared, err := prepare(ctx, dst)
	if err != nil {
		return nil, err
	}
	rep.Cleared = cleared
	host, _ := os.Hostname()
	marker, _ := json.Marshal(partialInfo{Started: start.UTC(), Host: host, PID: os.Getpid(), Command: opts.Command})
	if err := writeSmall(ctx, dst, restore.PartialMarker, marker); err != nil {
		return nil, err
	}
	m := &restore.Manifest{Format: restore.ManifestFormat, TermshiftVersion: Version(), Servers: map[string]string{}}
	for _, snap := range snaps {
		t0 := opts.Now()
		svc := snap.Service()
		files, err := Write(ctx, snap, dst, string(svc), opts)
		if err != nil {
			return rep, fmt.Errorf("back up %s to %s: %w", svc, dst, err)
		}
		// Counts are final once every file was read.
		info, err := snap.Info(ctx)
		if err != nil {
			return rep, fmt.Errorf("back up %s to %s: %w", svc, dst, err)
		}
		sr := ServiceReport{Info: info, Files: len(files), Seconds: opts.Now().Sub(t0).Seconds()}
		for _, f := range files {
			sr.Bytes += f.Size
		}
		m.Files = append(m.Files, files...)
		m.Objects = append(m.Objects, info.Objects...)
		m.Servers[string(info.Service)] = info.Server
		if info.Binlog != nil {
			m.MySQLBinlog = info.Binlog
		}
		rep.Services = append(rep.Services, sr)
		rep.Files += sr.Files
		rep.Bytes += sr.Bytes
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	m.CreatedAt = opts.Now().UTC()
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return rep, fmt.Errorf("encode %s: %w", restore.ManifestName, err)
	}
	if err := writeSmall(ctx, dst, restore.ManifestName, append(data, '\n')); err != nil {
		return rep, err
	}
	if err := dst.Remove(ctx, restore.PartialMarker); err != nil {
		return rep, fmt.Errorf("the snapshot is complete, but its partial marker stays: %w", err)
	}
	rep.Files++
	rep.Bytes += int64(len(data) + 1)
	rep.Seconds = opts.Now().Sub(start).Seconds()
	return rep, nil
}

// prepare refuses a destination holding a complete snapshot or files that
// are not a termshift backup's, and clears a partial one.
func prepare(ctx context.Context, dst Destination) (cleared bool, err error) {
	files, err := dst.List(ctx)
	if err != nil {
		return false, fmt.Errorf("inspect backup destination %s: %w", dst, err)
	}
	if len(files) == 0 {
		return false, nil
	}
	var partial bool
	for _, f := range files {
		switch f.Name {
		case restore.ManifestName:
			return false, termshift.WithHint(fmt.Errorf("backup destination %s already holds a complete snapshot (%s): %w", dst, restore.ManifestName, termshift.ErrRefused),
				"choose another --id, or remove that snapshot first")
		case restore.PartialMarker:
			partial = true
		}
	}
	if !partial {
		return false, termshift.WithHint(fmt.Errorf("backup destination %s holds %d files (e.g. %s) that no termshift backup wrote: %w", dst, len(files), files[0].Name, termshift.ErrRefused),
			"choose another --id or an empty destination")
	}
	if err := dst.Clear(ctx); err != nil {
		return false, fmt.Errorf("remove the partial snapshot a killed backup left in %s: %w", dst, err)
	}
	return true, nil
}

func writeSmall(ctx context.Context, dst Destination, name string, data []byte) error {
	f, err := dst.Create(ctx, name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort(err)
		return fmt.Errorf("write %s in %s: %w", name, dst, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s in %s: %w", name, dst, err)
	}
	return nil
}

// writerTo is a Snapshot that writes a file straight into w, without the
// pipe Open needs.
type writerTo interface {
	WriteFile(ctx context.Context, name string, w io.Writer) (int64, error)
}

// lastFiles are written after every other file of their directory: their
// presence says, to tools that know no manifest, that the dump finished
// (mydumper's metadata).
var lastFiles = map[string]bool{"metadata": true}

// Write copies every file of snap to dst under dir, opts.Threads at once,
// compressing the files that are compressed, and returns each file with its
// size and sha256 as written. Files named "metadata" go last.
func Write(ctx context.Context, snap Snapshot, dst Destination, dir string, opts Options) ([]restore.ManifestFile, error) {
	files, err := snap.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var first, last []string
	for _, f := range files {
		if lastFiles[f.Name] {
			last = append(last, f.Name)
		} else {
			first = append(first, f.Name)
		}
	}
	threads := opts.Threads
	if threads < 1 {
		threads = runtime.NumCPU()
	}
	threads = min(threads, restore.MaxThreads)
	var out []restore.ManifestFile
	for _, batch := range [][]string{first, last} {
		got, err := writeAll(ctx, snap, dst, dir, batch, opts.Compress, threads)
		out = append(out, got...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func writeAll(ctx context.Context, snap Snapshot, dst Destination, dir string, names []string, compress string, threads int) ([]restore.ManifestFile, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu   sync.Mutex
		out  []restore.ManifestFile
		errs []error
		wg   sync.WaitGroup
	)
	next := make(chan string)
	for range min(threads, len(names)) {
		wg.Go(func() {
			w := &copier{}
			for name := range next {
				mf, err := w.copyFile(ctx, snap, dst, dir, name, compress)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
					cancel()
				} else {
					out = append(out, mf)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, n := range names {
		select {
		case next <- n:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if !errors.Is(err, context.Canceled) {
			return out, err
		}
	}
	if len(errs) > 0 {
		return out, errs[0]
	}
	return out, ctx.Err()
}

// compressed reports whether a file of a service's directory is compressed
// with gzip: mydumper -c compresses the .sql files, mongodump --gzip every
// file; RabbitMQ definitions stay plain.
func compressed(dir, name string) bool {
	switch dir {
	case string(termshift.MySQL):
		return strings.HasSuffix(name, ".sql")
	case string(termshift.MongoDB):
		return true
	}
	return false
}

// copier is one writer thread: its gzip writer and buffer are reused.
type copier struct {
	zw  *gzip.Writer
	buf *bufio.Writer
}

// hashingWriter counts and hashes what goes to the destination file.
type hashingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (h *hashingWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

func (c *copier) copyFile(ctx context.Context, snap Snapshot, dst Destination, dir, name, compress string) (restore.ManifestFile, error) {
	target := path.Join(dir, name)
	gz := compress == CompressGzip && compressed(dir, name)
	if gz {
		target += ".gz"
	}
	f, err := dst.Create(ctx, target)
	if err != nil {
		return restore.ManifestFile{}, err
	}
	hw := &hashingWriter{w: f, h: sha256.New()}
	if c.buf == nil {
		c.buf = bufio.NewWriterSize(hw, 256<<10)
	} else {
		c.buf.Reset(hw)
	}
	var w io.Writer = c.buf
	if gz {
		if c.zw == nil {
			// The fastest level: a backup streams hundreds of megabytes,
			// and compressing harder costs more CPU than the bytes it saves
			// are worth (level 1 writes about 20% more than gzip -6 at a
			// third of the CPU).
			c.zw, _ = gzip.NewWriterLevel(c.buf, gzip.BestSpeed)
		} else {
			c.zw.Reset(c.buf)
		}
		w = c.zw
	}
	err = copyOne(ctx, snap, name, w)
	if err == nil && gz {
		err = c.zw.Close()
	}
	if err == nil {
		err = c.buf.Flush()
	}
	if err != nil {
		f.Abort(err)
		return restore.ManifestFile{}, fmt.Errorf("write %s: %w", target, err)
	}
	if err := f.Close(); err != nil {
		return restore.ManifestFile{}, fmt.Errorf("write %s: %w", target, err)
	}
	return restore.ManifestFile{Path: target, Size: hw.n, SHA256: hex.EncodeToString(hw.h.Sum(nil))}, nil
}

func copyOne(ctx context.Context, snap Snapshot, name string, w io.Writer) error {
	if wt, ok := snap.(writerTo); ok {
		_, err := wt.WriteFile(ctx, name, w)
		return err
	}
	rc, err := snap.Open(ctx, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}
