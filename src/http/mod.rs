//! The HTTP edge: an actix-web app over [`crate::exchange`] — routes, authentication, the one
//! `ApiError` → `{code, message}` mapping, metrics, the OpenAPI description — and `serve`,
//! which opens everything the configuration names and runs the listeners.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = lienthong::config::Config::load(None)?; // dev mode when nothing is configured
//! actix_web::rt::System::new().block_on(lienthong::http::serve(config))?;
//! # Ok(()) }
//! ```
//!
//! Each request runs in a `request` tracing span (method, path, authenticated agency,
//! DocumentId once known); secrets and packet bodies are never logged. A packet of at most
//! 64 KiB is verified and its receipt signed on the actix worker that received it (tens of
//! microseconds: less than handing it to another thread would cost); a larger packet's
//! verification and blob fsync run on blocking threads.

mod audit;
mod auth;
mod deliveries;
mod dev;
mod error;
mod evidence;
mod listen;
mod metrics;
mod overdue;
mod pace;
mod routes;
mod throttle;
mod tls;

use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::Service as _;
use actix_web::{web, App};
use tracing::Instrument as _;

use crate::audit::log::{self as audit_log, Log};
use crate::audit::refusals::Refusals;
use crate::config::{Config, ConfigError, EdgeConfig, LogFormat, TrustConfig};
use crate::delivery::deadlines::Deadlines;
use crate::delivery::signature::MessageSigner;
use crate::delivery::{DeliveryRuntime, MailError, Mailer, PushError, Pushes};
use crate::directory::{Directory, DirectoryError};
use crate::exchange::{Exchange, ExchangeError, ExchangeLimits, ReceiptSigner, TrustSettings};
use crate::pki::{CrlFetcher, FetchConfig, PkiError, TrustStore};
use crate::store::{BlobStore, Store, StoreError};

pub use auth::{Caller, ClientCertificate, SECRET_HEADER, SYSTEM_HEADER};
pub use error::ApiError;
pub use metrics::Metrics;
pub use routes::{OPENAPI, ROUTES};

/// The folder of `data_dir` where the CRL refresher keeps the last good CRLs.
const CRL_CACHE_SUBDIR: &str = "crl-cache";

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub exchange: Exchange,
    pub metrics: Arc<Metrics>,
    /// Deadlines and limits of the connections.
    pub edge: EdgeConfig,
    /// Failed-authentication counters.
    pub logins: throttle::FailedLogins,
    /// This node's push workers (none when `push.enabled` is false).
    pub pushes: Option<Pushes>,
    /// This node's mail worker (none without `smtp.url`).
    pub mailer: Option<Mailer>,
    /// The overdue job, and the overdue lists.
    pub deadlines: Deadlines,
    /// The audit log's integrator and key.
    pub audit: Log,
    /// Refused packets, counted per caller, code and minute for the audit log.
    pub refusals: Refusals,
}

/// Why the server could not start (or stopped with an error).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    /// A listener cannot be opened.
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: String, reason: String },
    /// The TLS listener's certificate, key or client CAs cannot be used.
    #[error("cannot set up the TLS listener: {0}")]
    Tls(String),
    /// The server stopped with an I/O error.
    #[error("the server failed: {0}")]
    Io(String),
    /// Pushes cannot be signed or sent.
    #[error("cannot push: {0}")]
    Delivery(#[from] PushError),
    /// Mails cannot be sent as configured.
    #[error("cannot mail: {0}")]
    Mail(#[from] MailError),
    #[error(transparent)]
    AuditKey(#[from] audit_log::KeyError),
}

impl ServeError {
    /// Stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            ServeError::Config(e) => e.code(),
            ServeError::Store(e) => e.code(),
            ServeError::Directory(e) => e.code(),
            ServeError::Pki(e) => e.code(),
            ServeError::Exchange(e) => e.code(),
            ServeError::Bind { .. } => "http.bind",
            ServeError::Tls(_) => "http.tls",
            ServeError::Io(_) => "http.io",
            ServeError::Delivery(_) | ServeError::Mail(_) => "delivery.setup",
            ServeError::AuditKey(_) => "audit.key",
        }
    }
}

/// Binds the listeners, then opens the trust material and the receipt key, the database
/// (migrating it) and the blob store, seeds the demo directory in dev mode, and serves until
/// SIGINT/SIGTERM. Prints `listening on SCHEME://ADDR` on stdout for each listener once bound
/// (port 0 picks a free port). Nothing is written to disk until the listeners are bound and the
/// trust material has been read, so a configuration that cannot work leaves nothing behind.
/// Must run inside an actix system (`actix_web::rt::System`).
pub async fn serve(config: Config) -> Result<(), ServeError> {
    init_tracing(&config.log, config.log_format);
    raise_open_files_limit(config.edge.max_connections);
    let listeners = Listeners::bind(&config)?;
    if let Some(dir) = config.dev_pki_dir() {
        dev::write_pki(&dir)?;
    } else {
        dev::warn_of_dev_material(&config);
    }
    let tls_acceptor = match &config.tls {
        Some(tls) => Some(tls::acceptor(tls, &config.trust)?),
        None => None,
    };
    let trust = trust_settings(&config.trust)?;
    let receipts = ReceiptSigner::load(&config.receipts.cert, &config.receipts.key)?;
    let store = Store::connect(&config.database_url).await?;
    let outcome = run(
        &config,
        store.clone(),
        listeners,
        tls_acceptor,
        trust,
        receipts,
    )
    .await;
    store.close().await;
    outcome
}

/// Raises the soft limit on open files to the hard limit: every connection is a descriptor, and
/// distributions start services with a soft limit of 1,024, which a few hundred idle clients
/// exhaust (`accept` then fails with EMFILE and even /healthz waits).
/// Warns when the limit leaves no room for `http.max_connections` (plus the database, blobs and
/// CRL downloads): past the limit `accept` fails and every client waits, health checks included.
fn raise_open_files_limit(max_connections: u32) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < u64::from(max_connections) + 256 => tracing::warn!(
            limit,
            max_connections,
            "the open files limit is below http.max_connections + 256: raise LimitNOFILE \
             (systemd) or ulimit -Hn, or lower http.max_connections"
        ),
        Ok(limit) => tracing::info!(limit, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
    }
}

/// How old a blob must be before a start may remove it for lack of a row: far longer than any
/// upload takes to commit, so that another node's blob between its rename and its commit (a
/// shared data directory) is never taken.
const ORPHAN_BLOB_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes blobs that no packet row names and that are older than [`ORPHAN_BLOB_AGE`]: what a
/// crash between a blob's rename and its transaction's commit leaves behind.
async fn sweep_orphan_blobs(store: &Store, blobs: &BlobStore) -> Result<(), ServeError> {
    let before = std::time::SystemTime::now() - ORPHAN_BLOB_AGE;
    let candidates = blobs.blobs_older_than(before)?;
    if candidates.is_empty() {
        return Ok(());
    }
    let mut conn = store.acquire().await?;
    let named: std::collections::HashSet<String> = crate::store::packets::blob_keys(&mut conn)
        .await?
        .into_iter()
        .collect();
    drop(conn);
    let mut removed = 0;
    for (key, path) in candidates {
        if !named.contains(&key.to_hex()) {
            std::fs::remove_file(&path)
                .map_err(|e| ServeError::Io(format!("cannot remove {}: {e}", path.display())))?;
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(
            removed,
            "removed blobs that no packet names (left by a crash before a commit)"
        );
    }
    Ok(())
}

/// Sweeps orphan blobs once a day while the server runs, so that a node that is never restarted
/// does not keep what crashes of other nodes sharing its data directory left behind.
fn sweep_daily(store: Store, blobs: BlobStore) {
    const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
    actix_web::rt::spawn(async move {
        let mut every =
            actix_web::rt::time::interval_at(actix_web::rt::time::Instant::now() + DAY, DAY);
        loop {
            every.tick().await;
            if let Err(e) = sweep_orphan_blobs(&store, &blobs).await {
                tracing::warn!(
                    code = e.code(),
                    "the daily sweep of orphan blobs failed: {e}"
                );
            }
        }
    });
}

/// The plain and TLS sockets, bound before anything else happens.
struct Listeners {
    http: std::net::TcpListener,
    tls: Option<std::net::TcpListener>,
}

impl Listeners {
    fn bind(config: &Config) -> Result<Listeners, ServeError> {
        let bind = |addr: std::net::SocketAddr| {
            std::net::TcpListener::bind(addr).map_err(|e| ServeError::Bind {
                addr: addr.to_string(),
                reason: e.to_string(),
            })
        };
        let http = bind(config.http_bind)?;
        let tls = match &config.tls {
            Some(tls) => Some(bind(tls.bind)?),
            None => None,
        };
        Ok(Listeners { http, tls })
    }

    /// Where the plain listener answers, as a client would name it.
    fn http_url(&self) -> Result<String, ServeError> {
        let addr = self
            .http
            .local_addr()
            .map_err(|e| ServeError::Io(e.to_string()))?;
        Ok(format!("http://{addr}"))
    }
}

async fn run(
    config: &Config,
    store: Store,
    listeners: Listeners,
    tls_acceptor: Option<openssl::ssl::SslAcceptorBuilder>,
    trust: TrustSettings,
    receipts: ReceiptSigner,
) -> Result<(), ServeError> {
    let migrated = store.migrate().await?;
    tracing::info!(
        database = %config.database_url_redacted(),
        schema = migrated.version,
        applied = ?migrated.applied,
        "database ready"
    );
    let blobs = BlobStore::open(&config.data_dir)?;
    let swept = blobs.remove_temporary_files()?;
    if swept > 0 {
        tracing::info!(swept, "removed unfinished uploads left by an earlier run");
    }
    sweep_orphan_blobs(&store, &blobs).await?;
    sweep_daily(store.clone(), blobs.clone());
    if let Some(fetcher) = trust.store.crl_fetcher() {
        // Once the data directory is in use: the refresher keeps the last good CRLs there, so
        // that a restart begins with them.
        let kept = config.data_dir.join(CRL_CACHE_SUBDIR);
        let restored = fetcher
            .spawn_refresher(Some(&kept))
            .map_err(|e| ServeError::Io(format!("cannot start the CRL refresher: {e}")))?;
        tracing::info!(restored, dir = %kept.display(), "CRL refresher started");
    }
    store.reserve_event_numbers().await?;
    let log_key = audit_log::load_key(&config.audit, &config.data_dir)?;
    tracing::info!(vkey = %log_key.verifier().to_vkey(), "audit log key");
    let directory = Directory::new(store.clone());
    if let Some(dir) = config.dev_pki_dir() {
        dev::seed_directory(&directory, &dir, &config.data_dir, &listeners.http_url()?).await?;
    }
    let limits = ExchangeLimits {
        max_packet_bytes: config.max_packet_bytes,
        in_flight_bytes: config.in_flight_bytes,
        agency_in_flight_bytes: config.agency_in_flight_bytes,
        agency_uploads: config.agency_uploads,
        directory_ttl: config.directory_ttl,
    };
    let push_signer = MessageSigner::new(receipts.key().clone(), receipts.certificate())
        .map_err(PushError::from)?;
    let exchange = Exchange::new(store, directory, blobs, trust, receipts, limits);
    let delivery = DeliveryRuntime::start()
        .map_err(|e| ServeError::Io(format!("cannot start delivery's threads: {e}")))?;
    let pushes = start_pushes(config, &exchange, push_signer, delivery.handle())?;
    let mailer = start_mailer(config, &exchange, delivery.handle())?;
    let audit = Log::new(exchange.store().clone(), log_key, config.audit.clone());
    audit.start();
    crate::audit::words::start(exchange.store().clone());
    let refusals = Refusals::new(exchange.store().clone());
    refusals.start();
    let deadlines = Deadlines::new(exchange.store().clone(), config.deadlines.clone());
    let wake_mailer = mailer.clone();
    deadlines.start(delivery.handle(), move || {
        if let Some(mailer) = &wake_mailer {
            mailer.wake();
        }
    });
    tracing::info!(
        max_packet_bytes = limits.max_packet_bytes,
        in_flight_bytes = exchange.in_flight().total(),
        agency_in_flight_bytes = exchange.in_flight().agency_total(),
        agency_uploads = limits.agency_uploads,
        directory_ttl_seconds = limits.directory_ttl.as_secs(),
        "exchange limits (the budgets as raised to fit one packet of the largest size)"
    );
    let state = web::Data::new(AppState {
        exchange,
        metrics: Arc::new(Metrics::default()),
        edge: config.edge.clone(),
        logins: throttle::FailedLogins::new(throttle::ThrottlePolicy {
            per_id: config.auth.max_failures_per_id,
            per_address: config.auth.max_failures_per_address,
            window: config.auth.failure_window,
        }),
        pushes,
        mailer,
        deadlines,
        audit,
        refusals: refusals.clone(),
    });
    let Listeners { http, tls } = listeners;
    let edge = &config.edge;
    tracing::info!(
        max_connections = edge.max_connections,
        header_timeout_seconds = edge.header_timeout.as_secs(),
        body_idle_timeout_seconds = edge.body_idle_timeout.as_secs(),
        body_min_bytes_per_second = edge.body_min_bytes_per_second,
        write_timeout_seconds = edge.write_timeout.as_secs(),
        "connection limits"
    );
    let mut sockets = vec![listen::Listener {
        socket: http,
        tls: None,
    }];
    if let (Some(socket), Some(acceptor)) = (tls, tls_acceptor) {
        sockets.push(listen::Listener {
            socket,
            tls: Some(acceptor.build()),
        });
    }
    for listener in &sockets {
        let scheme = if listener.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let addr = listener
            .socket
            .local_addr()
            .map_err(|e| ServeError::Io(e.to_string()))?;
        println!("listening on {scheme}://{addr}");
        tracing::info!(%addr, scheme, "listening");
    }
    let stopped = listen::run(state, edge, sockets).await;
    match refusals.close().await {
        Ok(written) => tracing::info!(written, "audit log: the counts of refusals written"),
        Err(error) => tracing::warn!(%error, "audit log: cannot write the counts of refusals"),
    }
    stopped
}

/// Starts this node's push workers, unless `push.enabled` is false.
fn start_pushes(
    config: &Config,
    exchange: &Exchange,
    signer: MessageSigner,
    runtime: &tokio::runtime::Handle,
) -> Result<Option<Pushes>, ServeError> {
    if !config.push.enabled {
        tracing::info!("push.enabled is false: this node makes no pushes (they stay queued for a node that does)");
        return Ok(None);
    }
    let pushes = Pushes::new(exchange.clone(), config.push.clone(), signer)?;
    pushes.start(runtime);
    Ok(Some(pushes))
}

/// Starts this node's mail worker, unless no SMTP server is configured (said once, here).
fn start_mailer(
    config: &Config,
    exchange: &Exchange,
    runtime: &tokio::runtime::Handle,
) -> Result<Option<Mailer>, ServeError> {
    let Some(mailer) = Mailer::new(exchange.store().clone(), config.mail.clone())? else {
        tracing::info!("smtp.url is not set: no mail is sent to clerks (mails stay queued)");
        return Ok(None);
    };
    mailer.start(runtime);
    Ok(Some(mailer))
}

/// The application: routes, shared state, error answers for bad parameters, a span per request.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let metrics = state.metrics.clone();
    let bad_parameter = |message: String| -> actix_web::Error {
        ApiError::bad_request("http.bad_request", message).into()
    };
    App::new()
        .app_data(state)
        .app_data(
            web::QueryConfig::default()
                .error_handler(move |e, _| bad_parameter(format!("query parameters: {e}"))),
        )
        .app_data(
            web::PathConfig::default()
                .error_handler(move |e, _| bad_parameter(format!("path: {e}"))),
        )
        .wrap_fn(move |req, srv| {
            let span = tracing::info_span!(
                "request",
                method = %req.method(),
                path = %req.path(),
                agency = tracing::field::Empty,
                document_id = tracing::field::Empty,
            );
            let started = Instant::now();
            let metrics = metrics.clone();
            let call = span.in_scope(|| srv.call(req));
            async move {
                let response = call.await;
                if let Ok(response) = &response {
                    let status = response.status().as_u16();
                    metrics.responded(status);
                    tracing::info!(
                        status,
                        micros = started.elapsed().as_micros() as u64,
                        "answered"
                    );
                }
                response
            }
            .instrument(span)
        })
        .configure(routes::configure)
        .default_service(web::to(routes::not_found))
}

fn init_tracing(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second server in the same process keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

fn trust_settings(config: &TrustConfig) -> Result<TrustSettings, ServeError> {
    let mut store =
        TrustStore::from_pem_files(&config.anchors, &config.intermediates, &config.crls)?;
    if config.fetch_crls {
        // Downloads happen on a thread of their own (started by `run`), never on a request's path.
        let fetcher = CrlFetcher::new(FetchConfig {
            background: true,
            mirrors: config.crl_mirrors.clone(),
            ..FetchConfig::default()
        });
        store = store.with_crl_fetcher(fetcher);
    }
    let mut settings = TrustSettings::new(store);
    settings.algorithms.allow_sha1 = config.allow_sha1;
    settings.crl_grace =
        std::time::Duration::from_secs(config.crl_grace_hours.saturating_mul(3600));
    Ok(settings)
}
