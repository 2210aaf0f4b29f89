//! A new user's first run, as README gives it, from a folder that is not the repository: the
//! installed binary's `serve` in dev mode (nothing configured but the port, which must not
//! leave dev mode), then one letter A → B through `lienthong packet` and `lienthong client`
//! alone — send, inbox, fetch, ack, a signed 03 without 01, status — with the dev PKI and the
//! client profiles the server wrote under `./data`. Also: a configuration that cannot work
//! leaves nothing behind, and `config check` reports every problem at once.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const A: &str = "000.00.00.G22";
const B: &str = "000.00.00.H49";

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_lienthong")
}

/// The binary in `dir` with no `LIENTHONG_*` variable from the test's own environment.
fn command(dir: &Path) -> Command {
    let mut command = Command::new(binary());
    command.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LIENTHONG_") {
            command.env_remove(key);
        }
    }
    command
}

fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir)
        .args(args)
        .output()
        .expect("run the lienthong binary")
}

fn ok(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// `lienthong serve` running in a folder; killed when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `lienthong serve` in `dir` with only the port chosen (by variable: it must keep dev
/// mode), and waits for `listening on URL`.
fn serve(dir: &Path) -> (Serve, String) {
    let mut child = command(dir)
        .arg("serve")
        .env("LIENTHONG_HTTP_BIND", "127.0.0.1:0")
        .env("LIENTHONG_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start lienthong serve");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let server = Serve(child);
    loop {
        let line = received
            .recv_timeout(Duration::from_secs(60))
            .expect("the server says where it listens");
        if let Some(url) = line.strip_prefix("listening on ") {
            return (server, url.to_owned());
        }
    }
}

fn profile(dir: &Path, agency: &str) -> String {
    dir.join(format!("data/dev-profiles/{agency}.toml"))
        .display()
        .to_string()
}

fn pki(dir: &Path, name: &str) -> String {
    dir.join("data/dev-pki").join(name).display().to_string()
}

fn client_json(dir: &Path, agency: &str, args: &[&str]) -> Value {
    let profile = profile(dir, agency);
    let mut all = vec!["client", "--profile", profile.as_str(), "--json"];
    all.extend_from_slice(args);
    let text = ok(run(dir, &all), &format!("client {args:?}"));
    serde_json::from_str(text.trim()).expect("JSON output")
}

fn signing(dir: &Path, agency: &str) -> [String; 6] {
    [
        "--key".into(),
        pki(dir, &format!("agency-{agency}-rsa2048.key.pem")),
        "--cert".into(),
        pki(dir, &format!("agency-{agency}-rsa2048.pem")),
        "--chain".into(),
        pki(dir, "intermediates.pem"),
    ]
}

#[test]
fn a_letter_goes_from_a_to_b_with_the_binary_alone_from_an_empty_folder() {
    let folder = tempfile::tempdir().expect("tempdir");
    let dir = folder.path();
    let (_server, url) = serve(dir);
    assert!(dir.join("data/dev-pki/trust.pem").is_file());
    let g22 = std::fs::read_to_string(profile(dir, A)).expect("A's dev profile");
    assert!(g22.contains(&url), "{g22}");

    // A writes, signs and sends a real letter.
    std::fs::write(dir.join("cv.txt"), "Công văn số 15/BTN-VP\n").expect("attachment");
    let mut build = vec![
        "packet",
        "build",
        "--from",
        A,
        "--to",
        B,
        "--number",
        "15",
        "--notation",
        "BTN-VP",
        "--place",
        "Hà Nội",
        "--date",
        "2026-12-05",
        "--priority",
        "khan",
        "--signer",
        "Nguyễn Văn A",
        "--subject",
        "Về việc triển khai gửi, nhận văn bản điện tử",
        "--attach",
        "cv.txt",
        "-o",
        "letter.xml",
    ];
    let a_keys = signing(dir, A);
    build.extend(a_keys.iter().map(String::as_str));
    ok(run(dir, &build), "packet build");
    let sent = client_json(dir, A, &["send", "letter.xml"]);
    let document_id = "000.00.00.G22,2026/12/05,15/BTN-VP";
    assert_eq!(sent["document_id"], document_id, "{sent}");
    assert_eq!(sent["replayed"], false);
    let letter_id = sent["id"].as_str().expect("id").to_owned();

    // B finds it, fetches the exact bytes, acknowledges it.
    let inbox = client_json(dir, B, &["inbox"]);
    let delivery = &inbox["deliveries"][0];
    assert_eq!(delivery["packet_id"], letter_id.as_str(), "{inbox}");
    assert_eq!(delivery["kind"], "message");
    ok(
        run(
            dir,
            &[
                "client",
                "--profile",
                &profile(dir, B),
                "fetch",
                &letter_id,
                "-o",
                "received.xml",
            ],
        ),
        "client fetch",
    );
    assert_eq!(
        std::fs::read(dir.join("received.xml")).expect("received"),
        std::fs::read(dir.join("letter.xml")).expect("sent"),
        "the bytes fetched are the bytes sent"
    );
    let seq = delivery["delivery"].to_string();
    let acked = client_json(dir, B, &["ack", &seq]);
    assert_eq!(acked["already_acked"], false, "{acked}");

    // B registers it (03) straight away, without 01, with a signed status packet.
    let mut status = vec![
        "packet",
        "status",
        "--reply-to",
        "received.xml",
        "--from",
        B,
        "--code",
        "03",
        "--staff",
        "Trần Thị B",
        "--department",
        "Văn thư",
        "-o",
        "status.xml",
    ];
    let b_keys = signing(dir, B);
    status.extend(b_keys.iter().map(String::as_str));
    ok(run(dir, &status), "packet status");
    let reported = client_json(dir, B, &["send", "status.xml"]);
    assert_eq!(reported["kind"], "status", "{reported}");

    // A sees the document at 03, and the status in its inbox with its code.
    let document = client_json(dir, A, &["status", A, document_id]);
    assert_eq!(document["recipients"][0]["state"], "03", "{document}");
    let a_inbox = client_json(dir, A, &["inbox"]);
    assert_eq!(a_inbox["deliveries"][0]["status_code"], "03", "{a_inbox}");
    let receipt = ok(
        run(
            dir,
            &[
                "client",
                "--profile",
                &profile(dir, A),
                "receipt",
                &letter_id,
            ],
        ),
        "client receipt",
    );
    assert!(receipt.contains(&letter_id), "{receipt}");

    // A refusal keeps the server's code and exits 1; an unreachable server exits 3.
    let wrong = run(
        dir,
        &[
            "client",
            "--profile",
            &profile(dir, B),
            "send",
            "letter.xml",
        ],
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("error[exchange.sender_mismatch]"));
    let down = run(
        dir,
        &[
            "client",
            "--url",
            "http://127.0.0.1:9",
            "--system-id",
            "x",
            "--secret",
            "y",
            "inbox",
        ],
    );
    assert_eq!(down.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&down.stderr).contains("error[client.unreachable]"));
}

#[test]
fn the_status_packet_verifies_with_xmlsec1() {
    let folder = tempfile::tempdir().expect("tempdir");
    let dir = folder.path();
    ok(run(dir, &["certs", "dev", "pki"]), "certs dev");
    let mut status = vec![
        "packet",
        "status",
        "--sender",
        A,
        "--document-id",
        "000.00.00.G22,2026/12/05,15/BTN-VP",
        "--code-number",
        "15",
        "--notation",
        "BTN-VP",
        "--date",
        "2026/12/05",
        "--from",
        B,
        "--code",
        "02",
        "--description",
        "Không đúng thẩm quyền xử lý",
        "-o",
        "status.xml",
    ];
    let key: Vec<String> = [
        "--key",
        "pki/agency-000.00.00.H49-rsa2048.key.pem",
        "--cert",
        "pki/agency-000.00.00.H49-rsa2048.pem",
        "--chain",
        "pki/intermediates.pem",
    ]
    .map(String::from)
    .to_vec();
    status.extend(key.iter().map(String::as_str));
    ok(run(dir, &status), "packet status");
    let verified = Command::new("xmlsec1")
        .current_dir(dir)
        .args([
            "--verify",
            "--trusted-pem",
            "pki/trust.pem",
            "--untrusted-pem",
            "pki/intermediates.pem",
            "status.xml",
        ])
        .output()
        .expect("xmlsec1 (apt-get install -y xmlsec1)");
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

#[test]
fn a_configuration_that_cannot_work_leaves_nothing_behind() {
    let folder = tempfile::tempdir().expect("tempdir");
    let dir = folder.path();
    let failed = command(dir)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("LIENTHONG_TRUST_ANCHORS", "/nonexistent/root.pem")
        .env("LIENTHONG_RECEIPTS_CERT", "/nonexistent/r.pem")
        .env("LIENTHONG_RECEIPTS_KEY", "/nonexistent/r.key.pem")
        .output()
        .expect("run serve");
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("/nonexistent/root.pem"), "{stderr}");
    let left: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // A file without trust material: refused, naming the way to dev mode.
    std::fs::write(dir.join("lt.toml"), "[http]\nbind = \"127.0.0.1:0\"\n").expect("write");
    let refused = run(dir, &["serve", "--config", "lt.toml"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("error[config.missing]"), "{stderr}");
    assert!(stderr.contains("LIENTHONG_DEV=1"), "{stderr}");
    assert!(!dir.join("data").exists());
}

#[test]
fn config_check_reports_every_problem_and_the_example_passes_its_own_types() {
    let folder = tempfile::tempdir().expect("tempdir");
    let dir = folder.path();
    std::fs::write(
        dir.join("lt.toml"),
        "databse_url = \"sqlite://x.db\"\n[trust]\nanchors = [\"/nonexistent/root.pem\"]\n\
         fetch_crls = \"yes\"\n[receipts]\ncert = \"/nonexistent/r.pem\"\nkey = \"/nonexistent/r.key\"\n",
    )
    .expect("write");
    let checked = command(dir)
        .args(["config", "check", "--config", "lt.toml"])
        .env("LIENTHONG_HTTP_BIDN", "127.0.0.1:1")
        .output()
        .expect("config check");
    assert_eq!(checked.status.code(), Some(1));
    let out = String::from_utf8_lossy(&checked.stdout);
    for expected in [
        "did you mean database_url?",
        "did you mean LIENTHONG_HTTP_BIND?",
        "trust.fetch_crls must be true or false",
        "/nonexistent/root.pem",
        "/nonexistent/r.pem",
    ] {
        assert!(out.contains(expected), "{expected} missing from:\n{out}");
    }

    // The example names files that do not exist here, but every key and type in it is right.
    let example = ok(run(dir, &["config", "example"]), "config example");
    std::fs::write(dir.join("example.toml"), &example).expect("write");
    let checked = run(dir, &["config", "check", "--config", "example.toml"]);
    let out = String::from_utf8_lossy(&checked.stdout);
    assert!(!out.contains("config.unknown_setting"), "{out}");
    assert!(!out.contains("config.invalid"), "{out}");
    assert!(out.contains("config.missing_file"), "{out}");
    for setting in lienthong::config::SETTINGS {
        let key = setting.key.rsplit('.').next().unwrap_or(setting.key);
        assert!(
            example.contains(&format!("{key} =")),
            "the example lacks {}",
            setting.key
        );
    }
}

/// Started with a soft limit of 256 open files (what some service managers give), the server
/// raises it to the hard limit: each connection is a descriptor.
#[test]
fn the_server_raises_its_open_files_limit() {
    let folder = tempfile::tempdir().expect("tempdir");
    let dir = folder.path();
    let mut child = Command::new("bash")
        .current_dir(dir)
        .args([
            "-c",
            &format!(
                "ulimit -Sn 256 && exec {} serve --bind 127.0.0.1:0",
                binary()
            ),
        ])
        .env("LIENTHONG_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server under bash");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let listening = lines.any(|l| l.is_ok_and(|l| l.starts_with("listening on ")));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id()));
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "the server did not start");
    let limits = limits.expect("/proc/PID/limits");
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("the open files line");
    let numbers: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers.len(), 2, "{open_files}");
    assert_eq!(
        numbers[0], numbers[1],
        "soft limit not raised: {open_files}"
    );
    assert_ne!(numbers[0], "256", "{open_files}");
}
