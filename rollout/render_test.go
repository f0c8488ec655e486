package rollout

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/termshift/termshift"
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
	env, err := LoadEnvironment(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	o := NewOrchestrator(env, nil, io.Discard, "test")
	s, _ := o.loadState()
	passwords := map[string]string{"current": "CurPassw0rdCurPassw0rd", "next": "NextPassw0rd/+NextPassw0rd"}
	for _, r := range []string{"current", "next"} {
		rs := s.Release(r)
		my, _ := termshift.DeriveNamespace(termshift.MySQL, env.Naming, "edxapp", r)
		mq, _ := termshift.DeriveNamespace(termshift.RabbitMQ, env.Naming, "celery", r)
		rs.Namespaces = []*NamespaceState{{Namespace: my, Status: NSCarved}, {Namespace: mq, Status: NSCarved}}
		if err := o.Store.SaveCredentials(r, map[string]termshift.Credential{
			credKey(termshift.MySQL, "edxapp"):    {User: my.User, Password: termshift.Secret(passwords[r])},
			credKey(termshift.RabbitMQ, "celery"): {User: mq.User, Password: termshift.Secret(passwords[r])},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Store.Save(s, time.Now()); err != nil {
		t.Fatal(err)
	}

	files, err := o.Render(s, "next")
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

	diff, err := o.ConfigDiff("current", "next")
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
	if _, err := o.ConfigDiff("current", "redwood"); err == nil {
		t.Errorf("config diff with an unknown release succeeded")
	}
}
