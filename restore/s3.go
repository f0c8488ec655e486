package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/termshift/termshift"
)

// S3Options says how to reach a bucket. Zero values use AWS's defaults: the
// standard credential chain, the configured region, virtual-hosted URLs.
type S3Options struct {
	// Endpoint is an S3-compatible server's URL (versitygw, MinIO); empty
	// for AWS.
	Endpoint string
	Region   string
	// PathStyle addresses buckets as ENDPOINT/bucket/key, which most
	// S3-compatible servers need.
	PathStyle bool
	// AccessKey and SecretKey replace the credential chain when given.
	AccessKey string
	SecretKey termshift.Secret
	// ClientOptions are applied last, for what the fields above do not cover.
	ClientOptions []func(*s3.Options)
}

// S3 is a Source under a prefix of an S3 bucket. Files are streamed from
// GetObject, never copied to disk first.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in "/"
}

var _ Source = (*S3)(nil)

// s3PartSize is the part size of multipart uploads: 5 MiB is S3's minimum,
// 16 MiB keeps the part count of a 100 GiB dump under S3's 10,000 limit.
const s3PartSize = 16 << 20

// NewS3 returns a Source for s3://bucket/prefix.
func NewS3(ctx context.Context, bucket, prefix string, opts S3Options) (*S3, error) {
	if bucket == "" {
		return nil, fmt.Errorf("s3 source: empty bucket name: %w", termshift.ErrInvalid)
	}
	var loadOpts []func(*config.LoadOptions) error
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	if opts.AccessKey != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(opts.AccessKey, opts.SecretKey.Reveal(), "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3 source s3://%s: load aws config: %w", bucket, err)
	}
	if cfg.Region == "" {
		// S3-compatible servers ignore the region but the signer needs one.
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.PathStyle
		for _, f := range opts.ClientOptions {
			f(o)
		}
	})
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{client: client, bucket: bucket, prefix: prefix}, nil
}

// String names the source: s3://bucket/prefix.
func (s *S3) String() string {
	if s.prefix == "" {
		return "s3://" + s.bucket
	}
	return "s3://" + s.bucket + "/" + strings.TrimSuffix(s.prefix, "/")
}

func (s *S3) key(name string) string { return s.prefix + name }

func (s *S3) uri(key string) string { return "s3://" + s.bucket + "/" + key }

// List implements Source.
func (s *S3) List(ctx context.Context, dir string) ([]FileInfo, error) {
	dir = strings.Trim(dir, "/")
	p := s.prefix
	if dir != "" && dir != "." {
		p += dir + "/"
	}
	var out []FileInfo
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(p),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			var nb *types.NoSuchBucket
			if errors.As(err, &nb) {
				return nil, fmt.Errorf("list %s: bucket does not exist: %w", s.uri(p), termshift.ErrNotFound)
			}
			return nil, fmt.Errorf("list %s: %w", s.uri(p), err)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			if strings.HasSuffix(key, "/") {
				continue // a "directory" marker some tools write
			}
			fi := FileInfo{Name: strings.TrimPrefix(key, s.prefix), Size: aws.ToInt64(obj.Size), ETag: strings.Trim(aws.ToString(obj.ETag), `"`)}
			if obj.LastModified != nil {
				fi.ModTime = *obj.LastModified
			}
			out = append(out, fi)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Open implements Source: the body streams from S3.
func (s *S3) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	key := s.key(name)
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		if isS3NotFound(err) {
			return nil, fmt.Errorf("open %s: %w", s.uri(key), termshift.ErrNotFound)
		}
		return nil, fmt.Errorf("open %s: %w", s.uri(key), err)
	}
	return out.Body, nil
}

func isS3NotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")
}

// Put uploads r as name under the source's prefix. Bodies up to one part go
// up in one PutObject; larger ones in a multipart upload, one part in memory
// at a time, aborted on failure so no orphan parts are left to pay for.
func (s *S3) Put(ctx context.Context, name string, r io.Reader) error {
	key := s.key(name)
	buf := make([]byte, s3PartSize)
	n, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("put %s: read: %w", s.uri(key), err)
	}
	if n < s3PartSize {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(s.bucket),
			Key:           aws.String(key),
			Body:          bytes.NewReader(buf[:n]),
			ContentLength: aws.Int64(int64(n)),
		})
		if err != nil {
			return fmt.Errorf("put %s: %w", s.uri(key), err)
		}
		return nil
	}
	return s.putMultipart(ctx, key, buf, r)
}

func (s *S3) putMultipart(ctx context.Context, key string, first []byte, r io.Reader) (err error) {
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("put %s: start multipart upload: %w", s.uri(key), err)
	}
	defer func() {
		if err == nil {
			return
		}
		// The caller's ctx may be the reason we stopped; abort regardless.
		_, aerr := s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: up.UploadId,
		})
		if aerr != nil {
			err = errors.Join(err, fmt.Errorf("abort multipart upload of %s: %w", s.uri(key), aerr))
		}
	}()
	var parts []types.CompletedPart
	buf := first
	n := len(first)
	for num := int32(1); n > 0; num++ {
		part, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        aws.String(s.bucket),
			Key:           aws.String(key),
			UploadId:      up.UploadId,
			PartNumber:    aws.Int32(num),
			Body:          bytes.NewReader(buf[:n]),
			ContentLength: aws.Int64(int64(n)),
		})
		if err != nil {
			return fmt.Errorf("put %s: upload part %d: %w", s.uri(key), num, err)
		}
		parts = append(parts, types.CompletedPart{ETag: part.ETag, PartNumber: aws.Int32(num)})
		n, err = io.ReadFull(r, buf)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return fmt.Errorf("put %s: read: %w", s.uri(key), err)
		}
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(key),
		UploadId:        up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return fmt.Errorf("put %s: complete multipart upload: %w", s.uri(key), err)
	}
	return nil
}

// Delete removes every object under dir (relative to the source's prefix;
// "" or "." for all of it) and returns how many it removed.
func (s *S3) Delete(ctx context.Context, dir string) (int, error) {
	files, err := s.List(ctx, dir)
	if err != nil {
		return 0, err
	}
	deleted := 0
	for start := 0; start < len(files); start += 1000 { // DeleteObjects' limit
		end := min(start+1000, len(files))
		ids := make([]types.ObjectIdentifier, 0, end-start)
		for _, f := range files[start:end] {
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(s.key(f.Name))})
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(s.bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return deleted, fmt.Errorf("delete under %s: %w", s.uri(s.key(dir)), err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return deleted, fmt.Errorf("delete %s: %s: %s (and %d more failures)",
				s.uri(aws.ToString(e.Key)), aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors)-1)
		}
		deleted += len(ids)
	}
	return deleted, nil
}

// Remove deletes one object (name relative to the source's prefix); a
// missing object is no error.
func (s *S3) Remove(ctx context.Context, name string) error {
	key := s.key(name)
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}); err != nil && !isS3NotFound(err) {
		return fmt.Errorf("delete %s: %w", s.uri(key), err)
	}
	return nil
}

// Upload copies every file under dir of src to prefix in dst, streaming each
// one. It returns how many files and bytes it copied; on failure, what was
// copied before it.
func Upload(ctx context.Context, dst *S3, src Source, dir, prefix string) (files int, bytes int64, err error) {
	list, err := src.List(ctx, dir)
	if err != nil {
		return 0, 0, fmt.Errorf("upload %s to %s: %w", src, dst, err)
	}
	dir = strings.Trim(dir, "/")
	for _, fi := range list {
		rel := fi.Name
		if dir != "" && dir != "." {
			rel = strings.TrimPrefix(rel, dir+"/")
		}
		n, err := uploadOne(ctx, dst, src, fi.Name, path.Join(prefix, rel))
		if err != nil {
			return files, bytes, fmt.Errorf("upload %s to %s: %w", src, dst, err)
		}
		files++
		bytes += n
	}
	return files, bytes, nil
}

func uploadOne(ctx context.Context, dst *S3, src Source, name, to string) (int64, error) {
	rc, err := src.Open(ctx, name)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	cr := &countingReader{r: rc}
	if err := dst.Put(ctx, to, cr); err != nil {
		return cr.n, err
	}
	return cr.n, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
