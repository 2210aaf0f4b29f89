//! Repository of what was accepted: `packets`, `documents`, `receipts`. A small packet's
//! bytes are in its row (`content`); a large one's are in the blob store, under `blob_key`.

use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use sqlx::Row;

use super::error::StoreError;
use super::records::{DocumentRecord, PacketKind, PacketRecord, ReceiptRecord};
use super::sql::{self, Style};

const PACKET_COLUMNS: &str = "id, sender, kind, document_id, content_sha256, size, blob_key, \
                              received_at, legacy_sha1, verdict";

fn packet_from_row(row: &AnyRow) -> Result<PacketRecord, StoreError> {
    Ok(PacketRecord {
        id: row.try_get("id")?,
        sender: row.try_get("sender")?,
        kind: PacketKind::parse(&row.try_get::<String, _>("kind")?)?,
        document_id: row.try_get("document_id")?,
        content_sha256: row.try_get("content_sha256")?,
        size: row.try_get("size")?,
        blob_key: row.try_get("blob_key")?,
        received_at: row.try_get("received_at")?,
        legacy_sha1: row.try_get::<i64, _>("legacy_sha1")? != 0,
        verdict: row.try_get("verdict")?,
    })
}

/// Records an accepted packet with its bytes when they are kept in the row (`content`; none
/// when they are in the blob store). The same content from the same sender twice is a
/// `store.conflict` (look it up with [`packet_by_content`] first for idempotent retries).
pub async fn insert_packet(
    conn: &mut AnyConnection,
    packet: &PacketRecord,
    content: Option<&[u8]>,
) -> Result<(), StoreError> {
    insert_packets(conn, &[(packet, content)]).await
}

/// The bytes of a packet kept in its row; `None` when they are in the blob store (or there
/// is no such packet).
pub async fn content(conn: &mut AnyConnection, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let row = sqlx::query("SELECT content FROM packets WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(row.try_get::<Option<Vec<u8>>, _>("content")?),
        None => Ok(None),
    }
}

/// One packet by id.
pub async fn packet(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<PacketRecord>, StoreError> {
    let sql = format!("SELECT {PACKET_COLUMNS} FROM packets WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(packet_from_row).transpose()
}

/// The packets `ids` (those that exist), in no particular order.
pub async fn packets_by_ids(
    conn: &mut AnyConnection,
    ids: &[&str],
) -> Result<Vec<PacketRecord>, StoreError> {
    let style = Style::of(conn);
    let mut found = Vec::with_capacity(ids.len());
    for chunk in sql::chunks(ids) {
        let sql = format!(
            "SELECT {PACKET_COLUMNS} FROM packets WHERE id IN ({})",
            style.parameters(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.push(packet_from_row(&row)?);
        }
    }
    Ok(found)
}

/// The packet a sender submitted with exactly these bytes, if any (the idempotency key).
pub async fn packet_by_content(
    conn: &mut AnyConnection,
    sender: &str,
    content_sha256: &str,
) -> Result<Option<PacketRecord>, StoreError> {
    let sql =
        format!("SELECT {PACKET_COLUMNS} FROM packets WHERE sender = $1 AND content_sha256 = $2");
    let row = sqlx::query(&sql)
        .bind(sender)
        .bind(content_sha256)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(packet_from_row).transpose()
}

/// The packets a sender submitted under one DocumentId, oldest first.
pub async fn packets_of_document(
    conn: &mut AnyConnection,
    sender: &str,
    document_id: &str,
) -> Result<Vec<PacketRecord>, StoreError> {
    let sql = format!(
        "SELECT {PACKET_COLUMNS} FROM packets WHERE sender = $1 AND document_id = $2 \
         ORDER BY received_at, id"
    );
    let rows = sqlx::query(&sql)
        .bind(sender)
        .bind(document_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(packet_from_row).collect()
}

const DOCUMENT_COLUMNS: &str = "sender, document_id, first_packet_id, content_sha256, \
     business_type, subject, created_at, notation, priority, due_date, appointed_at";

fn document_from_row(row: &AnyRow) -> Result<DocumentRecord, StoreError> {
    Ok(DocumentRecord {
        sender: row.try_get("sender")?,
        document_id: row.try_get("document_id")?,
        first_packet_id: row.try_get("first_packet_id")?,
        content_sha256: row.try_get("content_sha256")?,
        business_type: row.try_get("business_type")?,
        subject: row.try_get("subject")?,
        created_at: row.try_get("created_at")?,
        notation: row.try_get("notation")?,
        priority: row.try_get("priority")?,
        due_date: row.try_get("due_date")?,
        appointed_at: row.try_get("appointed_at")?,
    })
}

/// Records a new document; an existing (sender, DocumentId) is a `store.conflict`.
/// The blob keys (hex) of every packet whose bytes are in the blob store, not in its row.
pub async fn blob_keys(conn: &mut AnyConnection) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query("SELECT DISTINCT blob_key FROM packets WHERE content IS NULL")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| row.try_get::<String, _>(0).map_err(StoreError::from))
        .collect()
}

pub async fn insert_document(
    conn: &mut AnyConnection,
    document: &DocumentRecord,
) -> Result<(), StoreError> {
    insert_documents(conn, std::slice::from_ref(document)).await
}

/// One document by its sender and DocumentId.
pub async fn document(
    conn: &mut AnyConnection,
    sender: &str,
    document_id: &str,
) -> Result<Option<DocumentRecord>, StoreError> {
    let sql =
        format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE sender = $1 AND document_id = $2");
    let row = sqlx::query(&sql)
        .bind(sender)
        .bind(document_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(document_from_row).transpose()
}

/// Stores the receipt of a packet; a second receipt for the same packet is a `store.conflict`.
pub async fn insert_receipt(
    conn: &mut AnyConnection,
    receipt: &ReceiptRecord,
) -> Result<(), StoreError> {
    insert_receipts(conn, &[receipt]).await
}

/// The receipt of a packet.
pub async fn receipt(
    conn: &mut AnyConnection,
    packet_id: &str,
) -> Result<Option<ReceiptRecord>, StoreError> {
    let row =
        sqlx::query("SELECT packet_id, receipt_xml, created_at FROM receipts WHERE packet_id = $1")
            .bind(packet_id)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|row| {
        Ok(ReceiptRecord {
            packet_id: row.try_get("packet_id")?,
            receipt_xml: row.try_get("receipt_xml")?,
            created_at: row.try_get("created_at")?,
        })
    })
    .transpose()
}

/// Records accepted packets (each with its bytes when they are kept in the row), one
/// statement per 32 rows.
pub async fn insert_packets(
    conn: &mut AnyConnection,
    packets: &[(&PacketRecord, Option<&[u8]>)],
) -> Result<(), StoreError> {
    let head = format!("INSERT INTO packets ({PACKET_COLUMNS}, content)");
    sql::insert_rows(conn, &head, "", 11, packets, |query, (packet, content)| {
        query
            .bind(&packet.id)
            .bind(&packet.sender)
            .bind(packet.kind.as_str())
            .bind(&packet.document_id)
            .bind(&packet.content_sha256)
            .bind(packet.size)
            .bind(&packet.blob_key)
            .bind(packet.received_at)
            .bind(i64::from(packet.legacy_sha1))
            .bind(&packet.verdict)
            .bind(*content)
    })
    .await?;
    Ok(())
}

/// Records new documents, one statement per 32 rows.
pub async fn insert_documents(
    conn: &mut AnyConnection,
    documents: &[DocumentRecord],
) -> Result<(), StoreError> {
    let head = format!("INSERT INTO documents ({DOCUMENT_COLUMNS}, subject_folded)");
    sql::insert_rows(conn, &head, "", 12, documents, |query, document| {
        query
            .bind(&document.sender)
            .bind(&document.document_id)
            .bind(&document.first_packet_id)
            .bind(&document.content_sha256)
            .bind(&document.business_type)
            .bind(&document.subject)
            .bind(document.created_at)
            .bind(&document.notation)
            .bind(document.priority)
            .bind(&document.due_date)
            .bind(document.appointed_at)
            .bind(super::search::fold(&document.subject))
    })
    .await?;
    Ok(())
}

/// Stores receipts, one statement per 32 rows.
pub async fn insert_receipts(
    conn: &mut AnyConnection,
    receipts: &[&ReceiptRecord],
) -> Result<(), StoreError> {
    let head = "INSERT INTO receipts (packet_id, receipt_xml, created_at)";
    sql::insert_rows(conn, head, "", 3, receipts, |query, receipt| {
        query
            .bind(&receipt.packet_id)
            .bind(&receipt.receipt_xml)
            .bind(receipt.created_at)
    })
    .await?;
    Ok(())
}

/// Of the contents (SHA-256, hex) a sender submitted, those accepted before, with their
/// packet and receipt (the idempotency key, for many packets at once).
pub async fn packets_by_contents(
    conn: &mut AnyConnection,
    sender: &str,
    contents: &[&str],
) -> Result<Vec<(PacketRecord, ReceiptRecord)>, StoreError> {
    let mut found = Vec::new();
    let style = Style::of(conn);
    for chunk in sql::chunks(contents) {
        let sql = format!(
            "SELECT p.id, p.sender, p.kind, p.document_id, p.content_sha256, p.size, \
             p.blob_key, p.received_at, p.legacy_sha1, p.verdict, r.receipt_xml, \
             r.created_at AS receipt_created_at \
             FROM packets p JOIN receipts r ON r.packet_id = p.id \
             WHERE p.sender = {} AND p.content_sha256 IN ({})",
            style.parameter(1),
            style.parameters(2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(sender);
        for content in chunk {
            query = query.bind(*content);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let packet = packet_from_row(&row)?;
            let receipt = ReceiptRecord {
                packet_id: packet.id.clone(),
                receipt_xml: row.try_get("receipt_xml")?,
                created_at: row.try_get("receipt_created_at")?,
            };
            found.push((packet, receipt));
        }
    }
    Ok(found)
}

/// Of the DocumentIds given, those the sender has used already.
pub async fn existing_documents(
    conn: &mut AnyConnection,
    sender: &str,
    document_ids: &[&str],
) -> Result<Vec<String>, StoreError> {
    let mut found = Vec::new();
    let style = Style::of(conn);
    for chunk in sql::chunks(document_ids) {
        let sql = format!(
            "SELECT document_id FROM documents WHERE sender = {} AND document_id IN ({})",
            style.parameter(1),
            style.parameters(2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(sender);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.push(row.try_get("document_id")?);
        }
    }
    Ok(found)
}
