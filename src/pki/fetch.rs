//! CRLs fetched from the distribution points named in certificates, over plain HTTP with
//! timeouts and a size cap, cached in memory.
//!
//! Two ways to fetch. **On demand** (`packet verify --fetch-crls`, a one-shot process): a CRL
//! that is not cached and current is downloaded on the caller's path. **In the background**
//! (the server): validation only reads the cache, never the network. Every distribution point a
//! verified path names is registered (even when a configured CRL answered, so that its
//! successor is in hand before it falls due), and so are those of the configured intermediates
//! at start; one refresher thread ([`CrlFetcher::spawn_refresher`]) downloads each known URL —
//! at most one download per URL at a time, each on a thread of its own so that a hanging point
//! delays no other — then again three quarters of the way to its nextUpdate, retrying failures
//! with back-off and keeping the last good CRL until a newer one replaces it. A URL nothing is
//! cached for yet is answered "not downloaded yet" (the packet fails closed with
//! `pki.revocation_unknown`). A cached CRL past its nextUpdate is still handed to validation,
//! whose freshness rule (the grace period) then decides: too old still refuses.
//!
//! The refresher keeps every last good CRL in a folder (the server's `DATA_DIR/crl-cache`) and
//! reads it back when it starts, so that a restart — even while a distribution point is down —
//! begins with the CRLs it had, instead of refusing the packets of every CA until each is
//! downloaded again.
//!
//! URLs are only ever taken from certificates whose path to a trust anchor has already been
//! verified (or from that folder, written from such URLs), so the addresses fetched are the
//! ones a trusted CA wrote. Fetched CRLs, read-back ones included, are checked exactly like
//! configured ones (issuer signature, scope, freshness) whenever they are used.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::crl::Crl;

/// How CRLs are fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Whole-request timeout (connect, send, receive).
    pub timeout: Duration,
    /// Largest CRL accepted, in bytes.
    pub max_bytes: u64,
    /// After a failed fetch, how long before asking again (on demand), or the first back-off
    /// step (in the background, doubling up to an hour), so that a dead distribution point is
    /// not hammered.
    pub retry_after: Duration,
    /// URL prefix rewrites `(from, to)`, first match wins: serve the CRLs of an isolated network
    /// from a local mirror without re-issuing certificates.
    pub mirrors: Vec<(String, String)>,
    /// Download in the background (the server) rather than on the caller's path.
    pub background: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            timeout: Duration::from_secs(10),
            max_bytes: 16 * 1024 * 1024,
            retry_after: Duration::from_secs(60),
            mirrors: Vec::new(),
            background: false,
        }
    }
}

/// Fetches and caches CRLs. Clones share one cache.
#[derive(Clone)]
pub struct CrlFetcher {
    inner: Arc<Inner>,
}

struct Inner {
    agent: ureq::Agent,
    config: FetchConfig,
    cache: Mutex<HashMap<String, Entry>>,
    /// Wakes the refresher when a URL is registered.
    wake: Condvar,
    /// Where the refresher keeps the last good CRLs (set when it starts).
    saved: OnceLock<PathBuf>,
}

/// What is known of one distribution point.
#[derive(Default)]
struct Entry {
    /// The last good CRL.
    crl: Option<Arc<Crl>>,
    fetched_at: Option<OffsetDateTime>,
    /// Failed downloads since the last success (the back-off), and in all.
    consecutive_failures: u32,
    failures: u64,
    last_error: Option<String>,
    last_attempt: Option<Instant>,
    /// When the refresher should download it next (`None`: now).
    next_attempt: Option<Instant>,
    /// A download of it is under way: no second one starts (one download per URL).
    downloading: bool,
}

impl Entry {
    fn due(&self, now: Instant) -> bool {
        !self.downloading && self.next_attempt.map_or(true, |at| at <= now)
    }
}

/// One distribution point's state, for /metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlReport {
    pub url: String,
    /// The cached CRL's thisUpdate and nextUpdate, when one is cached.
    pub this_update: Option<OffsetDateTime>,
    pub next_update: Option<OffsetDateTime>,
    /// When it was downloaded.
    pub fetched_at: Option<OffsetDateTime>,
    /// Failed downloads in all, and since the last success (0: the last attempt succeeded, or
    /// none was made yet).
    pub failures: u64,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
}

impl std::fmt::Debug for CrlFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrlFetcher")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Longest back-off between failed downloads.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Longest the refresher sleeps before looking again at what is due.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// "Not downloaded yet", as the refused packet's sentence says it.
const NOT_YET: &str = "not downloaded yet: the refresher is fetching it, retry shortly";

impl CrlFetcher {
    /// A fetcher with an empty cache.
    pub fn new(config: FetchConfig) -> Self {
        let agent_config = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .max_redirects(3)
            .http_status_as_error(false)
            .build();
        CrlFetcher {
            inner: Arc::new(Inner {
                agent: ureq::Agent::new_with_config(agent_config),
                config,
                cache: Mutex::new(HashMap::new()),
                wake: Condvar::new(),
                saved: OnceLock::new(),
            }),
        }
    }

    /// Whether downloads happen in the background (the server) rather than on the caller's path.
    pub fn in_background(&self) -> bool {
        self.inner.config.background
    }

    /// The CRL at `url`: on demand, from the cache while current, else downloaded; in the
    /// background mode, whatever the cache holds (current or not: validation judges its age),
    /// or an error that registers the URL for the refresher.
    pub fn fetch(&self, url: &str) -> Result<Arc<Crl>, String> {
        if self.inner.config.background {
            return self.cached_or_wanted(url);
        }
        let now = OffsetDateTime::now_utc();
        if let Some(answer) = self.cached_on_demand(url, now) {
            return answer;
        }
        let result = self.download(url).map(|(_, crl)| crl);
        self.record(url, &result);
        result
    }

    /// Fetches every distribution point; returns the CRLs obtained and one sentence per failure.
    pub(crate) fn crls_for(&self, urls: &[String]) -> (Vec<Arc<Crl>>, Vec<String>) {
        let mut crls = Vec::new();
        let mut failures = Vec::new();
        for url in urls {
            match self.fetch(url) {
                Ok(crl) => crls.push(crl),
                Err(reason) => failures.push(format!("fetching {url}: {reason}")),
            }
        }
        (crls, failures)
    }

    /// In the background mode, registers the distribution points (of a verified certificate)
    /// that are not known yet, for the refresher to download; costs a lookup for known ones.
    /// On demand it does nothing: there, a CRL is fetched when a validation needs it.
    pub fn watch(&self, urls: &[String]) {
        if !self.inner.config.background || urls.is_empty() {
            return;
        }
        let mut cache = self.cache();
        let mut added = false;
        for url in urls {
            if !cache.contains_key(url) {
                cache.insert(url.clone(), Entry::default());
                added = true;
            }
        }
        if added {
            self.inner.wake.notify_all();
        }
    }

    /// Starts the thread that keeps every known distribution point's CRL fresh (background
    /// mode), after reading back the CRLs kept in `saved` (when given) by an earlier run; it
    /// keeps each new good CRL there. It holds the fetcher weakly and ends once every clone is
    /// dropped. Returns how many CRLs were read back.
    pub fn spawn_refresher(&self, saved: Option<&Path>) -> std::io::Result<usize> {
        let restored = saved.map_or(0, |dir| self.keep_in(dir));
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        std::thread::Builder::new()
            .name("crl-refresher".to_owned())
            .spawn(move || {
                while let Some(inner) = weak.upgrade() {
                    let fetcher = CrlFetcher { inner };
                    // The downloads run on their own threads: the loop never waits for one.
                    drop(fetcher.start_due(Instant::now()));
                    let wait = fetcher.next_wait(Instant::now());
                    fetcher.sleep(wait.min(MAX_SLEEP));
                }
            })?;
        Ok(restored)
    }

    /// Downloads every URL whose time has come and waits for them (what the refresher does,
    /// without its waiting for a download); returns how long until the next is due.
    pub fn refresh_due(&self, now: Instant) -> Duration {
        for download in self.start_due(now) {
            let _ = download.join();
        }
        self.next_wait(Instant::now())
    }

    /// Starts one download thread per URL that is due and not already being downloaded.
    fn start_due(&self, now: Instant) -> Vec<JoinHandle<()>> {
        let due: Vec<String> = self
            .cache()
            .iter_mut()
            .filter(|(_, e)| e.due(now))
            .map(|(url, e)| {
                e.downloading = true;
                url.clone()
            })
            .collect();
        let mut started = Vec::new();
        for url in due {
            let fetcher = self.clone();
            let name = url.clone();
            match std::thread::Builder::new()
                .name("crl-download".to_owned())
                .spawn(move || fetcher.refresh_one(&name))
            {
                Ok(handle) => started.push(handle),
                Err(e) => self.record(&url, &Err(format!("cannot start a download: {e}"))),
            }
        }
        started
    }

    /// Downloads `url` once, keeps a good CRL (in memory and in the saved folder) and schedules
    /// the next download.
    fn refresh_one(&self, url: &str) {
        let result = match self.download(url) {
            Ok((bytes, crl)) => {
                if let Some(dir) = self.inner.saved.get() {
                    if let Err(e) = save(dir, url, &bytes) {
                        tracing::warn!(%url, dir = %dir.display(), error = %e, "cannot keep the CRL for the next start");
                    }
                }
                Ok(crl)
            }
            Err(reason) => {
                tracing::warn!(%url, %reason, "CRL download failed; the last good CRL (if any) stays in use");
                Err(reason)
            }
        };
        self.record(url, &result);
    }

    /// How long until the next URL is due (an hour when none is known).
    fn next_wait(&self, now: Instant) -> Duration {
        self.cache()
            .values()
            .filter(|e| !e.downloading)
            .map(|e| {
                e.next_attempt
                    .map_or(Duration::ZERO, |at| at.saturating_duration_since(now))
            })
            .min()
            .unwrap_or(Duration::from_secs(3600))
    }

    /// Every distribution point known, by URL.
    pub fn report(&self) -> Vec<CrlReport> {
        let mut reports: Vec<CrlReport> = self
            .cache()
            .iter()
            .map(|(url, e)| CrlReport {
                url: url.clone(),
                this_update: e.crl.as_ref().map(|c| c.this_update()),
                next_update: e.crl.as_ref().and_then(|c| c.next_update()),
                fetched_at: e.fetched_at,
                failures: e.failures,
                consecutive_failures: e.consecutive_failures,
                last_error: e.last_error.clone(),
            })
            .collect();
        reports.sort_by(|a, b| a.url.cmp(&b.url));
        reports
    }

    fn sleep(&self, wait: Duration) {
        let cache = self.cache();
        let wanted = |c: &HashMap<String, Entry>| {
            c.values()
                .any(|e| e.next_attempt.is_none() && !e.downloading)
        };
        if wait.is_zero() || wanted(&cache) {
            return;
        }
        let _ = self
            .inner
            .wake
            .wait_timeout_while(cache, wait, |c| !wanted(c));
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A panic elsewhere while holding the lock leaves the map intact: keep using it.
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cached_or_wanted(&self, url: &str) -> Result<Arc<Crl>, String> {
        let mut cache = self.cache();
        match cache.get(url) {
            Some(Entry { crl: Some(crl), .. }) => Ok(Arc::clone(crl)),
            Some(entry) => Err(match &entry.last_error {
                Some(e) => format!("not downloaded yet; the last attempt failed: {e}"),
                None => NOT_YET.to_owned(),
            }),
            None => {
                cache.insert(url.to_owned(), Entry::default());
                self.inner.wake.notify_all();
                Err(NOT_YET.to_owned())
            }
        }
    }

    fn cached_on_demand(&self, url: &str, now: OffsetDateTime) -> Option<Result<Arc<Crl>, String>> {
        let cache = self.cache();
        let entry = cache.get(url)?;
        if let Some(crl) = &entry.crl {
            if crl.next_update().is_some_and(|next| now <= next) {
                return Some(Ok(Arc::clone(crl)));
            }
        }
        match (&entry.last_error, entry.last_attempt) {
            (Some(reason), Some(at)) if at.elapsed() < self.inner.config.retry_after => {
                Some(Err(format!("{reason} (cached failure)")))
            }
            _ => None,
        }
    }

    /// Stores a download's outcome and schedules the next one.
    fn record(&self, url: &str, result: &Result<Arc<Crl>, String>) {
        let now = Instant::now();
        let mut cache = self.cache();
        let entry = cache.entry(url.to_owned()).or_default();
        entry.last_attempt = Some(now);
        entry.downloading = false;
        match result {
            Ok(crl) => {
                entry.fetched_at = Some(OffsetDateTime::now_utc());
                entry.consecutive_failures = 0;
                entry.last_error = None;
                entry.next_attempt = Some(
                    now + refresh_in(
                        crl,
                        OffsetDateTime::now_utc(),
                        self.inner.config.retry_after,
                    ),
                );
                entry.crl = Some(Arc::clone(crl));
            }
            Err(reason) => {
                entry.failures += 1;
                entry.consecutive_failures = entry.consecutive_failures.saturating_add(1);
                entry.last_error = Some(reason.clone());
                entry.next_attempt =
                    Some(now + backoff(self.inner.config.retry_after, entry.consecutive_failures));
            }
        }
    }

    /// Keeps every good CRL downloaded from now on in `dir` (the first folder given wins), and
    /// reads back the distribution points and CRLs kept there; each is due at once (asked again
    /// when the refresher starts) and serves until then. A file that cannot be read is skipped
    /// with a warning: it costs a download, never trust. Returns how many CRLs were read back.
    fn keep_in(&self, dir: &Path) -> usize {
        let _ = self.inner.saved.set(dir.to_owned());
        let saved = match read_saved(dir) {
            Ok(saved) => saved,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot read the kept CRLs; downloading them again");
                }
                return 0;
            }
        };
        let mut restored = 0;
        let mut cache = self.cache();
        for kept in saved {
            let entry = cache.entry(kept.url.clone()).or_default();
            match kept.crl {
                Ok(Some((crl, written))) => {
                    entry.crl = Some(Arc::new(crl));
                    entry.fetched_at = written;
                    restored += 1;
                }
                Ok(None) => {}
                Err(reason) => {
                    tracing::warn!(url = %kept.url, %reason, "a kept CRL is unusable; downloading it again");
                }
            }
        }
        restored
    }

    fn download(&self, url: &str) -> Result<(Vec<u8>, Arc<Crl>), String> {
        let target = rewrite(url, &self.inner.config.mirrors);
        if !target.starts_with("http://") {
            return Err(format!(
                "only http:// distribution points are fetched, not {target}"
            ));
        }
        let mut response = self
            .inner
            .agent
            .get(&target)
            .call()
            .map_err(|e| format!("request to {target} failed: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("{target} answered HTTP {status}"));
        }
        let max = self.inner.config.max_bytes;
        let body = response
            .body_mut()
            .with_config()
            .limit(max)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => {
                    format!("{target} sent more than the {max}-byte limit")
                }
                other => format!("reading {target} failed: {other}"),
            })?;
        let crl = Crl::fetched(&body, url)
            .map(Arc::new)
            .map_err(|e| e.to_string())?;
        Ok((body, crl))
    }
}

/// One distribution point read back from the saved folder: its URL, and its CRL with the time
/// it was written (none when it was never downloaded), or why that is unusable.
struct Kept {
    url: String,
    crl: Result<Option<(Crl, Option<OffsetDateTime>)>, String>,
}

/// The file names of a distribution point in the saved folder: the SHA-256 of its URL, so that
/// any URL makes a safe name; `.url` holds the URL, `.crl` the CRL as downloaded (PEM or DER,
/// readable with `openssl crl`).
fn saved_stem(url: &str) -> String {
    hex::encode(openssl::sha::sha256(url.as_bytes()))
}

/// Keeps a good CRL: the URL first, then the CRL, each written whole under a temporary name and
/// renamed, so a crash leaves either the old file or the new one. Not fsynced: a lost file costs
/// one download.
fn save(dir: &Path, url: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let stem = saved_stem(url);
    let url_file = dir.join(format!("{stem}.url"));
    if std::fs::read(&url_file).ok().as_deref() != Some(url.as_bytes()) {
        write_whole(&url_file, url.as_bytes())?;
    }
    write_whole(&dir.join(format!("{stem}.crl")), bytes)
}

fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Several nodes may share the folder: each writes its own temporary file.
    let mut unique = [0u8; 8];
    openssl::rand::rand_bytes(&mut unique).map_err(std::io::Error::other)?;
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", hex::encode(unique)));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

/// Every distribution point kept in `dir` (its `.url` files), with its CRL when there is one.
fn read_saved(dir: &Path) -> std::io::Result<Vec<Kept>> {
    let mut kept = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let path = item?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("url") {
            continue;
        }
        let Ok(url) = std::fs::read_to_string(&path) else {
            continue;
        };
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if stem != saved_stem(&url) {
            tracing::warn!(file = %path.display(), "a kept distribution point does not match its file name; ignored");
            continue;
        }
        let crl_file = path.with_extension("crl");
        let crl = match std::fs::read(&crl_file) {
            Ok(bytes) => Crl::fetched(&bytes, &url)
                .map(|crl| {
                    let written = std::fs::metadata(&crl_file)
                        .and_then(|m| m.modified())
                        .ok()
                        .map(OffsetDateTime::from);
                    Some((crl, written))
                })
                .map_err(|e| e.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        };
        kept.push(Kept { url, crl });
    }
    Ok(kept)
}

/// When to download a CRL again: three quarters of the way from its thisUpdate to its
/// nextUpdate (so a new one is in hand well before the old one is due), at least `floor` from
/// now (a CRL already due is asked for again at that pace, not in a loop), at most an hour
/// when it names no nextUpdate.
fn refresh_in(crl: &Crl, now: OffsetDateTime, floor: Duration) -> Duration {
    let Some(next) = crl.next_update() else {
        return Duration::from_secs(3600);
    };
    let at = crl.this_update() + (next - crl.this_update()) * 3 / 4;
    let wait = at - now;
    Duration::try_from(wait)
        .unwrap_or(Duration::ZERO)
        .max(floor)
}

/// The wait after `n` failures in a row: `step`, doubling, at most an hour.
fn backoff(step: Duration, n: u32) -> Duration {
    step.saturating_mul(2u32.saturating_pow(n.saturating_sub(1).min(16)))
        .min(MAX_BACKOFF)
}

/// Applies the first matching mirror rewrite.
fn rewrite(url: &str, mirrors: &[(String, String)]) -> String {
    mirrors
        .iter()
        .find_map(|(from, to)| {
            url.strip_prefix(from.as_str())
                .map(|rest| format!("{to}{rest}"))
        })
        .unwrap_or_else(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_rewrite_the_first_matching_prefix() {
        let mirrors = vec![
            ("http://a/pki/".to_owned(), "http://127.0.0.1:9/".to_owned()),
            ("http://a/".to_owned(), "http://b/".to_owned()),
        ];
        assert_eq!(
            rewrite("http://a/pki/x.crl", &mirrors),
            "http://127.0.0.1:9/x.crl"
        );
        assert_eq!(rewrite("http://a/y.crl", &mirrors), "http://b/y.crl");
        assert_eq!(rewrite("http://c/z.crl", &mirrors), "http://c/z.crl");
    }

    #[test]
    fn non_http_distribution_points_are_not_fetched() {
        let fetcher = CrlFetcher::new(FetchConfig::default());
        let err = fetcher
            .fetch("ldap://dir.example/cn=CA?certificateRevocationList")
            .err();
        assert!(err.unwrap_or_default().contains("only http://"));
    }
}

#[cfg(test)]
mod server_tests {
    //! Against a real HTTP server on 127.0.0.1 started by each test.

    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc;

    use super::*;
    use crate::pki::testdata::{self, store_with_crls, AT};
    use crate::pki::{CrlOrigin, RevocationStatus, TrustStore, ValidationPolicy};

    /// The URL prefix the dev certificates carry in their CRL distribution points.
    const DEV_PREFIX: &str = "http://127.0.0.1:8080/pki/";
    const ISSUING: &str = "/dev-issuing-ca.crl";

    enum Answer {
        Body(u16, Vec<u8>),
        Silence(Duration),
        /// The body, sent only once the test sends on the channel (one send per request).
        Held(Mutex<mpsc::Receiver<()>>, Vec<u8>),
    }

    struct Server {
        port: u16,
        /// The path of every request received, in order.
        asked: Arc<Mutex<Vec<String>>>,
    }

    impl Server {
        /// Requests received in all.
        fn hits(&self) -> usize {
            self.asked.lock().map(|a| a.len()).unwrap_or(usize::MAX)
        }

        /// Requests received for `path`.
        fn hits_on(&self, path: &str) -> usize {
            self.asked
                .lock()
                .map(|a| a.iter().filter(|p| *p == path).count())
                .unwrap_or(usize::MAX)
        }
    }

    /// Serves `routes` (path → answer; anything else 404) for up to 16 connections, one at a
    /// time.
    fn serve(routes: Vec<(&'static str, Answer)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&asked);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(16) {
                let Ok(stream) = stream else { continue };
                answer(stream, &routes, &log);
            }
        });
        Server { port, asked }
    }

    fn answer(mut stream: TcpStream, routes: &[(&str, Answer)], log: &Mutex<Vec<String>>) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&request);
        let path = text.split_whitespace().nth(1).unwrap_or("").to_owned();
        if let Ok(mut log) = log.lock() {
            log.push(path.clone());
        }
        let not_found = Answer::Body(404, b"not found".to_vec());
        let chosen = routes
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, a)| a)
            .unwrap_or(&not_found);
        let body = match chosen {
            Answer::Body(status, body) => Some((*status, body)),
            Answer::Silence(d) => {
                std::thread::sleep(*d);
                None
            }
            Answer::Held(release, body) => {
                let released = release.lock().map(|r| r.recv().is_ok()).unwrap_or(false);
                released.then_some((200, body))
            }
        };
        if let Some((status, body)) = body {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/pkix-crl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    }

    fn fetcher(server: &Server, config: FetchConfig) -> CrlFetcher {
        CrlFetcher::new(FetchConfig {
            mirrors: vec![(
                DEV_PREFIX.to_owned(),
                format!("http://127.0.0.1:{}/", server.port),
            )],
            ..config
        })
    }

    fn store_fetching(configured: &[&str], fetcher: CrlFetcher) -> TrustStore {
        store_with_crls(configured).with_crl_fetcher(fetcher)
    }

    fn validate(
        store: &TrustStore,
        leaf: &str,
    ) -> Result<crate::pki::ValidatedPath, crate::pki::PkiError> {
        store.validate(&testdata::cert(leaf), &[], &ValidationPolicy::at(AT))
    }

    #[test]
    fn fetches_the_issuing_ca_crl_once_and_uses_it() {
        let server = serve(vec![(
            ISSUING,
            Answer::Body(200, testdata::read("issuing-ca.crl.der")),
        )]);
        let store = store_fetching(
            &["root-ca.crl.pem"],
            fetcher(&server, FetchConfig::default()),
        );

        let path = validate(&store, "agency-000.00.00.G22-rsa2048.pem").expect("valid");
        let RevocationStatus::Checked(evidence) = path.revocation() else {
            panic!("checked");
        };
        assert_eq!(
            evidence[0].as_crl().map(|e| &e.origin),
            Some(&CrlOrigin::Fetched {
                url: format!("{DEV_PREFIX}dev-issuing-ca.crl")
            })
        );
        assert!(matches!(
            evidence[1].as_crl().map(|e| &e.origin),
            Some(CrlOrigin::Configured(_))
        ));
        // Cached until its nextUpdate (2045): the revoked certificate is caught without a refetch.
        let err = validate(&store, "bad-revoked.pem").err().map(|e| e.code());
        assert_eq!(err, Some("pki.revoked"));
        assert_eq!(server.hits(), 1);
    }

    #[test]
    fn a_pem_crl_is_accepted_too() {
        let server = serve(vec![(
            ISSUING,
            Answer::Body(200, testdata::read("issuing-ca.crl.pem")),
        )]);
        let store = store_fetching(
            &["root-ca.crl.pem"],
            fetcher(&server, FetchConfig::default()),
        );
        assert!(validate(&store, "agency-000.00.00.H49-p384.pem").is_ok());
    }

    #[test]
    fn a_current_configured_crl_means_no_fetch() {
        let server = serve(vec![]);
        let store = store_fetching(
            &["root-ca.crl.pem", "issuing-ca.crl.pem"],
            fetcher(&server, FetchConfig::default()),
        );
        assert!(validate(&store, "agency-000.00.00.G22-rsa2048.pem").is_ok());
        assert_eq!(server.hits(), 0);
    }

    #[test]
    fn a_stale_configured_crl_is_replaced_by_a_fetched_one() {
        let server = serve(vec![(
            ISSUING,
            Answer::Body(200, testdata::read("issuing-ca.crl.der")),
        )]);
        let store = store_fetching(
            &["root-ca.crl.pem", "issuing-ca-stale.crl.pem"],
            fetcher(&server, FetchConfig::default()),
        );
        let path = validate(&store, "agency-000.00.00.G22-rsa2048.pem").expect("valid");
        assert!(!path.revocation().within_grace());
        assert_eq!(server.hits(), 1);
    }

    #[test]
    fn http_errors_leave_revocation_unknown_and_are_not_retried_at_once() {
        let server = serve(vec![]);
        let store = store_fetching(
            &["root-ca.crl.pem"],
            fetcher(&server, FetchConfig::default()),
        );
        let err = validate(&store, "agency-000.00.00.G22-rsa2048.pem").expect_err("refused");
        assert_eq!(err.code(), "pki.revocation_unknown");
        assert!(err.to_string().contains("HTTP 404"), "{err}");
        let again = validate(&store, "agency-000.00.00.G22-rsa2048.pem").expect_err("refused");
        assert!(again.to_string().contains("cached failure"), "{again}");
        assert_eq!(server.hits(), 1);
    }

    #[test]
    fn a_crl_larger_than_the_cap_is_refused() {
        let server = serve(vec![(
            ISSUING,
            Answer::Body(200, testdata::read("issuing-ca.crl.der")),
        )]);
        let config = FetchConfig {
            max_bytes: 100,
            ..FetchConfig::default()
        };
        let store = store_fetching(&["root-ca.crl.pem"], fetcher(&server, config));
        let err = validate(&store, "agency-000.00.00.G22-rsa2048.pem").expect_err("refused");
        assert_eq!(err.code(), "pki.revocation_unknown");
        assert!(err.to_string().contains("100-byte limit"), "{err}");
    }

    #[test]
    fn a_silent_server_times_out() {
        let server = serve(vec![(ISSUING, Answer::Silence(Duration::from_secs(5)))]);
        let config = FetchConfig {
            timeout: Duration::from_millis(300),
            ..FetchConfig::default()
        };
        let store = store_fetching(&["root-ca.crl.pem"], fetcher(&server, config));
        let started = Instant::now();
        let err = validate(&store, "agency-000.00.00.G22-rsa2048.pem").expect_err("refused");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(err.code(), "pki.revocation_unknown");
        assert!(err.to_string().contains("timeout"), "{err}");
    }

    #[test]
    fn a_fetched_crl_must_be_signed_by_the_issuer() {
        let server = serve(vec![(
            ISSUING,
            Answer::Body(200, testdata::read("impostor-issuing-ca.crl.pem")),
        )]);
        let store = store_fetching(
            &["root-ca.crl.pem"],
            fetcher(&server, FetchConfig::default()),
        );
        let err = validate(&store, "bad-revoked.pem").expect_err("refused");
        assert_eq!(err.code(), "pki.revocation_unknown");
        assert!(
            err.to_string().contains("signature does not verify"),
            "{err}"
        );
    }

    const ROOT: &str = "/dev-root-ca.crl";

    fn background() -> FetchConfig {
        FetchConfig {
            background: true,
            ..FetchConfig::default()
        }
    }

    #[test]
    fn in_the_background_validation_never_waits_and_the_refresher_fetches_once() {
        let server = serve(vec![
            (
                ISSUING,
                Answer::Body(200, testdata::read("issuing-ca.crl.der")),
            ),
            (ROOT, Answer::Body(200, testdata::read("root-ca.crl.pem"))),
        ]);
        let fetcher = fetcher(&server, background());
        let store = store_fetching(&["root-ca.crl.pem"], fetcher.clone());
        // First sight of the URL: refused at once, nothing downloaded on this path.
        for _ in 0..3 {
            let err = validate(&store, "agency-000.00.00.G22-rsa2048.pem").expect_err("refused");
            assert_eq!(err.code(), "pki.revocation_unknown");
            assert!(err.to_string().contains("not downloaded yet"), "{err}");
        }
        assert_eq!(server.hits(), 0);
        // The refresher downloads each once (the root's because the configured intermediate
        // names it); validation then reads the cache.
        let next = fetcher.refresh_due(Instant::now());
        assert_eq!((server.hits_on(ISSUING), server.hits_on(ROOT)), (1, 1));
        assert!(next > Duration::from_secs(60), "next refresh in {next:?}");
        assert!(validate(&store, "agency-000.00.00.G22-rsa2048.pem").is_ok());
        fetcher.refresh_due(Instant::now());
        assert_eq!(server.hits(), 2, "not due again yet");
        let report = fetcher.report();
        assert_eq!(report.len(), 2);
        assert!(report
            .iter()
            .all(|r| r.next_update.is_some() && r.failures == 0 && r.consecutive_failures == 0));
    }

    #[test]
    fn the_configured_intermediates_points_are_known_from_the_start_in_the_background() {
        let server = serve(vec![]);
        let store = store_fetching(&["root-ca.crl.pem"], fetcher(&server, background()));
        let known: Vec<String> = store
            .crl_fetcher()
            .map(|f| f.report().into_iter().map(|r| r.url).collect())
            .unwrap_or_default();
        assert_eq!(known, [format!("{DEV_PREFIX}dev-root-ca.crl")]);
        // On demand (the CLI), nothing is registered ahead: a CRL is fetched when needed.
        let on_demand = store_fetching(
            &["root-ca.crl.pem"],
            fetcher(&server, FetchConfig::default()),
        );
        assert_eq!(on_demand.crl_fetcher().map(|f| f.report().len()), Some(0));
        assert_eq!(server.hits(), 0);
    }

    #[test]
    fn a_configured_crl_answers_while_the_refresher_learns_its_successors_point() {
        let server = serve(vec![]);
        let fetcher = fetcher(&server, background());
        let store = store_fetching(&["root-ca.crl.pem", "issuing-ca.crl.pem"], fetcher.clone());
        let path = validate(&store, "agency-000.00.00.G22-rsa2048.pem").expect("valid");
        let RevocationStatus::Checked(evidence) = path.revocation() else {
            panic!("checked");
        };
        assert!(evidence.iter().all(|e| matches!(
            e.as_crl().map(|c| &c.origin),
            Some(CrlOrigin::Configured(_))
        )));
        // Nothing was downloaded on the validation's path, but the leaf's point is now known.
        assert_eq!(server.hits(), 0);
        let known: Vec<String> = fetcher.report().into_iter().map(|r| r.url).collect();
        assert!(
            known.contains(&format!("{DEV_PREFIX}dev-issuing-ca.crl")),
            "{known:?}"
        );
    }

    #[test]
    fn a_refresh_under_way_never_holds_up_validation_and_runs_once_per_point() {
        let (release, released) = mpsc::channel();
        let server = serve(vec![
            (
                ISSUING,
                Answer::Held(Mutex::new(released), testdata::read("issuing-ca.crl.der")),
            ),
            (ROOT, Answer::Body(200, testdata::read("root-ca.crl.pem"))),
        ]);
        // A CRL kept by an earlier run: read back, then due for a refresh at once.
        let kept = tempfile::tempdir().expect("dir");
        let url = format!("{DEV_PREFIX}dev-issuing-ca.crl");
        save(kept.path(), &url, &testdata::read("issuing-ca.crl.pem")).expect("save");
        let fetcher = fetcher(&server, background());
        assert_eq!(fetcher.keep_in(kept.path()), 1);
        let store = store_fetching(&["root-ca.crl.pem"], fetcher.clone());

        let refresher = {
            let fetcher = fetcher.clone();
            std::thread::spawn(move || fetcher.refresh_due(Instant::now()))
        };
        let started = Instant::now();
        while server.hits_on(ISSUING) == 0 {
            assert!(started.elapsed() < Duration::from_secs(30), "never asked");
            std::thread::sleep(Duration::from_millis(10));
        }
        // The download is held by the server: validation answers from the kept CRL meanwhile,
        // and no second download of the same point starts.
        let path = validate(&store, "agency-000.00.00.G22-rsa2048.pem").expect("valid");
        let RevocationStatus::Checked(evidence) = path.revocation() else {
            panic!("checked");
        };
        assert_eq!(
            evidence[0].as_crl().map(|e| &e.origin),
            Some(&CrlOrigin::Fetched { url: url.clone() })
        );
        assert!(fetcher.start_due(Instant::now()).is_empty());
        assert_eq!(server.hits_on(ISSUING), 1);

        release.send(()).expect("release");
        refresher.join().expect("refresher");
        assert_eq!(server.hits_on(ISSUING), 1);
        // What it downloaded (DER, as served) is what the next start reads back.
        let saved = std::fs::read(kept.path().join(format!("{}.crl", saved_stem(&url))));
        assert_eq!(saved.ok(), Some(testdata::read("issuing-ca.crl.der")));
    }

    #[test]
    fn kept_crls_are_read_back_and_an_unusable_one_only_costs_a_download() {
        let kept = tempfile::tempdir().expect("dir");
        let good = format!("{DEV_PREFIX}dev-issuing-ca.crl");
        let damaged = format!("{DEV_PREFIX}dev-root-ca.crl");
        save(kept.path(), &good, &testdata::read("issuing-ca.crl.der")).expect("save");
        save(kept.path(), &damaged, b"not a CRL").expect("save");
        // A .url whose name is not its URL's hash is not believed.
        std::fs::write(kept.path().join("0000.url"), "http://elsewhere/x.crl").expect("write");
        let fetcher = CrlFetcher::new(background());
        assert_eq!(fetcher.keep_in(kept.path()), 1);
        let report = fetcher.report();
        let urls: Vec<&str> = report.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(urls, [good.as_str(), damaged.as_str()]);
        assert!(report[0].this_update.is_some() && report[1].this_update.is_none());
        // Both are due for a download at once.
        assert_eq!(fetcher.next_wait(Instant::now()), Duration::ZERO);
        // No folder yet (a first start): nothing read back, no error.
        assert_eq!(
            CrlFetcher::new(background()).keep_in(&kept.path().join("absent")),
            0
        );
    }

    #[test]
    fn in_the_background_a_stale_crl_is_kept_and_judged_by_the_grace_rule() {
        let server = serve(vec![(
            ISSUING,
            Answer::Body(200, testdata::read("issuing-ca-stale.crl.pem")),
        )]);
        let fetcher = fetcher(&server, background());
        let store = store_fetching(&["root-ca.crl.pem"], fetcher.clone());
        let _ = validate(&store, "agency-000.00.00.G22-rsa2048.pem");
        fetcher.refresh_due(Instant::now());
        let err = validate(&store, "agency-000.00.00.G22-rsa2048.pem").expect_err("stale");
        assert_eq!(err.code(), "pki.crl_stale", "{err}");
    }

    #[test]
    fn refreshes_come_before_next_update_and_failures_back_off() {
        let crl = Crl::fetched(&testdata::read("issuing-ca.crl.der"), "http://x/").expect("crl");
        let (this, next) = (crl.this_update(), crl.next_update().expect("nextUpdate"));
        let floor = Duration::from_secs(60);
        // Right after thisUpdate: three quarters of the way to nextUpdate.
        let wait = refresh_in(&crl, this, floor);
        let expected = Duration::try_from((next - this) * 3 / 4).expect("positive");
        assert_eq!(wait, expected);
        // Past that point, or past nextUpdate: again after the floor, not in a loop.
        assert_eq!(
            refresh_in(&crl, next + time::Duration::days(1), floor),
            floor
        );
        assert_eq!(backoff(floor, 1), floor);
        assert_eq!(backoff(floor, 3), floor * 4);
        assert_eq!(backoff(floor, 40), MAX_BACKOFF);
    }
}
