//! Acknowledgement and handling deadlines through the real server, with deadlines shortened by
//! configuration: an unacknowledged letter appears in `GET /v1/overdue` for its sender and its
//! recipient, the sender's clerks get one mail through a real SMTP server (aiosmtpd), and
//! acknowledging takes it off; a letter past its DueDate without 06 is listed, mailed once by
//! the job that runs at start, and cleared by 06.

mod common;
mod common_endpoint;
mod common_pg;
mod common_server;
mod common_smtp;

use std::time::Duration;

use common_server::{wait_until, Engine, Server};
use common_smtp::Smtp;
use lienthong::edxml::{
    self, DocumentId, EdxmlDate, EdxmlTimestamp, OrganId, Organization, OtherInfo, Priority,
    ResponseFor, StatusCode, StatusPacket,
};
use serde_json::Value;

const G22: &str = "000.00.00.G22";
const H49: &str = "000.00.00.H49";
const H08: &str = "000.00.00.H08";

fn letter(number: u32, priority: Priority, due: Option<time::Date>) -> Vec<u8> {
    let mut packet = common::g22_message(
        &[H49],
        &format!("G22,2026/12/05,{number}/BTN-VP"),
        "Về việc báo cáo tình hình gửi nhận văn bản điện tử",
    );
    packet.header.code.number = number.to_string();
    packet.header.code.notation = "BTN-VP".to_owned();
    packet.header.other_info = Some(OtherInfo {
        priority: Some(priority),
        ..OtherInfo::default()
    });
    packet.header.due_date = due.map(EdxmlDate::new);
    common::sign_g22(packet)
}

/// H49's signed status `code` about G22's letter `number`.
fn status(number: u32, code: &str) -> Vec<u8> {
    let organ = |code: &str| OrganId::parse(code).expect("code");
    let packet = StatusPacket {
        response_for: ResponseFor {
            organ_id: organ(G22),
            code: Some(format!("{number}/BTN-VP")),
            promulgation_date: None,
            document_id: DocumentId::parse(&format!("G22,2026/12/05,{number}/BTN-VP")).expect("id"),
        },
        from: Organization::from_code(organ(H49)),
        status_code: StatusCode::parse(code).expect("status code"),
        description: None,
        timestamp: EdxmlTimestamp::now(),
        staff_info: None,
    };
    common::sign_bytes(
        &edxml::write(&packet.into()).expect("write"),
        common::H49_P384,
    )
}

fn overdue(server: &Server, agency: &str, query: &str) -> Vec<Value> {
    let reply = server.get(&format!("/v1/overdue{query}"), agency);
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["overdue"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn mails_to_g22(smtp: &Smtp) -> Vec<Value> {
    smtp.mails()
        .into_iter()
        .filter(|m| m["to"][0] == "vanthu@g22.lienthong.test")
        .collect()
}

fn settings(smtp: &Smtp) -> Vec<(&'static str, String)> {
    vec![
        ("LIENTHONG_SMTP_URL", smtp.url()),
        ("LIENTHONG_SMTP_FROM", "lienthong@lienthong.test".to_owned()),
        ("LIENTHONG_MAIL_GATHER_SECONDS", "0".to_owned()),
        // Khẩn letters must be acknowledged within ~2 s; normal ones keep a day.
        ("LIENTHONG_DEADLINES_KHAN_HOURS", "0.0005".to_owned()),
        ("LIENTHONG_DEADLINES_SCAN_SECONDS", "1".to_owned()),
    ]
}

fn start(engine: Engine, settings: &[(&'static str, String)]) -> Server {
    let env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_with(engine, &env)
}

fn an_unacknowledged_letter_is_overdue_mailed_once_and_cleared_by_its_ack(engine: Engine) {
    let smtp = Smtp::start();
    let server = start(engine, &settings(&smtp));
    for (number, priority) in [(31, Priority::Urgent), (32, Priority::Normal)] {
        let reply = server.submit(G22, &letter(number, priority, None));
        assert_eq!(reply.status, 202, "{}", reply.text());
    }

    wait_until("the khẩn letter is overdue", || {
        !overdue(&server, G22, "?role=sender").is_empty()
    });
    let sent = overdue(&server, G22, "?role=sender");
    assert_eq!(sent.len(), 1, "only the khẩn letter: {sent:?}");
    let entry = &sent[0];
    assert_eq!(entry["kind"], "acknowledgement");
    assert_eq!(entry["recipient"], H49);
    assert_eq!(entry["notation"], "31/BTN-VP");
    assert_eq!(entry["priority"], "khan");
    assert_eq!(entry["state"], "submitted");
    // Due 1.8 s after acceptance (the same RFC 3339 form: the strings order as the times).
    let (due, at) = (entry["due_at"].as_str(), entry["received_at"].as_str());
    assert!(due.expect("due_at") > at.expect("received_at"), "{entry}");
    // The recipient sees it in its own overdue inbox; an agency not concerned sees nothing.
    let received = overdue(&server, H49, "?role=recipient");
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["delivery"], entry["delivery"]);
    assert!(overdue(&server, H08, "").is_empty());
    assert!(overdue(&server, H49, "?role=sender").is_empty());
    server
        .get("/v1/overdue?role=everyone", G22)
        .assert_refused(400, "http.bad_request");

    wait_until("the sender's clerks are told", || {
        !mails_to_g22(&smtp).is_empty()
    });
    let mail = &mails_to_g22(&smtp)[0];
    let subject = mail["subject"].as_str().expect("subject");
    assert!(
        subject.starts_with("[Liên thông] Quá hạn xác nhận: 31/BTN-VP"),
        "{subject}"
    );
    assert!(
        mail["text"]
            .as_str()
            .expect("text")
            .contains("Hạn xác nhận: "),
        "{mail}"
    );

    // H49 acknowledges: the letter is off both lists at once.
    let delivery = entry["delivery"].as_i64().expect("delivery");
    server.ack(H49, delivery);
    assert!(overdue(&server, G22, "").is_empty());
    assert!(overdue(&server, H49, "").is_empty());
    // Several passes of the job later, the deadline was mailed once.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(mails_to_g22(&smtp).len(), 1);
    // The audit log has the deadline raised and cleared, in the letter's trace.
    let trace = server
        .get(
            "/v1/documents/000.00.00.G22/G22,2026%2F12%2F05,31%2FBTN-VP/trace",
            G22,
        )
        .json();
    let kinds: Vec<(&str, &str)> = trace["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or(""),
                e["fields"]["deadline"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("packet.accepted", ""),
            ("overdue.raised", "acknowledgement"),
            ("delivery.acknowledged", ""),
            ("overdue.cleared", "acknowledgement"),
        ],
        "{trace}"
    );
}

#[test]
fn an_unacknowledged_letter_is_overdue_until_acknowledged_on_sqlite() {
    an_unacknowledged_letter_is_overdue_mailed_once_and_cleared_by_its_ack(Engine::Sqlite);
}

#[test]
fn an_unacknowledged_letter_is_overdue_until_acknowledged_on_postgres() {
    an_unacknowledged_letter_is_overdue_mailed_once_and_cleared_by_its_ack(Engine::Postgres);
}

#[test]
fn a_letter_past_its_due_date_is_overdue_until_handled() {
    let smtp = Smtp::start();
    let settings = settings(&smtp);
    let mut server = start(Engine::Sqlite, &settings);
    let yesterday = time::OffsetDateTime::now_utc().date().previous_day();
    let reply = server.submit(G22, &letter(40, Priority::Normal, yesterday));
    assert_eq!(reply.status, 202, "{}", reply.text());

    // Acknowledged, but not handled by its DueDate.
    let inbox = server.get("/v1/inbox", H49).json();
    let delivery = inbox["deliveries"][0]["delivery"]
        .as_i64()
        .expect("delivery");
    server.ack(H49, delivery);
    let sent = overdue(&server, G22, "");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["kind"], "handling");
    assert_eq!(
        sent[0]["due_date"],
        yesterday.map(|d| d.to_string()).expect("date")
    );
    assert!(sent[0]["overdue_seconds"].as_i64().expect("seconds") > 0);

    // DueDates are looked at when the server starts and when the date turns in Vietnam.
    server.restart(
        &settings
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    wait_until("the sender's clerks are told", || {
        !mails_to_g22(&smtp).is_empty()
    });
    let subject = mails_to_g22(&smtp)[0]["subject"]
        .as_str()
        .expect("subject")
        .to_owned();
    assert!(
        subject.starts_with("[Liên thông] Quá hạn xử lý: 40/BTN-VP"),
        "{subject}"
    );

    for code in ["03", "06"] {
        let reply = server.submit(H49, &status(40, code));
        assert_eq!(reply.status, 202, "{}", reply.text());
    }
    assert!(overdue(&server, G22, "").is_empty());
    assert!(overdue(&server, H49, "").is_empty());
}
