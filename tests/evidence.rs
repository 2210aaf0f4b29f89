//! Delivery evidence through the real server (docs/DELIVERY.md, "Delivery evidence"): after a
//! push answered 2xx, a pull acknowledged, a push parked, the sender fetches a document that
//! `xmlsec1` verifies against the dev PKI and that names the right recipient and event; nobody
//! else gets it, and a changed recipient no longer verifies.

mod common;
mod common_endpoint;
mod common_pg;
mod common_server;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common_endpoint::Endpoint;
use common_server::{wait_until, Engine, Server, QUICK_RETRIES};

const G22: &str = "000.00.00.G22";
const H49: &str = "000.00.00.H49";
const H08: &str = "000.00.00.H08";

/// A signed letter from G22 to `to`.
fn letter(to: &[&str], document_id: &str) -> Vec<u8> {
    common::sign_g22(common::g22_message(
        to,
        document_id,
        "Công văn về việc xác nhận đã nhận văn bản",
    ))
}

/// The evidence as `agency` asks for it; asserts 200 and XML.
fn evidence(server: &Server, id: &str, query: &str, agency: &str) -> String {
    let reply = server.get(&format!("/v1/packets/{id}/evidence{query}"), agency);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.headers["content-type"], "application/xml");
    reply.text()
}

/// Asserts that xmlsec1 verifies `xml` against the dev root.
fn assert_verifies(xml: &str) {
    let dir = common::work_dir();
    let path = dir.path().join("evidence.xml");
    common::write(&path, xml);
    common::assert_xmlsec1_accepts(&path);
}

fn assert_does_not_verify(xml: &str) {
    let dir = common::work_dir();
    let path = dir.path().join("forged.xml");
    common::write(&path, xml);
    common::assert_xmlsec1_refuses(&path);
}

/// The `Event` elements of a document, each as its text.
fn events(xml: &str) -> Vec<&str> {
    xml.split("<Event ")
        .skip(1)
        .map(|rest| &rest[..rest.find("</Event>").expect("event end")])
        .collect()
}

/// The text of `<name>` inside `xml`.
fn text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..end])
}

/// The document without its signature's (randomized) value.
fn without_signature_value(xml: &str) -> String {
    let start = xml.find("<ds:SignatureValue>").expect("value") + 19;
    let end = xml.find("</ds:SignatureValue>").expect("value end");
    format!("{}{}", &xml[..start], &xml[end..])
}

fn delivery_of(server: &Server, agency: &str, id: &str) -> i64 {
    let inbox = server.get("/v1/inbox?limit=1000", agency).json();
    inbox["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|d| d["packet_id"] == id)
        .and_then(|d| d["delivery"].as_i64())
        .unwrap_or_else(|| panic!("{id} is not in {agency}'s inbox: {inbox}"))
}

fn a_push_answered_2xx_gives_a_consignment_the_sender_can_verify(engine: Engine) {
    let endpoint = Endpoint::start(&[200]);
    let server = Server::start_with(engine, &QUICK_RETRIES);
    server.set_push_endpoint(H49, &endpoint.url);
    let id = server.submit_accepted(G22, &letter(&[H49], "G22,2026/12/07,1/BTN-VP"));
    endpoint.wait_for(1, Duration::from_secs(30));
    wait_until("the push is recorded as delivered", || {
        server.metric("lienthong_pushes_total{outcome=\"delivered\"}") == 1.0
    });

    let xml = evidence(&server, &id, "", G22);
    assert!(
        xml.contains("<DeliveryEvidence xmlns=\"urn:lienthong:receipt:1\" version=\"1\">"),
        "{xml}"
    );
    assert_verifies(&xml);
    assert_eq!(text(&xml, "PacketId"), Some(id.as_str()));
    assert_eq!(text(&xml, "Sender"), Some(G22));
    let events = events(&xml);
    assert_eq!(events.len(), 1, "{xml}");
    let event = events[0];
    assert!(event.starts_with("type=\"ContentConsignment\">"), "{event}");
    assert_eq!(text(event, "Recipient"), Some(H49));
    assert_eq!(text(event, "Via"), Some("push"));
    assert_eq!(text(event, "HttpStatus"), Some("200"));
    let endpoint_sha256 = hex::encode(openssl::sha::sha256(endpoint.url.as_bytes()));
    assert_eq!(
        text(event, "EndpointSha256"),
        Some(endpoint_sha256.as_str())
    );
    assert!(!xml.contains(&endpoint.url), "the sender sees no endpoint");
    // The delivery number is the one the push carried; the time is the inbox's acked_at.
    let pushed = &endpoint.received()[0];
    assert_eq!(
        text(event, "Delivery"),
        Some(pushed.headers["x-lienthong-delivery"].as_str())
    );
    let inbox = server.get("/v1/inbox", H49).json();
    assert_eq!(
        Some(text(event, "At").expect("At")),
        inbox["deliveries"][0]["acked_at"].as_str()
    );

    // The same facts, the same document (apart from the ECDSA value), on every fetch.
    let again = evidence(&server, &id, &format!("?recipient={H49}"), G22);
    assert_eq!(
        without_signature_value(&again),
        without_signature_value(&xml)
    );

    // Another recipient named in the document no longer verifies.
    assert_does_not_verify(&xml.replace(
        &format!("<Recipient>{H49}</Recipient>"),
        &format!("<Recipient>{H08}</Recipient>"),
    ));

    // Only the sender: the recipient and a third agency get what an unknown packet gets.
    for agency in [H49, H08] {
        server
            .get(&format!("/v1/packets/{id}/evidence"), agency)
            .assert_refused(404, "exchange.not_found");
    }
    server
        .get(
            "/v1/packets/01a2460e-8060-75f8-be3d-b4cfc1c9489c/evidence",
            G22,
        )
        .assert_refused(404, "exchange.not_found");
}

#[test]
fn a_push_answered_2xx_gives_a_consignment_that_xmlsec1_verifies() {
    a_push_answered_2xx_gives_a_consignment_the_sender_can_verify(Engine::Sqlite);
}

#[test]
fn a_push_answered_2xx_gives_a_consignment_on_postgres() {
    a_push_answered_2xx_gives_a_consignment_the_sender_can_verify(Engine::Postgres);
}

fn an_acknowledged_pull_gives_a_handover(engine: Engine) {
    let server = Server::start(engine);
    let id = server.submit_accepted(G22, &letter(&[H49], "G22,2026/12/07,2/BTN-VP"));
    server
        .get(&format!("/v1/packets/{id}/evidence"), G22)
        .assert_refused(409, "evidence.not_yet");
    let delivery = delivery_of(&server, H49, &id);
    let ack = server.ack(H49, delivery);

    let xml = evidence(&server, &id, "", G22);
    assert_verifies(&xml);
    let events = events(&xml);
    assert_eq!(events.len(), 1, "{xml}");
    let event = events[0];
    assert!(event.starts_with("type=\"ContentHandover\">"), "{event}");
    assert_eq!(text(event, "Recipient"), Some(H49));
    assert_eq!(text(event, "Via"), Some("pull"));
    assert_eq!(text(event, "Delivery"), Some(delivery.to_string().as_str()));
    assert_eq!(text(event, "At"), ack.json()["acked_at"].as_str());
    assert_eq!(text(event, "HttpStatus"), None);
    assert_does_not_verify(&xml.replace("<Via>pull</Via>", "<Via>push</Via>"));
}

#[test]
fn an_acknowledged_pull_gives_a_handover_that_xmlsec1_verifies() {
    an_acknowledged_pull_gives_a_handover(Engine::Sqlite);
}

#[test]
fn an_acknowledged_pull_gives_a_handover_on_postgres() {
    an_acknowledged_pull_gives_a_handover(Engine::Postgres);
}

#[test]
fn a_parked_push_gives_a_consignment_failure_until_the_letter_is_pulled() {
    let endpoint = Endpoint::start(&[403]);
    let server = Server::start_with(Engine::Sqlite, &QUICK_RETRIES);
    server.set_push_endpoint(H49, &endpoint.url);
    let id = server.submit_accepted(G22, &letter(&[H49], "G22,2026/12/07,3/BTN-VP"));
    endpoint.wait_for(1, Duration::from_secs(30));
    wait_until("the push is parked", || {
        server.metric("lienthong_push_queue{state=\"parked\"}") == 1.0
    });

    let xml = evidence(&server, &id, "", G22);
    assert_verifies(&xml);
    let event = events(&xml)[0].to_owned();
    assert!(
        event.starts_with("type=\"ContentConsignmentFailure\">"),
        "{event}"
    );
    assert_eq!(text(&event, "Recipient"), Some(H49));
    assert_eq!(text(&event, "Via"), Some("push"));
    assert_eq!(text(&event, "HttpStatus"), Some("403"));
    // The reason is the one the outbox shows.
    let parked = server.get("/v1/deliveries?state=parked", G22).json();
    let reason = parked["deliveries"][0]["last_error"]
        .as_str()
        .expect("a reason");
    assert!(reason.contains("403"), "{reason}");
    assert_eq!(
        text(&event, "Reason"),
        Some(
            reason
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .as_str()
        )
    );

    // The recipient pulls it after all: the handover replaces the failure.
    let delivery = delivery_of(&server, H49, &id);
    server.ack(H49, delivery);
    let xml = evidence(&server, &id, &format!("?recipient={H49}"), G22);
    assert_verifies(&xml);
    let events = events(&xml);
    assert_eq!(events.len(), 1, "{xml}");
    assert!(events[0].starts_with("type=\"ContentHandover\">"), "{xml}");
    assert_eq!(text(events[0], "Via"), Some("pull"));
}

#[test]
fn two_recipients_have_an_event_each_and_one_can_be_asked_for() {
    let endpoint = Endpoint::start(&[200]);
    let server = Server::start_with(Engine::Sqlite, &QUICK_RETRIES);
    server.set_push_endpoint(H49, &endpoint.url);
    let id = server.submit_accepted(G22, &letter(&[H49, H08], "G22,2026/12/07,4/BTN-VP"));
    endpoint.wait_for(1, Duration::from_secs(30));
    wait_until("the push is recorded as delivered", || {
        server.metric("lienthong_pushes_total{outcome=\"delivered\"}") == 1.0
    });

    // H49 took it by push, H08 not yet: the whole document has H49's event alone.
    let xml = evidence(&server, &id, "", G22);
    assert_verifies(&xml);
    let listed: Vec<Option<&str>> = events(&xml).iter().map(|e| text(e, "Recipient")).collect();
    assert_eq!(listed, [Some(H49)]);
    let only = evidence(&server, &id, &format!("?recipient={H49}"), G22);
    assert_eq!(events(&only).len(), 1);
    server
        .get(&format!("/v1/packets/{id}/evidence?recipient={H08}"), G22)
        .assert_refused(409, "evidence.not_yet");
    for stranger in [G22, "000.00.00.H99", "nonsense"] {
        server
            .get(
                &format!("/v1/packets/{id}/evidence?recipient={stranger}"),
                G22,
            )
            .assert_refused(404, "evidence.unknown_recipient");
    }
    // A recipient asking about another is still not the sender.
    server
        .get(&format!("/v1/packets/{id}/evidence?recipient={H49}"), H08)
        .assert_refused(404, "exchange.not_found");

    // H08 acknowledges: both events, by recipient code; H08's alone on request.
    let delivery = delivery_of(&server, H08, &id);
    server.ack(H08, delivery);
    let xml = evidence(&server, &id, "", G22);
    assert_verifies(&xml);
    let both: Vec<(Option<&str>, Option<&str>)> = events(&xml)
        .iter()
        .map(|e| (text(e, "Recipient"), text(e, "Via")))
        .collect();
    assert_eq!(both, [(Some(H08), Some("pull")), (Some(H49), Some("push"))]);
    let h08 = evidence(&server, &id, &format!("?recipient={H08}"), G22);
    assert_verifies(&h08);
    assert_eq!(events(&h08).len(), 1);
    assert!(events(&h08)[0].starts_with("type=\"ContentHandover\">"));

    // The sender's CLI writes the same evidence to a file.
    let dir = common::work_dir();
    let file = dir.path().join("evidence.xml");
    let out = client(
        &server,
        G22,
        &["evidence", &id, "--recipient", H08, "-o"],
        &file,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = common::read_text(&file);
    common::assert_xmlsec1_accepts(&file);
    assert_eq!(
        without_signature_value(&written),
        without_signature_value(&h08)
    );
    let refused = client(
        &server,
        G22,
        &["evidence", &id, "--recipient", "000.00.00.H99", "-o"],
        &file,
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("error[evidence.unknown_recipient]"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// `lienthong client … ARGS FILE` as `agency`.
fn client(server: &Server, agency: &str, args: &[&str], file: &Path) -> std::process::Output {
    let (system_id, secret) = server.credential(agency);
    Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["client", "--url", &server.base])
        .args(["--system-id", &system_id, "--secret", &secret])
        .args(args)
        .arg(file)
        .output()
        .expect("run lienthong client")
}
