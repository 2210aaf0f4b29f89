//! Delivery by push through the real server: an agency system's endpoint in this process
//! (`common_endpoint`) that fails and then takes letters, checked for exactly-once acceptance,
//! the exact bytes, and a signature that an RFC 9421 implementation other than ours verifies
//! (`tests/tools/verify_push.py`, the `http-message-signatures` package; its Python comes
//! from LIENTHONG_TEST_PYTHON, set by .ci/run).

mod common;
mod common_endpoint;
mod common_pg;
mod common_server;

use std::time::Duration;

use common_endpoint::{Endpoint, Received};
use common_server::{wait_until, Engine, Server, QUICK_RETRIES};

const G22: &str = "000.00.00.G22";
const H49: &str = "000.00.00.H49";
const H08: &str = "000.00.00.H08";

/// Checks a received push with the independent RFC 9421 implementation — and that the same
/// check refuses the push with another delivery id or one byte of the body changed.
fn verify_independently(endpoint: &Endpoint, push: &Received) {
    let out = run_verifier(endpoint, push);
    assert!(
        out.status.success(),
        "the push does not verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut other_delivery = push.clone();
    other_delivery
        .headers
        .insert("x-lienthong-delivery".to_owned(), "999".to_owned());
    assert!(!run_verifier(endpoint, &other_delivery).status.success());
    let mut other_body = push.clone();
    other_body.body[100] ^= 1;
    assert!(!run_verifier(endpoint, &other_body).status.success());
}

fn run_verifier(endpoint: &Endpoint, push: &Received) -> std::process::Output {
    use base64::Engine as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let origin = endpoint
        .url
        .split("/lienthong")
        .next()
        .expect("origin")
        .to_owned();
    let request = serde_json::json!({
        "method": push.method,
        "url": format!("{origin}{}", push.target),
        "headers": push.headers,
        "body_base64": base64::engine::general_purpose::STANDARD.encode(&push.body),
    });
    let file = dir.path().join("push.json");
    std::fs::write(&file, request.to_string()).expect("write");
    let python = std::env::var("LIENTHONG_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    std::process::Command::new(&python)
        .arg(common::root().join("tests/tools/verify_push.py"))
        .arg(&file)
        .arg(common::dev("server-receipts-p256.pem"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{python} cannot be run ({e}): python3 -m venv v && v/bin/pip install \
                 http-message-signatures, then LIENTHONG_TEST_PYTHON=v/bin/python"
            )
        })
}

fn a_push_that_fails_twice_is_taken_once(engine: Engine) {
    let endpoint = Endpoint::start(&[503, 503, 200]);
    let server = Server::start_with(engine, &QUICK_RETRIES);
    server.set_push_endpoint(H49, &endpoint.url);
    let packet = common::g22_letter(H49, "G22,2026/12/05,21/BTN-VP");
    let id = server.submit_accepted(G22, &packet);

    let pushes = endpoint.wait_for(3, Duration::from_secs(30));
    wait_until("the push is recorded as delivered", || {
        server.metric("lienthong_pushes_total{outcome=\"delivered\"}") == 1.0
    });
    // Nothing more after the 2xx.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(endpoint.received().len(), 3);
    let answered: Vec<u16> = pushes.iter().map(|p| p.answered).collect();
    assert_eq!(answered, [503, 503, 200]);
    let delivery = &pushes[0].headers["x-lienthong-delivery"];
    for push in &pushes {
        assert_eq!(push.method, "POST");
        assert_eq!(push.target, "/lienthong/push");
        assert!(push.body == packet, "the pushed bytes are the packet's");
        assert_eq!(&push.headers["x-lienthong-delivery"], delivery);
        assert_eq!(push.headers["x-lienthong-packet-id"], id);
        assert_eq!(push.headers["x-lienthong-sender"], G22);
        assert_eq!(push.headers["x-lienthong-kind"], "message");
        assert_eq!(push.headers["content-type"], "application/xml");
    }
    verify_independently(&endpoint, &pushes[2]);
    assert_eq!(
        server.metric("lienthong_pushes_total{outcome=\"retried\"}"),
        2.0
    );
    assert_eq!(
        server.metric("lienthong_push_queue{state=\"pending\"}"),
        0.0
    );
    assert_eq!(
        server.metric("lienthong_push_queue{state=\"retrying\"}"),
        0.0
    );

    // Taken by push: the inbox shows it taken, and an ack changes nothing.
    let inbox = server.get("/v1/inbox", H49).json();
    assert!(inbox["deliveries"][0]["acked_at"].is_string(), "{inbox}");
    let ack = server.ack(H49, delivery.parse().expect("a delivery number"));
    assert_eq!(ack.json()["already_acked"], true);
    // The document moved to `delivered` at the recipient, as an acknowledged pull moves it.
    let status = server
        .get(
            "/v1/documents/000.00.00.G22/G22,2026%2F12%2F05,21%2FBTN-VP/status",
            G22,
        )
        .text();
    assert!(status.contains("\"delivered\""), "{status}");
}

#[test]
fn a_push_that_fails_twice_is_taken_once_with_its_exact_bytes_and_a_signature_others_verify() {
    a_push_that_fails_twice_is_taken_once(Engine::Sqlite);
}

#[test]
fn a_push_that_fails_twice_is_taken_once_on_postgres() {
    a_push_that_fails_twice_is_taken_once(Engine::Postgres);
}

#[test]
fn a_refusing_endpoint_parks_the_push_and_the_letter_waits_in_the_pull_inbox() {
    let endpoint = Endpoint::start(&[403]);
    let server = Server::start_with(Engine::Sqlite, &QUICK_RETRIES);
    server.set_push_endpoint(H49, &endpoint.url);
    server.submit_accepted(G22, &common::g22_letter(H49, "G22,2026/12/05,22/BTN-VP"));
    endpoint.wait_for(1, Duration::from_secs(30));
    wait_until("the push is parked", || {
        server.metric("lienthong_push_queue{state=\"parked\"}") == 1.0
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(endpoint.received().len(), 1, "a 403 is not retried");
    let inbox = server.get("/v1/inbox", H49).json();
    assert!(inbox["deliveries"][0]["acked_at"].is_null(), "{inbox}");

    // The sender and the recipient see it parked, with why; only the recipient its endpoint.
    let of = |agency: &str| server.get("/v1/deliveries?state=parked", agency).json();
    let seen = of(G22);
    assert_eq!(seen["deliveries"][0]["state"], "parked", "{seen}");
    assert_eq!(seen["deliveries"][0]["last_status"], 403);
    assert!(seen["deliveries"][0].get("endpoint").is_none(), "{seen}");
    assert_eq!(of(H49)["deliveries"][0]["endpoint"], endpoint.url.as_str());
    assert_eq!(of(H08)["deliveries"].as_array().map(Vec::len), Some(0));
    // An operator's credential (of H08, an agency not concerned) sees every agency's pushes.
    let created = server.cli(&["agency", "credential", "create", H08, "--operator"]);
    assert!(created.status.success(), "{created:?}");
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).expect("JSON");
    assert_eq!(created["role"], "operator");
    let operator = Server::basic(
        created["system_id"].as_str().expect("id"),
        created["secret"].as_str().expect("secret"),
    );
    let seen_by_operator = server
        .send(
            "GET",
            "/v1/deliveries?state=parked",
            Some(&operator),
            &[],
            None,
        )
        .json();
    assert_eq!(seen_by_operator["deliveries"][0]["recipient"], H49);
    assert_eq!(
        seen_by_operator["deliveries"][0]["endpoint"],
        endpoint.url.as_str()
    );
    server
        .get("/v1/deliveries?state=lost", G22)
        .assert_refused(400, "http.bad_request");

    // The operator lists it and sends it again: the endpoint refuses again, parked again.
    let delivery = seen["deliveries"][0]["delivery"]
        .as_i64()
        .expect("delivery");
    let listed = server.cli(&["delivery", "list", "--state", "parked"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.contains("HTTP 403") && listed.contains("1 parked pushes"),
        "{listed}"
    );
    let again = server.cli(&["delivery", "retry", &delivery.to_string()]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    endpoint.wait_for(2, Duration::from_secs(30));
    wait_until("parked again", || {
        server.metric("lienthong_pushes_total{outcome=\"parked\"}") == 2.0
    });
    let cannot = server.cli(&["delivery", "park", &delivery.to_string(), "--reason", "x"]);
    assert_eq!(cannot.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&cannot.stderr).contains("error[delivery.not_found]"));

    // Switched off, the next letter is not pushed at all.
    let out = server.cli(&["agency", "push", H49, "--off"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("push off"));
    server.submit_accepted(G22, &common::g22_letter(H49, "G22,2026/12/05,23/BTN-VP"));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(endpoint.received().len(), 2);
    let inbox = server.get("/v1/inbox", H49).json();
    assert!(inbox["deliveries"][1]["acked_at"].is_null(), "{inbox}");
}

#[test]
fn pushes_pending_when_the_server_is_killed_are_all_made_after_the_restart() {
    // A slow agency system and two workers: most pushes are still queued at the kill.
    let endpoint = Endpoint::start_with_delay(&[200], Duration::from_millis(300));
    let settings = [
        ("LIENTHONG_PUSH_TIMEOUT_SECONDS", "5"),
        ("LIENTHONG_PUSH_WORKERS", "2"),
        ("LIENTHONG_PUSH_PER_ENDPOINT", "2"),
        QUICK_RETRIES[0],
        QUICK_RETRIES[1],
    ];
    let mut server = Server::start_with(Engine::Sqlite, &settings);
    server.set_push_endpoint(H49, &endpoint.url);
    let ids: Vec<String> = (0..20)
        .map(|n| {
            server.submit_accepted(
                G22,
                &common::g22_letter(H49, &format!("G22,2026/12/05,{}/BTN-VP", 40 + n)),
            )
        })
        .collect();
    server.restart(&settings);
    let before = endpoint.received().len();
    assert!(
        before < ids.len(),
        "all {before} pushes were made before the kill"
    );

    // After the restart every letter is taken (those leased by the killed server once their
    // lease has run out: the push timeout plus 10 s).
    wait_until("every letter is pushed and taken", || {
        let inbox = server.get("/v1/inbox?limit=100", H49).json();
        let deliveries = inbox["deliveries"].as_array().cloned().unwrap_or_default();
        deliveries.len() == ids.len() && deliveries.iter().all(|d| d["acked_at"].is_string())
    });
    std::thread::sleep(Duration::from_secs(1));
    let received = endpoint.received();
    for id in &ids {
        let pushes: Vec<&Received> = received
            .iter()
            .filter(|p| p.headers["x-lienthong-packet-id"] == *id)
            .collect();
        assert!(!pushes.is_empty(), "{id} was never pushed");
        // A push cut by the kill is made again, with the same delivery id.
        let deliveries: std::collections::HashSet<&String> = pushes
            .iter()
            .map(|p| &p.headers["x-lienthong-delivery"])
            .collect();
        assert_eq!(deliveries.len(), 1, "{id}");
    }
    // Only pushes in flight at the kill (two workers) can have been made twice.
    let repeats = received.len() - ids.len();
    assert!(repeats <= 2, "{repeats} repeats");
}

#[test]
fn a_dead_endpoint_opens_its_breaker_while_a_healthy_one_keeps_taking_letters() {
    let dead = common_endpoint::dead_url();
    let healthy = Endpoint::start(&[200]);
    let server = Server::start_with(
        Engine::Sqlite,
        &[
            ("LIENTHONG_PUSH_RETRY_FIRST_SECONDS", "1"),
            ("LIENTHONG_PUSH_RETRY_MAX_SECONDS", "1"),
            ("LIENTHONG_PUSH_BREAKER_FAILURES", "3"),
            // One attempt at a time per endpoint, so that exactly three fail before it opens.
            ("LIENTHONG_PUSH_PER_ENDPOINT", "1"),
            ("LIENTHONG_PUSH_BREAKER_PROBE_SECONDS", "60"),
        ],
    );
    server.set_push_endpoint(H08, &dead);
    server.set_push_endpoint(H49, &healthy.url);
    for n in 0..10 {
        server.submit_accepted(
            G22,
            &common::g22_letter(H08, &format!("G22,2026/12/05,{}/BTN-VP", 70 + n)),
        );
    }
    wait_until("the dead endpoint's breaker opens", || {
        server.metric_if_shown(&format!(
            "lienthong_push_breaker_open{{endpoint=\"{dead}\"}}"
        )) == Some(1.0)
    });
    for n in 0..10 {
        server.submit_accepted(
            G22,
            &common::g22_letter(H49, &format!("G22,2026/12/05,{}/BTN-VP", 80 + n)),
        );
    }
    healthy.wait_for(10, Duration::from_secs(10));
    // While the breaker is open the dead endpoint's letters wait: three failures opened it,
    // and no probe is due for a minute.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        server.metric("lienthong_pushes_total{outcome=\"retried\"}"),
        3.0
    );
    assert_eq!(
        server.metric("lienthong_push_queue{state=\"retrying\"}"),
        3.0
    );
    assert_eq!(
        server.metric("lienthong_push_queue{state=\"pending\"}"),
        7.0
    );
    assert_eq!(
        server.metric("lienthong_pushes_total{outcome=\"delivered\"}"),
        10.0
    );
}

/// A server on SQLite whose H49 has an endpoint that takes every push, once G22's letter
/// `number` to H49 has been pushed there.
fn one_letter_pushed(number: &str) -> (Server, Endpoint) {
    let server = Server::start(Engine::Sqlite);
    let endpoint = Endpoint::start(&[200]);
    server.set_push_endpoint(H49, &endpoint.url);
    server.submit_accepted(G22, &common::g22_letter(H49, number));
    endpoint.wait_for(1, Duration::from_secs(10));
    (server, endpoint)
}

/// A server with nothing to do commits nothing: its workers (pushes, mails, the audit log's
/// integrator, the word indexer) ask a reader whether there is work before they send the
/// writer a unit, and each unit there would be a commit — an fsync — every half second.
#[test]
fn a_server_at_rest_commits_nothing() {
    let (server, _endpoint) = one_letter_pushed("G22,2026/12/06,91/BTN-VP");
    // Once the letter's work is done (pushed, logged, its words indexed, a checkpoint signed),
    // the count of commits stops moving…
    let commits = || server.metric("lienthong_writer_commits_total");
    let mut last = commits();
    wait_until("the writer comes to rest", || {
        std::thread::sleep(Duration::from_millis(1500));
        let now = commits();
        std::mem::replace(&mut last, now) == now
    });
    // …and stays still.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(commits(), last, "commits at rest");
}

/// The threads of process `pid`: each one's name and `nice` value, from /proc.
#[cfg(target_os = "linux")]
fn threads_of(pid: u32) -> Vec<(String, i32)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the server's threads");
    tasks
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
            // "tid (name) state ppid …": the name may hold spaces, so split at its parentheses;
            // `nice` is the 19th field, the 17th after the name.
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_owned();
            let nice = rest.split_whitespace().nth(16)?.parse().ok()?;
            Some((name, nice))
        })
        .collect()
}

/// Delivery yields the CPU to accepting: the thread that runs its workers and the threads
/// that make its pushes run ten `nice` steps below the rest of the server, whose threads keep
/// the process's priority.
#[test]
#[cfg(target_os = "linux")]
fn delivery_runs_on_threads_below_the_rest_of_the_server() {
    let (server, _endpoint) = one_letter_pushed("G22,2026/12/06,92/BTN-VP");
    let threads = threads_of(server.pid());
    let process = threads
        .iter()
        .find(|(name, _)| name == "lienthong")
        .map(|(_, nice)| *nice)
        .expect("the main thread");
    let (delivery, rest): (Vec<_>, Vec<_>) = threads
        .iter()
        .partition(|(name, _)| name.starts_with("lt-delivery"));
    // Its worker, and a blocking thread that made the push.
    assert!(delivery.len() >= 2, "delivery's threads: {threads:?}");
    let lowered = (process + 10).min(19);
    assert!(
        delivery.iter().all(|(_, nice)| *nice == lowered),
        "{threads:?}"
    );
    assert!(rest.iter().all(|(_, nice)| *nice == process), "{threads:?}");
}
