#!/usr/bin/env bash
# README's first command as a new user runs it, from a folder that is not the repository:
# `cargo run --release -- serve` (dev mode), wait for /readyz, send one signed letter from
# 000.00.00.G22 to 000.00.00.H49 with `lienthong client`, check that it arrived, stop the server.
# Used by .ci/run; runnable by hand. Needs port 8080 free (README's default).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
log="$work/serve.log"
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
  echo "first-run: port 8080 is in use; README's serve command needs it" >&2
  exit 1
fi
cargo build --release --locked --manifest-path "$root/Cargo.toml" -q
cd "$work"
# README's command, with --manifest-path because this folder is not the repository.
cargo run --release --locked -q --manifest-path "$root/Cargo.toml" -- serve >"$log" 2>&1 &
server=$!
for _ in $(seq 120); do
  curl -fs http://127.0.0.1:8080/readyz >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "first-run: the server stopped:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.5
done
curl -fs http://127.0.0.1:8080/readyz >/dev/null || { echo "first-run: /readyz never answered" >&2; cat "$log" >&2; exit 1; }

lt="$root/target/release/lienthong"
pki=data/dev-pki
printf 'Công văn thử nghiệm\n' > cv.txt
"$lt" packet build --from 000.00.00.G22 --to 000.00.00.H49 --number 1 --notation CI \
  --subject "Kiểm tra gửi, nhận văn bản điện tử" --attach cv.txt \
  --key $pki/agency-000.00.00.G22-rsa2048.key.pem --cert $pki/agency-000.00.00.G22-rsa2048.pem \
  --chain $pki/intermediates.pem -o letter.xml
"$lt" client --profile data/dev-profiles/000.00.00.G22.toml send letter.xml
"$lt" client --profile data/dev-profiles/000.00.00.H49.toml inbox --json > inbox.json
grep -q '"kind":"message"' inbox.json || { echo "first-run: the letter is not in H49's inbox" >&2; cat inbox.json >&2; exit 1; }
echo "first-run: ok (README's serve command from an empty folder; one letter G22 -> H49 through lienthong client)"
