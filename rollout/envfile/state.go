package envfile

import (
	"net/url"
	"regexp"
	"strings"
	"time"
)

// State backends.
const (
	StateLocal = "local"
	StateS3    = "s3"
)

// DefaultLease is how long a lock holder's lease on a shared state lasts
// without renewal; the holder renews it every third of that while it runs.
const DefaultLease = 30 * time.Second

// Bounds of state.lease: shorter leases expire on a slow network; longer
// ones keep a crashed holder's lock for longer.
const (
	minLease = time.Second
	maxLease = time.Hour
)

// StateConfig says where the environment's state, journal, lock and
// generated credentials live: a directory on this machine (local, the
// default, in state_dir) or an S3 prefix that every operator's machine and
// every router reaches (s3).
type StateConfig struct {
	Backend string `yaml:"backend"` // local (default) or s3
	URL     string `yaml:"url"`     // s3://bucket/prefix for backend s3
	// S3 reaches the bucket; empty fields use the standard AWS chain.
	S3 S3Config `yaml:"s3"`
	// Lease is how long a lock holder's lease lasts without renewal
	// (backend s3; default 30s).
	Lease Duration `yaml:"lease"`
}

// Bucket is the bucket of URL.
func (c StateConfig) Bucket() string {
	b, _ := splitS3URL(c.URL)
	return b
}

// Prefix is the key prefix of URL, without slashes at its ends.
func (c StateConfig) Prefix() string {
	_, p := splitS3URL(c.URL)
	return p
}

func splitS3URL(u string) (bucket, prefix string) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", ""
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, strings.Trim(prefix, "/")
}

// bucketRE is S3's rule for bucket names (general purpose buckets).
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ValidateStateURL checks an s3://bucket/prefix URL for a state; it returns
// the problem in words, "" when there is none. The CLI checks `state
// migrate --to` with it too.
func ValidateStateURL(u string) string {
	if !strings.HasPrefix(u, "s3://") {
		return "must be s3://bucket/prefix, not " + short(u)
	}
	bucket, prefix := splitS3URL(u)
	switch {
	case bucket == "":
		return "names no bucket: want s3://bucket/prefix"
	case !bucketRE.MatchString(bucket) || strings.Contains(bucket, ".."):
		return "bucket " + short(bucket) + " is not an S3 bucket name (3-63 lowercase letters, digits, '.' or '-')"
	}
	for _, part := range strings.Split(prefix, "/") {
		if part == "." || part == ".." {
			return "prefix " + short(prefix) + " holds a . or .. segment"
		}
		if prefix != "" && part == "" {
			return "prefix " + short(prefix) + " holds an empty segment (//)"
		}
	}
	if strings.ContainsAny(prefix, "\\\x00\n\r") {
		return "prefix " + short(prefix) + " holds a backslash or a control character"
	}
	return ""
}

func (v *validator) validateState(c StateConfig) {
	s3Set := c.S3 != (S3Config{})
	switch c.Backend {
	case "", StateLocal:
		if c.URL != "" {
			v.fail("state.url", "is for backend s3; a local state lives in state_dir (set state.backend: s3 to use the URL)")
		}
		if s3Set {
			v.fail("state.s3", "is for backend s3; a local state needs no S3 settings")
		}
		if c.Lease.Duration != 0 {
			v.fail("state.lease", "is for backend s3; a local lock needs no lease (its holder's process is checked)")
		}
	case StateS3:
		if c.URL == "" {
			v.fail("state.url", "is required for backend s3: s3://bucket/prefix")
		} else if why := ValidateStateURL(c.URL); why != "" {
			v.fail("state.url", "%s", why)
		}
	default:
		v.fail("state.backend", "must be local or s3, not %s", short(c.Backend))
	}
	if e := c.S3.Endpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail("state.s3.endpoint", "%s is not an http:// or https:// URL", short(e))
		}
	}
	if (c.S3.AccessKey == "") != (c.S3.SecretKey == "") {
		v.fail("state.s3", "access_key and secret_key go together: give both, or neither to use the standard AWS chain")
	}
	if l := c.Lease.Duration; l != 0 && (l < minLease || l > maxLease) {
		v.fail("state.lease", "%s is out of range: a lease lasts between %s and %s", l, minLease, maxLease)
	}
}

func applyStateDefaults(c *StateConfig) {
	if c.Backend == "" {
		c.Backend = StateLocal
	}
	if c.Backend == StateS3 && c.Lease.Duration == 0 {
		c.Lease.Duration = DefaultLease
	}
}
