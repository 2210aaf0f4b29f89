//! `audit export`: writes a bundle ([`super::bundle`]) of the events of a period and scope,
//! each with its inclusion proof in the tree of the latest checkpoint. The export checks what
//! it writes — the checkpoint's signature, every proof against the signed root — so a
//! database that no longer proves its events gives an error here, not a bundle that fails
//! later in an auditor's hands.

use std::io::Write;

use sqlx::pool::PoolConnection;
use sqlx::Any;

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
    let mut export = Export::start(store, verifier, request.clone()).await?;
    out.write_all(&export.header_line())?;
    while let Some(page) = export.next_page().await? {
        out.write_all(&page)?;
        progress(export.written);
    }
    out.flush()?;
    Ok(export.summary())
}

/// A bundle being made, page by page: the header line first, then up to [`PAGE`] events a
/// page, each checked against the checkpoint before it is given out — so a bundle can be sent
/// as it is made (`GET /v1/audit/export`) without being held in memory. The header counts the
/// events: a bundle cut short by an error never verifies.
pub struct Export {
    conn: PoolConnection<Any>,
    request: Request,
    checkpoint: Checkpoint,
    header: Header,
    /// The tree size the proofs are made in, as the database counts.
    size: i64,
    /// The last event number given out.
    after: i64,
    written: u64,
    finished: bool,
}

impl Export {
    /// Reads and checks the latest checkpoint and counts the events to export.
    pub async fn start(
        store: &Store,
        verifier: &NoteVerifier,
        request: Request,
    ) -> Result<Export, ExportError> {
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
        let (placed, left_out) = selection(&request).count(&mut conn, size).await?;
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
        Ok(Export {
            conn,
            request,
            checkpoint,
            header,
            size,
            after: i64::MIN,
            written: 0,
            finished: false,
        })
    }

    /// The bundle's first line.
    pub fn header_line(&self) -> Vec<u8> {
        let mut line = json(&self.header).into_bytes();
        line.push(b'\n');
        line
    }

    /// The next page of event lines, each proved in the checkpoint's tree; none after the
    /// last (once the events read are checked against the header's count).
    pub async fn next_page(&mut self) -> Result<Option<Vec<u8>>, ExportError> {
        if self.finished {
            return Ok(None);
        }
        let page = selection(&self.request)
            .page(&mut self.conn, self.size, self.after, PAGE)
            .await?;
        let Some(last) = page.last() else {
            self.finished = true;
            if self.written != self.header.events {
                return Err(ExportError::Unproved(format!(
                    "{} events were counted, {} read: the log changed while it was exported",
                    self.header.events, self.written
                )));
            }
            return Ok(None);
        };
        self.after = last.seq;
        let mut lines = Vec::with_capacity(page.len() * 1024);
        for event in &page {
            let leaf = event.leaf.and_then(|l| u64::try_from(l).ok()).unwrap_or(0);
            let path = tree::inclusion_proof(&mut self.conn, leaf, self.checkpoint.size).await?;
            let entry = Entry::new(event, leaf, &path);
            entry.check(&self.checkpoint).map_err(|why| {
                ExportError::Unproved(format!("event {} (leaf {leaf}): {why}", event.seq))
            })?;
            lines.extend_from_slice(json(&entry).as_bytes());
            lines.push(b'\n');
            self.written += 1;
        }
        Ok(Some(lines))
    }

    /// What was written so far.
    pub fn summary(&self) -> Summary {
        Summary {
            events: self.written,
            left_out: self.header.left_out,
            tree_size: self.checkpoint.size,
        }
    }
}

fn selection(request: &Request) -> Selection<'_> {
    Selection {
        from: request.period.from,
        to: request.period.to,
        scope: &request.scope,
    }
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
