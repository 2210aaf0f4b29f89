//! The dev/test PKI of `certs/dev`, carried inside the binary so that dev mode works from any
//! folder (what `cargo install` gives), and so that a production configuration can be told
//! apart from one that trusts this public material.
//!
//! Its private keys are public: whatever it signs proves nothing. `lienthong serve` in dev mode
//! writes it out under the data directory ([`write_out`]) and reads it from there like any
//! operator's PEM files; `lienthong certs dev DIR` writes it anywhere, for signing test letters.

use std::io;
use std::path::Path;

use openssl::x509::X509;

use super::ident::Fingerprint;

/// Every file of `certs/dev` (PEM, DER, JSON) as (file name, bytes), sorted by name.
pub const FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/dev_pki_files.rs"));

/// The dev root CA, trusted in dev mode.
pub const TRUST_ANCHORS: &str = "trust.pem";
/// The dev issuing CA.
pub const INTERMEDIATES: &str = "intermediates.pem";
/// The two CRLs dev mode checks revocation against (root's and issuing CA's).
pub const CRLS: [&str; 2] = ["root-ca.crl.pem", "issuing-ca.crl.pem"];
/// The certificate and key dev mode signs receipts with.
pub const RECEIPTS_CERT: &str = "server-receipts-p256.pem";
pub const RECEIPTS_KEY: &str = "server-receipts-p256.key.pem";

/// One file's bytes, by name.
pub fn file(name: &str) -> Option<&'static [u8]> {
    FILES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Writes every dev PKI file into `dir` (created when missing). A file already there with the
/// same bytes is left alone; one with other bytes is replaced, so that an upgraded binary's dev
/// PKI is the one in use. Returns how many files were written.
pub fn write_out(dir: &Path) -> io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut written = 0;
    for (name, bytes) in FILES {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|existing| existing == *bytes) {
            continue;
        }
        std::fs::write(&path, bytes)?;
        written += 1;
    }
    Ok(written)
}

/// The SHA-256 fingerprints of every certificate of the dev PKI (CAs, agencies, receipts,
/// the deliberately bad ones): any of them in a production configuration is a mistake.
pub fn certificate_fingerprints() -> Vec<Fingerprint> {
    FILES
        .iter()
        .filter(|(name, _)| name.ends_with(".pem") && !name.ends_with(".key.pem"))
        .filter_map(|(_, bytes)| X509::stack_from_pem(bytes).ok())
        .flatten()
        .filter_map(|cert| Fingerprint::of(&cert).ok())
        .collect()
}

/// Whether a PEM file's certificates include one of the dev PKI's.
pub fn holds_dev_certificate(pem: &[u8]) -> bool {
    let dev = certificate_fingerprints();
    X509::stack_from_pem(pem)
        .map(|certs| {
            certs
                .iter()
                .filter_map(|c| Fingerprint::of(c).ok())
                .any(|f| dev.contains(&f))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_files_are_the_committed_ones() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/dev");
        for name in [TRUST_ANCHORS, INTERMEDIATES, RECEIPTS_CERT, RECEIPTS_KEY]
            .into_iter()
            .chain(CRLS)
            .chain(["bindings.json"])
        {
            let committed = std::fs::read(root.join(name)).expect(name);
            assert_eq!(file(name), Some(committed.as_slice()), "{name}");
        }
    }

    #[test]
    fn written_out_once_then_left_alone_and_restored_when_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("dev-pki");
        assert_eq!(write_out(&target).expect("write"), FILES.len());
        assert_eq!(write_out(&target).expect("again"), 0);
        std::fs::write(target.join(TRUST_ANCHORS), b"edited").expect("edit");
        assert_eq!(write_out(&target).expect("restore"), 1);
        assert_eq!(
            std::fs::read(target.join(TRUST_ANCHORS)).expect("read"),
            file(TRUST_ANCHORS).expect("embedded")
        );
    }

    #[test]
    fn dev_certificates_are_recognised_and_others_are_not() {
        assert!(holds_dev_certificate(file(TRUST_ANCHORS).expect("root")));
        assert!(holds_dev_certificate(
            file(RECEIPTS_CERT).expect("receipts")
        ));
        let key = openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                .expect("curve"),
        )
        .expect("key");
        let key = openssl::pkey::PKey::from_ec_key(key).expect("pkey");
        let mut name = openssl::x509::X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "other").expect("cn");
        let name = name.build();
        let mut builder = X509::builder().expect("builder");
        builder.set_subject_name(&name).expect("subject");
        builder.set_issuer_name(&name).expect("issuer");
        builder.set_pubkey(&key).expect("pubkey");
        builder
            .sign(&key, openssl::hash::MessageDigest::sha256())
            .expect("sign");
        let pem = builder.build().to_pem().expect("pem");
        assert!(!holds_dev_certificate(&pem));
    }
}
