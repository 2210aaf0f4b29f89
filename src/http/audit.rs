//! The audit log's routes (docs/AUDIT.md): the log's verifier key, its latest checkpoint, an
//! event's inclusion proof, the consistency proof between two tree sizes, and a document's
//! trace. The key and the checkpoints are the log's public face; an event's proof goes to
//! whoever may see the packet it is about (its sender and recipients, an auditor whose scope
//! holds one of them), and to operators; a trace to the document's sender, its recipients and
//! the auditors of their scopes. An auditor's every request is logged as an event before it
//! is answered.

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt as _;
use serde::Deserialize;

use crate::audit::access::{self, Viewer};
use crate::audit::export::{Export, ExportError};
use crate::audit::period::Period;
use crate::audit::proofs::{self, AuditError};
use crate::audit::search;
use crate::audit::trace;
use crate::store::scope::Scope;

use crate::directory::AuditorGrant;

use super::auth::Reader;
use super::{ApiError, AppState};

/// Logs an auditor's request (a no-op for anyone else); the answer waits for the commit.
async fn logged(state: &AppState, reader: &Reader, request: &HttpRequest) -> Result<(), ApiError> {
    if let Reader::Auditor { system_id, grant } = reader {
        let query = request
            .uri()
            .path_and_query()
            .map_or_else(|| request.path().to_owned(), |p| p.as_str().to_owned());
        access::record_query(state.exchange.store(), system_id, &grant.scope, &query).await?;
    }
    Ok(())
}

/// What `reader` may see, for the reads that check it (operators: as their agency).
fn viewer(reader: &Reader) -> Viewer<'_> {
    match reader {
        Reader::Agency(me) | Reader::Operator(me) => Viewer::Agency(me.as_str()),
        Reader::Auditor { grant, .. } => Viewer::Auditor(&grant.scope),
    }
}

/// `GET /v1/audit/key`: the verifier key in signed-note `vkey` form.
pub(super) async fn key(state: web::Data<AppState>) -> HttpResponse {
    let vkey = state.audit.key().verifier().to_vkey();
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("{vkey}\n"))
}

/// `GET /v1/audit/checkpoints/latest`: the latest signed checkpoint, a C2SP signed note.
pub(super) async fn latest(
    state: web::Data<AppState>,
    reader: Reader,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    logged(&state, &reader, &request).await?;
    let checkpoint = proofs::latest(state.exchange.store()).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(checkpoint.note))
}

#[derive(Deserialize)]
pub(super) struct InclusionParams {
    event: i64,
    size: Option<u64>,
}

/// `GET /v1/audit/proof/inclusion?event=N[&size=S]`.
pub(super) async fn inclusion(
    state: web::Data<AppState>,
    reader: Reader,
    request: HttpRequest,
    params: web::Query<InclusionParams>,
) -> Result<HttpResponse, ApiError> {
    logged(&state, &reader, &request).await?;
    let store = state.exchange.store();
    let hidden = || AuditError::NotFound(format!("event {}", params.event));
    let event = proofs::event(store, params.event).await?;
    if !matches!(reader, Reader::Operator(_)) {
        let packet = event.packet_id.as_deref().ok_or_else(hidden)?;
        if !access::sees_packet(store, viewer(&reader), packet).await? {
            return Err(hidden().into());
        }
    }
    let proof = proofs::inclusion(store, &event, params.size).await?;
    Ok(HttpResponse::Ok().json(proof))
}

#[derive(Deserialize)]
pub(super) struct ConsistencyParams {
    from: u64,
    to: u64,
}

/// `GET /v1/audit/proof/consistency?from=M&to=N`.
pub(super) async fn consistency(
    state: web::Data<AppState>,
    reader: Reader,
    request: HttpRequest,
    params: web::Query<ConsistencyParams>,
) -> Result<HttpResponse, ApiError> {
    logged(&state, &reader, &request).await?;
    let proof = proofs::consistency(state.exchange.store(), params.from, params.to).await?;
    Ok(HttpResponse::Ok().json(proof))
}

/// `GET /v1/documents/{sender}/{document_id}/trace`: the document's timeline, each entry with
/// its event number.
pub(super) async fn document_trace(
    state: web::Data<AppState>,
    reader: Reader,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    logged(&state, &reader, &request).await?;
    let (sender, document_id) = path.into_inner();
    tracing::Span::current().record("document_id", document_id.as_str());
    let trace = trace::trace(
        state.exchange.store(),
        viewer(&reader),
        &sender,
        &document_id,
    )
    .await?;
    Ok(HttpResponse::Ok().json(trace))
}

/// Lets an auditor read packet `id`'s bytes when its credential grants them and the packet is
/// in its scope (the request logged first); else the same 404 as for a packet that does not
/// exist, or 403 when the grant is missing.
pub(super) async fn auditor_packet(
    state: &AppState,
    system_id: &str,
    grant: &AuditorGrant,
    request: &HttpRequest,
    id: &str,
) -> Result<(), ApiError> {
    let reader = Reader::Auditor {
        system_id: system_id.to_owned(),
        grant: grant.clone(),
    };
    logged(state, &reader, request).await?;
    if !grant.reads_packets {
        return Err(ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "auth.read_only",
            "this auditor's credential reads metadata only, not the packets' bytes",
        ));
    }
    if !access::sees_packet(state.exchange.store(), viewer(&reader), id).await? {
        return Err(AuditError::NotFound(format!("packet {id}")).into());
    }
    Ok(())
}

#[derive(Deserialize)]
pub(super) struct SearchParams {
    agency: Option<String>,
    direction: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
    notation: Option<String>,
    status: Option<String>,
    overdue: Option<bool>,
    after: Option<String>,
    limit: Option<u32>,
}

/// Documents per page: by default, and at most.
const SEARCH_PAGE: (u32, u32) = (50, 500);

/// `GET /v1/audit/documents`: documents of the reader's agency, or of an auditor's scope.
pub(super) async fn documents(
    state: web::Data<AppState>,
    reader: Reader,
    request: HttpRequest,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    logged(&state, &reader, &request).await?;
    let p = params.into_inner();
    let period = match (p.from.as_deref(), p.to.as_deref()) {
        (None, None) => None,
        (from, to) => {
            let period = Period::between(from.unwrap_or("1970-01-01"), to.unwrap_or("9999-12-31"))
                .map_err(|e| AuditError::BadRange(format!("from/to: {e}")))?;
            Some((period.from, period.to))
        }
    };
    let limit = super::routes::page_limit(p.limit, SEARCH_PAGE.0, SEARCH_PAGE.1)?;
    let ask = search::Ask {
        agency: p.agency,
        direction: p.direction,
        period,
        q: p.q,
        notation: p.notation,
        status: p.status,
        overdue: p.overdue,
        after: p.after,
        limit: i64::from(limit),
    };
    let searcher = match viewer(&reader) {
        Viewer::Agency(me) => search::Searcher::Agency(me),
        Viewer::Auditor(scope) => search::Searcher::Auditor(scope),
    };
    let found = search::documents(state.exchange.store(), searcher, &ask).await?;
    Ok(HttpResponse::Ok().json(found))
}

#[derive(Deserialize)]
pub(super) struct StatsParams {
    month: String,
    agency: Option<String>,
    /// `csv` or `json` (default: `Accept: text/csv` asks for CSV, else JSON).
    format: Option<String>,
}

/// `GET /v1/audit/stats?month=2026-11[&agency=][&format=csv]`: a month's statistics per agency.
pub(super) async fn stats(
    state: web::Data<AppState>,
    reader: Reader,
    request: HttpRequest,
    params: web::Query<StatsParams>,
) -> Result<HttpResponse, ApiError> {
    logged(&state, &reader, &request).await?;
    let wants_csv = match params.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(AuditError::BadRange(format!("format={other}: give csv or json")).into())
        }
        None => request
            .headers()
            .get(actix_web::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv")),
    };
    let rows = crate::audit::stats::month(
        state.exchange.store(),
        Some(viewer(&reader)),
        &params.month,
        params.agency.as_deref(),
        &state.deadlines.windows(),
    )
    .await?;
    Ok(match wants_csv {
        true => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(crate::audit::stats::csv(&rows)),
        false => HttpResponse::Ok().json(serde_json::json!({
            "month": params.month,
            "agencies": rows,
        })),
    })
}

#[derive(Deserialize)]
pub(super) struct ExportParams {
    from: String,
    to: String,
    agency: Option<String>,
}

/// `GET /v1/audit/export?from=&to=[&agency=]`: the bundle `lienthong audit export` writes, for
/// an auditor (its scope, or the subtree of an agency in it) or an operator (everything, or an
/// agency's subtree). An agency proves its own events with the inclusion proofs instead.
pub(super) async fn export(
    state: web::Data<AppState>,
    reader: Reader,
    request: HttpRequest,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    logged(&state, &reader, &request).await?;
    let period = Period::between(&params.from, &params.to)
        .map_err(|e| AuditError::BadRange(format!("from/to: {e}")))?;
    let store = state.exchange.store();
    let asked = params.agency.as_deref();
    let scope = match (&reader, asked) {
        (Reader::Operator(_), None) => Scope::All,
        (Reader::Operator(_), Some(code)) => Scope::Subtree(code.to_owned()),
        (Reader::Auditor { grant, .. }, None) => grant.scope.clone(),
        (Reader::Auditor { grant, .. }, Some(code))
            if access::in_scope(store, &grant.scope, code).await? =>
        {
            Scope::Subtree(code.to_owned())
        }
        (Reader::Auditor { .. }, Some(code)) => {
            return Err(AuditError::OutOfScope(code.to_owned()).into())
        }
        (Reader::Agency(_), _) => {
            return Err(ApiError::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "audit.out_of_scope",
                "exports are for auditors and operators; an agency proves its own events with \
                 GET /v1/audit/proof/inclusion",
            ))
        }
    };
    let request = crate::audit::export::Request { period, scope };
    let verifier = state.audit.key().verifier();
    let mut export = Export::start(store, &verifier, request)
        .await
        .map_err(export_error)?;
    // The first page before the answer: a database that no longer proves its events is an
    // error status, not a bundle cut short, for all but the longest exports.
    let first = export.next_page().await.map_err(export_error)?;
    let head = std::iter::once(export.header_line())
        .chain(first)
        .map(|bytes| Ok::<_, actix_web::Error>(web::Bytes::from(bytes)));
    let rest = futures_util::stream::try_unfold(export, |mut export| async move {
        match export.next_page().await {
            Ok(page) => Ok(page.map(|bytes| (web::Bytes::from(bytes), export))),
            Err(error) => {
                // Too late for a status: the connection is cut, and the bundle, whose header
                // counts its events, does not verify.
                tracing::warn!(%error, "audit export: stopped");
                Err(actix_web::Error::from(ApiError::from(export_error(error))))
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/jsonl; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"lienthong-audit-export.jsonl\"",
        ))
        .streaming(futures_util::stream::iter(head).chain(rest)))
}

fn export_error(error: ExportError) -> AuditError {
    match error {
        ExportError::NoCheckpoint => AuditError::NotYet(error.to_string()),
        ExportError::Store(e) => AuditError::Store(e),
        other => AuditError::Store(crate::store::StoreError::corrupt(other.to_string())),
    }
}
