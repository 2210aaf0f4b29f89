//! The `lienthong` command: the exchange server (`serve`), building, signing and verifying
//! edXML packets, and the administration of the database and the directory.
//!
//! Failures print `error[CODE]: sentence` on stderr and exit 1; CODE is one of docs/ERRORS.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use openssl::pkey::PKey;
use openssl::x509::X509;

use lienthong::dsig::{self, AlgorithmPolicy, DigestAlgorithm, SignOptions};
use lienthong::edxml::{self, MessagePacket, NonEmpty, OrganId, Organization};
use lienthong::pki::{
    Bindings, CrlFetcher, FetchConfig, RevocationMode, TrustStore, ValidationPolicy,
};
use lienthong::trust::{self, TrustPolicy};
use lienthong::xml::c14n::{Canonicalization, Method};
use lienthong::xml::reader::Limits;

#[derive(Parser)]
#[command(
    name = "lienthong",
    version,
    about = "Paperless exchange of official documents (edXML, QCVN 102:2016)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the exchange server (dev mode when nothing is configured).
    Serve(ServeArgs),
    /// Build, sign and verify edXML packets.
    #[command(subcommand)]
    Packet(PacketCommand),
    /// Create or update the database schema (also done at every server start).
    Migrate(DatabaseArgs),
    /// The directory of agencies: import, list.
    #[command(subcommand)]
    Agency(AgencyCommand),
}

#[derive(Subcommand)]
enum PacketCommand {
    /// Write a new, unsigned message packet.
    Build(BuildArgs),
    /// Add an enveloped XML-DSig signature to a packet.
    Sign(SignArgs),
    /// Verify a packet: structure, signature, certificate path, revocation, agency binding.
    Verify(VerifyArgs),
}

#[derive(Args)]
struct BuildArgs {
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
    /// A file to attach (repeatable).
    #[arg(long)]
    attach: Vec<PathBuf>,
    /// DocumentId (defaults to a fresh UUID).
    #[arg(long)]
    document_id: Option<String>,
    #[arg(short, long)]
    output: PathBuf,
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
struct SignArgs {
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
struct VerifyArgs {
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

/// A failure with its stable code.
struct Failure {
    code: &'static str,
    message: String,
}

impl Failure {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    fn io(path: &Path, e: std::io::Error) -> Self {
        Failure::new(
            "cli.io",
            format!("cannot read or write {}: {e}", path.display()),
        )
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => serve(a),
        Command::Packet(PacketCommand::Build(a)) => build(a),
        Command::Packet(PacketCommand::Sign(a)) => sign(a),
        Command::Packet(PacketCommand::Verify(a)) => verify(a),
        Command::Migrate(a) => migrate(a),
        Command::Agency(AgencyCommand::Import(a)) => agency_import(a),
        Command::Agency(AgencyCommand::List(a)) => agency_list(a),
        Command::Agency(AgencyCommand::Credential(CredentialCommand::Create(a))) => {
            credential_create(a)
        }
        Command::Agency(AgencyCommand::Credential(CredentialCommand::Revoke(a))) => {
            credential_revoke(a)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error[{}]: {}", f.code, f.message);
            ExitCode::FAILURE
        }
    }
}

fn organ(code: &str, what: &str) -> Result<OrganId, Failure> {
    OrganId::parse(code).map_err(|e| Failure::new(e.code(), format!("{what}: {e}")))
}

fn build(a: BuildArgs) -> Result<(), Failure> {
    let from_id = organ(&a.from, "--from")?;
    let from = match a.from_name {
        Some(name) => Organization::new(from_id, name),
        None => Organization::from_code(from_id),
    };
    let mut to = Vec::new();
    for code in &a.to {
        to.push(Organization::from_code(organ(code.trim(), "--to")?));
    }
    let to = NonEmpty::from_vec(to)
        .ok_or_else(|| Failure::new("cli.usage", "--to needs at least one agency"))?;
    let mut letter = MessagePacket::new_document(from, to, a.subject);
    if let Some(id) = a.document_id {
        letter.header.document_id = edxml::DocumentId::parse(&id)
            .map_err(|e| Failure::new("edxml.invalid_value", format!("--document-id: {e}")))?;
    }
    for path in &a.attach {
        let data = std::fs::read(path).map_err(|e| Failure::io(path, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".to_owned());
        letter.attach(name, content_type(path), data);
    }
    let bytes = edxml::write(&letter.into()).map_err(|e| Failure::new(e.code(), e.to_string()))?;
    std::fs::write(&a.output, bytes).map_err(|e| Failure::io(&a.output, e))
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
    std::fs::read(path).map_err(|e| Failure::io(path, e))
}

fn sign(a: SignArgs) -> Result<(), Failure> {
    let limits = Limits::default();
    let input = read_input(&a.input, limits)?;
    let key_pem = std::fs::read(&a.key).map_err(|e| Failure::io(&a.key, e))?;
    let key = PKey::private_key_from_pem(&key_pem).map_err(|e| {
        Failure::new(
            "cli.key",
            format!("{} is not a PEM private key: {e}", a.key.display()),
        )
    })?;
    let cert = read_certificates(&a.cert)?
        .into_iter()
        .next()
        .ok_or_else(|| {
            Failure::new(
                "pki.bad_certificate",
                format!("{} holds no certificate", a.cert.display()),
            )
        })?;
    let chain = match &a.chain {
        Some(p) => read_certificates(p)?,
        None => Vec::new(),
    };
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
    std::fs::write(&a.output, signed).map_err(|e| Failure::io(&a.output, e))
}

fn read_certificates(path: &Path) -> Result<Vec<X509>, Failure> {
    let pem = std::fs::read(path).map_err(|e| Failure::io(path, e))?;
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
            .map_err(|e| {
            Failure::new("cli.usage", format!("--at {t}: not an RFC 3339 time ({e})"))
        })?,
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
    let input = read_input(&a.input, policy.limits)?;
    let verdict = trust::verify_packet(&input, &store, bindings.as_ref(), &policy)
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    let line = serde_json::to_string(&verdict.summary())
        .map_err(|e| Failure::new("internal.json", e.to_string()))?;
    println!("{line}");
    Ok(())
}

// ---- Administration: database and directory -------------------------------------------------

#[derive(Subcommand)]
enum AgencyCommand {
    /// Import agencies from a CSV or JSON file (by extension); all rows or none.
    ///
    /// CSV header: code,name,parent,push_endpoint,clerk_emails,certificate_sha256 (lists
    /// ;-separated). JSON: an array of objects with the same fields. A row replaces the
    /// agency's record, certificate list included.
    Import(ImportArgs),
    /// List the agencies of the directory.
    List(ListArgs),
    /// API credentials (system id + secret) of an agency's system.
    #[command(subcommand)]
    Credential(CredentialCommand),
}

#[derive(Subcommand)]
enum CredentialCommand {
    /// Create a credential and print its secret (the only time it is shown) as JSON.
    Create(CredentialCreateArgs),
    /// Revoke a credential: the system can no longer log in with it.
    Revoke(CredentialRevokeArgs),
}

#[derive(Args)]
struct CredentialCreateArgs {
    /// The agency's code.
    code: String,
    /// The system id (default: CODE-<8 random hex digits>).
    #[arg(long)]
    system_id: Option<String>,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Args)]
struct CredentialRevokeArgs {
    system_id: String,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Args)]
struct ServeArgs {
    /// Configuration file (TOML); see src/config.rs for every setting.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Database URL (overrides the configuration).
    #[arg(long)]
    database_url: Option<String>,
    /// Plain HTTP listener, e.g. 127.0.0.1:8080 (port 0: any free port; overrides the configuration).
    #[arg(long)]
    bind: Option<std::net::SocketAddr>,
}

#[derive(Args)]
struct DatabaseArgs {
    /// Database URL, e.g. sqlite://./data/lienthong.db?mode=rwc or postgres://user@host/db
    /// (default: LIENTHONG_DATABASE_URL, the configuration file's, else the dev SQLite file).
    #[arg(long)]
    database_url: Option<String>,
    /// Configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct ImportArgs {
    /// The CSV or JSON file.
    file: PathBuf,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Args)]
struct ListArgs {
    /// Print JSON in the import format instead of a table.
    #[arg(long)]
    json: bool,
    /// Only the agencies directly under this one.
    #[arg(long)]
    parent: Option<String>,
    /// Only codes starting with this text.
    #[arg(long)]
    prefix: Option<String>,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Runs an async admin task on a small runtime of its own.
fn run_async<F>(task: F) -> Result<(), Failure>
where
    F: std::future::Future<Output = Result<(), Failure>>,
{
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new("cli.io", format!("cannot start the async runtime: {e}")))?
        .block_on(task)
}

/// Connects to the database the arguments and configuration name, migrated.
async fn open_store(args: &DatabaseArgs) -> Result<lienthong::store::Store, Failure> {
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None => {
            lienthong::config::StorageConfig::load(args.config.as_deref())
                .map_err(|e| Failure::new(e.code(), e.to_string()))?
                .database_url
        }
    };
    let store = lienthong::store::Store::connect(&url)
        .await
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    Ok(store)
}

/// Opens the store, applies pending migrations, runs `work` on the directory, and closes the
/// store whatever `work` returned (so SQLite's WAL is checkpointed on every path).
async fn with_directory<T, F, Fut>(database: &DatabaseArgs, work: F) -> Result<T, Failure>
where
    F: FnOnce(lienthong::directory::Directory) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let store = open_store(database).await?;
    let outcome = async {
        store
            .migrate()
            .await
            .map_err(|e| Failure::new(e.code(), e.to_string()))?;
        work(lienthong::directory::Directory::new(store.clone())).await
    }
    .await;
    store.close().await;
    outcome
}

fn directory_failure(e: lienthong::directory::DirectoryError) -> Failure {
    Failure::new(e.code(), e.to_string())
}

fn migrate(a: DatabaseArgs) -> Result<(), Failure> {
    run_async(async move {
        let store = open_store(&a).await?;
        let report = store
            .migrate()
            .await
            .map_err(|e| Failure::new(e.code(), e.to_string()));
        store.close().await;
        let report = report?;
        if report.applied.is_empty() {
            println!("schema already at version {}", report.version);
        } else {
            let applied: Vec<String> = report.applied.iter().map(i64::to_string).collect();
            let noun = if applied.len() == 1 {
                "migration"
            } else {
                "migrations"
            };
            println!(
                "applied {noun} {}; schema at version {}",
                applied.join(", "),
                report.version
            );
        }
        Ok(())
    })
}

fn agency_import(a: ImportArgs) -> Result<(), Failure> {
    run_async(async move {
        let report = with_directory(&a.database, |directory| async move {
            directory
                .import_file(&a.file)
                .await
                .map_err(directory_failure)
        })
        .await?;
        println!("{report}");
        Ok(())
    })
}

fn agency_list(a: ListArgs) -> Result<(), Failure> {
    run_async(async move {
        let store = open_store(&a.database).await?;
        let outcome = list_agencies(&store, &a).await;
        store.close().await;
        let text = outcome?;
        print!("{text}");
        Ok(())
    })
}

async fn list_agencies(store: &lienthong::store::Store, a: &ListArgs) -> Result<String, Failure> {
    use lienthong::directory::Directory;
    let fail = |e: lienthong::directory::DirectoryError| Failure::new(e.code(), e.to_string());
    store
        .migrate()
        .await
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    let parent = match &a.parent {
        Some(p) => Some(organ(p, "--parent")?.as_str().to_owned()),
        None => None,
    };
    let filter = lienthong::store::AgencyFilter {
        parent,
        prefix: a.prefix.clone(),
        ..Default::default()
    };
    let directory = Directory::new(store.clone());
    let agencies = directory.list(&filter).await.map_err(fail)?;
    let mut rows = Vec::with_capacity(agencies.len());
    for agency in agencies {
        let certificates = directory.certificates(&agency.code).await.map_err(fail)?;
        rows.push((agency, certificates));
    }
    if a.json {
        /// One agency in the import format, fields in the CSV header's order.
        #[derive(serde::Serialize)]
        struct Listed<'a> {
            code: &'a str,
            name: &'a str,
            parent: Option<&'a str>,
            push_endpoint: Option<&'a str>,
            clerk_emails: Vec<&'a str>,
            certificate_sha256: Vec<String>,
            active: bool,
        }
        let entries: Vec<Listed<'_>> = rows
            .iter()
            .map(|(agency, certs)| Listed {
                code: agency.code.as_str(),
                name: agency.name.as_str(),
                parent: agency.parent.as_ref().map(|p| p.as_str()),
                push_endpoint: agency.push_endpoint.as_ref().map(|e| e.as_str()),
                clerk_emails: agency.clerk_emails.iter().map(|e| e.as_str()).collect(),
                certificate_sha256: certs.iter().map(|c| c.fingerprint.to_string()).collect(),
                active: agency.active,
            })
            .collect();
        let text = serde_json::to_string_pretty(&entries)
            .map_err(|e| Failure::new("internal.json", e.to_string()))?;
        return Ok(format!("{text}\n"));
    }
    let width = |f: &dyn Fn(&lienthong::directory::Agency) -> usize, title: &str| {
        rows.iter()
            .map(|(agency, _)| f(agency))
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let code_w = width(&|a| a.code.as_str().chars().count(), "CODE");
    let parent_w = width(
        &|a| a.parent.as_ref().map_or(1, |p| p.as_str().chars().count()),
        "PARENT",
    );
    let mut out = format!(
        "{:code_w$}  {:parent_w$}  {:>5}  {:6}  NAME\n",
        "CODE", "PARENT", "CERTS", "ACTIVE"
    );
    for (agency, certs) in &rows {
        out.push_str(&format!(
            "{:code_w$}  {:parent_w$}  {:>5}  {:6}  {}\n",
            agency.code.as_str(),
            agency.parent.as_ref().map_or("-", |p| p.as_str()),
            certs.len(),
            if agency.active { "yes" } else { "no" },
            agency.name
        ));
    }
    out.push_str(&format!("{} agencies\n", rows.len()));
    Ok(out)
}

// ---- The server -------------------------------------------------------------------------------

fn serve(a: ServeArgs) -> Result<(), Failure> {
    let mut config = lienthong::config::Config::load(a.config.as_deref())
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    if let Some(url) = a.database_url {
        config.database_url = url;
    }
    if let Some(bind) = a.bind {
        config.http_bind = bind;
    }
    actix_web::rt::System::new()
        .block_on(lienthong::http::serve(config))
        .map_err(|e| Failure::new(e.code(), e.to_string()))
}

fn credential_create(a: CredentialCreateArgs) -> Result<(), Failure> {
    let code = organ(&a.code, "CODE")?;
    let system_id = match &a.system_id {
        Some(id) => id.clone(),
        None => {
            let mut random = [0u8; 4];
            openssl::rand::rand_bytes(&mut random)
                .map_err(|e| Failure::new("internal.crypto", e.to_string()))?;
            format!("{}-{}", code.as_str(), hex::encode(random))
        }
    };
    let system_id = lienthong::directory::SystemId::parse(&system_id)
        .map_err(|e| Failure::new("cli.usage", format!("--system-id: {e}")))?;
    run_async(async move {
        let created = with_directory(&a.database, |directory| async move {
            directory
                .create_credential(&code, &system_id)
                .await
                .map_err(directory_failure)
        })
        .await?;
        let line = serde_json::json!({
            "agency": created.agency.as_str(),
            "system_id": created.system_id.as_str(),
            "secret": created.secret.expose(),
        });
        println!("{line}");
        Ok(())
    })
}

fn credential_revoke(a: CredentialRevokeArgs) -> Result<(), Failure> {
    let system_id = lienthong::directory::SystemId::parse(&a.system_id)
        .map_err(|e| Failure::new("cli.usage", format!("SYSTEM_ID: {e}")))?;
    run_async(async move {
        let id = &system_id;
        let revoked = with_directory(&a.database, |directory| async move {
            directory
                .revoke_credential(id)
                .await
                .map_err(directory_failure)
        })
        .await?;
        if revoked {
            println!("revoked {system_id}");
            Ok(())
        } else {
            Err(Failure::new(
                "directory.unknown_credential",
                format!("{system_id} has no credential that is not revoked already"),
            ))
        }
    })
}
