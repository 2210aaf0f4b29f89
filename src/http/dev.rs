//! Dev mode's start-up: the dev PKI written out under the data directory, the demo directory
//! with one credential and one client profile per demo agency, and the loud warnings — also
//! the warning a production configuration gets when it names the public dev material.

use std::path::{Path, PathBuf};

use crate::client::Profile;
use crate::config::Config;
use crate::directory::{CredentialRole, Directory, DirectoryError, SystemId};
use crate::pki::dev as dev_pki;
use crate::store::AgencyFilter;

use super::ServeError;

/// Where dev mode writes one client profile per demo agency.
pub const PROFILES_SUBDIR: &str = "dev-profiles";

/// Writes the dev PKI the binary carries into `dir`, saying where and why it is unsafe.
pub fn write_pki(dir: &Path) -> Result<(), ServeError> {
    let written = dev_pki::write_out(dir).map_err(|e| {
        ServeError::Io(format!(
            "cannot write the dev PKI to {}: {e}",
            dir.display()
        ))
    })?;
    tracing::warn!(
        dir = %dir.display(),
        written,
        "DEV MODE: the dev PKI (whose private keys are public) is trusted and signs receipts; \
         never use dev mode with real agencies. Agency keys and certificates for signing test \
         letters are in this folder"
    );
    Ok(())
}

/// Outside dev mode: a loud warning for each configured file that holds the public dev
/// material, which proves nothing because its private keys are published.
pub fn warn_of_dev_material(config: &Config) {
    let trusted = config
        .trust
        .anchors
        .iter()
        .chain(&config.trust.intermediates);
    for path in trusted {
        if holds_dev_certificate(path) {
            tracing::warn!(
                file = %path.display(),
                "trust anchors or intermediates include the public DEV PKI: anyone can sign \
                 packets that this server will accept. Remove it from trust.anchors / \
                 trust.intermediates unless this is a test installation"
            );
        }
    }
    if holds_dev_certificate(&config.receipts.cert) {
        tracing::warn!(
            file = %config.receipts.cert.display(),
            "receipts are signed with the public DEV key: they prove nothing. Configure the \
             operator's own receipts.cert and receipts.key"
        );
    }
}

fn holds_dev_certificate(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|pem| dev_pki::holds_dev_certificate(&pem))
}

/// First start: the demo directory, one API credential per demo agency (printed as
/// `dev credential: CODE SYSTEM_ID SECRET`) and a client profile for each under
/// `DATA_DIR/dev-profiles/CODE.toml`. Later starts say where the profiles are and how to make
/// a new credential, since secrets are shown only once.
pub async fn seed_directory(
    directory: &Directory,
    pki_dir: &Path,
    data_dir: &Path,
    url: &str,
) -> Result<(), ServeError> {
    let profiles = data_dir.join(PROFILES_SUBDIR);
    if directory.count().await? > 0 {
        refresh_profile_urls(&profiles, url);
        tracing::info!(
            profiles = %profiles.display(),
            "DEV MODE: the demo directory exists; client profiles of the demo agencies were \
             written on first start (use `lienthong client --profile FILE …`); a new credential: \
             `lienthong agency credential create CODE`"
        );
        return Ok(());
    }
    let report = directory.seed_demo(pki_dir).await?;
    tracing::warn!(%report, "DEV MODE: seeded the demo directory");
    for agency in directory.list(&AgencyFilter::default()).await? {
        let system_id = SystemId::parse(&format!("dev-{}", agency.code.as_str()))
            .map_err(|e| DirectoryError::Invalid(e.to_string()))?;
        let credential = directory
            .create_credential(&agency.code, &system_id, CredentialRole::Agency)
            .await?;
        println!(
            "dev credential: {} {} {}",
            agency.code.as_str(),
            credential.system_id,
            credential.secret.expose()
        );
        let path: PathBuf = profiles.join(format!("{}.toml", agency.code.as_str()));
        Profile {
            url: url.to_owned(),
            system_id: credential.system_id.to_string(),
            secret: credential.secret.expose().to_owned(),
        }
        .save(&path)
        .map_err(|e| ServeError::Io(e.to_string()))?;
    }
    tracing::warn!(
        profiles = %profiles.display(),
        "DEV MODE: one client profile per demo agency, e.g. `lienthong client --profile {}/000.00.00.G22.toml inbox`",
        profiles.display()
    );
    Ok(())
}

/// A restart may listen elsewhere (`--bind 127.0.0.1:0`): the dev profiles follow it.
fn refresh_profile_urls(profiles: &Path, url: &str) {
    let Ok(entries) = std::fs::read_dir(profiles) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_some_and(|e| e == "toml") {
            match Profile::load(&path) {
                Ok(profile) if profile.url != url => {
                    let updated = Profile {
                        url: url.to_owned(),
                        ..profile
                    };
                    if let Err(e) = updated.save(&path) {
                        tracing::warn!(error = %e, "cannot update a dev profile");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read a dev profile"),
            }
        }
    }
}
