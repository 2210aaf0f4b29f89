//! Document search for auditors and agencies (`GET /v1/audit/documents`): an agency searches
//! its own documents; an auditor those of its scope, or of one agency in it. What a hit shows
//! of its recipients is what the reader's agencies would see: all of them for the sender, else
//! only the reader's own.

use std::collections::HashSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;

use crate::store::scope::{self, Scope};
use crate::store::search::{self, Cursor, Direction, DocumentHit, DocumentQuery, Party};
use crate::store::{events, Store};

use super::proofs::AuditError;

/// Who searches.
#[derive(Debug, Clone, Copy)]
pub enum Searcher<'a> {
    Agency(&'a str),
    Auditor(&'a Scope),
}

/// What was asked, as the route read it.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    pub agency: Option<String>,
    pub direction: Option<String>,
    pub period: Option<(i64, i64)>,
    pub q: Option<String>,
    pub notation: Option<String>,
    pub status: Option<String>,
    pub overdue: Option<bool>,
    pub after: Option<String>,
    pub limit: i64,
}

/// A page of documents.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Found {
    pub documents: Vec<FoundDocument>,
    /// Give it as `after` for the next page; none at the end.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FoundDocument {
    pub sender: String,
    pub document_id: String,
    pub subject: String,
    pub notation: Option<String>,
    pub priority: Option<i64>,
    pub due_date: Option<String>,
    pub created_at: String,
    pub recipients: Vec<FoundRecipient>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FoundRecipient {
    pub agency: String,
    pub state: String,
}

/// Searches as `searcher` may.
pub async fn documents(
    store: &Store,
    searcher: Searcher<'_>,
    ask: &Ask,
) -> Result<Found, AuditError> {
    let mut conn = store.acquire().await?;
    let party = match (searcher, ask.agency.as_deref()) {
        (Searcher::Agency(me), None) => Party::Agency(me.to_owned()),
        (Searcher::Agency(me), Some(asked)) if asked == me => Party::Agency(me.to_owned()),
        (Searcher::Auditor(scope), None) => Party::Scope(scope.clone()),
        (Searcher::Auditor(scope), Some(asked))
            if !scope::within(&mut conn, scope, &[asked]).await?.is_empty() =>
        {
            Party::Agency(asked.to_owned())
        }
        (_, Some(asked)) => return Err(AuditError::OutOfScope(asked.to_owned())),
    };
    let direction = match ask.direction.as_deref() {
        None | Some("") => Direction::Either,
        Some("sent") => Direction::Sent,
        Some("received") => Direction::Received,
        Some(other) => {
            return Err(AuditError::BadRange(format!(
                "direction={other}: give sent or received"
            )))
        }
    };
    let before = ask.after.as_deref().map(read_cursor).transpose()?;
    let query = DocumentQuery {
        party: party.clone(),
        direction,
        period: ask.period,
        words: ask.q.clone(),
        notation: ask.notation.clone(),
        state: ask.status.clone(),
        overdue: ask.overdue,
        before,
        limit: ask.limit,
    };
    let hits = search::documents(&mut conn, &query).await?;
    let seen = seen_agencies(&mut conn, &party, &hits).await?;
    let next = match i64::try_from(hits.len()) {
        Ok(n) if n == ask.limit => hits.last().map(write_cursor),
        _ => None,
    };
    let documents = hits.into_iter().map(|hit| shown(hit, &seen)).collect();
    Ok(Found { documents, next })
}

/// The agencies whose view the reader has, among the page's senders and recipients; `None`
/// for every agency.
async fn seen_agencies(
    conn: &mut sqlx::AnyConnection,
    party: &Party,
    hits: &[DocumentHit],
) -> Result<Option<HashSet<String>>, AuditError> {
    Ok(match party {
        Party::Agency(code) => Some(HashSet::from([code.clone()])),
        Party::Scope(Scope::All) => None,
        Party::Scope(scope) => {
            let mut codes: Vec<&str> = hits
                .iter()
                .flat_map(|h| {
                    std::iter::once(h.sender.as_str())
                        .chain(h.recipients.iter().map(|(r, _)| r.as_str()))
                })
                .collect();
            codes.sort_unstable();
            codes.dedup();
            Some(
                scope::within(conn, scope, &codes)
                    .await?
                    .into_iter()
                    .collect(),
            )
        }
    })
}

fn shown(hit: DocumentHit, seen: &Option<HashSet<String>>) -> FoundDocument {
    let all = seen.as_ref().map_or(true, |s| s.contains(&hit.sender));
    FoundDocument {
        recipients: hit
            .recipients
            .into_iter()
            .filter(|(r, _)| all || seen.as_ref().is_some_and(|s| s.contains(r)))
            .map(|(agency, state)| FoundRecipient { agency, state })
            .collect(),
        created_at: events::timestamp(hit.created_at),
        sender: hit.sender,
        document_id: hit.document_id,
        subject: hit.subject,
        notation: hit.notation,
        priority: hit.priority,
        due_date: hit.due_date,
    }
}

fn write_cursor(hit: &DocumentHit) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}\n{}\n{}",
        hit.created_at, hit.sender, hit.document_id
    ))
}

fn read_cursor(text: &str) -> Result<Cursor, AuditError> {
    let bad = || AuditError::BadRange(format!("after={text}: not a cursor this search gave"));
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '\n');
    let created_at = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let sender = parts.next().ok_or_else(bad)?.to_owned();
    let document_id = parts.next().ok_or_else(bad)?.to_owned();
    Ok(Cursor {
        created_at,
        sender,
        document_id,
    })
}
