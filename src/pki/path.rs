//! Chain building and verification by openssl at a fixed time: signatures, validity periods,
//! basicConstraints, path length and the CA's keyCertSign. Revocation is *not* asked of openssl
//! (see `revocation`), so that we control freshness, grace and fail-closed behaviour.

use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509Ref, X509StoreContext, X509StoreContextRef, X509};
use time::OffsetDateTime;

use super::error::{ChainPosition, PkiError};
use super::ident::{asn1_to_datetime, CertId, UtcTime};

/// OpenSSL security level for path validation: 112-bit security, so RSA and DSA keys of at
/// least 2048 bits, EC keys of at least 224 bits, and no SHA-1 signatures on certificates
/// (a root's self-signature is not checked).
const AUTH_LEVEL: i32 = 2;

// X509_V_ERR_* values from openssl's x509_vfy.h, stable across 1.1 and 3.x.
const ERR_CERT_NOT_YET_VALID: i32 = 9;
const ERR_CERT_HAS_EXPIRED: i32 = 10;

/// Builds a path from `leaf` to one of `anchors`, using `untrusted` (configured and presented
/// intermediates) as candidates, verified at `at`. Returns the path leaf first, anchor last.
pub(crate) fn build(
    anchors: &[X509],
    untrusted: &[X509],
    leaf: &X509Ref,
    at: OffsetDateTime,
) -> Result<Vec<X509>, PkiError> {
    let openssl_failed = |e: openssl::error::ErrorStack| PkiError::Untrusted {
        cert: CertId::of(leaf),
        reason: format!("path building failed inside openssl: {e}"),
    };
    // time_t is i64 on the platforms we build for; the conversion stays for the others.
    #[allow(clippy::useless_conversion)]
    let time = at
        .unix_timestamp()
        .try_into()
        .map_err(|_| PkiError::Untrusted {
            cert: CertId::of(leaf),
            reason: format!("verification time {} is out of range", UtcTime(at)),
        })?;
    let mut param = X509VerifyParam::new().map_err(openssl_failed)?;
    param.set_time(time);
    param.set_auth_level(AUTH_LEVEL);
    let mut store = X509StoreBuilder::new().map_err(openssl_failed)?;
    for anchor in anchors {
        store.add_cert(anchor.clone()).map_err(openssl_failed)?;
    }
    store.set_param(&param).map_err(openssl_failed)?;
    let store = store.build();

    let mut chain = Stack::new().map_err(openssl_failed)?;
    for cert in untrusted {
        chain.push(cert.clone()).map_err(openssl_failed)?;
    }
    let mut context = X509StoreContext::new().map_err(openssl_failed)?;
    context
        .init(&store, leaf, &chain, |ctx| {
            if ctx.verify_cert()? {
                let path = ctx
                    .chain()
                    .map(|stack| stack.iter().map(|c| c.to_owned()).collect::<Vec<X509>>())
                    .unwrap_or_default();
                Ok(Ok(path))
            } else {
                Ok(Err(refusal(ctx, leaf, anchors, at)))
            }
        })
        .map_err(openssl_failed)?
        .and_then(|path| {
            if path.len() < 2 {
                // Anchors are self-signed CAs and the leaf is not one of them; a shorter path
                // would mean openssl trusted the leaf itself.
                Err(PkiError::Untrusted {
                    cert: CertId::of(leaf),
                    reason: "the certificate is itself a trust anchor, not a signing certificate"
                        .to_owned(),
                })
            } else {
                Ok(path)
            }
        })
}

/// Turns openssl's verdict into our error, naming the certificate it stopped at.
fn refusal(
    ctx: &X509StoreContextRef,
    leaf: &X509Ref,
    anchors: &[X509],
    at: OffsetDateTime,
) -> PkiError {
    let error = ctx.error();
    let depth = ctx.error_depth();
    let cert = ctx.current_cert().unwrap_or(leaf);
    let position = position_of(cert, depth, anchors);
    let id = CertId::of(cert);
    let validity = validity(cert);
    match (error.as_raw(), validity) {
        (ERR_CERT_HAS_EXPIRED, Some((_, not_after))) => PkiError::Expired {
            position,
            cert: id,
            not_after: UtcTime(not_after),
            at: UtcTime(at),
        },
        (ERR_CERT_NOT_YET_VALID, Some((not_before, _))) => PkiError::NotYetValid {
            position,
            cert: id,
            not_before: UtcTime(not_before),
            at: UtcTime(at),
        },
        _ => PkiError::Untrusted {
            cert: id,
            reason: format!("{} (at depth {depth})", error.error_string()),
        },
    }
}

fn position_of(cert: &X509Ref, depth: u32, anchors: &[X509]) -> ChainPosition {
    if depth == 0 {
        return ChainPosition::Leaf;
    }
    let der = cert.to_der().ok();
    let is_anchor = anchors.iter().any(|a| a.to_der().ok() == der);
    if is_anchor {
        ChainPosition::Anchor
    } else {
        ChainPosition::Intermediate
    }
}

/// notBefore and notAfter of a certificate, when it parses.
pub(crate) fn validity(cert: &X509Ref) -> Option<(OffsetDateTime, OffsetDateTime)> {
    let der = cert.to_der().ok()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).ok()?;
    let v = parsed.validity();
    Some((
        asn1_to_datetime(v.not_before),
        asn1_to_datetime(v.not_after),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::testdata::{self, AT};

    fn anchors() -> Vec<X509> {
        vec![testdata::cert("root-ca.pem")]
    }

    fn intermediates() -> Vec<X509> {
        vec![testdata::cert("issuing-ca.pem")]
    }

    #[test]
    fn builds_leaf_issuing_root() {
        let leaf = testdata::cert("agency-000.00.00.G22-rsa2048.pem");
        let path = build(&anchors(), &intermediates(), &leaf, AT).expect("path");
        let ids: Vec<String> = path.iter().map(|c| CertId::of(c).subject).collect();
        assert_eq!(ids.len(), 3);
        assert!(ids[1].contains("DEV ISSUING CA"), "{ids:?}");
        assert!(ids[2].contains("DEV ROOT"), "{ids:?}");
    }

    #[test]
    fn without_the_intermediate_there_is_no_path() {
        let leaf = testdata::cert("agency-000.00.00.G22-rsa2048.pem");
        let err = build(&anchors(), &[], &leaf, AT).err();
        assert_eq!(err.map(|e| e.code()), Some("pki.untrusted"));
    }

    #[test]
    fn the_verification_time_is_the_one_given() {
        let leaf = testdata::cert("bad-expired.pem");
        let in_2020 = time::macros::datetime!(2020-06-01 00:00 UTC);
        // Before the issuing CA existed (2025) the path is invalid at the CA, not the leaf.
        let err = build(&anchors(), &intermediates(), &leaf, in_2020).err();
        assert!(
            matches!(
                err,
                Some(PkiError::NotYetValid {
                    position: ChainPosition::Anchor | ChainPosition::Intermediate,
                    ..
                })
            ),
            "{err:?}"
        );
        let err = build(&anchors(), &intermediates(), &leaf, AT).err();
        assert!(
            matches!(
                err,
                Some(PkiError::Expired {
                    position: ChainPosition::Leaf,
                    ..
                })
            ),
            "{err:?}"
        );
    }
}
