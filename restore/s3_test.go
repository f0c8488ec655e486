package restore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// localS3 returns the local S3 server's options and bucket, or skips.
func localS3(t *testing.T) (restore.S3Options, string) {
	t.Helper()
	opts := restore.S3Options{
		Endpoint:  termshift.RequireLocalSetting(t, "TERMSHIFT_S3_ENDPOINT"),
		Region:    termshift.RequireLocalSetting(t, "TERMSHIFT_S3_REGION"),
		PathStyle: true,
		AccessKey: termshift.RequireLocalSetting(t, "TERMSHIFT_S3_ACCESS_KEY"),
		SecretKey: termshift.Secret(termshift.RequireLocalSetting(t, "TERMSHIFT_S3_SECRET_KEY")),
	}
	return opts, termshift.RequireLocalSetting(t, "TERMSHIFT_S3_BUCKET")
}

func uniqueName(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// newS3Prefix returns an S3 source under a fresh prefix of the local
// bucket, emptied when the test ends.
func newS3Prefix(t *testing.T) *restore.S3 {
	t.Helper()
	opts, bucket := localS3(t)
	ctx := context.Background()
	s, err := restore.NewS3(ctx, bucket, uniqueName(t, "termshift-test-"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := s.Delete(context.Background(), ""); err != nil {
			t.Errorf("clean up %s: %v", s, err)
		}
	})
	return s
}

// tree is a backup tree: file name -> content.
type tree map[string]string

func writeDir(t *testing.T, files tree) restore.Dir {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return restore.Dir{Root: root}
}

func writeS3(t *testing.T, files tree) *restore.S3 {
	t.Helper()
	s := newS3Prefix(t)
	for name, content := range files {
		if err := s.Put(context.Background(), name, strings.NewReader(content)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// sourceKinds builds the same tree on every kind of Source.
var sourceKinds = []struct {
	name  string
	build func(*testing.T, tree) restore.Source
}{
	{"dir", func(t *testing.T, files tree) restore.Source { return writeDir(t, files) }},
	{"s3", func(t *testing.T, files tree) restore.Source { return writeS3(t, files) }},
}

func readAll(t *testing.T, src restore.Source, name string) string {
	t.Helper()
	rc, err := src.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSourceListAndOpen(t *testing.T) {
	t.Parallel()
	files := tree{
		"a/mysql/edxapp/auth_user.sql": "INSERT 1",
		"a/mysql/edxapp-schema.sql":    "CREATE",
		"a/rabbitmq/definitions.json":  "{}",
		"top.txt":                      "top",
	}
	for _, kind := range sourceKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src := kind.build(t, files)

			got, err := src.List(ctx, "a/mysql")
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range got {
				names = append(names, f.Name)
				if f.Size != int64(len(files[f.Name])) {
					t.Errorf("%s: size %d, want %d", f.Name, f.Size, len(files[f.Name]))
				}
			}
			if diff := cmp.Diff(names, []string{"a/mysql/edxapp-schema.sql", "a/mysql/edxapp/auth_user.sql"}); diff != "" {
				t.Errorf("List(a/mysql) (-got +want):\n%s", diff)
			}

			missing, err := src.List(ctx, "nowhere")
			if err != nil || len(missing) != 0 {
				t.Errorf("List(nowhere) = %v, %v; want empty, nil", missing, err)
			}

			if got := readAll(t, src, "a/rabbitmq/definitions.json"); got != "{}" {
				t.Errorf("Open content %q, want {}", got)
			}
			_, err = src.Open(ctx, "a/mongo/nope.bson")
			if !errors.Is(err, termshift.ErrNotFound) {
				t.Fatalf("Open(missing) error %v, want ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), "a/mongo/nope.bson") {
				t.Errorf("Open(missing) error %q does not name the file", err)
			}
		})
	}
}

func TestS3OpenMissingNamesURI(t *testing.T) {
	t.Parallel()
	s := newS3Prefix(t)
	_, err := s.Open(context.Background(), "x/definitions.json")
	if !errors.Is(err, termshift.ErrNotFound) {
		t.Fatalf("error %v, want ErrNotFound", err)
	}
	want := strings.TrimSuffix(s.String(), "/") + "/x/definitions.json"
	if !strings.HasPrefix(want, "s3://") || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}

func TestS3PutMultipart(t *testing.T) {
	t.Parallel()
	s := newS3Prefix(t)
	ctx := context.Background()
	// Over one 16 MiB part, so the body goes up in two parts.
	body := make([]byte, 17<<20+123)
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "mongo/big.bson", bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, "mongo/big.bson"); got != string(body) {
		t.Errorf("multipart round trip: got %d bytes, want %d, or content differs", len(got), len(body))
	}
}

// failingReader fails after n bytes, as a broken backup stream would.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func TestS3PutFailingReaderLeavesNothing(t *testing.T) {
	t.Parallel()
	s := newS3Prefix(t)
	ctx := context.Background()
	for _, n := range []int{10, 20 << 20} { // single PutObject and multipart
		err := s.Put(ctx, "x.bin", &failingReader{n: n})
		if err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Errorf("Put(fail after %d) error %v, want the reader's", n, err)
		}
	}
	files, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 0 {
		t.Errorf("after failed puts the prefix holds %v, want nothing", files)
	}
}

func TestUploadDirToS3(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	files := tree{
		"2026-11-20/mysql/edxapp/auth_user.00000.sql": "INSERT INTO auth_user VALUES (1)",
		"2026-11-20/mongo/forum/contents.bson":        "\x10\x00\x00\x00",
		"2026-11-20/rabbitmq/definitions.json":        `{"vhosts":[]}`,
		"other/ignored.txt":                           "not copied",
	}
	src := writeDir(t, files)
	dst := newS3Prefix(t)
	n, size, err := restore.Upload(ctx, dst, src, "2026-11-20", "nightly/2026-11-20")
	if err != nil {
		t.Fatal(err)
	}
	var wantBytes int64
	for name, c := range files {
		if strings.HasPrefix(name, "2026-11-20/") {
			wantBytes += int64(len(c))
		}
	}
	if n != 3 || size != wantBytes {
		t.Errorf("Upload = %d files, %d bytes; want 3, %d", n, size, wantBytes)
	}
	got, err := dst.List(ctx, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range got {
		names = append(names, f.Name)
	}
	want := []string{
		"nightly/2026-11-20/mongo/forum/contents.bson",
		"nightly/2026-11-20/mysql/edxapp/auth_user.00000.sql",
		"nightly/2026-11-20/rabbitmq/definitions.json",
	}
	if diff := cmp.Diff(names, want); diff != "" {
		t.Errorf("uploaded (-got +want):\n%s", diff)
	}
	if got := readAll(t, dst, "nightly/2026-11-20/mysql/edxapp/auth_user.00000.sql"); got != files["2026-11-20/mysql/edxapp/auth_user.00000.sql"] {
		t.Errorf("uploaded content %q", got)
	}

	// A missing source directory uploads nothing and says so by counts.
	n, size, err = restore.Upload(ctx, dst, src, "1999-01-01", "x")
	if err != nil || n != 0 || size != 0 {
		t.Errorf("Upload(missing dir) = %d, %d, %v; want 0, 0, nil", n, size, err)
	}
}

func TestNewS3Invalid(t *testing.T) {
	t.Parallel()
	_, err := restore.NewS3(context.Background(), "", "x", restore.S3Options{Region: "us-east-1"})
	if !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("NewS3(empty bucket) error %v, want ErrInvalid", err)
	}
}

func TestS3MissingBucket(t *testing.T) {
	t.Parallel()
	opts, _ := localS3(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := restore.NewS3(ctx, uniqueName(t, "termshift-nobucket-"), "", opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.List(ctx, "")
	if err == nil || !strings.Contains(err.Error(), "s3://termshift-nobucket-") {
		t.Errorf("List on a missing bucket: error %v, want one naming the bucket", err)
	}
}

// BenchmarkS3PutOpen measures a 32 MiB backup file going up (two multipart
// parts) and streaming back down from the local S3 server.
func BenchmarkS3PutOpen(b *testing.B) {
	opts := restore.S3Options{PathStyle: true}
	for _, s := range []struct {
		name string
		dst  *string
	}{{"TERMSHIFT_S3_ENDPOINT", &opts.Endpoint}, {"TERMSHIFT_S3_REGION", &opts.Region}, {"TERMSHIFT_S3_ACCESS_KEY", &opts.AccessKey}} {
		*s.dst = termshift.RequireLocalSetting(b, s.name)
	}
	opts.SecretKey = termshift.Secret(termshift.RequireLocalSetting(b, "TERMSHIFT_S3_SECRET_KEY"))
	ctx := context.Background()
	s, err := restore.NewS3(ctx, termshift.RequireLocalSetting(b, "TERMSHIFT_S3_BUCKET"), uniqueName(b, "termshift-bench-"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Delete(context.Background(), "") })
	body := make([]byte, 32<<20)
	if _, err := rand.Read(body); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(2 * int64(len(body)))
	for b.Loop() {
		if err := s.Put(ctx, "mongo/edxapp/modulestore.bson", bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
		rc, err := s.Open(ctx, "mongo/edxapp/modulestore.bson")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != int64(len(body)) {
			b.Fatalf("read back %d bytes, %v", n, err)
		}
	}
}
