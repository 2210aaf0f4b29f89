//! CRLs downloaded in the background by the real server (`trust.fetch_crls`), from distribution
//! points served by this test (through `trust.crl_mirrors`), the issuing CA's holding every
//! answer until the test lets it go. While a download hangs, submissions are answered: refused
//! (fail-closed) when no CRL is in hand yet, accepted when one is — a configured CRL, or the last
//! good one a restart read back from the data directory. The point is asked once however many
//! packets wait on it, /metrics shows the CRLs' age, and a CRL past its nextUpdate and the grace
//! still refuses. No assertion depends on timing: the download is held, not slow.

mod common;
mod common_pg;
mod common_server;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common_server::{Engine, Server};
use lienthong::edxml::{self, DocumentId, MessagePacket, NonEmpty, OrganId, Organization};

const A: &str = "000.00.00.G22";
const B: &str = "000.00.00.H49";

/// The paths the dev certificates' distribution points name, under the mirror.
const ISSUING: &str = "/pki/dev-issuing-ca.crl";
const ROOT: &str = "/pki/dev-root-ca.crl";

/// Distribution points on 127.0.0.1: the root's CRL answered at once, the issuing CA's CRL only
/// once the test sends on `release` (one send per request). Each connection has its own thread,
/// so a held answer holds up nothing else.
struct DistributionPoints {
    port: u16,
    release: mpsc::Sender<()>,
    /// The path of every request received.
    asked: Arc<Mutex<Vec<String>>>,
}

impl DistributionPoints {
    fn serving(issuing_crl: Vec<u8>) -> DistributionPoints {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (release, released) = mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&asked);
        let root_crl = std::fs::read(common::dev("root-ca.crl.pem")).expect("root CRL");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (released, log) = (Arc::clone(&released), Arc::clone(&log));
                let (issuing_crl, root_crl) = (issuing_crl.clone(), root_crl.clone());
                std::thread::spawn(move || {
                    let path = request_path(&mut stream);
                    log.lock().expect("log").push(path.clone());
                    let body = match path.as_str() {
                        ROOT => root_crl,
                        ISSUING => {
                            if released.lock().expect("release").recv().is_err() {
                                return;
                            }
                            issuing_crl
                        }
                        _ => return,
                    };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(&body);
                });
            }
        });
        DistributionPoints {
            port,
            release,
            asked,
        }
    }

    /// Requests received for `path` so far.
    fn hits(&self, path: &str) -> usize {
        self.asked
            .lock()
            .expect("log")
            .iter()
            .filter(|p| *p == path)
            .count()
    }

    /// Lets one held request of the issuing CA's CRL be answered.
    fn release_one(&self) {
        self.release.send(()).expect("release");
    }

    /// `LIENTHONG_TRUST_CRL_MIRRORS`: the dev certificates' URLs, served here.
    fn mirror(&self) -> String {
        format!(
            "http://127.0.0.1:8080/pki/=http://127.0.0.1:{}/pki/",
            self.port
        )
    }
}

fn request_path(stream: &mut std::net::TcpStream) -> String {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    text.split_whitespace().nth(1).unwrap_or("").to_owned()
}

/// A server that trusts the dev PKI with the given CRL files and fetches the others from
/// `points`, plus `extra` settings.
fn server(points: &DistributionPoints, crls: &[&str], extra: &[(&str, &str)]) -> Server {
    let crls: Vec<String> = crls
        .iter()
        .map(|name| common::dev(name).display().to_string())
        .collect();
    let crls = crls.join(":");
    let mirror = points.mirror();
    let mut env = vec![
        ("LIENTHONG_TRUST_FETCH_CRLS", "true"),
        ("LIENTHONG_TRUST_CRLS", crls.as_str()),
        ("LIENTHONG_TRUST_CRL_MIRRORS", mirror.as_str()),
    ];
    env.extend_from_slice(extra);
    Server::start_with(Engine::Sqlite, &env)
}

fn letter(document_id: &str) -> Vec<u8> {
    let organ = |c: &str| Organization::from_code(OrganId::parse(c).expect("code"));
    let mut letter =
        MessagePacket::new_document(organ(A), NonEmpty::new(organ(B)), "Thu hồi chứng thư");
    letter.header.document_id = DocumentId::parse(document_id).expect("id");
    common::sign_bytes(
        &edxml::write(&letter.into()).expect("write"),
        common::G22_RSA2048,
    )
}

/// `count` letters submitted at once; their answers.
fn submit_together(server: &Server, prefix: &str, count: usize) -> Vec<common_server::Reply> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..count)
            .map(|i| scope.spawn(move || server.submit(A, &letter(&format!("{prefix}-{i}")))))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    })
}

/// The value of the metric whose line starts with `series` (name and labels).
fn metric(server: &Server, series: &str) -> Option<f64> {
    let text = server.request("GET", "/metrics", None, None).text();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// The series of the issuing CA's distribution point.
fn issuing(name: &str) -> String {
    format!("{name}{{url=\"http://127.0.0.1:8080{ISSUING}\"}}")
}

/// Polls until `ready` holds (the background download), for at most 30 s.
fn eventually(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: not after 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn without_a_crl_in_hand_submissions_are_refused_at_once_and_the_point_asked_once() {
    let crl = std::fs::read(common::dev("issuing-ca.crl.der")).expect("CRL");
    let points = DistributionPoints::serving(crl);
    let server = server(&points, &["root-ca.crl.pem"], &[]);

    // While the download hangs, every submission is answered — refused, since no CRL is in
    // hand for the issuing CA — and the point is asked once, not once per packet.
    for reply in submit_together(&server, "held", 6) {
        reply.assert_refused(422, "pki.revocation_unknown");
        assert!(
            reply.text().contains("not downloaded yet"),
            "{}",
            reply.text()
        );
    }
    eventually("the download starts", || points.hits(ISSUING) >= 1);
    assert_eq!(points.hits(ISSUING), 1, "one download per URL");

    // Once the point answers, the CRL is cached and letters are accepted.
    points.release_one();
    eventually("the CRL is in", || {
        metric(&server, &issuing("lienthong_crl_next_update_seconds")).is_some()
    });
    let accepted = server.submit(A, &letter("after-the-crl"));
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    let age = metric(&server, &issuing("lienthong_crl_age_seconds")).expect("age");
    assert!(age > 0.0, "age {age}");
    for failures in [
        "lienthong_crl_fetch_failures_total",
        "lienthong_crl_fetch_consecutive_failures",
    ] {
        assert_eq!(metric(&server, &issuing(failures)), Some(0.0), "{failures}");
    }
    assert_eq!(points.hits(ISSUING), 1);
    // The root's point, named by the configured intermediate, is fetched from the start, once.
    eventually("the root's CRL is asked for", || points.hits(ROOT) >= 1);
    assert_eq!(points.hits(ROOT), 1);
}

#[test]
fn a_download_under_way_delays_no_submission_while_a_configured_crl_answers() {
    let crl = std::fs::read(common::dev("issuing-ca.crl.der")).expect("CRL");
    let points = DistributionPoints::serving(crl);
    let server = server(&points, &["root-ca.crl.pem", "issuing-ca.crl.pem"], &[]);

    // The configured CRL answers; the packet names the point, which the refresher now fetches
    // (for when the configured CRL falls due) — and the point holds its answer.
    let first = server.submit(A, &letter("names-the-point"));
    assert_eq!(first.status, 202, "{}", first.text());
    eventually("the download starts", || points.hits(ISSUING) == 1);
    for reply in submit_together(&server, "during-the-download", 6) {
        assert_eq!(reply.status, 202, "{}", reply.text());
    }
    assert_eq!(points.hits(ISSUING), 1, "one download per URL");
    points.release_one();
    eventually("the fetched CRL is in", || {
        metric(&server, &issuing("lienthong_crl_next_update_seconds")).is_some()
    });
}

#[test]
fn a_restart_begins_with_the_crls_it_had_even_when_the_point_hangs() {
    let crl = std::fs::read(common::dev("issuing-ca.crl.der")).expect("CRL");
    let points = DistributionPoints::serving(crl);
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().to_str().expect("path");
    let on_data = [("LIENTHONG_DATA_DIR", data_dir)];
    {
        let first_run = server(&points, &["root-ca.crl.pem"], &on_data);
        first_run
            .submit(A, &letter("first-sight"))
            .assert_refused(422, "pki.revocation_unknown");
        points.release_one();
        eventually("the CRL is in", || {
            metric(&first_run, &issuing("lienthong_crl_next_update_seconds")).is_some()
        });
    }

    // Restarted (a new process, a new database, the same data directory) while the point
    // hangs: the kept CRL answers at once; the refresher asks the point again, once.
    let restarted = server(&points, &["root-ca.crl.pem"], &on_data);
    for reply in submit_together(&restarted, "after-the-restart", 4) {
        assert_eq!(reply.status, 202, "{}", reply.text());
    }
    eventually("the refresh starts", || points.hits(ISSUING) == 2);
    let again = restarted.submit(A, &letter("during-the-refresh"));
    assert_eq!(again.status, 202, "{}", again.text());
    assert_eq!(points.hits(ISSUING), 2);
    points.release_one();
}

#[test]
fn a_crl_past_its_next_update_and_the_grace_still_refuses() {
    // nextUpdate 2025-02-01: long past.
    let stale = std::fs::read(common::dev("issuing-ca-stale.crl.pem")).expect("CRL");
    let next_update = time::macros::datetime!(2025-02-01 00:00 UTC);
    let overdue_hours = (time::OffsetDateTime::now_utc() - next_update).whole_hours();
    assert!(
        overdue_hours > 24,
        "the test assumes a clock after 2025-02-02"
    );
    // A day of grace is not enough; a grace that reaches past today is (which shows the
    // refusal comes from the grace rule, not from anything else about this CRL).
    for (grace, accepted) in [(24, false), (overdue_hours + 48, true)] {
        let points = DistributionPoints::serving(stale.clone());
        let grace = grace.to_string();
        let server = server(
            &points,
            &["root-ca.crl.pem"],
            &[("LIENTHONG_TRUST_CRL_GRACE_HOURS", &grace)],
        );
        server
            .submit(A, &letter("first-sight"))
            .assert_refused(422, "pki.revocation_unknown");
        points.release_one();
        eventually("the CRL is in", || {
            metric(&server, &issuing("lienthong_crl_next_update_seconds")).is_some()
        });
        let overdue =
            metric(&server, &issuing("lienthong_crl_next_update_seconds")).expect("metric");
        assert!(overdue < 0.0, "nextUpdate is past: {overdue}");
        let reply = server.submit(A, &letter("with-a-stale-crl"));
        if accepted {
            assert_eq!(reply.status, 202, "grace {grace} h: {}", reply.text());
        } else {
            reply.assert_refused(422, "pki.crl_stale");
        }
    }
}
