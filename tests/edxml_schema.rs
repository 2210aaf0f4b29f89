//! The edXML fixtures against the XSDs (with xmllint) and against `edxml::read`; the writer's
//! output against the XSDs; the invalid fixtures against the error codes in their names.
//!
//! Fixture names choose the schema: `message_*` → edxml-message.xsd, `status_*` →
//! edxml-status.xsd, `soap_*` → soap-envelope.xsd. Invalid fixtures are named
//! `<expected code>__<what is wrong>.xml`.

use std::path::{Path, PathBuf};
use std::process::Command;

use lienthong::edxml::{
    self, AttachmentContent, BusinessDocType, MessagePacket, NonEmpty, OrganId, Organization,
    Packet, StatusCode,
};
use lienthong::xml::reader::Limits;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/edxml")
}

fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    files
}

fn name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .expect("fixture names are UTF-8")
        .to_owned()
}

fn schema_for(file_name: &str) -> PathBuf {
    let schema = if file_name.starts_with("message_") {
        "edxml-message.xsd"
    } else if file_name.starts_with("status_") {
        "edxml-status.xsd"
    } else if file_name.starts_with("soap_") {
        "soap-envelope.xsd"
    } else {
        panic!(
            "fixture {file_name} does not say which schema it follows (message_, status_, soap_)"
        )
    };
    root().join("schemas").join(schema)
}

/// Runs `xmllint --noout --schema SCHEMA FILE`; a missing xmllint fails the test.
fn xmllint(schema: &Path, file: &Path) -> Result<(), String> {
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!("xmllint is required for this test (apt-get install libxml2-utils): {e}")
        });
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn read(bytes: &[u8]) -> Packet {
    edxml::read(bytes, Limits::default()).unwrap_or_else(|e| panic!("{} ({e})", e.code()))
}

#[test]
fn every_fixture_validates_and_reads() {
    let files = xml_files(&fixtures());
    assert!(files.len() >= 16, "fixtures are missing: {files:?}");
    for file in files {
        let file_name = name(&file);
        if let Err(report) = xmllint(&schema_for(&file_name), &file) {
            panic!("{file_name} does not validate:\n{report}");
        }
        let bytes = std::fs::read(&file).expect("fixture is readable");
        let packet = edxml::read(&bytes, Limits::default())
            .unwrap_or_else(|e| panic!("{file_name}: {} ({e})", e.code()));
        match (&packet, file_name.starts_with("message_")) {
            (Packet::Message(_), true) | (Packet::Status(_), false) => {}
            _ => panic!("{file_name} was read as the wrong kind of packet"),
        }
    }
}

#[test]
fn status_fixtures_carry_their_code() {
    let mut seen = Vec::new();
    for file in xml_files(&fixtures()) {
        let file_name = name(&file);
        let Some(rest) = file_name.strip_prefix("status_") else {
            continue;
        };
        let Packet::Status(status) = read(&std::fs::read(&file).expect("readable")) else {
            panic!("{file_name} is not a status packet");
        };
        let code = status.status_code;
        assert_eq!(rest, format!("{}_{}.xml", code.name(), code.as_str()));
        seen.push(code);
    }
    seen.sort();
    assert_eq!(seen, StatusCode::ALL.to_vec());
}

#[test]
fn field_variants_read_as_expected() {
    let load = |file: &str| std::fs::read(fixtures().join(file)).expect("fixture is readable");

    let sdk = load("message_sdk_new.xml");
    let Packet::Message(m) = read(&sdk) else {
        panic!()
    };
    assert_eq!(
        m.header.document_id.as_str(),
        "000.00.00.H49,2024/03/05,1234/UBND-TH"
    );
    assert_eq!(m.header.to.len(), 2);
    assert_eq!(m.header.to.as_slice()[1].email, None);
    assert_eq!(m.header.document_type.type_name, "Công văn");
    assert_eq!(m.trace.business.as_ref().and_then(|b| b.paper), Some(false));
    assert_eq!(m.attachments.len(), 1);
    let AttachmentContent::InPacket(pdf) = &m.attachments[0].content else {
        panic!()
    };
    assert!(pdf.decode(&sdk).expect("base64").starts_with(b"%PDF-1.4"));

    let two = load("message_two_attachments.xml");
    let Packet::Message(mut m) = read(&two) else {
        panic!()
    };
    let names: Vec<&str> = m.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["89-BC-SNV.pdf", "Phu-luc-I.txt"]);
    assert_eq!(
        m.header.subject,
        "Báo cáo công tác cải cách hành chính quý I năm 2024 & phương hướng quý II"
    );
    m.load_attachments(&two).expect("attachments decode");
    let AttachmentContent::Bytes(appendix) = &m.attachments[1].content else {
        panic!()
    };
    assert!(String::from_utf8_lossy(appendix)
        .starts_with("Phụ lục I: Số liệu văn bản đi, đến năm 2023"));

    let Packet::Message(m) = read(&load("message_envelope_root.xml")) else {
        panic!()
    };
    assert!(matches!(
        m.header.to.as_slice()[1].organ_id,
        OrganId::NonStandard(_)
    ));
    assert_eq!(m.header.promulgation.date.to_string(), "2024/04/18");

    for (file, kind) in [
        ("message_revoke.xml", BusinessDocType::Revoke),
        ("message_update.xml", BusinessDocType::Update),
        ("message_replace.xml", BusinessDocType::Replace),
    ] {
        let Packet::Message(m) = read(&load(file)) else {
            panic!()
        };
        assert_eq!(m.business_doc_type(), kind, "{file}");
    }

    let Packet::Status(s) = read(&load("soap_status_acceptance_03.xml")) else {
        panic!()
    };
    assert_eq!(s.status_code, StatusCode::Acceptance);
    assert_eq!(s.timestamp.to_string(), "2024/03/06 08:15:30");
    assert_eq!(
        s.response_for
            .promulgation_date
            .map(|d| d.to_string())
            .as_deref(),
        Some("2024/03/05")
    );
}

#[test]
fn invalid_fixtures_fail_with_the_code_in_their_name() {
    let files = xml_files(&fixtures().join("invalid"));
    assert!(files.len() >= 12, "invalid fixtures are missing: {files:?}");
    for file in files {
        let file_name = name(&file);
        let (expected, _) = file_name
            .split_once("__")
            .unwrap_or_else(|| panic!("{file_name} does not start with CODE__"));
        let bytes = std::fs::read(&file).expect("fixture is readable");
        match edxml::read(&bytes, Limits::default()) {
            Ok(_) => panic!("{file_name} was accepted"),
            Err(e) => assert_eq!(e.code(), expected, "{file_name}: {e}"),
        }
    }
}

/// What the writer emits is what the schemas describe.
#[test]
fn writer_output_validates() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let from = Organization::new(
        OrganId::parse("000.00.00.H49").expect("code"),
        "UBND tỉnh Quảng Ninh",
    );
    let mut to = NonEmpty::new(Organization::from_code(
        OrganId::parse("000.00.00.G22").expect("code"),
    ));
    to.push(Organization::from_code(
        OrganId::parse("vxp.saas.03").expect("code"),
    ));
    let mut letter =
        MessagePacket::new_document(from, to, "V/v triển khai <thử nghiệm> & đánh giá");
    letter.header.content = Some("Nội dung\ncó nhiều dòng".into());
    letter.attach(
        "Công văn.pdf",
        "application/pdf",
        b"%PDF-1.7\n%%EOF\n".to_vec(),
    );
    letter.attach("Phụ lục.txt", "text/plain", "Phụ lục".as_bytes().to_vec());
    let message = edxml::write(&letter.clone().into()).expect("message is written");
    let message_file = dir.path().join("message_written.xml");
    std::fs::write(&message_file, &message).expect("written");
    if let Err(report) = xmllint(&schema_for("message_written.xml"), &message_file) {
        panic!("the writer's message does not validate:\n{report}");
    }

    let sample = std::fs::read(fixtures().join("status_rejection_02.xml")).expect("fixture");
    let status = read(&sample);
    let written = edxml::write(&status).expect("status is written");
    let status_file = dir.path().join("status_written.xml");
    std::fs::write(&status_file, &written).expect("written");
    if let Err(report) = xmllint(&schema_for("status_written.xml"), &status_file) {
        panic!("the writer's status does not validate:\n{report}");
    }
    assert_eq!(read(&written), status);
}

/// Reading a 20 MB packet must not copy the attachment text. Measured with the process's peak
/// resident set size (Linux), reset just before reading. Run with:
/// `cargo test --release --test edxml_schema -- --ignored --nocapture`
#[test]
#[ignore]
fn reads_a_20_mb_packet_without_copying_the_attachment() {
    const MB: usize = 1024 * 1024;
    let from = Organization::from_code(OrganId::parse("000.00.00.H49").expect("code"));
    let to = NonEmpty::new(Organization::from_code(
        OrganId::parse("000.00.00.G22").expect("code"),
    ));
    let mut letter = MessagePacket::new_document(from, to, "Hồ sơ lớn");
    let data: Vec<u8> = (0..15 * MB).map(|i| (i * 31 % 251) as u8).collect();
    letter.attach("ho-so.pdf", "application/pdf", data);
    let bytes = edxml::write(&letter.into()).expect("written");
    assert!(bytes.len() >= 20 * MB, "{} bytes", bytes.len());

    // Baseline: the hardened XML reader alone, walking every event.
    let started = std::time::Instant::now();
    let mut events =
        lienthong::xml::reader::Reader::new(&bytes, Limits::default()).expect("reader");
    while events.next().expect("well-formed").is_some() {}
    let baseline = started.elapsed();

    let peak_before = reset_peak_rss_kb();
    let started = std::time::Instant::now();
    let packet = edxml::read(&bytes, Limits::default()).expect("read");
    let elapsed = started.elapsed();
    let peak_after = peak_rss_kb();
    let Packet::Message(m) = &packet else {
        panic!()
    };
    let AttachmentContent::InPacket(encoded) = &m.attachments[0].content else {
        panic!()
    };
    assert_eq!(encoded.decoded_len(), 15 * MB as u64);
    let grown_kb = peak_after.saturating_sub(peak_before);
    println!(
        "read {} MB in {:.1} ms ({:.0} MB/s; the XML reader alone: {:.1} ms); peak RSS grew by {} KB",
        bytes.len() / MB,
        elapsed.as_secs_f64() * 1000.0,
        bytes.len() as f64 / MB as f64 / elapsed.as_secs_f64(),
        baseline.as_secs_f64() * 1000.0,
        grown_kb
    );
    // A copy of the base64 text would add 20 MB.
    assert!(
        grown_kb < 2 * 1024,
        "peak RSS grew by {grown_kb} KB while reading"
    );
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// Resets the peak to the current RSS (writing 5 to clear_refs) and returns it.
fn reset_peak_rss_kb() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("clear_refs is writable");
    peak_rss_kb()
}
