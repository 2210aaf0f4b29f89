//! The character-level rules of Canonical XML §2.3: how text, attribute values, comments and
//! processing instructions are written once the reader has found them.
//!
//! Text is the hot path (megabytes of base64 per attachment), so it is written straight from
//! the input slice whenever it holds nothing to rewrite; the search for the three bytes that
//! need work (`&`, `>`, `\r`; a raw `<` cannot occur in character data) is one `memchr3` pass.

use std::io::{self, Write};

use memchr::{memchr, memchr3};

use crate::xml::reader::XmlError;

/// Writes character data as it appears in the document (`raw`, references still escaped, line
/// ends unnormalized) in canonical form: references replaced, line ends normalized to `\n`, and
/// `&`, `<`, `>`, `\r` escaped.
pub(super) fn text<W: Write>(out: &mut W, raw: &str, offset: usize) -> Result<(), TextError> {
    let mut rest = raw.as_bytes();
    // Indentation between tags, the most common text of all, is written as it is.
    if rest.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\n')) {
        out.write_all(rest)?;
        return Ok(());
    }
    while let Some(i) = memchr3(b'&', b'>', b'\r', rest) {
        // `i` comes from memchr over `rest`, so it is in bounds.
        let (plain, special) = rest.split_at(i);
        out.write_all(plain)?;
        rest = match special {
            [b'>', tail @ ..] => {
                out.write_all(b"&gt;")?;
                tail
            }
            [b'\r', b'\n', tail @ ..] | [b'\r', tail @ ..] => {
                out.write_all(b"\n")?;
                tail
            }
            _ => {
                let (c, used) = reference(special).ok_or(TextError::BadReference {
                    offset: offset + (raw.len() - rest.len()) + i,
                })?;
                text_char(out, c)?;
                special.get(used..).unwrap_or_default()
            }
        };
    }
    out.write_all(rest)?;
    Ok(())
}

/// Writes the content of a CDATA section as canonical text (CDATA sections are replaced by
/// their character content: line ends normalized, `&`, `<`, `>` escaped).
pub(super) fn cdata<W: Write>(out: &mut W, raw: &str) -> io::Result<()> {
    let bytes = raw.as_bytes();
    if memchr3(b'&', b'<', b'>', bytes).is_none() && memchr(b'\r', bytes).is_none() {
        return out.write_all(bytes);
    }
    let mut rest = bytes;
    while let Some(i) = rest
        .iter()
        .position(|b| matches!(b, b'&' | b'<' | b'>' | b'\r'))
    {
        let (plain, special) = rest.split_at(i);
        out.write_all(plain)?;
        rest = match special {
            [b'&', tail @ ..] => {
                out.write_all(b"&amp;")?;
                tail
            }
            [b'<', tail @ ..] => {
                out.write_all(b"&lt;")?;
                tail
            }
            [b'>', tail @ ..] => {
                out.write_all(b"&gt;")?;
                tail
            }
            [b'\r', b'\n', tail @ ..] | [_, tail @ ..] => {
                out.write_all(b"\n")?;
                tail
            }
            [] => &[],
        };
    }
    out.write_all(rest)
}

/// Writes a normalized attribute value (or namespace URI) escaped for a double-quoted
/// attribute: `&`, `<`, `"` and the whitespace characters that survived normalization
/// (they came from character references) become references.
pub(super) fn attribute_value<W: Write>(out: &mut W, value: &str) -> io::Result<()> {
    let mut rest = value.as_bytes();
    while let Some(i) = rest
        .iter()
        .position(|b| matches!(b, b'&' | b'<' | b'"' | b'\t' | b'\n' | b'\r'))
    {
        let (plain, special) = rest.split_at(i);
        out.write_all(plain)?;
        let (replacement, tail): (&[u8], &[u8]) = match special {
            [b'&', tail @ ..] => (b"&amp;", tail),
            [b'<', tail @ ..] => (b"&lt;", tail),
            [b'"', tail @ ..] => (b"&quot;", tail),
            [b'\t', tail @ ..] => (b"&#x9;", tail),
            [b'\n', tail @ ..] => (b"&#xA;", tail),
            [_, tail @ ..] => (b"&#xD;", tail),
            [] => (b"", &[]),
        };
        out.write_all(replacement)?;
        rest = tail;
    }
    out.write_all(rest)
}

/// Writes the content of a comment or the data of a processing instruction: only line ends
/// change (§2.11 of XML 1.0); nothing is escaped.
pub(super) fn line_ends_normalized<W: Write>(out: &mut W, raw: &str) -> io::Result<()> {
    let mut rest = raw.as_bytes();
    while let Some(i) = memchr(b'\r', rest) {
        let (plain, special) = rest.split_at(i);
        out.write_all(plain)?;
        out.write_all(b"\n")?;
        rest = match special {
            [b'\r', b'\n', tail @ ..] | [_, tail @ ..] => tail,
            [] => &[],
        };
    }
    out.write_all(rest)
}

/// Why character data could not be written.
#[derive(Debug)]
pub(super) enum TextError {
    Io(io::Error),
    /// A reference the reader should already have refused; reported rather than trusted.
    BadReference {
        offset: usize,
    },
}

impl From<io::Error> for TextError {
    fn from(e: io::Error) -> Self {
        TextError::Io(e)
    }
}

impl From<TextError> for super::C14nError {
    fn from(e: TextError) -> Self {
        match e {
            TextError::Io(e) => super::C14nError::Io(e),
            TextError::BadReference { offset } => super::C14nError::Xml(XmlError::Malformed {
                offset,
                reason: "a malformed character or entity reference".into(),
            }),
        }
    }
}

/// One character that came from a reference, escaped as canonical text requires.
fn text_char<W: Write>(out: &mut W, c: char) -> io::Result<()> {
    match c {
        '&' => out.write_all(b"&amp;"),
        '<' => out.write_all(b"&lt;"),
        '>' => out.write_all(b"&gt;"),
        '\r' => out.write_all(b"&#xD;"),
        c => out.write_all(c.encode_utf8(&mut [0; 4]).as_bytes()),
    }
}

/// Decodes the reference at the start of `s` (which starts with `&`): the character and the
/// number of bytes the reference took. Only the predefined entities exist (DTDs are refused).
fn reference(s: &[u8]) -> Option<(char, usize)> {
    let semi = memchr(b';', s)?;
    let name = std::str::from_utf8(s.get(1..semi)?).ok()?;
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let code = match name.strip_prefix("#x") {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => name.strip_prefix('#')?.parse::<u32>().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((c, semi + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_replaces_references_and_line_ends() {
        let s = run(|o| {
            text(
                o,
                "a&lt;b&gt;c&amp;d&quot;&apos;>\r\n\r&#13;&#xD;&#9;&#x20AC;é",
                0,
            )
            .unwrap()
        });
        assert_eq!(s, "a&lt;b&gt;c&amp;d\"'&gt;\n\n&#xD;&#xD;\t€é");
    }

    #[test]
    fn text_without_specials_is_copied() {
        assert_eq!(
            run(|o| text(o, "Ủy ban nhân dân", 0).unwrap()),
            "Ủy ban nhân dân"
        );
        assert_eq!(run(|o| text(o, "", 0).unwrap()), "");
    }

    #[test]
    fn text_reports_reference_offset() {
        let mut out = Vec::new();
        match text(&mut out, "ab>&bogus;", 10) {
            Err(TextError::BadReference { offset }) => assert_eq!(offset, 13),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cdata_escapes_markup_and_normalizes_line_ends() {
        assert_eq!(
            run(|o| cdata(o, "<a href=\"x\">&amp;</a>]]\r\n\r").unwrap()),
            "&lt;a href=\"x\"&gt;&amp;amp;&lt;/a&gt;]]\n\n"
        );
    }

    #[test]
    fn attribute_escapes_quotes_and_whitespace_references() {
        assert_eq!(
            run(|o| attribute_value(o, "a&<>\"'\t\n\r").unwrap()),
            "a&amp;&lt;>&quot;'&#x9;&#xA;&#xD;"
        );
    }

    #[test]
    fn comments_only_normalize_line_ends() {
        assert_eq!(
            run(|o| line_ends_normalized(o, "a\r\nb\rc&<\r").unwrap()),
            "a\nb\nc&<\n"
        );
    }
}
