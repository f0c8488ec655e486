// Package grant issues and checks preview grants: signed, expiring tokens
// that let whoever holds one preview one release through the public
// address, from any network. A token is plain text, safe in a cookie, a
// header and a URL query:
//
//	v1.RELEASE.EXPIRES.ID.MAC
//
// EXPIRES is the expiry in Unix seconds, ID 16 lowercase hex digits naming
// the grant (what `termshift preview-revoke` takes), and MAC the unpadded
// base64url HMAC-SHA256 of everything before it under the environment's
// grant key. Nothing in a token is secret; the MAC makes it unforgeable.
// Revocation is a list of IDs the caller keeps (state's revoked grants).
package grant

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/termshift/termshift"
)

// Limits of a grant and of what Parse reads.
const (
	// MinKeyBytes is the shortest grant key accepted: 32 random bytes, as
	// `openssl rand -hex 32` gives (64 characters).
	MinKeyBytes = 32
	// MaxTTL bounds a grant's life: a grant is for a QA session or a test
	// run, not a standing door.
	MaxTTL = 31 * 24 * time.Hour
	// MaxTokenBytes bounds a token Parse looks at; real ones are under 110.
	MaxTokenBytes = 256

	version = "v1"
	idBytes = 8
)

// Errors Parse returns; each is wrapped with what was wrong.
var (
	ErrMalformed    = errors.New("not a preview grant")
	ErrBadSignature = errors.New("preview grant signature does not match (tampered, or signed with another key)")
	ErrExpired      = errors.New("preview grant expired")
)

// Grant lets its holder preview Release until Expires.
type Grant struct {
	ID      string
	Release string
	Expires time.Time
}

// New makes a grant for release that lasts ttl from now, with a random ID.
func New(release string, ttl time.Duration, now time.Time) (Grant, error) {
	if err := termshift.ValidateRelease(release); err != nil {
		return Grant{}, err
	}
	if ttl <= 0 || ttl > MaxTTL {
		return Grant{}, fmt.Errorf("a grant lasts more than 0 and at most %s, not %s: %w", MaxTTL, ttl, termshift.ErrInvalid)
	}
	var b [idBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Grant{}, fmt.Errorf("grant id: %w", err)
	}
	// Whole seconds: the token carries Unix seconds, and a grant must read
	// back as it was made.
	exp := now.Add(ttl).Truncate(time.Second).UTC()
	return Grant{ID: hex.EncodeToString(b[:]), Release: release, Expires: exp}, nil
}

// Keys signs with the current key and accepts tokens signed with it or with
// a previous one, so a key can be rotated without cutting off grants given
// the day before.
type Keys struct {
	sign   []byte
	verify [][]byte
}

// NewKeys returns the keys from the current grant key and any previous ones
// still accepted. A key shorter than MinKeyBytes is refused; an empty
// previous key is ignored.
func NewKeys(current termshift.Secret, previous ...termshift.Secret) (*Keys, error) {
	if len(current.Reveal()) < MinKeyBytes {
		return nil, fmt.Errorf("the grant key is %d bytes; want at least %d random bytes (e.g. `openssl rand -hex 32`): %w", len(current.Reveal()), MinKeyBytes, termshift.ErrInvalid)
	}
	k := &Keys{sign: []byte(current.Reveal())}
	k.verify = append(k.verify, k.sign)
	for _, p := range previous {
		switch {
		case p == "":
		case len(p.Reveal()) < MinKeyBytes:
			return nil, fmt.Errorf("the previous grant key is %d bytes; want at least %d: %w", len(p.Reveal()), MinKeyBytes, termshift.ErrInvalid)
		default:
			k.verify = append(k.verify, []byte(p.Reveal()))
		}
	}
	return k, nil
}

// Sign returns the token of g under the current key.
func (k *Keys) Sign(g Grant) string {
	body := payload(g)
	return body + "." + mac(k.sign, body)
}

func payload(g Grant) string {
	return version + "." + g.Release + "." + strconv.FormatInt(g.Expires.Unix(), 10) + "." + g.ID
}

func mac(key []byte, body string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// Parse checks a token and returns its grant: well formed, signed with one
// of the keys, and not expired at now. Only the canonical form of a token
// is accepted, so one grant has exactly one token.
func (k *Keys) Parse(token string, now time.Time) (Grant, error) {
	if len(token) > MaxTokenBytes {
		return Grant{}, fmt.Errorf("%w: %d bytes, a grant has at most %d", ErrMalformed, len(token), MaxTokenBytes)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 5 || parts[0] != version {
		return Grant{}, fmt.Errorf("%w: want v1.RELEASE.EXPIRES.ID.MAC", ErrMalformed)
	}
	body := token[:len(token)-len(parts[4])-1]
	signed := false
	for _, key := range k.verify {
		if hmac.Equal([]byte(mac(key, body)), []byte(parts[4])) {
			signed = true
			break
		}
	}
	if !signed {
		return Grant{}, ErrBadSignature
	}
	// Signed by us: the fields were written by Sign, but a key shared with
	// an older version must not make Parse trust them blindly.
	if err := termshift.ValidateRelease(parts[1]); err != nil {
		return Grant{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || exp <= 0 || strconv.FormatInt(exp, 10) != parts[2] {
		return Grant{}, fmt.Errorf("%w: expiry %q is not Unix seconds", ErrMalformed, parts[2])
	}
	if !validID(parts[3]) {
		return Grant{}, fmt.Errorf("%w: id %q is not %d hex digits", ErrMalformed, parts[3], 2*idBytes)
	}
	g := Grant{ID: parts[3], Release: parts[1], Expires: time.Unix(exp, 0).UTC()}
	if !now.Before(g.Expires) {
		return g, fmt.Errorf("%w at %s", ErrExpired, g.Expires.Format(time.RFC3339))
	}
	return g, nil
}

// ValidID reports whether id has the form of a grant ID.
func ValidID(id string) bool { return validID(id) }

func validID(id string) bool {
	if len(id) != 2*idBytes {
		return false
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
