//! `lienthong config check|example`: what an operator runs before starting the server.

use std::path::PathBuf;

use clap::Subcommand;

use lienthong::config::{self, Severity};

use super::Failure;

/// The commented example configuration, every setting in it.
pub const EXAMPLE: &str = include_str!("../../contrib/lienthong.example.toml");

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration (file and LIENTHONG_* variables) and report every problem at once:
    /// unknown keys, wrong types, settings that do not fit, missing or unreadable files, the
    /// public dev PKI outside dev mode. Exit 0 when the server would start.
    Check {
        /// Configuration file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print a commented example configuration file with every setting.
    Example,
}

pub fn run(command: ConfigCommand) -> Result<(), Failure> {
    match command {
        ConfigCommand::Example => {
            print!("{EXAMPLE}");
            Ok(())
        }
        ConfigCommand::Check { config: path } => {
            let text = match &path {
                Some(p) => Some(std::fs::read_to_string(p).map_err(|e| Failure::io(p, e))?),
                None => None,
            };
            let name = path.as_ref().map(|p| p.display().to_string());
            let file = name.as_deref().zip(text.as_deref());
            let report = config::check(file, std::env::vars_os());
            for finding in &report.findings {
                let level = match finding.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                };
                println!("{level}[{}]: {}", finding.code, finding.message);
            }
            if report.has_errors() {
                let errors = report
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Error)
                    .count();
                return Err(Failure::new(
                    "config.check",
                    format!("{errors} problem(s): the server would not start"),
                ));
            }
            if let Some(c) = &report.config {
                println!(
                    "ok: {} mode, database {}, data in {}, http on {}{}",
                    if c.dev_mode { "dev" } else { "production" },
                    c.database_url_redacted(),
                    c.data_dir.display(),
                    c.http_bind,
                    c.tls
                        .as_ref()
                        .map(|t| format!(", https (mTLS) on {}", t.bind))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}
