// Package restoretest is the conformance suite every restore loader
// (restore/mysql, restore/mongo, restore/rabbitmq) passes against a real
// server: a renamed restore with proof and completeness, the same backup
// under a manifest (and a file altered behind the manifest's back refused),
// bad input refused with nothing left behind, a non-empty target refused
// without DropExisting and replaced with it (termshift's ownership marker
// kept), a backup cut short never passing as whole, and a restore killed
// part way resumed as the loader promises.
package restoretest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// Loader is what the suite needs of a loader.
type Loader interface {
	Load(ctx context.Context, src restore.Source, path string, req restore.Request) (*restore.Report, error)
}

// Target is the server side of the suite: namespaces to restore into.
type Target interface {
	// New returns a fresh namespace name, created as tenancy's carve
	// would (with its ownership marker where the service has one), and
	// removed when the test ends.
	New(t *testing.T) string
	// Contents is what the namespace holds, as the loader reports it:
	// object name to rows, documents or definitions. The ownership marker
	// is not part of it.
	Contents(t *testing.T, ns string) map[string]int64
	// Occupy puts a foreign object into the namespace and returns its name.
	Occupy(t *testing.T, ns string) string
	// HasMarker reports whether the namespace still holds its ownership
	// marker (always true for a service without one).
	HasMarker(t *testing.T, ns string) bool
}

// Fixture is a backup on disk: Path inside the directory Dir (which is
// the snapshot root a manifest would describe).
type Fixture struct {
	Dir, Path string
	From      string
	// Service and Database name the fixture's namespace in a manifest.
	Service  termshift.Service
	Database string
	// Objects is what a restore of it must report and the target hold.
	Objects map[string]int64
	// Proven: the backup itself proves it is whole (a dump's trailer, an
	// archive's terminator).
	Proven bool
}

// Bad is a backup a loader must refuse.
type Bad struct {
	Name    string
	Fixture Fixture
	Is      error  // what the error wraps
	Says    string // what the error says (the file and line or object)
}

// Resume is what a loader promises when a restore is killed part way and
// run again with Resume.
type Resume int

const (
	// ResumeNone: the loader has no resume; the suite does not kill it.
	ResumeNone Resume = iota
	// ResumeRestart: Resume starts over and proves the whole restore.
	ResumeRestart
	// ResumeContinue: what the killed run finished is kept (reported as
	// Skipped) and the rest loaded, with a checkpoint file.
	ResumeContinue
)

// Options states what a loader can promise.
type Options struct {
	Target Target
	Good   Fixture
	// Incomplete is Good cut short: its restore must fail, or report the
	// backup as not proven complete, or its proof must fail.
	Incomplete Fixture
	Bad        []Bad
	Resume     Resume
	// Threads passed on each restore (0 = the loader's default).
	Threads int
}

// Run runs the suite.
func Run(t *testing.T, l Loader, o Options) {
	t.Run("renamed restore with proof", func(t *testing.T) {
		t.Parallel()
		to := o.Target.New(t)
		rep, err := l.Load(t.Context(), restore.Dir{Root: o.Good.Dir}, o.Good.Path, restore.Request{From: o.Good.From, To: to, Threads: o.Threads})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		requireProof(t, rep, to, o.Good.Objects)
		if rep.Completeness.Proven != o.Good.Proven {
			t.Errorf("completeness %+v, want proven=%v", rep.Completeness, o.Good.Proven)
		}
		if !rep.Completeness.Proven && rep.Completeness.Missing == "" {
			t.Errorf("completeness not proven and Missing does not say why: %+v", rep.Completeness)
		}
		if diff := cmp.Diff(o.Target.Contents(t, to), o.Good.Objects); diff != "" {
			t.Errorf("target holds (-got +want):\n%s", diff)
		}
		if !o.Target.HasMarker(t, to) {
			t.Error("the restore removed the ownership marker")
		}
	})

	t.Run("manifest proves completeness and counts", func(t *testing.T) {
		t.Parallel()
		dir := copyFixture(t, o.Good.Dir)
		m := Manifest(t, dir, o.Good)
		to := o.Target.New(t)
		rep, err := l.Load(t.Context(), restore.Dir{Root: dir}, o.Good.Path, restore.Request{From: o.Good.From, To: to, Threads: o.Threads, Manifest: m})
		if err != nil {
			t.Fatalf("Load with a manifest: %v", err)
		}
		requireProof(t, rep, to, o.Good.Objects)
		if !rep.Completeness.Proven || !strings.Contains(rep.Completeness.Evidence, restore.ManifestName) {
			t.Errorf("completeness %+v, want proven by %s", rep.Completeness, restore.ManifestName)
		}
	})

	t.Run("manifest refuses an altered file before touching the target", func(t *testing.T) {
		t.Parallel()
		dir := copyFixture(t, o.Good.Dir)
		m := Manifest(t, dir, o.Good)
		altered := m.Files[len(m.Files)-1].Path
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(altered)))
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0x20 // same size, other bytes
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(altered)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		to := o.Target.New(t)
		_, err = l.Load(t.Context(), restore.Dir{Root: dir}, o.Good.Path, restore.Request{From: o.Good.From, To: to, Threads: o.Threads, Manifest: m})
		if !errors.Is(err, termshift.ErrInvalid) || !strings.Contains(err.Error(), altered) || !strings.Contains(err.Error(), "sha256") {
			t.Fatalf("Load of an altered file: %v, want ErrInvalid naming %s and its sha256", err, altered)
		}
		requireEmpty(t, o.Target, to)
	})

	t.Run("bad input refused with nothing left", func(t *testing.T) {
		t.Parallel()
		for _, b := range o.Bad {
			t.Run(b.Name, func(t *testing.T) {
				to := o.Target.New(t)
				_, err := l.Load(t.Context(), restore.Dir{Root: b.Fixture.Dir}, b.Fixture.Path, restore.Request{From: b.Fixture.From, To: to, Threads: o.Threads})
				if !errors.Is(err, b.Is) || !strings.Contains(err.Error(), b.Says) {
					t.Fatalf("Load: %v, want an error wrapping %v that says %q", err, b.Is, b.Says)
				}
				requireEmpty(t, o.Target, to)
			})
		}
	})

	t.Run("non-empty target refused without DropExisting", func(t *testing.T) {
		t.Parallel()
		to := o.Target.New(t)
		occupant := o.Target.Occupy(t, to)
		src := restore.Dir{Root: o.Good.Dir}
		req := restore.Request{From: o.Good.From, To: to, Threads: o.Threads}
		_, err := l.Load(t.Context(), src, o.Good.Path, req)
		if !errors.Is(err, termshift.ErrRefused) {
			t.Fatalf("Load into a non-empty target: %v, want ErrRefused", err)
		}
		if _, ok := o.Target.Contents(t, to)[occupant]; !ok {
			t.Fatalf("the refused restore removed %s", occupant)
		}
		req.DropExisting = true
		rep, err := l.Load(t.Context(), src, o.Good.Path, req)
		if err != nil {
			t.Fatalf("Load with DropExisting: %v", err)
		}
		requireProof(t, rep, to, o.Good.Objects)
		if diff := cmp.Diff(o.Target.Contents(t, to), o.Good.Objects); diff != "" {
			t.Errorf("after DropExisting the target holds (-got +want):\n%s", diff)
		}
		if !o.Target.HasMarker(t, to) {
			t.Error("DropExisting removed the ownership marker")
		}
	})

	t.Run("incomplete backup never passes as whole", func(t *testing.T) {
		t.Parallel()
		to := o.Target.New(t)
		rep, err := l.Load(t.Context(), restore.Dir{Root: o.Incomplete.Dir}, o.Incomplete.Path, restore.Request{From: o.Incomplete.From, To: to, Threads: o.Threads})
		if err != nil {
			t.Logf("refused: %v", err)
			if !strings.Contains(err.Error(), filepath.Base(o.Incomplete.Path)) && !strings.Contains(err.Error(), o.Incomplete.Path) {
				t.Errorf("error %q does not name the backup %s", err, o.Incomplete.Path)
			}
			requireEmpty(t, o.Target, to)
			return
		}
		if rep.Completeness.Proven && rep.OK() {
			t.Fatalf("an incomplete backup restored as proven and whole: %+v", rep)
		}
	})

	if o.Resume != ResumeNone {
		t.Run("resume after a kill", func(t *testing.T) {
			t.Parallel()
			to := o.Target.New(t)
			checkpoint := filepath.Join(t.TempDir(), "checkpoint.json")
			ctx, kill := context.WithCancel(t.Context())
			defer kill()
			req := restore.Request{From: o.Good.From, To: to, Threads: 1, Checkpoint: checkpoint,
				Progress: func(ev restore.Event) {
					if ev.Done {
						kill() // once one object is finished
					}
				}}
			src := restore.Dir{Root: o.Good.Dir}
			_, err := l.Load(ctx, src, o.Good.Path, req)
			killed := err != nil
			if killed && !errors.Is(err, context.Canceled) {
				t.Fatalf("killed restore: %v, want it to wrap context.Canceled", err)
			}
			req.Progress, req.Resume = nil, true
			rep, err := l.Load(t.Context(), src, o.Good.Path, req)
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			requireProof(t, rep, to, o.Good.Objects)
			if diff := cmp.Diff(o.Target.Contents(t, to), o.Good.Objects); diff != "" {
				t.Errorf("after resume the target holds (-got +want):\n%s", diff)
			}
			skipped := 0
			for _, obj := range rep.Objects {
				if obj.Skipped {
					skipped++
				}
			}
			if o.Resume == ResumeContinue && killed && skipped == 0 {
				t.Errorf("the resume kept nothing the killed run finished")
			}
			if o.Resume == ResumeRestart && skipped != 0 {
				t.Errorf("a restarting loader reported %d objects kept", skipped)
			}
		})
	}
}

// requireProof checks a report: renamed into to, every object proven, the
// objects and counts wanted.
func requireProof(t *testing.T, rep *restore.Report, to string, want map[string]int64) {
	t.Helper()
	if rep == nil {
		t.Fatal("no report")
	}
	if rep.To != to {
		t.Errorf("report To = %q, want %q", rep.To, to)
	}
	if !rep.OK() {
		t.Errorf("proof does not hold: %s", rep.Gaps())
	}
	got := map[string]int64{}
	for _, o := range rep.Objects {
		got[o.Name] = o.Loaded
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("report objects (-got +want):\n%s", diff)
	}
}

func requireEmpty(t *testing.T, target Target, ns string) {
	t.Helper()
	if got := target.Contents(t, ns); len(got) != 0 {
		t.Errorf("the refused restore left %v in %s", got, ns)
	}
	if !target.HasMarker(t, ns) {
		t.Errorf("the refused restore removed the ownership marker of %s", ns)
	}
}

// copyFixture copies a fixture's directory to a temporary one.
func copyFixture(t *testing.T, dir string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "snapshot")
	if err := os.CopyFS(to, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	return to
}

// Manifest writes the manifest a termshift backup would write for a
// fixture's files (those under its Path) and counts, into dir, and returns
// it as restore.ReadManifest reads it back.
func Manifest(t *testing.T, dir string, f Fixture) *restore.Manifest {
	t.Helper()
	m := restore.Manifest{Format: restore.ManifestFormat, TermshiftVersion: "test", Servers: map[string]string{}}
	root := filepath.Join(dir, filepath.FromSlash(f.Path))
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		m.Files = append(m.Files, restore.ManifestFile{Path: filepath.ToSlash(rel), Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range f.Objects {
		m.Objects = append(m.Objects, restore.ManifestObject{Service: string(f.Service), Database: f.Database, Name: name, Count: n})
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, restore.ManifestName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	read, err := restore.ReadManifest(t.Context(), restore.Dir{Root: dir})
	if err != nil || read == nil {
		t.Fatalf("ReadManifest: %v, %v", read, err)
	}
	return read
}
