//! Pieces of SQL text shared by the repositories: parameter lists for multi-row statements,
//! numbered `$1, $2, …` as both engines accept them through `sqlx::Any`.

/// Rows per multi-row statement: far below both engines' limits on parameters (SQLite 32,766,
/// PostgreSQL 65,535) for tables of up to a dozen columns.
pub(crate) const ROWS_PER_STATEMENT: usize = 100;

/// `($1, $2, $3), ($4, $5, $6), …` for `rows` rows of `columns` parameters.
pub(crate) fn values_list(rows: usize, columns: usize) -> String {
    let mut text = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        text.push('(');
        text.push_str(&parameters(row * columns + 1, columns));
        text.push(')');
    }
    text
}

/// `$first, $first+1, …`: `count` parameters, for an `IN (…)` list.
pub(crate) fn parameters(first: usize, count: usize) -> String {
    let mut text = String::with_capacity(count * 5);
    for n in first..first + count {
        if n > first {
            text.push_str(", ");
        }
        text.push('$');
        text.push_str(&n.to_string());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lists_number_parameters_row_by_row() {
        assert_eq!(values_list(1, 3), "($1, $2, $3)");
        assert_eq!(values_list(2, 2), "($1, $2), ($3, $4)");
    }

    #[test]
    fn parameter_lists_start_where_asked() {
        assert_eq!(parameters(2, 3), "$2, $3, $4");
        assert_eq!(parameters(1, 1), "$1");
    }
}
