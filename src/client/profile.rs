//! Where `lienthong client` finds its server and credential: flags, `LIENTHONG_URL` /
//! `LIENTHONG_SYSTEM_ID` / `LIENTHONG_SECRET`, or a profile file (TOML), in that order.
//!
//! ```toml
//! url = "http://127.0.0.1:8080"
//! system_id = "dev-000.00.00.G22"
//! secret = "…"
//! ```
//!
//! Dev mode writes one profile per demo agency under `DATA_DIR/dev-profiles/`, so that a new
//! user can send a letter without copying a secret by hand.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The server's address and one system's credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Base URL of the exchange, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub system_id: String,
    pub secret: String,
}

/// Why a profile cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("profile {path}: {reason}")]
pub struct ProfileError {
    pub path: PathBuf,
    pub reason: String,
}

impl Profile {
    /// Reads a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let fail = |reason: String| ProfileError {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        toml::from_str(&text).map_err(|e| fail(e.message().to_owned()))
    }

    /// Writes the profile, readable by its owner only (it holds a secret).
    pub fn save(&self, path: &Path) -> Result<(), ProfileError> {
        let fail = |reason: String| ProfileError {
            path: path.to_owned(),
            reason,
        };
        let text = toml::to_string(self).map_err(|e| fail(e.to_string()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| fail(e.to_string()))?;
        file.write_all(text.as_bytes())
            .map_err(|e| fail(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_profile_reads_back_and_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p/000.00.00.G22.toml");
        let profile = Profile {
            url: "http://127.0.0.1:8080".into(),
            system_id: "dev-000.00.00.G22".into(),
            secret: "s3cret".into(),
        };
        profile.save(&path).expect("save");
        assert_eq!(Profile::load(&path).expect("load"), profile);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "url = 1\n").expect("write");
        let err = Profile::load(&path).expect_err("bad profile");
        assert!(err.to_string().contains("000.00.00.G22.toml"), "{err}");
    }
}
