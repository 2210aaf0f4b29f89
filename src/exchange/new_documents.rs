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

use crate::store::events::{self, EventRecord};
use crate::store::{
    deliveries, mails, packets, pushes, stats, BoxFuture, Bulk, BulkOutcomes, DocumentRecord,
    NewDelivery, PacketRecord, ReceiptRecord, RecipientStateRecord, StoreError,
};

use super::plan::{deliveries_of, new_document_rows, Accepted, Plan, Record};
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
                ..first.accepted()
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
            return Err(StoreError::Database(
                "a status packet was queued as a new document (a bug)".to_owned(),
            ));
        };
        let Some(new) = &plan.document else {
            return Err(StoreError::Database(
                "a packet acting on an original was queued as a new document (a bug)".to_owned(),
            ));
        };
        contents.insert(content, record);
        rows.add(record, new, &plan.recipients);
        outcomes.push(Ok(record.accepted()));
    }
    rows.write(conn).await?;
    Ok(outcomes)
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
                    Accepted::replay_of(packet, receipt),
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
    events: Vec<&'r EventRecord>,
}

impl<'r> Rows<'r> {
    fn add(&mut self, record: &'r Record, new: &DocumentRecord, recipients: &[String]) {
        let packet = &record.packet;
        let (document, states) = new_document_rows(packet, new, recipients);
        self.packets.push((packet, record.content.as_deref()));
        self.documents.push(document);
        self.states.extend(states);
        self.deliveries.extend(deliveries_of(packet, recipients));
        self.receipts.push(&record.receipt);
        self.events.push(&record.event);
    }

    /// Writes the rows, parents before the rows that refer to them; the pushes the deliveries
    /// and mails call for go in with them, and the acceptances' audit events.
    async fn write(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if self.packets.is_empty() {
            return Ok(());
        }
        packets::insert_packets(conn, &self.packets).await?;
        packets::insert_documents(conn, &self.documents).await?;
        deliveries::set_recipient_states(conn, &self.states).await?;
        deliveries::queue_deliveries(conn, &self.deliveries).await?;
        let ids: Vec<&str> = self.packets.iter().map(|(p, _)| p.id.as_str()).collect();
        stats::count_letters(conn, &ids).await?;
        pushes::queue(conn, &ids).await?;
        mails::queue_arrivals(conn, &ids).await?;
        packets::insert_receipts(conn, &self.receipts).await?;
        events::insert(conn, &self.events).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edxml::BusinessDocType;
    use crate::exchange::plan::MessagePlan;
    use crate::store::{PacketKind, Store};

    const G22: &str = "000.00.00.G22";
    /// Event numbers for the records of these tests, unique across them.
    static NUMBERS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);

    fn record(id: &str, content: &str, document_id: &str) -> Record {
        Record {
            packet: PacketRecord {
                id: id.to_owned(),
                sender: G22.to_owned(),
                kind: PacketKind::Message,
                document_id: document_id.to_owned(),
                content_sha256: content.repeat(64),
                size: 5,
                blob_key: content.repeat(64),
                received_at: 1,
                legacy_sha1: false,
                verdict: "{}".to_owned(),
            },
            content: Some(content.as_bytes().to_vec()),
            _reserved: None,
            plan: Plan::Message(MessagePlan {
                document: Some(DocumentRecord {
                    sender: G22.to_owned(),
                    document_id: document_id.to_owned(),
                    first_packet_id: String::new(),
                    content_sha256: String::new(),
                    business_type: BusinessDocType::New.as_str().to_owned(),
                    subject: "subject".to_owned(),
                    created_at: 0,
                    ..Default::default()
                }),
                recipients: vec!["000.00.00.H49".to_owned(), "000.00.00.H08".to_owned()],
                originals: Vec::new(),
                business: BusinessDocType::New,
            }),
            receipt: ReceiptRecord {
                packet_id: id.to_owned(),
                receipt_xml: format!("<Receipt>{id}</Receipt>"),
                created_at: 1,
            },
            event: EventRecord::new(
                NUMBERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                1,
                events::EventKind::DeliveryAcknowledged,
                Some(id),
                &[id, "1", "000.00.00.H49"],
            ),
        }
    }

    /// Runs one group in its own committed transaction, as the writer would.
    async fn group(store: &Store, records: Vec<Record>) -> Vec<Result<Accepted, String>> {
        use sqlx::Connection as _;
        let mut conn = store.acquire().await.expect("connection");
        let mut tx = conn.begin().await.expect("begin");
        let refs: Vec<&Record> = records.iter().collect();
        let outcomes = record_all(&mut tx, &refs).await.expect("the group runs");
        tx.commit().await.expect("commit");
        outcomes
            .into_iter()
            .map(|o| o.map_err(|e| e.code().to_owned()))
            .collect()
    }

    #[tokio::test]
    async fn a_group_is_decided_in_queue_order_against_the_database_and_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/n.db?mode=rwc", dir.path().display());
        let store = Store::connect(&url).await.expect("store");
        store.migrate().await.expect("migrate");

        let first = group(&store, vec![record("p-1", "a", "doc-1")]).await;
        assert_eq!(first[0].as_ref().map(|a| a.replayed), Ok(false));

        let outcomes = group(
            &store,
            vec![
                record("p-2", "b", "doc-2"),
                // The same bytes as p-2 in the same group: p-2's answer.
                record("p-3", "b", "doc-2"),
                // Other bytes under p-2's DocumentId: refused.
                record("p-4", "c", "doc-2"),
                // The same bytes as p-1, accepted by an earlier transaction: p-1's answer.
                record("p-5", "a", "doc-1"),
                // Other bytes under p-1's DocumentId: refused.
                record("p-6", "d", "doc-1"),
            ],
        )
        .await;
        fn id(outcome: &Result<Accepted, String>) -> Result<(String, bool), String> {
            outcome
                .as_ref()
                .map(|a| (a.id.clone(), a.replayed))
                .map_err(Clone::clone)
        }
        assert_eq!(id(&outcomes[0]), Ok(("p-2".to_owned(), false)));
        assert_eq!(id(&outcomes[1]), Ok(("p-2".to_owned(), true)));
        assert_eq!(
            outcomes[1].as_ref().map(|a| a.receipt.clone()),
            Ok("<Receipt>p-2</Receipt>".to_owned())
        );
        assert_eq!(outcomes[2], Err("exchange.duplicate_document".to_owned()));
        assert_eq!(id(&outcomes[3]), Ok(("p-1".to_owned(), true)));
        assert_eq!(outcomes[4], Err("exchange.duplicate_document".to_owned()));

        // Only the accepted packets were written, each with its rows.
        let mut conn = store.acquire().await.expect("connection");
        for (packet, expected) in [("p-1", true), ("p-2", true), ("p-3", false), ("p-4", false)] {
            let found = packets::packet(&mut conn, packet).await.expect("read");
            assert_eq!(found.is_some(), expected, "{packet}");
        }
        assert_eq!(
            packets::content(&mut conn, "p-2").await.expect("read"),
            Some(b"b".to_vec())
        );
        let states = deliveries::recipient_states(&mut conn, G22, "doc-2")
            .await
            .expect("read");
        assert_eq!(states.len(), 2);
        let delivered = deliveries::deliveries_of_packet(&mut conn, "p-2")
            .await
            .expect("read");
        assert_eq!(delivered.len(), 2);
    }
}
