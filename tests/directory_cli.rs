//! `lienthong migrate` and `lienthong agency import|list` through the real binary: CSV and JSON
//! imports, refusals that name the line and apply nothing, the listing, idempotent migrations,
//! on SQLite and (one round trip) on PostgreSQL from `LIENTHONG_TEST_POSTGRES_URL`.

mod common_pg;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

use common_pg::with_database;

const H49_RSA: &str = "984abdf8458226db178f9b2d848a51076c60259aadc51f30b721ad0bb7c30bd6";
const H49_P384: &str = "2dca88edbde2f6c59ace1b210ba8fc94f76a65a9c7a8951df0fd1edb3d988220";
const UNIT_RSA: &str = "543f1754916ff9ebd67888b0b5e39466cb39316c98e0562a061ace64c6215eda";

const HEADER: &str = "code,name,parent,push_endpoint,clerk_emails,certificate_sha256\n";

/// A scratch directory to run the binary in, with its SQLite URL.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.path("db/lienthong.db").display()
        )
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// Runs `lienthong ARGS` in the scratch directory, with no LIENTHONG_* settings inherited.
    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lienthong"));
        command.args(args).current_dir(self.dir.path());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("LIENTHONG_") {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().copied());
        command.output().expect("run lienthong")
    }

    /// Runs with `--database-url` of this scratch database.
    fn db(&self, args: &[&str]) -> Output {
        let url = self.url();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--database-url", url.as_str()]);
        self.run(&all)
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// The command failed with exit 1 and one `error[CODE]: …` line; returns that line.
fn refused(output: &Output, code: &str) -> String {
    assert_eq!(output.status.code(), Some(1), "stdout: {}", stdout(output));
    let text = stderr(output);
    assert!(
        text.starts_with(&format!("error[{code}]: ")),
        "expected error[{code}], got: {text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    text
}

fn listed(scratch: &Scratch) -> Value {
    let out = succeeded(&scratch.db(&["agency", "list", "--json"]));
    serde_json::from_str(&out).expect("list --json is JSON")
}

fn codes(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|a| a["code"].as_str().expect("code").to_owned())
        .collect()
}

fn three_agencies_csv() -> String {
    format!(
        "{HEADER}\
         000.01.01.H49,Văn phòng Ủy ban nhân dân tỉnh Quảng Ninh,000.00.00.H49,https://vp.quangninh.example.vn/lienthong,vanthu.vp@quangninh.example.vn,{UNIT_RSA}\n\
         000.00.00.H49,\"Ủy ban nhân dân tỉnh Quảng Ninh\",,,vanthu@quangninh.example.vn;lanhdao@quangninh.example.vn,{H49_RSA};{H49_P384}\n\
         vxp.saas.03,Hệ thống thử nghiệm của trục,,,,\n"
    )
}

#[test]
fn migrate_creates_the_schema_once() {
    let scratch = Scratch::new();
    // With nothing configured, the dev database under ./data is used (and created).
    let first = succeeded(&scratch.run(&["migrate"]));
    assert_eq!(
        first,
        "applied migrations 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16; schema at version 16\n"
    );
    assert!(scratch.path("data/lienthong.db").is_file());
    let second = succeeded(&scratch.run(&["migrate"]));
    assert_eq!(second, "schema already at version 16\n");
    // An explicit URL wins over the default.
    assert_eq!(
        succeeded(&scratch.db(&["migrate"])),
        "applied migrations 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16; schema at version 16\n"
    );
    assert!(scratch.path("db/lienthong.db").is_file());
}

#[test]
fn a_csv_file_is_imported_and_listed() {
    let scratch = Scratch::new();
    let file = scratch.write("agencies.csv", &three_agencies_csv());
    let file = file.to_str().expect("utf-8 path");
    assert_eq!(
        succeeded(&scratch.db(&["agency", "import", file])),
        "imported 3, updated 0\n"
    );

    let table = succeeded(&scratch.db(&["agency", "list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    assert!(lines[0].starts_with("CODE"), "{table}");
    assert!(lines[0].ends_with("NAME"), "{table}");
    let h49: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&h49[..4], ["000.00.00.H49", "-", "2", "yes"], "{table}");
    assert!(
        lines[1].ends_with("Ủy ban nhân dân tỉnh Quảng Ninh"),
        "{table}"
    );
    let unit: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        &unit[..4],
        ["000.01.01.H49", "000.00.00.H49", "1", "yes"],
        "{table}"
    );
    assert!(lines[3].starts_with("vxp.saas.03 "), "{table}");
    assert_eq!(lines[4], "3 agencies");

    let list = listed(&scratch);
    assert_eq!(
        list[0],
        json!({
            "code": "000.00.00.H49",
            "name": "Ủy ban nhân dân tỉnh Quảng Ninh",
            "parent": null,
            "push_endpoint": null,
            "clerk_emails": ["vanthu@quangninh.example.vn", "lanhdao@quangninh.example.vn"],
            "certificate_sha256": [H49_P384, H49_RSA],
            "active": true
        })
    );
    assert_eq!(
        list[1]["push_endpoint"],
        "https://vp.quangninh.example.vn/lienthong"
    );
    assert_eq!(list[1]["parent"], "000.00.00.H49");

    // Filters.
    let children = succeeded(&scratch.db(&["agency", "list", "--parent", "000.00.00.H49"]));
    assert!(
        children.contains("000.01.01.H49") && children.ends_with("1 agencies\n"),
        "{children}"
    );
    let prefix = succeeded(&scratch.db(&["agency", "list", "--prefix", "vxp."]));
    assert!(
        prefix.contains("vxp.saas.03") && prefix.ends_with("1 agencies\n"),
        "{prefix}"
    );

    // Importing again updates; a row's certificate list replaces the stored one.
    let changed = three_agencies_csv().replace(&format!("{H49_RSA};{H49_P384}"), H49_RSA);
    let file = scratch.write("agencies-v2.csv", &changed);
    assert_eq!(
        succeeded(&scratch.db(&["agency", "import", file.to_str().expect("path")])),
        "imported 0, updated 3\n"
    );
    assert_eq!(listed(&scratch)[0]["certificate_sha256"], json!([H49_RSA]));
}

#[test]
fn a_json_file_is_imported_and_the_listing_imports_back() {
    let scratch = Scratch::new();
    let entries = json!([
        {"code": "000.00.00.G22", "name": "Bộ Thử nghiệm Liên thông",
         "clerk_emails": ["vanthu@g22.example.vn"],
         "certificate_sha256": ["1dcc19e32b1cb8237769be68f99911733748b164d22ffe937441212f18d9f90d"]},
        {"code": "000.00.01.G22", "name": "Vụ Pháp chế", "parent": "000.00.00.G22",
         "push_endpoint": "https://g22.example.vn/vpc/inbox",
         "clerk_emails": "a@g22.example.vn; b@g22.example.vn", "active": false}
    ]);
    let file = scratch.write("agencies.json", &entries.to_string());
    assert_eq!(
        succeeded(&scratch.db(&["agency", "import", file.to_str().expect("path")])),
        "imported 2, updated 0\n"
    );
    let list = listed(&scratch);
    assert_eq!(codes(&list), ["000.00.00.G22", "000.00.01.G22"]);
    assert_eq!(list[1]["active"], false);
    assert_eq!(
        list[1]["clerk_emails"],
        json!(["a@g22.example.vn", "b@g22.example.vn"])
    );
    let table = succeeded(&scratch.db(&["agency", "list"]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("000.00.01.G22") && l.contains(" no ")),
        "{table}"
    );

    // What `list --json` prints is an import file: into a fresh database, the same listing.
    let exported = scratch.write("exported.json", &list.to_string());
    let other = Scratch::new();
    assert_eq!(
        succeeded(&other.db(&["agency", "import", exported.to_str().expect("path")])),
        "imported 2, updated 0\n"
    );
    assert_eq!(listed(&other), list);
}

#[test]
fn a_bad_file_is_refused_naming_the_line_and_nothing_is_applied() {
    let scratch = Scratch::new();
    let seed = scratch.write(
        "seed.csv",
        &format!("{HEADER}000.00.00.H08,Ủy ban nhân dân tỉnh Thử nghiệm,,,,{H49_P384}\n"),
    );
    succeeded(&scratch.db(&["agency", "import", seed.to_str().expect("path")]));
    let before = listed(&scratch);

    let good_rows = "000.00.00.H49,UBND tỉnh Quảng Ninh,,,,\n000.00.00.G22,Bộ Thử nghiệm,,,,\n";
    let cases: Vec<(&str, String, &str)> = vec![
        // Checked in the file alone.
        (
            "code.csv",
            format!("{HEADER}{good_rows}000.00.00.h49,X,,,,\n"),
            "line 4",
        ),
        (
            "mail.csv",
            format!("{HEADER}{good_rows}000.00.01.H49,X,,,vanthu,\n"),
            "line 4",
        ),
        (
            "dup.csv",
            format!("{HEADER}{good_rows}000.00.00.G22,Y,,,,\n"),
            "line 4",
        ),
        // Checked against the directory, inside the transaction.
        (
            "parent.csv",
            format!("{HEADER}{good_rows}000.00.01.H49,X,000.00.00.Q99,,,\n"),
            "line 4",
        ),
        (
            "taken.csv",
            format!("{HEADER}{good_rows}000.00.01.H49,X,000.00.00.H49,,,{H49_P384}\n"),
            "line 4",
        ),
        (
            "loop.csv",
            format!("{HEADER}000.00.01.H49,A,000.00.02.H49,,,\n000.00.02.H49,B,000.00.01.H49,,,\n"),
            "line 2",
        ),
    ];
    for (name, text, location) in cases {
        let file = scratch.write(name, &text);
        let line = refused(
            &scratch.db(&["agency", "import", file.to_str().expect("path")]),
            "directory.import",
        );
        assert!(line.contains(&format!("{name}, {location}:")), "{line}");
        assert!(line.trim_end().ends_with("nothing was imported"), "{line}");
        assert_eq!(listed(&scratch), before, "{name} changed the directory");
    }

    let json_file = scratch.write(
        "bad.json",
        r#"[{"code":"000.00.00.H49","name":"A"},{"code":"000.00.00.G22","name":"B","parent":"000.00.00.G22"}]"#,
    );
    let line = refused(
        &scratch.db(&["agency", "import", json_file.to_str().expect("path")]),
        "directory.import",
    );
    assert!(line.contains("bad.json, entry #2:"), "{line}");
    assert!(line.contains("own parent"), "{line}");
    assert_eq!(listed(&scratch), before);
}

#[test]
fn unusable_arguments_are_refused_with_a_code() {
    let scratch = Scratch::new();
    let csv = scratch.write("a.csv", &three_agencies_csv());
    let csv = csv.to_str().expect("path");
    refused(
        &scratch.db(&["agency", "import", "missing.csv"]),
        "directory.io",
    );
    let txt = scratch.write("a.txt", "code,name\n");
    refused(
        &scratch.db(&["agency", "import", txt.to_str().expect("path")]),
        "directory.import",
    );
    let line = refused(
        &scratch.run(&[
            "agency",
            "import",
            csv,
            "--database-url",
            "mysql://lt:pw@h/db",
        ]),
        "store.config",
    );
    assert!(!line.contains("pw@"), "{line}");
    refused(
        &scratch.run_with(&["agency", "list"], &[("LIENTHONG_DATABSE_URL", "x")]),
        "config.unknown_setting",
    );
    refused(
        &scratch.db(&["agency", "list", "--parent", "00.00.00.H49"]),
        "edxml.invalid_agency_code",
    );
    // A database URL from the environment is used by the admin commands, without any other
    // production setting.
    let url = scratch.url();
    let out = succeeded(&scratch.run_with(
        &["agency", "import", csv],
        &[("LIENTHONG_DATABASE_URL", url.as_str())],
    ));
    assert_eq!(out, "imported 3, updated 0\n");
}

#[test]
fn the_commands_work_on_postgresql() {
    let admin = std::env::var("LIENTHONG_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "LIENTHONG_TEST_POSTGRES_URL is not set: this test needs PostgreSQL 15. Start one with \
             `export LIENTHONG_TEST_POSTGRES_URL=$(scripts/start-test-postgres.sh)`"
        )
    });
    let name = format!("lt_cli_{}", uuid::Uuid::new_v4().simple());
    let psql = |url: &str, sql: &str| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            use sqlx::{Connection, Executor};
            let mut conn = sqlx::postgres::PgConnection::connect(url)
                .await
                .unwrap_or_else(|e| panic!("cannot reach PostgreSQL: {e}"));
            conn.execute(sql).await.expect("sql");
            let _ = conn.close().await;
        });
    };
    psql(&admin, &format!("CREATE DATABASE {name}"));
    let url = with_database(&admin, &name);

    let scratch = Scratch::new();
    let file = scratch.write("agencies.csv", &three_agencies_csv());
    let env = [("LIENTHONG_DATABASE_URL", url.as_str())];
    assert_eq!(
        succeeded(&scratch.run_with(&["migrate"], &env)),
        "applied migrations 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16; schema at version 16\n"
    );
    assert_eq!(
        succeeded(&scratch.run_with(&["migrate"], &env)),
        "schema already at version 16\n"
    );
    assert_eq!(
        succeeded(&scratch.run_with(&["agency", "import", file.to_str().expect("path")], &env)),
        "imported 3, updated 0\n"
    );
    let bad = scratch.write(
        "bad.csv",
        &format!("{HEADER}000.00.00.H08,X,000.00.00.Q99,,,\n"),
    );
    let line = refused(
        &scratch.run_with(&["agency", "import", bad.to_str().expect("path")], &env),
        "directory.import",
    );
    assert!(line.contains("line 2"), "{line}");
    let out = succeeded(&scratch.run_with(&["agency", "list", "--json"], &env));
    let list: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        codes(&list),
        ["000.00.00.H49", "000.01.01.H49", "vxp.saas.03"]
    );
    psql(
        &admin,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    );
}

/// A directory of 2,600 agencies under three provinces: 1 + 20 departments + 20 × 12 units +
/// 20 × 12 × 3 sub-units = 981 below each province (more than one page of `agency list`).
fn large_directory_csv() -> (String, usize) {
    let mut csv = String::from(HEADER);
    let mut rows = 0;
    for p in ["H01", "H02", "H49"] {
        let top = format!("000.00.00.{p}");
        csv.push_str(&format!("{top},Ủy ban nhân dân tỉnh {p},,,,\n"));
        rows += 1;
        for y in 1..=20 {
            let dept = format!("000.00.{y:02}.{p}");
            csv.push_str(&format!("{dept},Sở {y} tỉnh {p},{top},,,\n"));
            rows += 1;
            for z in 1..=12 {
                let unit = format!("000.{z:02}.{y:02}.{p}");
                csv.push_str(&format!("{unit},\"Phòng {z}, Sở {y}\",{dept},,,\n"));
                rows += 1;
                for v in 1..=3 {
                    csv.push_str(&format!("{v:03}.{z:02}.{y:02}.{p},Tổ {v},{unit},,,\n"));
                    rows += 1;
                }
            }
        }
    }
    (csv, rows)
}

#[test]
fn a_large_directory_streams_whole_and_a_subtree_is_exact() {
    let scratch = Scratch::new();
    let (csv, rows) = large_directory_csv();
    let file = scratch.write("large.csv", &csv);
    succeeded(&scratch.db(&["agency", "import", file.to_str().expect("path")]));

    // Streamed over several pages: every agency once, in order, valid JSON.
    let json: Vec<serde_json::Value> =
        serde_json::from_str(&succeeded(&scratch.db(&["agency", "list", "--json"])))
            .expect("one JSON array");
    let codes: Vec<&str> = json
        .iter()
        .map(|a| a["code"].as_str().expect("code"))
        .collect();
    assert_eq!(codes.len(), rows);
    assert!(
        codes.windows(2).all(|w| w[0] < w[1]),
        "sorted, no duplicates"
    );
    let table = succeeded(&scratch.db(&["agency", "list"]));
    assert!(
        table.ends_with(&format!("\n{rows} agencies\n")),
        "{}",
        &table[table.len() - 40..]
    );

    // The subtree of H49: every agency whose parent chain reaches it, and nothing else.
    let under: Vec<serde_json::Value> = serde_json::from_str(&succeeded(&scratch.db(&[
        "agency",
        "list",
        "--json",
        "--under",
        "000.00.00.H49",
    ])))
    .expect("JSON");
    assert_eq!(under.len(), 20 + 20 * 12 + 20 * 12 * 3);
    assert!(under.iter().all(|a| a["code"]
        .as_str()
        .is_some_and(|c| c.ends_with(".H49") && c != "000.00.00.H49")));
    let department: Vec<serde_json::Value> = serde_json::from_str(&succeeded(&scratch.db(&[
        "agency",
        "list",
        "--json",
        "--under",
        "000.00.07.H02",
    ])))
    .expect("JSON");
    assert_eq!(department.len(), 12 + 12 * 3);
    assert!(department
        .iter()
        .all(|a| a["code"].as_str().is_some_and(|c| c.ends_with(".07.H02"))));
}
