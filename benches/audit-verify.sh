#!/usr/bin/env bash
# `lienthong audit verify` over a log of EVENTS events (default 1,000,000; issue 13: < 30 s),
# and how fast the server's integrator places them.
#   1. a release server in dev mode makes the schema and the log key, and stops;
#   2. sqlite3 writes EVENTS `status.recorded` events (~420 bytes each, Vietnamese staff names)
#      straight into audit_events, as if that many statuses had been accepted while the
#      integrator was stopped;
#   3. the server starts again: its integrator places them all and signs checkpoints (every
#      10,000 events); the time it takes is printed;
#   4. the server stops; `lienthong audit verify` is timed (/usr/bin/time: seconds, peak KB).
# Usage: benches/audit-verify.sh    Environment: EVENTS, LT (the binary).
# Needs: cargo build --release --bin lienthong; sqlite3; curl.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lt=${LT:-$root/target/release/lienthong}
events=${EVENTS:-1000000}
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

start() {
  (cd "$work" && exec env LIENTHONG_LOG=warn "$lt" serve --bind 127.0.0.1:0 > out.txt 2> err.txt) &
  pid=$!
  for _ in $(seq 300); do grep -q '^listening on' "$work/out.txt" 2>/dev/null && break; sleep 0.2; done
  grep -q '^listening on' "$work/out.txt" || { echo "the server did not start:" >&2; tail "$work/err.txt" >&2; exit 1; }
  url=$(sed -n 's/^listening on //p' "$work/out.txt" | head -1)
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
metric() { curl -s "$url/metrics" | sed -n "s/^$1 //p"; }

start
stop
db="$work/data/lienthong.db"
begin=$(date +%s.%N)
sqlite3 "$db" <<SQL
PRAGMA journal_mode = WAL;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $events)
INSERT INTO audit_events (seq, at, kind, packet_id, body)
SELECT 1000000 + i, 1764979200000000, 'status.recorded', printf('bench-%08d', i),
  CAST(printf('lienthong-event/1' || char(10) || 'seq %d' || char(10) ||
    'at 2025-12-06T00:00:00.000000Z' || char(10) || 'kind status.recorded' || char(10) ||
    'packet bench-%08d' || char(10) || 'reporter 000.00.00.H49' || char(10) ||
    'original-sender 000.00.00.G22' || char(10) ||
    'document 000.00.00.G22,2026/11/%02d,%d/UBND-VP' || char(10) || 'code 03' || char(10) ||
    'description Đã phân công xử lý' || char(10) || 'department Văn phòng Ủy ban' || char(10) ||
    'staff Nguyễn Thị Hoa' || char(10) || 'email vanthu@quangninh.gov.vn' || char(10) ||
    'mobile 0912345678' || char(10) ||
    'transitions 000.00.00.H49 received>processing' || char(10),
    1000000 + i, i, 1 + i % 28, i) AS BLOB)
FROM n;
SQL
echo "{\"wrote_events\": $events, \"seconds\": $(echo "$(date +%s.%N) - $begin" | bc)}"

start
begin=$(date +%s.%N)
for _ in $(seq 3000); do
  [ "$(metric 'lienthong_audit_events{state="waiting"}')" = 0 ] &&
    [ "$(metric lienthong_audit_checkpoint_size)" -ge "$events" ] 2>/dev/null && break
  sleep 0.2
done
placed=$(metric 'lienthong_audit_events{state="placed"}')
echo "{\"placed\": $placed, \"integrated_and_checkpointed_s\": $(echo "$(date +%s.%N) - $begin" | bc)}"
stop

cd "$work"
/usr/bin/time -f '{"verify_s": %e, "verify_peak_kb": %M}' "$lt" audit verify --database-url "sqlite://$db?mode=rw"
