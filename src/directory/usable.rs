//! A short-lived memory of the credential rows that may be used now (PHC hash and agency), so
//! that API authentication on the hot path does not read the database on every request.
//!
//! Only usable rows are memoized: an unknown, revoked or inactive system id is read again on
//! every check. It pays argon2 against the decoy hash anyway, so the read costs little in
//! comparison, and a credential created or reactivated by another process works at once.
//!
//! Changes made through this process forget at once ([`UsableCredentials::forget`],
//! [`UsableCredentials::forget_all`]). A check that read the row before such a change cannot
//! put the old row back: every forgetting starts a new generation, and a row read in an older
//! generation is not kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::edxml::OrganId;

use super::Rights;

/// How long a usable credential row is believed before it is read again.
///
/// Revocation and deactivation done by another process — `lienthong agency credential revoke`,
/// `lienthong agency import`, or another server on the same database — take effect within this
/// time: nothing tells this server about them, so it must look again. One second keeps that
/// window short while a system sending thousands of requests a second reads its row once a
/// second instead of on every request.
pub(crate) const CREDENTIAL_RECHECK: Duration = Duration::from_secs(1);

/// System ids memoized before the memory is cleared and refilled. Only usable credentials get
/// in, so a flood of made-up ids cannot fill it; the bound only keeps a directory with very many
/// credentials from growing it without end. A clear is enough: it costs each active system one
/// row read, at most once a second anyway, and keeps no bookkeeping on the hot path.
const MAX_MEMOIZED: usize = 10_000;

/// A credential row that may be used: not revoked, of an active agency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsableCredential {
    /// The argon2id PHC hash of the secret.
    pub(crate) phc: Arc<str>,
    pub(crate) agency: OrganId,
    pub(crate) rights: Rights,
}

/// What a lookup found: a row recent enough to use, or leave to read it.
#[derive(Debug)]
pub(crate) enum Lookup {
    Fresh(UsableCredential),
    Read(ReadTicket),
}

/// Permission to memoize a row read after a lookup missed, valid only while nothing was
/// forgotten in between.
#[derive(Debug)]
pub(crate) struct ReadTicket {
    /// `None` when the memory is unusable (a poisoned lock): nothing is then kept.
    generation: Option<u64>,
    /// When the lookup missed: the row's age counts from before it was read.
    started: Instant,
}

/// The memory, shared by the clones of a `Directory`.
#[derive(Debug)]
pub(crate) struct UsableCredentials {
    recheck: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    generation: u64,
    rows: HashMap<String, Memoized>,
}

#[derive(Debug)]
struct Memoized {
    usable: UsableCredential,
    read_at: Instant,
}

impl UsableCredentials {
    /// A memory that believes a row for `recheck` ([`CREDENTIAL_RECHECK`] outside tests).
    pub(crate) fn new(recheck: Duration) -> Self {
        UsableCredentials {
            recheck,
            state: Mutex::new(State::default()),
        }
    }

    /// The row of `system_id` when it was read less than the recheck time before `now`.
    pub(crate) fn lookup(&self, system_id: &str, now: Instant) -> Lookup {
        let Ok(state) = self.state.lock() else {
            return Lookup::Read(ReadTicket {
                generation: None,
                started: now,
            });
        };
        let fresh = state
            .rows
            .get(system_id)
            .filter(|m| now.saturating_duration_since(m.read_at) < self.recheck);
        match fresh {
            Some(m) => Lookup::Fresh(m.usable.clone()),
            None => Lookup::Read(ReadTicket {
                generation: Some(state.generation),
                started: now,
            }),
        }
    }

    /// Keeps what the read after `ticket` found: a usable row is memoized (unless something was
    /// forgotten since the lookup), anything else removes the id.
    pub(crate) fn record(
        &self,
        ticket: ReadTicket,
        system_id: &str,
        read: Option<&UsableCredential>,
    ) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let Some(usable) = read else {
            state.rows.remove(system_id);
            return;
        };
        if ticket.generation != Some(state.generation) {
            return;
        }
        if state.rows.len() >= MAX_MEMOIZED && !state.rows.contains_key(system_id) {
            state.rows.clear();
        }
        state.rows.insert(
            system_id.to_owned(),
            Memoized {
                usable: usable.clone(),
                read_at: ticket.started,
            },
        );
    }

    /// Forgets one system id, after its credential changed through this process.
    pub(crate) fn forget(&self, system_id: &str) {
        if let Ok(mut state) = self.state.lock() {
            state.rows.remove(system_id);
            state.generation = state.generation.wrapping_add(1);
        }
    }

    /// Forgets every id, after agencies changed through this process (an agency deactivated
    /// stops all its credentials).
    pub(crate) fn forget_all(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.rows.clear();
            state.generation = state.generation.wrapping_add(1);
        }
    }

    #[cfg(test)]
    pub(crate) fn holds(&self, system_id: &str) -> bool {
        self.state
            .lock()
            .map(|s| s.rows.contains_key(system_id))
            .unwrap_or(false)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.state.lock().map(|s| s.rows.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CredentialRole;

    fn row(phc: &str) -> UsableCredential {
        UsableCredential {
            phc: Arc::from(phc),
            agency: OrganId::parse("000.00.00.H49").expect("code"),
            rights: Rights {
                role: CredentialRole::Agency,
                auditor: None,
            },
        }
    }

    fn ticket(memory: &UsableCredentials, id: &str, now: Instant) -> ReadTicket {
        match memory.lookup(id, now) {
            Lookup::Read(ticket) => ticket,
            Lookup::Fresh(found) => panic!("{id} was memoized: {found:?}"),
        }
    }

    fn fresh(memory: &UsableCredentials, id: &str, now: Instant) -> Option<UsableCredential> {
        match memory.lookup(id, now) {
            Lookup::Fresh(found) => Some(found),
            Lookup::Read(_) => None,
        }
    }

    #[test]
    fn a_row_is_believed_for_the_recheck_time_counted_from_before_the_read() {
        let memory = UsableCredentials::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let t = ticket(&memory, "sys", t0);
        memory.record(t, "sys", Some(&row("$phc")));
        assert_eq!(fresh(&memory, "sys", t0), Some(row("$phc")));
        let almost = t0 + Duration::from_millis(999);
        assert_eq!(fresh(&memory, "sys", almost), Some(row("$phc")));
        assert_eq!(fresh(&memory, "sys", t0 + Duration::from_secs(1)), None);
        assert_eq!(fresh(&memory, "other", t0), None);
    }

    #[test]
    fn a_read_finding_nothing_usable_removes_the_id() {
        let memory = UsableCredentials::new(Duration::from_secs(1));
        let t0 = Instant::now();
        memory.record(ticket(&memory, "sys", t0), "sys", Some(&row("$phc")));
        let later = t0 + Duration::from_secs(2);
        memory.record(ticket(&memory, "sys", later), "sys", None);
        assert!(!memory.holds("sys"));
        assert_eq!(fresh(&memory, "sys", later), None);
    }

    #[test]
    fn a_row_read_before_a_forgetting_is_not_kept() {
        let memory = UsableCredentials::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let before = ticket(&memory, "sys", t0);
        memory.forget("sys");
        memory.record(before, "sys", Some(&row("$old")));
        assert!(!memory.holds("sys"));

        let before = ticket(&memory, "sys", t0);
        memory.forget_all();
        memory.record(before, "sys", Some(&row("$old")));
        assert!(!memory.holds("sys"));

        memory.record(ticket(&memory, "sys", t0), "sys", Some(&row("$new")));
        assert_eq!(fresh(&memory, "sys", t0), Some(row("$new")));
        memory.forget("sys");
        assert_eq!(fresh(&memory, "sys", t0), None);
    }

    #[test]
    fn the_memory_is_cleared_when_full() {
        let memory = UsableCredentials::new(Duration::from_secs(1));
        let now = Instant::now();
        for i in 0..MAX_MEMOIZED {
            let id = format!("sys-{i}");
            memory.record(ticket(&memory, &id, now), &id, Some(&row("$phc")));
        }
        assert_eq!(memory.len(), MAX_MEMOIZED);
        // Refreshing an id already held does not clear.
        let later = now + Duration::from_secs(2);
        memory.record(ticket(&memory, "sys-0", later), "sys-0", Some(&row("$phc")));
        assert_eq!(memory.len(), MAX_MEMOIZED);
        memory.record(
            ticket(&memory, "one-more", now),
            "one-more",
            Some(&row("$phc")),
        );
        assert_eq!(memory.len(), 1);
        assert!(memory.holds("one-more"));
    }
}

/// The memory seen through a `Directory` over a real SQLite store.
#[cfg(test)]
mod through_the_directory {
    use super::Duration;
    use crate::directory::{credentials, Agency, AgencyName, Directory, SystemId};
    use crate::edxml::OrganId;
    use crate::store::{agencies, now_micros, CredentialRecord, CredentialRole, Store, StoreError};

    const H49: &str = "000.00.00.H49";

    struct Fixture {
        directory: Directory,
        _dir: tempfile::TempDir,
    }

    async fn fixture(recheck: Duration) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("d.db").display());
        let store = Store::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let directory = Directory::new(store).with_recheck(recheck);
        let agency = Agency {
            code: OrganId::parse(H49).expect("code"),
            name: AgencyName::parse("Văn phòng UBND tỉnh").expect("name"),
            parent: None,
            push_endpoint: None,
            clerk_emails: Vec::new(),
            active: true,
        };
        directory.upsert(&agency).await.expect("agency");
        Fixture {
            directory,
            _dir: dir,
        }
    }

    fn h49() -> Option<OrganId> {
        OrganId::parse(H49).ok()
    }

    /// Revokes in the database only, as another process would.
    async fn revoke_behind(directory: &Directory, system_id: &str) {
        let input = (system_id.to_owned(), now_micros());
        let done = directory
            .store()
            .write(input, |conn, (id, at)| {
                Box::pin(async move { agencies::revoke_credential(conn, id, *at).await })
            })
            .await;
        assert_eq!(done, Ok::<_, StoreError>(true));
    }

    /// Activates or deactivates in the database only, as another process would.
    async fn set_active_behind(directory: &Directory, active: bool) {
        let done = directory
            .store()
            .write((active, now_micros()), |conn, (active, at)| {
                Box::pin(async move { agencies::set_active(conn, H49, *active, *at).await })
            })
            .await;
        assert_eq!(done, Ok::<_, StoreError>(true));
    }

    #[tokio::test]
    async fn a_usable_row_is_believed_until_the_recheck_time_then_read_again() {
        let recheck = Duration::from_millis(250);
        let f = fixture(recheck).await;
        let id = SystemId::parse("qlvb-h49").expect("id");
        let made = f
            .directory
            .create_credential(&code(), &id, CredentialRole::Agency)
            .await
            .expect("create");
        let secret = made.secret.expose();
        // The first check pays argon2, which may take longer than the recheck time in a debug
        // build; once the row has expired, the next check reads it again and the secret is
        // recalled without argon2, so the row below is as fresh as it gets.
        assert_eq!(
            f.directory.check_credential("qlvb-h49", secret).await,
            Ok(h49())
        );
        tokio::time::sleep(recheck).await;
        assert_eq!(
            f.directory.check_credential("qlvb-h49", secret).await,
            Ok(h49())
        );
        assert!(f.directory.usable.holds("qlvb-h49"));

        revoke_behind(&f.directory, "qlvb-h49").await;
        assert_eq!(
            f.directory.check_credential("qlvb-h49", secret).await,
            Ok(h49()),
            "within the recheck time the row is not read"
        );
        tokio::time::sleep(recheck + Duration::from_millis(50)).await;
        assert_eq!(
            f.directory.check_credential("qlvb-h49", secret).await,
            Ok(None)
        );
        assert!(!f.directory.usable.holds("qlvb-h49"));
    }

    #[tokio::test]
    async fn changes_through_the_directory_take_effect_at_once() {
        let f = fixture(Duration::from_secs(3600)).await;
        let id = SystemId::parse("qlvb-h49").expect("id");
        let made = f
            .directory
            .create_credential(&code(), &id, CredentialRole::Agency)
            .await
            .expect("create");
        let secret = made.secret.expose();
        assert_eq!(
            f.directory.check_credential("qlvb-h49", secret).await,
            Ok(h49())
        );
        assert!(f.directory.usable.holds("qlvb-h49"));

        f.directory.set_active(&code(), false).await.expect("off");
        assert_eq!(
            f.directory.check_credential("qlvb-h49", secret).await,
            Ok(None)
        );
        f.directory.set_active(&code(), true).await.expect("on");
        assert_eq!(
            f.directory.check_credential("qlvb-h49", secret).await,
            Ok(h49())
        );

        // A clone shares the memory.
        let clone = f.directory.clone();
        assert_eq!(clone.revoke_credential(&id).await, Ok(true));
        assert!(!f.directory.usable.holds("qlvb-h49"));
        assert_eq!(
            f.directory.check_credential("qlvb-h49", secret).await,
            Ok(None)
        );
    }

    #[tokio::test]
    async fn unknown_revoked_and_inactive_ids_are_not_memoized() {
        let f = fixture(Duration::from_secs(3600)).await;
        let secret = "a secret made elsewhere";
        assert_eq!(f.directory.check_credential("late", secret).await, Ok(None));
        assert!(!f.directory.usable.holds("late"));

        // Created by another process: usable at once.
        let record = CredentialRecord {
            system_id: "late".to_owned(),
            agency_code: H49.to_owned(),
            secret_hash: credentials::hash(secret, &mut Vec::new()).expect("hash"),
            created_at: now_micros(),
            revoked_at: None,
            role: CredentialRole::Agency,
            audit_scope: None,
            reads_packets: false,
        };
        let inserted = f
            .directory
            .store()
            .write(record, |conn, record| {
                Box::pin(async move { agencies::insert_credential(conn, record).await })
            })
            .await;
        assert_eq!(inserted, Ok::<_, StoreError>(()));

        // An inactive agency's credential is not kept either: reactivated elsewhere, it works.
        set_active_behind(&f.directory, false).await;
        assert_eq!(f.directory.check_credential("late", secret).await, Ok(None));
        assert!(!f.directory.usable.holds("late"));
        set_active_behind(&f.directory, true).await;
        assert_eq!(
            f.directory.check_credential("late", secret).await,
            Ok(h49())
        );
        assert!(f.directory.usable.holds("late"));

        // Nor a revoked one, once read as revoked.
        f.directory.usable.forget("late");
        revoke_behind(&f.directory, "late").await;
        assert_eq!(f.directory.check_credential("late", secret).await, Ok(None));
        assert!(!f.directory.usable.holds("late"));
    }

    fn code() -> OrganId {
        OrganId::parse(H49).expect("code")
    }
}
