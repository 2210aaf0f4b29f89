//! Finding documents (migration 0011; `GET /v1/audit/documents`): by agency or scope and
//! direction, period, subject words without diacritics, notation, recipient state, overdue —
//! newest first, a page at a time with a cursor. One SQL text for both engines (but for the
//! join that makes SQLite start from the word index's candidates): the subject is matched on
//! its folded form ([`fold`]), kept beside it when the document is stored; a rare word narrows
//! the documents read to those the word index (`words`, migration 0014) has it for.

use sqlx::{AnyConnection, Row};
use unicode_normalization::UnicodeNormalization as _;

use super::scope::Scope;
use super::sql::{self, AnyQuery, Style};
use super::words;
use super::StoreError;

/// `text` as searches compare it: lower case, without diacritics (NFD, combining marks
/// dropped; `đ` and `Đ` as `d`), every run of white space one space, trimmed. "Đảng ủy" and
/// "dang  UY" both fold to "dang uy", whether the text came precomposed or decomposed.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.nfd() {
        if ('\u{300}'..='\u{36f}').contains(&c) {
            continue;
        }
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        match c {
            'đ' | 'Đ' => out.push('d'),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Whose documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    /// One agency.
    Agency(String),
    /// The agencies of a scope.
    Scope(Scope),
}

/// Which side of the documents the party is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
    /// Sent or received.
    Either,
}

/// Where a page ends: the last document's time, sender and DocumentId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub sender: String,
    pub document_id: String,
}

/// A search.
#[derive(Debug, Clone)]
pub struct DocumentQuery {
    pub party: Party,
    pub direction: Direction,
    /// `[from, to)`, microseconds.
    pub period: Option<(i64, i64)>,
    /// Subject words, folded by the caller or not (they are folded here).
    pub words: Option<String>,
    /// Part of the notation (số/ký hiệu), as printed.
    pub notation: Option<String>,
    /// A recipient state (`01` … `06`, `submitted`, `delivered`, …).
    pub state: Option<String>,
    /// Only documents with an overdue delivery (true), or with none (false).
    pub overdue: Option<bool>,
    pub before: Option<Cursor>,
    pub limit: i64,
}

/// A document found, with its recipients and their states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentHit {
    pub sender: String,
    pub document_id: String,
    pub subject: String,
    pub notation: Option<String>,
    pub priority: Option<i64>,
    pub due_date: Option<String>,
    pub created_at: i64,
    pub recipients: Vec<(String, String)>,
}

/// Parameters as the query builds them, bound in order.
enum Value {
    Text(String),
    Int(i64),
}

struct Builder {
    style: Style,
    terms: Vec<String>,
    values: Vec<Value>,
}

impl Builder {
    /// The next parameter, bound to `value`.
    fn param(&mut self, value: Value) -> String {
        self.values.push(value);
        self.style.parameter(self.values.len())
    }

    /// The agencies of `party`, as SQL that a column is compared with: `= $n` or `IN (…)`.
    fn party(&mut self, party: &Party) -> Option<String> {
        match party {
            Party::Agency(code) => Some(format!("= {}", self.param(Value::Text(code.clone())))),
            Party::Scope(Scope::All) => None,
            Party::Scope(Scope::Subtree(_)) => Some("IN (SELECT code FROM scope)".to_owned()),
        }
    }
}

const ESCAPE: char = '\\';

/// A needed word held by at most this many documents is looked up in the word index.
const RARE: i64 = 5_000;

/// `%text%` for LIKE, with `%`, `_` and the escape character escaped.
fn contains(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | ESCAPE) {
            pattern.push(ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The page of documents `query` finds, newest first.
pub async fn documents(
    conn: &mut AnyConnection,
    query: &DocumentQuery,
) -> Result<Vec<DocumentHit>, StoreError> {
    let mut b = Builder {
        style: Style::of(conn),
        terms: Vec::new(),
        values: Vec::new(),
    };
    // The scope's root is the first parameter when the scope's agencies are needed.
    let cte = match &query.party {
        Party::Scope(scope @ Scope::Subtree(root)) => {
            b.values.push(Value::Text(root.clone()));
            scope.cte(1).replace("$1", &b.style.parameter(1))
        }
        _ => String::new(),
    };
    let words = query.words.as_deref().map(fold).filter(|w| !w.is_empty());
    let from = match &words {
        Some(words) => narrowed(conn, &mut b, words).await?,
        None => None,
    }
    .unwrap_or_else(|| "documents d".to_owned());
    if !matches!(query.party, Party::Scope(Scope::All)) {
        let sent =
            |b: &mut Builder| format!("d.sender {}", b.party(&query.party).unwrap_or_default());
        let received = |b: &mut Builder| {
            format!(
                "(d.sender, d.document_id) IN (SELECT r.sender, r.document_id FROM \
                 recipient_states r WHERE r.recipient {})",
                b.party(&query.party).unwrap_or_default()
            )
        };
        let term = match query.direction {
            Direction::Sent => sent(&mut b),
            Direction::Received => received(&mut b),
            Direction::Either => {
                let sent = sent(&mut b);
                format!("({sent} OR {})", received(&mut b))
            }
        };
        b.terms.push(term);
    }
    if let Some((from, to)) = query.period {
        let (from, to) = (b.param(Value::Int(from)), b.param(Value::Int(to)));
        b.terms
            .push(format!("d.created_at >= {from} AND d.created_at < {to}"));
    }
    if let Some(words) = &words {
        let p = b.param(Value::Text(contains(words)));
        b.terms
            .push(format!("d.subject_folded LIKE {p} ESCAPE '{ESCAPE}'"));
    }
    if let Some(notation) = query.notation.as_deref().filter(|n| !n.is_empty()) {
        let p = b.param(Value::Text(contains(notation)));
        b.terms
            .push(format!("d.notation LIKE {p} ESCAPE '{ESCAPE}'"));
    }
    if let Some(state) = &query.state {
        let p = b.param(Value::Text(state.clone()));
        b.terms.push(format!(
            "EXISTS (SELECT 1 FROM recipient_states r WHERE r.sender = d.sender AND \
             r.document_id = d.document_id AND r.state = {p})"
        ));
    }
    if let Some(overdue) = query.overdue {
        let exists = "EXISTS (SELECT 1 FROM deliveries dl WHERE dl.packet_id = d.first_packet_id \
             AND (dl.ack_overdue_at IS NOT NULL OR dl.handling_overdue_at IS NOT NULL))";
        b.terms.push(match overdue {
            true => exists.to_owned(),
            false => format!("NOT {exists}"),
        });
    }
    if let Some(cursor) = &query.before {
        let at = b.param(Value::Int(cursor.created_at));
        let at_again = b.param(Value::Int(cursor.created_at));
        let sender = b.param(Value::Text(cursor.sender.clone()));
        let sender_again = b.param(Value::Text(cursor.sender.clone()));
        let id = b.param(Value::Text(cursor.document_id.clone()));
        b.terms.push(format!(
            "(d.created_at < {at} OR (d.created_at = {at_again} AND (d.sender < {sender} OR \
             (d.sender = {sender_again} AND d.document_id < {id}))))"
        ));
    }
    let limit = b.param(Value::Int(query.limit));
    let filter = match b.terms.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", b.terms.join(" AND ")),
    };
    let text = format!(
        "{cte}SELECT d.sender, d.document_id, d.subject, d.notation, d.priority, d.due_date, \
         d.created_at FROM {from} {filter} ORDER BY d.created_at DESC, d.sender DESC, \
         d.document_id DESC LIMIT {limit}"
    );
    let mut sqlq: AnyQuery<'_> = sqlx::query(&text);
    for value in &b.values {
        sqlq = match value {
            Value::Text(t) => sqlq.bind(t.as_str()),
            Value::Int(n) => sqlq.bind(*n),
        };
    }
    let rows = sqlq.fetch_all(&mut *conn).await?;
    let mut hits = rows
        .iter()
        .map(|row| {
            Ok(DocumentHit {
                sender: row.try_get("sender")?,
                document_id: row.try_get("document_id")?,
                subject: row.try_get("subject")?,
                notation: row.try_get("notation")?,
                priority: row.try_get("priority")?,
                due_date: row.try_get("due_date")?,
                created_at: row.try_get("created_at")?,
                recipients: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    add_recipients(conn, &mut hits).await?;
    Ok(hits)
}

/// The `FROM` of a search for `words` when one of the words it needs is rare: the documents
/// the word index has it for (and those not indexed yet), joined to their rows — a few thousand
/// index entries instead of every subject read newest first. None for common words: newest
/// first, their matches come soon enough.
async fn narrowed(
    conn: &mut AnyConnection,
    b: &mut Builder,
    words: &str,
) -> Result<Option<String>, StoreError> {
    let Some(rare) = words::narrowing(conn, words::needed(words))
        .await?
        .filter(|n| n.documents <= RARE)
    else {
        return Ok(None);
    };
    let (candidates, values) = words::candidates(b.style, &rare.needed, b.values.len() + 1);
    b.values.extend(values.into_iter().map(Value::Text));
    // SQLite joins in the order written with CROSS JOIN: the candidates first.
    let join = match b.style {
        Style::Anonymous => "CROSS JOIN",
        Style::Numbered => "JOIN",
    };
    Ok(Some(format!(
        "({candidates}) c {join} documents d ON d.sender = c.sender AND d.document_id = c.document_id"
    )))
}

/// Fills each hit's recipients and their states.
async fn add_recipients(
    conn: &mut AnyConnection,
    hits: &mut [DocumentHit],
) -> Result<(), StoreError> {
    let style = Style::of(conn);
    let keys: Vec<(&str, &str)> = hits
        .iter()
        .map(|h| (h.sender.as_str(), h.document_id.as_str()))
        .collect();
    let mut found: Vec<(String, String, String, String)> = Vec::new();
    for chunk in sql::chunks(&keys) {
        let text = format!(
            "SELECT sender, document_id, recipient, state FROM recipient_states WHERE \
             (sender, document_id) IN ({}) ORDER BY recipient",
            style.values_list(chunk.len(), 2)
        );
        let mut q = sqlx::query(&text);
        for (sender, id) in chunk {
            q = q.bind(*sender).bind(*id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            found.push((
                row.try_get("sender")?,
                row.try_get("document_id")?,
                row.try_get("recipient")?,
                row.try_get("state")?,
            ));
        }
    }
    for hit in hits.iter_mut() {
        hit.recipients = found
            .iter()
            .filter(|(s, d, _, _)| *s == hit.sender && *d == hit.document_id)
            .map(|(_, _, r, st)| (r.clone(), st.clone()))
            .collect();
    }
    Ok(())
}

/// Folds the subjects of documents stored before the folded form was kept; answers how many.
/// Found through the partial index `documents_unfolded` (migration 0013), empty once done, so
/// this costs nothing on an ordinary start.
pub async fn backfill(conn: &mut AnyConnection) -> Result<u64, StoreError> {
    let mut done = 0u64;
    loop {
        let rows = sqlx::query(
            "SELECT sender, document_id, subject FROM documents WHERE subject_folded IS NULL \
             LIMIT 1000",
        )
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(done);
        }
        for row in &rows {
            let subject: String = row.try_get("subject")?;
            sqlx::query(
                "UPDATE documents SET subject_folded = $1 WHERE sender = $2 AND document_id = $3",
            )
            .bind(fold(&subject))
            .bind(row.try_get::<String, _>("sender")?)
            .bind(row.try_get::<String, _>("document_id")?)
            .execute(&mut *conn)
            .await?;
            done += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_diacritics_case_and_extra_spaces() {
        assert_eq!(fold("Công văn"), "cong van");
        assert_eq!(
            fold("Đảng ủy  tỉnh\tQuảng Ninh "),
            "dang uy tinh quang ninh"
        );
        // Decomposed input (NFD) folds the same.
        let decomposed: String = "Công văn Đảng ủy".nfd().collect();
        assert_eq!(fold(&decomposed), "cong van dang uy");
        assert_eq!(fold("  THƯỢNG KHẨN  "), "thuong khan");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
