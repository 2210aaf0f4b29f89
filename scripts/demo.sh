#!/usr/bin/env bash
# Builds lienthong, then makes, signs and verifies a letter with the committed dev PKI
# (certs/dev: test material only). Until the exchange server lands, this is "run".
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
bin=${CARGO_TARGET_DIR:-target}/release/lienthong
dev=certs/dev
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf 'Báo cáo tình hình triển khai văn bản điện tử.\n' > "$work/bao-cao.txt"
"$bin" packet build --from 000.00.00.G22 --to 000.00.00.H49,000.01.01.H49 \
  --subject "Về việc triển khai gửi, nhận văn bản điện tử" --attach "$work/bao-cao.txt" -o "$work/letter.xml"
"$bin" packet sign "$work/letter.xml" --key "$dev/agency-000.00.00.G22-rsa2048.key.pem" \
  --cert "$dev/agency-000.00.00.G22-rsa2048.pem" --chain "$dev/intermediates.pem" -o "$work/signed.xml"
echo "== verify the signed letter"
"$bin" packet verify "$work/signed.xml" --trust "$dev/trust.pem" \
  --crl "$dev/root-ca.crl.pem" --crl "$dev/issuing-ca.crl.pem" --bindings "$dev/bindings.json"
echo "== verify it after changing one word (must be refused)"
sed 's/triển khai/tạm dừng/' "$work/signed.xml" > "$work/tampered.xml"
if "$bin" packet verify "$work/tampered.xml" --trust "$dev/trust.pem" \
  --crl "$dev/root-ca.crl.pem" --crl "$dev/issuing-ca.crl.pem" --bindings "$dev/bindings.json"; then
  echo "a tampered packet was accepted" >&2; exit 1
fi
