//! `lienthong audit verify|export|keygen`: checking the audit log over a database, or an
//! export bundle with no database, with nothing but the log's verifier key; exporting a
//! period; making a log key (docs/AUDIT.md).

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use lienthong::audit::bundle;
use lienthong::audit::export::{self, Request};
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

/// Checks the bundle in `path` with no database: against `vkey` when given, else against the
/// key the bundle names (and says so, since that proves only who made the bundle).
pub fn verify_bundle(path: &Path, vkey: Option<&str>) -> Result<(), Failure> {
    let trusted = vkey
        .map(|text| {
            NoteVerifier::parse(text.trim()).map_err(|e| Failure::usage(format!("--vkey: {e}")))
        })
        .transpose()?;
    let file = std::fs::File::open(path).map_err(|e| Failure::io(path, e))?;
    let report = bundle::check(BufReader::new(file), trusted.as_ref())
        .map_err(|e| Failure::new(e.code(), format!("{}: {e}", path.display())))?;
    let header = &report.header;
    println!(
        "the bundle is whole: {} events from {} to {} (scope {}), each proved in the checkpoint \
         of {} events, root {}, signed by {}",
        report.events,
        header.from,
        header.to,
        header.scope,
        report.checkpoint.size,
        hex::encode(report.checkpoint.root),
        report.key_name
    );
    if report.key_from_bundle {
        println!(
            "note: checked with the key the bundle names ({}); to know it is the log's, give \
             --vkey as GET /v1/audit/key publishes it",
            header.vkey
        );
    }
    if header.left_out > 0 {
        println!(
            "note: {} events of the period came after that checkpoint and are not in the bundle",
            header.left_out
        );
    }
    Ok(())
}

/// Writes the bundle of `request` to `out` (a new file), or to standard output.
pub async fn export(
    store: &Store,
    verifier: &NoteVerifier,
    request: &Request,
    out: Option<&Path>,
) -> Result<(), Failure> {
    let mut sink: Box<dyn Write> = match out {
        Some(path) => Box::new(BufWriter::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| Failure::io(path, e))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let summary = export::write(store, verifier, request, &mut sink, |n| {
        if n % 10_000 == 0 {
            eprintln!("… {n} events written");
        }
    })
    .await;
    drop(sink);
    let summary = match summary {
        Ok(summary) => summary,
        Err(e) => {
            if let Some(path) = out {
                let _ = std::fs::remove_file(path);
            }
            return Err(Failure::new(e.code(), e.to_string()));
        }
    };
    let left_out = match summary.left_out {
        0 => String::new(),
        n => format!(
            "; {n} later events of the period are not in a checkpoint yet and were left out \
             (export again after the next one)"
        ),
    };
    eprintln!(
        "exported {} events with their proofs in the checkpoint of {} events{left_out}",
        summary.events, summary.tree_size
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
