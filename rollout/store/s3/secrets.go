package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/crypto/nacl/secretbox"

	"github.com/termshift/termshift"
)

// Generated credentials never reach the bucket in clear: each release's
// are sealed with NaCl secretbox (XSalsa20-Poly1305) under the 32-byte key
// in $TERMSHIFT_STATE_KEY, in secrets/RELEASE.box. The box is
// authenticated, so a wrong key or a changed object is detected, never
// decrypted into garbage; the release's name is sealed inside, so one
// release's box moved onto another's name is refused too.
const (
	secretsDir = "secrets/"
	boxSuffix  = ".box"
	boxFormat  = "termshift-secretbox-v1"
)

// sealed is a credentials object as stored.
type sealed struct {
	Format string `json:"format"`
	// KeyID tells which key sealed it, so that a wrong key is named as
	// such (a hash of the key: it reveals nothing of a random key).
	KeyID string `json:"key_id"`
	Nonce string `json:"nonce"` // base64, 24 bytes
	Box   string `json:"box"`   // base64
}

// opened is what a box holds.
type opened struct {
	Release     string                      `json:"release"`
	Credentials map[string]storedCredential `json:"credentials"`
}

type storedCredential struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// NewKeyVar holds the new key during `termshift state rekey`.
const NewKeyVar = "TERMSHIFT_STATE_NEW_KEY"

// ParseKey reads a state key given in the variable named name: 32 bytes
// written as 64 hex digits or as base64 (standard or URL alphabet, padded
// or not). The error names the variable, never the value.
func ParseKey(name string, v termshift.Secret) (*[32]byte, error) {
	s := strings.TrimSpace(v.Reveal())
	var raw []byte
	if b, err := hex.DecodeString(s); err == nil && len(s) == 64 {
		raw = b
	} else {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(s); err == nil {
				raw = b
				break
			}
		}
	}
	if len(raw) != 32 {
		got := "it is neither hex nor base64"
		if raw != nil {
			got = fmt.Sprintf("it decodes to %d bytes", len(raw))
		}
		return nil, fmt.Errorf("$%s is not a state key: want 32 bytes as 64 hex digits or base64 (`openssl rand -base64 32` makes one); %s: %w", name, got, termshift.ErrInvalid)
	}
	var k [32]byte
	copy(k[:], raw)
	return &k, nil
}

// keyID names a key without revealing it.
func keyID(k *[32]byte) string {
	sum := sha256.Sum256(append([]byte("termshift state key id\x00"), k[:]...))
	return hex.EncodeToString(sum[:8])
}

// sealKey returns the sealing key, or an error naming the variable.
func (st *Store) sealKey() (*[32]byte, error) {
	v, ok := st.cfg.Key()
	if !ok || v == "" {
		return nil, termshift.WithHint(fmt.Errorf("credentials in %s are sealed with the key in $%s, which is not set: %w", st, KeyVar, termshift.ErrInvalid),
			"set "+KeyVar+" to this environment's state key (every operator who carves, deploys or reads credentials needs it; ask whoever set the state up)")
	}
	return ParseKey(KeyVar, v)
}

func (st *Store) secretsKey(release string) string { return st.key(secretsDir + release + boxSuffix) }

// Credentials returns a release's stored credentials by "service/logical".
// A release without any needs no key.
func (st *Store) Credentials(ctx context.Context, release string) (map[string]termshift.Credential, error) {
	if err := termshift.ValidateRelease(release); err != nil {
		return nil, err
	}
	key := st.secretsKey(release)
	data, err := st.get(ctx, key, 1<<20)
	if notFound(err) {
		return map[string]termshift.Credential{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read credentials of %s: %w", termshift.Quote(release), err)
	}
	k, err := st.sealKey()
	if err != nil {
		return nil, err
	}
	o, err := open(data, k, release, st.uri(key))
	if err != nil {
		return nil, err
	}
	out := make(map[string]termshift.Credential, len(o.Credentials))
	for name, c := range o.Credentials {
		out[name] = termshift.Credential{User: c.User, Password: termshift.Secret(c.Password)}
	}
	return out, nil
}

// open authenticates and decrypts a box of release's credentials.
func open(data []byte, k *[32]byte, release, where string) (*opened, error) {
	var box sealed
	if err := json.Unmarshal(data, &box); err != nil || box.Format != boxFormat {
		return nil, fmt.Errorf("read credentials of %s: %s is not a termshift credentials box (%s)", termshift.Quote(release), where, boxFormat)
	}
	if id := keyID(k); box.KeyID != id {
		return nil, termshift.WithHint(fmt.Errorf("read credentials of %s: %s was sealed with another key (key id %s) than the one in $%s (key id %s): %w",
			termshift.Quote(release), where, box.KeyID, KeyVar, id, termshift.ErrInvalid), "set "+KeyVar+" to the key this state was written with")
	}
	nonce, nerr := base64.StdEncoding.DecodeString(box.Nonce)
	sealedBytes, berr := base64.StdEncoding.DecodeString(box.Box)
	if nerr != nil || berr != nil || len(nonce) != 24 {
		return nil, fmt.Errorf("read credentials of %s: %s is damaged", termshift.Quote(release), where)
	}
	var n [24]byte
	copy(n[:], nonce)
	plain, ok := secretbox.Open(nil, sealedBytes, &n, k)
	if !ok {
		return nil, fmt.Errorf("read credentials of %s: %s does not authenticate under the key in $%s: it was changed or damaged: %w", termshift.Quote(release), where, KeyVar, termshift.ErrInvalid)
	}
	var o opened
	if err := json.Unmarshal(plain, &o); err != nil {
		return nil, fmt.Errorf("read credentials of %s: %s holds no credentials", termshift.Quote(release), where)
	}
	if o.Release != release {
		return nil, fmt.Errorf("read credentials of %s: %s holds the credentials of %s: refused: %w", termshift.Quote(release), where, termshift.Quote(o.Release), termshift.ErrInvalid)
	}
	return &o, nil
}

// seal encrypts a release's credentials under k.
func seal(k *[32]byte, release string, creds map[string]termshift.Credential) ([]byte, error) {
	o := opened{Release: release, Credentials: make(map[string]storedCredential, len(creds))}
	for name, c := range creds {
		o.Credentials[name] = storedCredential{User: c.User, Password: c.Password.Reveal()}
	}
	plain, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode credentials: %w", err)
	}
	var n [24]byte
	if _, err := rand.Read(n[:]); err != nil {
		return nil, fmt.Errorf("seal credentials: %w", err)
	}
	box := sealed{Format: boxFormat, KeyID: keyID(k), Nonce: base64.StdEncoding.EncodeToString(n[:]),
		Box: base64.StdEncoding.EncodeToString(secretbox.Seal(nil, plain, &n, k))}
	return json.MarshalIndent(box, "", "  ")
}

// SaveCredentials seals a release's credentials and writes them.
func (st *Store) SaveCredentials(ctx context.Context, release string, creds map[string]termshift.Credential) error {
	if err := termshift.ValidateRelease(release); err != nil {
		return err
	}
	k, err := st.sealKey()
	if err != nil {
		return err
	}
	data, err := seal(k, release, creds)
	if err != nil {
		return err
	}
	key := st.secretsKey(release)
	_, err = st.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: st.bucket(), Key: aws.String(key), Body: bytes.NewReader(data), ContentType: aws.String("application/json")})
	if err != nil {
		return st.fail("write credentials", key, err)
	}
	return nil
}

// DeleteCredentials removes a release's credentials.
func (st *Store) DeleteCredentials(ctx context.Context, release string) error {
	if err := termshift.ValidateRelease(release); err != nil {
		return err
	}
	key := st.secretsKey(release)
	_, err := st.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: st.bucket(), Key: aws.String(key)})
	if err != nil && !notFound(err) {
		return st.fail("delete credentials", key, err)
	}
	return nil
}

// CredentialReleases lists the releases with stored credentials.
func (st *Store) CredentialReleases(ctx context.Context) ([]string, error) {
	keys, err := st.list(ctx, secretsDir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		name, ok := strings.CutSuffix(strings.TrimPrefix(k, st.key(secretsDir)), boxSuffix)
		if ok && termshift.ValidateRelease(name) == nil {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Rekey re-seals every release's credentials under newKey (the value of
// $TERMSHIFT_STATE_NEW_KEY), opening them with the current key. Each box is
// replaced only if it did not change meanwhile (If-Match on its ETag).
// Boxes already sealed under newKey are left alone, so a rekey that
// stopped half way is completed by running it again with both keys.
func (st *Store) Rekey(ctx context.Context, newKey termshift.Secret) (resealed, already []string, err error) {
	nk, err := ParseKey(NewKeyVar, newKey)
	if err != nil {
		return nil, nil, err
	}
	releases, err := st.CredentialReleases(ctx)
	if err != nil {
		return nil, nil, err
	}
	var old *[32]byte
	for _, r := range releases {
		key := st.secretsKey(r)
		out, err := st.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: st.bucket(), Key: aws.String(key)})
		if notFound(err) {
			continue // deleted since the listing
		}
		if err != nil {
			return resealed, already, st.fail("read credentials", key, err)
		}
		data, err := io.ReadAll(io.LimitReader(out.Body, 1<<20))
		out.Body.Close()
		if err != nil {
			return resealed, already, st.fail("read credentials", key, err)
		}
		var box sealed
		if json.Unmarshal(data, &box) == nil && box.KeyID == keyID(nk) {
			already = append(already, r)
			continue
		}
		if old == nil {
			if old, err = st.sealKey(); err != nil {
				return resealed, already, err
			}
		}
		o, err := open(data, old, r, st.uri(key))
		if err != nil {
			return resealed, already, err
		}
		creds := make(map[string]termshift.Credential, len(o.Credentials))
		for name, c := range o.Credentials {
			creds[name] = termshift.Credential{User: c.User, Password: termshift.Secret(c.Password)}
		}
		next, err := seal(nk, r, creds)
		if err != nil {
			return resealed, already, err
		}
		_, err = st.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: st.bucket(), Key: aws.String(key), Body: bytes.NewReader(next),
			ContentType: aws.String("application/json"), IfMatch: out.ETag})
		if refused(err) {
			return resealed, already, fmt.Errorf("rekey %s: it changed while being re-sealed; run the rekey again", st.uri(key))
		}
		if err != nil {
			return resealed, already, st.fail("write credentials", key, err)
		}
		resealed = append(resealed, r)
	}
	return resealed, already, nil
}
