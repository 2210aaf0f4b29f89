#!/usr/bin/env python3
"""A second implementation of RFC 9162 §2.1 (Merkle Tree Hash, PATH, PROOF and the two
verification algorithms), written from the RFC alone, to check lienthong's proofs.

Usage: rfc9162.py CASES.json
       rfc9162.py --bundle EXPORT.jsonl
CASES.json: {"leaves": [hex event bytes…],
             "roots": {"n": hex root, …},
             "inclusion": [{"index", "size", "proof": [hex…]}…],
             "consistency": [{"first", "second", "proof": [hex…]}…]}
Checks every root against MTH computed here, every proof against the one computed here (PATH,
PROOF), and verifies every proof with §2.1.3.2 / §2.1.4.2. Prints "ok N" or the first mismatch
and exits 1.

With --bundle: reads an `audit export` bundle (a JSON header whose "checkpoint" is a signed
note: origin, size, base64 root; then one JSON line per event with "leaf", "text" and base64
"inclusion_path") and verifies each event's inclusion in the checkpoint's tree with §2.1.3.2.
The note's signature is not checked here (openssl does that in the tests).
"""
import base64
import hashlib
import json
import sys


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(d: bytes) -> bytes:
    return h(b"\x00" + d)


def node(left: bytes, right: bytes) -> bytes:
    return h(b"\x01" + left + right)


def k_of(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list) -> bytes:
    n = len(d)
    if n == 0:
        return h(b"")
    if n == 1:
        return leaf(d[0])
    k = k_of(n)
    return node(mth(d[:k]), mth(d[k:]))


def path(m: int, d: list) -> list:
    n = len(d)
    if n == 1:
        return []
    k = k_of(n)
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: list, b: bool) -> list:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = k_of(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def verify_inclusion(leaf_index, tree_size, leaf_hash, inclusion_path, root) -> bool:
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    for p in inclusion_path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_hash, second_hash, consistency_path) -> bool:
    if not consistency_path:
        return False
    c = list(consistency_path)
    if first & (first - 1) == 0:
        c = [first_hash] + c
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = c[0]
    for x in c[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(x, fr)
            sr = node(x, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, x)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_hash and sr == second_hash


def check_bundle(name: str) -> int:
    lines = open(name, encoding="utf-8").read().splitlines()
    header = json.loads(lines[0])
    body = header["checkpoint"].split("\n\n")[0].split("\n")
    size, root = int(body[1]), base64.b64decode(body[2])
    for line in lines[1:]:
        entry = json.loads(line)
        proof = [base64.b64decode(x) for x in entry["inclusion_path"]]
        digest = leaf(entry["text"].encode("utf-8"))
        if not verify_inclusion(entry["leaf"], size, digest, proof, root):
            print(f"event {entry['event']} is not in the tree of {size}")
            return 1
    print(f"ok {len(lines) - 1}")
    return 0


def main() -> int:
    if sys.argv[1] == "--bundle":
        return check_bundle(sys.argv[2])
    cases = json.load(open(sys.argv[1]))
    d = [bytes.fromhex(x) for x in cases["leaves"]]
    checked = 0
    for n, root in cases["roots"].items():
        if mth(d[: int(n)]).hex() != root:
            print(f"root of {n} differs: {root} here {mth(d[:int(n)]).hex()}")
            return 1
        checked += 1
    for case in cases["inclusion"]:
        m, n = case["index"], case["size"]
        proof = [bytes.fromhex(x) for x in case["proof"]]
        if proof != path(m, d[:n]):
            print(f"PATH({m}, D[{n}]) differs")
            return 1
        if not verify_inclusion(m, n, leaf(d[m]), proof, mth(d[:n])):
            print(f"inclusion of {m} in {n} does not verify")
            return 1
        checked += 1
    for case in cases["consistency"]:
        m, n = case["first"], case["second"]
        proof = [bytes.fromhex(x) for x in case["proof"]]
        if proof != subproof(m, d[:n], True):
            print(f"PROOF({m}, D[{n}]) differs")
            return 1
        if not verify_consistency(m, n, mth(d[:m]), mth(d[:n]), proof):
            print(f"consistency {m} -> {n} does not verify")
            return 1
        checked += 1
    print(f"ok {checked}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
