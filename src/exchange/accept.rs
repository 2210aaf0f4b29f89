//! Accepting a packet: the trust core's verdict, then the exchange rules, then one unit of the
//! group-commit writer that records everything the packet does — and the answer only after
//! that unit committed.
//!
//! The rules run twice on purpose: once on pooled reads before any work is spent on the packet
//! (so that a refusal costs no fsync and no receipt signature), and again inside the writer's
//! transaction, where they are authoritative (two packets racing for one DocumentId, or two
//! statuses for one document, are decided there, in commit order).

use std::sync::Arc;

use sqlx::AnyConnection;

use crate::edxml::{
    BusinessDocType, MessagePacket, OrganId, Packet, Priority, StatusCode, StatusPacket,
};
use crate::store::events::{self, EventKind, EventRecord};
use crate::store::{
    deliveries, mails, now_micros, packets, pushes, stats, BoxFuture, DocumentRecord, NewStatus,
    PacketKind, PacketRecord, ReceiptRecord, RecipientStateRecord, StoreError,
};
use crate::trust::{self, Verdict};

use super::directory_cache::{Snapshot, RECHECK_AGE};
use super::new_documents::NewDocuments;
use super::plan::{
    check_documents, deliveries_of, new_document_rows, within_maximum, Accepted, MessagePlan, Plan,
    Record, StatusPlan, MAX_DESCRIPTION_BYTES, MAX_NOTATION_BYTES, MAX_SUBJECT_BYTES,
};
use super::receipt::Evidence;
use super::spool::INLINE_LIMIT;
use super::state::{Actor, RecipientState, StateError, Transition};
use super::{Exchange, ExchangeError, Spooled};

impl Exchange {
    /// Accepts a spooled packet sent by `agency` (the authenticated caller): verifies it,
    /// applies the exchange rules, keeps it durably and returns its id and signed receipt.
    /// The same bytes sent again by the same agency get the first answer back.
    ///
    /// The hot path reads nothing from the database before the writer: whether these bytes
    /// were accepted before (and whether the DocumentId is free) is decided in the writer's
    /// transaction. Only a packet refused on the way there is looked up, so that a retry of
    /// an accepted packet still gets its first answer when the signer's certificate has
    /// expired or a recipient has left the directory since.
    pub async fn accept(
        &self,
        agency: &OrganId,
        spooled: Spooled,
    ) -> Result<Accepted, ExchangeError> {
        let content_sha256 = spooled.sha256.to_hex();
        let record = match self.prepare(agency, spooled, &content_sha256).await {
            Ok(record) => record,
            Err(refusal) => {
                return match self.replay(agency.as_str(), &content_sha256).await? {
                    Some(done) => Ok(done),
                    None => Err(refusal),
                }
            }
        };
        if NewDocuments::takes(&record) {
            let work = Arc::new(NewDocuments);
            self.inner.store.write_bulk(work, record).await
        } else {
            self.inner.store.write(record, record_unit).await
        }
    }

    /// Everything before the writer: the verdict, the exchange rules that need no
    /// transaction, the durable bytes and the signed receipt.
    async fn prepare(
        &self,
        agency: &OrganId,
        spooled: Spooled,
        content_sha256: &str,
    ) -> Result<Record, ExchangeError> {
        let Spooled {
            bytes,
            sha256,
            file,
            reserved,
        } = spooled;
        let bytes = Arc::new(bytes);
        let (verdict, snapshot) = self.verify(bytes.clone()).await?;
        let size = bytes.len() as u64;
        // The verifier is done with the bytes. A large packet's memory goes back to the budget
        // now (its bytes are in the blob file); a small one's go into its row, so they keep
        // their share of the budget until the writer is done with them.
        let (content, reserved) = match &file {
            None => (
                Some(Arc::try_unwrap(bytes).unwrap_or_else(|shared| shared.to_vec())),
                reserved.map(|reservation| reservation.shrink(size)),
            ),
            Some(_) => (None, None),
        };
        let packet = &verdict.packet;
        let document_id = match packet {
            Packet::Message(m) => m.header.document_id.as_str(),
            Packet::Status(s) => s.response_for.document_id.as_str(),
        };
        tracing::Span::current().record("document_id", document_id);
        let from = packet.sender().as_str();
        if from != agency.as_str() {
            return Err(ExchangeError::SenderMismatch {
                from: from.to_owned(),
                authenticated: agency.as_str().to_owned(),
            });
        }
        let plan = match packet {
            Packet::Message(m) => Plan::Message(self.plan_message(m, &snapshot).await?),
            Packet::Status(s) => Plan::Status(self.plan_status(s).await?),
        };
        // Time-ordered (UUIDv7): ids sort by acceptance, and the indexes keyed by packet id
        // grow at their right edge instead of touching a random page per packet.
        let id = uuid::Uuid::now_v7().to_string();
        let log_event = self.inner.store.event_number().await?;
        let at = now_micros();
        let summary = verdict.summary();
        let evidence = Evidence {
            packet_id: id.clone(),
            kind: summary.kind,
            document_id: document_id.to_owned(),
            status: plan.status(),
            sender: from.to_owned(),
            recipients: plan.routed_to().to_vec(),
            content_sha256: content_sha256.to_owned(),
            size,
            accepted_at: at,
            log_event,
            signer_sha256: summary.signer.sha256.clone(),
            signer_subject: summary.signer.subject.clone(),
            legacy_sha1: summary.legacy_sha1,
        };
        let verdict_json = serde_json::to_string(&summary)
            .map_err(|e| ExchangeError::Internal(format!("verdict summary: {e}")))?;
        let kind = plan.kind();
        let receipt_xml = self
            .keep_bytes_and_sign(file, sha256, evidence.clone())
            .await?;
        let event = evidence.log_event(&receipt_xml);
        Ok(Record {
            packet: PacketRecord {
                id: id.clone(),
                sender: from.to_owned(),
                kind,
                document_id: document_id.to_owned(),
                content_sha256: content_sha256.to_owned(),
                size: i64::try_from(size).unwrap_or(i64::MAX),
                blob_key: content_sha256.to_owned(),
                received_at: at,
                legacy_sha1: summary.legacy_sha1,
                verdict: verdict_json,
            },
            content,
            _reserved: reserved,
            plan,
            receipt: ReceiptRecord {
                packet_id: id,
                receipt_xml,
                created_at: at,
            },
            event,
        })
    }

    /// The answer given before to these bytes from this agency, if any.
    async fn replay(
        &self,
        sender: &str,
        content_sha256: &str,
    ) -> Result<Option<Accepted>, ExchangeError> {
        let mut conn = self.inner.store.acquire().await?;
        replay_in(&mut conn, sender, content_sha256).await
    }

    /// The trust core's verdict, on a blocking thread; decided again on a fresh directory
    /// snapshot when the refusal may come from a stale one.
    async fn verify(&self, bytes: Arc<Vec<u8>>) -> Result<(Verdict, Arc<Snapshot>), ExchangeError> {
        let directory = &self.inner.directory;
        let snapshot = self.inner.cache.get(directory).await?;
        match self.verify_with(bytes.clone(), snapshot.clone()).await {
            Err(ExchangeError::Refused(refusal))
                if matches!(
                    refusal.code(),
                    "pki.binding_mismatch" | "edxml.invalid_agency_code"
                ) =>
            {
                let fresh = self.inner.cache.at_most(directory, RECHECK_AGE).await?;
                if Arc::ptr_eq(&fresh, &snapshot) {
                    return Err(ExchangeError::Refused(refusal));
                }
                let verdict = self.verify_with(bytes, fresh.clone()).await?;
                Ok((verdict, fresh))
            }
            other => other.map(|verdict| (verdict, snapshot)),
        }
    }

    /// The verdict on `bytes`: on this thread for a packet small enough to be kept in its
    /// row (tens of microseconds: a hand-off to another thread would cost as much), on a
    /// blocking thread for a larger one.
    async fn verify_with(
        &self,
        bytes: Arc<Vec<u8>>,
        snapshot: Arc<Snapshot>,
    ) -> Result<Verdict, ExchangeError> {
        let here = bytes.len() as u64 <= INLINE_LIMIT;
        let inner = self.inner.clone();
        let verify = move || {
            let policy = inner.trust.policy_now();
            trust::verify_packet(
                &bytes,
                &inner.trust.store,
                Some(&snapshot.bindings),
                &policy,
            )
        };
        let verdict = if here {
            verify()
        } else {
            tokio::task::spawn_blocking(verify)
                .await
                .map_err(|e| ExchangeError::Internal(format!("verification task: {e}")))?
        };
        Ok(verdict?)
    }

    /// Signs the receipt, after making the spooled bytes a durable blob when they are not
    /// kept in the packet's row (that fsync happens on a blocking thread).
    async fn keep_bytes_and_sign(
        &self,
        file: Option<crate::store::BlobWriter>,
        sha256: crate::store::BlobKey,
        evidence: Evidence,
    ) -> Result<String, ExchangeError> {
        let Some(file) = file else {
            return self.inner.receipts.sign(&evidence);
        };
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let blob = file.finish()?;
            if blob.key != sha256 {
                return Err(ExchangeError::Store(StoreError::Corrupt(format!(
                    "the spooled packet hashed to {sha256} but was stored as {}",
                    blob.key
                ))));
            }
            inner.receipts.sign(&evidence)
        })
        .await
        .map_err(|e| ExchangeError::Internal(format!("blob and receipt task: {e}")))?
    }

    async fn plan_message(
        &self,
        message: &MessagePacket,
        snapshot: &Arc<Snapshot>,
    ) -> Result<MessagePlan, ExchangeError> {
        let sender = message.header.from.organ_id.as_str();
        within_maximum("Subject", &message.header.subject, MAX_SUBJECT_BYTES)?;
        let notation = message.header.code.to_string();
        within_maximum("Code", &notation, MAX_NOTATION_BYTES)?;
        let recipients = self.known_recipients(message, snapshot).await?;
        let business = message.business_doc_type();
        let originals = originals_of(message, business)?;
        let document_id = message.header.document_id.as_str();
        let priority = message.header.other_info.as_ref().and_then(|o| o.priority);
        let new_document = DocumentRecord {
            sender: sender.to_owned(),
            document_id: document_id.to_owned(),
            first_packet_id: String::new(),
            content_sha256: String::new(),
            business_type: business.as_str().to_owned(),
            subject: message.header.subject.clone(),
            created_at: 0,
            notation: Some(notation),
            priority: priority.map(|p| i64::from(p.level())),
            due_date: message.header.due_date.map(|d| d.date().to_string()),
            appointed_at: (priority == Some(Priority::ExpressScheduled))
                .then(|| appointed_at(message))
                .flatten(),
        };
        // A plain new document reads nothing here: whether its DocumentId is free is decided
        // in the writer's transaction (the hot path). One that acts on originals has the rest
        // of its rules checked early too.
        let document = if originals.is_empty() {
            Some(new_document)
        } else {
            let acts_under_original_id = originals.iter().any(|(_, id)| id == document_id);
            let creates = (!acts_under_original_id).then_some(document_id);
            self.check_originals(sender, creates, &originals).await?;
            creates.map(|_| new_document)
        };
        Ok(MessagePlan {
            document,
            recipients,
            originals,
            business,
        })
    }

    /// The originals a revoke, update or replace acts on exist, and the new DocumentId it
    /// comes under, if it creates a document (`creates`), is free.
    async fn check_originals(
        &self,
        sender: &str,
        creates: Option<&str>,
        originals: &[(String, String)],
    ) -> Result<(), ExchangeError> {
        let mut conn = self.inner.store.acquire().await?;
        check_documents(&mut conn, originals, creates.map(|id| (sender, id))).await
    }

    /// `To` without repeats, each an active agency of the directory (else the refusal names
    /// every one that is not).
    async fn known_recipients(
        &self,
        message: &MessagePacket,
        snapshot: &Arc<Snapshot>,
    ) -> Result<Vec<String>, ExchangeError> {
        let mut recipients: Vec<String> = Vec::new();
        for to in message.header.to.as_slice() {
            let code = to.organ_id.as_str();
            if !recipients.iter().any(|r| r == code) {
                recipients.push(code.to_owned());
            }
        }
        let unknown = |snapshot: &Snapshot| -> Vec<String> {
            recipients
                .iter()
                .filter(|code| !snapshot.is_active(code))
                .cloned()
                .collect()
        };
        if unknown(snapshot).is_empty() {
            return Ok(recipients);
        }
        let fresh = self
            .inner
            .cache
            .at_most(&self.inner.directory, RECHECK_AGE)
            .await?;
        let codes = unknown(&fresh);
        if codes.is_empty() {
            Ok(recipients)
        } else {
            Err(ExchangeError::UnknownRecipient { codes })
        }
    }

    async fn plan_status(&self, status: &StatusPacket) -> Result<StatusPlan, ExchangeError> {
        if let Some(description) = &status.description {
            within_maximum("Description", description, MAX_DESCRIPTION_BYTES)?;
        }
        let reporter = status.from.organ_id.as_str();
        let original_sender = status.response_for.organ_id.as_str();
        let document_id = status.response_for.document_id.as_str();
        let mut conn = self.inner.store.acquire().await?;
        if packets::document(&mut conn, original_sender, document_id)
            .await?
            .is_none()
        {
            return Err(ExchangeError::UnknownDocument {
                sender: original_sender.to_owned(),
                document_id: document_id.to_owned(),
            });
        }
        let states = deliveries::recipient_states(&mut conn, original_sender, document_id).await?;
        let is_recipient = states.iter().any(|s| s.recipient == reporter);
        let is_sender = reporter == original_sender;
        let all: Vec<String> = states.iter().map(|s| s.recipient.clone()).collect();
        let code = status.status_code;
        let (actor, targets, route_to) = if code == StatusCode::Cancellation && is_sender {
            let taking_back = take_back_targets(&states)?;
            (Actor::Sender, taking_back.clone(), taking_back)
        } else if is_recipient {
            (
                Actor::Recipient,
                vec![reporter.to_owned()],
                vec![original_sender.to_owned()],
            )
        } else if code == StatusCode::Cancellation {
            return Err(ExchangeError::NotOriginalSender {
                agency: reporter.to_owned(),
                original_sender: original_sender.to_owned(),
                document_id: document_id.to_owned(),
            });
        } else if is_sender {
            // The sender reporting a recipient's status: the state machine names the rule.
            (Actor::Sender, all.clone(), all)
        } else {
            return Err(ExchangeError::NotARecipient {
                agency: reporter.to_owned(),
                sender: original_sender.to_owned(),
                document_id: document_id.to_owned(),
            });
        };
        // Refuse early what the transaction would refuse, before any fsync or signature.
        for state in states.iter().filter(|s| targets.contains(&s.recipient)) {
            stored_state(state)?.apply(actor, code)?;
        }
        Ok(StatusPlan {
            original_sender: original_sender.to_owned(),
            document_id: document_id.to_owned(),
            code,
            description: status.description.clone(),
            actor,
            targets,
            route_to,
            staff: status.staff_info.clone(),
            event: self.inner.store.event_number().await?,
        })
    }
}

/// The recipients a take-back (13) goes to: every one where the document is not final yet
/// (there is nothing to take back from a recipient that refused it or gave it back). Refused
/// when there is none, or when a recipient still owes an answer to an update.
fn take_back_targets(states: &[RecipientStateRecord]) -> Result<Vec<String>, ExchangeError> {
    let mut targets = Vec::with_capacity(states.len());
    let mut final_everywhere = None;
    for record in states {
        match stored_state(record)?.apply(Actor::Sender, StatusCode::Cancellation) {
            Ok(_) => targets.push(record.recipient.clone()),
            Err(e @ StateError::Final { .. }) => final_everywhere = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    match final_everywhere {
        Some(e) if targets.is_empty() => Err(e.into()),
        _ => Ok(targets),
    }
}

/// The documents a revoke, update or replace acts on — (sender, DocumentId) — each the
/// packet's sender's own.
fn originals_of(
    message: &MessagePacket,
    business: BusinessDocType,
) -> Result<Vec<(String, String)>, ExchangeError> {
    if !business.refers_to_original() {
        return Ok(Vec::new());
    }
    let sender = message.header.from.organ_id.as_str();
    let replacements = message
        .trace
        .business
        .as_ref()
        .map(|b| b.replacements.as_slice())
        .unwrap_or_default();
    let named: Vec<(String, String)> = if replacements.is_empty() {
        message
            .header
            .response_for
            .iter()
            .map(|r| {
                (
                    r.organ_id.as_str().to_owned(),
                    r.document_id.as_str().to_owned(),
                )
            })
            .collect()
    } else {
        replacements
            .iter()
            .map(|r| (sender.to_owned(), r.document_id.as_str().to_owned()))
            .collect()
    };
    let mut originals: Vec<(String, String)> = Vec::with_capacity(named.len());
    for (original_sender, document_id) in named {
        if original_sender != sender {
            return Err(ExchangeError::NotOriginalSender {
                agency: sender.to_owned(),
                original_sender,
                document_id,
            });
        }
        if !originals.iter().any(|(_, id)| *id == document_id) {
            originals.push((original_sender, document_id));
        }
    }
    Ok(originals)
}

fn stored_state(record: &RecipientStateRecord) -> Result<RecipientState, StoreError> {
    RecipientState::parse(&record.state).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "recipient state {:?} of {} for document {}",
            record.state, record.recipient, record.document_id
        ))
    })
}

async fn replay_in(
    conn: &mut AnyConnection,
    sender: &str,
    content_sha256: &str,
) -> Result<Option<Accepted>, ExchangeError> {
    let Some(packet) = packets::packet_by_content(conn, sender, content_sha256).await? else {
        return Ok(None);
    };
    let receipt = packets::receipt(conn, &packet.id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("packet {} has no receipt", packet.id)))?;
    Ok(Some(Accepted::replay_of(packet, receipt)))
}

/// The writer's unit (it may run twice: everything it writes comes from `record`).
fn record_unit<'c>(
    conn: &'c mut AnyConnection,
    record: &'c Record,
) -> BoxFuture<'c, Result<Accepted, ExchangeError>> {
    Box::pin(async move {
        let packet = &record.packet;
        if let Some(done) = replay_in(conn, &packet.sender, &packet.content_sha256).await? {
            return Ok(done);
        }
        match &record.plan {
            Plan::Message(plan) => record_message(conn, record, plan).await?,
            Plan::Status(plan) => record_status(conn, record, plan).await?,
        }
        packets::insert_receipt(conn, &record.receipt).await?;
        events::insert(conn, &[&record.event]).await?;
        Ok(record.accepted())
    })
}

async fn record_message(
    conn: &mut AnyConnection,
    record: &Record,
    plan: &MessagePlan,
) -> Result<(), ExchangeError> {
    let packet = &record.packet;
    let creates = plan
        .document
        .as_ref()
        .map(|d| (d.sender.as_str(), d.document_id.as_str()));
    check_documents(conn, &plan.originals, creates).await?;
    packets::insert_packet(conn, packet, record.content.as_deref()).await?;
    let at = packet.received_at;
    if let Some(new) = &plan.document {
        let (document, states) = new_document_rows(packet, new, &plan.recipients);
        packets::insert_document(conn, &document).await?;
        deliveries::set_recipient_states(conn, &states).await?;
    }
    if plan.business == BusinessDocType::Update {
        mark_updates(conn, plan, at).await?;
    }
    insert_deliveries(conn, packet, &plan.recipients).await?;
    if plan.document.is_some() {
        stats::count_letters(conn, &[packet.id.as_str()]).await?;
    }
    Ok(())
}

/// An update leaves each recipient of the original that it is sent to owing an answer (15/16).
async fn mark_updates(
    conn: &mut AnyConnection,
    plan: &MessagePlan,
    at: i64,
) -> Result<(), ExchangeError> {
    for (sender, id) in &plan.originals {
        for recipient in &plan.recipients {
            let Some(record) = deliveries::recipient_state(conn, sender, id, recipient).await?
            else {
                continue;
            };
            let next = stored_state(&record)?.update_requested();
            deliveries::set_recipient_state(
                conn,
                &RecipientStateRecord {
                    state: next.to_string(),
                    updated_at: at,
                    ..record
                },
            )
            .await?;
        }
    }
    Ok(())
}

async fn record_status(
    conn: &mut AnyConnection,
    record: &Record,
    plan: &StatusPlan,
) -> Result<(), ExchangeError> {
    let packet = &record.packet;
    let at = packet.received_at;
    let mut changed = Vec::with_capacity(plan.targets.len());
    let mut transitions = Vec::with_capacity(plan.targets.len());
    for target in &plan.targets {
        let record =
            deliveries::recipient_state(conn, &plan.original_sender, &plan.document_id, target)
                .await?
                .ok_or_else(|| ExchangeError::NotARecipient {
                    agency: target.clone(),
                    sender: plan.original_sender.clone(),
                    document_id: plan.document_id.clone(),
                })?;
        if let Transition::Changed(next) = stored_state(&record)?.apply(plan.actor, plan.code)? {
            transitions.push(format!("{target} {}>{next}", record.state));
            changed.push(RecipientStateRecord {
                state: next.to_string(),
                updated_at: at,
                ..record
            });
        }
    }
    packets::insert_packet(conn, packet, record.content.as_deref()).await?;
    deliveries::insert_status(
        conn,
        &NewStatus {
            sender: plan.original_sender.clone(),
            document_id: plan.document_id.clone(),
            reporter: packet.sender.clone(),
            status_code: plan.code.as_str().to_owned(),
            description: plan.description.clone(),
            packet_id: packet.id.clone(),
            at,
        },
    )
    .await?;
    deliveries::set_recipient_states(conn, &changed).await?;
    let event = status_event(packet, plan, &transitions.join(","));
    events::insert(conn, &[&event]).await?;
    insert_deliveries(conn, packet, &plan.route_to).await
}

/// The `status.recorded` event: who reported what on which document, the `StaffInfo` of the
/// one who acted, and the recipients' states it changed (`CODE from>to`, comma-separated).
fn status_event(packet: &PacketRecord, plan: &StatusPlan, transitions: &str) -> EventRecord {
    let staff = plan.staff.clone().unwrap_or_default();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    EventRecord::new(
        plan.event,
        packet.received_at,
        EventKind::StatusRecorded,
        Some(&packet.id),
        &[
            &packet.id,
            &packet.sender,
            &plan.original_sender,
            &plan.document_id,
            plan.code.as_str(),
            &text(&plan.description),
            &text(&staff.department),
            &text(&staff.staff),
            &text(&staff.email),
            &text(&staff.mobile),
            transitions,
        ],
    )
}

/// The packet's deliveries and, in the same transaction, the pushes and mails they call for.
async fn insert_deliveries(
    conn: &mut AnyConnection,
    packet: &PacketRecord,
    recipients: &[String],
) -> Result<(), ExchangeError> {
    deliveries::insert_deliveries(conn, &deliveries_of(packet, recipients)).await?;
    let ids = [packet.id.as_str()];
    pushes::queue(conn, &ids).await?;
    match packet.kind {
        PacketKind::Message => mails::queue_arrivals(conn, &ids).await?,
        PacketKind::Status => mails::queue_refusals(conn, &ids).await?,
    }
    Ok(())
}

/// The hour a hỏa tốc hẹn giờ letter is appointed for: edXML has no field for it but the
/// packet's own time, its last TraceHeader timestamp (Vietnam time); microseconds.
fn appointed_at(message: &MessagePacket) -> Option<i64> {
    let last = message.trace.trace_headers.iter().last()?;
    let nanos = last.timestamp.in_vietnam().unix_timestamp_nanos();
    i64::try_from(nanos / 1000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edxml::{
        Business, DocumentId, NonEmpty, Organization, ReplacementInfo, ResponseFor,
    };

    fn organ(code: &str) -> OrganId {
        OrganId::parse(code).expect("code")
    }

    fn message(kind: BusinessDocType) -> MessagePacket {
        let mut m = MessagePacket::new_document(
            Organization::from_code(organ("000.00.00.G22")),
            NonEmpty::new(Organization::from_code(organ("000.00.00.H49"))),
            "subject",
        );
        m.trace.business = Some(Business {
            doc_type: kind,
            ..Business::default()
        });
        m
    }

    fn response_for(owner: &str, id: &str) -> ResponseFor {
        ResponseFor {
            organ_id: organ(owner),
            code: None,
            promulgation_date: None,
            document_id: DocumentId::parse(id).expect("id"),
        }
    }

    #[test]
    fn originals_come_from_replacements_else_response_for_and_must_be_the_senders() {
        let mut m = message(BusinessDocType::New);
        m.header.response_for = vec![response_for("000.00.00.H49", "their-letter")];
        // A new document answering another agency's letter names no original.
        assert!(originals_of(&m, BusinessDocType::New)
            .expect("new")
            .is_empty());

        let mut update = message(BusinessDocType::Update);
        update.header.response_for = vec![response_for("000.00.00.G22", "mine")];
        let got = originals_of(&update, BusinessDocType::Update).expect("own");
        assert_eq!(got, [("000.00.00.G22".to_owned(), "mine".to_owned())]);

        update.header.response_for = vec![response_for("000.00.00.H49", "theirs")];
        let err = originals_of(&update, BusinessDocType::Update).expect_err("theirs");
        assert_eq!(err.code(), "exchange.not_original_sender");

        // ReplacementInfo wins over ResponseFor and names the sender's own documents, once each.
        if let Some(b) = update.trace.business.as_mut() {
            b.replacements = ["a", "a", "b"]
                .iter()
                .map(|id| ReplacementInfo {
                    document_id: DocumentId::parse(id).expect("id"),
                    organ_ids: vec![],
                })
                .collect();
        }
        let got = originals_of(&update, BusinessDocType::Update).expect("replacements");
        assert_eq!(
            got,
            [
                ("000.00.00.G22".to_owned(), "a".to_owned()),
                ("000.00.00.G22".to_owned(), "b".to_owned())
            ]
        );
    }

    fn row(recipient: &str, state: &str) -> RecipientStateRecord {
        RecipientStateRecord {
            sender: "000.00.00.G22".into(),
            document_id: "d".into(),
            recipient: recipient.into(),
            state: state.into(),
            updated_at: 0,
        }
    }

    #[test]
    fn a_take_back_skips_recipients_where_the_document_is_final() {
        let rows = [row("b", "03"), row("c", "02"), row("d", "delivered")];
        assert_eq!(take_back_targets(&rows).expect("targets"), ["b", "d"]);
        let err = take_back_targets(&[row("c", "02")]).expect_err("final");
        assert_eq!(err.code(), "exchange.status_final");
        // Where it was already given back, 13 again is a harmless repeat.
        let repeat = take_back_targets(&[row("c", "02"), row("e", "withdrawn")]).expect("repeat");
        assert_eq!(repeat, ["e"]);
        // A pending update must be answered first: that refuses the whole take-back.
        let pending = [row("b", "03;update"), row("c", "03")];
        assert_eq!(
            take_back_targets(&pending).expect_err("pending").code(),
            "exchange.status_order"
        );
        let corrupt = [row("b", "07")];
        assert_eq!(
            take_back_targets(&corrupt).expect_err("corrupt").code(),
            "store.corrupt"
        );
    }
}
