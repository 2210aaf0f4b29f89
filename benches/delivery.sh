#!/usr/bin/env bash
# Accept rate with delivery on and off, and pushes/s (issue 12), against a fresh release server
# in dev mode on loopback; prints one JSON line per run.
#   off  — no push endpoints and no SMTP server (mails to clerks still queue: they are written
#          with the letter whatever the SMTP settings)
#   queued — as `on`, but this node neither pushes nor mails (push.enabled false, no SMTP): the
#          cost of writing the outbox rows with each letter, apart from doing the work
#   push — as `on` without SMTP: pushes alone
#   on   — the three recipients' endpoints point at the load tool's push sink (answers 200 to
#          every push, keep-alive) and the server mails through a real SMTP server (aiosmtpd's
#          Sink handler, which takes and drops), gathering mails for 1 s so that they go out
#          during the load; push.per_endpoint 12, the slots of the three endpoints the sink
#          stands for
# Usage: benches/delivery.sh [MODE…]   (default: off on)
# Environment: PACKETS (30000), RATE (max, or letters/s), CONCURRENCY (256), LT (the server
# binary: another build to compare with; `off` is then the only meaningful mode for builds
# without delivery).
# Needs: cargo build --release --bin lienthong --bin lienthong-load; /usr/bin/python3 with aiosmtpd.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lt=${LT:-$root/target/release/lienthong}
load=$root/target/release/lienthong-load
packets=${PACKETS:-30000}
rate=${RATE:-max}
concurrency=${CONCURRENCY:-256}
modes=("$@")
[ ${#modes[@]} -eq 0 ] && modes=(off on)

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() { # MODE
  local mode=$1
  local work; work=$(mktemp -d)
  local env=() smtp_pid="" sink=()
  if [ "$mode" = queued ]; then
    local sink_port; sink_port=$(free_port)
    env=(LIENTHONG_PUSH_ENABLED=false)
    sink=(--push-sink "127.0.0.1:$sink_port")
  fi
  if [ "$mode" = on ] || [ "$mode" = push ]; then
    local sink_port; sink_port=$(free_port)
    # The three recipients sharing the one sink get the slots three endpoints would have (3 × 4).
    env=(LIENTHONG_PUSH_PER_ENDPOINT=12)
    sink=(--push-sink "127.0.0.1:$sink_port")
  fi
  if [ "$mode" = on ]; then
    local smtp_port; smtp_port=$(free_port)
    /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Sink &
    smtp_pid=$!
    # Mails go out during the load (a 1 s gathering window instead of 60 s).
    env+=(LIENTHONG_SMTP_URL="smtp://127.0.0.1:$smtp_port" LIENTHONG_SMTP_FROM=lienthong@lienthong.test
          LIENTHONG_MAIL_GATHER_SECONDS=1)
  fi
  # `exec`: the background job is the server itself, so `$!` is its pid.
  (cd "$work" && exec env "${env[@]}" LIENTHONG_LOG=warn "$lt" serve --bind 127.0.0.1:0 > out.txt 2> err.txt) &
  local pid=$!
  # Whatever happens to this run, its server does not outlive it.
  trap "kill $pid 2>/dev/null || true" EXIT
  for _ in $(seq 300); do grep -q '^listening on' "$work/out.txt" 2>/dev/null && break; sleep 0.2; done
  grep -q '^listening on' "$work/out.txt" || { echo "the server did not start:" >&2; tail "$work/err.txt" >&2; exit 1; }
  local url g22
  url=$(sed -n 's/^listening on //p' "$work/out.txt" | head -1)
  g22=($(sed -n 's/^dev credential: 000.00.00.G22 //p' "$work/out.txt"))
  if [ "$mode" != off ]; then
    for code in 000.00.00.H49 000.01.01.H49 000.00.00.H08; do
      (cd "$work" && "$lt" agency push "$code" --endpoint "http://${sink[1]}/" > /dev/null)
    done
  fi
  local pace=(--packets "$packets")
  [ "$rate" != max ] && pace+=(--rate "$rate")
  (cd "$root" && "$load" --url "$url" --system-id="${g22[0]}" --secret="${g22[1]}" \
      "${pace[@]}" --concurrency "$concurrency" --server-pid "$pid" "${sink[@]}") \
    | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["run"]=sys.argv[1]; print(json.dumps(r))' "$mode"
  if [ "$mode" = on ] || [ "$mode" = push ]; then
    curl -s "$url/metrics" | grep -E '^lienthong_(mails_total|mail_queue|push_queue|pushes_total)' | tr '\n' ' '; echo
  fi
  curl -s "$url/metrics" | grep -E '^lienthong_writer_(commits_total|background_batches_total|units_committed_total|commit_seconds_(sum|count))' | tr '\n' ' '; echo
  kill "$pid"; wait "$pid" 2>/dev/null || true
  [ -n "$smtp_pid" ] && kill "$smtp_pid"
  rm -rf "$work"
  # Let the deleted database's writeback finish before the next run's fsyncs start: a run right
  # after another measured up to 10 % lower, whatever its mode.
  sync; sleep 5
}

for m in "${modes[@]}"; do
  case $m in
    off|queued|push|on) run "$m" ;;
    *) echo "unknown mode $m" >&2; exit 2 ;;
  esac
done
