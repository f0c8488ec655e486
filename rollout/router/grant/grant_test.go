package grant_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router/grant"
)

const (
	key   = termshift.Secret("0123456789abcdef0123456789abcdef-current")
	older = termshift.Secret("0123456789abcdef0123456789abcdef-previous")
	other = termshift.Secret("0123456789abcdef0123456789abcdef-someone-else")
)

var now = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

func keys(t testing.TB, current termshift.Secret, previous ...termshift.Secret) *grant.Keys {
	t.Helper()
	k, err := grant.NewKeys(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignParseRoundTrip(t *testing.T) {
	t.Parallel()
	k := keys(t, key)
	g, err := grant.New("next", 8*time.Hour, now.Add(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if !grant.ValidID(g.ID) || g.Expires != now.Add(8*time.Hour) {
		t.Fatalf("New = %+v; want a hex id and an expiry 8h from now in whole seconds", g)
	}
	tok := k.Sign(g)
	if !strings.HasPrefix(tok, "v1.next.") || strings.ContainsAny(tok, " ;,\"=") {
		t.Errorf("token %q: want v1.next.… with no character a cookie cannot hold", tok)
	}
	got, err := k.Parse(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, g); diff != "" {
		t.Errorf("Parse(Sign(g)) (-got +want):\n%s", diff)
	}
	if a, _ := grant.New("next", time.Hour, now); a.ID == g.ID {
		t.Error("two grants share an id")
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	k := keys(t, key)
	g, _ := grant.New("next", time.Hour, now)
	good := k.Sign(g)
	body := good[:strings.LastIndex(good, ".")]
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	forged := keys(t, other).Sign(g)
	tests := []struct {
		name  string
		token string
		at    time.Time
		want  error
	}{
		{"expired", good, g.Expires, grant.ErrExpired},
		{"long expired", good, g.Expires.Add(24 * time.Hour), grant.ErrExpired},
		{"other key", forged, now, grant.ErrBadSignature},
		{"release changed", strings.Replace(good, ".next.", ".prod.", 1), now, grant.ErrBadSignature},
		{"expiry pushed", strings.Replace(good, strings.Split(good, ".")[2], "9999999999", 1), now, grant.ErrBadSignature},
		{"id changed", strings.Replace(good, g.ID, "0000000000000000", 1), now, grant.ErrBadSignature},
		{"mac flipped", flip(good, len(good)-3), now, grant.ErrBadSignature},
		{"mac cut", good[:len(good)-1], now, grant.ErrBadSignature},
		{"no mac", body, now, grant.ErrMalformed},
		{"empty", "", now, grant.ErrMalformed},
		{"other version", "v2" + good[2:], now, grant.ErrMalformed},
		{"too long", good + strings.Repeat("A", grant.MaxTokenBytes), now, grant.ErrMalformed},
		{"extra field", body + ".x." + strings.Split(good, ".")[4], now, grant.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := k.Parse(tt.token, tt.at)
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse(%q) = %v, want %v", tt.token, err, tt.want)
			}
		})
	}
}

// TestRotation: after a key rotation, grants signed with the previous key
// still work while it is listed, and new grants use the new key.
func TestRotation(t *testing.T) {
	t.Parallel()
	g, _ := grant.New("next", time.Hour, now)
	yesterday := keys(t, older).Sign(g)
	rotated := keys(t, key, older)
	if _, err := rotated.Parse(yesterday, now); err != nil {
		t.Errorf("a grant of the previous key after rotation: %v", err)
	}
	if tok := rotated.Sign(g); tok == yesterday {
		t.Error("after rotation new grants are still signed with the previous key")
	}
	if _, err := keys(t, key).Parse(yesterday, now); !errors.Is(err, grant.ErrBadSignature) {
		t.Errorf("the previous key dropped: %v, want ErrBadSignature", err)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"short key", func() error { _, err := grant.NewKeys("too-short"); return err }()},
		{"short previous key", func() error { _, err := grant.NewKeys(key, "short"); return err }()},
		{"bad release", func() error { _, err := grant.New("Next!", time.Hour, now); return err }()},
		{"zero ttl", func() error { _, err := grant.New("next", 0, now); return err }()},
		{"ttl too long", func() error { _, err := grant.New("next", grant.MaxTTL+time.Second, now); return err }()},
	} {
		if !errors.Is(tc.err, termshift.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, tc.err)
		}
	}
	if _, err := grant.NewKeys(key, ""); err != nil {
		t.Errorf("an empty previous key (not configured): %v", err)
	}
}

// FuzzParse: Parse never panics, accepts only what Sign writes (a token it
// accepts signs back to itself), and never accepts a token of another key.
func FuzzParse(f *testing.F) {
	k := keys(f, key)
	g, _ := grant.New("next", time.Hour, now)
	f.Add(k.Sign(g))
	f.Add(keys(f, other).Sign(g))
	f.Add("v1.next.1700000000.0123456789abcdef.AAAA")
	f.Add("v1....")
	f.Add("")
	f.Add("v1.a.01.0123456789abcdef.x")
	f.Fuzz(func(t *testing.T, token string) {
		got, err := k.Parse(token, now)
		if err != nil {
			return
		}
		if k.Sign(got) != token {
			t.Fatalf("Parse accepted %q, which is not the canonical token %q of %+v", token, k.Sign(got), got)
		}
		if !grant.ValidID(got.ID) || termshift.ValidateRelease(got.Release) != nil || !now.Before(got.Expires) {
			t.Fatalf("Parse accepted a grant with bad fields: %+v", got)
		}
		if _, err := keys(t, other).Parse(token, now); err == nil {
			t.Fatalf("a token of one key parsed under another: %q", token)
		}
	})
}
