package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
)

// migration is one schema change, recorded in django_migrations like
// Django's. apply must be idempotent on its own: MySQL DDL is not
// transactional, so a crash between the change and its record leaves the
// change applied but unrecorded, and the next run applies it again.
type migration struct {
	app, name string
	since     version // the first application version that ships it
	apply     func(ctx context.Context, db *sql.DB) error
}

// migrations in the order they apply.
func migrations() []migration {
	return []migration{
		{app: "lms", name: "0001_initial", since: version{1, 0}, apply: execAll(schema0001...)},
		// Every version records writes, so a final sync from 1.0 to 2.0
		// has them on both sides.
		{app: "demo", name: "0001_writes", since: version{1, 0}, apply: execAll(createDemoWrites)},
		{app: "lms", name: "0002_courseenrollment_mode_expiry", since: version{2, 0}, apply: apply0002},
	}
}

const createMigrations = `CREATE TABLE IF NOT EXISTS django_migrations (
  id int NOT NULL AUTO_INCREMENT,
  app varchar(255) NOT NULL,
  name varchar(255) NOT NULL,
  applied datetime(6) NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

var schema0001 = []string{
	`CREATE TABLE IF NOT EXISTS auth_user (
  id int NOT NULL AUTO_INCREMENT,
  password varchar(128) NOT NULL,
  last_login datetime(6) DEFAULT NULL,
  is_superuser tinyint(1) NOT NULL,
  username varchar(150) NOT NULL,
  first_name varchar(150) NOT NULL,
  last_name varchar(150) NOT NULL,
  email varchar(254) NOT NULL,
  is_staff tinyint(1) NOT NULL,
  is_active tinyint(1) NOT NULL,
  date_joined datetime(6) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY username (username),
  KEY auth_user_email_idx (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS auth_userprofile (
  id int NOT NULL AUTO_INCREMENT,
  name varchar(255) NOT NULL,
  meta longtext NOT NULL,
  courseware varchar(255) NOT NULL,
  language varchar(255) NOT NULL,
  location varchar(255) NOT NULL,
  year_of_birth int DEFAULT NULL,
  gender varchar(6) DEFAULT NULL,
  level_of_education varchar(6) DEFAULT NULL,
  mailing_address longtext,
  city longtext,
  country varchar(2) DEFAULT NULL,
  goals longtext,
  bio varchar(3000) DEFAULT NULL,
  phone_number varchar(50) DEFAULT NULL,
  user_id int NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY user_id (user_id),
  KEY auth_userprofile_name_idx (name),
  CONSTRAINT auth_userprofile_user_id_fk FOREIGN KEY (user_id) REFERENCES auth_user (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS student_courseenrollment (
  id int NOT NULL AUTO_INCREMENT,
  course_id varchar(255) NOT NULL,
  created datetime(6) DEFAULT NULL,
  is_active tinyint(1) NOT NULL,
  mode varchar(100) NOT NULL,
  user_id int NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY student_courseenrollment_user_id_course_id_uniq (user_id, course_id),
  KEY student_courseenrollment_course_id_idx (course_id),
  CONSTRAINT student_courseenrollment_user_id_fk FOREIGN KEY (user_id) REFERENCES auth_user (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS courseware_studentmodule (
  id bigint NOT NULL AUTO_INCREMENT,
  module_type varchar(32) NOT NULL,
  module_id varchar(255) NOT NULL,
  student_id int NOT NULL,
  state longtext,
  grade double DEFAULT NULL,
  max_grade double DEFAULT NULL,
  done varchar(8) NOT NULL,
  created datetime(6) NOT NULL,
  modified datetime(6) NOT NULL,
  course_id varchar(255) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY courseware_studentmodule_student_id_module_id_course_id_uniq (student_id, module_id, course_id),
  KEY courseware_studentmodule_course_id_idx (course_id),
  KEY courseware_studentmodule_modified_idx (modified),
  CONSTRAINT courseware_studentmodule_student_id_fk FOREIGN KEY (student_id) REFERENCES auth_user (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS demo_tasks (
  id bigint NOT NULL AUTO_INCREMENT,
  task_id varchar(36) NOT NULL,
  name varchar(255) NOT NULL,
  args longtext NOT NULL,
  queue varchar(255) NOT NULL,
  received datetime(6) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY demo_tasks_task_id_uniq (task_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
}

func execAll(stmts ...string) func(context.Context, *sql.DB) error {
	return func(ctx context.Context, db *sql.DB) error {
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
}

// apply0002 adds the enrollment expiry: a column and its index, each only if
// missing (MySQL 8 has no ADD COLUMN IF NOT EXISTS).
func apply0002(ctx context.Context, db *sql.DB) error {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'student_courseenrollment' AND COLUMN_NAME = 'expires'`).Scan(&n)
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := db.ExecContext(ctx, `ALTER TABLE student_courseenrollment ADD COLUMN expires datetime(6) NULL`); err != nil {
			return err
		}
	}
	err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'student_courseenrollment' AND INDEX_NAME = 'student_courseenrollment_expires_idx'`).Scan(&n)
	if err != nil {
		return err
	}
	if n == 0 {
		_, err = db.ExecContext(ctx, `ALTER TABLE student_courseenrollment ADD INDEX student_courseenrollment_expires_idx (expires)`)
	}
	return err
}

// AppliedMigration is one row of django_migrations.
type AppliedMigration struct {
	App, Name string
}

// Migrate applies every migration the version ships that django_migrations
// does not record yet, and returns the ones it applied. Running it again
// applies nothing.
func Migrate(ctx context.Context, db *sql.DB, ver string, log *slog.Logger) ([]AppliedMigration, error) {
	v, err := parseVersion(ver)
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, createMigrations); err != nil {
		return nil, fmt.Errorf("create django_migrations: %w", err)
	}
	done := map[AppliedMigration]bool{}
	rows, err := db.QueryContext(ctx, `SELECT app, name FROM django_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read django_migrations: %w", err)
	}
	for rows.Next() {
		var m AppliedMigration
		if err := rows.Scan(&m.App, &m.Name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read django_migrations: %w", err)
		}
		done[m] = true
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("read django_migrations: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read django_migrations: %w", err)
	}
	var applied []AppliedMigration
	for _, m := range migrations() {
		id := AppliedMigration{App: m.app, Name: m.name}
		if !v.atLeast(m.since) || done[id] {
			continue
		}
		if err := m.apply(ctx, db); err != nil {
			return applied, fmt.Errorf("apply migration %s.%s: %w", m.app, m.name, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO django_migrations (app, name, applied) VALUES (?, ?, UTC_TIMESTAMP(6))`, m.app, m.name); err != nil {
			return applied, fmt.Errorf("record migration %s.%s: %w", m.app, m.name, err)
		}
		log.Info("applied migration", "app", m.app, "name", m.name)
		applied = append(applied, id)
	}
	return applied, nil
}
