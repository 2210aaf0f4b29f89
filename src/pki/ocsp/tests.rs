//! Against a real responder: `openssl ocsp` on a free port, started by each test with an index
//! built from certs/dev, killed when the test ends (`Responder`'s Drop).

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Instant;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use time::macros::datetime;

use super::*;
use crate::pki::facts::responder_urls;
use crate::pki::testdata::{self, store_with_crls, AT};
use crate::pki::{
    ChainPosition, CrlFreshness, RevocationEvidence, RevocationStatus, TrustStore, ValidatedPath,
    ValidationPolicy,
};

const DAY: Duration = Duration::from_secs(86_400);
const GOOD: &str = "agency-000.00.00.G22-rsa2048.pem";
const REVOKED: &str = "bad-revoked.pem";
/// Never put in an index: the responder answers "unknown" for it.
const NOT_IN_INDEX: &str = "agency-000.00.00.H49-p384.pem";

/// An index line: valid, or revoked at a UTCTime (`YYMMDDHHMMSSZ`) for keyCompromise.
#[derive(Clone, Copy)]
enum Entry {
    Good,
    Revoked(&'static str),
}

/// What a normal responder knows: the good agency certificate and the revoked one.
const NORMAL: &[(&str, Entry)] = &[
    (GOOD, Entry::Good),
    (REVOKED, Entry::Revoked("250301000000Z")),
];

/// A certificate and key the responder signs with.
struct Signer {
    cert: PathBuf,
    key: PathBuf,
}

fn dev_signer(name: &str) -> Signer {
    Signer {
        cert: testdata::path(&format!("{name}.pem")),
        key: testdata::path(&format!("{name}.key.pem")),
    }
}

/// A running `openssl ocsp` responder; killed and reaped on drop.
struct Responder {
    child: Child,
    port: u16,
    stdout: BufReader<ChildStdout>,
    _dir: tempfile::TempDir,
}

impl Responder {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/ocsp", self.port)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A responder for the issuing CA, signing with `signer`, answering with nextUpdate one day on.
fn start(entries: &[(&str, Entry)], signer: &Signer) -> Responder {
    start_with(entries, signer, &["-ndays", "1"])
}

fn start_with(entries: &[(&str, Entry)], signer: &Signer, validity: &[&str]) -> Responder {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = dir.path().join("index.txt");
    fs::write(&index, index_text(entries)).expect("write index");
    let stderr_path = dir.path().join("stderr.txt");
    let stderr = fs::File::create(&stderr_path).expect("stderr file");
    let mut child = Command::new("openssl")
        .arg("ocsp")
        .arg("-index")
        .arg(&index)
        .args(["-port", "0", "-nrequest", "32"])
        .arg("-rsigner")
        .arg(&signer.cert)
        .arg("-rkey")
        .arg(&signer.key)
        .arg("-CA")
        .arg(testdata::path("issuing-ca.pem"))
        .args(validity)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("the openssl CLI (>= 3.0) must be installed for the OCSP tests");
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        panic!("no stdout from openssl ocsp");
    };
    let mut responder = Responder {
        child,
        port: 0,
        stdout: BufReader::new(stdout),
        _dir: dir,
    };
    // It prints `ACCEPT [::]:PORT PID=…` (or `0.0.0.0:PORT`) once listening.
    let mut line = String::new();
    while responder.port == 0 {
        line.clear();
        let read = responder.stdout.read_line(&mut line).unwrap_or(0);
        if read == 0 {
            let log = fs::read_to_string(&stderr_path).unwrap_or_default();
            panic!("openssl ocsp did not start: {log}");
        }
        responder.port = accepted_port(&line).unwrap_or(0);
    }
    responder
}

fn accepted_port(line: &str) -> Option<u16> {
    let address = line.strip_prefix("ACCEPT ")?.split_whitespace().next()?;
    address.rsplit_once(':')?.1.parse().ok()
}

fn index_text(entries: &[(&str, Entry)]) -> String {
    entries
        .iter()
        .map(|(name, entry)| {
            let serial = testdata::cert(name)
                .serial_number()
                .to_bn()
                .and_then(|bn| bn.to_hex_str().map(|s| s.to_string()))
                .expect("serial");
            match entry {
                Entry::Good => format!("V\t450101000000Z\t\t{serial}\tunknown\t/CN={name}\n"),
                Entry::Revoked(date) => format!(
                    "R\t450101000000Z\t{date},keyCompromise\t{serial}\tunknown\t/CN={name}\n"
                ),
            }
        })
        .collect()
}

/// A responder certificate made now, signed by a committed CA key: `eku` adds OCSPSigning.
fn made_signer(dir: &Path, ca: &str, eku: bool, valid: (&str, &str)) -> Signer {
    let ca_cert = testdata::cert(&format!("{ca}.pem"));
    let ca_key =
        PKey::private_key_from_pem(&testdata::read(&format!("{ca}.key.pem"))).expect("key");
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("ec key")).expect("pkey");

    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("C", "VN").expect("C");
    name.append_entry_by_text("CN", "OCSP responder (DEV, made by a test)")
        .expect("CN");
    let name = name.build();
    let mut serial = BigNum::new().expect("bn");
    serial.rand(64, MsbOption::MAYBE_ZERO, false).expect("rand");

    let mut b = X509Builder::new().expect("builder");
    b.set_version(2).expect("version");
    b.set_serial_number(&serial.to_asn1_integer().expect("serial"))
        .expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(ca_cert.subject_name()).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::from_str(valid.0).expect("time"))
        .expect("nb");
    b.set_not_after(&Asn1Time::from_str(valid.1).expect("time"))
        .expect("na");
    let basic = BasicConstraints::new().critical().build().expect("bc");
    b.append_extension(basic).expect("bc");
    let usage = KeyUsage::new().critical().digital_signature().build();
    b.append_extension(usage.expect("ku")).expect("ku");
    if eku {
        let ocsp_signing = ExtendedKeyUsage::new().other("OCSPSigning").build();
        b.append_extension(ocsp_signing.expect("eku")).expect("eku");
    }
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(&ca_cert), None))
        .expect("aki");
    b.append_extension(aki).expect("aki");
    b.sign(&ca_key, MessageDigest::sha256()).expect("sign");
    let cert: X509 = b.build();

    let tag = format!("{ca}-{eku}-{}", valid.0);
    let signer = Signer {
        cert: dir.join(format!("{tag}.pem")),
        key: dir.join(format!("{tag}.key.pem")),
    };
    fs::write(&signer.cert, cert.to_pem().expect("pem")).expect("write cert");
    fs::write(&signer.key, key.private_key_to_pem_pkcs8().expect("pem")).expect("write key");
    signer
}

const LONG: (&str, &str) = ("20250101000000Z", "20450101000000Z");

fn config(url: &str) -> OcspConfig {
    OcspConfig {
        enabled: true,
        timeout: Duration::from_secs(5),
        responder_override: Some(url.to_owned()),
        ..OcspConfig::default()
    }
}

/// Root CRL configured (the issuing CA is checked by CRL), no CRL for the leaves: OCSP decides.
fn store_asking(url: &str, crls: &[&str]) -> TrustStore {
    store_with_crls(crls).with_ocsp(config(url))
}

fn validate(
    store: &TrustStore,
    leaf: &str,
    policy: ValidationPolicy,
) -> Result<ValidatedPath, PkiError> {
    store.validate(&testdata::cert(leaf), &[], &policy)
}

fn query(url: &str, leaf: &str) -> Result<OcspReply, OcspError> {
    OcspClient::new(config(url)).query(
        url,
        &testdata::cert(leaf),
        &testdata::cert("issuing-ca.pem"),
        AT,
    )
}

fn evidence(path: &ValidatedPath) -> &[RevocationEvidence] {
    match path.revocation() {
        RevocationStatus::Checked(list) => list,
        RevocationStatus::Skipped => panic!("revocation was checked"),
    }
}

fn code(result: Result<ValidatedPath, PkiError>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("{}: {e}", e.code()),
    }
}

#[test]
fn reads_the_port_either_way_openssl_prints_it() {
    assert_eq!(accepted_port("ACCEPT [::]:34965 PID=9839\n"), Some(34965));
    assert_eq!(accepted_port("ACCEPT 0.0.0.0:8081\n"), Some(8081));
    assert_eq!(
        accepted_port("ocsp: waiting for OCSP client connections...\n"),
        None
    );
}

#[test]
fn reads_the_responder_url_from_the_certificate() {
    let der = testdata::cert(GOOD).to_der().expect("DER");
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).expect("parse");
    assert_eq!(
        responder_urls(&parsed),
        vec!["http://127.0.0.1:8081/ocsp".to_owned()]
    );
    let client = OcspClient::new(OcspConfig::default());
    assert_eq!(
        client.responders(&parsed),
        vec!["http://127.0.0.1:8081/ocsp".to_owned()]
    );
    let overridden = OcspClient::new(config("http://10.0.0.1/ocsp"));
    assert_eq!(
        overridden.responders(&parsed),
        vec!["http://10.0.0.1/ocsp".to_owned()]
    );

    let der = testdata::cert("issuing-ca.pem").to_der().expect("DER");
    let (_, ca) = x509_parser::parse_x509_certificate(&der).expect("parse");
    assert!(responder_urls(&ca).is_empty());
}

#[test]
fn the_client_reads_good_revoked_and_unknown() {
    let responder = start(NORMAL, &dev_signer("issuing-ca"));
    let url = responder.url();

    let good = query(&url, GOOD).expect("answer");
    assert_eq!(good.answer, OcspAnswer::Good);
    assert_eq!(good.responder, url);
    let now = OffsetDateTime::now_utc();
    assert!(
        (now - good.this_update).abs() < time::Duration::minutes(5),
        "{good:?}"
    );
    let next = good.next_update.expect("-ndays 1 gives a nextUpdate");
    assert_eq!(next - good.this_update, time::Duration::days(1));

    let revoked = query(&url, REVOKED).expect("answer");
    assert_eq!(
        revoked.answer,
        OcspAnswer::Revoked {
            revoked_at: datetime!(2025-03-01 00:00 UTC),
            reason: Some("keyCompromise"),
        }
    );
    assert_eq!(
        query(&url, NOT_IN_INDEX).expect("answer").answer,
        OcspAnswer::Unknown
    );
}

#[test]
fn a_good_answer_vouches_for_a_certificate_without_a_crl() {
    let responder = start(NORMAL, &dev_signer("issuing-ca"));
    let url = responder.url();
    // Without OCSP the missing issuing-CA CRL refuses the leaf.
    let no_ocsp = store_with_crls(&["root-ca.crl.pem"]);
    assert!(code(validate(&no_ocsp, GOOD, ValidationPolicy::at(AT)))
        .starts_with("pki.revocation_unknown"));

    let store = store_asking(&url, &["root-ca.crl.pem"]);
    let path = validate(&store, GOOD, ValidationPolicy::at(AT)).expect("valid by OCSP");
    let list = evidence(&path);
    assert_eq!(list.len(), 2);
    let leaf = list[0].as_ocsp().expect("OCSP vouched for the leaf");
    assert_eq!(leaf.responder, url);
    assert_eq!(leaf.certificate.subject, path.leaf_subject());
    assert_eq!(leaf.freshness, CrlFreshness::Current);
    assert!(leaf.next_update.is_some_and(|next| next > leaf.this_update));
    // The issuing CA was vouched for by the root's CRL, which is current: OCSP not asked.
    assert!(list[1].as_crl().is_some());
    assert!(!path.revocation().within_grace());
}

#[test]
fn an_ocsp_revocation_refuses_the_certificate() {
    let responder = start(NORMAL, &dev_signer("issuing-ca"));
    let url = responder.url();
    for crls in [
        &["root-ca.crl.pem"][..],
        &["root-ca.crl.pem", "issuing-ca-stale.crl.pem"],
    ] {
        // The stale January CRL predates the revocation: OCSP is asked and knows better.
        let err = validate(&store_asking(&url, crls), REVOKED, ValidationPolicy::at(AT))
            .expect_err("revoked");
        assert_eq!(err.code(), "pki.revoked", "{err}");
        assert!(
            matches!(
                &err,
                PkiError::Revoked {
                    position: ChainPosition::Leaf,
                    authority: RevocationSource::Ocsp { responder },
                    ..
                } if *responder == url
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("revoked at 2025-03-01T00:00:00Z (reason: keyCompromise)"),
            "{text}"
        );
        assert!(
            text.contains(&format!("according to the OCSP responder at {url}")),
            "{text}"
        );
    }
    // Revoked after the verification time: not revoked then, but not "good" either.
    let before = ValidationPolicy::at(datetime!(2025-02-01 00:00 UTC));
    let err = validate(&store_asking(&url, &["root-ca.crl.pem"]), REVOKED, before)
        .expect_err("no answer");
    assert_eq!(err.code(), "pki.revocation_unknown", "{err}");
    assert!(
        err.to_string().contains("after the verification time"),
        "{err}"
    );
}

#[test]
fn a_crl_that_lists_the_certificate_wins_over_ocsp() {
    // This responder wrongly believes the revoked certificate is good.
    let lying = [(GOOD, Entry::Good), (REVOKED, Entry::Good)];
    let responder = start(&lying, &dev_signer("issuing-ca"));
    let url = responder.url();
    assert_eq!(
        query(&url, REVOKED).expect("answer").answer,
        OcspAnswer::Good
    );

    let store = store_asking(&url, &["root-ca.crl.pem", "issuing-ca.crl.pem"]);
    let err = validate(&store, REVOKED, ValidationPolicy::at(AT)).expect_err("revoked");
    assert!(
        matches!(
            &err,
            PkiError::Revoked {
                authority: RevocationSource::Crl { .. },
                ..
            }
        ),
        "{err:?}"
    );
    // A current CRL settles a good certificate too: its evidence is the CRL, not OCSP.
    let path = validate(&store, GOOD, ValidationPolicy::at(AT)).expect("valid");
    assert!(evidence(&path).iter().all(|e| e.as_crl().is_some()));
}

#[test]
fn an_unknown_certificate_falls_back_to_the_crl_rules() {
    let responder = start(NORMAL, &dev_signer("issuing-ca"));
    let url = responder.url();

    let no_crl = store_asking(&url, &["root-ca.crl.pem"]);
    let err = validate(&no_crl, NOT_IN_INDEX, ValidationPolicy::at(AT)).expect_err("unknown");
    assert_eq!(err.code(), "pki.revocation_unknown");
    assert!(
        err.to_string()
            .contains("does not know the certificate (status unknown)"),
        "{err}"
    );

    let stale = store_asking(&url, &["root-ca.crl.pem", "issuing-ca-stale.crl.pem"]);
    let err = validate(&stale, NOT_IN_INDEX, ValidationPolicy::at(AT)).expect_err("stale");
    assert_eq!(err.code(), "pki.crl_stale");

    let lenient = ValidationPolicy::at(AT).with_crl_grace(500 * DAY);
    let path = validate(&stale, NOT_IN_INDEX, lenient).expect("the CRL within grace");
    let leaf = evidence(&path)[0].as_crl().expect("the CRL vouched");
    assert!(matches!(leaf.freshness, CrlFreshness::WithinGrace { .. }));
}

#[test]
fn answers_signed_by_anyone_but_the_issuer_or_its_ocsp_signer_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let signers = [
        ("a foreign root", dev_signer("foreign-root-ca")),
        (
            "the impostor with the issuer's name",
            dev_signer("impostor-issuing-ca"),
        ),
        (
            "an agency certificate of the issuer",
            dev_signer("agency-000.00.00.H08-rsa2048"),
        ),
        (
            "an issuer-made responder without the OCSP-signing EKU",
            made_signer(dir.path(), "issuing-ca", false, LONG),
        ),
        (
            "a root-made responder with the EKU",
            made_signer(dir.path(), "root-ca", true, LONG),
        ),
        (
            "an issuer-made responder expired at the verification time",
            made_signer(
                dir.path(),
                "issuing-ca",
                true,
                ("20200101000000Z", "20210101000000Z"),
            ),
        ),
        (
            // Valid at the wall clock, not at AT: the verification time is what counts.
            "an issuer-made responder not yet valid at the verification time",
            made_signer(
                dir.path(),
                "issuing-ca",
                true,
                ("20260701000000Z", "20450101000000Z"),
            ),
        ),
    ];
    for (what, signer) in &signers {
        let responder = start(NORMAL, signer);
        let url = responder.url();
        let err = query(&url, GOOD).expect_err(what);
        assert_eq!(err.code(), "pki.ocsp.signature", "{what}: {err}");
        // Nor does it refuse: a forged "revoked" is no answer either, the CRL rules decide.
        let store = store_asking(&url, &["root-ca.crl.pem"]);
        let result = code(validate(&store, REVOKED, ValidationPolicy::at(AT)));
        assert!(
            result.starts_with("pki.revocation_unknown"),
            "{what}: {result}"
        );
        assert!(
            result.contains("not signed by the certificate's issuer"),
            "{what}: {result}"
        );
    }
}

#[test]
fn a_delegated_responder_with_the_ocsp_signing_eku_is_believed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let signer = made_signer(dir.path(), "issuing-ca", true, LONG);
    let responder = start(NORMAL, &signer);
    let store = store_asking(&responder.url(), &["root-ca.crl.pem"]);
    let path = validate(&store, GOOD, ValidationPolicy::at(AT)).expect("valid");
    assert!(evidence(&path)[0].as_ocsp().is_some());
    assert_eq!(
        validate(&store, REVOKED, ValidationPolicy::at(AT))
            .err()
            .map(|e| e.code()),
        Some("pki.revoked")
    );
}

#[test]
fn the_nonce_must_be_echoed() {
    let responder = start(NORMAL, &dev_signer("issuing-ca"));
    let url = responder.url();
    let client = OcspClient::new(config(&url));
    let leaf = testdata::cert(GOOD);
    let issuer = testdata::cert("issuing-ca.pem");
    let request = |nonce: Option<&[u8]>| Request::new(&leaf, &issuer, nonce).expect("request");

    let first = request(Some(&[1; NONCE_LEN]));
    let answer_to_first = client.post(&url, &first.der).expect("answer");
    let read =
        |body: &[u8], req: &Request, required| read_reply(&url, body, req, &issuer, AT, required);
    assert_eq!(
        read(&answer_to_first, &first, true).map(|r| r.answer),
        Ok(OcspAnswer::Good)
    );

    // The same answer replayed to another request.
    let second = request(Some(&[2; NONCE_LEN]));
    assert_eq!(
        read(&answer_to_first, &second, true).err(),
        Some(OcspError::Nonce {
            url: url.clone(),
            problem: NonceProblem::Mismatch
        })
    );
    assert!(
        read(&answer_to_first, &second, false).is_err(),
        "a wrong nonce is never accepted"
    );

    // A request without a nonce gets an answer without one.
    let bare = request(None);
    let answer_without_nonce = client.post(&url, &bare.der).expect("answer");
    assert_eq!(
        read(&answer_without_nonce, &second, true).err(),
        Some(OcspError::Nonce {
            url: url.clone(),
            problem: NonceProblem::Missing
        })
    );
    assert_eq!(
        read(&answer_without_nonce, &second, false).map(|r| r.answer),
        Ok(OcspAnswer::Good)
    );

    // End to end: a server replaying those answers to the validator.
    let replay = replay_server(answer_to_first, 1);
    let err = validate(
        &store_asking(&replay, &["root-ca.crl.pem"]),
        GOOD,
        ValidationPolicy::at(AT),
    )
    .expect_err("replayed");
    assert_eq!(err.code(), "pki.revocation_unknown");
    assert!(err.to_string().contains("carries another nonce"), "{err}");

    let replay = replay_server(answer_without_nonce, 2);
    let strict = store_asking(&replay, &["root-ca.crl.pem"]);
    assert!(code(validate(&strict, GOOD, ValidationPolicy::at(AT))).contains("carries no nonce"));
    let lax = store_with_crls(&["root-ca.crl.pem"]).with_ocsp(OcspConfig {
        require_nonce: false,
        ..config(&replay)
    });
    assert_eq!(code(validate(&lax, GOOD, ValidationPolicy::at(AT))), "ok");
}

#[test]
fn an_error_status_is_a_refusal_not_an_answer() {
    // openssl's own encoding of a tryLater response, served as a responder under load would.
    let try_later = OcspResponse::create(OcspResponseStatus::TRY_LATER, None)
        .and_then(|r| r.to_der())
        .expect("tryLater response");
    let url = replay_server(try_later.clone(), 1);
    let err = validate(
        &store_asking(&url, &["root-ca.crl.pem"]),
        GOOD,
        ValidationPolicy::at(AT),
    )
    .expect_err("no answer");
    assert_eq!(err.code(), "pki.revocation_unknown");
    assert!(
        err.to_string().contains("refused the request (tryLater)"),
        "{err}"
    );

    let leaf = testdata::cert(GOOD);
    let issuer = testdata::cert("issuing-ca.pem");
    let request = Request::new(&leaf, &issuer, None).expect("request");
    assert_eq!(
        read_reply(&url, &try_later, &request, &issuer, AT, true).err(),
        Some(OcspError::Refused {
            url: url.clone(),
            status: "tryLater"
        })
    );
    let err = read_reply(&url, b"\x30\x03junk", &request, &issuer, AT, true).err();
    assert_eq!(err.map(|e| e.code()), Some("pki.ocsp.malformed"));
}

#[test]
fn stale_answers_fall_back_unless_within_grace() {
    let responder = start(NORMAL, &dev_signer("issuing-ca"));
    let store = store_asking(&responder.url(), &["root-ca.crl.pem"]);
    // nextUpdate is a day from now; three days from now it is two days overdue.
    let later = ValidationPolicy::at(OffsetDateTime::now_utc() + 3 * DAY);
    let err = validate(&store, GOOD, later).expect_err("stale");
    assert_eq!(err.code(), "pki.revocation_unknown");
    assert!(err.to_string().contains("was due for renewal"), "{err}");

    let path = validate(&store, GOOD, later.with_crl_grace(7 * DAY)).expect("within grace");
    let leaf = evidence(&path)[0].as_ocsp().expect("OCSP vouched");
    let CrlFreshness::WithinGrace { overdue } = leaf.freshness else {
        panic!("{leaf:?}");
    };
    assert!(
        overdue > 2 * DAY - Duration::from_secs(600)
            && overdue < 2 * DAY + Duration::from_secs(600)
    );
    assert!(path.revocation().within_grace());
}

#[test]
fn an_answer_without_next_update_is_due_at_once() {
    let responder = start_with(NORMAL, &dev_signer("issuing-ca"), &[]);
    let url = responder.url();
    assert_eq!(query(&url, GOOD).expect("answer").next_update, None);
    let store = store_asking(&url, &["root-ca.crl.pem"]);
    // Made after AT: it speaks for a later instant, so for AT too.
    assert_eq!(code(validate(&store, GOOD, ValidationPolicy::at(AT))), "ok");
    let in_an_hour = ValidationPolicy::at(OffsetDateTime::now_utc() + Duration::from_secs(3600));
    assert!(code(validate(&store, GOOD, in_an_hour)).starts_with("pki.revocation_unknown"));
    assert_eq!(
        code(validate(&store, GOOD, in_an_hour.with_crl_grace(DAY))),
        "ok"
    );
}

#[test]
fn a_silent_responder_times_out() {
    // Listening, never accepting: the connection is made, no answer ever comes.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://127.0.0.1:{}/ocsp",
        listener.local_addr().expect("addr").port()
    );
    let store = store_with_crls(&["root-ca.crl.pem"]).with_ocsp(OcspConfig {
        timeout: Duration::from_millis(300),
        ..config(&url)
    });
    let started = Instant::now();
    let err = validate(&store, GOOD, ValidationPolicy::at(AT)).expect_err("no answer");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err.code(), "pki.revocation_unknown");
    let text = err.to_string();
    assert!(
        text.contains(&format!("OCSP responder {url} gave no answer")),
        "{text}"
    );
    assert!(text.contains("timeout"), "{text}");
}

#[test]
fn an_answer_over_the_size_cap_is_refused() {
    let responder = start(NORMAL, &dev_signer("issuing-ca"));
    let url = responder.url();
    let client = OcspClient::new(OcspConfig {
        max_bytes: 100,
        ..config(&url)
    });
    let err = client
        .query(
            &url,
            &testdata::cert(GOOD),
            &testdata::cert("issuing-ca.pem"),
            AT,
        )
        .expect_err("too big");
    assert_eq!(err.code(), "pki.ocsp.transport");
    assert!(err.to_string().contains("100-byte limit"), "{err}");
}

#[test]
fn ocsp_is_off_by_default_and_only_http_is_asked() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!(
        "http://127.0.0.1:{}/ocsp",
        listener.local_addr().expect("addr").port()
    );
    assert!(!OcspConfig::default().enabled);
    let off = store_with_crls(&["root-ca.crl.pem"]).with_ocsp(OcspConfig {
        responder_override: Some(url),
        ..OcspConfig::default()
    });
    let result = code(validate(&off, GOOD, ValidationPolicy::at(AT)));
    assert!(
        result.starts_with("pki.revocation_unknown") && !result.contains("OCSP"),
        "{result}"
    );
    assert!(listener.accept().is_err(), "nothing may have connected");

    let https = store_asking("https://127.0.0.1:1/ocsp", &["root-ca.crl.pem"]);
    let result = code(validate(&https, GOOD, ValidationPolicy::at(AT)));
    assert!(
        result.contains("only http:// responders are asked"),
        "{result}"
    );

    // With no override, the URL comes from the certificate's AIA: no responder for the dev
    // address 127.0.0.1:8081 runs in tests, so whatever happens there is no answer naming it.
    let from_aia = store_with_crls(&["root-ca.crl.pem"]).with_ocsp(OcspConfig {
        enabled: true,
        timeout: Duration::from_secs(2),
        ..OcspConfig::default()
    });
    let result = code(validate(&from_aia, GOOD, ValidationPolicy::at(AT)));
    assert!(result.starts_with("pki.revocation_unknown"), "{result}");
    assert!(result.contains("http://127.0.0.1:8081/ocsp"), "{result}");
}

/// Answers the next `times` POSTs with `body`, whatever they ask: a replaying attacker.
fn replay_server(body: Vec<u8>, times: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(times) {
            let Ok(stream) = stream else { continue };
            answer_with(stream, &body);
        }
    });
    format!("http://127.0.0.1:{port}/ocsp")
}

fn answer_with(mut stream: TcpStream, body: &[u8]) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    // Read the whole request (headers and Content-Length body) so that closing does not reset.
    loop {
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}
