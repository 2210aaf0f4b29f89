#!/usr/bin/env bash
# Each attack of issue 11 beside 500 letters/s of normal load (G22), against a fresh release
# server in dev mode on loopback; prints one JSON line per run (normal latency, what the
# attackers saw, the server's peak RSS, /healthz latency). The attacker is H08.
# Usage: benches/attacks.sh [ATTACK…]   (default: all)
# Environment: SECONDS_OF_LOAD (60), RATE (500; "max": as fast as possible), CONCURRENCY (64),
# LT (the server binary: another build to compare with).
# Needs: cargo build --release --bin lienthong --bin lienthong-load
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lt=${LT:-$root/target/release/lienthong}
load=$root/target/release/lienthong-load
seconds=${SECONDS_OF_LOAD:-60}
rate=${RATE:-500}
concurrency=${CONCURRENCY:-64}
attacks=("$@")
[ ${#attacks[@]} -eq 0 ] && attacks=(none slow-uploads wrong-secrets stalled-downloads idle-connections big-uploads)

run() { # NAME ATTACKERS [SERVER ENV…]
  local name=$1 attackers=$2; shift 2
  local work; work=$(mktemp -d)
  (cd "$work" && env "$@" LIENTHONG_LOG=warn "$lt" serve --bind 127.0.0.1:0 > out.txt 2> err.txt) &
  local wrapper=$!
  for _ in $(seq 100); do grep -q '^listening on' "$work/out.txt" 2>/dev/null && break; sleep 0.2; done
  local url pid g22 h08
  url=$(sed -n 's/^listening on //p' "$work/out.txt" | head -1)
  pid=$(pgrep -P "$wrapper" -f "lienthong serve" | head -1)
  g22=($(sed -n 's/^dev credential: 000.00.00.G22 //p' "$work/out.txt"))
  h08=($(sed -n 's/^dev credential: 000.00.00.H08 //p' "$work/out.txt"))
  local pace=(--packets $((500 * seconds)) --rate "$rate")
  [ "$rate" = max ] && pace=(--packets 30000)
  local attack=()
  if [ "$name" != none ]; then
    attack=(--attack "$name" --attackers "$attackers" --attack-system-id="${h08[0]}" --attack-secret="${h08[1]}")
  fi
  (cd "$root" && "$load" --url "$url" --system-id="${g22[0]}" --secret="${g22[1]}" \
      "${pace[@]}" --concurrency "$concurrency" --server-pid "$pid" "${attack[@]}") \
    | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["run"]=sys.argv[1]; print(json.dumps(r))' "$name x$attackers"
  kill "$pid"; wait "$wrapper" 2>/dev/null || true
  rm -rf "$work"
}

for a in "${attacks[@]}"; do
  case $a in
    none) run none 0 ;;
    slow-uploads) run slow-uploads 200 ;;
    wrong-secrets) run wrong-secrets 50 ;;
    stalled-downloads) run stalled-downloads 100 LIENTHONG_MAX_PACKET_BYTES=33554432 ;;
    idle-connections) run idle-connections 3000 ;;
    big-uploads) run big-uploads 50 LIENTHONG_MAX_PACKET_BYTES=33554432 LIENTHONG_IN_FLIGHT_BYTES=67108864 ;;
    *) echo "unknown attack $a" >&2; exit 2 ;;
  esac
done
