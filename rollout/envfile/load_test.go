package envfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
)

func noEnv(string) (string, bool) { return "", false }

func TestParseEnvironmentReportsEveryProblemWithLine(t *testing.T) {
	_, err := LoadEnvironment("testdata/bad.yaml", noEnv)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("LoadEnvironment(bad.yaml) = %v, want a *ValidationError", err)
	}
	if !errors.Is(err, termshift.ErrInvalid) {
		t.Errorf("error does not match termshift.ErrInvalid")
	}
	var got []string
	for _, p := range verr.Problems {
		got = append(got, p.String())
	}
	want := []string{
		`bad.yaml:1: name: is required (the environment's name, e.g. qa or production)`,
		`bad.yaml:1: backup.source: is required: a directory or s3://bucket/prefix holding the nightly snapshots`,
		`bad.yaml:2: naming: naming pattern "{logical}-{rel}": must contain both {logical} and {release}`,
		`bad.yaml:3: servers.mongo.uri: is required: databases.mongo lists logical databases`,
		`bad.yaml:5: servers.mysql.dsn: ${NOPE_UNSET} is not set in the environment`,
		`bad.yaml:6: colour: unknown field (check its spelling and indentation)`,
		`bad.yaml:10: servers.memcached.clusters.a: "localhost" is not host:port`,
		`bad.yaml:14: databases.mysql.1.name: logical database name "edx app": must be 1-64 letters, digits, '_' or '-', optionally after one leading '/'`,
		`bad.yaml:18: releases.0.name: release name "Next": must match ^[a-z][a-z0-9]{0,19}$ (a lowercase letter, then up to 19 lowercase letters or digits)`,
		`bad.yaml:22: releases.1.version: is required (the application version this release runs)`,
		`bad.yaml:23: releases.1.port: 8001 is already used by release "Next"`,
		`bad.yaml:27: router.listen: "nowhere" is not host:port`,
		`bad.yaml:29: cannot use "soon" here: want a duration such as 30s or 72h`,
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("problems (-got +want):\n%s", diff)
	}
}

func TestParseEnvironmentExpandsVariablesWithoutTouchingOtherDollars(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "termshift.yaml")
	data := `name: qa
servers:
  mysql:
    dsn: "admin:${DB_PASS}@tcp(db:3306)/"
databases:
  mysql: [{name: edxapp, backup: edxapp_prod}]
backup: {source: /backups}
releases:
  - {name: next, version: "2", runner: external, health_url: "http://next/heartbeat"}
router: {listen: "127.0.0.1:8000"}
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	lookup := func(k string) (string, bool) {
		if k == "DB_PASS" {
			return "p$w${x}", true
		}
		return "", false
	}
	env, err := LoadEnvironment(path, lookup)
	if err != nil {
		t.Fatalf("LoadEnvironment: %v", err)
	}
	if got, want := env.Servers.MySQL.DSN, "admin:p$w${x}@tcp(db:3306)/"; got != want {
		t.Errorf("dsn = %q, want %q (expanded once, value kept verbatim)", got, want)
	}
	if env.Naming != termshift.DefaultNamingPattern || env.Servers.MySQL.UserHost != "%" || env.Router.Provider != "local" {
		t.Errorf("defaults not applied: naming %q user_host %q provider %q", env.Naming, env.Servers.MySQL.UserHost, env.Router.Provider)
	}
	if want := filepath.Join(dir, ".termshift"); env.StateDir != want {
		t.Errorf("state dir = %q, want %q", env.StateDir, want)
	}
}

func TestParseEnvironmentRefusesDerivedNamesOverServerLimits(t *testing.T) {
	data := `name: qa
servers: {mysql: {dsn: "root@tcp(db:3306)/"}}
databases: {mysql: [{name: edxapp_courseware_student_module_history}]}
backup: {source: /b}
releases: [{name: abcdefghijklmnopqrst, version: "1", runner: external, health_url: "http://x/"}]
router: {listen: "127.0.0.1:8000"}
`
	_, err := ParseEnvironment("termshift.yaml", []byte(data), noEnv)
	if err == nil || !strings.Contains(err.Error(), `termshift.yaml:5: releases.0.name: derived mysql name: MySQL user "edxapp_courseware_student_module_history_abcdefghijklmnopqrst"`) {
		t.Fatalf("err = %v, want the over-long derived user refused at line 5", err)
	}
}

func TestParseEnvironmentEmptyAndBrokenYAML(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "termshift.yaml: the file is empty"},
		{"syntax", "name: [unclosed\n", "termshift.yaml:1: did not find expected"},
		{"tab", "name: qa\n\tservers: {}\n", "termshift.yaml:2: a tab character in the indentation: YAML indents with spaces only"},
		{"nested tab", "name: qa\nrouter:\n  listen: x\n\thost: y\n", "termshift.yaml:4: a tab character in the indentation"},
		{"tab in a list", "name: qa\nreleases:\n\t- {name: a}\n", "termshift.yaml:3: a tab character in the indentation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEnvironment("termshift.yaml", []byte(tc.data), noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// valid is a minimal environment file that validates.
const valid = `name: qa
releases: [{name: next, version: "2", runner: external, health_url: "http://next/heartbeat"}]
router: {listen: "127.0.0.1:8000"}
`

func problems(t *testing.T, data string) []string {
	t.Helper()
	_, err := ParseEnvironment("termshift.yaml", []byte(data), noEnv)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("ParseEnvironment = %v, want a *ValidationError", err)
	}
	var out []string
	for _, p := range verr.Problems {
		out = append(out, p.String())
	}
	return out
}

func TestDuplicateKeyIsOneProblem(t *testing.T) {
	got := problems(t, "name: qa\nname: qb\n"+strings.TrimPrefix(valid, "name: qa\n"))
	want := []string{`termshift.yaml:2: mapping key "name" already defined at line 1`}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("problems (-got +want):\n%s", diff)
	}
}

func TestSizesAreBounded(t *testing.T) {
	big := strings.Repeat("a", 10<<20)
	got := problems(t, "name: qa\n# "+big+"\n")
	if len(got) != 1 || !strings.Contains(got[0], "larger than 1048576 bytes") {
		t.Errorf("10 MB file: %q", got)
	}
	got = problems(t, "name: "+strings.Repeat("x", 5000)+"\n"+strings.TrimPrefix(valid, "name: qa\n"))
	want := []string{"termshift.yaml:1: name: is 5000 bytes long; a value may be at most 4096 bytes"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("long name (-got +want):\n%s", diff)
	}
	got = problems(t, "name: "+strings.Repeat("x", 300)+"\n"+strings.TrimPrefix(valid, "name: qa\n"))
	if len(got) != 1 || len(got[0]) > 300 || !strings.Contains(got[0], "(300 bytes)") {
		t.Errorf("a bad name is printed back cut short: %q", got)
	}
	// A file just under the limit on disk is read; one over it is refused before parsing.
	path := filepath.Join(t.TempDir(), "termshift.yaml")
	if err := os.WriteFile(path, []byte(valid+"#"+strings.Repeat(" ", MaxFileBytes)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadEnvironment(path, noEnv); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("LoadEnvironment of an oversized file = %v", err)
	}
}

func TestEnvironmentNameRule(t *testing.T) {
	for _, name := range []string{"QA", "qa_1", "1qa", `"qa; rm -rf"`} {
		got := problems(t, "name: "+name+"\n"+strings.TrimPrefix(valid, "name: qa\n"))
		if len(got) != 1 || !strings.Contains(got[0], "name: ") || !strings.Contains(got[0], "lowercase letters") {
			t.Errorf("name %s: %q", name, got)
		}
	}
	for _, name := range []string{"qa", "staging-2", "production"} {
		if _, err := ParseEnvironment("termshift.yaml", []byte("name: "+name+"\n"+strings.TrimPrefix(valid, "name: qa\n")), noEnv); err != nil {
			t.Errorf("name %s: %v", name, err)
		}
	}
}

func TestNamingPatternUnderWhichReleasesShareANamespace(t *testing.T) {
	data := `name: qa
naming: "{logical}{release}"
servers: {mysql: {dsn: "root@tcp(db:3306)/"}}
databases: {mysql: [{name: edx}, {name: edxapp}]}
backup: {source: /b}
releases:
  - {name: appnext, version: "1", runner: external, health_url: "http://x/"}
  - {name: next, version: "2", runner: external, health_url: "http://y/"}
router: {listen: "127.0.0.1:8000"}
`
	got := problems(t, data)
	want := []string{`termshift.yaml:8: releases.1.name: naming pattern "{logical}{release}" gives release "next", mysql "edxapp" the name "edxappnext", which release "appnext", mysql "edx" has too: two releases would share one namespace`}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("problems (-got +want):\n%s", diff)
	}
	// With a separator the same releases are distinct.
	data = strings.Replace(data, `"{logical}{release}"`, `"{logical}_{release}"`, 1)
	if _, err := ParseEnvironment("termshift.yaml", []byte(data), noEnv); err != nil {
		t.Errorf("separated pattern: %v", err)
	}
}

func TestDSNThatDoesNotParseIsNamedWithoutItsPassword(t *testing.T) {
	data := `name: qa
servers: {mysql: {dsn: "admin:s3cret-pw@db:3306"}}
databases: {mysql: [{name: edxapp}]}
backup: {source: /b}
` + strings.TrimPrefix(valid, "name: qa\n")
	got := problems(t, data)
	if len(got) != 1 || !strings.Contains(got[0], "servers.mysql.dsn: does not parse") || strings.Contains(got[0], "s3cret") {
		t.Errorf("problems = %q", got)
	}
}

func TestScrubRulesUseTheSharedVocabulary(t *testing.T) {
	data := `name: qa
scrub:
  rules:
    - {service: mysql, table: auth_user, column: email, action: email, value: "nobody@example.invalid"}
    - {service: mongo, table: users, column: _id, action: null}
    - {service: mysql, table: auth_user, column: name, action: shred}
    - {service: mysql, table: auth_user, column: bio, action: fixed}
    - {service: mysql, table: auth_user, column: first_name, action: fixed, value: "x"}
` + strings.TrimPrefix(valid, "name: qa\n")
	got := problems(t, data)
	want := []string{
		`termshift.yaml:4: scrub.rules.0: email template "nobody@example.invalid" must hold {{id}} exactly once, so addresses stay unique`,
		`termshift.yaml:5: scrub.rules.1: field _id cannot be scrubbed: documents are addressed by it`,
		`termshift.yaml:6: scrub.rules.2: unknown action "shred" (want fixed, email, hash, null, unusable_password)`,
		`termshift.yaml:7: scrub.rules.3.value: is required for action fixed`,
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("problems (-got +want):\n%s", diff)
	}
}
