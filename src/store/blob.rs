//! Content-addressed packet bytes on disk: `<data>/blobs/sha256/ab/cdef…` (the first two hex
//! digits of the SHA-256 name the directory, the other 62 the file).
//!
//! A blob is durable before its name is visible: bytes go to a temporary file in
//! `<data>/blobs/tmp`, which is fsynced, renamed into place, and its directory fsynced. So a
//! database row that refers to a key (committed after `put` returned) never points at a torn
//! or missing file, even after a power cut. Writing the same bytes twice is a no-op.
//!
//! The calls block on the file system: from async code, run them in `spawn_blocking`.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::error::StoreError;

/// The SHA-256 of a blob's bytes: its name in the blob store and in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey([u8; 32]);

impl BlobKey {
    /// The key of `bytes`.
    pub fn of(bytes: &[u8]) -> BlobKey {
        let mut hasher = openssl::sha::Sha256::new();
        hasher.update(bytes);
        BlobKey(hasher.finish())
    }

    /// Reads 64 lowercase or uppercase hex digits, as stored in the database.
    pub fn parse(text: &str) -> Option<BlobKey> {
        let mut bytes = [0u8; 32];
        if text.len() != 64 {
            return None;
        }
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(BlobKey(bytes))
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<[u8; 32]> for BlobKey {
    fn from(digest: [u8; 32]) -> Self {
        BlobKey(digest)
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A stored blob: its key and length in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blob {
    pub key: BlobKey,
    pub size: u64,
}

/// The blob directory of one data directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    /// `<data>/blobs/sha256`
    objects: PathBuf,
    /// `<data>/blobs/tmp`, on the same file system so that rename is atomic.
    tmp: PathBuf,
}

impl BlobStore {
    /// Opens (creating as needed) the blob store under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<BlobStore, StoreError> {
        let blobs = data_dir.join("blobs");
        let store = BlobStore {
            objects: blobs.join("sha256"),
            tmp: blobs.join("tmp"),
        };
        for dir in [&store.objects, &store.tmp] {
            fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        sync_dir(&blobs)?;
        sync_dir(data_dir)?;
        Ok(store)
    }

    /// Where the blob `key` lives (whether or not it exists).
    pub fn path(&self, key: &BlobKey) -> PathBuf {
        let hex = key.to_hex();
        let (shard, rest) = hex.split_at(2);
        self.objects.join(shard).join(rest)
    }

    /// Whether the blob is stored.
    pub fn contains(&self, key: &BlobKey) -> bool {
        self.path(key).is_file()
    }

    /// Stores `bytes` durably and returns their key. When the blob already exists with the
    /// right length it is left alone.
    pub fn put(&self, bytes: &[u8]) -> Result<Blob, StoreError> {
        let key = BlobKey::of(bytes);
        let size = bytes.len() as u64;
        if self.existing_len(&key) == Some(size) {
            return Ok(Blob { key, size });
        }
        let mut writer = self.writer()?;
        writer
            .write_all(bytes)
            .map_err(|e| StoreError::io(&writer.path, e))?;
        writer.finish()
    }

    /// A writer that hashes what it is given and becomes a blob on [`BlobWriter::finish`];
    /// for request bodies streamed to disk. Dropped unfinished, it removes its temporary file.
    pub fn writer(&self) -> Result<BlobWriter, StoreError> {
        let path = self
            .tmp
            .join(format!("{}.part", uuid::Uuid::new_v4().simple()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        Ok(BlobWriter {
            store: self.clone(),
            file: Some(file),
            path,
            hasher: openssl::sha::Sha256::new(),
            len: 0,
        })
    }

    /// Opens a blob for streaming. The content is not checked against the key; use
    /// [`BlobStore::get`] when it must be.
    pub fn open_blob(&self, key: &BlobKey) -> Result<File, StoreError> {
        let path = self.path(key);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobMissing(key.to_hex()),
            _ => StoreError::io(&path, e),
        })
    }

    /// Reads a whole blob and checks that its bytes still hash to its key.
    pub fn get(&self, key: &BlobKey) -> Result<Vec<u8>, StoreError> {
        let path = self.path(key);
        let mut bytes = Vec::new();
        self.open_blob(key)?
            .read_to_end(&mut bytes)
            .map_err(|e| StoreError::io(&path, e))?;
        if BlobKey::of(&bytes) != *key {
            return Err(StoreError::corrupt(format!(
                "{} does not hash to its name",
                path.display()
            )));
        }
        Ok(bytes)
    }

    /// Deletes the temporary files a crash left behind (`kill -9` during an upload) and returns
    /// how many. Call at start, before any writer of this data directory runs.
    pub fn remove_temporary_files(&self) -> Result<usize, StoreError> {
        let mut removed = 0;
        let entries = fs::read_dir(&self.tmp).map_err(|e| StoreError::io(&self.tmp, e))?;
        for entry in entries {
            let path = entry.map_err(|e| StoreError::io(&self.tmp, e))?.path();
            if path.extension().is_some_and(|e| e == "part") {
                fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Every stored blob last modified before `before`: (key, path). A blob is renamed into
    /// place and fsynced before the transaction that refers to it commits, so a crash in
    /// between leaves one that no row names; once old enough, nothing is still about to.
    pub fn blobs_older_than(
        &self,
        before: std::time::SystemTime,
    ) -> Result<Vec<(BlobKey, PathBuf)>, StoreError> {
        let mut found = Vec::new();
        let shards = fs::read_dir(&self.objects).map_err(|e| StoreError::io(&self.objects, e))?;
        for shard in shards {
            let shard = shard.map_err(|e| StoreError::io(&self.objects, e))?.path();
            let Some(prefix) = shard
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
            else {
                continue;
            };
            let entries = fs::read_dir(&shard).map_err(|e| StoreError::io(&shard, e))?;
            for entry in entries {
                let path = entry.map_err(|e| StoreError::io(&shard, e))?.path();
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                let Some(key) = BlobKey::parse(&format!("{prefix}{name}")) else {
                    continue;
                };
                let modified = fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .map_err(|e| StoreError::io(&path, e))?;
                if modified < before {
                    found.push((key, path));
                }
            }
        }
        Ok(found)
    }

    fn existing_len(&self, key: &BlobKey) -> Option<u64> {
        fs::metadata(self.path(key)).ok().map(|m| m.len())
    }

    /// Moves a finished, fsynced temporary file into place and makes the rename durable.
    fn install(&self, temp: &Path, key: &BlobKey) -> Result<(), StoreError> {
        let target = self.path(key);
        let shard = target.parent().unwrap_or(&self.objects);
        if !shard.is_dir() {
            match fs::create_dir(shard) {
                Ok(()) => sync_dir(&self.objects)?,
                // Another writer made it first: fine.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(StoreError::io(shard, e)),
            }
        }
        fs::rename(temp, &target).map_err(|e| StoreError::io(&target, e))?;
        sync_dir(shard)
    }
}

/// A blob being written. See [`BlobStore::writer`].
pub struct BlobWriter {
    store: BlobStore,
    /// `None` once finished.
    file: Option<File>,
    path: PathBuf,
    hasher: openssl::sha::Sha256,
    len: u64,
}

impl fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobWriter")
            .field("path", &self.path)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl BlobWriter {
    /// Bytes written so far (for size limits).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fsyncs the bytes, moves them to their content address and returns the blob. When the
    /// same content is already stored, the temporary copy is discarded.
    pub fn finish(mut self) -> Result<Blob, StoreError> {
        let file = self.file.take();
        let key = BlobKey(self.hasher.clone().finish());
        let size = self.len;
        if let Some(file) = file {
            file.sync_all().map_err(|e| StoreError::io(&self.path, e))?;
        }
        if self.store.existing_len(&key) == Some(size) {
            let _ = fs::remove_file(&self.path);
            return Ok(Blob { key, size });
        }
        self.store.install(&self.path, &key)?;
        Ok(Blob { key, size })
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already finished"))?;
        let n = file.write(buf)?;
        let written = buf.get(..n).unwrap_or(buf);
        self.hasher.update(written);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Makes a directory's entries (a rename, a new file) durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_hex() {
        let key = BlobKey::of(b"abc");
        assert_eq!(
            key.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(BlobKey::parse(&key.to_hex()), Some(key));
        assert_eq!(BlobKey::parse(&key.to_hex().to_uppercase()), Some(key));
        assert_eq!(BlobKey::parse("abc"), None);
        assert_eq!(BlobKey::parse(&"z".repeat(64)), None);
    }

    #[test]
    fn put_places_the_blob_under_its_hash_and_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open(dir.path()).expect("open");
        let blob = store.put(b"abc").expect("put");
        let expected = dir
            .path()
            .join("blobs/sha256/ba/7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(store.path(&blob.key), expected);
        assert!(expected.is_file());
        assert_eq!(blob.size, 3);
        assert_eq!(store.put(b"abc").expect("again"), blob);
        assert_eq!(store.get(&blob.key).expect("get"), b"abc");
        let leftovers = fs::read_dir(dir.path().join("blobs/tmp"))
            .expect("tmp")
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn a_streamed_blob_equals_a_put_one_and_an_abandoned_one_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open(dir.path()).expect("open");
        let mut writer = store.writer().expect("writer");
        writer.write_all(b"hello ").expect("write");
        writer.write_all(b"world").expect("write");
        assert_eq!(writer.len(), 11);
        let streamed = writer.finish().expect("finish");
        assert_eq!(streamed, store.put(b"hello world").expect("put"));

        let mut abandoned = store.writer().expect("writer");
        abandoned.write_all(b"never finished").expect("write");
        drop(abandoned);
        // A crash leaves the temporary file; the start-up sweep removes it.
        let mut crashed = store.writer().expect("writer");
        crashed.write_all(b"killed mid-upload").expect("write");
        std::mem::forget(crashed);
        assert_eq!(store.remove_temporary_files().expect("sweep"), 1);
        let leftovers = fs::read_dir(dir.path().join("blobs/tmp"))
            .expect("tmp")
            .count();
        assert_eq!(leftovers, 0);
        assert!(!store.contains(&BlobKey::of(b"never finished")));
    }

    #[test]
    fn a_truncated_blob_is_rewritten_and_a_changed_one_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open(dir.path()).expect("open");
        let blob = store.put(b"the original bytes").expect("put");
        fs::write(store.path(&blob.key), b"the orig").expect("truncate");
        store.put(b"the original bytes").expect("put again");
        assert_eq!(store.get(&blob.key).expect("get"), b"the original bytes");

        fs::write(store.path(&blob.key), b"THE ORIGINAL BYTES").expect("tamper");
        let err = store.get(&blob.key).err();
        assert_eq!(err.map(|e| e.code()), Some("store.corrupt"));
        let missing = store.get(&BlobKey::of(b"nothing")).err();
        assert_eq!(missing.map(|e| e.code()), Some("store.blob_missing"));
    }
}
