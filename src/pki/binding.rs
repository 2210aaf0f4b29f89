//! Which certificates each agency may sign with: `bindings.json`, by SHA-256 fingerprint of the
//! certificate. Agency certificates carry the agency's name, not its code, so the binding is
//! what ties a packet's From agency to the key that signed it.

use std::collections::HashMap;
use std::path::Path;

use openssl::x509::X509Ref;
use serde::Deserialize;

use super::error::{BoundText, PkiError};
use super::ident::{CertId, Fingerprint};

/// One agency ↔ certificate binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Agency code as written in packets (e.g. `000.00.00.G22`).
    pub agency: String,
    /// SHA-256 of the certificate's DER encoding.
    pub certificate: Fingerprint,
    /// Free text for the operator.
    pub note: Option<String>,
}

/// All bindings, by agency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bindings {
    by_agency: HashMap<String, Vec<Binding>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    bindings: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    agency: String,
    certificate_sha256: String,
    #[serde(default)]
    note: Option<String>,
}

impl Bindings {
    /// Reads a bindings file.
    pub fn load(path: &Path) -> Result<Self, PkiError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| PkiError::config(&name, e))?;
        Bindings::from_json(&bytes, &name)
    }

    /// Reads bindings from JSON bytes: `{"bindings":[{"agency":…,"certificate_sha256":…,"note":…}]}`.
    /// Fingerprints are 64 hex digits in any case, with or without colons.
    pub fn from_json(json: &[u8], source_name: &str) -> Result<Self, PkiError> {
        let file: File =
            serde_json::from_slice(json).map_err(|e| PkiError::config(source_name, e))?;
        let mut bindings = Bindings::default();
        for (index, entry) in file.bindings.into_iter().enumerate() {
            let binding = entry_to_binding(entry).map_err(|reason| {
                PkiError::config(source_name, format!("binding #{}: {reason}", index + 1))
            })?;
            bindings.add(binding);
        }
        Ok(bindings)
    }

    /// Adds one binding (an exact duplicate is kept once).
    pub fn add(&mut self, binding: Binding) {
        let list = self.by_agency.entry(binding.agency.clone()).or_default();
        if !list.iter().any(|b| b.certificate == binding.certificate) {
            list.push(binding);
        }
    }

    /// Whether the agency has at least one bound certificate.
    pub fn knows(&self, agency: &str) -> bool {
        self.by_agency
            .get(agency)
            .is_some_and(|list| !list.is_empty())
    }

    /// The bindings of one agency.
    pub fn of(&self, agency: &str) -> &[Binding] {
        self.by_agency.get(agency).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Succeeds when `leaf` is bound to `agency`; otherwise `pki.binding_mismatch` naming both.
    pub fn check(&self, agency: &str, leaf: &X509Ref) -> Result<(), PkiError> {
        let fingerprint = Fingerprint::of(leaf).map_err(|e| PkiError::BadCertificate {
            what: "the signing certificate".to_owned(),
            reason: e.to_string(),
        })?;
        let bound = self.of(agency);
        if bound.iter().any(|b| b.certificate == fingerprint) {
            return Ok(());
        }
        Err(PkiError::BindingMismatch {
            agency: agency.to_owned(),
            cert: CertId::of(leaf),
            fingerprint,
            bound: BoundText(bound.len()),
        })
    }
}

fn entry_to_binding(entry: Entry) -> Result<Binding, String> {
    let agency = entry.agency;
    if agency.is_empty() || agency.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "agency code {agency:?} is empty or contains spaces"
        ));
    }
    let certificate = Fingerprint::parse(&entry.certificate_sha256).ok_or_else(|| {
        format!(
            "certificate_sha256 {:?} is not 64 hex digits",
            entry.certificate_sha256
        )
    })?;
    Ok(Binding {
        agency,
        certificate,
        note: entry.note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::testdata;

    fn dev() -> Bindings {
        Bindings::load(&testdata::path("bindings.json")).expect("bindings.json")
    }

    #[test]
    fn dev_agencies_are_bound_to_their_certificates() {
        let bindings = dev();
        for (agency, cert) in [
            ("000.00.00.G22", "agency-000.00.00.G22-rsa2048.pem"),
            ("000.00.00.G22", "agency-000.00.00.G22-p256.pem"),
            ("000.00.00.H49", "agency-000.00.00.H49-p384.pem"),
            ("000.01.01.H49", "agency-000.01.01.H49-rsa2048.pem"),
            ("000.00.00.H08", "agency-000.00.00.H08-rsa3072.pem"),
        ] {
            assert_eq!(
                bindings
                    .check(agency, &testdata::cert(cert))
                    .map_err(|e| e.to_string()),
                Ok(()),
                "{agency} {cert}"
            );
        }
        assert!(bindings.knows("000.00.00.H49"));
        assert!(!bindings.knows("000.00.00.H99"));
    }

    #[test]
    fn another_agencys_certificate_is_a_mismatch_naming_both() {
        let bindings = dev();
        let cert = testdata::cert("agency-000.00.00.H49-rsa2048.pem");
        let err = bindings.check("000.00.00.G22", &cert).err();
        assert_eq!(err.as_ref().map(|e| e.code()), Some("pki.binding_mismatch"));
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("000.00.00.G22"), "{text}");
        assert!(text.contains("Quảng Ninh"), "{text}");
        assert!(
            text.contains(&Fingerprint::of(&cert).expect("digest").to_string()),
            "{text}"
        );
        // A parent agency does not inherit its units' certificates, nor the other way round.
        let unit = testdata::cert("agency-000.01.01.H49-rsa2048.pem");
        assert!(bindings.check("000.00.00.H49", &unit).is_err());
    }

    #[test]
    fn an_unknown_agency_is_a_mismatch() {
        let err = dev()
            .check(
                "vxp.saas.03",
                &testdata::cert("agency-000.00.00.G22-rsa2048.pem"),
            )
            .err();
        assert_eq!(err.as_ref().map(|e| e.code()), Some("pki.binding_mismatch"));
        assert!(err
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("no certificate is bound"));
    }

    #[test]
    fn colon_and_uppercase_fingerprints_are_accepted() {
        let cert = testdata::cert("agency-000.00.00.H08-rsa2048.pem");
        let hex = Fingerprint::of(&cert)
            .expect("digest")
            .to_string()
            .to_uppercase();
        let colons: Vec<String> = hex
            .as_bytes()
            .chunks(2)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        let json = format!(
            r#"{{"bindings":[{{"agency":"000.00.00.H08","certificate_sha256":"{}"}}]}}"#,
            colons.join(":")
        );
        let bindings = Bindings::from_json(json.as_bytes(), "test").expect("parse");
        assert!(bindings.check("000.00.00.H08", &cert).is_ok());
    }

    #[test]
    fn malformed_files_are_config_errors() {
        for json in [
            r#"{"bindings":[{"agency":"000.00.00.G22","certificate_sha256":"abc"}]}"#,
            r#"{"bindings":[{"agency":"","certificate_sha256":"00"}]}"#,
            r#"{"bindings":[{"agency":"A","certificate_sha1":"00"}]}"#,
            r#"{"binding":[]}"#,
            "not json",
        ] {
            let err = Bindings::from_json(json.as_bytes(), "test").err();
            assert_eq!(err.map(|e| e.code()), Some("pki.config"), "{json}");
        }
    }
}
