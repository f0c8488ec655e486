package rabbitmq_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rabbithole "github.com/michaelklishin/rabbit-hole/v2"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
	"github.com/termshift/termshift/restore/rabbitmq"
)

type server struct {
	opts   rabbitmq.Loader
	client *rabbithole.Client
}

func localServer(t *testing.T) server {
	t.Helper()
	opts := rabbitmq.Loader{
		ManagementURL: termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_URL"),
		User:          termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_USER"),
		Password:      termshift.Secret(termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_PASSWORD")),
	}
	c, err := rabbithole.NewClient(opts.ManagementURL, opts.User, opts.Password.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	return server{opts: opts, client: c}
}

func unique(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

func drain(res *http.Response, err error) error {
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	return err
}

// newVhost creates a vhost the management user may use, as tenancy's carve
// would, and deletes it when the test ends.
func (s server) newVhost(t *testing.T) string {
	t.Helper()
	name := unique(t, "/termshift_test_")
	if err := drain(s.client.PutVhost(name, rabbithole.VhostSettings{})); err != nil {
		t.Fatalf("create vhost %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := drain(s.client.DeleteVhost(name)); err != nil {
			t.Errorf("delete vhost %s: %v", name, err)
		}
	})
	if err := drain(s.client.UpdatePermissionsIn(name, s.opts.User, rabbithole.Permissions{Configure: ".*", Write: ".*", Read: ".*"})); err != nil {
		t.Fatalf("grant %s on %s: %v", s.opts.User, name, err)
	}
	return name
}

var fixture = restore.Dir{Root: "testdata"}

func kinds(rep *restore.Report) map[string][2]int64 {
	out := map[string][2]int64{}
	for _, o := range rep.Objects {
		out[o.Name] = [2]int64{o.Expected, o.Loaded}
	}
	return out
}

func TestRestoreFixture(t *testing.T) {
	t.Parallel()
	s := localServer(t)
	to := s.newVhost(t)
	opts, req := s.opts, restore.Request{}
	req.From = "/celery"
	req.To = to
	var events []restore.Event
	req.Progress = func(e restore.Event) { events = append(events, e) }

	ctx := context.Background()
	rep, err := opts.Load(ctx, fixture, "definitions.json", req)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int64{
		"exchanges": {8, 8}, // amq.direct and the /xqueue exchange are not restored
		"queues":    {8, 8},
		"bindings":  {10, 10},
		"policies":  {2, 2},
	}
	if diff := cmp.Diff(kinds(rep), want); diff != "" {
		t.Errorf("report objects (-got +want):\n%s", diff)
	}
	if !rep.OK() {
		t.Error("report not OK")
	}
	if rep.From != "/celery" || rep.To != to || rep.Format != "definitions" || rep.Service != "rabbitmq" {
		t.Errorf("report header = %+v", rep)
	}
	if !strings.HasSuffix(rep.Source, "testdata/definitions.json") {
		t.Errorf("report source %q does not name the file", rep.Source)
	}
	wantWarnings := []string{"ignored 3 users", "ignored 3 permissions", "ignored 1 topic permissions", "ignored 2 global parameters", "ignored 1 runtime parameters"}
	if len(rep.Warnings) != len(wantWarnings) {
		t.Errorf("warnings %q, want %d", rep.Warnings, len(wantWarnings))
	}
	for i, w := range wantWarnings {
		if i < len(rep.Warnings) && !strings.HasPrefix(rep.Warnings[i], w) {
			t.Errorf("warning %d = %q, want it to start with %q", i, rep.Warnings[i], w)
		}
	}
	if len(events) == 0 {
		t.Error("no progress events")
	}

	// Nothing of the credentials section reached the server.
	for _, u := range []string{"edxapp_prod", "xqueue_prod", "ops_admin"} {
		_, err := s.client.GetUser(u)
		var er rabbithole.ErrorResponse
		if !errors.As(err, &er) || er.StatusCode != http.StatusNotFound {
			t.Errorf("user %s after restore: error %v, want 404", u, err)
		}
	}
	perms, err := s.client.ListPermissions()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range perms {
		if p.Vhost == to && p.User != s.opts.User {
			t.Errorf("permission for %s appeared on %s", p.User, to)
		}
	}
	params, err := s.client.ListRuntimeParameters()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range params {
		if p.Vhost == to {
			t.Errorf("runtime parameter restored: %+v", p)
		}
	}

	// Properties made it across.
	q, err := s.client.GetQueue(to, "edx.lms.core.high_mem")
	if err != nil {
		t.Fatal(err)
	}
	if q.Type != "quorum" || !q.Durable || q.Arguments["x-delivery-limit"] != float64(5) {
		t.Errorf("edx.lms.core.high_mem = type %q durable %v args %v; want quorum, durable, x-delivery-limit 5", q.Type, q.Durable, q.Arguments)
	}
	q, err = s.client.GetQueue(to, "edx.lms.core.low")
	if err != nil {
		t.Fatal(err)
	}
	if q.Arguments["x-message-ttl"] != float64(86400000) {
		t.Errorf("edx.lms.core.low arguments %v, want x-message-ttl 86400000", q.Arguments)
	}
	ex, err := s.client.GetExchange(to, "edx.audit")
	if err != nil {
		t.Fatal(err)
	}
	if !ex.Internal || ex.Type != "topic" {
		t.Errorf("edx.audit = %+v, want an internal topic exchange", ex)
	}
	pol, err := s.client.GetPolicy(to, "edx-dlx")
	if err != nil {
		t.Fatal(err)
	}
	if pol.ApplyTo != "queues" || pol.Priority != 1 || pol.Definition["dead-letter-exchange"] != "edx.dlx" {
		t.Errorf("policy edx-dlx = %+v", pol)
	}
	if _, err := s.client.GetQueue(to, "xqueue.submissions"); err == nil {
		t.Error("a queue of the other vhost /xqueue was restored")
	}
	e2e, err := s.client.ListExchangeBindingsBetween(to, "edx.lms.core", "edx.audit")
	if err != nil || len(e2e) != 1 || e2e[0].RoutingKey != "#" {
		t.Errorf("exchange-to-exchange binding = %+v, %v; want one with routing key #", e2e, err)
	}

	// Idempotent: a second run (a resume: the target is not empty any more)
	// keeps everything as it is.
	req.Resume = true
	again, err := opts.Load(ctx, fixture, "definitions.json", req)
	if err != nil {
		t.Fatalf("second restore: %v", err)
	}
	if diff := cmp.Diff(kinds(again), want); diff != "" {
		t.Errorf("second report (-got +want):\n%s", diff)
	}
	queues, err := s.client.ListQueuesIn(to)
	if err != nil {
		t.Fatal(err)
	}
	if len(queues) != 8 {
		t.Errorf("%d queues after two restores, want 8", len(queues))
	}
}

func TestRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	s := localServer(t)
	first, second := s.newVhost(t), s.newVhost(t)
	ctx := context.Background()
	opts, req := s.opts, restore.Request{}
	req.From, req.To = "/celery", first
	if _, err := opts.Load(ctx, fixture, "definitions.json", req); err != nil {
		t.Fatal(err)
	}

	// Export the vhost as the management API does and restore that export.
	defs, err := s.client.ListVhostDefinitions(first)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.MarshalIndent(defs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "definitions.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	req.From, req.To = first, second
	rep, err := opts.Load(ctx, restore.Dir{Root: dir}, "definitions.json", req)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int64{"exchanges": {8, 8}, "queues": {8, 8}, "bindings": {10, 10}, "policies": {2, 2}}
	if diff := cmp.Diff(kinds(rep), want); diff != "" {
		t.Errorf("round trip report (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(queueShapes(t, s, second), queueShapes(t, s, first)); diff != "" {
		t.Errorf("queues differ after round trip (-second +first):\n%s", diff)
	}
}

// queueShapes describes the queues of vhost without the vhost's name.
func queueShapes(t *testing.T, s server, vhost string) []string {
	t.Helper()
	qs, err := s.client.ListQueuesIn(vhost)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, q := range qs {
		args, _ := json.Marshal(q.Arguments)
		out = append(out, q.Name+" "+q.Type+" "+string(args))
	}
	sort.Strings(out)
	return out
}

func TestRestoreRefusals(t *testing.T) {
	t.Parallel()
	s := localServer(t)
	to := s.newVhost(t)
	ctx := context.Background()
	tests := []struct {
		name     string
		from, to string
		wantErr  error
		mentions []string
	}{
		{"missing target vhost", "/celery", unique(t, "/termshift_absent_"), termshift.ErrNotFound, []string{"/termshift_absent_", "carve"}},
		{"source vhost not in file", "/nope", to, termshift.ErrNotFound, []string{`"/nope"`, "definitions.json", `"/celery"`, `"/xqueue"`}},
		{"several vhosts, none chosen", "", to, termshift.ErrInvalid, []string{`"/celery"`, `"/xqueue"`}},
		{"no target vhost", "/celery", "", termshift.ErrInvalid, []string{"target vhost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, req := s.opts, restore.Request{}
			req.From, req.To = tt.from, tt.to
			rep, err := opts.Load(ctx, fixture, "definitions.json", req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if rep != nil {
				t.Errorf("report %+v on refusal, want nil", rep)
			}
			for _, m := range tt.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %s", err, m)
				}
			}
		})
	}
	queues, err := s.client.ListQueuesIn(to)
	if err != nil {
		t.Fatal(err)
	}
	if len(queues) != 0 {
		t.Errorf("refused restores left %d queues in %s", len(queues), to)
	}
}

func TestRestoreWrongPassword(t *testing.T) {
	t.Parallel()
	s := localServer(t)
	to := s.newVhost(t)
	opts, req := s.opts, restore.Request{}
	opts.Password = "wrong-password-for-test"
	req.From, req.To = "/celery", to
	_, err := opts.Load(context.Background(), fixture, "definitions.json", req)
	if err == nil {
		t.Fatal("restore with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), "wrong-password-for-test") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestRestoreMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		want    string // file:line:col
	}{
		{"syntax", "{\n  \"queues\": [\n    {\"name\": \"a\",}\n  ]\n}\n", "defs.json:3:18"},
		{"type", "{\n  \"queues\": {\"name\": 1}\n}\n", "defs.json:2:13"},
		{"truncated", "{\n  \"queues\": [\n", "defs.json:3:1"},
		{"empty", "", "defs.json:1:1"},
		{"bad auto_delete", "{\"queues\": [{\"name\": \"q\", \"auto_delete\": 3}]}", `defs.json: queue "q" in vhost "": auto_delete`},
		{"trailing data", "{}\n{}", "defs.json:2:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "defs.json"), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			// Parsing fails before any server is contacted.
			opts, req := rabbitmq.Loader{ManagementURL: "http://127.0.0.1:1", User: "u"}, restore.Request{From: "/", To: "/x"}
			_, err := opts.Load(context.Background(), restore.Dir{Root: dir}, "defs.json", req)
			if !errors.Is(err, termshift.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not point at %s", err, tt.want)
			}
		})
	}
}

func TestRestoreMissingFile(t *testing.T) {
	t.Parallel()
	opts, req := rabbitmq.Loader{ManagementURL: "http://127.0.0.1:1"}, restore.Request{From: "/", To: "/x"}
	_, err := opts.Load(context.Background(), fixture, "nope.json", req)
	if !errors.Is(err, termshift.ErrNotFound) || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("error %v, want ErrNotFound naming nope.json", err)
	}
}

func TestRestoreWithoutPermissionsHints(t *testing.T) {
	t.Parallel()
	s := localServer(t)
	to := unique(t, "/termshift_noperm_")
	if err := drain(s.client.PutVhost(to, rabbithole.VhostSettings{})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drain(s.client.DeleteVhost(to)) })
	// Creating a vhost through the API grants its creator; take that back.
	if err := drain(s.client.ClearPermissionsIn(to, s.opts.User)); err != nil {
		t.Fatal(err)
	}
	opts, req := s.opts, restore.Request{}
	req.From, req.To = "/celery", to
	rep, err := opts.Load(context.Background(), fixture, "definitions.json", req)
	var partial *termshift.PartialError
	if !errors.As(err, &partial) {
		t.Fatalf("error %v, want a PartialError", err)
	}
	if diff := cmp.Diff(partial.Failed, []string{"exchanges"}); diff != "" {
		t.Errorf("failed parts (-got +want):\n%s", diff)
	}
	var hint *termshift.HintError
	if !errors.As(err, &hint) || !strings.Contains(hint.Hint, "permissions") {
		t.Errorf("error %v carries no hint about permissions", err)
	}
	if rep == nil || len(rep.Objects) != 0 {
		t.Errorf("partial report %+v, want one with no finished objects", rep)
	}
}
