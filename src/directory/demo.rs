//! The demo directory of dev mode: the agencies of the committed dev PKI (`certs/dev`), each
//! bound to the certificates `certs/dev/bindings.json` gives it — including the bad-case
//! certificates bound to 000.00.00.G22 on purpose, so that the PKI check, not the binding,
//! is what refuses them. Names follow `certs/README.md`; clerks' addresses are under the
//! reserved `.test` domain, so that nothing is ever mailed to a real office.

use std::collections::HashMap;
use std::path::Path;

use super::agency::{Agency, AgencyName, BoundCertificate, ClerkEmail};
use super::error::{DirectoryError, Location};
use super::import::ImportRow;
use crate::edxml::OrganId;
use crate::pki::{Bindings, Fingerprint};

/// (code, name, parent, clerk's address)
const AGENCIES: [(&str, &str, Option<&str>, &str); 4] = [
    (
        "000.00.00.G22",
        "Bộ Thử nghiệm Liên thông (DEV)",
        None,
        "vanthu@g22.lienthong.test",
    ),
    (
        "000.00.00.H49",
        "Ủy ban nhân dân tỉnh Quảng Ninh (DEV)",
        None,
        "vanthu@h49.lienthong.test",
    ),
    (
        "000.01.01.H49",
        "Văn phòng Ủy ban nhân dân tỉnh Quảng Ninh (DEV)",
        Some("000.00.00.H49"),
        "vanthu.vp@h49.lienthong.test",
    ),
    (
        "000.00.00.H08",
        "Ủy ban nhân dân tỉnh Thử nghiệm (DEV)",
        None,
        "vanthu@h08.lienthong.test",
    ),
];

/// The demo agencies as import rows, with certificate details read from the PEM files of
/// `dev_dir` (normally `certs/dev`).
pub(crate) fn demo_rows(dev_dir: &Path) -> Result<Vec<ImportRow>, DirectoryError> {
    let bindings_path = dev_dir.join("bindings.json");
    let bindings =
        Bindings::load(&bindings_path).map_err(|e| DirectoryError::io(&bindings_path, e))?;
    let details = certificates_in(dev_dir)?;
    let invalid =
        |e: &dyn std::fmt::Display| DirectoryError::Invalid(format!("demo directory: {e}"));
    let mut rows = Vec::with_capacity(AGENCIES.len());
    for (i, (code, name, parent, clerk)) in AGENCIES.into_iter().enumerate() {
        let certificates = bindings
            .of(code)
            .iter()
            .map(|b| {
                details
                    .get(&b.certificate)
                    .cloned()
                    .unwrap_or_else(|| BoundCertificate::fingerprint_only(b.certificate))
            })
            .collect();
        let agency = Agency {
            code: OrganId::parse(code).map_err(|e| invalid(&e))?,
            name: AgencyName::parse(name).map_err(|e| invalid(&e))?,
            parent: parent
                .map(OrganId::parse)
                .transpose()
                .map_err(|e| invalid(&e))?,
            push_endpoint: None,
            clerk_emails: vec![ClerkEmail::parse(clerk).map_err(|e| invalid(&e))?],
            active: true,
        };
        rows.push(ImportRow {
            location: Location::Entry(i + 1),
            agency,
            certificates,
        });
    }
    Ok(rows)
}

/// Every certificate in the `.pem` files of a directory (keys and CRLs skipped), by fingerprint.
fn certificates_in(dir: &Path) -> Result<HashMap<Fingerprint, BoundCertificate>, DirectoryError> {
    let mut found = HashMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| DirectoryError::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| DirectoryError::io(dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.ends_with(".pem") || name.ends_with(".key.pem") || name.contains(".crl.") {
            continue;
        }
        let pem = std::fs::read(&path).map_err(|e| DirectoryError::io(&path, e))?;
        let Ok(stack) = openssl::x509::X509::stack_from_pem(&pem) else {
            continue;
        };
        for cert in stack {
            let Ok(der) = cert.to_der() else { continue };
            if let Ok(bound) = BoundCertificate::from_der(&der) {
                found.insert(bound.fingerprint, bound);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_agencies_carry_their_dev_certificates_with_details() {
        let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/dev");
        let rows = demo_rows(&dev).expect("demo");
        assert_eq!(rows.len(), 4);
        let h49 = rows
            .iter()
            .find(|r| r.agency.code.as_str() == "000.00.00.H49")
            .expect("H49");
        assert_eq!(h49.certificates.len(), 2);
        assert!(h49.certificates.iter().all(|c| c
            .subject
            .as_deref()
            .is_some_and(|s| s.contains("Quảng Ninh"))));
        let unit = rows
            .iter()
            .find(|r| r.agency.code.as_str() == "000.01.01.H49")
            .expect("unit");
        assert_eq!(
            unit.agency.parent.as_ref().map(OrganId::as_str),
            Some("000.00.00.H49")
        );
        let g22 = rows
            .iter()
            .find(|r| r.agency.code.as_str() == "000.00.00.G22")
            .expect("G22");
        // Two good keys plus the bad cases bound on purpose.
        assert!(g22.certificates.len() >= 9, "{}", g22.certificates.len());
        assert!(rows.iter().all(|r| r
            .agency
            .clerk_emails
            .iter()
            .all(|e| e.as_str().ends_with(".lienthong.test"))));
    }
}
