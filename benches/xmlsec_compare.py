#!/usr/bin/env python3
"""libxmlsec1 (in-process, through python-xmlsec) verifying the packets that `cargo bench --bench verify`
wrote to target/bench-packets/, and lienthong's CLI peak memory on the same files.

    pip install xmlsec lxml        # python-xmlsec binds the system libxmlsec1 (Debian: libxmlsec1-dev)
    apt-get install time           # GNU time, for peak RSS
    cargo bench --bench verify     # writes target/bench-packets/{2KB,1MB,20MB}.xml
    cargo build --release
    python3 benches/xmlsec_compare.py

For each size: packets verified per second by libxmlsec1 (parse with libxml2 + xmlsec verify with the
signer's key loaded once: no chain or CRL work, so this favours libxmlsec1), and the peak RSS of one
process that verifies one packet — libxmlsec1 in a fresh python process, lienthong as
`lienthong packet verify` with the full trust pipeline (chain, CRLs, binding).
"""
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKETS = os.path.join(ROOT, "target", "bench-packets")
DEV = os.path.join(ROOT, "certs", "dev")
CERT = os.path.join(DEV, "agency-000.00.00.G22-rsa2048.pem")
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "lienthong")


def xmlsec_rate(path, seconds):
    import xmlsec
    from lxml import etree

    data = open(path, "rb").read()
    key = xmlsec.Key.from_file(CERT, xmlsec.constants.KeyDataFormatCertPem)
    parser = etree.XMLParser(huge_tree=True, remove_blank_text=False)
    n, start = 0, time.perf_counter()
    while True:
        doc = etree.fromstring(data, parser)
        node = xmlsec.tree.find_node(doc, xmlsec.constants.NodeSignature)
        ctx = xmlsec.SignatureContext()
        ctx.key = key
        ctx.verify(node)  # raises on failure
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 3:
            return n / elapsed


def child_peak_rss_kib(argv):
    """Peak RSS (KiB) of a command, as GNU time reports it. (os.wait4 on a child forked from
    this large python process would report the parent's size: Linux keeps the pre-exec
    high-water mark.)"""
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        sys.exit(f"{argv[:3]} failed: {out.stderr}")
    return int(out.stderr.strip().splitlines()[-1])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--verify-once":
        xmlsec_rate(sys.argv[2], 0)
        return
    print("| packet | bytes | libxmlsec1 verify/s | libxmlsec1 peak RSS | lienthong CLI peak RSS |")
    print("|---|---|---|---|---|")
    for label in ("2KB", "1MB", "20MB"):
        path = os.path.join(PACKETS, f"{label}.xml")
        rate = xmlsec_rate(path, 5 if label != "20MB" else 10)
        xmlsec_rss = child_peak_rss_kib([sys.executable, __file__, "--verify-once", path])
        ours_rss = child_peak_rss_kib([
            BIN, "packet", "verify", path,
            "--trust", os.path.join(DEV, "trust.pem"),
            "--crl", os.path.join(DEV, "root-ca.crl.pem"),
            "--crl", os.path.join(DEV, "issuing-ca.crl.pem"),
            "--bindings", os.path.join(DEV, "bindings.json"),
        ])
        size = os.path.getsize(path)
        print(f"| {label} | {size:,} | {rate:,.1f} | {xmlsec_rss / 1024:.1f} MiB | {ours_rss / 1024:.1f} MiB |")


if __name__ == "__main__":
    main()
