package main

import (
	"fmt"
	"strings"
)

// The generated schema is shaped like a production edxapp: a few huge
// tables (courseware_studentmodule, its history, auth_user), some medium
// ones, and hundreds of small or empty ones, with foreign keys and
// secondary indexes as Django creates them.
const (
	mediumTables = 10
	smallTables  = 490
)

// sizes of the big tables for a size n (the rows of courseware_studentmodule).
func users(n int) int   { return max(1, n/8) }
func history(n int) int { return max(1, n/2) }
func medium(n int) int  { return max(1, n/50) }

// totalRows is the rows the generated schema holds at size n.
func totalRows(n int) int {
	total := n + history(n) + users(n) + mediumTables*medium(n)
	for i := range smallTables {
		total += smallRows(i)
	}
	return total
}

func smallRows(i int) int {
	if i%4 == 0 {
		return 0 // many Django tables are empty
	}
	return 1 + (i*37)%200
}

func smallName(i int) string { return fmt.Sprintf("app%02d_model%02d", i/20, i%20) }

// schemaSQL is the script the mariadb client runs inside an empty schema
// to build size n.
func schemaSQL(n int) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("SET foreign_key_checks = 0, unique_checks = 0;")
	w(`CREATE TABLE auth_user (
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
  KEY auth_user_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;`)
	w(`CREATE TABLE courseware_studentmodule (
  id int NOT NULL AUTO_INCREMENT,
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
  UNIQUE KEY courseware_studentmodule_student_id_module_id_uniq (student_id, module_id),
  KEY courseware_studentmodule_module_type (module_type),
  KEY courseware_studentmodule_module_id (module_id),
  KEY courseware_studentmodule_grade (grade),
  KEY courseware_studentmodule_created (created),
  KEY courseware_studentmodule_modified (modified),
  KEY courseware_studentmodule_done (done),
  KEY courseware_studentmodule_course_id (course_id),
  CONSTRAINT courseware_studentmodule_student_id_fk FOREIGN KEY (student_id) REFERENCES auth_user (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;`)
	w(`CREATE TABLE coursewarehistoryextended_studentmodulehistoryextended (
  id bigint NOT NULL AUTO_INCREMENT,
  version varchar(255) DEFAULT NULL,
  created datetime(6) NOT NULL,
  state longtext,
  grade double DEFAULT NULL,
  max_grade double DEFAULT NULL,
  student_module_id int NOT NULL,
  PRIMARY KEY (id),
  KEY coursewarehistoryextended_studentmodulehistoryextended_version (version),
  KEY coursewarehistoryextended_studentmodulehistoryextended_created (created),
  KEY coursewarehistoryextended_student_module_id (student_module_id),
  CONSTRAINT coursewarehistoryextended_student_module_id_fk FOREIGN KEY (student_module_id) REFERENCES courseware_studentmodule (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;`)
	for i := range mediumTables {
		w(`CREATE TABLE student_medium%02d (
  id int NOT NULL AUTO_INCREMENT,
  user_id int NOT NULL,
  course_id varchar(255) NOT NULL,
  created datetime(6) NOT NULL,
  is_active tinyint(1) NOT NULL,
  mode varchar(100) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY student_medium%02d_user_course (user_id, course_id),
  KEY student_medium%02d_course_id (course_id),
  KEY student_medium%02d_created (created),
  CONSTRAINT student_medium%02d_user_fk FOREIGN KEY (user_id) REFERENCES auth_user (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;`, i, i, i, i, i)
	}
	for i := range smallTables {
		fk := ""
		if i%5 == 1 {
			fk = fmt.Sprintf(",\n  CONSTRAINT %s_user_fk FOREIGN KEY (user_id) REFERENCES auth_user (id)", smallName(i))
		} else if i%5 == 2 && i > 20 {
			fk = fmt.Sprintf(",\n  CONSTRAINT %s_parent_fk FOREIGN KEY (parent_id) REFERENCES %s (id)", smallName(i), smallName(i-20))
		}
		w(`CREATE TABLE %s (
  id int NOT NULL AUTO_INCREMENT,
  name varchar(255) NOT NULL,
  slug varchar(100) NOT NULL,
  created datetime(6) NOT NULL,
  modified datetime(6) NOT NULL,
  enabled tinyint(1) NOT NULL,
  value int DEFAULT NULL,
  user_id int DEFAULT NULL,
  parent_id int DEFAULT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY %s_slug (slug),
  KEY %s_created (created),
  KEY %s_user_id (user_id),
  KEY %s_parent_id (parent_id)%s
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;`, smallName(i), smallName(i), smallName(i), smallName(i), smallName(i), fk)
	}
	u := users(n)
	w(`INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
SELECT 'pbkdf2_sha256$150000$abcdefghijkl$0123456789abcdefghijklmnopqrstuvwxyzABCDEF=', IF(seq %% 3, '2024-01-01' + INTERVAL seq SECOND, NULL),
  seq %% 1000 = 0, CONCAT('user', seq), ELT(1 + seq %% 5, 'Ana', 'Bo', 'Chen', 'Dara', 'Émile'), CONCAT('Last', seq %% 997),
  CONCAT('user', seq, '@example.com'), seq %% 500 = 0, 1, '2020-01-01' + INTERVAL seq MINUTE
FROM seq_1_to_%d;`, u)
	w(`INSERT INTO courseware_studentmodule (module_type, module_id, student_id, state, grade, max_grade, done, created, modified, course_id)
SELECT ELT(1 + seq %% 4, 'problem', 'video', 'sequential', 'chapter'),
  CONCAT('block-v1:Org+Course', seq %% 50, '+2024+type@problem+block@', MD5(seq)),
  1 + seq %% %d,
  CONCAT('{"attempts": ', seq %% 7, ', "correct_map": {"', MD5(seq), '_2_1": {"correctness": "', IF(seq %% 3, 'correct', 'incorrect'),
    '", "npoints": null, "msg": "it''s \\\\"fine\\\\"", "hint": ""}}, "seed": ', seq %% 1000, ', "done": true}'),
  IF(seq %% 5, (seq %% 10) / 2, NULL), 5, 'na',
  '2024-01-01' + INTERVAL seq SECOND + INTERVAL (seq %% 1000000) MICROSECOND,
  '2024-02-01' + INTERVAL seq SECOND,
  CONCAT('course-v1:Org+Course', seq %% 50, '+2024')
FROM seq_1_to_%d;`, u, n)
	w(`INSERT INTO coursewarehistoryextended_studentmodulehistoryextended (version, created, state, grade, max_grade, student_module_id)
SELECT IF(seq %% 2, NULL, CONCAT('v', seq %% 17)), '2024-03-01' + INTERVAL seq SECOND,
  CONCAT('{"attempts": ', seq %% 7, ', "seed": ', seq %% 1000, ', "input_state": {"', MD5(seq), '": {}}}'),
  (seq %% 10) / 2, 5, 1 + seq %% %d
FROM seq_1_to_%d;`, n, history(n))
	for i := range mediumTables {
		w(`INSERT INTO student_medium%02d (user_id, course_id, created, is_active, mode)
SELECT 1 + seq %% %d, CONCAT('course-v1:Org+Course', seq DIV %d, '+2024'), '2023-01-01' + INTERVAL seq MINUTE, seq %% 9 > 0, ELT(1 + seq %% 3, 'audit', 'verified', 'honor')
FROM seq_1_to_%d;`, i, u, u, medium(n))
	}
	for i := range smallTables {
		rows := smallRows(i)
		if rows == 0 {
			continue
		}
		parent := "NULL"
		if i%5 == 2 && i > 20 && smallRows(i-20) > 0 {
			parent = fmt.Sprintf("1 + seq %% %d", smallRows(i-20))
		}
		w(`INSERT INTO %s (name, slug, created, modified, enabled, value, user_id, parent_id)
SELECT CONCAT('Name ', seq, ' of %s'), CONCAT('slug-', seq), '2022-01-01' + INTERVAL seq HOUR, '2022-06-01' + INTERVAL seq HOUR, seq %% 2,
  IF(seq %% 7, seq * 3, NULL), IF(seq %% 3, 1 + seq %% %d, NULL), %s
FROM seq_1_to_%d;`, smallName(i), smallName(i), u, parent, rows)
	}
	return b.String()
}
