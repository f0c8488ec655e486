#!/usr/bin/env bash
# Regenerates the committed backup fixtures from source.sql with the real
# tools (mydumper 0.10, mariadb-dump) against the local server:
#   mydumper/      mydumper --rows 50 (chunked, plain)
#   mydumper-gz/   mydumper -c (gzip, one file per table)
#   mysqldump/termshift_src.sql      mariadb-dump --databases (CREATE DATABASE + USE)
#   mysqldump/termshift_src.sql.gz   mariadb-dump, plain form, gzip
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../../.. && pwd)
if [ -f "$root/.termshift-dev/env" ]; then . "$root/.termshift-dev/env"; fi
host=${TERMSHIFT_MYSQL_HOST:-127.0.0.1} port=${TERMSHIFT_MYSQL_PORT:-3306} user=${TERMSHIFT_MYSQL_USER:-root}
export MYSQL_PWD=${TERMSHIFT_MYSQL_PASSWORD:-}
conn=(-h "$host" -P "$port" -u "$user")
mdconn=("${conn[@]}")
[ -n "$MYSQL_PWD" ] && mdconn+=(-p "$MYSQL_PWD")
db=termshift_src
mariadb "${conn[@]}" -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db DEFAULT CHARACTER SET utf8mb4"
trap 'mariadb "${conn[@]}" -e "DROP DATABASE IF EXISTS $db"' EXIT
mariadb "${conn[@]}" "$db" < source.sql
rm -rf mydumper mydumper-gz mysqldump
mydumper "${mdconn[@]}" -B "$db" -o mydumper --rows 50 -G -E -R -t 2
mydumper "${mdconn[@]}" -B "$db" -o mydumper-gz -c -G -E -R -t 2
mkdir mysqldump
mariadb-dump "${conn[@]}" --routines --triggers --events --databases "$db" > mysqldump/$db.sql
mariadb-dump "${conn[@]}" --routines --triggers --events "$db" | gzip -9n > mysqldump/$db.sql.gz
# the metadata files hold dump times; keep them stable
for m in mydumper/metadata mydumper-gz/metadata; do sed -i 's/[0-9]\{4\}-[0-9-]* [0-9:]*/2026-01-01 00:00:00/' "$m"; done
