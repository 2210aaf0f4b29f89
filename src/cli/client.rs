//! `lienthong client …`: the exchange from an agency system's side, for scripts and for trying
//! the exchange by hand. Readable tables by default, the server's JSON with `--json`; refusals
//! as `error[CODE]: sentence` with the server's code, exit 1 (refused: do not retry the same
//! input) or 3 (unreachable or failing: retry later).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde_json::Value;

use lienthong::client::{Client, ClientError, Profile};

use super::{Failure, EXIT_UNAVAILABLE};

/// Where the server is and who is calling.
#[derive(Args)]
pub struct Connection {
    /// Base URL of the exchange, e.g. http://127.0.0.1:8080 (or LIENTHONG_URL).
    #[arg(long, global = true)]
    url: Option<String>,
    /// The system id of the agency's credential (or LIENTHONG_SYSTEM_ID).
    #[arg(long, global = true)]
    system_id: Option<String>,
    /// Its secret (or LIENTHONG_SECRET; prefer a profile file to a flag, which others may see).
    #[arg(long, global = true)]
    secret: Option<String>,
    /// A profile file (TOML: url, system_id, secret), e.g. data/dev-profiles/CODE.toml in dev
    /// mode (or LIENTHONG_PROFILE). Flags and variables win over it.
    #[arg(long, global = true)]
    profile: Option<PathBuf>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Args)]
#[command(after_help = "A letter from A to B, with the dev server's profiles:
  lienthong client --profile data/dev-profiles/000.00.00.G22.toml send signed.xml
  lienthong client --profile data/dev-profiles/000.00.00.H49.toml inbox
  lienthong client --profile data/dev-profiles/000.00.00.H49.toml fetch ID -o letter.xml
  lienthong client --profile data/dev-profiles/000.00.00.H49.toml ack DELIVERY
  lienthong client --profile data/dev-profiles/000.00.00.G22.toml status 000.00.00.G22 DOCUMENT_ID")]
pub struct ClientArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: ClientCommand,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Submit signed packets (letters or statuses); prints each one's id and DocumentId.
    Send {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List deliveries to this agency (letters for it, statuses about its letters).
    Inbox {
        /// Only deliveries after this number (the last one seen).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many (1-1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Wait until at least one delivery arrives (polling every two seconds).
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this many seconds (exit 0, nothing listed).
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Download a packet's bytes, exactly as signed, checked against their SHA-256.
    Fetch {
        id: String,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Acknowledge a delivery: this agency's system has taken it.
    Ack { delivery: i64 },
    /// A letter's state at each recipient and its status history.
    Status { sender: String, document_id: String },
    /// The exchange's signed receipt for a packet this agency sent (XML).
    Receipt {
        id: String,
        /// Write it to a file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// The exchange's signed delivery evidence for a packet this agency sent (XML): how and
    /// when each recipient's system took it, or that its push was given up.
    Evidence {
        id: String,
        /// Only this recipient's event (an agency code).
        #[arg(long)]
        recipient: Option<String>,
        /// Write it to a file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// Runs one `client` subcommand.
pub fn run(a: ClientArgs) -> Result<(), Failure> {
    let json = a.connection.json;
    let mut client = Client::new(profile(a.connection)?);
    client.progress = std::io::stderr().is_terminal();
    match a.command {
        ClientCommand::Send { files } => send(&client, &files, json),
        ClientCommand::Inbox {
            after,
            limit,
            wait,
            timeout,
        } => inbox(
            &client,
            after,
            limit,
            wait.then(|| Duration::from_secs(timeout)),
            json,
        ),
        ClientCommand::Fetch { id, output } => {
            let fetched = client.fetch(&id, &output).map_err(failure)?;
            if json {
                print_json(&serde_json::json!({
                    "id": id, "file": output.display().to_string(), "size": fetched.bytes,
                    "sha256": fetched.sha256, "sender": fetched.sender, "kind": fetched.kind,
                }));
            } else {
                println!(
                    "fetched {id} -> {} ({} bytes, {} from {}, sha256 {})",
                    output.display(),
                    fetched.bytes,
                    fetched.kind.as_deref().unwrap_or("packet"),
                    fetched.sender.as_deref().unwrap_or("?"),
                    fetched.sha256
                );
            }
            Ok(())
        }
        ClientCommand::Ack { delivery } => {
            let answer = client.ack(delivery).map_err(failure)?;
            if json {
                print_json(&answer);
            } else if answer["already_acked"] == true {
                println!(
                    "delivery {delivery} was already acknowledged at {}",
                    text(&answer["acked_at"])
                );
            } else {
                println!(
                    "acknowledged delivery {delivery} at {}",
                    text(&answer["acked_at"])
                );
            }
            Ok(())
        }
        ClientCommand::Status {
            sender,
            document_id,
        } => {
            let answer = client.status(&sender, &document_id).map_err(failure)?;
            if json {
                print_json(&answer);
            } else {
                print!("{}", status_table(&answer));
            }
            Ok(())
        }
        ClientCommand::Receipt { id, output } => {
            let receipt = client.receipt(&id).map_err(failure)?;
            match output {
                Some(path) => super::write_file(&path, receipt.as_bytes()),
                None => {
                    print!("{receipt}");
                    Ok(())
                }
            }
        }
        ClientCommand::Evidence {
            id,
            recipient,
            output,
        } => {
            let evidence = client
                .evidence(&id, recipient.as_deref())
                .map_err(failure)?;
            match output {
                Some(path) => super::write_file(&path, evidence.as_bytes()),
                None => {
                    print!("{evidence}");
                    Ok(())
                }
            }
        }
    }
}

/// Flags, then `LIENTHONG_*` variables, then the profile file.
fn profile(c: Connection) -> Result<Profile, Failure> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let file = c
        .profile
        .or_else(|| var("LIENTHONG_PROFILE").map(PathBuf::from));
    let from_file = match &file {
        Some(path) => {
            Some(Profile::load(path).map_err(|e| Failure::new("cli.profile", e.to_string()))?)
        }
        None => None,
    };
    let pick = |flag: Option<String>, variable: &str, field: fn(&Profile) -> &String| {
        flag.or_else(|| var(variable))
            .or_else(|| from_file.as_ref().map(|p| field(p).clone()))
    };
    let url = pick(c.url, "LIENTHONG_URL", |p| &p.url);
    let system_id = pick(c.system_id, "LIENTHONG_SYSTEM_ID", |p| &p.system_id);
    let secret = pick(c.secret, "LIENTHONG_SECRET", |p| &p.secret);
    match (url, system_id, secret) {
        (Some(url), Some(system_id), Some(secret)) => Ok(Profile {
            url,
            system_id,
            secret,
        }),
        (url, system_id, secret) => {
            let missing: Vec<&str> = [
                (url.is_none(), "--url (LIENTHONG_URL)"),
                (system_id.is_none(), "--system-id (LIENTHONG_SYSTEM_ID)"),
                (secret.is_none(), "--secret (LIENTHONG_SECRET)"),
            ]
            .into_iter()
            .filter_map(|(absent, name)| absent.then_some(name))
            .collect();
            Err(Failure::usage(format!(
                "missing {}: give them, or --profile FILE (dev mode writes one per demo agency \
                 under data/dev-profiles/)",
                missing.join(", ")
            )))
        }
    }
}

fn failure(e: ClientError) -> Failure {
    let mut f = Failure::new(e.code(), e.to_string());
    if e.is_transient() {
        f.exit = EXIT_UNAVAILABLE;
    }
    f
}

fn print_json(value: &Value) {
    println!("{value}");
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// Sends every file; a refused file does not stop the others. Fails at the end with the worst
/// outcome (unavailable before refused), after saying how many were accepted.
fn send(client: &Client, files: &[PathBuf], json: bool) -> Result<(), Failure> {
    let mut worst: Option<Failure> = None;
    let mut accepted = 0;
    for file in files {
        match client.send(file) {
            Ok(answer) => {
                accepted += 1;
                if json {
                    print_json(&answer);
                } else {
                    println!(
                        "{} {}  id {}  {} {}",
                        if answer["replayed"] == true {
                            "replayed"
                        } else {
                            "accepted"
                        },
                        file.display(),
                        text(&answer["id"]),
                        text(&answer["kind"]),
                        text(&answer["document_id"])
                    );
                }
            }
            Err(e) => {
                let f = failure(e);
                eprintln!("error[{}]: {}: {}", f.code, file.display(), f.message);
                if worst.as_ref().map_or(true, |w| f.exit > w.exit) {
                    worst = Some(f);
                }
            }
        }
    }
    match worst {
        None => Ok(()),
        // One file: its refusal was the whole story, already told.
        Some(mut f) if files.len() == 1 => {
            f.message = format!("{} not accepted", files[0].display());
            Err(f)
        }
        Some(mut f) => {
            f.message = format!(
                "{accepted} of {} packets accepted (the refusals are above)",
                files.len()
            );
            Err(f)
        }
    }
}

fn inbox(
    client: &Client,
    after: i64,
    limit: u32,
    wait: Option<Duration>,
    json: bool,
) -> Result<(), Failure> {
    let started = Instant::now();
    let page = loop {
        let page = client.inbox(after, limit).map_err(failure)?;
        let empty = page["deliveries"].as_array().map_or(true, Vec::is_empty);
        match wait {
            Some(limit) if empty && started.elapsed() < limit => {
                std::thread::sleep(Duration::from_secs(2))
            }
            _ => break page,
        }
    };
    if json {
        print_json(&page);
    } else {
        print!("{}", inbox_table(&page));
    }
    Ok(())
}

/// Rows of cells, padded to the widest cell of each column.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

fn inbox_table(page: &Value) -> String {
    let deliveries = page["deliveries"].as_array().cloned().unwrap_or_default();
    if deliveries.is_empty() {
        return "no deliveries\n".to_owned();
    }
    let rows: Vec<Vec<String>> = deliveries
        .iter()
        .map(|d| {
            vec![
                text(&d["delivery"]),
                match d["status_code"].as_str() {
                    Some(code) => format!("status {code}"),
                    None => text(&d["kind"]),
                },
                text(&d["sender"]),
                text(&d["document_id"]),
                text(&d["size"]),
                text(&d["received_at"]),
                text(&d["acked_at"]),
                text(&d["packet_id"]),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "DELIVERY",
            "KIND",
            "SENDER",
            "DOCUMENT_ID",
            "BYTES",
            "RECEIVED",
            "ACKED",
            "PACKET_ID",
        ],
        &rows,
    );
    out.push_str(&format!(
        "{} deliveries; next: --after {}\n",
        deliveries.len(),
        text(&page["next_after"])
    ));
    out
}

fn status_table(document: &Value) -> String {
    let mut out = format!(
        "{} {}  \"{}\"\n\n",
        text(&document["sender"]),
        text(&document["document_id"]),
        text(&document["subject"])
    );
    let list = |key: &str| document[key].as_array().cloned().unwrap_or_default();
    let recipients: Vec<Vec<String>> = list("recipients")
        .iter()
        .map(|r| {
            vec![
                text(&r["recipient"]),
                text(&r["state"]),
                text(&r["pending"]),
                text(&r["updated_at"]),
            ]
        })
        .collect();
    out.push_str(&table(
        &["RECIPIENT", "STATE", "PENDING", "UPDATED"],
        &recipients,
    ));
    let history: Vec<Vec<String>> = list("history")
        .iter()
        .map(|h| {
            vec![
                text(&h["at"]),
                text(&h["reporter"]),
                text(&h["status_code"]),
                text(&h["description"]),
            ]
        })
        .collect();
    if !history.is_empty() {
        out.push('\n');
        out.push_str(&table(
            &["AT", "REPORTER", "STATUS", "DESCRIPTION"],
            &history,
        ));
    }
    out
}
