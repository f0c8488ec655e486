package verify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
)

func configTarget() Target {
	return Target{
		Release: "next",
		Own: []Namespace{
			{Service: termshift.MySQL, Logical: "edxapp", Name: "edxapp_next", Cred: termshift.Credential{User: "edxapp_next"}},
			{Service: termshift.RabbitMQ, Logical: "/celery", Name: "/celery_next", Cred: termshift.Credential{User: "celery_next"}},
			{Service: termshift.Memcached, Logical: "default", Name: "pool-b", Endpoints: []string{"127.0.0.1:11212"}},
		},
		Others: []Namespace{
			{Service: termshift.MySQL, Logical: "edxapp", Name: "edxapp_current", Release: "current", Cred: termshift.Credential{User: "edxapp_current"}},
			{Service: termshift.RabbitMQ, Logical: "/celery", Name: "/celery_current", Release: "current", Cred: termshift.Credential{User: "celery_current"}},
			{Service: termshift.Memcached, Logical: "default", Name: "pool-a", Release: "current", Endpoints: []string{"127.0.0.1:11211"}},
		},
		Logical: []string{"edxapp", "/celery", "default"},
	}
}

func TestConfigScan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text string
		want       []string
	}{
		{"own names only", `{"NAME": "edxapp_next", "BROKER": "amqp://celery_next:x@h/celery_next", "CACHE": "127.0.0.1:11212"}`, nil},
		{"sibling schema", "DATABASES:\n  default:\n    NAME: edxapp_current\n",
			[]string{`line 3: names "edxapp_current" (release "current"'s mysql namespace)`}},
		{"sibling vhost in a url", `BROKER_URL = "amqp://u:p@h:5672/%2Fcelery_current"`,
			[]string{`line 1: names "celery_current" (release "current"'s rabbitmq namespace)`}},
		{"bare vhost in a url", `BROKER_URL = "amqp://u:p@h:5672/%2fcelery"`,
			[]string{`line 1: bare logical name "celery" used as a database or vhost name`}},
		{"sibling vhost plain", `vhost: /celery_current`,
			[]string{`line 1: names "celery_current" (release "current"'s rabbitmq namespace)`}},
		{"sibling memcached endpoint", `LOCATION: ["127.0.0.1:11211"]`,
			[]string{`line 1: names "127.0.0.1:11211" (release "current"'s memcached cluster)`}},
		{"endpoint prefix is not a match", `LOCATION: 127.0.0.1:112110 and x127.0.0.1:11211`, nil},
		{"bare logical as value", `"NAME": "edxapp",`,
			[]string{`line 1: bare logical name "edxapp" used as a database or vhost name`}},
		{"bare logical in a url", `mysql://h:3306/edxapp?charset=utf8`,
			[]string{`line 1: bare logical name "edxapp" used as a database or vhost name`}},
		{"bare vhost", `BROKER_VHOST = "/celery"`,
			[]string{`line 1: bare logical name "celery" used as a database or vhost name`}},
		{"logical as a key", "edxapp:\n  \"default\": {\n", nil},
		{"logical in a path", `CONFIG_ROOT = "/edx/app/edxapp/lms"`, nil},
		{"logical as the last directory", "CONFIG_ROOT: /edx/app/edxapp\nX: edx/var/edxapp", nil},
		{"logical as a host", `SERVICE: http://edxapp`, nil},
		{"bare logical after an authority", `URL = 'mongodb://u:p@h:27017/edxapp'`,
			[]string{`line 1: bare logical name "edxapp" used as a database or vhost name`}},
		{"bare logical at line start", `/celery`,
			[]string{`line 1: bare logical name "celery" used as a database or vhost name`}},
		{"logical in a dotted name", `from edxapp.settings import x`, nil},
		{"two findings on two lines", "a: edxapp_current\nb: edxapp\n", []string{
			`line 1: names "edxapp_current" (release "current"'s mysql namespace)`,
			`line 2: bare logical name "edxapp" used as a database or vhost name`,
		}},
		{"one finding per name and line", `edxapp_current edxapp_current`,
			[]string{`line 1: names "edxapp_current" (release "current"'s mysql namespace)`}},
	}
	rules := newConfigRules(configTarget())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(rules.scan([]byte(tc.text)), tc.want); diff != "" {
				t.Errorf("scan(%q) (-got +want):\n%s", tc.text, diff)
			}
		})
	}
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "lms.yml")
	bad := filepath.Join(dir, "cms.yml")
	missing := filepath.Join(dir, "missing.yml")
	if err := os.WriteFile(good, []byte("NAME: edxapp_next\nPASSWORD: s3cret-edxapp_current-ish\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("PASSWORD: hunter2\nNAME: edxapp_current\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := configTarget()
	tg.ConfigFiles = []string{good, bad, missing}
	r := Run(context.Background(), tg, Options{Only: []string{CheckConfig}})
	type row struct {
		Target string
		Status Status
	}
	var got []row
	for _, res := range r.Results {
		got = append(got, row{res.Target, res.Status})
		if res.Status == Fail && res.Target == bad && res.Detail != `line 2: names "edxapp_current" (release "current"'s mysql namespace)` {
			t.Errorf("detail = %q", res.Detail)
		}
	}
	// "s3cret-edxapp_current-ish" is one token: '-' belongs to names.
	want := []row{{good, Pass}, {bad, Fail}, {missing, Fail}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("results (-got +want):\n%s", diff)
	}
	for _, res := range r.Results {
		if res.Detail == "" || strings.Contains(res.Detail, "hunter2") {
			t.Errorf("%s: detail %q must explain and never quote the file", res.Target, res.Detail)
		}
	}

	tg.ConfigFiles = nil
	r = Run(context.Background(), tg, Options{Only: []string{CheckConfig}})
	if diff := cmp.Diff(r.Results, []Result{{Check: CheckConfig, Target: "-", Status: Skip, Detail: "no rendered configuration"}},
		cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Duration" }, cmp.Ignore())); diff != "" {
		t.Errorf("no files (-got +want):\n%s", diff)
	}
}

func BenchmarkConfigScan(b *testing.B) {
	rules := newConfigRules(configTarget())
	var sb strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&sb, "KEY_%d: {\"NAME\": \"edxapp_next\", \"URL\": \"amqp://celery_next:pw@h:5672/%%2Fcelery_next\", \"ROOT\": \"/edx/app/edxapp\"}\n", i)
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if f := rules.scan(data); len(f) != 0 {
			b.Fatalf("findings in a clean file: %v", f)
		}
	}
}
