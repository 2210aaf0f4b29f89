//! Mail to clerks through the real server and a real SMTP server: Debian's `aiosmtpd`
//! (`python3 -m aiosmtpd`, installed by .ci/run) writing what it receives into a Maildir, read
//! back with Python's own e-mail parser (`tests/tools/read_maildir.py`), so that the encoding of
//! the Vietnamese subject is checked by a reader that is not ours.

mod common;
mod common_endpoint;
mod common_pg;
mod common_server;
mod common_smtp;

use std::time::Duration;

use common_server::{wait_until, Engine, Server};
use common_smtp::Smtp;
use lienthong::edxml::{
    self, DocumentId, EdxmlTimestamp, OrganId, Organization, ResponseFor, StatusCode, StatusPacket,
};

const G22: &str = "000.00.00.G22";
const H49: &str = "000.00.00.H49";
const SUBJECT: &str = "Công văn về việc Đảng ủy triển khai gửi nhận văn bản điện tử";

fn letter(document_id: &str, number: &str) -> Vec<u8> {
    let mut packet = common::g22_message(&[H49], document_id, SUBJECT);
    packet.header.code.number = number.to_owned();
    packet.header.code.notation = "BTN-VP".to_owned();
    common::sign_g22(packet)
}

/// H49's signed status `code` about G22's document.
fn status(document_id: &str, code: &str, description: Option<&str>) -> Vec<u8> {
    let organ = |code: &str| OrganId::parse(code).expect("code");
    let packet = StatusPacket {
        response_for: ResponseFor {
            organ_id: organ(G22),
            code: Some("40/BTN-VP".into()),
            promulgation_date: None,
            document_id: DocumentId::parse(document_id).expect("id"),
        },
        from: Organization::from_code(organ(H49)),
        status_code: StatusCode::parse(code).expect("status code"),
        description: description.map(str::to_owned),
        timestamp: EdxmlTimestamp::now(),
        staff_info: None,
    };
    common::sign_bytes(
        &edxml::write(&packet.into()).expect("write"),
        common::H49_P384,
    )
}

fn mail_settings(smtp: &Smtp) -> Vec<(&'static str, String)> {
    vec![
        ("LIENTHONG_SMTP_URL", smtp.url()),
        (
            "LIENTHONG_SMTP_FROM",
            "Lien thong <lienthong@lienthong.test>".to_owned(),
        ),
        (
            "LIENTHONG_CONSOLE_BASE_URL",
            "https://lienthong.example.gov.vn".to_owned(),
        ),
        ("LIENTHONG_MAIL_GATHER_SECONDS", "1".to_owned()),
    ]
}

fn start(smtp: &Smtp) -> Server {
    let settings = mail_settings(smtp);
    let env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_with(Engine::Sqlite, &env)
}

#[test]
fn a_new_letter_is_mailed_to_the_recipients_clerks_with_a_vietnamese_subject() {
    let smtp = Smtp::start();
    let server = start(&smtp);
    let reply = server.submit(G22, &letter("G22,2026/12/05,31/BTN-VP", "31"));
    assert_eq!(reply.status, 202, "{}", reply.text());

    wait_until("the clerk's mail arrives", || smtp.mails().len() == 1);
    let mail = &smtp.mails()[0];
    let subject = mail["subject"].as_str().expect("subject");
    assert_eq!(
        subject,
        format!("[Liên thông] Văn bản đến: 31/BTN-VP – {SUBJECT}")
    );
    // On the wire the subject is RFC 2047 encoded words: ASCII only.
    let raw = mail["raw_subject"].as_str().expect("raw");
    assert!(raw.is_ascii() && raw.contains("=?utf-8?"), "{raw}");
    assert_eq!(mail["to"][0], "vanthu@h49.lienthong.test");
    let text = mail["text"].as_str().expect("text part");
    assert!(
        text.contains("Cơ quan gửi: Bộ Thử nghiệm Liên thông (DEV) (000.00.00.G22)"),
        "{text}"
    );
    assert!(text.contains(
        "Xem: https://lienthong.example.gov.vn/documents/000.00.00.G22/G22%2C2026%2F12%2F05%2C31%2FBTN-VP"
    ));
    assert!(mail["html"]
        .as_str()
        .expect("html part")
        .contains("<table>"));
    let message_id = mail["message_id"].as_str().expect("Message-ID");
    assert!(message_id.ends_with("@lienthong.test>"), "{message_id}");
    assert_eq!(
        server.metric("lienthong_mails_total{outcome=\"sent\"}"),
        1.0
    );
}

#[test]
fn letters_arriving_together_go_out_as_one_digest_and_a_refusal_reaches_the_sender() {
    let smtp = Smtp::start();
    let server = start(&smtp);
    for n in 0..3 {
        let id = format!("G22,2026/12/05,{}/BTN-VP", 40 + n);
        let reply = server.submit(G22, &letter(&id, &(40 + n).to_string()));
        assert_eq!(reply.status, 202, "{}", reply.text());
    }
    wait_until("the digest arrives", || !smtp.mails().is_empty());
    std::thread::sleep(Duration::from_secs(2));
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let subject = mails[0]["subject"].as_str().expect("subject");
    assert!(
        subject.starts_with("[Liên thông] 3 thông báo mới"),
        "{subject}"
    );
    for n in 40..43 {
        assert!(mails[0]["text"]
            .as_str()
            .expect("text")
            .contains(&format!("Số/ký hiệu: {n}/BTN-VP")));
    }

    // H49 refuses the first one: G22's clerks learn it, with the reason.
    let first = "G22,2026/12/05,40/BTN-VP";
    for (code, why) in [
        ("01", None),
        ("02", Some("Gửi nhầm cơ quan, đề nghị gửi lại")),
    ] {
        let reply = server.submit(H49, &status(first, code, why));
        assert_eq!(reply.status, 202, "{}", reply.text());
    }
    wait_until("the refusal's mail arrives", || smtp.mails().len() == 2);
    let mails = smtp.mails();
    let refusal = mails
        .iter()
        .find(|m| m["to"][0] == "vanthu@g22.lienthong.test")
        .expect("a mail to G22's clerks");
    let subject = refusal["subject"].as_str().expect("subject");
    assert!(
        subject.starts_with("[Liên thông] Văn bản bị từ chối: 40/BTN-VP"),
        "{subject}"
    );
    let text = refusal["text"].as_str().expect("text");
    assert!(
        text.contains("Lý do từ chối: Gửi nhầm cơ quan, đề nghị gửi lại"),
        "{text}"
    );

    // Each mail handed to the SMTP server is an audit event: the digest of three arrivals to
    // H49's clerks, the refusal to G22's.
    let db = server
        .database_url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .expect("a path")
        .to_owned();
    let out = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("SELECT hex(body) FROM audit_events WHERE kind = 'mail.sent' ORDER BY seq")
        .output()
        .expect("sqlite3 runs");
    let sent: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|h| String::from_utf8(hex::decode(h.trim()).expect("hex")).expect("UTF-8"))
        .collect();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert!(
        sent[0].contains("\nagency 000.00.00.H49\nmails 3\nevents arrived\n"),
        "{sent:#?}"
    );
    assert!(
        sent[1].contains("\nagency 000.00.00.G22\nmails 1\nevents refused\n"),
        "{sent:#?}"
    );
}

#[test]
fn mails_pending_when_the_server_is_killed_are_sent_once_after_the_restart() {
    let smtp = Smtp::start();
    let mut settings = mail_settings(&smtp);
    // A long gathering window: every mail is still queued when the server is killed.
    settings.retain(|(k, _)| *k != "LIENTHONG_MAIL_GATHER_SECONDS");
    settings.push(("LIENTHONG_MAIL_GATHER_SECONDS", "4".to_owned()));
    let env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = Server::start_with(Engine::Sqlite, &env);
    let numbers: Vec<String> = (60..66).map(|n| n.to_string()).collect();
    for number in &numbers {
        let id = format!("G22,2026/12/05,{number}/BTN-VP");
        let reply = server.submit(G22, &letter(&id, number));
        assert_eq!(reply.status, 202, "{}", reply.text());
    }
    server.restart(&env);

    wait_until("every letter is mailed", || {
        let text: String = smtp
            .mails()
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
            .collect();
        numbers
            .iter()
            .all(|n| text.contains(&format!("Số/ký hiệu: {n}/BTN-VP")))
    });
    std::thread::sleep(Duration::from_secs(5));
    let mails = smtp.mails();
    let ids: std::collections::HashSet<&str> = mails
        .iter()
        .map(|m| m["message_id"].as_str().expect("Message-ID"))
        .collect();
    // Nothing was sent before the kill, so nothing can have been cut between the SMTP
    // server's answer and its record: each event is in exactly one message, sent once.
    assert_eq!(ids.len(), mails.len(), "a Message-ID sent twice: {mails:?}");
    for n in &numbers {
        let line = format!("Số/ký hiệu: {n}/BTN-VP");
        let carrying = mails
            .iter()
            .filter(|m| m["text"].as_str().unwrap_or_default().contains(&line))
            .count();
        assert_eq!(carrying, 1, "letter {n} is in {carrying} mails");
    }
}
