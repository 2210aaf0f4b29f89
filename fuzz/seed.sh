#!/bin/sh
# Seeds the fuzz corpora: C14N fixtures for c14n/reader, edXML fixtures and a signed packet for packet.
set -eu
here=$(dirname "$0")
mkdir -p "$here/corpus/packet"
for f in "$here/../tests/fixtures/edxml/"*.xml; do cp "$f" "$here/corpus/packet/edxml-$(basename "$f")"; done
for f in "$here/../tests/fixtures/interop/packets/"*.xml; do cp "$f" "$here/corpus/packet/interop-$(basename "$f")"; done
# A signed packet, so that mutations reach canonicalization and the signature check.
if [ -x "$here/../target/release/lienthong" ]; then
    bin="$here/../target/release/lienthong"; dev="$here/../certs/dev"; tmp=$(mktemp -d)
    "$bin" packet build --from 000.00.00.G22 --to 000.00.00.H49 --subject "Thử nghiệm" -o "$tmp/u.xml"
    "$bin" packet sign "$tmp/u.xml" --key "$dev/agency-000.00.00.G22-p256.key.pem" \
        --cert "$dev/agency-000.00.00.G22-p256.pem" -o "$here/corpus/packet/signed-p256.xml"
    rm -rf "$tmp"
fi
for target in c14n reader; do
    mkdir -p "$here/corpus/$target"
    cp "$here/../tests/fixtures/c14n/"*.xml "$here/corpus/$target/"
done
