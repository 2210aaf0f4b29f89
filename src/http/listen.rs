//! The listeners, built from actix-server and actix-http directly rather than through
//! `actix_web::HttpServer`, for one thing `HttpServer` cannot do: authenticate a request that
//! asks `Expect: 100-continue` *before* `100 Continue` is sent. A client that announces a 64 MiB
//! body with wrong credentials is answered 401 (or 429) without being invited to send a byte;
//! the caller found is kept with the request, so the handler does not authenticate again.
//!
//! The rest is what `HttpServer` would set: workers, a connection cap per worker, the request
//! head deadline, the per-connection hook (write timeout, client certificate), plain and TLS
//! listeners, and SIGINT/SIGTERM handling (actix-server's).

use std::any::Any;
use std::sync::Arc;

use actix_http::body::BoxBody;
use actix_http::{HttpService, Request, Response};
use actix_service::{fn_service, map_config, IntoServiceFactory as _, ServiceFactoryExt as _};
use actix_web::dev::AppConfig;
use actix_web::{web, HttpMessage as _, ResponseError as _};

use super::auth::{ClientCertificate, Credentials};
use super::{app, tls, AppState, ServeError};
use crate::config::EdgeConfig;

/// How long a connection being closed waits for the peer's side of the shutdown (as
/// `HttpServer` sets it; actix-http's own default waits forever).
const DISCONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// A listening socket and whether it speaks TLS.
pub struct Listener {
    pub socket: std::net::TcpListener,
    pub tls: Option<openssl::ssl::SslAcceptor>,
}

/// Runs the server on `listeners` until a signal stops it.
pub async fn run(
    state: web::Data<AppState>,
    edge: &EdgeConfig,
    listeners: Vec<Listener>,
) -> Result<(), ServeError> {
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    // actix counts connections per worker.
    let per_worker = (edge.max_connections as usize).div_ceil(workers).max(1);
    let mut builder = actix_server::Server::build()
        .workers(workers)
        .max_concurrent_connections(per_worker);
    for listener in listeners {
        let addr = local_addr(&listener.socket)?;
        let name = format!("lienthong-{addr}");
        let (state, head_timeout) = (state.clone(), edge.header_timeout);
        let on_connect = Arc::new(tls::on_connect(edge.write_timeout));
        builder = match listener.tls {
            None => builder.listen(name, listener.socket, move || {
                let on_connect = on_connect.clone();
                HttpService::build()
                    .client_request_timeout(head_timeout)
                    .client_disconnect_timeout(DISCONNECT_TIMEOUT)
                    .local_addr(addr)
                    .on_connect_ext(move |io: &actix_web::rt::net::TcpStream, ext| {
                        on_connect(io as &dyn Any, ext)
                    })
                    .expect(expect(state.clone()))
                    .finish(map_config(
                        app(state.clone())
                            .into_factory()
                            .map_err(|e: actix_web::Error| e.error_response()),
                        |_| AppConfig::default(),
                    ))
                    .tcp()
            }),
            Some(acceptor) => builder.listen(name, listener.socket, move || {
                let on_connect = on_connect.clone();
                HttpService::build()
                    .client_request_timeout(head_timeout)
                    .client_disconnect_timeout(DISCONNECT_TIMEOUT)
                    .local_addr(addr)
                    .on_connect_ext(
                        move |io: &actix_tls::accept::openssl::TlsStream<
                            actix_web::rt::net::TcpStream,
                        >,
                              ext| on_connect(io as &dyn Any, ext),
                    )
                    .expect(expect(state.clone()))
                    .finish(map_config(
                        app(state.clone())
                            .into_factory()
                            .map_err(|e: actix_web::Error| e.error_response()),
                        |_| AppConfig::default(),
                    ))
                    .openssl(acceptor.clone())
            }),
        }
        .map_err(|e| ServeError::Bind {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
    }
    builder
        .run()
        .await
        .map_err(|e| ServeError::Io(e.to_string()))
}

fn local_addr(socket: &std::net::TcpListener) -> Result<std::net::SocketAddr, ServeError> {
    socket
        .local_addr()
        .map_err(|e| ServeError::Io(format!("a listener has no address: {e}")))
}

/// Whether a request to `path` must be authenticated (every API route but the description).
fn needs_caller(path: &str) -> bool {
    path.starts_with("/v1/") && path != "/v1/openapi.json"
}

/// The `Expect: 100-continue` service: authenticates the request from its head; `100
/// Continue` is sent only when that succeeds, otherwise the refusal is the answer.
fn expect(
    state: web::Data<AppState>,
) -> impl actix_service::ServiceFactory<
    Request,
    Config = (),
    Response = Request,
    Error = Response<BoxBody>,
    InitError = (),
> {
    fn_service(move |request: Request| {
        let state = state.clone();
        async move {
            if !needs_caller(request.path()) {
                return Ok(request);
            }
            let credentials = Credentials::of(
                request.headers(),
                request.peer_addr(),
                request.conn_data::<ClientCertificate>().cloned(),
            );
            let identity = credentials.identify(&state).await.and_then(|identity| {
                // Only reads are an auditor's; a body it sends is refused before it is sent.
                match identity.is_auditor() && request.method() != actix_web::http::Method::GET {
                    true => Err(super::auth::read_only()),
                    false => Ok(identity),
                }
            });
            match identity {
                Ok(identity) => {
                    request.extensions_mut().insert(identity);
                    Ok(request)
                }
                Err(refused) => {
                    tracing::info!(
                        path = request.path(),
                        code = refused.code,
                        "refused before 100 Continue"
                    );
                    state.metrics.responded(refused.status.as_u16());
                    Err(refused.error_response().into())
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_routes_but_the_description_are_authenticated_before_100_continue() {
        assert!(needs_caller("/v1/packets"));
        assert!(needs_caller("/v1/inbox/17/ack"));
        assert!(!needs_caller("/v1/openapi.json"));
        assert!(!needs_caller("/healthz"));
        assert!(!needs_caller("/metrics"));
    }
}
