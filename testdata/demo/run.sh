#!/usr/bin/env bash
# make demo: a whole semester upgrade on the local servers of `make services`.
#
#   1. upload the edX-like production backup to the local S3 as the newest snapshot
#   2. start `termshift serve` (router on 127.0.0.1:8100, supervises the LMS processes)
#   3. make release "current" (demo LMS 1.0) live from that backup
#   4. `termshift upgrade next --cutover` (demo LMS 2.0, with a schema migration)
#      while traffic flows through the router
#   5. `termshift rollback`, as on-call would at 3 a.m.
#   6. a summary: restored rows/documents, checks, cutover and rollback times, failed requests
#
# Re-running it starts from a clean slate: the former demo's serve is stopped
# and its namespaces are collected by `termshift gc` as orphans.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
T="$root/bin/termshift"
LMS="$root/bin/demo-lms"
work="$root/.termshift-dev/demo"
export TERMSHIFT_ENV="$work/termshift.yaml"
bucket="${TERMSHIFT_S3_BUCKET:-termshift-backups}"
router="127.0.0.1:8100"
bold="" plain=""
if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '$ %s\n' "$*" | sed "s#$root/##g"; "$@"; }

[[ -x "$T" && -x "$LMS" ]] || { echo "demo: run 'make build' first" >&2; exit 1; }
[[ -n "${TERMSHIFT_MYSQL_DSN:-}" ]] || { echo "demo: run 'make services' and source .termshift-dev/env (make demo does both)" >&2; exit 1; }

step "a clean slate"
mkdir -p "$work"
if [[ -f "$work/serve.pid" ]] && kill -0 "$(cat "$work/serve.pid")" 2>/dev/null; then
	kill "$(cat "$work/serve.pid")"
	for _ in $(seq 100); do kill -0 "$(cat "$work/serve.pid")" 2>/dev/null || break; sleep 0.1; done
	echo "stopped the former demo's termshift serve"
fi
rm -rf "$work/.termshift" "$work/serve.pid"
run "$T" init --force --root "$root" --backup-source "s3://$bucket/demo"
run "$T" gc --yes --reason "demo: collect a former run's namespaces"

step "nightly backup of production lands in S3"
run "$T" backups upload "$root/testdata/backup/2026-11-20T02:00:00Z" "s3://$bucket/demo"
run "$T" backups list

step "termshift serve: the router on http://$router and the LMS processes"
"$T" serve >"$work/serve.log" 2>&1 &
echo $! >"$work/serve.pid"
for _ in $(seq 100); do
	[[ -S "$work/.termshift/serve.sock" ]] && (exec 3<>"/dev/tcp/${router%:*}/${router#*:}") 2>/dev/null && break
	kill -0 "$(cat "$work/serve.pid")" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
	sleep 0.1
done
echo "serve is up (pid $(cat "$work/serve.pid"), log $work/serve.log)"

step "release current (LMS 1.0) goes live from the backup"
run "$T" upgrade current --cutover --reason "demo: current goes live"

step "QA previews: public traffic on current; next is not deployed yet"
run curl -s "http://$router/version"; echo

step "upgrade next (LMS 2.0) from the newest snapshot in S3, cutover, under traffic"
"$LMS" load --url "http://$router/version" --rate 200 --duration 10m >"$work/load.out" 2>&1 &
load=$!
run "$T" upgrade next --cutover --reason "demo: semester upgrade to 2.0" | tee "$work/upgrade.out"
run curl -s "http://$router/version"; echo
run curl -s -H "X-Termshift-Release: current" "http://$router/version"; echo

step "status after cutover"
run "$T" status

step "incident! on-call rolls back"
run "$T" rollback --dry-run
run "$T" rollback --reason "demo: incident drill" | tee "$work/rollback.out"
run curl -s "http://$router/version"; echo
kill -INT "$load"
wait "$load" || true

step "status after rollback"
run "$T" status
run "$T" history --limit 12

step "summary"
grep -h "restored snapshot" "$work/upgrade.out" | sed 's/^ *//' || true
grep -h "verify:" "$work/upgrade.out" | sed 's/^ *//' || true
grep -h "cutover:" "$work/upgrade.out" | sed 's/^ *//' || true
grep -h "live again" "$work/rollback.out" || true
cat "$work/load.out"
echo
echo "serve keeps running for you to explore: curl -H 'X-Termshift-Release: next' http://$router/version"
echo "stop it with: kill \$(cat $work/serve.pid)"
