//! Document search through the real server, on SQLite and PostgreSQL (docs/AUDIT.md,
//! "Search"): words match the subject without Vietnamese diacritics or case, by direction,
//! notation and state, a page at a time; an agency finds only its own documents and an auditor
//! only its scope's, with nothing counted beyond them.

mod common;
mod common_pg;
mod common_server;

use common_server::{Engine, Server};

const G22: &str = "000.00.00.G22";
const H49: &str = "000.00.00.H49";
const H49_UNIT: &str = "000.01.01.H49";
const H08: &str = "000.00.00.H08";

fn letter(to: &[&str], number: &str, subject: &str) -> Vec<u8> {
    let mut packet = common::g22_message(to, &format!("G22,2026/12/06,{number}/BTN-VP"), subject);
    packet.header.code = lienthong::edxml::DocumentCode {
        number: number.to_owned(),
        notation: "BTN-VP".to_owned(),
    };
    common::sign_g22(packet)
}

/// `(sender, DocumentId)` of each document a search answered, in order; and its `next`.
fn found(reply: &common_server::Reply) -> (Vec<String>, Option<String>) {
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    let ids = body["documents"]
        .as_array()
        .expect("documents")
        .iter()
        .map(|d| d["document_id"].as_str().expect("id").to_owned())
        .collect();
    (ids, body["next"].as_str().map(str::to_owned))
}

fn id(number: &str) -> String {
    format!("G22,2026/12/06,{number}/BTN-VP")
}

fn search_finds_by_words_without_diacritics_and_keeps_to_the_reader(engine: Engine) {
    let server = Server::start(engine);
    for (to, number, subject) in [
        (
            vec![H49],
            "11",
            "Công văn về việc triển khai hệ thống văn bản điện tử",
        ),
        (vec![H08], "12", "Quyết định của Đảng ủy khối cơ quan tỉnh"),
        (
            vec![H49_UNIT],
            "13",
            "CÔNG VĂN khẩn về công tác phòng chống bão",
        ),
        (
            vec![H49, H08],
            "14",
            "Báo cáo tình hình thực hiện kế hoạch năm 2026",
        ),
    ] {
        server.submit_accepted(G22, &letter(&to, number, subject));
    }
    let search = |who: &str, query: &str| server.get(&format!("/v1/audit/documents?{query}"), who);

    // Words without diacritics or case; newest first.
    assert_eq!(found(&search(G22, "q=cong+van")).0, [id("13"), id("11")]);
    assert_eq!(found(&search(G22, "q=dang%20uy")).0, [id("12")]);
    assert_eq!(
        found(&search(G22, "q=%C4%90%E1%BA%A2NG+%E1%BB%A6Y")).0,
        [id("12")]
    ); // "ĐẢNG ỦY"
    assert_eq!(found(&search(G22, "q=bao+cao+tinh+hinh")).0, [id("14")]);
    assert!(found(&search(G22, "q=cong+van+dang")).0.is_empty());
    assert_eq!(found(&search(G22, "notation=13/BTN")).0, [id("13")]);
    assert_eq!(
        found(&search(G22, "direction=sent&status=submitted&q=quyet")).0,
        [id("12")]
    );
    assert!(found(&search(G22, "direction=received")).0.is_empty());
    assert!(found(&search(G22, "from=2001-01-01&to=2001-12-31"))
        .0
        .is_empty());

    // A page at a time.
    let (first, next) = found(&search(G22, "limit=3"));
    assert_eq!(first, [id("14"), id("13"), id("12")]);
    let next = next.expect("a next page");
    let (second, last) = found(&search(G22, &format!("limit=3&after={next}")));
    assert_eq!((second, last), (vec![id("11")], None));

    // A recipient finds what it received, and sees only itself among the recipients.
    let reply = search(H08, "");
    assert_eq!(found(&reply).0, [id("14"), id("12")]);
    assert_eq!(
        reply.json()["documents"][0]["recipients"],
        serde_json::json!([{"agency": H08, "state": "submitted"}])
    );
    assert_eq!(
        found(&search(H49, "direction=received&q=cong+van")).0,
        [id("11")]
    );
    search(H08, &format!("agency={G22}")).assert_refused(403, "audit.out_of_scope");

    // An auditor of H49 finds its subtree's documents and nothing else, not even a count.
    let (system_id, secret) = server.auditor(&["--scope", H49]);
    let auth = Server::basic(&system_id, &secret);
    let as_auditor = |query: &str| {
        server.send(
            "GET",
            &format!("/v1/audit/documents?{query}"),
            Some(&auth),
            &[],
            None,
        )
    };
    let reply = as_auditor("");
    assert_eq!(found(&reply).0, [id("14"), id("13"), id("11")]);
    assert_eq!(
        reply.json()["documents"][0]["recipients"],
        serde_json::json!([{"agency": H49, "state": "submitted"}])
    );
    assert_eq!(found(&as_auditor("q=cong+van")).0, [id("13"), id("11")]);
    assert_eq!(
        found(&as_auditor(&format!("agency={H49_UNIT}"))).0,
        [id("13")]
    );
    assert!(found(&as_auditor("q=dang+uy")).0.is_empty());
    as_auditor(&format!("agency={H08}")).assert_refused(403, "audit.out_of_scope");
    as_auditor(&format!("agency={G22}")).assert_refused(403, "audit.out_of_scope");
    search(G22, "direction=sideways").assert_refused(400, "audit.bad_range");
}

#[test]
fn on_sqlite_search_finds_by_words_without_diacritics_and_keeps_to_the_reader() {
    search_finds_by_words_without_diacritics_and_keeps_to_the_reader(Engine::Sqlite);
}

#[test]
fn on_postgresql_search_finds_by_words_without_diacritics_and_keeps_to_the_reader() {
    search_finds_by_words_without_diacritics_and_keeps_to_the_reader(Engine::Postgres);
}

/// Searches for rare words narrow the documents with the word index; the answers are the same
/// before the indexer holds the letters' words and after, and the same as the subject's text
/// says: the query's first word may end a word, its last may start one, punctuation counts.
fn rare_words_find_the_same_documents_through_the_word_index(engine: Engine) {
    let server = Server::start(engine);
    for (number, subject) in [
        ("21", "Kế hoạch tổ chức Tết Nguyên Đán năm 2027"),
        ("22", "Công văn về việc tổ chức hội nghị, tập huấn"),
        ("23", "Thông báo lịch nghỉ Tết Dương lịch"),
    ] {
        server.submit_accepted(G22, &letter(&[H49], number, subject));
    }
    let search = |query: &str| found(&server.get(&format!("/v1/audit/documents?{query}"), G22)).0;
    let check = || {
        assert_eq!(search("q=to+chuc+tet+nguyen"), [id("21")]);
        assert_eq!(
            search("q=chuc+tet+nguy"),
            [id("21")],
            "the last word's start"
        );
        assert_eq!(search("q=o+chuc+tet"), [id("21")], "the first word's end");
        assert_eq!(
            search("q=chuc+hoi+nghi%2C+tap"),
            [id("22")],
            "with its comma"
        );
        assert!(
            search("q=chuc+hoi+nghi+tap").is_empty(),
            "the comma is in the subject"
        );
        assert!(search("q=chuc+tet+nguyenx").is_empty());
        assert!(search("q=tet+duong+lich+nam").is_empty());
        assert_eq!(search("q=nghi+tet"), [id("23")]);
        assert_eq!(search("q=to+chuc"), [id("22"), id("21")]);
    };
    check();
    common_server::wait_until("the word index holds the letters' words", || {
        server.metric("lienthong_search_unindexed_documents") == 0.0
    });
    check();
}

#[test]
fn on_sqlite_rare_words_find_the_same_documents_through_the_word_index() {
    rare_words_find_the_same_documents_through_the_word_index(Engine::Sqlite);
}

#[test]
fn on_postgresql_rare_words_find_the_same_documents_through_the_word_index() {
    rare_words_find_the_same_documents_through_the_word_index(Engine::Postgres);
}
