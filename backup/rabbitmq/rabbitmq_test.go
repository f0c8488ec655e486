package rabbitmq_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rabbithole "github.com/michaelklishin/rabbit-hole/v2"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
	brabbitmq "github.com/termshift/termshift/backup/rabbitmq"
	"github.com/termshift/termshift/restore"
	rrabbitmq "github.com/termshift/termshift/restore/rabbitmq"
)

type server struct {
	dumper *brabbitmq.Dumper
	client *rabbithole.Client
}

func localServer(t *testing.T) server {
	t.Helper()
	d := &brabbitmq.Dumper{
		ManagementURL: termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_URL"),
		User:          termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_USER"),
		Password:      termshift.Secret(termshift.RequireLocalSetting(t, "TERMSHIFT_RABBITMQ_MANAGEMENT_PASSWORD")),
	}
	c, err := rabbithole.NewClient(d.ManagementURL, d.User, d.Password.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	return server{dumper: d, client: c}
}

// must fails the test on a management API error: must(t)(client.X(...)).
func must(t *testing.T) func(*http.Response, error) {
	t.Helper()
	return func(res *http.Response, err error) {
		t.Helper()
		if res != nil && res.Body != nil {
			res.Body.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func (s server) vhost(t *testing.T) string {
	t.Helper()
	b := make([]byte, 5)
	rand.Read(b)
	name := "/termshift_bk_" + hex.EncodeToString(b)
	must(t)(s.client.PutVhost(name, rabbithole.VhostSettings{}))
	t.Cleanup(func() {
		if res, err := s.client.DeleteVhost(name); err == nil {
			res.Body.Close()
		}
	})
	must(t)(s.client.UpdatePermissionsIn(name, s.dumper.User, rabbithole.Permissions{Configure: ".*", Write: ".*", Read: ".*"}))
	return name
}

func TestBackupIsRestoredWithProof(t *testing.T) {
	s := localServer(t)
	ctx := context.Background()
	src := s.vhost(t)
	must(t)(s.client.DeclareExchange(src, "edx.core", rabbithole.ExchangeSettings{Type: "topic", Durable: true}))
	for _, q := range []string{"edx.lms.core.default", "edx.lms.core.high"} {
		must(t)(s.client.DeclareQueue(src, q, rabbithole.QueueSettings{Durable: true}))
		must(t)(s.client.DeclareBinding(src, rabbithole.BindingInfo{Source: "edx.core", Destination: q, DestinationType: "queue", RoutingKey: q}))
	}
	must(t)(s.client.PutPolicy(src, "ttl", rabbithole.Policy{Pattern: "^edx\\.", ApplyTo: "queues", Definition: rabbithole.PolicyDefinition{"message-ttl": 60000}}))

	snap, err := s.dumper.Snapshot(ctx, backup.Request{Names: map[string]string{src: "celery_live"}})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dst, err := backup.OpenDestination(ctx, root, "snap", restore.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := backup.Run(ctx, dst, []backup.Snapshot{snap}, backup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, o := range rep.Services[0].Info.Objects {
		counts[o.Name] = o.Count
	}
	if diff := cmp.Diff(counts, map[string]int64{"exchanges": 1, "queues": 2, "bindings": 2, "policies": 1}); diff != "" {
		t.Errorf("counts (-got +want):\n%s", diff)
	}
	source := restore.Dir{Root: filepath.Join(root, "snap")}
	m, err := restore.ReadManifest(ctx, source)
	if err != nil || m == nil {
		t.Fatalf("manifest: %v %v", m, err)
	}
	target := s.vhost(t)
	loader := &rrabbitmq.Loader{ManagementURL: s.dumper.ManagementURL, User: s.dumper.User, Password: s.dumper.Password}
	lrep, err := loader.Load(ctx, source, "rabbitmq/"+brabbitmq.FileName, restore.Request{From: "celery_live", To: target, Manifest: m})
	if err != nil {
		t.Fatal(err)
	}
	if !lrep.OK() || !lrep.Completeness.Proven {
		t.Errorf("restore proof: %v %+v %s", lrep.OK(), lrep.Completeness, lrep.Gaps())
	}
	qs, err := s.client.ListQueuesIn(target)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range qs {
		names = append(names, q.Name)
	}
	if diff := cmp.Diff(names, []string{"edx.lms.core.default", "edx.lms.core.high"}); diff != "" {
		t.Errorf("queues restored (-got +want):\n%s", diff)
	}

	if ch, err := snap.Changes(ctx); err != nil || len(ch) != 0 {
		t.Fatalf("changes of unchanged definitions: %v %v", ch, err)
	}
	must(t)(s.client.DeclareQueue(src, "added", rabbithole.QueueSettings{Durable: true}))
	ch, err := snap.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != 1 || !strings.Contains(ch[0], "its queues changed (2 in the snapshot, 3 now)") {
		t.Errorf("changes %q: want the added queue", ch)
	}
}

func TestSnapshotRefusesBadInput(t *testing.T) {
	s := localServer(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		names map[string]string
		want  error
	}{
		{"none", nil, termshift.ErrInvalid},
		{"missing vhost", map[string]string{"/termshift_bk_nope_x1": "x"}, termshift.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.dumper.Snapshot(ctx, backup.Request{Names: tc.names})
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v: want %v", err, tc.want)
			}
		})
	}
}
