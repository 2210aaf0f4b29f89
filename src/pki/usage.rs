//! May this leaf sign documents? KeyUsage must carry digitalSignature or nonRepudiation, and the
//! leaf must not be a CA.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::KeyUsage;

use super::error::UsageProblem;

/// Checks a signing (leaf) certificate's basicConstraints and KeyUsage.
///
/// A missing KeyUsage is refused: RFC 5280 would allow any use, but a government signing
/// certificate that does not say it may sign was not issued for signing.
pub(crate) fn check_signing_leaf(cert: &X509Certificate<'_>) -> Result<(), UsageProblem> {
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => return Err(UsageProblem::IsCa),
        Ok(_) => {}
        Err(e) => return Err(UsageProblem::Malformed(format!("basicConstraints: {e}"))),
    }
    let usage = match cert.key_usage() {
        Ok(Some(ext)) => ext.value,
        Ok(None) => return Err(UsageProblem::Missing),
        Err(e) => return Err(UsageProblem::Malformed(e.to_string())),
    };
    if usage.digital_signature() || usage.non_repudiation() {
        Ok(())
    } else {
        Err(UsageProblem::NoSigningBit {
            present: usage_names(usage),
        })
    }
}

/// Whether a CA's KeyUsage lets it sign CRLs (no KeyUsage: no restriction, RFC 5280 §4.2.1.3).
pub(crate) fn may_sign_crls(cert: &X509Certificate<'_>) -> Result<(), String> {
    match cert.key_usage() {
        Ok(Some(ext)) if !ext.value.crl_sign() => {
            Err("the issuer's KeyUsage does not include cRLSign".to_owned())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("the issuer's KeyUsage is unreadable: {e}")),
    }
}

fn usage_names(usage: &KeyUsage) -> Vec<&'static str> {
    let all = [
        (usage.digital_signature(), "digitalSignature"),
        (usage.non_repudiation(), "nonRepudiation"),
        (usage.key_encipherment(), "keyEncipherment"),
        (usage.data_encipherment(), "dataEncipherment"),
        (usage.key_agreement(), "keyAgreement"),
        (usage.key_cert_sign(), "keyCertSign"),
        (usage.crl_sign(), "cRLSign"),
        (usage.encipher_only(), "encipherOnly"),
        (usage.decipher_only(), "decipherOnly"),
    ];
    all.iter()
        .filter(|(set, _)| *set)
        .map(|(_, name)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::testdata;

    fn check(name: &str) -> Result<(), UsageProblem> {
        let der = testdata::cert(name).to_der().expect("DER");
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).expect("parse");
        check_signing_leaf(&parsed)
    }

    #[test]
    fn agency_and_server_certificates_may_sign() {
        assert_eq!(check("agency-000.00.00.G22-rsa2048.pem"), Ok(()));
        assert_eq!(check("agency-000.00.00.H49-p384.pem"), Ok(()));
        assert_eq!(check("server-receipts-p256.pem"), Ok(()));
    }

    #[test]
    fn encipherment_only_is_refused_and_named() {
        assert_eq!(
            check("bad-no-signing-usage.pem"),
            Err(UsageProblem::NoSigningBit {
                present: vec!["keyEncipherment"]
            })
        );
    }

    #[test]
    fn missing_key_usage_and_ca_leaf_are_refused() {
        assert_eq!(check("bad-no-key-usage.pem"), Err(UsageProblem::Missing));
        assert_eq!(check("bad-ca-as-leaf.pem"), Err(UsageProblem::IsCa));
    }

    #[test]
    fn cas_may_sign_crls() {
        let der = testdata::cert("issuing-ca.pem").to_der().expect("DER");
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).expect("parse");
        assert_eq!(may_sign_crls(&parsed), Ok(()));
        let der = testdata::cert("agency-000.00.00.G22-rsa2048.pem")
            .to_der()
            .expect("DER");
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).expect("parse");
        assert!(may_sign_crls(&parsed).is_err());
    }
}
