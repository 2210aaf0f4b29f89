//! `lienthong config check`: every problem of a configuration at once — unknown keys and
//! variables with a "did you mean", values of the wrong type, settings that do not fit
//! together, files that are missing or unreadable, the public dev material in production —
//! instead of the first one the server trips over.

use std::ffi::OsString;
use std::path::Path;

use super::{Config, CLIENT_VARIABLES, ENV_PREFIX, TEST_PREFIX};

/// What a setting's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Path,
    Paths,
    /// A list of strings.
    List,
    Bool,
    Number,
    /// A number, decimals allowed.
    Decimal,
    Address,
    /// A table of strings (`{ "FROM" = "TO" }`).
    Table,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Text => "a string",
            Kind::Path => "a file path (string)",
            Kind::Paths => "a list of file paths",
            Kind::List => "a list of strings",
            Kind::Bool => "true or false",
            Kind::Number => "a whole number",
            Kind::Decimal => "a number, e.g. 24 or 0.5",
            Kind::Address => "an address and port such as \"127.0.0.1:8080\"",
            Kind::Table => "a table of strings, e.g. { \"http://a/\" = \"http://b/\" }",
        }
    }

    fn accepts(self, value: &toml::Value) -> bool {
        match self {
            Kind::Text | Kind::Path | Kind::Address => value.is_str(),
            Kind::Paths | Kind::List => value
                .as_array()
                .is_some_and(|items| items.iter().all(toml::Value::is_str)),
            Kind::Bool => value.is_bool(),
            Kind::Number => value.as_integer().is_some_and(|n| n >= 0),
            // Its range is the parsers' to check, with a message that gives it.
            Kind::Decimal => value.is_float() || value.is_integer(),
            Kind::Table => value
                .as_table()
                .is_some_and(|t| t.values().all(toml::Value::is_str)),
        }
    }
}

/// One setting: its key in the file (`section.key`), its environment variable, its kind.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
    pub kind: Kind,
}

const fn setting(key: &'static str, env: &'static str, kind: Kind) -> Setting {
    Setting { key, env, kind }
}

/// Every setting the server reads (a unit test holds this list to the parsers).
pub const SETTINGS: &[Setting] = &[
    setting("database_url", "LIENTHONG_DATABASE_URL", Kind::Text),
    setting("data_dir", "LIENTHONG_DATA_DIR", Kind::Path),
    setting("dev", "LIENTHONG_DEV", Kind::Bool),
    setting(
        "max_packet_bytes",
        "LIENTHONG_MAX_PACKET_BYTES",
        Kind::Number,
    ),
    setting("in_flight_bytes", "LIENTHONG_IN_FLIGHT_BYTES", Kind::Number),
    setting(
        "agency_in_flight_bytes",
        "LIENTHONG_AGENCY_IN_FLIGHT_BYTES",
        Kind::Number,
    ),
    setting("agency_uploads", "LIENTHONG_AGENCY_UPLOADS", Kind::Number),
    setting(
        "directory_ttl_seconds",
        "LIENTHONG_DIRECTORY_TTL_SECONDS",
        Kind::Number,
    ),
    setting("log", "LIENTHONG_LOG", Kind::Text),
    setting("log_format", "LIENTHONG_LOG_FORMAT", Kind::Text),
    setting("http.bind", "LIENTHONG_HTTP_BIND", Kind::Address),
    setting(
        "http.max_connections",
        "LIENTHONG_HTTP_MAX_CONNECTIONS",
        Kind::Number,
    ),
    setting(
        "http.header_timeout_seconds",
        "LIENTHONG_HTTP_HEADER_TIMEOUT_SECONDS",
        Kind::Number,
    ),
    setting(
        "http.body_idle_timeout_seconds",
        "LIENTHONG_HTTP_BODY_IDLE_TIMEOUT_SECONDS",
        Kind::Number,
    ),
    setting(
        "http.body_min_bytes_per_second",
        "LIENTHONG_HTTP_BODY_MIN_BYTES_PER_SECOND",
        Kind::Number,
    ),
    setting(
        "http.write_timeout_seconds",
        "LIENTHONG_HTTP_WRITE_TIMEOUT_SECONDS",
        Kind::Number,
    ),
    setting(
        "http.trusted_proxies",
        "LIENTHONG_HTTP_TRUSTED_PROXIES",
        Kind::List,
    ),
    setting(
        "auth.max_failures_per_id",
        "LIENTHONG_AUTH_MAX_FAILURES_PER_ID",
        Kind::Number,
    ),
    setting(
        "auth.max_failures_per_address",
        "LIENTHONG_AUTH_MAX_FAILURES_PER_ADDRESS",
        Kind::Number,
    ),
    setting(
        "auth.failure_window_seconds",
        "LIENTHONG_AUTH_FAILURE_WINDOW_SECONDS",
        Kind::Number,
    ),
    setting("push.enabled", "LIENTHONG_PUSH_ENABLED", Kind::Bool),
    setting("push.workers", "LIENTHONG_PUSH_WORKERS", Kind::Number),
    setting(
        "push.per_endpoint",
        "LIENTHONG_PUSH_PER_ENDPOINT",
        Kind::Number,
    ),
    setting(
        "push.timeout_seconds",
        "LIENTHONG_PUSH_TIMEOUT_SECONDS",
        Kind::Number,
    ),
    setting(
        "push.retry_first_seconds",
        "LIENTHONG_PUSH_RETRY_FIRST_SECONDS",
        Kind::Number,
    ),
    setting(
        "push.retry_max_seconds",
        "LIENTHONG_PUSH_RETRY_MAX_SECONDS",
        Kind::Number,
    ),
    setting(
        "push.retry_window_hours",
        "LIENTHONG_PUSH_RETRY_WINDOW_HOURS",
        Kind::Number,
    ),
    setting(
        "push.retry_window_seconds",
        "LIENTHONG_PUSH_RETRY_WINDOW_SECONDS",
        Kind::Number,
    ),
    setting(
        "push.breaker_failures",
        "LIENTHONG_PUSH_BREAKER_FAILURES",
        Kind::Number,
    ),
    setting(
        "push.breaker_probe_seconds",
        "LIENTHONG_PUSH_BREAKER_PROBE_SECONDS",
        Kind::Number,
    ),
    setting("push.client_cert", "LIENTHONG_PUSH_CLIENT_CERT", Kind::Path),
    setting("push.client_key", "LIENTHONG_PUSH_CLIENT_KEY", Kind::Path),
    setting("smtp.url", "LIENTHONG_SMTP_URL", Kind::Text),
    setting("smtp.from", "LIENTHONG_SMTP_FROM", Kind::Text),
    setting(
        "smtp.timeout_seconds",
        "LIENTHONG_SMTP_TIMEOUT_SECONDS",
        Kind::Number,
    ),
    setting(
        "mail.gather_seconds",
        "LIENTHONG_MAIL_GATHER_SECONDS",
        Kind::Number,
    ),
    setting(
        "mail.retry_window_hours",
        "LIENTHONG_MAIL_RETRY_WINDOW_HOURS",
        Kind::Number,
    ),
    setting(
        "mail.retry_window_seconds",
        "LIENTHONG_MAIL_RETRY_WINDOW_SECONDS",
        Kind::Number,
    ),
    setting(
        "deadlines.normal_hours",
        "LIENTHONG_DEADLINES_NORMAL_HOURS",
        Kind::Decimal,
    ),
    setting(
        "deadlines.khan_hours",
        "LIENTHONG_DEADLINES_KHAN_HOURS",
        Kind::Decimal,
    ),
    setting(
        "deadlines.thuong_khan_hours",
        "LIENTHONG_DEADLINES_THUONG_KHAN_HOURS",
        Kind::Decimal,
    ),
    setting(
        "deadlines.hoa_toc_hours",
        "LIENTHONG_DEADLINES_HOA_TOC_HOURS",
        Kind::Decimal,
    ),
    setting(
        "deadlines.scan_seconds",
        "LIENTHONG_DEADLINES_SCAN_SECONDS",
        Kind::Number,
    ),
    setting("audit.key_file", "LIENTHONG_AUDIT_KEY_FILE", Kind::Path),
    setting(
        "audit.checkpoint_seconds",
        "LIENTHONG_AUDIT_CHECKPOINT_SECONDS",
        Kind::Number,
    ),
    setting(
        "audit.checkpoint_events",
        "LIENTHONG_AUDIT_CHECKPOINT_EVENTS",
        Kind::Number,
    ),
    setting("console.base_url", "LIENTHONG_CONSOLE_BASE_URL", Kind::Text),
    setting("tls.bind", "LIENTHONG_TLS_BIND", Kind::Address),
    setting("tls.cert", "LIENTHONG_TLS_CERT", Kind::Path),
    setting("tls.key", "LIENTHONG_TLS_KEY", Kind::Path),
    setting("tls.client_ca", "LIENTHONG_TLS_CLIENT_CA", Kind::Path),
    setting("trust.anchors", "LIENTHONG_TRUST_ANCHORS", Kind::Paths),
    setting(
        "trust.intermediates",
        "LIENTHONG_TRUST_INTERMEDIATES",
        Kind::Paths,
    ),
    setting("trust.crls", "LIENTHONG_TRUST_CRLS", Kind::Paths),
    setting(
        "trust.crl_grace_hours",
        "LIENTHONG_TRUST_CRL_GRACE_HOURS",
        Kind::Number,
    ),
    setting("trust.fetch_crls", "LIENTHONG_TRUST_FETCH_CRLS", Kind::Bool),
    setting(
        "trust.crl_mirrors",
        "LIENTHONG_TRUST_CRL_MIRRORS",
        Kind::Table,
    ),
    setting("trust.allow_sha1", "LIENTHONG_TRUST_ALLOW_SHA1", Kind::Bool),
    setting("receipts.cert", "LIENTHONG_RECEIPTS_CERT", Kind::Path),
    setting("receipts.key", "LIENTHONG_RECEIPTS_KEY", Kind::Path),
];

/// Settings whose value may hold a password: a value of the wrong type is not shown.
const SECRET_SETTINGS: [&str; 2] = ["database_url", "smtp.url"];

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The server would start, but something is probably wrong.
    Warning,
    /// The server would refuse to start.
    Error,
}

/// One finding of `config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Stable code (`config.*`).
    pub code: &'static str,
    pub message: String,
}

impl Finding {
    fn error(code: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Error,
            code,
            message: message.into(),
        }
    }

    fn warning(code: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            code,
            message: message.into(),
        }
    }
}

/// What `config check` found, and the settings in force when they resolve.
#[derive(Debug)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub config: Option<Config>,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Checks the file (name, text) and the environment, reporting every problem found.
pub fn check<I>(file: Option<(&str, &str)>, env: I) -> Report
where
    I: IntoIterator<Item = (OsString, OsString)>,
{
    let mut findings = Vec::new();
    // What is left once the unknown keys and wrongly typed values are reported and set aside,
    // so that the rest of the settings can still be resolved and their files checked.
    let usable_file = file.map(|(name, text)| (name, check_file(name, text, &mut findings)));
    let env = check_env(env, &mut findings);
    let resolved = match &usable_file {
        Some((name, Some(text))) => Config::from_sources(Some((name, text.as_str())), env),
        Some((_, None)) => {
            return Report {
                findings,
                config: None,
            }
        }
        None => Config::from_sources(None, env),
    };
    let config = match resolved {
        Ok(config) => Some(config),
        Err(e) => {
            findings.push(Finding::error(e.code(), e.to_string()));
            None
        }
    };
    if let Some(config) = &config {
        check_files(config, &mut findings);
    }
    Report { findings, config }
}

/// Reports unknown keys and wrongly typed values; returns the file without them (as TOML
/// text), or `None` when it is not TOML at all.
fn check_file(name: &str, text: &str, findings: &mut Vec<Finding>) -> Option<String> {
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            findings.push(Finding::error(
                "config.file",
                format!("{name} is not valid TOML: {}", e.message()),
            ));
            return None;
        }
    };
    let mut usable = toml::Table::new();
    let mut walk = |section: Option<&str>, key: &str, value: &toml::Value| {
        let full = match section {
            Some(s) => format!("{s}.{key}"),
            None => key.to_owned(),
        };
        match SETTINGS.iter().find(|s| s.key == full) {
            Some(s) if !s.kind.accepts(value) => {
                let shown = if SECRET_SETTINGS.contains(&s.key) {
                    format!("a value of type {}", value.type_str())
                } else {
                    value.to_string()
                };
                findings.push(Finding::error(
                    "config.invalid",
                    format!("{name}: {full} must be {}, not {shown}", s.kind.describe()),
                ))
            }
            Some(_) => {
                let target = match section {
                    Some(s) => usable
                        .entry(s)
                        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                        .as_table_mut(),
                    None => Some(&mut usable),
                };
                if let Some(target) = target {
                    target.insert(key.to_owned(), value.clone());
                }
            }
            None => findings.push(Finding::error(
                "config.unknown_setting",
                format!(
                    "{name}: {full} is not a setting{}",
                    suggestion(&full, SETTINGS.iter().map(|s| s.key))
                ),
            )),
        }
    };
    for (key, value) in &table {
        match value.as_table() {
            Some(section)
                if SETTINGS
                    .iter()
                    .any(|s| s.key.starts_with(&format!("{key}."))) =>
            {
                for (inner, value) in section {
                    walk(Some(key), inner, value);
                }
            }
            _ => walk(None, key, value),
        }
    }
    Some(toml::to_string(&usable).unwrap_or_default())
}

/// Reports unknown `LIENTHONG_*` variables; returns the environment without them.
fn check_env<I>(env: I, findings: &mut Vec<Finding>) -> Vec<(OsString, OsString)>
where
    I: IntoIterator<Item = (OsString, OsString)>,
{
    let mut usable = Vec::new();
    for (key, value) in env {
        let unknown = key.to_str().filter(|key| {
            key.starts_with(ENV_PREFIX)
                && !key.starts_with(TEST_PREFIX)
                && !CLIENT_VARIABLES.contains(key)
                && !SETTINGS.iter().any(|s| s.env == *key)
        });
        match unknown {
            Some(key) => findings.push(Finding::error(
                "config.unknown_setting",
                format!(
                    "{key} is not a lienthong setting{}",
                    suggestion(key, SETTINGS.iter().map(|s| s.env))
                ),
            )),
            None => usable.push((key, value)),
        }
    }
    usable
}

/// The files the settings name: present, readable, of the right kind, not the dev material
/// outside dev mode.
fn check_files(config: &Config, findings: &mut Vec<Finding>) {
    // The push client certificate is the operator's own in dev mode too.
    let push = &config.push;
    if let Some(cert) = &push.client_cert {
        if let Some(pem) = readable(cert, "push.client_cert", findings) {
            certificates(cert, &pem, findings);
        }
    }
    if let Some(key) = &push.client_key {
        if let Some(pem) = readable(key, "push.client_key", findings) {
            private_key(key, "push.client_key", &pem, findings);
        }
    }
    if config.dev_mode {
        findings.push(Finding::warning(
            "config.dev_mode",
            "dev mode: the public dev PKI is trusted and signs receipts (written to DATA_DIR/dev-pki \
             at start); never use it with real agencies",
        ));
        return;
    }
    let trust = &config.trust;
    for path in trust.anchors.iter().chain(&trust.intermediates) {
        if let Some(pem) = readable(path, "certificates", findings) {
            certificates(path, &pem, findings);
        }
    }
    for path in &trust.crls {
        readable(path, "CRL", findings);
    }
    if let Some(pem) = readable(&config.receipts.cert, "receipts.cert", findings) {
        if certificates(&config.receipts.cert, &pem, findings)
            && crate::pki::dev::holds_dev_certificate(&pem)
        {
            findings.push(Finding::warning(
                "config.dev_material",
                format!(
                    "receipts.cert {} is the public DEV receipt certificate: receipts would prove nothing",
                    config.receipts.cert.display()
                ),
            ));
        }
    }
    if let Some(pem) = readable(&config.receipts.key, "receipts.key", findings) {
        private_key(&config.receipts.key, "receipts.key", &pem, findings);
    }
    for path in trust.anchors.iter().chain(&trust.intermediates) {
        if std::fs::read(path).is_ok_and(|pem| crate::pki::dev::holds_dev_certificate(&pem)) {
            findings.push(Finding::warning(
                "config.dev_material",
                format!(
                    "{} holds the public DEV PKI: anyone could sign packets this server accepts",
                    path.display()
                ),
            ));
        }
    }
    if let Some(tls) = &config.tls {
        for path in [Some(&tls.cert), Some(&tls.key), tls.client_ca.as_ref()]
            .into_iter()
            .flatten()
        {
            readable(path, "TLS file", findings);
        }
    }
}

fn readable(path: &Path, what: &str, findings: &mut Vec<Finding>) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            findings.push(Finding::error(
                "config.missing_file",
                format!("{what} {}: {e}", path.display()),
            ));
            None
        }
    }
}

fn private_key(path: &Path, what: &str, pem: &[u8], findings: &mut Vec<Finding>) {
    if openssl::pkey::PKey::private_key_from_pem(pem).is_err() {
        findings.push(Finding::error(
            "config.invalid",
            format!("{what} {} is not a PEM private key", path.display()),
        ));
    }
}

fn certificates(path: &Path, pem: &[u8], findings: &mut Vec<Finding>) -> bool {
    match openssl::x509::X509::stack_from_pem(pem) {
        Ok(certs) if !certs.is_empty() => true,
        _ => {
            findings.push(Finding::error(
                "config.invalid",
                format!("{} holds no PEM certificate", path.display()),
            ));
            false
        }
    }
}

/// `"; did you mean X?"` for the closest known name, when it is close enough to be a typo.
pub fn suggestion<'a>(given: &str, known: impl Iterator<Item = &'a str>) -> String {
    let given_lower = given.to_ascii_lowercase();
    known
        .map(|k| (distance(&given_lower, &k.to_ascii_lowercase()), k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| format!("; did you mean {k}?"))
        .unwrap_or_default()
}

/// Levenshtein distance over bytes (keys are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::tests::env;
    use super::*;

    fn codes(report: &Report) -> Vec<&'static str> {
        report.findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn every_listed_setting_is_read_by_the_parsers() {
        for s in SETTINGS {
            let value = match s.kind {
                Kind::Text if s.key == "log_format" => "json",
                Kind::Text if s.key == "database_url" => "sqlite://x.db",
                Kind::Bool => "true",
                Kind::Number => "3600",
                Kind::Decimal => "2",
                Kind::Address => "127.0.0.1:1",
                Kind::Table => "http://a/=http://b/",
                _ => "/x",
            };
            let vars = env(&[(s.env, value)]);
            assert!(
                !matches!(
                    super::super::env_layer(vars),
                    Err(super::super::ConfigError::UnknownSetting(_))
                ),
                "{} is listed but not read from the environment",
                s.env
            );
            let (section, key) = s.key.split_once('.').unwrap_or(("", s.key));
            let rendered = match s.kind {
                Kind::Bool | Kind::Number | Kind::Decimal => value.to_owned(),
                Kind::Paths | Kind::List => format!("[{value:?}]"),
                Kind::Table => "{ \"http://a/\" = \"http://b/\" }".to_owned(),
                _ => format!("{value:?}"),
            };
            let text = if section.is_empty() {
                format!("{key} = {rendered}\n")
            } else {
                format!("[{section}]\n{key} = {rendered}\n")
            };
            assert!(
                super::super::file_layer("t.toml", &text).is_ok(),
                "{} is listed but not read from the file: {text}",
                s.key
            );
        }
    }

    #[test]
    fn every_problem_is_reported_at_once_with_suggestions() {
        let file = "databse_url = \"sqlite://x.db\"\nmax_packet_bytes = \"big\"\n[trust]\nanchor = []\nanchors = [\"/nonexistent/a.pem\"]\n[receipts]\ncert = \"/nonexistent/r.pem\"\nkey = \"/nonexistent/r.key\"\n";
        let report = check(
            Some(("lt.toml", file)),
            env(&[("LIENTHONG_HTTP_BIDN", "x"), ("LIENTHONG_URL", "http://x")]),
        );
        let messages: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
        assert!(report.has_errors());
        assert!(
            messages
                .iter()
                .any(|m| m.contains("did you mean database_url?")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("did you mean trust.anchors?")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("max_packet_bytes must be a whole number")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("did you mean LIENTHONG_HTTP_BIND?")),
            "{messages:?}"
        );
        assert!(!messages.iter().any(|m| m.contains("LIENTHONG_URL")));
        // The rest still resolves: the receipt files it names are checked too.
        assert!(
            messages.iter().any(|m| m.contains("/nonexistent/r.pem")),
            "{messages:?}"
        );
    }

    #[test]
    fn missing_files_and_the_dev_material_are_found() {
        let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/dev");
        let file = format!(
            "[trust]\nanchors = [{:?}, \"/nonexistent/root.pem\"]\n[receipts]\ncert = {:?}\nkey = {:?}\n",
            dev.join("trust.pem"),
            dev.join("server-receipts-p256.pem"),
            dev.join("server-receipts-p256.key.pem"),
        );
        let report = check(Some(("lt.toml", &file)), env(&[]));
        let found = codes(&report);
        assert!(
            found.contains(&"config.missing_file"),
            "{:?}",
            report.findings
        );
        assert_eq!(
            found
                .iter()
                .filter(|c| **c == "config.dev_material")
                .count(),
            2,
            "{:?}",
            report.findings
        );
    }

    #[test]
    fn the_push_client_files_are_checked() {
        let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/dev");
        let file = format!(
            "dev = true\n[push]\nclient_cert = \"/nonexistent/push.pem\"\nclient_key = {:?}\n",
            dev.join("trust.pem"),
        );
        let report = check(Some(("lt.toml", &file)), env(&[]));
        let messages: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
        assert!(report.has_errors());
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.code == "config.missing_file"
                    && f.message.contains("push.client_cert /nonexistent/push.pem")),
            "{messages:?}"
        );
        assert!(
            report.findings.iter().any(|f| f.code == "config.invalid"
                && f.message.contains("push.client_key")
                && f.message.contains("not a PEM private key")),
            "{messages:?}"
        );
        // Given alone, the pair is refused before any file is read.
        let report = check(
            None,
            env(&[("LIENTHONG_PUSH_CLIENT_KEY", "/nonexistent/push.key")]),
        );
        assert_eq!(
            codes(&report),
            vec!["config.invalid"],
            "{:?}",
            report.findings
        );
    }

    #[test]
    fn the_smtp_password_stays_out_of_the_findings() {
        let report = check(
            Some((
                "lt.toml",
                "dev = true\n[smtp]\nurl = [\"smtps://lt:hunter2@mail.example.gov.vn\"]\n",
            )),
            env(&[(
                "LIENTHONG_SMTP_URL",
                "http://lt:hunter2@mail.example.gov.vn",
            )]),
        );
        assert_eq!(
            codes(&report),
            vec!["config.invalid", "config.invalid"],
            "{:?}",
            report.findings
        );
        let shown = format!("{report:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("http://lt:***@mail.example.gov.vn"),
            "{shown}"
        );
        // Resolved, the settings in force hide it too.
        let report = check(
            None,
            env(&[
                (
                    "LIENTHONG_SMTP_URL",
                    "smtps://lt:hunter2@mail.example.gov.vn",
                ),
                ("LIENTHONG_SMTP_FROM", "lienthong@example.gov.vn"),
            ]),
        );
        assert!(!report.has_errors(), "{:?}", report.findings);
        let shown = format!("{report:?}");
        assert!(report.config.is_some());
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn deadlines_out_of_range_are_reported_with_their_range() {
        let report = check(
            Some((
                "lt.toml",
                "dev = true\n[deadlines]\nnormal_hours = 0.0005\nkhan_hours = 0\n",
            )),
            env(&[]),
        );
        let messages: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(codes(&report), vec!["config.invalid"], "{messages:?}");
        assert!(
            messages[0].contains("deadlines.khan_hours")
                && messages[0].contains("more than 0 and at most 8760 hours"),
            "{messages:?}"
        );
        let report = check(
            Some((
                "lt.toml",
                "dev = true\n[deadlines]\nhoa_toc_hours = \"2\"\n",
            )),
            env(&[]),
        );
        assert!(
            report.findings.iter().any(|f| f.code == "config.invalid"
                && f.message
                    .contains("deadlines.hoa_toc_hours must be a number")),
            "{:?}",
            report.findings
        );
    }

    #[test]
    fn every_setting_is_documented() {
        let doc = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/CONFIGURATION.md"),
        )
        .expect("docs/CONFIGURATION.md");
        for s in SETTINGS {
            assert!(
                doc.contains(&format!("`{}`", s.key)),
                "{} undocumented",
                s.key
            );
            assert!(
                doc.contains(&format!("`{}`", s.env)),
                "{} undocumented",
                s.env
            );
        }
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        let known = ["database_url", "data_dir"];
        assert_eq!(
            suggestion("databse_url", known.into_iter()),
            "; did you mean database_url?"
        );
        assert_eq!(suggestion("colour", known.into_iter()), "");
    }
}
