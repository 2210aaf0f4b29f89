//! A hardened, namespace-aware XML event reader over a byte slice.
//!
//! Every packet reader in lienthong (the edXML model, the XML-DSig locator, canonicalization)
//! goes through this one door, so the defences live in one place:
//! - DTDs are refused outright (no entity can ever be expanded: no billion laughs, no XXE);
//! - only the five predefined entities and character references are understood;
//! - input must be UTF-8 (checked once, up front), one root element, nothing but
//!   whitespace, comments and processing instructions outside it, every element closed;
//! - size, nesting depth, attributes per element and name length are bounded by [`Limits`].
//!
//! Text runs, start tags and end tags, nearly every token of a packet, are cut out of the
//! input here, at exactly the boundaries quick-xml's tokenizer would find; quick-xml reads
//! everything that starts with `<!` or `<?` (comments, CDATA sections, DTDs, processing
//! instructions, the XML declaration). Names, attributes, namespaces and character data are
//! sliced from the input and checked here, so every string an event hands out borrows the
//! caller's bytes (`'a`), with no copies on the hot path.

use std::borrow::Cow;

use memchr::{memchr, memchr2, memchr3, memchr3_iter};
use quick_xml::events::Event as QxEvent;

/// The namespace bound to the `xml` prefix by definition.
pub const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NAMESPACE: &str = "http://www.w3.org/2000/xmlns/";

/// Bounds on what a single document may make the reader do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest document accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest element nesting (the root is depth 1).
    pub max_depth: usize,
    /// Most attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
    /// Longest element or attribute name, in bytes.
    pub max_name_len: usize,
    /// Most elements in one document.
    pub max_elements: usize,
}

impl Default for Limits {
    /// Generous for real edXML (depth ≈ 10, a few hundred elements, attachments of tens of
    /// megabytes) and tight enough that hostile input is cheap to refuse.
    fn default() -> Self {
        Limits {
            max_bytes: 64 * 1024 * 1024,
            max_depth: 64,
            max_attributes: 64,
            max_name_len: 256,
            max_elements: 100_000,
        }
    }
}

/// Why a document was refused by the reader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the document contains a DTD (<!DOCTYPE …>) at byte {offset}; DTDs are refused because they enable entity-expansion and external-entity attacks")]
    DtdForbidden { offset: usize },
    #[error("the document is not well-formed XML at byte {offset}: {reason}")]
    Malformed { offset: usize, reason: String },
    #[error(
        "the document is not valid UTF-8 (first bad byte at {offset}); edXML packets must be UTF-8"
    )]
    InvalidUtf8 { offset: usize },
    #[error("the document declares encoding \"{encoding}\"; only UTF-8 is accepted")]
    UnsupportedEncoding { encoding: String },
    #[error("{what} is {actual}, above the limit of {limit}")]
    TooLarge {
        what: &'static str,
        actual: usize,
        limit: usize,
    },
}

impl XmlError {
    /// Stable error code, listed in docs/ERRORS.md.
    pub fn code(&self) -> &'static str {
        match self {
            XmlError::DtdForbidden { .. } => "xml.dtd_forbidden",
            XmlError::Malformed { .. }
            | XmlError::InvalidUtf8 { .. }
            | XmlError::UnsupportedEncoding { .. } => "edxml.malformed",
            XmlError::TooLarge { .. } => "limits.too_large",
        }
    }

    fn malformed(offset: usize, reason: impl Into<String>) -> Self {
        XmlError::Malformed {
            offset,
            reason: reason.into(),
        }
    }
}

/// A namespace declaration written on an element (`xmlns="…"` or `xmlns:p="…"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceDecl<'a> {
    /// `None` for the default namespace.
    pub prefix: Option<&'a str>,
    /// The namespace name; empty only for `xmlns=""` (undeclaring the default namespace).
    pub uri: Cow<'a, str>,
}

/// An ordinary attribute (namespace declarations are reported separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// The name as written, e.g. `xlink:href`.
    pub qname: &'a str,
    pub prefix: Option<&'a str>,
    pub local: &'a str,
    /// Namespace of the attribute; `None` for unprefixed attributes (they are in no namespace).
    pub namespace: Option<Cow<'a, str>>,
    /// The value after XML attribute-value normalization (line ends, references, whitespace → space).
    pub value: Cow<'a, str>,
}

/// A start tag (or an empty-element tag, which is followed by a synthesized [`Event::End`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element<'a> {
    /// Byte offset of the `<` of this tag in the input: the element's identity for later passes.
    pub offset: usize,
    /// Nesting depth; the root element is at depth 1.
    pub depth: usize,
    /// The name as written, e.g. `edXML:From`.
    pub qname: &'a str,
    pub prefix: Option<&'a str>,
    pub local: &'a str,
    /// The element's namespace after resolution; `None` when it is in no namespace.
    pub namespace: Option<Cow<'a, str>>,
    /// Namespace declarations written on this tag, in document order.
    pub namespace_decls: Vec<NamespaceDecl<'a>>,
    /// Other attributes, in document order.
    pub attributes: Vec<Attribute<'a>>,
    /// Whether the tag was written `<x/>`.
    pub empty: bool,
}

impl<'a> Element<'a> {
    /// Whether this element is `{namespace}local`.
    pub fn is(&self, namespace: &str, local: &str) -> bool {
        self.local == local && self.namespace.as_deref() == Some(namespace)
    }

    /// The value of the unprefixed attribute `local`, if present.
    pub fn attribute(&self, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.prefix.is_none() && a.local == local)
            .map(|a| a.value.as_ref())
    }
}

/// An end tag (real or synthesized after an empty-element tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTag<'a> {
    /// Offset of the matching start tag's `<` (same as [`Element::offset`]).
    pub start_offset: usize,
    /// Offset just past this end tag's `>` (past `/>` for an empty-element tag).
    pub end_offset: usize,
    pub depth: usize,
    pub qname: &'a str,
}

/// Character data between tags, as written (references still escaped, line ends unnormalized).
/// The reader has already checked every reference in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text<'a> {
    pub offset: usize,
    pub raw: &'a str,
}

impl<'a> Text<'a> {
    /// The character data as the XML data model sees it: `\r\n` and `\r` become `\n`,
    /// references are replaced. Borrows when nothing needs changing (the usual case).
    pub fn value(&self) -> Cow<'a, str> {
        // The reader validated every reference, so decoding cannot fail here.
        decode_text(self.raw, self.offset).unwrap_or(Cow::Borrowed(self.raw))
    }

    /// Whether the text is only XML whitespace.
    pub fn is_whitespace(&self) -> bool {
        self.raw.bytes().all(is_xml_space)
    }
}

/// One step through the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    Start(Element<'a>),
    End(EndTag<'a>),
    /// Character data, inside the root element only (whitespace outside it is dropped).
    Text(Text<'a>),
    /// A CDATA section's content (line ends unnormalized; see [`normalize_line_ends`]).
    CData {
        offset: usize,
        raw: &'a str,
    },
    /// A comment's content, between `<!--` and `-->`.
    Comment {
        offset: usize,
        raw: &'a str,
    },
    /// A processing instruction: target and the data after it (leading whitespace removed).
    Pi {
        offset: usize,
        target: &'a str,
        data: &'a str,
    },
}

/// A token of the input, as cut by [`Reader::token`].
enum Token<'a> {
    Start,
    /// `<x/>`
    Empty,
    End,
    Text,
    /// Comments, CDATA sections, DTDs, processing instructions and the XML declaration.
    Markup(QxEvent<'a>),
    Eof,
}

/// Where a start or end tag ends: the offset in `tag` (the bytes after its `<`) of the first
/// `>` outside single or double quotes, as quick-xml's element parser finds it.
fn tag_end(tag: &[u8]) -> Option<usize> {
    let mut quote = None;
    for i in memchr3_iter(b'>', b'\'', b'"', tag) {
        let b = *tag.get(i)?;
        match quote {
            None if b == b'>' => return Some(i),
            None => quote = Some(b),
            Some(q) if q == b => quote = None,
            Some(_) => {}
        }
    }
    None
}

/// One namespace binding in force, innermost last.
#[derive(Debug, Clone)]
struct Binding<'a> {
    prefix: Option<&'a str>,
    uri: Cow<'a, str>,
    depth: usize,
}

/// Streams [`Event`]s out of a UTF-8 document held in memory.
pub struct Reader<'a> {
    input: &'a str,
    /// Offset of `input` in the caller's slice (non-zero when a BOM was skipped).
    base: usize,
    /// Where the next token starts in `input`.
    pos: usize,
    /// The current start tag's raw attributes; kept to reuse its allocation.
    raw_attributes: Vec<(&'a str, &'a str)>,
    limits: Limits,
    /// Open elements: (qname, start offset).
    open: Vec<(&'a str, usize)>,
    bindings: Vec<Binding<'a>>,
    elements: usize,
    seen_root: bool,
    root_closed: bool,
    seen_anything: bool,
    pending_end: Option<EndTag<'a>>,
    finished: bool,
}

/// A document whose bytes passed the checks that concern the whole input at once: size,
/// encoding (UTF-8, optional BOM), and characters XML 1.0 forbids anywhere. Checking once and
/// handing the proof to every pass (model, signature, canonicalization) saves re-scanning
/// megabytes of attachment text per pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Document<'a> {
    /// The document after any BOM.
    text: &'a str,
    /// Offset of `text` in the caller's bytes (3 when a BOM was skipped).
    base: usize,
}

impl<'a> Document<'a> {
    pub fn check(bytes: &'a [u8], limits: Limits) -> Result<Self, XmlError> {
        if bytes.len() > limits.max_bytes {
            return Err(XmlError::TooLarge {
                what: "the document size in bytes",
                actual: bytes.len(),
                limit: limits.max_bytes,
            });
        }
        if bytes.starts_with(&[0xFE, 0xFF]) || bytes.starts_with(&[0xFF, 0xFE]) {
            return Err(XmlError::UnsupportedEncoding {
                encoding: "UTF-16".into(),
            });
        }
        let base = if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
            3
        } else {
            0
        };
        let body = &bytes[base..];
        let text = std::str::from_utf8(body).map_err(|e| XmlError::InvalidUtf8 {
            offset: base + e.valid_up_to(),
        })?;
        if let Some((at, what)) = first_forbidden_character(body) {
            return Err(XmlError::malformed(
                base + at,
                format!("{what} is not allowed in XML 1.0"),
            ));
        }
        Ok(Document { text, base })
    }

    /// The whole input's length in bytes (BOM included).
    pub fn len(&self) -> usize {
        self.base + self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

impl<'a> Reader<'a> {
    /// Checks size and encoding up front, then prepares to stream events.
    pub fn new(bytes: &'a [u8], limits: Limits) -> Result<Self, XmlError> {
        Ok(Self::of(Document::check(bytes, limits)?, limits))
    }

    /// Streams events out of a document checked earlier.
    pub fn of(document: Document<'a>, limits: Limits) -> Self {
        let Document { text: input, base } = document;
        Reader {
            input,
            base,
            pos: 0,
            raw_attributes: Vec::new(),
            limits,
            open: Vec::new(),
            bindings: Vec::new(),
            elements: 0,
            seen_root: false,
            root_closed: false,
            seen_anything: false,
            pending_end: None,
            finished: false,
        }
    }

    /// The namespace bindings in force at the current element (after its own declarations),
    /// one per prefix, default namespace as `None`. Undeclared defaults (`xmlns=""`) are omitted.
    pub fn namespaces_in_scope(&self) -> Vec<(Option<&'a str>, Cow<'a, str>)> {
        let mut scope: Vec<(Option<&'a str>, Cow<'a, str>)> = Vec::new();
        for b in &self.bindings {
            match scope.iter_mut().find(|(p, _)| *p == b.prefix) {
                Some(slot) => slot.1 = b.uri.clone(),
                None => scope.push((b.prefix, b.uri.clone())),
            }
        }
        scope.retain(|(p, uri)| p.is_some() || !uri.is_empty());
        scope
    }

    /// The next event, or `None` at the end of a complete document.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Event<'a>>, XmlError> {
        if let Some(end) = self.pending_end.take() {
            return Ok(Some(self.close(end)));
        }
        loop {
            if self.finished {
                return Ok(None);
            }
            let before = self.pos;
            let (token, after) = self.token()?;
            self.pos = after;
            if let Some(event) = self.translate(token, before, after)? {
                self.seen_anything = true;
                return Ok(Some(event));
            }
        }
    }

    /// Cuts the next token out of the input, exactly where quick-xml would: text runs up to
    /// the next `<`; a start or end tag up to the first `>` outside quotes. Those three make up
    /// nearly every token of a packet and are cut here without quick-xml's own bookkeeping;
    /// everything that starts with `<!` or `<?` (comments, CDATA sections, DTDs, processing
    /// instructions, the XML declaration) is handed to quick-xml. Returns the token and where
    /// it ends.
    fn token(&self) -> Result<(Token<'a>, usize), XmlError> {
        let before = self.pos;
        let rest = self.input.as_bytes().get(before..).unwrap_or_default();
        match rest {
            [] => Ok((Token::Eof, before)),
            [b'<', b'!' | b'?', ..] => self.markup(before),
            [b'<', tag @ ..] => {
                let close = tag_end(tag).ok_or_else(|| {
                    XmlError::malformed(
                        self.base + before,
                        quick_xml::Error::Syntax(quick_xml::errors::SyntaxError::UnclosedTag)
                            .to_string(),
                    )
                })?;
                let after = before + 1 + close + 1;
                let token = match tag.first() {
                    Some(b'/') => Token::End,
                    _ if close > 0 && tag.get(close - 1) == Some(&b'/') => Token::Empty,
                    _ => Token::Start,
                };
                Ok((token, after))
            }
            _ => {
                let len = memchr(b'<', rest).unwrap_or(rest.len());
                Ok((Token::Text, before + len))
            }
        }
    }

    /// A token starting with `<!` or `<?`, read by quick-xml from `at`.
    fn markup(&self, at: usize) -> Result<(Token<'a>, usize), XmlError> {
        let rest = self.input.as_bytes().get(at..).unwrap_or_default();
        let mut tokens = quick_xml::Reader::from_reader(rest);
        let config = tokens.config_mut();
        config.trim_text(false);
        config.check_comments = true;
        let event = tokens.read_event().map_err(|e| {
            let offset = usize::try_from(tokens.error_position()).unwrap_or(0);
            XmlError::malformed(self.base + at + offset, e.to_string())
        })?;
        let used = usize::try_from(tokens.buffer_position()).unwrap_or(usize::MAX);
        Ok((Token::Markup(event), at.saturating_add(used)))
    }

    /// Slice of the input between two positions relative to `input`.
    fn slice(&self, from: usize, to: usize) -> Result<&'a str, XmlError> {
        self.input
            .get(from..to)
            .ok_or_else(|| XmlError::malformed(self.base + from, "markup cut off"))
    }

    fn translate(
        &mut self,
        token: Token<'a>,
        before: usize,
        after: usize,
    ) -> Result<Option<Event<'a>>, XmlError> {
        let at = self.base + before;
        let event = match token {
            Token::Start => return self.start_tag(false, before, after),
            Token::Empty => return self.start_tag(true, before, after),
            Token::End => return self.end_tag(before, after),
            Token::Text => return self.text(before, after),
            Token::Eof => return self.eof(at),
            Token::Markup(event) => event,
        };
        match event {
            QxEvent::DocType(_) => Err(XmlError::DtdForbidden { offset: at }),
            QxEvent::Decl(_) => {
                if self.seen_anything || before != 0 {
                    return Err(XmlError::malformed(
                        at,
                        "an XML declaration is only allowed at the very start",
                    ));
                }
                check_declaration(self.slice(before, after)?, at)?;
                self.seen_anything = true;
                Ok(None)
            }
            // A slice that starts with `<!` or `<?` yields none of these.
            QxEvent::Start(_)
            | QxEvent::Empty(_)
            | QxEvent::End(_)
            | QxEvent::Text(_)
            | QxEvent::Eof => Err(XmlError::malformed(at, "unexpected markup")),
            QxEvent::CData(_) => {
                if self.open.is_empty() {
                    return Err(XmlError::malformed(
                        at,
                        "CDATA section outside the root element",
                    ));
                }
                let raw = self.slice(before + 9, after - 3)?;
                Ok(Some(Event::CData { offset: at, raw }))
            }
            QxEvent::Comment(_) => {
                let raw = self.slice(before + 4, after - 3)?;
                Ok(Some(Event::Comment { offset: at, raw }))
            }
            QxEvent::PI(_) => {
                let content = self.slice(before + 2, after - 2)?;
                let split = content.find(is_xml_space_char).unwrap_or(content.len());
                let (target, data) = content.split_at(split);
                if target.is_empty() || target.eq_ignore_ascii_case("xml") {
                    return Err(XmlError::malformed(
                        at,
                        "invalid processing instruction target",
                    ));
                }
                let data = data.trim_start_matches(is_xml_space_char);
                Ok(Some(Event::Pi {
                    offset: at,
                    target,
                    data,
                }))
            }
        }
    }

    /// A start tag (`empty`: written `<x/>`) between `before` and `after`.
    fn start_tag(
        &mut self,
        empty: bool,
        before: usize,
        after: usize,
    ) -> Result<Option<Event<'a>>, XmlError> {
        let at = self.base + before;
        let inner_end = if empty { after - 2 } else { after - 1 };
        let tag = self.slice(before + 1, inner_end)?;
        let end_offset = empty.then_some(self.base + after);
        self.open_element(tag, at, end_offset)
    }

    fn end_tag(&mut self, before: usize, after: usize) -> Result<Option<Event<'a>>, XmlError> {
        let at = self.base + before;
        let qname = self
            .slice(before + 2, after - 1)?
            .trim_end_matches(is_xml_space_char);
        let (open_name, start_offset) = self.open.last().copied().ok_or_else(|| {
            XmlError::malformed(at, format!("end tag </{qname}> without a start tag"))
        })?;
        if open_name != qname {
            return Err(XmlError::malformed(
                at,
                format!("end tag </{qname}> does not match <{open_name}>"),
            ));
        }
        let end = EndTag {
            start_offset,
            end_offset: self.base + after,
            depth: self.open.len(),
            qname,
        };
        Ok(Some(self.close(end)))
    }

    /// Character data; `None` for whitespace outside the root element, which is dropped.
    fn text(&mut self, before: usize, after: usize) -> Result<Option<Event<'a>>, XmlError> {
        let at = self.base + before;
        let raw = self.slice(before, after)?;
        if self.open.is_empty() {
            if !raw.bytes().all(is_xml_space) {
                let what = if self.root_closed {
                    "text after the root element"
                } else {
                    "text before the root element"
                };
                return Err(XmlError::malformed(at, what));
            }
            return Ok(None);
        }
        check_text(raw, at)?;
        Ok(Some(Event::Text(Text { offset: at, raw })))
    }

    /// The end of the input: fine only after a complete root element.
    fn eof(&mut self, at: usize) -> Result<Option<Event<'a>>, XmlError> {
        if let Some((name, offset)) = self.open.last() {
            return Err(XmlError::malformed(
                self.base + self.input.len(),
                format!(
                    "the document ends before element <{name}> (opened at byte {}) is closed: truncated input",
                    offset
                ),
            ));
        }
        if !self.seen_root {
            return Err(XmlError::malformed(at, "the document has no root element"));
        }
        self.finished = true;
        Ok(None)
    }

    fn close(&mut self, end: EndTag<'a>) -> Event<'a> {
        self.open.pop();
        let depth = end.depth;
        while self.bindings.last().is_some_and(|b| b.depth >= depth) {
            self.bindings.pop();
        }
        if self.open.is_empty() {
            self.root_closed = true;
        }
        Event::End(end)
    }

    /// The start tag `tag` at `at` as a [`Event::Start`]; `empty_end` is where an empty-element
    /// tag ends, for the end event that follows it. The event is built where it is returned:
    /// events are large, and every move of one is a copy.
    fn open_element(
        &mut self,
        tag: &'a str,
        at: usize,
        empty_end: Option<usize>,
    ) -> Result<Option<Event<'a>>, XmlError> {
        if self.root_closed {
            return Err(XmlError::malformed(at, "a second root element"));
        }
        self.seen_root = true;
        let depth = self.open.len() + 1;
        if depth > self.limits.max_depth {
            return Err(XmlError::TooLarge {
                what: "the element nesting depth",
                actual: depth,
                limit: self.limits.max_depth,
            });
        }
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(XmlError::TooLarge {
                what: "the number of elements",
                actual: self.elements,
                limit: self.limits.max_elements,
            });
        }
        let name_end = tag.bytes().position(is_xml_space).unwrap_or(tag.len());
        let (qname, rest) = tag.split_at(name_end);
        let (prefix, local) = self.qualified_name(qname, at)?;
        // The raw (name, value) pairs go to a buffer kept across elements.
        let mut raw_attributes = std::mem::take(&mut self.raw_attributes);
        let parsed = parse_attributes(rest, at, self.limits, &mut raw_attributes)
            .and_then(|()| self.attributes_and_declarations(&raw_attributes, at));
        self.raw_attributes = raw_attributes;
        let (mut attributes, namespace_decls) = parsed?;
        for decl in &namespace_decls {
            if decl.prefix.is_none() && (decl.uri == XML_NAMESPACE || decl.uri == XMLNS_NAMESPACE) {
                return Err(XmlError::malformed(
                    at,
                    "the default namespace may not be the xml or xmlns namespace",
                ));
            }
            self.bindings.push(Binding {
                prefix: decl.prefix,
                uri: decl.uri.clone(),
                depth,
            });
        }
        self.open.push((qname, at));

        let namespace = self.resolve(prefix, true, at)?;
        for i in 0..attributes.len() {
            let Some((done, rest)) = attributes.split_at_mut_checked(i) else {
                break;
            };
            let Some(attribute) = rest.first_mut() else {
                break;
            };
            attribute.namespace = self.resolve(attribute.prefix, false, at)?;
            if done
                .iter()
                .any(|a| a.local == attribute.local && a.namespace == attribute.namespace)
            {
                return Err(XmlError::malformed(
                    at,
                    format!(
                        "attribute {} is given twice (after namespace resolution)",
                        attribute.qname
                    ),
                ));
            }
        }
        if let Some(end_offset) = empty_end {
            self.pending_end = Some(EndTag {
                start_offset: at,
                end_offset,
                depth,
                qname,
            });
        }
        Ok(Some(Event::Start(Element {
            offset: at,
            depth,
            qname,
            prefix,
            local,
            namespace,
            namespace_decls,
            attributes,
            empty: empty_end.is_some(),
        })))
    }

    /// Checks each raw attribute (name, value) in document order and sorts it into the
    /// ordinary attributes (namespace not yet resolved) and the namespace declarations.
    #[allow(clippy::type_complexity)]
    fn attributes_and_declarations(
        &self,
        raw_attributes: &[(&'a str, &'a str)],
        at: usize,
    ) -> Result<(Vec<Attribute<'a>>, Vec<NamespaceDecl<'a>>), XmlError> {
        let mut namespace_decls = Vec::new();
        let mut plain = Vec::with_capacity(raw_attributes.len());
        for &(name, raw_value) in raw_attributes {
            let (attribute_prefix, attribute_local) = self.qualified_name(name, at)?;
            let value = decode_attribute(raw_value, at)?;
            if name == "xmlns" {
                namespace_decls.push(NamespaceDecl {
                    prefix: None,
                    uri: value,
                });
            } else if let Some(prefix) = name.strip_prefix("xmlns:") {
                if prefix.is_empty() || prefix.contains(':') {
                    return Err(XmlError::malformed(
                        at,
                        format!("{name} does not declare a valid prefix"),
                    ));
                }
                check_prefix_binding(prefix, &value, at)?;
                namespace_decls.push(NamespaceDecl {
                    prefix: Some(prefix),
                    uri: value,
                });
            } else {
                plain.push(Attribute {
                    qname: name,
                    prefix: attribute_prefix,
                    local: attribute_local,
                    namespace: None,
                    value,
                });
            }
        }
        Ok((plain, namespace_decls))
    }

    /// Checks a name (length, XML Name characters, at most one colon with text on both
    /// sides) and splits it into prefix and local part, in one pass over its bytes.
    fn qualified_name(
        &self,
        name: &'a str,
        at: usize,
    ) -> Result<(Option<&'a str>, &'a str), XmlError> {
        if name.len() > self.limits.max_name_len {
            return Err(XmlError::TooLarge {
                what: "a name's length in bytes",
                actual: name.len(),
                limit: self.limits.max_name_len,
            });
        }
        if let Some(split) = ascii_qname(name) {
            return Ok(split);
        }
        if !is_xml_name(name) {
            return Err(XmlError::malformed(
                at,
                format!("\"{name}\" is not a valid XML name"),
            ));
        }
        split_qname(name, at)
    }

    /// Namespace for a prefix; unprefixed attributes are in no namespace, unprefixed elements
    /// in the default namespace.
    fn resolve(
        &self,
        prefix: Option<&str>,
        is_element: bool,
        at: usize,
    ) -> Result<Option<Cow<'a, str>>, XmlError> {
        match prefix {
            None if !is_element => Ok(None),
            None => Ok(self
                .bindings
                .iter()
                .rev()
                .find(|b| b.prefix.is_none())
                .filter(|b| !b.uri.is_empty())
                .map(|b| b.uri.clone())),
            Some("xml") => Ok(Some(Cow::Borrowed(XML_NAMESPACE))),
            Some("xmlns") => Err(XmlError::malformed(
                at,
                "the xmlns prefix may not be used on names",
            )),
            Some(p) => self
                .bindings
                .iter()
                .rev()
                .find(|b| b.prefix == Some(p))
                .map(|b| Some(b.uri.clone()))
                .ok_or_else(|| {
                    XmlError::malformed(at, format!("namespace prefix \"{p}\" is not declared"))
                }),
        }
    }
}

fn check_declaration(decl: &str, at: usize) -> Result<(), XmlError> {
    // decl is `<?xml … ?>`; find encoding="…" if any.
    let inner = decl.trim_start_matches("<?xml").trim_end_matches("?>");
    let mut pseudo_attributes = Vec::new();
    parse_attributes(inner, at, Limits::default(), &mut pseudo_attributes)?;
    for (name, value) in pseudo_attributes {
        match name {
            "version" if value != "1.0" => {
                return Err(XmlError::malformed(
                    at,
                    format!("XML version {value} is not supported; use 1.0"),
                ))
            }
            "encoding" if !value.eq_ignore_ascii_case("utf-8") => {
                return Err(XmlError::UnsupportedEncoding {
                    encoding: value.to_string(),
                })
            }
            "version" | "encoding" | "standalone" => {}
            other => {
                return Err(XmlError::malformed(
                    at,
                    format!("unknown pseudo-attribute {other} in the XML declaration"),
                ))
            }
        }
    }
    Ok(())
}

fn check_prefix_binding(prefix: &str, uri: &str, at: usize) -> Result<(), XmlError> {
    if uri.is_empty() {
        return Err(XmlError::malformed(
            at,
            format!("prefix \"{prefix}\" may not be bound to the empty namespace"),
        ));
    }
    let reserved = match prefix {
        "xml" => uri != XML_NAMESPACE,
        "xmlns" => true,
        _ => uri == XML_NAMESPACE || uri == XMLNS_NAMESPACE,
    };
    if reserved {
        return Err(XmlError::malformed(
            at,
            format!("prefix \"{prefix}\" may not be bound to \"{uri}\""),
        ));
    }
    Ok(())
}

/// Bytes allowed in an ASCII name besides the colon: letters, digits, `_`, `-`, `.`.
const ASCII_NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.';
        b += 1;
    }
    table
};

/// The common case of [`Reader::qualified_name`] in one pass over the bytes: an ASCII name
/// that passes both [`is_xml_name`] and [`split_qname`], split into prefix and local part.
/// `None` for anything else, which the full checks then examine (and report).
fn ascii_qname(name: &str) -> Option<(Option<&str>, &str)> {
    let bytes = name.as_bytes();
    let first = *bytes.first()?;
    if first.is_ascii_digit() || matches!(first, b'-' | b'.' | b':') {
        return None;
    }
    let mut colon = None;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b':' {
            if colon.replace(i).is_some() {
                return None;
            }
        } else if !ASCII_NAME_BYTE[usize::from(b)] {
            return None;
        }
    }
    match colon {
        None => Some((None, name)),
        Some(i) if i + 1 < bytes.len() => Some((name.get(..i), name.get(i + 1..)?)),
        Some(_) => None,
    }
}

fn split_qname(qname: &str, at: usize) -> Result<(Option<&str>, &str), XmlError> {
    let bytes = qname.as_bytes();
    match bytes.iter().position(|&b| b == b':') {
        None => Ok((None, qname)),
        Some(i) if i > 0 && i + 1 < bytes.len() && !bytes[i + 1..].contains(&b':') => {
            Ok((Some(&qname[..i]), &qname[i + 1..]))
        }
        Some(_) => Err(XmlError::malformed(
            at,
            format!("\"{qname}\" is not a valid qualified name"),
        )),
    }
}

/// Splits the attribute part of a start tag into (name, raw value) pairs, into `out`.
fn parse_attributes<'t>(
    mut rest: &'t str,
    at: usize,
    limits: Limits,
    out: &mut Vec<(&'t str, &'t str)>,
) -> Result<(), XmlError> {
    out.clear();
    loop {
        let trimmed = rest.trim_start_matches(is_xml_space_char);
        if trimmed.is_empty() {
            return Ok(());
        }
        if trimmed.len() == rest.len() {
            return Err(XmlError::malformed(
                at,
                "attributes must be separated by whitespace",
            ));
        }
        let eq = trimmed
            .find('=')
            .ok_or_else(|| XmlError::malformed(at, "attribute without a value"))?;
        let name = trimmed[..eq].trim_end_matches(is_xml_space_char);
        let after_eq = trimmed[eq + 1..].trim_start_matches(is_xml_space_char);
        let quote = after_eq
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
            .ok_or_else(|| {
                XmlError::malformed(at, format!("the value of attribute {name} is not quoted"))
            })?;
        let body = &after_eq[1..];
        let close = body.find(quote).ok_or_else(|| {
            XmlError::malformed(at, format!("the value of attribute {name} is not closed"))
        })?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(XmlError::malformed(
                at,
                format!("attribute {name} is given twice"),
            ));
        }
        if out.len() + 1 > limits.max_attributes {
            return Err(XmlError::TooLarge {
                what: "the number of attributes on one element",
                actual: out.len() + 1,
                limit: limits.max_attributes,
            });
        }
        out.push((name, &body[..close]));
        rest = &body[close + 1..];
    }
}

/// Attribute-value normalization (XML 1.0 §3.3.3) for CDATA-typed attributes: line ends are
/// normalized, each literal whitespace character becomes a space, references are replaced
/// (a character reference to whitespace keeps that character).
pub fn decode_attribute(raw: &str, at: usize) -> Result<Cow<'_, str>, XmlError> {
    if memchr(b'<', raw.as_bytes()).is_some() {
        return Err(XmlError::malformed(
            at,
            "'<' is not allowed in an attribute value",
        ));
    }
    let needs_work = raw
        .bytes()
        .any(|b| matches!(b, b'&' | b'\t' | b'\n' | b'\r'));
    if !needs_work {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '\t', '\n', '\r']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        match tail.as_bytes()[0] {
            b'&' => {
                let (c, used) = decode_reference(tail, at)?;
                out.push(c);
                rest = &tail[used..];
            }
            b'\r' => {
                out.push(' ');
                rest = tail.strip_prefix("\r\n").unwrap_or(&tail[1..]);
            }
            _ => {
                out.push(' ');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// Checks the references in character data without decoding it, and refuses `]]>`. One pass
/// for both; when both problems occur, the `]]>` is reported, wherever it is.
fn check_text(raw: &str, at: usize) -> Result<(), XmlError> {
    let bytes = raw.as_bytes();
    // Indentation between tags, the most common text of all, needs no search.
    if bytes.iter().all(|&b| is_xml_space(b)) {
        return Ok(());
    }
    // memchr for '>' rather than memmem for "]]>": no searcher to build per text node.
    let mut from = 0;
    while let Some(i) = memchr2(b'>', b'&', bytes.get(from..).unwrap_or_default()) {
        let found = from + i;
        if bytes.get(found) == Some(&b'>') {
            cdata_end(bytes, found, at)?;
            from = found + 1;
            continue;
        }
        match decode_reference(raw.get(found..).unwrap_or_default(), at + found) {
            Ok((_, used)) => from = found + used,
            Err(bad_reference) => {
                for gt in memchr::memchr_iter(b'>', bytes) {
                    cdata_end(bytes, gt, at)?;
                }
                return Err(bad_reference);
            }
        }
    }
    Ok(())
}

/// Refuses the `>` at `gt` in character data if it ends a `]]>`.
fn cdata_end(bytes: &[u8], gt: usize, at: usize) -> Result<(), XmlError> {
    if gt >= 2 && bytes.get(gt - 2..gt) == Some(b"]]") {
        return Err(XmlError::malformed(
            at + gt - 2,
            "\"]]>\" is not allowed in character data",
        ));
    }
    Ok(())
}

/// Character data as the data model sees it (line ends normalized, references replaced).
pub fn decode_text(raw: &str, at: usize) -> Result<Cow<'_, str>, XmlError> {
    if memchr2(b'&', b'\r', raw.as_bytes()).is_none() {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = memchr2(b'&', b'\r', rest.as_bytes()) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.as_bytes()[0] == b'&' {
            let (c, used) = decode_reference(tail, at)?;
            out.push(c);
            rest = &tail[used..];
        } else {
            out.push('\n');
            rest = tail.strip_prefix("\r\n").unwrap_or(&tail[1..]);
        }
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// `\r\n` and lone `\r` become `\n` (XML 1.0 §2.11), for comments, PIs and CDATA sections.
pub fn normalize_line_ends(raw: &str) -> Cow<'_, str> {
    if memchr(b'\r', raw.as_bytes()).is_none() {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
}

/// Decodes one reference at the start of `s` (which begins with `&`): returns the character
/// and the number of bytes the reference took. Only the predefined entities exist here.
fn decode_reference(s: &str, at: usize) -> Result<(char, usize), XmlError> {
    let semi = memchr3(b';', b'<', b'&', &s.as_bytes()[1..])
        .filter(|i| s.as_bytes()[1 + i] == b';' && *i <= 12)
        .ok_or_else(|| {
            XmlError::malformed(at, "'&' that does not start a reference (write &amp;)")
        })?;
    let name = &s[1..1 + semi];
    let used = semi + 2;
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let code = if let Some(hex) = name.strip_prefix("#x") {
                u32::from_str_radix(hex, 16)
                    .ok()
                    .filter(|_| !hex.is_empty() && !hex.starts_with(['+', '-']))
            } else if let Some(dec) = name.strip_prefix('#') {
                dec.parse::<u32>()
                    .ok()
                    .filter(|_| dec.bytes().all(|b| b.is_ascii_digit()))
            } else {
                return Err(XmlError::malformed(
                    at,
                    format!("undefined entity &{name}; (only &lt; &gt; &amp; &apos; &quot; exist without a DTD)"),
                ));
            };
            code.and_then(char::from_u32)
                .filter(|c| is_xml_char(*c))
                .ok_or_else(|| {
                    XmlError::malformed(at, format!("&{name}; is not a valid XML character"))
                })?
        }
    };
    Ok((c, used))
}

/// The first character XML 1.0 forbids outright: a C0 control other than tab, LF and CR, or
/// U+FFFE/U+FFFF (`EF BF BE`/`EF BF BF`). Scanned in blocks so the compiler vectorizes it.
fn first_forbidden_character(bytes: &[u8]) -> Option<(usize, String)> {
    let control = |b: u8| b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r';
    let mut offset = 0;
    for block in bytes.chunks(256) {
        if block.iter().fold(false, |acc, &b| acc | control(b)) {
            if let Some(i) = block.iter().position(|&b| control(b)) {
                return Some((offset + i, format!("control character U+{:04X}", block[i])));
            }
        }
        offset += block.len();
    }
    // 0xEF starts only U+F000..U+FFFF, rare in Vietnamese text: a byte search beats building
    // a substring searcher for every (small) packet.
    memchr::memchr_iter(0xEF, bytes)
        .find(|&i| bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)))
        .map(|i| (i, "the non-character U+FFFE or U+FFFF".to_owned()))
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_xml_space_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// A permissive check of the XML Name production: no markup or whitespace characters,
/// not starting with a digit, '-', '.' or ':' .
fn is_xml_name(name: &str) -> bool {
    let Some(first) = name.chars().next() else {
        return false;
    };
    if name.is_ascii() {
        // The common case, checked byte by byte without char decoding.
        return !first.is_ascii_digit()
            && !matches!(first, '-' | '.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    }
    if first.is_ascii_digit() || matches!(first, '-' | '.') {
        return false;
    }
    name.chars().all(|c| {
        !matches!(
            c,
            ' ' | '\t'
                | '\n'
                | '\r'
                | '<'
                | '>'
                | '&'
                | '"'
                | '\''
                | '='
                | '/'
                | '!'
                | '?'
                | ';'
                | ','
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '\\'
                | '`'
                | '|'
                | '^'
                | '*'
                | '+'
                | '$'
                | '%'
                | '#'
                | '@'
                | '~'
        ) && !c.is_control()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(doc: &str) -> Result<Vec<Event<'_>>, XmlError> {
        let mut r = Reader::new(doc.as_bytes(), Limits::default())?;
        let mut out = Vec::new();
        while let Some(e) = r.next()? {
            out.push(e);
        }
        Ok(out)
    }

    fn code(doc: &str) -> &'static str {
        match events(doc) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn resolves_namespaces_and_offsets() {
        let doc = r#"<?xml version="1.0" encoding="utf-8"?>
<edXML:edXML xmlns:edXML="urn:e" xmlns="urn:d"><a x="1" edXML:y="2"/><edXML:b>t</edXML:b></edXML:edXML>"#;
        let ev = events(doc).unwrap();
        let Event::Start(root) = &ev[0] else { panic!() };
        assert_eq!(root.offset, doc.find("<edXML:edXML").unwrap());
        assert!(root.is("urn:e", "edXML"));
        assert_eq!(root.namespace_decls.len(), 2);
        let Event::Start(a) = &ev[1] else { panic!() };
        assert!(a.is("urn:d", "a") && a.empty);
        assert_eq!(a.attributes[0].namespace, None);
        assert_eq!(a.attributes[1].namespace.as_deref(), Some("urn:e"));
        let Event::End(end) = &ev[2] else { panic!() };
        assert_eq!(end.start_offset, a.offset);
        assert_eq!(&doc[a.offset..end.end_offset], r#"<a x="1" edXML:y="2"/>"#);
    }

    #[test]
    fn decodes_text_and_attributes_per_xml_rules() {
        let doc = "<r a=\"x\r\n\ty&#9;&amp;\">a&lt;b&#x20AC;\r\nc</r>";
        let ev = events(doc).unwrap();
        let Event::Start(r) = &ev[0] else { panic!() };
        assert_eq!(r.attribute("a"), Some("x  y\t&"));
        let Event::Text(t) = &ev[1] else { panic!() };
        assert_eq!(t.value(), "a<b€\nc");
    }

    #[test]
    fn refuses_hostile_and_broken_input() {
        assert_eq!(
            code("<!DOCTYPE r [<!ENTITY a \"b\">]><r>&a;</r>"),
            "xml.dtd_forbidden"
        );
        assert_eq!(code("<r>&a;</r>"), "edxml.malformed");
        assert_eq!(code("<r>a & b</r>"), "edxml.malformed");
        assert_eq!(code("<r>&#0;</r>"), "edxml.malformed");
        assert_eq!(code("<r/><r/>"), "edxml.malformed");
        assert_eq!(code("<r><a></r>"), "edxml.malformed");
        assert_eq!(code("<r><a>"), "edxml.malformed");
        assert_eq!(code("<r>"), "edxml.malformed");
        assert_eq!(code(""), "edxml.malformed");
        assert_eq!(code("text<r/>"), "edxml.malformed");
        assert_eq!(code("<r/>text"), "edxml.malformed");
        assert_eq!(code("<p:r/>"), "edxml.malformed");
        assert_eq!(code("<r a='1' a='2'/>"), "edxml.malformed");
        assert_eq!(
            code("<r xmlns:p='u' xmlns:q='u' p:a='1' q:a='2'/>"),
            "edxml.malformed"
        );
        assert_eq!(code("<r a='<'/>"), "edxml.malformed");
        assert_eq!(
            code("<?xml version='1.0' encoding='ISO-8859-1'?><r/>"),
            "edxml.malformed"
        );
        assert_eq!(code("<r/>\n<?xml version='1.0'?>"), "edxml.malformed");
        assert_eq!(code("<r><!-- a -- b --></r>"), "edxml.malformed");
        assert_eq!(code("<r/>  <!-- ok --> <?pi ok?>\n"), "ok");
        assert_eq!(code("<r>a\u{1}b</r>"), "edxml.malformed");
        assert_eq!(code("<r a='\u{8}'/>"), "edxml.malformed");
        assert_eq!(code("<r>\0</r>"), "edxml.malformed");
        assert_eq!(code("<r>\t\r\n</r>"), "ok");
        assert_eq!(code("<r>a]]>b</r>"), "edxml.malformed");
        assert_eq!(code("<r xmlns:='u'/>"), "edxml.malformed");
        assert_eq!(code("<r xmlns:a:b='u'/>"), "edxml.malformed");
        assert_eq!(code("<r>\u{FFFE}</r>"), "edxml.malformed");
        assert_eq!(code("<r>\u{FFFF}</r>"), "edxml.malformed");
        assert_eq!(code("<r>\u{FFFD} Ủy ban</r>"), "ok");
    }

    #[test]
    fn refuses_invalid_utf8_and_utf16() {
        let mut bad = b"<r>".to_vec();
        bad.extend_from_slice(&[0xC3, 0x28]);
        bad.extend_from_slice(b"</r>");
        let err = Reader::new(&bad, Limits::default()).err().unwrap();
        assert_eq!(err, XmlError::InvalidUtf8 { offset: 3 });
        assert!(Reader::new(&[0xFF, 0xFE, b'<', 0], Limits::default()).is_err());
    }

    #[test]
    fn accepts_utf8_bom_and_keeps_offsets_absolute() {
        let doc = b"\xEF\xBB\xBF<r/>";
        let mut r = Reader::new(doc, Limits::default()).unwrap();
        let Some(Event::Start(e)) = r.next().unwrap() else {
            panic!()
        };
        assert_eq!(e.offset, 3);
    }

    #[test]
    fn enforces_limits() {
        let limits = Limits {
            max_depth: 3,
            max_attributes: 2,
            max_bytes: 100,
            ..Limits::default()
        };
        let run = |doc: &str| -> Result<(), XmlError> {
            let mut r = Reader::new(doc.as_bytes(), limits)?;
            while r.next()?.is_some() {}
            Ok(())
        };
        assert_eq!(
            run("<a><b><c><d/></c></b></a>").unwrap_err().code(),
            "limits.too_large"
        );
        assert_eq!(
            run("<a x='1' y='2' z='3'/>").unwrap_err().code(),
            "limits.too_large"
        );
        assert_eq!(
            run(&"<a/>".repeat(30)).unwrap_err().code(),
            "limits.too_large"
        );
        assert!(run("<a><b><c/></b></a>").is_ok());
    }

    #[test]
    fn the_ascii_fast_path_agrees_with_the_full_name_checks() {
        let names = [
            "a",
            "edXML:From",
            "ds:Signature",
            "_x",
            "a-b.c",
            "a1",
            "1a",
            "-a",
            ".a",
            ":a",
            "a:",
            "a:b:c",
            "a::b",
            "a b",
            "a>b",
            "xmlns:p",
            "p:1",
            "p:-x",
            "Ủy",
            "p:Ủy",
            "",
            "a=b",
        ];
        for name in names {
            let full = is_xml_name(name)
                .then(|| split_qname(name, 0).ok())
                .flatten();
            match ascii_qname(name) {
                Some(split) => assert_eq!(Some(split), full, "{name}"),
                // Left to the full checks: either refused there or not ASCII.
                None => assert!(full.is_none() || !name.is_ascii(), "{name}"),
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn the_ascii_fast_path_never_accepts_what_the_full_checks_refuse(name in "[a-z0-9:._<> -]{0,8}") {
            if let Some(split) = ascii_qname(&name) {
                proptest::prop_assert!(is_xml_name(&name));
                proptest::prop_assert_eq!(Some(split), split_qname(&name, 0).ok());
            } else if name.is_ascii() {
                proptest::prop_assert!(!is_xml_name(&name) || split_qname(&name, 0).is_err());
            }
        }
    }

    #[test]
    fn tags_end_at_the_first_unquoted_gt() {
        let pad = "x".repeat(100);
        for lead in ["", pad.as_str()] {
            let tag = format!("a{lead} b='>' c=\"'>\">rest>");
            let end = tag_end(tag.as_bytes()).unwrap();
            assert_eq!(&tag[end..], ">rest>");
            assert_eq!(tag_end(format!("a{lead} b='>").as_bytes()), None);
        }
        let long_text = format!("<r>{pad}]]>{pad}</r>");
        assert_eq!(code(&long_text), "edxml.malformed");
        let long_ref = format!("<r>{pad}&bogus;</r>");
        assert_eq!(code(&long_ref), "edxml.malformed");
        assert_eq!(code(&format!("<r a='{pad}>'>{pad}&amp;</r>")), "ok");
    }

    #[test]
    fn text_problems_are_reported_cdata_end_first() {
        let offset_of = |doc: &str| match events(doc) {
            Err(XmlError::Malformed { offset, reason }) => (offset, reason),
            other => panic!("{other:?}"),
        };
        let (at, reason) = offset_of("<r>a&bogus;b]]>c</r>");
        assert_eq!(at, 12);
        assert!(reason.contains("]]>"), "{reason}");
        let (at, reason) = offset_of("<r>a&amp;b]]>c&bogus;</r>");
        assert_eq!(at, 10);
        assert!(reason.contains("]]>"), "{reason}");
        let (at, reason) = offset_of("<r>a&gt;b>c&bogus;</r>");
        assert_eq!(at, 11);
        assert!(reason.contains("undefined entity"), "{reason}");
        assert_eq!(code("<r>]]&gt; ]> ]]</r>"), "ok");
    }

    #[test]
    fn reports_scope_for_subtree_canonicalization() {
        let doc = "<a xmlns='urn:d' xmlns:p='urn:p'><b xmlns=''><c/></b></a>";
        let mut r = Reader::new(doc.as_bytes(), Limits::default()).unwrap();
        r.next().unwrap();
        r.next().unwrap();
        let scope = r.namespaces_in_scope();
        assert_eq!(scope, vec![(Some("p"), Cow::Borrowed("urn:p"))]);
    }
}
