//! `lienthong packet build|status|sign|verify`: write a real letter or a status packet as a
//! document system would, sign it, and verify one as the server does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use lienthong::dsig::{self, AlgorithmPolicy, DigestAlgorithm, SignOptions};
use lienthong::edxml::{
    self, Business, BusinessDocType, DocumentCode, DocumentId, DocumentType, EdxmlDate,
    EdxmlTimestamp, MessagePacket, NonEmpty, OrganId, Organization, Packet, Priority,
    ReplacementInfo, ResponseFor, StaffInfo, StatusCode, StatusPacket,
};
use lienthong::pki::{
    Bindings, CrlFetcher, FetchConfig, RevocationMode, TrustStore, ValidationPolicy,
};
use lienthong::trust::{self, TrustPolicy};
use lienthong::xml::c14n::{Canonicalization, Method};
use lienthong::xml::reader::Limits;

use super::{read_file, write_file, Failure};

#[derive(Subcommand)]
pub enum PacketCommand {
    /// Write a message packet (a new letter, or a revoke/update/replace of one); signed when
    /// given --key and --cert.
    Build(Box<BuildArgs>),
    /// Write a status packet (01 arrived … 06 done, 13, 15, 16) about a letter; signed when
    /// given --key and --cert.
    Status(Box<StatusArgs>),
    /// Add an enveloped XML-DSig signature to a packet.
    Sign(SignArgs),
    /// Verify a packet: structure, signature, certificate path, revocation, agency binding.
    Verify(VerifyArgs),
}

/// Runs one `packet` subcommand.
pub fn run(command: PacketCommand) -> Result<(), Failure> {
    match command {
        PacketCommand::Build(a) => build(*a),
        PacketCommand::Status(a) => status(*a),
        PacketCommand::Sign(a) => sign(a),
        PacketCommand::Verify(a) => verify(a),
    }
}

#[derive(Args)]
#[command(
    after_help = "Example (a letter from the dev PKI's ministry to a province):
  lienthong packet build --from 000.00.00.G22 --to 000.00.00.H49 \\
      --number 15 --notation BTN-VP --place \"Hà Nội\" --priority khan \\
      --subject \"Về việc triển khai gửi, nhận văn bản điện tử\" --signer \"Nguyễn Văn A\" \\
      --attach letter.pdf --key G22.key.pem --cert G22.pem --chain intermediates.pem -o letter.xml"
)]
pub struct BuildArgs {
    /// Sending agency code (mã định danh), e.g. 000.00.00.G22.
    #[arg(long)]
    from: String,
    /// Sending agency name (defaults to the code).
    #[arg(long)]
    from_name: Option<String>,
    /// Recipient agency codes, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    to: Vec<String>,
    /// Trích yếu: the summary line.
    #[arg(long)]
    subject: String,
    /// The letter's text (Content), when it has one besides the attachments.
    #[arg(long)]
    content: Option<String>,
    /// A file to attach (repeatable).
    #[arg(long)]
    attach: Vec<PathBuf>,
    /// Số: the document's number in the sender's register.
    #[arg(long, default_value = "1")]
    number: String,
    /// Ký hiệu: the notation, e.g. UBND-VP.
    #[arg(long, default_value = "CV")]
    notation: String,
    /// Document type number (18: Công văn).
    #[arg(long = "type", default_value_t = 18)]
    type_code: u32,
    /// Document type name (default "Công văn" for type 18; required for other types).
    #[arg(long)]
    type_name: Option<String>,
    /// Place of promulgation, e.g. "Hà Nội".
    #[arg(long, default_value = "")]
    place: String,
    /// Date of promulgation, yyyy/MM/dd or yyyy-MM-dd (default: today in Vietnam).
    #[arg(long)]
    date: Option<String>,
    /// Who signed it (default: the sending agency's name).
    #[arg(long)]
    signer: Option<String>,
    /// The signer's position, e.g. "Bộ trưởng".
    #[arg(long)]
    position: Option<String>,
    /// Signing authority, e.g. "KT. BỘ TRƯỞNG".
    #[arg(long)]
    competence: Option<String>,
    /// Độ khẩn: 0-4 or thuong, khan, thuong-khan, hoa-toc, hoa-toc-hen-gio.
    #[arg(long, default_value = "0")]
    priority: String,
    /// Deadline for handling (DueDate), yyyy/MM/dd or yyyy-MM-dd.
    #[arg(long)]
    due: Option<String>,
    /// DocumentId (default: CODE,yyyy/MM/dd,number/notation, as agencies number theirs).
    #[arg(long)]
    document_id: Option<String>,
    /// The earlier letter (a file) this one answers (ResponseFor).
    #[arg(long)]
    in_reply_to: Option<PathBuf>,
    /// What this packet does to an earlier document: new (default), revoke, update, replace.
    #[arg(long, value_enum, default_value = "new")]
    business: BusinessArg,
    /// The earlier letter (a file, or its DocumentId) that --business revoke|update|replace acts on.
    #[arg(long)]
    replaces: Option<String>,
    /// Why it is revoked, updated or replaced (BussinessDocReason).
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    signing: OptionalSigning,
    #[arg(short, long)]
    output: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BusinessArg {
    New,
    Revoke,
    Update,
    Replace,
}

impl From<BusinessArg> for BusinessDocType {
    fn from(b: BusinessArg) -> Self {
        match b {
            BusinessArg::New => BusinessDocType::New,
            BusinessArg::Revoke => BusinessDocType::Revoke,
            BusinessArg::Update => BusinessDocType::Update,
            BusinessArg::Replace => BusinessDocType::Replace,
        }
    }
}

#[derive(Args)]
#[command(after_help = "Examples:
  # 03 (accepted and registered) about a letter received, signed by the recipient:
  lienthong packet status --reply-to letter.xml --from 000.00.00.H49 --code 03 \\
      --staff \"Trần Thị B\" --department \"Văn thư\" --key H49.key.pem --cert H49.pem -o status.xml
  # 02 (refused) when only the letter's identifiers are known:
  lienthong packet status --sender 000.00.00.G22 --document-id \"000.00.00.G22,2026/12/05,15/BTN-VP\" \\
      --from 000.00.00.H49 --code 02 --description \"Không đúng thẩm quyền\" -o status.xml")]
pub struct StatusArgs {
    /// The letter the status is about (a file; its sender, DocumentId, number and date are read from it).
    #[arg(long, conflicts_with_all = ["sender", "document_id"])]
    reply_to: Option<PathBuf>,
    /// Without --reply-to: the letter's sender.
    #[arg(long, requires = "document_id")]
    sender: Option<String>,
    /// Without --reply-to: the letter's DocumentId.
    #[arg(long, requires = "sender")]
    document_id: Option<String>,
    /// Without --reply-to: the letter's number (số).
    #[arg(long)]
    code_number: Option<String>,
    /// Without --reply-to: the letter's notation (ký hiệu).
    #[arg(long)]
    notation: Option<String>,
    /// Without --reply-to: the letter's date of promulgation.
    #[arg(long)]
    date: Option<String>,
    /// The agency reporting the status.
    #[arg(long)]
    from: String,
    /// Its name (defaults to the code).
    #[arg(long)]
    from_name: Option<String>,
    /// The status: 01 arrived, 02 refused, 03 accepted, 04 assigned, 05 processing, 06 done,
    /// 13 take back (sender), 15 agree, 16 refuse a take-back or update.
    #[arg(long)]
    code: String,
    /// Why (required in practice for 02 and 16).
    #[arg(long)]
    description: Option<String>,
    /// The clerk or officer who acted.
    #[arg(long)]
    staff: Option<String>,
    #[arg(long)]
    department: Option<String>,
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    mobile: Option<String>,
    #[command(flatten)]
    signing: OptionalSigning,
    #[arg(short, long)]
    output: PathBuf,
}

/// The agency's key and certificate, when the packet is to be signed as it is written.
#[derive(Args)]
struct OptionalSigning {
    /// The agency's private key (PEM): sign the packet.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// The agency's certificate (PEM).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Intermediate CA certificates to embed in KeyInfo (PEM).
    #[arg(long, requires = "key")]
    chain: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum DigestArg {
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Clone, Copy, ValueEnum)]
enum C14nArg {
    Exclusive,
    Inclusive,
}

#[derive(Args)]
pub struct SignArgs {
    input: PathBuf,
    /// The agency's private key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// The agency's certificate (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// Intermediate CA certificates to embed in KeyInfo (PEM, may hold several).
    #[arg(long)]
    chain: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "sha256")]
    digest: DigestArg,
    #[arg(long, value_enum, default_value = "exclusive")]
    c14n: C14nArg,
    #[arg(short, long)]
    output: PathBuf,
}

#[derive(Args)]
pub struct VerifyArgs {
    input: PathBuf,
    /// Trust anchors (self-signed root CAs, PEM; repeatable).
    #[arg(long, required = true)]
    trust: Vec<PathBuf>,
    /// Intermediate CA certificates (PEM; repeatable).
    #[arg(long)]
    intermediates: Vec<PathBuf>,
    /// CRLs (PEM or DER; repeatable). Every CA in the path needs one unless --no-revocation.
    #[arg(long)]
    crl: Vec<PathBuf>,
    /// Certificate ↔ agency bindings (JSON). Without it the binding is reported as not checked.
    #[arg(long)]
    bindings: Option<PathBuf>,
    /// Verify as of this time (RFC 3339), e.g. the time a packet was received.
    #[arg(long)]
    at: Option<String>,
    /// Accept a CRL up to this many hours past its nextUpdate.
    #[arg(long, default_value_t = 0)]
    crl_grace_hours: u64,
    /// Download CRLs from the certificates' distribution points when no configured CRL is current.
    #[arg(long)]
    fetch_crls: bool,
    /// Skip revocation checking (an explicit operator decision; reported in the output).
    #[arg(long)]
    no_revocation: bool,
    /// Accept SHA-1 (legacy clients); reported in the output.
    #[arg(long)]
    allow_sha1: bool,
}

pub fn organ(code: &str, what: &str) -> Result<OrganId, Failure> {
    OrganId::parse(code.trim()).map_err(|e| Failure::new(e.code(), format!("{what}: {e}")))
}

fn organization(code: &str, name: Option<String>, what: &str) -> Result<Organization, Failure> {
    let id = organ(code, what)?;
    Ok(match name {
        Some(name) => Organization::new(id, name),
        None => Organization::from_code(id),
    })
}

/// A date as packets write it (`yyyy/MM/dd`), also taken as `yyyy-MM-dd`.
fn date(value: &str, what: &str) -> Result<EdxmlDate, Failure> {
    EdxmlDate::parse(&value.trim().replace('-', "/"))
        .map_err(|e| Failure::new(e.code(), format!("{what}: {e}")))
}

fn priority(value: &str) -> Result<Priority, Failure> {
    let word = value.trim().to_lowercase();
    let english = ["normal", "urgent", "very-urgent", "express"];
    let named = (0..=4).filter_map(Priority::of_level).find(|p| {
        word == p.keyword()
            || word == p.label_vi().to_lowercase()
            || english.get(usize::from(p.level())) == Some(&word.as_str())
    });
    match named {
        Some(p) => Ok(p),
        None => Priority::parse(value.trim())
            .map_err(|e| Failure::new(e.code(), format!("--priority: {e}"))),
    }
}

fn document_id(value: &str, what: &str) -> Result<DocumentId, Failure> {
    DocumentId::parse(value)
        .map_err(|e| Failure::new("edxml.invalid_value", format!("{what}: {e}")))
}

/// Reads a message packet from a file (signed or not), for --in-reply-to, --replaces and
/// --reply-to.
fn read_letter(path: &Path, what: &str) -> Result<MessagePacket, Failure> {
    let bytes = read_input(path, Limits::default())?;
    match edxml::read(&bytes, Limits::default()) {
        Ok(Packet::Message(letter)) => Ok(*letter),
        Ok(Packet::Status(_)) => Err(Failure::usage(format!(
            "{what} {}: a status packet, not a letter",
            path.display()
        ))),
        Err(e) => Err(Failure::new(
            e.code(),
            format!("{what} {}: {e}", path.display()),
        )),
    }
}

/// How a letter names the earlier one it answers or reports on.
fn response_for(letter: &MessagePacket) -> ResponseFor {
    ResponseFor {
        organ_id: letter.header.from.organ_id.clone(),
        code: Some(letter.header.code.to_string()),
        promulgation_date: Some(letter.header.promulgation.date),
        document_id: letter.header.document_id.clone(),
    }
}

fn build(a: BuildArgs) -> Result<(), Failure> {
    let from = organization(&a.from, a.from_name, "--from")?;
    let mut to = Vec::new();
    for code in &a.to {
        to.push(Organization::from_code(organ(code, "--to")?));
    }
    let to =
        NonEmpty::from_vec(to).ok_or_else(|| Failure::usage("--to needs at least one agency"))?;
    let mut letter = MessagePacket::new_document(from, to, a.subject);
    let header = &mut letter.header;
    header.code = DocumentCode {
        number: a.number,
        notation: a.notation,
    };
    header.document_type = match (a.type_code, a.type_name) {
        (code, Some(name)) => DocumentType {
            type_code: code,
            type_detail: None,
            type_name: name,
        },
        (18, None) => DocumentType::official_letter(),
        (code, None) => {
            return Err(Failure::usage(format!(
                "--type {code} needs --type-name (only 18, Công văn, has a default)"
            )))
        }
    };
    header.promulgation.place = a.place;
    if let Some(d) = &a.date {
        header.promulgation.date = date(d, "--date")?;
    }
    if let Some(signer) = a.signer {
        header.signer.full_name = signer;
    }
    header.signer.position = a.position;
    header.signer.competence = a.competence;
    header.content = a.content;
    header.due_date = a.due.as_deref().map(|d| date(d, "--due")).transpose()?;
    header
        .other_info
        .get_or_insert_with(Default::default)
        .priority = Some(priority(&a.priority)?);
    header.document_id = match &a.document_id {
        Some(id) => document_id(id, "--document-id")?,
        None => document_id(
            &format!(
                "{},{},{}",
                header.from.organ_id.as_str(),
                header.promulgation.date,
                header.code
            ),
            "the default DocumentId (give --document-id)",
        )?,
    };
    if let Some(path) = &a.in_reply_to {
        let earlier = read_letter(path, "--in-reply-to")?;
        header.response_for.push(response_for(&earlier));
    }
    letter.trace.business = Some(business(&letter, a.business, a.replaces, a.reason)?);
    for path in &a.attach {
        let data = read_file(path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".to_owned());
        letter.attach(name, content_type(path), data);
    }
    let bytes = edxml::write(&letter.into()).map_err(|e| Failure::new(e.code(), e.to_string()))?;
    write_signed_or_not(bytes, &a.signing, &a.output)
}

/// The `Bussiness` block: a new document, or what a revoke/update/replace acts on.
fn business(
    letter: &MessagePacket,
    action: BusinessArg,
    replaces: Option<String>,
    reason: Option<String>,
) -> Result<Business, Failure> {
    let mut business = Business {
        doc_type: action.into(),
        reason,
        ..Business::default()
    };
    let Some(original) = replaces else {
        if action != BusinessArg::New {
            return Err(Failure::usage(
                "--business revoke|update|replace needs --replaces (the original letter, or its DocumentId)",
            ));
        }
        return Ok(business);
    };
    if action == BusinessArg::New {
        return Err(Failure::usage(
            "--replaces needs --business revoke, update or replace",
        ));
    }
    let path = Path::new(&original);
    let replacement = if path.is_file() {
        let earlier = read_letter(path, "--replaces")?;
        if earlier.header.from.organ_id != letter.header.from.organ_id {
            return Err(Failure::new(
                "exchange.not_original_sender",
                format!(
                    "--replaces {}: sent by {}, and only its sender ({}) may revoke, update or replace it",
                    path.display(),
                    earlier.header.from.organ_id.as_str(),
                    earlier.header.from.organ_id.as_str()
                ),
            ));
        }
        ReplacementInfo {
            document_id: earlier.header.document_id.clone(),
            organ_ids: earlier
                .header
                .to
                .iter()
                .map(|o| o.organ_id.clone())
                .collect(),
        }
    } else {
        ReplacementInfo {
            document_id: document_id(&original, "--replaces")?,
            organ_ids: letter
                .header
                .to
                .iter()
                .map(|o| o.organ_id.clone())
                .collect(),
        }
    };
    business.replacements.push(replacement);
    Ok(business)
}

fn status(a: StatusArgs) -> Result<(), Failure> {
    let response_for = match (&a.reply_to, &a.sender, &a.document_id) {
        (Some(path), _, _) => response_for(&read_letter(path, "--reply-to")?),
        (None, Some(sender), Some(id)) => ResponseFor {
            organ_id: organ(sender, "--sender")?,
            code: match (&a.code_number, &a.notation) {
                (Some(n), Some(x)) => Some(format!("{n}/{x}")),
                (None, None) => None,
                _ => return Err(Failure::usage("--code-number and --notation go together")),
            },
            promulgation_date: a.date.as_deref().map(|d| date(d, "--date")).transpose()?,
            document_id: document_id(id, "--document-id")?,
        },
        _ => {
            return Err(Failure::usage(
                "name the letter with --reply-to FILE, or with --sender CODE --document-id ID",
            ))
        }
    };
    let status_code =
        StatusCode::parse(&a.code).map_err(|e| Failure::new(e.code(), format!("--code: {e}")))?;
    let staff_info =
        (a.staff.is_some() || a.department.is_some() || a.email.is_some() || a.mobile.is_some())
            .then_some(StaffInfo {
                department: a.department,
                staff: a.staff,
                mobile: a.mobile,
                email: a.email,
            });
    let packet = StatusPacket {
        response_for,
        from: organization(&a.from, a.from_name, "--from")?,
        status_code,
        description: a.description,
        timestamp: EdxmlTimestamp::now(),
        staff_info,
    };
    let bytes = edxml::write(&packet.into()).map_err(|e| Failure::new(e.code(), e.to_string()))?;
    write_signed_or_not(bytes, &a.signing, &a.output)
}

/// Writes the packet, signed with the profile's defaults (SHA-256, exclusive C14N) when a key
/// and certificate were given.
fn write_signed_or_not(
    bytes: Vec<u8>,
    signing: &OptionalSigning,
    output: &Path,
) -> Result<(), Failure> {
    let (Some(key), Some(cert)) = (&signing.key, &signing.cert) else {
        return write_file(output, &bytes);
    };
    let (key, cert, chain) = signing_material(key, cert, signing.chain.as_deref())?;
    let signed = dsig::sign(
        &bytes,
        &key,
        &cert,
        &chain,
        &SignOptions::default(),
        Limits::default(),
    )
    .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    write_file(output, &signed)
}

/// MIME type from the file extension, for the manifest; recipients treat it as a hint.
fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "odt" => "application/vnd.oasis.opendocument.text",
        "zip" => "application/zip",
        "xml" => "application/xml",
        "txt" => "text/plain",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "tif" | "tiff" => "image/tiff",
        _ => "application/octet-stream",
    }
}

fn read_input(path: &Path, limits: Limits) -> Result<Vec<u8>, Failure> {
    let len = std::fs::metadata(path)
        .map_err(|e| Failure::io(path, e))?
        .len();
    within_limit(path, len, limits)?;
    read_file(path)
}

/// A packet file of `len` bytes is refused before it is read when above the reader's limit.
fn within_limit(path: &Path, len: u64, limits: Limits) -> Result<(), Failure> {
    if len > limits.max_bytes as u64 {
        return Err(Failure::new(
            "limits.too_large",
            format!(
                "{} is {len} bytes, above the limit of {} bytes",
                path.display(),
                limits.max_bytes
            ),
        ));
    }
    Ok(())
}

/// The packet to verify, mapped read-only and read ahead rather than copied into the heap: for
/// a 20 MB packet, reading it (page faults on fresh memory, the copy, the unmapping) cost a third
/// of the whole verification. The limit is checked before mapping.
#[allow(unsafe_code)]
fn map_input(path: &Path, limits: Limits) -> Result<memmap2::Mmap, Failure> {
    let file = std::fs::File::open(path).map_err(|e| Failure::io(path, e))?;
    let len = file.metadata().map_err(|e| Failure::io(path, e))?.len();
    within_limit(path, len, limits)?;
    // SAFETY (reviewed): the map is read-only and lives until the verdict is printed. Its
    // contents are the file's own pages, so a file that another process rewrites while it is
    // being verified gives a verdict about no single version of it, and one truncated meanwhile
    // ends the process with SIGBUS: the operator's own file changing under a one-shot command,
    // which a verdict on it could not survive anyway. The server never maps packets: it
    // verifies the bytes it received, held in memory.
    unsafe { memmap2::MmapOptions::new().populate().map(&file) }.map_err(|e| Failure::io(path, e))
}

/// The key, the certificate and the chain to embed, read from PEM files.
fn signing_material(
    key: &Path,
    cert: &Path,
    chain: Option<&Path>,
) -> Result<(PKey<Private>, X509, Vec<X509>), Failure> {
    let key_pem = read_file(key)?;
    let private = PKey::private_key_from_pem(&key_pem).map_err(|e| {
        Failure::new(
            "cli.key",
            format!("{} is not a PEM private key: {e}", key.display()),
        )
    })?;
    let certificate = read_certificates(cert)?.into_iter().next().ok_or_else(|| {
        Failure::new(
            "pki.bad_certificate",
            format!("{} holds no certificate", cert.display()),
        )
    })?;
    let chain = match chain {
        Some(p) => read_certificates(p)?,
        None => Vec::new(),
    };
    Ok((private, certificate, chain))
}

fn sign(a: SignArgs) -> Result<(), Failure> {
    let limits = Limits::default();
    let input = read_input(&a.input, limits)?;
    let (key, cert, chain) = signing_material(&a.key, &a.cert, a.chain.as_deref())?;
    let options = SignOptions {
        digest: match a.digest {
            DigestArg::Sha256 => DigestAlgorithm::Sha256,
            DigestArg::Sha384 => DigestAlgorithm::Sha384,
            DigestArg::Sha512 => DigestAlgorithm::Sha512,
        },
        canonicalization: Canonicalization {
            method: match a.c14n {
                C14nArg::Exclusive => Method::Exclusive {
                    inclusive_prefixes: Vec::new(),
                },
                C14nArg::Inclusive => Method::Inclusive,
            },
            with_comments: false,
        },
    };
    let signed = dsig::sign(&input, &key, &cert, &chain, &options, limits)
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    write_file(&a.output, &signed)
}

fn read_certificates(path: &Path) -> Result<Vec<X509>, Failure> {
    let pem = read_file(path)?;
    X509::stack_from_pem(&pem).map_err(|e| {
        Failure::new(
            "pki.bad_certificate",
            format!("{} is not PEM certificates: {e}", path.display()),
        )
    })
}

fn verify(a: VerifyArgs) -> Result<(), Failure> {
    let at = match &a.at {
        Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| Failure::usage(format!("--at {t}: not an RFC 3339 time ({e})")))?,
        None => time::OffsetDateTime::now_utc(),
    };
    let mut validation = ValidationPolicy::at(at)
        .with_crl_grace(Duration::from_secs(a.crl_grace_hours.saturating_mul(3600)));
    if a.no_revocation {
        validation = validation.with_revocation(RevocationMode::Skip);
    }
    let policy = TrustPolicy {
        limits: Limits::default(),
        algorithms: AlgorithmPolicy {
            allow_sha1: a.allow_sha1,
            ..AlgorithmPolicy::profile()
        },
        validation,
    };
    let mut store = TrustStore::from_pem_files(&a.trust, &a.intermediates, &a.crl)
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    if a.fetch_crls {
        store = store.with_crl_fetcher(CrlFetcher::new(FetchConfig::default()));
    }
    let bindings = match &a.bindings {
        Some(p) => Some(Bindings::load(p).map_err(|e| Failure::new(e.code(), e.to_string()))?),
        None => None,
    };
    let input = map_input(&a.input, policy.limits)?;
    let verdict = trust::verify_packet(&input, &store, bindings.as_ref(), &policy)
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    let line = serde_json::to_string(&verdict.summary())
        .map_err(|e| Failure::new("internal.json", e.to_string()))?;
    println!("{line}");
    Ok(())
}
