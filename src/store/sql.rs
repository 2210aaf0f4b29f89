//! Pieces of SQL text shared by the repositories for multi-row statements: parameter lists and
//! the sizes statements are cut into.
//!
//! Two costs shape them, both measured on SQLite under load (docs/PERFORMANCE.md):
//! - SQLite looks a numbered parameter (`$7`) up by a linear scan of the statement's parameter
//!   names, so binding a statement of n numbered parameters costs n² string comparisons (a
//!   1,100-parameter insert spent more time binding than inserting). Anonymous `?` parameters
//!   are bound by position in O(1); PostgreSQL only knows `$n`. So lists are written in the
//!   style of the connection's engine.
//! - A statement's text is prepared once per connection and cached, but only if it recurs: rows
//!   are cut into chunks of 32, 16, 8, 4, 2 and 1 (a handful of texts per table), not into
//!   whatever a batch happens to hold.

use sqlx::AnyConnection;

/// Rows per multi-row statement at most: far below both engines' limits on parameters
/// (SQLite 32,766, PostgreSQL 65,535) for tables of up to a dozen columns.
pub(crate) const MAX_ROWS_PER_STATEMENT: usize = 32;

/// How parameters are written in a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `?`, bound in order of appearance (SQLite).
    Anonymous,
    /// `$1, $2, …` (PostgreSQL).
    Numbered,
}

impl Style {
    /// The style for `conn`'s engine.
    pub(crate) fn of(conn: &AnyConnection) -> Style {
        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
            Style::Anonymous
        } else {
            Style::Numbered
        }
    }

    /// The `n`th parameter (from 1).
    pub(crate) fn parameter(self, n: usize) -> String {
        match self {
            Style::Anonymous => "?".to_owned(),
            Style::Numbered => format!("${n}"),
        }
    }

    /// `count` parameters from the `first`th, comma-separated: an `IN (…)` list.
    pub(crate) fn parameters(self, first: usize, count: usize) -> String {
        let mut text = String::with_capacity(count * 5);
        for n in first..first + count {
            if n > first {
                text.push_str(", ");
            }
            text.push_str(&self.parameter(n));
        }
        text
    }

    /// `(…), (…), …` for `rows` rows of `columns` parameters.
    pub(crate) fn values_list(self, rows: usize, columns: usize) -> String {
        let mut text = String::with_capacity(rows * columns * 5);
        for row in 0..rows {
            if row > 0 {
                text.push_str(", ");
            }
            text.push('(');
            text.push_str(&self.parameters(row * columns + 1, columns));
            text.push(')');
        }
        text
    }
}

/// A query of the `Any` driver, as built by `sqlx::query`.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Inserts `rows` with one multi-row statement per chunk: `head`, `VALUES (…), (…)` in the
/// connection's parameter style, then `tail` (e.g. an `ON CONFLICT` clause); `bind` binds one
/// row's `columns` values in order.
pub(crate) async fn insert_rows<T>(
    conn: &mut AnyConnection,
    head: &str,
    tail: &str,
    columns: usize,
    rows: &[T],
    bind: impl for<'q> Fn(AnyQuery<'q>, &'q T) -> AnyQuery<'q>,
) -> Result<(), sqlx::Error> {
    let style = Style::of(conn);
    for chunk in chunks(rows) {
        let sql = format!(
            "{head} VALUES {}{tail}",
            style.values_list(chunk.len(), columns)
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = bind(query, row);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Runs `statement(list)` once per chunk of `ids`, with `list` the chunk's parameter list
/// (`$1, $2, …` or `?, ?, …`) and the chunk bound to it: a write that names its rows by
/// `… IN (list)`.
pub(crate) async fn execute_for_ids(
    conn: &mut AnyConnection,
    ids: &[&str],
    statement: impl Fn(&str) -> String,
) -> Result<(), sqlx::Error> {
    let style = Style::of(conn);
    for chunk in chunks(ids) {
        let sql = statement(&style.parameters(1, chunk.len()));
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// `items` cut into chunks of 32, then of the largest power of two that fits what is left.
pub(crate) fn chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = if rest.len() >= MAX_ROWS_PER_STATEMENT {
            MAX_ROWS_PER_STATEMENT
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, after) = rest.split_at(size);
        rest = after;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lists_number_parameters_row_by_row() {
        assert_eq!(Style::Numbered.values_list(1, 3), "($1, $2, $3)");
        assert_eq!(Style::Numbered.values_list(2, 2), "($1, $2), ($3, $4)");
        assert_eq!(Style::Anonymous.values_list(2, 2), "(?, ?), (?, ?)");
    }

    #[test]
    fn parameter_lists_start_where_asked() {
        assert_eq!(Style::Numbered.parameters(2, 3), "$2, $3, $4");
        assert_eq!(Style::Numbered.parameters(1, 1), "$1");
        assert_eq!(Style::Anonymous.parameters(2, 3), "?, ?, ?");
    }

    #[test]
    fn chunks_take_few_distinct_sizes_and_keep_every_item_in_order() {
        let sizes = |n: usize| -> Vec<usize> {
            let items: Vec<usize> = (0..n).collect();
            let cut: Vec<&[usize]> = chunks(&items).collect();
            assert_eq!(cut.concat(), items, "n = {n}");
            cut.iter().map(|c| c.len()).collect()
        };
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), vec![1]);
        assert_eq!(sizes(37), vec![32, 4, 1]);
        assert_eq!(sizes(100), vec![32, 32, 32, 4]);
        for n in 0..300 {
            assert!(sizes(n).iter().all(|s| [1, 2, 4, 8, 16, 32].contains(s)));
        }
    }
}
