//! The audit log through the real server and binary (docs/AUDIT.md): accepted letters become
//! events whose receipts name them; checkpoints verify with openssl; the inclusion and
//! consistency proofs the API gives are checked by `tests/tools/rfc9162.py`, written from
//! RFC 9162 alone, over the events' bytes read with `sqlite3`; and `lienthong audit verify`
//! names the event that was changed, deleted or moved with `sqlite3`.

mod common;
mod common_endpoint;
mod common_pg;
mod common_server;

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use common_server::{wait_until, Engine, Server};

const G22: &str = "000.00.00.G22";
const H49: &str = "000.00.00.H49";
const H08: &str = "000.00.00.H08";

/// A server that signs a checkpoint a second after the log grew.
fn start() -> Server {
    start_on(Engine::Sqlite)
}

fn start_on(engine: Engine) -> Server {
    Server::start_with(engine, &[("LIENTHONG_AUDIT_CHECKPOINT_SECONDS", "1")])
}

/// Submits `count` letters from G22 to H49; answers (packet id, event number, receipt).
fn submit_letters(server: &Server, count: usize) -> Vec<(String, i64, String)> {
    (0..count)
        .map(|n| {
            let id = server.submit_accepted(
                G22,
                &common::g22_letter(H49, &format!("G22,2026/12/05,{}/BTN-VP", 300 + n)),
            );
            let receipt = server.get(&format!("/v1/packets/{id}/receipt"), G22).text();
            let number = receipt
                .split_once("<LogEvent>")
                .and_then(|(_, rest)| rest.split_once("</LogEvent>"))
                .and_then(|(n, _)| n.parse().ok())
                .unwrap_or_else(|| panic!("the receipt names no event: {receipt}"));
            (id, number, receipt)
        })
        .collect()
}

/// How many events the server logged before the test's own: dev mode's start imports the demo
/// directory and makes its credentials, each an event. Read once they are all placed (the
/// two numbers of /metrics are read one after the other, so only then do they add up).
fn seeded(server: &Server) -> u64 {
    let mut placed = 0.0;
    wait_until("the start's events are placed", || {
        placed = server.metric("lienthong_audit_events{state=\"placed\"}");
        server.metric("lienthong_audit_events{state=\"waiting\"}") == 0.0
            && server.metric("lienthong_audit_events{state=\"placed\"}") == placed
    });
    placed as u64
}

/// The latest checkpoint once it covers `size` events: (note, size, root).
fn checkpoint_of_at_least(server: &Server, size: u64) -> (String, u64, Vec<u8>) {
    let mut found = None;
    wait_until("a checkpoint covers the letters", || {
        let reply = server.get("/v1/audit/checkpoints/latest", G22);
        if reply.status != 200 {
            return false;
        }
        let note = reply.text();
        let mut lines = note.lines();
        let _origin = lines.next();
        let signed: u64 = lines.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let root = lines
            .next()
            .and_then(|r| STANDARD.decode(r).ok())
            .unwrap_or_default();
        let ok = signed >= size;
        found = Some((note, signed, root));
        ok
    });
    found.expect("a checkpoint")
}

fn sqlite_path(server: &Server) -> std::path::PathBuf {
    server.data_path().join("lienthong.db")
}

/// `sqlite3 DB SQL` (Debian's command line tool), its output.
fn sqlite3(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("sqlite3 runs");
    assert!(
        out.status.success(),
        "sqlite3 {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Verifies a signed note's one Ed25519 signature with `openssl pkeyutl`, from the verifier
/// key text alone (C2SP signed-note: `NAME+ID+KEY`, the key 0x01 ‖ 32 bytes; signature =
/// base64 after the name, 4 bytes of key id first).
fn openssl_verifies_note(dir: &Path, vkey: &str, note: &str) -> bool {
    let key = STANDARD
        .decode(vkey.trim().splitn(3, '+').nth(2).expect("key"))
        .expect("base64");
    assert_eq!((key.len(), key[0]), (33, 1), "an Ed25519 vkey");
    let mut der = hex::decode("302a300506032b6570032100").expect("hex");
    der.extend_from_slice(&key[1..]);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(&der)
    );
    let (text, signatures) = note.rsplit_once("\n\n").expect("a blank line");
    let line = signatures.lines().next().expect("a signature line");
    let signature = STANDARD
        .decode(line.rsplit(' ').next().expect("base64"))
        .expect("base64");
    let (pem_path, msg, sig) = (dir.join("pub.pem"), dir.join("msg"), dir.join("sig"));
    std::fs::write(&pem_path, pem).expect("write");
    std::fs::write(&msg, format!("{text}\n")).expect("write");
    std::fs::write(&sig, &signature[4..]).expect("write");
    Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
        .arg(&pem_path)
        .arg("-in")
        .arg(&msg)
        .arg("-sigfile")
        .arg(&sig)
        .output()
        .expect("openssl runs")
        .status
        .success()
}

fn b64_to_hex(values: &Value) -> Vec<String> {
    values
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| hex::encode(STANDARD.decode(v.as_str().expect("text")).expect("base64")))
        .collect()
}

#[test]
fn accepted_letters_are_logged_and_their_proofs_check_with_an_independent_implementation() {
    let server = start();
    let base = seeded(&server);
    let letters = submit_letters(&server, 5);
    let (note, size, root) = checkpoint_of_at_least(&server, base + 5);
    assert!(server.metric("lienthong_audit_checkpoint_size") >= (base + 5) as f64);
    assert_eq!(seeded(&server), base + 5);

    // The checkpoint verifies with openssl from the published key alone.
    let key = server.request("GET", "/v1/audit/key", None, None);
    assert_eq!(key.status, 200);
    let dir = common::work_dir();
    assert!(
        openssl_verifies_note(dir.path(), &key.text(), &note),
        "{note}"
    );
    let bent = note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 1), 1);
    assert!(!openssl_verifies_note(dir.path(), &key.text(), &bent));

    let mut inclusion = Vec::new();
    for (id, number, receipt) in &letters {
        let path = format!("/v1/audit/proof/inclusion?event={number}&size={size}");
        let proof = server.get(&path, G22).json();
        // The event is the acceptance of this packet, with this receipt.
        let text = proof["event_text"].as_str().expect("event text");
        let receipt_sha256 = hex::encode(openssl::sha::sha256(receipt.as_bytes()));
        assert!(text.contains(&format!("\npacket {id}\n")), "{text}");
        assert!(
            text.contains(&format!("\nreceipt-sha256 {receipt_sha256}\n")),
            "{text}"
        );
        assert!(text.contains("\nkind packet.accepted\n"), "{text}");
        assert_eq!(proof["checkpoint"].as_str(), Some(note.as_str()));
        // The recipient may ask too; an agency the letter has nothing to do with may not.
        assert_eq!(server.get(&path, H49).status, 200);
        server
            .get(&path, H08)
            .assert_refused(404, "audit.not_found");
        inclusion.push(json!({
            "index": proof["leaf_index"],
            "size": size,
            "proof": b64_to_hex(&proof["inclusion_path"]),
        }));
    }
    let consistency = server
        .get(
            &format!("/v1/audit/proof/consistency?from=3&to={size}"),
            G22,
        )
        .json();
    // The events' bytes as the database holds them, read without lienthong.
    let leaves: Vec<String> = sqlite3(
        &sqlite_path(&server),
        &format!("SELECT hex(body) FROM audit_events WHERE leaf < {size} ORDER BY leaf"),
    )
    .lines()
    .map(str::to_lowercase)
    .collect();
    assert_eq!(leaves.len() as u64, size);
    let cases = json!({
        "leaves": leaves,
        "roots": { size.to_string(): hex::encode(&root) },
        "inclusion": inclusion,
        "consistency": [{
            "first": 3,
            "second": size,
            "proof": b64_to_hex(&consistency["consistency_path"]),
        }],
    });
    let file = dir.path().join("cases.json");
    std::fs::write(&file, cases.to_string()).expect("write");
    let said = rfc9162(&[file.as_os_str()]);
    assert!(said.starts_with("ok "), "{said}");

    // A size past the log's end, or an event nobody logged, are clear refusals.
    server
        .get("/v1/audit/proof/consistency?from=1&to=999999", G22)
        .assert_refused(400, "audit.bad_range");
    server
        .get("/v1/audit/proof/inclusion?event=999999", G22)
        .assert_refused(404, "audit.not_found");
}

/// What `tests/tools/rfc9162.py ARGS` says; panics when it fails.
fn rfc9162(args: &[&std::ffi::OsStr]) -> String {
    let python = std::env::var("LIENTHONG_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let out = Command::new(python)
        .arg(common::root().join("tests/tools/rfc9162.py"))
        .args(args)
        .output()
        .expect("python runs");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "rfc9162.py: {said}");
    said
}

/// Once a checkpoint covers `events`, stops the server; answers its database and the text of
/// its events of `kind`.
fn stopped_with_events_of(
    server: &mut Server,
    events: u64,
    kind: &str,
) -> (std::path::PathBuf, String) {
    checkpoint_of_at_least(server, events);
    server.stop();
    let db = sqlite_path(server);
    let text = sqlite3(
        &db,
        &format!("SELECT CAST(body AS TEXT) FROM audit_events WHERE kind = '{kind}'"),
    );
    (db, text)
}

/// Copies the stopped server's database (with its write-ahead log) into `dir`.
fn copy_database(server: &Server, dir: &Path) -> std::path::PathBuf {
    let db = sqlite_path(server);
    for suffix in ["", "-wal", "-shm"] {
        let from = Path::new(&format!("{}{suffix}", db.display())).to_path_buf();
        if from.exists() {
            std::fs::copy(&from, dir.join(format!("lienthong.db{suffix}"))).expect("copy");
        }
    }
    dir.join("lienthong.db")
}

/// `lienthong audit verify` on `db`, with the server's key (in its data directory).
fn verify(server: &Server, db: &Path) -> (bool, String) {
    audit_cli(server, db, &["verify"])
}

#[test]
fn audit_verify_names_the_event_that_was_changed_deleted_or_moved() {
    let mut server = start();
    let base = seeded(&server);
    let letters = submit_letters(&server, 6);
    // H49's system takes the first letter by pull: a seventh event.
    let inbox = server.get("/v1/inbox", H49).json();
    let delivery = inbox["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|d| d["packet_id"].as_str() == Some(letters[0].0.as_str()))
        .and_then(|d| d["delivery"].as_i64())
        .expect("the first letter in H49's inbox");
    server.ack(H49, delivery);
    checkpoint_of_at_least(&server, base + 7);
    server.stop();
    let (whole, said) = verify(&server, &sqlite_path(&server));
    assert!(
        whole && said.contains(&format!("the log is whole: {} events", base + 7)),
        "{said}"
    );

    let event = letters[2].1;
    let leaf_of = |db: &Path, seq: i64| -> i64 {
        sqlite3(
            db,
            &format!("SELECT leaf FROM audit_events WHERE seq = {seq}"),
        )
        .trim()
        .parse()
        .expect("a leaf")
    };
    let tampered = |sql: &str| {
        let dir = common::work_dir();
        let db = copy_database(&server, dir.path());
        let leaf = leaf_of(&db, event);
        sqlite3(&db, sql);
        let (whole, said) = verify(&server, &db);
        assert!(!whole, "{sql}: {said}");
        assert!(said.contains("error[audit.mismatch]"), "{sql}: {said}");
        (leaf, said)
    };

    // One byte of the event changed: the letter's number.
    let (leaf, said) = tampered(&format!(
        "UPDATE audit_events SET body = CAST(replace(CAST(body AS TEXT), ',302/BTN', ',392/BTN') \
         AS BLOB) WHERE seq = {event}"
    ));
    assert!(
        said.contains(&format!(
            "event {event} (leaf {leaf}): its bytes do not hash"
        )),
        "{said}"
    );
    // The event deleted.
    let (leaf, said) = tampered(&format!("DELETE FROM audit_events WHERE seq = {event}"));
    assert!(
        said.contains(&format!("leaf {leaf}: no event holds this leaf")),
        "{said}"
    );
    // Two events swapped in the tree's order.
    let next = letters[3].1;
    let db = sqlite_path(&server);
    let (here, there) = (leaf_of(&db, event), leaf_of(&db, next));
    let (_, said) = tampered(&format!(
        "UPDATE audit_events SET leaf = -1 WHERE seq = {event}; \
         UPDATE audit_events SET leaf = {here} WHERE seq = {next}; \
         UPDATE audit_events SET leaf = {there} WHERE seq = {event};"
    ));
    assert!(
        said.contains(&format!(
            "event {next} (leaf {here}): its bytes do not hash"
        )),
        "{said}"
    );
    // The event's number in its row changed.
    let (leaf, said) = tampered(&format!(
        "UPDATE audit_events SET seq = seq + 100000 WHERE seq = {event}"
    ));
    assert!(
        said.contains(&format!("(leaf {leaf}): its row says seq")),
        "{said}"
    );
    // The rows an event describes, changed after the fact: the acknowledgement's time, and
    // the accepted packet's size.
    let db = sqlite_path(&server);
    let ack_event: i64 = sqlite3(
        &db,
        "SELECT seq FROM audit_events WHERE kind = 'delivery.acknowledged'",
    )
    .trim()
    .parse()
    .expect("the acknowledgement's event");
    let (_, said) = tampered(&format!(
        "UPDATE deliveries SET acked_at = acked_at + 3600000000 WHERE seq = {delivery}"
    ));
    assert!(
        said.contains(&format!("event {ack_event} ("))
            && said.contains(&format!("delivery {delivery} says it was taken pull at")),
        "{said}"
    );
    let (leaf, said) = tampered(&format!(
        "UPDATE packets SET size = size + 1 WHERE id = '{}'",
        letters[2].0
    ));
    assert!(
        said.contains(&format!(
            "event {event} (leaf {leaf}): packet {} says size",
            letters[2].0
        )),
        "{said}"
    );
    // Bytes and recorded leaf hash changed together: the signed root no longer matches.
    let (_, said) = tampered(&format!(
        "UPDATE audit_events SET body = CAST('forged' AS BLOB) WHERE seq = {event}; \
         UPDATE audit_nodes SET hash = (SELECT hash FROM audit_nodes WHERE level = 0 AND idx = 0) \
         WHERE level = 0 AND idx = (SELECT leaf FROM audit_events WHERE seq = {event})"
    ));
    assert!(said.contains("audit.mismatch"), "{said}");
}

/// `lienthong audit ARGS` with the server's data directory (its log key) and `db`.
fn audit_cli(server: &Server, db: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .arg("audit")
        .args(args)
        .arg("--database-url")
        .arg(format!("sqlite://{}?mode=rw", db.display()))
        .env("LIENTHONG_DATA_DIR", server.data_path())
        .output()
        .expect("lienthong runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// `lienthong audit verify --bundle FILE [--vkey KEY]`, with no database and no data folder.
fn verify_bundle(bundle: &Path, vkey: Option<&str>) -> (bool, String) {
    let empty = common::work_dir();
    let mut command = Command::new(env!("CARGO_BIN_EXE_lienthong"));
    command
        .current_dir(empty.path())
        .env_remove("LIENTHONG_DATABASE_URL")
        .env_remove("LIENTHONG_DATA_DIR")
        .args(["audit", "verify", "--bundle"])
        .arg(bundle);
    if let Some(vkey) = vkey {
        command.args(["--vkey", vkey]);
    }
    let out = command.output().expect("lienthong runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn an_export_made_before_tampering_proves_offline_what_the_log_had_signed() {
    let mut server = start();
    let base = seeded(&server);
    let vkey = server.get("/v1/audit/key", G22).text();
    let letters = submit_letters(&server, 4);
    checkpoint_of_at_least(&server, base + 4);
    server.stop();
    let db = sqlite_path(&server);
    let dir = common::work_dir();
    let bundle = dir.path().join("export.jsonl");
    let all = ["--from", "2000-01-01", "--to", "2100-12-31"];
    let mut args = vec!["export"];
    args.extend(all);
    args.extend(["--out", bundle.to_str().expect("utf-8")]);
    let (made, said) = audit_cli(&server, &db, &args);
    assert!(
        made && said.contains(&format!("exported {} events", base + 4)),
        "{said}"
    );

    // Offline, with the published key: whole; the same proofs check with the RFC's algorithm
    // in Python, and the checkpoint's signature with openssl.
    let (whole, said) = verify_bundle(&bundle, Some(vkey.trim()));
    assert!(
        whole && said.contains(&format!("the bundle is whole: {} events", base + 4)),
        "{said}"
    );
    assert!(
        !said.contains("note: checked with the key the bundle names"),
        "{said}"
    );
    assert_eq!(
        rfc9162(&["--bundle".as_ref(), bundle.as_os_str()]).trim(),
        format!("ok {}", base + 4)
    );
    let text = std::fs::read_to_string(&bundle).expect("the bundle");
    let header: Value = serde_json::from_str(text.lines().next().expect("a header")).expect("json");
    assert!(openssl_verifies_note(
        dir.path(),
        &vkey,
        header["checkpoint"].as_str().expect("note")
    ));
    // Without --vkey it says whose key it trusted.
    let (whole, said) = verify_bundle(&bundle, None);
    assert!(
        whole && said.contains("note: checked with the key the bundle names"),
        "{said}"
    );

    // Scopes and periods: the recipient's subtree has all four; an agency with no letters,
    // and a period before them, none.
    for (extra, count) in [
        (vec!["--agency", H49], 4),
        (vec!["--agency", H08], 0),
        (vec!["--from", "2001-01-01", "--to", "2001-01-31"], 0),
    ] {
        let out = dir.path().join(format!("part-{count}-{}.jsonl", extra[1]));
        let mut args = vec!["export"];
        if extra[0] == "--agency" {
            args.extend(all);
        }
        args.extend(extra.iter().copied());
        args.extend(["--out", out.to_str().expect("utf-8")]);
        let (made, said) = audit_cli(&server, &db, &args);
        assert!(
            made && said.contains(&format!("exported {count} events")),
            "{args:?}: {said}"
        );
        let (whole, said) = verify_bundle(&out, Some(vkey.trim()));
        assert!(whole, "{said}");
    }

    // Someone with database access rewrites the second letter's event and its leaf hash.
    let event = letters[1].1;
    sqlite3(
        &db,
        &format!(
            "UPDATE audit_events SET body = CAST(replace(CAST(body AS TEXT), ',301/BTN', \
             ',391/BTN') AS BLOB) WHERE seq = {event}"
        ),
    );
    let (whole, said) = verify(&server, &db);
    assert!(
        !whole && said.contains(&format!("event {event} (leaf")),
        "{said}"
    );
    // The export made before still verifies, and holds what the log signed.
    let (whole, said) = verify_bundle(&bundle, Some(vkey.trim()));
    assert!(whole, "{said}");
    let signed = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .find(|e| e["event"].as_i64() == Some(event))
        .expect("the event in the bundle");
    assert!(
        signed["text"].as_str().expect("text").contains(",301/BTN"),
        "{signed}"
    );
    let now = sqlite3(
        &db,
        &format!("SELECT CAST(body AS TEXT) FROM audit_events WHERE seq = {event}"),
    );
    assert!(now.contains(",391/BTN"), "{now}");
    // An export of the changed log is refused rather than written.
    let refused = dir.path().join("after.jsonl");
    let mut args = vec!["export"];
    args.extend(all);
    args.extend(["--out", refused.to_str().expect("utf-8")]);
    let (made, said) = audit_cli(&server, &db, &args);
    assert!(
        !made && said.contains("audit.mismatch") && said.contains(&format!("event {event}")),
        "{said}"
    );
    assert!(!refused.exists());

    // The bundle itself changed: the event named; a line removed; another log's key.
    let forged = dir.path().join("forged.jsonl");
    std::fs::write(&forged, text.replace(",301/BTN", ",391/BTN")).expect("write");
    let (whole, said) = verify_bundle(&forged, Some(vkey.trim()));
    assert!(
        !whole
            && said.contains("error[audit.mismatch]")
            && said.contains(&format!("event {event} (leaf"))
            && said.contains("not those the log signed"),
        "{said}"
    );
    let cut: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains(&format!("\"event\":{event},")))
        .collect();
    std::fs::write(&forged, cut.join("\n") + "\n").expect("write");
    let (whole, said) = verify_bundle(&forged, Some(vkey.trim()));
    assert!(!whole && said.contains("cut short"), "{said}");
    let other = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["audit", "keygen", "--origin", "other.example/log", "--out"])
        .arg(dir.path().join("other.key"))
        .output()
        .expect("keygen");
    let other = String::from_utf8_lossy(&other.stdout).trim().to_owned();
    let (whole, said) = verify_bundle(&bundle, Some(&other));
    assert!(
        !whole && said.contains("not signed by other.example/log"),
        "{said}"
    );
}

#[test]
fn a_push_the_endpoint_took_is_logged_and_the_log_verifies() {
    let endpoint = common_endpoint::Endpoint::start(&[200]);
    let mut server = start();
    let base = seeded(&server);
    server.set_push_endpoint(H49, &endpoint.url);
    let letters = submit_letters(&server, 1);
    endpoint.wait_for(1, std::time::Duration::from_secs(20));
    let (db, pushed) = stopped_with_events_of(&mut server, base + 2, "delivery.pushed");
    assert!(
        pushed.contains(&format!("\npacket {}\n", letters[0].0)),
        "{pushed}"
    );
    assert!(pushed.contains("\nrecipient 000.00.00.H49\n"), "{pushed}");
    assert!(
        pushed.contains(&format!("\nendpoint {}\n", endpoint.url)),
        "{pushed}"
    );
    assert!(pushed.contains("\nhttp-status 200\n"), "{pushed}");
    let (whole, said) = verify(&server, &db);
    assert!(
        whole && said.contains(&format!("the log is whole: {} events", base + 2)),
        "{said}"
    );
    // The push's time in its delivery row, changed: the event names it.
    let dir = common::work_dir();
    let copy = copy_database(&server, dir.path());
    sqlite3(
        &copy,
        "UPDATE deliveries SET acked_at = acked_at - 1 WHERE taken_via = 'push'",
    );
    let (whole, said) = verify(&server, &copy);
    assert!(
        !whole && said.contains("says it was taken push at"),
        "{said}"
    );
}

#[test]
fn on_postgresql_the_log_verifies_and_a_changed_event_is_named() {
    let mut server = start_on(Engine::Postgres);
    let base = seeded(&server);
    let letters = submit_letters(&server, 3);
    checkpoint_of_at_least(&server, base + 3);
    server.stop();
    let verify = |server: &Server| {
        let out = server.cli(&["audit", "verify"]);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), said)
    };
    let (whole, said) = verify(&server);
    assert!(
        whole && said.contains(&format!("the log is whole: {} events", base + 3)),
        "{said}"
    );
    let dir = common::work_dir();
    let bundle = dir.path().join("export.jsonl");
    let bundle_arg = bundle.to_str().expect("utf-8");
    let out = server.cli(&[
        "audit",
        "export",
        "--from",
        "2000-01-01",
        "--to",
        "2100-12-31",
        "--agency",
        G22,
        "--out",
        bundle_arg,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let event = letters[1].1;
    common_server::run_postgres(
        &server.database_url,
        &format!(
            "UPDATE audit_events SET body = convert_to(replace(convert_from(body, 'UTF8'), \
             ',301/BTN', ',391/BTN'), 'UTF8') WHERE seq = {event}"
        ),
    );
    let (whole, said) = verify(&server);
    assert!(
        !whole && said.contains(&format!("error[audit.mismatch]: event {event} (leaf ")),
        "{said}"
    );
    // The export made before the change still proves what the log signed.
    let (whole, said) = verify_bundle(&bundle, None);
    assert!(
        whole && said.contains("the bundle is whole: 3 events"),
        "{said}"
    );
    let text = std::fs::read_to_string(&bundle).expect("the bundle");
    assert!(
        text.contains(",301/BTN") && !text.contains(",391/BTN"),
        "{text}"
    );
}

#[test]
fn a_push_parked_by_an_operator_is_logged_with_the_reason() {
    // This node makes no pushes: the push waits until the operator parks it.
    let mut server = Server::start_with(
        Engine::Sqlite,
        &[
            ("LIENTHONG_AUDIT_CHECKPOINT_SECONDS", "1"),
            ("LIENTHONG_PUSH_ENABLED", "false"),
        ],
    );
    let base = seeded(&server);
    server.set_push_endpoint(H49, "http://127.0.0.1:9/");
    let letters = submit_letters(&server, 1);
    let delivery = server.get("/v1/inbox", H49).json()["deliveries"][0]["delivery"]
        .as_i64()
        .expect("a delivery");
    let parked = server.cli(&[
        "delivery",
        "park",
        &delivery.to_string(),
        "--reason",
        "Sở đã nhận bản giấy",
    ]);
    assert!(
        parked.status.success(),
        "{}",
        String::from_utf8_lossy(&parked.stderr)
    );
    let (db, logged) = stopped_with_events_of(&mut server, base + 2, "delivery.parked");
    assert!(
        logged.contains(&format!("\npacket {}\n", letters[0].0)),
        "{logged}"
    );
    assert!(
        logged.contains(&format!("\ndelivery {delivery}\n")),
        "{logged}"
    );
    assert!(
        logged.contains("\nreason parked by an operator: Sở đã nhận bản giấy\n"),
        "{logged}"
    );
    let (whole, said) = verify(&server, &db);
    assert!(
        whole && said.contains(&format!("the log is whole: {} events", base + 2)),
        "{said}"
    );
}

#[test]
fn a_status_is_logged_with_its_staff_and_the_states_it_changed() {
    let mut server = start();
    let base = seeded(&server);
    submit_letters(&server, 1);
    let staff = lienthong::edxml::StaffInfo {
        department: Some("Văn phòng".to_owned()),
        staff: Some("Nguyễn Thị Hoa".to_owned()),
        email: Some("vanthu@h49.gov.vn".to_owned()),
        mobile: None,
    };
    let document = "G22,2026/12/05,300/BTN-VP";
    let status = server.submit_accepted(H49, &common::h49_status(document, "01", Some(staff)));
    let (db, logged) = stopped_with_events_of(&mut server, base + 3, "status.recorded");
    assert!(logged.contains(&format!("\npacket {status}\n")), "{logged}");
    assert!(logged.contains("\nreporter 000.00.00.H49\n"), "{logged}");
    assert!(
        logged.contains(&format!("\ndocument {document}\n")),
        "{logged}"
    );
    assert!(logged.contains("\ncode 01\n"), "{logged}");
    assert!(
        logged.contains("\ndepartment Văn phòng\nstaff Nguyễn Thị Hoa\n"),
        "{logged}"
    );
    assert!(
        logged.contains("\nemail vanthu@h49.gov.vn\nmobile \n"),
        "{logged}"
    );
    assert!(logged.contains("\ntransitions 000.00.00.H49 "), "{logged}");
    let (whole, said) = verify(&server, &db);
    assert!(
        whole && said.contains(&format!("the log is whole: {} events", base + 3)),
        "{said}"
    );
}

/// The `name value` lines of an event's text.
fn event_fields(event: &str) -> std::collections::HashMap<&str, &str> {
    event
        .lines()
        .filter_map(|line| line.split_once(' '))
        .collect()
}

#[test]
fn refused_packets_are_logged_once_per_caller_code_and_minute_with_the_rest_counted() {
    let mut server = start();
    // A client sending the same broken packet in a loop.
    let broken = b"<edXML><not-a-packet/></edXML>".to_vec();
    let attempts = 50;
    let mut code = String::new();
    for _ in 0..attempts {
        let reply = server.submit(G22, &broken);
        assert_eq!(reply.status, 400, "{}", reply.text());
        code = reply.code();
    }
    // And once a letter whose bytes were changed after signing.
    let mut forged = common::g22_letter(H49, "G22,2026/12/06,77/BTN-VP");
    let at = forged
        .windows(6)
        .position(|w| w == b"77/BTN")
        .expect("the notation is in the packet");
    forged[at] = b'8';
    let reply = server.submit(G22, &forged);
    assert_eq!(reply.status, 422, "{}", reply.text());
    let forged_code = reply.code();
    // A stopping server writes the count of the minute not yet over.
    server.terminate();
    let events = sqlite3(
        &sqlite_path(&server),
        "SELECT CAST(body AS TEXT) FROM audit_events WHERE kind = 'packet.refused' ORDER BY seq",
    );
    let events: Vec<&str> = events
        .split("lienthong-event/1\n")
        .filter(|e| !e.trim().is_empty())
        .collect();
    let of = |code: &str| -> Vec<std::collections::HashMap<&str, &str>> {
        events
            .iter()
            .map(|e| event_fields(e))
            .filter(|f| f.get("code") == Some(&code))
            .collect()
    };
    let loop_events = of(&code);
    for event in &loop_events {
        assert_eq!(event.get("caller"), Some(&G22), "{event:?}");
    }
    let counted: u64 = loop_events
        .iter()
        .map(|e| e["count"].parse::<u64>().expect("a count"))
        .sum();
    assert_eq!(
        counted, attempts,
        "every refusal is counted: {loop_events:?}"
    );
    // The first of each minute alone, then one count: two events a minute (the loop may cross
    // one minute's end).
    assert!(
        (2..=4).contains(&loop_events.len()),
        "{} events for {attempts} refusals: {loop_events:?}",
        loop_events.len()
    );
    let first = &loop_events[0];
    assert_eq!(first["count"], "1");
    assert_eq!(
        first["content-sha256"],
        hex::encode(openssl::sha::sha256(&broken)),
        "the first names the bytes' hash"
    );
    let forged_events = of(&forged_code);
    assert_eq!(forged_events.len(), 1, "{forged_events:?}");
    assert_eq!(
        forged_events[0]["content-sha256"],
        hex::encode(openssl::sha::sha256(&forged))
    );
    // The refusals are in the tree like every event.
    server.restart(&[]);
    seeded(&server);
    let (whole, said) = verify(&server, &sqlite_path(&server));
    assert!(whole, "{said}");
}
