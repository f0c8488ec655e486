-- The source of make bench-backup and bench-final-sync: the 1,000,000-row
-- courseware_studentmodule-like table of make bench-restore
-- (restore/mysql/bench/run.sh, this repository), with its users. @ROWS@ is
-- replaced by the row count.
CREATE TABLE courseware_studentmodule (
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
  KEY courseware_studentmodule_course_id (course_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE bench_user (
  id int NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username varchar(150) NOT NULL UNIQUE,
  email varchar(254) NOT NULL,
  date_joined datetime(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO bench_user (username, email, date_joined)
SELECT CONCAT('user', seq), CONCAT('user', seq, '@example.com'), '2020-01-01' + INTERVAL seq MINUTE FROM seq_1_to_@USERS@;
INSERT INTO courseware_studentmodule (module_type, module_id, student_id, state, grade, max_grade, done, created, modified, course_id)
SELECT ELT(1 + seq % 4, 'problem', 'video', 'sequential', 'chapter'),
  CONCAT('block-v1:Org+Course', seq % 50, '+2024+type@problem+block@', MD5(seq)),
  seq DIV 40 + 1,
  CONCAT('{"attempts": ', seq % 7, ', "correct_map": {"', MD5(seq), '_2_1": {"correctness": "', IF(seq % 3, 'correct', 'incorrect'),
    '", "npoints": null, "msg": "it''s \\"fine\\"", "hint": "", "hintmode": null}}, "input_state": {"', MD5(seq + 1),
    '_2_1": {}}, "seed": ', seq % 1000, ', "done": true, "last_submission_time": "2024-03-01T12:00:00Z"}'),
  (seq % 10) / 2, 5, 'na',
  '2024-01-01' + INTERVAL seq SECOND + INTERVAL (seq % 1000000) MICROSECOND,
  '2024-02-01' + INTERVAL seq SECOND,
  CONCAT('course-v1:Org+Course', seq % 50, '+2024')
FROM seq_1_to_@ROWS@;
