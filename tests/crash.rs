//! The crash test of issue #3: the real `lienthong serve` is killed with SIGKILL while several
//! threads submit signed packets, then restarted on the same database and data directory.
//! Every packet that got a 202 must still be there and deliverable — in each recipient's inbox
//! exactly once, its bytes exactly as submitted — and resubmitting the packets whose requests
//! died with the server must accept each at most once (a replay keeps the first id).
//!
//! The server is managed here rather than through `common_server::Server`, which has no way to
//! kill its process and start another on the same storage.

mod common;
mod common_pg;
mod common_server;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

use common::DevKey;
use common_server::{Engine, Reply, MAX_PACKET_BYTES};
use lienthong::edxml::{self, DocumentId, MessagePacket, NonEmpty, OrganId, Organization};

/// The demo agencies that send and receive, with their dev signing keys.
const AGENCIES: [(&str, DevKey); 4] = [
    ("000.00.00.G22", common::G22_RSA2048),
    ("000.00.00.H49", common::H49_P384),
    ("000.01.01.H49", common::UNIT_H49_RSA2048),
    ("000.00.00.H08", common::H08_RSA2048),
];
const PACKETS: usize = 160;
const THREADS: usize = 6;
/// The server is killed once this many 202s came back (and some request is in flight).
const KILL_AFTER_ACCEPTED: usize = 50;

/// One pre-signed packet and who it goes to.
struct Packet {
    sender: &'static str,
    recipients: Vec<&'static str>,
    bytes: Vec<u8>,
}

/// What a submission before the crash came to.
#[derive(Debug, Clone)]
enum Outcome {
    Accepted(String),
    /// An HTTP answer other than 202: never expected before the kill.
    Refused(u16, String),
    /// No answer: the request died with the server or found no server.
    Lost(String),
}

/// A `lienthong serve` process on given storage.
struct Process {
    child: Child,
    base: String,
}

impl Process {
    /// Starts the server; returns it and the dev credentials it printed (first start only).
    fn start(database_url: &str, data_dir: &Path) -> (Process, HashMap<String, String>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lienthong"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .env("LIENTHONG_DEV", "1")
            .env("LIENTHONG_DATA_DIR", data_dir)
            .env("LIENTHONG_MAX_PACKET_BYTES", MAX_PACKET_BYTES.to_string())
            .env("LIENTHONG_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start lienthong serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut authorizations = HashMap::new();
        loop {
            let line = match received.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => line,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the server did not say where it listens: {e}");
                }
            };
            if let Some(rest) = line.strip_prefix("dev credential: ") {
                if let [code, system_id, secret] = rest.split(' ').collect::<Vec<_>>()[..] {
                    let pair = format!("{system_id}:{secret}");
                    let basic = base64::engine::general_purpose::STANDARD.encode(pair);
                    authorizations.insert(code.to_owned(), format!("Basic {basic}"));
                }
            } else if let Some(url) = line.strip_prefix("listening on ") {
                let base = url.to_owned();
                return (Process { child, base }, authorizations);
            }
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), and reap it.
    fn kill(mut self) {
        self.child.kill().expect("kill the server");
        self.child.wait().expect("reap the server");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into()
}

/// A request; Err when no HTTP answer came (connection refused or reset).
fn call(
    agent: &ureq::Agent,
    url: &str,
    authorization: &str,
    body: Option<&[u8]>,
) -> Result<Reply, String> {
    let result = match body {
        Some(bytes) => agent
            .post(url)
            .header("Authorization", authorization)
            .header("Content-Type", "application/xml")
            .send(bytes),
        None => agent.get(url).header("Authorization", authorization).call(),
    };
    let mut response = result.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    Ok(Reply {
        status,
        body,
        headers: HashMap::new(),
    })
}

/// Packet i: sent by agency i mod 4 to two or three of the others, under a DocumentId of its own.
fn packets() -> Vec<Packet> {
    (0..PACKETS)
        .map(|i| {
            let (sender, key) = AGENCIES[i % AGENCIES.len()];
            let mut recipients: Vec<&'static str> = AGENCIES
                .iter()
                .map(|(code, _)| *code)
                .filter(|code| *code != sender)
                .collect();
            if i % 3 == 0 {
                recipients.remove((i / 3) % recipients.len());
            }
            let organizations = recipients
                .iter()
                .map(|c| Organization::from_code(OrganId::parse(c).expect("agency code")))
                .collect();
            let mut packet = MessagePacket::new_document(
                Organization::from_code(OrganId::parse(sender).expect("agency code")),
                NonEmpty::from_vec(organizations).expect("recipients"),
                format!("Văn bản thử khi máy chủ sập số {i}"),
            );
            packet.header.document_id =
                DocumentId::parse(&format!("{sender},2026/06/01,{i}/CV-CRASH")).expect("id");
            let bytes = common::sign_bytes(&edxml::write(&packet.into()).expect("write"), key);
            Packet {
                sender,
                recipients,
                bytes,
            }
        })
        .collect()
}

/// Counters the submitting threads share with the thread that kills the server.
#[derive(Default)]
struct Load {
    next: AtomicUsize,
    started: AtomicUsize,
    finished: AtomicUsize,
    accepted: AtomicUsize,
}

fn submit_once(
    agent: &ureq::Agent,
    base: &str,
    authorizations: &HashMap<String, String>,
    packet: &Packet,
) -> Outcome {
    let url = format!("{base}/v1/packets");
    match call(
        agent,
        &url,
        &authorizations[packet.sender],
        Some(&packet.bytes),
    ) {
        Ok(reply) if reply.status == 202 => {
            Outcome::Accepted(reply.json()["id"].as_str().expect("id").to_owned())
        }
        Ok(reply) => Outcome::Refused(reply.status, reply.text()),
        Err(e) => Outcome::Lost(e),
    }
}

/// Submits every packet from several threads and SIGKILLs the server mid-load.
fn load_and_kill(
    server: Process,
    authorizations: &Arc<HashMap<String, String>>,
    packets: &Arc<Vec<Packet>>,
) -> Vec<Outcome> {
    let load = Arc::new(Load::default());
    let outcomes = Arc::new(Mutex::new(vec![None; packets.len()]));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (load, outcomes) = (load.clone(), outcomes.clone());
            let (authorizations, packets) = (authorizations.clone(), packets.clone());
            let base = server.base.clone();
            std::thread::spawn(move || {
                let agent = agent();
                loop {
                    let i = load.next.fetch_add(1, Ordering::SeqCst);
                    let Some(packet) = packets.get(i) else { break };
                    load.started.fetch_add(1, Ordering::SeqCst);
                    let outcome = submit_once(&agent, &base, &authorizations, packet);
                    if matches!(outcome, Outcome::Accepted(_)) {
                        load.accepted.fetch_add(1, Ordering::SeqCst);
                    }
                    outcomes.lock().expect("outcomes")[i] = Some(outcome);
                    load.finished.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // finished first: started, read after it, is never smaller.
        let finished = load.finished.load(Ordering::SeqCst);
        let in_flight = load.started.load(Ordering::SeqCst) - finished;
        if load.accepted.load(Ordering::SeqCst) >= KILL_AFTER_ACCEPTED && in_flight > 0 {
            break;
        }
        assert!(
            load.finished.load(Ordering::SeqCst) < packets.len() && Instant::now() < deadline,
            "the load ended before the server could be killed mid-flight: {:?}",
            outcomes.lock().expect("outcomes")
        );
        std::thread::yield_now();
    }
    server.kill();
    for worker in workers {
        worker.join().expect("a submitting thread panicked");
    }
    let outcomes = outcomes.lock().expect("outcomes").clone();
    outcomes
        .into_iter()
        .map(|o| o.expect("every packet was tried"))
        .collect()
}

/// Every delivery in an agency's inbox: (packet id, how many times it appears).
fn inbox_counts(agent: &ureq::Agent, base: &str, authorization: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let mut after = 0;
    loop {
        let url = format!("{base}/v1/inbox?after={after}&limit=100");
        let reply = call(agent, &url, authorization, None).expect("inbox");
        assert_eq!(reply.status, 200, "{}", reply.text());
        let body = reply.json();
        let deliveries = body["deliveries"].as_array().expect("deliveries").clone();
        if deliveries.is_empty() {
            return counts;
        }
        for delivery in deliveries {
            let id = delivery["packet_id"]
                .as_str()
                .expect("packet_id")
                .to_owned();
            *counts.entry(id).or_default() += 1;
        }
        after = body["next_after"].as_i64().expect("next_after");
    }
}

fn crash_and_recover(engine: Engine) {
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let postgres = (engine == Engine::Postgres).then(postgres::Database::fresh);
    let database_url = match &postgres {
        Some(database) => database.url.clone(),
        None => format!(
            "sqlite://{}?mode=rwc",
            data_dir.path().join("lienthong.db").display()
        ),
    };
    let packets = Arc::new(packets());
    let (server, authorizations) = Process::start(&database_url, data_dir.path());
    let authorizations = Arc::new(authorizations);

    let before = load_and_kill(server, &authorizations, &packets);
    let mut accepted = 0;
    let mut lost = Vec::new();
    for outcome in &before {
        match outcome {
            Outcome::Accepted(_) => accepted += 1,
            Outcome::Refused(status, body) => panic!("refused before the crash: {status} {body}"),
            Outcome::Lost(error) => lost.push(error.as_str()),
        }
    }
    assert!(!lost.is_empty(), "the crash interrupted nothing");
    eprintln!(
        "{engine:?}: {accepted} accepted before the kill, {} lost (first: {})",
        lost.len(),
        lost[0]
    );

    // The same database and data directory; the dev credentials are those of the first start.
    let (server, reprinted) = Process::start(&database_url, data_dir.path());
    assert!(reprinted.is_empty(), "a restart must not seed again");
    let agent = agent();

    // Every packet again: the accepted replay with their first id; the lost are accepted once.
    let mut ids = Vec::with_capacity(packets.len());
    for (packet, outcome) in packets.iter().zip(&before) {
        let url = format!("{}/v1/packets", server.base);
        let reply = call(
            &agent,
            &url,
            &authorizations[packet.sender],
            Some(&packet.bytes),
        )
        .expect("resubmit");
        assert_eq!(reply.status, 202, "after the restart: {}", reply.text());
        let id = reply.json()["id"].as_str().expect("id").to_owned();
        if let Outcome::Accepted(first) = outcome {
            assert_eq!(&id, first, "a 202 before the crash names the same packet");
            assert_eq!(reply.json()["replayed"], true, "accepted twice: {id}");
        }
        ids.push(id);
    }

    // Each recipient holds exactly one delivery per packet naming it, with the exact bytes.
    for (recipient, _) in AGENCIES {
        let authorization = &authorizations[recipient];
        let counts = inbox_counts(&agent, &server.base, authorization);
        let mut expected = BTreeMap::new();
        for (packet, id) in packets.iter().zip(&ids) {
            if packet.recipients.contains(&recipient) {
                expected.insert(id.clone(), 1);
                let url = format!("{}/v1/packets/{id}", server.base);
                let fetched = call(&agent, &url, authorization, None).expect("fetch");
                assert_eq!(fetched.status, 200, "{recipient} {id}: {}", fetched.text());
                assert!(
                    fetched.body == packet.bytes,
                    "{recipient} {id}: the bytes differ from those submitted"
                );
            }
        }
        assert_eq!(counts, expected, "the inbox of {recipient}");
    }
    server.kill();
    drop(postgres);
}

#[test]
fn a_killed_server_loses_and_duplicates_nothing_on_sqlite() {
    crash_and_recover(Engine::Sqlite);
}

#[test]
fn a_killed_server_loses_and_duplicates_nothing_on_postgres() {
    crash_and_recover(Engine::Postgres);
}

/// A PostgreSQL database of its own under `LIENTHONG_TEST_POSTGRES_URL`, dropped at the end.
mod postgres {
    use crate::common_pg::with_database;
    use sqlx::{Connection, Executor};

    pub struct Database {
        pub url: String,
        admin: String,
        name: String,
    }

    impl Database {
        pub fn fresh() -> Database {
            let admin = std::env::var("LIENTHONG_TEST_POSTGRES_URL").unwrap_or_else(|_| {
                panic!(
                    "LIENTHONG_TEST_POSTGRES_URL is not set: start PostgreSQL with \
                     `export LIENTHONG_TEST_POSTGRES_URL=$(scripts/start-test-postgres.sh)`"
                )
            });
            let name = format!("lt_crash_{}", uuid::Uuid::new_v4().simple());
            run(&admin, &format!("CREATE DATABASE {name}"));
            let url = with_database(&admin, &name);
            Database { url, admin, name }
        }
    }

    impl Drop for Database {
        fn drop(&mut self) {
            run(
                &self.admin,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            );
        }
    }

    fn run(admin: &str, sql: &str) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut conn = sqlx::postgres::PgConnection::connect(admin)
                .await
                .unwrap_or_else(|e| panic!("cannot reach LIENTHONG_TEST_POSTGRES_URL: {e}"));
            conn.execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            let _ = conn.close().await;
        });
    }
}
