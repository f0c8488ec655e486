package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

func TestPreviewCommands(t *testing.T) {
	t.Setenv("TEST_GRANT_KEY", "cli-test-grant-key-0123456789abcdef0123")
	env := writeEnv(t, strings.Replace(minimalEnv, `router: {listen: "127.0.0.1:0"}`,
		"router:\n  listen: \"127.0.0.1:8100\"\n  preview: {grant_key: \"${TEST_GRANT_KEY}\", public_url: \"https://lms.example.edu\"}", 1))

	code, out, errs := cli(t, "--env", env, "preview-link", "next", "--for", "2h", "--reason", "QA at the client")
	if code != exitOK {
		t.Fatalf("preview-link: %d %s", code, errs)
	}
	m := regexp.MustCompile(`preview grant ([0-9a-f]{16}) for next, valid until `).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "browser:    https://lms.example.edu/_termshift/preview/next?grant=v1.next.") ||
		!strings.Contains(out, "test suite: X-Termshift-Grant: v1.next.") || !strings.Contains(out, "next is not running yet") {
		t.Fatalf("preview-link output:\n%s", out)
	}
	id := m[1]
	code, out, _ = cli(t, "--env", env, "history", "--json")
	if code != exitOK || !strings.Contains(out, "QA at the client") || !strings.Contains(out, "grant "+id+" for next") || strings.Contains(out, "v1.next.") {
		t.Errorf("history after preview-link (want who, why and the ID, never the token):\n%s", out)
	}

	code, out, errs = cli(t, "--env", env, "preview-revoke", id, "--reason", "QA done", "--json")
	var rev struct{ ID, Release, By string }
	if code != exitOK || json.Unmarshal([]byte(out), &rev) != nil || rev.ID != id || rev.Release != "next" || rev.By == "" {
		t.Fatalf("preview-revoke: %d %s %s", code, out, errs)
	}
	code, out, _ = cli(t, "--env", env, "status", "--json")
	if code != exitOK || !strings.Contains(out, `"revoked_grants"`) || !strings.Contains(out, id) {
		t.Errorf("state after revoke lacks the grant:\n%s", out)
	}

	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"preview-link", "next"}, exitUsage, "preview-link needs --reason TEXT"},
		{[]string{"preview-link", "next", "--for", "800h", "--reason", "x"}, exitUsage, "at most 744h0m0s"},
		{[]string{"preview-link", "Next!", "--reason", "x"}, exitUsage, `release name "Next!"`},
		{[]string{"preview-link", "redwood", "--reason", "x"}, exitNotFound, `release "redwood" is not defined`},
		{[]string{"preview-revoke", "nope", "--reason", "x"}, exitUsage, `"nope" is not a grant ID`},
		{[]string{"preview-revoke", id}, exitUsage, "preview-revoke needs --reason TEXT"},
	} {
		code, _, errs := cli(t, append([]string{"--env", env}, tc.args...)...)
		if code != tc.code || !strings.Contains(errs, tc.stderr) {
			t.Errorf("%v: exit %d %q; want %d and %q", tc.args, code, errs, tc.code, tc.stderr)
		}
	}
	// Without a key: a clear error and the way to set one.
	noKey := writeEnv(t, minimalEnv)
	code, _, errs = cli(t, "--env", noKey, "preview-link", "next", "--reason", "x")
	if code != exitUsage || !strings.Contains(errs, "router.preview.grant_key is not set") || !strings.Contains(errs, "hint: add `grant_key: ${TERMSHIFT_GRANT_KEY}`") {
		t.Errorf("preview-link without a key: %d %s", code, errs)
	}
}
