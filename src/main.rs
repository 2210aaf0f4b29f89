//! The `lienthong` command: the exchange server (`serve`), the agency side (`client`), building,
//! signing and verifying edXML packets (`packet`), the configuration (`config`), the dev PKI
//! (`certs dev`), and the administration of the database and the directory.
//!
//! Failures print `error[CODE]: sentence` on stderr and exit non-zero (`cli::Failure`); CODE is
//! one of docs/ERRORS.md.

#![deny(unsafe_code)]

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use cli::packet::organ;
use cli::Failure;

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
    /// Talk to an exchange as an agency's system: send, inbox, fetch, ack, status, receipt, evidence.
    Client(cli::client::ClientArgs),
    /// Build, sign and verify edXML packets.
    #[command(subcommand)]
    Packet(cli::packet::PacketCommand),
    /// Check a configuration, or print a commented example.
    #[command(subcommand)]
    Config(cli::config::ConfigCommand),
    /// The dev/test PKI the binary carries (its private keys are public).
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Create or update the database schema (also done at every server start).
    Migrate(DatabaseArgs),
    /// Back up a SQLite installation while it runs: a consistent copy of the database and every
    /// blob it refers to (re-hashed), into a folder that can serve as a data directory.
    Backup(BackupArgs),
    /// The directory of agencies: import, list.
    #[command(subcommand)]
    Agency(AgencyCommand),
    /// Pushes to agency systems: list them by state, show one, send a parked one again, park one.
    #[command(subcommand)]
    Delivery(DeliveryCommand),
    /// Auditors: read-only credentials over the audit routes and traces of a scope.
    #[command(subcommand)]
    Auditor(AuditorCommand),
    /// The audit log: verify it (over the database or an export), export a period, make a key.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum AuditorCommand {
    /// Create an auditor's credential and print its secret (the only time it is shown) as
    /// JSON; revoke it with `agency credential revoke SYSTEM_ID`.
    Create(AuditorCreateArgs),
}

#[derive(Args)]
struct AuditorCreateArgs {
    /// What the auditor reads: an agency's code (that agency and every unit below it in the
    /// directory), or `all`.
    #[arg(long, value_name = "CODE|all")]
    scope: String,
    /// The agency the auditor works for (default: the scope's agency; needed with --scope all).
    #[arg(long, value_name = "CODE")]
    agency: Option<String>,
    /// The system id (default: auditor-<8 random hex digits>).
    #[arg(long)]
    system_id: Option<String>,
    /// Also grant the packets' bytes (GET /v1/packets/{id}), not only their metadata.
    #[arg(long)]
    packets: bool,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the log's Merkle tree from its events and check every leaf, kept subtree and
    /// checkpoint (signature and root); names the first event that does not match.
    /// With --bundle FILE: check an export with no server and no database.
    Verify(AuditVerifyArgs),
    /// Write the events of a period (optionally of one agency and its units) with their
    /// inclusion proofs in the latest signed checkpoint: a bundle anyone can check offline
    /// with `audit verify --bundle`.
    Export(AuditExportArgs),
    /// A month's statistics per agency (sent, received, acknowledged, within the deadline,
    /// overdue, refused, median times to acknowledge and to 03), as CSV or JSON.
    Stats(AuditStatsArgs),
    /// Make an Ed25519 log key (signed-note form) for `audit.key_file`; prints its verifier key.
    Keygen(AuditKeygenArgs),
}

#[derive(Args)]
struct AuditVerifyArgs {
    /// The log's verifier key (`NAME+ID+KEY`, as GET /v1/audit/key gives it). Default: the
    /// one of the server's key file (audit.key_file, else DATA_DIR/audit-log.key).
    #[arg(long)]
    vkey: Option<String>,
    /// Check this export bundle instead of the database (with --vkey, against that key;
    /// without, against the key the bundle names).
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Args)]
#[command(
    after_help = "DATE is a day such as 2026-11-30 (Vietnam's time, UTC+07:00, the whole day \
included) or an RFC 3339 time such as 2026-11-30T08:00:00+07:00."
)]
struct AuditExportArgs {
    /// The first day (or instant) of the period.
    #[arg(long, value_name = "DATE")]
    from: String,
    /// The last day of the period (included), or the instant it ends.
    #[arg(long, value_name = "DATE")]
    to: String,
    /// Only events about letters this agency, or a unit below it, sent or received.
    #[arg(long, value_name = "CODE")]
    agency: Option<String>,
    /// Where to write the bundle (a new file; default: standard output).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The log's verifier key; default: the one of the server's key file.
    #[arg(long)]
    vkey: Option<String>,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Args)]
struct AuditStatsArgs {
    /// The month, e.g. 2026-11 (Vietnam's time).
    #[arg(long)]
    month: String,
    /// Only this agency's row.
    #[arg(long, value_name = "CODE")]
    agency: Option<String>,
    /// csv or json.
    #[arg(long, default_value = "csv")]
    format: String,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Args)]
struct AuditKeygenArgs {
    /// The log's name (its checkpoints' origin line), e.g. lienthong.example.gov.vn/audit.
    #[arg(long)]
    origin: String,
    /// Where to write the key (created with mode 0600; never overwritten).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Subcommand)]
enum DeliveryCommand {
    /// List pushes in a state (default: parked), oldest first.
    List(DeliveryListArgs),
    /// Show the push of one delivery (JSON).
    Show(DeliveryArgs),
    /// Send a parked (or retrying) push again now, with a fresh retry window.
    Retry(DeliveryArgs),
    /// Park a push still to be made; the letter waits in the pull inbox.
    Park(DeliveryParkArgs),
}

#[derive(Args)]
struct DeliveryListArgs {
    /// pending, retrying, delivered, parked or skipped.
    #[arg(long, default_value = "parked")]
    state: String,
    /// Only pushes of letters this agency sent or receives.
    #[arg(long)]
    agency: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Args)]
struct DeliveryArgs {
    /// The delivery number (X-Lienthong-Delivery of its pushes).
    delivery: i64,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Args)]
struct DeliveryParkArgs {
    /// The delivery number (X-Lienthong-Delivery of its pushes).
    delivery: i64,
    /// Why, for the record (shown with the push).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    database: DatabaseArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => serve(a),
        Command::Client(a) => cli::client::run(a),
        Command::Packet(c) => cli::packet::run(c),
        Command::Config(c) => cli::config::run(c),
        Command::Certs(CertsCommand::Dev { dir }) => certs_dev(&dir),
        Command::Backup(a) => backup(a),
        Command::Migrate(a) => migrate(a),
        Command::Agency(AgencyCommand::Import(a)) => agency_import(a),
        Command::Agency(AgencyCommand::List(a)) => agency_list(a),
        Command::Agency(AgencyCommand::Push(a)) => agency_push(a),
        Command::Delivery(c) => delivery(c),
        Command::Auditor(AuditorCommand::Create(a)) => auditor_create(a),
        Command::Audit(AuditCommand::Verify(a)) => audit_verify(a),
        Command::Audit(AuditCommand::Export(a)) => audit_export(a),
        Command::Audit(AuditCommand::Stats(a)) => audit_stats(a),
        Command::Audit(AuditCommand::Keygen(a)) => cli::audit::keygen(&a.origin, &a.out),
        Command::Agency(AgencyCommand::Credential(CredentialCommand::Create(a))) => {
            credential_create(a)
        }
        Command::Agency(AgencyCommand::Credential(CredentialCommand::Revoke(a))) => {
            credential_revoke(a)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(),
    }
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Write the dev PKI (CAs, CRLs, agency keys and certificates, bindings.json) into DIR, to
    /// sign test letters with. Test material only: its private keys are public.
    Dev {
        /// The folder to write (created when missing).
        dir: PathBuf,
    },
}

fn certs_dev(dir: &std::path::Path) -> Result<(), Failure> {
    let written = lienthong::pki::dev::write_out(dir).map_err(|e| Failure::io(dir, e))?;
    println!(
        "wrote {written} of {} dev PKI files to {} (test material: the private keys are public)",
        lienthong::pki::dev::FILES.len(),
        dir.display()
    );
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
    /// An agency's push: the endpoint its document system takes letters at (POST, signed with
    /// the receipt key, RFC 9421), and whether pushes are on. Without options: prints it.
    Push(PushArgs),
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
    /// An operator's credential (of the exchange's own agency): besides that agency's letters,
    /// it sees the delivery work of every agency (GET /v1/deliveries).
    #[arg(long)]
    operator: bool,
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
    /// Configuration file (TOML); `lienthong config example` shows every setting.
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
#[command(
    after_help = "Restore: stop the server, then use the folder as the data directory \
(LIENTHONG_DATA_DIR=DIR LIENTHONG_DATABASE_URL=sqlite://DIR/lienthong.db?mode=rwc), or move it to ./data."
)]
struct BackupArgs {
    /// A new folder for the backup.
    dir: PathBuf,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Args)]
struct ImportArgs {
    /// The CSV or JSON file.
    file: PathBuf,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Args)]
struct PushArgs {
    /// The agency's code.
    code: String,
    /// The endpoint (https://… or http://…) that takes POSTed packets.
    #[arg(long, conflicts_with = "no_endpoint")]
    endpoint: Option<String>,
    /// Remove the endpoint: letters wait in the pull inbox only.
    #[arg(long)]
    no_endpoint: bool,
    /// Switch pushes on.
    #[arg(long, conflicts_with = "off")]
    on: bool,
    /// Switch pushes off (the endpoint stays recorded; letters wait in the pull inbox).
    #[arg(long)]
    off: bool,
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
    /// Only the agencies below this one, at any depth (e.g. a whole province).
    #[arg(long)]
    under: Option<String>,
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
    with_store(database, |store| {
        work(lienthong::directory::Directory::new(store))
    })
    .await
}

/// Runs `work` on the migrated store of `database`, and closes it after.
async fn with_store<T, F, Fut>(database: &DatabaseArgs, work: F) -> Result<T, Failure>
where
    F: FnOnce(lienthong::store::Store) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let store = open_store(database).await?;
    let outcome = async {
        store
            .migrate()
            .await
            .map_err(|e| Failure::new(e.code(), e.to_string()))?;
        work(store.clone()).await
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

fn backup(a: BackupArgs) -> Result<(), Failure> {
    let storage = lienthong::config::StorageConfig::load(a.database.config.as_deref())
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    let data_dir = storage.data_dir.clone();
    run_async(async move {
        let store = open_store(&a.database).await?;
        let blobs = lienthong::store::BlobStore::open(&data_dir);
        let outcome = match blobs {
            Ok(blobs) => store.backup(&blobs, &a.dir).await,
            Err(e) => Err(e),
        };
        store.close().await;
        let report = outcome.map_err(|e| Failure::new(e.code(), e.to_string()))?;
        println!(
            "backed up {} packets to {} and {} blobs ({} bytes) to {}",
            report.packets,
            report.database.display(),
            report.blobs,
            report.blob_bytes,
            a.dir.join("blobs").display()
        );
        // The folder serves as a data directory: the log key that lives in the data directory
        // goes with it, so that the restored server goes on with the same log.
        if storage.audit_key_file.is_none() {
            let key = data_dir.join(lienthong::audit::log::DEFAULT_KEY_FILE);
            if let Ok(text) = std::fs::read_to_string(&key) {
                let copy = a.dir.join(lienthong::audit::log::DEFAULT_KEY_FILE);
                lienthong::audit::log::write_private(&copy, &text)
                    .map_err(|e| Failure::io(&copy, e))?;
                println!("copied the audit log key to {}", copy.display());
            }
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
        outcome
    })
}

async fn list_agencies(store: &lienthong::store::Store, a: &ListArgs) -> Result<(), Failure> {
    store
        .migrate()
        .await
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    let code = |given: &Option<String>, what: &str| -> Result<Option<String>, Failure> {
        given
            .as_deref()
            .map(|c| organ(c, what).map(|o| o.as_str().to_owned()))
            .transpose()
    };
    let filter = lienthong::store::AgencyFilter {
        parent: code(&a.parent, "--parent")?,
        under: code(&a.under, "--under")?,
        prefix: a.prefix.clone(),
        ..Default::default()
    };
    let directory = lienthong::directory::Directory::new(store.clone());
    cli::directory::list(&directory, filter, a.json).await?;
    Ok(())
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
    let system_id = system_id_or_new(a.system_id.as_deref(), code.as_str())?;
    let role = if a.operator {
        lienthong::directory::CredentialRole::Operator
    } else {
        lienthong::directory::CredentialRole::Agency
    };
    run_async(async move {
        let created = with_directory(&a.database, |directory| async move {
            directory
                .create_credential(&code, &system_id, role)
                .await
                .map_err(directory_failure)
        })
        .await?;
        let line = serde_json::json!({
            "agency": created.agency.as_str(),
            "system_id": created.system_id.as_str(),
            "secret": created.secret.expose(),
            "role": role.as_str(),
        });
        println!("{line}");
        Ok(())
    })
}

/// The system id given, else `PREFIX-<8 random hex digits>`.
fn system_id_or_new(
    given: Option<&str>,
    prefix: &str,
) -> Result<lienthong::directory::SystemId, Failure> {
    let system_id = match given {
        Some(id) => id.to_owned(),
        None => {
            let mut random = [0u8; 4];
            openssl::rand::rand_bytes(&mut random)
                .map_err(|e| Failure::new("internal.crypto", e.to_string()))?;
            format!("{prefix}-{}", hex::encode(random))
        }
    };
    lienthong::directory::SystemId::parse(&system_id)
        .map_err(|e| Failure::new("cli.usage", format!("--system-id: {e}")))
}

fn auditor_create(a: AuditorCreateArgs) -> Result<(), Failure> {
    let scope = match a.scope.as_str() {
        "all" => lienthong::store::scope::Scope::All,
        code => {
            lienthong::store::scope::Scope::Subtree(organ(code, "--scope")?.as_str().to_owned())
        }
    };
    let agency = match (a.agency.as_deref(), scope.root()) {
        (Some(code), _) | (None, Some(code)) => organ(code, "--agency")?,
        (None, None) => {
            return Err(Failure::usage(
                "--scope all needs --agency: the code of the agency the auditor works for",
            ))
        }
    };
    let system_id = system_id_or_new(a.system_id.as_deref(), "auditor")?;
    let grant = lienthong::directory::AuditorGrant {
        scope,
        reads_packets: a.packets,
    };
    run_async(async move {
        let created = with_directory(&a.database, |directory| {
            let grant = grant.clone();
            async move {
                directory
                    .create_auditor(&agency, &system_id, &grant)
                    .await
                    .map_err(directory_failure)
            }
        })
        .await?;
        let line = serde_json::json!({
            "agency": created.agency.as_str(),
            "system_id": created.system_id.as_str(),
            "secret": created.secret.expose(),
            "role": "auditor",
            "scope": grant.scope.as_str(),
            "packets": grant.reads_packets,
        });
        println!("{line}");
        Ok(())
    })
}

fn agency_push(a: PushArgs) -> Result<(), Failure> {
    let code = organ(&a.code, "CODE")?;
    let endpoint = match (&a.endpoint, a.no_endpoint) {
        (Some(url), _) => Some(Some(
            lienthong::directory::PushEndpoint::parse(url)
                .map_err(|e| Failure::new("cli.usage", format!("--endpoint: {e}")))?,
        )),
        (None, true) => Some(None),
        (None, false) => None,
    };
    let enabled = match (a.on, a.off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    run_async(async move {
        let code = &code;
        let (endpoint, enabled) = with_directory(&a.database, |directory| async move {
            directory
                .set_push(code, endpoint, enabled)
                .await
                .map_err(directory_failure)
        })
        .await?;
        let state = if enabled { "on" } else { "off" };
        match endpoint {
            Some(url) => println!("{code}: push {state}, endpoint {url}"),
            None => println!("{code}: push {state}, no endpoint (letters wait in the pull inbox)"),
        }
        Ok(())
    })
}

fn delivery(command: DeliveryCommand) -> Result<(), Failure> {
    let database = match &command {
        DeliveryCommand::List(a) => &a.database,
        DeliveryCommand::Show(a) | DeliveryCommand::Retry(a) => &a.database,
        DeliveryCommand::Park(a) => &a.database,
    };
    let command = &command;
    run_async(with_store(database, |store| async move {
        match command {
            DeliveryCommand::List(a) => {
                let state = cli::delivery::state(&a.state)?;
                let agency = a
                    .agency
                    .as_deref()
                    .map(|c| organ(c, "--agency").map(|o| o.as_str().to_owned()))
                    .transpose()?;
                cli::delivery::list(&store, state, agency.as_deref(), a.json).await
            }
            DeliveryCommand::Show(a) => cli::delivery::show(&store, a.delivery).await,
            DeliveryCommand::Retry(a) => cli::delivery::retry(&store, a.delivery).await,
            DeliveryCommand::Park(a) => cli::delivery::park(&store, a.delivery, &a.reason).await,
        }
    }))
}

fn audit_verify(a: AuditVerifyArgs) -> Result<(), Failure> {
    if let Some(bundle) = &a.bundle {
        return cli::audit::verify_bundle(bundle, a.vkey.as_deref());
    }
    let storage = lienthong::config::StorageConfig::load(a.database.config.as_deref())
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    let verifier = cli::audit::verifier(
        a.vkey.as_deref(),
        storage.audit_key_file.as_deref(),
        &storage.data_dir,
    )?;
    run_async(with_store(&a.database, |store| async move {
        cli::audit::verify(&store, &verifier).await
    }))
}

fn audit_export(a: AuditExportArgs) -> Result<(), Failure> {
    let period = lienthong::audit::period::Period::between(&a.from, &a.to)
        .map_err(|e| Failure::usage(format!("--from/--to: {e}")))?;
    let scope = match &a.agency {
        Some(code) => {
            lienthong::store::scope::Scope::Subtree(organ(code, "--agency")?.as_str().to_owned())
        }
        None => lienthong::store::scope::Scope::All,
    };
    let storage = lienthong::config::StorageConfig::load(a.database.config.as_deref())
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    let verifier = cli::audit::verifier(
        a.vkey.as_deref(),
        storage.audit_key_file.as_deref(),
        &storage.data_dir,
    )?;
    let request = lienthong::audit::export::Request { period, scope };
    run_async(with_store(&a.database, |store| async move {
        cli::audit::export(&store, &verifier, &request, a.out.as_deref()).await
    }))
}

fn audit_stats(a: AuditStatsArgs) -> Result<(), Failure> {
    if !matches!(a.format.as_str(), "csv" | "json") {
        return Err(Failure::usage(format!(
            "--format {}: give csv or json",
            a.format
        )));
    }
    let agency = a
        .agency
        .as_deref()
        .map(|code| organ(code, "--agency"))
        .transpose()?;
    let config = lienthong::config::Config::load(a.database.config.as_deref())
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    let windows = config.deadlines.windows();
    let (month, format) = (a.month, a.format);
    run_async(with_store(&a.database, |store| async move {
        let started = std::time::Instant::now();
        let agency = agency.as_ref().map(|c| c.as_str());
        let rows = lienthong::audit::stats::month(&store, None, &month, agency, &windows)
            .await
            .map_err(|e| Failure::new(e.code(), e.to_string()))?;
        match format.as_str() {
            "json" => println!("{}", serde_json::json!({"month": month, "agencies": rows})),
            _ => print!("{}", lienthong::audit::stats::csv(&rows)),
        }
        eprintln!(
            "{} agencies in {month} ({:.2} s)",
            rows.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }))
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
