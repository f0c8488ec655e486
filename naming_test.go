package termshift_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/termshift/termshift"
)

func TestValidateRelease(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ok       bool
		wantRule string
	}{
		{"next", true, ""},
		{"redwood", true, ""},
		{"r2026", true, ""},
		{"a", true, ""},
		{strings.Repeat("a", 20), true, ""},
		{strings.Repeat("a", 21), false, "is 21 bytes, longer than 20"},
		{strings.Repeat("x", 65), false, "is 65 bytes"},
		{"", false, "must not be empty"},
		{"Next", false, "must match"},
		{"2next", false, "must match"},
		{"next_1", false, "must match"},
		{"next-1", false, "must match"},
		{"next; DROP DATABASE x", false, "must match"},
		{"../x", false, "must match"},
		{"next\n", false, "must match"},
		{"next\x00", false, "must match"},
		{"nëxt", false, "must match"},
		{"ｎｅｘｔ", false, "must match"},
		{"next`", false, "must match"},
		{"$(rm -rf /)", false, "must match"},
	} {
		t.Run(fmt.Sprintf("%q", tc.name), func(t *testing.T) {
			err := termshift.ValidateRelease(tc.name)
			if tc.ok {
				if err != nil {
					t.Fatalf("ValidateRelease(%q) = %v, want ok", tc.name, err)
				}
				return
			}
			var ne *termshift.NameError
			if !errors.As(err, &ne) || !errors.Is(err, termshift.ErrInvalid) {
				t.Fatalf("ValidateRelease(%q) = %v, want a NameError matching ErrInvalid", tc.name, err)
			}
			if !strings.Contains(ne.Rule, tc.wantRule) {
				t.Errorf("rule = %q, want it to contain %q", ne.Rule, tc.wantRule)
			}
			// The message quotes the name: control characters cannot forge output.
			if strings.ContainsAny(err.Error(), "\n\x00") {
				t.Errorf("message carries raw control characters: %q", err.Error())
			}
		})
	}
}

func TestDeriveNamespace(t *testing.T) {
	long := strings.Repeat("l", 50)
	for _, tc := range []struct {
		svc              termshift.Service
		pattern, logical string
		release          string
		wantName         string
		wantUser         string
		wantErr          string
	}{
		{termshift.MySQL, "{logical}_{release}", "edxapp", "next", "edxapp_next", "edxapp_next", ""},
		{termshift.MongoDB, "{logical}_{release}", "modulestore", "next", "modulestore_next", "modulestore_next", ""},
		{termshift.RabbitMQ, "{logical}_{release}", "/celery", "next", "/celery_next", "celery_next", ""},
		{termshift.Memcached, "{logical}_{release}", "default", "next", "default_next", "", ""},
		{termshift.MySQL, "{release}__{logical}", "edxapp", "redwood", "redwood__edxapp", "redwood__edxapp", ""},
		// MySQL: identifier 64 characters, user 32.
		{termshift.MySQL, "{logical}_{release}", long, "next", "", "", `MySQL user "` + long + `_next": is 55 characters, MySQL allows 32`},
		{termshift.MySQL, "{logical}_{release}", strings.Repeat("l", 64), "next", "", "", "MySQL schema"},
		{termshift.MySQL, "{logical}_{release}", "edxapp", "next; DROP DATABASE x", "", "", `release name "next; DROP DATABASE x"`},
		{termshift.MySQL, "{logical}_{release}", "edx`app", "next", "", "", "logical database name"},
		{termshift.MySQL, "{logical}.{release}", "edxapp", "next", "", "", "may hold only letters, digits"},
		// MongoDB: under 64 bytes, no /\. "$ or NUL.
		{termshift.MongoDB, "{logical}.{release}", "forum", "next", "", "", `must not contain / \ . " $ space or NUL`},
		{termshift.MongoDB, "{logical}_{release}", strings.Repeat("m", 60), "next", "", "", "is 65 bytes, MongoDB requires under 64"},
		{termshift.MongoDB, "{logical}$x{release}", "forum", "next", "", "", "must not contain"},
		{termshift.MongoDB, "{logical}_{release}", "../x", "next", "", "", "logical database name"},
		// vhost: printable ASCII up to 255 bytes.
		{termshift.RabbitMQ, "{logical} {release}", "celery", "next", "", "", "may hold only printable ASCII without spaces"},
		{termshift.MySQL, "{logical}_{release}_{env}", "edxapp", "next", "", "", "unknown placeholder {env}"},
		{termshift.MySQL, "{logical}", "edxapp", "next", "", "", "must contain both {logical} and {release}"},
	} {
		t.Run(fmt.Sprintf("%s/%s/%s/%s", tc.svc, tc.pattern, tc.logical, tc.release), func(t *testing.T) {
			ns, err := termshift.DeriveNamespace(tc.svc, tc.pattern, tc.logical, tc.release)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, termshift.ErrInvalid) {
					t.Fatalf("DeriveNamespace = %+v, %v; want error containing %q", ns, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DeriveNamespace: %v", err)
			}
			if ns.Name != tc.wantName || ns.User != tc.wantUser || ns.Release != tc.release || ns.Logical != tc.logical {
				t.Errorf("got %+v, want name %q user %q", ns, tc.wantName, tc.wantUser)
			}
		})
	}
}

func TestValidateVhostAndElastiCacheID(t *testing.T) {
	if err := termshift.ValidateVhost(strings.Repeat("v", 256)); err == nil || !strings.Contains(err.Error(), "RabbitMQ allows 255") {
		t.Errorf("256-byte vhost: %v", err)
	}
	if err := termshift.ValidateVhost("/celery_next"); err != nil {
		t.Errorf("valid vhost refused: %v", err)
	}
	if err := termshift.ValidateVhost("céleri"); err == nil {
		t.Errorf("non-ASCII vhost accepted")
	}
	for _, tc := range []struct{ in, want, err string }{
		{"default_next", "default-next", ""},
		{"cache_redwood2026", "cache-redwood2026", ""},
		{"memcached_default_next", "", "is 22 characters, ElastiCache allows 20"},
		{"default__next", "", "two hyphens"},
		{"default_", "", "end with a hyphen"},
		{"1cache", "", "start with a lowercase letter"},
		{"Cache", "", "start with a lowercase letter"},
	} {
		got, err := termshift.ElastiCacheID(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ElastiCacheID(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ElastiCacheID(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestQuoteAlwaysQuotes(t *testing.T) {
	for _, tc := range []struct{ in, mysql, msg string }{
		{"edxapp_next", "`edxapp_next`", `"edxapp_next"`},
		{"we`ird", "`we``ird`", `"we` + "`" + `ird"`},
		{"a\nb", "`a\nb`", `"a\nb"`},
	} {
		if got := termshift.QuoteMySQL(tc.in); got != tc.mysql {
			t.Errorf("QuoteMySQL(%q) = %s, want %s", tc.in, got, tc.mysql)
		}
		if got := termshift.Quote(tc.in); got != tc.msg {
			t.Errorf("Quote(%q) = %s, want %s", tc.in, got, tc.msg)
		}
	}
}

func TestPatternRegexpFindsReleases(t *testing.T) {
	re := termshift.PatternRegexp("{logical}_{release}", "edxapp")
	for in, want := range map[string]string{"edxapp_next": "next", "edxapp_csmh_next": "", "edxapp_": "", "edxapp_Next": "", "xedxapp_next": "", "edxapp_r2": "r2"} {
		m := re.FindStringSubmatch(in)
		got := ""
		if m != nil {
			got = m[1]
		}
		if got != want {
			t.Errorf("%q: release %q, want %q", in, got, want)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := termshift.Secret("hunter2-hunter2")
	c := termshift.Credential{User: "u", Password: s}
	var logged strings.Builder
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	logger.Info("carve", "password", s, "cred", c)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", c, c, c, s), logged.String()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if s.Reveal() != "hunter2-hunter2" {
		t.Errorf("Reveal lost the value")
	}
}

func TestPartialErrorSaysWhatIsDone(t *testing.T) {
	cause := errors.New("dial tcp 127.0.0.1:5672: connection refused")
	err := error(&termshift.PartialError{Op: "carve next", Done: []string{"mysql \"edxapp_next\""}, Failed: []string{"rabbitmq \"celery_next\""}, Err: cause})
	if !errors.Is(err, cause) {
		t.Errorf("PartialError does not unwrap to its cause")
	}
	want := `carve next stopped half way: dial tcp 127.0.0.1:5672: connection refused; done: mysql "edxapp_next"; failed: rabbitmq "celery_next"`
	if err.Error() != want {
		t.Errorf("got %q\nwant %q", err.Error(), want)
	}
}

func TestRedactorCatchesEscapedForms(t *testing.T) {
	pw := "p@ss/w0rd+x y"
	redact := termshift.Redactor([]string{pw, "ab"}, "[redacted]")
	for _, text := range []string{
		"dial root:" + pw + "@tcp(db)",
		"amqp://u:" + url.UserPassword("u", pw).String()[2:] + "@mq/",
		"/vhost/" + url.PathEscape(pw),
		"?password=" + url.QueryEscape(pw),
	} {
		got := redact(text)
		if strings.Contains(got, "w0rd") {
			t.Errorf("redact(%q) = %q: the secret survives", text, got)
		}
		if !strings.Contains(got, "[redacted]") {
			t.Errorf("redact(%q) = %q: nothing replaced", text, got)
		}
	}
	if got := redact("ab cd"); got != "ab cd" {
		t.Errorf("a 2-byte secret replaced in ordinary text: %q", got)
	}
}
