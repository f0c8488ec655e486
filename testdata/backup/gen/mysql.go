package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// fillMySQL writes the world into the two source schemas. The edxapp schema
// must already hold demo-lms's 1.0 migrations (generate.sh runs
// `demo-lms migrate`), so its tables are exactly what the LMS creates.
func fillMySQL(ctx context.Context, dsn, edxapp, xqueue string, w *World) error {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("parse mysql dsn: %w", err)
	}
	mc.ParseTime, mc.Loc = true, time.UTC
	mc.Params = map[string]string{"time_zone": "'+00:00'", "foreign_key_checks": "0"}
	mc.DBName = edxapp
	db, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // session variables must hold for every statement

	var users, profiles, enrolls, modules, tasks [][]any
	for _, u := range w.Users {
		users = append(users, []any{u.ID, u.Password, u.LastLogin, u.Staff, u.Username, u.First, u.Last, u.Email, u.Staff, true, u.Joined})
		profiles = append(profiles, []any{u.ID, u.First + " " + u.Last, "{}", "course.xml", "", "", u.YearOfBirth, u.Gender,
			u.Education, u.Address, u.City, u.Country, u.Goals, "", u.Phone, u.ID})
	}
	for _, e := range w.Enrollments {
		enrolls = append(enrolls, []any{e.ID, e.Course.ID(), e.Created, e.Active, e.Mode, e.User.ID})
	}
	for _, m := range w.Modules {
		done := "na"
		modules = append(modules, []any{m.ID, "problem", m.Course.Usage(m.Block), m.User.ID, m.State, m.Grade, m.MaxGrade, done, m.Created, m.Modified, m.Course.ID()})
	}
	for i, t := range w.Tasks {
		tasks = append(tasks, []any{i + 1, t.TaskID, t.Name, t.Args, "edx.lms.core.default", t.Received})
	}
	inserts := []struct {
		table, cols string
		rows        [][]any
	}{
		{"auth_user", "id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined", users},
		{"auth_userprofile", "id, name, meta, courseware, language, location, year_of_birth, gender, level_of_education, mailing_address, city, country, goals, bio, phone_number, user_id", profiles},
		{"student_courseenrollment", "id, course_id, created, is_active, mode, user_id", enrolls},
		{"courseware_studentmodule", "id, module_type, module_id, student_id, state, grade, max_grade, done, created, modified, course_id", modules},
		{"demo_tasks", "id, task_id, name, args, queue, received", tasks},
	}
	for _, in := range inserts {
		if err := insertRows(ctx, db, edxapp+"."+in.table, in.cols, in.rows); err != nil {
			return err
		}
	}
	// A fixed applied time keeps the dump reproducible.
	if _, err := db.ExecContext(ctx, "UPDATE django_migrations SET applied = '2024-06-01 09:30:00.000000'"); err != nil {
		return fmt.Errorf("pin django_migrations.applied: %w", err)
	}

	for _, s := range xqueueSchema {
		if _, err := db.ExecContext(ctx, strings.ReplaceAll(s, "XQ.", "`"+xqueue+"`.")); err != nil {
			return fmt.Errorf("create xqueue schema: %w", err)
		}
	}
	var subs [][]any
	for _, s := range w.Submissions {
		header := fmt.Sprintf(`{"lms_callback_url": "https://courses.example.edu/courses/%s/xqueue/%d/%s/score_update", "lms_key": "%s", "queue_name": "%s"}`,
			s.Course.ID(), s.User.ID, s.Course.Usage(s.Block), s.Key, s.Queue)
		body := fmt.Sprintf(`{"student_info": "{\"anonymous_student_id\": \"%x\", \"submission_time\": \"%s\"}", "student_response": "def f(x):\n    return x * 2\n", "grader_payload": "{\"grader\": \"ps1/grade.py\"}"}`,
			s.User.ID*7919, s.Arrival.Format("20060102150405"))
		reply := fmt.Sprintf(`{"correct": %t, "score": %g, "msg": "<p>Graded.</p>"}`, s.Score == 1, s.Score)
		subs = append(subs, []any{s.ID, fmt.Sprint(s.User.ID), "https://courses.example.edu/xqueue/score_update", s.Queue, header, body,
			"{}", "{}", s.Arrival, s.Arrival.Add(time.Second), s.Returned, s.Returned, "grader-1", s.Key, reply, 0, true, true})
	}
	if err := insertRows(ctx, db, "`"+xqueue+"`.queue_submission", "id, requester_id, lms_callback_url, queue_name, xqueue_header, xqueue_body, s3_keys, s3_urls, arrival_time, pull_time, push_time, return_time, grader_id, pullkey, grader_reply, num_failures, lms_ack, retired", subs); err != nil {
		return err
	}
	return nil
}

var xqueueSchema = []string{
	`CREATE TABLE XQ.django_migrations (
  id int NOT NULL AUTO_INCREMENT,
  app varchar(255) NOT NULL,
  name varchar(255) NOT NULL,
  applied datetime(6) NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`INSERT INTO XQ.django_migrations (app, name, applied) VALUES
('queue', '0001_initial', '2023-02-14 10:00:00.000000'),
('queue', '0002_auto_20160317_2135', '2023-02-14 10:00:01.000000'),
('queue', '0003_auto_20230207_1234', '2023-02-14 10:00:02.000000')`,
	`CREATE TABLE XQ.queue_submission (
  id int NOT NULL AUTO_INCREMENT,
  requester_id varchar(128) NOT NULL,
  lms_callback_url varchar(128) NOT NULL,
  queue_name varchar(128) NOT NULL,
  xqueue_header varchar(1024) NOT NULL,
  xqueue_body longtext NOT NULL,
  s3_keys varchar(1024) NOT NULL,
  s3_urls varchar(1024) NOT NULL,
  arrival_time datetime(6) NOT NULL,
  pull_time datetime(6) DEFAULT NULL,
  push_time datetime(6) DEFAULT NULL,
  return_time datetime(6) DEFAULT NULL,
  grader_id varchar(128) NOT NULL,
  pullkey varchar(128) NOT NULL,
  grader_reply longtext NOT NULL,
  num_failures int NOT NULL,
  lms_ack tinyint(1) NOT NULL,
  retired tinyint(1) NOT NULL,
  PRIMARY KEY (id),
  KEY queue_submission_queue_name_idx (queue_name),
  KEY queue_submission_lms_callback_url_idx (lms_callback_url),
  KEY queue_submission_retired_idx (retired)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
}

// insertRows inserts in batches of multi-row INSERTs.
func insertRows(ctx context.Context, db *sql.DB, table, cols string, rows [][]any) error {
	const batch = 200
	for start := 0; start < len(rows); start += batch {
		chunk := rows[start:min(start+batch, len(rows))]
		ph := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(chunk[0])), ", ") + ")"
		var args []any
		for _, r := range chunk {
			args = append(args, r...)
		}
		q := "INSERT INTO " + table + " (" + cols + ") VALUES " + strings.TrimSuffix(strings.Repeat(ph+", ", len(chunk)), ", ")
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("insert into %s (rows %d-%d): %w", table, start+1, start+len(chunk), err)
		}
	}
	return nil
}
