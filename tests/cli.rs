//! `lienthong packet build|sign|verify` through the real binary, with the committed dev PKI
//! (certs/dev) at a fixed time: the verdict a valid packet gets, and the exact code of every
//! refusal (`error[CODE]: sentence` on stderr, exit status 1, nothing on stdout).
//!
//! The SHA-1 packet is signed by xmlsec1 (lienthong never signs with SHA-1) and the bomb
//! documents are checked with xmllint; both tools are required (`apt-get install -y xmlsec1
//! libxml2-utils`).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

const DOCUMENT_ID: &str = "000.00.00.G22,2026/06/01,15/BTN-VP";
const SUBJECT: &str = "Về việc triển khai gửi, nhận văn bản điện tử";
const EDXML_NS: &str = "http://www.mic.gov.vn/TBT/QCVN_102_2016";

/// An unsigned letter from G22 to H49 and its unit 000.01.01.H49, with an attachment.
fn letter(dir: &Path) -> PathBuf {
    let out = dir.join("letter.xml");
    let file = attachment(dir);
    lienthong([
        "packet".as_ref(),
        "build".as_ref(),
        "--from".as_ref(),
        "000.00.00.G22".as_ref(),
        "--from-name".as_ref(),
        "Bộ Thử nghiệm Liên thông (DEV)".as_ref(),
        "--to".as_ref(),
        "000.01.01.H49,000.00.00.H49".as_ref(),
        "--subject".as_ref(),
        SUBJECT.as_ref(),
        "--document-id".as_ref(),
        DOCUMENT_ID.as_ref(),
        "--attach".as_ref(),
        file.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ])
    .assert_ok();
    out
}

/// The letter signed with `key` (issuing CA embedded).
fn signed_letter(dir: &Path, key: DevKey) -> PathBuf {
    sign(&letter(dir), key, &[], &dir.join("signed.xml"))
}

/// A copy of `file` with `edit` applied to its text.
fn edited(file: &Path, name: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let out = file.with_file_name(name);
    write(&out, edit(read_text(file)));
    out
}

#[test]
fn a_signed_letter_verifies_with_its_full_evidence() {
    let dir = work_dir();
    let signed = signed_letter(dir.path(), G22_RSA2048);
    let v = Verify::standard(&signed).run().verdict();

    assert_eq!(v["kind"], "message");
    assert_eq!(v["from"], "000.00.00.G22");
    assert_eq!(
        v["to"],
        serde_json::json!(["000.00.00.H49", "000.01.01.H49"])
    );
    assert_eq!(v["document_id"], DOCUMENT_ID);
    assert_eq!(v["business_doc_type"], "0");
    assert!(v.get("status_code").is_none(), "{v}");

    let signer = &v["signer"];
    assert_eq!(
        signer["subject"],
        "CN=Bộ Thử nghiệm Liên thông (DEV),O=Bộ Thử nghiệm Liên thông (DEV),C=VN"
    );
    assert!(
        signer["issuer"].as_str().is_some_and(
            |i| i.starts_with("CN=Cục Chứng thực số và Bảo mật thông tin (DEV ISSUING CA)")
        ),
        "{v}"
    );
    assert_eq!(signer["sha256"], G22_RSA2048.fingerprint());
    let serial = signer["serial"].as_str().expect("serial");
    assert!(
        !serial.is_empty() && serial.chars().all(|c| c.is_ascii_hexdigit()),
        "{serial}"
    );
    let chain = signer["chain"].as_array().expect("chain");
    assert_eq!(chain.len(), 3, "{v}");
    assert_eq!(chain[0], signer["subject"]);
    assert!(
        chain[2].as_str().is_some_and(|s| s.contains("(DEV ROOT)")),
        "{v}"
    );

    assert_eq!(v["algorithms"]["signature"], RSA_SHA256);
    assert_eq!(v["algorithms"]["digest"], SHA256);
    assert_eq!(v["algorithms"]["signed_info_c14n"], EXC_C14N);
    assert_eq!(v["algorithms"]["reference_c14n"], EXC_C14N);
    assert_eq!(v["revocation"], "checked");
    assert_eq!(v["binding"], "bound");
    assert_eq!(v["legacy_sha1"], false);
    assert_eq!(v["verified_at"], AT);
}

#[test]
fn an_unsigned_packet_is_refused_as_unsigned() {
    let dir = work_dir();
    Verify::standard(&letter(dir.path()))
        .run()
        .assert_refused("dsig.missing");
}

#[test]
fn a_packet_changed_after_signing_is_refused() {
    let dir = work_dir();
    let signed = signed_letter(dir.path(), G22_P256);
    let tampered = edited(&signed, "tampered.xml", |t| {
        replace_once_str(&t, "triển khai", "tạm dừng")
    });
    Verify::standard(&tampered)
        .run()
        .assert_refused("dsig.digest_mismatch");
}

#[test]
fn signing_a_signed_packet_again_is_refused() {
    let dir = work_dir();
    let signed = signed_letter(dir.path(), G22_RSA2048);
    let again = dir.path().join("again.xml");
    sign_with(&signed, G22_P256, &[], &again).assert_refused("dsig.already_signed");
    assert!(!again.exists(), "a refused sign wrote {}", again.display());
}

#[test]
fn bad_certificates_are_refused_with_their_pki_code() {
    let dir = work_dir();
    let unsigned = letter(dir.path());
    let cases = [
        ("bad-expired", "intermediates.pem", "pki.expired"),
        (
            "bad-not-yet-valid",
            "intermediates.pem",
            "pki.not_yet_valid",
        ),
        ("bad-revoked", "intermediates.pem", "pki.revoked"),
        ("bad-foreign-leaf", "foreign-root-ca.pem", "pki.untrusted"),
        (
            "bad-impostor-leaf",
            "impostor-issuing-ca.pem",
            "pki.untrusted",
        ),
        ("bad-no-signing-usage", "intermediates.pem", "pki.key_usage"),
        ("bad-no-key-usage", "intermediates.pem", "pki.key_usage"),
        ("bad-ca-as-leaf", "intermediates.pem", "pki.key_usage"),
    ];
    for (stem, chain, code) in cases {
        let key = DevKey(stem);
        let signed = dir.path().join(format!("{stem}.xml"));
        let chain = dev(chain);
        sign_with(
            &unsigned,
            key,
            &["--chain", chain.to_str().expect("UTF-8 path")],
            &signed,
        )
        .assert_ok();
        Verify::standard(&signed).run().assert_refused(code);
    }

    // Control: the revoked certificate is otherwise fine, so it is the CRL that refuses it.
    let revoked = dir.path().join("bad-revoked.xml");
    let v = Verify::bare(&revoked)
        .intermediates()
        .bindings()
        .arg("--no-revocation")
        .run()
        .verdict();
    assert_eq!(v["revocation"], "skipped");
}

#[test]
fn a_key_of_one_agency_cannot_sign_for_another() {
    let dir = work_dir();
    let from_h49 = build(
        dir.path(),
        "from-h49.xml",
        "000.00.00.H49",
        &["000.00.00.G22"],
        SUBJECT,
        &[],
    );
    let by_g22 = sign(&from_h49, G22_RSA2048, &[], &dir.path().join("by-g22.xml"));
    Verify::standard(&by_g22)
        .run()
        .assert_refused("pki.binding_mismatch");

    // Without bindings only the signature and the path are checked, and the verdict says so.
    let v = Verify::bare(&by_g22)
        .intermediates()
        .crl("root-ca.crl.pem")
        .crl("issuing-ca.crl.pem")
        .run()
        .verdict();
    assert_eq!(v["binding"], "not_checked");
    assert_eq!(v["from"], "000.00.00.H49");

    // Control: H49's own key may sign it.
    let by_h49 = sign(&from_h49, H49_P384, &[], &dir.path().join("by-h49.xml"));
    assert_eq!(
        Verify::standard(&by_h49).run().verdict()["binding"],
        "bound"
    );

    // A parent agency's key does not sign for its unit: bindings are per code, not per tree.
    let from_unit = build(
        dir.path(),
        "from-unit.xml",
        "000.01.01.H49",
        &["000.00.00.G22"],
        SUBJECT,
        &[],
    );
    let by_parent = sign(
        &from_unit,
        H49_RSA2048,
        &[],
        &dir.path().join("by-parent.xml"),
    );
    Verify::standard(&by_parent)
        .run()
        .assert_refused("pki.binding_mismatch");
    let by_unit = sign(
        &from_unit,
        UNIT_H49_RSA2048,
        &[],
        &dir.path().join("by-unit.xml"),
    );
    let v = Verify::standard(&by_unit).run().verdict();
    assert_eq!(v["binding"], "bound");
    assert_eq!(v["signer"]["sha256"], UNIT_H49_RSA2048.fingerprint());
}

/// Verification with the January CRL of the issuing CA (nextUpdate 2025-02-01) instead of the
/// current one.
fn with_stale_crl(file: &Path) -> Verify {
    Verify::bare(file)
        .intermediates()
        .crl("root-ca.crl.pem")
        .crl("issuing-ca-stale.crl.pem")
        .bindings()
}

#[test]
fn a_stale_crl_is_refused_unless_within_the_grace_period() {
    let dir = work_dir();
    let signed = signed_letter(dir.path(), G22_RSA2048);

    with_stale_crl(&signed)
        .run()
        .assert_refused("pki.crl_stale");
    // 2025-02-01 → 2026-06-01 is 485 days = 11640 hours overdue.
    with_stale_crl(&signed)
        .arg("--crl-grace-hours")
        .arg("11639")
        .run()
        .assert_refused("pki.crl_stale");
    let v = with_stale_crl(&signed)
        .arg("--crl-grace-hours")
        .arg("11641")
        .run()
        .verdict();
    let revocation = v["revocation"].as_str().expect("revocation");
    assert!(
        revocation.starts_with("checked") && revocation.contains("grace"),
        "{revocation}"
    );

    // Before its nextUpdate the same CRL is current.
    let v = with_stale_crl(&signed)
        .at("2025-01-15T00:00:00Z")
        .run()
        .verdict();
    assert_eq!(v["revocation"], "checked");
}

#[test]
fn without_crls_revocation_is_unknown_unless_explicitly_skipped() {
    let dir = work_dir();
    let signed = signed_letter(dir.path(), G22_RSA2048);

    Verify::bare(&signed)
        .intermediates()
        .bindings()
        .run()
        .assert_refused("pki.revocation_unknown");
    // One CA of the path without a CRL is as unknown as none.
    Verify::bare(&signed)
        .intermediates()
        .crl("root-ca.crl.pem")
        .bindings()
        .run()
        .assert_refused("pki.revocation_unknown");

    let v = Verify::bare(&signed)
        .intermediates()
        .bindings()
        .arg("--no-revocation")
        .run()
        .verdict();
    assert_eq!(v["revocation"], "skipped");
    assert_eq!(v["binding"], "bound");
}

#[test]
fn sha1_signed_by_xmlsec1_is_accepted_only_behind_the_legacy_switch() {
    let dir = work_dir();
    let signed = xmlsec1_signed(
        dir.path(),
        &fixture("interop/packets/message_c14n_traps.xml"),
        "rsa-sha1_c14n_sha1",
        G22_RSA2048,
        true,
    )
    .raw;
    Verify::standard(&signed)
        .run()
        .assert_refused("dsig.unsupported_algorithm");

    let v = Verify::standard(&signed)
        .arg("--allow-sha1")
        .run()
        .verdict();
    assert_eq!(v["legacy_sha1"], true);
    assert_eq!(v["algorithms"]["signature"], RSA_SHA1);
    assert_eq!(v["algorithms"]["digest"], SHA1);
    assert_eq!(v["from"], "000.00.00.G22");
    assert_eq!(v["signer"]["sha256"], G22_RSA2048.fingerprint());
}

/// The signed letter with `reference` (an entity reference) in place of the subject and a
/// DOCTYPE inserted after the XML declaration.
fn with_doctype(signed: &Path, name: &str, doctype: &str, reference: &str) -> PathBuf {
    edited(signed, name, |t| {
        let t = replace_once_str(&t, SUBJECT, reference);
        replace_once_str(
            &t,
            "?>\n",
            &format!("?>\n<!DOCTYPE edXML:edXML [\n{doctype}\n]>\n"),
        )
    })
}

#[test]
fn a_doctype_with_an_entity_is_refused() {
    let dir = work_dir();
    let signed = signed_letter(dir.path(), G22_RSA2048);
    let file = with_doctype(
        &signed,
        "doctype.xml",
        r#"<!ENTITY subject "Về việc triển khai gửi, nhận văn bản điện tử">"#,
        "&subject;",
    );
    assert_well_formed(&file);
    Verify::standard(&file)
        .run()
        .assert_refused("xml.dtd_forbidden");
}

/// Runs `verify` and `sign` on a hostile document: both refuse with xml.dtd_forbidden, fast,
/// print nothing that came from an entity, and write no output.
fn assert_refused_quickly_unexpanded(file: &Path, leak: &str) {
    let started = Instant::now();
    let verify = Verify::standard(file).run();
    let out = file.with_file_name("signed-bomb.xml");
    let signing = sign_with(file, G22_RSA2048, &[], &out);
    let elapsed = started.elapsed();

    for outcome in [&verify, &signing] {
        outcome.assert_refused("xml.dtd_forbidden");
        assert!(
            !outcome.stderr.contains(leak),
            "{} leaked entity content: {}",
            outcome.what,
            outcome.stderr
        );
    }
    assert!(
        !out.exists(),
        "sign wrote {} for a hostile document",
        out.display()
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "refusing two tiny documents took {elapsed:?}: something was expanded"
    );
}

#[test]
fn billion_laughs_is_refused_without_expansion() {
    let dir = work_dir();
    let signed = signed_letter(dir.path(), G22_RSA2048);
    let mut entities = vec![r#"<!ENTITY lol "lol">"#.to_owned()];
    for level in 1..=9 {
        let previous = if level == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", level - 1)
        };
        let body = format!("&{previous};").repeat(10);
        entities.push(format!(r#"<!ENTITY lol{level} "{body}">"#));
    }
    let bomb = with_doctype(
        &signed,
        "billion-laughs.xml",
        &entities.join("\n"),
        "&lol9;",
    );
    assert!(read(&bomb).len() < 64 * 1024, "the bomb itself is small");
    assert_refused_quickly_unexpanded(&bomb, "lollollol");
}

#[test]
fn external_entities_are_never_resolved() {
    let dir = work_dir();
    let signed = signed_letter(dir.path(), G22_RSA2048);
    let xxe = with_doctype(
        &signed,
        "xxe.xml",
        r#"<!ENTITY xxe SYSTEM "file:///etc/passwd">"#,
        "&xxe;",
    );
    assert_well_formed(&xxe);
    assert_refused_quickly_unexpanded(&xxe, "root:");

    // A parameter entity pulling an external DTD is no better.
    let external_dtd = with_doctype(
        &signed,
        "xxe-dtd.xml",
        r#"<!ENTITY % remote SYSTEM "file:///etc/passwd"> %remote;"#,
        SUBJECT,
    );
    assert_refused_quickly_unexpanded(&external_dtd, "root:");
}

#[test]
fn malformed_files_are_refused_as_malformed() {
    let dir = work_dir();
    let signed = signed_letter(dir.path(), G22_RSA2048);
    let bytes = read(&signed);

    let truncated = dir.path().join("truncated.xml");
    write(&truncated, &bytes[..bytes.len() / 2]);

    let two_roots = dir.path().join("two-roots.xml");
    let mut doubled = bytes.clone();
    doubled.extend_from_slice(format!("<edXML:edXML xmlns:edXML=\"{EDXML_NS}\"/>\n").as_bytes());
    write(&two_roots, &doubled);

    let invalid_utf8 = dir.path().join("invalid-utf8.xml");
    let subject = SUBJECT.as_bytes();
    let at = bytes
        .windows(subject.len())
        .position(|w| w == subject)
        .expect("the subject in the packet");
    let mut broken = bytes.clone();
    broken[at + 1] = 0xFF; // inside "ề": a lead byte becomes an impossible one
    write(&invalid_utf8, &broken);

    for file in [&truncated, &two_roots, &invalid_utf8] {
        Verify::standard(file)
            .run()
            .assert_refused("edxml.malformed");
    }
}

#[test]
fn a_file_above_64_mib_is_refused_before_it_is_read() {
    let dir = work_dir();
    let huge = dir.path().join("huge.xml");
    // Sparse: the size is what matters, no need to write the bytes.
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(64 * 1024 * 1024 + 1))
        .expect("a sparse file");

    let started = Instant::now();
    Verify::standard(&huge)
        .run()
        .assert_refused("limits.too_large");
    let out = dir.path().join("signed.xml");
    sign_with(&huge, G22_RSA2048, &[], &out).assert_refused("limits.too_large");
    assert!(!out.exists());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_packet_without_subject_is_refused() {
    let dir = work_dir();
    let unsigned = edited(&letter(dir.path()), "no-subject.xml", |t| {
        replace_once_str(&t, &format!("<edXML:Subject>{SUBJECT}</edXML:Subject>"), "")
    });
    // Signed, so that the structure and not the missing signature is what is refused.
    let signed = sign(&unsigned, G22_RSA2048, &[], &dir.path().join("signed.xml"));
    Verify::standard(&signed)
        .run()
        .assert_refused("edxml.missing_element");
}

#[test]
fn build_refuses_a_malformed_agency_code() {
    let dir = work_dir();
    // Written like standard codes (four groups, the first three digits), but not valid ones.
    for (flag, from, to) in [
        ("--to", "000.00.00.G22", "000.00.00.H4"),
        ("--to", "000.00.00.G22", "000.00.00.H49,000.01.01.h49"),
        ("--from", "0000.00.00.G22", "000.00.00.H49"),
    ] {
        let out = dir.path().join("letter.xml");
        let outcome = lienthong([
            "packet",
            "build",
            "--from",
            from,
            "--to",
            to,
            "--subject",
            SUBJECT,
            "-o",
            out.to_str().expect("UTF-8 path"),
        ]);
        outcome.assert_refused("edxml.invalid_agency_code");
        assert!(outcome.stderr.contains(flag), "{}", outcome.stderr);
        assert!(!out.exists(), "a refused build wrote {}", out.display());
    }
}

#[test]
fn verify_refuses_a_non_standard_agency_code_the_directory_does_not_list() {
    // Non-standard codes (the axis uses test codes like vxp.saas.03) are accepted only when the
    // directory lists them (spec §3); bindings.json lists none.
    let dir = work_dir();
    let unsigned = edited(&letter(dir.path()), "to-bad.xml", |t| {
        replace_once_str(
            &t,
            "<edXML:OrganId>000.01.01.H49</edXML:OrganId>",
            "<edXML:OrganId>bad</edXML:OrganId>",
        )
    });
    let signed = sign(&unsigned, G22_RSA2048, &[], &dir.path().join("signed.xml"));
    let outcome = Verify::standard(&signed).run();
    outcome.assert_refused("edxml.invalid_agency_code");
    assert!(outcome.stderr.contains("bad"), "{}", outcome.stderr);
}

#[test]
fn missing_files_are_io_errors() {
    let dir = work_dir();
    let missing = dir.path().join("khong-co.xml");

    Verify::standard(&missing).run().assert_refused("cli.io");

    let unsigned = letter(dir.path());
    let out = dir.path().join("signed.xml");
    let no_key = DevKey("agency-000.00.00.G99-missing");
    sign_with(&unsigned, no_key, &[], &out).assert_refused("cli.io");
    sign_with(&missing, G22_RSA2048, &[], &out).assert_refused("cli.io");

    let outcome = lienthong([
        "packet".as_ref(),
        "build".as_ref(),
        "--from".as_ref(),
        "000.00.00.G22".as_ref(),
        "--to".as_ref(),
        "000.00.00.H49".as_ref(),
        "--subject".as_ref(),
        SUBJECT.as_ref(),
        "--attach".as_ref(),
        missing.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    outcome.assert_refused("cli.io");
    assert!(
        outcome.stderr.contains("khong-co.xml"),
        "{}",
        outcome.stderr
    );
}
