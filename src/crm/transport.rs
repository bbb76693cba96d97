//! PLACEHOLDER until TRANSPORT's file lands (issue 12): the interface the
//! engine codes to, with only what today's client did: one reqwest client,
//! the in-flight bound, a size cap (now 1 MiB), and auth from the legacy
//! `VOUCH_CRM_TOKEN` (bearer, or the `crm.auth_header` header). No OAuth,
//! breaker, rate-limit classification or metrics here. Everything that talks
//! to reqwest stays in this file.

use crate::config;
use reqwest::header::{HeaderName, HeaderValue};
use std::sync::Arc;
use std::time::Duration;

/// CRM answers bigger than this are refused.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One request, ready to send.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// `find_by_phone`, `find_by_identifier` or `verify` (the metric label).
    pub action: &'static str,
    pub method: reqwest::Method,
    pub url: url::Url,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Content type and bytes.
    pub body: Option<(&'static str, Vec<u8>)>,
    pub timeout: Duration,
}

/// What the CRM answered, any status.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("rate limited")]
    RateLimited { retry_after: Option<Duration> },
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("response too large")]
    TooLarge,
    #[error("too many CRM requests in flight")]
    Saturated,
    #[error("circuit breaker open")]
    BreakerOpen,
}

/// Sends CRM requests. Clones share the client and the bound.
#[derive(Clone)]
pub struct Transport {
    http: reqwest::Client,
    auth: Option<(String, config::Secret)>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl Transport {
    pub fn new(crm: &config::Crm) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(crm.connect_timeout)
            .user_agent(concat!("vouch/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            auth: crm.token.clone().map(|t| (crm.auth_header.clone(), t)),
            in_flight: Arc::new(tokio::sync::Semaphore::new(crm.max_in_flight)),
        })
    }

    pub async fn send(&self, req: Prepared) -> Result<Reply, TransportError> {
        let _permit = self.in_flight.try_acquire().map_err(|_| TransportError::Saturated)?;
        let mut rb = self.http.request(req.method, req.url).timeout(req.timeout);
        for (k, v) in req.headers {
            rb = rb.header(k, v);
        }
        rb = match &self.auth {
            Some((h, t)) if h.eq_ignore_ascii_case("authorization") => rb.bearer_auth(t.expose()),
            Some((h, t)) => rb.header(h.as_str(), t.expose()),
            None => rb,
        };
        if let Some((content_type, body)) = req.body {
            rb = rb.header(reqwest::header::CONTENT_TYPE, content_type).body(body);
        }
        let mut resp = rb.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        if resp.content_length().is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(TransportError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY_BYTES {
                return Err(TransportError::TooLarge);
            }
        }
        Ok(Reply { status, body })
    }

    /// A failure the engine judged (a 5xx, a pointer miss). The placeholder
    /// keeps no metrics.
    pub fn record_failure(&self, action: &'static str, class: &'static str) {
        tracing::debug!(action, class, "CRM failure recorded");
    }

    pub fn describe_auth(&self) -> String {
        match &self.auth {
            Some((h, _)) if h.eq_ignore_ascii_case("authorization") => "Authorization: Bearer ****".into(),
            Some((h, _)) => format!("{h}: ****"),
            None => "none".into(),
        }
    }

    pub fn masked_auth_headers(&self) -> Vec<(String, String)> {
        match &self.auth {
            Some((h, _)) if h.eq_ignore_ascii_case("authorization") => {
                vec![("Authorization".into(), "Bearer ****".into())]
            }
            Some((h, _)) => vec![(h.clone(), "****".into())],
            None => Vec::new(),
        }
    }
}

fn classify(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout
    } else {
        // Without the URL: it may carry an identifier.
        TransportError::Connect(e.without_url().to_string())
    }
}
