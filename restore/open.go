package restore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/termshift/termshift"
)

// OpenSource returns the Source a backup URI names: s3://bucket/prefix is a
// prefix of an S3 bucket reached with opts; anything else is a local
// directory, which must exist.
func OpenSource(ctx context.Context, uri string, opts S3Options) (Source, error) {
	if rest, ok := strings.CutPrefix(uri, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return nil, fmt.Errorf("backup source %q: no bucket after s3://: %w", uri, termshift.ErrInvalid)
		}
		return NewS3(ctx, bucket, prefix, opts)
	}
	if uri == "" {
		return nil, fmt.Errorf("backup source: empty path: %w", termshift.ErrInvalid)
	}
	info, err := os.Stat(uri)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("backup source %s: no such directory: %w", uri, termshift.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("backup source %s: %w", uri, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("backup source %s: not a directory: %w", uri, termshift.ErrInvalid)
	}
	return Dir{Root: uri}, nil
}
