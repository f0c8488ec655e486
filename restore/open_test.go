package restore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

func TestOpenSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file.txt")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s3opts := restore.S3Options{Region: "us-east-1", Endpoint: "http://127.0.0.1:1", PathStyle: true, AccessKey: "a", SecretKey: "b"}
	tests := []struct {
		uri        string
		wantString string
		wantErr    error
		errNames   string
	}{
		{uri: dir, wantString: dir},
		{uri: "s3://backups/nightly/edx/", wantString: "s3://backups/nightly/edx"},
		{uri: "s3://backups", wantString: "s3://backups"},
		{uri: filepath.Join(dir, "missing"), wantErr: termshift.ErrNotFound, errNames: filepath.Join(dir, "missing")},
		{uri: file, wantErr: termshift.ErrInvalid, errNames: file},
		{uri: "s3://", wantErr: termshift.ErrInvalid, errNames: "s3://"},
		{uri: "s3:///prefix", wantErr: termshift.ErrInvalid, errNames: "s3:///prefix"},
		{uri: "", wantErr: termshift.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			src, err := restore.OpenSource(context.Background(), tt.uri, s3opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("OpenSource(%q) error %v, want %v", tt.uri, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errNames) {
					t.Errorf("error %q does not name %q", err, tt.errNames)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := src.String(); got != tt.wantString {
				t.Errorf("String() = %q, want %q", got, tt.wantString)
			}
		})
	}
}
