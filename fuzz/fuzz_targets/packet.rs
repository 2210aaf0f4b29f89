//! Arbitrary bytes through everything a packet meets before the PKI: the edXML reader and
//! the XML-DSig locator/verifier (with a real signed packet as the seed, mutations reach the
//! canonicalization and crypto paths). Must refuse or accept, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong::dsig::{self, AlgorithmPolicy};
use lienthong::edxml;
use lienthong::xml::reader::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_depth: 32,
        max_elements: 2_000,
        ..Limits::default()
    };
    if let Ok(edxml::Packet::Message(mut m)) = edxml::read(data, limits) {
        // Attachment ranges must lie inside the input and decode or refuse cleanly.
        let _ = m.load_attachments(data);
    }
    let _ = dsig::verify(data, &AlgorithmPolicy::profile(), limits);
});
