package rabbitmq_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rabbithole "github.com/michaelklishin/rabbit-hole/v2"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
	"github.com/termshift/termshift/restore/rabbitmq"
	"github.com/termshift/termshift/restore/restoretest"
)

var _ restoretest.Loader = (*rabbitmq.Loader)(nil)

// vhostTarget is restoretest's view of the local RabbitMQ: vhosts counted
// by kind of definition, as the loader reports them. A vhost's ownership
// marker is its description, which a restore never changes.
type vhostTarget struct{ s server }

func (v vhostTarget) New(t *testing.T) string { return v.s.newVhost(t) }

func (v vhostTarget) Contents(t *testing.T, vhost string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	qs, err := v.s.client.ListQueuesIn(vhost)
	if err != nil {
		t.Fatal(err)
	}
	out["queues"] = int64(len(qs))
	es, err := v.s.client.ListExchangesIn(vhost)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Name != "" && !strings.HasPrefix(e.Name, "amq.") {
			out["exchanges"]++
		}
	}
	bs, err := v.s.client.ListBindingsIn(vhost)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Source != "" {
			out["bindings"]++
		}
	}
	ps, err := v.s.client.ListPoliciesIn(vhost)
	if err != nil {
		t.Fatal(err)
	}
	out["policies"] = int64(len(ps))
	for k, n := range out {
		if n == 0 {
			delete(out, k)
		}
	}
	return out
}

func (v vhostTarget) Occupy(t *testing.T, vhost string) string {
	t.Helper()
	if err := drain(v.s.client.DeclareQueue(vhost, "occupant", rabbithole.QueueSettings{Durable: true})); err != nil {
		t.Fatal(err)
	}
	return "queues"
}

func (v vhostTarget) HasMarker(*testing.T, string) bool { return true }

func TestConformance(t *testing.T) {
	t.Parallel()
	s := localServer(t)
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/definitions.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"definitions.json": data,
		"cut.json":         data[:len(data)*2/3],
		"syntax.json":      []byte("{\n  \"queues\": [\n    {\"name\": \"a\",}\n  ]\n}\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := restoretest.Fixture{Dir: dir, Path: "definitions.json", From: "/celery", Service: termshift.RabbitMQ, Database: "/celery",
		Objects: map[string]int64{"exchanges": 8, "queues": 8, "bindings": 10, "policies": 2}, Proven: true}
	incomplete := good
	incomplete.Path = "cut.json"
	bad := []restoretest.Bad{
		{Name: "malformed", Fixture: restoretest.Fixture{Dir: dir, Path: "syntax.json", From: "/"}, Is: termshift.ErrInvalid, Says: "syntax.json:3:18"},
		{Name: "several vhosts, none chosen", Fixture: restoretest.Fixture{Dir: dir, Path: "definitions.json"}, Is: termshift.ErrInvalid, Says: `"/celery", "/xqueue"`},
		{Name: "vhost not in the file", Fixture: restoretest.Fixture{Dir: dir, Path: "definitions.json", From: "/nope"}, Is: termshift.ErrNotFound, Says: `vhost "/nope" is not in`},
	}
	restoretest.Run(t, &s.opts, restoretest.Options{Target: vhostTarget{s}, Good: good, Incomplete: incomplete, Bad: bad, Resume: restoretest.ResumeRestart})
}

// TestReservedNamesSkipped: an export listing server-named queues
// (amq.gen-..., as RabbitMQ 3.7 exports them) restores everything else and
// reports them skipped, with their bindings.
func TestReservedNamesSkipped(t *testing.T) {
	t.Parallel()
	s := localServer(t)
	var defs map[string]any
	data, err := os.ReadFile("testdata/definitions.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &defs); err != nil {
		t.Fatal(err)
	}
	defs["queues"] = append(defs["queues"].([]any),
		map[string]any{"name": "amq.gen-JzTY20BRgKO-HjmUJj0wLg", "vhost": "/celery", "durable": false, "auto_delete": true, "arguments": map[string]any{}})
	defs["bindings"] = append(defs["bindings"].([]any),
		map[string]any{"source": "celeryev", "vhost": "/celery", "destination": "amq.gen-JzTY20BRgKO-HjmUJj0wLg", "destination_type": "queue", "routing_key": "#", "arguments": map[string]any{}})
	dir := t.TempDir()
	out, _ := json.Marshal(defs)
	if err := os.WriteFile(filepath.Join(dir, "definitions.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	to := s.newVhost(t)
	rep, err := s.opts.Load(context.Background(), restore.Dir{Root: dir}, "definitions.json", restore.Request{From: "/celery", To: to})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if diff := cmp.Diff(kinds(rep), map[string][2]int64{"exchanges": {8, 8}, "queues": {8, 8}, "bindings": {10, 10}, "policies": {2, 2}}); diff != "" {
		t.Errorf("report objects (-got +want):\n%s", diff)
	}
	var skipped []string
	for _, sk := range rep.Skipped {
		skipped = append(skipped, sk.Kind+" "+sk.Name)
		if sk.Reason == "" {
			t.Errorf("%s %s skipped without a reason", sk.Kind, sk.Name)
		}
	}
	want := []string{"queue amq.gen-JzTY20BRgKO-HjmUJj0wLg", "binding celeryev -> amq.gen-JzTY20BRgKO-HjmUJj0wLg"}
	if diff := cmp.Diff(skipped, want); diff != "" {
		t.Errorf("skipped (-got +want):\n%s", diff)
	}
}

// TestGzipDefinitions restores a vhost's definitions exported by the
// management API and gzipped.
func TestGzipDefinitions(t *testing.T) {
	t.Parallel()
	s := localServer(t)
	first, second := s.newVhost(t), s.newVhost(t)
	ctx := context.Background()
	if _, err := s.opts.Load(ctx, fixture, "definitions.json", restore.Request{From: "/celery", To: first}); err != nil {
		t.Fatal(err)
	}
	defs, err := s.client.ListVhostDefinitions(first)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(defs)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "definitions.json.gz"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := s.opts.Load(ctx, restore.Dir{Root: dir}, "definitions.json.gz", restore.Request{From: first, To: second})
	if err != nil {
		t.Fatalf("Load of gzipped definitions: %v", err)
	}
	if diff := cmp.Diff(kinds(rep), map[string][2]int64{"exchanges": {8, 8}, "queues": {8, 8}, "bindings": {10, 10}, "policies": {2, 2}}); diff != "" {
		t.Errorf("report objects (-got +want):\n%s", diff)
	}
	if !rep.Completeness.Proven {
		t.Errorf("completeness %+v", rep.Completeness)
	}
	// A gzip stream cut short is refused naming the file.
	if err := os.WriteFile(filepath.Join(dir, "cut.json.gz"), b.Bytes()[:b.Len()/2], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = s.opts.Load(ctx, restore.Dir{Root: dir}, "cut.json.gz", restore.Request{From: first, To: second, DropExisting: true})
	if err == nil || !strings.Contains(err.Error(), "cut.json.gz") {
		t.Errorf("cut gzip: %v, want an error naming cut.json.gz", err)
	}
}
