//! What an agency may read and acknowledge: its inbox, the packets it sent or received, its
//! receipts, where its documents stand. Anything else is answered as not found, so that an
//! agency cannot even learn whether another agency's packet exists.

use crate::edxml::OrganId;
use crate::store::{
    deliveries, now_micros, packets, Ack, BlobKey, DocumentRecord, InboxEntry, InboxQuery,
    PacketKind, PacketRecord, RecipientStateRecord, StatusRecord, StoreError,
};

use super::state::RecipientState;
use super::{Exchange, ExchangeError};

/// Most deliveries in one inbox page.
pub const MAX_INBOX_PAGE: u32 = 1000;

/// A packet with its bytes exactly as submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPacket {
    pub record: PacketRecord,
    pub bytes: Vec<u8>,
}

/// What acknowledging a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// Taken now (microseconds since the epoch).
    Acked(i64),
    /// It had been acknowledged at that time; nothing changed.
    AlreadyAcked(i64),
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

    /// A packet's record and exact bytes, for its sender and its recipients only.
    pub async fn packet(&self, agency: &OrganId, id: &str) -> Result<StoredPacket, ExchangeError> {
        let record = self.visible_packet(agency, id).await?;
        let mut conn = self.inner.store.acquire().await?;
        if let Some(bytes) = packets::content(&mut conn, id).await? {
            if BlobKey::of(&bytes).to_hex() != record.content_sha256 {
                return Err(StoreError::Corrupt(format!(
                    "the bytes kept with packet {id} no longer hash to {}",
                    record.content_sha256
                ))
                .into());
            }
            return Ok(StoredPacket { record, bytes });
        }
        drop(conn);
        let key = BlobKey::parse(&record.blob_key).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "packet {id} has the blob key {:?}",
                record.blob_key
            ))
        })?;
        let inner = self.inner.clone();
        let bytes = tokio::task::spawn_blocking(move || inner.blobs.get(&key))
            .await
            .map_err(|e| ExchangeError::Internal(format!("blob read task: {e}")))??;
        Ok(StoredPacket { record, bytes })
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
        let input = (agency.as_str().to_owned(), delivery, now_micros());
        self.inner
            .store
            .write(input, |conn, (agency, seq, at)| {
                Box::pin(async move {
                    match deliveries::ack_delivery(conn, *seq, agency, *at).await? {
                        Ack::AlreadyAcked(when) => return Ok(AckOutcome::AlreadyAcked(when)),
                        Ack::NotFound => {
                            return Err(ExchangeError::NotFound {
                                what: format!("delivery {seq}"),
                                agency: agency.clone(),
                            })
                        }
                        Ack::Acked => {}
                    }
                    let packet = match deliveries::delivery(conn, *seq).await? {
                        Some(d) => packets::packet(conn, &d.packet_id).await?,
                        None => None,
                    };
                    let Some(packet) = packet.filter(|p| p.kind == PacketKind::Message) else {
                        return Ok(AckOutcome::Acked(*at));
                    };
                    let state = deliveries::recipient_state(
                        conn,
                        &packet.sender,
                        &packet.document_id,
                        agency,
                    )
                    .await?;
                    if let Some(record) = state {
                        let current = RecipientState::parse(&record.state).ok_or_else(|| {
                            StoreError::Corrupt(format!("recipient state {:?}", record.state))
                        })?;
                        let next = current.delivered();
                        if next != current {
                            let changed = RecipientStateRecord {
                                state: next.to_string(),
                                updated_at: *at,
                                ..record
                            };
                            deliveries::set_recipient_state(conn, &changed).await?;
                        }
                    }
                    Ok(AckOutcome::Acked(*at))
                })
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
