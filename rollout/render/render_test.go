package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
)

func TestRenderAndConfigDiffMaskSecrets(t *testing.T) {
	dir := t.TempDir()
	tmpl := `{"db": {{json .MySQL.edxapp.Name}}, "user": {{json .MySQL.edxapp.User}}, "password": {{json .MySQL.edxapp.Password}},
 "broker": {{json .RabbitMQ.celery.URL}}, "cookie": {{json .CookieName}}, "version": {{json .Version}}, "host": {{json .MySQL.edxapp.Host}}}
`
	if err := os.WriteFile(filepath.Join(dir, "lms.json.tmpl"), []byte(tmpl), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `name: diff
servers:
  mysql: {dsn: "root@tcp(db.internal:3307)/"}
  rabbitmq: {url: "amqp://mq.internal:5672/", management_url: "http://mq.internal:15672"}
databases:
  mysql: [{name: edxapp}]
  rabbitmq: [{name: celery}]
backup: {source: /backups}
templates: [{source: lms.json.tmpl, target: lms.json}]
releases:
  - {name: current, version: "1.0", runner: external, health_url: "http://a/heartbeat"}
  - {name: next, version: "2.0", runner: external, health_url: "http://b/heartbeat"}
router: {listen: "127.0.0.1:0"}
`
	path := filepath.Join(dir, "termshift.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := envfile.LoadEnvironment(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	passwords := map[string]string{"current": "CurPassw0rdCurPassw0rd", "next": "NextPassw0rd/+NextPassw0rd"}
	data := map[string]*Data{}
	for _, r := range []string{"current", "next"} {
		my, _ := termshift.DeriveNamespace(termshift.MySQL, env.Naming, "edxapp", r)
		mq, _ := termshift.DeriveNamespace(termshift.RabbitMQ, env.Naming, "celery", r)
		nss := []*store.NamespaceState{{Namespace: my, Status: store.NSCarved}, {Namespace: mq, Status: store.NSCarved}}
		creds := map[string]termshift.Credential{
			store.CredKey(termshift.MySQL, "edxapp"):    {User: my.User, Password: termshift.Secret(passwords[r])},
			store.CredKey(termshift.RabbitMQ, "celery"): {User: mq.User, Password: termshift.Secret(passwords[r])},
		}
		spec, _ := env.Release(r)
		data[r] = NewData(env, spec, nss, creds, filepath.Join(dir, "releases", r, "config"))
	}

	files, err := Write(env, data["next"])
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(files[0])
	fi, _ := os.Stat(files[0])
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("rendered config mode %v, want 0600", fi.Mode().Perm())
	}
	for _, want := range []string{`"db": "edxapp_next"`, `"password": "NextPassw0rd/+NextPassw0rd"`, `"cookie": "termshift_next_sessionid"`,
		`"broker": "amqp://celery_next:NextPassw0rd%2F+NextPassw0rd@mq.internal:5672/celery_next"`, `"host": "db.internal"`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("rendered config lacks %s:\n%s", want, got)
		}
	}

	diff, err := Diff(env, data["current"], data["next"])
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range passwords {
		if strings.Contains(diff, p) || strings.Contains(diff, strings.ReplaceAll(p, "/", "%2F")) {
			t.Errorf("config diff shows a password:\n%s", diff)
		}
	}
	for _, want := range []string{"--- current/lms.json", "+++ next/lms.json", `- {"db": "edxapp_current"`, `+ {"db": "edxapp_next"`, `"version": "2.0"`, "********"} {
		if !strings.Contains(diff, want) {
			t.Errorf("config diff lacks %q:\n%s", want, diff)
		}
	}
	argv, err := Argv([]string{"lms", "--config", "{{.ConfigDir}}/lms.json"}, data["next"])
	if err != nil || argv[2] != filepath.Join(dir, "releases", "next", "config")+"/lms.json" {
		t.Errorf("Argv = %q, %v", argv, err)
	}
	if _, err := Argv([]string{"{{.Nope}}"}, data["next"]); err == nil {
		t.Error("Argv with an unknown field succeeded")
	}
}

// A release that shares another's data renders with the owner's
// namespaces and credentials (the orchestrator passes them) and the
// owner's session cookie: a browser that moves between the two during a
// progressive cutover stays logged in.
func TestSharedDataReleaseRendersWithTheOwnersSessions(t *testing.T) {
	yaml := `name: patch
servers: {mysql: {dsn: "root@tcp(db.internal:3306)/"}}
databases: {mysql: [{name: edxapp}]}
backup: {source: /backups}
releases:
  - {name: current, version: "1.0", runner: external, health_url: "http://a/heartbeat"}
  - {name: patch, version: "1.0.1", runner: external, health_url: "http://b/heartbeat", data: {shared_with: current}}
router: {listen: "127.0.0.1:0"}
`
	env, err := envfile.ParseEnvironment("termshift.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	my, _ := termshift.DeriveNamespace(termshift.MySQL, env.Naming, "edxapp", "current")
	creds := map[string]termshift.Credential{store.CredKey(termshift.MySQL, "edxapp"): {User: my.User, Password: "CurPassw0rdCurPassw0rd"}}
	nss := []*store.NamespaceState{{Namespace: my, Status: store.NSRestored}}
	for _, tc := range []struct{ release, owner string }{{"patch", "current"}, {"current", ""}} {
		spec, _ := env.Release(tc.release)
		d := NewData(env, spec, nss, creds, t.TempDir())
		if d.SharesDataWith != tc.owner || d.CookieName != "termshift_current_sessionid" || d.MySQL["edxapp"].Name != "edxapp_current" || d.Release != tc.release {
			t.Errorf("%s: shares %q, cookie %q, database %q, release %q", tc.release, d.SharesDataWith, d.CookieName, d.MySQL["edxapp"].Name, d.Release)
		}
	}
}
