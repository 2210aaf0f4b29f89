//! The `lienthong` command's parts, one module per group of subcommands; `main.rs` parses the
//! arguments and dispatches. Every failure is a [`Failure`]: `error[CODE]: sentence` on stderr
//! and a non-zero exit (docs/ERRORS.md lists the codes).

pub mod audit;
pub mod client;
pub mod config;
pub mod delivery;
pub mod directory;
pub mod packet;

use std::path::Path;
use std::process::ExitCode;

/// A failure with its stable code, and the exit status it ends the process with.
pub struct Failure {
    pub code: String,
    pub message: String,
    pub exit: u8,
}

/// Exit statuses: 1 refused or invalid (do not retry the same input), 2 usage (clap's own),
/// 3 the server was unreachable or failing (retry later).
pub const EXIT_REFUSED: u8 = 1;
pub const EXIT_UNAVAILABLE: u8 = 3;

impl Failure {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            code: code.into(),
            message: message.into(),
            exit: EXIT_REFUSED,
        }
    }

    pub fn io(path: &Path, e: impl std::fmt::Display) -> Self {
        Failure::new(
            "cli.io",
            format!("cannot read or write {}: {e}", path.display()),
        )
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new("cli.usage", message)
    }

    /// Prints `error[CODE]: sentence` and gives the exit status.
    pub fn report(self) -> ExitCode {
        eprintln!("error[{}]: {}", self.code, self.message);
        ExitCode::from(self.exit)
    }
}

/// Reads a whole file, with the path in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::io(path, e))
}

/// Writes a whole file, with the path in the error.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|e| Failure::io(path, e))
}
