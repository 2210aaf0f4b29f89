//! Why the directory refused or failed: stable codes for the CLI and the HTTP edge.

use crate::store::StoreError;

/// Where in an import file a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The whole file (unreadable, wrong format).
    File,
    /// A line of a CSV file (1 is the header).
    Line(u64),
    /// An element of a JSON array (1-based), with the line it starts on when known.
    Entry(usize),
    /// A position in a JSON file that does not parse.
    JsonPosition { line: usize, column: usize },
}

impl Location {
    /// `", line 3"`, or nothing for the whole file: what follows the file name in a message.
    pub fn as_suffix(&self) -> String {
        match self {
            Location::File => String::new(),
            other => format!(", {other}"),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File => f.write_str("the file"),
            Location::Line(n) => write!(f, "line {n}"),
            Location::Entry(n) => write!(f, "entry #{n}"),
            Location::JsonPosition { line, column } => write!(f, "line {line}, column {column}"),
        }
    }
}

/// A failure of a directory operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The database or blob store failed.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The agency named is not in the directory.
    #[error("agency {0} is not in the directory")]
    UnknownAgency(String),

    /// A value given for an agency, certificate or credential is not acceptable.
    #[error("{0}")]
    Invalid(String),

    /// An import file was refused; nothing of it was applied.
    #[error("{source_name}{}: {reason}; nothing was imported", .location.as_suffix())]
    Import {
        source_name: String,
        location: Location,
        reason: String,
    },

    /// A file (import file, dev PKI material) cannot be read.
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },

    /// The system id is already taken.
    #[error("system id {0} already has a credential; revoke it or choose another id")]
    CredentialExists(String),

    /// Hashing or checking a secret failed inside argon2 (not a wrong secret).
    #[error("cannot hash the secret: {0}")]
    Hashing(String),
}

impl DirectoryError {
    /// Stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            DirectoryError::Store(e) => e.code(),
            DirectoryError::UnknownAgency(_) => "directory.unknown_agency",
            DirectoryError::Invalid(_) => "directory.invalid",
            DirectoryError::Import { .. } => "directory.import",
            DirectoryError::Io { .. } => "directory.io",
            DirectoryError::CredentialExists(_) => "directory.credential_exists",
            DirectoryError::Hashing(_) => "directory.hashing",
        }
    }

    pub(crate) fn io(path: &std::path::Path, error: impl std::fmt::Display) -> Self {
        DirectoryError::Io {
            path: path.display().to_string(),
            reason: error.to_string(),
        }
    }
}
