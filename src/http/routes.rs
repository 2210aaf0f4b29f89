//! The routes of API v1 and the operational endpoints. Handlers only translate: HTTP in,
//! `exchange` or `directory` call, JSON (or the packet's bytes) out. docs/API.md and
//! `openapi.json` describe the same routes; a test checks they agree.

use actix_web::body::SizedStream;
use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage as _, HttpRequest, HttpResponse, HttpResponseBuilder};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::audit::refusals;
use crate::edxml::OrganId;
use crate::exchange::receipt::rfc3339_micros;
use crate::exchange::{
    Accepted, AckOutcome, DocumentStatus, ExchangeError, PacketAnswer, RecipientState,
    MAX_INBOX_PAGE,
};
use crate::store::{AgencyFilter, InboxEntry, PacketRecord};

use std::time::Instant;

use super::auth::{Caller, Identity, Reader};
use super::pace::{Closing, Pace};
use super::{ApiError, AppState};

/// The OpenAPI 3.1 description served at `/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Default and largest inbox page.
const DEFAULT_PAGE: u32 = 100;
/// Largest page of `/v1/agencies`.
const MAX_AGENCY_PAGE: u32 = 1000;

/// Every route, as (method, path pattern) — the list docs/API.md and openapi.json must match.
pub const ROUTES: [(&str, &str); 23] = [
    ("post", "/v1/packets"),
    ("get", "/v1/packets/{id}"),
    ("get", "/v1/packets/{id}/receipt"),
    ("get", "/v1/packets/{id}/evidence"),
    ("get", "/v1/inbox"),
    ("post", "/v1/inbox/{delivery}/ack"),
    ("get", "/v1/deliveries"),
    ("get", "/v1/overdue"),
    ("get", "/v1/documents/{sender}/{document_id}/status"),
    ("get", "/v1/documents/{sender}/{document_id}/trace"),
    ("get", "/v1/agencies"),
    ("get", "/v1/audit/key"),
    ("get", "/v1/audit/checkpoints/latest"),
    ("get", "/v1/audit/proof/inclusion"),
    ("get", "/v1/audit/proof/consistency"),
    ("get", "/v1/audit/documents"),
    ("get", "/v1/audit/stats"),
    ("get", "/v1/audit/export"),
    ("get", "/v1/agencies/{code}"),
    ("get", "/v1/openapi.json"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/packets", web::post().to(submit))
        .route("/v1/packets/{id}", web::get().to(packet))
        .route("/v1/packets/{id}/receipt", web::get().to(receipt))
        .route(
            "/v1/packets/{id}/evidence",
            web::get().to(super::evidence::get),
        )
        .route("/v1/inbox", web::get().to(inbox))
        .route("/v1/inbox/{delivery}/ack", web::post().to(ack))
        .route("/v1/deliveries", web::get().to(super::deliveries::list))
        .route("/v1/overdue", web::get().to(super::overdue::list))
        // A DocumentId may contain '/', sent as is or as %2F.
        .route(
            "/v1/documents/{sender}/{document_id:.+}/status",
            web::get().to(document_status),
        )
        .route(
            "/v1/documents/{sender}/{document_id:.+}/trace",
            web::get().to(super::audit::document_trace),
        )
        .route("/v1/agencies", web::get().to(agencies))
        .route("/v1/audit/key", web::get().to(super::audit::key))
        .route(
            "/v1/audit/documents",
            web::get().to(super::audit::documents),
        )
        .route("/v1/audit/stats", web::get().to(super::audit::stats))
        .route("/v1/audit/export", web::get().to(super::audit::export))
        .route(
            "/v1/audit/checkpoints/latest",
            web::get().to(super::audit::latest),
        )
        .route(
            "/v1/audit/proof/inclusion",
            web::get().to(super::audit::inclusion),
        )
        .route(
            "/v1/audit/proof/consistency",
            web::get().to(super::audit::consistency),
        )
        .route("/v1/agencies/{code}", web::get().to(agency))
        .route("/v1/openapi.json", web::get().to(openapi))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// The answer for paths that are not routes.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError as _;
    ApiError::new(
        StatusCode::NOT_FOUND,
        "http.not_found",
        format!(
            "{} {} is not a route of this API (see /v1/openapi.json)",
            req.method(),
            req.path()
        ),
    )
    .error_response()
}

#[derive(Serialize)]
struct AcceptedBody<'a> {
    id: &'a str,
    receipt: &'a str,
    kind: &'a str,
    document_id: &'a str,
    replayed: bool,
}

async fn submit(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    match receive(&state, &caller.0, &req, &mut body).await {
        Ok(accepted) => {
            state.metrics.accepted(accepted.kind, accepted.replayed);
            if let Some(pushes) = &state.pushes {
                pushes.wake();
            }
            tracing::info!(packet = %accepted.id, replayed = accepted.replayed, "accepted");
            Ok(HttpResponse::Accepted().json(AcceptedBody {
                id: &accepted.id,
                receipt: &accepted.receipt,
                kind: accepted.kind.as_str(),
                document_id: &accepted.document_id,
                replayed: accepted.replayed,
            }))
        }
        Err(Refused {
            error,
            content_sha256,
        }) => {
            state.metrics.refused(error.code());
            tracing::info!(code = error.code(), "refused");
            let slow = matches!(error, ExchangeError::SlowBody(_));
            let code = error.code();
            let answer = ApiError::from(error);
            if answer.status.is_client_error() {
                let refused = refusals::Refused {
                    caller: caller.0.as_str(),
                    code,
                    content_sha256: content_sha256.as_deref(),
                };
                if let Err(error) = state.refusals.record(refused).await {
                    tracing::warn!(%error, "audit log: cannot log a refusal");
                }
            }
            if !slow {
                return Err(answer);
            }
            state.metrics.body_timed_out();
            let response = actix_web::ResponseError::error_response(&answer);
            Ok(Closing::answer(response, body))
        }
    }
}

/// A submission refused, with the SHA-256 of its bytes when they arrived whole (the
/// `packet.refused` event names it).
struct Refused {
    error: ExchangeError,
    content_sha256: Option<String>,
}

impl From<ExchangeError> for Refused {
    fn from(error: ExchangeError) -> Refused {
        Refused {
            error,
            content_sha256: None,
        }
    }
}

/// Reads the body into the exchange's spool within the body deadlines ([`Pace`]), then
/// hands it to the exchange. A body too slow is dropped with its reservation.
async fn receive(
    state: &AppState,
    agency: &OrganId,
    req: &HttpRequest,
    body: &mut web::Payload,
) -> Result<Accepted, Refused> {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let edge = &state.edge;
    let mut spool = state
        .exchange
        .spool(agency, announced, edge.body_idle_timeout)
        .await?;
    let mut pace = Pace::new(
        Instant::now(),
        edge.body_idle_timeout,
        edge.body_min_bytes_per_second,
    );
    loop {
        let deadline = tokio::time::Instant::from_std(pace.deadline());
        let Ok(next) = tokio::time::timeout_at(deadline, body.next()).await else {
            return Err(ExchangeError::SlowBody(pace.broken(Instant::now()).to_string()).into());
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| ExchangeError::Body(e.to_string()))?;
        pace.received(chunk.len(), Instant::now());
        spool.make_room(chunk.len()).await?;
        spool.write(&chunk)?;
    }
    let spooled = spool.finish();
    let content_sha256 = spooled.sha256.to_hex();
    state
        .exchange
        .accept(agency, spooled)
        .await
        .map_err(|error| Refused {
            error,
            content_sha256: Some(content_sha256),
        })
}

/// A packet's bytes, streamed with a known Content-Length; 304 when `If-None-Match` names
/// its ETag (the SHA-256 of its bytes, which never change).
async fn packet(
    state: web::Data<AppState>,
    identity: Identity,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let held = req.get_header::<header::IfNoneMatch>();
    let unchanged = |record: &PacketRecord| {
        held.as_ref()
            .is_some_and(|held| holds_current(held, &record.content_sha256))
    };
    let answer = match Reader::from(identity.clone()) {
        Reader::Auditor { system_id, grant } => {
            super::audit::auditor_packet(&state, &system_id, &grant, &req, &id).await?;
            state.exchange.packet_unless_checked(&id, unchanged).await?
        }
        _ => {
            let caller = Caller::try_from(identity)?;
            state
                .exchange
                .packet_unless(&caller.0, &id, unchanged)
                .await?
        }
    };
    let stored = match answer {
        PacketAnswer::Unchanged(record) => {
            return Ok(packet_headers(HttpResponse::NotModified(), &record).finish());
        }
        PacketAnswer::Changed(stored) => stored,
    };
    let len = stored.body.len();
    let packet_id = stored.record.id.clone();
    let chunks = stored.body.into_chunks().map(move |chunk| {
        chunk.map(web::Bytes::from).map_err(|e| {
            // The response is already under way: ending the stream with an error closes
            // the connection before Content-Length bytes were sent.
            tracing::error!(
                packet = %packet_id,
                code = e.code(),
                "the packet's bytes were cut short: {e}"
            );
            e
        })
    });
    Ok(packet_headers(HttpResponse::Ok(), &stored.record)
        .content_type("application/xml")
        .body(SizedStream::new(len, chunks)))
}

/// Whether an `If-None-Match` names the packet whose bytes hash to `sha256` (weak
/// comparison, as RFC 9110 asks for GET).
fn holds_current(held: &header::IfNoneMatch, sha256: &str) -> bool {
    match held {
        header::IfNoneMatch::Any => true,
        // The weak comparison: `W/"…"` matches too.
        header::IfNoneMatch::Items(tags) => tags.iter().any(|tag| tag.tag() == sha256),
    }
}

/// The headers of a packet's 200 and 304 answers.
fn packet_headers(mut response: HttpResponseBuilder, record: &PacketRecord) -> HttpResponseBuilder {
    response
        .insert_header((header::ETAG, format!("\"{}\"", record.content_sha256)))
        .insert_header(("X-Lienthong-Sender", record.sender.as_str()))
        .insert_header(("X-Lienthong-Kind", record.kind.as_str()))
        .insert_header(("X-Lienthong-Content-Sha256", record.content_sha256.as_str()));
    response
}

async fn receipt(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let xml = state.exchange.receipt(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().content_type("application/xml").body(xml))
}

#[derive(Deserialize)]
struct InboxParams {
    after: Option<i64>,
    limit: Option<u32>,
}

#[derive(Serialize)]
struct Delivery {
    delivery: i64,
    packet_id: String,
    kind: &'static str,
    /// For `kind = "status"`: the status code it carries.
    status_code: Option<String>,
    sender: String,
    document_id: String,
    content_sha256: String,
    size: i64,
    received_at: String,
    acked_at: Option<String>,
    href: String,
}

impl From<InboxEntry> for Delivery {
    fn from(e: InboxEntry) -> Self {
        Delivery {
            delivery: e.delivery.seq,
            href: format!("/v1/packets/{}", e.delivery.packet_id),
            packet_id: e.delivery.packet_id,
            kind: e.kind.as_str(),
            status_code: e.status_code,
            sender: e.sender,
            document_id: e.document_id,
            content_sha256: e.content_sha256,
            size: e.size,
            received_at: rfc3339_micros(e.received_at),
            acked_at: e.delivery.acked_at.map(rfc3339_micros),
        }
    }
}

#[derive(Serialize)]
struct InboxBody {
    deliveries: Vec<Delivery>,
    /// Pass as `after` to get the next page.
    next_after: i64,
}

async fn inbox(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<InboxParams>,
) -> Result<HttpResponse, ApiError> {
    let after = params.after.unwrap_or(0);
    let limit = page_limit(params.limit, DEFAULT_PAGE, MAX_INBOX_PAGE)?;
    let entries = state.exchange.inbox(&caller.0, after, limit).await?;
    let next_after = entries.last().map_or(after, |e| e.delivery.seq);
    Ok(HttpResponse::Ok().json(InboxBody {
        deliveries: entries.into_iter().map(Delivery::from).collect(),
        next_after,
    }))
}

#[derive(Serialize)]
struct AckBody {
    delivery: i64,
    acked_at: String,
    already_acked: bool,
}

async fn ack(
    state: web::Data<AppState>,
    caller: Caller,
    delivery: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let seq = delivery.into_inner();
    let (at, already_acked) = match state.exchange.ack(&caller.0, seq).await? {
        AckOutcome::Acked(at) => (at, false),
        AckOutcome::AlreadyAcked(at) => (at, true),
    };
    Ok(HttpResponse::Ok().json(AckBody {
        delivery: seq,
        acked_at: rfc3339_micros(at),
        already_acked,
    }))
}

#[derive(Serialize)]
struct RecipientBody {
    recipient: String,
    /// `submitted`, `delivered`, `01` … `06`, `withdrawn`.
    state: String,
    /// `take_back` or `update` while the recipient owes an answer (15/16).
    pending: Option<&'static str>,
    updated_at: String,
}

#[derive(Serialize)]
struct StatusEntry {
    seq: i64,
    reporter: String,
    status_code: String,
    description: Option<String>,
    packet_id: String,
    at: String,
}

#[derive(Serialize)]
struct DocumentBody {
    sender: String,
    document_id: String,
    subject: String,
    business_type: String,
    first_packet_id: String,
    created_at: String,
    recipients: Vec<RecipientBody>,
    history: Vec<StatusEntry>,
}

impl From<DocumentStatus> for DocumentBody {
    fn from(s: DocumentStatus) -> Self {
        let recipients = s
            .recipients
            .into_iter()
            .map(|r| {
                let parsed = RecipientState::parse(&r.state);
                RecipientBody {
                    recipient: r.recipient,
                    state: parsed.map_or(r.state.clone(), |p| p.handling.as_str().to_owned()),
                    pending: parsed.and_then(|p| p.pending).map(|p| match p {
                        crate::exchange::PendingChange::TakeBack => "take_back",
                        crate::exchange::PendingChange::Update => "update",
                    }),
                    updated_at: rfc3339_micros(r.updated_at),
                }
            })
            .collect();
        let history = s
            .history
            .into_iter()
            .map(|h| StatusEntry {
                seq: h.seq,
                reporter: h.reporter,
                status_code: h.status_code,
                description: h.description,
                packet_id: h.packet_id,
                at: rfc3339_micros(h.at),
            })
            .collect();
        DocumentBody {
            sender: s.document.sender,
            document_id: s.document.document_id,
            subject: s.document.subject,
            business_type: s.document.business_type,
            first_packet_id: s.document.first_packet_id,
            created_at: rfc3339_micros(s.document.created_at),
            recipients,
            history,
        }
    }
}

async fn document_status(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (sender, document_id) = path.into_inner();
    tracing::Span::current().record("document_id", document_id.as_str());
    let status = state
        .exchange
        .document_status(&caller.0, &sender, &document_id)
        .await?;
    Ok(HttpResponse::Ok().json(DocumentBody::from(status)))
}

#[derive(Deserialize)]
struct AgencyParams {
    parent: Option<String>,
    under: Option<String>,
    prefix: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

#[derive(Serialize)]
struct AgencyBody {
    code: String,
    name: String,
    parent: Option<String>,
    active: bool,
    /// Whether packets are pushed to the agency (else it pulls its inbox).
    push: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificates: Option<Vec<CertificateBody>>,
}

#[derive(Serialize)]
struct CertificateBody {
    sha256: String,
    subject: Option<String>,
    serial: Option<String>,
    not_after: Option<String>,
}

fn agency_body(agency: crate::directory::Agency) -> AgencyBody {
    AgencyBody {
        code: agency.code.as_str().to_owned(),
        name: agency.name.as_str().to_owned(),
        parent: agency.parent.map(|p| p.as_str().to_owned()),
        active: agency.active,
        push: agency.push_endpoint.is_some(),
        certificates: None,
    }
}

/// A page size: `default` when not given, refused (400) outside 1..=max rather than quietly
/// changed, so that a client's mistake is seen.
pub(super) fn page_limit(given: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    match given {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "http.bad_request",
            format!("limit={n}: must be between 1 and {max}"),
        )),
    }
}

async fn agencies(
    state: web::Data<AppState>,
    _caller: Caller,
    params: web::Query<AgencyParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let filter = AgencyFilter {
        parent: params.parent,
        under: params.under,
        prefix: params.prefix,
        after: params.after,
        limit: Some(page_limit(params.limit, MAX_AGENCY_PAGE, MAX_AGENCY_PAGE)?),
        active_only: false,
    };
    let list = state.exchange.directory().list(&filter).await?;
    let body: Vec<AgencyBody> = list.into_iter().map(agency_body).collect();
    Ok(HttpResponse::Ok().json(body))
}

async fn agency(
    state: web::Data<AppState>,
    _caller: Caller,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "directory.unknown_agency",
            format!("agency {} is not in the directory", code.as_str()),
        )
    };
    let parsed = OrganId::parse(&code).map_err(|_| unknown())?;
    let directory = state.exchange.directory();
    let found = directory.get(&parsed).await?.ok_or_else(unknown)?;
    let certificates = directory
        .certificates(&parsed)
        .await?
        .into_iter()
        .map(|c| CertificateBody {
            sha256: c.fingerprint.to_string(),
            subject: c.subject,
            serial: c.serial,
            not_after: c.not_after.map(rfc3339_micros),
        })
        .collect();
    Ok(HttpResponse::Ok().json(AgencyBody {
        certificates: Some(certificates),
        ..agency_body(found)
    }))
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(OPENAPI)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Ready when a transaction runs through the group-commit writer (database reachable,
/// writer alive).
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .exchange
        .store()
        .write((), |conn, ()| {
            Box::pin(async move {
                sqlx::query("SELECT 1").execute(&mut *conn).await?;
                Ok::<(), crate::store::StoreError>(())
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut text = state.metrics.render(state.exchange.store().writer_stats());
    text.push_str(&super::metrics::render_in_flight(
        state.exchange.in_flight(),
    ));
    if let Some(pushes) = &state.pushes {
        let depth = match state.exchange.store().acquire().await {
            Ok(mut conn) => crate::store::pushes::depth(&mut conn).await.ok(),
            Err(_) => None,
        };
        text.push_str(&super::metrics::render_pushes(
            pushes,
            depth.as_deref(),
            crate::store::now_micros(),
        ));
    }
    if let Some(mailer) = &state.mailer {
        let depth = match state.exchange.store().acquire().await {
            Ok(mut conn) => crate::store::mails::depth(&mut conn).await.ok(),
            Err(_) => None,
        };
        text.push_str(&super::metrics::render_mails(
            mailer,
            depth,
            crate::store::now_micros(),
        ));
    }
    if let Ok(status) = crate::audit::proofs::status(state.exchange.store()).await {
        text.push_str(&super::metrics::render_audit(
            &status,
            crate::store::now_micros(),
        ));
    }
    if let Some(fetcher) = state.exchange.trust().store.crl_fetcher() {
        text.push_str(&super::metrics::render_crls(
            &fetcher.report(),
            time::OffsetDateTime::now_utc(),
        ));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}
