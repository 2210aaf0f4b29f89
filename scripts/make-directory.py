#!/usr/bin/env python3
"""Writes a directory shaped like the national one (about 111,000 agencies) as CSV in the import
format of `lienthong agency import`, to stdout or the file named:

    python3 scripts/make-directory.py [--total 111000] [OUT.csv]

Codes follow spec/edxml.md §3 (`VVV.ZZ.YY.Lnn`, parent = the code with its deepest non-zero level
zeroed): 63 provinces (H01-H63), each with 35 departments and districts (YY), 12 units under each
(ZZ) and 3 under each of those (VVV); 30 ministries (G01-G30) with 20 departments and 3 units
each; the remainder are Party, Assembly and court bodies (A, B, K). Names are Vietnamese; every
tenth agency has a push endpoint, every agency a clerk's address under the reserved .test domain
and one bound certificate (a made-up SHA-256 fingerprint: listings then read real certificate rows).
"""
import argparse
import csv
import hashlib
import sys

PROVINCES = 63
DEPARTMENTS = 35
UNITS = 12
SUBUNITS = 3
MINISTRIES = 30

PROVINCE_NAMES = ["Hà Nội", "Hải Phòng", "Quảng Ninh", "Thanh Hóa", "Nghệ An", "Huế", "Đà Nẵng",
                  "Khánh Hòa", "Lâm Đồng", "Đắk Lắk", "Cần Thơ", "An Giang", "Cà Mau", "Bắc Ninh"]
DEPARTMENT_KINDS = ["Sở Nội vụ", "Sở Tài chính", "Sở Tư pháp", "Sở Y tế", "Sở Giáo dục và Đào tạo",
                    "Ủy ban nhân dân huyện", "Ủy ban nhân dân thị xã", "Văn phòng Ủy ban nhân dân"]
UNIT_KINDS = ["Ủy ban nhân dân xã", "Phòng Tổ chức cán bộ", "Phòng Kế hoạch - Tài chính",
              "Trung tâm Phục vụ hành chính công", "Ủy ban nhân dân phường"]
SUBUNIT_KINDS = ["Bộ phận Văn thư", "Tổ Một cửa", "Ban Chỉ huy quân sự"]


def code(v, z, y, level1):
    return f"{v:03d}.{z:02d}.{y:02d}.{level1}"


def rows(total):
    n = 0
    for p in range(1, PROVINCES + 1):
        level1 = f"H{p:02d}"
        place = PROVINCE_NAMES[p % len(PROVINCE_NAMES)] + f" {p}"
        top = code(0, 0, 0, level1)
        yield top, f"Ủy ban nhân dân tỉnh {place}", ""
        for y in range(1, DEPARTMENTS + 1):
            dept = code(0, 0, y, level1)
            yield dept, f"{DEPARTMENT_KINDS[y % len(DEPARTMENT_KINDS)]} {y} tỉnh {place}", top
            for z in range(1, UNITS + 1):
                unit = code(0, z, y, level1)
                yield unit, f"{UNIT_KINDS[z % len(UNIT_KINDS)]} {z}, đơn vị {y}, tỉnh {place}", dept
                for v in range(1, SUBUNITS + 1):
                    yield (code(v, z, y, level1),
                           f"{SUBUNIT_KINDS[v % len(SUBUNIT_KINDS)]} {v} thuộc đơn vị {z}.{y} tỉnh {place}",
                           unit)
    for g in range(1, MINISTRIES + 1):
        level1 = f"G{g:02d}"
        top = code(0, 0, 0, level1)
        yield top, f"Bộ số {g}", ""
        for y in range(1, 21):
            dept = code(0, 0, y, level1)
            yield dept, f"Vụ {y} thuộc Bộ số {g}", top
            for z in range(1, 4):
                yield code(0, z, y, level1), f"Phòng {z} thuộc Vụ {y}, Bộ số {g}", dept


def fingerprint(agency_code):
    """A stand-in for the SHA-256 of the agency's certificate: unique per agency."""
    return hashlib.sha256(f"certificate of {agency_code}".encode()).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=111_000)
    parser.add_argument("out", nargs="?")
    args = parser.parse_args()
    out = open(args.out, "w", newline="", encoding="utf-8") if args.out else sys.stdout
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "name", "parent", "push_endpoint", "clerk_emails", "certificate_sha256"])
    written = 0
    for c, name, parent in rows(args.total):
        if written >= args.total:
            break
        push = f"https://{c.replace('.', '-')}.lienthong.test/push" if written % 10 == 0 else ""
        writer.writerow([c, name, parent, push, f"vanthu@{c.replace('.', '-')}.lienthong.test", fingerprint(c)])
        written += 1
    # The rest: other branches of the state, each top with units below it.
    letters = "ABK"
    i = 0
    while written < args.total:
        letter = letters[i % 3]
        group = i // 3 + 1
        top = code(0, 0, 0, f"{letter}{group:02d}")
        writer.writerow([top, f"Cơ quan {letter}{group:02d}", "", "", f"vanthu@{letter.lower()}{group}.lienthong.test", fingerprint(top)])
        written += 1
        y = 1
        while written < args.total and y <= 40:
            unit = code(0, 0, y, f"{letter}{group:02d}")
            writer.writerow([unit, f"Đơn vị {y} thuộc {letter}{group:02d}", top, "", "", fingerprint(unit)])
            written += 1
            y += 1
        i += 1
    if out is not sys.stdout:
        out.close()
    print(f"wrote {written} agencies", file=sys.stderr)


if __name__ == "__main__":
    main()
