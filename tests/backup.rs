//! `lienthong backup` on a running SQLite server: the copy is taken while letters keep arriving,
//! holds every packet accepted before it (small ones in their rows, large ones as re-hashed
//! blobs), and a server started on the backup folder serves them byte for byte to the same
//! credentials. A damaged blob fails the backup instead of being copied.

mod common;
mod common_pg;
mod common_server;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use common_server::{Engine, Server};
use lienthong::edxml::{self, DocumentId, MessagePacket, NonEmpty, OrganId, Organization};

const A: &str = "000.00.00.G22";
const B: &str = "000.00.00.H49";

/// A signed letter A → B with an attachment of `padding` bytes.
fn letter(document_id: &str, padding: usize) -> Vec<u8> {
    let organ = |c: &str| Organization::from_code(OrganId::parse(c).expect("code"));
    let mut letter =
        MessagePacket::new_document(organ(A), NonEmpty::new(organ(B)), "Báo cáo sao lưu");
    letter.header.document_id = DocumentId::parse(document_id).expect("id");
    letter.attach(
        "phu-luc.txt",
        "text/plain",
        "Phụ lục số liệu. ".repeat(padding / 20 + 1).into_bytes(),
    );
    common::sign_bytes(
        &edxml::write(&letter.into()).expect("write"),
        common::G22_RSA2048,
    )
}

fn accepted_id(reply: &common_server::Reply) -> String {
    assert_eq!(reply.status, 202, "{}", reply.text());
    reply.json()["id"].as_str().expect("id").to_owned()
}

#[test]
fn a_backup_taken_while_running_restores_every_packet() {
    let server = Server::start_with(Engine::Sqlite, &[("LIENTHONG_MAX_PACKET_BYTES", "4194304")]);
    let small = letter("backup-small", 1_000);
    let large = letter("backup-large", 300_000);
    assert!(
        large.len() > 65_536,
        "the large letter must go to the blob store"
    );
    let small_id = accepted_id(&server.submit(A, &small));
    let large_id = accepted_id(&server.submit(A, &large));

    let target = tempfile::tempdir().expect("tempdir");
    let folder = target.path().join("backup-1");
    let out = server.cli(&["backup", folder.to_str().expect("path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("backed up 2 packets"), "{said}");
    assert!(said.contains("1 blobs"), "{said}");
    // A letter after the backup is not in it.
    accepted_id(&server.submit(A, &letter("after-backup", 10)));
    // The same folder twice is refused (it would mix two backups).
    let again = server.cli(&["backup", folder.to_str().expect("path")]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("error[store.io]"));

    // A server on the backup folder serves the packets to the same credentials.
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        folder.join("lienthong.db").display()
    );
    let mut restored = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &database_url,
        ])
        .env("LIENTHONG_DEV", "1")
        .env("LIENTHONG_DATA_DIR", &folder)
        .env("LIENTHONG_LOG", "warn")
        .env("LIENTHONG_MAX_PACKET_BYTES", "4194304")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the restored server");
    let mut lines = BufReader::new(restored.stdout.take().expect("stdout")).lines();
    let base = loop {
        let line = lines.next().expect("a line").expect("UTF-8");
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_owned();
        }
    };
    let (system_id, secret) = server.credential(B);
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{system_id}:{secret}"))
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let fetch = |id: &str| {
        let mut response = agent
            .get(format!("{base}/v1/packets/{id}"))
            .header("Authorization", &auth)
            .call()
            .expect("GET the packet");
        (
            response.status().as_u16(),
            response.body_mut().read_to_vec().expect("body"),
        )
    };
    assert_eq!(fetch(&small_id), (200, small));
    assert_eq!(fetch(&large_id), (200, large));
    let _ = restored.kill();
    let _ = restored.wait();
}

#[test]
fn a_damaged_blob_fails_the_backup() {
    let server = Server::start_with(Engine::Sqlite, &[("LIENTHONG_MAX_PACKET_BYTES", "4194304")]);
    accepted_id(&server.submit(A, &letter("damaged", 300_000)));
    let blobs = server.data_path().join("blobs/sha256");
    let shard = std::fs::read_dir(&blobs)
        .expect("blob shards")
        .next()
        .expect("one shard")
        .expect("entry")
        .path();
    let blob = std::fs::read_dir(shard)
        .expect("blobs")
        .next()
        .expect("one blob")
        .expect("entry")
        .path();
    let mut bytes = std::fs::read(&blob).expect("read blob");
    bytes[1000] ^= 1;
    std::fs::write(&blob, bytes).expect("damage it");
    let target = tempfile::tempdir().expect("tempdir");
    let out = server.cli(&["backup", target.path().join("b").to_str().expect("path")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error[store.corrupt]"), "{stderr}");
    assert!(stderr.contains("no longer hashes to its name"), "{stderr}");
}
