//! The exchange through its HTTP API: the real `lienthong serve` on a random port with a fresh
//! database, on SQLite and on PostgreSQL. The scenario of issue #3: agency A sends to B and C;
//! B pulls, acknowledges, sends 01 then 03; C sends 01 then 02 with a reason; A sees every
//! status — and the refusals around it (replays, wrong sender, unknown recipient, statuses out
//! of order, C reading B's packet), each with its status and code.
//!
//! Packets are built and signed with the library and the committed dev PKI (certs/dev).

mod common;
mod common_pg;
mod common_server;

use common::DevKey;
use common_server::{Engine, Server};
use openssl::pkey::PKey;
use openssl::x509::X509;
use serde_json::Value;

use lienthong::edxml::{
    self, Business, BusinessDocType, DocumentId, EdxmlTimestamp, MessagePacket, NonEmpty, OrganId,
    Organization, ReplacementInfo, ResponseFor, StatusCode, StatusPacket,
};

/// Agency A (a ministry), B (a province) and C (a unit under the province).
const A: &str = "000.00.00.G22";
const B: &str = "000.00.00.H49";
const C: &str = "000.01.01.H49";
/// In the directory, but neither sender nor recipient of the scenario's document.
const D: &str = "000.00.00.H08";

fn key_of(agency: &str) -> DevKey {
    match agency {
        A => common::G22_RSA2048,
        B => common::H49_P384,
        C => common::UNIT_H49_RSA2048,
        D => common::H08_RSA2048,
        other => panic!("no dev key for {other}"),
    }
}

fn organ(code: &str) -> OrganId {
    OrganId::parse(code).expect("agency code")
}

fn letter_packet(from: &str, to: &[&str], subject: &str, document_id: &str) -> MessagePacket {
    let recipients: Vec<Organization> = to
        .iter()
        .map(|c| Organization::from_code(organ(c)))
        .collect();
    let mut letter = MessagePacket::new_document(
        Organization::from_code(organ(from)),
        NonEmpty::from_vec(recipients).expect("recipients"),
        subject,
    );
    letter.header.document_id = DocumentId::parse(document_id).expect("document id");
    letter
}

/// A signed new document from `from` to `to`.
fn letter(from: &str, to: &[&str], subject: &str, document_id: &str) -> Vec<u8> {
    let packet = letter_packet(from, to, subject, document_id);
    common::sign_bytes(&edxml::write(&packet.into()).expect("write"), key_of(from))
}

/// A signed revoke/update/replace of `original` (the sender's own) sent to `to`.
fn change(
    from: &str,
    to: &[&str],
    kind: BusinessDocType,
    document_id: &str,
    original: &str,
) -> Vec<u8> {
    let mut packet = letter_packet(from, to, "Cập nhật văn bản", document_id);
    packet.trace.business = Some(Business {
        doc_type: kind,
        reason: Some("Sửa lỗi chính tả".into()),
        replacements: vec![ReplacementInfo {
            document_id: DocumentId::parse(original).expect("id"),
            organ_ids: to.iter().map(|c| organ(c)).collect(),
        }],
        ..Business::default()
    });
    common::sign_bytes(&edxml::write(&packet.into()).expect("write"), key_of(from))
}

/// A signed revoke that names another agency's document in ResponseFor.
fn revoke_of_others(from: &str, to: &[&str], owner: &str, document_id: &str) -> Vec<u8> {
    let mut packet = letter_packet(from, to, "Thu hồi văn bản", "revoke-1");
    packet.trace.business = Some(Business {
        doc_type: BusinessDocType::Revoke,
        ..Business::default()
    });
    packet.header.response_for = vec![ResponseFor {
        organ_id: organ(owner),
        code: None,
        promulgation_date: None,
        document_id: DocumentId::parse(document_id).expect("id"),
    }];
    common::sign_bytes(&edxml::write(&packet.into()).expect("write"), key_of(from))
}

/// A signed status from `from` about `sender`'s document.
fn status(
    from: &str,
    sender: &str,
    document_id: &str,
    code: &str,
    description: Option<&str>,
) -> Vec<u8> {
    let packet = StatusPacket {
        response_for: ResponseFor {
            organ_id: organ(sender),
            code: Some("12/CV".into()),
            promulgation_date: None,
            document_id: DocumentId::parse(document_id).expect("id"),
        },
        from: Organization::from_code(organ(from)),
        status_code: StatusCode::parse(code).expect("status code"),
        description: description.map(str::to_owned),
        timestamp: EdxmlTimestamp::now(),
        staff_info: None,
    };
    common::sign_bytes(&edxml::write(&packet.into()).expect("write"), key_of(from))
}

fn accepted(reply: &common_server::Reply) -> (String, String) {
    assert_eq!(reply.status, 202, "{}", reply.text());
    let body = reply.json();
    (
        body["id"].as_str().expect("id").to_owned(),
        body["receipt"].as_str().expect("receipt").to_owned(),
    )
}

fn inbox(server: &Server, agency: &str, after: i64) -> Vec<Value> {
    let reply = server.get(&format!("/v1/inbox?after={after}"), agency);
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["deliveries"]
        .as_array()
        .expect("deliveries")
        .clone()
}

fn state_of(document: &Value, recipient: &str) -> String {
    document["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .find(|r| r["recipient"] == recipient)
        .map(|r| r["state"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_else(|| panic!("{recipient} not in {document}"))
}

/// The issue's scenario, on one engine.
fn scenario(engine: Engine) {
    let server = Server::start(engine);
    // A DocumentId in the field form, with '/' and ','.
    let doc = "000.00.00.G22,2026/06/01,12/CV-BTN";
    let status_path = format!("/v1/documents/{A}/{}/status", doc.replace('/', "%2F"));
    let original = letter(
        A,
        &[B, C],
        "Về việc triển khai gửi, nhận văn bản điện tử",
        doc,
    );

    // A sends to B and C; the receipt states what was accepted.
    let (id, receipt) = accepted(&server.submit(A, &original));
    for expected in [
        format!("<PacketId>{id}</PacketId>"),
        format!(
            "<Sha256>{}</Sha256>",
            hex::encode(openssl::sha::sha256(&original))
        ),
        format!("<Size>{}</Size>", original.len()),
        format!("<Sender>{A}</Sender>"),
        format!("<Recipient>{B}</Recipient>"),
        format!("<Recipient>{C}</Recipient>"),
        "<Kind>message</Kind>".to_owned(),
        format!("<Sha256>{}</Sha256>", key_of(A).fingerprint()),
    ] {
        assert!(receipt.contains(&expected), "{expected} not in {receipt}");
    }

    // The same bytes again: the same id and receipt. Other bytes under the DocumentId: 409.
    let again = server.submit(A, &original);
    assert_eq!(accepted(&again), (id.clone(), receipt.clone()));
    assert_eq!(again.json()["replayed"], true);
    let other = letter(A, &[B, C], "Một văn bản khác", doc);
    server
        .submit(A, &other)
        .assert_refused(409, "exchange.duplicate_document");

    // Wrong sender: B submits A's packet. Unknown recipient: named in the refusal.
    server
        .submit(B, &original)
        .assert_refused(403, "exchange.sender_mismatch");
    let stray = letter(A, &[B, "000.00.00.H99"], "Gửi nhầm", "stray-1");
    let refused = server.submit(A, &stray);
    refused.assert_refused(422, "exchange.unknown_recipient");
    assert!(refused.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("000.00.00.H99"));

    // Tampered bytes: the trust core's code.
    let tampered = String::from_utf8(original.clone())
        .expect("UTF-8")
        .replace("triển khai", "hủy bỏ");
    server
        .submit(A, tampered.as_bytes())
        .assert_refused(422, "dsig.digest_mismatch");

    // B pulls its inbox, fetches the exact bytes, acknowledges (twice is harmless).
    let b_inbox = inbox(&server, B, 0);
    assert_eq!(b_inbox.len(), 1, "{b_inbox:?}");
    let delivery = &b_inbox[0];
    assert_eq!(delivery["packet_id"], id.as_str());
    assert_eq!(delivery["sender"], A);
    assert_eq!(delivery["kind"], "message");
    assert_eq!(delivery["document_id"], doc);
    let fetched = server.get(&format!("/v1/packets/{id}"), B);
    assert_eq!(fetched.status, 200);
    assert_eq!(
        fetched.body, original,
        "the bytes must be exactly as submitted"
    );
    assert_eq!(
        fetched
            .headers
            .get("x-lienthong-sender")
            .map(String::as_str),
        Some(A)
    );
    let seq = delivery["delivery"].as_i64().expect("delivery seq");
    let ack = server.request("POST", &format!("/v1/inbox/{seq}/ack"), Some(B), None);
    assert_eq!(
        (ack.status, ack.json()["already_acked"].clone()),
        (200, Value::Bool(false))
    );
    let ack = server.request("POST", &format!("/v1/inbox/{seq}/ack"), Some(B), None);
    assert_eq!(ack.json()["already_acked"], true);
    // C cannot acknowledge B's delivery.
    server
        .request("POST", &format!("/v1/inbox/{seq}/ack"), Some(C), None)
        .assert_refused(404, "exchange.not_found");
    assert!(inbox(&server, B, seq).is_empty());

    let seen = server.get(&status_path, A);
    assert_eq!(seen.status, 200, "{}", seen.text());
    assert_eq!(state_of(&seen.json(), B), "delivered");
    assert_eq!(state_of(&seen.json(), C), "submitted");

    // B: 03 straight after delivery, without 01 (many systems never send it): accepted, and
    // the document is at 03; a late 01 then goes backwards.
    let (b_accept_id, _) = accepted(&server.submit(B, &status(B, A, doc, "03", None)));
    let seen = server.get(&status_path, A);
    assert_eq!(state_of(&seen.json(), B), "03");
    server
        .submit(B, &status(B, A, doc, "01", None))
        .assert_refused(409, "exchange.status_order");

    // C: 01, then 02 with a reason; after that the document is final at C.
    accepted(&server.submit(C, &status(C, A, doc, "01", None)));
    accepted(&server.submit(
        C,
        &status(C, A, doc, "02", Some("Không đúng thẩm quyền xử lý")),
    ));
    server
        .submit(C, &status(C, A, doc, "03", None))
        .assert_refused(409, "exchange.status_final");

    // A status from an agency that is not a recipient, and one about no document.
    server
        .submit(D, &status(D, A, doc, "01", None))
        .assert_refused(403, "exchange.not_a_recipient");
    server
        .submit(B, &status(B, A, "no-such-document", "01", None))
        .assert_refused(422, "exchange.unknown_document");
    // A recipient may not take the document back (13 is the sender's).
    server
        .submit(B, &status(B, A, doc, "13", None))
        .assert_refused(403, "exchange.status_not_allowed");

    // A sees every status, in its inbox and in the document's status.
    let a_inbox = inbox(&server, A, 0);
    let reported: Vec<(String, String, String)> = a_inbox
        .iter()
        .map(|d| {
            (
                d["sender"].as_str().unwrap_or_default().to_owned(),
                d["kind"].as_str().unwrap_or_default().to_owned(),
                d["status_code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        reported,
        [
            (B, "status", "03"),
            (C, "status", "01"),
            (C, "status", "02")
        ]
        .map(|(a, k, c)| (a.to_owned(), k.to_owned(), c.to_owned()))
    );
    let document = server.get(&status_path, A).json();
    assert_eq!(state_of(&document, B), "03");
    assert_eq!(state_of(&document, C), "02");
    let history: Vec<(String, String)> = document["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| {
            (
                h["reporter"].as_str().unwrap_or_default().to_owned(),
                h["status_code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [(B, "03"), (C, "01"), (C, "02")].map(|(a, c)| (a.to_owned(), c.to_owned()))
    );
    let reason = &document["history"][2]["description"];
    assert_eq!(reason, "Không đúng thẩm quyền xử lý");
    // The same path with '/' unescaped names the same document.
    let plain = server.get(&format!("/v1/documents/{A}/{doc}/status"), A);
    assert_eq!(plain.json()["document_id"], doc);

    // C may not read B's status packet; A (its recipient) may. C sees only its own state.
    server
        .get(&format!("/v1/packets/{b_accept_id}"), C)
        .assert_refused(404, "exchange.not_found");
    assert_eq!(
        server.get(&format!("/v1/packets/{b_accept_id}"), A).status,
        200
    );
    let c_view = server.get(&status_path, C).json();
    assert_eq!(c_view["recipients"].as_array().map(Vec::len), Some(1));
    assert!(c_view["history"]
        .as_array()
        .expect("history")
        .iter()
        .all(|h| h["reporter"] == C || h["reporter"] == A));
    server
        .get(&status_path, D)
        .assert_refused(404, "exchange.not_found");
    // Receipts are the sender's.
    assert_eq!(
        server.get(&format!("/v1/packets/{id}/receipt"), A).text(),
        receipt
    );
    server
        .get(&format!("/v1/packets/{id}/receipt"), B)
        .assert_refused(404, "exchange.not_found");

    // Updates and take-backs come only from the original sender, for existing documents.
    server
        .submit(B, &revoke_of_others(B, &[C], A, doc))
        .assert_refused(403, "exchange.not_original_sender");
    server
        .submit(
            A,
            &change(
                A,
                &[B],
                BusinessDocType::Update,
                "update-0",
                "no-such-original",
            ),
        )
        .assert_refused(422, "exchange.unknown_document");
    accepted(&server.submit(
        A,
        &change(A, &[B], BusinessDocType::Update, "update-1", doc),
    ));
    let document = server.get(&status_path, A).json();
    let b_row = document["recipients"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["recipient"] == B).cloned())
        .expect("B");
    assert_eq!(
        (b_row["state"].clone(), b_row["pending"].clone()),
        ("03".into(), "update".into())
    );
    accepted(&server.submit(B, &status(B, A, doc, "15", None)));
    // 13: A takes the document back from B (C refused it already: nothing to take back there).
    let (take_back, take_back_receipt) =
        accepted(&server.submit(A, &status(A, A, doc, "13", None)));
    assert!(take_back_receipt.contains(&format!("<Recipient>{B}</Recipient>")));
    assert!(!take_back_receipt.contains(&format!("<Recipient>{C}</Recipient>")));
    assert!(inbox(&server, B, 0)
        .iter()
        .any(|d| d["packet_id"] == take_back.as_str()));
    accepted(&server.submit(B, &status(B, A, doc, "15", None)));
    assert_eq!(
        state_of(&server.get(&status_path, A).json(), B),
        "withdrawn"
    );

    // The counters saw it all.
    let metrics = server.request("GET", "/metrics", None, None).text();
    assert!(
        metrics.contains("lienthong_packets_refused_total{code=\"exchange.duplicate_document\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lienthong_packets_replayed_total 1"),
        "{metrics}"
    );
}

#[test]
fn the_scenario_on_sqlite() {
    scenario(Engine::Sqlite);
}

#[test]
fn the_scenario_on_postgres() {
    scenario(Engine::Postgres);
}

#[test]
fn authentication_is_required_and_checked() {
    let server = Server::start(Engine::Sqlite);
    server
        .request("GET", "/v1/inbox", None, None)
        .assert_refused(401, "auth.required");
    let (system_id, _) = server.credential(A);
    let wrong = server.send(
        "GET",
        "/v1/inbox",
        None,
        &[
            ("X-Lienthong-System", &system_id),
            ("X-Lienthong-Secret", "not-the-secret"),
        ],
        None,
    );
    wrong.assert_refused(401, "auth.invalid");
    assert_eq!(
        wrong.headers.get("www-authenticate").map(String::as_str),
        Some(r#"Basic realm="lienthong""#)
    );
    let (_, secret) = server.credential(A);
    let right = server.send(
        "GET",
        "/v1/inbox",
        None,
        &[
            ("X-Lienthong-System", &system_id),
            ("X-Lienthong-Secret", &secret),
        ],
        None,
    );
    assert_eq!(right.status, 200, "{}", right.text());

    // A credential made with the CLI works at once; revoked, it stops working within a second.
    let made = server.cli(&[
        "agency",
        "credential",
        "create",
        D,
        "--system-id",
        "h08-docs",
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let created: Value = serde_json::from_slice(&made.stdout).expect("JSON");
    assert_eq!(created["agency"], D);
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let headers = [
        ("X-Lienthong-System", "h08-docs"),
        ("X-Lienthong-Secret", secret.as_str()),
    ];
    assert_eq!(
        server
            .send("GET", "/v1/agencies", None, &headers, None)
            .status,
        200
    );
    let revoked = server.cli(&["agency", "credential", "revoke", "h08-docs"]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    // Revoked by another process: the server reads the row again within a second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    server
        .send("GET", "/v1/agencies", None, &headers, None)
        .assert_refused(401, "auth.invalid");
}

#[test]
fn limits_routes_and_operational_endpoints() {
    let server = Server::start(Engine::Sqlite);
    let huge = vec![b'<'; common_server::MAX_PACKET_BYTES as usize + 1];
    server
        .submit(A, &huge)
        .assert_refused(413, "limits.too_large");
    server
        .submit(A, b"<edXML><unclosed>")
        .assert_refused(400, "edxml.malformed");
    server
        .request("GET", "/v1/nowhere", Some(A), None)
        .assert_refused(404, "http.not_found");
    server
        .request("GET", "/v1/inbox?after=soon", Some(A), None)
        .assert_refused(400, "http.bad_request");
    server
        .request("POST", "/v1/inbox/12x/ack", Some(A), None)
        .assert_refused(400, "http.bad_request");
    assert_eq!(server.request("GET", "/healthz", None, None).status, 200);
    assert_eq!(
        server.request("GET", "/readyz", None, None).json()["status"],
        "ready"
    );

    let agencies = server.get("/v1/agencies", A).json();
    let codes: Vec<&str> = agencies
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|a| a["code"].as_str())
        .collect();
    assert_eq!(codes, [A, D, B, C]);
    let unit = server.get(&format!("/v1/agencies/{C}"), A).json();
    assert_eq!(unit["parent"], B);
    assert_eq!(unit["certificates"][0]["sha256"], key_of(C).fingerprint());
    server
        .get("/v1/agencies/000.00.00.H99", A)
        .assert_refused(404, "directory.unknown_agency");
    // A subtree, and page sizes out of range refused rather than changed.
    let under = server.get("/v1/agencies?under=000.00.00.H49", A).json();
    let under: Vec<&str> = under
        .as_array()
        .expect("array")
        .iter()
        .map(|a| a["code"].as_str().expect("code"))
        .collect();
    assert_eq!(under, [C]);
    for path in [
        "/v1/agencies?limit=0",
        "/v1/agencies?limit=1001",
        "/v1/inbox?limit=0",
    ] {
        server.get(path, A).assert_refused(400, "http.bad_request");
    }

    // The OpenAPI description lists exactly the routes, and docs/API.md names each.
    let openapi = server.request("GET", "/v1/openapi.json", None, None).json();
    let mut described: Vec<(String, String)> = Vec::new();
    for (path, operations) in openapi["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            described.push((method.clone(), path.clone()));
        }
    }
    described.sort();
    let mut routes: Vec<(String, String)> = lienthong::http::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    routes.sort();
    assert_eq!(described, routes);
    let api_doc = common::read_text(&common::root().join("docs/API.md"));
    for (method, path) in &routes {
        let line = format!("{} {path}", method.to_uppercase());
        assert!(
            api_doc.contains(&line),
            "docs/API.md does not describe {line}"
        );
    }
}

/// Fields the exchange copies into its rows have documented maxima, whatever the packet's size.
#[test]
fn an_oversized_subject_is_refused_and_one_at_the_maximum_accepted() {
    let server = Server::start(Engine::Sqlite);
    let at_limit = "Đ".repeat(lienthong::exchange::MAX_SUBJECT_BYTES / 2);
    accepted(&server.submit(A, &letter(A, &[B], &at_limit, "subject-at-limit")));
    let over = format!("{at_limit}x");
    let reply = server.submit(A, &letter(A, &[B], &over, "subject-over-limit"));
    reply.assert_refused(400, "limits.field_too_large");
    assert!(reply.text().contains("Subject"), "{}", reply.text());
}

/// The served description is valid OpenAPI 3.1 for an independent validator
/// (`openapi-spec-validator`, from PyPI: `.ci/run` installs it into a venv and names it in
/// LIENTHONG_TEST_OPENAPI_VALIDATOR; otherwise it must be on PATH).
#[test]
fn the_openapi_description_is_valid_openapi_3_1() {
    let server = Server::start(Engine::Sqlite);
    let served = server.request("GET", "/v1/openapi.json", None, None);
    assert_eq!(served.status, 200);
    assert_eq!(served.json()["openapi"], "3.1.0");
    let dir = common::work_dir();
    let path = dir.path().join("openapi.json");
    common::write(&path, &served.body);
    let validator = std::env::var("LIENTHONG_TEST_OPENAPI_VALIDATOR")
        .unwrap_or_else(|_| "openapi-spec-validator".to_owned());
    let output = std::process::Command::new(&validator)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{validator} cannot be run ({e}); install it: python3 -m venv v && \
                 v/bin/pip install openapi-spec-validator, then set \
                 LIENTHONG_TEST_OPENAPI_VALIDATOR=v/bin/openapi-spec-validator"
            )
        });
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // A description the validator must refuse, so that a validator that accepts anything fails.
    common::write(
        &path,
        br#"{"openapi": "3.1.0", "paths": {"/x": {"get": {"responses": 5}}}}"#,
    );
    let refused = std::process::Command::new(&validator)
        .arg(&path)
        .output()
        .expect("validator");
    assert!(
        !refused.status.success(),
        "the validator accepted a broken description"
    );
}

#[test]
fn a_receipt_verifies_with_xmlsec1() {
    let server = Server::start(Engine::Sqlite);
    let (_, receipt) = accepted(&server.submit(A, &letter(A, &[B], "Biên nhận", "receipt-1")));
    assert!(receipt.contains("urn:lienthong:receipt:1"));
    let dir = common::work_dir();
    let path = dir.path().join("receipt.xml");
    common::write(&path, &receipt);
    common::assert_xmlsec1_accepts(&path);
    let forged = dir.path().join("forged.xml");
    common::write(
        &forged,
        receipt.replace(&format!("<Recipient>{B}"), &format!("<Recipient>{C}")),
    );
    common::assert_xmlsec1_refuses(&forged);
}

/// A throw-away server certificate for 127.0.0.1 (the dev PKI has none).
fn server_tls_material(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("curve");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_nid(Nid::COMMONNAME, "127.0.0.1")
        .expect("cn");
    let name = name.build();
    let mut builder = X509Builder::new().expect("builder");
    builder.set_version(2).expect("v3");
    builder.set_subject_name(&name).expect("subject");
    builder.set_issuer_name(&name).expect("issuer");
    builder.set_pubkey(&key).expect("pubkey");
    builder
        .set_not_before(&Asn1Time::days_from_now(0).expect("now"))
        .expect("nb");
    builder
        .set_not_after(&Asn1Time::days_from_now(2).expect("later"))
        .expect("na");
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&builder.x509v3_context(None, None))
        .expect("san");
    builder.append_extension(san).expect("ext");
    builder.sign(&key, MessageDigest::sha256()).expect("sign");
    let cert = builder.build();
    let cert_path = dir.join("server.pem");
    let key_path = dir.join("server.key.pem");
    common::write(&cert_path, cert.to_pem().expect("pem"));
    common::write(&key_path, key.private_key_to_pem_pkcs8().expect("pem"));
    (cert_path, key_path)
}

/// GET `path` over TLS presenting `client` (a dev key pair, with the intermediates), or no
/// certificate; returns the status and body.
fn tls_get(base: &str, path: &str, client: Option<DevKey>) -> Result<(u16, String), String> {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("https://");
    let mut connector = SslConnector::builder(SslMethod::tls()).map_err(|e| e.to_string())?;
    // The server's certificate is a throw-away one: only the client side is under test.
    connector.set_verify(SslVerifyMode::NONE);
    if let Some(key) = client {
        connector
            .set_certificate_file(key.cert(), openssl::ssl::SslFiletype::PEM)
            .map_err(|e| e.to_string())?;
        connector
            .set_private_key_file(key.key(), openssl::ssl::SslFiletype::PEM)
            .map_err(|e| e.to_string())?;
        for cert in X509::stack_from_pem(&common::read(&common::dev("intermediates.pem")))
            .map_err(|e| e.to_string())?
        {
            connector
                .add_extra_chain_cert(cert)
                .map_err(|e| e.to_string())?;
        }
    }
    let tcp = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let mut tls = connector
        .build()
        .connect("127.0.0.1", tcp)
        .map_err(|e| format!("handshake: {e}"))?;
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    // A server that closes without close_notify still gave us its answer.
    let _ = tls.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP status in {text:?}"))?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Ok((status, body))
}

#[test]
fn client_certificates_authenticate_agencies_on_the_tls_port() {
    let dir = common::work_dir();
    let (cert, key) = server_tls_material(dir.path());
    let cert = cert.display().to_string();
    let key = key.display().to_string();
    let server = Server::start_with(
        Engine::Sqlite,
        &[
            ("LIENTHONG_TLS_BIND", "127.0.0.1:0"),
            ("LIENTHONG_TLS_CERT", &cert),
            ("LIENTHONG_TLS_KEY", &key),
        ],
    );
    let base = server.tls_base.clone().expect("an https listener");

    // B's certificate is B: it sees its (empty) inbox and A's document once sent.
    let (status, body) = tls_get(&base, "/v1/inbox", Some(key_of(B))).expect("B over TLS");
    assert_eq!(status, 200, "{body}");
    accepted(&server.submit(A, &letter(A, &[B], "Qua mTLS", "mtls-1")));
    let (_, body) = tls_get(&base, "/v1/inbox", Some(key_of(B))).expect("B over TLS");
    let inbox: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(inbox["deliveries"][0]["sender"], A, "{body}");

    // A revoked certificate passes the handshake (no CRLs there) but not the PKI check.
    let (status, body) =
        tls_get(&base, "/v1/inbox", Some(DevKey("bad-revoked"))).expect("revoked over TLS");
    assert_eq!(status, 401, "{body}");
    assert!(
        body.contains("auth.certificate") && body.contains("pki.revoked"),
        "{body}"
    );
    // Without a certificate the TLS port falls back to system id + secret.
    let (status, body) = tls_get(&base, "/v1/inbox", None).expect("no certificate");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("auth.required"), "{body}");
    // A certificate from another PKI does not even complete the handshake.
    let foreign = DevKey("bad-foreign-leaf");
    let outcome = tls_get(&base, "/v1/inbox", Some(foreign));
    assert!(
        outcome.as_ref().map_or(true, |(status, _)| *status == 401),
        "{outcome:?}"
    );
}

#[test]
fn concurrent_submissions_are_each_answered_once_and_one_document_id_wins() {
    let server = Server::start(Engine::Sqlite);
    let mut packets: Vec<Vec<u8>> = (0..16)
        .map(|i| {
            letter(
                A,
                &[B, C, D],
                &format!("Văn bản số {i}"),
                &format!("load-{i}"),
            )
        })
        .collect();
    // Two different packets under one DocumentId, and one packet sent twice.
    packets.push(letter(A, &[B], "Bản thứ nhất", "contested"));
    packets.push(letter(A, &[B], "Bản thứ hai", "contested"));
    packets.push(packets[0].clone());
    let server = &server;
    let replies: Vec<common_server::Reply> = std::thread::scope(|scope| {
        let handles: Vec<_> = packets
            .iter()
            .map(|p| scope.spawn(move || server.submit(A, p)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("request thread"))
            .collect()
    });
    for reply in &replies[..16] {
        assert_eq!(reply.status, 202, "{}", reply.text());
    }
    let contested: Vec<u16> = replies[16..18].iter().map(|r| r.status).collect();
    assert!(
        contested == [202, 409] || contested == [409, 202],
        "{contested:?}"
    );
    assert_eq!(replies[18].json()["id"], replies[0].json()["id"]);
    // Every accepted message reached every recipient exactly once.
    for recipient in [C, D] {
        let got = server.get("/v1/inbox?limit=1000", recipient).json();
        assert_eq!(
            got["deliveries"].as_array().map(Vec::len),
            Some(16),
            "{recipient}"
        );
    }
    let b = server.get("/v1/inbox?limit=1000", B).json();
    assert_eq!(b["deliveries"].as_array().map(Vec::len), Some(17));
}

#[test]
fn packets_stream_whole_answer_304_to_their_etag_and_a_damaged_blob_never_arrives_whole() {
    use base64::Engine as _;
    for engine in [Engine::Sqlite, Engine::Postgres] {
        let server = Server::start_with(engine, &[("LIENTHONG_MAX_PACKET_BYTES", "4194304")]);
        let basic = |agency: &str| {
            let (id, secret) = server.credential(agency);
            let pair = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            format!("Basic {pair}")
        };
        // ~1 MiB once in base64: kept in the blob store, not in its row.
        let mut large = letter_packet(A, &[B], "Báo cáo kèm phụ lục", "stream-large");
        let noise: Vec<u8> = (0u32..768 * 1024)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        large.attach("phu-luc.pdf", "application/pdf", noise);
        let large = common::sign_bytes(&edxml::write(&large.into()).expect("write"), key_of(A));
        let small = letter(A, &[B], "Công văn ngắn", "stream-small");
        assert!(large.len() > 1_000_000 && small.len() < 65_536);
        let (large_id, _) = accepted(&server.submit(A, &large));
        let (small_id, _) = accepted(&server.submit(A, &small));

        for (id, bytes) in [(&large_id, &large), (&small_id, &small)] {
            let path = format!("/v1/packets/{id}");
            let what = format!("{engine:?} {} bytes", bytes.len());
            let etag = format!("\"{}\"", hex::encode(openssl::sha::sha256(bytes)));
            let got = server.get(&path, B);
            assert_eq!(got.status, 200, "{what}: {}", got.text());
            assert!(got.body == *bytes, "{what}: other bytes than submitted");
            assert_eq!(got.headers["content-length"], bytes.len().to_string());
            assert_eq!(got.headers["etag"], etag, "{what}");
            assert!(got.headers["content-type"].starts_with("application/xml"));
            assert_eq!(server.get(&path, A).body.len(), bytes.len(), "{what}");

            let conditional = |agency: &str, held: &str| {
                server.send(
                    "GET",
                    &path,
                    Some(&basic(agency)),
                    &[("If-None-Match", held)],
                    None,
                )
            };
            for held in [etag.clone(), format!("\"00\", W/{etag}"), "*".to_owned()] {
                let unchanged = conditional(B, &held);
                assert_eq!(unchanged.status, 304, "{what}, If-None-Match {held}");
                assert!(unchanged.body.is_empty());
                assert_eq!(unchanged.headers["etag"], etag);
            }
            let stale = conditional(B, "\"0123\"");
            assert_eq!(stale.status, 200, "{what}");
            assert!(stale.body == *bytes, "{what}: other bytes than submitted");

            // Not theirs: not found, whether or not they name the ETag.
            server
                .get(&path, D)
                .assert_refused(404, "exchange.not_found");
            conditional(D, &etag).assert_refused(404, "exchange.not_found");
        }

        // One byte of the blob flipped on disk: the body must not arrive whole.
        let sha = hex::encode(openssl::sha::sha256(&large));
        let blob = server
            .data_path()
            .join("blobs/sha256")
            .join(&sha[..2])
            .join(&sha[2..]);
        let mut on_disk = std::fs::read(&blob).expect("the large packet's blob");
        assert!(
            on_disk == large,
            "the blob holds other bytes than submitted"
        );
        let middle = on_disk.len() / 2;
        on_disk[middle] ^= 0x01;
        std::fs::write(&blob, &on_disk).expect("damage the blob");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .build()
            .into();
        let mut response = agent
            .get(format!("{}/v1/packets/{large_id}", server.base))
            .header("Authorization", basic(B))
            .call()
            .expect("GET the damaged packet");
        assert_eq!(response.status().as_u16(), 200);
        let announced: usize = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("a Content-Length");
        assert_eq!(announced, large.len());
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec();
        match body {
            Err(_) => {}
            Ok(got) => assert!(
                got.len() < announced,
                "{engine:?}: a damaged blob arrived as a complete body of {} bytes",
                got.len()
            ),
        }
        // The server goes on answering.
        let small_again = server.get(&format!("/v1/packets/{small_id}"), B);
        assert!(small_again.body == small, "{engine:?}");
    }
}
