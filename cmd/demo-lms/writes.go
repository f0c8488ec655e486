package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/termshift/termshift"
)

// Writes are what the final-sync proof counts: each has a unique id chosen
// by the client (loadgen: RUNID-NNNNNNNN), and is stored twice, as a row of
// the MySQL table demo_writes and as a document of the forum database's
// collection demo_writes, so a sync must carry both stores. POST
// /api/writes answers 201 only after both are committed (the MySQL
// transaction commits after the forum's insert is acknowledged with
// journaled majority write concern). The check after a final sync is then:
// every acknowledged id is in NEXT's demo_writes table and in its forum's
// demo_writes collection (`demo-lms check-writes`).
//
// Both writes routes answer their own storage failures with 500, never 503:
// a 503 is the router's maintenance window, so a load generator can tell the
// two apart.

// writesColl is the forum database's collection of writes; the MySQL table
// has the same name.
const writesColl = "demo_writes"

const createDemoWrites = `CREATE TABLE IF NOT EXISTS demo_writes (
  id varchar(128) NOT NULL,
  release_name varchar(64) NOT NULL,
  version varchar(32) NOT NULL,
  created datetime(6) NOT NULL,
  PRIMARY KEY (id),
  KEY demo_writes_created_idx (created)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

var writeIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// Write is one stored write as the API shows it.
type Write struct {
	ID      string    `json:"id"`
	Release string    `json:"release"` // the release that stored it
	Version string    `json:"version"`
	Created time.Time `json:"created"`
}

// StoredWrite is GET /api/writes/{id}: the write and where it is.
type StoredWrite struct {
	Write
	StoredIn struct {
		MySQL bool `json:"mysql"`
		Forum bool `json:"forum"`
	} `json:"stored_in"`
}

// RecordWrite stores the write id in MySQL and in the forum database. The
// forum's insert is acknowledged before the MySQL transaction commits, so a
// write whose commit returned is in both. It is idempotent: a write already
// recorded (a client's retry) is left as it was, completed in the forum if a
// former attempt stopped half way, and returned with created false.
func (b *backends) RecordWrite(ctx context.Context, id string) (w Write, created bool, err error) {
	// MongoDB keeps milliseconds: both stores hold the same instant.
	w = Write{ID: id, Release: b.cfg.Release, Version: b.cfg.Version, Created: time.Now().UTC().Truncate(time.Millisecond)}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return Write{}, false, fmt.Errorf("mysql %s: begin: %w", b.cfg.MySQL.Name, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO demo_writes (id, release_name, version, created) VALUES (?, ?, ?, ?)
ON DUPLICATE KEY UPDATE id = id`, w.ID, w.Release, w.Version, w.Created)
	if err != nil {
		return Write{}, false, fmt.Errorf("mysql %s: insert demo_writes: %w", b.cfg.MySQL.Name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Write{}, false, fmt.Errorf("mysql %s: insert demo_writes: %w", b.cfg.MySQL.Name, err)
	}
	if created = n == 1; !created {
		if err := tx.QueryRowContext(ctx, `SELECT release_name, version, created FROM demo_writes WHERE id = ?`, id).
			Scan(&w.Release, &w.Version, &w.Created); err != nil {
			return Write{}, false, fmt.Errorf("mysql %s: read demo_writes: %w", b.cfg.MySQL.Name, err)
		}
	}
	_, err = b.fdb.Collection(writesColl).InsertOne(ctx, bson.D{
		{Key: "_id", Value: w.ID}, {Key: "release", Value: w.Release},
		{Key: "version", Value: w.Version}, {Key: "created", Value: w.Created},
	})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return Write{}, false, fmt.Errorf("mongo %s: insert %s: %w", b.cfg.Forum.Name, writesColl, err)
	}
	if err := tx.Commit(); err != nil {
		return Write{}, false, fmt.Errorf("mysql %s: commit: %w", b.cfg.MySQL.Name, err)
	}
	return w, created, nil
}

// LookupWrite reads a write from both stores; found is false when neither
// has it.
func (b *backends) LookupWrite(ctx context.Context, id string) (sw StoredWrite, found bool, err error) {
	sw.ID = id
	err = b.db.QueryRowContext(ctx, `SELECT release_name, version, created FROM demo_writes WHERE id = ?`, id).
		Scan(&sw.Release, &sw.Version, &sw.Created)
	switch {
	case err == nil:
		sw.StoredIn.MySQL = true
	case !errors.Is(err, sql.ErrNoRows):
		return StoredWrite{}, false, fmt.Errorf("mysql %s: read demo_writes: %w", b.cfg.MySQL.Name, err)
	}
	var doc struct {
		Release string    `bson:"release"`
		Version string    `bson:"version"`
		Created time.Time `bson:"created"`
	}
	err = b.fdb.Collection(writesColl).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	switch {
	case err == nil:
		sw.StoredIn.Forum = true
		if !sw.StoredIn.MySQL {
			sw.Release, sw.Version, sw.Created = doc.Release, doc.Version, doc.Created.UTC()
		}
	case !errors.Is(err, mongo.ErrNoDocuments):
		return StoredWrite{}, false, fmt.Errorf("mongo %s: read %s: %w", b.cfg.Forum.Name, writesColl, err)
	}
	return sw, sw.StoredIn.MySQL || sw.StoredIn.Forum, nil
}

// MissingWrites returns the ids absent from the MySQL table and those absent
// from the forum collection, each in the order of ids.
func (b *backends) MissingWrites(ctx context.Context, ids []string) (mysqlMissing, forumMissing []string, err error) {
	const batch = 1000
	for start := 0; start < len(ids); start += batch {
		part := ids[start:min(start+batch, len(ids))]
		inMySQL := make(map[string]bool, len(part))
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		q := `SELECT id FROM demo_writes WHERE id IN (?` + strings.Repeat(",?", len(part)-1) + `)`
		rows, err := b.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, nil, fmt.Errorf("mysql %s: read demo_writes: %w", b.cfg.MySQL.Name, err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("mysql %s: read demo_writes: %w", b.cfg.MySQL.Name, err)
			}
			inMySQL[id] = true
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, nil, fmt.Errorf("mysql %s: read demo_writes: %w", b.cfg.MySQL.Name, err)
		}

		inForum := make(map[string]bool, len(part))
		cur, err := b.fdb.Collection(writesColl).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: part}}}})
		if err != nil {
			return nil, nil, fmt.Errorf("mongo %s: read %s: %w", b.cfg.Forum.Name, writesColl, err)
		}
		for cur.Next(ctx) {
			id, ok := cur.Current.Lookup("_id").StringValueOK()
			if ok {
				inForum[id] = true
			}
		}
		if err := errors.Join(cur.Err(), cur.Close(ctx)); err != nil {
			return nil, nil, fmt.Errorf("mongo %s: read %s: %w", b.cfg.Forum.Name, writesColl, err)
		}
		for _, id := range part {
			if !inMySQL[id] {
				mysqlMissing = append(mysqlMissing, id)
			}
			if !inForum[id] {
				forumMissing = append(forumMissing, id)
			}
		}
	}
	return mysqlMissing, forumMissing, nil
}

func (s *server) write(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID string `json:"id"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			s.fail(w, http.StatusBadRequest, `request body is not a JSON object {"id": ID}`, nil)
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			s.fail(w, http.StatusBadRequest, "request body is not a form", nil)
			return
		}
		in.ID = r.PostForm.Get("id")
	}
	if !writeIDRE.MatchString(in.ID) {
		s.fail(w, http.StatusBadRequest, "id must be 1-128 letters, digits or .:_-", nil)
		return
	}
	wr, created, err := s.b.RecordWrite(r.Context(), in.ID)
	if err != nil {
		s.fail(w, http.StatusInternalServerError, "record write", err)
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, wr)
}

func (s *server) lookupWrite(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !writeIDRE.MatchString(id) {
		s.fail(w, http.StatusBadRequest, "id must be 1-128 letters, digits or .:_-", nil)
		return
	}
	sw, found, err := s.b.LookupWrite(r.Context(), id)
	if err != nil {
		s.fail(w, http.StatusInternalServerError, "read write", err)
		return
	}
	if !found {
		s.fail(w, http.StatusNotFound, fmt.Sprintf("write %q not found", id), nil)
		return
	}
	writeJSON(w, http.StatusOK, sw)
}

// checkWrites is `demo-lms check-writes`: the final-sync proof, one line.
func checkWrites(ctx context.Context, b *backends, idsPath string, stdout io.Writer) error {
	ids, err := readIDs(idsPath)
	if err != nil {
		return fmt.Errorf("check-writes: %w", err)
	}
	inMySQL, inForum, err := b.MissingWrites(ctx, ids)
	if err != nil {
		return fmt.Errorf("check-writes: %s", b.redact.String(err))
	}
	lost := map[string]bool{}
	for _, id := range slices.Concat(inMySQL, inForum) {
		lost[id] = true
	}
	fmt.Fprintf(stdout, "check-writes: lost %d of %d acknowledged writes (missing from mysql %s: %d, from mongo %s.%s: %d)\n",
		len(lost), len(ids), b.cfg.MySQL.Name, len(inMySQL), b.cfg.Forum.Name, writesColl, len(inForum))
	for i, id := range inMySQL[:min(len(inMySQL), 10)] {
		fmt.Fprintf(stdout, "check-writes: missing from mysql: %s%s\n", id, more(i, 10, len(inMySQL)))
	}
	for i, id := range inForum[:min(len(inForum), 10)] {
		fmt.Fprintf(stdout, "check-writes: missing from forum: %s%s\n", id, more(i, 10, len(inForum)))
	}
	if len(lost) > 0 {
		return fmt.Errorf("check-writes: %d of %d acknowledged writes lost", len(lost), len(ids))
	}
	return nil
}

// more notes, on the last line shown, how many were left out.
func more(i, shown, total int) string {
	if i == shown-1 && total > shown {
		return fmt.Sprintf(" (and %d more)", total-shown)
	}
	return ""
}

// readIDs reads write ids, one a line; blank lines are skipped, and a line
// that is not an id is refused with its number.
func readIDs(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ids: %w", err)
	}
	var ids []string
	seen := map[string]bool{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !writeIDRE.MatchString(line) {
			return nil, fmt.Errorf("%s:%d: %s is not a write id (1-128 letters, digits or .:_-): %w", path, n+1, termshift.Quote(line), termshift.ErrInvalid)
		}
		if !seen[line] {
			seen[line] = true
			ids = append(ids, line)
		}
	}
	return ids, nil
}
