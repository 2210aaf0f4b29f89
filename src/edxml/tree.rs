//! A compact element tree over the packet bytes, built in one walk of the packet's [`Events`].
//! Names and text borrow the input; nothing is decoded until a value is asked for, so an
//! attachment's base64 text is never copied. Signature subtrees are left out: they belong to
//! the dsig module.

use std::borrow::Cow;

use crate::xml::events::{Events, Walk};
use crate::xml::reader::{normalize_line_ends, Event, Text, XmlError};

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
    first_child: Option<usize>,
    last_child: Option<usize>,
    next_sibling: Option<usize>,
    /// The element's runs of character data, as a list threaded through [`Tree::pieces`].
    first_piece: Option<usize>,
    last_piece: Option<usize>,
}

impl Node<'_> {
    pub(crate) fn in_namespace(&self, namespace: &str) -> bool {
        self.namespace.as_deref() == Some(namespace)
    }
}

/// All elements of the packet except signature subtrees; the root, if kept, is node 0.
/// Children and text runs are linked lists over two flat vectors, so building the tree costs
/// two growing allocations rather than two per element.
#[derive(Debug)]
pub(crate) struct Tree<'a> {
    nodes: Vec<Node<'a>>,
    /// Every run of character data, with the index of the next run of the same element.
    pieces: Vec<(Piece<'a>, Option<usize>)>,
}

impl<'a> Tree<'a> {
    pub(crate) fn build(events: &Events<'a>) -> Result<Tree<'a>, XmlError> {
        let mut tree = Tree {
            nodes: Vec::with_capacity(64),
            pieces: Vec::with_capacity(64),
        };
        let mut open: Vec<usize> = Vec::with_capacity(16);
        // Depth of the signature element being skipped, if any.
        let mut skipping: Option<usize> = None;
        events.walk(|event| {
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
                    } else {
                        let id = tree.add_node(open.last().copied(), e.local, e.prefix);
                        if let Some(node) = tree.nodes.get_mut(id) {
                            node.namespace = e.namespace.clone();
                        }
                        open.push(id);
                    }
                }
                (Event::End(_), None) => {
                    open.pop();
                }
                (Event::Text(t), None) => tree.add_piece(open.last().copied(), Piece::Text(*t)),
                (&Event::CData { offset, raw }, None) => {
                    tree.add_piece(open.last().copied(), Piece::CData { offset, raw })
                }
                (Event::Comment { .. } | Event::Pi { .. }, None) => {}
            }
            Ok::<_, XmlError>(Walk::Continue)
        })?;
        Ok(tree)
    }

    fn add_node(
        &mut self,
        parent: Option<usize>,
        local: &'a str,
        prefix: Option<&'a str>,
    ) -> usize {
        let id = self.nodes.len();
        self.nodes.push(Node {
            local,
            prefix,
            namespace: None,
            first_child: None,
            last_child: None,
            next_sibling: None,
            first_piece: None,
            last_piece: None,
        });
        let previous = parent.and_then(|p| self.nodes.get_mut(p)).map(|p| {
            p.last_child
                .replace(id)
                .or_else(|| p.first_child.replace(id))
        });
        if let Some(Some(previous)) = previous {
            if let Some(sibling) = self.nodes.get_mut(previous) {
                sibling.next_sibling = Some(id);
            }
        }
        id
    }

    fn add_piece(&mut self, owner: Option<usize>, piece: Piece<'a>) {
        let Some(node) = owner.and_then(|id| self.nodes.get_mut(id)) else {
            return;
        };
        let id = self.pieces.len();
        self.pieces.push((piece, None));
        let previous = node
            .last_piece
            .replace(id)
            .or_else(|| node.first_piece.replace(id));
        if let Some((_, next)) = previous.and_then(|p| self.pieces.get_mut(p)) {
            *next = Some(id);
        }
    }

    /// `None` when the root element was itself a signature (and so left out).
    pub(crate) fn root(&self) -> Option<usize> {
        (!self.nodes.is_empty()).then_some(0)
    }

    pub(crate) fn node(&self, id: usize) -> &Node<'a> {
        // Ids come only from this tree's own child lists.
        &self.nodes[id]
    }

    /// The element children of `id`, in document order.
    pub(crate) fn children(&self, id: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.node(id).first_child, |&c| self.node(c).next_sibling)
    }

    /// The runs of character data directly inside `id`, in document order.
    pub(crate) fn text(&self, id: usize) -> impl Iterator<Item = &Piece<'a>> + '_ {
        std::iter::successors(
            self.node(id).first_piece.and_then(|p| self.pieces.get(p)),
            |(_, next)| next.and_then(|p| self.pieces.get(p)),
        )
        .map(|(piece, _)| piece)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::reader::{Document, Limits};

    fn events(doc: &str) -> Events<'_> {
        Events::read(
            Document::check(doc.as_bytes(), Limits::default()).unwrap(),
            Limits::default(),
        )
        .unwrap()
    }

    #[test]
    fn skips_signatures_and_keeps_text_borrowed() {
        let doc = r#"<a xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
  <b>x&amp;y</b><ds:Signature><ds:SignedInfo><b/></ds:SignedInfo></ds:Signature>
  <DigitalSignature><ds:Signature/></DigitalSignature><c><![CDATA[z]]></c></a>"#;
        let tree = Tree::build(&events(doc)).unwrap();
        let root = tree.root().unwrap();
        let children: Vec<usize> = tree.children(root).collect();
        let names: Vec<&str> = children.iter().map(|&c| tree.node(c).local).collect();
        assert_eq!(names, ["b", "c"]);
        let b: Vec<&Piece> = tree.text(children[0]).collect();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].value(), "x&y");
        assert!(matches!(b[0].value(), Cow::Owned(_)));
        let c = tree.text(children[1]).next().unwrap();
        assert_eq!(&doc[c.offset()..c.offset() + 1], "z");
        let around: Vec<&str> = tree.text(root).map(|p| p.raw()).collect();
        assert_eq!(around, ["\n  ", "\n  "]);
    }

    #[test]
    fn events_read_again_build_the_same_tree() {
        let doc =
            r#"<a xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><b>x</b><c><d>y</d></c>z</a>"#;
        let shape = |events: &Events<'_>| {
            let tree = Tree::build(events).unwrap();
            let mut seen = Vec::new();
            let mut stack = vec![tree.root().unwrap()];
            while let Some(id) = stack.pop() {
                let text: String = tree.text(id).map(|p| p.raw()).collect();
                seen.push(format!("{}:{text}", tree.node(id).local));
                stack.extend(tree.children(id));
            }
            seen
        };
        let document = Document::check(doc.as_bytes(), Limits::default()).unwrap();
        let streamed = Events::read_within(document, Limits::default(), 0).unwrap();
        assert!(!streamed.are_kept());
        assert_eq!(shape(&events(doc)), shape(&streamed));
        assert_eq!(shape(&streamed), ["a:z", "c:", "d:y", "b:x"]);
    }

    #[test]
    fn a_signature_as_root_leaves_no_root() {
        let doc =
            r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><a/></ds:Signature>"#;
        assert_eq!(Tree::build(&events(doc)).unwrap().root(), None);
    }
}
