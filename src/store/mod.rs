//! Storage of the exchange: the database (SQLite by default, PostgreSQL for several nodes)
//! behind one set of SQL texts, its migrations, the group-commit writer, and the
//! content-addressed blob store for packet bytes.
//!
//! `store` knows SQL and files, nothing of edXML: rows are plain structs ([`records`]) with
//! codes as strings; `directory` and `exchange` give them meaning.
//!
//! ```no_run
//! use lienthong::store::{agencies, AgencyRecord, Store, StoreError};
//! # async fn demo() -> Result<(), StoreError> {
//! let store = Store::connect("sqlite://./data/lienthong.db?mode=rwc").await?;
//! store.migrate().await?;
//! let agency = AgencyRecord {
//!     code: "000.00.00.H49".into(),
//!     name: "Ủy ban nhân dân tỉnh Quảng Ninh".into(),
//!     parent: None,
//!     push_endpoint: None,
//!     clerk_emails: vec![],
//!     active: true,
//!     created_at: lienthong::store::now_micros(),
//!     updated_at: lienthong::store::now_micros(),
//! };
//! // Writes go through the writer: the answer comes after the commit.
//! store
//!     .write(agency, |conn, agency| Box::pin(async move { agencies::upsert(conn, agency).await }))
//!     .await?;
//! // Reads use any pooled connection.
//! let mut conn = store.acquire().await?;
//! let found = agencies::get(&mut conn, "000.00.00.H49").await?;
//! # let _ = found; Ok(()) }
//! ```
//!
//! # Rules
//! - Every write goes through [`Store::write`] (on SQLite the writer is the only writer, so
//!   writers never wait on each other's locks); reads use [`Store::acquire`].
//! - One SQL text per operation for both engines through `sqlx::Any`, with `$1` parameters;
//!   only the migrations differ (`migrations/sqlite`, `migrations/postgres`).
//! - Packet bytes are written to the blob store (fsynced) before the transaction that refers
//!   to them is submitted.

pub mod agencies;
mod backup;
mod blob;
mod checkpoint;
pub mod deadlines;
pub mod deliveries;
mod error;
pub mod events;
pub mod evidence;
pub mod mails;
pub mod packets;
pub mod pushes;
pub mod records;
pub mod scope;
pub mod search;
mod sql;
pub mod stats;
pub mod windows;
pub mod words;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions, Connection, Executor};
use tokio::sync::oneshot;

pub use backup::{BackupReport, BACKUP_DATABASE};
pub use blob::{Blob, BlobKey, BlobStore, BlobWriter};
pub use error::StoreError;
pub use records::*;
pub use writer::{
    BoxFuture, Buckets, Bulk, BulkOutcomes, Histogram, HistogramSnapshot, Lane, UpperBound,
    WriterOptions, WriterStats,
};

use writer::{BulkJob, Counters, Job, Unit};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The database engine behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine a database URL names: `sqlite:` or `postgres:`/`postgresql:`.
    pub fn of_url(url: &str) -> Result<Engine, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Engine::Sqlite),
            "postgres" | "postgresql" => Ok(Engine::Postgres),
            _ => Err(StoreError::Config {
                url: redact(url),
                reason: "the URL must start with sqlite:// or postgres://".to_owned(),
            }),
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// How many connections and how the writer batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Pooled connections (readers plus the writer's).
    pub max_connections: u32,
    /// How long a caller waits for a free connection before `store.unavailable`.
    pub acquire_timeout: Duration,
    pub writer: WriterOptions,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
            writer: WriterOptions::default(),
        }
    }
}

/// What [`Store::migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this call, in order (empty when the schema was current).
    pub applied: Vec<i64>,
    /// The schema version now.
    pub version: i64,
}

/// The database: a pool for reads and the group-commit writer for writes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: AnyPool,
    engine: Engine,
    writer: writer::Queues,
    counters: Arc<Counters>,
    /// Event numbers taken for this process and not handed out yet.
    numbers: tokio::sync::Mutex<Numbers>,
}

/// Event numbers taken for a process: what is left of its last block, and the next block's
/// size. Blocks grow 1, 2, 4, … up to [`EVENT_NUMBER_BLOCK`]: a command that logs one event
/// leaves no gap, a busy server asks once per thousand events.
#[derive(Debug)]
struct Numbers {
    left: std::ops::Range<i64>,
    next_block: i64,
}

/// The largest block of event numbers a process takes at once: the longest gap a restart
/// leaves.
const EVENT_NUMBER_BLOCK: i64 = 1000;

impl Store {
    /// Connects with default options. `sqlite://path?mode=rwc` (the file and its directory
    /// are created) or `postgres://user@host:port/db`. Must be called inside a tokio runtime:
    /// it starts the writer task.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    /// Connects with explicit options.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let engine = Engine::of_url(url)?;
        let connect_options = AnyConnectOptions::from_str(url).map_err(|e| StoreError::Config {
            url: redact(url),
            reason: e.to_string(),
        })?;
        if engine == Engine::Sqlite {
            prepare_sqlite(url, &connect_options).await?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(options.acquire_timeout)
            // A SQLite connection lives in this process: pinging it before each use would
            // only cost a round trip to its thread.
            .test_before_acquire(engine != Engine::Sqlite)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        conn.execute(sqlx::raw_sql(SQLITE_SESSION)).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect_options)
            .await?;
        let counters = Arc::new(Counters::default());
        let (begin, restart_wanted) = match engine {
            Engine::Sqlite => {
                let wanted = Arc::new(checkpoint::RestartWanted::default());
                checkpoint::spawn(pool.clone(), wanted.clone());
                ("BEGIN IMMEDIATE", Some(wanted))
            }
            Engine::Postgres => ("BEGIN", None),
        };
        let target = writer::Target {
            pool: pool.clone(),
            begin,
            restart_wanted,
        };
        let writer = writer::spawn(target, options.writer, counters.clone());
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                engine,
                writer,
                counters,
                numbers: tokio::sync::Mutex::new(Numbers {
                    left: 0..0,
                    next_block: 1,
                }),
            }),
        })
    }

    /// The engine behind this store.
    pub fn engine(&self) -> Engine {
        self.inner.engine
    }

    /// Applies the embedded migrations of this engine that are not applied yet. Safe to run
    /// at every start; on PostgreSQL several nodes may start at once (the migrator takes an
    /// advisory lock).
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let migrator = self.inner.engine.migrator();
        let mut conn = self.acquire().await?;
        conn.ensure_migrations_table()
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        let before: Vec<i64> = conn
            .list_applied_migrations()
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?
            .into_iter()
            .map(|m| m.version)
            .collect();
        migrator
            .run_direct(&mut *conn)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        let applied: Vec<i64> = migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration() && !before.contains(&m.version))
            .map(|m| m.version)
            .collect();
        let version = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        search::backfill(&mut conn).await?;
        if stats::recount_once(&mut conn).await? {
            tracing::info!("statistics counted from the stored letters (migration 0015)");
        }
        Ok(MigrationReport { applied, version })
    }

    /// A fresh event number (`events`): handed out before the change the event records
    /// commits, so that what is signed before the commit (a receipt) can name it. Numbers are
    /// taken from the database in blocks; one not used (the change was refused) is a gap.
    pub async fn event_number(&self) -> Result<i64, StoreError> {
        let mut numbers = self.inner.numbers.lock().await;
        self.fill_event_numbers(&mut numbers).await?;
        let next = numbers.left.start;
        numbers.left.start += 1;
        Ok(next)
    }

    /// Takes a full block of event numbers now (the server does at its start), so that the
    /// first changes to log do not wait for writes of their own.
    pub async fn reserve_event_numbers(&self) -> Result<(), StoreError> {
        let mut numbers = self.inner.numbers.lock().await;
        numbers.next_block = EVENT_NUMBER_BLOCK;
        self.fill_event_numbers(&mut numbers).await
    }

    async fn fill_event_numbers(&self, numbers: &mut Numbers) -> Result<(), StoreError> {
        if numbers.left.is_empty() {
            let block = numbers.next_block;
            numbers.left = self
                .write(block, |conn, block| {
                    Box::pin(events::reserve_numbers(conn, *block))
                })
                .await?;
            numbers.next_block = (block * 2).min(EVENT_NUMBER_BLOCK);
        }
        Ok(())
    }

    /// What the writer has done so far.
    pub fn writer_stats(&self) -> WriterStats {
        self.inner.counters.snapshot()
    }

    /// A pooled connection for reads.
    pub async fn acquire(&self) -> Result<PoolConnection<Any>, StoreError> {
        Ok(self.inner.pool.acquire().await?)
    }

    /// Runs `work` on `input` in the writer's next transaction and answers once that
    /// transaction has committed. When `work` returns `Err`, nothing it wrote is kept and the
    /// other units of the batch are unaffected; when the commit fails, every unit that
    /// succeeded gets the commit's error (converted into `E`).
    ///
    /// `work` may run more than once (when another unit of its batch fails, the batch runs
    /// again without it): it must depend only on `input` and the database, and anything it
    /// generates (ids, times) belongs in `input`.
    ///
    /// ```no_run
    /// # use lienthong::store::{packets, ReceiptRecord, Store, StoreError};
    /// # async fn demo(store: Store, receipt: ReceiptRecord) -> Result<(), StoreError> {
    /// store
    ///     .write(receipt, |conn, receipt| {
    ///         Box::pin(async move { packets::insert_receipt(conn, receipt).await })
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn write<I, T, E, F>(&self, input: I, work: F) -> Result<T, E>
    where
        I: Send + Sync + 'static,
        F: for<'c> Fn(&'c mut AnyConnection, &'c I) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write_in(Lane::Foreground, input, work).await
    }

    /// [`Store::write`] in the given [`Lane`]: the delivery workers write in the background
    /// one, so that their work never holds up a submission.
    pub async fn write_in<I, T, E, F>(&self, lane: Lane, input: I, work: F) -> Result<T, E>
    where
        I: Send + Sync + 'static,
        F: for<'c> Fn(&'c mut AnyConnection, &'c I) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            input,
            work,
            reply,
            outcome: None,
        };
        self.submit(lane, Box::new(job), answer).await
    }

    /// Like [`Store::write`], for work many callers share: consecutive units of the same
    /// [`Bulk`] kind in a batch are handed to `work` together (see [`Bulk::run`]).
    pub async fn write_bulk<W: Bulk>(
        &self,
        work: Arc<W>,
        input: W::Input,
    ) -> Result<W::Output, W::Error> {
        self.write_bulk_in(Lane::Foreground, work, input).await
    }

    /// [`Store::write_bulk`] in the given [`Lane`].
    pub async fn write_bulk_in<W: Bulk>(
        &self,
        lane: Lane,
        work: Arc<W>,
        input: W::Input,
    ) -> Result<W::Output, W::Error> {
        let (reply, answer) = oneshot::channel();
        let job = BulkJob {
            work,
            input,
            reply,
            outcome: None,
        };
        self.submit(lane, Box::new(job), answer).await
    }

    async fn submit<T, E: From<StoreError>>(
        &self,
        lane: Lane,
        unit: Box<dyn Unit>,
        answer: oneshot::Receiver<Result<T, E>>,
    ) -> Result<T, E> {
        self.inner
            .writer
            .of(lane)
            .send(unit)
            .await
            .map_err(|_| E::from(StoreError::Unavailable("the writer has stopped".to_owned())))?;
        answer.await.map_err(|_| {
            E::from(StoreError::Unavailable(
                "the writer stopped before the transaction committed".to_owned(),
            ))
        })?
    }

    /// Closes the pool, waiting for connections in use to be returned. Writes submitted
    /// afterwards fail with `store.unavailable`.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }
}

/// Per-connection SQLite settings: durability on every commit (the WAL is fsynced), foreign
/// keys enforced, and waiting rather than failing when another process holds the lock. The
/// database file is read through a memory map and each connection caches up to 64 MiB of
/// pages: with SQLite's default 2 MiB cache, the writer re-read index pages with a system
/// call each as soon as the database outgrew it, which cost more than the inserts. Statement
/// journals (a multi-row insert keeps one to undo itself alone) live in memory, not in
/// temporary files. No connection checkpoints the log on its own: [`checkpoint`] does, off the
/// writer's path.
const SQLITE_SESSION: &str = "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
     PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; PRAGMA mmap_size = 1073741824; \
     PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0;";

/// Creates the database file's directory and switches the database to WAL (a persistent
/// setting that needs the database to itself, hence on one connection before the pool opens).
async fn prepare_sqlite(url: &str, options: &AnyConnectOptions) -> Result<(), StoreError> {
    let path = sqlite_path(url);
    if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
        return Err(StoreError::Config {
            url: redact(url),
            reason: "an in-memory SQLite database would be lost on exit and is not shared \
                     between connections; give a file, e.g. sqlite://./data/lienthong.db?mode=rwc"
                .to_owned(),
        });
    }
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    }
    let mut conn = options.connect().await?;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Config {
            url: redact(url),
            reason: format!("SQLite refused write-ahead logging (journal mode stays {mode})"),
        });
    }
    Ok(())
}

/// The file part of a SQLite URL: `sqlite://./data/x.db?mode=rwc` → `./data/x.db`.
fn sqlite_path(url: &str) -> &str {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split('?').next().unwrap_or_default()
}

/// The URL with its password (if any) replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_are_told_by_scheme() {
        assert_eq!(Engine::of_url("sqlite://x.db"), Ok(Engine::Sqlite));
        assert_eq!(Engine::of_url("sqlite:x.db"), Ok(Engine::Sqlite));
        assert_eq!(Engine::of_url("postgres://u@h/db"), Ok(Engine::Postgres));
        assert_eq!(Engine::of_url("postgresql://u@h/db"), Ok(Engine::Postgres));
        let err = Engine::of_url("mysql://u:secret@h/db").err();
        assert_eq!(err.as_ref().map(StoreError::code), Some("store.config"));
        assert!(!err
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("secret"));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://lt:s3cret@db.example:5432/lt?sslmode=require"),
            "postgres://lt:***@db.example:5432/lt?sslmode=require"
        );
        assert_eq!(redact("postgres://lt@db/lt"), "postgres://lt@db/lt");
        assert_eq!(
            redact("sqlite://./data/x.db?mode=rwc"),
            "sqlite://./data/x.db?mode=rwc"
        );
    }

    #[test]
    fn sqlite_paths_are_read_from_urls() {
        assert_eq!(sqlite_path("sqlite://./data/x.db?mode=rwc"), "./data/x.db");
        assert_eq!(sqlite_path("sqlite:///var/lib/lt.db"), "/var/lib/lt.db");
        assert_eq!(sqlite_path("sqlite::memory:"), ":memory:");
    }

    #[test]
    fn both_dialects_create_the_same_tables_and_columns() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let shape = |dialect: &str| -> Vec<(String, Vec<String>)> {
            let sql = std::fs::read_to_string(root.join(dialect).join("0001_init.sql"))
                .expect("migration");
            sql.split("CREATE TABLE ")
                .skip(1)
                .map(|table| {
                    let name = table
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let columns = table
                        .lines()
                        .skip(1)
                        .map(str::trim)
                        .take_while(|l| !l.starts_with(')'))
                        .filter_map(|l| l.split_whitespace().next())
                        .filter(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                        .map(str::to_owned)
                        .collect();
                    (name, columns)
                })
                .collect()
        };
        let sqlite = shape("sqlite");
        assert_eq!(sqlite.len(), 9, "{sqlite:?}");
        assert_eq!(sqlite, shape("postgres"));
        let indexes = |dialect: &str| -> Vec<String> {
            let sql = std::fs::read_to_string(root.join(dialect).join("0001_init.sql"))
                .expect("migration");
            sql.lines()
                .filter(|l| l.starts_with("CREATE") && l.contains("INDEX"))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(indexes("sqlite"), indexes("postgres"));
    }
}
