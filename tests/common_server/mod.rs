//! The real `lienthong serve` on a random port with a fresh database — SQLite in a temporary
//! directory, or PostgreSQL in a database of its own (from `LIENTHONG_TEST_POSTGRES_URL`, see
//! `scripts/start-test-postgres.sh`) — and a small HTTP client that signs in as a demo agency
//! with the dev credentials the server printed on its first start.

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::common_pg::with_database;

/// Which database a server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Packets larger than this get 413 on test servers.
pub const MAX_PACKET_BYTES: u64 = 65_536;

/// A running server; stopped (and its PostgreSQL database dropped) when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    /// The mTLS listener (`https://…`), when `LIENTHONG_TLS_BIND` was given.
    pub tls_base: Option<String>,
    pub data_dir: tempfile::TempDir,
    pub database_url: String,
    postgres: Option<(String, String)>,
    /// agency code → (system id, secret), from the dev-mode first start.
    credentials: HashMap<String, (String, String)>,
    agent: ureq::Agent,
}

/// A response: status, headers we look at, body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub headers: HashMap<String, String>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The refusal code of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }

    /// Asserts the status and refusal code, showing the body when they differ.
    pub fn assert_refused(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "{}",
            self.text()
        );
    }
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_lienthong")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

impl Server {
    /// Starts a server in dev mode (demo directory, dev PKI) on a fresh database.
    pub fn start(engine: Engine) -> Server {
        Server::start_with(engine, &[])
    }

    /// Starts a server with extra `LIENTHONG_*` settings (dev mode stays on).
    pub fn start_with(engine: Engine, env: &[(&str, &str)]) -> Server {
        let data_dir = tempfile::tempdir().expect("a temporary directory");
        let (database_url, postgres) = match engine {
            Engine::Sqlite => (
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.path().join("lienthong.db").display()
                ),
                None,
            ),
            Engine::Postgres => {
                let (url, admin, name) = fresh_postgres_database();
                (url, Some((admin, name)))
            }
        };
        let Spawned {
            child,
            base,
            tls_base,
            credentials,
        } = spawn(&database_url, data_dir.path(), env);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Server {
            child,
            base,
            tls_base,
            data_dir,
            database_url,
            postgres,
            credentials,
            agent,
        }
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server (SIGKILL: nothing is flushed or finished) and starts it again on the
    /// same database and data directory, with `env`.
    pub fn restart(&mut self, env: &[(&str, &str)]) {
        self.stop();
        let started = spawn(&self.database_url, self.data_dir.path(), env);
        self.child = started.child;
        self.base = started.base;
        self.tls_base = started.tls_base;
    }

    /// Stops the server process, keeping its database and data directory (until dropped).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server as an operator does (SIGTERM), and waits until it has finished what a
    /// stopping server finishes.
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let status = self.child.wait().expect("the server exits");
        assert!(status.success(), "the server stopped with {status}");
    }

    /// The dev credential of a demo agency.
    pub fn credential(&self, agency: &str) -> (String, String) {
        self.credentials.get(agency).cloned().unwrap_or_else(|| {
            panic!(
                "no dev credential for {agency}: {:?}",
                self.credentials.keys()
            )
        })
    }

    pub fn basic(system_id: &str, secret: &str) -> String {
        let pair = format!("{system_id}:{secret}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// A request as `agency` (None: anonymous; Some((id, secret)) through `as_system`).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        agency: Option<&str>,
        body: Option<&[u8]>,
    ) -> Reply {
        let auth = agency.map(|a| {
            let (id, secret) = self.credential(a);
            Server::basic(&id, &secret)
        });
        self.send(method, path, auth.as_deref(), &[], body)
    }

    /// A request with explicit headers.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        let url = format!("{}{}", self.base, path);
        let result = match method {
            "GET" => {
                let mut req = self.agent.get(&url);
                if let Some(a) = authorization {
                    req = req.header("Authorization", a);
                }
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                req.call()
            }
            "POST" => {
                let mut req = self
                    .agent
                    .post(&url)
                    .header("Content-Type", "application/xml");
                if let Some(a) = authorization {
                    req = req.header("Authorization", a);
                }
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                match body {
                    Some(bytes) => req.send(bytes),
                    None => req.send_empty(),
                }
            }
            other => panic!("method {other} is not used by the tests"),
        };
        let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .unwrap_or_else(|e| panic!("{method} {url}: reading the body: {e}"));
        Reply {
            status,
            body,
            headers,
        }
    }

    pub fn get(&self, path: &str, agency: &str) -> Reply {
        self.request("GET", path, Some(agency), None)
    }

    /// POSTs a packet as `agency`.
    pub fn submit(&self, agency: &str, packet: &[u8]) -> Reply {
        self.request("POST", "/v1/packets", Some(agency), Some(packet))
    }

    /// Acknowledges `agency`'s delivery `delivery` (`POST /v1/inbox/{n}/ack`), asserts 200.
    pub fn ack(&self, agency: &str, delivery: i64) -> Reply {
        let reply = self.request(
            "POST",
            &format!("/v1/inbox/{delivery}/ack"),
            Some(agency),
            None,
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply
    }

    /// POSTs a packet as `agency`, asserts 202 and answers the packet's id.
    pub fn submit_accepted(&self, agency: &str, packet: &[u8]) -> String {
        let reply = self.submit(agency, packet);
        assert_eq!(reply.status, 202, "{}", reply.text());
        reply.json()["id"].as_str().expect("id").to_owned()
    }

    /// Points `agency`'s pushes at `url` with the CLI, as an operator does.
    pub fn set_push_endpoint(&self, agency: &str, url: &str) {
        let out = self.cli(&["agency", "push", agency, "--endpoint", url]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("push on") && said.contains(url), "{said}");
    }

    /// An auditor's credential made with `lienthong auditor create ARGS…`: (system id, secret).
    pub fn auditor(&self, args: &[&str]) -> (String, String) {
        let mut all = vec!["auditor", "create"];
        all.extend(args);
        let out = self.cli(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (
            line["system_id"].as_str().expect("system id").to_owned(),
            line["secret"].as_str().expect("secret").to_owned(),
        )
    }

    /// Runs `lienthong ARGS…` against this server's database and data directory.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(binary())
            .current_dir(root())
            .args(args)
            .args(["--database-url", &self.database_url])
            .env("LIENTHONG_DATA_DIR", self.data_dir.path())
            .output()
            .expect("run lienthong")
    }

    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }

    /// The value of a line of /metrics: `name` with its labels, e.g.
    /// `lienthong_pushes_total{outcome="delivered"}`.
    pub fn metric(&self, name: &str) -> f64 {
        let text = self.request("GET", "/metrics", None, None).text();
        sample(&text, name).unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
    }

    /// The value of a line of /metrics that is only there in some states (a breaker's line
    /// only while it is not closed); none while it is not.
    pub fn metric_if_shown(&self, name: &str) -> Option<f64> {
        sample(&self.request("GET", "/metrics", None, None).text(), name)
    }
}

/// The value of the line of a /metrics text named `name` (with its labels).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Starts `lienthong serve` in dev mode on `database_url` and `data_dir` with extra settings;
/// answers the process, its http and https bases, and the dev credentials it printed (on a
/// first start only).
/// A started server process: where it listens and what it printed.
struct Spawned {
    child: Child,
    base: String,
    tls_base: Option<String>,
    credentials: HashMap<String, (String, String)>,
}

fn spawn(database_url: &str, data_dir: &Path, env: &[(&str, &str)]) -> Spawned {
    let mut command = Command::new(binary());
    command
        .current_dir(root())
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
        .stderr(Stdio::inherit());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("start lienthong serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut credentials = HashMap::new();
    let listeners = if env.iter().any(|(k, _)| *k == "LIENTHONG_TLS_BIND") {
        2
    } else {
        1
    };
    let mut bases = Vec::new();
    while bases.len() < listeners {
        let line = match received.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                panic!("the server did not say where it listens: {e}");
            }
        };
        if let Some(rest) = line.strip_prefix("dev credential: ") {
            let parts: Vec<&str> = rest.split(' ').collect();
            if let [code, system_id, secret] = parts[..] {
                credentials.insert(code.to_owned(), (system_id.to_owned(), secret.to_owned()));
            }
        } else if let Some(url) = line.strip_prefix("listening on ") {
            bases.push(url.to_owned());
        }
    }
    let base = bases
        .iter()
        .find(|b| b.starts_with("http://"))
        .cloned()
        .expect("an http listener");
    let tls_base = bases.iter().find(|b| b.starts_with("https://")).cloned();
    Spawned {
        child,
        base,
        tls_base,
        credentials,
    }
}

/// Push retries one second apart, so that a test sees several attempts in a few seconds.
pub const QUICK_RETRIES: [(&str, &str); 2] = [
    ("LIENTHONG_PUSH_RETRY_FIRST_SECONDS", "1"),
    ("LIENTHONG_PUSH_RETRY_MAX_SECONDS", "1"),
];

/// Waits (up to 60 s: CI machines run many servers at once) until `ready` holds.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !ready() {
        assert!(started.elapsed() < Duration::from_secs(60), "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some((admin, name)) = self.postgres.take() {
            run_postgres(
                &admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

fn postgres_admin_url() -> String {
    std::env::var("LIENTHONG_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "LIENTHONG_TEST_POSTGRES_URL is not set: the API tests need PostgreSQL 15. Start one \
             with `export LIENTHONG_TEST_POSTGRES_URL=$(scripts/start-test-postgres.sh)`"
        )
    })
}

/// (url of a new database, admin url, database name)
fn fresh_postgres_database() -> (String, String, String) {
    let admin = postgres_admin_url();
    let name = format!("lt_api_{}", uuid::Uuid::new_v4().simple());
    run_postgres(&admin, &format!("CREATE DATABASE {name}"));
    let url = with_database(&admin, &name);
    (url, admin, name)
}

/// Runs `sql` on the PostgreSQL database at `url` (a test's own, or the admin one).
pub fn run_postgres(admin: &str, sql: &str) {
    use sqlx::{Connection, Executor};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut conn = sqlx::postgres::PgConnection::connect(admin)
            .await
            .unwrap_or_else(|e| {
                panic!("cannot reach PostgreSQL at LIENTHONG_TEST_POSTGRES_URL: {e}")
            });
        conn.execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
    });
}
