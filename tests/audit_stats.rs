//! A month's statistics through the real server and binary, on SQLite and PostgreSQL
//! (docs/AUDIT.md, "Statistics"): per agency, letters sent, received, acknowledged, within the
//! deadline, refused, and the median times to acknowledge and to 03; JSON and CSV over the
//! API; the same from `lienthong audit stats`; an auditor gets its scope's rows only.

mod common;
mod common_pg;
mod common_server;

use serde_json::Value;

use common_server::{Engine, Server};

const G22: &str = "000.00.00.G22";
const H49: &str = "000.00.00.H49";
const H08: &str = "000.00.00.H08";

/// This month in Vietnam, `2026-12`.
fn this_month() -> String {
    let offset = time::UtcOffset::from_hms(7, 0, 0).expect("UTC+7");
    let now = time::OffsetDateTime::now_utc().to_offset(offset);
    format!("{:04}-{:02}", now.year(), u8::from(now.month()))
}

fn row<'a>(rows: &'a Value, agency: &str) -> &'a Value {
    rows.as_array()
        .expect("rows")
        .iter()
        .find(|r| r["agency"] == agency)
        .unwrap_or_else(|| panic!("no row for {agency}: {rows}"))
}

fn a_month_is_counted_per_agency(engine: Engine) {
    let server = Server::start(engine);
    let doc = |n: u32| format!("G22,2026/12/06,{n}/BTN-VP");
    for n in 1..=3 {
        server.submit_accepted(G22, &common::g22_letter(H49, &doc(n)));
    }
    server.submit_accepted(G22, &common::g22_letter(H08, &doc(4)));
    // H49 acknowledges two letters, assigns the first (03) and refuses the third (02).
    let inbox = server.get("/v1/inbox", H49).json();
    for d in inbox["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .take(2)
    {
        let n = d["delivery"].as_i64().expect("delivery");
        server.ack(H49, n);
    }
    server.submit_accepted(H49, &common::h49_status(&doc(1), "03", None));
    server.submit_accepted(H49, &common::h49_status(&doc(3), "02", None));

    let month = this_month();
    let reply = server.get(&format!("/v1/audit/stats?month={month}"), H49);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let rows = &reply.json()["agencies"];
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    let h49 = row(rows, H49);
    assert_eq!(
        [
            &h49["received"],
            &h49["acknowledged"],
            &h49["acknowledged_in_time"],
            &h49["refused"],
            &h49["sent"]
        ],
        [
            &Value::from(3),
            &Value::from(2),
            &Value::from(2),
            &Value::from(1),
            &Value::from(0)
        ],
        "{h49}"
    );
    assert!(
        h49["median_seconds_to_acknowledge"]
            .as_f64()
            .expect("a median")
            >= 0.0
    );
    assert!(
        h49["median_seconds_to_assigned"]
            .as_f64()
            .expect("a median")
            >= 0.0
    );
    server
        .get(&format!("/v1/audit/stats?month={month}&agency={G22}"), H49)
        .assert_refused(403, "audit.out_of_scope");
    server
        .get("/v1/audit/stats?month=2026-13", H49)
        .assert_refused(400, "audit.bad_range");

    // An auditor of everything: every agency's row; as CSV too.
    let (id, secret) = server.auditor(&["--scope", "all", "--agency", G22]);
    let auth = Server::basic(&id, &secret);
    let path = format!("/v1/audit/stats?month={month}");
    let rows = server.send("GET", &path, Some(&auth), &[], None).json()["agencies"].clone();
    assert_eq!(row(&rows, G22)["sent"], 4);
    assert_eq!(row(&rows, H08)["received"], 1);
    assert_eq!(row(&rows, H08)["acknowledged"], 0);
    assert_eq!(
        row(&rows, H08)["median_seconds_to_acknowledge"],
        Value::Null
    );
    let csv = server
        .send("GET", &path, Some(&auth), &[("Accept", "text/csv")], None)
        .text();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("agency,sent,received,acknowledged,acknowledged_in_time,overdue,refused,median_seconds_to_acknowledge,median_seconds_to_assigned")
    );
    assert!(csv.contains(&format!("\n{H08},0,1,0,0,0,0,,\n")), "{csv}");

    // The command line reads the same from the database.
    let out = server.cli(&["audit", "stats", "--month", &month]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains(&format!("\n{G22},4,0,0,0,0,0,,\n")), "{said}");
    assert!(said.contains(&format!("\n{H49},0,3,2,2,0,1,")), "{said}");
}

#[test]
fn on_sqlite_a_month_is_counted_per_agency() {
    a_month_is_counted_per_agency(Engine::Sqlite);
}

#[test]
fn on_postgresql_a_month_is_counted_per_agency() {
    a_month_is_counted_per_agency(Engine::Postgres);
}
