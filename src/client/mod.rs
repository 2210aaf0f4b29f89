//! The exchange's API from an agency system's side: what `lienthong client` does — send
//! packets, read the inbox, fetch packets, acknowledge deliveries, read a document's statuses
//! and a packet's receipt and delivery evidence — over plain HTTP(S) with a system id and secret.
//!
//! Refusals keep the server's stable code ([`ClientError::code`]), so a script can act on
//! `exchange.duplicate_document` the same way whether it called the API or this client.
//! Large bodies are streamed from and to files, never held whole, and a download is checked
//! against the SHA-256 the server announces before it is moved into place.

mod profile;
mod progress;

use std::io::{Read, Write as _};
use std::path::Path;
use std::time::Duration;

use openssl::sha::Sha256;
use serde_json::Value;

pub use profile::{Profile, ProfileError};
pub use progress::Progress;

/// Bodies above this size show a progress bar (on a terminal).
pub const PROGRESS_THRESHOLD: u64 = 4 * 1024 * 1024;

/// Why a call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a refusal (`{code, message}`).
    #[error("{message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The server's answer is not what the API promises (wrong digest, not JSON, …).
    #[error("unexpected answer from the server: {0}")]
    BadAnswer(String),
    /// A local file cannot be read or written.
    #[error("cannot read or write {path}: {reason}")]
    Io { path: String, reason: String },
}

impl ClientError {
    /// The stable code: the server's for a refusal, `client.*` or `cli.io` otherwise.
    pub fn code(&self) -> &str {
        match self {
            ClientError::Refused { code, .. } => code,
            ClientError::Unreachable { .. } => "client.unreachable",
            ClientError::BadAnswer(_) => "client.bad_answer",
            ClientError::Io { .. } => "cli.io",
        }
    }

    /// Whether trying again later may succeed (the server was down, busy or failing).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Refused { status, .. } => *status >= 500 || *status == 429,
            ClientError::Unreachable { .. } | ClientError::BadAnswer(_) => true,
            ClientError::Io { .. } => false,
        }
    }

    fn io(path: &Path, e: impl std::fmt::Display) -> ClientError {
        ClientError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

/// A fetched packet: where it was written and what the server said of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub bytes: u64,
    pub sha256: String,
    pub sender: Option<String>,
    pub kind: Option<String>,
}

/// A connection to one exchange as one agency system.
pub struct Client {
    profile: Profile,
    agent: ureq::Agent,
    /// Show progress bars for large bodies.
    pub progress: bool,
}

impl Client {
    pub fn new(profile: Profile) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .build()
            .into();
        Client {
            profile,
            agent,
            progress: false,
        }
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.profile.url.trim_end_matches('/'))
    }

    fn unreachable(&self, e: ureq::Error) -> ClientError {
        ClientError::Unreachable {
            url: self.profile.url.clone(),
            reason: e.to_string(),
        }
    }

    /// HTTP Basic with the system id and secret (docs/API.md, Authentication).
    fn authorization(&self) -> String {
        use base64::Engine as _;
        let pair = format!("{}:{}", self.profile.system_id, self.profile.secret);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    fn get(&self, path: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        self.agent
            .get(self.url(path))
            .header("Authorization", self.authorization())
    }

    fn post(&self, path: &str) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        self.agent
            .post(self.url(path))
            .header("Authorization", self.authorization())
    }

    /// Submits a signed packet from a file, streamed with its length; the server's answer
    /// (`{id, receipt, kind, document_id, replayed}`).
    pub fn send(&self, file: &Path) -> Result<Value, ClientError> {
        let opened = std::fs::File::open(file).map_err(|e| ClientError::io(file, e))?;
        let length = opened
            .metadata()
            .map_err(|e| ClientError::io(file, e))?
            .len();
        let label = file_label(file);
        let mut body = Progress::reading(
            opened,
            length,
            &format!("sending {label}"),
            self.shows_progress(length),
        );
        let response = self
            .post("/v1/packets")
            .header("Content-Type", "application/xml")
            .header("Content-Length", length.to_string())
            .send(ureq::SendBody::from_reader(&mut body))
            .map_err(|e| self.unreachable(e))?;
        body.finish();
        json_answer(response)
    }

    /// One page of the inbox after delivery number `after`.
    pub fn inbox(&self, after: i64, limit: u32) -> Result<Value, ClientError> {
        let response = self
            .get(&format!("/v1/inbox?after={after}&limit={limit}"))
            .call()
            .map_err(|e| self.unreachable(e))?;
        json_answer(response)
    }

    /// Streams a packet's bytes to `out` (through a temporary file beside it, renamed when the
    /// SHA-256 matches the server's `X-Lienthong-Content-Sha256`).
    pub fn fetch(&self, id: &str, out: &Path) -> Result<Fetched, ClientError> {
        let mut response = self
            .get(&format!("/v1/packets/{}", encode_segment(id)))
            .call()
            .map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(refusal(response));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let announced = header("X-Lienthong-Content-Sha256");
        let sender = header("X-Lienthong-Sender");
        let kind = header("X-Lienthong-Kind");
        let length = response.body().content_length().unwrap_or(0);
        let partial = out.with_extension("part");
        let mut file = std::fs::File::create(&partial).map_err(|e| ClientError::io(&partial, e))?;
        let mut body = Progress::reading(
            response.body_mut().as_reader(),
            length,
            &format!("fetching {id}"),
            self.shows_progress(length),
        );
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut bytes = 0u64;
        let copied: Result<(), ClientError> = loop {
            let n = match body.read(&mut buffer) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) => {
                    break Err(ClientError::BadAnswer(format!(
                        "the download broke after {bytes} bytes: {e}"
                    )))
                }
            };
            hasher.update(&buffer[..n]);
            bytes += n as u64;
            if let Err(e) = file.write_all(&buffer[..n]) {
                break Err(ClientError::io(&partial, e));
            }
        };
        body.finish();
        let sha256 = hex::encode(hasher.finish());
        let checked = copied.and_then(|()| match &announced {
            Some(expected) if !expected.eq_ignore_ascii_case(&sha256) => {
                Err(ClientError::BadAnswer(format!(
                    "the packet's SHA-256 is {sha256}, the server announced {expected}"
                )))
            }
            _ => file.sync_all().map_err(|e| ClientError::io(&partial, e)),
        });
        if let Err(e) = checked {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        std::fs::rename(&partial, out).map_err(|e| ClientError::io(out, e))?;
        Ok(Fetched {
            bytes,
            sha256,
            sender,
            kind,
        })
    }

    /// Acknowledges a delivery.
    pub fn ack(&self, delivery: i64) -> Result<Value, ClientError> {
        let response = self
            .post(&format!("/v1/inbox/{delivery}/ack"))
            .send_empty()
            .map_err(|e| self.unreachable(e))?;
        json_answer(response)
    }

    /// A document's states and status history.
    pub fn status(&self, sender: &str, document_id: &str) -> Result<Value, ClientError> {
        let response = self
            .get(&format!(
                "/v1/documents/{}/{}/status",
                encode_segment(sender),
                encode_segment(document_id)
            ))
            .call()
            .map_err(|e| self.unreachable(e))?;
        json_answer(response)
    }

    /// A packet's signed receipt (XML).
    pub fn receipt(&self, id: &str) -> Result<String, ClientError> {
        let mut response = self
            .get(&format!("/v1/packets/{}/receipt", encode_segment(id)))
            .call()
            .map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(refusal(response));
        }
        response
            .body_mut()
            .read_to_string()
            .map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// A packet's signed delivery evidence (XML): of every recipient that took it (or whose
    /// push was given up), or of `recipient` alone.
    pub fn evidence(&self, id: &str, recipient: Option<&str>) -> Result<String, ClientError> {
        let mut path = format!("/v1/packets/{}/evidence", encode_segment(id));
        if let Some(code) = recipient {
            path.push_str("?recipient=");
            path.push_str(&encode_segment(code));
        }
        let mut response = self.get(&path).call().map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(refusal(response));
        }
        response
            .body_mut()
            .read_to_string()
            .map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    fn shows_progress(&self, length: u64) -> bool {
        self.progress && length >= PROGRESS_THRESHOLD
    }
}

fn file_label(file: &Path) -> String {
    file.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string())
}

/// The JSON body of a 2xx answer, or the refusal it carries.
fn json_answer(mut response: ureq::http::Response<ureq::Body>) -> Result<Value, ClientError> {
    if !response.status().is_success() {
        return Err(refusal(response));
    }
    let bytes = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| ClientError::BadAnswer(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::BadAnswer(format!("not JSON: {e}")))
}

/// A non-2xx answer as a refusal with the server's code (`http.<status>` when the body has
/// none, e.g. from a proxy in front of the server).
fn refusal(mut response: ureq::http::Response<ureq::Body>) -> ClientError {
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(1024 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let field = |name: &str| body[name].as_str().map(str::to_owned);
    ClientError::Refused {
        status,
        code: field("code").unwrap_or_else(|| format!("http.{status}")),
        message: field("message").unwrap_or_else(|| {
            let text = text.trim();
            if text.is_empty() {
                format!("the server answered {status}")
            } else {
                format!("the server answered {status}: {}", truncate(text, 300))
            }
        }),
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// Percent-encodes one path segment (a DocumentId holds `/` and `,`).
pub fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded_for_document_ids() {
        assert_eq!(
            encode_segment("000.00.00.G22,2026/12/05,15/UBND-VP"),
            "000.00.00.G22%2C2026%2F12%2F05%2C15%2FUBND-VP"
        );
        assert_eq!(encode_segment("Công"), "C%C3%B4ng");
    }

    #[test]
    fn transient_failures_are_told_apart_from_refusals() {
        let refused = |status| ClientError::Refused {
            status,
            code: "x".into(),
            message: String::new(),
        };
        assert!(!refused(409).is_transient());
        assert!(refused(503).is_transient());
        assert!(refused(429).is_transient());
        assert_eq!(refused(409).code(), "x");
    }
}
