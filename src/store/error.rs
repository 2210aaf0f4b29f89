//! Why the store could not do what was asked: one variant per kind of failure, each with a
//! stable dotted code, so that the HTTP edge can answer 503 for `store.unavailable` and 409 for
//! `store.conflict` without reading database messages.

/// A failure of the database or the blob store.
///
/// Cloneable because one failed commit is the answer to every request in its batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database URL cannot be used (unknown scheme, unreadable options).
    #[error("cannot use database URL {url}: {reason}")]
    Config {
        /// The URL with any password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The database cannot be reached, the pool is closed, or the writer has stopped.
    #[error("the database is unavailable: {0}; check that it runs and is reachable, then retry")]
    Unavailable(String),

    /// A row breaks a uniqueness or reference rule (duplicate key, unknown parent, …).
    #[error("the change conflicts with what is stored: {0}")]
    Conflict(String),

    /// Applying the migrations failed.
    #[error("cannot migrate the database: {0}")]
    Migration(String),

    /// Reading or writing a file of the blob store failed.
    #[error("cannot read or write {path}: {reason}")]
    Io {
        /// The file or directory.
        path: String,
        /// The operating system's message.
        reason: String,
    },

    /// A blob that the database refers to is missing from the blob store.
    #[error("blob {0} is not in the blob store")]
    BlobMissing(String),

    /// A stored value cannot be read back (a column out of range, a blob whose content does
    /// not match its key): the database or the disk was changed outside lienthong.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),

    /// Any other database error.
    #[error("the database refused the operation: {0}")]
    Database(String),
}

impl StoreError {
    /// Stable dotted code for APIs, logs and the CLI.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Config { .. } => "store.config",
            StoreError::Unavailable(_) => "store.unavailable",
            StoreError::Conflict(_) => "store.conflict",
            StoreError::Migration(_) => "store.migration",
            StoreError::Io { .. } => "store.io",
            StoreError::BlobMissing(_) => "store.blob_missing",
            StoreError::Corrupt(_) => "store.corrupt",
            StoreError::Database(_) => "store.database",
        }
    }

    pub(crate) fn io(path: &std::path::Path, error: std::io::Error) -> Self {
        StoreError::Io {
            path: path.display().to_string(),
            reason: error.to_string(),
        }
    }

    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(what.to_string())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &error {
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation
                | ErrorKind::ForeignKeyViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation => StoreError::Conflict(db.message().to_owned()),
                _ if is_busy(engine_of(db.as_ref()), db.code().as_deref()) => {
                    StoreError::Unavailable(db.to_string())
                }
                _ => StoreError::Database(db.to_string()),
            },
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt(error.to_string()),
            sqlx::Error::Migrate(e) => StoreError::Migration(e.to_string()),
            _ => StoreError::Database(error.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Sqlite,
    Postgres,
}

fn engine_of(db: &dyn sqlx::error::DatabaseError) -> Engine {
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        Engine::Sqlite
    } else {
        Engine::Postgres
    }
}

/// States that a retry may clear: SQLITE_BUSY (5) and SQLITE_LOCKED (6) with their extended
/// codes; PostgreSQL's serialization failure, deadlock, too many connections, and the
/// connection-exception and "cannot connect now" classes (08…, 57P…).
fn is_busy(engine: Engine, code: Option<&str>) -> bool {
    let Some(code) = code else {
        return false;
    };
    match engine {
        Engine::Sqlite => code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6)),
        Engine::Postgres => {
            matches!(code, "40001" | "40P01" | "53300")
                || code.starts_with("57P")
                || code.starts_with("08")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_codes_of_both_engines_are_recognised() {
        assert!(is_busy(Engine::Sqlite, Some("5")));
        assert!(is_busy(Engine::Sqlite, Some("517"))); // SQLITE_BUSY_SNAPSHOT
        assert!(is_busy(Engine::Sqlite, Some("6")));
        assert!(!is_busy(Engine::Sqlite, Some("19"))); // SQLITE_CONSTRAINT
        assert!(!is_busy(Engine::Sqlite, Some("2067"))); // SQLITE_CONSTRAINT_UNIQUE
        assert!(is_busy(Engine::Postgres, Some("40001")));
        assert!(is_busy(Engine::Postgres, Some("57P03")));
        assert!(is_busy(Engine::Postgres, Some("08006")));
        assert!(!is_busy(Engine::Postgres, Some("23505")));
        assert!(!is_busy(Engine::Postgres, None));
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(
            StoreError::Unavailable("x".into()).code(),
            "store.unavailable"
        );
        assert_eq!(StoreError::Conflict("x".into()).code(), "store.conflict");
        assert_eq!(
            StoreError::io(
                std::path::Path::new("/x"),
                std::io::ErrorKind::NotFound.into()
            )
            .code(),
            "store.io"
        );
    }
}
