package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/termshift/termshift"
)

// ManifestName is the manifest's file name at a snapshot's root, beside
// mysql/, mongo/ and rabbitmq/.
const ManifestName = "manifest.json"

// ManifestFormat is the format tag of the manifests this version reads.
const ManifestFormat = "termshift-snapshot/1"

// maxManifestBytes bounds the manifest, read whole: a snapshot of
// thousands of files and tables is well under a megabyte.
const maxManifestBytes = 64 << 20

// Manifest is termshift's record of one snapshot, written last by the
// backup that made it: every file with its size and sha256, and every
// table and collection with its count taken inside the same snapshot. A
// snapshot with a manifest is proven complete by it.
type Manifest struct {
	Format           string    `json:"format"` // ManifestFormat
	CreatedAt        time.Time `json:"created_at"`
	TermshiftVersion string    `json:"termshift_version"`
	// Servers maps a service (mysql, mongo, rabbitmq) to the version of
	// the server it was backed up from.
	Servers map[string]string `json:"servers,omitempty"`
	// MySQLBinlog is where the MySQL snapshot stands in the source's
	// binary log, for a catch-up that follows it.
	MySQLBinlog *BinlogPosition  `json:"mysql_binlog,omitempty"`
	Files       []ManifestFile   `json:"files"`
	Objects     []ManifestObject `json:"objects"`
}

// BinlogPosition is a point in a MySQL server's binary log.
type BinlogPosition struct {
	File     string `json:"file,omitempty"`
	Position int64  `json:"position,omitempty"`
	GTID     string `json:"gtid,omitempty"`
}

// ManifestFile is one file of the snapshot.
type ManifestFile struct {
	Path   string `json:"path"` // slash-separated, relative to the snapshot root
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // lowercase hex
}

// ManifestObject is one table, collection or kind of definition with its
// count.
type ManifestObject struct {
	Service  string `json:"service"`  // mysql, mongo, rabbitmq
	Database string `json:"database"` // schema, database or vhost name in the backup
	Name     string `json:"name"`     // table, collection, or exchanges/queues/bindings/policies
	Count    int64  `json:"count"`
}

// ReadManifest reads the manifest at src's root; a snapshot without one is
// (nil, nil). A manifest that is not whole, not of ManifestFormat, or that
// names a file outside the snapshot is an error wrapping
// termshift.ErrInvalid.
func ReadManifest(ctx context.Context, src Source) (*Manifest, error) {
	rc, err := src.Open(ctx, ManifestName)
	if errors.Is(err, termshift.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ManifestName, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", ManifestName, src, err)
	}
	name := strings.TrimSuffix(src.String(), "/") + "/" + ManifestName
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("%s: larger than %d MiB: %w", name, maxManifestBytes>>20, termshift.ErrInvalid)
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: not a whole manifest: %v: %w", name, err, termshift.ErrInvalid)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &m, nil
}

func (m *Manifest) check() error {
	if m.Format != ManifestFormat {
		return fmt.Errorf("format %s, this termshift reads %s: %w", termshift.Quote(m.Format), termshift.Quote(ManifestFormat), termshift.ErrInvalid)
	}
	seen := map[string]bool{}
	for i, f := range m.Files {
		if !fs.ValidPath(f.Path) || f.Path == "." || f.Path == ManifestName {
			return fmt.Errorf("files[%d]: path %s is not a file inside the snapshot: %w", i, termshift.Quote(f.Path), termshift.ErrInvalid)
		}
		if seen[f.Path] {
			return fmt.Errorf("files[%d]: %s is listed twice: %w", i, f.Path, termshift.ErrInvalid)
		}
		seen[f.Path] = true
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != sha256.Size || strings.ToLower(f.SHA256) != f.SHA256 {
			return fmt.Errorf("files[%d] %s: sha256 %s is not 64 lowercase hex digits: %w", i, f.Path, termshift.Quote(f.SHA256), termshift.ErrInvalid)
		}
		if f.Size < 0 {
			return fmt.Errorf("files[%d] %s: negative size %d: %w", i, f.Path, f.Size, termshift.ErrInvalid)
		}
	}
	for i, o := range m.Objects {
		if o.Service == "" || o.Name == "" || o.Count < 0 {
			return fmt.Errorf("objects[%d]: service, name and a count of 0 or more are required (got %s %s.%s %d): %w",
				i, termshift.Quote(o.Service), termshift.Quote(o.Database), termshift.Quote(o.Name), o.Count, termshift.ErrInvalid)
		}
	}
	return nil
}

// Counts returns the counts the manifest holds for one namespace of the
// backup: service (termshift.MySQL, ...) and its name in the backup.
func (m *Manifest) Counts(service termshift.Service, database string) map[string]int64 {
	out := map[string]int64{}
	for _, o := range m.Objects {
		if o.Service == string(service) && o.Database == database {
			out[o.Name] = o.Count
		}
	}
	return out
}

// Verify checks one namespace's files against the manifest before anything
// is touched. dir is the file or directory the loader reads (relative to
// the snapshot root, which src must be); belongs picks the files of the
// namespace being restored among those under dir (nil = all). Every file
// the manifest lists there must be present with its size and sha256 (read
// in parallel, threads at once), and a file there that the manifest does
// not list is refused. The error names the file and what differs, and
// wraps termshift.ErrInvalid (termshift.ErrNotFound for a missing file).
// On success it returns the completeness the manifest proves.
func (m *Manifest) Verify(ctx context.Context, src Source, dir string, belongs func(name string) bool, threads int) (Completeness, error) {
	dir = strings.Trim(path.Clean("/"+dir), "/")
	under := func(name string) bool {
		if dir == "" || name == dir || strings.HasPrefix(name, dir+"/") {
			return belongs == nil || belongs(name)
		}
		return false
	}
	listDir := dir
	if dir != "" {
		listDir = path.Dir(dir) // dir may be a file: list its directory
		if listDir == "." {
			listDir = ""
		}
	}
	files, err := src.List(ctx, listDir)
	if err != nil {
		return Completeness{}, fmt.Errorf("verify against %s: %w", ManifestName, err)
	}
	present := map[string]FileInfo{}
	for _, f := range files {
		if under(f.Name) && f.Name != ManifestName {
			present[f.Name] = f
		}
	}
	var want []ManifestFile
	for _, f := range m.Files {
		if under(f.Path) {
			want = append(want, f)
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i].Path < want[j].Path })
	listed := map[string]bool{}
	for _, f := range want {
		listed[f.Path] = true
		p, ok := present[f.Path]
		if !ok {
			return Completeness{}, fmt.Errorf("%s lists %s (%d bytes), which the snapshot in %s does not hold: %w", ManifestName, f.Path, f.Size, src, termshift.ErrNotFound)
		}
		if p.Size != f.Size {
			return Completeness{}, fmt.Errorf("%s holds %d bytes, %s says %d: the file was truncated or altered: %w", f.Path, p.Size, ManifestName, f.Size, termshift.ErrInvalid)
		}
	}
	var extra []string
	for name := range present {
		if !listed[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return Completeness{}, fmt.Errorf("%s is in the snapshot but not in %s: a file added after the backup is not restored: %w", extra[0], ManifestName, termshift.ErrInvalid)
	}
	if len(want) == 0 {
		return Completeness{}, fmt.Errorf("%s lists no file of %s: %w", ManifestName, dir, termshift.ErrNotFound)
	}
	if err := hashAll(ctx, src, want, threads); err != nil {
		return Completeness{}, err
	}
	var bytes int64
	for _, f := range want {
		bytes += f.Size
	}
	return Proven(fmt.Sprintf("%s: %d files (%d bytes) of %s with their sha256, and counts", ManifestName, len(want), bytes, dir)), nil
}

// hashAll checks every file's sha256, threads at once; the first mismatch
// (in name order) is the error.
func hashAll(ctx context.Context, src Source, files []ManifestFile, threads int) error {
	if threads < 1 {
		threads = runtime.NumCPU()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(threads, len(files)) {
		wg.Go(func() {
			for i := range next {
				if errs[i] = hashOne(ctx, src, files[i]); errs[i] != nil {
					cancel()
				}
			}
		})
	}
feed:
	for i := range files {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	var first error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

func hashOne(ctx context.Context, src Source, f ManifestFile) error {
	rc, err := src.Open(ctx, f.Path)
	if err != nil {
		return fmt.Errorf("verify %s against %s: %w", f.Path, ManifestName, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, rc})
	if err != nil {
		return fmt.Errorf("verify %s against %s: read: %w", f.Path, ManifestName, err)
	}
	if n != f.Size {
		return fmt.Errorf("%s: read %d bytes, %s says %d: %w", f.Path, n, ManifestName, f.Size, termshift.ErrInvalid)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("%s: sha256 %s, %s says %s: the file was altered: %w", f.Path, got, ManifestName, f.SHA256, termshift.ErrInvalid)
	}
	return nil
}

// ctxReader stops a long read when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
