//! What proves a push comes from the exchange and carries the whole packet: `Content-Digest`
//! (RFC 9530, SHA-256 of the body) and an HTTP Message Signature (RFC 9421) over the method,
//! the target URI, that digest and the delivery id, made with the server's receipt key — so a
//! receiving system checks a push with the same certificate it checks receipts with, using any
//! RFC 9421 library.
//!
//! ```text
//! Content-Digest: sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:
//! Signature-Input: lienthong=("@method" "@target-uri" "content-digest" "x-lienthong-delivery");created=1764928800;keyid="<SHA-256 of the certificate>";alg="ecdsa-p256-sha256"
//! Signature: lienthong=:<base64 of r ‖ s>:
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer};
use openssl::x509::X509;

/// The label of our signature in `Signature-Input` and `Signature`.
pub const LABEL: &str = "lienthong";

/// The components a push signs, in this order.
pub const COVERED: [&str; 4] = [
    "@method",
    "@target-uri",
    "content-digest",
    "x-lienthong-delivery",
];

/// Why a key cannot sign pushes.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("the receipt key cannot sign pushes: {0} (RFC 9421 needs ECDSA P-256 or RSA)")]
    UnsupportedKey(String),
    #[error("signing a push failed: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

/// The RFC 9421 algorithms our keys map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    EcdsaP256Sha256,
    RsaPssSha512,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Algorithm::RsaPssSha512 => "rsa-pss-sha512",
        }
    }

    fn of(key: &PKey<Private>) -> Result<Algorithm, SignatureError> {
        match key.id() {
            Id::EC => {
                let curve = key.ec_key()?.group().curve_name();
                if curve == Some(Nid::X9_62_PRIME256V1) {
                    Ok(Algorithm::EcdsaP256Sha256)
                } else {
                    Err(SignatureError::UnsupportedKey(format!(
                        "an EC key on {curve:?}"
                    )))
                }
            }
            Id::RSA => Ok(Algorithm::RsaPssSha512),
            other => Err(SignatureError::UnsupportedKey(format!(
                "a key of type {other:?}"
            ))),
        }
    }
}

/// The headers that sign one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    pub signature_input: String,
    pub signature: String,
}

/// Signs pushes with the receipt key; `keyid` is the SHA-256 of the receipt certificate (DER,
/// lowercase hex), which is how a receiver finds the certificate to verify with.
pub struct MessageSigner {
    key: PKey<Private>,
    algorithm: Algorithm,
    key_id: String,
}

impl std::fmt::Debug for MessageSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageSigner")
            .field("algorithm", &self.algorithm.name())
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl MessageSigner {
    pub fn new(key: PKey<Private>, certificate: &X509) -> Result<MessageSigner, SignatureError> {
        let algorithm = Algorithm::of(&key)?;
        let key_id = hex::encode(certificate.digest(MessageDigest::sha256())?);
        Ok(MessageSigner {
            key,
            algorithm,
            key_id,
        })
    }

    /// The `keyid` the signatures carry.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Signs a POST of a body whose `Content-Digest` is `content_digest` to `target_uri` for
    /// the delivery `delivery`, created at `created` (seconds since the epoch).
    pub fn sign(
        &self,
        target_uri: &str,
        content_digest: &str,
        delivery: &str,
        created: i64,
    ) -> Result<SignatureHeaders, SignatureError> {
        let params = format!(
            "({});created={created};keyid=\"{}\";alg=\"{}\"",
            COVERED.map(|c| format!("\"{c}\"")).join(" "),
            self.key_id,
            self.algorithm.name()
        );
        let base = signature_base(
            &[
                ("@method", "POST"),
                ("@target-uri", target_uri),
                ("content-digest", content_digest),
                ("x-lienthong-delivery", delivery),
            ],
            &params,
        );
        let signature = self.sign_bytes(base.as_bytes())?;
        Ok(SignatureHeaders {
            signature_input: format!("{LABEL}={params}"),
            signature: format!("{LABEL}=:{}:", STANDARD.encode(signature)),
        })
    }

    /// RFC 9421 §3.3.4: ECDSA's signature is r ‖ s, each 32 bytes big-endian (not DER);
    /// §3.3.1: RSASSA-PSS with SHA-512 and a 64-byte salt.
    fn sign_bytes(&self, base: &[u8]) -> Result<Vec<u8>, SignatureError> {
        match self.algorithm {
            Algorithm::EcdsaP256Sha256 => {
                let mut signer = Signer::new(MessageDigest::sha256(), &self.key)?;
                let der = signer.sign_oneshot_to_vec(base)?;
                let sig = EcdsaSig::from_der(&der)?;
                let mut raw = sig.r().to_vec_padded(32)?;
                raw.extend(sig.s().to_vec_padded(32)?);
                Ok(raw)
            }
            Algorithm::RsaPssSha512 => {
                let mut signer = Signer::new(MessageDigest::sha512(), &self.key)?;
                signer.set_rsa_padding(Padding::PKCS1_PSS)?;
                signer.set_rsa_pss_saltlen(RsaPssSaltlen::custom(64))?;
                signer.set_rsa_mgf1_md(MessageDigest::sha512())?;
                Ok(signer.sign_oneshot_to_vec(base)?)
            }
        }
    }
}

/// The signature base of RFC 9421 §2.5: one line per covered component, `"name": value`, then
/// the `@signature-params` line, joined by LF with none after the last.
pub fn signature_base(components: &[(&str, &str)], params: &str) -> String {
    let mut base = String::with_capacity(256);
    for (name, value) in components {
        base.push_str(&format!("\"{name}\": {value}\n"));
    }
    base.push_str(&format!("\"@signature-params\": {params}"));
    base
}

/// `sha-256=:BASE64:` (RFC 9530 §2) of a body whose SHA-256 is `sha256`.
pub fn content_digest(sha256: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(sha256))
}

/// The target URI as a receiver reconstructs it (RFC 9421 §2.2.2): the endpoint with an empty
/// path written as `/`.
pub fn target_uri(endpoint: &str) -> String {
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return endpoint.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let tail = tail.split('#').next().unwrap_or_default();
    if tail.starts_with('/') {
        format!("{scheme}://{authority}{tail}")
    } else {
        format!("{scheme}://{authority}/{tail}")
    }
}

/// Checks a signature made by [`MessageSigner`] over `base` with the certificate's public key
/// (for tests and for receivers written in Rust).
pub fn verify(certificate: &X509, base: &str, signature_b64: &str) -> Result<bool, SignatureError> {
    let public = certificate.public_key()?;
    let Ok(signature) = STANDARD.decode(signature_b64) else {
        return Ok(false);
    };
    match public.id() {
        Id::EC => {
            if signature.len() != 64 {
                return Ok(false);
            }
            let r = openssl::bn::BigNum::from_slice(&signature[..32])?;
            let s = openssl::bn::BigNum::from_slice(&signature[32..])?;
            let sig = EcdsaSig::from_private_components(r, s)?;
            let digest = openssl::sha::sha256(base.as_bytes());
            let ec = public.ec_key()?;
            Ok(sig.verify(&digest, &ec)?)
        }
        _ => {
            let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha512(), &public)?;
            verifier.set_rsa_padding(Padding::PKCS1_PSS)?;
            verifier.set_rsa_pss_saltlen(RsaPssSaltlen::custom(64))?;
            verifier.set_rsa_mgf1_md(MessageDigest::sha512())?;
            Ok(verifier.verify_oneshot(&signature, base.as_bytes())?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("certs/dev")
            .join(name)
    }

    fn receipt_signer() -> (MessageSigner, X509) {
        let cert = X509::from_pem(&std::fs::read(dev("server-receipts-p256.pem")).expect("cert"))
            .expect("pem");
        let key = PKey::private_key_from_pem(
            &std::fs::read(dev("server-receipts-p256.key.pem")).expect("key"),
        )
        .expect("key pem");
        (MessageSigner::new(key, &cert).expect("P-256"), cert)
    }

    #[test]
    fn the_base_is_the_components_then_the_parameters() {
        let base = signature_base(
            &[("@method", "POST"), ("content-digest", "sha-256=:AA==:")],
            "(\"@method\" \"content-digest\");created=1",
        );
        assert_eq!(
            base,
            "\"@method\": POST\n\"content-digest\": sha-256=:AA==:\n\"@signature-params\": (\"@method\" \"content-digest\");created=1"
        );
    }

    #[test]
    fn a_push_signature_verifies_over_its_base_and_not_over_another() {
        let (signer, cert) = receipt_signer();
        let digest = content_digest(&openssl::sha::sha256(b"<edXML/>"));
        let uri = "http://127.0.0.1:8080/push";
        let headers = signer
            .sign(uri, &digest, "42", 1_764_928_800)
            .expect("sign");
        let params = headers
            .signature_input
            .strip_prefix("lienthong=")
            .expect("label");
        assert!(params.ends_with(&format!(
            ";created=1764928800;keyid=\"{}\";alg=\"ecdsa-p256-sha256\"",
            signer.key_id()
        )));
        let signature = headers
            .signature
            .strip_prefix("lienthong=:")
            .and_then(|s| s.strip_suffix(':'))
            .expect("byte sequence");
        let base = |delivery: &str| {
            signature_base(
                &[
                    ("@method", "POST"),
                    ("@target-uri", uri),
                    ("content-digest", &digest),
                    ("x-lienthong-delivery", delivery),
                ],
                params,
            )
        };
        assert!(verify(&cert, &base("42"), signature).expect("verify"));
        assert!(!verify(&cert, &base("43"), signature).expect("verify"));
    }

    #[test]
    fn digests_and_target_uris_are_written_as_receivers_rebuild_them() {
        // RFC 9530 §2's example: the body `{"hello": "world"}`.
        assert_eq!(
            content_digest(&openssl::sha::sha256(b"{\"hello\": \"world\"}")),
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
        );
        assert_eq!(target_uri("http://h:1"), "http://h:1/");
        assert_eq!(target_uri("https://h/a/b?x=1"), "https://h/a/b?x=1");
        assert_eq!(target_uri("https://h?x=1"), "https://h/?x=1");
        assert_eq!(target_uri("https://h/p#frag"), "https://h/p");
    }
}
