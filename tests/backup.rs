//! `lienthong backup` on a running SQLite server: the copy is taken while letters keep arriving,
//! holds every packet accepted before it (small ones in their rows, large ones as re-hashed
//! blobs), and a server started on the backup folder serves them byte for byte to the same
//! credentials. A damaged blob fails the backup instead of being copied. A server killed between a
//! blob's rename and its commit leaves an orphan that a later start removes.

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
    // The audit log key goes with the folder, readable by its owner only.
    let key = folder.join("audit-log.key");
    assert_eq!(
        std::fs::read(&key).expect("the key in the backup"),
        std::fs::read(server.data_path().join("audit-log.key")).expect("the server's key")
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&key)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
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
    let restored = Restarted::on(&database_url, &folder);
    let fetch = |id: &str| restored.fetch(id, server.credential(B));
    assert_eq!(fetch(&small_id), (200, small));
    assert_eq!(fetch(&large_id), (200, large));
}

/// `lienthong serve` started on an existing database and data directory; killed when dropped.
struct Restarted {
    child: std::process::Child,
    base: String,
    agent: ureq::Agent,
}

impl Restarted {
    fn on(database_url: &str, data_dir: &std::path::Path) -> Restarted {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lienthong"))
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .env("LIENTHONG_DEV", "1")
            .env("LIENTHONG_DATA_DIR", data_dir)
            .env("LIENTHONG_LOG", "warn")
            .env("LIENTHONG_MAX_PACKET_BYTES", "4194304")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let base = loop {
            let line = lines.next().expect("a line").expect("UTF-8");
            if let Some(url) = line.strip_prefix("listening on ") {
                break url.to_owned();
            }
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Restarted { child, base, agent }
    }

    /// GET /v1/packets/{id} as the agency of `(system_id, secret)`: (status, body).
    fn fetch(&self, id: &str, (system_id, secret): (String, String)) -> (u16, Vec<u8>) {
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{system_id}:{secret}"))
        );
        let mut response = self
            .agent
            .get(format!("{}/v1/packets/{id}", self.base))
            .header("Authorization", &auth)
            .call()
            .expect("GET the packet");
        (
            response.status().as_u16(),
            response.body_mut().read_to_vec().expect("body"),
        )
    }
}

impl Restarted {
    /// POST /v1/packets as the agency of `(system_id, secret)`: the status.
    fn submit(&self, packet: &[u8], (system_id, secret): (String, String)) -> u16 {
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{system_id}:{secret}"))
        );
        self.agent
            .post(format!("{}/v1/packets", self.base))
            .header("Authorization", &auth)
            .header("Content-Type", "application/xml")
            .send(packet)
            .expect("POST the packet")
            .status()
            .as_u16()
    }
}

impl Drop for Restarted {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes a file look an hour and a half old.
fn age(path: &std::path::Path) {
    let touched = Command::new("touch")
        .args(["-d", "90 minutes ago"])
        .arg(path)
        .status()
        .expect("touch");
    assert!(touched.success());
}

#[test]
fn a_start_removes_old_blobs_that_no_packet_names_and_keeps_the_others() {
    let mut server =
        Server::start_with(Engine::Sqlite, &[("LIENTHONG_MAX_PACKET_BYTES", "4194304")]);
    let large = letter("kept-blob", 300_000);
    let id = accepted_id(&server.submit(A, &large));
    let data = server.data_path();
    let database_url = server.database_url.clone();
    let objects = data.join("blobs/sha256");
    let kept: Vec<std::path::PathBuf> = std::fs::read_dir(&objects)
        .expect("shards")
        .flat_map(|s| std::fs::read_dir(s.expect("shard").path()).expect("blobs"))
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(kept.len(), 1);
    // What a crash between a blob's rename and its commit leaves: a blob no row names, and
    // a younger one that may still be about to be committed.
    let orphan = objects.join("ab").join("c".repeat(62));
    let young = objects.join("ab").join("d".repeat(62));
    std::fs::create_dir_all(objects.join("ab")).expect("shard");
    std::fs::write(&orphan, b"left by a crash").expect("orphan");
    std::fs::write(&young, b"being committed").expect("young");
    age(&orphan);
    age(&kept[0]);
    server.stop();

    let restarted = Restarted::on(&database_url, &data);
    assert!(!orphan.exists(), "the old orphan is removed");
    assert!(young.exists(), "a recent blob is left alone");
    assert!(
        kept[0].exists(),
        "a blob a packet names is kept, however old"
    );
    assert_eq!(restarted.fetch(&id, server.credential(A)), (200, large));
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

/// The blob files under `DATA/blobs/sha256`.
fn blob_files(data: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(shards) = std::fs::read_dir(data.join("blobs/sha256")) else {
        return Vec::new();
    };
    shards
        .flat_map(|s| std::fs::read_dir(s.expect("shard").path()).expect("blobs"))
        .map(|e| e.expect("entry").path())
        .collect()
}

#[test]
fn a_kill_between_a_blobs_rename_and_its_commit_leaves_an_orphan_that_a_later_start_removes() {
    use std::io::Write as _;
    let mut server =
        Server::start_with(Engine::Sqlite, &[("LIENTHONG_MAX_PACKET_BYTES", "4194304")]);
    let data = server.data_path();
    let database = data.join("lienthong.db");
    let database_url = server.database_url.clone();
    assert_eq!(
        server.get("/v1/inbox", A).status,
        200,
        "argon2 once, before the clock"
    );
    // Another process holds SQLite's write lock: the server's commit waits after the blob was
    // renamed into place, which is where it is killed.
    let mut holder = Command::new("sqlite3")
        .arg(&database)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sqlite3");
    let mut to_holder = holder.stdin.take().expect("stdin");
    writeln!(to_holder, "BEGIN IMMEDIATE;\n.print locked").expect("lock");
    let mut said = String::new();
    BufReader::new(holder.stdout.take().expect("stdout"))
        .read_line(&mut said)
        .expect("sqlite3 answers");
    assert_eq!(said.trim(), "locked");

    let large = letter("crash-before-commit", 300_000);
    let base = server.base.clone();
    let credential = server.credential(A);
    let sending = {
        let large = large.clone();
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into();
            let auth = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", credential.0, credential.1));
            agent
                .post(format!("{base}/v1/packets"))
                .header("Authorization", &format!("Basic {auth}"))
                .send(&large[..])
                .map(|r| r.status().as_u16())
        })
    };
    let started = std::time::Instant::now();
    while blob_files(&data).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "the blob was never renamed into place"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop(); // SIGKILL, while the commit waits for the lock
    let answered = sending.join().expect("the sender");
    assert!(
        answered.is_err(),
        "no answer may come from a killed server: {answered:?}"
    );
    writeln!(to_holder, "ROLLBACK;\n.quit").expect("unlock");
    drop(to_holder);
    assert!(holder.wait().expect("sqlite3").success());
    let orphans = blob_files(&data);
    assert_eq!(orphans.len(), 1, "the renamed blob is left behind");
    let rows = Command::new("sqlite3")
        .arg(&database)
        .arg("SELECT count(*) FROM packets")
        .output()
        .expect("sqlite3");
    assert_eq!(
        String::from_utf8_lossy(&rows.stdout).trim(),
        "0",
        "nothing was committed"
    );

    // A start right away leaves the young blob alone (another node may be about to commit
    // it); once it is older than an hour, a start removes it.
    drop(Restarted::on(&database_url, &data));
    assert_eq!(blob_files(&data), orphans);
    age(&orphans[0]);
    let restarted = Restarted::on(&database_url, &data);
    assert!(blob_files(&data).is_empty(), "the orphan is removed");
    // The client's retry is accepted, and the blob is back, named by its row.
    assert_eq!(restarted.submit(&large, server.credential(A)), 202);
    assert_eq!(blob_files(&data), orphans);
}
