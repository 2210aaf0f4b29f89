//! The audit log's formats checked by implementations other than ours:
//! - RFC 9162 proofs by a second implementation written from the RFC alone
//!   (tests/tools/rfc9162.py, run with LIENTHONG_TEST_PYTHON or python3): the same roots, the
//!   same PATH and PROOF hash lists, and both verification algorithms accept them. A bent proof
//!   is refused by the peer, so the check can fail.
//! - Checkpoints (C2SP signed notes, Ed25519) by the openssl command line.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use base64::Engine as _;
use lienthong::audit::merkle::{
    consistency_path, cover, inclusion_path, leaf_hash, range_hash, Frontier, Hash, NodeId,
};
use lienthong::audit::note::{Checkpoint, LogKey};

mod common;

/// Events as the log will hold them: short canonical lines with Vietnamese text.
fn events(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!("{i}\tpacket.accepted\t000.00.00.G22\tCông văn số {i}/UBND-VP").into_bytes()
        })
        .collect()
}

fn hashes(paths: &[Range<u64>], nodes: &HashMap<NodeId, Hash>) -> Vec<String> {
    paths
        .iter()
        .map(|range| {
            let covering: Vec<Hash> = cover(range.clone()).iter().map(|id| nodes[id]).collect();
            hex::encode(range_hash(&covering).expect("a proof names no empty range"))
        })
        .collect()
}

fn run_peer(cases: &serde_json::Value, dir: &Path) -> (bool, String) {
    let file = dir.join("cases.json");
    std::fs::write(&file, cases.to_string()).expect("write");
    let python = std::env::var("LIENTHONG_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let out = std::process::Command::new(&python)
        .arg(common::root().join("tests/tools/rfc9162.py"))
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{python} cannot be run: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn proofs_and_roots_agree_with_an_independent_rfc_9162_implementation() {
    const N: usize = 37;
    let data = events(N);
    let mut frontier = Frontier::new();
    let mut nodes = HashMap::new();
    let mut roots = serde_json::Map::new();
    roots.insert("0".to_owned(), hex::encode(frontier.root()).into());
    for event in &data {
        for node in frontier.push(leaf_hash(event)) {
            nodes.insert(node.id, node.hash);
        }
        roots.insert(
            frontier.size().to_string(),
            hex::encode(frontier.root()).into(),
        );
    }
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    for n in 1..=N as u64 {
        for m in 0..n {
            inclusion.push(serde_json::json!({
                "index": m, "size": n, "proof": hashes(&inclusion_path(m, n), &nodes),
            }));
            if m > 0 {
                consistency.push(serde_json::json!({
                    "first": m, "second": n, "proof": hashes(&consistency_path(m, n), &nodes),
                }));
            }
        }
    }
    let mut cases = serde_json::json!({
        "leaves": data.iter().map(hex::encode).collect::<Vec<_>>(),
        "roots": roots,
        "inclusion": inclusion,
        "consistency": consistency,
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, text) = run_peer(&cases, dir.path());
    assert!(ok, "{text}");
    let count = (N + 1) + N * (N + 1) / 2 + N * (N - 1) / 2;
    assert_eq!(text.trim(), format!("ok {count}"));

    // One bent hash in one consistency proof: the peer says so.
    let hash = cases["consistency"][100]["proof"][0].as_str().expect("hex");
    let first = if hash.starts_with('0') { "1" } else { "0" };
    let bent = format!("{first}{}", &hash[1..]);
    cases["consistency"][100]["proof"][0] = bent.into();
    let (ok, text) = run_peer(&cases, dir.path());
    assert!(!ok && text.contains("differs"), "{text}");
}

fn openssl_verifies(dir: &Path, public_pem: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (key, msg, sig) = (dir.join("pub.pem"), dir.join("msg"), dir.join("sig"));
    std::fs::write(&key, public_pem).expect("write");
    std::fs::write(&msg, message).expect("write");
    std::fs::write(&sig, signature).expect("write");
    let out = std::process::Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
        .arg(&key)
        .arg("-in")
        .arg(&msg)
        .arg("-sigfile")
        .arg(&sig)
        .output()
        .expect("openssl runs");
    out.status.success()
}

#[test]
fn a_checkpoint_verifies_with_openssl() {
    let name = "lienthong.test/audit";
    let key = LogKey::generate(name).expect("key");
    let checkpoint = Checkpoint {
        origin: name.to_owned(),
        size: 1_000_000,
        root: leaf_hash("Công văn".as_bytes()),
    };
    let note = key.sign(&checkpoint.body()).expect("sign");

    // Take the note apart as the C2SP signed-note text says, without our parser.
    let (text, signatures) = note.rsplit_once("\n\n").expect("a blank line");
    let text = format!("{text}\n");
    assert_eq!(text, checkpoint.body());
    let line = signatures.strip_suffix('\n').expect("ends with a newline");
    let rest = line.strip_prefix("\u{2014} ").expect("an em dash");
    let (signer, encoded) = rest.split_once(' ').expect("name and signature");
    assert_eq!(signer, name);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    assert_eq!(bytes.len(), 4 + 64, "key id and an Ed25519 signature");

    // The vkey: NAME+HEX(ID)+BASE64(0x01 ‖ key); the id is SHA-256(name ‖ \n ‖ 0x01 ‖ key)[..4].
    let vkey = key.verifier().to_vkey();
    let parts: Vec<&str> = vkey.splitn(3, '+').collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(parts[2])
        .expect("base64");
    assert_eq!(raw[0], 0x01);
    let mut id_input = format!("{name}\n").into_bytes();
    id_input.extend(&raw);
    let id = openssl::sha::sha256(&id_input);
    assert_eq!(parts[1], hex::encode(&id[..4]));
    assert_eq!(bytes[..4], id[..4]);

    let public =
        openssl::pkey::PKey::public_key_from_raw_bytes(&raw[1..], openssl::pkey::Id::ED25519)
            .expect("public key")
            .public_key_to_pem()
            .expect("pem");
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(openssl_verifies(
        dir.path(),
        &public,
        text.as_bytes(),
        &bytes[4..]
    ));
    // The same signature over another tree size does not verify.
    let other = text.replacen("1000000", "1000001", 1);
    assert!(!openssl_verifies(
        dir.path(),
        &public,
        other.as_bytes(),
        &bytes[4..]
    ));
}
