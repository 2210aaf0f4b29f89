#!/bin/sh
# Seeds both fuzz corpora with the C14N fixtures (hard cases make good starting points).
set -eu
here=$(dirname "$0")
mkdir -p "$here/corpus/packet"
cp "$here/../tests/fixtures/edxml/"*.xml "$here/../tests/fixtures/interop/packets/"*.xml "$here/corpus/packet/"
for target in c14n reader; do
    mkdir -p "$here/corpus/$target"
    cp "$here/../tests/fixtures/c14n/"*.xml "$here/corpus/$target/"
done
