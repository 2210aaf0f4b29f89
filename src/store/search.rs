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
use super::words::{self, Needed};
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

    /// `WHERE` and the terms, or nothing.
    fn filter(&self) -> String {
        match self.terms.is_empty() {
            true => String::new(),
            false => format!("WHERE {}", self.terms.join(" AND ")),
        }
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

/// The newest documents a wide scope's search reads first (see [`newest_first`]).
const WINDOW: i64 = 5_000;

/// Where a statement reads its documents from.
enum Source<'a> {
    /// The documents table, as the engine sees fit.
    Documents,
    /// The documents table newest first (SQLite is told to use the time index).
    ByTime,
    /// The documents the word index has `needed` for, and those not indexed yet — created at
    /// or after the time given, if one is.
    Candidates(&'a Needed, Option<i64>),
}

/// A bound on the documents' time, beside the query's own period.
#[derive(Clone, Copy)]
enum Since {
    Any,
    AtLeast(i64),
    Before(i64),
}

/// The page of documents `query` finds, newest first.
pub async fn documents(
    conn: &mut AnyConnection,
    query: &DocumentQuery,
) -> Result<Vec<DocumentHit>, StoreError> {
    let words = query.words.as_deref().map(fold).filter(|w| !w.is_empty());
    let narrowing = match &words {
        Some(words) => words::narrowing(conn, words::needed(words)).await?,
        None => None,
    };
    let words = words.as_deref();
    let mut hits = match (&query.party, narrowing) {
        // A rare word: its few documents, whoever asks.
        (_, Some(rare)) if rare.documents <= RARE => {
            let source = Source::Candidates(&rare.needed, None);
            read(conn, query, words, source, Since::Any, query.limit).await?
        }
        (Party::Scope(Scope::Subtree(_)), common) => {
            newest_first(conn, query, words, common.map(|c| c.needed)).await?
        }
        _ => {
            let source = Source::Documents;
            read(conn, query, words, source, Since::Any, query.limit).await?
        }
    };
    add_recipients(conn, &mut hits).await?;
    Ok(hits)
}

/// A scope of many agencies: gathering every document they sent or received and sorting them
/// (~16,000 for a province of a 1,000,000-letter month, 100–150 ms) is slow when the page is
/// among the newest. So the newest [`WINDOW`] rows of a driver are read first — the documents
/// by time, or the postings of a common word the phrase needs whole — and only when they do
/// not fill the page are the scope's older documents gathered. Both parts together are the
/// same answer as one statement: the first has every match at or after the window's start,
/// the second every match before it.
async fn newest_first(
    conn: &mut AnyConnection,
    query: &DocumentQuery,
    words: Option<&str>,
    common: Option<Needed>,
) -> Result<Vec<DocumentHit>, StoreError> {
    let word = match &common {
        Some(Needed::Word(word)) => Some(word.as_str()),
        _ => None,
    };
    let start = window_start(conn, query, word).await?;
    let source = match &common {
        Some(needed @ Needed::Word(_)) => Source::Candidates(needed, start),
        _ => Source::ByTime,
    };
    let since = start.map_or(Since::Any, Since::AtLeast);
    let mut hits = read(conn, query, words, source, since, query.limit).await?;
    let left = query.limit - hits.len() as i64;
    if let (Some(start), true) = (start, left > 0) {
        let older = Since::Before(start);
        hits.extend(read(conn, query, words, Source::Documents, older, left).await?);
    }
    Ok(hits)
}

/// The time of the [`WINDOW`]th newest document (or posting of `word`) within the query's
/// period and before its cursor; none when there are fewer.
async fn window_start(
    conn: &mut AnyConnection,
    query: &DocumentQuery,
    word: Option<&str>,
) -> Result<Option<i64>, StoreError> {
    let mut b = Builder {
        style: Style::of(conn),
        terms: Vec::new(),
        values: Vec::new(),
    };
    let table = match word {
        Some(word) => {
            let p = b.param(Value::Text(word.to_owned()));
            b.terms.push(format!("word = {p}"));
            "document_words"
        }
        None => "documents",
    };
    if let Some((from, to)) = query.period {
        let (from, to) = (b.param(Value::Int(from)), b.param(Value::Int(to)));
        b.terms
            .push(format!("created_at >= {from} AND created_at < {to}"));
    }
    if let Some(cursor) = &query.before {
        let at = b.param(Value::Int(cursor.created_at));
        b.terms.push(format!("created_at <= {at}"));
    }
    let text = format!(
        "SELECT created_at FROM {table} {} ORDER BY created_at DESC LIMIT 1 OFFSET {}",
        b.filter(),
        WINDOW - 1
    );
    let row = bind_all(sqlx::query(&text), &b.values)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get("created_at")).transpose()?)
}

fn bind_all<'q>(mut query: AnyQuery<'q>, values: &'q [Value]) -> AnyQuery<'q> {
    for value in values {
        query = match value {
            Value::Text(t) => query.bind(t.as_str()),
            Value::Int(n) => query.bind(*n),
        };
    }
    query
}

/// One statement of a search: `query`'s matches among `source`'s documents within `since`,
/// newest first, at most `limit` (their recipients not filled yet).
async fn read(
    conn: &mut AnyConnection,
    query: &DocumentQuery,
    words: Option<&str>,
    source: Source<'_>,
    since: Since,
    limit: i64,
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
    let from = match source {
        Source::Documents => "documents d".to_owned(),
        Source::ByTime => match b.style {
            Style::Anonymous => "documents d INDEXED BY documents_by_time".to_owned(),
            Style::Numbered => "documents d".to_owned(),
        },
        Source::Candidates(needed, since) => narrowed(&mut b, needed, since),
    };
    b.party_terms(query);
    match since {
        Since::Any => {}
        Since::AtLeast(at) => {
            let p = b.param(Value::Int(at));
            b.terms.push(format!("d.created_at >= {p}"));
        }
        Since::Before(at) => {
            let p = b.param(Value::Int(at));
            b.terms.push(format!("d.created_at < {p}"));
        }
    }
    b.filter_terms(query, words);
    let limit = b.param(Value::Int(limit));
    let filter = b.filter();
    let text = format!(
        "{cte}SELECT d.sender, d.document_id, d.subject, d.notation, d.priority, d.due_date, \
         d.created_at FROM {from} {filter} ORDER BY d.created_at DESC, d.sender DESC, \
         d.document_id DESC LIMIT {limit}"
    );
    let rows = bind_all(sqlx::query(&text), &b.values)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
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
        .collect()
}

impl Builder {
    /// Whose documents: the party's, on the query's side.
    fn party_terms(&mut self, query: &DocumentQuery) {
        if matches!(query.party, Party::Scope(Scope::All)) {
            return;
        }
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
            Direction::Sent => sent(self),
            Direction::Received => received(self),
            Direction::Either => {
                let sent = sent(self);
                format!("({sent} OR {})", received(self))
            }
        };
        self.terms.push(term);
    }

    /// The query's other conditions: period, subject words, notation, state, overdue, cursor.
    fn filter_terms(&mut self, query: &DocumentQuery, words: Option<&str>) {
        if let Some((from, to)) = query.period {
            let (from, to) = (self.param(Value::Int(from)), self.param(Value::Int(to)));
            self.terms
                .push(format!("d.created_at >= {from} AND d.created_at < {to}"));
        }
        if let Some(words) = words {
            let p = self.param(Value::Text(contains(words)));
            self.terms
                .push(format!("d.subject_folded LIKE {p} ESCAPE '{ESCAPE}'"));
        }
        if let Some(notation) = query.notation.as_deref().filter(|n| !n.is_empty()) {
            let p = self.param(Value::Text(contains(notation)));
            self.terms
                .push(format!("d.notation LIKE {p} ESCAPE '{ESCAPE}'"));
        }
        if let Some(state) = &query.state {
            let p = self.param(Value::Text(state.clone()));
            self.terms.push(format!(
                "EXISTS (SELECT 1 FROM recipient_states r WHERE r.sender = d.sender AND \
                 r.document_id = d.document_id AND r.state = {p})"
            ));
        }
        if let Some(overdue) = query.overdue {
            let exists = "EXISTS (SELECT 1 FROM deliveries dl WHERE dl.packet_id = \
                 d.first_packet_id AND (dl.ack_overdue_at IS NOT NULL OR \
                 dl.handling_overdue_at IS NOT NULL))";
            self.terms.push(match overdue {
                true => exists.to_owned(),
                false => format!("NOT {exists}"),
            });
        }
        if let Some(cursor) = &query.before {
            let at = self.param(Value::Int(cursor.created_at));
            let at_again = self.param(Value::Int(cursor.created_at));
            let sender = self.param(Value::Text(cursor.sender.clone()));
            let sender_again = self.param(Value::Text(cursor.sender.clone()));
            let id = self.param(Value::Text(cursor.document_id.clone()));
            self.terms.push(format!(
                "(d.created_at < {at} OR (d.created_at = {at_again} AND (d.sender < {sender} OR \
                 (d.sender = {sender_again} AND d.document_id < {id}))))"
            ));
        }
    }
}

/// The `FROM` of a search whose candidates are the documents the word index has `needed` for
/// (and those not indexed yet): a few thousand index entries instead of every subject read
/// newest first.
fn narrowed(b: &mut Builder, needed: &Needed, since: Option<i64>) -> String {
    let (candidates, values) = words::candidates(b.style, needed, b.values.len() + 1, since);
    b.values.extend(values.into_iter().map(|v| match v {
        words::Candidate::Text(t) => Value::Text(t),
        words::Candidate::Int(n) => Value::Int(n),
    }));
    // SQLite joins in the order written with CROSS JOIN: the candidates first.
    let join = match b.style {
        Style::Anonymous => "CROSS JOIN",
        Style::Numbered => "JOIN",
    };
    format!("({candidates}) c {join} documents d ON d.sender = c.sender AND d.document_id = c.document_id")
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
