//! Sign/verify round trips and the refusals of the profile, with keys made on the fly.
//! Interop with xmlsec1 lives in tests/xmlsec_interop.rs.

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Name, X509};

use super::*;
use crate::xml::c14n::{Canonicalization, Method};
use crate::xml::reader::Limits;

const PACKET: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
    <edXMLHeader>
      <MessageHeader><Subject>Về việc thử nghiệm &amp; kiểm tra</Subject></MessageHeader>
      <TraceHeaderList><TraceHeader><OrganId>000.00.00.G22</OrganId></TraceHeader></TraceHeaderList>
    </edXMLHeader>
    <edXMLBody/>
  </edXMLEnvelope>
  <AttachmentEncoded><Attachment><ContentTransferEncoded>SGVsbG8=</ContentTransferEncoded></Attachment></AttachmentEncoded>
</edXML>
"#;

fn self_signed(key: &PKey<Private>, digest: MessageDigest) -> X509 {
    let mut name = X509Name::builder().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, "Văn phòng thử nghiệm")
        .unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(key, digest).unwrap();
    b.build()
}

fn rsa() -> (PKey<Private>, X509) {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let cert = self_signed(&key, MessageDigest::sha256());
    (key, cert)
}

fn ec(curve: Nid) -> (PKey<Private>, X509) {
    let group = EcGroup::from_curve_name(curve).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let cert = self_signed(&key, MessageDigest::sha256());
    (key, cert)
}

fn signed(packet: &str, key: &PKey<Private>, cert: &X509, options: &SignOptions) -> String {
    let out = sign(
        packet.as_bytes(),
        key,
        cert,
        &[],
        options,
        Limits::default(),
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

fn verify_str(doc: &str) -> Result<VerifiedSignature, DsigError> {
    verify(
        doc.as_bytes(),
        &AlgorithmPolicy::profile(),
        Limits::default(),
    )
}

fn code(doc: &str) -> &'static str {
    match verify_str(doc) {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

#[test]
fn rsa_and_ecdsa_round_trip_with_every_digest_and_canonicalization() {
    let (rsa_key, rsa_cert) = rsa();
    let (p256, p256_cert) = ec(Nid::X9_62_PRIME256V1);
    let (p384, p384_cert) = ec(Nid::SECP384R1);
    let methods = [
        Canonicalization {
            method: Method::Inclusive,
            with_comments: false,
        },
        Canonicalization {
            method: Method::Inclusive,
            with_comments: true,
        },
        Canonicalization {
            method: Method::Exclusive {
                inclusive_prefixes: vec![],
            },
            with_comments: false,
        },
        Canonicalization {
            method: Method::Exclusive {
                inclusive_prefixes: vec!["xsi".into(), "#default".into()],
            },
            with_comments: true,
        },
    ];
    for (key, cert) in [
        (&rsa_key, &rsa_cert),
        (&p256, &p256_cert),
        (&p384, &p384_cert),
    ] {
        for digest in [
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ] {
            for c14n in &methods {
                let options = SignOptions {
                    digest,
                    canonicalization: c14n.clone(),
                };
                let doc = signed(PACKET, key, cert, &options);
                let v = verify_str(&doc).unwrap_or_else(|e| panic!("{digest:?} {c14n:?}: {e}"));
                assert_eq!(v.signer, *cert);
                assert_eq!(v.algorithms.digest, digest);
                assert!(!v.legacy_sha1);
            }
        }
    }
}

#[test]
fn signature_goes_into_the_digital_signature_placeholder() {
    let (key, cert) = rsa();
    let packet = PACKET.replace(
        "</TraceHeaderList>",
        "</TraceHeaderList><edXML:DigitalSignature/>",
    );
    let doc = signed(&packet, &key, &cert, &SignOptions::default());
    assert!(doc.contains("<edXML:DigitalSignature><ds:Signature "));
    assert!(doc.contains("</ds:Signature></edXML:DigitalSignature>"));
    assert_eq!(code(&doc), "ok");
    let without = signed(PACKET, &key, &cert, &SignOptions::default());
    assert!(without.contains("</ds:Signature></edXMLHeader>"));
}

#[test]
fn the_unsigned_bytes_are_kept_exactly() {
    let (key, cert) = rsa();
    let doc = signed(PACKET, &key, &cert, &SignOptions::default());
    let start = doc.find("<ds:Signature").unwrap();
    let end = doc.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    assert_eq!(format!("{}{}", &doc[..start], &doc[end..]), PACKET);
}

#[test]
fn any_change_to_the_packet_is_a_digest_mismatch() {
    let (key, cert) = rsa();
    let doc = signed(PACKET, &key, &cert, &SignOptions::default());
    assert_eq!(
        code(&doc.replace("kiểm tra", "kiem tra")),
        "dsig.digest_mismatch"
    );
    assert_eq!(
        code(&doc.replace("SGVsbG8=", "SGVsbG9=")),
        "dsig.digest_mismatch"
    );
    assert_eq!(
        code(&doc.replace("000.00.00.G22", "000.00.00.G23")),
        "dsig.digest_mismatch"
    );
    // Whitespace inside the root is content too.
    assert_eq!(
        code(&doc.replace("<edXMLBody/>", "<edXMLBody> </edXMLBody>")),
        "dsig.digest_mismatch"
    );
    // Things canonicalization normalizes away are not changes.
    assert_eq!(
        code(&doc.replace("<edXMLBody/>", "<edXMLBody></edXMLBody>")),
        "ok"
    );
    assert_eq!(
        code(&doc.replace("<?xml version=\"1.0\" encoding=\"utf-8\"?>", "")),
        "ok"
    );
}

#[test]
fn a_changed_signed_info_or_value_is_an_invalid_signature() {
    let (key, cert) = rsa();
    let doc = signed(PACKET, &key, &cert, &SignOptions::default());
    let value_start = doc.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
    let mut bytes = doc.clone().into_bytes();
    bytes[value_start + 10] = if bytes[value_start + 10] == b'A' {
        b'B'
    } else {
        b'A'
    };
    assert_eq!(
        code(&String::from_utf8(bytes).unwrap()),
        "dsig.signature_invalid"
    );
    // A digest recomputed for a tampered body does not help: SignedInfo is signed.
    let (other_key, other_cert) = rsa();
    let forged = signed(
        &PACKET.replace("kiểm tra", "giả mạo"),
        &other_key,
        &other_cert,
        &SignOptions::default(),
    );
    let forged_si =
        &forged[forged.find("<ds:SignedInfo>").unwrap()..forged.find("</ds:SignedInfo>").unwrap()];
    let real_si = &doc[doc.find("<ds:SignedInfo>").unwrap()..doc.find("</ds:SignedInfo>").unwrap()];
    let tampered = doc
        .replace(real_si, forged_si)
        .replace("kiểm tra", "giả mạo");
    assert_eq!(code(&tampered), "dsig.signature_invalid");
}

#[test]
fn a_signature_by_another_key_than_the_certificate_is_refused() {
    let (key, cert) = rsa();
    let (_, other_cert) = rsa();
    let doc = signed(PACKET, &key, &cert, &SignOptions::default());
    let b64 = |c: &X509| {
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            c.to_der().unwrap(),
        )
    };
    let swapped = doc.replace(&b64(&cert), &b64(&other_cert));
    assert_eq!(code(&swapped), "dsig.signature_invalid");
}

#[test]
fn unsigned_packets_and_missing_certificates_are_refused() {
    assert_eq!(code(PACKET), "dsig.missing");
    let (key, cert) = rsa();
    let doc = signed(PACKET, &key, &cert, &SignOptions::default());
    let start = doc.find("<ds:KeyInfo>").unwrap();
    let end = doc.find("</ds:KeyInfo>").unwrap() + "</ds:KeyInfo>".len();
    let no_cert = format!("{}{}", &doc[..start], &doc[end..]);
    assert_eq!(code(&no_cert), "dsig.missing_certificate");
    // The SDK's slip: an unprefixed Signature in the edXML namespace is no signature at all.
    let slip = PACKET.replace(
        "</TraceHeaderList>",
        "</TraceHeaderList><Signature><SignedInfo/></Signature>",
    );
    assert_eq!(code(&slip), "dsig.missing");
}

#[test]
fn wrapping_attempts_are_refused() {
    let (key, cert) = rsa();
    let doc = signed(PACKET, &key, &cert, &SignOptions::default());
    let sig_start = doc.find("<ds:Signature").unwrap();
    let sig_end = doc.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let sig = &doc[sig_start..sig_end];
    let without = format!("{}{}", &doc[..sig_start], &doc[sig_end..]);

    // Two signatures.
    let two = doc.replace("<edXMLBody/>", &format!("<edXMLBody>{sig}</edXMLBody>"));
    assert_eq!(code(&two), "dsig.wrapping");
    // A signature elsewhere than edXMLHeader.
    let moved = without.replace("<edXMLBody/>", &format!("<edXMLBody>{sig}</edXMLBody>"));
    assert_eq!(code(&moved), "dsig.wrapping");
    // A reference to part of the document.
    assert_eq!(
        code(&doc.replace(r#"URI="""#, r##"URI="#body""##)),
        "dsig.wrapping"
    );
    // No URI at all.
    assert_eq!(code(&doc.replace(r#" URI="""#, "")), "dsig.wrapping");
    // A second reference.
    let reference_start = doc.find("<ds:Reference").unwrap();
    let reference_end = doc.find("</ds:Reference>").unwrap() + "</ds:Reference>".len();
    let reference = &doc[reference_start..reference_end];
    let doubled = doc.replacen(reference, &format!("{reference}{reference}"), 1);
    assert_eq!(code(&doubled), "dsig.wrapping");
    // An XPath transform selecting part of the packet.
    let xpath = doc.replace(
        r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"></ds:Transform>"#,
        r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"></ds:Transform><ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>ancestor-or-self::Subject</ds:XPath></ds:Transform>"#,
    );
    assert_eq!(code(&xpath), "dsig.wrapping");
    // No enveloped-signature transform.
    let no_env = doc.replace(
        r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"></ds:Transform>"#,
        "",
    );
    assert_eq!(code(&no_env), "dsig.wrapping");
    // A ds:Object carrying content.
    let object = doc.replace(
        "</ds:KeyInfo>",
        "</ds:KeyInfo><ds:Object><MessageHeader/></ds:Object>",
    );
    assert_eq!(code(&object), "dsig.wrapping");
}

#[test]
fn sha1_is_refused_unless_the_legacy_switch_is_on() {
    let (key, cert) = rsa();
    let options = SignOptions {
        digest: DigestAlgorithm::Sha1,
        ..SignOptions::default()
    };
    let doc = signed(PACKET, &key, &cert, &options);
    assert_eq!(code(&doc), "dsig.unsupported_algorithm");
    let legacy = AlgorithmPolicy {
        allow_sha1: true,
        ..AlgorithmPolicy::profile()
    };
    let v = verify(doc.as_bytes(), &legacy, Limits::default()).unwrap();
    assert!(v.legacy_sha1);
}

#[test]
fn unknown_algorithms_and_weak_keys_are_refused() {
    let (key, cert) = rsa();
    let doc = signed(PACKET, &key, &cert, &SignOptions::default());
    let md5 = doc.replace(
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#md5",
    );
    assert_eq!(code(&md5), "dsig.unsupported_algorithm");
    let hmac = doc.replace(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
    );
    assert_eq!(code(&hmac), "dsig.unsupported_algorithm");
    let c14n11 = doc.replacen(
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2006/12/xml-c14n11",
        1,
    );
    assert_eq!(code(&c14n11), "dsig.unsupported_algorithm");
    // An EC key presented for an RSA signature method.
    let ec_method = doc.replace(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    );
    assert_eq!(code(&ec_method), "dsig.unsupported_algorithm");

    let small = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
    let small_cert = self_signed(&small, MessageDigest::sha256());
    let weak = signed(PACKET, &small, &small_cert, &SignOptions::default());
    assert_eq!(code(&weak), "dsig.weak_key");
}

#[test]
fn signing_twice_or_without_a_header_is_refused() {
    let (key, cert) = rsa();
    let doc = signed(PACKET, &key, &cert, &SignOptions::default());
    let again = sign(
        doc.as_bytes(),
        &key,
        &cert,
        &[],
        &SignOptions::default(),
        Limits::default(),
    );
    assert_eq!(again.unwrap_err().code(), "dsig.already_signed");
    let headless = sign(
        b"<r/>",
        &key,
        &cert,
        &[],
        &SignOptions::default(),
        Limits::default(),
    );
    assert_eq!(headless.unwrap_err().code(), "dsig.no_signature_place");
    let (_, other_cert) = rsa();
    let mismatched = sign(
        PACKET.as_bytes(),
        &key,
        &other_cert,
        &[],
        &SignOptions::default(),
        Limits::default(),
    );
    assert_eq!(mismatched.unwrap_err().code(), "pki.bad_certificate");
}

#[test]
fn soap_wrapped_status_packets_are_signed_in_the_soap_header() {
    let status = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Header><edXML:Status xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXML:StatusCode>01</edXML:StatusCode></edXML:Status></SOAP-ENV:Header><SOAP-ENV:Body/></SOAP-ENV:Envelope>"#;
    let (key, cert) = ec(Nid::X9_62_PRIME256V1);
    let doc = signed(status, &key, &cert, &SignOptions::default());
    assert!(doc.contains("</ds:Signature></SOAP-ENV:Header>"));
    assert_eq!(code(&doc), "ok");
}

#[test]
fn events_read_again_per_pass_give_the_same_verdicts_as_kept_events() {
    use crate::xml::events::Events;
    use crate::xml::reader::Document;

    let (key, cert) = rsa();
    let doc = signed(PACKET, &key, &cert, &SignOptions::default());
    let sig_start = doc.find("<ds:Signature").unwrap();
    let sig_end = doc.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let sig = &doc[sig_start..sig_end];
    let cases = [
        (doc.clone(), "ok"),
        (
            doc.replace("thử nghiệm", "thu nghiem"),
            "dsig.digest_mismatch",
        ),
        (
            doc.replace("<edXMLBody/>", &format!("<edXMLBody>{sig}</edXMLBody>")),
            "dsig.wrapping",
        ),
        (doc.replace("</edXML>", "</edXML><x/>"), "edxml.malformed"),
    ];
    for (packet, expected) in cases {
        for budget in [crate::xml::events::KEPT_EVENTS_BUDGET, 0] {
            let verdict = Document::check(packet.as_bytes(), Limits::default())
                .map_err(DsigError::from)
                .and_then(|d| Ok(Events::read_within(d, Limits::default(), budget)?))
                .and_then(|events| {
                    assert_eq!(events.are_kept(), budget > 0);
                    verify_events(&events, &AlgorithmPolicy::profile())
                });
            let code = verdict.map_or_else(|e| e.code(), |_| "ok");
            assert_eq!(code, expected, "budget {budget}");
        }
    }
}
