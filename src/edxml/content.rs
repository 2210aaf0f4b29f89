//! Attachment content without holding it: the byte range of an attachment's base64 text in the
//! packet it was read from, checked once while reading, decoded on demand in bounded chunks.

use std::fmt;
use std::io::Write;
use std::ops::Range;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::codes::shown;

/// Why attachment content could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("the attachment text is not base64: {reason} at byte {offset} of the packet")]
    NotBase64 { offset: usize, reason: &'static str },
    #[error("the attachment refers to bytes {start}..{end}, outside the {len} bytes given; pass the packet it was read from")]
    OutOfRange {
        start: usize,
        end: usize,
        len: usize,
    },
    #[error("writing the decoded attachment failed: {0}")]
    Io(#[from] std::io::Error),
}

impl ContentError {
    pub fn code(&self) -> &'static str {
        match self {
            ContentError::NotBase64 { .. } => "edxml.invalid_value",
            ContentError::OutOfRange { .. } => "edxml.attachment_source",
            ContentError::Io(_) => "edxml.io",
        }
    }
}

/// The base64 text of one attachment, as a byte range of the packet it was read from. Only the
/// reader makes one, after checking that the range holds base64 and XML whitespace only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncodedContent {
    range: Range<usize>,
    decoded_len: u64,
}

impl EncodedContent {
    /// Checks `text` (found at `offset` in the packet) and records where it is.
    pub(crate) fn scan(text: &[u8], offset: usize) -> Result<EncodedContent, ContentError> {
        let decoded_len = scan_base64(text, offset)?;
        Ok(EncodedContent {
            range: offset..offset + text.len(),
            decoded_len,
        })
    }

    /// Where the base64 text is in the packet.
    pub fn range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// Size of the attachment once decoded, in bytes.
    pub fn decoded_len(&self) -> u64 {
        self.decoded_len
    }

    /// The base64 text (with any line breaks) inside `packet`, which must be the bytes the
    /// packet was read from.
    pub fn encoded<'p>(&self, packet: &'p [u8]) -> Result<&'p [u8], ContentError> {
        packet
            .get(self.range.clone())
            .ok_or(ContentError::OutOfRange {
                start: self.range.start,
                end: self.range.end,
                len: packet.len(),
            })
    }

    /// Decodes into `out` in bounded chunks; returns the number of bytes written.
    pub fn decode_to<W: Write>(&self, packet: &[u8], mut out: W) -> Result<u64, ContentError> {
        const CHUNK: usize = 64 * 1024;
        let text = self.encoded(packet)?;
        let mut symbols: Vec<u8> = Vec::with_capacity(CHUNK);
        let mut decoded: Vec<u8> = Vec::with_capacity(CHUNK / 4 * 3);
        let mut written = 0u64;
        let mut flush = |symbols: &mut Vec<u8>, at: usize| -> Result<(), ContentError> {
            decoded.clear();
            ENGINE
                .decode_vec(&symbols[..], &mut decoded)
                .map_err(|_| ContentError::NotBase64 {
                    offset: at,
                    reason: "invalid base64",
                })?;
            out.write_all(&decoded)?;
            written += decoded.len() as u64;
            symbols.clear();
            Ok(())
        };
        let mut symbol_bytes = SymbolBytes::new(text);
        while let Some(b) = symbol_bytes.next() {
            symbols.push(b);
            if symbols.len() == CHUNK {
                flush(&mut symbols, self.range.start + symbol_bytes.position())?;
            }
        }
        if !symbols.is_empty() {
            flush(&mut symbols, self.range.end)?;
        }
        Ok(written)
    }

    /// Decodes the whole attachment into memory. Prefer [`EncodedContent::decode_to`] for
    /// anything large.
    pub fn decode(&self, packet: &[u8]) -> Result<Vec<u8>, ContentError> {
        let capacity = usize::try_from(self.decoded_len).unwrap_or(0);
        let mut out = Vec::with_capacity(capacity);
        self.decode_to(packet, &mut out)?;
        Ok(out)
    }
}

/// Standard alphabet; padding is optional and stray low bits are tolerated because some
/// encoders in the field produce either.
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Character classes for the one pass over attachment text.
const SPACE: u8 = 1;
const SYMBOL: u8 = 2;
const PAD: u8 = 3;
const AMP: u8 = 4;

const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' {
            SYMBOL
        } else if b == b' ' || b == b'\t' || b == b'\n' || b == b'\r' {
            SPACE
        } else if b == b'=' {
            PAD
        } else if b == b'&' {
            AMP
        } else {
            0
        };
        i += 1;
    }
    t
};

/// Length of a character reference to whitespace at the start of `s` (some XML writers
/// escape line breaks inside base64 as `&#xD;`), or `None`.
fn whitespace_reference(s: &[u8]) -> Option<usize> {
    const REFS: [&[u8]; 12] = [
        b"&#13;", b"&#xD;", b"&#xd;", b"&#10;", b"&#xA;", b"&#xa;", b"&#9;", b"&#x9;", b"&#32;",
        b"&#x20;", b"&#x0D;", b"&#x0A;",
    ];
    REFS.iter().find(|r| s.starts_with(r)).map(|r| r.len())
}

/// Whether every byte of `chunk` is a base64 symbol. Written without early exits so that the
/// compiler vectorizes it: this is the hot loop over attachment text.
fn all_symbols(chunk: &[u8]) -> bool {
    chunk.iter().fold(true, |ok, &b| {
        ok & (b.is_ascii_uppercase()
            | b.is_ascii_lowercase()
            | b.is_ascii_digit()
            | (b == b'+')
            | (b == b'/'))
    })
}

/// The number of base64 symbols at the start of `text`: blocks of 32, then of 8, checked
/// without early exits (vectorized), then byte by byte up to the first other byte. Attachment
/// text is lines of 76 symbols (or 64, or one long line), so nearly every byte goes through
/// the block check, and the scalar tail is one line's remainder.
fn symbol_run(text: &[u8]) -> usize {
    let mut n = 0;
    for block in [32, 8] {
        while let Some(bytes) = text.get(n..n + block) {
            if !all_symbols(bytes) {
                break;
            }
            n += block;
        }
    }
    while text
        .get(n)
        .is_some_and(|&b| CLASSES[usize::from(b)] == SYMBOL)
    {
        n += 1;
    }
    n
}

/// Checks that `text` is base64 with optional whitespace; returns the decoded length.
fn scan_base64(text: &[u8], offset: usize) -> Result<u64, ContentError> {
    let fail = |at: usize, reason| ContentError::NotBase64 {
        offset: offset + at,
        reason,
    };
    let mut symbols: u64 = 0;
    let mut pads: u64 = 0;
    let mut i = 0;
    while i < text.len() {
        let run = symbol_run(&text[i..]);
        if run > 0 {
            if pads > 0 {
                return Err(fail(i, "text after the '=' padding"));
            }
            symbols += run as u64;
            i += run;
            continue;
        }
        // One byte that is not a symbol: a line break, padding, a reference, or an error.
        match CLASSES[usize::from(text[i])] {
            SPACE => i += 1,
            PAD => {
                pads += 1;
                if pads > 2 {
                    return Err(fail(i, "more than two '=' padding characters"));
                }
                i += 1;
            }
            AMP => {
                i += text
                    .get(i..)
                    .and_then(whitespace_reference)
                    .ok_or_else(|| fail(i, "a character reference other than whitespace"))?;
            }
            _ => return Err(fail(i, "a character outside the base64 alphabet")),
        }
    }
    let rest = symbols % 4;
    let padded_ok = pads == 0 || (symbols + pads) % 4 == 0;
    if rest == 1 || !padded_ok {
        return Err(fail(text.len(), "the text ends in the middle of a group"));
    }
    Ok(symbols / 4 * 3 + rest.saturating_sub(1))
}

/// The base64 symbols of checked text, skipping whitespace and whitespace references.
struct SymbolBytes<'t> {
    text: &'t [u8],
    at: usize,
}

impl<'t> SymbolBytes<'t> {
    fn new(text: &'t [u8]) -> Self {
        SymbolBytes { text, at: 0 }
    }

    fn position(&self) -> usize {
        self.at
    }
}

impl Iterator for SymbolBytes<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        while let Some(&b) = self.text.get(self.at) {
            match CLASSES[usize::from(b)] {
                SYMBOL | PAD | 0 => {
                    self.at += 1;
                    return Some(b);
                }
                AMP => {
                    self.at += self
                        .text
                        .get(self.at..)
                        .and_then(whitespace_reference)
                        .unwrap_or(1);
                }
                _ => self.at += 1,
            }
        }
        None
    }
}

/// An attachment's content id, without the `cid:` prefix the manifest writes (spec §6).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentId(String);

impl ContentId {
    pub const MAX_LEN: usize = 256;

    /// Removes an optional leading `cid:` (in any case, as URL schemes are) and checks that
    /// what remains is a non-empty token without whitespace or control characters.
    pub fn parse(value: &str) -> Result<ContentId, String> {
        let bare = match value.get(..4) {
            Some(scheme) if scheme.eq_ignore_ascii_case("cid:") => value.get(4..).unwrap_or(""),
            _ => value,
        };
        if bare.is_empty() {
            return Err(format!("{} is not a content id: it is empty", shown(value)));
        }
        if bare.len() > Self::MAX_LEN {
            return Err(format!(
                "{} is not a content id: it is longer than {} bytes",
                shown(value),
                Self::MAX_LEN
            ));
        }
        if bare.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "{} is not a content id: it contains whitespace or control characters",
                shown(value)
            ));
        }
        Ok(ContentId(bare.to_owned()))
    }

    /// A fresh random id (a UUID), as the writer gives new attachments.
    pub fn generate() -> ContentId {
        ContentId(uuid::Uuid::new_v4().to_string())
    }

    /// The bare id, as written in `Attachment/ContentId`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a `cid:` URL, as written in the manifest.
    pub fn to_cid_url(&self) -> String {
        format!("cid:{}", self.0)
    }
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn content(text: &str) -> Result<EncodedContent, ContentError> {
        EncodedContent::scan(text.as_bytes(), 0)
    }

    #[test]
    fn scans_and_decodes_with_line_breaks_and_references() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let b64 = STANDARD.encode(&data);
        let wrapped: String = b64
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("&#xD;\r\n");
        let packet = format!("<a>\n  {wrapped}\n</a>");
        let start = packet.find('\n').unwrap();
        let end = packet.rfind('<').unwrap();
        let c = EncodedContent::scan(&packet.as_bytes()[start..end], start).unwrap();
        assert_eq!(c.decoded_len(), 1000);
        assert_eq!(c.range(), start..end);
        assert_eq!(c.decode(packet.as_bytes()).unwrap(), data);
    }

    #[test]
    fn decoded_length_follows_padding() {
        for n in 0..10usize {
            let data = vec![7u8; n];
            let padded = STANDARD.encode(&data);
            assert_eq!(content(&padded).unwrap().decoded_len(), n as u64);
            let unpadded = padded.trim_end_matches('=');
            let c = content(unpadded).unwrap();
            assert_eq!(c.decoded_len(), n as u64);
            assert_eq!(c.decode(unpadded.as_bytes()).unwrap(), data);
        }
    }

    #[test]
    fn decodes_across_chunk_boundaries() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let b64 = STANDARD.encode(&data);
        let c = content(&b64).unwrap();
        let mut out = Vec::new();
        assert_eq!(c.decode_to(b64.as_bytes(), &mut out).unwrap(), 200_000);
        assert_eq!(out, data);
    }

    #[test]
    fn refuses_what_is_not_base64() {
        for bad in [
            "ab$d",
            "QQ==QQ==",
            "QQ===",
            "Q",
            "QQ=",
            "QUJD&amp;",
            "QUJD&#65;",
            "é",
        ] {
            let err = content(bad).unwrap_err();
            assert_eq!(err.code(), "edxml.invalid_value", "{bad:?}");
        }
        let long = format!("{}$AAA", "QUJD".repeat(40));
        match content(&long).unwrap_err() {
            ContentError::NotBase64 { offset, .. } => assert_eq!(offset, 160),
            other => panic!("{other}"),
        }
        let late_pad = format!("{}QQ==QUJD{}", "QUJD".repeat(20), "QUJD".repeat(20));
        assert!(content(&late_pad).is_err());
        assert_eq!(content("").unwrap().decoded_len(), 0);
        assert_eq!(content("  \r\n ").unwrap().decoded_len(), 0);
    }

    #[test]
    fn refuses_the_wrong_packet() {
        let c = EncodedContent::scan(b"QUJD", 100).unwrap();
        assert_eq!(
            c.decode(b"short").unwrap_err().code(),
            "edxml.attachment_source"
        );
    }

    #[test]
    fn content_ids_lose_their_cid_prefix() {
        let a = ContentId::parse("cid:5f1c2a0e-1111-4e5b-9a3a-0d2a8d7f6e11").unwrap();
        let b = ContentId::parse("5f1c2a0e-1111-4e5b-9a3a-0d2a8d7f6e11").unwrap();
        assert_eq!(a, b);
        assert_eq!(ContentId::parse("CID:x").unwrap().as_str(), "x");
        assert_eq!(a.to_cid_url(), "cid:5f1c2a0e-1111-4e5b-9a3a-0d2a8d7f6e11");
        assert!(ContentId::parse("cid:").is_err());
        assert!(ContentId::parse("").is_err());
        assert!(ContentId::parse("a b").is_err());
        assert_ne!(ContentId::generate(), ContentId::generate());
    }
}
