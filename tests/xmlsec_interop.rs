//! Interop with an independent XML-DSig implementation, xmlsec1 (libxmlsec1 over libxml2 and
//! OpenSSL), through the real `lienthong` binary:
//! - packets signed by `lienthong packet sign` verify with `xmlsec1 --verify`, for every key type
//!   of the dev PKI, every digest and both canonicalizations, in every place the profile puts the
//!   signature (edXMLHeader, an empty edXML:DigitalSignature placeholder, a SOAP Header);
//! - packets signed by `xmlsec1 --sign` from the templates in tests/fixtures/interop verify with
//!   `lienthong packet verify`, which names the right signer and algorithms;
//! - a packet changed after signing (body, attachment, SignedInfo, SignatureValue) is refused by
//!   both, with lienthong's exact code; comments change the verdict only where C14N keeps them.
//!
//! xmlsec1 is required: without it these tests fail (`apt-get install -y xmlsec1`).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

const SUBJECT: &str = "Về việc triển khai gửi, nhận văn bản điện tử liên thông";

/// A recipient other than the sender.
fn recipients(from: &str) -> Vec<&'static str> {
    if from == "000.00.00.G22" {
        vec!["000.00.00.H49", "000.01.01.H49"]
    } else {
        vec!["000.00.00.G22"]
    }
}

/// A packet from `key`'s agency, with an attachment and a Vietnamese subject.
fn built_packet(dir: &Path, key: DevKey) -> PathBuf {
    let file = attachment(dir);
    build(
        dir,
        "unsigned.xml",
        key.agency(),
        &recipients(key.agency()),
        SUBJECT,
        &[&file],
    )
}

/// The parts of a verdict every accepted packet must get right.
fn assert_signed_by(verdict: &Value, key: DevKey) {
    assert_eq!(verdict["from"], key.agency(), "{verdict}");
    assert_eq!(verdict["signer"]["sha256"], key.fingerprint(), "{verdict}");
    let subject = verdict["signer"]["subject"].as_str().expect("subject");
    assert!(
        subject.contains(&format!("CN={}", key.common_name())),
        "{subject}"
    );
    assert_eq!(verdict["signer"]["chain"].as_array().map(Vec::len), Some(3));
    assert_eq!(verdict["revocation"], "checked");
    assert_eq!(verdict["legacy_sha1"], false);
    assert_eq!(verdict["verified_at"], AT);
}

fn assert_algorithms(
    verdict: &Value,
    signature: &str,
    digest: &str,
    si_c14n: &str,
    ref_c14n: &str,
) {
    let a = &verdict["algorithms"];
    assert_eq!(a["signature"], signature, "{verdict}");
    assert_eq!(a["digest"], digest, "{verdict}");
    assert_eq!(a["signed_info_c14n"], si_c14n, "{verdict}");
    assert_eq!(a["reference_c14n"], ref_c14n, "{verdict}");
}

// ---------------------------------------------------------------- lienthong signs, xmlsec1 verifies

/// key × digest × c14n: every key type, every digest and both c14n at least once.
const OUR_MATRIX: [(DevKey, &str, &str, &str); 8] = [
    (G22_RSA2048, "sha256", "exclusive", RSA_SHA256),
    (G22_RSA2048, "sha512", "inclusive", RSA_SHA512),
    (H08_RSA3072, "sha384", "exclusive", RSA_SHA384),
    (H08_RSA2048, "sha256", "inclusive", RSA_SHA256),
    (G22_P256, "sha256", "inclusive", ECDSA_SHA256),
    (G22_P256, "sha384", "exclusive", ECDSA_SHA384),
    (H49_P384, "sha384", "inclusive", ECDSA_SHA384),
    (H49_P384, "sha512", "exclusive", ECDSA_SHA512),
];

fn digest_uri(name: &str) -> &'static str {
    match name {
        "sha256" => SHA256,
        "sha384" => SHA384,
        "sha512" => SHA512,
        other => panic!("no digest {other}"),
    }
}

fn c14n_uri(name: &str) -> &'static str {
    match name {
        "exclusive" => EXC_C14N,
        "inclusive" => C14N,
        other => panic!("no c14n {other}"),
    }
}

#[test]
fn packets_signed_by_lienthong_verify_with_xmlsec1() {
    for (key, digest, c14n, signature) in OUR_MATRIX {
        let dir = work_dir();
        let unsigned = built_packet(dir.path(), key);
        let signed = sign(
            &unsigned,
            key,
            &["--digest", digest, "--c14n", c14n],
            &dir.path().join("signed.xml"),
        );
        assert_xmlsec1_accepts(&signed);

        let verdict = Verify::standard(&signed).run().verdict();
        assert_signed_by(&verdict, key);
        assert_eq!(verdict["binding"], "bound");
        assert_eq!(verdict["kind"], "message");
        assert_eq!(verdict["business_doc_type"], "0");
        let uri = c14n_uri(c14n);
        assert_algorithms(&verdict, signature, digest_uri(digest), uri, uri);
    }
}

#[test]
fn lienthong_fills_an_empty_digital_signature_placeholder_that_xmlsec1_accepts() {
    let dir = work_dir();
    let built = read_text(&built_packet(dir.path(), G22_P256));
    let with_placeholder = replace_once_str(
        &built,
        "</edXML:TraceHeaderList>",
        "</edXML:TraceHeaderList>\n      <edXML:DigitalSignature/>",
    );
    let unsigned = dir.path().join("placeholder.xml");
    write(&unsigned, &with_placeholder);
    let signed = sign(&unsigned, G22_P256, &[], &dir.path().join("signed.xml"));

    let text = read_text(&signed);
    assert!(
        text.contains("<edXML:DigitalSignature><ds:Signature ")
            && text.contains("</ds:Signature></edXML:DigitalSignature>"),
        "the signature is not inside the placeholder:\n{text}"
    );
    assert_xmlsec1_accepts(&signed);
    assert_signed_by(&Verify::standard(&signed).run().verdict(), G22_P256);

    // The SDK's own layout: default namespace on the root, edXML prefix redeclared.
    let sdk = fixture("interop/packets/message_sdk_placeholder.xml");
    let signed = sign(
        &sdk,
        H49_P384,
        &["--c14n", "inclusive", "--digest", "sha384"],
        &dir.path().join("sdk-signed.xml"),
    );
    assert!(read_text(&signed).contains("<edXML:DigitalSignature><ds:Signature "));
    assert_xmlsec1_accepts(&signed);
    assert_signed_by(&Verify::standard(&signed).run().verdict(), H49_P384);
}

#[test]
fn status_packets_signed_by_lienthong_verify_with_xmlsec1() {
    let dir = work_dir();

    let plain = fixture("edxml/status_acceptance_03.xml");
    let signed = sign(&plain, G22_RSA2048, &[], &dir.path().join("status.xml"));
    assert_xmlsec1_accepts(&signed);
    let verdict = Verify::standard(&signed).run().verdict();
    assert_signed_by(&verdict, G22_RSA2048);
    assert_eq!(verdict["kind"], "status");
    assert_eq!(verdict["status_code"], "03");
    assert_eq!(verdict["to"], serde_json::json!(["000.00.00.H49"]));

    // SOAP-wrapped: the signature goes last into SOAP-ENV:Header.
    let soap = fixture("interop/packets/soap_status_acceptance_03.xml");
    let signed = sign(
        &soap,
        H49_RSA2048,
        &["--c14n", "inclusive"],
        &dir.path().join("soap.xml"),
    );
    assert!(read_text(&signed).contains("</ds:Signature></SOAP-ENV:Header>"));
    assert_xmlsec1_accepts(&signed);
    let verdict = Verify::standard(&signed).run().verdict();
    assert_signed_by(&verdict, H49_RSA2048);
    assert_eq!(verdict["kind"], "status");
    assert_eq!(verdict["binding"], "bound");

    // The SDK-style one comes from 000.00.05.H49, a unit no dev key is bound to: the signature
    // is good for both implementations, the binding is what tells the difference.
    let sdk_soap = fixture("edxml/soap_status_acceptance_03.xml");
    let signed = sign(&sdk_soap, H49_P384, &[], &dir.path().join("sdk-soap.xml"));
    assert_xmlsec1_accepts(&signed);
    let unbound = Verify::bare(&signed)
        .intermediates()
        .crl("root-ca.crl.pem")
        .crl("issuing-ca.crl.pem")
        .run()
        .verdict();
    assert_eq!(unbound["from"], "000.00.05.H49");
    assert_eq!(unbound["binding"], "not_checked");
    Verify::standard(&signed)
        .run()
        .assert_refused("pki.binding_mismatch");
}

/// The CRLF fixture must reach the tests as committed, or it would test nothing.
fn c14n_traps() -> PathBuf {
    let path = fixture("interop/packets/message_c14n_traps.xml");
    let text = read_text(&path);
    assert!(
        text.contains("\r\n") && !text.replace("\r\n", "").contains('\n'),
        "{} lost its CRLF line ends (git normalisation?)",
        path.display()
    );
    for trap in [
        "<!--",
        "&#x",
        "&#13;",
        "<![CDATA[",
        "xml:lang=",
        "xmlns:q=",
        "xmlns:unused=",
    ] {
        assert!(text.contains(trap), "the C14N traps packet lost {trap}");
    }
    path
}

#[test]
fn lienthong_signatures_over_c14n_traps_verify_with_xmlsec1() {
    let traps = c14n_traps();
    for (key, c14n) in [(G22_P256, "exclusive"), (G22_RSA2048, "inclusive")] {
        let dir = work_dir();
        let signed = sign(
            &traps,
            key,
            &["--c14n", c14n],
            &dir.path().join("signed.xml"),
        );
        assert_xmlsec1_accepts(&signed);
        let verdict = Verify::standard(&signed).run().verdict();
        assert_signed_by(&verdict, key);
        let uri = c14n_uri(c14n);
        let family = if key == G22_P256 {
            ECDSA_SHA256
        } else {
            RSA_SHA256
        };
        assert_algorithms(&verdict, family, SHA256, uri, uri);
    }
}

// ---------------------------------------------------------------- xmlsec1 signs, lienthong verifies

/// A packet signed by xmlsec1 from a committed template.
struct XmlsecCase {
    packet: &'static str,
    template: &'static str,
    key: DevKey,
    /// Whether xmlsec1 embeds the issuing CA in KeyInfo (else lienthong needs --intermediates).
    embed_ca: bool,
    signature: &'static str,
    digest: &'static str,
    signed_info_c14n: &'static str,
    reference_c14n: &'static str,
}

const TRAPS: &str = "interop/packets/message_c14n_traps.xml";
const SDK_PLACEHOLDER: &str = "interop/packets/message_sdk_placeholder.xml";
const SOAP_STATUS: &str = "interop/packets/soap_status_acceptance_03.xml";
const C14N_COMMENTS: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
const EXC_C14N_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";

const XMLSEC_CASES: [XmlsecCase; 8] = [
    XmlsecCase {
        packet: TRAPS,
        template: "rsa-sha256_exc-c14n_sha256",
        key: G22_RSA2048,
        embed_ca: true,
        signature: RSA_SHA256,
        digest: SHA256,
        signed_info_c14n: EXC_C14N,
        reference_c14n: EXC_C14N,
    },
    XmlsecCase {
        packet: TRAPS,
        template: "rsa-sha256_c14n_sha512",
        key: G22_RSA2048,
        embed_ca: false,
        signature: RSA_SHA256,
        digest: SHA512,
        signed_info_c14n: C14N,
        reference_c14n: C14N,
    },
    XmlsecCase {
        packet: TRAPS,
        template: "ecdsa-sha256_exc-c14n-with-comments_sha256",
        key: G22_P256,
        embed_ca: true,
        signature: ECDSA_SHA256,
        digest: SHA256,
        signed_info_c14n: EXC_C14N_COMMENTS,
        // URI="" removes comments before the transform sees them (XML-DSig §4.3.3.3).
        reference_c14n: EXC_C14N,
    },
    XmlsecCase {
        packet: TRAPS,
        template: "ecdsa-sha256_c14n-with-comments_sha512",
        key: G22_P256,
        embed_ca: false,
        signature: ECDSA_SHA256,
        digest: SHA512,
        signed_info_c14n: C14N_COMMENTS,
        reference_c14n: C14N,
    },
    XmlsecCase {
        packet: TRAPS,
        template: "rsa-sha256_exc-c14n-prefixlist_sha256",
        key: G22_RSA2048,
        embed_ca: true,
        signature: RSA_SHA256,
        digest: SHA256,
        signed_info_c14n: EXC_C14N,
        reference_c14n: EXC_C14N,
    },
    XmlsecCase {
        packet: SDK_PLACEHOLDER,
        template: "ecdsa-sha384_exc-c14n_sha512",
        key: H49_P384,
        embed_ca: true,
        signature: ECDSA_SHA384,
        digest: SHA512,
        signed_info_c14n: EXC_C14N,
        reference_c14n: EXC_C14N,
    },
    XmlsecCase {
        packet: SDK_PLACEHOLDER,
        template: "rsa-sha256_c14n_sha256_unprefixed",
        key: H49_RSA2048,
        embed_ca: false,
        signature: RSA_SHA256,
        digest: SHA256,
        signed_info_c14n: C14N,
        reference_c14n: C14N,
    },
    XmlsecCase {
        packet: SOAP_STATUS,
        template: "ecdsa-sha384_c14n_sha256",
        key: H49_P384,
        embed_ca: true,
        signature: ECDSA_SHA384,
        digest: SHA256,
        signed_info_c14n: C14N,
        reference_c14n: EXC_C14N,
    },
];

impl XmlsecCase {
    fn sign(&self, dir: &Path) -> XmlsecSigned {
        let packet = if self.packet == TRAPS {
            c14n_traps()
        } else {
            fixture(self.packet)
        };
        xmlsec1_signed(dir, &packet, self.template, self.key, self.embed_ca)
    }
}

#[test]
fn packets_signed_by_xmlsec1_verify_with_lienthong() {
    for case in &XMLSEC_CASES {
        let dir = work_dir();
        let signed = case.sign(dir.path());
        // Both forms: the packet's own bytes (the traps intact) and libxml2's re-serialization.
        for file in [&signed.raw, &signed.reserialized] {
            assert_xmlsec1_accepts(file);
            let verify = if case.embed_ca {
                // The issuing CA must come from KeyInfo, where xmlsec1 put it.
                Verify::without_intermediates(file)
            } else {
                Verify::bare(file)
                    .crl("root-ca.crl.pem")
                    .crl("issuing-ca.crl.pem")
                    .bindings()
                    .run()
                    .assert_refused("pki.untrusted");
                Verify::standard(file)
            };
            let verdict = verify.run().verdict();
            assert_signed_by(&verdict, case.key);
            assert_eq!(verdict["binding"], "bound", "{}", case.template);
            assert_algorithms(
                &verdict,
                case.signature,
                case.digest,
                case.signed_info_c14n,
                case.reference_c14n,
            );
            let kind = if case.packet == SOAP_STATUS {
                "status"
            } else {
                "message"
            };
            assert_eq!(verdict["kind"], kind);
        }
    }
}

#[test]
fn xmlsec1_signs_a_packet_built_by_lienthong() {
    let dir = work_dir();
    let unsigned = built_packet(dir.path(), H08_RSA3072);
    let signed = xmlsec1_signed(
        dir.path(),
        &unsigned,
        "rsa-sha256_exc-c14n_sha256",
        H08_RSA3072,
        false,
    )
    .raw;
    assert_xmlsec1_accepts(&signed);
    let verdict = Verify::standard(&signed).run().verdict();
    assert_signed_by(&verdict, H08_RSA3072);
    assert_eq!(verdict["to"], serde_json::json!(["000.00.00.G22"]));
    assert_algorithms(&verdict, RSA_SHA256, SHA256, EXC_C14N, EXC_C14N);
}

#[test]
fn the_traps_packet_verifies_at_all_only_because_c14n_is_right() {
    // A control for the tests above: the same signature over the packet with its line ends
    // made LF verifies too (parsers normalise CRLF), but one changed character reference in the
    // subject does not — so the traps are really inside the signed content.
    let dir = work_dir();
    let signed = XMLSEC_CASES[0].sign(dir.path()).raw;
    let text = read_text(&signed);

    let lf = dir.path().join("lf.xml");
    write(&lf, text.replace("\r\n", "\n"));
    assert_xmlsec1_accepts(&lf);
    Verify::without_intermediates(&lf).run().verdict();

    let changed = dir.path().join("changed-reference.xml");
    write(&changed, replace_once_str(&text, "&#x2014;", "&#x2013;"));
    assert_xmlsec1_refuses(&changed);
    Verify::without_intermediates(&changed)
        .run()
        .assert_refused("dsig.digest_mismatch");

    // Same character written another way: &#x2014; is "—", so the canonical form is unchanged.
    let same = dir.path().join("same-character.xml");
    write(&same, replace_once_str(&text, "&#x2014;", "—"));
    assert_xmlsec1_accepts(&same);
    Verify::without_intermediates(&same).run().verdict();
}

#[test]
fn comments_count_only_where_canonicalization_keeps_them() {
    // (template, whether the comment inside SignedInfo is signed)
    let cases = [
        ("rsa-sha256_exc-c14n_sha256", G22_RSA2048, false),
        ("rsa-sha256_c14n_sha512", G22_RSA2048, false),
        ("ecdsa-sha256_exc-c14n-with-comments_sha256", G22_P256, true),
        ("ecdsa-sha256_c14n-with-comments_sha512", G22_P256, true),
    ];
    for (template_name, key, signed_info_comments) in cases {
        let dir = work_dir();
        let signed = xmlsec1_signed(dir.path(), &c14n_traps(), template_name, key, true).raw;
        let text = read_text(&signed);

        let in_signed_info = dir.path().join("signed-info-comment.xml");
        write(
            &in_signed_info,
            replace_once_str(&text, "ký bởi xmlsec1", "ký bởi ai khác"),
        );
        let outcome = Verify::without_intermediates(&in_signed_info).run();
        if signed_info_comments {
            assert_xmlsec1_refuses(&in_signed_info);
            outcome.assert_refused("dsig.signature_invalid");
        } else {
            assert_xmlsec1_accepts(&in_signed_info);
            outcome.verdict();
        }

        // URI="" excludes the packet's comments from the digest, whatever the transform says.
        for (comment, edited) in [
            ("phần đầu gói tin", "phần đầu đã sửa"),
            ("chú thích sau phần tử gốc", "chú thích đã sửa"),
        ] {
            let file = dir.path().join("packet-comment.xml");
            write(&file, replace_once_str(&text, comment, edited));
            assert_xmlsec1_accepts(&file);
            Verify::without_intermediates(&file).run().verdict();
        }
    }
}

// ---------------------------------------------------------------- tampering, both ways

/// One-character changes and the code lienthong must refuse each with.
const TAMPERS: [(&str, &str); 4] = [
    ("Subject", "dsig.digest_mismatch"),
    ("ContentTransferEncoded", "dsig.digest_mismatch"),
    ("DigestValue", "dsig.signature_invalid"),
    ("SignatureValue", "dsig.signature_invalid"),
];

fn assert_tampering_fails_in_both(dir: &Path, signed: &Path, verify: fn(&Path) -> Verify) {
    let text = read_text(signed);
    for (element, code) in TAMPERS {
        let tampered = dir.join(format!("tampered-{element}.xml"));
        write(&tampered, change_text_of(&text, element));
        assert_ne!(read(&tampered), read(signed));
        assert_well_formed(&tampered);
        verify(&tampered).run().assert_refused(code);
        assert_xmlsec1_refuses(&tampered);
    }
}

#[test]
fn packets_signed_by_xmlsec1_and_then_changed_fail_in_both() {
    // RSA over the CRLF traps packet, ECDSA P-384 over the SDK layout.
    for case in [&XMLSEC_CASES[0], &XMLSEC_CASES[5]] {
        let dir = work_dir();
        let signed = case.sign(dir.path()).raw;
        Verify::without_intermediates(&signed).run().verdict();
        assert_tampering_fails_in_both(dir.path(), &signed, Verify::without_intermediates);
    }
}

#[test]
fn packets_signed_by_lienthong_and_then_changed_fail_in_both() {
    for (key, c14n) in [(G22_RSA2048, "exclusive"), (H49_P384, "inclusive")] {
        let dir = work_dir();
        let unsigned = built_packet(dir.path(), key);
        let signed = sign(
            &unsigned,
            key,
            &["--c14n", c14n],
            &dir.path().join("signed.xml"),
        );
        Verify::standard(&signed).run().verdict();
        assert_xmlsec1_accepts(&signed);
        assert_tampering_fails_in_both(dir.path(), &signed, Verify::standard);
    }
}

// ---------------------------------------------------------------- edges

/// 1 MiB + 7 bytes of deterministic noise (xorshift), so that base64 and the streamed C14N
/// cross every buffer boundary at an odd offset.
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[test]
fn a_megabyte_attachment_is_digested_alike_by_both() {
    let dir = work_dir();
    let big = dir.path().join("phu-luc.pdf");
    write(&big, noise(1024 * 1024 + 7));
    let small = attachment(dir.path());
    let unsigned = build(
        dir.path(),
        "big.xml",
        "000.00.00.G22",
        &["000.00.00.H49"],
        SUBJECT,
        &[&big, &small],
    );

    let ours = sign(
        &unsigned,
        G22_P256,
        &["--c14n", "inclusive", "--digest", "sha512"],
        &dir.path().join("ours.xml"),
    );
    assert_xmlsec1_accepts(&ours);
    assert_signed_by(&Verify::standard(&ours).run().verdict(), G22_P256);

    let theirs = xmlsec1_signed(
        dir.path(),
        &unsigned,
        "rsa-sha256_c14n_sha512",
        G22_RSA2048,
        true,
    );
    assert_xmlsec1_accepts(&theirs.raw);
    assert_signed_by(
        &Verify::without_intermediates(&theirs.raw).run().verdict(),
        G22_RSA2048,
    );
}

#[test]
fn a_signature_without_a_certificate_is_refused_though_xmlsec1_can_check_it() {
    // xmlsec1 can put the bare public key in KeyInfo; the signature is then checkable, but it
    // says nothing about who signed, so lienthong requires the certificate.
    let dir = work_dir();
    let key_value_only =
        template("rsa-sha256_exc-c14n_sha256").replace("<ds:X509Data/>", "<ds:KeyValue/>");
    let tpl = dir.path().join("key-value.template.xml");
    write(
        &tpl,
        insert_template(&read_text(&c14n_traps()), &key_value_only),
    );
    let signed = xmlsec1_sign(&tpl, G22_RSA2048, false, &dir.path().join("key-value.xml"));
    assert!(read_text(&signed).contains("<ds:RSAKeyValue>"));
    Verify::standard(&signed)
        .run()
        .assert_refused("dsig.missing_certificate");
}
