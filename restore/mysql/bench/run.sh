#!/usr/bin/env bash
# make bench-restore: restore an edX-like MySQL backup three ways on the
# local server and compare: termshift (restore/mysql), myloader, and the
# mysql client reading a mysqldump file.
#
#   THREADS=2 ROWS=1000000 restore/mysql/bench/run.sh
#
# Dumps are kept in .termshift-dev/bench (git-ignored) and reused; every
# bench schema is dropped at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
if [ -f .termshift-dev/env ]; then . .termshift-dev/env; fi
: "${TERMSHIFT_MYSQL_HOST:=127.0.0.1}" "${TERMSHIFT_MYSQL_PORT:=3306}" "${TERMSHIFT_MYSQL_USER:=root}" "${TERMSHIFT_MYSQL_PASSWORD:=}"
: "${TERMSHIFT_MYSQL_DSN:=${TERMSHIFT_MYSQL_USER}@tcp(${TERMSHIFT_MYSQL_HOST}:${TERMSHIFT_MYSQL_PORT})/}"
export TERMSHIFT_MYSQL_DSN MYSQL_PWD="$TERMSHIFT_MYSQL_PASSWORD"
THREADS=${THREADS:-2}
ROWS=${ROWS:-1000000}
CHUNK_ROWS=${CHUNK_ROWS:-50000}
work=$root/.termshift-dev/bench
mkdir -p "$work"
for tool in mydumper myloader mariadb mariadb-dump; do
	command -v $tool >/dev/null || { echo "bench: $tool is not installed (apt-get install mydumper mariadb-client)" >&2; exit 1; }
done
conn=(-h "$TERMSHIFT_MYSQL_HOST" -P "$TERMSHIFT_MYSQL_PORT" -u "$TERMSHIFT_MYSQL_USER")
mdconn=("${conn[@]}")
[ -n "$TERMSHIFT_MYSQL_PASSWORD" ] && mdconn+=(-p "$TERMSHIFT_MYSQL_PASSWORD")
sqlc() { mariadb "${conn[@]}" "$@"; }

src=bench_src
cleanup() { for s in $src bench_termshift bench_termshift_dump bench_myloader bench_mysql; do sqlc -e "DROP DATABASE IF EXISTS \`$s\`" || true; done; }
trap cleanup EXIT

stamp="rows=$ROWS chunk=$CHUNK_ROWS threads=$THREADS v1"
if [ "$(cat "$work/stamp" 2>/dev/null)" != "$stamp" ]; then
	echo "== building $src: $ROWS rows of courseware_studentmodule"
	rm -rf "$work/mydumper" "$work/$src.sql" "$work/stamp"
	sqlc -e "DROP DATABASE IF EXISTS $src; CREATE DATABASE $src DEFAULT CHARACTER SET utf8mb4"
	sqlc "$src" <<SQL
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
CREATE TABLE auth_user (
  id int NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username varchar(150) NOT NULL UNIQUE,
  email varchar(254) NOT NULL,
  date_joined datetime(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO auth_user (username, email, date_joined)
SELECT CONCAT('user', seq), CONCAT('user', seq, '@example.com'), '2020-01-01' + INTERVAL seq MINUTE FROM seq_1_to_$((ROWS / 40 + 1));
INSERT INTO courseware_studentmodule (module_type, module_id, student_id, state, grade, max_grade, done, created, modified, course_id)
SELECT ELT(1 + seq % 4, 'problem', 'video', 'sequential', 'chapter'),
  CONCAT('block-v1:Org+Course', seq % 50, '+2024+type@problem+block@', MD5(seq)),
  seq DIV 40 + 1,
  CONCAT('{"attempts": ', seq % 7, ', "correct_map": {"', MD5(seq), '_2_1": {"correctness": "', IF(seq % 3, 'correct', 'incorrect'),
    '", "npoints": null, "msg": "it''s \\\\"fine\\\\"", "hint": "", "hintmode": null}}, "input_state": {"', MD5(seq + 1),
    '_2_1": {}}, "seed": ', seq % 1000, ', "done": true, "last_submission_time": "2024-03-01T12:00:00Z"}'),
  (seq % 10) / 2, 5, 'na',
  '2024-01-01' + INTERVAL seq SECOND + INTERVAL (seq % 1000000) MICROSECOND,
  '2024-02-01' + INTERVAL seq SECOND,
  CONCAT('course-v1:Org+Course', seq % 50, '+2024')
FROM seq_1_to_$ROWS;
SQL
	echo "== dumping with mydumper (--threads $THREADS --rows $CHUNK_ROWS) and mariadb-dump"
	mydumper "${mdconn[@]}" -B "$src" -o "$work/mydumper" -t "$THREADS" --rows "$CHUNK_ROWS" -G -R -E
	mariadb-dump "${conn[@]}" --routines --triggers --events "$src" > "$work/$src.sql"
	echo "$stamp" > "$work/stamp"
	sqlc -e "DROP DATABASE $src"
fi
echo "== backup: $(du -sm "$work/mydumper" | cut -f1) MB mydumper, $(du -sm "$work/$src.sql" | cut -f1) MB mysqldump"

bench=$work/bench-bin
go build -o "$bench" ./restore/mysql/bench
fresh() { sqlc -e "DROP DATABASE IF EXISTS \`$1\`; CREATE DATABASE \`$1\` DEFAULT CHARACTER SET utf8mb4"; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | tail -1; }

echo "== termshift (threads $THREADS)"
fresh bench_termshift
out=$("$bench" measure -- "$bench" restore -dir "$work" -path mydumper -from "$src" -to bench_termshift -threads "$THREADS" )
echo "$out"
t_ts=$(echo "$out" | field seconds); rss_ts=$(echo "$out" | field maxrss_kib)

echo "== termshift from the mysqldump file (threads $THREADS)"
fresh bench_termshift_dump
out=$("$bench" measure -- "$bench" restore -dir "$work" -path "$src.sql" -from "$src" -to bench_termshift_dump -threads "$THREADS")
echo "$out"
t_tsd=$(echo "$out" | field seconds); rss_tsd=$(echo "$out" | field maxrss_kib)

echo "== myloader (threads $THREADS)"
fresh bench_myloader
out=$("$bench" measure -- myloader "${mdconn[@]}" -d "$work/mydumper" -s "$src" -B bench_myloader -t "$THREADS" -o )
echo "$out"
t_myl=$(echo "$out" | field seconds)

echo "== mysql client < mysqldump file"
fresh bench_mysql
out=$("$bench" measure -- sh -c "mariadb ${conn[*]} bench_mysql < '$work/$src.sql'" )
echo "$out"
t_sql=$(echo "$out" | field seconds)

# the four targets must hold the same data
sums=""
for s in bench_termshift bench_termshift_dump bench_myloader bench_mysql; do
	n=$(sqlc -N -e "SELECT COUNT(*) FROM \`$s\`.courseware_studentmodule")
	[ "$n" = "$ROWS" ] || { echo "bench: $s holds $n rows, want $ROWS" >&2; exit 1; }
	sum=$(sqlc -N -e "CHECKSUM TABLE \`$s\`.courseware_studentmodule, \`$s\`.auth_user" | awk '{print $2}' | tr '\n' ' ')
	echo "  $s checksums: $sum"
	[ -z "$sums" ] && sums=$sum
	[ "$sum" = "$sums" ] || { echo "bench: $s differs from bench_termshift" >&2; exit 1; }
done

awk -v ts="$t_ts" -v tsd="$t_tsd" -v rssd="$rss_tsd" -v myl="$t_myl" -v sql="$t_sql" -v rss="$rss_ts" -v th="$THREADS" -v rows="$ROWS" 'BEGIN {
	printf "\nrestore of %d rows, threads %d\n", rows, th
	printf "  termshift  %8.2fs  (peak RSS %.1f MiB)\n", ts, rss / 1024
	printf "  termshift  %8.2fs  from the mysqldump file (peak RSS %.1f MiB)\n", tsd, rssd / 1024
	printf "  myloader   %8.2fs\n", myl
	printf "  mysql      %8.2fs\n", sql
	printf "  termshift/myloader = %.2f (target <= 0.80)\n", ts / myl
	printf "  termshift/mysql    = %.2f\n", ts / sql
}'
