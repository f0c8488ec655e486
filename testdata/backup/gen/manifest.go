package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/termshift/termshift/restore"
)

// writeManifest writes SNAP/manifest.json, as a backup made by termshift
// would: every file with its size and sha256, and every table, collection
// and kind of definition with the count the generator put there (not
// counted from the files, so that the restore proof can fail).
func writeManifest(snap, edxapp, xqueue, modulestore, forum, vhost string, w *World) error {
	m := restore.Manifest{Format: restore.ManifestFormat, CreatedAt: time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC),
		TermshiftVersion: "testdata/backup/gen", Servers: map[string]string{}}
	err := filepath.WalkDir(snap, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(snap, p)
		if rel == restore.ManifestName {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, restore.ManifestFile{Path: filepath.ToSlash(rel), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	add := func(svc, db, name string, n int) {
		m.Objects = append(m.Objects, restore.ManifestObject{Service: svc, Database: db, Name: name, Count: int64(n)})
	}
	add("mysql", edxapp, "auth_user", len(w.Users))
	add("mysql", edxapp, "auth_userprofile", len(w.Users))
	add("mysql", edxapp, "student_courseenrollment", len(w.Enrollments))
	add("mysql", edxapp, "courseware_studentmodule", len(w.Modules))
	add("mysql", edxapp, "demo_tasks", len(w.Tasks))
	add("mysql", edxapp, "django_migrations", 1)
	add("mysql", xqueue, "queue_submission", len(w.Submissions))
	add("mysql", xqueue, "django_migrations", 3)
	for _, c := range mongoCollections(modulestore, forum, w) {
		add("mongo", c.db, c.name, len(c.docs))
	}
	defs, err := os.ReadFile(filepath.Join(snap, "rabbitmq", "definitions.json"))
	if err != nil {
		return err
	}
	var d struct{ Exchanges, Queues, Bindings, Policies []json.RawMessage }
	if err := json.Unmarshal(defs, &d); err != nil {
		return fmt.Errorf("read definitions: %w", err)
	}
	add("rabbitmq", vhost, "exchanges", len(d.Exchanges))
	add("rabbitmq", vhost, "queues", len(d.Queues))
	add("rabbitmq", vhost, "bindings", len(d.Bindings))
	add("rabbitmq", vhost, "policies", len(d.Policies))
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(snap, restore.ManifestName), append(data, '\n'), 0o644)
}
