//! API credentials: a system id and a secret, for agency systems behind a TLS proxy. The
//! secret is shown once and stored only as an argon2id PHC hash.
//!
//! Checking costs one argon2 evaluation (tens of milliseconds, on a blocking thread), whether
//! the system id exists or not, so that timing tells nothing about which ids exist. A secret
//! that verified is remembered as a keyed SHA-256 (never in clear) for the life of the process,
//! so that an agency system sending thousands of requests pays argon2 once. The usable row
//! (hash and agency) is memoized for at most `CREDENTIAL_RECHECK` (one second, see
//! `usable.rs`) so that such a system does not read the database on every request either:
//! revocation and deactivation through this process take effect at once, those made by
//! another process (the CLI, an import) within that second. Unknown, revoked and inactive ids
//! are never memoized.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Argon2, Block, Params};
use base64::Engine as _;

use super::error::DirectoryError;
use super::hashing::at_least;
use crate::edxml::OrganId;

/// A newly created secret: 32 random bytes, base64url without padding (43 characters).
/// Shown to the operator once; only its hash is kept.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub(crate) fn generate() -> Result<Secret, DirectoryError> {
        let mut bytes = [0u8; 32];
        openssl::rand::rand_bytes(&mut bytes)
            .map_err(|e| DirectoryError::Hashing(format!("no randomness: {e}")))?;
        Ok(Secret(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        ))
    }

    /// The secret, to hand to the agency's system.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Longest secret that is even hashed; anything longer is simply wrong.
pub(crate) const MAX_SECRET_LEN: usize = 256;

/// argon2id PHC hash of `secret` with a fresh random salt (default parameters: 19 MiB, 2
/// passes, 1 lane, as OWASP recommends), computed in `memory`. CPU-heavy: call from a
/// blocking thread.
pub(crate) fn hash(secret: &str, memory: &mut Vec<Block>) -> Result<String, DirectoryError> {
    let mut salt = [0u8; 16];
    openssl::rand::rand_bytes(&mut salt)
        .map_err(|e| DirectoryError::Hashing(format!("no randomness: {e}")))?;
    let salt_text =
        SaltString::encode_b64(&salt).map_err(|e| DirectoryError::Hashing(e.to_string()))?;
    let params = Params::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::default()
        .hash_password_into_with_memory(
            secret.as_bytes(),
            &salt,
            &mut out,
            at_least(memory, params.block_count()),
        )
        .map_err(|e| DirectoryError::Hashing(e.to_string()))?;
    let output = argon2::password_hash::Output::new(&out)
        .map_err(|e| DirectoryError::Hashing(e.to_string()))?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(argon2::Version::V0x13.into()),
        params: argon2::password_hash::ParamsString::try_from(&params)
            .map_err(|e| DirectoryError::Hashing(e.to_string()))?,
        salt: Some(salt_text.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Largest argon2 memory a stored hash may ask for (in 1 KiB blocks): hashes are made here
/// with 19 MiB; a row asking for more was not, and must not make the server allocate it.
const MAX_BLOCKS: u32 = 64 * 1024;

/// Whether `secret` matches the PHC hash, computed in `memory`. Only argon2id hashes are
/// believed. CPU-heavy.
pub(crate) fn verify(phc: &str, secret: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_BLOCKS {
        return false;
    }
    let version = match parsed.version.map(argon2::Version::try_from) {
        None => argon2::Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    Argon2::new(argon2::Algorithm::Argon2id, version, params)
        .hash_password_into_with_memory(secret.as_bytes(), salt, &mut out, at_least(memory, blocks))
        .is_ok()
        && openssl::memcmp::eq(&out, expected.as_bytes())
}

/// A hash of a random secret nobody knows, verified against when the system id is unknown or
/// unusable, so that such a check costs the same time as a real one.
pub(crate) fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        Secret::generate()
            .and_then(|s| hash(s.expose(), &mut Vec::new()))
            // Not a PHC string: verify() then fails fast, which only happens if the RNG or
            // argon2 is broken, where timing is the least of the problems.
            .unwrap_or_default()
    })
}

/// Secrets that verified recently, by system id, as keyed digests.
pub(crate) struct VerifiedSecrets {
    key: [u8; 32],
    entries: Mutex<HashMap<String, Remembered>>,
}

struct Remembered {
    /// The PHC hash it verified against: a new credential under the same id forgets it.
    phc: String,
    digest: [u8; 32],
    agency: OrganId,
}

/// Entries kept before the memory is cleared and refilled.
const MAX_REMEMBERED: usize = 10_000;

impl VerifiedSecrets {
    pub(crate) fn new() -> Self {
        let mut key = [0u8; 32];
        // Without randomness the key is zero: the digests are then plain SHA-256 of the
        // secrets, still not the secrets themselves.
        let _ = openssl::rand::rand_bytes(&mut key);
        VerifiedSecrets {
            key,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn digest(&self, secret: &str) -> [u8; 32] {
        let mut hasher = openssl::sha::Sha256::new();
        hasher.update(&self.key);
        hasher.update(secret.as_bytes());
        hasher.finish()
    }

    /// The agency, when this exact secret verified against this hash before.
    pub(crate) fn recall(&self, system_id: &str, phc: &str, secret: &str) -> Option<OrganId> {
        let digest = self.digest(secret);
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(system_id)?;
        let same = entry.phc == phc && openssl::memcmp::eq(&entry.digest, &digest);
        same.then(|| entry.agency.clone())
    }

    pub(crate) fn remember(&self, system_id: &str, phc: &str, secret: &str, agency: OrganId) {
        let digest = self.digest(secret);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_REMEMBERED {
                entries.clear();
            }
            entries.insert(
                system_id.to_owned(),
                Remembered {
                    phc: phc.to_owned(),
                    digest,
                    agency,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_secret_only() {
        let secret = Secret::generate().expect("secret");
        assert_eq!(secret.expose().len(), 43);
        let phc = hash(secret.expose(), &mut Vec::new()).expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(!phc.contains(secret.expose()));
        assert!(verify(&phc, secret.expose(), &mut Vec::new()));
        assert!(!verify(&phc, "wrong", &mut Vec::new()));
        assert!(!verify("not a hash", secret.expose(), &mut Vec::new()));
        assert!(!verify(decoy_hash(), secret.expose(), &mut Vec::new()));
        assert_ne!(
            hash(secret.expose(), &mut Vec::new()).expect("again"),
            phc,
            "salts differ"
        );
    }

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_hasher_and_verifier() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        // Rows written before the pool, by the crate's PasswordHasher, still verify …
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let theirs = Argon2::default()
            .hash_password(b"s3cret", &salt)
            .expect("hash")
            .to_string();
        let mut memory = Vec::new();
        assert!(verify(&theirs, "s3cret", &mut memory));
        assert!(!verify(&theirs, "s3creT", &mut memory));
        // … and ours are what the crate's verifier accepts.
        let ours = hash("s3cret", &mut memory).expect("hash");
        let parsed = PasswordHash::new(&ours).expect("PHC");
        assert!(Argon2::default()
            .verify_password(b"s3cret", &parsed)
            .is_ok());
        assert_eq!(
            memory.len(),
            Params::default().block_count(),
            "one buffer, reused"
        );
    }

    #[test]
    fn a_hash_asking_for_more_memory_than_ours_is_not_computed() {
        let phc = hash("s3cret", &mut Vec::new()).expect("hash");
        let greedy = phc.replacen("m=19456", "m=4194304", 1);
        assert_ne!(greedy, phc);
        let mut memory = Vec::new();
        assert!(!verify(&greedy, "s3cret", &mut memory));
        assert!(memory.is_empty(), "nothing allocated for it");
    }

    #[test]
    fn argon2i_and_argon2d_hashes_are_not_believed() {
        let phc = hash("s3cret", &mut Vec::new()).expect("hash");
        let argon2d = phc.replacen("$argon2id$", "$argon2d$", 1);
        assert!(!verify(&argon2d, "s3cret", &mut Vec::new()));
    }

    #[test]
    fn remembered_secrets_are_bound_to_the_hash_and_the_secret() {
        let memory = VerifiedSecrets::new();
        let agency = OrganId::parse("000.00.00.H49").expect("code");
        memory.remember("sys", "$phc1", "secret", agency.clone());
        assert_eq!(memory.recall("sys", "$phc1", "secret"), Some(agency));
        assert_eq!(memory.recall("sys", "$phc1", "secreT"), None);
        assert_eq!(memory.recall("sys", "$phc2", "secret"), None);
        assert_eq!(memory.recall("other", "$phc1", "secret"), None);
        assert_eq!(format!("{:?}", Secret("x".into())), "Secret(***)");
    }
}
