//! Finds the one ds:Signature of a packet, checks where it sits, and reads its parts.
//!
//! This pass walks every event of the packet (a second Signature anywhere is refused), but
//! keeps only the small parts of the Signature itself; the digest pass runs afterwards, over
//! the same [`Events`], with the offsets found here.

use std::borrow::Cow;

use crate::edxml::NAMESPACE as EDXML_NS;
use crate::xml::events::{Events, Walk};
use crate::xml::reader::{Document, Element, Event, Limits};

use super::DsigError;

/// The XML-DSig namespace.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Namespace of `InclusiveNamespaces` (exclusive C14N).
pub const EXC_C14N_NS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// SOAP 1.1 envelope namespace (status packets are sometimes SOAP-wrapped).
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// An algorithm reference with its InclusiveNamespaces PrefixList, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlgorithmRef {
    pub uri: String,
    pub inclusive_prefixes: Vec<String>,
    /// Whether the element had element children other than InclusiveNamespaces (e.g. XPath).
    pub has_parameters: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceElement {
    /// `None` when the URI attribute is absent (which is not the same as `URI=""`).
    pub uri: Option<String>,
    pub transforms: Vec<AlgorithmRef>,
    pub digest_method: Option<String>,
    pub digest_value: String,
}

/// What a ds:Signature says, as written (base64 still encoded, URIs not yet interpreted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureElement {
    /// Offset of the `<` of ds:Signature: the element the enveloped transform removes.
    pub offset: usize,
    /// Offset of the `<` of ds:SignedInfo.
    pub signed_info_offset: usize,
    pub canonicalization: Option<AlgorithmRef>,
    pub signature_method: Option<String>,
    pub references: Vec<ReferenceElement>,
    pub signature_value: String,
    /// X509Certificate contents (base64, one entry per element), in document order.
    pub certificates: Vec<String>,
}

/// Which text the parser is collecting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Capture {
    None,
    DigestValue,
    SignatureValue,
    Certificate,
}

/// Reads the packet and returns its only ds:Signature.
pub fn locate(input: Document<'_>, limits: Limits) -> Result<SignatureElement, DsigError> {
    locate_in(&Events::read(input, limits)?)
}

/// [`locate`] over a document read earlier.
pub fn locate_in(events: &Events<'_>) -> Result<SignatureElement, DsigError> {
    // Ancestors outside the signature: (namespace, local name).
    let mut ancestors: Vec<(Option<Cow<'_, str>>, &str)> = Vec::new();
    // Path of local names inside the current signature (empty when outside).
    let mut inside: Vec<&str> = Vec::new();
    let mut found: Vec<SignatureElement> = Vec::new();
    let mut capture = Capture::None;
    events.walk(|event| {
        match event {
            Event::Start(e) => {
                if !inside.is_empty() {
                    let sig = found
                        .last_mut()
                        .ok_or_else(|| DsigError::malformed("internal state"))?;
                    capture = open_inside(sig, &inside, e)?;
                    inside.push(e.local);
                } else if e.is(DSIG_NS, "Signature") {
                    check_placement(&ancestors)?;
                    found.push(SignatureElement {
                        offset: e.offset,
                        ..SignatureElement::default()
                    });
                    inside.push(e.local);
                } else {
                    ancestors.push((e.namespace.clone(), e.local));
                }
            }
            Event::End(_) => {
                if inside.pop().is_none() {
                    ancestors.pop();
                }
                capture = Capture::None;
            }
            Event::Text(t) => {
                if let (Some(sig), true) = (found.last_mut(), capture != Capture::None) {
                    append(sig, capture, &t.value());
                }
            }
            Event::CData { raw, .. } => {
                if let (Some(sig), true) = (found.last_mut(), capture != Capture::None) {
                    append(sig, capture, raw);
                }
            }
            Event::Comment { .. } | Event::Pi { .. } => {}
        }
        Ok::<_, DsigError>(Walk::Continue)
    })?;
    match found.len() {
        0 => Err(DsigError::Missing),
        1 => found.pop().ok_or(DsigError::Missing),
        count => Err(DsigError::SeveralSignatures { count }),
    }
}

/// The profile: the Signature is a child of edXMLHeader, of edXMLHeader/DigitalSignature, or of
/// the SOAP Header that holds a status.
fn check_placement(ancestors: &[(Option<Cow<'_, str>>, &str)]) -> Result<(), DsigError> {
    let is = |i: usize, ns: &str, local: &str| {
        ancestors
            .len()
            .checked_sub(i)
            .and_then(|k| ancestors.get(k))
            .is_some_and(|(n, l)| *l == local && n.as_deref() == Some(ns))
    };
    let ok = is(1, EDXML_NS, "edXMLHeader")
        || (is(1, EDXML_NS, "DigitalSignature") && is(2, EDXML_NS, "edXMLHeader"))
        || (is(1, SOAP_NS, "Header") && is(2, SOAP_NS, "Envelope") && ancestors.len() == 2);
    if ok {
        Ok(())
    } else {
        let path: Vec<&str> = ancestors.iter().map(|(_, l)| *l).collect();
        Err(DsigError::wrapping(format!(
            "ds:Signature is inside /{}; it must be a child of edXMLHeader (or of edXMLHeader/DigitalSignature, or of a status packet's SOAP Header)",
            path.join("/")
        )))
    }
}

/// Handles a start tag inside the signature; returns what text to collect next.
fn open_inside(
    sig: &mut SignatureElement,
    inside: &[&str],
    e: &Element<'_>,
) -> Result<Capture, DsigError> {
    let in_ds = e.namespace.as_deref() == Some(DSIG_NS);
    let parent = inside.last().copied().unwrap_or_default();
    let depth = inside.len(); // 1 = direct child of Signature
    if e.is(EXC_C14N_NS, "InclusiveNamespaces") {
        let prefixes: Vec<String> = e
            .attribute("PrefixList")
            .unwrap_or_default()
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect();
        let target = match parent {
            "CanonicalizationMethod" => sig.canonicalization.as_mut(),
            "Transform" => sig
                .references
                .last_mut()
                .and_then(|r| r.transforms.last_mut()),
            _ => None,
        };
        let target = target
            .ok_or_else(|| DsigError::malformed("InclusiveNamespaces outside an algorithm"))?;
        target.inclusive_prefixes = prefixes;
        return Ok(Capture::None);
    }
    let in_signed_info = inside.get(1) == Some(&"SignedInfo");
    if !in_ds {
        if in_signed_info {
            if parent == "Transform" {
                mark_parameters(sig);
                return Ok(Capture::None);
            }
            return Err(DsigError::malformed(format!(
                "unexpected element {} in SignedInfo",
                e.qname
            )));
        }
        return Ok(Capture::None); // foreign content in KeyInfo is allowed and ignored
    }
    let algorithm = || {
        e.attribute("Algorithm")
            .map(str::to_owned)
            .ok_or_else(|| DsigError::malformed(format!("{} has no Algorithm attribute", e.local)))
    };
    match (depth, parent, e.local) {
        (1, _, "SignedInfo") => {
            if sig.signed_info_offset != 0 {
                return Err(DsigError::wrapping("two SignedInfo elements"));
            }
            sig.signed_info_offset = e.offset;
        }
        (1, _, "SignatureValue") => return Ok(Capture::SignatureValue),
        (1, _, "KeyInfo") => {}
        (1, _, "Object") | (_, _, "Manifest") => {
            return Err(DsigError::wrapping(format!(
                "ds:{} is not allowed: this profile signs the whole packet, nothing else",
                e.local
            )))
        }
        (2, "SignedInfo", "CanonicalizationMethod") => {
            if sig.canonicalization.is_some() {
                return Err(DsigError::malformed("two CanonicalizationMethod elements"));
            }
            sig.canonicalization = Some(AlgorithmRef {
                uri: algorithm()?,
                ..AlgorithmRef::default()
            });
        }
        (2, "SignedInfo", "SignatureMethod") => {
            if sig.signature_method.is_some() {
                return Err(DsigError::malformed("two SignatureMethod elements"));
            }
            sig.signature_method = Some(algorithm()?);
        }
        (2, "SignedInfo", "Reference") => sig.references.push(ReferenceElement {
            uri: e.attribute("URI").map(str::to_owned),
            ..ReferenceElement::default()
        }),
        (3, "Reference", "Transforms") => {}
        (4, "Transforms", "Transform") => {
            let transform = AlgorithmRef {
                uri: algorithm()?,
                ..AlgorithmRef::default()
            };
            current_reference(sig)?.transforms.push(transform);
        }
        (3, "Reference", "DigestMethod") => {
            let uri = algorithm()?;
            let reference = current_reference(sig)?;
            if reference.digest_method.replace(uri).is_some() {
                return Err(DsigError::malformed(
                    "two DigestMethod elements in one Reference",
                ));
            }
        }
        (3, "Reference", "DigestValue") => return Ok(Capture::DigestValue),
        (_, "Transform", _) => mark_parameters(sig),
        (_, "X509Data", "X509Certificate") => {
            sig.certificates.push(String::new());
            return Ok(Capture::Certificate);
        }
        _ if in_signed_info => {
            return Err(DsigError::malformed(format!(
                "unexpected element ds:{} in SignedInfo",
                e.local
            )))
        }
        _ => {} // KeyName, X509SubjectName, X509IssuerSerial…: informative only
    }
    Ok(Capture::None)
}

fn current_reference(sig: &mut SignatureElement) -> Result<&mut ReferenceElement, DsigError> {
    sig.references
        .last_mut()
        .ok_or_else(|| DsigError::malformed("a Reference part outside a Reference"))
}

fn mark_parameters(sig: &mut SignatureElement) {
    if let Some(t) = sig
        .references
        .last_mut()
        .and_then(|r| r.transforms.last_mut())
    {
        t.has_parameters = true;
    }
}

fn append(sig: &mut SignatureElement, capture: Capture, text: &str) {
    match capture {
        Capture::DigestValue => {
            if let Some(r) = sig.references.last_mut() {
                r.digest_value.push_str(text);
            }
        }
        Capture::SignatureValue => sig.signature_value.push_str(text),
        Capture::Certificate => {
            if let Some(c) = sig.certificates.last_mut() {
                c.push_str(text);
            }
        }
        Capture::None => {}
    }
}
