//! The HTTPS listener with client certificates: its OpenSSL acceptor, and the hook that keeps
//! the certificate a client presented with its connection for [`super::auth`].
//!
//! The handshake asks for a client certificate and checks it against the configured client
//! CAs (by default the trust anchors and intermediates); revocation and the agency binding
//! are checked per request by the `Caller` extractor, with the same PKI code as signatures.
//! A client without a certificate may still authenticate with a system id and secret.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_tls::accept::openssl::TlsStream;
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use openssl::ssl::{SslAcceptor, SslAcceptorBuilder, SslFiletype, SslMethod, SslVerifyMode};
use openssl::x509::X509;

use crate::config::{TlsConfig, TrustConfig};

use super::auth::ClientCertificate;
use super::ServeError;

/// The acceptor of the mTLS listener.
pub fn acceptor(tls: &TlsConfig, trust: &TrustConfig) -> Result<SslAcceptorBuilder, ServeError> {
    let failed =
        |what: &str, e: openssl::error::ErrorStack| ServeError::Tls(format!("{what}: {e}"));
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())
        .map_err(|e| failed("cannot set up TLS", e))?;
    builder
        .set_certificate_chain_file(&tls.cert)
        .map_err(|e| failed(&format!("tls.cert {}", tls.cert.display()), e))?;
    builder
        .set_private_key_file(&tls.key, SslFiletype::PEM)
        .map_err(|e| failed(&format!("tls.key {}", tls.key.display()), e))?;
    builder
        .check_private_key()
        .map_err(|e| failed("tls.key does not belong to tls.cert", e))?;
    let client_cas: Vec<PathBuf> = match &tls.client_ca {
        Some(path) => vec![path.clone()],
        None => trust
            .anchors
            .iter()
            .chain(&trust.intermediates)
            .cloned()
            .collect(),
    };
    for path in &client_cas {
        for cert in read_certificates(path)? {
            builder
                .cert_store_mut()
                .add_cert(cert)
                .map_err(|e| failed(&format!("client CA in {}", path.display()), e))?;
        }
    }
    builder.set_verify(SslVerifyMode::PEER);
    Ok(builder)
}

fn read_certificates(path: &Path) -> Result<Vec<X509>, ServeError> {
    let pem = std::fs::read(path)
        .map_err(|e| ServeError::Tls(format!("cannot read {}: {e}", path.display())))?;
    X509::stack_from_pem(&pem)
        .map_err(|e| ServeError::Tls(format!("{} is not PEM certificates: {e}", path.display())))
}

/// `HttpServer::on_connect` hook: bounds how long a peer may leave an answer unread (the
/// kernel's TCP user timeout: data unacknowledged, or a zero window, for `write_timeout` closes
/// the connection — a stalled reader holds no buffer and no descriptor after that), and keeps
/// a TLS client's certificate with its connection.
pub fn on_connect(write_timeout: Duration) -> impl Fn(&dyn Any, &mut Extensions) + Send + Sync {
    move |connection, data| {
        if let Some(plain) = connection.downcast_ref::<TcpStream>() {
            bound_writes(plain, write_timeout);
        }
        if let Some(stream) = connection.downcast_ref::<TlsStream<TcpStream>>() {
            bound_writes(stream.get_ref(), write_timeout);
            keep_client_certificate(stream, data);
        }
    }
}

fn bound_writes(stream: &TcpStream, write_timeout: Duration) {
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_user_timeout(Some(write_timeout)) {
        tracing::warn!(error = %e, "cannot set the connection's write timeout");
    }
}

fn keep_client_certificate(stream: &TlsStream<TcpStream>, data: &mut Extensions) {
    let ssl = stream.ssl();
    let Some(leaf) = ssl.peer_certificate() else {
        return;
    };
    // On the server side OpenSSL's peer chain leaves the leaf out.
    let chain = ssl
        .peer_cert_chain()
        .map(|stack| stack.iter().map(|c| c.to_owned()).collect())
        .unwrap_or_default();
    data.insert(ClientCertificate { leaf, chain });
}
