package envfile

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStateDefaultsToALocalDirectory(t *testing.T) {
	for _, tc := range []struct{ name, state string }{
		{"absent", ""},
		{"backend local", "state: {backend: local}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := ParseEnvironment("/srv/qa/termshift.yaml", []byte(valid+tc.state), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			want := StateConfig{Backend: StateLocal}
			if diff := cmp.Diff(env.State, want); diff != "" {
				t.Errorf("state (-got +want):\n%s", diff)
			}
			if env.StateDir != filepath.Join("/srv/qa", ".termshift") {
				t.Errorf("state_dir = %q", env.StateDir)
			}
		})
	}
}

func TestStateInS3(t *testing.T) {
	lookup := func(k string) (string, bool) {
		switch k {
		case "STATE_AK":
			return "AKIDEXAMPLE", true
		case "STATE_SK":
			return "wJalr-state-secret", true
		}
		return "", false
	}
	data := valid + `state:
  backend: s3
  url: s3://team-state/termshift/qa/
  s3: {endpoint: "http://127.0.0.1:7070", region: us-east-1, path_style: true, access_key: "${STATE_AK}", secret_key: "${STATE_SK}"}
`
	env, err := ParseEnvironment("termshift.yaml", []byte(data), lookup)
	if err != nil {
		t.Fatal(err)
	}
	want := StateConfig{Backend: StateS3, URL: "s3://team-state/termshift/qa/",
		S3:    S3Config{Endpoint: "http://127.0.0.1:7070", Region: "us-east-1", PathStyle: true, AccessKey: "AKIDEXAMPLE", SecretKey: "wJalr-state-secret"},
		Lease: Duration{DefaultLease}}
	if diff := cmp.Diff(env.State, want); diff != "" {
		t.Errorf("state (-got +want):\n%s", diff)
	}
	if env.State.Bucket() != "team-state" || env.State.Prefix() != "termshift/qa" {
		t.Errorf("bucket %q prefix %q", env.State.Bucket(), env.State.Prefix())
	}
	if !slices.Contains(env.Secrets(), "wJalr-state-secret") {
		t.Errorf("Secrets() does not list state.s3.secret_key: the journal would not redact it")
	}
	// A lease of its own.
	env, err = ParseEnvironment("termshift.yaml", []byte(valid+"state: {backend: s3, url: s3://b-1, lease: 5s}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if env.State.Lease.Duration != 5*time.Second || env.State.Prefix() != "" || env.State.Bucket() != "b-1" {
		t.Errorf("state = %+v", env.State)
	}
}

func TestStateProblemsWithLines(t *testing.T) {
	for _, tc := range []struct {
		name, state string
		want        []string
	}{
		{"unknown backend", "state: {backend: consul}\n",
			[]string{`termshift.yaml:4: state.backend: must be local or s3, not "consul"`}},
		{"s3 without url", "state:\n  backend: s3\n",
			[]string{`termshift.yaml:4: state.url: is required for backend s3: s3://bucket/prefix`}},
		{"url not s3", "state:\n  backend: s3\n  url: /var/lib/termshift\n",
			[]string{`termshift.yaml:6: state.url: must be s3://bucket/prefix, not "/var/lib/termshift"`}},
		{"no bucket", "state: {backend: s3, url: \"s3://\"}\n",
			[]string{`termshift.yaml:4: state.url: names no bucket: want s3://bucket/prefix`}},
		{"bad bucket", "state: {backend: s3, url: \"s3://Team_State/x\"}\n",
			[]string{`termshift.yaml:4: state.url: bucket "Team_State" is not an S3 bucket name (3-63 lowercase letters, digits, '.' or '-')`}},
		{"dot-dot prefix", "state: {backend: s3, url: \"s3://team/a/../b\"}\n",
			[]string{`termshift.yaml:4: state.url: prefix "a/../b" holds a . or .. segment`}},
		{"url with local", "state:\n  url: s3://team/qa\n",
			[]string{`termshift.yaml:5: state.url: is for backend s3; a local state lives in state_dir (set state.backend: s3 to use the URL)`}},
		{"s3 settings with local", "state:\n  backend: local\n  s3: {region: eu-west-1}\n",
			[]string{`termshift.yaml:6: state.s3: is for backend s3; a local state needs no S3 settings`}},
		{"bad endpoint and half a key pair", "state:\n  backend: s3\n  url: s3://team/qa\n  s3:\n    endpoint: 127.0.0.1:7070\n    access_key: AK\n",
			[]string{
				`termshift.yaml:7: state.s3: access_key and secret_key go together: give both, or neither to use the standard AWS chain`,
				`termshift.yaml:8: state.s3.endpoint: "127.0.0.1:7070" is not an http:// or https:// URL`,
			}},
		{"lease out of range", "state:\n  backend: s3\n  url: s3://team/qa\n  lease: 10ms\n",
			[]string{`termshift.yaml:7: state.lease: 10ms is out of range: a lease lasts between 1s and 1h0m0s`}},
		{"lease with local", "state:\n  lease: 30s\n",
			[]string{`termshift.yaml:5: state.lease: is for backend s3; a local lock needs no lease (its holder's process is checked)`}},
		{"unknown field", "state:\n  backend: s3\n  url: s3://team/qa\n  bucket: team\n",
			[]string{`termshift.yaml:7: bucket: unknown field (check its spelling and indentation)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, valid+tc.state)
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("problems (-got +want):\n%s", diff)
			}
		})
	}
}

func TestValidateStateURL(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"s3://team-state", ""},
		{"s3://team-state/termshift/qa", ""},
		{"s3://team.state/qa/", ""},
		{"s3://ab", "is not an S3 bucket name"},
		{"s3://team/a//b", "holds an empty segment"},
		{"s3://team/./qa", "holds a . or .. segment"},
		{"https://team/qa", "must be s3://bucket/prefix"},
	} {
		got := ValidateStateURL(tc.url)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("ValidateStateURL(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}
