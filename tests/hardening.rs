//! The server under hostile and broken clients, through the real binary with short deadlines:
//! a stalled upload is closed within its timeout and its memory returns; one agency's stalled
//! uploads fill its own share and another agency's letter is still accepted; a flood of wrong
//! secrets gets 429s while the system's own secret keeps working; a silent connection and a
//! reader that stops reading are closed.

mod common;
mod common_pg;
mod common_server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common_server::{wait_until, Engine, Server};

use lienthong::edxml::{self, DocumentId, MessagePacket, NonEmpty, OrganId, Organization};

const G22: &str = "000.00.00.G22";
const H49: &str = "000.00.00.H49";

/// A signed letter from G22 to H49, padded with an attachment of `padding` bytes.
fn letter(from: &str, to: &str, document_id: &str, padding: usize) -> Vec<u8> {
    let organ = |code: &str| Organization::from_code(OrganId::parse(code).expect("code"));
    let mut packet = MessagePacket::new_document(
        organ(from),
        NonEmpty::from_vec(vec![organ(to)]).expect("recipients"),
        "Công văn về việc thử tải",
    );
    packet.header.document_id = DocumentId::parse(document_id).expect("document id");
    if padding > 0 {
        let noise: Vec<u8> = (0..padding as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        packet.attach("phu-luc.pdf", "application/pdf", noise);
    }
    let key = match from {
        G22 => common::G22_RSA2048,
        H49 => common::H49_P384,
        other => panic!("no dev key for {other}"),
    };
    common::sign_bytes(&edxml::write(&packet.into()).expect("write"), key)
}

fn basic(server: &Server, agency: &str) -> String {
    let (id, secret) = server.credential(agency);
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {pair}")
}

/// A raw connection to the server.
fn connect(server: &Server) -> TcpStream {
    let addr = server.base.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    stream
}

/// Sends the head of a `POST /v1/packets` announcing `length` bytes, and `first` of them.
fn start_upload(server: &Server, agency: &str, length: usize, first: &[u8]) -> TcpStream {
    let mut stream = connect(server);
    let head = format!(
        "POST /v1/packets HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/xml\r\nContent-Length: {length}\r\n\r\n",
        basic(server, agency)
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(first).expect("first bytes");
    stream
}

/// Everything the server sends until it closes the connection (or the read times out).
fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// One value of /metrics.
/// One authenticated request per agency, so that argon2 (slow in debug builds) has run before
/// the timings of a test begin.
fn warm_up(server: &Server, agencies: &[&str]) {
    for agency in agencies {
        assert_eq!(server.get("/v1/inbox", agency).status, 200);
    }
}

#[test]
fn a_stalled_upload_is_closed_within_its_timeout_and_its_budget_returns() {
    let server = Server::start_with(
        Engine::Sqlite,
        &[("LIENTHONG_HTTP_BODY_IDLE_TIMEOUT_SECONDS", "2")],
    );
    warm_up(&server, &[G22]);
    let started = Instant::now();
    let mut stalled = start_upload(&server, G22, 60_000, b"<?xml version=");
    wait_until("the stalled upload holds its reservation", || {
        server.metric("lienthong_in_flight_bytes") > 0.0
    });
    let answer = read_to_close(&mut stalled);
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("http.timeout"), "{answer}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "closed after {took:?}"
    );
    assert_eq!(server.metric("lienthong_in_flight_bytes"), 0.0);
    assert_eq!(server.metric("lienthong_upload_timeouts_total"), 1.0);

    // A trickle that never goes quiet is closed by the minimum rate.
    let server = Server::start_with(
        Engine::Sqlite,
        &[
            ("LIENTHONG_HTTP_BODY_IDLE_TIMEOUT_SECONDS", "2"),
            ("LIENTHONG_HTTP_BODY_MIN_BYTES_PER_SECOND", "1000"),
        ],
    );
    warm_up(&server, &[G22]);
    let mut trickle = start_upload(&server, G22, 60_000, b"<");
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(500));
        if trickle.write_all(b" ").is_err() {
            closed = true;
            break;
        }
        trickle
            .set_read_timeout(Some(Duration::from_millis(10)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        if let Ok(n) = trickle.read(&mut buf) {
            let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
            assert!(answer.contains("minimum"), "{answer}");
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickle of 2 bytes a second was not closed");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn with_one_agencys_uploads_stalled_another_agencys_letter_is_accepted() {
    // Packets of up to 64 KiB cost 128 KiB each while received and verified; the budget holds
    // four, and one agency's share one.
    let server = Server::start_with(
        Engine::Sqlite,
        &[
            ("LIENTHONG_IN_FLIGHT_BYTES", "524288"),
            ("LIENTHONG_AGENCY_IN_FLIGHT_BYTES", "131072"),
            ("LIENTHONG_HTTP_BODY_IDLE_TIMEOUT_SECONDS", "6"),
        ],
    );
    warm_up(&server, &[G22, H49]);
    let mut stalled: Vec<TcpStream> = (0..8)
        .map(|_| start_upload(&server, G22, 65_536, b"<?xml"))
        .collect();
    wait_until("G22's first upload holds its share", || {
        server.metric("lienthong_in_flight_bytes") > 0.0
    });
    let started = Instant::now();
    let reply = server.submit(H49, &letter(H49, G22, "H49,2026/12/05,7/UBND-VP", 0));
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "H49 waited {:?} behind G22's stalled uploads",
        started.elapsed()
    );
    // G22's own uploads: the one holding its share is closed as stalled; the others waited
    // for room in G22's share and were told to come back (one may have got the room at the
    // last moment, and been closed as stalled in turn).
    let answers: Vec<String> = stalled.iter_mut().map(read_to_close).collect();
    let count = |status: &str| answers.iter().filter(|a| a.starts_with(status)).count();
    assert!((1..=2).contains(&count("HTTP/1.1 408")), "{answers:#?}");
    assert_eq!(
        count("HTTP/1.1 408") + count("HTTP/1.1 429"),
        8,
        "{answers:#?}"
    );
    let busy = answers
        .iter()
        .find(|a| a.starts_with("HTTP/1.1 429"))
        .expect("a 429");
    assert!(busy.contains("limits.busy"), "{busy}");
    assert!(busy.to_ascii_lowercase().contains("retry-after:"), "{busy}");
    // And G22 sends normally again.
    let reply = server.submit(G22, &letter(G22, H49, "G22,2026/12/05,8/BTN-VP", 0));
    assert_eq!(reply.status, 202, "{}", reply.text());
}

#[test]
fn a_flood_of_wrong_secrets_gets_429s_and_the_systems_own_secret_still_passes() {
    let server = Server::start_with(
        Engine::Sqlite,
        &[
            ("LIENTHONG_AUTH_MAX_FAILURES_PER_ID", "5"),
            ("LIENTHONG_AUTH_MAX_FAILURES_PER_ADDRESS", "20"),
            ("LIENTHONG_HTTP_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    );
    let (system_id, secret) = server.credential(G22);
    let with = |secret: &str, client: &str| {
        server.send(
            "GET",
            "/v1/inbox",
            None,
            &[
                ("X-Lienthong-System", system_id.as_str()),
                ("X-Lienthong-Secret", secret),
                ("X-Forwarded-For", client),
            ],
            None,
        )
    };
    // The system works once, so its secret is known to the server.
    assert_eq!(with(&secret, "198.51.100.1").status, 200);
    let statuses: Vec<u16> = (0..12)
        .map(|n| with(&format!("guess-{n}"), "203.0.113.9").status)
        .collect();
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|&s| s == 429), "{statuses:?}");
    let throttled = with("guess-x", "203.0.113.10");
    throttled.assert_refused(429, "auth.throttled");
    let retry: u64 = throttled.headers["retry-after"].parse().expect("seconds");
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    // The id is throttled for guesses, not for its own system.
    assert_eq!(with(&secret, "198.51.100.1").status, 200);

    // An address that guesses at many ids is throttled whatever id it names next.
    let other = |id: &str, client: &str| {
        server.send(
            "GET",
            "/v1/inbox",
            None,
            &[
                ("X-Lienthong-System", id),
                ("X-Lienthong-Secret", "guess"),
                ("X-Forwarded-For", client),
            ],
            None,
        )
    };
    for n in 0..20 {
        other(&format!("id-{n}"), "192.0.2.50").assert_refused(401, "auth.invalid");
    }
    other("id-new", "192.0.2.50").assert_refused(429, "auth.throttled");
    other("id-new", "192.0.2.51").assert_refused(401, "auth.invalid");
    // An agency behind the same address (one NAT) keeps working with its own secret.
    assert_eq!(with(&secret, "192.0.2.50").status, 200);
    assert!(server.metric("lienthong_auth_throttled_total") >= 8.0);
}

#[test]
fn a_silent_connection_and_a_reader_that_stops_reading_are_closed() {
    let server = Server::start_with(
        Engine::Sqlite,
        &[
            ("LIENTHONG_MAX_PACKET_BYTES", "16777216"),
            ("LIENTHONG_HTTP_HEADER_TIMEOUT_SECONDS", "1"),
            ("LIENTHONG_HTTP_WRITE_TIMEOUT_SECONDS", "2"),
        ],
    );
    // A connection that never sends its request's head.
    let started = Instant::now();
    let mut silent = connect(&server);
    let _ = read_to_close(&mut silent);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a silent connection stayed open {:?}",
        started.elapsed()
    );

    // A reader that stops reading a 12 MB packet: its connection is closed by the write
    // timeout; reading on later gets less than the whole packet and an error.
    let packet = letter(G22, H49, "G22,2026/12/05,9/BTN-VP", 9 * 1024 * 1024);
    let reply = server.submit(G22, &packet);
    assert_eq!(reply.status, 202, "{}", reply.text());
    let id = reply.json()["id"].as_str().expect("id").to_owned();
    let mut reader = connect(&server);
    let request = format!(
        "GET /v1/packets/{id} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n",
        basic(&server, H49)
    );
    reader.write_all(request.as_bytes()).expect("request");
    let mut first = [0u8; 1024];
    reader.read_exact(&mut first).expect("the answer begins");
    std::thread::sleep(Duration::from_secs(8));
    reader
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut rest = Vec::new();
    let outcome = reader.read_to_end(&mut rest);
    assert!(
        outcome.is_err() || rest.len() + first.len() < packet.len(),
        "a stalled reader got the whole packet after the write timeout ({} bytes)",
        rest.len()
    );
    assert!(
        rest.len() + first.len() < packet.len(),
        "{} of {} bytes",
        rest.len() + first.len(),
        packet.len()
    );
    // The server carries on.
    assert_eq!(server.request("GET", "/healthz", None, None).status, 200);
}

#[test]
fn expect_100_continue_is_answered_only_after_authentication() {
    let server = Server::start(Engine::Sqlite);
    let packet = letter(G22, H49, "G22,2026/12/05,10/BTN-VP", 0);
    let head = |authorization: &str| {
        format!(
            "POST /v1/packets HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            packet.len()
        )
    };
    // Wrong credentials: refused from the head, the client is never invited to send the body.
    let mut refused = connect(&server);
    let wrong = base64::engine::general_purpose::STANDARD.encode("nobody:wrong");
    refused
        .write_all(head(&format!("Basic {wrong}")).as_bytes())
        .expect("head");
    let mut answer = [0u8; 2048];
    let n = refused.read(&mut answer).expect("an answer to the head");
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(answer.contains("auth.invalid"), "{answer}");

    // Right credentials: 100 Continue, then the body, then 202.
    let mut invited = connect(&server);
    invited
        .write_all(head(&basic(&server, G22)).as_bytes())
        .expect("head");
    let mut first = [0u8; 25];
    invited.read_exact(&mut first).expect("100 Continue");
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    invited.write_all(&packet).expect("body");
    let mut answer = [0u8; 4096];
    let n = invited.read(&mut answer).expect("the answer");
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
}

#[test]
fn a_chunked_body_grows_its_reservation_and_a_stalled_one_is_closed() {
    let server = Server::start_with(
        Engine::Sqlite,
        &[
            ("LIENTHONG_MAX_PACKET_BYTES", "4194304"),
            ("LIENTHONG_HTTP_BODY_IDLE_TIMEOUT_SECONDS", "2"),
        ],
    );
    warm_up(&server, &[G22]);
    let head = format!(
        "POST /v1/packets HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n",
        basic(&server, G22)
    );
    // A 2.5 MB letter in chunks of 64 KiB, with no Content-Length: accepted.
    let packet = letter(G22, H49, "G22,2026/12/05,11/BTN-VP", 1_800_000);
    assert!(packet.len() > 2_000_000);
    let mut sender = connect(&server);
    sender.write_all(head.as_bytes()).expect("head");
    for chunk in packet.chunks(64 * 1024) {
        sender
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .expect("size");
        sender.write_all(chunk).expect("chunk");
        sender.write_all(b"\r\n").expect("end of chunk");
    }
    sender.write_all(b"0\r\n\r\n").expect("last chunk");
    let mut answer = [0u8; 4096];
    let n = sender.read(&mut answer).expect("the answer");
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    assert_eq!(server.metric("lienthong_in_flight_bytes"), 0.0);

    // One chunk, then nothing: closed at the idle timeout, its reservation given back.
    let mut stalled = connect(&server);
    stalled.write_all(head.as_bytes()).expect("head");
    stalled.write_all(b"5\r\n<?xml\r\n").expect("a chunk");
    let started = Instant::now();
    let answer = read_to_close(&mut stalled);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "closed after {:?}",
        started.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(server.metric("lienthong_in_flight_bytes"), 0.0);
}
