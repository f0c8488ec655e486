// Package s3 keeps an environment's state under a prefix of an S3 bucket,
// so that every operator's machine and every router reads one truth:
//
//	PREFIX/state.json            the state, written compare-and-swap on its ETag
//	PREFIX/lock                  the lock: holder and lease, created with If-None-Match: *
//	PREFIX/journal/TIME-RAND.json one object per journal entry
//	PREFIX/secrets/RELEASE.box   generated credentials, sealed with TERMSHIFT_STATE_KEY
//
// It needs a server that honours conditional writes (If-Match and
// If-None-Match on PutObject and DeleteObject, answering 412): AWS S3 does,
// and so does versitygw.
package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/store"
)

// KeyVar is the environment variable holding the key that seals generated
// credentials in the bucket.
const KeyVar = "TERMSHIFT_STATE_KEY"

// DefaultLease is how long a lock's lease lasts without renewal.
const DefaultLease = 30 * time.Second

// Config says where a state lives and how to reach it.
type Config struct {
	Bucket string
	Prefix string // "" or a key prefix, without slashes at its ends
	// Endpoint is an S3-compatible server's URL; "" is AWS.
	Endpoint  string
	Region    string
	PathStyle bool
	// AccessKey and SecretKey; empty uses the standard AWS chain.
	AccessKey string
	SecretKey termshift.Secret
	// Key returns the credentials' sealing key (the value of
	// $TERMSHIFT_STATE_KEY) and whether it is set. It is asked only when
	// credentials are read or written, so that commands that never touch
	// them run without it.
	Key func() (termshift.Secret, bool)
	// Lease is how long a lock holder's lease lasts without renewal; the
	// holder renews it every third of that. Default DefaultLease.
	Lease time.Duration
	// Host is the name this machine signs its locks with, and the host on
	// which a holder's process can be checked; default os.Hostname().
	Host string
	// Logger receives failed lease renewals.
	Logger *slog.Logger
}

// Store is an environment's state in S3.
type Store struct {
	cfg    Config
	client *awss3.Client
	prefix string // "" or ending in "/"

	mu    sync.Mutex
	etags map[int64]string // state.json's ETag by revision, as last seen
	// lastEntry is the time of the last journal key this Store wrote: keys
	// of one writer strictly increase even if the clock steps back.
	lastEntry time.Time
}

var (
	_ store.Backend = (*Store)(nil)
	_ store.Watcher = (*Store)(nil)
)

// New returns the backend for s3://cfg.Bucket/cfg.Prefix. It does not
// reach the server: the first operation does, and its error names the
// endpoint.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, fmt.Errorf("s3 state: empty bucket name: %w", termshift.ErrInvalid)
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Key == nil {
		cfg.Key = func() (termshift.Secret, bool) { return "", false }
	}
	// State objects are small: a request that takes long is a network
	// that does not answer, and serve must notice that and say so.
	httpClient := awshttp.NewBuildableClient().WithTimeout(15 * time.Second).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 5 * time.Second })
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(httpClient)}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey.Reveal(), "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 state s3://%s: load aws config: %w", cfg.Bucket, err)
	}
	if awsCfg.Region == "" {
		// S3-compatible servers ignore the region, but the signer needs one.
		awsCfg.Region = "us-east-1"
	}
	client := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &Store{cfg: cfg, client: client, prefix: prefix, etags: map[int64]string{}}, nil
}

// String names the state: s3://bucket/prefix.
func (st *Store) String() string {
	return "s3://" + st.cfg.Bucket + "/" + strings.TrimSuffix(st.prefix, "/")
}

// Endpoint names the server: its URL, or AWS's endpoint of the region.
func (st *Store) Endpoint() string {
	if st.cfg.Endpoint != "" {
		return st.cfg.Endpoint
	}
	region := st.cfg.Region
	if region == "" {
		region = "of the default region"
	}
	return "AWS S3 " + region
}

func (st *Store) key(name string) string { return st.prefix + name }

func (st *Store) uri(key string) string { return "s3://" + st.cfg.Bucket + "/" + key }

func (st *Store) bucket() *string { return aws.String(st.cfg.Bucket) }

// fail wraps an S3 error with what was done, on which object, at which
// endpoint, and a hint when the cause is a common one.
func (st *Store) fail(op, key string, err error) error {
	err = fmt.Errorf("%s %s at %s: %w", op, st.uri(key), st.Endpoint(), err)
	var send *smithyhttp.RequestSendError
	var ae smithy.APIError
	switch {
	case errors.As(err, &send):
		return termshift.WithHint(err, "S3 at "+st.Endpoint()+" does not answer from here: check state.s3.endpoint in the environment file and the network")
	case errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket":
		return termshift.WithHint(err, "bucket "+st.cfg.Bucket+" does not exist at "+st.Endpoint()+": create it, or fix state.url")
	case httpStatus(err) == 403:
		return termshift.WithHint(err, "S3 refused these credentials: check state.s3.access_key and secret_key, or the AWS chain's")
	}
	return err
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// refused: a conditional request's condition did not hold (412), the
// object it was conditional on is gone (404 on If-Match), or a concurrent
// conditional write won (409 on AWS).
func refused(err error) bool {
	switch httpStatus(err) {
	case 412, 409:
		return true
	case 404:
		return notFound(err)
	}
	return false
}

// notFound: the key does not exist (but the bucket does).
func notFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		case "NoSuchBucket":
			return false
		}
	}
	return httpStatus(err) == 404
}

func notModified(err error) bool { return httpStatus(err) == 304 }

// token is a random identifier of one write or one lock holder.
func token() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
