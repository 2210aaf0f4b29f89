//! What an auditor (or an export) may look at: the whole exchange, or one agency and every
//! unit below it in the directory's tree (`agencies.parent`). One SQL text for both engines:
//! a recursive common table expression named `scope`, which the reads join.

/// An agency subtree, or everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// The agency with this code and every unit whose chain of parents reaches it.
    Subtree(String),
}

impl Scope {
    /// The stored and shown form: `all`, or the root agency's code.
    pub fn as_str(&self) -> &str {
        match self {
            Scope::All => "all",
            Scope::Subtree(code) => code,
        }
    }

    /// Reads the stored form.
    pub fn parse(text: &str) -> Scope {
        match text {
            "all" => Scope::All,
            code => Scope::Subtree(code.to_owned()),
        }
    }

    /// The root agency's code, bound as the parameter `$n` of [`Scope::cte`].
    pub fn root(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Subtree(code) => Some(code),
        }
    }

    /// `WITH RECURSIVE scope(code) AS (…)` over the agency bound as `$n`, for a subtree; empty
    /// for everything (then a read must not mention `scope`).
    pub fn cte(&self, n: usize) -> String {
        match self {
            Scope::All => String::new(),
            Scope::Subtree(_) => format!(
                "WITH RECURSIVE scope(code) AS (SELECT code FROM agencies WHERE code = ${n} \
                 UNION ALL SELECT a.code FROM agencies a JOIN scope s ON a.parent = s.code) "
            ),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of `codes` are in `scope`: each code's chain of parents is walked up (a few rows per
/// code, whatever the directory's size) and kept when it reaches the scope's root.
pub async fn within(
    conn: &mut sqlx::AnyConnection,
    scope: &Scope,
    codes: &[&str],
) -> Result<Vec<String>, super::StoreError> {
    use sqlx::Row as _;
    let Some(root) = scope.root() else {
        return Ok(codes.iter().map(|c| (*c).to_owned()).collect());
    };
    let mut found = Vec::new();
    let style = super::sql::Style::of(conn);
    for chunk in super::sql::chunks(codes) {
        let sql = format!(
            "WITH RECURSIVE up(code, origin) AS (SELECT code, code FROM agencies WHERE code IN \
             ({}) UNION SELECT a.parent, up.origin FROM agencies a JOIN up ON a.code = up.code \
             WHERE a.parent IS NOT NULL) SELECT DISTINCT origin FROM up WHERE code = {}",
            style.parameters(1, chunk.len()),
            style.parameter(chunk.len() + 1)
        );
        let mut query = sqlx::query(&sql);
        for code in chunk {
            query = query.bind(*code);
        }
        query = query.bind(root);
        for row in query.fetch_all(&mut *conn).await? {
            found.push(row.try_get::<String, _>("origin")?);
        }
    }
    Ok(found)
}
