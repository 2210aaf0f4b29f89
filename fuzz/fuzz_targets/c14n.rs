//! Arbitrary bytes through every canonicalization: both methods, with and without comments, the
//! whole document and the subtree of / the document without an element chosen by the input.
//! Nothing may panic, and canonical output must be its own canonical form (a fixed point).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong::xml::c14n::{canonicalize_to_vec, Canonicalization, Method, Subset};
use lienthong::xml::reader::{Event, Limits, Reader};

fn limits() -> Limits {
    Limits {
        max_depth: 32,
        max_elements: 2_000,
        ..Limits::default()
    }
}

/// Offsets of the elements of the document (empty when it is refused).
fn element_offsets(doc: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let Ok(mut reader) = Reader::new(doc, limits()) else {
        return offsets;
    };
    while let Ok(Some(event)) = reader.next() {
        if let Event::Start(e) = event {
            offsets.push(e.offset);
        }
    }
    offsets
}

fuzz_target!(|data: &[u8]| {
    let offsets = element_offsets(data);
    // The last byte picks the element (and, without elements, an arbitrary offset to miss).
    let pick = usize::from(data.last().copied().unwrap_or(0));
    let element = offsets
        .get(pick % offsets.len().max(1))
        .copied()
        .unwrap_or(pick);
    let methods = [
        Method::Inclusive,
        Method::Exclusive {
            inclusive_prefixes: Vec::new(),
        },
        Method::Exclusive {
            inclusive_prefixes: vec!["#default".into(), "a".into(), "xml".into()],
        },
    ];
    for method in methods {
        for with_comments in [false, true] {
            let c14n = Canonicalization {
                method: method.clone(),
                with_comments,
            };
            for subset in [
                Subset::Document,
                Subset::Only(element),
                Subset::Without(element),
            ] {
                let Ok(out) = canonicalize_to_vec(data, &c14n, subset, limits()) else {
                    continue;
                };
                if subset == Subset::Document || matches!(subset, Subset::Only(_)) {
                    let again = canonicalize_to_vec(&out, &c14n, Subset::Document, limits())
                        .unwrap_or_else(|e| {
                            panic!(
                                "canonical output refused: {e}\n{:?}",
                                String::from_utf8_lossy(&out)
                            )
                        });
                    assert_eq!(again, out, "not a fixed point");
                }
            }
        }
    }
});
