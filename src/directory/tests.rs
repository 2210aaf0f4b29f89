//! The directory over a real SQLite store (the store itself is tested on both engines in
//! tests/store.rs): credentials, bindings for the trust pipeline, the demo directory, upserts.

use std::path::{Path, PathBuf};

use super::*;
use crate::pki::Fingerprint;

struct Fixture {
    directory: Directory,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("d.db").display());
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    Fixture {
        directory: Directory::new(store),
        _dir: dir,
    }
}

fn dev_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/dev")
}

fn dev_cert(name: &str) -> openssl::x509::X509 {
    let pem = std::fs::read(dev_dir().join(name)).expect("dev certificate");
    openssl::x509::X509::from_pem(&pem).expect("pem")
}

fn code(text: &str) -> OrganId {
    OrganId::parse(text).expect("code")
}

fn agency(text: &str, parent: Option<&str>) -> Agency {
    Agency {
        code: code(text),
        name: AgencyName::parse(&format!("Cơ quan {text}")).expect("name"),
        parent: parent.map(code),
        push_endpoint: None,
        clerk_emails: Vec::new(),
        active: true,
    }
}

#[tokio::test]
async fn the_demo_directory_is_seeded_once_and_binds_the_dev_certificates() {
    let f = fixture().await;
    assert_eq!(f.directory.count().await, Ok(0));
    let first = f.directory.seed_demo(&dev_dir()).await.expect("seed");
    assert_eq!((first.imported, first.updated), (4, 0));
    let again = f.directory.seed_demo(&dev_dir()).await.expect("seed again");
    assert_eq!((again.imported, again.updated), (0, 4));
    assert_eq!(f.directory.count().await, Ok(4));

    // The directory's bindings answer like certs/dev/bindings.json.
    let bindings = f.directory.bindings().await.expect("bindings");
    let file = crate::pki::Bindings::load(&dev_dir().join("bindings.json")).expect("file");
    for agency in [
        "000.00.00.G22",
        "000.00.00.H49",
        "000.01.01.H49",
        "000.00.00.H08",
    ] {
        let mut ours: Vec<_> = bindings.of(agency).iter().map(|b| b.certificate).collect();
        let mut theirs: Vec<_> = file.of(agency).iter().map(|b| b.certificate).collect();
        ours.sort_by_key(|f| f.to_string());
        theirs.sort_by_key(|f| f.to_string());
        assert_eq!(ours, theirs, "{agency}");
    }
    let h49 = dev_cert("agency-000.00.00.H49-p384.pem");
    assert!(bindings.check("000.00.00.H49", &h49).is_ok());
    let err = bindings.check("000.00.00.G22", &h49).err();
    assert_eq!(err.map(|e| e.code()), Some("pki.binding_mismatch"));

    // Details were read from the PEM files.
    let certs = f
        .directory
        .certificates(&code("000.01.01.H49"))
        .await
        .expect("certs");
    assert_eq!(certs.len(), 1);
    assert!(certs[0]
        .subject
        .as_deref()
        .is_some_and(|s| s.contains("Văn phòng")));
}

#[tokio::test]
async fn a_certificate_leads_to_its_active_agency_only() {
    let f = fixture().await;
    f.directory.seed_demo(&dev_dir()).await.expect("seed");
    let cert = dev_cert("agency-000.00.00.H08-rsa3072.pem");
    let fingerprint = Fingerprint::of(&cert).expect("digest");
    assert_eq!(
        f.directory.agency_of_certificate(&fingerprint).await,
        Ok(Some(code("000.00.00.H08")))
    );
    let unknown = Fingerprint::of(&dev_cert("root-ca.pem")).expect("digest");
    assert_eq!(f.directory.agency_of_certificate(&unknown).await, Ok(None));

    f.directory
        .set_active(&code("000.00.00.H08"), false)
        .await
        .expect("deactivate");
    assert_eq!(
        f.directory.agency_of_certificate(&fingerprint).await,
        Ok(None)
    );
    assert!(f
        .directory
        .bindings()
        .await
        .expect("bindings")
        .of("000.00.00.H08")
        .is_empty());
    let missing = f.directory.set_active(&code("000.00.00.Z99"), false).await;
    assert_eq!(
        missing.err().map(|e| e.code()),
        Some("directory.unknown_agency")
    );

    // Binding and unbinding one certificate.
    f.directory
        .bind_certificate(
            &code("000.00.00.H49"),
            &BoundCertificate::fingerprint_only(unknown),
        )
        .await
        .expect("bind");
    assert_eq!(
        f.directory.agency_of_certificate(&unknown).await,
        Ok(Some(code("000.00.00.H49")))
    );
    let taken = f
        .directory
        .bind_certificate(
            &code("000.00.00.G22"),
            &BoundCertificate::fingerprint_only(unknown),
        )
        .await;
    assert_eq!(taken.err().map(|e| e.code()), Some("store.conflict"));
    let nobody = f
        .directory
        .bind_certificate(
            &code("000.00.00.Z99"),
            &BoundCertificate::fingerprint_only(unknown),
        )
        .await;
    assert_eq!(
        nobody.err().map(|e| e.code()),
        Some("directory.unknown_agency")
    );
    assert_eq!(
        f.directory
            .unbind_certificate(&code("000.00.00.H49"), &unknown)
            .await,
        Ok(true)
    );
    assert_eq!(f.directory.agency_of_certificate(&unknown).await, Ok(None));
}

#[tokio::test]
async fn credentials_authenticate_until_revoked_or_deactivated() {
    let f = fixture().await;
    f.directory
        .upsert(&agency("000.00.00.H49", None))
        .await
        .expect("agency");
    let id = SystemId::parse("qlvb-h49").expect("id");
    let created = f
        .directory
        .create_credential(&code("000.00.00.H49"), &id, CredentialRole::Agency)
        .await
        .expect("create");
    let secret = created.secret.expose().to_owned();

    // Only the hash is stored.
    let mut conn = f.directory.store().acquire().await.expect("conn");
    let stored = crate::store::agencies::credential(&mut conn, "qlvb-h49")
        .await
        .expect("read")
        .expect("row");
    drop(conn);
    assert!(stored.secret_hash.starts_with("$argon2id$"));
    assert!(!stored.secret_hash.contains(&secret));

    let check = |s: String| {
        let d = f.directory.clone();
        async move { d.check_credential("qlvb-h49", &s).await }
    };
    assert_eq!(check(secret.clone()).await, Ok(Some(code("000.00.00.H49"))));
    // Again (from the memory of verified secrets), and wrong secrets in all shapes.
    assert_eq!(check(secret.clone()).await, Ok(Some(code("000.00.00.H49"))));
    assert_eq!(check(format!("{secret}x")).await, Ok(None));
    assert_eq!(check(String::new()).await, Ok(None));
    assert_eq!(check("x".repeat(10_000)).await, Ok(None));
    assert_eq!(
        f.directory.check_credential("nobody", &secret).await,
        Ok(None)
    );

    let duplicate = f
        .directory
        .create_credential(&code("000.00.00.H49"), &id, CredentialRole::Agency)
        .await;
    assert_eq!(
        duplicate.err().map(|e| e.code()),
        Some("directory.credential_exists")
    );
    let unknown = f
        .directory
        .create_credential(
            &code("000.00.00.Z99"),
            &SystemId::parse("z").expect("id"),
            CredentialRole::Agency,
        )
        .await;
    assert_eq!(
        unknown.err().map(|e| e.code()),
        Some("directory.unknown_agency")
    );

    // Deactivating the agency stops the credential, even one verified before.
    f.directory
        .set_active(&code("000.00.00.H49"), false)
        .await
        .expect("off");
    assert_eq!(check(secret.clone()).await, Ok(None));
    f.directory
        .set_active(&code("000.00.00.H49"), true)
        .await
        .expect("on");
    assert_eq!(check(secret.clone()).await, Ok(Some(code("000.00.00.H49"))));

    // Revocation too, at once.
    assert_eq!(f.directory.revoke_credential(&id).await, Ok(true));
    assert_eq!(f.directory.revoke_credential(&id).await, Ok(false));
    assert_eq!(check(secret).await, Ok(None));
}

#[tokio::test]
async fn upserts_check_the_parent_chain() {
    let f = fixture().await;
    let d = &f.directory;
    assert_eq!(
        d.upsert(&agency("000.00.00.H49", None)).await,
        Ok(Upsert::Inserted)
    );
    assert_eq!(
        d.upsert(&agency("000.00.01.H49", Some("000.00.00.H49")))
            .await,
        Ok(Upsert::Inserted)
    );
    let orphan = d
        .upsert(&agency("000.00.02.H49", Some("000.00.00.Q99")))
        .await;
    assert_eq!(
        orphan.as_ref().err().map(|e| e.code()),
        Some("directory.invalid")
    );
    // H49 under its own child would close a loop.
    let looped = d
        .upsert(&agency("000.00.00.H49", Some("000.00.01.H49")))
        .await;
    assert!(looped
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("loops"));

    let mut changed = agency("000.00.01.H49", Some("000.00.00.H49"));
    changed.push_endpoint = Some(PushEndpoint::parse("https://a.example.vn/in").expect("url"));
    changed.clerk_emails = vec![ClerkEmail::parse("vt@a.example.vn").expect("mail")];
    assert_eq!(d.upsert(&changed).await, Ok(Upsert::Updated));
    assert_eq!(d.get(&code("000.00.01.H49")).await, Ok(Some(changed)));
    assert_eq!(d.get(&code("000.00.09.H49")).await, Ok(None));
    let children = d
        .list(&AgencyFilter {
            parent: Some("000.00.00.H49".to_owned()),
            ..AgencyFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(children.len(), 1);
}

#[tokio::test]
async fn an_import_moves_a_certificate_between_two_agencies_of_the_file() {
    let f = fixture().await;
    let fp = "984abdf8458226db178f9b2d848a51076c60259aadc51f30b721ad0bb7c30bd6";
    let first = format!("code,name,certificate_sha256\n000.00.00.H49,A,{fp}\n000.00.00.H08,B,\n");
    let rows = parse_import(first.as_bytes(), Format::Csv, "1.csv").expect("parse");
    f.directory.import(rows, "1.csv").await.expect("import");
    let moved = format!("code,name,certificate_sha256\n000.00.00.H49,A,\n000.00.00.H08,B,{fp}\n");
    let rows = parse_import(moved.as_bytes(), Format::Csv, "2.csv").expect("parse");
    let report = f.directory.import(rows, "2.csv").await.expect("import");
    assert_eq!(
        (report.imported, report.updated, report.certificates),
        (0, 2, 1)
    );
    let fingerprint = Fingerprint::parse(fp).expect("fp");
    assert_eq!(
        f.directory.agency_of_certificate(&fingerprint).await,
        Ok(Some(code("000.00.00.H08")))
    );
}
