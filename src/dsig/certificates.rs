//! Decoding of KeyInfo certificates, memoized.
//!
//! OpenSSL 3 decodes a certificate's public key through its generic decoder framework, which
//! costs more than the RSA verification itself (~150 µs per certificate, measured with perf on
//! the verify bench). Agencies sign thousands of packets with the same certificate, so parsed
//! certificates are kept by their exact DER bytes. Only the parse is memoized: every check on
//! the certificate (trust, validity, revocation, binding) still runs on every packet.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use openssl::x509::X509;

/// Enough for every agency certificate of a national deployment in use at one time; the memo
/// is simply emptied when full (a rare, cheap event) rather than tracking recency.
const CAPACITY: usize = 4096;

fn memo() -> &'static Mutex<HashMap<Vec<u8>, X509>> {
    static MEMO: OnceLock<Mutex<HashMap<Vec<u8>, X509>>> = OnceLock::new();
    MEMO.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Parses a DER certificate, reusing an earlier parse of the same bytes.
pub(crate) fn from_der(der: &[u8]) -> Result<X509, openssl::error::ErrorStack> {
    if let Some(cert) = memo().lock().ok().and_then(|m| m.get(der).cloned()) {
        return Ok(cert);
    }
    let cert = X509::from_der(der)?;
    if let Ok(mut m) = memo().lock() {
        if m.len() >= CAPACITY {
            m.clear();
        }
        m.insert(der.to_vec(), cert.clone());
    }
    Ok(cert)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_memo_returns_the_same_certificate_and_refuses_garbage() {
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/certs/dev/agency-000.00.00.G22-rsa2048.pem"
        ))
        .unwrap();
        let der = openssl::x509::X509::from_pem(&pem)
            .unwrap()
            .to_der()
            .unwrap();
        let a = super::from_der(&der).unwrap();
        let b = super::from_der(&der).unwrap();
        assert_eq!(a.to_der().unwrap(), b.to_der().unwrap());
        assert!(super::from_der(&der[..der.len() - 1]).is_err());
    }
}
