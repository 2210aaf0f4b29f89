#!/usr/bin/env python3
"""Writes SQL (for sqlite3) that fills a migrated lienthong database with DOCUMENTS letters
shaped like real ones, for the search and statistics benchmarks (benches/audit-search.sh):

- senders and recipients from the directory already imported (111,000 agencies): half the
  letters from 200 busy offices (ministries, provinces, their departments), half from anyone;
  one recipient, every fourth letter two;
- Vietnamese subjects built from real phrases ("Công văn về việc …", "Quyết định của Đảng ủy
  …"), with their folded form computed here the way lienthong folds (NFD, marks dropped,
  đ → d, lower case), so the rows are what the server would have written;
- notations "N/UBND-VP"; priorities mostly normal; all in the month MONTH (Vietnam's time,
  the worst case: a month's statistics over every letter);
- deliveries: three in four taken (acknowledged) within hours, one in twenty overdue; statuses:
  03 for half the letters, 02 for one in fifty.

    python3 benches/audit_seed.py --documents 1000000 --month-start-us 1793466000000000 | sqlite3 DB
"""
import argparse
import unicodedata

SUBJECT_HEADS = [
    "Công văn về việc", "Quyết định của Đảng ủy về", "Báo cáo tình hình", "Kế hoạch triển khai",
    "Thông báo kết luận của Chủ tịch Ủy ban nhân dân về", "Tờ trình đề nghị phê duyệt",
    "Giấy mời họp về", "Hướng dẫn thực hiện", "Chỉ thị về tăng cường", "Nghị quyết của Hội đồng nhân dân về",
]
SUBJECT_TOPICS = [
    "triển khai hệ thống quản lý văn bản điện tử", "công tác phòng chống thiên tai năm 2026",
    "cải cách hành chính và chuyển đổi số", "quản lý đất đai trên địa bàn tỉnh",
    "công tác cán bộ quý IV", "phòng, chống tham nhũng, lãng phí", "an toàn thông tin mạng",
    "xây dựng nông thôn mới", "thu ngân sách nhà nước", "đào tạo, bồi dưỡng công chức",
    "giải quyết khiếu nại, tố cáo", "phát triển kinh tế - xã hội 6 tháng đầu năm",
    "bảo vệ môi trường lưu vực sông", "tổ chức Đại hội Đảng bộ các cấp", "kiểm tra công tác văn thư, lưu trữ",
    "chuẩn bị Tết Nguyên đán", "y tế dự phòng và tiêm chủng", "đầu tư công trung hạn",
]


def fold(text: str) -> str:
    out = []
    for c in unicodedata.normalize("NFD", text):
        if 0x300 <= ord(c) <= 0x36F:
            continue
        out.append("d" if c in "đĐ" else c.lower())
    return " ".join("".join(out).split())


def sql_text(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--month-start-us", type=int, required=True)
    parser.add_argument("--month-us", type=int, default=30 * 86_400_000_000)
    a = parser.parse_args()
    print("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; BEGIN;")
    print("CREATE TEMP TABLE heads (n INTEGER PRIMARY KEY, s TEXT, f TEXT);")
    for n, s in enumerate(SUBJECT_HEADS):
        print(f"INSERT INTO heads VALUES ({n}, {sql_text(s)}, {sql_text(fold(s))});")
    print("CREATE TEMP TABLE topics (n INTEGER PRIMARY KEY, s TEXT, f TEXT);")
    for n, s in enumerate(SUBJECT_TOPICS):
        print(f"INSERT INTO topics VALUES ({n}, {sql_text(s)}, {sql_text(fold(s))});")
    # Every agency numbered; the busy 200: top-level codes and their departments.
    print("CREATE TEMP TABLE everyone (n INTEGER PRIMARY KEY, code TEXT);")
    print("INSERT INTO everyone (n, code) SELECT ROW_NUMBER() OVER (ORDER BY code) - 1, code FROM agencies;")
    print("CREATE TEMP TABLE busy (n INTEGER PRIMARY KEY, code TEXT);")
    print("INSERT INTO busy (n, code) SELECT ROW_NUMBER() OVER (ORDER BY code) - 1, code FROM agencies "
          "WHERE code LIKE '000.00.%' ORDER BY code LIMIT 200;")
    n, start, span = a.documents, a.month_start_us, a.month_us
    print(f"""
CREATE TEMP TABLE gen AS
WITH RECURSIVE i(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM i WHERE i < {n} - 1)
SELECT i,
  CASE WHEN i % 2 = 0 THEN (SELECT code FROM busy WHERE n = (i / 2) % (SELECT COUNT(*) FROM busy))
       ELSE (SELECT code FROM everyone WHERE n = (i * 7919) % (SELECT COUNT(*) FROM everyone)) END AS sender,
  (SELECT code FROM everyone WHERE n = (i * 104729 + 17) % (SELECT COUNT(*) FROM everyone)) AS r1,
  CASE WHEN i % 4 = 0 THEN (SELECT code FROM busy WHERE n = (i / 4 + 7) % (SELECT COUNT(*) FROM busy)) END AS r2,
  {start} + (i * 2654435761) % {span} AS at
FROM i;
INSERT INTO packets (id, sender, kind, document_id, content_sha256, size, blob_key, received_at, verdict)
SELECT printf('seed-%08d', i), sender, 'message', printf('%s,2026/11/%02d,%d/UBND-VP', sender, 1 + i % 28, i),
  printf('%064d', i), 8192, printf('%064d', i), at, 'valid' FROM gen;
INSERT INTO documents (sender, document_id, first_packet_id, content_sha256, business_type, subject,
  created_at, notation, priority, due_date, appointed_at, subject_folded)
SELECT g.sender, printf('%s,2026/11/%02d,%d/UBND-VP', g.sender, 1 + g.i % 28, g.i), printf('seed-%08d', g.i),
  printf('%064d', g.i), '0', h.s || ' ' || t.s, g.at, printf('%d/UBND-VP', g.i),
  CASE WHEN g.i % 10 = 0 THEN 1 ELSE 0 END, NULL, NULL, h.f || ' ' || t.f
FROM gen g JOIN heads h ON h.n = g.i % {len(SUBJECT_HEADS)} JOIN topics t ON t.n = (g.i / 7) % {len(SUBJECT_TOPICS)};
INSERT OR IGNORE INTO deliveries (packet_id, recipient, created_at, acked_at, taken_via, ack_overdue_at)
SELECT printf('seed-%08d', i), r, at,
  CASE WHEN i % 4 <> 3 THEN at + 600000000 + (i % 36000) * 1000000 END,
  CASE WHEN i % 4 <> 3 THEN 'pull' END,
  CASE WHEN i % 20 = 3 THEN at + 86400000000 END
FROM (SELECT i, r1 AS r, at FROM gen UNION ALL SELECT i, r2, at FROM gen WHERE r2 IS NOT NULL);
INSERT OR IGNORE INTO recipient_states (sender, document_id, recipient, state, updated_at)
SELECT sender, printf('%s,2026/11/%02d,%d/UBND-VP', sender, 1 + i % 28, i), r,
  CASE WHEN i % 50 = 1 THEN '02' WHEN i % 2 = 0 THEN '03' WHEN i % 4 <> 3 THEN 'delivered' ELSE 'submitted' END, at
FROM (SELECT i, sender, r1 AS r, at FROM gen UNION ALL SELECT i, sender, r2, at FROM gen WHERE r2 IS NOT NULL);
INSERT INTO status_history (sender, document_id, reporter, status_code, description, packet_id, at)
SELECT sender, printf('%s,2026/11/%02d,%d/UBND-VP', sender, 1 + i % 28, i), r1,
  CASE WHEN i % 50 = 1 THEN '02' ELSE '03' END, 'Đã phân công xử lý', printf('seed-%08d', i), at + 7200000000
FROM gen WHERE i % 2 = 0 OR i % 50 = 1;
COMMIT;
""")


if __name__ == "__main__":
    main()
