//! The directory of agencies: who may send and receive, their place in the hierarchy, where
//! their packets go, whom to notify, the certificates they sign with and the API credentials
//! their systems log in with. It replaces `bindings.json` for the server: [`Directory::bindings`]
//! gives the trust pipeline the same `pki::Bindings` it reads from that file.
//!
//! ```no_run
//! use lienthong::directory::{Directory, Format};
//! use lienthong::store::Store;
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Store::connect("sqlite://./data/lienthong.db?mode=rwc").await?;
//! store.migrate().await?;
//! let directory = Directory::new(store);
//! let report = directory.import_file(std::path::Path::new("agencies.csv")).await?;
//! println!("{report}"); // imported 12, updated 3
//! let bindings = directory.bindings().await?; // for trust::verify_packet
//! # let _ = (bindings, Format::Csv); Ok(()) }
//! ```
//!
//! Every change goes through the store's writer (one transaction each); reads use pooled
//! connections.

mod agency;
mod auditor;
mod credentials;
mod demo;
mod error;
mod hashing;
mod import;
mod records;
#[cfg(test)]
mod tests;
mod usable;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::edxml::OrganId;
use crate::pki::{Binding, Bindings, Fingerprint};
use crate::store::events::{self, EventKind};
use crate::store::{
    agencies, now_micros, AgencyFilter, CredentialRecord, Store, StoreError, Upsert,
};

pub use crate::store::CredentialRole;

pub use agency::{
    Agency, AgencyName, BoundCertificate, ClerkEmail, FieldError, PushEndpoint, SystemId,
};
pub use auditor::{AuditorGrant, Rights};
pub use credentials::Secret;
pub use error::{DirectoryError, Location};
pub use import::{parse as parse_import, Format, ImportReport, ImportRow, MAX_FILE_BYTES};

use credentials::VerifiedSecrets;
use records::{agency_from_record, certificate_from_record, certificate_record};
use usable::{Lookup, UsableCredential, UsableCredentials, CREDENTIAL_RECHECK};

/// The directory over a store. Cheap to clone.
#[derive(Clone)]
pub struct Directory {
    store: Store,
    verified: Arc<VerifiedSecrets>,
    /// Usable credential rows read less than [`CREDENTIAL_RECHECK`] ago.
    usable: Arc<UsableCredentials>,
    /// argon2 runs at most one per core at once, each in a buffer of its own that is reused:
    /// a flood of wrong secrets queues rather than exhausting the machine's memory.
    hashing: hashing::Hashers,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").finish_non_exhaustive()
    }
}

/// A credential just created: the secret is here once and nowhere else.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub system_id: SystemId,
    pub agency: OrganId,
    pub secret: Secret,
}

impl Directory {
    pub fn new(store: Store) -> Directory {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Directory {
            store,
            verified: Arc::new(VerifiedSecrets::new()),
            usable: Arc::new(UsableCredentials::new(CREDENTIAL_RECHECK)),
            hashing: hashing::Hashers::new(cores),
        }
    }

    /// The same directory believing credential rows for `recheck` instead of
    /// [`CREDENTIAL_RECHECK`], so that tests need not wait a second.
    #[cfg(test)]
    pub(crate) fn with_recheck(mut self, recheck: std::time::Duration) -> Directory {
        self.usable = Arc::new(UsableCredentials::new(recheck));
        self
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// One agency by code.
    pub async fn get(&self, code: &OrganId) -> Result<Option<Agency>, DirectoryError> {
        let mut conn = self.store.acquire().await?;
        let record = agencies::get(&mut conn, code.as_str()).await?;
        Ok(record.map(agency_from_record).transpose()?)
    }

    /// Agencies matching the filter (by parent, code prefix, paging), by code.
    pub async fn list(&self, filter: &AgencyFilter) -> Result<Vec<Agency>, DirectoryError> {
        let mut conn = self.store.acquire().await?;
        let records = agencies::list(&mut conn, filter).await?;
        Ok(records
            .into_iter()
            .map(agency_from_record)
            .collect::<Result<_, _>>()?)
    }

    /// Number of agencies (dev mode seeds the demo directory when it is 0).
    pub async fn count(&self) -> Result<i64, DirectoryError> {
        let mut conn = self.store.acquire().await?;
        Ok(agencies::count(&mut conn).await?)
    }

    /// Creates or replaces one agency (its certificates are left as they are). Its parent must
    /// be in the directory and must not lead back to it.
    pub async fn upsert(&self, agency: &Agency) -> Result<Upsert, DirectoryError> {
        let done = self
            .store
            .write((agency.clone(), now_micros()), |conn, (agency, now)| {
                Box::pin(async move { import::upsert_one(conn, agency, *now).await })
            })
            .await;
        // The agency may have been deactivated: its credentials must stop at once.
        self.usable.forget_all();
        done
    }

    /// Activates or deactivates an agency.
    pub async fn set_active(&self, code: &OrganId, active: bool) -> Result<(), DirectoryError> {
        let input = (code.as_str().to_owned(), active, now_micros());
        let done = self
            .store
            .write(input, |conn, (code, active, at)| {
                Box::pin(async move {
                    if agencies::set_active(conn, code, *active, *at).await? {
                        Ok(())
                    } else {
                        Err(DirectoryError::UnknownAgency(code.clone()))
                    }
                })
            })
            .await;
        self.usable.forget_all();
        done
    }

    /// Sets an agency's push endpoint (`Some(None)` removes it) and whether it takes pushes;
    /// answers the setting as it now stands.
    pub async fn set_push(
        &self,
        code: &OrganId,
        endpoint: Option<Option<PushEndpoint>>,
        enabled: Option<bool>,
    ) -> Result<(Option<String>, bool), DirectoryError> {
        let endpoint = endpoint.map(|e| e.map(|e| e.as_str().to_owned()));
        let input = (code.as_str().to_owned(), endpoint, enabled, now_micros());
        self.store
            .write(input, |conn, (code, endpoint, enabled, at)| {
                Box::pin(async move {
                    let endpoint = endpoint.as_ref().map(|e| e.as_deref());
                    let change = endpoint.is_some() || enabled.is_some();
                    if change && !agencies::set_push(conn, code, endpoint, *enabled, *at).await? {
                        return Err(DirectoryError::UnknownAgency(code.clone()));
                    }
                    agencies::push_setting(conn, code)
                        .await?
                        .ok_or_else(|| DirectoryError::UnknownAgency(code.clone()))
                })
            })
            .await
    }

    /// Binds a certificate to an agency (`store.conflict` when it is bound to another one).
    pub async fn bind_certificate(
        &self,
        code: &OrganId,
        cert: &BoundCertificate,
    ) -> Result<(), DirectoryError> {
        let record = certificate_record(code, cert, now_micros());
        self.store
            .write(record, |conn, record| {
                Box::pin(async move {
                    if !agencies::exists(conn, &record.agency_code).await? {
                        return Err(DirectoryError::UnknownAgency(record.agency_code.clone()));
                    }
                    agencies::bind_certificate(conn, record).await?;
                    Ok(())
                })
            })
            .await
    }

    /// Unbinds a certificate; false when it was not bound to this agency.
    pub async fn unbind_certificate(
        &self,
        code: &OrganId,
        fingerprint: &Fingerprint,
    ) -> Result<bool, DirectoryError> {
        let input = (code.as_str().to_owned(), fingerprint.to_string());
        self.store
            .write(input, |conn, (code, sha)| {
                Box::pin(async move { agencies::unbind_certificate(conn, code, sha).await })
            })
            .await
            .map_err(DirectoryError::from)
    }

    /// The certificates bound to an agency.
    pub async fn certificates(
        &self,
        code: &OrganId,
    ) -> Result<Vec<BoundCertificate>, DirectoryError> {
        let mut conn = self.store.acquire().await?;
        let records = agencies::certificates_of(&mut conn, code.as_str()).await?;
        Ok(records
            .into_iter()
            .map(certificate_from_record)
            .collect::<Result<_, _>>()?)
    }

    /// The certificates of a page of agencies, a few queries a page (one per chunk of codes):
    /// the agency's code → its certificates.
    pub async fn certificates_of_page(
        &self,
        page: &[Agency],
    ) -> Result<std::collections::HashMap<String, Vec<BoundCertificate>>, DirectoryError> {
        let mut by_agency: std::collections::HashMap<String, Vec<BoundCertificate>> =
            std::collections::HashMap::new();
        if page.is_empty() {
            return Ok(by_agency);
        }
        let codes: Vec<&str> = page.iter().map(|a| a.code.as_str()).collect();
        let mut conn = self.store.acquire().await?;
        let records = agencies::certificates_of_agencies(&mut conn, &codes).await?;
        for record in records {
            let code = record.agency_code.clone();
            by_agency
                .entry(code)
                .or_default()
                .push(certificate_from_record(record)?);
        }
        Ok(by_agency)
    }

    /// The active agency a certificate is bound to (mTLS: the client certificate's agency).
    pub async fn agency_of_certificate(
        &self,
        fingerprint: &Fingerprint,
    ) -> Result<Option<OrganId>, DirectoryError> {
        let mut conn = self.store.acquire().await?;
        let Some(record) = agencies::certificate(&mut conn, &fingerprint.to_string()).await? else {
            return Ok(None);
        };
        let agency = agencies::get(&mut conn, &record.agency_code).await?;
        match agency {
            Some(a) if a.active => Ok(Some(parse_stored_code(&a.code)?)),
            _ => Ok(None),
        }
    }

    /// Every certificate binding of the active agencies, as the trust pipeline takes them.
    /// A snapshot: take a new one after the directory changes.
    pub async fn bindings(&self) -> Result<Bindings, DirectoryError> {
        let mut conn = self.store.acquire().await?;
        let mut bindings = Bindings::default();
        for record in agencies::active_certificates(&mut conn).await? {
            let agency = record.agency_code.clone();
            let note = record.subject.clone();
            let cert = certificate_from_record(record)?;
            bindings.add(Binding {
                agency,
                certificate: cert.fingerprint,
                note,
            });
        }
        Ok(bindings)
    }

    /// Creates an API credential for an agency and returns its secret — the only time the
    /// secret exists outside the agency's system.
    pub async fn create_credential(
        &self,
        code: &OrganId,
        system_id: &SystemId,
        role: CredentialRole,
    ) -> Result<NewCredential, DirectoryError> {
        self.create(code, system_id, role, None).await
    }

    /// Creates an auditor's credential, working for the agency `code`, with `grant`; the
    /// scope's agency must be in the directory.
    pub async fn create_auditor(
        &self,
        code: &OrganId,
        system_id: &SystemId,
        grant: &AuditorGrant,
    ) -> Result<NewCredential, DirectoryError> {
        self.create(code, system_id, CredentialRole::Auditor, Some(grant))
            .await
    }

    async fn create(
        &self,
        code: &OrganId,
        system_id: &SystemId,
        role: CredentialRole,
        grant: Option<&AuditorGrant>,
    ) -> Result<NewCredential, DirectoryError> {
        let secret = Secret::generate()?;
        let for_hash = secret.clone();
        let phc = self
            .hashing
            .run(move |memory| credentials::hash(for_hash.expose(), memory))
            .await??;
        let record = CredentialRecord {
            system_id: system_id.as_str().to_owned(),
            agency_code: code.as_str().to_owned(),
            secret_hash: phc,
            created_at: now_micros(),
            revoked_at: None,
            role,
            audit_scope: grant.map(|g| g.scope.as_str().to_owned()),
            reads_packets: grant.is_some_and(|g| g.reads_packets),
        };
        let done = self
            .store
            .write(record, |conn, record| {
                Box::pin(async move {
                    let scope_root = record.audit_scope.as_deref().filter(|s| *s != "all");
                    for code in std::iter::once(record.agency_code.as_str()).chain(scope_root) {
                        if !agencies::exists(conn, code).await? {
                            return Err(DirectoryError::UnknownAgency(code.to_owned()));
                        }
                    }
                    if agencies::credential(conn, &record.system_id)
                        .await?
                        .is_some()
                    {
                        return Err(DirectoryError::CredentialExists(record.system_id.clone()));
                    }
                    agencies::insert_credential(conn, record).await?;
                    let values = [
                        record.system_id.as_str(),
                        record.agency_code.as_str(),
                        record.role.as_str(),
                        record.audit_scope.as_deref().unwrap_or(""),
                        if record.reads_packets { "yes" } else { "no" },
                    ];
                    events::log(
                        conn,
                        EventKind::CredentialCreated,
                        None,
                        &values,
                        record.created_at,
                    )
                    .await?;
                    Ok(())
                })
            })
            .await;
        self.usable.forget(system_id.as_str());
        done?;
        Ok(NewCredential {
            system_id: system_id.clone(),
            agency: code.clone(),
            secret,
        })
    }

    /// The agency whose system this is when this very secret verified before and the
    /// credential is still usable — without argon2, so it may answer while guesses at the id
    /// are throttled. `None` says only "not recognised this way".
    pub async fn recall_credential(
        &self,
        system_id: &str,
        secret: &str,
    ) -> Result<Option<OrganId>, DirectoryError> {
        let Some(usable) = self.usable_credential(system_id).await? else {
            return Ok(None);
        };
        let recalled = self.verified.recall(system_id, &usable.phc, secret);
        Ok(recalled.filter(|agency| *agency == usable.agency))
    }

    /// The agency whose system this is, when the secret is right, the credential not revoked
    /// and the agency active; `None` otherwise, after one argon2 evaluation in every case but a
    /// secret that verified before.
    ///
    /// The credential row is read from the database at most once per [`CREDENTIAL_RECHECK`]
    /// for a usable credential, so a revocation or deactivation made by another process takes
    /// effect within that time; one made through this directory takes effect at once. Unknown,
    /// revoked and inactive ids are read on every check.
    pub async fn check_credential(
        &self,
        system_id: &str,
        secret: &str,
    ) -> Result<Option<OrganId>, DirectoryError> {
        let usable = self.usable_credential(system_id).await?;
        let (phc, agency) = match usable {
            Some(usable) => (usable.phc, Some(usable.agency)),
            None => (Arc::from(credentials::decoy_hash()), None),
        };
        if let Some(agency) = &agency {
            if self.verified.recall(system_id, &phc, secret).as_ref() == Some(agency) {
                return Ok(Some(agency.clone()));
            }
        }
        let presented = if secret.len() <= credentials::MAX_SECRET_LEN {
            secret.to_owned()
        } else {
            String::new()
        };
        let (phc, presented, matched) = self
            .hashing
            .run(move |memory| {
                let matched = credentials::verify(&phc, &presented, memory);
                (phc, presented, matched)
            })
            .await?;
        match agency {
            Some(agency) if matched && secret.len() <= credentials::MAX_SECRET_LEN => {
                self.verified
                    .remember(system_id, &phc, &presented, agency.clone());
                Ok(Some(agency))
            }
            _ => Ok(None),
        }
    }

    /// The stored hash and agency of a credential that may be used now, from the memory when
    /// they were read less than the recheck time ago.
    async fn usable_credential(
        &self,
        system_id: &str,
    ) -> Result<Option<UsableCredential>, DirectoryError> {
        let ticket = match self.usable.lookup(system_id, Instant::now()) {
            Lookup::Fresh(usable) => return Ok(Some(usable)),
            Lookup::Read(ticket) => ticket,
        };
        let read = self.read_usable_credential(system_id).await?;
        self.usable.record(ticket, system_id, read.as_ref());
        Ok(read)
    }

    /// [`Directory::usable_credential`] from the database.
    async fn read_usable_credential(
        &self,
        system_id: &str,
    ) -> Result<Option<UsableCredential>, DirectoryError> {
        let mut conn = self.store.acquire().await?;
        let Some(record) = agencies::credential(&mut conn, system_id).await? else {
            return Ok(None);
        };
        if record.revoked_at.is_some() {
            return Ok(None);
        }
        let agency = agencies::get(&mut conn, &record.agency_code).await?;
        match agency {
            Some(a) if a.active => Ok(Some(UsableCredential {
                agency: parse_stored_code(&a.code)?,
                rights: Rights {
                    role: record.role,
                    auditor: AuditorGrant::of(&record),
                },
                phc: Arc::from(record.secret_hash),
            })),
            _ => Ok(None),
        }
    }

    /// What a usable credential may do (an agency's system's, when it is not usable: the
    /// caller has checked the secret just before, so that is a race with a revocation).
    pub async fn rights_of(&self, system_id: &str) -> Result<Rights, DirectoryError> {
        Ok(self.usable_credential(system_id).await?.map_or(
            Rights {
                role: CredentialRole::Agency,
                auditor: None,
            },
            |usable| usable.rights,
        ))
    }

    /// Revokes a credential; false when it does not exist or was revoked already.
    pub async fn revoke_credential(&self, system_id: &SystemId) -> Result<bool, DirectoryError> {
        let input = (system_id.as_str().to_owned(), now_micros());
        let done = self
            .store
            .write(input, |conn, (system_id, at)| {
                Box::pin(async move {
                    let revoked = agencies::revoke_credential(conn, system_id, *at).await?;
                    if revoked {
                        events::log(
                            conn,
                            EventKind::CredentialRevoked,
                            None,
                            &[system_id.as_str()],
                            *at,
                        )
                        .await?;
                    }
                    Ok::<bool, StoreError>(revoked)
                })
            })
            .await;
        // After the write, so that no check can read the row as it was and keep it again.
        self.usable.forget(system_id.as_str());
        done.map_err(DirectoryError::from)
    }

    /// Imports rows parsed by [`parse_import`]: checked against the directory and applied in
    /// one transaction, or refused whole.
    pub async fn import(
        &self,
        rows: Vec<ImportRow>,
        source_name: &str,
    ) -> Result<ImportReport, DirectoryError> {
        let input = (rows, source_name.to_owned(), now_micros());
        let done = self
            .store
            .write(input, |conn, (rows, source_name, now)| {
                Box::pin(async move {
                    let report = import::apply(conn, rows, source_name, *now).await?;
                    let counts = [report.imported, report.updated, report.certificates]
                        .map(|n| n.to_string());
                    let values = [
                        source_name.as_str(),
                        counts[0].as_str(),
                        counts[1].as_str(),
                        counts[2].as_str(),
                    ];
                    events::log(conn, EventKind::DirectoryImported, None, &values, *now).await?;
                    Ok(report)
                })
            })
            .await;
        // Agencies may have been deactivated.
        self.usable.forget_all();
        done
    }

    /// Reads, checks and imports a CSV or JSON file (format by extension).
    pub async fn import_file(&self, path: &Path) -> Result<ImportReport, DirectoryError> {
        let format = Format::of_path(path)?;
        let size = std::fs::metadata(path)
            .map_err(|e| DirectoryError::io(path, e))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(DirectoryError::Import {
                source_name: path.display().to_string(),
                location: Location::File,
                reason: format!("the file is {size} bytes, above the limit of {MAX_FILE_BYTES}"),
            });
        }
        let bytes = std::fs::read(path).map_err(|e| DirectoryError::io(path, e))?;
        let name = path.display().to_string();
        let rows = parse_import(&bytes, format, &name)?;
        self.import(rows, &name).await
    }

    /// Creates (or refreshes) the demo directory of dev mode from the dev PKI in `dev_dir`
    /// (normally `certs/dev`).
    pub async fn seed_demo(&self, dev_dir: &Path) -> Result<ImportReport, DirectoryError> {
        let rows = demo::demo_rows(dev_dir)?;
        self.import(rows, "demo directory").await
    }
}

fn parse_stored_code(code: &str) -> Result<OrganId, StoreError> {
    OrganId::parse(code)
        .map_err(|e| StoreError::corrupt(format!("stored agency code {code:?}: {e}")))
}
