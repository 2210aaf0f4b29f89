#!/usr/bin/env bash
# Search and a month's statistics over DOCUMENTS letters (default 1,000,000; issue 13: search
# p95 < 100 ms on SQLite, a month's statistics < 2 s), through the release server's HTTP API
# as agencies and auditors ask, and `lienthong audit stats` as a whole process.
#   1. a release server in dev mode makes the schema and stops;
#   2. the national directory (111,000 agencies, scripts/make-directory.py) is imported;
#   3. benches/audit_seed.py writes DOCUMENTS letters of November 2026 (Vietnamese subjects with
#      their folded form, recipients, deliveries, statuses) straight into the database;
#   4. the server starts again; benches/audit_queries.py times each query ROUNDS times.
# Usage: benches/audit-search.sh    Environment: DOCUMENTS, ROUNDS (10), LT (the binary), KEEP
# (a folder: the seeded data folder is moved there, to time statements by hand afterwards).
# Needs: cargo build --release --bin lienthong; sqlite3; python3; curl.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lt=${LT:-$root/target/release/lienthong}
documents=${DOCUMENTS:-1000000}
rounds=${ROUNDS:-10}
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

start
stop
db="$work/data/lienthong.db"
dburl="sqlite://$db?mode=rw"
python3 "$root/scripts/make-directory.py" "$work/directory.csv"
"$lt" agency import "$work/directory.csv" --database-url "$dburl" > /dev/null
november=$(( $(date -d 2026-10-31T17:00:00Z +%s) * 1000000 ))
begin=$(date +%s.%N)
python3 "$root/benches/audit_seed.py" --documents "$documents" --month-start-us "$november" | sqlite3 "$db" > /dev/null
echo "{\"seeded_documents\": $documents, \"seconds\": $(echo "$(date +%s.%N) - $begin" | bc)}"

busy=$(sqlite3 "$db" "SELECT code FROM agencies WHERE code LIKE '000.00.%' ORDER BY code LIMIT 1")
province=$(sqlite3 "$db" "SELECT code FROM agencies WHERE code LIKE '000.00.00.H%' ORDER BY code LIMIT 1 OFFSET 4")
unit=$(sqlite3 "$db" "SELECT code FROM agencies WHERE parent = '$province' ORDER BY code LIMIT 1")
cred() { "$@" --database-url "$dburl" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps([d["system_id"], d["secret"]]))'; }
agency=$(cred "$lt" agency credential create "$busy")
province_auditor=$(cred "$lt" auditor create --scope "$province")
all_auditor=$(cred "$lt" auditor create --scope all --agency "$busy")
sqlite3 "$db" "SELECT 'documents', COUNT(*) FROM documents; SELECT 'sent by $busy', COUNT(*) FROM documents WHERE sender = '$busy';"
# The seed wrote its rows behind the server's back: ask for the statistics' recount from the
# rows (as after migration 0015), which the next process to open the database does.
sqlite3 "$db" "UPDATE stats_recount SET done = 0"
begin=$(date +%s.%N)
"$lt" audit stats --month 2026-11 --agency "$busy" --database-url "$dburl" > /dev/null
echo "{\"stats_recount_seconds\": $(echo "$(date +%s.%N) - $begin" | bc)}"

start
# Once the server starts, the overdue job raises the seeded letters' missed deadlines (~100,000)
# and the word indexer indexes their subjects (1,000,000): time the queries on a server at rest,
# after both have caught up.
idle() { sqlite3 "$db" "SELECT (SELECT COUNT(*) FROM deliveries WHERE acked_at IS NULL AND ack_overdue_at IS NULL), (SELECT COUNT(*) FROM documents WHERE words_indexed = 0)"; }
before=$(idle); begin=$(date +%s)
while sleep 3; now=$(idle); [ "$now" != "$before" ]; do before=$now; done
echo "{\"catch_up_seconds\": $(( $(date +%s) - begin - 3 ))}"
cat > "$work/queries.json" <<JSON
[
 {"name": "search agency: newest sent", "who": $agency, "path": "/v1/audit/documents?direction=sent"},
 {"name": "search agency: received, q=cong van", "who": $agency, "path": "/v1/audit/documents?direction=received&q=cong+van"},
 {"name": "search agency: a week, q=quyet dinh dang uy", "who": $agency, "path": "/v1/audit/documents?from=2026-11-10&to=2026-11-16&q=quyet+dinh+cua+dang+uy"},
 {"name": "search agency: notation", "who": $agency, "path": "/v1/audit/documents?notation=4242/UBND"},
 {"name": "search agency: state 02, overdue", "who": $agency, "path": "/v1/audit/documents?status=02&overdue=true"},
 {"name": "search province auditor: everything", "who": $province_auditor, "path": "/v1/audit/documents"},
 {"name": "search province auditor: q=phong chong thien tai", "who": $province_auditor, "path": "/v1/audit/documents?q=phong+chong+thien+tai"},
 {"name": "search province auditor: one unit received", "who": $province_auditor, "path": "/v1/audit/documents?agency=$unit&direction=received"},
 {"name": "search all auditor: q=dang uy", "who": $all_auditor, "path": "/v1/audit/documents?q=dang+uy"},
 {"name": "search all auditor: one day, q=an toan thong tin", "who": $all_auditor, "path": "/v1/audit/documents?from=2026-11-20&to=2026-11-20&q=an+toan+thong+tin"},
 {"name": "search all auditor: common words in an order no subject has", "who": $all_auditor, "path": "/v1/audit/documents?q=tet+nguyen+dan+ke+hoach"},
 {"name": "search all auditor: words no subject has", "who": $all_auditor, "path": "/v1/audit/documents?q=chi+thi+ve+phong+chong+lu+lut"},
 {"name": "stats agency: November", "who": $agency, "path": "/v1/audit/stats?month=2026-11"},
 {"name": "stats province auditor: November", "who": $province_auditor, "path": "/v1/audit/stats?month=2026-11"},
 {"name": "stats all auditor: November", "who": $all_auditor, "path": "/v1/audit/stats?month=2026-11"}
]
JSON
python3 "$root/benches/audit_queries.py" "$url" "$work/queries.json" "$rounds"
stop
cd "$work"
/usr/bin/time -f '{"cli_stats_s": %e, "cli_stats_peak_kb": %M}' "$lt" audit stats --month 2026-11 --database-url "$dburl" > stats.csv
echo "{\"stats_rows\": $(($(wc -l < stats.csv) - 1))}"
if [ -n "${KEEP:-}" ]; then mv "$work/data" "$KEEP" && echo "kept the data folder in $KEEP"; fi
