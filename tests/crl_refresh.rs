//! CRLs downloaded in the background by the real server (`trust.fetch_crls`), from a
//! distribution point served by this test (through `trust.crl_mirrors`) that holds its answer
//! until the test lets it go: submissions are answered while the download hangs (refused,
//! fail-closed, because no CRL is in hand yet), the point is asked once however many packets
//! wait on it, a letter is accepted once the CRL is in, /metrics shows its age — and a CRL past
//! its nextUpdate (and the grace) still refuses.

mod common;
mod common_pg;
mod common_server;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common_server::{Engine, Server};
use lienthong::edxml::{self, DocumentId, MessagePacket, NonEmpty, OrganId, Organization};

const A: &str = "000.00.00.G22";
const B: &str = "000.00.00.H49";

/// A distribution point that answers every request with `crl`, each only once the test sends
/// on the returned channel; counts the requests it received.
fn held_distribution_point(crl: Vec<u8>) -> (u16, mpsc::Sender<()>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (release, released) = mpsc::channel::<()>();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            if released.recv().is_err() {
                return;
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                crl.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&crl);
        }
    });
    (port, release, hits)
}

/// A server that trusts the dev PKI with only the root's CRL configured, and fetches the
/// issuing CA's (the dev certificates name http://127.0.0.1:8080/pki/dev-issuing-ca.crl) from
/// the test's distribution point.
fn server_fetching_from(port: u16) -> Server {
    let root_crl = common::dev("root-ca.crl.pem");
    let mirror = format!("http://127.0.0.1:8080/pki/=http://127.0.0.1:{port}/pki/");
    Server::start_with(
        Engine::Sqlite,
        &[
            ("LIENTHONG_TRUST_FETCH_CRLS", "true"),
            ("LIENTHONG_TRUST_CRLS", root_crl.to_str().expect("path")),
            ("LIENTHONG_TRUST_CRL_MIRRORS", &mirror),
        ],
    )
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

fn metric(server: &Server, prefix: &str) -> Option<f64> {
    let text = server.request("GET", "/metrics", None, None).text();
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Polls until `ready` holds (the background download), for at most 30 s.
fn eventually(mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not ready after 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn submissions_do_not_wait_for_a_hanging_distribution_point() {
    let crl = std::fs::read(common::dev("issuing-ca.crl.der")).expect("CRL");
    let (port, release, hits) = held_distribution_point(crl);
    let server = server_fetching_from(port);

    // While the download hangs, every submission is answered — refused, since no CRL is in
    // hand for the issuing CA — and the point is asked once, not once per packet.
    let answers: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..6)
            .map(|i| {
                let server = &server;
                scope.spawn(move || server.submit(A, &letter(&format!("held-{i}"))))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    for reply in &answers {
        reply.assert_refused(422, "pki.revocation_unknown");
        assert!(
            reply.text().contains("not downloaded yet"),
            "{}",
            reply.text()
        );
    }
    eventually(|| hits.load(Ordering::SeqCst) >= 1);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one download per URL");

    // Once the point answers, the CRL is cached and letters are accepted.
    release.send(()).expect("release");
    eventually(|| metric(&server, "lienthong_crl_next_update_seconds{").is_some());
    let accepted = server.submit(A, &letter("after-the-crl"));
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    let age = metric(&server, "lienthong_crl_age_seconds{").expect("age");
    assert!(age > 0.0, "age {age}");
    assert_eq!(
        metric(&server, "lienthong_crl_fetch_failures_total{"),
        Some(0.0)
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn a_crl_past_its_next_update_still_refuses() {
    // nextUpdate 2025-02-01: long past, and the grace is 0.
    let stale = std::fs::read(common::dev("issuing-ca-stale.crl.pem")).expect("CRL");
    let (port, release, _hits) = held_distribution_point(stale);
    let server = server_fetching_from(port);
    server
        .submit(A, &letter("first-sight"))
        .assert_refused(422, "pki.revocation_unknown");
    release.send(()).expect("release");
    eventually(|| metric(&server, "lienthong_crl_next_update_seconds{").is_some());
    let overdue = metric(&server, "lienthong_crl_next_update_seconds{").expect("metric");
    assert!(overdue < 0.0, "nextUpdate is past: {overdue}");
    server
        .submit(A, &letter("with-a-stale-crl"))
        .assert_refused(422, "pki.crl_stale");
}
