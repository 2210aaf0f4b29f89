//! Which namespace declarations an output element carries (C14N 1.0 §4.7 / §2.3, exclusive
//! C14N §3): the bindings in force, the bindings already rendered on output ancestors, and
//! the rule that decides between them.

use std::borrow::Cow;

/// One binding of a prefix (`None`: the default namespace) to a URI (`""`: no default
/// namespace, i.e. `xmlns=""`), made by the element at `depth`.
#[derive(Debug, Clone)]
pub(super) struct Binding<'a> {
    pub prefix: Option<&'a str>,
    pub uri: Cow<'a, str>,
    pub depth: usize,
}

/// Bindings, innermost last. Used twice: for the declarations in force at the current
/// element, and for the declarations rendered on the current element's output ancestors.
#[derive(Debug, Default)]
pub(super) struct Bindings<'a> {
    stack: Vec<Binding<'a>>,
}

impl<'a> Bindings<'a> {
    pub fn push(&mut self, prefix: Option<&'a str>, uri: Cow<'a, str>, depth: usize) {
        self.stack.push(Binding { prefix, uri, depth });
    }

    /// Forgets the bindings made by the element at `depth` (called when it ends).
    pub fn pop_depth(&mut self, depth: usize) {
        while self.stack.last().is_some_and(|b| b.depth >= depth) {
            self.stack.pop();
        }
    }

    /// The innermost binding of `prefix`, if any.
    pub fn find(&self, prefix: Option<&str>) -> Option<&Binding<'a>> {
        self.stack.iter().rev().find(|b| b.prefix == prefix)
    }

    /// The URI bound to `prefix`, `""` when unbound (for the default namespace: none).
    pub fn uri(&self, prefix: Option<&str>) -> &str {
        self.find(prefix).map_or("", |b| b.uri.as_ref())
    }

    /// The bindings made by the element at `depth` (its own declarations, in document order).
    pub fn made_at(&self, depth: usize) -> impl Iterator<Item = &Binding<'a>> {
        self.stack.iter().filter(move |b| b.depth == depth)
    }

    /// Every binding in force, one per prefix (the innermost), in no particular order.
    pub fn in_force(&self) -> Vec<&Binding<'a>> {
        let mut out: Vec<&Binding<'a>> = Vec::new();
        for b in self.stack.iter().rev() {
            if !out.iter().any(|seen| seen.prefix == b.prefix) {
                out.push(b);
            }
        }
        out
    }
}

/// Whether a binding in force on an output element must be written there, given what its
/// output ancestors already rendered: it must if the nearest rendering of the same prefix
/// differs. `xmlns=""` is only written to cancel a non-empty default rendered above.
pub(super) fn must_render(rendered: &Bindings<'_>, prefix: Option<&str>, uri: &str) -> bool {
    prefix != Some("xml") && !same_uri(rendered.uri(prefix), uri)
}

/// URI equality, answered without comparing bytes in the usual case: the binding in force and
/// the one rendered above come from the same declaration, so they are the same slice.
fn same_uri(a: &str, b: &str) -> bool {
    (std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()) || a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bindings(list: &[(Option<&'static str>, &'static str, usize)]) -> Bindings<'static> {
        let mut b = Bindings::default();
        for (p, u, d) in list {
            b.push(*p, Cow::Borrowed(u), *d);
        }
        b
    }

    #[test]
    fn innermost_binding_wins_and_pops_with_its_element() {
        let mut b = bindings(&[
            (Some("p"), "urn:1", 1),
            (None, "urn:d", 1),
            (Some("p"), "urn:2", 2),
        ]);
        assert_eq!(b.uri(Some("p")), "urn:2");
        assert_eq!(b.made_at(2).count(), 1);
        assert_eq!(b.made_at(1).count(), 2);
        assert_eq!(b.made_at(3).count(), 0);
        assert_eq!(b.in_force().len(), 2);
        b.pop_depth(2);
        assert_eq!(b.uri(Some("p")), "urn:1");
        assert_eq!(b.made_at(1).count(), 2);
        b.pop_depth(1);
        assert_eq!(b.uri(None), "");
    }

    #[test]
    fn empty_default_is_rendered_only_to_cancel_one_above() {
        let none = Bindings::default();
        assert!(!must_render(&none, None, ""));
        assert!(must_render(&none, None, "urn:d"));
        let with_default = bindings(&[(None, "urn:d", 1)]);
        assert!(must_render(&with_default, None, ""));
        assert!(!must_render(&with_default, None, "urn:d"));
        let cancelled = bindings(&[(None, "urn:d", 1), (None, "", 2)]);
        assert!(!must_render(&cancelled, None, ""));
    }

    #[test]
    fn same_prefix_same_uri_is_not_repeated() {
        let r = bindings(&[(Some("p"), "urn:1", 1)]);
        assert!(!must_render(&r, Some("p"), "urn:1"));
        assert!(must_render(&r, Some("p"), "urn:2"));
        assert!(must_render(&r, Some("q"), "urn:1"));
        assert!(!must_render(
            &r,
            Some("xml"),
            "http://www.w3.org/XML/1998/namespace"
        ));
    }
}
