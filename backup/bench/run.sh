#!/usr/bin/env bash
# make bench-backup: back up the 1,000,000-row courseware_studentmodule-like
# table of make bench-restore (backup/bench/source.sql) with termshift and
# with mydumper, same threads, same chunking, both gzip-compressed, and
# compare: wall time (each tool three times, alternating, the best of each),
# termshift's peak RSS, and how long termshift held the global read lock.
#
#   THREADS=2 ROWS=1000000 CHUNK_ROWS=100000 backup/bench/run.sh
#
# The source schema is built once per run and dropped at the end; dumps go
# to .termshift-dev/bench-backup (git-ignored). The last line is the summary.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if [ -f .termshift-dev/env ]; then . .termshift-dev/env; fi
: "${TERMSHIFT_MYSQL_HOST:=127.0.0.1}" "${TERMSHIFT_MYSQL_PORT:=3306}" "${TERMSHIFT_MYSQL_USER:=root}" "${TERMSHIFT_MYSQL_PASSWORD:=}"
: "${TERMSHIFT_MYSQL_DSN:=${TERMSHIFT_MYSQL_USER}@tcp(${TERMSHIFT_MYSQL_HOST}:${TERMSHIFT_MYSQL_PORT})/}"
export TERMSHIFT_MYSQL_DSN MYSQL_PWD="$TERMSHIFT_MYSQL_PASSWORD"
THREADS=${THREADS:-2}
ROWS=${ROWS:-1000000}
CHUNK_ROWS=${CHUNK_ROWS:-100000}
for tool in mydumper mariadb; do
	command -v $tool >/dev/null || { echo "bench-backup: $tool is not installed (make services installs it)" >&2; exit 1; }
done
conn=(-h "$TERMSHIFT_MYSQL_HOST" -P "$TERMSHIFT_MYSQL_PORT" -u "$TERMSHIFT_MYSQL_USER")
mdconn=("${conn[@]}")
[ -n "$TERMSHIFT_MYSQL_PASSWORD" ] && mdconn+=(-p "$TERMSHIFT_MYSQL_PASSWORD")
sqlc() { mariadb "${conn[@]}" "$@"; }
work=$root/.termshift-dev/bench-backup
src=${SOURCE:-bkbench_src}
mkdir -p "$work"
cleanup() { [ -n "${KEEP_SOURCE:-}" ] || sqlc -e "DROP DATABASE IF EXISTS \`$src\`" || true; rm -rf "$work/md" "$work/ts"; }
trap cleanup EXIT

if [ "$(sqlc -N -e "SELECT COUNT(*) FROM \`$src\`.courseware_studentmodule" 2>/dev/null || echo 0)" != "$ROWS" ]; then
	echo "== building $src: $ROWS rows of courseware_studentmodule"
	sqlc -e "DROP DATABASE IF EXISTS \`$src\`; CREATE DATABASE \`$src\` DEFAULT CHARACTER SET utf8mb4"
	sed "s/@ROWS@/$ROWS/; s/@USERS@/$((ROWS / 40 + 1))/" backup/bench/source.sql | sqlc "$src"
fi

bench=$work/bench-bin
ts=$work/termshift
go build -o "$bench" ./backup/bench
go build -o "$ts" ./cmd/termshift
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | tail -1; }

best_ts=""; best_md=""; rss=0; lock_ms=""
for round in 1 2 3; do
	rm -rf "$work/md" && mkdir -p "$work/md"
	echo "== mydumper -t $THREADS --rows $CHUNK_ROWS -c (round $round)"
	out=$("$bench" measure -- mydumper "${mdconn[@]}" -B "$src" -o "$work/md/dump" -t "$THREADS" --rows "$CHUNK_ROWS" -c -G -R -E)
	t=$(echo "$out" | field seconds); echo "   $t s"
	best_md=$(awk -v a="$best_md" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')

	rm -rf "$work/ts"
	echo "== termshift backup mysql --threads $THREADS --chunk-rows $CHUNK_ROWS --compress gzip (round $round)"
	out=$("$bench" measure -- "$ts" backup mysql --dsn '$TERMSHIFT_MYSQL_DSN' --schema "$src" --to "$work/ts" --id bench \
		--threads "$THREADS" --chunk-rows "$CHUNK_ROWS" --compress gzip --json 2>/dev/null)
	t=$(echo "$out" | field seconds); r=$(echo "$out" | field maxrss_kib); echo "   $t s, peak RSS $((r / 1024)) MiB"
	rows=$(echo "$out" | sed -n 's/.*"name": "courseware_studentmodule",/&/p' | head -1)
	count=$(echo "$out" | tr -d ' \n' | grep -o '"name":"courseware_studentmodule","count":[0-9]*' | grep -o '[0-9]*$')
	[ "$count" = "$ROWS" ] || { echo "bench-backup: termshift's manifest counts $count rows, want $ROWS" >&2; exit 1; }
	held=$(echo "$out" | tr -d ' \n' | grep -o '"lock_held_ns":[0-9]*' | grep -o '[0-9]*$')
	echo "   global read lock held $(awk -v n="$held" 'BEGIN { printf "%.1f", n / 1e6 }') ms"
	[ "$r" -gt "$rss" ] && rss=$r
	if [ -z "$best_ts" ] || awk -v a="$t" -v b="$best_ts" 'BEGIN { exit !(a < b) }'; then
		best_ts=$t; lock_ms=$(awk -v n="$held" 'BEGIN { printf "%.1f", n / 1e6 }')
	fi
done
echo "== sizes: mydumper $(du -sm "$work/md" | cut -f1) MB, termshift $(du -sm "$work/ts" | cut -f1) MB"
awk -v ts="$best_ts" -v md="$best_md" -v rss="$rss" -v lock="$lock_ms" -v th="$THREADS" -v rows="$ROWS" 'BEGIN {
	printf "backup of %d rows, threads %d, gzip: termshift %.2fs, mydumper %.2fs (best of three each)\n", rows, th, ts, md
	printf "bench-backup: termshift/mydumper %.2f, peak RSS %d MiB, read lock held %s ms\n", ts / md, rss / 1024, lock
}'
