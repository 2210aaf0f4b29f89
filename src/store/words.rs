//! The word index over folded subjects (migrations 0014, 0016; docs/AUDIT.md "Search"): which
//! documents hold each word and each pair of neighbouring words, and how many. A word is what a
//! folded subject ([`super::search::fold`]) has between spaces, punctuation included ("van," is
//! a word of "cong van, quyet dinh"); a pair is two neighbours with their space ("cong van,").
//! Vietnamese writes a word as syllables between spaces ("kế hoạch" is two), and the common
//! syllables are in a large share of all subjects; their pairs are far rarer ("ke hoach" is
//! common, "dan ke" is not), so pairs are what narrows a phrase of common syllables.
//!
//! A search for words matches the folded subject as a substring (`LIKE`), so the index can only
//! narrow it down where that substring must hold whole words: every word of the query but the
//! first and the last is a word of the subject exactly, and the last is the start of one (the
//! first may be the end of one: it is not used); so every pair of those inner words is a pair
//! of the subject, and the last inner word with the last starts one. [`narrowing`] picks the
//! rarest of those; the `LIKE` still decides. Documents whose words are not indexed yet are
//! always candidates.

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

/// The distinct words of a folded subject and the pairs of neighbouring words (each a slice
/// of the subject: a folded text has one space between words).
pub fn words_of(folded: &str) -> BTreeSet<&str> {
    let mut terms = BTreeSet::new();
    let mut previous: Option<&str> = None;
    for word in words_in(folded).take(MAX_WORDS) {
        terms.insert(word);
        if let Some(before) = previous {
            terms.insert(span(folded, before, word));
        }
        previous = Some(word);
    }
    terms
}

/// The words of a folded text, as slices of it.
fn words_in(folded: &str) -> impl Iterator<Item = &str> {
    folded.split(' ').filter(|w| !w.is_empty())
}

/// The slice of `text` from the start of `first` to the end of `last` (both slices of it).
fn span<'t>(text: &'t str, first: &str, last: &str) -> &'t str {
    let start = first.as_ptr() as usize - text.as_ptr() as usize;
    let end = last.as_ptr() as usize - text.as_ptr() as usize + last.len();
    &text[start..end]
}

/// The words and pairs a subject must hold to contain the folded `phrase`: all its words but
/// the first exactly, the last as a prefix; the pairs of those, and the last two words as the
/// start of a pair. None for a phrase of one word (it may lie inside any word).
pub fn needed(phrase: &str) -> Vec<Needed> {
    let words: Vec<&str> = words_in(phrase).collect();
    if words.len() < 2 {
        return Vec::new();
    }
    let last = words.len() - 1;
    let inner = &words[1..last];
    let mut needed: Vec<Needed> = inner
        .iter()
        .map(|w| Needed::Word((*w).to_owned()))
        .collect();
    needed.push(Needed::Prefix(words[last].to_owned()));
    needed.extend(
        inner
            .windows(2)
            .map(|p| Needed::Word(format!("{} {}", p[0], p[1]))),
    );
    if let Some(before) = inner.last() {
        needed.push(Needed::Prefix(format!("{before} {}", words[last])));
    }
    needed
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

/// The documents [`index_some`] indexes: not indexed yet, with a subject.
const UNINDEXED: &str = "words_indexed = 0 AND subject_folded IS NOT NULL";

/// Whether any document waits for [`index_some`]; read on any connection.
pub async fn any_unindexed(conn: &mut AnyConnection) -> Result<bool, StoreError> {
    let sql = format!("SELECT 1 AS waiting FROM documents WHERE {UNINDEXED} LIMIT 1");
    Ok(sqlx::query(&sql)
        .fetch_optional(&mut *conn)
        .await?
        .is_some())
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
         WHERE {UNINDEXED} ORDER BY created_at LIMIT $1{locking}"
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
                Needed::Word("nguyen dan".into()),
                Needed::Word("dan ke".into()),
                Needed::Prefix("ke hoach".into()),
            ]
        );
        assert_eq!(
            needed("cong van so"),
            vec![
                Needed::Word("van".into()),
                Needed::Prefix("so".into()),
                Needed::Prefix("van so".into()),
            ]
        );
        assert_eq!(
            words_of("cong van, quyet dinh cong van")
                .into_iter()
                .collect::<Vec<_>>(),
            vec![
                "cong",
                "cong van",
                "cong van,",
                "dinh",
                "dinh cong",
                "quyet",
                "quyet dinh",
                "van",
                "van,",
                "van, quyet"
            ]
        );
    }
}
