//! `lienthong audit verify|keygen`: checking the audit log over a database with nothing but
//! the log's verifier key, and making a log key (docs/AUDIT.md).

use std::path::Path;

use lienthong::audit::log::{self, DEFAULT_KEY_FILE};
use lienthong::audit::note::{LogKey, NoteVerifier};
use lienthong::audit::verify;
use lienthong::store::Store;

use super::Failure;

/// The verifier key: given (`--vkey`), else the one of the log key the server uses
/// (`audit.key_file`, else `DATA_DIR/audit-log.key`).
pub fn verifier(
    vkey: Option<&str>,
    key_file: Option<&Path>,
    data_dir: &Path,
) -> Result<NoteVerifier, Failure> {
    if let Some(text) = vkey {
        return NoteVerifier::parse(text.trim())
            .map_err(|e| Failure::usage(format!("--vkey: {e}")));
    }
    let path = key_file.map_or_else(|| data_dir.join(DEFAULT_KEY_FILE), Path::to_path_buf);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::new(
            "audit.no_key",
            format!(
                "{}: {e} (give the log's verifier key with --vkey, as GET /v1/audit/key shows it)",
                path.display()
            ),
        )
    })?;
    let key = LogKey::from_skey(text.trim())
        .map_err(|e| Failure::new("audit.no_key", format!("{}: {e}", path.display())))?;
    Ok(key.verifier())
}

/// Verifies the log in `store`; fails naming the first event that does not match.
pub async fn verify(store: &Store, verifier: &NoteVerifier) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let report = verify::database(store, verifier, |leaves| {
        if leaves % 100_000 == 0 {
            eprintln!("… {leaves} events checked");
        }
    })
    .await
    .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    if let Some(mismatch) = &report.mismatch {
        return Err(Failure::new(
            "audit.mismatch",
            format!(
                "{mismatch} (after {} events checked against {} checkpoints of {})",
                report.leaves,
                report.checkpoints,
                verifier.name()
            ),
        ));
    }
    let latest = report.latest.map_or_else(
        || "no checkpoint signed yet".to_owned(),
        |(size, root)| {
            format!(
                "latest checkpoint: {size} events, root {}",
                hex::encode(root)
            )
        },
    );
    println!(
        "the log is whole: {} events, {} checkpoints signed by {} verified; {latest}; {} events \
         waiting for their place ({:.1} s)",
        report.leaves,
        report.checkpoints,
        verifier.name(),
        report.waiting,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Makes a log key named `origin` into `out` (mode 0600; refuses to overwrite) and prints
/// its verifier key.
pub fn keygen(origin: &str, out: &Path) -> Result<(), Failure> {
    let key = LogKey::generate(origin).map_err(|e| Failure::usage(format!("--origin: {e}")))?;
    let text = key
        .to_skey()
        .map_err(|e| Failure::new("audit.key", e.to_string()))?;
    log::write_private(out, &format!("{text}\n")).map_err(|e| Failure::io(out, e))?;
    println!("{}", key.verifier().to_vkey());
    Ok(())
}
