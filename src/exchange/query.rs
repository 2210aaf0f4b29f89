//! What an agency may read and acknowledge: its inbox, the packets it sent or received, its
//! receipts, where its documents stand. Anything else is answered as not found, so that an
//! agency cannot even learn whether another agency's packet exists.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use futures_util::stream::{self, Stream, StreamExt as _};

use crate::edxml::OrganId;
use crate::store::{
    deliveries, now_micros, packets, BlobKey, DocumentRecord, InboxEntry, InboxQuery, PacketRecord,
    RecipientStateRecord, StatusRecord, StoreError,
};

use super::take::{take_pulled, AckOutcome};
use super::{Exchange, ExchangeError};

/// Most deliveries in one inbox page.
pub const MAX_INBOX_PAGE: u32 = 1000;

/// Most bytes of a blob read at once: what one response streaming a large packet holds.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// A packet the caller may read: its record and its bytes exactly as submitted.
#[derive(Debug)]
pub struct StoredPacket {
    pub record: PacketRecord,
    pub body: PacketBody,
}

/// The bytes of a packet, exactly as submitted.
#[derive(Debug)]
pub enum PacketBody {
    /// A small packet's bytes, kept in its row; already checked against its SHA-256.
    Inline(Vec<u8>),
    /// A large packet's blob, open for streaming; its bytes are checked against `key` as
    /// [`PacketBody::into_chunks`] reads them.
    Blob {
        file: File,
        /// The packet's size, which the file was found to have when it was opened.
        len: u64,
        key: BlobKey,
        /// Where the file is, for error messages.
        path: PathBuf,
    },
}

impl PacketBody {
    /// The number of bytes (a response's Content-Length).
    pub fn len(&self) -> u64 {
        match self {
            PacketBody::Inline(bytes) => bytes.len() as u64,
            PacketBody::Blob { len, .. } => *len,
        }
    }

    /// Whether the packet has no bytes (never for an accepted packet).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes in order, a blob in chunks of at most [`CHUNK_BYTES`] each read on the
    /// blocking pool, so that a response holds one chunk at a time whatever the packet's size.
    ///
    /// The last chunk of a blob is handed out only once all its bytes hash to its key: a blob
    /// damaged on disk ends the stream with `store.corrupt` before [`PacketBody::len`] bytes
    /// were given, so a reader can never take wrong bytes for the whole packet.
    pub fn into_chunks(self) -> impl Stream<Item = Result<Vec<u8>, ExchangeError>> + Send {
        match self {
            PacketBody::Inline(bytes) => stream::once(async move { Ok(bytes) }).left_stream(),
            PacketBody::Blob {
                file,
                len,
                key,
                path,
            } => {
                let reader = CheckedChunks::new(file, len, key, path);
                stream::unfold(Some(reader), next_blob_chunk).right_stream()
            }
        }
    }
}

impl PacketBody {
    /// The bytes as a blocking reader, for a worker thread that sends them. A blob is read in
    /// chunks as in [`PacketBody::into_chunks`]: one damaged on disk fails the read before its
    /// last byte, so a receiver never takes wrong bytes for the whole packet.
    pub fn into_reader(self) -> Box<dyn Read + Send> {
        match self {
            PacketBody::Inline(bytes) => Box::new(io::Cursor::new(bytes)),
            PacketBody::Blob {
                file,
                len,
                key,
                path,
            } => Box::new(ChunkReader {
                chunks: CheckedChunks::new(file, len, key, path),
                current: Vec::new(),
                at: 0,
            }),
        }
    }
}

/// [`CheckedChunks`] as an [`io::Read`].
struct ChunkReader {
    chunks: CheckedChunks,
    current: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.current.len() {
            match self.chunks.next_chunk() {
                Ok(Some(chunk)) => {
                    self.current = chunk;
                    self.at = 0;
                }
                Ok(None) => return Ok(0),
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// One step of [`PacketBody::into_chunks`] for a blob: the next chunk, read on the blocking
/// pool. After an error the stream ends.
async fn next_blob_chunk(
    reader: Option<CheckedChunks>,
) -> Option<(Result<Vec<u8>, ExchangeError>, Option<CheckedChunks>)> {
    let mut reader = reader?;
    let step = tokio::task::spawn_blocking(move || {
        let next = reader.next_chunk();
        (reader, next)
    })
    .await;
    match step {
        Ok((reader, Ok(Some(chunk)))) => Some((Ok(chunk), Some(reader))),
        Ok((_, Ok(None))) => None,
        Ok((_, Err(e))) => Some((Err(e.into()), None)),
        Err(e) => Some((
            Err(ExchangeError::Internal(format!("blob read task: {e}"))),
            None,
        )),
    }
}

/// Reads a blob's `len` bytes in chunks while hashing them, and withholds the last chunk
/// unless the hash is the blob's key.
struct CheckedChunks {
    file: File,
    len: u64,
    key: BlobKey,
    path: PathBuf,
    given: u64,
    finished: bool,
    hasher: openssl::sha::Sha256,
}

impl CheckedChunks {
    fn new(file: File, len: u64, key: BlobKey, path: PathBuf) -> CheckedChunks {
        CheckedChunks {
            file,
            len,
            key,
            path,
            given: 0,
            finished: false,
            hasher: openssl::sha::Sha256::new(),
        }
    }

    /// The next chunk; `None` after the last one.
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        if self.finished {
            return Ok(None);
        }
        let remaining = self.len.saturating_sub(self.given);
        let size = usize::try_from(remaining).map_or(CHUNK_BYTES, |r| r.min(CHUNK_BYTES));
        let mut chunk = vec![0; size];
        self.file
            .read_exact(&mut chunk)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => StoreError::corrupt(format!(
                    "{} became shorter than its {} bytes while it was read",
                    self.path.display(),
                    self.len
                )),
                _ => StoreError::io(&self.path, e),
            })?;
        self.hasher.update(&chunk);
        self.given += size as u64;
        if self.given >= self.len {
            self.finished = true;
            let digest = BlobKey::from(self.hasher.clone().finish());
            if digest != self.key {
                return Err(StoreError::corrupt(format!(
                    "{} no longer hashes to its name (its bytes hash to {digest})",
                    self.path.display()
                )));
            }
        }
        Ok(Some(chunk))
    }
}

/// What [`Exchange::packet_unless`] found.
#[derive(Debug)]
pub enum PacketAnswer {
    /// The caller holds these bytes already: the record only.
    Unchanged(PacketRecord),
    /// The record and the bytes.
    Changed(StoredPacket),
}

/// A document as its sender (all recipients) or one of its recipients (itself) may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentStatus {
    pub document: DocumentRecord,
    pub recipients: Vec<RecipientStateRecord>,
    pub history: Vec<StatusRecord>,
}

impl Exchange {
    /// The caller's deliveries after `after` (a delivery seq; 0 for the start), oldest first.
    pub async fn inbox(
        &self,
        agency: &OrganId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<InboxEntry>, ExchangeError> {
        let mut conn = self.inner.store.acquire().await?;
        let query = InboxQuery {
            recipient: agency.as_str().to_owned(),
            after: after.max(0),
            limit: limit.clamp(1, MAX_INBOX_PAGE),
            pending_only: false,
        };
        Ok(deliveries::inbox(&mut conn, &query).await?)
    }

    /// A packet's record and bytes, for its sender and its recipients only — or its record
    /// alone when `unchanged` says the caller holds the bytes already (a conditional GET whose
    /// ETag matches the record's SHA-256). Visibility is checked once either way. A large
    /// packet's blob is opened, not read: see [`PacketBody::into_chunks`].
    pub async fn packet_unless(
        &self,
        agency: &OrganId,
        id: &str,
        unchanged: impl FnOnce(&PacketRecord) -> bool,
    ) -> Result<PacketAnswer, ExchangeError> {
        let record = self.visible_packet(agency, id).await?;
        if unchanged(&record) {
            return Ok(PacketAnswer::Unchanged(record));
        }
        let body = self.packet_body(&record).await?;
        Ok(PacketAnswer::Changed(StoredPacket { record, body }))
    }

    /// Like [`Exchange::packet_unless`] for a reader whose right to see the packet the caller
    /// has checked already (an auditor granted the packets of its scope).
    pub async fn packet_unless_checked(
        &self,
        id: &str,
        unchanged: impl FnOnce(&PacketRecord) -> bool,
    ) -> Result<PacketAnswer, ExchangeError> {
        let mut conn = self.inner.store.acquire().await?;
        let record =
            packets::packet(&mut conn, id)
                .await?
                .ok_or_else(|| ExchangeError::NotFound {
                    what: format!("packet {id}"),
                    agency: String::new(),
                })?;
        drop(conn);
        if unchanged(&record) {
            return Ok(PacketAnswer::Unchanged(record));
        }
        let body = self.packet_body(&record).await?;
        Ok(PacketAnswer::Changed(StoredPacket { record, body }))
    }

    /// The bytes of packet `id` for the server's own workers (pushes): no caller, so no
    /// visibility check — never reachable from a request.
    pub async fn packet_body_for_delivery(&self, id: &str) -> Result<PacketBody, ExchangeError> {
        let mut conn = self.inner.store.acquire().await?;
        let record = packets::packet(&mut conn, id).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("a delivery names packet {id}, which is not stored"))
        })?;
        drop(conn);
        self.packet_body(&record).await
    }

    /// The bytes of a packet whose visibility was checked.
    async fn packet_body(&self, record: &PacketRecord) -> Result<PacketBody, ExchangeError> {
        let id = &record.id;
        let mut conn = self.inner.store.acquire().await?;
        if let Some(bytes) = packets::content(&mut conn, id).await? {
            if BlobKey::of(&bytes).to_hex() != record.content_sha256 {
                return Err(StoreError::Corrupt(format!(
                    "the bytes kept with packet {id} no longer hash to {}",
                    record.content_sha256
                ))
                .into());
            }
            return Ok(PacketBody::Inline(bytes));
        }
        drop(conn);
        let key = BlobKey::parse(&record.blob_key).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "packet {id} has the blob key {:?}",
                record.blob_key
            ))
        })?;
        let len = u64::try_from(record.size).map_err(|_| {
            StoreError::Corrupt(format!("packet {id} has the size {}", record.size))
        })?;
        let inner = self.inner.clone();
        let (file, path) = tokio::task::spawn_blocking(move || {
            let path = inner.blobs.path(&key);
            let file = inner.blobs.open_blob(&key)?;
            let on_disk = file.metadata().map_err(|e| StoreError::io(&path, e))?.len();
            if on_disk != len {
                return Err(StoreError::corrupt(format!(
                    "{} holds {on_disk} bytes, but its packet has {len}",
                    path.display()
                )));
            }
            Ok((file, path))
        })
        .await
        .map_err(|e| ExchangeError::Internal(format!("blob open task: {e}")))??;
        Ok(PacketBody::Blob {
            file,
            len,
            key,
            path,
        })
    }

    /// The receipt of a packet, for its sender only.
    pub async fn receipt(&self, agency: &OrganId, id: &str) -> Result<String, ExchangeError> {
        let mut conn = self.inner.store.acquire().await?;
        let not_found = || not_found(format!("the receipt of packet {id}"), agency);
        let record = packets::packet(&mut conn, id)
            .await?
            .ok_or_else(not_found)?;
        if record.sender != agency.as_str() {
            return Err(not_found());
        }
        let receipt = packets::receipt(&mut conn, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("packet {id} has no receipt")))?;
        Ok(receipt.receipt_xml)
    }

    /// Whether `agency` may see packet `id`: it sent it or is one of its recipients.
    pub async fn may_see_packet(&self, agency: &OrganId, id: &str) -> Result<bool, ExchangeError> {
        match self.visible_packet(agency, id).await {
            Ok(_) => Ok(true),
            Err(ExchangeError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn visible_packet(
        &self,
        agency: &OrganId,
        id: &str,
    ) -> Result<PacketRecord, ExchangeError> {
        let mut conn = self.inner.store.acquire().await?;
        let not_found = || not_found(format!("packet {id}"), agency);
        let record = packets::packet(&mut conn, id)
            .await?
            .ok_or_else(not_found)?;
        if record.sender == agency.as_str() {
            return Ok(record);
        }
        let delivered = deliveries::deliveries_of_packet(&mut conn, id)
            .await?
            .iter()
            .any(|d| d.recipient == agency.as_str());
        if delivered {
            Ok(record)
        } else {
            Err(not_found())
        }
    }

    /// Marks a delivery of the caller's inbox as taken; the first acknowledgement of a message
    /// moves the document to `delivered` at this recipient.
    pub async fn ack(&self, agency: &OrganId, delivery: i64) -> Result<AckOutcome, ExchangeError> {
        let event = self.inner.store.event_number().await?;
        let input = (agency.as_str().to_owned(), delivery, now_micros(), event);
        self.inner
            .store
            .write(input, |conn, (agency, seq, at, event)| {
                Box::pin(take_pulled(conn, *seq, agency, *at, *event))
            })
            .await
    }

    /// Where `sender`'s document `document_id` stands: every recipient and the whole history
    /// for its sender; its own state and the statuses it or the sender reported for a
    /// recipient; not found for anyone else.
    pub async fn document_status(
        &self,
        agency: &OrganId,
        sender: &str,
        document_id: &str,
    ) -> Result<DocumentStatus, ExchangeError> {
        let mut conn = self.inner.store.acquire().await?;
        let not_found = || not_found(format!("document {document_id} of {sender}"), agency);
        let document = packets::document(&mut conn, sender, document_id)
            .await?
            .ok_or_else(not_found)?;
        let mut recipients = deliveries::recipient_states(&mut conn, sender, document_id).await?;
        let mut history = deliveries::status_history(&mut conn, sender, document_id).await?;
        let me = agency.as_str();
        if me != sender {
            recipients.retain(|r| r.recipient == me);
            if recipients.is_empty() {
                return Err(not_found());
            }
            history.retain(|h| h.reporter == me || h.reporter == sender);
        }
        Ok(DocumentStatus {
            document,
            recipients,
            history,
        })
    }
}

fn not_found(what: String, agency: &OrganId) -> ExchangeError {
    ExchangeError::NotFound {
        what,
        agency: agency.as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BlobStore;

    /// A body as [`Exchange::packet_unless`] opens a blob of `bytes`, then damaged by `damage`.
    fn blob_body(
        dir: &std::path::Path,
        bytes: &[u8],
        damage: impl FnOnce(&mut Vec<u8>),
    ) -> PacketBody {
        let store = BlobStore::open(dir).expect("blob store");
        let blob = store.put(bytes).expect("put");
        let path = store.path(&blob.key);
        let mut on_disk = bytes.to_vec();
        damage(&mut on_disk);
        std::fs::write(&path, &on_disk).expect("damage");
        PacketBody::Blob {
            file: store.open_blob(&blob.key).expect("open"),
            len: blob.size,
            key: blob.key,
            path,
        }
    }

    /// Every chunk until the end or the first error.
    async fn collect(body: PacketBody) -> (Vec<Vec<u8>>, Option<ExchangeError>) {
        let mut chunks = Vec::new();
        let mut stream = std::pin::pin!(body.into_chunks());
        while let Some(next) = stream.next().await {
            match next {
                Ok(chunk) => chunks.push(chunk),
                Err(e) => return (chunks, Some(e)),
            }
        }
        (chunks, None)
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn a_blob_streams_in_bounded_chunks_that_add_up_to_its_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = sample(3 * CHUNK_BYTES + 123);
        let body = blob_body(dir.path(), &bytes, |_| {});
        assert_eq!(body.len(), bytes.len() as u64);
        let (chunks, error) = collect(body).await;
        assert!(error.is_none(), "{error:?}");
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, [CHUNK_BYTES, CHUNK_BYTES, CHUNK_BYTES, 123]);
        assert_eq!(chunks.concat(), bytes);
    }

    #[tokio::test]
    async fn a_damaged_blob_ends_in_an_error_before_its_last_chunk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = sample(2 * CHUNK_BYTES + 10);
        let body = blob_body(dir.path(), &bytes, |b| b[CHUNK_BYTES / 2] ^= 0x01);
        let (chunks, error) = collect(body).await;
        assert_eq!(error.map(|e| e.code()), Some("store.corrupt"));
        // Given: the first two chunks (one of them wrong); withheld: the last.
        assert_eq!(chunks.concat().len(), 2 * CHUNK_BYTES);
    }

    #[tokio::test]
    async fn a_blob_damaged_in_its_last_chunk_or_cut_short_gives_no_complete_body() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = sample(CHUNK_BYTES + 10);
        let last = blob_body(dir.path(), &bytes, |b| b[CHUNK_BYTES + 5] ^= 0x80);
        let (chunks, error) = collect(last).await;
        assert_eq!(error.map(|e| e.code()), Some("store.corrupt"));
        assert_eq!(chunks.concat(), bytes[..CHUNK_BYTES]);

        let other = tempfile::tempdir().expect("tempdir");
        let short = blob_body(other.path(), &bytes, |b| b.truncate(CHUNK_BYTES + 3));
        let (chunks, error) = collect(short).await;
        assert_eq!(error.map(|e| e.code()), Some("store.corrupt"));
        assert_eq!(chunks.concat().len(), CHUNK_BYTES);
    }

    #[tokio::test]
    async fn an_exact_multiple_of_the_chunk_size_and_an_inline_body_stream_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = sample(2 * CHUNK_BYTES);
        let (chunks, error) = collect(blob_body(dir.path(), &bytes, |_| {})).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks.concat(), bytes);

        let inline = PacketBody::Inline(b"<edXML/>".to_vec());
        assert_eq!(inline.len(), 8);
        let (chunks, error) = collect(inline).await;
        assert!(error.is_none());
        assert_eq!(chunks, [b"<edXML/>".to_vec()]);
    }
}
