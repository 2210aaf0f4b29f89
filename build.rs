//! Build steps: sqlx::migrate! embeds migrations/ at compile time (rebuild when one is added),
//! and the dev PKI of certs/dev is embedded in the binary (`pki::dev`), so that dev mode works
//! from any folder, not only from the repository.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=certs/dev");
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&root).join("certs/dev");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("certs/dev is part of the source tree")
        .map(|entry| entry.expect("a readable entry of certs/dev").file_name())
        .map(|name| name.into_string().expect("dev PKI file names are UTF-8"))
        .filter(|name| name.ends_with(".pem") || name.ends_with(".der") || name.ends_with(".json"))
        .collect();
    names.sort();
    let mut table = String::from("&[\n");
    for name in &names {
        let path = dir.join(name);
        writeln!(
            table,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    table.push(']');
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out).join("dev_pki_files.rs"), table).expect("write OUT_DIR file");
}
