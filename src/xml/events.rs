//! A document read once for all the passes that follow: the edXML model, the XML-DSig locator
//! and both canonicalizations walk the same [`Event`]s, so the tokenizing, the checks and the
//! namespace resolution are paid once per packet instead of once per pass.
//!
//! The events of an ordinary packet (a few hundred elements, attachments as large text nodes)
//! take a few kilobytes. A document with an extreme amount of markup could take many times its
//! own size, so the events are kept only up to [`KEPT_EVENTS_BUDGET`] bytes; past that each walk
//! reads the document again, in constant memory, as every pass did before.
//!
//! Either way the whole document has been read and found well-formed by [`Events::read`], so
//! every walk sees a complete, checked document and the first problem with the XML is reported
//! before any pass looks at its meaning.

use std::borrow::Cow;
use std::mem::size_of;

use super::reader::{Attribute, Document, Event, Limits, NamespaceDecl, Reader, XmlError};

/// Most memory the kept events of one document may take, in bytes (about 50,000 elements).
pub const KEPT_EVENTS_BUDGET: usize = 8 * 1024 * 1024;

/// Whether a walk goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    Continue,
    /// The visitor has what it needs; the rest of the document is not shown to it.
    Stop,
}

/// A well-formed document and its events (see the module documentation).
#[derive(Debug)]
pub struct Events<'a> {
    document: Document<'a>,
    limits: Limits,
    /// Every event in document order; `None` when they did not fit the budget.
    kept: Option<Vec<Event<'a>>>,
}

impl<'a> Events<'a> {
    /// Reads the whole document, refusing it at its first problem.
    pub fn read(document: Document<'a>, limits: Limits) -> Result<Self, XmlError> {
        Self::read_within(document, limits, KEPT_EVENTS_BUDGET)
    }

    /// [`Events::read`] with an explicit memory budget for the kept events.
    pub(crate) fn read_within(
        document: Document<'a>,
        limits: Limits,
        budget: usize,
    ) -> Result<Self, XmlError> {
        let mut reader = Reader::of(document, limits);
        // Small packets have about one event per 30 to 40 bytes: reserving for one per 24
        // spares the copy of a regrowth. Capped below 64 KiB, where glibc's free starts to
        // consolidate the heap; larger documents grow from there.
        let mut kept = Vec::with_capacity((document.len() / 24).clamp(16, 400));
        let mut used = 0usize;
        while let Some(event) = reader.next()? {
            used = used.saturating_add(footprint(&event));
            if used > budget {
                // Too much markup to keep: finish checking the document, then stream each walk.
                drop(kept);
                while reader.next()?.is_some() {}
                return Ok(Events {
                    document,
                    limits,
                    kept: None,
                });
            }
            kept.push(event);
        }
        Ok(Events {
            document,
            limits,
            kept: Some(kept),
        })
    }

    /// The document the events come from.
    pub fn document(&self) -> Document<'a> {
        self.document
    }

    /// The limits the document was read under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether the events are held in memory (false: each walk reads the document again).
    pub fn are_kept(&self) -> bool {
        self.kept.is_some()
    }

    /// Shows every event to `visit`, in document order, until it answers [`Walk::Stop`] or
    /// fails.
    pub fn walk<E: From<XmlError>>(
        &self,
        mut visit: impl FnMut(&Event<'a>) -> Result<Walk, E>,
    ) -> Result<(), E> {
        match &self.kept {
            Some(events) => {
                for event in events {
                    if visit(event)? == Walk::Stop {
                        break;
                    }
                }
            }
            None => {
                let mut reader = Reader::of(self.document, self.limits);
                while let Some(event) = reader.next()? {
                    if visit(&event)? == Walk::Stop {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Bytes an event holds: the event itself and what its element owns on the heap.
fn footprint(event: &Event<'_>) -> usize {
    let owned = |s: &Cow<'_, str>| match s {
        Cow::Owned(s) => s.capacity(),
        Cow::Borrowed(_) => 0,
    };
    let heap = match event {
        Event::Start(e) => {
            e.attributes.capacity() * size_of::<Attribute<'_>>()
                + e.namespace_decls.capacity() * size_of::<NamespaceDecl<'_>>()
                + e.attributes
                    .iter()
                    .map(|a| owned(&a.value) + a.namespace.as_ref().map_or(0, owned))
                    .sum::<usize>()
                + e.namespace_decls
                    .iter()
                    .map(|d| owned(&d.uri))
                    .sum::<usize>()
                + e.namespace.as_ref().map_or(0, owned)
        }
        _ => 0,
    };
    size_of::<Event<'_>>() + heap
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "<a xmlns:p='urn:p'><p:b x='1'>t</p:b><c/><!--n--></a>";

    fn events(budget: usize) -> Events<'static> {
        let document = Document::check(DOC.as_bytes(), Limits::default()).unwrap();
        Events::read_within(document, Limits::default(), budget).unwrap()
    }

    fn all(events: &Events<'_>) -> Vec<String> {
        let mut seen = Vec::new();
        events
            .walk(|e| {
                seen.push(format!("{e:?}"));
                Ok::<_, XmlError>(Walk::Continue)
            })
            .unwrap();
        seen
    }

    #[test]
    fn kept_and_streamed_walks_see_the_same_events() {
        let kept = events(KEPT_EVENTS_BUDGET);
        let streamed = events(100);
        assert!(kept.are_kept());
        assert!(!streamed.are_kept());
        assert_eq!(all(&kept).len(), 8);
        assert_eq!(all(&kept), all(&streamed));
    }

    #[test]
    fn a_walk_stops_when_asked_and_visitor_errors_come_back() {
        for budget in [KEPT_EVENTS_BUDGET, 100] {
            let events = events(budget);
            let mut count = 0;
            events
                .walk(|_| {
                    count += 1;
                    Ok::<_, XmlError>(if count == 3 {
                        Walk::Stop
                    } else {
                        Walk::Continue
                    })
                })
                .unwrap();
            assert_eq!(count, 3);
            let failed = events.walk(|e| match e {
                Event::Text(t) => Err(XmlError::Malformed {
                    offset: t.offset,
                    reason: "refused by the visitor".into(),
                }),
                _ => Ok(Walk::Continue),
            });
            assert_eq!(failed.unwrap_err().code(), "edxml.malformed");
        }
    }

    #[test]
    fn the_whole_document_is_checked_even_past_the_budget() {
        let doc = "<a><b/><b/><b/></a><c/>";
        let document = Document::check(doc.as_bytes(), Limits::default()).unwrap();
        for budget in [KEPT_EVENTS_BUDGET, 100] {
            let err = Events::read_within(document, Limits::default(), budget).unwrap_err();
            assert_eq!(err.code(), "edxml.malformed", "budget {budget}");
        }
    }
}
