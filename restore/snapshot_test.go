package restore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestSnapshots(t *testing.T) {
	t.Parallel()
	files := tree{
		"2026-11-20T02:00:00Z/mysql/edxapp/auth_user.sql":   "12345",
		"2026-11-20T02:00:00Z/mongo/forum/contents.bson":    "123",
		"2026-11-20T02:00:00Z/rabbitmq/definitions.json":    "{}",
		"2026-11-21/mysql/edxapp.sql.gz":                    "1234567",
		"2026-11-21/MANIFEST":                               "m",
		"20261119T0200Z/rabbitmq/definitions.json":          "{1}",
		"notasnapshot/readme.txt":                           "x",
		"notasnapshot/deeper/mysql/looks-like-a-backup.sql": "x",
		"top.txt": "x",
	}
	want := []restore.Snapshot{
		{ID: "2026-11-21", Time: mustTime(t, "2026-11-21T00:00:00Z"), Services: []string{"mysql"}, Bytes: 8, Files: 2},
		{ID: "2026-11-20T02:00:00Z", Time: mustTime(t, "2026-11-20T02:00:00Z"), Services: []string{"mysql", "mongo", "rabbitmq"}, Bytes: 10, Files: 3},
		{ID: "20261119T0200Z", Time: mustTime(t, "2026-11-19T02:00:00Z"), Services: []string{"rabbitmq"}, Bytes: 3, Files: 1},
	}
	for _, kind := range sourceKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src := kind.build(t, files)
			got, err := restore.Snapshots(ctx, src)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("Snapshots (-got +want):\n%s", diff)
			}

			// "" opens the newest; the returned Source is rooted at it.
			sub, snap, err := restore.OpenSnapshot(ctx, src, "")
			if err != nil {
				t.Fatal(err)
			}
			if snap.ID != "2026-11-21" {
				t.Errorf("newest = %s, want 2026-11-21", snap.ID)
			}
			if got := readAll(t, sub, "MANIFEST"); got != "m" {
				t.Errorf("MANIFEST through the snapshot = %q", got)
			}

			sub, snap, err = restore.OpenSnapshot(ctx, src, "2026-11-20T02:00:00Z")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(snap, want[1]); diff != "" {
				t.Errorf("OpenSnapshot (-got +want):\n%s", diff)
			}
			list, err := sub.List(ctx, "mysql")
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].Name != "mysql/edxapp/auth_user.sql" {
				t.Errorf("List(mysql) in snapshot = %+v, want mysql/edxapp/auth_user.sql", list)
			}
			if !strings.HasSuffix(sub.String(), "/2026-11-20T02:00:00Z") {
				t.Errorf("snapshot source String() = %q, want it to end with the ID", sub.String())
			}

			_, _, err = restore.OpenSnapshot(ctx, src, "2026-11-22")
			if !errors.Is(err, termshift.ErrNotFound) {
				t.Fatalf("OpenSnapshot(unknown) error %v, want ErrNotFound", err)
			}
			for _, id := range []string{"2026-11-22", "2026-11-21", "2026-11-20T02:00:00Z", "20261119T0200Z"} {
				if !strings.Contains(err.Error(), id) {
					t.Errorf("error %q does not name %s", err, id)
				}
			}
		})
	}
}

func TestSnapshotsRootIsSnapshot(t *testing.T) {
	t.Parallel()
	files := tree{
		"mysql/edxapp.sql":          "1234",
		"rabbitmq/definitions.json": "{}",
		"README":                    "not part of it",
	}
	for _, kind := range sourceKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src := kind.build(t, files)
			got, err := restore.Snapshots(ctx, src)
			if err != nil {
				t.Fatal(err)
			}
			want := []restore.Snapshot{{ID: ".", Services: []string{"mysql", "rabbitmq"}, Bytes: 6, Files: 2}}
			if diff := cmp.Diff(got, want, cmpopts.IgnoreFields(restore.Snapshot{}, "Time")); diff != "" {
				t.Errorf("Snapshots (-got +want):\n%s", diff)
			}
			if got[0].Time.IsZero() {
				t.Error("a root snapshot's Time is zero; want the newest file's time")
			}
			sub, _, err := restore.OpenSnapshot(ctx, src, ".")
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, sub, "mysql/edxapp.sql"); got != "1234" {
				t.Errorf("read through root snapshot = %q", got)
			}
		})
	}
}

func TestSnapshotTimeFromFilesWhenIDIsNoTimestamp(t *testing.T) {
	t.Parallel()
	dir := writeDir(t, tree{
		"nightly-a/mysql/x.sql":  "1",
		"nightly-a/mongo/y.bson": "2",
		"nightly-b/mysql/x.sql":  "1",
	})
	old := mustTime(t, "2026-01-01T00:00:00Z")
	newer := mustTime(t, "2026-03-01T00:00:00Z")
	newest := mustTime(t, "2026-06-01T00:00:00Z")
	for name, tm := range map[string]time.Time{"nightly-a/mysql/x.sql": old, "nightly-a/mongo/y.bson": newest, "nightly-b/mysql/x.sql": newer} {
		if err := os.Chtimes(filepath.Join(dir.Root, name), tm, tm); err != nil {
			t.Fatal(err)
		}
	}
	got, err := restore.Snapshots(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var times []time.Time
	for _, s := range got {
		ids = append(ids, s.ID)
		times = append(times, s.Time.UTC())
	}
	if diff := cmp.Diff(ids, []string{"nightly-a", "nightly-b"}); diff != "" {
		t.Errorf("order (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(times, []time.Time{newest, newer}); diff != "" {
		t.Errorf("times (-got +want):\n%s", diff)
	}
}

func TestOpenSnapshotEmptySource(t *testing.T) {
	t.Parallel()
	dir := writeDir(t, tree{"readme.txt": "no backups here", "x/y/z.sql": "1"})
	_, _, err := restore.OpenSnapshot(context.Background(), dir, "")
	if !errors.Is(err, termshift.ErrNotFound) {
		t.Fatalf("error %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), dir.Root) {
		t.Errorf("error %q does not name the source %s", err, dir.Root)
	}
}
