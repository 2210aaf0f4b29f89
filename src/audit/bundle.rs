//! An export bundle (docs/AUDIT.md): a file an auditor keeps and checks with no server and no
//! database. JSON lines — first a header with the log's verifier key and its latest signed
//! checkpoint, then one line per event with its canonical bytes and its inclusion proof in
//! that checkpoint's tree. Checking a bundle needs only this file (and, to be sure of the key,
//! the log's key from elsewhere): a bundle made before someone edits the database goes on
//! proving what the log had signed.

use std::io::BufRead;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::store::events::{self, LoggedEvent};

use super::merkle::{leaf_hash, verify_inclusion, Hash};
use super::note::{Checkpoint, NoteVerifier};

/// The header's `format`.
pub const BUNDLE_FORMAT: &str = "lienthong-audit-export/1";

/// The bundle's first line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    pub format: String,
    /// The log's verifier key (signed-note `vkey`), as `GET /v1/audit/key` publishes it.
    pub vkey: String,
    /// The latest checkpoint when the bundle was made: every event's proof leads to its root.
    pub checkpoint: String,
    /// The period asked for (RFC 3339, half-open) and the scope (`all` or an agency code).
    pub from: String,
    pub to: String,
    pub scope: String,
    /// How many event lines follow.
    pub events: u64,
    /// Events of the period written after the checkpoint, so not in the bundle.
    pub left_out: u64,
    pub made_at: String,
}

/// One event with its proof.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub event: i64,
    pub leaf: u64,
    pub at: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub packet: Option<String>,
    /// The event's canonical bytes (UTF-8); its leaf hash is SHA-256(0x00 ‖ these bytes).
    pub text: String,
    /// RFC 9162 §2.1.3.1 inclusion path in the checkpoint's tree, bottom up, base64.
    pub inclusion_path: Vec<String>,
}

impl Entry {
    /// The entry of `event`, placed at `leaf`, with its proof.
    pub fn new(event: &LoggedEvent, leaf: u64, path: &[Hash]) -> Entry {
        Entry {
            event: event.seq,
            leaf,
            at: events::timestamp(event.at),
            kind: event.kind.clone(),
            packet: event.packet_id.clone(),
            text: String::from_utf8_lossy(&event.body).into_owned(),
            inclusion_path: path.iter().map(|h| STANDARD.encode(h)).collect(),
        }
    }

    /// Whether the entry's proof leads from its bytes to `checkpoint`'s root, and its fields
    /// are those its bytes say; else why not.
    pub fn check(&self, checkpoint: &Checkpoint) -> Result<(), String> {
        let fields = events::fields(self.text.as_bytes())?;
        let expect = [
            ("seq", Some(self.event.to_string())),
            ("at", Some(self.at.clone())),
            ("kind", Some(self.kind.clone())),
            ("packet", self.packet.clone()),
        ];
        for (name, wanted) in expect {
            let Some(wanted) = wanted else { continue };
            let said = fields.get(name).copied().unwrap_or("nothing");
            if said != wanted {
                return Err(format!(
                    "its line says {name} {wanted}, its bytes say {said}"
                ));
            }
        }
        let path = self
            .inclusion_path
            .iter()
            .map(|h| {
                STANDARD
                    .decode(h)
                    .ok()
                    .and_then(|h| Hash::try_from(h.as_slice()).ok())
            })
            .collect::<Option<Vec<Hash>>>()
            .ok_or("its inclusion path holds a hash that is not 32 bytes of base64")?;
        verify_inclusion(
            self.leaf,
            checkpoint.size,
            &leaf_hash(self.text.as_bytes()),
            &path,
            &checkpoint.root,
        )
        .map_err(|e| {
            format!(
                "its bytes are not those the log signed: with its inclusion path they do not \
                 lead to the root of the checkpoint of size {} ({e})",
                checkpoint.size
            )
        })
    }
}

/// Why a bundle does not verify.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file is not a bundle (or is cut short): line number and why.
    #[error("line {line}: {why}")]
    Format { line: usize, why: String },
    /// The checkpoint is not signed by the key.
    #[error("the bundle's checkpoint: {0}")]
    Checkpoint(String),
    /// An event's bytes or proof do not match the signed checkpoint.
    #[error("event {event} (leaf {leaf}): {why}")]
    Event { event: i64, leaf: u64, why: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl BundleError {
    /// The stable code (docs/ERRORS.md).
    pub fn code(&self) -> &'static str {
        match self {
            BundleError::Format { .. } => "audit.bundle",
            BundleError::Checkpoint(_) | BundleError::Event { .. } => "audit.mismatch",
            BundleError::Io(_) => "cli.io",
        }
    }
}

/// What a bundle proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleReport {
    pub header: Header,
    pub checkpoint: Checkpoint,
    /// The key the checkpoint was checked with.
    pub key_name: String,
    /// Whether that key came from the bundle itself rather than from the caller.
    pub key_from_bundle: bool,
    pub events: u64,
}

/// Checks the bundle read from `input`: its checkpoint against `trusted` (else against the key
/// the bundle names, which proves only that the bundle is whole and was made by that key's
/// holder), and every event's bytes against the checkpoint, in order and once each.
pub fn check(
    input: impl BufRead,
    trusted: Option<&NoteVerifier>,
) -> Result<BundleReport, BundleError> {
    let mut lines = input.lines();
    let first = lines.next().transpose()?.ok_or(BundleError::Format {
        line: 1,
        why: "the file is empty".to_owned(),
    })?;
    let header: Header = serde_json::from_str(&first).map_err(|e| BundleError::Format {
        line: 1,
        why: format!("not a bundle header: {e}"),
    })?;
    if header.format != BUNDLE_FORMAT {
        return Err(BundleError::Format {
            line: 1,
            why: format!("the format is {:?}, not {BUNDLE_FORMAT}", header.format),
        });
    }
    let own = NoteVerifier::parse(&header.vkey)
        .map_err(|e| BundleError::Checkpoint(format!("its vkey: {e}")))?;
    let verifier = trusted.unwrap_or(&own);
    let text = verifier
        .verify(&header.checkpoint)
        .map_err(|e| BundleError::Checkpoint(format!("not signed by {} ({e})", verifier.name())))?;
    let checkpoint = Checkpoint::parse(text).map_err(|e| BundleError::Checkpoint(e.to_string()))?;
    let mut count = 0u64;
    let mut last: Option<i64> = None;
    for (n, line) in lines.enumerate() {
        let line_no = n + 2;
        let line = line?;
        let entry: Entry = serde_json::from_str(&line).map_err(|e| BundleError::Format {
            line: line_no,
            why: format!("not an event: {e}"),
        })?;
        let event_error = |why: String| BundleError::Event {
            event: entry.event,
            leaf: entry.leaf,
            why,
        };
        if last.is_some_and(|l| l >= entry.event) {
            return Err(event_error(
                "events are not in increasing number order (repeated or moved)".to_owned(),
            ));
        }
        entry.check(&checkpoint).map_err(event_error)?;
        last = Some(entry.event);
        count += 1;
    }
    if count != header.events {
        return Err(BundleError::Format {
            line: usize::try_from(count).unwrap_or(usize::MAX) + 2,
            why: format!(
                "the header announces {} events, the file holds {count}: it was cut short or \
                 added to",
                header.events
            ),
        });
    }
    Ok(BundleReport {
        key_name: verifier.name().to_owned(),
        key_from_bundle: trusted.is_none(),
        header,
        checkpoint,
        events: count,
    })
}
