//! Recording many new documents at once: the writer's [`Bulk`] form of accepting plain
//! message packets (a new DocumentId, no original to act on), the exchange's hot path.
//!
//! It applies the same rules as the one-by-one unit in `accept` — the same bytes from the same
//! sender get the first answer back, a used DocumentId is refused — but decides them for the
//! whole group with two reads per sender, then writes every accepted packet's rows with one
//! statement per table. Packets of one group are decided in queue order, so two racing for a
//! DocumentId end as they would one by one: the first is accepted, the second refused.

use std::collections::{HashMap, HashSet};

use sqlx::AnyConnection;

use crate::store::{
    deliveries, packets, BoxFuture, Bulk, BulkOutcomes, DocumentRecord, NewDelivery, PacketRecord,
    ReceiptRecord, RecipientStateRecord, StoreError,
};

use super::accept::{Accepted, Plan, Record};
use super::ExchangeError;

/// The bulk kind of plain message packets.
#[derive(Debug, Default)]
pub(super) struct NewDocuments;

impl NewDocuments {
    /// Whether `record` may be recorded in bulk: a message creating a new document.
    pub(super) fn takes(record: &Record) -> bool {
        matches!(&record.plan, Plan::Message(plan) if plan.document.is_some() && plan.originals.is_empty())
    }
}

impl Bulk for NewDocuments {
    type Input = Record;
    type Output = Accepted;
    type Error = ExchangeError;

    fn run<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        inputs: &'a [&'a Record],
    ) -> BoxFuture<'a, BulkOutcomes<Self>> {
        Box::pin(record_all(conn, inputs))
    }
}

async fn record_all(
    conn: &mut AnyConnection,
    records: &[&Record],
) -> Result<Vec<Result<Accepted, ExchangeError>>, StoreError> {
    let known = Known::read(conn, records).await?;
    let mut outcomes = Vec::with_capacity(records.len());
    let mut rows = Rows::default();
    // (sender, content) → the record of this group that was accepted with those bytes.
    let mut contents: HashMap<(&str, &str), &Record> = HashMap::new();
    let mut documents: HashSet<(&str, &str)> = HashSet::new();
    for &record in records {
        let packet = &record.packet;
        let content = (packet.sender.as_str(), packet.content_sha256.as_str());
        if let Some(done) = known.replays.get(&content) {
            outcomes.push(Ok(done.clone()));
            continue;
        }
        if let Some(first) = contents.get(&content) {
            outcomes.push(Ok(Accepted {
                replayed: true,
                ..accepted(first)
            }));
            continue;
        }
        let document = (packet.sender.as_str(), packet.document_id.as_str());
        if known.documents.contains(&document) || !documents.insert(document) {
            outcomes.push(Err(ExchangeError::DuplicateDocument {
                sender: packet.sender.clone(),
                document_id: packet.document_id.clone(),
            }));
            continue;
        }
        let Plan::Message(plan) = &record.plan else {
            return Err(StoreError::Unavailable(
                "a status packet was queued as a new document".to_owned(),
            ));
        };
        let Some(new) = &plan.document else {
            return Err(StoreError::Unavailable(
                "a packet acting on an original was queued as a new document".to_owned(),
            ));
        };
        contents.insert(content, record);
        rows.add(record, new, &plan.recipients);
        outcomes.push(Ok(accepted(record)));
    }
    rows.write(conn).await?;
    Ok(outcomes)
}

fn accepted(record: &Record) -> Accepted {
    Accepted {
        id: record.packet.id.clone(),
        receipt: record.receipt.receipt_xml.clone(),
        kind: record.packet.kind,
        document_id: record.packet.document_id.clone(),
        replayed: false,
    }
}

/// What the database already holds of a group's keys.
struct Known<'r> {
    /// (sender, content) → the first answer to those bytes.
    replays: HashMap<(&'r str, &'r str), Accepted>,
    /// (sender, DocumentId) already used.
    documents: HashSet<(&'r str, &'r str)>,
}

impl<'r> Known<'r> {
    async fn read(
        conn: &mut AnyConnection,
        records: &[&'r Record],
    ) -> Result<Known<'r>, StoreError> {
        let mut by_sender: HashMap<&'r str, Vec<&'r PacketRecord>> = HashMap::new();
        for record in records {
            by_sender
                .entry(record.packet.sender.as_str())
                .or_default()
                .push(&record.packet);
        }
        let mut known = Known {
            replays: HashMap::new(),
            documents: HashSet::new(),
        };
        for (sender, group) in by_sender {
            let contents: Vec<&str> = group.iter().map(|p| p.content_sha256.as_str()).collect();
            for (packet, receipt) in packets::packets_by_contents(conn, sender, &contents).await? {
                let Some(key) = group
                    .iter()
                    .find(|p| p.content_sha256 == packet.content_sha256)
                else {
                    continue;
                };
                known.replays.insert(
                    (sender, key.content_sha256.as_str()),
                    Accepted {
                        id: packet.id,
                        receipt: receipt.receipt_xml,
                        kind: packet.kind,
                        document_id: packet.document_id,
                        replayed: true,
                    },
                );
            }
            let ids: Vec<&str> = group.iter().map(|p| p.document_id.as_str()).collect();
            let used: HashSet<String> = packets::existing_documents(conn, sender, &ids)
                .await?
                .into_iter()
                .collect();
            for packet in group.iter().filter(|p| used.contains(&p.document_id)) {
                known
                    .documents
                    .insert((sender, packet.document_id.as_str()));
            }
        }
        Ok(known)
    }
}

/// The rows of the accepted packets of a group, table by table.
#[derive(Default)]
struct Rows<'r> {
    packets: Vec<(&'r PacketRecord, Option<&'r [u8]>)>,
    documents: Vec<DocumentRecord>,
    states: Vec<RecipientStateRecord>,
    deliveries: Vec<NewDelivery>,
    receipts: Vec<&'r ReceiptRecord>,
}

impl<'r> Rows<'r> {
    fn add(&mut self, record: &'r Record, new: &DocumentRecord, recipients: &[String]) {
        let packet = &record.packet;
        let (document, states) = super::accept::new_document_rows(packet, new, recipients);
        self.packets.push((packet, record.content.as_deref()));
        self.documents.push(document);
        self.states.extend(states);
        self.deliveries
            .extend(super::accept::deliveries_of(packet, recipients));
        self.receipts.push(&record.receipt);
    }

    /// Writes the rows, parents before the rows that refer to them.
    async fn write(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if self.packets.is_empty() {
            return Ok(());
        }
        packets::insert_packets(conn, &self.packets).await?;
        packets::insert_documents(conn, &self.documents).await?;
        deliveries::set_recipient_states(conn, &self.states).await?;
        deliveries::queue_deliveries(conn, &self.deliveries).await?;
        packets::insert_receipts(conn, &self.receipts).await
    }
}
