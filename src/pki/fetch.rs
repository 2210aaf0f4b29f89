//! CRLs fetched from the distribution points named in certificates, over plain HTTP with
//! timeouts and a size cap, cached in memory until their nextUpdate.
//!
//! URLs are only ever taken from certificates whose path to a trust anchor has already been
//! verified, so the addresses fetched are the ones a trusted CA wrote. Fetched CRLs are checked
//! exactly like configured ones (issuer signature, scope, freshness); a fetch that fails leaves
//! the certificate's revocation status unknown, which refuses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
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
    /// After a failed fetch, how long to answer from the failure instead of asking again, so
    /// that a dead distribution point does not slow every validation down.
    pub retry_after: Duration,
    /// URL prefix rewrites `(from, to)`, first match wins: serve the CRLs of an isolated network
    /// from a local mirror without re-issuing certificates.
    pub mirrors: Vec<(String, String)>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            timeout: Duration::from_secs(10),
            max_bytes: 16 * 1024 * 1024,
            retry_after: Duration::from_secs(60),
            mirrors: Vec::new(),
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
    cache: Mutex<HashMap<String, CacheEntry>>,
}

enum CacheEntry {
    Fetched(Arc<Crl>),
    Failed { when: Instant, reason: String },
}

impl std::fmt::Debug for CrlFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrlFetcher")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

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
            }),
        }
    }

    /// The CRL at `url`, from the cache while it is current, else downloaded.
    pub fn fetch(&self, url: &str) -> Result<Arc<Crl>, String> {
        let now = OffsetDateTime::now_utc();
        if let Some(answer) = self.cached(url, now) {
            return answer;
        }
        let result = self.download(url);
        let entry = match &result {
            Ok(crl) => CacheEntry::Fetched(Arc::clone(crl)),
            Err(reason) => CacheEntry::Failed {
                when: Instant::now(),
                reason: reason.clone(),
            },
        };
        self.cache().insert(url.to_owned(), entry);
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

    fn cache(&self) -> MutexGuard<'_, HashMap<String, CacheEntry>> {
        // A panic elsewhere while holding the lock leaves the map intact: keep using it.
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cached(&self, url: &str, now: OffsetDateTime) -> Option<Result<Arc<Crl>, String>> {
        match self.cache().get(url)? {
            CacheEntry::Fetched(crl) => {
                let current = crl.next_update().is_some_and(|next| now <= next);
                current.then(|| Ok(Arc::clone(crl)))
            }
            CacheEntry::Failed { when, reason } => (when.elapsed() < self.inner.config.retry_after)
                .then(|| Err(format!("{reason} (cached failure)"))),
        }
    }

    fn download(&self, url: &str) -> Result<Arc<Crl>, String> {
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
        Crl::fetched(&body, url)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    }
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
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::pki::testdata::{self, store_with_crls, AT};
    use crate::pki::{CrlOrigin, RevocationStatus, TrustStore, ValidationPolicy};

    /// The URL prefix the dev certificates carry in their CRL distribution points.
    const DEV_PREFIX: &str = "http://127.0.0.1:8080/pki/";

    enum Answer {
        Body(u16, Vec<u8>),
        Silence(Duration),
    }

    struct Server {
        port: u16,
        hits: Arc<AtomicUsize>,
    }

    /// Serves `routes` (path → answer; anything else 404) for up to 16 connections.
    fn serve(routes: Vec<(&'static str, Answer)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(16) {
                let Ok(stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                answer(stream, &routes);
            }
        });
        Server { port, hits }
    }

    fn answer(mut stream: TcpStream, routes: &[(&str, Answer)]) {
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
        let not_found = Answer::Body(404, b"not found".to_vec());
        let chosen = routes
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, a)| a)
            .unwrap_or(&not_found);
        match chosen {
            Answer::Body(status, body) => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/pkix-crl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
            }
            Answer::Silence(d) => std::thread::sleep(*d),
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
            "/dev-issuing-ca.crl",
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
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_pem_crl_is_accepted_too() {
        let server = serve(vec![(
            "/dev-issuing-ca.crl",
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
        assert_eq!(server.hits.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_stale_configured_crl_is_replaced_by_a_fetched_one() {
        let server = serve(vec![(
            "/dev-issuing-ca.crl",
            Answer::Body(200, testdata::read("issuing-ca.crl.der")),
        )]);
        let store = store_fetching(
            &["root-ca.crl.pem", "issuing-ca-stale.crl.pem"],
            fetcher(&server, FetchConfig::default()),
        );
        let path = validate(&store, "agency-000.00.00.G22-rsa2048.pem").expect("valid");
        assert!(!path.revocation().within_grace());
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);
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
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_crl_larger_than_the_cap_is_refused() {
        let server = serve(vec![(
            "/dev-issuing-ca.crl",
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
        let server = serve(vec![(
            "/dev-issuing-ca.crl",
            Answer::Silence(Duration::from_secs(5)),
        )]);
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
            "/dev-issuing-ca.crl",
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
}
