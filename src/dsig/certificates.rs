//! Decoding of KeyInfo certificates, memoized.
//!
//! OpenSSL 3 decodes a certificate's public key through its generic decoder framework, which
//! costs more than the RSA verification itself (~150 µs per certificate, measured with perf on
//! the verify bench). Agencies sign thousands of packets with the same certificate, so parsed
//! certificates are kept by the exact text of their `X509Certificate` element: a known
//! certificate costs one hash lookup, with no base64 decoding and no DER parse. Only the
//! decoding is memoized: every check on the certificate (trust, validity, revocation, binding)
//! still runs on every packet.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use openssl::x509::X509;

/// Enough for every agency certificate of a national deployment in use at one time; the memo
/// is simply emptied when full (a rare, cheap event) rather than tracking recency.
const CAPACITY: usize = 4096;

fn memo() -> &'static Mutex<HashMap<String, X509>> {
    static MEMO: OnceLock<Mutex<HashMap<String, X509>>> = OnceLock::new();
    MEMO.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The certificate whose base64 text is `text`: decoded by `decode` the first time, and taken
/// from the memo afterwards. The same text always decodes to the same certificate, and a text
/// that `decode` refuses is not remembered, so it is refused again, the same way, every time.
pub(crate) fn from_text<E>(
    text: &str,
    decode: impl FnOnce(&str) -> Result<X509, E>,
) -> Result<X509, E> {
    if let Some(cert) = memo().lock().ok().and_then(|m| m.get(text).cloned()) {
        return Ok(cert);
    }
    let cert = decode(text)?;
    if let Ok(mut m) = memo().lock() {
        if m.len() >= CAPACITY {
            m.clear();
        }
        m.insert(text.to_owned(), cert.clone());
    }
    Ok(cert)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

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
        let text = base64::engine::general_purpose::STANDARD.encode(&der);
        let parse = |t: &str| {
            let der = base64::engine::general_purpose::STANDARD
                .decode(t)
                .map_err(|e| e.to_string())?;
            openssl::x509::X509::from_der(&der).map_err(|e| e.to_string())
        };
        let a = super::from_text(&text, parse).unwrap();
        let b = super::from_text(&text, |_| Err("not asked again".to_owned())).unwrap();
        assert_eq!(a.to_der().unwrap(), der);
        assert_eq!(b.to_der().unwrap(), der);
        let cut = &text[..text.len() - 4];
        assert!(super::from_text(cut, parse).is_err());
        assert!(super::from_text(cut, parse).is_err());
    }
}
