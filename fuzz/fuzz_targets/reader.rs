//! Arbitrary bytes through the hardened reader: it must refuse or accept, never panic, and the
//! offsets it reports must point into the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong::xml::reader::{Event, Limits, Reader};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_depth: 32,
        max_elements: 2_000,
        ..Limits::default()
    };
    let Ok(mut reader) = Reader::new(data, limits) else {
        return;
    };
    while let Ok(Some(event)) = reader.next() {
        match event {
            Event::Start(e) => {
                assert_eq!(data.get(e.offset), Some(&b'<'));
                let _ = reader.namespaces_in_scope();
            }
            Event::End(end) => {
                assert_eq!(data.get(end.start_offset), Some(&b'<'));
                assert!(end.start_offset < end.end_offset && end.end_offset <= data.len());
                assert_eq!(data.get(end.end_offset - 1), Some(&b'>'));
            }
            Event::Text(t) => {
                let _ = t.value();
            }
            Event::CData { raw, .. } | Event::Comment { raw, .. } => {
                let _ = lienthong::xml::reader::normalize_line_ends(raw);
            }
            Event::Pi { .. } => {}
        }
    }
});
