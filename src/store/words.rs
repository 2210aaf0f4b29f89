//! The word index over folded subjects (migration 0014; docs/AUDIT.md "Search"): which
//! documents hold each word, and how many. A word is what a folded subject ([`super::search::fold`])
//! has between spaces, punctuation included ("van," is a word of "cong van, quyet dinh").
//!
//! A search for words matches the folded subject as a substring (`LIKE`), so the index can only
//! narrow it down where that substring must hold whole words: every word of the query but the
//! first and the last is a word of the subject exactly, and the last is the start of one (the
//! first may be the end of one: it is not used). [`narrowing`] picks the rarest of those; the
//! `LIKE` still decides. Documents whose words are not indexed yet are always candidates.

use std::collections::{BTreeSet, HashMap};

use sqlx::{AnyConnection, Row};

use super::sql::{self, Style};
use super::StoreError;

/// Most words of one subject kept in the index (a subject is at most a few hundred words;
/// this bounds what one document can cost).
const MAX_WORDS: usize = 256;

/// A word of a search that the subject must hold: exactly, or as a word's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Needed {
    Word(String),
    Prefix(String),
}

/// What the index says about a search: the needed word that fewest documents hold, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narrowing {
    pub needed: Needed,
    pub documents: i64,
}

/// The distinct words of a folded subject.
pub fn words_of(folded: &str) -> BTreeSet<&str> {
    folded
        .split(' ')
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
        .collect()
}

/// The words a subject must hold to contain the folded `phrase`: all but the first exactly,
/// the last as a prefix. None for a phrase of one word (it may lie inside any word).
pub fn needed(phrase: &str) -> Vec<Needed> {
    let words: Vec<&str> = phrase.split(' ').filter(|w| !w.is_empty()).collect();
    if words.len() < 2 {
        return Vec::new();
    }
    let last = words.len() - 1;
    words[1..last]
        .iter()
        .map(|w| Needed::Word((*w).to_owned()))
        .chain(std::iter::once(Needed::Prefix(words[last].to_owned())))
        .collect()
}

/// The first string after every string that starts with `prefix` (byte order).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// The rarest of `needed` by the index's counts, or none when nothing is needed.
pub async fn narrowing(
    conn: &mut AnyConnection,
    needed: Vec<Needed>,
) -> Result<Option<Narrowing>, StoreError> {
    let mut best: Option<Narrowing> = None;
    for needed in needed {
        let row = match &needed {
            Needed::Word(word) => {
                sqlx::query(
                    "SELECT CAST(COALESCE(SUM(documents), 0) AS BIGINT) AS n FROM word_counts \
                     WHERE word = $1",
                )
                .bind(word.as_str())
                .fetch_one(&mut *conn)
                .await?
            }
            Needed::Prefix(prefix) => {
                sqlx::query(
                    "SELECT CAST(COALESCE(SUM(documents), 0) AS BIGINT) AS n FROM word_counts \
                     WHERE word >= $1 AND word < $2",
                )
                .bind(prefix.as_str())
                .bind(prefix_end(prefix))
                .fetch_one(&mut *conn)
                .await?
            }
        };
        let documents: i64 = row.try_get("n")?;
        let fewer = match &best {
            Some(best) => documents < best.documents,
            None => true,
        };
        if fewer {
            best = Some(Narrowing { needed, documents });
        }
    }
    Ok(best)
}

/// The documents that may match a search needing `needed`: those the index has it for, and
/// those not indexed yet — a `SELECT sender, document_id` for the search to join its
/// documents to (so that the few candidates drive the query, not a scan by time), with the
/// parameters it takes from `first` on, and their values. With `since`, only the documents
/// created then or later.
pub(crate) fn candidates(
    style: Style,
    needed: &Needed,
    first: usize,
    since: Option<i64>,
) -> (String, Vec<Candidate>) {
    let (condition, mut values) = match needed {
        Needed::Word(word) => (
            format!("w.word = {}", style.parameter(first)),
            vec![Candidate::Text(word.clone())],
        ),
        Needed::Prefix(prefix) => (
            format!(
                "w.word >= {} AND w.word < {}",
                style.parameter(first),
                style.parameter(first + 1)
            ),
            vec![
                Candidate::Text(prefix.clone()),
                Candidate::Text(prefix_end(prefix)),
            ],
        ),
    };
    let (posted, unindexed) = match since {
        Some(since) => {
            let (a, b) = (first + values.len(), first + values.len() + 1);
            values.extend([Candidate::Int(since), Candidate::Int(since)]);
            (
                format!(" AND w.created_at >= {}", style.parameter(a)),
                format!(" AND u.created_at >= {}", style.parameter(b)),
            )
        }
        None => (String::new(), String::new()),
    };
    (
        format!(
            "SELECT w.sender, w.document_id FROM document_words w WHERE {condition}{posted} \
             UNION SELECT u.sender, u.document_id FROM documents u WHERE u.words_indexed = 0\
             {unindexed}"
        ),
        values,
    )
}

/// A parameter of [`candidates`].
pub(crate) enum Candidate {
    Text(String),
    Int(i64),
}

/// A document whose words are to be indexed.
struct Unindexed {
    sender: String,
    document_id: String,
    created_at: i64,
    folded: String,
}

/// One posting of the index.
struct Posting<'a> {
    word: &'a str,
    document: &'a Unindexed,
}

/// Indexes the words of up to `limit` documents not indexed yet, oldest first (in the caller's
/// transaction); answers how many. On PostgreSQL the documents are locked and others skipped,
/// so that indexers of several nodes never count a document twice.
pub async fn index_some(conn: &mut AnyConnection, limit: i64) -> Result<usize, StoreError> {
    let locking = match Style::of(conn) {
        Style::Numbered => " FOR UPDATE SKIP LOCKED",
        Style::Anonymous => "",
    };
    let sql = format!(
        "SELECT sender, document_id, created_at, subject_folded FROM documents \
         WHERE words_indexed = 0 AND subject_folded IS NOT NULL ORDER BY created_at LIMIT $1{locking}"
    );
    let rows = sqlx::query(&sql).bind(limit).fetch_all(&mut *conn).await?;
    let documents = rows
        .iter()
        .map(|row| {
            Ok(Unindexed {
                sender: row.try_get("sender")?,
                document_id: row.try_get("document_id")?,
                created_at: row.try_get("created_at")?,
                folded: row.try_get("subject_folded")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut postings = Vec::new();
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for document in &documents {
        for word in words_of(&document.folded) {
            postings.push(Posting { word, document });
            *counts.entry(word).or_default() += 1;
        }
    }
    let head = "INSERT INTO document_words (word, created_at, sender, document_id)";
    sql::insert_rows(
        conn,
        head,
        " ON CONFLICT DO NOTHING",
        4,
        &postings,
        |query, p| {
            query
                .bind(p.word)
                .bind(p.document.created_at)
                .bind(p.document.sender.as_str())
                .bind(p.document.document_id.as_str())
        },
    )
    .await?;
    let counts: Vec<(&str, i64)> = counts.into_iter().collect();
    sql::insert_rows(
        conn,
        "INSERT INTO word_counts (word, documents)",
        " ON CONFLICT (word) DO UPDATE SET documents = word_counts.documents + excluded.documents",
        2,
        &counts,
        |query, (word, n)| query.bind(*word).bind(*n),
    )
    .await?;
    for document in &documents {
        sqlx::query(
            "UPDATE documents SET words_indexed = 1 WHERE sender = $1 AND document_id = $2",
        )
        .bind(document.sender.as_str())
        .bind(document.document_id.as_str())
        .execute(&mut *conn)
        .await?;
    }
    Ok(documents.len())
}

/// How many documents wait for their words to be indexed.
pub async fn unindexed(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM documents WHERE words_indexed = 0")
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get("n")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phrase_needs_its_inner_words_and_the_start_of_its_last() {
        assert!(needed("van").is_empty());
        assert_eq!(needed("cong van"), vec![Needed::Prefix("van".into())]);
        assert_eq!(
            needed("tet nguyen dan ke hoach"),
            vec![
                Needed::Word("nguyen".into()),
                Needed::Word("dan".into()),
                Needed::Word("ke".into()),
                Needed::Prefix("hoach".into()),
            ]
        );
        assert_eq!(
            words_of("cong van, quyet dinh cong van")
                .into_iter()
                .collect::<Vec<_>>(),
            vec!["cong", "dinh", "quyet", "van", "van,"]
        );
    }
}
