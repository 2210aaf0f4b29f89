//! The few OCSP structures the openssl crate does not expose: the nonce extension spliced into a
//! request it built, the extensions of a response (to read the nonce back), and the times of a
//! response entry as openssl prints them.
//!
//! Responses are hostile input: they are read element by element with asn1-rs (no recursion,
//! definite DER lengths, nothing after the response), and anything unexpected is an error.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};
use x509_parser::asn1_rs::{Any, Class, FromDer, Oid, Tag};

/// id-pkix-ocsp-nonce (1.3.6.1.5.5.7.48.1.2), content octets.
pub(super) const NONCE_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
/// id-pkix-ocsp-basic (1.3.6.1.5.5.7.48.1.1), content octets.
const BASIC_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];

const SEQUENCE: u8 = 0x30;
const OCTET_STRING: u8 = 0x04;
const OBJECT_IDENTIFIER: u8 = 0x06;
/// `[2] EXPLICIT` (constructed, context-specific), requestExtensions in TBSRequest.
const REQUEST_EXTENSIONS: u8 = 0xa2;

/// One extension of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Extension {
    /// OID content octets.
    pub(super) oid: Vec<u8>,
    pub(super) critical: bool,
    /// extnValue's content octets.
    pub(super) value: Vec<u8>,
}

impl Extension {
    /// The OID in dotted form, for messages.
    pub(super) fn oid_string(&self) -> String {
        Oid::new(self.oid.as_slice().into()).to_id_string()
    }
}

/// The extnValue of a nonce extension: RFC 8954 `Nonce ::= OCTET STRING`, DER-encoded.
pub(super) fn nonce_value(nonce: &[u8]) -> Vec<u8> {
    tlv(OCTET_STRING, nonce)
}

/// Adds a requestExtensions field holding one nonce extension (extnValue `value`) to a DER
/// OCSPRequest that has none.
pub(super) fn with_nonce(request: &[u8], value: &[u8]) -> Result<Vec<u8>, String> {
    let outer = one(request, "the OCSP request")?;
    expect(&outer, Class::Universal, Tag::Sequence, "the OCSP request")?;
    let (after_tbs, tbs) =
        Any::from_der(outer.data).map_err(|e| format!("tbsRequest unreadable: {e}"))?;
    expect(&tbs, Class::Universal, Tag::Sequence, "tbsRequest")?;
    let has_extensions = items(tbs.data, "tbsRequest")?
        .iter()
        .any(|item| item.class() == Class::ContextSpecific && item.tag() == Tag(2));
    if has_extensions {
        return Err("the request already has extensions".to_owned());
    }
    let extension = tlv(
        SEQUENCE,
        &[tlv(OBJECT_IDENTIFIER, NONCE_OID), tlv(OCTET_STRING, value)].concat(),
    );
    let extensions = tlv(REQUEST_EXTENSIONS, &tlv(SEQUENCE, &extension));
    let tbs = tlv(SEQUENCE, &[tbs.data, &extensions].concat());
    Ok(tlv(SEQUENCE, &[&tbs[..], after_tbs].concat()))
}

/// The responseExtensions of a DER OCSPResponse carrying a BasicOCSPResponse.
pub(super) fn response_extensions(body: &[u8]) -> Result<Vec<Extension>, String> {
    let response = one(body, "the OCSP response")?;
    expect(
        &response,
        Class::Universal,
        Tag::Sequence,
        "the OCSP response",
    )?;
    let fields = items(response.data, "the OCSP response")?;
    let bytes = fields.get(1).ok_or("it has no responseBytes")?;
    expect(bytes, Class::ContextSpecific, Tag(0), "responseBytes")?;
    let bytes = one(bytes.data, "responseBytes")?;
    expect(&bytes, Class::Universal, Tag::Sequence, "responseBytes")?;
    let (kind, basic) = match items(bytes.data, "responseBytes")?.as_slice() {
        [kind, basic] => (kind.clone(), basic.clone()),
        _ => return Err("responseBytes is not (responseType, response)".to_owned()),
    };
    expect(&kind, Class::Universal, Tag::Oid, "responseType")?;
    if kind.data != BASIC_OID {
        return Err("its response type is not id-pkix-ocsp-basic".to_owned());
    }
    expect(&basic, Class::Universal, Tag::OctetString, "response")?;
    let basic = one(basic.data, "BasicOCSPResponse")?;
    expect(&basic, Class::Universal, Tag::Sequence, "BasicOCSPResponse")?;
    let basic_fields = items(basic.data, "BasicOCSPResponse")?;
    let tbs = basic_fields.first().ok_or("BasicOCSPResponse is empty")?;
    expect(tbs, Class::Universal, Tag::Sequence, "tbsResponseData")?;
    extensions_of_response_data(&items(tbs.data, "tbsResponseData")?)
}

/// ResponseData ::= SEQUENCE { [0] version OPTIONAL, responderID ([1] or [2]), producedAt,
/// responses, [1] responseExtensions OPTIONAL }. The `[1]` of responderID and of the extensions
/// only differ by position, so the extensions are found after producedAt and responses.
fn extensions_of_response_data(fields: &[Any<'_>]) -> Result<Vec<Extension>, String> {
    let produced_at = fields
        .iter()
        .position(|f| f.class() == Class::Universal && f.tag() == Tag::GeneralizedTime)
        .ok_or("tbsResponseData has no producedAt")?;
    let after = fields.get(produced_at + 1..).unwrap_or_default();
    match after {
        [responses] => {
            expect(responses, Class::Universal, Tag::Sequence, "responses").map(|()| Vec::new())
        }
        [responses, extensions] => {
            expect(responses, Class::Universal, Tag::Sequence, "responses")?;
            expect(
                extensions,
                Class::ContextSpecific,
                Tag(1),
                "responseExtensions",
            )?;
            extension_list(extensions.data)
        }
        _ => Err("tbsResponseData does not end with responses and extensions".to_owned()),
    }
}

fn extension_list(explicit: &[u8]) -> Result<Vec<Extension>, String> {
    let list = one(explicit, "responseExtensions")?;
    expect(&list, Class::Universal, Tag::Sequence, "responseExtensions")?;
    items(list.data, "responseExtensions")?
        .iter()
        .map(extension)
        .collect()
}

/// Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
fn extension(any: &Any<'_>) -> Result<Extension, String> {
    expect(any, Class::Universal, Tag::Sequence, "an extension")?;
    let fields = items(any.data, "an extension")?;
    let (oid, critical, value) = match fields.as_slice() {
        [oid, value] => (oid, false, value),
        [oid, critical, value] => {
            expect(
                critical,
                Class::Universal,
                Tag::Boolean,
                "extension criticality",
            )?;
            (oid, critical.data == [0xff], value)
        }
        _ => return Err("an extension is not (extnID, critical, extnValue)".to_owned()),
    };
    expect(oid, Class::Universal, Tag::Oid, "extnID")?;
    expect(value, Class::Universal, Tag::OctetString, "extnValue")?;
    Ok(Extension {
        oid: oid.data.to_vec(),
        critical,
        value: value.data.to_vec(),
    })
}

/// A time as openssl prints an ASN.1 GeneralizedTime (`Nov 27 08:56:38 2026 GMT`, the day
/// space-padded, optional fraction of a second after the seconds, which is dropped).
pub(super) fn printed_time(text: &str) -> Result<OffsetDateTime, String> {
    let bad = || format!("unreadable time {text:?}");
    let body = text.strip_suffix(" GMT").ok_or_else(bad)?;
    let parts: Vec<&str> = body.split_whitespace().collect();
    let [month, day, clock, year] = parts.as_slice() else {
        return Err(bad());
    };
    let month = month_named(month).ok_or_else(bad)?;
    let day: u8 = day.parse().map_err(|_| bad())?;
    let year: i32 = year.parse().map_err(|_| bad())?;
    let whole_seconds = clock.split('.').next().unwrap_or_default();
    let hms: Vec<u8> = whole_seconds
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let [hour, minute, second] = hms.as_slice() else {
        return Err(bad());
    };
    let date = Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    let time = Time::from_hms(*hour, *minute, *second).map_err(|_| bad())?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc())
}

fn month_named(name: &str) -> Option<Month> {
    const NAMES: [(&str, Month); 12] = [
        ("Jan", Month::January),
        ("Feb", Month::February),
        ("Mar", Month::March),
        ("Apr", Month::April),
        ("May", Month::May),
        ("Jun", Month::June),
        ("Jul", Month::July),
        ("Aug", Month::August),
        ("Sep", Month::September),
        ("Oct", Month::October),
        ("Nov", Month::November),
        ("Dec", Month::December),
    ];
    NAMES.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}

/// A DER element: tag, definite length, content.
pub(super) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    match u8::try_from(len) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let digits: Vec<u8> = len
                .to_be_bytes()
                .iter()
                .copied()
                .skip_while(|b| *b == 0)
                .collect();
            // At most size_of::<usize>() digits, so the count fits the 7 bits.
            out.push(0x80 | digits.len() as u8);
            out.extend_from_slice(&digits);
        }
    }
    out.extend_from_slice(content);
    out
}

/// Exactly one element, nothing after it.
fn one<'a>(bytes: &'a [u8], what: &str) -> Result<Any<'a>, String> {
    let (rest, any) = Any::from_der(bytes).map_err(|e| format!("{what} is unreadable: {e}"))?;
    if rest.is_empty() {
        Ok(any)
    } else {
        Err(format!("{} bytes after {what}", rest.len()))
    }
}

/// The elements of a constructed value's content.
fn items<'a>(mut content: &'a [u8], what: &str) -> Result<Vec<Any<'a>>, String> {
    let mut found = Vec::new();
    while !content.is_empty() {
        let (rest, any) =
            Any::from_der(content).map_err(|e| format!("{what} is unreadable: {e}"))?;
        found.push(any);
        content = rest;
    }
    Ok(found)
}

fn expect(any: &Any<'_>, class: Class, tag: Tag, what: &str) -> Result<(), String> {
    let constructed = matches!(tag, Tag::Sequence) || class == Class::ContextSpecific;
    if any.class() == class && any.tag() == tag && any.header.is_constructed() == constructed {
        Ok(())
    } else {
        Err(format!(
            "{what} has the wrong type ({:?} {})",
            any.class(),
            any.tag()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn tlv_uses_short_and_long_lengths() {
        assert_eq!(tlv(0x04, &[1, 2]), vec![0x04, 0x02, 1, 2]);
        let long = tlv(0x04, &[0u8; 0x80]);
        assert_eq!(long.get(..3), Some(&[0x04, 0x81, 0x80][..]));
        let longer = tlv(0x30, &[0u8; 0x1234]);
        assert_eq!(longer.get(..4), Some(&[0x30, 0x82, 0x12, 0x34][..]));
        assert_eq!(longer.len(), 4 + 0x1234);
    }

    #[test]
    fn the_nonce_lands_in_the_request_extensions() {
        // An openssl-built request for a dev certificate, then the nonce spliced in.
        let issuer = crate::pki::testdata::cert("issuing-ca.pem");
        let leaf = crate::pki::testdata::cert("agency-000.00.00.G22-rsa2048.pem");
        let id = openssl::ocsp::OcspCertId::from_cert(
            openssl::hash::MessageDigest::sha1(),
            &leaf,
            &issuer,
        )
        .expect("cert id");
        let mut request = openssl::ocsp::OcspRequest::new().expect("request");
        request.add_id(id).expect("add id");
        let plain = request.to_der().expect("DER");
        let value = nonce_value(&[7u8; 32]);
        let with = with_nonce(&plain, &value).expect("spliced");
        // openssl reads it back, and its TBSRequest ends with our extension.
        openssl::ocsp::OcspRequest::from_der(&with).expect("openssl reads the spliced request");
        let outer = one(&with, "request").expect("outer");
        let tbs = items(outer.data, "outer").expect("items");
        let tbs_fields = items(tbs[0].data, "tbs").expect("tbs");
        let last = tbs_fields.last().expect("extensions");
        assert_eq!((last.class(), last.tag()), (Class::ContextSpecific, Tag(2)));
        let list = extension_list(last.data).expect("extensions");
        assert_eq!(
            list,
            vec![Extension {
                oid: NONCE_OID.to_vec(),
                critical: false,
                value: value.clone(),
            }]
        );
        assert_eq!(list[0].oid_string(), "1.3.6.1.5.5.7.48.1.2");
        // Twice is refused rather than producing two extension fields.
        assert!(with_nonce(&with, &value).is_err());
    }

    #[test]
    fn response_data_extensions_are_found_after_the_responses() {
        let time = tlv(0x18, b"20261127085638Z");
        let responder_by_name = tlv(0xa1, &tlv(SEQUENCE, &[]));
        let responses = tlv(SEQUENCE, &[]);
        let nonce = tlv(
            SEQUENCE,
            &[tlv(OBJECT_IDENTIFIER, NONCE_OID), tlv(OCTET_STRING, b"n")].concat(),
        );
        let critical_other = tlv(
            SEQUENCE,
            &[
                tlv(OBJECT_IDENTIFIER, &[0x2a, 0x03]),
                vec![0x01, 0x01, 0xff],
                tlv(OCTET_STRING, b"x"),
            ]
            .concat(),
        );
        let extensions = tlv(0xa1, &tlv(SEQUENCE, &[nonce, critical_other].concat()));
        let parse = |fields: &[&[u8]]| {
            let data = fields.concat();
            extensions_of_response_data(&items(&data, "test").expect("items"))
        };
        let found =
            parse(&[&responder_by_name, &time, &responses, &extensions]).expect("extensions");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].value, b"n");
        assert!(!found[0].critical);
        assert!(found[1].critical);
        assert_eq!(found[1].oid_string(), "1.2.3");
        assert_eq!(
            parse(&[&responder_by_name, &time, &responses]),
            Ok(Vec::new())
        );
        assert!(parse(&[&responder_by_name, &responses]).is_err());
        assert!(parse(&[&responder_by_name, &time, &responses, &extensions, &time]).is_err());
    }

    #[test]
    fn garbage_and_trailing_bytes_are_refused() {
        assert!(response_extensions(b"").is_err());
        assert!(response_extensions(b"\x30\x03\x0a\x01\x00").is_err());
        assert!(response_extensions(b"\x30\x80\x00\x00").is_err());
        assert!(response_extensions(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        let unsuccessful = tlv(SEQUENCE, &[0x0a, 0x01, 0x03]);
        assert!(response_extensions(&unsuccessful).is_err());
        let trailing = [unsuccessful.as_slice(), &[0]].concat();
        assert!(one(&trailing, "x").is_err());
    }

    #[test]
    fn reads_times_as_openssl_prints_them() {
        assert_eq!(
            printed_time("Nov 27 08:56:38 2026 GMT"),
            Ok(datetime!(2026-11-27 08:56:38 UTC))
        );
        assert_eq!(
            printed_time("Jan  1 00:00:00 2025 GMT"),
            Ok(datetime!(2025-01-01 00:00 UTC))
        );
        assert_eq!(
            printed_time("Mar  9 23:59:59.75 2045 GMT"),
            Ok(datetime!(2045-03-09 23:59:59 UTC))
        );
        for bad in [
            "error",
            "",
            "Foo 1 00:00:00 2025 GMT",
            "Feb 30 00:00:00 2025 GMT",
            "Jan 1 24:00:00 2025 GMT",
            "Jan 1 00:00 2025 GMT",
            "Jan 1 00:00:00 2025",
        ] {
            assert!(printed_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn agrees_with_openssl_on_a_generalized_time() {
        let t = openssl::asn1::Asn1GeneralizedTime::from_str("20450101123456Z").expect("time");
        assert_eq!(
            printed_time(&t.to_string()),
            Ok(datetime!(2045-01-01 12:34:56 UTC))
        );
    }
}
