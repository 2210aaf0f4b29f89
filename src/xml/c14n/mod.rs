//! Canonical XML: C14N 1.0 and exclusive C14N 1.0, with or without comments, streamed from
//! the hardened [`Reader`] into any [`Write`] (in practice a digest), byte-exact with libxml2.
//!
//! ```
//! use lienthong::xml::c14n::{canonicalize, Canonicalization, Method, Subset};
//! use lienthong::xml::reader::Limits;
//!
//! let doc = br#"<?xml version="1.0"?><a xmlns:p="urn:p" b='1' a="&#x20AC;"><p:c/></a>"#;
//! let c14n = Canonicalization { method: Method::Inclusive, with_comments: false };
//! let mut out = Vec::new();
//! canonicalize(doc, &c14n, Subset::Document, Limits::default(), &mut out).unwrap();
//! assert_eq!(out, r#"<a xmlns:p="urn:p" a="€" b="1"><p:c></p:c></a>"#.as_bytes());
//! ```
//!
//! What is output is chosen by [`Subset`], which covers exactly the node-sets XML-DSig needs
//! (the whole document, the enveloped-signature transform, one element's subtree such as
//! `SignedInfo`), so no XPath engine is involved.
//!
//! Notes for callers:
//! - An XML-DSig `Reference` with `URI=""` selects the document *without comments*, even when
//!   its canonicalization algorithm is a `#WithComments` one (XML-DSig §4.3.3.3): pass
//!   `with_comments: false` in that case.
//! - Canonical bytes are written as they are produced. When an error is returned, what was
//!   written is incomplete and must be discarded (a digest over it means nothing).
//! - For [`Subset::Only`], reading stops at the end of the chosen element, so the rest of the
//!   document is not checked for well-formedness.
//!
//! Deliberate differences from libxml2 (xmlsec1), where it departs from the recommendation
//! (we follow the recommendation, as Java's Santuario and .NET do); neither occurs in real
//! edXML packets, whose namespace URIs are plain and whose root is never the Signature:
//! - a namespace URI is escaped like any attribute value (`&amp;`, `&quot;`, `&#x9;`, …, per
//!   C14N §2.3); libxml2 writes it as parsed, so `xmlns:p="urn:a&amp;b"` comes out unescaped
//!   (and not well-formed) there;
//! - in the degenerate [`Subset::Without`] of the root element itself, comments and PIs after
//!   the root get their line break *before* them (C14N §2.1: they follow the document
//!   element); libxml2 puts it after them, judging position by the last element it output.

mod escape;
mod namespaces;

use std::borrow::Cow;
use std::io::{self, BufWriter, Write};

use crate::xml::events::{Events, Walk};
use crate::xml::reader::{
    Attribute, Document, Element, Event, Limits, Reader, XmlError, XML_NAMESPACE,
};
use namespaces::{must_render, Binding, Bindings};

/// Canonical XML 1.0 (omits comments).
pub const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
/// Canonical XML 1.0 with comments.
pub const C14N_WITH_COMMENTS: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
/// Exclusive XML Canonicalization 1.0 (omits comments).
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Exclusive XML Canonicalization 1.0 with comments.
pub const EXC_C14N_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";

/// Writing buffer between the canonicalizer and the caller's writer: many small pieces (tags,
/// attributes) are gathered into one write, while large text is passed through unbuffered.
/// Kept under glibc's 64 KiB threshold, above which every free of the buffer consolidates the
/// heap (a measurable cost per small packet).
const OUTPUT_BUFFER: usize = 16 * 1024;

/// Which canonicalization algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// Canonical XML 1.0: every namespace in scope is rendered, `xml:*` attributes are inherited
    /// by the apex of a subtree.
    Inclusive,
    /// Exclusive XML Canonicalization 1.0: only visibly utilized namespaces are rendered, plus
    /// those whose prefixes are listed (the `InclusiveNamespaces PrefixList`; `#default` stands
    /// for the default namespace), which follow the inclusive rules.
    Exclusive { inclusive_prefixes: Vec<String> },
}

/// An algorithm and whether comments are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonicalization {
    pub method: Method,
    pub with_comments: bool,
}

impl Canonicalization {
    /// From an XML-DSig algorithm URI:
    /// `http://www.w3.org/TR/2001/REC-xml-c14n-20010315(#WithComments)` or
    /// `http://www.w3.org/2001/10/xml-exc-c14n#(WithComments)`. `None` for anything else.
    /// `inclusive_prefixes` (see [`parse_prefix_list`]) only applies to exclusive C14N and is
    /// ignored for inclusive C14N, which has no such parameter.
    pub fn from_uri(uri: &str, inclusive_prefixes: Vec<String>) -> Option<Self> {
        let (method, with_comments) = match uri {
            C14N => (Method::Inclusive, false),
            C14N_WITH_COMMENTS => (Method::Inclusive, true),
            EXC_C14N => (Method::Exclusive { inclusive_prefixes }, false),
            EXC_C14N_WITH_COMMENTS => (Method::Exclusive { inclusive_prefixes }, true),
            _ => return None,
        };
        Some(Canonicalization {
            method,
            with_comments,
        })
    }

    /// The XML-DSig algorithm URI of this canonicalization.
    pub fn uri(&self) -> &'static str {
        match (&self.method, self.with_comments) {
            (Method::Inclusive, false) => C14N,
            (Method::Inclusive, true) => C14N_WITH_COMMENTS,
            (Method::Exclusive { .. }, false) => EXC_C14N,
            (Method::Exclusive { .. }, true) => EXC_C14N_WITH_COMMENTS,
        }
    }
}

/// Splits the value of an `InclusiveNamespaces/@PrefixList` attribute (whitespace-separated
/// prefixes, `#default` for the default namespace) into the list [`Method::Exclusive`] takes.
pub fn parse_prefix_list(list: &str) -> Vec<String> {
    list.split([' ', '\t', '\n', '\r'])
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Which part of the document is output. Elements are named by [`Element::offset`], the byte
/// offset of their `<` in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subset {
    /// The whole document (comments and PIs outside the root included, per C14N §2.1).
    Document,
    /// The whole document minus the element at this offset and its descendants: the
    /// enveloped-signature transform. Text around the removed element stays.
    Without(usize),
    /// The subtree rooted at the element at this offset, as a document subset (how XML-DSig
    /// canonicalizes `SignedInfo`): namespaces in scope from ancestors are rendered on it (all of
    /// them for inclusive C14N, the utilized ones for exclusive), and for inclusive C14N it
    /// inherits the `xml:*` attributes of its ancestors (C14N §2.4).
    Only(usize),
}

/// Why a document could not be canonicalized.
#[derive(Debug, thiserror::Error)]
pub enum C14nError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("writing the canonical form failed: {0}")]
    Io(#[source] io::Error),
    #[error("no element starts at byte {0} of the document, so the part to canonicalize does not exist; name an element by the offset of its '<'")]
    ElementNotFound(usize),
}

impl C14nError {
    /// Stable error code, listed in docs/ERRORS.md.
    pub fn code(&self) -> &'static str {
        match self {
            C14nError::Xml(e) => e.code(),
            C14nError::Io(_) => "c14n.write_failed",
            C14nError::ElementNotFound(_) => "c14n.element_not_found",
        }
    }
}

impl From<io::Error> for C14nError {
    fn from(e: io::Error) -> Self {
        C14nError::Io(e)
    }
}

/// Canonicalizes `subset` of the document `input` into `out`, streaming.
pub fn canonicalize<W: Write>(
    input: &[u8],
    c14n: &Canonicalization,
    subset: Subset,
    limits: Limits,
    out: &mut W,
) -> Result<(), C14nError> {
    canonicalize_document(Document::check(input, limits)?, c14n, subset, limits, out)
}

/// [`canonicalize`] for a document already checked (see [`Document`]).
pub fn canonicalize_document<W: Write>(
    document: Document<'_>,
    c14n: &Canonicalization,
    subset: Subset,
    limits: Limits,
    out: &mut W,
) -> Result<(), C14nError> {
    let mut reader = Reader::of(document, limits);
    let mut canonicalizer =
        Canonicalizer::new(c14n, subset, BufWriter::with_capacity(OUTPUT_BUFFER, out));
    while let Some(event) = reader.next()? {
        if let Walk::Stop = canonicalizer.event(&event)? {
            break;
        }
    }
    canonicalizer.finish()
}

/// [`canonicalize`] for a document read earlier (see [`Events`]): no re-reading when its
/// events were kept.
pub fn canonicalize_events<W: Write>(
    events: &Events<'_>,
    c14n: &Canonicalization,
    subset: Subset,
    out: &mut W,
) -> Result<(), C14nError> {
    let mut canonicalizer =
        Canonicalizer::new(c14n, subset, BufWriter::with_capacity(OUTPUT_BUFFER, out));
    events.walk(|event| canonicalizer.event(event))?;
    canonicalizer.finish()
}

/// [`canonicalize`] into a new buffer.
pub fn canonicalize_to_vec(
    input: &[u8],
    c14n: &Canonicalization,
    subset: Subset,
    limits: Limits,
) -> Result<Vec<u8>, C14nError> {
    let mut out = Vec::new();
    canonicalize(input, c14n, subset, limits, &mut out)?;
    Ok(out)
}

/// Where the reader stands relative to the subset being output.
#[derive(Debug, Clone, Copy)]
enum Window {
    /// Output everything: [`Subset::Document`], or [`Subset::Without`] outside the removed element.
    Open,
    /// [`Subset::Without`]: inside the removed element, which started at this depth.
    Excluded(usize),
    /// [`Subset::Only`]: the apex has not started yet.
    BeforeApex,
    /// [`Subset::Only`]: inside the apex, which started at this depth.
    InApex(usize),
}

impl Window {
    fn shows_content(self) -> bool {
        matches!(self, Window::Open | Window::InApex(_))
    }
}

/// An `xml:*` attribute of an open element, kept in case a descendant becomes the apex of an
/// inclusive [`Subset::Only`] and inherits it.
struct Inheritable<'a> {
    depth: usize,
    qname: &'a str,
    local: &'a str,
    value: Cow<'a, str>,
}

/// The state of one canonicalization pass.
struct Canonicalizer<'a, 'c, W: Write> {
    out: W,
    c14n: &'c Canonicalization,
    /// The exclusive PrefixList, `None` standing for the default namespace; sorted, unique.
    listed: Vec<Option<&'c str>>,
    subset: Subset,
    window: Window,
    found: bool,
    /// Namespace declarations in force at the current element.
    scope: Bindings<'a>,
    /// Namespace declarations rendered on the current element's output ancestors.
    rendered: Bindings<'a>,
    inheritable: Vec<Inheritable<'a>>,
    /// Depth of the current element (0 outside the root).
    depth: usize,
    root_seen: bool,
    /// Scratch space kept across elements, so that writing a start tag allocates nothing once
    /// the first few elements have been written: the declarations it renders, the prefixes it
    /// utilizes (exclusive C14N), the order of its attributes.
    declarations: Vec<(Option<&'a str>, Cow<'a, str>)>,
    prefixes: Vec<Option<&'a str>>,
    order: Vec<usize>,
}

impl<'a, 'c, W: Write> Canonicalizer<'a, 'c, W> {
    fn new(c14n: &'c Canonicalization, subset: Subset, out: W) -> Self {
        let mut listed: Vec<Option<&'c str>> = match &c14n.method {
            Method::Inclusive => Vec::new(),
            Method::Exclusive { inclusive_prefixes } => inclusive_prefixes
                .iter()
                .map(|p| match p.as_str() {
                    "#default" | "" => None,
                    p => Some(p),
                })
                .collect(),
        };
        listed.sort_unstable();
        listed.dedup();
        let window = match subset {
            Subset::Document | Subset::Without(_) => Window::Open,
            Subset::Only(_) => Window::BeforeApex,
        };
        Canonicalizer {
            out,
            c14n,
            listed,
            subset,
            window,
            found: false,
            scope: Bindings::default(),
            rendered: Bindings::default(),
            inheritable: Vec::new(),
            depth: 0,
            root_seen: false,
            declarations: Vec::new(),
            prefixes: Vec::new(),
            order: Vec::new(),
        }
    }

    /// Writes what `event` contributes; [`Walk::Stop`] once the subset is written completely.
    fn event(&mut self, event: &Event<'a>) -> Result<Walk, C14nError> {
        match *event {
            Event::Start(ref element) => self.start(element)?,
            Event::End(ref end) => return self.end(end.depth, end.qname),
            Event::Text(ref text) if self.window.shows_content() => {
                escape::text(&mut self.out, text.raw, text.offset)?;
            }
            Event::CData { raw, .. } if self.window.shows_content() => {
                escape::cdata(&mut self.out, raw)?;
            }
            Event::Comment { raw, .. }
                if self.c14n.with_comments && self.window.shows_content() =>
            {
                self.node_outside_or_inside_root(|out| {
                    out.write_all(b"<!--")?;
                    escape::line_ends_normalized(out, raw)?;
                    out.write_all(b"-->")
                })?;
            }
            Event::Pi { target, data, .. } if self.window.shows_content() => {
                self.node_outside_or_inside_root(|out| {
                    out.write_all(b"<?")?;
                    out.write_all(target.as_bytes())?;
                    if !data.is_empty() {
                        out.write_all(b" ")?;
                        escape::line_ends_normalized(out, data)?;
                    }
                    out.write_all(b"?>")
                })?;
            }
            Event::Text(_) | Event::CData { .. } | Event::Comment { .. } | Event::Pi { .. } => {}
        }
        Ok(Walk::Continue)
    }

    /// Writes a comment or PI; outside the root it is separated from the root by a line break
    /// (after it before the root, before it after the root: C14N §2.1).
    fn node_outside_or_inside_root(
        &mut self,
        write: impl FnOnce(&mut W) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.depth > 0 {
            return write(&mut self.out);
        }
        if self.root_seen {
            self.out.write_all(b"\n")?;
            write(&mut self.out)
        } else {
            write(&mut self.out)?;
            self.out.write_all(b"\n")
        }
    }

    fn start(&mut self, element: &Element<'a>) -> Result<(), C14nError> {
        let Element {
            offset,
            depth,
            qname,
            prefix,
            ref namespace_decls,
            ref attributes,
            ..
        } = *element;
        self.depth = depth;
        self.root_seen = true;
        for decl in namespace_decls {
            self.scope.push(decl.prefix, decl.uri.clone(), depth);
        }
        match self.enter(offset, depth) {
            Some(apex) => self.write_start(qname, prefix, attributes, depth, apex)?,
            None => self.remember_inheritable(attributes, depth),
        }
        Ok(())
    }

    /// Moves the window for a start tag: `None` when the element is not output, otherwise
    /// whether it is the apex of the output (its parent is not output).
    fn enter(&mut self, offset: usize, depth: usize) -> Option<bool> {
        match (self.window, self.subset) {
            (Window::Open, Subset::Without(target)) if offset == target => {
                self.window = Window::Excluded(depth);
                self.found = true;
                None
            }
            (Window::Open, _) => Some(depth == 1),
            (Window::BeforeApex, Subset::Only(target)) if offset == target => {
                self.window = Window::InApex(depth);
                self.found = true;
                Some(true)
            }
            (Window::Excluded(_) | Window::BeforeApex, _) => None,
            (Window::InApex(_), _) => Some(false),
        }
    }

    fn remember_inheritable(&mut self, attributes: &[Attribute<'a>], depth: usize) {
        let wanted = matches!(self.window, Window::BeforeApex)
            && matches!(self.c14n.method, Method::Inclusive);
        if !wanted {
            return;
        }
        for a in attributes {
            if a.namespace.as_deref() == Some(XML_NAMESPACE) {
                self.inheritable.push(Inheritable {
                    depth,
                    qname: a.qname,
                    local: a.local,
                    value: a.value.clone(),
                });
            }
        }
    }

    fn end(&mut self, depth: usize, qname: &str) -> Result<Walk, C14nError> {
        let (visible, last) = match self.window {
            Window::Open => (true, false),
            Window::Excluded(d) => {
                if depth == d {
                    self.window = Window::Open;
                }
                (false, false)
            }
            Window::BeforeApex => (false, false),
            Window::InApex(d) => (true, depth == d),
        };
        if visible {
            self.out.write_all(b"</")?;
            self.out.write_all(qname.as_bytes())?;
            self.out.write_all(b">")?;
            self.rendered.pop_depth(depth);
        }
        self.scope.pop_depth(depth);
        while self.inheritable.last().is_some_and(|a| a.depth >= depth) {
            self.inheritable.pop();
        }
        self.depth = depth.saturating_sub(1);
        Ok(if last { Walk::Stop } else { Walk::Continue })
    }

    fn write_start(
        &mut self,
        qname: &str,
        prefix: Option<&'a str>,
        attributes: &[Attribute<'a>],
        depth: usize,
        apex: bool,
    ) -> io::Result<()> {
        let mut declarations = std::mem::take(&mut self.declarations);
        self.declarations_to_render(&mut declarations, prefix, attributes, depth, apex);
        self.out.write_all(b"<")?;
        self.out.write_all(qname.as_bytes())?;
        for (prefix, uri) in &declarations {
            match prefix {
                None => self.out.write_all(b" xmlns=\"")?,
                Some(p) => {
                    self.out.write_all(b" xmlns:")?;
                    self.out.write_all(p.as_bytes())?;
                    self.out.write_all(b"=\"")?;
                }
            }
            escape::attribute_value(&mut self.out, uri)?;
            self.out.write_all(b"\"")?;
        }
        for (prefix, uri) in declarations.drain(..) {
            self.rendered.push(prefix, uri, depth);
        }
        self.declarations = declarations;
        let inherited = if apex && matches!(self.c14n.method, Method::Inclusive) {
            self.inheritable.as_slice()
        } else {
            &[]
        };
        let mut order = std::mem::take(&mut self.order);
        sort_attributes(&mut order, attributes, inherited);
        let mut written = Ok(());
        for &i in &order {
            let (qname, value) = match attributes.get(i) {
                Some(a) => (a.qname, a.value.as_ref()),
                None => match inherited.get(i - attributes.len()) {
                    Some(a) => (a.qname, a.value.as_ref()),
                    None => continue,
                },
            };
            written = write_attribute(&mut self.out, qname, value);
            if written.is_err() {
                break;
            }
        }
        self.order = order;
        written?;
        self.out.write_all(b">")
    }

    /// Fills `chosen` with the namespace declarations an output element carries, sorted by
    /// prefix (default first).
    fn declarations_to_render(
        &mut self,
        chosen: &mut Vec<(Option<&'a str>, Cow<'a, str>)>,
        prefix: Option<&'a str>,
        attributes: &[Attribute<'a>],
        depth: usize,
        apex: bool,
    ) {
        chosen.clear();
        let rendered = &self.rendered;
        let mut take = |b: &Binding<'a>| {
            if must_render(rendered, b.prefix, &b.uri) {
                chosen.push((b.prefix, b.uri.clone()));
            }
        };
        match &self.c14n.method {
            // Below the apex, an inclusive element's other bindings were rendered above it.
            Method::Inclusive if apex => self.scope.in_force().into_iter().for_each(take),
            Method::Inclusive => self.scope.made_at(depth).for_each(take),
            Method::Exclusive { .. } => {
                // The prefixes it visibly utilizes, then the listed ones, each once.
                let mut wanted = std::mem::take(&mut self.prefixes);
                wanted.clear();
                wanted.push(prefix);
                wanted.extend(
                    attributes
                        .iter()
                        .filter(|a| a.prefix.is_some())
                        .map(|a| a.prefix),
                );
                wanted.sort_unstable();
                wanted.dedup();
                let scope = &self.scope;
                let mut render = |p: Option<&str>| match (scope.find(p), p) {
                    (Some(binding), _) => take(binding),
                    // No default namespace in force: still decides whether xmlns="" is needed.
                    (None, None) => take(&Binding {
                        prefix: None,
                        uri: Cow::Borrowed(""),
                        depth: 0,
                    }),
                    (None, Some(_)) => {}
                };
                wanted.iter().for_each(|&p| render(p));
                self.listed
                    .iter()
                    .filter(|&&p| !wanted.contains(&p))
                    .for_each(|&p| render(p));
                self.prefixes = wanted;
            }
        }
        chosen.sort_unstable_by(|a, b| a.0.unwrap_or("").cmp(b.0.unwrap_or("")));
    }

    /// Checks that the named element was met and hands the buffered output on.
    fn finish(mut self) -> Result<(), C14nError> {
        match self.subset {
            Subset::Without(offset) | Subset::Only(offset) if !self.found => {
                return Err(C14nError::ElementNotFound(offset))
            }
            _ => {}
        }
        self.out.flush()?;
        Ok(())
    }
}

/// Fills `order` with the attributes in canonical order: no-namespace attributes first, then
/// by namespace URI, then by local name. Indices below `attributes.len()` name the element's
/// own attributes; the others name `inherited` (`xml:*` attributes of ancestors, outermost
/// first), which fill in those the element does not set itself, the nearest ancestor winning.
fn sort_attributes(
    order: &mut Vec<usize>,
    attributes: &[Attribute<'_>],
    inherited: &[Inheritable<'_>],
) {
    order.clear();
    order.extend(0..attributes.len());
    for (i, a) in inherited.iter().enumerate().rev() {
        let set = |j: &usize| match attributes.get(*j) {
            Some(own) => own.namespace.as_deref() == Some(XML_NAMESPACE) && own.local == a.local,
            None => inherited
                .get(*j - attributes.len())
                .is_some_and(|b| b.local == a.local),
        };
        if !order.iter().any(set) {
            order.push(attributes.len() + i);
        }
    }
    if order.len() < 2 {
        return;
    }
    let key = |i: &usize| -> (&str, &str) {
        match attributes.get(*i) {
            Some(a) => (a.namespace.as_deref().unwrap_or(""), a.local),
            None => inherited
                .get(*i - attributes.len())
                .map_or(("", ""), |a| (XML_NAMESPACE, a.local)),
        }
    };
    order.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
}

/// Writes ` qname="value"`, the value escaped.
fn write_attribute<W: Write>(out: &mut W, qname: &str, value: &str) -> io::Result<()> {
    out.write_all(b" ")?;
    out.write_all(qname.as_bytes())?;
    out.write_all(b"=\"")?;
    escape::attribute_value(out, value)?;
    out.write_all(b"\"")
}

#[cfg(test)]
mod tests;
