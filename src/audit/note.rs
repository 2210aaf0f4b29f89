//! Checkpoints: the log's signed tree heads, in the C2SP `tlog-checkpoint` format
//! (origin, size, base64 root hash, one per line) wrapped in a C2SP signed note with an Ed25519
//! key, so that any signed-note verifier (the Go checksum database's, Sigsum's, or a few
//! lines over openssl) checks them without lienthong.
//!
//! A signed note is the text (UTF-8, ending in a newline), a blank line, and one line per
//! signature: `— NAME BASE64(KEY_ID ‖ SIGNATURE)`, KEY_ID being the first 4 bytes of
//! SHA-256(NAME ‖ "\n" ‖ 0x01 ‖ PUBLIC_KEY) for an Ed25519 key (algorithm byte 0x01). The
//! verifier key is published as `NAME+HEX(KEY_ID)+BASE64(0x01 ‖ PUBLIC_KEY)` (the note `vkey`
//! form); the private key is kept as `PRIVATE+KEY+NAME+HEX(KEY_ID)+BASE64(0x01 ‖ SEED)`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::sha::Sha256;

use super::merkle::Hash;

/// The signature algorithm byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;
/// What starts a signature line: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// Most signature lines a note may carry (the C2SP limit).
const MAX_SIGNATURES: usize = 100;

/// Why a key, a note or a checkpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("a key name must be printable, without spaces or '+': {0:?}")]
    BadName(String),
    #[error("not a signed-note key: {0}")]
    BadKey(String),
    #[error("not a signed note: {0}")]
    Malformed(String),
    #[error("no signature by {0} on the note")]
    Unsigned(String),
    #[error("the signature by {0} does not verify")]
    BadSignature(String),
    #[error("not a checkpoint: {0}")]
    BadCheckpoint(String),
    #[error("openssl: {0}")]
    Crypto(String),
}

impl From<openssl::error::ErrorStack> for NoteError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        NoteError::Crypto(e.to_string())
    }
}

fn check_name(name: &str) -> Result<(), NoteError> {
    let bad = name.is_empty()
        || name
            .chars()
            .any(|c| c == '+' || c.is_whitespace() || c.is_control());
    if bad {
        return Err(NoteError::BadName(name.to_owned()));
    }
    Ok(())
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(&[ED25519]);
    h.update(public);
    let digest = h.finish();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The key bytes of `BASE64(0x01 ‖ KEY)`, the form both key texts end with.
fn ed25519_bytes(encoded: &str) -> Result<Vec<u8>, NoteError> {
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|_| NoteError::BadKey("the key is not base64".to_owned()))?;
    match bytes.split_first() {
        Some((&ED25519, key)) => Ok(key.to_vec()),
        _ => Err(NoteError::BadKey("not an Ed25519 key".to_owned())),
    }
}

/// The log's signing key: Ed25519, with its name.
pub struct LogKey {
    name: String,
    key: PKey<Private>,
    public: [u8; 32],
    id: [u8; 4],
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKey")
            .field("name", &self.name)
            .field("id", &hex::encode(self.id))
            .finish_non_exhaustive()
    }
}

impl LogKey {
    /// A new random key named `name` (in practice the log's origin).
    pub fn generate(name: &str) -> Result<LogKey, NoteError> {
        check_name(name)?;
        LogKey::of(name, PKey::generate_ed25519()?)
    }

    fn of(name: &str, key: PKey<Private>) -> Result<LogKey, NoteError> {
        let raw = key.raw_public_key()?;
        let public: [u8; 32] = raw
            .try_into()
            .map_err(|_| NoteError::BadKey("an Ed25519 public key has 32 bytes".to_owned()))?;
        Ok(LogKey {
            name: name.to_owned(),
            id: key_id(name, &public),
            key,
            public,
        })
    }

    /// Reads a key written by [`LogKey::to_skey`].
    pub fn from_skey(text: &str) -> Result<LogKey, NoteError> {
        let bad = |why: &str| NoteError::BadKey(why.to_owned());
        // The key's base64 may hold '+': it is the rest of the line.
        let parts: Vec<&str> = text.trim().splitn(5, '+').collect();
        let [private, key, name, id, encoded] = parts.as_slice() else {
            return Err(bad("expected PRIVATE+KEY+NAME+ID+KEY"));
        };
        if (*private, *key) != ("PRIVATE", "KEY") {
            return Err(bad("expected PRIVATE+KEY+NAME+ID+KEY"));
        }
        check_name(name)?;
        let seed = ed25519_bytes(encoded)?;
        let key = PKey::private_key_from_raw_bytes(&seed, Id::ED25519)
            .map_err(|_| bad("not a 32-byte Ed25519 seed"))?;
        let key = LogKey::of(name, key)?;
        if hex::encode(key.id) != *id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(key)
    }

    /// The private key as text, for its file.
    pub fn to_skey(&self) -> Result<String, NoteError> {
        let mut bytes = vec![ED25519];
        bytes.extend(self.key.raw_private_key()?);
        Ok(format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex::encode(self.id),
            STANDARD.encode(bytes)
        ))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What verifies this key's signatures.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            public: self.public,
            id: self.id,
        }
    }

    /// `text` as a signed note: the text, a blank line, this key's signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let mut signer = openssl::sign::Signer::new_without_digest(&self.key)?;
        let signature = signer.sign_oneshot_to_vec(text.as_bytes())?;
        let mut signed = self.id.to_vec();
        signed.extend(signature);
        Ok(format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(signed)
        ))
    }
}

/// A note's text: UTF-8 (a `str`), ending in a newline, no control character but newlines.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the text must end with a newline".to_owned(),
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed(
            "the text holds a control character".to_owned(),
        ));
    }
    Ok(())
}

/// A verifier key (the note `vkey` form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    public: [u8; 32],
    id: [u8; 4],
}

impl NoteVerifier {
    /// Reads `NAME+HEX(ID)+BASE64(0x01 ‖ PUBLIC_KEY)`.
    pub fn parse(vkey: &str) -> Result<NoteVerifier, NoteError> {
        let bad = |why: &str| NoteError::BadKey(why.to_owned());
        // The key's base64 may hold '+': it is the rest of the line.
        let parts: Vec<&str> = vkey.trim().splitn(3, '+').collect();
        let [name, id, encoded] = parts.as_slice() else {
            return Err(bad("expected NAME+ID+KEY"));
        };
        check_name(name)?;
        let public: [u8; 32] = ed25519_bytes(encoded)?
            .try_into()
            .map_err(|_| bad("an Ed25519 public key has 32 bytes"))?;
        if hex::encode(key_id(name, &public)) != *id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(NoteVerifier {
            name: (*name).to_owned(),
            id: key_id(name, &public),
            public,
        })
    }

    pub fn to_vkey(&self) -> String {
        let mut bytes = vec![ED25519];
        bytes.extend(self.public);
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            STANDARD.encode(bytes)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw Ed25519 public key (for other tools: openssl, a PEM file).
    pub fn public_key(&self) -> Result<PKey<Public>, NoteError> {
        Ok(PKey::public_key_from_raw_bytes(&self.public, Id::ED25519)?)
    }

    /// The text of `note` if this key signed it; signatures by other keys are ignored.
    pub fn verify<'n>(&self, note: &'n str) -> Result<&'n str, NoteError> {
        let (text, signatures) = split_note(note)?;
        let key = self.public_key()?;
        for line in signatures {
            let Some(rest) = line.strip_prefix(SIGNATURE_PREFIX) else {
                return Err(NoteError::Malformed(format!(
                    "a signature line must start with an em dash: {line:?}"
                )));
            };
            let Some((name, encoded)) = rest.split_once(' ') else {
                return Err(NoteError::Malformed(format!("signature line {line:?}")));
            };
            let bytes = STANDARD
                .decode(encoded)
                .map_err(|_| NoteError::Malformed(format!("signature line {line:?}")))?;
            if name != self.name || bytes.len() < 4 || bytes[..4] != self.id {
                continue;
            }
            let mut verifier = openssl::sign::Verifier::new_without_digest(&key)?;
            return match verifier.verify_oneshot(&bytes[4..], text.as_bytes()) {
                Ok(true) => Ok(text),
                _ => Err(NoteError::BadSignature(self.name.clone())),
            };
        }
        Err(NoteError::Unsigned(self.name.clone()))
    }
}

/// A note's text (with its final newline) and its signature lines.
fn split_note(note: &str) -> Result<(&str, Vec<&str>), NoteError> {
    let at = note
        .rfind("\n\n")
        .ok_or_else(|| NoteError::Malformed("no blank line before the signatures".to_owned()))?;
    let (text, rest) = (&note[..=at], &note[at + 2..]);
    check_text(text)?;
    let Some(rest) = rest.strip_suffix('\n') else {
        return Err(NoteError::Malformed(
            "the signatures must end with a newline".to_owned(),
        ));
    };
    let lines: Vec<&str> = rest.split('\n').collect();
    if lines.is_empty() || lines.len() > MAX_SIGNATURES {
        return Err(NoteError::Malformed(format!(
            "{} signature lines (1 to {MAX_SIGNATURES})",
            lines.len()
        )));
    }
    Ok((text, lines))
}

/// A signed tree head: the log named `origin` had `size` events whose Merkle root was `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: origin, size, base64 root, each on its line.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Reads a checkpoint's text (extension lines after the root are allowed and ignored).
    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        let bad = |why: &str| NoteError::BadCheckpoint(why.to_owned());
        let mut lines = text.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("no origin"))?;
        let size_text = lines.next().ok_or_else(|| bad("no tree size"))?;
        let canonical = size_text == "0"
            || (!size_text.starts_with('0') && size_text.bytes().all(|b| b.is_ascii_digit()));
        let size = size_text
            .parse::<u64>()
            .ok()
            .filter(|_| canonical)
            .ok_or_else(|| bad("the tree size is not a decimal number"))?;
        let root = lines
            .next()
            .and_then(|r| STANDARD.decode(r).ok())
            .and_then(|r| Hash::try_from(r.as_slice()).ok())
            .ok_or_else(|| bad("the root is not 32 bytes of base64"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_verifies_and_a_changed_one_does_not() {
        let key = LogKey::generate("lienthong.example/audit").expect("key");
        let checkpoint = Checkpoint {
            origin: "lienthong.example/audit".to_owned(),
            size: 42,
            root: [7; 32],
        };
        let note = key.sign(&checkpoint.body()).expect("sign");
        assert!(note.starts_with("lienthong.example/audit\n42\nBwcH"));
        assert!(note.contains("\n\n\u{2014} lienthong.example/audit "));
        let verifier = NoteVerifier::parse(&key.verifier().to_vkey()).expect("vkey");
        let text = verifier.verify(&note).expect("verifies");
        assert_eq!(Checkpoint::parse(text), Ok(checkpoint));

        let changed = note.replacen("\n42\n", "\n43\n", 1);
        assert_eq!(
            verifier.verify(&changed),
            Err(NoteError::BadSignature(
                "lienthong.example/audit".to_owned()
            ))
        );
        let other = LogKey::generate("lienthong.example/audit").expect("key");
        assert!(matches!(
            other.verifier().verify(&note),
            Err(NoteError::Unsigned(_))
        ));
    }

    #[test]
    fn keys_whose_base64_holds_a_plus_are_read_whole() {
        let key = (0..200)
            .map(|_| LogKey::generate("lienthong.test").expect("key"))
            .find(|k| k.verifier().to_vkey().matches('+').count() > 2)
            .expect("one key in 200 has a '+' in its base64");
        let vkey = key.verifier().to_vkey();
        assert_eq!(NoteVerifier::parse(&vkey), Ok(key.verifier()));
        let skey = key.to_skey().expect("skey");
        assert_eq!(
            LogKey::from_skey(&skey).expect("read").verifier(),
            key.verifier()
        );
    }

    #[test]
    fn a_key_survives_its_file() {
        let key = LogKey::generate("nhat-ky.lienthong.test").expect("key");
        let again = LogKey::from_skey(&key.to_skey().expect("skey")).expect("read");
        assert_eq!(again.verifier(), key.verifier());
        let broken = key.to_skey().expect("skey").replace("nhat-ky", "nhat-ki");
        assert!(LogKey::from_skey(&broken).is_err(), "the id names the key");
        assert!(LogKey::generate("two words").is_err());
    }

    #[test]
    fn checkpoints_are_read_strictly() {
        let root = STANDARD.encode([1u8; 32]);
        assert!(Checkpoint::parse(&format!("o\n7\n{root}\n")).is_ok());
        assert!(Checkpoint::parse(&format!("o\n7\n{root}\nextension\n")).is_ok());
        assert!(Checkpoint::parse(&format!("o\n07\n{root}\n")).is_err());
        assert!(Checkpoint::parse(&format!("o\n-7\n{root}\n")).is_err());
        assert!(Checkpoint::parse(&format!("\n7\n{root}\n")).is_err());
        assert!(Checkpoint::parse("o\n7\nAAAA\n").is_err());
    }
}
