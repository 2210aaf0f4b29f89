//! docs/ERRORS.md is the contract for refusal codes: every code a `code()` method can return
//! must be documented there.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_code_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/ERRORS.md")).expect("docs/ERRORS.md");
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut codes = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        // Codes are returned as `=> "family.name"` in the code() methods and passed as
        // `Failure::new("family.name", …)` in the CLI.
        for piece in text.split('"').skip(1).step_by(2) {
            let family = piece.split('.').next().unwrap_or_default();
            let is_code = matches!(
                family,
                "xml"
                    | "edxml"
                    | "dsig"
                    | "pki"
                    | "limits"
                    | "cli"
                    | "c14n"
                    | "internal"
                    | "exchange"
                    | "store"
                    | "directory"
                    | "config"
                    | "client"
                    | "evidence"
            ) && piece.contains('.')
                && piece
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
                && !piece.ends_with('.')
                // Audit event kinds (`directory.imported`) are names of another kind.
                && lienthong::store::events::EventKind::parse(piece).is_none();
            if is_code {
                codes.push(piece.to_owned());
            }
        }
    }
    codes.sort();
    codes.dedup();
    assert!(codes.len() > 30, "found only {codes:?}");
    let missing: Vec<&String> = codes
        .iter()
        .filter(|c| {
            let wildcard = c.rsplit_once('.').map(|(head, _)| format!("`{head}.*`"));
            !doc.contains(&format!("`{c}`")) && !wildcard.is_some_and(|w| doc.contains(&w))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "codes missing from docs/ERRORS.md: {missing:?}"
    );
}

/// Codes only the CLI or server start-up can give (never an HTTP answer), left out of the
/// OpenAPI description's list.
const NOT_ANSWERED_OVER_HTTP: [&str; 20] = [
    "http.bind",
    "http.tls",
    "http.io",
    "directory.import",
    "directory.io",
    "directory.credential_exists",
    "directory.unknown_credential",
    "directory.hashing",
    "store.migration",
    "store.config",
    "edxml.io",
    "dsig.already_signed",
    "dsig.no_signature_place",
    "pki.config",
    "delivery.setup",
    "delivery.not_found",
    "audit.mismatch",
    "audit.no_key",
    "audit.bundle",
    "audit.key",
];

#[test]
fn the_openapi_description_lists_every_code_the_api_answers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/ERRORS.md")).expect("docs/ERRORS.md");
    let mut documented: Vec<String> = doc
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|piece| {
            let family = piece.split('.').next().unwrap_or_default();
            piece.contains('.')
                && !piece.ends_with('*')
                && piece
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_')
                && !matches!(family, "cli" | "client" | "config")
                && !NOT_ANSWERED_OVER_HTTP.contains(piece)
        })
        .map(str::to_owned)
        .collect();
    documented.sort();
    documented.dedup();
    let openapi: serde_json::Value =
        serde_json::from_str(lienthong::http::OPENAPI).expect("openapi.json is JSON");
    let listed: Vec<String> = openapi["components"]["schemas"]["Error"]["properties"]["code"]
        ["anyOf"][0]["enum"]
        .as_array()
        .expect("the code enum")
        .iter()
        .map(|c| c.as_str().expect("a string").to_owned())
        .collect();
    assert_eq!(
        listed, documented,
        "openapi.json's codes and docs/ERRORS.md differ"
    );
}
