//! The integrator: gives committed events their leaves in the Merkle tree, keeps the tree's
//! nodes (`tree`), and signs checkpoints with the log key.
//!
//! Events are written by the changes they record, each with a number taken before its commit
//! (`Store::event_number`); numbers are unique, but commits do not come in their order. So
//! leaves are given after the commit, here: the events still without a leaf, in number order,
//! get the next leaves. One integration runs at a time — on SQLite the writer runs one unit at
//! a time; on PostgreSQL each integration holds a transaction-scoped advisory lock, so several
//! nodes may run the integrator. It writes in the writer's background lane: under a flood of
//! submissions the log falls behind by a few seconds and catches up after, instead of slowing
//! the accepts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use tokio::sync::{Mutex, Notify};

use crate::store::events::{self, CheckpointRecord, NodeRecord};
use crate::store::{now_micros, BoxFuture, Lane, Store, StoreError};

use super::merkle::{leaf_hash, Frontier};
use super::note::{Checkpoint, LogKey, NoteError};
use super::policy::AuditPolicy;
use super::tree;

/// Most events placed by one integration (one writer unit). Small on purpose: while
/// submissions keep the writer busy, a background unit joins their transactions once per
/// `store::BACKGROUND_EVERY` (200 ms), so the log then takes ~320 events/s of the writer's time and
/// catches up once the flood is over (tens of thousands a second, unit after unit) — the
/// accepts are not slowed to keep the tree current to the second (docs/PERFORMANCE.md).
const BATCH: u32 = 64;
/// How often the integrator looks for new events when nothing woke it.
const POLL: Duration = Duration::from_millis(500);
/// The key file's name in the data folder when `audit.key_file` is not set.
pub const DEFAULT_KEY_FILE: &str = "audit-log.key";

/// The log of one node. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Log {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    key: Arc<LogKey>,
    policy: AuditPolicy,
    wake: Notify,
    /// The tree's edge as this node last left it (another node may have grown it since).
    frontier: Mutex<Option<Frontier>>,
}

/// What one integration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Integrated {
    /// Events given a leaf.
    pub placed: usize,
    /// The tree's size after it.
    pub size: u64,
    /// The checkpoint it signed, if any.
    pub checkpoint: Option<CheckpointRecord>,
}

/// Why the log key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the audit log key {path}: {reason}")]
    Io {
        path: PathBuf,
        reason: String,
        /// The file does not exist.
        missing: bool,
    },
    #[error("the audit log key {path}: {source}")]
    Bad { path: PathBuf, source: NoteError },
}

impl Log {
    pub fn new(store: Store, key: LogKey, policy: AuditPolicy) -> Log {
        Log {
            inner: Arc::new(Inner {
                store,
                key: Arc::new(key),
                policy,
                wake: Notify::new(),
                frontier: Mutex::new(None),
            }),
        }
    }

    /// The key checkpoints are signed with.
    pub fn key(&self) -> &LogKey {
        &self.inner.key
    }

    /// Starts the integrator task.
    pub fn start(&self) {
        let log = self.clone();
        tokio::spawn(async move { log.run().await });
    }

    /// Asks the integrator to look now.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    async fn run(self) {
        let mut full = false;
        loop {
            // An idle server sends the writer nothing: each unit there is a commit (an fsync).
            // After a full batch more is waiting, and the question is not worth a read.
            if full || !matches!(self.idle().await, Ok(true)) {
                match self.integrate().await {
                    Ok(done) if done.placed == BATCH as usize => {
                        full = true;
                        continue;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "audit log: integration failed; trying again")
                    }
                }
            }
            full = false;
            let _ = tokio::time::timeout(POLL, self.inner.wake.notified()).await;
        }
    }

    /// Whether there is nothing to integrate, read on a reader: no event waits for its leaf,
    /// and the latest checkpoint covers the whole tree (so none can be due: a checkpoint is due
    /// only for a tree that grew since the last, or when there is none).
    async fn idle(&self) -> Result<bool, StoreError> {
        let mut conn = self.inner.store.acquire().await?;
        if !events::waiting(&mut conn, 1).await?.is_empty() {
            return Ok(false);
        }
        let size = events::tree_size(&mut conn).await?;
        let last = events::latest_checkpoint(&mut conn).await?;
        Ok(last.is_some_and(|last| last.size >= size))
    }

    /// Places the events waiting for a leaf (up to a batch) and signs a checkpoint when one
    /// is due; answers once that is committed.
    pub async fn integrate(&self) -> Result<Integrated, StoreError> {
        let inner = &self.inner;
        let mut cached = inner.frontier.lock().await;
        let input = Input {
            frontier: cached.clone(),
            key: inner.key.clone(),
            policy: inner.policy.clone(),
            now: now_micros(),
        };
        let (frontier, done) = inner
            .store
            .write_in(Lane::Background, input, |conn, input| {
                Box::pin(integrate_unit(conn, input))
            })
            .await?;
        *cached = Some(frontier);
        Ok(done)
    }
}

/// What an integration starts from (the writer may run it twice: all of it is here).
struct Input {
    frontier: Option<Frontier>,
    key: Arc<LogKey>,
    policy: AuditPolicy,
    now: i64,
}

fn integrate_unit<'c>(
    conn: &'c mut AnyConnection,
    input: &'c Input,
) -> BoxFuture<'c, Result<(Frontier, Integrated), StoreError>> {
    Box::pin(async move {
        events::hold_integration(conn).await?;
        let size = u64::try_from(events::tree_size(conn).await?).unwrap_or(0);
        let mut frontier = match &input.frontier {
            Some(frontier) if frontier.size() == size => frontier.clone(),
            _ => tree::frontier(conn, size).await?,
        };
        let waiting = events::waiting(conn, BATCH).await?;
        let mut placed = Vec::with_capacity(waiting.len());
        let mut nodes: Vec<NodeRecord> = Vec::with_capacity(waiting.len() + 16);
        for event in &waiting {
            let leaf = i64::try_from(frontier.size())
                .map_err(|_| StoreError::corrupt("the audit log is full"))?;
            let completed = frontier.push(leaf_hash(&event.body));
            nodes.extend(tree::records(&completed));
            placed.push((event.seq, leaf));
        }
        events::place(conn, &placed).await?;
        events::insert_nodes(conn, &nodes).await?;
        let checkpoint = checkpoint_if_due(conn, &frontier, input).await?;
        Ok((
            frontier.clone(),
            Integrated {
                placed: placed.len(),
                size: frontier.size(),
                checkpoint,
            },
        ))
    })
}

/// Signs and keeps a checkpoint of the tree as `frontier` has it when the policy asks for one:
/// there is none yet, or the tree grew by `checkpoint_events`, or it grew and
/// `checkpoint_every` has passed since the last.
async fn checkpoint_if_due(
    conn: &mut AnyConnection,
    frontier: &Frontier,
    input: &Input,
) -> Result<Option<CheckpointRecord>, StoreError> {
    let size = i64::try_from(frontier.size()).unwrap_or(i64::MAX);
    let due = match events::latest_checkpoint(conn).await? {
        None => true,
        Some(last) if last.size >= size => false,
        Some(last) => {
            let grown = u64::try_from(size - last.size).unwrap_or(0);
            let every =
                i64::try_from(input.policy.checkpoint_every.as_micros()).unwrap_or(i64::MAX);
            grown >= input.policy.checkpoint_events || input.now - last.at >= every
        }
    };
    if !due {
        return Ok(None);
    }
    let root = frontier.root();
    let body = Checkpoint {
        origin: input.key.name().to_owned(),
        size: frontier.size(),
        root,
    }
    .body();
    let note = input
        .key
        .sign(&body)
        .map_err(|e| StoreError::Database(format!("signing a checkpoint: {e}")))?;
    let record = CheckpointRecord {
        size,
        root,
        at: input.now,
        note,
    };
    events::insert_checkpoint(conn, &record).await?;
    Ok(Some(record))
}

/// The log key: read from `policy.key_file`, or from `DATA_DIR/audit-log.key`, which is made
/// (readable by the owner only) when missing. A configured file that is missing is an error:
/// a new key would start a log no auditor knows.
pub fn load_key(policy: &AuditPolicy, data_dir: &Path) -> Result<LogKey, KeyError> {
    let (path, configured) = match &policy.key_file {
        Some(path) => (path.clone(), true),
        None => (data_dir.join(DEFAULT_KEY_FILE), false),
    };
    match read_key(&path) {
        Err(KeyError::Io { missing: true, .. }) if !configured => match new_key(&path)? {
            Some(key) => {
                tracing::warn!(
                    path = %path.display(),
                    vkey = %key.verifier().to_vkey(),
                    "audit: made a new log key; auditors check checkpoints with its verifier key (also at GET /v1/audit/key)"
                );
                Ok(key)
            }
            // Another process (a server, a command) made it first: theirs is the key.
            None => read_key(&path),
        },
        read => read,
    }
}

fn read_key(path: &Path) -> Result<LogKey, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => LogKey::from_skey(text.trim()).map_err(|source| KeyError::Bad {
            path: path.to_owned(),
            source,
        }),
        Err(e) => Err(KeyError::Io {
            path: path.to_owned(),
            reason: e.to_string(),
            missing: e.kind() == std::io::ErrorKind::NotFound,
        }),
    }
}

/// A fresh key named after this log (`lienthong.local/audit/` and 8 random hex digits),
/// written to `path` with mode 0600 — whole or not at all: none when another process wrote
/// `path` first (two processes starting on a fresh data folder must not end with two keys).
fn new_key(path: &Path) -> Result<Option<LogKey>, KeyError> {
    let io = |e: &dyn std::fmt::Display| KeyError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
        missing: false,
    };
    let mut tag = [0u8; 4];
    openssl::rand::rand_bytes(&mut tag).map_err(|e| io(&e))?;
    let name = format!("lienthong.local/audit/{}", hex::encode(tag));
    let key = LogKey::generate(&name).map_err(|source| KeyError::Bad {
        path: path.to_owned(),
        source,
    })?;
    let text = key.to_skey().map_err(|source| KeyError::Bad {
        path: path.to_owned(),
        source,
    })?;
    let mut suffix = [0u8; 8];
    openssl::rand::rand_bytes(&mut suffix).map_err(|e| io(&e))?;
    let draft = path.with_extension(format!("new-{}", hex::encode(suffix)));
    write_private(&draft, &format!("{text}\n")).map_err(|e| io(&e))?;
    // A hard link publishes the whole file under its name, or fails if the name is taken.
    let published = std::fs::hard_link(&draft, path);
    let _ = std::fs::remove_file(&draft);
    match published {
        Ok(()) => Ok(Some(key)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(io(&e)),
    }
}

/// Creates `path` (which must not exist) readable by its owner only, with `text`, synced.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Processes starting together on a fresh data folder (a server, a command) all end with
    /// the one key that was written first, and no draft is left behind.
    #[test]
    fn processes_racing_for_a_missing_key_all_get_the_same_one() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let policy = AuditPolicy::default();
        let vkeys: Vec<String> = std::thread::scope(|s| {
            let racers: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_key(&policy, dir.path()).map(|k| k.verifier().to_vkey())))
                .collect();
            racers
                .into_iter()
                .map(|r| r.join().expect("no panic").expect("a key"))
                .collect()
        });
        assert!(vkeys.iter().all(|v| *v == vkeys[0]), "{vkeys:#?}");
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(files, vec![std::ffi::OsString::from(DEFAULT_KEY_FILE)]);
        assert_eq!(
            load_key(&policy, dir.path())
                .expect("the key again")
                .verifier()
                .to_vkey(),
            vkeys[0]
        );
    }
}
