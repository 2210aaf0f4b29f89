//! Who is calling: the agency behind a request, from its TLS client certificate (the mTLS
//! listener) or from a system id and secret (HTTP Basic, or the `X-Lienthong-System` and
//! `X-Lienthong-Secret` headers, for systems behind a TLS-terminating proxy).
//!
//! A client certificate must chain to the trust anchors, be valid and unrevoked now (the same
//! checks as a signing certificate, except key usage) and be bound to an active agency in the
//! directory. A secret is checked with argon2 by the directory. Either way the answer to a
//! failure does not say which part was wrong.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::{web, FromRequest, HttpMessage as _, HttpRequest};
use base64::Engine as _;
use openssl::x509::X509;

use std::net::IpAddr;
use std::time::Instant;

use crate::directory::{AuditorGrant, CredentialRole, Rights};
use crate::edxml::OrganId;
use crate::pki::Fingerprint;

use super::throttle::{client_address, Throttled};
use super::{ApiError, AppState};

/// Header naming the calling system (with [`SECRET_HEADER`]).
pub const SYSTEM_HEADER: &str = "x-lienthong-system";
/// Header carrying the calling system's secret.
pub const SECRET_HEADER: &str = "x-lienthong-secret";

/// The authenticated agency of a request, and what its credential may do (a client
/// certificate is always an agency's system). Never an auditor: an auditor's credential is a
/// [`Reader`] only, so every route that takes a `Caller` — submitting, pulling, acknowledging,
/// reporting — refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub OrganId, pub CredentialRole);

/// Who authenticated and what the credential may do, before a route decides whether that is
/// enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub agency: OrganId,
    pub rights: Rights,
    /// The system id, when the request presented one (not a client certificate).
    pub system_id: Option<String>,
}

impl Identity {
    pub fn is_auditor(&self) -> bool {
        self.rights.auditor.is_some()
    }
}

impl TryFrom<Identity> for Caller {
    type Error = ApiError;

    fn try_from(identity: Identity) -> Result<Caller, ApiError> {
        if identity.is_auditor() {
            return Err(read_only());
        }
        Ok(Caller(identity.agency, identity.rights.role))
    }
}

/// The refusal of an auditor's credential outside the routes it reads.
pub fn read_only() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::FORBIDDEN,
        "auth.read_only",
        "an auditor's credential reads the audit routes and traces only",
    )
}

/// Who may read the audit routes and traces: an agency's system (its own documents), the
/// operator, or an auditor (the documents of its scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reader {
    Agency(OrganId),
    Operator(OrganId),
    Auditor {
        system_id: String,
        grant: AuditorGrant,
    },
}

impl From<Identity> for Reader {
    fn from(identity: Identity) -> Reader {
        match (identity.rights.auditor, identity.rights.role) {
            (Some(grant), _) => Reader::Auditor {
                system_id: identity.system_id.unwrap_or_default(),
                grant,
            },
            (None, CredentialRole::Operator) => Reader::Operator(identity.agency),
            (None, _) => Reader::Agency(identity.agency),
        }
    }
}

/// The certificate a TLS client presented, kept with its connection.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    pub leaf: X509,
    /// The other certificates the client sent (intermediates).
    pub chain: Vec<X509>,
}

/// A system id and secret as presented.
#[derive(Debug, PartialEq, Eq)]
struct Presented {
    system_id: String,
    secret: String,
}

/// What a request presents to be authenticated, taken from its head (so that it can be read
/// both by the extractor and, for `Expect: 100-continue`, before the body is asked for).
pub struct Credentials {
    certificate: Option<ClientCertificate>,
    presented: Result<Presented, ApiError>,
    peer: Option<IpAddr>,
    forwarded_for: Option<String>,
}

impl Credentials {
    pub fn of(
        headers: &HeaderMap,
        peer: Option<std::net::SocketAddr>,
        certificate: Option<ClientCertificate>,
    ) -> Credentials {
        Credentials {
            certificate,
            presented: presented(headers),
            peer: peer.map(|a| a.ip()),
            forwarded_for: headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }

    /// Who these credentials name, or why not.
    pub async fn identify(self, state: &AppState) -> Result<Identity, ApiError> {
        match self.certificate {
            Some(certificate) => Ok(Identity {
                agency: by_certificate(state, certificate).await?,
                rights: Rights {
                    role: CredentialRole::Agency,
                    auditor: None,
                },
                system_id: None,
            }),
            None => {
                let address = client_address(
                    self.peer,
                    self.forwarded_for.as_deref(),
                    &state.edge.trusted_proxies,
                );
                let presented = self.presented?;
                let agency = by_secret(state, &presented, address).await?;
                let rights = state
                    .exchange
                    .directory()
                    .rights_of(&presented.system_id)
                    .await?;
                Ok(Identity {
                    agency,
                    rights,
                    system_id: Some(presented.system_id),
                })
            }
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let identity = Identity::from_request(req, payload);
        Box::pin(async move { Caller::try_from(identity.await?) })
    }
}

impl FromRequest for Reader {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Reader, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let identity = Identity::from_request(req, payload);
        Box::pin(async move { Ok(Reader::from(identity.await?)) })
    }
}

impl FromRequest for Identity {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Identity, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        // Authenticated already, before `100 Continue` was sent (see `serve`).
        let early = req.extensions().get::<Identity>().cloned();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let credentials = Credentials::of(
            req.headers(),
            req.peer_addr(),
            req.conn_data::<ClientCertificate>().cloned(),
        );
        Box::pin(async move {
            let identity = match early {
                Some(identity) => identity,
                None => {
                    let state = state.ok_or_else(|| {
                        ApiError::new(
                            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                            "internal.state",
                            "the application state is missing",
                        )
                    })?;
                    credentials.identify(&state).await?
                }
            };
            tracing::Span::current().record("agency", identity.agency.as_str());
            Ok(identity)
        })
    }
}

/// Checks a system id and secret, unless the id or the client address has had too many
/// failures lately: then only a secret that verified before (recognised without argon2) passes,
/// and a guess is answered 429 before argon2 runs. So an attack throttles guesses, never the
/// agencies' own systems — not even those sharing the attacker's address behind one NAT. A
/// wrong secret counts against both the id and the address.
async fn by_secret(
    state: &AppState,
    presented: &Presented,
    address: Option<IpAddr>,
) -> Result<OrganId, ApiError> {
    let directory = state.exchange.directory();
    let id = presented.system_id.as_str();
    if let Some(why) = state.logins.check(id, address, Instant::now()) {
        if let Some(agency) = directory.recall_credential(id, &presented.secret).await? {
            return Ok(agency);
        }
        state.metrics.throttled();
        return Err(throttled(why));
    }
    match directory.check_credential(id, &presented.secret).await? {
        Some(agency) => Ok(agency),
        None => {
            state.logins.failed(id, address, Instant::now());
            Err(ApiError::unauthorized(
                "auth.invalid",
                "the system id and secret do not match an active credential of an active agency",
            ))
        }
    }
}

fn throttled(why: Throttled) -> ApiError {
    let whose = match why {
        Throttled::Id(_) => "this system id",
        Throttled::Address(_) => "this client address",
    };
    ApiError::too_many(
        "auth.throttled",
        format!(
            "too many wrong secrets for {whose} lately; try again in {} s",
            why.retry_after()
        ),
        why.retry_after(),
    )
}

async fn by_certificate(
    state: &AppState,
    certificate: ClientCertificate,
) -> Result<OrganId, ApiError> {
    let refused = |why: String| ApiError::unauthorized("auth.certificate", why);
    let exchange = state.exchange.clone();
    let fingerprint = tokio::task::spawn_blocking(move || {
        let trust = exchange.trust();
        trust
            .store
            .validate(
                &certificate.leaf,
                &certificate.chain,
                &trust.validation_now(),
            )
            .map(|path| path.fingerprint())
            .map_err(|e| format!("the client certificate is refused ({}): {e}", e.code()))
    })
    .await
    .map_err(|e| refused(format!("the client certificate could not be checked: {e}")))?
    .map_err(refused)?;
    agency_of(state, &fingerprint).await
}

async fn agency_of(state: &AppState, fingerprint: &Fingerprint) -> Result<OrganId, ApiError> {
    state
        .exchange
        .directory()
        .agency_of_certificate(fingerprint)
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized(
                "auth.certificate",
                format!(
                    "the client certificate {fingerprint} is not bound to an active agency of the directory"
                ),
            )
        })
}

/// The credentials of the request: HTTP Basic, or the two headers — exactly one way, each
/// header once. A repeated header or two ways at once is refused rather than resolved by
/// picking one, because a proxy and the server picking differently is how a forged header
/// slips through.
fn presented(headers: &HeaderMap) -> Result<Presented, ApiError> {
    let text = |name: &str| {
        let mut values = headers.get_all(name);
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(ApiError::unauthorized(
                "auth.invalid",
                format!("the {name} header is sent more than once; send it once"),
            ));
        }
        value.to_str().map(|v| Some(v.to_owned())).map_err(|_| {
            ApiError::unauthorized(
                "auth.invalid",
                format!("the {name} header is not ASCII text"),
            )
        })
    };
    let authorization = text(AUTHORIZATION.as_str())?;
    let (system, secret) = (text(SYSTEM_HEADER)?, text(SECRET_HEADER)?);
    if let Some(value) = authorization {
        if system.is_some() || secret.is_some() {
            return Err(ApiError::unauthorized(
                "auth.invalid",
                "credentials are sent both as HTTP Basic and as X-Lienthong-* headers; send one",
            ));
        }
        return basic(&value);
    }
    match (system, secret) {
        (Some(system_id), Some(secret)) => Ok(Presented { system_id, secret }),
        (None, None) => Err(ApiError::unauthorized(
            "auth.required",
            "authenticate with HTTP Basic (system id and secret), the X-Lienthong-System and \
             X-Lienthong-Secret headers, or a client certificate on the TLS port",
        )),
        _ => Err(ApiError::unauthorized(
            "auth.invalid",
            "X-Lienthong-System and X-Lienthong-Secret must be sent together",
        )),
    }
}

fn basic(value: &str) -> Result<Presented, ApiError> {
    let malformed = || {
        ApiError::unauthorized(
            "auth.invalid",
            "the Authorization header must be `Basic base64(system id:secret)`",
        )
    };
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (system_id, secret) = text.split_once(':').ok_or_else(malformed)?;
    Ok(Presented {
        system_id: system_id.to_owned(),
        secret: secret.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    #[test]
    fn a_repeated_header_or_two_ways_at_once_are_refused() {
        let basic = "Basic ZGV2LTAwMC4wMC4wMC5HMjI6c2VjcmV0";
        let twice = headers(&[("authorization", basic), ("authorization", basic)]);
        let Err(err) = presented(&twice) else {
            panic!("accepted a repeated Authorization header")
        };
        assert_eq!(err.code, "auth.invalid");
        assert!(err.message.contains("more than once"), "{}", err.message);
        let both = headers(&[
            ("authorization", basic),
            ("x-lienthong-system", "dev-000.00.00.G22"),
        ]);
        let Err(err) = presented(&both) else {
            panic!("accepted two ways of authenticating at once")
        };
        assert!(err.message.contains("both"), "{}", err.message);
        assert!(presented(&headers(&[("authorization", basic)])).is_ok());
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        map
    }

    #[test]
    fn basic_and_header_credentials_are_read() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("sys-1:s3:cret");
        let got = presented(&headers(&[("authorization", &format!("Basic {encoded}"))]));
        assert_eq!(
            got,
            Ok(Presented {
                system_id: "sys-1".into(),
                secret: "s3:cret".into()
            })
        );
        let got = presented(&headers(&[
            ("x-lienthong-system", "sys-2"),
            ("x-lienthong-secret", "abc"),
        ]));
        assert_eq!(got.map(|p| p.system_id), Ok("sys-2".to_owned()));
    }

    #[test]
    fn missing_and_malformed_credentials_have_their_codes() {
        let code = |pairs: &[(&str, &str)]| presented(&headers(pairs)).err().map(|e| e.code);
        assert_eq!(code(&[]), Some("auth.required"));
        assert_eq!(code(&[("x-lienthong-system", "s")]), Some("auth.invalid"));
        assert_eq!(code(&[("authorization", "Bearer x")]), Some("auth.invalid"));
        assert_eq!(
            code(&[("authorization", "Basic !!!")]),
            Some("auth.invalid")
        );
        let no_colon = base64::engine::general_purpose::STANDARD.encode("nocolon");
        assert_eq!(
            code(&[("authorization", &format!("Basic {no_colon}"))]),
            Some("auth.invalid")
        );
    }
}
