//! How pushes are made and retried: the `[push]` settings, with the defaults a national hub
//! starts with (docs/CONFIGURATION.md).

use std::path::PathBuf;
use std::time::Duration;

/// The push settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPolicy {
    /// Whether this node pushes at all (`push.enabled`). Off, deliveries still queue their
    /// pushes, for a node that has it on.
    pub enabled: bool,
    /// Pushes in flight at once on this node (`push.workers`).
    pub workers: u32,
    /// Pushes in flight at once to one endpoint (`push.per_endpoint`): one slow province does
    /// not take every worker.
    pub per_endpoint: u32,
    /// How long one push may take, connecting included (`push.timeout_seconds`).
    pub timeout: Duration,
    /// The wait before the first retry (`push.retry_first_seconds`); it doubles on each
    /// failure, with jitter, up to `retry_max`.
    pub retry_first: Duration,
    /// The longest wait between two attempts (`push.retry_max_seconds`).
    pub retry_max: Duration,
    /// How long after its acceptance a delivery is retried before it is parked
    /// (`push.retry_window_hours`).
    pub retry_window: Duration,
    /// Consecutive failures of an endpoint that open its circuit breaker
    /// (`push.breaker_failures`).
    pub breaker_failures: u32,
    /// While a breaker is open, one probe per this interval (`push.breaker_probe_seconds`).
    pub breaker_probe: Duration,
    /// The exchange's client certificate (PEM, with its chain) for https endpoints that ask for
    /// one (`push.client_cert`), and its key (`push.client_key`).
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

impl Default for PushPolicy {
    fn default() -> PushPolicy {
        PushPolicy {
            enabled: true,
            workers: 16,
            per_endpoint: 4,
            timeout: Duration::from_secs(30),
            retry_first: Duration::from_secs(10),
            retry_max: Duration::from_secs(3600),
            retry_window: Duration::from_secs(72 * 3600),
            breaker_failures: 5,
            breaker_probe: Duration::from_secs(30),
            client_cert: None,
            client_key: None,
        }
    }
}

/// How clerks are mailed: the `[smtp]` and `[mail]` settings, and `console.base_url` for links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailPolicy {
    /// `smtp://host:port`, `smtps://user:pass@host` (`smtp.url`); none: nothing is mailed.
    pub smtp_url: Option<String>,
    /// The sender address of the mails (`smtp.from`), e.g. `Lien thong <lienthong@example.gov.vn>`.
    pub from: Option<String>,
    /// Where the web console is (`console.base_url`), for links in mails; none: no links.
    pub console_base_url: Option<String>,
    /// How long a mail waits to be gathered with others to the same clerks into one digest
    /// (`mail.gather_seconds`).
    pub gather: Duration,
    /// How long after its event a mail is retried when SMTP fails, before it is given up
    /// (`mail.retry_window_hours`, or `mail.retry_window_seconds`).
    pub retry_window: Duration,
    /// How long one SMTP exchange may take (`smtp.timeout_seconds`).
    pub timeout: Duration,
}

impl Default for MailPolicy {
    fn default() -> MailPolicy {
        MailPolicy {
            smtp_url: None,
            from: None,
            console_base_url: None,
            gather: Duration::from_secs(60),
            retry_window: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Acknowledgement deadlines: the `[deadlines]` settings. A letter must be acknowledged (its
/// delivery taken by pull or push, or a status 01 or later) within the window of its priority,
/// counted from its acceptance; hỏa tốc hẹn giờ (priority 4) is due at the packet's own time
/// when that lies after the acceptance, else as hỏa tốc. Handling (status 06) is due by the
/// end of the packet's DueDate, Vietnam time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlinePolicy {
    /// Thường, priority 0 or none (`deadlines.normal_hours`).
    pub normal: Duration,
    /// Khẩn, priority 1 (`deadlines.khan_hours`).
    pub khan: Duration,
    /// Thượng khẩn, priority 2 (`deadlines.thuong_khan_hours`).
    pub thuong_khan: Duration,
    /// Hỏa tốc, priority 3, and hỏa tốc hẹn giờ without a later packet time
    /// (`deadlines.hoa_toc_hours`).
    pub hoa_toc: Duration,
    /// How often the overdue job looks for missed deadlines (`deadlines.scan_seconds`).
    pub scan: Duration,
}

impl Default for DeadlinePolicy {
    fn default() -> DeadlinePolicy {
        DeadlinePolicy {
            normal: Duration::from_secs(24 * 3600),
            khan: Duration::from_secs(8 * 3600),
            thuong_khan: Duration::from_secs(4 * 3600),
            hoa_toc: Duration::from_secs(2 * 3600),
            scan: Duration::from_secs(60),
        }
    }
}
