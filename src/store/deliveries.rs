//! Repository of routing and progress: `deliveries` (the inboxes), `recipient_states` (where a
//! document stands with each recipient) and `status_history` (every status reported). The
//! state machine itself belongs to `exchange`; this module only stores its results.

use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use sqlx::Row;

use super::error::StoreError;
use super::records::{
    Ack, DeliveryRecord, InboxEntry, InboxQuery, NewDelivery, NewStatus, PacketKind,
    RecipientStateRecord, StatusRecord,
};
use super::sql::{self, Style};
use super::stats;

const DELIVERY_COLUMNS: &str = "seq, packet_id, recipient, created_at, acked_at";

fn delivery_from_row(row: &AnyRow) -> Result<DeliveryRecord, StoreError> {
    Ok(DeliveryRecord {
        seq: row.try_get("seq")?,
        packet_id: row.try_get("packet_id")?,
        recipient: row.try_get("recipient")?,
        created_at: row.try_get("created_at")?,
        acked_at: row.try_get("acked_at")?,
    })
}

/// Queues a packet for a recipient and returns the delivery's `seq`. A second delivery of the
/// same packet to the same recipient is a `store.conflict`.
pub async fn insert_delivery(
    conn: &mut AnyConnection,
    delivery: &NewDelivery,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO deliveries (packet_id, recipient, created_at) VALUES ($1, $2, $3) RETURNING seq",
    )
    .bind(&delivery.packet_id)
    .bind(&delivery.recipient)
    .bind(delivery.created_at)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("seq")?)
}

/// Queues one packet for several recipients in one statement per 32 rows and returns each
/// delivery's `seq` by recipient, in the order given. A recipient twice, or a delivery that
/// exists, is a `store.conflict`.
pub async fn insert_deliveries(
    conn: &mut AnyConnection,
    deliveries: &[NewDelivery],
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut seqs: Vec<(String, i64)> = Vec::with_capacity(deliveries.len());
    let style = Style::of(conn);
    for chunk in sql::chunks(deliveries) {
        let sql = format!(
            "INSERT INTO deliveries (packet_id, recipient, created_at) VALUES {} \
             RETURNING seq, packet_id, recipient",
            style.values_list(chunk.len(), 3)
        );
        let mut query = sqlx::query(&sql);
        for d in chunk {
            query = query
                .bind(&d.packet_id)
                .bind(&d.recipient)
                .bind(d.created_at);
        }
        let rows = query.fetch_all(&mut *conn).await?;
        let mut returned: Vec<(String, String, i64)> = Vec::with_capacity(rows.len());
        for row in &rows {
            returned.push((
                row.try_get("packet_id")?,
                row.try_get("recipient")?,
                row.try_get("seq")?,
            ));
        }
        // RETURNING promises no order: match the rows back to the input.
        for d in chunk {
            let seq = returned
                .iter()
                .find(|(p, r, _)| *p == d.packet_id && *r == d.recipient)
                .map(|(_, _, seq)| *seq)
                .ok_or_else(|| StoreError::corrupt("a delivery was inserted without its seq"))?;
            seqs.push((d.recipient.clone(), seq));
        }
    }
    Ok(seqs)
}

/// Queues deliveries (of any packets) in one statement per 32 rows, without reading back their
/// `seq`s (the bulk accept path does not need them). A delivery that exists is a
/// `store.conflict`.
pub async fn queue_deliveries(
    conn: &mut AnyConnection,
    deliveries: &[NewDelivery],
) -> Result<(), StoreError> {
    let head = "INSERT INTO deliveries (packet_id, recipient, created_at)";
    sql::insert_rows(conn, head, "", 3, deliveries, |query, d| {
        query
            .bind(&d.packet_id)
            .bind(&d.recipient)
            .bind(d.created_at)
    })
    .await?;
    Ok(())
}

/// One delivery by `seq`.
pub async fn delivery(
    conn: &mut AnyConnection,
    seq: i64,
) -> Result<Option<DeliveryRecord>, StoreError> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE seq = $1");
    let row = sqlx::query(&sql)
        .bind(seq)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(delivery_from_row).transpose()
}

/// The deliveries `seqs` (those that exist), each with how it was taken (`pull`, `push`, or
/// not yet): what the audit log's delivery events are held to.
pub async fn taken_by_seqs(
    conn: &mut AnyConnection,
    seqs: &[i64],
) -> Result<Vec<(DeliveryRecord, Option<String>)>, StoreError> {
    let style = Style::of(conn);
    let mut found = Vec::with_capacity(seqs.len());
    for chunk in sql::chunks(seqs) {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS}, taken_via FROM deliveries WHERE seq IN ({})",
            style.parameters(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for seq in chunk {
            query = query.bind(*seq);
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.push((delivery_from_row(&row)?, row.try_get("taken_via")?));
        }
    }
    Ok(found)
}

/// The deliveries of one packet, by recipient.
pub async fn deliveries_of_packet(
    conn: &mut AnyConnection,
    packet_id: &str,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE packet_id = $1 ORDER BY recipient"
    );
    let rows = sqlx::query(&sql)
        .bind(packet_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(delivery_from_row).collect()
}

/// A recipient's inbox page: deliveries after the cursor, oldest first.
pub async fn inbox(
    conn: &mut AnyConnection,
    query: &InboxQuery,
) -> Result<Vec<InboxEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT d.seq, d.packet_id, d.recipient, d.created_at, d.acked_at, \
         p.sender, p.kind, p.document_id, p.content_sha256, p.size, p.received_at, \
         h.status_code \
         FROM deliveries d JOIN packets p ON p.id = d.packet_id \
         LEFT JOIN status_history h ON h.packet_id = d.packet_id \
         WHERE d.recipient = $1 AND d.seq > $2 AND ($3 = 0 OR d.acked_at IS NULL) \
         ORDER BY d.seq LIMIT $4",
    )
    .bind(&query.recipient)
    .bind(query.after)
    .bind(i64::from(query.pending_only))
    .bind(i64::from(query.limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(InboxEntry {
                delivery: delivery_from_row(row)?,
                sender: row.try_get("sender")?,
                kind: PacketKind::parse(&row.try_get::<String, _>("kind")?)?,
                document_id: row.try_get("document_id")?,
                content_sha256: row.try_get("content_sha256")?,
                size: row.try_get("size")?,
                received_at: row.try_get("received_at")?,
                status_code: row.try_get("status_code")?,
            })
        })
        .collect()
}

/// Marks a delivery as taken by its recipient's system, `via` `pull` (an acknowledgement) or
/// `push` (its endpoint answered 2xx). Taking it twice changes nothing, whichever way; another
/// agency's delivery is reported as not found.
pub async fn ack_delivery(
    conn: &mut AnyConnection,
    seq: i64,
    recipient: &str,
    at: i64,
    via: &str,
) -> Result<Ack, StoreError> {
    let done = sqlx::query(
        "UPDATE deliveries SET acked_at = $3, taken_via = $4 \
         WHERE seq = $1 AND recipient = $2 AND acked_at IS NULL",
    )
    .bind(seq)
    .bind(recipient)
    .bind(at)
    .bind(via)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() > 0 {
        stats::count_taken(conn, &[seq]).await?;
        return Ok(Ack::Acked);
    }
    Ok(match delivery(conn, seq).await? {
        Some(d) if d.recipient == recipient => match d.acked_at {
            Some(when) => Ack::AlreadyAcked(when),
            None => Ack::NotFound,
        },
        _ => Ack::NotFound,
    })
}

/// A delivery its recipient's system took, to mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taking<'a> {
    pub seq: i64,
    pub recipient: &'a str,
    pub at: i64,
}

/// [`ack_delivery`] for many deliveries at once, one statement per 32; answers the ones taken
/// now (not taken before, and addressed to the recipient named).
pub async fn ack_deliveries(
    conn: &mut AnyConnection,
    taken: &[Taking<'_>],
    via: &str,
) -> Result<Vec<i64>, StoreError> {
    let style = Style::of(conn);
    let mut acked = Vec::with_capacity(taken.len());
    for chunk in sql::chunks(taken) {
        // VALUES columns are column1… on both engines: (delivery, recipient, at, via). The
        // way taken is a column too: a parameter of its own would come first in the text,
        // and SQLite binds `?` in the order of the text.
        let sql = format!(
            "UPDATE deliveries SET acked_at = v.column3, taken_via = v.column4 \
             FROM (VALUES {}) AS v WHERE deliveries.seq = v.column1 \
             AND deliveries.recipient = v.column2 AND deliveries.acked_at IS NULL \
             RETURNING seq",
            style.values_list(chunk.len(), 4),
        );
        let mut query = sqlx::query(&sql);
        for t in chunk {
            query = query.bind(t.seq).bind(t.recipient).bind(t.at).bind(via);
        }
        for row in query.fetch_all(&mut *conn).await? {
            acked.push(row.try_get("seq")?);
        }
    }
    stats::count_taken(conn, &acked).await?;
    Ok(acked)
}

/// Where the document of each message delivery in `seqs` stands with the delivery's
/// recipient, by delivery; deliveries of status packets, and documents without a kept state,
/// are left out.
pub async fn message_recipient_states(
    conn: &mut AnyConnection,
    seqs: &[i64],
) -> Result<Vec<(i64, RecipientStateRecord)>, StoreError> {
    let style = Style::of(conn);
    let mut states = Vec::with_capacity(seqs.len());
    for chunk in sql::chunks(seqs) {
        let sql = format!(
            "SELECT d.seq, r.sender, r.document_id, r.recipient, r.state, r.updated_at \
             FROM deliveries d JOIN packets k ON k.id = d.packet_id \
             JOIN recipient_states r ON r.sender = k.sender \
             AND r.document_id = k.document_id AND r.recipient = d.recipient \
             WHERE k.kind = {kind_p} AND d.seq IN ({list})",
            kind_p = style.parameter(1),
            list = style.parameters(2, chunk.len()),
        );
        let mut query = sqlx::query(&sql).bind(PacketKind::Message.as_str());
        for seq in chunk {
            query = query.bind(*seq);
        }
        for row in query.fetch_all(&mut *conn).await? {
            states.push((row.try_get("seq")?, state_from_row(&row)?));
        }
    }
    Ok(states)
}

fn state_from_row(row: &AnyRow) -> Result<RecipientStateRecord, StoreError> {
    Ok(RecipientStateRecord {
        sender: row.try_get("sender")?,
        document_id: row.try_get("document_id")?,
        recipient: row.try_get("recipient")?,
        state: row.try_get("state")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Sets where a document stands with one recipient (the document must exist).
pub async fn set_recipient_state(
    conn: &mut AnyConnection,
    state: &RecipientStateRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO recipient_states (sender, document_id, recipient, state, updated_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (sender, document_id, recipient) DO UPDATE SET state = excluded.state, \
         updated_at = excluded.updated_at",
    )
    .bind(&state.sender)
    .bind(&state.document_id)
    .bind(&state.recipient)
    .bind(&state.state)
    .bind(state.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Sets where a document stands with several recipients, one statement per 32 rows.
pub async fn set_recipient_states(
    conn: &mut AnyConnection,
    states: &[RecipientStateRecord],
) -> Result<(), StoreError> {
    sql::insert_rows(
        conn,
        "INSERT INTO recipient_states (sender, document_id, recipient, state, updated_at)",
        " ON CONFLICT (sender, document_id, recipient) DO UPDATE SET \
         state = excluded.state, updated_at = excluded.updated_at",
        5,
        states,
        |query, s| {
            query
                .bind(&s.sender)
                .bind(&s.document_id)
                .bind(&s.recipient)
                .bind(&s.state)
                .bind(s.updated_at)
        },
    )
    .await?;
    Ok(())
}

/// Where a document stands with one recipient.
pub async fn recipient_state(
    conn: &mut AnyConnection,
    sender: &str,
    document_id: &str,
    recipient: &str,
) -> Result<Option<RecipientStateRecord>, StoreError> {
    let row = sqlx::query(
        "SELECT sender, document_id, recipient, state, updated_at FROM recipient_states \
         WHERE sender = $1 AND document_id = $2 AND recipient = $3",
    )
    .bind(sender)
    .bind(document_id)
    .bind(recipient)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(state_from_row).transpose()
}

/// Where a document stands with each of its recipients, by recipient.
pub async fn recipient_states(
    conn: &mut AnyConnection,
    sender: &str,
    document_id: &str,
) -> Result<Vec<RecipientStateRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT sender, document_id, recipient, state, updated_at FROM recipient_states \
         WHERE sender = $1 AND document_id = $2 ORDER BY recipient",
    )
    .bind(sender)
    .bind(document_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(state_from_row).collect()
}

/// Appends a status report to a document's history and returns its `seq`; an agency's first
/// 02 or 03 on a letter counts in the letter's month (`stats`).
pub async fn insert_status(
    conn: &mut AnyConnection,
    status: &NewStatus,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO status_history (sender, document_id, reporter, status_code, description, \
         packet_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
    )
    .bind(&status.sender)
    .bind(&status.document_id)
    .bind(&status.reporter)
    .bind(&status.status_code)
    .bind(&status.description)
    .bind(&status.packet_id)
    .bind(status.at)
    .fetch_one(&mut *conn)
    .await?;
    let seq = row.try_get("seq")?;
    stats::count_status(conn, seq, &status.status_code).await?;
    Ok(seq)
}

/// A document's status history, oldest first.
pub async fn status_history(
    conn: &mut AnyConnection,
    sender: &str,
    document_id: &str,
) -> Result<Vec<StatusRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, sender, document_id, reporter, status_code, description, packet_id, at \
         FROM status_history WHERE sender = $1 AND document_id = $2 ORDER BY seq",
    )
    .bind(sender)
    .bind(document_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StatusRecord {
                seq: row.try_get("seq")?,
                sender: row.try_get("sender")?,
                document_id: row.try_get("document_id")?,
                reporter: row.try_get("reporter")?,
                status_code: row.try_get("status_code")?,
                description: row.try_get("description")?,
                packet_id: row.try_get("packet_id")?,
                at: row.try_get("at")?,
            })
        })
        .collect()
}
