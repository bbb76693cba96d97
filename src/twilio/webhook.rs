//! The verifying extractor: a handler that takes a [`Webhook`] cannot run
//! unless the request carried a valid `X-Twilio-Signature` for the public
//! URL, and its parameters decoded cleanly. Failures are 4xx with a reason.

use super::form::{FormError, Params};
use super::signature::{self, Body};
use crate::config::Secret;
use crate::record::{self, Recorder, Recording};
use actix_web::http::{header, Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;

/// What the extractor needs: the tokens and the URL Twilio calls.
#[derive(Clone)]
pub struct WebhookAuth {
    pub tokens: Vec<Secret>,
    /// `VOUCH_PUBLIC_URL`, without a trailing slash.
    pub public_base: String,
}

/// A verified Twilio webhook.
#[derive(Debug)]
pub struct Webhook {
    /// Form parameters (or the query's, for GET).
    pub params: Params,
    /// The query string's parameters.
    pub query: Params,
    pub call_sid: String,
    /// The URL the signature was checked against.
    pub url: String,
    /// `I-Twilio-Idempotency-Token`: the same on Twilio's retries of one request.
    pub idempotency_token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("missing X-Twilio-Signature header")]
    MissingSignature,
    #[error("X-Twilio-Signature does not match this request for the configured public URL")]
    BadSignature,
    #[error("unsupported content type {0:?}: expected application/x-www-form-urlencoded")]
    ContentType(String),
    #[error("malformed parameters: {0}")]
    Form(#[from] FormError),
    #[error("malformed JSON body")]
    Json,
    #[error("missing or malformed CallSid")]
    CallSid,
    #[error("request body too large or unreadable")]
    Body,
    #[error("request body not received within {} s", BODY_TIMEOUT.as_secs())]
    BodyTimeout,
}

impl ResponseError for WebhookError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MissingSignature | Self::BadSignature => StatusCode::FORBIDDEN,
            Self::ContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Body => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Form(_) | Self::Json | Self::CallSid => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).content_type("text/plain; charset=utf-8").body(format!("{self}\n"))
    }
}

/// A webhook body (a few kB) that takes longer than this to arrive is refused.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `CA` followed by 32 hex digits.
pub fn valid_call_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("CA") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl Webhook {
    /// Checks and decodes one request. Public for tests and fuzzing.
    pub fn verify(
        auth: &WebhookAuth,
        method: &Method,
        path_and_query: &str,
        content_type: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Self, WebhookError> {
        let url = format!("{}{}", auth.public_base, path_and_query);
        let query = Params::parse(path_and_query.split_once('?').map_or("", |(_, q)| q).as_bytes())?;
        let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let tokens = auth.tokens.iter().map(Secret::expose);
        let (params, ok) = if method == Method::GET || method == Method::HEAD {
            let ok = signature.is_some_and(|s| signature::verify(tokens, &url, Body::Form(&Params::default()), s));
            (query.clone(), ok)
        } else if mime == "application/json" {
            let Some(hash) = query.get("bodySHA256") else {
                return Err(WebhookError::ContentType(content_type.to_string()));
            };
            let ok = signature
                .is_some_and(|s| signature::verify(tokens, &url, Body::Json { raw: body, body_sha256: hash }, s));
            let json: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(body).map_err(|_| WebhookError::Json)?;
            let mut pairs = Vec::with_capacity(json.len());
            for (i, (k, v)) in json.into_iter().enumerate() {
                if let serde_json::Value::String(v) = v {
                    // Held to the same rule as form bodies: no NUL bytes.
                    if k.contains('\0') || v.contains('\0') {
                        return Err(WebhookError::Form(FormError::Nul(i)));
                    }
                    pairs.push((k, v));
                }
            }
            (Params::from_pairs(pairs), ok)
        } else if mime == "application/x-www-form-urlencoded" || (mime.is_empty() && body.is_empty()) {
            let params = Params::parse(body)?;
            let ok = signature.is_some_and(|s| signature::verify(tokens, &url, Body::Form(&params), s));
            (params, ok)
        } else {
            return Err(WebhookError::ContentType(content_type.to_string()));
        };
        match (signature, ok) {
            (None, _) => return Err(WebhookError::MissingSignature),
            (Some(_), false) => return Err(WebhookError::BadSignature),
            _ => {}
        }
        let call_sid = params.get("CallSid").filter(|s| valid_call_sid(s)).ok_or(WebhookError::CallSid)?.to_string();
        Ok(Self { params, query, call_sid, url, idempotency_token: None })
    }
}

impl FromRequest for Webhook {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let body = Bytes::from_request(&req, payload);
        Box::pin(async move {
            // The request head has its own timeout; a body that stalls
            // mid-way must not hold the connection and the worker forever.
            let body = match tokio::time::timeout(BODY_TIMEOUT, body).await {
                Ok(body) => body.map_err(|_| WebhookError::Body)?,
                Err(_) => return Err(WebhookError::BodyTimeout.into()),
            };
            let auth = req
                .app_data::<actix_web::web::Data<WebhookAuth>>()
                .ok_or_else(|| actix_web::error::ErrorInternalServerError("webhook auth not configured"))?;
            let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
            let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
            let result = Webhook::verify(
                auth,
                req.method(),
                path_and_query,
                header(header::CONTENT_TYPE).unwrap_or(""),
                header(header::HeaderName::from_static("x-twilio-signature")),
                &body,
            );
            match result {
                Ok(mut w) => {
                    tracing::Span::current().record("call_sid", w.call_sid.as_str());
                    w.idempotency_token = header(header::HeaderName::from_static("i-twilio-idempotency-token"))
                        .map(|t| t.chars().take(128).collect());
                    if let Some(recorder) = req.app_data::<actix_web::web::Data<Recorder>>() {
                        record(recorder, req.method().as_str(), path_and_query, &w);
                    }
                    Ok(w)
                }
                Err(e) => {
                    tracing::warn!(error = %e, path = req.path(), "webhook refused");
                    Err(e.into())
                }
            }
        })
    }
}

/// `serve --record-dir`: writes the verified request, redacted. A failure is
/// logged and never fails the webhook: the caller matters more than the file.
fn record(recorder: &Recorder, method: &str, path_and_query: &str, hook: &Webhook) {
    let recording = Recording::of(method, path_and_query, &hook.params, record::now_ms());
    if let Err(e) = recorder.write(&hook.call_sid, &recording) {
        tracing::warn!(error = %e, dir = %recorder.dir().display(), "could not record the webhook");
    }
}
