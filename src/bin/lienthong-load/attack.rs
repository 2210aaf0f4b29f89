//! `--attack`: a hostile or broken client run beside the normal load, as a second agency
//! (H08 of the dev directory), so that what one agency does to the others can be measured.
//! Every attack is bounded in connections (`--attackers`) and time (it stops when the normal
//! load is done, or at `--attack-seconds`), and only aims at a server on this machine.
//!
//! While it runs, the server's resident memory is sampled (`--server-pid`), and `/healthz` is
//! asked every 200 ms on a fresh connection: the report gives the normal clients' latency, the
//! server's peak RSS, the health probe's latency, and what the attackers saw.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{percentile_ms, Connection, Target};

/// What the attackers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Attack {
    /// Announce a packet of `--attack-size` bytes, then send one byte a second.
    SlowUploads,
    /// Loop `GET /v1/inbox` with wrong secrets over keep-alive connections.
    WrongSecrets,
    /// Ask for a large packet (`--attack-size`), read 64 KiB of it, then stop reading.
    StalledDownloads,
    /// Open connections and send nothing; reopen those the server closes.
    IdleConnections,
    /// Upload one large packet (`--attack-size`) per connection, all at once.
    BigUploads,
}

/// What an attack needs to know.
pub struct Plan {
    pub attack: Attack,
    pub attackers: usize,
    pub target: Target,
    /// `Basic …` of the attacking agency's credential.
    pub auth: String,
    pub system_id: String,
    pub size: usize,
    /// Packets the attacker sends (big uploads) or reads (stalled downloads: ids).
    pub packets: Vec<Vec<u8>>,
    pub packet_id: Option<String>,
}

/// What the attackers saw, summed.
#[derive(Default)]
pub struct Seen {
    connections: AtomicU64,
    closed_by_server: AtomicU64,
    requests: AtomicU64,
    statuses: std::sync::Mutex<BTreeMap<u16, u64>>,
    latencies_us: std::sync::Mutex<Vec<u64>>,
}

impl Seen {
    fn status(&self, status: u16) {
        if let Ok(mut map) = self.statuses.lock() {
            *map.entry(status).or_default() += 1;
        }
    }

    pub fn report(&self) -> serde_json::Value {
        let statuses: serde_json::Map<String, serde_json::Value> = self
            .statuses
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(s, n)| (s.to_string(), (*n).into()))
                    .collect()
            })
            .unwrap_or_default();
        let mut latencies = self
            .latencies_us
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        latencies.sort_unstable();
        let mut report = serde_json::json!({
            "connections": self.connections.load(Ordering::Relaxed),
            "closed_by_server": self.closed_by_server.load(Ordering::Relaxed),
            "requests": self.requests.load(Ordering::Relaxed),
            "statuses": statuses,
        });
        if !latencies.is_empty() {
            report["latency_ms"] = serde_json::json!({
                "p50": percentile_ms(&latencies, 0.5),
                "p99": percentile_ms(&latencies, 0.99),
                "max": percentile_ms(&latencies, 1.0),
            });
        }
        report
    }
}

/// Refuses targets that are not this machine: the attacks are for one's own server.
pub fn check_loopback(target: &Target) -> anyhow::Result<()> {
    let host = target
        .authority
        .rsplit_once(':')
        .map_or(target.authority.as_str(), |(h, _)| h);
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        bail!("--attack runs only against a server on this machine (127.0.0.1, localhost, [::1]), not {host}");
    }
    Ok(())
}

/// Starts the attackers, which run until `until` or until the returned set is dropped
/// (dropping it closes every attacking connection).
pub fn start(
    plan: Arc<Plan>,
    seen: Arc<Seen>,
    until: tokio::time::Instant,
) -> tokio::task::JoinSet<()> {
    let mut set = tokio::task::JoinSet::new();
    for n in 0..plan.attackers {
        let (plan, seen) = (plan.clone(), seen.clone());
        set.spawn(async move {
            let work = attacker(&plan, &seen, n, until);
            let _ = tokio::time::timeout_at(until, work).await;
        });
    }
    set
}

async fn attacker(plan: &Plan, seen: &Seen, n: usize, until: tokio::time::Instant) {
    match plan.attack {
        Attack::SlowUploads => slow_upload(plan, seen, until).await,
        Attack::WrongSecrets => wrong_secrets(plan, seen, n).await,
        Attack::StalledDownloads => stalled_download(plan, seen, until).await,
        Attack::IdleConnections => idle_connection(plan, seen).await,
        Attack::BigUploads => big_upload(plan, seen, n).await,
    }
}

async fn open(plan: &Plan, seen: &Seen) -> Option<TcpStream> {
    seen.connections.fetch_add(1, Ordering::Relaxed);
    match TcpStream::connect(&plan.target.authority).await {
        Ok(stream) => Some(stream),
        Err(_) => {
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

/// The status of an answer's first line, if one came.
fn status_of(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|b| *b == b'\n').next()?;
    std::str::from_utf8(line)
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn slow_upload(plan: &Plan, seen: &Seen, until: tokio::time::Instant) {
    while tokio::time::Instant::now() < until {
        let Some(mut stream) = open(plan, seen).await else {
            continue;
        };
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
            plan.target.path, plan.target.authority, plan.auth, plan.size
        );
        seen.requests.fetch_add(1, Ordering::Relaxed);
        if stream.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        let mut answer = [0u8; 1024];
        loop {
            tokio::select! {
                read = stream.read(&mut answer) => {
                    if let Ok(got) = read {
                        if let Some(status) = status_of(&answer[..got]) {
                            seen.status(status);
                        }
                    }
                    seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    if stream.write_all(b" ").await.is_err() {
                        seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
    }
}

async fn wrong_secrets(plan: &Plan, seen: &Seen, n: usize) {
    let mut guess = 0u64;
    loop {
        let Ok(mut connection) = Connection::open(&plan.target).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        seen.connections.fetch_add(1, Ordering::Relaxed);
        loop {
            guess += 1;
            let pair = format!("{}:wrong-{n}-{guess}", plan.system_id);
            let request = format!(
                "GET {}/v1/inbox HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\n\r\n",
                plan.target.prefix,
                plan.target.authority,
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair)
            );
            seen.requests.fetch_add(1, Ordering::Relaxed);
            match connection.send(request.as_bytes()).await {
                Ok((status, keep)) => {
                    seen.status(status);
                    if !keep {
                        break;
                    }
                }
                Err(_) => {
                    seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

async fn stalled_download(plan: &Plan, seen: &Seen, until: tokio::time::Instant) {
    let Some(id) = &plan.packet_id else { return };
    while tokio::time::Instant::now() < until {
        let Some(mut stream) = open(plan, seen).await else {
            continue;
        };
        let request = format!(
            "GET {}/v1/packets/{id} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n\r\n",
            plan.target.prefix, plan.target.authority, plan.auth
        );
        seen.requests.fetch_add(1, Ordering::Relaxed);
        if stream.write_all(request.as_bytes()).await.is_err() {
            continue;
        }
        let mut first = vec![0u8; 64 * 1024];
        match stream.read_exact(&mut first).await {
            Ok(_) => {
                if let Some(status) = status_of(&first) {
                    seen.status(status);
                }
            }
            Err(_) => continue,
        }
        // Stop reading; look every few seconds whether the server has given up on us (the
        // kernel then answers our next window update with a reset).
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            if let Err(e) = stream.peek(&mut [0u8; 1]).await {
                let _ = e;
                seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
                break;
            }
            if tokio::time::Instant::now() >= until {
                return;
            }
        }
    }
}

async fn idle_connection(plan: &Plan, seen: &Seen) {
    loop {
        let Some(mut stream) = open(plan, seen).await else {
            continue;
        };
        // The server closes a connection that sends no request; open another at once.
        let mut buf = [0u8; 256];
        let _ = stream.read(&mut buf).await;
        seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
    }
}

async fn big_upload(plan: &Plan, seen: &Seen, n: usize) {
    let Some(body) = plan.packets.get(n) else {
        return;
    };
    let Ok(mut connection) = Connection::open(&plan.target).await else {
        return;
    };
    seen.connections.fetch_add(1, Ordering::Relaxed);
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
        plan.target.path, plan.target.authority, plan.auth, body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    seen.requests.fetch_add(1, Ordering::Relaxed);
    let began = Instant::now();
    if let Ok((status, _)) = connection.send(&request).await {
        seen.status(status);
        if let Ok(mut l) = seen.latencies_us.lock() {
            l.push(u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
    }
}

/// Resident memory of a process, sampled: the peak seen and the kernel's high-water mark.
pub struct RssSampler {
    pid: u32,
    peak_kib: AtomicU64,
}

impl RssSampler {
    pub fn new(pid: u32) -> anyhow::Result<Arc<RssSampler>> {
        let sampler = Arc::new(RssSampler {
            pid,
            peak_kib: AtomicU64::new(0),
        });
        sampler
            .field("VmRSS")
            .with_context(|| format!("cannot read /proc/{pid}/status"))?;
        Ok(sampler)
    }

    fn field(&self, name: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status.lines().find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(':')?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
    }

    /// Samples every 50 ms until `stop` is set.
    pub async fn sample(self: Arc<Self>, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Relaxed) {
            if let Some(kib) = self.field("VmRSS") {
                self.peak_kib.fetch_max(kib, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn report(&self, before_kib: Option<u64>) -> serde_json::Value {
        let mib = |kib: u64| (kib as f64 / 1024.0 * 10.0).round() / 10.0;
        serde_json::json!({
            "rss_before_mib": before_kib.map(mib),
            "peak_rss_mib": mib(self.peak_kib.load(Ordering::Relaxed)),
            "rss_after_mib": self.field("VmRSS").map(mib),
            "hwm_mib": self.field("VmHWM").map(mib),
        })
    }

    pub fn now_kib(&self) -> Option<u64> {
        self.field("VmRSS")
    }
}

/// `/healthz` every 200 ms on a fresh connection until `stop` is set: latencies and failures.
pub async fn probe_health(target: Target, stop: Arc<AtomicBool>) -> serde_json::Value {
    let mut latencies = Vec::new();
    let mut failures = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let began = Instant::now();
        let request = format!(
            "GET {}/healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            target.prefix, target.authority
        );
        let answer = tokio::time::timeout(Duration::from_secs(10), async {
            let mut c = Connection::open(&target).await?;
            c.send(request.as_bytes()).await
        })
        .await;
        match answer {
            Ok(Ok((200, _))) => {
                latencies.push(u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX))
            }
            _ => failures += 1,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    latencies.sort_unstable();
    serde_json::json!({
        "probes": latencies.len() as u64 + failures,
        "failures": failures,
        "p50_ms": percentile_ms(&latencies, 0.5),
        "p99_ms": percentile_ms(&latencies, 0.99),
        "max_ms": percentile_ms(&latencies, 1.0),
    })
}
