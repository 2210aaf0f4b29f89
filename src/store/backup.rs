//! An online backup of a SQLite installation: a consistent copy of the database taken while the
//! server keeps accepting (`VACUUM INTO` reads one snapshot), then every blob that copy refers
//! to, streamed and re-hashed on the way — so a damaged blob is found now, not on restore day.
//! The backup folder is itself a data directory: restoring is pointing `data_dir` and
//! `database_url` at it (or moving it to `./data`).
//!
//! PostgreSQL has its own tools (`pg_dump`): see docs/OPERATIONS.md.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sqlx::{Connection, Row};

use super::blob::{sync_dir, BlobKey, BlobStore};
use super::{Engine, Store, StoreError};

/// The database file's name inside a backup (the default `database_url`'s).
pub const BACKUP_DATABASE: &str = "lienthong.db";

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The copy of the database.
    pub database: PathBuf,
    /// Packets in the copy.
    pub packets: i64,
    /// Blobs copied (packets over 64 KiB keep their bytes in the blob store).
    pub blobs: u64,
    /// Their bytes.
    pub blob_bytes: u64,
}

impl Store {
    /// Backs the SQLite database and the blobs it refers to up into `target` (a folder that
    /// must not hold a backup already). Safe while the server runs.
    pub async fn backup(
        &self,
        blobs: &BlobStore,
        target: &Path,
    ) -> Result<BackupReport, StoreError> {
        if self.engine() != Engine::Sqlite {
            return Err(StoreError::Database(
                "lienthong backup copies SQLite installations; back PostgreSQL up with pg_dump \
                 and copy data_dir/blobs (docs/OPERATIONS.md)"
                    .to_owned(),
            ));
        }
        let database = target.join(BACKUP_DATABASE);
        if database.exists() {
            return Err(StoreError::io(
                &database,
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a backup is already there; choose a new folder",
                ),
            ));
        }
        fs::create_dir_all(target).map_err(|e| StoreError::io(target, e))?;
        let path = database.to_str().ok_or_else(|| {
            StoreError::io(
                &database,
                io::Error::new(io::ErrorKind::InvalidInput, "not a UTF-8 path"),
            )
        })?;
        let mut conn = self.acquire().await?;
        sqlx::query(&format!("VACUUM INTO '{}'", path.replace('\'', "''")))
            .execute(&mut *conn)
            .await?;
        drop(conn);
        let (packets, keys) = read_copy(path).await?;
        let copies = BlobStore::open(target)?;
        let mut blob_bytes = 0;
        for key in &keys {
            blob_bytes += copy_blob(blobs, &copies, key)?;
        }
        sync_dir(target)?;
        Ok(BackupReport {
            database,
            packets,
            blobs: keys.len() as u64,
            blob_bytes,
        })
    }
}

/// Checks the copy's integrity and reads what it refers to: (packets, blob keys).
async fn read_copy(path: &str) -> Result<(i64, Vec<BlobKey>), StoreError> {
    let url = format!("sqlite://{path}?mode=ro");
    let mut copy = sqlx::AnyConnection::connect(&url).await?;
    let check: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut copy)
        .await?
        .try_get(0)?;
    if check != "ok" {
        return Err(StoreError::corrupt(format!(
            "the copy {path} fails SQLite's integrity check: {check}"
        )));
    }
    let packets: i64 = sqlx::query("SELECT count(*) FROM packets")
        .fetch_one(&mut copy)
        .await?
        .try_get(0)?;
    let rows = sqlx::query("SELECT DISTINCT blob_key FROM packets WHERE content IS NULL")
        .fetch_all(&mut copy)
        .await?;
    copy.close().await?;
    let mut keys = Vec::with_capacity(rows.len());
    for row in rows {
        let text: String = row.try_get(0)?;
        keys.push(
            BlobKey::parse(&text)
                .ok_or_else(|| StoreError::corrupt(format!("stored blob key {text:?}")))?,
        );
    }
    Ok((packets, keys))
}

/// Streams one blob into the backup's blob store, which hashes it; a blob whose bytes no
/// longer hash to its name fails the backup.
fn copy_blob(from: &BlobStore, to: &BlobStore, key: &BlobKey) -> Result<u64, StoreError> {
    let mut source = from.open_blob(key)?;
    let mut writer = to.writer()?;
    let bytes =
        io::copy(&mut source, &mut writer).map_err(|e| StoreError::io(&from.path(key), e))?;
    let copied = writer.finish()?;
    if copied.key != *key {
        return Err(StoreError::corrupt(format!(
            "{} no longer hashes to its name (its bytes hash to {})",
            from.path(key).display(),
            copied.key
        )));
    }
    Ok(bytes)
}
