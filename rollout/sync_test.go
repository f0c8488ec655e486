package rollout_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/tenancy/tenancytest"
)

// renamed maps a release's checksums onto logical names, so two releases'
// data can be compared.
func renamed(sums map[string]string, release string) map[string]string {
	out := map[string]string{}
	for k, v := range sums {
		if strings.HasSuffix(k, ".termshift_namespace") {
			continue // each release's own ownership marker
		}
		out[strings.ReplaceAll(k, "_"+release+".", "_RELEASE.")] = v
	}
	return out
}

func releaseData(t *testing.T, w *world, release string) map[string]string {
	t.Helper()
	rs := w.state().Releases[release]
	return renamed(checksums(t, names(rs, termshift.MySQL), names(rs, termshift.MongoDB)), release)
}

func (w *world) sync(release string, opts rollout.SyncOptions) (*rollout.SyncReport, error) {
	w.t.Helper()
	o := w.o("sync " + release)
	var rep *rollout.SyncReport
	err := o.Locked(context.Background(), func() error {
		var err error
		rep, err = o.Sync(context.Background(), release, opts)
		return err
	})
	return rep, err
}

// The live release's data, changed since the nightly backup, is copied
// into next with proof; next's cache is flushed; live is only read.
func TestSyncCopiesTheLiveReleaseWithProof(t *testing.T) {
	ctx := context.Background()
	cur, next := tenancytest.Release(t), tenancytest.Release(t)
	w := newWorld(t, termshift.DefaultNamingPattern, cur, next)
	w.upgrade(cur)
	w.upgrade(next)
	w.mutate(func(s *store.State) { s.Live = cur })
	s := w.state()
	curDB := s.Releases[cur].Namespace(termshift.MySQL, "edxapp").Name
	db := mysqlAdmin(t)
	for _, q := range []string{
		"CREATE TABLE " + termshift.QuoteMySQL(curDB) + ".since_backup (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO " + termshift.QuoteMySQL(curDB) + ".since_backup (v) VALUES ('a'), ('b'), (NULL)",
		"DELETE FROM " + termshift.QuoteMySQL(curDB) + ".auth_userprofile LIMIT 2",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	client, err := mongo.Connect(options.Client().ApplyURI(termshift.RequireLocalSetting(t, "TERMSHIFT_MONGO_URI")))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	forum := s.Releases[cur].Namespace(termshift.MongoDB, "forum").Name
	if _, err := client.Database(forum).Collection("contents").InsertOne(ctx, bson.D{{Key: "_id", Value: "since-backup"}, {Key: "body", Value: "posted today"}}); err != nil {
		t.Fatal(err)
	}
	cluster := s.Releases[next].Namespace(termshift.Memcached, "default")
	mc := memcache.New(cluster.Endpoints...)
	if err := mc.Set(&memcache.Item{Key: "stale", Value: []byte("from the backup's data")}); err != nil {
		t.Fatal(err)
	}
	live := releaseData(t, w, cur)

	rep, err := w.sync(next, rollout.SyncOptions{From: cur, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Proven || len(rep.Changes) > 0 {
		t.Errorf("sync not proven: %+v", rep)
	}
	statuses := map[string]string{}
	for _, r := range rep.Namespaces {
		statuses[string(r.Namespace.Service)+" "+r.Namespace.Logical] = r.Status
		for _, o := range r.Objects {
			if !o.OK {
				t.Errorf("%s %s: %+v", r.Namespace, o.Name, o)
			}
		}
	}
	want := map[string]string{"mysql edxapp": "synced", "mysql xqueue": "synced", "mongo forum": "synced", "rabbitmq celery": "synced", "memcached default": "flushed"}
	if diff := cmp.Diff(statuses, want); diff != "" {
		t.Errorf("namespaces (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(releaseData(t, w, next), live); diff != "" {
		t.Errorf("next's data differs from the live release's (-next +live):\n%s", diff)
	}
	if diff := cmp.Diff(releaseData(t, w, cur), live); diff != "" {
		t.Errorf("the live release changed (-after +before):\n%s", diff)
	}
	if _, err := mc.Get("stale"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Errorf("next's cache still serves an entry after the sync: %v", err)
	}
	if joined := strings.Join(rep.Notes, "; "); !strings.Contains(joined, "messages") || !strings.Contains(joined, "cold cache") {
		t.Errorf("notes %q: want the RabbitMQ and memcached caveats", joined)
	}
	if st := w.state().Releases[next]; !st.StepDone("sync") {
		t.Errorf("sync step of %s: %+v", next, st.Steps["sync"])
	}
}

// A sync into the live release or the rollback target is refused before
// anything is touched.
func TestSyncRefusesProtectedTargets(t *testing.T) {
	ctx := context.Background()
	cur, next := tenancytest.Release(t), tenancytest.Release(t)
	w := newWorld(t, termshift.DefaultNamingPattern, cur, next)
	w.upgrade(cur)
	w.upgrade(next)
	w.mutate(func(s *store.State) { s.Live, s.Previous = next, cur })
	for _, tc := range []struct{ target, from, why string }{
		{next, cur, "live release"},
		{cur, next, "rollback target"},
	} {
		t.Run(tc.why, func(t *testing.T) {
			before := releaseData(t, w, tc.target)
			stateBefore := w.state()
			_, err := w.sync(tc.target, rollout.SyncOptions{From: tc.from})
			if !errors.Is(err, termshift.ErrRefused) || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("sync into the %s: %v, want refused naming it", tc.why, err)
			}
			if diff := cmp.Diff(releaseData(t, w, tc.target), before); diff != "" {
				t.Errorf("the refused sync changed %s (-after +before):\n%s", tc.target, diff)
			}
			if _, ran := w.state().Releases[tc.target].Steps["sync"]; ran || w.state().Revision != stateBefore.Revision {
				t.Errorf("the refused sync wrote state")
			}
		})
	}
	_ = ctx
}

// A source written to while it is copied gives no proof, and the report
// says what changed.
func TestSyncSeesTheSourceChange(t *testing.T) {
	ctx := context.Background()
	cur, next := tenancytest.Release(t), tenancytest.Release(t)
	w := newWorld(t, termshift.DefaultNamingPattern, cur, next)
	w.upgrade(cur)
	w.upgrade(next)
	w.mutate(func(s *store.State) { s.Live = cur })
	curDB := w.state().Releases[cur].Namespace(termshift.MySQL, "edxapp").Name
	db := mysqlAdmin(t)
	table := termshift.QuoteMySQL(curDB) + ".writes_during_sync"
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+table+" (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6))"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			_, _ = db.ExecContext(ctx, "INSERT INTO "+table+" (at) VALUES (NOW(6))")
		}
	})
	rep, err := w.sync(next, rollout.SyncOptions{From: cur})
	close(stop)
	wg.Wait()
	if !errors.Is(err, rollout.ErrSourceChanged) || !errors.Is(err, termshift.ErrVerifyFailed) {
		t.Fatalf("sync of a changing source: %v, want ErrSourceChanged", err)
	}
	if rep == nil || rep.Proven || !strings.Contains(strings.Join(rep.Changes, "; "), curDB+".writes_during_sync") {
		t.Errorf("report %+v: want no proof and the changed table named", rep)
	}
	if st := w.state().Releases[next].Steps["sync"]; st.Status != "failed" {
		t.Errorf("sync step %+v, want failed", st)
	}
}
