package restore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// snapshotWithManifest writes a snapshot of files and its manifest.
func snapshotWithManifest(t *testing.T, files map[string]string) (string, *restore.Manifest) {
	t.Helper()
	dir := t.TempDir()
	m := restore.Manifest{Format: restore.ManifestFormat, TermshiftVersion: "test",
		MySQLBinlog: &restore.BinlogPosition{File: "bin.000002", Position: 839},
		Objects:     []restore.ManifestObject{{Service: "mysql", Database: "edxapp", Name: "auth_user", Count: 3}}}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(content))
		m.Files = append(m.Files, restore.ManifestFile{Path: name, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:])})
	}
	data, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, restore.ManifestName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	read, err := restore.ReadManifest(context.Background(), restore.Dir{Root: dir})
	if err != nil || read == nil {
		t.Fatalf("ReadManifest: %v %v", read, err)
	}
	return dir, read
}

func TestManifestVerify(t *testing.T) {
	files := map[string]string{
		"mysql/edxapp.sql":          "-- MariaDB dump\nCREATE TABLE t (a INT);\n-- Dump completed\n",
		"mysql/ecommerce.sql":       "-- other schema\n",
		"rabbitmq/definitions.json": "{}",
	}
	tests := []struct {
		name   string
		change func(dir string)
		path   string
		is     error
		says   string
	}{
		{"whole", func(string) {}, "mysql/edxapp.sql", nil, ""},
		{"another namespace's file changed", func(dir string) { write(t, dir, "mysql/ecommerce.sql", "-- changed\n") }, "mysql/edxapp.sql", nil, ""},
		{"missing", func(dir string) { os.Remove(filepath.Join(dir, "mysql", "edxapp.sql")) }, "mysql", termshift.ErrNotFound, "mysql/edxapp.sql"},
		{"truncated", func(dir string) { write(t, dir, "mysql/edxapp.sql", "-- MariaDB dump\n") }, "mysql/edxapp.sql", termshift.ErrInvalid, "mysql/edxapp.sql holds 16 bytes"},
		{"altered", func(dir string) {
			write(t, dir, "mysql/edxapp.sql", "-- MariaDB dump\nCREATE TABLE t (b INT);\n-- Dump completed\n")
		}, "mysql/edxapp.sql", termshift.ErrInvalid, "mysql/edxapp.sql: sha256"},
		{"extra file", func(dir string) { write(t, dir, "mysql/late.sql", "x") }, "mysql", termshift.ErrInvalid, "mysql/late.sql is in the snapshot but not in manifest.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, m := snapshotWithManifest(t, files)
			tt.change(dir)
			belongs := func(name string) bool { return name != "mysql/ecommerce.sql" }
			c, err := m.Verify(context.Background(), restore.Dir{Root: dir}, tt.path, belongs, 2)
			if tt.is == nil {
				if err != nil || !c.Proven || !strings.Contains(c.Evidence, restore.ManifestName) {
					t.Fatalf("Verify = %+v, %v; want proven", c, err)
				}
				return
			}
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("Verify: %v, want %v saying %q", err, tt.is, tt.says)
			}
		})
	}
}

func TestReadManifest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m, err := restore.ReadManifest(context.Background(), restore.Dir{Root: dir})
	if m != nil || err != nil {
		t.Fatalf("no manifest: %v, %v; want nil, nil", m, err)
	}
	for name, content := range map[string]string{
		"format":        `{"format":"termshift-snapshot/9","files":[]}`,
		"cut":           `{"format":"termshift-snapshot/1","files":[`,
		"outside":       `{"format":"termshift-snapshot/1","files":[{"path":"../etc/passwd","size":1,"sha256":"` + strings.Repeat("a", 64) + `"}]}`,
		"bad sha":       `{"format":"termshift-snapshot/1","files":[{"path":"a","size":1,"sha256":"xyz"}]}`,
		"unknown field": `{"format":"termshift-snapshot/1","file":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, restore.ManifestName, content)
			if _, err := restore.ReadManifest(context.Background(), restore.Dir{Root: dir}); !errors.Is(err, termshift.ErrInvalid) || !strings.Contains(err.Error(), restore.ManifestName) {
				t.Errorf("ReadManifest: %v, want ErrInvalid naming %s", err, restore.ManifestName)
			}
		})
	}
}

func TestFingerprintDiff(t *testing.T) {
	t.Parallel()
	was := restore.NewFingerprint([]restore.FileInfo{{Name: "a", Size: 1, ETag: "x"}, {Name: "b", Size: 2}})
	for _, tt := range []struct {
		now  []restore.FileInfo
		want string
	}{
		{[]restore.FileInfo{{Name: "a", Size: 1, ETag: "x"}, {Name: "b", Size: 2}}, ""},
		{[]restore.FileInfo{{Name: "a", Size: 1, ETag: "y"}, {Name: "b", Size: 2}}, "a changed: it was 1 bytes, etag x, it is 1 bytes, etag y"},
		{[]restore.FileInfo{{Name: "a", Size: 1, ETag: "x"}}, "b is gone (it was 2 bytes)"},
		{[]restore.FileInfo{{Name: "a", Size: 1, ETag: "x"}, {Name: "b", Size: 2}, {Name: "c", Size: 3}}, "c was added (3 bytes)"},
	} {
		if got := was.Diff(restore.NewFingerprint(tt.now)); got != tt.want {
			t.Errorf("Diff = %q, want %q", got, tt.want)
		}
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
