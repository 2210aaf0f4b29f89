//! A compact element tree over the packet bytes, built in one pass of the hardened XML reader.
//! Names and text borrow the input; nothing is decoded until a value is asked for, so an
//! attachment's base64 text is never copied. Signature subtrees are left out: they belong to
//! the dsig module.

use std::borrow::Cow;

use crate::xml::reader::{normalize_line_ends, Document, Event, Limits, Reader, Text, XmlError};

use super::{NAMESPACE, XMLDSIG_NAMESPACE};

/// A run of character data inside an element.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Piece<'a> {
    Text(Text<'a>),
    /// The content of a CDATA section, at `offset` in the input.
    CData {
        offset: usize,
        raw: &'a str,
    },
}

impl<'a> Piece<'a> {
    pub(crate) fn value(&self) -> Cow<'a, str> {
        match self {
            Piece::Text(t) => t.value(),
            Piece::CData { raw, .. } => normalize_line_ends(raw),
        }
    }

    pub(crate) fn raw(&self) -> &'a str {
        match self {
            Piece::Text(t) => t.raw,
            Piece::CData { raw, .. } => raw,
        }
    }

    /// Offset of the raw text in the input.
    pub(crate) fn offset(&self) -> usize {
        match self {
            Piece::Text(t) => t.offset,
            Piece::CData { offset, .. } => offset + "<![CDATA[".len(),
        }
    }

    pub(crate) fn is_whitespace(&self) -> bool {
        self.raw()
            .bytes()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    }
}

#[derive(Debug)]
pub(crate) struct Node<'a> {
    pub local: &'a str,
    pub prefix: Option<&'a str>,
    pub namespace: Option<Cow<'a, str>>,
    pub children: Vec<usize>,
    pub text: Vec<Piece<'a>>,
}

impl Node<'_> {
    pub(crate) fn in_namespace(&self, namespace: &str) -> bool {
        self.namespace.as_deref() == Some(namespace)
    }
}

/// All elements of the packet except signature subtrees; the root, if kept, is node 0.
#[derive(Debug)]
pub(crate) struct Tree<'a> {
    nodes: Vec<Node<'a>>,
}

impl<'a> Tree<'a> {
    pub(crate) fn build(document: Document<'a>, limits: Limits) -> Result<Tree<'a>, XmlError> {
        let mut reader = Reader::of(document, limits);
        let mut nodes: Vec<Node<'a>> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        // Depth of the signature element being skipped, if any.
        let mut skipping: Option<usize> = None;
        while let Some(event) = reader.next()? {
            match (event, skipping) {
                (Event::End(end), Some(depth)) => {
                    if end.depth == depth {
                        skipping = None;
                    }
                }
                (_, Some(_)) => {}
                (Event::Start(e), None) => {
                    let is_signature = (e.local == "Signature"
                        && e.namespace.as_deref() == Some(XMLDSIG_NAMESPACE))
                        || (e.local == "DigitalSignature"
                            && e.namespace.as_deref() == Some(NAMESPACE));
                    if is_signature {
                        skipping = Some(e.depth);
                        continue;
                    }
                    let id = nodes.len();
                    nodes.push(Node {
                        local: e.local,
                        prefix: e.prefix,
                        namespace: e.namespace,
                        children: Vec::new(),
                        text: Vec::new(),
                    });
                    if let Some(parent) = open.last().and_then(|&p| nodes.get_mut(p)) {
                        parent.children.push(id);
                    }
                    open.push(id);
                }
                (Event::End(_), None) => {
                    open.pop();
                }
                (Event::Text(t), None) => push_piece(&mut nodes, &open, Piece::Text(t)),
                (Event::CData { offset, raw }, None) => {
                    push_piece(&mut nodes, &open, Piece::CData { offset, raw })
                }
                (Event::Comment { .. } | Event::Pi { .. }, None) => {}
            }
        }
        Ok(Tree { nodes })
    }

    /// `None` when the root element was itself a signature (and so left out).
    pub(crate) fn root(&self) -> Option<usize> {
        (!self.nodes.is_empty()).then_some(0)
    }

    pub(crate) fn node(&self, id: usize) -> &Node<'a> {
        // Ids come only from this tree's own child lists.
        &self.nodes[id]
    }
}

fn push_piece<'a>(nodes: &mut [Node<'a>], open: &[usize], piece: Piece<'a>) {
    if let Some(node) = open.last().and_then(|&id| nodes.get_mut(id)) {
        node.text.push(piece);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_signatures_and_keeps_text_borrowed() {
        let doc = r#"<a xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
  <b>x&amp;y</b><ds:Signature><ds:SignedInfo><b/></ds:SignedInfo></ds:Signature>
  <DigitalSignature><ds:Signature/></DigitalSignature><c><![CDATA[z]]></c></a>"#;
        let tree = Tree::build(
            Document::check(doc.as_bytes(), Limits::default()).unwrap(),
            Limits::default(),
        )
        .unwrap();
        let root = tree.node(tree.root().unwrap());
        let names: Vec<&str> = root.children.iter().map(|&c| tree.node(c).local).collect();
        assert_eq!(names, ["b", "c"]);
        let b = tree.node(root.children[0]);
        assert_eq!(b.text[0].value(), "x&y");
        assert!(matches!(b.text[0].value(), Cow::Owned(_)));
        let c = tree.node(root.children[1]);
        assert_eq!(&doc[c.text[0].offset()..c.text[0].offset() + 1], "z");
    }

    #[test]
    fn a_signature_as_root_leaves_no_root() {
        let doc =
            r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><a/></ds:Signature>"#;
        assert_eq!(
            Tree::build(
                Document::check(doc.as_bytes(), Limits::default()).unwrap(),
                Limits::default()
            )
            .unwrap()
            .root(),
            None
        );
    }
}
