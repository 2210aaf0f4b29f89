#!/usr/bin/env bash
# Whole-process verification, lienthong vs xmlsec1, on the same signed packets: a 1 MB and a
# 20 MB letter with one attachment in base64 lines of 76 characters (as clients write them),
# signed with the dev PKI's RSA-2048 agency key. Needs hyperfine and GNU time (apt-get install
# hyperfine time) and xmlsec1. Usage: benches/verify-vs-xmlsec1.sh [LIENTHONG_BINARY]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lt=${1:-$root/target/release/lienthong}
pki=$root/certs/dev
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
for spec in 1MB:750000 20MB:15000000; do
  name=${spec%%:*}; bytes=${spec##*:}
  head -c "$bytes" /dev/urandom > "$name.bin"
  "$lt" packet build --from 000.00.00.G22 --to 000.00.00.H49 --subject "Báo cáo số liệu $name" \
    --attach "$name.bin" -o "$name.xml"
  "$lt" packet sign "$name.xml" --key "$pki/agency-000.00.00.G22-rsa2048.key.pem" \
    --cert "$pki/agency-000.00.00.G22-rsa2048.pem" --chain "$pki/intermediates.pem" -o "$name-signed.xml"
done
verify="$lt packet verify --trust $pki/trust.pem --crl $pki/root-ca.crl.pem --crl $pki/issuing-ca.crl.pem --bindings $pki/bindings.json"
xmlsec="xmlsec1 --verify --trusted-pem $pki/trust.pem --untrusted-pem $pki/intermediates.pem"
for name in 1MB 20MB; do
  file=$name-signed.xml
  $verify "$file" > /dev/null && $xmlsec "$file" 2> /dev/null
  hyperfine -N -w 3 -r 40 "$verify $file" "$xmlsec $file" --export-json "$name.json" > /dev/null
  rss_lt=$(/usr/bin/time -f %M $verify "$file" 2>&1 >/dev/null | tail -1)
  rss_x=$(/usr/bin/time -f %M $xmlsec "$file" 2>&1 >/dev/null | tail -1)
  python3 - "$name" "$(stat -c %s "$file")" "$rss_lt" "$rss_x" <<'PY'
import json, sys
name, size, rss_lt, rss_x = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
a, b = json.load(open(f"{name}.json"))["results"]
print(f"{name} ({size:,} bytes): lienthong {a['mean']*1e3:.1f} ms (median {a['median']*1e3:.1f}), "
      f"xmlsec1 {b['mean']*1e3:.1f} ms (median {b['median']*1e3:.1f}), "
      f"ratio {b['mean']/a['mean']:.2f}x; peak RSS lienthong {rss_lt/1024:.1f} MiB, xmlsec1 {rss_x/1024:.1f} MiB")
PY
done
