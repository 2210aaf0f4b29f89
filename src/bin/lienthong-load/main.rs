//! Load generator for `POST /v1/packets`: pre-signs distinct packets with the dev PKI, sends
//! them over keep-alive HTTP/1.1 connections at a chosen concurrency (optionally at a target
//! rate) and prints one JSON line of counts, throughput and latency percentiles.
//!
//!     cargo run --release --bin lienthong-load -- --url http://127.0.0.1:8080 \
//!         --system-id ID --secret SECRET --packets 20000 --concurrency 64 [--rate 2500]
//!
//! Run it from the repository root (the dev PKI is read from `certs/dev`, or `--certs`).
//!
//! With `--attack KIND --attack-system-id ID --attack-secret SECRET` (a second agency's
//! credential, H08 of the dev directory) a hostile client runs beside the normal load, and the
//! report adds what it saw, the server's peak RSS (`--server-pid`) and `/healthz` latency:
//!
//!     lienthong-load --url http://127.0.0.1:8080 --system-id G22-ID --secret G22-SECRET \
//!         --packets 30000 --rate 500 --concurrency 64 \
//!         --attack slow-uploads --attackers 200 \
//!         --attack-system-id H08-ID --attack-secret H08-SECRET --server-pid PID

mod attack;
mod sink;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use base64::Engine as _;
use clap::Parser;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use lienthong::dsig::{self, SignOptions};
use lienthong::edxml::{self, DocumentId, MessagePacket, NonEmpty, OrganId, Organization};
use lienthong::xml::reader::Limits;

/// Response headers larger than this are refused (a server gone wrong, not a load result).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Refusal bodies up to this size are read and reported.
const MAX_REFUSAL_BYTES: usize = 4096;
/// Response bodies larger than this are refused.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

#[derive(Parser, Debug)]
#[command(about = "Sends pre-signed edXML packets to POST /v1/packets and reports latency")]
struct Args {
    /// Base URL of the server, `http://host:port` (plain HTTP only).
    #[arg(long)]
    url: String,
    /// System id of the G22 demo agency (printed as a `dev credential` line on first start).
    #[arg(long)]
    system_id: String,
    /// Secret that goes with the system id.
    #[arg(long)]
    secret: String,
    /// Number of distinct packets to sign and send.
    #[arg(long, default_value_t = 1000)]
    packets: usize,
    /// Connections sending in parallel (each keeps one request in flight).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Target send rate, e.g. `2500` or `2500/s`; without it, as fast as the server answers.
    #[arg(long, value_parser = parse_rate)]
    rate: Option<f64>,
    /// Approximate packet size in bytes (an attachment pads it).
    #[arg(long, default_value_t = 2048)]
    size: usize,
    /// How the packets' DocumentIds look: `numbered` as agencies number their letters
    /// (`000.00.00.G22,2026/11/27,123/BTN-VP`, the form the national axis sees most), or
    /// `uuid` (random, the worst case for the database's indexes).
    #[arg(long, value_enum, default_value_t = DocumentIds::Numbered)]
    document_ids: DocumentIds,
    /// Directory of the dev PKI.
    #[arg(long, default_value = "certs/dev")]
    certs: PathBuf,
    /// A hostile client to run beside the normal load (only against this machine).
    #[arg(long, value_enum)]
    attack: Option<attack::Attack>,
    /// Attacking connections (at most 5,000).
    #[arg(long, default_value_t = 8)]
    attackers: usize,
    /// System id of the attacking agency (H08 of the dev directory).
    #[arg(long)]
    attack_system_id: Option<String>,
    /// Its secret.
    #[arg(long)]
    attack_secret: Option<String>,
    /// Bytes of the attack's packets: announced by slow uploads (default 67108864), sent by big
    /// uploads and read by stalled downloads (default 30000000).
    #[arg(long)]
    attack_size: Option<usize>,
    /// The attack stops with the normal load, or after this many seconds.
    #[arg(long, default_value_t = 300)]
    attack_seconds: u64,
    /// Run a push endpoint on this address (e.g. `127.0.0.1:18099`) that answers 200 to every
    /// push, and report the pushes it took (point the recipients' endpoints at it first:
    /// `lienthong agency push CODE --endpoint http://ADDR/`).
    #[arg(long)]
    push_sink: Option<String>,
    /// The server's process id, to report its resident memory (Linux /proc).
    #[arg(long)]
    server_pid: Option<u32>,
}

/// The form of the DocumentIds the load tool gives its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DocumentIds {
    Numbered,
    Uuid,
}

impl DocumentIds {
    /// The DocumentId of the `n`th packet of a run that started on `day` (`yyyy/MM/dd`);
    /// `run` keeps two runs against one database apart.
    fn make(self, n: usize, day: &str, run: u32) -> anyhow::Result<DocumentId> {
        match self {
            DocumentIds::Numbered => {
                DocumentId::parse(&format!("000.00.00.G22,{day},{run}-{n}/BTN-VP"))
                    .map_err(|e| anyhow!(e))
            }
            DocumentIds::Uuid => Ok(DocumentId::generate()),
        }
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let number = text.strip_suffix("/s").unwrap_or(text);
    match number.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "`{text}` is not a positive rate; write e.g. 2500 or 2500/s"
        )),
    }
}

/// Where to connect and what to put in the request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) authority: String,
    /// The URL's path before `/v1` (empty for a server at the root).
    prefix: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> anyhow::Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("--url must start with http:// (got `{url}`)"))?;
        let (authority, prefix) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if authority.is_empty() {
            bail!("--url `{url}` names no host");
        }
        let authority = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let prefix = prefix.trim_end_matches('/').to_owned();
        Ok(Target {
            authority,
            path: format!("{prefix}/v1/packets"),
            prefix,
        })
    }
}

/// Demo agencies of the dev directory: code and name.
const G22: (&str, &str) = ("000.00.00.G22", "Bộ Thử nghiệm Liên thông");
const H08: (&str, &str) = ("000.00.00.H08", "Ủy ban nhân dân tỉnh thử nghiệm");
const NORMAL_RECIPIENTS: [(&str, &str); 3] = [
    ("000.00.00.H49", "Ủy ban nhân dân tỉnh Quảng Ninh"),
    (
        "000.01.01.H49",
        "Sở Thông tin và Truyền thông tỉnh Quảng Ninh",
    ),
    H08,
];

/// The signing identity of a demo agency, and whom its letters go to.
struct Signer {
    key: PKey<Private>,
    cert: X509,
    chain: Vec<X509>,
    from: (&'static str, &'static str),
    to: Vec<(&'static str, &'static str)>,
}

impl Signer {
    /// The agency `from` with its RSA-2048 dev key, writing to `to`.
    fn load(
        dir: &Path,
        from: (&'static str, &'static str),
        to: &[(&'static str, &'static str)],
    ) -> anyhow::Result<Signer> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
        };
        Ok(Signer {
            key: PKey::private_key_from_pem(&read(&format!("agency-{}-rsa2048.key.pem", from.0))?)?,
            cert: X509::from_pem(&read(&format!("agency-{}-rsa2048.pem", from.0))?)?,
            chain: X509::stack_from_pem(&read("intermediates.pem")?)?,
            from,
            to: to.to_vec(),
        })
    }

    /// One signed packet with a fresh DocumentId, about `size` bytes before signing.
    fn packet(&self, size: usize, seed: u64, id: DocumentId) -> anyhow::Result<Vec<u8>> {
        let org = |code: &str, name: &str| -> anyhow::Result<Organization> {
            Ok(Organization::new(OrganId::parse(code)?, name))
        };
        let recipients = self
            .to
            .iter()
            .map(|(code, name)| org(code, name))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut letter = MessagePacket::new_document(
            org(self.from.0, self.from.1)?,
            NonEmpty::from_vec(recipients).ok_or_else(|| anyhow!("no recipients"))?,
            "Về việc triển khai gửi, nhận văn bản điện tử giữa các cơ quan nhà nước",
        );
        letter.header.document_id = id;
        let bare = edxml::write(&letter.clone().into())?.len();
        // As benches/verify.rs: the attachment (base64, 4/3) pads the unsigned packet to `size`.
        let payload = size.saturating_sub(bare + 600) * 3 / 4;
        letter.attach(
            "van-ban.pdf",
            "application/pdf",
            noise(payload.max(16), seed),
        );
        let unsigned = edxml::write(&letter.into())?;
        Ok(dsig::sign(
            &unsigned,
            &self.key,
            &self.cert,
            &self.chain,
            &SignOptions::default(),
            Limits::default(),
        )?)
    }
}

/// Pseudo-random bytes (xorshift) so that the attachment looks like a compressed file.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What the packets of a run look like.
struct Shape {
    count: usize,
    size: usize,
    ids: DocumentIds,
    /// Today, `yyyy/MM/dd`, for numbered DocumentIds.
    day: String,
    /// Tells this run's numbered DocumentIds from another's.
    run: u32,
}

/// Signs the packets of a run on all cores.
fn sign_all(signer: &Signer, shape: &Shape) -> anyhow::Result<Vec<Vec<u8>>> {
    let count = shape.count;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = count.div_ceil(threads).max(1);
    let parts: Vec<anyhow::Result<Vec<Vec<u8>>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(per)
            .map(|start| {
                let end = (start + per).min(count);
                scope.spawn(move || {
                    (start..end)
                        .map(|i| {
                            let id = shape.ids.make(i, &shape.day, shape.run)?;
                            signer.packet(shape.size, 0x9E37_79B9_7F4A_7C15 ^ i as u64, id)
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a signing thread panicked")))
            })
            .collect()
    });
    let mut packets = Vec::with_capacity(count);
    for part in parts {
        packets.extend(part?);
    }
    Ok(packets)
}

/// One keep-alive connection.
struct Connection {
    stream: BufReader<TcpStream>,
    /// The body of the last refusal read on this connection.
    refusal: Option<String>,
}

impl Connection {
    async fn open(target: &Target) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(&target.authority)
            .await
            .with_context(|| format!("cannot connect to {}", target.authority))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream: BufReader::new(stream),
            refusal: None,
        })
    }

    /// Sends one request (head and body, written at once so that they leave in as few
    /// segments as possible) and reads the whole answer; returns the status and whether the
    /// connection may be reused.
    async fn send(&mut self, request: &[u8]) -> anyhow::Result<(u16, bool)> {
        let stream = self.stream.get_mut();
        stream.write_all(request).await?;
        let (status, length, chunked, keep) = self.read_head().await?;
        match (chunked, length) {
            (true, _) => self.skip_chunked().await?,
            // A refusal's body says why (`{"code": …}`): worth reading, it is small.
            (false, Some(n)) if status >= 400 && n <= MAX_REFUSAL_BYTES => {
                let mut body = vec![0; n];
                self.stream.read_exact(&mut body).await?;
                self.refusal = Some(String::from_utf8_lossy(&body).into_owned());
            }
            (false, n) => self.skip(n.unwrap_or(0)).await?,
        }
        Ok((status, keep && (length.is_some() || chunked)))
    }

    /// Sends one request and reads the whole answer: status and body.
    async fn fetch(&mut self, request: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        self.stream.get_mut().write_all(request).await?;
        let (status, length, chunked, _) = self.read_head().await?;
        if chunked {
            bail!("a chunked answer where a JSON body was expected");
        }
        let mut body = vec![0; length.unwrap_or(0)];
        self.stream.read_exact(&mut body).await?;
        Ok((status, body))
    }

    async fn read_head(&mut self) -> anyhow::Result<(u16, Option<usize>, bool, bool)> {
        let mut line = String::new();
        let mut seen = 0;
        self.read_line(&mut line, &mut seen).await?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| anyhow!("malformed status line `{}`", line.trim_end()))?;
        let (mut length, mut chunked, mut keep) = (None, false, true);
        loop {
            line.clear();
            self.read_line(&mut line, &mut seen).await?;
            let header = line.trim_end();
            if header.is_empty() {
                return Ok((status, length, chunked, keep));
            }
            let Some((name, value)) = header.split_once(':') else {
                bail!("malformed header line `{header}`");
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => {
                    let n: usize = value.parse().context("malformed Content-Length")?;
                    if n > MAX_BODY_BYTES {
                        bail!("response body of {n} bytes is too large");
                    }
                    length = Some(n);
                }
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => keep = !value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }

    async fn read_line(&mut self, line: &mut String, seen: &mut usize) -> anyhow::Result<()> {
        let n = self.stream.read_line(line).await?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        *seen += n;
        if *seen > MAX_HEAD_BYTES {
            bail!("response head over {MAX_HEAD_BYTES} bytes");
        }
        Ok(())
    }

    async fn skip(&mut self, len: usize) -> anyhow::Result<()> {
        let copied = tokio::io::copy(
            &mut (&mut self.stream).take(len as u64),
            &mut tokio::io::sink(),
        )
        .await?;
        if copied != len as u64 {
            bail!("the server closed the connection mid-body");
        }
        Ok(())
    }

    async fn skip_chunked(&mut self) -> anyhow::Result<()> {
        let mut total = 0usize;
        loop {
            let mut line = String::new();
            let mut seen = 0;
            self.read_line(&mut line, &mut seen).await?;
            let size_text = line.trim_end().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size_text.trim(), 16)
                .with_context(|| format!("malformed chunk size `{size_text}`"))?;
            total = total.saturating_add(size);
            if total > MAX_BODY_BYTES {
                bail!("chunked response body too large");
            }
            // Each chunk (and the final zero chunk) ends with CRLF.
            self.skip(size + 2).await?;
            if size == 0 {
                return Ok(());
            }
        }
    }
}

/// What one worker observed.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    last_error: Option<String>,
    last_refusal: Option<String>,
}

struct Shared {
    target: Target,
    auth: String,
    packets: Vec<Vec<u8>>,
    next: AtomicUsize,
    start: Instant,
    rate: Option<f64>,
}

async fn worker(shared: Arc<Shared>) -> Tally {
    let mut tally = Tally::default();
    let mut connection: Option<Connection> = None;
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let Some(body) = shared.packets.get(i) else {
            return tally;
        };
        if let Some(rate) = shared.rate {
            let due = shared.start + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let mut request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\n\
             Content-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
            shared.target.path,
            shared.target.authority,
            shared.auth,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        let began = Instant::now();
        let result = async {
            if connection.is_none() {
                connection = Some(Connection::open(&shared.target).await?);
            }
            match connection.as_mut() {
                Some(c) => c.send(&request).await,
                None => bail!("no connection"),
            }
        }
        .await;
        match result {
            Ok((status, keep)) => {
                if let Some(body) = connection.as_mut().and_then(|c| c.refusal.take()) {
                    tally.last_refusal = Some(format!("{status} {body}"));
                }
                tally
                    .latencies_us
                    .push(u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX));
                *tally.statuses.entry(status).or_default() += 1;
                if !keep {
                    connection = None;
                }
            }
            Err(e) => {
                tally.errors += 1;
                tally.last_error = Some(format!("{e:#}"));
                connection = None;
            }
        }
    }
}

/// One authenticated request before the clock starts: the server checks a secret with
/// argon2 once and then remembers it, and that first check is not what a run measures.
async fn warm_up(target: &Target, auth: &str) -> anyhow::Result<()> {
    let request = format!(
        "GET {}/v1/agencies/000.00.00.G22 HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\n\r\n",
        target.prefix, target.authority, auth
    );
    let (status, _) = Connection::open(target)
        .await?
        .send(request.as_bytes())
        .await?;
    if status != 200 {
        bail!("the warm-up request was answered {status}: check --system-id and --secret");
    }
    Ok(())
}

/// The server's writer counters (its /metrics), read before and after the load so that the
/// report shows what the writer did while the letters came in, apart from the work after.
#[derive(Debug, Clone, Copy, Default)]
struct WriterCounters {
    commits: f64,
    background_batches: f64,
    units_committed: f64,
    commit_seconds: f64,
}

impl WriterCounters {
    fn parse(text: &str) -> WriterCounters {
        let value = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        WriterCounters {
            commits: value("lienthong_writer_commits_total"),
            background_batches: value("lienthong_writer_background_batches_total"),
            units_committed: value("lienthong_writer_units_committed_total"),
            commit_seconds: value("lienthong_writer_commit_seconds_sum"),
        }
    }

    fn since(&self, before: &WriterCounters) -> serde_json::Value {
        serde_json::json!({
            "commits": self.commits - before.commits,
            "background_batches": self.background_batches - before.background_batches,
            "units_committed": self.units_committed - before.units_committed,
            "commit_seconds": ((self.commit_seconds - before.commit_seconds) * 1000.0).round() / 1000.0,
        })
    }
}

/// The writer's counters now; none when /metrics cannot be read (the report then leaves them
/// out rather than failing the run).
async fn writer_counters(target: &Target) -> Option<WriterCounters> {
    let request = format!(
        "GET {}/metrics HTTP/1.1\r\nHost: {}\r\n\r\n",
        target.prefix, target.authority
    );
    let (status, body) = Connection::open(target)
        .await
        .ok()?
        .fetch(request.as_bytes())
        .await
        .ok()?;
    (status == 200).then(|| WriterCounters::parse(&String::from_utf8_lossy(&body)))
}

/// CPU time (user + system) this process has used so far (Linux; none elsewhere).
fn own_cpu_seconds() -> Option<f64> {
    cpu_seconds("self")
}

/// CPU time (user + system) process `pid` ("self", or a number) has used so far, from
/// `/proc/PID/stat` (Linux; none elsewhere).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at its closing ')'.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 of the line (11 and 12 counted from 0 after the
    // name); the kernel counts them in USER_HZ, which is 100 on every Linux this tool targets.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// The value at quantile `q` of sorted latencies, in milliseconds.
fn percentile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted_us.len() as f64).ceil() as usize;
    let index = rank.saturating_sub(1).min(sorted_us.len() - 1);
    sorted_us.get(index).map_or(0.0, |us| *us as f64 / 1000.0)
}

fn report(tallies: Vec<Tally>, elapsed: Duration, sent: usize) -> serde_json::Value {
    let mut latencies = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut errors = 0;
    let mut last_error = None;
    let mut last_refusal = None;
    for t in tallies {
        latencies.extend(t.latencies_us);
        for (status, n) in t.statuses {
            *statuses.entry(status).or_default() += n;
        }
        errors += t.errors;
        last_error = t.last_error.or(last_error);
        last_refusal = t.last_refusal.or(last_refusal);
    }
    latencies.sort_unstable();
    let accepted = statuses.get(&202).copied().unwrap_or(0);
    let refused: serde_json::Map<String, serde_json::Value> = statuses
        .iter()
        .filter(|(status, _)| **status != 202)
        .map(|(status, n)| (status.to_string(), (*n).into()))
        .collect();
    let secs = elapsed.as_secs_f64();
    let round = |x: f64| (x * 100.0).round() / 100.0;
    serde_json::json!({
        "sent": sent,
        "accepted": accepted,
        "refused": refused,
        "errors": errors,
        "last_error": last_error,
        "last_refusal": last_refusal,
        "elapsed_s": round(secs),
        "accepts_per_s": round(if secs > 0.0 { accepted as f64 / secs } else { 0.0 }),
        "latency_ms": {
            "p50": round(percentile_ms(&latencies, 0.50)),
            "p90": round(percentile_ms(&latencies, 0.90)),
            "p99": round(percentile_ms(&latencies, 0.99)),
            "max": round(latencies.last().map_or(0.0, |us| *us as f64 / 1000.0)),
        },
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let target = Target::parse(&args.url)?;
    let signer = Signer::load(&args.certs, G22, &NORMAL_RECIPIENTS)?;
    let signing = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let shape = Shape {
        count: args.packets,
        size: args.size,
        ids: args.document_ids,
        day: format!(
            "{:04}/{:02}/{:02}",
            now.year(),
            u8::from(now.month()),
            now.day()
        ),
        run: u32::try_from(now.unix_timestamp() % 1_000_000).unwrap_or(0),
    };
    let packets = tokio::task::block_in_place(|| sign_all(&signer, &shape))?;
    let sink = args
        .push_sink
        .as_deref()
        .map(sink::Sink::start)
        .transpose()?;
    eprintln!(
        "signed {} packets of ~{} bytes in {:.1} s",
        packets.len(),
        packets.first().map_or(0, Vec::len),
        signing.elapsed().as_secs_f64()
    );
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", args.system_id, args.secret));
    warm_up(&target, &auth).await?;
    let attack = match args.attack {
        Some(kind) => Some(prepare_attack(&args, kind, &target, &shape).await?),
        None => None,
    };
    let sampler = match args.server_pid {
        Some(pid) => Some(attack::RssSampler::new(pid)?),
        None => None,
    };
    let rss_before = sampler.as_ref().and_then(|s| s.now_kib());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampling = sampler
        .clone()
        .map(|s| tokio::spawn(s.sample(stop.clone())));
    let probing = attack
        .is_some()
        .then(|| tokio::spawn(attack::probe_health(target.clone(), stop.clone())));
    let seen = Arc::new(attack::Seen::default());
    let attackers = attack.map(|plan| {
        let until = tokio::time::Instant::now() + Duration::from_secs(args.attack_seconds);
        attack::start(Arc::new(plan), seen.clone(), until)
    });
    if attackers.is_some() {
        // Let the attack take hold before the normal clients start.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let cpu_before = own_cpu_seconds();
    let writer_before = writer_counters(&target).await;
    let server_pid = args.server_pid.map(|pid| pid.to_string());
    let server_cpu_before = server_pid.as_deref().and_then(cpu_seconds);
    let sent = packets.len();
    let shared = Arc::new(Shared {
        target,
        auth,
        packets,
        next: AtomicUsize::new(0),
        start: Instant::now(),
        rate: args.rate,
    });
    let workers: Vec<_> = (0..args.concurrency.min(sent.max(1)))
        .map(|_| tokio::spawn(worker(Arc::clone(&shared))))
        .collect();
    let mut tallies = Vec::with_capacity(workers.len());
    for w in workers {
        tallies.push(w.await.context("a load worker panicked")?);
    }
    let elapsed = shared.start.elapsed();
    let load_end = Instant::now();
    let server_cpu_during_load = server_pid
        .as_deref()
        .and_then(cpu_seconds)
        .zip(server_cpu_before)
        .map(|(after, before)| after - before);
    let pushed_during_load = sink.as_ref().map_or(0, |s| s.received());
    let writer_after = writer_counters(&shared.target).await;
    let mut summary = report(tallies, elapsed, sent);
    if let (Some(before), Some(after)) = (writer_before, writer_after) {
        summary["writer_during_load"] = after.since(&before);
    }
    if let Some(sink) = sink {
        // Every accepted letter goes to each of its recipients.
        let accepted = summary["accepted"].as_u64().unwrap_or(0);
        let expected = accepted * NORMAL_RECIPIENTS.len() as u64;
        summary["pushes"] = tokio::task::block_in_place(|| {
            sink.report(
                expected,
                Duration::from_secs(10),
                load_end,
                pushed_during_load,
            )
        });
    }
    if let Some(mut attackers) = attackers {
        if args.attack == Some(attack::Attack::BigUploads) {
            // The uploads are the measurement: let them all finish.
            while attackers.join_next().await.is_some() {}
        }
        drop(attackers);
        summary["attack"] = seen.report();
        summary["attack"]["kind"] = args
            .attack
            .and_then(|a| clap::ValueEnum::to_possible_value(&a))
            .map(|v| v.get_name().to_owned())
            .into();
        summary["attack"]["attackers"] = args.attackers.into();
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(probing) = probing {
        summary["healthz"] = probing.await.context("the health probe panicked")?;
    }
    if let (Some(sampling), Some(sampler)) = (sampling, sampler) {
        sampling.await.context("the RSS sampler panicked")?;
        summary["server"] = sampler.report(rss_before);
        if let Some(cpu) = server_cpu_during_load {
            // The server's CPU while the letters were being sent (not the work left after).
            summary["server"]["cpu_during_load_s"] = ((cpu * 100.0).round() / 100.0).into();
        }
    }
    if let (Some(before), Some(after)) = (cpu_before, own_cpu_seconds()) {
        // What sending cost this tool: on a shared machine, the server had the rest.
        summary["load_tool_cpu_s"] = (((after - before) * 100.0).round() / 100.0).into();
    }
    println!("{summary}");
    Ok(())
}

/// The attack's plan: its credential, and the packets it sends or reads (signed as H08 and
/// sent to G22; a packet to read is submitted first).
async fn prepare_attack(
    args: &Args,
    kind: attack::Attack,
    target: &Target,
    shape: &Shape,
) -> anyhow::Result<attack::Plan> {
    attack::check_loopback(target)?;
    if args.attackers == 0 || args.attackers > 5000 {
        bail!("--attackers must be between 1 and 5000");
    }
    let (Some(system_id), Some(secret)) = (&args.attack_system_id, &args.attack_secret) else {
        bail!("--attack needs --attack-system-id and --attack-secret (a second agency, e.g. H08)");
    };
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{system_id}:{secret}"));
    if kind != attack::Attack::WrongSecrets {
        warm_up(target, &basic).await?;
    }
    let size = args.attack_size.unwrap_or(match kind {
        attack::Attack::SlowUploads => 67_108_864,
        _ => 30_000_000,
    });
    let signer = Signer::load(&args.certs, H08, &[G22])?;
    let sign = |count: usize| {
        let shape = Shape {
            count,
            size,
            ids: DocumentIds::Uuid,
            day: shape.day.clone(),
            run: shape.run,
        };
        tokio::task::block_in_place(|| sign_all(&signer, &shape))
    };
    let mut plan = attack::Plan {
        attack: kind,
        attackers: args.attackers,
        target: target.clone(),
        auth: format!("Basic {basic}"),
        system_id: system_id.clone(),
        size,
        packets: Vec::new(),
        packet_id: None,
    };
    match kind {
        attack::Attack::BigUploads => plan.packets = sign(args.attackers)?,
        attack::Attack::StalledDownloads => {
            let packet = sign(1)?.pop().context("no packet signed")?;
            let mut request = format!(
                "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {basic}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
                target.path, target.authority, packet.len()
            )
            .into_bytes();
            request.extend_from_slice(&packet);
            let (status, body) = Connection::open(target).await?.fetch(&request).await?;
            if status != 202 {
                bail!(
                    "the packet to read was answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            let answer: serde_json::Value = serde_json::from_slice(&body)?;
            plan.packet_id = answer["id"].as_str().map(str::to_owned);
        }
        _ => {}
    }
    eprintln!("attack ready: {kind:?} with {} connections", args.attackers);
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_accepts_plain_and_per_second() {
        assert_eq!(parse_rate("2500"), Ok(2500.0));
        assert_eq!(parse_rate("12.5/s"), Ok(12.5));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn target_defaults_port_and_keeps_prefix() {
        let t = Target::parse("http://example.org/api/").expect("valid");
        assert_eq!(t.authority, "example.org:80");
        assert_eq!(t.path, "/api/v1/packets");
        let t = Target::parse("http://127.0.0.1:8080").expect("valid");
        assert_eq!(t.path, "/v1/packets");
        assert!(Target::parse("https://x").is_err());
        assert!(Target::parse("http:///x").is_err());
    }

    #[test]
    fn percentiles_pick_nearest_rank() {
        let us: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile_ms(&us, 0.50), 50.0);
        assert_eq!(percentile_ms(&us, 0.99), 99.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }
}
