//! Who reads the audit trail, through the real server (docs/AUDIT.md, "Auditors"): the
//! authorization matrix of every audit route for agencies and for auditors scoped to a
//! directory subtree or to everything — each sees exactly its documents, the rest answers as
//! if it did not exist —, auditors refused everywhere else, the packets' bytes only when
//! granted, and every auditor query logged as an event that `audit verify` holds.

mod common;
mod common_pg;
mod common_server;

use std::collections::BTreeMap;

use common_server::{wait_until, Engine, Server};

const G22: &str = "000.00.00.G22";
const H49: &str = "000.00.00.H49";
const H49_UNIT: &str = "000.01.01.H49";
const H08: &str = "000.00.00.H08";

/// A reader of the matrix: a demo agency's system, or an auditor's credential.
enum Who {
    Agency(&'static str),
    Auditor(String, String),
}

fn get(server: &Server, who: &Who, path: &str) -> common_server::Reply {
    match who {
        Who::Agency(code) => server.get(path, code),
        Who::Auditor(id, secret) => {
            server.send("GET", path, Some(&Server::basic(id, secret)), &[], None)
        }
    }
}

/// `lienthong audit verify --bundle`, with no server, finds the bundle `bytes` whole.
fn assert_bundle_verifies(bytes: &[u8]) {
    let dir = common::work_dir();
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, bytes).expect("write");
    let checked = std::process::Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["audit", "verify", "--bundle"])
        .arg(&file)
        .output()
        .expect("lienthong runs");
    assert!(
        checked.status.success()
            && String::from_utf8_lossy(&checked.stdout).contains("the bundle is whole"),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// The document ids of G22's letters: to H49 and H08; to H08 only; to H49's unit.
const TO_BOTH: &str = "G22,2026/12/06,1/BTN-VP";
const TO_H08: &str = "G22,2026/12/06,2/BTN-VP";
const TO_UNIT: &str = "G22,2026/12/06,3/BTN-VP";

#[test]
fn each_reader_sees_exactly_the_documents_of_its_scope_and_auditors_only_read() {
    let server = Server::start_with(
        Engine::Sqlite,
        &[("LIENTHONG_AUDIT_CHECKPOINT_SECONDS", "1")],
    );
    let subject = "Công văn về việc kiểm tra công tác văn thư";
    let mut packets = BTreeMap::new();
    for (doc, to) in [
        (TO_BOTH, vec![H49, H08]),
        (TO_H08, vec![H08]),
        (TO_UNIT, vec![H49_UNIT]),
    ] {
        let letter = common::sign_g22(common::g22_message(&to, doc, subject));
        packets.insert(doc, server.submit_accepted(G22, &letter));
    }
    // H49 takes the first letter by pull and acknowledges it; H08 does not.
    let inbox = server.get("/v1/inbox", H49).json();
    let delivery = inbox["deliveries"][0]["delivery"]
        .as_i64()
        .expect("H49's delivery");
    server.ack(H49, delivery);

    let h49 = server.auditor(&["--scope", H49]);
    let unit = server.auditor(&["--scope", H49_UNIT]);
    let h08 = server.auditor(&["--scope", H08, "--packets"]);
    let everything = server.auditor(&["--scope", "all", "--agency", G22]);
    let no_agency = server.cli(&["auditor", "create", "--scope", "all"]);
    assert!(
        String::from_utf8_lossy(&no_agency.stderr).contains("--scope all needs --agency"),
        "{}",
        String::from_utf8_lossy(&no_agency.stderr)
    );
    let unknown = server.cli(&["auditor", "create", "--scope", "000.00.00.Z99"]);
    assert!(!unknown.status.success());

    let readers: Vec<(&str, Who)> = vec![
        ("G22", Who::Agency(G22)),
        ("H49", Who::Agency(H49)),
        ("H08", Who::Agency(H08)),
        ("auditor H49", Who::Auditor(h49.0.clone(), h49.1.clone())),
        (
            "auditor H49 unit",
            Who::Auditor(unit.0.clone(), unit.1.clone()),
        ),
        ("auditor H08", Who::Auditor(h08.0.clone(), h08.1.clone())),
        (
            "auditor all",
            Who::Auditor(everything.0.clone(), everything.1.clone()),
        ),
    ];
    // Which documents each reader sees, in the order TO_BOTH, TO_H08, TO_UNIT.
    let expected: BTreeMap<&str, [bool; 3]> = BTreeMap::from([
        ("G22", [true, true, true]),
        ("H49", [true, false, false]),
        ("H08", [true, true, false]),
        ("auditor H49", [true, false, true]),
        ("auditor H49 unit", [false, false, true]),
        ("auditor H08", [true, true, false]),
        ("auditor all", [true, true, true]),
    ]);
    wait_until("a checkpoint covers the letters", || {
        server.get("/v1/audit/checkpoints/latest", G22).status == 200
            && server.metric("lienthong_audit_events{state=\"waiting\"}") == 0.0
            && server.metric("lienthong_audit_checkpoint_size")
                >= server.metric("lienthong_audit_events{state=\"placed\"}")
    });
    let mut auditor_requests = 0;
    for (name, who) in &readers {
        let is_auditor = matches!(who, Who::Auditor(..));
        for (i, doc) in [TO_BOTH, TO_H08, TO_UNIT].into_iter().enumerate() {
            let sees = expected[name][i];
            let trace = get(&server, who, &format!("/v1/documents/{G22}/{doc}/trace"));
            let proof = {
                let receipt = server.get(&format!("/v1/packets/{}/receipt", packets[doc]), G22);
                let event = receipt
                    .text()
                    .split_once("<LogEvent>")
                    .and_then(|(_, r)| r.split_once("</LogEvent>"))
                    .map(|(n, _)| n.to_owned())
                    .expect("the receipt names its event");
                get(
                    &server,
                    who,
                    &format!("/v1/audit/proof/inclusion?event={event}"),
                )
            };
            auditor_requests += if is_auditor { 2 } else { 0 };
            if sees {
                assert_eq!(trace.status, 200, "{name} traces {doc}: {}", trace.text());
                assert_eq!(proof.status, 200, "{name} proves {doc}: {}", proof.text());
            } else {
                // The same answer as for a document or event that does not exist.
                trace.assert_refused(404, "audit.not_found");
                proof.assert_refused(404, "audit.not_found");
            }
        }
        for path in [
            "/v1/audit/checkpoints/latest",
            "/v1/audit/proof/consistency?from=1&to=2",
        ] {
            let reply = get(&server, who, path);
            assert_eq!(reply.status, 200, "{name} {path}: {}", reply.text());
            auditor_requests += usize::from(is_auditor);
        }
        let missing = get(&server, who, &format!("/v1/documents/{G22}/nothing/trace"));
        missing.assert_refused(404, "audit.not_found");
        auditor_requests += usize::from(is_auditor);
    }

    // What a trace holds for each: the sender all; a recipient, and its auditor, its own part.
    let entries = |who: &Who| -> Vec<(String, String)> {
        let trace = get(
            &server,
            who,
            &format!("/v1/documents/{G22}/{TO_BOTH}/trace"),
        )
        .json();
        trace["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| {
                let recipient = e["fields"]["recipient"].as_str().unwrap_or("").to_owned();
                (e["kind"].as_str().expect("kind").to_owned(), recipient)
            })
            .collect()
    };
    let accepted = ("packet.accepted".to_owned(), String::new());
    let h49_ack = ("delivery.acknowledged".to_owned(), H49.to_owned());
    assert_eq!(
        entries(&readers[0].1),
        vec![accepted.clone(), h49_ack.clone()]
    );
    assert_eq!(
        entries(&readers[1].1),
        vec![accepted.clone(), h49_ack.clone()]
    );
    assert_eq!(entries(&readers[2].1), vec![accepted.clone()]);
    assert_eq!(entries(&readers[3].1), vec![accepted.clone(), h49_ack]);
    assert_eq!(entries(&readers[5].1), vec![accepted]);
    auditor_requests += 2;
    let h08_view = get(
        &server,
        &readers[5].1,
        &format!("/v1/documents/{G22}/{TO_BOTH}/trace"),
    );
    assert_eq!(h08_view.json()["recipients"], serde_json::json!([H08]));
    auditor_requests += 1;

    // Auditors read; they never act as an agency, and see bytes only when granted them.
    let as_h49 = Who::Auditor(h49.0.clone(), h49.1.clone());
    get(&server, &as_h49, "/v1/inbox").assert_refused(403, "auth.read_only");
    let letter = common::sign_g22(common::g22_message(&[H49], "G22,2026/12/06,9/X", subject));
    server
        .send(
            "POST",
            "/v1/packets",
            Some(&Server::basic(&h49.0, &h49.1)),
            &[],
            Some(&letter),
        )
        .assert_refused(403, "auth.read_only");
    get(
        &server,
        &as_h49,
        &format!("/v1/packets/{}", packets[TO_BOTH]),
    )
    .assert_refused(403, "auth.read_only");
    let as_h08 = Who::Auditor(h08.0.clone(), h08.1.clone());
    let bytes = get(
        &server,
        &as_h08,
        &format!("/v1/packets/{}", packets[TO_H08]),
    );
    assert_eq!(bytes.status, 200, "{}", bytes.text());
    assert!(bytes.text().contains("kiểm tra công tác văn thư"));
    get(
        &server,
        &as_h08,
        &format!("/v1/packets/{}", packets[TO_UNIT]),
    )
    .assert_refused(404, "audit.not_found");
    auditor_requests += 3;

    // Exports: an auditor gets its scope's events, a bundle that verifies offline; an agency
    // none.
    let export = "/v1/audit/export?from=2000-01-01&to=2100-12-31";
    let bundle = get(&server, &as_h49, export);
    assert_eq!(bundle.status, 200, "{}", bundle.text());
    let text = bundle.text();
    for (doc, inside) in [(TO_BOTH, true), (TO_H08, false), (TO_UNIT, true)] {
        let named = text.contains(&format!("packet {}\\n", packets[doc]));
        assert_eq!(named, inside, "{doc} in the H49 auditor's export:\n{text}");
    }
    assert_bundle_verifies(text.as_bytes());
    get(&server, &as_h49, &format!("{export}&agency={H08}"))
        .assert_refused(403, "audit.out_of_scope");
    get(&server, &Who::Agency(G22), export).assert_refused(403, "audit.out_of_scope");
    auditor_requests += 2;

    // Every auditor request is an event naming the auditor, its scope and what it asked.
    wait_until("the auditors' queries are logged", || {
        let text = server.get("/metrics", G22).text();
        text.contains("lienthong_audit_events{state=\"waiting\"} 0")
    });
    let queries = sqlite_events(&server, "auditor.query");
    assert_eq!(queries.len(), auditor_requests, "{queries:#?}");
    assert!(queries
        .iter()
        .any(|q| q.contains(&format!("\nauditor {}\n", h49.0))
            && q.contains(&format!("\nscope {H49}\n"))
            && q.contains(&format!("\nquery /v1/documents/{G22}/{TO_BOTH}/trace"))));
    assert!(queries.iter().any(|q| q.contains("\nscope all\n")));
    // Creating the credentials, and dev mode's import of the demo directory, are events too.
    let created = sqlite_events(&server, "credential.created");
    assert!(
        created
            .iter()
            .any(|c| c.contains(&format!("\nsystem {}\n", h08.0))
                && c.contains("\nrole auditor\n")
                && c.contains(&format!("\nscope {H08}\n"))
                && c.ends_with("\npackets yes\n")),
        "{created:#?}"
    );
    assert!(!sqlite_events(&server, "directory.imported").is_empty());
    let out = server.cli(&["agency", "credential", "revoke", &h08.0]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let revoked = sqlite_events(&server, "credential.revoked");
    assert!(
        revoked
            .iter()
            .any(|r| r.ends_with(&format!("\nsystem {}\n", h08.0))),
        "{revoked:#?}"
    );
}

/// The text of the events of `kind` in the running server's SQLite database.
fn sqlite_events(server: &Server, kind: &str) -> Vec<String> {
    let url = server.database_url.trim_start_matches("sqlite://");
    let path = url.split('?').next().expect("a path");
    let out = std::process::Command::new("sqlite3")
        .arg(path)
        .arg(format!(
            "SELECT hex(body) FROM audit_events WHERE kind = '{kind}' ORDER BY seq"
        ))
        .output()
        .expect("sqlite3 runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|h| String::from_utf8(hex::decode(h.trim()).expect("hex")).expect("UTF-8"))
        .collect()
}

#[test]
fn an_export_of_many_pages_is_sent_as_it_is_made_and_verifies_offline() {
    let server = Server::start_with(
        Engine::Sqlite,
        &[("LIENTHONG_AUDIT_CHECKPOINT_SECONDS", "1")],
    );
    let (id, secret) = server.auditor(&["--scope", "all", "--agency", G22]);
    let everything = Who::Auditor(id, secret);
    let latest = "/v1/audit/checkpoints/latest";
    wait_until("a first checkpoint", || {
        get(&server, &everything, latest).status == 200
    });
    // Each query is an event: more than one page (1,000 events) of them, asked side by side
    // so that the writer commits them together.
    let (threads, each) = (20, 55);
    let queries = threads * each;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..each {
                    let reply = get(&server, &everything, latest);
                    assert_eq!(reply.status, 200, "{}", reply.text());
                }
            });
        }
    });
    wait_until("a checkpoint covers the queries", || {
        let latest = get(&server, &everything, latest);
        // A signed note: the origin, the tree's size, its root, the signature.
        let size = latest.text().lines().nth(1).and_then(|n| n.parse().ok());
        latest.status == 200 && size.unwrap_or(0) > queries
    });
    let bundle = get(
        &server,
        &everything,
        "/v1/audit/export?from=2000-01-01&to=2100-12-31",
    );
    assert_eq!(bundle.status, 200, "{}", bundle.text());
    assert!(
        !bundle.headers.contains_key("content-length"),
        "streamed, not built in memory first: {:?}",
        bundle.headers
    );
    let lines = bundle.text().lines().count() as u64;
    assert!(lines > queries + 1, "{lines} lines");
    assert_bundle_verifies(&bundle.body);
}
