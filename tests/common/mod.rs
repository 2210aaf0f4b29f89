//! Shared by the tests that drive the real `lienthong` binary and xmlsec1: where the dev PKI and
//! the fixtures are, how to run the commands and read what they say, how to edit a packet.
//!
//! xmlsec1 and xmllint are required, never optional: a missing one fails the test with the
//! command that installs it (CI installs both, see .ci/run).

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use openssl::hash::MessageDigest;
use openssl::x509::X509;
use serde_json::Value;

/// The fixed time every verification runs at: inside every good certificate's validity, after
/// the current CRLs' thisUpdate and after the stale CRL's nextUpdate (2025-02-01).
pub const AT: &str = "2026-06-01T00:00:00Z";
/// The same instant in the form `xmlsec1 --verification-gmt-time` takes.
pub const XMLSEC_AT: &str = "2026-06-01 00:00:00";
const INSTALL: &str = "apt-get install -y xmlsec1 libxml2-utils";

pub const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
pub const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
pub const ECDSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";
pub const ECDSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512";
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";
pub const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A file of the committed dev PKI.
pub fn dev(name: &str) -> PathBuf {
    root().join("certs/dev").join(name)
}

/// A file under tests/fixtures.
pub fn fixture(relative: &str) -> PathBuf {
    root().join("tests/fixtures").join(relative)
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn read_text(path: &Path) -> String {
    String::from_utf8(read(path)).unwrap_or_else(|e| panic!("{} is not UTF-8: {e}", path.display()))
}

pub fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

pub fn work_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// A key pair of the dev PKI, by the stem of its files (`STEM.pem`, `STEM.key.pem`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevKey(pub &'static str);

pub const G22_RSA2048: DevKey = DevKey("agency-000.00.00.G22-rsa2048");
pub const G22_P256: DevKey = DevKey("agency-000.00.00.G22-p256");
pub const H49_RSA2048: DevKey = DevKey("agency-000.00.00.H49-rsa2048");
pub const H49_P384: DevKey = DevKey("agency-000.00.00.H49-p384");
pub const H08_RSA2048: DevKey = DevKey("agency-000.00.00.H08-rsa2048");
pub const H08_RSA3072: DevKey = DevKey("agency-000.00.00.H08-rsa3072");
pub const UNIT_H49_RSA2048: DevKey = DevKey("agency-000.01.01.H49-rsa2048");

impl DevKey {
    pub fn key(self) -> PathBuf {
        dev(&format!("{}.key.pem", self.0))
    }

    pub fn cert(self) -> PathBuf {
        dev(&format!("{}.pem", self.0))
    }

    /// The agency code the key is bound to in bindings.json (the bad cases are all bound to
    /// G22 on purpose, so that the PKI check is what refuses them).
    pub fn agency(self) -> &'static str {
        match self.0.strip_prefix("agency-") {
            Some(rest) => rest.get(..13).expect("agency-CODE-alg"),
            None => "000.00.00.G22",
        }
    }

    /// SHA-256 of the certificate's DER, lowercase hex, as the verdict prints it.
    pub fn fingerprint(self) -> String {
        let cert = X509::from_pem(&read(&self.cert())).expect("a PEM certificate");
        hex::encode(cert.digest(MessageDigest::sha256()).expect("sha256"))
    }

    /// The subject's CN (the agency's name), as it appears in the verdict's signer.subject.
    pub fn common_name(self) -> String {
        let cert = X509::from_pem(&read(&self.cert())).expect("a PEM certificate");
        let cn = cert
            .subject_name()
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .next()
            .expect("a CN");
        cn.data().to_string().expect("UTF-8 CN")
    }
}

/// What a command did: its exit status and what it printed.
#[derive(Debug)]
pub struct Outcome {
    pub what: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    fn from_output(what: String, output: Output) -> Self {
        Outcome {
            what,
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn succeeded(&self) -> bool {
        self.code == Some(0)
    }

    /// Asserts success with nothing on stdout (build, sign).
    pub fn assert_ok(&self) {
        assert!(
            self.succeeded(),
            "{} failed ({:?}): {}{}",
            self.what,
            self.code,
            self.stderr,
            self.stdout
        );
    }

    /// Asserts that `verify` accepted the packet and returns its one JSON line, parsed.
    pub fn verdict(&self) -> Value {
        self.assert_ok();
        assert!(
            self.stderr.is_empty(),
            "{}: stderr {}",
            self.what,
            self.stderr
        );
        let mut lines = self.stdout.lines();
        let line = lines.next().unwrap_or_default();
        assert!(
            lines.next().is_none(),
            "{}: more than one line: {}",
            self.what,
            self.stdout
        );
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {line}", self.what));
        assert_eq!(value["valid"], true, "{}: {value}", self.what);
        value
    }

    /// Asserts a refusal: exit status 1, nothing on stdout, and one line
    /// `error[CODE]: sentence` on stderr; returns CODE.
    pub fn refusal(&self) -> &str {
        assert_eq!(
            self.code,
            Some(1),
            "{} should have been refused with exit status 1; stdout: {} stderr: {}",
            self.what,
            self.stdout,
            self.stderr
        );
        assert!(
            self.stdout.is_empty(),
            "{} printed on stdout while refusing: {}",
            self.what,
            self.stdout
        );
        let line = self.stderr.trim_end_matches('\n');
        assert!(
            !line.contains('\n'),
            "{}: more than one line on stderr: {line}",
            self.what
        );
        let rest = line
            .strip_prefix("error[")
            .unwrap_or_else(|| panic!("{}: stderr is not error[CODE]: …: {line}", self.what));
        let (code, sentence) = rest
            .split_once("]: ")
            .unwrap_or_else(|| panic!("{}: stderr is not error[CODE]: …: {line}", self.what));
        assert!(
            sentence.len() > 10,
            "{}: the refusal says too little: {line}",
            self.what
        );
        code
    }

    /// Asserts a refusal with exactly this code.
    pub fn assert_refused(&self, code: &str) {
        assert_eq!(
            self.refusal(),
            code,
            "{}: wrong refusal: {}",
            self.what,
            self.stderr
        );
    }
}

/// Runs the real binary with these arguments.
pub fn lienthong<I, S>(args: I) -> Outcome
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let what = format!("lienthong {}", shown(&args));
    let output = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    Outcome::from_output(what, output)
}

fn shown(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `packet build` from `from` to `to` with `subject` and attachments; returns the output path.
pub fn build(
    dir: &Path,
    name: &str,
    from: &str,
    to: &[&str],
    subject: &str,
    attach: &[&Path],
) -> PathBuf {
    let out = dir.join(name);
    let mut args: Vec<OsString> = vec![
        "packet".into(),
        "build".into(),
        "--from".into(),
        from.into(),
        "--to".into(),
        to.join(",").into(),
        "--subject".into(),
        subject.into(),
        "-o".into(),
        out.clone().into(),
    ];
    for a in attach {
        args.push("--attach".into());
        args.push(a.into());
    }
    lienthong(args).assert_ok();
    out
}

/// A Vietnamese attachment, for packets that must cover attachments too.
pub fn attachment(dir: &Path) -> PathBuf {
    let path = dir.join("bao-cao-tinh-hinh.txt");
    write(
        &path,
        "Báo cáo tình hình triển khai gửi, nhận văn bản điện tử — quý II/2026.\n".repeat(3),
    );
    path
}

/// `packet sign IN --key --cert [extra…] -o OUT`.
/// Signs packet bytes in process (the library, not the CLI) with the agency's dev key,
/// embedding the intermediates.
/// An unsigned message from the demo agency G22 to the agencies `to`, under `document_id`.
pub fn g22_message(
    to: &[&str],
    document_id: &str,
    subject: &str,
) -> lienthong::edxml::MessagePacket {
    use lienthong::edxml::{DocumentId, MessagePacket, NonEmpty, OrganId, Organization};
    let organ = |code: &str| Organization::from_code(OrganId::parse(code).expect("code"));
    let mut packet = MessagePacket::new_document(
        organ("000.00.00.G22"),
        NonEmpty::from_vec(to.iter().map(|code| organ(code)).collect()).expect("recipients"),
        subject,
    );
    packet.header.document_id = DocumentId::parse(document_id).expect("document id");
    packet
}

/// `packet` written and signed with G22's dev key.
pub fn sign_g22(packet: lienthong::edxml::MessagePacket) -> Vec<u8> {
    sign_bytes(
        &lienthong::edxml::write(&packet.into()).expect("write"),
        G22_RSA2048,
    )
}

/// A signed letter from G22 to `to` under `document_id`, with a Vietnamese subject.
pub fn g22_letter(to: &str, document_id: &str) -> Vec<u8> {
    sign_g22(g22_message(
        &[to],
        document_id,
        "Công văn về việc triển khai gửi nhận văn bản điện tử",
    ))
}

/// H49's signed status `code` about G22's document `document_id`, reported by `staff`.
pub fn h49_status(
    document_id: &str,
    code: &str,
    staff: Option<lienthong::edxml::StaffInfo>,
) -> Vec<u8> {
    use lienthong::edxml::{
        DocumentId, EdxmlTimestamp, OrganId, Organization, ResponseFor, StatusCode, StatusPacket,
    };
    let organ = |code: &str| OrganId::parse(code).expect("code");
    let packet = StatusPacket {
        response_for: ResponseFor {
            organ_id: organ("000.00.00.G22"),
            code: None,
            promulgation_date: None,
            document_id: DocumentId::parse(document_id).expect("document id"),
        },
        from: Organization::from_code(organ("000.00.00.H49")),
        status_code: StatusCode::parse(code).expect("status code"),
        description: None,
        timestamp: EdxmlTimestamp::now(),
        staff_info: staff,
    };
    sign_bytes(
        &lienthong::edxml::write(&packet.into()).expect("write"),
        H49_RSA2048,
    )
}

pub fn sign_bytes(unsigned: &[u8], key: DevKey) -> Vec<u8> {
    let private = openssl::pkey::PKey::private_key_from_pem(&read(&key.key())).expect("key");
    let cert = X509::from_pem(&read(&key.cert())).expect("cert");
    let chain = X509::stack_from_pem(&read(&dev("intermediates.pem"))).expect("chain");
    lienthong::dsig::sign(
        unsigned,
        &private,
        &cert,
        &chain,
        &lienthong::dsig::SignOptions::default(),
        lienthong::xml::reader::Limits::default(),
    )
    .expect("sign")
}

pub fn sign_with(input: &Path, key: DevKey, extra: &[&str], out: &Path) -> Outcome {
    let mut args: Vec<OsString> = vec![
        "packet".into(),
        "sign".into(),
        input.into(),
        "--key".into(),
        key.key().into(),
        "--cert".into(),
        key.cert().into(),
        "-o".into(),
        out.into(),
    ];
    args.extend(extra.iter().map(OsString::from));
    lienthong(args)
}

/// Signs with the issuing CA embedded (`--chain certs/dev/intermediates.pem`).
pub fn sign(input: &Path, key: DevKey, extra: &[&str], out: &Path) -> PathBuf {
    let chain = dev("intermediates.pem");
    let mut all: Vec<&str> = vec!["--chain", chain.to_str().expect("UTF-8 path")];
    all.extend_from_slice(extra);
    sign_with(input, key, &all, out).assert_ok();
    out.to_owned()
}

/// A `packet verify` invocation, built up from the dev trust material.
pub struct Verify {
    args: Vec<OsString>,
    at: String,
}

impl Verify {
    /// Only the trust anchor (and the fixed time).
    pub fn bare(file: &Path) -> Self {
        Verify {
            args: vec![
                "packet".into(),
                "verify".into(),
                file.into(),
                "--trust".into(),
                dev("trust.pem").into(),
            ],
            at: AT.to_owned(),
        }
    }

    /// Anchor, intermediates, the current root and issuing CRLs, bindings: what an operator runs.
    pub fn standard(file: &Path) -> Self {
        Verify::bare(file)
            .intermediates()
            .crl("root-ca.crl.pem")
            .crl("issuing-ca.crl.pem")
            .bindings()
    }

    /// Like `standard`, but without `--intermediates`: the chain must come from KeyInfo.
    pub fn without_intermediates(file: &Path) -> Self {
        Verify::bare(file)
            .crl("root-ca.crl.pem")
            .crl("issuing-ca.crl.pem")
            .bindings()
    }

    pub fn intermediates(self) -> Self {
        self.arg("--intermediates").arg(dev("intermediates.pem"))
    }

    pub fn crl(self, name: &str) -> Self {
        self.arg("--crl").arg(dev(name))
    }

    pub fn bindings(self) -> Self {
        self.arg("--bindings").arg(dev("bindings.json"))
    }

    pub fn at(mut self, at: &str) -> Self {
        at.clone_into(&mut self.at);
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn run(mut self) -> Outcome {
        self.args.push("--at".into());
        self.args.push(self.at.into());
        lienthong(self.args)
    }
}

/// Runs xmlsec1; a missing xmlsec1 fails the test.
pub fn xmlsec1<I, S>(args: I) -> Outcome
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let what = format!("xmlsec1 {}", shown(&args));
    let output = Command::new("xmlsec1")
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("xmlsec1 cannot be run ({e}); install it: {INSTALL}"));
    Outcome::from_output(what, output)
}

/// `xmlsec1 --verify` against the dev root, with the issuing CA as untrusted help, at `AT`.
pub fn xmlsec1_verify(file: &Path) -> Outcome {
    xmlsec1([
        OsString::from("--verify"),
        "--trusted-pem".into(),
        dev("trust.pem").into(),
        "--untrusted-pem".into(),
        dev("intermediates.pem").into(),
        "--verification-gmt-time".into(),
        XMLSEC_AT.into(),
        file.into(),
    ])
}

pub fn assert_xmlsec1_accepts(file: &Path) {
    let out = xmlsec1_verify(file);
    assert!(
        out.succeeded() && out.stderr.lines().any(|l| l == "OK"),
        "xmlsec1 refused {}: {}",
        file.display(),
        out.stderr
    );
}

pub fn assert_xmlsec1_refuses(file: &Path) {
    let out = xmlsec1_verify(file);
    assert!(
        !out.succeeded() && !out.stderr.lines().any(|l| l == "OK"),
        "xmlsec1 accepted {}: {}",
        file.display(),
        out.stderr
    );
}

/// `xmlsec1 --sign` of a template; the issuing CA is embedded in KeyInfo when `embed_ca`.
pub fn xmlsec1_sign(template: &Path, key: DevKey, embed_ca: bool, out: &Path) -> PathBuf {
    let mut keys = format!("{},{}", key.key().display(), key.cert().display());
    if embed_ca {
        keys.push_str(&format!(",{}", dev("issuing-ca.pem").display()));
    }
    let outcome = xmlsec1([
        OsString::from("--sign"),
        "--privkey-pem".into(),
        keys.into(),
        "--output".into(),
        out.into(),
        template.into(),
    ]);
    assert!(
        outcome.succeeded(),
        "{} failed: {}",
        outcome.what,
        outcome.stderr
    );
    out.to_owned()
}

/// A signature template from tests/fixtures/interop/templates.
pub fn template(name: &str) -> String {
    read_text(&fixture(&format!("interop/templates/{name}.xml")))
}

/// A packet signed by xmlsec1, in two forms.
pub struct XmlsecSigned {
    /// The packet's own bytes, with the values xmlsec1 computed (DigestValue, SignatureValue,
    /// X509Data) put into the template: every trap of the input is still there.
    pub raw: PathBuf,
    /// What `xmlsec1 --sign --output` wrote: libxml2 re-serializes the whole document (character
    /// references resolved, line ends normalised), so the traps are gone from this one.
    pub reserialized: PathBuf,
}

/// Puts `template_name` into `packet` and has xmlsec1 sign it, with `key`'s certificate (and
/// the issuing CA when `embed_ca`) in KeyInfo.
pub fn xmlsec1_signed(
    dir: &Path,
    packet: &Path,
    template_name: &str,
    key: DevKey,
    embed_ca: bool,
) -> XmlsecSigned {
    let with_template = insert_template(&read_text(packet), &template(template_name));
    let tpl = dir.join(format!("{template_name}.template.xml"));
    write(&tpl, &with_template);
    let reserialized = dir.join(format!("{template_name}.xmlsec1.xml"));
    xmlsec1_sign(&tpl, key, embed_ca, &reserialized);
    let raw = dir.join(format!("{template_name}.signed.xml"));
    write(
        &raw,
        transplant_signature(&with_template, &read_text(&reserialized)),
    );
    XmlsecSigned { raw, reserialized }
}

/// Copies the contents xmlsec1 filled in (DigestValue, SignatureValue, X509Data) from its
/// output into the template's empty elements. The canonical form of the document does not
/// change (these are the values computed over it), so the signature stays valid.
pub fn transplant_signature(with_template: &str, signed: &str) -> String {
    let prefix = if with_template.contains("<ds:SignedInfo>") {
        "ds:"
    } else {
        ""
    };
    let mut out = with_template.to_owned();
    for local in ["DigestValue", "SignatureValue", "X509Data"] {
        let open = format!("<{prefix}{local}>");
        let close = format!("</{prefix}{local}>");
        let start = signed
            .find(&open)
            .unwrap_or_else(|| panic!("xmlsec1 wrote no {open}"))
            + open.len();
        let end = signed[start..].find(&close).expect("a closing tag") + start;
        let mut value = signed[start..end].to_owned();
        if with_template.contains("\r\n") {
            value = value.replace('\n', "\r\n");
        }
        let empty = format!("<{prefix}{local}/>");
        out = replace_once_str(&out, &empty, &format!("{open}{value}{close}"));
    }
    out
}

/// Asserts that xmllint finds `file` well-formed (without loading external entities).
pub fn assert_well_formed(file: &Path) {
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("xmllint cannot be run ({e}); install it: {INSTALL}"));
    assert!(
        output.status.success(),
        "xmllint finds {} not well-formed: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Puts a signature template where the profile wants the signature: inside an empty
/// `<edXML:DigitalSignature/>`, else last in a SOAP Header, else last in edXMLHeader. Line ends
/// follow the packet's (a CRLF packet stays CRLF throughout).
pub fn insert_template(packet: &str, template: &str) -> String {
    let template = if packet.contains("\r\n") {
        template.replace('\n', "\r\n")
    } else {
        template.to_owned()
    };
    let placeholder = "<edXML:DigitalSignature/>";
    if packet.contains(placeholder) {
        let filled = format!("<edXML:DigitalSignature>{template}</edXML:DigitalSignature>");
        return replace_once_str(packet, placeholder, &filled);
    }
    for end in ["</SOAP-ENV:Header>", "</edXML:edXMLHeader>"] {
        if packet.contains(end) {
            return replace_once_str(packet, end, &format!("{template}{end}"));
        }
    }
    panic!("no place for the signature template in the packet")
}

/// Replaces the one occurrence of `from`; panics when it is absent or not unique.
pub fn replace_once_str(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "expected exactly one {from:?} in the document"
    );
    text.replacen(from, to, 1)
}

/// Changes one character of the text content of the first element named `local` (any prefix):
/// its first non-blank character becomes `A` (or `B` if it was `A`). The document stays
/// well-formed, and base64 content stays decodable, but it no longer says what was signed.
pub fn change_text_of(text: &str, local: &str) -> String {
    let start = first_start_tag(text, local)
        .unwrap_or_else(|| panic!("no <{local}> element in the document"));
    let content = text[start..].find('>').expect("an end of the start tag") + start + 1;
    let offset = text[content..]
        .find(|c: char| !c.is_ascii_whitespace())
        .expect("text in the element")
        + content;
    let old = text[offset..].chars().next().expect("a character");
    assert_ne!(old, '<', "<{local}> has no text to change");
    let new = if old == 'A' { 'B' } else { 'A' };
    format!(
        "{}{new}{}",
        &text[..offset],
        &text[offset + old.len_utf8()..]
    )
}

/// Offset of the first start tag `<local` or `<prefix:local`.
fn first_start_tag(text: &str, local: &str) -> Option<usize> {
    text.match_indices(local).find_map(|(at, _)| {
        let tag = text[..at].rfind('<')?;
        let between = &text[tag + 1..at];
        let qualified = between.is_empty()
            || (between.ends_with(':') && !between.contains(['/', ' ', '\n', '\r', '!', '?']));
        let after = text[at + local.len()..].chars().next()?;
        (qualified && (after == '>' || after == '/' || after.is_ascii_whitespace())).then_some(tag)
    })
}
