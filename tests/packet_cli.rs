//! `lienthong packet build` with what a real letter carries, and `lienthong packet status`,
//! through the real binary: every flag lands in its edXML field (read back with the library's
//! reader), the defaults follow how agencies number their letters, and bad values are refused
//! with their codes before anything is written.

mod common;

use std::path::Path;

use common::*;
use lienthong::edxml::{self, BusinessDocType, Packet, Priority, StatusCode};
use lienthong::xml::reader::Limits;

fn read_packet(path: &Path) -> Packet {
    edxml::read(&read(path), Limits::default()).expect("a packet the reader accepts")
}

fn message(path: &Path) -> edxml::MessagePacket {
    match read_packet(path) {
        Packet::Message(m) => *m,
        Packet::Status(_) => panic!("a status, not a letter"),
    }
}

fn run(dir: &Path, args: &[&str]) -> Outcome {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    for arg in all.iter_mut() {
        if arg.ends_with(".xml") || arg.ends_with(".txt") {
            *arg = dir.join(&*arg).display().to_string();
        }
    }
    lienthong(all)
}

#[test]
fn a_real_letter_carries_every_field_given() {
    let work = work_dir();
    let dir = work.path();
    write(&dir.join("cv.txt"), "Nội dung công văn\n");
    run(
        dir,
        &[
            "packet",
            "build",
            "--from",
            "000.00.00.G22",
            "--from-name",
            "Bộ Thử nghiệm",
            "--to",
            "000.00.00.H49,000.01.01.H49",
            "--number",
            "15",
            "--notation",
            "BTN-VP",
            "--type",
            "3",
            "--type-name",
            "Quyết định",
            "--place",
            "Hà Nội",
            "--date",
            "2026-12-01",
            "--signer",
            "Nguyễn Văn A",
            "--position",
            "Bộ trưởng",
            "--competence",
            "KT. BỘ TRƯỞNG",
            "--priority",
            "hoa-toc",
            "--due",
            "2026/12/20",
            "--subject",
            "Về việc triển khai gửi, nhận văn bản điện tử",
            "--attach",
            "cv.txt",
            "-o",
            "letter.xml",
        ],
    )
    .assert_ok();
    let letter = message(&dir.join("letter.xml"));
    let h = &letter.header;
    assert_eq!(h.code.to_string(), "15/BTN-VP");
    assert_eq!(
        (
            h.document_type.type_code,
            h.document_type.type_name.as_str()
        ),
        (3, "Quyết định")
    );
    assert_eq!(h.promulgation.place, "Hà Nội");
    assert_eq!(h.promulgation.date.to_string(), "2026/12/01");
    assert_eq!(h.signer.full_name, "Nguyễn Văn A");
    assert_eq!(h.signer.position.as_deref(), Some("Bộ trưởng"));
    assert_eq!(h.signer.competence.as_deref(), Some("KT. BỘ TRƯỞNG"));
    assert_eq!(
        h.other_info.as_ref().and_then(|o| o.priority),
        Some(Priority::Express)
    );
    assert_eq!(
        h.due_date.map(|d| d.to_string()).as_deref(),
        Some("2026/12/20")
    );
    assert_eq!(h.from.organ_name, "Bộ Thử nghiệm");
    assert_eq!(h.to.len(), 2);
    // Agencies number their documents CODE,yyyy/MM/dd,number/notation.
    assert_eq!(h.document_id.as_str(), "000.00.00.G22,2026/12/01,15/BTN-VP");
    assert_eq!(letter.attachments.len(), 1);
    assert_eq!(letter.business_doc_type(), BusinessDocType::New);

    // An answer to it, and a replacement of it by its sender.
    run(
        dir,
        &[
            "packet",
            "build",
            "--from",
            "000.00.00.H49",
            "--to",
            "000.00.00.G22",
            "--number",
            "7",
            "--notation",
            "UBND-VP",
            "--subject",
            "Trả lời",
            "--in-reply-to",
            "letter.xml",
            "-o",
            "answer.xml",
        ],
    )
    .assert_ok();
    let answer = message(&dir.join("answer.xml"));
    let replied = &answer.header.response_for[0];
    assert_eq!(
        replied.document_id.as_str(),
        "000.00.00.G22,2026/12/01,15/BTN-VP"
    );
    assert_eq!(replied.organ_id.as_str(), "000.00.00.G22");
    assert_eq!(replied.code.as_deref(), Some("15/BTN-VP"));

    run(
        dir,
        &[
            "packet",
            "build",
            "--from",
            "000.00.00.G22",
            "--to",
            "000.00.00.H49",
            "--number",
            "16",
            "--notation",
            "BTN-VP",
            "--subject",
            "Thay thế",
            "--business",
            "replace",
            "--replaces",
            "letter.xml",
            "--reason",
            "Sai sót số liệu",
            "-o",
            "replace.xml",
        ],
    )
    .assert_ok();
    let replacement = message(&dir.join("replace.xml"));
    let business = replacement.trace.business.expect("Bussiness");
    assert_eq!(business.doc_type, BusinessDocType::Replace);
    assert_eq!(business.reason.as_deref(), Some("Sai sót số liệu"));
    assert_eq!(
        business.replacements[0].document_id.as_str(),
        "000.00.00.G22,2026/12/01,15/BTN-VP"
    );
    assert_eq!(business.replacements[0].organ_ids.len(), 2);

    // Only the original sender may replace it.
    run(
        dir,
        &[
            "packet",
            "build",
            "--from",
            "000.00.00.H49",
            "--to",
            "000.00.00.G22",
            "--subject",
            "x",
            "--business",
            "revoke",
            "--replaces",
            "letter.xml",
            "-o",
            "bad.xml",
        ],
    )
    .assert_refused("exchange.not_original_sender");
    assert!(!dir.join("bad.xml").exists());
}

#[test]
fn bad_values_are_refused_with_their_codes() {
    let work = work_dir();
    let dir = work.path();
    let base = [
        "packet",
        "build",
        "--from",
        "000.00.00.G22",
        "--to",
        "000.00.00.H49",
        "--subject",
        "x",
        "-o",
        "out.xml",
    ];
    for (extra, code) in [
        (&["--priority", "9"][..], "edxml.invalid_value"),
        (&["--date", "2026-13-01"][..], "edxml.invalid_value"),
        (&["--type", "3"][..], "cli.usage"),
        (&["--business", "revoke"][..], "cli.usage"),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        let outcome = run(dir, &args);
        assert!(!outcome.succeeded(), "{extra:?} accepted");
        assert!(
            outcome.stderr.starts_with(&format!("error[{code}]")),
            "{extra:?}: {}",
            outcome.stderr
        );
    }
    assert!(!dir.join("out.xml").exists());
}

#[test]
fn a_status_is_built_from_the_letter_and_signed() {
    let work = work_dir();
    let dir = work.path();
    run(
        dir,
        &[
            "packet",
            "build",
            "--from",
            "000.00.00.G22",
            "--to",
            "000.00.00.H49",
            "--number",
            "15",
            "--notation",
            "BTN-VP",
            "--date",
            "2026/12/01",
            "--subject",
            "Công văn",
            "-o",
            "letter.xml",
        ],
    )
    .assert_ok();
    let key = DevKey("agency-000.00.00.H49-rsa2048");
    let (k, c, chain) = (key.key(), key.cert(), dev("intermediates.pem"));
    run(
        dir,
        &[
            "packet",
            "status",
            "--reply-to",
            "letter.xml",
            "--from",
            "000.00.00.H49",
            "--code",
            "02",
            "--description",
            "Không đúng thẩm quyền",
            "--staff",
            "Trần Thị B",
            "--department",
            "Văn thư",
            "--email",
            "vanthu@h49.lienthong.test",
            "--key",
            k.to_str().expect("path"),
            "--cert",
            c.to_str().expect("path"),
            "--chain",
            chain.to_str().expect("path"),
            "-o",
            "status.xml",
        ],
    )
    .assert_ok();
    let Packet::Status(status) = read_packet(&dir.join("status.xml")) else {
        panic!("not a status")
    };
    assert_eq!(status.status_code, StatusCode::Rejection);
    assert_eq!(status.from.organ_id.as_str(), "000.00.00.H49");
    assert_eq!(
        status.response_for.document_id.as_str(),
        "000.00.00.G22,2026/12/01,15/BTN-VP"
    );
    assert_eq!(status.response_for.code.as_deref(), Some("15/BTN-VP"));
    assert_eq!(status.description.as_deref(), Some("Không đúng thẩm quyền"));
    let staff = status.staff_info.expect("StaffInfo");
    assert_eq!(staff.staff.as_deref(), Some("Trần Thị B"));
    // Signed, and the full trust pipeline accepts it.
    let verdict = Verify::standard(&dir.join("status.xml")).run();
    assert!(verdict.succeeded(), "{}", verdict.stderr);
    assert_xmlsec1_accepts(&dir.join("status.xml"));
}
