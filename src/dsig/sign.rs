//! Signing a packet the way the profile expects to verify it: one enveloped ds:Signature,
//! inside edXMLHeader/DigitalSignature when the packet has that placeholder, else last in
//! edXMLHeader (or in the SOAP Header of a wrapped status); one Reference URI="".
//!
//! [`sign_placed`] with [`Placement::LastChildOfRoot`] signs any other XML document the same
//! way, with the signature as the root element's last child: how the exchange signs its own
//! receipts (an XML-DSig tool finds the signature anywhere; only edXML packets have a profile
//! place).
//!
//! The packet's bytes are kept as they are; the signature is spliced in without adding any
//! whitespace, so the digest of the unsigned packet is the digest the verifier will compute
//! after removing the signature again.

use base64::Engine as _;
use openssl::ecdsa::EcdsaSig;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use openssl::x509::X509;

use crate::edxml::NAMESPACE as EDXML_NS;
use crate::xml::c14n::{Canonicalization, Method, Subset};
use crate::xml::reader::{Document, Event, Limits, Reader};

use super::algorithm::{DigestAlgorithm, KeyFamily, SignatureAlgorithm, ENVELOPED_SIGNATURE};
use super::digest::RunningDigest;
use super::signature::{DSIG_NS, SOAP_NS};
use super::verify::digest_subset;
use super::DsigError;

/// Choices a signer may make; the defaults are what lienthong recommends.
#[derive(Debug, Clone)]
pub struct SignOptions {
    pub digest: DigestAlgorithm,
    /// Used both for SignedInfo and for the Reference.
    pub canonicalization: Canonicalization,
}

impl Default for SignOptions {
    /// SHA-256 and exclusive C14N without comments: exclusive C14N keeps SignedInfo independent
    /// of the namespaces the packet happens to declare.
    fn default() -> Self {
        SignOptions {
            digest: DigestAlgorithm::Sha256,
            canonicalization: Canonicalization {
                method: Method::Exclusive {
                    inclusive_prefixes: Vec::new(),
                },
                with_comments: false,
            },
        }
    }
}

/// Where [`sign_placed`] puts the Signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// The edXML profile's place: edXMLHeader/DigitalSignature, else last in edXMLHeader (or
    /// the SOAP Header of a wrapped status).
    #[default]
    Profile,
    /// The last child of the root element, for documents that are not edXML packets.
    LastChildOfRoot,
}

/// Where the Signature goes in the unsigned packet.
enum Place {
    /// Insert at this byte offset.
    At(usize),
    /// Replace the empty-element tag `input[start..end]` (`<DigitalSignature/>`) by
    /// `open` + signature + `close`.
    ExpandEmpty {
        start: usize,
        end: usize,
        open: String,
        close: String,
    },
}

/// Signs `input` with `key`, embedding `cert` and then `chain` in KeyInfo.
pub fn sign(
    input: &[u8],
    key: &PKey<Private>,
    cert: &X509,
    chain: &[X509],
    options: &SignOptions,
    limits: Limits,
) -> Result<Vec<u8>, DsigError> {
    sign_placed(input, key, cert, chain, options, Placement::Profile, limits)
}

/// [`sign`] with the signature at `placement`.
pub fn sign_placed(
    input: &[u8],
    key: &PKey<Private>,
    cert: &X509,
    chain: &[X509],
    options: &SignOptions,
    placement: Placement,
    limits: Limits,
) -> Result<Vec<u8>, DsigError> {
    PreparedSigner::new(key.clone(), cert, chain, options.clone())?.sign(input, placement, limits)
}

/// A key and its certificates ready to sign many documents: the key is checked against the
/// certificate and KeyInfo is encoded once, not per document (the exchange signs a receipt
/// for every packet it accepts).
pub struct PreparedSigner {
    key: PKey<Private>,
    algorithm: SignatureAlgorithm,
    options: SignOptions,
    /// `<ds:KeyInfo>…</ds:KeyInfo>`, certificates in base64.
    key_info: String,
}

impl std::fmt::Debug for PreparedSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedSigner")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PreparedSigner {
    /// Refuses a key that does not belong to `cert`, or of a family that cannot sign.
    pub fn new(
        key: PKey<Private>,
        cert: &X509,
        chain: &[X509],
        options: SignOptions,
    ) -> Result<PreparedSigner, DsigError> {
        if !cert.public_key()?.public_eq(&key) {
            return Err(DsigError::BadCertificate {
                reason: "the private key does not belong to the certificate".to_owned(),
            });
        }
        let family = KeyFamily::of(key.id()).ok_or_else(|| DsigError::UnsupportedAlgorithm {
            uri: format!("{:?}", key.id()),
            reason: "only RSA and EC keys can sign".to_owned(),
        })?;
        let algorithm = SignatureAlgorithm {
            family,
            digest: options.digest,
        };
        let mut key_info = String::from("<ds:KeyInfo><ds:X509Data>");
        for c in std::iter::once(cert).chain(chain.iter()) {
            key_info.push_str("<ds:X509Certificate>");
            key_info.push_str(&base64::engine::general_purpose::STANDARD.encode(c.to_der()?));
            key_info.push_str("</ds:X509Certificate>");
        }
        key_info.push_str("</ds:X509Data></ds:KeyInfo>");
        Ok(PreparedSigner {
            key,
            algorithm,
            options,
            key_info,
        })
    }

    /// Signs `input`, with the signature at `placement`.
    pub fn sign(
        &self,
        input: &[u8],
        placement: Placement,
        limits: Limits,
    ) -> Result<Vec<u8>, DsigError> {
        let document = Document::check(input, limits)?;
        let place = match placement {
            Placement::Profile => find_place(input, document, limits)?,
            Placement::LastChildOfRoot => root_end(input, document, limits)?,
        };
        let c14n = &self.options.canonicalization;
        let digest = digest_subset(
            document,
            c14n,
            self.options.digest,
            Subset::Document,
            limits,
        )?;
        let (skeleton, signed_info_at, value_at) = skeleton(
            self.algorithm,
            c14n,
            self.options.digest,
            &digest,
            &self.key_info,
        );
        let (mut doc, sig_start) = splice(input, &place, &skeleton);
        let signed_info = match standalone_signed_info(c14n, &skeleton, signed_info_at, value_at) {
            Some(canonical) => canonical,
            None => {
                let mut canonical = Vec::with_capacity(1024);
                crate::xml::c14n::canonicalize(
                    &doc,
                    c14n,
                    Subset::Only(sig_start + signed_info_at),
                    limits,
                    &mut canonical,
                )?;
                canonical
            }
        };
        let value = signature_value(&self.key, self.algorithm, &signed_info)?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        let at = sig_start + value_at;
        doc.splice(at..at, encoded.into_bytes());
        Ok(doc)
    }
}

impl PreparedSigner {
    /// Signs a document the caller wrote itself, whose root element `document[root]` is
    /// already in exclusive canonical form and which holds nothing else that canonicalization
    /// keeps (at most an XML declaration and whitespace around the root): the digest is then
    /// that of the root's bytes as they are, and the document is not read at all. The
    /// signature becomes the root's last child, as with [`Placement::LastChildOfRoot`].
    ///
    /// The caller vouches for the canonical form (the exchange's receipt writer does, and its
    /// tests compare it with [`crate::xml::c14n`]); a signer with any other canonicalization
    /// signs the general way.
    pub fn sign_canonical_root(
        &self,
        document: &[u8],
        root: std::ops::Range<usize>,
        limits: Limits,
    ) -> Result<Vec<u8>, DsigError> {
        let c14n = &self.options.canonicalization;
        let exclusive_alone = matches!(&c14n.method, Method::Exclusive { inclusive_prefixes } if inclusive_prefixes.is_empty());
        let end_tag = document
            .get(root.clone())
            .and_then(|element| element.windows(2).rposition(|w| w == b"</"));
        let (true, Some(end_tag)) = (exclusive_alone, end_tag) else {
            return self.sign(document, Placement::LastChildOfRoot, limits);
        };
        let digest = RunningDigest::of(self.options.digest, &document[root.clone()]);
        let (skeleton, signed_info_at, value_at) = skeleton(
            self.algorithm,
            c14n,
            self.options.digest,
            &digest,
            &self.key_info,
        );
        let (mut doc, sig_start) = splice(document, &Place::At(root.start + end_tag), &skeleton);
        let signed_info = standalone_signed_info(c14n, &skeleton, signed_info_at, value_at)
            .ok_or_else(|| DsigError::UnsupportedAlgorithm {
                uri: c14n.uri().to_owned(),
                reason: "SignedInfo could not be rendered".to_owned(),
            })?;
        let value = signature_value(&self.key, self.algorithm, &signed_info)?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        let at = sig_start + value_at;
        doc.splice(at..at, encoded.into_bytes());
        Ok(doc)
    }
}

/// The canonical SignedInfo without reading the document again, when the canonicalization
/// makes it independent of its context: exclusive C14N without an InclusiveNamespaces list
/// renders SignedInfo exactly as [`skeleton`] wrote it (in canonical form already: end tags
/// written out, one attribute per element, nothing to escape), plus the `ds` namespace
/// declaration it uses. Inclusive C14N would add whatever the document declares around the
/// signature, so that case canonicalizes the spliced document instead.
fn standalone_signed_info(
    c14n: &Canonicalization,
    skeleton: &str,
    signed_info_at: usize,
    value_at: usize,
) -> Option<Vec<u8>> {
    let exclusive_alone = matches!(&c14n.method, Method::Exclusive { inclusive_prefixes } if inclusive_prefixes.is_empty());
    if !exclusive_alone {
        return None;
    }
    let end = value_at.checked_sub(SIGNATURE_VALUE_OPEN.len())?;
    let signed_info = skeleton.get(signed_info_at..end)?;
    let rest = signed_info.strip_prefix(SIGNED_INFO_OPEN)?;
    let mut canonical = Vec::with_capacity(signed_info.len() + 64);
    canonical.extend_from_slice(b"<ds:SignedInfo xmlns:ds=\"");
    canonical.extend_from_slice(DSIG_NS.as_bytes());
    canonical.extend_from_slice(b"\">");
    canonical.extend_from_slice(rest.as_bytes());
    Some(canonical)
}

const SIGNED_INFO_OPEN: &str = "<ds:SignedInfo>";
const SIGNATURE_VALUE_OPEN: &str = "<ds:SignatureValue>";

fn find_place(input: &[u8], document: Document<'_>, limits: Limits) -> Result<Place, DsigError> {
    let mut reader = Reader::of(document, limits);
    let mut path: Vec<(bool, &str)> = Vec::new(); // (in edXML or SOAP namespace, local)
    let mut header_end: Option<usize> = None;
    let mut digital_signature: Option<Place> = None;
    while let Some(event) = reader.next()? {
        match event {
            Event::Start(e) => {
                if e.is(DSIG_NS, "Signature") {
                    return Err(DsigError::AlreadySigned);
                }
                let parent_is_header = path.last() == Some(&(true, "edXMLHeader"));
                if parent_is_header
                    && e.is(EDXML_NS, "DigitalSignature")
                    && digital_signature.is_none()
                {
                    if e.empty {
                        let raw = tag_text(input, e.offset)?;
                        let open = raw
                            .trim_end_matches('>')
                            .trim_end_matches('/')
                            .trim_end()
                            .to_owned()
                            + ">";
                        digital_signature = Some(Place::ExpandEmpty {
                            start: e.offset,
                            end: e.offset + raw.len(),
                            open,
                            close: format!("</{}>", e.qname),
                        });
                    } else {
                        digital_signature = Some(Place::At(0)); // fixed at its end tag
                    }
                }
                let known = e.namespace.as_deref() == Some(EDXML_NS)
                    || e.namespace.as_deref() == Some(SOAP_NS);
                path.push((known, e.local));
            }
            Event::End(end) => {
                let closing = path.pop();
                let end_tag_start = end_tag_start(input, end.end_offset);
                match closing {
                    Some((true, "DigitalSignature"))
                        if matches!(digital_signature, Some(Place::At(0))) =>
                    {
                        digital_signature = Some(Place::At(end_tag_start));
                    }
                    Some((true, "edXMLHeader")) | Some((true, "Header"))
                        if header_end.is_none() =>
                    {
                        header_end = Some(end_tag_start);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    match (digital_signature, header_end) {
        (Some(place), _) => Ok(place),
        (None, Some(at)) => Ok(Place::At(at)),
        (None, None) => Err(DsigError::NoSignaturePlace),
    }
}

/// Just before the root's end tag (or, for `<root/>`, the root written open and closed).
fn root_end(input: &[u8], document: Document<'_>, limits: Limits) -> Result<Place, DsigError> {
    let mut reader = Reader::of(document, limits);
    let mut depth = 0usize;
    let mut root: Option<(usize, bool, String)> = None; // (offset, empty, qname)
    while let Some(event) = reader.next()? {
        match event {
            Event::Start(e) => {
                if e.is(DSIG_NS, "Signature") {
                    return Err(DsigError::AlreadySigned);
                }
                if root.is_none() {
                    root = Some((e.offset, e.empty, e.qname.to_owned()));
                }
                depth += 1;
            }
            Event::End(end) => {
                depth = depth.saturating_sub(1);
                if depth > 0 {
                    continue;
                }
                return match &root {
                    Some((start, true, qname)) => {
                        let raw = tag_text(input, *start)?;
                        let open = raw
                            .trim_end_matches('>')
                            .trim_end_matches('/')
                            .trim_end()
                            .to_owned()
                            + ">";
                        Ok(Place::ExpandEmpty {
                            start: *start,
                            end: start + raw.len(),
                            open,
                            close: format!("</{qname}>"),
                        })
                    }
                    _ => Ok(Place::At(end_tag_start(input, end.end_offset))),
                };
            }
            _ => {}
        }
    }
    Err(DsigError::NoSignaturePlace)
}

/// The text of the tag starting at `start` (up to and including its `>`).
fn tag_text(input: &[u8], start: usize) -> Result<&str, DsigError> {
    let rest = input.get(start..).unwrap_or_default();
    let close =
        memchr::memchr(b'>', rest).ok_or_else(|| DsigError::malformed("unterminated tag"))?;
    std::str::from_utf8(&rest[..=close]).map_err(|_| DsigError::malformed("tag is not UTF-8"))
}

/// Offset of the `</` of the end tag that finishes at `end_offset`.
fn end_tag_start(input: &[u8], end_offset: usize) -> usize {
    let head = input.get(..end_offset).unwrap_or(input);
    memchr::memmem::rfind(head, b"</").unwrap_or(end_offset)
}

fn splice(input: &[u8], place: &Place, signature: &str) -> (Vec<u8>, usize) {
    let mut doc = Vec::with_capacity(input.len() + signature.len() + 64);
    match place {
        Place::At(at) => {
            doc.extend_from_slice(&input[..*at]);
            doc.extend_from_slice(signature.as_bytes());
            doc.extend_from_slice(&input[*at..]);
            (doc, *at)
        }
        Place::ExpandEmpty {
            start,
            end,
            open,
            close,
        } => {
            doc.extend_from_slice(&input[..*start]);
            doc.extend_from_slice(open.as_bytes());
            let at = doc.len();
            doc.extend_from_slice(signature.as_bytes());
            doc.extend_from_slice(close.as_bytes());
            doc.extend_from_slice(&input[*end..]);
            (doc, at)
        }
    }
}

/// The Signature element with an empty SignatureValue; returns it with the offsets (relative
/// to its start) of `<ds:SignedInfo` and of the SignatureValue's content.
/// The Signature element without its SignatureValue, with the offsets of SignedInfo and of
/// where the value goes. Elements are written with end tags (`<a></a>`, never `<a/>`) so that
/// SignedInfo is in canonical form as written (see [`standalone_signed_info`]).
fn skeleton(
    algorithm: SignatureAlgorithm,
    c14n: &Canonicalization,
    digest_method: DigestAlgorithm,
    digest: &[u8],
    key_info: &str,
) -> (String, usize, usize) {
    let c14n_element = |name: &str| match &c14n.method {
        Method::Exclusive { inclusive_prefixes } if !inclusive_prefixes.is_empty() => format!(
            r#"<ds:{name} Algorithm="{}"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="{}"></ec:InclusiveNamespaces></ds:{name}>"#,
            c14n.uri(),
            inclusive_prefixes.join(" ")
        ),
        _ => format!(r#"<ds:{name} Algorithm="{}"></ds:{name}>"#, c14n.uri()),
    };
    let mut s = format!(r#"<ds:Signature xmlns:ds="{DSIG_NS}">"#);
    let signed_info_at = s.len();
    s.push_str(SIGNED_INFO_OPEN);
    s.push_str(&c14n_element("CanonicalizationMethod"));
    s.push_str(&format!(
        r#"<ds:SignatureMethod Algorithm="{}"></ds:SignatureMethod>"#,
        algorithm.uri()
    ));
    s.push_str(r#"<ds:Reference URI=""><ds:Transforms>"#);
    s.push_str(&format!(
        r#"<ds:Transform Algorithm="{ENVELOPED_SIGNATURE}"></ds:Transform>"#
    ));
    s.push_str(&c14n_element("Transform"));
    s.push_str("</ds:Transforms>");
    s.push_str(&format!(
        r#"<ds:DigestMethod Algorithm="{}"></ds:DigestMethod>"#,
        digest_method.uri()
    ));
    s.push_str(&format!(
        "<ds:DigestValue>{}</ds:DigestValue>",
        base64::engine::general_purpose::STANDARD.encode(digest)
    ));
    s.push_str("</ds:Reference></ds:SignedInfo>");
    s.push_str(SIGNATURE_VALUE_OPEN);
    let value_at = s.len();
    s.push_str("</ds:SignatureValue>");
    s.push_str(key_info);
    s.push_str("</ds:Signature>");
    (s, signed_info_at, value_at)
}

fn signature_value(
    key: &PKey<Private>,
    algorithm: SignatureAlgorithm,
    signed_info: &[u8],
) -> Result<Vec<u8>, DsigError> {
    let mut signer = Signer::new(algorithm.digest.message_digest(), key)?;
    let der = signer.sign_oneshot_to_vec(signed_info)?;
    match algorithm.family {
        KeyFamily::Rsa => Ok(der),
        KeyFamily::Ecdsa => {
            // XML-DSig wants r ‖ s, each left-padded to the size of the curve order.
            let ec = key.ec_key()?;
            let width = usize::try_from(ec.group().order_bits().div_ceil(8)).unwrap_or(66);
            let sig = EcdsaSig::from_der(&der)?;
            let mut raw = sig.r().to_vec_padded(i32::try_from(width).unwrap_or(66))?;
            raw.extend(sig.s().to_vec_padded(i32::try_from(width).unwrap_or(66))?);
            Ok(raw)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::c14n::canonicalize;
    use base64::engine::general_purpose::STANDARD;
    use openssl::bn::BigNum;

    fn dev_pair(stem: &str) -> (PKey<Private>, X509) {
        let dev = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/dev");
        let read = |name: String| std::fs::read(dev.join(name)).expect("dev PKI file");
        let key = PKey::private_key_from_pem(&read(format!("{stem}.key.pem"))).expect("key");
        let cert = X509::from_pem(&read(format!("{stem}.pem"))).expect("cert");
        (key, cert)
    }

    fn text_of<'a>(doc: &'a str, element: &str) -> &'a str {
        let open = format!("<ds:{element}>");
        let start = doc.find(&open).expect("element") + open.len();
        let end = doc[start..].find("</ds:").expect("end") + start;
        &doc[start..end]
    }

    fn sign_root(input: &str) -> Result<String, DsigError> {
        let (key, cert) = dev_pair("server-receipts-p256");
        let signed = sign_placed(
            input.as_bytes(),
            &key,
            &cert,
            &[],
            &SignOptions::default(),
            Placement::LastChildOfRoot,
            Limits::default(),
        )?;
        Ok(String::from_utf8(signed).expect("UTF-8"))
    }

    #[test]
    fn a_signature_as_the_roots_last_child_covers_the_document() {
        let input = "<?xml version=\"1.0\"?>\n<r:Receipt xmlns:r=\"urn:x\"><r:A>1 &amp; 2</r:A><r:B/></r:Receipt>\n";
        let signed = sign_root(input).expect("signed");
        let start = signed.find("<ds:Signature").expect("signature");
        let end = signed.find("</r:Receipt>").expect("root end");
        assert!(signed[start..end].ends_with("</ds:Signature>"), "{signed}");
        assert_eq!(format!("{}{}", &signed[..start], &signed[end..]), input);

        // The digest is the document's without the signature; the value verifies over
        // SignedInfo with the certificate's key.
        let c14n = SignOptions::default().canonicalization;
        let limits = Limits::default();
        let mut rest = Vec::new();
        canonicalize(
            signed.as_bytes(),
            &c14n,
            Subset::Without(start),
            limits,
            &mut rest,
        )
        .expect("c14n");
        let digest = STANDARD
            .decode(text_of(&signed, "DigestValue"))
            .expect("b64");
        assert_eq!(digest, openssl::sha::sha256(&rest));
        let info_at = signed.find("<ds:SignedInfo").expect("SignedInfo");
        let mut info = Vec::new();
        canonicalize(
            signed.as_bytes(),
            &c14n,
            Subset::Only(info_at),
            limits,
            &mut info,
        )
        .expect("c14n");
        let raw = STANDARD
            .decode(text_of(&signed, "SignatureValue"))
            .expect("b64");
        let (r, s) = raw.split_at(raw.len() / 2);
        let der = EcdsaSig::from_private_components(
            BigNum::from_slice(r).expect("r"),
            BigNum::from_slice(s).expect("s"),
        )
        .and_then(|sig| sig.to_der())
        .expect("der");
        let (_, cert) = dev_pair("server-receipts-p256");
        let public = cert.public_key().expect("public key");
        let mut verifier =
            openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &public)
                .expect("verifier");
        assert!(verifier.verify_oneshot(&der, &info).expect("verify"));
        let tampered = signed.replace("1 &amp; 2", "1 &amp; 3");
        let mut changed = Vec::new();
        let at = tampered.find("<ds:Signature").expect("signature");
        canonicalize(
            tampered.as_bytes(),
            &c14n,
            Subset::Without(at),
            limits,
            &mut changed,
        )
        .expect("c14n");
        assert_ne!(digest, openssl::sha::sha256(&changed));
    }

    #[test]
    fn an_empty_root_is_opened_and_a_signed_document_refused() {
        let signed = sign_root("<Receipt xmlns=\"urn:x\" a=\"1\"/>").expect("signed");
        assert!(
            signed.starts_with("<Receipt xmlns=\"urn:x\" a=\"1\"><ds:Signature"),
            "{signed}"
        );
        assert!(signed.ends_with("</ds:Signature></Receipt>"), "{signed}");
        let again = sign_root(&signed).err().map(|e| e.code());
        assert_eq!(again, Some("dsig.already_signed"));
        // The profile placement still refuses a document that is not an edXML packet.
        let (key, cert) = dev_pair("server-receipts-p256");
        let profile = sign(
            b"<Receipt/>",
            &key,
            &cert,
            &[],
            &SignOptions::default(),
            Limits::default(),
        );
        assert_eq!(
            profile.err().map(|e| e.code()),
            Some("dsig.no_signature_place")
        );
    }

    #[test]
    fn the_standalone_signed_info_is_what_canonicalizing_the_document_gives() {
        // Namespaces around the signature (default, prefixed, one the signature shadows)
        // must not reach an exclusive SignedInfo; every exclusive variant is checked against
        // the general path, and inclusive C14N must take the general path.
        let input = "<r:Receipt xmlns:r=\"urn:x\" xmlns=\"urn:d\" xmlns:ds=\"urn:other\"><r:A/></r:Receipt>";
        let limits = Limits::default();
        for (method, with_comments) in [
            (
                Method::Exclusive {
                    inclusive_prefixes: Vec::new(),
                },
                false,
            ),
            (
                Method::Exclusive {
                    inclusive_prefixes: Vec::new(),
                },
                true,
            ),
            (
                Method::Exclusive {
                    inclusive_prefixes: vec!["r".to_owned()],
                },
                false,
            ),
            (Method::Inclusive, false),
        ] {
            let c14n = Canonicalization {
                method,
                with_comments,
            };
            let (key, cert) = dev_pair("server-receipts-p256");
            let options = SignOptions {
                digest: DigestAlgorithm::Sha256,
                canonicalization: c14n.clone(),
            };
            let signer = PreparedSigner::new(key, &cert, &[], options).expect("signer");
            let signed = signer
                .sign(input.as_bytes(), Placement::LastChildOfRoot, limits)
                .expect("signed");
            let info_at = find(&signed, b"<ds:SignedInfo").expect("SignedInfo");
            let mut general = Vec::new();
            canonicalize(&signed, &c14n, Subset::Only(info_at), limits, &mut general)
                .expect("c14n");
            let text = String::from_utf8(signed.clone()).expect("UTF-8");
            let sig_at = text.find("<ds:Signature").expect("signature");
            let skeleton_text = &text[sig_at..];
            let info_in_skeleton = info_at - sig_at;
            let value_at = skeleton_text.find(SIGNATURE_VALUE_OPEN).expect("value")
                + SIGNATURE_VALUE_OPEN.len();
            let standalone =
                standalone_signed_info(&c14n, skeleton_text, info_in_skeleton, value_at);
            match &c14n.method {
                Method::Exclusive { inclusive_prefixes } if inclusive_prefixes.is_empty() => {
                    assert_eq!(
                        standalone.as_deref().map(String::from_utf8_lossy),
                        Some(String::from_utf8_lossy(&general)),
                        "{c14n:?}"
                    );
                }
                _ => assert_eq!(standalone, None, "{c14n:?}"),
            }
        }
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }
}
