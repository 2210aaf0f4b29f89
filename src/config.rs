//! Settings of the server and the admin commands, from an optional TOML file (`--config`) and
//! `LIENTHONG_*` environment variables; the environment wins over the file, the file over the
//! defaults.
//!
//! Without a configuration file and without trust material (anchors, intermediates, CRLs, the
//! receipt key) lienthong runs in **dev mode**: SQLite under `./data`, the dev PKI the binary
//! carries (`pki::dev`, written out to `DATA_DIR/dev-pki`; its private keys are public), HTTP on
//! 127.0.0.1:8080, and a demo directory. Choosing the port, the database or the data directory
//! keeps dev mode. `dev = true` (`LIENTHONG_DEV=1`) asks for dev mode in a file too; `dev =
//! false` refuses it. Outside dev mode the trust anchors and the receipt key must be
//! configured: the dev PKI is never trusted by default, and a configuration that names it
//! anyway starts with a loud warning. docs/CONFIGURATION.md explains every setting.
//!
//! | file key | environment | default | meaning |
//! |---|---|---|---|
//! | `database_url` | `LIENTHONG_DATABASE_URL` | `sqlite://./data/lienthong.db?mode=rwc` | `sqlite://…` or `postgres://user[:password]@host:port/db` |
//! | `data_dir` | `LIENTHONG_DATA_DIR` | `./data` | blobs (packet bytes) and spool files |
//! | `dev` | `LIENTHONG_DEV` | no file and no trust material | dev mode (see above) |
//! | `max_packet_bytes` | `LIENTHONG_MAX_PACKET_BYTES` | 67108864 (64 MiB) | larger request bodies get 413 |
//! | `in_flight_bytes` | `LIENTHONG_IN_FLIGHT_BYTES` | 536870912 (512 MiB), or `max_packet_bytes` when larger | bytes of packets held in memory at once across all requests being received and verified; a request that does not fit waits. At least `max_packet_bytes`, at most 1 TiB |
//! | `agency_in_flight_bytes` | `LIENTHONG_AGENCY_IN_FLIGHT_BYTES` | a quarter of `in_flight_bytes`, at least `max_packet_bytes` | the share of the in-flight budget one agency's uploads may hold at once; the global budget stays the ceiling |
//! | `agency_uploads` | `LIENTHONG_AGENCY_UPLOADS` | 8 | uploads one agency may have under way at once; one more is refused with 429 `limits.busy` |
//! | `directory_ttl_seconds` | `LIENTHONG_DIRECTORY_TTL_SECONDS` | 10 | how long the cached directory (certificate bindings, active agencies) is used before it is reloaded: deactivations take up to this long to apply. 1 to 3600 |
//! | `log` | `LIENTHONG_LOG` | `info` | log filter (`tracing` env-filter syntax) |
//! | `log_format` | `LIENTHONG_LOG_FORMAT` | `text` | `text` (readable lines) or `json` (one object per line) |
//! | `http.bind` | `LIENTHONG_HTTP_BIND` | `127.0.0.1:8080` | plain HTTP listener (behind a TLS proxy, or dev) |
//! | `http.max_connections` | `LIENTHONG_HTTP_MAX_CONNECTIONS` | 10000 | open connections at most (all listeners); past it new connections wait in the kernel's backlog |
//! | `http.header_timeout_seconds` | `LIENTHONG_HTTP_HEADER_TIMEOUT_SECONDS` | 5 | a request's head must arrive within this time of the connection (or of the previous answer) |
//! | `http.body_idle_timeout_seconds` | `LIENTHONG_HTTP_BODY_IDLE_TIMEOUT_SECONDS` | 30 | an upload that sends nothing for this long is closed (408 `http.timeout`) |
//! | `http.body_min_bytes_per_second` | `LIENTHONG_HTTP_BODY_MIN_BYTES_PER_SECOND` | 1024 | after its first idle-timeout's worth of time, an upload slower than this on average is closed (408) |
//! | `http.write_timeout_seconds` | `LIENTHONG_HTTP_WRITE_TIMEOUT_SECONDS` | 60 | a connection whose peer takes nothing of an answer for this long is closed (the kernel's TCP user timeout) |
//! | `http.trusted_proxies` | `LIENTHONG_HTTP_TRUSTED_PROXIES` | none | addresses of TLS-terminating proxies whose `X-Forwarded-For` names the client (for failed-login throttling); variable: separated by spaces |
//! | `auth.max_failures_per_id` | `LIENTHONG_AUTH_MAX_FAILURES_PER_ID` | 10 | wrong secrets per system id per window; then guesses get 429 until the window ends (a secret that verified before still passes) |
//! | `auth.max_failures_per_address` | `LIENTHONG_AUTH_MAX_FAILURES_PER_ADDRESS` | 100 | wrong secrets per client address per window; then guesses from that address get 429 (secrets that verified before still pass) |
//! | `auth.failure_window_seconds` | `LIENTHONG_AUTH_FAILURE_WINDOW_SECONDS` | 60 | the window of both counters |
//! | `push.enabled` | `LIENTHONG_PUSH_ENABLED` | true | whether this node pushes letters to the agencies' endpoints (off: the pushes still queue, for a node that has it on) |
//! | `push.workers` | `LIENTHONG_PUSH_WORKERS` | 16 | pushes in flight at once on this node. 1 to 10,000 |
//! | `push.per_endpoint` | `LIENTHONG_PUSH_PER_ENDPOINT` | 4 | pushes in flight at once to one endpoint. 1 to 10,000 |
//! | `push.timeout_seconds` | `LIENTHONG_PUSH_TIMEOUT_SECONDS` | 30 | how long one push may take, connecting included. 1 to 3600 |
//! | `push.retry_first_seconds` | `LIENTHONG_PUSH_RETRY_FIRST_SECONDS` | 10 | the wait before the first retry; it doubles, with jitter, on each failure. 1 to 86,400 |
//! | `push.retry_max_seconds` | `LIENTHONG_PUSH_RETRY_MAX_SECONDS` | 3600, or `retry_first_seconds` when larger | the longest wait between two attempts. At least `retry_first_seconds`, at most 604,800 (a week) |
//! | `push.retry_window_hours` | `LIENTHONG_PUSH_RETRY_WINDOW_HOURS` | 72 | how long after its acceptance a delivery is retried before it is parked; 0 parks it at the first failure. 0 to 8760 |
//! | `push.retry_window_seconds` | `LIENTHONG_PUSH_RETRY_WINDOW_SECONDS` | none | the same window in seconds (for tests); when given, it wins over `retry_window_hours`. 0 to 31,536,000 |
//! | `push.breaker_failures` | `LIENTHONG_PUSH_BREAKER_FAILURES` | 5 | consecutive failures of an endpoint that open its circuit breaker. 1 to 10,000 |
//! | `push.breaker_probe_seconds` | `LIENTHONG_PUSH_BREAKER_PROBE_SECONDS` | 30 | while a breaker is open, one probe push per this interval. 1 to 3600 |
//! | `push.client_cert`, `push.client_key` | `LIENTHONG_PUSH_CLIENT_CERT`, `LIENTHONG_PUSH_CLIENT_KEY` | none | the exchange's client certificate chain and key (PEM) for https endpoints that ask for one; both or neither |
//! | `smtp.url` | `LIENTHONG_SMTP_URL` | none | the SMTP server clerks' mails go through: `smtp://host[:port]` (`?tls=required` for STARTTLS) or `smtps://[user:password@]host[:port]`; none: nothing is mailed. The password never appears in messages, logs or `config check` |
//! | `smtp.from` | `LIENTHONG_SMTP_FROM` | none | the sender of the mails, `name <local@domain>` or `local@domain`; required with `smtp.url` |
//! | `smtp.timeout_seconds` | `LIENTHONG_SMTP_TIMEOUT_SECONDS` | 30 | how long one SMTP exchange may take. 1 to 3600 |
//! | `mail.gather_seconds` | `LIENTHONG_MAIL_GATHER_SECONDS` | 60 | mails to the same clerks within this time go out as one digest; 0 sends each at once. 0 to 3600 |
//! | `mail.retry_window_hours` | `LIENTHONG_MAIL_RETRY_WINDOW_HOURS` | 24 | how long after its event a mail is retried when SMTP fails, before it is given up. 0 to 8760 |
//! | `mail.retry_window_seconds` | `LIENTHONG_MAIL_RETRY_WINDOW_SECONDS` | none | the same window in seconds (for tests); when given, it wins over `retry_window_hours`. 0 to 31,536,000 |
//! | `deadlines.normal_hours` | `LIENTHONG_DEADLINES_NORMAL_HOURS` | 24 | the time a letter of priority thường (priority 0, or none) has to be acknowledged (taken by pull or push, or any status) from its acceptance; decimals allowed. More than 0, at most 8760 |
//! | `deadlines.khan_hours` | `LIENTHONG_DEADLINES_KHAN_HOURS` | 8 | the time a letter of priority khẩn (1) has to be acknowledged (taken by pull or push, or any status) from its acceptance; decimals allowed. More than 0, at most 8760 |
//! | `deadlines.thuong_khan_hours` | `LIENTHONG_DEADLINES_THUONG_KHAN_HOURS` | 4 | the time a letter of priority thượng khẩn (2) has to be acknowledged (taken by pull or push, or any status) from its acceptance; decimals allowed. More than 0, at most 8760 |
//! | `deadlines.hoa_toc_hours` | `LIENTHONG_DEADLINES_HOA_TOC_HOURS` | 2 | the time a letter of priority hỏa tốc (3), and hỏa tốc hẹn giờ (4) whose packet time is not after its acceptance has to be acknowledged (taken by pull or push, or any status) from its acceptance; decimals allowed. More than 0, at most 8760 |
//! | `deadlines.scan_seconds` | `LIENTHONG_DEADLINES_SCAN_SECONDS` | 60 | how often the overdue job looks for missed acknowledgement deadlines. 1 to 3600 |
//! | `audit.key_file` | `LIENTHONG_AUDIT_KEY_FILE` | none: `DATA_DIR/audit-log.key`, created at the first start when missing | the audit log's Ed25519 signing key in signed-note form (`lienthong audit keygen` writes one); checkpoints are signed with it and its verifier key is published at `GET /v1/audit/key` |
//! | `audit.checkpoint_seconds` | `LIENTHONG_AUDIT_CHECKPOINT_SECONDS` | 10 | a checkpoint (signed tree head) is signed when the log has grown and this long has passed since the last. 1 to 86,400 |
//! | `audit.checkpoint_events` | `LIENTHONG_AUDIT_CHECKPOINT_EVENTS` | 10000 | … or as soon as this many events were added since the last. 1 to 10,000,000 |
//! | `console.base_url` | `LIENTHONG_CONSOLE_BASE_URL` | none | `http://` or `https://` address of the web console, for links in mails (one trailing `/` is dropped); none: no links |
//! | `tls.bind` | `LIENTHONG_TLS_BIND` | none | HTTPS listener with client-certificate authentication |
//! | `tls.cert`, `tls.key` | `LIENTHONG_TLS_CERT`, `LIENTHONG_TLS_KEY` | none | the server's certificate chain and key (PEM); required with `tls.bind` |
//! | `tls.client_ca` | `LIENTHONG_TLS_CLIENT_CA` | the trust anchors and intermediates | CAs whose client certificates are asked for |
//! | `trust.anchors` | `LIENTHONG_TRUST_ANCHORS` | dev: `DATA_DIR/dev-pki/trust.pem` | root CA certificates (PEM) |
//! | `trust.intermediates` | `LIENTHONG_TRUST_INTERMEDIATES` | dev: `DATA_DIR/dev-pki/intermediates.pem` | intermediate CA certificates |
//! | `trust.crls` | `LIENTHONG_TRUST_CRLS` | dev: the two dev CRLs | CRL files (PEM or DER) |
//! | `trust.crl_grace_hours` | `LIENTHONG_TRUST_CRL_GRACE_HOURS` | 0 | accept a CRL this long past its nextUpdate |
//! | `trust.fetch_crls` | `LIENTHONG_TRUST_FETCH_CRLS` | false | download CRLs from distribution points, in the background |
//! | `trust.crl_mirrors` | `LIENTHONG_TRUST_CRL_MIRRORS` | none | distribution-point URL prefixes fetched from a mirror instead (file: a table `{ "FROM" = "TO" }`; variable: `FROM=TO` pairs separated by spaces) |
//! | `trust.allow_sha1` | `LIENTHONG_TRUST_ALLOW_SHA1` | false | accept SHA-1 signatures of legacy clients |
//! | `receipts.cert`, `receipts.key` | `LIENTHONG_RECEIPTS_CERT`, `LIENTHONG_RECEIPTS_KEY` | dev: `DATA_DIR/dev-pki/server-receipts-p256.*` | the key the server signs receipts with |
//!
//! Lists in the environment are separated by `:` (like `PATH`); booleans are `true`/`false`
//! (or `1`/`0`, `yes`/`no`). Relative paths are relative to the working directory. Variables
//! named `LIENTHONG_TEST_*` belong to the test suites and are ignored here; any other unknown
//! `LIENTHONG_*` variable or file key is refused, so that a typo is not silently ignored.
//!
//! ```toml
//! database_url = "postgres://lienthong@db.internal:5432/lienthong"
//! data_dir = "/var/lib/lienthong"
//! max_packet_bytes = 67108864
//! in_flight_bytes = 1073741824
//! directory_ttl_seconds = 30
//!
//! [http]
//! bind = "127.0.0.1:8080"
//!
//! [tls]
//! bind = "0.0.0.0:8443"
//! cert = "/etc/lienthong/server.pem"
//! key = "/etc/lienthong/server.key.pem"
//!
//! [trust]
//! anchors = ["/etc/lienthong/gov-root-ca.pem"]
//! intermediates = ["/etc/lienthong/gov-issuing-cas.pem"]
//! fetch_crls = true
//! crl_grace_hours = 24
//!
//! [receipts]
//! cert = "/etc/lienthong/receipts.pem"
//! key = "/etc/lienthong/receipts.key.pem"
//! ```

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::pki::dev as pki_dev;

mod check;
pub use check::{check, Finding, Kind, Report, Setting, Severity, SETTINGS};

/// Where dev mode writes the dev PKI it carries (`pki::dev`), under the data directory.
pub const DEV_PKI_SUBDIR: &str = "dev-pki";

/// Default database: SQLite under `./data`, created on first use.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/lienthong.db?mode=rwc";

/// Default packet size limit: 64 MiB.
pub const DEFAULT_MAX_PACKET_BYTES: u64 = crate::exchange::MAX_PACKET_BYTES;

/// Default in-flight memory budget: the exchange's [`crate::exchange::IN_FLIGHT_BUDGET`]
/// (512 MiB), unless `max_packet_bytes` is larger.
pub const DEFAULT_IN_FLIGHT_BYTES: u64 = crate::exchange::IN_FLIGHT_BUDGET;

/// Largest in-flight budget accepted: a larger one is a slip of the units, not a machine.
pub const MAX_IN_FLIGHT_BYTES: u64 = 1024 * 1024 * 1024 * 1024;

/// Default directory snapshot time to live: the exchange's [`crate::exchange::DIRECTORY_TTL`]
/// (10 s).
pub const DEFAULT_DIRECTORY_TTL_SECONDS: u64 = crate::exchange::DIRECTORY_TTL.as_secs();

/// Allowed directory snapshot times to live, in seconds: 0 would reload the whole directory on
/// every packet, and more than an hour would leave a deactivated agency sending for too long.
pub const DIRECTORY_TTL_SECONDS: std::ops::RangeInclusive<u64> = 1..=3600;

const ENV_PREFIX: &str = "LIENTHONG_";
const TEST_PREFIX: &str = "LIENTHONG_TEST_";
/// Variables of `lienthong client` (the agency's side), not settings of the server.
pub const CLIENT_VARIABLES: [&str; 4] = [
    "LIENTHONG_URL",
    "LIENTHONG_SYSTEM_ID",
    "LIENTHONG_SECRET",
    "LIENTHONG_PROFILE",
];

/// The settings in force. Its `Debug` output hides the passwords of `database_url` and
/// `mail.smtp_url`.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub database_url: String,
    pub data_dir: PathBuf,
    pub http_bind: SocketAddr,
    /// The mTLS listener, when configured.
    pub tls: Option<TlsConfig>,
    pub trust: TrustConfig,
    pub receipts: ReceiptsConfig,
    pub max_packet_bytes: u64,
    /// The in-flight memory budget; at least `max_packet_bytes`.
    pub in_flight_bytes: u64,
    /// One agency's share of `in_flight_bytes`.
    pub agency_in_flight_bytes: u64,
    /// Uploads one agency may have under way at once.
    pub agency_uploads: u32,
    /// How long the directory snapshot is used before it is reloaded.
    pub directory_ttl: Duration,
    /// Deadlines and limits of the connections.
    pub edge: EdgeConfig,
    /// Failed-authentication throttling.
    pub auth: AuthConfig,
    /// How letters are pushed to the agencies' systems, and retried (`[push]`).
    pub push: crate::delivery::PushPolicy,
    /// Mails to the agencies' clerks (`[smtp]`, `[mail]`, `[console]`). Its `smtp_url` may hold
    /// a password: show it with [`Config::smtp_url_redacted`].
    pub mail: crate::delivery::MailPolicy,
    /// Acknowledgement deadlines per priority and the overdue job's interval (`[deadlines]`).
    pub deadlines: crate::delivery::DeadlinePolicy,
    /// The audit log's signing key and how often checkpoints are signed (`[audit]`).
    pub audit: crate::audit::AuditPolicy,
    pub log: String,
    /// How log lines are written to stderr.
    pub log_format: LogFormat,
    /// Dev PKI, demo directory, loud warnings.
    pub dev_mode: bool,
}

/// Deadlines and limits of the HTTP connections (`[http]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    pub max_connections: u32,
    pub header_timeout: Duration,
    pub body_idle_timeout: Duration,
    pub body_min_bytes_per_second: u64,
    pub write_timeout: Duration,
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// Failed-authentication throttling (`[auth]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthConfig {
    pub max_failures_per_id: u32,
    pub max_failures_per_address: u32,
    pub failure_window: Duration,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One readable line per event (the default).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    fn parse(setting: &str, value: &str) -> Result<LogFormat, ConfigError> {
        match value.trim() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(invalid(setting, value, "expected text or json")),
        }
    }
}

/// The HTTPS listener with client-certificate authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub bind: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CAs for client certificates; `None`: the trust anchors and intermediates.
    pub client_ca: Option<PathBuf>,
}

/// The trust material packets are verified against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustConfig {
    pub anchors: Vec<PathBuf>,
    pub intermediates: Vec<PathBuf>,
    pub crls: Vec<PathBuf>,
    pub crl_grace_hours: u64,
    pub fetch_crls: bool,
    /// Distribution-point URL prefixes rewritten to a local mirror `(from, to)`.
    pub crl_mirrors: Vec<(String, String)>,
    pub allow_sha1: bool,
}

/// The server's receipt-signing certificate and key (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Why the settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file cannot be read or is not valid TOML of the expected shape.
    #[error("cannot use configuration file {path}: {reason}")]
    File { path: String, reason: String },
    /// A setting has a value that cannot be used.
    #[error("{setting} = {value:?}: {reason}")]
    Invalid {
        setting: String,
        value: String,
        reason: String,
    },
    /// An environment variable that is not a setting (probably a typo).
    #[error("{0} is not a lienthong setting{suggestion}; remove or correct it (`lienthong config example` lists every setting)", suggestion = check::suggestion(.0, SETTINGS.iter().map(|s| s.env)))]
    UnknownSetting(String),
    /// A setting required outside dev mode is missing.
    #[error(
        "{setting} must be configured outside dev mode: {why}. To try lienthong without it, \
         set dev = true (LIENTHONG_DEV=1): the public dev PKI is then trusted"
    )]
    Missing {
        setting: &'static str,
        why: &'static str,
    },
}

impl ConfigError {
    /// Stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::File { .. } => "config.file",
            ConfigError::Invalid { .. } => "config.invalid",
            ConfigError::UnknownSetting(_) => "config.unknown_setting",
            ConfigError::Missing { .. } => "config.missing",
        }
    }
}

/// Every setting as given by one source; `None` is "not given here".
#[derive(Debug, Clone, Default, PartialEq)]
struct Layer {
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    dev: Option<bool>,
    max_packet_bytes: Option<u64>,
    in_flight_bytes: Option<u64>,
    agency_in_flight_bytes: Option<u64>,
    agency_uploads: Option<u64>,
    directory_ttl_seconds: Option<u64>,
    log: Option<String>,
    log_format: Option<String>,
    http_bind: Option<String>,
    max_connections: Option<u64>,
    header_timeout_seconds: Option<u64>,
    body_idle_timeout_seconds: Option<u64>,
    body_min_bytes_per_second: Option<u64>,
    write_timeout_seconds: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
    max_failures_per_id: Option<u64>,
    max_failures_per_address: Option<u64>,
    failure_window_seconds: Option<u64>,
    push_enabled: Option<bool>,
    push_workers: Option<u64>,
    push_per_endpoint: Option<u64>,
    push_timeout_seconds: Option<u64>,
    push_retry_first_seconds: Option<u64>,
    push_retry_max_seconds: Option<u64>,
    push_retry_window_hours: Option<u64>,
    push_retry_window_seconds: Option<u64>,
    push_breaker_failures: Option<u64>,
    push_breaker_probe_seconds: Option<u64>,
    push_client_cert: Option<PathBuf>,
    push_client_key: Option<PathBuf>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    smtp_timeout_seconds: Option<u64>,
    mail_gather_seconds: Option<u64>,
    mail_retry_window_hours: Option<u64>,
    mail_retry_window_seconds: Option<u64>,
    deadlines_normal_hours: Option<f64>,
    deadlines_khan_hours: Option<f64>,
    deadlines_thuong_khan_hours: Option<f64>,
    deadlines_hoa_toc_hours: Option<f64>,
    deadlines_scan_seconds: Option<u64>,
    audit_key_file: Option<PathBuf>,
    audit_checkpoint_seconds: Option<u64>,
    audit_checkpoint_events: Option<u64>,
    console_base_url: Option<String>,
    tls_bind: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
    anchors: Option<Vec<PathBuf>>,
    intermediates: Option<Vec<PathBuf>>,
    crls: Option<Vec<PathBuf>>,
    crl_grace_hours: Option<u64>,
    fetch_crls: Option<bool>,
    crl_mirrors: Option<Vec<(String, String)>>,
    allow_sha1: Option<bool>,
    receipts_cert: Option<PathBuf>,
    receipts_key: Option<PathBuf>,
}

macro_rules! overlay {
    ($base:ident, $top:ident, $($field:ident),+) => {
        Layer { $($field: $top.$field.or($base.$field)),+ }
    };
}

impl Layer {
    /// Whether any setting that decides what is trusted or how receipts are signed is given.
    /// Without a file and without these, lienthong is being tried, not deployed: dev mode, even
    /// when the port, the database or the data directory are chosen.
    fn names_trust_material(&self) -> bool {
        self.anchors.is_some()
            || self.intermediates.is_some()
            || self.crls.is_some()
            || self.receipts_cert.is_some()
            || self.receipts_key.is_some()
    }

    /// `top` wins field by field.
    fn under(self, top: Layer) -> Layer {
        let base = self;
        overlay!(
            base,
            top,
            database_url,
            data_dir,
            dev,
            max_packet_bytes,
            in_flight_bytes,
            agency_in_flight_bytes,
            agency_uploads,
            directory_ttl_seconds,
            log,
            log_format,
            http_bind,
            max_connections,
            header_timeout_seconds,
            body_idle_timeout_seconds,
            body_min_bytes_per_second,
            write_timeout_seconds,
            trusted_proxies,
            max_failures_per_id,
            max_failures_per_address,
            failure_window_seconds,
            push_enabled,
            push_workers,
            push_per_endpoint,
            push_timeout_seconds,
            push_retry_first_seconds,
            push_retry_max_seconds,
            push_retry_window_hours,
            push_retry_window_seconds,
            push_breaker_failures,
            push_breaker_probe_seconds,
            push_client_cert,
            push_client_key,
            smtp_url,
            smtp_from,
            smtp_timeout_seconds,
            mail_gather_seconds,
            mail_retry_window_hours,
            mail_retry_window_seconds,
            deadlines_normal_hours,
            deadlines_khan_hours,
            deadlines_thuong_khan_hours,
            deadlines_hoa_toc_hours,
            deadlines_scan_seconds,
            audit_key_file,
            audit_checkpoint_seconds,
            audit_checkpoint_events,
            console_base_url,
            tls_bind,
            tls_cert,
            tls_key,
            tls_client_ca,
            anchors,
            intermediates,
            crls,
            crl_grace_hours,
            fetch_crls,
            crl_mirrors,
            allow_sha1,
            receipts_cert,
            receipts_key
        )
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    dev: Option<bool>,
    max_packet_bytes: Option<u64>,
    in_flight_bytes: Option<u64>,
    agency_in_flight_bytes: Option<u64>,
    agency_uploads: Option<u64>,
    directory_ttl_seconds: Option<u64>,
    log: Option<String>,
    log_format: Option<String>,
    #[serde(default)]
    http: HttpSection,
    #[serde(default)]
    auth: AuthSection,
    #[serde(default)]
    push: PushSection,
    #[serde(default)]
    smtp: SmtpSection,
    #[serde(default)]
    mail: MailSection,
    #[serde(default)]
    deadlines: DeadlinesSection,
    #[serde(default)]
    audit: AuditSection,
    #[serde(default)]
    console: ConsoleSection,
    #[serde(default)]
    tls: TlsSection,
    #[serde(default)]
    trust: TrustSection,
    #[serde(default)]
    receipts: ReceiptsSection,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HttpSection {
    bind: Option<String>,
    max_connections: Option<u64>,
    header_timeout_seconds: Option<u64>,
    body_idle_timeout_seconds: Option<u64>,
    body_min_bytes_per_second: Option<u64>,
    write_timeout_seconds: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AuthSection {
    max_failures_per_id: Option<u64>,
    max_failures_per_address: Option<u64>,
    failure_window_seconds: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PushSection {
    enabled: Option<bool>,
    workers: Option<u64>,
    per_endpoint: Option<u64>,
    timeout_seconds: Option<u64>,
    retry_first_seconds: Option<u64>,
    retry_max_seconds: Option<u64>,
    retry_window_hours: Option<u64>,
    retry_window_seconds: Option<u64>,
    breaker_failures: Option<u64>,
    breaker_probe_seconds: Option<u64>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SmtpSection {
    url: Option<String>,
    from: Option<String>,
    timeout_seconds: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MailSection {
    gather_seconds: Option<u64>,
    retry_window_hours: Option<u64>,
    retry_window_seconds: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DeadlinesSection {
    normal_hours: Option<f64>,
    khan_hours: Option<f64>,
    thuong_khan_hours: Option<f64>,
    hoa_toc_hours: Option<f64>,
    scan_seconds: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AuditSection {
    key_file: Option<PathBuf>,
    checkpoint_seconds: Option<u64>,
    checkpoint_events: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConsoleSection {
    base_url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    bind: Option<String>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TrustSection {
    anchors: Option<Vec<PathBuf>>,
    intermediates: Option<Vec<PathBuf>>,
    crls: Option<Vec<PathBuf>>,
    crl_grace_hours: Option<u64>,
    fetch_crls: Option<bool>,
    crl_mirrors: Option<std::collections::BTreeMap<String, String>>,
    allow_sha1: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReceiptsSection {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl From<FileSettings> for Layer {
    fn from(f: FileSettings) -> Self {
        Layer {
            database_url: f.database_url,
            data_dir: f.data_dir,
            dev: f.dev,
            max_packet_bytes: f.max_packet_bytes,
            in_flight_bytes: f.in_flight_bytes,
            agency_in_flight_bytes: f.agency_in_flight_bytes,
            agency_uploads: f.agency_uploads,
            directory_ttl_seconds: f.directory_ttl_seconds,
            log: f.log,
            log_format: f.log_format,
            http_bind: f.http.bind,
            max_connections: f.http.max_connections,
            header_timeout_seconds: f.http.header_timeout_seconds,
            body_idle_timeout_seconds: f.http.body_idle_timeout_seconds,
            body_min_bytes_per_second: f.http.body_min_bytes_per_second,
            write_timeout_seconds: f.http.write_timeout_seconds,
            trusted_proxies: f.http.trusted_proxies,
            max_failures_per_id: f.auth.max_failures_per_id,
            max_failures_per_address: f.auth.max_failures_per_address,
            failure_window_seconds: f.auth.failure_window_seconds,
            push_enabled: f.push.enabled,
            push_workers: f.push.workers,
            push_per_endpoint: f.push.per_endpoint,
            push_timeout_seconds: f.push.timeout_seconds,
            push_retry_first_seconds: f.push.retry_first_seconds,
            push_retry_max_seconds: f.push.retry_max_seconds,
            push_retry_window_hours: f.push.retry_window_hours,
            push_retry_window_seconds: f.push.retry_window_seconds,
            push_breaker_failures: f.push.breaker_failures,
            push_breaker_probe_seconds: f.push.breaker_probe_seconds,
            push_client_cert: f.push.client_cert,
            push_client_key: f.push.client_key,
            smtp_url: f.smtp.url,
            smtp_from: f.smtp.from,
            smtp_timeout_seconds: f.smtp.timeout_seconds,
            mail_gather_seconds: f.mail.gather_seconds,
            mail_retry_window_hours: f.mail.retry_window_hours,
            mail_retry_window_seconds: f.mail.retry_window_seconds,
            deadlines_normal_hours: f.deadlines.normal_hours,
            deadlines_khan_hours: f.deadlines.khan_hours,
            deadlines_thuong_khan_hours: f.deadlines.thuong_khan_hours,
            deadlines_hoa_toc_hours: f.deadlines.hoa_toc_hours,
            deadlines_scan_seconds: f.deadlines.scan_seconds,
            audit_key_file: f.audit.key_file,
            audit_checkpoint_seconds: f.audit.checkpoint_seconds,
            audit_checkpoint_events: f.audit.checkpoint_events,
            console_base_url: f.console.base_url,
            tls_bind: f.tls.bind,
            tls_cert: f.tls.cert,
            tls_key: f.tls.key,
            tls_client_ca: f.tls.client_ca,
            anchors: f.trust.anchors,
            intermediates: f.trust.intermediates,
            crls: f.trust.crls,
            crl_grace_hours: f.trust.crl_grace_hours,
            fetch_crls: f.trust.fetch_crls,
            crl_mirrors: f.trust.crl_mirrors.map(|m| m.into_iter().collect()),
            allow_sha1: f.trust.allow_sha1,
            receipts_cert: f.receipts.cert,
            receipts_key: f.receipts.key,
        }
    }
}

fn file_layer(name: &str, text: &str) -> Result<Layer, ConfigError> {
    // The error quotes the offending line, which may be a URL with a password.
    let settings: FileSettings = toml::from_str(text).map_err(|e| ConfigError::File {
        path: name.to_owned(),
        reason: redact_urls_in(&e.to_string()),
    })?;
    Ok(settings.into())
}

fn env_layer<I>(vars: I) -> Result<Layer, ConfigError>
where
    I: IntoIterator<Item = (OsString, OsString)>,
{
    let mut layer = Layer::default();
    for (key, value) in vars {
        let Some(key) = key.to_str() else { continue };
        if !key.starts_with(ENV_PREFIX)
            || key.starts_with(TEST_PREFIX)
            || CLIENT_VARIABLES.contains(&key)
        {
            continue;
        }
        let text = || {
            value
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| ConfigError::Invalid {
                    setting: key.to_owned(),
                    value: redact_url(&value.to_string_lossy()),
                    reason: "is not valid UTF-8".to_owned(),
                })
        };
        let path = || PathBuf::from(&value);
        let paths = || std::env::split_paths(&value).collect::<Vec<_>>();
        match key {
            "LIENTHONG_DATABASE_URL" => layer.database_url = Some(text()?),
            "LIENTHONG_DATA_DIR" => layer.data_dir = Some(path()),
            "LIENTHONG_DEV" => layer.dev = Some(boolean(key, &text()?)?),
            "LIENTHONG_MAX_PACKET_BYTES" => layer.max_packet_bytes = Some(number(key, &text()?)?),
            "LIENTHONG_IN_FLIGHT_BYTES" => layer.in_flight_bytes = Some(number(key, &text()?)?),
            "LIENTHONG_AGENCY_IN_FLIGHT_BYTES" => {
                layer.agency_in_flight_bytes = Some(number(key, &text()?)?)
            }
            "LIENTHONG_AGENCY_UPLOADS" => layer.agency_uploads = Some(number(key, &text()?)?),
            "LIENTHONG_HTTP_MAX_CONNECTIONS" => {
                layer.max_connections = Some(number(key, &text()?)?)
            }
            "LIENTHONG_HTTP_HEADER_TIMEOUT_SECONDS" => {
                layer.header_timeout_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_HTTP_BODY_IDLE_TIMEOUT_SECONDS" => {
                layer.body_idle_timeout_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_HTTP_BODY_MIN_BYTES_PER_SECOND" => {
                layer.body_min_bytes_per_second = Some(number(key, &text()?)?)
            }
            "LIENTHONG_HTTP_WRITE_TIMEOUT_SECONDS" => {
                layer.write_timeout_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_HTTP_TRUSTED_PROXIES" => {
                layer.trusted_proxies = Some(
                    text()?
                        .split(|c: char| c.is_whitespace() || c == ',')
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                        .collect(),
                )
            }
            "LIENTHONG_AUTH_MAX_FAILURES_PER_ID" => {
                layer.max_failures_per_id = Some(number(key, &text()?)?)
            }
            "LIENTHONG_AUTH_MAX_FAILURES_PER_ADDRESS" => {
                layer.max_failures_per_address = Some(number(key, &text()?)?)
            }
            "LIENTHONG_AUTH_FAILURE_WINDOW_SECONDS" => {
                layer.failure_window_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_PUSH_ENABLED" => layer.push_enabled = Some(boolean(key, &text()?)?),
            "LIENTHONG_PUSH_WORKERS" => layer.push_workers = Some(number(key, &text()?)?),
            "LIENTHONG_PUSH_PER_ENDPOINT" => layer.push_per_endpoint = Some(number(key, &text()?)?),
            "LIENTHONG_PUSH_TIMEOUT_SECONDS" => {
                layer.push_timeout_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_PUSH_RETRY_FIRST_SECONDS" => {
                layer.push_retry_first_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_PUSH_RETRY_MAX_SECONDS" => {
                layer.push_retry_max_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_PUSH_RETRY_WINDOW_HOURS" => {
                layer.push_retry_window_hours = Some(number(key, &text()?)?)
            }
            "LIENTHONG_PUSH_RETRY_WINDOW_SECONDS" => {
                layer.push_retry_window_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_PUSH_BREAKER_FAILURES" => {
                layer.push_breaker_failures = Some(number(key, &text()?)?)
            }
            "LIENTHONG_PUSH_BREAKER_PROBE_SECONDS" => {
                layer.push_breaker_probe_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_PUSH_CLIENT_CERT" => layer.push_client_cert = Some(path()),
            "LIENTHONG_PUSH_CLIENT_KEY" => layer.push_client_key = Some(path()),
            "LIENTHONG_SMTP_URL" => layer.smtp_url = Some(text()?),
            "LIENTHONG_SMTP_FROM" => layer.smtp_from = Some(text()?),
            "LIENTHONG_SMTP_TIMEOUT_SECONDS" => {
                layer.smtp_timeout_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_MAIL_GATHER_SECONDS" => {
                layer.mail_gather_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_MAIL_RETRY_WINDOW_HOURS" => {
                layer.mail_retry_window_hours = Some(number(key, &text()?)?)
            }
            "LIENTHONG_MAIL_RETRY_WINDOW_SECONDS" => {
                layer.mail_retry_window_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_DEADLINES_NORMAL_HOURS" => {
                layer.deadlines_normal_hours = Some(decimal(key, &text()?)?)
            }
            "LIENTHONG_DEADLINES_KHAN_HOURS" => {
                layer.deadlines_khan_hours = Some(decimal(key, &text()?)?)
            }
            "LIENTHONG_DEADLINES_THUONG_KHAN_HOURS" => {
                layer.deadlines_thuong_khan_hours = Some(decimal(key, &text()?)?)
            }
            "LIENTHONG_DEADLINES_HOA_TOC_HOURS" => {
                layer.deadlines_hoa_toc_hours = Some(decimal(key, &text()?)?)
            }
            "LIENTHONG_DEADLINES_SCAN_SECONDS" => {
                layer.deadlines_scan_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_AUDIT_KEY_FILE" => layer.audit_key_file = Some(path()),
            "LIENTHONG_AUDIT_CHECKPOINT_SECONDS" => {
                layer.audit_checkpoint_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_AUDIT_CHECKPOINT_EVENTS" => {
                layer.audit_checkpoint_events = Some(number(key, &text()?)?)
            }
            "LIENTHONG_CONSOLE_BASE_URL" => layer.console_base_url = Some(text()?),
            "LIENTHONG_DIRECTORY_TTL_SECONDS" => {
                layer.directory_ttl_seconds = Some(number(key, &text()?)?)
            }
            "LIENTHONG_LOG" => layer.log = Some(text()?),
            "LIENTHONG_LOG_FORMAT" => layer.log_format = Some(text()?),
            "LIENTHONG_HTTP_BIND" => layer.http_bind = Some(text()?),
            "LIENTHONG_TLS_BIND" => layer.tls_bind = Some(text()?),
            "LIENTHONG_TLS_CERT" => layer.tls_cert = Some(path()),
            "LIENTHONG_TLS_KEY" => layer.tls_key = Some(path()),
            "LIENTHONG_TLS_CLIENT_CA" => layer.tls_client_ca = Some(path()),
            "LIENTHONG_TRUST_ANCHORS" => layer.anchors = Some(paths()),
            "LIENTHONG_TRUST_INTERMEDIATES" => layer.intermediates = Some(paths()),
            "LIENTHONG_TRUST_CRLS" => layer.crls = Some(paths()),
            "LIENTHONG_TRUST_CRL_GRACE_HOURS" => {
                layer.crl_grace_hours = Some(number(key, &text()?)?)
            }
            "LIENTHONG_TRUST_FETCH_CRLS" => layer.fetch_crls = Some(boolean(key, &text()?)?),
            "LIENTHONG_TRUST_CRL_MIRRORS" => layer.crl_mirrors = Some(mirrors(key, &text()?)?),
            "LIENTHONG_TRUST_ALLOW_SHA1" => layer.allow_sha1 = Some(boolean(key, &text()?)?),
            "LIENTHONG_RECEIPTS_CERT" => layer.receipts_cert = Some(path()),
            "LIENTHONG_RECEIPTS_KEY" => layer.receipts_key = Some(path()),
            other => return Err(ConfigError::UnknownSetting(other.to_owned())),
        }
    }
    Ok(layer)
}

fn boolean(setting: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(setting, value, "expected true or false")),
    }
}

/// `FROM=TO` pairs separated by whitespace (URLs hold `:`, so not `PATH`'s separator).
fn mirrors(setting: &str, value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    value
        .split_whitespace()
        .map(|pair| {
            pair.split_once('=')
                .filter(|(from, to)| !from.is_empty() && !to.is_empty())
                .map(|(from, to)| (from.to_owned(), to.to_owned()))
                .ok_or_else(|| {
                    invalid(
                        setting,
                        value,
                        "expected FROM=TO URL prefixes separated by spaces",
                    )
                })
        })
        .collect()
}

fn number(setting: &str, value: &str) -> Result<u64, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(setting, value, "expected a whole number"))
}

fn decimal(setting: &str, value: &str) -> Result<f64, ConfigError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or_else(|| invalid(setting, value, "expected a number, e.g. 24 or 0.5"))
}

fn invalid(setting: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        setting: setting.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

fn socket(setting: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.trim().parse().map_err(|_| {
        invalid(
            setting,
            value,
            "expected an IP address and port, e.g. 127.0.0.1:8080 or [::1]:8080",
        )
    })
}

impl Config {
    /// Reads the file (when given) and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let text = read_file(file)?;
        Config::from_sources(
            text.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
            std::env::vars_os(),
        )
    }

    /// The settings from a file's text (name, text) and environment variables; the
    /// environment wins. What `load` does, without touching the process.
    pub fn from_sources<I>(file: Option<(&str, &str)>, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (OsString, OsString)>,
    {
        let (merged, dev_mode) = merge(file, env)?;
        Config::resolve(merged, dev_mode)
    }

    fn resolve(l: Layer, dev_mode: bool) -> Result<Config, ConfigError> {
        // Borrowed before the other settings are moved out of the layer.
        let push = push_policy(&l)?;
        let mail = mail_policy(&l)?;
        let deadlines = deadline_policy(&l)?;
        let audit = audit_policy(&l)?;
        let database_url = database_url(l.database_url)?;
        let max_packet_bytes = l.max_packet_bytes.unwrap_or(DEFAULT_MAX_PACKET_BYTES);
        if !(1024..=4 * 1024 * 1024 * 1024).contains(&max_packet_bytes) {
            return Err(invalid(
                "max_packet_bytes",
                &max_packet_bytes.to_string(),
                "must be between 1 KiB and 4 GiB",
            ));
        }
        let in_flight_bytes = in_flight_bytes(l.in_flight_bytes, max_packet_bytes)?;
        let directory_ttl = directory_ttl(l.directory_ttl_seconds)?;
        let agency_in_flight_bytes =
            agency_in_flight_bytes(l.agency_in_flight_bytes, in_flight_bytes, max_packet_bytes)?;
        let agency_uploads = within(
            "agency_uploads",
            l.agency_uploads,
            DEFAULT_AGENCY_UPLOADS,
            1..=10_000,
        )?;
        let edge = EdgeConfig {
            max_connections: within(
                "http.max_connections",
                l.max_connections,
                10_000,
                16..=1_000_000,
            )?,
            header_timeout: seconds(
                "http.header_timeout_seconds",
                l.header_timeout_seconds,
                5,
                1..=300,
            )?,
            body_idle_timeout: seconds(
                "http.body_idle_timeout_seconds",
                l.body_idle_timeout_seconds,
                30,
                1..=3600,
            )?,
            body_min_bytes_per_second: u64::from(within(
                "http.body_min_bytes_per_second",
                l.body_min_bytes_per_second,
                1024,
                0..=1_000_000_000,
            )?),
            write_timeout: seconds(
                "http.write_timeout_seconds",
                l.write_timeout_seconds,
                60,
                1..=3600,
            )?,
            trusted_proxies: addresses("http.trusted_proxies", l.trusted_proxies)?,
        };
        let auth = AuthConfig {
            max_failures_per_id: within(
                "auth.max_failures_per_id",
                l.max_failures_per_id,
                10,
                1..=1_000_000,
            )?,
            max_failures_per_address: within(
                "auth.max_failures_per_address",
                l.max_failures_per_address,
                100,
                1..=1_000_000,
            )?,
            failure_window: seconds(
                "auth.failure_window_seconds",
                l.failure_window_seconds,
                60,
                1..=86_400,
            )?,
        };
        let http_bind = socket(
            "http.bind",
            l.http_bind.as_deref().unwrap_or("127.0.0.1:8080"),
        )?;
        let tls = match (l.tls_bind, l.tls_cert, l.tls_key) {
            (None, None, None) => None,
            (Some(bind), Some(cert), Some(key)) => Some(TlsConfig {
                bind: socket("tls.bind", &bind)?,
                cert,
                key,
                client_ca: l.tls_client_ca,
            }),
            _ => {
                return Err(invalid(
                    "tls",
                    "incomplete",
                    "tls.bind, tls.cert and tls.key go together: give all three or none",
                ))
            }
        };
        let data_dir = l.data_dir.unwrap_or_else(default_data_dir);
        let dev = data_dir.join(DEV_PKI_SUBDIR);
        let dev_default = |names: &[&str]| {
            if dev_mode {
                names.iter().map(|n| dev.join(n)).collect()
            } else {
                Vec::new()
            }
        };
        let trust = TrustConfig {
            anchors: l
                .anchors
                .unwrap_or_else(|| dev_default(&[pki_dev::TRUST_ANCHORS])),
            intermediates: l
                .intermediates
                .unwrap_or_else(|| dev_default(&[pki_dev::INTERMEDIATES])),
            crls: l.crls.unwrap_or_else(|| dev_default(&pki_dev::CRLS)),
            crl_grace_hours: l.crl_grace_hours.unwrap_or(0),
            fetch_crls: l.fetch_crls.unwrap_or(false),
            crl_mirrors: l.crl_mirrors.unwrap_or_default(),
            allow_sha1: l.allow_sha1.unwrap_or(false),
        };
        if trust.anchors.is_empty() {
            return Err(ConfigError::Missing {
                setting: "trust.anchors (LIENTHONG_TRUST_ANCHORS)",
                why: "packets are verified against the government root CA, which only the operator can name",
            });
        }
        let receipts = match (l.receipts_cert, l.receipts_key) {
            (Some(cert), Some(key)) => ReceiptsConfig { cert, key },
            (None, None) if dev_mode => ReceiptsConfig {
                cert: dev.join(pki_dev::RECEIPTS_CERT),
                key: dev.join(pki_dev::RECEIPTS_KEY),
            },
            (None, None) => {
                return Err(ConfigError::Missing {
                    setting: "receipts.cert and receipts.key (LIENTHONG_RECEIPTS_CERT, LIENTHONG_RECEIPTS_KEY)",
                    why: "receipts must be signed with the operator's own key, not the public dev key",
                })
            }
            _ => {
                return Err(invalid(
                    "receipts",
                    "incomplete",
                    "receipts.cert and receipts.key go together",
                ))
            }
        };
        Ok(Config {
            database_url,
            data_dir,
            http_bind,
            tls,
            trust,
            receipts,
            max_packet_bytes,
            in_flight_bytes,
            agency_in_flight_bytes,
            agency_uploads,
            directory_ttl,
            edge,
            auth,
            push,
            mail,
            deadlines,
            audit,
            log: l.log.unwrap_or_else(|| "info".to_owned()),
            log_format: match l.log_format {
                Some(f) => LogFormat::parse("log_format", &f)?,
                None => LogFormat::Text,
            },
            dev_mode,
        })
    }

    /// Where dev mode keeps the dev PKI it writes out at start (`None` outside dev mode).
    pub fn dev_pki_dir(&self) -> Option<PathBuf> {
        self.dev_mode.then(|| self.data_dir.join(DEV_PKI_SUBDIR))
    }

    /// The database URL with any password hidden, for logs.
    pub fn database_url_redacted(&self) -> String {
        crate::store::redact(&self.database_url)
    }

    /// The SMTP server's URL (`smtp.url`) with any password hidden, for logs; `None` when no
    /// mail is sent.
    pub fn smtp_url_redacted(&self) -> Option<String> {
        self.mail.smtp_url.as_deref().map(redact_url)
    }
}

/// Every field, but the passwords of the URLs hidden: the settings are printed in test
/// failures and may be logged.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured, so that a new field cannot be forgotten here.
        let Config {
            database_url,
            data_dir,
            http_bind,
            tls,
            trust,
            receipts,
            max_packet_bytes,
            in_flight_bytes,
            agency_in_flight_bytes,
            agency_uploads,
            directory_ttl,
            edge,
            auth,
            push,
            mail,
            deadlines,
            audit,
            log,
            log_format,
            dev_mode,
        } = self;
        let mail = crate::delivery::MailPolicy {
            smtp_url: mail.smtp_url.as_deref().map(redact_url),
            ..mail.clone()
        };
        f.debug_struct("Config")
            .field("database_url", &redact_url(database_url))
            .field("data_dir", data_dir)
            .field("http_bind", http_bind)
            .field("tls", tls)
            .field("trust", trust)
            .field("receipts", receipts)
            .field("max_packet_bytes", max_packet_bytes)
            .field("in_flight_bytes", in_flight_bytes)
            .field("agency_in_flight_bytes", agency_in_flight_bytes)
            .field("agency_uploads", agency_uploads)
            .field("directory_ttl", directory_ttl)
            .field("edge", edge)
            .field("auth", auth)
            .field("push", push)
            .field("mail", &mail)
            .field("deadlines", deadlines)
            .field("audit", audit)
            .field("log", log)
            .field("log_format", log_format)
            .field("dev_mode", dev_mode)
            .finish()
    }
}

/// A URL with its password (if any) hidden, for messages, logs and `Debug` output:
/// [`crate::store::redact`]'s `scheme://user:***@host…`, and also for what that does not take
/// apart (no `://`, an unencoded `/` or `?` in the password), where everything before the last
/// `@` that holds a `:` may be a password.
pub(crate) fn redact_url(url: &str) -> String {
    let redacted = crate::store::redact(url);
    if redacted != url {
        return redacted;
    }
    let Some((before, host)) = url.rsplit_once('@') else {
        return redacted;
    };
    let (scheme, userinfo) = match before.split_once("://") {
        Some((scheme, userinfo)) => (format!("{scheme}://"), userinfo),
        None => (String::new(), before),
    };
    match userinfo.split_once(':') {
        // A user name alone: nothing to hide.
        None => redacted,
        Some((user, _)) if !user.contains(['/', '?']) => format!("{scheme}{user}:***@{host}"),
        Some(_) => format!("{scheme}***@{host}"),
    }
}

/// `text` (an error message) with the password of any URL in it hidden, word by word.
fn redact_urls_in(text: &str) -> String {
    let separator =
        |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ',' | '[' | ']' | '{' | '}');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| !separator(c)) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(separator).unwrap_or(rest.len());
        let word = &rest[..end];
        if word.contains('@') {
            out.push_str(&redact_url(word));
        } else {
            out.push_str(word);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The storage settings alone, for the admin commands (`migrate`, `agency …`), which must
/// work on a production configuration that names a database and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    pub database_url: String,
    pub data_dir: PathBuf,
    /// `audit.key_file`: the audit log's key, whose verifier checks the checkpoints.
    pub audit_key_file: Option<PathBuf>,
}

impl StorageConfig {
    /// Reads the file (when given) and the process environment, like [`Config::load`], but
    /// resolves only the storage settings (the others are still checked for typos).
    pub fn load(file: Option<&Path>) -> Result<StorageConfig, ConfigError> {
        let text = read_file(file)?;
        StorageConfig::from_sources(
            text.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
            std::env::vars_os(),
        )
    }

    /// What `load` does, without touching the process.
    pub fn from_sources<I>(file: Option<(&str, &str)>, env: I) -> Result<StorageConfig, ConfigError>
    where
        I: IntoIterator<Item = (OsString, OsString)>,
    {
        let (merged, _dev_mode) = merge(file, env)?;
        Ok(StorageConfig {
            database_url: database_url(merged.database_url)?,
            data_dir: merged.data_dir.unwrap_or_else(default_data_dir),
            audit_key_file: merged.audit_key_file,
        })
    }
}

fn read_file(file: Option<&Path>) -> Result<Option<(String, String)>, ConfigError> {
    let Some(path) = file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(Some((path.display().to_string(), text)))
}

/// The file's settings under the environment's, and whether that is dev mode.
fn merge<I>(file: Option<(&str, &str)>, env: I) -> Result<(Layer, bool), ConfigError>
where
    I: IntoIterator<Item = (OsString, OsString)>,
{
    let from_file = match file {
        Some((name, text)) => file_layer(name, text)?,
        None => Layer::default(),
    };
    let from_env = env_layer(env)?;
    let merged = from_file.under(from_env);
    let dev_mode = merged
        .dev
        .unwrap_or(file.is_none() && !merged.names_trust_material());
    Ok((merged, dev_mode))
}

fn database_url(given: Option<String>) -> Result<String, ConfigError> {
    let url = given.unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    match crate::store::Engine::of_url(&url) {
        Ok(_) => Ok(url),
        Err(e) => Err(invalid(
            "database_url",
            &crate::store::redact(&url),
            &e.to_string(),
        )),
    }
}

/// The in-flight budget. One packet of the largest size must fit in it, or that packet would
/// wait forever; a budget given smaller than `max_packet_bytes` is refused rather than raised,
/// like the other inconsistent settings (an incomplete `tls` or `receipts`), because the
/// operator who set it meant to cap memory and raising it quietly would break that promise.
/// Left unset, it follows `max_packet_bytes` up when that is larger than the default.
fn in_flight_bytes(given: Option<u64>, max_packet_bytes: u64) -> Result<u64, ConfigError> {
    let Some(bytes) = given else {
        return Ok(DEFAULT_IN_FLIGHT_BYTES.max(max_packet_bytes));
    };
    if bytes < max_packet_bytes {
        return Err(invalid(
            "in_flight_bytes",
            &bytes.to_string(),
            &format!(
                "must be at least max_packet_bytes ({max_packet_bytes}), so that one packet of \
                 the largest size fits; raise in_flight_bytes or lower max_packet_bytes"
            ),
        ));
    }
    if bytes > MAX_IN_FLIGHT_BYTES {
        return Err(invalid(
            "in_flight_bytes",
            &bytes.to_string(),
            "must be at most 1 TiB (1099511627776): it is memory held at once",
        ));
    }
    Ok(bytes)
}

/// One agency's share of the in-flight budget: a quarter of it unless given, never less than
/// one packet of the largest size (or that packet could never be sent) nor more than the
/// budget itself.
fn agency_in_flight_bytes(
    given: Option<u64>,
    in_flight_bytes: u64,
    max_packet_bytes: u64,
) -> Result<u64, ConfigError> {
    let Some(bytes) = given else {
        return Ok((in_flight_bytes / 4).max(max_packet_bytes));
    };
    if !(max_packet_bytes..=in_flight_bytes).contains(&bytes) {
        return Err(invalid(
            "agency_in_flight_bytes",
            &bytes.to_string(),
            &format!(
                "must be between max_packet_bytes ({max_packet_bytes}) and in_flight_bytes \
                 ({in_flight_bytes})"
            ),
        ));
    }
    Ok(bytes)
}

/// Default of `agency_uploads`: the exchange's [`crate::exchange::AGENCY_UPLOADS`].
pub const DEFAULT_AGENCY_UPLOADS: u32 = crate::exchange::AGENCY_UPLOADS;

/// A count setting: `default` unless given, refused outside `range`.
fn within(
    setting: &str,
    given: Option<u64>,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, ConfigError> {
    let value = given.unwrap_or(u64::from(default));
    u32::try_from(value)
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| {
            invalid(
                setting,
                &value.to_string(),
                &format!("must be between {} and {}", range.start(), range.end()),
            )
        })
}

/// A duration setting in whole seconds.
fn seconds(
    setting: &str,
    given: Option<u64>,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<Duration, ConfigError> {
    within(setting, given, default, range).map(|s| Duration::from_secs(u64::from(s)))
}

/// A duration setting in whole `unit_seconds` (1: seconds, 3600: hours): `default` unless
/// given, refused outside `range` (in units, which also keeps the product from overflowing).
fn span(
    setting: &str,
    given: Option<u64>,
    default: Duration,
    unit_seconds: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    let Some(units) = given else {
        return Ok(default);
    };
    if !range.contains(&units) {
        return Err(invalid(
            setting,
            &units.to_string(),
            &format!("must be between {} and {}", range.start(), range.end()),
        ));
    }
    Ok(Duration::from_secs(units * unit_seconds))
}

/// Longest retry window (of pushes, of mails): a year, in hours. Longer is a slip of the units.
const MAX_RETRY_WINDOW_HOURS: u64 = 365 * 24;

/// A retry window, `{section}.retry_window_hours` or `{section}.retry_window_seconds`: both are
/// checked, and the window in seconds, when given, wins over the one in hours (wherever each
/// comes from). 0 to a year.
fn retry_window(
    section: &str,
    hours: Option<u64>,
    seconds: Option<u64>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let in_hours = span(
        &format!("{section}.retry_window_hours"),
        hours,
        default,
        3600,
        0..=MAX_RETRY_WINDOW_HOURS,
    )?;
    span(
        &format!("{section}.retry_window_seconds"),
        seconds,
        in_hours,
        1,
        0..=MAX_RETRY_WINDOW_HOURS * 3600,
    )
}

/// The `[push]` settings; what is not given is [`crate::delivery::PushPolicy::default`]'s.
fn push_policy(l: &Layer) -> Result<crate::delivery::PushPolicy, ConfigError> {
    let default = crate::delivery::PushPolicy::default();
    let retry_first = span(
        "push.retry_first_seconds",
        l.push_retry_first_seconds,
        default.retry_first,
        1,
        1..=86_400,
    )?;
    // Like in_flight_bytes: given smaller than the first wait, refused; left unset, it follows
    // a first wait larger than its default up.
    let retry_max = match l.push_retry_max_seconds {
        None => default.retry_max.max(retry_first),
        Some(seconds) => {
            let retry_max = span(
                "push.retry_max_seconds",
                Some(seconds),
                default.retry_max,
                1,
                1..=7 * 86_400,
            )?;
            if retry_max < retry_first {
                return Err(invalid(
                    "push.retry_max_seconds",
                    &seconds.to_string(),
                    &format!(
                        "must be at least push.retry_first_seconds ({}): the wait doubles from \
                         the first up to the longest",
                        retry_first.as_secs()
                    ),
                ));
            }
            retry_max
        }
    };
    let retry_window = retry_window(
        "push",
        l.push_retry_window_hours,
        l.push_retry_window_seconds,
        default.retry_window,
    )?;
    let incomplete = match (&l.push_client_cert, &l.push_client_key) {
        (Some(cert), None) => Some(("push.client_cert", cert, "push.client_key")),
        (None, Some(key)) => Some(("push.client_key", key, "push.client_cert")),
        _ => None,
    };
    if let Some((setting, given, missing)) = incomplete {
        return Err(invalid(
            setting,
            &given.display().to_string(),
            &format!(
                "push.client_cert and push.client_key go together: give both or neither \
                 ({missing} is not given)"
            ),
        ));
    }
    Ok(crate::delivery::PushPolicy {
        enabled: l.push_enabled.unwrap_or(default.enabled),
        workers: within("push.workers", l.push_workers, default.workers, 1..=10_000)?,
        per_endpoint: within(
            "push.per_endpoint",
            l.push_per_endpoint,
            default.per_endpoint,
            1..=10_000,
        )?,
        timeout: span(
            "push.timeout_seconds",
            l.push_timeout_seconds,
            default.timeout,
            1,
            1..=3600,
        )?,
        retry_first,
        retry_max,
        retry_window,
        breaker_failures: within(
            "push.breaker_failures",
            l.push_breaker_failures,
            default.breaker_failures,
            1..=10_000,
        )?,
        breaker_probe: span(
            "push.breaker_probe_seconds",
            l.push_breaker_probe_seconds,
            default.breaker_probe,
            1,
            1..=3600,
        )?,
        client_cert: l.push_client_cert.clone(),
        client_key: l.push_client_key.clone(),
    })
}

/// The `[smtp]`, `[mail]` and `[console]` settings; what is not given is
/// [`crate::delivery::MailPolicy::default`]'s.
fn mail_policy(l: &Layer) -> Result<crate::delivery::MailPolicy, ConfigError> {
    let default = crate::delivery::MailPolicy::default();
    let smtp_url = match &l.smtp_url {
        Some(url) => Some(smtp_url(url)?),
        None => default.smtp_url,
    };
    let from = match &l.smtp_from {
        Some(from) => Some(sender(from)?),
        None => default.from,
    };
    if let (Some(url), None) = (&smtp_url, &from) {
        return Err(invalid(
            "smtp.url",
            &redact_url(url),
            "smtp.from (LIENTHONG_SMTP_FROM) must be given with smtp.url: the sender address of \
             the mails, e.g. \"Lien thong <lienthong@example.gov.vn>\"",
        ));
    }
    let console_base_url = match &l.console_base_url {
        Some(url) => Some(console_base_url(url)?),
        None => default.console_base_url,
    };
    Ok(crate::delivery::MailPolicy {
        smtp_url,
        from,
        console_base_url,
        gather: span(
            "mail.gather_seconds",
            l.mail_gather_seconds,
            default.gather,
            1,
            0..=3600,
        )?,
        retry_window: retry_window(
            "mail",
            l.mail_retry_window_hours,
            l.mail_retry_window_seconds,
            default.retry_window,
        )?,
        timeout: span(
            "smtp.timeout_seconds",
            l.smtp_timeout_seconds,
            default.timeout,
            1,
            1..=3600,
        )?,
    })
}

/// The `[deadlines]` settings; what is not given is
/// [`crate::delivery::DeadlinePolicy::default`]'s.
fn deadline_policy(l: &Layer) -> Result<crate::delivery::DeadlinePolicy, ConfigError> {
    let default = crate::delivery::DeadlinePolicy::default();
    Ok(crate::delivery::DeadlinePolicy {
        normal: hours(
            "deadlines.normal_hours",
            l.deadlines_normal_hours,
            default.normal,
        )?,
        khan: hours("deadlines.khan_hours", l.deadlines_khan_hours, default.khan)?,
        thuong_khan: hours(
            "deadlines.thuong_khan_hours",
            l.deadlines_thuong_khan_hours,
            default.thuong_khan,
        )?,
        hoa_toc: hours(
            "deadlines.hoa_toc_hours",
            l.deadlines_hoa_toc_hours,
            default.hoa_toc,
        )?,
        scan: span(
            "deadlines.scan_seconds",
            l.deadlines_scan_seconds,
            default.scan,
            1,
            1..=3600,
        )?,
    })
}

/// The `[audit]` settings; what is not given is [`crate::audit::AuditPolicy::default`]'s.
/// The key file, like the other paths, is taken as given (relative to the working directory).
fn audit_policy(l: &Layer) -> Result<crate::audit::AuditPolicy, ConfigError> {
    let default = crate::audit::AuditPolicy::default();
    let checkpoint_events = l
        .audit_checkpoint_events
        .unwrap_or(default.checkpoint_events);
    if !(1..=10_000_000).contains(&checkpoint_events) {
        return Err(invalid(
            "audit.checkpoint_events",
            &checkpoint_events.to_string(),
            "must be between 1 and 10000000",
        ));
    }
    Ok(crate::audit::AuditPolicy {
        key_file: l.audit_key_file.clone().or(default.key_file),
        checkpoint_every: span(
            "audit.checkpoint_seconds",
            l.audit_checkpoint_seconds,
            default.checkpoint_every,
            1,
            1..=86_400,
        )?,
        checkpoint_events,
    })
}

/// A time in hours, decimals allowed (tests shorten deadlines to seconds): more than 0, at
/// most a year.
fn hours(setting: &str, given: Option<f64>, default: Duration) -> Result<Duration, ConfigError> {
    let Some(hours) = given else {
        return Ok(default);
    };
    if !(hours > 0.0 && hours <= MAX_RETRY_WINDOW_HOURS as f64) {
        return Err(invalid(
            setting,
            &hours.to_string(),
            &format!("must be more than 0 and at most {MAX_RETRY_WINDOW_HOURS} hours"),
        ));
    }
    Ok(Duration::from_secs_f64(hours * 3600.0))
}

/// `smtp.url`: an `smtp://` or `smtps://` URL the mailer can use. Its password is never
/// shown, not even in the error.
fn smtp_url(given: &str) -> Result<String, ConfigError> {
    let url = given.trim();
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("smtp" | "smtps")) {
        return Err(invalid(
            "smtp.url",
            &redact_url(url),
            "expected an smtp:// or smtps:// URL, e.g. smtp://127.0.0.1:2525, \
             smtp://mail.example.gov.vn:587?tls=required (STARTTLS) or \
             smtps://user:password@mail.example.gov.vn",
        ));
    }
    // What the mailer will do with it at start, so that `config check` finds the same problems.
    // lettre's messages name what is wrong, never the URL's parts.
    if let Err(e) = lettre::SmtpTransport::from_url(url) {
        return Err(invalid(
            "smtp.url",
            &redact_url(url),
            &format!(
                "is not a usable SMTP URL ({}); expected smtp://host[:port][?tls=required] or \
                 smtps://[user:password@]host[:port]",
                redact_urls_in(&e.to_string())
            ),
        ));
    }
    Ok(url.to_owned())
}

/// `smtp.from`: `name <local@domain>` or `local@domain`, as the mailer reads it.
fn sender(given: &str) -> Result<String, ConfigError> {
    let from = given.trim();
    match from.parse::<lettre::message::Mailbox>() {
        Ok(_) => Ok(from.to_owned()),
        Err(_) => Err(invalid(
            "smtp.from",
            given,
            "expected a mail address, name <local@domain> or local@domain, e.g. \
             \"Lien thong <lienthong@example.gov.vn>\" (quote a name with punctuation)",
        )),
    }
}

/// `console.base_url`: an `http://` or `https://` address, without its trailing `/` (links
/// append `/…` to it).
fn console_base_url(given: &str) -> Result<String, ConfigError> {
    let url = given.trim();
    let lower = url.to_ascii_lowercase();
    let rest = ["http://", "https://"]
        .into_iter()
        .find_map(|scheme| lower.strip_prefix(scheme));
    match rest {
        Some(rest)
            if !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace) =>
        {
            Ok(url.strip_suffix('/').unwrap_or(url).to_owned())
        }
        _ => Err(invalid(
            "console.base_url",
            &redact_url(url),
            "expected an http:// or https:// address, e.g. https://lienthong.example.gov.vn/console",
        )),
    }
}

fn addresses(
    setting: &str,
    given: Option<Vec<String>>,
) -> Result<Vec<std::net::IpAddr>, ConfigError> {
    given
        .unwrap_or_default()
        .iter()
        .map(|a| {
            a.trim()
                .parse()
                .map_err(|_| invalid(setting, a, "expected IP addresses such as 10.0.0.1 or ::1"))
        })
        .collect()
}

fn directory_ttl(given: Option<u64>) -> Result<Duration, ConfigError> {
    let seconds = given.unwrap_or(DEFAULT_DIRECTORY_TTL_SECONDS);
    if !DIRECTORY_TTL_SECONDS.contains(&seconds) {
        return Err(invalid(
            "directory_ttl_seconds",
            &seconds.to_string(),
            &format!(
                "must be between {} and {} seconds (deactivations take up to this long to apply)",
                DIRECTORY_TTL_SECONDS.start(),
                DIRECTORY_TTL_SECONDS.end()
            ),
        ));
    }
    Ok(Duration::from_secs(seconds))
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Environment variables for a test (also used by `check`'s tests).
    pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    fn load(file: Option<&str>, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_sources(file.map(|t| ("test.toml", t)), env(vars))
    }

    #[test]
    fn nothing_configured_is_dev_mode_with_the_documented_defaults() {
        let config = load(None, &[("PATH", "/usr/bin"), ("HOME", "/root")]).expect("config");
        assert!(config.dev_mode);
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.http_bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.tls, None);
        assert_eq!(config.max_packet_bytes, 64 * 1024 * 1024);
        assert_eq!(config.in_flight_bytes, 512 * 1024 * 1024);
        assert_eq!(config.directory_ttl, Duration::from_secs(10));
        let library = crate::exchange::ExchangeLimits::default();
        assert_eq!(
            (
                library.max_packet_bytes,
                library.in_flight_bytes,
                library.directory_ttl
            ),
            (
                config.max_packet_bytes,
                config.in_flight_bytes,
                config.directory_ttl
            ),
            "the server's defaults are the library's"
        );
        assert_eq!(
            config.trust.anchors,
            vec![PathBuf::from("./data/dev-pki/trust.pem")]
        );
        assert_eq!(config.trust.crls.len(), 2);
        assert_eq!(
            config.receipts.key,
            PathBuf::from("./data/dev-pki/server-receipts-p256.key.pem")
        );
        assert_eq!(config.dev_pki_dir(), Some(PathBuf::from("./data/dev-pki")));
        // Every default path names a file the binary carries (pki::dev writes them out).
        for path in config
            .trust
            .anchors
            .iter()
            .chain(&config.trust.intermediates)
            .chain(&config.trust.crls)
            .chain([&config.receipts.cert, &config.receipts.key])
        {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            assert!(crate::pki::dev::file(name).is_some(), "{}", path.display());
        }
    }

    #[test]
    fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
        let file = r#"
            database_url = "postgres://lt@db:5432/lt"
            data_dir = "/var/lib/lienthong"
            max_packet_bytes = 1048576
            in_flight_bytes = 8388608
            directory_ttl_seconds = 60
            [http]
            bind = "0.0.0.0:9000"
            [trust]
            anchors = ["/etc/lt/root.pem"]
            crl_grace_hours = 12
            [receipts]
            cert = "/etc/lt/r.pem"
            key = "/etc/lt/r.key.pem"
        "#;
        let from_file = load(Some(file), &[]).expect("file only");
        assert!(!from_file.dev_mode);
        assert_eq!(from_file.database_url, "postgres://lt@db:5432/lt");
        assert_eq!(from_file.http_bind.to_string(), "0.0.0.0:9000");
        assert_eq!(from_file.max_packet_bytes, 1_048_576);
        assert_eq!(from_file.in_flight_bytes, 8_388_608);
        assert_eq!(from_file.directory_ttl, Duration::from_secs(60));
        assert_eq!(from_file.trust.crl_grace_hours, 12);
        assert_eq!(from_file.trust.intermediates, Vec::<PathBuf>::new());

        let both = load(
            Some(file),
            &[
                ("LIENTHONG_DATABASE_URL", "sqlite://./x.db?mode=rwc"),
                ("LIENTHONG_HTTP_BIND", "127.0.0.1:0"),
                ("LIENTHONG_TRUST_ANCHORS", "/a.pem:/b.pem"),
                ("LIENTHONG_TRUST_FETCH_CRLS", "yes"),
                ("LIENTHONG_IN_FLIGHT_BYTES", "2097152"),
                ("LIENTHONG_DIRECTORY_TTL_SECONDS", " 5 "),
            ],
        )
        .expect("both");
        assert_eq!(both.in_flight_bytes, 2_097_152);
        assert_eq!(both.directory_ttl, Duration::from_secs(5));
        assert_eq!(both.max_packet_bytes, 1_048_576);
        assert_eq!(both.database_url, "sqlite://./x.db?mode=rwc");
        assert_eq!(both.http_bind.to_string(), "127.0.0.1:0");
        assert_eq!(
            both.trust.anchors,
            vec![PathBuf::from("/a.pem"), PathBuf::from("/b.pem")]
        );
        assert!(both.trust.fetch_crls);
        // Untouched by the environment: still the file's.
        assert_eq!(both.data_dir, PathBuf::from("/var/lib/lienthong"));
        assert_eq!(both.trust.crl_grace_hours, 12);
    }

    #[test]
    fn trust_material_or_a_file_leaves_dev_mode_other_settings_do_not() {
        // Choosing a port, a database or a data directory is still trying lienthong out.
        let tried = load(
            None,
            &[
                ("LIENTHONG_HTTP_BIND", "127.0.0.1:9999"),
                ("LIENTHONG_DATA_DIR", "/tmp/lt"),
                ("LIENTHONG_LOG_FORMAT", "json"),
            ],
        )
        .expect("dev");
        assert!(tried.dev_mode);
        assert_eq!(tried.log_format, LogFormat::Json);
        assert_eq!(
            tried.trust.anchors,
            vec![PathBuf::from("/tmp/lt/dev-pki/trust.pem")]
        );

        let dev = load(
            None,
            &[
                ("LIENTHONG_DEV", "1"),
                ("LIENTHONG_DATABASE_URL", "postgres://lt@127.0.0.1:5433/lt"),
            ],
        )
        .expect("dev");
        assert!(dev.dev_mode);

        // A file is an operator's configuration: the trust material must be in it.
        let err = load(Some("[http]\nbind = \"127.0.0.1:9000\"\n"), &[]).err();
        assert_eq!(err.as_ref().map(|e| e.code()), Some("config.missing"));
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("LIENTHONG_DEV=1"), "{message}");
        assert!(load(Some("dev = true"), &[]).expect("dev file").dev_mode);

        let not_dev = load(None, &[("LIENTHONG_DEV", "0")]).err();
        assert_eq!(not_dev.map(|e| e.code()), Some("config.missing"));

        let anchors_only = load(None, &[("LIENTHONG_TRUST_ANCHORS", "/root.pem")]).err();
        assert!(anchors_only
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("receipts"));
    }

    #[test]
    fn the_clients_variables_are_not_server_settings() {
        let config = load(
            None,
            &[
                ("LIENTHONG_URL", "http://127.0.0.1:8080"),
                ("LIENTHONG_SYSTEM_ID", "dev-000.00.00.G22"),
                ("LIENTHONG_SECRET", "x"),
                ("LIENTHONG_PROFILE", "p.toml"),
            ],
        )
        .expect("config");
        assert!(config.dev_mode);
        let err = load(None, &[("LIENTHONG_LOG_FORMAT", "xml")]).err();
        assert_eq!(err.map(|e| e.code()), Some("config.invalid"));
    }

    #[test]
    fn test_variables_are_ignored_and_unknown_ones_refused() {
        let config = load(
            None,
            &[("LIENTHONG_TEST_POSTGRES_URL", "postgres://lt@127.0.0.1/x")],
        )
        .expect("config");
        assert!(config.dev_mode);
        let err = load(None, &[("LIENTHONG_DATABASE_ULR", "sqlite://x.db")]).err();
        assert_eq!(
            err.as_ref().map(ConfigError::code),
            Some("config.unknown_setting")
        );
        assert!(err
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("LIENTHONG_DATABASE_ULR"));
        let err = load(Some("[http]\nport = 8080\n"), &[]).err();
        assert_eq!(err.map(|e| e.code()), Some("config.file"));
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        for (key, value, setting) in [
            ("LIENTHONG_HTTP_BIND", "localhost:8080", "http.bind"),
            (
                "LIENTHONG_MAX_PACKET_BYTES",
                "lots",
                "LIENTHONG_MAX_PACKET_BYTES",
            ),
            ("LIENTHONG_MAX_PACKET_BYTES", "10", "max_packet_bytes"),
            ("LIENTHONG_DEV", "maybe", "LIENTHONG_DEV"),
            (
                "LIENTHONG_DATABASE_URL",
                "mysql://u:pw@h/db",
                "database_url",
            ),
        ] {
            let err = load(None, &[("LIENTHONG_DEV", "1"), (key, value)]).err();
            match err {
                Some(ConfigError::Invalid {
                    setting: s,
                    value: v,
                    ..
                }) => {
                    assert_eq!(s, setting, "{key}={value}");
                    assert!(!v.contains("pw"), "password shown: {v}");
                }
                other => panic!("{key}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_exchange_limits_are_refused_out_of_range() {
        for (vars, value) in [
            (vec![("LIENTHONG_DIRECTORY_TTL_SECONDS", "0")], "0"),
            (vec![("LIENTHONG_DIRECTORY_TTL_SECONDS", "3601")], "3601"),
            (vec![("LIENTHONG_DIRECTORY_TTL_SECONDS", "-1")], "-1"),
            (
                vec![("LIENTHONG_IN_FLIGHT_BYTES", "2199023255552")],
                "2199023255552",
            ),
            (vec![("LIENTHONG_IN_FLIGHT_BYTES", "")], ""),
        ] {
            let mut vars = vars;
            vars.push(("LIENTHONG_DEV", "1"));
            let err = load(None, &vars).err();
            assert_eq!(err.as_ref().map(ConfigError::code), Some("config.invalid"));
            match err {
                Some(ConfigError::Invalid { value: v, .. }) => assert_eq!(v, value),
                other => panic!("{vars:?}: {other:?}"),
            }
        }
        for (seconds, expected) in [("1", 1), ("3600", 3600)] {
            let config = load(
                None,
                &[
                    ("LIENTHONG_DEV", "1"),
                    ("LIENTHONG_DIRECTORY_TTL_SECONDS", seconds),
                ],
            )
            .expect("bounds are allowed");
            assert_eq!(config.directory_ttl, Duration::from_secs(expected));
        }
        let err = load(Some("dev = true\ndirectory_ttl_seconds = 0\n"), &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("directory_ttl_seconds = \"0\""), "{err}");
        assert!(err.contains("between 1 and 3600"), "{err}");
    }

    #[test]
    fn the_in_flight_budget_holds_at_least_one_largest_packet() {
        // Given smaller than the packet limit: refused, naming both values.
        let err = load(
            Some("dev = true\nmax_packet_bytes = 2097152\nin_flight_bytes = 1048576\n"),
            &[],
        )
        .err();
        assert_eq!(err.as_ref().map(ConfigError::code), Some("config.invalid"));
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with("in_flight_bytes = \"1048576\""),
            "{message}"
        );
        assert!(message.contains("max_packet_bytes (2097152)"), "{message}");
        // The default packet limit counts too.
        let err = load(
            None,
            &[
                ("LIENTHONG_DEV", "1"),
                ("LIENTHONG_IN_FLIGHT_BYTES", "1048576"),
            ],
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("max_packet_bytes (67108864)"), "{err}");
        // Equal is enough.
        let equal = load(
            None,
            &[
                ("LIENTHONG_DEV", "1"),
                ("LIENTHONG_MAX_PACKET_BYTES", "1048576"),
                ("LIENTHONG_IN_FLIGHT_BYTES", "1048576"),
            ],
        )
        .expect("equal");
        assert_eq!(equal.in_flight_bytes, 1_048_576);
        // Left unset, the budget follows a packet limit larger than its default.
        let large = load(
            None,
            &[
                ("LIENTHONG_DEV", "1"),
                ("LIENTHONG_MAX_PACKET_BYTES", "1073741824"),
            ],
        )
        .expect("large packets");
        assert_eq!(large.in_flight_bytes, 1_073_741_824);
    }

    #[test]
    fn tls_needs_its_three_settings_together() {
        let partial = load(
            None,
            &[
                ("LIENTHONG_DEV", "1"),
                ("LIENTHONG_TLS_BIND", "127.0.0.1:8443"),
            ],
        );
        assert_eq!(partial.err().map(|e| e.code()), Some("config.invalid"));
        let full = load(
            Some(
                "dev = true\n[tls]\nbind = \"127.0.0.1:8443\"\ncert = \"s.pem\"\nkey = \"s.key\"\n",
            ),
            &[],
        )
        .expect("tls");
        let tls = full.tls.expect("tls configured");
        assert_eq!(tls.bind.to_string(), "127.0.0.1:8443");
        assert_eq!(tls.client_ca, None);
    }

    #[test]
    fn push_defaults_are_the_policys() {
        let config = load(None, &[]).expect("config");
        assert_eq!(config.push, crate::delivery::PushPolicy::default());
        let production = load(
            Some("[receipts]\ncert = \"r.pem\"\nkey = \"r.key\"\n[trust]\nanchors = [\"a.pem\"]\n"),
            &[],
        )
        .expect("production");
        assert_eq!(production.push, crate::delivery::PushPolicy::default());
    }

    #[test]
    fn push_settings_come_from_the_file_and_the_environment() {
        let file = r#"
            dev = true
            [push]
            enabled = false
            workers = 64
            per_endpoint = 2
            timeout_seconds = 10
            retry_first_seconds = 5
            retry_max_seconds = 600
            retry_window_hours = 24
            breaker_failures = 3
            breaker_probe_seconds = 60
            client_cert = "/etc/lt/push.pem"
            client_key = "/etc/lt/push.key.pem"
        "#;
        let from_file = load(Some(file), &[]).expect("file").push;
        assert_eq!(
            from_file,
            crate::delivery::PushPolicy {
                enabled: false,
                workers: 64,
                per_endpoint: 2,
                timeout: Duration::from_secs(10),
                retry_first: Duration::from_secs(5),
                retry_max: Duration::from_secs(600),
                retry_window: Duration::from_secs(24 * 3600),
                breaker_failures: 3,
                breaker_probe: Duration::from_secs(60),
                client_cert: Some(PathBuf::from("/etc/lt/push.pem")),
                client_key: Some(PathBuf::from("/etc/lt/push.key.pem")),
            }
        );
        let both = load(
            Some(file),
            &[
                ("LIENTHONG_PUSH_ENABLED", "yes"),
                ("LIENTHONG_PUSH_WORKERS", "8"),
                ("LIENTHONG_PUSH_PER_ENDPOINT", "1"),
                ("LIENTHONG_PUSH_TIMEOUT_SECONDS", "3"),
                ("LIENTHONG_PUSH_RETRY_FIRST_SECONDS", "1"),
                ("LIENTHONG_PUSH_RETRY_MAX_SECONDS", "4"),
                ("LIENTHONG_PUSH_RETRY_WINDOW_HOURS", "0"),
                ("LIENTHONG_PUSH_BREAKER_FAILURES", "2"),
                ("LIENTHONG_PUSH_BREAKER_PROBE_SECONDS", " 7 "),
                ("LIENTHONG_PUSH_CLIENT_CERT", "/run/c.pem"),
                ("LIENTHONG_PUSH_CLIENT_KEY", "/run/k.pem"),
            ],
        )
        .expect("both")
        .push;
        assert_eq!(
            both,
            crate::delivery::PushPolicy {
                enabled: true,
                workers: 8,
                per_endpoint: 1,
                timeout: Duration::from_secs(3),
                retry_first: Duration::from_secs(1),
                retry_max: Duration::from_secs(4),
                retry_window: Duration::ZERO,
                breaker_failures: 2,
                breaker_probe: Duration::from_secs(7),
                client_cert: Some(PathBuf::from("/run/c.pem")),
                client_key: Some(PathBuf::from("/run/k.pem")),
            }
        );
        // Left unset, the longest wait follows a first wait larger than its default up.
        let slow = load(None, &[("LIENTHONG_PUSH_RETRY_FIRST_SECONDS", "7200")])
            .expect("slow")
            .push;
        assert_eq!(slow.retry_max, Duration::from_secs(7200));
    }

    #[test]
    fn the_push_retry_window_in_seconds_wins_over_hours() {
        let file = "dev = true\n[push]\nretry_window_hours = 48\nretry_window_seconds = 3\n";
        let config = load(Some(file), &[]).expect("config");
        assert_eq!(config.push.retry_window, Duration::from_secs(3));
        // Even over hours given by a variable: seconds win wherever they come from.
        let config =
            load(Some(file), &[("LIENTHONG_PUSH_RETRY_WINDOW_HOURS", "1")]).expect("config");
        assert_eq!(config.push.retry_window, Duration::from_secs(3));
        let config = load(None, &[("LIENTHONG_PUSH_RETRY_WINDOW_SECONDS", "0")]).expect("zero");
        assert_eq!(config.push.retry_window, Duration::ZERO);
        let config = load(None, &[("LIENTHONG_PUSH_RETRY_WINDOW_HOURS", "2")]).expect("hours");
        assert_eq!(config.push.retry_window, Duration::from_secs(7200));
    }

    #[test]
    fn a_push_client_cert_without_its_key_is_refused() {
        for (vars, setting) in [
            (
                [("LIENTHONG_PUSH_CLIENT_CERT", "/etc/lt/push.pem")],
                "push.client_cert",
            ),
            (
                [("LIENTHONG_PUSH_CLIENT_KEY", "/etc/lt/push.key.pem")],
                "push.client_key",
            ),
        ] {
            let err = load(None, &vars).err();
            assert_eq!(err.as_ref().map(ConfigError::code), Some("config.invalid"));
            let message = err.as_ref().map(ToString::to_string).unwrap_or_default();
            assert!(
                message.contains("push.client_cert and push.client_key go together"),
                "{message}"
            );
            match err {
                Some(ConfigError::Invalid { setting: s, .. }) => assert_eq!(s, setting),
                other => panic!("{vars:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_push_values_are_refused_with_the_setting_named() {
        for (vars, setting, value) in [
            (vec![("LIENTHONG_PUSH_WORKERS", "0")], "push.workers", "0"),
            (
                vec![("LIENTHONG_PUSH_PER_ENDPOINT", "0")],
                "push.per_endpoint",
                "0",
            ),
            (
                vec![("LIENTHONG_PUSH_TIMEOUT_SECONDS", "0")],
                "push.timeout_seconds",
                "0",
            ),
            (
                vec![("LIENTHONG_PUSH_RETRY_FIRST_SECONDS", "0")],
                "push.retry_first_seconds",
                "0",
            ),
            (
                vec![
                    ("LIENTHONG_PUSH_RETRY_FIRST_SECONDS", "60"),
                    ("LIENTHONG_PUSH_RETRY_MAX_SECONDS", "59"),
                ],
                "push.retry_max_seconds",
                "59",
            ),
            (
                vec![("LIENTHONG_PUSH_RETRY_WINDOW_HOURS", "1000000")],
                "push.retry_window_hours",
                "1000000",
            ),
            (
                vec![("LIENTHONG_PUSH_BREAKER_FAILURES", "0")],
                "push.breaker_failures",
                "0",
            ),
            (
                vec![("LIENTHONG_PUSH_BREAKER_PROBE_SECONDS", "0")],
                "push.breaker_probe_seconds",
                "0",
            ),
            (
                vec![("LIENTHONG_PUSH_WORKERS", "many")],
                "LIENTHONG_PUSH_WORKERS",
                "many",
            ),
            (
                vec![("LIENTHONG_PUSH_ENABLED", "maybe")],
                "LIENTHONG_PUSH_ENABLED",
                "maybe",
            ),
        ] {
            match load(None, &vars).err() {
                Some(ConfigError::Invalid {
                    setting: s,
                    value: v,
                    ..
                }) => assert_eq!((s.as_str(), v.as_str()), (setting, value), "{vars:?}"),
                other => panic!("{vars:?}: {other:?}"),
            }
        }
        let err = load(Some("dev = true\n[push]\nworkers = 0\n"), &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("push.workers = \"0\""), "{err}");
        assert!(err.contains("between 1 and"), "{err}");
        let err = load(Some("dev = true\n[push]\nworker = 4\n"), &[]).err();
        assert_eq!(err.map(|e| e.code()), Some("config.file"));
    }

    #[test]
    fn mail_defaults_are_the_policys() {
        let config = load(None, &[]).expect("config");
        assert_eq!(config.mail, crate::delivery::MailPolicy::default());
        assert_eq!(config.smtp_url_redacted(), None);
        let production = load(
            Some("[receipts]\ncert = \"r.pem\"\nkey = \"r.key\"\n[trust]\nanchors = [\"a.pem\"]\n"),
            &[],
        )
        .expect("production");
        assert_eq!(production.mail, crate::delivery::MailPolicy::default());
    }

    #[test]
    fn mail_settings_come_from_the_file_and_the_environment() {
        let file = r#"
            dev = true
            [smtp]
            url = "smtp://mail.example.gov.vn:587?tls=required"
            from = "Lien thong <lienthong@example.gov.vn>"
            timeout_seconds = 10
            [mail]
            gather_seconds = 0
            retry_window_hours = 48
            [console]
            base_url = "https://lienthong.example.gov.vn/console/"
        "#;
        let from_file = load(Some(file), &[]).expect("file").mail;
        assert_eq!(
            from_file,
            crate::delivery::MailPolicy {
                smtp_url: Some("smtp://mail.example.gov.vn:587?tls=required".to_owned()),
                from: Some("Lien thong <lienthong@example.gov.vn>".to_owned()),
                console_base_url: Some("https://lienthong.example.gov.vn/console".to_owned()),
                gather: Duration::ZERO,
                retry_window: Duration::from_secs(48 * 3600),
                timeout: Duration::from_secs(10),
            }
        );
        let both = load(
            Some(file),
            &[
                ("LIENTHONG_SMTP_URL", "smtp://127.0.0.1:2525"),
                ("LIENTHONG_SMTP_FROM", "lienthong@localhost"),
                ("LIENTHONG_SMTP_TIMEOUT_SECONDS", " 3 "),
                ("LIENTHONG_MAIL_GATHER_SECONDS", "3600"),
                ("LIENTHONG_MAIL_RETRY_WINDOW_HOURS", "0"),
                ("LIENTHONG_CONSOLE_BASE_URL", "http://127.0.0.1:8080"),
            ],
        )
        .expect("both")
        .mail;
        assert_eq!(
            both,
            crate::delivery::MailPolicy {
                smtp_url: Some("smtp://127.0.0.1:2525".to_owned()),
                from: Some("lienthong@localhost".to_owned()),
                console_base_url: Some("http://127.0.0.1:8080".to_owned()),
                gather: Duration::from_secs(3600),
                retry_window: Duration::ZERO,
                timeout: Duration::from_secs(3),
            }
        );
        // A sender alone, a console alone: nothing is mailed, and that is no error.
        let partial = load(
            None,
            &[
                ("LIENTHONG_SMTP_FROM", "Văn thư <vanthu@example.gov.vn>"),
                ("LIENTHONG_CONSOLE_BASE_URL", "HTTPS://lt.example.gov.vn/"),
            ],
        )
        .expect("partial")
        .mail;
        assert_eq!(partial.smtp_url, None);
        assert_eq!(
            partial.console_base_url.as_deref(),
            Some("HTTPS://lt.example.gov.vn")
        );
        // smtps, with credentials.
        let smtps = load(
            None,
            &[
                (
                    "LIENTHONG_SMTP_URL",
                    "smtps://lt:s3cret@mail.example.gov.vn",
                ),
                ("LIENTHONG_SMTP_FROM", "lienthong@example.gov.vn"),
            ],
        )
        .expect("smtps");
        assert_eq!(
            smtps.mail.smtp_url.as_deref(),
            Some("smtps://lt:s3cret@mail.example.gov.vn")
        );
        assert_eq!(
            smtps.smtp_url_redacted().as_deref(),
            Some("smtps://lt:***@mail.example.gov.vn")
        );
    }

    #[test]
    fn an_smtp_url_without_a_sender_is_refused() {
        for (file, vars) in [
            (
                "dev = true\n[smtp]\nurl = \"smtp://127.0.0.1:2525\"\n",
                vec![],
            ),
            (
                "dev = true\n",
                vec![("LIENTHONG_SMTP_URL", "smtp://127.0.0.1:2525")],
            ),
        ] {
            let err = load(Some(file), &vars).err();
            assert_eq!(err.as_ref().map(ConfigError::code), Some("config.invalid"));
            let message = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(message.starts_with("smtp.url = "), "{message}");
            assert!(message.contains("smtp.from"), "{message}");
            assert!(message.contains("LIENTHONG_SMTP_FROM"), "{message}");
        }
    }

    #[test]
    fn bad_mail_values_are_refused_with_the_setting_named() {
        for (vars, setting, value) in [
            (
                vec![("LIENTHONG_SMTP_URL", "http://mail.example.gov.vn")],
                "smtp.url",
                "http://mail.example.gov.vn",
            ),
            (
                vec![("LIENTHONG_SMTP_URL", "mail.example.gov.vn:25")],
                "smtp.url",
                "mail.example.gov.vn:25",
            ),
            (
                vec![("LIENTHONG_SMTP_URL", "smtp://mail.example.gov.vn?tls=maybe")],
                "smtp.url",
                "smtp://mail.example.gov.vn?tls=maybe",
            ),
            (
                vec![("LIENTHONG_SMTP_URL", "smtp://mail.example.gov.vn:port")],
                "smtp.url",
                "smtp://mail.example.gov.vn:port",
            ),
            (
                vec![("LIENTHONG_SMTP_FROM", "lienthong")],
                "smtp.from",
                "lienthong",
            ),
            (
                vec![("LIENTHONG_SMTP_FROM", "Lien thong <lienthong>")],
                "smtp.from",
                "Lien thong <lienthong>",
            ),
            (
                vec![("LIENTHONG_SMTP_TIMEOUT_SECONDS", "0")],
                "smtp.timeout_seconds",
                "0",
            ),
            (
                vec![("LIENTHONG_SMTP_TIMEOUT_SECONDS", "3601")],
                "smtp.timeout_seconds",
                "3601",
            ),
            (
                vec![("LIENTHONG_MAIL_GATHER_SECONDS", "3601")],
                "mail.gather_seconds",
                "3601",
            ),
            (
                vec![("LIENTHONG_MAIL_RETRY_WINDOW_HOURS", "1000000")],
                "mail.retry_window_hours",
                "1000000",
            ),
            (
                vec![("LIENTHONG_MAIL_RETRY_WINDOW_SECONDS", "99999999999")],
                "mail.retry_window_seconds",
                "99999999999",
            ),
            (
                vec![("LIENTHONG_CONSOLE_BASE_URL", "lienthong.example.gov.vn")],
                "console.base_url",
                "lienthong.example.gov.vn",
            ),
            (
                vec![(
                    "LIENTHONG_CONSOLE_BASE_URL",
                    "ftp://lienthong.example.gov.vn",
                )],
                "console.base_url",
                "ftp://lienthong.example.gov.vn",
            ),
            (
                vec![("LIENTHONG_CONSOLE_BASE_URL", "https://")],
                "console.base_url",
                "https://",
            ),
            (
                vec![("LIENTHONG_MAIL_GATHER_SECONDS", "soon")],
                "LIENTHONG_MAIL_GATHER_SECONDS",
                "soon",
            ),
        ] {
            match load(None, &vars).err() {
                Some(ConfigError::Invalid {
                    setting: s,
                    value: v,
                    ..
                }) => assert_eq!((s.as_str(), v.as_str()), (setting, value), "{vars:?}"),
                other => panic!("{vars:?}: {other:?}"),
            }
        }
        let err = load(
            Some("dev = true\n[smtp]\nurl = \"http://mail.example.gov.vn\"\n"),
            &[],
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("smtp://"), "{err}");
        assert!(err.contains("smtps://"), "{err}");
        let err = load(Some("dev = true\n[mail]\ngather = 4\n"), &[]).err();
        assert_eq!(err.map(|e| e.code()), Some("config.file"));
    }

    #[test]
    fn the_smtp_password_never_shows() {
        let password = "hunter2";
        // Refused URLs: the message names the URL, never its password.
        for url in [
            "http://lt:hunter2@mail.example.gov.vn",
            "smtp://lt:hunter2@mail.example.gov.vn:port",
            "smtp://lt:hunter2@mail.example.gov.vn?tls=maybe",
            "smtp://lt:hun/ter2@mail.example.gov.vn",
            "smtp://lt:hun?ter2@mail.example.gov.vn",
            "smtp:lt:hunter2@mail.example.gov.vn",
            "lt:hunter2@mail.example.gov.vn",
        ] {
            let err = load(None, &[("LIENTHONG_SMTP_URL", url)]).err();
            assert_eq!(err.as_ref().map(ConfigError::code), Some("config.invalid"));
            let shown = format!(
                "{err:?} {}",
                err.as_ref().map(ToString::to_string).unwrap_or_default()
            );
            // "ter2": also what follows an unencoded `/` or `?` in the password.
            assert!(!shown.contains("ter2"), "{url}: {shown}");
            assert!(shown.contains("mail.example.gov.vn"), "{url}: {shown}");
        }
        // Accepted but without its sender.
        let err = load(
            None,
            &[(
                "LIENTHONG_SMTP_URL",
                "smtps://lt:hunter2@mail.example.gov.vn",
            )],
        )
        .err();
        let shown = format!(
            "{err:?} {}",
            err.as_ref().map(ToString::to_string).unwrap_or_default()
        );
        assert!(
            shown.contains("smtps://lt:***@mail.example.gov.vn"),
            "{shown}"
        );
        assert!(!shown.contains(password), "{shown}");
        // A file the URL makes unreadable: its error quotes the line.
        for file in [
            "dev = true\n[smtp]\nurl = smtps://lt:hunter2@mail.example.gov.vn\n",
            "dev = true\n[smtp]\nurl = [\"smtps://lt:hunter2@mail.example.gov.vn\"]\n",
            "dev = true\n[smtp]\nurl = \"smtps://lt:hunter2@mail.example.gov.vn\"\nfrom = 1\n",
        ] {
            let err = load(Some(file), &[]).err();
            assert_eq!(err.as_ref().map(ConfigError::code), Some("config.file"));
            let shown = format!(
                "{err:?} {}",
                err.as_ref().map(ToString::to_string).unwrap_or_default()
            );
            assert!(!shown.contains(password), "{shown}");
        }
        // The settings in force: Debug hides it, and the database's too.
        let config = load(
            None,
            &[
                ("LIENTHONG_DEV", "1"),
                ("LIENTHONG_DATABASE_URL", "postgres://lt:hunter2@db/lt"),
                (
                    "LIENTHONG_SMTP_URL",
                    "smtps://lt:hunter2@mail.example.gov.vn",
                ),
                ("LIENTHONG_SMTP_FROM", "lienthong@example.gov.vn"),
            ],
        )
        .expect("config");
        for shown in [format!("{config:?}"), format!("{config:#?}")] {
            assert!(!shown.contains(password), "{shown}");
            assert!(
                shown.contains("smtps://lt:***@mail.example.gov.vn"),
                "{shown}"
            );
            assert!(shown.contains("postgres://lt:***@db/lt"), "{shown}");
            assert!(shown.contains("lienthong@example.gov.vn"), "{shown}");
        }
        // The URL itself is kept whole for the mailer.
        assert_eq!(
            config.mail.smtp_url.as_deref(),
            Some("smtps://lt:hunter2@mail.example.gov.vn")
        );
    }

    #[test]
    fn urls_are_redacted_even_when_malformed() {
        for (url, redacted) in [
            ("smtp://127.0.0.1:2525", "smtp://127.0.0.1:2525"),
            ("smtp://lt@mail.example", "smtp://lt@mail.example"),
            (
                "smtps://lt:pw@mail.example:465",
                "smtps://lt:***@mail.example:465",
            ),
            ("smtps://lt:p@w@mail.example", "smtps://lt:***@mail.example"),
            ("smtp://lt:p/w@mail.example", "smtp://lt:***@mail.example"),
            ("smtp:lt:pw@mail.example", "smtp:***@mail.example"),
            ("lt:pw@mail.example", "lt:***@mail.example"),
            (
                "Lien thong <lt@example.gov.vn>",
                "Lien thong <lt@example.gov.vn>",
            ),
        ] {
            assert_eq!(redact_url(url), redacted, "{url}");
        }
        assert_eq!(
            redact_urls_in("1 | url = smtps://lt:pw@mail.example\n  |       ^ \"smtp://u:x@h/\""),
            "1 | url = smtps://lt:***@mail.example\n  |       ^ \"smtp://u:***@h/\""
        );
    }

    #[test]
    fn the_mail_retry_window_in_seconds_wins_over_hours() {
        let file = "dev = true\n[mail]\nretry_window_hours = 48\nretry_window_seconds = 3\n";
        let config = load(Some(file), &[]).expect("config");
        assert_eq!(config.mail.retry_window, Duration::from_secs(3));
        let config =
            load(Some(file), &[("LIENTHONG_MAIL_RETRY_WINDOW_HOURS", "1")]).expect("config");
        assert_eq!(config.mail.retry_window, Duration::from_secs(3));
        let config = load(None, &[("LIENTHONG_MAIL_RETRY_WINDOW_SECONDS", "0")]).expect("zero");
        assert_eq!(config.mail.retry_window, Duration::ZERO);
        let config = load(None, &[("LIENTHONG_MAIL_RETRY_WINDOW_HOURS", "2")]).expect("hours");
        assert_eq!(config.mail.retry_window, Duration::from_secs(7200));
        // The push window is its own.
        assert_eq!(
            config.push.retry_window,
            crate::delivery::PushPolicy::default().retry_window
        );
    }

    #[test]
    fn admin_commands_need_only_the_storage_settings() {
        let vars = [
            ("LIENTHONG_DATABASE_URL", "postgres://lt@db/lt"),
            ("LIENTHONG_DEV", "false"),
        ];
        assert_eq!(
            load(None, &vars).err().map(|e| e.code()),
            Some("config.missing")
        );
        let storage = StorageConfig::from_sources(None, env(&vars)).expect("storage");
        assert_eq!(storage.database_url, "postgres://lt@db/lt");
        assert_eq!(storage.data_dir, PathBuf::from("./data"));
        let from_file =
            StorageConfig::from_sources(Some(("f.toml", "data_dir = \"/srv/lt\"")), env(&vars))
                .expect("storage");
        assert_eq!(from_file.data_dir, PathBuf::from("/srv/lt"));
        // Typos and bad values are still refused.
        let typo = StorageConfig::from_sources(None, env(&[("LIENTHONG_DATABSE_URL", "x")]));
        assert_eq!(typo.err().map(|e| e.code()), Some("config.unknown_setting"));
        let bad = StorageConfig::from_sources(None, env(&[("LIENTHONG_DATABASE_URL", "x")]));
        assert_eq!(bad.err().map(|e| e.code()), Some("config.invalid"));
    }

    #[test]
    fn passwords_stay_out_of_logs() {
        let config = load(
            None,
            &[
                ("LIENTHONG_DEV", "1"),
                ("LIENTHONG_DATABASE_URL", "postgres://lt:hunter2@db/lt"),
            ],
        )
        .expect("config");
        assert_eq!(config.database_url_redacted(), "postgres://lt:***@db/lt");
    }

    #[test]
    fn deadlines_take_decimal_hours_from_the_file_and_the_environment() {
        assert_eq!(
            load(None, &[]).expect("defaults").deadlines,
            crate::delivery::DeadlinePolicy::default()
        );
        let file =
            "dev = true\n[deadlines]\nnormal_hours = 12\nkhan_hours = 0.5\nscan_seconds = 5\n";
        let from_file = load(Some(file), &[]).expect("file").deadlines;
        assert_eq!(from_file.normal, Duration::from_secs(12 * 3600));
        assert_eq!(from_file.khan, Duration::from_secs(1800));
        assert_eq!(from_file.thuong_khan, Duration::from_secs(4 * 3600));
        assert_eq!(from_file.scan, Duration::from_secs(5));
        let both = load(
            Some(file),
            &[
                ("LIENTHONG_DEADLINES_KHAN_HOURS", "0.0005"),
                ("LIENTHONG_DEADLINES_HOA_TOC_HOURS", "1"),
            ],
        )
        .expect("env")
        .deadlines;
        assert_eq!(both.khan, Duration::from_millis(1800));
        assert_eq!(both.hoa_toc, Duration::from_secs(3600));
        assert_eq!(both.normal, Duration::from_secs(12 * 3600));
    }

    #[test]
    fn deadlines_that_are_not_positive_or_too_long_are_refused_with_the_setting_named() {
        for (var, value, setting) in [
            (
                "LIENTHONG_DEADLINES_NORMAL_HOURS",
                "0",
                "deadlines.normal_hours",
            ),
            (
                "LIENTHONG_DEADLINES_KHAN_HOURS",
                "-1",
                "deadlines.khan_hours",
            ),
            (
                "LIENTHONG_DEADLINES_HOA_TOC_HOURS",
                "9000",
                "deadlines.hoa_toc_hours",
            ),
            (
                "LIENTHONG_DEADLINES_THUONG_KHAN_HOURS",
                "soon",
                "LIENTHONG_DEADLINES_THUONG_KHAN_HOURS",
            ),
            (
                "LIENTHONG_DEADLINES_NORMAL_HOURS",
                "NaN",
                "LIENTHONG_DEADLINES_NORMAL_HOURS",
            ),
            (
                "LIENTHONG_DEADLINES_SCAN_SECONDS",
                "0",
                "deadlines.scan_seconds",
            ),
        ] {
            match load(None, &[(var, value)]) {
                Err(ConfigError::Invalid { setting: s, .. }) => {
                    assert_eq!(s, setting, "{var}={value}")
                }
                other => panic!("{var}={value}: {other:?}"),
            }
        }
        let file = "dev = true\n[deadlines]\nkhan_hours = 0\n";
        assert!(matches!(
            load(Some(file), &[]),
            Err(ConfigError::Invalid { setting, .. }) if setting == "deadlines.khan_hours"
        ));
    }

    #[test]
    fn audit_settings_come_from_the_file_and_the_environment() {
        assert_eq!(
            load(None, &[]).expect("defaults").audit,
            crate::audit::AuditPolicy::default()
        );
        let file = "dev = true\n[audit]\nkey_file = \"keys/audit.key\"\ncheckpoint_seconds = 30\n";
        let from_file = load(Some(file), &[]).expect("file").audit;
        assert_eq!(from_file.key_file, Some(PathBuf::from("keys/audit.key")));
        assert_eq!(from_file.checkpoint_every, Duration::from_secs(30));
        assert_eq!(from_file.checkpoint_events, 10_000);
        let both = load(
            Some(file),
            &[
                ("LIENTHONG_AUDIT_KEY_FILE", "/etc/lienthong/audit-log.key"),
                ("LIENTHONG_AUDIT_CHECKPOINT_EVENTS", "1"),
            ],
        )
        .expect("env")
        .audit;
        assert_eq!(
            both.key_file,
            Some(PathBuf::from("/etc/lienthong/audit-log.key"))
        );
        assert_eq!(both.checkpoint_every, Duration::from_secs(30));
        assert_eq!(both.checkpoint_events, 1);
    }

    #[test]
    fn audit_settings_out_of_range_are_refused_with_the_setting_named() {
        for (var, value, setting) in [
            (
                "LIENTHONG_AUDIT_CHECKPOINT_SECONDS",
                "0",
                "audit.checkpoint_seconds",
            ),
            (
                "LIENTHONG_AUDIT_CHECKPOINT_SECONDS",
                "86401",
                "audit.checkpoint_seconds",
            ),
            (
                "LIENTHONG_AUDIT_CHECKPOINT_EVENTS",
                "0",
                "audit.checkpoint_events",
            ),
            (
                "LIENTHONG_AUDIT_CHECKPOINT_EVENTS",
                "10000001",
                "audit.checkpoint_events",
            ),
            (
                "LIENTHONG_AUDIT_CHECKPOINT_EVENTS",
                "many",
                "LIENTHONG_AUDIT_CHECKPOINT_EVENTS",
            ),
        ] {
            match load(None, &[(var, value)]) {
                Err(ConfigError::Invalid { setting: s, .. }) => {
                    assert_eq!(s, setting, "{var}={value}")
                }
                other => panic!("{var}={value}: {other:?}"),
            }
        }
        let file = "dev = true\n[audit]\ncheckpoint_events = 0\n";
        assert!(matches!(
            load(Some(file), &[]),
            Err(ConfigError::Invalid { setting, .. }) if setting == "audit.checkpoint_events"
        ));
    }
}
