#!/usr/bin/env bash
# Regenerates testdata/backup/<snapshot>/ from scratch with the real tools,
# against the local servers of `make services`:
#   mysql/     real mydumper 0.10 output of two source schemas, filled by
#              testdata/backup/gen after `demo-lms migrate` (version 1.0)
#              created the LMS's tables
#   mongo/     mongodump-format directory written by testdata/backup/gen
#   rabbitmq/  definitions exported from the local broker's management API
# The fake data is deterministic (fixed seed); mydumper's metadata file and
# the RabbitMQ password hashes differ from run to run.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [[ -f .termshift-dev/env ]]; then
	# shellcheck disable=SC1091
	. .termshift-dev/env
fi
: "${TERMSHIFT_MYSQL_HOST:?run make services}" "${TERMSHIFT_MYSQL_PORT:?}" "${TERMSHIFT_MYSQL_USER:?}"
command -v mydumper >/dev/null || { echo "mydumper is missing: apt-get install -y mydumper" >&2; exit 1; }

snap="testdata/backup/2026-11-20T02:00:00Z"
edxapp=edxapp_residential_live
xqueue=xqueue_residential_live
modulestore=modulestore_residential_live
forum=forum_residential_live
vhost=celery_residential_live

export MYSQL_PWD="${TERMSHIFT_MYSQL_PASSWORD:-}"
sql() { mysql -h "$TERMSHIFT_MYSQL_HOST" -P "$TERMSHIFT_MYSQL_PORT" -u "$TERMSHIFT_MYSQL_USER" -e "$1"; }

tmp="$(mktemp -d)"
cleanup() {
	sql "DROP DATABASE IF EXISTS $edxapp; DROP DATABASE IF EXISTS $xqueue" || true
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "== mysql: source schemas $edxapp, $xqueue"
sql "DROP DATABASE IF EXISTS $edxapp; DROP DATABASE IF EXISTS $xqueue;
     CREATE DATABASE $edxapp CHARACTER SET utf8mb4; CREATE DATABASE $xqueue CHARACTER SET utf8mb4"
cat >"$tmp/lms.env.json" <<JSON
{"release":"live","version":"1.0","listen":"127.0.0.1:0","session_cookie":"sessionid",
 "mysql":{"host":"$TERMSHIFT_MYSQL_HOST","port":$TERMSHIFT_MYSQL_PORT,"name":"$edxapp","user":"$TERMSHIFT_MYSQL_USER","password":"${TERMSHIFT_MYSQL_PASSWORD:-}"},
 "mongo":{"uri":"mongodb://127.0.0.1:27017/","name":"$modulestore"},
 "forum":{"uri":"mongodb://127.0.0.1:27017/","name":"$forum"},
 "rabbitmq":{"url":"amqp://127.0.0.1:5672/$vhost","queue":"edx.lms.core.default"},
 "memcached":{"servers":["127.0.0.1:11211"]}}
JSON
go run ./cmd/demo-lms migrate --config "$tmp/lms.env.json"
go run ./testdata/backup/gen mysql "$edxapp" "$xqueue"

rm -rf "$snap"
mkdir -p "$snap/mysql" "$snap/mongo" "$snap/rabbitmq"
echo "== mydumper"
dumper_pw=()
[[ -n "${TERMSHIFT_MYSQL_PASSWORD:-}" ]] && dumper_pw=(-p "$TERMSHIFT_MYSQL_PASSWORD")
# --rows splits every table into numbered chunks of about 1000 rows:
# courseware_studentmodule.00000.sql, .00001.sql, ...
mydumper -h "$TERMSHIFT_MYSQL_HOST" -P "$TERMSHIFT_MYSQL_PORT" -u "$TERMSHIFT_MYSQL_USER" "${dumper_pw[@]}" \
	--regex "^($edxapp|$xqueue)\\." --rows 1000 --threads 2 --outputdir "$snap/mysql" --verbose 2

echo "== mongodump directory"
go run ./testdata/backup/gen mongo "$snap/mongo" "$modulestore" "$forum"

echo "== rabbitmq definitions"
go run ./testdata/backup/gen rabbitmq "$snap/rabbitmq/definitions.json" "$vhost"

echo "== manifest (sizes, sha256, counts as generated)"
go run ./testdata/backup/gen manifest "$snap" "$edxapp" "$xqueue" "$modulestore" "$forum" "$vhost"
echo "== done"
du -sh "$snap"
find "$snap" -type f | sort
