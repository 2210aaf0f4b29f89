//! The store on both engines: every repository function, the group-commit writer (concurrent
//! submitters, answers only after the commit, one failing unit rolled back alone, data still
//! there after reopening) and migrations — once on SQLite in a temporary directory, once on
//! PostgreSQL in a database of its own.
//!
//! PostgreSQL comes from `LIENTHONG_TEST_POSTGRES_URL` (a role that may create databases);
//! the tests fail when it is unset. `scripts/start-test-postgres.sh` starts one and prints it.

mod common_pg;

use std::collections::HashSet;
use std::sync::Arc;

use lienthong::store::deadlines::{self, AckWindows};
use lienthong::store::stats::{self, AgencyStats, StatsMonth, Whose};
use lienthong::store::{
    agencies, deliveries, now_micros, packets, Ack, AgencyFilter, AgencyRecord, CertificateRecord,
    CredentialRecord, CredentialRole, DocumentRecord, Engine, InboxQuery, NewDelivery, NewStatus,
    PacketKind, PacketRecord, ReceiptRecord, RecipientStateRecord, Store, StoreError, Upsert,
};
use sqlx::{Connection, Executor};

use common_pg::with_database;

/// A fresh database on one engine, dropped at the end of a passing test.
struct Db {
    url: String,
    store: Store,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Db {
    async fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("nested/dir/lienthong.db").display()
        );
        let store = Store::connect(&url).await.expect("connect sqlite");
        assert_eq!(store.engine(), Engine::Sqlite);
        Db {
            url,
            store,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    async fn postgres() -> Db {
        let admin_url = std::env::var("LIENTHONG_TEST_POSTGRES_URL").unwrap_or_else(|_| {
            panic!(
                "LIENTHONG_TEST_POSTGRES_URL is not set: the store tests need PostgreSQL 15. \
                 Start one with `export LIENTHONG_TEST_POSTGRES_URL=$(scripts/start-test-postgres.sh)`"
            )
        });
        let name = format!("lt_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::postgres::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("cannot reach PostgreSQL at LIENTHONG_TEST_POSTGRES_URL: {e}")
            });
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        let store = Store::connect(&url).await.expect("connect postgres");
        assert_eq!(store.engine(), Engine::Postgres);
        Db {
            url,
            store,
            cleanup: Cleanup::Postgres { admin_url, name },
        }
    }

    async fn migrated(self) -> Db {
        self.store.migrate().await.expect("migrate");
        self
    }

    /// Closes the store and opens the same database again.
    async fn reopen(&mut self) {
        self.store.close().await;
        self.store = Store::connect(&self.url).await.expect("reconnect");
    }

    async fn finish(self) {
        self.store.close().await;
        if let Cleanup::Postgres { admin_url, name } = self.cleanup {
            if let Ok(mut admin) = sqlx::postgres::PgConnection::connect(&admin_url).await {
                let _ = admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await;
            }
        }
    }
}

/// Runs one scenario on SQLite and on PostgreSQL.
macro_rules! on_both_engines {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = super::Db::sqlite().await.migrated().await;
                let db = super::$scenario(db).await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = super::Db::postgres().await.migrated().await;
                let db = super::$scenario(db).await;
                db.finish().await;
            }
        }
    )+};
}

on_both_engines!(
    migrations_are_idempotent,
    agencies_round_trip_and_filter,
    certificates_belong_to_one_agency,
    credentials_are_stored_and_revoked,
    packets_documents_and_receipts,
    deliveries_inbox_and_acks,
    recipient_states_and_status_history,
    concurrent_units_share_commits_and_answer_after_commit,
    a_failing_unit_is_rolled_back_alone,
    committed_data_survives_reopening,
    statistics_are_kept_with_the_changes,
    a_wide_scope_reads_the_newest_first,
);

fn agency(code: &str, parent: Option<&str>) -> AgencyRecord {
    let now = now_micros();
    AgencyRecord {
        code: code.to_owned(),
        name: format!("Cơ quan {code}"),
        parent: parent.map(str::to_owned),
        push_endpoint: None,
        clerk_emails: vec![format!("vanthu@{}.lienthong.test", code.replace('.', "-"))],
        active: true,
        created_at: now,
        updated_at: now,
    }
}

fn sha(seed: &str) -> String {
    lienthong::store::BlobKey::of(seed.as_bytes()).to_hex()
}

fn packet(id: &str, sender: &str, document_id: &str, kind: PacketKind) -> PacketRecord {
    PacketRecord {
        id: id.to_owned(),
        sender: sender.to_owned(),
        kind,
        document_id: document_id.to_owned(),
        content_sha256: sha(id),
        size: 2048,
        blob_key: sha(id),
        received_at: now_micros(),
        legacy_sha1: false,
        verdict: r#"{"valid":true}"#.to_owned(),
    }
}

/// Runs `work` on `input` through the writer with `StoreError` as the error type.
async fn write<I, T, F>(store: &Store, input: I, work: F) -> Result<T, StoreError>
where
    I: Send + Sync + 'static,
    F: for<'c> Fn(
            &'c mut sqlx::AnyConnection,
            &'c I,
        ) -> lienthong::store::BoxFuture<'c, Result<T, StoreError>>
        + Send
        + 'static,
    T: Send + 'static,
{
    store.write(input, work).await
}

async fn put_agency(store: &Store, record: AgencyRecord) -> Result<Upsert, StoreError> {
    write(store, record, |c, record| {
        Box::pin(async move { agencies::upsert(c, record).await })
    })
    .await
}

async fn migrations_are_idempotent(db: Db) -> Db {
    // `migrated()` applied them already.
    let again = db.store.migrate().await.expect("second migrate");
    assert_eq!(again.applied, Vec::<i64>::new());
    assert_eq!(again.version, 16);
    db
}

async fn agencies_round_trip_and_filter(db: Db) -> Db {
    let s = &db.store;
    assert_eq!(
        put_agency(s, agency("000.00.00.H49", None)).await,
        Ok(Upsert::Inserted)
    );
    assert_eq!(
        put_agency(s, agency("000.01.01.H49", Some("000.00.00.H49"))).await,
        Ok(Upsert::Inserted)
    );
    assert_eq!(
        put_agency(s, agency("000.00.01.H49", Some("000.00.00.H49"))).await,
        Ok(Upsert::Inserted)
    );
    assert_eq!(
        put_agency(s, agency("000.00.00.G22", None)).await,
        Ok(Upsert::Inserted)
    );
    assert_eq!(
        put_agency(s, agency("vxp.saas.03", None)).await,
        Ok(Upsert::Inserted)
    );

    // An update keeps created_at and replaces the rest.
    let mut changed = agency("000.00.00.H49", None);
    changed.name = "Ủy ban nhân dân tỉnh Quảng Ninh".to_owned();
    changed.push_endpoint = Some("https://qn.example.vn/push".to_owned());
    changed.clerk_emails = vec!["a@qn.vn".to_owned(), "b@qn.vn".to_owned()];
    changed.created_at = 1;
    assert_eq!(put_agency(s, changed.clone()).await, Ok(Upsert::Updated));

    // An unknown parent is refused.
    let orphan = put_agency(s, agency("000.00.00.H50", Some("000.00.00.X99"))).await;
    assert_eq!(orphan.err().map(|e| e.code()), Some("store.conflict"));

    let mut conn = s.acquire().await.expect("conn");
    let stored = agencies::get(&mut conn, "000.00.00.H49")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(stored.name, changed.name);
    assert_eq!(stored.push_endpoint, changed.push_endpoint);
    assert_eq!(stored.clerk_emails, changed.clerk_emails);
    assert_ne!(stored.created_at, 1, "created_at is kept on update");
    assert!(agencies::get(&mut conn, "000.00.00.H50")
        .await
        .expect("get")
        .is_none());
    assert!(agencies::exists(&mut conn, "vxp.saas.03")
        .await
        .expect("exists"));
    assert_eq!(agencies::count(&mut conn).await.expect("count"), 5);

    let codes = |list: Vec<AgencyRecord>| list.into_iter().map(|a| a.code).collect::<Vec<_>>();
    let all = agencies::list(&mut conn, &AgencyFilter::default())
        .await
        .expect("list");
    assert_eq!(
        codes(all),
        [
            "000.00.00.G22",
            "000.00.00.H49",
            "000.00.01.H49",
            "000.01.01.H49",
            "vxp.saas.03"
        ]
    );
    let children = AgencyFilter {
        parent: Some("000.00.00.H49".to_owned()),
        ..AgencyFilter::default()
    };
    assert_eq!(
        codes(
            agencies::list(&mut conn, &children)
                .await
                .expect("children")
        ),
        ["000.00.01.H49", "000.01.01.H49"]
    );
    let prefix = AgencyFilter {
        prefix: Some("000.00.".to_owned()),
        ..AgencyFilter::default()
    };
    assert_eq!(
        codes(agencies::list(&mut conn, &prefix).await.expect("prefix")),
        ["000.00.00.G22", "000.00.00.H49", "000.00.01.H49"]
    );
    // LIKE wildcards in a prefix are plain characters.
    let wildcard = AgencyFilter {
        prefix: Some("000_".to_owned()),
        ..AgencyFilter::default()
    };
    assert!(agencies::list(&mut conn, &wildcard)
        .await
        .expect("wildcard")
        .is_empty());
    let page = AgencyFilter {
        after: Some("000.00.00.H49".to_owned()),
        limit: Some(2),
        ..AgencyFilter::default()
    };
    assert_eq!(
        codes(agencies::list(&mut conn, &page).await.expect("page")),
        ["000.00.01.H49", "000.01.01.H49"]
    );

    // A subtree: children and grandchildren, nothing beside or above; pageable.
    drop(conn);
    assert_eq!(
        put_agency(s, agency("001.01.01.H49", Some("000.01.01.H49"))).await,
        Ok(Upsert::Inserted)
    );
    let mut conn = s.acquire().await.expect("conn");
    let under = |code: &str, after: Option<&str>, limit: Option<u32>| AgencyFilter {
        under: Some(code.to_owned()),
        after: after.map(str::to_owned),
        limit,
        ..AgencyFilter::default()
    };
    assert_eq!(
        codes(
            agencies::list(&mut conn, &under("000.00.00.H49", None, None))
                .await
                .expect("subtree")
        ),
        ["000.00.01.H49", "000.01.01.H49", "001.01.01.H49"]
    );
    assert_eq!(
        codes(
            agencies::list(
                &mut conn,
                &under("000.00.00.H49", Some("000.00.01.H49"), Some(1))
            )
            .await
            .expect("subtree page")
        ),
        ["000.01.01.H49"]
    );
    assert_eq!(
        codes(
            agencies::list(&mut conn, &under("000.01.01.H49", None, None))
                .await
                .expect("a leaf's parent")
        ),
        ["001.01.01.H49"]
    );
    assert!(
        agencies::list(&mut conn, &under("000.00.00.G22", None, None))
            .await
            .expect("no children")
            .is_empty()
    );
    let both = AgencyFilter {
        under: Some("000.00.00.H49".to_owned()),
        prefix: Some("001.".to_owned()),
        ..AgencyFilter::default()
    };
    assert_eq!(
        codes(
            agencies::list(&mut conn, &both)
                .await
                .expect("under + prefix")
        ),
        ["001.01.01.H49"]
    );

    drop(conn);
    let deactivated = write(s, (), |c, _| {
        Box::pin(async move {
            let known = agencies::set_active(c, "000.00.00.G22", false, now_micros()).await?;
            let unknown = agencies::set_active(c, "000.00.00.Z00", false, now_micros()).await?;
            Ok((known, unknown))
        })
    })
    .await;
    assert_eq!(deactivated, Ok((true, false)));
    let mut conn = s.acquire().await.expect("conn");
    let active = AgencyFilter {
        active_only: true,
        ..AgencyFilter::default()
    };
    let listed = codes(agencies::list(&mut conn, &active).await.expect("active"));
    assert!(!listed.contains(&"000.00.00.G22".to_owned()), "{listed:?}");
    assert_eq!(listed.len(), 5);
    let g22 = agencies::get(&mut conn, "000.00.00.G22")
        .await
        .expect("get")
        .expect("row");
    assert!(!g22.active);
    drop(conn);
    db
}

fn cert(agency: &str, seed: &str) -> CertificateRecord {
    CertificateRecord {
        agency_code: agency.to_owned(),
        sha256: sha(seed),
        subject: Some(format!("CN={seed},O=Test,C=VN")),
        serial: Some("4ff8".to_owned()),
        not_after: Some(2_366_841_600_000_000),
        created_at: now_micros(),
    }
}

async fn bind(store: &Store, record: CertificateRecord) -> Result<(), StoreError> {
    write(store, record, |c, record| {
        Box::pin(async move { agencies::bind_certificate(c, record).await })
    })
    .await
}

async fn certificates_belong_to_one_agency(db: Db) -> Db {
    let s = &db.store;
    for code in ["000.00.00.H49", "000.00.00.G22"] {
        put_agency(s, agency(code, None)).await.expect("agency");
    }
    bind(s, cert("000.00.00.H49", "h49-a")).await.expect("bind");
    bind(s, cert("000.00.00.H49", "h49-b")).await.expect("bind");
    bind(s, cert("000.00.00.G22", "g22-a")).await.expect("bind");

    // Rebinding with fewer details keeps the stored ones.
    let mut bare = cert("000.00.00.H49", "h49-a");
    bare.subject = None;
    bare.serial = None;
    bare.not_after = None;
    bind(s, bare).await.expect("rebind");

    // The same certificate for another agency is a conflict; unknown agency too.
    let stolen = bind(s, cert("000.00.00.G22", "h49-a")).await;
    assert_eq!(stolen.err().map(|e| e.code()), Some("store.conflict"));
    let nobody = bind(s, cert("000.00.00.X00", "x")).await;
    assert_eq!(nobody.err().map(|e| e.code()), Some("store.conflict"));

    let mut conn = s.acquire().await.expect("conn");
    let h49 = agencies::certificates_of(&mut conn, "000.00.00.H49")
        .await
        .expect("of");
    assert_eq!(h49.len(), 2);
    let a = agencies::certificate(&mut conn, &sha("h49-a"))
        .await
        .expect("lookup")
        .expect("bound");
    assert_eq!(a.agency_code, "000.00.00.H49");
    assert_eq!(a.subject.as_deref(), Some("CN=h49-a,O=Test,C=VN"));
    assert_eq!(a.not_after, Some(2_366_841_600_000_000));
    assert!(agencies::certificate(&mut conn, &sha("none"))
        .await
        .expect("lookup")
        .is_none());
    assert_eq!(
        agencies::active_certificates(&mut conn)
            .await
            .expect("all")
            .len(),
        3
    );
    drop(conn);

    // Replacing H49's set: h49-b goes, h49-c comes, h49-a stays.
    let replaced = write(s, (), |c, _| {
        Box::pin(async move {
            let set = [
                cert("000.00.00.H49", "h49-a"),
                cert("000.00.00.H49", "h49-c"),
            ];
            agencies::replace_certificates(c, "000.00.00.H49", &set).await?;
            let gone = agencies::unbind_certificate(c, "000.00.00.H49", &sha("h49-b")).await?;
            agencies::set_active(c, "000.00.00.G22", false, now_micros()).await?;
            Ok(gone)
        })
    })
    .await;
    assert_eq!(
        replaced,
        Ok(false),
        "h49-b was already unbound by the replace"
    );
    let mut conn = s.acquire().await.expect("conn");
    let now: Vec<String> = agencies::certificates_of(&mut conn, "000.00.00.H49")
        .await
        .expect("of")
        .into_iter()
        .map(|c| c.sha256)
        .collect();
    let mut expected = vec![sha("h49-a"), sha("h49-c")];
    expected.sort();
    assert_eq!(now, expected);
    // A deactivated agency's certificates no longer count.
    let active = agencies::active_certificates(&mut conn).await.expect("all");
    assert!(active.iter().all(|c| c.agency_code == "000.00.00.H49"));
    assert_eq!(active.len(), 2);
    drop(conn);
    db
}

async fn credentials_are_stored_and_revoked(db: Db) -> Db {
    let s = &db.store;
    put_agency(s, agency("000.00.00.H08", None))
        .await
        .expect("agency");
    let credential = |id: &str| CredentialRecord {
        system_id: id.to_owned(),
        agency_code: "000.00.00.H08".to_owned(),
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: now_micros(),
        revoked_at: None,
        role: CredentialRole::Agency,
        audit_scope: None,
        reads_packets: false,
    };
    for id in ["qlvb-h08", "qlvb-h08-backup"] {
        let record = credential(id);
        write(s, record, |c, record| {
            Box::pin(async move { agencies::insert_credential(c, record).await })
        })
        .await
        .expect("insert");
    }
    let duplicate = credential("qlvb-h08");
    let again = write(s, duplicate, |c, duplicate| {
        Box::pin(async move { agencies::insert_credential(c, duplicate).await })
    })
    .await;
    assert_eq!(again.err().map(|e| e.code()), Some("store.conflict"));

    let mut conn = s.acquire().await.expect("conn");
    let stored = agencies::credential(&mut conn, "qlvb-h08")
        .await
        .expect("get")
        .expect("row");
    assert_eq!(stored.secret_hash, credential("qlvb-h08").secret_hash);
    assert_eq!(stored.revoked_at, None);
    let ids: Vec<String> = agencies::credentials_of(&mut conn, "000.00.00.H08")
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.system_id)
        .collect();
    assert_eq!(ids, ["qlvb-h08", "qlvb-h08-backup"]);
    drop(conn);

    let revoked = write(s, (), |c, _| {
        Box::pin(async move {
            let first = agencies::revoke_credential(c, "qlvb-h08", 42).await?;
            let second = agencies::revoke_credential(c, "qlvb-h08", 43).await?;
            let unknown = agencies::revoke_credential(c, "nobody", 44).await?;
            Ok((first, second, unknown))
        })
    })
    .await;
    assert_eq!(revoked, Ok((true, false, false)));
    let mut conn = s.acquire().await.expect("conn");
    let stored = agencies::credential(&mut conn, "qlvb-h08")
        .await
        .expect("get")
        .expect("row");
    assert_eq!(stored.revoked_at, Some(42));
    drop(conn);
    db
}

async fn packets_documents_and_receipts(db: Db) -> Db {
    let s = &db.store;
    let first = packet("p-1", "000.00.00.G22", "doc-1", PacketKind::Message);
    let second = packet("p-2", "000.00.00.G22", "doc-1", PacketKind::Message);
    let (a, b) = (first.clone(), second.clone());
    write(s, (a, b), |c, (a, b)| {
        Box::pin(async move {
            packets::insert_packet(c, a, None).await?;
            packets::insert_packet(c, b, None).await?;
            packets::insert_document(
                c,
                &DocumentRecord {
                    sender: a.sender.clone(),
                    document_id: a.document_id.clone(),
                    first_packet_id: a.id.clone(),
                    content_sha256: a.content_sha256.clone(),
                    business_type: "0".to_owned(),
                    subject: "Về việc thử nghiệm liên thông".to_owned(),
                    created_at: a.received_at,
                    notation: Some("15/BTN-VP".to_owned()),
                    priority: Some(1),
                    due_date: Some("2026-12-31".to_owned()),
                    appointed_at: Some(1_796_490_000_000_000),
                },
            )
            .await?;
            packets::insert_receipt(
                c,
                &ReceiptRecord {
                    packet_id: a.id.clone(),
                    receipt_xml: "<Receipt>…</Receipt>".to_owned(),
                    created_at: a.received_at,
                },
            )
            .await
        })
    })
    .await
    .expect("insert");

    // Same bytes from the same sender: conflict. The same bytes from another sender are fine.
    let mut same_bytes = packet("p-3", "000.00.00.G22", "doc-9", PacketKind::Message);
    same_bytes.content_sha256 = first.content_sha256.clone();
    let replay = write(s, same_bytes, |c, same_bytes| {
        Box::pin(async move { packets::insert_packet(c, same_bytes, None).await })
    })
    .await;
    assert_eq!(replay.err().map(|e| e.code()), Some("store.conflict"));
    let mut other_sender = packet("p-4", "000.00.00.H49", "doc-1", PacketKind::Status);
    other_sender.content_sha256 = first.content_sha256.clone();
    let status = other_sender.clone();
    write(s, status, |c, status| {
        Box::pin(async move { packets::insert_packet(c, status, None).await })
    })
    .await
    .expect("other sender");

    // A second document row or a second receipt is a conflict; so is a receipt for no packet.
    let doc_again = write(s, (), |c, _| {
        Box::pin(async move {
            packets::insert_document(
                c,
                &DocumentRecord {
                    sender: "000.00.00.G22".to_owned(),
                    document_id: "doc-1".to_owned(),
                    first_packet_id: "p-2".to_owned(),
                    content_sha256: sha("p-2"),
                    business_type: "0".to_owned(),
                    subject: "x".to_owned(),
                    created_at: 0,
                    ..Default::default()
                },
            )
            .await
        })
    })
    .await;
    assert_eq!(doc_again.err().map(|e| e.code()), Some("store.conflict"));
    for packet_id in ["p-1", "p-404"] {
        let receipt = ReceiptRecord {
            packet_id: packet_id.to_owned(),
            receipt_xml: "<Receipt/>".to_owned(),
            created_at: 0,
        };
        let result = write(s, receipt, |c, receipt| {
            Box::pin(async move { packets::insert_receipt(c, receipt).await })
        })
        .await;
        assert_eq!(
            result.err().map(|e| e.code()),
            Some("store.conflict"),
            "{packet_id}"
        );
    }

    let mut conn = s.acquire().await.expect("conn");
    assert_eq!(
        packets::packet(&mut conn, "p-1").await.expect("get"),
        Some(first.clone())
    );
    assert_eq!(
        packets::packet(&mut conn, "p-404").await.expect("get"),
        None
    );
    assert_eq!(
        packets::packet_by_content(&mut conn, "000.00.00.G22", &first.content_sha256)
            .await
            .expect("by content"),
        Some(first.clone())
    );
    assert_eq!(
        packets::packet_by_content(&mut conn, "000.00.00.H49", &first.content_sha256)
            .await
            .expect("by content")
            .map(|p| (p.id, p.kind)),
        Some(("p-4".to_owned(), PacketKind::Status))
    );
    let of_doc: Vec<String> = packets::packets_of_document(&mut conn, "000.00.00.G22", "doc-1")
        .await
        .expect("of document")
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(of_doc.len(), 2);
    assert!(of_doc.contains(&"p-1".to_owned()) && of_doc.contains(&"p-2".to_owned()));
    let doc = packets::document(&mut conn, "000.00.00.G22", "doc-1")
        .await
        .expect("doc")
        .expect("row");
    assert_eq!(doc.first_packet_id, "p-1");
    assert_eq!(doc.subject, "Về việc thử nghiệm liên thông");
    assert_eq!(
        (
            doc.notation.as_deref(),
            doc.priority,
            doc.due_date.as_deref(),
            doc.appointed_at
        ),
        (
            Some("15/BTN-VP"),
            Some(1),
            Some("2026-12-31"),
            Some(1_796_490_000_000_000)
        )
    );
    assert!(packets::document(&mut conn, "000.00.00.H49", "doc-1")
        .await
        .expect("doc")
        .is_none());
    let receipt = packets::receipt(&mut conn, "p-1")
        .await
        .expect("receipt")
        .expect("row");
    assert_eq!(receipt.receipt_xml, "<Receipt>…</Receipt>");
    assert!(packets::receipt(&mut conn, "p-2")
        .await
        .expect("receipt")
        .is_none());
    drop(conn);
    db
}

async fn deliveries_inbox_and_acks(db: Db) -> Db {
    let s = &db.store;
    let seqs = write(s, (), |c, _| {
        Box::pin(async move {
            let mut seqs = Vec::new();
            for (i, id) in ["p-1", "p-2", "p-3"].into_iter().enumerate() {
                let kind = if i == 2 {
                    PacketKind::Status
                } else {
                    PacketKind::Message
                };
                packets::insert_packet(
                    c,
                    &packet(id, "000.00.00.G22", &format!("doc-{i}"), kind),
                    None,
                )
                .await?;
                for recipient in ["000.00.00.H49", "000.00.00.H08"] {
                    let delivery = NewDelivery {
                        packet_id: id.to_owned(),
                        recipient: recipient.to_owned(),
                        created_at: now_micros(),
                    };
                    seqs.push(deliveries::insert_delivery(c, &delivery).await?);
                }
            }
            Ok(seqs)
        })
    })
    .await
    .expect("deliveries");
    assert_eq!(seqs.len(), 6);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seq grows: {seqs:?}");

    // Several recipients at once; the seqs come back by recipient, in the order given.
    let batch = write(s, (), |c, _| {
        Box::pin(async move {
            packets::insert_packet(
                c,
                &packet("p-9", "000.00.00.G22", "doc-9", PacketKind::Message),
                None,
            )
            .await?;
            let recipients = ["vxp.saas.03", "000.00.00.H08", "000.01.01.H49"];
            let batch: Vec<NewDelivery> = recipients
                .iter()
                .map(|r| NewDelivery {
                    packet_id: "p-9".to_owned(),
                    recipient: (*r).to_owned(),
                    created_at: 5,
                })
                .collect();
            deliveries::insert_deliveries(c, &batch).await
        })
    })
    .await
    .expect("batch");
    let order: Vec<&str> = batch.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(order, ["vxp.saas.03", "000.00.00.H08", "000.01.01.H49"]);
    assert!(batch.iter().all(|(_, seq)| *seq > seqs[5]));
    let mut distinct: Vec<i64> = batch.iter().map(|(_, seq)| *seq).collect();
    distinct.dedup();
    assert_eq!(distinct.len(), 3);
    let repeated = write(s, (), |c, _| {
        Box::pin(async move {
            let same = NewDelivery {
                packet_id: "p-9".to_owned(),
                recipient: "000.00.00.H49".to_owned(),
                created_at: 0,
            };
            deliveries::insert_deliveries(c, &[same.clone(), same]).await
        })
    })
    .await;
    assert_eq!(repeated.err().map(|e| e.code()), Some("store.conflict"));

    let twice = write(s, (), |c, _| {
        Box::pin(async move {
            let delivery = NewDelivery {
                packet_id: "p-1".to_owned(),
                recipient: "000.00.00.H49".to_owned(),
                created_at: 0,
            };
            deliveries::insert_delivery(c, &delivery).await
        })
    })
    .await;
    assert_eq!(twice.err().map(|e| e.code()), Some("store.conflict"));

    let mut conn = s.acquire().await.expect("conn");
    let first = deliveries::delivery(&mut conn, seqs[0])
        .await
        .expect("get")
        .expect("row");
    assert_eq!(
        (first.packet_id.as_str(), first.recipient.as_str()),
        ("p-1", "000.00.00.H49")
    );
    assert_eq!(first.acked_at, None);
    assert!(deliveries::delivery(&mut conn, 999_999)
        .await
        .expect("get")
        .is_none());
    let of_packet: Vec<String> = deliveries::deliveries_of_packet(&mut conn, "p-2")
        .await
        .expect("of packet")
        .into_iter()
        .map(|d| d.recipient)
        .collect();
    assert_eq!(of_packet, ["000.00.00.H08", "000.00.00.H49"]);

    let query = |after: i64, limit: u32, pending_only: bool| InboxQuery {
        recipient: "000.00.00.H49".to_owned(),
        after,
        limit,
        pending_only,
    };
    let inbox = deliveries::inbox(&mut conn, &query(0, 100, false))
        .await
        .expect("inbox");
    assert_eq!(inbox.len(), 3);
    assert!(inbox
        .iter()
        .all(|e| e.delivery.recipient == "000.00.00.H49"));
    let third = inbox.get(2).expect("third");
    assert_eq!(third.kind, PacketKind::Status);
    assert_eq!(third.document_id, "doc-2");
    assert_eq!(third.sender, "000.00.00.G22");
    assert_eq!(third.size, 2048);
    let page = deliveries::inbox(&mut conn, &query(inbox[0].delivery.seq, 1, false))
        .await
        .expect("page");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].delivery.seq, inbox[1].delivery.seq);
    drop(conn);

    let h49_first = inbox[0].delivery.seq;
    let h08_first = seqs[1];
    let acks = write(s, (), move |c, _| {
        Box::pin(async move {
            let first =
                deliveries::ack_delivery(c, h49_first, "000.00.00.H49", 100, "pull").await?;
            let again =
                deliveries::ack_delivery(c, h49_first, "000.00.00.H49", 200, "pull").await?;
            let foreign =
                deliveries::ack_delivery(c, h08_first, "000.00.00.H49", 300, "pull").await?;
            let unknown =
                deliveries::ack_delivery(c, 999_999, "000.00.00.H49", 400, "pull").await?;
            Ok((first, again, foreign, unknown))
        })
    })
    .await;
    assert_eq!(
        acks,
        Ok((
            Ack::Acked,
            Ack::AlreadyAcked(100),
            Ack::NotFound,
            Ack::NotFound
        ))
    );
    let mut conn = s.acquire().await.expect("conn");
    let pending = deliveries::inbox(&mut conn, &query(0, 100, true))
        .await
        .expect("pending");
    assert_eq!(pending.len(), 2);
    assert!(pending.iter().all(|e| e.delivery.seq != h49_first));
    let h08 = deliveries::delivery(&mut conn, h08_first)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(h08.acked_at, None, "another agency's ack changed nothing");
    drop(conn);

    // Many at once (the push workers' 2xx answers): only a delivery still to take, addressed
    // to the recipient named, is taken.
    let h49_second = inbox[1].delivery.seq;
    let taken = write(s, (), move |c, _| {
        Box::pin(async move {
            let taking = |seq, recipient, at| deliveries::Taking { seq, recipient, at };
            let rows = [
                taking(h49_first, "000.00.00.H49", 500),
                taking(h08_first, "000.00.00.H49", 500),
                taking(h49_second, "000.00.00.H49", 600),
                taking(999_999, "000.00.00.H49", 500),
            ];
            deliveries::ack_deliveries(c, &rows, "push").await
        })
    })
    .await;
    assert_eq!(taken, Ok(vec![h49_second]));
    let mut conn = s.acquire().await.expect("conn");
    let second = deliveries::delivery(&mut conn, h49_second)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(second.acked_at, Some(600));
    let first = deliveries::delivery(&mut conn, h49_first)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(first.acked_at, Some(100), "taken before: unchanged");
    let h08 = deliveries::delivery(&mut conn, h08_first)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(h08.acked_at, None, "another agency's delivery: unchanged");
    drop(conn);
    db
}

async fn recipient_states_and_status_history(db: Db) -> Db {
    let s = &db.store;
    let result = write(s, (), |c, _| {
        Box::pin(async move {
            let letter = packet("p-1", "000.00.00.G22", "doc-1", PacketKind::Message);
            packets::insert_packet(c, &letter, None).await?;
            packets::insert_document(
                c,
                &DocumentRecord {
                    sender: "000.00.00.G22".to_owned(),
                    document_id: "doc-1".to_owned(),
                    first_packet_id: "p-1".to_owned(),
                    content_sha256: letter.content_sha256.clone(),
                    business_type: "0".to_owned(),
                    subject: "Thử nghiệm".to_owned(),
                    created_at: 0,
                    ..Default::default()
                },
            )
            .await?;
            let initial: Vec<RecipientStateRecord> = ["000.00.00.H49", "000.00.00.H08"]
                .into_iter()
                .map(|recipient| RecipientStateRecord {
                    sender: "000.00.00.G22".to_owned(),
                    document_id: "doc-1".to_owned(),
                    recipient: recipient.to_owned(),
                    state: "submitted".to_owned(),
                    updated_at: 1,
                })
                .collect();
            deliveries::set_recipient_states(c, &initial).await?;
            let mut seqs = Vec::new();
            for (i, (reporter, code)) in [
                ("000.00.00.H49", "01"),
                ("000.00.00.H49", "03"),
                ("000.00.00.H08", "02"),
            ]
            .into_iter()
            .enumerate()
            {
                let status_packet =
                    packet(&format!("s-{i}"), reporter, "doc-1", PacketKind::Status);
                packets::insert_packet(c, &status_packet, None).await?;
                seqs.push(
                    deliveries::insert_status(
                        c,
                        &NewStatus {
                            sender: "000.00.00.G22".to_owned(),
                            document_id: "doc-1".to_owned(),
                            reporter: reporter.to_owned(),
                            status_code: code.to_owned(),
                            description: (code == "02").then(|| "Gửi nhầm cơ quan".to_owned()),
                            packet_id: status_packet.id.clone(),
                            at: 10 + i as i64,
                        },
                    )
                    .await?,
                );
                deliveries::set_recipient_state(
                    c,
                    &RecipientStateRecord {
                        sender: "000.00.00.G22".to_owned(),
                        document_id: "doc-1".to_owned(),
                        recipient: reporter.to_owned(),
                        state: code.to_owned(),
                        updated_at: 10 + i as i64,
                    },
                )
                .await?;
            }
            Ok(seqs)
        })
    })
    .await;
    let seqs = result.expect("history");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));

    // States and statuses need an existing document.
    let orphan = write(s, (), |c, _| {
        Box::pin(async move {
            deliveries::set_recipient_state(
                c,
                &RecipientStateRecord {
                    sender: "000.00.00.G22".to_owned(),
                    document_id: "doc-404".to_owned(),
                    recipient: "000.00.00.H49".to_owned(),
                    state: "01".to_owned(),
                    updated_at: 0,
                },
            )
            .await
        })
    })
    .await;
    assert_eq!(orphan.err().map(|e| e.code()), Some("store.conflict"));

    let mut conn = s.acquire().await.expect("conn");
    let states = deliveries::recipient_states(&mut conn, "000.00.00.G22", "doc-1")
        .await
        .expect("states");
    let pairs: Vec<(String, String)> = states.into_iter().map(|r| (r.recipient, r.state)).collect();
    assert_eq!(
        pairs,
        [
            ("000.00.00.H08".to_owned(), "02".to_owned()),
            ("000.00.00.H49".to_owned(), "03".to_owned())
        ]
    );
    let h49 = deliveries::recipient_state(&mut conn, "000.00.00.G22", "doc-1", "000.00.00.H49")
        .await
        .expect("state")
        .expect("row");
    assert_eq!((h49.state.as_str(), h49.updated_at), ("03", 11));
    assert!(
        deliveries::recipient_state(&mut conn, "000.00.00.G22", "doc-1", "vxp.saas.03")
            .await
            .expect("state")
            .is_none()
    );
    let history = deliveries::status_history(&mut conn, "000.00.00.G22", "doc-1")
        .await
        .expect("history");
    let codes: Vec<&str> = history.iter().map(|h| h.status_code.as_str()).collect();
    assert_eq!(codes, ["01", "03", "02"]);
    assert_eq!(history[2].description.as_deref(), Some("Gửi nhầm cơ quan"));
    assert_eq!(history[0].description, None);
    assert_eq!(history[1].packet_id, "s-1");
    drop(conn);
    db
}

async fn concurrent_units_share_commits_and_answer_after_commit(db: Db) -> Db {
    const SUBMITTERS: usize = 200;
    let before = db.store.writer_stats();
    let store = Arc::new(db.store.clone());
    let mut tasks = Vec::new();
    for i in 0..SUBMITTERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let code = format!("{i:03}.00.00.H49");
            let record = agency(&code, None);
            let outcome = store
                .write(record, |c, record| {
                    Box::pin(async move { agencies::upsert(c, record).await })
                })
                .await;
            // The answer means committed: another connection sees the row at once.
            let mut conn = store.acquire().await.expect("conn");
            let visible = agencies::exists(&mut conn, &code).await.expect("exists");
            (outcome, visible)
        }));
    }
    for task in tasks {
        let (outcome, visible) = task.await.expect("task");
        assert_eq!(outcome, Ok(Upsert::Inserted));
        assert!(visible, "a unit was answered before its commit was visible");
    }
    let after = db.store.writer_stats();
    let units = after.units_committed - before.units_committed;
    let commits = after.commits - before.commits;
    assert_eq!(units, SUBMITTERS as u64);
    assert!(
        commits < SUBMITTERS as u64,
        "{SUBMITTERS} concurrent units took {commits} commits: no group commit"
    );
    let mut conn = db.store.acquire().await.expect("conn");
    assert_eq!(
        agencies::count(&mut conn).await.expect("count"),
        SUBMITTERS as i64
    );
    drop(conn);
    db
}

async fn a_failing_unit_is_rolled_back_alone(db: Db) -> Db {
    const SUBMITTERS: usize = 60;
    let store = Arc::new(db.store.clone());
    let before = db.store.writer_stats();
    let mut tasks = Vec::new();
    for i in 0..SUBMITTERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let code = format!("{i:03}.00.00.G22");
            let record = agency(&code, None);
            let fails = i % 3 == 0;
            let outcome: Result<(), StoreError> = store
                .write(record, move |c, record| {
                    Box::pin(async move {
                        agencies::upsert(c, record).await?;
                        if fails {
                            // Written, then refused: the row must not survive.
                            return Err(StoreError::Conflict(format!("unit {i} refused")));
                        }
                        Ok(())
                    })
                })
                .await;
            (code, fails, outcome)
        }));
    }
    let mut kept = HashSet::new();
    for task in tasks {
        let (code, fails, outcome) = task.await.expect("task");
        if fails {
            let err = outcome.expect_err("the unit failed");
            assert!(err.to_string().contains("refused"), "its own error: {err}");
        } else {
            assert_eq!(outcome, Ok(()));
            kept.insert(code);
        }
    }
    // A unit whose statement fails inside the database (PostgreSQL aborts the transaction
    // until the savepoint is rolled back) does not poison the others either.
    let bad_then_good = tokio::join!(
        put_agency(&store, agency("999.00.00.G22", Some("000.00.00.Q99"))),
        put_agency(&store, agency("998.00.00.G22", None)),
    );
    assert_eq!(
        bad_then_good.0.err().map(|e| e.code()),
        Some("store.conflict")
    );
    assert_eq!(bad_then_good.1, Ok(Upsert::Inserted));
    kept.insert("998.00.00.G22".to_owned());

    let mut conn = db.store.acquire().await.expect("conn");
    let stored: HashSet<String> = agencies::list(&mut conn, &AgencyFilter::default())
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.code)
        .collect();
    assert_eq!(stored, kept);
    drop(conn);
    let after = db.store.writer_stats();
    assert_eq!(
        after.units_failed - before.units_failed,
        (SUBMITTERS / 3 + 1) as u64
    );
    assert!(after.retried_batches > before.retried_batches);
    db
}

async fn committed_data_survives_reopening(mut db: Db) -> Db {
    let store = Arc::new(db.store.clone());
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("packet-{i}");
            let record = packet(
                &id,
                "000.00.00.H49",
                &format!("doc-{i}"),
                PacketKind::Message,
            );
            store
                .write(record, |c, record| {
                    Box::pin(async move {
                        packets::insert_packet(c, record, None).await?;
                        deliveries::insert_delivery(
                            c,
                            &NewDelivery {
                                packet_id: record.id.clone(),
                                recipient: "000.00.00.G22".to_owned(),
                                created_at: record.received_at,
                            },
                        )
                        .await
                    })
                })
                .await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("committed");
    }
    drop(store);
    db.reopen().await;
    // Migrating a current schema changes nothing.
    assert_eq!(
        db.store.migrate().await.expect("migrate").applied,
        Vec::<i64>::new()
    );
    let mut conn = db.store.acquire().await.expect("conn");
    let inbox = deliveries::inbox(
        &mut conn,
        &InboxQuery {
            recipient: "000.00.00.G22".to_owned(),
            after: 0,
            limit: 1000,
            pending_only: true,
        },
    )
    .await
    .expect("inbox");
    assert_eq!(inbox.len(), 50);
    for i in 0..50 {
        let id = format!("packet-{i}");
        assert!(
            packets::packet(&mut conn, &id)
                .await
                .expect("get")
                .is_some(),
            "{id} lost"
        );
    }
    drop(conn);
    db
}

#[tokio::test]
async fn an_unknown_scheme_or_an_in_memory_database_is_refused() {
    for url in ["mysql://u:pw@h/db", "sqlite::memory:", "sqlite://:memory:"] {
        let err = Store::connect(url).await.err();
        assert_eq!(
            err.as_ref().map(StoreError::code),
            Some("store.config"),
            "{url}"
        );
        assert!(!err
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("pw"));
    }
}

#[tokio::test]
async fn an_unreachable_postgres_is_unavailable() {
    let options = lienthong::store::StoreOptions {
        acquire_timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    // Port 1 on loopback: nothing listens there.
    let err = Store::connect_with("postgres://lt:secret@127.0.0.1:1/lt", options)
        .await
        .err();
    assert_eq!(
        err.as_ref().map(StoreError::code),
        Some("store.unavailable")
    );
    assert!(!err
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("secret"));
}

#[test]
fn database_names_are_swapped_in_urls() {
    assert_eq!(
        with_database("postgres://lt@127.0.0.1:5433/postgres", "x"),
        "postgres://lt@127.0.0.1:5433/x"
    );
    assert_eq!(
        with_database("postgres://lt@127.0.0.1:5433?sslmode=disable", "x"),
        "postgres://lt@127.0.0.1:5433/x?sslmode=disable"
    );
}

const HOUR: i64 = 3_600_000_000;
/// 2026-12-01T00:00:00+07:00: November ends, in Vietnam, a microsecond before.
const DECEMBER: i64 = 1_796_058_000_000_000;
const WINDOWS: AckWindows = AckWindows {
    normal: 24 * HOUR,
    khan: 8 * HOUR,
    thuong_khan: 4 * HOUR,
    hoa_toc: 2 * HOUR,
};

/// A letter of G22 as the exchange writes one (packet, document, recipients' states,
/// deliveries, counted), created at `at`; answers its deliveries' numbers, by recipient.
async fn stats_letter(
    c: &mut sqlx::AnyConnection,
    id: &str,
    at: i64,
    priority: Option<i64>,
    appointed_at: Option<i64>,
    recipients: &[&str],
) -> Result<Vec<i64>, StoreError> {
    let g22 = "000.00.00.G22";
    let letter = PacketRecord {
        received_at: at,
        ..packet(id, g22, id, PacketKind::Message)
    };
    packets::insert_packet(c, &letter, None).await?;
    let document = DocumentRecord {
        sender: g22.to_owned(),
        document_id: id.to_owned(),
        first_packet_id: id.to_owned(),
        content_sha256: letter.content_sha256.clone(),
        business_type: "0".to_owned(),
        subject: "Thống kê".to_owned(),
        created_at: at,
        priority,
        appointed_at,
        due_date: Some("2026-11-25".to_owned()),
        ..Default::default()
    };
    packets::insert_document(c, &document).await?;
    let mut seqs = Vec::new();
    for recipient in recipients {
        let state = RecipientStateRecord {
            sender: g22.to_owned(),
            document_id: id.to_owned(),
            recipient: (*recipient).to_owned(),
            state: "submitted".to_owned(),
            updated_at: at,
        };
        deliveries::set_recipient_state(c, &state).await?;
        let delivery = NewDelivery {
            packet_id: id.to_owned(),
            recipient: (*recipient).to_owned(),
            created_at: at,
        };
        seqs.push(deliveries::insert_delivery(c, &delivery).await?);
    }
    stats::count_letters(c, &[id]).await?;
    Ok(seqs)
}

/// A status report of `reporter` on G22's letter `id`.
async fn stats_status(
    c: &mut sqlx::AnyConnection,
    reporter: &str,
    id: &str,
    code: &str,
    at: i64,
) -> Result<(), StoreError> {
    let report = format!("{id}-{reporter}-{code}-{at}");
    packets::insert_packet(c, &packet(&report, reporter, id, PacketKind::Status), None).await?;
    let status = NewStatus {
        sender: "000.00.00.G22".to_owned(),
        document_id: id.to_owned(),
        reporter: reporter.to_owned(),
        status_code: code.to_owned(),
        description: None,
        packet_id: report,
        at,
    };
    deliveries::insert_status(c, &status).await?;
    Ok(())
}

async fn month_stats(store: &Store, month: i64) -> Vec<AgencyStats> {
    let mut conn = store.acquire().await.expect("connection");
    stats::month(
        &mut conn,
        StatsMonth(month),
        Whose::Scope(&lienthong::store::scope::Scope::All),
        &WINDOWS,
    )
    .await
    .expect("statistics")
}

/// The counters and the medians follow each change once: letters on both sides of the end of
/// November in Vietnam, acknowledgements late and in time (by priority, and by a hỏa tốc hẹn
/// giờ letter's appointed hour), taken twice, first 02 and 03 only (not the sender's own),
/// both deadlines of one delivery raised; and a recount from the rows gives the same.
async fn statistics_are_kept_with_the_changes(db: Db) -> Db {
    let (h49, h08, g22) = ("000.00.00.H49", "000.00.00.H08", "000.00.00.G22");
    let t0 = DECEMBER - 240 * HOUR;
    write(&db.store, (), move |c, _| {
        Box::pin(async move {
            let l1 = stats_letter(c, "s-1", t0, None, None, &[h49, h08]).await?;
            let l2 = stats_letter(c, "s-2", t0 + 1, Some(1), None, &[h49]).await?;
            let l3 = stats_letter(c, "s-3", DECEMBER - 1, None, None, &[h49]).await?;
            let l4 = stats_letter(c, "s-4", DECEMBER, None, None, &[h49]).await?;
            let l5 =
                stats_letter(c, "s-5", t0 + 2, Some(4), Some(t0 + 2 + 50 * HOUR), &[h49]).await?;
            // H49 takes L1 in time (10 h of 24), L2 late (10 h of khẩn's 8), L3 late (30 h),
            // L5 in time (40 h: hỏa tốc's 2 h, but appointed 50 h after); L4 in December.
            deliveries::ack_delivery(c, l1[0], h49, t0 + 10 * HOUR, "pull").await?;
            deliveries::ack_delivery(c, l1[0], h49, t0 + 11 * HOUR, "pull").await?;
            let taken = [
                deliveries::Taking {
                    seq: l2[0],
                    recipient: h49,
                    at: t0 + 1 + 10 * HOUR,
                },
                deliveries::Taking {
                    seq: l3[0],
                    recipient: h49,
                    at: DECEMBER - 1 + 30 * HOUR,
                },
                deliveries::Taking {
                    seq: l5[0],
                    recipient: h49,
                    at: t0 + 2 + 40 * HOUR,
                },
                deliveries::Taking {
                    seq: l4[0],
                    recipient: h49,
                    at: DECEMBER + HOUR,
                },
                deliveries::Taking {
                    seq: l1[0],
                    recipient: h49,
                    at: t0 + 12 * HOUR,
                },
            ];
            deliveries::ack_deliveries(c, &taken, "push").await?;
            stats_status(c, h49, "s-1", "03", t0 + 12 * HOUR).await?;
            stats_status(c, h49, "s-1", "03", t0 + 20 * HOUR).await?;
            stats_status(c, h49, "s-2", "03", t0 + 1 + 15 * HOUR).await?;
            stats_status(c, g22, "s-2", "03", t0 + 1 + HOUR).await?;
            stats_status(c, h49, "s-3", "02", DECEMBER).await?;
            stats_status(c, h49, "s-3", "02", DECEMBER + HOUR).await?;
            // H08 never takes L1: both its deadlines pass; it is one letter overdue.
            let now = DECEMBER + 100 * HOUR;
            deadlines::raise_unacknowledged(c, &WINDOWS, now, 100).await?;
            deadlines::raise_unhandled(c, "2026-12-05", "2026-11-01", now, 100).await?;
            deadlines::raise_unacknowledged(c, &WINDOWS, now, 100).await?;
            Ok(())
        })
    })
    .await
    .expect("the letters and their changes");

    let november = month_stats(&db.store, 202611).await;
    let row = |rows: &[AgencyStats], code: &str| {
        rows.iter()
            .find(|r| r.agency == code)
            .cloned()
            .unwrap_or_else(|| panic!("no {code}: {rows:?}"))
    };
    assert_eq!(november.len(), 3, "{november:?}");
    assert_eq!(
        row(&november, h49),
        AgencyStats {
            agency: h49.to_owned(),
            sent: 0,
            received: 4,
            acknowledged: 4,
            acknowledged_in_time: 2,
            // L1 and L5 were unhandled by their DueDate (L2 and L3 too): H49 took them all
            // in time or not, so only their handling deadlines count, once per letter.
            overdue: 4,
            refused: 1,
            median_to_acknowledge: Some(20 * HOUR),
            median_to_assigned: Some(12 * HOUR + (15 * HOUR - 12 * HOUR) / 2),
        }
    );
    assert_eq!(
        row(&november, h08),
        AgencyStats {
            agency: h08.to_owned(),
            received: 1,
            overdue: 1,
            ..AgencyStats::default()
        }
    );
    assert_eq!(
        row(&november, g22),
        AgencyStats {
            agency: g22.to_owned(),
            sent: 4,
            ..AgencyStats::default()
        }
    );
    let december = month_stats(&db.store, 202612).await;
    assert_eq!(row(&december, g22).sent, 1);
    assert_eq!(
        (
            row(&december, h49).received,
            row(&december, h49).acknowledged_in_time,
            row(&december, h49).median_to_acknowledge
        ),
        (1, 1, Some(HOUR))
    );
    // December's letter (its DueDate passed too) counts in December, not in November.
    assert_eq!(row(&december, h49).overdue, 1);

    // Counted again from the rows, as after the migration: the same.
    let mut conn = db.store.acquire().await.expect("connection");
    assert!(!stats::recount_once(&mut conn).await.expect("no recount"));
    sqlx::query("UPDATE stats_counts SET sent = 99")
        .execute(&mut *conn)
        .await
        .expect("damage");
    sqlx::query("DELETE FROM stats_times WHERE kind = 'assigned'")
        .execute(&mut *conn)
        .await
        .expect("damage");
    sqlx::query("UPDATE stats_recount SET done = 0")
        .execute(&mut *conn)
        .await
        .expect("ask");
    assert!(stats::recount_once(&mut conn).await.expect("recount"));
    drop(conn);
    assert_eq!(month_stats(&db.store, 202611).await, november);
    assert_eq!(month_stats(&db.store, 202612).await, december);
    db
}

/// A scope's search past the newest 5,000 documents the server reads first for a wide scope
/// (`store::search`): its matches in them and before them, page after page, are exactly the
/// matches sorted newest first — without words, and with a phrase whose whole word is in
/// every document (read from the word index's postings). 10,400 documents, of which the scope
/// sent or received 6 among the newest 5,000 and ~1,200 older: the first page is read from
/// both sides of the window.
async fn a_wide_scope_reads_the_newest_first(db: Db) -> Db {
    use lienthong::store::scope::Scope;
    use lienthong::store::search::{self, Cursor, Direction, DocumentQuery, Party};
    use lienthong::store::words;
    let (root, unit, outside) = ("000.00.00.H05", "000.00.01.H05", "000.00.00.G22");
    put_agency(&db.store, agency(root, None))
        .await
        .expect("root");
    put_agency(&db.store, agency(unit, Some(root)))
        .await
        .expect("unit");
    // (number, sender, recipient): the scope sends every 7th of the old ones and receives
    // every 11th; in the newest 5,000, only 6.
    let total = 10_400usize;
    let plan: Vec<(usize, &str, &str)> = (0..total)
        .map(|n| {
            let old = n < total - 5_000;
            match n {
                n if old && n % 7 == 0 => (n, unit, outside),
                n if old && n % 11 == 0 => (n, outside, unit),
                n if !old && n % 2_000 == 3 => (n, root, outside),
                n if !old && n % 2_000 == 1_000 => (n, outside, root),
                n => (n, outside, "000.00.00.H08"),
            }
        })
        .collect();
    let rows = plan.clone();
    write(&db.store, (), move |c, _| {
        let rows = rows.clone();
        Box::pin(async move {
            for chunk in rows.chunks(1_000) {
                let mut documents = Vec::new();
                let mut states = Vec::new();
                for (n, sender, recipient) in chunk {
                    let id = format!("doc-{n:05}");
                    let letter = packet(&id, sender, &id, PacketKind::Message);
                    packets::insert_packet(c, &letter, None).await?;
                    documents.push(DocumentRecord {
                        sender: (*sender).to_owned(),
                        document_id: id.clone(),
                        first_packet_id: id.clone(),
                        content_sha256: letter.content_sha256.clone(),
                        business_type: "0".to_owned(),
                        subject: if n % 3 == 0 {
                            "Kế hoạch tổng kết năm"
                        } else {
                            "Kế hoạch năm"
                        }
                        .to_owned(),
                        // Two documents share each time: the tie goes by sender, then id.
                        created_at: 1_000_000 + (*n as i64 / 2),
                        ..Default::default()
                    });
                    states.push(RecipientStateRecord {
                        sender: (*sender).to_owned(),
                        document_id: id,
                        recipient: (*recipient).to_owned(),
                        state: "submitted".to_owned(),
                        updated_at: 0,
                    });
                }
                packets::insert_documents(c, &documents).await?;
                deliveries::set_recipient_states(c, &states).await?;
            }
            while words::index_some(c, 1_000).await? > 0 {}
            Ok(())
        })
    })
    .await
    .expect("documents");

    let in_scope = |(_, sender, recipient): &&(usize, &str, &str)| {
        [root, unit].contains(sender) || [root, unit].contains(recipient)
    };
    for (phrase, wanted) in [
        (None, plan.iter().filter(in_scope).collect::<Vec<_>>()),
        (
            Some("hoach tong"),
            plan.iter()
                .filter(in_scope)
                .filter(|(n, _, _)| n % 3 == 0)
                .collect(),
        ),
    ] {
        // Newest first: by time, then sender, then id, all descending.
        let mut wanted: Vec<(i64, String, String)> = wanted
            .iter()
            .map(|(n, sender, _)| {
                (
                    1_000_000 + (*n as i64 / 2),
                    sender.to_string(),
                    format!("doc-{n:05}"),
                )
            })
            .collect();
        wanted.sort();
        wanted.reverse();
        let mut found = Vec::new();
        let mut before = None;
        let mut conn = db.store.acquire().await.expect("connection");
        loop {
            let query = DocumentQuery {
                party: Party::Scope(Scope::Subtree(root.to_owned())),
                direction: Direction::Either,
                period: None,
                words: phrase.map(str::to_owned),
                notation: None,
                state: None,
                overdue: None,
                before: before.clone(),
                limit: 25,
            };
            let page = search::documents(&mut conn, &query).await.expect("search");
            found.extend(
                page.iter()
                    .map(|h| (h.created_at, h.sender.clone(), h.document_id.clone())),
            );
            match page.last() {
                Some(last) if page.len() == 25 => {
                    before = Some(Cursor {
                        created_at: last.created_at,
                        sender: last.sender.clone(),
                        document_id: last.document_id.clone(),
                    })
                }
                _ => break,
            }
        }
        assert_eq!(found.len(), wanted.len(), "{phrase:?}");
        assert_eq!(found, wanted, "{phrase:?}");
    }
    db
}
