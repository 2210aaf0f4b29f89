//! `audit export`: writes a bundle ([`super::bundle`]) of the events of a period and scope,
//! each with its inclusion proof in the tree of the latest checkpoint. The export checks what
//! it writes — the checkpoint's signature, every proof against the signed root — so a
//! database that no longer proves its events gives an error here, not a bundle that fails
//! later in an auditor's hands.

use std::io::Write;

use crate::store::events::{self, Selection};
use crate::store::scope::Scope;
use crate::store::{Store, StoreError};

use super::bundle::{Entry, Header, BUNDLE_FORMAT};
use super::note::{Checkpoint, NoteVerifier};
use super::period::Period;
use super::tree;

/// Events read at a time.
const PAGE: i64 = 1_000;

/// What to export.
#[derive(Debug, Clone)]
pub struct Request {
    pub period: Period,
    pub scope: Scope,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no checkpoint has been signed yet: start the server, and export after its first")]
    NoCheckpoint,
    /// The database's latest checkpoint, or an event's proof, does not hold.
    #[error("{0}; run `lienthong audit verify` to find where the log was changed")]
    Unproved(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the bundle: {0}")]
    Io(#[from] std::io::Error),
}

impl ExportError {
    /// The stable code (docs/ERRORS.md).
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::NoCheckpoint => "audit.not_yet",
            ExportError::Unproved(_) => "audit.mismatch",
            ExportError::Store(e) => e.code(),
            ExportError::Io(_) => "cli.io",
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub events: u64,
    /// Events of the period not yet in a checkpoint, so left out.
    pub left_out: u64,
    pub tree_size: u64,
}

/// Writes the bundle of `request` to `out`; `progress` hears the number of events written
/// after each page.
pub async fn write(
    store: &Store,
    verifier: &NoteVerifier,
    request: &Request,
    out: &mut impl Write,
    mut progress: impl FnMut(u64),
) -> Result<Summary, ExportError> {
    let mut conn = store.acquire().await?;
    let record = events::latest_checkpoint(&mut conn)
        .await?
        .ok_or(ExportError::NoCheckpoint)?;
    let checkpoint = verifier
        .verify(&record.note)
        .ok()
        .and_then(|text| Checkpoint::parse(text).ok())
        .ok_or_else(|| {
            ExportError::Unproved(format!(
                "the latest checkpoint (size {}) is not signed by {}",
                record.size,
                verifier.name()
            ))
        })?;
    let size = i64::try_from(checkpoint.size).unwrap_or(i64::MAX);
    let selection = Selection {
        from: request.period.from,
        to: request.period.to,
        scope: &request.scope,
    };
    let (placed, left_out) = selection.count(&mut conn, size).await?;
    let header = Header {
        format: BUNDLE_FORMAT.to_owned(),
        vkey: verifier.to_vkey(),
        checkpoint: record.note.clone(),
        from: events::timestamp(request.period.from),
        to: events::timestamp(request.period.to),
        scope: request.scope.to_string(),
        events: u64::try_from(placed).unwrap_or(0),
        left_out: u64::try_from(left_out).unwrap_or(0),
        made_at: events::timestamp(crate::store::now_micros()),
    };
    writeln!(out, "{}", json(&header))?;
    let mut written = 0u64;
    let mut after = i64::MIN;
    loop {
        let page = selection.page(&mut conn, size, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for event in &page {
            let leaf = event.leaf.and_then(|l| u64::try_from(l).ok()).unwrap_or(0);
            let path = tree::inclusion_proof(&mut conn, leaf, checkpoint.size).await?;
            let entry = Entry::new(event, leaf, &path);
            entry.check(&checkpoint).map_err(|why| {
                ExportError::Unproved(format!("event {} (leaf {leaf}): {why}", event.seq))
            })?;
            writeln!(out, "{}", json(&entry))?;
            written += 1;
        }
        progress(written);
    }
    out.flush()?;
    if written != header.events {
        return Err(ExportError::Unproved(format!(
            "{} events were counted, {written} read: the log changed while it was exported",
            header.events
        )));
    }
    Ok(Summary {
        events: written,
        left_out: header.left_out,
        tree_size: checkpoint.size,
    })
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
