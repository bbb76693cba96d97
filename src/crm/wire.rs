//! What comes back over the wire, shared by the transport and the OAuth
//! token request: the errors (with no URL, header or body in them) and an
//! answer's body read under a size cap.

use std::time::Duration;

/// CRM answers bigger than this are refused.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why no usable answer came. Messages carry no URL, header or body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("timed out")]
    Timeout,
    #[error("request failed: {0}")]
    Connect(String),
    #[error("rate limited{}", retry_after_text(*.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("auth failed: {0}")]
    Auth(String),
    #[error("answer over {} bytes", MAX_BODY_BYTES)]
    TooLarge,
    #[error("too many CRM requests in flight")]
    Saturated,
    #[error("circuit breaker open: skipping the CRM")]
    BreakerOpen,
}

pub(crate) fn retry_after_text(d: Option<Duration>) -> String {
    d.map(|d| format!(", retry after {} s", d.as_secs())).unwrap_or_default()
}

impl TransportError {
    /// The `class` label of `vouch_crm_errors_total`.
    pub fn class(&self) -> &'static str {
        match self {
            TransportError::Timeout => "timeout",
            TransportError::Connect(_) => "connect",
            TransportError::RateLimited { .. } => "rate_limited",
            TransportError::Unavailable(_) => "unavailable",
            TransportError::Auth(_) => "auth",
            TransportError::TooLarge => "too_large",
            TransportError::Saturated => "saturated",
            TransportError::BreakerOpen => "breaker_open",
        }
    }
}

/// Reads an answer's body, refusing it past `cap` bytes: first by its
/// `Content-Length`, then as it streams in (a chunked answer has none).
pub(crate) async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, TransportError> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(TransportError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(request_error_kind)? {
        if body.len() + chunk.len() > cap {
            return Err(TransportError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub(crate) fn request_error_kind(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout
    } else {
        TransportError::Connect(request_error(e))
    }
}

/// The error and its causes, without the URL (it may carry an identifier).
pub(crate) fn request_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
